/*
 * The operator's projects (docs/sim.md, "Workload"): real specs, built as
 * caravanctl builds them from a manifest (a cara_project, encoded with
 * cara_project_encode), so that every node object schedules, places, runs
 * and expires them as it would a user's. Each spec has a few services; some
 * are pinned to a zone by a node selector, some ask for more memory than
 * any node has (they must stay Pending), some expire a few minutes after
 * they are written; an environment variable pads each to a size drawn from
 * operator.value_bytes, so that specs larger than a datagram still spread
 * as they did when values were opaque (docs/gossip.md, "Dissemination").
 */
#include <stdio.h>
#include <string.h>

#include "world.h"

/* The node records the simulated nodes publish (sim_node.c): every node
 * has SIM_NODE_MEMORY_BYTES (8 GiB) and a zone label z0, z1 or z2. */
#define WORKLOAD_ZONES 3
#define WORKLOAD_UNFIT_MEMORY_BYTES (64ull << 30) /* more than any node has */
#define WORKLOAD_SERVICES_MAX 8

static uint64_t between(cara_rng *rng, uint64_t lo, uint64_t hi)
{
    return hi > lo ? lo + cara_rng_below(rng, hi - lo + 1) : lo;
}

static bool chance(cara_rng *rng, uint32_t ppm)
{
    return ppm > 0 && cara_rng_below(rng, SIM_PPM) < ppm;
}

/* Encodes a spec for project `name` into out (reset first). `traits`
 * says what was drawn; target_bytes pads it (0: no padding). */
static int encode(cara_rng *rng, const char *name, const workload_traits *t, size_t target_bytes,
                  cara_buf *out)
{
    char svc_names[WORKLOAD_SERVICES_MAX][16];
    cara_service svcs[WORKLOAD_SERVICES_MAX];
    char zone[8];
    cara_kv selector = {.name = "zone", .value = zone};
    snprintf(zone, sizeof zone, "z%u", t->zone);
    memset(svcs, 0, sizeof svcs);
    for (uint32_t i = 0; i < t->services; i++) {
        snprintf(svc_names[i], sizeof svc_names[i], "svc%u", i);
        svcs[i].name = svc_names[i];
        svcs[i].image = i == 0 ? "busybox:1.36" : "nginx:1.27";
        svcs[i].restart = CARA_RESTART_ALWAYS;
    }
    if (t->unfit)
        svcs[0].resources.memory_bytes = WORKLOAD_UNFIT_MEMORY_BYTES;
    cara_project p = {.name = (char *)name, .services = svcs, .services_count = t->services,
                      .node_selector = t->pinned ? &selector : NULL,
                      .node_selector_count = t->pinned ? 1 : 0,
                      .has_expire_at = t->expire_at_wall_ms != 0,
                      .expire_at_wall_ms = t->expire_at_wall_ms};
    cara_buf_reset(out);
    int rc = cara_project_encode(&p, out);
    if (rc != 0 || target_bytes <= out->len + 32)
        return rc;
    /* Padding: one environment variable of random letters. */
    size_t pad = target_bytes - out->len - 32;
    if (pad > CARA_ENV_VALUE_BYTES_MAX)
        pad = CARA_ENV_VALUE_BYTES_MAX;
    char *value = cara_env_alloc(out->env, pad + 1);
    if (value == NULL)
        return CARA_ENOMEM;
    for (size_t i = 0; i < pad; i++)
        value[i] = (char)('a' + cara_rng_below(rng, 26));
    value[pad] = '\0';
    cara_kv env = {.name = "PADDING", .value = value};
    svcs[0].env = &env;
    svcs[0].env_count = 1;
    cara_buf_reset(out);
    rc = cara_project_encode(&p, out);
    cara_env_free(out->env, value);
    return rc;
}

int workload_spec(world *w, cara_rng *rng, const char *name, int64_t now_wall_ms,
                  const workload_traits *prev, workload_traits *t, cara_buf *out)
{
    const scenario *sc = &w->sc;
    memset(t, 0, sizeof *t);
    t->services = (uint32_t)between(rng, sc->services_min, sc->services_max);
    if (t->services > WORKLOAD_SERVICES_MAX)
        t->services = WORKLOAD_SERVICES_MAX;
    t->pinned = chance(rng, sc->pinned_ppm);
    t->zone = (uint32_t)cara_rng_below(rng, WORKLOAD_ZONES);
    t->unfit = chance(rng, sc->unfit_ppm);
    /* A key keeps its fit across updates: the object keeps a placed
     * project where it is when an update asks for more than its node has
     * (docs/sim.md, "What the runs show"). */
    if (prev != NULL)
        t->unfit = prev->unfit;
    if (chance(rng, sc->expire_ppm))
        t->expire_at_wall_ms =
            now_wall_ms + (int64_t)between(rng, sc->expire_after_min_ms, sc->expire_after_max_ms);
    size_t target = (size_t)between(rng, sc->value_bytes_min, sc->value_bytes_max);
    return encode(rng, name, t, target, out);
}
