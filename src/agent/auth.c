/*
 * Operator-signed request verification: trusted keys, freshness, and the
 * bounded nonce cache (the rules are in auth.h).
 *
 * The cache is a ring of entries in the order they were accepted (so the
 * oldest is always at the head and expiry is O(expired)) with an
 * open-addressing index over it, keyed by SipHash of the nonce with a
 * per-process key, so that lookups stay O(1) at any fill.
 */
#include "agent/auth.h"

#include <sodium.h>
#include <string.h>

typedef struct nonce_entry {
    uint8_t nonce[CARA_REQSIG_NONCE_BYTES];
    uint64_t hash;
    int64_t seen_mono_ms; /* retention runs on the monotonic clock (auth.h) */
} nonce_entry;

struct cara_auth {
    cara_env *env;
    uint8_t (*operators)[CARA_CRDT_PK_BYTES];
    size_t operators_count;
    int64_t window_ms;
    bool (*node_admitted)(void *ctx, const uint8_t pk[CARA_CRDT_PK_BYTES]);
    void *node_admitted_ctx;
    /* Ring of remembered nonces, oldest at `head`. */
    nonce_entry *ring;
    size_t ring_cap, head, count;
    /* Index: slot = ring position + 1, 0 = empty; size a power of two at
     * least twice ring_cap, so probe runs stay short. */
    uint32_t *slots;
    size_t slots_mask;
    int64_t last_mono_ms; /* the latest now_mono_ms seen */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    cara_auth_stats stats;
};

static const char *const reason_names[CARA_AUTH_REASON_COUNT_] = {
    [CARA_AUTH_OK] = "",
    [CARA_AUTH_MISSING_SIGNATURE] = "MissingSignature",
    [CARA_AUTH_UNKNOWN_KEY] = "UnknownKey",
    [CARA_AUTH_BAD_SIGNATURE] = "BadSignature",
    [CARA_AUTH_WRONG_NODE] = "WrongNode",
    [CARA_AUTH_STALE_REQUEST] = "StaleRequest",
    [CARA_AUTH_REPLAYED_NONCE] = "ReplayedNonce",
    [CARA_AUTH_REPLAY_CACHE_FULL] = "ReplayCacheFull",
    [CARA_AUTH_NODE_NOT_ALLOWED] = "NodeNotAllowed",
};

const char *cara_auth_reason_name(int reason)
{
    CARA_ASSERT(reason >= 0 && reason < CARA_AUTH_REASON_COUNT_);
    return reason_names[reason];
}

int cara_auth_reason_status(int reason)
{
    if (reason == CARA_AUTH_OK)
        return 200;
    /* The operator is known and the signature good, but the request was
     * meant for another node: authenticated, not authorised here. */
    if (reason == CARA_AUTH_WRONG_NODE || reason == CARA_AUTH_NODE_NOT_ALLOWED)
        return 403;
    /* A full cache is the agent's own limit, not the client's fault: 503
     * tells it to retry later. */
    return reason == CARA_AUTH_REPLAY_CACHE_FULL ? 503 : 401;
}

int cara_auth_new(cara_auth **out, const cara_auth_cfg *cfg, cara_env *env)
{
    size_t cap = cfg->nonces_max ? cfg->nonces_max : CARA_AUTH_NONCES_MAX;
    if (cfg->operator_pks_count == 0 || cfg->operator_pks_count > CARA_CRDT_OPERATORS_MAX ||
        cfg->operator_pks == NULL || cap > CARA_AUTH_NONCES_MAX || cfg->window_ms < 0)
        return CARA_EINVAL;
    if (sodium_init() < 0)
        return CARA_ENOMEM;
    cara_auth *a = cara_env_calloc(env, 1, sizeof *a);
    if (a == NULL)
        return CARA_ENOMEM;
    size_t slots = 1;
    while (slots < 2 * cap)
        slots <<= 1;
    a->env = env;
    a->window_ms = cfg->window_ms ? cfg->window_ms : CARA_AUTH_WINDOW_MS;
    a->node_admitted = cfg->node_admitted;
    a->node_admitted_ctx = cfg->node_admitted_ctx;
    a->ring_cap = cap;
    a->slots_mask = slots - 1;
    a->operators_count = cfg->operator_pks_count;
    a->operators = cara_env_calloc(env, cfg->operator_pks_count, CARA_CRDT_PK_BYTES);
    a->ring = cara_env_calloc(env, cap, sizeof *a->ring);
    a->slots = cara_env_calloc(env, slots, sizeof *a->slots);
    if (a->operators == NULL || a->ring == NULL || a->slots == NULL) {
        cara_auth_free(a);
        return CARA_ENOMEM;
    }
    memcpy(a->operators, cfg->operator_pks, cfg->operator_pks_count * CARA_CRDT_PK_BYTES);
    /* The index key only spreads nonces; the env's rng keeps runs replayable. */
    cara_rng_bytes(&env->rng, a->hash_key, sizeof a->hash_key);
    *out = a;
    return 0;
}

void cara_auth_free(cara_auth *a)
{
    if (a == NULL)
        return;
    cara_env_free(a->env, a->operators);
    cara_env_free(a->env, a->ring);
    cara_env_free(a->env, a->slots);
    cara_env_free(a->env, a);
}

/* ---- The nonce cache ------------------------------------------------------- */

static uint64_t nonce_hash(const cara_auth *a, const uint8_t nonce[CARA_REQSIG_NONCE_BYTES])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, nonce, CARA_REQSIG_NONCE_BYTES, a->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

/* Returns the index slot holding `nonce`, or the empty slot ending its run. */
static size_t slot_find(const cara_auth *a, const uint8_t *nonce, uint64_t hash)
{
    size_t i = (size_t)hash & a->slots_mask;
    for (size_t probes = 0; probes <= a->slots_mask; probes++) {
        uint32_t s = a->slots[i];
        if (s == 0 || memcmp(a->ring[s - 1].nonce, nonce, CARA_REQSIG_NONCE_BYTES) == 0)
            return i;
        i = (i + 1) & a->slots_mask;
    }
    CARA_UNREACHABLE(); /* the index is never more than half full */
}

/* Removes slot i with backward-shift deletion (no tombstones), moving each
 * later entry of the run back if its home position allows it. */
static void slot_delete(cara_auth *a, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & a->slots_mask;
        uint32_t s = a->slots[j];
        if (s == 0)
            break;
        size_t home = (size_t)a->ring[s - 1].hash & a->slots_mask;
        /* Entry j may move to i unless its home lies cyclically in (i, j]. */
        bool home_between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_between) {
            a->slots[i] = s;
            i = j;
        }
    }
    a->slots[i] = 0;
}

/* Forgets every nonce remembered for more than 2 × the window of monotonic
 * time, oldest first. The ring is in acceptance order, and the monotonic
 * clock never goes back, so the head is always the oldest. */
static void expire(cara_auth *a, int64_t now_mono_ms)
{
    while (a->count > 0) {
        nonce_entry *e = &a->ring[a->head];
        if (now_mono_ms - e->seen_mono_ms <= 2 * a->window_ms)
            break;
        size_t i = slot_find(a, e->nonce, e->hash);
        CARA_ASSERT(a->slots[i] == a->head + 1);
        slot_delete(a, i);
        a->head = (a->head + 1) % a->ring_cap;
        a->count--;
    }
    /* Empty: start again at slot 0, so the ring's pages are touched only as
     * deep as it ever filled (the index holds no positions now). */
    if (a->count == 0)
        a->head = 0;
}

static void remember(cara_auth *a, const uint8_t *nonce, uint64_t hash, size_t slot,
                     int64_t now_mono_ms)
{
    CARA_ASSERT(a->count < a->ring_cap && a->slots[slot] == 0);
    size_t pos = (a->head + a->count) % a->ring_cap;
    memcpy(a->ring[pos].nonce, nonce, CARA_REQSIG_NONCE_BYTES);
    a->ring[pos].hash = hash;
    a->ring[pos].seen_mono_ms = now_mono_ms;
    a->slots[slot] = (uint32_t)pos + 1;
    a->count++;
}

/* ---- Checking ---------------------------------------------------------------- */

static int refuse(cara_auth *a, int *reason, int why, int rc)
{
    a->stats.refused[why]++;
    *reason = why;
    return rc;
}

static bool key_trusted(const cara_auth *a, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    for (size_t i = 0; i < a->operators_count; i++)
        if (sodium_memcmp(a->operators[i], pk, CARA_CRDT_PK_BYTES) == 0)
            return true;
    return false;
}

int cara_auth_check(cara_auth *a, const cara_auth_request *req, int64_t now_wall_ms,
                    int64_t now_mono_ms, int *reason)
{
    CARA_ASSERT(reason != NULL && req->method != NULL && req->target != NULL);
    CARA_ASSERT(req->receiver_pk != NULL);
    /* The ring must stay in monotonic order: a clock reading that went back
     * (it must not, but it is the caller's) counts as no time passing. */
    if (now_mono_ms < a->last_mono_ms)
        now_mono_ms = a->last_mono_ms;
    a->last_mono_ms = now_mono_ms;
    cara_reqsig_parsed h;
    if (cara_crdt_reqsig_parse(req->key, req->node, req->time, req->nonce, req->sig, &h) != 0)
        return refuse(a, reason, CARA_AUTH_MISSING_SIGNATURE, CARA_EPARSE);
    /* An operator key first: a key that is both is an operator's. */
    bool by_node = false;
    if (!key_trusted(a, h.pk)) {
        by_node = a->node_admitted != NULL && a->node_admitted(a->node_admitted_ctx, h.pk);
        if (!by_node)
            return refuse(a, reason, CARA_AUTH_UNKNOWN_KEY, CARA_EUNTRUSTED);
    }
    int rc = cara_crdt_reqsig_verify(&h, req->method, req->target, req->body, req->body_len,
                                     a->env);
    if (rc == CARA_ENOMEM) {
        *reason = CARA_AUTH_OK; /* not the client's fault; the caller answers 500 */
        return rc;
    }
    if (rc != 0)
        return refuse(a, reason, CARA_AUTH_BAD_SIGNATURE, CARA_EBADSIG);
    /* After the signature, like WrongNode: counted only when a node
     * really signed it (auth.h, "Node keys"). */
    if (by_node && !req->node_route)
        return refuse(a, reason, CARA_AUTH_NODE_NOT_ALLOWED, CARA_EPERM);
    /* Checked after the signature, so the count is of genuine operator
     * requests sent (or replayed) to the wrong node, not of noise. */
    if (memcmp(h.node_pk, req->receiver_pk, CARA_CRDT_PK_BYTES) != 0)
        return refuse(a, reason, CARA_AUTH_WRONG_NODE, CARA_EPERM);
    if (h.time_wall_ms < now_wall_ms - a->window_ms)
        return refuse(a, reason, CARA_AUTH_STALE_REQUEST, CARA_ESTALE);
    if (h.time_wall_ms > now_wall_ms + a->window_ms)
        return refuse(a, reason, CARA_AUTH_STALE_REQUEST, CARA_EFUTURE);
    expire(a, now_mono_ms);
    uint64_t hash = nonce_hash(a, h.nonce);
    size_t slot = slot_find(a, h.nonce, hash);
    if (a->slots[slot] != 0)
        return refuse(a, reason, CARA_AUTH_REPLAYED_NONCE, CARA_EREPLAY);
    if (a->count == a->ring_cap)
        return refuse(a, reason, CARA_AUTH_REPLAY_CACHE_FULL, CARA_ELIMIT);
    remember(a, h.nonce, hash, slot, now_mono_ms);
    a->stats.accepted++;
    if (req->by_node_out != NULL)
        *req->by_node_out = by_node;
    *reason = CARA_AUTH_OK;
    return 0;
}

int cara_auth_check_http(cara_auth *a, const cara_http_request *req,
                         const uint8_t receiver_pk[CARA_CRDT_PK_BYTES], bool node_route,
                         int64_t now_wall_ms, int64_t now_mono_ms, int *reason,
                         bool *by_node_out)
{
    cara_auth_request ar = {
        .method = req->method,
        .target = req->target,
        .body = req->body,
        .body_len = req->body_len,
        .key = cara_http_header(req, "X-Cara-Key"),
        .node = cara_http_header(req, "X-Cara-Node"),
        .time = cara_http_header(req, "X-Cara-Time"),
        .nonce = cara_http_header(req, "X-Cara-Nonce"),
        .sig = cara_http_header(req, "X-Cara-Signature"),
        .receiver_pk = receiver_pk,
        .node_route = node_route,
        .by_node_out = by_node_out,
    };
    return cara_auth_check(a, &ar, now_wall_ms, now_mono_ms, reason);
}

void cara_auth_stats_get(const cara_auth *a, cara_auth_stats *out)
{
    *out = a->stats;
    out->nonces_count = a->count;
}
