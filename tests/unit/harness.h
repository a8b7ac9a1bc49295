/*
 * A small test harness. Each TEST() registers itself at load time; the
 * runner executes every test in its own child process with a timeout (as
 * libuv's runner does), so a crash or hang fails one test, not the suite.
 *
 * Property tests draw from cara_test_seed(): CARA_TEST_SEED in the
 * environment fixes it, otherwise it is taken from the clock and printed
 * when the test fails, so any failure can be replayed.
 */
#ifndef CARA_TEST_HARNESS_H
#define CARA_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef void (*cara_test_fn)(void);
void cara_test_register(const char *name, const char *file, cara_test_fn fn);

#define TEST(name)                                                          \
    static void test_##name(void);                                          \
    __attribute__((constructor)) static void register_##name(void)          \
    {                                                                       \
        cara_test_register(#name, __FILE__, test_##name);                   \
    }                                                                       \
    static void test_##name(void)

_Noreturn void cara_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends the test as not run here, for a reason the machine imposes (no
 * IPv6, say): the runner prints "SKIP file:name (why)", which tests/run.sh
 * counts apart, never as passed. */
_Noreturn void cara_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            cara_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);           \
    } while (0)

#define CHECK_INT(a, op, b)                                                  \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        if (!(a_ op b_))                                                     \
            cara_test_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a,  \
                           #op, #b, a_, b_);                                 \
    } while (0)

#define CHECK_RC(expr, want)                                                 \
    do {                                                                     \
        int rc_ = (expr);                                                    \
        if (rc_ != (want))                                                   \
            cara_test_fail(__FILE__, __LINE__, "%s returned %s, want %s",     \
                           #expr, cara_errname(rc_), cara_errname(want));     \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

#define CHECK_STR(a, b)                                                      \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                 \
            cara_test_fail(__FILE__, __LINE__, "%s == %s:\n  got  \"%s\"\n  want \"%s\"", \
                           #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");  \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                          \
    do {                                                                     \
        size_t al_ = (alen), bl_ = (blen);                                   \
        if (al_ != bl_ || memcmp((a), (b), al_) != 0)                        \
            cara_test_fail(__FILE__, __LINE__, "bytes differ: %s (%zu) vs %s (%zu)", \
                           #a, al_, #b, bl_);                                \
    } while (0)

/* The seed for this test's generators (see above). */
uint64_t cara_test_seed(void);

/* An env for tests: malloc, a fixed fake clock (settable), a logger that
 * keeps quiet unless CARA_TEST_VERBOSE is set, and the rng seeded with
 * cara_test_seed(). */
cara_env *cara_test_env(void);
void cara_test_set_time(uint64_t mono_ms, int64_t wall_ms);

/* Path of a file under tests/, relative to the repository root. */
const char *cara_test_path(const char *rel);

#endif
