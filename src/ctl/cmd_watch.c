/* caravanctl watch [projects|nodes] [-o json]: one line per change. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/follow.h"
#include "ctl/print.h"
#include "ctl/project_view.h"

static void help(void)
{
    printf("Usage: caravanctl watch [projects|nodes] [-o json] [--timeout D]\n\n"
           "Prints every change the peer sees, one line each, starting with an ADDED\n"
           "line for every current object: a project's phase, node, services ready\n"
           "and the reason of its phase; a node's status and membership state:\n"
           "  MODIFIED project/web Running node1 2/2 Reconciled\n"
           "  ADDED    node/node1 Ready alive\n"
           "A change that leaves the line as it was is not printed. With no kind,\n"
           "both. Runs until interrupted or the peer closes the stream.\n\n"
           "Options:\n"
           "  -o, --output json   print the API's event lines unchanged\n"
           "      --timeout D     stop after D (exit 0)\n"
           "  -h, --help          show this help\n\n"
           "Exit codes: 0 interrupted by --timeout, 1 failure or stream closed by the\n"
           "peer, 2 usage error.\n");
}

/* One object's line as last printed: a MODIFIED event that would print
 * the same line again (a record of the project changed, but not its
 * phase, node, services or reason) is left out, as `kubectl get -w` shows
 * rows, not writes. At most this many objects are remembered; beyond, all
 * are forgotten at once (and each may print its line once more). */
#define WATCH_SEEN_MAX 4096

/* The fields after the object's name, padded as table columns (`get -w`)
 * or single-spaced (`watch`). */
static void project_line(const json_t *o, bool rows, char *out, size_t cap)
{
    char services[32];
    ctl_project_services(o, services, sizeof services);
    const char *phase = ctl_jstr(o, "status", "phase", NULL);
    const char *node = ctl_jstr(o, "status", "nodeRef", NULL);
    const char *reason = ctl_jstr(ctl_condition(o, "Phase"), "reason", NULL);
    snprintf(out, cap, rows ? "%-11s %-16s %-8s %s" : "%s %s %s %s", phase ? phase : "-",
             node ? node : "-", services, reason ? reason : "-");
}

static void node_line(const json_t *o, bool rows, char *out, size_t cap)
{
    char status[128];
    ctl_node_status(o, status, sizeof status);
    const char *member = ctl_jstr(o, "membership", "state", NULL);
    snprintf(out, cap, rows ? "%-24s %s" : "%s %s", status, member ? member : "-");
}

static int on_line(void *arg, char *line, size_t len)
{
    ctl_watch *w = arg;
    json_t *ev = ctl_json_load_clean(line, len, NULL);
    const char *kind = ctl_jstr(ev, "kind", NULL);
    if (ev == NULL || kind == NULL || (w->kind != NULL && strcmp(kind, w->kind) != 0)) {
        json_decref(ev);
        return 0;
    }
    const char *type = ctl_jstr(ev, "type", NULL);
    if (type == NULL)
        type = "?";
    json_t *o = json_object_get(ev, "object");
    bool project = strcmp(kind, "Project") == 0;
    const char *name = project ? ctl_jstr(o, "metadata", "name", NULL) : ctl_jstr(o, "name", NULL);
    if (name == NULL || (w->name != NULL && strcmp(name, w->name) != 0)) {
        json_decref(ev);
        return 0;
    }
    if (w->raw) {
        printf("%.*s\n", (int)len, line);
        fflush(stdout);
        json_decref(ev);
        return 0;
    }
    char text[256], key[CARA_NAME_BYTES_MAX + 16];
    if (strcmp(type, "DELETED") == 0)
        snprintf(text, sizeof text, "-");
    else if (project)
        project_line(o, w->rows, text, sizeof text);
    else
        node_line(o, w->rows, text, sizeof text);
    snprintf(key, sizeof key, "%s/%s", project ? "project" : "node", name);
    const char *was = ctl_jstr(w->seen, key, NULL);
    bool same = was != NULL && strcmp(was, text) == 0 && strcmp(type, "MODIFIED") == 0;
    if (!same) {
        if (json_object_size(w->seen) >= WATCH_SEEN_MAX)
            json_object_clear(w->seen);
        json_object_set_new(w->seen, key, json_string(text));
        if (w->rows) {
            if (!w->header_done)
                printf("%-24s %s\n", "NAME", project ? "PHASE       NODE             SERVICES REASON"
                                                     : "STATUS                   MEMBER");
            w->header_done = true;
            printf("%-24s %s\n", name, strcmp(type, "DELETED") == 0 ? "(deleted)" : text);
        } else {
            printf("%-8s %s %s\n", type, key, text);
        }
        fflush(stdout);
    }
    json_decref(ev);
    return 0;
}

int ctl_watch_run(ctl_ctx *ctx, ctl_watch *w, int64_t timeout_ms)
{
    char target[64 + CARA_NAME_BYTES_MAX];
    if (w->name != NULL && w->kind != NULL && strcmp(w->kind, "Project") == 0)
        snprintf(target, sizeof target, "/v1/watch?project=%s", w->name);
    else if (w->kind != NULL)
        snprintf(target, sizeof target, "/v1/watch?kind=%s", w->kind);
    else
        snprintf(target, sizeof target, "/v1/watch");
    w->seen = json_object();
    ctl_client c;
    int rc = w->seen != NULL ? ctl_client_open(&c, ctx, CTL_KEY_OPTIONAL) : ctl_fail("out of memory");
    if (rc == 0) {
        ctl_lines lines;
        ctl_lines_init(&lines, &ctx->env, on_line, w);
        int s = ctl_http_stream(&c, target, timeout_ms, ctl_lines_feed, &lines, NULL);
        if (lines.too_long)
            rc = ctl_fail("a watch event is longer than %d bytes", CTL_WATCH_LINE_BYTES_MAX);
        else if (s == CTL_STREAM_TIMEOUT)
            rc = CTL_EXIT_OK;
        else if (s == CTL_STREAM_ENDED)
            rc = ctl_fail("%s closed the watch stream", c.cfg.peer);
        else
            rc = CTL_EXIT_FAIL;
        ctl_lines_free(&lines);
    }
    if (w->seen != NULL)
        ctl_client_close(&c);
    json_decref(w->seen);
    w->seen = NULL;
    return rc;
}

int ctl_cmd_watch(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ctl_watch w = {0};
    int64_t timeout_ms = 0;
    ctl_output fmt = CTL_OUT_TABLE;
    int opt;
    while ((opt = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        if (opt == 'o' && (ctl_output_parse(optarg, &fmt) != 0 || fmt == CTL_OUT_YAML))
            return ctl_usage_error("watch", "unknown output format '%s' (table or json)", optarg);
        if (opt == 'T' && ctl_parse_duration(optarg, &timeout_ms) != 0)
            return ctl_usage_error("watch", "invalid --timeout '%s' (e.g. 90s, 5m)", optarg);
        if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        }
        if (opt != 'o' && opt != 'T')
            return ctl_bad_option("watch", opt, argv);
    }
    w.raw = fmt == CTL_OUT_JSON;
    if (optind < argc) {
        const char *k = argv[optind++];
        if (strcmp(k, "projects") == 0 || strcmp(k, "project") == 0)
            w.kind = "Project";
        else if (strcmp(k, "nodes") == 0 || strcmp(k, "node") == 0)
            w.kind = "Node";
        else
            return ctl_usage_error("watch", "unknown kind '%s' (projects or nodes)", k);
    }
    if (optind < argc)
        return ctl_usage_error("watch", "unexpected argument '%s'", argv[optind]);
    return ctl_watch_run(ctx, &w, timeout_ms);
}
