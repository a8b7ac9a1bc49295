/*
 * Feeds arbitrary bytes to cara_node_control_decode, the value of a
 * NODECTL record (docs/crdt.md, "Node controls"). An accepted value is
 * the one encoding of its fields: encoding them again gives the input
 * byte for byte, and never says draining without cordoned. A refused value
 * leaves the output as it was and is refused the same way again. Apart
 * from the input's fate, the flags drawn from its first byte encode to a
 * value that decodes back to them, and every strict prefix of it is
 * refused.
 */
#include <string.h>

#include "fuzz_common.h"

static void check_round_trip(cara_env *env, const uint8_t *data, size_t size)
{
    uint8_t bits = size > 0 ? data[0] : 0;
    cara_node_control c = {.cordoned = (bits & 1) != 0, .draining = (bits & 3) == 3};
    cara_buf b;
    cara_buf_init(&b, env, 64);
    FUZZ_CHECK(cara_node_control_encode(&c, &b) == 0 && b.len == CARA_NODECTL_BYTES);
    cara_node_control got = {!c.cordoned, !c.draining};
    FUZZ_CHECK(cara_node_control_decode(b.data, b.len, &got) == 0);
    FUZZ_CHECK(got.cordoned == c.cordoned && got.draining == c.draining);
    size_t cut = size % b.len; /* a strict prefix, drawn from the input */
    FUZZ_CHECK(cara_node_control_decode(b.data, cut, &got) == CARA_EPARSE);
    cara_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    cara_node_control c = {.cordoned = true, .draining = true};
    int rc = cara_node_control_decode(size ? data : NULL, size, &c);
    FUZZ_CHECK(rc == 0 || rc == CARA_EPARSE || rc == CARA_ENONCANON || rc == CARA_EUNSUPPORTED ||
               rc == CARA_ESCHEMA);
    if (rc == 0) {
        FUZZ_CHECK(c.cordoned || !c.draining);
        cara_buf b;
        cara_buf_init(&b, env, 64);
        FUZZ_CHECK(cara_node_control_encode(&c, &b) == 0);
        FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
        cara_buf_free(&b);
    } else {
        FUZZ_CHECK(c.cordoned && c.draining);
        FUZZ_CHECK(cara_node_control_decode(size ? data : NULL, size, &c) == rc);
    }
    check_round_trip(env, data, size);
    return 0;
}
