/* The crdt fuzzers' seeds: envelopes of every kind for fuzz_record and the
 * messages of one real anti-entropy exchange for fuzz_sync, both built
 * from the fixture the fuzzers use. Each test checks that the committed
 * seeds are still what they claim to be, and with CARA_WRITE_SEEDS=1
 * writes them afresh first. */
#include <dirent.h>

#include "../fuzz/fuzz_crdt_fixture.h"
#include "../fuzz/fuzz_gossip_node_fixture.h"
#include "../fuzz/fuzz_seal_fixture.h"
#include "../fuzz/fuzz_wire_fixture.h"
#include "agent/api_body.h"
#include "harness.h"

static bool writing(void)
{
    const char *w = getenv("CARA_WRITE_SEEDS");
    return w != NULL && strcmp(w, "1") == 0;
}

static void write_file(const char *dir, const char *name, const uint8_t *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cara_test_path(dir), name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_INT(fwrite(bytes, 1, len, f), ==, len);
    CHECK_INT(fclose(f), ==, 0);
}

/* Calls fn on every seed of `dir`; returns how many there were. */
static int each_seed(const char *dir, void (*fn)(const char *name, const uint8_t *b, size_t len))
{
    static uint8_t bytes[CARA_CRDT_SYNC_MSG_BYTES_MAX];
    DIR *dh = opendir(cara_test_path(dir));
    CHECK(dh != NULL);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", cara_test_path(dir), e->d_name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        size_t len = fread(bytes, 1, sizeof bytes, f);
        fclose(f);
        fn(e->d_name, bytes, len);
        seen++;
    }
    closedir(dh);
    return seen;
}

static void write_record_seeds(void)
{
    cara_env *env = cara_test_env();
    cara_buf all;
    cara_buf_init(&all, env, CARA_CRDT_DELTA_BYTES_MAX);
    CHECK_OK(fixture_records(env, 2, &all));
    size_t off = 0;
    int i = 0;
    while (off < all.len) {
        size_t n = 0;
        CHECK_OK(cara_mpcheck(all.data + off, all.len - off, CARA_MP_DEPTH_MAX, &n));
        cara_crdt_record r;
        CHECK_OK(cara_crdt_record_decode(all.data + off, n, &r));
        char name[64];
        snprintf(name, sizeof name, "record-%d-kind%d.bin", i++, r.kind);
        write_file("fuzz/seeds/fuzz_record", name, all.data + off, n);
        off += n;
    }
    cara_buf_free(&all);
}

static void check_record_seed(const char *name, const uint8_t *b, size_t len)
{
    cara_crdt_record r;
    if (cara_crdt_record_decode(b, len, &r) != 0 || cara_crdt_record_verify(&r) != 0)
        cara_test_fail(__FILE__, __LINE__, "seed %s is not a signed record", name);
}

TEST(fuzz_record_seeds_are_signed_records_of_every_kind)
{
    if (writing())
        write_record_seeds();
    CHECK(each_seed("fuzz/seeds/fuzz_record", check_record_seed) >= CARA_CRDT_KIND_END_ - 1);
}

/* Writes the messages of one exchange between the fixture and a replica
 * that lacks most projects, starting from either side. */
static void write_sync_seeds(void)
{
    cara_env *env = cara_test_env();
    cara_crdt *full = NULL, *lagging = NULL;
    CHECK_OK(fixture_state(env, FIXTURE_PROJECTS, &full));
    CHECK_OK(fixture_state(env, 5, &lagging));
    cara_buf msg, reply, delta;
    cara_buf_init(&msg, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&reply, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, env, CARA_CRDT_DELTA_BYTES_MAX);
    int n = 0;
    for (int start = 0; start < 2; start++) {
        cara_crdt *from = start ? full : lagging, *to = start ? lagging : full;
        cara_buf_reset(&msg);
        CHECK_OK(cara_crdt_sync_start(from, &msg));
        for (int round = 0; msg.len > 0 && round < 8; round++) {
            char name[64];
            snprintf(name, sizeof name, "sync-%d.bin", n++);
            write_file("fuzz/seeds/fuzz_sync", name, msg.data, msg.len);
            cara_buf_reset(&reply);
            cara_buf_reset(&delta);
            CHECK_OK(cara_crdt_sync_recv(to, msg.data, msg.len, &reply, &delta));
            cara_buf t = msg;
            msg = reply;
            reply = t;
            cara_crdt *x = from;
            from = to;
            to = x;
        }
    }
    cara_buf_free(&delta);
    cara_buf_free(&reply);
    cara_buf_free(&msg);
    cara_crdt_free(lagging);
    cara_crdt_free(full);
}

static cara_crdt *sync_target;

static void check_sync_seed(const char *name, const uint8_t *b, size_t len)
{
    cara_env *env = cara_test_env();
    cara_buf reply, delta;
    cara_buf_init(&reply, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, env, CARA_CRDT_DELTA_BYTES_MAX);
    if (cara_crdt_sync_recv(sync_target, b, len, &reply, &delta) != 0)
        cara_test_fail(__FILE__, __LINE__, "seed %s is not a sync message", name);
    cara_buf_free(&delta);
    cara_buf_free(&reply);
}

TEST(fuzz_sync_seeds_are_messages_the_fixture_answers)
{
    if (writing())
        write_sync_seeds();
    CHECK_OK(fixture_state(cara_test_env(), FIXTURE_PROJECTS, &sync_target));
    CHECK(each_seed("fuzz/seeds/fuzz_sync", check_sync_seed) >= 4);
    cara_crdt_free(sync_target);
}

/* The seeds of the request-signature, API body and admission fuzzers
 * (written once with caravanctl sign-request and by hand): each directory
 * holds inputs that pass, so the fuzzers start from the accepting paths. */

static int reqsig_verified;

static void check_reqsig_seed(const char *name, const uint8_t *b, size_t len)
{
    (void)name;
    const char *f[7];
    size_t at = 0;
    for (int i = 0; i < 7; i++) {
        const uint8_t *nul = memchr(b + at, '\0', len - at);
        CHECK(nul != NULL);
        f[i] = (const char *)b + at;
        at = (size_t)(nul - b) + 1;
    }
    cara_reqsig_parsed p;
    CHECK_OK(cara_crdt_reqsig_parse(f[0], f[1], f[2], f[3], f[4], &p));
    CHECK_OK(cara_crdt_reqsig_verify(&p, f[5], f[6], b + at, len - at, cara_test_env()));
    reqsig_verified++;
}

TEST(fuzz_reqsig_seeds_are_signed_requests)
{
    reqsig_verified = 0;
    CHECK(each_seed("fuzz/seeds/fuzz_reqsig", check_reqsig_seed) >= 3);
    CHECK_INT(reqsig_verified, >=, 3);
}

static int bodies_ok, bodies_refused;

static void check_body_seed(const char *name, const uint8_t *b, size_t len)
{
    (void)name;
    uint8_t *rec = NULL;
    size_t n = 0;
    char why[CARA_API_BODY_WHY_BYTES];
    int rc = cara_api_body_record(cara_test_env(), b, len, &rec, &n, why);
    if (rc == 0) {
        cara_crdt_record r;
        if (n > 0) {
            CHECK_OK(cara_crdt_record_decode(rec, n, &r));
            CHECK_OK(cara_crdt_record_verify(&r));
        }
        bodies_ok++;
    } else {
        CHECK_RC(rc, CARA_EPARSE);
        bodies_refused++;
    }
    cara_env_free(cara_test_env(), rec);
}

TEST(fuzz_api_body_seeds_hold_signed_records_and_refusals)
{
    bodies_ok = bodies_refused = 0;
    each_seed("fuzz/seeds/fuzz_api_body", check_body_seed);
    CHECK_INT(bodies_ok, >=, 2);
    CHECK_INT(bodies_refused, >=, 1);
}

static int admissions[3]; /* revoked, admitted, refused */

static void check_admission_seed(const char *name, const uint8_t *b, size_t len)
{
    (void)name;
    uint8_t pk[CARA_CRDT_PK_BYTES];
    bool admitted = false;
    int rc = cara_crdt_admission_decode(b, len, pk, &admitted);
    admissions[rc == 0 ? (admitted ? 1 : 0) : 2]++;
}

TEST(fuzz_admission_seeds_admit_revoke_and_refuse)
{
    memset(admissions, 0, sizeof admissions);
    each_seed("fuzz/seeds/fuzz_admission", check_admission_seed);
    CHECK_INT(admissions[0], >=, 1);
    CHECK_INT(admissions[1], >=, 1);
    CHECK_INT(admissions[2], >=, 1);
}

/* The seal fuzzer's seeds: near-misses that reach each refusal of the
 * receiver in tests/fuzz/fuzz_seal_fixture.h; none can ever be accepted. */

static void seal_seed(cara_seal *from, uint8_t to_tag, const char *name, size_t cut)
{
    fixture_key to;
    fixture_key_make(&to, to_tag);
    uint8_t w[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    size_t n = 0;
    CHECK_OK(cara_seal_seal(from, to.pk, (const uint8_t *)"ping", 4, w, sizeof w, &n));
    write_file("fuzz/seeds/fuzz_seal", name, w, cut ? cut : n);
}

static void write_seal_seeds(void)
{
    cara_env *env = cara_test_env();
    cara_seal *tx1 = fixture_seal(env, FIXTURE_SEAL_TX, 1);
    cara_seal *tx9 = fixture_seal(env, FIXTURE_SEAL_TX, 9);
    cara_seal *stranger = fixture_seal(env, FIXTURE_SEAL_STRANGER, 1);
    cara_seal *rx = fixture_seal(env, FIXTURE_SEAL_RX, 1);
    CHECK(tx1 != NULL && tx9 != NULL && stranger != NULL && rx != NULL);
    CHECK_OK(fixture_seal_admit(tx1, FIXTURE_SEAL_RX));
    CHECK_OK(fixture_seal_admit(tx9, FIXTURE_SEAL_OTHER));
    CHECK_OK(fixture_seal_admit(stranger, FIXTURE_SEAL_RX));
    CHECK_OK(fixture_seal_admit(rx, FIXTURE_SEAL_TX));
    seal_seed(tx1, FIXTURE_SEAL_RX, "replay.bin", 0);
    seal_seed(tx1, FIXTURE_SEAL_RX, "short.bin", 20);
    seal_seed(tx9, FIXTURE_SEAL_OTHER, "badtag-not-for-us.bin", 0);
    seal_seed(stranger, FIXTURE_SEAL_RX, "notadmitted-stranger.bin", 0);
    uint8_t r[CARA_SEAL_HELLO_RANDOM_BYTES] = {0}, ht[CARA_SEAL_HELLO_BYTES];
    uint8_t hr[CARA_SEAL_HELLO_BYTES], w[128];
    cara_seal_hello(tx1, r, ht);
    cara_seal_hello(rx, r, hr);
    cara_seal_stream st;
    CHECK_OK(cara_seal_stream_start(tx1, &st, true, ht, hr, sizeof hr, NULL));
    size_t n = 0;
    CHECK_OK(cara_seal_stream_seal(tx1, &st, (const uint8_t *)"frame", 5, w, sizeof w, &n));
    write_file("fuzz/seeds/fuzz_seal", "frame.bin", w, n);
    cara_seal_free(tx1);
    cara_seal_free(tx9);
    cara_seal_free(stranger);
    cara_seal_free(rx);
}

static cara_seal *seal_rx;
static int seal_seeds_seen;

static void check_seal_seed(const char *name, const uint8_t *b, size_t len)
{
    int want = strncmp(name, "replay", 6) == 0        ? CARA_EREPLAY
               : strncmp(name, "badtag", 6) == 0      ? CARA_EBADSIG
               : strncmp(name, "notadmitted", 11) == 0 ? CARA_ENOTADMITTED
                                                      : CARA_EPARSE;
    uint8_t pt[CARA_GOSSIP_FRAME_BYTES_MAX], from[CARA_CRDT_PK_BYTES];
    size_t n = 0;
    int rc = cara_seal_open(seal_rx, b, len, from, pt, sizeof pt, &n);
    if (rc != want)
        cara_test_fail(__FILE__, __LINE__, "seed %s: %s, want %s", name, cara_errname(rc),
                       cara_errname(want));
    seal_seeds_seen++;
}

TEST(fuzz_seal_seeds_reach_each_refusal_and_none_is_accepted)
{
    if (writing())
        write_seal_seeds();
    cara_seal *tx = NULL;
    CHECK_OK(fixture_seal_pair(cara_test_env(), &seal_rx, &tx));
    seal_seeds_seen = 0;
    CHECK_INT(each_seed("fuzz/seeds/fuzz_seal", check_seal_seed), >=, 5);
    cara_seal_stats st;
    cara_seal_stats_get(seal_rx, &st);
    CHECK_INT(st.opened, ==, FIXTURE_SEAL_USED);
    cara_seal_free(seal_rx);
    cara_seal_free(tx);
}

/* The wire fuzzer's seeds: one message of each kind from
 * tests/fuzz/fuzz_wire_fixture.h, the join kinds inside clear frames, and
 * a SWIM datagram filled to the byte. Each must be accepted in its place
 * (the name's prefix), so the fuzzer starts from every accepting path. */

static cara_wire_msg wire_msg;

static void write_wire_seeds(void)
{
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), CARA_WIRE_STREAM_MSG_BYTES_MAX);
    for (int i = 0; i < FIXTURE_WIRE_COUNT; i++) {
        fixture_wire_sample(i, &wire_msg);
        cara_buf_reset(&b);
        if (fixture_wire_where(i) == CARA_WIRE_IN_CLEAR)
            CHECK_OK(cara_wire_clear_frame(&wire_msg, &b));
        else
            CHECK_OK(cara_wire_encode(&wire_msg, SIZE_MAX, &b));
        char name[64];
        snprintf(name, sizeof name, "%s.bin", fixture_wire_names[i]);
        write_file("fuzz/seeds/fuzz_gossip_wire", name, b.data, b.len);
    }
    /* A PING whose records fill the plaintext exactly. */
    fixture_wire_sample(FIXTURE_WIRE_SWIM_PING, &wire_msg);
    size_t room = CARA_GOSSIP_PLAINTEXT_BYTES_MAX - cara_wire_swim_bytes(&wire_msg.swim);
    wire_msg.records_count = 16;
    for (size_t i = 0; i < 16; i++) {
        /* The last takes the byte an empty adverts bin saves (bin8). */
        size_t len = room / 16 - 2 + (i == 15 ? room % 16 + 1 : 0);
        wire_msg.records[i] = (cara_wire_bytes){fixture_wire_bytes() + i, len};
    }
    cara_buf_reset(&b);
    CHECK_OK(cara_wire_encode(&wire_msg, CARA_GOSSIP_PLAINTEXT_BYTES_MAX, &b));
    CHECK_INT(b.len, ==, CARA_GOSSIP_PLAINTEXT_BYTES_MAX);
    write_file("fuzz/seeds/fuzz_gossip_wire", "dgram-swim-full.bin", b.data, b.len);
    cara_buf_free(&b);
}

static int wire_seeds_seen;

static void check_wire_seed(const char *name, const uint8_t *b, size_t len)
{
    int rc;
    if (strncmp(name, "clear-", 6) == 0) {
        size_t used = 0;
        rc = cara_wire_clear_parse(b, len, &used, &wire_msg);
        if (rc == 0 && used != len)
            rc = CARA_EPARSE;
    } else {
        int where = strncmp(name, "dgram-", 6) == 0 ? CARA_WIRE_IN_DATAGRAM : CARA_WIRE_IN_STREAM;
        rc = cara_wire_decode(b, len, where, &wire_msg);
    }
    if (rc != 0)
        cara_test_fail(__FILE__, __LINE__, "seed %s: %s", name, cara_errname(rc));
    wire_seeds_seen++;
}

TEST(fuzz_gossip_wire_seeds_are_accepted_in_their_place)
{
    if (writing())
        write_wire_seeds();
    wire_seeds_seen = 0;
    CHECK_INT(each_seed("fuzz/seeds/fuzz_gossip_wire", check_wire_seed), >=,
              FIXTURE_WIRE_COUNT + 1);
    CHECK_INT(wire_seeds_seen, >=, FIXTURE_WIRE_COUNT + 1);
}

/* The join-token fuzzer's seeds: tokens that parse (one use, the most
 * uses, an expiry far off) and near-misses; and a JOIN record for the
 * record fuzzer. Made from fixed keys, so rewriting them changes nothing. */

static void join_token_seed(const char *name, uint8_t tag, int64_t expires_wall_ms,
                            uint32_t uses, size_t cut, char *out, size_t out_bytes)
{
    uint8_t seed[CARA_CRDT_SEED_BYTES], op_pk[CARA_CRDT_PK_BYTES], op_sk[CARA_CRDT_SK_BYTES];
    uint8_t pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES], id[CARA_CRDT_JOIN_TOKEN_ID_BYTES];
    memset(seed, 0x11, sizeof seed);
    CHECK_OK(cara_crdt_key_from_seed(seed, op_pk, op_sk));
    memset(seed, tag, sizeof seed);
    memset(id, tag, sizeof id);
    CHECK_OK(cara_crdt_key_from_seed(seed, pk, sk));
    cara_buf g;
    cara_buf_init(&g, cara_test_env(), CARA_CRDT_JOIN_GRANT_BYTES_MAX);
    CHECK_OK(cara_crdt_join_grant_sign(id, expires_wall_ms, uses, pk, op_sk, &g));
    CHECK_OK(cara_crdt_join_token_format(g.data, g.len, seed, out, out_bytes));
    cara_buf_free(&g);
    if (name != NULL)
        write_file("fuzz/seeds/fuzz_join_token", name, (const uint8_t *)out,
                   cut ? cut : strlen(out));
}

static void write_join_token_seeds(void)
{
    char t[CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    join_token_seed("ok-one-use.txt", 0x21, 1700000000000LL + 86400000, 1, 0, t, sizeof t);
    join_token_seed("ok-most-uses.txt", 0x22, 1700000000000LL, CARA_CRDT_JOIN_USES_MAX, 0, t,
                    sizeof t);
    join_token_seed("ok-far-expiry.txt", 0x23, INT64_MAX, 2, 0, t, sizeof t);
    join_token_seed("bad-truncated.txt", 0x24, 1700000000000LL, 1, 100, t, sizeof t);
    join_token_seed(NULL, 0x25, 1700000000000LL, 1, 0, t, sizeof t);
    char *dot = strrchr(t, '.');
    CHECK(dot != NULL);
    *dot = '\0'; /* no seed */
    write_file("fuzz/seeds/fuzz_join_token", "bad-no-seed.txt", (const uint8_t *)t, strlen(t));
    /* A JOIN record for the record fuzzer. */
    cara_crdt_join_token tok;
    join_token_seed(NULL, 0x26, 1700000000000LL + 86400000, 1, 0, t, sizeof t);
    CHECK_OK(cara_crdt_join_token_parse(t, &tok));
    uint8_t seed[CARA_CRDT_SEED_BYTES], pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    memset(seed, 0x27, sizeof seed);
    CHECK_OK(cara_crdt_key_from_seed(seed, pk, sk));
    cara_buf rec;
    cara_buf_init(&rec, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    CHECK_OK(cara_crdt_join_record_sign(&tok, pk, sk, "n9", (uint64_t)1700000000000LL << 16, &rec));
    write_file("fuzz/seeds/fuzz_record", "record-join-kind8.bin", rec.data, rec.len);
    cara_buf_free(&rec);
}

static int join_tokens[2]; /* parsed, refused */

static void check_join_token_seed(const char *name, const uint8_t *b, size_t len)
{
    char text[2 * CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    CHECK(len < sizeof text);
    memcpy(text, b, len);
    text[len] = '\0';
    cara_crdt_join_token t;
    int rc = cara_crdt_join_token_parse(text, &t);
    if ((rc == 0) != (strncmp(name, "ok-", 3) == 0))
        cara_test_fail(__FILE__, __LINE__, "seed %s: %s", name, cara_errname(rc));
    join_tokens[rc == 0 ? 0 : 1]++;
    cara_crdt_join_token_wipe(&t);
}

TEST(fuzz_join_token_seeds_parse_and_refuse)
{
    if (writing())
        write_join_token_seeds();
    memset(join_tokens, 0, sizeof join_tokens);
    each_seed("fuzz/seeds/fuzz_join_token", check_join_token_seed);
    CHECK_INT(join_tokens[0], >=, 3);
    CHECK_INT(join_tokens[1], >=, 2);
}

/* The gossip node fuzzer's seeds: operations of
 * tests/fuzz/fuzz_gossip_node_fixture.h that reach each handler behind the
 * seal (a SWIM ping, a PUSH wanting an ack, an ACK, an anti-entropy
 * exchange, a large PUSH on a stream), a clear JOIN, raw garbage and
 * ticks. Each must run without breaking a property, and the sealed ones
 * must be taken as valid messages (no malformed or stream drop). */

static cara_buf node_seed_recs;

static void node_op(cara_buf *out, int kind, int peer, const uint8_t *b, size_t len)
{
    uint8_t hdr[3] = {(uint8_t)(kind | (peer << 3)), (uint8_t)(len >> 8), (uint8_t)len};
    CHECK_OK(cara_buf_append(out, hdr, 3));
    CHECK_OK(cara_buf_append(out, b, len));
}

/* One sealed-stream frame inside an op's bytes: [flag][len16][plaintext]. */
static void node_frame(cara_buf *out, const cara_buf *plain)
{
    uint8_t hdr[3] = {0, (uint8_t)(plain->len >> 8), (uint8_t)plain->len};
    CHECK_OK(cara_buf_append(out, hdr, 3));
    CHECK_OK(cara_buf_append(out, plain->data, plain->len));
}

static void node_tick(cara_buf *out, uint16_t steps)
{
    uint8_t op[3] = {NODE_FIX_OP_TICK, (uint8_t)(steps >> 8), (uint8_t)steps};
    CHECK_OK(cara_buf_append(out, op, 3));
}

static void node_encode(cara_buf *out, int where)
{
    cara_buf_reset(out);
    if (where == CARA_WIRE_IN_CLEAR)
        CHECK_OK(cara_wire_clear_frame(&wire_msg, out));
    else
        CHECK_OK(cara_wire_encode(&wire_msg, SIZE_MAX, out));
}

/* Adds every record to a PULL, up to its cap. */
static int pull_each(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    (void)bytes, (void)len;
    cara_wire_msg *m = ctx;
    if (m->ihaves_count == CARA_WIRE_IHAVES_MAX)
        return 1;
    cara_crdt_record_id(r, m->ihaves[m->ihaves_count].id);
    m->ihaves[m->ihaves_count++].hlc = r->hlc;
    return 0;
}

static void write_node_seeds(void)
{
    cara_env *env = cara_test_env();
    cara_buf seed, enc, inner, rec;
    cara_buf_init(&seed, env, CARA_WIRE_STREAM_MSG_BYTES_MAX);
    cara_buf_init(&enc, env, CARA_WIRE_STREAM_MSG_BYTES_MAX);
    cara_buf_init(&inner, env, CARA_WIRE_STREAM_MSG_BYTES_MAX);
    cara_buf_init(&rec, env, CARA_CRDT_RECORD_BYTES_MAX);
    fixture_key op;
    fixture_key_make(&op, 1);
    uint64_t hlc = ((uint64_t)FIXTURE_NOW_MS << CARA_CRDT_HLC_COUNTER_BITS) + 500;
    CHECK_OK(fixture_sign(&rec, CARA_CRDT_PROJECT, "new", 1, hlc, &op, "\x81\xa1k\x02", 4));

    /* A SWIM ping from n1 with records riding on it, then ticks. */
    fixture_wire_sample(FIXTURE_WIRE_SWIM_PING, &wire_msg);
    node_encode(&enc, CARA_WIRE_IN_DATAGRAM);
    node_op(&seed, NODE_FIX_OP_SEALED_DGRAM, 0, enc.data, enc.len);
    node_tick(&seed, 100);
    node_tick(&seed, 1000);
    write_file("fuzz/seeds/fuzz_gossip_node", "dgram-swim-ping.bin", seed.data, seed.len);

    /* A PUSH wanting an ack from n2, an ACK from n1. */
    cara_buf_reset(&seed);
    fixture_wire_sample(FIXTURE_WIRE_PUSH, &wire_msg);
    wire_msg.want_ack = true;
    wire_msg.records_count = 1;
    wire_msg.records[0] = (cara_wire_bytes){rec.data, rec.len};
    node_encode(&enc, CARA_WIRE_IN_DATAGRAM);
    node_op(&seed, NODE_FIX_OP_SEALED_DGRAM, 1, enc.data, enc.len);
    fixture_wire_sample(FIXTURE_WIRE_ACK, &wire_msg);
    node_encode(&enc, CARA_WIRE_IN_DATAGRAM);
    node_op(&seed, NODE_FIX_OP_SEALED_DGRAM, 0, enc.data, enc.len);
    write_file("fuzz/seeds/fuzz_gossip_node", "dgram-push-ack.bin", seed.data, seed.len);

    /* Lazy push: n1 advertises a record n0 lacks (n0 pulls it, then the
     * pull times out), and n2 pulls every project n0 holds. */
    cara_buf_reset(&seed);
    memset(&wire_msg, 0, sizeof wire_msg);
    wire_msg.kind = CARA_WIRE_SWIM;
    wire_msg.swim.type = CARA_SWIM_GOSSIP;
    cara_crdt_record r;
    CHECK_OK(cara_crdt_record_decode(rec.data, rec.len, &r));
    cara_crdt_record_id(&r, wire_msg.ihaves[0].id);
    wire_msg.ihaves[0].hlc = r.hlc;
    wire_msg.ihaves_count = 1;
    node_encode(&enc, CARA_WIRE_IN_DATAGRAM);
    node_op(&seed, NODE_FIX_OP_SEALED_DGRAM, 0, enc.data, enc.len);
    cara_crdt *full = NULL;
    CHECK_OK(fixture_state(env, NODE_FIX_PROJECTS, &full));
    memset(&wire_msg, 0, sizeof wire_msg);
    wire_msg.kind = CARA_WIRE_PULL;
    CHECK_OK(cara_crdt_foreach(full, pull_each, &wire_msg));
    CHECK_INT(wire_msg.ihaves_count, >=, NODE_FIX_PROJECTS);
    cara_crdt_free(full);
    node_encode(&enc, CARA_WIRE_IN_DATAGRAM);
    node_op(&seed, NODE_FIX_OP_SEALED_DGRAM, 1, enc.data, enc.len);
    node_tick(&seed, 100);
    node_tick(&seed, 1000);
    write_file("fuzz/seeds/fuzz_gossip_node", "dgram-ihave-pull.bin", seed.data, seed.len);

    /* An anti-entropy exchange opened by a replica that lags (no projects),
     * then its DONE on the same stream. */
    cara_crdt *lag = NULL;
    CHECK_OK(fixture_state(env, 0, &lag));
    cara_buf sync;
    cara_buf_init(&sync, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    CHECK_OK(cara_crdt_sync_start(lag, &sync));
    memset(&wire_msg, 0, sizeof wire_msg);
    wire_msg.kind = CARA_WIRE_SYNC;
    wire_msg.blob = (cara_wire_bytes){sync.data, sync.len};
    node_encode(&enc, CARA_WIRE_IN_STREAM);
    cara_buf_reset(&seed);
    cara_buf_reset(&inner);
    node_frame(&inner, &enc);
    node_op(&seed, NODE_FIX_OP_SEALED_STREAM, 1, inner.data, inner.len);
    memset(&wire_msg, 0, sizeof wire_msg);
    wire_msg.kind = CARA_WIRE_DONE;
    node_encode(&enc, CARA_WIRE_IN_STREAM);
    cara_buf_reset(&inner);
    node_frame(&inner, &enc);
    node_op(&seed, NODE_FIX_OP_MORE, 1, inner.data, inner.len);
    node_tick(&seed, 700);
    write_file("fuzz/seeds/fuzz_gossip_node", "stream-sync.bin", seed.data, seed.len);
    cara_buf_free(&sync);
    cara_crdt_free(lag);

    /* A PUSH on a stream, cut into two frames (the first says more follow). */
    memset(&wire_msg, 0, sizeof wire_msg);
    wire_msg.kind = CARA_WIRE_PUSH;
    wire_msg.want_ack = true;
    wire_msg.records_count = 1;
    wire_msg.records[0] = (cara_wire_bytes){rec.data, rec.len};
    node_encode(&enc, CARA_WIRE_IN_STREAM);
    cara_buf_reset(&seed);
    cara_buf_reset(&inner);
    size_t half = enc.len / 2;
    uint8_t h1[3] = {1, (uint8_t)(half >> 8), (uint8_t)half};
    CHECK_OK(cara_buf_append(&inner, h1, 3));
    CHECK_OK(cara_buf_append(&inner, enc.data, half));
    uint8_t h2[3] = {0, (uint8_t)((enc.len - half) >> 8), (uint8_t)(enc.len - half)};
    CHECK_OK(cara_buf_append(&inner, h2, 3));
    CHECK_OK(cara_buf_append(&inner, enc.data + half, enc.len - half));
    node_op(&seed, NODE_FIX_OP_SEALED_STREAM, 0, inner.data, inner.len);
    write_file("fuzz/seeds/fuzz_gossip_node", "stream-push.bin", seed.data, seed.len);

    /* A clear JOIN fed a few bytes at a time, and garbage on a stream. */
    fixture_wire_sample(FIXTURE_WIRE_JOIN, &wire_msg);
    node_encode(&enc, CARA_WIRE_IN_CLEAR);
    cara_buf_reset(&seed);
    node_op(&seed, NODE_FIX_OP_STREAM | (6 << 4), 0, enc.data, enc.len);
    node_op(&seed, NODE_FIX_OP_STREAM, 0, (const uint8_t *)"\xca\x5e\x01\x03garbage", 11);
    node_tick(&seed, 1000);
    write_file("fuzz/seeds/fuzz_gossip_node", "clear-join.bin", seed.data, seed.len);

    cara_buf_free(&seed);
    cara_buf_free(&enc);
    cara_buf_free(&inner);
    cara_buf_free(&rec);
}

static int node_seeds_seen;

static void check_node_seed(const char *name, const uint8_t *b, size_t len)
{
    cara_gossip_stats st;
    int broken = node_fix_run(cara_test_env(), &node_seed_recs, b, len, &st);
    if (broken != 0)
        cara_test_fail(__FILE__, __LINE__, "seed %s breaks property %d", name, broken);
    bool sealed = strncmp(name, "dgram-", 6) == 0 || strncmp(name, "stream-", 7) == 0;
    if (sealed && (st.dropped[CARA_GOSSIP_DROP_MALFORMED] != 0 ||
                   st.dropped[CARA_GOSSIP_DROP_STREAM] != 0))
        cara_test_fail(__FILE__, __LINE__, "seed %s: a sealed message was refused (%llu malformed, %llu stream)", name, (unsigned long long)st.dropped[CARA_GOSSIP_DROP_MALFORMED], (unsigned long long)st.dropped[CARA_GOSSIP_DROP_STREAM]);
    if (strcmp(name, "dgram-push-ack.bin") == 0 || strcmp(name, "stream-push.bin") == 0)
        CHECK_INT(st.records_received_new, ==, 1);
    if (strcmp(name, "stream-sync.bin") == 0)
        CHECK_INT(st.stream_bytes_out, >, CARA_SEAL_HELLO_BYTES);
    if (strcmp(name, "clear-join.bin") == 0)
        CHECK_INT(st.joins_refused + st.joins_welcomed, ==, 1);
    if (strcmp(name, "dgram-ihave-pull.bin") == 0) {
        CHECK_INT(st.ihaves_received, ==, 1);
        CHECK_INT(st.pulls_sent, >=, 1);
        CHECK_INT(st.pull_records_sent, >=, NODE_FIX_PROJECTS);
    }
    node_seeds_seen++;
}

TEST(fuzz_gossip_node_seeds_reach_the_handlers_behind_the_seal)
{
    cara_buf_init(&node_seed_recs, cara_test_env(), CARA_CRDT_DELTA_BYTES_MAX);
    CHECK_OK(node_fix_records(cara_test_env(), &node_seed_recs));
    if (writing())
        write_node_seeds();
    node_seeds_seen = 0;
    CHECK_INT(each_seed("fuzz/seeds/fuzz_gossip_node", check_node_seed), >=, 5);
    cara_buf_free(&node_seed_recs);
}
