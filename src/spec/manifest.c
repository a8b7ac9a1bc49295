/*
 * Manifest files: every YAML document is bound to a Project and validated;
 * and cluster settings files, which hold one ClusterSettings document.
 * A file is taken whole or not at all, and every problem in it is reported,
 * so one run of `caravanctl validate` lists everything to fix.
 */
#include <string.h>

#include "spec/spec_int.h"

typedef struct collect {
    cara_env *env;
    cara_diags *d;
    cara_project **items;
    size_t count;
    size_t docs;
    bool failed;
} collect;

static int on_document(void *ctx, doc *dc)
{
    collect *c = ctx;
    if (c->docs == CARA_MANIFEST_DOCS_MAX) {
        cara_diags_add_at(c->d, dc->root->line, dc->root->col, "",
                          "more than %d documents in one file", CARA_MANIFEST_DOCS_MAX);
        return CARA_ELIMIT;
    }
    c->docs++;
    /* Positions are per document: paths repeat from one to the next. */
    cara_diags_reset_pos(c->d);
    cara_project *p = NULL;
    int rc = bind_project(c->env, dc->root, c->d, &p);
    if (rc == CARA_ENOMEM)
        return rc;
    if (rc != 0) {
        c->failed = true;
        return 0; /* keep going: report the other documents' problems too */
    }
    c->items[c->count++] = p;
    return 0;
}

static void free_all(collect *c)
{
    for (size_t i = 0; i < c->count; i++)
        cara_project_free(c->env, c->items[i]);
    cara_env_free(c->env, c->items);
}

int cara_manifest_parse(cara_env *env, const char *text, size_t len, cara_diags *d,
                        cara_project ***out, size_t *count)
{
    CARA_ASSERT(env != NULL && d != NULL && out != NULL && count != NULL);
    *out = NULL;
    *count = 0;
    if (len > CARA_MANIFEST_BYTES_MAX) {
        cara_diags_add(d, "", "file is larger than %d bytes", CARA_MANIFEST_BYTES_MAX);
        return CARA_EPARSE;
    }
    collect c = {.env = env, .d = d};
    c.items = cara_env_calloc(env, CARA_MANIFEST_DOCS_MAX, sizeof *c.items);
    if (c.items == NULL)
        return CARA_ENOMEM;
    int rc = doc_from_yaml(env, text, len, d, on_document, &c);
    cara_diags_reset_pos(d);
    if (rc == 0 && c.failed)
        rc = CARA_ESCHEMA;
    if (rc == 0 && c.count == 0) {
        cara_diags_add(d, "", "no Project in the file (it has no documents)");
        rc = CARA_ESCHEMA;
    }
    if (rc == CARA_ELIMIT || rc == CARA_ETOOBIG)
        rc = CARA_EPARSE;
    if (rc != 0) {
        free_all(&c);
        return rc;
    }
    *out = c.items;
    *count = c.count;
    return 0;
}

/* ---- Cluster settings files -------------------------------------------------------
 * One document, no more: a settings file describes one cluster, and a
 * second document could only be a mistake (which of the two would win?). */

typedef struct settings_one {
    cara_env *env;
    cara_diags *d;
    size_t docs;
    int rc;
    cara_settings *settings;
} settings_one;

static int on_settings_document(void *ctx, doc *dc)
{
    settings_one *c = ctx;
    if (++c->docs > 1) {
        cara_diags_add_at(c->d, dc->root->line, dc->root->col, "",
                          "a settings file holds one document, found a second");
        return CARA_ELIMIT;
    }
    c->rc = bind_settings(c->env, dc->root, c->d, &c->settings);
    return c->rc == CARA_ENOMEM ? CARA_ENOMEM : 0;
}

int cara_settings_parse(cara_env *env, const char *text, size_t len, cara_diags *d,
                        cara_settings **out)
{
    CARA_ASSERT(env != NULL && d != NULL && out != NULL);
    *out = NULL;
    settings_one c = {.env = env, .d = d};
    int rc = doc_from_yaml(env, text, len, d, on_settings_document, &c);
    cara_diags_reset_pos(d);
    if (rc == 0 && c.docs == 0) {
        cara_diags_add(d, "", "no ClusterSettings in the file (it has no documents)");
        rc = CARA_EPARSE;
    }
    if (rc == 0)
        rc = c.rc;
    if (rc == CARA_ELIMIT || rc == CARA_ETOOBIG)
        rc = CARA_EPARSE;
    if (rc != 0) {
        cara_settings_free(env, c.settings);
        return rc;
    }
    *out = c.settings;
    return 0;
}
