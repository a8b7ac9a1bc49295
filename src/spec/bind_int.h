/*
 * The binder's machinery, shared by bind*.c, quantity.c and validate*.c.
 *
 * Binding is table-driven: a `shape` lists the fields of one mapping, each
 * with its kind, where its value goes in the model struct (offsetof), and
 * its caps. One walker (bind_shape) checks every key of a mapping against
 * the table, so unknown, duplicate, mistyped and missing fields are found
 * the same way at every level and in every input format.
 */
#ifndef CARA_SPEC_BIND_INT_H
#define CARA_SPEC_BIND_INT_H

#include <stddef.h>

#include "spec/spec_int.h"

/* Longest field path we print. Paths are built from known field names and
 * list indexes, plus at most one user key, which is cut to fit. */
#define BIND_PATH_BYTES 256
/* A user value quoted in a message is cut to this many bytes. */
#define BIND_QUOTE_BYTES 64

typedef struct bctx {
    cara_env *env;
    cara_diags *d;
    bool failed; /* a schema error was reported */
    bool oom;    /* an allocation failed: the result is unusable */
} bctx;

typedef enum {
    F_STR,    /* char *; any non-null scalar's text */
    F_STRV,   /* char ** + size_t count; a list of strings */
    F_BOOL,   /* bool */
    F_U16,    /* uint16_t within [min, max] */
    F_U32,    /* uint32_t within [min, max] */
    F_ENUM,   /* an int-sized enum; `names` indexed by value */
    F_KVMAP,  /* cara_kv * + size_t count; a mapping of strings to strings */
    F_CPU,    /* uint64_t millicores from a Kubernetes CPU quantity */
    F_MEMORY, /* uint64_t bytes from a Kubernetes memory quantity */
    F_TIME,   /* int64_t Unix ms from RFC 3339; off_count: bool has-flag or NO_OFF */
    F_OBJ,    /* a nested mapping bound into obj + off with `shape` */
    F_LIST,   /* elem * + size_t count; a list of mappings bound with `shape` */
    F_CUSTOM, /* `custom` does it all */
    F_IGNORE, /* accepted and not read (a manifest's status) */
} field_kind;

#define NO_OFF ((size_t)-1)

struct shape;
typedef void (*custom_fn)(bctx *b, const doc_node *v, const char *path, void *obj);

typedef struct field {
    const char *name;
    field_kind kind;
    bool required;
    size_t off;
    size_t off_count;
    size_t count_max; /* lists and maps: longer ones are refused unbound */
    size_t count_min; /* lists: "must not be empty" below this */
    int64_t min, max; /* F_U16, F_U32 */
    const char *const *names; /* F_ENUM */
    size_t names_count;
    const struct shape *shape; /* F_OBJ, F_LIST */
    custom_fn custom;
} field;

typedef struct shape {
    const field *fields;
    size_t fields_count;
    size_t elem_bytes; /* F_LIST element size */
    /* Fills defaults before the fields are bound (e.g. health timings). */
    void (*init)(void *obj);
} shape;

#define SHAPE(fields_, elem_bytes_, init_) \
    {(fields_), sizeof(fields_) / sizeof *(fields_), (elem_bytes_), (init_)}

/* ---- Reporting (bind_util.c) ------------------------------------------------ */

/* `path` + "." + name, or name alone at the root. */
void path_field(char out[BIND_PATH_BYTES], const char *path, const char *name, size_t len);
/* `path` + "[i]". */
void path_index(char out[BIND_PATH_BYTES], const char *path, size_t i);
/* Writes `s` in double quotes, cut to BIND_QUOTE_BYTES, with control and
 * non-ASCII bytes escaped, so that a message stays one readable line. */
void quote(char *out, size_t cap, const char *s, size_t len);
#define QUOTE_BYTES (BIND_QUOTE_BYTES * 4 + 8)
/* What a node is, for "got ..." in messages: `"text"`, `a mapping`, ... */
void describe(char *out, size_t cap, const doc_node *n);
void bind_error(bctx *b, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bind_error_at(bctx *b, const doc_node *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Levenshtein distance of two short strings, capped at 3 ("far"). */
size_t edit_distance(const char *a, size_t alen, const char *b, size_t blen);

/* ---- Scalars (bind_util.c) -------------------------------------------------------
 * scalar_text gives the text of any scalar but a float (no report); the
 * others report their own type error and return false (NULL) on it. */
bool scalar_text(const doc_node *n, const char **text, size_t *len);
char *bind_strdup(bctx *b, const doc_node *n, const char *path);
bool bind_int(bctx *b, const doc_node *n, const char *path, int64_t min, int64_t max,
              int64_t *out);
bool bind_bool(bctx *b, const doc_node *n, const char *path, bool *out);

/* ---- The walker (bind_util.c) ------------------------------------------------------ */

/* Binds the mapping `n` at `path` into `obj` with `s`; reports problems. */
void bind_shape(bctx *b, const doc_node *n, const char *path, const struct shape *s, void *obj);
/* Drops the diagnostics from index `first` on whose path is one already
 * reported from index `from` to `first`: validation of a half-bound object
 * must not repeat what the binder said. */
void diags_dedup(cara_diags *d, size_t from, size_t first);
/* Orders the diagnostics from index `from` on by line and column (stable;
 * those without a position stay last), so a file reads top to bottom. */
void diags_sort(cara_diags *d, size_t from);

/* ---- Quantities (quantity.c) ----------------------------------------------------------
 * Kubernetes quantities. Return 0, or CARA_EPARSE when malformed, CARA_ETOOBIG
 * past the cap (CARA_CPU_MILLIS_MAX / CARA_MEMORY_BYTES_MAX). */
int quantity_cpu_millis(const char *s, size_t len, uint64_t *out);
int quantity_memory_bytes(const char *s, size_t len, uint64_t *out);

/* ---- Shared validation helpers (validate_syntax.c) ------------------------------ */

/* Each returns NULL when valid, or a static reason for the message. */
const char *image_ref_problem(const char *s, size_t len);
bool label_key_valid(const char *s, size_t len);
bool label_value_valid(const char *s, size_t len);
bool env_name_valid(const char *s, size_t len);
/* The DNS label rule as a message tail, shared with the binder. */
#define DNS_LABEL_RULE \
    "lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit"

#endif
