#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"

void cara_buf_init(cara_buf *b, cara_env *env, size_t bytes_max)
{
    CARA_ASSERT(b != NULL && env != NULL);
    CARA_ASSERT(bytes_max < SIZE_MAX / 2);
    b->env = env;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->bytes_max = bytes_max;
}

void cara_buf_free(cara_buf *b)
{
    cara_env_free(b->env, b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cara_buf_reset(cara_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Makes room for `extra` more bytes plus the NUL. */
static int reserve(cara_buf *b, size_t extra)
{
    if (extra > b->bytes_max - b->len)
        return CARA_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need)
        cap *= 2;
    if (cap > b->bytes_max + 1)
        cap = b->bytes_max + 1;
    unsigned char *p = cara_env_realloc(b->env, b->data, cap);
    if (p == NULL)
        return CARA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cara_buf_append(cara_buf *b, const void *data, size_t len)
{
    int rc = reserve(b, len);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int cara_buf_append_str(cara_buf *b, const char *s) { return cara_buf_append(b, s, strlen(s)); }

int cara_buf_printf(cara_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CARA_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

unsigned char *cara_buf_take(cara_buf *b, size_t *len_out)
{
    unsigned char *p = b->data;
    *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
