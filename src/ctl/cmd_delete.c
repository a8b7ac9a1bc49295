/* caravanctl delete project NAME [--wait [--timeout D]] [--force]: sends an
 * operator-signed tombstone one generation above the spec. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/follow.h"

#define DELETE_TIMEOUT_MS_DEFAULT (5 * 60 * 1000)

static void help(void)
{
    printf("Usage: caravanctl delete project NAME [--ack N] [--wait [--timeout D]] [--force]\n\n"
           "Deletes a project: its node stops and removes its containers, network\n"
           "and volumes. Prints project/NAME deleted.\n\n"
           "Options:\n"
           "      --force       also mark it Terminated at once when its node is\n"
           "                    NotReady (the node cleans up when it returns)\n"
           "  -w, --wait        then wait until the project is gone\n"
           "      --timeout D   how long --wait waits (default 5m)\n"
           "      --ack N       return once N nodes hold the deletion durably\n"
           "                    (default: 2, or 1 when the node is alone); if they do\n"
           "                    not within 10 s, say how many do and exit 1\n"
           "  -h, --help        show this help\n\n"
           "Exit codes: 0 deleted (and gone with --wait), 1 failure, 2 usage error.\n");
}

static int delete_project(ctl_ctx *ctx, const char *name, bool force, unsigned ack, bool wait,
                          int64_t timeout_ms)
{
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
    json_t *cur = NULL;
    if (rc == 0)
        rc = ctl_api_project(&c, name, &cur);
    if (rc == 0 && cur == NULL)
        rc = ctl_fail("project \"%s\" not found", name);
    char *body = NULL;
    if (rc == 0)
        rc = ctl_record_body(&c, CARA_CRDT_TOMBSTONE, name, ctl_project_generation(cur) + 1, NULL, 0,
                             &body);
    json_decref(cur);
    char target[64 + CARA_CRDT_KEY_BYTES_MAX];
    char ackq[32] = "";
    if (ack > 0)
        snprintf(ackq, sizeof ackq, "%sack=%u", force ? "&" : "?", ack);
    snprintf(target, sizeof target, "/v1/projects/%s%s%s", name, force ? "?force=1" : "", ackq);
    json_t *reply = NULL;
    if (rc == 0)
        rc = ctl_api_send(&c, "DELETE", target, body, 0, &reply, NULL);
    free(body);
    if (rc == 0) {
        printf("project/%s deleted\n", name);
        fflush(stdout);
        char what[32 + CARA_NAME_BYTES_MAX];
        snprintf(what, sizeof what, "the deletion of project/%s", name);
        rc = ctl_check_durable(reply, what);
    }
    json_decref(reply);
    if (rc == 0 && wait)
        rc = ctl_follow_until_gone(&c, name, cara_env_now_mono_ms(&ctx->env) + (uint64_t)timeout_ms);
    ctl_client_close(&c);
    return rc;
}

int ctl_cmd_delete(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'F'},
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'},
        {"ack", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool force = false, wait = false;
    unsigned ack = 0;
    int64_t timeout_ms = DELETE_TIMEOUT_MS_DEFAULT;
    int opt;
    while ((opt = getopt_long(argc, argv, ":wh", opts, NULL)) != -1) {
        if (opt == 'F')
            force = true;
        else if (opt == 'w')
            wait = true;
        else if (opt == 'T' && ctl_parse_duration(optarg, &timeout_ms) != 0)
            return ctl_usage_error("delete", "invalid --timeout '%s' (e.g. 90s, 5m)", optarg);
        else if (opt == 'A') {
            char *end = NULL;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > CARA_GOSSIP_ACK_NODES_MAX)
                return ctl_usage_error("delete", "invalid --ack '%s' (a number of nodes, 1..%d)",
                                       optarg, CARA_GOSSIP_ACK_NODES_MAX);
            ack = (unsigned)n;
        } else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else if (opt != 'T')
            return ctl_bad_option("delete", opt, argv);
    }
    if (argc - optind != 2)
        return ctl_usage_error("delete", "expected: delete project NAME");
    const char *kind = argv[optind], *name = argv[optind + 1];
    if (strcmp(kind, "project") != 0 && strcmp(kind, "projects") != 0 && strcmp(kind, "proj") != 0)
        return ctl_usage_error("delete", "unknown kind '%s' (project)", kind);
    if (!ctl_name_valid(name))
        return ctl_fail("project \"%s\" not found (not a valid name)", name);
    return delete_project(ctx, name, force, ack, wait, timeout_ms);
}
