/* The table walker: binds one mapping against a shape, field by field, and
 * reports every unknown, duplicate, missing or mistyped field. */
#include <stdio.h>
#include <string.h>

#include "spec/bind_int.h"

static void *at(void *obj, size_t off) { return (unsigned char *)obj + off; }

static const field *find_field(const shape *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->fields_count; i++)
        if (strlen(s->fields[i].name) == len && memcmp(s->fields[i].name, name, len) == 0)
            return &s->fields[i];
    return NULL;
}

/* Suggests the field within edit distance 2, or failing that one the key
 * is a cut-short form of ("interval" for "intervalSeconds"). */
static const char *field_hint(const shape *s, const doc_node *key)
{
    const char *hint = NULL;
    size_t best = 3;
    for (size_t i = 0; i < s->fields_count; i++) {
        const char *f = s->fields[i].name;
        size_t dist = edit_distance(key->text, key->len, f, strlen(f));
        if (s->fields[i].kind != F_IGNORE && dist < best) {
            best = dist;
            hint = f;
        }
    }
    for (size_t i = 0; hint == NULL && i < s->fields_count && key->len >= 4; i++)
        if (strncmp(s->fields[i].name, key->text, key->len) == 0)
            hint = s->fields[i].name;
    return hint;
}

static void unknown_field(bctx *b, const shape *s, const doc_node *key, const char *path)
{
    const char *hint = field_hint(s, key);
    if (hint != NULL)
        bind_error_at(b, key, path, "unknown field (did you mean \"%s\"?)", hint);
    else
        bind_error_at(b, key, path, "unknown field");
}

/* Refuses a sequence that is not one or is longer than `max`; returns its
 * length, or SIZE_MAX when nothing should be bound. */
static size_t seq_count(bctx *b, const doc_node *v, const char *path, const field *f)
{
    char got[QUOTE_BYTES];
    if (v->kind != DOC_SEQ) {
        describe(got, sizeof got, v);
        bind_error(b, path, "must be a list, got %s", got);
        return SIZE_MAX;
    }
    if (v->count > f->count_max) {
        bind_error(b, path, "at most %zu items are allowed, got %zu", f->count_max, v->count);
        return SIZE_MAX;
    }
    if (v->count < f->count_min) {
        bind_error(b, path, "must not be empty");
        return SIZE_MAX;
    }
    return v->count;
}

static void bind_strv(bctx *b, const field *f, const doc_node *v, const char *path, void *obj)
{
    size_t n = seq_count(b, v, path, f);
    if (n == SIZE_MAX || n == 0)
        return;
    char **items = cara_env_calloc(b->env, n, sizeof *items);
    if (items == NULL) {
        b->oom = true;
        return;
    }
    *(char ***)at(obj, f->off) = items;
    *(size_t *)at(obj, f->off_count) = n;
    for (size_t i = 0; i < n; i++) {
        char child[BIND_PATH_BYTES];
        path_index(child, path, i);
        cara_diags_note_pos(b->d, child, v->items[i]->line, v->items[i]->col);
        items[i] = bind_strdup(b, v->items[i], child);
    }
}

static void bind_list(bctx *b, const field *f, const doc_node *v, const char *path, void *obj)
{
    size_t n = seq_count(b, v, path, f);
    if (n == SIZE_MAX || n == 0)
        return;
    const shape *s = f->shape;
    unsigned char *items = cara_env_calloc(b->env, n, s->elem_bytes);
    if (items == NULL) {
        b->oom = true;
        return;
    }
    *(void **)at(obj, f->off) = items;
    *(size_t *)at(obj, f->off_count) = n;
    for (size_t i = 0; i < n; i++) {
        char child[BIND_PATH_BYTES];
        path_index(child, path, i);
        cara_diags_note_pos(b->d, child, v->items[i]->line, v->items[i]->col);
        bind_shape(b, v->items[i], child, s, items + i * s->elem_bytes);
    }
}

/* A mapping of strings to strings (labels, nodeSelector). Keys are checked
 * for duplicates here; their syntax is validation's business. */
static void bind_kvmap(bctx *b, const field *f, const doc_node *v, const char *path, void *obj)
{
    char got[QUOTE_BYTES];
    if (v->kind != DOC_MAP) {
        describe(got, sizeof got, v);
        bind_error(b, path, "must be a mapping, got %s", got);
        return;
    }
    size_t n = v->count / 2;
    if (n > f->count_max) {
        bind_error(b, path, "at most %zu entries are allowed, got %zu", f->count_max, n);
        return;
    }
    if (n == 0)
        return;
    cara_kv *kv = cara_env_calloc(b->env, n, sizeof *kv);
    if (kv == NULL) {
        b->oom = true;
        return;
    }
    *(cara_kv **)at(obj, f->off) = kv;
    *(size_t *)at(obj, f->off_count) = n;
    for (size_t i = 0; i < n; i++) {
        const doc_node *key = v->items[2 * i], *val = v->items[2 * i + 1];
        char child[BIND_PATH_BYTES];
        path_field(child, path, key->text != NULL ? key->text : "", key->len);
        cara_diags_note_pos(b->d, child, key->line, key->col);
        for (size_t j = 0; j < i && key->kind == DOC_SCALAR; j++) {
            const doc_node *prev = v->items[2 * j];
            if (prev->kind == DOC_SCALAR && prev->len == key->len &&
                memcmp(prev->text, key->text, key->len) == 0) {
                bind_error_at(b, key, child, "duplicate key");
                break;
            }
        }
        kv[i].name = bind_strdup(b, key, path);
        kv[i].value = bind_strdup(b, val, child);
    }
}

static void bind_enum(bctx *b, const field *f, const doc_node *v, const char *path, void *obj)
{
    for (size_t i = 0; v->kind == DOC_SCALAR && i < f->names_count; i++) {
        if (strlen(f->names[i]) == v->len && memcmp(f->names[i], v->text, v->len) == 0) {
            int value = (int)i;
            memcpy(at(obj, f->off), &value, sizeof value);
            return;
        }
    }
    char expected[160] = "", got[QUOTE_BYTES];
    for (size_t i = 0; i < f->names_count; i++) {
        size_t used = strlen(expected);
        snprintf(expected + used, sizeof expected - used, "%s%s", i ? ", " : "", f->names[i]);
    }
    describe(got, sizeof got, v);
    bind_error(b, path, "must be one of %s, got %s", expected, got);
}

static void bind_quantity(bctx *b, const field *f, const doc_node *v, const char *path,
                          void *obj)
{
    bool cpu = f->kind == F_CPU;
    const char *s = NULL;
    size_t len = 0;
    uint64_t value = 0;
    int rc = CARA_EPARSE;
    if (scalar_text(v, &s, &len))
        rc = cpu ? quantity_cpu_millis(s, len, &value) : quantity_memory_bytes(s, len, &value);
    char got[QUOTE_BYTES];
    describe(got, sizeof got, v);
    if (rc == CARA_EPARSE && cpu)
        bind_error(b, path, "%s is not a CPU quantity (e.g. \"500m\", \"0.5\" or 2)", got);
    else if (rc == CARA_EPARSE)
        bind_error(b, path, "%s is not a memory quantity (e.g. \"256Mi\", \"1Gi\", \"512M\" or 1048576)",
                   got);
    else if (rc == CARA_ETOOBIG && cpu)
        bind_error(b, path, "must be at most %llu cores, got %s", CARA_CPU_MILLIS_MAX / 1000, got);
    else if (rc == CARA_ETOOBIG)
        bind_error(b, path, "must be at most 1Pi (1125899906842624 bytes), got %s", got);
    else if (value == 0)
        bind_error(b, path, "must be greater than 0, got %s", got);
    else
        *(uint64_t *)at(obj, f->off) = value;
}
_Static_assert(CARA_MEMORY_BYTES_MAX == 1125899906842624ULL, "the message above says 1Pi");

static void bind_time(bctx *b, const field *f, const doc_node *v, const char *path, void *obj)
{
    const char *s;
    size_t len;
    int64_t ms;
    char got[QUOTE_BYTES];
    if (!scalar_text(v, &s, &len) || cara_time_parse_rfc3339(s, len, &ms) != 0) {
        describe(got, sizeof got, v);
        bind_error(b, path, "%s is not an RFC 3339 time (e.g. \"2026-12-01T00:00:00Z\")", got);
        return;
    }
    *(int64_t *)at(obj, f->off) = ms;
    if (f->off_count != NO_OFF)
        *(bool *)at(obj, f->off_count) = true;
}

static void bind_field(bctx *b, const field *f, const doc_node *v, const char *path, void *obj)
{
    int64_t i;
    switch (f->kind) {
    case F_STR: *(char **)at(obj, f->off) = bind_strdup(b, v, path); return;
    case F_STRV: bind_strv(b, f, v, path, obj); return;
    case F_BOOL: bind_bool(b, v, path, (bool *)at(obj, f->off)); return;
    case F_U16:
        if (bind_int(b, v, path, f->min, f->max, &i))
            *(uint16_t *)at(obj, f->off) = (uint16_t)i;
        return;
    case F_U32:
        if (bind_int(b, v, path, f->min, f->max, &i))
            *(uint32_t *)at(obj, f->off) = (uint32_t)i;
        return;
    case F_ENUM: bind_enum(b, f, v, path, obj); return;
    case F_KVMAP: bind_kvmap(b, f, v, path, obj); return;
    case F_CPU:
    case F_MEMORY: bind_quantity(b, f, v, path, obj); return;
    case F_TIME: bind_time(b, f, v, path, obj); return;
    case F_OBJ: bind_shape(b, v, path, f->shape, at(obj, f->off)); return;
    case F_LIST: bind_list(b, f, v, path, obj); return;
    case F_CUSTOM: f->custom(b, v, path, obj); return;
    case F_IGNORE: return;
    }
    CARA_UNREACHABLE();
}

static void missing_fields(bctx *b, const shape *s, const char *path, const size_t *first)
{
    for (size_t i = 0; i < s->fields_count; i++) {
        if (s->fields[i].required && first[i] == 0) {
            char child[BIND_PATH_BYTES];
            path_field(child, path, s->fields[i].name, strlen(s->fields[i].name));
            bind_error(b, child, "required field is missing");
        }
    }
}

void bind_shape(bctx *b, const doc_node *n, const char *path, const shape *s, void *obj)
{
    enum { FIELDS_MAX = 32 };
    CARA_ASSERT(s->fields_count <= FIELDS_MAX);
    if (n->kind != DOC_MAP) {
        char got[QUOTE_BYTES];
        describe(got, sizeof got, n);
        bind_error(b, path, "%s be a mapping, got %s", path[0] ? "must" : "a document must", got);
        return;
    }
    if (s->init != NULL)
        s->init(obj);
    size_t first[FIELDS_MAX] = {0}; /* 1 + the line a field was first seen on */
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const doc_node *key = n->items[i], *val = n->items[i + 1];
        char child[BIND_PATH_BYTES];
        if (key->kind != DOC_SCALAR) {
            bind_error_at(b, key, path, "mapping keys must be strings");
            continue;
        }
        path_field(child, path, key->text, key->len);
        const field *f = find_field(s, key->text, key->len);
        if (f == NULL) {
            unknown_field(b, s, key, child);
            continue;
        }
        size_t idx = (size_t)(f - s->fields);
        if (first[idx] != 0) {
            if (first[idx] > 1)
                bind_error_at(b, key, child, "duplicate key (first at line %zu)", first[idx] - 1);
            else
                bind_error_at(b, key, child, "duplicate key");
            continue;
        }
        first[idx] = 1 + key->line;
        /* A field is where its key is: "14:11" points at `name: dta`. */
        cara_diags_note_pos(b->d, child, key->line, key->col);
        if (val->kind == DOC_NULL) {
            if (f->required)
                bind_error(b, child, "required field has no value");
            continue;
        }
        bind_field(b, f, val, child, obj);
    }
    missing_fields(b, s, path, first);
}
