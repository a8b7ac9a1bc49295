/*
 * Memoised public-key operations for cara-sim (linked with
 * -Wl,--wrap=...; see the Makefile). A cluster of N nodes verifies each
 * admission N times and derives each pair's transport keys twice (once
 * at each end): O(N^2) Ed25519 verifications and X25519 multiplications,
 * a minute of CPU at N = 1000, all of it recomputing the same answers.
 * These wrappers compute each distinct answer once and replay it:
 *
 *   - crypto_sign_verify_detached: the verdict for (signature, key,
 *     BLAKE2b-256 of the message) is remembered; a pure function, so the
 *     node gets the very answer libsodium would give it. Forged or
 *     altered bytes hash to another entry and are verified for real.
 *   - crypto_kx_{client,server}_session_keys: the two ends of a pair
 *     compute the same shared keys (the client's rx is the server's tx);
 *     the pair's keys are kept under (client key, server key).
 *   - crypto_sign_ed25519_pk_to_curve25519: per key.
 *
 * Nothing the core decides changes: a run gives the same trace hash with
 * the memo on or off (cara-sim --no-memo; docs/sim.md). The tables are
 * bounded (SIM_MEMO_ENTRIES_MAX each) and emptied when full.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sim_crypto.h"

#define SIM_MEMO_ENTRIES_MAX (1u << 22)

int __real_crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
                                       unsigned long long mlen, const unsigned char *pk);
int __real_crypto_kx_client_session_keys(unsigned char *rx, unsigned char *tx,
                                         const unsigned char *client_pk,
                                         const unsigned char *client_sk,
                                         const unsigned char *server_pk);
int __real_crypto_kx_server_session_keys(unsigned char *rx, unsigned char *tx,
                                         const unsigned char *server_pk,
                                         const unsigned char *server_sk,
                                         const unsigned char *client_pk);
int __real_crypto_sign_ed25519_pk_to_curve25519(unsigned char *curve_pk,
                                                const unsigned char *ed_pk);

int __wrap_crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
                                       unsigned long long mlen, const unsigned char *pk);
int __wrap_crypto_kx_client_session_keys(unsigned char *rx, unsigned char *tx,
                                         const unsigned char *client_pk,
                                         const unsigned char *client_sk,
                                         const unsigned char *server_pk);
int __wrap_crypto_kx_server_session_keys(unsigned char *rx, unsigned char *tx,
                                         const unsigned char *server_pk,
                                         const unsigned char *server_sk,
                                         const unsigned char *client_pk);
int __wrap_crypto_sign_ed25519_pk_to_curve25519(unsigned char *curve_pk,
                                                const unsigned char *ed_pk);

/* ---- A table of 32-byte keys to 64-byte answers ----------------------------------- */

typedef struct memo_entry {
    uint8_t key[32];
    uint8_t val[64];
    int rc;
    bool used;
} memo_entry;

typedef struct memo {
    memo_entry *v;
    size_t cap, count;
} memo;

static bool enabled = true;
static memo verifies, pairs, curves;
static sim_crypto_stats stats;

void sim_crypto_memo_enable(bool on) { enabled = on; }
void sim_crypto_stats_get(sim_crypto_stats *out) { *out = stats; }

static size_t memo_home(const memo *t, const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* keys are hashes or public keys: uniform */
    return (size_t)h & (t->cap - 1);
}

static memo_entry *memo_find(memo *t, const uint8_t key[32])
{
    for (size_t i = t->cap ? memo_home(t, key) : 0; t->cap > 0; i = (i + 1) & (t->cap - 1)) {
        if (!t->v[i].used)
            return NULL;
        if (memcmp(t->v[i].key, key, 32) == 0)
            return &t->v[i];
    }
    return NULL;
}

static void memo_put(memo *t, const uint8_t key[32], const uint8_t *val, size_t val_len, int rc)
{
    if (2 * (t->count + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        if (cap > SIM_MEMO_ENTRIES_MAX) {
            memset(t->v, 0, t->cap * sizeof *t->v); /* full: start over */
            t->count = 0;
            cap = t->cap;
        }
        if (cap != t->cap) {
            memo n = {.cap = cap, .v = calloc(cap, sizeof(memo_entry))};
            if (n.v == NULL)
                return; /* not remembered: still correct */
            for (size_t i = 0; i < t->cap; i++)
                if (t->v[i].used) {
                    size_t j = memo_home(&n, t->v[i].key);
                    while (n.v[j].used)
                        j = (j + 1) & (cap - 1);
                    n.v[j] = t->v[i];
                    n.count++;
                }
            free(t->v);
            *t = n;
        }
    }
    size_t i = memo_home(t, key);
    while (t->v[i].used)
        i = (i + 1) & (t->cap - 1);
    memcpy(t->v[i].key, key, 32);
    if (val_len > 0)
        memcpy(t->v[i].val, val, val_len);
    t->v[i].rc = rc;
    t->v[i].used = true;
    t->count++;
}

/* ---- Wrappers ------------------------------------------------------------------------ */

int __wrap_crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
                                       unsigned long long mlen, const unsigned char *pk)
{
    if (!enabled)
        return __real_crypto_sign_verify_detached(sig, m, mlen, pk);
    uint8_t key[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof key);
    crypto_generichash_update(&st, sig, crypto_sign_BYTES);
    crypto_generichash_update(&st, pk, crypto_sign_PUBLICKEYBYTES);
    crypto_generichash_update(&st, m, mlen);
    crypto_generichash_final(&st, key, sizeof key);
    memo_entry *e = memo_find(&verifies, key);
    if (e != NULL) {
        stats.verify_hits++;
        return e->rc;
    }
    stats.verify_misses++;
    int rc = __real_crypto_sign_verify_detached(sig, m, mlen, pk);
    memo_put(&verifies, key, NULL, 0, rc);
    return rc;
}

static void pair_key(const unsigned char *client_pk, const unsigned char *server_pk,
                     uint8_t key[32])
{
    crypto_generichash(key, 32, client_pk, crypto_kx_PUBLICKEYBYTES, server_pk,
                       crypto_kx_PUBLICKEYBYTES);
}

int __wrap_crypto_kx_client_session_keys(unsigned char *rx, unsigned char *tx,
                                         const unsigned char *client_pk,
                                         const unsigned char *client_sk,
                                         const unsigned char *server_pk)
{
    if (!enabled)
        return __real_crypto_kx_client_session_keys(rx, tx, client_pk, client_sk, server_pk);
    uint8_t key[32];
    pair_key(client_pk, server_pk, key);
    memo_entry *e = memo_find(&pairs, key);
    if (e != NULL) {
        stats.kx_hits++;
        memcpy(rx, e->val, 32);
        memcpy(tx, e->val + 32, 32);
        return e->rc;
    }
    stats.kx_misses++;
    int rc = __real_crypto_kx_client_session_keys(rx, tx, client_pk, client_sk, server_pk);
    uint8_t val[64];
    memcpy(val, rx, 32);
    memcpy(val + 32, tx, 32);
    memo_put(&pairs, key, val, sizeof val, rc);
    return rc;
}

int __wrap_crypto_kx_server_session_keys(unsigned char *rx, unsigned char *tx,
                                         const unsigned char *server_pk,
                                         const unsigned char *server_sk,
                                         const unsigned char *client_pk)
{
    if (!enabled)
        return __real_crypto_kx_server_session_keys(rx, tx, server_pk, server_sk, client_pk);
    uint8_t key[32];
    pair_key(client_pk, server_pk, key);
    memo_entry *e = memo_find(&pairs, key);
    if (e != NULL) {
        /* The server receives what the client transmits, and back. */
        stats.kx_hits++;
        memcpy(rx, e->val + 32, 32);
        memcpy(tx, e->val, 32);
        return e->rc;
    }
    stats.kx_misses++;
    int rc = __real_crypto_kx_server_session_keys(rx, tx, server_pk, server_sk, client_pk);
    uint8_t val[64];
    memcpy(val, tx, 32); /* stored as the client sees them */
    memcpy(val + 32, rx, 32);
    memo_put(&pairs, key, val, sizeof val, rc);
    return rc;
}

int __wrap_crypto_sign_ed25519_pk_to_curve25519(unsigned char *curve_pk,
                                                const unsigned char *ed_pk)
{
    if (!enabled)
        return __real_crypto_sign_ed25519_pk_to_curve25519(curve_pk, ed_pk);
    memo_entry *e = memo_find(&curves, ed_pk);
    if (e != NULL) {
        memcpy(curve_pk, e->val, 32);
        return e->rc;
    }
    int rc = __real_crypto_sign_ed25519_pk_to_curve25519(curve_pk, ed_pk);
    memo_put(&curves, ed_pk, curve_pk, 32, rc);
    return rc;
}

size_t sim_crypto_memo_bytes(void)
{
    return (verifies.cap + pairs.cap + curves.cap) * sizeof(memo_entry);
}

void sim_crypto_memo_free(void)
{
    free(verifies.v);
    free(pairs.v);
    free(curves.v);
    verifies = pairs = curves = (memo){0};
}
