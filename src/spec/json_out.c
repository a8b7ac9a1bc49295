/*
 * Model -> JSON (jansson). The shape is the manifest's, field for field, so
 * that a JSON body can be fed back to the binder and a YAML rendering of it
 * is a valid manifest.
 *
 * The output is canonical in content (the msgpack encoder adds the byte
 * rules on top): every default the model holds is written out (restart
 * policy, protocol, readOnly, volume type, access scope, health timings),
 * so "absent" and "default" cannot be two encodings of one spec; and empty
 * lists, empty maps and absent optionals are left out, for the same reason
 * the other way round.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spec/spec_int.h"

/* Collects the first failure while a tree is being built, so each builder
 * can add fields in a straight line and check once at the end. */
typedef struct jb {
    int rc;
} jb;

static void fail(jb *b, int rc)
{
    if (b->rc == 0)
        b->rc = rc;
}

/* Adds `v` (taken) under `key`; a NULL `v` records the failure. */
static void put(jb *b, json_t *obj, const char *key, json_t *v)
{
    if (v == NULL) {
        fail(b, CARA_ENOMEM);
        return;
    }
    if (json_object_set_new(obj, key, v) != 0) /* decrefs v on failure */
        fail(b, CARA_ENOMEM);
}

static void append(jb *b, json_t *arr, json_t *v)
{
    if (v == NULL) {
        fail(b, CARA_ENOMEM);
        return;
    }
    if (json_array_append_new(arr, v) != 0)
        fail(b, CARA_ENOMEM);
}

/* A string value. jansson refuses invalid UTF-8; the decoders never let
 * such a string into a model, so here it can only come from a model built
 * by hand, which is the caller's mistake (CARA_EINVAL). */
static json_t *str(jb *b, const char *s)
{
    CARA_ASSERT(s != NULL);
    json_t *v = json_string(s);
    if (v == NULL)
        fail(b, spec_utf8_valid(s, strlen(s)) ? CARA_ENOMEM : CARA_EINVAL);
    return v;
}

static void put_str(jb *b, json_t *obj, const char *key, const char *s)
{
    json_t *v = str(b, s);
    if (v != NULL)
        put(b, obj, key, v);
}

static void put_str_opt(jb *b, json_t *obj, const char *key, const char *s)
{
    if (s != NULL)
        put_str(b, obj, key, s);
}

static void put_int(jb *b, json_t *obj, const char *key, int64_t i)
{
    put(b, obj, key, json_integer((json_int_t)i));
}

static void put_time(jb *b, json_t *obj, const char *key, int64_t unix_ms)
{
    char text[CARA_TIME_TEXT_BYTES];
    int rc = cara_time_format_rfc3339(unix_ms, text);
    if (rc != 0) {
        fail(b, rc);
        return;
    }
    put_str(b, obj, key, text);
}

/* Adds `v` under `key` only when it is a non-empty array or object;
 * otherwise drops it. */
static void put_nonempty(jb *b, json_t *obj, const char *key, json_t *v)
{
    if (v == NULL) {
        fail(b, CARA_ENOMEM);
        return;
    }
    size_t n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
    if (n == 0) {
        json_decref(v);
        return;
    }
    put(b, obj, key, v);
}

static json_t *strv(jb *b, char *const *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        append(b, arr, str(b, v[i]));
    return arr;
}

/* Labels and node selectors: a JSON object, in model order. */
static json_t *kv_map(jb *b, const cara_kv *kv, size_t n)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj != NULL && i < n; i++)
        put_str(b, obj, kv[i].name, kv[i].value);
    return obj;
}

/* ---- Quantities --------------------------------------------------------------
 * Kubernetes quantity strings, chosen so one value has one spelling: cpu as
 * whole cores ("2") or millicores ("500m"); memory with the largest binary
 * suffix that divides it exactly ("256Mi"), else as a plain byte count. */

void spec_cpu_quantity(uint64_t millis, char out[SPEC_QUANTITY_BYTES])
{
    if (millis % 1000 == 0)
        snprintf(out, SPEC_QUANTITY_BYTES, "%" PRIu64, millis / 1000);
    else
        snprintf(out, SPEC_QUANTITY_BYTES, "%" PRIu64 "m", millis);
}

void spec_memory_quantity(uint64_t bytes, char out[SPEC_QUANTITY_BYTES])
{
    static const char *const suffix[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
    for (int i = 0; i < 6; i++) {
        unsigned shift = (unsigned)(60 - 10 * i);
        uint64_t unit = (uint64_t)1 << shift;
        if (bytes != 0 && bytes % unit == 0) {
            snprintf(out, SPEC_QUANTITY_BYTES, "%" PRIu64 "%s", bytes >> shift, suffix[i]);
            return;
        }
    }
    snprintf(out, SPEC_QUANTITY_BYTES, "%" PRIu64, bytes);
}

/* Adds {"cpu","memory"} under `key`, each only when set, and nothing when
 * neither is. */
static void put_resources(jb *b, json_t *obj, const char *key, const cara_resources *r)
{
    json_t *res = json_object();
    char q[SPEC_QUANTITY_BYTES];
    if (res != NULL && r->cpu_millis != 0) {
        spec_cpu_quantity(r->cpu_millis, q);
        put_str(b, res, "cpu", q);
    }
    if (res != NULL && r->memory_bytes != 0) {
        spec_memory_quantity(r->memory_bytes, q);
        put_str(b, res, "memory", q);
    }
    put_nonempty(b, obj, key, res);
}

/* ---- Project -------------------------------------------------------------------- */

static json_t *env_list(jb *b, const cara_kv *kv, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *e = json_object();
        if (e != NULL) {
            put_str(b, e, "name", kv[i].name);
            put_str_opt(b, e, "value", kv[i].value);
        }
        append(b, arr, e);
    }
    return arr;
}

static json_t *mounts_list(jb *b, const cara_volume_mount *m, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *e = json_object();
        if (e != NULL) {
            put_str(b, e, "name", m[i].name);
            put_str(b, e, "mountPath", m[i].mount_path);
            put(b, e, "readOnly", json_boolean(m[i].read_only));
        }
        append(b, arr, e);
    }
    return arr;
}

static const char *proto_name(cara_proto p)
{
    switch (p) {
    case CARA_PROTO_TCP: return "TCP";
    case CARA_PROTO_UDP: return "UDP";
    }
    CARA_UNREACHABLE();
}

static json_t *ports_list(jb *b, const cara_port *p, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *e = json_object();
        if (e != NULL) {
            put_int(b, e, "containerPort", p[i].container_port);
            put_str(b, e, "protocol", proto_name(p[i].protocol));
            put_str_opt(b, e, "name", p[i].name);
        }
        append(b, arr, e);
    }
    return arr;
}

/* The health check exists only with a command; its timings are then always
 * written, defaults included. */
static void put_health(jb *b, json_t *svc, const cara_health *h)
{
    if (h->command_count == 0)
        return;
    json_t *e = json_object();
    if (e != NULL) {
        put(b, e, "command", strv(b, h->command, h->command_count));
        put_int(b, e, "intervalSeconds", h->interval_s);
        put_int(b, e, "timeoutSeconds", h->timeout_s);
        put_int(b, e, "startPeriodSeconds", h->start_period_s);
        put_int(b, e, "retries", h->retries);
    }
    put(b, svc, "healthCheck", e);
}

static json_t *service_json(jb *b, const cara_service *s)
{
    json_t *e = json_object();
    if (e == NULL)
        return NULL;
    put_str(b, e, "name", s->name);
    put_str(b, e, "image", s->image);
    put_nonempty(b, e, "command", strv(b, s->command, s->command_count));
    put_nonempty(b, e, "args", strv(b, s->args, s->args_count));
    put_nonempty(b, e, "env", env_list(b, s->env, s->env_count));
    put_nonempty(b, e, "volumeMounts", mounts_list(b, s->mounts, s->mounts_count));
    put_nonempty(b, e, "ports", ports_list(b, s->ports, s->ports_count));
    put_str(b, e, "restartPolicy", cara_restart_name(s->restart));
    put_health(b, e, &s->health);
    put_resources(b, e, "resources", &s->resources);
    return e;
}

static const char *volume_type_name(cara_volume_type t)
{
    switch (t) {
    case CARA_VOLUME_EPHEMERAL: return "Ephemeral";
    }
    CARA_UNREACHABLE();
}

static const char *scope_name(cara_scope s)
{
    switch (s) {
    case CARA_SCOPE_INTERNAL: return "Internal";
    }
    CARA_UNREACHABLE();
}

static json_t *ingress_json(jb *b, const cara_ingress *g)
{
    json_t *e = json_object();
    if (e == NULL)
        return NULL;
    put_str(b, e, "name", g->name);
    put_str_opt(b, e, "host", g->host);
    json_t *target = json_object();
    if (target != NULL) {
        put_str(b, target, "service", g->target_service);
        put_int(b, target, "port", g->target_port);
    }
    put(b, e, "target", target);
    json_t *access = json_object();
    if (access != NULL)
        put_str(b, access, "scope", scope_name(g->scope));
    put(b, e, "access", access);
    return e;
}

static json_t *spec_json(jb *b, const cara_project *p)
{
    json_t *spec = json_object();
    if (spec == NULL)
        return NULL;
    json_t *services = json_array();
    for (size_t i = 0; services != NULL && i < p->services_count; i++)
        append(b, services, service_json(b, &p->services[i]));
    put_nonempty(b, spec, "services", services);
    json_t *volumes = json_array();
    for (size_t i = 0; volumes != NULL && i < p->volumes_count; i++) {
        json_t *v = json_object();
        if (v != NULL) {
            put_str(b, v, "name", p->volumes[i].name);
            put_str(b, v, "type", volume_type_name(p->volumes[i].type));
        }
        append(b, volumes, v);
    }
    put_nonempty(b, spec, "volumes", volumes);
    json_t *ingress = json_array();
    for (size_t i = 0; ingress != NULL && i < p->ingress_count; i++)
        append(b, ingress, ingress_json(b, &p->ingress[i]));
    put_nonempty(b, spec, "ingress", ingress);
    put_nonempty(b, spec, "nodeSelector", kv_map(b, p->node_selector, p->node_selector_count));
    if (p->has_expire_at)
        put_time(b, spec, "expireAt", p->expire_at_wall_ms);
    return spec;
}

/* ---- Status and node -------------------------------------------------------------- */

static json_t *conditions_json(jb *b, const cara_condition *c, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *e = json_object();
        if (e != NULL) {
            put_str(b, e, "type", c[i].type);
            put_str(b, e, "status", cara_cond_status_name(c[i].status));
            put_str_opt(b, e, "reason", c[i].reason);
            put_str_opt(b, e, "message", c[i].message);
            put_time(b, e, "lastTransitionTime", c[i].last_transition_wall_ms);
        }
        append(b, arr, e);
    }
    return arr;
}

/* A message that is NULL or "" is left out: the binder reads "" as absent,
 * so writing it would give bytes that do not decode to themselves. */
static json_t *service_statuses_json(jb *b, const cara_service_status *s, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *e = json_object();
        if (e != NULL) {
            put_str(b, e, "name", s[i].name);
            put_str(b, e, "state", cara_svc_state_name(s[i].state));
            if (s[i].message != NULL && s[i].message[0] != '\0')
                put_str(b, e, "message", s[i].message);
            put_int(b, e, "restarts", s[i].restarts);
        }
        append(b, arr, e);
    }
    return arr;
}

static json_t *status_json(jb *b, const cara_project_status *s)
{
    json_t *e = json_object();
    if (e == NULL)
        return NULL;
    put_str(b, e, "phase", cara_phase_name(s->phase));
    put_str_opt(b, e, "nodeRef", s->node_ref);
    put_nonempty(b, e, "conditions", conditions_json(b, s->conditions, s->conditions_count));
    put_nonempty(b, e, "services", service_statuses_json(b, s->services, s->services_count));
    return e;
}

/* Ends a build: returns `root` when nothing failed, else frees it. */
static int finish(jb *b, json_t *root, json_t **out)
{
    if (root == NULL)
        fail(b, CARA_ENOMEM);
    if (b->rc != 0) {
        json_decref(root);
        *out = NULL;
        return b->rc;
    }
    *out = root;
    return 0;
}

int spec_project_json(const cara_project *p, const cara_project_status *status_or_null,
                      json_t **out)
{
    CARA_ASSERT(p != NULL && out != NULL);
    jb b = {0};
    json_t *root = json_object();
    if (root != NULL) {
        put_str(&b, root, "apiVersion", CARA_API_VERSION);
        put_str(&b, root, "kind", "Project");
        json_t *meta = json_object();
        if (meta != NULL) {
            put_str(&b, meta, "name", p->name);
            put_nonempty(&b, meta, "labels", kv_map(&b, p->labels, p->labels_count));
        }
        put(&b, root, "metadata", meta);
        put(&b, root, "spec", spec_json(&b, p));
        if (status_or_null != NULL)
            put(&b, root, "status", status_json(&b, status_or_null));
    }
    return finish(&b, root, out);
}

int spec_project_status_json(const cara_project_status *s, json_t **out)
{
    CARA_ASSERT(s != NULL && out != NULL);
    jb b = {0};
    return finish(&b, status_json(&b, s), out);
}

int spec_node_json(const cara_node *n, json_t **out)
{
    CARA_ASSERT(n != NULL && out != NULL);
    jb b = {0};
    json_t *e = json_object();
    if (e != NULL) {
        put_str(&b, e, "name", n->name);
        put_nonempty(&b, e, "addresses", strv(&b, n->addrs, n->addrs_count));
        put_str_opt(&b, e, "magicDNS", n->magic_dns);
        put_str_opt(&b, e, "gossipAddress", n->gossip_addr);
        put_str_opt(&b, e, "agentVersion", n->agent_version);
        put_str_opt(&b, e, "apiAddress", n->api_addr);
        put_nonempty(&b, e, "labels", kv_map(&b, n->labels, n->labels_count));
        put_resources(&b, e, "capacity", &n->capacity);
        put_str(&b, e, "state", cara_node_state_name(n->state));
        put_nonempty(&b, e, "conditions", conditions_json(&b, n->conditions, n->conditions_count));
        put(&b, e, "unschedulable", json_boolean(n->unschedulable));
    }
    return finish(&b, e, out);
}

/* Every timer is written, defaults included: the model holds all five, so
 * "absent" and "the default" would otherwise be two spellings of one value. */
int spec_settings_json(const cara_settings *s, json_t **out)
{
    CARA_ASSERT(s != NULL && out != NULL);
    jb b = {0};
    json_t *root = json_object();
    if (root != NULL) {
        put_str(&b, root, "apiVersion", CARA_API_VERSION);
        put_str(&b, root, "kind", CARA_SETTINGS_KIND);
        put_str(&b, root, "environment", s->environment);
        put_str(&b, root, "baseDomain", s->base_domain);
        json_t *t = json_object();
        if (t != NULL) {
            put_int(&b, t, "fenceTimeoutSeconds", s->timers.fence_timeout_s);
            put_int(&b, t, "rescheduleGraceSeconds", s->timers.reschedule_grace_s);
            put_int(&b, t, "terminatingTimeoutSeconds", s->timers.terminating_timeout_s);
            put_int(&b, t, "tombstoneHorizonSeconds", s->timers.tombstone_horizon_s);
            put_int(&b, t, "clockSkewSeconds", s->timers.clock_skew_s);
        }
        put(&b, root, "timers", t);
    }
    return finish(&b, root, out);
}

json_t *cara_settings_to_json(const cara_settings *s)
{
    json_t *j;
    return spec_settings_json(s, &j) == 0 ? j : NULL;
}

json_t *cara_project_to_json(const cara_project *p, const cara_project_status *status_or_null)
{
    json_t *j;
    return spec_project_json(p, status_or_null, &j) == 0 ? j : NULL;
}

int cara_project_json(const cara_project *p, const cara_project_status *status_or_null,
                      json_t **out)
{
    return spec_project_json(p, status_or_null, out);
}

json_t *cara_project_status_to_json(const cara_project_status *s)
{
    json_t *j;
    return spec_project_status_json(s, &j) == 0 ? j : NULL;
}

json_t *cara_node_to_json(const cara_node *n)
{
    json_t *j;
    return spec_node_json(n, &j) == 0 ? j : NULL;
}
