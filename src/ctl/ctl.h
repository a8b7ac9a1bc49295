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
    const char *peer; /* --peer, or NULL */
} ctl_ctx;

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

#endif
