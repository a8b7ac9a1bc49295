/* One test per validation rule: each breaks one rule in a valid model and
 * checks the exact path and message of the one error it causes. */
#include "spec/bind_int.h"
#include "spec_util.h"

static const char *image_ref_problem_for_test(const char *s)
{
    return image_ref_problem(s, strlen(s));
}

static cara_project *base(void)
{
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(SPEC_BASE_YAML, &d, &p));
    CHECK_INT(d.count, ==, 0);
    cara_diags_free(&d);
    return p;
}

static void set(char **slot, const char *value)
{
    cara_env *env = cara_test_env();
    cara_env_free(env, *slot);
    *slot = value ? cara_env_strndup(env, value, strlen(value)) : NULL;
}

/* Validates `p` and checks that it has exactly one problem, at `path`. */
static void expect_one(const cara_project *p, const char *path, const char *message)
{
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_RC(cara_project_validate(p, &d), CARA_ESCHEMA);
    if (d.count != 1)
        for (size_t i = 0; i < d.count; i++)
            fprintf(stderr, "  %s: %s\n", d.items[i].path, d.items[i].message);
    CHECK_INT(d.count, ==, 1);
    CHECK_STR(d.items[0].path, path);
    CHECK_STR(d.items[0].message, message);
    cara_diags_free(&d);
}

#define LABEL_RULE                                                                         \
    "is not a DNS label (lowercase letters, digits and '-', 1 to 63 characters, starting " \
    "and ending with a letter or digit)"

TEST(base_project_is_valid)
{
    cara_project *p = base();
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_OK(cara_project_validate(p, &d));
    CHECK_INT(d.count, ==, 0);
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(project_name_is_a_dns_label)
{
    cara_project *p = base();
    set(&p->name, "Word_Press");
    expect_one(p, "metadata.name", "\"Word_Press\" " LABEL_RULE);
    set(&p->name, "-wp");
    expect_one(p, "metadata.name", "\"-wp\" " LABEL_RULE);
    set(&p->name, NULL);
    expect_one(p, "metadata.name", "required field is missing");
    cara_project_free(cara_test_env(), p);
}

TEST(service_name_is_a_dns_label)
{
    cara_project *p = base();
    set(&p->services[0].name, "DB");
    expect_one(p, "spec.services[0].name", "\"DB\" " LABEL_RULE);
    cara_project_free(cara_test_env(), p);
}

TEST(service_names_are_unique)
{
    cara_project *p = base();
    set(&p->services[0].name, "app");
    expect_one(p, "spec.services[1].name", "service name \"app\" is already used by spec.services[0]");
    cara_project_free(cara_test_env(), p);
}

TEST(services_are_required)
{
    cara_project *p = base();
    size_t n = p->services_count, m = p->ingress_count;
    p->services_count = 0;
    p->ingress_count = 0; /* its target would be undeclared too */
    expect_one(p, "spec.services", "must not be empty");
    p->services_count = n;
    p->ingress_count = m;
    cara_project_free(cara_test_env(), p);
}

TEST(volume_name_is_a_dns_label)
{
    cara_project *p = base();
    set(&p->volumes[0].name, "da.ta");
    set(&p->services[0].mounts[0].name, "da.ta");
    expect_one(p, "spec.volumes[0].name", "\"da.ta\" " LABEL_RULE);
    cara_project_free(cara_test_env(), p);
}

TEST(volume_names_are_unique)
{
    cara_env *env = cara_test_env();
    cara_project *p = base();
    cara_volume *v = cara_env_realloc(env, p->volumes, 2 * sizeof *v);
    CHECK(v != NULL);
    p->volumes = v;
    v[1] = (cara_volume){.name = cara_env_strndup(env, "data", 4)};
    p->volumes_count = 2;
    expect_one(p, "spec.volumes[1].name", "volume name \"data\" is already used by spec.volumes[0]");
    cara_project_free(env, p);
}

TEST(volume_mount_names_a_declared_volume)
{
    cara_project *p = base();
    set(&p->services[0].mounts[0].name, "dta");
    expect_one(p, "spec.services[0].volumeMounts[0].name", "volume \"dta\" is not declared");
    cara_project_free(cara_test_env(), p);
}

TEST(mount_path_is_absolute)
{
    cara_project *p = base();
    set(&p->services[0].mounts[0].mount_path, "var/lib/mysql");
    expect_one(p, "spec.services[0].volumeMounts[0].mountPath",
               "mount path \"var/lib/mysql\" must be absolute");
    cara_project_free(cara_test_env(), p);
}

TEST(mount_path_has_no_dotdot_component)
{
    cara_project *p = base();
    set(&p->services[0].mounts[0].mount_path, "/var/..");
    expect_one(p, "spec.services[0].volumeMounts[0].mountPath",
               "mount path \"/var/..\" must not contain \"..\"");
    set(&p->services[0].mounts[0].mount_path, "/var/..data"); /* a name, not a component */
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_OK(cara_project_validate(p, &d));
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(mount_path_is_not_root)
{
    cara_project *p = base();
    set(&p->services[0].mounts[0].mount_path, "//");
    expect_one(p, "spec.services[0].volumeMounts[0].mountPath",
               "mount path \"//\" would hide the whole container filesystem");
    cara_project_free(cara_test_env(), p);
}

TEST(mount_paths_are_unique_within_a_service)
{
    cara_env *env = cara_test_env();
    cara_project *p = base();
    cara_service *s = &p->services[0];
    cara_volume_mount *m = cara_env_realloc(env, s->mounts, 2 * sizeof *m);
    CHECK(m != NULL);
    s->mounts = m;
    m[1] = (cara_volume_mount){.name = cara_env_strndup(env, "data", 4),
                               .mount_path = cara_env_strndup(env, "/var/lib/mysql/", 15)};
    s->mounts_count = 2;
    expect_one(p, "spec.services[0].volumeMounts[1].mountPath",
               "mount path \"/var/lib/mysql/\" is already used by spec.services[0].volumeMounts[0]");
    cara_project_free(env, p);
}

TEST(ingress_target_names_a_declared_service)
{
    cara_project *p = base();
    set(&p->ingress[0].target_service, "ap");
    expect_one(p, "spec.ingress[0].target.service", "service \"ap\" is not declared");
    cara_project_free(cara_test_env(), p);
}

TEST(ingress_target_port_is_in_range)
{
    cara_project *p = base();
    p->ingress[0].target_port = 0;
    expect_one(p, "spec.ingress[0].target.port", "must be between 1 and 65535, got 0");
    cara_project_free(cara_test_env(), p);
}

TEST(ingress_name_is_a_dns_label)
{
    cara_project *p = base();
    set(&p->ingress[0].name, "web_1");
    expect_one(p, "spec.ingress[0].name", "\"web_1\" " LABEL_RULE);
    cara_project_free(cara_test_env(), p);
}

TEST(ingress_host_with_a_dot_is_a_dns_name)
{
    cara_project *p = base();
    set(&p->ingress[0].host, "blog.example.com");
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_OK(cara_project_validate(p, &d));
    cara_diags_free(&d);
    set(&p->ingress[0].host, "blog.Example.com");
    expect_one(p, "spec.ingress[0].host",
               "\"blog.Example.com\" is not a DNS name (DNS labels separated by dots, at most 253 "
               "characters)");
    set(&p->ingress[0].host, "Blog");
    expect_one(p, "spec.ingress[0].host", "\"Blog\" " LABEL_RULE);
    cara_project_free(cara_test_env(), p);
}

static cara_project *two_ingresses(void)
{
    cara_env *env = cara_test_env();
    cara_project *p = base();
    cara_ingress *in = cara_env_realloc(env, p->ingress, 2 * sizeof *in);
    CHECK(in != NULL);
    p->ingress = in;
    in[1] = (cara_ingress){.name = cara_env_strndup(env, "admin", 5),
                           .host = cara_env_strndup(env, "admin", 5),
                           .target_service = cara_env_strndup(env, "app", 3),
                           .target_port = 80};
    p->ingress_count = 2;
    return p;
}

TEST(ingress_names_are_unique)
{
    cara_project *p = two_ingresses();
    set(&p->ingress[1].name, "web");
    expect_one(p, "spec.ingress[1].name", "ingress name \"web\" is already used by spec.ingress[0]");
    cara_project_free(cara_test_env(), p);
}

TEST(ingress_hosts_are_unique)
{
    cara_project *p = two_ingresses();
    set(&p->ingress[1].host, "blog");
    expect_one(p, "spec.ingress[1].host", "host \"blog\" is already used by spec.ingress[0]");
    cara_project_free(cara_test_env(), p);
}

TEST(container_port_is_in_range)
{
    cara_project *p = base();
    p->services[0].ports[0].container_port = 0;
    expect_one(p, "spec.services[0].ports[0].containerPort", "must be between 1 and 65535, got 0");
    cara_project_free(cara_test_env(), p);
}

TEST(ports_are_unique_per_protocol)
{
    cara_env *env = cara_test_env();
    cara_project *p = base();
    cara_service *s = &p->services[1];
    cara_port *pt = cara_env_realloc(env, s->ports, 3 * sizeof *pt);
    CHECK(pt != NULL);
    s->ports = pt;
    pt[1] = (cara_port){.container_port = 80, .protocol = CARA_PROTO_UDP};
    pt[2] = (cara_port){.container_port = 80, .protocol = CARA_PROTO_TCP};
    s->ports_count = 3;
    expect_one(p, "spec.services[1].ports[2]", "port 80/TCP is already declared by spec.services[1].ports[0]");
    cara_project_free(env, p);
}

TEST(port_name_is_a_dns_label)
{
    cara_project *p = base();
    set(&p->services[1].ports[0].name, "HTTP");
    expect_one(p, "spec.services[1].ports[0].name", "\"HTTP\" " LABEL_RULE);
    cara_project_free(cara_test_env(), p);
}

TEST(env_name_is_printable_ascii_without_equals)
{
    cara_project *p = base();
    const char *msg_tail = " is not a valid environment variable name (printable ASCII without "
                           "'=', 1 to 255 characters)";
    char want[256];
    set(&p->services[0].env[0].name, "A=B");
    snprintf(want, sizeof want, "\"A=B\"%s", msg_tail);
    expect_one(p, "spec.services[0].env[0].name", want);
    set(&p->services[0].env[0].name, "tab\there");
    snprintf(want, sizeof want, "\"tab\\x09here\"%s", msg_tail);
    expect_one(p, "spec.services[0].env[0].name", want);
    set(&p->services[0].env[0].name, "spring.profiles.active"); /* allowed */
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_OK(cara_project_validate(p, &d));
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(env_names_are_unique_within_a_service)
{
    cara_env *env = cara_test_env();
    cara_project *p = base();
    cara_service *s = &p->services[0];
    cara_kv *kv = cara_env_realloc(env, s->env, 2 * sizeof *kv);
    CHECK(kv != NULL);
    s->env = kv;
    kv[1] = (cara_kv){cara_env_strndup(env, "MYSQL_ROOT_PASSWORD", 19), cara_env_strndup(env, "", 0)};
    s->env_count = 2;
    expect_one(p, "spec.services[0].env[1].name",
               "environment variable \"MYSQL_ROOT_PASSWORD\" is already set by spec.services[0].env[0]");
    cara_project_free(env, p);
}

TEST(env_value_is_capped)
{
    cara_env *env = cara_test_env();
    cara_project *p = base();
    char *big = cara_env_alloc(env, CARA_ENV_VALUE_BYTES_MAX + 2);
    memset(big, 'x', CARA_ENV_VALUE_BYTES_MAX + 1);
    big[CARA_ENV_VALUE_BYTES_MAX + 1] = '\0';
    cara_env_free(env, p->services[0].env[0].value);
    p->services[0].env[0].value = big;
    expect_one(p, "spec.services[0].env[0].value", "must be at most 32768 bytes, got 32769");
    cara_project_free(env, p);
}

TEST(image_reference_follows_docker_grammar)
{
    static const char *const good[] = {
        "nginx", "nginx:1.27", "library/nginx", "ghcr.io/org/app:v1.2.3",
        "localhost:5000/a/b_c__d-e--f.g:latest", "registry.example.com:443/x",
        "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "Registry.Example.com/app", "a:_tag",
    };
    static const char *const bad[][2] = {
        {"Nginx", "repository name must be lowercase"},
        {"nginx:", "tag must be 1 to 128 characters"},
        {"nginx:.x", "tag must start with a letter, digit or '_'"},
        {"nginx:a/b", "registry must be a host name with an optional port"},
        {"a..b", "repository name may only use lowercase letters, digits, '.', '_', '__' and '-'"},
        {"a___b", "repository name may only use lowercase letters, digits, '.', '_', '__' and '-'"},
        {"-a", "path components must start and end with a letter or digit"},
        {"a//b", "empty path component"},
        {"bad_host.com:x/app", "registry must be a host name with an optional port"},
        {"nginx@sha256:ABC", "digest must be \"sha256:\" and 64 lowercase hex digits"},
        {"", "must not be empty"},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        const char *why = image_ref_problem_for_test(good[i]);
        if (why != NULL)
            fprintf(stderr, "  %s: %s\n", good[i], why);
        CHECK(why == NULL);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *why = image_ref_problem_for_test(bad[i][0]);
        CHECK(why != NULL);
        CHECK_STR(why, bad[i][1]);
    }
    cara_project *p = base();
    set(&p->services[0].image, "MySQL:8");
    expect_one(p, "spec.services[0].image",
               "\"MySQL:8\" is not a valid image reference: repository name must be lowercase");
    set(&p->services[0].image, NULL);
    expect_one(p, "spec.services[0].image", "required field is missing");
    cara_project_free(cara_test_env(), p);
}

TEST(label_keys_and_values_follow_kubernetes_syntax)
{
    cara_project *p = base();
    set(&p->labels[0].name, "example.com/Team_1");
    set(&p->labels[0].value, "");
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_OK(cara_project_validate(p, &d));
    cara_diags_free(&d);
    set(&p->labels[0].name, "Example.com/team");
    expect_one(p, "metadata.labels",
               "\"Example.com/team\" is not a valid label key (an optional DNS name and '/', then 1 "
               "to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)");
    set(&p->labels[0].name, "team");
    set(&p->labels[0].value, "web-");
    expect_one(p, "metadata.labels.team",
               "\"web-\" is not a valid label value (at most 63 letters, digits, '-', '_' or '.', "
               "starting and ending with a letter or digit)");
    cara_project_free(cara_test_env(), p);
}

TEST(node_selector_follows_label_syntax)
{
    cara_project *p = base();
    set(&p->node_selector[0].value, "s s d");
    expect_one(p, "spec.nodeSelector.disk",
               "\"s s d\" is not a valid label value (at most 63 letters, digits, '-', '_' or '.', "
               "starting and ending with a letter or digit)");
    cara_project_free(cara_test_env(), p);
}

TEST(health_timings_are_capped)
{
    cara_project *p = base();
    cara_health *h = &p->services[1].health;
    CHECK_INT(h->interval_s, ==, 30); /* Docker's defaults, filled in */
    CHECK_INT(h->timeout_s, ==, 30);
    CHECK_INT(h->start_period_s, ==, 0);
    CHECK_INT(h->retries, ==, 3);
    h->interval_s = CARA_HEALTH_SECONDS_MAX + 1;
    expect_one(p, "spec.services[1].healthCheck.intervalSeconds", "must be between 1 and 86400, got 86401");
    h->interval_s = 30;
    h->retries = 0;
    expect_one(p, "spec.services[1].healthCheck.retries", "must be between 1 and 100, got 0");
    cara_project_free(cara_test_env(), p);
}

TEST(resources_are_capped)
{
    cara_project *p = base();
    p->services[1].resources.cpu_millis = CARA_CPU_MILLIS_MAX + 1;
    expect_one(p, "spec.services[1].resources.cpu", "must be at most 4096000 millicores, got 4096001");
    cara_project_free(cara_test_env(), p);
}

TEST(counts_are_capped)
{
    cara_project *p = base();
    size_t v = p->volumes_count;
    p->volumes_count = CARA_VOLUMES_COUNT_MAX + 1;
    cara_volume *big = cara_env_calloc(cara_test_env(), CARA_VOLUMES_COUNT_MAX + 1, sizeof *big);
    cara_volume *orig = p->volumes;
    for (size_t i = 0; i <= CARA_VOLUMES_COUNT_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%zu", i);
        big[i].name = cara_env_strndup(cara_test_env(), i == 0 ? "data" : name, strlen(i == 0 ? "data" : name));
    }
    p->volumes = big;
    expect_one(p, "spec.volumes", "at most 64 items are allowed, got 65");
    p->volumes = orig;
    p->volumes_count = v;
    for (size_t i = 0; i <= CARA_VOLUMES_COUNT_MAX; i++)
        cara_env_free(cara_test_env(), big[i].name);
    cara_env_free(cara_test_env(), big);
    cara_project_free(cara_test_env(), p);
}

TEST(every_problem_is_reported)
{
    cara_project *p = base();
    set(&p->name, "Bad");
    set(&p->services[0].mounts[0].name, "nope");
    set(&p->ingress[0].target_service, "nope");
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_RC(cara_project_validate(p, &d), CARA_ESCHEMA);
    CHECK_INT(d.count, ==, 3);
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

/* ---- Status and node --------------------------------------------------------- */

TEST(status_conditions_are_camel_case)
{
    cara_env *env = cara_test_env();
    cara_condition c = {.type = cara_env_strndup(env, "Phase", 5),
                        .reason = cara_env_strndup(env, "not-camel", 9)};
    cara_project_status s = {.phase = CARA_PHASE_RUNNING, .node_ref = cara_env_strndup(env, "node-1", 6),
                             .conditions = &c, .conditions_count = 1};
    cara_diags d;
    cara_diags_init(&d, env, "t");
    CHECK_RC(cara_project_status_validate(&s, &d), CARA_ESCHEMA);
    CHECK_INT(d.count, ==, 1);
    CHECK_STR(d.items[0].path, "conditions[0].reason");
    CHECK_STR(d.items[0].message, "\"not-camel\" is not a CamelCase word (letters and digits, "
                                  "starting with a capital, at most 128 characters)");
    cara_diags_free(&d);
    cara_env_free(env, c.type);
    cara_env_free(env, c.reason);
    cara_env_free(env, s.node_ref);
}

/* A valid status with three service entries, built from the env so that
 * set() can replace its strings; free with cara_project_status_free. */
static cara_project_status *status_with_services(void)
{
    cara_env *env = cara_test_env();
    cara_project_status *s = cara_env_calloc(env, 1, sizeof *s);
    s->phase = CARA_PHASE_RUNNING;
    s->services_count = 3;
    s->services = cara_env_calloc(env, 3, sizeof *s->services);
    static const char *const names[] = {"db", "app", "cache"};
    for (size_t i = 0; i < 3; i++) {
        set(&s->services[i].name, names[i]);
        s->services[i].state = (cara_svc_state)(i * 3);
    }
    set(&s->services[1].message, "Back-off restarting failed container");
    s->services[1].restarts = 7;
    return s;
}

static void expect_status_one(const cara_project_status *s, const char *path, const char *message)
{
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_RC(cara_project_status_validate(s, &d), CARA_ESCHEMA);
    if (d.count != 1)
        for (size_t i = 0; i < d.count; i++)
            fprintf(stderr, "  %s: %s\n", d.items[i].path, d.items[i].message);
    CHECK_INT(d.count, ==, 1);
    CHECK_STR(d.items[0].path, path);
    CHECK_STR(d.items[0].message, message);
    cara_diags_free(&d);
}

TEST(status_with_service_entries_is_valid)
{
    cara_project_status *s = status_with_services();
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    CHECK_OK(cara_project_status_validate(s, &d));
    CHECK_INT(d.count, ==, 0);
    cara_diags_free(&d);
    cara_project_status_free(cara_test_env(), s);
}

TEST(service_status_name_is_a_required_dns_label)
{
    cara_project_status *s = status_with_services();
    set(&s->services[2].name, "Cache_1");
    expect_status_one(s, "services[2].name", "\"Cache_1\" " LABEL_RULE);
    set(&s->services[2].name, NULL);
    expect_status_one(s, "services[2].name", "required field is missing");
    cara_project_status_free(cara_test_env(), s);
}

TEST(service_status_names_are_unique)
{
    cara_project_status *s = status_with_services();
    set(&s->services[2].name, "db");
    expect_status_one(s, "services[2].name", "service name \"db\" is already used by services[0]");
    cara_project_status_free(cara_test_env(), s);
}

TEST(service_status_state_is_a_known_state)
{
    cara_project_status *s = status_with_services();
    s->services[0].state = (cara_svc_state)(CARA_SVC_REMOVING + 1);
    expect_status_one(s, "services[0].state",
                      "must be one of Waiting, Pulling, Creating, Starting, Running, Completed, "
                      "Exited, Failed, Removing");
    cara_project_status_free(cara_test_env(), s);
}

TEST(service_status_message_and_restarts_are_capped)
{
    cara_env *env = cara_test_env();
    cara_project_status *s = status_with_services();
    char *big = cara_env_alloc(env, CARA_MESSAGE_BYTES_MAX + 2);
    memset(big, 'm', CARA_MESSAGE_BYTES_MAX + 1);
    big[CARA_MESSAGE_BYTES_MAX + 1] = '\0';
    set(&s->services[1].message, big);
    expect_status_one(s, "services[1].message", "must be at most 1024 bytes, got 1025");
    big[CARA_MESSAGE_BYTES_MAX] = '\0';
    set(&s->services[1].message, big);
    s->services[1].restarts = CARA_SVC_RESTARTS_MAX + 1;
    expect_status_one(s, "services[1].restarts", "must be between 0 and 1000000, got 1000001");
    s->services[1].restarts = CARA_SVC_RESTARTS_MAX;
    cara_diags d;
    cara_diags_init(&d, env, "t");
    CHECK_OK(cara_project_status_validate(s, &d));
    cara_diags_free(&d);
    cara_env_free(env, big);
    cara_project_status_free(env, s);
}

TEST(service_status_list_is_capped)
{
    cara_env *env = cara_test_env();
    cara_project_status *s = cara_env_calloc(env, 1, sizeof *s);
    s->services_count = CARA_SERVICES_COUNT_MAX + 1;
    s->services = cara_env_calloc(env, s->services_count, sizeof *s->services);
    for (size_t i = 0; i < s->services_count; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%zu", i % 100);
        set(&s->services[i].name, name);
    }
    expect_status_one(s, "services", "at most 64 items are allowed, got 65");
    cara_project_status_free(env, s);
}

TEST(node_addresses_are_ip_addresses)
{
    cara_env *env = cara_test_env();
    char *addrs[] = {cara_env_strndup(env, "100.64.0.1", 10), cara_env_strndup(env, "fd7a::1", 7),
                     cara_env_strndup(env, "node1", 5)};
    cara_node n = {.name = cara_env_strndup(env, "node1", 5), .addrs = addrs, .addrs_count = 3,
                   .magic_dns = cara_env_strndup(env, "node1.tail.ts.net.", 18)};
    cara_diags d;
    cara_diags_init(&d, env, "t");
    CHECK_RC(cara_node_validate(&n, &d), CARA_ESCHEMA);
    CHECK_INT(d.count, ==, 1);
    CHECK_STR(d.items[0].path, "addresses[2]");
    CHECK_STR(d.items[0].message, "\"node1\" is not an IPv4 or IPv6 address");
    cara_diags_free(&d);
    for (int i = 0; i < 3; i++)
        cara_env_free(env, addrs[i]);
    cara_env_free(env, n.name);
    cara_env_free(env, n.magic_dns);
}

/* ---- Names and the host rule ----------------------------------------------------- */

TEST(dns_labels_and_names)
{
    CHECK(cara_dns_label_valid("a", 1));
    CHECK(cara_dns_label_valid("a-1", 3));
    CHECK(!cara_dns_label_valid("", 0));
    CHECK(!cara_dns_label_valid("a-", 2));
    CHECK(!cara_dns_label_valid("A", 1));
    char label[CARA_NAME_BYTES_MAX + 2];
    memset(label, 'a', sizeof label);
    CHECK(cara_dns_label_valid(label, CARA_NAME_BYTES_MAX));
    CHECK(!cara_dns_label_valid(label, CARA_NAME_BYTES_MAX + 1));
    CHECK(cara_dns_name_valid("a.b.c", 5));
    CHECK(!cara_dns_name_valid("a..c", 4));
    CHECK(!cara_dns_name_valid("a.", 2));
    CHECK(!cara_dns_name_valid(".a", 2));
}

TEST(ingress_host_rule_expands_labels_only)
{
    char out[CARA_HOSTNAME_BYTES_MAX + 1];
    CHECK_OK(cara_ingress_fqdn("blog", "staging", "example.net", out));
    CHECK_STR(out, "blog.staging.example.net");
    CHECK_OK(cara_ingress_fqdn("www.example.org", "staging", "example.net", out));
    CHECK_STR(out, "www.example.org");
    CHECK_RC(cara_ingress_fqdn("blog", "Staging", "example.net", out), CARA_EINVAL);
    char longdom[300];
    memset(longdom, 'a', sizeof longdom);
    for (size_t i = 60; i < 299; i += 61)
        longdom[i] = '.';
    longdom[299] = '\0';
    CHECK_RC(cara_ingress_fqdn("blog", "env", longdom, out), CARA_ETOOBIG);
}
