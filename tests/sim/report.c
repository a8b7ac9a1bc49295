/*
 * What a run says (docs/sim.md, "Output"): the JSON summary (jansson) and
 * the plot, an SVG written by hand: the convergence curve over time with
 * the phases behind it, and under it a timeline of the faults, joins,
 * leaves and violations.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gossip/gossip_int.h"
#include "report.h"

/* ---- Summary ------------------------------------------------------------------------- */

static json_t *pct_obj(series *s, uint64_t unit_ms)
{
    json_t *o = json_object();
    uint64_t div = unit_ms ? unit_ms : 1;
    json_object_set_new(o, "count", json_integer((json_int_t)s->count));
    if (s->count == 0)
        return o;
    uint64_t p50 = series_pct(s, 50), p99 = series_pct(s, 99), max = series_pct(s, 100);
    if (unit_ms > 1) {
        /* Rounds: a write that spread within one probe period took one. */
        json_object_set_new(o, "p50", json_integer((json_int_t)((p50 + div - 1) / div)));
        json_object_set_new(o, "p99", json_integer((json_int_t)((p99 + div - 1) / div)));
        json_object_set_new(o, "max", json_integer((json_int_t)((max + div - 1) / div)));
    } else {
        json_object_set_new(o, "p50", json_integer((json_int_t)p50));
        json_object_set_new(o, "p99", json_integer((json_int_t)p99));
        json_object_set_new(o, "max", json_integer((json_int_t)max));
    }
    return o;
}

static json_t *violations_json(const world *w)
{
    json_t *a = json_array();
    for (size_t k = 0; k < w->violations_count; k++) {
        const violation *v = &w->violations[k];
        json_t *o = json_object();
        json_object_set_new(o, "checker", json_string(checker_name(v->checker)));
        json_object_set_new(o, "at_ms", json_integer((json_int_t)v->at_ms));
        json_object_set_new(o, "what", json_string(v->what));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *drops_json(world *w)
{
    /* Summed over the nodes up at the end (a crash loses its counters). */
    uint64_t drops[CARA_GOSSIP_DROP_COUNT_] = {0}, refused[CARA_CRDT_R_COUNT_] = {0};
    uint64_t false_susp = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (!sim_up(w->s, i))
            continue;
        /* The counters underneath cara_gossip_stats_get, which also counts
         * members by state at O(N^2) a node (checks.c says why). */
        const cara_gossip *g = sim_gossip(w->s, i);
        cara_crdt_stats cs;
        cara_crdt_stats_get(sim_crdt(w->s, i), &cs);
        for (int d = 0; d < CARA_GOSSIP_DROP_COUNT_; d++)
            drops[d] += g->stats.dropped[d];
        for (int r = 0; r < CARA_CRDT_R_COUNT_; r++)
            refused[r] += cs.rejected[r];
        false_susp += cara_swim_get_stats(g->swim)->false_suspicions_refuted_count;
    }
    json_t *o = json_object(), *d = json_object(), *r = json_object();
    for (int k = 0; k < CARA_GOSSIP_DROP_COUNT_; k++)
        json_object_set_new(d, cara_gossip_drop_name(k), json_integer((json_int_t)drops[k]));
    for (int k = 0; k < CARA_CRDT_R_COUNT_; k++)
        json_object_set_new(r, cara_crdt_reason_name(k), json_integer((json_int_t)refused[k]));
    json_object_set_new(o, "datagrams_dropped", d);
    json_object_set_new(o, "records_refused", r);
    json_object_set_new(o, "refuted_suspicions_reported", json_integer((json_int_t)false_susp));
    return o;
}

static json_t *network_json(const world *w)
{
    sim_stats st;
    sim_stats_get(w->s, &st);
    json_t *o = json_object();
#define I(name) json_object_set_new(o, #name, json_integer((json_int_t)st.name))
    I(datagrams_sent);
    I(datagrams_delivered);
    I(datagrams_lost);
    I(datagrams_cut);
    I(datagrams_duplicated);
    I(datagrams_reordered);
    I(datagrams_to_down);
    I(datagrams_paused_lost);
    I(datagrams_oversized);
    I(dials);
    I(dials_refused);
    I(streams_broken);
    I(stream_bytes);
    I(syncs);
    I(writes_lost);
    I(records_corrupted);
    I(restarts);
    I(restart_records_refused);
    I(late_deadlines);
#undef I
    return o;
}

static json_t *faults_json(const world *w)
{
    json_t *o = json_object();
    for (int k = 0; k < NEM_COUNT_; k++)
        if (w->fault_counts[k] > 0)
            json_object_set_new(o, nemesis_name(k), json_integer(w->fault_counts[k]));
    return o;
}

static json_t *nemeses_json(const world *w)
{
    json_t *a = json_array();
    for (int k = 0; k < NEM_COUNT_; k++)
        if (w->sc.nemeses >> k & 1)
            json_array_append_new(a, json_string(nemesis_name(k)));
    return a;
}

static json_t *liveness_json(const world *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "bound_ms", json_integer((json_int_t)w->liveness_bound_ms));
    json_object_set_new(o, "converged_ms", w->liveness_converged_ms == SIM_NEVER
                                               ? json_null()
                                               : json_integer((json_int_t)w->liveness_converged_ms));
    json_object_set_new(o, "views_agree_ms", w->liveness_agreed_ms == SIM_NEVER
                                                 ? json_null()
                                                 : json_integer((json_int_t)w->liveness_agreed_ms));
    return o;
}

static json_t *operator_json(const world *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "applies", json_integer((json_int_t)w->applies));
    json_object_set_new(o, "updates", json_integer((json_int_t)w->updates));
    json_object_set_new(o, "deletes", json_integer((json_int_t)w->deletes));
    json_object_set_new(o, "acknowledged", json_integer((json_int_t)w->acked));
    json_object_set_new(o, "holders_wanted", json_integer(w->sc.op_holders));
    json_object_set_new(o, "spread_everywhere", json_integer((json_int_t)w->writes_spread));
    json_object_set_new(o, "never_spread", json_integer((json_int_t)w->writes_lost_unspread));
    json_object_set_new(o, "joins", json_integer((json_int_t)w->joins));
    json_object_set_new(o, "leaves", json_integer((json_int_t)w->leaves));
    json_object_set_new(o, "projects", json_integer((json_int_t)w->keys_count));
    json_object_set_new(o, "expiring", json_integer((json_int_t)w->expiring));
    return o;
}

/* What the node objects decided and the runtimes did (docs/sim.md,
 * "The summary"). */
static json_t *projects_json(world *w)
{
    sim_stats st;
    sim_stats_get(w->s, &st);
    json_t *o = json_object(), *rt = json_object(), *end = json_object(), *rdv = json_object();
#define I(obj, name, v) json_object_set_new(obj, name, json_integer((json_int_t)(v)))
    I(rt, "runs", st.rt_runs);
    I(rt, "deletes", st.rt_deletes);
    I(rt, "starts", st.rt_starts);
    I(rt, "pull_failures", st.rt_pull_failures);
    I(rt, "exits", st.rt_exits);
    I(rt, "killed_by_crashes", st.rt_crash_kills);
    I(rt, "copies_started", w->copies_started);
    I(rt, "copies_stopped", w->copies_stopped);
    I(o, "node_publishes", st.node_publishes);
    json_object_set_new(o, "runtime", rt);
    I(o, "max_concurrent_copies", w->copies_max);
    I(o, "two_copy_starts", w->two_copy_instants);
    json_object_set_new(o, "two_copies_enforced", json_boolean(w->sc.two_copies_enforced));
    json_object_set_new(o, "recovery_ms", pct_obj(&w->recovery_ms, 1));
    /* Failover (a project moved off a node that is gone) does not exist
     * yet in the node object: nothing to time. */
    json_object_set_new(o, "failover_ms", json_null());
    I(end, "running", w->end_running);
    I(end, "pending", w->end_pending);
    I(end, "terminated", w->end_terminated);
    I(end, "stranded_on_left_nodes", w->end_stranded);
    I(end, "orphan_copies", w->end_orphans);
    I(end, "unfit_running_where_placed", w->end_unfit_running);
    I(end, "expiring_within_clock_reach", w->end_expiry_near);
    I(end, "shown_scheduled_while_running", w->end_shown_scheduled);
    I(end, "shown_scheduled_while_gone", w->end_gone_shown_scheduled);
    json_object_set_new(o, "at_end", end);
    I(rdv, "projects", w->rdv_projects);
    I(rdv, "nodes", w->rdv_nodes);
    I(rdv, "most_moved", w->rdv_changed_max);
    I(rdv, "bound", w->rdv_bound);
    json_object_set_new(o, "rendezvous", rdv);
#undef I
    return o;
}

json_t *report_summary(world *w, const report_extra *x)
{
    json_t *o = json_object();
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)sim_trace_hash(w->s));
    cara_gossip_cfg g = w->sc.gossip;
    cara_gossip_cfg_lan(&g);
    sim_stats st;
    sim_stats_get(w->s, &st);
    double node_s = (double)w->up_ms_total / 1000.0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < w->n; i++)
        bytes += sim_bytes_sent(w->s, i);
    json_object_set_new(o, "seed", json_integer((json_int_t)w->sc.seed));
    json_object_set_new(o, "nodes", json_integer((json_int_t)w->sc.nodes));
    json_object_set_new(o, "spare", json_integer((json_int_t)w->sc.spare));
    json_object_set_new(o, "duration_ms", json_integer((json_int_t)w->sc.duration_ms));
    json_object_set_new(o, "simulated_ms", json_integer((json_int_t)x->simulated_ms));
    json_object_set_new(o, "nemesis", nemeses_json(w));
    json_object_set_new(o, "violations_count", json_integer((json_int_t)w->violations_total));
    json_object_set_new(o, "violations", violations_json(w));
    json_t *conv = pct_obj(&w->spread_ms, g.probe_interval_ms);
    json_object_set_new(conv, "round_ms", json_integer(g.probe_interval_ms));
    json_object_set_new(o, "convergence_rounds", conv);
    json_object_set_new(o, "convergence_ms", pct_obj(&w->spread_ms, 1));
    json_t *det = pct_obj(&w->detect_ms, 1);
    json_object_set_new(det, "undetected", json_integer((json_int_t)w->undetected));
    json_object_set_new(o, "detection_ms", det);
    json_object_set_new(o, "false_suspicions", json_integer((json_int_t)w->false_suspicions));
    json_object_set_new(o, "suspicions", json_integer((json_int_t)w->suspicions));
    json_object_set_new(o, "bytes_per_node_per_s", json_real(node_s > 0 ? bytes / node_s : 0));
    json_object_set_new(o, "largest_datagram", json_integer((json_int_t)st.datagram_bytes_max));
    json_object_set_new(o, "sim_speedup", json_real(x->wall_s > 0 ? x->simulated_ms / 1000.0 /
                                                                      x->wall_s : 0));
    json_object_set_new(o, "wall_s", json_real(x->wall_s));
    json_object_set_new(o, "boot_wall_s", json_real(x->boot_wall_s));
    /* Past the boot, whose cost is the admissions' (docs/sim.md, "Speed"). */
    double run_s = x->wall_s - x->boot_wall_s;
    json_object_set_new(o, "run_speedup", json_real(run_s > 0 ? (x->simulated_ms - w->boot_ms) /
                                                                    1000.0 / run_s : 0));
    json_object_set_new(o, "trace_hash", json_string(hash));
    json_object_set_new(o, "boot_ms", json_integer((json_int_t)w->boot_ms));
    json_object_set_new(o, "liveness", liveness_json(w));
    json_object_set_new(o, "faults", faults_json(w));
    json_object_set_new(o, "operator", operator_json(w));
    json_object_set_new(o, "projects", projects_json(w));
    json_t *h = json_object();
    hostile_summary(w, h);
    json_object_set_new(o, "hostile", h);
    json_object_set_new(o, "refusals", drops_json(w));
    json_object_set_new(o, "network", network_json(w));
    json_t *mem = json_object();
    json_object_set_new(mem, "peak_rss_bytes", json_integer((json_int_t)x->rss_peak_bytes));
    json_object_set_new(mem, "per_node_bytes",
                        json_integer((json_int_t)(x->rss_peak_bytes / (w->n ? w->n : 1))));
    json_object_set_new(mem, "harness_bytes", json_integer((json_int_t)x->harness_bytes));
    json_object_set_new(o, "memory", mem);
    return o;
}

/* ---- Plot ---------------------------------------------------------------------------- */

#define W_PX 1200
#define LEFT_PX 120
#define RIGHT_PX 30
#define CURVE_TOP 85
#define CURVE_H 260

static const char *const colours[NEM_COUNT_] = {
    "#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#9467bd", "#17becf",
    "#1f77b4", "#2ca02c", "#7f7f7f", "#000000", "#a05195", "#f95d6a",
};

typedef struct plot {
    FILE *f;
    uint64_t t0, t1;
} plot;

static double px(const plot *p, uint64_t t)
{
    double width = (double)(p->t1 > p->t0 ? p->t1 - p->t0 : 1);
    return LEFT_PX + (double)(t - p->t0) / width * (W_PX - LEFT_PX - RIGHT_PX);
}

static double py(double frac) { return CURVE_TOP + (1.0 - frac) * CURVE_H; }

static void text_esc(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        default: fputc(*s, f);
        }
}

static void phases(plot *p, const world *w, int bottom)
{
    for (size_t k = 0; k < w->spans_count; k++) {
        const span *sp = &w->spans[k];
        if (sp->kind != -1)
            continue;
        const char *fill = strcmp(sp->label, "liveness") == 0 ? "#e8f5e9"
                           : strcmp(sp->label, "boot") == 0   ? "#eeeeee" : "#fff8e1";
        uint64_t end = sp->end_ms == SIM_NEVER ? p->t1 : sp->end_ms;
        fprintf(p->f, "<rect x='%.1f' y='%d' width='%.1f' height='%d' fill='%s'/>\n",
                px(p, sp->start_ms), CURVE_TOP - 20, px(p, end) - px(p, sp->start_ms),
                bottom - CURVE_TOP + 20, fill);
        fprintf(p->f, "<text x='%.1f' y='%d' font-size='12' fill='#555'>%s</text>\n",
                px(p, sp->start_ms) + 4, CURVE_TOP - 6, sp->label);
    }
}

static void axes(plot *p, int bottom)
{
    double secs = (double)(p->t1 - p->t0) / 1000.0;
    double raw = secs / 10, mag = pow(10, floor(log10(raw > 0 ? raw : 1)));
    double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
    /* Ticks at whole multiples of the step, in the trace's own seconds. */
    for (double s = ceil(p->t0 / 1000.0 / step) * step; s * 1000 <= (double)p->t1; s += step) {
        double x = px(p, (uint64_t)(s * 1000));
        fprintf(p->f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#ddd'/>\n", x,
                CURVE_TOP, x, bottom);
        fprintf(p->f, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%gs</text>\n",
                x, bottom + 14, s);
    }
    for (int pc = 0; pc <= 100; pc += 25) {
        fprintf(p->f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/>\n", LEFT_PX,
                py(pc / 100.0), W_PX - RIGHT_PX, py(pc / 100.0));
        fprintf(p->f, "<text x='%d' y='%.1f' font-size='11' text-anchor='end'>%d%%</text>\n",
                LEFT_PX - 6, py(pc / 100.0) + 4, pc);
    }
    fprintf(p->f, "<text x='%d' y='%d' font-size='11' fill='#555'>simulated time</text>\n",
            W_PX - RIGHT_PX - 90, bottom + 28);
}

enum { C_WRITES = 0, C_STATE, C_VIEWS, C_LIVE };

static double curve_value(const world *w, const sample *s, int which)
{
    double live = s->live ? s->live : 1;
    switch (which) {
    case C_WRITES: return s->writes_held_ppm / 1e6;
    case C_STATE: return s->agreeing / live;
    case C_VIEWS: return s->views_agreeing / live;
    default: return (double)s->live / (double)(w->n ? w->n : 1);
    }
}

static void curve(plot *p, const world *w, int which, const char *colour, double width,
                  const char *dash)
{
    size_t stride = w->samples_count > 2400 ? w->samples_count / 2400 : 1;
    fprintf(p->f, "<polyline fill='none' stroke='%s' stroke-width='%.1f' stroke-dasharray='%s' "
            "points='", colour, width, dash);
    for (size_t k = 0; k < w->samples_count; k += stride) {
        const sample *s = &w->samples[k];
        fprintf(p->f, "%.1f,%.1f ", px(p, s->at_ms), py(curve_value(w, s, which)));
    }
    fprintf(p->f, "'/>\n");
}

static const struct {
    const char *colour, *dash, *text;
    double width;
} curves[] = {
    [C_WRITES] = {"#1f77b4", "", "operator's latest writes held by the live nodes", 2.2},
    [C_STATE] = {"#9467bd", "", "live nodes holding the commonest state (state hash)", 1.4},
    [C_VIEWS] = {"#2ca02c", "", "live nodes whose view is exactly the live members", 1.6},
    [C_LIVE] = {"#999", "4,3", "live nodes, of every slot", 1.4},
};

static void legend(plot *p)
{
    for (size_t k = 0; k < sizeof curves / sizeof curves[0]; k++) {
        int x = LEFT_PX + (int)(k % 2) * 420, y = 38 + (int)(k / 2) * 15;
        fprintf(p->f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='%s' stroke-width='2.5' "
                "stroke-dasharray='%s'/>\n", x, y, x + 22, y, curves[k].colour, curves[k].dash);
        fprintf(p->f, "<text x='%d' y='%d' font-size='11'>%s</text>\n", x + 27, y + 4,
                curves[k].text);
    }
    fprintf(p->f, "<line x1='%d' y1='38' x2='%d' y2='38' stroke='#d62728' stroke-width='2' "
            "stroke-dasharray='6,4'/><text x='%d' y='42' font-size='11'>liveness bound</text>\n",
            LEFT_PX + 840, LEFT_PX + 862, LEFT_PX + 867);
    fprintf(p->f, "<line x1='%d' y1='53' x2='%d' y2='53' stroke='#111' stroke-width='1.5'/>"
            "<text x='%d' y='57' font-size='11'>converged, views agree</text>\n", LEFT_PX + 840,
            LEFT_PX + 862, LEFT_PX + 867);
}

static void liveness_lines(plot *p, const world *w, int bottom)
{
    if (w->liveness_start_ms == 0)
        return;
    uint64_t bound = w->liveness_start_ms + w->liveness_bound_ms;
    if (bound <= p->t1)
        fprintf(p->f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#d62728' "
                "stroke-width='2' stroke-dasharray='6,4'/>\n", px(p, bound), CURVE_TOP,
                px(p, bound), bottom);
    else
        fprintf(p->f, "<text x='%d' y='%d' font-size='11' fill='#d62728' text-anchor='end'>"
                "liveness bound at %.0fs, past the end &#8594;</text>\n", W_PX - RIGHT_PX - 4,
                bottom - 6, bound / 1000.0);
    if (w->liveness_agreed_ms != SIM_NEVER) {
        double x = px(p, w->liveness_start_ms + w->liveness_agreed_ms);
        fprintf(p->f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#111' "
                "stroke-width='1.5'/>\n", x, CURVE_TOP, x, bottom);
    }
}

/* One row per nemesis that ran, then joins and leaves, then violations. */
static int timeline(plot *p, const world *w, int top)
{
    int row = 0;
    for (int k = 0; k < NEM_COUNT_; k++) {
        if (w->fault_counts[k] == 0)
            continue;
        int y = top + row * 18;
        fprintf(p->f, "<text x='%d' y='%d' font-size='12' text-anchor='end'>%s</text>\n",
                LEFT_PX - 6, y + 11, nemesis_name(k));
        for (size_t s = 0; s < w->spans_count; s++) {
            const span *sp = &w->spans[s];
            if (sp->kind != k)
                continue;
            uint64_t end = sp->end_ms == SIM_NEVER ? p->t1 : sp->end_ms;
            double x0 = px(p, sp->start_ms), x1 = px(p, end);
            fprintf(p->f, "<rect x='%.1f' y='%d' width='%.1f' height='13' fill='%s' "
                    "opacity='0.8'><title>%s %.1fs-%.1fs</title></rect>\n", x0, y,
                    x1 - x0 > 1 ? x1 - x0 : 1, colours[k], nemesis_name(k),
                    sp->start_ms / 1000.0, end / 1000.0);
        }
        row++;
    }
    if (w->writes_count > 0) {
        int y = top + row * 18;
        fprintf(p->f, "<text x='%d' y='%d' font-size='12' text-anchor='end'>operator writes"
                "</text>\n", LEFT_PX - 6, y + 11);
        for (size_t k = 0; k < w->writes_count; k++) {
            double x = px(p, w->writes[k].at_ms);
            fprintf(p->f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='%s'/>\n", x, y + 1,
                    x, y + 13, w->writes[k].acked ? "#333" : "#d62728");
        }
        row++;
    }
    static const struct {
        int kind;
        const char *label, *colour, *shape;
    } marks[] = {
        {-3, "joins", "#2ca02c", "M0,-6 L5,4 L-5,4 Z"},
        {-4, "leaves", "#ff7f0e", "M0,6 L5,-4 L-5,-4 Z"},
        {-2, "violations", "#d62728", "M-5,-5 L5,5 M5,-5 L-5,5"},
    };
    for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++) {
        bool any = false;
        for (size_t s = 0; s < w->spans_count && !any; s++)
            any = w->spans[s].kind == marks[m].kind;
        if (!any)
            continue;
        int y = top + row * 18;
        fprintf(p->f, "<text x='%d' y='%d' font-size='12' text-anchor='end'>%s</text>\n",
                LEFT_PX - 6, y + 11, marks[m].label);
        for (size_t s = 0; s < w->spans_count; s++) {
            const span *sp = &w->spans[s];
            if (sp->kind != marks[m].kind)
                continue;
            fprintf(p->f, "<path transform='translate(%.1f,%d)' d='%s' fill='%s' stroke='%s' "
                    "stroke-width='2'><title>", px(p, sp->start_ms), y + 7, marks[m].shape,
                    marks[m].colour, marks[m].colour);
            text_esc(p->f, sp->label);
            fprintf(p->f, " at %.3fs</title></path>\n", sp->start_ms / 1000.0);
        }
        row++;
    }
    return top + row * 18;
}

int report_plot(world *w, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return CARA_EINVAL;
    plot p = {.f = f, .t0 = w->samples_count ? w->samples[0].at_ms : 0,
              .t1 = sim_now(w->s)};
    if (w->spans_count > 0 && w->spans[0].start_ms < p.t0)
        p.t0 = w->spans[0].start_ms;
    int rows = 4;
    for (int k = 0; k < NEM_COUNT_; k++)
        rows += w->fault_counts[k] > 0;
    int curve_bottom = CURVE_TOP + CURVE_H;
    int height = curve_bottom + 60 + rows * 18 + 30;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            W_PX, height);
    fprintf(f, "<text x='%d' y='22' font-size='16'>cara-sim: seed %llu, %zu nodes (+%zu spare), "
            "%llu violation(s)</text>\n", LEFT_PX, (unsigned long long)w->sc.seed, w->sc.nodes,
            w->sc.spare, (unsigned long long)w->violations_total);
    legend(&p);
    phases(&p, w, curve_bottom);
    axes(&p, curve_bottom);
    for (int c = C_LIVE; c >= C_WRITES; c--)
        curve(&p, w, c, curves[c].colour, curves[c].width, curves[c].dash);
    liveness_lines(&p, w, curve_bottom);
    fprintf(f, "<text x='%d' y='%d' font-size='13'>faults and events</text>\n", LEFT_PX,
            curve_bottom + 40);
    (void)timeline(&p, w, curve_bottom + 50);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : CARA_EINVAL;
}
