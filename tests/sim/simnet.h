/*
 * simnet: a whole gossip cluster in one deterministic process (the world of
 * cara-sim, DESIGN.md §8, docs/sim.md). N cara_gossip node objects, each
 * with its own cara_crdt, cara_env (a seeded rng and its own simulated
 * clocks), key pair and simulated disk, are driven exactly as cara-agent
 * drives one: datagrams in and out, streams dialled, accepted, written,
 * closed, timers run at next_deadline, the crdt's change feed written to
 * the disk and synced before anything is sent. Nothing here reads a clock,
 * opens a socket or draws from the OS: one seed replays a run byte for
 * byte, and the harness links against the core library alone
 * (scripts/check-core.sh's rule).
 *
 * The parts:
 *   - simnet.c: the event queue, the network and the clocks of the hosts;
 *   - sim_node.c: the driver of one node object (start, input, timers, the
 *     poll loop, restart from the disk). It is the one place that drives
 *     the node object;
 *   - sim_runtime.c: the container runtime of each node, which takes the
 *     object's RUN and DELETE actions and reports back to it;
 *   - sim_store.c: the disk of each node.
 *
 * The network:
 *   - datagrams: per-link latency drawn from a distribution (uniform,
 *     normal, exponential, log-normal or Pareto, each clamped to [min,
 *     max]), loss, duplication, and reordering (a datagram held back by up
 *     to reorder_extra_ms, so later ones overtake it); packet chaos on top
 *     of every link; one-way or symmetric partitions; a datagram sent over
 *     a cut or down link is lost.
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
 * The hosts:
 *   - clocks: each node has a monotonic and a wall clock. Both run at the
 *     true rate times (1 + drift); the wall clock also has an offset (skew)
 *     that a jump changes at once. The node object only ever sees them as
 *     arguments.
 *   - pauses: a paused node is not driven (no timer, no input): what
 *     arrives waits, as in a socket buffer (datagrams beyond
 *     SIM_PAUSE_DATAGRAMS_MAX are lost), and everything runs when it
 *     resumes, late.
 *   - disks: see sim_store.c; a crash loses what was not synced and the
 *     restarted node rebuilds its state from what was.
 *
 * Ownership: sim_new returns an owned object freed by sim_free; it owns
 * every node's gossip object, crdt and disk. The cara_env in sim_cfg
 * (allocator only) is borrowed for the sim's life. Every other pointer is
 * borrowed for the call unless said otherwise.
 */
#ifndef CARA_SIM_SIMNET_H
#define CARA_SIM_SIMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "core/core.h"
#include "crdt/crdt.h"
#include "gossip/gossip.h"

/* As many nodes as a cluster can admit (CARA_CRDT_NODES_MAX): a sim of
 * more would only measure refusals. */
#define SIM_NODES_MAX CARA_CRDT_NODES_MAX
#define SIM_NEVER UINT64_MAX
/* Millionths: loss, duplication and reordering rates, drift. */
#define SIM_PPM 1000000u
/* Datagrams held for a paused node (about a 1.5 MB socket buffer). */
#define SIM_PAUSE_DATAGRAMS_MAX 1024
/* Link classes: links sharing a configuration share one entry. */
#define SIM_LINK_CLASSES_MAX 255

enum sim_latency_dist {
    SIM_LAT_UNIFORM = 0, /* [min, max] */
    SIM_LAT_NORMAL,      /* mean, sd */
    SIM_LAT_EXPONENTIAL, /* min + Exp(mean - min) */
    SIM_LAT_LOGNORMAL,   /* median = mean, sigma = shape / 1000 */
    SIM_LAT_PARETO,      /* scale = min, alpha = shape / 1000: a heavy tail */
    SIM_LAT_COUNT_
};
const char *sim_latency_dist_name(int dist);
int sim_latency_dist_of(const char *name); /* -1: unknown */

typedef struct sim_link_cfg {
    uint32_t latency_min_ms, latency_max_ms; /* every draw is clamped to these */
    uint8_t latency_dist;       /* enum sim_latency_dist */
    uint32_t latency_mean_ms;   /* normal, exponential: mean; log-normal: median */
    uint32_t latency_sd_ms;     /* normal */
    uint32_t latency_shape_milli; /* log-normal sigma, Pareto alpha; x 1000 */
    uint32_t loss_ppm;          /* datagrams lost */
    uint32_t dup_ppm;           /* datagrams delivered twice */
    uint32_t reorder_ppm;       /* datagrams held back ... */
    uint32_t reorder_extra_ms;  /* ... by up to this much more */
    uint32_t stream_bytes_per_ms; /* stream bandwidth; 0: unlimited */
    bool down;                  /* a dead link: nothing passes, streams are refused */
} sim_link_cfg;

/* Packet chaos: added to every link while set. */
typedef struct sim_chaos {
    uint32_t loss_ppm, dup_ppm, reorder_ppm, reorder_extra_ms;
    uint32_t spike_ppm;         /* datagrams and stream writes delayed by ... */
    uint32_t spike_ms;          /* ... up to this much more */
} sim_chaos;

/* How a node's disk makes writes durable (sim_store.c). */
enum sim_sync_mode {
    SIM_SYNC_BEFORE_SEND = 0, /* the node object's contract: synced before anything is sent */
    SIM_SYNC_INTERVAL,        /* group commit every sync_interval_ms: sends run ahead */
    SIM_SYNC_NEVER,           /* only what was installed before the first start survives */
};

typedef struct sim_store_cfg {
    uint8_t sync;              /* enum sim_sync_mode */
    uint32_t sync_interval_ms; /* SIM_SYNC_INTERVAL */
    uint32_t corrupt_ppm;      /* each record synced has one bit flipped (bit rot) */
} sim_store_cfg;

/* The simulated container runtime of each node (sim_runtime.c): the
 * agent's reconciler and its Docker engine in one. It takes the node
 * object's RUN and DELETE actions and answers through
 * cara_core_runtime_status once the work is done. */
typedef struct sim_runtime_cfg {
    sim_link_cfg start_latency;  /* its latency fields only: how long a start takes */
    sim_link_cfg stop_latency;   /* and a stop (a forced one takes the minimum) */
    uint32_t pull_fail_ppm;      /* a start fails (an image pull): Failed, retried with back-off */
    uint32_t exit_ppm;           /* a started copy exits by itself later, and is restarted */
    uint64_t exit_after_min_ms, exit_after_max_ms; /* when, after it started */
} sim_runtime_cfg;

typedef struct sim_cfg {
    size_t nodes_count;        /* 1..SIM_NODES_MAX: every node that may ever exist */
    uint64_t seed;
    sim_link_cfg link;         /* every link starts with this */
    cara_gossip_cfg gossip;    /* timers for every node; name, keys, addr, epoch are set here */
    sim_store_cfg store;
    int64_t wall_start_ms;     /* 0: 2026-09-21 */
    cara_env *env;             /* borrowed: allocator for the harness itself */
    /* Nodes as the agent runs them: each crdt checks values as the
     * agent's does (cara_core_validate_value), each node publishes its
     * node record, and a simulated runtime carries out RUN and DELETE.
     * Off: values are opaque bytes and nothing is scheduled (the unit
     * tests of the harness). */
    bool projects;
    bool fencing_off; /* node objects never fence (only to show what fencing prevents) */
    sim_runtime_cfg runtime;
} sim_cfg;

/* What the harness saw, cluster-wide. */
typedef struct sim_stats {
    uint64_t datagrams_sent, datagrams_delivered;
    uint64_t datagrams_lost, datagrams_cut, datagrams_to_down, datagrams_duplicated,
        datagrams_reordered, datagrams_unroutable, datagrams_oversized, datagrams_paused_lost;
    uint64_t datagram_bytes;
    size_t datagram_bytes_max; /* the largest datagram any node sent */
    uint64_t dials, dials_refused, streams_broken, stream_bytes, stream_segments;
    uint64_t ticks, deliveries, events, changes;
    uint64_t late_deadlines; /* a tick left its own deadline at or before now */
    uint64_t syncs, writes_lost, records_corrupted, restarts, restart_records_refused;
    /* The simulated runtimes: actions taken, starts done, image pulls
     * failed, copies that exited by themselves, copies gone with a crash. */
    uint64_t rt_runs, rt_deletes, rt_starts, rt_pull_failures, rt_exits, rt_crash_kills;
    uint64_t node_publishes;
} sim_stats;

typedef struct sim sim;

/* Taps: `on_datagram` sees every datagram a node sends (before the network
 * decides its fate; from and to are node indices, to = -1 when the address
 * names no node) and returns false to drop it. `on_event` sees every event
 * a node reports. `on_change` sees every change of a node's state as its
 * driver takes it from the crdt's change feed (before it is written to
 * disk). `on_stored` sees every record envelope as it lands on a node's
 * disk at a sync, as stored (a corrupted write included). Any may be
 * NULL; none may call back into the sim except its queries. */
typedef bool (*sim_datagram_fn)(void *ctx, sim *s, int from, int to, const uint8_t *bytes,
                                size_t len);
typedef void (*sim_event_fn)(void *ctx, sim *s, int node, const cara_gossip_event *ev);
typedef void (*sim_change_fn)(void *ctx, sim *s, int node, const cara_crdt_change *c);
typedef void (*sim_stored_fn)(void *ctx, sim *s, int node, const uint8_t *bytes, size_t len);
/* A copy of `project` (generation `generation`) starts or stops running in
 * node's simulated runtime (a crash stops every copy of the node). */
typedef void (*sim_runtime_fn)(void *ctx, sim *s, int node, const char *project,
                               uint64_t generation, bool running);

typedef struct sim_taps {
    sim_datagram_fn on_datagram;
    sim_event_fn on_event;
    sim_change_fn on_change;
    sim_stored_fn on_stored;
    sim_runtime_fn on_runtime;
    void *ctx;
} sim_taps;

/* Returns 0 and an owned sim with every node stopped and no admission
 * applied anywhere, CARA_EINVAL or CARA_ENOMEM. */
int sim_new(sim **out, const sim_cfg *cfg);
void sim_free(sim *s); /* accepts NULL */
void sim_set_taps(sim *s, sim_datagram_fn on_datagram, sim_event_fn on_event, void *ctx);
void sim_set_taps_all(sim *s, const sim_taps *taps);
void *sim_tap_ctx(const sim *s);
const sim_cfg *sim_config(const sim *s);

/* ---- Identities and admission ---------------------------------------------- */

size_t sim_nodes_count(const sim *s);
const char *sim_name(const sim *s, size_t i);          /* "n00", "n01", ... */
const uint8_t *sim_pk(const sim *s, size_t i);
const uint8_t *sim_sk(const sim *s, size_t i);
const uint8_t *sim_operator_pk(const sim *s);
const uint8_t *sim_operator_sk(const sim *s);
cara_gossip_addr sim_addr(size_t i);                   /* 100.64.x.y:7946, x.y = i + 1 */
int sim_node_of_addr(const cara_gossip_addr *a);       /* -1: no node of any sim */
/* The node named `name`, or -1. */
int sim_node_of_name(const sim *s, const char *name, size_t name_len);

/* Signs the operator's admission of node `i` (generation 1; a revocation
 * generation 2) and appends its envelope to `out`. */
int sim_admission(sim *s, size_t i, bool admitted, cara_buf *out);
/* Applies the admission of node `subject` to node `at`'s state (up or
 * down: a down node's disk, as an installer would write it). */
int sim_admit_at(sim *s, size_t at, size_t subject);
/* Every node's admission applied at every node. Each admission is signed
 * once. */
int sim_admit_all(sim *s);
/* The first `count` nodes' admissions at each of them. */
int sim_admit_first(sim *s, size_t count);

/* ---- Node life ----------------------------------------------------------------- */

/* Starts node i: a new gossip object over its state as its disk holds it,
 * with epoch = its life count (1, 2, ...). Returns 0 or the object's error. */
int sim_start(sim *s, size_t i);
/* Stops driving node i and frees its object; what its disk did not sync is
 * lost, and its state is rebuilt from the disk (sim_crdt shows what a
 * restart will find). Traffic to it is dropped from now on. */
void sim_crash(sim *s, size_t i);
bool sim_up(const sim *s, size_t i);
uint32_t sim_life(const sim *s, size_t i);
/* Tells node i of member j (cara_gossip_add_member, as after a restart). */
int sim_add_member(sim *s, size_t i, size_t j);
/* Tells node i of every node its state admits (what the agent does with
 * the node records in its store after a restart). Returns how many. */
size_t sim_add_known_members(sim *s, size_t i);
/* Node i joins through node j's address (cara_gossip_join). */
int sim_join(sim *s, size_t i, size_t seed, const uint8_t *proof, size_t proof_len);
/* Node i leaves gracefully (cara_gossip_leave); it is still driven until
 * sim_crash stops it. */
int sim_leave(sim *s, size_t i);
/* Admits every node everywhere, starts every node, and has each node but
 * node 0 add node 0 as a member. */
int sim_boot(sim *s);

/* Pauses node i until until_ms (true time): it is not driven meanwhile. */
void sim_pause(sim *s, size_t i, uint64_t until_ms);
void sim_resume(sim *s, size_t i);
bool sim_paused(const sim *s, size_t i);

/* ---- Clocks ---------------------------------------------------------------------- */

uint64_t sim_now(const sim *s);                 /* true time, ms */
int64_t sim_true_wall(const sim *s);            /* the true wall clock, Unix ms */
uint64_t sim_mono(const sim *s, size_t i);      /* node i's monotonic clock */
int64_t sim_wall(const sim *s, size_t i);       /* node i's wall clock */
/* Sets node i's wall clock to true wall time + skew_ms from now on. */
void sim_set_skew(sim *s, size_t i, int64_t skew_ms);
int64_t sim_skew(const sim *s, size_t i);       /* node wall - true wall, now */
/* Steps node i's wall clock by delta_ms (an NTP step or an operator's date). */
void sim_clock_jump(sim *s, size_t i, int64_t delta_ms);
/* Both of node i's clocks run at (1 + drift_ppm / 10^6) of the true rate. */
void sim_set_drift(sim *s, size_t i, int32_t drift_ppm);
int32_t sim_drift(const sim *s, size_t i);

/* ---- Records --------------------------------------------------------------------- */

/* Node i accepts a record the operator signed (kind, key, generation,
 * value) stamped with its crdt's next HLC, merges it, and publishes it.
 * The envelope is appended to `out` when not NULL. */
int sim_publish(sim *s, size_t i, int kind, const char *key, uint64_t generation,
                const void *value, size_t value_bytes, bool want_ack, cara_buf *out);
/* Node i accepts an envelope signed elsewhere (the operator's CLI) with
 * cara_crdt_apply_local and publishes it wanting `holders` holders
 * (0 or 1: no acknowledgement). */
int sim_accept(sim *s, size_t i, const uint8_t *envelope, size_t len, uint32_t holders);
/* Node i publishes bytes it did not accept (a hostile node relaying). */
int sim_relay(sim *s, size_t i, const uint8_t *envelope, size_t len);

/* ---- The network ----------------------------------------------------------------- */

/* The link from -> to (a copy); every later change goes through sim_link_set. */
sim_link_cfg sim_link(const sim *s, size_t from, size_t to);
/* Sets the link from -> to. CARA_ELIMIT when SIM_LINK_CLASSES_MAX
 * distinct configurations are in use. */
int sim_link_set(sim *s, size_t from, size_t to, const sim_link_cfg *cfg);
void sim_set_chaos(sim *s, const sim_chaos *chaos); /* NULL: none */
/* One latency drawn for the link from -> to, as a datagram would get it
 * (it takes from the network's generator: for tests of the distributions). */
uint64_t sim_latency_draw(sim *s, size_t from, size_t to);
/* Cuts (or heals) the direction from -> to; breaks streams that cross it. */
void sim_cut(sim *s, size_t from, size_t to, bool cut);
bool sim_is_cut(const sim *s, size_t from, size_t to);
/* How many cut directions touch node i (from it or to it). */
size_t sim_cuts_of(const sim *s, size_t i);
/* Sets one direction without breaking streams yet: for many changes at
 * once, followed by sim_break_cut_streams. */
void sim_cut_quiet(sim *s, size_t from, size_t to, bool cut);
/* Breaks every open stream that crosses a cut. */
void sim_break_cut_streams(sim *s);
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
/* Node i's state hash, recomputed only when its state changed. */
void sim_state_hash(sim *s, size_t i, uint8_t out[32]);
/* A 64-bit fingerprint of node i's records, kept up to date change by
 * change (sim_store.c): equal states have equal fingerprints; different
 * ones almost surely differ. For sampling; confirm with sim_state_hash. */
uint64_t sim_state_fp(const sim *s, size_t i);
void sim_stats_get(const sim *s, sim_stats *out);
/* Bytes node i sent (datagrams and streams) over all its lives. */
uint64_t sim_bytes_sent(const sim *s, size_t i);
/* A hash of everything observable that happened: every datagram sent
 * (time, ends, bytes), every stream segment, every event. Same seed, same
 * hash. */
uint64_t sim_trace_hash(const sim *s);
/* Mixes a value into the trace hash (the world's own events). */
void sim_trace_mix(sim *s, uint64_t v);
/* True when every node that is up has the same cara_crdt_state_hash. */
bool sim_converged(sim *s);
/* The state of `subject` as `observer` holds it (CARA_GOSSIP_*), 0 if
 * unknown or observer down. */
int sim_member_state(sim *s, size_t observer, size_t subject);

/* Node i's disk: the envelope of the synced record in slot `id`, or NULL. */
const uint8_t *sim_disk_get(const sim *s, size_t i, const uint8_t id[CARA_CRDT_ID_BYTES],
                            size_t *len);
/* Calls fn for every synced record on node i's disk; stops at non-zero. */
int sim_disk_foreach(const sim *s, size_t i,
                     int (*fn)(void *ctx, const uint8_t *bytes, size_t len), void *ctx);
/* Makes room for one more element of a growable array of `count` elements
 * of elem_bytes: doubles *cap (first_cap the first time) when full.
 * Returns the array, moved or not; asserts when memory runs out (the
 * harness has no use for half a world). */
void *sim_grow(cara_env *env, void *array, size_t count, size_t *cap, size_t elem_bytes,
               size_t first_cap);

/* ---- The simulated runtimes (sim_runtime.c) ------------------------------------- */

/* Whether node i's runtime runs a copy of `project`, and its generation. */
bool sim_runtime_runs(const sim *s, size_t i, const char *project, uint64_t *generation);
/* Copies node i's runtime runs. */
size_t sim_runtime_running(const sim *s, size_t i);
/* True while node i's runtime has work in flight (a start, a stop, a
 * restart or a retry waiting): its reports are not all in. */
bool sim_runtime_busy(const sim *s, size_t i);
/* Node i's node object, NULL while down: for the checkers' queries
 * (cara_core_nodes_get, cara_core_project_status) only. */
cara_core *sim_core(sim *s, size_t i);
/* One draw from the latency fields of `l`, clamped to [min, max]. */
uint64_t sim_draw_ms(cara_rng *rng, const sim_link_cfg *l);

/* Memory held by the harness itself (queues, disks, tables), in bytes. */
size_t sim_harness_bytes(const sim *s);

#endif
