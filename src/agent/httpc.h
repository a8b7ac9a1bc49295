/*
 * The agent's asynchronous HTTP client: libcurl's multi interface driven
 * by a libuv loop (the pattern of curl's docs/examples/multi-uv.c).
 * Nothing here blocks the loop. Two users: the Docker engine over its unix
 * socket (docker.h, a thin layer on this), and peer agents over TCP (the
 * logs proxy, docs/api.md).
 *
 * Requests complete through a callback with the HTTP status and the body
 * (bounded). Streams hand each chunk or line to a callback as it arrives
 * and end with the completion callback; the caller decides whether to
 * reconnect.
 */
#ifndef CARA_AGENT_HTTPC_H
#define CARA_AGENT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/base.h"

typedef struct cara_httpc cara_httpc;
typedef struct cara_httpc_req cara_httpc_req;

typedef struct cara_httpc_result {
    int rc;                /* 0, or CARA_EIO (server unreachable), CARA_ETIMEOUT,
                              CARA_ETOOBIG (body over the cap), CARA_EAGAIN (cancelled) */
    long http_status;      /* 0 when rc != 0 */
    const char *body;      /* borrowed for the callback; NUL-terminated */
    size_t body_len;
    /* Borrowed: for an error status, the JSON body's "message" (the
     * engine's errors) or "error" (the agent's); curl's text when rc != 0;
     * else "". */
    const char *error;
} cara_httpc_result;

typedef void (*cara_httpc_done_fn)(void *arg, const cara_httpc_result *res);
/* For streams: one chunk of the body (for line streams, one line without
 * its newline). Borrowed for the call. */
typedef void (*cara_httpc_data_fn)(void *arg, const char *data, size_t len);
/* For streams: the status line and headers are in (a final status, not
 * 1xx), before any data. */
typedef void (*cara_httpc_head_fn)(void *arg, long http_status);

typedef struct cara_httpc_config {
    /* Every request goes over this unix socket (the URL's host is then
     * only a name); NULL: TCP to the URL's host and port. */
    const char *unix_socket;
    uint32_t request_timeout_ms; /* for non-stream requests; 0: 120 s */
} cara_httpc_config;

/* Creates a client on `loop`. `env` is borrowed. Returns 0, CARA_EINVAL
 * (a socket path too long for a sockaddr_un), CARA_ENOMEM. */
int cara_httpc_new(cara_httpc **out, uv_loop_t *loop, cara_env *env,
                   const cara_httpc_config *cfg);
/* Cancels every request (their callbacks run with rc CARA_EAGAIN) and frees
 * the client once libuv has closed its handles: run the loop afterwards.
 * Never from inside one of its callbacks. Accepts NULL. */
void cara_httpc_free(cara_httpc *c);

typedef struct cara_httpc_opts {
    const char *method;
    const char *url;                /* absolute: "http://host:port/path?query" */
    const char *const *headers;     /* "Name: value" lines, copied */
    size_t headers_count;
    const char *body;               /* NUL-terminated, copied; NULL: none */
    bool stream;                    /* hand the body to data_fn as it comes */
    bool lines;                     /* stream: whole lines (NDJSON) rather than chunks */
    /* Stream: an answer with status >= 400 is collected (bounded, like a
     * request's body) and handed to `done` instead of to data_fn, so the
     * caller sees the error's message. */
    bool whole_errors;
    uint32_t connect_timeout_ms;    /* 0: curl's default (300 s) */
    cara_httpc_data_fn data_fn;     /* required for streams */
    cara_httpc_head_fn head_fn;     /* optional, streams only */
    cara_httpc_done_fn done;        /* required */
    void *arg;                      /* borrowed, handed to the callbacks */
} cara_httpc_opts;

/* Starts a request or stream. `done` runs exactly once, later, from the
 * loop. Returns 0 or CARA_ENOMEM/CARA_EINVAL (a URL that is not http://,
 * or the client is closing), in which case no callback runs. A stream has
 * no total timeout. *req_out (may be NULL) lets the caller cancel it; it
 * is valid until `done` runs. */
int cara_httpc_start(cara_httpc *c, const cara_httpc_opts *o, cara_httpc_req **req_out);

/* Ends a request or stream early; its `done` runs with rc CARA_EAGAIN (at
 * once, or on the next loop turn when called from inside a callback of
 * this client). */
void cara_httpc_cancel(cara_httpc *c, cara_httpc_req *req);

/* Number of requests in flight (for metrics and tests). */
size_t cara_httpc_inflight(const cara_httpc *c);

/* Percent-encodes `s` for a query string into `out` (bounded). */
int cara_httpc_urlencode(const char *s, cara_buf *out);

#endif
