/* The agent's decisions: merge records, schedule, own, expire, report. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "agent/agent_int.h"

agent_project *agent_project_find(cara_agent *a, const char *name, bool create)
{
    for (agent_project *p = a->projects; p != NULL; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    if (!create || a->projects_count >= CARA_CRDT_RECORDS_MAX)
        return NULL;
    agent_project *p = cara_env_calloc(a->env, 1, sizeof *p);
    if (p == NULL)
        return NULL;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->last_phase = -1;
    p->next = a->projects;
    a->projects = p;
    a->projects_count++;
    return p;
}

void agent_project_drop(cara_agent *a, const char *name)
{
    for (agent_project **pp = &a->projects; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            agent_project *p = *pp;
            *pp = p->next;
            a->projects_count--;
            cara_env_free(a->env, p);
            return;
        }
    }
}

void agent_event_add(cara_agent *a, const char *project, const char *type, const char *reason,
                     const char *fmt, ...)
{
    agent_project *p = agent_project_find(a, project, true);
    if (p == NULL)
        return;
    char message[CARA_MESSAGE_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* The scheduler and the owner may say the same thing: one event. */
    if (p->events_count > 0) {
        agent_event *last = &p->events[(p->events_next + AGENT_EVENTS_PER_PROJECT - 1) %
                                        AGENT_EVENTS_PER_PROJECT];
        if (strcmp(last->reason, reason) == 0 && strcmp(last->message, message) == 0) {
            last->time_wall_ms = cara_env_now_wall_ms(a->env);
            return;
        }
    }
    agent_event *e = &p->events[p->events_next];
    p->events_next = (p->events_next + 1) % AGENT_EVENTS_PER_PROJECT;
    if (p->events_count < AGENT_EVENTS_PER_PROJECT)
        p->events_count++;
    e->time_wall_ms = cara_env_now_wall_ms(a->env);
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    snprintf(e->message, sizeof e->message, "%s", message);
}

bool agent_admitted(const cara_agent *a) { return cara_crdt_node_admitted(a->crdt, a->node_pk); }

/* ---- Records in ------------------------------------------------------------------ */

static void dispatch(cara_agent *a, const cara_crdt_record *rec)
{
    char key[CARA_CRDT_KEY_BYTES_MAX + 1];
    snprintf(key, sizeof key, "%.*s", (int)rec->key_bytes, (const char *)rec->key);
    switch (rec->kind) {
    case CARA_CRDT_PROJECT:
    case CARA_CRDT_TOMBSTONE:
    case CARA_CRDT_STATUS:
    case CARA_CRDT_PLACEMENT:
        agent_schedule_eval(a, key);
        agent_watch_notify(a, "Project", key);
        break;
    case CARA_CRDT_ADMISSION:
    case CARA_CRDT_JOIN: /* a node admitted by a token, or a join out of effect */
        if (strcmp(key, a->cfg.name) == 0)
            a->publish_pending = true;
        a->nodes_dirty = true;
        agent_schedule_eval_all(a);
        agent_watch_notify(a, "Node", key);
        break;
    case CARA_CRDT_NODE:
        agent_node_record_seen(a, rec);
        agent_watch_notify(a, "Node", key);
        break;
    default:
        break;
    }
}

/* Called by the store for each change it writes, before the commit: what
 * changed is noted here and acted on (watchers told, evaluations asked
 * for) only once the commit succeeded. Removals name no key: they come
 * from revocation and collection, and everything is looked at again. */
static void on_change(void *ctx, const cara_crdt_change *c)
{
    cara_agent *a = ctx;
    cara_crdt_record rec;
    if (c->type == CARA_CRDT_CHANGE_PUT && cara_crdt_record_decode(c->bytes, c->len, &rec) == 0) {
        if (a->seen_count == a->seen_cap) {
            size_t cap = a->seen_cap ? 2 * a->seen_cap : 16;
            agent_seen *v = cara_env_realloc(a->env, a->seen, cap * sizeof *v);
            if (v == NULL) {
                a->seen_all = true; /* cannot list it: look at everything */
                return;
            }
            a->seen = v;
            a->seen_cap = cap;
        }
        agent_seen *s = &a->seen[a->seen_count++];
        s->kind = rec.kind;
        snprintf(s->key, sizeof s->key, "%.*s", (int)rec.key_bytes, (const char *)rec.key);
        s->generation = rec.generation;
        s->hlc = rec.hlc;
        memcpy(s->author, rec.author, CARA_CRDT_PK_BYTES);
        return;
    }
    if (c->type == CARA_CRDT_CHANGE_DEL || c->type == CARA_CRDT_CHANGE_RESET)
        a->seen_all = true;
}

static void dispatch_seen(cara_agent *a)
{
    for (size_t i = 0; i < a->seen_count; i++) {
        const agent_seen *s = &a->seen[i];
        cara_crdt_record rec = {.kind = s->kind, .key = (const uint8_t *)s->key,
                                .key_bytes = strlen(s->key), .generation = s->generation,
                                .hlc = s->hlc, .author = s->author};
        dispatch(a, &rec);
    }
    if (a->seen_all) {
        a->nodes_dirty = true;
        agent_schedule_eval_all(a);
    }
    a->seen_count = 0;
    a->seen_all = false;
}

int agent_persist(cara_agent *a)
{
    a->persist_pending = false;
    a->seen_count = 0;
    a->seen_all = false;
    int rc = cara_store_persist(a->store, a->crdt, on_change, a);
    if (rc != 0) {
        /* The state in memory is ahead of the disk, and the crdt cannot
         * take it back. Answering anything but an error, or acting on it,
         * could acknowledge what a restart loses; so stop, and let the
         * supervisor restart the agent from what the disk holds (as
         * databases do when a write or fsync fails). */
        a->stats.store_errors++;
        agent_fail_stop(a, "persisting the state failed");
        return CARA_EIO;
    }
    dispatch_seen(a);
    return 0;
}

int agent_ingest(cara_agent *a, const uint8_t *bytes, size_t len, bool *changed)
{
    *changed = false;
    int result = 0;
    int rc = cara_crdt_apply(a->crdt, bytes, len, cara_env_now_wall_ms(a->env), &result);
    if (rc < 0) {
        a->stats.records_refused++;
        return rc;
    }
    if (result != CARA_CRDT_APPLIED)
        return 0;
    a->stats.records_applied++;
    /* Durable before anything acts on it or anyone is told (DESIGN.md §4). */
    if ((rc = agent_persist(a)) != 0)
        return rc;
    *changed = true;
    return 0;
}

/* Signs a record of this node and merges it like any other. It is written
 * to disk with whatever else this loop turn produces, in one transaction:
 * a node's own status is not acknowledged to anyone, and a crash before
 * the write is the same as a crash before the status was made. */
static int write_own(cara_agent *a, int kind, const char *key, uint64_t generation,
                     const cara_buf *value)
{
    cara_crdt_record rec = {
        .kind = kind,
        .key = (const uint8_t *)key,
        .key_bytes = strlen(key),
        .generation = generation,
        .hlc = cara_crdt_hlc_next(a->crdt, cara_env_now_wall_ms(a->env)),
        .author = a->node_pk,
        .value = value->data,
        .value_bytes = value->len,
    };
    cara_buf out;
    cara_buf_init(&out, a->env, CARA_CRDT_RECORD_BYTES_MAX);
    int rc = cara_crdt_record_sign(&rec, a->node_sk, &out);
    int result = 0;
    if (kind == CARA_CRDT_NODE)
        a->node_record_hlc = rec.hlc; /* ours, not one to refute */
    if (rc == 0)
        rc = cara_crdt_apply_local(a->crdt, out.data, out.len, cara_env_now_wall_ms(a->env),
                                   &result);
    /* Sent only after the flush has persisted it (agent_gossip.c). */
    if (rc == 0 && result == CARA_CRDT_APPLIED)
        agent_gossip_publish(a, out.data, out.len);
    cara_buf_free(&out);
    if (rc == 0 && result == CARA_CRDT_APPLIED)
        agent_persist_soon(a);
    return rc;
}

static int write_project_record(cara_agent *a, int kind, const char *project, uint64_t generation,
                                const cara_project_status *st)
{
    cara_buf v;
    cara_buf_init(&v, a->env, CARA_STATUS_BYTES_MAX);
    int rc = cara_project_status_encode(st, &v);
    if (rc == 0)
        rc = write_own(a, kind, project, generation, &v);
    cara_buf_free(&v);
    if (rc == 0)
        a->stats.status_writes++;
    else
        cara_env_logf(a->env, CARA_LOG_WARN, "agent", "project=%s writing %s failed: %s",
                      project, kind == CARA_CRDT_STATUS ? "status" : "placement",
                      cara_strerror(rc));
    return rc;
}

/* A placement written by the scheduler: phase, nodeRef and one Phase
 * condition saying why. */
static void write_placement(cara_agent *a, const char *project, uint64_t generation,
                            cara_phase phase, const char *node, const char *reason,
                            const char *message)
{
    char text[CARA_MESSAGE_BYTES_MAX];
    snprintf(text, sizeof text, "%s: %.900s", cara_phase_name(phase), message);
    cara_condition c = {.type = "Phase", .status = CARA_COND_TRUE, .reason = (char *)reason,
                        .message = text, .last_transition_wall_ms = cara_env_now_wall_ms(a->env)};
    cara_project_status st = {.phase = phase, .node_ref = (char *)node, .conditions = &c,
                              .conditions_count = 1};
    if (write_project_record(a, CARA_CRDT_PLACEMENT, project, generation, &st) == 0)
        agent_event_add(a, project, phase == CARA_PHASE_PENDING ? "Warning" : "Normal", reason,
                        "%s", message);
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

static bool record_of_node(cara_agent *a, int kind, const char *project, const char *node,
                           uint64_t generation_max, cara_crdt_record *out)
{
    return cara_sched_record_of_node(a->crdt, kind, project, node, generation_max, out);
}

static bool placement_of(cara_agent *a, const char *project, uint64_t generation,
                         cara_crdt_record *out, bool *by_scheduler)
{
    *by_scheduler = false;
    const agent_nodes *ns = agent_nodes_cached(a);
    return ns != NULL && cara_sched_placement_of(a->crdt, project, generation, ns->items,
                                                 ns->count, out, by_scheduler);
}

int agent_project_status(cara_agent *a, const char *name, uint64_t generation,
                         cara_project_status **status, uint64_t *observed_generation)
{
    *status = NULL;
    cara_crdt_record place, own, *shown = NULL;
    bool by_scheduler;
    bool placed = placement_of(a, name, generation, &place, &by_scheduler);
    char owner[CARA_NAME_BYTES_MAX + 1] = "";
    cara_project_status *ps = NULL;
    if (placed && cara_project_status_decode(a->env, place.value, place.value_bytes, NULL, &ps) == 0) {
        shown = &place;
        if (ps->node_ref != NULL)
            snprintf(owner, sizeof owner, "%s", ps->node_ref);
    }
    /* Without any placement, a status by this node (a single node that
     * ran it before placements were kept apart) still tells the truth. */
    const char *who = owner[0] ? owner : placed ? NULL : a->cfg.name;
    if (record_of_node(a, CARA_CRDT_STATUS, name, who, generation, &own) &&
        (shown == NULL || own.hlc >= place.hlc)) {
        cara_project_status_free(a->env, ps);
        ps = NULL;
        if (cara_project_status_decode(a->env, own.value, own.value_bytes, NULL, &ps) == 0)
            shown = &own;
    }
    if (shown == NULL) {
        cara_project_status_free(a->env, ps);
        return CARA_ENOENT;
    }
    *status = ps;
    if (observed_generation != NULL)
        *observed_generation = shown->generation;
    return 0;
}

int agent_load_project(cara_agent *a, const char *name, cara_project **spec,
                       cara_project_status **status, uint64_t *generation, bool *deleted)
{
    *spec = NULL;
    *status = NULL;
    cara_crdt_record rec;
    int rc = cara_crdt_get(a->crdt, CARA_CRDT_PROJECT, (const uint8_t *)name, strlen(name), &rec);
    if (rc != 0)
        return rc;
    *generation = rec.generation;
    *deleted = rec.kind == CARA_CRDT_TOMBSTONE;
    if (!*deleted && (rc = cara_project_decode(a->env, rec.value, rec.value_bytes, NULL, spec)) != 0)
        return rc; /* the crdt validated it on the way in: this is not reached */
    agent_project_status(a, name, *generation, status, NULL);
    return 0;
}

/* ---- Nodes -------------------------------------------------------------------------- */

typedef struct nodes_ctx {
    cara_agent *a;
    agent_nodes *out;
    int rc;
} nodes_ctx;

static int collect_node(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    nodes_ctx *c = ctx;
    if (r->kind != CARA_CRDT_NODE)
        return 0;
    cara_node *n = NULL;
    if (cara_node_decode(c->a->env, r->value, r->value_bytes, NULL, &n) != 0)
        return 0;
    agent_nodes *ns = c->out;
    cara_sched_node *items = cara_env_realloc(c->a->env, ns->items, (ns->count + 1) * sizeof *items);
    cara_node **dec = cara_env_realloc(c->a->env, ns->decoded, (ns->count + 1) * sizeof *dec);
    if (items != NULL)
        ns->items = items;
    if (dec != NULL)
        ns->decoded = dec;
    if (items == NULL || dec == NULL) {
        cara_node_free(c->a->env, n);
        c->rc = CARA_ENOMEM;
        return 1;
    }
    dec[ns->count] = n;
    items[ns->count] = (cara_sched_node){
        .name = n->name,
        /* Readiness is the readers' (agent_node_ready), never the
         * record's own `state` or Ready condition (DESIGN.md §4). */
        .ready = agent_node_ready(c->a, n->name),
        .schedulable = cara_sched_node_schedulable(n),
        .labels = n->labels,
        .labels_count = n->labels_count,
        .capacity = n->capacity,
    };
    ns->count++;
    return 0;
}

int agent_nodes_load(cara_agent *a, agent_nodes *out)
{
    *out = (agent_nodes){0};
    nodes_ctx c = {a, out, 0};
    int rc = cara_crdt_foreach(a->crdt, collect_node, &c);
    if (rc != 0 || c.rc != 0)
        agent_nodes_free(a, out);
    return c.rc != 0 ? c.rc : rc < 0 ? rc : 0;
}

void agent_nodes_free(cara_agent *a, agent_nodes *ns)
{
    for (size_t i = 0; i < ns->count; i++)
        cara_node_free(a->env, ns->decoded[i]);
    cara_env_free(a->env, ns->decoded);
    cara_env_free(a->env, ns->items);
    *ns = (agent_nodes){0};
}

/* What scheduling reads of the nodes, as one hash: a node record that
 * changes none of it (a republish, an address) re-evaluates nothing. */
static void nodes_sched_hash(const agent_nodes *ns, uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (size_t i = 0; i < ns->count; i++) {
        const cara_sched_node *n = &ns->items[i];
        uint8_t flags[2] = {n->ready, n->schedulable};
        crypto_generichash_update(&st, (const uint8_t *)n->name, strlen(n->name) + 1);
        crypto_generichash_update(&st, flags, sizeof flags);
        crypto_generichash_update(&st, (const uint8_t *)&n->capacity, sizeof n->capacity);
        for (size_t l = 0; l < n->labels_count; l++) {
            crypto_generichash_update(&st, (const uint8_t *)n->labels[l].name,
                                      strlen(n->labels[l].name) + 1);
            crypto_generichash_update(&st, (const uint8_t *)n->labels[l].value,
                                      strlen(n->labels[l].value) + 1);
        }
    }
    crypto_generichash_final(&st, out, 32);
}

const agent_nodes *agent_nodes_cached(cara_agent *a)
{
    if (!a->nodes_dirty && a->nodes_valid)
        return &a->nodes;
    agent_nodes_free(a, &a->nodes);
    a->nodes_valid = agent_nodes_load(a, &a->nodes) == 0;
    a->nodes_dirty = false;
    if (!a->nodes_valid)
        return NULL;
    uint8_t h[32];
    nodes_sched_hash(&a->nodes, h);
    if (memcmp(h, a->nodes_hash, sizeof h) != 0) {
        memcpy(a->nodes_hash, h, sizeof h);
        agent_schedule_eval_all(a);
    }
    return &a->nodes;
}

void agent_node_record_seen(cara_agent *a, const cara_crdt_record *rec)
{
    /* Our own record from an earlier life, held by a peer or restored from
     * a backup, with a generation above ours: take a higher one and publish
     * again, or ours would lose to it (as SWIM refutes): one at or above
     * our generation that is not the one we published. The counter is
     * written on the evaluation turn, outside the store's transaction. */
    bool ours = rec->key_bytes == strlen(a->cfg.name) &&
                memcmp(rec->key, a->cfg.name, rec->key_bytes) == 0 &&
                memcmp(rec->author, a->node_pk, CARA_CRDT_PK_BYTES) == 0;
    bool published = rec->generation == a->incarnation && rec->hlc == a->node_record_hlc;
    if (ours && !published && rec->generation >= a->incarnation &&
        rec->generation < CARA_GENERATION_MAX) {
        if (rec->generation > a->refute_generation)
            a->refute_generation = rec->generation;
        a->publish_pending = true;
    }
    /* The cache is rebuilt on the next evaluation; only a change that
     * scheduling can see re-evaluates every project. */
    a->nodes_dirty = true;
    agent_schedule_eval(a, NULL);
}

/* Takes an incarnation above a record of ours seen from an earlier life. */
static void refute(cara_agent *a)
{
    if (a->refute_generation < a->incarnation)
        return;
    if (cara_store_counter_next(a->store, "node_incarnation", a->refute_generation + 1,
                                &a->incarnation) != 0)
        agent_fail_stop(a, "persisting the node incarnation failed");
}

static bool node_ready(const agent_nodes *ns, const char *name)
{
    for (size_t i = 0; i < ns->count; i++)
        if (strcmp(ns->items[i].name, name) == 0)
            return ns->items[i].ready;
    return false;
}

/* Does the node still have a record (admitted, not revoked)? */
static bool node_known(const agent_nodes *ns, const char *name)
{
    for (size_t i = 0; i < ns->count; i++)
        if (strcmp(ns->items[i].name, name) == 0)
            return true;
    return false;
}

void agent_membership_changed(cara_agent *a, const char *name)
{
    a->nodes_dirty = true;
    agent_schedule_eval(a, NULL);
    agent_watch_notify(a, "Node", name);
}

void agent_publish_node(cara_agent *a)
{
    if (!agent_admitted(a) || a->stopping)
        return;
    cara_buf v;
    cara_buf_init(&v, a->env, CARA_NODE_BYTES_MAX);
    int rc = agent_node_value(a, &v);
    if (rc == 0)
        rc = write_own(a, CARA_CRDT_NODE, a->cfg.name, a->incarnation, &v);
    if (rc == 0)
        agent_node_published(a, &v);
    cara_buf_free(&v);
    if (rc != 0)
        cara_env_logf(a->env, CARA_LOG_WARN, "agent", "publishing the node record failed: %s",
                      cara_strerror(rc));
}

/* ---- Projects ---------------------------------------------------------------------- */

/* The scheduler's part: place a project that has no live placement. */
static void schedule(cara_agent *a, const char *name, const cara_project *spec, uint64_t gen,
                     const cara_project_status *st, const agent_nodes *ns)
{
    /* A placed project stays where it is while its node is admitted, even
     * when membership says the node is dead: moving it needs the fencing
     * and grace period of DESIGN.md §6 (not built yet), without which a
     * partitioned owner and the new one would both run it. Until then a
     * project waits for its node to come back (docs/gossip.md). */
    const char *owner = st != NULL ? st->node_ref : NULL;
    bool placed = owner != NULL && node_known(ns, owner) &&
                  st->phase != CARA_PHASE_TERMINATED && st->phase != CARA_PHASE_PENDING;
    cara_crdt_record rec;
    bool mine = false;
    placement_of(a, name, gen, &rec, &mine);
    if (placed && !mine) {
        /* A new scheduler: it makes the placement it found (a hint by the
         * one before it, or the owner's own report) its own, so that its
         * record, not the hint, is what every node reads from now on. */
        char msg[128];
        snprintf(msg, sizeof msg, "placement on node %s kept by the new scheduler", owner);
        write_placement(a, name, gen, CARA_PHASE_SCHEDULED, owner, "Scheduled", msg);
        return;
    }
    if (placed)
        return;
    cara_sched_verdict v = cara_sched_place(spec, ns->items, ns->count);
    if (v.index >= 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "placed on node %s", ns->items[v.index].name);
        write_placement(a, name, gen, CARA_PHASE_SCHEDULED, ns->items[v.index].name,
                           "Scheduled", msg);
        return;
    }
    char why[256];
    cara_sched_explain(&v, ns->count, why, sizeof why);
    bool same = st != NULL && st->phase == CARA_PHASE_PENDING && st->conditions_count > 0 &&
                strstr(st->conditions[0].message, why) != NULL;
    if (!same)
        write_placement(a, name, gen, CARA_PHASE_PENDING, NULL, "Unschedulable", why);
}

/* The owner's part: hand the spec (or its deletion) to the reconciler. */
static void own(cara_agent *a, agent_project *ap, cara_project **spec, uint64_t gen, bool gone)
{
    if (!gone && ap->owned_generation != gen) {
        ap->owned_generation = gen;
        ap->owned_deleting = false;
        agent_event_add(a, ap->name, "Normal", "Reconciling", "generation %llu handed to the reconciler",
                        (unsigned long long)gen);
        cara_reconciler_apply(a->recon, *spec);
        *spec = NULL; /* taken */
    } else if (gone && (!ap->owned_deleting || ap->force_delete)) {
        bool first = !ap->owned_deleting;
        ap->owned_deleting = true;
        ap->owned_generation = gen;
        if (first)
            agent_event_add(a, ap->name, "Normal", "Deleting", "removing the project's objects%s",
                            ap->force_delete ? " at once (--force)" : "");
        if (ap->force_delete)
            cara_reconciler_delete_force(a->recon, ap->name);
        else
            cara_reconciler_delete(a->recon, ap->name);
        ap->force_delete = false;
    }
}

void agent_project_changed(cara_agent *a, const char *name)
{
    if (a->stopping)
        return;
    a->stats.evaluations++;
    cara_project *spec = NULL;
    cara_project_status *st = NULL;
    uint64_t gen = 0;
    bool deleted = false;
    if (agent_load_project(a, name, &spec, &st, &gen, &deleted) != 0)
        goto out;
    /* A deleted project that reached Terminated needs nothing more from
     * this node: keep no local data for it (the tombstone stays in the
     * state until collection). */
    if (deleted && st != NULL && st->phase == CARA_PHASE_TERMINATED) {
        agent_project_drop(a, name);
        goto out;
    }
    agent_project *ap = agent_project_find(a, name, true);
    if (ap == NULL)
        goto out;
    int64_t now = cara_env_now_wall_ms(a->env);
    if (ap->was_deleted && !deleted) {
        /* Re-created after a delete: a new project as far as anyone reading
         * its events can tell. */
        ap->events_count = ap->events_next = 0;
        ap->last_phase = -1;
    }
    ap->was_deleted = deleted;
    ap->spec_generation = gen;
    ap->has_expire_at = spec != NULL && spec->has_expire_at;
    ap->expire_at_wall_ms = ap->has_expire_at ? spec->expire_at_wall_ms : 0;
    bool expired = ap->has_expire_at && now >= ap->expire_at_wall_ms;
    bool gone = deleted || expired;
    const agent_nodes *nsp = agent_nodes_cached(a);
    if (nsp == NULL)
        goto out;
    const agent_nodes ns = *nsp;
    int sched = cara_sched_scheduler_of(name, ns.items, ns.count);
    bool me_sched = sched >= 0 && strcmp(ns.items[sched].name, a->cfg.name) == 0;
    const char *owner = st != NULL ? st->node_ref : NULL;
    bool mine = owner != NULL && strcmp(owner, a->cfg.name) == 0;
    if (!gone && me_sched)
        schedule(a, name, spec, gen, st, &ns);
    if (mine && (st->phase != CARA_PHASE_TERMINATED || !gone))
        own(a, ap, &spec, gen, gone);
    /* Forced, and its node is gone: the scheduler does not wait for it
     * (DESIGN.md §6); the objects are removed when that node returns and
     * sees the tombstone. */
    if (gone && me_sched && owner != NULL && !mine && ap->force_delete && !node_ready(&ns, owner) &&
        st->phase != CARA_PHASE_TERMINATED) {
        write_placement(a, name, gen, CARA_PHASE_TERMINATED, owner, "ForcedWhileNodeNotReady",
                           "deleted with --force while its node is not ready");
        ap->force_delete = false;
    }
    /* Never placed: nothing to remove anywhere, the scheduler ends it. */
    if (gone && me_sched && owner == NULL && (st == NULL || st->phase != CARA_PHASE_TERMINATED))
        write_placement(a, name, gen, CARA_PHASE_TERMINATED, NULL,
                           expired ? "Expired" : "Deleted", "the project was never placed");
out:
    cara_project_free(a->env, spec);
    cara_project_status_free(a->env, st);
}

static void on_eval(uv_timer_t *t)
{
    cara_agent *a = t->data;
    if (a->stopping)
        return;
    if (a->persist_pending && agent_persist(a) != 0)
        return;
    if (a->publish_pending) {
        a->publish_pending = false;
        refute(a);
        agent_publish_node(a);
    }
    agent_nodes_cached(a); /* may ask for every project */
    /* Take the list first: evaluations may ask for more (their own status
     * writes), which then wait for the next turn. */
    char (*names)[CARA_NAME_BYTES_MAX + 1] = a->dirty;
    size_t n = a->dirty_count;
    bool all = a->dirty_all;
    a->dirty = NULL;
    a->dirty_count = a->dirty_cap = 0;
    a->dirty_all = false;
    if (all)
        agent_reevaluate_all(a);
    else
        for (size_t i = 0; i < n; i++)
            agent_project_changed(a, names[i]);
    cara_env_free(a->env, names);
    /* What the evaluations wrote goes to disk in one transaction. */
    if (a->persist_pending)
        agent_persist(a);
}

static void arm(cara_agent *a)
{
    if (!a->stopping && !uv_is_active((uv_handle_t *)&a->eval_timer))
        uv_timer_start(&a->eval_timer, on_eval, 0, 0);
}

void agent_persist_soon(cara_agent *a)
{
    a->persist_pending = true;
    arm(a);
}

void agent_schedule_eval(cara_agent *a, const char *name)
{
    if (name == NULL) {
        arm(a); /* a turn for the node cache, nothing named */
        return;
    }
    for (size_t i = 0; i < a->dirty_count; i++)
        if (strcmp(a->dirty[i], name) == 0)
            return;
    if (a->dirty_count == a->dirty_cap) {
        size_t cap = a->dirty_cap ? a->dirty_cap * 2 : 16;
        void *v = cap <= CARA_CRDT_RECORDS_MAX
                      ? cara_env_realloc(a->env, a->dirty, cap * sizeof *a->dirty)
                      : NULL;
        if (v == NULL) {
            a->dirty_all = true; /* cannot list it: evaluate everything */
            arm(a);
            return;
        }
        a->dirty = v;
        a->dirty_cap = cap;
    }
    snprintf(a->dirty[a->dirty_count++], sizeof *a->dirty, "%s", name);
    arm(a);
}

void agent_schedule_eval_all(cara_agent *a)
{
    a->dirty_all = true;
    arm(a);
}

void agent_eval_init(cara_agent *a)
{
    uv_timer_init(a->loop, &a->eval_timer);
    a->eval_timer.data = a;
}

void agent_eval_close(cara_agent *a)
{
    uv_timer_stop(&a->eval_timer);
    uv_close((uv_handle_t *)&a->eval_timer, NULL);
    cara_env_free(a->env, a->dirty);
    a->dirty = NULL;
    a->dirty_count = a->dirty_cap = 0;
}

void agent_force_delete(cara_agent *a, const char *name)
{
    agent_project *ap = agent_project_find(a, name, true);
    if (ap == NULL)
        return;
    ap->force_delete = true;
    agent_project_changed(a, name);
    ap = agent_project_find(a, name, false); /* the evaluation may have dropped it */
    if (ap != NULL)
        ap->force_delete = false; /* acted on, or nothing to act on here */
}

typedef struct names_ctx {
    cara_agent *a;
    char (*names)[CARA_NAME_BYTES_MAX + 1];
    size_t count, cap;
} names_ctx;

static int collect_project(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t l)
{
    (void)b;
    (void)l;
    names_ctx *c = ctx;
    if (r->kind != CARA_CRDT_PROJECT && r->kind != CARA_CRDT_TOMBSTONE)
        return 0;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        void *v = cara_env_realloc(c->a->env, c->names, cap * sizeof *c->names);
        if (v == NULL)
            return CARA_ENOMEM;
        c->names = v;
        c->cap = cap;
    }
    snprintf(c->names[c->count++], sizeof *c->names, "%.*s", (int)r->key_bytes,
             (const char *)r->key);
    return 0;
}

void agent_reevaluate_all(cara_agent *a)
{
    names_ctx c = {.a = a};
    int rc = cara_crdt_foreach(a->crdt, collect_project, &c);
    /* Out of memory listing them: evaluate what was listed, and say that
     * the rest waits for the next change. */
    if (rc != 0)
        cara_env_logf(a->env, CARA_LOG_WARN, "agent",
                      "listing projects for evaluation failed after %zu: %s", c.count,
                      cara_strerror(rc));
    for (size_t i = 0; i < c.count; i++)
        agent_project_changed(a, c.names[i]);
    cara_env_free(a->env, c.names);
}

void agent_on_status(void *ctx, const char *project, const cara_project_status *st)
{
    cara_agent *a = ctx;
    /* Objects of a project the state does not hold (an orphan being
     * removed): there is no spec to report about. */
    cara_crdt_record held;
    if (cara_crdt_get(a->crdt, CARA_CRDT_PROJECT, (const uint8_t *)project, strlen(project), &held) != 0)
        return;
    agent_project *ap = agent_project_find(a, project, true);
    uint64_t gen = ap != NULL ? ap->owned_generation : 0;
    if (ap != NULL && (int)st->phase != ap->last_phase) {
        ap->last_phase = (int)st->phase;
        for (size_t i = 0; i < st->conditions_count; i++) {
            if (strcmp(st->conditions[i].type, "Phase") != 0)
                continue;
            /* "Running: why" -> "why": the event's reason already says it. */
            const char *m = st->conditions[i].message;
            size_t n = strlen(cara_phase_name(st->phase));
            if (strncmp(m, cara_phase_name(st->phase), n) == 0 && strncmp(m + n, ": ", 2) == 0)
                m += n + 2;
            agent_event_add(a, project, st->phase == CARA_PHASE_FAILED ? "Warning" : "Normal",
                            st->conditions[i].reason, "%s", m);
        }
    }
    write_project_record(a, CARA_CRDT_STATUS, project, gen, st);
}
