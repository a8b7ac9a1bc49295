/*
 * Node health: the pressure thresholds (src/sched/health.c), the host
 * readers (src/os/host.c), the node record's new fields in every codec and
 * the records of earlier versions, the scheduler keeping new projects off
 * a node under pressure or without its engine, readiness taken by readers
 * (cara_core_node_ready), and the republish rate bound (agent_node.c) on the
 * fake clock.
 */
#include <inttypes.h>

#include "agent_fixture.h"
#include "os/os.h"
#include "spec/bind_int.h"
#include "spec/spec_int.h"

/* ---- Thresholds ------------------------------------------------------------------- */

static const cara_pressure_thresholds kubelet = {
    .memory_available_bytes_min = CARA_NODE_MEMORY_AVAILABLE_MIN_DEFAULT,
    .disk_available_percent_min = CARA_NODE_DISK_AVAILABLE_PERCENT_MIN_DEFAULT};

TEST(node_pressure_starts_strictly_below_kubelet_defaults)
{
    CHECK_INT(CARA_NODE_MEMORY_AVAILABLE_MIN_DEFAULT, ==, 100ULL << 20);
    CHECK_INT(CARA_NODE_DISK_AVAILABLE_PERCENT_MIN_DEFAULT, ==, 10);
    cara_host_sample s = {.memory_known = true, .memory_available_bytes = 100ULL << 20,
                          .disk_known = true, .disk_available_bytes = 100,
                          .disk_total_bytes = 1000};
    cara_pressure p = cara_sched_pressure(&s, &kubelet);
    CHECK(p.memory == CARA_COND_FALSE && p.disk == CARA_COND_FALSE); /* at the threshold */
    s.memory_available_bytes--;
    s.disk_available_bytes--;
    p = cara_sched_pressure(&s, &kubelet);
    CHECK(p.memory == CARA_COND_TRUE && p.disk == CARA_COND_TRUE);
    /* Nothing read, or a filesystem without a size: unknown, not pressure. */
    s = (cara_host_sample){.disk_known = true};
    p = cara_sched_pressure(&s, &kubelet);
    CHECK(p.memory == CARA_COND_UNKNOWN && p.disk == CARA_COND_UNKNOWN);
}

TEST(node_disk_pressure_is_exact_for_huge_filesystems)
{
    /* total × 10 overflows 64 bits; floor(total / 10) is the line. */
    uint64_t total = UINT64_MAX - 5;
    uint64_t line = total / 10; /* 10 % of total, rounded down */
    cara_host_sample s = {.disk_known = true, .disk_total_bytes = total,
                          .disk_available_bytes = line};
    CHECK(cara_sched_pressure(&s, &kubelet).disk == CARA_COND_FALSE);
    s.disk_available_bytes = line - 1;
    CHECK(cara_sched_pressure(&s, &kubelet).disk == CARA_COND_TRUE);
    cara_pressure_thresholds t = {.memory_available_bytes_min = 1, .disk_available_percent_min = 37};
    s = (cara_host_sample){.disk_known = true, .disk_total_bytes = 12345,
                           .disk_available_bytes = 12345 * 37 / 100};
    CHECK(cara_sched_pressure(&s, &t).disk == CARA_COND_FALSE);
    s.disk_available_bytes--;
    CHECK(cara_sched_pressure(&s, &t).disk == CARA_COND_TRUE);
}

/* ---- Host readers -------------------------------------------------------------------- */

TEST(node_meminfo_parse_reads_mem_available_only)
{
    const char *t = "MemTotal:       16314260 kB\nMemFree:          512000 kB\n"
                    "MemAvailable:    8157130 kB\nBuffers:          200000 kB\n";
    uint64_t v = 0;
    CHECK_OK(cara_os_meminfo_parse(t, strlen(t), &v));
    CHECK_INT(v, ==, 8157130ULL << 10);
    const char *old_kernel = "MemTotal:       16314260 kB\nMemFree:          512000 kB\n";
    CHECK_RC(cara_os_meminfo_parse(old_kernel, strlen(old_kernel), &v), CARA_EPARSE);
    const char *no_unit = "MemAvailable:    8157130\n";
    CHECK_RC(cara_os_meminfo_parse(no_unit, strlen(no_unit), &v), CARA_EPARSE);
    const char *mid_line = "XMemAvailable: 1 kB\n";
    CHECK_RC(cara_os_meminfo_parse(mid_line, strlen(mid_line), &v), CARA_EPARSE);
    const char *huge = "MemAvailable: 99999999999999999999 kB\n";
    CHECK_RC(cara_os_meminfo_parse(huge, strlen(huge), &v), CARA_EPARSE);
    /* This machine's own. */
    CHECK_OK(cara_os_mem_available(&v));
    CHECK(v > 0);
    uint64_t avail = 0, total = 0;
    CHECK_OK(cara_os_disk_usage("/tmp", &avail, &total));
    CHECK(total > 0 && avail <= total);
    CHECK_RC(cara_os_disk_usage("/nonexistent/cara", &avail, &total), CARA_ENOENT);
}

/* ---- The record's codecs --------------------------------------------------------------- */

typedef struct bound_node {
    cara_node *n;
    int rc;
} bound_node;

static int bind_node_cb(void *ctx, doc *dc)
{
    bound_node *b = ctx;
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    b->rc = bind_node(cara_test_env(), dc->root, "", &d, &b->n);
    cara_diags_free(&d);
    return 0;
}

/* Binds a node from YAML (or JSON) text; returns the binder's rc. */
static int node_from_yaml(const char *y, cara_node **out)
{
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    bound_node b = {0};
    CHECK_OK(doc_from_yaml(cara_test_env(), y, strlen(y), &d, bind_node_cb, &b));
    cara_diags_free(&d);
    *out = b.n;
    return b.rc;
}

#define COND(t, st, r) \
    "{type: " t ", status: '" st "', reason: " r ", message: '', " \
    "lastTransitionTime: '2026-01-01T00:00:00Z'}"

/* A record as this version's agent writes it. */
static const char *const FULL_NODE =
    "{name: n1, addresses: [100.64.0.1], gossipAddress: '100.64.0.1:7946', "
    "agentVersion: 0.2.0-3-gabc+dirty, labels: {zone: a}, capacity: {cpu: 4, memory: 8Gi}, "
    "state: Ready, unschedulable: false, conditions: ["
    COND("MemoryPressure", "True", "InsufficientMemory") ", "
    COND("DiskPressure", "False", "SufficientDisk") ", "
    COND("DockerReachable", "True", "EngineAnswers") "]}";

TEST(node_record_new_fields_round_trip_through_msgpack_json_and_yaml)
{
    cara_env *env = cara_test_env();
    cara_node *n = NULL;
    CHECK_OK(node_from_yaml(FULL_NODE, &n));
    CHECK_STR(n->gossip_addr, "100.64.0.1:7946");
    CHECK_STR(n->agent_version, "0.2.0-3-gabc+dirty");
    CHECK(cara_node_condition(n, CARA_NODE_COND_MEMORY_PRESSURE)->status == CARA_COND_TRUE);
    CHECK(cara_node_condition(n, "Ready") == NULL);
    /* msgpack */
    cara_buf b;
    cara_buf_init(&b, env, CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(n, &b));
    cara_node *m = NULL;
    CHECK_OK(cara_node_decode(env, b.data, b.len, NULL, &m));
    CHECK(cara_node_equal(n, m));
    /* JSON */
    json_t *j = cara_node_to_json(m);
    CHECK_STR(json_string_value(json_object_get(j, "gossipAddress")), "100.64.0.1:7946");
    CHECK_STR(json_string_value(json_object_get(j, "agentVersion")), "0.2.0-3-gabc+dirty");
    cara_node *o = NULL;
    CHECK_OK(cara_node_from_json(env, j, NULL, &o));
    CHECK(cara_node_equal(n, o));
    /* YAML out, and back in */
    cara_buf y;
    cara_buf_init(&y, env, 1 << 20);
    CHECK_OK(cara_json_to_yaml(j, &y));
    CHECK_OK(cara_buf_append(&y, "", 1));
    cara_node *q = NULL;
    CHECK_OK(node_from_yaml((const char *)y.data, &q));
    CHECK(cara_node_equal(n, q));
    /* A change in either field is a change of the record. */
    cara_env_free(env, q->agent_version);
    q->agent_version = cara_env_strndup(env, "0.2.1", 5);
    CHECK(!cara_node_equal(n, q));
    cara_buf_free(&y);
    json_decref(j);
    cara_node_free(env, q);
    cara_node_free(env, o);
    cara_node_free(env, m);
    cara_node_free(env, n);
    cara_buf_free(&b);
}

TEST(node_record_of_an_earlier_version_still_decodes_and_schedules)
{
    cara_env *env = cara_test_env();
    /* What agents before this change wrote: a Ready condition, no gossip
     * address, no version, no health conditions. Built as msgpack through
     * the JSON writer's own canonical path, as those agents did. */
    json_t *j = json_pack("{s:s, s:[s], s:{s:s, s:s}, s:s, s:[{s:s, s:s, s:s, s:s, s:s}], s:b}",
                          "name", "n1", "addresses", "100.64.0.1", "capacity", "cpu", "2",
                          "memory", "1Gi", "state", "Ready", "conditions", "type", "Ready",
                          "status", "True", "reason", "AgentRunning", "message", "",
                          "lastTransitionTime", "2026-01-01T00:00:00Z", "unschedulable", 0);
    cara_buf b;
    cara_buf_init(&b, env, CARA_NODE_BYTES_MAX);
    CHECK_OK(spec_json_to_msgpack(j, CARA_NODE_BYTES_MAX, &b));
    cara_node *n = NULL;
    CHECK_OK(cara_node_decode(env, b.data, b.len, NULL, &n));
    CHECK(n->gossip_addr == NULL && n->agent_version == NULL);
    /* No health conditions: nothing keeps projects away. */
    CHECK(cara_sched_node_schedulable(n));
    /* Its encoding is unchanged by this version's writer (no new field
     * appears when unset), so its signature still verifies. */
    cara_buf again;
    cara_buf_init(&again, env, CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(n, &again));
    CHECK_MEM(again.data, again.len, b.data, b.len);
    /* The API shows the reader's readiness, never the record's claim. */
    json_t *api = agent_node_json(n, false, NULL);
    CHECK_STR(json_string_value(json_object_get(api, "state")), "NotReady");
    CHECK(json_is_false(json_object_get(api, "ready")));
    CHECK(json_is_false(json_object_get(api, "schedulable")));
    CHECK(json_object_get(api, "conditions") == NULL); /* its Ready claim is not shown */
    json_decref(api);
    api = agent_node_json(n, true, NULL);
    CHECK_STR(json_string_value(json_object_get(api, "state")), "Ready");
    CHECK(json_is_true(json_object_get(api, "schedulable")));
    json_decref(api);
    cara_buf_free(&again);
    cara_buf_free(&b);
    cara_node_free(env, n);
    json_decref(j);
}

static int node_json_rc(const char *key, json_t *value)
{
    cara_node *n = NULL;
    CHECK_OK(node_from_yaml(FULL_NODE, &n));
    json_t *j = cara_node_to_json(n);
    cara_node_free(cara_test_env(), n);
    json_object_set_new(j, key, value);
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(spec_json_to_msgpack(j, CARA_NODE_BYTES_MAX, &b));
    int rc = cara_node_decode(cara_test_env(), b.data, b.len, NULL, &n);
    cara_node_free(cara_test_env(), n);
    cara_buf_free(&b);
    json_decref(j);
    return rc;
}

TEST(node_record_refuses_bad_gossip_addresses_versions_and_repeated_conditions)
{
    static const char *const good[] = {"100.64.0.1:7946", "[fd7a:115c:a1e0::1]:7946",
                                       "n1.tail1234.ts.net:1", "localhost:65535"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        CHECK(cara_host_port_valid(good[i]));
        CHECK_OK(node_json_rc("gossipAddress", json_string(good[i])));
    }
    static const char *const bad[] = {"100.64.0.1", "100.64.0.1:0", "100.64.0.1:65536",
                                      "100.64.0.1:080", ":7946", "[fd7a::1:7946",
                                      "fd7a::1:7946", "300.1.1.1:7946", "a_b:1", "h:1x",
                                      "[100.64.0.1]:1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (cara_host_port_valid(bad[i]))
            cara_test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
        CHECK_RC(node_json_rc("gossipAddress", json_string(bad[i])), CARA_ESCHEMA);
    }
    /* A name at its cap fits; one byte more does not. */
    char name[CARA_NODE_GOSSIP_ADDR_BYTES_MAX + 2];
    size_t used = 0;
    while (used + 64 <= CARA_HOSTNAME_BYTES_MAX)
        used += (size_t)snprintf(name + used, sizeof name - used, "%s%.62s", used ? "." : "",
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    snprintf(name + used, sizeof name - used, ":65535");
    CHECK(cara_host_port_valid(name));
    CHECK_RC(node_json_rc("gossipAddress", json_integer(7946)), CARA_ESCHEMA);
    CHECK_OK(node_json_rc("agentVersion", json_string("1.2.3_rc.1")));
    CHECK_RC(node_json_rc("agentVersion", json_string("")), CARA_ESCHEMA);
    CHECK_RC(node_json_rc("agentVersion", json_string("1.2 beta")), CARA_ESCHEMA);
    char ver[CARA_NODE_VERSION_BYTES_MAX + 2];
    memset(ver, '1', sizeof ver - 1);
    ver[sizeof ver - 1] = '\0';
    CHECK_RC(node_json_rc("agentVersion", json_string(ver)), CARA_ESCHEMA);
    ver[sizeof ver - 2] = '\0';
    CHECK_OK(node_json_rc("agentVersion", json_string(ver)));
    /* One condition of a type, at most. */
    cara_node *n = NULL;
    CHECK_OK(node_from_yaml(FULL_NODE, &n));
    json_t *j = cara_node_to_json(n);
    cara_node_free(cara_test_env(), n);
    json_t *conds = json_object_get(j, "conditions");
    json_array_append(conds, json_array_get(conds, 0));
    CHECK_RC(node_json_rc("conditions", json_incref(conds)), CARA_ESCHEMA);
    json_decref(j);
}

/* ---- Scheduling ---------------------------------------------------------------------- */

TEST(node_schedulable_needs_no_pressure_and_an_answering_engine)
{
    cara_node *n = NULL;
    const char *ok = "{name: n1, conditions: [" COND("MemoryPressure", "False", "SufficientMemory")
                     ", " COND("DiskPressure", "Unknown", "DiskNotRead")
                     ", " COND("DockerReachable", "True", "EngineAnswers") "]}";
    CHECK_OK(node_from_yaml(ok, &n));
    CHECK(cara_sched_node_schedulable(n)); /* an unread disk keeps nothing away */
    n->conditions[0].status = CARA_COND_TRUE;
    CHECK(!cara_sched_node_schedulable(n));
    n->conditions[0].status = CARA_COND_FALSE;
    n->conditions[1].status = CARA_COND_TRUE;
    CHECK(!cara_sched_node_schedulable(n));
    n->conditions[1].status = CARA_COND_FALSE;
    n->conditions[2].status = CARA_COND_FALSE;
    CHECK(!cara_sched_node_schedulable(n));
    n->conditions[2].status = CARA_COND_UNKNOWN; /* not answered yet */
    CHECK(!cara_sched_node_schedulable(n));
    n->conditions[2].status = CARA_COND_TRUE;
    CHECK(cara_sched_node_schedulable(n));
    n->unschedulable = true;
    CHECK(!cara_sched_node_schedulable(n));
    n->unschedulable = false;
    n->state = CARA_NODE_DRAINING;
    CHECK(!cara_sched_node_schedulable(n));
    /* NotReady in the record is the node's own word: not read here. */
    n->state = CARA_NODE_NOT_READY;
    CHECK(cara_sched_node_schedulable(n));
    cara_node_free(cara_test_env(), n);
}

TEST(node_sched_place_skips_pressured_nodes_and_says_why)
{
    cara_project p = {.name = "web"};
    const char *names[] = {"n0", "n1", "n2"};
    cara_sched_node nodes[3];
    for (int i = 0; i < 3; i++)
        nodes[i] = (cara_sched_node){.name = names[i], .ready = true, .schedulable = true};
    cara_sched_verdict v = cara_sched_place(&p, nodes, 3);
    CHECK(v.index >= 0);
    int best = v.index;
    /* The best node comes under pressure (its record's conditions make
     * schedulable false): the next one by weight gets the project. */
    cara_node rec = {.name = (char *)names[best]};
    cara_condition mp = {.type = CARA_NODE_COND_MEMORY_PRESSURE, .status = CARA_COND_TRUE,
                         .reason = "InsufficientMemory", .message = ""};
    rec.conditions = &mp;
    rec.conditions_count = 1;
    nodes[best].schedulable = cara_sched_node_schedulable(&rec);
    CHECK(!nodes[best].schedulable);
    v = cara_sched_place(&p, nodes, 3);
    CHECK(v.index >= 0 && v.index != best);
    CHECK_INT(v.unschedulable, ==, 1);
    /* Every node under pressure: Pending, and the reason counts them. */
    for (int i = 0; i < 3; i++)
        nodes[i].schedulable = false;
    v = cara_sched_place(&p, nodes, 3);
    CHECK_INT(v.index, ==, -1);
    CHECK_INT(v.unschedulable, ==, 3);
    /* Pressure does not move the scheduler: that follows readiness. */
    CHECK(cara_sched_scheduler_of("web", nodes, 3) >= 0);
}

/* ---- The agent ----------------------------------------------------------------------- */

/* The fixture's agent as admitted node n0 (it publishes its own record). */
static void open_as_n0(afix *f)
{
    afix_open(f, 3);
    afix_become(f, "n0", &f->nodes[0]);
    cara_core_set_incarnation(f->a.core, 2); /* above the fixture's record of n0 */
    f->a.started_wall_ms = afix_now_ms();
    agent_node_init(&f->a);
}

/* n0's record as the state holds it. */
static cara_node *n0_record(afix *f)
{
    cara_crdt_record r;
    CHECK_OK(cara_crdt_get(f->a.crdt, CARA_CRDT_NODE, (const uint8_t *)"n0", 2, &r));
    cara_node *n = NULL;
    CHECK_OK(cara_node_decode(f->a.env, r.value, r.value_bytes, NULL, &n));
    return n;
}

static cara_cond_status n0_memory(afix *f)
{
    cara_node *n = n0_record(f);
    const cara_condition *c = cara_node_condition(n, CARA_NODE_COND_MEMORY_PRESSURE);
    CHECK(c != NULL);
    cara_cond_status st = c->status;
    cara_node_free(f->a.env, n);
    return st;
}

static void at(uint64_t mono_ms) { cara_test_set_time(mono_ms, 1790000000000LL + (int64_t)mono_ms); }

TEST(node_record_republishes_on_change_at_most_once_per_bound)
{
    afix f;
    open_as_n0(&f);
    const uint64_t B = CARA_NODE_REPUBLISH_MS_MIN, t0 = 1000000;
    cara_host_sample ok = {.memory_known = true, .memory_available_bytes = 4ULL << 30,
                           .disk_known = true, .disk_available_bytes = 50, .disk_total_bytes = 100};
    cara_host_sample low = ok;
    low.memory_available_bytes = 10ULL << 20;
    agent_node_engine_seen(&f.a, true);
    /* The first record goes out at once. */
    at(t0);
    agent_node_observe(&f.a, &ok);
    afix_settle(&f);
    CHECK_INT(f.a.stats.node_publishes, ==, 1);
    CHECK(n0_memory(&f) == CARA_COND_FALSE);
    cara_node *n = n0_record(&f);
    CHECK_STR(n->agent_version, CARA_VERSION);
    CHECK(n->gossip_addr == NULL); /* no gossip_advertise configured */
    CHECK(cara_node_condition(n, "Ready") == NULL);
    CHECK(cara_node_condition(n, CARA_NODE_COND_DOCKER_REACHABLE)->status == CARA_COND_TRUE);
    cara_node_free(f.a.env, n);
    /* Memory runs low a second later: held back until the bound is up. */
    for (uint64_t t = t0 + 1000; t < t0 + B; t += 1000) {
        at(t);
        agent_node_observe(&f.a, &low);
    }
    at(t0 + B - 1);
    agent_node_observe(&f.a, &low);
    afix_settle(&f);
    CHECK_INT(f.a.stats.node_publishes, ==, 1);
    CHECK(n0_memory(&f) == CARA_COND_FALSE);
    at(t0 + B);
    agent_node_observe(&f.a, &low);
    afix_settle(&f);
    CHECK_INT(f.a.stats.node_publishes, ==, 2);
    CHECK(n0_memory(&f) == CARA_COND_TRUE);
    /* Its transition time is the flip's (the first tick that saw it). */
    n = n0_record(&f);
    CHECK_INT(cara_node_condition(n, CARA_NODE_COND_MEMORY_PRESSURE)->last_transition_wall_ms, ==,
              1790000000000LL + (int64_t)(t0 + 1000));
    cara_node_free(f.a.env, n);
    /* Flapping every tick for a minute: one write per bound, no more. */
    uint64_t before = f.a.stats.node_publishes;
    for (uint64_t t = t0 + B + 1000; t <= t0 + B + 60000; t += 1000) {
        at(t);
        agent_node_observe(&f.a, (t / 1000) % 2 ? &ok : &low);
    }
    afix_settle(&f);
    CHECK(f.a.stats.node_publishes - before <= 60000 / B);
    CHECK(f.a.stats.node_publishes - before >= 1);
    /* Steady for long after: nothing changes, nothing is written. */
    at(t0 + B + 70000);
    agent_node_observe(&f.a, &ok);
    before = f.a.stats.node_publishes;
    for (uint64_t t = t0 + B + 80000; t < t0 + B + 200000; t += 1000) {
        at(t);
        agent_node_observe(&f.a, &ok);
    }
    afix_settle(&f);
    CHECK_INT(f.a.stats.node_publishes - before, ==, 0);
    /* A stall: one failed answer, then answers again. Nothing is written
     * (docs/agent.md: the engine's condition is damped). */
    at(t0 + B + 200000);
    agent_node_engine_seen(&f.a, false);
    agent_node_observe(&f.a, &ok);
    at(t0 + B + 205000);
    agent_node_engine_seen(&f.a, true);
    for (uint64_t t = t0 + B + 205000; t <= t0 + B + 230000; t += 1000) {
        at(t);
        agent_node_observe(&f.a, &ok);
    }
    afix_settle(&f);
    CHECK_INT(f.a.stats.node_publishes - before, ==, 0);
    /* Two failures in a row, but within 10 s: still nothing. */
    at(t0 + B + 240000);
    agent_node_engine_seen(&f.a, false);
    at(t0 + B + 245000);
    agent_node_engine_seen(&f.a, false);
    agent_node_observe(&f.a, &ok);
    afix_settle(&f);
    CHECK_INT(f.a.stats.node_publishes - before, ==, 0);
    /* The engine stays down: the third failure, 10 s after the first,
     * turns the condition False, and the record says so within the bound. */
    at(t0 + B + 250000);
    agent_node_engine_seen(&f.a, false);
    agent_node_observe(&f.a, &ok);
    afix_settle(&f);
    CHECK_INT(f.a.stats.node_publishes - before, ==, 1);
    n = n0_record(&f);
    CHECK(cara_node_condition(n, CARA_NODE_COND_DOCKER_REACHABLE)->status == CARA_COND_FALSE);
    cara_node_free(f.a.env, n);
    afix_close(&f);
}

TEST(node_gossip_advertise_is_copied_into_the_record)
{
    afix f;
    open_as_n0(&f);
    f.a.cfg.gossip_advertise = "100.64.0.9:7946";
    agent_publish_node(&f.a);
    afix_settle(&f);
    cara_node *n = n0_record(&f);
    CHECK_STR(n->gossip_addr, "100.64.0.9:7946");
    /* Before the engine or the host were read, every condition is
     * Unknown, and an unknown engine keeps new projects away. */
    CHECK(cara_node_condition(n, CARA_NODE_COND_DOCKER_REACHABLE)->status == CARA_COND_UNKNOWN);
    CHECK(!cara_sched_node_schedulable(n));
    cara_node_free(f.a.env, n);
    afix_close(&f);
}

static const cara_sched_node *item(const cara_core_nodes *ns, const char *name)
{
    for (size_t i = 0; i < ns->count; i++)
        if (strcmp(ns->items[i].name, name) == 0)
            return &ns->items[i];
    return NULL;
}

TEST(node_readiness_is_the_readers_and_pressure_reaches_the_scheduler)
{
    afix f;
    afix_open(&f, 3);
    /* n1 says NotReady of itself: readers do not take its word. */
    afix_node(&f, 1, CARA_NODE_NOT_READY, "100.64.0.2", 1ULL << 30, 2);
    afix_settle(&f);
    const cara_core_nodes *ns = cara_core_nodes_get(f.a.core);
    CHECK(ns != NULL && item(ns, "n1") != NULL);
    CHECK(item(ns, "n1")->ready && item(ns, "n1")->schedulable);
    CHECK(cara_core_node_ready(f.a.core, "n1"));
    CHECK(cara_core_node_ready(f.a.core, "observer")); /* this node itself */
    CHECK(!cara_core_node_ready(f.a.core, "n9"));      /* no admission, no record */
    /* n2 under memory pressure: still Ready, no longer schedulable. */
    cara_condition mp = {.type = CARA_NODE_COND_MEMORY_PRESSURE, .status = CARA_COND_TRUE,
                         .reason = "InsufficientMemory", .message = "",
                         .last_transition_wall_ms = 1};
    cara_node n = {.name = "n2", .conditions = &mp, .conditions_count = 1};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&n, &v));
    trec(&rec, CARA_CRDT_NODE, "n2", 3, ((uint64_t)afix_now_ms() << 16) + 3, &f.nodes[2], v.data,
         v.len);
    cara_buf_free(&v);
    afix_ingest(&f, &rec);
    afix_settle(&f);
    ns = cara_core_nodes_get(f.a.core);
    CHECK(item(ns, "n2")->ready && !item(ns, "n2")->schedulable);
    /* n1 revoked: gone from the list, and not Ready to anyone asking. */
    tadmission(&rec, "n1", 2, (uint64_t)afix_now_ms() << 16, &f.op, &f.nodes[1], false);
    afix_ingest(&f, &rec);
    afix_settle(&f);
    CHECK(!cara_core_node_ready(f.a.core, "n1"));
    ns = cara_core_nodes_get(f.a.core);
    CHECK(item(ns, "n1") == NULL);
    afix_close(&f);
}

/* apiAddress: where peers reach a node's API (the logs proxy). Optional,
 * validated like gossipAddress, carried by every codec, and absent from
 * records that do not set it, which keep their exact bytes. */
TEST(node_record_api_address_round_trips_is_validated_and_optional)
{
    cara_env *env = cara_test_env();
    cara_node *n = NULL;
    CHECK_OK(node_from_yaml(FULL_NODE, &n));
    CHECK(n->api_addr == NULL);
    cara_buf before;
    cara_buf_init(&before, env, CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(n, &before));
    json_t *j = cara_node_to_json(n);
    CHECK(json_object_get(j, "apiAddress") == NULL);
    json_decref(j);
    /* Set: msgpack, JSON and YAML carry it, and it is part of equality. */
    n->api_addr = cara_env_strndup(env, "[fd7a:115c:a1e0::1]:7951", 24);
    cara_buf b;
    cara_buf_init(&b, env, CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(n, &b));
    CHECK(b.len > before.len);
    cara_node *m = NULL;
    CHECK_OK(cara_node_decode(env, b.data, b.len, NULL, &m));
    CHECK_STR(m->api_addr, "[fd7a:115c:a1e0::1]:7951");
    CHECK(cara_node_equal(n, m));
    j = cara_node_to_json(m);
    CHECK_STR(json_string_value(json_object_get(j, "apiAddress")), "[fd7a:115c:a1e0::1]:7951");
    cara_buf y;
    cara_buf_init(&y, env, 1 << 20);
    CHECK_OK(cara_json_to_yaml(j, &y));
    CHECK_OK(cara_buf_append(&y, "", 1));
    cara_node *q = NULL;
    CHECK_OK(node_from_yaml((const char *)y.data, &q));
    CHECK(cara_node_equal(n, q));
    cara_env_free(env, q->api_addr);
    q->api_addr = NULL;
    CHECK(!cara_node_equal(n, q));
    /* Unset again: the bytes are those of a record without the field. */
    cara_buf again;
    cara_buf_init(&again, env, CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(q, &again));
    CHECK_MEM(again.data, again.len, before.data, before.len);
    /* Validated as HOST:PORT. */
    CHECK_OK(node_json_rc("apiAddress", json_string("127.0.0.1:7951")));
    CHECK_OK(node_json_rc("apiAddress", json_string("n1.tail1234.ts.net:7951")));
    static const char *const bad[] = {"127.0.0.1", "127.0.0.1:0", "[::1:7951", "", "h:07951"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_RC(node_json_rc("apiAddress", json_string(bad[i])), CARA_ESCHEMA);
    CHECK_RC(node_json_rc("apiAddress", json_integer(7951)), CARA_ESCHEMA);
    cara_buf_free(&again);
    cara_buf_free(&y);
    json_decref(j);
    cara_node_free(env, q);
    cara_node_free(env, m);
    cara_buf_free(&b);
    cara_buf_free(&before);
    cara_node_free(env, n);
}
