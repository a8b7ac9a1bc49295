/* caravanctl watch [projects|nodes] [-o json]: one line per change. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/follow.h"
#include "ctl/print.h"

static void help(void)
{
    printf("Usage: caravanctl watch [projects|nodes] [-o json] [--timeout D]\n\n"
           "Prints every change the peer sees, one line each, starting with an ADDED\n"
           "line for every current object:\n"
           "  MODIFIED project/web Running node1\n"
           "  ADDED node/node1 Ready\n"
           "With no kind, both. Runs until interrupted or the peer closes the stream.\n\n"
           "Options:\n"
           "  -o, --output json   print the API's event lines unchanged\n"
           "      --timeout D     stop after D (exit 0)\n"
           "  -h, --help          show this help\n\n"
           "Exit codes: 0 interrupted by --timeout, 1 failure or stream closed by the\n"
           "peer, 2 usage error.\n");
}

typedef struct watch_ctx {
    const char *kind; /* "Project", "Node" or NULL for both */
    bool raw;
} watch_ctx;

static int on_line(void *arg, char *line, size_t len)
{
    watch_ctx *w = arg;
    json_t *ev = ctl_json_load_clean(line, len, NULL);
    const char *kind = ctl_jstr(ev, "kind", NULL);
    if (ev == NULL || kind == NULL || (w->kind != NULL && strcmp(kind, w->kind) != 0)) {
        json_decref(ev);
        return 0;
    }
    const char *type = ctl_jstr(ev, "type", NULL);
    json_t *o = json_object_get(ev, "object");
    if (w->raw) {
        printf("%.*s\n", (int)len, line);
    } else if (strcmp(kind, "Project") == 0) {
        const char *phase = ctl_jstr(o, "status", "phase", NULL);
        const char *node = ctl_jstr(o, "status", "nodeRef", NULL);
        printf("%-8s project/%s %s %s\n", type ? type : "?", ctl_jstr(o, "metadata", "name", NULL),
               phase ? phase : "-", node ? node : "-");
    } else {
        const char *state = ctl_jstr(o, "state", NULL);
        printf("%-8s node/%s %s\n", type ? type : "?", ctl_jstr(o, "name", NULL),
               state ? state : "-");
    }
    fflush(stdout);
    json_decref(ev);
    return 0;
}

int ctl_cmd_watch(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    watch_ctx w = {0};
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
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_OPTIONAL);
    if (rc == 0) {
        ctl_lines lines;
        ctl_lines_init(&lines, &ctx->env, on_line, &w);
        int s = ctl_http_stream(&c, "/v1/watch", timeout_ms, ctl_lines_feed, &lines, NULL);
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
    ctl_client_close(&c);
    return rc;
}
