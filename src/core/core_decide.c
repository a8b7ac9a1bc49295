/* The node object's decisions: schedule, own, expire, report. */
#include <stdio.h>
#include <string.h>

#include "core/core_int.h"

/* ---- Records this node writes ---------------------------------------------------------- */

static int write_project_record(cara_core *c, int kind, const char *project, uint64_t generation,
                                const cara_project_status *st)
{
    cara_buf v;
    cara_buf_init(&v, c->env, CARA_STATUS_BYTES_MAX);
    int rc = cara_project_status_encode(st, &v);
    if (rc == 0)
        rc = cara_core_write_own(c, kind, project, generation, v.data, v.len, c->now_wall_ms,
                                 NULL);
    cara_buf_free(&v);
    if (rc == 0)
        c->stats.status_writes++;
    else
        cara_env_logf(c->env, CARA_LOG_WARN, "core", "project=%s writing %s failed: %s", project,
                      kind == CARA_CRDT_STATUS ? "status" : "placement", cara_strerror(rc));
    return rc;
}

/* A placement written by the scheduler: phase, nodeRef, one Phase
 * condition saying why, and `extra` (NotReadyAt, MovedFrom, TerminatingAt)
 * when not NULL. */
static void write_placement(cara_core *c, const char *project, uint64_t generation,
                            cara_phase phase, const char *node, const char *reason,
                            const char *message, const cara_condition *extra)
{
    char text[CARA_MESSAGE_BYTES_MAX];
    snprintf(text, sizeof text, "%s: %.900s", cara_phase_name(phase), message);
    cara_condition cond[2] = {{.type = "Phase", .status = CARA_COND_TRUE, .reason = (char *)reason,
                               .message = text, .last_transition_wall_ms = c->now_wall_ms}};
    if (extra != NULL)
        cond[1] = *extra;
    cara_project_status st = {.phase = phase, .node_ref = (char *)node, .conditions = cond,
                              .conditions_count = extra != NULL ? 2 : 1};
    if (write_project_record(c, CARA_CRDT_PLACEMENT, project, generation, &st) == 0) {
        core_event_add(c, project, phase == CARA_PHASE_PENDING ? "Warning" : "Normal",
                       reason, c->now_wall_ms, "%s", message);
        cara_env_logf(c->env, CARA_LOG_INFO, "core", "project=%s placement=%s node=%s reason=%s",
                      project, cara_phase_name(phase), node != NULL ? node : "-", reason);
    }
}

static const cara_condition *cond_of(const cara_project_status *st, const char *type)
{
    for (size_t i = 0; st != NULL && i < st->conditions_count; i++)
        if (strcmp(st->conditions[i].type, type) == 0)
            return &st->conditions[i];
    return NULL;
}

static void wake_at(core_project *p, int64_t t)
{
    if (p->wake_wall_ms == 0 || t < p->wake_wall_ms)
        p->wake_wall_ms = t;
}

/* ---- What a project's placement and status are ------------------------------------
 * docs/crdt.md, "One writer per record". Each node writes only its own
 * PLACEMENT (as a scheduler) and STATUS (as an owner) records. A reader
 * takes the placement written by the project's scheduler as it computes
 * it; without one (the scheduler just changed), the newest placement by a
 * node that ranks above it, as a hint that the new scheduler confirms or
 * replaces with its own (placement_of). The status shown is the owner's (the
 * placed node's) own report when it is at least as new as the placement,
 * else the placement. Records for a generation above the spec's are
 * ignored: they describe nothing that exists. */

static const cara_sched_node *node_item(const cara_core_nodes *ns, const char *name);

/* The last resort of placement_of: a placement by a node ranked below the
 * scheduler that names a node this reader does not hold Ready. Such a
 * node was the scheduler while the present one was away (a restart, a
 * join whose view is still filling in). Reading it sends the project into
 * the NotReady grace rather than into a fresh placement beside a copy
 * that may still run. One naming a Ready node is not read here: a Ready
 * owner is found by its STATUS (reported_runner), and only when no owner
 * has reported does schedule() keep such a placement (docs/crdt.md). */
typedef struct low_hint_ctx {
    cara_core *c;
    const cara_core_nodes *ns;
    uint64_t gen;
    bool ready; /* look for placements naming a Ready node (else a NotReady one) */
    cara_crdt_record best;
    bool have;
} low_hint_ctx;

static int low_hint(void *ctx, const cara_crdt_record *r)
{
    low_hint_ctx *x = ctx;
    if (r->generation > x->gen || (x->have && r->hlc <= x->best.hlc))
        return 0;
    cara_project_status *st = NULL;
    if (cara_project_status_decode(x->c->env, r->value, r->value_bytes, NULL, &st) != 0)
        return 0;
    const cara_sched_node *n = st->node_ref != NULL ? node_item(x->ns, st->node_ref) : NULL;
    if (st->node_ref != NULL && (n == NULL || !n->ready) == !x->ready &&
        st->phase != CARA_PHASE_PENDING && st->phase != CARA_PHASE_TERMINATED) {
        x->best = *r;
        x->have = true;
    }
    cara_project_status_free(x->c->env, st);
    return 0;
}

static bool placement_of(cara_core *c, const char *project, uint64_t generation,
                         cara_crdt_record *out, bool *by_scheduler)
{
    *by_scheduler = false;
    const cara_core_nodes *ns = cara_core_nodes_get(c);
    if (ns == NULL)
        return false;
    if (cara_sched_placement_of(c->crdt, project, generation, ns->items, ns->count, out,
                                by_scheduler))
        return true;
    low_hint_ctx x = {.c = c, .ns = ns, .gen = generation};
    (void)cara_crdt_foreach_author(c->crdt, CARA_CRDT_PLACEMENT, (const uint8_t *)project,
                                   strlen(project), low_hint, &x);
    if (x.have)
        *out = x.best;
    return x.have;
}

int cara_core_project_status(cara_core *c, const char *name, uint64_t generation,
                             cara_project_status **status, uint64_t *observed_generation)
{
    *status = NULL;
    cara_crdt_record place, own, *shown = NULL;
    bool by_scheduler;
    bool placed = placement_of(c, name, generation, &place, &by_scheduler);
    char owner[CARA_NAME_BYTES_MAX + 1] = "";
    cara_project_status *ps = NULL;
    if (placed && cara_project_status_decode(c->env, place.value, place.value_bytes, NULL, &ps) == 0) {
        shown = &place;
        if (ps->node_ref != NULL)
            snprintf(owner, sizeof owner, "%s", ps->node_ref);
    }
    /* Without any placement, a status by this node (a single node that
     * ran it before placements were kept apart) still tells the truth. */
    const char *who = owner[0] ? owner : placed ? NULL : c->name;
    if (cara_sched_record_of_node(c->crdt, CARA_CRDT_STATUS, name, who, generation, &own) &&
        (shown == NULL || own.hlc >= place.hlc)) {
        cara_project_status_free(c->env, ps);
        ps = NULL;
        if (cara_project_status_decode(c->env, own.value, own.value_bytes, NULL, &ps) == 0)
            shown = &own;
    }
    if (shown == NULL) {
        cara_project_status_free(c->env, ps);
        return CARA_ENOENT;
    }
    *status = ps;
    if (observed_generation != NULL)
        *observed_generation = shown->generation;
    return 0;
}

int cara_core_load_project(cara_core *c, const char *name, cara_project **spec,
                           cara_project_status **status, uint64_t *generation, bool *deleted)
{
    *spec = NULL;
    *status = NULL;
    cara_crdt_record rec;
    int rc = cara_crdt_get(c->crdt, CARA_CRDT_PROJECT, (const uint8_t *)name, strlen(name), &rec);
    if (rc != 0)
        return rc;
    *generation = rec.generation;
    *deleted = rec.kind == CARA_CRDT_TOMBSTONE;
    if (!*deleted && (rc = cara_project_decode(c->env, rec.value, rec.value_bytes, NULL, spec)) != 0)
        return rc; /* the crdt validated it on the way in: this is not reached */
    cara_core_project_status(c, name, *generation, status, NULL);
    return 0;
}

/* ---- Nodes ---------------------------------------------------------------------------- */

static const cara_sched_node *node_item(const cara_core_nodes *ns, const char *name)
{
    for (size_t i = 0; i < ns->count; i++)
        if (strcmp(ns->items[i].name, name) == 0)
            return &ns->items[i];
    return NULL;
}

/* ---- Allocation ------------------------------------------------------------------------ */

/* Fills the nodes' `allocated` and `placed` from every live project's
 * placement, once per step (placements this step writes add to it). */
static void alloc_add(cara_core_nodes *ns, const char *node, const cara_project *spec)
{
    for (size_t i = 0; i < ns->count; i++) {
        if (strcmp(ns->items[i].name, node) != 0)
            continue;
        cara_resources r = cara_sched_requests(spec);
        ns->items[i].allocated.cpu_millis += r.cpu_millis;
        ns->items[i].allocated.memory_bytes += r.memory_bytes;
        ns->items[i].placed++;
        return;
    }
}

typedef struct alloc_ctx {
    cara_core *c;
    cara_core_nodes *ns;
} alloc_ctx;

static int alloc_project(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t l)
{
    (void)b;
    (void)l;
    alloc_ctx *x = ctx;
    if (r->kind != CARA_CRDT_PROJECT)
        return 0;
    char name[CARA_NAME_BYTES_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)r->key_bytes, (const char *)r->key);
    cara_project *spec = NULL;
    cara_project_status *st = NULL;
    if (cara_project_decode(x->c->env, r->value, r->value_bytes, NULL, &spec) == 0 &&
        cara_core_project_status(x->c, name, r->generation, &st, NULL) == 0 &&
        st->node_ref != NULL && st->phase != CARA_PHASE_PENDING &&
        st->phase != CARA_PHASE_TERMINATED)
        alloc_add(x->ns, st->node_ref, spec);
    cara_project_free(x->c->env, spec);
    cara_project_status_free(x->c->env, st);
    return 0;
}

static void alloc_compute(cara_core *c, cara_core_nodes *ns)
{
    if (c->alloc_valid)
        return;
    for (size_t i = 0; i < ns->count; i++) {
        ns->items[i].allocated = (cara_resources){0};
        ns->items[i].placed = 0;
    }
    alloc_ctx x = {c, ns};
    (void)cara_crdt_foreach(c->crdt, alloc_project, &x);
    c->alloc_valid = true;
}

/* Places `spec` among the nodes; on success the placement is counted. */
static cara_sched_verdict place(cara_core *c, const cara_project *spec, cara_core_nodes *ns)
{
    alloc_compute(c, ns);
    cara_sched_verdict v = cara_sched_place(spec, ns->items, ns->count);
    if (v.index >= 0)
        alloc_add(ns, ns->items[v.index].name, spec);
    return v;
}

/* ---- Drain ----------------------------------------------------------------------------
 * An operator's drain (a NODECTL record, docs/cli.md "node drain") moves
 * the projects of a node away, as kubectl drain evicts its pods: the
 * scheduler places each again among the other nodes. cara_sched_place
 * skips the draining node (the nodes view marks it unschedulable), so the
 * new placement is elsewhere or nowhere. Nowhere (nothing else fits) keeps
 * the project where it runs: a drain must not turn a running project into
 * a Pending one. The scheduler then says why in a condition (type Drain,
 * reason DrainBlocked) on a placement that otherwise repeats what the
 * project shows, and moves it the moment a node fits (a change of the
 * nodes view re-evaluates every project). */

#define DRAIN_BLOCKED_REASON "DrainBlocked"

/* Has this scheduler already said `msg` about the blocked drain? Its own
 * placement is what every reader takes, so once is enough. */
static bool drain_blocked_said(cara_core *c, const char *name, uint64_t gen, const char *msg)
{
    cara_crdt_record rec;
    cara_project_status *mine = NULL;
    bool said = false;
    if (cara_sched_record_of_node(c->crdt, CARA_CRDT_PLACEMENT, name, c->name, gen, &rec) &&
        cara_project_status_decode(c->env, rec.value, rec.value_bytes, NULL, &mine) == 0)
        for (size_t i = 0; i < mine->conditions_count && !said; i++)
            said = strcmp(mine->conditions[i].reason, DRAIN_BLOCKED_REASON) == 0 &&
                   strcmp(mine->conditions[i].message, msg) == 0;
    cara_project_status_free(c->env, mine);
    return said;
}

/* Writes the placement that keeps project `name` on `owner`: the status
 * shown now (phase, services, its conditions but an earlier Drain one),
 * and the Drain condition saying why the drain cannot move it (`msg`), or
 * none when the drain ended (`msg` NULL: uncordoned while blocked). */
static void drain_keep(cara_core *c, const char *name, uint64_t gen,
                       const cara_project_status *st, const char *owner, const char *msg)
{
    cara_condition conds[CARA_CONDITIONS_COUNT_MAX];
    size_t n = 0;
    for (size_t i = 0; i < st->conditions_count && n < CARA_CONDITIONS_COUNT_MAX - 1; i++)
        if (strcmp(st->conditions[i].type, "Drain") != 0 &&
            strcmp(st->conditions[i].type, "NotReadyAt") != 0 &&
            strcmp(st->conditions[i].type, "MovedFrom") != 0 &&
            strcmp(st->conditions[i].type, "TerminatingAt") != 0)
            conds[n++] = st->conditions[i];
    if (msg != NULL)
        conds[n++] = (cara_condition){.type = "Drain", .status = CARA_COND_FALSE,
                                      .reason = DRAIN_BLOCKED_REASON, .message = (char *)msg,
                                      .last_transition_wall_ms = c->now_wall_ms};
    cara_project_status kept = *st;
    kept.node_ref = (char *)owner;
    kept.conditions = conds;
    kept.conditions_count = n;
    if (write_project_record(c, CARA_CRDT_PLACEMENT, name, gen, &kept) == 0 && msg != NULL)
        core_event_add(c, name, "Warning", DRAIN_BLOCKED_REASON, c->now_wall_ms, "%s", msg);
}

/* The scheduler's part of a drain, for a project placed on `owner`.
 * Returns false when `owner` is not draining (the caller goes on as
 * usual), true when the drain decided: moved (reason Drained, naming the
 * old node), or kept with the reason it cannot move. */
static bool drain_move(cara_core *c, const char *name, const cara_project *spec, uint64_t gen,
                       const cara_project_status *st, cara_core_nodes *ns, const char *owner)
{
    const cara_sched_node *from = node_item(ns, owner);
    if (from == NULL || !from->draining) {
        /* Uncordoned while blocked: the reason shown goes with it. What
         * is shown is read, not decoded again: an owner's newer report
         * shows no such reason anyway. */
        bool shown = false;
        for (size_t i = 0; i < st->conditions_count && !shown; i++)
            shown = strcmp(st->conditions[i].reason, DRAIN_BLOCKED_REASON) == 0;
        if (from != NULL && shown)
            drain_keep(c, name, gen, st, owner, NULL);
        return false;
    }
    cara_sched_verdict v = place(c, spec, ns);
    char msg[CARA_MESSAGE_BYTES_MAX / 2];
    if (v.index >= 0) {
        snprintf(msg, sizeof msg, "moved off node %s, which is draining, to node %s", owner,
                 ns->items[v.index].name);
        /* The new owner starts once the old one says its copy is gone
         * (handoff_waits): both are Ready, so no grace stands between. */
        cara_condition extra = {.type = "MovedFrom", .status = CARA_COND_TRUE, .reason = "Drained",
                                .message = (char *)owner, .last_transition_wall_ms = c->now_wall_ms};
        write_placement(c, name, gen, CARA_PHASE_SCHEDULED, ns->items[v.index].name, "Drained",
                        msg, &extra);
        return true;
    }
    char why[256];
    cara_sched_explain(&v, ns->count, why, sizeof why);
    snprintf(msg, sizeof msg, "node %s is draining, but no other node fits: %s", owner, why);
    if (!drain_blocked_said(c, name, gen, msg))
        drain_keep(c, name, gen, st, owner, msg);
    return true;
}

/* ---- Projects --------------------------------------------------------------------------- */

/* What one evaluation reads of a project. */
typedef struct proj_view {
    const char *name;
    uint64_t gen;
    cara_project *spec;              /* NULL when deleted */
    const cara_project_status *st;   /* as shown (cara_core_project_status) */
    cara_project_status *place;      /* the placement read (placement_of), or NULL */
    uint64_t place_hlc;
    bool place_mine;                 /* that placement is this node's own (as scheduler) */
    const char *owner;               /* the node it is placed on, or NULL */
    cara_phase phase;                /* the phase a scheduler carries over when it rewrites */
} proj_view;

/* The owner of a placed project stopped being Ready: note when
 * (NotReadyAt, kept across schedulers in the placement record), and once
 * the grace has passed place the project again elsewhere. The grace
 * outlasts the old owner's fence (docs/scheduling.md), so the old copy is
 * down before the new one starts. */
static void not_ready(cara_core *c, core_project *p, const proj_view *v, cara_core_nodes *ns)
{
    const cara_condition *nr = cond_of(v->place, "NotReadyAt");
    int64_t since = nr != NULL ? nr->last_transition_wall_ms : c->now_wall_ms;
    int64_t due = since + core_grace_ms(c);
    if (nr == NULL || !v->place_mine) {
        char msg[256];
        snprintf(msg, sizeof msg, "node %s is not ready; the project moves in %lld s unless it "
                 "returns", v->owner, (long long)((due - c->now_wall_ms + 999) / 1000));
        cara_condition extra = {.type = "NotReadyAt", .status = CARA_COND_TRUE,
                                .reason = "NodeNotReady", .message = (char *)v->owner,
                                .last_transition_wall_ms = since};
        write_placement(c, v->name, v->gen, v->phase, v->owner, "NodeNotReady", msg, &extra);
    }
    /* The wall clocks of two schedulers may differ by the skew bound; a
     * wall clock may also jump. So the grace is read off NotReadyAt once,
     * when this node first sees it, and counted from there on this node's
     * monotonic clock. */
    if (p->grace_since_wall_ms != since || p->grace_due_mono_ms == 0) {
        int64_t left = due - c->now_wall_ms;
        int64_t g = core_grace_ms(c);
        left = left < 0 ? 0 : left > g ? g : left;
        p->grace_since_wall_ms = since;
        p->grace_due_mono_ms = c->now_mono_ms + (uint64_t)left;
    }
    if (c->now_mono_ms < p->grace_due_mono_ms) {
        wake_at(p, c->now_wall_ms + (int64_t)(p->grace_due_mono_ms - c->now_mono_ms));
        return;
    }
    p->grace_due_mono_ms = 0;
    cara_sched_verdict verdict = place(c, v->spec, ns);
    char msg[512];
    if (verdict.index >= 0) {
        const char *to = ns->items[verdict.index].name;
        snprintf(msg, sizeof msg, "node %s not ready for %lld s: moved to node %s", v->owner,
                 (long long)((c->now_wall_ms - since) / 1000), to);
        cara_condition extra = {.type = "MovedFrom", .status = CARA_COND_TRUE,
                                .reason = "NodeNotReady", .message = (char *)v->owner,
                                .last_transition_wall_ms = c->now_wall_ms};
        write_placement(c, v->name, v->gen, CARA_PHASE_SCHEDULED, to, "Rescheduled", msg, &extra);
        return;
    }
    char why[256];
    cara_sched_explain(&verdict, ns->count, why, sizeof why);
    snprintf(msg, sizeof msg, "node %s not ready and nowhere else to go: %s", v->owner, why);
    write_placement(c, v->name, v->gen, CARA_PHASE_PENDING, NULL, "Unschedulable", msg, NULL);
}

/* A scheduler that finds no placement it may read (it just became the
 * scheduler, and its predecessor ranked below it: a node that was the
 * scheduler while this one was away) must not place afresh a project
 * that runs: it keeps it where a Ready node reports running it (its own
 * STATUS, at most this generation). Several such reports (a copy that
 * has not stopped yet): the highest placement weight, as every
 * scheduler would choose. */
typedef struct adopt_ctx {
    cara_core *c;
    const cara_core_nodes *ns;
    uint64_t gen;
    uint64_t after_hlc; /* only reports newer than this */
    const char *best;
    uint64_t best_w;
    const char *project;
} adopt_ctx;

static int adopt_one(void *ctx, const cara_crdt_record *r)
{
    adopt_ctx *x = ctx;
    if (r->generation > x->gen || r->hlc <= x->after_hlc)
        return 0;
    cara_project_status *st = NULL;
    if (cara_project_status_decode(x->c->env, r->value, r->value_bytes, NULL, &st) != 0)
        return 0;
    const cara_sched_node *n = st->node_ref != NULL ? node_item(x->ns, st->node_ref) : NULL;
    uint8_t pk[CARA_CRDT_PK_BYTES];
    bool runs = n != NULL && n->ready &&
                (st->phase == CARA_PHASE_RUNNING || st->phase == CARA_PHASE_SCHEDULED ||
                 st->phase == CARA_PHASE_FAILED) &&
                cara_crdt_node_key_of(x->c->crdt, n->name, pk) == 0 &&
                memcmp(pk, r->author, CARA_CRDT_PK_BYTES) == 0;
    if (runs) {
        uint64_t w = cara_sched_place_weight(x->project, n->name);
        if (x->best == NULL || w > x->best_w) {
            x->best = n->name;
            x->best_w = w;
        }
    }
    cara_project_status_free(x->c->env, st);
    return 0;
}

static const char *reported_runner(cara_core *c, const proj_view *v, const cara_core_nodes *ns,
                                   uint64_t after_hlc)
{
    adopt_ctx x = {.c = c, .ns = ns, .gen = v->gen, .project = v->name, .after_hlc = after_hlc};
    (void)cara_crdt_foreach_author(c->crdt, CARA_CRDT_STATUS, (const uint8_t *)v->name,
                                   strlen(v->name), adopt_one, &x);
    return x.best;
}

/* A placed project whose spec no longer fits its node (an update changed
 * the node selector or the requests) is placed again, through the same
 * hand-off as a drain. True when it was handled. */
static bool refit(cara_core *c, const proj_view *v, cara_core_nodes *ns,
                  const cara_sched_node *oi)
{
    if (v->spec == NULL || cara_sched_fits_node(v->spec, oi))
        return false;
    cara_sched_verdict verdict = place(c, v->spec, ns);
    char msg[256];
    if (verdict.index < 0 || strcmp(ns->items[verdict.index].name, oi->name) == 0) {
        char why[160];
        cara_sched_explain(&verdict, ns->count, why, sizeof why);
        snprintf(msg, sizeof msg, "the spec no longer fits node %s and nothing else does: %s",
                 oi->name, why);
        write_placement(c, v->name, v->gen, CARA_PHASE_PENDING, NULL, "Unschedulable", msg, NULL);
        return true;
    }
    const char *to = ns->items[verdict.index].name;
    snprintf(msg, sizeof msg, "the spec no longer fits node %s: moved to node %s", oi->name, to);
    cara_condition extra = {.type = "MovedFrom", .status = CARA_COND_TRUE, .reason = "SpecChanged",
                            .message = (char *)oi->name, .last_transition_wall_ms = c->now_wall_ms};
    write_placement(c, v->name, v->gen, CARA_PHASE_SCHEDULED, to, "Rescheduled", msg, &extra);
    return true;
}

/* The scheduler's part: place a project that has no live placement, keep
 * or move one that has. */
static void schedule(cara_core *c, core_project *p, const proj_view *v, cara_core_nodes *ns)
{
    const cara_sched_node *oi = v->owner != NULL ? node_item(ns, v->owner) : NULL;
    /* An owner this node holds no record of (revoked, or not known here
     * yet) is treated as a NotReady one: a revoked node's copy runs until
     * it fences, which the grace outlasts (it hears nobody once its
     * traffic is dropped), so the project moves only after the grace. */
    if ((oi != NULL && (!oi->ready || !oi->admitted)) || (v->owner != NULL && oi == NULL)) {
        not_ready(c, p, v, ns);
        return;
    }
    p->grace_due_mono_ms = 0; /* a later NotReady spell counts afresh */
    const cara_project_status *shown = v->st != NULL ? v->st : v->place;
    if (oi != NULL && shown != NULL &&
        drain_move(c, v->name, v->spec, v->gen, shown, ns, v->owner))
        return;
    if (oi != NULL && refit(c, v, ns, oi))
        return;
    if (oi != NULL && v->place_mine &&
        (int64_t)(v->place_hlc >> CARA_CRDT_HLC_COUNTER_BITS) < c->fence.epoch_wall_ms) {
        /* This node's own placement from before it was away (restarted,
         * or cut off): the project may have moved meanwhile by a scheduler
         * ranked below it, whose placement it does not read. Where a Ready
         * node reports running it since, it stays: a move back would only
         * restart it. */
        const char *runner = reported_runner(c, v, ns, v->place_hlc);
        if (runner != NULL && strcmp(runner, v->owner) != 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "node %s runs it since this node was away: kept there",
                     runner);
            write_placement(c, v->name, v->gen, CARA_PHASE_RUNNING, runner, "Scheduled", msg,
                            NULL);
            return;
        }
    }
    if (oi != NULL) {
        if (v->place_mine && cond_of(v->place, "NotReadyAt") == NULL)
            return;
        /* A new scheduler makes the placement it found (a hint by the one
         * before it, or the owner's own report) its own, so that its
         * record, not the hint, is what every node reads from now on; a
         * node that is Ready again loses its NotReadyAt. */
        char msg[128];
        snprintf(msg, sizeof msg, "placement on node %s kept%s", v->owner,
                 v->place_mine ? ": the node is ready again" : " by the new scheduler");
        write_placement(c, v->name, v->gen, v->phase, v->owner,
                        v->place_mine ? "NodeReady" : "Scheduled", msg, NULL);
        return;
    }
    const char *runner = v->place == NULL ? reported_runner(c, v, ns, 0) : NULL;
    if (runner != NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "node %s runs it: placement kept by the new scheduler", runner);
        write_placement(c, v->name, v->gen, CARA_PHASE_RUNNING, runner, "Scheduled", msg, NULL);
        return;
    }
    /* No owner has reported yet (the one placed last is still starting
     * it): the newest placement by a node ranked below this one, which
     * decided while this node was away, rather than a second one. */
    low_hint_ctx lh = {.c = c, .ns = ns, .gen = v->gen, .ready = true};
    cara_project_status *lst = NULL;
    if (v->place == NULL &&
        cara_crdt_foreach_author(c->crdt, CARA_CRDT_PLACEMENT, (const uint8_t *)v->name,
                                 strlen(v->name), low_hint, &lh) == 0 &&
        lh.have &&
        cara_project_status_decode(c->env, lh.best.value, lh.best.value_bytes, NULL, &lst) == 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "placement on node %s kept by the new scheduler", lst->node_ref);
        write_placement(c, v->name, v->gen, CARA_PHASE_SCHEDULED, lst->node_ref, "Scheduled", msg,
                        NULL);
        cara_project_status_free(c->env, lst);
        return;
    }
    cara_project_status_free(c->env, lst);
    cara_sched_verdict verdict = place(c, v->spec, ns);
    if (verdict.index >= 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "placed on node %s", ns->items[verdict.index].name);
        write_placement(c, v->name, v->gen, CARA_PHASE_SCHEDULED, ns->items[verdict.index].name,
                        "Scheduled", msg, NULL);
        return;
    }
    char why[256];
    cara_sched_explain(&verdict, ns->count, why, sizeof why);
    const cara_project_status *st = v->place;
    bool same = st != NULL && st->phase == CARA_PHASE_PENDING && v->place_mine &&
                st->conditions_count > 0 && strstr(st->conditions[0].message, why) != NULL;
    if (!same)
        write_placement(c, v->name, v->gen, CARA_PHASE_PENDING, NULL, "Unschedulable", why, NULL);
}

/* Queues a RUN or DELETE of project p; false when the queue could not
 * take it, and p is evaluated again at the next step. */
static bool hand_over(cara_core *c, const core_project *p, cara_core_action *act)
{
    snprintf(act->project, sizeof act->project, "%s", p->name);
    if (core_push(c, act) == 0)
        return true;
    core_mark(c, p->name);
    return false;
}

/* Removes the runtime's copy of `p` on this node: true when the DELETE was
 * queued. */
static bool remove_copy(cara_core *c, core_project *p, bool force)
{
    cara_core_action act = {.kind = CARA_CORE_ACT_DELETE, .generation = p->owned_generation,
                            .force = force};
    if (!hand_over(c, p, &act))
        return false;
    c->stats.deletes++;
    cara_env_logf(c->env, CARA_LOG_INFO, "core", "project=%s remove copy%s", p->name,
                  force ? " (forced)" : "");
    p->report_generation = p->owned_generation;
    p->owned_generation = 0;
    p->owned_deleting = false;
    return true;
}

/* Whether another node may still run a copy: its own STATUS for the
 * project (any generation) says anything but Terminated or Fenced. The
 * node a placement moved off after its NotReady grace is not waited for:
 * its copy went with its fence before the grace ended. Any other is, a
 * NotReady one included (it may be cut off and not fenced yet), for at
 * most the grace. */
typedef struct copy_ctx {
    cara_core *c;
    const cara_core_nodes *ns;
    const char *waited_out; /* a node whose grace this placement waited out, or NULL */
    uint64_t place_hlc;     /* of that placement */
    char holder[CARA_NAME_BYTES_MAX + 1];
} copy_ctx;

static int other_copy(void *ctx, const cara_crdt_record *r)
{
    copy_ctx *x = ctx;
    if (memcmp(r->author, x->c->node_pk, CARA_CRDT_PK_BYTES) == 0)
        return 0;
    cara_project_status *st = NULL;
    int stop = 0;
    if (cara_project_status_decode(x->c->env, r->value, r->value_bytes, NULL, &st) == 0 &&
        st->node_ref != NULL && st->phase != CARA_PHASE_TERMINATED &&
        cond_of(st, "Fenced") == NULL) {
        const cara_sched_node *n = node_item(x->ns, st->node_ref);
        uint8_t pk[CARA_CRDT_PK_BYTES];
        /* The node moved off is not waited for, unless it reported a copy
         * after the move: it came back and runs one (a returning node that
         * read an older placement naming it), which its fence will not
         * stop. */
        bool waited = x->waited_out != NULL && strcmp(x->waited_out, st->node_ref) == 0 &&
                      r->hlc < x->place_hlc;
        if (n != NULL && !waited && cara_crdt_node_key_of(x->c->crdt, n->name, pk) == 0 &&
            memcmp(pk, r->author, CARA_CRDT_PK_BYTES) == 0) {
            snprintf(x->holder, sizeof x->holder, "%s", n->name);
            stop = 1;
        }
    }
    cara_project_status_free(x->c->env, st);
    return stop;
}

/* Before this node starts a project, every other node that ran it must
 * say its copy is gone (a drain, a spec that stopped fitting its node, a
 * scheduler that changed its mind), so that two never run. A Ready node
 * sees the move within seconds; a cut-off one fences within the grace; one
 * that has not said so within the grace after the placement is taken at
 * its silence. */
static bool handoff_waits(cara_core *c, const proj_view *v, const cara_core_nodes *ns)
{
    const cara_condition *mv = cond_of(v->place, "MovedFrom");
    copy_ctx x = {.c = c, .ns = ns,
                  .waited_out = mv != NULL && strcmp(mv->reason, "NodeNotReady") == 0
                                    ? mv->message
                                    : NULL,
                  .place_hlc = v->place_hlc};
    if (cara_crdt_foreach_author(c->crdt, CARA_CRDT_STATUS, (const uint8_t *)v->name,
                                 strlen(v->name), other_copy, &x) != 1)
        return false;
    /* Counted from when this node began to wait, on its own clock: the
     * placement may be old (a scheduler back after an absence restores
     * its own earlier decision). */
    core_project *p = core_project_find(c, v->name, false);
    if (p != NULL && p->handoff_since_mono_ms == 0)
        p->handoff_since_mono_ms = c->now_mono_ms ? c->now_mono_ms : 1;
    uint64_t waited = p != NULL ? c->now_mono_ms - p->handoff_since_mono_ms : 0;
    int64_t until = c->now_wall_ms + (core_grace_ms(c) - (int64_t)waited);
    if ((int64_t)waited >= core_grace_ms(c)) {
        core_event_add(c, v->name, "Warning", "HandoffTimedOut", c->now_wall_ms,
                       "node %s did not confirm its copy stopped within the grace: starting",
                       x.holder);
        return false;
    }
    core_event_add(c, v->name, "Normal", "WaitingForHandoff", c->now_wall_ms,
                   "node %s still runs its copy: starting once it has stopped it", x.holder);
    if (p != NULL)
        wake_at(p, until);
    return true;
}

/* A node that is not a project's owner and runs no copy of it, while its
 * own STATUS still says otherwise (it restarted, or its copy went with a
 * fence): it says it runs none, which is what a hand-off waits for. */
static void disown(cara_core *c, const proj_view *v)
{
    cara_crdt_record r;
    if (!core_may_run(c) ||
        !cara_sched_record_of_node(c->crdt, CARA_CRDT_STATUS, v->name, c->name, UINT64_MAX, &r))
        return;
    cara_project_status *st = NULL;
    if (cara_project_status_decode(c->env, r.value, r.value_bytes, NULL, &st) == 0 &&
        st->phase != CARA_PHASE_TERMINATED && cond_of(st, "Fenced") == NULL) {
        char text[192];
        snprintf(text, sizeof text, "Terminated: no copy runs on this node (placed on %s)",
                 v->owner != NULL ? v->owner : "no node");
        cara_condition cond = {.type = "Phase", .status = CARA_COND_TRUE, .reason = "NotOwner",
                               .message = text, .last_transition_wall_ms = c->now_wall_ms};
        cara_project_status none = {.phase = CARA_PHASE_TERMINATED, .node_ref = c->name,
                                    .conditions = &cond, .conditions_count = 1};
        write_project_record(c, CARA_CRDT_STATUS, v->name, r.generation, &none);
    }
    cara_project_status_free(c->env, st);
}

/* The owner's part: hand the spec (or its deletion) to the runtime; and a
 * node that is no longer the owner removes the copy it ran. */
static void own(cara_core *c, core_project *p, proj_view *v, bool gone, bool mine,
                const cara_core_nodes *ns)
{
    if (!mine || gone || c->fence.fenced)
        p->handoff_since_mono_ms = 0; /* no start to wait for */
    if (!mine) {
        bool force = (gone && p->force_delete) || c->fence.fenced || !c->fence.majority;
        if (p->owned_generation != 0 && remove_copy(c, p, force)) {
            p->released = true;
            if (!gone)
                core_event_add(c, p->name, "Normal", "Moved", c->now_wall_ms,
                               "placed on node %s now: removing this node's copy",
                               v->owner != NULL ? v->owner : "(none)");
        } else if (p->owned_generation == 0 && !gone && !p->released && !p->fence_stopped) {
            disown(c, v); /* a removal under way reports for itself */
        }
        return;
    }
    if (gone) {
        if (!p->owned_deleting || p->force_delete) {
            bool first = !p->owned_deleting;
            cara_core_action act = {.kind = CARA_CORE_ACT_DELETE, .generation = v->gen,
                                    .force = p->force_delete};
            if (!hand_over(c, p, &act))
                return;
            c->stats.deletes++;
            p->owned_deleting = true;
            p->owned_generation = v->gen;
            p->report_generation = v->gen;
            p->fence_stopped = false;
                    if (first)
                core_event_add(c, p->name, "Normal", "Deleting", c->now_wall_ms,
                               "removing the project's objects%s",
                               p->force_delete ? " at once (--force)" : "");
            p->force_delete = false;
        }
        return;
    }
    if (c->fence.fenced) {
        if (p->owned_generation != 0 && remove_copy(c, p, true)) {
            p->fence_stopped = true;
            core_event_add(c, p->name, "Warning", "Fenced", c->now_wall_ms,
                           "this node sees %zu of %zu nodes: its copy is stopped until it sees "
                           "a majority again", c->fence.seen, c->fence.known);
        }
        return;
    }
    if (!core_may_run(c) || p->owned_generation == v->gen)
        return;
    /* The scheduler holds this node NotReady (its placement carries
     * NotReadyAt) and may move the project once the grace ends, without
     * waiting for a copy here: nothing is started until it has seen this
     * node Ready again and said so (a placement without NotReadyAt). A
     * copy that runs is not stopped for it: it goes with the fence or the
     * move. */
    if (cond_of(v->place, "NotReadyAt") != NULL) {
        if (!p->notready_said)
            core_event_add(c, p->name, "Normal", "WaitingForScheduler", c->now_wall_ms,
                           "its scheduler holds this node not ready: starting once it sees "
                           "the node ready again");
        p->notready_said = true;
        return;
    }
    p->notready_said = false;
    if (p->owned_generation == 0 && handoff_waits(c, v, ns))
        return;
    cara_core_action act = {.kind = CARA_CORE_ACT_RUN, .generation = v->gen, .spec = v->spec};
    v->spec = NULL; /* taken, whether queued or freed */
    if (!hand_over(c, p, &act))
        return;
    c->stats.runs++;
    cara_env_logf(c->env, CARA_LOG_INFO, "core", "project=%s run generation=%llu", p->name,
                  (unsigned long long)v->gen);
    p->owned_generation = v->gen;
    p->report_generation = v->gen;
    p->owned_deleting = false;
    p->fence_stopped = false;
    p->released = false;
    p->handoff_since_mono_ms = 0;
    core_event_add(c, p->name, "Normal", "Reconciling", c->now_wall_ms,
                   "generation %llu handed to the reconciler", (unsigned long long)v->gen);
}

/* A deleted or expired project whose owner is not Ready: the scheduler
 * does not wait for it forever. With --force at once, otherwise after the
 * Terminating timeout (TerminatingAt kept in the placement); the objects
 * are removed when the node returns and sees the deletion. */
static void end_for_absent_owner(cara_core *c, core_project *p, const proj_view *v, bool expired)
{
    if (p->force_delete) {
        write_placement(c, v->name, v->gen, CARA_PHASE_TERMINATED, v->owner,
                        "ForcedWhileNodeNotReady",
                        "deleted with --force while its node is not ready", NULL);
        p->force_delete = false;
        return;
    }
    const cara_condition *at = cond_of(v->place, "TerminatingAt");
    int64_t timeout = (int64_t)c->timers.terminating_timeout_s * 1000;
    if (at == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s while node %s is not ready: Terminated in %u s unless it "
                 "returns", expired ? "expired" : "deleted", v->owner,
                 c->timers.terminating_timeout_s);
        cara_condition extra = {.type = "TerminatingAt", .status = CARA_COND_TRUE,
                                .reason = "NodeNotReady", .message = (char *)v->owner,
                                .last_transition_wall_ms = c->now_wall_ms};
        write_placement(c, v->name, v->gen, CARA_PHASE_TERMINATING, v->owner, "NodeNotReady",
                        msg, &extra);
        wake_at(p, c->now_wall_ms + timeout);
    } else if (c->now_wall_ms >= at->last_transition_wall_ms + timeout) {
        write_placement(c, v->name, v->gen, CARA_PHASE_TERMINATED, v->owner, "NodeNotReady",
                        "its node stayed not ready past the Terminating timeout", NULL);
    } else {
        wake_at(p, at->last_transition_wall_ms + timeout);
    }
}

static int stop_at_first(void *ctx, const cara_crdt_record *r)
{
    (void)ctx;
    (void)r;
    return 1;
}

/* Whether any placement of any generation is held for `project`. */
static bool any_placement(cara_core *c, const char *project)
{
    return cara_crdt_foreach_author(c->crdt, CARA_CRDT_PLACEMENT, (const uint8_t *)project,
                                    strlen(project), stop_at_first, NULL) == 1;
}

/* Reads the placement of a project into `v`. */
static void view_placement(cara_core *c, proj_view *v)
{
    cara_crdt_record rec;
    bool by_sched = false;
    if (placement_of(c, v->name, v->gen, &rec, &by_sched) &&
        cara_project_status_decode(c->env, rec.value, rec.value_bytes, NULL, &v->place) == 0) {
        v->place_hlc = rec.hlc;
        v->place_mine = by_sched && memcmp(rec.author, c->node_pk, CARA_CRDT_PK_BYTES) == 0;
    }
    const cara_project_status *ps = v->place;
    if (ps != NULL) {
        if (ps->node_ref != NULL && ps->phase != CARA_PHASE_PENDING &&
            ps->phase != CARA_PHASE_TERMINATED)
            v->owner = ps->node_ref;
    } else if (v->st != NULL && v->st->node_ref != NULL && v->st->phase != CARA_PHASE_PENDING &&
               v->st->phase != CARA_PHASE_TERMINATED && !any_placement(c, v->name)) {
        /* A status from before any placement (a state written before
         * placements existed). Not when placements exist, only for a newer
         * generation than the spec this node holds: the spec is on its way,
         * and the old status is no claim to run the old one again. */
        v->owner = v->st->node_ref;
    }
    /* What a rewriting scheduler carries over: the owner's own report
     * when it is about that node, else the placement's. */
    v->phase = CARA_PHASE_SCHEDULED;
    if (v->st != NULL && v->owner != NULL && v->st->node_ref != NULL &&
        strcmp(v->st->node_ref, v->owner) == 0 && v->st->phase != CARA_PHASE_PENDING &&
        v->st->phase != CARA_PHASE_TERMINATED)
        v->phase = v->st->phase;
    else if (ps != NULL && v->owner != NULL)
        v->phase = ps->phase;
}

void core_evaluate(cara_core *c, const char *name)
{
    c->stats.evaluations++;
    cara_project_status *st = NULL;
    bool deleted = false;
    proj_view v = {.name = name};
    if (cara_core_load_project(c, name, &v.spec, &st, &v.gen, &deleted) != 0)
        goto out;
    v.st = st;
    core_project *p = core_project_find(c, name, false);
    /* A deleted project that reached Terminated needs nothing more from
     * this node, unless the runtime still holds a copy: keep no local
     * data for it (the tombstone stays in the state until collection). */
    if (deleted && st != NULL && st->phase == CARA_PHASE_TERMINATED &&
        (p == NULL || p->owned_generation == 0 || p->owned_deleting)) {
        core_project_drop(c, name);
        goto out;
    }
    if (p == NULL && (p = core_project_find(c, name, true)) == NULL)
        goto out;
    if (p->was_deleted && !deleted) {
        /* Re-created after a delete: a new project as far as anyone reading
         * its events can tell. */
        p->events_count = p->events_next = 0;
        p->last_phase = -1;
    }
    p->was_deleted = deleted;
    p->spec_generation = v.gen;
    p->has_expire_at = v.spec != NULL && v.spec->has_expire_at;
    p->expire_at_wall_ms = p->has_expire_at ? v.spec->expire_at_wall_ms : 0;
    bool expired = p->has_expire_at && c->now_wall_ms >= p->expire_at_wall_ms;
    bool gone = deleted || expired;
    cara_core_nodes *ns = (cara_core_nodes *)cara_core_nodes_get(c);
    if (ns == NULL)
        goto out;
    view_placement(c, &v);
    const cara_sched_node *was = p->last_owner[0] != '\0' ? node_item(ns, p->last_owner) : NULL;
    if (p->last_owner[0] != '\0' && (was == NULL || !was->admitted) &&
        (v.owner == NULL || strcmp(v.owner, p->last_owner) != 0) &&
        (v.place == NULL || v.place_hlc < p->last_place_hlc)) {
        /* The newest placement this node read named a node that is no
         * longer admitted, and what is left to read is older, or nothing:
         * the revocation dropped every record that node signed, its
         * placement when it was the scheduler too, and its STATUS. An
         * older placement (by the scheduler that takes over, from before)
         * or none says nothing of where the project runs now: it may still
         * run on the revoked node until that node fences. So that node is
         * still taken as the owner, gone NotReady: the grace, never a
         * placement at once (the multi-host suite saw both). */
        cara_project_status_free(c->env, v.place);
        v.place = NULL;
        v.place_hlc = 0;
        v.place_mine = false;
        v.owner = p->last_owner;
        v.phase = CARA_PHASE_SCHEDULED;
    } else if (v.place != NULL && v.place_hlc >= p->last_place_hlc) {
        p->last_place_hlc = v.place_hlc;
        if (v.owner != NULL)
            snprintf(p->last_owner, sizeof p->last_owner, "%s", v.owner);
        else
            p->last_owner[0] = '\0'; /* Pending or Terminated: no copy to wait for */
    }
    int sched = cara_sched_scheduler_of(name, ns->items, ns->count);
    /* Only a node that sees a majority decides for the cluster: a
     * scheduler cut off with a minority writes nothing. */
    bool me_sched = sched >= 0 && strcmp(ns->items[sched].name, c->name) == 0 &&
                    c->fence.majority && !c->fence.fenced;
    bool mine = v.owner != NULL && strcmp(v.owner, c->name) == 0;
    bool ended = st != NULL && st->phase == CARA_PHASE_TERMINATED;
    p->unplaced = !gone && me_sched && v.owner == NULL;
    if (!gone && me_sched)
        schedule(c, p, &v, ns);
    if (!(mine && gone && ended))
        own(c, p, &v, gone, mine, ns);
    const cara_sched_node *owner_item = v.owner != NULL ? node_item(ns, v.owner) : NULL;
    if (gone && me_sched && v.owner != NULL && !mine && !ended &&
        (owner_item == NULL || !owner_item->ready))
        end_for_absent_owner(c, p, &v, expired);
    /* Never placed: nothing to remove anywhere, the scheduler ends it. */
    if (gone && me_sched && v.owner == NULL && !ended)
        write_placement(c, name, v.gen, CARA_PHASE_TERMINATED, NULL,
                        expired ? "Expired" : "Deleted", "the project was never placed", NULL);
out:
    cara_project_free(c->env, v.spec);
    cara_project_status_free(c->env, v.place);
    cara_project_status_free(c->env, st);
}

void cara_core_runtime_status(cara_core *c, const char *project, const cara_project_status *st,
                              int64_t now_wall_ms)
{
    c->now_wall_ms = now_wall_ms;
    /* Objects of a project the state does not hold (an orphan being
     * removed): there is no spec to report about. */
    cara_crdt_record held;
    if (cara_crdt_get(c->crdt, CARA_CRDT_PROJECT, (const uint8_t *)project, strlen(project),
                      &held) != 0)
        return;
    core_project *p = core_project_find(c, project, true);
    uint64_t gen = p != NULL ? p->report_generation : 0;
    char text[CARA_MESSAGE_BYTES_MAX], why[160];
    cara_condition fence_conds[2];
    cara_project_status fenced_st;
    if (p != NULL && p->fence_stopped && st->phase == CARA_PHASE_TERMINATED) {
        /* Removed by the fence: the node's record says so, not Terminated
         * (the project was not deleted). */
        snprintf(why, sizeof why, "this node sees %zu of %zu nodes", c->fence.seen,
                 c->fence.known);
        snprintf(text, sizeof text, "Pending: stopped by the fence (%s)", why);
        fence_conds[0] = (cara_condition){.type = "Phase", .status = CARA_COND_TRUE,
                                          .reason = "Fenced", .message = text,
                                          .last_transition_wall_ms = now_wall_ms};
        fence_conds[1] = (cara_condition){.type = "Fenced", .status = CARA_COND_TRUE,
                                          .reason = "NoMajority", .message = why,
                                          .last_transition_wall_ms = now_wall_ms};
        fenced_st = *st;
        fenced_st.phase = CARA_PHASE_PENDING;
        fenced_st.node_ref = c->name;
        fenced_st.conditions = fence_conds;
        fenced_st.conditions_count = 2;
        st = &fenced_st;
    }
    if (gen == 0)
        return; /* nothing was handed to the runtime in this life */
    if (p != NULL && (int)st->phase != p->last_phase) {
        p->last_phase = (int)st->phase;
        for (size_t i = 0; i < st->conditions_count; i++) {
            if (strcmp(st->conditions[i].type, "Phase") != 0)
                continue;
            /* "Running: why" -> "why": the event's reason already says it. */
            const char *m = st->conditions[i].message;
            size_t n = strlen(cara_phase_name(st->phase));
            if (strncmp(m, cara_phase_name(st->phase), n) == 0 && strncmp(m + n, ": ", 2) == 0)
                m += n + 2;
            core_event_add(c, project, st->phase == CARA_PHASE_FAILED ? "Warning" : "Normal",
                           st->conditions[i].reason, now_wall_ms, "%s", m);
        }
    }
    write_project_record(c, CARA_CRDT_STATUS, project, gen, st);
}
