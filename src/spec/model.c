/* Model objects: names of enum values, defaults, freeing and deep equality. */
#include <string.h>

#include "spec/spec.h"

const char *cara_restart_name(cara_restart r)
{
    switch (r) {
    case CARA_RESTART_ALWAYS: return "Always";
    case CARA_RESTART_ON_FAILURE: return "OnFailure";
    case CARA_RESTART_NEVER: return "Never";
    }
    CARA_UNREACHABLE();
}

static const char *const phase_names[] = {
    [CARA_PHASE_PENDING] = "Pending",         [CARA_PHASE_SCHEDULED] = "Scheduled",
    [CARA_PHASE_RUNNING] = "Running",         [CARA_PHASE_FAILED] = "Failed",
    [CARA_PHASE_TERMINATING] = "Terminating", [CARA_PHASE_TERMINATED] = "Terminated",
};

const char *cara_phase_name(cara_phase p)
{
    CARA_ASSERT((size_t)p < sizeof phase_names / sizeof *phase_names);
    return phase_names[p];
}

int cara_phase_parse(const char *s, cara_phase *out)
{
    for (size_t i = 0; i < sizeof phase_names / sizeof *phase_names; i++) {
        if (strcmp(s, phase_names[i]) == 0) {
            *out = (cara_phase)i;
            return 0;
        }
    }
    return CARA_EPARSE;
}

const char *cara_cond_status_name(cara_cond_status s)
{
    switch (s) {
    case CARA_COND_TRUE: return "True";
    case CARA_COND_FALSE: return "False";
    case CARA_COND_UNKNOWN: return "Unknown";
    }
    CARA_UNREACHABLE();
}

const char *cara_node_state_name(cara_node_state s)
{
    switch (s) {
    case CARA_NODE_READY: return "Ready";
    case CARA_NODE_NOT_READY: return "NotReady";
    case CARA_NODE_DRAINING: return "Draining";
    }
    CARA_UNREACHABLE();
}

static const char *const svc_state_names[] = {
    [CARA_SVC_WAITING] = "Waiting",     [CARA_SVC_PULLING] = "Pulling",
    [CARA_SVC_CREATING] = "Creating",   [CARA_SVC_STARTING] = "Starting",
    [CARA_SVC_RUNNING] = "Running",     [CARA_SVC_COMPLETED] = "Completed",
    [CARA_SVC_EXITED] = "Exited",       [CARA_SVC_FAILED] = "Failed",
    [CARA_SVC_REMOVING] = "Removing",
};
_Static_assert(sizeof svc_state_names / sizeof *svc_state_names == CARA_SVC_REMOVING + 1,
               "every service state has a name");

const char *cara_svc_state_name(cara_svc_state s)
{
    CARA_ASSERT((size_t)s < sizeof svc_state_names / sizeof *svc_state_names);
    return svc_state_names[s];
}

int cara_svc_state_parse(const char *s, cara_svc_state *out)
{
    CARA_ASSERT(s != NULL && out != NULL);
    for (size_t i = 0; i < sizeof svc_state_names / sizeof *svc_state_names; i++) {
        if (strcmp(s, svc_state_names[i]) == 0) {
            *out = (cara_svc_state)i;
            return 0;
        }
    }
    return CARA_EPARSE;
}

/* ---- Freeing ---------------------------------------------------------------- */

static void free_strv(cara_env *env, char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cara_env_free(env, v[i]);
    cara_env_free(env, v);
}

static void free_kvs(cara_env *env, cara_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cara_env_free(env, kv[i].name);
        cara_env_free(env, kv[i].value);
    }
    cara_env_free(env, kv);
}

static void free_conditions(cara_env *env, cara_condition *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cara_env_free(env, c[i].type);
        cara_env_free(env, c[i].reason);
        cara_env_free(env, c[i].message);
    }
    cara_env_free(env, c);
}

static void free_service_statuses(cara_env *env, cara_service_status *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cara_env_free(env, s[i].name);
        cara_env_free(env, s[i].message);
    }
    cara_env_free(env, s);
}

static void free_service(cara_env *env, cara_service *s)
{
    cara_env_free(env, s->name);
    cara_env_free(env, s->image);
    free_strv(env, s->command, s->command_count);
    free_strv(env, s->args, s->args_count);
    free_kvs(env, s->env, s->env_count);
    for (size_t i = 0; i < s->mounts_count; i++) {
        cara_env_free(env, s->mounts[i].name);
        cara_env_free(env, s->mounts[i].mount_path);
    }
    cara_env_free(env, s->mounts);
    for (size_t i = 0; i < s->ports_count; i++)
        cara_env_free(env, s->ports[i].name);
    cara_env_free(env, s->ports);
    free_strv(env, s->health.command, s->health.command_count);
}

void cara_project_free(cara_env *env, cara_project *p)
{
    if (p == NULL)
        return;
    cara_env_free(env, p->name);
    free_kvs(env, p->labels, p->labels_count);
    for (size_t i = 0; i < p->services_count; i++)
        free_service(env, &p->services[i]);
    cara_env_free(env, p->services);
    for (size_t i = 0; i < p->volumes_count; i++)
        cara_env_free(env, p->volumes[i].name);
    cara_env_free(env, p->volumes);
    for (size_t i = 0; i < p->ingress_count; i++) {
        cara_env_free(env, p->ingress[i].name);
        cara_env_free(env, p->ingress[i].host);
        cara_env_free(env, p->ingress[i].target_service);
    }
    cara_env_free(env, p->ingress);
    free_kvs(env, p->node_selector, p->node_selector_count);
    cara_env_free(env, p);
}

void cara_project_status_free(cara_env *env, cara_project_status *s)
{
    if (s == NULL)
        return;
    cara_env_free(env, s->node_ref);
    free_conditions(env, s->conditions, s->conditions_count);
    free_service_statuses(env, s->services, s->services_count);
    cara_env_free(env, s);
}

void cara_node_free(cara_env *env, cara_node *n)
{
    if (n == NULL)
        return;
    cara_env_free(env, n->name);
    free_strv(env, n->addrs, n->addrs_count);
    cara_env_free(env, n->magic_dns);
    cara_env_free(env, n->gossip_addr);
    cara_env_free(env, n->agent_version);
    cara_env_free(env, n->api_addr);
    free_kvs(env, n->labels, n->labels_count);
    free_conditions(env, n->conditions, n->conditions_count);
    cara_env_free(env, n);
}

/* ---- Equality ----------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool strv_eq(char **a, size_t an, char **b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!str_eq(a[i], b[i]))
            return false;
    return true;
}

static bool kvs_eq(const cara_kv *a, size_t an, const cara_kv *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!str_eq(a[i].name, b[i].name) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* Labels and node selectors are mappings: the same pairs in any order are
 * the same mapping (msgpack writes them sorted, so decoding gives another
 * order than a manifest's). Keys are unique in a valid model; counting
 * matches both ways keeps this exact even when they are not. */
static bool kv_map_eq(const cara_kv *a, size_t an, const cara_kv *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++) {
        size_t in_a = 0, in_b = 0;
        for (size_t j = 0; j < an; j++) {
            in_a += str_eq(a[i].name, a[j].name) && str_eq(a[i].value, a[j].value);
            in_b += str_eq(a[i].name, b[j].name) && str_eq(a[i].value, b[j].value);
        }
        if (in_a != in_b)
            return false;
    }
    return true;
}

static bool conditions_eq(const cara_condition *a, size_t an, const cara_condition *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!str_eq(a[i].type, b[i].type) || a[i].status != b[i].status ||
            !str_eq(a[i].reason, b[i].reason) || !str_eq(a[i].message, b[i].message) ||
            a[i].last_transition_wall_ms != b[i].last_transition_wall_ms)
            return false;
    return true;
}

/* The writer leaves out a message that is NULL or "", so the two are one
 * meaning (see cara_project_status_equal). */
static bool message_eq(const char *a, const char *b)
{
    return str_eq(a != NULL && a[0] == '\0' ? NULL : a, b != NULL && b[0] == '\0' ? NULL : b);
}

static bool service_statuses_eq(const cara_service_status *a, size_t an,
                                const cara_service_status *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!str_eq(a[i].name, b[i].name) || a[i].state != b[i].state ||
            !message_eq(a[i].message, b[i].message) || a[i].restarts != b[i].restarts)
            return false;
    return true;
}

static bool service_eq(const cara_service *a, const cara_service *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->image, b->image) ||
        !strv_eq(a->command, a->command_count, b->command, b->command_count) ||
        !strv_eq(a->args, a->args_count, b->args, b->args_count) ||
        !kvs_eq(a->env, a->env_count, b->env, b->env_count) || a->restart != b->restart ||
        a->mounts_count != b->mounts_count || a->ports_count != b->ports_count ||
        a->resources.cpu_millis != b->resources.cpu_millis ||
        a->resources.memory_bytes != b->resources.memory_bytes)
        return false;
    for (size_t i = 0; i < a->mounts_count; i++)
        if (!str_eq(a->mounts[i].name, b->mounts[i].name) ||
            !str_eq(a->mounts[i].mount_path, b->mounts[i].mount_path) ||
            a->mounts[i].read_only != b->mounts[i].read_only)
            return false;
    for (size_t i = 0; i < a->ports_count; i++)
        if (!str_eq(a->ports[i].name, b->ports[i].name) ||
            a->ports[i].container_port != b->ports[i].container_port ||
            a->ports[i].protocol != b->ports[i].protocol)
            return false;
    const cara_health *ha = &a->health, *hb = &b->health;
    return strv_eq(ha->command, ha->command_count, hb->command, hb->command_count) &&
           ha->interval_s == hb->interval_s && ha->timeout_s == hb->timeout_s &&
           ha->start_period_s == hb->start_period_s && ha->retries == hb->retries;
}

bool cara_project_equal(const cara_project *a, const cara_project *b)
{
    if (!str_eq(a->name, b->name) ||
        !kv_map_eq(a->labels, a->labels_count, b->labels, b->labels_count) ||
        a->services_count != b->services_count || a->volumes_count != b->volumes_count ||
        a->ingress_count != b->ingress_count ||
        !kv_map_eq(a->node_selector, a->node_selector_count, b->node_selector,
                   b->node_selector_count) ||
        a->has_expire_at != b->has_expire_at ||
        (a->has_expire_at && a->expire_at_wall_ms != b->expire_at_wall_ms))
        return false;
    for (size_t i = 0; i < a->services_count; i++)
        if (!service_eq(&a->services[i], &b->services[i]))
            return false;
    for (size_t i = 0; i < a->volumes_count; i++)
        if (!str_eq(a->volumes[i].name, b->volumes[i].name) ||
            a->volumes[i].type != b->volumes[i].type)
            return false;
    for (size_t i = 0; i < a->ingress_count; i++) {
        const cara_ingress *x = &a->ingress[i], *y = &b->ingress[i];
        if (!str_eq(x->name, y->name) || !str_eq(x->host, y->host) ||
            !str_eq(x->target_service, y->target_service) || x->target_port != y->target_port ||
            x->scope != y->scope)
            return false;
    }
    return true;
}

bool cara_project_status_equal(const cara_project_status *a, const cara_project_status *b)
{
    return a->phase == b->phase && str_eq(a->node_ref, b->node_ref) &&
           conditions_eq(a->conditions, a->conditions_count, b->conditions, b->conditions_count) &&
           service_statuses_eq(a->services, a->services_count, b->services, b->services_count);
}

bool cara_node_equal(const cara_node *a, const cara_node *b)
{
    return str_eq(a->name, b->name) && strv_eq(a->addrs, a->addrs_count, b->addrs, b->addrs_count) &&
           str_eq(a->magic_dns, b->magic_dns) && str_eq(a->gossip_addr, b->gossip_addr) &&
           str_eq(a->agent_version, b->agent_version) && str_eq(a->api_addr, b->api_addr) &&
           kv_map_eq(a->labels, a->labels_count, b->labels, b->labels_count) &&
           a->capacity.cpu_millis == b->capacity.cpu_millis &&
           a->capacity.memory_bytes == b->capacity.memory_bytes && a->state == b->state &&
           conditions_eq(a->conditions, a->conditions_count, b->conditions, b->conditions_count) &&
           a->unschedulable == b->unschedulable;
}

const cara_condition *cara_node_condition(const cara_node *n, const char *type)
{
    CARA_ASSERT(n != NULL && type != NULL);
    for (size_t i = 0; i < n->conditions_count; i++)
        if (n->conditions[i].type != NULL && strcmp(n->conditions[i].type, type) == 0)
            return &n->conditions[i];
    return NULL;
}

/* ---- Cluster settings ------------------------------------------------------------ */

void cara_settings_timers_default(cara_settings_timers *t)
{
    CARA_ASSERT(t != NULL);
    *t = (cara_settings_timers){
        .fence_timeout_s = CARA_SETTINGS_FENCE_SECONDS_DEFAULT,
        .reschedule_grace_s = CARA_SETTINGS_GRACE_SECONDS_DEFAULT,
        .terminating_timeout_s = CARA_SETTINGS_TERMINATING_SECONDS_DEFAULT,
        .tombstone_horizon_s = CARA_SETTINGS_HORIZON_SECONDS_DEFAULT,
        .clock_skew_s = CARA_SETTINGS_SKEW_SECONDS_DEFAULT,
    };
}

void cara_settings_free(cara_env *env, cara_settings *s)
{
    if (s == NULL)
        return;
    cara_env_free(env, s->environment);
    cara_env_free(env, s->base_domain);
    cara_env_free(env, s);
}

bool cara_settings_equal(const cara_settings *a, const cara_settings *b)
{
    const cara_settings_timers *x = &a->timers, *y = &b->timers;
    return str_eq(a->environment, b->environment) && str_eq(a->base_domain, b->base_domain) &&
           x->fence_timeout_s == y->fence_timeout_s &&
           x->reschedule_grace_s == y->reschedule_grace_s &&
           x->terminating_timeout_s == y->terminating_timeout_s &&
           x->tombstone_horizon_s == y->tombstone_horizon_s && x->clock_skew_s == y->clock_skew_s;
}
