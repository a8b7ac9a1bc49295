/* The node object: its tables, inputs and outputs (core_decide.c decides). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/core_int.h"

int cara_core_new(cara_core **out, const cara_core_cfg *cfg, cara_env *env)
{
    *out = NULL;
    if (cfg->name == NULL || strlen(cfg->name) > CARA_NAME_BYTES_MAX || cfg->node_pk == NULL ||
        cfg->node_sk == NULL || cfg->crdt == NULL)
        return CARA_EINVAL;
    cara_core *c = cara_env_calloc(env, 1, sizeof *c);
    if (c == NULL)
        return CARA_ENOMEM;
    c->env = env;
    snprintf(c->name, sizeof c->name, "%s", cfg->name);
    memcpy(c->node_pk, cfg->node_pk, CARA_CRDT_PK_BYTES);
    memcpy(c->node_sk, cfg->node_sk, CARA_CRDT_SK_BYTES);
    c->crdt = cfg->crdt;
    c->nodes_dirty = true;
    c->timers_dirty = true;
    c->fence.majority_wall_ms = cfg->last_majority_wall_ms;
    c->fence.disabled = cfg->fencing_disabled;
    c->fence.synced = true; /* until gossip starts: a node on its own runs what it owns */
    *out = c;
    return 0;
}

void cara_core_action_free(cara_core *c, cara_core_action *act)
{
    cara_project_free(c->env, act->spec);
    cara_env_free(c->env, act->record);
    act->spec = NULL;
    act->record = NULL;
}

void cara_core_free(cara_core *c)
{
    if (c == NULL)
        return;
    while (c->projects != NULL) {
        core_project *next = c->projects->next;
        cara_env_free(c->env, c->projects);
        c->projects = next;
    }
    for (size_t i = 0; i < c->actions_count; i++)
        cara_core_action_free(c, &c->actions[(c->actions_head + i) % c->actions_cap]);
    cara_env_free(c->env, c->actions);
    cara_env_free(c->env, c->dirty);
    core_nodes_free(c);
    cara_gossip_free(c->gossip);
    sodium_memzero(c->node_sk, sizeof c->node_sk);
    cara_env_free(c->env, c);
}

/* ---- Gossip ------------------------------------------------------------------------------ */

typedef struct known_ctx {
    cara_core *c;
    uint64_t now_mono_ms;
} known_ctx;

/* A member this node stored a node record of, with its gossip address. */
static int add_known(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    known_ctx *k = ctx;
    cara_core *c = k->c;
    if (r->kind != CARA_CRDT_NODE || memcmp(r->author, c->node_pk, CARA_CRDT_PK_BYTES) == 0)
        return 0;
    cara_node *n = NULL;
    if (cara_node_decode(c->env, r->value, r->value_bytes, NULL, &n) != 0)
        return 0;
    cara_gossip_addr addr;
    if (n->gossip_addr != NULL && cara_gossip_addr_parse(n->gossip_addr, &addr) == 0)
        (void)cara_gossip_add_member(c->gossip, n->name, r->author, &addr, k->now_mono_ms);
    cara_node_free(c->env, n);
    return 0;
}

int cara_core_gossip_start(cara_core *c, const cara_gossip_cfg *cfg, uint64_t now_mono_ms)
{
    if (c->gossip != NULL)
        return CARA_EEXIST;
    int rc = cara_gossip_new(&c->gossip, cfg, c->env, c->crdt);
    if (rc != 0)
        return rc;
    c->nodes_dirty = true; /* readiness is membership's from now on */
    cara_gossip_cfg eff = *cfg;
    cara_gossip_cfg_lan(&eff);
    c->probe_interval_ms = eff.probe_interval_ms;
    c->fence.synced = false; /* a member runs nothing before its first exchanges */
    c->fence.synced_with_count = 0;
    known_ctx k = {c, now_mono_ms};
    (void)cara_crdt_foreach(c->crdt, add_known, &k);
    return 0;
}

cara_gossip *cara_core_gossip(cara_core *c) { return c->gossip; }

int cara_core_poll_gossip_event(cara_core *c, cara_gossip_event *ev)
{
    if (c->gossip == NULL)
        return CARA_EAGAIN;
    int rc = cara_gossip_poll_event(c->gossip, ev);
    if (rc == 0 && (ev->kind == CARA_GOSSIP_EV_MEMBER || ev->kind == CARA_GOSSIP_EV_REAPED))
        c->nodes_dirty = true; /* readiness moved */
    if (rc == 0 && ev->kind == CARA_GOSSIP_EV_SYNCED)
        core_fence_synced_with(c, ev->name);
    return rc;
}

/* ---- Values ------------------------------------------------------------------------ */

static bool key_is(const uint8_t *key, size_t key_bytes, const char *name)
{
    return name != NULL && strlen(name) == key_bytes && memcmp(key, name, key_bytes) == 0;
}

/* The crdt accepts a value only if the spec module can decode it as the
 * record's kind says, and only if it describes the object its key names:
 * the signature covers the key, so a node admitted as "n1" cannot publish a
 * record about "n2", and a project record keyed "a" cannot carry project
 * "b". Nothing malformed or mislabelled is ever stored or gossiped. */
int cara_core_validate_value(void *ctx, int kind, const uint8_t *key, size_t key_bytes,
                         const uint8_t *value, size_t len)
{
    cara_env *env = ctx;
    int rc = 0;
    if (kind == CARA_CRDT_PROJECT) {
        cara_project *p = NULL;
        rc = cara_project_decode(env, value, len, NULL, &p);
        if (rc == 0 && !key_is(key, key_bytes, p->name))
            rc = CARA_ESCHEMA;
        cara_project_free(env, p);
    } else if (kind == CARA_CRDT_STATUS || kind == CARA_CRDT_PLACEMENT) {
        cara_project_status *s = NULL;
        rc = cara_project_status_decode(env, value, len, NULL, &s);
        cara_project_status_free(env, s);
    } else if (kind == CARA_CRDT_NODE) {
        cara_node *n = NULL;
        rc = cara_node_decode(env, value, len, NULL, &n);
        if (rc == 0 && !key_is(key, key_bytes, n->name))
            rc = CARA_ESCHEMA;
        cara_node_free(env, n);
    } else if (kind == CARA_CRDT_SETTINGS) {
        cara_settings *st = NULL;
        rc = cara_settings_decode(env, value, len, NULL, &st);
        cara_settings_free(env, st);
    } else if (kind == CARA_CRDT_NODECTL) {
        /* Keyed by the node's name (the envelope checks its characters);
         * the value names nothing, so there is nothing to compare. */
        cara_node_control ctl;
        rc = cara_node_control_decode(value, len, &ctl);
    }
    /* ADMISSION and JOIN values are the crdt's own formats, checked there
     * (a join's grant and token signature included); a TOMBSTONE has none. */
    return rc;
}

/* ---- This node's own record ---------------------------------------------------------- */

void cara_core_set_incarnation(cara_core *c, uint64_t generation) { c->incarnation = generation; }

uint64_t cara_core_incarnation(const cara_core *c) { return c->incarnation; }

int cara_core_publish_node(cara_core *c, const uint8_t *value, size_t value_bytes,
                           int64_t now_wall_ms)
{
    /* The HLC is ours whether or not the write went through: a record of
     * this node's with another one is an older life's. */
    return cara_core_write_own(c, CARA_CRDT_NODE, c->name, c->incarnation, value, value_bytes,
                               now_wall_ms, &c->published_hlc);
}

/* ---- Acknowledgements ------------------------------------------------------------------ */

size_t cara_core_durable_members(const cara_core *c)
{
    if (c->gossip == NULL)
        return 1;
    cara_gossip_stats st;
    cara_gossip_stats_get(c->gossip, &st);
    return st.members_by_state[CARA_GOSSIP_ALIVE] + st.members_by_state[CARA_GOSSIP_SUSPECT] +
           st.members_by_state[CARA_GOSSIP_DEAD];
}

uint32_t cara_core_acks_wanted(const cara_core *c)
{
    return cara_core_durable_members(c) >= 2 ? 2 : 1;
}

/* ---- Projects and events ------------------------------------------------------------ */

core_project *core_project_find(cara_core *c, const char *name, bool create)
{
    for (core_project *p = c->projects; p != NULL; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    if (!create || c->projects_count >= CARA_CRDT_RECORDS_MAX)
        return NULL;
    core_project *p = cara_env_calloc(c->env, 1, sizeof *p);
    if (p == NULL)
        return NULL;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->last_phase = -1;
    p->next = c->projects;
    c->projects = p;
    c->projects_count++;
    return p;
}

void core_project_drop(cara_core *c, const char *name)
{
    for (core_project **pp = &c->projects; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            core_project *p = *pp;
            *pp = p->next;
            c->projects_count--;
            cara_env_free(c->env, p);
            return;
        }
    }
}

void core_event_add(cara_core *c, const char *project, const char *type, const char *reason,
                    int64_t now_wall_ms, const char *fmt, ...)
{
    core_project *p = core_project_find(c, project, true);
    if (p == NULL)
        return;
    char message[CARA_MESSAGE_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* The scheduler and the owner may say the same thing: one event. */
    if (p->events_count > 0) {
        cara_core_event *last = &p->events[(p->events_next + CARA_CORE_EVENTS_PER_PROJECT - 1) %
                                           CARA_CORE_EVENTS_PER_PROJECT];
        if (strcmp(last->reason, reason) == 0 && strcmp(last->message, message) == 0) {
            last->time_wall_ms = now_wall_ms;
            return;
        }
    }
    cara_core_event *e = &p->events[p->events_next];
    p->events_next = (p->events_next + 1) % CARA_CORE_EVENTS_PER_PROJECT;
    if (p->events_count < CARA_CORE_EVENTS_PER_PROJECT)
        p->events_count++;
    e->time_wall_ms = now_wall_ms;
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    snprintf(e->message, sizeof e->message, "%s", message);
}

size_t cara_core_events_get(const cara_core *c, const char *project, cara_core_event *out,
                            size_t max)
{
    const core_project *p = core_project_find((cara_core *)c, project, false);
    if (p == NULL)
        return 0;
    size_t start = (p->events_next + CARA_CORE_EVENTS_PER_PROJECT - p->events_count) %
                   CARA_CORE_EVENTS_PER_PROJECT;
    size_t n = p->events_count < max ? p->events_count : max;
    for (size_t i = 0; i < n; i++)
        out[i] = p->events[(start + i) % CARA_CORE_EVENTS_PER_PROJECT];
    return n;
}

/* ---- What waits for a step ----------------------------------------------------------- */

void core_mark(cara_core *c, const char *name)
{
    for (size_t i = 0; i < c->dirty_count; i++)
        if (strcmp(c->dirty[i], name) == 0)
            return;
    if (c->dirty_count == c->dirty_cap) {
        size_t cap = c->dirty_cap ? c->dirty_cap * 2 : 16;
        void *v = cap <= CARA_CRDT_RECORDS_MAX
                      ? cara_env_realloc(c->env, c->dirty, cap * sizeof *c->dirty)
                      : NULL;
        if (v == NULL) {
            c->dirty_all = true; /* cannot list it: evaluate everything */
            return;
        }
        c->dirty = v;
        c->dirty_cap = cap;
    }
    snprintf(c->dirty[c->dirty_count++], sizeof *c->dirty, "%s", name);
}

/* A node record of this node's own that this object did not publish, at
 * or above its incarnation: ask for a higher one. */
static void own_record_seen(cara_core *c)
{
    cara_crdt_record r;
    if (cara_crdt_get(c->crdt, CARA_CRDT_NODE, (const uint8_t *)c->name, strlen(c->name), &r) != 0 ||
        memcmp(r.author, c->node_pk, CARA_CRDT_PK_BYTES) != 0)
        return;
    bool published = r.generation == c->incarnation && r.hlc == c->published_hlc;
    if (published || r.generation < c->incarnation || r.generation >= CARA_GENERATION_MAX)
        return;
    cara_core_action act = {.kind = CARA_CORE_ACT_INCARNATION, .generation = r.generation + 1};
    if (core_push(c, &act) != 0)
        cara_env_logf(c->env, CARA_LOG_WARN, "core",
                      "an older record of this node (generation %llu) waits to be refuted",
                      (unsigned long long)r.generation);
}

void cara_core_record_changed(cara_core *c, int kind, const char *key)
{
    bool self = strcmp(key, c->name) == 0;
    if (self && kind == CARA_CRDT_NODE)
        own_record_seen(c);
    if (self && (kind == CARA_CRDT_ADMISSION || kind == CARA_CRDT_JOIN) &&
        cara_crdt_node_admitted(c->crdt, c->node_pk)) {
        cara_core_action act = {.kind = CARA_CORE_ACT_PUBLISH_NODE};
        (void)core_push(c, &act); /* lost only out of memory: the next republish carries it */
    }
    switch (kind) {
    case CARA_CRDT_PROJECT:
    case CARA_CRDT_TOMBSTONE:
    case CARA_CRDT_STATUS:
    case CARA_CRDT_PLACEMENT:
        core_mark(c, key);
        /* What is placed where changed: a project waiting for room may
         * fit now (allocations are not part of the nodes' hash). */
        c->retry_unplaced = true;
        break;
    case CARA_CRDT_ADMISSION:
    case CARA_CRDT_JOIN: /* a node admitted by a token, or a join out of effect */
        c->nodes_dirty = true;
        c->dirty_all = true;
        break;
    case CARA_CRDT_SETTINGS:
        c->timers_dirty = true;
        c->dirty_all = true;
        break;
    case CARA_CRDT_NODE:
    case CARA_CRDT_NODECTL: /* the operator's cordon or drain of a node */
        /* Only a change that scheduling can see re-evaluates every
         * project: the node cache compares what it reads (nodes_get). */
        c->nodes_dirty = true;
        break;
    default:
        break;
    }
}

void cara_core_all_changed(cara_core *c)
{
    c->nodes_dirty = true;
    c->dirty_all = true;
}

bool cara_core_busy(const cara_core *c)
{
    return c->dirty_count > 0 || c->dirty_all || c->nodes_dirty;
}

int64_t cara_core_next_deadline_wall_ms(const cara_core *c)
{
    int64_t t = INT64_MAX;
    for (const core_project *p = c->projects; p != NULL; p = p->next)
    {
        if (p->has_expire_at && p->expiry_handled_generation != p->spec_generation &&
            p->expire_at_wall_ms < t)
            t = p->expire_at_wall_ms;
        if (p->wake_wall_ms != 0 && p->wake_wall_ms < t)
            t = p->wake_wall_ms;
    }
    return t;
}

/* ---- Actions ---------------------------------------------------------------------------- */

int core_push(cara_core *c, const cara_core_action *act)
{
    if (c->actions_count == c->actions_cap) {
        size_t cap = c->actions_cap ? c->actions_cap * 2 : 16;
        cara_core_action *v = cap <= CARA_CORE_ACTIONS_MAX
                                  ? cara_env_calloc(c->env, cap, sizeof *v)
                                  : NULL;
        if (v == NULL) {
            cara_project_free(c->env, act->spec);
            return cap > CARA_CORE_ACTIONS_MAX ? CARA_ELIMIT : CARA_ENOMEM;
        }
        for (size_t i = 0; i < c->actions_count; i++)
            v[i] = c->actions[(c->actions_head + i) % c->actions_cap];
        cara_env_free(c->env, c->actions);
        c->actions = v;
        c->actions_cap = cap;
        c->actions_head = 0;
    }
    c->actions[(c->actions_head + c->actions_count) % c->actions_cap] = *act;
    c->actions_count++;
    return 0;
}

bool cara_core_actions_pending(const cara_core *c) { return c->actions_count > 0; }

int cara_core_poll_action(cara_core *c, cara_core_action *out)
{
    if (c->actions_count == 0)
        return CARA_EAGAIN;
    *out = c->actions[c->actions_head];
    c->actions_head = (c->actions_head + 1) % c->actions_cap;
    c->actions_count--;
    return 0;
}

int cara_core_write_own(cara_core *c, int kind, const char *key, uint64_t generation,
                        const uint8_t *value, size_t value_bytes, int64_t now_wall_ms,
                        uint64_t *hlc)
{
    cara_crdt_record rec = {
        .kind = kind,
        .key = (const uint8_t *)key,
        .key_bytes = strlen(key),
        .generation = generation,
        .hlc = cara_crdt_hlc_next(c->crdt, now_wall_ms),
        .author = c->node_pk,
        .value = value,
        .value_bytes = value_bytes,
    };
    if (hlc != NULL)
        *hlc = rec.hlc;
    cara_buf out;
    cara_buf_init(&out, c->env, CARA_CRDT_RECORD_BYTES_MAX);
    int rc = cara_crdt_record_sign(&rec, c->node_sk, &out);
    int result = 0;
    if (rc == 0)
        rc = cara_crdt_apply_local(c->crdt, out.data, out.len, now_wall_ms, &result);
    if (rc == 0 && result == CARA_CRDT_APPLIED) {
        cara_core_action act = {.kind = CARA_CORE_ACT_RECORD};
        act.record = cara_buf_take(&out, &act.record_len);
        if (act.record == NULL || core_push(c, &act) != 0) {
            cara_env_free(c->env, act.record);
            /* Merged but not queued: the driver's next full write of the
             * state still stores it, and anti-entropy still sends it. */
            rc = CARA_ENOMEM;
        }
    }
    cara_buf_free(&out);
    return rc;
}

/* ---- Nodes ------------------------------------------------------------------------------ */

bool cara_core_node_ready(const cara_core *c, const char *name)
{
    /* Membership's word (docs/gossip.md, "What the agent does with
     * membership"): Ready while SWIM holds the node alive or suspect, and
     * only while it is admitted and has published a record. A node
     * without gossip knows no membership: it takes every admitted node
     * with a record as Ready, which is what a node on its own, or a test
     * fixture of several, needs. */
    if (strcmp(name, c->name) == 0)
        return true;
    cara_crdt_record rec;
    if (cara_crdt_get(c->crdt, CARA_CRDT_NODE, (const uint8_t *)name, strlen(name), &rec) != 0 ||
        !cara_crdt_node_admitted(c->crdt, rec.author))
        return false;
    if (c->gossip == NULL)
        return true;
    cara_gossip_member m;
    return cara_gossip_member_get(c->gossip, name, &m) == 0 &&
           (m.state == CARA_GOSSIP_ALIVE || m.state == CARA_GOSSIP_SUSPECT);
}

cara_node_control cara_core_node_control(const cara_core *c, const char *name)
{
    cara_node_control ctl = {0};
    cara_crdt_record rec;
    /* The value was checked on the way in (cara_core_validate_value); a
     * state without one for this node leaves it uncontrolled. */
    if (cara_crdt_get(c->crdt, CARA_CRDT_NODECTL, (const uint8_t *)name, strlen(name), &rec) == 0 &&
        cara_node_control_decode(rec.value, rec.value_bytes, &ctl) != 0)
        ctl = (cara_node_control){0};
    return ctl;
}

/* ---- Steps ----------------------------------------------------------------------------- */

typedef struct names_ctx {
    cara_core *c;
    char (*names)[CARA_NAME_BYTES_MAX + 1];
    size_t count, cap;
} names_ctx;

static int collect_project(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t l)
{
    (void)b;
    (void)l;
    names_ctx *x = ctx;
    if (r->kind != CARA_CRDT_PROJECT && r->kind != CARA_CRDT_TOMBSTONE)
        return 0;
    if (x->count == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        void *v = cara_env_realloc(x->c->env, x->names, cap * sizeof *x->names);
        if (v == NULL)
            return CARA_ENOMEM;
        x->names = v;
        x->cap = cap;
    }
    snprintf(x->names[x->count++], sizeof *x->names, "%.*s", (int)r->key_bytes,
             (const char *)r->key);
    return 0;
}

static void evaluate_all(cara_core *c)
{
    names_ctx x = {.c = c};
    int rc = cara_crdt_foreach(c->crdt, collect_project, &x);
    /* Out of memory listing them: evaluate what was listed, and say that
     * the rest waits for the next change. */
    if (rc != 0)
        cara_env_logf(c->env, CARA_LOG_WARN, "core",
                      "listing projects for evaluation failed after %zu: %s", x.count,
                      cara_strerror(rc));
    for (size_t i = 0; i < x.count; i++)
        core_evaluate(c, x.names[i]);
    cara_env_free(c->env, x.names);
}

void cara_core_step(cara_core *c, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    c->now_wall_ms = now_wall_ms;
    c->now_mono_ms = now_mono_ms;
    if (c->timers_dirty)
        core_timers_load(c);
    cara_core_nodes_get(c); /* may ask for every project */
    core_fence_update(c);
    c->alloc_valid = false;
    /* Take the list first: evaluations ask for more (their own records),
     * which wait for the next step. */
    char (*names)[CARA_NAME_BYTES_MAX + 1] = c->dirty;
    if (c->retry_unplaced && !c->dirty_all) {
        for (core_project *p = c->projects; p != NULL; p = p->next)
            if (p->unplaced)
                core_mark(c, p->name);
    }
    c->retry_unplaced = false;
    size_t n = c->dirty_count;
    bool all = c->dirty_all;
    c->dirty = NULL;
    c->dirty_count = c->dirty_cap = 0;
    c->dirty_all = false;
    if (all)
        evaluate_all(c);
    else
        for (size_t i = 0; i < n; i++)
            core_evaluate(c, names[i]);
    cara_env_free(c->env, names);
    /* Then expiry, against the specs just evaluated (a newer spec with a
     * later expireAt is not expired by the older one's). Each is acted on
     * once per spec generation; at most CORE_EXPIRIES_PER_STEP a step keeps
     * a step short, the rest come at the next one. */
    char due[CORE_EXPIRIES_PER_STEP][CARA_NAME_BYTES_MAX + 1];
    size_t d = 0;
    for (core_project *p = c->projects; p != NULL && d < CORE_EXPIRIES_PER_STEP; p = p->next) {
        if (p->has_expire_at && now_wall_ms >= p->expire_at_wall_ms &&
            p->expiry_handled_generation != p->spec_generation) {
            p->expiry_handled_generation = p->spec_generation;
            snprintf(due[d++], sizeof due[0], "%s", p->name);
        }
    }
    for (size_t i = 0; i < d; i++) {
        core_event_add(c, due[i], "Normal", "Expired", now_wall_ms, "expireAt has passed");
        core_evaluate(c, due[i]);
    }
    /* Graces and timeouts that ended (a project on a NotReady node, a
     * Terminating one whose node is gone), as many as expiries a step. */
    d = 0;
    for (core_project *p = c->projects; p != NULL && d < CORE_EXPIRIES_PER_STEP; p = p->next) {
        if (p->wake_wall_ms != 0 && now_wall_ms >= p->wake_wall_ms) {
            p->wake_wall_ms = 0;
            snprintf(due[d++], sizeof due[0], "%s", p->name);
        }
    }
    for (size_t i = 0; i < d; i++)
        core_evaluate(c, due[i]);
}

void cara_core_force_delete(cara_core *c, const char *project, int64_t now_wall_ms)
{
    core_project *p = core_project_find(c, project, true);
    if (p == NULL)
        return;
    c->now_wall_ms = now_wall_ms;
    p->force_delete = true;
    core_evaluate(c, project);
    p = core_project_find(c, project, false); /* the evaluation may have dropped it */
    if (p != NULL)
        p->force_delete = false; /* acted on, or nothing to act on here */
}

void cara_core_stats_get(const cara_core *c, cara_core_stats *out)
{
    *out = c->stats;
    out->projects_known = c->projects_count;
    out->handoffs_waiting = 0;
    for (const core_project *p = c->projects; p != NULL; p = p->next)
        out->handoffs_waiting += p->handoff_since_mono_ms != 0;
}
