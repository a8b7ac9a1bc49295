/*
 * Drives the gossip node object (src/gossip/gossip.c, gossip_stream.c)
 * through every input path at once: datagrams, inbound streams and timers,
 * some of it wrapped in a valid seal from an admitted peer so that the
 * fuzzer reaches the wire decoder and the handlers behind the seal (SWIM,
 * PUSH, ACK, SYNC, DELTA, DONE, JOIN). The operations and the properties
 * are in tests/fuzz/fuzz_gossip_node_fixture.h; beyond them, the
 * sanitizers catch any memory error, leak or undefined behaviour.
 */
#include <sodium.h>

#include "fuzz_common.h"
#include "fuzz_gossip_node_fixture.h"

static cara_buf records;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        FUZZ_CHECK(sodium_init() >= 0);
        cara_buf_init(&records, fuzz_env(), CARA_CRDT_DELTA_BYTES_MAX);
        FUZZ_CHECK(node_fix_records(fuzz_env(), &records) == 0);
        ready = 1;
    }
    int broken = node_fix_run(fuzz_env(), &records, data, size, NULL);
    if (broken != 0)
        fprintf(stderr, "property %d broken\n", broken);
    FUZZ_CHECK(broken == 0);
    return 0;
}
