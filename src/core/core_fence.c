/*
 * Self-fencing (DESIGN.md §6, docs/scheduling.md, "Fencing").
 *
 * A node stops what it runs when it cannot see a majority of the nodes it
 * knows for the fence timeout, because by the time the reschedule grace
 * has passed on the other side of the cut, the majority may start the
 * same projects elsewhere. What "see" means is membership's word, taken
 * strictly: a node counts only while SWIM holds it alive (not suspect)
 * and it was heard from in this life; and a node that has heard from no
 * member at all within the isolation window counts as seeing nobody,
 * which catches the commonest cut (this node's own link) without waiting
 * for SWIM to suspect every member one probe at a time.
 */
#include <stdio.h>
#include <string.h>

#include "core/core_int.h"

/* Isolation window, in probe intervals: a member probes some member every
 * interval and is probed by about one, so a node that hears nothing for
 * this many intervals has lost its link, not a peer. */
#define CORE_ISOLATION_PROBES 5
/* Probes in a row without an ack that count as a cut link: a node whose
 * link fails one way still hears its peers, so only its own probes tell.
 * Two, because a dead member takes one probe and the next is a live one;
 * Lifeguard's multiplier stretches the second period (about 4 s), which
 * keeps the detection near the isolation window. */
#define CORE_ISOLATION_FAILED_PROBES 2
/* What the grace allows, beyond the fence timeout, the isolation window
 * and the clock skew, for the runtime to kill what the fence stops. */
#define CORE_FENCE_STOP_MS 5000
/* Members that must have been heard from since the majority was lost
 * before it counts as back, when the majority needs that many: SWIM keeps
 * the far side of a cut alive until it has probed and suspected each of
 * them, which in a small cluster takes several (Lifeguard-slowed) probe
 * intervals, and a minority that counted them meanwhile would regain its
 * "majority" with each answered probe and restart its fence count. Five
 * makes the rule exact up to eleven nodes; beyond, suspicions spread
 * faster than probes go round, and five fresh contacts come within a few
 * intervals after a blip. */
#define CORE_REGAIN_CONTACTS 5

/* The same number of distinct members it must have ended an exchange with
 * before it runs anything: a node back from a cut that synced with the
 * other nodes of its own side only (they hold what it holds) would start
 * projects the majority moved meanwhile, the hand-off seeing no copy to
 * wait for. Any of that many members includes one from the other side
 * while its own side has fewer other members. */
void core_fence_synced_with(cara_core *c, const char *peer)
{
    core_fence *f = &c->fence;
    f->sync_event = true;
    size_t max = sizeof f->synced_with / sizeof f->synced_with[0];
    for (size_t i = 0; i < f->synced_with_count; i++)
        if (strcmp(f->synced_with[i], peer) == 0)
            return;
    if (f->synced_with_count < max)
        snprintf(f->synced_with[f->synced_with_count++], sizeof f->synced_with[0], "%s", peer);
}

void core_timers_load(cara_core *c)
{
    c->timers_dirty = false;
    cara_settings_timers_default(&c->timers);
    cara_crdt_record r;
    if (cara_crdt_get(c->crdt, CARA_CRDT_SETTINGS, (const uint8_t *)"cluster", 7, &r) != 0)
        return;
    cara_settings *st = NULL;
    if (cara_settings_decode(c->env, r.value, r.value_bytes, NULL, &st) == 0)
        c->timers = st->timers;
    cara_settings_free(c->env, st);
}

static uint64_t isolation_ms(const cara_core *c)
{
    return (uint64_t)CORE_ISOLATION_PROBES * (c->probe_interval_ms ? c->probe_interval_ms : 1000);
}

/* In a small cluster every member hears from every other within two probe
 * rounds (each probes each once a round, in a shuffled order), so a member
 * not heard from for two rounds and an interval is not seen, whatever SWIM
 * holds. This bounds how long a cut-off minority of several nodes takes to
 * lose the majority: it hears its own side, so the isolation window does
 * not fire, and SWIM suspects the far side one probe at a time, each
 * slowed by Lifeguard's multiplier (seen on real agents: 14-19 s for two
 * of five). Beyond CORE_CONTACT_NODES_MAX nodes two rounds would outlast
 * the SWIM path and the window is not used. 0: not used. */
#define CORE_CONTACT_NODES_MAX 8

static uint64_t contact_window_ms(const cara_core *c, size_t known)
{
    if (known < 2 || known > CORE_CONTACT_NODES_MAX)
        return 0;
    return (uint64_t)(2 * (known - 1) + 1) * (c->probe_interval_ms ? c->probe_interval_ms : 1000);
}

int64_t core_grace_ms(const cara_core *c)
{
    /* The settings already hold grace > fence + skew; the grace used also
     * covers the isolation window and the stop, whatever the settings say
     * (docs/scheduling.md, "Why the old copy is down first"). */
    int64_t g = (int64_t)c->timers.reschedule_grace_s * 1000;
    uint64_t w = isolation_ms(c);
    uint64_t cw = contact_window_ms(c, c->fence.known);
    if (cw > w)
        w = cw;
    int64_t floor = (int64_t)c->timers.fence_timeout_s * 1000 + (int64_t)w +
                    (int64_t)c->timers.clock_skew_s * 1000 + CORE_FENCE_STOP_MS;
    return g > floor ? g : floor;
}

/* Counts the admitted nodes known and those seen, this node included,
 * and of those seen the members heard from after `since` (0: all). */
static void count_view(cara_core *c, uint64_t since, size_t *seen, size_t *known, size_t *fresh,
                       bool *isolated)
{
    uint64_t window = contact_window_ms(c, c->fence.known); /* the last count's */
    c->fence.newest_contact_mono_ms = 0;
    *seen = 1;
    *known = 1;
    *fresh = 0;
    *isolated = false;
    const cara_core_nodes *ns = cara_core_nodes_get(c);
    if (ns == NULL) {
        *isolated = true; /* out of memory: no claim to a majority */
        return;
    }
    uint64_t newest = 0;
    for (size_t i = 0; i < ns->count; i++) {
        const cara_sched_node *n = &ns->items[i];
        if (!n->admitted || strcmp(n->name, c->name) == 0)
            continue;
        (*known)++;
        cara_gossip_member m;
        if (cara_gossip_member_get(c->gossip, n->name, &m) != 0)
            continue;
        if (m.last_contact_mono_ms > newest)
            newest = m.last_contact_mono_ms;
        if (m.state == CARA_GOSSIP_ALIVE && m.last_contact_mono_ms != 0 &&
            (window == 0 || c->now_mono_ms <= m.last_contact_mono_ms + window)) {
            (*seen)++;
            if (m.last_contact_mono_ms > since)
                (*fresh)++;
        }
    }
    c->fence.newest_contact_mono_ms = newest;
    *isolated = *known > 1 &&
                (newest == 0 || c->now_mono_ms > newest + isolation_ms(c) ||
                 cara_gossip_probe_fail_streak(c->gossip) >= CORE_ISOLATION_FAILED_PROBES);
}

static void mark_owned(cara_core *c)
{
    for (core_project *p = c->projects; p != NULL; p = p->next)
        if (p->owned_generation != 0 || p->fence_stopped)
            core_mark(c, p->name);
    c->dirty_all = true;
}

void core_fence_update(cara_core *c)
{
    core_fence *f = &c->fence;
    if (c->gossip == NULL || f->disabled) {
        f->started = true; /* settled at once: nothing to wait for */
        f->majority = f->synced = true;
        f->fenced = false;
        f->lost_mono_ms = 0;
        f->majority_wall_ms = c->now_wall_ms;
        return;
    }
    int64_t fence_ms = (int64_t)c->timers.fence_timeout_s * 1000;
    if (!f->started) {
        f->started = true;
        f->epoch_wall_ms = c->now_wall_ms;
        /* Time spent down counts as time without a majority: a node back
         * after longer than the fence timeout may find its projects
         * started elsewhere, and stops them before anything else. */
        int64_t away = f->majority_wall_ms > 0 ? c->now_wall_ms - f->majority_wall_ms : 0;
        if (away < 0)
            away = 0; /* the clock went back: no claim either way */
        if (away >= fence_ms && f->majority_wall_ms > 0) {
            f->fenced = true;
            cara_env_logf(c->env, CARA_LOG_WARN, "core",
                          "fenced at start: the last majority was seen %lld s ago, more than the "
                          "fence timeout (%u s); stopping this node's projects",
                          (long long)(away / 1000), c->timers.fence_timeout_s);
            mark_owned(c);
        }
        f->lost_mono_ms = c->now_mono_ms > (uint64_t)away ? c->now_mono_ms - (uint64_t)away : 1;
    }
    bool isolated;
    size_t fresh;
    count_view(c, f->lost_mono_ms, &f->seen, &f->known, &fresh, &isolated);
    /* Once lost, the majority is back only when enough of it has been
     * heard from since (CORE_REGAIN_CONTACTS). */
    size_t wanted = f->known / 2 < CORE_REGAIN_CONTACTS ? f->known / 2 : CORE_REGAIN_CONTACTS;
    f->majority = !isolated && 2 * f->seen > f->known && (f->lost_mono_ms == 0 || fresh >= wanted);
    if (f->known == 1 && !f->synced) {
        f->synced = true; /* nobody to exchange with: what it holds is all there is */
        c->dirty_all = true;
    }
    f->sync_event = false;
    size_t sync_wanted = f->fenced && wanted > 1 ? wanted : 1;
    if (f->majority && !f->synced && f->synced_with_count >= sync_wanted) {
        f->synced = true;
        c->dirty_all = true; /* what waited for it */
    }
    if (f->majority) {
        if (f->lost_mono_ms != 0)
            f->epoch_wall_ms = c->now_wall_ms; /* decisions made meanwhile were others' */
        f->lost_mono_ms = 0;
        f->majority_wall_ms = c->now_wall_ms;
        if (!f->synced && c->now_mono_ms >= f->sync_asked_mono_ms + 2 * isolation_ms(c) / 5) {
            /* Ask for an exchange now rather than at the next interval. */
            f->sync_asked_mono_ms = c->now_mono_ms;
            cara_gossip_sync_soon(c->gossip);
        }
        if (f->fenced && f->synced) {
            f->fenced = false;
            cara_env_logf(c->env, CARA_LOG_INFO, "core",
                          "unfenced: %zu of %zu nodes seen and the state synced; projects this "
                          "node still owns start again", f->seen, f->known);
            mark_owned(c);
        }
        return;
    }
    if (f->lost_mono_ms == 0) {
        f->lost_mono_ms = c->now_mono_ms ? c->now_mono_ms : 1;
        /* What moved while it was cut off reaches it by an exchange: none
         * of it runs anything new before one has ended. */
        f->synced = false;
        f->synced_with_count = 0;
        cara_env_logf(c->env, CARA_LOG_WARN, "core",
                      "majority lost: %zu of %zu nodes seen%s; fencing in %u s unless it returns",
                      f->seen, f->known,
                      isolated ? " (no member heard from lately, or probes unanswered)" : "",
                      c->timers.fence_timeout_s);
    }
    if (!f->fenced && c->now_mono_ms >= f->lost_mono_ms + (uint64_t)fence_ms) {
        f->fenced = true;
        f->synced = false;
        f->synced_with_count = 0;
        cara_env_logf(c->env, CARA_LOG_WARN, "core",
                      "fenced: %zu of %zu nodes seen for %u s%s; stopping this node's projects",
                      f->seen, f->known, c->timers.fence_timeout_s,
                      isolated ? " (no member heard from lately, or probes unanswered)" : "");
        cara_env_logf(c->env, CARA_LOG_INFO, "core",
                      "fence: probes unanswered in a row %u, last contact %lld ms ago",
                      cara_gossip_probe_fail_streak(c->gossip),
                      (long long)(c->now_mono_ms - f->newest_contact_mono_ms));
        mark_owned(c);
    }
}

bool cara_core_settled(const cara_core *c)
{
    return c->fence.started && (c->fence.fenced || core_may_run(c));
}

bool core_may_run(const cara_core *c)
{
    return !c->fence.fenced && c->fence.synced && c->fence.majority;
}

uint64_t cara_core_next_deadline_mono_ms(const cara_core *c)
{
    const core_fence *f = &c->fence;
    if (c->gossip == NULL || f->disabled)
        return UINT64_MAX;
    if (!f->started)
        return 0;
    /* Membership's changes come as events (a step follows them); what
     * moves without one is the time: the isolation window running out
     * while a majority is seen, and, without one, contact coming back
     * (looked at once an interval) or the fence timeout. */
    uint64_t iv = c->probe_interval_ms ? c->probe_interval_ms : 1000;
    if (!f->majority || !f->synced)
        return c->now_mono_ms + iv;
    if (f->known <= 1)
        return UINT64_MAX;
    uint64_t due = f->newest_contact_mono_ms + isolation_ms(c) + 1;
    /* With the contact window in use, each member's window runs out on
     * its own: looked at once an interval. */
    if (contact_window_ms(c, f->known) != 0 && c->now_mono_ms + iv < due)
        due = c->now_mono_ms + iv;
    return due;
}

void cara_core_fence_get(const cara_core *c, cara_core_fence_state *out)
{
    const core_fence *f = &c->fence;
    *out = (cara_core_fence_state){
        .majority = f->majority,
        .fenced = f->fenced,
        .synced = f->synced,
        .seen = f->seen,
        .known = f->known,
        .lost_mono_ms = f->lost_mono_ms,
        .majority_wall_ms = f->majority_wall_ms,
    };
}
