/*
 * The operating system's side of cara_env: the real clocks, a seed from the
 * kernel, malloc, and a logger that writes one logfmt line per event to a
 * stream. Core modules never include this header (DESIGN.md principle 4);
 * binaries (cara-agent, caravanctl) and tests build their env with it, and
 * cara-sim builds a simulated one instead.
 */
#ifndef CARA_OS_H
#define CARA_OS_H

#include <stdio.h>

#include "base/base.h"

typedef struct cara_os_log {
    FILE *stream;    /* borrowed; stderr by default */
    const char *app; /* borrowed; e.g. "cara-agent" */
    int json;        /* nonzero: one JSON object per line instead of logfmt */
} cara_os_log;

/* Fills `env` with the real hooks. `log` is borrowed and must outlive env;
 * the rng is seeded from getrandom(2). */
void cara_os_env_init(cara_env *env, cara_os_log *log, int log_level_max);

/* Reads a whole file of at most `bytes_max` bytes ("-" is stdin) into an
 * owned, NUL-terminated buffer freed with cara_env_free. Returns 0,
 * CARA_ENOENT, CARA_EPERM, CARA_ETOOBIG or CARA_EIO. */
int cara_os_read_file(cara_env *env, const char *path, size_t bytes_max, char **data_out,
                      size_t *len_out);

#endif
