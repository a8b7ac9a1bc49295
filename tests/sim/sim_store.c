/*
 * The simulated disk of a node: what its store (SQLite in cara-agent,
 * src/agent/store.c) would hold. The driver writes every change of the
 * crdt's change feed to it; writes become durable only at a sync; a crash
 * loses what was not synced; a restart rebuilds the state from what was,
 * verifying every record again as the agent does on load.
 *
 * Two tables, as the agent keeps them: records by slot id, and floors
 * (collected tombstones) by project slot id. Pending writes are a list
 * replayed onto the tables at a sync. Envelopes are interned in a pool
 * shared by every disk of the sim, so N nodes holding the same record pay
 * for its bytes once; a corrupted write makes a private copy.
 */
#include <string.h>

#include "sim_int.h"

/* ---- The pool of envelopes ------------------------------------------------------ */

struct sim_pool {
    cara_env *env;
    sim_blob **buckets;
    size_t cap, count, bytes;
};

static uint64_t hash_bytes(const uint8_t *b, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ len;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

int sim_pool_new(sim_pool **out, cara_env *env)
{
    sim_pool *p = cara_env_calloc(env, 1, sizeof *p);
    if (p == NULL)
        return CARA_ENOMEM;
    p->env = env;
    p->cap = 1024;
    p->buckets = cara_env_calloc(env, p->cap, sizeof *p->buckets);
    if (p->buckets == NULL) {
        cara_env_free(env, p);
        return CARA_ENOMEM;
    }
    *out = p;
    return 0;
}

void sim_pool_free(sim_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->cap; i++)
        for (sim_blob *b = p->buckets[i], *next; b != NULL; b = next) {
            next = b->next;
            cara_env_free(p->env, b);
        }
    cara_env_free(p->env, p->buckets);
    cara_env_free(p->env, p);
}

static void pool_grow(sim_pool *p)
{
    size_t cap = p->cap * 2;
    sim_blob **nb = cara_env_calloc(p->env, cap, sizeof *nb);
    if (nb == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < p->cap; i++)
        for (sim_blob *b = p->buckets[i], *next; b != NULL; b = next) {
            next = b->next;
            b->next = nb[b->hash & (cap - 1)];
            nb[b->hash & (cap - 1)] = b;
        }
    cara_env_free(p->env, p->buckets);
    p->buckets = nb;
    p->cap = cap;
}

sim_blob *sim_pool_get(sim_pool *p, const uint8_t *bytes, size_t len)
{
    uint64_t h = hash_bytes(bytes, len);
    for (sim_blob *b = p->buckets[h & (p->cap - 1)]; b != NULL; b = b->next)
        if (b->hash == h && b->len == len && memcmp(b->bytes, bytes, len) == 0) {
            b->refs++;
            return b;
        }
    sim_blob *b = cara_env_alloc(p->env, sizeof *b + len);
    CARA_ASSERT(b != NULL);
    b->hash = h;
    b->refs = 1;
    b->len = (uint32_t)len;
    memcpy(b->bytes, bytes, len);
    b->next = p->buckets[h & (p->cap - 1)];
    p->buckets[h & (p->cap - 1)] = b;
    p->count++;
    p->bytes += sizeof *b + len;
    if (p->count > 2 * p->cap)
        pool_grow(p);
    return b;
}

void sim_pool_put(sim_pool *p, sim_blob *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    sim_blob **at = &p->buckets[b->hash & (p->cap - 1)];
    while (*at != b)
        at = &(*at)->next;
    *at = b->next;
    p->count--;
    p->bytes -= sizeof *b + b->len;
    cara_env_free(p->env, b);
}

size_t sim_pool_bytes(const sim_pool *p) { return p->bytes + p->cap * sizeof *p->buckets; }

/* ---- A table of slot id -> blob (linear probing, backward-shift deletion) ------ */

typedef struct slot {
    uint8_t id[CARA_CRDT_ID_BYTES];
    sim_blob *blob; /* NULL: empty */
} slot;

typedef struct table {
    slot *v;
    size_t cap, count;
} table;

static size_t home(const table *t, const uint8_t id[CARA_CRDT_ID_BYTES])
{
    uint64_t h;
    memcpy(&h, id, sizeof h); /* the id is a BLAKE2b output already */
    return (size_t)h & (t->cap - 1);
}

static slot *table_find(const table *t, const uint8_t id[CARA_CRDT_ID_BYTES])
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = home(t, id);; i = (i + 1) & (t->cap - 1)) {
        if (t->v[i].blob == NULL)
            return NULL;
        if (memcmp(t->v[i].id, id, CARA_CRDT_ID_BYTES) == 0)
            return &t->v[i];
    }
}

static void table_insert_new(table *t, const uint8_t id[CARA_CRDT_ID_BYTES], sim_blob *b)
{
    size_t i = home(t, id);
    while (t->v[i].blob != NULL)
        i = (i + 1) & (t->cap - 1);
    memcpy(t->v[i].id, id, CARA_CRDT_ID_BYTES);
    t->v[i].blob = b;
    t->count++;
}

static void table_grow(cara_env *env, table *t)
{
    table n = {.cap = t->cap ? t->cap * 2 : 64};
    n.v = cara_env_calloc(env, n.cap, sizeof *n.v);
    CARA_ASSERT(n.v != NULL);
    for (size_t i = 0; i < t->cap; i++)
        if (t->v[i].blob != NULL)
            table_insert_new(&n, t->v[i].id, t->v[i].blob);
    cara_env_free(env, t->v);
    *t = n;
}

/* Puts `b` (a reference the table takes) under id; drops what was there. */
static void table_put(cara_env *env, sim_pool *pool, table *t,
                      const uint8_t id[CARA_CRDT_ID_BYTES], sim_blob *b)
{
    slot *sl = table_find(t, id);
    if (sl != NULL) {
        sim_pool_put(pool, sl->blob);
        sl->blob = b;
        return;
    }
    if (2 * (t->count + 1) > t->cap)
        table_grow(env, t);
    table_insert_new(t, id, b);
}

static void table_del(sim_pool *pool, table *t, const uint8_t id[CARA_CRDT_ID_BYTES])
{
    slot *sl = table_find(t, id);
    if (sl == NULL)
        return;
    sim_pool_put(pool, sl->blob);
    size_t i = (size_t)(sl - t->v);
    t->v[i].blob = NULL;
    t->count--;
    /* Backward shift: move later entries of the run into the hole when
     * their home allows it, so lookups never stop early. */
    for (size_t j = (i + 1) & (t->cap - 1); t->v[j].blob != NULL; j = (j + 1) & (t->cap - 1)) {
        size_t h = home(t, t->v[j].id);
        bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
        if (movable) {
            t->v[i] = t->v[j];
            t->v[j].blob = NULL;
            i = j;
        }
    }
}

static void table_clear(sim_pool *pool, table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->v[i].blob != NULL) {
            sim_pool_put(pool, t->v[i].blob);
            t->v[i].blob = NULL;
        }
    t->count = 0;
}

/* ---- The mirror of a node's memory ------------------------------------------------------ */

struct sim_mirror {
    cara_env *env;
    sim_pool *pool;
    table records;
    uint64_t fp;
};

static uint64_t mix(const uint8_t id[CARA_CRDT_ID_BYTES], const sim_blob *b)
{
    uint64_t x;
    memcpy(&x, id, sizeof x);
    x ^= b->hash * 0x9e3779b97f4a7c15ull;
    /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int sim_mirror_new(sim_mirror **out, cara_env *env, sim_pool *pool)
{
    sim_mirror *m = cara_env_calloc(env, 1, sizeof *m);
    if (m == NULL)
        return CARA_ENOMEM;
    m->env = env;
    m->pool = pool;
    *out = m;
    return 0;
}

void sim_mirror_free(sim_mirror *m)
{
    if (m == NULL)
        return;
    table_clear(m->pool, &m->records);
    cara_env_free(m->env, m->records.v);
    cara_env_free(m->env, m);
}

static void mirror_put(sim_mirror *m, const uint8_t id[CARA_CRDT_ID_BYTES], const uint8_t *b,
                       size_t len)
{
    slot *old = table_find(&m->records, id);
    if (old != NULL)
        m->fp -= mix(id, old->blob);
    sim_blob *nb = sim_pool_get(m->pool, b, len);
    m->fp += mix(id, nb);
    table_put(m->env, m->pool, &m->records, id, nb);
}

void sim_mirror_change(sim_mirror *m, const cara_crdt_change *c)
{
    if (c->type == CARA_CRDT_CHANGE_PUT) {
        mirror_put(m, c->id, c->bytes, c->len);
    } else if (c->type == CARA_CRDT_CHANGE_DEL) {
        slot *old = table_find(&m->records, c->id);
        if (old != NULL) {
            m->fp -= mix(c->id, old->blob);
            table_del(m->pool, &m->records, c->id);
        }
    }
}

static int mirror_one(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t len)
{
    uint8_t id[CARA_CRDT_ID_BYTES];
    cara_crdt_record_id(r, id);
    mirror_put(ctx, id, b, len);
    return 0;
}

void sim_mirror_reload(sim_mirror *m, const cara_crdt *crdt)
{
    table_clear(m->pool, &m->records);
    m->fp = 0;
    (void)cara_crdt_foreach(crdt, mirror_one, m);
}

uint64_t sim_mirror_fp(const sim_mirror *m) { return m->fp; }

size_t sim_mirror_bytes(const sim_mirror *m)
{
    return sizeof *m + m->records.cap * sizeof(slot);
}

/* ---- The store ---------------------------------------------------------------- */

enum { OP_PUT = 1, OP_DEL, OP_FLOOR_PUT, OP_FLOOR_DEL, OP_CLEAR };

typedef struct op {
    uint8_t type;
    uint8_t id[CARA_CRDT_ID_BYTES];
    sim_blob *blob; /* PUT, FLOOR_PUT: a reference */
} op;

struct sim_store {
    cara_env *env;
    sim_pool *pool;
    sim_store_cfg cfg;
    cara_rng rng; /* bit rot only: never the node's own generator */
    table records, floors;
    op *pending;
    size_t pending_count, pending_cap;
};

int sim_store_new(sim_store **out, cara_env *env, sim_pool *pool, const sim_store_cfg *cfg,
                  uint64_t seed)
{
    sim_store *st = cara_env_calloc(env, 1, sizeof *st);
    if (st == NULL)
        return CARA_ENOMEM;
    st->env = env;
    st->pool = pool;
    st->cfg = *cfg;
    cara_rng_seed(&st->rng, seed);
    *out = st;
    return 0;
}

static void pending_drop(sim_store *st)
{
    for (size_t i = 0; i < st->pending_count; i++)
        sim_pool_put(st->pool, st->pending[i].blob);
    st->pending_count = 0;
}

void sim_store_free(sim_store *st)
{
    if (st == NULL)
        return;
    pending_drop(st);
    table_clear(st->pool, &st->records);
    table_clear(st->pool, &st->floors);
    cara_env_free(st->env, st->records.v);
    cara_env_free(st->env, st->floors.v);
    cara_env_free(st->env, st->pending);
    cara_env_free(st->env, st);
}

static void pending_add(sim_store *st, uint8_t type, const uint8_t *id, const uint8_t *b,
                        size_t len)
{
    st->pending = sim_grow(st->env, st->pending, st->pending_count, &st->pending_cap,
                           sizeof *st->pending, 64);
    op *o = &st->pending[st->pending_count++];
    o->type = type;
    if (id != NULL)
        memcpy(o->id, id, CARA_CRDT_ID_BYTES);
    o->blob = b != NULL ? sim_pool_get(st->pool, b, len) : NULL;
}

typedef struct reset_ctx {
    sim_store *st;
    uint8_t type;
} reset_ctx;

static int reset_one(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t len)
{
    reset_ctx *c = ctx;
    uint8_t id[CARA_CRDT_ID_BYTES];
    cara_crdt_record_id(r, id);
    pending_add(c->st, c->type, id, b, len);
    return 0;
}

int sim_store_write(sim_store *st, cara_crdt *crdt, const cara_crdt_change *c)
{
    switch (c->type) {
    case CARA_CRDT_CHANGE_PUT: pending_add(st, OP_PUT, c->id, c->bytes, c->len); break;
    case CARA_CRDT_CHANGE_DEL: pending_add(st, OP_DEL, c->id, NULL, 0); break;
    case CARA_CRDT_CHANGE_FLOOR_PUT: pending_add(st, OP_FLOOR_PUT, c->id, c->bytes, c->len); break;
    case CARA_CRDT_CHANGE_FLOOR_DEL: pending_add(st, OP_FLOOR_DEL, c->id, NULL, 0); break;
    case CARA_CRDT_CHANGE_RESET: {
        /* The feed overflowed: rewrite everything from the state, as the
         * agent's store does. */
        pending_add(st, OP_CLEAR, NULL, NULL, 0);
        reset_ctx rc = {st, OP_PUT};
        (void)cara_crdt_foreach(crdt, reset_one, &rc);
        rc.type = OP_FLOOR_PUT;
        (void)cara_crdt_floor_foreach(crdt, reset_one, &rc);
        break;
    }
    default: return CARA_EINVAL;
    }
    return 0;
}

/* A write that lands with one bit flipped: a private copy. */
static sim_blob *rot(sim_store *st, sim_blob *b)
{
    uint8_t *copy = cara_env_alloc(st->env, b->len);
    CARA_ASSERT(copy != NULL);
    memcpy(copy, b->bytes, b->len);
    uint64_t bit = cara_rng_below(&st->rng, (uint64_t)b->len * 8);
    copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    sim_blob *r = sim_pool_get(st->pool, copy, b->len);
    cara_env_free(st->env, copy);
    sim_pool_put(st->pool, b);
    return r;
}

size_t sim_store_sync(sim_store *st, void (*stored)(void *ctx, const uint8_t *b, size_t len),
                      void *ctx)
{
    size_t written = 0;
    for (size_t i = 0; i < st->pending_count; i++) {
        op *o = &st->pending[i];
        switch (o->type) {
        case OP_PUT:
            if (st->cfg.corrupt_ppm > 0 && cara_rng_below(&st->rng, SIM_PPM) < st->cfg.corrupt_ppm)
                o->blob = rot(st, o->blob);
            if (stored != NULL)
                stored(ctx, o->blob->bytes, o->blob->len);
            table_put(st->env, st->pool, &st->records, o->id, o->blob);
            written++;
            break;
        case OP_DEL: table_del(st->pool, &st->records, o->id); break;
        case OP_FLOOR_PUT: table_put(st->env, st->pool, &st->floors, o->id, o->blob); break;
        case OP_FLOOR_DEL: table_del(st->pool, &st->floors, o->id); break;
        case OP_CLEAR:
            table_clear(st->pool, &st->records);
            table_clear(st->pool, &st->floors);
            break;
        }
        o->blob = NULL; /* the table took the reference */
    }
    st->pending_count = 0;
    return written;
}

bool sim_store_dirty(const sim_store *st) { return st->pending_count > 0; }

size_t sim_store_crash(sim_store *st)
{
    size_t lost = st->pending_count;
    pending_drop(st);
    return lost;
}

static bool operator_kind(int kind)
{
    return kind == CARA_CRDT_ADMISSION || kind == CARA_CRDT_SETTINGS || kind == CARA_CRDT_JOIN;
}

size_t sim_store_load(const sim_store *st, cara_crdt *crdt, int64_t now_wall_ms)
{
    size_t refused = 0;
    for (size_t i = 0; i < st->floors.cap; i++)
        if (st->floors.v[i].blob != NULL &&
            cara_crdt_floor_restore(crdt, st->floors.v[i].blob->bytes, st->floors.v[i].blob->len,
                                    now_wall_ms) != 0)
            refused++;
    /* Admissions, settings and joins first: node records depend on them
     * (src/agent/store.c loads in the same order). */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < st->records.cap; i++) {
            const sim_blob *b = st->records.v[i].blob;
            cara_crdt_record r;
            if (b == NULL)
                continue;
            bool first = cara_crdt_record_decode(b->bytes, b->len, &r) == 0 && operator_kind(r.kind);
            if (first != (pass == 0))
                continue;
            if (cara_crdt_apply_local(crdt, b->bytes, b->len, now_wall_ms, NULL) != 0)
                refused++;
        }
    return refused;
}

const uint8_t *sim_store_get(const sim_store *st, const uint8_t id[CARA_CRDT_ID_BYTES],
                             size_t *len)
{
    slot *sl = table_find(&st->records, id);
    if (sl == NULL)
        return NULL;
    *len = sl->blob->len;
    return sl->blob->bytes;
}

int sim_store_foreach(const sim_store *st, int (*fn)(void *ctx, const uint8_t *b, size_t len),
                      void *ctx)
{
    for (size_t i = 0; i < st->records.cap; i++)
        if (st->records.v[i].blob != NULL) {
            int rc = fn(ctx, st->records.v[i].blob->bytes, st->records.v[i].blob->len);
            if (rc != 0)
                return rc;
        }
    return 0;
}

size_t sim_store_bytes(const sim_store *st)
{
    return sizeof *st + (st->records.cap + st->floors.cap) * sizeof(slot) +
           st->pending_cap * sizeof(op);
}
