/* Diagnostics: a bounded list of errors with field paths and positions. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spec/spec.h"

void cara_diags_init(cara_diags *d, cara_env *env, const char *source)
{
    CARA_ASSERT(d != NULL && env != NULL);
    *d = (cara_diags){.env = env, .source = source != NULL ? source : "<input>"};
}

void cara_diags_free(cara_diags *d)
{
    for (size_t i = 0; i < d->count; i++) {
        cara_env_free(d->env, d->items[i].path);
        cara_env_free(d->env, d->items[i].message);
    }
    cara_env_free(d->env, d->items);
    cara_diags_reset_pos(d);
    cara_env_free(d->env, d->pos);
    d->items = NULL;
    d->pos = NULL;
    d->count = d->cap = d->pos_cap = 0;
}

void cara_diags_reset_pos(cara_diags *d)
{
    for (size_t i = 0; i < d->pos_count; i++)
        cara_env_free(d->env, d->pos[i].path);
    d->pos_count = 0;
}

static void add_v(cara_diags *d, uint32_t line, uint32_t col, const char *path, const char *fmt,
                  va_list ap)
{
    if (d->count >= CARA_ERRORS_COUNT_MAX) {
        d->truncated = true;
        return;
    }
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        cara_diag *items = cara_env_realloc(d->env, d->items, cap * sizeof *items);
        if (items == NULL) {
            d->truncated = true;
            return;
        }
        d->items = items;
        d->cap = cap;
    }
    char msg[CARA_ERROR_BYTES_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char *p = cara_env_strndup(d->env, path, strlen(path));
    char *m = cara_env_strndup(d->env, msg, strlen(msg));
    if (p == NULL || m == NULL) {
        cara_env_free(d->env, p);
        cara_env_free(d->env, m);
        d->truncated = true;
        return;
    }
    d->items[d->count++] = (cara_diag){line, col, p, m};
}

/* True when `prefix` is `path` or a parent of it ("a.b" of "a.b.c" or
 * "a.b[0]"), so that "spec.foo" does not claim "spec.foobar". */
static bool is_path_prefix(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (strncmp(prefix, path, n) != 0)
        return false;
    return path[n] == '\0' || path[n] == '.' || path[n] == '[' || n == 0;
}

void cara_diags_add(cara_diags *d, const char *path, const char *fmt, ...)
{
    uint32_t line = 0, col = 0;
    size_t best = 0;
    bool found = false;
    for (size_t i = 0; i < d->pos_count; i++) {
        size_t n = strlen(d->pos[i].path);
        if (is_path_prefix(d->pos[i].path, path) && (!found || n > best)) {
            best = n;
            found = true;
            line = d->pos[i].line;
            col = d->pos[i].col;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    add_v(d, line, col, path, fmt, ap);
    va_end(ap);
}

void cara_diags_add_at(cara_diags *d, uint32_t line, uint32_t col, const char *path,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_v(d, line, col, path, fmt, ap);
    va_end(ap);
}

void cara_diags_note_pos(cara_diags *d, const char *path, uint32_t line, uint32_t col)
{
    if (line == 0)
        return;
    if (d->pos_count == d->pos_cap) {
        size_t cap = d->pos_cap ? d->pos_cap * 2 : 64;
        cara_diag_pos *pos = cara_env_realloc(d->env, d->pos, cap * sizeof *pos);
        if (pos == NULL)
            return; /* positions are decoration; errors still carry paths */
        d->pos = pos;
        d->pos_cap = cap;
    }
    char *p = cara_env_strndup(d->env, path, strlen(path));
    if (p == NULL)
        return;
    d->pos[d->pos_count++] = (cara_diag_pos){p, line, col};
}

void cara_diags_format(const cara_diags *d, size_t i, char *out, size_t cap)
{
    CARA_ASSERT(i < d->count);
    const cara_diag *e = &d->items[i];
    char where[64] = "";
    if (e->line > 0)
        snprintf(where, sizeof where, ":%u:%u", e->line, e->col);
    if (e->path[0] != '\0')
        snprintf(out, cap, "%s%s: %s: %s", d->source, where, e->path, e->message);
    else
        snprintf(out, cap, "%s%s: %s", d->source, where, e->message);
}
