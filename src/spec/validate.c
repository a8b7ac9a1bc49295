/*
 * Validation of a Project: every rule of DESIGN.md §3 and every cap of
 * limits.h, on the model alone (no input text, no clock). Each problem is
 * reported with its field path; the binder calls this on half-bound
 * objects too, so every pointer may be NULL where the input lacked it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spec/validate_int.h"

void verr(vctx *v, const char *path, const char *fmt, ...)
{
    char msg[CARA_ERROR_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cara_diags_add(v->d, path, "%s", msg);
    v->bad = true;
}

void pathf(char out[BIND_PATH_BYTES], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, BIND_PATH_BYTES, fmt, ap);
    va_end(ap);
}

const char *vpath(vctx *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->path, sizeof v->path, fmt, ap);
    va_end(ap);
    return v->path;
}

bool check_required(vctx *v, const char *path, const char *s)
{
    if (s == NULL)
        verr(v, path, "required field is missing");
    return s != NULL;
}

void check_dns_label(vctx *v, const char *path, const char *s)
{
    char q[QUOTE_BYTES];
    if (!check_required(v, path, s) || cara_dns_label_valid(s, strlen(s)))
        return;
    quote(q, sizeof q, s, strlen(s));
    verr(v, path, "%s is not a DNS label (" DNS_LABEL_RULE ")", q);
}

void check_count(vctx *v, const char *path, size_t count, size_t max)
{
    if (count > max)
        verr(v, path, "at most %zu items are allowed, got %zu", max, count);
}

void check_bytes(vctx *v, const char *path, const char *s, size_t max)
{
    if (s != NULL && strlen(s) > max)
        verr(v, path, "must be at most %zu bytes, got %zu", max, strlen(s));
}

void check_strv(vctx *v, const char *path, char **items, size_t count)
{
    check_count(v, path, count, CARA_ARGS_COUNT_MAX);
    for (size_t i = 0; i < count; i++) {
        char p[BIND_PATH_BYTES];
        pathf(p, "%s[%zu]", path, i);
        if (check_required(v, p, items[i]))
            check_bytes(v, p, items[i], CARA_ARG_BYTES_MAX);
    }
}

static bool str_same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

void check_labels(vctx *v, const char *path, const cara_kv *kv, size_t count, size_t max)
{
    char q[QUOTE_BYTES], p[BIND_PATH_BYTES];
    if (count > max) {
        verr(v, path, "at most %zu entries are allowed, got %zu", max, count);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (kv[i].name == NULL)
            continue; /* the binder said why */
        pathf(p, "%s.%.64s", path, kv[i].name);
        if (!label_key_valid(kv[i].name, strlen(kv[i].name))) {
            quote(q, sizeof q, kv[i].name, strlen(kv[i].name));
            verr(v, path,
                 "%s is not a valid label key (an optional DNS name and '/', then 1 to 63 "
                 "letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
                 q);
        }
        if (kv[i].value != NULL && !label_value_valid(kv[i].value, strlen(kv[i].value))) {
            quote(q, sizeof q, kv[i].value, strlen(kv[i].value));
            verr(v, p,
                 "%s is not a valid label value (at most 63 letters, digits, '-', '_' or '.', "
                 "starting and ending with a letter or digit)",
                 q);
        }
        for (size_t j = 0; j < i; j++)
            if (str_same(kv[j].name, kv[i].name))
                verr(v, p, "duplicate key");
    }
}

void check_resources(vctx *v, const char *path, const cara_resources *r)
{
    if (r->cpu_millis > CARA_CPU_MILLIS_MAX)
        verr(v, vpath(v, "%s.cpu", path), "must be at most %llu millicores, got %llu",
             CARA_CPU_MILLIS_MAX, (unsigned long long)r->cpu_millis);
    if (r->memory_bytes > CARA_MEMORY_BYTES_MAX)
        verr(v, vpath(v, "%s.memory", path), "must be at most %llu bytes, got %llu",
             CARA_MEMORY_BYTES_MAX, (unsigned long long)r->memory_bytes);
}

/* ---- Project ------------------------------------------------------------------- */

static void check_volumes(vctx *v, const cara_project *p)
{
    check_count(v, "spec.volumes", p->volumes_count, CARA_VOLUMES_COUNT_MAX);
    for (size_t i = 0; i < p->volumes_count; i++) {
        const cara_volume *vol = &p->volumes[i];
        check_dns_label(v, vpath(v, "spec.volumes[%zu].name", i), vol->name);
        for (size_t j = 0; j < i; j++) {
            if (str_same(p->volumes[j].name, vol->name)) {
                verr(v, vpath(v, "spec.volumes[%zu].name", i),
                     "volume name \"%s\" is already used by spec.volumes[%zu]", vol->name, j);
                break;
            }
        }
        if (vol->type != CARA_VOLUME_EPHEMERAL)
            verr(v, vpath(v, "spec.volumes[%zu].type", i), "volume type is not supported (only Ephemeral)");
    }
}

static void check_services(vctx *v, const cara_project *p)
{
    if (p->services_count == 0)
        verr(v, "spec.services", "must not be empty");
    check_count(v, "spec.services", p->services_count, CARA_SERVICES_COUNT_MAX);
    for (size_t i = 0; i < p->services_count; i++) {
        check_service(v, p, i);
        const char *name = p->services[i].name;
        for (size_t j = 0; j < i; j++) {
            if (str_same(p->services[j].name, name)) {
                verr(v, vpath(v, "spec.services[%zu].name", i),
                     "service name \"%s\" is already used by spec.services[%zu]", name, j);
                break;
            }
        }
    }
}

int cara_project_validate(const cara_project *p, cara_diags *d)
{
    CARA_ASSERT(p != NULL && d != NULL);
    vctx v = {.d = d};
    check_dns_label(&v, "metadata.name", p->name);
    check_labels(&v, "metadata.labels", p->labels, p->labels_count, CARA_LABELS_COUNT_MAX);
    check_services(&v, p);
    check_volumes(&v, p);
    check_ingress(&v, p);
    check_labels(&v, "spec.nodeSelector", p->node_selector, p->node_selector_count,
                 CARA_NODE_SELECTOR_COUNT_MAX);
    return v.bad ? CARA_ESCHEMA : 0;
}
