/*
 * Helpers shared by the crdt and store tests: deterministic keys from the
 * test rng, signed records, replicas, and a digest/delta sync between two
 * replicas that counts the bytes exchanged.
 */
#ifndef CARA_TEST_CRDT_UTIL_H
#define CARA_TEST_CRDT_UTIL_H

#include "crdt/crdt.h"
#include "harness.h"

typedef struct tkey {
    uint8_t pk[CARA_CRDT_PK_BYTES];
    uint8_t sk[CARA_CRDT_SK_BYTES];
} tkey;

static inline void tkey_make(tkey *k, cara_rng *rng)
{
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    cara_rng_bytes(rng, seed, sizeof seed);
    CHECK_OK(cara_crdt_key_from_seed(seed, k->pk, k->sk));
}

/* A signed record in an owned buffer (free with cara_buf_free). */
static inline void trec(cara_buf *out, int kind, const char *key, uint64_t gen, uint64_t hlc,
                        const tkey *author, const void *value, size_t value_bytes)
{
    cara_buf_init(out, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    cara_crdt_record r = {.kind = kind, .key = (const uint8_t *)key, .key_bytes = strlen(key),
                          .generation = gen, .hlc = hlc, .author = author->pk,
                          .value = value, .value_bytes = value_bytes};
    CHECK_OK(cara_crdt_record_sign(&r, author->sk, out));
}

static inline void tadmission(cara_buf *out, const char *node, uint64_t gen, uint64_t hlc,
                              const tkey *op, const tkey *node_key, bool admitted)
{
    cara_buf v;
    cara_buf_init(&v, cara_test_env(), 256);
    CHECK_OK(cara_crdt_admission_encode(node_key->pk, admitted, &v));
    trec(out, CARA_CRDT_ADMISSION, node, gen, hlc, op, v.data, v.len);
    cara_buf_free(&v);
}

static inline cara_crdt *treplica(const tkey *ops, size_t ops_count)
{
    uint8_t pks[CARA_CRDT_OPERATORS_MAX][CARA_CRDT_PK_BYTES];
    for (size_t i = 0; i < ops_count; i++)
        memcpy(pks[i], ops[i].pk, CARA_CRDT_PK_BYTES);
    cara_crdt_cfg cfg = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])pks,
                         .operator_pks_count = ops_count};
    cara_crdt *s = NULL;
    CHECK_OK(cara_crdt_new(&s, &cfg, cara_test_env()));
    return s;
}

/* A replica trusting `op` alone, with the limits of `base` (may be NULL). */
static inline cara_crdt *treplica_cfg(const tkey *op, const cara_crdt_cfg *base)
{
    cara_crdt_cfg cfg = {0};
    if (base != NULL)
        cfg = *base;
    cfg.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])op->pk;
    cfg.operator_pks_count = 1;
    cara_crdt *s = NULL;
    CHECK_OK(cara_crdt_new(&s, &cfg, cara_test_env()));
    return s;
}

static inline cara_crdt_stats tstats(const cara_crdt *s)
{
    cara_crdt_stats st;
    cara_crdt_stats_get(s, &st);
    return st;
}

typedef struct tsync_cost {
    size_t digest_bytes; /* sync messages, both ways */
    size_t delta_bytes;  /* records, both ways */
    int rounds;
} tsync_cost;

/* Runs one reconciliation started by `a`, until neither side has anything
 * to say, applying deltas as they arrive. */
static inline void tsync(cara_crdt *a, cara_crdt *b, int64_t now_wall_ms, tsync_cost *cost)
{
    cara_env *env = cara_test_env();
    cara_buf msg, reply, delta;
    cara_buf_init(&msg, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&reply, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, env, CARA_CRDT_DELTA_BYTES_MAX);
    CHECK_OK(cara_crdt_sync_start(a, &msg));
    cara_crdt *from = a, *to = b; /* `from` wrote msg; `to` answers it */
    int rounds = 0;
    while (msg.len > 0) {
        CHECK(++rounds < 64);
        if (cost)
            cost->digest_bytes += msg.len;
        cara_buf_reset(&reply);
        cara_buf_reset(&delta);
        CHECK_OK(cara_crdt_sync_recv(to, msg.data, msg.len, &reply, &delta));
        if (cost)
            cost->delta_bytes += delta.len;
        CHECK_OK(cara_crdt_apply_batch(from, delta.data, delta.len, now_wall_ms, NULL));
        cara_buf t = msg;
        msg = reply;
        reply = t;
        cara_crdt *x = from;
        from = to;
        to = x;
    }
    if (cost)
        cost->rounds += rounds;
    cara_buf_free(&msg);
    cara_buf_free(&reply);
    cara_buf_free(&delta);
}

static inline void thash_hex(const cara_crdt *s, char out[65])
{
    uint8_t h[32];
    cara_crdt_state_hash(s, h);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

#endif
