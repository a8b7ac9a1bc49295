/* The gossip transport's seal (src/gossip/seal.c): pairwise authentication,
 * key separation between nodes, replay window, drop counters, bounds and
 * sealed streams. */
#include <sodium.h>

#include "gossip/seal_int.h"
#include "harness.h"

typedef struct node {
    uint8_t pk[CARA_CRDT_PK_BYTES];
    uint8_t sk[CARA_CRDT_SK_BYTES];
    cara_seal *seal;
} node;

static void node_make(node *n, uint8_t tag, uint32_t epoch)
{
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    memset(seed, tag, sizeof seed);
    CHECK_OK(cara_crdt_key_from_seed(seed, n->pk, n->sk));
    CHECK_OK(cara_seal_new(cara_test_env(), n->pk, n->sk, epoch, &n->seal));
}

/* Makes `count` nodes that all admit each other. */
static void cluster(node *nodes, int count)
{
    for (int i = 0; i < count; i++)
        node_make(&nodes[i], (uint8_t)(i + 1), 1);
    for (int i = 0; i < count; i++)
        for (int j = 0; j < count; j++)
            if (i != j)
                CHECK_OK(cara_seal_admit(nodes[i].seal, nodes[j].pk));
}

static void cluster_free(node *nodes, int count)
{
    for (int i = 0; i < count; i++)
        cara_seal_free(nodes[i].seal);
}

typedef struct dgram {
    uint8_t b[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    size_t len;
} dgram;

static void seal_text(node *from, const node *to, const char *text, dgram *d)
{
    CHECK_OK(cara_seal_seal(from->seal, to->pk, (const uint8_t *)text, strlen(text), d->b,
                            sizeof d->b, &d->len));
}

/* Opens `d` at `to`; returns the code and, on success, checks the text. */
static int open_text(node *to, const dgram *d, const node *want_from, const char *want)
{
    uint8_t pt[CARA_GOSSIP_PLAINTEXT_BYTES_MAX], from[CARA_CRDT_PK_BYTES];
    size_t n = 0;
    int rc = cara_seal_open(to->seal, d->b, d->len, from, pt, sizeof pt, &n);
    if (rc == 0) {
        CHECK_MEM(from, sizeof from, want_from->pk, sizeof want_from->pk);
        CHECK_MEM(pt, n, want, strlen(want));
    }
    return rc;
}

/* Where a datagram's header keeps the sender's key id and the counter. */
#define KID_AT 2
#define COUNTER_AT (KID_AT + CARA_SEAL_KID_BYTES)

/* Rewrites the sender a datagram claims to be (its key id). */
static void claim_sender(dgram *d, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    cara_seal_key_id(pk, d->b + KID_AT);
}

static uint64_t dropped(const node *n, enum cara_seal_drop why)
{
    cara_seal_stats st;
    cara_seal_stats_get(n->seal, &st);
    return st.dropped[why];
}

TEST(seal_round_trip_between_two_admitted_nodes_both_ways)
{
    node n[2];
    cluster(n, 2);
    dgram d;
    seal_text(&n[0], &n[1], "ping from a", &d);
    CHECK_INT(d.len, ==, strlen("ping from a") + CARA_GOSSIP_SEAL_OVERHEAD_BYTES);
    CHECK_OK(open_text(&n[1], &d, &n[0], "ping from a"));
    seal_text(&n[1], &n[0], "ack from b", &d);
    CHECK_OK(open_text(&n[0], &d, &n[1], "ack from b"));
    /* An empty payload is a valid datagram too. */
    CHECK_OK(cara_seal_seal(n[0].seal, n[1].pk, NULL, 0, d.b, sizeof d.b, &d.len));
    CHECK_OK(open_text(&n[1], &d, &n[0], ""));
    cara_seal_stats st;
    cara_seal_stats_get(n[1].seal, &st);
    CHECK_INT(st.opened, ==, 2);
    CHECK_INT(st.sealed, ==, 1);
    cluster_free(n, 2);
}

TEST(seal_datagram_names_its_sender_by_key_id_in_a_34_byte_overhead)
{
    node n[2];
    cluster(n, 2);
    dgram d;
    seal_text(&n[0], &n[1], "ping", &d);
    CHECK_INT(CARA_GOSSIP_SEAL_OVERHEAD_BYTES, ==, 34);
    CHECK_INT(d.len, ==, 4 + 34);
    CHECK_INT(d.b[0], ==, 0xCA);
    CHECK_INT(d.b[1], ==, 0x21); /* version 2, type datagram */
    uint8_t kid[CARA_SEAL_KID_BYTES];
    cara_seal_key_id(n[0].pk, kid);
    CHECK_MEM(d.b + KID_AT, sizeof kid, kid, sizeof kid);
    /* It is the key id operators see (caravanctl keygen's key_id). */
    char printed[CARA_CRDT_KEY_ID_BYTES], hex[2 * CARA_SEAL_KID_BYTES + 1];
    cara_crdt_key_id(n[0].pk, printed);
    sodium_bin2hex(hex, sizeof hex, kid, sizeof kid);
    CHECK_STR(hex, printed);
    /* Ids differ between keys, and the hello still carries the whole key. */
    uint8_t kid_b[CARA_SEAL_KID_BYTES];
    cara_seal_key_id(n[1].pk, kid_b);
    CHECK(memcmp(kid, kid_b, sizeof kid) != 0);
    uint8_t r[CARA_SEAL_HELLO_RANDOM_BYTES] = {0}, h[CARA_SEAL_HELLO_BYTES];
    cara_seal_hello(n[0].seal, r, h);
    CHECK_INT(sizeof h, ==, 50);
    CHECK_MEM(h + 2, CARA_CRDT_PK_BYTES, n[0].pk, CARA_CRDT_PK_BYTES);
    /* A version 1 header (0xCA 0x5E 1 1, then a whole key) is malformed. */
    dgram v1 = d;
    memcpy(v1.b, "\xCA\x5E\x01\x01", 4);
    CHECK_RC(open_text(&n[1], &v1, &n[0], "ping"), CARA_EPARSE);
    CHECK_OK(open_text(&n[1], &d, &n[0], "ping"));
    cluster_free(n, 2);
}

/* Nodes whose key ids, narrowed to their first byte, all equal `want`
 * (the key made from seed tag `*next` on): real 64-bit ids never collide,
 * 8-bit ones do about once in 256 keys. */
static void node_with_kid_byte(node *n, uint8_t want, uint32_t *next)
{
    for (;; (*next)++) {
        uint8_t seed[CARA_CRDT_SEED_BYTES] = {0}, kid[CARA_SEAL_KID_BYTES];
        memcpy(seed, next, sizeof *next);
        seed[31] = 0x5a;
        CHECK_OK(cara_crdt_key_from_seed(seed, n->pk, n->sk));
        cara_seal_key_id(n->pk, kid);
        if (kid[0] != want)
            continue;
        (*next)++;
        CHECK_OK(cara_seal_new(cara_test_env(), n->pk, n->sk, 1, &n->seal));
        CHECK_OK(cara_seal_narrow_key_ids(n->seal, 1));
        return;
    }
}

TEST(seal_peers_sharing_a_key_id_are_each_tried_and_the_tag_decides)
{
    enum { SHARED = CARA_GOSSIP_KEY_ID_PEERS_MAX };
    node rx, p[SHARED + 1], stranger;
    uint32_t next = 1;
    node_make(&rx, 1, 1);
    CHECK_OK(cara_seal_narrow_key_ids(rx.seal, 1));
    uint8_t want = 0x3c;
    for (int i = 0; i <= SHARED; i++)
        node_with_kid_byte(&p[i], want, &next);
    node_with_kid_byte(&stranger, want, &next);
    for (int i = 0; i < SHARED; i++) {
        CHECK_OK(cara_seal_admit(rx.seal, p[i].pk));
        CHECK_OK(cara_seal_admit(p[i].seal, rx.pk));
    }
    /* One more key under the id is refused: the tag checks stay bounded. */
    CHECK_RC(cara_seal_admit(rx.seal, p[SHARED].pk), CARA_ELIMIT);
    CHECK_OK(cara_seal_admit(stranger.seal, rx.pk));
    /* Each peer under the shared id is told apart by its tag. */
    dgram d[SHARED];
    for (int i = 0; i < SHARED; i++) {
        char text[16];
        snprintf(text, sizeof text, "from %d", i);
        seal_text(&p[i], &rx, text, &d[i]);
        CHECK_INT(d[i].b[KID_AT], ==, want);
        CHECK_OK(open_text(&rx, &d[i], &p[i], text));
    }
    /* A replay is still a replay, though other peers' tags fail on it. */
    CHECK_RC(open_text(&rx, &d[SHARED - 1], &p[SHARED - 1], "from 3"), CARA_EREPLAY);
    CHECK_INT(dropped(&rx, CARA_SEAL_DROP_REPLAY), ==, 1);
    CHECK_INT(dropped(&rx, CARA_SEAL_DROP_BADTAG), ==, 0);
    /* A key not admitted but under the id costs SHARED tag checks and is
     * one bad tag; the peers' windows do not move. (Its counter is one no
     * peer has used: at a used one, the window would refuse it first.) */
    dgram f;
    for (int i = 0; i < 3; i++)
        seal_text(&stranger, &rx, "from 0", &f);
    CHECK_RC(open_text(&rx, &f, &p[0], "from 0"), CARA_EBADSIG);
    CHECK_INT(dropped(&rx, CARA_SEAL_DROP_BADTAG), ==, 1);
    dgram again;
    seal_text(&p[0], &rx, "still", &again);
    CHECK_OK(open_text(&rx, &again, &p[0], "still"));
    /* Revoking one leaves the others reachable under the id. */
    CHECK_OK(cara_seal_revoke(rx.seal, p[1].pk));
    seal_text(&p[2], &rx, "after", &again);
    CHECK_OK(open_text(&rx, &again, &p[2], "after"));
    CHECK_OK(cara_seal_admit(rx.seal, p[SHARED].pk));
    CHECK_RC(cara_seal_narrow_key_ids(rx.seal, 2), CARA_EINVAL); /* peers held */
    for (int i = 0; i <= SHARED; i++)
        cara_seal_free(p[i].seal);
    cara_seal_free(stranger.seal);
    cara_seal_free(rx.seal);
}

TEST(seal_third_admitted_node_can_neither_read_nor_forge_traffic_between_two_others)
{
    node n[3];
    cluster(n, 3);
    dgram d;
    seal_text(&n[0], &n[1], "secret for b", &d);
    /* C holds pairwise keys with both A and B, but not theirs. */
    CHECK_RC(open_text(&n[2], &d, &n[0], "secret for b"), CARA_EBADSIG);
    CHECK(memmem(d.b, d.len, "secret", 6) == NULL);
    /* C seals to B, then rewrites the sender to A: B's key with A differs. */
    dgram f;
    seal_text(&n[2], &n[1], "i am a", &f);
    claim_sender(&f, n[0].pk);
    CHECK_RC(open_text(&n[1], &f, &n[0], "i am a"), CARA_EBADSIG);
    /* A datagram reflected back to its sender fails: each direction has
     * its own key. */
    CHECK_RC(open_text(&n[0], &d, &n[0], "secret for b"), CARA_ENOTADMITTED);
    claim_sender(&d, n[1].pk);
    CHECK_RC(open_text(&n[0], &d, &n[1], "secret for b"), CARA_EBADSIG);
    CHECK_INT(dropped(&n[1], CARA_SEAL_DROP_BADTAG), ==, 1);
    CHECK_INT(dropped(&n[2], CARA_SEAL_DROP_BADTAG), ==, 1);
    cluster_free(n, 3);
}

TEST(seal_traffic_from_a_key_not_admitted_is_dropped_and_counted)
{
    node n[2], stranger;
    cluster(n, 2);
    node_make(&stranger, 9, 1);
    CHECK_OK(cara_seal_admit(stranger.seal, n[0].pk)); /* it admits A; A does not */
    dgram d;
    seal_text(&stranger, &n[0], "let me in", &d);
    CHECK_RC(open_text(&n[0], &d, &stranger, "let me in"), CARA_ENOTADMITTED);
    CHECK_RC(open_text(&n[0], &d, &stranger, "let me in"), CARA_ENOTADMITTED);
    CHECK_INT(dropped(&n[0], CARA_SEAL_DROP_NOTADMITTED), ==, 2);
    /* Nor can A send to it. */
    CHECK_RC(cara_seal_seal(n[0].seal, stranger.pk, d.b, 1, d.b, sizeof d.b, &d.len),
             CARA_ENOTADMITTED);
    /* Our own key is not a peer. */
    CHECK_RC(cara_seal_admit(n[0].seal, n[0].pk), CARA_EINVAL);
    cara_seal_free(stranger.seal);
    cluster_free(n, 2);
}

TEST(seal_replayed_datagram_is_refused)
{
    node n[2];
    cluster(n, 2);
    dgram d;
    seal_text(&n[0], &n[1], "once", &d);
    CHECK_OK(open_text(&n[1], &d, &n[0], "once"));
    CHECK_RC(open_text(&n[1], &d, &n[0], "once"), CARA_EREPLAY);
    CHECK_INT(dropped(&n[1], CARA_SEAL_DROP_REPLAY), ==, 1);
    cluster_free(n, 2);
}

TEST(seal_reordered_within_window_is_accepted_once_and_too_old_is_refused)
{
    node n[2];
    cluster(n, 2);
    static dgram d[CARA_GOSSIP_REPLAY_WINDOW + 2];
    for (int i = 0; i < CARA_GOSSIP_REPLAY_WINDOW + 2; i++)
        seal_text(&n[0], &n[1], "x", &d[i]);
    /* Newest first; then the one exactly WINDOW-1 behind it is still in. */
    CHECK_OK(open_text(&n[1], &d[CARA_GOSSIP_REPLAY_WINDOW], &n[0], "x"));
    CHECK_OK(open_text(&n[1], &d[1], &n[0], "x"));
    CHECK_RC(open_text(&n[1], &d[1], &n[0], "x"), CARA_EREPLAY);
    CHECK_RC(open_text(&n[1], &d[0], &n[0], "x"), CARA_ESTALE);
    CHECK_OK(open_text(&n[1], &d[500], &n[0], "x"));
    /* One step ahead pushes d[1] out of the window. */
    CHECK_OK(open_text(&n[1], &d[CARA_GOSSIP_REPLAY_WINDOW + 1], &n[0], "x"));
    CHECK_RC(open_text(&n[1], &d[1], &n[0], "x"), CARA_ESTALE);
    CHECK_OK(open_text(&n[1], &d[2], &n[0], "x"));
    CHECK_INT(dropped(&n[1], CARA_SEAL_DROP_TOOOLD), ==, 2);
    cluster_free(n, 2);
}

TEST(seal_any_flipped_bit_is_refused_and_leaves_the_window_unchanged)
{
    node n[2];
    cluster(n, 2);
    dgram d;
    seal_text(&n[0], &n[1], "payload bits", &d);
    for (size_t bit = 0; bit < d.len * 8; bit++) {
        dgram f = d;
        f.b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = open_text(&n[1], &f, &n[0], "payload bits");
        CHECK(rc != 0);
    }
    /* The untouched datagram still opens: no forgery moved the window. */
    CHECK_OK(open_text(&n[1], &d, &n[0], "payload bits"));
    /* Every bit past the magic, version, type and key id is covered by
     * the tag; a flipped key id names nobody (or fails its tag). */
    CHECK_INT(dropped(&n[1], CARA_SEAL_DROP_BADTAG), >=, (d.len - COUNTER_AT) * 8);
    cluster_free(n, 2);
}

TEST(seal_oversized_and_truncated_datagrams_are_refused_before_reading)
{
    node n[2];
    cluster(n, 2);
    static uint8_t big[CARA_GOSSIP_PLAINTEXT_BYTES_MAX + 1];
    dgram d;
    CHECK_RC(cara_seal_seal(n[0].seal, n[1].pk, big, sizeof big, d.b, sizeof d.b, &d.len),
             CARA_ETOOBIG);
    CHECK_OK(cara_seal_seal(n[0].seal, n[1].pk, big, sizeof big - 1, d.b, sizeof d.b, &d.len));
    CHECK_INT(d.len, ==, CARA_GOSSIP_DATAGRAM_BYTES_MAX);
    uint8_t pt[CARA_GOSSIP_PLAINTEXT_BYTES_MAX], from[CARA_CRDT_PK_BYTES];
    size_t n_pt;
    static uint8_t wire[CARA_GOSSIP_DATAGRAM_BYTES_MAX + 1];
    memcpy(wire, d.b, d.len);
    CHECK_RC(cara_seal_open(n[1].seal, wire, sizeof wire, from, pt, sizeof pt, &n_pt),
             CARA_ETOOBIG);
    for (size_t len = 0; len < CARA_GOSSIP_SEAL_OVERHEAD_BYTES; len++)
        CHECK_RC(cara_seal_open(n[1].seal, wire, len, from, pt, sizeof pt, &n_pt), CARA_EPARSE);
    CHECK_RC(cara_seal_open(n[1].seal, wire, d.len - 1, from, pt, sizeof pt, &n_pt),
             CARA_EBADSIG);
    CHECK_OK(cara_seal_open(n[1].seal, wire, d.len, from, pt, sizeof pt, &n_pt));
    CHECK_INT(n_pt, ==, CARA_GOSSIP_PLAINTEXT_BYTES_MAX);
    CHECK_INT(dropped(&n[1], CARA_SEAL_DROP_OVERSIZED), ==, 1);
    CHECK_INT(dropped(&n[1], CARA_SEAL_DROP_MALFORMED), ==, CARA_GOSSIP_SEAL_OVERHEAD_BYTES);
    cluster_free(n, 2);
}

TEST(seal_revoked_key_traffic_is_dropped_and_its_keys_evicted)
{
    node n[2];
    cluster(n, 2);
    dgram before, after;
    seal_text(&n[0], &n[1], "before", &before);
    seal_text(&n[0], &n[1], "after", &after);
    CHECK_OK(open_text(&n[1], &before, &n[0], "before"));
    CHECK_OK(cara_seal_revoke(n[1].seal, n[0].pk));
    CHECK(!cara_seal_is_admitted(n[1].seal, n[0].pk));
    CHECK_INT(cara_seal_peer_count(n[1].seal), ==, 0);
    CHECK_RC(open_text(&n[1], &after, &n[0], "after"), CARA_ENOTADMITTED);
    CHECK_RC(cara_seal_revoke(n[1].seal, n[0].pk), CARA_ENOENT);
    CHECK_INT(dropped(&n[1], CARA_SEAL_DROP_NOTADMITTED), ==, 1);
    cluster_free(n, 2);
}

TEST(seal_readmitted_peer_never_sees_a_counter_twice_in_one_epoch)
{
    node n[2];
    cluster(n, 2);
    dgram d1, d2;
    seal_text(&n[0], &n[1], "one", &d1);
    CHECK_OK(cara_seal_revoke(n[0].seal, n[1].pk));
    CHECK_OK(cara_seal_admit(n[0].seal, n[1].pk));
    seal_text(&n[0], &n[1], "two", &d2);
    /* Same key, so the counter (the nonce) must differ. */
    CHECK(memcmp(d1.b + COUNTER_AT, d2.b + COUNTER_AT, 8) != 0);
    CHECK_OK(open_text(&n[1], &d1, &n[0], "one"));
    CHECK_OK(open_text(&n[1], &d2, &n[0], "two"));
    cluster_free(n, 2);
}

TEST(seal_restart_with_a_higher_epoch_moves_on_and_a_floor_blocks_old_datagrams)
{
    node n[2];
    cluster(n, 2);
    dgram old, fresh;
    seal_text(&n[0], &n[1], "epoch 1", &old);
    /* A restarts with epoch 2: its counters are above every epoch-1 one. */
    cara_seal_free(n[0].seal);
    CHECK_OK(cara_seal_new(cara_test_env(), n[0].pk, n[0].sk, 2, &n[0].seal));
    CHECK_OK(cara_seal_admit(n[0].seal, n[1].pk));
    seal_text(&n[0], &n[1], "epoch 2", &fresh);
    CHECK_OK(open_text(&n[1], &fresh, &n[0], "epoch 2"));
    uint64_t top = 0;
    CHECK_OK(cara_seal_recv_top(n[1].seal, n[0].pk, &top));
    CHECK_INT(top, ==, 2ULL << 32);
    CHECK_RC(open_text(&n[1], &old, &n[0], "epoch 1"), CARA_ESTALE);
    /* B restarts: a restored floor keeps the recorded datagram out. */
    cara_seal_free(n[1].seal);
    CHECK_OK(cara_seal_new(cara_test_env(), n[1].pk, n[1].sk, 2, &n[1].seal));
    CHECK_OK(cara_seal_admit(n[1].seal, n[0].pk));
    CHECK_OK(cara_seal_set_floor(n[1].seal, n[0].pk, top + 1));
    CHECK_RC(open_text(&n[1], &fresh, &n[0], "epoch 2"), CARA_ESTALE);
    cluster_free(n, 2);
}

TEST(seal_keys_that_do_not_match_or_are_not_points_are_refused)
{
    node a;
    node_make(&a, 1, 1);
    uint8_t other[CARA_CRDT_PK_BYTES];
    memcpy(other, a.pk, sizeof other);
    other[0] ^= 1;
    cara_seal *s = NULL;
    CHECK_RC(cara_seal_new(cara_test_env(), other, a.sk, 1, &s), CARA_EINVAL);
    CHECK(s == NULL);
    uint8_t zero[CARA_CRDT_PK_BYTES] = {0};
    CHECK_RC(cara_seal_admit(a.seal, zero), CARA_EINVAL);
    CHECK_INT(cara_seal_peer_count(a.seal), ==, 0);
    cara_seal_free(a.seal);
}

/* Every datagram of a run of 10,000 between 3 nodes goes through a channel
 * that loses, duplicates and delays at random. The seed is printed on
 * failure (harness). */
typedef struct sent {
    dgram d;
    int from, to;
    uint32_t id;
} sent;

TEST(seal_property_loss_duplication_reorder_each_datagram_accepted_at_most_once_and_authentic)
{
    enum { N = 3, COUNT = 10000, HOLD = 64 };
    node n[N];
    cluster(n, N);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    static sent all[COUNT];
    static uint8_t seen[COUNT];
    size_t held[HOLD], nheld = 0;
    int accepted = 0;
    for (uint32_t i = 0; i < COUNT || nheld > 0;) {
        bool send_new = i < COUNT && (nheld < HOLD || cara_rng_below(&rng, 2));
        size_t k;
        if (send_new) {
            sent *m = &all[i];
            m->from = (int)cara_rng_below(&rng, N);
            m->to = (m->from + 1 + (int)cara_rng_below(&rng, N - 1)) % N;
            m->id = i;
            CHECK_OK(cara_seal_seal(n[m->from].seal, n[m->to].pk, (uint8_t *)&m->id,
                                    sizeof m->id, m->d.b, sizeof m->d.b, &m->d.len));
            i++;
            if (cara_rng_below(&rng, 10) == 0) /* lost */
                continue;
            if (nheld < HOLD) {
                held[nheld++] = m->id;
                continue;
            }
            k = m->id;
        } else {
            size_t j = cara_rng_below(&rng, nheld);
            k = held[j];
            if (cara_rng_below(&rng, 4) != 0) /* delivered: leave the hold */
                held[j] = held[--nheld];
        }
        uint8_t pt[CARA_GOSSIP_PLAINTEXT_BYTES_MAX], from[CARA_CRDT_PK_BYTES];
        size_t len = 0;
        int rc = cara_seal_open(n[all[k].to].seal, all[k].d.b, all[k].d.len, from, pt,
                                sizeof pt, &len);
        if (rc == 0) {
            uint32_t id;
            CHECK_INT(len, ==, sizeof id);
            memcpy(&id, pt, sizeof id);
            CHECK_INT(id, ==, k);
            CHECK_MEM(from, sizeof from, n[all[k].from].pk, sizeof from);
            CHECK_INT(seen[k], ==, 0);
            seen[k] = 1;
            accepted++;
        } else {
            CHECK(rc == CARA_EREPLAY || rc == CARA_ESTALE);
            CHECK(rc == CARA_ESTALE || seen[k]);
        }
    }
    /* Most survive: 10% loss, and a hold of 64 is well inside the window. */
    CHECK_INT(accepted, >=, COUNT * 8 / 10);
    cluster_free(n, N);
}

/* ---- Streams ----------------------------------------------------------------- */

static void stream_pair(node *a, node *b, cara_seal_stream *sa, cara_seal_stream *sb,
                        uint8_t ra, uint8_t rb)
{
    uint8_t rand_a[CARA_SEAL_HELLO_RANDOM_BYTES], rand_b[CARA_SEAL_HELLO_RANDOM_BYTES];
    memset(rand_a, ra, sizeof rand_a);
    memset(rand_b, rb, sizeof rand_b);
    uint8_t ha[CARA_SEAL_HELLO_BYTES], hb[CARA_SEAL_HELLO_BYTES];
    cara_seal_hello(a->seal, rand_a, ha);
    cara_seal_hello(b->seal, rand_b, hb);
    CHECK_OK(cara_seal_stream_start(a->seal, sa, true, ha, hb, sizeof hb, b->pk));
    CHECK_OK(cara_seal_stream_start(b->seal, sb, false, hb, ha, sizeof ha, NULL));
    CHECK_MEM(sb->peer_pk, sizeof sb->peer_pk, a->pk, sizeof a->pk);
}

TEST(seal_stream_frames_round_trip_in_order_and_split_anywhere)
{
    node n[2];
    cluster(n, 2);
    cara_seal_stream sa, sb;
    stream_pair(&n[0], &n[1], &sa, &sb, 1, 2);
    static uint8_t wire[3 * CARA_GOSSIP_FRAME_BYTES_MAX];
    static uint8_t big[CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX];
    memset(big, 7, sizeof big);
    size_t at = 0, n_out = 0;
    CHECK_OK(cara_seal_stream_seal(n[0].seal, &sa, (const uint8_t *)"first", 5, wire,
                                   sizeof wire, &n_out));
    at += n_out;
    CHECK_OK(cara_seal_stream_seal(n[0].seal, &sa, big, sizeof big, wire + at, sizeof wire - at,
                                   &n_out));
    at += n_out;
    CHECK_RC(cara_seal_stream_seal(n[0].seal, &sa, big, sizeof big + 1, wire + at,
                                   sizeof wire - at, &n_out), CARA_ETOOBIG);
    static uint8_t pt[CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX];
    size_t used = 0, len = 0;
    /* Every prefix short of the first frame asks for more. */
    for (size_t cut = 0; cut < 4 + 5 + CARA_GOSSIP_SEAL_OVERHEAD_BYTES; cut++)
        CHECK_RC(cara_seal_stream_open(n[1].seal, &sb, wire, cut, &used, pt, sizeof pt, &len),
                 CARA_EAGAIN);
    CHECK_OK(cara_seal_stream_open(n[1].seal, &sb, wire, at, &used, pt, sizeof pt, &len));
    CHECK_MEM(pt, len, "first", 5);
    size_t off = used;
    CHECK_OK(cara_seal_stream_open(n[1].seal, &sb, wire + off, at - off, &used, pt, sizeof pt,
                                   &len));
    CHECK_MEM(pt, len, big, sizeof big);
    CHECK_INT(off + used, ==, at);
    /* Replaying the first frame on the same stream is refused. */
    CHECK_RC(cara_seal_stream_open(n[1].seal, &sb, wire, at, &used, pt, sizeof pt, &len),
             CARA_EREPLAY);
    cara_seal_stream_close(&sa);
    cara_seal_stream_close(&sb);
    cluster_free(n, 2);
}

TEST(seal_stream_recorded_and_replayed_into_a_new_stream_fails_its_first_tag)
{
    node n[2];
    cluster(n, 2);
    cara_seal_stream sa, sb, sa2, sb2;
    stream_pair(&n[0], &n[1], &sa, &sb, 1, 2);
    uint8_t wire[128];
    size_t len = 0, used = 0, pt_len = 0;
    uint8_t pt[64];
    CHECK_OK(cara_seal_stream_seal(n[0].seal, &sa, (const uint8_t *)"cmd", 3, wire, sizeof wire,
                                   &len));
    CHECK_OK(cara_seal_stream_open(n[1].seal, &sb, wire, len, &used, pt, sizeof pt, &pt_len));
    /* The attacker replays A's hello and frame; B answers with a new random. */
    stream_pair(&n[0], &n[1], &sa2, &sb2, 1, 3);
    CHECK_RC(cara_seal_stream_open(n[1].seal, &sb2, wire, len, &used, pt, sizeof pt, &pt_len),
             CARA_EBADSIG);
    /* A length prefix past the frame cap is refused without waiting. */
    uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
    CHECK_RC(cara_seal_stream_open(n[1].seal, &sb, huge, 4, &used, pt, sizeof pt, &pt_len),
             CARA_ETOOBIG);
    /* After a revoke the open stream stops. */
    CHECK_OK(cara_seal_stream_seal(n[0].seal, &sa, (const uint8_t *)"more", 4, wire,
                                   sizeof wire, &len));
    CHECK_OK(cara_seal_revoke(n[1].seal, n[0].pk));
    CHECK_RC(cara_seal_stream_open(n[1].seal, &sb, wire, len, &used, pt, sizeof pt, &pt_len),
             CARA_ENOTADMITTED);
    cluster_free(n, 2);
}

TEST(seal_stream_hello_from_an_unexpected_or_unadmitted_key_is_refused)
{
    node n[3], stranger;
    cluster(n, 3);
    node_make(&stranger, 9, 1);
    uint8_t r[CARA_SEAL_HELLO_RANDOM_BYTES] = {0};
    uint8_t ha[CARA_SEAL_HELLO_BYTES], hc[CARA_SEAL_HELLO_BYTES], hs[CARA_SEAL_HELLO_BYTES];
    cara_seal_hello(n[0].seal, r, ha);
    cara_seal_hello(n[2].seal, r, hc);
    cara_seal_hello(stranger.seal, r, hs);
    cara_seal_stream st;
    /* A dialled B but C answered. */
    CHECK_RC(cara_seal_stream_start(n[0].seal, &st, true, ha, hc, sizeof hc, n[1].pk),
             CARA_ENOTADMITTED);
    CHECK_RC(cara_seal_stream_start(n[0].seal, &st, false, ha, hs, sizeof hs, NULL),
             CARA_ENOTADMITTED);
    CHECK_RC(cara_seal_stream_start(n[0].seal, &st, false, ha, hc, sizeof hc - 1, NULL),
             CARA_EPARSE);
    CHECK(!st.ready);
    cara_seal_free(stranger.seal);
    cluster_free(n, 3);
}
