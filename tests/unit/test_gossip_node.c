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
#include "harness.h"

#define PERIOD_MS 1000
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
    uint64_t suspect_ms[SIM_NODES_MAX][SIM_NODES_MAX]; /* first, [observer][subject] */
    uint64_t dead_ms[SIM_NODES_MAX][SIM_NODES_MAX];
    uint64_t alive_ms[SIM_NODES_MAX][SIM_NODES_MAX];   /* last ALIVE event */
    uint64_t suspect_events, dead_events;
    uint32_t acked_holders_max;
    uint64_t acked_events;
    uint64_t joined[SIM_NODES_MAX], join_refused[SIM_NODES_MAX];
    int32_t join_refused_reason[SIM_NODES_MAX];
    uint64_t refused_join[SIM_NODES_MAX], welcomed[SIM_NODES_MAX];
    int32_t refused_join_reason[SIM_NODES_MAX];
    uint64_t synced[SIM_NODES_MAX], synced_applied[SIM_NODES_MAX];
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
