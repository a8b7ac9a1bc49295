/* What a Project becomes in Docker: names, labels and request bodies. */
#include "agent/objects.h"
#include "harness.h"

static cara_project *parse(const char *yaml)
{
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "test.yaml");
    cara_project **ps = NULL;
    size_t n = 0;
    int rc = cara_manifest_parse(cara_test_env(), yaml, strlen(yaml), &d, &ps, &n);
    if (rc != 0 && d.count > 0) {
        char line[1024];
        cara_diags_format(&d, 0, line, sizeof line);
        cara_test_fail(__FILE__, __LINE__, "%s", line);
    }
    CHECK_OK(rc);
    CHECK_INT(n, ==, 1);
    cara_project *p = ps[0];
    cara_env_free(cara_test_env(), ps);
    cara_diags_free(&d);
    return p;
}

static const char *const manifest =
    "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: shop}\n"
    "spec:\n"
    "  services:\n"
    "    - name: web\n"
    "      image: busybox:1\n"
    "      command: [httpd]\n"
    "      args: [-f, -p, '8080']\n"
    "      env: [{name: A, value: 'x=y'}]\n"
    "      volumeMounts: [{name: data, mountPath: /srv, readOnly: true}]\n"
    "      ports: [{containerPort: 8080}, {containerPort: 53, protocol: UDP}]\n"
    "      restartPolicy: OnFailure\n"
    "      healthCheck: {command: [wget, -q, localhost:8080], intervalSeconds: 5}\n"
    "      resources: {cpu: 250m, memory: 64Mi}\n"
    "  volumes: [{name: data}]\n";

TEST(objects_are_named_after_project_service_and_volume)
{
    cara_project *p = parse(manifest);
    char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
    cara_obj_network_name(p, name);
    CHECK_STR(name, "cara-shop");
    cara_obj_volume_name(p, &p->volumes[0], name);
    CHECK_STR(name, "cara-shop-data");
    cara_obj_container_name(p, &p->services[0], name);
    CHECK_STR(name, "shop-web");
    cara_project_free(cara_test_env(), p);
}

static const char *str_at(json_t *j, const char *path)
{
    /* path like "Labels/io.caravanserai.node" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = j;
    for (char *tok = strtok(buf, "/"); tok && cur; tok = strtok(NULL, "/"))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(tok)) : json_object_get(cur, tok);
    return json_string_value(cur);
}

TEST(container_body_carries_labels_alias_mounts_and_limits)
{
    cara_project *p = parse(manifest);
    json_t *b = cara_obj_container_body(p, &p->services[0], "node-a", "abc123");
    CHECK_STR(str_at(b, "Image"), "busybox:1");
    CHECK_STR(str_at(b, "Labels/io.caravanserai.project"), "shop");
    CHECK_STR(str_at(b, "Labels/io.caravanserai.service"), "web");
    CHECK_STR(str_at(b, "Labels/io.caravanserai.node"), "node-a");
    CHECK_STR(str_at(b, "Labels/io.caravanserai.spec-hash"), "abc123");
    CHECK_STR(str_at(b, "NetworkingConfig/EndpointsConfig/cara-shop/Aliases/0"), "web");
    CHECK_STR(str_at(b, "Entrypoint/0"), "httpd");
    CHECK_STR(str_at(b, "Cmd/2"), "8080");
    CHECK_STR(str_at(b, "Env/0"), "A=x=y");
    CHECK_STR(str_at(b, "HostConfig/Mounts/0/Source"), "cara-shop-data");
    CHECK_STR(str_at(b, "HostConfig/Mounts/0/Target"), "/srv");
    CHECK(json_is_true(json_object_get(json_array_get(json_object_get(json_object_get(b, "HostConfig"), "Mounts"), 0), "ReadOnly")));
    CHECK_STR(str_at(b, "HostConfig/RestartPolicy/Name"), "no"); /* the agent restarts */
    json_t *hc = json_object_get(b, "HostConfig");
    CHECK_INT(json_integer_value(json_object_get(hc, "NanoCpus")), ==, 250000000LL);
    CHECK_INT(json_integer_value(json_object_get(hc, "Memory")), ==, 64LL * 1024 * 1024);
    json_t *ports = json_object_get(b, "ExposedPorts");
    CHECK(json_object_get(ports, "8080/tcp") != NULL);
    CHECK(json_object_get(ports, "53/udp") != NULL);
    CHECK_STR(str_at(b, "Healthcheck/Test/0"), "CMD");
    CHECK_STR(str_at(b, "Healthcheck/Test/1"), "wget");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(b, "Healthcheck"), "Interval")), ==, 5000000000LL);
    json_decref(b);
    cara_project_free(cara_test_env(), p);
}

TEST(network_body_asks_the_engine_to_refuse_duplicates)
{
    cara_project *p = parse(manifest);
    json_t *b = cara_obj_network_body(p, "node-a", NULL, NULL);
    CHECK_STR(str_at(b, "Name"), "cara-shop");
    CHECK(json_is_true(json_object_get(b, "CheckDuplicate")));
    CHECK_STR(str_at(b, "Labels/io.caravanserai.node"), "node-a");
    json_decref(b);
    b = cara_obj_volume_body(p, &p->volumes[0], "node-a");
    CHECK_STR(str_at(b, "Name"), "cara-shop-data");
    CHECK_STR(str_at(b, "Labels/io.caravanserai.volume"), "data");
    json_decref(b);
    cara_project_free(cara_test_env(), p);
}
