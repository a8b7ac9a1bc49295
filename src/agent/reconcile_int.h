/* Internals of the reconciler, shared by reconcile.c (passes, projects,
 * status, events) and reconcile_steps.c (planning and running one step). */
#ifndef CARA_AGENT_RECONCILE_INT_H
#define CARA_AGENT_RECONCILE_INT_H

#include "agent/netpool.h"
#include "agent/objects.h"
#include "agent/reconcile.h"

#define SPEC_HASH_HEX_BYTES 32

/* One container of ours as the last listing (plus our own steps since)
 * saw it. */
typedef struct actual_ctr {
    char id[CARA_OBJECT_NAME_BYTES_MAX + 1]; /* 64 hex digits, or the name */
    char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
    char project[CARA_NAME_BYTES_MAX + 1];
    char service[CARA_NAME_BYTES_MAX + 1];
    char hash[SPEC_HASH_HEX_BYTES + 1];
    char state[16]; /* created, running, restarting, exited, paused, dead, removing */
    int exit_code;
} actual_ctr;

/* A network or volume of ours. */
typedef struct actual_obj {
    char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
    char project[CARA_NAME_BYTES_MAX + 1];
} actual_obj;

typedef struct snapshot {
    actual_ctr *ctrs;
    size_t ctrs_count;
    actual_obj *nets;
    size_t nets_count;
    actual_obj *vols;
    size_t vols_count;
} snapshot;

typedef enum {
    STEP_NET_CREATE,
    STEP_VOL_CREATE,
    STEP_IMG_INSPECT,
    STEP_IMG_PULL,
    STEP_CTR_CREATE,
    STEP_CTR_START,
    STEP_CTR_STOP,
    STEP_CTR_REMOVE,
    STEP_NET_REMOVE,
    STEP_VOL_REMOVE,
} step_kind;

/* One effect of a finished step on the snapshot. While a listing is in
 * flight, these are also logged and replayed onto the listing when it
 * arrives, since the listing may predate them. */
typedef enum { CH_NET_ADD, CH_NET_DEL, CH_VOL_ADD, CH_VOL_DEL, CH_CTR_ADD, CH_CTR_DEL,
               CH_CTR_STATE } change_op;
typedef struct snap_change {
    change_op op;
    actual_obj obj; /* NET_*, VOL_* */
    actual_ctr ctr; /* CTR_ADD: all of it; CTR_DEL and CTR_STATE: id (and state) */
} snap_change;
/* Changes logged during one listing; past this the listing is discarded
 * and taken again instead (a pass is never applied with effects missing). */
#define RECON_CHANGES_MAX 1024

typedef enum { IMG_UNKNOWN = 0, IMG_PRESENT, IMG_MISSING, IMG_FAILED } img_state;

typedef struct svc_state {
    char hash[SPEC_HASH_HEX_BYTES + 1]; /* of the container body we would send */
    img_state image;
    uint32_t backoff_ms;
    uint64_t not_before_mono_ms; /* no start before this (restart back-off) */
    uint32_t agent_restarts;     /* starts of an exited container by the agent */
    int step;                    /* 1 + the step_kind in flight for it; 0: none */
    char progress[128];          /* the latest pull progress, for its status */
    char failed[CARA_MESSAGE_BYTES_MAX / 2]; /* its last failure, "" if none */
    uint32_t restarts;           /* times its container died while wanted */
    bool expect_die;             /* the agent itself is stopping it */
    /* A container whose start the engine refused in a way recreating it
     * cures (see start_refusal_cured_by_recreate): removed and created
     * afresh by the next plan. Its id, "" if none. */
    char recreate_id[CARA_OBJECT_NAME_BYTES_MAX + 1];
    /* Failed attempts at its image (inspect or pull answered with an
     * error) since it was last found or pulled, and when the first of
     * them failed (reconcile_pull.c). */
    uint32_t pull_failures;
    uint64_t pull_first_failed_mono_ms;
    bool pull_backoff; /* `failed` is an image failure that will be retried */
} svc_state;

typedef struct proj {
    char name[CARA_NAME_BYTES_MAX + 1];
    cara_project *spec; /* NULL when being deleted without a known spec */
    svc_state *svcs;    /* one per spec->services */
    bool deleting;
    bool force;         /* deleting without the stop grace period */
    /* Steps in flight, each keyed by the object it acts on (for a service:
     * its container's name), so that no object gets two at once. Steps on
     * different objects run in parallel, as docker compose does. */
    char (*inflight)[CARA_OBJECT_NAME_BYTES_MAX + 1];
    size_t inflight_count;
    bool settled;       /* the last plan found nothing to do */
    bool announce;      /* a new spec: report the status once settled, even if
                           unchanged, so the report names the new generation */
    bool pull_gave_up;  /* Failed with ImagePullFailed: no step until a new spec */
    uint64_t retry_not_before_mono_ms; /* after a failed step */
    uint32_t retry_backoff_ms;
    char failed_msg[CARA_MESSAGE_BYTES_MAX]; /* last failure, "" if none */
    cara_project_status status;
    struct proj *next;
} proj;

struct cara_reconciler {
    cara_reconciler_config cfg;
    cara_env *env;
    cara_netpool pool;   /* project networks' subnets come from here */
    proj *projects;
    size_t projects_count;
    snapshot snap;
    bool snap_valid;
    bool complete;       /* desired set is known: orphans may go */
    snap_change *changes; /* logged while a listing is in flight */
    size_t changes_count, changes_cap;
    bool changes_overflow;
    int lists_pending;   /* 0..3 list calls of the current pass */
    snapshot next_snap;
    bool list_failed;
    uv_timer_t resync_timer, kick_timer, retry_timer;
    cara_docker_req *events_req;
    uv_timer_t events_timer;  /* reconnects the events stream */
    int handles_open;
    size_t steps_inflight;   /* engine calls of steps, all projects */
    int in_emit;             /* > 0 while on_status runs: no re-entry allowed */
    bool closing;
    cara_reconciler_stats stats;
};

/* One engine call (or, for a network, a short chain of them) of one
 * project, from its start to recon_step_done. */
typedef struct step {
    cara_reconciler *r;
    step_kind kind;
    char project[CARA_NAME_BYTES_MAX + 1];
    char object[CARA_OBJECT_NAME_BYTES_MAX + 1]; /* name of what it acts on */
    char target[CARA_OBJECT_NAME_BYTES_MAX + 1]; /* a container's id: acting by id cannot hit a namesake */
    char key[CARA_OBJECT_NAME_BYTES_MAX + 1];    /* in-flight key (see proj.inflight) */
    char service[CARA_NAME_BYTES_MAX + 1];
    char image[CARA_IMAGE_BYTES_MAX + 1];
    char hash[SPEC_HASH_HEX_BYTES + 1];
    char error_text[CARA_MESSAGE_BYTES_MAX]; /* the failure in words, when the reply alone does not say it */
    char pull_status[128];
    int pull_percent;
    /* STEP_NET_CREATE: the subnets tried so far (reconcile_net.c), and
     * whether the pool had none left. */
    cara_cidr net_tried[CARA_NET_CREATE_ATTEMPTS_MAX];
    uint32_t net_attempts;
    bool pool_exhausted;
} step;

/* reconcile_steps.c */
/* Completes step `arg` (a step *) with the engine's answer: applies it to
 * the snapshot, reports a failure, frees the step and plans the next. */
void recon_step_done(void *arg, const cara_docker_result *res);
/* Starts the next step of `p` if there is one and none is in flight.
 * Marks p->settled when there is nothing to do. */
void recon_advance(cara_reconciler *r, proj *p);
/* Fills svc hashes for p->spec. */
int recon_hash_services(cara_reconciler *r, proj *p);

/* Counts a failed step and puts the project's next plan off by the doubled
 * back-off. */
void recon_back_off(cara_reconciler *r, proj *p);

/* reconcile_pull.c */
/* The inspect or pull of step `s` for service `sv` failed with `msg`;
 * `counted`: the engine answered (a transport failure is the engine's,
 * not the image's, and does not count towards giving up). Reports
 * ImagePullBackOff and backs off, or, past the bound, reports the project
 * Failed with ImagePullFailed and stops its steps. */
void recon_image_failed(cara_reconciler *r, proj *p, const step *s, svc_state *sv, bool counted,
                        const char *msg);
/* The image of `sv` was found or pulled: its failures are forgotten. */
void recon_image_ok(svc_state *sv);

/* reconcile_status.c */
/* Recomputes the per-service states of `p` and reports them if changed. */
void recon_services_update(cara_reconciler *r, proj *p);
/* A container of ours died (engine event). */
void recon_container_died(cara_reconciler *r, proj *p, const char *service);

/* reconcile_net.c */
/* Starts creating the project network of step `s`: lists the engine's
 * networks, picks a free subnet of the pool and creates it, retrying an
 * overlap the engine refuses; ends with recon_step_done. Returns 0 or the
 * error of the first request (then no callback comes). */
int recon_net_create(cara_reconciler *r, step *s);

/* reconcile.c */
void recon_emit(cara_reconciler *r, proj *p);
void recon_set_phase(cara_reconciler *r, proj *p, cara_phase phase, const char *reason,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void recon_set_condition(cara_reconciler *r, proj *p, const char *type, cara_cond_status st,
                         const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void recon_forget(cara_reconciler *r, proj *p);
void snap_remove_ctr(snapshot *s, const char *id);
void snap_remove_obj(actual_obj *objs, size_t *count, const char *name);
int snap_add_obj(cara_reconciler *r, actual_obj **objs, size_t *count, const char *name,
                 const char *project);
int snap_add_ctr(cara_reconciler *r, snapshot *s, const actual_ctr *c);
actual_ctr *snap_find_ctr_id(snapshot *s, const char *id);
actual_ctr *snap_find_svc(snapshot *s, const char *project, const char *service);
/* The project label of the object `name`, or NULL if it is not listed. */
const char *snap_obj_project(const actual_obj *objs, size_t count, const char *name);
bool snap_has_obj(const actual_obj *objs, size_t count, const char *name);
void recon_schedule_retry(cara_reconciler *r, uint64_t at_mono_ms);
/* Applies a step's effect to the snapshot (and logs it for the listing in
 * flight, if any). Returns 0 or CARA_ELIMIT / CARA_ENOMEM. */
int recon_change(cara_reconciler *r, const snap_change *ch);
/* Frees the reconciler once it is closing and nothing refers to it any
 * more: no libuv handle open, no engine call whose callback is to come. */
void recon_maybe_destroy(cara_reconciler *r);

#endif
