/*
 * Property tests of merge and anti-entropy. Each history: 3-7 replicas, a
 * pool of signed records (specs, tombstones, statuses, node records,
 * settings, a few forgeries), delivered in random order, duplicated and
 * dropped; then replicas reconcile pairwise by digest/delta only. Every
 * replica must end with the same state hash, equal to that of one replica
 * that received every delivered record directly. A failure prints the seed
 * (CARA_TEST_SEED replays it).
 */
#include "crdt_util.h"

#define NOW_MS 1700000000000LL
#define HLC(ms, c) (((uint64_t)(ms) << CARA_CRDT_HLC_COUNTER_BITS) | (c))
#define POOL_MAX 48
#define REPLICAS_MAX 7

static const char *const NAMES[] = {"web", "db", "cache", "queue", "blog", "wiki"};
#define NAMES_COUNT (sizeof NAMES / sizeof NAMES[0])

typedef struct cast {
    tkey ops[2];
    tkey nodes[3];
    cara_buf admissions[3];
} cast;

static void cast_make(cast *c, cara_rng *rng)
{
    for (int i = 0; i < 2; i++)
        tkey_make(&c->ops[i], rng);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        tkey_make(&c->nodes[i], rng);
        tadmission(&c->admissions[i], name, 1, HLC(NOW_MS - 100000, i), &c->ops[i % 2],
                   &c->nodes[i], true);
    }
}

static void cast_free(cast *c)
{
    for (int i = 0; i < 3; i++)
        cara_buf_free(&c->admissions[i]);
}

/* One random record. Generations and HLCs are drawn from small ranges so
 * that ties (same generation, same HLC, different authors) happen often. */
static void random_record(cara_buf *out, const cast *c, cara_rng *rng)
{
    const char *name = NAMES[cara_rng_below(rng, NAMES_COUNT)];
    uint64_t gen = cara_rng_below(rng, 4);
    uint64_t hlc = HLC(NOW_MS - (int64_t)cara_rng_below(rng, 3) * 1000, cara_rng_below(rng, 3));
    uint8_t value[24];
    size_t value_bytes = 1 + cara_rng_below(rng, sizeof value - 1);
    cara_rng_bytes(rng, value, value_bytes);
    const tkey *op = &c->ops[cara_rng_below(rng, 2)];
    int node = (int)cara_rng_below(rng, 3);
    char node_name[16];
    snprintf(node_name, sizeof node_name, "n%d", node);
    switch (cara_rng_below(rng, 8)) {
    case 0:
    case 1:
    case 2:
        trec(out, CARA_CRDT_PROJECT, name, gen, hlc, op, value, value_bytes);
        break;
    case 3:
        trec(out, CARA_CRDT_TOMBSTONE, name, gen, hlc, op, NULL, 0);
        break;
    case 4:
        trec(out, CARA_CRDT_STATUS, name, gen, hlc, &c->nodes[node], value, value_bytes);
        break;
    case 5:
        trec(out, CARA_CRDT_NODE, node_name, gen, hlc, &c->nodes[node], value, value_bytes);
        break;
    case 6:
        trec(out, CARA_CRDT_SETTINGS, "cluster", gen, hlc, op, value, value_bytes);
        break;
    default:
        /* A forgery: n0 claims to be n1, or a flipped signature bit. */
        if (cara_rng_below(rng, 2)) {
            trec(out, CARA_CRDT_NODE, "n1", gen + 10, hlc, &c->nodes[0], value, value_bytes);
        } else {
            trec(out, CARA_CRDT_PROJECT, name, gen + 10, hlc, op, value, value_bytes);
            out->data[out->len - 1 - cara_rng_below(rng, 64)] ^= 1;
        }
        break;
    }
}

static void deliver(cara_crdt *s, const cara_buf *b)
{
    int rc = cara_crdt_apply(s, b->data, b->len, NOW_MS, NULL);
    CHECK(rc != CARA_ENOMEM && rc != CARA_EPARSE && rc != CARA_ENONCANON);
}

static void check_same_hash(cara_crdt **r, int n, const cara_crdt *ref, uint64_t seed, int h)
{
    char want[65], got[65];
    thash_hex(ref, want);
    for (int i = 0; i < n; i++) {
        thash_hex(r[i], got);
        if (strcmp(want, got) != 0)
            cara_test_fail(__FILE__, __LINE__,
                           "seed %llu history %d: replica %d hash %s, reference %s",
                           (unsigned long long)seed, h, i, got, want);
    }
}

static void run_history(const cast *c, cara_rng *rng, uint64_t seed, int h)
{
    int n = 3 + (int)cara_rng_below(rng, 5);
    cara_crdt *r[REPLICAS_MAX];
    cara_crdt *ref = treplica(c->ops, 2);
    for (int i = 0; i < n; i++) {
        r[i] = treplica(c->ops, 2);
        for (int a = 0; a < 3; a++)
            deliver(r[i], &c->admissions[a]);
    }
    for (int a = 0; a < 3; a++)
        deliver(ref, &c->admissions[a]);
    int pool = 8 + (int)cara_rng_below(rng, POOL_MAX - 8);
    for (int k = 0; k < pool; k++) {
        cara_buf b;
        random_record(&b, c, rng);
        bool delivered = false;
        /* Each record reaches each replica 0-2 times; some reach nobody. */
        for (int i = 0; i < n; i++) {
            int copies = (int)cara_rng_below(rng, 3) - (cara_rng_below(rng, 3) == 0);
            for (int d = 0; d < copies; d++)
                deliver(r[i], &b), delivered = true;
        }
        if (delivered)
            deliver(ref, &b);
        cara_buf_free(&b);
    }
    /* Pairwise anti-entropy in random pairs, then a ring to be sure. */
    int pairs = n + (int)cara_rng_below(rng, (uint64_t)n);
    for (int p = 0; p < pairs; p++) {
        int a = (int)cara_rng_below(rng, (uint64_t)n), b = (int)cara_rng_below(rng, (uint64_t)n);
        if (a != b)
            tsync(r[a], r[b], NOW_MS, NULL);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < n; i++)
            tsync(r[i], r[(i + 1) % n], NOW_MS, NULL);
    check_same_hash(r, n, ref, seed, h);
    for (int i = 0; i < n; i++)
        cara_crdt_free(r[i]);
    cara_crdt_free(ref);
}

static void run_histories(int count, uint64_t salt)
{
    uint64_t seed = cara_test_seed() ^ salt;
    cara_rng rng;
    cara_rng_seed(&rng, seed);
    cast c;
    cast_make(&c, &rng);
    for (int h = 0; h < count; h++)
        run_history(&c, &rng, seed, h);
    cast_free(&c);
}

TEST(crdt_prop_random_histories_converge_by_digest_sync_a)
{
    run_histories(600, 0);
}

TEST(crdt_prop_random_histories_converge_by_digest_sync_b)
{
    run_histories(600, 0x9e3779b97f4a7c15ULL);
}

/* Merge alone: any order and any duplication of the same records gives the
 * same state (commutative, associative, idempotent), and applying
 * everything again changes nothing. */
TEST(crdt_prop_merge_is_order_and_duplicate_insensitive)
{
    uint64_t seed = cara_test_seed();
    cara_rng rng;
    cara_rng_seed(&rng, seed);
    cast c;
    cast_make(&c, &rng);
    for (int h = 0; h < 300; h++) {
        cara_buf recs[POOL_MAX];
        int pool = 1 + (int)cara_rng_below(&rng, POOL_MAX - 1);
        for (int k = 0; k < pool; k++)
            random_record(&recs[k], &c, &rng);
        cara_crdt *a = treplica(c.ops, 2), *b = treplica(c.ops, 2);
        for (int i = 0; i < 3; i++) {
            deliver(a, &c.admissions[i]);
            deliver(b, &c.admissions[2 - i]);
        }
        for (int k = 0; k < pool; k++)
            deliver(a, &recs[k]);
        for (int k = 0; k < 3 * pool; k++)
            deliver(b, &recs[cara_rng_below(&rng, (uint64_t)pool)]);
        for (int k = pool - 1; k >= 0; k--)
            deliver(b, &recs[k]);
        check_same_hash(&b, 1, a, seed, h);
        cara_crdt_stats before, after;
        cara_crdt_stats_get(a, &before);
        for (int k = 0; k < pool; k++)
            deliver(a, &recs[k]);
        cara_crdt_stats_get(a, &after);
        CHECK_INT(after.applied, ==, before.applied);
        for (int k = 0; k < pool; k++)
            cara_buf_free(&recs[k]);
        cara_crdt_free(a);
        cara_crdt_free(b);
    }
    cast_free(&c);
}
