/*
 * SWIM membership with Lifeguard's refinements, sans-IO (docs/gossip.md).
 *
 * Internal header of the gossip module: the node object (a later
 * src/gossip/gossip.h) drives a cara_swim, encodes its messages to msgpack
 * and seals them into datagrams. This layer deals in structs only: it takes
 * a decoded message, the authenticated sender and `now_mono_ms`, and hands
 * out messages to send, events, and its next deadline. It never reads a
 * clock, never touches a socket, and draws randomness from env->rng.
 *
 * Ownership: cara_swim_new returns an owned object freed by cara_swim_free.
 * Every pointer argument is borrowed for the duration of the call.
 */
#ifndef CARA_GOSSIP_SWIM_INT_H
#define CARA_GOSSIP_SWIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---- Identities and addresses ------------------------------------------ */

/* A member: its name (unique in the cluster, not NUL-terminated) and its
 * public key. Two members with one name and different keys conflict; the
 * newcomer is refused and counted. */
typedef struct cara_swim_id {
    uint8_t name_len;
    char name[CARA_SWIM_NAME_BYTES_MAX];
    uint8_t key[CARA_SWIM_KEY_BYTES];
} cara_swim_id;

/* A transport address, opaque to this layer (the driver's format). */
typedef struct cara_swim_addr {
    uint8_t len;
    uint8_t bytes[CARA_SWIM_ADDR_BYTES_MAX];
} cara_swim_addr;

/* Where a message goes: the member and its address. */
typedef struct cara_swim_peer {
    cara_swim_id id;
    cara_swim_addr addr;
} cara_swim_peer;

/* ---- Messages ------------------------------------------------------------ */

enum cara_swim_msg_type {
    CARA_SWIM_PING = 1,     /* seq, target = the member asked to answer */
    CARA_SWIM_ACK = 2,      /* seq of the ping (or of the ping-req relayed) */
    CARA_SWIM_PING_REQ = 3, /* seq, target + target_addr to probe for us */
    CARA_SWIM_NACK = 4,     /* seq of a ping-req whose target did not answer */
    CARA_SWIM_GOSSIP = 5,   /* updates only, no answer (memberlist's gossip messages) */
};

/* Member states, also the kinds of piggybacked updates. */
enum cara_swim_state {
    CARA_SWIM_ALIVE = 1,
    CARA_SWIM_SUSPECT = 2,
    CARA_SWIM_DEAD = 3,
    CARA_SWIM_LEFT = 4,
};

/* One membership update: `member` is in state `kind` at `incarnation`.
 * `accuser` names who raised a suspicion or declared a death (a leaving
 * member names itself); it is empty for ALIVE. `addr` is set for ALIVE. */
typedef struct cara_swim_update {
    uint8_t kind;
    uint32_t incarnation;
    cara_swim_id member;
    cara_swim_addr addr;
    uint8_t accuser_len;
    char accuser[CARA_SWIM_NAME_BYTES_MAX];
} cara_swim_update;

typedef struct cara_swim_msg {
    uint8_t type;
    uint32_t seq;
    cara_swim_id target;
    cara_swim_addr target_addr;
    /* The sender's membership digest (cara_swim_digest) when it built the
     * message; 0 says nothing. A receiver whose own digest equals it knows
     * that samples would teach the sender nothing (docs/gossip.md). */
    uint32_t digest;
    uint8_t updates_count;
    cara_swim_update updates[CARA_SWIM_PIGGYBACK_MAX];
} cara_swim_msg;

/* Upper bound of the msgpack encoding of `u` (CARA_SWIM_UPDATE_BYTES_MAX
 * for the longest fields); the piggyback list is filled against it. */
size_t cara_swim_update_bytes_max(const cara_swim_update *u);

/* ---- Configuration ------------------------------------------------------- */

typedef struct cara_swim_cfg {
    cara_swim_id self;
    cara_swim_addr self_addr;
    uint32_t probe_interval_ms;     /* one probe period at full health */
    uint32_t probe_timeout_ms;      /* wait for a direct ack; < interval */
    uint32_t indirect_checks_count; /* k members asked to ping-req */
    uint32_t suspicion_mult;        /* minimum timeout, in scaled periods */
    uint32_t suspicion_max_mult;    /* maximum timeout = this x minimum */
    /* Independent accusers beyond the first that bring a suspicion down to
     * its minimum (Lifeguard's K; memberlist ties it to suspicion_mult - 2),
     * 1..CARA_SWIM_CONFIRMS_MAX, and never more than the other members
     * that could confirm. */
    uint32_t suspicion_confirmations;
    uint32_t retransmit_mult;       /* lambda in lambda * ceil(log10(N+1)) */
    uint32_t awareness_max;         /* period multiplier ceiling, >= 1 */
    uint64_t reap_horizon_ms;       /* dead/left members kept this long */
} cara_swim_cfg;

/* Fills the timers with the LAN defaults (docs/gossip.md gives reasons);
 * `self` and `self_addr` are left to the caller. */
void cara_swim_cfg_lan(cara_swim_cfg *cfg);

/* ---- Events and statistics --------------------------------------------- */

enum cara_swim_event_kind {
    CARA_SWIM_EV_JOINED = 1,
    CARA_SWIM_EV_SUSPECT = 2,
    CARA_SWIM_EV_ALIVE_AGAIN = 3, /* a suspect refuted, or a dead one back */
    CARA_SWIM_EV_DEAD = 4,
    CARA_SWIM_EV_LEFT = 5,
    CARA_SWIM_EV_REAPED = 6,
};

typedef struct cara_swim_event {
    uint8_t kind;
    uint32_t incarnation;
    cara_swim_peer member;
} cara_swim_event;

typedef struct cara_swim_stats {
    uint64_t probes_sent_count;
    uint64_t acks_received_count;
    uint64_t indirect_probes_sent_count; /* ping-reqs sent */
    uint64_t relayed_pings_count;        /* pings sent for a ping-req */
    uint64_t nacks_received_count;
    uint64_t probes_failed_count;
    uint64_t suspicions_raised_count;    /* by our own failed probes */
    uint64_t refutations_count;          /* our incarnation raised */
    uint64_t false_suspicions_refuted_count; /* suspect -> alive seen */
    uint64_t deaths_declared_count;      /* by our own suspicion timer */
    uint64_t updates_piggybacked_count;  /* broadcast entries sent */
    uint64_t stale_count;     /* late acks, old incarnations: routine */
    uint64_t nonsense_count;  /* dropped peer input that cannot be right */
    uint64_t conflicts_count; /* same name, different key */
    uint64_t members_full_count;
    uint64_t broadcasts_evicted_count;
    uint64_t relays_full_count;
    uint64_t outbox_dropped_count;
    uint64_t events_dropped_count;
} cara_swim_stats;

/* ---- The object ---------------------------------------------------------- */

typedef struct cara_swim cara_swim;

/* Returns 0 and an owned object in *out, CARA_EINVAL for a bad config, or
 * CARA_ENOMEM. `env` is borrowed for the object's life; its rng must be
 * seeded differently in each node. */
int cara_swim_new(cara_swim **out, const cara_swim_cfg *cfg, cara_env *env);
void cara_swim_free(cara_swim *s);

/* Adds a seed member, believed alive at incarnation 0 until it speaks.
 * Returns 0, CARA_EEXIST if known, CARA_ELIMIT if the table is full, or
 * CARA_EINVAL for ourselves. */
int cara_swim_join(cara_swim *s, const cara_swim_peer *peer, uint64_t now_mono_ms);

/* Takes one decoded message from `from` (authenticated by the seal layer).
 * Returns 0; nonsense is dropped and counted, never an error. */
int cara_swim_recv(cara_swim *s, const cara_swim_id *from, const cara_swim_msg *msg,
                   uint64_t now_mono_ms);

/* Runs every timer due at `now_mono_ms`. Returns 0. */
int cara_swim_tick(cara_swim *s, uint64_t now_mono_ms);

/* The earliest time tick() has work, or UINT64_MAX for none. */
uint64_t cara_swim_next_deadline_ms(const cara_swim *s);

/* Returns 0 and the next message to send, or CARA_EAGAIN when none. */
int cara_swim_poll_send(cara_swim *s, cara_swim_peer *to, cara_swim_msg *msg);

/* Returns 0 and the next event, or CARA_EAGAIN when none. */
int cara_swim_poll_event(cara_swim *s, cara_swim_event *ev);

/* Sends a GOSSIP message to up to k (at most CARA_SWIM_INDIRECT_MAX) alive
 * members drawn at random, carrying the pending updates; with none pending
 * and `always` false, sends nothing. Returns how many were queued. This is
 * memberlist's gossip round (GossipInterval, GossipNodes): news spreads
 * every gossip interval instead of once per probe. */
size_t cara_swim_gossip(cara_swim *s, size_t k, bool always);
/* Updates waiting to be piggybacked. */
size_t cara_swim_pending(const cara_swim *s);

/* Leaves gracefully: broadcasts LEFT at our incarnation, sends it directly
 * to up to CARA_SWIM_LEAVE_NOTICES_MAX members, stops probing, and keeps
 * answering pings (with LEFT piggybacked) until the driver stops. */
int cara_swim_leave(cara_swim *s, uint64_t now_mono_ms);

/* Pings one member held DEAD (not LEFT), drawn at random, in case it is
 * alive on the far side of a partition that has healed: SWIM stops probing
 * the dead, so without this two sides that declared each other dead never
 * speak again (Serf's reconnect does the same for failed members). Returns
 * 1 when a ping was queued, 0 when no member is dead. */
int cara_swim_reconnect(cara_swim *s, uint64_t now_mono_ms);

/* ---- Queries ------------------------------------------------------------- */

/* Returns 0 with the state and incarnation of the named member (ourselves
 * included), or CARA_ENOENT. */
int cara_swim_member(const cara_swim *s, const char *name, size_t name_len, int *state,
                     uint32_t *incarnation);
size_t cara_swim_alive_count(const cara_swim *s);   /* ourselves included */
/* A 32-bit digest of the live members (alive or suspect, ourselves
 * included) and their incarnations: two nodes with one view have one
 * digest. Never 0. */
uint32_t cara_swim_digest(const cara_swim *s);
size_t cara_swim_suspect_count(const cara_swim *s);
uint32_t cara_swim_local_health(const cara_swim *s); /* 0 = healthy */
/* Probes in a row that got no ack, directly or through a relay, counting
 * each member once (a dead member probed twice in a row counts one). */
uint32_t cara_swim_probe_fail_streak(const cara_swim *s);
uint32_t cara_swim_incarnation(const cara_swim *s);
/* Current retransmissions per update: retransmit_mult * ceil(log10(N+1)). */
uint32_t cara_swim_retransmit_limit(const cara_swim *s);
const cara_swim_stats *cara_swim_get_stats(const cara_swim *s);
/* Calls fn for every known member other than ourselves (any state); stops
 * at fn's first non-zero return and returns it. */
int cara_swim_members_foreach(const cara_swim *s,
                              int (*fn)(void *ctx, const cara_swim_peer *p, int state,
                                        uint32_t incarnation),
                              void *ctx);
/* 0 with the named member's id and address, or CARA_ENOENT. */
int cara_swim_member_peer(const cara_swim *s, const char *name, size_t name_len,
                          cara_swim_peer *out);
/* Up to k (at most CARA_SWIM_INDIRECT_MAX) alive members other than
 * ourselves, drawn at random from env->rng; returns how many. */
size_t cara_swim_sample_alive(cara_swim *s, size_t k, cara_swim_peer *out);

/* Lifeguard's suspicion timeout after `confirmations` independent accusers
 * beyond the first, when `expected` of them pull it to the minimum:
 * max - (max - min) * log(c + 1) / log(expected + 1), never below min. */
uint64_t cara_swim_suspicion_timeout_ms(uint64_t min_ms, uint64_t max_ms, uint32_t confirmations,
                                        uint32_t expected);

/* The minimum suspicion timeout for `members_count` members:
 * suspicion_mult * max(1, log10 N) * probe_interval_ms. */
uint64_t cara_swim_suspicion_min_ms(uint32_t suspicion_mult, size_t members_count,
                                    uint32_t probe_interval_ms);

#endif
