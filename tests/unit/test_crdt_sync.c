/*
 * Anti-entropy: exchanges converge, cost grows with the difference, and a
 * malformed peer message is refused without harm.
 */
#include "crdt_util.h"

#define NOW_MS 1700000000000LL
#define HLC(ms, c) (((uint64_t)(ms) << CARA_CRDT_HLC_COUNTER_BITS) | (c))

static void fill(cara_crdt *s, const tkey *op, int count, int gen, int first)
{
    for (int i = first; i < first + count; i++) {
        char name[32];
        uint8_t value[200];
        memset(value, i & 0xff, sizeof value);
        snprintf(name, sizeof name, "project-%d", i);
        cara_buf b;
        trec(&b, CARA_CRDT_PROJECT, name, (uint64_t)gen, HLC(NOW_MS, 0), op, value, sizeof value);
        CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
        cara_buf_free(&b);
    }
}

TEST(crdt_sync_cost_grows_with_difference_not_state)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *a = treplica(&op, 1), *b = treplica(&op, 1);
    fill(a, &op, 2000, 1, 0);
    fill(b, &op, 2000, 1, 0);
    tsync_cost same = {0};
    tsync(a, b, NOW_MS, &same);
    CHECK_INT(same.delta_bytes, ==, 0);
    CHECK(same.digest_bytes < 64); /* one root fingerprint */
    fill(b, &op, 10, 2, 500);      /* b has 10 newer specs */
    tsync_cost diff = {0};
    tsync(a, b, NOW_MS, &diff);
    char ha[65], hb[65];
    thash_hex(a, ha);
    thash_hex(b, hb);
    CHECK_STR(ha, hb);
    size_t state = cara_crdt_state_bytes(a);
    CHECK(diff.delta_bytes < 10 * 400);           /* only the 10 records, one way */
    CHECK(diff.digest_bytes < state / 20);         /* far below the state */
    CHECK(diff.digest_bytes < 10 * 3 * 16 * 24);   /* ~depth x fan-out x item per record */
    cara_crdt_free(a);
    cara_crdt_free(b);
}

TEST(crdt_sync_fills_an_empty_replica)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *a = treplica(&op, 1), *b = treplica(&op, 1);
    fill(a, &op, 300, 1, 0);
    tsync_cost cost = {0};
    tsync(b, a, NOW_MS, &cost);
    CHECK_INT(cara_crdt_state_bytes(b), ==, cara_crdt_state_bytes(a));
    CHECK_INT(cost.delta_bytes, ==, cara_crdt_state_bytes(a));
    cara_crdt_free(a);
    cara_crdt_free(b);
}

TEST(crdt_sync_refuses_malformed_messages)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *a = treplica(&op, 1);
    fill(a, &op, 50, 1, 0);
    cara_buf reply, delta;
    cara_buf_init(&reply, cara_test_env(), CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, cara_test_env(), CARA_CRDT_DELTA_BYTES_MAX);
    static const uint8_t huge_count[] = {0x93, 0xa4, 's', 'y', 'n', 'c', 0x01, 0xdd, 0xff, 0xff,
                                         0xff, 0xff};
    CHECK_RC(cara_crdt_sync_recv(a, huge_count, sizeof huge_count, &reply, &delta), CARA_EPARSE);
    /* FP item whose prefix has bits below its depth. */
    static const uint8_t bad_prefix[] = {0x93, 0xa4, 's', 'y', 'n', 'c', 0x01, 0x91,
                                         0x95, 0x00, 0x01, 0x05, 0x00, 0x00};
    CHECK_RC(cara_crdt_sync_recv(a, bad_prefix, sizeof bad_prefix, &reply, &delta), CARA_EPARSE);
    /* LIST whose entries are not a multiple of the entry size. */
    static const uint8_t bad_list[] = {0x93, 0xa4, 's', 'y', 'n', 'c', 0x01, 0x91,
                                       0x94, 0x01, 0x00, 0x00, 0xc4, 0x03, 1, 2, 3};
    CHECK_RC(cara_crdt_sync_recv(a, bad_list, sizeof bad_list, &reply, &delta), CARA_EPARSE);
    CHECK_INT(delta.len, ==, 0);
    /* Every truncation of a good message is refused. */
    cara_buf msg;
    cara_buf_init(&msg, cara_test_env(), 4096);
    CHECK_OK(cara_crdt_sync_start(a, &msg));
    for (size_t cut = 0; cut < msg.len; cut++)
        CHECK_RC(cara_crdt_sync_recv(a, msg.data, cut, &reply, &delta), CARA_EPARSE);
    cara_buf_free(&msg);
    cara_buf_free(&reply);
    cara_buf_free(&delta);
    cara_crdt_free(a);
}
