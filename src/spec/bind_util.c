/* The binder's helpers: field paths, quoting, error reporting and the
 * typing of scalars (see docs/manifest.md, "Scalars and types"). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spec/bind_int.h"

void path_field(char out[BIND_PATH_BYTES], const char *path, const char *name, size_t len)
{
    int keep = len > BIND_QUOTE_BYTES ? BIND_QUOTE_BYTES : (int)len;
    if (path[0] == '\0')
        snprintf(out, BIND_PATH_BYTES, "%.*s", keep, name);
    else
        snprintf(out, BIND_PATH_BYTES, "%s.%.*s", path, keep, name);
}

void path_index(char out[BIND_PATH_BYTES], const char *path, size_t i)
{
    snprintf(out, BIND_PATH_BYTES, "%s[%zu]", path, i);
}

void quote(char *out, size_t cap, const char *s, size_t len)
{
    CARA_ASSERT(cap >= 8);
    size_t o = 0;
    out[o++] = '"';
    size_t shown = len > BIND_QUOTE_BYTES ? BIND_QUOTE_BYTES : len;
    for (size_t i = 0; i < shown && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (shown < len && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

void describe(char *out, size_t cap, const doc_node *n)
{
    switch (n->kind) {
    case DOC_NULL: snprintf(out, cap, "null"); return;
    case DOC_MAP: snprintf(out, cap, "a mapping"); return;
    case DOC_SEQ: snprintf(out, cap, "a list"); return;
    case DOC_SCALAR: break;
    }
    if (n->scalar == DOC_STR || n->scalar == DOC_PLAIN)
        quote(out, cap, n->text, n->len);
    else
        snprintf(out, cap, "%.*s", (int)(n->len > 32 ? 32 : n->len), n->text);
}

void bind_error(bctx *b, const char *path, const char *fmt, ...)
{
    char msg[CARA_ERROR_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cara_diags_add(b->d, path, "%s", msg);
    b->failed = true;
}

void bind_error_at(bctx *b, const doc_node *n, const char *path, const char *fmt, ...)
{
    char msg[CARA_ERROR_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n != NULL && n->line > 0)
        cara_diags_add_at(b->d, n->line, n->col, path, "%s", msg);
    else
        cara_diags_add(b->d, path, "%s", msg);
    b->failed = true;
}

size_t edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
    enum { FAR = 3, MAXLEN = 64 };
    if (alen > MAXLEN || blen > MAXLEN)
        return FAR;
    size_t row[MAXLEN + 1];
    for (size_t j = 0; j <= blen; j++)
        row[j] = j;
    for (size_t i = 1; i <= alen; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[blen] < FAR ? row[blen] : FAR;
}

/* ---- Scalars ----------------------------------------------------------------- */

bool scalar_text(const doc_node *n, const char **text, size_t *len)
{
    if (n->kind != DOC_SCALAR || n->scalar == DOC_FLOAT)
        return false;
    *text = n->text;
    *len = n->len;
    return true;
}

/* String fields take the text of any scalar, so `value: 3306` and
 * `value: "3306"` mean the same; only null, collections and floats (whose
 * text form would depend on the encoder) are refused. */
char *bind_strdup(bctx *b, const doc_node *n, const char *path)
{
    const char *s;
    size_t len;
    char got[QUOTE_BYTES];
    if (!scalar_text(n, &s, &len)) {
        describe(got, sizeof got, n);
        bind_error(b, path, "must be a string, got %s", got);
        return NULL;
    }
    if (memchr(s, '\0', len) != NULL) {
        bind_error(b, path, "must not contain NUL bytes");
        return NULL;
    }
    char *copy = cara_env_strndup(b->env, s, len);
    if (copy == NULL)
        b->oom = true;
    return copy;
}

static bool decimal(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 18)
        return false; /* 18 digits always fit in int64_t */
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool bind_int(bctx *b, const doc_node *n, const char *path, int64_t min, int64_t max,
              int64_t *out)
{
    int64_t v = 0;
    bool ok = false;
    if (n->kind == DOC_SCALAR && n->scalar == DOC_INT) {
        v = n->i;
        ok = true;
    } else if (n->kind == DOC_SCALAR && (n->scalar == DOC_STR || n->scalar == DOC_PLAIN)) {
        ok = decimal(n->text, n->len, &v);
        if (!ok && n->len > 18 && strspn(n->text, "0123456789") == n->len) {
            bind_error(b, path, "must be between %lld and %lld, got %.32s", (long long)min,
                       (long long)max, n->text);
            return false;
        }
    }
    if (!ok) {
        char got[QUOTE_BYTES];
        describe(got, sizeof got, n);
        bind_error(b, path, "must be an integer, got %s", got);
        return false;
    }
    if (v < min || v > max) {
        bind_error(b, path, "must be between %lld and %lld, got %lld", (long long)min,
                   (long long)max, (long long)v);
        return false;
    }
    *out = v;
    return true;
}

static bool text_is(const doc_node *n, const char *const *forms)
{
    for (size_t i = 0; forms[i] != NULL; i++)
        if (n->len == strlen(forms[i]) && memcmp(n->text, forms[i], n->len) == 0)
            return true;
    return false;
}

/* YAML 1.2's core schema spellings; YAML 1.1's yes/no/on/off are refused
 * because `country: no` must not turn into false. */
bool bind_bool(bctx *b, const doc_node *n, const char *path, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    if (n->kind == DOC_SCALAR && n->scalar == DOC_BOOL) {
        *out = n->b;
        return true;
    }
    if (n->kind == DOC_SCALAR && (n->scalar == DOC_STR || n->scalar == DOC_PLAIN)) {
        if (text_is(n, yes) || text_is(n, no)) {
            *out = text_is(n, yes);
            return true;
        }
    }
    char got[QUOTE_BYTES];
    describe(got, sizeof got, n);
    bind_error(b, path, "must be true or false, got %s", got);
    return false;
}

/* ---- De-duplication of validation after binding ------------------------------ */

static bool path_covers(const char *parent, const char *path)
{
    size_t n = strlen(parent);
    if (strncmp(parent, path, n) != 0)
        return false;
    return path[n] == '\0' || path[n] == '.' || path[n] == '[' || n == 0;
}

void diags_dedup(cara_diags *d, size_t from, size_t first)
{
    CARA_ASSERT(from <= first && first <= d->count);
    size_t kept = first;
    for (size_t j = first; j < d->count; j++) {
        bool repeat = false;
        for (size_t i = from; i < first && !repeat; i++)
            repeat = path_covers(d->items[i].path, d->items[j].path);
        if (repeat) {
            cara_env_free(d->env, d->items[j].path);
            cara_env_free(d->env, d->items[j].message);
        } else {
            d->items[kept++] = d->items[j];
        }
    }
    d->count = kept;
}

static bool diag_before(const cara_diag *a, const cara_diag *b)
{
    if (a->line == 0 || b->line == 0)
        return a->line != 0 && b->line == 0;
    return a->line < b->line || (a->line == b->line && a->col < b->col);
}

void diags_sort(cara_diags *d, size_t from)
{
    /* Insertion sort: at most CARA_ERRORS_COUNT_MAX entries, and stable. */
    for (size_t i = from + 1; i < d->count; i++) {
        cara_diag x = d->items[i];
        size_t j = i;
        while (j > from && diag_before(&x, &d->items[j - 1])) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = x;
    }
}
