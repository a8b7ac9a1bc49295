/* Internals of the node object shared by core*.c; no other module includes it. */
#ifndef CARA_CORE_INT_H
#define CARA_CORE_INT_H

#include "core/core.h"

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
    cara_core_nodes nodes; /* decoded node records, rebuilt when nodes_dirty */
    bool nodes_valid;
    uint8_t nodes_hash[32]; /* what scheduling sees of them */
    /* Actions not yet polled, oldest at `actions_head`. */
    cara_core_action *actions;
    size_t actions_head, actions_count, actions_cap;
    cara_core_stats stats;
    uint64_t incarnation;   /* this node's node record generation */
    uint64_t published_hlc; /* the HLC of the node record it last published */
};

/* Expiries acted on in one step; the rest wait for the next. */
#define CORE_EXPIRIES_PER_STEP 16

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
/* core_decide.c: evaluates one project. */
void core_evaluate(cara_core *c, const char *name);

#endif
