/* Shared set-up for the libFuzzer targets: one env for the whole run, and a
 * check that aborts (so libFuzzer records a crash) with a message. */
#ifndef CARA_FUZZ_COMMON_H
#define CARA_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "os/os.h"
#include "spec/spec.h"

static cara_env *fuzz_env(void)
{
    static cara_env env;
    static cara_os_log log;
    static int ready;
    if (!ready) {
        log.stream = stderr;
        log.app = "fuzz";
        cara_os_env_init(&env, &log, CARA_LOG_ERROR);
        ready = 1;
    }
    return &env;
}

#define FUZZ_CHECK(cond)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                             \
        }                                                                        \
    } while (0)

#endif
