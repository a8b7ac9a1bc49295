/* The reconciler's passes: list our objects, plan per project, follow the
 * engine's events, report status. Steps themselves are in reconcile_steps.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/reconcile_int.h"

#define KICK_DELAY_MS 100
#define RESYNC_MS_DEFAULT 10000
#define EVENTS_RECONNECT_MS 1000

static void start_pass(cara_reconciler *r);

/* ---- Snapshot ------------------------------------------------------------------ */

static void snap_free(cara_reconciler *r, snapshot *s)
{
    cara_env_free(r->env, s->ctrs);
    cara_env_free(r->env, s->nets);
    cara_env_free(r->env, s->vols);
    *s = (snapshot){0};
}

actual_ctr *snap_find_ctr_id(snapshot *s, const char *id)
{
    for (size_t i = 0; i < s->ctrs_count; i++)
        if (strcmp(s->ctrs[i].id, id) == 0)
            return &s->ctrs[i];
    return NULL;
}

/* By labels, not by name: "{project}-{service}" is ambiguous across
 * projects ("a-b"/"c" and "a"/"b-c"), the labels are not. */
actual_ctr *snap_find_svc(snapshot *s, const char *project, const char *service)
{
    for (size_t i = 0; i < s->ctrs_count; i++)
        if (strcmp(s->ctrs[i].project, project) == 0 && strcmp(s->ctrs[i].service, service) == 0)
            return &s->ctrs[i];
    return NULL;
}

int snap_add_ctr(cara_reconciler *r, snapshot *s, const actual_ctr *c)
{
    if (s->ctrs_count >= CARA_ENGINE_OBJECTS_MAX)
        return CARA_ELIMIT;
    actual_ctr *v = cara_env_realloc(r->env, s->ctrs, (s->ctrs_count + 1) * sizeof *v);
    if (v == NULL)
        return CARA_ENOMEM;
    s->ctrs = v;
    s->ctrs[s->ctrs_count++] = *c;
    return 0;
}

void snap_remove_ctr(snapshot *s, const char *id)
{
    for (size_t i = 0; i < s->ctrs_count; i++) {
        if (strcmp(s->ctrs[i].id, id) == 0) {
            s->ctrs[i] = s->ctrs[--s->ctrs_count];
            return;
        }
    }
}

bool snap_has_obj(const actual_obj *objs, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(objs[i].name, name) == 0)
            return true;
    return false;
}

const char *snap_obj_project(const actual_obj *objs, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(objs[i].name, name) == 0)
            return objs[i].project;
    return NULL;
}

int snap_add_obj(cara_reconciler *r, actual_obj **objs, size_t *count, const char *name,
                 const char *project)
{
    if (snap_has_obj(*objs, *count, name))
        return 0;
    if (*count >= CARA_ENGINE_OBJECTS_MAX)
        return CARA_ELIMIT;
    actual_obj *v = cara_env_realloc(r->env, *objs, (*count + 1) * sizeof *v);
    if (v == NULL)
        return CARA_ENOMEM;
    *objs = v;
    snprintf(v[*count].name, sizeof v[*count].name, "%s", name);
    snprintf(v[*count].project, sizeof v[*count].project, "%s", project);
    (*count)++;
    return 0;
}

void snap_remove_obj(actual_obj *objs, size_t *count, const char *name)
{
    for (size_t i = 0; i < *count; i++) {
        if (strcmp(objs[i].name, name) == 0) {
            objs[i] = objs[--*count];
            return;
        }
    }
}

/* ---- Projects and status ---------------------------------------------------------- */

static proj *find(cara_reconciler *r, const char *name)
{
    for (proj *p = r->projects; p != NULL; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

static void free_status_fields(cara_env *env, cara_project_status *s)
{
    cara_env_free(env, s->node_ref);
    for (size_t i = 0; i < s->conditions_count; i++) {
        cara_env_free(env, s->conditions[i].type);
        cara_env_free(env, s->conditions[i].reason);
        cara_env_free(env, s->conditions[i].message);
    }
    cara_env_free(env, s->conditions);
    for (size_t i = 0; i < s->services_count; i++) {
        cara_env_free(env, s->services[i].name);
        cara_env_free(env, s->services[i].message);
    }
    cara_env_free(env, s->services);
    *s = (cara_project_status){0};
}

static proj *add(cara_reconciler *r, const char *name)
{
    if (r->projects_count >= CARA_NODE_PROJECTS_MAX)
        return NULL;
    proj *p = cara_env_calloc(r->env, 1, sizeof *p);
    if (p == NULL)
        return NULL;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->status.phase = CARA_PHASE_SCHEDULED;
    p->status.node_ref = cara_env_strndup(r->env, r->cfg.node_name, strlen(r->cfg.node_name));
    p->next = r->projects;
    r->projects = p;
    r->projects_count++;
    return p;
}

void recon_forget(cara_reconciler *r, proj *p)
{
    CARA_ASSERT(p->inflight_count == 0);
    for (proj **pp = &r->projects; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    r->projects_count--;
    cara_project_free(r->env, p->spec);
    cara_env_free(r->env, p->svcs);
    cara_env_free(r->env, p->inflight);
    free_status_fields(r->env, &p->status);
    cara_env_free(r->env, p);
}

void recon_emit(cara_reconciler *r, proj *p)
{
    p->announce = false;
    r->in_emit++;
    if (r->cfg.on_status != NULL)
        r->cfg.on_status(r->cfg.ctx, p->name, &p->status);
    r->in_emit--;
}

/* Upserts the condition of `type`. lastTransitionTime moves only when the
 * status or reason changes (Kubernetes' rule), so a progress message can be
 * updated without pretending a transition happened. Returns true if
 * anything changed. */
static bool upsert(cara_reconciler *r, proj *p, const char *type, cara_cond_status st,
                   const char *reason, const char *msg, bool transition)
{
    cara_project_status *s = &p->status;
    cara_condition *c = NULL;
    for (size_t i = 0; i < s->conditions_count; i++)
        if (strcmp(s->conditions[i].type, type) == 0)
            c = &s->conditions[i];
    if (c != NULL && !transition && c->status == st && strcmp(c->reason, reason) == 0 &&
        strcmp(c->message, msg) == 0)
        return false;
    char *nr = cara_env_strndup(r->env, reason, strlen(reason));
    char *nm = cara_env_strndup(r->env, msg, strnlen(msg, CARA_MESSAGE_BYTES_MAX - 1));
    if (nr == NULL || nm == NULL)
        goto oom;
    if (c == NULL) {
        if (s->conditions_count >= CARA_CONDITIONS_COUNT_MAX)
            goto oom; /* a fixed set of types is used; this is not reached */
        cara_condition *v =
            cara_env_realloc(r->env, s->conditions, (s->conditions_count + 1) * sizeof *v);
        char *nt = cara_env_strndup(r->env, type, strlen(type));
        if (v == NULL || nt == NULL) {
            if (v != NULL)
                s->conditions = v;
            cara_env_free(r->env, nt);
            goto oom;
        }
        s->conditions = v;
        c = &v[s->conditions_count++];
        *c = (cara_condition){.type = nt, .status = st, .reason = NULL, .message = NULL};
        c->last_transition_wall_ms = cara_env_now_wall_ms(r->env);
    } else if (transition || c->status != st || strcmp(c->reason, reason) != 0) {
        c->last_transition_wall_ms = cara_env_now_wall_ms(r->env);
    }
    cara_env_free(r->env, c->reason);
    cara_env_free(r->env, c->message);
    c->status = st;
    c->reason = nr;
    c->message = nm;
    return true;
oom:
    cara_env_free(r->env, nr);
    cara_env_free(r->env, nm);
    return false;
}

void recon_set_condition(cara_reconciler *r, proj *p, const char *type, cara_cond_status st,
                         const char *reason, const char *fmt, ...)
{
    char msg[CARA_MESSAGE_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (upsert(r, p, type, st, reason, msg, false))
        recon_emit(r, p);
}

void recon_set_phase(cara_reconciler *r, proj *p, cara_phase phase, const char *reason,
                     const char *fmt, ...)
{
    char msg[CARA_MESSAGE_BYTES_MAX - 32]; /* room for the phase name */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bool transition = p->status.phase != phase;
    p->status.phase = phase;
    /* One "Phase" condition: its transition time is that of the last phase
     * change, its reason says why (CamelCase), its message names the phase. */
    char text[CARA_MESSAGE_BYTES_MAX];
    snprintf(text, sizeof text, "%s: %s", cara_phase_name(phase), msg);
    bool changed = upsert(r, p, "Phase", CARA_COND_TRUE, reason, text, transition);
    if (changed) {
        cara_env_logf(r->env, CARA_LOG_INFO, "reconcile", "project=%s phase=%s reason=%s msg=\"%s\"",
                      p->name, cara_phase_name(phase), reason, msg);
        recon_emit(r, p);
    }
}

/* ---- Listing pass ------------------------------------------------------------------- */

static const char *label_of(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(obj, "Labels"), key));
    return v != NULL ? v : "";
}

/* "Exited (137) 3 seconds ago" -> 137; anything else -> 0. */
static int exit_code_of(const char *status)
{
    int code = 0;
    if (status != NULL && sscanf(status, "Exited (%d)", &code) == 1)
        return code;
    return 0;
}

static int parse_containers(cara_reconciler *r, json_t *arr, snapshot *s)
{
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *state = json_string_value(json_object_get(c, "State"));
        if (name == NULL || id == NULL || state == NULL)
            continue; /* not a container object: ignore it, do not trust it */
        actual_ctr a = {.exit_code = exit_code_of(json_string_value(json_object_get(c, "Status")))};
        snprintf(a.id, sizeof a.id, "%s", id);
        snprintf(a.name, sizeof a.name, "%s", name[0] == '/' ? name + 1 : name);
        snprintf(a.project, sizeof a.project, "%s", label_of(c, CARA_LABEL_PROJECT));
        snprintf(a.service, sizeof a.service, "%s", label_of(c, CARA_LABEL_SERVICE));
        snprintf(a.hash, sizeof a.hash, "%s", label_of(c, CARA_LABEL_SPEC_HASH));
        snprintf(a.state, sizeof a.state, "%s", state);
        int rc = snap_add_ctr(r, s, &a);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_objs(cara_reconciler *r, json_t *arr, actual_obj **objs, size_t *count)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *name = json_string_value(json_object_get(o, "Name"));
        if (name == NULL)
            continue;
        int rc = snap_add_obj(r, objs, count, name, label_of(o, CARA_LABEL_PROJECT));
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef enum { LIST_CTRS, LIST_NETS, LIST_VOLS } list_kind;

typedef struct list_call {
    cara_reconciler *r;
    list_kind kind;
} list_call;

static void adopt_orphans(cara_reconciler *r)
{
    const snapshot *s = &r->snap;
    for (size_t k = 0; k < 3; k++) {
        size_t n = k == 0 ? s->ctrs_count : k == 1 ? s->nets_count : s->vols_count;
        for (size_t i = 0; i < n; i++) {
            const char *project = k == 0 ? s->ctrs[i].project
                                  : k == 1 ? s->nets[i].project
                                           : s->vols[i].project;
            if (project[0] == '\0' || find(r, project) != NULL)
                continue;
            proj *p = add(r, project);
            if (p == NULL)
                continue;
            p->deleting = true;
            cara_env_logf(r->env, CARA_LOG_INFO, "reconcile",
                          "project=%s removing objects of a project this node does not own",
                          project);
        }
    }
}

/* Applies one change; idempotent, since a listing may already show it. */
static int apply_change(cara_reconciler *r, snapshot *s, const snap_change *ch)
{
    actual_ctr *c;
    switch (ch->op) {
    case CH_NET_ADD: return snap_add_obj(r, &s->nets, &s->nets_count, ch->obj.name, ch->obj.project);
    case CH_NET_DEL: snap_remove_obj(s->nets, &s->nets_count, ch->obj.name); return 0;
    case CH_VOL_ADD: return snap_add_obj(r, &s->vols, &s->vols_count, ch->obj.name, ch->obj.project);
    case CH_VOL_DEL: snap_remove_obj(s->vols, &s->vols_count, ch->obj.name); return 0;
    case CH_CTR_ADD:
        if ((c = snap_find_ctr_id(s, ch->ctr.id)) != NULL) {
            *c = ch->ctr;
            return 0;
        }
        return snap_add_ctr(r, s, &ch->ctr);
    case CH_CTR_DEL: snap_remove_ctr(s, ch->ctr.id); return 0;
    case CH_CTR_STATE:
        if ((c = snap_find_ctr_id(s, ch->ctr.id)) != NULL)
            snprintf(c->state, sizeof c->state, "%s", ch->ctr.state);
        return 0;
    }
    CARA_UNREACHABLE();
}

int recon_change(cara_reconciler *r, const snap_change *ch)
{
    if (r->lists_pending > 0 && !r->changes_overflow) {
        /* Grown on demand: a change is about 800 bytes, most passes log few. */
        if (r->changes_count == r->changes_cap) {
            size_t cap = r->changes_cap ? r->changes_cap * 2 : 16;
            void *v = cap <= RECON_CHANGES_MAX
                          ? cara_env_realloc(r->env, r->changes, cap * sizeof *r->changes)
                          : NULL;
            if (v != NULL) {
                r->changes = v;
                r->changes_cap = cap;
            }
        }
        if (r->changes_count == r->changes_cap)
            r->changes_overflow = true;
        else
            r->changes[r->changes_count++] = *ch;
    }
    return apply_change(r, &r->snap, ch);
}

static void clear_changes(cara_reconciler *r)
{
    cara_env_free(r->env, r->changes);
    r->changes = NULL;
    r->changes_count = r->changes_cap = 0;
    r->changes_overflow = false;
}

static void finish_pass(cara_reconciler *r)
{
    if (r->list_failed || r->closing) {
        snap_free(r, &r->next_snap);
        clear_changes(r);
        return;
    }
    /* The listing may predate steps that finished while it was taken:
     * replay their effects on it rather than throw it away, so passes are
     * not starved by a busy node. */
    int rc = r->changes_overflow ? CARA_ELIMIT : 0;
    for (size_t i = 0; rc == 0 && i < r->changes_count; i++)
        rc = apply_change(r, &r->next_snap, &r->changes[i]);
    clear_changes(r);
    if (rc != 0) {
        snap_free(r, &r->next_snap);
        cara_reconciler_kick(r);
        return;
    }
    snap_free(r, &r->snap);
    r->snap = r->next_snap;
    r->next_snap = (snapshot){0};
    r->snap_valid = true;
    r->stats.passes++;
    if (r->complete)
        adopt_orphans(r);
    proj *next;
    for (proj *p = r->projects; p != NULL; p = next) {
        next = p->next; /* advance may forget p */
        recon_advance(r, p);
    }
}

static void on_list(void *arg, const cara_docker_result *res)
{
    list_call *lc = arg;
    cara_reconciler *r = lc->r;
    list_kind kind = lc->kind;
    cara_env_free(r->env, lc);
    json_t *j = NULL;
    int rc = CARA_EIO;
    if (res->rc == 0 && res->http_status == 200 &&
        (j = json_loadb(res->body, res->body_len, 0, NULL)) != NULL) {
        snapshot *s = &r->next_snap;
        if (kind == LIST_CTRS && json_is_array(j))
            rc = parse_containers(r, j, s);
        else if (kind == LIST_NETS && json_is_array(j))
            rc = parse_objs(r, j, &s->nets, &s->nets_count);
        else if (kind == LIST_VOLS && json_is_array(json_object_get(j, "Volumes")))
            rc = parse_objs(r, json_object_get(j, "Volumes"), &s->vols, &s->vols_count);
    }
    json_decref(j);
    if (rc != 0) {
        if (!r->list_failed)
            cara_env_logf(r->env, CARA_LOG_WARN, "reconcile", "listing the engine failed: %s",
                          res->rc != 0 ? res->error : cara_strerror(rc));
        r->list_failed = true;
    }
    if (--r->lists_pending == 0)
        finish_pass(r);
    recon_maybe_destroy(r);
}

static void start_pass(cara_reconciler *r)
{
    if (r->lists_pending > 0 || r->closing)
        return;
    cara_buf q;
    cara_buf_init(&q, r->env, 1024);
    char filter[512];
    snprintf(filter, sizeof filter, "{\"label\":[\"%s=%s\"]}", CARA_LABEL_NODE, r->cfg.node_name);
    static const char *const paths[] = {"/containers/json?all=1&filters=", "/networks?filters=",
                                        "/volumes?filters="};
    r->list_failed = false;
    clear_changes(r);
    snap_free(r, &r->next_snap);
    for (int k = 0; k < 3; k++) {
        cara_buf_reset(&q);
        list_call *lc = cara_env_alloc(r->env, sizeof *lc);
        if (lc == NULL || cara_buf_append_str(&q, paths[k]) ||
            cara_docker_urlencode(filter, &q) ||
            cara_docker_request(r->cfg.docker, "GET", (char *)q.data, NULL, on_list, lc)) {
            cara_env_free(r->env, lc);
            r->list_failed = true;
            continue;
        }
        *lc = (list_call){r, (list_kind)k};
        r->lists_pending++;
    }
    cara_buf_free(&q);
    if (r->lists_pending == 0)
        snap_free(r, &r->next_snap);
}

/* ---- Timers and events ------------------------------------------------------------------ */

static void on_kick(uv_timer_t *t) { start_pass(t->data); }

void cara_reconciler_kick(cara_reconciler *r)
{
    if (!r->closing && !uv_is_active((uv_handle_t *)&r->kick_timer))
        uv_timer_start(&r->kick_timer, on_kick, KICK_DELAY_MS, 0);
}

void recon_schedule_retry(cara_reconciler *r, uint64_t at_mono_ms)
{
    uint64_t now = cara_env_now_mono_ms(r->env);
    uint64_t delay = at_mono_ms > now ? at_mono_ms - now : 0;
    if (r->closing)
        return;
    if (uv_is_active((uv_handle_t *)&r->retry_timer) &&
        uv_timer_get_due_in(&r->retry_timer) <= delay)
        return;
    uv_timer_start(&r->retry_timer, on_kick, delay + 1, 0);
}

static void on_resync(uv_timer_t *t) { start_pass(t->data); }

static void connect_events(cara_reconciler *r);

static void on_events_timer(uv_timer_t *t) { connect_events(t->data); }

static void on_event_line(void *arg, const char *line, size_t len)
{
    cara_reconciler *r = arg;
    json_t *j = json_loadb(line, len, 0, NULL);
    if (j == NULL)
        return;
    json_t *attrs = json_object_get(json_object_get(j, "Actor"), "Attributes");
    const char *type = json_string_value(json_object_get(j, "Type"));
    const char *node = json_string_value(json_object_get(attrs, CARA_LABEL_NODE));
    const char *name = json_string_value(json_object_get(attrs, "name"));
    bool ours = (node != NULL && strcmp(node, r->cfg.node_name) == 0) ||
                (type != NULL && strcmp(type, "container") != 0 && name != NULL &&
                 strncmp(name, "cara-", 5) == 0);
    if (ours) {
        r->stats.events++;
        const char *action = json_string_value(json_object_get(j, "Action"));
        const char *project = json_string_value(json_object_get(attrs, CARA_LABEL_PROJECT));
        const char *service = json_string_value(json_object_get(attrs, CARA_LABEL_SERVICE));
        const char *code = json_string_value(json_object_get(attrs, "exitCode"));
        proj *p = project != NULL ? find(r, project) : NULL;
        if (p != NULL && !p->deleting && action != NULL && strcmp(action, "die") == 0) {
            recon_set_condition(r, p, "ContainerExited", CARA_COND_TRUE, "ContainerExited",
                                "service %s exited with code %s", service ? service : "?",
                                code ? code : "?");
            if (service != NULL)
                recon_container_died(r, p, service);
        }
        cara_reconciler_kick(r);
    }
    json_decref(j);
}

static void on_events_end(void *arg, const cara_docker_result *res)
{
    cara_reconciler *r = arg;
    r->events_req = NULL;
    if (r->closing) {
        recon_maybe_destroy(r);
        return;
    }
    r->stats.stream_restarts++;
    cara_env_logf(r->env, CARA_LOG_WARN, "reconcile",
                  "engine event stream ended (%s); reconnecting and resyncing",
                  res->rc != 0 ? res->error : "closed by the engine");
    uv_timer_start(&r->events_timer, on_events_timer, EVENTS_RECONNECT_MS, 0);
}

static void connect_events(cara_reconciler *r)
{
    static const char filters[] =
        "{\"type\":[\"container\",\"network\",\"volume\"],"
        "\"event\":[\"create\",\"start\",\"die\",\"destroy\",\"oom\",\"health_status\"]}";
    cara_buf q;
    cara_buf_init(&q, r->env, 1024);
    int rc = cara_buf_append_str(&q, "/events?filters=");
    if (rc == 0)
        rc = cara_docker_urlencode(filters, &q);
    if (rc == 0)
        rc = cara_docker_stream(r->cfg.docker, "GET", (char *)q.data, true, on_event_line,
                                on_events_end, r, &r->events_req);
    cara_buf_free(&q);
    if (rc != 0)
        uv_timer_start(&r->events_timer, on_events_timer, EVENTS_RECONNECT_MS, 0);
    /* Whatever happened while we were not listening, a full pass sees it. */
    cara_reconciler_kick(r);
}

/* ---- Public API ----------------------------------------------------------------------- */

int cara_reconciler_new(cara_reconciler **out, const cara_reconciler_config *cfg)
{
    CARA_ASSERT(cfg->node_name != NULL && cfg->docker != NULL && cfg->loop != NULL);
    cara_netpool pool;
    if (cara_netpool_init(&pool, cfg->network_pool ? cfg->network_pool : CARA_NETPOOL_DEFAULT,
                          cfg->network_prefix_len ? cfg->network_prefix_len
                                                  : CARA_NETPOOL_PREFIX_LEN_DEFAULT) != 0)
        return CARA_EINVAL;
    cara_reconciler *r = cara_env_calloc(cfg->env, 1, sizeof *r);
    if (r == NULL)
        return CARA_ENOMEM;
    r->pool = pool;
    r->cfg = *cfg;
    r->env = cfg->env;
    if (r->cfg.resync_interval_ms == 0)
        r->cfg.resync_interval_ms = RESYNC_MS_DEFAULT;
    if (r->cfg.stop_timeout_s == 0)
        r->cfg.stop_timeout_s = 10;
    if (r->cfg.image_pull_attempts == 0)
        r->cfg.image_pull_attempts = CARA_RECONCILER_PULL_ATTEMPTS_DEFAULT;
    if (r->cfg.image_pull_window_ms == 0)
        r->cfg.image_pull_window_ms = CARA_RECONCILER_PULL_WINDOW_MS_DEFAULT;
    uv_timer_t *timers[] = {&r->resync_timer, &r->kick_timer, &r->retry_timer, &r->events_timer};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(cfg->loop, timers[i]);
        timers[i]->data = r;
    }
    r->handles_open = 4;
    uv_timer_start(&r->resync_timer, on_resync, r->cfg.resync_interval_ms,
                   r->cfg.resync_interval_ms);
    connect_events(r);
    *out = r;
    return 0;
}

void recon_maybe_destroy(cara_reconciler *r)
{
    if (!r->closing || r->handles_open > 0 || r->lists_pending > 0 || r->steps_inflight > 0 ||
        r->events_req != NULL)
        return;
    while (r->projects != NULL) {
        r->projects->inflight_count = 0;
        recon_forget(r, r->projects);
    }
    snap_free(r, &r->snap);
    snap_free(r, &r->next_snap);
    clear_changes(r);
    cara_env_free(r->env, r);
}

static void on_closed(uv_handle_t *h)
{
    cara_reconciler *r = h->data;
    r->handles_open--;
    recon_maybe_destroy(r);
}

void cara_reconciler_free(cara_reconciler *r)
{
    if (r == NULL)
        return;
    r->closing = true;
    if (r->events_req != NULL)
        cara_docker_cancel(r->cfg.docker, r->events_req);
    uv_timer_t *timers[] = {&r->resync_timer, &r->kick_timer, &r->retry_timer, &r->events_timer};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_stop(timers[i]);
        uv_close((uv_handle_t *)timers[i], on_closed);
    }
}

int cara_reconciler_apply(cara_reconciler *r, cara_project *spec)
{
    /* Called back from on_status, this could forget a project a caller up
     * the stack still holds (reconcile.h says so; the agent defers). */
    CARA_ASSERT(r->in_emit == 0);
    proj *p = find(r, spec->name);
    if (p == NULL && (p = add(r, spec->name)) == NULL) {
        cara_project_free(r->env, spec);
        return CARA_ELIMIT;
    }
    cara_project_free(r->env, p->spec);
    cara_env_free(r->env, p->svcs);
    p->spec = spec;
    p->svcs = cara_env_calloc(r->env, spec->services_count, sizeof *p->svcs);
    p->deleting = false;
    p->force = false;
    p->pull_gave_up = false; /* a new spec starts over (so does a new agent) */
    p->announce = true;
    p->failed_msg[0] = '\0';
    p->retry_backoff_ms = 0;
    p->retry_not_before_mono_ms = 0;
    if (p->svcs == NULL || recon_hash_services(r, p) != 0) {
        p->deleting = true; /* cannot run it; do not leave half of it either */
        return CARA_ENOMEM;
    }
    /* A new spec starts afresh: a failure of the old one must not be
     * reported as the new one's (apply --wait would stop on it). */
    if (p->status.phase == CARA_PHASE_FAILED)
        recon_set_phase(r, p, CARA_PHASE_SCHEDULED, "SpecChanged",
                        "a new spec replaces the one that failed");
    else if (p->status.phase == CARA_PHASE_TERMINATING ||
             p->status.phase == CARA_PHASE_TERMINATED || p->status.conditions_count == 0)
        recon_set_phase(r, p, CARA_PHASE_SCHEDULED, "Scheduled", "placed on node %s",
                        r->cfg.node_name);
    p->settled = false;
    if (r->snap_valid)
        recon_advance(r, p);
    cara_reconciler_kick(r);
    return 0;
}

static int delete_project(cara_reconciler *r, const char *name, bool force)
{
    CARA_ASSERT(r->in_emit == 0); /* see cara_reconciler_apply */
    proj *p = find(r, name);
    if (p == NULL && (p = add(r, name)) == NULL)
        return CARA_ELIMIT;
    p->force |= force;
    p->deleting = true;
    p->settled = false;
    p->retry_not_before_mono_ms = 0;
    recon_set_phase(r, p, CARA_PHASE_TERMINATING, "Deleted", "removing the project's objects");
    if (r->snap_valid)
        recon_advance(r, p);
    return 0;
}

int cara_reconciler_delete(cara_reconciler *r, const char *name)
{
    return delete_project(r, name, false);
}

int cara_reconciler_delete_force(cara_reconciler *r, const char *name)
{
    return delete_project(r, name, true);
}

void cara_reconciler_set_complete(cara_reconciler *r)
{
    r->complete = true;
    cara_reconciler_kick(r);
}

int cara_reconciler_container_id(cara_reconciler *r, const char *project, const char *service,
                                 char *out, size_t cap)
{
    actual_ctr *c = r->snap_valid ? snap_find_svc(&r->snap, project, service) : NULL;
    if (c == NULL)
        return CARA_ENOENT;
    snprintf(out, cap, "%s", c->id);
    return 0;
}

void cara_reconciler_get_stats(const cara_reconciler *r, cara_reconciler_stats *out)
{
    *out = r->stats;
}

bool cara_reconciler_idle(const cara_reconciler *r)
{
    if (!r->snap_valid)
        return false;
    for (const proj *p = r->projects; p != NULL; p = p->next)
        if (!p->settled || p->inflight_count > 0)
            return false;
    return true;
}
