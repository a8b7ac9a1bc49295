/*
 * Adversarial and edge cases of src/crdt found by review: admissions that
 * reuse a key or pass the cap, a digest message built to make the receiver
 * walk the state many times, collection in one run.
 */
#include <time.h>

#include "crdt_util.h"

#define NOW_MS 1700000000000LL
#define HLC(ms, c) (((uint64_t)(ms) << CARA_CRDT_HLC_COUNTER_BITS) | (uint64_t)(c))

/* Regression (review of issue 7), as it was: admissions_changed() counts every admitting ADMISSION record,
 * not every distinct key, and asserts the count stays below
 * CARA_CRDT_NODES_MAX, while admission_over_cap() lets any admission of an
 * already-admitted key through. An operator who admits one key under
 * 1,025 names (or 1,024 nodes plus one renamed node whose old name was
 * not revoked) aborts every replica, and every restart (the rows load
 * again). Bad input must never be fatal (DESIGN.md §1.6). */
TEST(admitting_one_key_under_many_names_does_not_abort)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    cara_crdt *s = treplica_cfg(&op, NULL);
    for (int i = 0; i < CARA_CRDT_NODES_MAX + 1; i++) {
        char name[32];
        snprintf(name, sizeof name, "alias-%d", i);
        cara_buf b;
        tadmission(&b, name, 1, HLC(NOW_MS, 0), &op, &node, true);
        int rc = cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL);
        CHECK(rc == 0 || rc == CARA_ELIMIT); /* the 1,025th aborts inside apply */
        cara_buf_free(&b);
    }
    cara_crdt_free(s);
}

/* The same defect, without the abort: with nodes_max = 2, one key
 * admitted under two names fills the cap, so a second distinct node is
 * refused although only one key is admitted. */
TEST(nodes_max_counts_distinct_keys)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, k1, k2;
    tkey_make(&op, &rng);
    tkey_make(&k1, &rng);
    tkey_make(&k2, &rng);
    cara_crdt_cfg cfg = {.nodes_max = 2};
    cara_crdt *s = treplica_cfg(&op, &cfg);
    cara_buf b;
    tadmission(&b, "a", 1, HLC(NOW_MS, 0), &op, &k1, true);
    CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
    cara_buf_free(&b);
    tadmission(&b, "a-renamed", 1, HLC(NOW_MS, 1), &op, &k1, true);
    CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
    cara_buf_free(&b);
    tadmission(&b, "b", 1, HLC(NOW_MS, 2), &op, &k2, true);
    CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL)); /* fails: CARA_ELIMIT */
    cara_buf_free(&b);
    cara_crdt_free(s);
}

/* Regression (review of issue 7; a merge that is not
 * commutative, DESIGN.md §4): two replicas at the admission cap that
 * received the same admissions in different orders never converge; every
 * anti-entropy exchange re-sends the refused admission and the state
 * hashes stay different for as long as the cap is reached. */
TEST(admissions_at_the_cap_converge_whatever_the_order)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, k[3];
    tkey_make(&op, &rng);
    for (int i = 0; i < 3; i++)
        tkey_make(&k[i], &rng);
    cara_crdt_cfg cfg = {.nodes_max = 2};
    cara_crdt *a = treplica_cfg(&op, &cfg), *b = treplica_cfg(&op, &cfg);
    cara_buf adm[3];
    const char *names[3] = {"x", "y", "z"};
    for (int i = 0; i < 3; i++)
        tadmission(&adm[i], names[i], 1, HLC(NOW_MS, i), &op, &k[i], true);
    const int order_a[3] = {0, 1, 2}, order_b[3] = {2, 1, 0};
    for (int i = 0; i < 3; i++) {
        (void)cara_crdt_apply(a, adm[order_a[i]].data, adm[order_a[i]].len, NOW_MS, NULL);
        (void)cara_crdt_apply(b, adm[order_b[i]].data, adm[order_b[i]].len, NOW_MS, NULL);
    }
    for (int round = 0; round < 5; round++) {
        tsync(a, b, NOW_MS, NULL);
        tsync(b, a, NOW_MS, NULL);
    }
    char ha[65], hb[65];
    thash_hex(a, ha);
    thash_hex(b, hb);
    CHECK_STR(ha, hb);
    for (int i = 0; i < 3; i++)
        cara_buf_free(&adm[i]);
    cara_crdt_free(a);
    cara_crdt_free(b);
}

/* Regression (review of issue 7; older than the budgets): work done for
 * a sync message is not bounded by the message. An FP item that matches
 * costs a linear scan of its span (span_of XORs every record in it) and
 * produces no output, so the reply budget never stops it; a peer that
 * repeats the root FP it was sent (16 bytes) 65,535 times in one message
 * under 1 MiB makes the receiver scan its whole state 65,536 times. Now
 * the walk stops at CARA_CRDT_SYNC_WORK_MAX; the test counts that it did. */
TEST(sync_work_per_message_is_bounded)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *s = treplica_cfg(&op, NULL);
    enum { N = CARA_CRDT_RECORDS_MAX };
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        cara_buf b;
        trec(&b, CARA_CRDT_PROJECT, name, 1, HLC(NOW_MS, 0), &op, "v", 1);
        CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
        cara_buf_free(&b);
    }
    /* Learn our own root FP the way a peer does: from sync_start. */
    cara_buf start;
    cara_buf_init(&start, cara_test_env(), 256);
    CHECK_OK(cara_crdt_sync_start(s, &start));
    /* start = [ "sync", 1, [ item ] ]: the item is the tail after the
     * 1-byte inner array header. Locate it: fixarray(3) a4 "sync" 01 91. */
    CHECK(start.len > 8 && start.data[7] == 0x91);
    const uint8_t *item = start.data + 8;
    size_t item_len = start.len - 8;
    cara_buf msg;
    cara_buf_init(&msg, cara_test_env(), CARA_CRDT_SYNC_MSG_BYTES_MAX);
    const uint8_t head[] = {0x93, 0xa4, 's', 'y', 'n', 'c', 0x01, 0xdd};
    CHECK_OK(cara_buf_append(&msg, head, sizeof head));
    uint32_t n = (uint32_t)((CARA_CRDT_SYNC_MSG_BYTES_MAX - 16) / item_len);
    if (n > CARA_CRDT_SYNC_ITEMS_MAX)
        n = CARA_CRDT_SYNC_ITEMS_MAX;
    uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    CHECK_OK(cara_buf_append(&msg, be, 4));
    for (uint32_t i = 0; i < n; i++)
        CHECK_OK(cara_buf_append(&msg, item, item_len));
    CHECK_INT(msg.len, <=, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf reply, delta;
    cara_buf_init(&reply, cara_test_env(), CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, cara_test_env(), CARA_CRDT_DELTA_BYTES_MAX);
    CHECK_OK(cara_crdt_sync_recv(s, msg.data, msg.len, &reply, &delta));
    /* Counted, not timed: the walk stopped at the work bound, having
     * answered nothing (every item matched). */
    cara_crdt_stats st;
    cara_crdt_stats_get(s, &st);
    fprintf(stderr, "  %zu-byte message, %u matching root FPs, %d records: reply %zu, deferred %llu\n",
            msg.len, n, N, reply.len, (unsigned long long)st.sync_deferred);
    CHECK_INT(st.sync_work_capped, ==, 1);
    CHECK_INT(st.sync_deferred, >, 0);
    CHECK_INT(reply.len, ==, 0);
    cara_buf_free(&start);
    cara_buf_free(&msg);
    cara_buf_free(&reply);
    cara_buf_free(&delta);
    cara_crdt_free(s);
}

/* Regression (review of issue 7): cara_crdt_gc walks the table by index while
 * crdt_floor_make removes the project's status and placement records
 * wherever they sit; a backward shift can move a not-yet-visited due
 * tombstone into a slot the walk has passed, so one run leaves it (it is
 * collected by the next run, a minute later). The property: after one
 * gc, no tombstone older than the horizon is left. */
TEST(one_gc_run_collects_every_due_tombstone)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, nodes[6];
    tkey_make(&op, &rng);
    for (int k = 0; k < 6; k++)
        tkey_make(&nodes[k], &rng);
    size_t left_total = 0;
    for (int trial = 0; trial < 100; trial++) {
        cara_crdt_cfg cfg = {.tombstone_horizon_ms = 1000};
        cara_crdt *s = treplica_cfg(&op, &cfg);
        for (int k = 0; k < 6; k++) {
            char name[16];
            snprintf(name, sizeof name, "n%d", k);
            cara_buf b;
            tadmission(&b, name, 1, HLC(NOW_MS, 0), &op, &nodes[k], true);
            CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
            cara_buf_free(&b);
        }
        int projects = 100 + (int)cara_rng_below(&rng, 400);
        for (int p = 0; p < projects; p++) {
            char name[32];
            snprintf(name, sizeof name, "t%d-p%d", trial, p);
            for (int k = 0; k < 6; k++) {
                cara_buf b;
                trec(&b, k % 2 ? CARA_CRDT_STATUS : CARA_CRDT_PLACEMENT, name, 1, HLC(NOW_MS, 1),
                     &nodes[k], "v", 1);
                CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
                cara_buf_free(&b);
            }
            cara_buf b;
            trec(&b, CARA_CRDT_TOMBSTONE, name, 2, HLC(NOW_MS, 2), &op, NULL, 0);
            CHECK_OK(cara_crdt_apply(s, b.data, b.len, NOW_MS, NULL));
            cara_buf_free(&b);
        }
        cara_crdt_gc(s, NOW_MS + 5000);
        cara_crdt_stats st;
        cara_crdt_stats_get(s, &st);
        left_total += st.records_count - 6; /* the admissions stay */
        cara_crdt_free(s);
    }
    fprintf(stderr, "  records left after one gc run, over 100 trials: %zu\n", left_total);
    CHECK_INT(left_total, ==, 0);
}
