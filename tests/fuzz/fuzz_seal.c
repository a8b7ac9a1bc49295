/*
 * Feeds arbitrary bytes to the gossip seal's receiving side
 * (src/gossip/seal.c) as one datagram, and as a stream's bytes. The
 * receiver admits two nodes whose keys the fuzzer does not use to seal, so
 * no input can be authentic. Properties:
 *   - open never accepts: every input is refused with one of the drop
 *     codes, and exactly that drop counter moves by one;
 *   - the plaintext length is never reported and the sender key never
 *     written on refusal;
 *   - a stream's first frame is refused, or waits for more bytes without
 *     consuming any and without moving a counter;
 *   - a genuine datagram sealed afterwards still opens (no input moved the
 *     window of an admitted peer).
 */
#include <sodium.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_seal_fixture.h"

static cara_seal *rx_seal, *tx_seal;
static fixture_key rx_key, tx_key;

static void setup(cara_env *env)
{
    FUZZ_CHECK(sodium_init() >= 0);
    fixture_key_make(&rx_key, FIXTURE_SEAL_RX);
    fixture_key_make(&tx_key, FIXTURE_SEAL_TX);
    FUZZ_CHECK(fixture_seal_pair(env, &rx_seal, &tx_seal) == 0);
}

static int reason_of(int rc)
{
    switch (rc) {
    case CARA_EPARSE: return CARA_SEAL_DROP_MALFORMED;
    case CARA_ETOOBIG: return CARA_SEAL_DROP_OVERSIZED;
    case CARA_ENOTADMITTED: return CARA_SEAL_DROP_NOTADMITTED;
    case CARA_EBADSIG: return CARA_SEAL_DROP_BADTAG;
    case CARA_EREPLAY: return CARA_SEAL_DROP_REPLAY;
    case CARA_ESTALE: return CARA_SEAL_DROP_TOOOLD;
    default: return -1;
    }
}

/* Exactly the counter of `rc`'s reason moved by one, nothing was opened. */
static void check_counted(const cara_seal_stats *before, int rc)
{
    cara_seal_stats after;
    cara_seal_stats_get(rx_seal, &after);
    int why = reason_of(rc);
    FUZZ_CHECK(why >= 0);
    FUZZ_CHECK(after.opened == before->opened);
    for (int i = 0; i < CARA_SEAL_DROP_COUNT_; i++)
        FUZZ_CHECK(after.dropped[i] == before->dropped[i] + (i == why));
}

static void check_datagram(const uint8_t *data, size_t size)
{
    static uint8_t pt[CARA_GOSSIP_FRAME_BYTES_MAX];
    uint8_t from[CARA_CRDT_PK_BYTES];
    memset(from, 0xa5, sizeof from);
    size_t len = 12345;
    cara_seal_stats before;
    cara_seal_stats_get(rx_seal, &before);
    int rc = cara_seal_open(rx_seal, data, size, from, pt, sizeof pt, &len);
    FUZZ_CHECK(rc != 0);
    check_counted(&before, rc);
    FUZZ_CHECK(len == 12345 && from[0] == 0xa5 && from[31] == 0xa5);
}

static void check_stream(const uint8_t *data, size_t size)
{
    static uint8_t pt[CARA_GOSSIP_FRAME_BYTES_MAX];
    cara_seal_stream st;
    /* The receiver is the responder with a fresh random, as in real use:
     * no input can hold a frame made under this stream's keys. */
    uint8_t r_mine[CARA_SEAL_HELLO_RANDOM_BYTES], r_theirs[CARA_SEAL_HELLO_RANDOM_BYTES] = {0};
    randombytes_buf(r_mine, sizeof r_mine);
    uint8_t mine[CARA_SEAL_HELLO_BYTES], theirs[CARA_SEAL_HELLO_BYTES];
    cara_seal_hello(rx_seal, r_mine, mine);
    cara_seal_hello(tx_seal, r_theirs, theirs);
    FUZZ_CHECK(cara_seal_stream_start(rx_seal, &st, false, mine, theirs, sizeof theirs, NULL) == 0);
    cara_seal_stats before;
    cara_seal_stats_get(rx_seal, &before);
    size_t used = 99, len = 0;
    int rc = cara_seal_stream_open(rx_seal, &st, data, size, &used, pt, sizeof pt, &len);
    FUZZ_CHECK(rc != 0 && used == 0);
    if (rc == CARA_EAGAIN) {
        cara_seal_stats after;
        cara_seal_stats_get(rx_seal, &after);
        FUZZ_CHECK(memcmp(&after, &before, sizeof after) == 0);
    } else {
        check_counted(&before, rc);
    }
    cara_seal_stream_close(&st);
}

/* A datagram genuinely sealed by the admitted peer still opens. */
static void check_genuine(void)
{
    uint8_t wire[CARA_GOSSIP_DATAGRAM_BYTES_MAX], pt[CARA_GOSSIP_PLAINTEXT_BYTES_MAX];
    uint8_t from[CARA_CRDT_PK_BYTES];
    size_t n = 0, len = 0;
    FUZZ_CHECK(cara_seal_seal(tx_seal, rx_key.pk, (const uint8_t *)"hi", 2, wire, sizeof wire,
                              &n) == 0);
    FUZZ_CHECK(cara_seal_open(rx_seal, wire, n, from, pt, sizeof pt, &len) == 0);
    FUZZ_CHECK(len == 2 && memcmp(pt, "hi", 2) == 0);
    FUZZ_CHECK(memcmp(from, tx_key.pk, sizeof from) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup(fuzz_env());
        ready = 1;
    }
    check_datagram(data, size);
    check_stream(data, size);
    check_genuine();
    return 0;
}
