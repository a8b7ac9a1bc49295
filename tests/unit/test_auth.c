/* Request signatures (src/crdt/reqsig.c) and their verifier in the agent
 * (src/agent/auth.c): the message format of docs/api.md, each refusal
 * reason, and the bounds of the replay cache. */
#include <sodium.h>

#include "agent/auth.h"
#include "crdt/crdt.h"
#include "harness.h"

#define NOW_MS 1790000000000LL
#define WINDOW_MS 60000LL

static const char *const BODY = "{\"record\":\"AA==\"}";
/* BLAKE2b-256, computed apart (Python's hashlib.blake2b(digest_size=32)). */
static const char *const BODY_HASH =
    "c7a13a606514905c95e325b738a3b8f30a1c9b9dd8361f1308b027c58132a414";
static const char *const EMPTY_HASH =
    "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8";

typedef struct keys {
    uint8_t pk[CARA_CRDT_PK_BYTES];
    uint8_t sk[CARA_CRDT_SK_BYTES];
} keys;

static keys key_of(uint8_t fill)
{
    keys k;
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    memset(seed, fill, sizeof seed);
    CHECK(sodium_init() >= 0);
    CHECK_OK(cara_crdt_key_from_seed(seed, k.pk, k.sk));
    return k;
}

static cara_auth *verifier(const keys *trusted, size_t nonces_max)
{
    cara_auth *a;
    const uint8_t(*pks)[CARA_CRDT_PK_BYTES] = &trusted->pk;
    cara_auth_cfg cfg = {.operator_pks = pks, .operator_pks_count = 1, .nonces_max = nonces_max};
    CHECK_OK(cara_auth_new(&a, &cfg, cara_test_env()));
    return a;
}

/* The node most tests' requests are sent to, and another one. */
static keys node_a(void)
{
    return key_of(0xa0);
}

static keys node_b(void)
{
    return key_of(0xb0);
}

/* A signed request with BODY and nonce bytes all `nonce_fill`, signed for
 * `node` and received there. */
typedef struct signed_req {
    cara_reqsig_headers h;
    cara_auth_request req;
    keys node;
} signed_req;

static void sign_for(signed_req *s, const keys *k, const keys *node, const char *method,
                     const char *target, int64_t time_wall_ms, uint8_t nonce_fill)
{
    uint8_t nonce[CARA_REQSIG_NONCE_BYTES];
    memset(nonce, nonce_fill, sizeof nonce);
    CHECK_OK(cara_crdt_reqsig_sign(k->sk, node->pk, method, target, time_wall_ms, nonce,
                                   (const uint8_t *)BODY, strlen(BODY), cara_test_env(),
                                   &s->h));
    s->node = *node;
    s->req = (cara_auth_request){
        .method = method, .target = target,
        .body = (const uint8_t *)BODY, .body_len = strlen(BODY),
        .key = s->h.key, .node = s->h.node, .time = s->h.time, .nonce = s->h.nonce,
        .sig = s->h.sig, .receiver_pk = s->node.pk,
    };
}

static void sign(signed_req *s, const keys *k, const char *method, const char *target,
                 int64_t time_wall_ms, uint8_t nonce_fill)
{
    keys a = node_a();
    sign_for(s, k, &a, method, target, time_wall_ms, nonce_fill);
}

/* Checks at wall clock `now_wall` and monotonic clock `now_mono`. */
static int check_at(cara_auth *a, const cara_auth_request *req, int64_t now_wall,
                    int64_t now_mono, int want_reason)
{
    int reason = -1;
    int rc = cara_auth_check(a, req, now_wall, now_mono, &reason);
    if (reason != want_reason)
        cara_test_fail(__FILE__, __LINE__, "reason %s, want %s (rc %s)",
                       cara_auth_reason_name(reason), cara_auth_reason_name(want_reason),
                       cara_errname(rc));
    return rc;
}

/* Most tests keep both clocks together: the monotonic one reads as the wall. */
static int check(cara_auth *a, const cara_auth_request *req, int64_t now, int want_reason)
{
    return check_at(a, req, now, now, want_reason);
}

/* ---- The message ------------------------------------------------------------- */

#define NODE_HEX "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

static char *message(const char *method, const char *target, const char *time,
                     const char *nonce, const char *body)
{
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), 1 << 16);
    CHECK_OK(cara_crdt_reqsig_message(NODE_HEX, method, target, time, nonce,
                                      (const uint8_t *)body, strlen(body), &b));
    size_t len;
    return (char *)cara_buf_take(&b, &len);
}

TEST(reqsig_message_is_the_exact_text_of_the_documented_format)
{
    char *m = message("PUT", "/v1/projects/web?durable=2", "1790000000123",
                      "00112233445566778899aabbccddeeff", BODY);
    char want[512];
    snprintf(want, sizeof want,
             "cara-request-v2\n" NODE_HEX "\nPUT\n/v1/projects/web?durable=2\n1790000000123\n"
             "00112233445566778899aabbccddeeff\n%s", BODY_HASH);
    CHECK_STR(m, want);
    free(m);
    m = message("GET", "/v1/projects", "5", "ffffffffffffffffffffffffffffffff", "");
    snprintf(want, sizeof want,
             "cara-request-v2\n" NODE_HEX "\nGET\n/v1/projects\n5\n"
             "ffffffffffffffffffffffffffffffff\n%s",
             EMPTY_HASH);
    CHECK_STR(m, want);
    free(m);
}

/* Reads the template line from docs/api.md itself, fills it in, and
 * compares: the document and the code cannot drift apart unnoticed. */
TEST(reqsig_message_matches_the_template_in_docs_api_md)
{
    char path[4096];
    const char *root = getenv("CARA_SRC_ROOT");
    snprintf(path, sizeof path, "%s/docs/api.md", root ? root : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[1024], tmpl[1024] = "";
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "cara-request-v2\\n", 17) == 0)
            snprintf(tmpl, sizeof tmpl, "%s", line);
    fclose(f);
    CHECK(tmpl[0] != '\0');
    tmpl[strcspn(tmpl, "\r\n")] = '\0';
    const char *fields[][2] = {{"{NODE}", NODE_HEX}, {"{METHOD}", "DELETE"}, {"{TARGET}", "/v1/projects/a%20b?force=1"},
                               {"{TIME}", "1790000000000"},
                               {"{NONCE}", "0123456789abcdef0123456789abcdef"},
                               {"{BODY_HASH}", BODY_HASH}, {"\\n", "\n"}};
    char out[2048] = "";
    for (const char *p = tmpl; *p;) {
        size_t i;
        for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            size_t n = strlen(fields[i][0]);
            if (strncmp(p, fields[i][0], n) == 0) {
                strcat(out, fields[i][1]);
                p += n;
                break;
            }
        }
        if (i == sizeof fields / sizeof fields[0]) {
            size_t n = strlen(out);
            out[n] = *p++;
            out[n + 1] = '\0';
        }
    }
    char *m = message("DELETE", "/v1/projects/a%20b?force=1", "1790000000000",
                      "0123456789abcdef0123456789abcdef", BODY);
    CHECK_STR(m, out);
    free(m);
}

TEST(reqsig_message_refuses_newlines_and_empty_fields)
{
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), 1 << 16);
    CHECK_RC(cara_crdt_reqsig_message(NODE_HEX, "GET", "/a\nb", "1", "00", NULL, 0, &b),
             CARA_EINVAL);
    CHECK_RC(cara_crdt_reqsig_message(NODE_HEX, "G\nT", "/a", "1", "00", NULL, 0, &b),
             CARA_EINVAL);
    CHECK_RC(cara_crdt_reqsig_message(NODE_HEX, "GET", "", "1", "00", NULL, 0, &b), CARA_EINVAL);
    /* The node is exactly 64 hex digits: no newline can hide in it. */
    CHECK_RC(cara_crdt_reqsig_message("", "GET", "/a", "1", "00", NULL, 0, &b), CARA_EINVAL);
    CHECK_RC(cara_crdt_reqsig_message(NODE_HEX "\n", "GET", "/a", "1", "00", NULL, 0, &b),
             CARA_EINVAL);
    char node[] = NODE_HEX;
    node[10] = 'g';
    CHECK_RC(cara_crdt_reqsig_message(node, "GET", "/a", "1", "00", NULL, 0, &b), CARA_EINVAL);
    CHECK_INT(b.len, ==, 0);
    cara_buf_free(&b);
}

TEST(reqsig_sign_fills_headers_that_parse_and_verify)
{
    keys k = key_of(1);
    signed_req s;
    sign(&s, &k, "PUT", "/v1/projects/web", NOW_MS, 7);
    CHECK_INT(strlen(s.h.key), ==, 64);
    CHECK_INT(strlen(s.h.node), ==, 64);
    CHECK_INT(strlen(s.h.nonce), ==, 32);
    CHECK_INT(strlen(s.h.sig), ==, 128);
    CHECK_STR(s.h.time, "1790000000000");
    cara_reqsig_parsed p;
    CHECK_OK(cara_crdt_reqsig_parse(s.h.key, s.h.node, s.h.time, s.h.nonce, s.h.sig, &p));
    CHECK_MEM(p.pk, 32, k.pk, 32);
    CHECK_MEM(p.node_pk, 32, s.node.pk, 32);
    CHECK_INT(p.time_wall_ms, ==, NOW_MS);
    CHECK_OK(cara_crdt_reqsig_verify(&p, "PUT", "/v1/projects/web", (const uint8_t *)BODY,
                                     strlen(BODY), cara_test_env()));
    CHECK_RC(cara_crdt_reqsig_verify(&p, "PUT", "/v1/projects/web", NULL, 0, cara_test_env()),
             CARA_EBADSIG);
}

TEST(reqsig_parse_accepts_only_the_documented_forms)
{
    keys k = key_of(1);
    signed_req s;
    sign(&s, &k, "GET", "/v1/nodes", NOW_MS, 1);
    cara_reqsig_parsed p;
    const char *bad_times[] = {"", "-1", "+5", "0123", "12a", "99999999999999999999",
                               "9999999999999999999", " 1"};
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++)
        CHECK_RC(cara_crdt_reqsig_parse(s.h.key, s.h.node, bad_times[i], s.h.nonce, s.h.sig, &p),
                 CARA_EPARSE);
    CHECK_OK(cara_crdt_reqsig_parse(s.h.key, s.h.node, "0", s.h.nonce, s.h.sig, &p));
    char shortkey[64];
    snprintf(shortkey, sizeof shortkey, "%.63s", s.h.key);
    CHECK_RC(cara_crdt_reqsig_parse(shortkey, s.h.node, s.h.time, s.h.nonce, s.h.sig, &p),
             CARA_EPARSE);
    CHECK_RC(cara_crdt_reqsig_parse(s.h.key, shortkey, s.h.time, s.h.nonce, s.h.sig, &p),
             CARA_EPARSE);
    char longnonce[40];
    snprintf(longnonce, sizeof longnonce, "%s00", s.h.nonce);
    CHECK_RC(cara_crdt_reqsig_parse(s.h.key, s.h.node, s.h.time, longnonce, s.h.sig, &p),
             CARA_EPARSE);
    char badsig[CARA_REQSIG_SIG_HEX_BYTES];
    memcpy(badsig, s.h.sig, sizeof badsig);
    badsig[10] = 'g';
    CHECK_RC(cara_crdt_reqsig_parse(s.h.key, s.h.node, s.h.time, s.h.nonce, badsig, &p),
             CARA_EPARSE);
    CHECK_RC(cara_crdt_reqsig_parse(NULL, s.h.node, s.h.time, s.h.nonce, s.h.sig, &p),
             CARA_EPARSE);
    CHECK_RC(cara_crdt_reqsig_parse(s.h.key, NULL, s.h.time, s.h.nonce, s.h.sig, &p),
             CARA_EPARSE);
}

/* ---- The verifier -------------------------------------------------------------- */

TEST(auth_accepts_a_valid_request_and_counts_it)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 0);
    signed_req s;
    sign(&s, &k, "PUT", "/v1/projects/web?durable=2", NOW_MS, 1);
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    /* Anywhere in the window, either side. */
    sign(&s, &k, "PUT", "/v1/projects/web", NOW_MS - WINDOW_MS, 2);
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    sign(&s, &k, "PUT", "/v1/projects/web", NOW_MS + WINDOW_MS, 3);
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.accepted, ==, 3);
    CHECK_INT(st.nonces_count, ==, 3);
    cara_auth_free(a);
}

TEST(auth_refuses_missing_or_malformed_headers_as_missing_signature)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 0);
    signed_req s;
    sign(&s, &k, "PUT", "/v1/projects/web", NOW_MS, 1);
    cara_auth_request r = s.req;
    r.sig = NULL;
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_MISSING_SIGNATURE), CARA_EPARSE);
    r = s.req;
    r.key = r.time = r.nonce = r.sig = NULL;
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_MISSING_SIGNATURE), CARA_EPARSE);
    r = s.req;
    r.nonce = "not hex at all, not hex at all!!";
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_MISSING_SIGNATURE), CARA_EPARSE);
    r = s.req;
    r.time = "1790000000000.5";
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_MISSING_SIGNATURE), CARA_EPARSE);
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.refused[CARA_AUTH_MISSING_SIGNATURE], ==, 4);
    CHECK_INT(st.nonces_count, ==, 0);
    CHECK_INT(cara_auth_reason_status(CARA_AUTH_MISSING_SIGNATURE), ==, 401);
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_MISSING_SIGNATURE), "MissingSignature");
    cara_auth_free(a);
}

TEST(auth_refuses_a_key_that_is_not_an_operator_key)
{
    keys op = key_of(1), other = key_of(2);
    cara_auth *a = verifier(&op, 0);
    signed_req s;
    sign(&s, &other, "PUT", "/v1/projects/web", NOW_MS, 1);
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_UNKNOWN_KEY), CARA_EUNTRUSTED);
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_UNKNOWN_KEY), "UnknownKey");
    cara_auth_free(a);
}

TEST(auth_refuses_a_signature_by_another_key_under_the_operator_key)
{
    keys op = key_of(1), other = key_of(2);
    cara_auth *a = verifier(&op, 0);
    signed_req s;
    sign(&s, &other, "PUT", "/v1/projects/web", NOW_MS, 1);
    char key[CARA_REQSIG_KEY_HEX_BYTES];
    sodium_bin2hex(key, sizeof key, op.pk, sizeof op.pk);
    s.req.key = key; /* claims the operator, signed by someone else */
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_BAD_SIGNATURE), "BadSignature");
    cara_auth_free(a);
}

TEST(auth_refuses_a_flipped_signature_bit)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 0);
    signed_req s;
    sign(&s, &k, "PUT", "/v1/projects/web", NOW_MS, 1);
    s.h.sig[0] = s.h.sig[0] == '0' ? '1' : '0';
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    cara_auth_free(a);
}

TEST(auth_refuses_a_tampered_body_method_target_or_time)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 0);
    signed_req s;
    sign(&s, &k, "PUT", "/v1/projects/web?durable=2", NOW_MS, 1);
    cara_auth_request r = s.req;
    r.body = (const uint8_t *)"{\"record\":\"AB==\"}";
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    r = s.req;
    r.body_len--;
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    r = s.req;
    r.target = "/v1/projects/web?durable=1";
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    r = s.req;
    r.target = "/v1/projects/web";
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    r = s.req;
    r.method = "DELETE";
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    r = s.req;
    r.time = "1790000000001";
    CHECK_RC(check(a, &r, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    /* None of them used up the nonce: the genuine request still passes. */
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.refused[CARA_AUTH_BAD_SIGNATURE], ==, 6);
    cara_auth_free(a);
}

/* Issue 7: each node keeps its own nonce cache, so a request that named no
 * node could be taken from node A and replayed once at every other node
 * within its window. Signed for A, it is refused at B, counted there, and
 * leaves B's cache alone; at A it passes once. */
TEST(auth_refuses_at_node_b_a_request_signed_for_node_a)
{
    keys op = key_of(1), a_key = node_a(), b_key = node_b();
    cara_auth *at_a = verifier(&op, 0), *at_b = verifier(&op, 0);
    signed_req s;
    sign_for(&s, &op, &a_key, "PUT", "/v1/projects/web", NOW_MS, 1);
    cara_auth_request replay = s.req;
    replay.receiver_pk = b_key.pk; /* the very same bytes, arriving at B */
    CHECK_RC(check(at_b, &replay, NOW_MS, CARA_AUTH_WRONG_NODE), CARA_EPERM);
    CHECK_OK(check(at_a, &s.req, NOW_MS, CARA_AUTH_OK));
    CHECK_RC(check(at_b, &replay, NOW_MS + 1, CARA_AUTH_WRONG_NODE), CARA_EPERM);
    CHECK_RC(check(at_a, &s.req, NOW_MS + 1, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_WRONG_NODE), "WrongNode");
    CHECK_INT(cara_auth_reason_status(CARA_AUTH_WRONG_NODE), ==, 403);
    cara_auth_stats st;
    cara_auth_stats_get(at_b, &st);
    CHECK_INT(st.refused[CARA_AUTH_WRONG_NODE], ==, 2);
    CHECK_INT(st.accepted, ==, 0);
    CHECK_INT(st.nonces_count, ==, 0);
    /* The same nonce signed for B is B's first sight of it. */
    signed_req for_b;
    sign_for(&for_b, &op, &b_key, "PUT", "/v1/projects/web", NOW_MS, 1);
    CHECK_OK(check(at_b, &for_b.req, NOW_MS + 2, CARA_AUTH_OK));
    cara_auth_free(at_a);
    cara_auth_free(at_b);
}

/* X-Cara-Node is inside the signature: rewriting it to name B breaks the
 * signature, and a request that leaves it out is unsigned. */
TEST(auth_refuses_a_rewritten_or_missing_node_header)
{
    keys op = key_of(1), a_key = node_a(), b_key = node_b();
    cara_auth *at_b = verifier(&op, 0);
    signed_req s;
    sign_for(&s, &op, &a_key, "PUT", "/v1/projects/web", NOW_MS, 1);
    char b_hex[CARA_REQSIG_KEY_HEX_BYTES];
    sodium_bin2hex(b_hex, sizeof b_hex, b_key.pk, sizeof b_key.pk);
    cara_auth_request r = s.req;
    r.node = b_hex;
    r.receiver_pk = b_key.pk;
    CHECK_RC(check(at_b, &r, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    r.node = NULL;
    CHECK_RC(check(at_b, &r, NOW_MS, CARA_AUTH_MISSING_SIGNATURE), CARA_EPARSE);
    cara_auth_stats st;
    cara_auth_stats_get(at_b, &st);
    CHECK_INT(st.nonces_count, ==, 0);
    cara_auth_free(at_b);
}

/* A signature over the old v1 message (no node) does not verify as v2. */
TEST(auth_refuses_a_signature_over_the_v1_message)
{
    keys op = key_of(1);
    cara_auth *a = verifier(&op, 0);
    signed_req s;
    sign(&s, &op, "GET", "/v1/projects", NOW_MS, 1);
    uint8_t hash[32];
    char hash_hex[65], v1[512];
    crypto_generichash(hash, sizeof hash, (const uint8_t *)BODY, strlen(BODY), NULL, 0);
    sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
    snprintf(v1, sizeof v1, "cara-request-v1\nGET\n/v1/projects\n%s\n%s\n%s", s.h.time,
             s.h.nonce, hash_hex);
    uint8_t sig[CARA_CRDT_SIG_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)v1, strlen(v1), op.sk);
    sodium_bin2hex(s.h.sig, sizeof s.h.sig, sig, sizeof sig);
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    cara_auth_free(a);
}

TEST(auth_refuses_a_time_outside_the_window_on_either_side)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 0);
    signed_req s;
    sign(&s, &k, "GET", "/v1/projects", NOW_MS - WINDOW_MS - 1, 1);
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_STALE_REQUEST), CARA_ESTALE);
    sign(&s, &k, "GET", "/v1/projects", NOW_MS + WINDOW_MS + 1, 2);
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_STALE_REQUEST), CARA_EFUTURE);
    sign(&s, &k, "GET", "/v1/projects", 0, 3);
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_STALE_REQUEST), CARA_ESTALE);
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_STALE_REQUEST), "StaleRequest");
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.refused[CARA_AUTH_STALE_REQUEST], ==, 3);
    CHECK_INT(st.nonces_count, ==, 0);
    cara_auth_free(a);
}

TEST(auth_refuses_a_replayed_nonce_for_twice_the_window_then_forgets_it)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 0);
    signed_req s;
    sign(&s, &k, "PUT", "/v1/projects/web", NOW_MS, 9);
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    CHECK_RC(check(a, &s.req, NOW_MS + WINDOW_MS, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    /* The same nonce in another, validly signed request is a replay too. */
    signed_req s2;
    sign(&s2, &k, "GET", "/v1/nodes", NOW_MS, 9);
    CHECK_RC(check(a, &s2.req, NOW_MS, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_REPLAYED_NONCE), "ReplayedNonce");
    /* Past 2 × the window the nonce is forgotten, and the request is stale. */
    CHECK_RC(check(a, &s.req, NOW_MS + 2 * WINDOW_MS + 1, CARA_AUTH_STALE_REQUEST), CARA_ESTALE);
    sign(&s, &k, "PUT", "/v1/projects/web", NOW_MS + 2 * WINDOW_MS + 1, 10);
    CHECK_OK(check(a, &s.req, NOW_MS + 2 * WINDOW_MS + 1, CARA_AUTH_OK));
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.nonces_count, ==, 1);
    cara_auth_free(a);
}

TEST(auth_full_cache_refuses_new_requests_until_entries_age_out)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 4);
    signed_req s;
    for (uint8_t i = 0; i < 4; i++) {
        sign(&s, &k, "GET", "/v1/projects", NOW_MS + i * 1000, (uint8_t)(i + 1));
        CHECK_OK(check(a, &s.req, NOW_MS + i * 1000, CARA_AUTH_OK));
    }
    /* Full, and every entry is younger than 2 × the window: refuse rather
     * than forget a nonce that could still be replayed. */
    sign(&s, &k, "GET", "/v1/projects", NOW_MS + 5000, 50);
    CHECK_RC(check(a, &s.req, NOW_MS + 5000, CARA_AUTH_REPLAY_CACHE_FULL), CARA_ELIMIT);
    CHECK_INT(cara_auth_reason_status(CARA_AUTH_REPLAY_CACHE_FULL), ==, 503);
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_REPLAY_CACHE_FULL), "ReplayCacheFull");
    /* Replays are still recognised as such while full. */
    signed_req first;
    sign(&first, &k, "GET", "/v1/projects", NOW_MS, 1);
    CHECK_RC(check(a, &first.req, NOW_MS + 5000, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    /* Once the oldest entry is older than 2 × the window, exactly it goes. */
    int64_t later = NOW_MS + 2 * WINDOW_MS + 1;
    sign(&s, &k, "GET", "/v1/projects", later, 51);
    CHECK_OK(check(a, &s.req, later, CARA_AUTH_OK));
    sign(&s, &k, "GET", "/v1/projects", later, 52);
    CHECK_RC(check(a, &s.req, later, CARA_AUTH_REPLAY_CACHE_FULL), CARA_ELIMIT);
    /* The second-oldest (seen at NOW+1000) is still remembered: a fresh
     * request reusing its nonce is a replay. */
    signed_req second;
    sign(&second, &k, "GET", "/v1/projects", later, 2);
    CHECK_RC(check(a, &second.req, later, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.nonces_count, ==, 4);
    CHECK_INT(st.refused[CARA_AUTH_REPLAY_CACHE_FULL], ==, 2);
    cara_auth_free(a);
}

/* The wall clock steps back an hour with the cache full. Retention runs on
 * the monotonic clock, so the entries still age out on time (measured on
 * the wall clock they would be "minus an hour old" and stay until it caught
 * up, refusing every request 503 meanwhile), and no request passes twice. */
TEST(auth_wall_clock_step_back_neither_fills_the_cache_for_good_nor_admits_a_replay)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 4);
    const int64_t mono0 = 5000, hour = 3600 * 1000;
    signed_req before[4];
    for (int i = 0; i < 4; i++) {
        sign(&before[i], &k, "PUT", "/v1/projects/web", NOW_MS + i, (uint8_t)(i + 1));
        CHECK_OK(check_at(a, &before[i].req, NOW_MS + i, mono0 + i, CARA_AUTH_OK));
    }
    /* One second later the wall clock reads an hour earlier. */
    int64_t wall = NOW_MS - hour + 1000, mono = mono0 + 1000;
    signed_req s;
    sign(&s, &k, "PUT", "/v1/projects/web", wall, 20);
    CHECK_RC(check_at(a, &s.req, wall, mono, CARA_AUTH_REPLAY_CACHE_FULL), CARA_ELIMIT);
    for (int i = 0; i < 4; i++) /* from the agent's new point of view, from the future */
        CHECK_RC(check_at(a, &before[i].req, wall, mono, CARA_AUTH_STALE_REQUEST), CARA_EFUTURE);
    /* Two windows (monotonic) after they were accepted, they are forgotten
     * although the wall clock is still far behind the time they were seen. */
    wall += 2 * WINDOW_MS;
    mono += 2 * WINDOW_MS;
    signed_req after[4];
    for (int i = 0; i < 4; i++) {
        sign(&after[i], &k, "PUT", "/v1/projects/web", wall, (uint8_t)(30 + i));
        CHECK_OK(check_at(a, &after[i].req, wall, mono, CARA_AUTH_OK));
    }
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.nonces_count, ==, 4);
    /* The requests accepted after the step cannot pass again while they are
     * fresh, whether the wall clock stands still, steps again or runs on. */
    CHECK_RC(check_at(a, &after[0].req, wall, mono + 1, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    CHECK_RC(check_at(a, &after[1].req, wall - WINDOW_MS, mono + 2, CARA_AUTH_REPLAYED_NONCE),
             CARA_EREPLAY);
    CHECK_RC(check_at(a, &after[2].req, wall + WINDOW_MS, mono + 3, CARA_AUTH_REPLAYED_NONCE),
             CARA_EREPLAY);
    /* The requests from before the step are forgotten now, but their TIME
     * is still an hour ahead of the wall clock: refused as stale (what is
     * left once the clock comes back is the trade auth.h describes). */
    CHECK_RC(check_at(a, &before[3].req, wall, mono + 4, CARA_AUTH_STALE_REQUEST), CARA_EFUTURE);
    cara_auth_free(a);
}

/* Measured on the wall clock, a jump forward forgot every nonce at once,
 * and the jump back made the forgotten requests fresh again. */
TEST(auth_wall_clock_jump_forward_and_back_does_not_forget_nonces)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 8);
    const int64_t mono0 = 70000, hour = 3600 * 1000;
    signed_req r, other;
    sign(&r, &k, "DELETE", "/v1/projects/web", NOW_MS, 1);
    CHECK_OK(check_at(a, &r.req, NOW_MS, mono0, CARA_AUTH_OK));
    /* The wall clock jumps an hour ahead; a request signed by a client that
     * agrees with it is served (and used to flush the cache). */
    sign(&other, &k, "GET", "/v1/projects", NOW_MS + hour, 2);
    CHECK_OK(check_at(a, &other.req, NOW_MS + hour, mono0 + 1000, CARA_AUTH_OK));
    /* It jumps back: the first request is fresh again, and still a replay. */
    CHECK_RC(check_at(a, &r.req, NOW_MS + 2000, mono0 + 2000, CARA_AUTH_REPLAYED_NONCE),
             CARA_EREPLAY);
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.nonces_count, ==, 2);
    cara_auth_free(a);
}

/* The monotonic reading is the caller's; one that goes back counts as no
 * time passing, so the ring stays in order and nothing is forgotten early. */
TEST(auth_a_monotonic_reading_that_goes_back_expires_nothing)
{
    keys k = key_of(1);
    cara_auth *a = verifier(&k, 8);
    signed_req r, s;
    sign(&r, &k, "GET", "/v1/projects", NOW_MS, 1);
    CHECK_OK(check_at(a, &r.req, NOW_MS, 10 * WINDOW_MS, CARA_AUTH_OK));
    sign(&s, &k, "GET", "/v1/projects", NOW_MS, 2);
    CHECK_OK(check_at(a, &s.req, NOW_MS, 1, CARA_AUTH_OK));
    CHECK_RC(check_at(a, &r.req, NOW_MS, 10 * WINDOW_MS + 2 * WINDOW_MS, CARA_AUTH_REPLAYED_NONCE),
             CARA_EREPLAY);
    cara_auth_free(a);
}

/* Many nonces through a small cache over a long time: every live one is
 * found, expired ones are gone, and the index never loses an entry when
 * others are deleted around it (backward-shift deletion). */
TEST(auth_nonce_cache_stays_exact_under_churn)
{
    keys k = key_of(1), node = node_a();
    cara_auth *a = verifier(&k, 64);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    uint8_t nonces[2000][CARA_REQSIG_NONCE_BYTES];
    int64_t seen[2000];
    for (size_t i = 0; i < 2000; i++) {
        int64_t now = NOW_MS + (int64_t)i * 4000; /* 30 live at a time */
        cara_rng_bytes(&rng, nonces[i], sizeof nonces[i]);
        cara_auth_request r = {.method = "GET", .target = "/", .receiver_pk = node.pk};
        cara_reqsig_headers h;
        CHECK_OK(cara_crdt_reqsig_sign(k.sk, node.pk, "GET", "/", now, nonces[i], NULL, 0,
                                       cara_test_env(), &h));
        r.key = h.key, r.node = h.node, r.time = h.time, r.nonce = h.nonce, r.sig = h.sig;
        CHECK_OK(check(a, &r, now, CARA_AUTH_OK));
        seen[i] = now;
        /* Re-present a random earlier nonce with a fresh signature. */
        size_t j = (size_t)cara_rng_below(&rng, i + 1);
        CHECK_OK(cara_crdt_reqsig_sign(k.sk, node.pk, "GET", "/", now, nonces[j], NULL, 0,
                                       cara_test_env(), &h));
        r.key = h.key, r.node = h.node, r.time = h.time, r.nonce = h.nonce, r.sig = h.sig;
        bool live = now - seen[j] <= 2 * WINDOW_MS;
        int reason = -1;
        int rc = cara_auth_check(a, &r, now, now, &reason);
        if (live)
            CHECK_INT(reason, ==, CARA_AUTH_REPLAYED_NONCE);
        else
            CHECK_OK(rc); /* forgotten, so accepted again */
        if (!live)
            seen[j] = now;
    }
    cara_auth_free(a);
}

TEST(auth_new_refuses_bad_configs)
{
    keys k = key_of(1);
    cara_auth *a = NULL;
    cara_auth_cfg cfg = {.operator_pks = NULL, .operator_pks_count = 0};
    CHECK_RC(cara_auth_new(&a, &cfg, cara_test_env()), CARA_EINVAL);
    cfg.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])k.pk;
    cfg.operator_pks_count = 1;
    cfg.nonces_max = CARA_AUTH_NONCES_MAX + 1;
    CHECK_RC(cara_auth_new(&a, &cfg, cara_test_env()), CARA_EINVAL);
}

/* ---- Node keys: the logs route only (docs/api.md, "Node-to-node requests") ---- */

/* The admitted node keys, as the agent's replicated state would say. */
typedef struct admitted_set {
    keys k[2];
    size_t count;
    unsigned asked;
} admitted_set;

static bool admitted_fn(void *ctx, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    admitted_set *s = ctx;
    s->asked++;
    for (size_t i = 0; i < s->count; i++)
        if (memcmp(s->k[i].pk, pk, CARA_CRDT_PK_BYTES) == 0)
            return true;
    return false;
}

static cara_auth *verifier_with_nodes(const keys *op, admitted_set *nodes)
{
    cara_auth *a;
    cara_auth_cfg cfg = {.operator_pks = &op->pk, .operator_pks_count = 1,
                         .node_admitted = admitted_fn, .node_admitted_ctx = nodes};
    CHECK_OK(cara_auth_new(&a, &cfg, cara_test_env()));
    return a;
}

#define LOGS_TARGET "/v1/projects/web/logs?service=app&tail=5&proxied=1"

TEST(auth_accepts_an_admitted_node_key_on_the_logs_route_only)
{
    keys op = key_of(1);
    admitted_set nodes = {.k = {key_of(0x31)}, .count = 1};
    cara_auth *a = verifier_with_nodes(&op, &nodes);
    signed_req s;
    bool by_node = false;
    sign(&s, &nodes.k[0], "GET", LOGS_TARGET, NOW_MS, 1);
    s.req.node_route = true;
    s.req.by_node_out = &by_node;
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    CHECK(by_node);
    /* The same key anywhere else: refused after its signature verified,
     * and counted under its own reason (403). */
    static const char *const routes[][2] = {
        {"PUT", "/v1/projects/web"}, {"DELETE", "/v1/projects/web"},
        {"PUT", "/v1/admissions/n9"}, {"GET", "/v1/projects"}, {"GET", "/v1/watch"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        sign(&s, &nodes.k[0], routes[i][0], routes[i][1], NOW_MS, (uint8_t)(2 + i));
        CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_NODE_NOT_ALLOWED), CARA_EPERM);
    }
    CHECK_STR(cara_auth_reason_name(CARA_AUTH_NODE_NOT_ALLOWED), "NodeNotAllowed");
    CHECK_INT(cara_auth_reason_status(CARA_AUTH_NODE_NOT_ALLOWED), ==, 403);
    /* A node key with a bad signature is a bad signature, not a route
     * refusal: that count is of genuine node requests only. */
    sign(&s, &nodes.k[0], "PUT", "/v1/projects/web", NOW_MS, 20);
    s.req.target = "/v1/projects/other";
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_BAD_SIGNATURE), CARA_EBADSIG);
    cara_auth_stats st;
    cara_auth_stats_get(a, &st);
    CHECK_INT(st.accepted, ==, 1);
    CHECK_INT(st.refused[CARA_AUTH_NODE_NOT_ALLOWED], ==, 5);
    CHECK_INT(st.refused[CARA_AUTH_BAD_SIGNATURE], ==, 1);
    /* Refused requests leave no nonce behind. */
    CHECK_INT(st.nonces_count, ==, 1);
    cara_auth_free(a);
}

TEST(auth_operator_keys_still_work_on_every_route_with_node_keys_enabled)
{
    keys op = key_of(1);
    admitted_set nodes = {.k = {key_of(0x31)}, .count = 1};
    cara_auth *a = verifier_with_nodes(&op, &nodes);
    signed_req s;
    bool by_node = true;
    sign(&s, &op, "PUT", "/v1/projects/web", NOW_MS, 1);
    s.req.by_node_out = &by_node;
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    CHECK(!by_node);
    sign(&s, &op, "GET", LOGS_TARGET, NOW_MS, 2);
    s.req.node_route = true;
    by_node = true;
    s.req.by_node_out = &by_node;
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    CHECK(!by_node);
    /* An operator's key is looked up first: the node set is not asked. */
    CHECK_INT(nodes.asked, ==, 0);
    /* A key that is both is an operator's, on any route. */
    nodes.k[1] = op;
    nodes.count = 2;
    sign(&s, &op, "DELETE", "/v1/projects/web", NOW_MS, 3);
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    cara_auth_free(a);
}

TEST(auth_refuses_a_node_key_that_is_not_admitted_or_not_trusted_at_all)
{
    keys op = key_of(1);
    admitted_set nodes = {.k = {key_of(0x31)}, .count = 1};
    cara_auth *a = verifier_with_nodes(&op, &nodes);
    keys stranger = key_of(0x32);
    signed_req s;
    sign(&s, &stranger, "GET", LOGS_TARGET, NOW_MS, 1);
    s.req.node_route = true;
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_UNKNOWN_KEY), CARA_EUNTRUSTED);
    /* Revoked: the node set no longer holds it. */
    sign(&s, &nodes.k[0], "GET", LOGS_TARGET, NOW_MS, 2);
    s.req.node_route = true;
    nodes.count = 0;
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_UNKNOWN_KEY), CARA_EUNTRUSTED);
    cara_auth_free(a);
    /* A verifier with no node set takes no node key, even on logs. */
    a = verifier(&op, 0);
    nodes.count = 1;
    sign(&s, &nodes.k[0], "GET", LOGS_TARGET, NOW_MS, 3);
    s.req.node_route = true;
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_UNKNOWN_KEY), CARA_EUNTRUSTED);
    cara_auth_free(a);
}

TEST(auth_node_requests_are_bound_to_the_receiver_fresh_and_never_replayed)
{
    keys op = key_of(1);
    admitted_set nodes = {.k = {key_of(0x31)}, .count = 1};
    cara_auth *a = verifier_with_nodes(&op, &nodes);
    signed_req s;
    keys b = node_b();
    /* Signed for node B, received at A (the default receiver). */
    sign_for(&s, &nodes.k[0], &b, "GET", LOGS_TARGET, NOW_MS, 1);
    s.req.node_route = true;
    keys na = node_a();
    s.req.receiver_pk = na.pk;
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_WRONG_NODE), CARA_EPERM);
    /* Stale. */
    sign(&s, &nodes.k[0], "GET", LOGS_TARGET, NOW_MS - WINDOW_MS - 1, 2);
    s.req.node_route = true;
    CHECK_RC(check(a, &s.req, NOW_MS, CARA_AUTH_STALE_REQUEST), CARA_ESTALE);
    /* Replayed: once only, like an operator's request; and the node's
     * nonces share the one cache with the operators'. */
    sign(&s, &nodes.k[0], "GET", LOGS_TARGET, NOW_MS, 3);
    s.req.node_route = true;
    CHECK_OK(check(a, &s.req, NOW_MS, CARA_AUTH_OK));
    CHECK_RC(check(a, &s.req, NOW_MS + 1000, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    signed_req o;
    sign(&o, &op, "GET", "/v1/nodes", NOW_MS, 3);
    CHECK_RC(check(a, &o.req, NOW_MS, CARA_AUTH_REPLAYED_NONCE), CARA_EREPLAY);
    cara_auth_free(a);
}
