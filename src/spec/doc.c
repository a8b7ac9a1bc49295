/* The document arena: every node and string of one parsed document lives in
 * a chain of chunks freed together, and the node count is capped. */
#include <string.h>

#include "spec/spec_int.h"

#define DOC_CHUNK_BYTES 16384

struct doc_chunk {
    struct doc_chunk *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

void doc_init(doc *dc, cara_env *env)
{
    *dc = (doc){.env = env};
}

void doc_free(doc *dc)
{
    struct doc_chunk *c = dc->chunks;
    while (c != NULL) {
        struct doc_chunk *next = c->next;
        cara_env_free(dc->env, c);
        c = next;
    }
    dc->chunks = NULL;
    dc->nodes_count = 0;
    dc->root = NULL;
}

void *doc_alloc(doc *dc, size_t bytes)
{
    size_t align = _Alignof(max_align_t);
    size_t need = (bytes + align - 1) / align * align;
    if (need < bytes)
        return NULL;
    struct doc_chunk *c = dc->chunks;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > DOC_CHUNK_BYTES ? need : DOC_CHUNK_BYTES;
        c = cara_env_alloc(dc->env, sizeof *c + cap);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = dc->chunks;
        dc->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, bytes);
    return p;
}

doc_node *doc_node_new(doc *dc, doc_kind kind)
{
    if (dc->nodes_count >= CARA_DOC_NODES_MAX)
        return NULL;
    doc_node *n = doc_alloc(dc, sizeof *n);
    if (n == NULL)
        return NULL;
    dc->nodes_count++;
    n->kind = kind;
    return n;
}

char *doc_strdup(doc *dc, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = doc_alloc(dc, len + 1);
    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

doc_node *doc_node_make(doc *dc, doc_kind kind, int *rc)
{
    if (dc->nodes_count >= CARA_DOC_NODES_MAX) {
        *rc = CARA_ETOOBIG;
        return NULL;
    }
    doc_node *n = doc_node_new(dc, kind);
    if (n == NULL)
        *rc = CARA_ENOMEM;
    return n;
}

doc_node *doc_scalar_make(doc *dc, doc_scalar type, const char *text, size_t len, int *rc)
{
    doc_node *n = doc_node_make(dc, DOC_SCALAR, rc);
    if (n == NULL)
        return NULL;
    n->scalar = type;
    n->text = doc_strdup(dc, text, len);
    n->len = len;
    if (n->text == NULL) {
        *rc = CARA_ENOMEM;
        return NULL;
    }
    return n;
}
