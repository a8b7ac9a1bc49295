/*
 * Verification of operator-signed API requests (docs/api.md,
 * "Authentication"): the trusted operator keys, the freshness window and a
 * bounded cache of the nonces already used. The signature format itself is
 * in src/crdt (cara_crdt_reqsig_*), shared with caravanctl.
 *
 * Node keys. An admitted node's key (cara_crdt_node_admitted) may sign
 * one kind of request only: the GET of a project's logs that a node
 * proxies to the node running the project (docs/api.md, "Node-to-node
 * requests"). The caller says whether the request is of that kind
 * (`node_route`); a node key on any other route is refused (403
 * NodeNotAllowed, counted) after its signature verifies, so that a
 * compromised node cannot apply, delete or admit anything, and the count
 * is of genuine node requests. Node requests go through the same node
 * binding, freshness window and nonce cache as operator requests.
 *
 * Each node checks that a request was signed for it: X-Cara-Node names
 * the receiver's public key inside the signed message, so a request
 * captured at one node is refused at every other (403 WrongNode), and each
 * node's own nonce cache is enough to stop replays.
 *
 * Time comes in as arguments, so tests and the simulator drive it; nothing
 * here reads a clock or does I/O. Two clocks, for two jobs:
 *   - `now_wall_ms` (Unix milliseconds) judges freshness: TIME is the
 *     client's wall clock, and only a wall clock can be compared with it;
 *   - `now_mono_ms` (any origin, never goes back) measures how long a nonce
 *     has been remembered.
 *
 * Replay rule. A nonce is remembered from the moment its request is
 * accepted for 2 × the window of monotonic time: a request is fresh while
 * |TIME - now_wall| is at most one window, and the wall clock when the nonce
 * was first seen is within one window of TIME, so while the wall clock runs
 * with the monotonic one, 2 × the window covers every moment at which the
 * same request could still pass the freshness check. The cache is bounded;
 * when it is full, only entries older than 2 × the window are evicted, and
 * if there are none the request is refused (503 ReplayCacheFull) rather
 * than forget a nonce that could still be replayed.
 *
 * Why retention is not measured on the wall clock: after a step back,
 * `now_wall - seen_wall` stays negative until the clock catches up, nothing
 * expires, and once the cache is full every signed request gets 503 for as
 * long as the step was; after a step forward everything expires at once, and
 * a step back again lets the forgotten requests pass. On the monotonic
 * clock retention is exactly 2 × the window whatever the wall clock does.
 * What is left: a request accepted before the wall clock steps back by more
 * than 2 × the window is forgotten on schedule, so it could pass again when
 * the wall clock returns to its TIME (up to the size of the step later).
 * Closing that would mean refusing every request in the replayed stretch of
 * time, which would cost as much as the bug above; a wall clock that steps
 * back by minutes is an incident the operator has to see to anyway.
 */
#ifndef CARA_AGENT_AUTH_H
#define CARA_AGENT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "agent/http.h"
#include "base/base.h"
#include "crdt/crdt.h"

/* Why a request was refused; each reason has its own counter. */
enum cara_auth_reason {
    CARA_AUTH_OK = 0,
    CARA_AUTH_MISSING_SIGNATURE, /* headers absent or malformed */
    CARA_AUTH_UNKNOWN_KEY,       /* not one of the --operator-pubkey keys */
    CARA_AUTH_BAD_SIGNATURE,     /* does not verify over this request */
    CARA_AUTH_WRONG_NODE,        /* signed for another node (403) */
    CARA_AUTH_STALE_REQUEST,     /* TIME more than the window from our clock */
    CARA_AUTH_REPLAYED_NONCE,    /* nonce seen within 2 × the window */
    CARA_AUTH_REPLAY_CACHE_FULL, /* cannot remember one more nonce (503) */
    CARA_AUTH_NODE_NOT_ALLOWED,  /* a node's key on a route only operators may use (403) */
    CARA_AUTH_REASON_COUNT_
};

/* The CamelCase reason of docs/api.md ("MissingSignature", ...); "" for OK. */
const char *cara_auth_reason_name(int reason);
/* The HTTP status to answer with: 401; 403 for a request signed for
 * another node (the operator is known, the request is not for us) and for
 * a node key on an operator's route; 503 for a full cache; 200 for OK. */
int cara_auth_reason_status(int reason);

typedef struct cara_auth_cfg {
    /* Trusted operator public keys; copied by cara_auth_new. */
    const uint8_t (*operator_pks)[CARA_CRDT_PK_BYTES];
    size_t operator_pks_count; /* 1..CARA_CRDT_OPERATORS_MAX */
    int64_t window_ms;         /* 0: CARA_AUTH_WINDOW_MS */
    size_t nonces_max;         /* 0: CARA_AUTH_NONCES_MAX; tests set it small */
    /* Is `pk` an admitted node's key? The agent asks its replicated state
     * (cara_crdt_node_admitted); a pure query, it must not call back into
     * the verifier. NULL: no node key is ever accepted. `ctx` is borrowed. */
    bool (*node_admitted)(void *ctx, const uint8_t pk[CARA_CRDT_PK_BYTES]);
    void *node_admitted_ctx;
} cara_auth_cfg;

typedef struct cara_auth cara_auth;

/* Creates a verifier. `env` is borrowed and must outlive it (allocator, and
 * the rng that keys the nonce table's hash). Returns 0, CARA_EINVAL (no
 * keys, too many, or nonces_max over CARA_AUTH_NONCES_MAX) or CARA_ENOMEM.
 * Free with cara_auth_free. */
int cara_auth_new(cara_auth **out, const cara_auth_cfg *cfg, cara_env *env);
void cara_auth_free(cara_auth *a); /* accepts NULL */

/* One request to check. Header values are NULL when absent. All borrowed. */
typedef struct cara_auth_request {
    const char *method;
    const char *target; /* path and query exactly as sent */
    const uint8_t *body;
    size_t body_len;
    const char *key, *node, *time, *nonce, *sig; /* X-Cara-Key, -Node, -Time, -Nonce, -Signature */
    /* This node's public key: the request must be signed for it. The agent
     * passes its own; it is per request only so that the verifier needs
     * no identity of its own. */
    const uint8_t *receiver_pk;
    /* The route accepts a node's signature (GET /v1/projects/NAME/logs). */
    bool node_route;
    /* Optional: set to whether an admitted node's key (not an operator's)
     * signed the request, once it is accepted. */
    bool *by_node_out;
} cara_auth_request;

/* Checks a request at `now_wall_ms` (freshness) and `now_mono_ms` (nonce
 * retention; must not go back between calls, a reading that does counts as
 * the previous one). On success remembers its nonce and returns 0.
 * Otherwise returns a negative code and sets *reason (never NULL) for the
 * error body: CARA_EPARSE (MissingSignature), CARA_EUNTRUSTED (UnknownKey:
 * neither an operator key nor an admitted node's), CARA_EBADSIG
 * (BadSignature), CARA_EPERM (NodeNotAllowed, then WrongNode), CARA_ESTALE or CARA_EFUTURE
 * (StaleRequest), CARA_EREPLAY (ReplayedNonce), CARA_ELIMIT
 * (ReplayCacheFull), CARA_ENOMEM. The signature is checked before the
 * clock and the cache, so an unsigned request never touches the cache. */
int cara_auth_check(cara_auth *a, const cara_auth_request *req, int64_t now_wall_ms,
                    int64_t now_mono_ms, int *reason);

/* The same, reading the headers, method, raw target and body of an HTTP
 * request as the server hands it to the handler; `receiver_pk` (borrowed)
 * is this node's public key, `node_route` and `by_node_out` (may be NULL)
 * as in cara_auth_request. */
int cara_auth_check_http(cara_auth *a, const cara_http_request *req,
                         const uint8_t receiver_pk[CARA_CRDT_PK_BYTES], bool node_route,
                         int64_t now_wall_ms, int64_t now_mono_ms, int *reason,
                         bool *by_node_out);

typedef struct cara_auth_stats {
    uint64_t accepted;
    uint64_t refused[CARA_AUTH_REASON_COUNT_]; /* index 0 unused */
    size_t nonces_count;                       /* remembered now */
} cara_auth_stats;

void cara_auth_stats_get(const cara_auth *a, cara_auth_stats *out);

#endif
