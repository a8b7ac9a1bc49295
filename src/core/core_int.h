/* Internals of the node object shared by core*.c; no other module includes it. */
#ifndef CARA_CORE_INT_H
#define CARA_CORE_INT_H

#include "core/core.h"

/* Self-fencing (core_fence.c, docs/scheduling.md). */
typedef struct core_fence {
    bool started;          /* the first step took the stored stamp into account */
    bool disabled;         /* cfg: never fence (a test of what fencing prevents) */
    bool majority;         /* this node sees a majority of the nodes it knows */
    bool fenced;           /* no majority for the fence timeout: projects stopped */
    bool synced;           /* an anti-entropy exchange ended since start or since unfencing */
    bool sync_event;       /* a SYNCED event waits for the next step */
    /* Distinct members an exchange ended with since the majority was
     * lost (or since start): core_fence.c, CORE_REGAIN_CONTACTS. */
    char synced_with[5][CARA_NAME_BYTES_MAX + 1];
    size_t synced_with_count;
    size_t seen, known;
    uint64_t lost_mono_ms; /* when the majority was lost; 0 while seen */
    uint64_t sync_asked_mono_ms;
    uint64_t newest_contact_mono_ms; /* the latest contact with any member */
    int64_t majority_wall_ms; /* the last time a majority was seen; 0: never known */
    int64_t epoch_wall_ms;    /* this life's start, or the last return of the majority */
} core_fence;

/* What this node keeps about one project, beyond the replicated state. */
typedef struct core_project {
    char name[CARA_NAME_BYTES_MAX + 1];
    uint64_t owned_generation; /* spec generation handed to the runtime; 0: none */
    bool owned_deleting;       /* the runtime was told to delete */
    bool force_delete;         /* delete --force: no stop grace; a dead owner is not waited for */
    bool has_expire_at;
    int64_t expire_at_wall_ms;
    int last_phase;            /* last phase the runtime reported; -1: none */
    uint64_t spec_generation;  /* of the PROJECT slot when last evaluated */
    bool was_deleted;          /* the slot held a tombstone when last evaluated */
    uint64_t expiry_handled_generation; /* expiry acted on for this generation */
    uint64_t report_generation; /* generation the runtime's reports are written under */
    bool fence_stopped;        /* stopped by the fence: its reports say so */
    bool released;             /* its placement moved away: this node's copy is removed */
    int64_t wake_wall_ms;      /* evaluate again then (a grace or timeout ends); 0: none */
    /* The NotReady grace as this node counts it: the NotReadyAt it first
     * read, and the monotonic time the grace ends on this node's clock. */
    int64_t grace_since_wall_ms;
    uint64_t grace_due_mono_ms;
    uint64_t handoff_since_mono_ms; /* began waiting for another node's copy to stop; 0: not */
    bool unplaced;             /* this node, its scheduler, found no node for it */
    bool notready_said;        /* the WaitingForScheduler event was written */
    /* The owner named by the newest placement this node has read. Kept
     * when that placement disappears from the state (its scheduler was
     * revoked, and with it every record it signed) and an older one, or
     * none, is all that is left to read: the project may still run there
     * (core_evaluate). */
    char last_owner[CARA_NAME_BYTES_MAX + 1];
    uint64_t last_place_hlc; /* the HLC of the placement that named it */
    cara_core_event events[CARA_CORE_EVENTS_PER_PROJECT];
    size_t events_count, events_next;
    struct core_project *next;
} core_project;

struct cara_core {
    cara_env *env;
    char name[CARA_NAME_BYTES_MAX + 1];
    uint8_t node_pk[CARA_CRDT_PK_BYTES];
    uint8_t node_sk[CARA_CRDT_SK_BYTES];
    cara_crdt *crdt;
    cara_gossip *gossip; /* owned; NULL until cara_core_gossip_start */
    int64_t now_wall_ms; /* of the input being handled */
    core_project *projects;
    size_t projects_count;
    /* Projects to evaluate at the next step. */
    char (*dirty)[CARA_NAME_BYTES_MAX + 1];
    size_t dirty_count, dirty_cap;
    bool dirty_all, nodes_dirty;
    bool retry_unplaced; /* a placement or status changed: capacity may have freed */
    cara_core_nodes nodes; /* decoded node records, rebuilt when nodes_dirty */
    /* The value bytes each of nodes.decoded came from (owned, parallel):
     * a record still holding them is not decoded again (core_nodes.c). */
    uint8_t **nodes_values;
    size_t *nodes_values_bytes;
    size_t nodes_cap; /* slots allocated in the four arrays */
    bool nodes_valid;
    uint8_t nodes_hash[32]; /* what scheduling sees of them */
    /* Actions not yet polled, oldest at `actions_head`. */
    cara_core_action *actions;
    size_t actions_head, actions_count, actions_cap;
    cara_core_stats stats;
    uint64_t now_mono_ms;   /* of the step being taken */
    cara_settings_timers timers; /* the cluster settings' (defaults until one is held) */
    bool timers_dirty;
    uint32_t probe_interval_ms;  /* gossip's, for the isolation window */
    core_fence fence;
    bool alloc_valid; /* nodes.items[].allocated and .placed are this step's */
    uint64_t incarnation;   /* this node's node record generation */
    uint64_t published_hlc; /* the HLC of the node record it last published */
};

/* Expiries acted on in one step; the rest wait for the next. */
#define CORE_EXPIRIES_PER_STEP 16

/* Frees the nodes view and its cache (core_nodes.c). */
void core_nodes_free(cara_core *c);

void core_event_add(cara_core *c, const char *project, const char *type, const char *reason,
                    int64_t now_wall_ms, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
core_project *core_project_find(cara_core *c, const char *name, bool create);
void core_project_drop(cara_core *c, const char *name);
void core_mark(cara_core *c, const char *name);
/* Queues an action (copied; a RUN's spec is taken). CARA_ENOMEM, or
 * CARA_ELIMIT past CARA_CORE_ACTIONS_MAX, leaves nothing queued and frees
 * the spec. */
int core_push(cara_core *c, const cara_core_action *act);
/* core_fence.c: updates the fence at the start of a step; whether the
 * runtime may be handed a spec now; the grace after which a project on a
 * NotReady node is placed again. */
void core_fence_update(cara_core *c);
bool core_may_run(const cara_core *c);
int64_t core_grace_ms(const cara_core *c);
void core_timers_load(cara_core *c);
void core_fence_synced_with(cara_core *c, const char *peer);
/* core_decide.c: evaluates one project. */
void core_evaluate(cara_core *c, const char *name);

#endif
