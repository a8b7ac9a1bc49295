/* caravanctl node cordon|uncordon|drain NAME (also `cordon`, `uncordon`,
 * `drain` as kubectl spells them): signs the operator's control of a node
 * (a NODECTL record, docs/crdt.md "Node controls") and, for a drain, waits
 * until no project is placed on the node (docs/cli.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/api.h"
#include "spec/spec.h"

#define DRAIN_TIMEOUT_MS_DEFAULT (5 * 60 * 1000)
/* How often a drain asks where the projects are. */
#define DRAIN_POLL_MS 1000
/* Names printed on one progress line; the count says how many more. */
#define DRAIN_NAMES_SHOWN_MAX 10

typedef enum { OP_CORDON, OP_UNCORDON, OP_DRAIN } node_op;

static const char *const op_names[] = {"cordon", "uncordon", "drain"};

static void help(void)
{
    printf("Usage: caravanctl node cordon NAME\n"
           "       caravanctl node uncordon NAME\n"
           "       caravanctl node drain NAME [--no-wait] [--timeout D]\n"
           "       (also: caravanctl cordon|uncordon|drain NAME)\n\n"
           "cordon: no new project is placed on the node; what runs there stays.\n"
           "drain: cordon, and move every project placed on the node to other\n"
           "nodes (its Ephemeral volumes start empty there); then wait until no\n"
           "project is placed on it, printing what is left as it changes.\n"
           "uncordon: undo both.\n\n"
           "Options (--wait, --no-wait and --timeout are drain's):\n"
           "      --no-wait     drain: return once the drain is written\n"
           "      --wait        drain: wait (the default)\n"
           "      --timeout D   drain: how long to wait (default 5m; 0: forever)\n"
           "  -h, --help        show this help\n\n"
           "Exit codes: 0 done (drained, with the wait), 1 failure or timeout (what\n"
           "is left is printed), 2 usage error.\n");
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The node named `name` in GET /v1/nodes: *out owned, NULL if none. */
static int find_node(ctl_client *c, const char *name, json_t **out)
{
    *out = NULL;
    json_t *list = NULL;
    int rc = ctl_api_get(c, "/v1/nodes", false, &list);
    json_t *items = json_object_get(list, "items");
    for (size_t i = 0; rc == 0 && i < json_array_size(items); i++) {
        const char *n = ctl_jstr(json_array_get(items, i), "name", NULL);
        if (n != NULL && strcmp(n, name) == 0) {
            *out = json_incref(json_array_get(items, i));
            break;
        }
    }
    json_decref(list);
    return rc;
}

/* Signs and sends the control; *result gets the agent's word (created,
 * configured, unchanged), owned by *reply. */
static int write_control(ctl_client *c, const char *name, const json_t *node,
                         const cara_node_control *ctl, json_t **reply)
{
    *reply = NULL;
    cara_buf value;
    cara_buf_init(&value, c->env, CARA_NODECTL_BYTES);
    int rc = cara_node_control_encode(ctl, &value) == 0 ? 0 : ctl_fail("out of memory");
    /* Above the held record's generation, and the wall clock's: a later
     * command wins even when this host's clock is behind the last one's. */
    uint64_t held = (uint64_t)json_integer_value(ctl_jget(node, "control", "generation", NULL));
    uint64_t now = (uint64_t)cara_env_now_wall_ms(c->env);
    uint64_t gen = now > held ? now : held + 1;
    char *body = NULL;
    if (rc == 0)
        rc = ctl_record_body(c, CARA_CRDT_NODECTL, name, gen, value.data, value.len, &body);
    cara_buf_free(&value);
    char target[64 + CARA_CRDT_KEY_BYTES_MAX];
    snprintf(target, sizeof target, "/v1/nodes/%s/control", name);
    if (rc == 0)
        rc = ctl_api_send(c, "PUT", target, body, 0, reply, NULL);
    free(body);
    return rc;
}

/* Names of the projects placed on `node` (status.nodeRef, not Terminated),
 * in the API's order (sorted by name), into *left (owned array). */
static int projects_on(ctl_client *c, const char *node, json_t **left)
{
    *left = NULL;
    json_t *list = NULL;
    int rc = ctl_api_get(c, "/v1/projects", false, &list);
    if (rc != 0)
        return rc;
    *left = json_array();
    json_t *items = json_object_get(list, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *p = json_array_get(items, i);
        const char *ref = ctl_jstr(p, "status", "nodeRef", NULL);
        const char *phase = ctl_jstr(p, "status", "phase", NULL);
        const char *name = ctl_jstr(p, "metadata", "name", NULL);
        if (name != NULL && ref != NULL && strcmp(ref, node) == 0 &&
            (phase == NULL || strcmp(phase, "Terminated") != 0))
            json_array_append(*left, json_array_get(items, i));
    }
    json_decref(list);
    return 0;
}

/* "2 projects left (web, db)" */
static void left_text(const json_t *left, char *out, size_t cap)
{
    size_t n = json_array_size(left), used = 0;
    int k = snprintf(out, cap, "%zu project%s left", n, n == 1 ? "" : "s");
    used = k > 0 && (size_t)k < cap ? (size_t)k : cap - 1;
    for (size_t i = 0; i < n && i < DRAIN_NAMES_SHOWN_MAX && used < cap - 1; i++) {
        k = snprintf(out + used, cap - used, "%s%s", i ? ", " : " (",
                     ctl_jstr(json_array_get(left, i), "metadata", "name", NULL));
        used += k > 0 ? (size_t)k : 0;
    }
    if (n > DRAIN_NAMES_SHOWN_MAX && used < cap - 1) {
        k = snprintf(out + used, cap - used, ", and %zu more", n - DRAIN_NAMES_SHOWN_MAX);
        used += k > 0 ? (size_t)k : 0;
    }
    if (n > 0 && used < cap - 1)
        snprintf(out + used, cap - used, ")");
}

/* Why each project left cannot move, when its scheduler said so. */
static void print_blocked(const json_t *left)
{
    for (size_t i = 0; i < json_array_size(left); i++) {
        const json_t *p = json_array_get(left, i);
        const json_t *conds = ctl_jget(p, "status", "conditions", NULL);
        for (size_t k = 0; k < json_array_size(conds); k++) {
            const char *reason = ctl_jstr(json_array_get(conds, k), "reason", NULL);
            if (reason != NULL && strcmp(reason, "DrainBlocked") == 0)
                fprintf(stderr, "  project/%s: %s\n", ctl_jstr(p, "metadata", "name", NULL),
                        ctl_jstr(json_array_get(conds, k), "message", NULL));
        }
    }
}

/* Waits until no project is placed on `node`; prints a line each time what
 * is left changes. timeout_ms 0: no limit. */
static int drain_wait(ctl_client *c, const char *node, int64_t timeout_ms)
{
    uint64_t deadline = cara_env_now_mono_ms(c->env) + (uint64_t)timeout_ms;
    char last[1024] = "", text[1024];
    for (;;) {
        json_t *left = NULL;
        int rc = projects_on(c, node, &left);
        if (rc != 0)
            return rc;
        size_t n = json_array_size(left);
        left_text(left, text, sizeof text);
        if (n > 0 && strcmp(text, last) != 0) {
            printf("drain %s: %s\n", node, text);
            fflush(stdout);
            snprintf(last, sizeof last, "%s", text);
        }
        if (n == 0) {
            json_decref(left);
            printf("node/%s drained\n", node);
            return CTL_EXIT_OK;
        }
        if (timeout_ms > 0 && cara_env_now_mono_ms(c->env) >= deadline) {
            fprintf(stderr, "error: drain %s timed out after %llds: %s\n", node,
                    (long long)(timeout_ms / 1000), text);
            print_blocked(left);
            json_decref(left);
            return CTL_EXIT_FAIL;
        }
        json_decref(left);
        sleep_ms(DRAIN_POLL_MS);
    }
}

static int node_control(ctl_ctx *ctx, node_op op, const char *name, bool wait, int64_t timeout_ms)
{
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
    json_t *node = NULL;
    if (rc == 0)
        rc = find_node(&c, name, &node);
    /* Checked here, and by the agent again: nothing is written for a
     * node the cluster does not know (a typo would cordon nothing). */
    if (rc == 0 && node == NULL)
        rc = ctl_fail("node \"%s\" not found (caravanctl get nodes lists them)", name);
    cara_node_control ctl = {.cordoned = op != OP_UNCORDON, .draining = op == OP_DRAIN};
    json_t *reply = NULL;
    if (rc == 0)
        rc = write_control(&c, name, node, &ctl, &reply);
    json_decref(node);
    if (rc == 0) {
        const char *result = ctl_jstr(reply, "result", NULL);
        bool same = result != NULL && strcmp(result, "unchanged") == 0;
        static const char *const done[] = {"cordoned", "uncordoned", "draining"};
        printf("node/%s %s%s\n", name, same ? "already " : "", done[op]);
        fflush(stdout);
        char what[64 + CARA_NAME_BYTES_MAX];
        snprintf(what, sizeof what, "the %s of node/%s", op_names[op], name);
        rc = ctl_check_durable(reply, what);
    }
    json_decref(reply);
    if (rc == 0 && op == OP_DRAIN && wait)
        rc = drain_wait(&c, name, timeout_ms);
    ctl_client_close(&c);
    return rc;
}

/* `op_name` NAME [options], argv[0] being the operation's name. */
static int run_op(ctl_ctx *ctx, const char *op_name, int argc, char **argv)
{
    static const struct option opts[] = {
        {"wait", no_argument, NULL, 'w'},
        {"no-wait", no_argument, NULL, 'W'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    node_op op;
    if (strcmp(op_name, "cordon") == 0)
        op = OP_CORDON;
    else if (strcmp(op_name, "uncordon") == 0)
        op = OP_UNCORDON;
    else if (strcmp(op_name, "drain") == 0)
        op = OP_DRAIN;
    else
        return ctl_usage_error("node", "unknown operation '%s' (cordon, uncordon, drain)",
                               op_name);
    bool wait = true, wait_given = false;
    int64_t timeout_ms = DRAIN_TIMEOUT_MS_DEFAULT;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'w' || opt == 'W') {
            wait = opt == 'w';
            wait_given = true;
        } else if (opt == 'T') {
            if (strcmp(optarg, "0") == 0)
                timeout_ms = 0;
            else if (ctl_parse_duration(optarg, &timeout_ms) != 0)
                return ctl_usage_error(op_name, "invalid --timeout '%s' (e.g. 90s, 5m, 0)",
                                       optarg);
            wait_given = true;
        } else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else
            return ctl_bad_option(op_name, opt, argv);
    }
    if (wait_given && op != OP_DRAIN)
        return ctl_usage_error(op_name, "--wait, --no-wait and --timeout belong to drain");
    if (argc - optind != 1)
        return ctl_usage_error(op_name, "expected: %s NAME", op_name);
    const char *name = argv[optind];
    if (!ctl_name_valid(name))
        return ctl_fail("node \"%s\" not found (not a valid name)", name);
    return node_control(ctx, op, name, wait, timeout_ms);
}

int ctl_cmd_node(ctl_ctx *ctx, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        help();
        return CTL_EXIT_OK;
    }
    if (argc < 2)
        return ctl_usage_error("node", "expected: node cordon|uncordon|drain NAME");
    return run_op(ctx, argv[1], argc - 1, argv + 1);
}

int ctl_cmd_cordon(ctl_ctx *ctx, int argc, char **argv)
{
    return run_op(ctx, argv[0], argc, argv);
}
