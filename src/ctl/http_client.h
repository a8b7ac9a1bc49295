/*
 * caravanctl's HTTP client for the agent's API (docs/api.md), on libcurl's
 * blocking easy interface: a CLI does one thing at a time, and blocking
 * keeps every command a straight line.
 *
 * Every request to /v1/... is signed with the operator key (X-Cara-Key,
 * -Node, -Time, -Nonce, -Signature) when a key is loaded, for the peer's
 * node key, which the client learns from the peer's /healthz before the
 * first signed request (see ctl_client_node_key). Reads may go unsigned
 * when no key exists at the default path (the agent allows that on
 * loopback); mutations need the key.
 */
#ifndef CARA_CTL_HTTP_CLIENT_H
#define CARA_CTL_HTTP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "crdt/crdt.h"
#include "ctl/config.h"

typedef struct ctl_client {
    cara_env *env;         /* borrowed */
    ctl_settings cfg;
    void *curl;            /* CURL *, owned */
    bool have_key;
    uint8_t pk[CARA_CRDT_PK_BYTES];
    uint8_t sk[CARA_CRDT_SK_BYTES];
    bool have_node_pk;
    uint8_t node_pk[CARA_CRDT_PK_BYTES]; /* the peer's node key: what we sign for */
} ctl_client;

/* Which key a command needs. */
enum { CTL_KEY_OPTIONAL = 0, CTL_KEY_REQUIRED = 1 };

/* Loads the settings and, as `key_need` says, the operator key. Prints
 * what is wrong; returns 0, CTL_EXIT_FAIL or CTL_EXIT_USAGE. Free with
 * ctl_client_close (also after a failure). */
int ctl_client_open(ctl_client *c, ctl_ctx *ctx, int key_need);
void ctl_client_close(ctl_client *c);

/* Learns the peer's node public key from its GET /healthz, once per
 * client, unless it is known already. The answer is not authenticated,
 * and need not be: a signature is good at the one node it names, whose own
 * nonce cache stops a second use there; a peer that names another node's
 * key gets a request that only that node accepts, once. Prints what is
 * wrong; returns 0 or CTL_EXIT_FAIL. */
int ctl_client_node_key(ctl_client *c);

/* One request and its whole answer. `body` may be NULL (len 0); it is sent
 * as application/json. On 0, *status is the HTTP status and `resp` (a
 * buffer the caller initialised) holds the body. When the peer cannot be
 * reached or does not answer in time, prints "error: cannot reach PEER:
 * WHY" and returns CTL_EXIT_FAIL. */
int ctl_http_call(ctl_client *c, const char *method, const char *target, const char *body,
                  size_t body_len, long *status, cara_buf *resp);

/* Prints an error answer plainly: "error: MESSAGE" from the JSON error
 * ({"error","reason","details"}), each detail on its own line; or the
 * status and the first line of a body that is not JSON. Returns
 * CTL_EXIT_FAIL. */
int ctl_http_report(long status, const cara_buf *resp);

/* Streaming reads (watch, logs). `fn` gets the body as it arrives and
 * returns nonzero to stop reading. */
typedef int (*ctl_stream_fn)(void *ctx, const char *data, size_t len);

enum {
    CTL_STREAM_ENDED = 0,  /* the peer closed the stream */
    CTL_STREAM_STOPPED,    /* fn asked to stop */
    CTL_STREAM_TIMEOUT,    /* timeout_ms passed */
    CTL_STREAM_REFUSED,    /* the answer was not 200: reported already */
    CTL_STREAM_FAILED,     /* could not connect, or the connection broke: reported */
};

/* GETs `target` and feeds the body to fn. timeout_ms 0 means none.
 * Returns one of CTL_STREAM_*; *status_out (may be NULL) gets the status. */
int ctl_http_stream(ctl_client *c, const char *target, int64_t timeout_ms, ctl_stream_fn fn,
                    void *ctx, long *status_out);

/* Parses a JSON answer; NULL (with a message) if it is not JSON. */
json_t *ctl_http_json(const cara_buf *resp);
/* json_loadb, then every string value's terminal control characters (C0
 * but tab and newline, DEL, C1) replaced with '?': what a peer sends is
 * printed on the operator's terminal. `err` may be NULL. */
json_t *ctl_json_load_clean(const char *text, size_t len, json_error_t *err);

#endif
