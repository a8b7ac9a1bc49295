/*
 * The nodes as scheduling reads them (cara_core_nodes_get): every node
 * record held, decoded, with readiness (membership's word), admission and
 * the operator's cordon or drain folded in.
 *
 * The view is rebuilt after every change that could move it (a node
 * record, an admission, a membership event), which at N nodes is nearly
 * every step. Decoding a node record is the costly part (a JSON tree,
 * then a re-encoding to prove the canonical form: about 30 µs), so a
 * record whose value bytes are those of the last rebuild keeps its
 * decoded form; only readiness and the operator's control, which live
 * outside the record, are read again. Decoding is a pure function of the
 * value bytes, so the view is the one a full decode would give.
 */
#include <string.h>

#include <sodium.h>

#include "core/core_int.h"

/* One decoded record of the last rebuild, found by name at the next. */
typedef struct nodes_prev {
    cara_node **decoded;
    uint8_t **values;
    size_t *values_bytes;
    size_t count;
    cara_slotidx by_name;
} nodes_prev;

typedef struct nodes_ctx {
    cara_core *c;
    nodes_prev *prev;
    int rc;
} nodes_ctx;

/* FNV-1a of a name: the index's hash. */
static uint64_t name_hash(const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 1099511628211ULL;
    return h;
}

typedef struct name_key {
    const nodes_prev *prev;
    const char *name;
    size_t len;
} name_key;

static bool prev_match(const void *ctx, size_t slot)
{
    const name_key *k = ctx;
    const cara_node *n = k->prev->decoded[slot];
    return n != NULL && strlen(n->name) == k->len && memcmp(n->name, k->name, k->len) == 0;
}

static void free_arrays(cara_core *c, cara_node **decoded, uint8_t **values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        cara_node_free(c->env, decoded[i]);
        cara_env_free(c->env, values[i]);
    }
}

void core_nodes_free(cara_core *c)
{
    cara_core_nodes *ns = &c->nodes;
    free_arrays(c, ns->decoded, c->nodes_values, ns->count);
    cara_env_free(c->env, ns->decoded);
    cara_env_free(c->env, ns->items);
    cara_env_free(c->env, c->nodes_values);
    cara_env_free(c->env, c->nodes_values_bytes);
    *ns = (cara_core_nodes){0};
    c->nodes_values = NULL;
    c->nodes_values_bytes = NULL;
    c->nodes_cap = 0;
}

/* Room for one more node in the view: 0 or CARA_ENOMEM. */
static int nodes_reserve(cara_core *c)
{
    cara_core_nodes *ns = &c->nodes;
    if (ns->count < c->nodes_cap)
        return 0;
    size_t cap = c->nodes_cap ? 2 * c->nodes_cap : 16;
    cara_sched_node *items = cara_env_realloc(c->env, ns->items, cap * sizeof *items);
    if (items != NULL)
        ns->items = items;
    cara_node **dec = cara_env_realloc(c->env, ns->decoded, cap * sizeof *dec);
    if (dec != NULL)
        ns->decoded = dec;
    uint8_t **vals = cara_env_realloc(c->env, c->nodes_values, cap * sizeof *vals);
    if (vals != NULL)
        c->nodes_values = vals;
    size_t *lens = cara_env_realloc(c->env, c->nodes_values_bytes, cap * sizeof *lens);
    if (lens != NULL)
        c->nodes_values_bytes = lens;
    if (items == NULL || dec == NULL || vals == NULL || lens == NULL)
        return CARA_ENOMEM;
    c->nodes_cap = cap;
    return 0;
}

/* The decoded record with these value bytes: the last rebuild's (taken
 * from it), or a new decode. NULL if it does not decode (or no memory). */
static cara_node *decode_or_reuse(nodes_ctx *x, const cara_crdt_record *r, uint8_t **value_out)
{
    nodes_prev *prev = x->prev;
    name_key k = {prev, (const char *)r->key, r->key_bytes};
    size_t slot = prev->count > 0
                      ? cara_slotidx_find(&prev->by_name, name_hash(k.name, k.len), prev_match, &k)
                      : CARA_SLOTIDX_NONE;
    if (slot != CARA_SLOTIDX_NONE && prev->values_bytes[slot] == r->value_bytes &&
        memcmp(prev->values[slot], r->value, r->value_bytes) == 0) {
        cara_node *n = prev->decoded[slot];
        *value_out = prev->values[slot];
        prev->decoded[slot] = NULL; /* taken */
        prev->values[slot] = NULL;
        return n;
    }
    cara_node *n = NULL;
    if (cara_node_decode(x->c->env, r->value, r->value_bytes, NULL, &n) != 0)
        return NULL;
    uint8_t *copy = cara_env_alloc(x->c->env, r->value_bytes ? r->value_bytes : 1);
    if (copy == NULL) {
        cara_node_free(x->c->env, n);
        x->rc = CARA_ENOMEM;
        return NULL;
    }
    memcpy(copy, r->value, r->value_bytes);
    *value_out = copy;
    return n;
}

static int collect_node(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    nodes_ctx *x = ctx;
    cara_core *c = x->c;
    if (r->kind != CARA_CRDT_NODE)
        return 0;
    if (nodes_reserve(c) != 0) {
        x->rc = CARA_ENOMEM;
        return 1;
    }
    uint8_t *value = NULL;
    cara_node *n = decode_or_reuse(x, r, &value);
    if (n == NULL)
        return x->rc != 0;
    cara_core_nodes *ns = &c->nodes;
    ns->decoded[ns->count] = n;
    c->nodes_values[ns->count] = value;
    c->nodes_values_bytes[ns->count] = r->value_bytes;
    cara_node_control ctl = cara_core_node_control(c, n->name);
    ns->items[ns->count] = (cara_sched_node){
        .name = n->name,
        /* Readiness is the readers', never the record's own `state` or
         * Ready condition (DESIGN.md §4). */
        .ready = cara_core_node_ready(c, n->name),
        .admitted = cara_crdt_node_admitted(c->crdt, r->author),
        .schedulable = cara_sched_node_schedulable(n) && !ctl.cordoned && !ctl.draining,
        .cordoned = ctl.cordoned,
        .draining = ctl.draining,
        .labels = n->labels,
        .labels_count = n->labels_count,
        .capacity = n->capacity,
    };
    ns->count++;
    return 0;
}

/* What scheduling reads of the nodes, as one hash: a node record that
 * changes none of it (a republish, an address) re-evaluates nothing. */
static void nodes_sched_hash(const cara_core_nodes *ns, uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (size_t i = 0; i < ns->count; i++) {
        const cara_sched_node *n = &ns->items[i];
        uint8_t flags[4] = {n->ready, n->schedulable, n->cordoned, n->draining};
        crypto_generichash_update(&st, (const uint8_t *)n->name, strlen(n->name) + 1);
        crypto_generichash_update(&st, flags, sizeof flags);
        crypto_generichash_update(&st, (const uint8_t *)&n->capacity, sizeof n->capacity);
        for (size_t l = 0; l < n->labels_count; l++) {
            crypto_generichash_update(&st, (const uint8_t *)n->labels[l].name,
                                      strlen(n->labels[l].name) + 1);
            crypto_generichash_update(&st, (const uint8_t *)n->labels[l].value,
                                      strlen(n->labels[l].value) + 1);
        }
    }
    crypto_generichash_final(&st, out, 32);
}

/* Moves the current view aside as the previous one, indexed by name.
 * 0 or CARA_ENOMEM (then the view is emptied and everything decoded). */
static int take_prev(cara_core *c, nodes_prev *prev)
{
    cara_core_nodes *ns = &c->nodes;
    *prev = (nodes_prev){.decoded = ns->decoded, .values = c->nodes_values,
                         .values_bytes = c->nodes_values_bytes, .count = ns->count};
    cara_env_free(c->env, ns->items);
    *ns = (cara_core_nodes){0};
    c->nodes_values = NULL;
    c->nodes_values_bytes = NULL;
    c->nodes_cap = 0;
    if (prev->count == 0)
        return 0;
    size_t cells = 16;
    while (cells < 2 * prev->count)
        cells *= 2;
    if (cara_slotidx_init(&prev->by_name, c->env, cells) != 0) {
        prev->count = 0; /* nothing to reuse; freed by the caller */
        return CARA_ENOMEM;
    }
    for (size_t i = 0; i < prev->count; i++) {
        const char *name = prev->decoded[i]->name;
        cara_slotidx_put(&prev->by_name, name_hash(name, strlen(name)), i);
    }
    return 0;
}

const cara_core_nodes *cara_core_nodes_get(cara_core *c)
{
    if (!c->nodes_dirty && c->nodes_valid)
        return &c->nodes;
    size_t prev_count = c->nodes.count;
    nodes_prev prev;
    (void)take_prev(c, &prev);
    nodes_ctx x = {c, &prev, 0};
    int rc = cara_crdt_foreach(c->crdt, collect_node, &x);
    /* What the new view did not take goes. */
    free_arrays(c, prev.decoded, prev.values, prev_count);
    cara_env_free(c->env, prev.decoded);
    cara_env_free(c->env, prev.values);
    cara_env_free(c->env, prev.values_bytes);
    cara_slotidx_free(&prev.by_name, c->env);
    if (rc != 0 || x.rc != 0)
        core_nodes_free(c);
    c->nodes_valid = rc == 0 && x.rc == 0;
    c->nodes_dirty = false;
    if (!c->nodes_valid)
        return NULL;
    uint8_t h[32];
    nodes_sched_hash(&c->nodes, h);
    if (memcmp(h, c->nodes_hash, sizeof h) != 0) {
        memcpy(c->nodes_hash, h, sizeof h);
        c->dirty_all = true;
    }
    return &c->nodes;
}
