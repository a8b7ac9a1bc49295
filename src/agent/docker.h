/*
 * An asynchronous Docker Engine API client: libcurl's multi interface over
 * the engine's unix socket, driven by a libuv loop (the pattern of curl's
 * docs/examples/multi-uv.c). Nothing here blocks the loop.
 *
 * Requests complete through a callback with the HTTP status and the body
 * (bounded). Streams (/events, pull progress, logs) hand each chunk or line
 * to a callback as it arrives and end with the completion callback; the
 * caller decides whether to reconnect (the engine drops slow subscribers,
 * so a stream's end always calls for a resync).
 */
#ifndef CARA_AGENT_DOCKER_H
#define CARA_AGENT_DOCKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "base/base.h"

/* The API version spoken: Docker Engine 20.10 (Debian 12) speaks 1.41. */
#define CARA_DOCKER_API_VERSION "v1.41"

typedef struct cara_docker cara_docker;
typedef struct cara_docker_req cara_docker_req;

typedef struct cara_docker_result {
    int rc;                /* 0, or CARA_EIO (engine unreachable), CARA_ETIMEOUT,
                              CARA_ETOOBIG (body over the cap), CARA_EAGAIN (cancelled) */
    long http_status;      /* 0 when rc != 0 */
    const char *body;      /* borrowed for the callback; NUL-terminated */
    size_t body_len;
    const char *error;     /* borrowed: the engine's "message", or curl's text, or "" */
} cara_docker_result;

typedef void (*cara_docker_done_fn)(void *arg, const cara_docker_result *res);
/* For streams: one chunk of the body (for line streams, one line without its
 * newline). Borrowed for the call. */
typedef void (*cara_docker_data_fn)(void *arg, const char *data, size_t len);

typedef struct cara_docker_config {
    const char *host;           /* "unix:///var/run/docker.sock" */
    uint32_t request_timeout_ms; /* for non-stream requests; 0: 120 s */
} cara_docker_config;

/* Creates a client on `loop`. `env` is borrowed. Returns 0, CARA_EINVAL
 * (host not a unix:// URL or path too long for a socket), CARA_ENOMEM. */
int cara_docker_new(cara_docker **out, uv_loop_t *loop, cara_env *env,
                    const cara_docker_config *cfg);
/* Cancels every request (their callbacks run with rc CARA_EAGAIN) and frees
 * the client once libuv has closed its handles: run the loop afterwards. */
void cara_docker_free(cara_docker *d);

/* Starts METHOD PATH (path below /v1.41, with its query string) with an
 * optional JSON body (borrowed; serialised at once). `done` runs exactly
 * once, later, from the loop. Returns 0 or CARA_ENOMEM/CARA_EINVAL, in which
 * case `done` never runs. */
int cara_docker_request(cara_docker *d, const char *method, const char *path,
                        const json_t *body, cara_docker_done_fn done, void *arg);

/* Starts a stream. With `lines`, data_fn receives whole lines (NDJSON);
 * otherwise raw chunks. No timeout applies. *req_out (may be NULL) lets the
 * caller cancel it; it is valid until `done` runs. */
int cara_docker_stream(cara_docker *d, const char *method, const char *path, bool lines,
                       cara_docker_data_fn data_fn, cara_docker_done_fn done, void *arg,
                       cara_docker_req **req_out);
/* Ends a request or stream early; its `done` runs with rc CARA_EAGAIN. */
void cara_docker_cancel(cara_docker *d, cara_docker_req *req);

/* Number of requests in flight (for metrics and tests). */
size_t cara_docker_inflight(const cara_docker *d);

/* Percent-encodes `s` for a query string into `out` (bounded). */
int cara_docker_urlencode(const char *s, cara_buf *out);

#endif
