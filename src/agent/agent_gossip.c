/*
 * cara-agent's gossip I/O: one UDP socket and one TCP listener on the
 * --bind address, TCP connections the node object asks for, and a timer at
 * its next deadline, all on the agent's libuv loop around the sans-IO node
 * object (src/gossip/gossip.h). Nothing here decides anything: it moves
 * bytes, keeps the disk ahead of the wire, and turns the object's events
 * into logs, node readiness and API acknowledgements.
 *
 * Durability: every flush persists what the crdt merged (agent_persist)
 * before any datagram or stream byte goes out, so an acknowledgement sent
 * by the node object always covers a record that is on disk.
 */
#include "agent/agent_int.h"

#include <sodium.h>
#include <string.h>

#include "gossip/gossip.h"

typedef struct gconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_shutdown_t shutdown;
    agent_gossip *ag;
    uint32_t id;
    bool closing;
    struct gconn *next;
} gconn;

/* An API request waiting until enough nodes hold its record. */
typedef struct gack {
    cara_http_deferred *reply;
    json_t *body; /* owned: the answer, completed with "durable" */
    int status;
    uint8_t id[CARA_CRDT_ID_BYTES];
    uint64_t hlc;
    uint32_t wanted, holders;
    uint64_t until_mono_ms;
    struct gack *next;
} gack;

struct agent_gossip {
    cara_agent *a;
    cara_gossip *g; /* the node object's (cara_core_gossip), borrowed */
    uv_udp_t udp;
    uv_tcp_t listener;
    uv_timer_t timer;
    gconn *conns;
    gack *acks;
    /* Streams this node dials leave from its --bind address (port 0), so
     * peers and firewalls see the address the node gossips from, not
     * whichever one the route picks (127.0.0.1 on loopback, say). Unset
     * when bound to the unspecified address. */
    struct sockaddr_storage dial_from;
    bool dial_bound;
    bool flushing, again, stopped;
};

/* ---- Addresses ------------------------------------------------------------------ */

int agent_gossip_addr_from_sockaddr(const struct sockaddr *sa, cara_gossip_addr *out)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->len = 6;
        memcpy(out->bytes, &in->sin_addr, 4);
        memcpy(out->bytes + 4, &in->sin_port, 2);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)sa;
        out->len = 18;
        memcpy(out->bytes, &in->sin6_addr, 16);
        memcpy(out->bytes + 16, &in->sin6_port, 2);
        return 0;
    }
    return CARA_EINVAL;
}

static int sockaddr_of(const cara_gossip_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->len == 6) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, a->bytes, 4);
        memcpy(&in->sin_port, a->bytes + 4, 2);
        return 0;
    }
    if (a->len == 18) {
        struct sockaddr_in6 *in = (struct sockaddr_in6 *)ss;
        in->sin6_family = AF_INET6;
        memcpy(&in->sin6_addr, a->bytes, 16);
        memcpy(&in->sin6_port, a->bytes + 16, 2);
        return 0;
    }
    return CARA_EINVAL;
}

/* ---- Flushing: the disk first, then the wire -------------------------------------- */

static void flush(agent_gossip *ag);

static void on_timer(uv_timer_t *t)
{
    agent_gossip *ag = t->data;
    cara_agent *a = ag->a;
    (void)cara_gossip_tick(ag->g, cara_env_now_mono_ms(a->env), cara_env_now_wall_ms(a->env));
    flush(ag);
}

static void arm(agent_gossip *ag)
{
    uint64_t now = cara_env_now_mono_ms(ag->a->env);
    uint64_t d = cara_gossip_next_deadline_ms(ag->g);
    for (gack *k = ag->acks; k != NULL; k = k->next)
        if (k->until_mono_ms < d)
            d = k->until_mono_ms;
    if (d == UINT64_MAX)
        d = now + 1000;
    uv_timer_start(&ag->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    (void)status; /* UDP may lose it anyway; the protocol copes */
    free(req);
}

static void send_datagrams(agent_gossip *ag)
{
    cara_gossip_addr to;
    uint8_t buf[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    size_t len;
    while (cara_gossip_poll_send(ag->g, &to, buf, sizeof buf, &len) == 0) {
        struct sockaddr_storage ss;
        if (sockaddr_of(&to, &ss) != 0)
            continue;
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
        if (uv_udp_try_send(&ag->udp, &b, 1, (struct sockaddr *)&ss) >= 0)
            continue;
        /* The socket buffer is full: queue a copy, within a bound (UDP
         * may drop it anyway; the protocol copes). */
        if (uv_udp_get_send_queue_size(&ag->udp) > AGENT_GOSSIP_WRITE_QUEUE_BYTES_MAX) {
            ag->a->stats.gossip_send_dropped++;
            continue;
        }
        uv_udp_send_t *req = malloc(sizeof *req + len);
        if (req == NULL)
            continue;
        memcpy(req + 1, buf, len);
        b = uv_buf_init((char *)(req + 1), (unsigned)len);
        if (uv_udp_send(req, &ag->udp, &b, 1, (struct sockaddr *)&ss, on_udp_sent) != 0)
            free(req);
    }
}

static gconn *conn_by_id(agent_gossip *ag, uint32_t id)
{
    for (gconn *c = ag->conns; c != NULL; c = c->next)
        if (c->id == id && !c->closing)
            return c;
    return NULL;
}

static void on_conn_closed(uv_handle_t *h)
{
    gconn *c = h->data;
    agent_gossip *ag = c->ag;
    for (gconn **p = &ag->conns; *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    free(c);
}

/* Closes the connection; tells the node object unless it asked for it. */
static void conn_close(gconn *c, bool tell)
{
    if (c->closing)
        return;
    c->closing = true;
    if (tell && c->ag->g != NULL)
        cara_gossip_stream_closed(c->ag->g, c->id);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    gconn *c = req->data;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *req, int status)
{
    gconn *c = req->data;
    free(req);
    if (status < 0 && !c->closing) {
        conn_close(c, true);
        flush(c->ag);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    size_t n = suggested < 65536 ? 65536 : suggested;
    buf->base = malloc(n);
    buf->len = buf->base ? n : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    gconn *c = s->data;
    agent_gossip *ag = c->ag;
    cara_agent *a = ag->a;
    if (nread > 0 && !c->closing)
        (void)cara_gossip_stream_recv(ag->g, c->id, (const uint8_t *)buf->base, (size_t)nread,
                                      cara_env_now_mono_ms(a->env), cara_env_now_wall_ms(a->env));
    else if (nread < 0)
        conn_close(c, true);
    free(buf->base);
    flush(ag);
}

static void write_streams(agent_gossip *ag)
{
    cara_buf out;
    cara_buf_init(&out, ag->a->env, 4 * CARA_WIRE_STREAM_MSG_BYTES_MAX);
    uint32_t id;
    while (cara_gossip_stream_poll_send(ag->g, &id, &out) == 0) {
        gconn *c = conn_by_id(ag, id);
        /* A peer that does not read gets no more than this queued: past it
         * the stream is closed (and counted), not buffered. */
        if (c != NULL && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + out.len >
                             AGENT_GOSSIP_WRITE_QUEUE_BYTES_MAX) {
            ag->a->stats.gossip_slow_readers++;
            conn_close(c, true);
            c = NULL;
        }
        uv_write_t *req = c != NULL ? malloc(sizeof *req + out.len) : NULL;
        if (req != NULL) {
            memcpy(req + 1, out.data, out.len);
            uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)out.len);
            req->data = c;
            if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
                free(req);
                conn_close(c, true);
            }
        }
        cara_buf_reset(&out);
    }
    cara_buf_free(&out);
    while (cara_gossip_poll_close(ag->g, &id) == 0) {
        gconn *c = conn_by_id(ag, id);
        if (c == NULL)
            continue;
        c->closing = true; /* the object has forgotten it */
        c->shutdown.data = c;
        if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
            uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    gconn *c = req->data;
    agent_gossip *ag = c->ag;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        conn_close(c, true);
    } else {
        c->tcp.data = c;
        cara_gossip_stream_connected(ag->g, c->id, cara_env_now_mono_ms(ag->a->env));
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    }
    flush(ag);
}

static gconn *conn_new(agent_gossip *ag, uint32_t id)
{
    gconn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->ag = ag;
    c->id = id;
    uv_tcp_init(ag->a->loop, &c->tcp);
    c->tcp.data = c;
    c->next = ag->conns;
    ag->conns = c;
    return c;
}

static void dial(agent_gossip *ag)
{
    uint32_t id;
    cara_gossip_addr to;
    while (cara_gossip_poll_dial(ag->g, &id, &to) == 0) {
        struct sockaddr_storage ss;
        gconn *c = sockaddr_of(&to, &ss) == 0 ? conn_new(ag, id) : NULL;
        if (c == NULL) {
            cara_gossip_stream_closed(ag->g, id);
            continue;
        }
        c->connect.data = c;
        if (ag->dial_bound && ss.ss_family == ag->dial_from.ss_family &&
            uv_tcp_bind(&c->tcp, (struct sockaddr *)&ag->dial_from, 0) != 0) {
            conn_close(c, true);
            continue;
        }
        if (uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&ss, on_connect) != 0)
            conn_close(c, true);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    agent_gossip *ag = server->data;
    uint32_t id;
    if (status < 0)
        return;
    gconn *c = conn_new(ag, 0);
    if (c == NULL)
        return;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        cara_gossip_stream_accept(ag->g, &id, cara_env_now_mono_ms(ag->a->env)) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    c->id = id;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static void on_udp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                   unsigned flags)
{
    agent_gossip *ag = h->data;
    cara_agent *a = ag->a;
    cara_gossip_addr fa;
    if (nread > 0 && from != NULL && !(flags & UV_UDP_PARTIAL) &&
        agent_gossip_addr_from_sockaddr(from, &fa) == 0)
        (void)cara_gossip_recv(ag->g, &fa, (const uint8_t *)buf->base, (size_t)nread,
                               cara_env_now_mono_ms(a->env), cara_env_now_wall_ms(a->env));
    else if (nread > 0 && (flags & UV_UDP_PARTIAL))
        ag->a->stats.gossip_truncated++;
    else if (nread < 0)
        cara_env_logf(a->env, CARA_LOG_DEBUG, "gossip", "receiving a datagram failed: %s",
                      uv_strerror((int)nread));
    free(buf->base);
    if (nread != 0 || from != NULL)
        flush(ag);
}

/* ---- Events ----------------------------------------------------------------------- */

static void ack_done(agent_gossip *ag, gack *k, bool timeout)
{
    for (gack **p = &ag->acks; *p != NULL; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    json_object_set_new(k->body, "durable", json_integer(k->holders));
    json_object_set_new(k->body, "wanted", json_integer(k->wanted));
    /* 202: accepted and spreading, but not yet on as many nodes as asked. */
    cara_http_deferred_json(k->reply, timeout ? 202 : k->status, k->body);
    free(k);
}

static void on_acked(agent_gossip *ag, const cara_gossip_event *ev)
{
    for (gack *k = ag->acks, *next; k != NULL; k = next) {
        next = k->next;
        if (memcmp(k->id, ev->id, CARA_CRDT_ID_BYTES) != 0 || ev->hlc < k->hlc)
            continue;
        if (ev->holders > k->holders)
            k->holders = ev->holders;
        if (k->holders >= k->wanted)
            ack_done(ag, k, false);
    }
}

static void log_event(agent_gossip *ag, const cara_gossip_event *ev)
{
    cara_env *env = ag->a->env;
    char addr[80];
    cara_gossip_addr_text(&ev->addr, addr, sizeof addr);
    switch (ev->kind) {
    case CARA_GOSSIP_EV_MEMBER:
        cara_env_logf(env, ev->state == CARA_GOSSIP_ALIVE ? CARA_LOG_INFO : CARA_LOG_WARN,
                      "gossip", "member=%s state=%s incarnation=%u addr=%s", ev->name,
                      cara_gossip_state_name(ev->state), ev->incarnation, addr);
        agent_membership_changed(ag->a, ev->name);
        break;
    case CARA_GOSSIP_EV_REAPED:
        cara_env_logf(env, CARA_LOG_INFO, "gossip", "member=%s forgotten", ev->name);
        agent_membership_changed(ag->a, ev->name);
        break;
    case CARA_GOSSIP_EV_JOINED:
        cara_env_logf(env, CARA_LOG_INFO, "gossip", "joined the cluster through %s at %s",
                      ev->name, addr);
        break;
    case CARA_GOSSIP_EV_JOIN_REFUSED:
        cara_env_logf(env, CARA_LOG_ERROR, "gossip", "seed %s refused this node: %s", addr,
                      ev->text);
        break;
    case CARA_GOSSIP_EV_REFUSED_JOIN:
        cara_env_logf(env, CARA_LOG_WARN, "gossip", "refused to let node %s (%s) join: %s",
                      ev->name, addr, ev->text);
        break;
    case CARA_GOSSIP_EV_WELCOMED:
        cara_env_logf(env, CARA_LOG_INFO, "gossip", "node %s joined through this node from %s",
                      ev->name, addr);
        break;
    case CARA_GOSSIP_EV_ACKED:
        on_acked(ag, ev);
        break;
    case CARA_GOSSIP_EV_SYNCED:
        if (ev->applied > 0)
            cara_env_logf(env, CARA_LOG_INFO, "gossip", "anti-entropy with %s applied %llu records",
                          ev->name, (unsigned long long)ev->applied);
        break;
    default:
        break;
    }
}

static void acks_expire(agent_gossip *ag)
{
    uint64_t now = cara_env_now_mono_ms(ag->a->env);
    for (gack *k = ag->acks, *next; k != NULL; k = next) {
        next = k->next;
        if (now >= k->until_mono_ms)
            ack_done(ag, k, true);
    }
}

static void flush(agent_gossip *ag)
{
    if (ag->g == NULL || ag->stopped)
        return;
    if (ag->flushing) {
        ag->again = true;
        return;
    }
    ag->flushing = true;
    for (int round = 0; round < 16; round++) {
        ag->again = false;
        /* The disk before the wire: acks must cover durable records. */
        if (agent_persist(ag->a) != 0)
            break;
        cara_gossip_event ev;
        while (cara_core_poll_gossip_event(ag->a->core, &ev) == 0)
            log_event(ag, &ev);
        agent_eval_soon(ag->a); /* a claim acknowledged, membership moved */
        acks_expire(ag);
        send_datagrams(ag);
        dial(ag);
        write_streams(ag);
        if (!ag->again)
            break;
    }
    ag->flushing = false;
    arm(ag);
}

/* ---- What the rest of the agent calls ------------------------------------------- */

void agent_gossip_publish(cara_agent *a, const uint8_t *record, size_t len)
{
    if (a->gossip == NULL)
        return;
    (void)cara_gossip_publish(a->gossip->g, record, len, 0, cara_env_now_mono_ms(a->env));
}

void agent_gossip_flush(cara_agent *a)
{
    if (a->gossip != NULL)
        flush(a->gossip);
}

bool agent_gossip_defer_ack(cara_agent *a, const uint8_t *record, size_t len, uint32_t wanted,
                            uint32_t timeout_ms, int status, json_t *body, cara_http_reply *reply)
{
    cara_crdt_record r;
    if (a->gossip == NULL || cara_crdt_record_decode(record, len, &r) != 0)
        return false;
    uint64_t now = cara_env_now_mono_ms(a->env);
    gack *k = wanted > 1 ? calloc(1, sizeof *k) : NULL;
    if (k != NULL && (k->reply = cara_http_reply_defer(reply)) == NULL) {
        free(k);
        k = NULL;
    }
    /* Spread it whatever is waited for (an unchanged apply re-spreads the
     * version held, which also counts its holders again). */
    (void)cara_gossip_publish(a->gossip->g, record, len, k != NULL ? wanted : 0, now);
    if (k == NULL) {
        flush(a->gossip);
        return false;
    }
    cara_crdt_record_id(&r, k->id);
    k->hlc = r.hlc;
    k->wanted = wanted;
    k->holders = 1;
    k->status = status;
    k->body = body;
    k->until_mono_ms = now + timeout_ms;
    k->next = a->gossip->acks;
    a->gossip->acks = k;
    flush(a->gossip);
    return true;
}

void agent_gossip_annotate(cara_agent *a, json_t *node, const char *name)
{
    cara_gossip_member m;
    if (node == NULL || agent_gossip_member(a, name, &m) != 0)
        return;
    uint64_t now = cara_env_now_mono_ms(a->env);
    json_t *j = json_pack("{s:s, s:I}", "state", cara_gossip_state_name(m.state), "incarnation",
                          (json_int_t)m.incarnation);
    if (j == NULL)
        return;
    if (m.self) {
        json_object_set_new(j, "self", json_true());
        /* What this node makes of the majority (docs/scheduling.md). */
        cara_core_fence_state f;
        cara_core_fence_get(a->core, &f);
        json_t *fj = json_pack("{s:b, s:b, s:I, s:I}", "majority", f.majority, "fenced", f.fenced,
                               "seen", (json_int_t)f.seen, "known", (json_int_t)f.known);
        if (fj != NULL)
            json_object_set_new(j, "fence", fj);
    } else if (m.last_contact_mono_ms != 0 && now >= m.last_contact_mono_ms)
        json_object_set_new(j, "lastContactAgoMs",
                            json_integer((json_int_t)(now - m.last_contact_mono_ms)));
    json_object_set_new(node, "membership", j);
}

int agent_gossip_member(cara_agent *a, const char *name, cara_gossip_member *out)
{
    return a->gossip != NULL ? cara_gossip_member_get(a->gossip->g, name, out) : CARA_ENOENT;
}

void agent_gossip_stats(cara_agent *a, cara_gossip_stats *out, bool *on)
{
    *on = a->gossip != NULL;
    if (*on)
        cara_gossip_stats_get(a->gossip->g, out);
}

static void os_random(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    randombytes_buf(out, len);
}

/* ---- Start and stop ------------------------------------------------------------- */

/* The members this node knew, from their node records: a restarted node
 * rejoins from them even when no --join seed answers. */
static int open_sockets(agent_gossip *ag, const cara_gossip_addr *bind)
{
    struct sockaddr_storage ss;
    cara_agent *a = ag->a;
    sockaddr_of(bind, &ss);
    uv_udp_init(a->loop, &ag->udp);
    uv_tcp_init(a->loop, &ag->listener);
    uv_timer_init(a->loop, &ag->timer);
    ag->udp.data = ag->listener.data = ag->timer.data = ag;
    ag->dial_from = ss;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ag->dial_from;
        in->sin_port = 0;
        ag->dial_bound = in->sin_addr.s_addr != htonl(INADDR_ANY);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ag->dial_from;
        in->sin6_port = 0;
        ag->dial_bound = memcmp(&in->sin6_addr, &in6addr_any, sizeof in6addr_any) != 0;
    }
    int rc = uv_udp_bind(&ag->udp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&ag->udp, alloc_cb, on_udp);
    if (rc == 0)
        rc = uv_tcp_bind(&ag->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ag->listener, 128, on_connection);
    if (rc != 0) {
        char text[80];
        cara_gossip_addr_text(bind, text, sizeof text);
        cara_env_logf(a->env, CARA_LOG_ERROR, "gossip", "cannot listen on %s (UDP and TCP): %s",
                      text, uv_strerror(rc));
        return CARA_EIO;
    }
    return 0;
}

/* The join record a token makes: signed by this node, with the operator's
 * grant inside, sent to seeds as the proof of admission. Not applied here:
 * a seed that accepts it sends it back with its welcome. Not made when this
 * node is admitted already (a restart), so a token's uses are not re-ranked
 * by a newer record. */
static int make_proof(cara_agent *a)
{
    if (a->cfg.join_token == NULL || agent_admitted(a))
        return 0;
    cara_crdt_join_token t;
    int rc = cara_crdt_join_token_parse(a->cfg.join_token, &t);
    if (rc != 0) {
        cara_env_logf(a->env, CARA_LOG_ERROR, "gossip",
                      "the join token cannot be read (%s): copy the whole line that "
                      "caravanctl join-token create printed", cara_strerror(rc));
        return CARA_EINVAL;
    }
    int64_t now = cara_env_now_wall_ms(a->env);
    uint64_t hlc = cara_crdt_hlc_next(a->crdt, now);
    if (cara_crdt_hlc_wall_ms(hlc) > t.expires_wall_ms) {
        cara_env_logf(a->env, CARA_LOG_ERROR, "gossip",
                      "the join token expired %lld s ago; seeds will refuse it (ask the operator "
                      "for a new one: caravanctl join-token create)",
                      (long long)((cara_crdt_hlc_wall_ms(hlc) - t.expires_wall_ms) / 1000));
        /* Sent all the same, so that the seed says so in its log too: the
         * grant inside keeps its real expiry, and every replica refuses
         * the record for it. Only the local signer's check is passed. */
        t.expires_wall_ms = cara_crdt_hlc_wall_ms(hlc);
    }
    cara_buf out;
    cara_buf_init(&out, a->env, CARA_GOSSIP_PROOF_BYTES_MAX);
    rc = cara_crdt_join_record_sign(&t, a->node_pk, a->node_sk, a->cfg.name, hlc, &out);
    sodium_memzero(&t, sizeof t);
    if (rc != 0) {
        cara_env_logf(a->env, CARA_LOG_ERROR, "gossip", "signing the join record failed: %s",
                      cara_strerror(rc));
        cara_buf_free(&out);
        return rc;
    }
    a->join_proof = cara_buf_take(&out, &a->join_proof_len);
    return a->join_proof != NULL ? 0 : CARA_ENOMEM;
}

int agent_gossip_start(cara_agent *a)
{
    const cara_agent_config *cfg = &a->cfg;
    if (cfg->gossip_bind == NULL)
        return 0;
    int prc = make_proof(a);
    if (prc != 0)
        return prc;
    agent_gossip *ag = calloc(1, sizeof *ag);
    if (ag == NULL)
        return CARA_ENOMEM;
    ag->a = a;
    cara_gossip_addr bind, adv;
    uint64_t epoch = 0;
    int rc = cara_gossip_addr_parse(cfg->gossip_bind, &bind);
    if (rc == 0)
        rc = cara_gossip_addr_parse(cfg->gossip_advertise ? cfg->gossip_advertise
                                                           : cfg->gossip_bind, &adv);
    if (rc != 0) {
        cara_env_logf(a->env, CARA_LOG_ERROR, "gossip", "bad gossip address %s",
                      cfg->gossip_advertise ? cfg->gossip_advertise : cfg->gossip_bind);
        free(ag);
        return CARA_EINVAL;
    }
    /* The seal's epoch: larger at every start, on disk before the first
     * datagram, so no counter (nonce) is ever used twice with one key. */
    if ((rc = cara_store_counter_next(a->store, "gossip_epoch", 1, &epoch)) != 0 ||
        epoch > UINT32_MAX) {
        free(ag);
        return rc != 0 ? rc : CARA_ELIMIT;
    }
    cara_gossip_cfg gc = {.name = cfg->name, .addr = adv, .epoch = (uint32_t)epoch,
                          .random_bytes = os_random};
    memcpy(gc.pk, a->node_pk, sizeof gc.pk);
    memcpy(gc.sk, a->node_sk, sizeof gc.sk);
    /* The node object owns the gossip object, and tells it of the members
     * this node stored (a restarted node rejoins from them). */
    rc = cara_core_gossip_start(a->core, &gc, cara_env_now_mono_ms(a->env));
    sodium_memzero(gc.sk, sizeof gc.sk);
    if (rc != 0) {
        free(ag);
        return rc;
    }
    ag->g = cara_core_gossip(a->core);
    a->gossip = ag;
    agent_eval_soon(a); /* readiness is membership's now */
    if ((rc = open_sockets(ag, &bind)) != 0)
        return rc;
    for (size_t i = 0; i < cfg->gossip_join_count; i++) {
        cara_gossip_addr seed;
        if (cara_gossip_addr_parse(cfg->gossip_join[i], &seed) != 0) {
            cara_env_logf(a->env, CARA_LOG_ERROR, "gossip", "bad --join address %s",
                          cfg->gossip_join[i]);
            return CARA_EINVAL;
        }
        rc = cara_gossip_join(ag->g, &seed, a->join_proof, a->join_proof_len,
                              cara_env_now_mono_ms(a->env));
        if (rc != 0)
            return rc;
    }
    char text[80];
    cara_gossip_addr_text(&adv, text, sizeof text);
    cara_env_logf(a->env, CARA_LOG_INFO, "gossip", "listening addr=%s epoch=%llu seeds=%zu",
                  text, (unsigned long long)epoch, cfg->gossip_join_count);
    flush(ag);
    return 0;
}

void agent_gossip_leave(cara_agent *a)
{
    if (a->gossip == NULL)
        return;
    (void)cara_gossip_leave(a->gossip->g, cara_env_now_mono_ms(a->env));
    flush(a->gossip);
}

void agent_gossip_stop(cara_agent *a)
{
    agent_gossip *ag = a->gossip;
    if (ag == NULL || ag->stopped)
        return;
    ag->stopped = true;
    uv_timer_stop(&ag->timer);
    while (ag->acks != NULL)
        ack_done(ag, ag->acks, true);
    for (gconn *c = ag->conns; c != NULL; c = c->next)
        if (!c->closing) {
            c->closing = true;
            uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        }
    if (!uv_is_closing((uv_handle_t *)&ag->udp))
        uv_close((uv_handle_t *)&ag->udp, NULL);
    if (!uv_is_closing((uv_handle_t *)&ag->listener))
        uv_close((uv_handle_t *)&ag->listener, NULL);
    if (!uv_is_closing((uv_handle_t *)&ag->timer))
        uv_close((uv_handle_t *)&ag->timer, NULL);
}

void agent_gossip_free(cara_agent *a)
{
    agent_gossip *ag = a->gossip;
    if (ag == NULL)
        return;
    ag->g = NULL; /* the node object's, freed with it */
    free(ag);
    a->gossip = NULL;
}
