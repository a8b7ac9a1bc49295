/*
 * The gossip transport's seal (docs/gossip-transport.md): every datagram
 * and every stream frame is authenticated as coming from one admitted node
 * key, encrypted for one peer, and checked against replay. Internal to the
 * gossip module; the protocol above (swim.c, anti-entropy) hands it
 * plaintexts and the bytes it received.
 *
 * Sans-IO: no clock, socket or randomness. The caller brings this node's
 * Ed25519 key pair, the set of admitted node keys (from the crdt's
 * admissions), a send epoch that is larger at every start, and, for
 * streams, 16 fresh random bytes handed in by the driver.
 *
 * Keys: each pair of nodes shares two direction keys made by crypto_kx from
 * the X25519 forms of their Ed25519 keys, so a third admitted node can
 * neither read nor forge traffic between two others.
 */
#ifndef CARA_GOSSIP_SEAL_INT_H
#define CARA_GOSSIP_SEAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "crdt/crdt.h"

typedef struct cara_seal cara_seal;

/* A datagram or frame names its sender by a key id, not its whole key. */
#define CARA_SEAL_KID_BYTES CARA_GOSSIP_SEAL_KEY_ID_BYTES

/* The key id of `pk`: the first 8 bytes of BLAKE2b-256 of it, the bytes
 * whose hex is cara_crdt_key_id (what caravanctl prints as key_id). Every
 * node computes the same id for the same key. */
void cara_seal_key_id(const uint8_t pk[CARA_CRDT_PK_BYTES], uint8_t kid[CARA_SEAL_KID_BYTES]);

/* Why a received datagram or frame was dropped; each has a counter. */
enum cara_seal_drop {
    CARA_SEAL_DROP_MALFORMED = 0, /* short, bad magic, version or type: CARA_EPARSE */
    CARA_SEAL_DROP_OVERSIZED,     /* longer than the datagram cap: CARA_ETOOBIG */
    CARA_SEAL_DROP_NOTADMITTED,   /* sender key not admitted (or our own): CARA_ENOTADMITTED */
    CARA_SEAL_DROP_BADTAG,        /* forged, corrupted or not for us: CARA_EBADSIG */
    CARA_SEAL_DROP_REPLAY,        /* counter already accepted: CARA_EREPLAY */
    CARA_SEAL_DROP_TOOOLD,        /* counter below the window or floor: CARA_ESTALE */
    CARA_SEAL_DROP_COUNT_
};

typedef struct cara_seal_stats {
    uint64_t sealed;  /* datagrams and frames sealed */
    uint64_t opened;  /* datagrams and frames accepted */
    uint64_t dropped[CARA_SEAL_DROP_COUNT_];
} cara_seal_stats;

/* Creates a seal for the node with key pair (pk, sk). Every counter this
 * seal sends lies in [epoch << 32, (epoch + 1) << 32): the caller must
 * persist an epoch larger than any used before with this key *before* the
 * first send (docs/gossip-transport.md). `env` is borrowed (allocator,
 * logging). Returns 0 and an owned *out (free with cara_seal_free),
 * CARA_EINVAL for a key pair whose X25519 form cannot be made or whose
 * halves do not match, or CARA_ENOMEM. */
int cara_seal_new(cara_env *env, const uint8_t pk[CARA_CRDT_PK_BYTES],
                  const uint8_t sk[CARA_CRDT_SK_BYTES], uint32_t epoch, cara_seal **out);
/* Wipes every key and frees the seal; NULL is accepted. */
void cara_seal_free(cara_seal *s);

/* Admits a node key: derives the pairwise keys now, so that receiving never
 * does a scalar multiplication. Returns 0 (also when already admitted;
 * counters and window are kept), CARA_EINVAL for our own key or a key that
 * is not a usable Ed25519 point, CARA_ELIMIT when CARA_GOSSIP_PEERS_MAX
 * peers are held or CARA_GOSSIP_KEY_ID_PEERS_MAX already share its key
 * id, or CARA_ENOMEM. */
int cara_seal_admit(cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES]);
/* Keeps only the first `bytes` (1..8) of every key id this seal sends and
 * admits under, the rest zero. Real keys never share a 64-bit id, so this
 * is how a test makes ids collide, to prove that the receiver tries each
 * peer under an id and lets the tag decide; sender and receiver must
 * narrow alike. Returns 0, or CARA_EINVAL out of range or once a peer is
 * admitted. */
int cara_seal_narrow_key_ids(cara_seal *s, size_t bytes);

/* Revokes a node key: its entry and keys are wiped at once, so its traffic
 * is dropped as not admitted from now on. Returns 0 or CARA_ENOENT. */
int cara_seal_revoke(cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES]);
bool cara_seal_is_admitted(const cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES]);
size_t cara_seal_peer_count(const cara_seal *s);

/* Seals `len` bytes of `plaintext` for `to_pk` into `out` (`out_cap` bytes,
 * at least len + CARA_GOSSIP_SEAL_OVERHEAD_BYTES) and sets *out_len.
 * Returns 0, CARA_ETOOBIG past CARA_GOSSIP_PLAINTEXT_BYTES_MAX,
 * CARA_ENOTADMITTED for a key not admitted, CARA_ELIMIT when this epoch's
 * counters for that peer are spent (restart with a new epoch), or
 * CARA_EINVAL for a short `out`. Nothing is written on error. */
int cara_seal_seal(cara_seal *s, const uint8_t to_pk[CARA_CRDT_PK_BYTES],
                   const uint8_t *plaintext, size_t len, uint8_t *out, size_t out_cap,
                   size_t *out_len);

/* Opens one received datagram of `len` bytes. Its header names the sender
 * by key id; each admitted peer under that id (at most
 * CARA_GOSSIP_KEY_ID_PEERS_MAX) is tried, and the one whose pairwise key
 * verifies the tag is the sender. On success writes the sender's key to
 * from_pk, the plaintext to `out` (`out_cap` bytes, at
 * least len - CARA_GOSSIP_SEAL_OVERHEAD_BYTES; CARA_GOSSIP_PLAINTEXT_BYTES_MAX
 * is always enough) and its length to *out_len, and returns 0. Otherwise
 * returns the code of the drop reason (enum cara_seal_drop), counts it, and
 * leaves from_pk and the peer's window unchanged; `out` may hold garbage.
 * CARA_EINVAL (not counted) means the caller's `out` is too short. */
int cara_seal_open(cara_seal *s, const uint8_t *bytes, size_t len,
                   uint8_t from_pk[CARA_CRDT_PK_BYTES], uint8_t *out, size_t out_cap,
                   size_t *out_len);

/* Counters received from `pk` below `floor` are refused as too old from
 * now on (the floor only rises). After a restart the caller restores the
 * floors it persisted (for example each peer's epoch << 32 learned from
 * its first datagram), so datagrams recorded before the restart cannot be
 * replayed to the new process. Returns 0 or CARA_ENOENT. */
int cara_seal_set_floor(cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES], uint64_t floor);
/* The highest counter accepted from `pk` so far (0 before any).
 * Returns 0 or CARA_ENOENT. */
int cara_seal_recv_top(const cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES],
                       uint64_t *top);

void cara_seal_stats_get(const cara_seal *s, cara_seal_stats *out);

/* ---- Streams ----------------------------------------------------------------
 * A stream (one TCP connection) starts with a hello each way in the clear:
 *     magic (1) version and type=HELLO (1) sender pk (32) random (16)
 * Each direction's stream key is BLAKE2b keyed with the pair's stream key of
 * that direction over the initiator's random then the responder's, so a
 * recorded stream replayed later meets a fresh random and fails its first
 * tag. Frames are then a 4-byte big-endian length and a sealed frame whose
 * counter is its index from 0: exactly in order, no gap, no repeat. */

#define CARA_SEAL_HELLO_RANDOM_BYTES 16
#define CARA_SEAL_HELLO_BYTES (2 + CARA_CRDT_PK_BYTES + CARA_SEAL_HELLO_RANDOM_BYTES)

typedef struct cara_seal_stream {
    uint8_t peer_pk[CARA_CRDT_PK_BYTES];
    uint8_t peer_kid[CARA_SEAL_KID_BYTES]; /* what the peer's frame headers carry */
    uint8_t tx[32];
    uint8_t rx[32];
    uint64_t tx_next; /* counter of the next frame sent */
    uint64_t rx_next; /* counter the next frame received must carry */
    bool ready;
} cara_seal_stream;

/* Writes this node's hello (CARA_SEAL_HELLO_BYTES) with the caller's fresh
 * random bytes into `out`. */
void cara_seal_hello(const cara_seal *s, const uint8_t random[CARA_SEAL_HELLO_RANDOM_BYTES],
                     uint8_t out[CARA_SEAL_HELLO_BYTES]);
/* Starts `st` from both hellos: `mine` is what this node sent (with its
 * random), `theirs` the bytes received (`len` of them). The initiator
 * passes the key it dialled as `expect_pk`; the responder passes NULL and
 * learns the peer from the hello. Returns 0, CARA_EPARSE for a malformed
 * hello, CARA_ENOTADMITTED for a peer not admitted (or not the one
 * expected), each counted like a datagram's drop. */
int cara_seal_stream_start(cara_seal *s, cara_seal_stream *st, bool initiator,
                           const uint8_t mine[CARA_SEAL_HELLO_BYTES], const uint8_t *theirs,
                           size_t len, const uint8_t *expect_pk);
/* Seals one frame (length prefix included) into `out`; as cara_seal_seal,
 * with CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX as the cap. */
int cara_seal_stream_seal(cara_seal *s, cara_seal_stream *st, const uint8_t *plaintext,
                          size_t len, uint8_t *out, size_t out_cap, size_t *out_len);
/* Opens the first frame of the `len` received bytes at `bytes`. Returns 0
 * with *used (bytes consumed) and the plaintext; CARA_EAGAIN when the
 * frame is not complete yet (nothing consumed; the length prefix is checked
 * before waiting); or a drop code, after which the stream must be closed.
 * A revoked peer's open stream is refused as CARA_ENOTADMITTED. */
int cara_seal_stream_open(cara_seal *s, cara_seal_stream *st, const uint8_t *bytes, size_t len,
                          size_t *used, uint8_t *out, size_t out_cap, size_t *out_len);
/* Wipes the stream's keys. */
void cara_seal_stream_close(cara_seal_stream *st);

#endif
