/*
 * The world simnet simulates, tested on its own (tests/sim/simnet.h): the
 * latency distributions, the disks (unsynced writes lost in a crash, bit
 * rot, restart from what was synced), the clocks (drift, jumps, skew),
 * pauses, dead links and the address and name maps. Every run is seeded
 * from cara_test_seed().
 */
#include <math.h>

#include "../sim/simnet.h"
#include "harness.h"

static sim *make(size_t n, const sim_store_cfg *store, uint64_t mix)
{
    sim_cfg cfg = {.nodes_count = n, .seed = cara_test_seed() ^ mix,
                   .link = {.latency_min_ms = 1, .latency_max_ms = 10,
                            .stream_bytes_per_ms = 12500},
                   .env = cara_test_env()};
    if (store != NULL)
        cfg.store = *store;
    cara_gossip_cfg_lan(&cfg.gossip);
    sim *s = NULL;
    CHECK_OK(sim_new(&s, &cfg));
    return s;
}

static bool holds(sim *s, size_t i, const char *key)
{
    cara_crdt_record r;
    return cara_crdt_get(sim_crdt(s, i), CARA_CRDT_PROJECT, (const uint8_t *)key, strlen(key),
                         &r) == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- Latency ---------------------------------------------------------------------- */

static uint64_t median_of(sim *s, const sim_link_cfg *l, uint64_t *lo, uint64_t *hi)
{
    enum { DRAWS = 20001 };
    static uint64_t v[DRAWS];
    CHECK_OK(sim_link_set(s, 0, 1, l));
    for (size_t k = 0; k < DRAWS; k++)
        v[k] = sim_latency_draw(s, 0, 1);
    qsort(v, DRAWS, sizeof v[0], cmp_u64);
    *lo = v[0];
    *hi = v[DRAWS - 1];
    return v[DRAWS / 2];
}

TEST(simnet_latency_distributions_stay_within_their_bounds_and_have_their_median)
{
    sim *s = make(2, NULL, 1);
    struct {
        sim_link_cfg l;
        double median;
    } cases[] = {
        {{.latency_dist = SIM_LAT_UNIFORM, .latency_min_ms = 10, .latency_max_ms = 30}, 20},
        {{.latency_dist = SIM_LAT_NORMAL, .latency_min_ms = 1, .latency_max_ms = 200,
          .latency_mean_ms = 50, .latency_sd_ms = 10}, 50},
        /* min + (mean - min) ln 2 */
        {{.latency_dist = SIM_LAT_EXPONENTIAL, .latency_min_ms = 10, .latency_max_ms = 500,
          .latency_mean_ms = 30}, 10 + 20 * M_LN2},
        {{.latency_dist = SIM_LAT_LOGNORMAL, .latency_min_ms = 1, .latency_max_ms = 1000,
          .latency_mean_ms = 20, .latency_shape_milli = 600}, 20},
        /* scale * 2^(1 / alpha) */
        {{.latency_dist = SIM_LAT_PARETO, .latency_min_ms = 5, .latency_max_ms = 2000,
          .latency_shape_milli = 1500}, 5 * pow(2, 1 / 1.5)},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint64_t lo, hi;
        uint64_t med = median_of(s, &cases[k].l, &lo, &hi);
        CHECK_INT(lo, >=, cases[k].l.latency_min_ms);
        CHECK_INT(hi, <=, cases[k].l.latency_max_ms);
        /* Whole milliseconds: the median within 1.5 ms of the formula's. */
        CHECK(fabs((double)med - cases[k].median) <= 1.5);
    }
    /* A heavy tail reaches far: the Pareto's largest draw is many medians. */
    uint64_t lo, hi;
    (void)median_of(s, &cases[4].l, &lo, &hi);
    CHECK_INT(hi, >, 100);
    sim_free(s);
}

/* ---- Disks ------------------------------------------------------------------------- */

static void publish_then_crash(const sim_store_cfg *st, bool kept)
{
    sim *s = make(3, st, 2);
    CHECK_OK(sim_boot(s));
    sim_run_for(s, 2000);
    char value[100];
    memset(value, 'v', sizeof value);
    CHECK_OK(sim_publish(s, 0, CARA_CRDT_PROJECT, "w", 1, value, sizeof value, false, NULL));
    CHECK(holds(s, 0, "w"));
    sim_stats a;
    sim_stats_get(s, &a);
    sim_crash(s, 0);
    sim_stats b;
    sim_stats_get(s, &b);
    /* What node 0's state will be when it starts again. */
    CHECK(holds(s, 0, "w") == kept);
    if (!kept)
        CHECK_INT(b.writes_lost, >, a.writes_lost);
    /* It starts from its disk either way (the admissions were installed,
     * and an installer's writes are synced) and gets "w" back from a peer. */
    /* A restart takes a moment: the pushes node 0 sent before dying land
     * first (a datagram of its last life that arrived after the first of
     * its new one would be refused as too old, and "w" lost everywhere). */
    sim_run_for(s, 1000);
    CHECK_OK(sim_start(s, 0));
    CHECK_INT(sim_add_known_members(s, 0), ==, 2);
    sim_run_for(s, 30000);
    CHECK(holds(s, 0, "w"));
    CHECK(sim_converged(s));
    sim_free(s);
}

TEST(simnet_crash_keeps_writes_synced_before_send_and_loses_those_a_lagging_or_absent_sync_had_not_made)
{
    sim_store_cfg before = {.sync = SIM_SYNC_BEFORE_SEND};
    sim_store_cfg interval = {.sync = SIM_SYNC_INTERVAL, .sync_interval_ms = 60000};
    sim_store_cfg never = {.sync = SIM_SYNC_NEVER};
    publish_then_crash(&before, true);
    publish_then_crash(&interval, false);
    publish_then_crash(&never, false);
}

static int count_bad(void *ctx, const uint8_t *b, size_t len)
{
    cara_crdt_record r;
    if (cara_crdt_record_decode(b, len, &r) != 0 || cara_crdt_record_verify(&r) != 0)
        ++*(size_t *)ctx;
    return 0;
}

static int count_all(void *ctx, const uint8_t *b, size_t len)
{
    (void)b, (void)len;
    ++*(size_t *)ctx;
    return 0;
}

TEST(simnet_disk_with_bit_rot_stores_records_that_fail_and_a_restart_refuses_them)
{
    sim_store_cfg rot = {.sync = SIM_SYNC_BEFORE_SEND, .corrupt_ppm = SIM_PPM};
    sim *s = make(3, &rot, 3);
    CHECK_OK(sim_admit_all(s));
    size_t bad = 0, all = 0;
    CHECK_OK(sim_disk_foreach(s, 1, count_bad, &bad));
    CHECK_OK(sim_disk_foreach(s, 1, count_all, &all));
    CHECK_INT(all, ==, 3);
    CHECK_INT(bad, ==, all);
    /* In memory the state is sound until the process dies; then it is
     * rebuilt from a disk whose every record fails to verify. */
    CHECK_INT(cara_crdt_admitted_count(sim_crdt(s, 1)), ==, 3);
    CHECK_OK(sim_start(s, 1));
    sim_crash(s, 1);
    sim_stats st;
    sim_stats_get(s, &st);
    CHECK_INT(st.restart_records_refused, ==, 3);
    CHECK_INT(cara_crdt_admitted_count(sim_crdt(s, 1)), ==, 0);
    sim_free(s);
}

/* ---- Clocks and pauses ------------------------------------------------------------- */

static bool all_alive(sim *s, void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < sim_nodes_count(s); i++)
        for (size_t j = 0; j < sim_nodes_count(s); j++)
            if (i != j && sim_member_state(s, i, j) != CARA_GOSSIP_ALIVE)
                return false;
    return true;
}

TEST(simnet_drifting_clocks_run_at_their_rate_jumps_move_the_wall_clock_only)
{
    sim *s = make(4, NULL, 4);
    CHECK_OK(sim_boot(s));
    CHECK(sim_run_until_cond(s, sim_now(s) + 30000, 10, all_alive, NULL));
    uint64_t m0 = sim_mono(s, 1), m2 = sim_mono(s, 2), t0 = sim_now(s);
    int64_t w0 = sim_wall(s, 1);
    sim_set_drift(s, 1, 100000);  /* 10 % fast */
    sim_set_drift(s, 2, -100000); /* 10 % slow */
    sim_run_for(s, 20000);
    CHECK_INT(sim_mono(s, 1) - m0, ==, 22000);
    CHECK_INT(sim_mono(s, 2) - m2, ==, 18000);
    CHECK_INT(sim_wall(s, 1) - w0, ==, 22000);
    CHECK_INT(sim_skew(s, 1), ==, 2000);
    /* A jump moves the wall clock at once and never the monotonic one. */
    uint64_t m1 = sim_mono(s, 1);
    sim_clock_jump(s, 1, -30000);
    CHECK_INT(sim_skew(s, 1), ==, -28000);
    CHECK_INT(sim_mono(s, 1), ==, m1);
    sim_set_skew(s, 1, 0);
    CHECK_INT(sim_skew(s, 1), ==, 0);
    /* Timers keep firing on the node's own clock: nobody is suspected, and
     * no deadline is left behind. */
    sim_run_for(s, 30000);
    CHECK(all_alive(s, NULL));
    sim_stats st;
    sim_stats_get(s, &st);
    CHECK_INT(st.late_deadlines, ==, 0);
    CHECK_INT(sim_now(s) - t0, ==, 50000);
    sim_free(s);
}

TEST(simnet_paused_node_is_not_driven_then_handles_what_waited_and_refutes)
{
    sim *s = make(5, NULL, 5);
    CHECK_OK(sim_boot(s));
    CHECK(sim_run_until_cond(s, sim_now(s) + 30000, 10, all_alive, NULL));
    cara_gossip_stats before;
    cara_gossip_stats_get(sim_gossip(s, 2), &before);
    uint64_t m = sim_mono(s, 2);
    sim_pause(s, 2, sim_now(s) + 25000);
    sim_run_for(s, 24000);
    CHECK(sim_paused(s, 2));
    cara_gossip_stats during;
    cara_gossip_stats_get(sim_gossip(s, 2), &during);
    CHECK_INT(during.datagrams_in, ==, before.datagrams_in); /* not driven */
    CHECK(sim_member_state(s, 0, 2) != CARA_GOSSIP_ALIVE);   /* the others noticed */
    sim_run_for(s, 2000);
    CHECK(!sim_paused(s, 2));
    CHECK_INT(sim_mono(s, 2) - m, ==, 26000); /* its clock ran meanwhile */
    cara_gossip_stats after;
    cara_gossip_stats_get(sim_gossip(s, 2), &after);
    CHECK_INT(after.datagrams_in, >, during.datagrams_in + 10); /* what waited came in */
    CHECK(sim_run_until_cond(s, sim_now(s) + 60000, 10, all_alive, NULL));
    sim_stats st;
    sim_stats_get(s, &st);
    CHECK_INT(st.datagrams_paused_lost, ==, 0);
    sim_free(s);
}

/* ---- Links, addresses and names ----------------------------------------------------- */

TEST(simnet_down_link_passes_nothing_and_is_no_cut)
{
    sim *s = make(3, NULL, 6);
    CHECK_OK(sim_boot(s));
    CHECK(sim_run_until_cond(s, sim_now(s) + 30000, 10, all_alive, NULL));
    sim_link_cfg l = sim_link(s, 0, 1);
    l.down = true;
    CHECK_OK(sim_link_set(s, 0, 1, &l));
    CHECK(!sim_is_cut(s, 0, 1));
    CHECK_INT(sim_cuts_of(s, 0), ==, 0);
    sim_stats a, b;
    sim_stats_get(s, &a);
    sim_run_for(s, 5000);
    sim_stats_get(s, &b);
    CHECK_INT(b.datagrams_cut, >, a.datagrams_cut);
    /* Node 0 can still reach 1 through 2 (indirect probes): nobody dies. */
    sim_run_for(s, 30000);
    CHECK_INT(sim_member_state(s, 2, 0), ==, CARA_GOSSIP_ALIVE);
    sim_free(s);
}

TEST(simnet_every_address_and_name_maps_back_to_its_node)
{
    sim *s = make(SIM_NODES_MAX, NULL, 7);
    for (size_t i = 0; i < SIM_NODES_MAX; i++) {
        cara_gossip_addr a = sim_addr(i);
        CHECK_INT(sim_node_of_addr(&a), ==, (int)i);
        const char *name = sim_name(s, i);
        CHECK_INT(sim_node_of_name(s, name, strlen(name)), ==, (int)i);
    }
    cara_gossip_addr bad = sim_addr(3);
    bad.bytes[5]++;
    CHECK_INT(sim_node_of_addr(&bad), ==, -1);
    CHECK_INT(sim_node_of_name(s, "n3", 2), ==, -1);
    CHECK_INT(sim_node_of_name(s, "n9999", 5), ==, -1);
    sim_free(s);
}
