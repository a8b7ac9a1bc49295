/*
 * Feeds arbitrary bytes to cara_crdt_record_decode. Beyond "no crash, no
 * leak, no undefined behaviour", an accepted envelope must be exactly what
 * the signer writes: its parts lie where the format puts them, signing the
 * same fields again (under the fuzzer's own key) gives the same body byte
 * for byte except the author, and that new record decodes to the same
 * fields and verifies. Verification and merging of the input itself must
 * end in one of their documented codes.
 */
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_crdt_fixture.h"

static bool within(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    return n == 0 || (p >= data && n <= size && (size_t)(p - data) <= size - n);
}

static void check_layout(const cara_crdt_record *r, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(r->kind >= CARA_CRDT_PROJECT && r->kind < CARA_CRDT_KIND_END_);
    FUZZ_CHECK(r->key_bytes >= 1 && r->key_bytes <= CARA_CRDT_KEY_BYTES_MAX);
    FUZZ_CHECK(r->value_bytes <= CARA_CRDT_VALUE_BYTES_MAX);
    FUZZ_CHECK(r->kind != CARA_CRDT_TOMBSTONE || r->value_bytes == 0);
    FUZZ_CHECK(within(r->key, r->key_bytes, r->body, r->body_bytes));
    FUZZ_CHECK(within(r->author, CARA_CRDT_PK_BYTES, r->body, r->body_bytes));
    FUZZ_CHECK(within(r->value, r->value_bytes, r->body, r->body_bytes));
    /* fixarray(2), the body, then bin8 of 64 bytes: nothing else. */
    FUZZ_CHECK(r->body == data + 1);
    FUZZ_CHECK(size == 1 + r->body_bytes + 2 + CARA_CRDT_SIG_BYTES);
    FUZZ_CHECK(r->sig == data + size - CARA_CRDT_SIG_BYTES);
}

/* Signs the same fields under `me` and compares with the input. */
static void check_resign(cara_env *env, const cara_crdt_record *r, const fixture_key *me)
{
    cara_crdt_record again = *r;
    again.author = me->pk;
    cara_buf b;
    cara_buf_init(&b, env, CARA_CRDT_RECORD_BYTES_MAX);
    FUZZ_CHECK(cara_crdt_record_sign(&again, me->sk, &b) == 0);
    cara_crdt_record d;
    FUZZ_CHECK(cara_crdt_record_decode(b.data, b.len, &d) == 0);
    FUZZ_CHECK(cara_crdt_record_verify(&d) == 0);
    FUZZ_CHECK(d.kind == r->kind && d.generation == r->generation && d.hlc == r->hlc);
    FUZZ_CHECK(d.key_bytes == r->key_bytes && memcmp(d.key, r->key, r->key_bytes) == 0);
    FUZZ_CHECK(d.value_bytes == r->value_bytes &&
               (r->value_bytes == 0 || memcmp(d.value, r->value, r->value_bytes) == 0));
    FUZZ_CHECK(d.body_bytes == r->body_bytes);
    size_t at = (size_t)(r->author - r->body);
    FUZZ_CHECK(d.author == d.body + at);
    FUZZ_CHECK(memcmp(d.body, r->body, at) == 0);
    size_t after = at + CARA_CRDT_PK_BYTES;
    FUZZ_CHECK(memcmp(d.body + after, r->body + after, r->body_bytes - after) == 0);
    cara_buf_free(&b);
}

/* Merges the input into an empty replica that trusts `me`: whatever the
 * outcome, it is one of the documented codes and a refusal stores nothing. */
static void check_apply(cara_env *env, const uint8_t *data, size_t size, const fixture_key *me)
{
    cara_crdt_cfg cfg = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])me->pk,
                         .operator_pks_count = 1};
    cara_crdt *s = NULL;
    FUZZ_CHECK(cara_crdt_new(&s, &cfg, env) == 0);
    int result = 0;
    int rc = cara_crdt_apply(s, data, size, FIXTURE_NOW_MS, &result);
    cara_crdt_stats st;
    cara_crdt_stats_get(s, &st);
    if (rc == 0)
        FUZZ_CHECK(result == CARA_CRDT_APPLIED && st.records_count == 1);
    else
        FUZZ_CHECK(st.records_count == 0 && st.applied == 0);
    cara_crdt_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    static fixture_key me;
    static int ready;
    if (!ready) {
        fixture_key_make(&me, 1); /* the fixture's operator: seeds verify */
        ready = 1;
    }
    cara_crdt_record r;
    int rc = cara_crdt_record_decode(data, size, &r);
    FUZZ_CHECK(rc == 0 || rc == CARA_ETOOBIG || rc == CARA_EPARSE || rc == CARA_EUNSUPPORTED ||
               rc == CARA_ENONCANON);
    if (rc == 0) {
        check_layout(&r, data, size);
        int v = cara_crdt_record_verify(&r);
        FUZZ_CHECK(v == 0 || v == CARA_EBADSIG);
        check_resign(env, &r, &me);
        cara_crdt_record twice;
        FUZZ_CHECK(cara_crdt_record_decode(data, size, &twice) == 0);
        FUZZ_CHECK(twice.kind == r.kind && twice.key == r.key && twice.key_bytes == r.key_bytes &&
                   twice.generation == r.generation && twice.hlc == r.hlc &&
                   twice.author == r.author && twice.value == r.value &&
                   twice.value_bytes == r.value_bytes && twice.body == r.body &&
                   twice.body_bytes == r.body_bytes && twice.sig == r.sig);
    }
    check_apply(env, data, size, &me);
    return 0;
}
