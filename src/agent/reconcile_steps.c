/* Planning and running one reconciliation step of one project. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "agent/reconcile_int.h"


static const char *const step_names[] = {
    "create network", "create volume", "inspect image", "pull image", "create container",
    "start container", "stop container", "remove container", "remove network", "remove volume",
};


int recon_hash_services(cara_reconciler *r, proj *p)
{
    for (size_t i = 0; i < p->spec->services_count; i++) {
        /* The hash covers exactly what would be sent to the engine, so any
         * change that matters to the container, and only such a change,
         * recreates it. Sorted compact JSON is deterministic. */
        json_t *body = cara_obj_container_body(p->spec, &p->spec->services[i], r->cfg.node_name, "");
        char *text = body ? json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        json_decref(body);
        if (text == NULL)
            return CARA_ENOMEM;
        unsigned char h[SPEC_HASH_HEX_BYTES / 2];
        crypto_generichash(h, sizeof h, (const unsigned char *)text, strlen(text), NULL, 0);
        free(text); /* json_dumps allocates with jansson's default malloc */
        sodium_bin2hex(p->svcs[i].hash, sizeof p->svcs[i].hash, h, sizeof h);
    }
    return 0;
}

static proj *find_proj(cara_reconciler *r, const char *name)
{
    for (proj *p = r->projects; p != NULL; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

/* Room for every service's step plus every volume's and the network's. */
#define INFLIGHT_MAX (CARA_SERVICES_COUNT_MAX + CARA_VOLUMES_COUNT_MAX + 2)

static bool in_flight(const proj *p, const char *key)
{
    for (size_t i = 0; i < p->inflight_count; i++)
        if (strcmp(p->inflight[i], key) == 0)
            return true;
    return false;
}

static int mark(cara_reconciler *r, proj *p, const char *key)
{
    if (p->inflight == NULL && (p->inflight = cara_env_calloc(r->env, INFLIGHT_MAX, sizeof *p->inflight)) == NULL)
        return CARA_ENOMEM;
    CARA_ASSERT(p->inflight_count < INFLIGHT_MAX && !in_flight(p, key));
    snprintf(p->inflight[p->inflight_count++], sizeof *p->inflight, "%s", key);
    return 0;
}

static void unmark(cara_reconciler *r, proj *p, const char *key)
{
    for (size_t i = 0; i < p->inflight_count; i++) {
        if (strcmp(p->inflight[i], key) == 0) {
            memcpy(p->inflight[i], p->inflight[--p->inflight_count], sizeof *p->inflight);
            break;
        }
    }
    if (p->inflight_count == 0) { /* most projects are idle: keep no table */
        cara_env_free(r->env, p->inflight);
        p->inflight = NULL;
    }
}

static svc_state *svc_of(proj *p, const char *service, const cara_service **spec_out)
{
    if (p->spec == NULL)
        return NULL;
    for (size_t i = 0; i < p->spec->services_count; i++) {
        if (strcmp(p->spec->services[i].name, service) == 0) {
            if (spec_out)
                *spec_out = &p->spec->services[i];
            return &p->svcs[i];
        }
    }
    return NULL;
}

static uint32_t next_backoff(uint32_t ms)
{
    if (ms < CARA_RESTART_BACKOFF_MS_MIN)
        return CARA_RESTART_BACKOFF_MS_MIN;
    return ms >= CARA_RESTART_BACKOFF_MS_MAX / 2 ? CARA_RESTART_BACKOFF_MS_MAX : ms * 2;
}

void recon_back_off(cara_reconciler *r, proj *p)
{
    r->stats.step_errors++;
    p->retry_backoff_ms = next_backoff(p->retry_backoff_ms);
    p->retry_not_before_mono_ms = cara_env_now_mono_ms(r->env) + p->retry_backoff_ms;
    recon_schedule_retry(r, p->retry_not_before_mono_ms);
}

/* A step failed: the project is Failed with the engine's words, and the
 * plan is retried after a back-off. While deleting, it stays Terminating.
 * An image that cannot be had is reconcile_pull.c's instead: back-off
 * first, Failed only past a bound. */
static void step_failed(cara_reconciler *r, proj *p, const step *s, const char *reason,
                        const char *msg)
{
    recon_back_off(r, p);
    cara_env_logf(r->env, CARA_LOG_WARN, "reconcile", "project=%s step=\"%s %s\" error=\"%s\"",
                  p->name, step_names[s->kind], s->object, msg);
    if (p->deleting)
        return;
    snprintf(p->failed_msg, sizeof p->failed_msg, "%s", msg);
    recon_set_phase(r, p, CARA_PHASE_FAILED, reason, "%s %s: %s", step_names[s->kind], s->object,
                    msg);
}

static bool ok_status(long st, long a, long b, long c)
{
    return st == a || st == b || st == c;
}

static int change_obj(cara_reconciler *r, change_op op, const char *name, const char *project)
{
    snap_change ch = {.op = op};
    snprintf(ch.obj.name, sizeof ch.obj.name, "%s", name);
    snprintf(ch.obj.project, sizeof ch.obj.project, "%s", project);
    return recon_change(r, &ch);
}

static int change_ctr(cara_reconciler *r, change_op op, const char *id, const char *state)
{
    snap_change ch = {.op = op};
    snprintf(ch.ctr.id, sizeof ch.ctr.id, "%s", id);
    snprintf(ch.ctr.state, sizeof ch.ctr.state, "%s", state);
    return recon_change(r, &ch);
}

/* Whether removing the container and creating it again is the cure for a
 * refused start. The engine's own state about the container went wrong
 * (5xx): after an engine restart containerd may still hold the old task
 * ("task ...: already exists") and refuses every start of that container
 * for ever; or something the container refers to went away (404 other than
 * the container itself, e.g. "network ... not found" once its network was
 * recreated). docker compose recreates in these cases too. A 4xx about the
 * spec (a command that does not exist is 400) is not cured by recreating
 * and stays a plain failure. */
static bool start_refusal_cured_by_recreate(long st, const char *error)
{
    if (st >= 500 && st <= 599)
        return true;
    return st == 404 && strstr(error, "No such container") == NULL;
}

/* The next plan removes this container (plan_stale) and creates it anew
 * (plan_service), after the step's back-off; kept in the service's state,
 * since a listing taken meanwhile shows the container as it was. */
static void mark_for_recreation(cara_reconciler *r, proj *p, const step *s)
{
    svc_state *sv = svc_of(p, s->service, NULL);
    if (sv != NULL)
        snprintf(sv->recreate_id, sizeof sv->recreate_id, "%s", s->target);
    cara_env_logf(r->env, CARA_LOG_WARN, "reconcile",
                  "project=%s container=%s start refused; removing and recreating it", p->name,
                  s->object);
}

/* Applies a finished step to the snapshot. Returns false if it failed. */
static bool apply_result(cara_reconciler *r, proj *p, step *s, const cara_docker_result *res,
                         const char **reason)
{
    long st = res->rc == 0 ? res->http_status : 0;
    *reason = "EngineError";
    switch (s->kind) {
    case STEP_NET_CREATE:
        *reason = s->pool_exhausted ? "NetworkPoolExhausted" : "NetworkCreateFailed";
        return ok_status(st, 201, 201, 201) && change_obj(r, CH_NET_ADD, s->object, p->name) == 0;
    case STEP_VOL_CREATE: {
        *reason = "VolumeCreateFailed";
        if (!ok_status(st, 201, 200, 201))
            return false;
        /* The engine answers 201 for a volume that already exists, with its
         * labels: one that is not this project's on this node is someone
         * else's data, never to be mounted here. */
        json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
        json_t *labels = json_object_get(j, "Labels");
        const char *proj_label = json_string_value(json_object_get(labels, CARA_LABEL_PROJECT));
        const char *node_label = json_string_value(json_object_get(labels, CARA_LABEL_NODE));
        bool mine = proj_label && node_label && strcmp(proj_label, p->name) == 0 &&
                    strcmp(node_label, r->cfg.node_name) == 0;
        json_decref(j);
        if (!mine) {
            *reason = "NameConflict";
            snprintf(s->error_text, sizeof s->error_text,
                     "volume %s already exists and belongs to %s", s->object,
                     proj_label ? "another project" : "no project of this node");
            return false;
        }
        return change_obj(r, CH_VOL_ADD, s->object, p->name) == 0;
    }
    case STEP_IMG_INSPECT: {
        svc_state *sv = svc_of(p, s->service, NULL);
        if (sv != NULL && (st == 200 || st == 404))
            sv->image = st == 200 ? IMG_PRESENT : IMG_MISSING;
        if (sv != NULL && st == 200)
            recon_image_ok(sv);
        return st == 200 || st == 404;
    }
    case STEP_IMG_PULL: {
        svc_state *sv = svc_of(p, s->service, NULL);
        bool ok = st == 200 && s->error_text[0] == '\0';
        if (sv != NULL)
            sv->image = ok ? IMG_PRESENT : IMG_FAILED;
        if (sv != NULL && ok)
            recon_image_ok(sv);
        *reason = "ImagePullFailed";
        if (ok)
            recon_set_condition(r, p, "ImagePulling", CARA_COND_FALSE, "Pulled", "pulled %s",
                                s->image);
        return ok;
    }
    case STEP_CTR_CREATE: {
        *reason = "ContainerCreateFailed";
        if (st == 404) { /* the image went away between inspect and create */
            svc_state *sv = svc_of(p, s->service, NULL);
            if (sv != NULL)
                sv->image = IMG_UNKNOWN;
            return true;
        }
        if (st != 201)
            return false;
        json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "Id"));
        snap_change ch = {.op = CH_CTR_ADD};
        actual_ctr *c = &ch.ctr;
        snprintf(c->id, sizeof c->id, "%s", id ? id : s->object);
        snprintf(c->name, sizeof c->name, "%s", s->object);
        snprintf(c->project, sizeof c->project, "%s", p->name);
        snprintf(c->service, sizeof c->service, "%s", s->service);
        snprintf(c->hash, sizeof c->hash, "%s", s->hash);
        snprintf(c->state, sizeof c->state, "created");
        json_decref(j);
        svc_state *sv = svc_of(p, s->service, NULL);
        if (sv != NULL)
            sv->recreate_id[0] = '\0';
        return recon_change(r, &ch) == 0;
    }
    case STEP_CTR_START: {
        *reason = "ContainerStartFailed";
        if (ok_status(st, 204, 304, 204))
            change_ctr(r, CH_CTR_STATE, s->target, "running");
        else if (start_refusal_cured_by_recreate(st, res->error))
            mark_for_recreation(r, p, s);
        return ok_status(st, 204, 304, 204);
    }
    case STEP_CTR_STOP: {
        if (st == 404)
            change_ctr(r, CH_CTR_DEL, s->target, "");
        else if (ok_status(st, 204, 304, 204))
            change_ctr(r, CH_CTR_STATE, s->target, "exited");
        return ok_status(st, 204, 304, 404);
    }
    case STEP_CTR_REMOVE:
        if (ok_status(st, 204, 404, 204))
            change_ctr(r, CH_CTR_DEL, s->target, "");
        else if (st == 409) /* "removal already in progress": the engine is on it */
            change_ctr(r, CH_CTR_STATE, s->target, "removing");
        return ok_status(st, 204, 404, 409);
    case STEP_NET_REMOVE:
        if (ok_status(st, 204, 404, 204))
            change_obj(r, CH_NET_DEL, s->object, p->name);
        return ok_status(st, 204, 404, 204);
    case STEP_VOL_REMOVE:
        if (ok_status(st, 204, 404, 204))
            change_obj(r, CH_VOL_DEL, s->object, p->name);
        return ok_status(st, 204, 404, 204);
    }
    CARA_UNREACHABLE();
}

void recon_step_done(void *arg, const cara_docker_result *res)
{
    step *s = arg;
    cara_reconciler *r = s->r;
    r->steps_inflight--;
    if (r->closing) { /* cancelled by cara_reconciler_free's engine shutdown */
        cara_env_free(r->env, s);
        recon_maybe_destroy(r);
        return;
    }
    proj *p = find_proj(r, s->project);
    CARA_ASSERT(p != NULL && in_flight(p, s->key)); /* a busy project is never forgotten */
    unmark(r, p, s->key);
    r->stats.steps++;
    const char *reason;
    svc_state *sv = s->service[0] ? svc_of(p, s->service, NULL) : NULL;
    if (sv != NULL && sv->step == (int)s->kind + 1)
        sv->step = 0;
    bool ok = apply_result(r, p, s, res, &reason);
    char text[CARA_MESSAGE_BYTES_MAX] = "";
    if (!ok) {
        const char *msg = s->error_text[0] ? s->error_text
                          : res->rc != 0   ? res->error
                          : res->error[0]  ? res->error
                                           : "unexpected reply from the engine";
        if (res->rc == 0 && !s->error_text[0])
            snprintf(text, sizeof text, "HTTP %ld: %.900s", res->http_status, msg);
        else
            snprintf(text, sizeof text, "%s", msg);
    }
    if (sv != NULL) {
        snprintf(sv->failed, sizeof sv->failed, "%.*s", (int)sizeof sv->failed - 1, text);
        sv->pull_backoff = false;
    }
    if (!ok && sv != NULL && (s->kind == STEP_IMG_INSPECT || s->kind == STEP_IMG_PULL)) {
        cara_env_logf(r->env, CARA_LOG_WARN, "reconcile", "project=%s step=\"%s %s\" error=\"%s\"",
                      p->name, step_names[s->kind], s->object, text);
        recon_image_failed(r, p, s, sv, res->rc == 0, text);
    } else if (!ok) {
        /* Services first, so the phase report carries their states; on
         * success the next plan reports them with the step it starts. */
        recon_services_update(r, p);
        step_failed(r, p, s, reason, text);
    }
    cara_env_free(r->env, s);
    recon_advance(r, p);
}

/* Pull progress: one JSON object a line. An error can arrive after a 200
 * as {"error": ..., "errorDetail": {...}}; a refusal before streaming
 * began is {"message": ...}. */
static void on_pull_line(void *arg, const char *line, size_t len)
{
    step *s = arg;
    json_t *j = json_loadb(line, len, 0, NULL);
    if (j == NULL)
        return;
    const char *err = json_string_value(json_object_get(j, "error"));
    if (err == NULL)
        err = json_string_value(json_object_get(j, "message"));
    if (err != NULL) {
        snprintf(s->error_text, sizeof s->error_text, "%s", err);
        json_decref(j);
        return;
    }
    const char *status = json_string_value(json_object_get(j, "status"));
    json_t *pd = json_object_get(j, "progressDetail");
    json_int_t cur = json_integer_value(json_object_get(pd, "current"));
    json_int_t total = json_integer_value(json_object_get(pd, "total"));
    int percent = total > 0 ? (int)(cur * 100 / total) : -1;
    proj *p = find_proj(s->r, s->project);
    /* Report a new status text, or progress in steps of 10 %, not every
     * chunk: each report is a status write that may be gossiped. */
    if (p != NULL && status != NULL &&
        (strcmp(status, s->pull_status) != 0 || percent / 10 != s->pull_percent / 10)) {
        snprintf(s->pull_status, sizeof s->pull_status, "%s", status);
        s->pull_percent = percent;
        svc_state *sv = svc_of(p, s->service, NULL);
        if (sv != NULL) {
            if (percent >= 0)
                snprintf(sv->progress, sizeof sv->progress, "%.60s %d%%", status, percent);
            else
                snprintf(sv->progress, sizeof sv->progress, "%.60s", status);
            recon_services_update(s->r, p);
        }
        if (percent >= 0)
            recon_set_condition(s->r, p, "ImagePulling", CARA_COND_TRUE, "Pulling",
                                "pulling %s: %s %d%%", s->image, status, percent);
        else
            recon_set_condition(s->r, p, "ImagePulling", CARA_COND_TRUE, "Pulling",
                                "pulling %s: %s", s->image, status);
    }
    json_decref(j);
}

/* Splits an image reference into repository and tag (or digest) for
 * /images/create; without either, the tag is "latest" (an empty tag would
 * pull every tag). */
static void split_image(const char *image, char *repo, size_t repo_cap, char *tag, size_t tag_cap)
{
    const char *at = strchr(image, '@');
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');
    if (at != NULL) {
        snprintf(repo, repo_cap, "%.*s", (int)(at - image), image);
        snprintf(tag, tag_cap, "%s", at + 1);
    } else if (colon != NULL && (slash == NULL || colon > slash)) {
        snprintf(repo, repo_cap, "%.*s", (int)(colon - image), image);
        snprintf(tag, tag_cap, "%s", colon + 1);
    } else {
        snprintf(repo, repo_cap, "%s", image);
        snprintf(tag, tag_cap, "latest");
    }
}

static int issue(cara_reconciler *r, step *s, const cara_project *spec, const cara_service *svc)
{
    cara_docker *d = r->cfg.docker;
    char path[1024];
    cara_buf q;
    cara_buf_init(&q, r->env, 2048);
    json_t *body = NULL;
    int rc = 0;
    switch (s->kind) {
    case STEP_NET_CREATE:
        rc = recon_net_create(r, s);
        break;
    case STEP_VOL_CREATE:
        for (size_t i = 0; i < spec->volumes_count; i++) {
            char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
            cara_obj_volume_name(spec, &spec->volumes[i], name);
            if (strcmp(name, s->object) == 0)
                body = cara_obj_volume_body(spec, &spec->volumes[i], r->cfg.node_name);
        }
        rc = cara_docker_request(d, "POST", "/volumes/create", body, recon_step_done, s);
        break;
    case STEP_IMG_INSPECT:
        snprintf(path, sizeof path, "/images/%s/json", s->image);
        rc = cara_docker_request(d, "GET", path, NULL, recon_step_done, s);
        break;
    case STEP_IMG_PULL: {
        char repo[CARA_IMAGE_BYTES_MAX + 1], tag[CARA_IMAGE_BYTES_MAX + 1];
        split_image(s->image, repo, sizeof repo, tag, sizeof tag);
        rc = cara_buf_append_str(&q, "/images/create?fromImage=");
        rc = rc ? rc : cara_docker_urlencode(repo, &q);
        rc = rc ? rc : cara_buf_append_str(&q, "&tag=");
        rc = rc ? rc : cara_docker_urlencode(tag, &q);
        s->pull_percent = -100;
        rc = rc ? rc
                : cara_docker_stream(d, "POST", (char *)q.data, true, on_pull_line, recon_step_done, s,
                                     NULL);
        break;
    }
    case STEP_CTR_CREATE:
        body = cara_obj_container_body(spec, svc, r->cfg.node_name, s->hash);
        snprintf(path, sizeof path, "/containers/create?name=%s", s->object);
        rc = cara_docker_request(d, "POST", path, body, recon_step_done, s);
        break;
    case STEP_CTR_START:
        snprintf(path, sizeof path, "/containers/%s/start", s->target);
        rc = cara_docker_request(d, "POST", path, NULL, recon_step_done, s);
        break;
    case STEP_CTR_STOP:
        snprintf(path, sizeof path, "/containers/%s/stop?t=%u", s->target, r->cfg.stop_timeout_s);
        rc = cara_docker_request(d, "POST", path, NULL, recon_step_done, s);
        break;
    case STEP_CTR_REMOVE:
        snprintf(path, sizeof path, "/containers/%s?force=1&v=1", s->target);
        rc = cara_docker_request(d, "DELETE", path, NULL, recon_step_done, s);
        break;
    case STEP_NET_REMOVE:
        snprintf(path, sizeof path, "/networks/%s", s->object);
        rc = cara_docker_request(d, "DELETE", path, NULL, recon_step_done, s);
        break;
    case STEP_VOL_REMOVE:
        snprintf(path, sizeof path, "/volumes/%s", s->object);
        rc = cara_docker_request(d, "DELETE", path, NULL, recon_step_done, s);
        break;
    }
    json_decref(body);
    cara_buf_free(&q);
    return rc;
}

/* ---- Planning --------------------------------------------------------------------- */

static step *new_step(cara_reconciler *r, proj *p, step_kind kind, const char *object)
{
    step *s = cara_env_calloc(r->env, 1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->r = r;
    s->kind = kind;
    snprintf(s->project, sizeof s->project, "%s", p->name);
    snprintf(s->object, sizeof s->object, "%s", object);
    snprintf(s->key, sizeof s->key, "%s", object);
    return s;
}

static step *ctr_step(cara_reconciler *r, proj *p, step_kind kind, const actual_ctr *c)
{
    step *s = new_step(r, p, kind, c->name);
    if (s != NULL) {
        snprintf(s->target, sizeof s->target, "%s", c->id);
        snprintf(s->service, sizeof s->service, "%s", c->service);
    }
    return s;
}

/* The next removal step not already in flight, or NULL. Running containers
 * are stopped first, to give them their grace; the network and volumes go
 * only once no container of the project is left. *left tells whether
 * anything of the project remains at all. */
static step *plan_removal(cara_reconciler *r, proj *p, bool *left)
{
    snapshot *snap = &r->snap;
    bool containers = false;
    for (size_t i = 0; i < snap->ctrs_count; i++) {
        actual_ctr *c = &snap->ctrs[i];
        if (strcmp(c->project, p->name) != 0)
            continue;
        containers = *left = true;
        if (!in_flight(p, c->name) && strcmp(c->state, "removing") != 0)
            return ctr_step(r, p,
                            strcmp(c->state, "running") == 0 && !p->force ? STEP_CTR_STOP
                                                                         : STEP_CTR_REMOVE,
                            c);
    }
    for (size_t i = 0; i < snap->nets_count; i++) {
        if (strcmp(snap->nets[i].project, p->name) != 0)
            continue;
        *left = true;
        if (!containers && !in_flight(p, snap->nets[i].name))
            return new_step(r, p, STEP_NET_REMOVE, snap->nets[i].name);
    }
    for (size_t i = 0; i < snap->vols_count; i++) {
        if (strcmp(snap->vols[i].project, p->name) != 0)
            continue;
        *left = true;
        if (!containers && !in_flight(p, snap->vols[i].name))
            return new_step(r, p, STEP_VOL_REMOVE, snap->vols[i].name);
    }
    return NULL;
}

/* A container that is ours but no longer wanted as it is: its service is
 * gone, its spec changed, or the engine gave up on it. */
static step *plan_stale(cara_reconciler *r, proj *p)
{
    snapshot *snap = &r->snap;
    for (size_t i = 0; i < snap->ctrs_count; i++) {
        actual_ctr *c = &snap->ctrs[i];
        if (strcmp(c->project, p->name) != 0)
            continue;
        const cara_service *svc = NULL;
        svc_state *sv = svc_of(p, c->service, &svc);
        char want[CARA_OBJECT_NAME_BYTES_MAX + 1];
        if (svc != NULL)
            cara_obj_container_name(p->spec, svc, want);
        bool stale = sv == NULL || strcmp(sv->hash, c->hash) != 0 || strcmp(want, c->name) != 0 ||
                     strcmp(c->state, "dead") == 0 || strcmp(sv->recreate_id, c->id) == 0;
        if (stale && !in_flight(p, c->name) && strcmp(c->state, "removing") != 0)
            return ctr_step(r, p, strcmp(c->state, "running") == 0 ? STEP_CTR_STOP : STEP_CTR_REMOVE, c);
    }
    return NULL;
}

static bool wants_restart(const cara_service *svc, const actual_ctr *c)
{
    return svc->restart == CARA_RESTART_ALWAYS ||
           (svc->restart == CARA_RESTART_ON_FAILURE && c->exit_code != 0);
}

/* The next step for service i, or NULL. Sets *waiting when the service is
 * not where it should be but must wait (back-off, engine restarting it). */
static step *plan_service(cara_reconciler *r, proj *p, size_t i, bool *waiting)
{
    const cara_service *svc = &p->spec->services[i];
    svc_state *sv = &p->svcs[i];
    char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
    cara_obj_container_name(p->spec, svc, name);
    actual_ctr *c = snap_find_svc(&r->snap, p->name, svc->name);
    step *s = NULL;
    if (in_flight(p, name) || (c != NULL && strcmp(c->hash, sv->hash) != 0)) {
        *waiting = true; /* a step of this service runs, or its old container goes first */
        return NULL;
    }
    if (c == NULL) {
        step_kind k = sv->image == IMG_PRESENT   ? STEP_CTR_CREATE
                      : sv->image == IMG_MISSING ? STEP_IMG_PULL
                                                 : STEP_IMG_INSPECT;
        s = new_step(r, p, k, k == STEP_CTR_CREATE ? name : svc->image);
        if (s != NULL) {
            snprintf(s->service, sizeof s->service, "%s", svc->name);
            snprintf(s->image, sizeof s->image, "%s", svc->image);
            snprintf(s->hash, sizeof s->hash, "%s", sv->hash);
            snprintf(s->key, sizeof s->key, "%s", name);
        }
        return s;
    }
    if (strcmp(c->state, "created") == 0)
        return ctr_step(r, p, STEP_CTR_START, c);
    if (strcmp(c->state, "exited") == 0 && wants_restart(svc, c)) {
        uint64_t now = cara_env_now_mono_ms(r->env);
        if (now < sv->not_before_mono_ms) {
            *waiting = true;
            recon_schedule_retry(r, sv->not_before_mono_ms);
            return NULL;
        }
        /* Stopped behind our back (docker stop/kill do not trigger the
         * engine's own restart policy): start it again, backing off. */
        sv->backoff_ms = next_backoff(sv->backoff_ms);
        sv->not_before_mono_ms = now + sv->backoff_ms;
        sv->agent_restarts++;
        r->stats.restarts++;
        recon_set_condition(r, p, "Restarted", CARA_COND_TRUE, "ContainerStopped",
                            "service %s had stopped (exit code %d); restarted by the agent %u "
                            "time(s), next back-off %u ms",
                            svc->name, c->exit_code, sv->agent_restarts, sv->backoff_ms);
        return ctr_step(r, p, STEP_CTR_START, c);
    }
    if (strcmp(c->state, "restarting") == 0 || strcmp(c->state, "removing") == 0)
        *waiting = true;
    return NULL;
}

/* Decides the phase when no step is left. */
static void settle(cara_reconciler *r, proj *p, bool waiting)
{
    if (waiting)
        return;
    size_t running = 0;
    for (size_t i = 0; i < p->spec->services_count; i++) {
        actual_ctr *c = snap_find_svc(&r->snap, p->name, p->spec->services[i].name);
        if (c != NULL && strcmp(c->state, "running") == 0)
            running++;
    }
    p->settled = true;
    p->retry_backoff_ms = 0;
    p->failed_msg[0] = '\0';
    recon_set_phase(r, p, CARA_PHASE_RUNNING, "Reconciled",
                    "%zu of %zu services running, the others completed", running,
                    p->spec->services_count);
    if (p->announce)
        recon_emit(r, p);
}

/* Starts `s`; on failure to even start it, counts it as a failed step. */
static void start_step(cara_reconciler *r, proj *p, step *s, const cara_service *svc)
{
    int rc = mark(r, p, s->key);
    if (rc == 0 && (rc = issue(r, s, p->spec, svc)) != 0)
        unmark(r, p, s->key);
    if (rc == 0) {
        r->steps_inflight++;
        svc_state *sv = s->service[0] ? svc_of(p, s->service, NULL) : NULL;
        if (sv != NULL) {
            sv->step = (int)s->kind + 1;
            if (s->kind == STEP_CTR_STOP || s->kind == STEP_CTR_REMOVE)
                sv->expect_die = true; /* its "die" event is ours, not a crash */
        }
    }
    if (rc != 0) {
        step_failed(r, p, s, "AgentError", cara_strerror(rc));
        cara_env_free(r->env, s);
    }
}

/* Deleting: every container at once, then the network and volumes. */
static void advance_removal(cara_reconciler *r, proj *p)
{
    bool left = false;
    step *s;
    while ((s = plan_removal(r, p, &left)) != NULL)
        start_step(r, p, s, NULL);
    if (!left && p->inflight_count == 0) {
        recon_set_phase(r, p, CARA_PHASE_TERMINATED, "ObjectsRemoved",
                        "every container, network and volume is gone");
        recon_forget(r, p);
    }
}

/* Another project of this node holds an object of the same name: Failed,
 * retried with back-off (the other project may go away). */
static void name_conflict(cara_reconciler *r, proj *p, const char *what, const char *name,
                          const char *owner)
{
    recon_back_off(r, p);
    snprintf(p->failed_msg, sizeof p->failed_msg, "%s %s is project %s's", what, name, owner);
    recon_set_phase(r, p, CARA_PHASE_FAILED, "NameConflict",
                    "%s %s already belongs to project %s (the names collide); rename a volume "
                    "or a project", what, name, owner);
}

/* The network and volumes come before any container; returns false while
 * one of them is missing (and starts what it can). */
static bool prerequisites_ready(cara_reconciler *r, proj *p)
{
    bool ready = true;
    char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
    cara_obj_network_name(p->spec, name);
    if (!snap_has_obj(r->snap.nets, r->snap.nets_count, name)) {
        ready = false;
        if (!in_flight(p, name)) {
            step *s = new_step(r, p, STEP_NET_CREATE, name);
            if (s != NULL)
                start_step(r, p, s, NULL);
        }
    }
    for (size_t i = 0; i < p->spec->volumes_count; i++) {
        cara_obj_volume_name(p->spec, &p->spec->volumes[i], name);
        const char *owner = snap_obj_project(r->snap.vols, r->snap.vols_count, name);
        if (owner != NULL && strcmp(owner, p->name) != 0) {
            /* "cara-a-b-data" is (a-b, data) and (a, b-data) alike. */
            ready = false;
            name_conflict(r, p, "volume", name, owner);
            continue;
        }
        if (owner != NULL)
            continue;
        ready = false;
        if (!in_flight(p, name)) {
            step *s = new_step(r, p, STEP_VOL_CREATE, name);
            if (s != NULL)
                start_step(r, p, s, NULL);
        }
    }
    return ready;
}

void recon_advance(cara_reconciler *r, proj *p)
{
    if (!r->snap_valid || r->closing)
        return;
    uint64_t now = cara_env_now_mono_ms(r->env);
    if (now < p->retry_not_before_mono_ms) {
        recon_services_update(r, p); /* steps still finish while we back off */
        recon_schedule_retry(r, p->retry_not_before_mono_ms);
        return;
    }
    p->settled = false;
    if (p->deleting || p->spec == NULL) {
        advance_removal(r, p);
        return;
    }
    if (p->pull_gave_up) { /* Failed for good: nothing more until a new spec */
        recon_services_update(r, p);
        p->settled = p->inflight_count == 0;
        return;
    }
    if (!prerequisites_ready(r, p))
        return;
    bool waiting = p->inflight_count > 0;
    step *s;
    while ((s = plan_stale(r, p)) != NULL) {
        start_step(r, p, s, NULL);
        waiting = true;
    }
    for (size_t i = 0; i < p->spec->services_count; i++) {
        if (now < p->retry_not_before_mono_ms)
            break; /* a step failed at once: wait for the back-off */
        if ((s = plan_service(r, p, i, &waiting)) != NULL) {
            start_step(r, p, s, &p->spec->services[i]);
            waiting = true;
        }
    }
    recon_services_update(r, p);
    if (now >= p->retry_not_before_mono_ms)
        settle(r, p, waiting);
}
