/*
 * The gossip wire codec (src/gossip/wire.c, docs/gossip.md "Wire"):
 * round trips of every kind at their worst cases, the datagram size bound
 * of a SWIM message, refusal of truncated, mutated, misplaced, foreign,
 * non-canonical and lying input, and clear frames on a join stream.
 *
 * Property tests draw from cara_test_seed(); the harness prints the seed
 * with any failure (CARA_TEST_SEED replays it).
 */
#include "../fuzz/fuzz_wire_fixture.h"
#include "harness.h"

/* The version byte of the hand-written messages below. */
#define WV CARA_WIRE_VERSION
_Static_assert(WV == 3, "the vectors below are version 3's shapes");

/* Messages are about 27 KiB: these live outside the stack. */
static cara_wire_msg m_in, m_out;

static const int places[3] = {CARA_WIRE_IN_DATAGRAM, CARA_WIRE_IN_STREAM, CARA_WIRE_IN_CLEAR};

static size_t place_max(int where)
{
    return where == CARA_WIRE_IN_DATAGRAM ? CARA_GOSSIP_PLAINTEXT_BYTES_MAX
           : where == CARA_WIRE_IN_STREAM ? CARA_WIRE_STREAM_MSG_BYTES_MAX
                                          : CARA_WIRE_CLEAR_BYTES_MAX - CARA_WIRE_CLEAR_HEADER_BYTES;
}

static void buf_new(cara_buf *b)
{
    cara_buf_init(b, cara_test_env(), 2 * CARA_WIRE_STREAM_MSG_BYTES_MAX);
}

/* Encodes m, decodes it at `where`, and checks that the decoded message
 * encodes to the same bytes. Leaves the bytes in *b and the decoded
 * message in m_out. */
static void round_trip(const cara_wire_msg *m, int where, cara_buf *b)
{
    cara_buf_reset(b);
    CHECK_OK(cara_wire_encode(m, place_max(where), b));
    CHECK_INT(b->len, ==, cara_wire_encoded_bytes(m));
    CHECK_OK(cara_wire_decode(b->data, b->len, where, &m_out));
    CHECK_INT(m_out.kind, ==, m->kind);
    cara_buf again;
    buf_new(&again);
    CHECK_OK(cara_wire_encode(&m_out, SIZE_MAX, &again));
    CHECK_MEM(again.data, again.len, b->data, b->len);
    cara_buf_free(&again);
}

/* Whether `p` points into b's bytes (the decoder borrows, never copies). */
static bool borrowed(const cara_buf *b, const uint8_t *p, size_t len)
{
    return p >= b->data && p + len <= b->data + b->len;
}

TEST(every_kind_round_trips_in_its_place_and_borrows_from_the_input)
{
    cara_buf b;
    buf_new(&b);
    for (int i = 0; i < FIXTURE_WIRE_COUNT; i++) {
        fixture_wire_sample(i, &m_in);
        round_trip(&m_in, fixture_wire_where(i), &b);
        CHECK_INT(m_out.records_count, ==, m_in.records_count);
        for (size_t k = 0; k < m_out.records_count; k++) {
            CHECK(borrowed(&b, m_out.records[k].ptr, m_out.records[k].len));
            CHECK_MEM(m_out.records[k].ptr, m_out.records[k].len, m_in.records[k].ptr,
                      m_in.records[k].len);
        }
        if (m_in.blob.len > 0)
            CHECK(borrowed(&b, m_out.blob.ptr, m_out.blob.len));
    }
    /* A few fields by name, beyond the byte-level equality. */
    fixture_wire_sample(FIXTURE_WIRE_SWIM_PING, &m_in);
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    CHECK_INT(m_out.swim.seq, ==, 70000);
    CHECK_INT(m_out.swim.updates_count, ==, 2);
    CHECK_MEM(m_out.swim.updates[1].accuser, m_out.swim.updates[1].accuser_len, "node-a", 6);
    CHECK_INT(m_out.swim.updates[0].addr.len, ==, 6);
    fixture_wire_sample(FIXTURE_WIRE_SWIM_ACK, &m_in);
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    CHECK_INT(m_out.swim.target.name_len, ==, 0);
    fixture_wire_sample(FIXTURE_WIRE_PUSH, &m_in);
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b); /* PUSH travels both ways */
    CHECK(m_out.want_ack);
    fixture_wire_sample(FIXTURE_WIRE_ACK, &m_in);
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    CHECK_INT(m_out.acks[2].hlc, ==, m_in.acks[2].hlc);
    fixture_wire_sample(FIXTURE_WIRE_REFUSED, &m_in);
    round_trip(&m_in, CARA_WIRE_IN_CLEAR, &b);
    CHECK_INT(m_out.reason, ==, CARA_ENOTADMITTED);
    cara_buf_free(&b);
}

/* ---- The SWIM datagram's size bound ---------------------------------------- */

static void fill_name(char *name, uint8_t *len, size_t n, char c)
{
    memset(name, c, n);
    *len = (uint8_t)n;
}

/* A membership message with every target field at its cap. */
static void swim_worst_header(cara_swim_msg *s)
{
    memset(s, 0, sizeof *s);
    s->type = CARA_SWIM_PING_REQ;
    s->seq = UINT32_MAX;
    fill_name(s->target.name, &s->target.name_len, CARA_SWIM_NAME_BYTES_MAX, 't');
    memset(s->target.key, 0xee, CARA_SWIM_KEY_BYTES);
    s->target_addr.len = CARA_SWIM_ADDR_BYTES_MAX;
    memset(s->target_addr.bytes, 0xad, CARA_SWIM_ADDR_BYTES_MAX);
    s->digest = UINT32_MAX;
}

static void swim_update(cara_swim_update *u, size_t name_len, size_t accuser_len, uint8_t tag)
{
    memset(u, 0, sizeof *u);
    u->kind = CARA_SWIM_DEAD;
    u->incarnation = CARA_SWIM_INCARNATION_MAX;
    fill_name(u->member.name, &u->member.name_len, name_len, (char)('a' + tag % 26));
    memset(u->member.key, tag, CARA_SWIM_KEY_BYTES);
    u->addr.len = CARA_SWIM_ADDR_BYTES_MAX;
    memset(u->addr.bytes, tag, CARA_SWIM_ADDR_BYTES_MAX);
    fill_name(u->accuser, &u->accuser_len, accuser_len, 'z');
}

/* Fills the piggyback list as swim.c does: by each update's bound, within
 * CARA_SWIM_PIGGYBACK_BYTES_MAX and CARA_SWIM_PIGGYBACK_MAX. Returns the
 * sum of the bounds. */
static size_t swim_fill(cara_swim_msg *s, size_t name_len)
{
    size_t bytes = 0;
    for (uint8_t i = 0; s->updates_count < CARA_SWIM_PIGGYBACK_MAX; i++) {
        cara_swim_update u;
        swim_update(&u, name_len, name_len, i);
        size_t need = cara_swim_update_bytes_max(&u);
        if (bytes + need > CARA_SWIM_PIGGYBACK_BYTES_MAX)
            break;
        s->updates[s->updates_count++] = u;
        bytes += need;
    }
    return bytes;
}

TEST(worst_case_swim_message_with_a_full_piggyback_list_fits_one_datagram)
{
    cara_buf b;
    buf_new(&b);
    /* Names at the cap: six updates; names of three bytes: sixteen. */
    const size_t names[] = {CARA_SWIM_NAME_BYTES_MAX, 3, 1};
    const int want_count[] = {6, CARA_SWIM_PIGGYBACK_MAX, CARA_SWIM_PIGGYBACK_MAX};
    for (size_t t = 0; t < 3; t++) {
        memset(&m_in, 0, sizeof m_in);
        m_in.kind = CARA_WIRE_SWIM;
        swim_worst_header(&m_in.swim);
        size_t bounds = swim_fill(&m_in.swim, names[t]);
        CHECK_INT(m_in.swim.updates_count, ==, want_count[t]);
        round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
        CHECK_INT(b.len, <=, CARA_GOSSIP_PLAINTEXT_BYTES_MAX);
        /* The header and updates stay within swim.c's bounds, and the
         * envelope within what membership reserves for it. */
        size_t swim_part = cara_wire_swim_bytes(&m_in.swim) - CARA_WIRE_SWIM_ENVELOPE_BYTES_MAX;
        CHECK_INT(swim_part, <=, CARA_SWIM_HEADER_BYTES_MAX + bounds);
        CHECK_INT(b.len - swim_part, <=, CARA_SWIM_ENVELOPE_RESERVE_BYTES);
        CHECK_INT(b.len, <=, CARA_SWIM_ENVELOPE_RESERVE_BYTES + CARA_SWIM_HEADER_BYTES_MAX + bounds);
        /* With no records and no adverts, the real message is three bytes
         * under the bound (an empty array and an empty bin8). */
        CHECK_INT(cara_wire_swim_bytes(&m_in.swim), ==, b.len + 3);
    }
    /* The header alone at its caps is CARA_SWIM_HEADER_BYTES_MAX, less the
     * two bytes an empty update list saves over array16. */
    swim_worst_header(&m_in.swim);
    CHECK_INT(cara_wire_swim_bytes(&m_in.swim) - CARA_WIRE_SWIM_ENVELOPE_BYTES_MAX, ==,
              CARA_SWIM_HEADER_BYTES_MAX - 2);
    cara_buf_free(&b);
}

TEST(swim_bytes_and_record_item_bytes_fill_a_datagram_exactly)
{
    CHECK_INT(cara_wire_record_item_bytes(0), ==, 2);
    CHECK_INT(cara_wire_record_item_bytes(255), ==, 257);
    CHECK_INT(cara_wire_record_item_bytes(256), ==, 259);
    CHECK_INT(cara_wire_record_item_bytes(65535), ==, 65538);
    CHECK_INT(cara_wire_record_item_bytes(65536), ==, 65541);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    cara_buf b;
    buf_new(&b);
    for (int round = 0; round < 200; round++) {
        memset(&m_in, 0, sizeof m_in);
        m_in.kind = CARA_WIRE_SWIM;
        swim_worst_header(&m_in.swim);
        swim_fill(&m_in.swim, 1 + cara_rng_below(&rng, CARA_SWIM_NAME_BYTES_MAX));
        size_t room = CARA_GOSSIP_PLAINTEXT_BYTES_MAX - cara_wire_swim_bytes(&m_in.swim);
        /* Records of random sizes while they fit, then one to fill the
         * rest exactly (when a record of at least one byte can). */
        size_t used = 0;
        for (;;) {
            size_t len = 1 + cara_rng_below(&rng, round % 2 ? 40 : 300);
            size_t item = cara_wire_record_item_bytes(len);
            if (used + item > room)
                break;
            m_in.records[m_in.records_count++] = (cara_wire_bytes){fixture_wire_bytes(), len};
            used += item;
        }
        if (room - used >= 3) {
            size_t len = room - used - 2;
            if (len > 255)
                len = 255;
            m_in.records[m_in.records_count++] = (cara_wire_bytes){fixture_wire_bytes(), len};
            used += cara_wire_record_item_bytes(len);
        }
        cara_buf_reset(&b);
        CHECK_OK(cara_wire_encode(&m_in, CARA_GOSSIP_PLAINTEXT_BYTES_MAX, &b));
        CHECK_INT(b.len, <=, CARA_GOSSIP_PLAINTEXT_BYTES_MAX);
        size_t slack = (m_in.records_count < 16 ? 2 : 0) + 1; /* no adverts: bin8 */
        CHECK_INT(b.len, ==, CARA_GOSSIP_PLAINTEXT_BYTES_MAX - (room - used) - slack);
        CHECK_OK(cara_wire_decode(b.data, b.len, CARA_WIRE_IN_DATAGRAM, &m_out));
    }
    cara_buf_free(&b);
}

/* ---- Worst cases and caps of the other kinds --------------------------------- */

static uint8_t *big; /* CARA_WIRE_DELTA_BYTES_MAX bytes of backing store */

static void big_new(void)
{
    big = malloc(CARA_WIRE_DELTA_BYTES_MAX);
    CHECK(big != NULL);
    for (size_t i = 0; i < CARA_WIRE_DELTA_BYTES_MAX; i++)
        big[i] = (uint8_t)(i * 13);
}

TEST(worst_cases_of_every_kind_round_trip_and_one_past_a_cap_is_refused)
{
    big_new();
    cara_buf b;
    buf_new(&b);
    /* PUSH: the record cap, and one record of the largest size. */
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_PUSH;
    fixture_wire_records(&m_in, CARA_WIRE_RECORDS_MAX, 1);
    round_trip(&m_in, CARA_WIRE_IN_STREAM, &b);
    CHECK_INT(m_out.records_count, ==, CARA_WIRE_RECORDS_MAX);
    m_in.records_count = CARA_WIRE_RECORDS_MAX + 1;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    m_in.records_count = 1;
    m_in.records[0] = (cara_wire_bytes){big, CARA_CRDT_RECORD_BYTES_MAX};
    round_trip(&m_in, CARA_WIRE_IN_STREAM, &b);
    m_in.records[0].len++;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    m_in.records[0].len = 0;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    /* ACK: the cap, with the largest HLCs. */
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_ACK;
    m_in.acks_count = CARA_WIRE_ACKS_MAX;
    for (size_t i = 0; i < CARA_WIRE_ACKS_MAX; i++) {
        memset(m_in.acks[i].id, (int)i, CARA_CRDT_ID_BYTES);
        m_in.acks[i].hlc = UINT64_MAX - i;
    }
    round_trip(&m_in, CARA_WIRE_IN_STREAM, &b);
    CHECK_INT(b.len, <=, 3 + 3 + CARA_WIRE_ACKS_MAX * CARA_WIRE_ACK_ITEM_BYTES_MAX);
    m_in.acks_count++;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    /* SYNC and DELTA blobs at their caps. */
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_SYNC;
    m_in.blob = (cara_wire_bytes){big, CARA_CRDT_SYNC_MSG_BYTES_MAX};
    round_trip(&m_in, CARA_WIRE_IN_STREAM, &b);
    m_in.blob.len++;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    m_in.kind = CARA_WIRE_DELTA;
    m_in.blob.len = CARA_WIRE_DELTA_BYTES_MAX;
    round_trip(&m_in, CARA_WIRE_IN_STREAM, &b);
    CHECK_INT(b.len, <=, CARA_WIRE_STREAM_MSG_BYTES_MAX);
    m_in.blob = (cara_wire_bytes){NULL, 0}; /* an empty delta is allowed */
    round_trip(&m_in, CARA_WIRE_IN_STREAM, &b);
    /* JOIN: an identity at its caps and records up to the clear cap. */
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_JOIN;
    fill_name(m_in.node.name, &m_in.node.name_len, CARA_SWIM_NAME_BYTES_MAX, 'j');
    m_in.addr.len = CARA_SWIM_ADDR_BYTES_MAX;
    for (int i = 0; i < 16; i++)
        m_in.records[m_in.records_count++] = (cara_wire_bytes){big + i, 640};
    round_trip(&m_in, CARA_WIRE_IN_CLEAR, &b);
    m_in.records[0].len = CARA_WIRE_CLEAR_BYTES_MAX;
    CHECK_RC(cara_wire_encode(&m_in, place_max(CARA_WIRE_IN_CLEAR), &b), CARA_ETOOBIG);
    m_in.records[0].len = 640;
    m_in.addr.len = CARA_SWIM_ADDR_BYTES_MAX + 1;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    /* REFUSED: the longest text, the reason range. */
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_REFUSED;
    m_in.reason = CARA_ERROR_FIRST_ + 1;
    memset(m_in.text, '~', CARA_WIRE_TEXT_BYTES_MAX);
    m_in.text_len = CARA_WIRE_TEXT_BYTES_MAX;
    round_trip(&m_in, CARA_WIRE_IN_CLEAR, &b);
    m_in.reason = -1;
    round_trip(&m_in, CARA_WIRE_IN_CLEAR, &b);
    m_in.reason = 0;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    m_in.reason = CARA_ERROR_FIRST_;
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    m_in.reason = CARA_EPARSE;
    m_in.text[3] = '\n';
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    cara_buf_free(&b);
    free(big);
}

TEST(encode_refuses_messages_that_break_their_format_and_leaves_out_unchanged)
{
    cara_buf b;
    buf_new(&b);
    CHECK_OK(cara_buf_append(&b, "keep", 4));
    fixture_wire_sample(FIXTURE_WIRE_SWIM_PING, &m_in);
    size_t need = cara_wire_encoded_bytes(&m_in);
    CHECK_RC(cara_wire_encode(&m_in, need - 1, &b), CARA_ETOOBIG);
    CHECK_MEM(b.data, b.len, "keep", 4);
    CHECK_OK(cara_wire_encode(&m_in, need, &b));
    CHECK_INT(b.len, ==, 4 + need);
    /* The buffer's own cap counts too. */
    cara_buf small;
    cara_buf_init(&small, cara_test_env(), need - 1);
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &small), CARA_ETOOBIG);
    CHECK_INT(small.len, ==, 0);
    cara_buf_free(&small);
    b.len = 4;
    const size_t len_before = b.len;
#define REFUSED(stmt)                                                     \
    do {                                                                  \
        fixture_wire_sample(FIXTURE_WIRE_SWIM_PING, &m_in);               \
        stmt;                                                             \
        CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);     \
        CHECK_INT(cara_wire_encoded_bytes(&m_in), ==, 0);                 \
        CHECK_INT(b.len, ==, len_before);                                 \
    } while (0)
    REFUSED(m_in.kind = 0);
    REFUSED(m_in.kind = 13);
    REFUSED(m_in.swim.type = 0);
    REFUSED(m_in.swim.type = CARA_SWIM_GOSSIP + 1);
    REFUSED(m_in.swim.target.name_len = CARA_SWIM_NAME_BYTES_MAX + 1);
    REFUSED(m_in.swim.target.name_len = 0); /* a key but no name */
    REFUSED(m_in.swim.target_addr.len = CARA_SWIM_ADDR_BYTES_MAX + 1);
    REFUSED(m_in.swim.updates_count = CARA_SWIM_PIGGYBACK_MAX + 1);
    REFUSED(m_in.swim.updates[0].kind = 0);
    REFUSED(m_in.swim.updates[1].kind = CARA_SWIM_LEFT + 1);
    REFUSED(m_in.swim.updates[1].incarnation = CARA_SWIM_INCARNATION_MAX + 1);
    REFUSED(m_in.swim.updates[1].member.name_len = 0);
    REFUSED(m_in.swim.updates[1].accuser_len = CARA_SWIM_NAME_BYTES_MAX + 1);
    REFUSED(m_in.records[1].ptr = NULL);
#undef REFUSED
    /* A clear frame carries only the join kinds. */
    fixture_wire_sample(FIXTURE_WIRE_PUSH, &m_in);
    CHECK_RC(cara_wire_clear_frame(&m_in, &b), CARA_EINVAL);
    CHECK_INT(b.len, ==, len_before);
    cara_buf_free(&b);
}

/* ---- Refusing bad input --------------------------------------------------------- */

TEST(every_truncation_of_a_valid_message_is_refused)
{
    cara_buf b;
    buf_new(&b);
    for (int i = 0; i < FIXTURE_WIRE_COUNT; i++) {
        fixture_wire_sample(i, &m_in);
        int where = fixture_wire_where(i);
        round_trip(&m_in, where, &b);
        for (size_t cut = 0; cut < b.len; cut++) {
            int rc = cara_wire_decode(cut ? b.data : NULL, cut, where, &m_out);
            if (rc != CARA_EPARSE)
                cara_test_fail(__FILE__, __LINE__, "sample %s cut at %zu: %s",
                               fixture_wire_names[i], cut, cara_errname(rc));
        }
        /* A byte more is trailing garbage. */
        CHECK_OK(cara_buf_append(&b, "\0", 1));
        CHECK_RC(cara_wire_decode(b.data, b.len, where, &m_out), CARA_EPARSE);
    }
    cara_buf_free(&b);
}

/* Decodes `bytes` in every place; an accepted message must be of that
 * place and encode to the very same bytes. Returns how many places took
 * it. */
static int decode_anywhere(const uint8_t *bytes, size_t len)
{
    int taken = 0;
    for (int p = 0; p < 3; p++) {
        int rc = cara_wire_decode(bytes, len, places[p], &m_out);
        if (rc != 0) {
            CHECK(rc == CARA_EPARSE || rc == CARA_ETOOBIG || rc == CARA_EUNSUPPORTED);
            continue;
        }
        taken++;
        cara_buf again;
        buf_new(&again);
        CHECK_OK(cara_wire_encode(&m_out, place_max(places[p]), &again));
        CHECK_MEM(again.data, again.len, bytes, len);
        cara_buf_free(&again);
    }
    return taken;
}

TEST(random_byte_flips_never_crash_and_what_decodes_reencodes_identically)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    cara_buf b;
    buf_new(&b);
    uint8_t mutated[4096];
    int accepted = 0, tried = 0;
    for (int i = 0; i < FIXTURE_WIRE_COUNT; i++) {
        fixture_wire_sample(i, &m_in);
        round_trip(&m_in, fixture_wire_where(i), &b);
        CHECK(b.len <= sizeof mutated);
        for (int round = 0; round < 3000; round++) {
            memcpy(mutated, b.data, b.len);
            int flips = 1 + (int)cara_rng_below(&rng, 3);
            for (int f = 0; f < flips; f++) {
                size_t at = cara_rng_below(&rng, b.len);
                mutated[at] ^= (uint8_t)(1 + cara_rng_below(&rng, 255));
            }
            accepted += decode_anywhere(mutated, b.len) > 0;
            tried++;
        }
    }
    /* Flips inside record bytes, names and numbers stay valid: the test
     * must have exercised the accepting path too. */
    CHECK_INT(accepted, >, tried / 20);
    CHECK_INT(accepted, <, tried);
    cara_buf_free(&b);
}

TEST(a_kind_outside_its_place_is_a_parse_error)
{
    cara_buf b;
    buf_new(&b);
    int refusals = 0;
    for (int i = 0; i < FIXTURE_WIRE_COUNT; i++) {
        fixture_wire_sample(i, &m_in);
        cara_buf_reset(&b);
        CHECK_OK(cara_wire_encode(&m_in, SIZE_MAX, &b));
        for (int p = 0; p < 3; p++) {
            bool belongs =
                places[p] == fixture_wire_where(i) ||
                (places[p] == CARA_WIRE_IN_DATAGRAM &&
                 (m_in.kind == CARA_WIRE_PUSH || m_in.kind == CARA_WIRE_ACK));
            int rc = cara_wire_decode(b.data, b.len, places[p], &m_out);
            if (belongs) {
                CHECK_OK(rc);
            } else {
                CHECK_RC(rc, CARA_EPARSE);
                refusals++;
            }
        }
    }
    /* SWIM x3 and PULL in stream and clear, PUSH/ACK in clear,
     * SYNC/DELTA/DONE in datagram and clear, the join kinds in datagram
     * and stream. */
    CHECK_INT(refusals, ==, 4 * 2 + 2 + 3 * 2 + 3 * 2);
    cara_buf_free(&b);
}

TEST(another_version_is_unsupported_whatever_follows)
{
    cara_buf b;
    buf_new(&b);
    for (int i = 0; i < FIXTURE_WIRE_COUNT; i++) {
        fixture_wire_sample(i, &m_in);
        round_trip(&m_in, fixture_wire_where(i), &b);
        CHECK_INT(b.data[1], ==, CARA_WIRE_VERSION); /* fixarray, then version */
        b.data[1] = 1; /* version 1: the shapes before the digest */
        CHECK_RC(cara_wire_decode(b.data, b.len, fixture_wire_where(i), &m_out),
                 CARA_EUNSUPPORTED);
        b.data[1] = 2; /* version 2: the shapes before the adverts */
        CHECK_RC(cara_wire_decode(b.data, b.len, fixture_wire_where(i), &m_out),
                 CARA_EUNSUPPORTED);
        b.data[1] = 4;
        CHECK_RC(cara_wire_decode(b.data, b.len, fixture_wire_where(i), &m_out),
                 CARA_EUNSUPPORTED);
    }
    /* A later version's own shape: [4, 99, "whatever"]. */
    const uint8_t later[] = {0x93, 0x04, 0x63, 0xa3, 'a', 'b', 'c'};
    for (int p = 0; p < 3; p++)
        CHECK_RC(cara_wire_decode(later, sizeof later, places[p], &m_out), CARA_EUNSUPPORTED);
    /* Version 0 too, and a version in a long form is not canonical. */
    const uint8_t v0[] = {0x92, 0x00, 0x0c};
    CHECK_RC(cara_wire_decode(v0, sizeof v0, CARA_WIRE_IN_STREAM, &m_out), CARA_EUNSUPPORTED);
    const uint8_t v1long[] = {0x92, 0xcc, WV, 0x0c};
    CHECK_RC(cara_wire_decode(v1long, sizeof v1long, CARA_WIRE_IN_STREAM, &m_out), CARA_EPARSE);
    const uint8_t done[] = {0x92, WV, 0x0c};
    CHECK_OK(cara_wire_decode(done, sizeof done, CARA_WIRE_IN_STREAM, &m_out));
    CHECK_INT(m_out.kind, ==, CARA_WIRE_DONE);
    /* A kind is judged whole, not by its low bits: 2^32 + 12 and 256 + 12
     * are not DONE. */
    const uint8_t kind_wide[] = {0x92, WV, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0x0c};
    const uint8_t kind_16[] = {0x92, WV, 0xcd, 0x01, 0x0c};
    CHECK_RC(cara_wire_decode(kind_wide, sizeof kind_wide, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE);
    CHECK_RC(cara_wire_decode(kind_16, sizeof kind_16, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE);
    cara_buf_free(&b);
}

TEST(counts_and_lengths_larger_than_the_bytes_left_are_refused)
{
    /* PUSH whose records array claims 2^32 - 1, 65535 and 20 entries. */
    const uint8_t a32[] = {0x94, WV, 0x02, 0xc3, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x01, 0x00};
    const uint8_t a16[] = {0x94, WV, 0x02, 0xc3, 0xdc, 0xff, 0xff, 0xc4, 0x01, 0x00};
    const uint8_t a20[] = {0x94, WV, 0x02, 0xc3, 0xdc, 0x00, 0x14, 0xc4, 0x01, 0x00};
    /* A DELTA whose bin32 claims 4 GiB, and one whose bin8 claims 200. */
    const uint8_t b32[] = {0x93, WV, 0x0b, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00};
    const uint8_t b8[] = {0x93, WV, 0x0b, 0xc4, 0xc8, 0x00, 0x00};
    /* An outer array of 15 with 3 elements. */
    const uint8_t outer[] = {0x9f, 0x01, 0x0c};
    const struct {
        const uint8_t *b;
        size_t len;
    } cases[] = {{a32, sizeof a32}, {a16, sizeof a16}, {a20, sizeof a20},
                 {b32, sizeof b32}, {b8, sizeof b8},   {outer, sizeof outer}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_RC(cara_wire_decode(cases[i].b, cases[i].len, CARA_WIRE_IN_STREAM, &m_out),
                 CARA_EPARSE);
    /* Honest counts past a cap are refused as too big. */
    cara_buf b;
    buf_new(&b);
    const uint8_t push_head[] = {0x94, WV, 0x02, 0xc2, 0xdc,
                                 (CARA_WIRE_RECORDS_MAX + 1) >> 8,
                                 (CARA_WIRE_RECORDS_MAX + 1) & 0xff};
    CHECK_OK(cara_buf_append(&b, push_head, sizeof push_head));
    for (int i = 0; i < CARA_WIRE_RECORDS_MAX + 1; i++)
        CHECK_OK(cara_buf_append(&b, "\xc4\x01\x07", 3));
    CHECK_RC(cara_wire_decode(b.data, b.len, CARA_WIRE_IN_STREAM, &m_out), CARA_ETOOBIG);
    /* One record fewer is fine. */
    cara_buf_reset(&b);
    const uint8_t push_ok[] = {0x94, WV, 0x02, 0xc2, 0xdc, CARA_WIRE_RECORDS_MAX >> 8,
                               CARA_WIRE_RECORDS_MAX & 0xff};
    CHECK_OK(cara_buf_append(&b, push_ok, sizeof push_ok));
    for (int i = 0; i < CARA_WIRE_RECORDS_MAX; i++)
        CHECK_OK(cara_buf_append(&b, "\xc4\x01\x07", 3));
    CHECK_OK(cara_wire_decode(b.data, b.len, CARA_WIRE_IN_STREAM, &m_out));
    CHECK_INT(m_out.records_count, ==, CARA_WIRE_RECORDS_MAX);
    CHECK_INT(m_out.want_ack, ==, 0);
    /* A SWIM message with 17 updates. */
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_SWIM;
    m_in.swim.type = CARA_SWIM_ACK;
    for (int i = 0; i < CARA_SWIM_PIGGYBACK_MAX; i++)
        swim_update(&m_in.swim.updates[m_in.swim.updates_count++], 1, 0, (uint8_t)i);
    cara_buf_reset(&b);
    CHECK_OK(cara_wire_encode(&m_in, SIZE_MAX, &b));
    /* [2, 1, [type, seq, nil, nil, nil, digest 0, dc 00 10 ...]]: bump the
     * count to 17 and append one more update. */
    CHECK_INT(b.data[3], ==, 0x97);
    CHECK_INT(b.data[10], ==, 0xdc);
    CHECK_INT(b.data[12], ==, 16);
    b.data[12] = 17;
    b.len -= 3; /* the empty records array and the empty adverts */
    size_t first_update = 13, update_len = (b.len - first_update) / 16;
    CHECK_OK(cara_buf_append(&b, b.data + first_update, update_len));
    CHECK_OK(cara_buf_append(&b, "\x90\xc4\x00", 3));
    CHECK_RC(cara_wire_decode(b.data, b.len, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_ETOOBIG);
    b.data[12] = 16;
    CHECK_RC(cara_wire_decode(b.data, b.len, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EPARSE);
    cara_buf_free(&b);
}

/* msgpack-c allocates 24 bytes for each element an array claims; the
 * pre-scan caps the elements of a message at what the largest message our
 * caps admit holds, so a stream message full of one-byte elements is
 * refused before msgpack-c sees it, as too big when it is otherwise well
 * formed. */
TEST(floods_of_tiny_elements_are_too_big_and_nesting_past_the_format_is_malformed)
{
    size_t len = CARA_WIRE_STREAM_MSG_BYTES_MAX;
    uint8_t *b = malloc(len);
    CHECK(b != NULL);
    /* PUSH whose records array32 honestly holds ~4 MiB of nils. */
    const uint8_t push_head[] = {0x94, WV, 0x02, 0xc2, 0xdd};
    size_t nils = len - sizeof push_head - 4;
    memcpy(b, push_head, sizeof push_head);
    b[5] = (uint8_t)(nils >> 24);
    b[6] = (uint8_t)(nils >> 16);
    b[7] = (uint8_t)(nils >> 8);
    b[8] = (uint8_t)nils;
    memset(b + 9, 0xc0, nils);
    CHECK_RC(cara_wire_decode(b, len, CARA_WIRE_IN_STREAM, &m_out), CARA_ETOOBIG);
    CHECK_RC(cara_wire_decode(b, len - 1, CARA_WIRE_IN_STREAM, &m_out), CARA_EPARSE);
    /* A DONE whose outer array holds 2000 nils: no shape has that many
     * fields, but the count is what gives it away first. */
    const uint8_t done_head[] = {0xdc, 2002 >> 8, 2002 & 0xff, WV, 0x0c};
    memcpy(b, done_head, sizeof done_head);
    memset(b + sizeof done_head, 0xc0, 2000);
    CHECK_RC(cara_wire_decode(b, sizeof done_head + 2000, CARA_WIRE_IN_STREAM, &m_out),
             CARA_ETOOBIG);
    /* Nesting one level deeper than any message (outer > membership >
     * updates > update) is malformed, flooded or not. */
    const uint8_t deep[] = {0x93, WV, 0x0b, 0x91, 0x91, 0x91, 0x91, 0x01};
    const uint8_t deepest_ok[] = {0x93, WV, 0x0b, 0x91, 0x91, 0x91, 0x01};
    CHECK_RC(cara_wire_decode(deep, sizeof deep, CARA_WIRE_IN_STREAM, &m_out), CARA_EPARSE);
    CHECK_RC(cara_wire_decode(deepest_ok, sizeof deepest_ok, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE); /* within depth: refused by the DELTA's type only */
    const uint8_t deep_flood_head[] = {0x93, WV, 0x0b, 0x91, 0x91, 0x91, 0x91, 0xdc,
                                       2000 >> 8, 2000 & 0xff};
    memcpy(b, deep_flood_head, sizeof deep_flood_head);
    memset(b + sizeof deep_flood_head, 0xc0, 2000);
    CHECK_RC(cara_wire_decode(b, sizeof deep_flood_head + 2000, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE);
    free(b);
}

TEST(messages_longer_than_their_place_allows_are_too_big)
{
    uint8_t *b = calloc(1, CARA_WIRE_STREAM_MSG_BYTES_MAX + 1);
    CHECK(b != NULL);
    b[0] = 0x92;
    b[1] = WV;
    b[2] = 0x0c;
    CHECK_RC(cara_wire_decode(b, CARA_GOSSIP_PLAINTEXT_BYTES_MAX + 1, CARA_WIRE_IN_DATAGRAM,
                              &m_out),
             CARA_ETOOBIG);
    CHECK_RC(cara_wire_decode(b, CARA_WIRE_CLEAR_BYTES_MAX, CARA_WIRE_IN_CLEAR, &m_out),
             CARA_ETOOBIG);
    CHECK_RC(cara_wire_decode(b, CARA_WIRE_STREAM_MSG_BYTES_MAX + 1, CARA_WIRE_IN_STREAM, &m_out),
             CARA_ETOOBIG);
    CHECK_RC(cara_wire_decode(b, CARA_WIRE_STREAM_MSG_BYTES_MAX, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE); /* within the cap: trailing zeros */
    free(b);
}

/* Each entry: the bytes of a whole message that is wrong in one field. */
TEST(wrong_types_bad_fields_and_non_canonical_forms_are_refused)
{
    cara_buf b;
    buf_new(&b);
    fixture_wire_sample(FIXTURE_WIRE_SWIM_PING, &m_in);
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    /* Layout: 95 03 01 | 97 01 ce <seq 4> a6 "node-b" c4 20 <key> c4 00
     * <digest> 92 ... */
    const size_t at_type = 4, at_seq = 5, at_name = 10, at_key = 17, at_addr = 51;
    const size_t at_digest = at_addr + 2;
    CHECK_INT(b.data[at_name], ==, 0xa6);
    CHECK_INT(b.data[at_key], ==, 0xc4);
    CHECK_INT(b.data[at_addr], ==, 0xc4);
    CHECK_INT(b.data[at_seq], ==, 0xce);
    uint8_t *w = malloc(b.len + 8);
    CHECK(w != NULL);
    struct {
        size_t at;
        uint8_t to;
    } pokes[] = {
        {at_type, 0x00},     /* type 0 */
        {at_type, 0x06},     /* type 6 (GOSSIP, 5, is the last) */
        {at_type, 0xc2},     /* type false */
        {at_name, 0xc4},     /* name as bin */
        {at_name, 0xa0},     /* empty name: the rest no longer parses */
        {at_key, 0xa0 | 0x1f},
        {at_key + 1, 31},    /* key of 31 bytes */
        {at_addr, 0xa0},     /* address as str */
        {at_addr + 1, 19},   /* address of 19 bytes */
        {0, 0x96},           /* outer array of 6 */
        {2, 0x02},           /* kind PUSH with SWIM's shape */
        {2, 0x63},           /* unknown kind 99 */
        {3, 0x98},           /* membership message of 8 fields */
        {3, 0x96},           /* of 6 (version 1's shape) */
        {at_digest, 0xc0},   /* digest nil */
        {at_digest, 0xa4},   /* digest as a string */
    };
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        memcpy(w, b.data, b.len);
        w[pokes[i].at] = pokes[i].to;
        int rc = cara_wire_decode(w, b.len, CARA_WIRE_IN_DATAGRAM, &m_out);
        if (rc != CARA_EPARSE)
            cara_test_fail(__FILE__, __LINE__, "poke %zu: %s", i, cara_errname(rc));
    }
    /* Overlong but well-formed: seq 5 as uint32 ce 00 00 00 05. */
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_SWIM;
    m_in.swim.type = CARA_SWIM_NACK;
    m_in.swim.seq = 5;
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    const uint8_t nack[] = {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0,
                            0xc0, 0x00, 0x90, 0x90, 0xc4, 0x00};
    CHECK_MEM(b.data, b.len, nack, sizeof nack);
    CHECK_OK(cara_wire_decode(nack, sizeof nack, CARA_WIRE_IN_DATAGRAM, &m_out));
    const uint8_t overlong[][20] = {
        {0x95, WV, 0x01, 0x97, 0x04, 0xce, 0, 0, 0, 5, 0xc0, 0xc0, 0xc0, 0x00, 0x90, 0x90, 0xc4, 0},
        {0x95, WV, 0x01, 0x97, 0x04, 0xcc, 5, 0xc0, 0xc0, 0xc0, 0x00, 0x90, 0x90, 0xc4, 0},
        {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0x00, 0xdc, 0, 0, 0x90, 0xc4, 0},
        {0x95, WV, 0x01, 0xdc, 0, 7, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0x00, 0x90, 0x90, 0xc4, 0},
        {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0x00, 0x90, 0xdd, 0, 0, 0, 0, 0xc4, 0},
        {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0x00, 0x90, 0x90, 0x90, 0xc4, 0}, /* 2 nils */
        {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0x00, 0x90, 0x90, 0xc4, 0, 0x90},
        /* seq past 2^32 */
        {0x95, WV, 0x01, 0x97, 0x04, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 0xc0, 0xc0, 0x00, 0x90},
        /* digest 0 as uint32, and digest past 2^32 */
        {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0xce, 0, 0, 0, 0, 0x90, 0x90, 0xc4, 0},
        {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x90,
         0x90},
        /* no adverts as an empty bin16 */
        {0x95, WV, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0x00, 0x90, 0x90, 0xc5, 0, 0},
    };
    const size_t overlong_len[] = {18, 15, 16, 16, 18, 14, 15, 19, 18, 20, 15};
    for (size_t i = 0; i < sizeof overlong_len / sizeof overlong_len[0]; i++) {
        int rc = cara_wire_decode(overlong[i], overlong_len[i], CARA_WIRE_IN_DATAGRAM, &m_out);
        if (rc != CARA_EPARSE)
            cara_test_fail(__FILE__, __LINE__, "overlong %zu: %s", i, cara_errname(rc));
    }
    /* str8 for a short name, bin16 for a short record, in a JOIN. */
    const uint8_t join_str8[] = {0x96, WV, 0x14, 0xd9, 0x01, 'j', 0xc4, 0x20};
    CHECK_RC(cara_wire_decode(join_str8, sizeof join_str8, CARA_WIRE_IN_CLEAR, &m_out),
             CARA_EPARSE);
    /* REFUSED: reason as positive, as overlong int16, text with a newline. */
    const uint8_t r_pos[] = {0x94, WV, 0x16, 0x05, 0xa1, 'x'};
    const uint8_t r_long[] = {0x94, WV, 0x16, 0xd1, 0xff, 0xff, 0xa1, 'x'};
    const uint8_t r_nl[] = {0x94, WV, 0x16, 0xff, 0xa1, '\n'};
    const uint8_t r_ok[] = {0x94, WV, 0x16, 0xff, 0xa1, 'x'};
    CHECK_RC(cara_wire_decode(r_pos, sizeof r_pos, CARA_WIRE_IN_CLEAR, &m_out), CARA_EPARSE);
    CHECK_RC(cara_wire_decode(r_long, sizeof r_long, CARA_WIRE_IN_CLEAR, &m_out), CARA_EPARSE);
    CHECK_RC(cara_wire_decode(r_nl, sizeof r_nl, CARA_WIRE_IN_CLEAR, &m_out), CARA_EPARSE);
    CHECK_OK(cara_wire_decode(r_ok, sizeof r_ok, CARA_WIRE_IN_CLEAR, &m_out));
    CHECK_INT(m_out.reason, ==, -1);
    /* Empty text at the very end (msgpack-c may hand it over as NULL). */
    const uint8_t r_empty[] = {0x94, WV, 0x16, 0xff, 0xa0};
    CHECK_OK(cara_wire_decode(r_empty, sizeof r_empty, CARA_WIRE_IN_CLEAR, &m_out));
    CHECK_INT(m_out.text_len, ==, 0);
    /* An empty record; an ACK id of 15 bytes; want_ack as 1. */
    const uint8_t empty_rec[] = {0x94, WV, 0x02, 0xc3, 0x91, 0xc4, 0x00};
    const uint8_t short_id[] = {0x93, WV, 0x03, 0x91, 0x92, 0xc4, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0, 0x01};
    const uint8_t want_int[] = {0x94, WV, 0x02, 0x01, 0x90};
    CHECK_RC(cara_wire_decode(empty_rec, sizeof empty_rec, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE);
    CHECK_RC(cara_wire_decode(short_id, sizeof short_id, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE);
    CHECK_RC(cara_wire_decode(want_int, sizeof want_int, CARA_WIRE_IN_STREAM, &m_out),
             CARA_EPARSE);
    free(w);
    cara_buf_free(&b);
}

TEST(update_fields_are_bounded_exactly)
{
    cara_buf b;
    buf_new(&b);
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_SWIM;
    m_in.swim.type = CARA_SWIM_ACK;
    m_in.swim.updates_count = 1;
    swim_update(&m_in.swim.updates[0], CARA_SWIM_NAME_BYTES_MAX, CARA_SWIM_NAME_BYTES_MAX, 1);
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    CHECK_INT(m_out.swim.updates[0].incarnation, ==, CARA_SWIM_INCARNATION_MAX);
    /* Layout: 95 03 01 97 02 00 c0 c0 c0 00 91 | 96 03 ce <4> d9 40 <64> ... */
    const size_t u = 11;
    CHECK_INT(b.data[u], ==, 0x96);
    CHECK_INT(b.data[u + 2], ==, 0xce);
    CHECK_INT(b.data[u + 7], ==, 0xd9);
    uint8_t w[1024];
    memcpy(w, b.data, b.len);
    w[u + 1] = 0x05; /* kind 5 */
    CHECK_RC(cara_wire_decode(w, b.len, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EPARSE);
    memcpy(w, b.data, b.len);
    w[u + 3] = 0x80; /* incarnation 2^31 */
    CHECK_RC(cara_wire_decode(w, b.len, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EPARSE);
    memcpy(w, b.data, b.len);
    w[u + 8] = 0x41; /* a name of 65 bytes eats the key's header */
    CHECK_RC(cara_wire_decode(w, b.len, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EPARSE);
    /* A name of 65 bytes, well formed: rebuilt by hand. */
    cara_buf_reset(&b);
    const uint8_t head[] = {0x95, WV, 0x01, 0x97, 0x02, 0x00, 0xc0, 0xc0, 0xc0, 0x00, 0x91,
                            0x96, 0x01, 0x00, 0xd9, 65};
    CHECK_OK(cara_buf_append(&b, head, sizeof head));
    for (int i = 0; i < 65; i++)
        CHECK_OK(cara_buf_append(&b, "n", 1));
    CHECK_OK(cara_buf_append(&b, "\xc4\x20", 2));
    for (int i = 0; i < 32; i++)
        CHECK_OK(cara_buf_append(&b, "k", 1));
    CHECK_OK(cara_buf_append(&b, "\xc4\x00\xa0\x90\xc4\x00", 6));
    CHECK_RC(cara_wire_decode(b.data, b.len, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EPARSE);
    b.data[15] = 64; /* the same with 64 bytes of name */
    memmove(b.data + 16 + 64, b.data + 16 + 65, b.len - 16 - 65);
    b.len--;
    CHECK_OK(cara_wire_decode(b.data, b.len, CARA_WIRE_IN_DATAGRAM, &m_out));
    CHECK_INT(m_out.swim.updates[0].member.name_len, ==, 64);
    cara_buf_free(&b);
}

/* ---- Adverts and pulls (lazy push) ---------------------------------------------------- */

/* A PULL (or a SWIM message's adverts) of n entries, by hand: the bin's
 * header and n * 24 bytes, or `extra` bytes more or less than that. */
static size_t pull_by_hand(uint8_t *out, size_t n, int extra)
{
    size_t body = n * CARA_WIRE_IHAVE_BYTES + (size_t)extra, at = 0;
    out[at++] = 0x93;
    out[at++] = WV;
    out[at++] = CARA_WIRE_PULL;
    if (body < 256) {
        out[at++] = 0xc4;
    } else {
        out[at++] = 0xc5;
        out[at++] = (uint8_t)(body >> 8);
    }
    out[at++] = (uint8_t)body;
    for (size_t i = 0; i < body; i++)
        out[at++] = (uint8_t)(i * 13);
    return at;
}

TEST(adverts_and_pulls_round_trip_within_their_cap_and_are_refused_past_it_or_cut)
{
    cara_buf b;
    buf_new(&b);
    /* Round trips: the HLC of every byte length survives the fixed 8 bytes. */
    fixture_wire_sample(FIXTURE_WIRE_SWIM_GOSSIP, &m_in);
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    CHECK_INT(m_out.ihaves_count, ==, 3);
    CHECK_INT(m_out.records_count, ==, 1);
    for (size_t k = 0; k < 3; k++) {
        CHECK_MEM(m_out.ihaves[k].id, CARA_CRDT_ID_BYTES, m_in.ihaves[k].id, CARA_CRDT_ID_BYTES);
        CHECK_INT(m_out.ihaves[k].hlc, ==, m_in.ihaves[k].hlc);
    }
    memset(&m_in, 0, sizeof m_in);
    m_in.kind = CARA_WIRE_PULL;
    m_in.ihaves_count = CARA_WIRE_IHAVES_MAX;
    for (size_t k = 0; k < CARA_WIRE_IHAVES_MAX; k++) {
        memset(m_in.ihaves[k].id, (int)k, CARA_CRDT_ID_BYTES);
        m_in.ihaves[k].hlc = UINT64_MAX - k;
    }
    round_trip(&m_in, CARA_WIRE_IN_DATAGRAM, &b);
    CHECK_INT(b.len, ==, 3 + 3 + CARA_WIRE_IHAVES_MAX * CARA_WIRE_IHAVE_BYTES);
    CHECK_INT(m_out.ihaves[CARA_WIRE_IHAVES_MAX - 1].hlc, ==, UINT64_MAX - (CARA_WIRE_IHAVES_MAX - 1));
    /* One past the cap refuses to encode, and by hand to decode. */
    m_in.ihaves_count = CARA_WIRE_IHAVES_MAX + 1;
    cara_buf_reset(&b);
    CHECK_RC(cara_wire_encode(&m_in, SIZE_MAX, &b), CARA_EINVAL);
    CHECK_INT(b.len, ==, 0);
    uint8_t w[CARA_GOSSIP_PLAINTEXT_BYTES_MAX + 64];
    size_t n = pull_by_hand(w, CARA_WIRE_IHAVES_MAX, 0);
    CHECK_OK(cara_wire_decode(w, n, CARA_WIRE_IN_DATAGRAM, &m_out));
    n = pull_by_hand(w, CARA_WIRE_IHAVES_MAX + 1, 0);
    CHECK_RC(cara_wire_decode(w, n, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_ETOOBIG);
    CHECK_INT(m_out.ihaves_count, ==, 0);
    /* Not a whole number of entries: one byte short, one over, empty is fine. */
    n = pull_by_hand(w, 2, -1);
    CHECK_RC(cara_wire_decode(w, n, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EPARSE);
    n = pull_by_hand(w, 2, 1);
    CHECK_RC(cara_wire_decode(w, n, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EPARSE);
    n = pull_by_hand(w, 0, 0);
    CHECK_OK(cara_wire_decode(w, n, CARA_WIRE_IN_DATAGRAM, &m_out));
    /* A PULL is a datagram's: on a stream or in a clear frame it is malformed. */
    n = pull_by_hand(w, 1, 0);
    CHECK_RC(cara_wire_decode(w, n, CARA_WIRE_IN_STREAM, &m_out), CARA_EPARSE);
    CHECK_RC(cara_wire_decode(w, n, CARA_WIRE_IN_CLEAR, &m_out), CARA_EPARSE);
    /* Every truncation is refused. */
    for (size_t cut = 0; cut < n; cut++)
        CHECK(cara_wire_decode(w, cut, CARA_WIRE_IN_DATAGRAM, &m_out) != 0);
    /* Version 2's SWIM message (four fields, no adverts) is another
     * version: a mixed cluster's datagrams are refused as unsupported. */
    const uint8_t v2[] = {0x94, 2, 0x01, 0x97, 0x04, 0x05, 0xc0, 0xc0, 0xc0, 0x00, 0x90, 0x90};
    CHECK_RC(cara_wire_decode(v2, sizeof v2, CARA_WIRE_IN_DATAGRAM, &m_out), CARA_EUNSUPPORTED);
    /* The size arithmetic: adverts fill what records leave, to the byte. */
    fixture_wire_sample(FIXTURE_WIRE_SWIM_GOSSIP, &m_in);
    size_t room = CARA_GOSSIP_PLAINTEXT_BYTES_MAX - cara_wire_swim_bytes(&m_in.swim) -
                  cara_wire_record_item_bytes(m_in.records[0].len);
    m_in.ihaves_count = room / CARA_WIRE_IHAVE_BYTES;
    if (m_in.ihaves_count > CARA_WIRE_IHAVES_MAX)
        m_in.ihaves_count = CARA_WIRE_IHAVES_MAX;
    cara_buf_reset(&b);
    CHECK_OK(cara_wire_encode(&m_in, CARA_GOSSIP_PLAINTEXT_BYTES_MAX, &b));
    CHECK_INT(b.len, ==, CARA_GOSSIP_PLAINTEXT_BYTES_MAX - room +
                             m_in.ihaves_count * CARA_WIRE_IHAVE_BYTES - 2);
    cara_buf_free(&b);
}

/* ---- Clear frames ------------------------------------------------------------------ */

TEST(clear_frames_round_trip_back_to_back_and_wait_for_their_bytes)
{
    cara_buf b;
    buf_new(&b);
    const int kinds[] = {FIXTURE_WIRE_JOIN, FIXTURE_WIRE_WELCOME, FIXTURE_WIRE_REFUSED};
    size_t ends[3];
    for (int i = 0; i < 3; i++) {
        fixture_wire_sample(kinds[i], &m_in);
        CHECK_OK(cara_wire_clear_frame(&m_in, &b));
        ends[i] = b.len;
    }
    CHECK(cara_wire_is_clear(b.data, b.len));
    CHECK_INT(b.data[2], ==, CARA_WIRE_VERSION);
    size_t at = 0, used = 0;
    for (int i = 0; i < 3; i++) {
        used = 0;
        CHECK_OK(cara_wire_clear_parse(b.data + at, b.len - at, &used, &m_out));
        CHECK_INT(at + used, ==, ends[i]);
        fixture_wire_sample(kinds[i], &m_in);
        CHECK_INT(m_out.kind, ==, m_in.kind);
        at += used;
    }
    /* Every strict prefix of the first frame waits, without consuming. */
    for (size_t cut = 0; cut < ends[0]; cut++) {
        used = 12345;
        CHECK_RC(cara_wire_clear_parse(cut ? b.data : NULL, cut, &used, &m_out), CARA_EAGAIN);
        CHECK_INT(used, ==, 12345);
    }
    cara_buf_free(&b);
}

TEST(clear_frames_refuse_bad_headers_before_waiting)
{
    size_t used = 0;
    /* The seal's hello and garbage are refused on their first byte. */
    const uint8_t hello[] = {0xca, 0x23, 0x01, 0x01};
    CHECK(!cara_wire_is_clear(hello, sizeof hello));
    CHECK(!cara_wire_is_clear((const uint8_t *)"C", 1));
    CHECK(cara_wire_is_clear((const uint8_t *)"CJ", 2));
    CHECK_RC(cara_wire_clear_parse(hello, 1, &used, &m_out), CARA_EPARSE);
    CHECK_RC(cara_wire_clear_parse((const uint8_t *)"CX", 2, &used, &m_out), CARA_EPARSE);
    /* Another version, as soon as its byte arrives. */
    CHECK_RC(cara_wire_clear_parse((const uint8_t *)"CJ\x01", 3, &used, &m_out),
             CARA_EUNSUPPORTED);
    CHECK_RC(cara_wire_clear_parse((const uint8_t *)"CJ\x02", 3, &used, &m_out),
             CARA_EUNSUPPORTED);
    CHECK_RC(cara_wire_clear_parse((const uint8_t *)"CJ\x04", 3, &used, &m_out),
             CARA_EUNSUPPORTED);
    /* A length past the cap, with nothing of the body yet. */
    uint32_t n = CARA_WIRE_CLEAR_BYTES_MAX - CARA_WIRE_CLEAR_HEADER_BYTES + 1;
    uint8_t h[7] = {'C', 'J', CARA_WIRE_VERSION, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                    (uint8_t)(n >> 8), (uint8_t)n};
    CHECK_RC(cara_wire_clear_parse(h, sizeof h, &used, &m_out), CARA_ETOOBIG);
    h[3] = h[4] = h[5] = 0xff;
    CHECK_RC(cara_wire_clear_parse(h, sizeof h, &used, &m_out), CARA_ETOOBIG);
    /* The largest length waits; a zero length is malformed. */
    n--;
    h[3] = (uint8_t)(n >> 24), h[4] = (uint8_t)(n >> 16), h[5] = (uint8_t)(n >> 8),
    h[6] = (uint8_t)n;
    CHECK_RC(cara_wire_clear_parse(h, sizeof h, &used, &m_out), CARA_EAGAIN);
    memset(h + 3, 0, 4);
    CHECK_RC(cara_wire_clear_parse(h, sizeof h, &used, &m_out), CARA_EPARSE);
    /* A whole frame holding a message of another place, or a bad one. */
    cara_buf b;
    buf_new(&b);
    const uint8_t done[] = {'C', 'J', WV, 0, 0, 0, 3, 0x92, WV, 0x0c};
    CHECK_RC(cara_wire_clear_parse(done, sizeof done, &used, &m_out), CARA_EPARSE);
    const uint8_t v4[] = {'C', 'J', WV, 0, 0, 0, 3, 0x92, 0x04, 0x0c};
    CHECK_RC(cara_wire_clear_parse(v4, sizeof v4, &used, &m_out), CARA_EUNSUPPORTED);
    /* A frame too big to send is refused when framing. */
    fixture_wire_sample(FIXTURE_WIRE_JOIN, &m_in);
    uint8_t *blob = calloc(1, CARA_WIRE_CLEAR_BYTES_MAX);
    CHECK(blob != NULL);
    m_in.records[0] = (cara_wire_bytes){blob, CARA_WIRE_CLEAR_BYTES_MAX - 40};
    CHECK_RC(cara_wire_clear_frame(&m_in, &b), CARA_ETOOBIG);
    CHECK_INT(b.len, ==, 0);
    /* The largest that fits is exactly the cap, and parses. */
    size_t over = cara_wire_encoded_bytes(&m_in) + CARA_WIRE_CLEAR_HEADER_BYTES -
                  CARA_WIRE_CLEAR_BYTES_MAX;
    m_in.records[0].len -= over;
    CHECK_OK(cara_wire_clear_frame(&m_in, &b));
    CHECK_INT(b.len, ==, CARA_WIRE_CLEAR_BYTES_MAX);
    CHECK_OK(cara_wire_clear_parse(b.data, b.len, &used, &m_out));
    CHECK_INT(used, ==, CARA_WIRE_CLEAR_BYTES_MAX);
    free(blob);
    cara_buf_free(&b);
}
