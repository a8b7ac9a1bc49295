/* Helpers shared by the spec tests: parse a manifest from a string and
 * check the diagnostics it produced. */
#ifndef CARA_TEST_SPEC_UTIL_H
#define CARA_TEST_SPEC_UTIL_H

#include "harness.h"
#include "spec/spec.h"

/* A valid project that exercises every field; tests mutate it. */
#define SPEC_BASE_YAML                                                        \
    "apiVersion: caravanserai/v1\n"                                           \
    "kind: Project\n"                                                         \
    "metadata:\n"                                                             \
    "  name: wordpress\n"                                                     \
    "  labels: {team: web, app.kubernetes.io/name: wp}\n"                     \
    "spec:\n"                                                                 \
    "  services:\n"                                                           \
    "    - name: db\n"                                                        \
    "      image: mysql:8\n"                                                  \
    "      env: [{name: MYSQL_ROOT_PASSWORD, value: secret}]\n"               \
    "      volumeMounts: [{name: data, mountPath: /var/lib/mysql}]\n"         \
    "      ports: [{containerPort: 3306}]\n"                                  \
    "    - name: app\n"                                                       \
    "      image: docker.io/library/wordpress:6\n"                            \
    "      command: [docker-entrypoint.sh]\n"                                 \
    "      args: [apache2-foreground]\n"                                      \
    "      env: [{name: WORDPRESS_DB_HOST, value: db}]\n"                     \
    "      ports: [{containerPort: 80, name: http}]\n"                        \
    "      healthCheck: {command: [curl, -f, http://localhost/]}\n"           \
    "      resources: {cpu: 500m, memory: 256Mi}\n"                           \
    "  volumes: [{name: data, type: Ephemeral}]\n"                            \
    "  ingress:\n"                                                            \
    "    - name: web\n"                                                       \
    "      host: blog\n"                                                      \
    "      target: {service: app, port: 80}\n"                                \
    "      access: {scope: Internal}\n"                                       \
    "  nodeSelector: {disk: ssd}\n"                                           \
    "  expireAt: \"2026-12-01T00:00:00Z\"\n"

/* Parses `text` as a manifest into `d` (initialised here, source "t.yaml").
 * Returns the rc; *out gets the first project or NULL (the rest freed). */
static inline int spec_parse(const char *text, cara_diags *d, cara_project **out)
{
    cara_env *env = cara_test_env();
    cara_diags_init(d, env, "t.yaml");
    cara_project **ps = NULL;
    size_t n = 0;
    int rc = cara_manifest_parse(env, text, strlen(text), d, &ps, &n);
    *out = n > 0 ? ps[0] : NULL;
    for (size_t i = 1; i < n; i++)
        cara_project_free(env, ps[i]);
    cara_env_free(env, ps);
    return rc;
}

/* The formatted diagnostic i. */
static inline const char *spec_diag(const cara_diags *d, size_t i)
{
    static char line[1024];
    CHECK(i < d->count);
    cara_diags_format(d, i, line, sizeof line);
    return line;
}

/* Parses a text that must fail with exactly one error, formatted as `want`. */
#define CHECK_ONE_ERROR(text, want)                                          \
    do {                                                                     \
        cara_diags d_;                                                       \
        cara_project *p_;                                                    \
        CHECK(spec_parse((text), &d_, &p_) != 0);                            \
        CHECK(p_ == NULL);                                                   \
        CHECK_INT(d_.count, ==, 1);                                          \
        CHECK_STR(spec_diag(&d_, 0), (want));                                \
        cara_diags_free(&d_);                                                \
    } while (0)

#endif
