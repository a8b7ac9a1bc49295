/*
 * cara-sim: N simulated nodes on the real core, one seed (docs/sim.md).
 *
 *   cara-sim --nodes N --seed S --duration 10m --nemesis all|NAME,...
 *            [--scenario FILE] [--trace FILE] [--plot FILE.svg]
 *            [--check-determinism] [--no-memo] [--verbose]
 *
 * Prints a JSON summary on stdout. Exit status: 0 when every invariant
 * held, 1 on a violation (stderr names the seed and the first violating
 * event), 2 for a bad command line or scenario, 3 when --check-determinism
 * saw two runs of one seed differ.
 *
 * This file is the only part of the simulator that touches the real world:
 * arguments, files, the real clock (for sim_speedup only; nothing it reads
 * reaches the world, so the trace cannot depend on it) and /proc for memory.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "sim_crypto.h"
#include "world.h"

/* ---- The harness's env: plain malloc ---------------------------------------------- */

static uint64_t no_mono(void *ctx)
{
    (void)ctx;
    return 0;
}
static int64_t no_wall(void *ctx)
{
    (void)ctx;
    return 0;
}
static void no_log(void *ctx, int level, const char *module, const char *msg)
{
    (void)ctx, (void)level, (void)module, (void)msg;
}
static void *m_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n ? n : 1);
}
static void *m_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return realloc(p, n ? n : 1);
}
static void m_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static cara_env harness_env = {NULL, no_mono, no_wall, no_log, m_alloc, m_realloc, m_free,
                               CARA_LOG_ERROR, {{0}}};

static double real_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static size_t rss_peak_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %zu kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb * 1024;
}

/* ---- Command line ----------------------------------------------------------------- */

typedef struct opts {
    const char *scenario, *trace, *plot, *nodes, *seed, *duration, *nemesis;
    bool determinism, no_memo, verbose;
} opts;

static void usage(FILE *to)
{
    fputs("usage: cara-sim [--nodes N] [--seed S] [--duration 10m] [--nemesis all|NAME,...]\n"
          "                [--scenario FILE.yaml] [--trace FILE] [--plot FILE.svg]\n"
          "                [--check-determinism] [--no-memo] [--verbose]\n"
          "nemeses: isolate split bridge ring halves oneway flap skew jump pause kill\n"
          "         restart_all chaos (or all, none); see docs/sim.md\n", to);
}

static int parse_args(int argc, char **argv, opts *o)
{
    static const struct option longs[] = {
        {"scenario", required_argument, NULL, 'f'}, {"trace", required_argument, NULL, 't'},
        {"plot", required_argument, NULL, 'p'},     {"nodes", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},     {"duration", required_argument, NULL, 'd'},
        {"nemesis", required_argument, NULL, 'm'},  {"check-determinism", no_argument, NULL, 'c'},
        {"no-memo", no_argument, NULL, 'M'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "f:t:p:n:s:d:m:cMvh", longs, NULL)) != -1) {
        switch (c) {
        case 'f': o->scenario = optarg; break;
        case 't': o->trace = optarg; break;
        case 'p': o->plot = optarg; break;
        case 'n': o->nodes = optarg; break;
        case 's': o->seed = optarg; break;
        case 'd': o->duration = optarg; break;
        case 'm': o->nemesis = optarg; break;
        case 'c': o->determinism = true; break;
        case 'M': o->no_memo = true; break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout); exit(0);
        default: return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "cara-sim: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return 0;
}

static int whole(const char *text, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || v > max)
        return CARA_EPARSE;
    *out = v;
    return 0;
}

/* The scenario: defaults, then the file, then the command line. */
static int build_scenario(const opts *o, scenario *sc)
{
    char err[512] = "";
    uint64_t v = 0;
    scenario_defaults(sc);
    if (o->scenario != NULL && scenario_load(sc, o->scenario, err, sizeof err) != 0) {
        fprintf(stderr, "cara-sim: %s\n", err);
        return 2;
    }
    if (o->nodes != NULL) {
        if (whole(o->nodes, SIM_NODES_MAX, &v) != 0 || v < 2 || v + sc->spare > SIM_NODES_MAX) {
            fprintf(stderr, "cara-sim: --nodes: 2 to %d (with the spare slots)\n", SIM_NODES_MAX);
            return 2;
        }
        sc->nodes = (size_t)v;
    }
    if (o->seed != NULL && whole(o->seed, UINT64_MAX, &sc->seed) != 0) {
        fprintf(stderr, "cara-sim: --seed: a whole number\n");
        return 2;
    }
    if (o->duration != NULL && parse_duration_ms(o->duration, &sc->duration_ms) != 0) {
        fprintf(stderr, "cara-sim: --duration: such as 90s, 10m or 1h\n");
        return 2;
    }
    if (o->nemesis != NULL && scenario_set_nemeses(sc, o->nemesis, err, sizeof err) != 0) {
        fprintf(stderr, "cara-sim: --nemesis: %s\n", err);
        return 2;
    }
    if (sc->nodes < 2 || (sc->hostile_count > 0 && sc->nodes < 3)) {
        fprintf(stderr, "cara-sim: at least 2 nodes (3 with a hostile one)\n");
        return 2;
    }
    return 0;
}

/* ---- Running ----------------------------------------------------------------------- */

typedef struct outcome {
    json_t *summary;
    uint64_t trace_hash;
    uint64_t violations;
    violation first;
} outcome;

/* Real times at which each phase started. */
static void phase_clock(void *ctx, int phase)
{
    ((double *)ctx)[phase] = real_seconds();
}

static int run_once(const opts *o, const scenario *sc_in, bool outputs, outcome *out)
{
    double phase_at[PHASE_DONE + 1] = {0};
    scenario sc = *sc_in;
    FILE *trace = NULL;
    if (outputs && o->trace != NULL && (trace = fopen(o->trace, "w")) == NULL) {
        fprintf(stderr, "cara-sim: cannot write %s\n", o->trace);
        return 2;
    }
    world *w = NULL;
    double t0 = real_seconds();
    int rc = world_new(&w, &sc, &harness_env, trace);
    if (rc != 0) {
        fprintf(stderr, "cara-sim: cannot make the world: %s\n", cara_strerror(rc));
        if (trace != NULL)
            fclose(trace);
        return 2;
    }
    w->verbose = o->verbose;
    w->on_phase = phase_clock;
    w->phase_ctx = phase_at;
    uint64_t start_ms = sim_now(w->s);
    world_run(w);
    report_extra x = {.simulated_ms = sim_now(w->s) - start_ms, .wall_s = real_seconds() - t0,
                      .boot_wall_s = phase_at[PHASE_FAULTS] - t0,
                      .rss_peak_bytes = rss_peak_bytes(),
                      .harness_bytes = sim_harness_bytes(w->s) + sim_crypto_memo_bytes()};
    out->summary = report_summary(w, &x);
    out->trace_hash = sim_trace_hash(w->s);
    out->violations = w->violations_total;
    if (w->violations_count > 0)
        out->first = w->violations[0];
    if (outputs && o->plot != NULL && report_plot(w, o->plot) != 0)
        fprintf(stderr, "cara-sim: cannot write %s\n", o->plot);
    if (trace != NULL)
        fclose(trace);
    world_free(w);
    return 0;
}

static void tell_violation(const opts *o, const scenario *sc, const outcome *r)
{
    fprintf(stderr, "cara-sim: %llu violation(s); the first, of %s at %llu ms: %s\n",
            (unsigned long long)r->violations, checker_name(r->first.checker),
            (unsigned long long)r->first.at_ms, r->first.what);
    fprintf(stderr, "cara-sim: replay with: cara-sim --seed %llu --nodes %zu --duration %llums "
            "--nemesis ", (unsigned long long)sc->seed, sc->nodes,
            (unsigned long long)sc->duration_ms);
    bool any = false;
    for (int k = 0; k < NEM_COUNT_; k++)
        if (sc->nemeses >> k & 1) {
            fprintf(stderr, "%s%s", any ? "," : "", nemesis_name(k));
            any = true;
        }
    fprintf(stderr, "%s%s%s --trace FILE\n", any ? "" : "none", o->scenario ? " --scenario " : "",
            o->scenario ? o->scenario : "");
}

int main(int argc, char **argv)
{
    /* Core objects calloc tables of a few hundred KiB and free them often;
     * without these, glibc gives them back to the kernel each time and
     * most of a large run goes to page faults. */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    opts o = {0};
    scenario sc;
    int rc = parse_args(argc, argv, &o);
    if (rc == 0)
        rc = build_scenario(&o, &sc);
    if (rc != 0) {
        usage(stderr);
        return 2;
    }
    sim_crypto_memo_enable(!o.no_memo);
    outcome a = {0}, b = {0};
    if ((rc = run_once(&o, &sc, true, &a)) != 0)
        return rc;
    int status = a.violations > 0 ? 1 : 0;
    if (o.determinism) {
        if ((rc = run_once(&o, &sc, false, &b)) != 0)
            return rc;
        json_t *d = json_object();
        char ha[17], hb[17];
        snprintf(ha, sizeof ha, "%016llx", (unsigned long long)a.trace_hash);
        snprintf(hb, sizeof hb, "%016llx", (unsigned long long)b.trace_hash);
        json_object_set_new(d, "first", json_string(ha));
        json_object_set_new(d, "second", json_string(hb));
        json_object_set_new(d, "same", json_boolean(a.trace_hash == b.trace_hash));
        json_object_set_new(a.summary, "determinism", d);
        if (a.trace_hash != b.trace_hash) {
            fprintf(stderr, "cara-sim: seed %llu gave two traces: %s and %s\n",
                    (unsigned long long)sc.seed, ha, hb);
            status = 3;
        }
        json_decref(b.summary);
    }
    json_dumpf(a.summary, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(a.summary);
    if (a.violations > 0)
        tell_violation(&o, &sc, &a);
    sim_crypto_memo_free();
    return status;
}
