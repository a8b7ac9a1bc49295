#include "base/assert.h"

#include <stdio.h>
#include <stdlib.h>

/*
 * Writing to stderr here is the one piece of output the core may do: an
 * assertion failure ends the process, so there is no caller to hand it to.
 */
_Noreturn void cara_assert_fail(const char *expr, const char *file, int line,
                                const char *func)
{
    fprintf(stderr, "assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
