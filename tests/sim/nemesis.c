/*
 * The nemeses (docs/sim.md, "Nemeses"), after Jepsen's: each starts a
 * fault, may act again on its own timer while it holds (flapping links,
 * clock jumps), and undoes it when it stops. Partitions never overlap one
 * another (healing one would heal the other); the rest may overlap when
 * the scenario allows it.
 */
#include <string.h>

#include "world.h"

bool nemesis_partitions(int kind)
{
    return kind == NEM_ISOLATE || kind == NEM_SPLIT || kind == NEM_BRIDGE || kind == NEM_RING ||
           kind == NEM_HALVES || kind == NEM_ONEWAY || kind == NEM_FLAP;
}

static uint64_t between(world *w, uint64_t lo, uint64_t hi)
{
    return hi > lo ? lo + cara_rng_below(&w->rng, hi - lo + 1) : lo;
}

static int64_t signed_upto(world *w, int64_t max)
{
    return max > 0 ? (int64_t)cara_rng_below(&w->rng, (uint64_t)(2 * max + 1)) - max : 0;
}

/* The members (up or not), shuffled; *count gets how many. Owned array. */
static size_t *members_shuffled(world *w, size_t *count, bool up_only)
{
    size_t *v = cara_env_calloc(w->env, w->n ? w->n : 1, sizeof *v);
    CARA_ASSERT(v != NULL);
    size_t c = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->role[i] == ROLE_MEMBER && (!up_only || sim_up(w->s, i)) &&
            !(up_only && w->is_hostile[i]))
            v[c++] = i;
    for (size_t i = c; i > 1; i--) {
        size_t j = (size_t)cara_rng_below(&w->rng, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
    *count = c;
    return v;
}

/* Between 1 and a minority of `count`. */
static size_t minority(world *w, size_t count)
{
    size_t most = count >= 3 ? (count - 1) / 2 : 1;
    return 1 + (size_t)cara_rng_below(&w->rng, most);
}

static void describe_nodes(world *w, fault *f, const char *prefix)
{
    size_t off = (size_t)snprintf(f->what, sizeof f->what, "%s", prefix);
    for (size_t k = 0; k < f->nodes_count && off < sizeof f->what - 16; k++) {
        if (k == 8) {
            off += (size_t)snprintf(f->what + off, sizeof f->what - off, " and %zu more",
                                    f->nodes_count - 8);
            break;
        }
        off += (size_t)snprintf(f->what + off, sizeof f->what - off, " %s",
                                sim_name(w->s, f->nodes[k]));
    }
}

/* Keeps the first `count` of a shuffled list as the fault's nodes. */
static void take_nodes(fault *f, size_t *v, size_t count)
{
    f->nodes = v;
    f->nodes_count = count;
}

/* ---- Partitions -------------------------------------------------------------------- */

/* side[i] for every slot; slots outside every group stay on side 0. */
static void apply_sides(world *w, const int *side)
{
    sim_split(w->s, side);
}

static void partition_groups(world *w, fault *f, size_t *v, size_t first)
{
    int *side = cara_env_calloc(w->env, w->n, sizeof *side);
    CARA_ASSERT(side != NULL);
    for (size_t k = 0; k < first; k++)
        side[v[k]] = 1;
    apply_sides(w, side);
    cara_env_free(w->env, side);
    take_nodes(f, v, first);
}

static void bridge(world *w, fault *f, size_t *v, size_t count)
{
    size_t a = count >= 3 ? (count - 1) / 2 : 0;
    sim *s = w->s;
    for (size_t i = 0; i < a; i++)
        for (size_t j = a + 1; j < count; j++) {
            sim_cut_quiet(s, v[i], v[j], true);
            sim_cut_quiet(s, v[j], v[i], true);
        }
    sim_break_cut_streams(s);
    /* Keep the bridge first, then one side. */
    size_t b = v[a];
    memmove(v + 1, v, a * sizeof *v);
    v[0] = b;
    take_nodes(f, v, a + 1);
}

static void ring(world *w, fault *f, size_t *v, size_t count)
{
    size_t d = (count + 3) / 4;
    sim *s = w->s;
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < count; j++) {
            size_t dist = i > j ? i - j : j - i;
            if (count - dist < dist)
                dist = count - dist;
            if (i != j && dist > d)
                sim_cut_quiet(s, v[i], v[j], true);
        }
    sim_break_cut_streams(s);
    take_nodes(f, v, count);
    snprintf(f->what, sizeof f->what, "ring of %zu, each sees %zu on either side", count, d);
}

static void oneway(world *w, fault *f, size_t *v, size_t count)
{
    size_t m = minority(w, count);
    sim *s = w->s;
    for (size_t i = 0; i < m; i++)
        for (size_t j = m; j < count; j++)
            sim_cut_quiet(s, v[i], v[j], true);
    sim_break_cut_streams(s);
    take_nodes(f, v, m);
}

static void flap_toggle(world *w, fault *f)
{
    bool cut = !sim_is_cut(w->s, f->nodes[0], f->nodes[0] == 0 ? 1 : 0);
    for (size_t k = 0; k < f->nodes_count; k++)
        sim_isolate(w->s, f->nodes[k], cut);
    f->next_ms = sim_now(w->s) + between(w, 200, 3000);
}

/* ---- Clocks, pauses, crashes, chaos --------------------------------------------------- */

static void skew(world *w, fault *f, size_t *v, size_t count)
{
    size_t m = count > 1 ? count / 2 : 1;
    for (size_t k = 0; k < m; k++) {
        sim_set_drift(w->s, v[k], (int32_t)signed_upto(w, w->sc.drift_ppm_max));
        sim_set_skew(w->s, v[k], signed_upto(w, w->sc.skew_ms_max));
    }
    take_nodes(f, v, m);
}

static void jump_step(world *w, fault *f)
{
    for (size_t k = 0; k < f->nodes_count; k++) {
        int64_t target = signed_upto(w, w->sc.jump_ms_max);
        sim_clock_jump(w->s, f->nodes[k], target - sim_skew(w->s, f->nodes[k]));
    }
    f->next_ms = sim_now(w->s) + between(w, 1000, 5000);
}

static void clocks_right(world *w, fault *f)
{
    for (size_t k = 0; k < f->nodes_count; k++) {
        sim_set_drift(w->s, f->nodes[k], 0);
        sim_set_skew(w->s, f->nodes[k], 0);
    }
}

static void chaos(world *w, fault *f)
{
    sim_chaos c = {
        .loss_ppm = (uint32_t)between(w, 10000, 200000),
        .dup_ppm = (uint32_t)between(w, 5000, 50000),
        .reorder_ppm = (uint32_t)between(w, 50000, 300000),
        .reorder_extra_ms = (uint32_t)between(w, 10, 200),
        .spike_ppm = 10000,
        .spike_ms = (uint32_t)between(w, 100, 1000),
    };
    sim_set_chaos(w->s, &c);
    snprintf(f->what, sizeof f->what, "loss %.1f%%, duplicates %.1f%%, reordered %.1f%% by up to "
             "%u ms, 1%% delayed up to %u ms", c.loss_ppm / 1e4, c.dup_ppm / 1e4,
             c.reorder_ppm / 1e4, c.reorder_extra_ms, c.spike_ms);
}

static void crash_nodes(world *w, fault *f, size_t *v, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        world_crash(w, v[k]);
        w->killed[v[k]] = 1;
    }
    take_nodes(f, v, m);
}

/* ---- Start, step, stop -------------------------------------------------------------------- */

static void start_kind(world *w, fault *f, size_t *v, size_t count)
{
    switch (f->kind) {
    case NEM_ISOLATE:
        sim_isolate(w->s, v[0], true);
        take_nodes(f, v, 1);
        describe_nodes(w, f, "cut off:");
        break;
    case NEM_SPLIT:
        partition_groups(w, f, v, minority(w, count));
        describe_nodes(w, f, "minority:");
        break;
    case NEM_HALVES:
        partition_groups(w, f, v, count / 2);
        describe_nodes(w, f, "one half:");
        break;
    case NEM_BRIDGE:
        bridge(w, f, v, count);
        describe_nodes(w, f, "bridge, then one side:");
        break;
    case NEM_RING: ring(w, f, v, count); break;
    case NEM_ONEWAY:
        oneway(w, f, v, count);
        describe_nodes(w, f, "cannot send to the rest:");
        break;
    case NEM_FLAP:
        take_nodes(f, v, minority(w, count));
        flap_toggle(w, f);
        describe_nodes(w, f, "flapping:");
        break;
    case NEM_SKEW:
        skew(w, f, v, count);
        describe_nodes(w, f, "skewed and drifting:");
        break;
    case NEM_JUMP:
        take_nodes(f, v, minority(w, count));
        jump_step(w, f);
        describe_nodes(w, f, "wall clocks jumping:");
        break;
    case NEM_PAUSE:
        take_nodes(f, v, minority(w, count));
        for (size_t k = 0; k < f->nodes_count; k++)
            sim_pause(w->s, f->nodes[k], f->end_ms);
        describe_nodes(w, f, "paused:");
        break;
    case NEM_KILL:
        crash_nodes(w, f, v, minority(w, count));
        describe_nodes(w, f, "crashed:");
        break;
    case NEM_RESTART_ALL:
        crash_nodes(w, f, v, count);
        snprintf(f->what, sizeof f->what, "all %zu nodes crashed", count);
        break;
    case NEM_CHAOS:
        chaos(w, f);
        take_nodes(f, v, 0);
        break;
    default: CARA_UNREACHABLE();
    }
}

void nemesis_start(world *w, int kind, uint64_t hold_ms)
{
    size_t count = 0;
    size_t *v = members_shuffled(w, &count, true);
    if (count < 2 || w->faults_count == FAULTS_ACTIVE_MAX) {
        cara_env_free(w->env, v);
        return;
    }
    if (kind == NEM_RESTART_ALL && hold_ms > 10000)
        hold_ms = 10000; /* a restart, not an outage */
    fault *f = &w->faults[w->faults_count++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->start_ms = sim_now(w->s);
    f->end_ms = f->start_ms + hold_ms;
    f->next_ms = SIM_NEVER;
    start_kind(w, f, v, count);
    if (f->nodes != v)
        cara_env_free(w->env, v);
    w->fault_counts[kind]++;
    world_span_open(w, kind, nemesis_name(kind));
    world_log(w, "nemesis %s for %llu ms: %s", nemesis_name(kind), (unsigned long long)hold_ms,
              f->what);
}

void nemesis_step(world *w, fault *f)
{
    if (f->kind == NEM_FLAP)
        flap_toggle(w, f);
    else if (f->kind == NEM_JUMP)
        jump_step(w, f);
    else
        f->next_ms = SIM_NEVER;
}

void nemesis_stop(world *w, fault *f)
{
    if (nemesis_partitions(f->kind))
        sim_heal_all(w->s);
    switch (f->kind) {
    case NEM_SKEW:
    case NEM_JUMP: clocks_right(w, f); break;
    case NEM_PAUSE:
        for (size_t k = 0; k < f->nodes_count; k++)
            sim_resume(w->s, f->nodes[k]);
        break;
    case NEM_KILL:
    case NEM_RESTART_ALL:
        for (size_t k = 0; k < f->nodes_count; k++) {
            size_t i = f->nodes[k];
            if (w->killed[i] && w->role[i] == ROLE_MEMBER) {
                w->killed[i] = 0;
                (void)world_restart(w, i);
            }
        }
        break;
    case NEM_CHAOS: sim_set_chaos(w->s, NULL); break;
    default: break;
    }
    world_span_close(w, f->kind, nemesis_name(f->kind));
    world_log(w, "nemesis %s stops", nemesis_name(f->kind));
}
