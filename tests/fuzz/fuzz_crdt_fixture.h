/*
 * A small, fixed replicated state for the crdt fuzzers and for the unit
 * test that writes and checks their seeds: one operator, two admitted
 * nodes, their node records, 40 projects (enough that the sync trie splits
 * below the root), a tombstone, statuses and the cluster settings. Keys and
 * stamps are derived from constants, so every build makes the same bytes.
 * Values are placeholders: no validator is plugged in.
 */
#ifndef CARA_FUZZ_CRDT_FIXTURE_H
#define CARA_FUZZ_CRDT_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "crdt/crdt.h"

#define FIXTURE_NOW_MS 1700000000000LL
#define FIXTURE_PROJECTS 40

typedef struct fixture_key {
    uint8_t pk[CARA_CRDT_PK_BYTES];
    uint8_t sk[CARA_CRDT_SK_BYTES];
} fixture_key;

static inline void fixture_key_make(fixture_key *k, uint8_t tag)
{
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    memset(seed, tag, sizeof seed);
    int rc = cara_crdt_key_from_seed(seed, k->pk, k->sk);
    CARA_ASSERT(rc == 0);
}

/* Signs one record into `out` (appended) and returns cara_crdt_record_sign's code. */
static inline int fixture_sign(cara_buf *out, int kind, const char *key, uint64_t gen,
                               uint64_t hlc, const fixture_key *author, const void *value,
                               size_t value_bytes)
{
    cara_crdt_record r = {.kind = kind, .key = (const uint8_t *)key, .key_bytes = strlen(key),
                          .generation = gen, .hlc = hlc, .author = author->pk,
                          .value = value, .value_bytes = value_bytes};
    return cara_crdt_record_sign(&r, author->sk, out);
}

/* Appends every record of the fixture, concatenated, to `out`; with
 * `projects` < FIXTURE_PROJECTS, only that many projects (a replica that
 * lags). Returns 0 or the first error. */
static inline int fixture_records(cara_env *env, size_t projects, cara_buf *out)
{
    fixture_key op, n1, n2;
    fixture_key_make(&op, 1);
    fixture_key_make(&n1, 2);
    fixture_key_make(&n2, 3);
    uint64_t hlc = (uint64_t)FIXTURE_NOW_MS << CARA_CRDT_HLC_COUNTER_BITS;
    cara_buf v;
    cara_buf_init(&v, env, 256);
    int rc = cara_crdt_admission_encode(n1.pk, true, &v);
    rc = rc ? rc : fixture_sign(out, CARA_CRDT_ADMISSION, "n1", 1, hlc + 1, &op, v.data, v.len);
    cara_buf_reset(&v);
    rc = rc ? rc : cara_crdt_admission_encode(n2.pk, true, &v);
    rc = rc ? rc : fixture_sign(out, CARA_CRDT_ADMISSION, "n2", 1, hlc + 2, &op, v.data, v.len);
    cara_buf_free(&v);
    rc = rc ? rc : fixture_sign(out, CARA_CRDT_NODE, "n1", 1, hlc + 3, &n1, "\x81\xa4name\xa2n1", 8);
    rc = rc ? rc : fixture_sign(out, CARA_CRDT_NODE, "n2", 1, hlc + 4, &n2, "\x81\xa4name\xa2n2", 8);
    rc = rc ? rc : fixture_sign(out, CARA_CRDT_SETTINGS, "cluster", 1, hlc + 5, &op, "\x80", 1);
    rc = rc ? rc : fixture_sign(out, CARA_CRDT_TOMBSTONE, "gone", 3, hlc + 6, &op, NULL, 0);
    for (size_t i = 0; rc == 0 && i < projects && i < FIXTURE_PROJECTS; i++) {
        char key[16];
        snprintf(key, sizeof key, "p%zu", i);
        rc = fixture_sign(out, CARA_CRDT_PROJECT, key, 1 + i % 3, hlc + 10 + i, &op, "\x81\xa1k\x01",
                          4);
        if (rc == 0 && i % 4 == 0)
            rc = fixture_sign(out, CARA_CRDT_STATUS, key, 1, hlc + 100 + i, i % 8 ? &n1 : &n2,
                              "\x81\xa5phase\xa7Running", 15);
    }
    return rc;
}

/* A replica trusting the fixture's operator, holding its records. */
static inline int fixture_state(cara_env *env, size_t projects, cara_crdt **out)
{
    fixture_key op;
    fixture_key_make(&op, 1);
    cara_crdt_cfg cfg = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])op.pk,
                         .operator_pks_count = 1};
    int rc = cara_crdt_new(out, &cfg, env);
    if (rc != 0)
        return rc;
    cara_buf recs;
    cara_buf_init(&recs, env, CARA_CRDT_DELTA_BYTES_MAX);
    rc = fixture_records(env, projects, &recs);
    size_t applied = 0;
    if (rc == 0)
        rc = cara_crdt_apply_batch(*out, recs.data, recs.len, FIXTURE_NOW_MS, &applied);
    cara_buf_free(&recs);
    if (rc != 0) {
        cara_crdt_free(*out);
        *out = NULL;
    }
    return rc;
}

#endif
