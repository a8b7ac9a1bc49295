/*
 * The node object: what one node decides about projects (DESIGN.md §5,
 * docs/core.md). Sans-IO: it reads the replicated state (cara_crdt) and
 * membership (cara_gossip, when the node gossips), takes the time as an
 * argument, and hands out actions; it never touches a socket, a disk, a
 * clock or a container. cara-agent drives it with SQLite, Docker and libuv
 * around it; it links into the core library, so the simulator can drive
 * the same object with simulated ones.
 *
 * What it decides, for every project it holds:
 *   - scheduling: whether this node is the project's scheduler (rendezvous
 *     hashing over the Ready nodes), and if so where the project goes, or
 *     that the placement it found is kept, or why it cannot be placed;
 *   - ownership: whether this node is the project's owner, and so whether
 *     the runtime must run generation G of it, or remove it;
 *   - expiry: a project whose expireAt passed is removed like a deleted one;
 *   - phases: the owner's runtime reports become its STATUS record, the
 *     scheduler's decisions its PLACEMENT record (docs/crdt.md, "One
 *     writer per record"); a forced delete of a project whose node is not
 *     Ready, and a deleted project never placed, end as Terminated;
 *   - readiness: a node is Ready when membership says so, never because
 *     its own record says it (DESIGN.md §4).
 *
 * Inputs: cara_core_record_changed (a record the driver stored), gossip's
 * bytes and membership (below), cara_core_runtime_status
 * (the runtime's report for a project this node owns), cara_core_force_delete,
 * and cara_core_step at the time the driver chooses (cara_core_busy and
 * cara_core_next_deadline_wall_ms say when).
 * Outputs (cara_core_poll_action): RECORD (a record this node signed and
 * merged into the crdt: store it, then send it), RUN (hand generation G of
 * project P to the runtime), DELETE (remove P's objects).
 *
 * Ownership: cara_core_new returns an owned object freed by cara_core_free.
 * The crdt is borrowed for the core's life; keys are copied; the gossip
 * object is the core's own.
 */
#ifndef CARA_CORE_H
#define CARA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "crdt/crdt.h"
#include "gossip/gossip.h"
#include "sched/sched.h"
#include "spec/spec.h"

/* Events kept per project for `describe` (newest win). */
#define CARA_CORE_EVENTS_PER_PROJECT 16

typedef struct cara_core cara_core;

typedef struct cara_core_cfg {
    const char *name;                        /* this node's name (copied) */
    const uint8_t *node_pk;                  /* CARA_CRDT_PK_BYTES (copied) */
    const uint8_t *node_sk;                  /* CARA_CRDT_SK_BYTES (copied) */
    cara_crdt *crdt;                         /* borrowed */
    /* The last time this node saw a majority, as the driver stored it
     * (cara_core_fence_get's majority_wall_ms, kept durable); 0: unknown.
     * A node that comes back after more than the fence timeout stops
     * what it ran before anything else (docs/scheduling.md). */
    int64_t last_majority_wall_ms;
    /* Never fence. Only for showing, in the simulator, what fencing
     * prevents; no product path sets it. */
    bool fencing_disabled;
} cara_core_cfg;

/* The crdt's value check (cara_crdt_cfg.validate_value; ctx is a
 * cara_env): a value is accepted only if it decodes as its kind says and
 * describes the object its key names. */
int cara_core_validate_value(void *ctx, int kind, const uint8_t *key, size_t key_bytes,
                             const uint8_t *value, size_t len);

int cara_core_new(cara_core **out, const cara_core_cfg *cfg, cara_env *env);
void cara_core_free(cara_core *c); /* accepts NULL; frees actions not polled */

/* ---- Gossip ----------------------------------------------------------------------------
 * The node's gossip object (src/gossip/gossip.h: membership, dissemination,
 * anti-entropy) is made and owned by the core, over the core's crdt. The
 * driver moves its bytes and timers (cara_gossip_recv, _tick, _poll_send,
 * the stream calls) on the object cara_core_gossip returns, and takes its
 * events through cara_core_poll_gossip_event, which applies membership
 * changes to the core first. With gossip, a node other than this one is
 * Ready while membership holds it alive or suspect; without (a node on
 * its own), every admitted node with a record is. */

/* Makes the gossip object (cara_gossip_new with `cfg`) and tells it of
 * every member whose node record this node stored with a gossip address
 * (so a restarted node rejoins from what it knew). 0, CARA_EEXIST when
 * started already, or cara_gossip_new's error. */
int cara_core_gossip_start(cara_core *c, const cara_gossip_cfg *cfg, uint64_t now_mono_ms);
/* NULL before cara_core_gossip_start. */
cara_gossip *cara_core_gossip(cara_core *c);
/* 0 and the next gossip event (as cara_gossip_poll_event), after taking
 * membership events into account; CARA_EAGAIN when none is left. */
int cara_core_poll_gossip_event(cara_core *c, cara_gossip_event *ev);

/* ---- Inputs ---------------------------------------------------------------------------- */

/* A record of `kind` and `key` (a project, status, placement, admission,
 * join or node record) was stored: what depends on it is evaluated at the
 * next step. */
void cara_core_record_changed(cara_core *c, int kind, const char *key);
/* Records were removed (revocation, collection), or too many changed to
 * list: everything is looked at again. */
void cara_core_all_changed(cara_core *c);

/* Updates the fence (below), then evaluates what changed and whatever
 * expiry, grace or timeout is due. */
void cara_core_step(cara_core *c, uint64_t now_mono_ms, int64_t now_wall_ms);
/* True while something waits for a step. */
bool cara_core_busy(const cara_core *c);
/* The earliest expireAt, reschedule grace or Terminating timeout not yet
 * acted on (INT64_MAX: none): step then. */
int64_t cara_core_next_deadline_wall_ms(const cara_core *c);
/* When the fence is next to be looked at on the monotonic clock
 * (UINT64_MAX: nothing pending): step then. */
uint64_t cara_core_next_deadline_mono_ms(const cara_core *c);

/* ---- Self-fencing ------------------------------------------------------------------------
 * DESIGN.md §6, docs/scheduling.md. A node that gossips sees a majority
 * when more than half of the admitted nodes it knows (itself included)
 * are alive in its membership view and heard from in this life, and it
 * has heard from some member within the isolation window. Without a
 * majority for the cluster's fence timeout it is fenced: the runtime is
 * told to remove every project it runs (DELETE with force), its STATUS
 * says Fenced, it writes no placement. It runs projects again once it
 * sees a majority and an anti-entropy exchange has ended since (so it
 * knows whether it still owns them). A node without gossip is never
 * fenced. */
typedef struct cara_core_fence_state {
    bool majority;            /* sees a majority now */
    bool fenced;
    bool synced;              /* may run: an exchange ended since start or unfencing */
    size_t seen, known;       /* nodes seen (itself included) of those known */
    uint64_t lost_mono_ms;    /* when the majority was lost (0: seen) */
    int64_t majority_wall_ms; /* last seen; the driver keeps it durable */
} cara_core_fence_state;
void cara_core_fence_get(const cara_core *c, cara_core_fence_state *out);
/* True once the object knows what this node runs: it is fenced (nothing),
 * or it may run and has handed out its RUNs. A driver that restarted
 * leaves the runtime's objects alone until then, and afterwards removes
 * those of projects it was not handed (the agent's reconciler: "desired
 * set complete"): so a node back from a long absence removes its stale
 * copies before anything else, and one back from a short one keeps them. */
bool cara_core_settled(const cara_core *c);

/* The runtime's report on a project this node runs: an event when the
 * phase moved, and this node's STATUS record for the generation it was
 * handed. Reports on a project the state does not hold are ignored. */
void cara_core_runtime_status(cara_core *c, const char *project, const cara_project_status *st,
                              int64_t now_wall_ms);
/* `delete --force` of `project`, evaluated at once: the runtime removes
 * without a stop grace, and a scheduler does not wait for a node that is
 * not Ready (DESIGN.md §6). */
void cara_core_force_delete(cara_core *c, const char *project, int64_t now_wall_ms);

/* Signs a record of this node (kind, key, generation, value), stamps it
 * with the crdt's next HLC, merges it and queues it as a RECORD action.
 * *hlc (may be NULL) gets its HLC. 0, or the signer's or crdt's error. */
int cara_core_write_own(cara_core *c, int kind, const char *key, uint64_t generation,
                        const uint8_t *value, size_t value_bytes, int64_t now_wall_ms,
                        uint64_t *hlc);

/* ---- This node's own record ------------------------------------------------------------
 * What the node record says (host pressure, the engine, addresses) is the
 * driver's; when it is published, and under which generation, is the
 * object's. The generation is the node's incarnation: a counter the
 * driver keeps durable, above any record of this node's own the state
 * holds, so a clock set back cannot make a new record lose to an old one.
 * An older life's record of this node at or above the incarnation (held
 * by a peer, or restored from a backup) is refuted, as SWIM refutes: the
 * object asks for a higher incarnation (CARA_CORE_ACT_INCARNATION), and
 * the driver makes it durable, sets it and publishes again. */
void cara_core_set_incarnation(cara_core *c, uint64_t generation);
uint64_t cara_core_incarnation(const cara_core *c);
/* Writes this node's node record (value: cara_node_encode of it) under the
 * incarnation, as cara_core_write_own; the object knows it as its own
 * from then on. 0 or write_own's error. */
int cara_core_publish_node(cara_core *c, const uint8_t *value, size_t value_bytes,
                           int64_t now_wall_ms);

/* ---- Acknowledgements -------------------------------------------------------------------
 * An apply or delete is acknowledged once it is durable on this node and
 * on min(2, members) nodes in all (DESIGN.md §4); gossip counts the holders
 * (CARA_GOSSIP_EV_ACKED). Members that count: alive, suspect and dead (a
 * crashed node is a member expected back, and acknowledging on this node
 * alone because the others crashed would weaken the rule when it matters
 * most); members that left gracefully, or were reaped, do not. */
size_t cara_core_durable_members(const cara_core *c); /* this node included; 1 without gossip */
uint32_t cara_core_acks_wanted(const cara_core *c);    /* min(2, cara_core_durable_members) */

/* ---- Outputs --------------------------------------------------------------------------- */

enum cara_core_action_kind {
    CARA_CORE_ACT_RECORD = 1, /* store `record`, then send it to the cluster */
    CARA_CORE_ACT_RUN = 2,    /* the runtime runs `spec` (generation `generation`) */
    CARA_CORE_ACT_DELETE = 3, /* the runtime removes `project`'s objects */
    /* Make an incarnation of at least `generation` durable, set it
     * (cara_core_set_incarnation) and publish the node record: an older
     * record of this node's own is to be refuted. */
    CARA_CORE_ACT_INCARNATION = 4,
    /* Publish the node record (cara_core_publish_node): this node was just
     * admitted. */
    CARA_CORE_ACT_PUBLISH_NODE = 5,
};

typedef struct cara_core_action {
    int kind;
    char project[CARA_NAME_BYTES_MAX + 1]; /* RUN, DELETE */
    uint64_t generation;                   /* RUN, DELETE; INCARNATION: the least */
    bool force;                            /* DELETE: no stop grace */
    cara_project *spec;                    /* RUN: owned, taken by the caller */
    uint8_t *record;                       /* RECORD: owned by the action */
    size_t record_len;
} cara_core_action;

/* 0 and the oldest action, CARA_EAGAIN when none is left. Free each
 * polled action with cara_core_action_free (a RUN's spec may be taken
 * first: set it NULL). */
int cara_core_poll_action(cara_core *c, cara_core_action *out);
bool cara_core_actions_pending(const cara_core *c);
void cara_core_action_free(cara_core *c, cara_core_action *act);

/* ---- Queries ----------------------------------------------------------------------------- */

/* The node records as scheduling reads them: decoded once per change. */
typedef struct cara_core_nodes {
    cara_sched_node *items;
    cara_node **decoded;
    size_t count;
} cara_core_nodes;

/* NULL when out of memory. Valid until the next call into the core. */
const cara_core_nodes *cara_core_nodes_get(cara_core *c);
/* The operator's control of node `name` (its NODECTL record): cordoned
 * and draining, both false when there is none. The nodes view folds it
 * into `schedulable` and carries it as `cordoned` and `draining`. */
cara_node_control cara_core_node_control(const cara_core *c, const char *name);
/* Readiness as every reader takes it (scheduling, the API, `get nodes`). */
bool cara_core_node_ready(const cara_core *c, const char *name);

/* The status a project shows (docs/crdt.md, "One writer per record"):
 * owned *status, and the generation of the record it came from. 0 or
 * CARA_ENOENT. */
int cara_core_project_status(cara_core *c, const char *name, uint64_t generation,
                             cara_project_status **status, uint64_t *observed_generation);
/* Decodes the held spec (NULL if none, or a tombstone) and status (NULL if
 * none); *generation and *deleted describe the PROJECT slot. Caller frees. */
int cara_core_load_project(cara_core *c, const char *name, cara_project **spec,
                           cara_project_status **status, uint64_t *generation, bool *deleted);

typedef struct cara_core_event {
    int64_t time_wall_ms; /* when it happened, on this node's wall clock */
    char type[16];        /* Normal, Warning */
    char reason[CARA_REASON_BYTES_MAX];
    char message[CARA_MESSAGE_BYTES_MAX];
} cara_core_event;

/* Copies up to `max` of the project's events, oldest first; returns how
 * many. */
size_t cara_core_events_get(const cara_core *c, const char *project, cara_core_event *out,
                            size_t max);

typedef struct cara_core_stats {
    uint64_t evaluations;   /* projects evaluated */
    uint64_t status_writes; /* STATUS and PLACEMENT records written */
    uint64_t runs, deletes; /* actions handed out */
    uint64_t projects_known; /* projects this node keeps local data for */
    uint64_t handoffs_waiting; /* starts waiting for another node to say its copy is gone */
} cara_core_stats;
void cara_core_stats_get(const cara_core *c, cara_core_stats *out);

#endif
