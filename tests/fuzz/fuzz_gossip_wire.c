/*
 * Feeds arbitrary bytes to the gossip wire decoder (src/gossip/wire.c) as
 * a datagram's plaintext, a stream message and a clear join message, and
 * to the clear frame parser. Properties:
 *   - decode returns 0, CARA_EPARSE, CARA_ETOOBIG or CARA_EUNSUPPORTED;
 *   - an accepted message is of a kind its place admits, lies within its
 *     caps, and encodes to exactly the input: there is one encoding of a
 *     message, and every pointer it holds borrows from the input;
 *   - the clear frame parser consumes a whole frame that frames again to
 *     the same bytes, or waits (CARA_EAGAIN) only when the header is
 *     sound and the frame is not all there, or refuses; it never writes
 *     *used unless it accepts;
 *   - a strict prefix of an accepted message is refused;
 *   - for a SWIM message, cara_wire_swim_bytes and
 *     cara_wire_record_item_bytes add up to its size (less 2 when the
 *     records array is short), as the node object relies on.
 */
#include <string.h>

#include "fuzz_common.h"
#include "gossip/wire_int.h"

static cara_wire_msg msg;

static bool within(const uint8_t *data, size_t size, const uint8_t *p, size_t len)
{
    return len == 0 || (p >= data && p + len <= data + size);
}

static bool kind_in(int kind, int where)
{
    switch (where) {
    case CARA_WIRE_IN_DATAGRAM:
        return kind == CARA_WIRE_SWIM || kind == CARA_WIRE_PUSH || kind == CARA_WIRE_ACK ||
               kind == CARA_WIRE_PULL; /* PULL is datagram-only */
    case CARA_WIRE_IN_STREAM:
        return kind == CARA_WIRE_PUSH || kind == CARA_WIRE_ACK || kind == CARA_WIRE_SYNC ||
               kind == CARA_WIRE_DELTA || kind == CARA_WIRE_DONE;
    default:
        return kind == CARA_WIRE_JOIN || kind == CARA_WIRE_WELCOME || kind == CARA_WIRE_REFUSED;
    }
}

static void check_accepted(cara_env *env, const uint8_t *data, size_t size, int where)
{
    FUZZ_CHECK(kind_in(msg.kind, where));
    FUZZ_CHECK(msg.records_count <= CARA_WIRE_RECORDS_MAX);
    FUZZ_CHECK(msg.acks_count <= CARA_WIRE_ACKS_MAX);
    FUZZ_CHECK(msg.swim.updates_count <= CARA_SWIM_PIGGYBACK_MAX);
    FUZZ_CHECK(msg.text_len <= CARA_WIRE_TEXT_BYTES_MAX);
    for (size_t i = 0; i < msg.records_count; i++)
        FUZZ_CHECK(within(data, size, msg.records[i].ptr, msg.records[i].len));
    FUZZ_CHECK(within(data, size, msg.blob.ptr, msg.blob.len));
    cara_buf b;
    cara_buf_init(&b, env, size);
    FUZZ_CHECK(cara_wire_encoded_bytes(&msg) == size);
    FUZZ_CHECK(cara_wire_encode(&msg, size, &b) == 0);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    cara_buf_free(&b);
    if (msg.kind == CARA_WIRE_SWIM) {
        /* The node object's fill arithmetic: the bound with array16 for
         * the records and bin16 for the adverts, plus each record's item
         * bytes and each advert's, is the size, or two more when the
         * records array took a fixarray header, and one more when the
         * adverts took a bin8 one (fewer than 11). */
        size_t sum = cara_wire_swim_bytes(&msg.swim);
        for (size_t i = 0; i < msg.records_count; i++)
            sum += cara_wire_record_item_bytes(msg.records[i].len);
        sum += msg.ihaves_count * CARA_WIRE_IHAVE_BYTES;
        FUZZ_CHECK(sum == size + (msg.records_count < 16 ? 2 : 0) +
                              (msg.ihaves_count < 11 ? 1 : 0));
    }
}

static void check_decode(cara_env *env, const uint8_t *data, size_t size, int where)
{
    int rc = cara_wire_decode(data, size, where, &msg);
    if (rc != 0) {
        FUZZ_CHECK(rc == CARA_EPARSE || rc == CARA_ETOOBIG || rc == CARA_EUNSUPPORTED);
        return;
    }
    check_accepted(env, data, size, where);
    /* A strict prefix drawn from the input is refused. */
    size_t cut = data[size - 1] % size;
    FUZZ_CHECK(cara_wire_decode(data, cut, where, &msg) == CARA_EPARSE);
}

static void check_clear(cara_env *env, const uint8_t *data, size_t size)
{
    size_t used = 777;
    int rc = cara_wire_clear_parse(size ? data : NULL, size, &used, &msg);
    if (rc == CARA_EAGAIN) {
        FUZZ_CHECK(used == 777);
        FUZZ_CHECK(size < CARA_WIRE_CLEAR_HEADER_BYTES ||
                   size - CARA_WIRE_CLEAR_HEADER_BYTES <
                       (((size_t)data[3] << 24) | ((size_t)data[4] << 16) |
                        ((size_t)data[5] << 8) | data[6]));
        for (size_t i = 0; i < size && i < 2; i++)
            FUZZ_CHECK(data[i] == (i == 0 ? CARA_WIRE_CLEAR_MAGIC0 : CARA_WIRE_CLEAR_MAGIC1));
        return;
    }
    if (rc != 0) {
        FUZZ_CHECK(used == 777);
        FUZZ_CHECK(rc == CARA_EPARSE || rc == CARA_ETOOBIG || rc == CARA_EUNSUPPORTED);
        return;
    }
    FUZZ_CHECK(used > CARA_WIRE_CLEAR_HEADER_BYTES && used <= size &&
               used <= CARA_WIRE_CLEAR_BYTES_MAX);
    FUZZ_CHECK(cara_wire_is_clear(data, size));
    check_accepted(env, data + CARA_WIRE_CLEAR_HEADER_BYTES, used - CARA_WIRE_CLEAR_HEADER_BYTES,
                   CARA_WIRE_IN_CLEAR);
    cara_buf b;
    cara_buf_init(&b, env, CARA_WIRE_CLEAR_BYTES_MAX);
    FUZZ_CHECK(cara_wire_clear_frame(&msg, &b) == 0);
    FUZZ_CHECK(b.len == used && memcmp(b.data, data, used) == 0);
    cara_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    if (size > 0) {
        check_decode(env, data, size, CARA_WIRE_IN_DATAGRAM);
        check_decode(env, data, size, CARA_WIRE_IN_STREAM);
        check_decode(env, data, size, CARA_WIRE_IN_CLEAR);
    }
    check_clear(env, data, size);
    return 0;
}
