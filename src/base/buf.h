/*
 * Bounded byte buffers. A buffer grows on demand up to `bytes_max`, fixed at
 * init, and then fails with CARA_ETOOBIG instead of growing (curl's dynbuf
 * does the same). The content is always followed by a NUL byte that is not
 * counted in `len`, so text can be handed to C string functions.
 */
#ifndef CARA_BASE_BUF_H
#define CARA_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/env.h"

typedef struct cara_buf {
    cara_env *env;    /* borrowed; supplies the allocator */
    unsigned char *data;
    size_t len;
    size_t cap;       /* allocated bytes, including the NUL */
    size_t bytes_max; /* `len` never exceeds this */
} cara_buf;

void cara_buf_init(cara_buf *b, cara_env *env, size_t bytes_max);
/* Frees the storage; the buffer may be reused after cara_buf_init. */
void cara_buf_free(cara_buf *b);
/* Drops the content, keeps the storage. */
void cara_buf_reset(cara_buf *b);

/* Each returns 0, CARA_ETOOBIG past bytes_max, or CARA_ENOMEM. On error the
 * buffer is unchanged. */
int cara_buf_append(cara_buf *b, const void *data, size_t len);
int cara_buf_append_str(cara_buf *b, const char *s);
int cara_buf_printf(cara_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the storage to the caller (free with cara_env_free) and resets the
 * buffer to empty. Returns NULL (and sets *len_out to 0) when empty and
 * nothing was ever allocated, or on allocation failure. */
unsigned char *cara_buf_take(cara_buf *b, size_t *len_out);

#endif
