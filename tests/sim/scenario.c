/*
 * Scenario files (docs/sim.md, "Scenario files"): YAML read with libyaml's
 * document loader, checked key by key. An unknown key, a value of the wrong
 * shape or out of range is an error that names the key: a scenario that
 * silently ignored a typo would test something else than its author meant.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "world.h"

static const char *const nemesis_names[NEM_COUNT_] = {
    [NEM_ISOLATE] = "isolate", [NEM_SPLIT] = "split",   [NEM_BRIDGE] = "bridge",
    [NEM_RING] = "ring",       [NEM_HALVES] = "halves", [NEM_ONEWAY] = "oneway",
    [NEM_FLAP] = "flap",       [NEM_SKEW] = "skew",     [NEM_JUMP] = "jump",
    [NEM_PAUSE] = "pause",     [NEM_KILL] = "kill",     [NEM_RESTART_ALL] = "restart_all",
    [NEM_CHAOS] = "chaos",
};

const char *nemesis_name(int kind)
{
    return kind >= 0 && kind < NEM_COUNT_ ? nemesis_names[kind] : "unknown";
}

int nemesis_of(const char *name)
{
    for (int k = 0; k < NEM_COUNT_; k++)
        if (strcmp(name, nemesis_names[k]) == 0)
            return k;
    return -1;
}

bool node_set_has(const node_set *ns, size_t i)
{
    for (size_t k = 0; k < ns->count; k++)
        if (i >= ns->ranges[k].lo && i <= ns->ranges[k].hi)
            return true;
    return false;
}

void scenario_defaults(scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->nodes = 16;
    sc->seed = 1;
    sc->duration_ms = 5 * 60 * 1000;
    sc->link = (sim_link_cfg){.latency_min_ms = 1, .latency_max_ms = 10,
                              .stream_bytes_per_ms = 12500};
    sc->store = (sim_store_cfg){.sync = SIM_SYNC_BEFORE_SEND, .sync_interval_ms = 1000};
    sc->nemeses = (1u << NEM_COUNT_) - 1;
    sc->hold_min_ms = 5000, sc->hold_max_ms = 30000;
    sc->quiet_min_ms = 2000, sc->quiet_max_ms = 10000;
    sc->settle_ms = 10000;
    sc->overlap = 1;
    sc->skew_ms_max = 20000, sc->jump_ms_max = 20000;
    sc->drift_ppm_max = 500;
    sc->op_interval_ms = 2000;
    sc->op_holders = 2;
    sc->value_bytes_min = 64, sc->value_bytes_max = 2048;
    sc->mix_apply = 4, sc->mix_update = 4, sc->mix_delete = 2;
    sc->services_min = 1, sc->services_max = 3;
    sc->pinned_ppm = 250000, sc->unfit_ppm = 50000, sc->expire_ppm = 150000;
    sc->expire_after_min_ms = 30000, sc->expire_after_max_ms = 180000;
    sc->runtime = (sim_runtime_cfg){
        .start_latency = {.latency_min_ms = 200, .latency_max_ms = 3000},
        .stop_latency = {.latency_min_ms = 100, .latency_max_ms = 2000},
        .pull_fail_ppm = 20000, .exit_ppm = 50000,
        .exit_after_min_ms = 10000, .exit_after_max_ms = 120000};
    sc->two_copies_enforced = true;
    sc->rendezvous_bound = -1;
    sc->hostile_interval_ms = 500;
    sc->sample_ms = 1000;
}

size_t scenario_nodes_total(const scenario *sc) { return sc->nodes + sc->spare; }

/* The bound of docs/sim.md, "Liveness". A partition that outlasted a
 * death is bridged by the first reconnect ping (reconnect_interval), and
 * the refutations spread like any membership news (a few probe periods).
 * What the sides wrote meanwhile, and what crashed nodes missed, spreads
 * by push-pull anti-entropy (records larger than a datagram by nothing
 * else), which reaches every node in about log2 N rounds (Karp et al.,
 * "Randomized rumor spreading", 2000) of one interval each; the core
 * scales that interval like memberlist's pushPullScale (one more interval
 * per doubling past 32 members: gossip_stream.c) and jitters it by 25 %.
 * Three more rounds cover nodes that restart or resume late. */
uint64_t scenario_liveness_bound_ms(const scenario *sc)
{
    if (sc->liveness_bound_ms != 0)
        return sc->liveness_bound_ms;
    cara_gossip_cfg g = sc->gossip;
    cara_gossip_cfg_lan(&g);
    size_t n = scenario_nodes_total(sc);
    uint64_t mult = 1;
    for (size_t k = 32; k < n; k *= 2)
        mult++;
    double rounds = log2(n > 2 ? (double)n : 2.0) + 3;
    double round_ms = (double)g.anti_entropy_interval_ms * (double)mult * 1.25;
    return g.reconnect_interval_ms + (uint64_t)(rounds * round_ms) + 10ull * g.probe_interval_ms;
}

/* ---- Values -------------------------------------------------------------------------- */

int parse_duration_ms(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno != 0 || !(v >= 0) || v > 1e12)
        return CARA_EPARSE;
    double mult = 1;
    if (strcmp(end, "") == 0 || strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return CARA_EPARSE;
    *out = (uint64_t)(v * mult + 0.5);
    return 0;
}

/* "1%", "0.01" -> 10000 ppm. */
static int parse_ppm(const char *text, uint32_t *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text)
        return CARA_EPARSE;
    if (strcmp(end, "%") == 0)
        v /= 100;
    else if (*end != '\0')
        return CARA_EPARSE;
    if (!(v >= 0 && v <= 1))
        return CARA_EPARSE;
    *out = (uint32_t)(v * SIM_PPM + 0.5);
    return 0;
}

static int parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || text[0] == '-')
        return CARA_EPARSE;
    *out = v;
    return 0;
}

static int parse_f(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= 0) || v > 1e9)
        return CARA_EPARSE;
    *out = v;
    return 0;
}

/* "100Mbit", "1Gbit", "500Kbit", "unlimited" -> bytes per ms. */
static int parse_bandwidth(const char *text, uint32_t *out)
{
    if (strcmp(text, "unlimited") == 0) {
        *out = 0;
        return 0;
    }
    char *end = NULL;
    double v = strtod(text, &end);
    double mult = strcmp(end, "Kbit") == 0 ? 1e3 : strcmp(end, "Mbit") == 0 ? 1e6
                  : strcmp(end, "Gbit") == 0 ? 1e9 : 0;
    if (end == text || mult == 0 || !(v > 0))
        return CARA_EPARSE;
    double bytes_per_ms = v * mult / 8 / 1000;
    *out = bytes_per_ms < 1 ? 1 : (uint32_t)bytes_per_ms;
    return 0;
}

/* ---- The document ------------------------------------------------------------------ */

typedef struct ld {
    yaml_document_t *doc;
    scenario *sc;
    char *err;
    size_t err_bytes;
    const char *section;
} ld;

static int fail(ld *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ld *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(l->err, l->err_bytes, "%s%s%s", l->section ? l->section : "",
             l->section ? ": " : "", msg);
    return CARA_EPARSE;
}

static const char *scalar(ld *l, yaml_node_t *n)
{
    (void)l;
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

typedef int (*key_fn)(ld *l, const char *key, yaml_node_t *v);

/* Calls fn for each (key, value) of a mapping. */
static int each_pair(ld *l, yaml_node_t *map, key_fn fn)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return fail(l, "expected a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(l, yaml_document_get_node(l->doc, p->key));
        if (k == NULL)
            return fail(l, "a key that is not a string");
        int rc = fn(l, k, yaml_document_get_node(l->doc, p->value));
        if (rc != 0)
            return rc;
    }
    return 0;
}

#define WANT(expr, what)                                                          \
    do {                                                                          \
        if ((expr) != 0)                                                          \
            return fail(l, "%s: expected %s, got \"%s\"", key, what,             \
                        scalar(l, v) ? scalar(l, v) : "(not a scalar)");        \
    } while (0)

static int get_duration(ld *l, const char *key, yaml_node_t *v, uint64_t *out)
{
    const char *t = scalar(l, v);
    WANT(t == NULL || parse_duration_ms(t, out), "a duration such as 500ms, 30s or 5m");
    return 0;
}

static int get_ppm(ld *l, const char *key, yaml_node_t *v, uint32_t *out)
{
    const char *t = scalar(l, v);
    WANT(t == NULL || parse_ppm(t, out), "a rate such as 1% or 0.01");
    return 0;
}

static int get_u64(ld *l, const char *key, yaml_node_t *v, uint64_t *out, uint64_t max)
{
    const char *t = scalar(l, v);
    WANT(t == NULL || parse_u64(t, out) || *out > max, "a whole number");
    return 0;
}

static int get_u32(ld *l, const char *key, yaml_node_t *v, uint32_t *out, uint32_t max)
{
    uint64_t x = 0;
    int rc = get_u64(l, key, v, &x, max);
    *out = (uint32_t)x;
    return rc;
}

static int get_size(ld *l, const char *key, yaml_node_t *v, size_t *out, size_t max)
{
    uint64_t x = 0;
    int rc = get_u64(l, key, v, &x, max);
    *out = (size_t)x;
    return rc;
}

static int get_bool(ld *l, const char *key, yaml_node_t *v, bool *out)
{
    const char *t = scalar(l, v);
    bool yes = t != NULL && (strcmp(t, "true") == 0 || strcmp(t, "yes") == 0);
    bool no = t != NULL && (strcmp(t, "false") == 0 || strcmp(t, "no") == 0);
    WANT(!(yes || no), "true or false");
    *out = yes;
    return 0;
}

/* [a, b] of durations. */
static int get_range_ms(ld *l, const char *key, yaml_node_t *v, uint64_t *lo, uint64_t *hi)
{
    if (v == NULL || v->type != YAML_SEQUENCE_NODE ||
        v->data.sequence.items.top - v->data.sequence.items.start != 2)
        return fail(l, "%s: expected [shortest, longest]", key);
    yaml_node_t *a = yaml_document_get_node(l->doc, v->data.sequence.items.start[0]);
    yaml_node_t *b = yaml_document_get_node(l->doc, v->data.sequence.items.start[1]);
    int rc = get_duration(l, key, a, lo);
    if (rc == 0)
        rc = get_duration(l, key, b, hi);
    if (rc == 0 && *lo > *hi)
        return fail(l, "%s: the shortest is longer than the longest", key);
    return rc;
}

static int get_range_u32(ld *l, const char *key, yaml_node_t *v, uint32_t *lo, uint32_t *hi,
                         uint32_t max)
{
    if (v == NULL || v->type != YAML_SEQUENCE_NODE ||
        v->data.sequence.items.top - v->data.sequence.items.start != 2)
        return fail(l, "%s: expected [least, most]", key);
    int rc = get_u32(l, key, yaml_document_get_node(l->doc, v->data.sequence.items.start[0]), lo, max);
    if (rc == 0)
        rc = get_u32(l, key, yaml_document_get_node(l->doc, v->data.sequence.items.start[1]), hi, max);
    if (rc == 0 && *lo > *hi)
        return fail(l, "%s: the least is more than the most", key);
    return rc;
}

/* "all", 3, "2-5", or a list of those. */
static int set_item(ld *l, const char *key, const char *t, node_set *ns)
{
    if (ns->count == NODE_SET_RANGES_MAX)
        return fail(l, "%s: more than %d ranges", key, NODE_SET_RANGES_MAX);
    uint64_t lo = 0, hi = 0;
    if (strcmp(t, "all") == 0) {
        ns->ranges[ns->count].lo = 0;
        ns->ranges[ns->count++].hi = SIZE_MAX;
        return 0;
    }
    const char *dash = strchr(t, '-');
    char a[32];
    if (dash != NULL && (size_t)(dash - t) < sizeof a) {
        memcpy(a, t, (size_t)(dash - t));
        a[dash - t] = '\0';
        if (parse_u64(a, &lo) != 0 || parse_u64(dash + 1, &hi) != 0 || lo > hi)
            return fail(l, "%s: bad range \"%s\"", key, t);
    } else if (parse_u64(t, &lo) != 0) {
        return fail(l, "%s: expected all, a node index or a range a-b, got \"%s\"", key, t);
    } else {
        hi = lo;
    }
    ns->ranges[ns->count].lo = (size_t)lo;
    ns->ranges[ns->count++].hi = (size_t)hi;
    return 0;
}

static int get_set(ld *l, const char *key, yaml_node_t *v, node_set *ns)
{
    ns->count = 0;
    if (v != NULL && v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            const char *t = scalar(l, yaml_document_get_node(l->doc, *it));
            if (t == NULL)
                return fail(l, "%s: a list of node indices", key);
            int rc = set_item(l, key, t, ns);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    const char *t = scalar(l, v);
    if (t == NULL)
        return fail(l, "%s: expected all, an index, a range or a list", key);
    return set_item(l, key, t, ns);
}

/* ---- Sections ------------------------------------------------------------------------ */

static sim_link_cfg *cur_link;

static int latency_key(ld *l, const char *key, yaml_node_t *v)
{
    sim_link_cfg *k = cur_link;
    uint64_t ms = 0;
    double f = 0;
    if (strcmp(key, "dist") == 0) {
        const char *t = scalar(l, v);
        int d = t ? sim_latency_dist_of(t) : -1;
        if (d < 0)
            return fail(l, "dist: one of uniform, normal, exponential, lognormal, pareto");
        k->latency_dist = (uint8_t)d;
        return 0;
    }
    if (strcmp(key, "sigma") == 0 || strcmp(key, "alpha") == 0) {
        const char *t = scalar(l, v);
        WANT(t == NULL || parse_f(t, &f) || f > 100, "a number");
        k->latency_shape_milli = (uint32_t)(f * 1000 + 0.5);
        return 0;
    }
    int rc = get_duration(l, key, v, &ms);
    if (rc != 0)
        return rc;
    if (ms > 3600000)
        return fail(l, "%s: more than an hour", key);
    if (strcmp(key, "min") == 0)
        k->latency_min_ms = (uint32_t)ms;
    else if (strcmp(key, "max") == 0)
        k->latency_max_ms = (uint32_t)ms;
    else if (strcmp(key, "mean") == 0 || strcmp(key, "median") == 0)
        k->latency_mean_ms = (uint32_t)ms;
    else if (strcmp(key, "sd") == 0)
        k->latency_sd_ms = (uint32_t)ms;
    else
        return fail(l, "unknown key \"%s\" (dist, min, max, mean, median, sd, sigma, alpha)", key);
    return 0;
}

/* Keys a link and the network share. */
static int link_key(ld *l, const char *key, yaml_node_t *v, sim_link_cfg *k, bool *known)
{
    uint64_t ms = 0;
    *known = true;
    if (strcmp(key, "latency") == 0) {
        cur_link = k;
        return each_pair(l, v, latency_key);
    }
    if (strcmp(key, "loss") == 0)
        return get_ppm(l, key, v, &k->loss_ppm);
    if (strcmp(key, "duplicate") == 0)
        return get_ppm(l, key, v, &k->dup_ppm);
    if (strcmp(key, "reorder") == 0)
        return get_ppm(l, key, v, &k->reorder_ppm);
    if (strcmp(key, "reorder_extra") == 0) {
        int rc = get_duration(l, key, v, &ms);
        k->reorder_extra_ms = (uint32_t)(ms < 60000 ? ms : 60000);
        return rc;
    }
    if (strcmp(key, "bandwidth") == 0) {
        const char *t = scalar(l, v);
        WANT(t == NULL || parse_bandwidth(t, &k->stream_bytes_per_ms),
             "a bandwidth such as 100Mbit or unlimited");
        return 0;
    }
    if (strcmp(key, "down") == 0)
        return get_bool(l, key, v, &k->down);
    *known = false;
    return 0;
}

static int network_key(ld *l, const char *key, yaml_node_t *v)
{
    bool known;
    int rc = link_key(l, key, v, &l->sc->link, &known);
    if (rc == 0 && !known)
        return fail(l, "unknown key \"%s\"", key);
    return rc;
}

static link_rule *cur_rule;

static int rule_key(ld *l, const char *key, yaml_node_t *v)
{
    bool known;
    if (strcmp(key, "from") == 0)
        return get_set(l, key, v, &cur_rule->from);
    if (strcmp(key, "to") == 0)
        return get_set(l, key, v, &cur_rule->to);
    if (strcmp(key, "both_ways") == 0)
        return get_bool(l, key, v, &cur_rule->both_ways);
    if (strcmp(key, "after_boot") == 0) {
        cur_rule->after_boot_set = true;
        return get_bool(l, key, v, &cur_rule->after_boot);
    }
    int rc = link_key(l, key, v, &cur_rule->link, &known);
    if (rc == 0 && !known)
        return fail(l, "unknown key \"%s\"", key);
    return rc;
}

static int links_section(ld *l, yaml_node_t *v)
{
    if (v == NULL || v->type != YAML_SEQUENCE_NODE)
        return fail(l, "expected a list of link rules");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        if (l->sc->rules_count == SCENARIO_LINK_RULES_MAX)
            return fail(l, "more than %d rules", SCENARIO_LINK_RULES_MAX);
        cur_rule = &l->sc->rules[l->sc->rules_count++];
        cur_rule->link = l->sc->link; /* a rule starts from the network's settings */
        cur_rule->from.count = cur_rule->to.count = 0;
        cur_rule->after_boot_set = false;
        int rc = each_pair(l, yaml_document_get_node(l->doc, *it), rule_key);
        if (!cur_rule->after_boot_set)
            cur_rule->after_boot = cur_rule->link.down; /* a dead link dies once the cluster formed */
        if (rc == 0 && (cur_rule->from.count == 0 || cur_rule->to.count == 0))
            rc = fail(l, "a rule needs from and to");
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int faults_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    if (strcmp(key, "hold") == 0)
        return get_range_ms(l, key, v, &sc->hold_min_ms, &sc->hold_max_ms);
    if (strcmp(key, "quiet") == 0)
        return get_range_ms(l, key, v, &sc->quiet_min_ms, &sc->quiet_max_ms);
    if (strcmp(key, "settle") == 0)
        return get_duration(l, key, v, &sc->settle_ms);
    if (strcmp(key, "overlap") == 0)
        return get_u32(l, key, v, &sc->overlap, FAULTS_ACTIVE_MAX);
    return fail(l, "unknown key \"%s\" (hold, quiet, settle, overlap)", key);
}

static int clocks_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    uint64_t ms = 0;
    uint32_t ppm = 0;
    int rc;
    if (strcmp(key, "skew_max") == 0 || strcmp(key, "jump_max") == 0) {
        rc = get_duration(l, key, v, &ms);
        if (rc == 0 && ms > 24ull * 3600 * 1000)
            return fail(l, "%s: more than a day", key);
        *(key[0] == 's' ? &sc->skew_ms_max : &sc->jump_ms_max) = (int64_t)ms;
        return rc;
    }
    if (strcmp(key, "drift_max_ppm") == 0) {
        rc = get_u32(l, key, v, &ppm, SIM_PPM / 4);
        sc->drift_ppm_max = (int32_t)ppm;
        return rc;
    }
    return fail(l, "unknown key \"%s\" (skew_max, jump_max, drift_max_ppm)", key);
}

static int store_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    uint64_t ms = 0;
    if (strcmp(key, "sync") == 0) {
        const char *t = scalar(l, v);
        if (t != NULL && strcmp(t, "before_send") == 0)
            sc->store.sync = SIM_SYNC_BEFORE_SEND;
        else if (t != NULL && strcmp(t, "interval") == 0)
            sc->store.sync = SIM_SYNC_INTERVAL;
        else if (t != NULL && strcmp(t, "never") == 0)
            sc->store.sync = SIM_SYNC_NEVER;
        else
            return fail(l, "sync: one of before_send, interval, never");
        return 0;
    }
    if (strcmp(key, "sync_interval") == 0) {
        int rc = get_duration(l, key, v, &ms);
        if (rc == 0 && (ms == 0 || ms > 3600000))
            return fail(l, "sync_interval: between 1ms and 1h");
        sc->store.sync_interval_ms = (uint32_t)ms;
        return rc;
    }
    if (strcmp(key, "corrupt") == 0)
        return get_ppm(l, key, v, &sc->store.corrupt_ppm);
    return fail(l, "unknown key \"%s\" (sync, sync_interval, corrupt)", key);
}

static int mix_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    uint32_t *at = strcmp(key, "apply") == 0    ? &sc->mix_apply
                   : strcmp(key, "update") == 0 ? &sc->mix_update
                   : strcmp(key, "delete") == 0 ? &sc->mix_delete : NULL;
    if (at == NULL)
        return fail(l, "mix: unknown key \"%s\" (apply, update, delete)", key);
    return get_u32(l, key, v, at, 1000);
}

static int operator_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    if (strcmp(key, "interval") == 0) {
        const char *t = scalar(l, v);
        if (t != NULL && strcmp(t, "off") == 0) {
            sc->op_interval_ms = 0;
            return 0;
        }
        return get_duration(l, key, v, &sc->op_interval_ms);
    }
    if (strcmp(key, "holders") == 0)
        return get_u32(l, key, v, &sc->op_holders, CARA_GOSSIP_HOLDERS_MAX + 1);
    if (strcmp(key, "value_bytes") == 0)
        return get_range_u32(l, key, v, &sc->value_bytes_min, &sc->value_bytes_max,
                             CARA_CRDT_VALUE_BYTES_MAX);
    if (strcmp(key, "mix") == 0)
        return each_pair(l, v, mix_key);
    if (strcmp(key, "services") == 0) {
        int rc = get_range_u32(l, key, v, &sc->services_min, &sc->services_max, 8);
        if (rc == 0 && sc->services_min < 1)
            return fail(l, "services: at least 1");
        return rc;
    }
    if (strcmp(key, "pinned") == 0)
        return get_ppm(l, key, v, &sc->pinned_ppm);
    if (strcmp(key, "unfit") == 0)
        return get_ppm(l, key, v, &sc->unfit_ppm);
    if (strcmp(key, "expire") == 0)
        return get_ppm(l, key, v, &sc->expire_ppm);
    if (strcmp(key, "expire_after") == 0)
        return get_range_ms(l, key, v, &sc->expire_after_min_ms, &sc->expire_after_max_ms);
    return fail(l, "unknown key \"%s\" (interval, holders, value_bytes, mix, services, pinned, "
                "unfit, expire, expire_after)", key);
}

static int runtime_key(ld *l, const char *key, yaml_node_t *v)
{
    sim_runtime_cfg *rt = &l->sc->runtime;
    if (strcmp(key, "start_latency") == 0 || strcmp(key, "stop_latency") == 0) {
        cur_link = strcmp(key, "start_latency") == 0 ? &rt->start_latency : &rt->stop_latency;
        *cur_link = (sim_link_cfg){0};
        int rc = each_pair(l, v, latency_key);
        if (rc == 0 && cur_link->latency_max_ms < cur_link->latency_min_ms)
            return fail(l, "%s: max below min", key);
        return rc;
    }
    if (strcmp(key, "pull_failure") == 0)
        return get_ppm(l, key, v, &rt->pull_fail_ppm);
    if (strcmp(key, "exit") == 0)
        return get_ppm(l, key, v, &rt->exit_ppm);
    if (strcmp(key, "exit_after") == 0)
        return get_range_ms(l, key, v, &rt->exit_after_min_ms, &rt->exit_after_max_ms);
    return fail(l, "unknown key \"%s\" (start_latency, stop_latency, pull_failure, exit, "
                "exit_after)", key);
}

static int membership_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    if (strcmp(key, "spare") == 0)
        return get_size(l, key, v, &sc->spare, SIM_NODES_MAX);
    if (strcmp(key, "join_interval") == 0)
        return get_duration(l, key, v, &sc->join_interval_ms);
    if (strcmp(key, "leave_interval") == 0)
        return get_duration(l, key, v, &sc->leave_interval_ms);
    return fail(l, "unknown key \"%s\" (spare, join_interval, leave_interval)", key);
}

static int hostile_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    if (strcmp(key, "nodes") == 0)
        return get_size(l, key, v, &sc->hostile_count, 1);
    if (strcmp(key, "interval") == 0)
        return get_duration(l, key, v, &sc->hostile_interval_ms);
    if (strcmp(key, "operator_key_leaked") == 0)
        return get_bool(l, key, v, &sc->operator_key_leaked);
    return fail(l, "unknown key \"%s\" (nodes, interval, operator_key_leaked)", key);
}

static int gossip_key(ld *l, const char *key, yaml_node_t *v)
{
    cara_gossip_cfg *g = &l->sc->gossip;
    static const struct {
        const char *name;
        size_t off;
        bool ms;
    } fields[] = {
#define F(n, f, ms) {n, offsetof(cara_gossip_cfg, f), ms}
        F("probe_interval", probe_interval_ms, true),
        F("probe_timeout", probe_timeout_ms, true),
        F("indirect_checks", indirect_checks_count, false),
        F("suspicion_mult", suspicion_mult, false),
        F("suspicion_max_mult", suspicion_max_mult, false),
        F("retransmit_mult", retransmit_mult, false),
        F("awareness_max", awareness_max, false),
        F("push_fanout", push_fanout, false),
        F("gossip_interval", gossip_interval_ms, true),
        F("gossip_nodes", gossip_nodes, false),
        F("anti_entropy_interval", anti_entropy_interval_ms, true),
        F("reconnect_interval", reconnect_interval_ms, true),
        F("stream_timeout", stream_timeout_ms, true),
        F("join_retry", join_retry_ms, true),
        F("ack_retry", ack_retry_ms, true),
        F("ack_timeout", ack_timeout_ms, true),
#undef F
    };
    if (strcmp(key, "reap_horizon") == 0)
        return get_duration(l, key, v, &g->reap_horizon_ms);
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        if (strcmp(key, fields[k].name) != 0)
            continue;
        uint64_t x = 0;
        int rc = fields[k].ms ? get_duration(l, key, v, &x) : get_u64(l, key, v, &x, 1000);
        if (rc == 0 && x > UINT32_MAX)
            return fail(l, "%s: too large", key);
        uint32_t val = (uint32_t)x;
        memcpy((uint8_t *)g + fields[k].off, &val, sizeof val);
        return rc;
    }
    return fail(l, "unknown key \"%s\" (see docs/sim.md)", key);
}

static int liveness_key(ld *l, const char *key, yaml_node_t *v)
{
    if (strcmp(key, "bound") == 0) {
        const char *t = scalar(l, v);
        if (t != NULL && strcmp(t, "auto") == 0) {
            l->sc->liveness_bound_ms = 0;
            return 0;
        }
        return get_duration(l, key, v, &l->sc->liveness_bound_ms);
    }
    return fail(l, "unknown key \"%s\" (bound)", key);
}

static int checks_key(ld *l, const char *key, yaml_node_t *v)
{
    if (strcmp(key, "sample") == 0) {
        int rc = get_duration(l, key, v, &l->sc->sample_ms);
        if (rc == 0 && (l->sc->sample_ms < 10 || l->sc->sample_ms > 60000))
            return fail(l, "sample: between 10ms and 1m");
        return rc;
    }
    if (strcmp(key, "boot_bound") == 0)
        return get_duration(l, key, v, &l->sc->boot_bound_ms);
    if (strcmp(key, "two_copies") == 0) {
        const char *t = scalar(l, v);
        if (t == NULL || (strcmp(t, "enforce") != 0 && strcmp(t, "count") != 0))
            return fail(l, "two_copies: enforce or count");
        l->sc->two_copies_enforced = strcmp(t, "enforce") == 0;
        return 0;
    }
    if (strcmp(key, "scheduler_agreement") == 0) {
        const char *t = scalar(l, v);
        if (t == NULL || (strcmp(t, "converged") != 0 && strcmp(t, "all_live") != 0))
            return fail(l, "scheduler_agreement: converged or all_live");
        l->sc->agreement_all_live = strcmp(t, "all_live") == 0;
        return 0;
    }
    if (strcmp(key, "rendezvous_bound") == 0) {
        const char *t = scalar(l, v);
        uint64_t x = 0;
        if (t != NULL && strcmp(t, "auto") == 0) {
            l->sc->rendezvous_bound = -1;
            return 0;
        }
        int rc = get_u64(l, key, v, &x, 1000000);
        l->sc->rendezvous_bound = (int64_t)x;
        return rc;
    }
    return fail(l, "unknown key \"%s\" (sample, boot_bound, two_copies, scheduler_agreement, "
                "rendezvous_bound)", key);
}

int scenario_set_nemeses(scenario *sc, const char *list, char *err, size_t err_bytes)
{
    if (strcmp(list, "all") == 0) {
        sc->nemeses = (1u << NEM_COUNT_) - 1;
        return 0;
    }
    if (strcmp(list, "none") == 0) {
        sc->nemeses = 0;
        return 0;
    }
    uint32_t mask = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        int k = nemesis_of(t);
        if (k < 0) {
            snprintf(err, err_bytes, "unknown nemesis \"%s\"", t);
            return CARA_EPARSE;
        }
        mask |= 1u << k;
    }
    sc->nemeses = mask;
    return 0;
}

static int nemesis_value(ld *l, yaml_node_t *v)
{
    if (v != NULL && v->type == YAML_SEQUENCE_NODE) {
        char list[512] = "";
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            const char *t = scalar(l, yaml_document_get_node(l->doc, *it));
            if (t == NULL || strlen(list) + strlen(t) + 2 >= sizeof list)
                return fail(l, "nemesis: a list of names");
            if (list[0] != '\0')
                strcat(list, ",");
            strcat(list, t);
        }
        if (list[0] == '\0')
            strcpy(list, "none");
        return scenario_set_nemeses(l->sc, list, l->err, l->err_bytes);
    }
    const char *t = scalar(l, v);
    if (t == NULL)
        return fail(l, "nemesis: all, none, or a list of names");
    return scenario_set_nemeses(l->sc, t, l->err, l->err_bytes);
}

static int root_key(ld *l, const char *key, yaml_node_t *v)
{
    scenario *sc = l->sc;
    uint64_t x = 0;
    static const struct {
        const char *name;
        key_fn fn;
    } sections[] = {
        {"network", network_key},   {"faults", faults_key},     {"clocks", clocks_key},
        {"store", store_key},       {"operator", operator_key}, {"membership", membership_key},
        {"hostile", hostile_key},   {"gossip", gossip_key},     {"liveness", liveness_key},
        {"checks", checks_key},     {"runtime", runtime_key},
    };
    for (size_t k = 0; k < sizeof sections / sizeof sections[0]; k++)
        if (strcmp(key, sections[k].name) == 0) {
            l->section = sections[k].name;
            int rc = each_pair(l, v, sections[k].fn);
            l->section = NULL;
            return rc;
        }
    if (strcmp(key, "description") == 0)
        return 0;
    if (strcmp(key, "links") == 0) {
        l->section = "links";
        int rc = links_section(l, v);
        l->section = NULL;
        return rc;
    }
    if (strcmp(key, "nodes") == 0) {
        int rc = get_u64(l, key, v, &x, SIM_NODES_MAX);
        if (rc == 0 && x < 1)
            return fail(l, "nodes: at least 1");
        sc->nodes = (size_t)x;
        return rc;
    }
    if (strcmp(key, "seed") == 0)
        return get_u64(l, key, v, &sc->seed, UINT64_MAX);
    if (strcmp(key, "duration") == 0)
        return get_duration(l, key, v, &sc->duration_ms);
    if (strcmp(key, "nemesis") == 0)
        return nemesis_value(l, v);
    if (strcmp(key, "fencing") == 0) {
        /* Off only to show what fencing prevents (break-two-copies). */
        const char *t = scalar(l, v);
        if (t == NULL || (strcmp(t, "on") != 0 && strcmp(t, "off") != 0))
            return fail(l, "fencing: on or off");
        sc->fencing_off = strcmp(t, "off") == 0;
        return 0;
    }
    return fail(l, "unknown key \"%s\"", key);
}

int scenario_load(scenario *sc, const char *path, char *err, size_t err_bytes)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_bytes, "%s: cannot open (%s)", path, strerror(errno));
        return CARA_EPARSE;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = 0;
    if (!yaml_parser_load(&p, &doc)) {
        snprintf(err, err_bytes, "%s:%zu: %s", path, p.problem_mark.line + 1,
                 p.problem ? p.problem : "YAML error");
        rc = CARA_EPARSE;
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        ld l = {.doc = &doc, .sc = sc, .err = err, .err_bytes = err_bytes};
        rc = root == NULL ? 0 : each_pair(&l, root, root_key);
        if (rc != 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", err);
            snprintf(err, err_bytes, "%s: %s", path, msg);
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (rc == 0 && sc->spare + sc->nodes > SIM_NODES_MAX) {
        snprintf(err, err_bytes, "%s: nodes + spare exceed %d", path, SIM_NODES_MAX);
        rc = CARA_EPARSE;
    }
    return rc;
}
