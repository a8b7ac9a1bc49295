/* caravanctl get projects|nodes [NAME] [-o table|json|yaml] [--phase P],
 * and `nodes`, the same as `get nodes`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/follow.h"
#include "ctl/print.h"
#include "spec/spec.h"
#include "ctl/project_view.h"

static void help(void)
{
    printf("Usage: caravanctl get projects [NAME] [-o table|json|yaml] [--phase PHASE]\n"
           "       caravanctl get nodes [NAME] [-o table|json|yaml]\n"
           "       caravanctl get projects|nodes [NAME] -w [-o json] [--timeout D]\n\n"
           "Lists projects (NAME, PHASE, NODE, SERVICES, AGE) or nodes (NAME, STATUS,\n"
           "MEMBER, ADDRESS, VERSION, CPU, MEMORY, PRESSURE, AGE, CONTACT) as the peer\n"
           "sees them: MEMBER is the gossip state and incarnation, CONTACT how long ago\n"
           "the peer last heard from the node. A\n"
           "node's STATUS (Ready or NotReady) is the answering peer's view, never the\n"
           "node's own claim. With NAME, only that one; a name that does not exist is\n"
           "an error. 'project', 'proj' and 'node' are accepted for the kinds.\n\n"
           "Options:\n"
           "  -o, --output FORMAT   table (default), json (the API's JSON) or yaml\n"
           "      --phase PHASE     only projects in this phase (Pending, Scheduled,\n"
           "                        Running, Failed, Terminating, Terminated)\n"
           "  -w, --watch           after the current rows, a row each time one changes\n"
           "                        (phase, node, services or reason; NAME, STATUS and\n"
           "                        MEMBER for nodes), until interrupted; -o json prints\n"
           "                        the API's event lines\n"
           "      --timeout D       with --watch: stop after D (exit 0)\n"
           "  -h, --help            show this help\n\n"
           "Exit codes: 0 printed, 1 failure (unknown name, unreachable peer), 2 usage error.\n");
}

#define NODE_COLS 10

static void project_row(ctl_table *t, const json_t *p, int64_t now)
{
    char services[32], age[16];
    ctl_project_services(p, services, sizeof services);
    ctl_project_age(p, now, age, sizeof age);
    const char *row[5] = {ctl_jstr(p, "metadata", "name", NULL),
                          ctl_jstr(p, "status", "phase", NULL),
                          ctl_jstr(p, "status", "nodeRef", NULL), services, age};
    ctl_table_row(t, row);
}

/* "24684092Ki" reads better as "23.5Gi"; other forms print as given. */
static void memory_text(const char *q, char *out, size_t cap)
{
    static const char *const units[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
    char *end = NULL;
    double v = q != NULL ? strtod(q, &end) : 0;
    int u = -1;
    for (int i = 0; q != NULL && end != q && i < 6; i++)
        if (strcmp(end, units[i]) == 0)
            u = i;
    if (u < 0) {
        snprintf(out, cap, "%s", q != NULL ? q : "-");
        return;
    }
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, v == (double)(long long)v ? "%.0f%s" : "%.1f%s", v, units[u]);
}

static const char *node_cond(const json_t *n, const char *type)
{
    json_t *conds = json_object_get(n, "conditions");
    for (size_t i = 0; i < json_array_size(conds); i++) {
        const char *tt = ctl_jstr(json_array_get(conds, i), "type", NULL);
        if (tt != NULL && strcmp(tt, type) == 0)
            return ctl_jstr(json_array_get(conds, i), "status", NULL);
    }
    return NULL;
}

/* STATUS as kubectl writes it: readiness as the answering agent sees it
 * ("ready"; an older agent only has "state"), then what keeps new
 * projects away: ",SchedulingDisabled" (cordoned or draining, by the
 * node's own record or the operator's control), ",Draining" while the
 * operator drains it, and the engine's state when it does not answer. */
void ctl_node_status(const json_t *n, char *out, size_t cap)
{
    json_t *ready = json_object_get(n, "ready");
    const char *state = ctl_jstr(n, "state", NULL);
    const char *base = json_is_boolean(ready) ? (json_is_true(ready) ? "Ready" : "NotReady")
                                              : state ? state : "-";
    bool draining = (state != NULL && strcmp(state, "Draining") == 0) ||
                    json_is_true(ctl_jget(n, "control", "draining", NULL));
    bool off = json_is_true(json_object_get(n, "unschedulable")) || draining ||
               json_is_true(ctl_jget(n, "control", "cordoned", NULL));
    const char *engine = node_cond(n, "DockerReachable");
    const char *engine_text = engine == NULL || strcmp(engine, "True") == 0 ? ""
                              : strcmp(engine, "False") == 0 ? ",DockerUnreachable"
                                                             : ",DockerUnknown";
    /* The answering node's own view of the majority (docs/scheduling.md). */
    const char *fence = json_is_true(ctl_jget(n, "membership", "fence", "fenced", NULL))
                            ? ",Fenced"
                        : json_is_false(ctl_jget(n, "membership", "fence", "majority", NULL))
                            ? ",NoMajority"
                            : "";
    snprintf(out, cap, "%s%s%s%s%s", base, off ? ",SchedulingDisabled" : "",
             draining && json_is_boolean(ready) ? ",Draining" : "", engine_text, fence);
}

/* "MemoryPressure,DiskPressure", the ones that are True, or "-". */
static void node_pressure(const json_t *n, char *out, size_t cap)
{
    static const char *const types[] = {"MemoryPressure", "DiskPressure"};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < 2; i++) {
        const char *st = node_cond(n, types[i]);
        if (st == NULL || strcmp(st, "True") != 0 || used >= cap)
            continue;
        int k = snprintf(out + used, cap - used, "%s%s", used ? "," : "", types[i]);
        used += k > 0 ? (size_t)k : 0;
    }
}

static void node_row(ctl_table *t, const json_t *n, int64_t now)
{
    char addrs[256] = "", age[16];
    json_t *a = json_object_get(n, "addresses");
    size_t used = 0;
    for (size_t i = 0; i < json_array_size(a) && used < sizeof addrs; i++) {
        int k = snprintf(addrs + used, sizeof addrs - used, "%s%s", i ? "," : "",
                         json_string_value(json_array_get(a, i)) ? json_string_value(json_array_get(a, i)) : "");
        used += k > 0 ? (size_t)k : 0;
    }
    /* The API has no creation time: the oldest transition stands in for
     * it (a node stamps its conditions with its start). */
    const char *oldest = NULL;
    json_t *conds = json_object_get(n, "conditions");
    for (size_t i = 0; i < json_array_size(conds); i++) {
        const char *tt = ctl_jstr(json_array_get(conds, i), "lastTransitionTime", NULL);
        if (tt != NULL && (oldest == NULL || strcmp(tt, oldest) < 0))
            oldest = tt;
    }
    ctl_age(oldest, now, age, sizeof age);
    char status[96], pressure[64], mem[32];
    ctl_node_status(n, status, sizeof status);
    node_pressure(n, pressure, sizeof pressure);
    memory_text(ctl_jstr(n, "capacity", "memory", NULL), mem, sizeof mem);
    /* Membership, when the peer gossips: state/incarnation, last contact. */
    char member[48] = "-", contact[24] = "-";
    json_t *ms = json_object_get(n, "membership");
    if (ms != NULL) {
        snprintf(member, sizeof member, "%s/%lld", ctl_jstr(ms, "state", NULL) ? ctl_jstr(ms, "state", NULL) : "?",
                 (long long)json_integer_value(json_object_get(ms, "incarnation")));
        json_t *ago = json_object_get(ms, "lastContactAgoMs");
        if (json_is_true(json_object_get(ms, "self")))
            snprintf(contact, sizeof contact, "self");
        else if (ago != NULL)
            snprintf(contact, sizeof contact, "%.1fs", (double)json_integer_value(ago) / 1000.0);
    }
    const char *row[NODE_COLS] = {ctl_jstr(n, "name", NULL), status, member, addrs,
                                  ctl_jstr(n, "agentVersion", NULL),
                                  ctl_jstr(n, "capacity", "cpu", NULL), mem, pressure, age,
                                  contact};
    ctl_table_row(t, row);
}

static int print_table(cara_env *env, json_t *items, bool nodes)
{
    if (json_array_size(items) == 0) {
        fprintf(stderr, "No %s found.\n", nodes ? "nodes" : "projects");
        return 0;
    }
    static const char *const ph[5] = {"NAME", "PHASE", "NODE", "SERVICES", "AGE"};
    static const char *const nh[NODE_COLS] = {"NAME", "STATUS", "MEMBER", "ADDRESS", "VERSION",
                                              "CPU", "MEMORY", "PRESSURE", "AGE", "CONTACT"};
    ctl_table t;
    ctl_table_init(&t, nodes ? NODE_COLS : 5, NULL);
    ctl_table_row(&t, nodes ? nh : ph);
    int64_t now = cara_env_now_wall_ms(env);
    for (size_t i = 0; i < json_array_size(items); i++) {
        if (nodes)
            node_row(&t, json_array_get(items, i), now);
        else
            project_row(&t, json_array_get(items, i), now);
    }
    ctl_table_print(&t, stdout);
    ctl_table_free(&t);
    return 0;
}

/* Keeps only the node called `name` (the API has no per-node route). */
static int pick_node(json_t **list, const char *name)
{
    json_t *items = json_object_get(*list, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *n = json_array_get(items, i);
        const char *nn = ctl_jstr(n, "name", NULL);
        if (nn != NULL && strcmp(nn, name) == 0) {
            json_incref(n);
            json_decref(*list);
            *list = n;
            return 0;
        }
    }
    return ctl_fail("node \"%s\" not found", name);
}

typedef struct get_args {
    bool nodes;
    const char *name;
    const char *phase;
    ctl_output fmt;
} get_args;

/* Fetches what `a` asks for into *out (one node picked out of the list
 * when a node is named): 0, or the failure printed. */
static int fetch(ctl_ctx *ctx, const get_args *a, json_t **out)
{
    *out = NULL;
    if (a->name != NULL && !ctl_name_valid(a->name))
        return ctl_fail("%s \"%s\" not found (not a valid name)", a->nodes ? "node" : "project",
                        a->name);
    char target[128 + CARA_CRDT_KEY_BYTES_MAX];
    if (a->nodes)
        snprintf(target, sizeof target, "/v1/nodes");
    else if (a->name != NULL)
        snprintf(target, sizeof target, "/v1/projects/%s", a->name);
    else
        snprintf(target, sizeof target, "/v1/projects%s%s", a->phase ? "?phase=" : "",
                 a->phase ? a->phase : "");
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_OPTIONAL);
    if (rc == 0)
        rc = ctl_api_get(&c, target, false, out);
    if (rc == 0 && a->nodes && a->name != NULL)
        rc = pick_node(out, a->name);
    ctl_client_close(&c);
    if (rc != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int run_get(ctl_ctx *ctx, const get_args *a)
{
    json_t *j = NULL;
    int rc = fetch(ctx, a, &j);
    if (rc == 0 && a->fmt != CTL_OUT_TABLE) {
        rc = ctl_print_value(&ctx->env, j, a->fmt);
    } else if (rc == 0) {
        json_t *items = json_object_get(j, "items");
        json_t *one = items == NULL ? json_pack("[O]", j) : json_incref(items);
        rc = print_table(&ctx->env, one, a->nodes);
        json_decref(one);
    }
    json_decref(j);
    return rc;
}

static int kind_of(const char *word, bool *nodes)
{
    static const char *const projects[] = {"projects", "project", "proj", "p"};
    static const char *const nodes_w[] = {"nodes", "node", "no"};
    for (size_t i = 0; i < sizeof projects / sizeof *projects; i++)
        if (strcmp(word, projects[i]) == 0) {
            *nodes = false;
            return 0;
        }
    for (size_t i = 0; i < sizeof nodes_w / sizeof *nodes_w; i++)
        if (strcmp(word, nodes_w[i]) == 0) {
            *nodes = true;
            return 0;
        }
    return -1;
}

/* `fixed_kind` is NULL for `get` (the kind is the first word) and
 * "nodes" for the `nodes` alias. */
static int get_main(ctl_ctx *ctx, int argc, char **argv, const char *cmd, const char *fixed_kind)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"phase", required_argument, NULL, 'P'},
        {"watch", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    get_args a = {0};
    bool watch = false;
    int64_t timeout_ms = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":o:wh", opts, NULL)) != -1) {
        if (opt == 'o' && ctl_output_parse(optarg, &a.fmt) != 0)
            return ctl_usage_error(cmd, "unknown output format '%s' (table, json or yaml)", optarg);
        if (opt == 'P')
            a.phase = optarg;
        else if (opt == 'w')
            watch = true;
        else if (opt == 'T') {
            if (ctl_parse_duration(optarg, &timeout_ms) != 0)
                return ctl_usage_error(cmd, "invalid --timeout '%s' (e.g. 90s, 5m)", optarg);
        } else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else if (opt != 'o')
            return ctl_bad_option(cmd, opt, argv);
    }
    const char *kind = fixed_kind;
    if (kind == NULL && optind < argc)
        kind = argv[optind++];
    if (kind == NULL)
        return ctl_usage_error(cmd, "say what to get: projects or nodes");
    if (kind_of(kind, &a.nodes) != 0)
        return ctl_usage_error(cmd, "unknown kind '%s' (projects or nodes)", kind);
    if (optind < argc)
        a.name = argv[optind++];
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (a.phase != NULL && (a.nodes || a.name != NULL))
        return ctl_usage_error(cmd, "--phase filters a list of projects");
    cara_phase ignored;
    if (a.phase != NULL && cara_phase_parse(a.phase, &ignored) != 0)
        return ctl_usage_error(cmd, "unknown phase '%s' (Pending, Scheduled, Running, Failed, "
                                    "Terminating, Terminated)", a.phase);
    if (timeout_ms != 0 && !watch)
        return ctl_usage_error(cmd, "--timeout goes with --watch");
    if (watch) {
        if (a.phase != NULL)
            return ctl_usage_error(cmd, "--phase does not go with --watch");
        if (a.fmt == CTL_OUT_YAML)
            return ctl_usage_error(cmd, "--watch prints table rows or JSON event lines, not yaml");
        if (a.name != NULL) {
            /* As plain get: a name that does not exist is an error, not a
             * silent wait. */
            json_t *j = NULL;
            int rc = fetch(ctx, &a, &j);
            json_decref(j);
            if (rc != 0)
                return rc;
        }
        ctl_watch w = {.kind = a.nodes ? "Node" : "Project", .name = a.name,
                       .raw = a.fmt == CTL_OUT_JSON, .rows = true};
        return ctl_watch_run(ctx, &w, timeout_ms);
    }
    return run_get(ctx, &a);
}

int ctl_cmd_get(ctl_ctx *ctx, int argc, char **argv)
{
    return get_main(ctx, argc, argv, "get", NULL);
}

int ctl_cmd_nodes(ctl_ctx *ctx, int argc, char **argv)
{
    return get_main(ctx, argc, argv, "nodes", "nodes");
}
