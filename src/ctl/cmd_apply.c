/* caravanctl apply -f FILE... [--wait [--timeout D]]: sends each project of
 * each manifest as an operator-signed record. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/follow.h"
#include "ctl/manifest_files.h"

#define APPLY_TIMEOUT_MS_DEFAULT (5 * 60 * 1000)

static void help(void)
{
    printf("Usage: caravanctl apply -f FILE [-f FILE...] [--ack N] [--wait [--timeout DURATION]]\n\n"
           "Creates or updates the projects of each manifest (YAML or JSON, several\n"
           "documents allowed; '-' is stdin) and prints, for each,\n"
           "project/NAME created|configured|unchanged. If any file is invalid,\n"
           "nothing is sent.\n\n"
           "Options:\n"
           "  -f, --filename FILE   a manifest (repeatable)\n"
           "  -w, --wait            then follow each project until it is Running\n"
           "                        (exit 0) or Failed (exit 1), printing progress\n"
           "      --timeout D       how long --wait waits (default 5m; 90s, 2m, 1h)\n"
           "      --ack N           return once N nodes hold each record durably\n"
           "                        (default: 2, or 1 when the node is alone); if they\n"
           "                        do not within 10 s, say how many do and exit 1\n"
           "  -h, --help            show this help\n\n"
           "Exit codes: 0 applied (and Running with --wait), 1 failure, 2 usage error.\n");
}

/* Nodes that must hold each record before apply returns (--ack; 0: the
 * agent's default, min(2, live members)). */
static unsigned ack_wanted;

/* Sends one signed PUT; *status_out tells a 409 apart. */
static int put_project(ctl_client *c, const char *name, uint64_t generation, const cara_buf *value,
                       json_t **reply, long *status_out)
{
    char *body = NULL;
    int rc = ctl_record_body(c, CARA_CRDT_PROJECT, name, generation, value->data, value->len, &body);
    if (rc != 0)
        return rc;
    char target[64 + CARA_CRDT_KEY_BYTES_MAX];
    if (ack_wanted > 0)
        snprintf(target, sizeof target, "/v1/projects/%s?ack=%u", name, ack_wanted);
    else
        snprintf(target, sizeof target, "/v1/projects/%s", name);
    rc = ctl_api_send(c, "PUT", target, body, generation == 1 ? 409 : 0, reply, status_out);
    free(body);
    return rc;
}

/* Applies one project; *applied gets the generation the agent holds. */
static int apply_one(ctl_client *c, const cara_project *p, uint64_t *applied)
{
    json_t *cur = NULL;
    int rc = ctl_api_project(c, p->name, &cur);
    if (rc != 0)
        return rc;
    uint64_t held = cur != NULL ? ctl_project_generation(cur) : 0;
    json_decref(cur);
    if (held >= CARA_GENERATION_MAX) /* a peer cannot steer what we sign */
        return ctl_fail("the peer reports generation %llu for \"%s\", beyond any an operator signs",
                        (unsigned long long)held, p->name);
    cara_buf value;
    cara_buf_init(&value, c->env, CARA_SPEC_BYTES_MAX);
    rc = cara_project_encode(p, &value);
    if (rc != 0) {
        cara_buf_free(&value);
        return ctl_fail("project \"%s\" cannot be encoded: %s", p->name, cara_strerror(rc));
    }
    json_t *reply = NULL;
    long status = 0;
    rc = put_project(c, p->name, held + 1, &value, &reply, &status);
    if (rc != 0 && status == 409 && held == 0) {
        /* GET no longer shows a deleted project while its tombstone (or,
         * once collected, its floor) is still held; a new spec must
         * outnumber it. The 409 names a held tombstone's generation; a
         * collected one is outnumbered by wall-clock milliseconds, which
         * are above any generation counted up by applies. */
        json_int_t held_now = json_integer_value(json_object_get(reply, "heldGeneration"));
        uint64_t now_ms = (uint64_t)cara_env_now_wall_ms(c->env);
        uint64_t next = held_now > 0 && (uint64_t)held_now + 1 > now_ms ? (uint64_t)held_now + 1 : now_ms;
        json_decref(reply);
        reply = NULL;
        if (next > CARA_GENERATION_MAX)
            rc = ctl_fail("the peer reports generation %lld for \"%s\", beyond any an operator "
                          "signs; refusing to follow it", (long long)held_now, p->name);
        else
            rc = put_project(c, p->name, next, &value, &reply, &status);
    }
    cara_buf_free(&value);
    if (rc == 0) {
        const char *result = json_string_value(json_object_get(reply, "result"));
        *applied = (uint64_t)json_integer_value(json_object_get(reply, "generation"));
        printf("project/%s %s\n", p->name, result != NULL ? result : "applied");
        fflush(stdout);
        char what[32 + CARA_NAME_BYTES_MAX];
        snprintf(what, sizeof what, "project/%s", p->name);
        rc = ctl_check_durable(reply, what);
    }
    json_decref(reply);
    return rc;
}

static int apply(ctl_ctx *ctx, char **files, size_t files_count, bool wait, int64_t timeout_ms)
{
    ctl_projects ps;
    if (ctl_read_manifests(&ctx->env, files, files_count, &ps) != 0) {
        ctl_projects_free(&ctx->env, &ps);
        return ctl_fail("nothing was applied");
    }
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
    int worst = rc;
    uint64_t *gens = cara_env_calloc(&ctx->env, ps.count ? ps.count : 1, sizeof *gens);
    if (gens == NULL)
        rc = worst = ctl_fail("out of memory");
    for (size_t i = 0; rc == 0 && i < ps.count; i++) {
        int one = apply_one(&c, ps.items[i], &gens[i]);
        if (one != 0)
            worst = one;
    }
    uint64_t deadline = cara_env_now_mono_ms(&ctx->env) + (uint64_t)timeout_ms;
    for (size_t i = 0; rc == 0 && worst == 0 && wait && i < ps.count; i++) {
        int one = ctl_follow_until_running(&c, ps.items[i]->name, gens[i], deadline);
        if (one == 0)
            printf("project/%s Running\n", ps.items[i]->name);
        else
            worst = one;
    }
    ctl_client_close(&c);
    ctl_projects_free(&ctx->env, &ps);
    cara_env_free(&ctx->env, gens);
    return worst;
}

int ctl_cmd_apply(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'},
        {"ack", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char **files = cara_env_calloc(&ctx->env, (size_t)argc, sizeof *files);
    if (files == NULL)
        return ctl_fail("out of memory");
    size_t files_count = 0;
    bool wait = false;
    int64_t timeout_ms = APPLY_TIMEOUT_MS_DEFAULT;
    int opt, rc = CTL_EXIT_OK;
    while ((opt = getopt_long(argc, argv, ":f:wh", opts, NULL)) != -1) {
        if (opt == 'f') {
            files[files_count++] = optarg;
        } else if (opt == 'w') {
            wait = true;
        } else if (opt == 'T' && ctl_parse_duration(optarg, &timeout_ms) != 0) {
            rc = ctl_usage_error("apply", "invalid --timeout '%s' (e.g. 90s, 5m)", optarg);
            goto out;
        } else if (opt == 'T') {
            continue;
        } else if (opt == 'A') {
            char *end = NULL;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > CARA_GOSSIP_ACK_NODES_MAX) {
                rc = ctl_usage_error("apply", "invalid --ack '%s' (a number of nodes, 1..%d)",
                                     optarg, CARA_GOSSIP_ACK_NODES_MAX);
                goto out;
            }
            ack_wanted = (unsigned)n;
        } else if (opt == 'h') {
            help();
            goto out;
        } else {
            rc = ctl_bad_option("apply", opt, argv);
            goto out;
        }
    }
    if ((rc = ctl_manifest_args_check("apply", argc, argv, files_count)) != 0)
        goto out;
    rc = apply(ctx, files, files_count, wait, timeout_ms);
out:
    cara_env_free(&ctx->env, files);
    return rc;
}
