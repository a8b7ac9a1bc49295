/*
 * msgpack object -> document tree. The object comes from msgpack_unpack_next
 * over bytes that cara_mpcheck has already bounded, so counts are honest
 * and nesting is at most CARA_MP_DEPTH_MAX. msgpack-c's strings point into
 * the caller's buffer and are not NUL-terminated: each one is copied into
 * the doc arena with its length, so the tree outlives the unpacked zone.
 *
 * Types that the schema can never accept are refused here, before the
 * binder sees them: map keys that are not strings, bin and ext objects,
 * strings that are not UTF-8 or that hold a NUL (model strings are C
 * strings, so such a string could not survive a round trip). All give
 * CARA_ESCHEMA. An unsigned integer above INT64_MAX becomes a DOC_FLOAT
 * scalar so the binder refuses it with a path, like any other number that
 * no field accepts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spec/spec_int.h"


static doc_node *string(doc *dc, const msgpack_object_str *s, int *rc)
{
    /* An empty str may come with a NULL pointer, which memchr must not see. */
    if (s->size > 0 &&
        (memchr(s->ptr, '\0', s->size) != NULL || !spec_utf8_valid(s->ptr, s->size))) {
        *rc = CARA_ESCHEMA;
        return NULL;
    }
    return doc_scalar_make(dc, DOC_STR, s->ptr, s->size, rc);
}

static doc_node *number(doc *dc, const msgpack_object *o, int *rc)
{
    char text[40];
    int len;
    doc_node *n;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        len = snprintf(text, sizeof text, "%" PRIu64, o->via.u64);
        if (o->via.u64 > INT64_MAX)
            return doc_scalar_make(dc, DOC_FLOAT, text, (size_t)len, rc);
        n = doc_scalar_make(dc, DOC_INT, text, (size_t)len, rc);
        if (n != NULL)
            n->i = (int64_t)o->via.u64;
        return n;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        len = snprintf(text, sizeof text, "%" PRId64, o->via.i64);
        n = doc_scalar_make(dc, DOC_INT, text, (size_t)len, rc);
        if (n != NULL)
            n->i = o->via.i64;
        return n;
    default: /* FLOAT32, FLOAT64 */
        len = snprintf(text, sizeof text, "%.17g", o->via.f64);
        return doc_scalar_make(dc, DOC_FLOAT, text, (size_t)len, rc);
    }
}

static doc_node *convert(doc *dc, const msgpack_object *o, int depth, int *rc);

static doc_node *container(doc *dc, const msgpack_object *o, int depth, int *rc)
{
    bool is_map = o->type == MSGPACK_OBJECT_MAP;
    size_t count = is_map ? 2 * (size_t)o->via.map.size : o->via.array.size;
    doc_node *n = doc_node_make(dc, is_map ? DOC_MAP : DOC_SEQ, rc);
    if (n == NULL)
        return NULL;
    if (count > 0) {
        n->items = doc_alloc(dc, count * sizeof *n->items);
        if (n->items == NULL) {
            *rc = CARA_ENOMEM;
            return NULL;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const msgpack_object *child;
        if (is_map) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i / 2];
            child = i % 2 == 0 ? &kv->key : &kv->val;
            if (i % 2 == 0 && child->type != MSGPACK_OBJECT_STR) {
                *rc = CARA_ESCHEMA;
                return NULL;
            }
        } else {
            child = &o->via.array.ptr[i];
        }
        n->items[i] = convert(dc, child, depth + 1, rc);
        if (n->items[i] == NULL)
            return NULL;
    }
    n->count = count;
    return n;
}

static doc_node *convert(doc *dc, const msgpack_object *o, int depth, int *rc)
{
    if (depth > CARA_DOC_DEPTH_MAX) {
        *rc = CARA_ETOOBIG;
        return NULL;
    }
    doc_node *n;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return doc_node_make(dc, DOC_NULL, rc);
    case MSGPACK_OBJECT_BOOLEAN:
        n = o->via.boolean ? doc_scalar_make(dc, DOC_BOOL, "true", 4, rc)
                           : doc_scalar_make(dc, DOC_BOOL, "false", 5, rc);
        if (n != NULL)
            n->b = o->via.boolean;
        return n;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return number(dc, o, rc);
    case MSGPACK_OBJECT_STR:
        return string(dc, &o->via.str, rc);
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        return container(dc, o, depth, rc);
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
        break;
    }
    *rc = CARA_ESCHEMA; /* bin, ext: no field of the schema holds bytes */
    return NULL;
}

int doc_from_msgpack(doc *dc, const msgpack_object *o, doc_node **out)
{
    CARA_ASSERT(dc != NULL && o != NULL && out != NULL);
    int rc = 0;
    *out = convert(dc, o, 0, &rc);
    if (*out == NULL) {
        CARA_ASSERT(rc != 0);
        return rc;
    }
    return 0;
}
