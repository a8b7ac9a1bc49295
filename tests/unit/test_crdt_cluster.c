/*
 * The replicated state at cluster scale (issue 7). Each test names one
 * promise of src/crdt/crdt.h and tries to break it:
 *
 * - anti-entropy is budgeted: no reply over the message cap or the room
 *   left, no delta over its room, and repeated exchanges converge however
 *   large the difference, even when messages and deltas are lost;
 * - deletes stay deleted: a collected tombstone's floor travels to a
 *   replica that missed the delete, across random partitions;
 * - one writer per record: a hostile node's STATUS or PLACEMENT, however
 *   high its generation and clock, cannot hide another node's;
 * - records that arrive before their author's admission are held, not
 *   lost; revocations drop a node's records for good; admissions beyond
 *   nodes_max are refused, not dropped.
 *
 * Property tests draw from cara_test_seed(); the harness prints the seed
 * with any failure (CARA_TEST_SEED replays it).
 */
#include <threads.h>

#include "crdt_util.h"

#define NOW_MS 1700000000000LL
#define HLC(ms, c) (((uint64_t)(ms) << CARA_CRDT_HLC_COUNTER_BITS) | (uint64_t)(c))
#define HLC_COUNTER_MAX ((1u << CARA_CRDT_HLC_COUNTER_BITS) - 1)

/* ---- Helpers ------------------------------------------------------------- */

/* Signs one record and appends its envelope to `out`. */
static void sign_into(cara_buf *out, int kind, const char *key, uint64_t gen, uint64_t hlc,
                      const tkey *author, const void *value, size_t value_bytes)
{
    cara_crdt_record r = {.kind = kind, .key = (const uint8_t *)key, .key_bytes = strlen(key),
                          .generation = gen, .hlc = hlc, .author = author->pk,
                          .value = value, .value_bytes = value_bytes};
    CHECK_OK(cara_crdt_record_sign(&r, author->sk, out));
}

static bool same_hash(const cara_crdt *a, const cara_crdt *b)
{
    uint8_t ha[32], hb[32];
    cara_crdt_state_hash(a, ha);
    cara_crdt_state_hash(b, hb);
    return memcmp(ha, hb, sizeof ha) == 0;
}

/* Applies one envelope that must be accepted and change the state. */
static void apply_new(cara_crdt *s, const cara_buf *b, int64_t now_wall_ms)
{
    int result = 0;
    CHECK_OK(cara_crdt_apply(s, b->data, b->len, now_wall_ms, &result));
    CHECK_INT(result, ==, CARA_CRDT_APPLIED);
}

/* Applies one envelope whose refusal is part of the history; only errors
 * that say the test itself built a broken record fail. */
static void apply_any(cara_crdt *s, const cara_buf *b, int64_t now_wall_ms)
{
    int rc = cara_crdt_apply(s, b->data, b->len, now_wall_ms, NULL);
    CHECK(rc != CARA_ENOMEM && rc != CARA_EPARSE && rc != CARA_ENONCANON && rc != CARA_EINVAL);
}

static void shuffle(int *v, int n, cara_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cara_rng_below(rng, (uint64_t)i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- An exchange over a constrained wire --------------------------------- */

/* Bytes already in reply_out and delta_out when sync_recv is called: the
 * budget is the room *left*, not the buffer's size. */
#define PREFILL_BYTES 13
#define PREFILL_BYTE 0xc1 /* never valid msgpack */
/* An exchange descends at most one trie level per message (docs/crdt.md:
 * at most 2*16 + 2 messages); this bound only stops a runaway loop. */
#define EXCHANGE_MSGS_MAX 64

typedef struct wire {
    size_t reply_room;  /* room left in reply_out at each sync_recv */
    size_t delta_room;  /* room left in delta_out */
    unsigned loss_pct;  /* each message and each delta is lost with this chance */
    cara_rng *rng;      /* draws the losses */
    int64_t now_wall_ms;
    /* Measured. */
    size_t reply_bytes_max, delta_bytes_max;
    size_t msgs, lost;
} wire;

static bool wire_loses(wire *w)
{
    if (w->loss_pct == 0 || cara_rng_below(w->rng, 100) >= w->loss_pct)
        return false;
    w->lost++;
    return true;
}

static void prefill(cara_buf *b)
{
    uint8_t junk[PREFILL_BYTES];
    memset(junk, PREFILL_BYTE, sizeof junk);
    cara_buf_reset(b);
    CHECK_OK(cara_buf_append(b, junk, sizeof junk));
}

static void check_prefill_kept(const cara_buf *b)
{
    for (size_t i = 0; i < PREFILL_BYTES; i++)
        CHECK_INT(b->data[i], ==, PREFILL_BYTE);
}

/* One exchange: `a` sends its root, then the two answer each other until
 * one has nothing to say (or a message is lost); each delta is applied by
 * the side that asked. */
static void exchange(cara_crdt *a, cara_crdt *b, wire *w)
{
    cara_env *env = cara_test_env();
    cara_buf msg, reply, delta;
    cara_buf_init(&msg, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&reply, env, PREFILL_BYTES + w->reply_room);
    cara_buf_init(&delta, env, PREFILL_BYTES + w->delta_room);
    CHECK_OK(cara_crdt_sync_start(a, &msg));
    cara_crdt *from = a, *to = b; /* `from` wrote msg; `to` answers it */
    size_t msgs = 0;
    while (msg.len > 0 && !wire_loses(w)) {
        CHECK(++msgs <= EXCHANGE_MSGS_MAX);
        prefill(&reply);
        prefill(&delta);
        CHECK_OK(cara_crdt_sync_recv(to, msg.data, msg.len, &reply, &delta));
        check_prefill_kept(&reply);
        check_prefill_kept(&delta);
        size_t reply_bytes = reply.len - PREFILL_BYTES, delta_bytes = delta.len - PREFILL_BYTES;
        CHECK(reply_bytes <= CARA_CRDT_SYNC_MSG_BYTES_MAX);
        CHECK(reply_bytes <= w->reply_room && delta_bytes <= w->delta_room);
        if (reply_bytes > w->reply_bytes_max)
            w->reply_bytes_max = reply_bytes;
        if (delta_bytes > w->delta_bytes_max)
            w->delta_bytes_max = delta_bytes;
        /* Whole envelopes only: a broken frame would be CARA_EPARSE. */
        if (delta_bytes > 0 && !wire_loses(w))
            CHECK_OK(cara_crdt_apply_batch(from, delta.data + PREFILL_BYTES, delta_bytes,
                                           w->now_wall_ms, NULL));
        cara_buf_reset(&msg);
        CHECK_OK(cara_buf_append(&msg, reply.data + PREFILL_BYTES, reply_bytes));
        cara_crdt *t = from;
        from = to;
        to = t;
    }
    w->msgs += msgs;
    cara_buf_free(&msg);
    cara_buf_free(&reply);
    cara_buf_free(&delta);
}

/* A wire with no budget beyond the protocol's own caps. */
static wire wire_full(int64_t now_wall_ms)
{
    return (wire){.reply_room = CARA_CRDT_SYNC_MSG_BYTES_MAX,
                  .delta_room = CARA_CRDT_DELTA_BYTES_MAX,
                  .now_wall_ms = now_wall_ms};
}

/* Runs exchanges, alternating who starts, until the two hashes agree, and
 * returns how many it took. With `must_progress`, every exchange must
 * change at least one side (no loss: the budget defers, never stalls). */
static int converge(cara_crdt *a, cara_crdt *b, wire *w, int exchanges_max, bool must_progress)
{
    for (int x = 0;; x++) {
        if (same_hash(a, b))
            return x;
        if (x >= exchanges_max)
            cara_test_fail(__FILE__, __LINE__, "not converged after %d exchanges", x);
        uint64_t before = tstats(a).applied + tstats(b).applied;
        if (x % 2 == 0)
            exchange(a, b, w);
        else
            exchange(b, a, w);
        uint64_t after = tstats(a).applied + tstats(b).applied;
        if (must_progress && after == before)
            cara_test_fail(__FILE__, __LINE__, "exchange %d applied nothing", x);
    }
}

/* One side of a pair (below), built on its own thread: signing and
 * verifying are what cost, and the two sides need not wait for each
 * other. Ed25519 signatures are deterministic, so both sides sign the
 * shared records into identical bytes. */
typedef struct side_job {
    const tkey *op;
    cara_crdt *s;
    size_t count, value_bytes;
    bool is_a;
} side_job;

static int build_side(void *arg)
{
    side_job *j = arg;
    cara_buf batch;
    cara_buf_init(&batch, cara_test_env(), j->count * (j->value_bytes + 256));
    uint8_t value[256];
    CHECK(j->value_bytes <= sizeof value);
    for (size_t i = 0; i < j->count; i++) {
        char name[32];
        snprintf(name, sizeof name, "p-%06zu", i);
        memset(value, (int)(i & 0xff), j->value_bytes);
        memcpy(value, &i, j->value_bytes < sizeof i ? j->value_bytes : sizeof i);
        bool third = i >= j->count / 2 && i < j->count * 3 / 4, last = i >= j->count * 3 / 4;
        bool newer = j->is_a ? third : last;
        sign_into(&batch, CARA_CRDT_PROJECT, name, newer ? 2 : 1,
                  HLC(NOW_MS - (newer ? 1000 : 2000), 0), j->op, value, j->value_bytes);
    }
    size_t applied = 0;
    CHECK_OK(cara_crdt_apply_batch(j->s, batch.data, batch.len, NOW_MS, &applied));
    CHECK_INT(applied, ==, j->count);
    cara_buf_free(&batch);
    return 0;
}

/* Two replicas holding the same `count` project names: the first half
 * identical, the third quarter newer on `a`, the last quarter newer on
 * `b`. Half of all records differ, and neither side may simply win. */
static void build_pair(const tkey *op, const cara_crdt_cfg *cfg, size_t count,
                       size_t value_bytes, cara_crdt **a, cara_crdt **b)
{
    *a = treplica_cfg(op, cfg);
    *b = treplica_cfg(op, cfg);
    side_job ja = {.op = op, .s = *a, .count = count, .value_bytes = value_bytes, .is_a = true};
    side_job jb = ja;
    jb.s = *b;
    jb.is_a = false;
    thrd_t t;
    CHECK(thrd_create(&t, build_side, &jb) == thrd_success);
    build_side(&ja);
    CHECK(thrd_join(t, NULL) == thrd_success);
    CHECK_INT(tstats(*a).records_count, ==, count);
    CHECK_INT(tstats(*b).records_count, ==, count);
}

/* After convergence both sides hold the newer version of every record. */
static void check_newest_everywhere(cara_crdt *a, cara_crdt *b, size_t count)
{
    size_t probes[] = {0, count / 2 - 1, count / 2, count * 3 / 4 - 1, count * 3 / 4, count - 1};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "p-%06zu", probes[k]);
        uint64_t want = probes[k] < count / 2 ? 1 : 2;
        cara_crdt_record r;
        CHECK_OK(cara_crdt_get(a, CARA_CRDT_PROJECT, (const uint8_t *)name, strlen(name), &r));
        CHECK_INT(r.generation, ==, want);
        CHECK_OK(cara_crdt_get(b, CARA_CRDT_PROJECT, (const uint8_t *)name, strlen(name), &r));
        CHECK_INT(r.generation, ==, want);
    }
}

/* ---- 1. Budgeted anti-entropy --------------------------------------------- */

/* 30,000 records, 15,000 differing: the listing alone is over the 1 MiB
 * message cap (the old exchange failed with CARA_ETOOBIG). The reply
 * buffer has 4 MiB of room so that the cap, not the room, is what binds;
 * the delta has 1 MiB, a quarter of what must move each way. */
TEST(crdt_sync_budgeted_exchanges_converge_30000_records_half_different)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *a, *b;
    build_pair(&op, NULL, 30000, 100, &a, &b);
    wire w = {.reply_room = 4 * CARA_CRDT_SYNC_MSG_BYTES_MAX, .delta_room = 1024 * 1024,
              .now_wall_ms = NOW_MS};
    int exchanges = converge(a, b, &w, 64, true);
    CHECK(exchanges >= 2); /* the deltas alone need several */
    CHECK(w.reply_bytes_max <= CARA_CRDT_SYNC_MSG_BYTES_MAX);
    CHECK(tstats(a).sync_deferred + tstats(b).sync_deferred > 0);
    check_newest_everywhere(a, b, 30000);
    cara_crdt_free(a);
    cara_crdt_free(b);
}

/* Both replicas exactly at CARA_CRDT_RECORDS_MAX, half of the records
 * differing, with the protocol's own buffer sizes: they converge without
 * a refusal as full. */
TEST(crdt_sync_converges_two_full_replicas_half_different)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *a, *b;
    build_pair(&op, NULL, CARA_CRDT_RECORDS_MAX, 16, &a, &b);
    wire w = wire_full(NOW_MS);
    converge(a, b, &w, 64, true);
    check_newest_everywhere(a, b, CARA_CRDT_RECORDS_MAX);
    CHECK_INT(tstats(a).records_count, ==, CARA_CRDT_RECORDS_MAX);
    CHECK_INT(tstats(b).records_count, ==, CARA_CRDT_RECORDS_MAX);
    CHECK_INT(tstats(a).rejected[CARA_CRDT_R_FULL] + tstats(b).rejected[CARA_CRDT_R_FULL], ==,
              0);
    cara_crdt_free(a);
    cara_crdt_free(b);
}

/* Each message and each delta is lost with a 20 % chance; exchanges keep
 * running and the replicas still converge within a bounded number. */
TEST(crdt_sync_converges_despite_lost_messages_and_deltas)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    for (int h = 0; h < 3; h++) {
        cara_crdt *a, *b;
        size_t count = 2000 + (size_t)cara_rng_below(&rng, 2000);
        build_pair(&op, NULL, count, 16 + (size_t)cara_rng_below(&rng, 200), &a, &b);
        wire w = {.reply_room = 32 * 1024, .delta_room = 32 * 1024, .loss_pct = 20,
                  .rng = &rng, .now_wall_ms = NOW_MS};
        converge(a, b, &w, 600, false);
        CHECK(w.lost > 0);
        check_newest_everywhere(a, b, count);
        cara_crdt_free(a);
        cara_crdt_free(b);
    }
}

/* A 4 KiB reply and a delta with room for exactly one record: every
 * exchange still moves at least one record, until convergence. */
TEST(crdt_sync_small_reply_and_one_record_delta_still_progress)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *a, *b;
    build_pair(&op, NULL, 600, 64, &a, &b);
    cara_buf one;
    cara_buf_init(&one, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    sign_into(&one, CARA_CRDT_PROJECT, "p-000000", 2, HLC(NOW_MS - 1000, 0), &op, "0123456789",
              10);
    size_t record_bytes = one.len - 10 + 64; /* every record here: same shape, 64-byte value */
    cara_buf_free(&one);
    wire w = {.reply_room = 4096, .delta_room = record_bytes, .now_wall_ms = NOW_MS};
    converge(a, b, &w, 4000, true);
    CHECK(w.delta_bytes_max <= record_bytes && w.delta_bytes_max > 0);
    CHECK(tstats(a).sync_deferred + tstats(b).sync_deferred > 0);
    check_newest_everywhere(a, b, 600);
    cara_crdt_free(a);
    cara_crdt_free(b);
}

/* ---- 2. Deletes stay deleted ---------------------------------------------- */

#define HORIZON_MS 1000
#define FLOOR_HORIZON_MS (1000LL * 1000 * 1000)

static const cara_crdt_cfg short_horizon = {.tombstone_horizon_ms = HORIZON_MS,
                                            .floor_horizon_ms = FLOOR_HORIZON_MS};

static bool project_present(const cara_crdt *s, const char *name, uint64_t *gen)
{
    cara_crdt_record r;
    if (cara_crdt_get(s, CARA_CRDT_PROJECT, (const uint8_t *)name, strlen(name), &r) != 0 ||
        r.kind != CARA_CRDT_PROJECT)
        return false;
    if (gen != NULL)
        *gen = r.generation;
    return true;
}

/* A replica that was away when the project was deleted and collected
 * still holds the spec; one exchange with a replica that holds the floor
 * sends it the floor's tombstone, which it turns straight into a floor. */
TEST(crdt_floor_reaches_a_replica_that_missed_the_delete)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    for (int starter = 0; starter < 2; starter++) {
        cara_crdt *a = treplica_cfg(&op, &short_horizon), *b = treplica_cfg(&op, &short_horizon);
        cara_buf spec, tomb, again;
        trec(&spec, CARA_CRDT_PROJECT, "web", 1, HLC(NOW_MS, 0), &op, "v1", 2);
        trec(&tomb, CARA_CRDT_TOMBSTONE, "web", 2, HLC(NOW_MS + 10, 0), &op, NULL, 0);
        apply_new(a, &spec, NOW_MS);
        apply_new(b, &spec, NOW_MS);
        apply_new(a, &tomb, NOW_MS + 10); /* b is partitioned away */
        int64_t later = NOW_MS + 10 + 2 * HORIZON_MS;
        CHECK_INT(cara_crdt_gc(a, later), >=, 1);
        uint64_t floor = 0;
        CHECK(cara_crdt_floor_get(a, (const uint8_t *)"web", 3, &floor) && floor == 2);
        CHECK(project_present(b, "web", NULL));
        /* The floor goes out when b's spec is listed to a, which may take
         * the second exchange when b starts. */
        wire w = wire_full(later);
        if (starter == 0)
            converge(a, b, &w, 2, false);
        else
            converge(b, a, &w, 2, false);
        CHECK(!project_present(b, "web", NULL));
        CHECK(cara_crdt_floor_get(b, (const uint8_t *)"web", 3, &floor) && floor == 2);
        CHECK(same_hash(a, b));
        /* The old spec cannot come back; a re-creation above the floor can. */
        CHECK_RC(cara_crdt_apply(b, spec.data, spec.len, later, NULL), CARA_ECOLLECTED);
        trec(&again, CARA_CRDT_PROJECT, "web", 3, HLC(later, 0), &op, "v3", 2);
        apply_new(a, &again, later);
        converge(a, b, &w, 4, true);
        uint64_t gen = 0;
        CHECK(project_present(b, "web", &gen) && gen == 3);
        cara_buf_free(&spec);
        cara_buf_free(&tomb);
        cara_buf_free(&again);
        cara_crdt_free(a);
        cara_crdt_free(b);
    }
}

#define DEL_REPLICAS_MAX 5
#define DEL_NAMES 4
static const char *const DEL_NAMES_LIST[DEL_NAMES] = {"web", "db", "cache", "queue"};

typedef struct del_world {
    cara_crdt *r[DEL_REPLICAS_MAX];
    int n;
    int group[DEL_REPLICAS_MAX]; /* replicas talk only inside their group */
    int64_t now_ms;
    uint64_t gen[DEL_NAMES];  /* the operator's latest generation per name */
    int last_kind[DEL_NAMES]; /* 0, PROJECT or TOMBSTONE: the latest action */
    unsigned hlc_counter;
} del_world;

/* The operator applies or deletes a project through one replica, always
 * with a higher generation than it ever used for that name. */
static void del_operator_acts(del_world *d, const tkey *op, cara_rng *rng)
{
    int k = (int)cara_rng_below(rng, DEL_NAMES);
    bool del = d->last_kind[k] == CARA_CRDT_PROJECT && cara_rng_below(rng, 2) == 0;
    int kind = del ? CARA_CRDT_TOMBSTONE : CARA_CRDT_PROJECT;
    d->gen[k]++;
    d->last_kind[k] = kind;
    uint8_t value[8];
    cara_rng_bytes(rng, value, sizeof value);
    cara_buf b;
    trec(&b, kind, DEL_NAMES_LIST[k], d->gen[k], HLC(d->now_ms, d->hlc_counter++ & 0xffff), op,
         del ? NULL : value, del ? 0 : sizeof value);
    apply_new(d->r[cara_rng_below(rng, (uint64_t)d->n)], &b, d->now_ms);
    cara_buf_free(&b);
}

static void del_sync_pair(del_world *d, int a, int b)
{
    wire w = wire_full(d->now_ms);
    exchange(d->r[a], d->r[b], &w);
}

static bool del_all_equal(const del_world *d)
{
    for (int i = 1; i < d->n; i++)
        if (!same_hash(d->r[0], d->r[i]))
            return false;
    return true;
}

static void del_check(const del_world *d, int h)
{
    for (int i = 0; i < d->n; i++)
        for (int k = 0; k < DEL_NAMES; k++) {
            uint64_t gen = 0;
            bool present = project_present(d->r[i], DEL_NAMES_LIST[k], &gen);
            if (d->last_kind[k] == CARA_CRDT_TOMBSTONE && present)
                cara_test_fail(__FILE__, __LINE__,
                               "history %d: replica %d still holds deleted %s (gen %llu of %llu)",
                               h, i, DEL_NAMES_LIST[k], (unsigned long long)gen,
                               (unsigned long long)d->gen[k]);
            if (d->last_kind[k] == CARA_CRDT_PROJECT && (!present || gen != d->gen[k]))
                cara_test_fail(__FILE__, __LINE__,
                               "history %d: replica %d lost re-created %s (gen %llu)", h, i,
                               DEL_NAMES_LIST[k], (unsigned long long)d->gen[k]);
        }
}

/* One history: operator actions, partitions, syncs inside partitions and
 * collections at random times; then heal. Returns floors made. */
static uint64_t del_history(const tkey *op, cara_rng *rng, int h)
{
    del_world d = {.n = 3 + (int)cara_rng_below(rng, DEL_REPLICAS_MAX - 2), .now_ms = NOW_MS};
    for (int i = 0; i < d.n; i++)
        d.r[i] = treplica_cfg(op, &short_horizon);
    int steps = 40 + (int)cara_rng_below(rng, 60);
    for (int step = 0; step < steps; step++) {
        switch (cara_rng_below(rng, 6)) {
        case 0:
        case 1:
            del_operator_acts(&d, op, rng);
            break;
        case 2:
            d.now_ms += (int64_t)cara_rng_below(rng, HORIZON_MS);
            break;
        case 3:
            cara_crdt_gc(d.r[cara_rng_below(rng, (uint64_t)d.n)], d.now_ms);
            break;
        case 4: {
            int a = (int)cara_rng_below(rng, (uint64_t)d.n);
            int b = (int)cara_rng_below(rng, (uint64_t)d.n);
            if (a != b && d.group[a] == d.group[b])
                del_sync_pair(&d, a, b);
            break;
        }
        default:
            for (int i = 0; i < d.n; i++)
                d.group[i] = (int)cara_rng_below(rng, 2);
            break;
        }
    }
    /* Heal: everyone talks to everyone, collection runs everywhere at the
     * same time, until nothing changes. */
    for (int round = 0; round < 8 && !(round > 0 && del_all_equal(&d)); round++) {
        for (int i = 0; i < d.n; i++)
            del_sync_pair(&d, i, (i + 1) % d.n);
        for (int i = 0; i < d.n; i++)
            del_sync_pair(&d, (int)cara_rng_below(rng, (uint64_t)d.n), i);
        for (int i = 0; i < d.n; i++)
            cara_crdt_gc(d.r[i], d.now_ms);
    }
    if (!del_all_equal(&d))
        cara_test_fail(__FILE__, __LINE__, "history %d: replicas differ after healing", h);
    del_check(&d, h);
    uint64_t floors = 0;
    for (int i = 0; i < d.n; i++) {
        floors += tstats(d.r[i]).collected;
        cara_crdt_free(d.r[i]);
    }
    return floors;
}

TEST(crdt_prop_deletes_stay_deleted_across_partitions_and_collection)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    uint64_t floors = 0;
    for (int h = 0; h < 150; h++)
        floors += del_history(&op, &rng, h);
    CHECK(floors > 0); /* collection did happen under partitions */
}

/* ---- 3. One writer per record --------------------------------------------- */

typedef struct author_list {
    const uint8_t *authors[8];
    int count;
} author_list;

static int list_author(void *ctx, const cara_crdt_record *r)
{
    author_list *l = ctx;
    CHECK(l->count < 8);
    l->authors[l->count++] = r->author;
    return 0;
}

static bool listed(const author_list *l, const uint8_t *pk)
{
    for (int i = 0; i < l->count; i++)
        if (memcmp(l->authors[i], pk, CARA_CRDT_PK_BYTES) == 0)
            return true;
    return false;
}

static void check_held_by(const cara_crdt *s, int kind, const char *key, const tkey *author,
                          const cara_buf *want)
{
    cara_crdt_record r;
    CHECK_OK(cara_crdt_get_by(s, kind, (const uint8_t *)key, strlen(key), author->pk, &r));
    cara_crdt_record w;
    CHECK_OK(cara_crdt_record_decode(want->data, want->len, &w));
    CHECK_MEM(r.body, r.body_bytes, w.body, w.body_bytes);
}

/* A hostile but admitted node writes P's STATUS and PLACEMENT at the
 * highest generation and the highest clock a replica accepts. The honest
 * node's later records at generation 2 still apply and are what get_by
 * answers for it, on every replica, whatever the delivery order. */
TEST(crdt_hostile_max_generation_status_cannot_hide_another_nodes_status)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, evil, good;
    tkey_make(&op, &rng);
    tkey_make(&evil, &rng);
    tkey_make(&good, &rng);
    enum { ADM_EVIL, ADM_GOOD, SPEC, EVIL_STATUS, EVIL_PLACE, GOOD_STATUS1, GOOD_STATUS2,
           GOOD_PLACE, RECS };
    cara_buf recs[RECS];
    uint64_t hlc_max = HLC(NOW_MS + CARA_CRDT_SKEW_MS_DEFAULT, HLC_COUNTER_MAX);
    tadmission(&recs[ADM_EVIL], "evil", 1, HLC(NOW_MS - 5000, 0), &op, &evil, true);
    tadmission(&recs[ADM_GOOD], "good", 1, HLC(NOW_MS - 5000, 1), &op, &good, true);
    trec(&recs[SPEC], CARA_CRDT_PROJECT, "P", 1, HLC(NOW_MS - 4000, 0), &op, "spec", 4);
    trec(&recs[EVIL_STATUS], CARA_CRDT_STATUS, "P", CARA_GENERATION_MAX, hlc_max, &evil, "x", 1);
    trec(&recs[EVIL_PLACE], CARA_CRDT_PLACEMENT, "P", CARA_GENERATION_MAX, hlc_max, &evil, "x",
         1);
    trec(&recs[GOOD_STATUS1], CARA_CRDT_STATUS, "P", 1, HLC(NOW_MS - 100, 0), &good, "s1", 2);
    trec(&recs[GOOD_STATUS2], CARA_CRDT_STATUS, "P", 2, HLC(NOW_MS, 0), &good, "s2", 2);
    trec(&recs[GOOD_PLACE], CARA_CRDT_PLACEMENT, "P", 2, HLC(NOW_MS, 1), &good, "p2", 2);
    cara_crdt *first = NULL;
    for (int order = 0; order < 120; order++) {
        int idx[RECS];
        for (int i = 0; i < RECS; i++)
            idx[i] = i;
        shuffle(idx, RECS, &rng);
        cara_crdt *s = treplica_cfg(&op, NULL);
        for (int i = 0; i < RECS; i++)
            apply_any(s, &recs[idx[i]], NOW_MS);
        check_held_by(s, CARA_CRDT_STATUS, "P", &good, &recs[GOOD_STATUS2]);
        check_held_by(s, CARA_CRDT_PLACEMENT, "P", &good, &recs[GOOD_PLACE]);
        check_held_by(s, CARA_CRDT_STATUS, "P", &evil, &recs[EVIL_STATUS]);
        check_held_by(s, CARA_CRDT_PLACEMENT, "P", &evil, &recs[EVIL_PLACE]);
        cara_crdt_record r;
        CHECK_RC(cara_crdt_get(s, CARA_CRDT_STATUS, (const uint8_t *)"P", 1, &r), CARA_ENOENT);
        CHECK_RC(cara_crdt_get(s, CARA_CRDT_PLACEMENT, (const uint8_t *)"P", 1, &r), CARA_ENOENT);
        for (int kind = CARA_CRDT_STATUS; kind <= CARA_CRDT_PLACEMENT; kind += 4) {
            author_list l = {0};
            CHECK_OK(cara_crdt_foreach_author(s, kind, (const uint8_t *)"P", 1, list_author, &l));
            CHECK_INT(l.count, ==, 2);
            CHECK(listed(&l, good.pk) && listed(&l, evil.pk));
        }
        CHECK_INT(tstats(s).rejected[CARA_CRDT_R_FUTURE], ==, 0);
        if (first == NULL)
            first = s;
        else {
            CHECK(same_hash(first, s));
            cara_crdt_free(s);
        }
    }
    CHECK(cara_crdt_kind_per_author(CARA_CRDT_STATUS) &&
          cara_crdt_kind_per_author(CARA_CRDT_PLACEMENT));
    CHECK(!cara_crdt_kind_per_author(CARA_CRDT_PROJECT) &&
          !cara_crdt_kind_per_author(CARA_CRDT_NODE));
    cara_crdt_free(first);
    for (int i = 0; i < RECS; i++)
        cara_buf_free(&recs[i]);
}

#define HP_NODES 3 /* n0, n1 honest; n2 hostile */
#define HP_HOSTILE 2
#define HP_NAMES 4
#define HP_POOL_MAX 48
#define HP_REPLICAS_MAX 6
static const char *const HP_NAMES_LIST[HP_NAMES] = {"web", "db", "cache", "queue"};

typedef struct hp_want {
    bool delivered;
    uint64_t gen, hlc;
} hp_want;

typedef struct hp_cast {
    tkey op, nodes[HP_NODES];
    cara_buf admissions[HP_NODES];
    unsigned hlc_counter;
    /* The winning honest record per (node, STATUS/PLACEMENT, name). */
    hp_want want[HP_NODES][2][HP_NAMES];
} hp_cast;

/* A random record; honest ones get distinct (generation, clock) pairs so
 * the expected winner is plain; the hostile node writes at the top. */
static void hp_record(cara_buf *out, hp_cast *c, cara_rng *rng, int *honest_slot)
{
    int k = (int)cara_rng_below(rng, HP_NAMES), n = (int)cara_rng_below(rng, HP_NODES - 1);
    const char *name = HP_NAMES_LIST[k];
    uint64_t gen = 1 + cara_rng_below(rng, 3);
    uint64_t hlc = HLC(NOW_MS - (int64_t)cara_rng_below(rng, 3000), ++c->hlc_counter);
    uint64_t top = HLC(NOW_MS + CARA_CRDT_SKEW_MS_DEFAULT, HLC_COUNTER_MAX - cara_rng_below(rng, 4));
    uint8_t value[16];
    cara_rng_bytes(rng, value, sizeof value);
    *honest_slot = -1;
    switch (cara_rng_below(rng, 8)) {
    case 0:
        trec(out, CARA_CRDT_PROJECT, name, gen, hlc, &c->op, value, sizeof value);
        break;
    case 1:
        trec(out, CARA_CRDT_TOMBSTONE, name, gen, hlc, &c->op, NULL, 0);
        break;
    case 2:
    case 3: {
        int kind = cara_rng_below(rng, 2) ? CARA_CRDT_STATUS : CARA_CRDT_PLACEMENT;
        trec(out, kind, name, gen, hlc, &c->nodes[n], value, sizeof value);
        *honest_slot = (n * 2 + (kind == CARA_CRDT_PLACEMENT)) * HP_NAMES + k;
        break;
    }
    case 4: {
        char node[16];
        snprintf(node, sizeof node, "n%d", n);
        trec(out, CARA_CRDT_NODE, node, gen, hlc, &c->nodes[n], value, sizeof value);
        break;
    }
    case 5:
    case 6: {
        int kind = cara_rng_below(rng, 2) ? CARA_CRDT_STATUS : CARA_CRDT_PLACEMENT;
        trec(out, kind, name, CARA_GENERATION_MAX, top, &c->nodes[HP_HOSTILE], value,
             sizeof value);
        break;
    }
    default:
        /* The hostile node claims an honest node's name. */
        trec(out, CARA_CRDT_NODE, "n0", CARA_GENERATION_MAX, top, &c->nodes[HP_HOSTILE], value,
             sizeof value);
        break;
    }
}

static void hp_note_delivered(hp_cast *c, const cara_buf *b, int slot)
{
    if (slot < 0)
        return;
    cara_crdt_record r;
    CHECK_OK(cara_crdt_record_decode(b->data, b->len, &r));
    hp_want *w = &c->want[slot / (2 * HP_NAMES)][(slot / HP_NAMES) % 2][slot % HP_NAMES];
    if (!w->delivered || r.generation > w->gen || (r.generation == w->gen && r.hlc > w->hlc)) {
        w->delivered = true;
        w->gen = r.generation;
        w->hlc = r.hlc;
    }
}

static void hp_check(const hp_cast *c, const cara_crdt *s, int replica, int h)
{
    for (int n = 0; n < HP_NODES - 1; n++)
        for (int p = 0; p < 2; p++)
            for (int k = 0; k < HP_NAMES; k++) {
                const hp_want *w = &c->want[n][p][k];
                if (!w->delivered)
                    continue;
                cara_crdt_record r;
                int kind = p ? CARA_CRDT_PLACEMENT : CARA_CRDT_STATUS;
                const char *name = HP_NAMES_LIST[k];
                int rc = cara_crdt_get_by(s, kind, (const uint8_t *)name, strlen(name),
                                          c->nodes[n].pk, &r);
                if (rc != 0 || r.generation != w->gen || r.hlc != w->hlc)
                    cara_test_fail(__FILE__, __LINE__,
                                   "history %d replica %d: n%d's %s of %s lost or overridden", h,
                                   replica, n, p ? "placement" : "status", name);
            }
}

static void hp_history(hp_cast *c, cara_rng *rng, int h)
{
    memset(c->want, 0, sizeof c->want);
    int n = 3 + (int)cara_rng_below(rng, HP_REPLICAS_MAX - 2);
    cara_crdt *r[HP_REPLICAS_MAX], *ref = treplica_cfg(&c->op, NULL);
    for (int i = 0; i < n; i++) {
        r[i] = treplica_cfg(&c->op, NULL);
        for (int a = 0; a < HP_NODES; a++)
            apply_new(r[i], &c->admissions[a], NOW_MS);
    }
    for (int a = 0; a < HP_NODES; a++)
        apply_new(ref, &c->admissions[a], NOW_MS);
    int pool = 8 + (int)cara_rng_below(rng, HP_POOL_MAX - 8);
    for (int p = 0; p < pool; p++) {
        cara_buf b;
        int slot;
        hp_record(&b, c, rng, &slot);
        bool delivered = false;
        for (int i = 0; i < n; i++) {
            int copies = (int)cara_rng_below(rng, 3) - (cara_rng_below(rng, 3) == 0);
            for (int d = 0; d < copies; d++)
                apply_any(r[i], &b, NOW_MS), delivered = true;
        }
        if (delivered) {
            apply_any(ref, &b, NOW_MS);
            hp_note_delivered(c, &b, slot);
        }
        cara_buf_free(&b);
    }
    wire w = wire_full(NOW_MS);
    int pairs = n + (int)cara_rng_below(rng, (uint64_t)n);
    for (int p = 0; p < pairs; p++) {
        int a = (int)cara_rng_below(rng, (uint64_t)n), b = (int)cara_rng_below(rng, (uint64_t)n);
        if (a != b)
            exchange(r[a], r[b], &w);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < n; i++)
            exchange(r[i], r[(i + 1) % n], &w);
    hp_check(c, ref, -1, h);
    for (int i = 0; i < n; i++) {
        if (!same_hash(r[i], ref))
            cara_test_fail(__FILE__, __LINE__, "history %d: replica %d differs from reference",
                           h, i);
        hp_check(c, r[i], i, h);
        cara_crdt_free(r[i]);
    }
    cara_crdt_free(ref);
}

TEST(crdt_prop_hostile_node_never_overrides_honest_status_or_placement)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    hp_cast c = {0};
    tkey_make(&c.op, &rng);
    for (int i = 0; i < HP_NODES; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        tkey_make(&c.nodes[i], &rng);
        tadmission(&c.admissions[i], name, 1, HLC(NOW_MS - 100000, i), &c.op, &c.nodes[i], true);
    }
    for (int h = 0; h < 200; h++)
        hp_history(&c, &rng, h);
    for (int i = 0; i < HP_NODES; i++)
        cara_buf_free(&c.admissions[i]);
}

/* ---- 6. Admissions: held records, revocations, nodes_max ------------------ */

/* A node's records that arrive before its admission are held, counted,
 * and applied as soon as the admission arrives, without another sync. */
TEST(crdt_records_before_their_admission_are_held_then_applied)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    cara_crdt *s = treplica_cfg(&op, NULL);
    cara_buf nrec, status, place, adm;
    trec(&nrec, CARA_CRDT_NODE, "n1", 1, HLC(NOW_MS, 0), &node, "node", 4);
    trec(&status, CARA_CRDT_STATUS, "web", 1, HLC(NOW_MS, 1), &node, "up", 2);
    trec(&place, CARA_CRDT_PLACEMENT, "web", 1, HLC(NOW_MS, 2), &node, "n1", 2);
    tadmission(&adm, "n1", 1, HLC(NOW_MS, 3), &op, &node, true);
    uint8_t before[32];
    cara_crdt_state_hash(s, before);
    const cara_buf *early[] = {&nrec, &status, &place};
    for (int i = 0; i < 3; i++) {
        /* Refused for now (the caller learns nothing else), but kept. */
        int rc = cara_crdt_apply(s, early[i]->data, early[i]->len, NOW_MS, NULL);
        CHECK(rc == CARA_ENOTADMITTED || rc == CARA_EUNTRUSTED);
    }
    cara_crdt_stats st = tstats(s);
    CHECK_INT(st.held, ==, 3);
    CHECK_INT(st.held_count, ==, 3);
    CHECK_INT(st.records_count, ==, 0);
    uint8_t after[32];
    cara_crdt_state_hash(s, after);
    CHECK_MEM(before, 32, after, 32);
    apply_new(s, &adm, NOW_MS);
    st = tstats(s);
    CHECK_INT(st.held_count, ==, 0);
    CHECK_INT(st.records_count, ==, 4);
    CHECK_INT(st.applied, ==, 4);
    cara_crdt_record r;
    CHECK_OK(cara_crdt_get(s, CARA_CRDT_NODE, (const uint8_t *)"n1", 2, &r));
    check_held_by(s, CARA_CRDT_STATUS, "web", &node, &status);
    check_held_by(s, CARA_CRDT_PLACEMENT, "web", &node, &place);
    cara_buf_free(&nrec);
    cara_buf_free(&status);
    cara_buf_free(&place);
    cara_buf_free(&adm);
    cara_crdt_free(s);
}

/* With nodes_max = 4, a fifth admission is refused on arrival as full
 * (counted), not accepted and silently ignored; re-admitting a node that
 * is already in is not a new node. */
TEST(crdt_admission_beyond_nodes_max_is_kept_without_effect_until_room_is_made)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, nodes[5];
    tkey_make(&op, &rng);
    cara_crdt_cfg cfg = {.nodes_max = 4};
    cara_crdt *s = treplica_cfg(&op, &cfg);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        tkey_make(&nodes[i], &rng);
        cara_buf adm;
        tadmission(&adm, name, 1, HLC(NOW_MS, i), &op, &nodes[i], true);
        apply_new(s, &adm, NOW_MS);
        cara_buf_free(&adm);
    }
    /* The fifth (newest) admission is held as a record but not in effect. */
    cara_crdt_stats st = tstats(s);
    CHECK_INT(st.admissions_over_cap, ==, 1);
    CHECK_INT(st.records_count, ==, 5);
    CHECK_INT(cara_crdt_admission_room(s), ==, 0);
    CHECK(!cara_crdt_node_admitted(s, nodes[4].pk));
    uint8_t pk[CARA_CRDT_PK_BYTES];
    CHECK_RC(cara_crdt_node_key_of(s, "n4", pk), CARA_ENOENT);
    CHECK_OK(cara_crdt_node_key_of(s, "n3", pk));
    CHECK_MEM(pk, sizeof pk, nodes[3].pk, sizeof pk);
    char name[16];
    CHECK_OK(cara_crdt_node_name_of(s, nodes[2].pk, name, sizeof name));
    CHECK_STR(name, "n2");
    /* The same key under a second name takes no room of its own. */
    cara_buf alias;
    tadmission(&alias, "n0-alias", 1, HLC(NOW_MS, 2), &op, &nodes[0], true);
    apply_new(s, &alias, NOW_MS);
    CHECK(cara_crdt_node_admitted(s, nodes[0].pk));
    CHECK(!cara_crdt_node_admitted(s, nodes[4].pk));
    CHECK_INT(tstats(s).admissions_over_cap, ==, 1);
    cara_buf_free(&alias);
    /* A revocation makes room: the waiting admission takes effect. */
    cara_buf revoke;
    tadmission(&revoke, "n1", 2, HLC(NOW_MS, 11), &op, &nodes[1], false);
    apply_new(s, &revoke, NOW_MS);
    cara_buf_free(&revoke);
    CHECK(!cara_crdt_node_admitted(s, nodes[1].pk));
    CHECK(cara_crdt_node_admitted(s, nodes[4].pk));
    CHECK_INT(tstats(s).admissions_over_cap, ==, 0);
    CHECK_INT(tstats(s).rejected[CARA_CRDT_R_FULL], ==, 0);
    cara_crdt_free(s);
}

#define AD_NODES 4
#define AD_NAMES 3
#define AD_POOL_MAX 40
#define AD_REPLICAS_MAX 5

typedef struct ad_item {
    cara_buf b;
    int node;      /* author node, or -1 */
    int slot;      /* per-author slot for the expectation, or -1 */
    uint64_t gen, hlc;
} ad_item;

static int ad_authored_by(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    const uint8_t *pk = ctx;
    return memcmp(r->author, pk, CARA_CRDT_PK_BYTES) == 0;
}

/* One history: admissions, revocations and node records shuffled
 * together, each replica getting its own order and subset; the reference
 * gets everything directly, so held records must be applied on the
 * admission's arrival for it to end equal to the synced replicas. */
static void ad_history(const tkey *op, const tkey *nodes, cara_rng *rng, int h)
{
    static const char *const names[AD_NAMES] = {"web", "db", "cache"};
    ad_item items[AD_POOL_MAX + 2 * AD_NODES];
    int count = 0;
    bool revoked[AD_NODES];
    unsigned counter = 0;
    for (int k = 0; k < AD_NODES; k++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", k);
        tadmission(&items[count].b, name, 1, HLC(NOW_MS - 50000, counter++), op, &nodes[k], true);
        items[count].node = items[count].slot = -1;
        count++;
        revoked[k] = cara_rng_below(rng, 3) == 0;
        if (revoked[k]) {
            tadmission(&items[count].b, name, 2, HLC(NOW_MS - 40000, counter++), op, &nodes[k],
                       false);
            items[count].node = items[count].slot = -1;
            count++;
        }
    }
    int pool = 6 + (int)cara_rng_below(rng, AD_POOL_MAX - 6);
    for (int p = 0; p < pool; p++) {
        ad_item *it = &items[count++];
        int k = (int)cara_rng_below(rng, AD_NODES), nm = (int)cara_rng_below(rng, AD_NAMES);
        int which = (int)cara_rng_below(rng, 4);
        uint8_t value[8];
        cara_rng_bytes(rng, value, sizeof value);
        it->node = k;
        it->gen = 1 + cara_rng_below(rng, 3);
        it->hlc = HLC(NOW_MS - (int64_t)cara_rng_below(rng, 30000), counter++);
        if (which == 0) {
            trec(&it->b, CARA_CRDT_PROJECT, names[nm], it->gen, it->hlc, op, value, 8);
            it->node = it->slot = -1;
        } else if (which == 1) {
            char name[16];
            snprintf(name, sizeof name, "n%d", k);
            trec(&it->b, CARA_CRDT_NODE, name, it->gen, it->hlc, &nodes[k], value, 8);
            it->slot = -1;
        } else {
            int kind = which == 2 ? CARA_CRDT_STATUS : CARA_CRDT_PLACEMENT;
            trec(&it->b, kind, names[nm], it->gen, it->hlc, &nodes[k], value, 8);
            it->slot = (which - 2) * AD_NAMES + nm;
        }
    }
    int n = 2 + (int)cara_rng_below(rng, AD_REPLICAS_MAX - 1);
    cara_crdt *r[AD_REPLICAS_MAX], *ref = treplica_cfg(op, NULL);
    int order[AD_POOL_MAX + 2 * AD_NODES];
    /* Each record reaches each replica with a 3/4 chance, and at least one. */
    bool gets[AD_REPLICAS_MAX][AD_POOL_MAX + 2 * AD_NODES];
    for (int j = 0; j < count; j++) {
        bool any = false;
        for (int i = 0; i < n; i++)
            any |= gets[i][j] = cara_rng_below(rng, 4) != 0;
        if (!any)
            gets[cara_rng_below(rng, (uint64_t)n)][j] = true;
    }
    for (int i = 0; i < count; i++)
        order[i] = i;
    shuffle(order, count, rng);
    for (int i = 0; i < count; i++)
        apply_any(ref, &items[order[i]].b, NOW_MS);
    for (int i = 0; i < n; i++) {
        r[i] = treplica_cfg(op, NULL);
        shuffle(order, count, rng);
        for (int j = 0; j < count; j++)
            if (gets[i][order[j]])
                apply_any(r[i], &items[order[j]].b, NOW_MS);
    }
    /* Three rounds of a ring: a record held on one replica spreads only
     * once that replica has the admission. */
    wire w = wire_full(NOW_MS);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < n; i++)
            exchange(r[i], r[(i + 1) % n], &w);
    /* Revoked nodes' records are gone, and stay gone when replayed. */
    for (int i = 0; i < count; i++)
        if (items[i].node >= 0 && revoked[items[i].node])
            apply_any(r[0], &items[i].b, NOW_MS);
    for (int i = 0; i <= n; i++) {
        cara_crdt *s = i < n ? r[i] : ref;
        if (!same_hash(s, ref))
            cara_test_fail(__FILE__, __LINE__, "history %d: replica %d differs from reference",
                           h, i);
        for (int k = 0; k < AD_NODES; k++) {
            CHECK(cara_crdt_node_admitted(s, nodes[k].pk) == !revoked[k]);
            int found = cara_crdt_foreach(s, ad_authored_by, (void *)nodes[k].pk);
            if (revoked[k] && found)
                cara_test_fail(__FILE__, __LINE__, "history %d: replica %d keeps revoked n%d's "
                               "records", h, i, k);
        }
    }
    /* Every non-revoked node's newest status and placement is in. */
    for (int i = 0; i < count; i++) {
        ad_item *it = &items[i];
        if (it->slot < 0 || revoked[it->node])
            continue;
        int kind = it->slot / AD_NAMES == 0 ? CARA_CRDT_STATUS : CARA_CRDT_PLACEMENT;
        const char *name = names[it->slot % AD_NAMES];
        cara_crdt_record got;
        if (cara_crdt_get_by(ref, kind, (const uint8_t *)name, strlen(name), nodes[it->node].pk,
                             &got) != 0 ||
            got.generation < it->gen || (got.generation == it->gen && got.hlc < it->hlc))
            cara_test_fail(__FILE__, __LINE__, "history %d: n%d's record for %s lost", h,
                           it->node, name);
    }
    for (int i = 0; i < n; i++)
        cara_crdt_free(r[i]);
    cara_crdt_free(ref);
    for (int i = 0; i < count; i++)
        cara_buf_free(&items[i].b);
}

TEST(crdt_prop_admissions_in_any_order_and_revocations_converge)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, nodes[AD_NODES];
    tkey_make(&op, &rng);
    for (int k = 0; k < AD_NODES; k++)
        tkey_make(&nodes[k], &rng);
    for (int h = 0; h < 150; h++)
        ad_history(&op, nodes, &rng, h);
}
