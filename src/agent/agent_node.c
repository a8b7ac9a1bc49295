/*
 * What this node says about itself in its node record (docs/agent.md,
 * "Node health"): its addresses, gossip address, labels, capacity and
 * version, and three conditions only it can observe: MemoryPressure and
 * DiskPressure (its host, read through src/os, judged by the core's
 * cara_sched_pressure) and DockerReachable (whether its engine answers).
 *
 * Every tick the record is rebuilt; when its bytes differ from the last
 * published ones it is published again, at most once per
 * CARA_NODE_REPUBLISH_MS_MIN. Nothing in it changes by itself from one
 * tick to the next (no live numbers, transition times only on a flip), so
 * a quiet node writes nothing.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "agent/agent_int.h"
#include "os/os.h"

void agent_node_init(cara_agent *a)
{
    for (int i = 0; i < AGENT_CONDS; i++) {
        a->self.status[i] = CARA_COND_UNKNOWN;
        a->self.since_wall_ms[i] = a->started_wall_ms;
    }
    a->self.engine = CARA_COND_UNKNOWN;
}

static uint64_t memory_min(const cara_agent *a)
{
    return a->cfg.memory_available_min_bytes ? a->cfg.memory_available_min_bytes
                                             : CARA_NODE_MEMORY_AVAILABLE_MIN_DEFAULT;
}

static uint32_t disk_min_percent(const cara_agent *a)
{
    return a->cfg.disk_available_min_percent ? a->cfg.disk_available_min_percent
                                             : CARA_NODE_DISK_AVAILABLE_PERCENT_MIN_DEFAULT;
}

/* "100Mi", "2Gi": the largest binary suffix that divides exactly, else
 * the byte count. */
static void memory_text(uint64_t bytes, char *out, size_t cap)
{
    static const char *const units[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
    int u = 0;
    while (u < 5 && bytes > 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, cap, "%" PRIu64 "%s", bytes, units[u]);
}

static void set_status(cara_agent *a, int i, cara_cond_status st)
{
    if (a->self.status[i] == st)
        return;
    a->self.status[i] = st;
    a->self.since_wall_ms[i] = cara_env_now_wall_ms(a->env);
}

/* ---- The record -------------------------------------------------------------------- */

typedef struct cond_text {
    char reason[CARA_REASON_BYTES_MAX];
    char message[160];
} cond_text;

/* Reasons and messages hold no live numbers (only the configured
 * thresholds), so the record's bytes change only when a status does. */
static void describe(const cara_agent *a, int i, cond_text *t)
{
    static const char *const reasons[AGENT_CONDS][3] = {
        [AGENT_COND_MEMORY] = {"InsufficientMemory", "SufficientMemory", "MemoryNotRead"},
        [AGENT_COND_DISK] = {"InsufficientDisk", "SufficientDisk", "DiskNotRead"},
        [AGENT_COND_ENGINE] = {"EngineAnswers", "EngineNotAnswering", "EngineNotAskedYet"},
    };
    cara_cond_status st = a->self.status[i];
    snprintf(t->reason, sizeof t->reason, "%s", reasons[i][st]);
    char q[32];
    switch (i) {
    case AGENT_COND_MEMORY:
        memory_text(memory_min(a), q, sizeof q);
        snprintf(t->message, sizeof t->message,
                 st == CARA_COND_UNKNOWN ? "/proc/meminfo could not be read"
                 : st == CARA_COND_TRUE  ? "available memory is below %s"
                                         : "available memory is at least %s",
                 q);
        break;
    case AGENT_COND_DISK:
        snprintf(t->message, sizeof t->message,
                 st == CARA_COND_UNKNOWN ? "the data dir's filesystem could not be read"
                 : st == CARA_COND_TRUE
                     ? "available space on the data dir's filesystem is below %u%%"
                     : "available space on the data dir's filesystem is at least %u%%",
                 (unsigned)disk_min_percent(a));
        break;
    default:
        snprintf(t->message, sizeof t->message, "%s",
                 st == CARA_COND_TRUE    ? "the engine answers its API"
                 : st == CARA_COND_FALSE ? "the engine did not answer its API"
                                         : "the engine has not answered yet");
        break;
    }
}

/* The overlay addresses: the API's listen addresses without their ports. */
static size_t api_hosts(const cara_agent *a, char hosts[][CARA_ADDR_BYTES_MAX + 1],
                        char **addrs)
{
    size_t n = 0;
    for (size_t i = 0; i < a->cfg.api_count && n < CARA_NODE_ADDRS_COUNT_MAX; i++) {
        const char *s = a->cfg.api[i];
        const char *colon = strrchr(s, ':');
        size_t len = colon ? (size_t)(colon - s) : strlen(s);
        if (len > 1 && s[0] == '[')
            snprintf(hosts[n], CARA_ADDR_BYTES_MAX + 1, "%.*s", (int)(len - 2), s + 1);
        else
            snprintf(hosts[n], CARA_ADDR_BYTES_MAX + 1, "%.*s", (int)len, s);
        addrs[n] = hosts[n];
        n++;
    }
    return n;
}

/* apiAddress: the first --api address peers can dial, in canonical text
 * ("100.64.0.1:7951", "[fd7a::1]:7951"), with the port the listener got
 * when it asked for port 0. A wildcard address (0.0.0.0, ::) names no one
 * host, so it is passed over; false when no address is left. */
static bool api_advertise(const cara_agent *a, char *out, size_t out_max)
{
    for (size_t i = 0; i < a->cfg.api_count; i++) {
        const char *s = a->cfg.api[i];
        const char *colon = strrchr(s, ':');
        if (colon == NULL)
            continue;
        bool v6 = s[0] == '[';
        size_t len = (size_t)(colon - s);
        char host[CARA_ADDR_BYTES_MAX + 1];
        if (len < (v6 ? 3u : 1u) || (v6 && s[len - 1] != ']') ||
            len - (v6 ? 2 : 0) > CARA_ADDR_BYTES_MAX)
            continue;
        snprintf(host, sizeof host, "%.*s", (int)(len - (v6 ? 2 : 0)), s + (v6 ? 1 : 0));
        unsigned char bin[16];
        char text[INET6_ADDRSTRLEN];
        static const unsigned char zero[16];
        if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1 ||
            memcmp(bin, zero, v6 ? 16 : 4) == 0 ||
            inet_ntop(v6 ? AF_INET6 : AF_INET, bin, text, sizeof text) == NULL)
            continue;
        unsigned long port = strtoul(colon + 1, NULL, 10);
        if (port == 0 && a->http != NULL)
            port = cara_http_port(a->http, i);
        if (port == 0 || port > 65535)
            continue;
        int n = snprintf(out, out_max, v6 ? "[%s]:%lu" : "%s:%lu", text, port);
        return n > 0 && (size_t)n < out_max;
    }
    return false;
}

int agent_node_value(cara_agent *a, cara_buf *out)
{
    char api_addr[CARA_NODE_GOSSIP_ADDR_BYTES_MAX + 1];
    bool has_api = api_advertise(a, api_addr, sizeof api_addr);
    char *addrs[CARA_NODE_ADDRS_COUNT_MAX];
    char hosts[CARA_NODE_ADDRS_COUNT_MAX][CARA_ADDR_BYTES_MAX + 1];
    size_t n = api_hosts(a, hosts, addrs);
    static const char *const types[AGENT_CONDS] = {CARA_NODE_COND_MEMORY_PRESSURE,
                                                   CARA_NODE_COND_DISK_PRESSURE,
                                                   CARA_NODE_COND_DOCKER_REACHABLE};
    cond_text text[AGENT_CONDS];
    cara_condition conds[AGENT_CONDS];
    for (int i = 0; i < AGENT_CONDS; i++) {
        describe(a, i, &text[i]);
        conds[i] = (cara_condition){.type = (char *)types[i], .status = a->self.status[i],
                                    .reason = text[i].reason, .message = text[i].message,
                                    .last_transition_wall_ms = a->self.since_wall_ms[i]};
    }
    /* No Ready condition and `state` left at Ready (meaning "not
     * draining"): readiness is the readers' (cara_core_node_ready). */
    cara_node node = {.name = (char *)a->cfg.name, .addrs = addrs, .addrs_count = n,
                      .labels = a->cfg.labels, .labels_count = a->cfg.labels_count,
                      .capacity = a->capacity, .state = CARA_NODE_READY,
                      .conditions = conds, .conditions_count = AGENT_CONDS,
                      .gossip_addr = (char *)a->cfg.gossip_advertise,
                      .agent_version = CARA_VERSION,
                      .api_addr = has_api ? api_addr : NULL};
    return cara_node_encode(&node, out);
}

static void value_hash(const cara_buf *v, uint8_t out[32])
{
    crypto_generichash(out, 32, v->data, v->len, NULL, 0);
}

void agent_node_published(cara_agent *a, const cara_buf *value)
{
    value_hash(value, a->self.value_hash);
    a->self.published = true;
    a->self.published_mono_ms = cara_env_now_mono_ms(a->env);
    a->stats.node_publishes++;
}

/* Republishes when the content moved and the bound allows. A change held
 * back is looked at again on the next tick, so it goes out at most
 * CARA_NODE_REPUBLISH_MS_MIN (plus one tick) after the last publish. */
static void republish_if_changed(cara_agent *a)
{
    if (!agent_admitted(a) || a->stopping)
        return;
    uint64_t now = cara_env_now_mono_ms(a->env);
    if (a->self.published && now - a->self.published_mono_ms < CARA_NODE_REPUBLISH_MS_MIN)
        return;
    cara_buf v;
    cara_buf_init(&v, a->env, CARA_NODE_BYTES_MAX);
    uint8_t h[32];
    bool changed = true;
    if (agent_node_value(a, &v) == 0) {
        value_hash(&v, h);
        changed = !a->self.published || memcmp(h, a->self.value_hash, sizeof h) != 0;
    }
    cara_buf_free(&v);
    if (changed)
        agent_publish_node(a); /* an encoding error is logged there */
}

/* ---- Observations ------------------------------------------------------------------ */

static void take(cara_agent *a, const cara_host_sample *s);

void agent_node_observe(cara_agent *a, const cara_host_sample *s)
{
    take(a, s);
    republish_if_changed(a);
}

/* `misses` failed answers, the first of them asked at `since_mono_ms`:
 * the engine is unreachable once CARA_NODE_ENGINE_FAILS_MIN answers in a
 * row have failed over CARA_NODE_ENGINE_DOWN_MS_MIN (limits.h gives the
 * reason). Until then the condition keeps its status. */
static void engine_missed(cara_agent *a, uint64_t since_mono_ms, uint32_t misses)
{
    if (a->self.engine_misses == 0)
        a->self.engine_missing_mono_ms = since_mono_ms;
    if (a->self.engine_misses < UINT32_MAX - misses)
        a->self.engine_misses += misses;
    uint64_t now = cara_env_now_mono_ms(a->env);
    if (a->self.engine_misses >= CARA_NODE_ENGINE_FAILS_MIN &&
        now - a->self.engine_missing_mono_ms >= CARA_NODE_ENGINE_DOWN_MS_MIN)
        a->self.engine = CARA_COND_FALSE;
}

void agent_node_engine_seen(cara_agent *a, bool answered)
{
    if (answered) {
        a->self.engine_misses = 0;
        a->self.engine = CARA_COND_TRUE;
        return;
    }
    engine_missed(a, cara_env_now_mono_ms(a->env), 1);
}

static void on_ping(void *arg, const cara_docker_result *res)
{
    cara_agent *a = arg;
    if (a->stopping || res->rc == CARA_EAGAIN)
        return; /* cancelled by shutdown */
    a->self.ping_inflight = false;
    agent_node_engine_seen(a, res->rc == 0 && res->http_status == 200);
}

/* One ping at a time. A ping the engine leaves unanswered past the
 * timeout marks it unreachable at once, without waiting for the client's
 * own (much longer) request timeout to end the request. */
static void ping_engine(cara_agent *a)
{
    if (a->docker == NULL)
        return;
    uint64_t now = cara_env_now_mono_ms(a->env);
    if (a->self.ping_inflight) {
        /* Unanswered for three periods: as many misses, held since it
         * was sent (a fresh timeout check each tick adds nothing more). */
        if (now - a->self.ping_sent_mono_ms >= CARA_NODE_ENGINE_PING_TIMEOUT_MS &&
            a->self.engine != CARA_COND_FALSE)
            engine_missed(a, a->self.ping_sent_mono_ms,
                          CARA_NODE_ENGINE_PING_TIMEOUT_MS / CARA_NODE_ENGINE_PING_MS);
        return;
    }
    if (a->self.ping_sent_mono_ms != 0 && now - a->self.ping_sent_mono_ms < CARA_NODE_ENGINE_PING_MS)
        return;
    a->self.ping_sent_mono_ms = now;
    if (cara_docker_request(a->docker, "GET", "/_ping", NULL, on_ping, a) == 0)
        a->self.ping_inflight = true;
    else
        agent_node_engine_seen(a, false);
}

static void read_host(const cara_agent *a, cara_host_sample *s)
{
    *s = (cara_host_sample){0};
    s->memory_known = cara_os_mem_available(&s->memory_available_bytes) == 0;
    s->disk_known = a->cfg.data_dir != NULL &&
                    cara_os_disk_usage(a->cfg.data_dir, &s->disk_available_bytes,
                                       &s->disk_total_bytes) == 0;
}

static void take(cara_agent *a, const cara_host_sample *s)
{
    cara_pressure_thresholds t = {.memory_available_bytes_min = memory_min(a),
                                  .disk_available_percent_min = disk_min_percent(a)};
    cara_pressure p = cara_sched_pressure(s, &t);
    set_status(a, AGENT_COND_MEMORY, p.memory);
    set_status(a, AGENT_COND_DISK, p.disk);
    set_status(a, AGENT_COND_ENGINE, a->self.engine);
}

void agent_node_refresh(cara_agent *a)
{
    cara_host_sample s;
    read_host(a, &s);
    take(a, &s);
}

void agent_node_tick(cara_agent *a)
{
    if (a->stopping)
        return;
    ping_engine(a);
    cara_host_sample s;
    read_host(a, &s);
    agent_node_observe(a, &s);
}

/* ---- Readers ----------------------------------------------------------------------- */

json_t *agent_node_json_of(cara_agent *a, const cara_node *n)
{
    cara_node_control ctl = cara_core_node_control(a->core, n->name);
    json_t *j = agent_node_json(n, cara_core_node_ready(a->core, n->name), &ctl);
    /* The generation of the operator's record, so that caravanctl can
     * sign the next one above it (0: none yet). */
    cara_crdt_record rec;
    json_int_t gen = cara_crdt_get(a->crdt, CARA_CRDT_NODECTL, (const uint8_t *)n->name,
                                   strlen(n->name), &rec) == 0
                         ? (json_int_t)rec.generation
                         : 0;
    json_object_set_new(json_object_get(j, "control"), "generation", json_integer(gen));
    return j;
}

json_t *agent_node_json(const cara_node *n, bool ready, const cara_node_control *control)
{
    json_t *j = cara_node_to_json(n);
    if (j == NULL)
        return NULL;
    /* The operator's cordon and drain (a NODECTL record, docs/crdt.md)
     * count as the node's own flag and state do: kubectl shows a cordon
     * as spec.unschedulable, whoever set it. */
    cara_node_control ctl = control != NULL ? *control : (cara_node_control){0};
    /* A Ready condition (records of earlier versions) is the node's own
     * claim, which no reader takes: leave it out rather than show it
     * beside the reader's answer. */
    json_t *conds = json_object_get(j, "conditions");
    for (size_t i = json_array_size(conds); i-- > 0;) {
        const char *type = json_string_value(json_object_get(json_array_get(conds, i), "type"));
        if (type != NULL && strcmp(type, "Ready") == 0)
            json_array_remove(conds, i);
    }
    if (conds != NULL && json_array_size(conds) == 0)
        json_object_del(j, "conditions");
    bool draining = n->state == CARA_NODE_DRAINING || ctl.draining;
    const char *state = draining ? "Draining" : ready ? "Ready" : "NotReady";
    json_object_set_new(j, "state", json_string(state));
    json_object_set_new(j, "ready", json_boolean(ready));
    if (ctl.cordoned)
        json_object_set_new(j, "unschedulable", json_true());
    json_object_set_new(j, "control", json_pack("{s:b, s:b}", "cordoned", ctl.cordoned,
                                                "draining", ctl.draining));
    json_object_set_new(j, "schedulable",
                        json_boolean(ready && cara_sched_node_schedulable(n) && !ctl.cordoned &&
                                     !ctl.draining));
    return j;
}
