/*
 * simnet's internals, shared by simnet.c (queue, network, clocks),
 * sim_node.c (the driver of one node object) and sim_store.c (its disk).
 * Nothing outside tests/sim/sim*.c includes this.
 */
#ifndef CARA_SIM_INT_H
#define CARA_SIM_INT_H

#include "core/core.h"
#include "simnet.h"

/* ---- The disk (sim_store.c) -------------------------------------------------- */

/* Envelopes are interned: a thousand nodes holding the same admission keep
 * one copy of its bytes. A blob is immutable and reference counted. */
typedef struct sim_blob {
    uint64_t hash;
    uint32_t refs;
    uint32_t len;
    struct sim_blob *next; /* the pool's chain */
    uint8_t bytes[];
} sim_blob;

typedef struct sim_pool sim_pool;
int sim_pool_new(sim_pool **out, cara_env *env);
void sim_pool_free(sim_pool *p);
sim_blob *sim_pool_get(sim_pool *p, const uint8_t *bytes, size_t len); /* a new reference */
void sim_pool_put(sim_pool *p, sim_blob *b);                           /* drops one */
size_t sim_pool_bytes(const sim_pool *p);

typedef struct sim_store sim_store;
int sim_store_new(sim_store **out, cara_env *env, sim_pool *pool, const sim_store_cfg *cfg,
                  uint64_t seed);
void sim_store_free(sim_store *st);
/* Writes one change of the feed (not yet durable). RESET rewrites the
 * whole state from `crdt`. */
int sim_store_write(sim_store *st, cara_crdt *crdt, const cara_crdt_change *c);
/* Makes every write durable. Calls stored(ctx, bytes, len) for each record
 * as it lands (after any corruption). Returns the records written. */
size_t sim_store_sync(sim_store *st, void (*stored)(void *ctx, const uint8_t *b, size_t len),
                      void *ctx);
bool sim_store_dirty(const sim_store *st);
/* A crash: unsynced writes are gone. Returns how many. */
size_t sim_store_crash(sim_store *st);
/* Rebuilds a state from the disk into `crdt` (empty): floors, then
 * operator kinds, then the rest, each through cara_crdt_apply_local as
 * the agent's store does. Returns the records refused. */
size_t sim_store_load(const sim_store *st, cara_crdt *crdt, int64_t now_wall_ms);
const uint8_t *sim_store_get(const sim_store *st, const uint8_t id[CARA_CRDT_ID_BYTES],
                             size_t *len);
int sim_store_foreach(const sim_store *st, int (*fn)(void *ctx, const uint8_t *b, size_t len),
                      void *ctx);
size_t sim_store_bytes(const sim_store *st);

/* What a node holds in memory, by slot (the crdt's change feed mirrored),
 * for a cheap fingerprint of its state: the sum over its records of a mix
 * of (slot id, envelope hash). Two nodes with the same records have the
 * same fingerprint; the checkers confirm with cara_crdt_state_hash, which
 * costs a sort and a hash of the whole state, before saying so. */
typedef struct sim_mirror sim_mirror;
int sim_mirror_new(sim_mirror **out, cara_env *env, sim_pool *pool);
void sim_mirror_free(sim_mirror *m);
/* PUT and DEL change it; floors are not part of the state hash. */
void sim_mirror_change(sim_mirror *m, const cara_crdt_change *c);
/* Starts again from the state's records (after a reset or a restart). */
void sim_mirror_reload(sim_mirror *m, const cara_crdt *crdt);
uint64_t sim_mirror_fp(const sim_mirror *m);
size_t sim_mirror_bytes(const sim_mirror *m);

/* ---- The runtime (sim_runtime.c) ------------------------------------------------- */

typedef struct sim_node sim_node;
typedef struct sim_runtime sim_runtime;
int sim_runtime_new(sim_runtime **out, sim_node *nd);
void sim_runtime_free(sim_runtime *rt);
/* A new life of the node: the runtime's generator is seeded again. */
void sim_runtime_start(sim_runtime *rt);
/* Takes a RUN (its spec is taken: act->spec is set NULL) or a DELETE. */
void sim_runtime_take(sim_runtime *rt, cara_core_action *act);
/* Carries out what is due by now (true time); reports go to the node's object. */
void sim_runtime_due(sim_runtime *rt);
/* The true time of its next step; SIM_NEVER when none. */
uint64_t sim_runtime_next_ms(const sim_runtime *rt);
/* The node crashed: every copy dies with it, and nothing is left. */
void sim_runtime_crash(sim_runtime *rt);

/* ---- A node ---------------------------------------------------------------------- */

struct sim_node {
    sim *s;
    size_t index;
    char name[24]; /* "n" and an index: room for any size_t, as -Wformat-truncation asks */
    uint8_t pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    cara_env env;
    cara_crdt *crdt;   /* while down: what the disk holds */
    cara_core *core;   /* the node object; NULL while down */
    cara_gossip *g;    /* the object's gossip (cara_core_gossip); NULL while down */
    sim_store *store;
    sim_mirror *mirror;
    uint32_t life;
    bool installed;    /* started once: later writes of the installer are the node's */
    /* Clocks: mono = anchor_mono + (true - anchor_true) * (1 + drift);
     * wall = wall_start + mono - SIM_MONO_START + wall_offset. */
    uint64_t anchor_true_ms, anchor_mono_ms;
    int32_t drift_ppm;
    int64_t wall_offset_ms;
    uint64_t paused_until_ms; /* 0: running */
    uint32_t paused_datagrams;
    uint64_t next_sync_mono_ms; /* SIM_SYNC_INTERVAL */
    /* Timers: the true time of the next deadline, and its place in the heap. */
    uint64_t deadline_ms;
    size_t heap_pos;
    uint64_t bytes_sent;
    bool hash_dirty;
    uint8_t hash[32];
    size_t *conns;     /* connection slots with an end here */
    size_t conns_count, conns_cap;
    sim_runtime *rt;   /* NULL unless the sim runs projects */
    uint64_t incarnation; /* durable, as the agent's store keeps it: survives crashes */
    int64_t majority_stamp_wall_ms; /* durable: the last majority this node saw (its wall clock) */
    uint64_t core_step_mono_ms; /* the object's next evaluation turn, at the soonest */
};

#define SIM_MONO_START 1000

/* Node driver (sim_node.c). */
int node_new(sim *s, size_t i, sim_node **out);
void node_free(sim_node *nd);
int node_start(sim_node *nd);
void node_crash(sim_node *nd);
uint64_t node_mono_at(const sim_node *nd, uint64_t true_ms);
int64_t node_wall_at(const sim_node *nd, uint64_t true_ms);
/* The first true time at which the node's monotonic clock reads mono_ms. */
uint64_t node_true_of_mono(const sim_node *nd, uint64_t mono_ms);
void node_set_drift(sim_node *nd, int32_t drift_ppm);
void node_input_datagram(sim_node *nd, const cara_gossip_addr *from, const uint8_t *b, size_t len);
int node_input_accept(sim_node *nd, uint32_t *sid);
void node_input_connected(sim_node *nd, uint32_t sid);
void node_input_stream(sim_node *nd, uint32_t sid, const uint8_t *b, size_t len);
void node_input_closed(sim_node *nd, uint32_t sid);
void node_tick(sim_node *nd);
/* Actions of the world on one node, each followed by the poll loop. */
int node_add_member(sim_node *nd, const char *name, const uint8_t pk[CARA_CRDT_PK_BYTES],
                    cara_gossip_addr addr);
size_t node_add_known_members(sim_node *nd);
int node_join(sim_node *nd, cara_gossip_addr seed, const uint8_t *proof, size_t proof_len);
int node_leave(sim_node *nd);
/* An installer writes a record into a node's state (up or down). */
int node_install(sim_node *nd, const uint8_t *envelope, size_t len);
/* The node accepts an envelope through its API and publishes it. */
int node_accept(sim_node *nd, const uint8_t *envelope, size_t len, uint32_t holders);
/* The node publishes bytes it did not accept (a hostile node). */
int node_relay(sim_node *nd, const uint8_t *envelope, size_t len);
/* Persists the state's changes, then hands everything the object has to
 * say to the network, as the agent's loop does after any input or timer. */
void node_drain(sim_node *nd);
/* The true time of the node's next timer (its object's or its disk's). */
uint64_t node_next_deadline(const sim_node *nd);
/* Takes the crdt's changes to the disk; syncs when the mode says so. */
void node_persist(sim_node *nd, bool before_send);

/* Network side, called by the driver (simnet.c). */
void net_datagram(sim *s, size_t from, const cara_gossip_addr *to, const uint8_t *b, size_t len);
void net_dial(sim *s, size_t from, uint32_t sid, const cara_gossip_addr *to);
void net_stream_write(sim *s, size_t from, uint32_t sid, const uint8_t *b, size_t len);
void net_stream_close(sim *s, size_t from, uint32_t sid);
void net_event(sim *s, size_t i, const cara_gossip_event *ev);
void net_change(sim *s, size_t i, const cara_crdt_change *c);
void net_stored(sim *s, size_t i, const uint8_t *b, size_t len);
void net_runtime(sim *s, size_t i, const char *project, uint64_t generation, bool running);
/* The node's deadline changed: reorders the timer heap. */
void net_refresh(sim *s, sim_node *nd);
/* The node's connections are gone (a crash). */
void net_node_down(sim *s, size_t i);

/* What the driver needs of the sim. */
sim_node *sim_node_at(sim *s, size_t i);
cara_env *sim_env(sim *s);
sim_pool *sim_blob_pool(sim *s);
sim_stats *sim_stats_mut(sim *s);
uint8_t *sim_dgram_buf(sim *s);
cara_buf *sim_segment_buf(sim *s);
const uint8_t *sim_op_pk(const sim *s);

#endif
