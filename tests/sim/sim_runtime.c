/*
 * The simulated container runtime of one node (docs/sim.md, "The
 * runtime"): what the agent's reconciler and its Docker engine do with
 * the node object's RUN and DELETE actions, reduced to what the
 * invariants need. A start takes a latency drawn from the scenario's
 * distribution and then either runs the copy (reported Running) or fails
 * its image pull (reported Failed, retried after a back-off that doubles
 * from CARA_RESTART_BACKOFF_MS_MIN to _MAX, as the reconciler retries); a
 * running copy may exit by itself later and is restarted after a back-off
 * (the reconciler restarts a container stopped behind its back; the phase
 * it reported stays). A delete reports Terminating at once and Terminated
 * once the stop latency has passed.
 *
 * Its clock is the true time: the engine is another process, and a
 * latency is physical. It is stepped from the node's timers, so what
 * falls due while the node is paused is carried out, late, at resume; its
 * copies keep running meanwhile (fencing is what stops them). A crash
 * takes every copy with it; a restarted node starts with an empty runtime.
 * Every draw comes from the runtime's own generator, seeded from the
 * scenario's seed, the node's index and its life.
 */
#include <stdio.h>
#include <string.h>

#include "sim_int.h"

enum copy_state {
    CP_STARTING = 0, /* a start in flight, due at due_ms */
    CP_RUNNING,      /* up; due_ms: when it exits by itself (SIM_NEVER: never) */
    CP_BACKOFF,      /* a failed start waits for its retry */
    CP_RESTARTING,   /* exited; restarted after the back-off */
    CP_STOPPING,     /* a delete in flight */
};

typedef struct rt_copy {
    char project[CARA_NAME_BYTES_MAX + 1];
    cara_project *spec;    /* the generation wanted (owned); NULL when only deleting */
    uint64_t generation;   /* wanted */
    uint64_t running_gen;  /* the generation whose containers run; 0: none */
    uint8_t state;         /* enum copy_state */
    bool pulled;           /* the image is on the node: a restart pulls nothing */
    uint64_t due_ms;
    uint32_t backoff_ms;
    uint32_t restarts;
} rt_copy;

struct sim_runtime {
    sim_node *nd;
    cara_rng rng;
    rt_copy *copies;
    size_t count, cap;
};

static const sim_runtime_cfg *cfg_of(const sim_runtime *rt)
{
    return &sim_config(rt->nd->s)->runtime;
}

int sim_runtime_new(sim_runtime **out, sim_node *nd)
{
    sim_runtime *rt = cara_env_calloc(sim_env(nd->s), 1, sizeof *rt);
    if (rt == NULL)
        return CARA_ENOMEM;
    rt->nd = nd;
    *out = rt;
    return 0;
}

static void copy_drop(sim_runtime *rt, size_t k)
{
    cara_project_free(sim_env(rt->nd->s), rt->copies[k].spec);
    rt->copies[k] = rt->copies[--rt->count];
}

static void set_running(sim_runtime *rt, rt_copy *cp, uint64_t gen)
{
    if (cp->running_gen == gen)
        return;
    /* A generation replacing another is one event: the copy runs on. */
    cp->running_gen = gen;
    net_runtime(rt->nd->s, rt->nd->index, cp->project, gen, gen != 0);
}

void sim_runtime_crash(sim_runtime *rt)
{
    while (rt->count > 0) {
        rt_copy *cp = &rt->copies[rt->count - 1];
        if (cp->running_gen != 0) {
            sim_stats_mut(rt->nd->s)->rt_crash_kills++;
            set_running(rt, cp, 0);
        }
        copy_drop(rt, rt->count - 1);
    }
}

void sim_runtime_free(sim_runtime *rt)
{
    if (rt == NULL)
        return;
    cara_env *env = sim_env(rt->nd->s);
    for (size_t k = 0; k < rt->count; k++)
        cara_project_free(env, rt->copies[k].spec);
    cara_env_free(env, rt->copies);
    cara_env_free(env, rt);
}

void sim_runtime_start(sim_runtime *rt)
{
    const sim_cfg *c = sim_config(rt->nd->s);
    cara_rng_seed(&rt->rng, (c->seed * 0x2545f4914f6cdd1dull + rt->nd->index + 1) ^
                                ((uint64_t)rt->nd->life << 48) ^ 0x72756e74696d65ull);
}

/* ---- Reports ----------------------------------------------------------------------- */

/* Hands the object a report: phase, one Phase condition saying why, and
 * where each service stands. */
static void report(sim_runtime *rt, const rt_copy *cp, cara_phase phase, const char *reason,
                   const char *why, cara_svc_state svc_state)
{
    sim_node *nd = rt->nd;
    if (nd->core == NULL)
        return;
    int64_t now = node_wall_at(nd, sim_now(nd->s));
    char msg[CARA_MESSAGE_BYTES_MAX];
    snprintf(msg, sizeof msg, "%s: %s", cara_phase_name(phase), why);
    cara_condition cond = {.type = "Phase", .status = CARA_COND_TRUE, .reason = (char *)reason,
                           .message = msg, .last_transition_wall_ms = now};
    cara_service_status svcs[8];
    size_t n = 0;
    for (size_t i = 0; cp->spec != NULL && i < cp->spec->services_count && n < 8; i++)
        svcs[n++] = (cara_service_status){.name = cp->spec->services[i].name,
                                          .state = svc_state,
                                          .message = svc_state == CARA_SVC_FAILED ? (char *)why
                                                                                  : NULL,
                                          .restarts = cp->restarts};
    cara_project_status st = {.phase = phase, .node_ref = nd->name, .conditions = &cond,
                              .conditions_count = 1, .services = svcs, .services_count = n};
    cara_core_runtime_status(nd->core, cp->project, &st, now);
}

/* ---- Actions ----------------------------------------------------------------------- */

static rt_copy *copy_of(sim_runtime *rt, const char *project, bool create)
{
    for (size_t k = 0; k < rt->count; k++)
        if (strcmp(rt->copies[k].project, project) == 0)
            return &rt->copies[k];
    if (!create)
        return NULL;
    rt->copies = sim_grow(sim_env(rt->nd->s), rt->copies, rt->count, &rt->cap,
                          sizeof *rt->copies, 8);
    rt_copy *cp = &rt->copies[rt->count++];
    memset(cp, 0, sizeof *cp);
    snprintf(cp->project, sizeof cp->project, "%s", project);
    cp->due_ms = SIM_NEVER;
    return cp;
}

static uint64_t start_ms(sim_runtime *rt) { return sim_draw_ms(&rt->rng, &cfg_of(rt)->start_latency); }
static uint64_t stop_ms(sim_runtime *rt, bool force)
{
    const sim_link_cfg *l = &cfg_of(rt)->stop_latency;
    return force ? l->latency_min_ms : sim_draw_ms(&rt->rng, l);
}

static void take_run(sim_runtime *rt, cara_core_action *act)
{
    uint64_t now = sim_now(rt->nd->s);
    rt_copy *cp = copy_of(rt, act->project, true);
    cara_project_free(sim_env(rt->nd->s), cp->spec);
    cp->spec = act->spec;
    act->spec = NULL;
    cp->generation = act->generation;
    switch (cp->state) {
    case CP_RUNNING:
        if (cp->running_gen == cp->generation)
            return;
        /* A new generation: the old containers are stopped, the new ones
         * started; the old run until the new are up. */
        cp->state = CP_STARTING;
        cp->due_ms = now + stop_ms(rt, false) + start_ms(rt);
        return;
    case CP_STOPPING: /* re-created while being deleted: the start follows the stop */
        cp->state = CP_STARTING;
        cp->due_ms = (cp->due_ms > now ? cp->due_ms : now) + start_ms(rt);
        return;
    case CP_STARTING:
        if (cp->due_ms == SIM_NEVER)
            cp->due_ms = now + start_ms(rt);
        return;
    default: /* a retry or a restart is due: it takes the new spec */
        return;
    }
}

static void take_delete(sim_runtime *rt, const cara_core_action *act)
{
    uint64_t now = sim_now(rt->nd->s);
    rt_copy *cp = copy_of(rt, act->project, true);
    uint64_t due = now + stop_ms(rt, act->force);
    if (cp->state != CP_STOPPING || due < cp->due_ms)
        cp->due_ms = due;
    cp->state = CP_STOPPING;
    report(rt, cp, CARA_PHASE_TERMINATING, "Deleted", "removing the project's objects",
           CARA_SVC_REMOVING);
}

void sim_runtime_take(sim_runtime *rt, cara_core_action *act)
{
    sim_stats *st = sim_stats_mut(rt->nd->s);
    if (act->kind == CARA_CORE_ACT_RUN) {
        st->rt_runs++;
        take_run(rt, act);
    } else if (act->kind == CARA_CORE_ACT_DELETE) {
        st->rt_deletes++;
        take_delete(rt, act);
    }
}

/* ---- Time ------------------------------------------------------------------------- */

static uint32_t next_backoff(uint32_t ms)
{
    if (ms < CARA_RESTART_BACKOFF_MS_MIN)
        return CARA_RESTART_BACKOFF_MS_MIN;
    return ms >= CARA_RESTART_BACKOFF_MS_MAX / 2 ? CARA_RESTART_BACKOFF_MS_MAX : ms * 2;
}

static bool chance(sim_runtime *rt, uint32_t ppm)
{
    return ppm > 0 && cara_rng_below(&rt->rng, SIM_PPM) < ppm;
}

/* A start completes: the copy runs, or its image pull failed. */
static void started(sim_runtime *rt, rt_copy *cp, uint64_t now)
{
    const sim_runtime_cfg *c = cfg_of(rt);
    sim_stats *st = sim_stats_mut(rt->nd->s);
    if (!cp->pulled && chance(rt, c->pull_fail_ppm)) {
        st->rt_pull_failures++;
        cp->backoff_ms = next_backoff(cp->backoff_ms);
        cp->state = CP_BACKOFF;
        cp->due_ms = now + cp->backoff_ms;
        report(rt, cp, CARA_PHASE_FAILED, "ImagePullFailed",
               "pull image: manifest unknown (simulated)", CARA_SVC_FAILED);
        return;
    }
    st->rt_starts++;
    cp->pulled = true;
    cp->backoff_ms = 0;
    cp->state = CP_RUNNING;
    cp->due_ms = chance(rt, c->exit_ppm)
                     ? now + c->exit_after_min_ms +
                           cara_rng_below(&rt->rng, c->exit_after_max_ms - c->exit_after_min_ms + 1)
                     : SIM_NEVER;
    set_running(rt, cp, cp->generation);
    report(rt, cp, CARA_PHASE_RUNNING, "Reconciled", "every service running", CARA_SVC_RUNNING);
}

/* One copy's due step; false when the copy is gone. */
static bool step_copy(sim_runtime *rt, size_t k, uint64_t now)
{
    rt_copy *cp = &rt->copies[k];
    cp->due_ms = SIM_NEVER;
    switch (cp->state) {
    case CP_STARTING:
        started(rt, cp, now);
        return true;
    case CP_RUNNING: /* it exited by itself; the reconciler restarts it */
        sim_stats_mut(rt->nd->s)->rt_exits++;
        set_running(rt, cp, 0);
        cp->restarts++;
        cp->backoff_ms = next_backoff(cp->backoff_ms);
        cp->state = CP_RESTARTING;
        cp->due_ms = now + cp->backoff_ms;
        return true;
    case CP_BACKOFF:
    case CP_RESTARTING:
        cp->state = CP_STARTING;
        cp->due_ms = now + start_ms(rt);
        return true;
    default: /* CP_STOPPING */
        set_running(rt, cp, 0);
        report(rt, cp, CARA_PHASE_TERMINATED, "ObjectsRemoved",
               "every container, network and volume is gone", CARA_SVC_REMOVING);
        copy_drop(rt, k);
        return false;
    }
}

void sim_runtime_due(sim_runtime *rt)
{
    uint64_t now = sim_now(rt->nd->s);
    /* Bounded: each copy steps at most once a call (a step sets a due
     * time in the future, or drops the copy). */
    for (size_t k = 0; k < rt->count;) {
        if (rt->copies[k].due_ms <= now && !step_copy(rt, k, now))
            continue; /* dropped: slot k holds another copy now */
        k++;
    }
}

uint64_t sim_runtime_next_ms(const sim_runtime *rt)
{
    uint64_t t = SIM_NEVER;
    for (size_t k = 0; k < rt->count; k++)
        t = rt->copies[k].due_ms < t ? rt->copies[k].due_ms : t;
    return t;
}

/* ---- Queries ---------------------------------------------------------------------- */

bool sim_runtime_runs(const sim *s, size_t i, const char *project, uint64_t *generation)
{
    const sim_runtime *rt = sim_node_at((sim *)s, i)->rt;
    for (size_t k = 0; rt != NULL && k < rt->count; k++)
        if (rt->copies[k].running_gen != 0 && strcmp(rt->copies[k].project, project) == 0) {
            if (generation != NULL)
                *generation = rt->copies[k].running_gen;
            return true;
        }
    return false;
}

size_t sim_runtime_running(const sim *s, size_t i)
{
    const sim_runtime *rt = sim_node_at((sim *)s, i)->rt;
    size_t n = 0;
    for (size_t k = 0; rt != NULL && k < rt->count; k++)
        n += rt->copies[k].running_gen != 0;
    return n;
}

bool sim_runtime_busy(const sim *s, size_t i)
{
    const sim_runtime *rt = sim_node_at((sim *)s, i)->rt;
    for (size_t k = 0; rt != NULL && k < rt->count; k++)
        if (rt->copies[k].state != CP_RUNNING)
            return true;
    return false;
}
