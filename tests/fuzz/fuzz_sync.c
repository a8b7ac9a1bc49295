/*
 * Feeds arbitrary bytes to cara_crdt_sync_recv as a peer's anti-entropy
 * message, against the fixed state of fuzz_crdt_fixture.h. It must never
 * crash or leak, never change the state it answers from, keep the reply and
 * the delta within their caps, answer with a message that it can read back
 * itself, and put in the delta only records it holds, byte for byte.
 */
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_crdt_fixture.h"

#define HELD_MAX 128

typedef struct held {
    const uint8_t *bytes[HELD_MAX];
    size_t len[HELD_MAX];
    size_t count;
} held;

static int collect(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    (void)r;
    held *h = ctx;
    FUZZ_CHECK(h->count < HELD_MAX);
    h->bytes[h->count] = bytes;
    h->len[h->count++] = len;
    return 0;
}

static bool is_held(const held *h, const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < h->count; i++)
        if (h->len[i] == len && memcmp(h->bytes[i], bytes, len) == 0)
            return true;
    return false;
}

/* Every envelope of `delta` is one of the state's records. */
static void check_delta(const held *h, const cara_buf *delta)
{
    size_t off = 0;
    while (off < delta->len) {
        size_t n = 0;
        FUZZ_CHECK(cara_mpcheck(delta->data + off, delta->len - off, CARA_MP_DEPTH_MAX, &n) == 0);
        FUZZ_CHECK(is_held(h, delta->data + off, n));
        off += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    static cara_crdt *s;
    static held h;
    static uint8_t hash[32];
    static cara_crdt_stats st0;
    if (s == NULL) {
        FUZZ_CHECK(fixture_state(env, FIXTURE_PROJECTS, &s) == 0);
        FUZZ_CHECK(cara_crdt_foreach(s, collect, &h) == 0);
        cara_crdt_state_hash(s, hash);
        cara_crdt_stats_get(s, &st0);
    }
    cara_buf reply, delta;
    cara_buf_init(&reply, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, env, CARA_CRDT_DELTA_BYTES_MAX);
    int rc = cara_crdt_sync_recv(s, data, size, &reply, &delta);
    FUZZ_CHECK(rc == 0 || rc == CARA_EPARSE || rc == CARA_ETOOBIG || rc == CARA_EUNSUPPORTED);
    FUZZ_CHECK(reply.len <= CARA_CRDT_SYNC_MSG_BYTES_MAX);
    FUZZ_CHECK(delta.len <= CARA_CRDT_DELTA_BYTES_MAX);
    check_delta(&h, &delta);
    if (rc == 0 && reply.len > 0) {
        /* Our own reply is a well-formed message. */
        cara_buf r2, d2;
        cara_buf_init(&r2, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
        cara_buf_init(&d2, env, CARA_CRDT_DELTA_BYTES_MAX);
        int rc2 = cara_crdt_sync_recv(s, reply.data, reply.len, &r2, &d2);
        FUZZ_CHECK(rc2 == 0 || rc2 == CARA_ETOOBIG);
        check_delta(&h, &d2);
        cara_buf_free(&d2);
        cara_buf_free(&r2);
    }
    uint8_t now[32];
    cara_crdt_state_hash(s, now);
    FUZZ_CHECK(memcmp(now, hash, sizeof hash) == 0);
    cara_crdt_stats st;
    cara_crdt_stats_get(s, &st);
    FUZZ_CHECK(st.records_count == st0.records_count && st.applied == st0.applied);
    cara_buf_free(&delta);
    cara_buf_free(&reply);
    return 0;
}
