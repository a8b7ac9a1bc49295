/* Validation of one service (image, env, mounts, ports, health) and of the
 * ingress list, whose targets refer to services. */
#include <stdio.h>
#include <string.h>

#include "spec/validate_int.h"

static bool str_same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void check_image(vctx *v, const char *path, const char *image)
{
    if (!check_required(v, path, image))
        return;
    const char *why = image_ref_problem(image, strlen(image));
    if (why != NULL) {
        char q[QUOTE_BYTES];
        quote(q, sizeof q, image, strlen(image));
        verr(v, path, "%s is not a valid image reference: %s", q, why);
    }
}

static void check_env(vctx *v, const char *svc, const cara_service *s)
{
    char p[BIND_PATH_BYTES], q[QUOTE_BYTES];
    pathf(p, "%s.env", svc);
    check_count(v, p, s->env_count, CARA_ENV_COUNT_MAX);
    for (size_t i = 0; i < s->env_count; i++) {
        const cara_kv *e = &s->env[i];
        pathf(p, "%s.env[%zu].name", svc, i);
        if (!check_required(v, p, e->name))
            continue;
        if (!env_name_valid(e->name, strlen(e->name))) {
            quote(q, sizeof q, e->name, strlen(e->name));
            verr(v, p,
                 "%s is not a valid environment variable name (printable ASCII without '=', "
                 "1 to %d characters)",
                 q, CARA_ENV_NAME_BYTES_MAX);
        }
        for (size_t j = 0; j < i; j++) {
            if (str_same(s->env[j].name, e->name)) {
                quote(q, sizeof q, e->name, strlen(e->name));
                verr(v, p, "environment variable %s is already set by %s.env[%zu]", q, svc, j);
                break;
            }
        }
        pathf(p, "%s.env[%zu].value", svc, i);
        check_bytes(v, p, e->value, CARA_ENV_VALUE_BYTES_MAX);
    }
}

static bool declared_volume(const cara_project *p, const char *name)
{
    for (size_t i = 0; i < p->volumes_count; i++)
        if (str_same(p->volumes[i].name, name))
            return true;
    return false;
}

/* Paths compare without trailing slashes: "/data/" and "/data" are one mount. */
static bool same_mount_path(const char *a, const char *b)
{
    size_t alen = strlen(a), blen = strlen(b);
    while (alen > 1 && a[alen - 1] == '/')
        alen--;
    while (blen > 1 && b[blen - 1] == '/')
        blen--;
    return alen == blen && memcmp(a, b, alen) == 0;
}

static bool has_dotdot(const char *s)
{
    for (const char *c = s; (c = strstr(c, "..")) != NULL; c += 2)
        if ((c == s || c[-1] == '/') && (c[2] == '\0' || c[2] == '/'))
            return true;
    return false;
}

static void check_mount_path(vctx *v, const char *path, const char *mp)
{
    char q[QUOTE_BYTES];
    if (!check_required(v, path, mp))
        return;
    quote(q, sizeof q, mp, strlen(mp));
    if (strlen(mp) > CARA_PATH_BYTES_MAX)
        verr(v, path, "must be at most %d bytes, got %zu", CARA_PATH_BYTES_MAX, strlen(mp));
    else if (mp[0] != '/')
        verr(v, path, "mount path %s must be absolute", q);
    else if (strspn(mp, "/") == strlen(mp))
        verr(v, path, "mount path %s would hide the whole container filesystem", q);
    else if (has_dotdot(mp))
        verr(v, path, "mount path %s must not contain \"..\"", q);
}

static void check_mounts(vctx *v, const cara_project *p, const char *svc, const cara_service *s)
{
    char p1[BIND_PATH_BYTES], q[QUOTE_BYTES];
    pathf(p1, "%s.volumeMounts", svc);
    check_count(v, p1, s->mounts_count, CARA_MOUNTS_COUNT_MAX);
    for (size_t i = 0; i < s->mounts_count; i++) {
        const cara_volume_mount *m = &s->mounts[i];
        pathf(p1, "%s.volumeMounts[%zu].name", svc, i);
        if (check_required(v, p1, m->name) && !declared_volume(p, m->name)) {
            quote(q, sizeof q, m->name, strlen(m->name));
            verr(v, p1, "volume %s is not declared", q);
        }
        pathf(p1, "%s.volumeMounts[%zu].mountPath", svc, i);
        check_mount_path(v, p1, m->mount_path);
        for (size_t j = 0; j < i && m->mount_path != NULL; j++) {
            if (s->mounts[j].mount_path != NULL &&
                same_mount_path(s->mounts[j].mount_path, m->mount_path)) {
                quote(q, sizeof q, m->mount_path, strlen(m->mount_path));
                verr(v, p1, "mount path %s is already used by %s.volumeMounts[%zu]", q, svc, j);
                break;
            }
        }
    }
}

static void check_ports(vctx *v, const char *svc, const cara_service *s)
{
    char p1[BIND_PATH_BYTES];
    pathf(p1, "%s.ports", svc);
    check_count(v, p1, s->ports_count, CARA_PORTS_COUNT_MAX);
    for (size_t i = 0; i < s->ports_count; i++) {
        const cara_port *pt = &s->ports[i];
        pathf(p1, "%s.ports[%zu].containerPort", svc, i);
        if (pt->container_port == 0)
            verr(v, p1, "must be between 1 and 65535, got 0");
        if (pt->name != NULL) {
            pathf(p1, "%s.ports[%zu].name", svc, i);
            check_dns_label(v, p1, pt->name);
        }
        for (size_t j = 0; j < i && pt->container_port != 0; j++) {
            if (s->ports[j].container_port == pt->container_port &&
                s->ports[j].protocol == pt->protocol) {
                pathf(p1, "%s.ports[%zu]", svc, i);
                verr(v, p1, "port %u/%s is already declared by %s.ports[%zu]",
                     (unsigned)pt->container_port, pt->protocol == CARA_PROTO_UDP ? "UDP" : "TCP",
                     svc, j);
                break;
            }
        }
    }
}

static void check_seconds(vctx *v, const char *path, uint32_t value, uint32_t min, uint32_t max)
{
    if (value < min || value > max)
        verr(v, path, "must be between %u and %u, got %u", min, max, value);
}

static void check_health(vctx *v, const char *svc, const cara_health *h)
{
    char p1[BIND_PATH_BYTES];
    if (h->command_count == 0)
        return; /* no health check */
    pathf(p1, "%s.healthCheck.command", svc);
    check_strv(v, p1, h->command, h->command_count);
    pathf(p1, "%s.healthCheck.intervalSeconds", svc);
    check_seconds(v, p1, h->interval_s, 1, CARA_HEALTH_SECONDS_MAX);
    pathf(p1, "%s.healthCheck.timeoutSeconds", svc);
    check_seconds(v, p1, h->timeout_s, 1, CARA_HEALTH_SECONDS_MAX);
    pathf(p1, "%s.healthCheck.startPeriodSeconds", svc);
    check_seconds(v, p1, h->start_period_s, 0, CARA_HEALTH_SECONDS_MAX);
    pathf(p1, "%s.healthCheck.retries", svc);
    check_seconds(v, p1, h->retries, 1, CARA_HEALTH_RETRIES_MAX);
}

void check_service(vctx *v, const cara_project *p, size_t i)
{
    const cara_service *s = &p->services[i];
    char svc[BIND_PATH_BYTES], p1[BIND_PATH_BYTES];
    pathf(svc, "spec.services[%zu]", i);
    pathf(p1, "%s.name", svc);
    check_dns_label(v, p1, s->name);
    pathf(p1, "%s.image", svc);
    check_image(v, p1, s->image);
    pathf(p1, "%s.command", svc);
    check_strv(v, p1, s->command, s->command_count);
    pathf(p1, "%s.args", svc);
    check_strv(v, p1, s->args, s->args_count);
    check_env(v, svc, s);
    check_mounts(v, p, svc, s);
    check_ports(v, svc, s);
    if ((unsigned)s->restart > CARA_RESTART_NEVER) {
        pathf(p1, "%s.restartPolicy", svc);
        verr(v, p1, "must be one of Always, OnFailure, Never");
    }
    check_health(v, svc, &s->health);
    pathf(p1, "%s.resources", svc);
    check_resources(v, p1, &s->resources);
}

/* ---- Ingress ----------------------------------------------------------------- */

static bool declared_service(const cara_project *p, const char *name)
{
    for (size_t i = 0; i < p->services_count; i++)
        if (str_same(p->services[i].name, name))
            return true;
    return false;
}

/* A host without a dot is a label that gets the cluster's suffix; one with
 * a dot is a full name used as given (see cara_ingress_fqdn). */
static void check_host(vctx *v, const char *path, const char *host)
{
    char q[QUOTE_BYTES];
    if (!check_required(v, path, host))
        return;
    if (strchr(host, '.') == NULL) {
        check_dns_label(v, path, host);
    } else if (!cara_dns_name_valid(host, strlen(host))) {
        quote(q, sizeof q, host, strlen(host));
        verr(v, path, "%s is not a DNS name (DNS labels separated by dots, at most %d characters)",
             q, CARA_HOSTNAME_BYTES_MAX);
    }
}

static void check_one_ingress(vctx *v, const cara_project *p, size_t i)
{
    const cara_ingress *in = &p->ingress[i];
    char p1[BIND_PATH_BYTES], q[QUOTE_BYTES];
    pathf(p1, "spec.ingress[%zu].name", i);
    check_dns_label(v, p1, in->name);
    for (size_t j = 0; j < i; j++) {
        if (str_same(p->ingress[j].name, in->name)) {
            verr(v, p1, "ingress name \"%s\" is already used by spec.ingress[%zu]", in->name, j);
            break;
        }
    }
    pathf(p1, "spec.ingress[%zu].host", i);
    check_host(v, p1, in->host);
    for (size_t j = 0; j < i; j++) {
        if (str_same(p->ingress[j].host, in->host)) {
            quote(q, sizeof q, in->host, strlen(in->host));
            verr(v, p1, "host %s is already used by spec.ingress[%zu]", q, j);
            break;
        }
    }
    pathf(p1, "spec.ingress[%zu].target.service", i);
    if (check_required(v, p1, in->target_service) && !declared_service(p, in->target_service)) {
        quote(q, sizeof q, in->target_service, strlen(in->target_service));
        verr(v, p1, "service %s is not declared", q);
    }
    pathf(p1, "spec.ingress[%zu].target.port", i);
    if (in->target_port == 0)
        verr(v, p1, "must be between 1 and 65535, got 0");
    if (in->scope != CARA_SCOPE_INTERNAL) {
        pathf(p1, "spec.ingress[%zu].access.scope", i);
        verr(v, p1, "access scope is not supported (only Internal)");
    }
}

void check_ingress(vctx *v, const cara_project *p)
{
    check_count(v, "spec.ingress", p->ingress_count, CARA_INGRESS_COUNT_MAX);
    for (size_t i = 0; i < p->ingress_count; i++)
        check_one_ingress(v, p, i);
}
