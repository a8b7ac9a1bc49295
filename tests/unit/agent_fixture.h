/*
 * The agent's state half (agent_state.c, around the node object of
 * src/core) on a real crdt and SQLite store, with a libuv loop for its
 * evaluation turn and no engine: an observer
 * node ("observer", never admitted, so it schedules and owns nothing) that
 * ingests records signed by an operator and admitted nodes n0..n<N-1>.
 * Shared by the agent evaluation tests.
 */
#ifndef CARA_TEST_AGENT_FIXTURE_H
#define CARA_TEST_AGENT_FIXTURE_H

#include <sqlite3.h>
#include <uv.h>

#include "agent/agent_int.h"
#include "crdt_util.h"
#include "spec_util.h"

#define AFIX_NODES_MAX 8

typedef struct afix {
    cara_agent a;
    uv_loop_t loop;
    tkey op, nodes[AFIX_NODES_MAX];
    int nodes_count;
    char dir[64];
} afix;

static inline int64_t afix_now_ms(void) { return cara_env_now_wall_ms(cara_test_env()); }

/* Merges one record through the agent (persisted, acted on); frees it. */
static inline void afix_ingest(afix *f, cara_buf *rec)
{
    bool changed = false;
    CHECK_OK(agent_ingest(&f->a, rec->data, rec->len, &changed));
    CHECK(changed);
    cara_buf_free(rec);
}

/* Runs the evaluation turns the changes asked for; returns how many
 * projects were evaluated. */
static inline uint64_t afix_settle(afix *f)
{
    cara_core_stats st;
    cara_core_stats_get(f->a.core, &st);
    uint64_t before = st.evaluations;
    for (int i = 0; i < 10; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    cara_core_stats_get(f->a.core, &st);
    return st.evaluations - before;
}

/* Node i's record: Ready or not, with an address and memory of choice. */
static inline void afix_node(afix *f, int i, cara_node_state state, const char *addr,
                             uint64_t memory_bytes, uint64_t gen)
{
    char name[16];
    snprintf(name, sizeof name, "n%d", i);
    char *addrs[] = {(char *)addr};
    cara_condition ready = {.type = "Ready", .status = CARA_COND_TRUE, .reason = "AgentRunning",
                            .message = "", .last_transition_wall_ms = 1};
    cara_node n = {.name = name, .addrs = addrs, .addrs_count = 1,
                   .capacity = {.cpu_millis = 2000, .memory_bytes = memory_bytes},
                   .state = state, .conditions = &ready, .conditions_count = 1};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&n, &v));
    trec(&rec, CARA_CRDT_NODE, name, gen, ((uint64_t)afix_now_ms() << 16) + gen, &f->nodes[i],
         v.data, v.len);
    cara_buf_free(&v);
    afix_ingest(f, &rec);
}

/* An operator-signed spec of one busybox service, generation 1. */
static inline void afix_project(afix *f, const char *name)
{
    char text[512];
    snprintf(text, sizeof text,
             "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: %s}\n"
             "spec:\n  services: [{name: web, image: busybox}]\n", name);
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(text, &d, &p));
    cara_diags_free(&d);
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_SPEC_BYTES_MAX);
    CHECK_OK(cara_project_encode(p, &v));
    cara_project_free(cara_test_env(), p);
    trec(&rec, CARA_CRDT_PROJECT, name, 1, (uint64_t)afix_now_ms() << 16, &f->op, v.data, v.len);
    cara_buf_free(&v);
    afix_ingest(f, &rec);
}

/* Opens the fixture with `nodes` admitted nodes, each with a Ready record. */
static inline void afix_open(afix *f, int nodes)
{
    CHECK(nodes > 0 && nodes <= AFIX_NODES_MAX);
    memset(f, 0, sizeof *f);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey_make(&f->op, &rng);
    f->nodes_count = nodes;
    for (int i = 0; i < nodes; i++)
        tkey_make(&f->nodes[i], &rng);
    snprintf(f->dir, sizeof f->dir, "/tmp/cara-afix-XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/state.db", f->dir);
    cara_agent *a = &f->a;
    a->env = cara_test_env();
    a->cfg.name = "observer";
    CHECK(uv_loop_init(&f->loop) == 0);
    a->loop = &f->loop;
    agent_eval_init(a);
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])f->op.pk,
                        .operator_pks_count = 1, .validate_value = cara_core_validate_value,
                        .validate_ctx = a->env};
    CHECK_OK(cara_crdt_new(&a->crdt, &cc, a->env));
    cara_core_cfg core = {.name = a->cfg.name, .node_pk = a->node_pk, .node_sk = a->node_sk,
                          .crdt = a->crdt};
    CHECK_OK(cara_core_new(&a->core, &core, a->env));
    CHECK_OK(cara_store_open(&a->store, path, a->env));
    for (int i = 0; i < nodes; i++) {
        char name[16];
        cara_buf rec;
        snprintf(name, sizeof name, "n%d", i);
        tadmission(&rec, name, 1, (uint64_t)afix_now_ms() << 16, &f->op, &f->nodes[i], true);
        afix_ingest(f, &rec);
        afix_node(f, i, CARA_NODE_READY, "100.64.0.1", 1ULL << 30, 1);
    }
    afix_settle(f);
}

/* The agent restarts as `name` with `key` (its records stay): the node
 * object is made anew for the new identity, as at a start. */
static inline void afix_become(afix *f, const char *name, const tkey *key)
{
    cara_agent *a = &f->a;
    a->cfg.name = name;
    memcpy(a->node_pk, key->pk, CARA_CRDT_PK_BYTES);
    memcpy(a->node_sk, key->sk, CARA_CRDT_SK_BYTES);
    cara_core_free(a->core);
    cara_core_cfg core = {.name = a->cfg.name, .node_pk = a->node_pk, .node_sk = a->node_sk,
                          .crdt = a->crdt};
    CHECK_OK(cara_core_new(&a->core, &core, a->env));
    cara_core_all_changed(a->core);
}

static inline void afix_close(afix *f)
{
    agent_eval_close(&f->a);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    cara_env_free(f->a.env, f->a.seen);
    cara_store_close(f->a.store);
    cara_core_free(f->a.core);
    cara_crdt_free(f->a.crdt);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    CHECK(system(cmd) == 0);
}

/* One number from the fixture's database. */
static inline long afix_rows(const afix *f, const char *sql)
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

#endif
