/* caravanctl describe project NAME: the spec in brief, the status, the
 * conditions, the services and the recent events. Environment values are
 * never printed (they may be secrets), only their names. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/print.h"
#include "ctl/project_view.h"

static void help(void)
{
    printf("Usage: caravanctl describe project NAME\n\n"
           "Shows a project: each service's image, command, ports and environment\n"
           "variable names (never their values), volumes, the phase and node,\n"
           "conditions, service states and the node's recent events.\n\n"
           "Options:\n"
           "  -h, --help   show this help\n\n"
           "Exit codes: 0 shown, 1 failure (no such project, unreachable peer), 2 usage error.\n");
}

/* Joins the strings of a JSON array with `sep` ("-" when empty). */
static void join(const json_t *arr, const char *sep, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(arr) && used < cap; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        int n = snprintf(out + used, cap - used, "%s%s", i ? sep : "", s ? s : "");
        used += n > 0 ? (size_t)n : 0;
    }
    if (out[0] == '\0')
        snprintf(out, cap, "-");
}

static void service_block(const json_t *svc, const json_t *svc_status)
{
    char buf[2048];
    printf("  %s:\n", ctl_jstr(svc, "name", NULL) ? ctl_jstr(svc, "name", NULL) : "?");
    printf("    Image:     %s\n", ctl_jstr(svc, "image", NULL) ? ctl_jstr(svc, "image", NULL) : "-");
    if (json_array_size(json_object_get(svc, "command")) > 0) {
        join(json_object_get(svc, "command"), " ", buf, sizeof buf);
        printf("    Command:   %s\n", buf);
    }
    if (json_array_size(json_object_get(svc, "args")) > 0) {
        join(json_object_get(svc, "args"), " ", buf, sizeof buf);
        printf("    Args:      %s\n", buf);
    }
    json_t *ports = json_object_get(svc, "ports");
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(ports) && used < sizeof buf; i++) {
        const json_t *p = json_array_get(ports, i);
        const char *proto = ctl_jstr(p, "protocol", NULL);
        int n = snprintf(buf + used, sizeof buf - used, "%s%lld/%s", i ? ", " : "",
                         (long long)json_integer_value(json_object_get(p, "containerPort")),
                         proto ? proto : "TCP");
        used += n > 0 ? (size_t)n : 0;
    }
    printf("    Ports:     %s\n", buf[0] ? buf : "-");
    json_t *env = json_object_get(svc, "env");
    json_t *names = json_array();
    for (size_t i = 0; i < json_array_size(env); i++)
        json_array_append(names, json_object_get(json_array_get(env, i), "name"));
    join(names, ", ", buf, sizeof buf);
    json_decref(names);
    printf("    Env:       %s\n", buf);
    const char *restart = ctl_jstr(svc, "restartPolicy", NULL);
    printf("    Restart:   %s\n", restart ? restart : "-");
    if (svc_status != NULL) {
        const char *state = ctl_jstr(svc_status, "state", NULL);
        const char *msg = ctl_jstr(svc_status, "message", NULL);
        printf("    State:     %s%s%s\n", state ? state : "Unknown", msg && msg[0] ? " - " : "",
               msg && msg[0] ? msg : "");
        printf("    Restarts:  %lld\n",
               (long long)json_integer_value(json_object_get(svc_status, "restarts")));
    }
}

static const json_t *service_status(const json_t *p, const char *name)
{
    json_t *svcs = ctl_jget(p, "status", "services", NULL);
    for (size_t i = 0; name != NULL && i < json_array_size(svcs); i++) {
        const char *n = ctl_jstr(json_array_get(svcs, i), "name", NULL);
        if (n != NULL && strcmp(n, name) == 0)
            return json_array_get(svcs, i);
    }
    return NULL;
}

static void conditions_block(const json_t *p, int64_t now)
{
    json_t *conds = ctl_jget(p, "status", "conditions", NULL);
    printf("Conditions:%s\n", json_array_size(conds) ? "" : " <none>");
    if (json_array_size(conds) == 0)
        return;
    ctl_table t;
    ctl_table_init(&t, 5, "  ");
    static const char *const head[5] = {"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"};
    ctl_table_row(&t, head);
    for (size_t i = 0; i < json_array_size(conds); i++) {
        const json_t *c = json_array_get(conds, i);
        char age[16];
        ctl_age(ctl_jstr(c, "lastTransitionTime", NULL), now, age, sizeof age);
        const char *row[5] = {ctl_jstr(c, "type", NULL), ctl_jstr(c, "status", NULL),
                              ctl_jstr(c, "reason", NULL), age, ctl_jstr(c, "message", NULL)};
        ctl_table_row(&t, row);
    }
    ctl_table_print(&t, stdout);
    ctl_table_free(&t);
}

static void events_block(const json_t *p, int64_t now)
{
    json_t *events = json_object_get(p, "events");
    printf("Events:%s\n", json_array_size(events) ? "" : " <none>");
    if (json_array_size(events) == 0)
        return;
    ctl_table t;
    ctl_table_init(&t, 4, "  ");
    static const char *const head[4] = {"AGE", "TYPE", "REASON", "MESSAGE"};
    ctl_table_row(&t, head);
    for (size_t i = 0; i < json_array_size(events); i++) {
        const json_t *e = json_array_get(events, i);
        char age[16];
        ctl_age(ctl_jstr(e, "time", NULL), now, age, sizeof age);
        const char *row[4] = {age, ctl_jstr(e, "type", NULL), ctl_jstr(e, "reason", NULL),
                              ctl_jstr(e, "message", NULL)};
        ctl_table_row(&t, row);
    }
    ctl_table_print(&t, stdout);
    ctl_table_free(&t);
}

/* " (Ready)" or " (NotReady)" for the project's node as the answering
 * peer sees it (the node list's "ready"); "" when the list says nothing
 * (an older peer, a node it does not know). */
static const char *node_readiness(const json_t *nodes, const char *node)
{
    json_t *items = json_object_get(nodes, "items");
    for (size_t i = 0; node != NULL && i < json_array_size(items); i++) {
        const json_t *n = json_array_get(items, i);
        const char *name = ctl_jstr(n, "name", NULL);
        json_t *ready = json_object_get(n, "ready");
        if (name != NULL && strcmp(name, node) == 0 && json_is_boolean(ready))
            return json_is_true(ready) ? " (Ready)" : " (NotReady)";
    }
    return "";
}

static void describe(const json_t *p, const json_t *nodes, int64_t now)
{
    const char *phase = ctl_jstr(p, "status", "phase", NULL);
    const char *node = ctl_jstr(p, "status", "nodeRef", NULL);
    printf("Name:        %s\n", ctl_jstr(p, "metadata", "name", NULL));
    printf("Generation:  %llu\n", (unsigned long long)ctl_project_generation(p));
    printf("Phase:       %s\n", phase ? phase : "-");
    printf("Node:        %s%s\n", node ? node : "<none>", node_readiness(nodes, node));
    if (json_is_true(ctl_jget(p, "metadata", "deletionRequested", NULL)))
        printf("Deletion:    requested\n");
    const char *expire = ctl_jstr(p, "spec", "expireAt", NULL);
    if (expire != NULL)
        printf("Expires:     %s\n", expire);
    json_t *svcs = ctl_jget(p, "spec", "services", NULL);
    printf("Services:%s\n", json_array_size(svcs) ? "" : " <none>");
    for (size_t i = 0; i < json_array_size(svcs); i++) {
        const json_t *s = json_array_get(svcs, i);
        service_block(s, service_status(p, ctl_jstr(s, "name", NULL)));
    }
    json_t *vols = ctl_jget(p, "spec", "volumes", NULL);
    if (json_array_size(vols) > 0) {
        printf("Volumes:\n");
        for (size_t i = 0; i < json_array_size(vols); i++)
            printf("  %s (%s)\n", ctl_jstr(json_array_get(vols, i), "name", NULL),
                   ctl_jstr(json_array_get(vols, i), "type", NULL) ? ctl_jstr(json_array_get(vols, i), "type", NULL) : "-");
    }
    conditions_block(p, now);
    events_block(p, now);
}

int ctl_cmd_describe(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        }
        return ctl_bad_option("describe", opt, argv);
    }
    if (argc - optind != 2)
        return ctl_usage_error("describe", "expected: describe project NAME");
    const char *kind = argv[optind], *name = argv[optind + 1];
    if (strcmp(kind, "project") != 0 && strcmp(kind, "projects") != 0 && strcmp(kind, "proj") != 0)
        return ctl_usage_error("describe", "unknown kind '%s' (project)", kind);
    if (!ctl_name_valid(name))
        return ctl_fail("project \"%s\" not found (not a valid name)", name);
    char target[64 + CARA_CRDT_KEY_BYTES_MAX];
    snprintf(target, sizeof target, "/v1/projects/%s", name);
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_OPTIONAL);
    json_t *p = NULL;
    if (rc == 0)
        rc = ctl_api_get(&c, target, false, &p);
    /* The node's readiness is worth a second request, not a failure: a
     * peer that cannot list its nodes still describes the project. */
    json_t *nodes = NULL;
    if (rc == 0 && ctl_jstr(p, "status", "nodeRef", NULL) != NULL &&
        ctl_api_get(&c, "/v1/nodes", true, &nodes) != 0)
        nodes = NULL;
    if (rc == 0)
        describe(p, nodes, cara_env_now_wall_ms(&ctx->env));
    json_decref(nodes);
    json_decref(p);
    ctl_client_close(&c);
    return rc;
}
