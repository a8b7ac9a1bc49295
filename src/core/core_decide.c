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

/* A placement written by the scheduler: phase, nodeRef and one Phase
 * condition saying why. */
static void write_placement(cara_core *c, const char *project, uint64_t generation,
                            cara_phase phase, const char *node, const char *reason,
                            const char *message)
{
    char text[CARA_MESSAGE_BYTES_MAX];
    snprintf(text, sizeof text, "%s: %.900s", cara_phase_name(phase), message);
    cara_condition cond = {.type = "Phase", .status = CARA_COND_TRUE, .reason = (char *)reason,
                           .message = text, .last_transition_wall_ms = c->now_wall_ms};
    cara_project_status st = {.phase = phase, .node_ref = (char *)node, .conditions = &cond,
                              .conditions_count = 1};
    if (write_project_record(c, CARA_CRDT_PLACEMENT, project, generation, &st) == 0)
        core_event_add(c, project, phase == CARA_PHASE_PENDING ? "Warning" : "Normal",
                       reason, c->now_wall_ms, "%s", message);
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

static bool placement_of(cara_core *c, const char *project, uint64_t generation,
                         cara_crdt_record *out, bool *by_scheduler)
{
    *by_scheduler = false;
    const cara_core_nodes *ns = cara_core_nodes_get(c);
    return ns != NULL && cara_sched_placement_of(c->crdt, project, generation, ns->items,
                                                 ns->count, out, by_scheduler);
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
        if (strcmp(st->conditions[i].type, "Drain") != 0)
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
                       const cara_project_status *st, const cara_core_nodes *ns,
                       const char *owner)
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
    cara_sched_verdict v = cara_sched_place(spec, ns->items, ns->count);
    char msg[CARA_MESSAGE_BYTES_MAX / 2];
    if (v.index >= 0) {
        snprintf(msg, sizeof msg, "moved off node %s, which is draining, to node %s", owner,
                 ns->items[v.index].name);
        write_placement(c, name, gen, CARA_PHASE_SCHEDULED, ns->items[v.index].name, "Drained",
                        msg);
        return true;
    }
    char why[256];
    cara_sched_explain(&v, ns->count, why, sizeof why);
    snprintf(msg, sizeof msg, "node %s is draining, but no other node fits: %s", owner, why);
    if (!drain_blocked_said(c, name, gen, msg))
        drain_keep(c, name, gen, st, owner, msg);
    return true;
}

/* The old owner's part of a move (a drain today): a project this node
 * handed to its runtime is placed on another node now, so its objects
 * here go. If the placement comes back, own() runs it again. */
static void release_moved(cara_core *c, core_project *p, const char *owner, uint64_t gen)
{
    if (owner == NULL || strcmp(owner, c->name) == 0 || p->owned_generation == 0 ||
        p->owned_deleting)
        return;
    cara_core_action act = {.kind = CARA_CORE_ACT_DELETE, .generation = p->owned_generation};
    snprintf(act.project, sizeof act.project, "%s", p->name);
    if (core_push(c, &act) != 0) {
        core_mark(c, p->name); /* tried again at the next step */
        return;
    }
    c->stats.deletes++;
    p->owned_deleting = true;
    core_event_add(c, p->name, "Normal", "Moved", c->now_wall_ms,
                   "placed on node %s now (generation %llu): removing its objects here", owner,
                   (unsigned long long)gen);
}

/* ---- Projects --------------------------------------------------------------------------- */

/* The scheduler's part: place a project that has no live placement. */
static void schedule(cara_core *c, const char *name, const cara_project *spec, uint64_t gen,
                     const cara_project_status *st, const cara_core_nodes *ns)
{
    /* A placed project stays where it is while its node is admitted, even
     * when membership says the node is dead: moving it needs the fencing
     * and grace period of DESIGN.md §6 (not built yet), without which a
     * partitioned owner and the new one would both run it. Until then a
     * project waits for its node to come back (docs/gossip.md). */
    const char *owner = st != NULL ? st->node_ref : NULL;
    bool placed = owner != NULL && node_item(ns, owner) != NULL &&
                  st->phase != CARA_PHASE_TERMINATED && st->phase != CARA_PHASE_PENDING;
    if (placed && drain_move(c, name, spec, gen, st, ns, owner))
        return;
    cara_crdt_record rec;
    bool mine = false;
    placement_of(c, name, gen, &rec, &mine);
    if (placed && !mine) {
        /* A new scheduler: it makes the placement it found (a hint by the
         * one before it, or the owner's own report) its own, so that its
         * record, not the hint, is what every node reads from now on. */
        char msg[128];
        snprintf(msg, sizeof msg, "placement on node %s kept by the new scheduler", owner);
        write_placement(c, name, gen, CARA_PHASE_SCHEDULED, owner, "Scheduled", msg);
        return;
    }
    if (placed)
        return;
    cara_sched_verdict v = cara_sched_place(spec, ns->items, ns->count);
    if (v.index >= 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "placed on node %s", ns->items[v.index].name);
        write_placement(c, name, gen, CARA_PHASE_SCHEDULED, ns->items[v.index].name, "Scheduled",
                        msg);
        return;
    }
    char why[256];
    cara_sched_explain(&v, ns->count, why, sizeof why);
    bool same = st != NULL && st->phase == CARA_PHASE_PENDING && st->conditions_count > 0 &&
                strstr(st->conditions[0].message, why) != NULL;
    if (!same)
        write_placement(c, name, gen, CARA_PHASE_PENDING, NULL, "Unschedulable", why);
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

/* The owner's part: hand the spec (or its deletion) to the runtime. */
static void own(cara_core *c, core_project *p, cara_project **spec, uint64_t gen, bool gone)
{
    /* owned_deleting without `gone`: released after a move, and placed
     * here again. */
    if (!gone && (p->owned_generation != gen || p->owned_deleting)) {
        cara_core_action act = {.kind = CARA_CORE_ACT_RUN, .generation = gen, .spec = *spec};
        *spec = NULL; /* taken, whether queued or freed */
        if (!hand_over(c, p, &act))
            return;
        c->stats.runs++;
        p->owned_generation = gen;
        p->owned_deleting = false;
        core_event_add(c, p->name, "Normal", "Reconciling", c->now_wall_ms,
                       "generation %llu handed to the reconciler", (unsigned long long)gen);
    } else if (gone && (!p->owned_deleting || p->force_delete)) {
        bool first = !p->owned_deleting;
        cara_core_action act = {.kind = CARA_CORE_ACT_DELETE, .generation = gen,
                                .force = p->force_delete};
        if (!hand_over(c, p, &act))
            return;
        c->stats.deletes++;
        p->owned_deleting = true;
        p->owned_generation = gen;
        if (first)
            core_event_add(c, p->name, "Normal", "Deleting", c->now_wall_ms,
                           "removing the project's objects%s",
                           p->force_delete ? " at once (--force)" : "");
        p->force_delete = false;
    }
}

void core_evaluate(cara_core *c, const char *name)
{
    c->stats.evaluations++;
    cara_project *spec = NULL;
    cara_project_status *st = NULL;
    uint64_t gen = 0;
    bool deleted = false;
    if (cara_core_load_project(c, name, &spec, &st, &gen, &deleted) != 0)
        goto out;
    /* A deleted project that reached Terminated needs nothing more from
     * this node: keep no local data for it (the tombstone stays in the
     * state until collection). */
    if (deleted && st != NULL && st->phase == CARA_PHASE_TERMINATED) {
        core_project_drop(c, name);
        goto out;
    }
    core_project *p = core_project_find(c, name, true);
    if (p == NULL)
        goto out;
    if (p->was_deleted && !deleted) {
        /* Re-created after a delete: a new project as far as anyone reading
         * its events can tell. */
        p->events_count = p->events_next = 0;
        p->last_phase = -1;
    }
    p->was_deleted = deleted;
    p->spec_generation = gen;
    p->has_expire_at = spec != NULL && spec->has_expire_at;
    p->expire_at_wall_ms = p->has_expire_at ? spec->expire_at_wall_ms : 0;
    bool expired = p->has_expire_at && c->now_wall_ms >= p->expire_at_wall_ms;
    bool gone = deleted || expired;
    const cara_core_nodes *ns = cara_core_nodes_get(c);
    if (ns == NULL)
        goto out;
    int sched = cara_sched_scheduler_of(name, ns->items, ns->count);
    bool me_sched = sched >= 0 && strcmp(ns->items[sched].name, c->name) == 0;
    const char *owner = st != NULL ? st->node_ref : NULL;
    bool mine = owner != NULL && strcmp(owner, c->name) == 0;
    if (!gone && me_sched)
        schedule(c, name, spec, gen, st, ns);
    if (mine && (st->phase != CARA_PHASE_TERMINATED || !gone))
        own(c, p, &spec, gen, gone);
    if (!mine && !gone)
        release_moved(c, p, owner, gen);
    /* Forced, and its node is gone: the scheduler does not wait for it
     * (DESIGN.md §6); the objects are removed when that node returns and
     * sees the tombstone. */
    const cara_sched_node *owner_item = owner != NULL ? node_item(ns, owner) : NULL;
    if (gone && me_sched && owner != NULL && !mine && p->force_delete &&
        (owner_item == NULL || !owner_item->ready) && st->phase != CARA_PHASE_TERMINATED) {
        write_placement(c, name, gen, CARA_PHASE_TERMINATED, owner, "ForcedWhileNodeNotReady",
                        "deleted with --force while its node is not ready");
        p->force_delete = false;
    }
    /* Never placed: nothing to remove anywhere, the scheduler ends it. */
    if (gone && me_sched && owner == NULL && (st == NULL || st->phase != CARA_PHASE_TERMINATED))
        write_placement(c, name, gen, CARA_PHASE_TERMINATED, NULL,
                        expired ? "Expired" : "Deleted", "the project was never placed");
out:
    cara_project_free(c->env, spec);
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
    uint64_t gen = p != NULL ? p->owned_generation : 0;
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
