/*
 * YAML text -> document trees, with libyaml's event parser.
 *
 * We use events rather than libyaml's document loader because the loader
 * copies every alias target, so a "billion laughs" file expands before any
 * cap can act. Here an alias points at the node its anchor names (no copy),
 * and each use is charged the whole size of that node against
 * CARA_DOC_NODES_MAX, so an alias bomb fails after a few thousand events
 * while a sensible reuse of an env list costs what it would cost written out.
 *
 * Scalars keep their text untyped: quoted ones become DOC_STR, plain ones
 * DOC_PLAIN and the binder decides whether "80" is a port or a string. Only
 * the YAML null forms become DOC_NULL here.
 */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "spec/spec_int.h"

typedef struct anchor {
    const char *name; /* in the doc arena */
    doc_node *node;
    size_t start_nodes; /* dc.nodes_count when the node began */
    size_t weight;      /* nodes charged per alias use, once complete */
    bool complete;
} anchor;

typedef struct frame {
    doc_node *node;
    size_t cap;            /* allocated slots in node->items */
    anchor *anchor_or_null; /* the anchor naming this collection */
} frame;

typedef struct reader {
    cara_diags *d;
    doc dc;
    bool in_doc;
    frame stack[CARA_DOC_DEPTH_MAX];
    size_t depth;
    anchor anchors[CARA_DOC_ANCHORS_MAX];
    size_t anchors_count;
} reader;

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

static uint32_t mark_line(yaml_mark_t m) { return (uint32_t)m.line + 1; }
static uint32_t mark_col(yaml_mark_t m) { return (uint32_t)m.column + 1; }

/* Reader errors (bad UTF-8, control characters) carry a byte offset, not a
 * mark; turn it into a line and column by counting. */
static void offset_to_mark(const char *text, size_t len, size_t offset, uint32_t *line,
                           uint32_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static void syntax_error(reader *r, const yaml_parser_t *p, const char *text, size_t len)
{
    uint32_t line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_to_mark(text, len, p->problem_offset, &line, &col);
    } else {
        line = mark_line(p->problem_mark);
        col = mark_col(p->problem_mark);
    }
    const char *problem = p->problem != NULL ? p->problem : "malformed input";
    if (p->error == YAML_MEMORY_ERROR)
        problem = "out of memory";
    if (p->context != NULL)
        cara_diags_add_at(r->d, line, col, "", "yaml: %s (%s)", problem, p->context);
    else
        cara_diags_add_at(r->d, line, col, "", "yaml: %s", problem);
}

/* A structural error of ours (caps, aliases, tags): reported like libyaml's. */
static int fail_at(reader *r, yaml_mark_t m, const char *what, const char *arg)
{
    if (arg != NULL)
        cara_diags_add_at(r->d, mark_line(m), mark_col(m), "", "yaml: %s \"%.64s\"", what, arg);
    else
        cara_diags_add_at(r->d, mark_line(m), mark_col(m), "", "yaml: %s", what);
    return CARA_EPARSE;
}

/* Writes the short form of a tag ("!!binary" for the YAML core prefix). */
static const char *short_tag(const char *tag, char *buf, size_t cap)
{
    size_t n = strlen(YAML_TAG_PREFIX);
    if (strncmp(tag, YAML_TAG_PREFIX, n) == 0) {
        snprintf(buf, cap, "!!%s", tag + n);
        return buf;
    }
    return tag;
}

/* Only the non-specific tag "!" and "!!str" on a scalar are meaningful to
 * us; any other explicit tag asks for a type our schema does not have. */
static int check_tag(reader *r, const yaml_char_t *tag, bool scalar, yaml_mark_t m)
{
    if (tag == NULL || strcmp((const char *)tag, "!") == 0)
        return 0;
    if (scalar && strcmp((const char *)tag, YAML_TAG_PREFIX "str") == 0)
        return 0;
    char buf[80];
    return fail_at(r, m, "explicit tags are not supported, got",
                   short_tag((const char *)tag, buf, sizeof buf));
}

static int node_budget_error(reader *r, yaml_mark_t m)
{
    char what[96];
    snprintf(what, sizeof what, "document has more than %d nodes (each alias use counts in full)",
             CARA_DOC_NODES_MAX);
    return fail_at(r, m, what, NULL);
}

/* Appends `n` to the open collection, or makes it the document root. */
static int attach(reader *r, doc_node *n, yaml_mark_t m)
{
    if (r->depth == 0) {
        CARA_ASSERT(r->dc.root == NULL);
        r->dc.root = n;
        return 0;
    }
    frame *f = &r->stack[r->depth - 1];
    doc_node *parent = f->node;
    if (parent->kind == DOC_MAP && parent->count % 2 == 0 && n->kind != DOC_SCALAR)
        return fail_at(r, m, "mapping keys must be non-null scalars", NULL);
    if (parent->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        doc_node **items = doc_alloc(&r->dc, cap * sizeof *items);
        if (items == NULL)
            return CARA_ENOMEM;
        if (parent->count > 0)
            memcpy(items, parent->items, parent->count * sizeof *items);
        parent->items = items;
        f->cap = cap;
    }
    parent->items[parent->count++] = n;
    return 0;
}

static doc_node *new_node(reader *r, doc_kind kind, yaml_mark_t m, int *rc)
{
    if (r->dc.nodes_count >= CARA_DOC_NODES_MAX) {
        *rc = node_budget_error(r, m);
        return NULL;
    }
    doc_node *n = doc_node_new(&r->dc, kind);
    if (n == NULL) {
        *rc = CARA_ENOMEM;
        return NULL;
    }
    n->line = mark_line(m);
    n->col = mark_col(m);
    return n;
}

/* Registers an anchor; a later anchor of the same name replaces it, as YAML
 * says. The weight is known when the node ends (see close_anchor). */
static int open_anchor(reader *r, const yaml_char_t *name, doc_node *n, yaml_mark_t m,
                       anchor **out)
{
    *out = NULL;
    if (name == NULL)
        return 0;
    anchor *a = NULL;
    for (size_t i = 0; i < r->anchors_count; i++)
        if (strcmp(r->anchors[i].name, (const char *)name) == 0)
            a = &r->anchors[i];
    if (a == NULL) {
        if (r->anchors_count == CARA_DOC_ANCHORS_MAX)
            return fail_at(r, m, "too many anchors in one document", NULL);
        a = &r->anchors[r->anchors_count++];
        a->name = doc_strdup(&r->dc, (const char *)name, strlen((const char *)name));
        if (a->name == NULL)
            return CARA_ENOMEM;
    }
    a->node = n;
    a->start_nodes = r->dc.nodes_count - 1; /* n itself is already counted */
    a->complete = false;
    *out = a;
    return 0;
}

static void close_anchor(reader *r, anchor *a)
{
    if (a == NULL)
        return;
    a->weight = r->dc.nodes_count - a->start_nodes;
    a->complete = true;
}

static int on_alias(reader *r, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    anchor *a = NULL;
    for (size_t i = 0; i < r->anchors_count; i++)
        if (strcmp(r->anchors[i].name, name) == 0)
            a = &r->anchors[i];
    if (a == NULL)
        return fail_at(r, ev->start_mark, "unknown alias", name);
    if (!a->complete)
        return fail_at(r, ev->start_mark, "alias refers to a node that contains it:", name);
    if (a->weight > CARA_DOC_NODES_MAX - r->dc.nodes_count)
        return node_budget_error(r, ev->start_mark);
    r->dc.nodes_count += a->weight;
    return attach(r, a->node, ev->start_mark);
}

static bool is_null_plain(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
                         memcmp(s, "NULL", 4) == 0));
}

static int on_scalar(reader *r, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    int rc = check_tag(r, ev->data.scalar.tag, true, ev->start_mark);
    if (rc != 0)
        return rc;
    if (len > CARA_DOC_SCALAR_BYTES_MAX) {
        char what[64];
        snprintf(what, sizeof what, "scalar is longer than %d bytes", CARA_DOC_SCALAR_BYTES_MAX);
        return fail_at(r, ev->start_mark, what, NULL);
    }
    /* A tag ("!" or "!!str") makes a plain scalar a string, as in YAML. */
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.tag == NULL;
    bool null = plain && is_null_plain(s, len);
    doc_node *n = new_node(r, null ? DOC_NULL : DOC_SCALAR, ev->start_mark, &rc);
    if (n == NULL)
        return rc;
    if (!null) {
        n->scalar = plain ? DOC_PLAIN : DOC_STR;
        n->text = doc_strdup(&r->dc, s, len);
        if (n->text == NULL)
            return CARA_ENOMEM;
        n->len = len;
    }
    anchor *a;
    rc = open_anchor(r, ev->data.scalar.anchor, n, ev->start_mark, &a);
    if (rc != 0)
        return rc;
    close_anchor(r, a);
    return attach(r, n, ev->start_mark);
}

static int on_collection_start(reader *r, const yaml_event_t *ev, doc_kind kind)
{
    const yaml_char_t *tag = kind == DOC_MAP ? ev->data.mapping_start.tag
                                             : ev->data.sequence_start.tag;
    const yaml_char_t *name = kind == DOC_MAP ? ev->data.mapping_start.anchor
                                              : ev->data.sequence_start.anchor;
    int rc = check_tag(r, tag, false, ev->start_mark);
    if (rc != 0)
        return rc;
    if (r->depth == CARA_DOC_DEPTH_MAX) {
        char what[64];
        snprintf(what, sizeof what, "nesting is deeper than %d levels", CARA_DOC_DEPTH_MAX);
        return fail_at(r, ev->start_mark, what, NULL);
    }
    doc_node *n = new_node(r, kind, ev->start_mark, &rc);
    if (n == NULL)
        return rc;
    rc = attach(r, n, ev->start_mark);
    if (rc != 0)
        return rc;
    anchor *a;
    rc = open_anchor(r, name, n, ev->start_mark, &a);
    if (rc != 0)
        return rc;
    r->stack[r->depth++] = (frame){.node = n, .anchor_or_null = a};
    return 0;
}

static int on_collection_end(reader *r)
{
    CARA_ASSERT(r->depth > 0);
    frame *f = &r->stack[--r->depth];
    CARA_ASSERT(f->node->kind != DOC_MAP || f->node->count % 2 == 0);
    close_anchor(r, f->anchor_or_null);
    return 0;
}

static int on_document_end(reader *r, doc_yaml_fn fn, void *ctx)
{
    CARA_ASSERT(r->depth == 0);
    int rc = 0;
    /* A document with nothing in it ("---" alone, or only comments) is
     * skipped, so separators at the start or end of a file do no harm. */
    if (r->dc.root != NULL && r->dc.root->kind != DOC_NULL)
        rc = fn(ctx, &r->dc);
    doc_free(&r->dc);
    r->in_doc = false;
    return rc;
}

static int on_event(reader *r, const yaml_event_t *ev, doc_yaml_fn fn, void *ctx)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        doc_init(&r->dc, r->dc.env);
        r->in_doc = true;
        r->anchors_count = 0;
        return 0;
    case YAML_DOCUMENT_END_EVENT: return on_document_end(r, fn, ctx);
    case YAML_SCALAR_EVENT: return on_scalar(r, ev);
    case YAML_ALIAS_EVENT: return on_alias(r, ev);
    case YAML_SEQUENCE_START_EVENT: return on_collection_start(r, ev, DOC_SEQ);
    case YAML_MAPPING_START_EVENT: return on_collection_start(r, ev, DOC_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: return on_collection_end(r);
    default: return 0; /* stream start/end, no-op */
    }
}

int doc_from_yaml(cara_env *env, const char *text, size_t len, cara_diags *d, doc_yaml_fn fn,
                  void *ctx)
{
    CARA_ASSERT(env != NULL && d != NULL && fn != NULL);
    CARA_ASSERT(text != NULL || len == 0);
    if (len > CARA_MANIFEST_BYTES_MAX) {
        cara_diags_add(d, "", "file is larger than %d bytes", CARA_MANIFEST_BYTES_MAX);
        return CARA_ETOOBIG;
    }
    reader *r = cara_env_calloc(env, 1, sizeof *r);
    yaml_parser_t parser;
    if (r == NULL || !yaml_parser_initialize(&parser)) {
        cara_env_free(env, r);
        return CARA_ENOMEM;
    }
    r->d = d;
    doc_init(&r->dc, env);
    yaml_parser_set_input_string(&parser, (const unsigned char *)(len ? text : ""), len);
    int rc = 0;
    bool done = false;
    /* Every event consumes input, so the loop is bounded by the text. */
    while (rc == 0 && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(r, &parser, text, len);
            rc = parser.error == YAML_MEMORY_ERROR ? CARA_ENOMEM : CARA_EPARSE;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(r, &ev, fn, ctx);
        yaml_event_delete(&ev);
    }
    doc_free(&r->dc);
    yaml_parser_delete(&parser);
    cara_env_free(env, r);
    return rc;
}
