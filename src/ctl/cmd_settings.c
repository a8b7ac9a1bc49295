/* caravanctl settings apply -f FILE: sends a ClusterSettings document
 * (docs/manifest.md, "Cluster settings") as the operator-signed SETTINGS
 * record, key "cluster". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/manifest_files.h"

static void help(void)
{
    printf("Usage: caravanctl settings apply -f FILE\n\n"
           "Replaces the cluster's settings (environment, baseDomain, timers) with\n"
           "the ClusterSettings document in FILE (YAML or JSON; '-' is stdin) and\n"
           "prints clustersettings/cluster configured. An invalid file sends nothing.\n\n"
           "Options:\n"
           "  -f, --filename FILE   the settings document\n"
           "  -h, --help            show this help\n\n"
           "Exit codes: 0 applied, 1 failure, 2 usage error.\n");
}

static int settings_apply(ctl_ctx *ctx, const char *file)
{
    cara_settings *st = NULL;
    if (ctl_read_settings(&ctx->env, file, &st) != 0)
        return ctl_fail("nothing was applied");
    cara_buf value;
    cara_buf_init(&value, &ctx->env, CARA_SETTINGS_BYTES_MAX);
    int rc = cara_settings_encode(st, &value);
    cara_settings_free(&ctx->env, st);
    if (rc != 0) {
        cara_buf_free(&value);
        return ctl_fail("the settings cannot be encoded: %s", cara_strerror(rc));
    }
    ctl_client c;
    rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
    /* The API does not show the settings record, so its generation is not
     * counted up from the one held: wall-clock milliseconds make each later
     * apply win, as admissions do (cmd_admit.c). */
    char *body = NULL;
    if (rc == 0)
        rc = ctl_record_body(&c, CARA_CRDT_SETTINGS, "cluster",
                             (uint64_t)cara_env_now_wall_ms(&ctx->env), value.data, value.len,
                             &body);
    cara_buf_free(&value);
    json_t *reply = NULL;
    if (rc == 0)
        rc = ctl_api_send(&c, "PUT", "/v1/settings/cluster", body, 0, &reply, NULL);
    if (rc == 0) {
        const char *result = json_string_value(json_object_get(reply, "result"));
        printf("clustersettings/cluster %s\n", result != NULL ? result : "applied");
        rc = ctl_check_durable(reply, "clustersettings/cluster");
    }
    json_decref(reply);
    free(body);
    ctl_client_close(&c);
    return rc;
}

int ctl_cmd_settings(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
        if (opt == 'f' && file != NULL)
            return ctl_usage_error("settings", "one settings file only");
        else if (opt == 'f')
            file = optarg;
        else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else
            return ctl_bad_option("settings", opt, argv);
    }
    if (optind >= argc || strcmp(argv[optind], "apply") != 0)
        return ctl_usage_error("settings", "expected 'apply'");
    optind++;
    if (optind < argc)
        return ctl_usage_error("settings", "unexpected argument '%s'", argv[optind]);
    if (file == NULL)
        return ctl_usage_error("settings", "no settings file given; use -f FILE");
    return settings_apply(ctx, file);
}
