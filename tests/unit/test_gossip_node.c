/*
 * The gossip node object (src/gossip/gossip.h) in whole clusters, through
 * the deterministic harness tests/sim/simnet.c: dissemination, failure
 * detection, anti-entropy, acknowledgements, joining, hostile input and
 * determinism. Every run is seeded from cara_test_seed() (the harness
 * prints the seed on failure; CARA_TEST_SEED replays it). Set
 * CARA_TEST_VERBOSE to see the measured numbers.
 */
#include <math.h>
#include <stdarg.h>

#include "../sim/simnet.h"
#include "gossip/seal_int.h"
#include "gossip/wire_int.h"
#include "harness.h"

#define PERIOD_MS 1000
/* The largest cluster these tests build: the watch tables are sized by it. */
#define NODES_MAX 64
#define NEVER SIM_NEVER

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (!getenv("CARA_TEST_VERBOSE"))
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- What the tests watch -------------------------------------------------------- */

typedef struct watch {
    size_t n;
    uint64_t suspect_ms[NODES_MAX][NODES_MAX]; /* first, [observer][subject] */
    uint64_t dead_ms[NODES_MAX][NODES_MAX];
    uint64_t alive_ms[NODES_MAX][NODES_MAX];   /* last ALIVE event */
    uint64_t suspect_events, dead_events;
    uint32_t acked_holders_max;
    uint64_t acked_events;
    uint64_t joined[NODES_MAX], join_refused[NODES_MAX];
    int32_t join_refused_reason[NODES_MAX];
    uint64_t refused_join[NODES_MAX], welcomed[NODES_MAX];
    int32_t refused_join_reason[NODES_MAX];
    uint64_t synced[NODES_MAX], synced_applied[NODES_MAX];
    /* Datagram capture (hostile input): the first datagram from `cap_from`
     * to `cap_to` once `cap_armed`. */
    bool cap_armed, cap_done;
    int cap_from, cap_to;
    uint8_t cap[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    size_t cap_len;
} watch;

static int index_of_name(const sim *s, const char *name)
{
    for (size_t i = 0; i < sim_nodes_count(s); i++)
        if (strcmp(sim_name(s, i), name) == 0)
            return (int)i;
    return -1;
}

static void on_event(void *ctx, sim *s, int node, const cara_gossip_event *ev)
{
    watch *w = ctx;
    int subj = index_of_name(s, ev->name);
    uint64_t now = sim_now(s);
    switch (ev->kind) {
    case CARA_GOSSIP_EV_MEMBER:
        CHECK(subj >= 0);
        if (ev->state == CARA_GOSSIP_SUSPECT) {
            w->suspect_events++;
            if (w->suspect_ms[node][subj] == NEVER)
                w->suspect_ms[node][subj] = now;
        } else if (ev->state == CARA_GOSSIP_DEAD) {
            w->dead_events++;
            if (w->dead_ms[node][subj] == NEVER)
                w->dead_ms[node][subj] = now;
        } else if (ev->state == CARA_GOSSIP_ALIVE) {
            w->alive_ms[node][subj] = now;
        }
        break;
    case CARA_GOSSIP_EV_ACKED:
        w->acked_events++;
        if (ev->holders > w->acked_holders_max)
            w->acked_holders_max = ev->holders;
        break;
    case CARA_GOSSIP_EV_JOINED: w->joined[node]++; break;
    case CARA_GOSSIP_EV_JOIN_REFUSED:
        w->join_refused[node]++;
        w->join_refused_reason[node] = ev->reason;
        say("    %s: join refused (%s): %s\n", sim_name(s, node), cara_errname(ev->reason),
            ev->text);
        break;
    case CARA_GOSSIP_EV_REFUSED_JOIN:
        w->refused_join[node]++;
        w->refused_join_reason[node] = ev->reason;
        break;
    case CARA_GOSSIP_EV_WELCOMED: w->welcomed[node]++; break;
    case CARA_GOSSIP_EV_SYNCED:
        w->synced[node]++;
        w->synced_applied[node] += ev->applied;
        break;
    }
}

static bool on_datagram(void *ctx, sim *s, int from, int to, const uint8_t *b, size_t len)
{
    (void)s;
    watch *w = ctx;
    if (w->cap_armed && !w->cap_done && from == w->cap_from && to == w->cap_to) {
        memcpy(w->cap, b, len);
        w->cap_len = len;
        w->cap_done = true;
        return false; /* held back: the test delivers it */
    }
    return true;
}

static void watch_reset(watch *w, size_t n)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    memset(w->suspect_ms, 0xff, sizeof w->suspect_ms);
    memset(w->dead_ms, 0xff, sizeof w->dead_ms);
    memset(w->alive_ms, 0xff, sizeof w->alive_ms);
}

/* A cluster of n nodes on a LAN-like network: 1-10 ms, no loss, 100 Mbit/s
 * streams. `seed_mix` separates the sims of one test. */
static sim *cluster(size_t n, uint64_t seed_mix, watch *w)
{
    sim_cfg cfg = {.nodes_count = n, .seed = cara_test_seed() ^ seed_mix,
                   .link = {.latency_min_ms = 1, .latency_max_ms = 10,
                            .stream_bytes_per_ms = 12500},
                   .env = cara_test_env()};
    cara_gossip_cfg_lan(&cfg.gossip);
    sim *s = NULL;
    CHECK_OK(sim_new(&s, &cfg));
    watch_reset(w, n);
    sim_set_taps(s, on_datagram, on_event, w);
    return s;
}

static bool all_see_all_alive(sim *s, void *ctx)
{
    (void)ctx;
    size_t n = sim_nodes_count(s);
    for (size_t i = 0; i < n; i++) {
        cara_gossip *g = sim_gossip(s, i);
        if (g == NULL)
            continue;
        cara_gossip_stats st;
        cara_gossip_stats_get(g, &st);
        size_t up = 0;
        for (size_t j = 0; j < n; j++)
            up += sim_up(s, j);
        if (st.members_by_state[CARA_GOSSIP_ALIVE] != up)
            return false;
    }
    return true;
}

static bool converged(sim *s, void *ctx)
{
    (void)ctx;
    return sim_converged(s);
}

/* Boots n nodes through node 0 and waits until everyone sees everyone. */
static sim *booted(size_t n, uint64_t seed_mix, watch *w, uint64_t *boot_ms)
{
    sim *s = cluster(n, seed_mix, w);
    CHECK_OK(sim_boot(s));
    uint64_t t0 = sim_now(s);
    bool ok = sim_run_until_cond(s, t0 + 60 * PERIOD_MS, 10, all_see_all_alive, NULL);
    if (!ok) {
        for (size_t i = 0; i < n; i++) {
            cara_gossip_stats st;
            cara_gossip_stats_get(sim_gossip(s, i), &st);
            say("  %s: alive %zu suspect %zu dead %zu; dgrams in %llu out %llu; drops",
                sim_name(s, i), st.members_by_state[1], st.members_by_state[2],
                st.members_by_state[3], (unsigned long long)st.datagrams_in,
                (unsigned long long)st.datagrams_out);
            for (int d = 0; d < CARA_GOSSIP_DROP_COUNT_; d++)
                say(" %s=%llu", cara_gossip_drop_name(d), (unsigned long long)st.dropped[d]);
            say("\n");
        }
    }
    CHECK(ok);
    if (boot_ms != NULL)
        *boot_ms = sim_now(s) - t0;
    return s;
}

static void check_datagrams_fit(const sim *s)
{
    sim_stats st;
    sim_stats_get(s, &st);
    CHECK_INT(st.datagrams_oversized, ==, 0);
    CHECK_INT(st.datagram_bytes_max, <=, CARA_GOSSIP_DATAGRAM_BYTES_MAX);
    CHECK_INT(st.late_deadlines, ==, 0);
}

static bool holds_project(sim *s, size_t i, const char *key)
{
    cara_crdt_record r;
    return cara_crdt_get(sim_crdt(s, i), CARA_CRDT_PROJECT, (const uint8_t *)key, strlen(key),
                         &r) == 0;
}

/* ---- (1) Dissemination ------------------------------------------------------------- */

static void spread_one(size_t n, uint64_t bound_ms)
{
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    uint64_t boot_ms = 0;
    sim *s = booted(n, 1, w, &boot_ms);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    size_t at = (size_t)cara_rng_below(&rng, n);
    char value[200];
    memset(value, 'v', sizeof value);
    uint64_t t0 = sim_now(s);
    CHECK_OK(sim_publish(s, at, CARA_CRDT_PROJECT, "web", 1, value, sizeof value, false, NULL));
    CHECK(sim_run_until_cond(s, t0 + bound_ms, 1, converged, NULL));
    uint64_t took_ms = sim_now(s) - t0;
    for (size_t i = 0; i < n; i++)
        CHECK(holds_project(s, i, "web"));
    uint64_t piggybacked = 0, pushed = 0, synced = 0;
    for (size_t i = 0; i < n; i++) {
        cara_gossip_stats st;
        cara_gossip_stats_get(sim_gossip(s, i), &st);
        piggybacked += st.records_piggybacked;
        pushed += st.records_pushed;
        synced += st.sync_records_applied;
        CHECK_INT(st.dropped[CARA_GOSSIP_DROP_MALFORMED], ==, 0);
        CHECK_INT(st.dropped[CARA_GOSSIP_DROP_BADTAG], ==, 0);
        CHECK_INT(st.dropped[CARA_GOSSIP_DROP_NOTADMITTED], ==, 0);
    }
    say("  N=%zu: all alive after %llu ms; record from n%02zu everywhere after %llu ms "
        "(%.1f probe periods); %llu pushes, %llu piggybacks, %llu by anti-entropy\n",
        n, (unsigned long long)boot_ms, at, (unsigned long long)took_ms,
        (double)took_ms / PERIOD_MS, (unsigned long long)pushed,
        (unsigned long long)piggybacked, (unsigned long long)synced);
    CHECK_INT(w->suspect_events, ==, 0);
    check_datagrams_fit(s);
    sim_free(s);
    free(w);
}

/* Bound: three pushes at once, then every node that learns the record
 * piggybacks it on its next messages (a few a period), so an epidemic
 * covers 32 nodes in a handful of periods; anti-entropy (10 s +- 25 %)
 * would take longer, so a pass within these bounds is the epidemic's. */
TEST(gossip_node_record_published_at_one_of_five_reaches_all_and_hashes_converge)
{
    spread_one(5, 5 * PERIOD_MS);
}

TEST(gossip_node_record_published_at_one_of_thirty_two_reaches_all_and_hashes_converge)
{
    spread_one(32, 7 * PERIOD_MS);
}

/* ---- (1b) Lazy push: bytes of a burst, and propagation ------------------------------ */

typedef struct burst_result {
    uint64_t quiet_bytes;       /* datagram + stream bytes of a quiet window, all nodes */
    uint64_t burst_bytes;       /* the same window length, starting with the burst */
    uint64_t burst_converged_ms;
    uint64_t spread_ms[20]; /* one record at a time, SPREAD_ROUNDS, sorted */
    uint64_t spread_ms_median, spread_ms_max;
    uint64_t ihaves, pulls, pulled, piggybacked;
} burst_result;

/* Long enough for every queue to drain after the burst. */
#define BURST_WINDOW_MS (40 * PERIOD_MS)
#define BURST_VALUE_BYTES 600 /* a record of about 700 bytes: a node record's size */
#define SPREAD_ROUNDS 20 /* even */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t wire_bytes(const sim *s)
{
    sim_stats st;
    sim_stats_get(s, &st);
    return st.datagram_bytes + st.stream_bytes;
}

/* 99 % of the burst's (node, record) pairs held: the epidemic's work. The
 * last few pairs are its residue, the same with or without the lazy push
 * (a node that no piggyback of a record happened to reach, about e^-8 of
 * the pairs), which anti-entropy mends within its interval. */
static bool burst_nearly_held(sim *s, void *ctx)
{
    (void)ctx;
    size_t n = sim_nodes_count(s), held = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            char key[32];
            snprintf(key, sizeof key, "burst-%02zu", j);
            held += holds_project(s, i, key);
        }
    return held * 100 >= n * n * 99;
}

static bool all_hold(sim *s, void *ctx)
{
    for (size_t i = 0; i < sim_nodes_count(s); i++)
        if (!holds_project(s, i, ctx))
            return false;
    return true;
}

/* N nodes: a quiet window, then every node publishes one record at once
 * (the agents' republished node records after an engine stall), then
 * SPREAD_ROUNDS records one at a time from random nodes, each timed until
 * the last node holds it. `eager` is eager_transmits (0: the default). */
static void burst_run(size_t n, uint32_t eager, uint64_t seed_mix, burst_result *out)
{
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim_cfg cfg = {.nodes_count = n, .seed = cara_test_seed() ^ seed_mix,
                   .link = {.latency_min_ms = 1, .latency_max_ms = 10,
                            .stream_bytes_per_ms = 12500},
                   .env = cara_test_env()};
    cfg.gossip.eager_transmits = eager;
    cara_gossip_cfg_lan(&cfg.gossip);
    sim *s = NULL;
    CHECK_OK(sim_new(&s, &cfg));
    watch_reset(w, n);
    sim_set_taps(s, on_datagram, on_event, w);
    CHECK_OK(sim_boot(s));
    CHECK(sim_run_until_cond(s, sim_now(s) + 60 * PERIOD_MS, 10, all_see_all_alive, NULL));
    sim_run_for(s, 20 * PERIOD_MS); /* samples and joins settle */
    *out = (burst_result){0};
    uint64_t b0 = wire_bytes(s);
    sim_run_for(s, BURST_WINDOW_MS);
    out->quiet_bytes = wire_bytes(s) - b0;
    char value[BURST_VALUE_BYTES];
    memset(value, 'n', sizeof value);
    b0 = wire_bytes(s);
    uint64_t t0 = sim_now(s);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "burst-%02zu", i);
        CHECK_OK(sim_publish(s, i, CARA_CRDT_PROJECT, key, 1, value, sizeof value, false, NULL));
    }
    bool ok = sim_run_until_cond(s, t0 + BURST_WINDOW_MS, 1, burst_nearly_held, NULL);
    if (!ok) {
        for (size_t i = 0; i < n; i++) {
            cara_gossip_stats st;
            cara_gossip_stats_get(sim_gossip(s, i), &st);
            size_t held = 0;
            for (size_t k = 0; k < n; k++) {
                char key[32];
                snprintf(key, sizeof key, "burst-%02zu", k);
                held += holds_project(s, i, key);
            }
            fprintf(stderr, "  n%02zu holds %zu; ihaves in %llu out %llu pulls %llu answered %llu "
                    "timed out %llu pulled %llu over budget %llu full %llu\n", i, held,
                    (unsigned long long)st.ihaves_received, (unsigned long long)st.ihaves_sent,
                    (unsigned long long)st.pulls_sent, (unsigned long long)st.pull_records_sent,
                    (unsigned long long)st.pulls_timed_out, (unsigned long long)st.records_pulled,
                    (unsigned long long)st.pull_answers_over_budget,
                    (unsigned long long)st.dropped[CARA_GOSSIP_DROP_FULL]);
        }
    }
    CHECK(ok);
    out->burst_converged_ms = sim_now(s) - t0;
    sim_run_until(s, t0 + BURST_WINDOW_MS);
    CHECK(sim_converged(s)); /* anti-entropy has mended the residue */
    out->burst_bytes = wire_bytes(s) - b0;
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed() ^ seed_mix ^ 0x5eed);
    for (int r = 0; r < SPREAD_ROUNDS; r++) {
        char key[32];
        snprintf(key, sizeof key, "spread-%02d", r);
        size_t at = (size_t)cara_rng_below(&rng, n);
        t0 = sim_now(s);
        CHECK_OK(sim_publish(s, at, CARA_CRDT_PROJECT, key, 1, value, sizeof value, false, NULL));
        CHECK(sim_run_until_cond(s, t0 + 10 * PERIOD_MS, 1, all_hold, key));
        out->spread_ms[r] = sim_now(s) - t0;
        sim_run_for(s, 2 * PERIOD_MS);
    }
    qsort(out->spread_ms, SPREAD_ROUNDS, sizeof out->spread_ms[0], cmp_u64);
    out->spread_ms_median = (out->spread_ms[SPREAD_ROUNDS / 2 - 1] + out->spread_ms[SPREAD_ROUNDS / 2]) / 2;
    out->spread_ms_max = out->spread_ms[SPREAD_ROUNDS - 1];
    for (size_t i = 0; i < n; i++) {
        cara_gossip_stats st;
        cara_gossip_stats_get(sim_gossip(s, i), &st);
        out->ihaves += st.ihaves_sent;
        out->pulls += st.pulls_sent;
        out->pulled += st.records_pulled;
        out->piggybacked += st.records_piggybacked;
        CHECK_INT(st.dropped[CARA_GOSSIP_DROP_MALFORMED], ==, 0);
        CHECK_INT(st.dropped[CARA_GOSSIP_DROP_FULL], ==, 0);
    }
    CHECK_INT(w->suspect_events, ==, 0);
    check_datagrams_fit(s);
    sim_free(s);
    free(w);
}

static void burst_say(const char *what, size_t n, const burst_result *r)
{
    double per = (double)(r->burst_bytes - r->quiet_bytes) / (double)(n * n);
    say("  %s: quiet %llu B, burst %llu B in %u s (%.0f B per record per node), 99 %% held "
        "after %llu ms; one record everywhere after %llu ms (median of %d), %llu at most; "
        "%llu whole piggybacks, %llu adverts, %llu pulls, %llu records pulled\n",
        what, (unsigned long long)r->quiet_bytes, (unsigned long long)r->burst_bytes,
        BURST_WINDOW_MS / 1000, per, (unsigned long long)r->burst_converged_ms,
        (unsigned long long)r->spread_ms_median, SPREAD_ROUNDS, (unsigned long long)r->spread_ms_max,
        (unsigned long long)r->piggybacked, (unsigned long long)r->ihaves,
        (unsigned long long)r->pulls, (unsigned long long)r->pulled);
}

/* The lazy push's claim, counted: a burst of N new records across N = 32
 * nodes costs well under half the bytes of spreading every record whole
 * on all its lambda log N piggybacks (eager_transmits past the limit is
 * the behaviour before the lazy push), and a single record reaches the
 * last node about as fast. Same seed, same network, both ways. */
TEST(gossip_node_burst_of_records_costs_under_half_the_bytes_with_lazy_push_and_spreads_as_fast)
{
    const size_t n = 32;
    burst_result lazy, whole;
    burst_run(n, 0, 77, &lazy);
    burst_run(n, 1000, 77, &whole);
    burst_say("lazy push (eager 3)", n, &lazy);
    burst_say("whole (eager 1000)", n, &whole);
    uint64_t lazy_cost = lazy.burst_bytes - lazy.quiet_bytes;
    uint64_t whole_cost = whole.burst_bytes - whole.quiet_bytes;
    CHECK_INT(lazy_cost * 2, <, whole_cost);
    CHECK_INT(lazy.ihaves, >, 0);
    CHECK_INT(whole.ihaves, ==, 0);
    CHECK_INT(whole.pulls, ==, 0);
    /* Propagation: a node that the eager pushes missed learns of the
     * record from an advert where it would have had a second whole copy,
     * and pays one pull's round trip (2-20 ms here). Both medians also
     * move by up to a gossip round (200 ms) from one seed to the next
     * with the rounds' phase (medians from 53 to 222 ms have been seen),
     * so the bound is the structural one: at most one gossip round and
     * one round trip more. And the burst is held sooner: whole records
     * queue behind each other, one or two per datagram. */
    CHECK_INT(lazy.spread_ms_median, <=, whole.spread_ms_median + 200 + 20);
    CHECK_INT(lazy.burst_converged_ms, <=, whole.burst_converged_ms);
}

/* ---- (2) Crash, detection, restart ------------------------------------------------- */

/* The longest a crash can go unnoticed by everyone under the config, with
 * no loss (docs/gossip.md, "Probing" and "Suspicion"): the round-robin
 * probe order reaches the crashed member within 2(N-1)+1 periods at any
 * one prober, the suspicion then lasts at most suspicion_max_mult times
 * its minimum (suspicion_mult x max(1, log10 N) periods), and the death
 * takes a few periods to spread (lambda log N sends on a couple of
 * messages a period: 5 periods is generous at N <= 32). */
static uint64_t detection_bound_ms(const cara_gossip_cfg *c, size_t n)
{
    double lg = log10((double)n);
    double susp_min = c->suspicion_mult * (lg > 1 ? lg : 1) * c->probe_interval_ms;
    double susp_max = c->suspicion_max_mult * susp_min;
    return (uint64_t)((2.0 * (double)(n - 1) + 1) * c->probe_interval_ms + susp_max +
                      5.0 * c->probe_interval_ms);
}

typedef struct rejoin_ctx {
    size_t victim;
    uint32_t incarnation_before;
} rejoin_ctx;

static bool victim_back_everywhere(sim *s, void *ctx)
{
    rejoin_ctx *r = ctx;
    for (size_t i = 0; i < sim_nodes_count(s); i++) {
        cara_gossip_member m;
        if (i == r->victim)
            continue;
        if (cara_gossip_member_get(sim_gossip(s, i), sim_name(s, r->victim), &m) != 0 ||
            m.state != CARA_GOSSIP_ALIVE)
            return false;
    }
    return all_see_all_alive(s, NULL) && sim_converged(s);
}

TEST(gossip_node_crashed_node_is_dead_everywhere_within_the_suspicion_bound_and_rejoins_after_restart)
{
    const size_t n = 8;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(n, 2, w, NULL);
    cara_gossip_cfg c = {0};
    cara_gossip_cfg_lan(&c);
    uint64_t bound_ms = detection_bound_ms(&c, n);
    sim_run_for(s, 5 * PERIOD_MS);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed() + 2);
    size_t victim = 1 + (size_t)cara_rng_below(&rng, n - 1);
    cara_gossip_member before;
    CHECK_OK(cara_gossip_member_get(sim_gossip(s, 0), sim_name(s, victim), &before));
    uint64_t crash_ms = sim_now(s);
    sim_crash(s, victim);
    sim_run_for(s, bound_ms);
    uint64_t first_suspect = NEVER, last_dead = 0;
    for (size_t o = 0; o < n; o++) {
        if (o == victim)
            continue;
        CHECK(w->dead_ms[o][victim] != NEVER);
        CHECK_INT(w->dead_ms[o][victim] - crash_ms, <=, bound_ms);
        if (w->dead_ms[o][victim] > last_dead)
            last_dead = w->dead_ms[o][victim];
        if (w->suspect_ms[o][victim] < first_suspect)
            first_suspect = w->suspect_ms[o][victim];
        for (size_t j = 0; j < n; j++)
            if (j != victim) {
                CHECK(w->suspect_ms[o][j] == NEVER); /* nobody else suspected */
                CHECK(w->dead_ms[o][j] == NEVER);
            }
    }
    say("  N=%zu: n%02zu crashed; first suspicion after %llu ms, dead everywhere after %llu ms "
        "(bound %llu ms)\n", n, victim, (unsigned long long)(first_suspect - crash_ms),
        (unsigned long long)(last_dead - crash_ms), (unsigned long long)bound_ms);

    /* While it is down the cluster moves on. */
    char value[300];
    memset(value, 'x', sizeof value);
    CHECK_OK(sim_publish(s, 0, CARA_CRDT_PROJECT, "while-down", 1, value, sizeof value, false,
                         NULL));
    sim_run_for(s, 5 * PERIOD_MS);
    CHECK(!holds_project(s, victim, "while-down"));

    /* Restart: a new object and epoch over the same crdt, knowing one member
     * from its store. It was dead at its old incarnation: it must rise
     * above it (refute) and catch up on what it missed. */
    uint64_t restart_ms = sim_now(s);
    CHECK_OK(sim_start(s, victim));
    CHECK_OK(sim_add_member(s, victim, (victim + 1) % n));
    rejoin_ctx r = {.victim = victim, .incarnation_before = before.incarnation};
    bool back = sim_run_until_cond(s, restart_ms + 60 * PERIOD_MS, 10, victim_back_everywhere, &r);
    CHECK(back);
    CHECK(holds_project(s, victim, "while-down"));
    cara_gossip_member after;
    CHECK_OK(cara_gossip_member_get(sim_gossip(s, 0), sim_name(s, victim), &after));
    CHECK_INT(after.incarnation, >, before.incarnation);
    cara_gossip_stats vs;
    cara_gossip_stats_get(sim_gossip(s, victim), &vs);
    CHECK_INT(vs.refutations, >=, 1);
    say("  restarted n%02zu alive everywhere and caught up after %llu ms (incarnation %u -> %u, "
        "%llu records by anti-entropy)\n", victim,
        (unsigned long long)(sim_now(s) - restart_ms), before.incarnation, after.incarnation,
        (unsigned long long)vs.sync_records_applied);
    check_datagrams_fit(s);
    sim_free(s);
    free(w);
}

/* ---- (3) Anti-entropy -------------------------------------------------------------- */

static bool converged_without(sim *s, void *ctx)
{
    size_t out = *(size_t *)ctx;
    uint8_t first[32], h[32];
    bool have = false;
    for (size_t i = 0; i < sim_nodes_count(s); i++) {
        if (i == out)
            continue;
        cara_crdt_state_hash(sim_crdt(s, i), have ? h : first);
        if (have && memcmp(first, h, sizeof h) != 0)
            return false;
        have = true;
    }
    return true;
}

/* A node cut off while records are published (one of them a ~100 KiB
 * project spec, which no datagram can carry) catches up after the heal by
 * anti-entropy: by then every push to it failed and every piggyback was
 * spent, so nothing else can bring them. Bound after the heal: one
 * anti-entropy interval with its +25 % jitter, for the node itself or any
 * peer to start an exchange, plus a few seconds for the transfer. */
TEST(gossip_node_partitioned_node_catches_up_by_anti_entropy_including_a_record_larger_than_a_datagram)
{
    const size_t n = 5;
    size_t out = n - 1;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(n, 3, w, NULL);
    sim_run_for(s, 2 * PERIOD_MS);
    sim_isolate(s, out, true);
    size_t big_bytes = 100 * 1024;
    uint8_t *big = malloc(big_bytes);
    CHECK(big != NULL);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed() + 3);
    cara_rng_bytes(&rng, big, big_bytes);
    char small[120];
    memset(small, 's', sizeof small);
    CHECK_OK(sim_publish(s, 0, CARA_CRDT_PROJECT, "alpha", 1, small, sizeof small, false, NULL));
    CHECK_OK(sim_publish(s, 1, CARA_CRDT_PROJECT, "beta", 1, small, sizeof small, false, NULL));
    CHECK_OK(sim_publish(s, 0, CARA_CRDT_PROJECT, "big", 1, big, big_bytes, false, NULL));
    uint64_t t0 = sim_now(s);
    bool ok = sim_run_until_cond(s, t0 + 15 * PERIOD_MS, 10, converged_without, &out);
    for (size_t i = 0; !ok && i < n; i++) {
        cara_gossip_stats st;
        cara_gossip_stats_get(sim_gossip(s, i), &st);
        say("  %s: alpha %d beta %d big %d; streams opened %llu accepted %llu, bytes in %llu out %llu, syncs %llu/%llu, stream drops %llu\n",
            sim_name(s, i), holds_project(s, i, "alpha"), holds_project(s, i, "beta"), holds_project(s, i, "big"),
            (unsigned long long)st.streams_opened, (unsigned long long)st.streams_accepted,
            (unsigned long long)st.stream_bytes_in, (unsigned long long)st.stream_bytes_out,
            (unsigned long long)st.syncs_started, (unsigned long long)st.syncs_completed,
            (unsigned long long)st.dropped[CARA_GOSSIP_DROP_STREAM] * 1000 + st.dropped[CARA_GOSSIP_DROP_OVERSIZED]);
    }
    CHECK(ok);
    uint64_t others_ms = sim_now(s) - t0;
    /* Stay cut off a little longer than the spread took, shorter than a
     * death (the first suspicion plus the 4 s minimum). */
    sim_run_until(s, t0 + 3 * PERIOD_MS > sim_now(s) ? t0 + 3 * PERIOD_MS : sim_now(s));
    CHECK(!holds_project(s, out, "alpha") && !holds_project(s, out, "big"));
    cara_gossip_stats before;
    cara_gossip_stats_get(sim_gossip(s, out), &before);
    sim_heal_all(s);
    uint64_t heal_ms = sim_now(s);
    cara_gossip_cfg c = {0};
    cara_gossip_cfg_lan(&c);
    uint64_t bound_ms = c.anti_entropy_interval_ms * 5 / 4 + 5 * PERIOD_MS;
    CHECK(sim_run_until_cond(s, heal_ms + bound_ms, 10, converged, NULL));
    uint64_t caught_ms = sim_now(s) - heal_ms;
    CHECK(holds_project(s, out, "alpha") && holds_project(s, out, "beta") &&
          holds_project(s, out, "big"));
    cara_gossip_stats after;
    cara_gossip_stats_get(sim_gossip(s, out), &after);
    CHECK_INT(after.sync_records_applied - before.sync_records_applied, >=, 1);
    CHECK_INT(after.stream_bytes_in - before.stream_bytes_in, >=, big_bytes);
    say("  others held all three after %llu ms; the cut-off node caught up %llu ms after the "
        "heal (bound %llu ms): %llu records by anti-entropy, %llu stream bytes in\n",
        (unsigned long long)others_ms, (unsigned long long)caught_ms,
        (unsigned long long)bound_ms,
        (unsigned long long)(after.sync_records_applied - before.sync_records_applied),
        (unsigned long long)(after.stream_bytes_in - before.stream_bytes_in));
    check_datagrams_fit(s);
    free(big);
    sim_free(s);
    free(w);
}

/* ---- (4) Acknowledgements ---------------------------------------------------------- */

static bool acked_twice(sim *s, void *ctx)
{
    (void)s;
    return ((watch *)ctx)->acked_holders_max >= 2;
}

static bool acked_by_all(sim *s, void *ctx)
{
    return ((watch *)ctx)->acked_holders_max >= sim_nodes_count(s);
}

TEST(gossip_node_publish_with_ack_reports_two_holders_among_five_and_none_when_cut_off)
{
    const size_t n = 5;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(n, 5, w, NULL);
    char value[256];
    memset(value, 'a', sizeof value);
    uint64_t t0 = sim_now(s);
    CHECK_OK(sim_publish(s, 0, CARA_CRDT_PROJECT, "acked", 1, value, sizeof value, true, NULL));
    /* The pushes go out at once and each holder answers: a round trip. */
    CHECK(sim_run_until_cond(s, t0 + PERIOD_MS, 1, acked_twice, w));
    uint64_t two_ms = sim_now(s) - t0;
    /* The rest by the re-push to members that have not answered. */
    CHECK(sim_run_until_cond(s, t0 + 5 * PERIOD_MS, 1, acked_by_all, w));
    uint64_t all_ms = sim_now(s) - t0;
    say("  holders >= 2 after %llu ms, all %zu after %llu ms\n", (unsigned long long)two_ms, n,
        (unsigned long long)all_ms);
    CHECK_INT(w->acked_holders_max, ==, n); /* never more holders than nodes */

    /* Cut off from everyone: the record is held here only, and no
     * acknowledgement may claim otherwise, however long we wait. */
    sim_isolate(s, 0, true);
    w->acked_events = 0;
    w->acked_holders_max = 0;
    CHECK_OK(sim_publish(s, 0, CARA_CRDT_PROJECT, "lonely", 1, value, sizeof value, true, NULL));
    sim_run_for(s, 10 * PERIOD_MS);
    CHECK_INT(w->acked_events, ==, 0);
    for (size_t i = 1; i < n; i++)
        CHECK(!holds_project(s, i, "lonely"));
    check_datagrams_fit(s);
    sim_free(s);
    free(w);
}

/* ---- (5) Joining ------------------------------------------------------------------- */

static bool node_converged_with(sim *s, void *ctx)
{
    (void)ctx;
    return all_see_all_alive(s, NULL) && sim_converged(s);
}

static bool node_joined_cb(sim *s, void *ctx)
{
    return cara_gossip_joined(sim_gossip(s, *(size_t *)ctx));
}

static bool join_refused_cb(sim *s, void *ctx)
{
    return ((watch *)sim_tap_ctx(s))->join_refused[*(size_t *)ctx] > 0;
}

/* Nodes 0..n-2 form the cluster; node n-1 knows only node 0's address. */
static sim *cluster_with_joiner(size_t n, uint64_t seed_mix, watch *w, bool admit_at_seed)
{
    sim *s = cluster(n, seed_mix, w);
    for (size_t at = 0; at + 1 < n; at++)
        for (size_t j = 0; j + 1 < n; j++)
            CHECK_OK(sim_admit_at(s, at, j));
    if (admit_at_seed)
        CHECK_OK(sim_admit_at(s, 0, n - 1));
    for (size_t i = 0; i + 1 < n; i++)
        CHECK_OK(sim_start(s, i));
    for (size_t i = 1; i + 1 < n; i++)
        CHECK_OK(sim_add_member(s, i, 0));
    uint64_t t0 = sim_now(s);
    CHECK(sim_run_until_cond(s, t0 + 30 * PERIOD_MS, 10, all_see_all_alive, NULL));
    CHECK_OK(sim_start(s, n - 1));
    return s;
}

TEST(gossip_node_joiner_knowing_only_a_seed_address_is_welcomed_when_the_seed_holds_its_admission)
{
    const size_t n = 5, j = n - 1;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = cluster_with_joiner(n, 6, w, true);
    uint64_t t0 = sim_now(s);
    CHECK_OK(sim_join(s, j, 0, NULL, 0));
    CHECK(!cara_gossip_joined(sim_gossip(s, j)));
    CHECK(sim_run_until_cond(s, t0 + 5 * PERIOD_MS, 1, node_joined_cb, &(size_t){j}));
    uint64_t joined_ms = sim_now(s) - t0;
    CHECK_INT(w->joined[j], ==, 1);
    CHECK_INT(w->welcomed[0], ==, 1);
    CHECK_INT(w->join_refused[j], ==, 0);
    /* The others learn its admission from the seed by anti-entropy, then
     * its datagrams pass their seals. */
    cara_gossip_cfg c = {0};
    cara_gossip_cfg_lan(&c);
    CHECK(sim_run_until_cond(s, t0 + 3 * c.anti_entropy_interval_ms, 10, node_converged_with,
                             NULL));
    say("  joined after %llu ms; all %zu alive everywhere and converged after %llu ms\n",
        (unsigned long long)joined_ms, n, (unsigned long long)(sim_now(s) - t0));
    check_datagrams_fit(s);
    sim_free(s);
    free(w);
}

TEST(gossip_node_joiner_without_admission_is_refused_with_a_reason_at_both_ends)
{
    const size_t n = 4, j = n - 1;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = cluster_with_joiner(n, 7, w, false);
    uint8_t before[32], after[32];
    cara_crdt_state_hash(sim_crdt(s, 0), before);
    uint64_t t0 = sim_now(s);
    CHECK_OK(sim_join(s, j, 0, NULL, 0));
    CHECK(sim_run_until_cond(s, t0 + 5 * PERIOD_MS, 1, join_refused_cb, &(size_t){j}));
    CHECK_INT(w->join_refused_reason[j], ==, CARA_ENOTADMITTED);
    CHECK_INT(w->refused_join[0], ==, 1);
    CHECK_INT(w->refused_join_reason[0], ==, CARA_ENOTADMITTED);
    CHECK(!cara_gossip_joined(sim_gossip(s, j)));
    /* It keeps asking with backoff and keeps being refused; nobody lets it in. */
    sim_run_for(s, 20 * PERIOD_MS);
    CHECK(!cara_gossip_joined(sim_gossip(s, j)));
    CHECK_INT(w->joined[j], ==, 0);
    CHECK_INT(w->welcomed[0], ==, 0);
    for (size_t i = 0; i + 1 < n; i++)
        CHECK_INT(sim_member_state(s, i, j), ==, 0);
    cara_crdt_state_hash(sim_crdt(s, 0), after);
    CHECK_MEM(before, 32, after, 32);
    say("  refused %llu times in 20 s (backoff), reason %s\n",
        (unsigned long long)w->join_refused[j], cara_errname(w->join_refused_reason[j]));
    CHECK_INT(w->join_refused[j], <=, 6);
    sim_free(s);
    free(w);
}

/* ---- (6) Hostile input ------------------------------------------------------------- */

static bool captured(sim *s, void *ctx)
{
    (void)s;
    return ((watch *)ctx)->cap_done;
}

typedef struct drop_snap {
    cara_gossip_stats g;
    uint8_t hash[32];
} drop_snap;

static void snap(sim *s, size_t i, drop_snap *d)
{
    cara_gossip_stats_get(sim_gossip(s, i), &d->g);
    cara_crdt_state_hash(sim_crdt(s, i), d->hash);
}

/* Delivers `count` copies of a datagram (fresh bytes from `make`) to node
 * `to` and checks that each was dropped for `why` and changed nothing. */
static void expect_drops(sim *s, size_t to, int why, size_t count, const uint8_t *bytes,
                         size_t len)
{
    drop_snap a, b;
    snap(s, to, &a);
    cara_gossip_addr from = sim_addr(0);
    for (size_t k = 0; k < count; k++)
        CHECK_OK(sim_inject(s, to, &from, bytes, len, 0));
    sim_run_for(s, 1);
    snap(s, to, &b);
    if (b.g.dropped[why] - a.g.dropped[why] != count)
        for (int d = 0; d < CARA_GOSSIP_DROP_COUNT_; d++)
            fprintf(stderr, "  %zu bytes, want %s: %s +%llu\n", len, cara_gossip_drop_name(why),
                    cara_gossip_drop_name(d),
                    (unsigned long long)(b.g.dropped[d] - a.g.dropped[d]));
    CHECK_INT(b.g.dropped[why] - a.g.dropped[why], ==, count);
    for (int d = 0; d < CARA_GOSSIP_DROP_COUNT_; d++)
        if (d != why)
            CHECK_INT(b.g.dropped[d], ==, a.g.dropped[d]);
    CHECK_MEM(a.hash, 32, b.hash, 32);
    CHECK_INT(b.g.records_received_new, ==, a.g.records_received_new);
}

TEST(gossip_node_hostile_datagrams_are_dropped_and_counted_by_reason_and_change_nothing)
{
    const size_t n = 3, victim = 1;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(n, 8, w, NULL);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed() + 8);
    uint8_t *buf = malloc(8192);
    CHECK(buf != NULL);

    /* A real datagram from node 0 to the victim, taken off the wire before
     * it arrives. */
    w->cap_from = 0;
    w->cap_to = (int)victim;
    w->cap_armed = true;
    CHECK(sim_run_until_cond(s, sim_now(s) + 10 * PERIOD_MS, 1, captured, w));
    size_t len = w->cap_len;
    CHECK_INT(len, >, CARA_GOSSIP_SEAL_OVERHEAD_BYTES);

    /* Garbage of every length: no magic, so malformed. */
    for (int k = 0; k < 200; k++) {
        size_t l = 1 + (size_t)cara_rng_below(&rng, CARA_GOSSIP_DATAGRAM_BYTES_MAX);
        cara_rng_bytes(&rng, buf, l);
        buf[0] = 0x00; /* never the seal's 0xCA */
        expect_drops(s, victim, CARA_GOSSIP_DROP_MALFORMED, 1, buf, l);
    }
    /* Truncated: shorter than a seal header is malformed; cut anywhere
     * past it, the tag fails. */
    expect_drops(s, victim, CARA_GOSSIP_DROP_MALFORMED, 1, w->cap, 20);
    expect_drops(s, victim, CARA_GOSSIP_DROP_MALFORMED, 1, w->cap,
                 CARA_GOSSIP_SEAL_OVERHEAD_BYTES - 1);
    expect_drops(s, victim, CARA_GOSSIP_DROP_BADTAG, 1, w->cap, len - 1);
    expect_drops(s, victim, CARA_GOSSIP_DROP_MALFORMED, 1, w->cap, 0);
    /* Oversized: one byte past the cap, and far past it. */
    memset(buf, 0, 8192);
    memcpy(buf, w->cap, len);
    expect_drops(s, victim, CARA_GOSSIP_DROP_OVERSIZED, 1, buf,
                 CARA_GOSSIP_DATAGRAM_BYTES_MAX + 1);
    expect_drops(s, victim, CARA_GOSSIP_DROP_OVERSIZED, 1, buf, 8192);
    /* Corrupted: one bit flipped in the ciphertext, or in the counter
     * (the header is the associated data). */
    memcpy(buf, w->cap, len);
    buf[CARA_GOSSIP_SEAL_HEADER_BYTES + (len - CARA_GOSSIP_SEAL_OVERHEAD_BYTES) / 2] ^= 0x01;
    expect_drops(s, victim, CARA_GOSSIP_DROP_BADTAG, 1, buf, len);
    memcpy(buf, w->cap, len);
    buf[CARA_GOSSIP_SEAL_HEADER_BYTES - 7] ^= 0x01; /* counter + 2^48 */
    expect_drops(s, victim, CARA_GOSSIP_DROP_BADTAG, 1, buf, len);
    /* None of that moved the replay window: the real datagram still
     * passes, once; then it is a replay. */
    drop_snap a, b;
    snap(s, victim, &a);
    cara_gossip_addr from0 = sim_addr(0);
    CHECK_OK(sim_inject(s, victim, &from0, w->cap, len, 0));
    sim_run_for(s, 1);
    snap(s, victim, &b);
    /* The cluster's own traffic may land in the same millisecond: at least
     * the injected one came in, and nothing was dropped. */
    CHECK_INT(b.g.datagrams_in, >=, a.g.datagrams_in + 1);
    CHECK_MEM(a.g.dropped, sizeof a.g.dropped, b.g.dropped, sizeof b.g.dropped);
    expect_drops(s, victim, CARA_GOSSIP_DROP_REPLAY, 3, w->cap, len);
    /* Forged: sealed for the victim by a key no admission names. */
    uint8_t seed[CARA_CRDT_SEED_BYTES], pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    cara_rng_bytes(&rng, seed, sizeof seed);
    CHECK_OK(cara_crdt_key_from_seed(seed, pk, sk));
    cara_seal *evil = NULL;
    CHECK_OK(cara_seal_new(cara_test_env(), pk, sk, 1, &evil));
    CHECK_OK(cara_seal_admit(evil, sim_pk(s, victim)));
    uint8_t plain[64] = {0x94, CARA_WIRE_VERSION, 0x01};
    size_t flen = 0;
    CHECK_OK(cara_seal_seal(evil, sim_pk(s, victim), plain, sizeof plain, buf, 8192, &flen));
    expect_drops(s, victim, CARA_GOSSIP_DROP_NOTADMITTED, 1, buf, flen);
    cara_seal_free(evil);
    /* Sealed by an admitted key (node 2's, a later epoch) but not a
     * message: authentic garbage is still malformed. */
    cara_seal *peer = NULL;
    CHECK_OK(cara_seal_new(cara_test_env(), sim_pk(s, 2), sim_sk(s, 2), 1000, &peer));
    CHECK_OK(cara_seal_admit(peer, sim_pk(s, victim)));
    for (int k = 0; k < 20; k++) {
        size_t l = 1 + (size_t)cara_rng_below(&rng, CARA_GOSSIP_PLAINTEXT_BYTES_MAX);
        uint8_t junk[CARA_GOSSIP_PLAINTEXT_BYTES_MAX];
        cara_rng_bytes(&rng, junk, l);
        CHECK_OK(cara_seal_seal(peer, sim_pk(s, victim), junk, l, buf, 8192, &flen));
        expect_drops(s, victim, CARA_GOSSIP_DROP_MALFORMED, 1, buf, flen);
    }
    cara_seal_free(peer);

    /* And the cluster never noticed. */
    sim_run_for(s, 10 * PERIOD_MS);
    CHECK(all_see_all_alive(s, NULL));
    CHECK_INT(w->suspect_events, ==, 0);
    check_datagrams_fit(s);
    free(buf);
    sim_free(s);
    free(w);
}

/* ---- (7) Determinism and the datagram cap ----------------------------------------- */

typedef struct run_result {
    uint8_t hash[NODES_MAX][32];
    uint64_t trace;
    size_t datagram_bytes_max;
    uint64_t datagrams, dropped_by_net;
} run_result;

/* A busy run on a bad network: loss, duplication, reordering, a crash and
 * a restart, a partition and its heal, and a burst of records of every
 * size (to fill datagrams' piggyback room). */
static void busy_run(uint64_t seed, run_result *out)
{
    const size_t n = 8;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim_cfg cfg = {.nodes_count = n, .seed = seed,
                   .link = {.latency_min_ms = 1, .latency_max_ms = 20, .loss_ppm = 50000,
                            .dup_ppm = 20000, .reorder_ppm = 50000, .reorder_extra_ms = 50,
                            .stream_bytes_per_ms = 12500},
                   .env = cara_test_env()};
    cara_gossip_cfg_lan(&cfg.gossip);
    sim *s = NULL;
    CHECK_OK(sim_new(&s, &cfg));
    watch_reset(w, n);
    sim_set_taps(s, on_datagram, on_event, w);
    CHECK_OK(sim_boot(s));
    sim_run_for(s, 15 * PERIOD_MS);
    cara_rng rng;
    cara_rng_seed(&rng, seed);
    static uint8_t value[3000];
    for (int k = 0; k < 60; k++) {
        char key[32];
        snprintf(key, sizeof key, "p%02d", k);
        size_t vlen = 1 + (size_t)cara_rng_below(&rng, k % 10 == 9 ? sizeof value : 900);
        cara_rng_bytes(&rng, value, vlen);
        size_t at = (size_t)cara_rng_below(&rng, n);
        if (sim_up(s, at))
            CHECK_OK(sim_publish(s, at, CARA_CRDT_PROJECT, key, 1, value, vlen, k % 3 == 0, NULL));
        sim_run_for(s, 150);
        if (k == 20)
            sim_crash(s, 5);
        if (k == 30)
            sim_partition_pair(s, 1, 2, true);
        if (k == 45) {
            CHECK_OK(sim_start(s, 5));
            CHECK_OK(sim_add_member(s, 5, 0));
        }
    }
    sim_heal_all(s);
    sim_run_for(s, 60 * PERIOD_MS);
    for (size_t i = 0; i < n; i++)
        cara_crdt_state_hash(sim_crdt(s, i), out->hash[i]);
    out->trace = sim_trace_hash(s);
    sim_stats st;
    sim_stats_get(s, &st);
    out->datagram_bytes_max = st.datagram_bytes_max;
    out->datagrams = st.datagrams_sent;
    out->dropped_by_net = st.datagrams_lost + st.datagrams_cut;
    check_datagrams_fit(s);
    CHECK(sim_converged(s));
    sim_free(s);
    free(w);
}

TEST(gossip_node_same_seed_gives_same_state_and_trace_and_no_datagram_exceeds_the_cap)
{
    run_result *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *c = calloc(1, sizeof *c);
    CHECK(a != NULL && b != NULL && c != NULL);
    uint64_t seed = cara_test_seed();
    busy_run(seed, a);
    busy_run(seed, b);
    CHECK_INT(a->trace, ==, b->trace);
    CHECK_MEM(a->hash, sizeof a->hash, b->hash, sizeof b->hash);
    /* The hash sees the run: another seed gives another trace. */
    busy_run(seed + 1, c);
    CHECK(a->trace != c->trace);
    say("  trace %016llx twice; %llu datagrams (%llu lost or cut), the largest %zu bytes "
        "(cap %d)\n", (unsigned long long)a->trace, (unsigned long long)a->datagrams,
        (unsigned long long)a->dropped_by_net, a->datagram_bytes_max,
        CARA_GOSSIP_DATAGRAM_BYTES_MAX);
    CHECK_INT(a->datagram_bytes_max, <=, CARA_GOSSIP_DATAGRAM_BYTES_MAX);
    free(a);
    free(b);
    free(c);
}
/* Longer than a death: both sides declare the other dead. SWIM stops
 * probing dead members, so after the heal someone must still reach across
 * or the cluster stays split for good (it did, before the reconnect ping).
 * Bound: one reconnect interval for the first ping across, then the
 * refutations cascade (each member refutes only once someone across tells
 * it of its death) and an anti-entropy round: 34-51 s over 26 seeds, so a
 * reconnect interval and 40 periods. */
TEST(gossip_node_cluster_split_longer_than_a_death_merges_again_after_the_heal)
{
    const size_t n = 6;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(n, 4, w, NULL);
    int side[NODES_MAX] = {0, 0, 0, 1, 1, 1};
    sim_split(s, side);
    char small[64];
    memset(small, 'p', sizeof small);
    CHECK_OK(sim_publish(s, 0, CARA_CRDT_PROJECT, "left", 1, small, sizeof small, false, NULL));
    CHECK_OK(sim_publish(s, 4, CARA_CRDT_PROJECT, "right", 1, small, sizeof small, false, NULL));
    sim_run_for(s, 60 * PERIOD_MS);
    CHECK(w->dead_ms[0][4] != NEVER && w->dead_ms[4][0] != NEVER);
    sim_heal_all(s);
    uint64_t heal_ms = sim_now(s);
    cara_gossip_cfg c = {0};
    cara_gossip_cfg_lan(&c);
    uint64_t bound_ms = c.reconnect_interval_ms + 40 * PERIOD_MS;
    bool merged = sim_run_until_cond(s, heal_ms + bound_ms, 10, victim_back_everywhere,
                                     &(rejoin_ctx){.victim = 0});
    say("  split of 60 s healed: %s after %llu ms (bound %llu ms)\n",
        merged ? "merged" : "NOT merged", (unsigned long long)(sim_now(s) - heal_ms),
        (unsigned long long)bound_ms);
    CHECK(merged);
    sim_free(s);
    free(w);
}

/* ---- (5b) Joining with a token ----------------------------------------------------- */

/* A join record for node j made from a grant that `signer` signs, valid
 * until expires_wall_ms, stamped now. */
static void token_proof(sim *s, size_t j, const uint8_t *signer_sk, int64_t expires_wall_ms,
                        cara_buf *out)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed() + 77);
    uint8_t id[CARA_CRDT_JOIN_TOKEN_ID_BYTES], seed[CARA_CRDT_SEED_BYTES];
    uint8_t tpk[CARA_CRDT_PK_BYTES], tsk[CARA_CRDT_SK_BYTES];
    cara_rng_bytes(&rng, id, sizeof id);
    cara_rng_bytes(&rng, seed, sizeof seed);
    CHECK_OK(cara_crdt_key_from_seed(seed, tpk, tsk));
    cara_buf grant;
    cara_buf_init(&grant, cara_test_env(), CARA_CRDT_JOIN_GRANT_BYTES_MAX);
    CHECK_OK(cara_crdt_join_grant_sign(id, expires_wall_ms, 5, tpk, signer_sk, &grant));
    char text[CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    CHECK_OK(cara_crdt_join_token_format(grant.data, grant.len, seed, text, sizeof text));
    cara_crdt_join_token t;
    CHECK_OK(cara_crdt_join_token_parse(text, &t));
    uint64_t hlc = cara_crdt_hlc_next(sim_crdt(s, j), sim_wall(s, j));
    CHECK_OK(cara_crdt_join_record_sign(&t, sim_pk(s, j), sim_sk(s, j), sim_name(s, j), hlc, out));
    cara_crdt_join_token_wipe(&t);
    cara_buf_free(&grant);
}

TEST(gossip_node_joiner_with_a_valid_join_token_is_welcomed_and_admitted_everywhere)
{
    const size_t n = 5, j = n - 1;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = cluster_with_joiner(n, 9, w, false);
    cara_buf proof;
    cara_buf_init(&proof, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    token_proof(s, j, sim_operator_sk(s), sim_wall(s, 0) + 3600 * 1000, &proof);
    uint64_t t0 = sim_now(s);
    CHECK_OK(sim_join(s, j, 0, proof.data, proof.len));
    CHECK(sim_run_until_cond(s, t0 + 5 * PERIOD_MS, 1, node_joined_cb, &(size_t){j}));
    uint64_t joined_ms = sim_now(s) - t0;
    CHECK_INT(w->welcomed[0], ==, 1);
    CHECK_INT(w->join_refused[j], ==, 0);
    CHECK(sim_run_until_cond(s, t0 + 30 * PERIOD_MS, 10, node_converged_with, NULL));
    for (size_t i = 0; i < n; i++)
        CHECK(cara_crdt_node_admitted(sim_crdt(s, i), sim_pk(s, j)));
    say("  token join: welcomed after %llu ms; admitted, alive and converged everywhere after "
        "%llu ms\n", (unsigned long long)joined_ms, (unsigned long long)(sim_now(s) - t0));
    cara_buf_free(&proof);
    sim_free(s);
    free(w);
}

static void refused_token(uint64_t seed_mix, bool forged, int want)
{
    const size_t n = 4, j = n - 1;
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = cluster_with_joiner(n, seed_mix, w, false);
    cara_buf proof;
    cara_buf_init(&proof, cara_test_env(), CARA_CRDT_RECORD_BYTES_MAX);
    if (forged) {
        /* A grant signed by a key that is no operator's: node 1's. */
        token_proof(s, j, sim_sk(s, 1), sim_wall(s, 0) + 3600 * 1000, &proof);
    } else {
        /* Signed in time, presented after the expiry. */
        token_proof(s, j, sim_operator_sk(s), sim_wall(s, 0) + 1000, &proof);
        sim_run_for(s, 2 * PERIOD_MS);
    }
    uint64_t t0 = sim_now(s);
    CHECK_OK(sim_join(s, j, 0, proof.data, proof.len));
    CHECK(sim_run_until_cond(s, t0 + 5 * PERIOD_MS, 1, join_refused_cb, &(size_t){j}));
    CHECK_RC(w->join_refused_reason[j], want);
    CHECK_INT(w->refused_join[0], ==, 1);
    CHECK_RC(w->refused_join_reason[0], want);
    sim_run_for(s, 10 * PERIOD_MS);
    CHECK(!cara_gossip_joined(sim_gossip(s, j)));
    for (size_t i = 0; i + 1 < n; i++) {
        CHECK(!cara_crdt_node_admitted(sim_crdt(s, i), sim_pk(s, j)));
        CHECK_INT(sim_member_state(s, i, j), ==, 0);
    }
    cara_buf_free(&proof);
    sim_free(s);
    free(w);
}

TEST(gossip_node_joiner_with_an_expired_join_token_is_refused_as_expired_at_both_ends)
{
    refused_token(10, false, CARA_EEXPIRED);
}

TEST(gossip_node_joiner_with_a_join_token_not_signed_by_an_operator_is_refused_as_untrusted)
{
    refused_token(11, true, CARA_EUNTRUSTED);
}

/* ---- (6b) Hostile input on streams -------------------------------------------------
 * A party outside the cluster connects to the victim and writes bytes of
 * its choosing (sim_outside_*). Some of it is authentic: node 2's key in a
 * seal of its own (a later epoch), so the bytes reach the frame decoder
 * and the handlers behind the seal. */

#define STREAM_VICTIM 1
#define STREAM_PEER 2

typedef struct hostile_peer {
    cara_seal *seal;
    cara_seal_stream st;
    uint8_t hello[CARA_SEAL_HELLO_BYTES];
    int h;
} hostile_peer;

/* Connects as node 2 and sends its hello; the victim's answer is read by
 * hostile_open. */
static void hostile_connect(sim *s, hostile_peer *p, uint8_t random_tag)
{
    memset(p, 0, sizeof *p);
    CHECK_OK(cara_seal_new(cara_test_env(), sim_pk(s, STREAM_PEER), sim_sk(s, STREAM_PEER),
                           1000 + random_tag, &p->seal));
    CHECK_OK(cara_seal_admit(p->seal, sim_pk(s, STREAM_VICTIM)));
    uint8_t rnd[CARA_SEAL_HELLO_RANDOM_BYTES];
    memset(rnd, random_tag, sizeof rnd);
    cara_seal_hello(p->seal, rnd, p->hello);
    CHECK_OK(sim_outside_connect(s, STREAM_VICTIM, &p->h));
    CHECK_OK(sim_outside_send(s, p->h, p->hello, sizeof p->hello, 1));
    sim_run_for(s, 2);
}

/* Takes the victim's hello: the stream is open both ways. */
static void hostile_open(sim *s, hostile_peer *p)
{
    size_t kept;
    uint64_t total;
    const uint8_t *b = sim_outside_received(s, p->h, &kept, &total);
    CHECK_INT(kept, >=, CARA_SEAL_HELLO_BYTES);
    CHECK_OK(cara_seal_stream_start(p->seal, &p->st, true, p->hello, b, CARA_SEAL_HELLO_BYTES,
                                    sim_pk(s, STREAM_VICTIM)));
}

/* Seals one frame whose plaintext is `flag` then `len` bytes. */
static size_t hostile_frame(hostile_peer *p, uint8_t flag, const uint8_t *bytes, size_t len,
                            uint8_t *out)
{
    static uint8_t plain[CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX];
    plain[0] = flag;
    memcpy(plain + 1, bytes, len);
    size_t n = 0;
    CHECK_OK(cara_seal_stream_seal(p->seal, &p->st, plain, len + 1, out,
                                   CARA_GOSSIP_FRAME_BYTES_MAX, &n));
    return n;
}

static void hostile_free(hostile_peer *p) { cara_seal_free(p->seal); }

/* After `what` ran against the victim: exactly `why` moved by one (or
 * nothing when why < 0), the state is untouched, and the stream is closed
 * (or still open). */
static void expect_stream_drop(sim *s, const drop_snap *a, int why, int h, bool closed)
{
    drop_snap b;
    snap(s, STREAM_VICTIM, &b);
    for (int d = 0; d < CARA_GOSSIP_DROP_COUNT_; d++) {
        uint64_t want = a->g.dropped[d] + (d == why);
        if (b.g.dropped[d] != want)
            fprintf(stderr, "  want %s: %s moved by %llu\n", why >= 0 ? cara_gossip_drop_name(why)
                    : "no drop", cara_gossip_drop_name(d),
                    (unsigned long long)(b.g.dropped[d] - a->g.dropped[d]));
        CHECK_INT(b.g.dropped[d], ==, want);
    }
    CHECK_MEM(a->hash, 32, b.hash, 32);
    CHECK_INT(b.g.records_received_new, ==, a->g.records_received_new);
    CHECK_INT(b.g.sync_records_applied, ==, a->g.sync_records_applied);
    CHECK(sim_outside_open(s, h) == !closed);
}

/* Bytes from outside, on a fresh connection, then the drop they must cause. */
static void raw_stream(sim *s, const uint8_t *b, size_t len, int why)
{
    drop_snap a;
    snap(s, STREAM_VICTIM, &a);
    int h;
    CHECK_OK(sim_outside_connect(s, STREAM_VICTIM, &h));
    CHECK_OK(sim_outside_send(s, h, b, len, 1));
    sim_run_for(s, 5);
    expect_stream_drop(s, &a, why, h, true);
    size_t kept;
    uint64_t total;
    (void)sim_outside_received(s, h, &kept, &total);
    CHECK_INT(total, ==, 0); /* nothing is said to a stranger or to garbage */
}

/* Node 2's hello, then `b`; the drop they must cause. */
static void sealed_stream(sim *s, const uint8_t *b, size_t len, int why, bool closed)
{
    drop_snap a;
    snap(s, STREAM_VICTIM, &a);
    hostile_peer p;
    hostile_connect(s, &p, 7);
    hostile_open(s, &p);
    CHECK_OK(sim_outside_send(s, p.h, b, len, 1));
    sim_run_for(s, 5);
    expect_stream_drop(s, &a, why, p.h, closed);
    if (!closed)
        sim_outside_close(s, p.h);
    hostile_free(&p);
}

/* A clear join frame around `msgpack` (its length prefix says `claim`). */
static size_t clear_frame(const uint8_t *msgpack, size_t len, uint32_t claim, uint8_t *out)
{
    uint8_t hdr[CARA_WIRE_CLEAR_HEADER_BYTES] = {
        CARA_WIRE_CLEAR_MAGIC0, CARA_WIRE_CLEAR_MAGIC1, CARA_WIRE_VERSION,
        (uint8_t)(claim >> 24), (uint8_t)(claim >> 16), (uint8_t)(claim >> 8), (uint8_t)claim};
    memcpy(out, hdr, sizeof hdr);
    memcpy(out + sizeof hdr, msgpack, len);
    return sizeof hdr + len;
}

/* A JOIN from a stranger named "evil" with `count` records of `rec`. */
static size_t join_frame(const uint8_t *rec, size_t rec_len, size_t count, cara_buf *out)
{
    cara_wire_msg *m = calloc(1, sizeof *m);
    CHECK(m != NULL);
    m->kind = CARA_WIRE_JOIN;
    m->node.name_len = 4;
    memcpy(m->node.name, "evil", 4);
    memset(m->node.key, 0xee, sizeof m->node.key);
    m->addr.len = 6;
    memset(m->addr.bytes, 9, 6);
    m->records_count = count < CARA_WIRE_RECORDS_MAX ? count : CARA_WIRE_RECORDS_MAX;
    for (size_t i = 0; i < m->records_count; i++)
        m->records[i] = (cara_wire_bytes){rec, rec_len};
    CHECK_OK(cara_wire_clear_frame(m, out));
    free(m);
    return out->len;
}

TEST(gossip_node_hostile_streams_are_closed_and_counted_by_reason_and_change_nothing)
{
    const size_t n = 3;
    watch *w = calloc(1, sizeof *w);
    uint8_t *buf = malloc(2 * CARA_GOSSIP_FRAME_BYTES_MAX);
    CHECK(w != NULL && buf != NULL);
    sim *s = booted(n, 12, w, NULL);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed() + 12);

    /* Garbage instead of a hello: a hello's length of it is refused. */
    for (int k = 0; k < 20; k++) {
        size_t l = CARA_SEAL_HELLO_BYTES + (size_t)cara_rng_below(&rng, 4096);
        cara_rng_bytes(&rng, buf, l);
        buf[0] = 0x00; /* neither the seal's 0xCA nor a clear frame's 'C' */
        raw_stream(s, buf, l, CARA_GOSSIP_DROP_MALFORMED);
    }
    /* A well-formed hello from a key no admission names: not answered. */
    uint8_t seed[CARA_CRDT_SEED_BYTES], pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    cara_rng_bytes(&rng, seed, sizeof seed);
    CHECK_OK(cara_crdt_key_from_seed(seed, pk, sk));
    cara_seal *evil = NULL;
    CHECK_OK(cara_seal_new(cara_test_env(), pk, sk, 1, &evil));
    uint8_t rnd[CARA_SEAL_HELLO_RANDOM_BYTES] = {1}, hello[CARA_SEAL_HELLO_BYTES];
    cara_seal_hello(evil, rnd, hello);
    raw_stream(s, hello, sizeof hello, CARA_GOSSIP_DROP_NOTADMITTED);
    cara_seal_free(evil);

    /* A valid hello, then garbage where frames belong: a length below a
     * sealed frame's overhead, a plausible length over junk, a length
     * prefix claiming 4 GiB (refused before any wait), a real frame with
     * one bit flipped, and a frame sealed out of order. */
    memset(buf, 0, 8);
    sealed_stream(s, (const uint8_t *)"\x00\x00\x00\x05hello", 9, CARA_GOSSIP_DROP_MALFORMED, true);
    buf[0] = 0, buf[1] = 0, buf[2] = 1, buf[3] = 0;
    cara_rng_bytes(&rng, buf + 4, 256);
    sealed_stream(s, buf, 4 + 256, CARA_GOSSIP_DROP_MALFORMED, true);
    sealed_stream(s, (const uint8_t *)"\xff\xff\xff\xff", 4, CARA_GOSSIP_DROP_OVERSIZED, true);
    sealed_stream(s, (const uint8_t *)"\x00\x01\x00\x41", 4, CARA_GOSSIP_DROP_OVERSIZED, true);
    {
        drop_snap a;
        snap(s, STREAM_VICTIM, &a);
        hostile_peer p;
        hostile_connect(s, &p, 8);
        hostile_open(s, &p);
        size_t fl = hostile_frame(&p, 0, (const uint8_t *)"\x91\x01", 2, buf);
        buf[fl - 3] ^= 0x40;
        CHECK_OK(sim_outside_send(s, p.h, buf, fl, 1));
        sim_run_for(s, 5);
        expect_stream_drop(s, &a, CARA_GOSSIP_DROP_BADTAG, p.h, true);
        hostile_free(&p);

        snap(s, STREAM_VICTIM, &a);
        hostile_connect(s, &p, 9);
        hostile_open(s, &p);
        (void)hostile_frame(&p, 0, (const uint8_t *)"\x91\x01", 2, buf); /* counter 0: lost */
        fl = hostile_frame(&p, 0, (const uint8_t *)"\x91\x01", 2, buf);  /* counter 1 */
        CHECK_OK(sim_outside_send(s, p.h, buf, fl, 1));
        sim_run_for(s, 5);
        expect_stream_drop(s, &a, CARA_GOSSIP_DROP_REPLAY, p.h, true);
        hostile_free(&p);
    }
    /* Authentic frames whose content is wrong: junk plaintext, an unknown
     * flag, an empty plaintext, a datagram-only message, a DELTA on a
     * stream that is not an exchange. Each is a protocol error. */
    static const struct {
        uint8_t flag;
        const char *plain;
        size_t len;
    } wrong[] = {
        {0, "\xc1\xc1\xc1", 3},
        {0x80, "\x93\x01\x0b\xc4\x00", 5},
        {0, "", 0},
        {0, "\x93\x01\x01\x80", 4},
        {0, "\x93\x01\x0b\xc4\x01\x00", 6},
    };
    for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++) {
        drop_snap a;
        snap(s, STREAM_VICTIM, &a);
        hostile_peer p;
        hostile_connect(s, &p, (uint8_t)(10 + k));
        hostile_open(s, &p);
        size_t fl;
        if (wrong[k].len == 0) {
            size_t nn = 0;
            CHECK_OK(cara_seal_stream_seal(p.seal, &p.st, (const uint8_t *)"", 0, buf,
                                           CARA_GOSSIP_FRAME_BYTES_MAX, &nn));
            fl = nn;
        } else {
            fl = hostile_frame(&p, wrong[k].flag, (const uint8_t *)wrong[k].plain, wrong[k].len,
                               buf);
        }
        CHECK_OK(sim_outside_send(s, p.h, buf, fl, 1));
        sim_run_for(s, 5);
        expect_stream_drop(s, &a, CARA_GOSSIP_DROP_STREAM, p.h, true);
        hostile_free(&p);
    }

    /* Clear join frames: garbage msgpack, a length prefix claiming 4 GiB,
     * a proof record that is not a record, and 1024 records. */
    uint8_t junk[64];
    cara_rng_bytes(&rng, junk, sizeof junk);
    junk[0] = 0xc1; /* never valid msgpack */
    size_t l = clear_frame(junk, sizeof junk, sizeof junk, buf);
    raw_stream(s, buf, l, CARA_GOSSIP_DROP_STREAM);
    l = clear_frame(junk, sizeof junk, 0xffffffffu, buf);
    raw_stream(s, buf, l, CARA_GOSSIP_DROP_OVERSIZED);
    {
        cara_buf jf;
        cara_buf_init(&jf, cara_test_env(), CARA_WIRE_CLEAR_BYTES_MAX);
        /* Not a record: refused with an answer, counted as a refused join. */
        drop_snap a;
        snap(s, STREAM_VICTIM, &a);
        uint64_t refused = w->refused_join[STREAM_VICTIM];
        join_frame((const uint8_t *)"not a record", 12, 1, &jf);
        int h;
        CHECK_OK(sim_outside_connect(s, STREAM_VICTIM, &h));
        CHECK_OK(sim_outside_send(s, h, jf.data, jf.len, 1));
        sim_run_for(s, 5);
        expect_stream_drop(s, &a, -1, h, true);
        CHECK_INT(w->refused_join[STREAM_VICTIM], ==, refused + 1);
        size_t kept;
        uint64_t total;
        const uint8_t *ans = sim_outside_received(s, h, &kept, &total);
        cara_wire_msg *m = calloc(1, sizeof *m);
        CHECK(m != NULL);
        size_t used = 0;
        CHECK_OK(cara_wire_clear_parse(ans, kept, &used, m));
        CHECK_INT(m->kind, ==, CARA_WIRE_REFUSED);
        CHECK_INT(used, ==, kept);
        free(m);
        /* 1024 records, the list's cap: a joiner sends one proof, so the
         * seed refuses it before checking any, with an answer. */
        snap(s, STREAM_VICTIM, &a);
        cara_buf_reset(&jf);
        join_frame((const uint8_t *)"r", 1, CARA_WIRE_RECORDS_MAX, &jf);
        CHECK_OK(sim_outside_connect(s, STREAM_VICTIM, &h));
        CHECK_OK(sim_outside_send(s, h, jf.data, jf.len, 1));
        sim_run_for(s, 5);
        expect_stream_drop(s, &a, -1, h, true);
        CHECK_INT(w->refused_join[STREAM_VICTIM], ==, refused + 2);
        CHECK_RC(w->refused_join_reason[STREAM_VICTIM], CARA_ELIMIT);
        /* 1025: past the list's cap, refused unread. A JOIN with none ends
         * in an empty array (0x90): it becomes an array16 of 1025
         * one-byte records. */
        cara_buf_reset(&jf);
        join_frame(NULL, 0, 0, &jf);
        CHECK_INT(jf.data[jf.len - 1], ==, 0x90);
        jf.len--;
        CHECK_OK(cara_buf_append(&jf, "\xdc\x04\x01", 3));
        for (int i = 0; i < 1025; i++)
            CHECK_OK(cara_buf_append(&jf, "\xc4\x01r", 3));
        size_t body = jf.len - CARA_WIRE_CLEAR_HEADER_BYTES;
        jf.data[3] = (uint8_t)(body >> 24), jf.data[4] = (uint8_t)(body >> 16);
        jf.data[5] = (uint8_t)(body >> 8), jf.data[6] = (uint8_t)body;
        raw_stream(s, jf.data, jf.len, CARA_GOSSIP_DROP_OVERSIZED);
        cara_buf_free(&jf);
    }

    /* And the cluster never noticed. */
    sim_run_for(s, 10 * PERIOD_MS);
    CHECK(all_see_all_alive(s, NULL));
    CHECK_INT(w->suspect_events, ==, 0);
    check_datagrams_fit(s);
    free(buf);
    sim_free(s);
    free(w);
}

/* A peer that connects and stalls, after a hello or in the middle of one,
 * is closed by the idle timeout and counted; nothing else moves. */
TEST(gossip_node_stalled_stream_is_closed_by_the_idle_timeout_and_counted)
{
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(3, 13, w, NULL);
    cara_gossip_cfg c = {0};
    cara_gossip_cfg_lan(&c);
    drop_snap a;
    snap(s, STREAM_VICTIM, &a);
    hostile_peer p;
    hostile_connect(s, &p, 1);
    hostile_open(s, &p);
    int half;
    CHECK_OK(sim_outside_connect(s, STREAM_VICTIM, &half));
    CHECK_OK(sim_outside_send(s, half, p.hello, CARA_SEAL_HELLO_BYTES / 2, 1));
    /* The half hello has the handshake's fixed time; the finished one the
     * idle timeout. */
    sim_run_for(s, CARA_GOSSIP_HANDSHAKE_MS_MAX + 100);
    CHECK(sim_outside_open(s, p.h) && !sim_outside_open(s, half));
    sim_run_for(s, c.stream_timeout_ms - CARA_GOSSIP_HANDSHAKE_MS_MAX - 300);
    CHECK(sim_outside_open(s, p.h));
    sim_run_for(s, 400);
    CHECK(!sim_outside_open(s, p.h));
    drop_snap b;
    snap(s, STREAM_VICTIM, &b);
    CHECK_INT(b.g.streams_timed_out - a.g.streams_timed_out, ==, 2);
    CHECK_MEM(a.g.dropped, sizeof a.g.dropped, b.g.dropped, sizeof b.g.dropped);
    CHECK(all_see_all_alive(s, NULL));
    CHECK_INT(w->suspect_events, ==, 0);
    hostile_free(&p);
    sim_free(s);
    free(w);
}

/* A flood of connections that never speak: inbound streams stop at
 * CARA_GOSSIP_STREAMS_INBOUND_MAX (each refusal counted as full), the
 * earliest still works, and the victim's own anti-entropy keeps running
 * through slots the flood cannot take, however long it is kept up. */
TEST(gossip_node_stream_flood_is_refused_past_the_inbound_cap_and_earlier_streams_and_syncs_go_on)
{
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(3, 14, w, NULL);
    hostile_peer p;
    hostile_connect(s, &p, 2);
    hostile_open(s, &p);
    int flood[SIM_OUTSIDE_MAX];
    size_t accepted = 1, refused = 0;
    drop_snap a;
    snap(s, STREAM_VICTIM, &a);
    for (int k = 0; k < 60; k++) {
        int rc = sim_outside_connect(s, STREAM_VICTIM, &flood[accepted]);
        if (rc == 0)
            accepted++;
        else {
            CHECK_RC(rc, CARA_ELIMIT);
            refused++;
        }
    }
    drop_snap b;
    snap(s, STREAM_VICTIM, &b);
    /* Streams the victim dialled itself may hold slots too, never inbound ones. */
    CHECK_INT(accepted, <=, CARA_GOSSIP_STREAMS_INBOUND_MAX);
    CHECK_INT(accepted, >=, CARA_GOSSIP_STREAMS_INBOUND_MAX - 2);
    CHECK_INT(b.g.dropped[CARA_GOSSIP_DROP_FULL] - a.g.dropped[CARA_GOSSIP_DROP_FULL], ==, refused);
    /* The earliest stream still works: a SYNC on it is answered. */
    cara_crdt *empty = NULL;
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])sim_operator_pk(s),
                        .operator_pks_count = 1};
    CHECK_OK(cara_crdt_new(&empty, &cc, cara_test_env()));
    cara_buf sync, enc;
    cara_buf_init(&sync, cara_test_env(), CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&enc, cara_test_env(), CARA_WIRE_STREAM_MSG_BYTES_MAX);
    CHECK_OK(cara_crdt_sync_start(empty, &sync));
    cara_wire_msg *m = calloc(1, sizeof *m);
    uint8_t *frame = malloc(CARA_GOSSIP_FRAME_BYTES_MAX);
    CHECK(m != NULL && frame != NULL);
    m->kind = CARA_WIRE_SYNC;
    m->blob = (cara_wire_bytes){sync.data, sync.len};
    CHECK_OK(cara_wire_encode(m, CARA_WIRE_STREAM_MSG_BYTES_MAX, &enc));
    size_t fl = hostile_frame(&p, 0, enc.data, enc.len, frame);
    size_t kept;
    uint64_t total_before, total;
    (void)sim_outside_received(s, p.h, &kept, &total_before);
    CHECK_OK(sim_outside_send(s, p.h, frame, fl, 1));
    sim_run_for(s, 10);
    (void)sim_outside_received(s, p.h, &kept, &total);
    CHECK_INT(total, >, total_before);
    /* A byte every second (never a whole hello) does not keep a stranger's
     * slot: the handshake bound closes them, and the victim's own
     * exchanges go on. */
    uint64_t synced_before = b.g.syncs_completed;
    for (int t = 0; t < 30; t++) {
        for (size_t k = 1; k < accepted; k++)
            if (sim_outside_open(s, flood[k]))
                CHECK_OK(sim_outside_send(s, flood[k], (const uint8_t *)"\xca", 1, 0));
        sim_run_for(s, PERIOD_MS);
    }
    CHECK(!sim_outside_open(s, flood[1]));
    snap(s, STREAM_VICTIM, &b);
    CHECK_INT(b.g.syncs_completed, >, synced_before);
    for (size_t k = 1; k < accepted; k++)
        sim_outside_close(s, flood[k]);
    CHECK(all_see_all_alive(s, NULL));
    CHECK_INT(w->suspect_events, ==, 0);
    hostile_free(&p);
    free(m);
    free(frame);
    cara_buf_free(&sync);
    cara_buf_free(&enc);
    cara_crdt_free(empty);
    sim_free(s);
    free(w);
}

/* An admitted peer that sends SYNCs and never reads what comes back: the
 * victim answers at most CARA_GOSSIP_SYNC_ROUNDS_MAX of them with work
 * (DELTA, SYNC), every later one with a DONE alone, so what it writes to
 * a peer that does not read grows with the rounds cap, not with the
 * peer's input; nothing of the peer's is applied (it holds nothing). */
TEST(gossip_node_peer_sending_syncs_and_never_reading_gets_bounded_answers)
{
    watch *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    sim *s = booted(3, 15, w, NULL);
    drop_snap a;
    snap(s, STREAM_VICTIM, &a);
    hostile_peer p;
    hostile_connect(s, &p, 4);
    hostile_open(s, &p);
    cara_crdt *empty = NULL;
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])sim_operator_pk(s),
                        .operator_pks_count = 1};
    CHECK_OK(cara_crdt_new(&empty, &cc, cara_test_env()));
    cara_buf sync, enc;
    cara_buf_init(&sync, cara_test_env(), CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&enc, cara_test_env(), CARA_WIRE_STREAM_MSG_BYTES_MAX);
    CHECK_OK(cara_crdt_sync_start(empty, &sync));
    cara_wire_msg *m = calloc(1, sizeof *m);
    uint8_t *frame = malloc(CARA_GOSSIP_FRAME_BYTES_MAX);
    uint8_t *plain = malloc(CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX);
    CHECK(m != NULL && frame != NULL && plain != NULL);
    m->kind = CARA_WIRE_SYNC;
    m->blob = (cara_wire_bytes){sync.data, sync.len};
    CHECK_OK(cara_wire_encode(m, CARA_WIRE_STREAM_MSG_BYTES_MAX, &enc));
    const int sent = 4 * CARA_GOSSIP_SYNC_ROUNDS_MAX;
    for (int k = 0; k < sent; k++) {
        size_t fl = hostile_frame(&p, 0, enc.data, enc.len, frame);
        CHECK_OK(sim_outside_send(s, p.h, frame, fl, 1));
    }
    sim_run_for(s, 20);
    /* Read it all afterwards, as the peer never did. */
    size_t kept;
    uint64_t total;
    const uint8_t *b = sim_outside_received(s, p.h, &kept, &total);
    CHECK_INT(total, ==, kept); /* all kept: the bound below is far under the keep */
    size_t off = CARA_SEAL_HELLO_BYTES, work = 0, done = 0, work_bytes = 0;
    while (off < kept) {
        size_t used = 0, plen = 0;
        CHECK_OK(cara_seal_stream_open(p.seal, &p.st, b + off, kept - off, &used, plain,
                                       CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX, &plen));
        CHECK_INT(plain[0], ==, 0); /* every answer fits one frame here */
        CHECK_OK(cara_wire_decode(plain + 1, plen - 1, CARA_WIRE_IN_STREAM, m));
        if (m->kind == CARA_WIRE_DONE) {
            done++;
        } else {
            CHECK(m->kind == CARA_WIRE_SYNC || m->kind == CARA_WIRE_DELTA);
            work++;
            work_bytes += used;
        }
        off += used;
    }
    say("  %d SYNCs never read: %zu answers with work (%zu bytes), %zu DONE; %llu bytes in all\n",
        sent, work, work_bytes, done, (unsigned long long)total);
    CHECK_INT(work, <=, 2 * CARA_GOSSIP_SYNC_ROUNDS_MAX);
    CHECK_INT(done, >=, (size_t)sent - CARA_GOSSIP_SYNC_ROUNDS_MAX);
    CHECK_INT(work + done, <=, (size_t)sent * 2);
    drop_snap c;
    snap(s, STREAM_VICTIM, &c);
    CHECK_MEM(a.hash, 32, c.hash, 32);
    CHECK_INT(c.g.sync_records_applied, ==, a.g.sync_records_applied);
    sim_outside_close(s, p.h);
    sim_run_for(s, 5 * PERIOD_MS);
    CHECK(all_see_all_alive(s, NULL));
    CHECK_INT(w->suspect_events, ==, 0);
    hostile_free(&p);
    free(m);
    free(frame);
    free(plain);
    cara_buf_free(&sync);
    cara_buf_free(&enc);
    cara_crdt_free(empty);
    sim_free(s);
    free(w);
}
