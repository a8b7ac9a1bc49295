/*
 * The environment a core object runs in: clocks, randomness, logging and
 * memory, all injected. Core modules (spec, crdt, gossip, sched) reach the
 * outside world only through a cara_env, so that cara-agent can hand them
 * the real clock and cara-sim a simulated one (ngtcp2 injects time and
 * randomness the same way).
 *
 * Monotonic and wall time never share a name: `now_mono_ms` only moves
 * forward and measures intervals; `now_wall_ms` is Unix time and may jump.
 */
#ifndef CARA_BASE_ENV_H
#define CARA_BASE_ENV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Seeded random generator ----------------------------------------------
 * xoshiro256** (Blackman and Vigna, 2018), seeded through splitmix64. Not for
 * keys or nonces: those come from libsodium at the edge. For jitter, probe
 * order, property tests and the simulator, where a seed must replay a run. */
typedef struct cara_rng {
    uint64_t s[4];
} cara_rng;

void cara_rng_seed(cara_rng *rng, uint64_t seed);
uint64_t cara_rng_next(cara_rng *rng);
/* Uniform in [0, bound); bound must be > 0. Unbiased (Lemire's method). */
uint64_t cara_rng_below(cara_rng *rng, uint64_t bound);
/* Fills `out` with `len` pseudo-random bytes. */
void cara_rng_bytes(cara_rng *rng, void *out, size_t len);

/* ---- Logging ------------------------------------------------------------ */

enum cara_log_level {
    CARA_LOG_ERROR = 0,
    CARA_LOG_WARN = 1,
    CARA_LOG_INFO = 2,
    CARA_LOG_DEBUG = 3,
};

const char *cara_log_level_name(int level);

/* ---- The env -------------------------------------------------------------
 * All hooks receive `ctx`. Every hook must be set, except `calloc`;
 * cara_env_check() asserts it. The allocator hooks follow
 * malloc/calloc/realloc/free semantics; `free` must accept NULL. */
typedef struct cara_env {
    void *ctx;
    uint64_t (*now_mono_ms)(void *ctx);
    int64_t (*now_wall_ms)(void *ctx);
    /* `msg` is one line without a trailing newline; borrowed for the call. */
    void (*log)(void *ctx, int level, const char *module, const char *msg);
    void *(*alloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    int log_level_max; /* messages above this level are not formatted */
    cara_rng rng;
    /* Optional (NULL: `alloc`, then zeroing), and last, so positional
     * initialisers need not name it. The OS's calloc hands out fresh pages
     * that are already zero without touching them, so a table sized for
     * its cap costs memory only where it is used; zeroing it ourselves
     * would make every page of it resident at once. */
    void *(*calloc)(void *ctx, size_t count, size_t size);
} cara_env;

/* Asserts that every hook is set. */
void cara_env_check(const cara_env *env);

uint64_t cara_env_now_mono_ms(cara_env *env);
int64_t cara_env_now_wall_ms(cara_env *env);

/* printf-style; formats into a bounded line (longer lines are cut). */
void cara_env_logf(cara_env *env, int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Returns NULL on failure; callers turn that into CARA_ENOMEM. */
void *cara_env_alloc(cara_env *env, size_t size);
void *cara_env_calloc(cara_env *env, size_t count, size_t size);
void *cara_env_realloc(cara_env *env, void *ptr, size_t size);
void cara_env_free(cara_env *env, void *ptr);
/* Returns an owned, NUL-terminated copy of `len` bytes of `s`, or NULL. */
char *cara_env_strndup(cara_env *env, const char *s, size_t len);

#endif
