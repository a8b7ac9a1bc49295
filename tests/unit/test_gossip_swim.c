/*
 * SWIM membership with Lifeguard (src/gossip/swim.c, docs/gossip.md).
 *
 * The cluster tests run N cara_swim objects on a tiny deterministic network
 * written here: a queue of (from, to, message, deliver_at) with per-link
 * loss and latency from a seeded rng, driven by each object's
 * next_deadline. It is a test fixture, not the simulator (tests/sim). Time
 * is counted in probe periods of the default configuration (1 s).
 *
 * Property tests draw from cara_test_seed(); the harness prints the seed
 * with any failure (CARA_TEST_SEED replays it). Set CARA_TEST_VERBOSE to
 * see the measured numbers.
 */
#include <math.h>
#include <stdarg.h>

#include "gossip/swim_int.h"
#include "harness.h"

#define NET_MAX 32
#define QUEUE_MAX 8192
#define PERIOD_MS 1000
#define NEVER UINT64_MAX

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

/* ---- The fixture network ------------------------------------------------ */

typedef struct flight {
    int from, to;
    uint64_t at_ms, order;
    cara_swim_msg msg;
} flight;

typedef struct net {
    int n;
    cara_env envs[NET_MAX];
    cara_swim_cfg cfg[NET_MAX];
    cara_swim *nodes[NET_MAX];
    bool crashed[NET_MAX];
    uint32_t loss_pct;
    uint32_t latency_min_ms, latency_max_ms;
    uint32_t inbound_delay_ms[NET_MAX]; /* a slow node: its input is late */
    cara_rng rng;
    flight *q;
    size_t q_count;
    uint64_t now_ms, order;
    /* What observers saw, indexed [observer][subject]; NEVER if not. */
    uint64_t suspect_ms[NET_MAX][NET_MAX], dead_ms[NET_MAX][NET_MAX];
    uint64_t left_ms[NET_MAX][NET_MAX], reaped_ms[NET_MAX][NET_MAX];
    uint64_t suspect_events, dead_events, alive_again_events;
    uint64_t live_suspect_events; /* suspect events about members not crashed */
    uint32_t lhm_max[NET_MAX];
    /* Test 8: DEAD updates about `count_subject` sent, per sender. */
    int count_subject;
    uint32_t dead_sent[NET_MAX];
    size_t msgs_sent, piggyback_max_seen, piggyback_bytes_max_seen;
    size_t updates_sent; /* piggybacked entries of every message, samples included */
} net;

static void fill_id(cara_swim_id *id, int i)
{
    memset(id, 0, sizeof *id);
    id->name_len = (uint8_t)snprintf(id->name, sizeof id->name, "n%02d", i);
    memset(id->key, 0x40 + i, sizeof id->key);
}

static cara_swim_peer peer_of_index(int i)
{
    cara_swim_peer p;
    fill_id(&p.id, i);
    p.addr.len = 2;
    memset(p.addr.bytes, 0, sizeof p.addr.bytes);
    p.addr.bytes[0] = 10;
    p.addr.bytes[1] = (uint8_t)i;
    return p;
}

static int index_of(const cara_swim_id *id)
{
    CHECK(id->name_len == 3 && id->name[0] == 'n');
    return (id->name[1] - '0') * 10 + (id->name[2] - '0');
}

/* A network of `n` nodes with the LAN defaults (changed by `tweak`). */
static net *net_new(int n, void (*tweak)(cara_swim_cfg *))
{
    net *w = calloc(1, sizeof *w);
    CHECK(w != NULL && n <= NET_MAX);
    w->q = calloc(QUEUE_MAX, sizeof *w->q);
    CHECK(w->q != NULL);
    w->n = n;
    w->latency_min_ms = 1;
    w->latency_max_ms = 10;
    w->count_subject = -1;
    uint64_t seed = cara_test_seed();
    cara_rng_seed(&w->rng, seed);
    memset(w->suspect_ms, 0xff, sizeof w->suspect_ms);
    memset(w->dead_ms, 0xff, sizeof w->dead_ms);
    memset(w->left_ms, 0xff, sizeof w->left_ms);
    memset(w->reaped_ms, 0xff, sizeof w->reaped_ms);
    for (int i = 0; i < n; i++) {
        w->envs[i] = *cara_test_env();
        cara_rng_seed(&w->envs[i].rng, seed * 1000003u + (uint64_t)i + 1);
        cara_swim_cfg_lan(&w->cfg[i]);
        cara_swim_peer me = peer_of_index(i);
        w->cfg[i].self = me.id;
        w->cfg[i].self_addr = me.addr;
        if (tweak)
            tweak(&w->cfg[i]);
        CHECK_OK(cara_swim_new(&w->nodes[i], &w->cfg[i], &w->envs[i]));
    }
    return w;
}

static void net_free(net *w)
{
    for (int i = 0; i < w->n; i++)
        cara_swim_free(w->nodes[i]);
    free(w->q);
    free(w);
}

static void record_event(net *w, int obs, const cara_swim_event *ev)
{
    int subj = index_of(&ev->member.id);
    switch (ev->kind) {
    case CARA_SWIM_EV_SUSPECT:
        w->suspect_events++;
        w->live_suspect_events += !w->crashed[subj];
        if (w->suspect_ms[obs][subj] == NEVER)
            w->suspect_ms[obs][subj] = w->now_ms;
        break;
    case CARA_SWIM_EV_DEAD:
        w->dead_events++;
        if (w->dead_ms[obs][subj] == NEVER)
            w->dead_ms[obs][subj] = w->now_ms;
        break;
    case CARA_SWIM_EV_LEFT:
        w->left_ms[obs][subj] = w->now_ms;
        break;
    case CARA_SWIM_EV_REAPED:
        w->reaped_ms[obs][subj] = w->now_ms;
        break;
    case CARA_SWIM_EV_ALIVE_AGAIN:
        w->alive_again_events++;
        break;
    }
}

/* Sends of DEAD(count_subject) to anyone but the subject: those to the
 * subject itself come from the member table (it is told its own state when
 * a late relay pings it), not from the broadcast queue. */
static void account_msg(net *w, int from, int to, const cara_swim_msg *msg)
{
    size_t bytes = 0;
    w->msgs_sent++;
    w->updates_sent += msg->updates_count;
    for (size_t i = 0; i < msg->updates_count; i++) {
        const cara_swim_update *u = &msg->updates[i];
        bytes += cara_swim_update_bytes_max(u);
        if (u->kind == CARA_SWIM_DEAD && w->count_subject >= 0 &&
            index_of(&u->member) == w->count_subject && to != w->count_subject)
            w->dead_sent[from]++;
    }
    if (msg->updates_count > w->piggyback_max_seen)
        w->piggyback_max_seen = msg->updates_count;
    if (bytes > w->piggyback_bytes_max_seen)
        w->piggyback_bytes_max_seen = bytes;
}

/* Takes node i's output onto the wire (and its events into the record). */
static void net_pump(net *w, int i)
{
    cara_swim_peer to;
    cara_swim_event ev;
    while (cara_swim_poll_event(w->nodes[i], &ev) == 0)
        record_event(w, i, &ev);
    uint32_t lhm = cara_swim_local_health(w->nodes[i]);
    if (lhm > w->lhm_max[i])
        w->lhm_max[i] = lhm;
    for (;;) {
        flight *f = &w->q[w->q_count];
        CHECK(w->q_count < QUEUE_MAX);
        if (cara_swim_poll_send(w->nodes[i], &to, &f->msg) != 0)
            break;
        int dst = index_of(&to.id);
        account_msg(w, i, dst, &f->msg);
        if (w->crashed[i] || cara_rng_below(&w->rng, 100) < w->loss_pct)
            continue;
        f->from = i;
        f->to = dst;
        f->order = w->order++;
        f->at_ms = w->now_ms + w->latency_min_ms +
                   cara_rng_below(&w->rng, w->latency_max_ms - w->latency_min_ms + 1) +
                   w->inbound_delay_ms[dst];
        w->q_count++;
    }
}

static uint64_t net_next(const net *w, size_t *qi)
{
    uint64_t t = NEVER;
    *qi = SIZE_MAX;
    for (size_t k = 0; k < w->q_count; k++)
        if (w->q[k].at_ms < t || (w->q[k].at_ms == t && w->q[k].order < w->q[*qi].order)) {
            t = w->q[k].at_ms;
            *qi = k;
        }
    for (int i = 0; i < w->n; i++)
        if (!w->crashed[i]) {
            uint64_t d = cara_swim_next_deadline_ms(w->nodes[i]);
            t = d < t ? d : t;
        }
    return t;
}

/* Runs the network until `until_ms`, one delivery or tick round a step. */
static void net_run(net *w, uint64_t until_ms)
{
    for (;;) {
        size_t qi;
        uint64_t t = net_next(w, &qi);
        if (t > until_ms) {
            w->now_ms = until_ms;
            return;
        }
        /* A confirmation can pull a suspicion's deadline into the past:
         * it is due now. */
        t = t < w->now_ms ? w->now_ms : t;
        w->now_ms = t;
        if (qi != SIZE_MAX && w->q[qi].at_ms <= t) {
            flight f = w->q[qi];
            w->q[qi] = w->q[--w->q_count];
            if (w->crashed[f.to])
                continue;
            cara_swim_peer from = peer_of_index(f.from);
            CHECK_OK(cara_swim_recv(w->nodes[f.to], &from.id, &f.msg, t));
            net_pump(w, f.to);
            continue;
        }
        for (int i = 0; i < w->n; i++)
            if (!w->crashed[i] && cara_swim_next_deadline_ms(w->nodes[i]) <= t) {
                CHECK_OK(cara_swim_tick(w->nodes[i], t));
                net_pump(w, i);
                CHECK(cara_swim_next_deadline_ms(w->nodes[i]) > t);
            }
    }
}

/* Every node joins through node 0; returns the periods until every node
 * counts all n alive (or NEVER past `limit_periods`). */
static uint64_t net_join_all(net *w, uint64_t limit_periods)
{
    cara_swim_peer seed = peer_of_index(0);
    for (int i = 1; i < w->n; i++) {
        CHECK_OK(cara_swim_join(w->nodes[i], &seed, w->now_ms));
        net_pump(w, i);
    }
    uint64_t start_ms = w->now_ms;
    for (uint64_t p = 1; p <= limit_periods; p++) {
        net_run(w, start_ms + p * PERIOD_MS);
        bool all = true;
        for (int i = 0; i < w->n; i++)
            all = all && cara_swim_alive_count(w->nodes[i]) == (size_t)w->n;
        if (all)
            return p;
    }
    return NEVER;
}

static int state_of(net *w, int obs, int subj)
{
    cara_swim_peer p = peer_of_index(subj);
    int st = 0;
    uint32_t inc = 0;
    if (cara_swim_member(w->nodes[obs], p.id.name, p.id.name_len, &st, &inc) != 0)
        return 0;
    return st;
}

static void net_crash(net *w, int i)
{
    w->crashed[i] = true;
}

/* ---- (1) Join and convergence ------------------------------------------- */

TEST(swim_sixteen_nodes_joined_through_one_seed_all_see_sixteen_alive)
{
    net *w = net_new(16, NULL);
    uint64_t periods = net_join_all(w, 30);
    say("  converged in %llu periods\n", (unsigned long long)periods);
    CHECK(periods != NEVER);
    /* And it stays so: no suspicion on a clean network. */
    net_run(w, w->now_ms + 60 * PERIOD_MS);
    for (int i = 0; i < 16; i++) {
        CHECK_INT(cara_swim_alive_count(w->nodes[i]), ==, 16);
        CHECK_INT(cara_swim_suspect_count(w->nodes[i]), ==, 0);
        CHECK_INT(cara_swim_get_stats(w->nodes[i])->nonsense_count, ==, 0);
    }
    CHECK_INT(w->suspect_events, ==, 0);
    net_free(w);
}

/* Samples are for members whose view may differ from ours. Once every
 * view is the same, every digest is, and a cluster at rest sends probes
 * with nothing piggybacked; a change (a crash) makes them flow again until
 * the views agree once more. */
TEST(swim_samples_stop_once_views_agree_and_resume_when_they_differ)
{
    net *w = net_new(16, NULL);
    CHECK(net_join_all(w, 30) != NEVER);
    /* Until every member has heard every other's digest: a round of
     * probes (15 periods) and some. */
    net_run(w, w->now_ms + 40 * PERIOD_MS);
    uint32_t d0 = cara_swim_digest(w->nodes[0]);
    CHECK(d0 != 0);
    for (int i = 1; i < 16; i++)
        CHECK_INT(cara_swim_digest(w->nodes[i]), ==, d0);
    size_t msgs0 = w->msgs_sent, upd0 = w->updates_sent;
    net_run(w, w->now_ms + 60 * PERIOD_MS);
    size_t msgs = w->msgs_sent - msgs0, upd = w->updates_sent - upd0;
    say("  at rest: %zu messages, %zu updates\n", msgs, upd);
    CHECK_INT(msgs, >=, 2 * 16 * 55); /* a ping and an ack per node per period */
    CHECK_INT(upd, ==, 0);
    /* A crash changes every view: the death is spread, then samples go out
     * again until the digests agree (without the dead member). */
    net_crash(w, 5);
    net_run(w, w->now_ms + 40 * PERIOD_MS);
    CHECK_INT(w->updates_sent - upd0, >, 0);
    uint32_t d1 = cara_swim_digest(w->nodes[0]);
    CHECK(d1 != d0);
    for (int i = 1; i < 16; i++)
        if (i != 5)
            CHECK_INT(cara_swim_digest(w->nodes[i]), ==, d1);
    upd0 = w->updates_sent;
    net_run(w, w->now_ms + 60 * PERIOD_MS);
    CHECK_INT(w->updates_sent - upd0, ==, 0);
    net_free(w);
}

/* ---- (2) Crash detection ------------------------------------------------- */

/* Bound: the first suspicion comes within 2(N-1) periods (the randomised
 * round-robin visits every member once a round), the suspicion lasts at most
 * suspicion_max (12 x 2 x log10 16 = 28.9 periods at N = 16), and the death
 * then spreads in a few periods. With 15 probers the confirmations arrive
 * fast, so we hold the implementation to a much tighter 20 periods. */
TEST(swim_crashed_node_is_declared_dead_by_everyone_within_twenty_periods)
{
    net *w = net_new(16, NULL);
    CHECK(net_join_all(w, 30) != NEVER);
    net_run(w, w->now_ms + 10 * PERIOD_MS);
    uint64_t worst_first_ms = 0, worst_all_ms = 0;
    for (int victim = 3; victim <= 12; victim += 3) {
        uint64_t crash_ms = w->now_ms;
        net_crash(w, victim);
        net_run(w, crash_ms + 40 * PERIOD_MS);
        uint64_t first_suspect = NEVER, all_dead = 0;
        for (int o = 0; o < 16; o++) {
            if (w->crashed[o])
                continue;
            CHECK(w->dead_ms[o][victim] != NEVER);
            if (w->suspect_ms[o][victim] < first_suspect)
                first_suspect = w->suspect_ms[o][victim];
            if (w->dead_ms[o][victim] > all_dead)
                all_dead = w->dead_ms[o][victim];
        }
        CHECK(first_suspect != NEVER);
        say("  victim n%02d: first suspicion after %.1f periods, dead everywhere after %.1f\n",
            victim, (double)(first_suspect - crash_ms) / PERIOD_MS,
            (double)(all_dead - crash_ms) / PERIOD_MS);
        if (first_suspect - crash_ms > worst_first_ms)
            worst_first_ms = first_suspect - crash_ms;
        if (all_dead - crash_ms > worst_all_ms)
            worst_all_ms = all_dead - crash_ms;
        CHECK_INT(all_dead - crash_ms, <=, 20 * PERIOD_MS);
    }
    say("  worst: first suspicion %.1f periods, all dead %.1f periods\n",
        (double)worst_first_ms / PERIOD_MS, (double)worst_all_ms / PERIOD_MS);
    net_free(w);
}

/* The LAN defaults end a confirmed suspicion at a short minimum (2 x
 * log10 16 = 2.4 periods at N = 16; it was 4.8): only once three other
 * members have each seen their own probe of the suspect fail, and every
 * member that hears of a suspicion probes the suspect at once. Under 10 %
 * loss, three crashes in turn must each be declared by everyone, none
 * before the minimum has run since the first suspicion, all within a few
 * periods after it (not the 28.9-period maximum); and no live member may
 * die, though the loss makes them suspected again and again. */
TEST(swim_short_minimum_with_three_confirmations_detects_crashes_and_kills_no_live_member_under_loss)
{
    enum { N = 16 };
    net *w = net_new(N, NULL);
    CHECK(net_join_all(w, 30) != NEVER);
    w->loss_pct = 10;
    net_run(w, w->now_ms + 100 * PERIOD_MS);
    const int victims[] = {4, 9, 13};
    for (size_t k = 0; k < 3; k++) {
        int v = victims[k];
        /* N when the suspicion starts: the victim is still counted. */
        uint64_t min_ms = cara_swim_suspicion_min_ms(w->cfg[0].suspicion_mult, N - k,
                                                     w->cfg[0].probe_interval_ms);
        uint64_t max_ms = w->cfg[0].suspicion_max_mult * min_ms;
        uint64_t crash_ms = w->now_ms;
        for (int o = 0; o < N; o++)
            w->suspect_ms[o][v] = NEVER; /* loss may have had it suspected before */
        net_crash(w, v);
        net_run(w, crash_ms + 40 * PERIOD_MS);
        uint64_t first_suspect = NEVER, first_dead = NEVER, all_dead = 0;
        for (int o = 0; o < N; o++) {
            if (w->crashed[o])
                continue;
            CHECK(w->dead_ms[o][v] != NEVER);
            first_suspect = w->suspect_ms[o][v] < first_suspect ? w->suspect_ms[o][v] : first_suspect;
            first_dead = w->dead_ms[o][v] < first_dead ? w->dead_ms[o][v] : first_dead;
            all_dead = w->dead_ms[o][v] > all_dead ? w->dead_ms[o][v] : all_dead;
        }
        CHECK(first_suspect != NEVER);
        say("  n%02d: first suspicion after %.1f periods, first death %.1f and last %.1f periods "
            "after it (minimum %.1f, maximum %.1f)\n", v,
            (double)(first_suspect - crash_ms) / PERIOD_MS,
            (double)(first_dead - first_suspect) / PERIOD_MS,
            (double)(all_dead - first_suspect) / PERIOD_MS, (double)min_ms / PERIOD_MS,
            (double)max_ms / PERIOD_MS);
        CHECK_INT(first_suspect - crash_ms, <=, (2 * (N - 1) + 1) * PERIOD_MS);
        CHECK_INT(first_dead - first_suspect, >=, min_ms);
        CHECK_INT(all_dead - first_suspect, <=, min_ms + 6 * PERIOD_MS);
    }
    net_run(w, w->now_ms + 200 * PERIOD_MS);
    uint64_t raised = 0, deaths = 0;
    for (int i = 0; i < N; i++) {
        raised += cara_swim_get_stats(w->nodes[i])->suspicions_raised_count;
        deaths += cara_swim_get_stats(w->nodes[i])->deaths_declared_count;
        for (int j = 0; j < N; j++)
            if (j != 4 && j != 9 && j != 13)
                CHECK(w->dead_ms[i][j] == NEVER);
    }
    say("  %llu suspicions raised, %llu suspect events about live members, %llu deaths "
        "declared (of 3 crashed members)\n", (unsigned long long)raised,
        (unsigned long long)w->live_suspect_events, (unsigned long long)deaths);
    /* Loss made live members suspected too (the test can fail), and the
     * deaths declared were all of crashed members. */
    CHECK_INT(w->live_suspect_events, >, 0);
    CHECK_INT(raised, >, 0);
    CHECK_INT(deaths, >=, 3);
    net_free(w);
}

/* ---- (3) No false deaths under loss -------------------------------------- */

TEST(swim_ten_percent_loss_for_2000_periods_gives_no_false_death_and_refutes_suspicions)
{
    net *w = net_new(16, NULL);
    CHECK(net_join_all(w, 30) != NEVER);
    w->loss_pct = 10;
    uint64_t start_ms = w->now_ms;
    net_run(w, start_ms + 2000 * PERIOD_MS);
    uint64_t raised = 0, refuted = 0, refutations = 0, failed = 0, probes = 0;
    for (int i = 0; i < 16; i++) {
        const cara_swim_stats *st = cara_swim_get_stats(w->nodes[i]);
        raised += st->suspicions_raised_count;
        refuted += st->false_suspicions_refuted_count;
        refutations += st->refutations_count;
        failed += st->probes_failed_count;
        probes += st->probes_sent_count;
        CHECK_INT(st->nonsense_count, ==, 0);
        CHECK_INT(st->deaths_declared_count, ==, 0);
    }
    say("  %llu probes, %llu failed, %llu suspicions raised, %llu suspect events,"
        " %llu refutations (incarnation raised), %llu suspect->alive seen, %llu dead\n",
        (unsigned long long)probes, (unsigned long long)failed, (unsigned long long)raised,
        (unsigned long long)w->suspect_events, (unsigned long long)refutations,
        (unsigned long long)refuted, (unsigned long long)w->dead_events);
    CHECK_INT(w->dead_events, ==, 0);
    /* The test can fail: 10 % loss does cause suspicions, and each must be
     * refuted, not left to expire. */
    CHECK_INT(raised, >, 0);
    CHECK_INT(refutations, >, 0);
    CHECK_INT(refuted, >=, raised);
    for (int i = 0; i < 16; i++)
        CHECK_INT(cara_swim_alive_count(w->nodes[i]) + cara_swim_suspect_count(w->nodes[i]), ==,
                  16);
    net_free(w);
}

/* ---- (4) Refutation ------------------------------------------------------ */

static cara_swim_msg ping_to(int target)
{
    cara_swim_msg m;
    memset(&m, 0, sizeof m);
    m.type = CARA_SWIM_PING;
    m.seq = 1;
    m.target = peer_of_index(target).id;
    return m;
}

static cara_swim_update upd(uint8_t kind, int member, uint32_t inc, int accuser)
{
    cara_swim_update u;
    memset(&u, 0, sizeof u);
    u.kind = kind;
    u.incarnation = inc;
    cara_swim_peer p = peer_of_index(member);
    u.member = p.id;
    if (kind == CARA_SWIM_ALIVE)
        u.addr = p.addr;
    if (accuser >= 0) {
        cara_swim_id a;
        fill_id(&a, accuser);
        u.accuser_len = a.name_len;
        memcpy(u.accuser, a.name, a.name_len);
    }
    return u;
}

/* Hands node `to` a ping from `from` carrying `u`, as the network would. */
static void inject(net *w, int from, int to, const cara_swim_update *u)
{
    cara_swim_msg m = ping_to(to);
    m.updates_count = 1;
    m.updates[0] = *u;
    cara_swim_peer p = peer_of_index(from);
    CHECK_OK(cara_swim_recv(w->nodes[to], &p.id, &m, w->now_ms));
    net_pump(w, to);
}

TEST(swim_suspected_live_node_refutes_by_raising_its_incarnation)
{
    net *w = net_new(4, NULL);
    CHECK(net_join_all(w, 20) != NEVER);
    uint32_t inc0 = cara_swim_incarnation(w->nodes[1]);
    /* n02 tells n00 that it suspects n01 (a false suspicion). */
    cara_swim_update u = upd(CARA_SWIM_SUSPECT, 1, inc0, 2);
    inject(w, 2, 0, &u);
    CHECK_INT(state_of(w, 0, 1), ==, CARA_SWIM_SUSPECT);
    net_run(w, w->now_ms + 5 * PERIOD_MS);
    CHECK_INT(cara_swim_incarnation(w->nodes[1]), ==, inc0 + 1);
    CHECK_INT(cara_swim_get_stats(w->nodes[1])->refutations_count, ==, 1);
    CHECK_INT(cara_swim_get_stats(w->nodes[0])->false_suspicions_refuted_count, ==, 1);
    for (int o = 0; o < 4; o++) {
        int st = 0;
        uint32_t inc = 0;
        cara_swim_peer p = peer_of_index(1);
        CHECK_OK(cara_swim_member(w->nodes[o], p.id.name, p.id.name_len, &st, &inc));
        CHECK_INT(st, ==, CARA_SWIM_ALIVE);
        CHECK_INT(inc, ==, inc0 + 1);
    }
    CHECK_INT(w->dead_events, ==, 0);
    /* An old suspicion (below the new incarnation) is stale, not news. */
    uint64_t stale = cara_swim_get_stats(w->nodes[0])->stale_count;
    inject(w, 2, 0, &u);
    CHECK_INT(state_of(w, 0, 1), ==, CARA_SWIM_ALIVE);
    CHECK_INT(cara_swim_get_stats(w->nodes[0])->stale_count, ==, stale + 1);
    net_free(w);
}

TEST(swim_nonsense_from_peers_is_dropped_and_counted_never_fatal)
{
    net *w = net_new(3, NULL);
    CHECK(net_join_all(w, 20) != NEVER);
    const cara_swim_stats *st = cara_swim_get_stats(w->nodes[0]);
    uint64_t before = st->nonsense_count;
    /* Incarnation games: past the cap, and a LEFT said by someone else. */
    cara_swim_update u = upd(CARA_SWIM_SUSPECT, 1, CARA_SWIM_INCARNATION_MAX + 1, 2);
    inject(w, 2, 0, &u);
    u = upd(CARA_SWIM_LEFT, 1, 5, 2);
    inject(w, 2, 0, &u);
    u = upd(CARA_SWIM_SUSPECT, 1, 0, -1); /* no accuser */
    inject(w, 2, 0, &u);
    CHECK_INT(st->nonsense_count, ==, before + 3);
    CHECK_INT(state_of(w, 0, 1), ==, CARA_SWIM_ALIVE);
    /* An ack from a member nobody knows, and one for a seq never sent. */
    cara_swim_msg m;
    memset(&m, 0, sizeof m);
    m.type = CARA_SWIM_ACK;
    m.seq = 7;
    cara_swim_peer stranger = peer_of_index(9), n1 = peer_of_index(1);
    CHECK_OK(cara_swim_recv(w->nodes[0], &stranger.id, &m, w->now_ms));
    m.seq = 4000000000u;
    CHECK_OK(cara_swim_recv(w->nodes[0], &n1.id, &m, w->now_ms));
    /* A ping meant for someone else, an unknown type, a message from
     * "ourselves", and an identity conflict (n01's name, another key). */
    m = ping_to(2);
    CHECK_OK(cara_swim_recv(w->nodes[0], &n1.id, &m, w->now_ms));
    m.type = 99;
    CHECK_OK(cara_swim_recv(w->nodes[0], &n1.id, &m, w->now_ms));
    cara_swim_peer self = peer_of_index(0);
    m = ping_to(0);
    CHECK_OK(cara_swim_recv(w->nodes[0], &self.id, &m, w->now_ms));
    CHECK_INT(st->nonsense_count, ==, before + 8);
    u = upd(CARA_SWIM_ALIVE, 1, 9, -1);
    u.member.key[0] ^= 1;
    inject(w, 2, 0, &u);
    CHECK_INT(st->conflicts_count, ==, 1);
    /* The cluster carries on. */
    net_run(w, w->now_ms + 20 * PERIOD_MS);
    CHECK_INT(cara_swim_alive_count(w->nodes[0]), ==, 3);
    CHECK_INT(w->dead_events, ==, 0);
    net_free(w);
}

/* ---- (5) Graceful leave -------------------------------------------------- */

TEST(swim_graceful_leave_is_seen_as_left_not_dead)
{
    net *w = net_new(8, NULL);
    CHECK(net_join_all(w, 20) != NEVER);
    CHECK_OK(cara_swim_leave(w->nodes[3], w->now_ms));
    net_pump(w, 3);
    net_run(w, w->now_ms + 3 * PERIOD_MS);
    net_crash(w, 3); /* the process exits after its notices */
    net_run(w, w->now_ms + 60 * PERIOD_MS);
    for (int o = 0; o < 8; o++) {
        if (o == 3)
            continue;
        CHECK_INT(state_of(w, o, 3), ==, CARA_SWIM_LEFT);
        CHECK(w->left_ms[o][3] != NEVER);
        CHECK_INT(cara_swim_alive_count(w->nodes[o]), ==, 7);
    }
    CHECK_INT(w->dead_events, ==, 0);
    net_free(w);
}

/* ---- (6) Lifeguard --------------------------------------------------------- */

/* n02's input arrives 1.2 s late (a slow or overloaded node): acks to its
 * probes miss its whole 1 s period, and so do the nacks of its indirect
 * probes. It must blame itself, raise its local health multiplier and probe
 * less often, and never get a healthy member declared dead. The others
 * suspect it again and again and it refutes each time; since it cannot
 * answer within a period at all, an observer that misses one refutation
 * may declare it dead (rare: counted and printed, not forbidden). */
TEST(swim_slow_node_raises_its_local_health_multiplier_and_probes_less)
{
    net *w = net_new(8, NULL);
    CHECK(net_join_all(w, 20) != NEVER);
    uint64_t before[8];
    for (int i = 0; i < 8; i++)
        before[i] = cara_swim_get_stats(w->nodes[i])->probes_sent_count;
    w->inbound_delay_ms[2] = 1200;
    net_run(w, w->now_ms + 200 * PERIOD_MS);
    uint64_t slow = cara_swim_get_stats(w->nodes[2])->probes_sent_count - before[2];
    uint64_t healthy = 0;
    for (int i = 0; i < 8; i++) {
        if (i == 2)
            continue;
        healthy += cara_swim_get_stats(w->nodes[i])->probes_sent_count - before[i];
        CHECK_INT(w->lhm_max[i], <=, 1);
    }
    healthy /= 7;
    say("  slow node: health multiplier up to %u, %llu probes in 200 periods; healthy: %llu\n",
        w->lhm_max[2], (unsigned long long)slow, (unsigned long long)healthy);
    CHECK_INT(w->lhm_max[2], >=, 1);
    CHECK_INT(slow * 4, <, healthy * 3);
    int healthy_dead = 0, slow_dead = 0;
    for (int o = 0; o < 8; o++)
        for (int j = 0; j < 8; j++)
            if (w->dead_ms[o][j] != NEVER)
                j == 2 ? slow_dead++ : healthy_dead++;
    say("  observers that declared the slow node dead: %d\n", slow_dead);
    CHECK_INT(healthy_dead, ==, 0);
    net_free(w);
}

TEST(swim_suspicion_timeout_formula_starts_long_and_shrinks_with_confirmations)
{
    /* N = 16: 4 x log10(16) x 1 s; small clusters use the floor of 1. */
    CHECK_INT(cara_swim_suspicion_min_ms(4, 16, 1000), ==, 4816);
    CHECK_INT(cara_swim_suspicion_min_ms(4, 5, 1000), ==, 4000);
    CHECK_INT(cara_swim_suspicion_min_ms(4, 100, 1000), ==, 8000);
    uint64_t min_ms = 4000, max_ms = 24000;
    CHECK_INT(cara_swim_suspicion_timeout_ms(min_ms, max_ms, 0, 2), ==, 24000);
    /* 24000 - 20000 * log 2 / log 3 = 11381.1 */
    CHECK_INT(cara_swim_suspicion_timeout_ms(min_ms, max_ms, 1, 2), ==, 11381);
    CHECK_INT(cara_swim_suspicion_timeout_ms(min_ms, max_ms, 2, 2), ==, 4000);
    CHECK_INT(cara_swim_suspicion_timeout_ms(min_ms, max_ms, 9, 2), ==, 4000);
    CHECK_INT(cara_swim_suspicion_timeout_ms(min_ms, max_ms, 0, 0), ==, 4000);
    uint64_t prev = max_ms + 1;
    for (uint32_t c = 0; c <= 8; c++) {
        uint64_t t = cara_swim_suspicion_timeout_ms(min_ms, max_ms, c, 6);
        CHECK_INT(t, <, prev);
        CHECK_INT(t, >=, min_ms);
        prev = c < 6 ? t : prev;
        if (c >= 6)
            CHECK_INT(t, ==, min_ms);
    }
}

/* Node n00 knows n01..n(nodes-1); n01 is accused by `accusers` of the
 * others, n02 first. Returns whether n00 holds n01 dead at `at_ms` (no tick
 * before it, so n00's own probes never fail in between). */
static bool dead_in_at(int nodes, int accusers, uint64_t at_ms)
{
    net *w = net_new(nodes, NULL);
    for (int i = 1; i < nodes; i++) {
        cara_swim_peer p = peer_of_index(i);
        CHECK_OK(cara_swim_join(w->nodes[0], &p, 0));
    }
    for (int a = 0; a < accusers; a++) {
        cara_swim_update u = upd(CARA_SWIM_SUSPECT, 1, 0, 2 + a);
        inject(w, 2 + a, 0, &u);
    }
    CHECK_INT(state_of(w, 0, 1), ==, CARA_SWIM_SUSPECT);
    CHECK_OK(cara_swim_tick(w->nodes[0], at_ms));
    bool dead = state_of(w, 0, 1) == CARA_SWIM_DEAD;
    net_free(w);
    return dead;
}

static bool dead_at(int accusers, uint64_t at_ms)
{
    return dead_in_at(6, accusers, at_ms);
}

/* The LAN defaults: a minimum of 2 x max(1, log10 N) periods (2 s at
 * N = 6), a maximum of 12 times that, and K = 3 confirmations (accusers
 * beyond the first) to bring it down to the minimum; K is its own setting,
 * not suspicion_mult - 2 as in memberlist. */
TEST(swim_independent_confirmations_shorten_a_suspicion_to_its_minimum)
{
    cara_swim_cfg lan;
    cara_swim_cfg_lan(&lan);
    CHECK_INT(lan.suspicion_confirmations, ==, 3);
    uint64_t min_ms = cara_swim_suspicion_min_ms(lan.suspicion_mult, 6, 1000); /* 2 s */
    CHECK_INT(min_ms, ==, 2000);
    uint64_t max_ms = lan.suspicion_max_mult * min_ms;
    CHECK_INT(max_ms, ==, 24000);
    uint64_t one_ms = cara_swim_suspicion_timeout_ms(min_ms, max_ms, 1, 3);
    uint64_t two_ms = cara_swim_suspicion_timeout_ms(min_ms, max_ms, 2, 3);
    CHECK(!dead_at(4, min_ms - 1));
    CHECK(dead_at(4, min_ms));
    CHECK(!dead_at(3, two_ms - 1));
    CHECK(dead_at(3, two_ms));
    CHECK(!dead_at(2, one_ms - 1));
    CHECK(dead_at(2, one_ms));
    CHECK(!dead_at(1, max_ms - 1));
    CHECK(dead_at(1, max_ms));
    /* Three accusers (two confirmations) never reach the minimum. */
    CHECK_INT(two_ms, >, min_ms);
}

/* K never asks for more confirmations than there are members to give
 * them: in a cluster of four, the two members other than the suspect and
 * its first accuser (n03 and n00 here) are all the confirmations there can
 * be, so one of them counts for half the way, not a third. */
TEST(swim_small_cluster_reaches_the_minimum_with_every_member_it_has)
{
    cara_swim_cfg lan;
    cara_swim_cfg_lan(&lan);
    uint64_t min_ms = cara_swim_suspicion_min_ms(lan.suspicion_mult, 4, 1000);
    uint64_t max_ms = lan.suspicion_max_mult * min_ms;
    uint64_t one_of_two = cara_swim_suspicion_timeout_ms(min_ms, max_ms, 1, 2);
    uint64_t one_of_three = cara_swim_suspicion_timeout_ms(min_ms, max_ms, 1, 3);
    CHECK_INT(one_of_two, <, one_of_three);
    CHECK(!dead_in_at(4, 2, one_of_two - 1));
    CHECK(dead_in_at(4, 2, one_of_two));
    CHECK(!dead_in_at(4, 1, max_ms - 1));
    CHECK(dead_in_at(4, 1, max_ms));
}

/* ---- (7) Reaping ------------------------------------------------------------ */

static void short_horizon(cara_swim_cfg *cfg)
{
    cfg->reap_horizon_ms = 30000;
}

TEST(swim_dead_members_are_reaped_after_the_horizon_and_stay_gone)
{
    net *w = net_new(6, short_horizon);
    CHECK(net_join_all(w, 20) != NEVER);
    net_crash(w, 4);
    net_run(w, w->now_ms + 80 * PERIOD_MS);
    for (int o = 0; o < 6; o++) {
        if (o == 4)
            continue;
        CHECK(w->dead_ms[o][4] != NEVER && w->reaped_ms[o][4] != NEVER);
        CHECK_INT(w->reaped_ms[o][4] - w->dead_ms[o][4], ==, 30000);
        CHECK_INT(state_of(w, o, 4), ==, 0); /* CARA_ENOENT */
    }
    /* No zombie: late words about n04 do not bring it back. */
    net_run(w, w->now_ms + 30 * PERIOD_MS);
    for (int o = 0; o < 6; o++)
        if (o != 4)
            CHECK_INT(state_of(w, o, 4), ==, 0);
    net_free(w);
}

/* ---- (8) Dissemination bounds ------------------------------------------------ */

TEST(swim_piggyback_list_respects_its_count_and_byte_caps)
{
    cara_env env = *cara_test_env();
    cara_swim_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cara_swim_cfg_lan(&cfg);
    cfg.self.name_len = 1;
    cfg.self.name[0] = 'a';
    cara_swim *s = NULL;
    CHECK_OK(cara_swim_new(&s, &cfg, &env));
    /* Forty members with names at the cap arrive in three pings. */
    for (int batch = 0; batch < 3; batch++) {
        cara_swim_msg m;
        memset(&m, 0, sizeof m);
        m.type = CARA_SWIM_PING;
        m.seq = (uint32_t)batch + 1;
        m.target = cfg.self;
        for (int i = 0; i < CARA_SWIM_PIGGYBACK_MAX && batch * 16 + i < 40; i++) {
            cara_swim_update *u = &m.updates[m.updates_count++];
            u->kind = CARA_SWIM_ALIVE;
            u->member.name_len = CARA_SWIM_NAME_BYTES_MAX;
            memset(u->member.name, 'm', CARA_SWIM_NAME_BYTES_MAX);
            int k = batch * 16 + i;
            u->member.name[0] = (char)('0' + k / 10);
            u->member.name[1] = (char)('0' + k % 10);
            u->addr.len = CARA_SWIM_ADDR_BYTES_MAX;
        }
        cara_swim_id from = m.updates[0].member;
        CHECK_OK(cara_swim_recv(s, &from, &m, 0));
    }
    CHECK_INT(cara_swim_alive_count(s), ==, 41);
    cara_swim_peer to;
    cara_swim_msg out;
    size_t sent = 0;
    while (cara_swim_poll_send(s, &to, &out) == 0) {
        size_t bytes = 0;
        for (size_t i = 0; i < out.updates_count; i++)
            bytes += cara_swim_update_bytes_max(&out.updates[i]);
        CHECK_INT(out.updates_count, <=, CARA_SWIM_PIGGYBACK_MAX);
        CHECK_INT(bytes, <=, CARA_SWIM_PIGGYBACK_BYTES_MAX);
        CHECK_INT(bytes + CARA_SWIM_HEADER_BYTES_MAX + CARA_SWIM_ENVELOPE_RESERVE_BYTES +
                      CARA_GOSSIP_SEAL_OVERHEAD_BYTES,
                  <=, CARA_GOSSIP_DATAGRAM_BYTES_MAX);
        /* 129 bytes per update at these lengths: nine fit (1161 of 1207
         * bytes), not ten, and not even our own 48-byte state. */
        CHECK_INT(out.updates_count, ==, 9);
        for (size_t i = 0; i < out.updates_count; i++)
            CHECK_INT(out.updates[i].member.name_len, ==, CARA_SWIM_NAME_BYTES_MAX);
        sent++;
    }
    CHECK_INT(sent, ==, 3);
    cara_swim_free(s);
}

TEST(swim_each_update_is_retransmitted_retransmit_mult_times_ceil_log10_n)
{
    net *w = net_new(16, NULL);
    CHECK(net_join_all(w, 30) != NEVER);
    net_run(w, w->now_ms + 10 * PERIOD_MS);
    w->count_subject = 7;
    net_crash(w, 7);
    net_run(w, w->now_ms + 60 * PERIOD_MS);
    /* 15 live members and ourselves: 4 x ceil(log10(16 + 1)) = 8. */
    uint32_t limit = cara_swim_retransmit_limit(w->nodes[0]);
    CHECK_INT(limit, ==, 8);
    uint32_t total = 0;
    for (int o = 0; o < 16; o++) {
        if (o == 7)
            continue;
        say("  n%02d sent DEAD(n07) %u times\n", o, w->dead_sent[o]);
        CHECK_INT(w->dead_sent[o], ==, limit);
        total += w->dead_sent[o];
    }
    say("  %u sends of one update across 15 nodes; largest list %zu entries, %zu bytes\n", total,
        w->piggyback_max_seen, w->piggyback_bytes_max_seen);
    CHECK_INT(w->piggyback_max_seen, <=, CARA_SWIM_PIGGYBACK_MAX);
    CHECK_INT(w->piggyback_bytes_max_seen, <=, CARA_SWIM_PIGGYBACK_BYTES_MAX);
    net_free(w);
}

/* A node declared dead that comes back with a fresh object (a restart, at
 * incarnation 0) is told its old state by the first member it talks to,
 * rises above it, and is alive again everywhere long before any reap. */
TEST(swim_restarted_node_rises_above_its_old_death_and_is_alive_again)
{
    net *w = net_new(8, NULL);
    CHECK(net_join_all(w, 20) != NEVER);
    net_crash(w, 4);
    net_run(w, w->now_ms + 40 * PERIOD_MS);
    for (int o = 0; o < 8; o++)
        CHECK(o == 4 || state_of(w, o, 4) == CARA_SWIM_DEAD);
    cara_swim_free(w->nodes[4]);
    CHECK_OK(cara_swim_new(&w->nodes[4], &w->cfg[4], &w->envs[4]));
    w->crashed[4] = false;
    cara_swim_peer seed = peer_of_index(0);
    CHECK_OK(cara_swim_join(w->nodes[4], &seed, w->now_ms));
    net_pump(w, 4);
    net_run(w, w->now_ms + 10 * PERIOD_MS);
    CHECK_INT(cara_swim_incarnation(w->nodes[4]), >, 0);
    for (int o = 0; o < 8; o++) {
        CHECK_INT(cara_swim_alive_count(w->nodes[o]), ==, 8);
        CHECK(o == 4 || state_of(w, o, 4) == CARA_SWIM_ALIVE);
    }
    net_free(w);
}

/* Lifeguard's buddy system: when a probe fails, the first message out is a
 * PING to the suspect whose list starts with the suspicion, and every later
 * message to it carries the suspicion first while it lasts. */
TEST(swim_suspected_member_is_told_first)
{
    net *w = net_new(3, NULL);
    cara_swim_peer b = peer_of_index(1), c = peer_of_index(2), to;
    CHECK_OK(cara_swim_join(w->nodes[0], &b, 0));
    CHECK_OK(cara_swim_join(w->nodes[0], &c, 0));
    cara_swim *a = w->nodes[0];
    cara_swim_msg m;
    /* Nothing is delivered: every probe of n00 fails. */
    uint64_t t = 0;
    int suspect = -1;
    for (int step = 0; step < 10 && suspect < 0; step++) {
        CHECK_OK(cara_swim_tick(a, t));
        while (cara_swim_poll_send(a, &to, &m) == 0) {
            if (m.updates_count > 0 && m.updates[0].kind == CARA_SWIM_SUSPECT) {
                suspect = index_of(&m.updates[0].member);
                CHECK_INT(index_of(&to.id), ==, suspect);
                CHECK_INT(m.type, ==, CARA_SWIM_PING);
                break;
            }
        }
        t = cara_swim_next_deadline_ms(a);
    }
    CHECK(suspect == 1 || suspect == 2);
    CHECK_INT(cara_swim_get_stats(a)->suspicions_raised_count, ==, 1);
    /* Later messages to the suspect still lead with it. */
    while (cara_swim_poll_send(a, &to, &m) == 0) {
    }
    cara_swim_msg ping = ping_to(0);
    cara_swim_peer sp = peer_of_index(suspect);
    for (int k = 0; k < 12; k++) {
        CHECK_OK(cara_swim_recv(a, &sp.id, &ping, t));
        CHECK_OK(cara_swim_poll_send(a, &to, &m));
        CHECK_INT(m.type, ==, CARA_SWIM_ACK);
        CHECK_INT(m.updates[0].kind, ==, CARA_SWIM_SUSPECT);
        CHECK_INT(index_of(&m.updates[0].member), ==, suspect);
    }
    net_free(w);
}
