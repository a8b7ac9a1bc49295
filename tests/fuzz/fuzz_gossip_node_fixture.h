/*
 * The node the gossip node fuzzer attacks, and the driver that feeds it,
 * shared with the unit test that writes and checks its seeds
 * (tests/unit/test_fuzz_seeds.c). One cara_gossip object "n0" over a crdt
 * holding the crdt fixture's records (8 projects) and n0's admission; its
 * peers n1 and n2 are the fixture's admitted nodes, each with a seal of its
 * own (epoch 1) so that input can be wrapped in a valid seal and reach the
 * wire decoder and the handlers behind it. Everything is made afresh for
 * each input from fixed keys, a fixed rng seed and a fixed clock: an input
 * replays exactly.
 *
 * An input is a sequence of operations, each an opcode byte, a 2-byte
 * big-endian length and that many bytes (fewer if the input ends):
 *
 *   (op & 7) % 6 == 0  datagram: the bytes as received from peer (op >> 3) & 1
 *                  1  sealed datagram: the peer seals the bytes (its plaintext)
 *                  2  raw stream: a new inbound stream fed the bytes in chunks
 *                     of 1 + (op >> 4) bytes
 *            3  sealed stream: a new inbound stream from the peer, which
 *               sends its hello, reads the node's and then the bytes as
 *               frames: each a flag byte, a 2-byte length and plaintext,
 *               sealed under the stream's key as [flag][plaintext]
 *            4  tick: time moves on by the 2 length bytes x 16 ms (no
 *               bytes follow)
 *            5  more: the bytes go to the last stream opened, raw or as
 *               frames like op 3
 *
 * After every operation the driver takes all the node's output as
 * cara-agent would; dials are refused. Properties it checks (the first
 * broken one is returned):
 *   1 every datagram fits CARA_GOSSIP_DATAGRAM_BYTES_MAX, and one sent to a
 *     peer opens under that peer's seal and decodes as a datagram message;
 *   2 every frame the node writes on a peer's sealed stream opens under the
 *     stream's key and the messages decode as stream messages;
 *   3 after a tick, the next deadline is later than now;
 *   4 accept refuses only when the inbound cap is reached.
 */
#ifndef CARA_FUZZ_GOSSIP_NODE_FIXTURE_H
#define CARA_FUZZ_GOSSIP_NODE_FIXTURE_H

#include <stdlib.h>

#include "fuzz_crdt_fixture.h"
#include "gossip/gossip.h"
#include "gossip/seal_int.h"
#include "gossip/wire_int.h"

#define NODE_FIX_TAG 6    /* n0's key; the crdt fixture's n1, n2 are 2 and 3 */
#define NODE_FIX_PROJECTS 8
#define NODE_FIX_START_MS 1000000ull
#define NODE_FIX_STREAMS 80 /* streams the driver tracks; more are not opened */
#define NODE_FIX_OP_DGRAM 0
#define NODE_FIX_OP_SEALED_DGRAM 1
#define NODE_FIX_OP_STREAM 2
#define NODE_FIX_OP_SEALED_STREAM 3
#define NODE_FIX_OP_TICK 4
#define NODE_FIX_OP_MORE 5

typedef struct node_fix_stream {
    uint32_t id;
    bool open, sealed, ready;
    int peer;
    cara_seal_stream st;
    uint8_t hello[CARA_SEAL_HELLO_BYTES];
    cara_buf rx;  /* what the node wrote, not yet opened */
    cara_buf msg; /* a message reassembled from the node's frames */
} node_fix_stream;

typedef struct node_fix {
    cara_env env;
    cara_crdt *crdt;
    cara_gossip *g;
    cara_seal *peer_seal[2];
    fixture_key peer_key[2], self_key;
    cara_gossip_addr self_addr, peer_addr[2];
    uint64_t now_ms;
    node_fix_stream streams[NODE_FIX_STREAMS];
    size_t streams_count;
    size_t inbound_open;
    uint8_t *buf;       /* CARA_GOSSIP_FRAME_BYTES_MAX */
    uint8_t *plain;     /* CARA_GOSSIP_FRAME_BYTES_MAX */
    cara_wire_msg *m;
    int broken;         /* the first property broken, 0 if none */
} node_fix;

static inline cara_gossip_addr node_fix_addr(uint8_t last)
{
    cara_gossip_addr a = {.len = 6, .bytes = {10, 0, 0, last, 0x1f, 0x0e}};
    return a;
}

/* The records of n0's crdt, signed once (concatenated envelopes). */
static inline int node_fix_records(cara_env *env, cara_buf *out)
{
    fixture_key op, self;
    fixture_key_make(&op, 1);
    fixture_key_make(&self, NODE_FIX_TAG);
    int rc = fixture_records(env, NODE_FIX_PROJECTS, out);
    cara_buf v;
    cara_buf_init(&v, env, 256);
    rc = rc ? rc : cara_crdt_admission_encode(self.pk, true, &v);
    uint64_t hlc = ((uint64_t)FIXTURE_NOW_MS << CARA_CRDT_HLC_COUNTER_BITS) + 7;
    rc = rc ? rc : fixture_sign(out, CARA_CRDT_ADMISSION, "n0", 1, hlc, &op, v.data, v.len);
    cara_buf_free(&v);
    return rc;
}

static inline int64_t node_fix_wall(const node_fix *f)
{
    return FIXTURE_NOW_MS + (int64_t)(f->now_ms - NODE_FIX_START_MS);
}

static inline void node_fix_break(node_fix *f, int property)
{
    if (f->broken == 0)
        f->broken = property;
}

/* Makes the node and its peers in `f` (zeroed by the caller) over the
 * records `recs`; `env` gives allocation and logging. 0 or an error. */
static inline int node_fix_new(node_fix *f, const cara_env *env, const cara_buf *recs)
{
    f->env = *env;
    cara_rng_seed(&f->env.rng, 1);
    f->now_ms = NODE_FIX_START_MS;
    fixture_key op;
    fixture_key_make(&op, 1);
    fixture_key_make(&f->self_key, NODE_FIX_TAG);
    fixture_key_make(&f->peer_key[0], 2);
    fixture_key_make(&f->peer_key[1], 3);
    f->self_addr = node_fix_addr(1);
    f->peer_addr[0] = node_fix_addr(2);
    f->peer_addr[1] = node_fix_addr(3);
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])op.pk,
                        .operator_pks_count = 1};
    int rc = cara_crdt_new(&f->crdt, &cc, &f->env);
    size_t applied = 0;
    rc = rc ? rc : cara_crdt_apply_batch(f->crdt, recs->data, recs->len, FIXTURE_NOW_MS, &applied);
    cara_gossip_cfg gc = {.name = "n0", .addr = f->self_addr, .epoch = 1};
    memcpy(gc.pk, f->self_key.pk, sizeof gc.pk);
    memcpy(gc.sk, f->self_key.sk, sizeof gc.sk);
    rc = rc ? rc : cara_gossip_new(&f->g, &gc, &f->env, f->crdt);
    rc = rc ? rc : cara_gossip_add_member(f->g, "n1", f->peer_key[0].pk, &f->peer_addr[0], f->now_ms);
    rc = rc ? rc : cara_gossip_add_member(f->g, "n2", f->peer_key[1].pk, &f->peer_addr[1], f->now_ms);
    for (int p = 0; p < 2 && rc == 0; p++) {
        rc = cara_seal_new(&f->env, f->peer_key[p].pk, f->peer_key[p].sk, 1, &f->peer_seal[p]);
        rc = rc ? rc : cara_seal_admit(f->peer_seal[p], f->self_key.pk);
    }
    f->buf = cara_env_alloc(&f->env, CARA_GOSSIP_FRAME_BYTES_MAX);
    f->plain = cara_env_alloc(&f->env, CARA_GOSSIP_FRAME_BYTES_MAX);
    f->m = cara_env_alloc(&f->env, sizeof *f->m);
    if (rc == 0 && (f->buf == NULL || f->plain == NULL || f->m == NULL))
        rc = CARA_ENOMEM;
    return rc;
}

static inline void node_fix_free(node_fix *f)
{
    for (size_t i = 0; i < f->streams_count; i++) {
        cara_buf_free(&f->streams[i].rx);
        cara_buf_free(&f->streams[i].msg);
    }
    cara_gossip_free(f->g);
    cara_crdt_free(f->crdt);
    cara_seal_free(f->peer_seal[0]);
    cara_seal_free(f->peer_seal[1]);
    cara_env_free(&f->env, f->buf);
    cara_env_free(&f->env, f->plain);
    cara_env_free(&f->env, f->m);
}

static inline node_fix_stream *node_fix_stream_of(node_fix *f, uint32_t id)
{
    for (size_t i = 0; i < f->streams_count; i++)
        if (f->streams[i].open && f->streams[i].id == id)
            return &f->streams[i];
    return NULL;
}

/* Opens the frames the node wrote on a peer's sealed stream (property 2). */
static inline void node_fix_read_frames(node_fix *f, node_fix_stream *s)
{
    while (s->ready && s->rx.len > 0) {
        size_t used = 0, plen = 0;
        int rc = cara_seal_stream_open(f->peer_seal[s->peer], &s->st, s->rx.data, s->rx.len, &used,
                                       f->plain, CARA_GOSSIP_FRAME_BYTES_MAX, &plen);
        if (rc == CARA_EAGAIN)
            return;
        if (rc != 0 || plen == 0 || (f->plain[0] & ~1) != 0 ||
            cara_buf_append(&s->msg, f->plain + 1, plen - 1) != 0) {
            node_fix_break(f, 2);
            s->ready = false;
            return;
        }
        memmove(s->rx.data, s->rx.data + used, s->rx.len - used);
        s->rx.len -= used;
        if (f->plain[0] & 1)
            continue;
        if (cara_wire_decode(s->msg.data, s->msg.len, CARA_WIRE_IN_STREAM, f->m) != 0)
            node_fix_break(f, 2);
        cara_buf_reset(&s->msg);
    }
}

/* The node's hello arrived on a sealed stream: the peer starts its side. */
static inline void node_fix_hello(node_fix *f, node_fix_stream *s)
{
    if (!s->sealed || s->ready || s->rx.len < CARA_SEAL_HELLO_BYTES)
        return;
    if (cara_seal_stream_start(f->peer_seal[s->peer], &s->st, true, s->hello, s->rx.data,
                               CARA_SEAL_HELLO_BYTES, f->self_key.pk) != 0) {
        node_fix_break(f, 2);
        return;
    }
    memmove(s->rx.data, s->rx.data + CARA_SEAL_HELLO_BYTES, s->rx.len - CARA_SEAL_HELLO_BYTES);
    s->rx.len -= CARA_SEAL_HELLO_BYTES;
    s->ready = true;
}

static inline void node_fix_datagram_out(node_fix *f, const cara_gossip_addr *to, size_t len)
{
    if (len > CARA_GOSSIP_DATAGRAM_BYTES_MAX) {
        node_fix_break(f, 1);
        return;
    }
    for (int p = 0; p < 2; p++) {
        if (to->len != f->peer_addr[p].len || memcmp(to->bytes, f->peer_addr[p].bytes, to->len))
            continue;
        uint8_t from[CARA_CRDT_PK_BYTES];
        size_t plen = 0;
        if (cara_seal_open(f->peer_seal[p], f->buf, len, from, f->plain,
                           CARA_GOSSIP_FRAME_BYTES_MAX, &plen) != 0 ||
            memcmp(from, f->self_key.pk, sizeof from) != 0 ||
            cara_wire_decode(f->plain, plen, CARA_WIRE_IN_DATAGRAM, f->m) != 0)
            node_fix_break(f, 1);
    }
}

/* Takes every output of the node, as the agent's loop would. */
static inline void node_fix_drain(node_fix *f)
{
    cara_buf out;
    cara_buf_init(&out, &f->env, 4 * CARA_WIRE_STREAM_MSG_BYTES_MAX);
    for (int round = 0; round < 100; round++) {
        bool any = false;
        cara_gossip_addr to;
        size_t len = 0;
        uint32_t id;
        while (cara_gossip_poll_send(f->g, &to, f->buf, CARA_GOSSIP_FRAME_BYTES_MAX, &len) == 0) {
            node_fix_datagram_out(f, &to, len);
            any = true;
        }
        while (cara_gossip_poll_dial(f->g, &id, &to) == 0) {
            cara_gossip_stream_closed(f->g, id); /* refused */
            any = true;
        }
        while (cara_gossip_stream_poll_send(f->g, &id, &out) == 0) {
            node_fix_stream *s = node_fix_stream_of(f, id);
            if (s != NULL && s->sealed && cara_buf_append(&s->rx, out.data, out.len) == 0) {
                node_fix_hello(f, s);
                node_fix_read_frames(f, s);
            }
            cara_buf_reset(&out);
            any = true;
        }
        while (cara_gossip_poll_close(f->g, &id) == 0) {
            node_fix_stream *s = node_fix_stream_of(f, id);
            if (s != NULL) {
                s->open = false;
                f->inbound_open--;
            }
            any = true;
        }
        cara_gossip_event ev;
        while (cara_gossip_poll_event(f->g, &ev) == 0)
            any = true;
        if (!any)
            break;
    }
    cara_buf_free(&out);
}

static inline node_fix_stream *node_fix_accept(node_fix *f, bool sealed, int peer)
{
    uint32_t id = 0;
    int rc = cara_gossip_stream_accept(f->g, &id, f->now_ms);
    if (rc != 0) {
        if (f->inbound_open < CARA_GOSSIP_STREAMS_INBOUND_MAX)
            node_fix_break(f, 4);
        return NULL;
    }
    f->inbound_open++;
    if (f->streams_count == NODE_FIX_STREAMS) {
        cara_gossip_stream_closed(f->g, id);
        f->inbound_open--;
        return NULL;
    }
    node_fix_stream *s = &f->streams[f->streams_count++];
    *s = (node_fix_stream){.id = id, .open = true, .sealed = sealed, .peer = peer};
    cara_buf_init(&s->rx, &f->env, 8 * CARA_WIRE_STREAM_MSG_BYTES_MAX);
    cara_buf_init(&s->msg, &f->env, 2 * CARA_WIRE_STREAM_MSG_BYTES_MAX);
    return s;
}

static inline void node_fix_stream_in(node_fix *f, node_fix_stream *s, const uint8_t *b,
                                      size_t len)
{
    if (s == NULL || !s->open)
        return;
    (void)cara_gossip_stream_recv(f->g, s->id, b, len, f->now_ms, node_fix_wall(f));
    node_fix_drain(f);
}

/* Frames of a sealed stream: [flag][len16][plaintext]... each sealed. */
static inline void node_fix_frames(node_fix *f, node_fix_stream *s, const uint8_t *b, size_t len)
{
    size_t off = 0;
    while (s != NULL && s->open && s->ready && off + 3 <= len) {
        uint8_t flag = b[off];
        size_t n = ((size_t)b[off + 1] << 8) | b[off + 2];
        off += 3;
        if (n > len - off)
            n = len - off;
        f->plain[0] = flag;
        memcpy(f->plain + 1, b + off, n);
        off += n;
        size_t fl = 0;
        if (cara_seal_stream_seal(f->peer_seal[s->peer], &s->st, f->plain, n + 1, f->buf,
                                  CARA_GOSSIP_FRAME_BYTES_MAX, &fl) != 0)
            return;
        node_fix_stream_in(f, s, f->buf, fl);
    }
}

/* Runs one operation; returns the bytes of `data` it used. */
static inline size_t node_fix_op(node_fix *f, const uint8_t *data, size_t size,
                                 node_fix_stream **last)
{
    if (size < 3)
        return size;
    uint8_t op = data[0];
    size_t len = ((size_t)data[1] << 8) | data[2];
    int kind = (op & 7) % 6, peer = (op >> 3) & 1;
    if (kind == NODE_FIX_OP_TICK) {
        f->now_ms += (uint64_t)len * 16;
        (void)cara_gossip_tick(f->g, f->now_ms, node_fix_wall(f));
        node_fix_drain(f);
        if (cara_gossip_next_deadline_ms(f->g) <= f->now_ms)
            node_fix_break(f, 3);
        return 3;
    }
    const uint8_t *b = data + 3;
    if (len > size - 3)
        len = size - 3;
    switch (kind) {
    case NODE_FIX_OP_DGRAM:
        (void)cara_gossip_recv(f->g, &f->peer_addr[peer], b, len, f->now_ms, node_fix_wall(f));
        node_fix_drain(f);
        break;
    case NODE_FIX_OP_SEALED_DGRAM: {
        size_t n = 0;
        if (cara_seal_seal(f->peer_seal[peer], f->self_key.pk, b,
                           len < CARA_GOSSIP_PLAINTEXT_BYTES_MAX ? len
                                                                 : CARA_GOSSIP_PLAINTEXT_BYTES_MAX,
                           f->buf, CARA_GOSSIP_FRAME_BYTES_MAX, &n) == 0) {
            (void)cara_gossip_recv(f->g, &f->peer_addr[peer], f->buf, n, f->now_ms,
                                   node_fix_wall(f));
            node_fix_drain(f);
        }
        break;
    }
    case NODE_FIX_OP_STREAM: {
        node_fix_stream *s = node_fix_accept(f, false, 0);
        *last = s;
        size_t chunk = 1 + (op >> 4);
        for (size_t off = 0; s != NULL && off < len; off += chunk)
            node_fix_stream_in(f, s, b + off, len - off < chunk ? len - off : chunk);
        break;
    }
    case NODE_FIX_OP_SEALED_STREAM: {
        node_fix_stream *s = node_fix_accept(f, true, peer);
        *last = s;
        if (s == NULL)
            break;
        uint8_t rnd[CARA_SEAL_HELLO_RANDOM_BYTES];
        memset(rnd, (int)(f->streams_count & 0xff), sizeof rnd);
        cara_seal_hello(f->peer_seal[peer], rnd, s->hello);
        node_fix_stream_in(f, s, s->hello, sizeof s->hello);
        node_fix_frames(f, s, b, len);
        break;
    }
    default: /* NODE_FIX_OP_MORE */
        if (*last != NULL && (*last)->sealed)
            node_fix_frames(f, *last, b, len);
        else
            node_fix_stream_in(f, *last, b, len);
    }
    return 3 + len;
}

/* Runs a whole input over a fresh node; returns the first property broken
 * (0: none) and, when `stats` is not NULL, the node's stats at the end. */
static inline int node_fix_run(const cara_env *env, const cara_buf *recs, const uint8_t *data,
                               size_t size, cara_gossip_stats *stats)
{
    node_fix *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    int rc = node_fix_new(f, env, recs);
    if (rc != 0) {
        node_fix_free(f);
        free(f);
        return -1;
    }
    node_fix_drain(f);
    node_fix_stream *last = NULL;
    for (size_t off = 0; off < size;)
        off += node_fix_op(f, data + off, size - off, &last);
    if (stats != NULL)
        cara_gossip_stats_get(f->g, stats);
    int broken = f->broken;
    node_fix_free(f);
    free(f);
    return broken;
}

#endif
