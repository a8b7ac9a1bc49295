/*
 * caravanctl: shared pieces of the command-line tool. Each command lives in
 * its own cmd_*.c file and is listed in the table in main.c.
 *
 * Exit codes that scripts can trust: 0 success, 1 the operation failed
 * (invalid manifest, refused request, project ended Failed), 2 usage error.
 */
#ifndef CARA_CTL_H
#define CARA_CTL_H

#include "base/base.h"

enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2 };

typedef struct ctl_ctx {
    cara_env env;
    const char *peer; /* --peer, or NULL: the config file's, else 127.0.0.1:7951 */
    const char *key;  /* --key, or NULL: the config file's, else the default path */
} ctl_ctx;

/* The CLI's own caps. They bound what one client process holds, not what
 * the cluster stores, so they live here rather than in base/limits.h. */
#define CTL_PATH_BYTES_MAX 4096
/* A whole JSON answer (a list of projects) held in memory at once. */
#define CTL_RESPONSE_BYTES_MAX (64 * 1024 * 1024)
/* One line of a watch stream: a project with its events, well under this. */
#define CTL_WATCH_LINE_BYTES_MAX (8 * 1024 * 1024)
/* An error answer kept to be printed. */
#define CTL_ERROR_BODY_BYTES_MAX (64 * 1024)
/* Waiting for the TCP connection and for an ordinary (non-streaming) answer.
 * A PUT may wait up to 10 s for durable copies (docs/api.md), hence 60 s. */
#define CTL_CONNECT_TIMEOUT_MS 5000
#define CTL_REQUEST_TIMEOUT_MS 60000
#define CTL_DEFAULT_PORT 7951

typedef int (*ctl_cmd_fn)(ctl_ctx *ctx, int argc, char **argv);

/* Prints "caravanctl CMD: MESSAGE" and a hint to stderr; returns 2. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "error: MESSAGE" to stderr; returns 1. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* getopt_long error reporting shared by the commands: turns '?' and ':'
 * into a usage error naming the offending option. */
int ctl_bad_option(const char *cmd, int opt, char **argv);

int ctl_cmd_validate(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_convert(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_keygen(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_apply(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_get(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_nodes(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_describe(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_delete(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_logs(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_watch(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_admit(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node(ctl_ctx *ctx, int argc, char **argv);
/* cordon, uncordon, drain: `node OP` under kubectl's names (argv[0]). */
int ctl_cmd_cordon(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_settings(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_join_token(ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_sign_request(ctl_ctx *ctx, int argc, char **argv);

#endif
