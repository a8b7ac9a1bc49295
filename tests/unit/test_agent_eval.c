/*
 * The agent's evaluations cost what changed: node records are decoded once
 * per change, not once per project evaluated, and a node record that
 * changes nothing scheduling reads (an address, a republish) re-evaluates
 * no project. Drives the agent's state half (agent_state.c around the node object, src/core) on a real
 * store and crdt, with a libuv loop for its evaluation turn and no engine.
 */
#include "agent_fixture.h"

#define PROJECTS 40

/* Three admitted nodes and PROJECTS projects, evaluated once. */
static void fixture_open(afix *f)
{
    afix_open(f, 3);
    for (int i = 0; i < PROJECTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        afix_project(f, name);
    }
    afix_settle(f);
}

TEST(agent_node_change_that_scheduling_cannot_see_evaluates_no_project)
{
    afix f;
    fixture_open(&f);
    /* A new address: the scheduler reads names, readiness, labels and
     * capacity, none of which changed. */
    afix_node(&f, 1, CARA_NODE_READY, "100.64.0.2", 1ULL << 30, 2);
    CHECK_INT(afix_settle(&f), ==, 0);
    /* More memory: every project's placement may change. */
    afix_node(&f, 1, CARA_NODE_READY, "100.64.0.2", 2ULL << 30, 3);
    CHECK_INT(afix_settle(&f), ==, PROJECTS);
    afix_close(&f);
}

TEST(agent_project_change_evaluates_that_project_only)
{
    afix f;
    fixture_open(&f);
    int64_t now = cara_env_now_wall_ms(cara_test_env());
    cara_buf rec;
    trec(&rec, CARA_CRDT_TOMBSTONE, "p7", 2, (uint64_t)now << 16, &f.op, NULL, 0);
    afix_ingest(&f, &rec);
    CHECK_INT(afix_settle(&f), ==, 1);
    afix_close(&f);
}

TEST(agent_collected_delete_leaves_only_a_floor_in_memory_and_on_disk)
{
    afix f;
    fixture_open(&f);
    long before = afix_rows(&f, "SELECT count(*) FROM state_records");
    /* n0 reported on p7 (a status and a placement), then p7 was deleted
     * long ago: a tombstone older than the horizon arrives late. */
    int64_t now = cara_env_now_wall_ms(cara_test_env());
    cara_project_status st = {.phase = CARA_PHASE_RUNNING, .node_ref = "n0"};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_STATUS_BYTES_MAX);
    CHECK_OK(cara_project_status_encode(&st, &v));
    trec(&rec, CARA_CRDT_STATUS, "p7", 1, (uint64_t)now << 16, &f.nodes[0], v.data, v.len);
    afix_ingest(&f, &rec);
    trec(&rec, CARA_CRDT_PLACEMENT, "p7", 1, (uint64_t)now << 16, &f.nodes[0], v.data, v.len);
    afix_ingest(&f, &rec);
    cara_buf_free(&v);
    CHECK_INT(afix_rows(&f, "SELECT count(*) FROM state_records"), ==, before + 2);
    int64_t old = now - CARA_CRDT_TOMBSTONE_HORIZON_MS_DEFAULT - 1000;
    trec(&rec, CARA_CRDT_TOMBSTONE, "p7", 2, (uint64_t)old << 16, &f.op, NULL, 0);
    afix_ingest(&f, &rec);
    cara_crdt_record r;
    CHECK_RC(cara_crdt_get(f.a.crdt, CARA_CRDT_PROJECT, (const uint8_t *)"p7", 2, &r), CARA_ENOENT);
    CHECK_RC(cara_crdt_get_by(f.a.crdt, CARA_CRDT_STATUS, (const uint8_t *)"p7", 2, f.nodes[0].pk, &r),
             CARA_ENOENT);
    /* The spec, the status and the placement left the disk too. */
    CHECK_INT(afix_rows(&f, "SELECT count(*) FROM state_records"), ==, before - 1);
    CHECK_INT(afix_rows(&f, "SELECT count(*) FROM state_floors"), ==, 1);
    afix_close(&f);
}
