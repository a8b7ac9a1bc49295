/*
 * The replicated state stays bounded and can be mirrored (issue 7):
 *
 * - nothing fills up: endless apply/delete churn over many more names
 *   than records_max and floors_max keeps both counts under their caps,
 *   never refuses an apply as full, and counts what it evicts or expires;
 *   status records nobody specified are collected too;
 * - the change feed is exact: draining cara_crdt_poll_change into a map
 *   after any history reproduces the state, and a replica rebuilt from the
 *   map has the same hash and floors, also after the log overflowed into
 *   a RESET.
 *
 * Property tests draw from cara_test_seed(); the harness prints the seed
 * with any failure.
 */
#include "crdt_util.h"

#define NOW_MS 1700000000000LL
#define HLC(ms, c) (((uint64_t)(ms) << CARA_CRDT_HLC_COUNTER_BITS) | (uint64_t)(c))
#define HORIZON_MS 1000

/* Signs a record and applies it; it must change the state. */
static void put_new(cara_crdt *s, int kind, const char *key, uint64_t gen, uint64_t hlc,
                    const tkey *author, int64_t now_wall_ms)
{
    cara_buf b;
    trec(&b, kind, key, gen, hlc, author, kind == CARA_CRDT_TOMBSTONE ? NULL : "value",
         kind == CARA_CRDT_TOMBSTONE ? 0 : 5);
    int result = 0;
    int rc = cara_crdt_apply(s, b.data, b.len, now_wall_ms, &result);
    if (rc != 0)
        cara_test_fail(__FILE__, __LINE__, "kind %d %s gen %llu refused: %s", kind, key,
                       (unsigned long long)gen, cara_errname(rc));
    CHECK_INT(result, ==, CARA_CRDT_APPLIED);
    cara_buf_free(&b);
}

static void admit(cara_crdt *s, const tkey *op, const char *name, const tkey *node)
{
    cara_buf b;
    tadmission(&b, name, 1, HLC(NOW_MS - 1, 0), op, node, true);
    CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
    cara_buf_free(&b);
}

/* ---- 4. Nothing fills up -------------------------------------------------- */

#define CHURN_RECORDS_MAX 64
#define CHURN_FLOORS_MAX 32
#define CHURN_NAMES (20 * CHURN_RECORDS_MAX)
#define CHURN_STEP_MS 100
#define CHURN_FLOOR_HORIZON_MS 20000

/* Each of 1,280 projects (20 x records_max) is specified, run by a node,
 * placed by a scheduler and deleted, 100 ms apart, with collection after
 * each: the tombstone and both per-node records go when the tombstone is
 * collected, floors beyond floors_max go oldest first, and all of them
 * go after the floor horizon. */
TEST(crdt_apply_delete_churn_stays_within_record_and_floor_caps)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, runner, sched;
    tkey_make(&op, &rng);
    tkey_make(&runner, &rng);
    tkey_make(&sched, &rng);
    cara_crdt_cfg cfg = {.records_max = CHURN_RECORDS_MAX, .floors_max = CHURN_FLOORS_MAX,
                         .tombstone_horizon_ms = HORIZON_MS,
                         .floor_horizon_ms = CHURN_FLOOR_HORIZON_MS};
    cara_crdt *s = treplica_cfg(&op, &cfg);
    admit(s, &op, "runner", &runner);
    admit(s, &op, "sched", &sched);
    int64_t now = NOW_MS;
    for (int i = 0; i < CHURN_NAMES; i++, now += CHURN_STEP_MS) {
        char name[32];
        snprintf(name, sizeof name, "proj-%d", i);
        put_new(s, CARA_CRDT_PROJECT, name, 1, HLC(now, 0), &op, now);
        put_new(s, CARA_CRDT_STATUS, name, 1, HLC(now, 1), &runner, now);
        put_new(s, CARA_CRDT_PLACEMENT, name, 1, HLC(now, 2), &sched, now);
        put_new(s, CARA_CRDT_TOMBSTONE, name, 2, HLC(now, 3), &op, now);
        cara_crdt_gc(s, now);
        cara_crdt_stats st = tstats(s);
        CHECK_INT(st.records_count, <=, CHURN_RECORDS_MAX);
        CHECK_INT(st.floors_count, <=, CHURN_FLOORS_MAX);
    }
    /* Past the tombstone horizon every delete is a floor; the records left
     * are the two admissions. */
    now += HORIZON_MS + 1;
    cara_crdt_gc(s, now);
    cara_crdt_stats st = tstats(s);
    CHECK_INT(st.rejected[CARA_CRDT_R_FULL], ==, 0);
    CHECK_INT(st.collected, ==, CHURN_NAMES);
    CHECK_INT(st.records_count, ==, 2);
    CHECK_INT(st.floors_count, ==, CHURN_FLOORS_MAX);
    CHECK_INT(st.floors_evicted, ==, CHURN_NAMES - CHURN_FLOORS_MAX);
    CHECK_INT(st.floors_expired, ==, 0);
    cara_crdt_record r;
    const char *last = "proj-1279";
    CHECK_RC(cara_crdt_get_by(s, CARA_CRDT_STATUS, (const uint8_t *)last, strlen(last),
                              runner.pk, &r),
             CARA_ENOENT);
    uint64_t floor = 0;
    CHECK(cara_crdt_floor_get(s, (const uint8_t *)last, strlen(last), &floor) && floor == 2);
    CHECK(!cara_crdt_floor_get(s, (const uint8_t *)"proj-0", 6, &floor)); /* evicted */
    /* Past the floor horizon the remaining floors expire. */
    now += CHURN_FLOOR_HORIZON_MS + 1;
    cara_crdt_gc(s, now);
    st = tstats(s);
    CHECK_INT(st.floors_count, ==, 0);
    CHECK_INT(st.floors_expired, ==, CHURN_FLOORS_MAX);
    CHECK_INT(st.floors_evicted, ==, CHURN_NAMES - CHURN_FLOORS_MAX);
    cara_crdt_free(s);
}

/* A node's status and placement for a project that has no spec and no
 * floor are collected once older than the tombstone horizon; those of a
 * specified project are not. */
TEST(crdt_gc_collects_status_of_an_unknown_project_after_the_horizon)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    cara_crdt_cfg cfg = {.tombstone_horizon_ms = HORIZON_MS, .floor_horizon_ms = 10 * HORIZON_MS};
    cara_crdt *s = treplica_cfg(&op, &cfg);
    admit(s, &op, "n1", &node);
    put_new(s, CARA_CRDT_PROJECT, "real", 1, HLC(NOW_MS, 0), &op, NOW_MS);
    put_new(s, CARA_CRDT_STATUS, "real", 1, HLC(NOW_MS, 1), &node, NOW_MS);
    put_new(s, CARA_CRDT_STATUS, "ghost", 1, HLC(NOW_MS, 2), &node, NOW_MS);
    put_new(s, CARA_CRDT_PLACEMENT, "ghost", 1, HLC(NOW_MS, 3), &node, NOW_MS);
    CHECK_INT(cara_crdt_gc(s, NOW_MS + HORIZON_MS / 2), ==, 0);
    CHECK_INT(tstats(s).records_count, ==, 5);
    CHECK_INT(cara_crdt_gc(s, NOW_MS + 2 * HORIZON_MS), ==, 2);
    cara_crdt_stats st = tstats(s);
    CHECK_INT(st.records_count, ==, 3);
    CHECK_INT(st.leftovers_collected, ==, 2);
    CHECK_INT(st.floors_count, ==, 0);
    cara_crdt_record r;
    CHECK_RC(cara_crdt_get_by(s, CARA_CRDT_STATUS, (const uint8_t *)"ghost", 5, node.pk, &r),
             CARA_ENOENT);
    CHECK_RC(cara_crdt_get_by(s, CARA_CRDT_PLACEMENT, (const uint8_t *)"ghost", 5, node.pk, &r),
             CARA_ENOENT);
    CHECK_OK(cara_crdt_get_by(s, CARA_CRDT_STATUS, (const uint8_t *)"real", 4, node.pk, &r));
    cara_crdt_free(s);
}

/* ---- 5. Change feed -------------------------------------------------------- */

/* The driver's side of the feed: rows keyed by slot id, one table for
 * records and one for floors (a floor and a re-created spec share an id).
 * Open addressing with deletion marks; grows at half full. */
typedef struct row {
    uint8_t id[CARA_CRDT_ID_BYTES];
    uint8_t *bytes; /* owned */
    size_t len;
    uint8_t state; /* 0 empty, 1 used, 2 deleted */
} row;

typedef struct table {
    row *rows;
    size_t cap, used, marks;
} table;

static void table_init(table *t, size_t cap)
{
    t->rows = calloc(cap, sizeof *t->rows);
    CHECK(t->rows != NULL);
    t->cap = cap;
    t->used = t->marks = 0;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->rows[i].bytes);
    free(t->rows);
    t->rows = NULL;
}

static size_t id_hash(const uint8_t id[CARA_CRDT_ID_BYTES])
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    return (size_t)(h * 0x9e3779b97f4a7c15ULL >> 17);
}

static row *table_find(const table *t, const uint8_t id[CARA_CRDT_ID_BYTES])
{
    for (size_t i = id_hash(id) & (t->cap - 1), k = 0; k < t->cap; i = (i + 1) & (t->cap - 1), k++) {
        row *r = &t->rows[i];
        if (r->state == 0)
            return NULL;
        if (r->state == 1 && memcmp(r->id, id, CARA_CRDT_ID_BYTES) == 0)
            return r;
    }
    return NULL;
}

static void table_put(table *t, const uint8_t id[CARA_CRDT_ID_BYTES], const uint8_t *bytes,
                      size_t len);

static void table_grow(table *t)
{
    table old = *t;
    table_init(t, old.cap * 2);
    for (size_t i = 0; i < old.cap; i++)
        if (old.rows[i].state == 1)
            table_put(t, old.rows[i].id, old.rows[i].bytes, old.rows[i].len);
    table_free(&old);
}

static void table_put(table *t, const uint8_t id[CARA_CRDT_ID_BYTES], const uint8_t *bytes,
                      size_t len)
{
    row *r = table_find(t, id);
    if (r == NULL) {
        if (2 * (t->used + t->marks + 1) > t->cap)
            table_grow(t);
        size_t i = id_hash(id) & (t->cap - 1);
        while (t->rows[i].state == 1)
            i = (i + 1) & (t->cap - 1);
        r = &t->rows[i];
        if (r->state == 2)
            t->marks--;
        r->state = 1;
        memcpy(r->id, id, CARA_CRDT_ID_BYTES);
        t->used++;
    }
    free(r->bytes);
    r->bytes = malloc(len);
    CHECK(r->bytes != NULL);
    memcpy(r->bytes, bytes, len);
    r->len = len;
}

static bool table_del(table *t, const uint8_t id[CARA_CRDT_ID_BYTES])
{
    row *r = table_find(t, id);
    if (r == NULL)
        return false;
    free(r->bytes);
    r->bytes = NULL;
    r->state = 2;
    t->used--;
    t->marks++;
    return true;
}

typedef struct mirror {
    table records, floors;
    size_t resets;
} mirror;

static void mirror_init(mirror *m)
{
    table_init(&m->records, 64);
    table_init(&m->floors, 64);
    m->resets = 0;
}

static void mirror_free(mirror *m)
{
    table_free(&m->records);
    table_free(&m->floors);
}

static void check_id_names(const uint8_t id[CARA_CRDT_ID_BYTES], const uint8_t *bytes, size_t len)
{
    cara_crdt_record r;
    CHECK_OK(cara_crdt_record_decode(bytes, len, &r));
    uint8_t want[CARA_CRDT_ID_BYTES];
    cara_crdt_record_id(&r, want);
    CHECK_MEM(id, CARA_CRDT_ID_BYTES, want, CARA_CRDT_ID_BYTES);
}

static int reload_record(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    uint8_t id[CARA_CRDT_ID_BYTES];
    cara_crdt_record_id(r, id);
    table_put(&((mirror *)ctx)->records, id, bytes, len);
    return 0;
}

static int reload_floor(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    uint8_t id[CARA_CRDT_ID_BYTES];
    cara_crdt_record_id(r, id);
    table_put(&((mirror *)ctx)->floors, id, bytes, len);
    return 0;
}

/* Takes every pending change. A DEL may name a row the mirror never got:
 * a PUT whose record is gone again by the time of the poll is skipped
 * (its bytes no longer exist), and a store deletes nothing then. The
 * comparison with the state after each drain is what checks the feed. */
static void mirror_drain(mirror *m, cara_crdt *s)
{
    cara_crdt_change c;
    while (cara_crdt_poll_change(s, &c) == 1) {
        switch (c.type) {
        case CARA_CRDT_CHANGE_PUT:
            check_id_names(c.id, c.bytes, c.len);
            table_put(&m->records, c.id, c.bytes, c.len);
            break;
        case CARA_CRDT_CHANGE_FLOOR_PUT:
            check_id_names(c.id, c.bytes, c.len);
            table_put(&m->floors, c.id, c.bytes, c.len);
            break;
        case CARA_CRDT_CHANGE_DEL:
            (void)table_del(&m->records, c.id);
            break;
        case CARA_CRDT_CHANGE_FLOOR_DEL:
            (void)table_del(&m->floors, c.id);
            break;
        case CARA_CRDT_CHANGE_RESET:
            table_free(&m->records);
            table_free(&m->floors);
            table_init(&m->records, 64);
            table_init(&m->floors, 64);
            CHECK_OK(cara_crdt_foreach(s, reload_record, m));
            CHECK_OK(cara_crdt_floor_foreach(s, reload_floor, m));
            m->resets++;
            break;
        default:
            cara_test_fail(__FILE__, __LINE__, "unknown change type %d", c.type);
        }
    }
}

typedef struct match_ctx {
    const table *t;
    size_t seen;
} match_ctx;

static int match_row(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    match_ctx *mc = ctx;
    uint8_t id[CARA_CRDT_ID_BYTES];
    cara_crdt_record_id(r, id);
    const row *w = table_find(mc->t, id);
    if (w == NULL)
        cara_test_fail(__FILE__, __LINE__, "the mirror lacks a record of kind %d", r->kind);
    CHECK_MEM(w->bytes, w->len, bytes, len);
    mc->seen++;
    return 0;
}

/* The mirror holds exactly the state's records and floors, byte for byte. */
static void mirror_check(const mirror *m, const cara_crdt *s)
{
    match_ctx recs = {.t = &m->records}, floors = {.t = &m->floors};
    CHECK_OK(cara_crdt_foreach(s, match_row, &recs));
    CHECK_OK(cara_crdt_floor_foreach(s, match_row, &floors));
    cara_crdt_stats st = tstats(s);
    CHECK_INT(recs.seen, ==, st.records_count);
    CHECK_INT(m->records.used, ==, st.records_count);
    CHECK_INT(floors.seen, ==, st.floors_count);
    CHECK_INT(m->floors.used, ==, st.floors_count);
}

/* A replica rebuilt from the mirror, as the store does on start: floors
 * restored, then every record in one batch. */
static cara_crdt *mirror_replay(const mirror *m, const tkey *op, const cara_crdt_cfg *cfg,
                                int64_t now_wall_ms)
{
    cara_crdt *s = treplica_cfg(op, cfg);
    for (size_t i = 0; i < m->floors.cap; i++) {
        const row *r = &m->floors.rows[i];
        if (r->state == 1)
            CHECK_OK(cara_crdt_floor_restore(s, r->bytes, r->len, now_wall_ms));
    }
    cara_buf batch;
    cara_buf_init(&batch, cara_test_env(), 256 * 1024 * 1024);
    for (size_t i = 0; i < m->records.cap; i++) {
        const row *r = &m->records.rows[i];
        if (r->state == 1)
            CHECK_OK(cara_buf_append(&batch, r->bytes, r->len));
    }
    size_t applied = 0;
    CHECK_OK(cara_crdt_apply_batch(s, batch.data, batch.len, now_wall_ms, &applied));
    CHECK_INT(applied, ==, m->records.used);
    cara_buf_free(&batch);
    return s;
}

#define FEED_NODES 3
#define FEED_NAMES 5
static const char *const FEED_NAMES_LIST[FEED_NAMES] = {"web", "db", "cache", "queue", "blog"};

typedef struct feed_world {
    tkey op, nodes[FEED_NODES];
    cara_crdt_cfg cfg;
    cara_crdt *s;
    int64_t now_ms;
    unsigned counter;
    uint64_t adm_gen[FEED_NODES];
} feed_world;

static void feed_apply(feed_world *w, int kind, const char *key, uint64_t gen, uint64_t hlc,
                       const tkey *author, cara_rng *rng)
{
    uint8_t value[12];
    cara_rng_bytes(rng, value, sizeof value);
    cara_buf b;
    bool empty = kind == CARA_CRDT_TOMBSTONE;
    trec(&b, kind, key, gen, hlc, author, empty ? NULL : value, empty ? 0 : sizeof value);
    int rc = cara_crdt_apply(w->s, b.data, b.len, w->now_ms, NULL);
    CHECK(rc != CARA_ENOMEM && rc != CARA_EPARSE && rc != CARA_EINVAL && rc != CARA_ENONCANON);
    cara_buf_free(&b);
}

/* One random step: operator specs and deletes (some stamped long ago),
 * node records, admissions and revocations, time passing with collection. */
static void feed_step(feed_world *w, cara_rng *rng)
{
    const char *name = FEED_NAMES_LIST[cara_rng_below(rng, FEED_NAMES)];
    int k = (int)cara_rng_below(rng, FEED_NODES);
    uint64_t gen = 1 + cara_rng_below(rng, 6);
    int64_t age = cara_rng_below(rng, 4) == 0 ? 3 * HORIZON_MS : 0;
    uint64_t hlc = HLC(w->now_ms - age, ++w->counter & 0xffff);
    switch (cara_rng_below(rng, 10)) {
    case 0:
    case 1:
        feed_apply(w, CARA_CRDT_PROJECT, name, gen, hlc, &w->op, rng);
        break;
    case 2:
        feed_apply(w, CARA_CRDT_TOMBSTONE, name, gen, hlc, &w->op, rng);
        break;
    case 3:
    case 4: {
        int kind = cara_rng_below(rng, 2) ? CARA_CRDT_STATUS : CARA_CRDT_PLACEMENT;
        feed_apply(w, kind, name, gen, hlc, &w->nodes[k], rng);
        break;
    }
    case 5: {
        char node[16];
        snprintf(node, sizeof node, "n%d", k);
        feed_apply(w, CARA_CRDT_NODE, node, gen, hlc, &w->nodes[k], rng);
        break;
    }
    case 6: {
        char node[16];
        snprintf(node, sizeof node, "n%d", k);
        cara_buf b;
        tadmission(&b, node, ++w->adm_gen[k], hlc, &w->op, &w->nodes[k],
                   cara_rng_below(rng, 3) != 0);
        CHECK_OK(cara_crdt_apply(w->s, b.data, b.len, w->now_ms, NULL));
        cara_buf_free(&b);
        break;
    }
    default:
        w->now_ms += (int64_t)cara_rng_below(rng, 2 * HORIZON_MS);
        cara_crdt_gc(w->s, w->now_ms);
        break;
    }
}

/* Runs one history and returns the final stats of its replica. */
static cara_crdt_stats feed_history(feed_world *w, cara_rng *rng)
{
    w->s = treplica_cfg(&w->op, &w->cfg);
    w->now_ms = NOW_MS;
    memset(w->adm_gen, 0, sizeof w->adm_gen);
    mirror m;
    mirror_init(&m);
    int steps = 30 + (int)cara_rng_below(rng, 150);
    for (int i = 0; i < steps; i++) {
        feed_step(w, rng);
        if (cara_rng_below(rng, 5) == 0) {
            mirror_drain(&m, w->s);
            mirror_check(&m, w->s);
        }
    }
    mirror_drain(&m, w->s);
    mirror_check(&m, w->s);
    cara_crdt *copy = mirror_replay(&m, &w->op, &w->cfg, w->now_ms);
    uint8_t ha[32], hb[32];
    cara_crdt_state_hash(w->s, ha);
    cara_crdt_state_hash(copy, hb);
    CHECK_MEM(ha, 32, hb, 32);
    cara_crdt_stats st = tstats(w->s);
    CHECK_INT(tstats(copy).floors_count, ==, st.floors_count);
    cara_crdt_free(copy);
    cara_crdt_free(w->s);
    mirror_free(&m);
    return st;
}

/* After any history of applies, deletes stamped before the horizon,
 * collections, evictions, expiries, admissions and revocations, a mirror
 * fed only by the change feed equals the state, and a replica rebuilt
 * from it has the same hash and floors. */
TEST(crdt_prop_change_feed_mirror_rebuilds_the_same_state)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    feed_world w = {.cfg = {.tombstone_horizon_ms = HORIZON_MS, .floor_horizon_ms = 6 * HORIZON_MS,
                            .floors_max = 3}};
    tkey_make(&w.op, &rng);
    for (int k = 0; k < FEED_NODES; k++)
        tkey_make(&w.nodes[k], &rng);
    /* The histories must have exercised every way the core removes
     * something by itself, or the test proves less than it says. */
    uint64_t collected = 0, evicted = 0, expired = 0, purged = 0;
    for (int h = 0; h < 200; h++) {
        cara_crdt_stats st = feed_history(&w, &rng);
        collected += st.collected;
        evicted += st.floors_evicted;
        expired += st.floors_expired;
        purged += st.purged;
    }
    CHECK(collected > 0 && evicted > 0 && expired > 0 && purged > 0);
}

/* More changes than CARA_CRDT_CHANGES_MAX between two polls: the feed
 * says RESET, and a mirror rewritten from foreach / floor_foreach, plus
 * what follows, still equals the state. Tombstones in waves of 10,000,
 * each wave collected into floors: three changes per delete. */
TEST(crdt_change_feed_overflow_resets_and_the_mirror_still_matches)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt_cfg cfg = {.tombstone_horizon_ms = HORIZON_MS};
    cara_crdt *s = treplica_cfg(&op, &cfg);
    mirror m;
    mirror_init(&m);
    int64_t now = NOW_MS;
    enum { WAVE = 10000, WAVES = 8 };
    _Static_assert(2 * WAVE * WAVES > CARA_CRDT_CHANGES_MAX, "enough changes to overflow");
    cara_buf batch;
    cara_buf_init(&batch, cara_test_env(), (size_t)WAVE * 256);
    for (int wave = 0; wave < WAVES; wave++) {
        cara_buf_reset(&batch);
        for (int i = 0; i < WAVE; i++) {
            char name[32];
            snprintf(name, sizeof name, "gone-%d-%d", wave, i);
            cara_crdt_record r = {.kind = CARA_CRDT_TOMBSTONE, .key = (const uint8_t *)name,
                                  .key_bytes = strlen(name), .generation = 1,
                                  .hlc = HLC(now, i & 0xffff), .author = op.pk};
            CHECK_OK(cara_crdt_record_sign(&r, op.sk, &batch));
        }
        size_t applied = 0;
        CHECK_OK(cara_crdt_apply_batch(s, batch.data, batch.len, now, &applied));
        CHECK_INT(applied, ==, WAVE);
        now += 2 * HORIZON_MS;
        CHECK_INT(cara_crdt_gc(s, now), >=, WAVE);
    }
    /* A change after the overflow, then the drain. */
    cara_buf last;
    trec(&last, CARA_CRDT_PROJECT, "survivor", 1, HLC(now, 0), &op, "v", 1);
    CHECK_OK(cara_crdt_apply(s, last.data, last.len, now, NULL));
    mirror_drain(&m, s);
    CHECK_INT(m.resets, >=, 1);
    mirror_check(&m, s);
    CHECK_INT(m.floors.used, ==, WAVE * WAVES);
    CHECK_INT(m.records.used, ==, 1);
    cara_buf_free(&last);
    cara_buf_free(&batch);
    mirror_free(&m);
    cara_crdt_free(s);
}
