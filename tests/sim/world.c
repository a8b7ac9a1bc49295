/*
 * The world's clock-work (world.h): boot, the fault phase with its actors
 * (nemeses, the operator, joins and leaves, the hostile node, the
 * checkers' samples) each waking at its own next time, then the liveness
 * phase with every fault stopped, which must end converged.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "world.h"

/* ---- Small helpers ------------------------------------------------------------------ */

static uint64_t rnd_between(world *w, uint64_t lo, uint64_t hi)
{
    return hi > lo ? lo + cara_rng_below(&w->rng, hi - lo + 1) : lo;
}

void series_add(series *s, cara_env *env, uint64_t v)
{
    s->v = sim_grow(env, s->v, s->count, &s->cap, sizeof *s->v, 64);
    s->v[s->count++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t series_pct(series *s, double p)
{
    if (s->count == 0)
        return 0;
    qsort(s->v, s->count, sizeof *s->v, cmp_u64);
    size_t k = (size_t)(p / 100.0 * (double)(s->count - 1) + 0.5);
    return s->v[k < s->count ? k : s->count - 1];
}

static const char *const checker_names[CHECK_COUNT_] = {
    [CHECK_RECORD_VERIFIES] = "record_verifies", [CHECK_GENUINE_ONLY] = "genuine_only",
    [CHECK_CONVERGENCE] = "convergence",         [CHECK_MEMBERSHIP] = "membership",
    [CHECK_ACKED_DURABLE] = "acked_durable",
    [CHECK_SCHEDULER_AGREEMENT] = "scheduler_agreement",
    [CHECK_TWO_COPIES] = "two_copies",
    [CHECK_LIVENESS] = "liveness",
    [CHECK_RENDEZVOUS] = "rendezvous",
};

const char *checker_name(int c) { return c >= 0 && c < CHECK_COUNT_ ? checker_names[c] : "?"; }

static void put_line(FILE *f, uint64_t t, const char *line)
{
    if (f != NULL)
        fprintf(f, "%9llu.%03llu  %s\n", (unsigned long long)(t / 1000),
                (unsigned long long)(t % 1000), line);
}

void world_log(world *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = line; *c; c++)
        h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    sim_trace_mix(w->s, h);
    put_line(w->trace, sim_now(w->s), line);
    put_line(w->verbose ? stderr : NULL, sim_now(w->s), line);
}

void world_trace(world *w, const char *fmt, ...)
{
    if (w->trace == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    put_line(w->trace, sim_now(w->s), line);
}

void world_violation(world *w, int checker, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    w->violations_total++;
    w->violations_by_checker[checker]++;
    if (w->violations_count < VIOLATIONS_KEPT_MAX) {
        violation *v = &w->violations[w->violations_count++];
        v->checker = checker;
        v->at_ms = sim_now(w->s);
        snprintf(v->what, sizeof v->what, "%s", what);
        span *sp = NULL;
        world_span_open(w, -2, checker_name(checker));
        sp = &w->spans[w->spans_count - 1];
        sp->end_ms = sp->start_ms;
    }
    world_log(w, "VIOLATION %s: %s", checker_name(checker), what);
}

bool world_live(const world *w, size_t i)
{
    return w->role[i] == ROLE_MEMBER && sim_up(w->s, i);
}

static bool leaving(const world *w, size_t i)
{
    for (size_t k = 0; k < w->leaving_count; k++)
        if (w->leaving[k] == i)
            return true;
    return false;
}

size_t world_pick_live(world *w, bool allow_hostile)
{
    size_t count = 0;
    for (size_t i = 0; i < w->n; i++)
        count += world_live(w, i) && !sim_paused(w->s, i) && !leaving(w, i) &&
                 (allow_hostile || !w->is_hostile[i]);
    if (count == 0)
        return SIZE_MAX;
    size_t k = (size_t)cara_rng_below(&w->rng, count);
    for (size_t i = 0; i < w->n; i++)
        if (world_live(w, i) && !sim_paused(w->s, i) && !leaving(w, i) &&
            (allow_hostile || !w->is_hostile[i]) && k-- == 0)
            return i;
    return SIZE_MAX;
}

void world_span_open(world *w, int kind, const char *label)
{
    w->spans = sim_grow(w->env, w->spans, w->spans_count, &w->spans_cap, sizeof *w->spans, 64);
    span *sp = &w->spans[w->spans_count++];
    sp->kind = kind;
    sp->start_ms = sim_now(w->s);
    sp->end_ms = SIM_NEVER;
    snprintf(sp->label, sizeof sp->label, "%s", label);
}

void world_span_close(world *w, int kind, const char *label)
{
    for (size_t k = w->spans_count; k > 0; k--) {
        span *sp = &w->spans[k - 1];
        if (sp->kind == kind && sp->end_ms == SIM_NEVER && strcmp(sp->label, label) == 0) {
            sp->end_ms = sim_now(w->s);
            return;
        }
    }
}

void world_crash(world *w, size_t i)
{
    if (!sim_up(w->s, i))
        return;
    sim_crash(w->s, i);
    w->up_ms_total += sim_now(w->s) - w->up_since_ms[i];
    checks_on_crash(w, i);
}

/* Node i (started) asks its seeds to let it in; returns how many. */
static size_t join_seeds(world *w, size_t i)
{
    size_t count = 0;
    for (size_t k = 0; k < JOIN_SEEDS; k++)
        if (w->seeds[i][k] != SIZE_MAX && sim_join(w->s, i, w->seeds[i][k], NULL, 0) == 0)
            count++;
    return count;
}

int world_restart(world *w, size_t i)
{
    int rc = sim_start(w->s, i);
    if (rc != 0) {
        world_log(w, "%s failed to restart: %s", sim_name(w->s, i), cara_errname(rc));
        return rc;
    }
    w->up_since_ms[i] = sim_now(w->s);
    w->live_cached++;
    size_t known = sim_add_known_members(w->s, i);
    /* As the agent does with its --join addresses at every start. */
    size_t seeds = join_seeds(w, i);
    world_log(w, "%s restarts (life %u), knowing %zu members from its disk, joining through %zu "
              "seeds", sim_name(w->s, i), sim_life(w->s, i), known, seeds);
    return 0;
}

/* ---- The operator's ledger: a set of envelope hashes ----------------------------------- */

static void envelope_hash(const uint8_t *b, size_t len, uint8_t out[16])
{
    crypto_generichash(out, 16, b, len, NULL, 0);
}

static size_t issued_slot(const world *w, const uint8_t h[16])
{
    uint64_t x;
    memcpy(&x, h, sizeof x);
    size_t i = (size_t)x & (w->issued_cap - 1);
    static const uint8_t zero[16];
    while (memcmp(w->issued[i], zero, 16) != 0 && memcmp(w->issued[i], h, 16) != 0)
        i = (i + 1) & (w->issued_cap - 1);
    return i;
}

void ledger_issue(world *w, const uint8_t *envelope, size_t len)
{
    if (2 * (w->issued_count + 1) > w->issued_cap) {
        size_t old = w->issued_cap;
        uint8_t(*v)[16] = w->issued;
        w->issued_cap = old ? 2 * old : 1024;
        w->issued = cara_env_calloc(w->env, w->issued_cap, 16);
        CARA_ASSERT(w->issued != NULL);
        static const uint8_t zero[16];
        for (size_t i = 0; i < old; i++)
            if (memcmp(v[i], zero, 16) != 0)
                memcpy(w->issued[issued_slot(w, v[i])], v[i], 16);
        cara_env_free(w->env, v);
    }
    uint8_t h[16];
    envelope_hash(envelope, len, h);
    size_t i = issued_slot(w, h);
    static const uint8_t zero[16];
    if (memcmp(w->issued[i], zero, 16) == 0) {
        memcpy(w->issued[i], h, 16);
        w->issued_count++;
    }
}

bool ledger_issued(const world *w, const uint8_t *envelope, size_t len)
{
    if (w->issued_cap == 0)
        return false;
    uint8_t h[16];
    envelope_hash(envelope, len, h);
    static const uint8_t zero[16];
    return memcmp(w->issued[issued_slot(w, h)], zero, 16) != 0;
}

static int admission_issue(world *w, size_t j, bool admitted, cara_buf *out)
{
    int rc = sim_admission(w->s, j, admitted, out);
    if (rc == 0) {
        ledger_issue(w, out->data, out->len);
        if (admitted)
            w->ever_admitted[j] = 1;
    }
    return rc;
}

/* ---- Making and freeing ------------------------------------------------------------- */

static int world_alloc(world *w)
{
    size_t n = w->n;
    w->role = cara_env_calloc(w->env, n, 1);
    w->killed = cara_env_calloc(w->env, n, 1);
    w->is_hostile = cara_env_calloc(w->env, n, 1);
    w->ever_admitted = cara_env_calloc(w->env, n, 1);
    w->up_since_ms = cara_env_calloc(w->env, n, sizeof *w->up_since_ms);
    w->susp_inc = cara_env_calloc(w->env, n, sizeof *w->susp_inc);
    w->seeds = cara_env_alloc(w->env, n * sizeof *w->seeds);
    if (w->seeds != NULL)
        memset(w->seeds, 0xff, n * sizeof *w->seeds);
    return w->role && w->killed && w->is_hostile && w->ever_admitted && w->up_since_ms &&
                   w->susp_inc && w->seeds
               ? 0 : CARA_ENOMEM;
}

/* The scenario's link rules. A rule `after_boot` (by default, one whose
 * link is down) takes effect once the cluster has formed, at the start of
 * the fault phase: before, every node record and admission must spread
 * for the boot's own check to pass. */
static int apply_link_rules(world *w, bool after_boot)
{
    for (size_t r = 0; r < w->sc.rules_count; r++) {
        const link_rule *lr = &w->sc.rules[r];
        if (lr->after_boot != after_boot)
            continue;
        sim_link_cfg link = lr->link;
        for (size_t i = 0; i < w->n; i++)
            for (size_t j = 0; node_set_has(&lr->from, i) && j < w->n; j++) {
                if (i == j || !node_set_has(&lr->to, j))
                    continue;
                int rc = sim_link_set(w->s, i, j, &link);
                if (rc == 0 && lr->both_ways)
                    rc = sim_link_set(w->s, j, i, &link);
                if (rc != 0)
                    return rc;
            }
    }
    return 0;
}

int world_new(world **out, scenario *sc, cara_env *env, FILE *trace)
{
    world *w = cara_env_calloc(env, 1, sizeof *w);
    if (w == NULL)
        return CARA_ENOMEM;
    w->sc = *sc;
    w->env = env;
    w->trace = trace;
    w->n = scenario_nodes_total(sc);
    w->liveness_converged_ms = w->liveness_agreed_ms = SIM_NEVER;
    cara_rng_seed(&w->rng, sc->seed ^ 0x776f726c64ull);
    sim_cfg cfg = {.nodes_count = w->n, .seed = sc->seed, .link = sc->link,
                   .gossip = sc->gossip, .store = sc->store, .env = env, .projects = true,
                   .runtime = sc->runtime, .fencing_off = sc->fencing_off};
    int rc = sim_new(&w->s, &cfg);
    if (rc == 0)
        rc = world_alloc(w);
    if (rc == 0)
        rc = apply_link_rules(w, false);
    if (rc == 0 && sc->hostile_count > 0)
        rc = hostile_new(w);
    if (rc != 0) {
        world_free(w);
        return rc;
    }
    checks_install(w);
    *out = w;
    return 0;
}

void world_free(world *w)
{
    if (w == NULL)
        return;
    hostile_free(w);
    for (size_t k = 0; k < w->faults_count; k++)
        cara_env_free(w->env, w->faults[k].nodes);
    for (size_t k = 0; k < w->writes_count; k++)
        cara_env_free(w->env, w->writes[k].holders);
    cara_env_free(w->env, w->writes);
    cara_env_free(w->env, w->keys);
    cara_env_free(w->env, w->issued);
    cara_env_free(w->env, w->spread_ms.v);
    cara_env_free(w->env, w->detect_ms.v);
    cara_env_free(w->env, w->recovery_ms.v);
    cara_env_free(w->env, w->detections);
    cara_env_free(w->env, w->samples);
    cara_env_free(w->env, w->spans);
    cara_env_free(w->env, w->role);
    cara_env_free(w->env, w->killed);
    cara_env_free(w->env, w->is_hostile);
    cara_env_free(w->env, w->ever_admitted);
    cara_env_free(w->env, w->up_since_ms);
    cara_env_free(w->env, w->susp_inc);
    cara_env_free(w->env, w->seeds);
    sim_free(w->s);
    cara_env_free(w->env, w);
}

/* ---- The operator ----------------------------------------------------------------- */

static size_t key_new(world *w)
{
    w->keys = sim_grow(w->env, w->keys, w->keys_count, &w->keys_cap, sizeof *w->keys, 64);
    op_key *k = &w->keys[w->keys_count];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "p%04zu", w->keys_count);
    k->down_since_ms = SIM_NEVER;
    return w->keys_count++;
}

/* A key of the wanted kind at random: live (not deleted) or deleted. */
static size_t key_pick(world *w, bool deleted)
{
    size_t count = 0;
    for (size_t k = 0; k < w->keys_count; k++)
        count += w->keys[k].deleted == deleted;
    if (count == 0)
        return SIZE_MAX;
    size_t pick = (size_t)cara_rng_below(&w->rng, count);
    for (size_t k = 0; k < w->keys_count; k++)
        if (w->keys[k].deleted == deleted && pick-- == 0)
            return k;
    return SIZE_MAX;
}

static pending_write *write_new(world *w)
{
    w->writes = sim_grow(w->env, w->writes, w->writes_count, &w->writes_cap, sizeof *w->writes, 64);
    pending_write *pw = &w->writes[w->writes_count++];
    memset(pw, 0, sizeof *pw);
    pw->holders = cara_env_calloc(w->env, w->n, 1);
    CARA_ASSERT(pw->holders != NULL);
    return pw;
}

static const char *op_verb(int kind, bool fresh)
{
    return kind == CARA_CRDT_TOMBSTONE ? "deletes" : fresh ? "applies" : "updates";
}

/* The operator signs one spec (or tombstone) and hands it to node x. A
 * spec is a real project (workload.c), written at the operator's clock
 * (the true one). */
static void op_write(world *w, size_t x, size_t key, int kind, bool fresh)
{
    op_key *k = &w->keys[key];
    uint64_t gen = k->gen_issued + 1;
    cara_buf value;
    cara_buf_init(&value, w->env, CARA_SPEC_BYTES_MAX);
    workload_traits traits = {0};
    if (kind == CARA_CRDT_PROJECT) {
        const workload_traits *prev = fresh ? NULL : &k->traits;
        CARA_ASSERT(workload_spec(w, &w->rng, k->name, sim_true_wall(w->s), prev, &traits,
                                  &value) == 0);
        w->expiring += traits.expire_at_wall_ms != 0;
    }
    cara_buf b;
    cara_buf_init(&b, w->env, CARA_CRDT_RECORD_BYTES_MAX);
    cara_crdt_record r = {.kind = kind, .key = (const uint8_t *)k->name, .key_bytes = strlen(k->name),
                          .generation = gen,
                          .hlc = cara_crdt_hlc_next(sim_crdt(w->s, x), sim_wall(w->s, x)),
                          .author = sim_operator_pk(w->s), .value = value.data,
                          .value_bytes = value.len};
    CARA_ASSERT(cara_crdt_record_sign(&r, sim_operator_sk(w->s), &b) == 0);
    ledger_issue(w, b.data, b.len);
    pending_write *pw = write_new(w);
    cara_crdt_record dec;
    CARA_ASSERT(cara_crdt_record_decode(b.data, b.len, &dec) == 0);
    cara_crdt_record_id(&dec, pw->id);
    pw->hlc = dec.hlc;
    pw->key = key;
    pw->gen = gen;
    pw->at_ms = sim_now(w->s);
    pw->node = x;
    pw->life = sim_life(w->s, x);
    k->gen_issued = gen;
    k->deleted = kind == CARA_CRDT_TOMBSTONE;
    k->traits = traits;
    if (kind == CARA_CRDT_TOMBSTONE)
        k->down_since_ms = SIM_NEVER; /* its stop is no failure to recover from */
    checks_write_published(w, pw);
    world_log(w, "operator %s %s generation %llu through %s (%zu bytes%s%s%s)",
              op_verb(kind, fresh), k->name, (unsigned long long)gen, sim_name(w->s, x), b.len,
              traits.unfit ? ", fits no node" : "", traits.pinned ? ", pinned to a zone" : "",
              traits.expire_at_wall_ms ? ", expiring" : "");
    int rc = sim_accept(w->s, x, b.data, b.len, w->sc.op_holders > 1 ? w->sc.op_holders : 0);
    if (rc != 0)
        world_log(w, "%s refused the operator's %s: %s", sim_name(w->s, x), k->name,
                  cara_errname(rc));
    *(kind == CARA_CRDT_TOMBSTONE ? &w->deletes : fresh ? &w->applies : &w->updates) += 1;
    cara_buf_free(&b);
    cara_buf_free(&value);
}

static void op_act(world *w)
{
    size_t x = world_pick_live(w, false);
    if (x == SIZE_MAX)
        return;
    uint32_t total = w->sc.mix_apply + w->sc.mix_update + w->sc.mix_delete;
    uint32_t r = total ? (uint32_t)cara_rng_below(&w->rng, total) : 0;
    size_t live = key_pick(w, false);
    if (r < w->sc.mix_apply || live == SIZE_MAX) {
        size_t dead = key_pick(w, true);
        bool reuse = dead != SIZE_MAX && cara_rng_below(&w->rng, 4) == 0;
        op_write(w, x, reuse ? dead : key_new(w), CARA_CRDT_PROJECT, true);
    } else if (r < w->sc.mix_apply + w->sc.mix_update) {
        op_write(w, x, live, CARA_CRDT_PROJECT, false);
    } else {
        op_write(w, x, live, CARA_CRDT_TOMBSTONE, false);
    }
}

/* ---- Joins and leaves ------------------------------------------------------------- */

static void join_act(world *w)
{
    if (w->spare_next >= w->n)
        return;
    size_t x = world_pick_live(w, false);
    if (x == SIZE_MAX)
        return;
    size_t j = w->spare_next++;
    cara_buf b;
    cara_buf_init(&b, w->env, CARA_CRDT_RECORD_BYTES_MAX);
    CARA_ASSERT(admission_issue(w, j, true, &b) == 0);
    world_log(w, "operator admits %s through %s; it joins through that node", sim_name(w->s, j),
              sim_name(w->s, x));
    (void)sim_accept(w->s, x, b.data, b.len, 0);
    cara_buf_free(&b);
    if (sim_start(w->s, j) != 0)
        return;
    w->role[j] = ROLE_MEMBER;
    w->up_since_ms[j] = sim_now(w->s);
    w->seeds[j][0] = x;
    for (size_t k = 1; k < JOIN_SEEDS; k++) {
        size_t y = world_pick_live(w, false);
        w->seeds[j][k] = y != j && y != x ? y : SIZE_MAX;
    }
    (void)join_seeds(w, j);
    w->joins++;
    world_span_open(w, -3, "join");
    w->spans[w->spans_count - 1].end_ms = sim_now(w->s);
}

static size_t members_count(const world *w)
{
    size_t c = 0;
    for (size_t i = 0; i < w->n; i++)
        c += w->role[i] == ROLE_MEMBER && !leaving(w, i);
    return c;
}

static void leave_act(world *w)
{
    if (w->leaving_count == sizeof w->leaving / sizeof w->leaving[0] ||
        members_count(w) <= (w->sc.nodes / 2 > 3 ? w->sc.nodes / 2 : 3))
        return;
    size_t i = world_pick_live(w, false);
    if (i == SIZE_MAX)
        return;
    world_log(w, "%s leaves the cluster", sim_name(w->s, i));
    (void)sim_leave(w->s, i);
    cara_gossip_cfg g = w->sc.gossip;
    cara_gossip_cfg_lan(&g);
    w->leaving[w->leaving_count] = i;
    w->leaving_stop_ms[w->leaving_count++] = sim_now(w->s) + 2ull * g.probe_interval_ms;
    w->leaves++;
    world_span_open(w, -4, "leave");
    w->spans[w->spans_count - 1].end_ms = sim_now(w->s);
}

/* The node that left stops, and the operator revokes it. */
static void leave_finish(world *w, size_t k)
{
    size_t i = w->leaving[k];
    w->leaving[k] = w->leaving[--w->leaving_count];
    w->leaving_stop_ms[k] = w->leaving_stop_ms[w->leaving_count];
    world_crash(w, i);
    checks_forget_crash(w, i);
    w->role[i] = ROLE_LEFT;
    w->killed[i] = 0;
    cara_buf b;
    cara_buf_init(&b, w->env, CARA_CRDT_RECORD_BYTES_MAX);
    CARA_ASSERT(admission_issue(w, i, false, &b) == 0);
    size_t x = world_pick_live(w, false);
    world_log(w, "%s stopped; the operator revokes it through %s", sim_name(w->s, i),
              x == SIZE_MAX ? "nobody" : sim_name(w->s, x));
    if (x != SIZE_MAX)
        (void)sim_accept(w->s, x, b.data, b.len, 0);
    cara_buf_free(&b);
}

/* ---- Phases ----------------------------------------------------------------------- */

static bool booted(world *w)
{
    uint32_t states, agree;
    return checks_converged(w, &states) && checks_views_agree(w, &agree);
}

static void boot(world *w)
{
    sim *s = w->s;
    w->phase = PHASE_BOOT;
    world_span_open(w, -1, "boot");
    cara_buf b;
    cara_buf_init(&b, w->env, CARA_CRDT_RECORD_BYTES_MAX);
    for (size_t j = 0; j < w->sc.nodes; j++) {
        cara_buf_reset(&b);
        CARA_ASSERT(admission_issue(w, j, true, &b) == 0);
    }
    cara_buf_free(&b);
    CARA_ASSERT(sim_admit_first(s, w->sc.nodes) == 0);
    for (size_t i = 0; i < w->sc.nodes; i++) {
        CARA_ASSERT(sim_start(s, i) == 0);
        w->role[i] = ROLE_MEMBER;
        w->up_since_ms[i] = sim_now(s);
    }
    w->spare_next = w->sc.nodes;
    for (size_t i = 0; i < w->sc.nodes; i++)
        (void)sim_add_known_members(s, i);
    world_log(w, "boot: %zu nodes, each knowing the others from its disk%s", w->sc.nodes,
              w->sc.hostile_count ? "; one of them hostile" : "");
    uint64_t t0 = sim_now(s);
    uint64_t bound = w->sc.boot_bound_ms ? w->sc.boot_bound_ms : 60000 + 50 * w->sc.nodes;
    while (!booted(w) && sim_now(s) < t0 + bound)
        sim_run_for(s, 100);
    w->boot_ms = sim_now(s) - t0;
    if (!booted(w))
        world_violation(w, CHECK_MEMBERSHIP, "the cluster did not form within %llu ms of boot",
                        (unsigned long long)bound);
    world_log(w, "boot: formed after %llu ms", (unsigned long long)w->boot_ms);
    world_span_close(w, -1, "boot");
}

static bool any_partition(const world *w)
{
    for (size_t k = 0; k < w->faults_count; k++)
        if (nemesis_partitions(w->faults[k].kind))
            return true;
    return false;
}

/* A nemesis at random among those enabled that can start now. */
static int pick_nemesis(world *w)
{
    int ok[NEM_COUNT_];
    size_t count = 0;
    bool busy = any_partition(w);
    for (int k = 0; k < NEM_COUNT_; k++) {
        bool running = false;
        for (size_t f = 0; f < w->faults_count; f++)
            running |= w->faults[f].kind == k;
        if ((w->sc.nemeses >> k & 1) && !running && !(busy && nemesis_partitions(k)))
            ok[count++] = k;
    }
    return count ? ok[cara_rng_below(&w->rng, count)] : -1;
}

static void fault_maybe_start(world *w)
{
    uint64_t now = sim_now(w->s);
    w->next_fault_ms = SIM_NEVER;
    uint64_t left = w->faults_end_ms > now ? w->faults_end_ms - now : 0;
    if (w->faults_count < w->sc.overlap && left >= w->sc.hold_min_ms && left > 0) {
        int kind = pick_nemesis(w);
        uint64_t hold = rnd_between(w, w->sc.hold_min_ms, w->sc.hold_max_ms);
        if (hold > left)
            hold = left;
        if (kind >= 0 && hold > 0)
            nemesis_start(w, kind, hold);
    }
    if (w->faults_count < w->sc.overlap)
        w->next_fault_ms = now + rnd_between(w, w->sc.quiet_min_ms, w->sc.quiet_max_ms);
}

static void fault_end(world *w, size_t k)
{
    nemesis_stop(w, &w->faults[k]);
    cara_env_free(w->env, w->faults[k].nodes);
    w->faults[k] = w->faults[--w->faults_count];
    if (w->next_fault_ms == SIM_NEVER && w->phase == PHASE_FAULTS)
        w->next_fault_ms = sim_now(w->s) + rnd_between(w, w->sc.quiet_min_ms, w->sc.quiet_max_ms);
}

static uint64_t next_interval(world *w, uint64_t interval_ms)
{
    /* Uniform in [interval/2, 3 interval/2]: arrivals that are neither
     * regular nor bursty. */
    return interval_ms ? sim_now(w->s) + rnd_between(w, interval_ms / 2, interval_ms * 3 / 2)
                       : SIM_NEVER;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t next_wake(const world *w, uint64_t end_ms)
{
    uint64_t t = end_ms;
    t = min_u64(t, w->next_fault_ms);
    t = min_u64(t, w->next_op_ms);
    t = min_u64(t, w->next_join_ms);
    t = min_u64(t, w->next_leave_ms);
    t = min_u64(t, w->next_hostile_ms);
    t = min_u64(t, w->next_sample_ms);
    for (size_t k = 0; k < w->faults_count; k++)
        t = min_u64(t, min_u64(w->faults[k].end_ms, w->faults[k].next_ms));
    for (size_t k = 0; k < w->leaving_count; k++)
        t = min_u64(t, w->leaving_stop_ms[k]);
    return t;
}

/* Wakes every actor due now, in a fixed order. */
static void actors_due(world *w)
{
    uint64_t now = sim_now(w->s);
    for (size_t k = 0; k < w->faults_count;)
        if (w->faults[k].end_ms <= now)
            fault_end(w, k);
        else
            k++;
    for (size_t k = 0; k < w->faults_count; k++)
        if (w->faults[k].next_ms <= now)
            nemesis_step(w, &w->faults[k]);
    for (size_t k = 0; k < w->leaving_count;)
        if (w->leaving_stop_ms[k] <= now)
            leave_finish(w, k);
        else
            k++;
    if (w->next_fault_ms <= now)
        fault_maybe_start(w);
    if (w->next_op_ms <= now) {
        op_act(w);
        w->next_op_ms = next_interval(w, w->sc.op_interval_ms);
    }
    if (w->next_join_ms <= now) {
        join_act(w);
        w->next_join_ms = w->spare_next < w->n ? next_interval(w, w->sc.join_interval_ms) : SIM_NEVER;
    }
    if (w->next_leave_ms <= now) {
        leave_act(w);
        w->next_leave_ms = next_interval(w, w->sc.leave_interval_ms);
    }
    if (w->next_hostile_ms <= now) {
        hostile_act(w);
        w->next_hostile_ms = next_interval(w, w->sc.hostile_interval_ms);
    }
    if (w->next_sample_ms <= now) {
        checks_sample(w);
        w->next_sample_ms = now + w->sc.sample_ms;
    }
}

static void fault_phase(world *w)
{
    sim *s = w->s;
    w->phase = PHASE_FAULTS;
    w->phase_start_ms = sim_now(s);
    w->faults_end_ms = sim_now(s) + w->sc.duration_ms;
    world_span_open(w, -1, "faults");
    world_log(w, "fault phase: %llu ms", (unsigned long long)w->sc.duration_ms);
    CARA_ASSERT(apply_link_rules(w, true) == 0); /* the rules that wait for the boot */
    w->next_fault_ms = w->sc.nemeses ? sim_now(s) + w->sc.settle_ms : SIM_NEVER;
    w->next_op_ms = next_interval(w, w->sc.op_interval_ms);
    w->next_join_ms = w->sc.spare ? next_interval(w, w->sc.join_interval_ms) : SIM_NEVER;
    w->next_leave_ms = next_interval(w, w->sc.leave_interval_ms);
    w->next_hostile_ms = w->h != NULL ? next_interval(w, w->sc.hostile_interval_ms) : SIM_NEVER;
    w->next_sample_ms = sim_now(s);
    while (sim_now(s) < w->faults_end_ms) {
        uint64_t t = next_wake(w, w->faults_end_ms);
        sim_run_until(s, t);
        actors_due(w);
    }
    world_span_close(w, -1, "faults");
}

/* Every fault stops: partitions heal, clocks are set right (an NTP step),
 * paused nodes resume, crashed ones restart from their disks, chaos ends;
 * the operator and the membership churn stop too. */
static void stop_everything(world *w)
{
    sim *s = w->s;
    while (w->faults_count > 0)
        fault_end(w, w->faults_count - 1);
    while (w->leaving_count > 0)
        leave_finish(w, w->leaving_count - 1);
    sim_heal_all(s);
    sim_set_chaos(s, NULL);
    for (size_t i = 0; i < w->n; i++) {
        if (sim_skew(s, i) != 0 || sim_drift(s, i) != 0) {
            sim_set_drift(s, i, 0);
            sim_set_skew(s, i, 0);
        }
        if (sim_paused(s, i))
            sim_resume(s, i);
        if (w->role[i] == ROLE_MEMBER && !sim_up(s, i)) {
            w->killed[i] = 0;
            (void)world_restart(w, i);
        }
    }
}

static void liveness_phase(world *w)
{
    sim *s = w->s;
    w->phase = PHASE_LIVENESS;
    stop_everything(w);
    w->liveness_start_ms = sim_now(s);
    w->liveness_bound_ms = scenario_liveness_bound_ms(&w->sc);
    world_span_open(w, -1, "liveness");
    world_log(w, "liveness phase: every fault stopped; converged within %llu ms or a violation",
              (unsigned long long)w->liveness_bound_ms);
    uint64_t end = w->liveness_start_ms + w->liveness_bound_ms;
    w->next_op_ms = w->next_join_ms = w->next_leave_ms = w->next_fault_ms = SIM_NEVER;
    w->next_sample_ms = sim_now(s);
    for (;;) {
        uint64_t t = next_wake(w, end);
        sim_run_until(s, t);
        actors_due(w);
        uint32_t states, agree;
        bool conv = checks_converged(w, &states);
        bool views = checks_views_agree(w, &agree);
        if (conv && w->liveness_converged_ms == SIM_NEVER)
            w->liveness_converged_ms = sim_now(s) - w->liveness_start_ms;
        if (!conv)
            w->liveness_converged_ms = SIM_NEVER;
        /* Done when the states and views agree and no runtime has a
         * report still to make (a start, stop or retry in flight). */
        if (conv && views && checks_runtimes_settled(w)) {
            w->liveness_agreed_ms = sim_now(s) - w->liveness_start_ms;
            checks_projects(w);
            break;
        }
        if (sim_now(s) >= end) {
            /* What the nodes decided is judged first: a run that fails to
             * converge names the first checker of projects it breaks. */
            checks_projects(w);
            if (!conv)
                world_violation(w, CHECK_CONVERGENCE,
                                "%u different states among the live nodes %llu ms after every "
                                "fault stopped (bound %llu ms)", states,
                                (unsigned long long)(sim_now(s) - w->liveness_start_ms),
                                (unsigned long long)w->liveness_bound_ms);
            if (!views)
                world_violation(w, CHECK_MEMBERSHIP,
                                "%u of the live nodes see exactly the live members %llu ms "
                                "after every fault stopped (bound %llu ms)", agree,
                                (unsigned long long)(sim_now(s) - w->liveness_start_ms),
                                (unsigned long long)w->liveness_bound_ms);
            break;
        }
    }
    checks_sample(w);
    world_log(w, "liveness phase: %s after %llu ms", w->liveness_agreed_ms != SIM_NEVER
                                                        ? "converged and views agree"
                                                        : "not converged",
              (unsigned long long)(sim_now(s) - w->liveness_start_ms));
    world_span_close(w, -1, "liveness");
}

static void phase_starts(world *w, int phase)
{
    if (w->on_phase != NULL)
        w->on_phase(w->phase_ctx, phase);
}

void world_run(world *w)
{
    phase_starts(w, PHASE_BOOT);
    boot(w);
    phase_starts(w, PHASE_FAULTS);
    fault_phase(w);
    phase_starts(w, PHASE_LIVENESS);
    liveness_phase(w);
    checks_final(w);
    phase_starts(w, PHASE_DONE);
    for (size_t i = 0; i < w->n; i++)
        if (sim_up(w->s, i))
            w->up_ms_total += sim_now(w->s) - w->up_since_ms[i];
    w->phase = PHASE_DONE;
}
