/* The agent's half of the node object (src/core): records in and stored,
 * the object's actions carried out, its evaluation turn on the loop. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "agent/agent_int.h"

static void arm(cara_agent *a);

bool agent_admitted(const cara_agent *a) { return cara_crdt_node_admitted(a->crdt, a->node_pk); }

/* ---- Records in ------------------------------------------------------------------ */

static void dispatch(cara_agent *a, const cara_crdt_record *rec)
{
    char key[CARA_CRDT_KEY_BYTES_MAX + 1];
    snprintf(key, sizeof key, "%.*s", (int)rec->key_bytes, (const char *)rec->key);
    cara_core_record_changed(a->core, rec->kind, key);
    switch (rec->kind) {
    case CARA_CRDT_PROJECT:
    case CARA_CRDT_TOMBSTONE:
    case CARA_CRDT_STATUS:
    case CARA_CRDT_PLACEMENT:
        agent_watch_notify(a, "Project", key);
        break;
    case CARA_CRDT_ADMISSION:
    case CARA_CRDT_JOIN: /* a node admitted by a token, or a join out of effect */
    case CARA_CRDT_NODE:
    case CARA_CRDT_NODECTL: /* the operator's cordon or drain of it */
        agent_watch_notify(a, "Node", key);
        break;
    default:
        break;
    }
    agent_eval_soon(a);
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
        cara_core_all_changed(a->core);
        agent_eval_soon(a);
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

/* Carries out what the node object asks for: its records are written to
 * disk together, in one transaction (a node's own status is not
 * acknowledged to anyone, and a crash before the write is the same as a
 * crash before the status was made), and sent once that write is done
 * (agent_gossip.c's flush persists before it sends); the runtime's work
 * goes to the reconciler. Never called from inside the reconciler (see
 * agent_on_status); a drain already under way takes what is queued. */
void agent_core_drain(cara_agent *a)
{
    if (a->draining)
        return;
    a->draining = true;
    bool records = false;
    cara_core_action act;
    while (cara_core_poll_action(a->core, &act) == 0) {
        switch (act.kind) {
        case CARA_CORE_ACT_RECORD:
            agent_gossip_publish(a, act.record, act.record_len);
            a->persist_pending = true;
            records = true;
            break;
        case CARA_CORE_ACT_RUN:
            /* No reconciler only while shutting down: the run is lost with
             * the process, and the next start evaluates it again. */
            if (a->recon != NULL) {
                cara_reconciler_apply(a->recon, act.spec);
                act.spec = NULL; /* taken */
            }
            break;
        case CARA_CORE_ACT_DELETE:
            if (a->recon != NULL && act.force)
                cara_reconciler_delete_force(a->recon, act.project);
            else if (a->recon != NULL)
                cara_reconciler_delete(a->recon, act.project);
            break;
        case CARA_CORE_ACT_INCARNATION: {
            /* Durable before the record that carries it goes out; outside
             * the store's transaction (drains run after its commit). */
            uint64_t got = 0;
            if (cara_store_counter_next(a->store, "node_incarnation", act.generation, &got) != 0) {
                agent_fail_stop(a, "persisting the node incarnation failed");
                break;
            }
            cara_core_set_incarnation(a->core, got);
            agent_publish_node(a); /* queued: this drain takes it */
            break;
        }
        case CARA_CORE_ACT_PUBLISH_NODE:
            agent_publish_node(a);
            break;
        default:
            break;
        }
        cara_core_action_free(a->core, &act);
    }
    a->draining = false;
    if (!records)
        return;
    if (a->gossip != NULL)
        agent_gossip_flush(a); /* persists, then sends */
    else
        agent_persist_soon(a);
}

void agent_membership_changed(cara_agent *a, const char *name)
{
    agent_eval_soon(a); /* the node object took the event (cara_core_poll_gossip_event) */
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
        rc = cara_core_publish_node(a->core, v.data, v.len, cara_env_now_wall_ms(a->env));
    if (rc == 0)
        agent_node_published(a, &v);
    cara_buf_free(&v);
    agent_core_drain(a);
    if (rc != 0)
        cara_env_logf(a->env, CARA_LOG_WARN, "agent", "publishing the node record failed: %s",
                      cara_strerror(rc));
}

/* ---- The evaluation turn ---------------------------------------------------------------
 * One zero-delay timer: what the node object was told on this loop turn
 * (records stored, membership, expiry) is evaluated once, after the
 * store's commit, and what the evaluations wrote goes to disk together. */

static void on_eval(uv_timer_t *t)
{
    cara_agent *a = t->data;
    if (a->stopping)
        return;
    if (a->persist_pending && agent_persist(a) != 0)
        return;
    agent_core_drain(a); /* what the runtime's reports and stored records queued */
    cara_core_step(a->core, cara_env_now_mono_ms(a->env), cara_env_now_wall_ms(a->env));
    agent_core_drain(a);
    agent_maybe_complete(a);
    /* What the evaluations wrote goes to disk in one transaction; it asks
     * for the next turn (their own records), as the store's feed says. */
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

void agent_eval_soon(cara_agent *a)
{
    if (cara_core_busy(a->core) || cara_core_actions_pending(a->core) ||
        cara_core_next_deadline_wall_ms(a->core) <= cara_env_now_wall_ms(a->env) ||
        cara_core_next_deadline_mono_ms(a->core) <= cara_env_now_mono_ms(a->env))
        arm(a);
}

void agent_fence_tick(cara_agent *a)
{
    if (a->stopping)
        return;
    /* A step every tick keeps the majority stamp current in a quiet
     * cluster (nothing else may step the node object for minutes). */
    arm(a);
    cara_core_fence_state f;
    cara_core_fence_get(a->core, &f);
    /* Written every few seconds, not every tick (each write is a sync): a
     * stamp that lags only makes a restarted node fence a little sooner. */
    if (!f.majority || f.majority_wall_ms < a->majority_stamp_ms + AGENT_MAJORITY_STAMP_EVERY_MS)
        return;
    if (cara_store_stamp_set(a->store, AGENT_MAJORITY_STAMP, f.majority_wall_ms) == 0)
        a->majority_stamp_ms = f.majority_wall_ms;
}

void agent_reevaluate_all(cara_agent *a)
{
    cara_core_all_changed(a->core);
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
}

void agent_force_delete(cara_agent *a, const char *name)
{
    if (a->stopping)
        return;
    cara_core_force_delete(a->core, name, cara_env_now_wall_ms(a->env));
    agent_core_drain(a);
}

void agent_on_status(void *ctx, const char *project, const cara_project_status *st)
{
    cara_agent *a = ctx;
    cara_core_runtime_status(a->core, project, st, cara_env_now_wall_ms(a->env));
    /* Called from inside the reconciler: draining here could hand it the
     * next RUN of a drain under way, in its own callback. The status record
     * waits in the node object's queue for the evaluation turn. */
    arm(a);
}
