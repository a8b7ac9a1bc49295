/*
 * The schema of a Project manifest, Project status, Node and cluster
 * settings, as tables (see bind_int.h), and the binders that apply them. The field names
 * are the manifest's and also the JSON and msgpack keys, so one table
 * serves all three formats. docs/manifest.md is the reference for users.
 */
#include <stddef.h>
#include <string.h>

#include "spec/bind_int.h"

_Static_assert(sizeof(cara_restart) == sizeof(int) && sizeof(cara_proto) == sizeof(int) &&
                   sizeof(cara_phase) == sizeof(int) && sizeof(cara_cond_status) == sizeof(int) &&
                   sizeof(cara_node_state) == sizeof(int) && sizeof(cara_svc_state) == sizeof(int),
               "F_ENUM stores an int");

#define STR(n, type, member, req) {.name = n, .kind = F_STR, .required = req, .off = offsetof(type, member)}
#define STRV(n, type, member, cnt, max)                                                    \
    {.name = n, .kind = F_STRV, .off = offsetof(type, member), .off_count = offsetof(type, cnt), \
     .count_max = max}
#define KVMAP(n, type, member, cnt, max)                                                    \
    {.name = n, .kind = F_KVMAP, .off = offsetof(type, member), .off_count = offsetof(type, cnt), \
     .count_max = max}
#define LIST(n, type, member, cnt, max, sh, req)                                           \
    {.name = n, .kind = F_LIST, .required = req, .off = offsetof(type, member),              \
     .off_count = offsetof(type, cnt), .count_max = max, .shape = &(sh)}
#define OBJ(n, off_, sh, req) {.name = n, .kind = F_OBJ, .required = req, .off = off_, .shape = &(sh)}
#define ENUM(n, type, member, names_)                                                      \
    {.name = n, .kind = F_ENUM, .off = offsetof(type, member), .names = names_,              \
     .names_count = sizeof(names_) / sizeof *(names_)}
#define U32(n, type, member, lo, hi) \
    {.name = n, .kind = F_U32, .off = offsetof(type, member), .min = lo, .max = hi}

/* ---- Checks that only need the input text --------------------------------- */

static void expect_text(bctx *b, const doc_node *v, const char *path, const char *want)
{
    if (v->kind == DOC_SCALAR && v->len == strlen(want) && memcmp(v->text, want, v->len) == 0)
        return;
    char got[QUOTE_BYTES];
    describe(got, sizeof got, v);
    bind_error(b, path, "must be \"%s\", got %s", want, got);
}

static void bind_api_version(bctx *b, const doc_node *v, const char *path, void *obj)
{
    (void)obj;
    expect_text(b, v, path, CARA_API_VERSION);
}

static void bind_kind(bctx *b, const doc_node *v, const char *path, void *obj)
{
    (void)obj;
    expect_text(b, v, path, "Project");
}

static void bind_settings_kind(bctx *b, const doc_node *v, const char *path, void *obj)
{
    (void)obj;
    expect_text(b, v, path, CARA_SETTINGS_KIND);
}

/* Volume types and ingress scopes have one value each today; the message
 * says so, rather than listing a one-element enum. */
static void bind_only(bctx *b, const doc_node *v, const char *path, const char *what,
                      const char *only)
{
    if (v->kind == DOC_SCALAR && v->len == strlen(only) && memcmp(v->text, only, v->len) == 0)
        return;
    char got[QUOTE_BYTES];
    describe(got, sizeof got, v);
    bind_error(b, path, "%s %s is not supported (only %s)", what, got, only);
}

static void bind_volume_type(bctx *b, const doc_node *v, const char *path, void *obj)
{
    ((cara_volume *)obj)->type = CARA_VOLUME_EPHEMERAL;
    bind_only(b, v, path, "volume type", "Ephemeral");
}

static void bind_scope(bctx *b, const doc_node *v, const char *path, void *obj)
{
    ((cara_ingress *)obj)->scope = CARA_SCOPE_INTERNAL;
    bind_only(b, v, path, "access scope", "Internal");
}

/* Docker's HEALTHCHECK defaults, filled in so the model is explicit. */
static void health_init(void *obj)
{
    cara_health *h = obj;
    h->interval_s = 30;
    h->timeout_s = 30;
    h->start_period_s = 0;
    h->retries = 3;
}

/* ---- Project ------------------------------------------------------------------ */

static const char *const restart_names[] = {"Always", "OnFailure", "Never"};
static const char *const proto_names[] = {"TCP", "UDP"};

static const field env_fields[] = {
    STR("name", cara_kv, name, true),
    STR("value", cara_kv, value, false),
};
static const shape env_shape = SHAPE(env_fields, sizeof(cara_kv), NULL);

static const field mount_fields[] = {
    STR("name", cara_volume_mount, name, true),
    STR("mountPath", cara_volume_mount, mount_path, true),
    {.name = "readOnly", .kind = F_BOOL, .off = offsetof(cara_volume_mount, read_only)},
};
static const shape mount_shape = SHAPE(mount_fields, sizeof(cara_volume_mount), NULL);

static const field port_fields[] = {
    {.name = "containerPort", .kind = F_U16, .required = true,
     .off = offsetof(cara_port, container_port), .min = 1, .max = 65535},
    ENUM("protocol", cara_port, protocol, proto_names),
    STR("name", cara_port, name, false),
};
static const shape port_shape = SHAPE(port_fields, sizeof(cara_port), NULL);

static const field health_fields[] = {
    {.name = "command", .kind = F_STRV, .required = true, .off = offsetof(cara_health, command),
     .off_count = offsetof(cara_health, command_count), .count_max = CARA_ARGS_COUNT_MAX,
     .count_min = 1},
    U32("intervalSeconds", cara_health, interval_s, 1, CARA_HEALTH_SECONDS_MAX),
    U32("timeoutSeconds", cara_health, timeout_s, 1, CARA_HEALTH_SECONDS_MAX),
    U32("startPeriodSeconds", cara_health, start_period_s, 0, CARA_HEALTH_SECONDS_MAX),
    U32("retries", cara_health, retries, 1, CARA_HEALTH_RETRIES_MAX),
};
static const shape health_shape = SHAPE(health_fields, sizeof(cara_health), health_init);

static const field resources_fields[] = {
    {.name = "cpu", .kind = F_CPU, .off = offsetof(cara_resources, cpu_millis)},
    {.name = "memory", .kind = F_MEMORY, .off = offsetof(cara_resources, memory_bytes)},
};
static const shape resources_shape = SHAPE(resources_fields, sizeof(cara_resources), NULL);

static const field service_fields[] = {
    STR("name", cara_service, name, true),
    STR("image", cara_service, image, true),
    STRV("command", cara_service, command, command_count, CARA_ARGS_COUNT_MAX),
    STRV("args", cara_service, args, args_count, CARA_ARGS_COUNT_MAX),
    LIST("env", cara_service, env, env_count, CARA_ENV_COUNT_MAX, env_shape, false),
    LIST("volumeMounts", cara_service, mounts, mounts_count, CARA_MOUNTS_COUNT_MAX, mount_shape,
         false),
    LIST("ports", cara_service, ports, ports_count, CARA_PORTS_COUNT_MAX, port_shape, false),
    ENUM("restartPolicy", cara_service, restart, restart_names),
    OBJ("healthCheck", offsetof(cara_service, health), health_shape, false),
    OBJ("resources", offsetof(cara_service, resources), resources_shape, false),
};
static const shape service_shape = SHAPE(service_fields, sizeof(cara_service), NULL);

static const field volume_fields[] = {
    STR("name", cara_volume, name, true),
    {.name = "type", .kind = F_CUSTOM, .custom = bind_volume_type},
};
static const shape volume_shape = SHAPE(volume_fields, sizeof(cara_volume), NULL);

static const field target_fields[] = {
    STR("service", cara_ingress, target_service, true),
    {.name = "port", .kind = F_U16, .required = true, .off = offsetof(cara_ingress, target_port),
     .min = 1, .max = 65535},
};
static const shape target_shape = SHAPE(target_fields, sizeof(cara_ingress), NULL);

static const field access_fields[] = {
    {.name = "scope", .kind = F_CUSTOM, .custom = bind_scope},
};
static const shape access_shape = SHAPE(access_fields, sizeof(cara_ingress), NULL);

static const field ingress_fields[] = {
    STR("name", cara_ingress, name, true),
    STR("host", cara_ingress, host, true),
    OBJ("target", 0, target_shape, true),
    OBJ("access", 0, access_shape, false),
};
static const shape ingress_shape = SHAPE(ingress_fields, sizeof(cara_ingress), NULL);

static const field spec_fields[] = {
    {.name = "services", .kind = F_LIST, .required = true, .off = offsetof(cara_project, services),
     .off_count = offsetof(cara_project, services_count), .count_max = CARA_SERVICES_COUNT_MAX,
     .count_min = 1, .shape = &service_shape},
    LIST("volumes", cara_project, volumes, volumes_count, CARA_VOLUMES_COUNT_MAX, volume_shape,
         false),
    LIST("ingress", cara_project, ingress, ingress_count, CARA_INGRESS_COUNT_MAX, ingress_shape,
         false),
    KVMAP("nodeSelector", cara_project, node_selector, node_selector_count,
          CARA_NODE_SELECTOR_COUNT_MAX),
    {.name = "expireAt", .kind = F_TIME, .off = offsetof(cara_project, expire_at_wall_ms),
     .off_count = offsetof(cara_project, has_expire_at)},
};
static const shape spec_shape = SHAPE(spec_fields, sizeof(cara_project), NULL);

static const field metadata_fields[] = {
    STR("name", cara_project, name, true),
    KVMAP("labels", cara_project, labels, labels_count, CARA_LABELS_COUNT_MAX),
};
static const shape metadata_shape = SHAPE(metadata_fields, sizeof(cara_project), NULL);

/* `status` is accepted and ignored so that `caravanctl get -o yaml` output
 * can be applied again; a status is only ever written by the cluster. */
static const field project_fields[] = {
    {.name = "apiVersion", .kind = F_CUSTOM, .required = true, .custom = bind_api_version},
    {.name = "kind", .kind = F_CUSTOM, .required = true, .custom = bind_kind},
    OBJ("metadata", 0, metadata_shape, true),
    OBJ("spec", 0, spec_shape, true),
    {.name = "status", .kind = F_IGNORE},
};
static const shape project_shape = SHAPE(project_fields, sizeof(cara_project), NULL);

/* ---- Status and node ------------------------------------------------------------ */

static const char *const cond_status_names[] = {"True", "False", "Unknown"};
static const char *const phase_names[] = {"Pending",     "Scheduled",   "Running",
                                          "Failed",      "Terminating", "Terminated"};
static const char *const node_state_names[] = {"Ready", "NotReady", "Draining"};

static const field condition_fields[] = {
    STR("type", cara_condition, type, true),
    {.name = "status", .kind = F_ENUM, .required = true, .off = offsetof(cara_condition, status),
     .names = cond_status_names, .names_count = 3},
    STR("reason", cara_condition, reason, true),
    STR("message", cara_condition, message, false),
    {.name = "lastTransitionTime", .kind = F_TIME, .required = true,
     .off = offsetof(cara_condition, last_transition_wall_ms), .off_count = NO_OFF},
};
static const shape condition_shape = SHAPE(condition_fields, sizeof(cara_condition), NULL);

static const char *const svc_state_names[] = {"Waiting",   "Pulling", "Creating",
                                              "Starting",  "Running", "Completed",
                                              "Exited",    "Failed",  "Removing"};

/* A service's message is optional text; "" says nothing, so it is bound as
 * absent, which leaves one spelling (no key) for "no message". */
static void bind_svc_message(bctx *b, const doc_node *v, const char *path, void *obj)
{
    cara_service_status *st = obj;
    char *m = bind_strdup(b, v, path);
    if (m != NULL && m[0] == '\0') {
        cara_env_free(b->env, m);
        m = NULL;
    }
    st->message = m;
}

/* `restarts` is optional on input (0), like every default, and always
 * written on output. */
static const field service_status_fields[] = {
    STR("name", cara_service_status, name, true),
    {.name = "state", .kind = F_ENUM, .required = true,
     .off = offsetof(cara_service_status, state), .names = svc_state_names,
     .names_count = sizeof svc_state_names / sizeof *svc_state_names},
    {.name = "message", .kind = F_CUSTOM, .custom = bind_svc_message},
    U32("restarts", cara_service_status, restarts, 0, CARA_SVC_RESTARTS_MAX),
};
static const shape service_status_shape =
    SHAPE(service_status_fields, sizeof(cara_service_status), NULL);

static const field status_fields[] = {
    {.name = "phase", .kind = F_ENUM, .required = true, .off = offsetof(cara_project_status, phase),
     .names = phase_names, .names_count = 6},
    STR("nodeRef", cara_project_status, node_ref, false),
    LIST("conditions", cara_project_status, conditions, conditions_count,
         CARA_CONDITIONS_COUNT_MAX, condition_shape, false),
    LIST("services", cara_project_status, services, services_count, CARA_SERVICES_COUNT_MAX,
         service_status_shape, false),
};
static const shape status_shape = SHAPE(status_fields, sizeof(cara_project_status), NULL);

static const field node_fields[] = {
    STR("name", cara_node, name, true),
    STRV("addresses", cara_node, addrs, addrs_count, CARA_NODE_ADDRS_COUNT_MAX),
    STR("magicDNS", cara_node, magic_dns, false),
    STR("gossipAddress", cara_node, gossip_addr, false),
    STR("agentVersion", cara_node, agent_version, false),
    STR("apiAddress", cara_node, api_addr, false),
    KVMAP("labels", cara_node, labels, labels_count, CARA_LABELS_COUNT_MAX),
    OBJ("capacity", offsetof(cara_node, capacity), resources_shape, false),
    ENUM("state", cara_node, state, node_state_names),
    LIST("conditions", cara_node, conditions, conditions_count, CARA_CONDITIONS_COUNT_MAX,
         condition_shape, false),
    {.name = "unschedulable", .kind = F_BOOL, .off = offsetof(cara_node, unschedulable)},
};
static const shape node_shape = SHAPE(node_fields, sizeof(cara_node), NULL);

/* ---- Cluster settings -------------------------------------------------------------
 * The timer ranges of limits.h and the rules that tie timers together are
 * validation's (validate_settings.c). Both the document and `timers` fill
 * the defaults first, so a missing `timers` and a partial one both end up
 * with all five values set. */

static void timers_init(void *obj) { cara_settings_timers_default(obj); }
static void settings_init(void *obj)
{
    cara_settings_timers_default(&((cara_settings *)obj)->timers);
}

/* Any uint32_t is bound; validation checks the ranges (see validate_settings.c). */
#define TIMER_U32(n, member) U32(n, cara_settings_timers, member, 0, UINT32_MAX)
static const field timers_fields[] = {
    TIMER_U32("fenceTimeoutSeconds", fence_timeout_s),
    TIMER_U32("rescheduleGraceSeconds", reschedule_grace_s),
    TIMER_U32("terminatingTimeoutSeconds", terminating_timeout_s),
    TIMER_U32("tombstoneHorizonSeconds", tombstone_horizon_s),
    TIMER_U32("clockSkewSeconds", clock_skew_s),
};
static const shape timers_shape = SHAPE(timers_fields, sizeof(cara_settings_timers), timers_init);

static const field settings_fields[] = {
    {.name = "apiVersion", .kind = F_CUSTOM, .required = true, .custom = bind_api_version},
    {.name = "kind", .kind = F_CUSTOM, .required = true, .custom = bind_settings_kind},
    STR("environment", cara_settings, environment, true),
    STR("baseDomain", cara_settings, base_domain, true),
    OBJ("timers", offsetof(cara_settings, timers), timers_shape, false),
};
static const shape settings_shape = SHAPE(settings_fields, sizeof(cara_settings), settings_init);

_Static_assert(sizeof phase_names / sizeof *phase_names == CARA_PHASE_TERMINATED + 1,
               "every phase has a name");
_Static_assert(sizeof svc_state_names / sizeof *svc_state_names == CARA_SVC_REMOVING + 1,
               "every service state has a name");

/* ---- The binders ------------------------------------------------------------------ */

/* Fills defaults the tables cannot express: an env entry without a value
 * holds "". Returns false when out of memory. */
static bool fill_env_defaults(cara_env *env, cara_project *p)
{
    for (size_t s = 0; s < p->services_count; s++) {
        cara_service *svc = &p->services[s];
        for (size_t i = 0; i < svc->env_count; i++) {
            if (svc->env[i].value == NULL) {
                svc->env[i].value = cara_env_strndup(env, "", 0);
                if (svc->env[i].value == NULL)
                    return false;
            }
        }
    }
    return true;
}

/* Binds with `s`, then validates even a half-bound object so that one run
 * reports every problem; what validation repeats of the binder is dropped. */
static int bind_any(cara_env *env, const doc_node *root, const char *path, cara_diags *d,
                    const shape *s, void *obj, int (*validate)(const void *, cara_diags *))
{
    size_t first = d->count;
    bctx b = {.env = env, .d = d};
    cara_diags_note_pos(d, path, root->line, root->col);
    bind_shape(&b, root, path, s, obj);
    if (b.oom)
        return CARA_ENOMEM;
    if (root->kind != DOC_MAP)
        return CARA_ESCHEMA;
    size_t after_bind = d->count;
    int rc = validate(obj, d);
    diags_dedup(d, first, after_bind);
    diags_sort(d, first);
    return b.failed || rc != 0 || d->count > first ? CARA_ESCHEMA : 0;
}

static int validate_project(const void *p, cara_diags *d) { return cara_project_validate(p, d); }
static int validate_status(const void *s, cara_diags *d)
{
    return cara_project_status_validate(s, d);
}
static int validate_node(const void *n, cara_diags *d) { return cara_node_validate(n, d); }
static int validate_settings(const void *s, cara_diags *d)
{
    return cara_settings_validate(s, d);
}

int bind_project(cara_env *env, const doc_node *root, cara_diags *d, cara_project **out)
{
    CARA_ASSERT(env != NULL && root != NULL && d != NULL && out != NULL);
    *out = NULL;
    cara_project *p = cara_env_calloc(env, 1, sizeof *p);
    if (p == NULL)
        return CARA_ENOMEM;
    int rc = bind_any(env, root, "", d, &project_shape, p, validate_project);
    if (rc == 0 && !fill_env_defaults(env, p))
        rc = CARA_ENOMEM;
    if (rc != 0) {
        cara_project_free(env, p);
        return rc;
    }
    *out = p;
    return 0;
}

int bind_project_status(cara_env *env, const doc_node *root, const char *path, cara_diags *d,
                        cara_project_status **out)
{
    CARA_ASSERT(env != NULL && root != NULL && path != NULL && d != NULL && out != NULL);
    *out = NULL;
    cara_project_status *s = cara_env_calloc(env, 1, sizeof *s);
    if (s == NULL)
        return CARA_ENOMEM;
    int rc = bind_any(env, root, path, d, &status_shape, s, validate_status);
    if (rc != 0) {
        cara_project_status_free(env, s);
        return rc;
    }
    *out = s;
    return 0;
}

int bind_node(cara_env *env, const doc_node *root, const char *path, cara_diags *d,
              cara_node **out)
{
    CARA_ASSERT(env != NULL && root != NULL && path != NULL && d != NULL && out != NULL);
    *out = NULL;
    cara_node *n = cara_env_calloc(env, 1, sizeof *n);
    if (n == NULL)
        return CARA_ENOMEM;
    int rc = bind_any(env, root, path, d, &node_shape, n, validate_node);
    if (rc != 0) {
        cara_node_free(env, n);
        return rc;
    }
    *out = n;
    return 0;
}

int bind_settings(cara_env *env, const doc_node *root, cara_diags *d, cara_settings **out)
{
    CARA_ASSERT(env != NULL && root != NULL && d != NULL && out != NULL);
    *out = NULL;
    cara_settings *s = cara_env_calloc(env, 1, sizeof *s);
    if (s == NULL)
        return CARA_ENOMEM;
    int rc = bind_any(env, root, "", d, &settings_shape, s, validate_settings);
    if (rc != 0) {
        cara_settings_free(env, s);
        return rc;
    }
    *out = s;
    return 0;
}
