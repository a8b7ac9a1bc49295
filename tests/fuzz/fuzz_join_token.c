/*
 * Feeds arbitrary text to cara_crdt_join_token_parse. An accepted token is
 * the one text of its fields: formatting its grant and seed again gives
 * the input byte for byte, its fields read back from the grant, and its
 * secret key is the seed's. A refused token leaves the output all zero.
 * Apart from the input's fate, a JOIN record signed with an accepted token
 * is well-formed and cara_crdt_join_check judges it without crashing.
 */
#include <string.h>

#include "crdt/crdt.h"
#include "fuzz_common.h"

static void check_accepted(const char *text, const cara_crdt_join_token *t)
{
    FUZZ_CHECK(t->grant_bytes > 0 && t->grant_bytes <= sizeof t->grant);
    FUZZ_CHECK(t->uses >= 1 && t->uses <= CARA_CRDT_JOIN_USES_MAX && t->expires_wall_ms >= 0);
    /* The seed is the first half of the secret key (libsodium's layout). */
    uint8_t pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    FUZZ_CHECK(cara_crdt_key_from_seed(t->token_sk, pk, sk) == 0);
    FUZZ_CHECK(memcmp(pk, t->token_pk, sizeof pk) == 0 && memcmp(sk, t->token_sk, sizeof sk) == 0);
    char again[CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    FUZZ_CHECK(cara_crdt_join_token_format(t->grant, t->grant_bytes, t->token_sk, again,
                                           sizeof again) == 0);
    FUZZ_CHECK(strcmp(again, text) == 0);
}

/* Signs a JOIN record with the token and asks a replica about it. */
static void check_join(cara_env *env, const cara_crdt_join_token *t)
{
    uint8_t seed[CARA_CRDT_SEED_BYTES], node_pk[CARA_CRDT_PK_BYTES], node_sk[CARA_CRDT_SK_BYTES];
    memset(seed, 0x42, sizeof seed);
    FUZZ_CHECK(cara_crdt_key_from_seed(seed, node_pk, node_sk) == 0);
    cara_buf rec;
    cara_buf_init(&rec, env, CARA_CRDT_RECORD_BYTES_MAX);
    uint64_t hlc = (uint64_t)t->expires_wall_ms << CARA_CRDT_HLC_COUNTER_BITS;
    FUZZ_CHECK(cara_crdt_join_record_sign(t, node_pk, node_sk, "n1", hlc, &rec) == 0);
    cara_crdt_record r;
    FUZZ_CHECK(cara_crdt_record_decode(rec.data, rec.len, &r) == 0 && r.kind == CARA_CRDT_JOIN);
    cara_crdt_cfg cfg = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])t->operator_pk,
                         .operator_pks_count = 1};
    cara_crdt *s = NULL;
    FUZZ_CHECK(cara_crdt_new(&s, &cfg, env) == 0);
    int rc = cara_crdt_join_check(s, rec.data, rec.len, FUZZ_NOW_WALL_MS);
    /* The grant's signature is whatever the input held: good or forged. */
    FUZZ_CHECK(rc == 0 || rc == CARA_EBADSIG || rc == CARA_EEXPIRED || rc == CARA_EFUTURE);
    cara_crdt_free(s);
    cara_buf_free(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    char text[2 * CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    cara_crdt_join_token t;
    memset(&t, 0xa5, sizeof t);
    int rc = cara_crdt_join_token_parse(text, &t);
    FUZZ_CHECK(rc == 0 || rc == CARA_EPARSE);
    if (rc == 0) {
        check_accepted(text, &t);
        check_join(env, &t);
    } else {
        static const cara_crdt_join_token zero;
        FUZZ_CHECK(memcmp(&t, &zero, sizeof t) == 0);
    }
    cara_crdt_join_token_wipe(&t);
    return 0;
}
