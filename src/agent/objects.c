#include "agent/objects.h"

#include <stdio.h>

void cara_obj_network_name(const cara_project *p, char *out)
{
    snprintf(out, CARA_OBJECT_NAME_BYTES_MAX + 1, "cara-%s", p->name);
}

void cara_obj_volume_name(const cara_project *p, const cara_volume *v, char *out)
{
    snprintf(out, CARA_OBJECT_NAME_BYTES_MAX + 1, "cara-%s-%s", p->name, v->name);
}

void cara_obj_container_name(const cara_project *p, const cara_service *s, char *out)
{
    snprintf(out, CARA_OBJECT_NAME_BYTES_MAX + 1, "%s-%s", p->name, s->name);
}

static json_t *labels(const cara_project *p, const char *node)
{
    return json_pack("{s:s, s:s, s:s}", CARA_LABEL_MANAGED, "true", CARA_LABEL_PROJECT, p->name,
                     CARA_LABEL_NODE, node);
}

json_t *cara_obj_network_body(const cara_project *p, const char *node, const char *subnet,
                              const char *gateway)
{
    char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
    cara_obj_network_name(p, name);
    /* CheckDuplicate: without it Engine 20.10 creates a second network of
     * the same name, after which every use by name fails as ambiguous. */
    json_t *body = json_pack("{s:s, s:s, s:b, s:b, s:o}", "Name", name, "Driver", "bridge",
                             "CheckDuplicate", 1, "Attachable", 1, "Labels", labels(p, node));
    if (body != NULL && subnet != NULL)
        json_object_set_new(body, "IPAM",
                            json_pack("{s:s, s:[{s:s, s:s}]}", "Driver", "default", "Config",
                                      "Subnet", subnet, "Gateway", gateway));
    return body;
}

json_t *cara_obj_volume_body(const cara_project *p, const cara_volume *v, const char *node)
{
    char name[CARA_OBJECT_NAME_BYTES_MAX + 1];
    cara_obj_volume_name(p, v, name);
    json_t *l = labels(p, node);
    json_object_set_new(l, CARA_LABEL_VOLUME, json_string(v->name));
    return json_pack("{s:s, s:s, s:o}", "Name", name, "Driver", "local", "Labels", l);
}

static json_t *strv(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *env_list(const cara_service *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->env_count; i++)
        json_array_append_new(a, json_sprintf("%s=%s", s->env[i].name, s->env[i].value));
    return a;
}

static json_t *mounts(const cara_project *p, const cara_service *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->mounts_count; i++) {
        char vol[CARA_OBJECT_NAME_BYTES_MAX + 1];
        snprintf(vol, sizeof vol, "cara-%s-%s", p->name, s->mounts[i].name);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b}", "Type", "volume", "Source", vol,
                                           "Target", s->mounts[i].mount_path, "ReadOnly",
                                           s->mounts[i].read_only));
    }
    return a;
}

static json_t *exposed_ports(const cara_service *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->ports_count; i++) {
        char key[16];
        snprintf(key, sizeof key, "%u/%s", s->ports[i].container_port,
                 s->ports[i].protocol == CARA_PROTO_UDP ? "udp" : "tcp");
        json_object_set_new(o, key, json_object());
    }
    return o;
}

/* The engine never restarts a container by itself ("no" for every
 * restartPolicy): the agent does (reconcile_steps.c, with back-off), once
 * it has decided this node still owns the project. An engine policy would
 * restart a returning host's old containers the moment its dockerd starts,
 * before its agent has learnt that the project moved meanwhile: a second
 * copy for as long as the agent takes to start and fence. Kubernetes'
 * kubelet and Nomad's Docker driver leave restarts to the agent for the
 * same reason. */
static json_t *host_config(const cara_project *p, const cara_service *s)
{
    json_t *hc = json_pack("{s:o, s:{s:s}}", "Mounts", mounts(p, s), "RestartPolicy", "Name", "no");
    if (s->resources.cpu_millis > 0)
        json_object_set_new(hc, "NanoCpus", json_integer((json_int_t)s->resources.cpu_millis * 1000000));
    if (s->resources.memory_bytes > 0)
        json_object_set_new(hc, "Memory", json_integer((json_int_t)s->resources.memory_bytes));
    return hc;
}

static json_t *healthcheck(const cara_health *h)
{
    const json_int_t ns = 1000000000;
    json_t *test = json_pack("[s]", "CMD");
    for (size_t i = 0; i < h->command_count; i++)
        json_array_append_new(test, json_string(h->command[i]));
    return json_pack("{s:o, s:I, s:I, s:I, s:i}", "Test", test, "Interval", h->interval_s * ns,
                     "Timeout", h->timeout_s * ns, "StartPeriod", h->start_period_s * ns, "Retries",
                     (int)h->retries);
}

json_t *cara_obj_container_body(const cara_project *p, const cara_service *s, const char *node,
                                const char *spec_hash)
{
    char net[CARA_OBJECT_NAME_BYTES_MAX + 1];
    cara_obj_network_name(p, net);
    json_t *l = labels(p, node);
    json_object_set_new(l, CARA_LABEL_SERVICE, json_string(s->name));
    json_object_set_new(l, CARA_LABEL_SPEC_HASH, json_string(spec_hash));
    /* The service name is the network alias: other services reach it by
     * that name through the engine's embedded DNS. */
    json_t *endpoints = json_pack("{s:{s:[s]}}", net, "Aliases", s->name);
    json_t *body = json_pack("{s:s, s:o, s:o, s:o, s:o, s:{s:o}}", "Image", s->image, "Env",
                             env_list(s), "Labels", l, "ExposedPorts", exposed_ports(s),
                             "HostConfig", host_config(p, s), "NetworkingConfig",
                             "EndpointsConfig", endpoints);
    if (s->command_count > 0)
        json_object_set_new(body, "Entrypoint", strv(s->command, s->command_count));
    if (s->args_count > 0)
        json_object_set_new(body, "Cmd", strv(s->args, s->args_count));
    if (s->health.command_count > 0)
        json_object_set_new(body, "Healthcheck", healthcheck(&s->health));
    return body;
}
