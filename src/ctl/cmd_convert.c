/* caravanctl convert -f FILE... [-o yaml|json]: reads manifests and prints
 * them in canonical form, every default explicit, without contacting a
 * peer. The output is itself a manifest: converting it again gives the
 * same bytes. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/manifest_files.h"
#include "spec/spec.h"

static void help(void)
{
    printf("Usage: caravanctl convert -f FILE [-f FILE...] [-o yaml|json]\n\n"
           "Reads each manifest (YAML or JSON, several documents allowed; '-' is\n"
           "stdin) and prints its projects in canonical form on stdout, with\n"
           "every default written out. Several projects print as a YAML stream\n"
           "of documents, or as one JSON object of kind List.\n\n"
           "Options:\n"
           "  -f, --filename FILE   a manifest to read (repeatable)\n"
           "  -o, --output FORMAT   yaml (default) or json\n"
           "  -h, --help            show this help\n\n"
           "Exit codes: 0 printed, 1 some file is invalid, 2 usage error.\n");
}

/* Prints the projects' JSON trees in `fmt`; returns 0 or a CARA_E* code. */
static int print_projects(cara_env *env, json_t **docs, size_t n, bool json)
{
    if (json) {
        json_t *out = docs[0];
        json_t *list = NULL;
        if (n > 1) { /* Kubernetes' way of putting several objects in one */
            list = json_pack("{s:s, s:s, s:[]}", "apiVersion", CARA_API_VERSION, "kind", "List",
                             "items");
            for (size_t i = 0; list != NULL && i < n; i++) {
                if (json_array_append(json_object_get(list, "items"), docs[i]) != 0) {
                    json_decref(list);
                    list = NULL;
                }
            }
            out = list;
        }
        int rc = out != NULL && json_dumpf(out, stdout, JSON_INDENT(2)) == 0 ? 0 : CARA_ENOMEM;
        if (rc == 0)
            fputc('\n', stdout);
        json_decref(list);
        return rc;
    }
    cara_buf y;
    cara_buf_init(&y, env, (size_t)CARA_MANIFEST_BYTES_MAX * 4);
    int rc = cara_json_to_yaml_stream((const json_t *const *)docs, n, &y);
    if (rc == 0)
        fwrite(y.data, 1, y.len, stdout);
    cara_buf_free(&y);
    return rc;
}

static int convert(cara_env *env, char **files, size_t files_count, bool json)
{
    ctl_projects ps;
    if (ctl_read_manifests(env, files, files_count, &ps) != 0) {
        ctl_projects_free(env, &ps);
        return CTL_EXIT_FAIL;
    }
    json_t **docs = cara_env_calloc(env, ps.count, sizeof *docs);
    int rc = docs != NULL ? 0 : CARA_ENOMEM;
    for (size_t i = 0; rc == 0 && i < ps.count; i++)
        rc = cara_project_json(ps.items[i], NULL, &docs[i]);
    if (rc == 0 && ps.count > 0)
        rc = print_projects(env, docs, ps.count, json);
    for (size_t i = 0; docs != NULL && i < ps.count; i++)
        json_decref(docs[i]);
    cara_env_free(env, docs);
    ctl_projects_free(env, &ps);
    if (rc != 0)
        return ctl_fail("cannot print the projects: %s", cara_strerror(rc));
    return CTL_EXIT_OK;
}

int ctl_cmd_convert(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char **files = cara_env_calloc(&ctx->env, (size_t)argc, sizeof *files);
    if (files == NULL)
        return ctl_fail("out of memory");
    size_t files_count = 0;
    bool json = false;
    int opt, rc = CTL_EXIT_OK;
    while ((opt = getopt_long(argc, argv, ":f:o:h", opts, NULL)) != -1) {
        if (opt == 'f') {
            files[files_count++] = optarg;
        } else if (opt == 'o' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "yaml") == 0)) {
            json = strcmp(optarg, "json") == 0;
        } else if (opt == 'o') {
            rc = ctl_usage_error("convert", "unknown output format '%s' (yaml or json)", optarg);
            goto out;
        } else if (opt == 'h') {
            help();
            goto out;
        } else {
            rc = ctl_bad_option("convert", opt, argv);
            goto out;
        }
    }
    if ((rc = ctl_manifest_args_check("convert", argc, argv, files_count)) != 0)
        goto out;
    rc = convert(&ctx->env, files, files_count, json);
out:
    cara_env_free(&ctx->env, files);
    return rc;
}
