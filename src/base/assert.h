/*
 * Assertions that stay on in every build, release included (TigerBeetle's
 * rule: an invariant that is worth stating is worth checking in production).
 * They are for broken internal invariants only; bad input from peers, users
 * or the engine is a routine error returned as a CARA_E* code.
 */
#ifndef CARA_BASE_ASSERT_H
#define CARA_BASE_ASSERT_H

_Noreturn void cara_assert_fail(const char *expr, const char *file, int line,
                                const char *func);

#define CARA_ASSERT(expr)                                                     \
    ((expr) ? (void)0 : cara_assert_fail(#expr, __FILE__, __LINE__, __func__))

/* Marks a point that control flow must never reach. */
#define CARA_UNREACHABLE() cara_assert_fail("unreachable", __FILE__, __LINE__, __func__)

#endif
