/* Shared set-up for the libFuzzer targets: one env for the whole run, and a
 * check that aborts (so libFuzzer records a crash) with a message. */
#ifndef CARA_FUZZ_COMMON_H
#define CARA_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "spec/spec.h"

/* The fuzzers link only the core library, not src/os: their env is made
 * here, with a fixed clock and seed, so that a crashing input replays
 * exactly. */
#define FUZZ_NOW_WALL_MS 1700000000000LL

static uint64_t fuzz_now_mono_ms(void *ctx)
{
    (void)ctx;
    return 1000000;
}

static int64_t fuzz_now_wall_ms(void *ctx)
{
    (void)ctx;
    return FUZZ_NOW_WALL_MS;
}

static void fuzz_log(void *ctx, int level, const char *module, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "fuzz: level=%d module=%s %s\n", level, module, msg);
}

static void *fuzz_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *fuzz_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void fuzz_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static cara_env *fuzz_env(void)
{
    static cara_env env;
    static int ready;
    if (!ready) {
        env = (cara_env){.now_mono_ms = fuzz_now_mono_ms, .now_wall_ms = fuzz_now_wall_ms,
                         .log = fuzz_log, .alloc = fuzz_alloc, .realloc = fuzz_realloc,
                         .free = fuzz_free, .log_level_max = CARA_LOG_ERROR};
        cara_rng_seed(&env.rng, 1);
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
