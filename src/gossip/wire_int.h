/*
 * The gossip wire codec (docs/gossip.md, "Wire"): the msgpack messages
 * that travel inside sealed datagrams and stream frames (src/gossip/seal.c)
 * and, on a join stream before any key is shared, inside clear frames.
 *
 * Internal header of the gossip module. Pure functions over bytes: no
 * clock, socket or randomness; only decoding allocates, one block of at
 * most 27.5 KiB for msgpack-c, freed before it returns. Every message is
 * one msgpack array [version, kind, ...]; there is exactly one encoding of
 * a message (msgpack-c's shortest forms), and the decoder refuses any
 * other, so decode(bytes) followed by encode gives `bytes` back.
 *
 * Ownership: decoded messages borrow from the input bytes (records, blob);
 * keep the input alive while the message is used. Encoders append to a
 * caller's cara_buf and leave it unchanged on error.
 */
#ifndef CARA_GOSSIP_WIRE_INT_H
#define CARA_GOSSIP_WIRE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "crdt/crdt.h"
#include "gossip/swim_int.h"

/* Version 2: the membership message carries the sender's membership
 * digest, and a PING names no target (the seal says whom it is for).
 * Version 3: a SWIM message carries record adverts ("I have") after its
 * records, and PULL asks an advertiser for records (docs/gossip.md,
 * "Lazy push"). */
#define CARA_WIRE_VERSION 3

enum cara_wire_kind {
    CARA_WIRE_SWIM = 1,     /* datagram: a cara_swim_msg + piggybacked records */
    CARA_WIRE_PUSH = 2,     /* datagram or stream: records pushed; want_ack */
    CARA_WIRE_ACK = 3,      /* datagram or stream: "I hold these record versions durably" */
    CARA_WIRE_PULL = 4,     /* datagram: "send me these record versions" (adverts I lack) */
    CARA_WIRE_SYNC = 10,    /* stream: one crdt anti-entropy message (opaque blob) */
    CARA_WIRE_DELTA = 11,   /* stream: concatenated record envelopes (opaque blob) */
    CARA_WIRE_DONE = 12,    /* stream: the sender has nothing more to say */
    CARA_WIRE_JOIN = 20,    /* clear join stream: joiner's id+addr + proof records */
    CARA_WIRE_WELCOME = 21, /* clear join stream: seed's id+addr + admission records */
    CARA_WIRE_REFUSED = 22, /* clear join stream: reason code + human text */
};

/* Where a message was received; each place admits some kinds only. */
enum cara_wire_where {
    CARA_WIRE_IN_DATAGRAM = 1, /* SWIM, PUSH, ACK, PULL; at most CARA_GOSSIP_PLAINTEXT_BYTES_MAX */
    CARA_WIRE_IN_STREAM = 2,   /* PUSH, ACK, SYNC, DELTA, DONE; CARA_WIRE_STREAM_MSG_BYTES_MAX */
    CARA_WIRE_IN_CLEAR = 3,    /* JOIN, WELCOME, REFUSED; inside a clear frame */
};

/* Bytes borrowed from the decoded input (or, to encode, from the caller). */
typedef struct cara_wire_bytes {
    const uint8_t *ptr;
    size_t len;
} cara_wire_bytes;

/* One durably held record version: its slot identity (cara_crdt_record_id)
 * and its HLC. */
typedef struct cara_wire_ack {
    uint8_t id[CARA_CRDT_ID_BYTES];
    uint64_t hlc;
} cara_wire_ack;

/* A decoded (or to-be-encoded) message; which fields count depends on
 * `kind`, the others are zero after decoding. Entries past records_count
 * and acks_count are not touched. About 27 KiB: keep it off small stacks. */
typedef struct cara_wire_msg {
    uint8_t kind;
    cara_swim_msg swim;   /* SWIM */
    bool want_ack;        /* PUSH */
    size_t records_count; /* SWIM (piggyback), PUSH, JOIN, WELCOME */
    cara_wire_bytes records[CARA_WIRE_RECORDS_MAX]; /* each 1..CARA_CRDT_RECORD_BYTES_MAX */
    size_t acks_count;    /* ACK */
    cara_wire_ack acks[CARA_WIRE_ACKS_MAX];
    /* SWIM: records advertised by id ("I have"); PULL: records asked for.
     * On the wire one bin of CARA_WIRE_IHAVE_BYTES per entry: the slot id,
     * then the HLC in 8 bytes big-endian. */
    size_t ihaves_count;
    cara_wire_ack ihaves[CARA_WIRE_IHAVES_MAX];
    cara_wire_bytes blob; /* SYNC (≤ CARA_CRDT_SYNC_MSG_BYTES_MAX), DELTA (≤ CARA_WIRE_DELTA_BYTES_MAX) */
    cara_swim_id node;    /* JOIN (the joiner), WELCOME (the seed) */
    cara_swim_addr addr;  /* JOIN, WELCOME */
    int32_t reason;       /* REFUSED: a negative CARA_E* code */
    uint16_t text_len;    /* REFUSED: printable ASCII, not NUL-terminated */
    char text[CARA_WIRE_TEXT_BYTES_MAX];
} cara_wire_msg;

/* Appends the msgpack encoding of m to out. Returns 0; CARA_ETOOBIG if the
 * result would exceed `cap` bytes or out's own bytes_max; CARA_EINVAL for
 * a message that breaks its own caps or format (an unknown kind or type, a
 * name of 0 or more than 64 bytes, a target without a name but with a key
 * or address, an empty record, text that is not printable ASCII, ...);
 * CARA_ENOMEM. On error `out` is unchanged. */
int cara_wire_encode(const cara_wire_msg *m, size_t cap, cara_buf *out);

/* Decodes exactly bytes[0..len) (trailing bytes are an error). `where` is
 * an enum cara_wire_where; a kind outside its place is CARA_EPARSE.
 * Returns 0; CARA_EPARSE for malformed, mistyped or non-canonical input;
 * CARA_ETOOBIG for input longer than its place allows, a list or payload
 * past its cap, or more msgpack elements than the largest message holds;
 * CARA_EUNSUPPORTED for another version; CARA_ENOMEM. Pointers in *out
 * borrow from bytes. Allocates at most 1147 msgpack_objects (27,528 bytes
 * on LP64) in one block, freed before it returns (docs/gossip.md, "Wire"). */
int cara_wire_decode(const uint8_t *bytes, size_t len, int where, cara_wire_msg *out);

/* The exact encoded size of m, or 0 when cara_wire_encode would refuse it
 * with CARA_EINVAL. */
size_t cara_wire_encoded_bytes(const cara_wire_msg *m);

/* Encoded size of one record of `len` bytes inside a records array
 * (msgpack bin header + len), so the node object can fill a datagram's
 * piggyback space exactly. */
size_t cara_wire_record_item_bytes(size_t len);

/* Encoded size of a SWIM datagram message around `m` with no records and
 * no adverts, counting the records array's header and the adverts' bin
 * header at their 3-byte forms: records whose cara_wire_record_item_bytes
 * sum, plus CARA_WIRE_IHAVE_BYTES per advert, to at most cap - this (and
 * numbering at most CARA_WIRE_RECORDS_MAX and CARA_WIRE_IHAVES_MAX)
 * always fit within `cap`. With fewer than 16 records the message comes
 * out 2 bytes shorter, and with fewer than 11 adverts 1 byte more so.
 * `m` must be valid (see cara_wire_encode); an invalid one returns
 * SIZE_MAX. */
size_t cara_wire_swim_bytes(const cara_swim_msg *m);

/* ---- Clear frames -------------------------------------------------------
 * Used only on a join stream before any key is shared:
 *     'C' 'J' version(1) length(4, big-endian) msgpack-message
 * distinct from the seal's hello, which starts 0xCA 0x23. A whole frame,
 * header included, is at most CARA_WIRE_CLEAR_BYTES_MAX bytes. */
#define CARA_WIRE_CLEAR_HEADER_BYTES 7
#define CARA_WIRE_CLEAR_MAGIC0 'C'
#define CARA_WIRE_CLEAR_MAGIC1 'J'

/* Appends header + message. Returns 0; CARA_EINVAL for a kind that is not
 * JOIN, WELCOME or REFUSED or a message cara_wire_encode refuses;
 * CARA_ETOOBIG past CARA_WIRE_CLEAR_BYTES_MAX (or out's bytes_max);
 * CARA_ENOMEM. On error `out` is unchanged. */
int cara_wire_clear_frame(const cara_wire_msg *m, cara_buf *out);

/* Parses the first clear frame in bytes[0..len): 0 with *used (header +
 * message) and the message; CARA_EAGAIN when incomplete (the magic,
 * version and length are checked as soon as they arrive, before waiting);
 * CARA_EPARSE / CARA_ETOOBIG / CARA_EUNSUPPORTED otherwise. *used is
 * written only on success. Pointers in *out borrow from bytes. */
int cara_wire_clear_parse(const uint8_t *bytes, size_t len, size_t *used, cara_wire_msg *out);

/* True when the first 2 bytes are a clear frame's magic (else a seal hello
 * or garbage). */
bool cara_wire_is_clear(const uint8_t *bytes, size_t len);

#endif
