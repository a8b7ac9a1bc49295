#include "base/env.h"

#include <stdio.h>
#include <string.h>

#include "base/assert.h"

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cara_rng_seed(cara_rng *rng, uint64_t seed)
{
    CARA_ASSERT(rng != NULL);
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&sm);
}

uint64_t cara_rng_next(cara_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t cara_rng_below(cara_rng *rng, uint64_t bound)
{
    CARA_ASSERT(bound > 0);
    /* Lemire, "Fast Random Integer Generation in an Interval" (2019). */
    unsigned __int128 m = (unsigned __int128)cara_rng_next(rng) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            m = (unsigned __int128)cara_rng_next(rng) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

void cara_rng_bytes(cara_rng *rng, void *out, size_t len)
{
    unsigned char *p = out;
    while (len > 0) {
        uint64_t v = cara_rng_next(rng);
        size_t n = len < sizeof v ? len : sizeof v;
        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
}

const char *cara_log_level_name(int level)
{
    switch (level) {
    case CARA_LOG_ERROR: return "error";
    case CARA_LOG_WARN: return "warn";
    case CARA_LOG_INFO: return "info";
    case CARA_LOG_DEBUG: return "debug";
    default: return "unknown";
    }
}

void cara_env_check(const cara_env *env)
{
    CARA_ASSERT(env != NULL);
    CARA_ASSERT(env->now_mono_ms != NULL);
    CARA_ASSERT(env->now_wall_ms != NULL);
    CARA_ASSERT(env->log != NULL);
    CARA_ASSERT(env->alloc != NULL);
    CARA_ASSERT(env->realloc != NULL);
    CARA_ASSERT(env->free != NULL);
}

uint64_t cara_env_now_mono_ms(cara_env *env) { return env->now_mono_ms(env->ctx); }

int64_t cara_env_now_wall_ms(cara_env *env) { return env->now_wall_ms(env->ctx); }

void cara_env_logf(cara_env *env, int level, const char *module, const char *fmt, ...)
{
    if (level > env->log_level_max)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    env->log(env->ctx, level, module, line);
}

void *cara_env_alloc(cara_env *env, size_t size)
{
    return env->alloc(env->ctx, size == 0 ? 1 : size);
}

void *cara_env_calloc(cara_env *env, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    if (env->calloc != NULL)
        return env->calloc(env->ctx, count == 0 ? 1 : count, size == 0 ? 1 : size);
    size_t total = count * size;
    void *p = cara_env_alloc(env, total);
    if (p != NULL)
        memset(p, 0, total == 0 ? 1 : total);
    return p;
}

void *cara_env_realloc(cara_env *env, void *ptr, size_t size)
{
    return env->realloc(env->ctx, ptr, size == 0 ? 1 : size);
}

void cara_env_free(cara_env *env, void *ptr) { env->free(env->ctx, ptr); }

char *cara_env_strndup(cara_env *env, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = cara_env_alloc(env, len + 1);
    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
