/*
 * The agent carrying out the node object's actions with a real reconciler
 * (its engine unreachable: nothing here needs Docker). One evaluation turn
 * that hands the reconciler several projects must not call it back from
 * inside its own status callback (reconcile.h forbids it, and asserts);
 * each project's report becomes the owner's STATUS record for the
 * generation it was handed.
 */
#include "agent/reconcile.h"
#include "agent_fixture.h"

TEST(agent_hands_several_projects_to_the_reconciler_in_one_turn)
{
    afix f;
    afix_open(&f, 1);
    afix_become(&f, "n0", &f.nodes[0]);
    afix_settle(&f);
    cara_docker *docker = NULL;
    cara_docker_config dc = {.host = "unix:///nonexistent/cara-test-engine.sock"};
    CHECK_OK(cara_docker_new(&docker, &f.loop, f.a.env, &dc));
    f.a.docker = docker;
    cara_reconciler_config rc = {.node_name = "n0", .docker = docker, .loop = &f.loop,
                                 .env = f.a.env, .on_status = agent_on_status, .ctx = &f.a};
    CHECK_OK(cara_reconciler_new(&f.a.recon, &rc));
    const char *names[] = {"p1", "p2", "p3"};
    for (size_t i = 0; i < 3; i++)
        afix_project(&f, names[i]);
    afix_settle(&f);
    afix_settle(&f);
    cara_core_stats st;
    cara_core_stats_get(f.a.core, &st);
    CHECK_INT(st.runs, ==, 3);
    for (size_t i = 0; i < 3; i++) {
        cara_crdt_record r;
        CHECK_OK(cara_crdt_get_by(f.a.crdt, CARA_CRDT_STATUS, (const uint8_t *)names[i], 2,
                                  f.nodes[0].pk, &r));
        CHECK_INT(r.generation, ==, 1);
    }
    cara_reconciler_free(f.a.recon);
    f.a.recon = NULL;
    cara_docker_free(docker);
    f.a.docker = NULL;
    afix_close(&f);
}
