/*
 * simnet: a whole gossip cluster in one deterministic process (the seed of
 * cara-sim, DESIGN.md §8). N cara_gossip node objects, each with its own
 * cara_crdt, cara_env (a seeded rng and the simulated clock) and key pair,
 * are driven exactly as cara-agent drives one: datagrams in and out,
 * streams dialled, accepted, written, closed, timers run at
 * next_deadline. Nothing here reads a clock, opens a socket or draws from
 * the OS: one seed replays a run byte for byte, and the harness links
 * against the core library alone (scripts/check-core.sh's rule).
 *
 * The network:
 *   - datagrams: per-link latency (uniform in [min, max]), loss,
 *     duplication, and reordering (a datagram held back by up to
 *     reorder_extra_ms, so later ones overtake it); one-way or symmetric
 *     partitions; a datagram sent over a cut link is lost.
 *   - streams: in-order byte pipes with the link's latency and a bandwidth,
 *     cut into segments of random size (so the node reassembles frames
 *     across reads). A dial over a cut link, or to a node that is down, is
 *     refused (the dialler gets stream_closed). A partition breaks every
 *     open stream that crosses it: both live ends get stream_closed at
 *     once and bytes still in flight are lost. A crashed node's streams are
 *     left dangling, as TCP leaves them: the peer's idle timeout ends them.
 *   - one event queue for the whole cluster, ordered by time then by the
 *     order of scheduling; ties between a delivery and a timer go to the
 *     delivery, ties between timers to the lowest node index.
 *
 * Ownership: sim_new returns an owned object freed by sim_free; it owns
 * every node's gossip object and crdt. The cara_env in sim_cfg (allocator
 * only) is borrowed for the sim's life. Every other pointer is borrowed for
 * the call unless said otherwise.
 */
#ifndef CARA_SIM_SIMNET_H
#define CARA_SIM_SIMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "crdt/crdt.h"
#include "gossip/gossip.h"

#define SIM_NODES_MAX 64
#define SIM_NEVER UINT64_MAX
/* Millionths: loss, duplication and reordering rates. */
#define SIM_PPM 1000000u

typedef struct sim_link_cfg {
    uint32_t latency_min_ms, latency_max_ms;
    uint32_t loss_ppm;          /* datagrams lost */
    uint32_t dup_ppm;           /* datagrams delivered twice */
    uint32_t reorder_ppm;       /* datagrams held back ... */
    uint32_t reorder_extra_ms;  /* ... by up to this much more */
    uint32_t stream_bytes_per_ms; /* stream bandwidth; 0: unlimited */
} sim_link_cfg;

typedef struct sim_cfg {
    size_t nodes_count;        /* 1..SIM_NODES_MAX */
    uint64_t seed;
    sim_link_cfg link;         /* every link starts with this */
    cara_gossip_cfg gossip;    /* timers for every node; name, keys, addr, epoch are set here */
    int64_t wall_start_ms;     /* 0: 2026-09-21 */
    cara_env *env;             /* borrowed: allocator for the harness itself */
} sim_cfg;

/* What the harness saw, cluster-wide. */
typedef struct sim_stats {
    uint64_t datagrams_sent, datagrams_delivered;
    uint64_t datagrams_lost, datagrams_cut, datagrams_to_down, datagrams_duplicated,
        datagrams_reordered, datagrams_unroutable, datagrams_oversized;
    size_t datagram_bytes_max; /* the largest datagram any node sent */
    uint64_t dials, dials_refused, streams_broken, stream_bytes, stream_segments;
    uint64_t ticks, deliveries, events;
    uint64_t late_deadlines; /* a tick left its own deadline at or before now */
} sim_stats;

typedef struct sim sim;

/* Taps: `on_datagram` sees every datagram a node sends (before the network
 * decides its fate; from and to are node indices, to = -1 when the address
 * names no node) and returns false to drop it. `on_event` sees every event
 * a node reports. Both may be NULL; neither may call back into the sim
 * except its queries. */
typedef bool (*sim_datagram_fn)(void *ctx, sim *s, int from, int to, const uint8_t *bytes,
                                size_t len);
typedef void (*sim_event_fn)(void *ctx, sim *s, int node, const cara_gossip_event *ev);

/* Returns 0 and an owned sim with every node stopped and no admission
 * applied anywhere, CARA_EINVAL or CARA_ENOMEM. */
int sim_new(sim **out, const sim_cfg *cfg);
void sim_free(sim *s); /* accepts NULL */
void sim_set_taps(sim *s, sim_datagram_fn on_datagram, sim_event_fn on_event, void *ctx);
void *sim_tap_ctx(const sim *s);

/* ---- Identities and admission ---------------------------------------------- */

size_t sim_nodes_count(const sim *s);
const char *sim_name(const sim *s, size_t i);          /* "n00", "n01", ... */
const uint8_t *sim_pk(const sim *s, size_t i);
const uint8_t *sim_sk(const sim *s, size_t i);
const uint8_t *sim_operator_pk(const sim *s);
const uint8_t *sim_operator_sk(const sim *s);
cara_gossip_addr sim_addr(size_t i);                   /* 100.64.0.(i+1):7946 */
int sim_node_of_addr(const cara_gossip_addr *a);       /* -1: no node */

/* Signs the operator's admission of node `i` (generation 1) and appends
 * its envelope to `out`. */
int sim_admission(sim *s, size_t i, bool admitted, cara_buf *out);
/* Applies the admission of node `subject` to node `at`'s crdt. */
int sim_admit_at(sim *s, size_t at, size_t subject);
/* Every node's admission applied at every node. */
int sim_admit_all(sim *s);

/* ---- Node life ----------------------------------------------------------------- */

/* Starts node i: a new gossip object over its crdt (kept across crashes),
 * with epoch = its life count (1, 2, ...). Returns 0 or the object's error. */
int sim_start(sim *s, size_t i);
/* Stops driving node i and frees its object; its crdt stays, as a store
 * would. Traffic to it is dropped from now on. */
void sim_crash(sim *s, size_t i);
bool sim_up(const sim *s, size_t i);
uint32_t sim_life(const sim *s, size_t i);
/* Tells node i of member j (cara_gossip_add_member, as after a restart). */
int sim_add_member(sim *s, size_t i, size_t j);
/* Node i joins through node j's address (cara_gossip_join). */
int sim_join(sim *s, size_t i, size_t seed, const uint8_t *proof, size_t proof_len);
/* Admits every node everywhere, starts every node, and has each node but
 * node 0 add node 0 as a member. */
int sim_boot(sim *s);

/* ---- Records --------------------------------------------------------------------- */

/* Node i accepts a record the operator signed (kind, key, generation,
 * value) stamped with its crdt's next HLC, merges it, and publishes it.
 * The envelope is appended to `out` when not NULL. */
int sim_publish(sim *s, size_t i, int kind, const char *key, uint64_t generation,
                const void *value, size_t value_bytes, bool want_ack, cara_buf *out);

/* ---- The network ----------------------------------------------------------------- */

sim_link_cfg *sim_link(sim *s, size_t from, size_t to);
/* Cuts (or heals) the direction from -> to; breaks streams that cross it. */
void sim_cut(sim *s, size_t from, size_t to, bool cut);
/* Cuts both directions between i and j. */
void sim_partition_pair(sim *s, size_t i, size_t j, bool cut);
/* Cuts node i off from every other node (both ways), or heals it. */
void sim_isolate(sim *s, size_t i, bool cut);
/* Puts nodes with side[k] != side[l] on opposite sides of a partition. */
void sim_split(sim *s, const int *side);
void sim_heal_all(sim *s);
/* Delivers `bytes` to node `to` as a datagram from `from` after delay_ms,
 * whatever the links say (an attacker on the overlay). The bytes are copied. */
int sim_inject(sim *s, size_t to, const cara_gossip_addr *from, const uint8_t *bytes,
               size_t len, uint64_t delay_ms);

/* ---- Hostile streams ---------------------------------------------------------------
 * A party outside the cluster (no node, no key of the sim's) connected to
 * a node: the node accepts the connection at once; the bytes the party
 * sends are delivered in one piece after a delay, whatever the links say;
 * what the node writes back is kept for the test to read (up to
 * SIM_OUTSIDE_KEEP_BYTES, counted beyond: a party that never reads). */
#define SIM_OUTSIDE_MAX 128
#define SIM_OUTSIDE_KEEP_BYTES (256 * 1024)

/* Connects to node `to`: 0 and a handle (0..SIM_OUTSIDE_MAX-1), the
 * node's CARA_ELIMIT when it refuses the stream, CARA_EINVAL when it is
 * down, CARA_ELIMIT when the harness's own table is full. */
int sim_outside_connect(sim *s, size_t to, int *handle);
/* The party writes `bytes` (copied), arriving after delay_ms. */
int sim_outside_send(sim *s, int handle, const uint8_t *bytes, size_t len, uint64_t delay_ms);
/* What the node wrote to the party so far: the first bytes kept, and the
 * total written. */
const uint8_t *sim_outside_received(const sim *s, int handle, size_t *kept, uint64_t *total);
/* True while the node still holds its end (it has not closed it). */
bool sim_outside_open(const sim *s, int handle);
/* The party closes its end: the node hears of it at once. */
void sim_outside_close(sim *s, int handle);

/* ---- Running ------------------------------------------------------------------------ */

uint64_t sim_now(const sim *s);
int64_t sim_wall(const sim *s, size_t i);
void sim_set_skew(sim *s, size_t i, int64_t skew_ms);
/* Runs every delivery and timer due up to `until_ms`, then sets now to it. */
void sim_run_until(sim *s, uint64_t until_ms);
void sim_run_for(sim *s, uint64_t duration_ms);
/* Runs until cond() holds, checked every step_ms, or until deadline_ms.
 * Returns true with now at the first check where it held. */
bool sim_run_until_cond(sim *s, uint64_t deadline_ms, uint64_t step_ms,
                        bool (*cond)(sim *s, void *ctx), void *ctx);

/* ---- Queries --------------------------------------------------------------------- */

cara_gossip *sim_gossip(sim *s, size_t i); /* NULL when down */
cara_crdt *sim_crdt(sim *s, size_t i);
void sim_stats_get(const sim *s, sim_stats *out);
/* A hash of everything observable that happened: every datagram sent
 * (time, ends, bytes), every stream segment, every event. Same seed, same
 * hash. */
uint64_t sim_trace_hash(const sim *s);
/* True when every node that is up has the same cara_crdt_state_hash. */
bool sim_converged(const sim *s);
/* The state of `subject` as `observer` holds it (CARA_GOSSIP_*), 0 if
 * unknown or observer down. */
int sim_member_state(sim *s, size_t observer, size_t subject);

#endif
