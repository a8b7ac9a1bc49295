/*
 * The agent's evaluations cost what changed: node records are decoded once
 * per change, not once per project evaluated, and a node record that
 * changes nothing scheduling reads (an address, a republish) re-evaluates
 * no project. Drives the agent's state half (agent_state.c) on a real
 * store and crdt, with a libuv loop for its evaluation turn and no engine.
 */
#include <sqlite3.h>
#include <uv.h>

#include "agent/agent_int.h"
#include "crdt_util.h"
#include "spec_util.h"

#define PROJECTS 40

typedef struct fixture {
    cara_agent a;
    uv_loop_t loop;
    tkey op, nodes[3];
    char dir[64];
} fixture;

static void ingest(fixture *f, cara_buf *rec)
{
    bool changed = false;
    CHECK_OK(agent_ingest(&f->a, rec->data, rec->len, &changed));
    CHECK(changed);
    cara_buf_free(rec);
}

static void node_record(fixture *f, int i, const char *addr, uint64_t memory_bytes, uint64_t gen)
{
    char name[16];
    snprintf(name, sizeof name, "n%d", i);
    char *addrs[] = {(char *)addr};
    cara_condition ready = {.type = "Ready", .status = CARA_COND_TRUE, .reason = "AgentRunning",
                            .message = "", .last_transition_wall_ms = 1};
    cara_node n = {.name = name, .addrs = addrs, .addrs_count = 1,
                   .capacity = {.cpu_millis = 2000, .memory_bytes = memory_bytes},
                   .state = CARA_NODE_READY, .conditions = &ready, .conditions_count = 1};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&n, &v));
    int64_t now = cara_env_now_wall_ms(cara_test_env());
    trec(&rec, CARA_CRDT_NODE, name, gen, (uint64_t)now << 16, &f->nodes[i], v.data, v.len);
    cara_buf_free(&v);
    ingest(f, &rec);
}

static void project_record(fixture *f, int i)
{
    char text[512];
    snprintf(text, sizeof text,
             "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: p%d}\n"
             "spec:\n  services: [{name: web, image: busybox}]\n", i);
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(text, &d, &p));
    cara_diags_free(&d);
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_SPEC_BYTES_MAX);
    CHECK_OK(cara_project_encode(p, &v));
    cara_project_free(cara_test_env(), p);
    int64_t now = cara_env_now_wall_ms(cara_test_env());
    char name[16];
    snprintf(name, sizeof name, "p%d", i);
    trec(&rec, CARA_CRDT_PROJECT, name, 1, (uint64_t)now << 16, &f->op, v.data, v.len);
    cara_buf_free(&v);
    ingest(f, &rec);
}

/* Runs the evaluation turns the changes asked for; returns how many
 * projects were evaluated. */
static uint64_t settle(fixture *f)
{
    uint64_t before = f->a.stats.evaluations;
    for (int i = 0; i < 10; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    return f->a.stats.evaluations - before;
}

static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey_make(&f->op, &rng);
    for (int i = 0; i < 3; i++)
        tkey_make(&f->nodes[i], &rng);
    snprintf(f->dir, sizeof f->dir, "/tmp/cara-eval-XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/state.db", f->dir);
    cara_agent *a = &f->a;
    a->env = cara_test_env();
    /* An observer: not among the admitted nodes, so it schedules and owns
     * nothing and no engine is needed. */
    a->cfg.name = "observer";
    CHECK(uv_loop_init(&f->loop) == 0);
    a->loop = &f->loop;
    agent_eval_init(a);
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])f->op.pk,
                        .operator_pks_count = 1, .validate_value = agent_validate_value,
                        .validate_ctx = a->env};
    CHECK_OK(cara_crdt_new(&a->crdt, &cc, a->env));
    CHECK_OK(cara_store_open(&a->store, path, a->env));
    int64_t now = cara_env_now_wall_ms(a->env);
    for (int i = 0; i < 3; i++) {
        char name[16];
        cara_buf rec;
        snprintf(name, sizeof name, "n%d", i);
        tadmission(&rec, name, 1, (uint64_t)now << 16, &f->op, &f->nodes[i], true);
        ingest(f, &rec);
        node_record(f, i, "100.64.0.1", 1ULL << 30, 1);
    }
    for (int i = 0; i < PROJECTS; i++)
        project_record(f, i);
    settle(f);
}

static void fixture_close(fixture *f)
{
    agent_eval_close(&f->a);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    agent_nodes_free(&f->a, &f->a.nodes);
    cara_env_free(f->a.env, f->a.seen);
    cara_store_close(f->a.store);
    cara_crdt_free(f->a.crdt);
    while (f->a.projects != NULL) {
        agent_project *next = f->a.projects->next;
        cara_env_free(f->a.env, f->a.projects);
        f->a.projects = next;
    }
}

TEST(agent_node_change_that_scheduling_cannot_see_evaluates_no_project)
{
    fixture f;
    fixture_open(&f);
    /* A new address: the scheduler reads names, readiness, labels and
     * capacity, none of which changed. */
    node_record(&f, 1, "100.64.0.2", 1ULL << 30, 2);
    CHECK_INT(settle(&f), ==, 0);
    /* More memory: every project's placement may change. */
    node_record(&f, 1, "100.64.0.2", 2ULL << 30, 3);
    CHECK_INT(settle(&f), ==, PROJECTS);
    fixture_close(&f);
}

TEST(agent_project_change_evaluates_that_project_only)
{
    fixture f;
    fixture_open(&f);
    int64_t now = cara_env_now_wall_ms(cara_test_env());
    cara_buf rec;
    trec(&rec, CARA_CRDT_TOMBSTONE, "p7", 2, (uint64_t)now << 16, &f.op, NULL, 0);
    ingest(&f, &rec);
    CHECK_INT(settle(&f), ==, 1);
    fixture_close(&f);
}

static long rows(const fixture *f, const char *sql)
{
    char path[128];
    snprintf(path, sizeof path, "%s/state.db", f->dir);
    sqlite3 *db;
    sqlite3_stmt *q;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW);
    long n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

TEST(agent_collected_delete_leaves_only_a_floor_in_memory_and_on_disk)
{
    fixture f;
    fixture_open(&f);
    long before = rows(&f, "SELECT count(*) FROM state_records");
    /* n0 reported on p7 (a status and a placement), then p7 was deleted
     * long ago: a tombstone older than the horizon arrives late. */
    int64_t now = cara_env_now_wall_ms(cara_test_env());
    cara_project_status st = {.phase = CARA_PHASE_RUNNING, .node_ref = "n0"};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_STATUS_BYTES_MAX);
    CHECK_OK(cara_project_status_encode(&st, &v));
    trec(&rec, CARA_CRDT_STATUS, "p7", 1, (uint64_t)now << 16, &f.nodes[0], v.data, v.len);
    ingest(&f, &rec);
    trec(&rec, CARA_CRDT_PLACEMENT, "p7", 1, (uint64_t)now << 16, &f.nodes[0], v.data, v.len);
    ingest(&f, &rec);
    cara_buf_free(&v);
    CHECK_INT(rows(&f, "SELECT count(*) FROM state_records"), ==, before + 2);
    int64_t old = now - CARA_CRDT_TOMBSTONE_HORIZON_MS_DEFAULT - 1000;
    trec(&rec, CARA_CRDT_TOMBSTONE, "p7", 2, (uint64_t)old << 16, &f.op, NULL, 0);
    ingest(&f, &rec);
    cara_crdt_record r;
    CHECK_RC(cara_crdt_get(f.a.crdt, CARA_CRDT_PROJECT, (const uint8_t *)"p7", 2, &r), CARA_ENOENT);
    CHECK_RC(cara_crdt_get_by(f.a.crdt, CARA_CRDT_STATUS, (const uint8_t *)"p7", 2, f.nodes[0].pk, &r),
             CARA_ENOENT);
    /* The spec, the status and the placement left the disk too. */
    CHECK_INT(rows(&f, "SELECT count(*) FROM state_records"), ==, before - 1);
    CHECK_INT(rows(&f, "SELECT count(*) FROM state_floors"), ==, 1);
    fixture_close(&f);
}
