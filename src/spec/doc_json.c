/*
 * JSON value -> document tree, and the JSON entry points of the public API
 * (a JSON body meets exactly the schema checks and validation that a YAML
 * manifest meets, because both go through the same binder).
 *
 * jansson keeps object members in insertion order, so the tree holds them
 * in the order of the text and the binder can report duplicates and
 * positions consistently. Strings may contain NUL bytes in jansson
 * (\u0000); the binder sees the length and refuses them where a C string
 * is needed.
 */
#include <stdio.h>

#include "spec/spec_int.h"


static doc_node *convert(doc *dc, const json_t *j, int depth, int *rc);

static doc_node *array(doc *dc, const json_t *j, int depth, int *rc)
{
    doc_node *n = doc_node_make(dc, DOC_SEQ, rc);
    if (n == NULL)
        return NULL;
    size_t count = json_array_size(j);
    if (count > 0) {
        n->items = doc_alloc(dc, count * sizeof *n->items);
        if (n->items == NULL) {
            *rc = CARA_ENOMEM;
            return NULL;
        }
    }
    for (size_t i = 0; i < count; i++) {
        n->items[i] = convert(dc, json_array_get(j, i), depth + 1, rc);
        if (n->items[i] == NULL)
            return NULL;
    }
    n->count = count;
    return n;
}

static doc_node *object(doc *dc, const json_t *j, int depth, int *rc)
{
    doc_node *n = doc_node_make(dc, DOC_MAP, rc);
    if (n == NULL)
        return NULL;
    size_t count = 2 * json_object_size(j);
    if (count > 0) {
        n->items = doc_alloc(dc, count * sizeof *n->items);
        if (n->items == NULL) {
            *rc = CARA_ENOMEM;
            return NULL;
        }
    }
    size_t i = 0;
    for (void *it = json_object_iter((json_t *)j); it != NULL;
         it = json_object_iter_next((json_t *)j, it)) {
        CARA_ASSERT(i + 1 < count);
        n->items[i] = doc_scalar_make(dc, DOC_STR, json_object_iter_key(it),
                             json_object_iter_key_len(it), rc);
        if (n->items[i] == NULL)
            return NULL;
        n->items[i + 1] = convert(dc, json_object_iter_value(it), depth + 1, rc);
        if (n->items[i + 1] == NULL)
            return NULL;
        i += 2;
    }
    CARA_ASSERT(i == count);
    n->count = count;
    return n;
}

static doc_node *convert(doc *dc, const json_t *j, int depth, int *rc)
{
    if (depth > CARA_DOC_DEPTH_MAX) {
        *rc = CARA_ETOOBIG;
        return NULL;
    }
    char text[40];
    int len;
    doc_node *n;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return object(dc, j, depth, rc);
    case JSON_ARRAY:
        return array(dc, j, depth, rc);
    case JSON_STRING:
        return doc_scalar_make(dc, DOC_STR, json_string_value(j), json_string_length(j), rc);
    case JSON_INTEGER:
        len = snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        n = doc_scalar_make(dc, DOC_INT, text, (size_t)len, rc);
        if (n != NULL)
            n->i = (int64_t)json_integer_value(j);
        return n;
    case JSON_REAL:
        len = snprintf(text, sizeof text, "%.17g", json_real_value(j));
        return doc_scalar_make(dc, DOC_FLOAT, text, (size_t)len, rc);
    case JSON_TRUE:
    case JSON_FALSE:
        n = doc_scalar_make(dc, DOC_BOOL, json_is_true(j) ? "true" : "false", json_is_true(j) ? 4 : 5, rc);
        if (n != NULL)
            n->b = json_is_true(j);
        return n;
    case JSON_NULL:
        return doc_node_make(dc, DOC_NULL, rc);
    }
    CARA_UNREACHABLE();
}

int doc_from_json(doc *dc, const json_t *j, doc_node **out)
{
    CARA_ASSERT(dc != NULL && j != NULL && out != NULL);
    int rc = 0;
    *out = convert(dc, j, 0, &rc);
    if (*out == NULL) {
        CARA_ASSERT(rc != 0);
        return rc;
    }
    return 0;
}
