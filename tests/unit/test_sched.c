/* Rendezvous scheduler election and placement. */
#include "harness.h"
#include "sched/sched.h"

#define NODES 7

static void make_nodes(cara_sched_node *nodes, char names[][16], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], 16, "node-%zu", i);
        nodes[i] = (cara_sched_node){.name = names[i], .ready = true, .schedulable = true};
    }
}

TEST(scheduler_choice_does_not_depend_on_node_order)
{
    cara_sched_node nodes[NODES], shuffled[NODES];
    char names[NODES][16];
    make_nodes(nodes, names, NODES);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    for (int round = 0; round < 200; round++) {
        memcpy(shuffled, nodes, sizeof nodes);
        for (size_t i = NODES - 1; i > 0; i--) {
            size_t j = cara_rng_below(&rng, i + 1);
            cara_sched_node t = shuffled[i];
            shuffled[i] = shuffled[j];
            shuffled[j] = t;
        }
        char project[32];
        snprintf(project, sizeof project, "p-%d", round);
        int a = cara_sched_scheduler_of(project, nodes, NODES);
        int b = cara_sched_scheduler_of(project, shuffled, NODES);
        CHECK(a >= 0 && b >= 0);
        CHECK_STR(nodes[a].name, shuffled[b].name);
    }
}

TEST(removing_a_node_moves_only_the_projects_it_scheduled)
{
    cara_sched_node nodes[NODES];
    char names[NODES][16];
    make_nodes(nodes, names, NODES);
    int moved = 0, owned_by_removed = 0;
    const int projects = 2000;
    for (int p = 0; p < projects; p++) {
        char project[32];
        snprintf(project, sizeof project, "proj-%d", p);
        int before = cara_sched_scheduler_of(project, nodes, NODES);
        nodes[3].ready = false;
        int after = cara_sched_scheduler_of(project, nodes, NODES);
        nodes[3].ready = true;
        if (before == 3)
            owned_by_removed++;
        else
            CHECK_INT(after, ==, before); /* nobody else's projects move */
        moved += before != after;
    }
    CHECK_INT(moved, ==, owned_by_removed);
    /* Spread: each node schedules about 1/7 of the projects. */
    CHECK(owned_by_removed > projects / NODES / 2 && owned_by_removed < projects * 2 / NODES);
}

TEST(no_ready_node_means_no_scheduler)
{
    cara_sched_node nodes[2];
    char names[2][16];
    make_nodes(nodes, names, 2);
    nodes[0].ready = nodes[1].ready = false;
    CHECK_INT(cara_sched_scheduler_of("p", nodes, 2), ==, -1);
    CHECK_INT(cara_sched_scheduler_of("p", nodes, 0), ==, -1);
}

TEST(placement_honours_selector_readiness_cordon_and_capacity)
{
    cara_sched_node nodes[4];
    char names[4][16];
    make_nodes(nodes, names, 4);
    cara_kv ssd = {"disk", "ssd"}, hdd = {"disk", "hdd"};
    nodes[0].ready = false;
    nodes[0].labels = &ssd, nodes[0].labels_count = 1;
    nodes[1].schedulable = false;
    nodes[1].labels = &ssd, nodes[1].labels_count = 1;
    nodes[2].labels = &hdd, nodes[2].labels_count = 1;
    nodes[3].labels = &ssd, nodes[3].labels_count = 1;
    nodes[3].capacity.memory_bytes = 1 << 30;
    nodes[3].allocated.memory_bytes = (1 << 30) - (64 << 20);
    cara_service svc = {.name = "s", .resources = {.memory_bytes = 32 << 20}};
    cara_project p = {.name = "p", .services = &svc, .services_count = 1,
                      .node_selector = &ssd, .node_selector_count = 1};
    cara_sched_verdict v = cara_sched_place(&p, nodes, 4);
    CHECK_INT(v.index, ==, 3); /* the only ready, schedulable ssd node with room */
    svc.resources.memory_bytes = 128 << 20;
    v = cara_sched_place(&p, nodes, 4);
    CHECK_INT(v.index, ==, -1);
    CHECK_INT(v.not_ready, ==, 1);
    CHECK_INT(v.unschedulable, ==, 1);
    CHECK_INT(v.selector_mismatch, ==, 1);
    CHECK_INT(v.insufficient, ==, 1);
    char why[256];
    cara_sched_explain(&v, 4, why, sizeof why);
    CHECK_STR(why, "0 of 4 nodes fit: 1 not ready, 1 unschedulable, 1 do not match the node "
                   "selector, 1 lack cpu or memory");
}
