/*
 * An asynchronous Docker Engine API client: the agent's HTTP client
 * (httpc.h, libcurl multi on the libuv loop) over the engine's unix
 * socket, with the engine's API version in every path. Nothing here
 * blocks the loop.
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

#include "agent/httpc.h"
#include "base/base.h"

/* The API version spoken: Docker Engine 20.10 (Debian 12) speaks 1.41. */
#define CARA_DOCKER_API_VERSION "v1.41"

typedef struct cara_docker cara_docker;
/* The engine's requests and answers are the HTTP client's (httpc.h):
 * result.error is the engine's "message" for an error status. */
typedef cara_httpc_req cara_docker_req;
typedef cara_httpc_result cara_docker_result;
typedef cara_httpc_done_fn cara_docker_done_fn;
typedef cara_httpc_data_fn cara_docker_data_fn;

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
