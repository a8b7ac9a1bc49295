#include "ctl/manifest_files.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "os/os.h"

static void print_diags(const cara_diags *d)
{
    char line[CARA_ERROR_BYTES_MAX + 512];
    for (size_t i = 0; i < d->count; i++) {
        cara_diags_format(d, i, line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    if (d->truncated)
        fprintf(stderr, "%s: too many errors; only the first %d are shown\n", d->source,
                CARA_ERRORS_COUNT_MAX);
}

static int append(cara_env *env, ctl_projects *out, cara_project **ps, size_t n,
                  const char *source)
{
    size_t total = out->count + n;
    cara_project **items = cara_env_realloc(env, out->items, total * sizeof *items);
    if (items == NULL)
        return CARA_ENOMEM;
    out->items = items;
    const char **sources = cara_env_realloc(env, out->sources, total * sizeof *sources);
    if (sources == NULL)
        return CARA_ENOMEM;
    out->sources = sources;
    for (size_t i = 0; i < n; i++) {
        out->items[out->count] = ps[i];
        out->sources[out->count++] = source;
    }
    return 0;
}

/* Reads one file whole; prints why it cannot. */
static int read_text(cara_env *env, const char *path, const char *source, char **text,
                     size_t *len)
{
    int rc = cara_os_read_file(env, path, CARA_MANIFEST_BYTES_MAX, text, len);
    if (rc == CARA_ETOOBIG)
        fprintf(stderr, "%s: file is larger than %d bytes\n", source, CARA_MANIFEST_BYTES_MAX);
    else if (rc != 0)
        fprintf(stderr, "%s: cannot read: %s\n", source, cara_strerror(rc));
    return rc;
}

/* Parses one file; prints its errors. */
static int read_one(cara_env *env, const char *path, ctl_projects *out)
{
    const char *source = strcmp(path, "-") == 0 ? "<stdin>" : path;
    char *text = NULL;
    size_t len = 0;
    int rc = read_text(env, path, source, &text, &len);
    if (rc != 0)
        return rc;
    cara_diags d;
    cara_diags_init(&d, env, source);
    cara_project **ps = NULL;
    size_t n = 0;
    rc = cara_manifest_parse(env, text, len, &d, &ps, &n);
    print_diags(&d);
    cara_diags_free(&d);
    cara_env_free(env, text);
    if (rc == 0) {
        rc = append(env, out, ps, n, source);
        if (rc != 0)
            for (size_t i = 0; i < n; i++)
                cara_project_free(env, ps[i]);
        cara_env_free(env, ps);
    }
    return rc;
}

int ctl_read_manifests(cara_env *env, char **paths, size_t paths_count, ctl_projects *out)
{
    *out = (ctl_projects){0};
    int first_rc = 0;
    for (size_t i = 0; i < paths_count; i++) {
        int rc = read_one(env, paths[i], out);
        if (rc != 0 && first_rc == 0)
            first_rc = rc;
    }
    return first_rc;
}

int ctl_read_settings(cara_env *env, const char *path, cara_settings **out)
{
    *out = NULL;
    const char *source = strcmp(path, "-") == 0 ? "<stdin>" : path;
    char *text = NULL;
    size_t len = 0;
    int rc = read_text(env, path, source, &text, &len);
    if (rc != 0)
        return rc;
    cara_diags d;
    cara_diags_init(&d, env, source);
    rc = cara_settings_parse(env, text, len, &d, out);
    print_diags(&d);
    cara_diags_free(&d);
    cara_env_free(env, text);
    return rc;
}

void ctl_projects_free(cara_env *env, ctl_projects *ps)
{
    for (size_t i = 0; i < ps->count; i++)
        cara_project_free(env, ps->items[i]);
    cara_env_free(env, ps->items);
    cara_env_free(env, ps->sources);
    *ps = (ctl_projects){0};
}

int ctl_manifest_args_check(const char *cmd, int argc, char **argv, size_t files_count)
{
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s' (files are given with -f)",
                               argv[optind]);
    if (files_count == 0)
        return ctl_usage_error(cmd, "no manifest given; use -f FILE");
    return 0;
}
