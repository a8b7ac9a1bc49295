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

#endif
