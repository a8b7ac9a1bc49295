/*
 * The HTTP server: libmicrohttpd daemons in external-epoll mode on a libuv
 * loop. See http.h for the contract; this file is the wiring.
 *
 * Request life. MHD calls on_uri as soon as the request line is parsed;
 * there we allocate the request (it keeps the raw target, which signatures
 * cover and which MHD rewrites in place afterwards). MHD then calls
 * on_access: once when the headers are in (checks for smuggling and caps),
 * once per body piece, and once when the request is complete (the handler
 * runs). A deferred request's connection is suspended until the agent
 * completes it; MHD then calls on_access again and the stored reply is
 * queued. A stream's connection is suspended whenever its queue runs dry.
 * MHD calls on_completed when it is done with the connection; the request
 * is freed then, unless the agent still holds a deferred handle (freed on
 * completion). Every request with an open connection is on srv->reqs.
 */
#include "agent/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* MHD's timeout is a hint to call it again; a long one is cut so a clock
 * oddity can never park a daemon for days. */
#define MHD_TIMER_MS_MAX 60000u
/* A stream's queue cap runs between these two (cara_http_stream_set_queue_max). */
_Static_assert(CARA_HTTP_STREAM_QUEUE_BYTES_MAX <= CARA_HTTP_REPLY_BYTES_MAX,
               "a raised stream queue cap must be able to exceed the steady one");
/* MHD reads a streaming reply through its callback in blocks this big. */
#define STREAM_BLOCK_BYTES 4096

enum req_state {
    REQ_NEW,       /* headers not yet looked at */
    REQ_READING,   /* reading the body */
    REQ_TOO_BIG,   /* body over the cap: discarding, 413 at the end */
    REQ_ANSWERED,  /* a reply is queued (or the request was refused) */
    REQ_DEFERRED,  /* waiting for the agent */
    REQ_STREAMING, /* a streaming reply is running */
};

typedef struct listener listener;
typedef struct http_req http_req;

struct cara_http_reply { http_req *r; };
struct cara_http_deferred { http_req *r; };
struct cara_http_stream { http_req *r; };

struct http_req {
    cara_env *env;
    cara_http *srv; /* NULL once detached (connection gone, handle held) */
    listener *l;
    struct MHD_Connection *conn; /* NULL once MHD is done with it */
    char *target;                /* owned; as sent */
    bool target_too_long;
    int state;
    cara_buf body;
    size_t discarded_bytes;
    bool in_handler, answered, suspended, peer_gone;
    bool agent_holds; /* a deferred or stream handle is out */
    struct MHD_Response *pending; /* deferred reply waiting for resume */
    unsigned pending_status;
    /* Streaming. */
    cara_buf queue;    /* bounded by CARA_HTTP_REPLY_BYTES_MAX; queue_max is the real cap */
    size_t queue_head; /* bytes of `queue` already handed to MHD */
    size_t queue_max;  /* cap on waiting bytes (cara_http_stream_set_queue_max) */
    bool ended;
    cara_http_stream_close_fn on_close;
    void *on_close_ctx;
    cara_http_reply reply;
    cara_http_deferred deferred;
    cara_http_stream stream;
    http_req *prev, *next;
};

struct listener {
    cara_http *srv;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    bool kick; /* run MHD on the next loop turn: a connection was resumed */
    uint16_t port;
};

struct cara_http {
    cara_env *env;
    uv_loop_t *loop;
    cara_http_handler_fn handler;
    void *handler_ctx;
    listener listeners[CARA_HTTP_LISTENERS_MAX];
    size_t listeners_count;
    uv_timer_t probe;
    uint32_t probe_ms;
    http_req *reqs;
    cara_http_stats stats;
    int handles_open;
    bool closing;
};

/* ---- Driving MHD from libuv ------------------------------------------------ */

static void on_timer(uv_timer_t *t);

static void arm_timer(listener *l)
{
    if (l->srv->closing)
        return;
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (l->kick)
        uv_timer_start(&l->timer, on_timer, 0, 0);
    else if (MHD_get_timeout(l->mhd, &ms) == MHD_YES)
        uv_timer_start(&l->timer, on_timer, ms > MHD_TIMER_MS_MAX ? MHD_TIMER_MS_MAX : ms, 0);
    else
        uv_timer_stop(&l->timer);
}

static unsigned connections_of(listener *l)
{
    const union MHD_DaemonInfo *i =
        MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

/* At its connection cap MHD takes the listen socket out of its epoll set,
 * and puts it back only at the start of a later MHD_run. A run that closes
 * connections therefore calls for one more run, or a client arriving next
 * would wait in the backlog until some other event woke the daemon. */
static void run_mhd(listener *l)
{
    l->kick = false;
    unsigned before = connections_of(l);
    MHD_run(l->mhd);
    if (connections_of(l) < before)
        l->kick = true;
    arm_timer(l);
}

static void on_timer(uv_timer_t *t) { run_mhd(t->data); }

static void on_epoll_readable(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* A connection was resumed from outside MHD: make sure MHD runs soon. */
static void kick(listener *l)
{
    l->kick = true;
    if (!l->srv->closing)
        uv_timer_start(&l->timer, on_timer, 0, 0);
}

static void resume(http_req *r)
{
    if (r->suspended && r->conn != NULL) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        kick(r->l);
    }
}

static void suspend(http_req *r)
{
    CARA_ASSERT(r->conn != NULL && !r->suspended);
    r->suspended = true;
    MHD_suspend_connection(r->conn);
}

/* ---- Requests ------------------------------------------------------------ */

static void req_free(http_req *r)
{
    CARA_ASSERT(r->conn == NULL && !r->agent_holds);
    if (r->pending != NULL)
        MHD_destroy_response(r->pending);
    cara_buf_free(&r->body);
    cara_buf_free(&r->queue);
    cara_env_free(r->env, r->target);
    cara_env_free(r->env, r);
}

static void unlink_req(http_req *r)
{
    cara_http *srv = r->srv;
    if (r->prev)
        r->prev->next = r->next;
    else
        srv->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    listener *l = cls;
    cara_http *srv = l->srv;
    http_req *r = cara_env_calloc(srv->env, 1, sizeof *r);
    if (r == NULL)
        return NULL; /* on_access refuses the request */
    size_t n = strnlen(uri, CARA_HTTP_TARGET_BYTES_MAX + 1);
    r->target_too_long = n > CARA_HTTP_TARGET_BYTES_MAX;
    r->target = cara_env_strndup(srv->env, uri, r->target_too_long ? 0 : n);
    if (r->target == NULL) {
        cara_env_free(srv->env, r);
        return NULL;
    }
    r->env = srv->env;
    r->srv = srv;
    r->l = l;
    r->conn = conn;
    r->reply.r = r->deferred.r = r->stream.r = r;
    cara_buf_init(&r->body, srv->env, CARA_HTTP_BODY_BYTES_MAX);
    cara_buf_init(&r->queue, srv->env, CARA_HTTP_REPLY_BYTES_MAX);
    r->queue_max = CARA_HTTP_STREAM_QUEUE_BYTES_MAX;
    r->next = srv->reqs;
    if (srv->reqs)
        srv->reqs->prev = r;
    srv->reqs = r;
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    http_req *r = *con_cls;
    if (r == NULL)
        return;
    *con_cls = NULL;
    cara_http *srv = r->srv;
    unlink_req(r);
    r->conn = NULL;
    r->suspended = false;
    if (r->state == REQ_STREAMING && r->agent_holds) {
        r->agent_holds = false;
        srv->stats.streams_open--;
        srv->stats.streams_dropped++;
        r->on_close(r->on_close_ctx, &r->stream);
    }
    if (r->state == REQ_DEFERRED && r->agent_holds) {
        srv->stats.deferred_open--;
        r->srv = NULL; /* freed when the agent completes it */
        return;
    }
    req_free(r);
}

/* ---- Building responses ---------------------------------------------------- */

static struct MHD_Response *response_bytes(const char *content_type, const void *bytes,
                                           size_t len, bool close)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)bytes, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return NULL;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
        (close && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

static int dump_to_buf(const char *data, size_t len, void *ctx)
{
    return cara_buf_append(ctx, data, len) == 0 ? 0 : -1;
}

/* Serialises `body` (borrowed) as one JSON line. */
static struct MHD_Response *response_json(cara_env *env, const json_t *body, bool close)
{
    cara_buf b;
    cara_buf_init(&b, env, CARA_HTTP_REPLY_BYTES_MAX);
    struct MHD_Response *resp = NULL;
    if (json_dump_callback(body, dump_to_buf, &b, JSON_COMPACT) == 0 &&
        cara_buf_append(&b, "\n", 1) == 0)
        resp = response_bytes("application/json", b.data, b.len, close);
    cara_buf_free(&b);
    return resp;
}

/* {"error": msg, "reason": reason}. A message that is not valid UTF-8
 * (jansson refuses it) is replaced rather than dropping the reply. */
static struct MHD_Response *response_error(cara_env *env, const char *reason, const char *msg,
                                           bool close)
{
    json_t *j = json_pack("{s:s, s:s}", "error", msg, "reason", reason);
    if (j == NULL)
        j = json_pack("{s:s, s:s}", "error", "(message not UTF-8)", "reason", reason);
    if (j == NULL)
        return NULL;
    struct MHD_Response *resp = response_json(env, j, close);
    json_decref(j);
    return resp;
}

/* Answers a request that the handler never sees, and closes the connection
 * (after a smuggling attempt, the bytes that follow cannot be trusted). */
static enum MHD_Result refuse(http_req *r, unsigned status, const char *reason, const char *msg)
{
    r->state = REQ_ANSWERED;
    struct MHD_Response *resp = response_error(r->env, reason, msg, true);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result res = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return res;
}

/* Hands a reply to MHD now (inside the access handler) or, for a deferred
 * request, stores it and resumes the connection so that MHD asks for it. */
static int deliver(http_req *r, unsigned status, struct MHD_Response *resp)
{
    int rc = 0;
    if (resp == NULL) {
        rc = CARA_ENOMEM;
        resp = response_error(r->env, "InternalError", "the agent ran out of memory", false);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        if (resp == NULL)
            return rc; /* MHD closes a connection that gets no reply */
    }
    if (r->conn == NULL) {
        MHD_destroy_response(resp);
    } else if (r->in_handler) {
        MHD_queue_response(r->conn, status, resp);
        MHD_destroy_response(resp);
    } else {
        CARA_ASSERT(r->pending == NULL);
        r->pending = resp;
        r->pending_status = status;
        resume(r);
    }
    return rc;
}

/* ---- The access handler ------------------------------------------------------ */

typedef struct header_scan {
    unsigned content_length_count;
    bool transfer_encoding;
    size_t bytes;
} header_scan;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    header_scan *h = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        h->content_length_count++;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        h->transfer_encoding = true;
    /* "Name: value\r\n" */
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* First call: the headers are in, the body is not. Refuses what must never
 * reach the handler; a reply queued now makes MHD skip the body and close. */
static enum MHD_Result on_headers(http_req *r)
{
    cara_http *srv = r->srv;
    header_scan h = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_header, &h);
    if (h.content_length_count > 1 || (h.content_length_count == 1 && h.transfer_encoding)) {
        srv->stats.refused_smuggling++;
        return refuse(r, MHD_HTTP_BAD_REQUEST, "BadRequest",
                      h.content_length_count > 1
                          ? "more than one Content-Length header"
                          : "both Content-Length and Transfer-Encoding headers");
    }
    if (r->target_too_long) {
        srv->stats.refused_too_big++;
        return refuse(r, MHD_HTTP_URI_TOO_LONG, "TargetTooLong", "request target too long");
    }
    if (h.bytes + strlen(r->target) > CARA_HTTP_HEADER_BYTES_MAX) {
        srv->stats.refused_too_big++;
        return refuse(r, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "HeadersTooLarge",
                      "request headers too large");
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    /* MHD has already refused a Content-Length that is not a number. */
    if (cl != NULL && strtoull(cl, NULL, 10) > CARA_HTTP_BODY_BYTES_MAX) {
        srv->stats.refused_too_big++;
        return refuse(r, MHD_HTTP_CONTENT_TOO_LARGE, "TooLarge", "request body over 1 MiB");
    }
    r->state = REQ_READING;
    return MHD_YES;
}

static enum MHD_Result on_body(http_req *r, const char *data, size_t *len)
{
    if (r->state == REQ_READING && cara_buf_append(&r->body, data, *len) != 0) {
        /* Over the cap (or out of memory): keep reading so the 413 can be
         * sent once the body ends, but keep nothing. */
        r->state = REQ_TOO_BIG;
        r->discarded_bytes = r->body.len;
        cara_buf_free(&r->body);
    }
    if (r->state == REQ_TOO_BIG) {
        r->discarded_bytes += *len;
        if (r->discarded_bytes > CARA_HTTP_DISCARD_BYTES_MAX)
            return MHD_NO;
    }
    *len = 0;
    return MHD_YES;
}

static void peer_text(struct MHD_Connection *conn, char out[INET6_ADDRSTRLEN], bool *loopback)
{
    static const uint8_t v4mapped_loop[13] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127};
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    *loopback = false;
    if (ci == NULL || ci->client_addr == NULL)
        return;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
        inet_ntop(AF_INET, &a->sin_addr, out, INET6_ADDRSTRLEN);
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
        inet_ntop(AF_INET6, &a->sin6_addr, out, INET6_ADDRSTRLEN);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
                    memcmp(a->sin6_addr.s6_addr, v4mapped_loop, sizeof v4mapped_loop) == 0;
    }
}

/* Last call: the whole request is in. Runs the handler. */
static enum MHD_Result on_complete(http_req *r, const char *url, const char *method)
{
    cara_http *srv = r->srv;
    if (r->state == REQ_TOO_BIG) {
        srv->stats.refused_too_big++;
        return refuse(r, MHD_HTTP_CONTENT_TOO_LARGE, "TooLarge", "request body over 1 MiB");
    }
    char peer[INET6_ADDRSTRLEN];
    cara_http_request req = {
        .method = method,
        .path = url,
        .target = r->target,
        .body = r->body.data ? r->body.data : (const uint8_t *)"",
        .body_len = r->body.len,
        .peer_addr = peer,
        .impl_ = r,
    };
    peer_text(r->conn, peer, &req.peer_loopback);
    srv->stats.requests++;
    r->in_handler = true;
    srv->handler(srv->handler_ctx, &req, &r->reply);
    r->in_handler = false;
    if (!r->answered)
        return refuse(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
                      "the agent gave no reply");
    if (r->state == REQ_DEFERRED && r->agent_holds)
        suspend(r);
    return MHD_YES;
}

/* Called again for a deferred request after its connection was resumed. */
static enum MHD_Result on_resumed(http_req *r)
{
    if (r->pending != NULL) {
        r->state = REQ_ANSWERED;
        enum MHD_Result res = MHD_queue_response(r->conn, r->pending_status, r->pending);
        MHD_destroy_response(r->pending);
        r->pending = NULL;
        return res;
    }
    if (r->peer_gone || r->srv->closing)
        return MHD_NO; /* close: nobody is waiting for the answer */
    suspend(r);
    return MHD_YES;
}

/* Called again for a deferred request completed as a stream
 * (cara_http_deferred_stream): the stream's response waits in `pending`. */
static enum MHD_Result on_resumed_stream(http_req *r)
{
    if (r->pending == NULL)
        return MHD_NO;
    enum MHD_Result res = MHD_queue_response(r->conn, r->pending_status, r->pending);
    MHD_destroy_response(r->pending);
    r->pending = NULL;
    return res;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)cls;
    (void)version;
    http_req *r = *con_cls;
    if (r == NULL)
        return MHD_NO; /* on_uri could not allocate: close */
    CARA_ASSERT(r->conn == conn);
    switch (r->state) {
    case REQ_NEW:
        return on_headers(r);
    case REQ_READING:
    case REQ_TOO_BIG:
        if (*upload_data_size > 0)
            return on_body(r, upload_data, upload_data_size);
        return on_complete(r, url, method);
    case REQ_DEFERRED:
        return on_resumed(r);
    case REQ_STREAMING:
        return on_resumed_stream(r);
    default:
        return MHD_NO;
    }
}

const char *cara_http_query(const cara_http_request *req, const char *key)
{
    http_req *r = req->impl_;
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *cara_http_header(const cara_http_request *req, const char *name)
{
    http_req *r = req->impl_;
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *cara_http_reply_query(const cara_http_reply *reply, const char *key)
{
    http_req *r = reply->r;
    if (!r->in_handler || r->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ---- Replies --------------------------------------------------------------- */

static void format_message(char *out, size_t size, const char *fmt, va_list ap)
{
    if (vsnprintf(out, size, fmt, ap) < 0)
        snprintf(out, size, "(unformattable message)");
}

int cara_http_reply_json(cara_http_reply *reply, int status, json_t *body)
{
    http_req *r = reply->r;
    if (r->answered || !r->in_handler) {
        json_decref(body);
        return CARA_EINVAL;
    }
    r->answered = true;
    r->state = REQ_ANSWERED;
    struct MHD_Response *resp = body ? response_json(r->env, body, false) : NULL;
    json_decref(body);
    return deliver(r, (unsigned)status, resp);
}

int cara_http_reply_text(cara_http_reply *reply, int status, const char *content_type,
                         const void *bytes, size_t len)
{
    http_req *r = reply->r;
    if (r->answered || !r->in_handler)
        return CARA_EINVAL;
    r->answered = true;
    r->state = REQ_ANSWERED;
    return deliver(r, (unsigned)status, response_bytes(content_type, bytes, len, false));
}

int cara_http_reply_error(cara_http_reply *reply, int status, const char *reason,
                          const char *fmt, ...)
{
    http_req *r = reply->r;
    if (r->answered || !r->in_handler)
        return CARA_EINVAL;
    char msg[CARA_MESSAGE_BYTES_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    format_message(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->answered = true;
    r->state = REQ_ANSWERED;
    return deliver(r, (unsigned)status, response_error(r->env, reason, msg, false));
}

cara_http_deferred *cara_http_reply_defer(cara_http_reply *reply)
{
    http_req *r = reply->r;
    if (r->answered || !r->in_handler)
        return NULL;
    r->answered = true;
    r->agent_holds = true;
    r->state = REQ_DEFERRED;
    r->srv->stats.deferred_open++;
    return &r->deferred;
}

/* Ends the agent's hold on a deferred request and delivers its reply. */
static int deferred_finish(http_req *r, unsigned status, struct MHD_Response *resp)
{
    CARA_ASSERT(r->state == REQ_DEFERRED && r->agent_holds);
    r->agent_holds = false;
    if (r->srv == NULL) { /* detached: the connection is gone */
        if (resp != NULL)
            MHD_destroy_response(resp);
        req_free(r);
        return 0;
    }
    r->srv->stats.deferred_open--;
    return deliver(r, status, resp);
}

int cara_http_deferred_json(cara_http_deferred *d, int status, json_t *body)
{
    http_req *r = d->r;
    struct MHD_Response *resp = body ? response_json(r->env, body, false) : NULL;
    json_decref(body);
    return deferred_finish(r, (unsigned)status, resp);
}

int cara_http_deferred_error(cara_http_deferred *d, int status, const char *reason,
                             const char *fmt, ...)
{
    http_req *r = d->r;
    char msg[CARA_MESSAGE_BYTES_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    format_message(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return deferred_finish(r, (unsigned)status, response_error(r->env, reason, msg, false));
}

/* ---- Streams --------------------------------------------------------------- */

/* MHD asks for the next bytes of a streaming reply. With nothing queued the
 * connection is suspended until the agent writes, ends, or the probe finds
 * the client gone (notes §2: the reader suspends and returns 0). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_req *r = cls;
    if (r->peer_gone)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t avail = r->queue.len - r->queue_head;
    if (avail == 0) {
        if (r->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        suspend(r);
        return 0;
    }
    size_t n = avail < max ? avail : max;
    memcpy(buf, r->queue.data + r->queue_head, n);
    r->queue_head += n;
    /* http.h: a raised cap lasts until the queue has drained to the
     * steady-state cap. */
    if (r->queue.len - r->queue_head <= CARA_HTTP_STREAM_QUEUE_BYTES_MAX)
        r->queue_max = CARA_HTTP_STREAM_QUEUE_BYTES_MAX;
    if (r->queue_head == r->queue.len) {
        /* A queue that held a large snapshot gives its storage back. */
        if (r->queue.cap > 2 * CARA_HTTP_STREAM_QUEUE_BYTES_MAX)
            cara_buf_free(&r->queue);
        else
            cara_buf_reset(&r->queue);
        r->queue_head = 0;
    }
    return (ssize_t)n;
}

static struct MHD_Response *stream_response(http_req *r, const char *content_type)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES, stream_read, r, NULL);
    if (resp != NULL &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    return resp;
}

static cara_http_stream *stream_started(http_req *r, cara_http_stream_close_fn on_close,
                                        void *ctx)
{
    r->answered = true;
    r->agent_holds = true;
    r->state = REQ_STREAMING;
    r->on_close = on_close;
    r->on_close_ctx = ctx;
    r->srv->stats.streams_open++;
    return &r->stream;
}

cara_http_stream *cara_http_reply_stream(cara_http_reply *reply, int status,
                                         const char *content_type,
                                         cara_http_stream_close_fn on_close, void *ctx)
{
    http_req *r = reply->r;
    CARA_ASSERT(on_close != NULL);
    if (r->answered || !r->in_handler)
        return NULL;
    struct MHD_Response *resp = stream_response(r, content_type);
    if (resp == NULL)
        return NULL;
    if (MHD_queue_response(r->conn, (unsigned)status, resp) != MHD_YES) {
        MHD_destroy_response(resp);
        return NULL;
    }
    MHD_destroy_response(resp); /* the connection holds its own reference */
    return stream_started(r, on_close, ctx);
}

/* The stream's response waits in `pending` until MHD asks again for the
 * resumed connection (on_resumed_stream); writes queue meanwhile. */
cara_http_stream *cara_http_deferred_stream(cara_http_deferred *d, int status,
                                            const char *content_type,
                                            cara_http_stream_close_fn on_close, void *ctx)
{
    http_req *r = d->r;
    CARA_ASSERT(on_close != NULL && r->state == REQ_DEFERRED && r->agent_holds);
    if (r->srv == NULL) { /* detached: the client is gone */
        deferred_finish(r, 0, NULL);
        return NULL;
    }
    struct MHD_Response *resp = stream_response(r, content_type);
    if (resp == NULL) {
        deferred_finish(r, 500, NULL); /* answers 500 */
        return NULL;
    }
    r->srv->stats.deferred_open--;
    CARA_ASSERT(r->pending == NULL);
    r->pending = resp;
    r->pending_status = (unsigned)status;
    cara_http_stream *st = stream_started(r, on_close, ctx);
    resume(r);
    return st;
}

int cara_http_stream_write(cara_http_stream *st, const void *data, size_t len)
{
    http_req *r = st->r;
    CARA_ASSERT(r->agent_holds && r->state == REQ_STREAMING && !r->ended);
    if (len == 0)
        return 0;
    /* Drop what MHD has already taken, so the cap counts only waiting bytes. */
    if (r->queue_head > 0) {
        memmove(r->queue.data, r->queue.data + r->queue_head, r->queue.len - r->queue_head);
        r->queue.len -= r->queue_head;
        r->queue_head = 0;
    }
    if (r->queue.len > r->queue_max || len > r->queue_max - r->queue.len)
        return CARA_ETOOBIG;
    int rc = cara_buf_append(&r->queue, data, len);
    if (rc != 0)
        return rc;
    resume(r);
    return 0;
}

int cara_http_stream_set_queue_max(cara_http_stream *st, size_t bytes)
{
    http_req *r = st->r;
    CARA_ASSERT(r->agent_holds && r->state == REQ_STREAMING && !r->ended);
    if (bytes < CARA_HTTP_STREAM_QUEUE_BYTES_MAX || bytes > CARA_HTTP_REPLY_BYTES_MAX)
        return CARA_EINVAL;
    r->queue_max = bytes;
    return 0;
}

size_t cara_http_stream_queued(const cara_http_stream *st)
{
    return st->r->queue.len - st->r->queue_head;
}

void cara_http_stream_end(cara_http_stream *st)
{
    http_req *r = st->r;
    CARA_ASSERT(r->agent_holds && r->state == REQ_STREAMING && !r->ended);
    r->ended = true;
    r->agent_holds = false;
    r->srv->stats.streams_open--;
    resume(r);
}

/* libmicrohttpd does not watch a suspended connection's socket, so a
 * watcher that went away would hold its slot until the agent next writes.
 * Every probe interval each suspended connection's socket is peeked: end of
 * file or an error means the client is gone, and the connection is resumed
 * so that MHD closes it (and a stream's on_close runs). A client that only
 * half-closed its side is treated as gone; HTTP clients do not do that
 * while waiting for a reply. */
static bool socket_closed(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return false;
    char byte;
    ssize_t n = recv(ci->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void on_probe(uv_timer_t *t)
{
    cara_http *srv = t->data;
    for (http_req *r = srv->reqs; r != NULL; r = r->next) {
        if (r->suspended && socket_closed(r->conn)) {
            r->peer_gone = true;
            resume(r);
        }
    }
}

/* ---- Listeners ------------------------------------------------------------- */

/* "1.2.3.4:80" or "[::1]:80". Strict: the whole text must be used. */
static int parse_listen(const char *text, struct sockaddr_storage *ss, bool *v6)
{
    char host[CARA_ADDR_BYTES_MAX + 1];
    const char *colon;
    memset(ss, 0, sizeof *ss);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - text - 1) > CARA_ADDR_BYTES_MAX)
            return CARA_EINVAL;
        snprintf(host, sizeof host, "%.*s", (int)(close - text - 1), text + 1);
        colon = close + 1;
        *v6 = true;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || (size_t)(colon - text) > CARA_ADDR_BYTES_MAX)
            return CARA_EINVAL;
        snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
        *v6 = false;
    }
    const char *p = colon + 1;
    unsigned long port = 0;
    if (*p == '\0' || strlen(p) > 5)
        return CARA_EINVAL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return CARA_EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535)
        return CARA_EINVAL;
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : CARA_EINVAL;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : CARA_EINVAL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    cara_http *srv = cls;
    char line[512];
    format_message(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    cara_env_logf(srv->env, CARA_LOG_DEBUG, "http", "libmicrohttpd: %s", line);
}

static int listener_start(cara_http *srv, listener *l, const char *addr,
                          const cara_http_cfg *cfg)
{
    struct sockaddr_storage ss;
    bool v6;
    if (parse_listen(addr, &ss, &v6) != 0)
        return CARA_EINVAL;
    l->srv = srv;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (v6 ? MHD_USE_IPv6 : 0);
    l->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, l,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->connections_max ? cfg->connections_max : CARA_HTTP_CONNECTIONS_MAX),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CARA_HTTP_CONN_MEMORY_BYTES,
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(cfg->idle_timeout_s ? cfg->idle_timeout_s : CARA_HTTP_IDLE_TIMEOUT_S),
        MHD_OPTION_STRICT_FOR_CLIENT, 1,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, l,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_END);
    if (l->mhd == NULL)
        return CARA_EIO;
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *ep = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    CARA_ASSERT(port != NULL && ep != NULL);
    l->port = port->port;
    if (uv_poll_init(srv->loop, &l->poll, ep->epoll_fd) != 0) {
        MHD_stop_daemon(l->mhd);
        l->mhd = NULL;
        return CARA_EIO;
    }
    uv_timer_init(srv->loop, &l->timer);
    l->poll.data = l;
    l->timer.data = l;
    srv->handles_open += 2;
    uv_poll_start(&l->poll, UV_READABLE, on_epoll_readable);
    arm_timer(l);
    return 0;
}

static void handle_closed(cara_http *srv)
{
    srv->handles_open--;
    if (srv->handles_open == 0)
        cara_env_free(srv->env, srv);
}

static void on_listener_handle_closed(uv_handle_t *h) { handle_closed(((listener *)h->data)->srv); }
static void on_probe_closed(uv_handle_t *h) { handle_closed(h->data); }

/* Closes every listener that was started, then the probe timer. */
static void shut_down(cara_http *srv)
{
    srv->closing = true;
    /* MHD requires every suspended connection resumed before it stops. */
    for (http_req *r = srv->reqs; r != NULL; r = r->next) {
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
    }
    for (size_t i = 0; i < srv->listeners_count; i++) {
        listener *l = &srv->listeners[i];
        /* libuv borrows the epoll fd: let go of it before MHD closes it. */
        uv_close((uv_handle_t *)&l->poll, on_listener_handle_closed);
        uv_close((uv_handle_t *)&l->timer, on_listener_handle_closed);
        MHD_stop_daemon(l->mhd);
        l->mhd = NULL;
    }
    CARA_ASSERT(srv->reqs == NULL); /* MHD reported every connection closed */
    uv_close((uv_handle_t *)&srv->probe, on_probe_closed);
}

int cara_http_new(cara_http **out, const cara_http_cfg *cfg)
{
    CARA_ASSERT(cfg->loop != NULL && cfg->env != NULL && cfg->handler != NULL);
    if (cfg->listen_count == 0 || cfg->listen_count > CARA_HTTP_LISTENERS_MAX)
        return CARA_EINVAL;
    cara_http *srv = cara_env_calloc(cfg->env, 1, sizeof *srv);
    if (srv == NULL)
        return CARA_ENOMEM;
    srv->env = cfg->env;
    srv->loop = cfg->loop;
    srv->handler = cfg->handler;
    srv->handler_ctx = cfg->handler_ctx;
    srv->probe_ms = cfg->stream_probe_ms ? cfg->stream_probe_ms : CARA_HTTP_STREAM_PROBE_MS;
    uv_timer_init(srv->loop, &srv->probe);
    srv->probe.data = srv;
    srv->handles_open = 1;
    int rc = 0;
    for (size_t i = 0; i < cfg->listen_count && rc == 0; i++) {
        rc = listener_start(srv, &srv->listeners[i], cfg->listen[i], cfg);
        if (rc == 0)
            srv->listeners_count++;
    }
    if (rc != 0) {
        shut_down(srv); /* frees srv once the loop has closed the handles */
        return rc;
    }
    uv_timer_start(&srv->probe, on_probe, srv->probe_ms, srv->probe_ms);
    *out = srv;
    return 0;
}

void cara_http_free(cara_http *srv)
{
    if (srv == NULL)
        return;
    CARA_ASSERT(!srv->closing);
    shut_down(srv);
}

uint16_t cara_http_port(const cara_http *srv, size_t index)
{
    CARA_ASSERT(index < srv->listeners_count);
    return srv->listeners[index].port;
}

void cara_http_stats_get(const cara_http *srv, cara_http_stats *out) { *out = srv->stats; }
