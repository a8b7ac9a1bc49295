/*
 * Internals shared by the files of src/spec; no other module includes this.
 *
 * Every input format is first turned into one generic document tree
 * (doc_node), and one binder turns a tree into the model. So a YAML
 * manifest, a JSON request body and msgpack bytes from a peer all meet the
 * same schema checks (unknown fields, types, required fields) and the same
 * validation, and report errors with the same paths.
 */
#ifndef CARA_SPEC_INT_H
#define CARA_SPEC_INT_H

#include <msgpack.h>

#include "spec/spec.h"

typedef enum {
    DOC_NULL = 0, /* YAML null/~/empty, JSON null, msgpack nil */
    DOC_SCALAR,
    DOC_MAP,
    DOC_SEQ,
} doc_kind;

/* What a scalar was written as. YAML plain scalars are untyped until the
 * binder asks for a type ("80" may be a port or a string); quoted YAML
 * scalars and JSON/msgpack strings are strings; JSON/msgpack numbers and
 * booleans keep their type. */
typedef enum {
    DOC_STR = 0,  /* quoted YAML, JSON string, msgpack str */
    DOC_PLAIN,    /* YAML plain scalar: type decided by the binder */
    DOC_INT,      /* JSON integer, msgpack int/uint: see `i` */
    DOC_BOOL,     /* JSON true/false, msgpack bool: see `b` */
    DOC_FLOAT,    /* JSON real, msgpack float: never valid in our schema */
} doc_scalar;

typedef struct doc_node {
    doc_kind kind;
    doc_scalar scalar;
    const char *text; /* scalar text, NUL-terminated, owned by the doc arena;
                         for DOC_INT/DOC_BOOL a decimal/"true"/"false" form */
    size_t len;
    int64_t i;        /* DOC_INT: value (msgpack uint > INT64_MAX is DOC_FLOAT) */
    bool b;           /* DOC_BOOL */
    uint32_t line, col; /* 1-based; 0 when the input has no positions */
    struct doc_node **items; /* SEQ: elements; MAP: key, value, key, value... */
    size_t count;            /* SEQ: elements; MAP: 2 × pairs */
} doc_node;

/* A parsed document: every node and string lives in one arena freed by
 * doc_free, and the node count is capped by CARA_DOC_NODES_MAX. */
typedef struct doc {
    cara_env *env;
    struct doc_chunk *chunks;
    size_t nodes_count;
    doc_node *root;
} doc;

void doc_init(doc *dc, cara_env *env);
void doc_free(doc *dc);
/* Allocates a zeroed node (NULL past CARA_DOC_NODES_MAX or out of memory). */
doc_node *doc_node_new(doc *dc, doc_kind kind);
/* Copies `len` bytes into the arena with a NUL (NULL when out of memory). */
char *doc_strdup(doc *dc, const char *s, size_t len);
void *doc_alloc(doc *dc, size_t bytes);
/* doc_node_new and a scalar with its text copied, reporting why they fail:
 * *rc = CARA_ETOOBIG past the node cap, CARA_ENOMEM otherwise. */
doc_node *doc_node_make(doc *dc, doc_kind kind, int *rc);
doc_node *doc_scalar_make(doc *dc, doc_scalar type, const char *text, size_t len, int *rc);

/* ---- Tree builders (each reports its own syntax errors into `d`) ------------ */

/* YAML: calls `fn` once per non-empty document, in order; stops at the
 * first syntax error (CARA_EPARSE) or when `fn` returns non-zero. */
typedef int (*doc_yaml_fn)(void *ctx, doc *dc);
int doc_from_yaml(cara_env *env, const char *text, size_t len, cara_diags *d, doc_yaml_fn fn,
                  void *ctx);
/* JSON value -> tree (no positions). */
int doc_from_json(doc *dc, const json_t *j, doc_node **out);
/* msgpack object -> tree (no positions). */
int doc_from_msgpack(doc *dc, const msgpack_object *o, doc_node **out);

/* ---- Binder ------------------------------------------------------------------
 * Each binds a tree to a new model object, checking the schema and then
 * validating. `path` is the prefix for diagnostics ("" for a document).
 * Returns 0, or CARA_ESCHEMA with every problem in `d` (and *out NULL). */
int bind_project(cara_env *env, const doc_node *root, cara_diags *d, cara_project **out);
int bind_project_status(cara_env *env, const doc_node *root, const char *path, cara_diags *d,
                        cara_project_status **out);
int bind_node(cara_env *env, const doc_node *root, const char *path, cara_diags *d,
              cara_node **out);
int bind_settings(cara_env *env, const doc_node *root, cara_diags *d, cara_settings **out);

/* ---- Writing side (json_out.c, mp.c, utf8.c) ---------------------------------
 * The rc-returning forms behind cara_*_to_json: 0, CARA_ENOMEM, or
 * CARA_EINVAL for a model no decoder could have produced (a string that is
 * not UTF-8, a time outside years 1..9999). *out is a new reference. */
int spec_project_json(const cara_project *p, const cara_project_status *status_or_null,
                      json_t **out);
int spec_project_status_json(const cara_project_status *s, json_t **out);
int spec_node_json(const cara_node *n, json_t **out);
int spec_settings_json(const cara_settings *s, json_t **out);

/* Canonical quantity text (see json_out.c): "20 digits + suffix + NUL". */
#define SPEC_QUANTITY_BYTES 24
void spec_cpu_quantity(uint64_t millis, char out[SPEC_QUANTITY_BYTES]);
void spec_memory_quantity(uint64_t bytes, char out[SPEC_QUANTITY_BYTES]);

/* Appends `j` to `out` as canonical msgpack (map keys sorted bytewise,
 * shortest integers, str for strings), refusing to write more than
 * `record_bytes_max` bytes for this value (CARA_ETOOBIG). On error `out` is
 * left as it was. Reals are not part of the schema: CARA_EINVAL. */
int spec_json_to_msgpack(const json_t *j, size_t record_bytes_max, cara_buf *out);

/* Renders `n` JSON values as one YAML stream of `n` documents (yaml_out.c),
 * the second and later introduced by "---". Same errors as
 * cara_json_to_yaml. */
int spec_json_to_yaml_stream(const json_t *const *docs, size_t n, cara_buf *out);

/* True when s[0..len) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF): what jansson and libyaml accept. */
bool spec_utf8_valid(const char *s, size_t len);

#endif
