/* caravanctl validate -f FILE...: checks manifests without contacting a peer. */
#include <getopt.h>
#include <stdio.h>

#include "ctl/manifest_files.h"

static void help(void)
{
    printf("Usage: caravanctl validate -f FILE [-f FILE...]\n\n"
           "Checks each manifest (YAML or JSON, several documents allowed; '-' is\n"
           "stdin) against the Project schema and prints every error as\n"
           "FILE:LINE:COLUMN: FIELD: MESSAGE on stderr.\n\n"
           "Options:\n"
           "  -f, --filename FILE   a manifest to check (repeatable)\n"
           "  -h, --help            show this help\n\n"
           "Exit codes: 0 all valid, 1 some file is invalid, 2 usage error.\n");
}

int ctl_cmd_validate(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char **files = cara_env_calloc(&ctx->env, (size_t)argc, sizeof *files);
    if (files == NULL)
        return ctl_fail("out of memory");
    size_t files_count = 0;
    int opt, rc = CTL_EXIT_OK;
    while ((opt = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
        if (opt == 'f') {
            files[files_count++] = optarg;
        } else if (opt == 'h') {
            help();
            goto out;
        } else {
            rc = ctl_bad_option("validate", opt, argv);
            goto out;
        }
    }
    if ((rc = ctl_manifest_args_check("validate", argc, argv, files_count)) != 0)
        goto out;
    ctl_projects ps;
    int read_rc = ctl_read_manifests(&ctx->env, files, files_count, &ps);
    for (size_t i = 0; i < ps.count; i++)
        printf("%s: project/%s valid\n", ps.sources[i], ps.items[i]->name);
    ctl_projects_free(&ctx->env, &ps);
    rc = read_rc == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
out:
    cara_env_free(&ctx->env, files);
    return rc;
}
