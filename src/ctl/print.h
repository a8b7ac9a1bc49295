/*
 * Output for caravanctl: -o table|json|yaml, kubectl-like tables and ages.
 */
#ifndef CARA_CTL_PRINT_H
#define CARA_CTL_PRINT_H

#include <jansson.h>
#include <stdint.h>

#include "ctl/ctl.h"

typedef enum { CTL_OUT_TABLE = 0, CTL_OUT_JSON, CTL_OUT_YAML } ctl_output;

/* "table", "json" or "yaml"; returns 0 or -1. */
int ctl_output_parse(const char *text, ctl_output *out);

/* Prints a JSON value as indented JSON or as YAML on stdout. Returns 0 or
 * prints and returns CTL_EXIT_FAIL. */
int ctl_print_value(cara_env *env, const json_t *j, ctl_output fmt);

/* Writes the age of an RFC 3339 time as kubectl does ("45s", "12m",
 * "3h", "9d") into out; "-" when the time is missing or unreadable. */
void ctl_age(const char *rfc3339, int64_t now_wall_ms, char *out, size_t cap);

/* A table printed with columns padded to their widest cell. Cells are
 * copied. At most CTL_TABLE_COLS columns. */
#define CTL_TABLE_COLS 12
typedef struct ctl_table {
    size_t cols;
    char **cells; /* rows * cols, owned */
    size_t rows, cap_rows;
    const char *indent;
} ctl_table;

void ctl_table_init(ctl_table *t, size_t cols, const char *indent);
/* Adds one row of `cols` strings (NULL prints as "-"). Returns 0 or -1. */
int ctl_table_row(ctl_table *t, const char *const *cells);
void ctl_table_print(const ctl_table *t, FILE *f);
void ctl_table_free(ctl_table *t);

/* A node's STATUS column (cmd_get.c): Ready or NotReady as the answering
 * peer sees it, then what keeps projects away (",SchedulingDisabled",
 * ",Draining", the engine) and the peer's own fence. */
void ctl_node_status(const json_t *n, char *out, size_t cap);

#endif
