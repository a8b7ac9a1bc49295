/*
 * The agent's HTTP server: libmicrohttpd in external-epoll mode, driven by
 * a libuv loop (docs/api.md; notes in /work/shared/notes/integration.md §2).
 * Each listen address is one MHD daemon with no threads of its own; libuv
 * watches the daemon's epoll fd, calls MHD_run when it is readable, and a
 * timer calls it again by the deadline MHD_get_timeout gives.
 *
 * The server knows no routes. It reads each request whole (body capped at
 * CARA_HTTP_BODY_BYTES_MAX) and calls one handler, which answers through a
 * reply object in one of three ways:
 *   - at once: cara_http_reply_json / _text / _error;
 *   - later: cara_http_reply_defer returns a handle completed from the loop
 *     (an apply is acknowledged only once it is durable);
 *   - as a stream: cara_http_reply_stream returns a handle that queues
 *     chunks (watch, logs -f) until the agent ends it or the client leaves.
 *
 * Refused before the handler runs: a request with both Content-Length and
 * Transfer-Encoding, or with more than one Content-Length (400 BadRequest;
 * request smuggling, which MHD 0.9.75 lets through), headers over
 * CARA_HTTP_HEADER_BYTES_MAX (431), a body over the cap (413). Requests MHD
 * cannot parse get MHD's own answer. Every refusal closes the connection.
 *
 * Everything runs on the loop's thread; no function here may be called from
 * another thread.
 */
#ifndef CARA_AGENT_HTTP_H
#define CARA_AGENT_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/base.h"

typedef struct cara_http cara_http;
typedef struct cara_http_reply cara_http_reply;
typedef struct cara_http_deferred cara_http_deferred;
typedef struct cara_http_stream cara_http_stream;

/* A request as the handler sees it. Every pointer is borrowed and valid
 * only during the handler call: copy what a deferred or streaming reply
 * needs later. */
typedef struct cara_http_request {
    const char *method;  /* "GET", "PUT", ... */
    const char *path;    /* percent-decoded, without the query */
    const char *target;  /* path and query exactly as sent (signatures cover it) */
    const uint8_t *body; /* never NULL; NUL-terminated, not counted in body_len */
    size_t body_len;
    const char *peer_addr; /* the client's IP address in text form */
    bool peer_loopback;    /* 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104 */
    void *impl_;           /* the server's; do not touch */
} cara_http_request;

/* The value of query argument `key` (decoded), of header `name` (compared
 * without case); NULL when absent. Borrowed like the request. With repeated
 * names, the first one. */
const char *cara_http_query(const cara_http_request *req, const char *key);
const char *cara_http_header(const cara_http_request *req, const char *name);
/* cara_http_query for the request `reply` answers, for code that is handed
 * only the reply; valid (and non-NULL when present) only while the handler
 * runs. */
const char *cara_http_reply_query(const cara_http_reply *reply, const char *key);

/* Called once per request. It must answer through `reply` before it
 * returns: with one of the cara_http_reply_* calls below (exactly one). If
 * it does not, the server answers 500. `reply` is valid during the call. */
typedef void (*cara_http_handler_fn)(void *ctx, const cara_http_request *req,
                                     cara_http_reply *reply);

typedef struct cara_http_cfg {
    uv_loop_t *loop; /* borrowed; must outlive the server */
    cara_env *env;   /* borrowed; must outlive the server and every handle */
    /* "ADDR:PORT" with ADDR an IPv4 text address or a bracketed IPv6 one
     * ("[::1]:7951"); port 0 picks a free port (read it back with
     * cara_http_port). 1..CARA_HTTP_LISTENERS_MAX of them; borrowed. */
    const char *const *listen;
    size_t listen_count;
    cara_http_handler_fn handler;
    void *handler_ctx;               /* borrowed */
    uint32_t idle_timeout_s;         /* 0: CARA_HTTP_IDLE_TIMEOUT_S */
    uint32_t stream_probe_ms;        /* 0: CARA_HTTP_STREAM_PROBE_MS */
    uint32_t connections_max;        /* per listener; 0: CARA_HTTP_CONNECTIONS_MAX */
} cara_http_cfg;

/* Starts listening on every address. Returns 0, CARA_EINVAL (an address
 * that does not parse, no address, too many), CARA_EIO (a bind or listen
 * failed: port taken, address not local), CARA_ENOMEM. On error every
 * daemon started is stopped; run the loop to release the rest. Free with
 * cara_http_free. */
int cara_http_new(cara_http **out, const cara_http_cfg *cfg);

/* Stops listening and closes every connection: suspended ones are resumed
 * first (MHD requires it), open streams get their on_close call, deferred
 * handles stay valid until completed (their completion then only frees
 * them). The memory is released once libuv has closed the handles: run the
 * loop afterwards. Accepts NULL. Never call it from a handler or callback
 * of this server. */
void cara_http_free(cara_http *srv);

/* The port listener `index` (in cfg->listen order) is bound to. */
uint16_t cara_http_port(const cara_http *srv, size_t index);

/* Counters and gauges for /metrics, over all listeners. */
typedef struct cara_http_stats {
    uint64_t requests;          /* handed to the handler */
    uint64_t refused_smuggling; /* CL+TE or duplicate Content-Length */
    uint64_t refused_too_big;   /* 413 and 431 */
    uint64_t streams_dropped;   /* client went away before the agent ended */
    size_t streams_open;
    size_t deferred_open;
} cara_http_stats;
void cara_http_stats_get(const cara_http *srv, cara_http_stats *out);

/* ---- Immediate replies ---------------------------------------------------
 * Each returns 0, or CARA_ENOMEM (the server then answers 500), or
 * CARA_EINVAL if the reply was already given. */

/* Takes `body` (one reference; decref'd even on error) and answers it as
 * application/json. */
int cara_http_reply_json(cara_http_reply *reply, int status, json_t *body);
/* Copies `len` bytes of `bytes` and answers them with `content_type`. */
int cara_http_reply_text(cara_http_reply *reply, int status, const char *content_type,
                         const void *bytes, size_t len);
/* Answers {"error": MESSAGE, "reason": REASON}; MESSAGE is printf-formatted
 * (cut at CARA_MESSAGE_BYTES_MAX). */
int cara_http_reply_error(cara_http_reply *reply, int status, const char *reason,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- Deferred replies ----------------------------------------------------
 * The handler takes a handle and returns; the connection waits (suspended)
 * until the agent completes the handle from the loop. The agent must
 * complete every handle exactly once, even after cara_http_free or a
 * client that went away (then completion just frees it). */

/* Returns the handle (owned by the agent until completed), or NULL on
 * CARA_ENOMEM or if the reply was already given. */
cara_http_deferred *cara_http_reply_defer(cara_http_reply *reply);
/* Completes with JSON (`body` taken, as in cara_http_reply_json) or with an
 * error body; the handle is freed (the same for cara_http_deferred_stream
 * below). Returns 0 or CARA_ENOMEM (the client
 * then gets 500). */
int cara_http_deferred_json(cara_http_deferred *d, int status, json_t *body);
int cara_http_deferred_error(cara_http_deferred *d, int status, const char *reason,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- Streaming replies ---------------------------------------------------
 * Chunked output of unknown length. The agent writes chunks from the loop;
 * each is queued (at most CARA_HTTP_STREAM_QUEUE_BYTES_MAX per stream,
 * unless raised for a while by cara_http_stream_set_queue_max) and
 * sent as the client reads. Exactly one of two things ends a stream:
 *   - the agent calls cara_http_stream_end (the queue is still sent), or
 *   - the server calls on_close: the client went away, a send failed, or
 *     the server is being freed. After on_close returns the handle is
 *     invalid, and the agent must not call stream_end.
 * A client that disconnects while nothing is queued is noticed within
 * about cfg->stream_probe_ms. */
typedef void (*cara_http_stream_close_fn)(void *ctx, cara_http_stream *st);

/* Starts the reply with `status` and `content_type`. Returns the handle
 * (owned by the agent until stream_end or on_close), or NULL on CARA_ENOMEM
 * or if the reply was already given. `on_close` must be set; `ctx` is
 * borrowed. */
cara_http_stream *cara_http_reply_stream(cara_http_reply *reply, int status,
                                         const char *content_type,
                                         cara_http_stream_close_fn on_close, void *ctx);
/* Queues `len` bytes (copied). Returns 0, or CARA_ETOOBIG when the queue
 * cannot take them (nothing is queued: the client is not reading, and the
 * agent should end the stream), or CARA_ENOMEM. */
int cara_http_stream_write(cara_http_stream *st, const void *data, size_t len);
/* Bytes queued and not yet handed to MHD. */
size_t cara_http_stream_queued(const cara_http_stream *st);
/* Lets the queue hold up to `bytes` waiting bytes for a while, for a burst
 * the agent must send whole (a watch's initial snapshot). The rule: the
 * raised cap holds until the client has read enough that at most
 * CARA_HTTP_STREAM_QUEUE_BYTES_MAX bytes wait; from then on that
 * steady-state cap applies again by itself, so a client that stops reading
 * later is refused at the usual cap. Writes while it holds are refused
 * past `bytes`. Setting a cap below what already waits drops nothing: writes
 * are refused until the queue drains. `bytes` runs from
 * CARA_HTTP_STREAM_QUEUE_BYTES_MAX (restores the steady cap at once) to
 * CARA_HTTP_REPLY_BYTES_MAX (the bound on any reply held in memory).
 * Returns 0 or CARA_EINVAL (out of range). */
int cara_http_stream_set_queue_max(cara_http_stream *st, size_t bytes);
/* Sends what is queued, then ends the reply. The handle is invalid after
 * this call; on_close will not run. */
void cara_http_stream_end(cara_http_stream *st);

/* Completes a deferred reply as a stream, for an answer whose status is
 * known only later (a proxy waiting for the upstream's status). Returns
 * the stream handle as cara_http_reply_stream does; NULL when the client
 * is already gone or on CARA_ENOMEM (the client then gets 500). Either
 * way the deferred handle is freed. */
cara_http_stream *cara_http_deferred_stream(cara_http_deferred *d, int status,
                                            const char *content_type,
                                            cara_http_stream_close_fn on_close, void *ctx);

#endif
