/*
 * Join tokens (docs/joining.md). Each test names one promise and tries to
 * break it: the token's text round-trips and nothing else parses; a JOIN
 * record admits its author like an operator's admission; an expired,
 * untrusted or forged one does not, and cara_crdt_join_check says why; a
 * token admits at most `uses` keys, the same ones on every replica
 * whatever the arrival order; the operator's word beats a token.
 *
 * Property tests draw from cara_test_seed(); the harness prints the seed
 * with any failure (CARA_TEST_SEED replays it).
 */
#include "crdt_util.h"
#include "crdt/crdt_int.h" /* crdt_admitted_consistent */

#define NOW_MS 1700000000000LL
#define HOUR_MS (3600LL * 1000)
#define HLC(ms, c) (((uint64_t)(ms) << CARA_CRDT_HLC_COUNTER_BITS) | (uint64_t)(c))

/* ---- Helpers ------------------------------------------------------------- */

typedef struct ttoken {
    cara_crdt_join_token t;
    char text[CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    uint8_t seed[CARA_CRDT_SEED_BYTES];
} ttoken;

/* Issues a token signed by `op` and parses it back, as a joining node would. */
static void token_make(ttoken *out, const tkey *op, int64_t expires_wall_ms, uint32_t uses,
                       cara_rng *rng)
{
    uint8_t id[CARA_CRDT_JOIN_TOKEN_ID_BYTES], pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    cara_rng_bytes(rng, id, sizeof id);
    cara_rng_bytes(rng, out->seed, sizeof out->seed);
    CHECK_OK(cara_crdt_key_from_seed(out->seed, pk, sk));
    cara_buf g;
    cara_buf_init(&g, cara_test_env(), CARA_CRDT_JOIN_GRANT_BYTES_MAX);
    CHECK_OK(cara_crdt_join_grant_sign(id, expires_wall_ms, uses, pk, op->sk, &g));
    CHECK_OK(cara_crdt_join_token_format(g.data, g.len, out->seed, out->text, sizeof out->text));
    CHECK_OK(cara_crdt_join_token_parse(out->text, &out->t));
    cara_buf_free(&g);
}

static void join_rec(cara_buf *out, const cara_crdt_join_token *t, const tkey *node,
                     const char *name, uint64_t hlc)
{
    cara_buf_init(out, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    CHECK_OK(cara_crdt_join_record_sign(t, node->pk, node->sk, name, hlc, out));
}

static void apply_new(cara_crdt *s, const cara_buf *b, int64_t now_wall_ms)
{
    int result = 0;
    CHECK_OK(cara_crdt_apply(s, b->data, b->len, now_wall_ms, &result));
    CHECK_INT(result, ==, CARA_CRDT_APPLIED);
}

static bool same_hash(const cara_crdt *a, const cara_crdt *b)
{
    uint8_t ha[32], hb[32];
    cara_crdt_state_hash(a, ha);
    cara_crdt_state_hash(b, hb);
    return memcmp(ha, hb, sizeof ha) == 0;
}

static void check_admitted_as(const cara_crdt *s, const char *name, const tkey *node)
{
    uint8_t pk[CARA_CRDT_PK_BYTES];
    char got[CARA_CRDT_KEY_BYTES_MAX + 1];
    CHECK(cara_crdt_node_admitted(s, node->pk));
    CHECK_OK(cara_crdt_node_key_of(s, name, pk));
    CHECK_MEM(pk, sizeof pk, node->pk, sizeof pk);
    CHECK_OK(cara_crdt_node_name_of(s, node->pk, got, sizeof got));
    CHECK_STR(got, name);
}

/* Applies a record that must be refused with `want`, changing nothing but
 * the counter of `reason`. */
static void expect_refused(cara_crdt *s, const cara_buf *b, int want, int reason)
{
    uint8_t before[32], after[32];
    cara_crdt_stats st0 = tstats(s);
    cara_crdt_state_hash(s, before);
    CHECK_RC(cara_crdt_apply(s, b->data, b->len, NOW_MS, NULL), want);
    cara_crdt_state_hash(s, after);
    cara_crdt_stats st1 = tstats(s);
    CHECK(memcmp(before, after, sizeof before) == 0);
    for (int r = 0; r < CARA_CRDT_R_COUNT_; r++)
        CHECK_INT(st1.rejected[r] - st0.rejected[r], ==, r == reason ? 1 : 0);
}

/* ---- The token ----------------------------------------------------------- */

TEST(crdt_join_token_round_trips_and_only_its_own_text_parses)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + 24 * HOUR_MS, 7, &rng);
    const cara_crdt_join_token *t = &tk.t;
    CHECK(strncmp(tk.text, CARA_CRDT_JOIN_TOKEN_PREFIX, strlen(CARA_CRDT_JOIN_TOKEN_PREFIX)) == 0);
    CHECK(strspn(tk.text + strlen(CARA_CRDT_JOIN_TOKEN_PREFIX),
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
          strlen(tk.text) - strlen(CARA_CRDT_JOIN_TOKEN_PREFIX));
    CHECK_INT(t->expires_wall_ms, ==, NOW_MS + 24 * HOUR_MS);
    CHECK_INT(t->uses, ==, 7);
    CHECK_MEM(t->operator_pk, 32, op.pk, 32);
    uint8_t pk[32], sk[64];
    CHECK_OK(cara_crdt_key_from_seed(tk.seed, pk, sk));
    CHECK_MEM(t->token_pk, 32, pk, 32);
    CHECK_MEM(t->token_sk, 64, sk, 64);
    /* Formatting the parsed grant again gives the same text. */
    char again[CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    CHECK_OK(cara_crdt_join_token_format(t->grant, t->grant_bytes, tk.seed, again, sizeof again));
    CHECK_STR(again, tk.text);
    CHECK_RC(cara_crdt_join_token_format(t->grant, t->grant_bytes, tk.seed, again, 40),
             CARA_ETOOBIG);
    /* Another seed than the grant's token key is no token. */
    uint8_t other[32];
    memset(other, 7, sizeof other);
    CHECK_RC(cara_crdt_join_token_format(t->grant, t->grant_bytes, other, again, sizeof again),
             CARA_EINVAL);

    /* Every other text is refused, and leaves nothing half-filled. */
    size_t n = strlen(tk.text);
    char *dot = strrchr(tk.text, '.');
    CHECK(dot != NULL);
    char bad[2 * CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    const char *cases[8];
    char store[8][2 * CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    int k = 0;
    snprintf(store[k], sizeof store[k], "cara-join-v2.%s", tk.text + 13); /* other version */
    cases[k] = store[k], k++;
    snprintf(store[k], sizeof store[k], "%s=", tk.text); /* padding */
    cases[k] = store[k], k++;
    snprintf(store[k], sizeof store[k], "%.*s", (int)(dot - tk.text), tk.text); /* no seed */
    cases[k] = store[k], k++;
    snprintf(store[k], sizeof store[k], "%s.AAAA", tk.text); /* a third part */
    cases[k] = store[k], k++;
    /* The seed's last character carries 2 bits past its 32 bytes, which
     * the one canonical spelling leaves zero: set one. */
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *last = strchr(b64url, tk.text[n - 1]);
    CHECK(last != NULL && (last - b64url) % 4 == 0);
    snprintf(store[k], sizeof store[k], "%.*s%c", (int)(n - 1), tk.text, last[1]);
    cases[k] = store[k], k++;
    snprintf(store[k], sizeof store[k], "%s", tk.text);
    store[k][20] = store[k][20] == 'A' ? 'B' : 'A'; /* the grant changed: not canonical or not it */
    cases[k] = store[k], k++;
    cases[k++] = "";
    cases[k++] = CARA_CRDT_JOIN_TOKEN_PREFIX;
    for (int i = 0; i < k; i++) {
        cara_crdt_join_token got;
        memset(&got, 0x5a, sizeof got);
        int rc = cara_crdt_join_token_parse(cases[i], &got);
        if (rc != CARA_EPARSE)
            cara_test_fail(__FILE__, __LINE__, "case %d \"%s\": %s", i, cases[i],
                           cara_errname(rc));
        uint8_t zero[sizeof got];
        memset(zero, 0, sizeof zero);
        CHECK_MEM(&got, sizeof got, zero, sizeof zero);
    }
    /* Too long to be a token at all. */
    memset(bad, 'A', sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    memcpy(bad, CARA_CRDT_JOIN_TOKEN_PREFIX, strlen(CARA_CRDT_JOIN_TOKEN_PREFIX));
    cara_crdt_join_token got;
    CHECK_RC(cara_crdt_join_token_parse(bad, &got), CARA_EPARSE);
    CHECK_RC(cara_crdt_join_token_parse(NULL, &got), CARA_EPARSE);
    /* Grants a signer must refuse. */
    cara_buf g;
    cara_buf_init(&g, cara_test_env(), 512);
    CHECK_RC(cara_crdt_join_grant_sign(t->token_id, NOW_MS, 0, t->token_pk, op.sk, &g), CARA_EINVAL);
    CHECK_RC(cara_crdt_join_grant_sign(t->token_id, NOW_MS, CARA_CRDT_JOIN_USES_MAX + 1,
                                       t->token_pk, op.sk, &g),
             CARA_EINVAL);
    CHECK_RC(cara_crdt_join_grant_sign(t->token_id, -1, 1, t->token_pk, op.sk, &g), CARA_EINVAL);
    CHECK_INT(g.len, ==, 0);
    cara_buf_free(&g);
    cara_crdt_join_token_wipe(&tk.t);
    uint8_t zero[sizeof tk.t];
    memset(zero, 0, sizeof zero);
    CHECK_MEM(&tk.t, sizeof tk.t, zero, sizeof zero);
}

/* ---- Admission by token -------------------------------------------------- */

TEST(crdt_join_admits_its_author_and_its_node_records)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + HOUR_MS, 1, &rng);
    cara_crdt *s = treplica(&op, 1);
    /* The node's own record and a status arrive before its join: held. */
    cara_buf node_rec, status, join;
    trec(&node_rec, CARA_CRDT_NODE, "n1", 1, HLC(NOW_MS, 2), &node, "node", 4);
    trec(&status, CARA_CRDT_STATUS, "web", 1, HLC(NOW_MS, 3), &node, "up", 2);
    CHECK_RC(cara_crdt_apply(s, node_rec.data, node_rec.len, NOW_MS, NULL), CARA_ENOTADMITTED);
    CHECK_RC(cara_crdt_apply(s, status.data, status.len, NOW_MS, NULL), CARA_EUNTRUSTED);
    CHECK_INT(tstats(s).held_count, ==, 2);
    join_rec(&join, &tk.t, &node, "n1", HLC(NOW_MS, 1));
    CHECK_OK(cara_crdt_join_check(s, join.data, join.len, NOW_MS));
    CHECK_INT(tstats(s).records_count, ==, 0); /* the check changed nothing */
    apply_new(s, &join, NOW_MS);
    check_admitted_as(s, "n1", &node);
    /* Held records were released by the join, as by an admission. */
    cara_crdt_stats st = tstats(s);
    CHECK_INT(st.held_count, ==, 0);
    CHECK_INT(st.records_count, ==, 3);
    cara_crdt_record r;
    CHECK_OK(cara_crdt_get(s, CARA_CRDT_NODE, (const uint8_t *)"n1", 2, &r));
    CHECK_OK(cara_crdt_get_by(s, CARA_CRDT_STATUS, (const uint8_t *)"web", 3, node.pk, &r));
    CHECK_OK(cara_crdt_get_by(s, CARA_CRDT_JOIN, (const uint8_t *)"n1", 2, node.pk, &r));
    CHECK_RC(cara_crdt_get(s, CARA_CRDT_JOIN, (const uint8_t *)"n1", 2, &r), CARA_ENOENT);
    /* Asked again, even after expiry, the seed says it is in. */
    CHECK_OK(cara_crdt_join_check(s, join.data, join.len, NOW_MS + 2 * HOUR_MS));
    /* A later node record of the joined node is accepted directly. */
    cara_buf node2;
    trec(&node2, CARA_CRDT_NODE, "n1", 2, HLC(NOW_MS, 9), &node, "node2", 5);
    apply_new(s, &node2, NOW_MS);
    /* But not one under a name it did not join as. */
    cara_buf other;
    trec(&other, CARA_CRDT_NODE, "n2", 1, HLC(NOW_MS, 9), &node, "node", 4);
    CHECK_RC(cara_crdt_apply(s, other.data, other.len, NOW_MS, NULL), CARA_ENOTADMITTED);
    cara_buf_free(&other);
    cara_buf_free(&node2);
    cara_buf_free(&join);
    cara_buf_free(&status);
    cara_buf_free(&node_rec);
    cara_crdt_free(s);
}

TEST(crdt_join_expired_is_refused_by_its_stamp_and_at_the_seed_by_now)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    ttoken tk;
    int64_t expires = NOW_MS - 1000;
    token_make(&tk, &op, expires, 1, &rng);
    cara_crdt *s = treplica(&op, 1);
    /* Stamped before the expiry: valid for the state (replicas judge the
     * stamp, not their clock), but the seed refuses it now. */
    cara_buf ok_stamp;
    join_rec(&ok_stamp, &tk.t, &node, "n1", HLC(expires, 0));
    CHECK_RC(cara_crdt_join_check(s, ok_stamp.data, ok_stamp.len, NOW_MS), CARA_EEXPIRED);
    CHECK_OK(cara_crdt_join_check(s, ok_stamp.data, ok_stamp.len, expires));
    /* A node cannot sign a join stamped after the expiry... */
    cara_buf late;
    cara_buf_init(&late, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    CHECK_RC(cara_crdt_join_record_sign(&tk.t, node.pk, node.sk, "n1", HLC(expires + 1, 0), &late),
             CARA_EEXPIRED);
    cara_buf_free(&late);
    /* ...and one that does (lying about the expiry to its own signer) is
     * refused by every replica, whatever the replica's clock. */
    cara_crdt_join_token lying = tk.t;
    lying.expires_wall_ms = NOW_MS + HOUR_MS;
    join_rec(&late, &lying, &node, "n1", HLC(NOW_MS, 0));
    expect_refused(s, &late, CARA_EEXPIRED, CARA_CRDT_R_EXPIRED);
    CHECK_RC(cara_crdt_join_check(s, late.data, late.len, expires - 5000), CARA_EEXPIRED);
    CHECK(!cara_crdt_node_admitted(s, node.pk));
    CHECK_STR(cara_crdt_reason_name(CARA_CRDT_R_EXPIRED), "expired_token");
    CHECK_STR(cara_strerror(CARA_EEXPIRED), "join token expired");
    /* The one stamped in time is accepted by a replica. */
    apply_new(s, &ok_stamp, NOW_MS);
    check_admitted_as(s, "n1", &node);
    cara_buf_free(&late);
    cara_buf_free(&ok_stamp);
    cara_crdt_free(s);
}

TEST(crdt_join_with_a_grant_of_an_unknown_operator_is_refused)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, stranger, node;
    tkey_make(&op, &rng);
    tkey_make(&stranger, &rng);
    tkey_make(&node, &rng);
    ttoken tk;
    token_make(&tk, &stranger, NOW_MS + HOUR_MS, 1, &rng);
    cara_crdt *s = treplica(&op, 1);
    cara_buf join;
    join_rec(&join, &tk.t, &node, "n1", HLC(NOW_MS, 1));
    CHECK_RC(cara_crdt_join_check(s, join.data, join.len, NOW_MS), CARA_EUNTRUSTED);
    expect_refused(s, &join, CARA_EUNTRUSTED, CARA_CRDT_R_UNTRUSTED);
    cara_buf_free(&join);
    /* The stranger's grant relabelled as the operator's: the operator_pk is
     * the last field of the grant body, just before the signature. */
    cara_crdt_join_token forged = tk.t;
    size_t at = forged.grant_bytes - (2 + CARA_CRDT_SIG_BYTES) - CARA_CRDT_PK_BYTES;
    CHECK_MEM(forged.grant + at, 32, stranger.pk, 32);
    memcpy(forged.grant + at, op.pk, 32);
    join_rec(&join, &forged, &node, "n1", HLC(NOW_MS, 1));
    CHECK_RC(cara_crdt_join_check(s, join.data, join.len, NOW_MS), CARA_EBADSIG);
    expect_refused(s, &join, CARA_EBADSIG, CARA_CRDT_R_BADSIG);
    CHECK(!cara_crdt_node_admitted(s, node.pk));
    CHECK_INT(tstats(s).records_count, ==, 0);
    cara_buf_free(&join);
    cara_crdt_free(s);
}

TEST(crdt_join_with_a_forged_token_signature_is_refused)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node, other;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    tkey_make(&other, &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + HOUR_MS, 1, &rng);
    cara_crdt *s = treplica(&op, 1);
    /* Someone who saw the grant (it travels in every JOIN record) but holds
     * no token seed signs with a key of its own. */
    cara_crdt_join_token forged = tk.t;
    memcpy(forged.token_sk, other.sk, sizeof forged.token_sk);
    cara_buf join;
    join_rec(&join, &forged, &node, "n1", HLC(NOW_MS, 1));
    CHECK_RC(cara_crdt_join_check(s, join.data, join.len, NOW_MS), CARA_EBADSIG);
    expect_refused(s, &join, CARA_EBADSIG, CARA_CRDT_R_BADSIG);
    cara_buf_free(&join);
    /* A genuine join replayed under another author's key: the token signed
     * `node`, the record says `other`. */
    cara_buf good;
    join_rec(&good, &tk.t, &node, "n1", HLC(NOW_MS, 1));
    cara_crdt_record r;
    CHECK_OK(cara_crdt_record_decode(good.data, good.len, &r));
    cara_crdt_record stolen = r;
    stolen.author = other.pk;
    cara_buf_init(&join, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    CHECK_OK(cara_crdt_record_sign(&stolen, other.sk, &join));
    CHECK_RC(cara_crdt_join_check(s, join.data, join.len, NOW_MS), CARA_EWRONGAUTHOR);
    expect_refused(s, &join, CARA_EWRONGAUTHOR, CARA_CRDT_R_WRONG_AUTHOR);
    /* Not a JOIN record at all, or garbage. */
    CHECK_RC(cara_crdt_join_check(s, (const uint8_t *)"x", 1, NOW_MS), CARA_EPARSE);
    cara_buf adm;
    tadmission(&adm, "n1", 1, HLC(NOW_MS, 1), &op, &node, true);
    CHECK_RC(cara_crdt_join_check(s, adm.data, adm.len, NOW_MS), CARA_EPARSE);
    CHECK(!cara_crdt_node_admitted(s, node.pk));
    apply_new(s, &good, NOW_MS);
    CHECK(cara_crdt_node_admitted(s, node.pk) && !cara_crdt_node_admitted(s, other.pk));
    cara_buf_free(&adm);
    cara_buf_free(&good);
    cara_buf_free(&join);
    cara_crdt_free(s);
}

/* ---- Uses ---------------------------------------------------------------- */

#define USES_JOINERS 3
#define USES_REPLICAS 4
#define USES_HISTORIES 60

/* The joiners in effect must be the `uses` oldest by (HLC, key). */
static int cmp_hlc_key(const uint64_t *ha, const tkey *ka, const uint64_t *hb, const tkey *kb)
{
    if (*ha != *hb)
        return *ha < *hb ? -1 : 1;
    return memcmp(ka->pk, kb->pk, CARA_CRDT_PK_BYTES);
}

TEST(crdt_join_token_of_two_uses_admits_the_same_two_of_three_on_every_replica)
{
    uint64_t seed = cara_test_seed();
    printf("seed=%llu\n", (unsigned long long)seed);
    cara_rng rng;
    cara_rng_seed(&rng, seed);
    for (int h = 0; h < USES_HISTORIES; h++) {
        tkey op, nodes[USES_JOINERS];
        tkey_make(&op, &rng);
        ttoken tk;
        token_make(&tk, &op, NOW_MS + HOUR_MS, 2, &rng);
        cara_buf joins[USES_JOINERS], node_recs[USES_JOINERS];
        uint64_t hlcs[USES_JOINERS];
        for (int i = 0; i < USES_JOINERS; i++) {
            char name[16];
            snprintf(name, sizeof name, "n%d", i);
            tkey_make(&nodes[i], &rng);
            /* Few distinct stamps, so that ties are common. */
            hlcs[i] = HLC(NOW_MS, cara_rng_below(&rng, 3));
            join_rec(&joins[i], &tk.t, &nodes[i], name, hlcs[i]);
            trec(&node_recs[i], CARA_CRDT_NODE, name, 1, HLC(NOW_MS, 10), &nodes[i], "n", 1);
        }
        /* Which two are oldest by (HLC, key). */
        int order[USES_JOINERS] = {0, 1, 2};
        for (int i = 0; i < USES_JOINERS; i++)
            for (int j = i + 1; j < USES_JOINERS; j++)
                if (cmp_hlc_key(&hlcs[order[j]], &nodes[order[j]], &hlcs[order[i]],
                                &nodes[order[i]]) < 0) {
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        cara_crdt *reps[USES_REPLICAS];
        for (int r = 0; r < USES_REPLICAS; r++) {
            reps[r] = treplica(&op, 1);
            /* Joins and node records in a random order; each replica its own. */
            int idx[2 * USES_JOINERS];
            for (int i = 0; i < 2 * USES_JOINERS; i++)
                idx[i] = i;
            for (int i = 2 * USES_JOINERS - 1; i > 0; i--) {
                int j = (int)cara_rng_below(&rng, (uint64_t)i + 1), t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
            for (int i = 0; i < 2 * USES_JOINERS; i++) {
                const cara_buf *b = idx[i] < USES_JOINERS ? &joins[idx[i]]
                                                          : &node_recs[idx[i] - USES_JOINERS];
                int rc = cara_crdt_apply(reps[r], b->data, b->len, NOW_MS, NULL);
                CHECK(rc == 0 || rc == CARA_ENOTADMITTED);
            }
            CHECK(cara_crdt_node_admitted(reps[r], nodes[order[0]].pk));
            CHECK(cara_crdt_node_admitted(reps[r], nodes[order[1]].pk));
            CHECK(!cara_crdt_node_admitted(reps[r], nodes[order[2]].pk));
            cara_crdt_stats st = tstats(reps[r]);
            CHECK_INT(st.joins_used_up, ==, 1);
            CHECK_INT(st.records_count, ==, USES_JOINERS + 2); /* 3 joins, 2 node records */
            /* The seed tells the third why. */
            CHECK_RC(cara_crdt_join_check(reps[r], joins[order[2]].data, joins[order[2]].len,
                                          NOW_MS),
                     CARA_EUSEDUP);
            CHECK_OK(cara_crdt_join_check(reps[r], joins[order[0]].data, joins[order[0]].len,
                                          NOW_MS));
            if (r > 0 && !same_hash(reps[r], reps[0]))
                cara_test_fail(__FILE__, __LINE__, "history %d: replica %d differs (seed %llu)", h,
                               r, (unsigned long long)seed);
        }
        /* A replica that learns everything by anti-entropy agrees too. */
        cara_crdt *late = treplica(&op, 1);
        tsync(late, reps[h % USES_REPLICAS], NOW_MS, NULL);
        CHECK(same_hash(late, reps[0]));
        CHECK(cara_crdt_node_admitted(late, nodes[order[1]].pk) &&
              !cara_crdt_node_admitted(late, nodes[order[2]].pk));
        cara_crdt_free(late);
        for (int r = 0; r < USES_REPLICAS; r++)
            cara_crdt_free(reps[r]);
        for (int i = 0; i < USES_JOINERS; i++) {
            cara_buf_free(&joins[i]);
            cara_buf_free(&node_recs[i]);
        }
    }
}

TEST(crdt_join_of_a_name_already_joined_or_admitted_takes_no_effect)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, a, b, c;
    tkey_make(&op, &rng);
    tkey_make(&a, &rng);
    tkey_make(&b, &rng);
    tkey_make(&c, &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + HOUR_MS, 3, &rng);
    cara_crdt *s = treplica(&op, 1);
    cara_buf ja, jb, adm, jc;
    join_rec(&ja, &tk.t, &a, "n1", HLC(NOW_MS, 1));
    join_rec(&jb, &tk.t, &b, "n1", HLC(NOW_MS, 2)); /* a later claim on the same name */
    apply_new(s, &jb, NOW_MS);
    check_admitted_as(s, "n1", &b);
    apply_new(s, &ja, NOW_MS); /* the earlier one arrives: it holds the name */
    check_admitted_as(s, "n1", &a);
    CHECK(!cara_crdt_node_admitted(s, b.pk));
    CHECK_RC(cara_crdt_join_check(s, jb.data, jb.len, NOW_MS), CARA_EEXIST);
    /* A name the operator admitted is the operator's. */
    tadmission(&adm, "n2", 1, HLC(NOW_MS, 5), &op, &c, true);
    apply_new(s, &adm, NOW_MS);
    join_rec(&jc, &tk.t, &b, "n2", HLC(NOW_MS, 1));
    CHECK_RC(cara_crdt_join_check(s, jc.data, jc.len, NOW_MS), CARA_EEXIST);
    apply_new(s, &jc, NOW_MS);
    check_admitted_as(s, "n2", &c);
    CHECK(!cara_crdt_node_admitted(s, b.pk));
    cara_buf_free(&ja);
    cara_buf_free(&jb);
    cara_buf_free(&jc);
    cara_buf_free(&adm);
    cara_crdt_free(s);
}

/* ---- The operator's word -------------------------------------------------- */

TEST(crdt_join_loses_to_an_operator_revocation_whatever_the_order_or_stamps)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + HOUR_MS, 1, &rng);
    cara_buf revoke, join, node_rec, status;
    tadmission(&revoke, "n1", 1, HLC(NOW_MS, 1), &op, &node, false);
    join_rec(&join, &tk.t, &node, "n1", HLC(NOW_MS, 50)); /* later than the revocation */
    trec(&node_rec, CARA_CRDT_NODE, "n1", 1, HLC(NOW_MS, 51), &node, "n", 1);
    trec(&status, CARA_CRDT_STATUS, "web", 1, HLC(NOW_MS, 52), &node, "up", 2);

    /* Joined first, records accepted, then revoked: they are purged. */
    cara_crdt *a = treplica(&op, 1);
    apply_new(a, &join, NOW_MS);
    apply_new(a, &node_rec, NOW_MS);
    apply_new(a, &status, NOW_MS);
    CHECK_INT(tstats(a).records_count, ==, 3);
    apply_new(a, &revoke, NOW_MS);
    CHECK(!cara_crdt_node_admitted(a, node.pk));
    cara_crdt_stats st = tstats(a);
    CHECK_INT(st.purged, ==, 2);
    CHECK_INT(st.records_count, ==, 2); /* the revocation and the join, kept without effect */
    CHECK_RC(cara_crdt_join_check(a, join.data, join.len, NOW_MS), CARA_ENOTADMITTED);

    /* Revoked first: the later join does not bring the node back. */
    cara_crdt *b = treplica(&op, 1);
    apply_new(b, &revoke, NOW_MS);
    CHECK_RC(cara_crdt_join_check(b, join.data, join.len, NOW_MS), CARA_ENOTADMITTED);
    apply_new(b, &join, NOW_MS);
    CHECK_RC(cara_crdt_apply(b, node_rec.data, node_rec.len, NOW_MS, NULL), CARA_ENOTADMITTED);
    CHECK(!cara_crdt_node_admitted(b, node.pk));
    CHECK(same_hash(a, b));

    /* An operator's admission of the same key under another name decides
     * its name: the token does not add a second. */
    cara_crdt *c = treplica(&op, 1);
    cara_buf adm;
    tadmission(&adm, "m1", 1, HLC(NOW_MS, 90), &op, &node, true);
    apply_new(c, &join, NOW_MS);
    apply_new(c, &adm, NOW_MS);
    check_admitted_as(c, "m1", &node);
    uint8_t pk[CARA_CRDT_PK_BYTES];
    CHECK_RC(cara_crdt_node_key_of(c, "n1", pk), CARA_ENOENT);
    CHECK_RC(cara_crdt_join_check(c, join.data, join.len, NOW_MS), CARA_EEXIST);
    cara_buf_free(&adm);
    cara_crdt_free(c);
    cara_crdt_free(b);
    cara_crdt_free(a);
    cara_buf_free(&status);
    cara_buf_free(&node_rec);
    cara_buf_free(&join);
    cara_buf_free(&revoke);
}

TEST(crdt_join_counts_against_nodes_max)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, n0, n1;
    tkey_make(&op, &rng);
    tkey_make(&n0, &rng);
    tkey_make(&n1, &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + HOUR_MS, 5, &rng);
    cara_crdt_cfg cfg = {.nodes_max = 1};
    cara_crdt *s = treplica_cfg(&op, &cfg);
    cara_buf adm, join;
    tadmission(&adm, "n0", 1, HLC(NOW_MS, 1), &op, &n0, true);
    join_rec(&join, &tk.t, &n1, "n1", HLC(NOW_MS, 2));
    apply_new(s, &adm, NOW_MS);
    CHECK_RC(cara_crdt_join_check(s, join.data, join.len, NOW_MS), CARA_ELIMIT);
    apply_new(s, &join, NOW_MS);
    CHECK(!cara_crdt_node_admitted(s, n1.pk));
    CHECK_INT(tstats(s).admissions_over_cap, ==, 1);
    /* Room made by a revocation: the join takes effect. */
    cara_buf revoke;
    tadmission(&revoke, "n0", 2, HLC(NOW_MS, 3), &op, &n0, false);
    apply_new(s, &revoke, NOW_MS);
    check_admitted_as(s, "n1", &n1);
    cara_buf_free(&revoke);
    cara_buf_free(&join);
    cara_buf_free(&adm);
    cara_crdt_free(s);
}

/* The admitted set kept without a rebuild (crdt_admit_one, the common case
 * of new admissions) must be the set a rebuild gives: keys, names, order.
 * Admissions of new and reused names with stamps out of order, revocations,
 * a key admitted twice, joins and a small cap, in random order, each
 * followed by the comparison. */
TEST(crdt_admitted_set_kept_in_place_is_what_a_rebuild_gives)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    enum { KEYS = 24 };
    tkey keys[KEYS];
    for (size_t i = 0; i < KEYS; i++)
        tkey_make(&keys[i], &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + HOUR_MS, 3, &rng);
    for (int round = 0; round < 6; round++) {
        cara_crdt_cfg cfg = {.nodes_max = round % 2 == 0 ? 0 : 12};
        cara_crdt *s = treplica_cfg(&op, &cfg);
        for (int step = 0; step < 60; step++) {
            char name[16];
            size_t k = cara_rng_below(&rng, KEYS);
            snprintf(name, sizeof name, "n%u", (unsigned)cara_rng_below(&rng, 30));
            uint64_t hlc = HLC(NOW_MS - (int64_t)cara_rng_below(&rng, 1000), step);
            cara_buf b;
            /* Joins only in the later rounds: the first ones keep the
             * fast path's conditions for longer. */
            if (round >= 4 && cara_rng_below(&rng, 8) == 0)
                join_rec(&b, &tk.t, &keys[k], name, hlc);
            else
                tadmission(&b, name, 1 + (uint64_t)step, hlc, &op, &keys[k],
                           cara_rng_below(&rng, 6) != 0);
            int result = 0;
            (void)cara_crdt_apply(s, b.data, b.len, NOW_MS, &result);
            cara_buf_free(&b);
            CHECK(crdt_admitted_consistent(s));
            for (size_t i = 0; i < KEYS; i++) {
                bool listed = false;
                for (size_t a = 0; a < cara_crdt_admitted_count(s); a++) {
                    uint8_t pk[CARA_CRDT_PK_BYTES];
                    const char *nm;
                    size_t nl;
                    CHECK_OK(cara_crdt_admitted_at(s, a, pk, &nm, &nl));
                    listed |= memcmp(pk, keys[i].pk, CARA_CRDT_PK_BYTES) == 0;
                }
                CHECK(cara_crdt_node_admitted(s, keys[i].pk) == listed);
            }
        }
        cara_crdt_free(s);
    }
}

/* ---- Convergence ---------------------------------------------------------- */

static int append_if(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len,
                     bool node)
{
    if ((r->kind == CARA_CRDT_NODE) == node)
        CHECK_OK(cara_buf_append(ctx, bytes, len));
    return 0;
}

static int append_if_node(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    return append_if(ctx, r, bytes, len, true);
}

static int append_if_not_node(void *ctx, const cara_crdt_record *r, const uint8_t *bytes,
                              size_t len)
{
    return append_if(ctx, r, bytes, len, false);
}

TEST(crdt_join_state_converges_over_anti_entropy_and_reloads)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, nodes[4];
    tkey_make(&op, &rng);
    ttoken tk;
    token_make(&tk, &op, NOW_MS + HOUR_MS, 3, &rng);
    cara_crdt *a = treplica(&op, 1), *b = treplica(&op, 1);
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        tkey_make(&nodes[i], &rng);
        cara_buf join, node_rec;
        join_rec(&join, &tk.t, &nodes[i], name, HLC(NOW_MS, 10 - i));
        trec(&node_rec, CARA_CRDT_NODE, name, 1, HLC(NOW_MS, 20), &nodes[i], "n", 1);
        /* Half on each side; node records on the other side from their join. */
        cara_crdt *mine = i % 2 ? a : b, *other = i % 2 ? b : a;
        apply_new(mine, &join, NOW_MS);
        CHECK_RC(cara_crdt_apply(other, node_rec.data, node_rec.len, NOW_MS, NULL),
                 CARA_ENOTADMITTED);
        cara_buf_free(&join);
        cara_buf_free(&node_rec);
    }
    CHECK(!same_hash(a, b));
    tsync(a, b, NOW_MS, NULL);
    tsync(b, a, NOW_MS, NULL);
    CHECK(same_hash(a, b));
    /* n0 (stamp 10) is the newest: uses=3 leaves it out. Node records held
     * on the other side were released when the joins arrived. */
    for (int i = 1; i < 4; i++)
        CHECK(cara_crdt_node_admitted(a, nodes[i].pk) && cara_crdt_node_admitted(b, nodes[i].pk));
    CHECK(!cara_crdt_node_admitted(a, nodes[0].pk));
    /* A replica fed a's records in one batch, node records first in the
     * bytes (apply_batch applies joins first, as the store loads them). */
    cara_buf all;
    cara_buf_init(&all, cara_test_env(), CARA_CRDT_DELTA_BYTES_MAX);
    CHECK_OK(cara_crdt_foreach(a, append_if_node, &all));
    CHECK_OK(cara_crdt_foreach(a, append_if_not_node, &all));
    cara_crdt *c = treplica(&op, 1);
    CHECK_OK(cara_crdt_apply_batch(c, all.data, all.len, NOW_MS, NULL));
    CHECK(same_hash(a, c));
    cara_crdt_free(c);
    cara_buf_free(&all);
    cara_crdt_free(a);
    cara_crdt_free(b);
}
