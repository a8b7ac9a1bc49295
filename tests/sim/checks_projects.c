/*
 * The checkers of what nodes decide about projects (docs/sim.md,
 * "Invariants"), watching the node objects and the simulated runtimes:
 *
 *   two_copies           at every start of a copy in any runtime: no other
 *                        runtime runs the same project (enforced, or only
 *                        counted, as the scenario says)
 *   scheduler_agreement  at the end of the liveness phase, every live node
 *                        holding the commonest state computes the same
 *                        scheduler for every project and reads the same
 *                        placement
 *   liveness             at the same time, every live project that fits
 *                        somewhere runs in the runtime its placement names,
 *                        at its generation, and every node shows it Running
 *                        there; one that fits nowhere and was never placed
 *                        shows Pending; a deleted or expired one runs
 *                        nowhere and shows Terminated (or nothing). Copies
 *                        elsewhere (orphans) are two_copies' concern.
 *   rendezvous           on the converged view, taking any one node away
 *                        moves only the projects it was scheduler of, and
 *                        adding one moves only projects to it; either moves
 *                        at most the binomial bound below
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "world.h"

/* ---- The runtimes' tap ------------------------------------------------------------------ */

static uint32_t runners(world *w, const char *project, size_t *other, size_t not_this,
                        uint64_t *other_gen)
{
    uint32_t n = 0;
    *other = SIZE_MAX;
    for (size_t j = 0; j < w->n; j++) {
        uint64_t g;
        if (!sim_runtime_runs(w->s, j, project, &g))
            continue;
        n++;
        if (j != not_this && *other == SIZE_MAX) {
            *other = j;
            *other_gen = g;
        }
    }
    return n;
}

void checks_runtime_tap(void *ctx, sim *s, int node, const char *project, uint64_t generation,
                        bool running)
{
    (void)s;
    world *w = ctx;
    op_key *k = world_key_by_name(w, (const uint8_t *)project, strlen(project));
    size_t other;
    uint64_t other_gen = 0;
    uint32_t count = runners(w, project, &other, (size_t)node, &other_gen);
    world_trace(w, "%s's runtime %s %s generation %llu (%u copies now)",
                sim_name(w->s, (size_t)node), running ? "runs" : "stops", project,
                (unsigned long long)generation, count);
    if (!running) {
        w->copies_stopped++;
        if (k != NULL && count == 0 && k->down_since_ms == SIM_NEVER && !k->deleted)
            k->down_since_ms = sim_now(w->s);
        if (k != NULL)
            k->copies = count;
        return;
    }
    w->copies_started++;
    if (count > w->copies_max)
        w->copies_max = count;
    if (k != NULL) {
        k->copies = count;
        if (k->down_since_ms != SIM_NEVER)
            series_add(&w->recovery_ms, w->env, sim_now(w->s) - k->down_since_ms);
        k->down_since_ms = SIM_NEVER;
    }
    if (count < 2)
        return;
    w->two_copy_instants++;
    if (w->sc.two_copies_enforced)
        world_violation(w, CHECK_TWO_COPIES,
                        "%s generation %llu starts running on %s while %s runs generation %llu "
                        "(%u copies)", project, (unsigned long long)generation,
                        sim_name(w->s, (size_t)node), sim_name(w->s, other),
                        (unsigned long long)other_gen, count);
    else
        world_log(w, "two copies: %s generation %llu starts on %s while %s runs generation %llu",
                  project, (unsigned long long)generation, sim_name(w->s, (size_t)node),
                  sim_name(w->s, other), (unsigned long long)other_gen);
}

bool checks_runtimes_settled(world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        if (!world_live(w, i))
            continue;
        cara_core *c = sim_core(w->s, i);
        if (sim_runtime_busy(w->s, i) || (c != NULL && (cara_core_busy(c) ||
                                                        cara_core_actions_pending(c))))
            return false;
        /* A node still fenced, or not yet synced since it saw the majority
         * again, has not decided what it runs. */
        cara_core_fence_state f;
        if (c != NULL) {
            cara_core_fence_get(c, &f);
            cara_core_stats cs;
            cara_core_stats_get(c, &cs);
            if (f.fenced || !f.synced || !f.majority || cs.handoffs_waiting > 0)
                return false;
        }
    }
    return true;
}

/* ---- The converged group ------------------------------------------------------------------ */

/* Live nodes holding the commonest state (ties: the one the lowest node
 * holds), in index order; returns how many. */
static size_t converged_group(world *w, size_t *out)
{
    size_t best = 0, best_count = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (!world_live(w, i))
            continue;
        size_t c = 0;
        for (size_t j = 0; j < w->n; j++)
            c += world_live(w, j) && sim_state_fp(w->s, j) == sim_state_fp(w->s, i);
        if (c > best_count) {
            best = i;
            best_count = c;
        }
    }
    size_t n = 0;
    for (size_t j = 0; best_count > 0 && j < w->n; j++)
        if (world_live(w, j) && sim_state_fp(w->s, j) == sim_state_fp(w->s, best))
            out[n++] = j;
    return n;
}

typedef struct proj_list {
    cara_env *env;
    char (*names)[CARA_NAME_BYTES_MAX + 1];
    size_t count, cap;
} proj_list;

static int list_project(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t len)
{
    (void)b, (void)len;
    proj_list *l = ctx;
    if ((r->kind != CARA_CRDT_PROJECT && r->kind != CARA_CRDT_TOMBSTONE) ||
        r->key_bytes > CARA_NAME_BYTES_MAX)
        return 0;
    l->names = sim_grow(l->env, l->names, l->count, &l->cap, sizeof *l->names, 64);
    memcpy(l->names[l->count], r->key, r->key_bytes);
    l->names[l->count++][r->key_bytes] = '\0';
    return 0;
}

/* What node i computes for one project: its scheduler's name and the
 * placement it reads (phase and node). */
typedef struct view {
    char sched[CARA_NAME_BYTES_MAX + 1];
    char node[CARA_NAME_BYTES_MAX + 1];
    int phase; /* -1: no status at all */
} view;

static void view_of(world *w, size_t i, const char *name, uint64_t gen, view *v)
{
    cara_core *c = sim_core(w->s, i);
    const cara_core_nodes *ns = cara_core_nodes_get(c);
    int k = ns != NULL ? cara_sched_scheduler_of(name, ns->items, ns->count) : -1;
    snprintf(v->sched, sizeof v->sched, "%s", k >= 0 ? ns->items[k].name : "(none)");
    cara_project_status *st = NULL;
    v->phase = -1;
    v->node[0] = '\0';
    if (cara_core_project_status(c, name, gen, &st, NULL) == 0) {
        v->phase = (int)st->phase;
        snprintf(v->node, sizeof v->node, "%s", st->node_ref != NULL ? st->node_ref : "");
    }
    cara_project_status_free(w->env, st);
}

static const char *phase_text(int phase)
{
    return phase < 0 ? "no status" : cara_phase_name((cara_phase)phase);
}

/* ---- Scheduler agreement and liveness --------------------------------------------------------- */

typedef struct verdict {
    bool exists, gone, expired, fits;
    bool expiry_near; /* expireAt within the clocks' reach of now: either outcome holds */
    uint64_t gen;
} verdict;

static verdict judge(world *w, size_t ref, const char *name)
{
    verdict v = {0};
    cara_crdt_record r;
    if (cara_crdt_get(sim_crdt(w->s, ref), CARA_CRDT_PROJECT, (const uint8_t *)name, strlen(name),
                      &r) != 0)
        return v;
    v.exists = true;
    v.gen = r.generation;
    if (r.kind == CARA_CRDT_TOMBSTONE) {
        v.gone = true;
        return v;
    }
    cara_project *p = NULL;
    if (cara_project_decode(w->env, r.value, r.value_bytes, NULL, &p) != 0)
        return v; /* the crdt checked it: not reached */
    v.expired = p->has_expire_at && p->expire_at_wall_ms <= sim_true_wall(w->s);
    /* Each node reads expireAt on its own wall clock, which the scenario
     * may set off true time by its skew plus a jump: a node that far ahead
     * ends the project that much early (docs/scheduling.md). */
    int64_t reach = w->sc.skew_ms_max + w->sc.jump_ms_max;
    int64_t d = p->has_expire_at ? p->expire_at_wall_ms - sim_true_wall(w->s) : 0;
    v.expiry_near = p->has_expire_at && reach > 0 && (d < 0 ? -d : d) <= reach;
    v.gone = v.expired;
    const cara_core_nodes *ns = cara_core_nodes_get(sim_core(w->s, ref));
    v.fits = ns != NULL && cara_sched_place(p, ns->items, ns->count).index >= 0;
    cara_project_free(w->env, p);
    return v;
}

/* Copies of `project` outside node `owner` ("" for none): the copies a
 * placement that moved left behind (the object does not yet remove them:
 * docs/sim.md, "What the runs show"). Returns how many; *first names one. */
static uint32_t orphans(world *w, const char *project, const char *owner, size_t *first)
{
    uint32_t n = 0;
    *first = SIZE_MAX;
    for (size_t j = 0; j < w->n; j++)
        if (sim_runtime_runs(w->s, j, project, NULL) && strcmp(sim_name(w->s, j), owner) != 0) {
            n++;
            *first = *first == SIZE_MAX ? j : *first;
        }
    return n;
}

/* Orphans are a violation of two_copies when it is enforced, else counted. */
static bool orphans_ok(world *w, const char *name, const char *what, const char *owner)
{
    size_t first;
    uint32_t n = orphans(w, name, owner, &first);
    if (n == 0)
        return true;
    w->end_orphans += n;
    if (w->sc.two_copies_enforced) {
        world_violation(w, CHECK_TWO_COPIES, "%s (%s) still runs on %s, which its placement "
                        "does not name (%s)", name, what, sim_name(w->s, first),
                        owner[0] ? owner : "no node");
        return false;
    }
    world_log(w, "%s (%s) still runs on %s, which its placement does not name", name, what,
              sim_name(w->s, first));
    return true;
}

/* Every node of the group reads `phase` on `node` ("" : none). A Running
 * project read as Scheduled on its own node is a placement confirmed by a
 * new scheduler after the owner's last report: counted, not a violation
 * (the owner has nothing new to report; docs/sim.md). */
static bool shown_ok(world *w, const size_t *group, size_t count, const char *name,
                     const char *what, uint64_t gen, int phase, const char *node)
{
    for (size_t g = 0; g < count; g++) {
        view x;
        view_of(w, group[g], name, gen, &x);
        bool ok = phase == CARA_PHASE_TERMINATED ? x.phase < 0 || x.phase == phase
                                                 : x.phase == phase && strcmp(x.node, node) == 0;
        if (!ok && phase == CARA_PHASE_RUNNING && x.phase == CARA_PHASE_SCHEDULED &&
            strcmp(x.node, node) == 0) {
            w->end_shown_scheduled++;
            continue;
        }
        /* Gone and run nowhere (the caller checked), but a placement newer
         * than the owner's Terminated report still names a node: counted,
         * as above (docs/sim.md, "Invariants"). */
        if (!ok && phase == CARA_PHASE_TERMINATED && x.phase == CARA_PHASE_SCHEDULED) {
            w->end_gone_shown_scheduled++;
            world_log(w, "%s (%s) runs nowhere but %s reads it Scheduled on %s", name, what,
                      sim_name(w->s, group[g]), x.node[0] ? x.node : "no node");
            continue;
        }
        if (!ok) {
            world_violation(w, CHECK_LIVENESS, "%s (%s, generation %llu) shows %s on %s at %s; "
                            "expected %s%s%s", name, what, (unsigned long long)gen,
                            phase_text(x.phase), x.node[0] ? x.node : "no node",
                            sim_name(w->s, group[g]), phase_text(phase), node[0] ? " on " : "",
                            node);
            return false;
        }
    }
    return true;
}

/* A project whose expireAt is within the clocks' reach of now, found
 * in the other state than true time says: a node whose clock is off by
 * that much decided on its own clock. Counted, not judged. */
static void expiry_near(world *w, const char *name, const char *what)
{
    w->end_expiry_near++;
    world_log(w, "%s (%s by true time) expires within the clocks' reach of now and is found "
              "the other way: not judged", name, what);
}

/* The liveness verdict on one project, as the group's first node holds it. */
static void liveness_one(world *w, const size_t *group, size_t count, const char *name,
                         const verdict *v)
{
    view ref;
    view_of(w, group[0], name, v->gen, &ref);
    const char *what = v->expired ? "expired" : v->gone ? "deleted" : v->fits ? "live" : "unfit";
    int owner = ref.node[0] ? sim_node_of_name(w->s, ref.node, strlen(ref.node)) : -1;
    uint64_t run_gen = 0;
    bool owner_runs = owner >= 0 && sim_runtime_runs(w->s, (size_t)owner, name, &run_gen);
    /* Placed on a node that left: nothing moves it, and nothing ends its
     * delete, until failover exists (docs/core.md: a placed project
     * waits for its node; DESIGN.md §6's forced Terminated after a
     * timeout is not built either). Counted, not judged. */
    if (owner >= 0 && w->role[owner] == ROLE_LEFT) {
        w->end_stranded++;
        world_log(w, "%s (%s) waits for %s, which left the cluster", name, what, ref.node);
        return;
    }
    /* A spec that fits nowhere is not required to run; one placed before
     * it stopped fitting (an update, or a re-apply while its delete was
     * under way) stays on its node, as the object keeps placements. */
    if (!v->gone && !v->fits && owner_runs) {
        w->end_unfit_running++;
        (void)orphans_ok(w, name, what, ref.node);
        return;
    }
    if (v->gone || !v->fits) {
        if (owner_runs && v->expiry_near) {
            expiry_near(w, name, what);
            return;
        }
        if (owner_runs) {
            cara_core_event ev[CARA_CORE_EVENTS_PER_PROJECT];
            cara_core *oc = sim_core(w->s, (size_t)owner);
            size_t nev = oc != NULL
                             ? cara_core_events_get(oc, name, ev, CARA_CORE_EVENTS_PER_PROJECT)
                             : 0;
            world_violation(w, CHECK_LIVENESS, "%s (%s, generation %llu) still runs on %s, "
                            "the node its placement names (its last event there: %s)", name, what,
                            (unsigned long long)v->gen, ref.node,
                            nev > 0 ? ev[nev - 1].message : "none");
            return;
        }
        if (orphans_ok(w, name, what, ref.node) &&
            shown_ok(w, group, count, name, what, v->gen,
                     v->gone ? CARA_PHASE_TERMINATED : CARA_PHASE_PENDING, ""))
            *(v->gone ? &w->end_terminated : &w->end_pending) += 1;
        return;
    }
    if (!owner_runs && v->expiry_near) {
        expiry_near(w, name, what);
        return;
    }
    if (!owner_runs || run_gen != v->gen) {
        /* What the owner's node object last said of it, to start from. */
        cara_core_event ev[CARA_CORE_EVENTS_PER_PROJECT];
        cara_core *oc = owner >= 0 ? sim_core(w->s, (size_t)owner) : NULL;
        size_t nev = oc != NULL ? cara_core_events_get(oc, name, ev, CARA_CORE_EVENTS_PER_PROJECT)
                                : 0;
        world_violation(w, CHECK_LIVENESS, "%s generation %llu is placed on %s (%s) but %s "
                        "(its last event there: %s)",
                        name, (unsigned long long)v->gen, ref.node[0] ? ref.node : "no node",
                        phase_text(ref.phase),
                        owner_runs ? "that node's runtime runs an older generation"
                                   : "that node's runtime does not run it",
                        nev > 0 ? ev[nev - 1].message : "none");
        return;
    }
    if (orphans_ok(w, name, what, ref.node) &&
        shown_ok(w, group, count, name, what, v->gen, CARA_PHASE_RUNNING, ref.node))
        w->end_running++;
}

static void agreement_one(world *w, const size_t *group, size_t count, const char *name,
                          uint64_t gen)
{
    view first;
    view_of(w, group[0], name, gen, &first);
    for (size_t g = 1; g < count; g++) {
        view x;
        view_of(w, group[g], name, gen, &x);
        if (strcmp(x.sched, first.sched) != 0 || x.phase != first.phase ||
            strcmp(x.node, first.node) != 0) {
            world_violation(w, CHECK_SCHEDULER_AGREEMENT,
                            "%s: %s computes scheduler %s and reads %s on %s; %s computes "
                            "scheduler %s and reads %s on %s", name, sim_name(w->s, group[0]),
                            first.sched, phase_text(first.phase),
                            first.node[0] ? first.node : "no node", sim_name(w->s, group[g]),
                            x.sched, phase_text(x.phase), x.node[0] ? x.node : "no node");
            return;
        }
    }
}

/* ---- Rendezvous stability ------------------------------------------------------------------ */

/* Bernstein's inequality for a sum of independent Bernoulli variables of
 * mean mu (variance at most mu): P(X >= mu + t) <= exp(-t^2 / (2 (mu +
 * t/3))). With t = L/3 + sqrt(L^2/9 + 2 mu L) the tail is e^-L; L =
 * ln(tests / 1e-9) keeps the chance that any of the run's tests exceeds the
 * bound by luck under one in a billion. The join's mean, P/(N+1), is below
 * the leaves' P/N: one bound serves both. */
static uint64_t binomial_bound(double trials, double p, size_t tests)
{
    double mu = trials * p, L = log((double)tests / 1e-9);
    double t = L / 3 + sqrt(L * L / 9 + 2 * mu * L);
    return (uint64_t)floor(mu + t);
}

/* Leaves tested: every node up to this many, else this many spread evenly
 * (each test hashes every project against every node: P x N weights). */
#define RDV_LEAVES_MAX 16

typedef struct rdv {
    cara_sched_node *nodes; /* ready ones, and one slot more for a joiner */
    cara_sched_node *tmp;   /* room for a copy of nodes */
    size_t count;
    int *base;              /* scheduler of each project */
} rdv;

/* Moves when node `skip` leaves (skip < count), or when a joiner at index
 * `count` comes (skip == SIZE_MAX). Returns how many schedulers changed;
 * *stray: changes that rendezvous hashing forbids. */
static uint64_t rdv_moves(const proj_list *pl, rdv *r, size_t skip, uint64_t *stray)
{
    uint64_t moved = 0;
    cara_sched_node *tmp = r->tmp;
    size_t n = 0;
    for (size_t k = 0; k < r->count + (skip == SIZE_MAX); k++)
        if (k != skip)
            tmp[n++] = r->nodes[k];
    for (size_t p = 0; p < pl->count; p++) {
        int s = cara_sched_scheduler_of(pl->names[p], tmp, n);
        const char *now = s >= 0 ? tmp[s].name : "";
        const char *was = r->base[p] >= 0 ? r->nodes[r->base[p]].name : "";
        if (strcmp(now, was) == 0)
            continue;
        moved++;
        bool allowed = skip == SIZE_MAX ? strcmp(now, r->nodes[r->count].name) == 0
                                        : r->base[p] == (int)skip;
        *stray += !allowed;
    }
    return moved;
}

static void rendezvous_check(world *w, size_t ref, const proj_list *pl)
{
    const cara_core_nodes *ns = cara_core_nodes_get(sim_core(w->s, ref));
    if (ns == NULL || pl->count == 0)
        return;
    rdv r = {0};
    r.nodes = cara_env_calloc(w->env, ns->count + 1, sizeof *r.nodes);
    r.tmp = cara_env_calloc(w->env, ns->count + 1, sizeof *r.tmp);
    r.base = cara_env_calloc(w->env, pl->count, sizeof *r.base);
    CARA_ASSERT(r.nodes != NULL && r.tmp != NULL && r.base != NULL);
    for (size_t k = 0; k < ns->count; k++)
        if (ns->items[k].ready)
            r.nodes[r.count++] = ns->items[k];
    r.nodes[r.count] = (cara_sched_node){.name = "joiner", .ready = true, .schedulable = true};
    for (size_t p = 0; p < pl->count; p++)
        r.base[p] = cara_sched_scheduler_of(pl->names[p], r.nodes, r.count);
    size_t leaves = r.count < RDV_LEAVES_MAX ? r.count : RDV_LEAVES_MAX;
    size_t tests = leaves + 1;
    uint64_t bound = w->sc.rendezvous_bound >= 0
                         ? (uint64_t)w->sc.rendezvous_bound
                         : binomial_bound((double)pl->count, 1.0 / (double)r.count, tests);
    w->rdv_projects = pl->count;
    w->rdv_nodes = r.count;
    w->rdv_bound = bound;
    for (size_t t = 0; t < tests; t++) {
        bool join = t == leaves;
        size_t k = join ? r.count : t * r.count / leaves;
        uint64_t stray = 0, moved = rdv_moves(pl, &r, join ? SIZE_MAX : k, &stray);
        if (moved > w->rdv_changed_max)
            w->rdv_changed_max = moved;
        if (stray > 0 || moved > bound) {
            world_violation(w, CHECK_RENDEZVOUS,
                            "%s %s moves the scheduler of %llu of %zu projects (bound %llu; %llu "
                            "moved between two other nodes)", join ? "a node" : r.nodes[k].name,
                            join ? "joining" : "leaving", (unsigned long long)moved, pl->count,
                            (unsigned long long)bound, (unsigned long long)stray);
            break;
        }
    }
    cara_env_free(w->env, r.nodes);
    cara_env_free(w->env, r.tmp);
    cara_env_free(w->env, r.base);
}

void checks_projects(world *w)
{
    size_t *group = cara_env_alloc(w->env, (w->n ? w->n : 1) * sizeof *group);
    CARA_ASSERT(group != NULL);
    size_t count = converged_group(w, group);
    size_t *all = NULL, all_count = 0;
    if (w->sc.agreement_all_live) {
        all = cara_env_alloc(w->env, (w->n ? w->n : 1) * sizeof *all);
        CARA_ASSERT(all != NULL);
        for (size_t i = 0; i < w->n; i++)
            if (world_live(w, i))
                all[all_count++] = i;
    }
    proj_list pl = {.env = w->env};
    if (count > 0)
        (void)cara_crdt_foreach(sim_crdt(w->s, group[0]), list_project, &pl);
    for (size_t p = 0; p < pl.count; p++) {
        verdict v = judge(w, group[0], pl.names[p]);
        if (!v.exists)
            continue;
        agreement_one(w, all != NULL ? all : group, all != NULL ? all_count : count,
                      pl.names[p], v.gen);
        liveness_one(w, group, count, pl.names[p], &v);
    }
    if (count > 0)
        rendezvous_check(w, group[0], &pl);
    cara_env_free(w->env, pl.names);
    cara_env_free(w->env, group);
    cara_env_free(w->env, all);
}
