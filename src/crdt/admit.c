/*
 * Who is admitted: a function of the ADMISSION and JOIN records held, so
 * that replicas holding the same records agree whatever order they came
 * in (docs/crdt.md, "The admission cap"; docs/joining.md, "Which joins
 * are in effect"). Two steps:
 *
 * 1. Joins. A JOIN record is out of effect when an operator's ADMISSION
 *    names its key (admit or revoke: the operator's explicit word beats a
 *    token, whatever the stamps) or admits another key under its name.
 *    The rest, oldest first by (HLC, key, name), take effect one by one,
 *    unless an earlier join in effect has the same key (joined under
 *    another name) or the same name (taken), or already `uses` joins in
 *    effect carry the same token (used up).
 * 2. The cap. Every admitting operator record and every join in effect,
 *    oldest first by (HLC, name), adds its key until nodes_max distinct
 *    keys are admitted; the rest are over the cap, as before joins existed.
 *
 * A rebuild costs O(n log n) in the records that admit, plus the joins
 * compared with the joins before them (quadratic in the joins alone). It
 * is paid when an admission or join changes, except in the commonest case,
 * a new admission of a new key with no join held and room under the cap,
 * which crdt_admit_one places in the set directly: a node that applies
 * a cluster's N admissions one by one (its boot) then pays O(N) each, not
 * a rebuild each (docs/sim.md, "Speed and scale").
 */
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt_int.h"

/* One ADMISSION or JOIN record, as the rebuild sees it. */
typedef struct admit_item {
    uint64_t hlc;
    const uint8_t *name;
    size_t name_bytes;
    uint8_t pk[CARA_CRDT_PK_BYTES];
    bool join;   /* a JOIN record, else an operator's ADMISSION */
    bool admits; /* ADMISSION: admitted = true; JOIN: always */
    const uint8_t *token_id;    /* JOIN: the token, with the operator key */
    const uint8_t *token_op_pk; /* that signed its grant */
    uint32_t uses;
    int fate; /* 0: admitted; else why not, a code of cara_crdt_join_check */
} admit_item;

typedef struct admit_set {
    admit_item *items;
    size_t n, cap;
} admit_set;

static int set_push(const cara_crdt *s, admit_set *set, const cara_crdt_record *r)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 16;
        admit_item *v = cara_env_realloc(s->env, set->items, cap * sizeof *v);
        if (v == NULL)
            return CARA_ENOMEM;
        set->items = v;
        set->cap = cap;
    }
    admit_item *it = &set->items[set->n];
    memset(it, 0, sizeof *it);
    it->hlc = r->hlc;
    it->name = r->key;
    it->name_bytes = r->key_bytes;
    /* Values were checked when their records were accepted. */
    if (r->kind == CARA_CRDT_ADMISSION) {
        int rc = cara_crdt_admission_decode(r->value, r->value_bytes, it->pk, &it->admits);
        CARA_ASSERT(rc == 0);
    } else {
        crdt_join_value v;
        int rc = crdt_join_value_decode(r->value, r->value_bytes, &v);
        CARA_ASSERT(rc == 0);
        memcpy(it->pk, r->author, CARA_CRDT_PK_BYTES);
        it->join = it->admits = true;
        it->token_id = v.token_id;
        it->token_op_pk = v.operator_pk;
        it->uses = v.uses;
    }
    set->n++;
    return 0;
}

/* Every ADMISSION and JOIN record held, with `extra` in place of the
 * record of its slot. */
static int collect(const cara_crdt *s, const cara_crdt_record *extra, admit_set *set)
{
    uint8_t extra_kh[16];
    if (extra != NULL)
        crdt_keyhash(extra->kind, extra->key, extra->key_bytes, extra->author, extra_kh);
    for (size_t i = 0; i < s->table_cap; i++) {
        const crdt_entry *e = s->table[i];
        if (e == NULL || (e->rec.kind != CARA_CRDT_ADMISSION && e->rec.kind != CARA_CRDT_JOIN))
            continue;
        if (extra != NULL && memcmp(e->keyhash, extra_kh, 16) == 0)
            continue;
        int rc = set_push(s, set, &e->rec);
        if (rc != 0)
            return rc;
    }
    if (extra != NULL && (extra->kind == CARA_CRDT_ADMISSION || extra->kind == CARA_CRDT_JOIN))
        return set_push(s, set, extra);
    return 0;
}

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c != 0 ? c : (an > bn) - (an < bn);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

static bool same_name(const admit_item *a, const admit_item *b)
{
    return cmp_bytes(a->name, a->name_bytes, b->name, b->name_bytes) == 0;
}

/* The order in which joins take effect: (HLC, key, name). */
static int cmp_join_order(const void *pa, const void *pb)
{
    const admit_item *a = pa, *b = pb;
    int c = cmp_u64(a->hlc, b->hlc);
    c = c ? c : memcmp(a->pk, b->pk, CARA_CRDT_PK_BYTES);
    return c ? c : cmp_bytes(a->name, a->name_bytes, b->name, b->name_bytes);
}

/* The order of the cap: (HLC, name) as before joins, then key and kind so
 * that the order is total whatever is held. */
static int cmp_cap_order(const void *pa, const void *pb)
{
    const admit_item *a = pa, *b = pb;
    int c = cmp_u64(a->hlc, b->hlc);
    c = c ? c : cmp_bytes(a->name, a->name_bytes, b->name, b->name_bytes);
    c = c ? c : memcmp(a->pk, b->pk, CARA_CRDT_PK_BYTES);
    return c ? c : (a->join > b->join) - (a->join < b->join);
}

/* Does an operator's record decide for this join (rule a)? */
static int operator_word(const admit_set *set, const admit_item *j)
{
    int fate = 0;
    for (size_t i = 0; i < set->n; i++) {
        const admit_item *o = &set->items[i];
        if (o->join)
            continue;
        bool same_key = memcmp(o->pk, j->pk, CARA_CRDT_PK_BYTES) == 0;
        if (same_key && !o->admits)
            return CARA_ENOTADMITTED; /* a revocation: final */
        if (same_key || (o->admits && same_name(o, j)))
            fate = CARA_EEXIST; /* the key is the operator's to place, or the name taken */
    }
    return fate;
}

/* Step 1: which joins are in effect (fate 0). Sorts the items. */
static void decide_joins(admit_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->items[i].join)
            set->items[i].fate = operator_word(set, &set->items[i]);
    qsort(set->items, set->n, sizeof *set->items, cmp_join_order);
    for (size_t i = 0; i < set->n; i++) {
        admit_item *j = &set->items[i];
        if (!j->join || j->fate != 0)
            continue;
        uint32_t used = 0;
        for (size_t k = 0; k < i && j->fate == 0; k++) {
            const admit_item *e = &set->items[k];
            if (!e->join || e->fate != 0)
                continue;
            if (memcmp(e->pk, j->pk, CARA_CRDT_PK_BYTES) == 0 || same_name(e, j))
                j->fate = CARA_EEXIST;
            else if (memcmp(e->token_id, j->token_id, CARA_CRDT_JOIN_TOKEN_ID_BYTES) == 0 &&
                     memcmp(e->token_op_pk, j->token_op_pk, CARA_CRDT_PK_BYTES) == 0)
                used++;
        }
        if (j->fate == 0 && used >= j->uses)
            j->fate = CARA_EUSEDUP;
    }
}

/* The outcome of a rebuild. */
typedef struct admit_result {
    uint8_t (*pks)[CARA_CRDT_PK_BYTES];
    crdt_admitted_name *names; /* parallel to pks: the name each was admitted under */
    uint64_t *hlcs;            /* parallel: the HLC of the record that admitted it */
    cara_slotidx index;        /* of pks, by key */
    size_t admitted;
    size_t over_cap, used_up;
} admit_result;

/* Twice the admitted keys there can be (slotidx.h). */
#define ADMITTED_INDEX_CELLS (2 * CARA_CRDT_NODES_MAX)

static uint64_t pk_hash(const uint8_t *pk)
{
    uint64_t h;
    memcpy(&h, pk, sizeof h); /* a public key is already uniform */
    return h;
}

typedef struct pk_key {
    const uint8_t (*pks)[CARA_CRDT_PK_BYTES];
    const uint8_t *pk;
} pk_key;

static bool pk_match(const void *ctx, size_t slot)
{
    const pk_key *k = ctx;
    return memcmp(k->pks[slot], k->pk, CARA_CRDT_PK_BYTES) == 0;
}

static bool pk_indexed(const cara_slotidx *x, const uint8_t (*pks)[CARA_CRDT_PK_BYTES],
                       const uint8_t *pk)
{
    pk_key k = {pks, pk};
    return cara_slotidx_find(x, pk_hash(pk), pk_match, &k) != CARA_SLOTIDX_NONE;
}

static bool pk_in(const admit_result *r, const uint8_t *pk)
{
    return pk_indexed(&r->index, (const uint8_t(*)[CARA_CRDT_PK_BYTES])r->pks, pk);
}

bool cara_crdt_node_admitted(const cara_crdt *s, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    return s->admitted_count > 0 &&
           pk_indexed(&s->admitted_index, (const uint8_t(*)[CARA_CRDT_PK_BYTES])s->admitted, pk);
}

static void result_free(const cara_crdt *s, admit_result *r)
{
    cara_env_free(s->env, r->pks);
    cara_env_free(s->env, r->names);
    cara_env_free(s->env, r->hlcs);
    cara_slotidx_free(&r->index, s->env);
}

void crdt_admitted_free(cara_crdt *s)
{
    cara_env_free(s->env, s->admitted);
    cara_env_free(s->env, s->admitted_names);
    cara_env_free(s->env, s->admitted_hlcs);
    cara_slotidx_free(&s->admitted_index, s->env);
    s->admitted = NULL;
    s->admitted_names = NULL;
    s->admitted_hlcs = NULL;
    s->admitted_count = 0;
}

/* Step 2: the cap over admitting records and joins in effect. Sorts the
 * items; sets the fate of joins over the cap to CARA_ELIMIT. */
static void decide_cap(const cara_crdt *s, admit_set *set, admit_result *out)
{
    qsort(set->items, set->n, sizeof *set->items, cmp_cap_order);
    for (size_t i = 0; i < set->n; i++) {
        admit_item *it = &set->items[i];
        if (it->join && it->fate == CARA_EUSEDUP)
            out->used_up++;
        if (!it->admits || it->fate != 0 || pk_in(out, it->pk))
            continue;
        if (out->admitted < s->nodes_max) {
            CARA_ASSERT(it->name_bytes <= sizeof out->names[0].name);
            out->names[out->admitted].len = (uint8_t)it->name_bytes;
            memcpy(out->names[out->admitted].name, it->name, it->name_bytes);
            out->hlcs[out->admitted] = it->hlc;
            cara_slotidx_put(&out->index, pk_hash(it->pk), out->admitted);
            memcpy(out->pks[out->admitted++], it->pk, CARA_CRDT_PK_BYTES);
        } else {
            out->over_cap++;
            it->fate = CARA_ELIMIT;
        }
    }
}

/* Runs both steps over the records held (and `extra`). On 0 the caller
 * frees set->items and out->pks. */
static int compute(const cara_crdt *s, const cara_crdt_record *extra, admit_set *set,
                   admit_result *out)
{
    memset(set, 0, sizeof *set);
    memset(out, 0, sizeof *out);
    out->pks = cara_env_calloc(s->env, CARA_CRDT_NODES_MAX, CARA_CRDT_PK_BYTES);
    out->names = cara_env_calloc(s->env, CARA_CRDT_NODES_MAX, sizeof *out->names);
    out->hlcs = cara_env_calloc(s->env, CARA_CRDT_NODES_MAX, sizeof *out->hlcs);
    int rc_index = cara_slotidx_init(&out->index, s->env, ADMITTED_INDEX_CELLS);
    int rc = out->pks == NULL || out->names == NULL || out->hlcs == NULL || rc_index != 0
                 ? CARA_ENOMEM
                 : collect(s, extra, set);
    if (rc != 0) {
        cara_env_free(s->env, set->items);
        result_free(s, out);
        return rc;
    }
    decide_joins(set);
    decide_cap(s, set, out);
    return 0;
}

int crdt_rebuild_admitted(cara_crdt *s)
{
    admit_set set;
    admit_result res;
    int rc = compute(s, NULL, &set, &res);
    if (rc != 0)
        return rc;
    size_t joined = 0;
    for (size_t i = 0; i < set.n; i++)
        joined += set.items[i].join && set.items[i].fate == 0;
    crdt_joined *v = cara_env_calloc(s->env, joined ? joined : 1, sizeof *v);
    if (v == NULL) {
        cara_env_free(s->env, set.items);
        result_free(s, &res);
        return CARA_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < set.n; i++) {
        const admit_item *it = &set.items[i];
        if (!it->join || it->fate != 0)
            continue;
        CARA_ASSERT(it->name_bytes <= sizeof v[n].name);
        memcpy(v[n].name, it->name, it->name_bytes);
        v[n].name_bytes = it->name_bytes;
        memcpy(v[n].pk, it->pk, CARA_CRDT_PK_BYTES);
        n++;
    }
    cara_env_free(s->env, set.items);
    cara_env_free(s->env, s->joined);
    crdt_admitted_free(s);
    s->admitted = res.pks;
    s->admitted_names = res.names;
    s->admitted_hlcs = res.hlcs;
    s->admitted_index = res.index;
    s->admitted_count = res.admitted;
    s->admissions_version++;
    s->joined = v;
    s->joined_count = n;
    s->stats.admissions_over_cap = res.over_cap;
    s->stats.joins_used_up = res.used_up;
    return 0;
}

int crdt_join_fate(const cara_crdt *s, const cara_crdt_record *extra, const uint8_t *name,
                   size_t name_bytes, const uint8_t author[CARA_CRDT_PK_BYTES])
{
    admit_set set;
    admit_result res;
    int rc = compute(s, extra, &set, &res);
    if (rc != 0)
        return rc;
    admit_item want = {.name = name, .name_bytes = name_bytes};
    memcpy(want.pk, author, CARA_CRDT_PK_BYTES);
    int fate = CARA_ENOTADMITTED;
    bool admitted = pk_in(&res, author);
    for (size_t i = 0; i < set.n; i++) {
        const admit_item *it = &set.items[i];
        if (!same_name(it, &want) || !it->admits || it->fate != 0 || !admitted ||
            memcmp(it->pk, author, CARA_CRDT_PK_BYTES) != 0)
            continue;
        fate = 0; /* admitted as this name, by the operator or by a join */
        break;
    }
    for (size_t i = 0; fate != 0 && i < set.n; i++) {
        const admit_item *it = &set.items[i];
        if (it->join && same_name(it, &want) && memcmp(it->pk, author, CARA_CRDT_PK_BYTES) == 0)
            fate = it->fate != 0 ? it->fate : CARA_ENOTADMITTED;
    }
    cara_env_free(s->env, set.items);
    result_free(s, &res);
    return fate;
}

/* Where `it` goes among the admitted keys, which are in cap order (each
 * by the record that admitted it): after every one that comes first. */
static size_t cap_position(const cara_crdt *s, const admit_item *it)
{
    size_t lo = 0, hi = s->admitted_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        admit_item held = {.hlc = s->admitted_hlcs[mid],
                           .name = (const uint8_t *)s->admitted_names[mid].name,
                           .name_bytes = s->admitted_names[mid].len};
        memcpy(held.pk, s->admitted[mid], CARA_CRDT_PK_BYTES);
        if (cmp_cap_order(&held, it) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void reindex(cara_crdt *s)
{
    memset(s->admitted_index.cells, 0, ADMITTED_INDEX_CELLS * sizeof *s->admitted_index.cells);
    for (size_t i = 0; i < s->admitted_count; i++)
        cara_slotidx_put(&s->admitted_index, pk_hash(s->admitted[i]), i);
}

bool crdt_admit_one(cara_crdt *s, const cara_crdt_record *r)
{
    /* With no join, a rebuild admits the key of every admitting record,
     * each under its first record in cap order, until the cap: a new key
     * is one more, in its place, and moves no other. */
    if (r->kind != CARA_CRDT_ADMISSION || s->joins_held != 0 || s->joined_count != 0 ||
        s->admitted == NULL || s->stats.admissions_over_cap != 0 ||
        s->admitted_count >= s->nodes_max)
        return false;
    admit_item it = {.hlc = r->hlc, .name = r->key, .name_bytes = r->key_bytes};
    int rc = cara_crdt_admission_decode(r->value, r->value_bytes, it.pk, &it.admits);
    CARA_ASSERT(rc == 0); /* checked when accepted */
    if (!it.admits || cara_crdt_node_admitted(s, it.pk))
        return false;
    size_t at = cap_position(s, &it);
    size_t tail = s->admitted_count - at;
    memmove(&s->admitted[at + 1], &s->admitted[at], tail * sizeof *s->admitted);
    memmove(&s->admitted_names[at + 1], &s->admitted_names[at], tail * sizeof *s->admitted_names);
    memmove(&s->admitted_hlcs[at + 1], &s->admitted_hlcs[at], tail * sizeof *s->admitted_hlcs);
    memcpy(s->admitted[at], it.pk, CARA_CRDT_PK_BYTES);
    CARA_ASSERT(it.name_bytes <= sizeof s->admitted_names[at].name);
    s->admitted_names[at].len = (uint8_t)it.name_bytes;
    memcpy(s->admitted_names[at].name, it.name, it.name_bytes);
    s->admitted_hlcs[at] = it.hlc;
    s->admitted_count++;
    s->admissions_version++;
    reindex(s);
    return true;
}

bool crdt_admitted_consistent(const cara_crdt *s)
{
    admit_set set;
    admit_result res;
    if (compute(s, NULL, &set, &res) != 0)
        return false;
    bool same = res.admitted == s->admitted_count &&
                (res.admitted == 0 ||
                 (memcmp(res.pks, s->admitted, res.admitted * CARA_CRDT_PK_BYTES) == 0 &&
                  memcmp(res.hlcs, s->admitted_hlcs, res.admitted * sizeof *res.hlcs) == 0));
    for (size_t i = 0; same && i < res.admitted; i++)
        same = res.names[i].len == s->admitted_names[i].len &&
               memcmp(res.names[i].name, s->admitted_names[i].name, res.names[i].len) == 0;
    cara_env_free(s->env, set.items);
    result_free(s, &res);
    return same;
}
