/*
 * The node object's streams (docs/gossip.md, "Streams"): joining through a
 * seed, anti-entropy push-pull, and records too large for a datagram.
 *
 * A join stream speaks clear frames (wire.c): the joiner is not admitted
 * yet, so no pairwise key exists; everything it carries is a signed record
 * that proves itself. Every other stream starts with the seal's hellos and
 * then carries sealed frames (seal.c). A wire message longer than one
 * frame is cut into frames whose first plaintext byte says whether more
 * follow, and is reassembled up to CARA_WIRE_STREAM_MSG_BYTES_MAX.
 *
 * Anti-entropy: the dialler sends the crdt's root digest; each side answers
 * a SYNC with the records the other lacks (DELTA) and its own next digest
 * message (SYNC), or with DONE when it has nothing more to ask. The crdt
 * bounds each reply; this file bounds the exchange (messages each way) and
 * the bandwidth (a token bucket shared by all exchanges).
 */
#include "gossip/gossip_int.h"

#include <stdio.h>
#include <string.h>

#define MORE_FRAMES 0x01

void gossip_streams_init(cara_gossip *g)
{
    g->streams = cara_env_calloc(g->env, CARA_GOSSIP_STREAMS_MAX, sizeof *g->streams);
    g->stream_id_next = 1;
    g->sync_bucket.tokens = (double)g->cfg.sync_bytes_per_s_max;
}

static void stream_release(cara_gossip *g, gossip_stream *st)
{
    if (st->id == g->sync_stream_id)
        g->sync_stream_id = 0;
    if (st->purpose == GP_JOIN && st->initiator && st->seed_index < g->seeds_count)
        g->seeds[st->seed_index].dialling = false;
    cara_seal_stream_close(&st->seal);
    cara_buf_free(&st->rx);
    cara_buf_free(&st->tx);
    cara_buf_free(&st->msg);
    cara_env_free(g->env, st->push);
    *st = (gossip_stream){0};
}

void gossip_streams_free(cara_gossip *g)
{
    for (size_t i = 0; g->streams != NULL && i < CARA_GOSSIP_STREAMS_MAX; i++)
        if (g->streams[i].used)
            stream_release(g, &g->streams[i]);
    cara_env_free(g->env, g->streams);
}

static gossip_stream *stream_new(cara_gossip *g, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < CARA_GOSSIP_STREAMS_MAX; i++) {
        gossip_stream *st = &g->streams[i];
        if (st->used)
            continue;
        *st = (gossip_stream){.used = true, .id = g->stream_id_next++,
                              .idle_deadline_mono_ms = now_mono_ms + g->cfg.stream_timeout_ms};
        if (g->stream_id_next == 0)
            g->stream_id_next = 1;
        cara_buf_init(&st->rx, g->env, CARA_GOSSIP_STREAM_RX_BYTES_MAX);
        cara_buf_init(&st->tx, g->env, 2 * CARA_WIRE_STREAM_MSG_BYTES_MAX);
        cara_buf_init(&st->msg, g->env, CARA_WIRE_STREAM_MSG_BYTES_MAX);
        return st;
    }
    gossip_drop(g, CARA_GOSSIP_DROP_FULL);
    return NULL;
}

static gossip_stream *stream_by_id(cara_gossip *g, uint32_t id)
{
    for (size_t i = 0; id != 0 && i < CARA_GOSSIP_STREAMS_MAX; i++)
        if (g->streams[i].used && g->streams[i].id == id)
            return &g->streams[i];
    return NULL;
}

gossip_stream *gossip_stream_open(cara_gossip *g, uint8_t purpose, const cara_gossip_addr *addr,
                                  const uint8_t *pk, uint64_t now_mono_ms)
{
    gossip_stream *st = stream_new(g, now_mono_ms);
    if (st == NULL)
        return NULL;
    st->initiator = true;
    st->purpose = purpose;
    st->phase = PH_DIAL;
    st->addr = *addr;
    if (pk != NULL) {
        memcpy(st->peer_pk, pk, CARA_CRDT_PK_BYTES);
        st->peer_known = true;
    }
    g->stats.streams_opened++;
    return st;
}

/* Marks a stream for closing; `error` counts it as a protocol drop. */
static void stream_end(cara_gossip *g, gossip_stream *st, bool error)
{
    if (error)
        gossip_drop(g, CARA_GOSSIP_DROP_STREAM);
    st->phase = PH_CLOSING;
    /* The exchange is over once its stream is closing: the next one may be
     * planned in this very tick. Waiting for poll_close would leave a
     * deadline in the past after tick() (the driver spins once more). */
    if (st->id == g->sync_stream_id)
        g->sync_stream_id = 0;
}

/* Closes a stream the seal refused (a hello from a key not admitted, a
 * frame past its cap, a forged or replayed frame), counted under the same
 * reason as a datagram refused for it. */
static void stream_refuse(cara_gossip *g, gossip_stream *st, int seal_rc)
{
    gossip_drop(g, gossip_seal_drop_reason(seal_rc));
    stream_end(g, st, false);
}

static void hello_random(cara_gossip *g, uint8_t rnd[CARA_SEAL_HELLO_RANDOM_BYTES])
{
    if (g->cfg.random_bytes != NULL)
        g->cfg.random_bytes(g->cfg.random_ctx, rnd, CARA_SEAL_HELLO_RANDOM_BYTES);
    else
        cara_rng_bytes(&g->env->rng, rnd, CARA_SEAL_HELLO_RANDOM_BYTES);
}

/* ---- Sending ------------------------------------------------------------------ */

static void sync_spend(cara_gossip *g, gossip_stream *st, size_t bytes)
{
    st->bytes += bytes;
    if (st->purpose == GP_SYNC)
        g->sync_bucket.tokens -= (double)bytes;
}

/* Encodes `m` and seals it into frames appended to the stream's output. */
static int send_sealed(cara_gossip *g, gossip_stream *st, const cara_wire_msg *m)
{
    cara_buf enc;
    cara_buf_init(&enc, g->env, CARA_WIRE_STREAM_MSG_BYTES_MAX);
    int rc = cara_wire_encode(m, CARA_WIRE_STREAM_MSG_BYTES_MAX, &enc);
    uint8_t *frame = rc == 0 ? cara_env_alloc(g->env, CARA_GOSSIP_FRAME_BYTES_MAX) : NULL;
    uint8_t *plain = rc == 0 ? cara_env_alloc(g->env, CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX) : NULL;
    if (rc == 0 && (frame == NULL || plain == NULL))
        rc = CARA_ENOMEM;
    size_t off = 0, chunk_max = CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX - 1;
    while (rc == 0) {
        size_t chunk = enc.len - off < chunk_max ? enc.len - off : chunk_max;
        plain[0] = off + chunk < enc.len ? MORE_FRAMES : 0;
        memcpy(plain + 1, enc.data + off, chunk);
        size_t flen = 0;
        rc = cara_seal_stream_seal(g->seal, &st->seal, plain, chunk + 1, frame,
                                   CARA_GOSSIP_FRAME_BYTES_MAX, &flen);
        if (rc == 0)
            rc = cara_buf_append(&st->tx, frame, flen);
        if (rc == 0)
            sync_spend(g, st, flen);
        off += chunk;
        if (off >= enc.len)
            break;
    }
    cara_env_free(g->env, frame);
    cara_env_free(g->env, plain);
    cara_buf_free(&enc);
    if (rc != 0)
        stream_end(g, st, true);
    return rc;
}

static void send_simple(cara_gossip *g, gossip_stream *st, uint8_t kind)
{
    cara_wire_msg *m = cara_env_calloc(g->env, 1, sizeof *m);
    if (m == NULL) {
        stream_end(g, st, false);
        return;
    }
    m->kind = kind;
    if (kind == CARA_WIRE_DONE)
        st->sent_done = true;
    (void)send_sealed(g, st, m);
    cara_env_free(g->env, m);
}

static void send_blob(cara_gossip *g, gossip_stream *st, uint8_t kind, const cara_buf *b)
{
    cara_wire_msg *m = cara_env_calloc(g->env, 1, sizeof *m);
    if (m == NULL) {
        stream_end(g, st, false);
        return;
    }
    m->kind = kind;
    m->blob = (cara_wire_bytes){.ptr = b->data, .len = b->len};
    (void)send_sealed(g, st, m);
    cara_env_free(g->env, m);
}

/* ---- Joining (clear frames) --------------------------------------------------------- */

static void send_clear(cara_gossip *g, gossip_stream *st, const cara_wire_msg *m)
{
    if (cara_wire_clear_frame(m, &st->tx) != 0)
        stream_end(g, st, true);
}

static void join_send(cara_gossip *g, gossip_stream *st)
{
    cara_wire_msg *m = cara_env_calloc(g->env, 1, sizeof *m);
    if (m == NULL) {
        stream_end(g, st, false);
        return;
    }
    m->kind = CARA_WIRE_JOIN;
    m->node = g->self;
    m->addr.len = g->cfg.addr.len;
    memcpy(m->addr.bytes, g->cfg.addr.bytes, g->cfg.addr.len);
    if (g->proof_len > 0) {
        m->records_count = 1;
        m->records[0] = (cara_wire_bytes){.ptr = g->proof, .len = g->proof_len};
    }
    send_clear(g, st, m);
    st->phase = PH_CLEAR;
    cara_env_free(g->env, m);
}

/* Adds what admits `name` with key `pk` to m: an operator's admission, or
 * the node's own join record. */
static void add_admission(cara_gossip *g, cara_wire_msg *m, const char *name, size_t len,
                          const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    const uint8_t *b;
    size_t n;
    if (m->records_count < CARA_WIRE_RECORDS_MAX &&
        cara_crdt_get_envelope(g->crdt, CARA_CRDT_ADMISSION, (const uint8_t *)name, len, NULL,
                               &b, &n) == 0)
        m->records[m->records_count++] = (cara_wire_bytes){.ptr = b, .len = n};
    if (m->records_count < CARA_WIRE_RECORDS_MAX &&
        cara_crdt_get_envelope(g->crdt, CARA_CRDT_JOIN, (const uint8_t *)name, len, pk, &b,
                               &n) == 0)
        m->records[m->records_count++] = (cara_wire_bytes){.ptr = b, .len = n};
}

/* Why the joiner is not admitted, as a code and a sentence for both logs. */
/* The proof is judged before anything of it is applied: a join record
 * stamped before its token's expiry is a valid record whenever it
 * arrives (replicas must agree), so once merged it would admit its author
 * and the expiry check, which looks at `now`, would pass. */
static int join_proof_refusal(cara_gossip *g, const cara_wire_msg *in, int64_t now_wall_ms,
                              char *text, size_t text_max)
{
    char name[CARA_SWIM_NAME_BYTES_MAX + 1] = {0};
    memcpy(name, in->node.name, in->node.name_len);
    /* A joiner sends one proof (join_send). More would make a stranger's
     * single frame cost the seed up to CARA_WIRE_RECORDS_MAX signature
     * checks before it answers. */
    if (in->records_count > 1) {
        snprintf(text, text_max, "join from node %s refused: %zu proof records, at most 1",
                 name, in->records_count);
        return CARA_ELIMIT;
    }
    for (size_t i = 0; i < in->records_count; i++) {
        int rc = cara_crdt_join_check(g->crdt, in->records[i].ptr, in->records[i].len,
                                      now_wall_ms);
        if (rc != 0) {
            snprintf(text, text_max, "join token refused for node %s: %s", name,
                     cara_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int join_refusal(cara_gossip *g, const cara_wire_msg *in, char *text, size_t text_max)
{
    char name[CARA_SWIM_NAME_BYTES_MAX + 1] = {0};
    memcpy(name, in->node.name, in->node.name_len);
    uint8_t pk[CARA_CRDT_PK_BYTES];
    if (cara_crdt_node_key_of(g->crdt, name, pk) != 0) {
        snprintf(text, text_max,
                 "node %s is not admitted: start it with --token (caravanctl join-token "
                 "create) or admit it with caravanctl admit", name);
        return CARA_ENOTADMITTED;
    }
    if (memcmp(pk, in->node.key, CARA_CRDT_PK_BYTES) != 0) {
        snprintf(text, text_max, "node %s is admitted with another key", name);
        return CARA_EWRONGAUTHOR;
    }
    return 0;
}

static void join_answer(cara_gossip *g, gossip_stream *st, const cara_wire_msg *in,
                        int64_t now_wall_ms)
{
    cara_wire_msg *m = cara_env_calloc(g->env, 1, sizeof *m);
    if (m == NULL) {
        stream_end(g, st, false);
        return;
    }
    char text[CARA_WIRE_TEXT_BYTES_MAX];
    int rc = join_proof_refusal(g, in, now_wall_ms, text, sizeof text);
    if (rc == 0) {
        for (size_t i = 0; i < in->records_count; i++)
            (void)gossip_take_record(g, in->records[i].ptr, in->records[i].len, now_wall_ms);
        gossip_refresh_admissions(g);
        rc = join_refusal(g, in, text, sizeof text);
    }
    cara_gossip_event ev = {.reason = rc};
    memcpy(ev.name, in->node.name, in->node.name_len);
    memcpy(ev.pk, in->node.key, CARA_CRDT_PK_BYTES);
    ev.addr.len = in->addr.len;
    memcpy(ev.addr.bytes, in->addr.bytes, in->addr.len);
    if (rc == 0) {
        m->kind = CARA_WIRE_WELCOME;
        m->node = g->self;
        m->addr.len = g->cfg.addr.len;
        memcpy(m->addr.bytes, g->cfg.addr.bytes, g->cfg.addr.len);
        add_admission(g, m, g->self.name, g->self.name_len, g->cfg.pk);
        add_admission(g, m, in->node.name, in->node.name_len, in->node.key);
        /* Not taken into membership here: the JOIN is in the clear, so its
         * address is anyone's word. The joiner's first sealed ping carries
         * its own ALIVE and address, which is how it becomes a member. */
        ev.kind = CARA_GOSSIP_EV_WELCOMED;
        g->stats.joins_welcomed++;
    } else {
        m->kind = CARA_WIRE_REFUSED;
        m->reason = rc;
        m->text_len = (uint16_t)strlen(text);
        memcpy(m->text, text, m->text_len);
        ev.kind = CARA_GOSSIP_EV_REFUSED_JOIN;
        memcpy(ev.text, text, m->text_len);
        g->stats.joins_refused++;
    }
    gossip_event(g, &ev);
    send_clear(g, st, m);
    cara_env_free(g->env, m);
    stream_end(g, st, false);
}

static void join_result(cara_gossip *g, gossip_stream *st, const cara_wire_msg *in,
                        uint64_t now_mono_ms, int64_t now_wall_ms)
{
    cara_gossip_event ev = {0};
    gossip_seed *seed = st->seed_index < g->seeds_count ? &g->seeds[st->seed_index] : NULL;
    if (in->kind == CARA_WIRE_WELCOME) {
        for (size_t i = 0; i < in->records_count; i++)
            (void)gossip_take_record(g, in->records[i].ptr, in->records[i].len, now_wall_ms);
        gossip_refresh_admissions(g);
        cara_gossip_addr a = {.len = in->addr.len};
        memcpy(a.bytes, in->addr.bytes, in->addr.len);
        memcpy(ev.name, in->node.name, in->node.name_len);
        memcpy(ev.pk, in->node.key, CARA_CRDT_PK_BYTES);
        /* A welcome counts only when what it carried admits both ends
         * under keys this node trusts: a seed of another cluster (or a
         * forged welcome, or a wrong --operator-pubkey here) admits
         * nothing, and joining goes on. */
        gossip_peer *seed_peer = gossip_peer_by_pk(g, in->node.key);
        if (seed_peer == NULL || seed_peer->name_len != in->node.name_len ||
            memcmp(seed_peer->name, in->node.name, in->node.name_len) != 0 ||
            !cara_crdt_node_admitted(g->crdt, g->cfg.pk)) {
            ev.kind = CARA_GOSSIP_EV_JOIN_REFUSED;
            ev.reason = CARA_EUNTRUSTED;
            snprintf(ev.text, sizeof ev.text,
                     "the welcome of %.*s admits %s under no operator key this node trusts "
                     "(check --operator-pubkey)",
                     (int)in->node.name_len, in->node.name,
                     seed_peer == NULL ? "that seed" : "this node");
            ev.addr = a;
            gossip_event(g, &ev);
            stream_end(g, st, false);
            return;
        }
        gossip_swim_join_peer(g, in->node.name, in->node.name_len, in->node.key, &a,
                              now_mono_ms);
        g->joined = true;
        ev.kind = CARA_GOSSIP_EV_JOINED;
        ev.addr = a;
        /* Catch up at once rather than at the next anti-entropy round. */
        if (g->sync_stream_id == 0) {
            gossip_stream *sy = gossip_stream_open(g, GP_SYNC, &a, in->node.key, now_mono_ms);
            if (sy != NULL)
                g->sync_stream_id = sy->id;
        }
    } else if (in->kind == CARA_WIRE_REFUSED) {
        ev.kind = CARA_GOSSIP_EV_JOIN_REFUSED;
        ev.reason = in->reason;
        memcpy(ev.text, in->text, in->text_len);
    } else {
        stream_end(g, st, true);
        return;
    }
    if (seed != NULL)
        ev.addr = seed->addr;
    gossip_event(g, &ev);
    stream_end(g, st, false);
}

static void clear_recv(cara_gossip *g, gossip_stream *st, uint64_t now_mono_ms,
                       int64_t now_wall_ms)
{
    cara_wire_msg *m = cara_env_alloc(g->env, sizeof *m);
    size_t used = 0;
    int rc = m == NULL ? CARA_ENOMEM : cara_wire_clear_parse(st->rx.data, st->rx.len, &used, m);
    if (rc == CARA_EAGAIN) {
        cara_env_free(g->env, m);
        return;
    }
    if (rc == CARA_ETOOBIG) {
        stream_refuse(g, st, rc); /* a length prefix past the clear frame's cap */
    } else if (rc != 0) {
        stream_end(g, st, rc != CARA_ENOMEM);
    } else if (!st->initiator && m->kind == CARA_WIRE_JOIN) {
        join_answer(g, st, m, now_wall_ms);
    } else if (st->initiator) {
        join_result(g, st, m, now_mono_ms, now_wall_ms);
    } else {
        stream_end(g, st, true);
    }
    cara_env_free(g->env, m);
}

/* ---- Sealed streams ---------------------------------------------------------------- */

static void start_first(cara_gossip *g, gossip_stream *st)
{
    if (st->purpose == GP_SYNC) {
        cara_buf b;
        cara_buf_init(&b, g->env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
        if (cara_crdt_sync_start(g->crdt, &b) == 0) {
            g->stats.syncs_started++;
            send_blob(g, st, CARA_WIRE_SYNC, &b);
        } else {
            stream_end(g, st, false);
        }
        cara_buf_free(&b);
    } else if (st->purpose == GP_PUSH) {
        cara_wire_msg *m = cara_env_calloc(g->env, 1, sizeof *m);
        if (m == NULL) {
            stream_end(g, st, false);
            return;
        }
        m->kind = CARA_WIRE_PUSH;
        m->want_ack = st->push_want_ack;
        m->records_count = 1;
        m->records[0] = (cara_wire_bytes){.ptr = st->push, .len = st->push_len};
        (void)send_sealed(g, st, m);
        cara_env_free(g->env, m);
    }
}

/* The hello exchange: the dialler sent its hello on connect; the accepter
 * answers once it has read one. */
static void hello_recv(cara_gossip *g, gossip_stream *st)
{
    if (st->rx.len < CARA_SEAL_HELLO_BYTES)
        return;
    if (!st->initiator) {
        uint8_t rnd[CARA_SEAL_HELLO_RANDOM_BYTES];
        hello_random(g, rnd);
        cara_seal_hello(g->seal, rnd, st->hello);
    }
    int rc = cara_seal_stream_start(g->seal, &st->seal, st->initiator, st->hello, st->rx.data,
                                    CARA_SEAL_HELLO_BYTES, st->peer_known ? st->peer_pk : NULL);
    if (rc != 0) {
        stream_refuse(g, st, rc);
        return;
    }
    /* The accepter answers only a hello it accepted: a stranger or garbage
     * gets nothing back but the close. */
    if (!st->initiator && cara_buf_append(&st->tx, st->hello, sizeof st->hello) != 0) {
        stream_end(g, st, false);
        return;
    }
    memcpy(st->peer_pk, st->seal.peer_pk, CARA_CRDT_PK_BYTES);
    st->peer_known = true;
    memmove(st->rx.data, st->rx.data + CARA_SEAL_HELLO_BYTES, st->rx.len - CARA_SEAL_HELLO_BYTES);
    st->rx.len -= CARA_SEAL_HELLO_BYTES;
    st->phase = PH_OPEN;
    st->idle_deadline_mono_ms = g->last_now_mono_ms + g->cfg.stream_timeout_ms;
    gossip_peer *p = gossip_peer_by_pk(g, st->peer_pk);
    if (p != NULL)
        p->last_contact_mono_ms = g->last_now_mono_ms;
    if (st->initiator)
        start_first(g, st);
}

static void on_sync(cara_gossip *g, gossip_stream *st, const cara_wire_msg *m)
{
    if (st->purpose == GP_UNKNOWN)
        st->purpose = GP_SYNC;
    if (st->purpose != GP_SYNC) {
        stream_end(g, st, true);
        return;
    }
    st->rounds++;
    if (st->rounds > CARA_GOSSIP_SYNC_ROUNDS_MAX || g->sync_bucket.tokens < 0) {
        if (g->sync_bucket.tokens < 0)
            g->stats.syncs_skipped_budget++;
        send_simple(g, st, CARA_WIRE_DONE);
        return;
    }
    cara_buf reply, delta;
    cara_buf_init(&reply, g->env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, g->env, CARA_GOSSIP_DELTA_BYTES_MAX);
    int rc = cara_crdt_sync_recv(g->crdt, m->blob.ptr, m->blob.len, &reply, &delta);
    if (rc != 0) {
        stream_end(g, st, rc != CARA_ENOMEM);
    } else {
        if (delta.len > 0)
            send_blob(g, st, CARA_WIRE_DELTA, &delta);
        if (reply.len > 0)
            send_blob(g, st, CARA_WIRE_SYNC, &reply);
        else
            send_simple(g, st, CARA_WIRE_DONE);
    }
    cara_buf_free(&reply);
    cara_buf_free(&delta);
}

static void on_delta(cara_gossip *g, gossip_stream *st, const cara_wire_msg *m,
                     int64_t now_wall_ms)
{
    size_t applied = 0;
    if (st->purpose != GP_SYNC ||
        cara_crdt_apply_batch(g->crdt, m->blob.ptr, m->blob.len, now_wall_ms, &applied) != 0) {
        stream_end(g, st, true);
        return;
    }
    st->applied += applied;
    g->stats.sync_records_applied += applied;
}

static void on_push(cara_gossip *g, gossip_stream *st, const cara_wire_msg *m,
                    int64_t now_wall_ms)
{
    if (st->initiator) {
        stream_end(g, st, true);
        return;
    }
    st->purpose = GP_PUSH;
    for (size_t i = 0; i < m->records_count; i++)
        (void)gossip_take_record(g, m->records[i].ptr, m->records[i].len, now_wall_ms);
    if (m->want_ack) {
        cara_wire_msg *a = cara_env_calloc(g->env, 1, sizeof *a);
        if (a == NULL) {
            stream_end(g, st, false);
            return;
        }
        a->kind = CARA_WIRE_ACK;
        for (size_t i = 0; i < m->records_count && a->acks_count < CARA_WIRE_ACKS_MAX; i++)
            if (gossip_holds(g, m->records[i].ptr, m->records[i].len, &a->acks[a->acks_count]))
                a->acks_count++;
        g->stats.acks_sent += a->acks_count;
        if (a->acks_count > 0)
            (void)send_sealed(g, st, a);
        cara_env_free(g->env, a);
    }
    send_simple(g, st, CARA_WIRE_DONE);
}

static void on_done(cara_gossip *g, gossip_stream *st)
{
    st->got_done = true;
    if (st->purpose == GP_SYNC) {
        if (st->initiator) {
            g->stats.syncs_completed++;
            cara_gossip_event ev = {.kind = CARA_GOSSIP_EV_SYNCED, .applied = st->applied};
            gossip_peer *p = gossip_peer_by_pk(g, st->peer_pk);
            if (p != NULL)
                memcpy(ev.name, p->name, p->name_len);
            gossip_event(g, &ev);
        }
    }
    stream_end(g, st, false);
}

static void handle_stream_msg(cara_gossip *g, gossip_stream *st, const cara_wire_msg *m,
                              int64_t now_wall_ms)
{
    switch (m->kind) {
    case CARA_WIRE_SYNC: on_sync(g, st, m); break;
    case CARA_WIRE_DELTA: on_delta(g, st, m, now_wall_ms); break;
    case CARA_WIRE_PUSH: on_push(g, st, m, now_wall_ms); break;
    case CARA_WIRE_ACK: gossip_ack_from(g, st->peer_pk, m->acks, m->acks_count); break;
    case CARA_WIRE_DONE: on_done(g, st); break;
    default: stream_end(g, st, true);
    }
}

/* Opens every whole frame received; a whole message goes to its handler. */
static void frames_recv(cara_gossip *g, gossip_stream *st, int64_t now_wall_ms)
{
    uint8_t *plain = cara_env_alloc(g->env, CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX);
    cara_wire_msg *m = cara_env_alloc(g->env, sizeof *m);
    if (plain == NULL || m == NULL) {
        stream_end(g, st, false);
        goto out;
    }
    while (st->phase == PH_OPEN && st->rx.len > 0) {
        size_t used = 0, plen = 0;
        int rc = cara_seal_stream_open(g->seal, &st->seal, st->rx.data, st->rx.len, &used, plain,
                                       CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX, &plen);
        if (rc == CARA_EAGAIN)
            break;
        if (rc != 0) {
            stream_refuse(g, st, rc);
            break;
        }
        if (plen == 0 || (plain[0] & ~MORE_FRAMES) != 0) {
            stream_end(g, st, true);
            break;
        }
        rc = cara_buf_append(&st->msg, plain + 1, plen - 1);
        if (rc != 0) { /* a message reassembled past its cap */
            if (rc != CARA_ENOMEM)
                gossip_drop(g, CARA_GOSSIP_DROP_OVERSIZED);
            stream_end(g, st, false);
            break;
        }
        memmove(st->rx.data, st->rx.data + used, st->rx.len - used);
        st->rx.len -= used;
        if (plain[0] & MORE_FRAMES)
            continue;
        if (cara_wire_decode(st->msg.data, st->msg.len, CARA_WIRE_IN_STREAM, m) != 0) {
            stream_end(g, st, true);
            break;
        }
        handle_stream_msg(g, st, m, now_wall_ms);
        cara_buf_reset(&st->msg);
    }
out:
    cara_env_free(g->env, plain);
    cara_env_free(g->env, m);
}

/* ---- The driver's side ------------------------------------------------------------- */

int cara_gossip_poll_dial(cara_gossip *g, uint32_t *id, cara_gossip_addr *to)
{
    for (size_t i = 0; i < CARA_GOSSIP_STREAMS_MAX; i++) {
        gossip_stream *st = &g->streams[i];
        if (st->used && st->phase == PH_DIAL) {
            st->phase = PH_CONNECTING;
            *id = st->id;
            *to = st->addr;
            return 0;
        }
    }
    return CARA_EAGAIN;
}

void cara_gossip_stream_connected(cara_gossip *g, uint32_t id, uint64_t now_mono_ms)
{
    gossip_stream *st = stream_by_id(g, id);
    if (st == NULL || st->phase != PH_CONNECTING)
        return;
    st->idle_deadline_mono_ms = now_mono_ms + g->cfg.stream_timeout_ms;
    if (st->purpose == GP_JOIN) {
        join_send(g, st);
        return;
    }
    uint8_t rnd[CARA_SEAL_HELLO_RANDOM_BYTES];
    hello_random(g, rnd);
    cara_seal_hello(g->seal, rnd, st->hello);
    if (cara_buf_append(&st->tx, st->hello, sizeof st->hello) != 0)
        stream_end(g, st, false);
    else
        st->phase = PH_HELLO;
}

int cara_gossip_stream_accept(cara_gossip *g, uint32_t *id, uint64_t now_mono_ms)
{
    size_t inbound = 0;
    for (size_t i = 0; i < CARA_GOSSIP_STREAMS_MAX; i++)
        inbound += g->streams[i].used && !g->streams[i].initiator;
    if (inbound >= CARA_GOSSIP_STREAMS_INBOUND_MAX) {
        gossip_drop(g, CARA_GOSSIP_DROP_FULL);
        return CARA_ELIMIT;
    }
    gossip_stream *st = stream_new(g, now_mono_ms);
    if (st == NULL)
        return CARA_ELIMIT;
    st->phase = PH_HELLO;
    st->purpose = GP_UNKNOWN;
    /* Until its hello (or its JOIN) is complete, bytes do not extend a
     * stranger's time (stream_recv); it has this long. */
    uint64_t hs = now_mono_ms + CARA_GOSSIP_HANDSHAKE_MS_MAX;
    if (hs < st->idle_deadline_mono_ms)
        st->idle_deadline_mono_ms = hs;
    g->stats.streams_accepted++;
    *id = st->id;
    return 0;
}

/* Consumes what the receive buffer holds, as far as the stream's phase
 * allows. */
static void stream_input(cara_gossip *g, gossip_stream *st, uint64_t now_mono_ms,
                         int64_t now_wall_ms)
{
    if (st->phase == PH_HELLO && !st->initiator && st->purpose == GP_UNKNOWN &&
        st->rx.len >= 2 && cara_wire_is_clear(st->rx.data, st->rx.len)) {
        st->purpose = GP_JOIN;
        st->phase = PH_CLEAR;
    }
    if (st->phase == PH_CLEAR)
        clear_recv(g, st, now_mono_ms, now_wall_ms);
    if (st->phase == PH_HELLO)
        hello_recv(g, st);
    if (st->phase == PH_OPEN)
        frames_recv(g, st, now_wall_ms);
}

int cara_gossip_stream_recv(cara_gossip *g, uint32_t id, const uint8_t *bytes, size_t len,
                            uint64_t now_mono_ms, int64_t now_wall_ms)
{
    g->last_now_mono_ms = now_mono_ms;
    gossip_stream *st = stream_by_id(g, id);
    if (st == NULL || st->phase == PH_CLOSING || st->phase == PH_DIAL ||
        st->phase == PH_CONNECTING)
        return 0;
    g->stats.stream_bytes_in += len;
    sync_spend(g, st, len);
    /* Only an authenticated stream's bytes keep it alive; a handshake has
     * the fixed time it was given at accept. */
    if (st->phase == PH_OPEN)
        st->idle_deadline_mono_ms = now_mono_ms + g->cfg.stream_timeout_ms;
    /* The receive buffer holds one frame and a little more, but a driver
     * reads what the socket has (libuv hands out up to 64 KiB at once), so
     * the bytes go in as pieces that fit, each consumed before the next.
     * Only a buffer that is full and still holds no whole frame is an
     * error, and the frame cap makes that impossible for a sound peer. */
    size_t off = 0;
    while (off < len && st->phase != PH_CLOSING) {
        size_t room = CARA_GOSSIP_STREAM_RX_BYTES_MAX - st->rx.len;
        size_t take = len - off < room ? len - off : room;
        if (take == 0) {
            gossip_drop(g, CARA_GOSSIP_DROP_OVERSIZED);
            stream_end(g, st, false);
            break;
        }
        if (cara_buf_append(&st->rx, bytes + off, take) != 0) {
            stream_end(g, st, false);
            break;
        }
        off += take;
        stream_input(g, st, now_mono_ms, now_wall_ms);
    }
    gossip_forward(g, now_mono_ms);
    gossip_pump(g);
    return 0;
}

int cara_gossip_stream_poll_send(cara_gossip *g, uint32_t *id, cara_buf *out)
{
    for (size_t i = 0; i < CARA_GOSSIP_STREAMS_MAX; i++) {
        gossip_stream *st = &g->streams[i];
        if (!st->used || st->tx.len == 0 || st->phase == PH_DIAL || st->phase == PH_CONNECTING)
            continue;
        int rc = cara_buf_append(out, st->tx.data, st->tx.len);
        if (rc != 0)
            return rc;
        g->stats.stream_bytes_out += st->tx.len;
        cara_buf_reset(&st->tx);
        *id = st->id;
        return 0;
    }
    return CARA_EAGAIN;
}

int cara_gossip_poll_close(cara_gossip *g, uint32_t *id)
{
    for (size_t i = 0; i < CARA_GOSSIP_STREAMS_MAX; i++) {
        gossip_stream *st = &g->streams[i];
        if (st->used && st->phase == PH_CLOSING && st->tx.len == 0) {
            *id = st->id;
            stream_release(g, st);
            return 0;
        }
    }
    return CARA_EAGAIN;
}

void cara_gossip_stream_closed(cara_gossip *g, uint32_t id)
{
    gossip_stream *st = stream_by_id(g, id);
    if (st != NULL)
        stream_release(g, st);
}

/* ---- Timers --------------------------------------------------------------------------- */

void gossip_sync_tokens(cara_gossip *g, uint64_t now_mono_ms)
{
    gossip_bucket_fill(&g->sync_bucket, (double)g->cfg.sync_bytes_per_s_max, now_mono_ms);
}

void gossip_bucket_fill(gossip_bucket *b, double rate, uint64_t now_mono_ms)
{
    if (now_mono_ms > b->mono_ms) {
        b->tokens += rate * (double)(now_mono_ms - b->mono_ms) / 1000.0;
        if (b->tokens > rate)
            b->tokens = rate;
    }
    b->mono_ms = now_mono_ms;
}

/* memberlist's pushPullScale: past 32 members the interval grows with
 * log2 N, so the cluster's total anti-entropy traffic grows slower than N. */
static uint64_t sync_interval_ms(const cara_gossip *g)
{
    size_t n = cara_gossip_live_count(g);
    uint64_t mult = 1;
    for (size_t k = 32; k < n; k *= 2)
        mult++;
    return (uint64_t)g->cfg.anti_entropy_interval_ms * mult;
}

static void sync_tick(cara_gossip *g, uint64_t now_mono_ms)
{
    if (g->sync_stream_id != 0 || now_mono_ms < g->sync_next_mono_ms)
        return;
    uint64_t iv = sync_interval_ms(g);
    /* Jitter of +-25 % keeps nodes that started together from syncing in step. */
    g->sync_next_mono_ms = now_mono_ms + iv * 3 / 4 + cara_rng_below(&g->env->rng, iv / 2 + 1);
    if (g->sync_bucket.tokens < 0) {
        g->stats.syncs_skipped_budget++;
        return;
    }
    cara_swim_peer p;
    if (cara_swim_sample_alive(g->swim, 1, &p) == 0)
        return;
    cara_gossip_addr a = {.len = p.addr.len};
    memcpy(a.bytes, p.addr.bytes, p.addr.len);
    gossip_stream *sy = gossip_stream_open(g, GP_SYNC, &a, p.id.key, now_mono_ms);
    if (sy != NULL)
        g->sync_stream_id = sy->id;
}

void cara_gossip_sync_soon(cara_gossip *g) { g->sync_next_mono_ms = 0; }

static void seeds_tick(cara_gossip *g, uint64_t now_mono_ms)
{
    if (g->joined)
        return;
    for (size_t i = 0; i < g->seeds_count; i++) {
        gossip_seed *s = &g->seeds[i];
        if (s->dialling || now_mono_ms < s->retry_mono_ms)
            continue;
        /* The next try is planned before this one, so that a full stream
         * table also waits for the backoff instead of retrying at once. */
        s->retry_mono_ms = now_mono_ms + s->backoff_ms;
        s->backoff_ms = s->backoff_ms >= CARA_GOSSIP_JOIN_BACKOFF_MS_MAX / 2
                            ? CARA_GOSSIP_JOIN_BACKOFF_MS_MAX
                            : 2 * s->backoff_ms;
        gossip_stream *st = gossip_stream_open(g, GP_JOIN, &s->addr, NULL, now_mono_ms);
        if (st == NULL)
            return;
        st->seed_index = i;
        s->dialling = true;
    }
}

void gossip_streams_tick(cara_gossip *g, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    (void)now_wall_ms;
    gossip_sync_tokens(g, now_mono_ms);
    for (size_t i = 0; i < CARA_GOSSIP_STREAMS_MAX; i++) {
        gossip_stream *st = &g->streams[i];
        if (st->used && st->phase != PH_CLOSING && now_mono_ms >= st->idle_deadline_mono_ms) {
            g->stats.streams_timed_out++;
            stream_end(g, st, false);
        }
    }
    seeds_tick(g, now_mono_ms);
    sync_tick(g, now_mono_ms);
}

uint64_t gossip_streams_deadline(const cara_gossip *g)
{
    uint64_t d = g->sync_stream_id != 0 ? UINT64_MAX : g->sync_next_mono_ms;
    for (size_t i = 0; i < CARA_GOSSIP_STREAMS_MAX; i++) {
        const gossip_stream *st = &g->streams[i];
        if (st->used && st->phase != PH_CLOSING && st->idle_deadline_mono_ms < d)
            d = st->idle_deadline_mono_ms;
    }
    for (size_t i = 0; !g->joined && i < g->seeds_count; i++)
        if (!g->seeds[i].dialling && g->seeds[i].retry_mono_ms < d)
            d = g->seeds[i].retry_mono_ms;
    return d;
}
