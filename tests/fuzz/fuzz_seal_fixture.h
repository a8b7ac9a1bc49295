/*
 * The receiver the seal fuzzer attacks, shared with the unit test that
 * writes and checks its seeds: node 2 receives and admits nodes 3 (tx) and
 * 4; node 5 is a stranger. The receiver has already opened tx's first
 * FIXTURE_SEAL_USED datagrams of epoch 1, so the seeds, made from those
 * counters, other epochs or other keys, can never be accepted however the
 * fuzzer mutates them: it would need a key it does not hold.
 */
#ifndef CARA_FUZZ_SEAL_FIXTURE_H
#define CARA_FUZZ_SEAL_FIXTURE_H

#include "fuzz_crdt_fixture.h"
#include "gossip/seal_int.h"

#define FIXTURE_SEAL_USED 4
#define FIXTURE_SEAL_RX 2
#define FIXTURE_SEAL_TX 3
#define FIXTURE_SEAL_OTHER 4
#define FIXTURE_SEAL_STRANGER 5

/* A seal for fixture key `tag` at `epoch`; NULL on failure. */
static inline cara_seal *fixture_seal(cara_env *env, uint8_t tag, uint32_t epoch)
{
    fixture_key k;
    fixture_key_make(&k, tag);
    cara_seal *s = NULL;
    return cara_seal_new(env, k.pk, k.sk, epoch, &s) == 0 ? s : NULL;
}

static inline int fixture_seal_admit(cara_seal *s, uint8_t tag)
{
    fixture_key k;
    fixture_key_make(&k, tag);
    return cara_seal_admit(s, k.pk);
}

/* Makes the receiver and tx (epoch 1) and spends tx's first counters on
 * the receiver. Returns 0 or the first error. */
static inline int fixture_seal_pair(cara_env *env, cara_seal **rx, cara_seal **tx)
{
    *rx = fixture_seal(env, FIXTURE_SEAL_RX, 1);
    *tx = fixture_seal(env, FIXTURE_SEAL_TX, 1);
    if (*rx == NULL || *tx == NULL)
        return CARA_EINVAL;
    int rc = fixture_seal_admit(*rx, FIXTURE_SEAL_TX);
    rc = rc ? rc : fixture_seal_admit(*rx, FIXTURE_SEAL_OTHER);
    rc = rc ? rc : fixture_seal_admit(*tx, FIXTURE_SEAL_RX);
    fixture_key rk;
    fixture_key_make(&rk, FIXTURE_SEAL_RX);
    for (int i = 0; i < FIXTURE_SEAL_USED && rc == 0; i++) {
        uint8_t w[CARA_GOSSIP_DATAGRAM_BYTES_MAX], pt[CARA_GOSSIP_PLAINTEXT_BYTES_MAX];
        uint8_t from[CARA_CRDT_PK_BYTES];
        size_t n = 0, len = 0;
        rc = cara_seal_seal(*tx, rk.pk, (const uint8_t *)"ping", 4, w, sizeof w, &n);
        rc = rc ? rc : cara_seal_open(*rx, w, n, from, pt, sizeof pt, &len);
    }
    return rc;
}

#endif
