/*
 * Signed replicated state (DESIGN.md §4): records, keys, the hybrid logical
 * clock, merge, tombstone collection and anti-entropy digests. Sans-IO: no
 * file, socket, clock or global RNG is touched here; time comes in as
 * `now_wall_ms` arguments. libsodium is used for Ed25519 and BLAKE2b only
 * (pure computation). docs/crdt.md gives the formats and the reasoning.
 *
 * A record is the canonical msgpack envelope
 *     [ body, sig ]
 *     body = [ "crdt", 1, kind, key, generation, hlc, author, value ]
 * and `sig` (bin 64) is Ed25519 by `author` (bin 32) over the exact bytes of
 * `body`. Records are relayed unchanged and re-verified by every replica.
 */
#ifndef CARA_CRDT_H
#define CARA_CRDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---- Keys ---------------------------------------------------------------- */

#define CARA_CRDT_PK_BYTES 32
#define CARA_CRDT_SK_BYTES 64
#define CARA_CRDT_SEED_BYTES 32
#define CARA_CRDT_SIG_BYTES 64
/* A key id is the first 8 bytes of BLAKE2b-256(pk) in hex, plus a NUL. */
#define CARA_CRDT_KEY_ID_BYTES 17
/* A record's slot identity (see cara_crdt_record_id). */
#define CARA_CRDT_ID_BYTES 16

/* Derives an Ed25519 key pair from a 32-byte seed (the seed itself comes
 * from the OS at the edge: src/os/keyfile.c). Returns 0 or CARA_EINVAL. */
int cara_crdt_key_from_seed(const uint8_t seed[CARA_CRDT_SEED_BYTES],
                            uint8_t pk[CARA_CRDT_PK_BYTES], uint8_t sk[CARA_CRDT_SK_BYTES]);
/* Writes the short, printable id of `pk` into out[CARA_CRDT_KEY_ID_BYTES]. */
void cara_crdt_key_id(const uint8_t pk[CARA_CRDT_PK_BYTES], char out[CARA_CRDT_KEY_ID_BYTES]);

/* ---- Records ------------------------------------------------------------- */

enum cara_crdt_kind {
    CARA_CRDT_PROJECT = 1,   /* value: project spec; operator-signed */
    CARA_CRDT_TOMBSTONE = 2, /* value: empty; operator-signed; deletes a project */
    CARA_CRDT_STATUS = 3,    /* value: project status; by the node running it (owner) */
    CARA_CRDT_NODE = 4,      /* value: node record; signed by that very node */
    CARA_CRDT_ADMISSION = 5, /* value: cara_crdt_admission_encode(); operator-signed */
    CARA_CRDT_SETTINGS = 6,  /* value: cluster settings; operator-signed; key "cluster" */
    CARA_CRDT_PLACEMENT = 7, /* value: project status (phase, nodeRef, why); any admitted
                              * node, per author; readers take the scheduler's (docs/crdt.md) */
    CARA_CRDT_JOIN = 8,      /* value: cara_crdt_join_record_sign(); signed by the joining
                              * node itself, per author; key = node name (docs/joining.md) */
    CARA_CRDT_NODECTL = 9,   /* value: cara_node_control_encode(); operator-signed; key =
                              * node name: cordon and drain (docs/crdt.md, "Node controls") */
    CARA_CRDT_KIND_END_
};

/* A decoded record. Every pointer borrows from the bytes it was decoded from. */
typedef struct cara_crdt_record {
    int kind;
    const uint8_t *key;
    size_t key_bytes;
    uint64_t generation; /* chosen by the author; only ever increases per key */
    uint64_t hlc;        /* hybrid logical clock stamp (see below) */
    const uint8_t *author; /* CARA_CRDT_PK_BYTES */
    const uint8_t *value;
    size_t value_bytes;
    const uint8_t *body; /* the signed bytes */
    size_t body_bytes;
    const uint8_t *sig;  /* CARA_CRDT_SIG_BYTES */
} cara_crdt_record;

/* Encodes and signs a record; appends the envelope to `out`. `rec->body`
 * and `rec->sig` are ignored, `rec->author` must be the public half of
 * `sk`. Returns 0, CARA_EINVAL (bad kind, key or author), CARA_ETOOBIG or
 * CARA_ENOMEM. */
int cara_crdt_record_sign(const cara_crdt_record *rec, const uint8_t sk[CARA_CRDT_SK_BYTES],
                          cara_buf *out);

/* Decodes one envelope occupying exactly bytes[0..len). Checks framing,
 * types, bounds and canonical form, NOT the signature. Returns 0,
 * CARA_ETOOBIG (over CARA_CRDT_RECORD_BYTES_MAX or a field cap), CARA_EPARSE
 * (truncated, malformed, wrong magic, trailing bytes), CARA_EUNSUPPORTED
 * (other version) or CARA_ENONCANON. */
int cara_crdt_record_decode(const uint8_t *bytes, size_t len, cara_crdt_record *out);

/* Verifies the signature of a decoded record: 0 or CARA_EBADSIG. */
int cara_crdt_record_verify(const cara_crdt_record *rec);

/* The value of an ADMISSION record: the node's public key and whether it
 * is admitted (false revokes). Encode appends; decode returns 0,
 * CARA_EPARSE or CARA_ENONCANON. */
int cara_crdt_admission_encode(const uint8_t node_pk[CARA_CRDT_PK_BYTES], bool admitted,
                               cara_buf *out);
int cara_crdt_admission_decode(const uint8_t *bytes, size_t len,
                               uint8_t node_pk[CARA_CRDT_PK_BYTES], bool *admitted);

/* ---- Hybrid logical clock -------------------------------------------------
 * 48 bits of Unix milliseconds, then a 16-bit counter (Kulkarni et al.,
 * "Logical Physical Clocks", 2014). Comparing two stamps as integers orders
 * them. */
#define CARA_CRDT_HLC_COUNTER_BITS 16
static inline int64_t cara_crdt_hlc_wall_ms(uint64_t hlc)
{
    return (int64_t)(hlc >> CARA_CRDT_HLC_COUNTER_BITS);
}

/* ---- The replicated state ------------------------------------------------ */

typedef struct cara_crdt cara_crdt;

/* Checks a record's value for its kind and key (the agent plugs in the
 * spec decoders, and refuses a value that names another object than its
 * key: a node record signed for "n1" must describe n1). Returns 0 to accept
 * or a negative CARA_E* to refuse. */
typedef int (*cara_crdt_validate_fn)(void *ctx, int kind, const uint8_t *key, size_t key_bytes,
                                     const uint8_t *value, size_t value_bytes);

typedef struct cara_crdt_cfg {
    /* Trusted operator public keys; copied by cara_crdt_new. */
    const uint8_t (*operator_pks)[CARA_CRDT_PK_BYTES];
    size_t operator_pks_count; /* 1..CARA_CRDT_OPERATORS_MAX */
    int64_t skew_ms_max;           /* 0: CARA_CRDT_SKEW_MS_DEFAULT */
    int64_t tombstone_horizon_ms;  /* 0: CARA_CRDT_TOMBSTONE_HORIZON_MS_DEFAULT */
    int64_t floor_horizon_ms;      /* 0: CARA_CRDT_FLOOR_HORIZON_MS_DEFAULT; > tombstone horizon */
    size_t records_max;            /* 0: CARA_CRDT_RECORDS_MAX */
    size_t floors_max;             /* 0: CARA_CRDT_FLOORS_MAX */
    size_t nodes_max;              /* 0: CARA_CRDT_NODES_MAX (admitted keys) */
    cara_crdt_validate_fn validate_value; /* optional */
    void *validate_ctx;                   /* borrowed */
} cara_crdt_cfg;

/* Why a record was refused; each has its own counter. */
enum cara_crdt_reason {
    CARA_CRDT_R_MALFORMED = 0, /* CARA_EPARSE / CARA_EUNSUPPORTED */
    CARA_CRDT_R_OVERSIZED,     /* CARA_ETOOBIG */
    CARA_CRDT_R_NONCANON,      /* CARA_ENONCANON */
    CARA_CRDT_R_BADSIG,        /* CARA_EBADSIG */
    CARA_CRDT_R_UNTRUSTED,     /* CARA_EUNTRUSTED: author is no operator or admitted node */
    CARA_CRDT_R_WRONG_AUTHOR,  /* CARA_EWRONGAUTHOR: e.g. node record signed by another node */
    CARA_CRDT_R_NOT_ADMITTED,  /* CARA_ENOTADMITTED: node record of an unadmitted node */
    CARA_CRDT_R_STALE,         /* CARA_ESTALE: loses to the record held */
    CARA_CRDT_R_COLLECTED,     /* CARA_ECOLLECTED: at or below a collected tombstone */
    CARA_CRDT_R_FUTURE,        /* CARA_EFUTURE: HLC beyond now + skew */
    CARA_CRDT_R_INVALID_VALUE, /* the validator refused the value (CARA_ESCHEMA) */
    CARA_CRDT_R_FULL,          /* CARA_ELIMIT: records_max reached */
    CARA_CRDT_R_EXPIRED,       /* CARA_EEXPIRED: a join record stamped after its token expired */
    CARA_CRDT_R_COUNT_
};
const char *cara_crdt_reason_name(int reason);

typedef struct cara_crdt_stats {
    uint64_t applied;   /* records that changed the state */
    uint64_t duplicates; /* records already held, byte for byte */
    uint64_t rejected[CARA_CRDT_R_COUNT_];
    uint64_t collected; /* tombstones turned into floors */
    uint64_t purged;    /* node-signed records dropped on revocation */
    uint64_t leftovers_collected; /* status/placement of deleted or unknown projects */
    uint64_t floors_expired;      /* floors dropped past the floor horizon */
    uint64_t floors_evicted;      /* floors dropped early because floors_max was reached */
    uint64_t held;      /* records held until their author's admission arrives */
    uint64_t held_dropped; /* held records evicted (full) or refused when retried */
    uint64_t sync_deferred; /* digest items left for a later exchange (budget) */
    uint64_t sync_work_capped; /* digest messages cut short by the work bound */
    size_t admissions_over_cap; /* admitting records not in effect: nodes_max reached */
    size_t joins_used_up; /* join records not in effect: their token admits enough nodes */
    size_t records_count;
    size_t floors_count;
    size_t held_count;
} cara_crdt_stats;

/* Creates an empty state. `env` is borrowed and must outlive it. Returns
 * 0, CARA_EINVAL (bad cfg) or CARA_ENOMEM; free with cara_crdt_free. */
int cara_crdt_new(cara_crdt **out, const cara_crdt_cfg *cfg, cara_env *env);
void cara_crdt_free(cara_crdt *s); /* accepts NULL */

/* Result of a successful cara_crdt_apply. */
enum { CARA_CRDT_APPLIED = 1, CARA_CRDT_DUPLICATE = 2 };

/* Merges one record envelope (untrusted bytes, copied when kept).
 * Returns 0 and sets *result (may be NULL) to APPLIED or DUPLICATE, or a
 * negative code listed with enum cara_crdt_reason; a refusal changes
 * nothing but its counter, except that a node record, status or placement
 * refused only for want of its author's admission (CARA_ENOTADMITTED,
 * CARA_EUNTRUSTED) is also held, when its signature is good, and applied
 * when an admission arrives (stats.held; docs/crdt.md). */
int cara_crdt_apply(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms,
                    int *result);

/* Like cara_crdt_apply, for a record this replica signed itself (its HLC
 * comes from cara_crdt_hlc_next, which runs ahead of a wall clock that was
 * set back) or accepted before and reloads from its own store (the check
 * was made on arrival, and the clock may be wrong at boot). The HLC skew
 * check is skipped: a node must not refuse its own records. Everything
 * else, signature included, is checked. */
int cara_crdt_apply_local(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms,
                           int *result);

/* Applies a batch of concatenated envelopes: operator-signed kinds first,
 * so that admissions precede the node records they allow. A refused record
 * is counted and skipped. Returns 0, or CARA_EPARSE if the framing itself
 * is broken (records before the break are still applied). *applied_out
 * (may be NULL) gets the number of records that changed the state. */
int cara_crdt_apply_batch(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms,
                          size_t *applied_out);

/* The next HLC stamp for a record this replica authors at `now_wall_ms`;
 * always greater than every stamp issued or accepted before. */
uint64_t cara_crdt_hlc_next(cara_crdt *s, int64_t now_wall_ms);

/* Looks up the record held for (kind, key); TOMBSTONE and PROJECT share one
 * slot. STATUS and PLACEMENT are kept per author (one writer per record):
 * use cara_crdt_get_by for them (cara_crdt_get answers CARA_ENOENT).
 * Returns 0 and fills *out with pointers owned by `s`, valid until the
 * next call that changes it; or CARA_ENOENT. */
int cara_crdt_get(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                  cara_crdt_record *out);
/* The envelope of the record cara_crdt_get (author NULL) or
 * cara_crdt_get_by would return: bytes owned by `s`, valid until the next
 * call that changes it. 0 or CARA_ENOENT. */
int cara_crdt_get_envelope(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                           const uint8_t *author, const uint8_t **bytes, size_t *len);
/* The record of `kind` for `key` written by `author` (any kind; for kinds
 * that are not kept per author the record must also be by `author`). */
int cara_crdt_get_by(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                     const uint8_t author[CARA_CRDT_PK_BYTES], cara_crdt_record *out);
/* Does `kind` keep one record per (project key, author) rather than per
 * key? (STATUS and PLACEMENT. JOIN records are kept per (name, author)
 * too, but name no project: read them with cara_crdt_get_by.) */
bool cara_crdt_kind_per_author(int kind);
/* Calls fn for each record of `kind` (STATUS or PLACEMENT) for `key`, one
 * per author, in the order of the admitted keys; stops early on non-zero
 * and returns it. Costs one lookup per admitted node. */
int cara_crdt_foreach_author(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                             int (*fn)(void *ctx, const cara_crdt_record *r), void *ctx);
/* The slot identity of a record: BLAKE2b-128 over (slot, key[, author]).
 * It names a record's row in a store. */
void cara_crdt_record_id(const cara_crdt_record *r, uint8_t id[CARA_CRDT_ID_BYTES]);
/* What this replica holds in the slot named `id` (cara_crdt_record_id):
 * the live record's envelope and HLC, or, for a project slot whose
 * record was collected, its floor's tombstone (*floor true). The
 * envelope is owned by `s`, valid until the next call that changes it.
 * 0 or CARA_ENOENT. Gossip's lazy push compares an advertised (id, HLC)
 * with it and answers pulls from it (docs/gossip.md, "Lazy push"). */
int cara_crdt_get_by_id(const cara_crdt *s, const uint8_t id[CARA_CRDT_ID_BYTES],
                        const uint8_t **bytes, size_t *len, uint64_t *hlc, bool *floor);

/* Calls fn for every live record in canonical order (by key hash); stops
 * early and returns fn's value when it is non-zero. */
int cara_crdt_foreach(const cara_crdt *s, int (*fn)(void *ctx, const cara_crdt_record *r,
                                                    const uint8_t *bytes, size_t len),
                      void *ctx);

/* BLAKE2b-256 over every live record in canonical order: replicas that
 * hold the same records have the same hash. */
void cara_crdt_state_hash(const cara_crdt *s, uint8_t out[32]);

/* Bytes of all live envelopes (what a full-state transfer would send). */
size_t cara_crdt_state_bytes(const cara_crdt *s);

void cara_crdt_stats_get(const cara_crdt *s, cara_crdt_stats *out);

/* Is `pk` a currently admitted node key (by an operator's admission or a
 * join token)? */
bool cara_crdt_node_admitted(const cara_crdt *s, const uint8_t pk[CARA_CRDT_PK_BYTES]);
/* How many more distinct node keys may be admitted (nodes_max minus the
 * admitted). Past the cap an admission is kept but not in effect; the
 * agent's API refuses it up front (docs/crdt.md). */
size_t cara_crdt_admission_room(const cara_crdt *s);
/* The name whose admission admits `pk`: copies at most name_bytes_max - 1
 * bytes and a NUL into name; 0 or CARA_ENOENT. */
int cara_crdt_node_name_of(const cara_crdt *s, const uint8_t pk[CARA_CRDT_PK_BYTES], char *name,
                           size_t name_bytes_max);
/* The key admitted for node `name`: 0 or CARA_ENOENT. */
int cara_crdt_node_key_of(const cara_crdt *s, const char *name, uint8_t pk[CARA_CRDT_PK_BYTES]);
/* Changes whenever the admitted set is rebuilt: a driver that mirrors the
 * admitted keys (the gossip seal) compares it to know when to look again. */
uint64_t cara_crdt_admissions_version(const cara_crdt *s);
size_t cara_crdt_admitted_count(const cara_crdt *s);
/* The i-th admitted key (0 <= i < count, in admission order) and the name
 * it was admitted under (borrowed until the next change of the state; not
 * NUL-terminated). 0 or CARA_ENOENT. */
int cara_crdt_admitted_at(const cara_crdt *s, size_t i, uint8_t pk[CARA_CRDT_PK_BYTES],
                          const char **name, size_t *name_bytes);

/* ---- Change feed ------------------------------------------------------------
 * Every change of the state (a record installed or removed, a floor made or
 * dropped) is logged, so the driver can mirror the state into its durable
 * store in one transaction per batch, and so that what the core removes by
 * itself (revocation, collection) is removed from disk too. PUT and
 * FLOOR_PUT carry the envelope (a record; a floor's signed tombstone),
 * borrowed from `s` until the next call that changes it. RESET means the
 * log overflowed: the driver rewrites its store from cara_crdt_foreach and
 * cara_crdt_floor_foreach. A DEL may name a row the driver never received
 * (put and removed between two polls). A floor's id is its project slot's,
 * the same as the spec's it replaced: keep floors in a table of their own. */
enum cara_crdt_change_type {
    CARA_CRDT_CHANGE_PUT = 1,
    CARA_CRDT_CHANGE_DEL = 2,
    CARA_CRDT_CHANGE_FLOOR_PUT = 3,
    CARA_CRDT_CHANGE_FLOOR_DEL = 4,
    CARA_CRDT_CHANGE_RESET = 5,
};
typedef struct cara_crdt_change {
    int type;
    uint8_t id[CARA_CRDT_ID_BYTES]; /* the slot identity (cara_crdt_record_id) */
    const uint8_t *bytes;           /* PUT, FLOOR_PUT */
    size_t len;
} cara_crdt_change;
/* Takes the oldest change not yet taken. Returns 1 and fills *out, or 0
 * when there is none. */
int cara_crdt_poll_change(cara_crdt *s, cara_crdt_change *out);

/* ---- Collection -------------------------------------------------------------
 * docs/crdt.md, "Deletes and collection". A tombstone whose HLC wall time
 * is older than now - tombstone horizon becomes a *floor*: its signed
 * envelope is kept outside the record table (not in digests or the state
 * hash), no PROJECT, TOMBSTONE, STATUS or PLACEMENT record of that project
 * at or below its generation is accepted again (CARA_ECOLLECTED), and the
 * project's status and placement records go with it. Floors travel: a peer
 * that offers a record below a floor is sent the floor's tombstone in the
 * anti-entropy delta. A floor is dropped after the floor horizon, or early
 * (oldest first, counted) when floors_max is reached. Status and placement
 * records of a project this replica has no record of, older than the
 * tombstone horizon, are collected too. */
/* Runs collection; returns the number of records and floors removed. */
size_t cara_crdt_gc(cara_crdt *s, int64_t now_wall_ms);
/* Restores a floor from its tombstone envelope (from the store on start):
 * verified like a record. 0, or a refusal code of cara_crdt_apply. */
int cara_crdt_floor_restore(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms);
/* The generation below which project `key` is collected; 0 and false when
 * there is no floor. */
bool cara_crdt_floor_get(const cara_crdt *s, const uint8_t *key, size_t key_bytes,
                         uint64_t *generation);
/* Calls fn for every floor's tombstone envelope; stops early on non-zero. */
int cara_crdt_floor_foreach(const cara_crdt *s,
                            int (*fn)(void *ctx, const cara_crdt_record *tombstone,
                                      const uint8_t *bytes, size_t len),
                            void *ctx);

/* ---- Anti-entropy ---------------------------------------------------------
 * A Merkle-style exchange over a 16-ary trie of 64-bit key hashes (see
 * docs/crdt.md). Each side sends fingerprints of prefixes; where they differ,
 * it descends, and where a prefix holds few records, it lists (key hash,
 * version) entries, from which the peer computes what it lacks. Messages
 * grow with the number of differing records times the trie depth, not with
 * the state.
 *
 * cara_crdt_sync_start writes the first message (the root). Each message
 * received is passed to cara_crdt_sync_recv, which appends the reply to
 * `reply_out` (nothing when there is nothing left to say) and appends to
 * `delta_out` the records the peer lacks (concatenated envelopes, for
 * cara_crdt_apply_batch on the peer), and the floors' tombstones for
 * records the peer offers below a floor. Work is budgeted: the reply never
 * exceeds min(CARA_CRDT_SYNC_MSG_BYTES_MAX, room left in reply_out) and the
 * delta never exceeds the room left in delta_out; digest items that do not
 * fit are left out (counted as sync_deferred) and are taken up by the next
 * exchange, which starts its work at another item, so every exchange makes
 * progress whatever the divergence. Both return 0, CARA_EPARSE /
 * CARA_ETOOBIG (malformed peer message), CARA_EUNSUPPORTED (a message of
 * another sync version) or CARA_ENOMEM. */
int cara_crdt_sync_start(cara_crdt *s, cara_buf *msg_out);
int cara_crdt_sync_recv(cara_crdt *s, const uint8_t *msg, size_t len, cara_buf *reply_out,
                        cara_buf *delta_out);

/* ---- Request signatures ---------------------------------------------------
 * An operator signs each HTTP API request (docs/api.md, "Authentication").
 * The signed message is the text
 *     cara-request-v2\n{NODE}\n{METHOD}\n{TARGET}\n{TIME}\n{NONCE}\n{BODY_HASH}
 * with NODE the receiving node's Ed25519 public key in lowercase hex (so a
 * request captured at one node cannot be replayed at another: each node
 * keeps its own nonce cache, and only the named node accepts it), TARGET
 * the request target exactly as sent, TIME and NONCE the header values,
 * BODY_HASH the lowercase hex BLAKE2b-256 of the body. The prefix keeps
 * these signatures apart from record signatures by the same key (record
 * bodies begin with the msgpack string "crdt") and from the v1 message,
 * which named no node. Pure functions: the clock and the nonce's
 * randomness come from the caller; the agent checks the node, freshness
 * and replay (src/agent/auth.c), caravanctl signs. */

#define CARA_REQSIG_PREFIX "cara-request-v2"
#define CARA_REQSIG_NONCE_BYTES 16
/* Header value sizes in text, each with room for a NUL. */
#define CARA_REQSIG_KEY_HEX_BYTES (2 * CARA_CRDT_PK_BYTES + 1)
#define CARA_REQSIG_NONCE_HEX_BYTES (2 * CARA_REQSIG_NONCE_BYTES + 1)
#define CARA_REQSIG_SIG_HEX_BYTES (2 * CARA_CRDT_SIG_BYTES + 1)
/* Unix milliseconds in decimal: 19 digits hold any int64 >= 0. */
#define CARA_REQSIG_TIME_TEXT_BYTES 20

/* The five header values of a signed request, NUL-terminated text. */
typedef struct cara_reqsig_headers {
    char key[CARA_REQSIG_KEY_HEX_BYTES];     /* X-Cara-Key */
    char node[CARA_REQSIG_KEY_HEX_BYTES];    /* X-Cara-Node */
    char time[CARA_REQSIG_TIME_TEXT_BYTES];  /* X-Cara-Time */
    char nonce[CARA_REQSIG_NONCE_HEX_BYTES]; /* X-Cara-Nonce */
    char sig[CARA_REQSIG_SIG_HEX_BYTES];     /* X-Cara-Signature */
} cara_reqsig_headers;

/* The header values decoded: what a verifier needs to decide. */
typedef struct cara_reqsig_parsed {
    uint8_t pk[CARA_CRDT_PK_BYTES];      /* the operator's key */
    uint8_t node_pk[CARA_CRDT_PK_BYTES]; /* the node it was signed for */
    int64_t time_wall_ms;
    uint8_t nonce[CARA_REQSIG_NONCE_BYTES];
    uint8_t sig[CARA_CRDT_SIG_BYTES];
    cara_reqsig_headers text; /* the values exactly as received */
} cara_reqsig_parsed;

/* Appends the signed message for one request to `out`. Every text is
 * NUL-terminated; `method` and `target` must hold no '\n' (HTTP forbids
 * it; the check keeps the message unambiguous); `node_hex` is the
 * receiving node's key as 64 hex digits; `body` may be NULL when
 * body_len is 0. Returns 0, CARA_EINVAL (a newline, an empty field, a
 * node that is not 64 hex digits, a target over
 * CARA_HTTP_TARGET_BYTES_MAX), CARA_ETOOBIG or CARA_ENOMEM. */
int cara_crdt_reqsig_message(const char *node_hex, const char *method, const char *target,
                             const char *time_text, const char *nonce_hex, const uint8_t *body,
                             size_t body_len, cara_buf *out);

/* Signs a request to the node whose public key is `node_pk` with `sk` and
 * fills the five header values. `time_wall_ms` is the caller's wall clock
 * (>= 0) and `nonce` fresh random bytes (from libsodium at the edge).
 * `env` (borrowed) supplies the allocator for the message. Returns 0 or an
 * error of cara_crdt_reqsig_message. */
int cara_crdt_reqsig_sign(const uint8_t sk[CARA_CRDT_SK_BYTES],
                          const uint8_t node_pk[CARA_CRDT_PK_BYTES], const char *method,
                          const char *target, int64_t time_wall_ms,
                          const uint8_t nonce[CARA_REQSIG_NONCE_BYTES], const uint8_t *body,
                          size_t body_len, cara_env *env, cara_reqsig_headers *out);

/* Decodes the five header values (each may be NULL: missing). Accepts only
 * the exact forms of docs/api.md: hex of the right length, and TIME as
 * decimal digits without sign or leading zeros. Returns 0 or CARA_EPARSE,
 * with *out all zero after a refusal. */
int cara_crdt_reqsig_parse(const char *key_hex, const char *node_hex, const char *time_text,
                           const char *nonce_hex, const char *sig_hex, cara_reqsig_parsed *out);

/* Verifies the signature of a parsed request over (node, method, target,
 * body), the node being the one its X-Cara-Node names. Says nothing about
 * whether that node is the receiver, the key trusted, the time fresh or
 * the nonce new. Returns 0, CARA_EBADSIG, or an error of
 * cara_crdt_reqsig_message. */
int cara_crdt_reqsig_verify(const cara_reqsig_parsed *h, const char *method, const char *target,
                            const uint8_t *body, size_t body_len, cara_env *env);

/* ---- Join tokens --------------------------------------------------------------
 * docs/joining.md. An operator issues a token; a new node admits itself
 * with it, by a JOIN record it signs with its own key, instead of waiting
 * for `caravanctl admit`.
 *
 * The *grant* is what the operator signs (canonical msgpack):
 *     grant = fixarray(2) [ body, sig bin 64 ]
 *     body  = fixarray(7) [ "cara-join-grant", 1, token_id bin 16,
 *                           expires_wall_ms uint, uses uint (1..CARA_CRDT_JOIN_USES_MAX),
 *                           token_pk bin 32, operator_pk bin 32 ]
 * and `sig` is Ed25519 by operator_pk over the exact bytes of `body` (its
 * magic keeps it apart from record bodies, which begin ["crdt", and from
 * request signatures, which begin "cara-request-"). token_pk is a key pair
 * made for this token alone; its 32-byte seed is the secret half of the
 * token. The token's text is
 *     cara-join-v1.<base64url(grant)>.<base64url(seed)>
 * without padding.
 *
 * A JOIN record (kind CARA_CRDT_JOIN, key = the node's name, author = the
 * node's own key, which signs it) carries the value
 *     fixarray(4) [ "join", grant bin, node_pk bin 32, token_sig bin 64 ]
 * with node_pk == author and token_sig Ed25519 by token_pk over
 * "cara-join-node-v1" || node_pk || token_id. The seed never leaves the
 * joining node: the records that gossip carry the grant (public) and a
 * signature by the token key, not the token itself. */

#define CARA_CRDT_JOIN_TOKEN_ID_BYTES 16
#define CARA_CRDT_JOIN_TOKEN_PREFIX "cara-join-v1."

/* A parsed token. Holds a secret key: wipe it with cara_crdt_join_token_wipe. */
typedef struct cara_crdt_join_token {
    uint8_t grant[CARA_CRDT_JOIN_GRANT_BYTES_MAX]; /* the grant's exact bytes */
    size_t grant_bytes;
    uint8_t token_id[CARA_CRDT_JOIN_TOKEN_ID_BYTES];
    int64_t expires_wall_ms;
    uint32_t uses;
    uint8_t token_pk[CARA_CRDT_PK_BYTES];
    uint8_t operator_pk[CARA_CRDT_PK_BYTES];
    uint8_t token_sk[CARA_CRDT_SK_BYTES]; /* derived from the token's seed */
} cara_crdt_join_token;

/* Signs a grant with the operator's secret key and appends it to `out`.
 * The token id and the token key pair come from the caller (fresh random
 * bytes at the edge: the core has no randomness). Returns 0, CARA_EINVAL
 * (uses outside 1..CARA_CRDT_JOIN_USES_MAX, expires_wall_ms < 0) or
 * CARA_ETOOBIG. */
int cara_crdt_join_grant_sign(const uint8_t token_id[CARA_CRDT_JOIN_TOKEN_ID_BYTES],
                              int64_t expires_wall_ms, uint32_t uses,
                              const uint8_t token_pk[CARA_CRDT_PK_BYTES],
                              const uint8_t operator_sk[CARA_CRDT_SK_BYTES], cara_buf *out);

/* Writes the token text (NUL-terminated) for a grant and the token key's
 * seed into out[out_bytes]. Returns 0, CARA_EINVAL (a grant that
 * cara_crdt_join_token_parse would refuse with this seed) or CARA_ETOOBIG
 * (out_bytes below CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX may not do). */
int cara_crdt_join_token_format(const uint8_t *grant, size_t grant_bytes,
                                const uint8_t seed[CARA_CRDT_SEED_BYTES], char *out,
                                size_t out_bytes);

/* Decodes a token's text: prefix, base64url without padding (canonical:
 * one text per token), a canonical grant, a seed whose public key is the
 * grant's token_pk. Checks structure, not trust: whether the operator key
 * is trusted and the grant's signature good is the cluster's to judge.
 * Returns 0 or CARA_EPARSE, with *out all zero after a refusal. */
int cara_crdt_join_token_parse(const char *token, cara_crdt_join_token *out);

/* Zeroes a token (its secret key included). Accepts NULL. */
void cara_crdt_join_token_wipe(cara_crdt_join_token *t);

/* Signs the JOIN record by which the node (node_pk, node_sk) admits itself
 * as `node_name` with token `t`, stamped `hlc` (the node's
 * cara_crdt_hlc_next; it must not be later than the token's expiry), and
 * appends the envelope to `out`. The generation is 0: a node signs its
 * join once and keeps it. Returns 0, CARA_EINVAL (node_sk not node_pk's,
 * a name the envelope refuses), CARA_EEXPIRED (hlc after the expiry) or
 * CARA_ETOOBIG. */
int cara_crdt_join_record_sign(const cara_crdt_join_token *t,
                               const uint8_t node_pk[CARA_CRDT_PK_BYTES],
                               const uint8_t node_sk[CARA_CRDT_SK_BYTES], const char *node_name,
                               uint64_t hlc, cara_buf *out);

/* Tells the node that receives a JOIN record (a seed) whether applying it
 * would admit its author as the name it asks for, and if not why, without
 * changing anything. Returns 0 (it would, or already does); CARA_EPARSE (not
 * a well-formed JOIN record); CARA_EFUTURE (stamped beyond the skew bound);
 * CARA_EUNTRUSTED (grant not by a configured operator); CARA_EBADSIG (the
 * record's, the grant's or the token's signature is forged);
 * CARA_EWRONGAUTHOR (signed by another key than the node it names);
 * CARA_EEXPIRED (stamped after the expiry, or now_wall_ms past it and the
 * node not admitted yet); CARA_EUSEDUP (the token admits as many nodes as
 * it allows); CARA_ENOTADMITTED (an operator revoked this key: the
 * operator's word beats a token); CARA_EEXIST (the name is another key's,
 * or this key is admitted under another name); CARA_ELIMIT (nodes_max
 * reached); CARA_ESTALE (a later join by the same node is held);
 * CARA_ENOMEM. */
int cara_crdt_join_check(const cara_crdt *s, const uint8_t *record, size_t len,
                         int64_t now_wall_ms);

#endif
