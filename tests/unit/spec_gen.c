/* Seeded generators of valid model objects (see spec_gen.h). */
#include "spec_gen.h"

#include <stdio.h>
#include <string.h>

char *gen_strdup(cara_env *env, const char *s)
{
    char *p = cara_env_strndup(env, s, strlen(s));
    CARA_ASSERT(p != NULL);
    return p;
}

static void *gen_calloc(cara_env *env, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = cara_env_calloc(env, n, size);
    CARA_ASSERT(p != NULL);
    return p;
}

static uint64_t below(cara_rng *rng, uint64_t n) { return cara_rng_below(rng, n); }

/* A DNS label that starts with a letter, unique in its list by a numeric
 * suffix. */
static char *gen_label(cara_env *env, cara_rng *rng, size_t index)
{
    static const char *const stems[] = {"db", "app", "web", "cache", "worker", "a", "x-y",
                                        "data", "api", "queue-1"};
    char buf[CARA_NAME_BYTES_MAX + 1];
    snprintf(buf, sizeof buf, "%s%zu", stems[below(rng, 10)], index);
    return gen_strdup(env, buf);
}

/* Free text that stresses YAML quoting and the UTF-8 paths. */
static char *gen_text(cara_env *env, cara_rng *rng)
{
    static const char *const texts[] = {
        "secret", "true", "false", "yes", "No", "~", "null", "3306", "0x1F", "1e3",
        "-1", "+2", ".5", "12:30", "2026-01-01", "a: b", "#not a comment", "- dash",
        "x # y", "'quoted'", "\"dq\"", "multi\nline\n", "trailing space ", " leading",
        "tab\there", "caf\xc3\xa9 \xe2\x98\x95", "[flow]", "{map}", "&anchor", "*alias",
        "!tag", "%pct", "@at", "`tick`", "|", ">", "?", "...", "---", "<<", "=",
        "back\\slash", "no-newline-end\nx", "\n", "ctrl\x01", "",
    };
    return gen_strdup(env, texts[below(rng, sizeof texts / sizeof *texts)]);
}

static char **gen_strv(cara_env *env, cara_rng *rng, size_t n)
{
    char **v = gen_calloc(env, n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = gen_text(env, rng);
    return v;
}

/* Label-style key/value pairs with unique keys. */
static cara_kv *gen_labels(cara_env *env, cara_rng *rng, size_t n)
{
    cara_kv *kv = gen_calloc(env, n, sizeof *kv);
    for (size_t i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, below(rng, 2) ? "example.com/k%zu" : "k%zu", i);
        kv[i].name = gen_strdup(env, key);
        static const char *const values[] = {"v", "prod", "eu-west-1", "A.b_c-9", "x1"};
        kv[i].value = gen_strdup(env, values[below(rng, 5)]);
    }
    return kv;
}

static uint64_t gen_cpu(cara_rng *rng)
{
    switch (below(rng, 4)) {
    case 0: return 0;
    case 1: return 1000 * (1 + below(rng, 64));
    default: return 1 + below(rng, 64000);
    }
}

static uint64_t gen_memory(cara_rng *rng)
{
    switch (below(rng, 4)) {
    case 0: return 0;
    case 1: return (1 + below(rng, 1024)) << (10 * (1 + below(rng, 3)));
    case 2: return 1 + below(rng, 1u << 30);
    default: return (uint64_t)(1 + below(rng, 8)) << 40;
    }
}

static void gen_health(cara_env *env, cara_rng *rng, cara_health *h)
{
    h->command_count = 1 + below(rng, 3);
    h->command = gen_strv(env, rng, h->command_count);
    h->interval_s = 1 + (uint32_t)below(rng, 3600);
    h->timeout_s = 1 + (uint32_t)below(rng, h->interval_s);
    h->start_period_s = (uint32_t)below(rng, 600);
    h->retries = 1 + (uint32_t)below(rng, 10);
}

static void gen_service(cara_env *env, cara_rng *rng, int size, size_t index,
                        const cara_project *p, cara_service *s)
{
    static const char *const images[] = {"mysql:8", "wordpress:6", "nginx",
                                         "ghcr.io/acme/app:1.2.3", "redis:7-alpine"};
    s->name = gen_label(env, rng, index);
    s->image = gen_strdup(env, images[below(rng, 5)]);
    s->command_count = size > 0 ? below(rng, 3) : 0;
    s->command = gen_strv(env, rng, s->command_count);
    s->args_count = size > 0 ? below(rng, 4) : 0;
    s->args = gen_strv(env, rng, s->args_count);
    s->env_count = size > 0 ? below(rng, (uint64_t)size * 2) : 0;
    s->env = gen_calloc(env, s->env_count, sizeof *s->env);
    for (size_t i = 0; i < s->env_count; i++) {
        char name[32];
        snprintf(name, sizeof name, "VAR_%zu", i);
        s->env[i].name = gen_strdup(env, name);
        s->env[i].value = gen_text(env, rng);
    }
    s->mounts_count = p->volumes_count > 0 ? below(rng, p->volumes_count + 1) : 0;
    s->mounts = gen_calloc(env, s->mounts_count, sizeof *s->mounts);
    for (size_t i = 0; i < s->mounts_count; i++) {
        char path[64];
        snprintf(path, sizeof path, "/mnt/m%zu", i);
        s->mounts[i].name = gen_strdup(env, p->volumes[below(rng, p->volumes_count)].name);
        s->mounts[i].mount_path = gen_strdup(env, path);
        s->mounts[i].read_only = below(rng, 2);
    }
    s->ports_count = 1 + below(rng, 3); /* ingress may target any service */
    s->ports = gen_calloc(env, s->ports_count, sizeof *s->ports);
    for (size_t i = 0; i < s->ports_count; i++) {
        s->ports[i].container_port = (uint16_t)(1 + i * 1000 + below(rng, 999));
        s->ports[i].protocol = below(rng, 4) == 0 ? CARA_PROTO_UDP : CARA_PROTO_TCP;
        if (below(rng, 2))
            s->ports[i].name = gen_label(env, rng, i);
    }
    s->restart = (cara_restart)below(rng, 3);
    if (size > 0 && below(rng, 2))
        gen_health(env, rng, &s->health);
    s->resources.cpu_millis = gen_cpu(rng);
    s->resources.memory_bytes = gen_memory(rng);
}

static void gen_ingress(cara_env *env, cara_rng *rng, size_t index, const cara_project *p,
                        cara_ingress *g)
{
    const cara_service *s = &p->services[below(rng, p->services_count)];
    g->name = gen_label(env, rng, index);
    char host[64];
    snprintf(host, sizeof host, below(rng, 2) ? "blog%zu" : "www%zu.example.com", index);
    g->host = gen_strdup(env, host);
    g->target_service = gen_strdup(env, s->name);
    g->target_port = s->ports[below(rng, s->ports_count)].container_port;
    g->scope = CARA_SCOPE_INTERNAL;
}

cara_project *gen_project(cara_env *env, cara_rng *rng, int size)
{
    cara_project *p = gen_calloc(env, 1, sizeof *p);
    uint64_t n = (uint64_t)size + 1;
    p->name = gen_label(env, rng, below(rng, 100));
    p->labels_count = below(rng, n);
    p->labels = gen_labels(env, rng, p->labels_count);
    p->volumes_count = below(rng, n);
    p->volumes = gen_calloc(env, p->volumes_count, sizeof *p->volumes);
    for (size_t i = 0; i < p->volumes_count; i++)
        p->volumes[i].name = gen_label(env, rng, i);
    p->services_count = 1 + below(rng, n);
    p->services = gen_calloc(env, p->services_count, sizeof *p->services);
    for (size_t i = 0; i < p->services_count; i++)
        gen_service(env, rng, size, i, p, &p->services[i]);
    p->ingress_count = below(rng, n);
    p->ingress = gen_calloc(env, p->ingress_count, sizeof *p->ingress);
    for (size_t i = 0; i < p->ingress_count; i++)
        gen_ingress(env, rng, i, p, &p->ingress[i]);
    p->node_selector_count = below(rng, n);
    p->node_selector = gen_labels(env, rng, p->node_selector_count);
    p->has_expire_at = below(rng, 2);
    if (p->has_expire_at) /* 2001..2100, sometimes with milliseconds */
        p->expire_at_wall_ms = 978307200000LL + (int64_t)below(rng, 3155760000ULL) * 1000 +
                          (below(rng, 2) ? (int64_t)below(rng, 1000) : 0);
    return p;
}

static cara_condition *gen_conditions(cara_env *env, cara_rng *rng, size_t n,
                                      const char *const *types, size_t types_count)
{
    static const char *const reasons[] = {"Scheduled", "ContainerStarted", "NodeLost",
                                          "KubeletReady", "OutOfMemory"};
    cara_condition *c = gen_calloc(env, n, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        c[i].type = gen_strdup(env, types[i % types_count]);
        c[i].status = (cara_cond_status)below(rng, 3);
        c[i].reason = gen_strdup(env, reasons[below(rng, 5)]);
        c[i].message = below(rng, 3) == 0 ? gen_strdup(env, "") : gen_text(env, rng);
        c[i].last_transition_wall_ms = 1600000000000LL + (int64_t)below(rng, 1ULL << 40);
    }
    return c;
}

/* Restart counts across every integer width the encoder picks (fixint,
 * uint8, uint16, uint32), the cap included. */
static uint32_t gen_restarts(cara_rng *rng)
{
    switch (below(rng, 5)) {
    case 0:
    case 1: return 0;
    case 2: return (uint32_t)below(rng, 300);
    case 3: return (uint32_t)below(rng, 70000);
    default: return below(rng, 4) == 0 ? CARA_SVC_RESTARTS_MAX
                                       : (uint32_t)below(rng, CARA_SVC_RESTARTS_MAX + 1);
    }
}

/* Messages are absent, "" (which means absent too), or free text. */
static cara_service_status *gen_service_statuses(cara_env *env, cara_rng *rng, size_t n)
{
    cara_service_status *st = gen_calloc(env, n, sizeof *st);
    for (size_t i = 0; i < n; i++) {
        st[i].name = gen_label(env, rng, i);
        st[i].state = (cara_svc_state)below(rng, CARA_SVC_REMOVING + 1);
        switch (below(rng, 4)) {
        case 0: break;
        case 1: st[i].message = gen_strdup(env, ""); break;
        default: st[i].message = gen_text(env, rng); break;
        }
        st[i].restarts = gen_restarts(rng);
    }
    return st;
}

cara_project_status *gen_project_status(cara_env *env, cara_rng *rng, int size)
{
    static const char *const types[] = {"Phase", "NotReadyAt", "TerminatingAt"};
    cara_project_status *s = gen_calloc(env, 1, sizeof *s);
    s->phase = (cara_phase)below(rng, 6);
    if (below(rng, 3) != 0)
        s->node_ref = gen_label(env, rng, below(rng, 10));
    s->conditions_count = below(rng, (uint64_t)size + 1);
    if (s->conditions_count > 3)
        s->conditions_count = 3;
    s->conditions = gen_conditions(env, rng, s->conditions_count, types, 3);
    s->services_count = below(rng, (uint64_t)size * 2 + 1);
    s->services = gen_service_statuses(env, rng, s->services_count);
    return s;
}

cara_node *gen_node(cara_env *env, cara_rng *rng, int size)
{
    static const char *const types[] = {"Ready", "MemoryPressure", "DiskPressure"};
    cara_node *n = gen_calloc(env, 1, sizeof *n);
    n->name = gen_label(env, rng, below(rng, 100));
    n->addrs_count = below(rng, (uint64_t)size + 1);
    if (n->addrs_count > CARA_NODE_ADDRS_COUNT_MAX)
        n->addrs_count = CARA_NODE_ADDRS_COUNT_MAX;
    n->addrs = gen_calloc(env, n->addrs_count, sizeof *n->addrs);
    for (size_t i = 0; i < n->addrs_count; i++) {
        char a[CARA_ADDR_BYTES_MAX];
        if (below(rng, 2))
            snprintf(a, sizeof a, "100.%u.%u.%zu", (unsigned)below(rng, 128) + 64,
                     (unsigned)below(rng, 256), i + 1);
        else
            snprintf(a, sizeof a, "fd7a:115c:a1e0::%zx", i + 1);
        n->addrs[i] = gen_strdup(env, a);
    }
    if (below(rng, 2)) {
        char dns[128];
        snprintf(dns, sizeof dns, "%s.tail1234.ts.net", n->name);
        n->magic_dns = gen_strdup(env, dns);
    }
    n->labels_count = below(rng, (uint64_t)size + 1);
    n->labels = gen_labels(env, rng, n->labels_count);
    n->capacity.cpu_millis = gen_cpu(rng);
    n->capacity.memory_bytes = gen_memory(rng);
    n->state = (cara_node_state)below(rng, 3);
    n->conditions_count = below(rng, 4);
    n->conditions = gen_conditions(env, rng, n->conditions_count, types, 3);
    n->unschedulable = below(rng, 2);
    /* Drawn last, so that the fields above come out as they did before
     * these two existed. */
    switch (below(rng, 4)) {
    case 0: break;
    case 1: n->gossip_addr = gen_strdup(env, "100.64.0.7:7946"); break;
    case 2: n->gossip_addr = gen_strdup(env, "[fd7a:115c:a1e0::7]:7946"); break;
    default: {
        char a[CARA_NODE_GOSSIP_ADDR_BYTES_MAX + 1];
        snprintf(a, sizeof a, "%s.tail1234.ts.net:%u", n->name, 1 + (unsigned)below(rng, 65535));
        n->gossip_addr = gen_strdup(env, a);
        break;
    }
    }
    if (below(rng, 2))
        n->agent_version = gen_strdup(env, below(rng, 2) ? "0.1.0" : "0.2.0-12-gabcdef1+dirty");
    /* After those, for the same reason. */
    if (below(rng, 2))
        n->api_addr = gen_strdup(env, below(rng, 2) ? "100.64.0.7:7951" : "[fd7a:115c:a1e0::7]:7951");
    return n;
}

static cara_kv kv(cara_env *env, const char *name, const char *value)
{
    return (cara_kv){gen_strdup(env, name), gen_strdup(env, value)};
}

cara_project *gen_wordpress(cara_env *env)
{
    cara_project *p = gen_calloc(env, 1, sizeof *p);
    p->name = gen_strdup(env, "wordpress");
    p->services_count = 2;
    p->services = gen_calloc(env, 2, sizeof *p->services);
    cara_service *db = &p->services[0], *app = &p->services[1];
    db->name = gen_strdup(env, "db");
    db->image = gen_strdup(env, "mysql:8");
    db->env_count = 1;
    db->env = gen_calloc(env, 1, sizeof *db->env);
    db->env[0] = kv(env, "MYSQL_ROOT_PASSWORD", "secret");
    db->mounts_count = 1;
    db->mounts = gen_calloc(env, 1, sizeof *db->mounts);
    db->mounts[0] = (cara_volume_mount){gen_strdup(env, "data"),
                                        gen_strdup(env, "/var/lib/mysql"), false};
    app->name = gen_strdup(env, "app");
    app->image = gen_strdup(env, "wordpress:6");
    app->env_count = 1;
    app->env = gen_calloc(env, 1, sizeof *app->env);
    app->env[0] = kv(env, "WORDPRESS_DB_HOST", "db");
    p->volumes_count = 1;
    p->volumes = gen_calloc(env, 1, sizeof *p->volumes);
    p->volumes[0].name = gen_strdup(env, "data");
    p->ingress_count = 1;
    p->ingress = gen_calloc(env, 1, sizeof *p->ingress);
    p->ingress[0] = (cara_ingress){gen_strdup(env, "web"), gen_strdup(env, "blog"),
                                   gen_strdup(env, "app"), 80, CARA_SCOPE_INTERNAL};
    p->has_expire_at = true;
    p->expire_at_wall_ms = 1796083200000LL; /* 2026-12-01T00:00:00Z */
    return p;
}

/* ---- Cluster settings ---------------------------------------------------------------- */

static uint32_t in_range(cara_rng *rng, uint32_t lo, uint32_t hi)
{
    CARA_ASSERT(lo <= hi);
    switch (below(rng, 4)) {
    case 0: return lo;
    case 1: return hi;
    default: return lo + (uint32_t)below(rng, (uint64_t)hi - lo + 1);
    }
}

/* A label of exactly `len` bytes (1..63) from [a-z0-9-], not starting or
 * ending with '-'. */
static void gen_label_bytes(cara_rng *rng, char *out, size_t len)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    for (size_t i = 0; i < len; i++) {
        bool edge = i == 0 || i + 1 == len;
        out[i] = chars[below(rng, edge ? 36 : 37)];
    }
    out[len] = '\0';
}

cara_settings *gen_settings(cara_env *env, cara_rng *rng)
{
    enum { NAMES_BYTES_MAX = CARA_HOSTNAME_BYTES_MAX - CARA_NAME_BYTES_MAX - 2 };
    cara_settings *s = gen_calloc(env, 1, sizeof *s);
    char env_name[CARA_NAME_BYTES_MAX + 1];
    size_t env_len = 1 + below(rng, below(rng, 4) == 0 ? CARA_NAME_BYTES_MAX : 8);
    gen_label_bytes(rng, env_name, env_len);
    s->environment = gen_strdup(env, env_name);
    /* Labels joined by dots, within what the host rule leaves. */
    char base[CARA_HOSTNAME_BYTES_MAX + 1];
    size_t room = NAMES_BYTES_MAX - env_len, used = 0;
    size_t labels = 1 + below(rng, 4);
    for (size_t i = 0; i < labels && used + (i > 0) < room; i++) {
        size_t left = room - used - (i > 0);
        size_t len = 1 + below(rng, below(rng, 3) == 0 ? CARA_NAME_BYTES_MAX : 10);
        if (len > left)
            len = left;
        if (i > 0)
            base[used++] = '.';
        gen_label_bytes(rng, base + used, len);
        used += len;
    }
    s->base_domain = gen_strdup(env, base);
    cara_settings_timers *t = &s->timers;
    t->clock_skew_s = in_range(rng, CARA_SETTINGS_SKEW_SECONDS_MIN, CARA_SETTINGS_SKEW_SECONDS_MAX);
    t->fence_timeout_s =
        in_range(rng, CARA_SETTINGS_FENCE_SECONDS_MIN, CARA_SETTINGS_FENCE_SECONDS_MAX);
    uint32_t grace_min = t->fence_timeout_s + t->clock_skew_s + 1;
    if (grace_min < CARA_SETTINGS_GRACE_SECONDS_MIN)
        grace_min = CARA_SETTINGS_GRACE_SECONDS_MIN;
    t->reschedule_grace_s = in_range(rng, grace_min, CARA_SETTINGS_GRACE_SECONDS_MAX);
    t->terminating_timeout_s = in_range(rng, CARA_SETTINGS_TERMINATING_SECONDS_MIN,
                                        CARA_SETTINGS_TERMINATING_SECONDS_MAX);
    t->tombstone_horizon_s =
        in_range(rng, CARA_SETTINGS_HORIZON_SECONDS_MIN, CARA_SETTINGS_HORIZON_SECONDS_MAX);
    return s;
}
