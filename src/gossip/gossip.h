/*
 * The gossip node object (docs/gossip.md, "The node object"): membership
 * (SWIM with Lifeguard, swim.c), record dissemination and acknowledgement,
 * anti-entropy over streams and joining, all behind one sans-IO object that
 * cara-agent drives with real sockets and cara-sim with simulated ones.
 *
 * The object never reads a clock, touches a socket or draws randomness of
 * its own: time is an argument (`now_mono_ms` for intervals, `now_wall_ms`
 * for record clocks), randomness comes from env->rng, and every output is
 * pulled by the driver:
 *
 *   datagrams   cara_gossip_recv() in, cara_gossip_poll_send() out
 *   streams     cara_gossip_poll_dial() asks the driver to connect;
 *               cara_gossip_stream_accept() reports an inbound connection;
 *               cara_gossip_stream_recv() in, cara_gossip_stream_poll_send()
 *               out; cara_gossip_poll_close() says which to close once
 *               written; cara_gossip_stream_closed() reports a close
 *   timers      cara_gossip_tick(), cara_gossip_next_deadline_ms()
 *   events      cara_gossip_poll_event()
 *
 * Durability contract: records that arrive are merged into the borrowed
 * cara_crdt at once; an acknowledgement sent for them means "durably
 * stored", so the driver must make the crdt's changes durable (its store's
 * change feed) before it sends anything poll_send or stream_poll_send
 * returned after that input.
 *
 * Ownership: cara_gossip_new returns an owned object freed by
 * cara_gossip_free. The crdt and env are borrowed for its whole life; every
 * other pointer argument is borrowed for the call.
 */
#ifndef CARA_GOSSIP_GOSSIP_H
#define CARA_GOSSIP_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "crdt/crdt.h"

/* A transport address, opaque to the protocol: the driver's bytes. The
 * agent's are 4 or 16 address bytes and a 2-byte port in network order,
 * the form cara_gossip_addr_parse writes (node records carry the text). */
typedef struct cara_gossip_addr {
    uint8_t len;
    uint8_t bytes[CARA_SWIM_ADDR_BYTES_MAX];
} cara_gossip_addr;

/* addr.c: "HOST[:PORT]", HOST an IPv4 literal or a bracketed IPv6 one, the
 * port CARA_GOSSIP_PORT_DEFAULT when left out. 0 or CARA_EPARSE. */
int cara_gossip_addr_parse(const char *text, cara_gossip_addr *out);
/* "1.2.3.4:7950", "[::1]:7950", or "?" for anything else. */
void cara_gossip_addr_text(const cara_gossip_addr *a, char *out, size_t out_max);

typedef struct cara_gossip_cfg {
    const char *name;                    /* this node's name (its admission key) */
    uint8_t pk[CARA_CRDT_PK_BYTES];      /* this node's Ed25519 key pair */
    uint8_t sk[CARA_CRDT_SK_BYTES];
    cara_gossip_addr addr;               /* where peers reach this node */
    uint32_t epoch;                      /* seal epoch: larger at every start */
    /* Timers; 0 takes the LAN default (cara_gossip_cfg_lan, docs/gossip.md). */
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t indirect_checks_count;
    uint32_t suspicion_mult;
    uint32_t suspicion_max_mult;
    uint32_t suspicion_confirmations;
    uint32_t retransmit_mult;
    uint32_t awareness_max;
    uint64_t reap_horizon_ms;
    uint32_t push_fanout;              /* members a new record is pushed to at once */
    /* Lazy push (docs/gossip.md, "Lazy push"): a record goes out in full
     * on its first eager_transmits piggybacks from each node, then as a
     * 24-byte advert (slot id, HLC) until its retransmit limit; a node
     * that lacks an advertised version pulls it from the advertiser. */
    uint32_t eager_transmits;
    uint32_t pull_timeout_ms;          /* then the next advertiser is asked */
    uint64_t pull_bytes_per_s_max;     /* bound on the bytes of pull answers */
    uint32_t gossip_interval_ms;       /* a gossip round while news is pending */
    uint32_t gossip_nodes;             /* members each gossip round goes to */
    uint32_t anti_entropy_interval_ms; /* one push-pull with a random member */
    uint32_t reconnect_interval_ms;    /* one ping to a random member held dead */
    uint32_t stream_timeout_ms;        /* an idle stream is closed */
    uint32_t join_retry_ms;            /* first retry of an unanswered join; doubles */
    uint32_t ack_retry_ms;             /* re-push of a record still short of holders */
    uint32_t ack_timeout_ms;           /* a record's holders are tracked this long */
    uint64_t sync_bytes_per_s_max;     /* anti-entropy bandwidth bound (both ways) */
    /* The random bytes of each stream hello (docs/gossip-transport.md),
     * handed in by the driver: the core never draws them itself. The
     * agent's hook lives in src/agent (an unpredictable source), the
     * simulator's in tests/sim (a seeded one). NULL takes env->rng, which
     * is fresh but predictable: fit for tests only. */
    void (*random_bytes)(void *ctx, uint8_t *out, size_t len);
    void *random_ctx;
} cara_gossip_cfg;

/* Fills every timer of `cfg` left at 0 with its LAN default. */
void cara_gossip_cfg_lan(cara_gossip_cfg *cfg);

/* Member states as reported by events and queries. */
enum cara_gossip_state {
    CARA_GOSSIP_ALIVE = 1,
    CARA_GOSSIP_SUSPECT = 2,
    CARA_GOSSIP_DEAD = 3,
    CARA_GOSSIP_LEFT = 4,
};
const char *cara_gossip_state_name(int state);

enum cara_gossip_event_kind {
    CARA_GOSSIP_EV_MEMBER = 1,       /* a member changed state (state, incarnation) */
    CARA_GOSSIP_EV_REAPED = 2,       /* a dead or left member was forgotten */
    CARA_GOSSIP_EV_JOINED = 3,       /* a seed welcomed us (name = the seed) */
    CARA_GOSSIP_EV_JOIN_REFUSED = 4, /* a seed refused us: reason, text */
    CARA_GOSSIP_EV_REFUSED_JOIN = 5, /* we refused a joiner: name, reason, text */
    CARA_GOSSIP_EV_WELCOMED = 6,     /* we welcomed a joiner (name) */
    CARA_GOSSIP_EV_ACKED = 7,        /* a published record gained a holder: id, hlc, holders */
    CARA_GOSSIP_EV_SYNCED = 8,       /* an anti-entropy exchange ended: name, records applied */
};

typedef struct cara_gossip_event {
    uint8_t kind;
    uint8_t state;             /* MEMBER */
    uint32_t incarnation;      /* MEMBER */
    char name[CARA_SWIM_NAME_BYTES_MAX + 1];
    uint8_t pk[CARA_CRDT_PK_BYTES];
    cara_gossip_addr addr;
    int32_t reason;            /* JOIN_REFUSED, REFUSED_JOIN: a CARA_E* code */
    char text[CARA_WIRE_TEXT_BYTES_MAX + 1];
    uint8_t id[CARA_CRDT_ID_BYTES]; /* ACKED */
    uint64_t hlc;              /* ACKED */
    uint32_t holders;          /* ACKED: nodes holding it durably, this one included */
    uint64_t applied;          /* SYNCED */
} cara_gossip_event;

/* What a query tells of one member. */
typedef struct cara_gossip_member {
    char name[CARA_SWIM_NAME_BYTES_MAX + 1];
    uint8_t pk[CARA_CRDT_PK_BYTES];
    cara_gossip_addr addr;
    uint8_t state;
    uint32_t incarnation;
    uint64_t last_contact_mono_ms; /* last authenticated datagram or stream; 0: never */
    bool self;
} cara_gossip_member;

/* Drops of received input, each counted (/metrics "drops by reason"). */
enum cara_gossip_drop {
    CARA_GOSSIP_DROP_MALFORMED = 0, /* sealed but not a valid message */
    CARA_GOSSIP_DROP_NOTADMITTED,   /* sender key not admitted */
    CARA_GOSSIP_DROP_BADTAG,        /* forged or corrupted */
    CARA_GOSSIP_DROP_REPLAY,        /* replayed or too old */
    CARA_GOSSIP_DROP_OVERSIZED,     /* datagram or frame past its cap */
    CARA_GOSSIP_DROP_UNKNOWN,       /* admitted key whose name is not known yet */
    CARA_GOSSIP_DROP_RECORD,        /* a carried record refused by the state */
    CARA_GOSSIP_DROP_STREAM,        /* a stream closed for a protocol error */
    CARA_GOSSIP_DROP_FULL,          /* an outbox, stream table or queue was full */
    CARA_GOSSIP_DROP_VERSION,       /* sealed, but another wire version (a mixed cluster) */
    CARA_GOSSIP_DROP_COUNT_
};
const char *cara_gossip_drop_name(int drop);

typedef struct cara_gossip_stats {
    uint64_t datagrams_in, datagrams_out, datagram_bytes_in, datagram_bytes_out;
    uint64_t stream_bytes_in, stream_bytes_out, streams_opened, streams_accepted;
    uint64_t streams_timed_out; /* closed after stream_timeout_ms without input */
    size_t datagram_bytes_max;   /* the largest datagram sent */
    uint64_t records_pushed, records_piggybacked, records_received_new;
    uint64_t acks_sent, acks_received;
    /* Lazy push: adverts sent and received, record versions asked for
     * (pulls_sent) and answered (pull_records_sent), pulls that went
     * unanswered past pull_timeout_ms, new records that came by a pull,
     * and asked-for records left unanswered for the answer budget. */
    uint64_t ihaves_sent, ihaves_received, pulls_sent, pull_records_sent, pulls_timed_out;
    uint64_t records_pulled, pull_answers_over_budget;
    uint64_t syncs_started, syncs_completed, syncs_skipped_budget, sync_records_applied;
    uint64_t joins_welcomed, joins_refused;
    uint64_t probes, suspicions, refutations, false_suspicions, deaths;
    uint64_t dropped[CARA_GOSSIP_DROP_COUNT_];
    size_t members_by_state[5]; /* index: enum cara_gossip_state; self counted alive */
} cara_gossip_stats;

typedef struct cara_gossip cara_gossip;

/* Returns 0 and an owned object, CARA_EINVAL for a bad config (name,
 * address, key pair), or CARA_ENOMEM. */
int cara_gossip_new(cara_gossip **out, const cara_gossip_cfg *cfg, cara_env *env,
                    cara_crdt *crdt);
void cara_gossip_free(cara_gossip *g); /* accepts NULL */

/* Joins through a seed known only by address: the object dials it and
 * sends the proof records (a join-token record, or nothing for a node an
 * operator admitted), retrying with backoff until a seed welcomes it.
 * Several seeds may be given. Returns 0, CARA_ELIMIT (too many seeds or a
 * proof too large) or CARA_EINVAL. */
int cara_gossip_join(cara_gossip *g, const cara_gossip_addr *seed, const uint8_t *proof,
                     size_t proof_len, uint64_t now_mono_ms);

/* Adds a member known from the store (after a restart). 0, CARA_EEXIST,
 * CARA_ELIMIT or CARA_EINVAL (ourselves, or a name not admitted to `pk`). */
int cara_gossip_add_member(cara_gossip *g, const char *name, const uint8_t pk[CARA_CRDT_PK_BYTES],
                           const cara_gossip_addr *addr, uint64_t now_mono_ms);

/* Disseminates a record this node accepted or wrote (already merged into
 * the crdt): pushed at once to push_fanout members, then piggybacked.
 * With holders_wanted > 1, holders are tracked and reported by EV_ACKED
 * events, and the record is re-pushed every ack_retry_ms to members that
 * have not acknowledged it, until holders_wanted nodes (this one
 * included) hold it, ack_timeout_ms passes, or this node holds a newer
 * version of it. Returns 0 or CARA_EINVAL (not a record); a full queue
 * evicts by its rule, and the record still spreads by anti-entropy. */
int cara_gossip_publish(cara_gossip *g, const uint8_t *record, size_t len,
                        uint32_t holders_wanted, uint64_t now_mono_ms);

/* One received datagram from `from` (untrusted). Returns 0: every bad
 * datagram is dropped and counted, never an error. */
int cara_gossip_recv(cara_gossip *g, const cara_gossip_addr *from, const uint8_t *bytes,
                     size_t len, uint64_t now_mono_ms, int64_t now_wall_ms);

int cara_gossip_tick(cara_gossip *g, uint64_t now_mono_ms, int64_t now_wall_ms);
/* The earliest time tick() has work (UINT64_MAX: none). */
uint64_t cara_gossip_next_deadline_ms(const cara_gossip *g);

/* The next datagram: 0 with `to` and *len bytes written to out (at least
 * CARA_GOSSIP_DATAGRAM_BYTES_MAX of room), or CARA_EAGAIN. */
int cara_gossip_poll_send(cara_gossip *g, cara_gossip_addr *to, uint8_t *out, size_t out_cap,
                          size_t *len);

/* ---- Streams: each is an id chosen by the object ------------------------ */

/* A connection the object wants: 0 with its id and address, or CARA_EAGAIN.
 * The driver connects and calls stream_connected, or stream_closed if the
 * connection fails. */
int cara_gossip_poll_dial(cara_gossip *g, uint32_t *id, cara_gossip_addr *to);
void cara_gossip_stream_connected(cara_gossip *g, uint32_t id, uint64_t now_mono_ms);
/* An inbound connection: 0 and its id, or CARA_ELIMIT when
 * CARA_GOSSIP_STREAMS_INBOUND_MAX inbound streams (or every slot) are
 * taken (counted as DROP_FULL; the driver closes it). */
int cara_gossip_stream_accept(cara_gossip *g, uint32_t *id, uint64_t now_mono_ms);
/* Bytes read from stream `id`. Returns 0; a protocol error marks the stream
 * for closing (poll_close) and is counted. */
int cara_gossip_stream_recv(cara_gossip *g, uint32_t id, const uint8_t *bytes, size_t len,
                            uint64_t now_mono_ms, int64_t now_wall_ms);
/* Bytes to write: 0 with a stream id and its pending bytes appended to
 * `out`, or CARA_EAGAIN when no stream has any. */
int cara_gossip_stream_poll_send(cara_gossip *g, uint32_t *id, cara_buf *out);
/* A stream the driver should close once its pending bytes are written:
 * 0 and its id, or CARA_EAGAIN. The object forgets it at once. */
int cara_gossip_poll_close(cara_gossip *g, uint32_t *id);
/* The connection ended (peer close, error, or after poll_close). */
void cara_gossip_stream_closed(cara_gossip *g, uint32_t id);

/* ---- Events and queries ------------------------------------------------- */

int cara_gossip_poll_event(cara_gossip *g, cara_gossip_event *ev);
/* Leaves gracefully (members are told); keep driving the object for about
 * one probe interval so the notice goes out. */
int cara_gossip_leave(cara_gossip *g, uint64_t now_mono_ms);

/* 0 with the named member (this node included), or CARA_ENOENT. */
int cara_gossip_member_get(const cara_gossip *g, const char *name, cara_gossip_member *out);
/* Calls fn for every member, this node first; stops at a non-zero return. */
int cara_gossip_members_foreach(const cara_gossip *g,
                                int (*fn)(void *ctx, const cara_gossip_member *m), void *ctx);
/* Starts an anti-entropy exchange with a random alive member at the next
 * tick rather than at the next interval (a node that must know it is up
 * to date before acting; docs/scheduling.md). */
void cara_gossip_sync_soon(cara_gossip *g);
/* Probes in a row that got no ack, directly or through a relay: a node
 * whose own link fails one way still hears its peers, but its probes go
 * unanswered (docs/scheduling.md, "Fencing"). */
uint32_t cara_gossip_probe_fail_streak(const cara_gossip *g);
/* Members alive or suspect, this node included. */
size_t cara_gossip_live_count(const cara_gossip *g);
bool cara_gossip_joined(const cara_gossip *g); /* welcomed, or no seed given */
void cara_gossip_stats_get(const cara_gossip *g, cara_gossip_stats *out);

#endif
