/*
 * Reading manifest files for caravanctl commands: every Project of every
 * file, with every error printed to stderr as SOURCE:LINE:COL: PATH: MSG.
 */
#ifndef CARA_CTL_MANIFEST_FILES_H
#define CARA_CTL_MANIFEST_FILES_H

#include "ctl/ctl.h"
#include "spec/spec.h"

typedef struct ctl_projects {
    cara_project **items; /* owned */
    size_t count;
    const char **sources; /* borrowed from argv: the file each came from */
} ctl_projects;

/* Reads and parses each path ("-" is stdin). Prints every error. Returns 0
 * when all files are valid, CARA_ESCHEMA/CARA_EPARSE/CARA_EIO... otherwise;
 * on success `out` holds every project in file order. */
int ctl_read_manifests(cara_env *env, char **paths, size_t paths_count, ctl_projects *out);
void ctl_projects_free(cara_env *env, ctl_projects *ps);

/* Reads and parses one ClusterSettings file ("-" is stdin), printing every
 * error. Returns 0 with *out owned (free with cara_settings_free), or the
 * error with *out NULL. */
int ctl_read_settings(cara_env *env, const char *path, cara_settings **out);

/* The end of the option loop of a command that reads manifests given with
 * -f: no positional argument, at least one file. Returns 0, or prints a
 * usage error and returns CTL_EXIT_USAGE. */
int ctl_manifest_args_check(const char *cmd, int argc, char **argv, size_t files_count);

#endif
