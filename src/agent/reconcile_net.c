/* Creating a project's network with a subnet of the agent's own pool
 * (agent/netpool.h): list every network on the engine, pick the first
 * candidate of (node, project) that overlaps none of them, create it. The
 * engine refuses an overlap that the list could not show (another agent or
 * tool created a network in between) with 403 "Pool overlaps ..."; that is
 * retried with the next candidate, up to CARA_NET_CREATE_ATTEMPTS_MAX
 * times. A network that already exists is never touched, so a project
 * keeps its subnet across agent and engine restarts. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "agent/reconcile_int.h"

static void on_networks(void *arg, const cara_docker_result *res);

/* Ends the step without a further engine call, as failed for `why`. */
static void fail_now(step *s, const char *why)
{
    if (why != s->error_text)
        snprintf(s->error_text, sizeof s->error_text, "%s", why);
    cara_docker_result res = {.rc = 0, .http_status = 0, .body = "", .error = ""};
    recon_step_done(s, &res);
}

static int list_networks(cara_reconciler *r, step *s)
{
    return cara_docker_request(r->cfg.docker, "GET", "/networks", NULL, on_networks, s);
}

static int add_subnet(cara_reconciler *r, json_t *cfg, cara_cidr **used, size_t *count)
{
    cara_cidr c;
    /* IPv6 subnets and anything else that does not parse cannot overlap an
     * IPv4 pool: skipped. */
    if (cara_cidr_parse(json_string_value(json_object_get(cfg, "Subnet")), &c) != 0)
        return 0;
    if (*count >= CARA_ENGINE_OBJECTS_MAX)
        return CARA_ELIMIT;
    cara_cidr *v = cara_env_realloc(r->env, *used, (*count + 1) * sizeof *v);
    if (v == NULL)
        return CARA_ENOMEM;
    *used = v;
    v[(*count)++] = c;
    return 0;
}

/* The IPv4 subnets of every network on the engine, whoever made it, and
 * those this step already tried. Caller frees *used. */
static int used_subnets(cara_reconciler *r, const step *s, const cara_docker_result *res,
                        cara_cidr **used, size_t *count)
{
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
    int rc = json_is_array(j) ? 0 : CARA_EPARSE;
    size_t i, k;
    json_t *net, *cfg;
    json_array_foreach(rc == 0 ? j : NULL, i, net) {
        json_array_foreach(json_object_get(json_object_get(net, "IPAM"), "Config"), k, cfg) {
            if (rc == 0)
                rc = add_subnet(r, cfg, used, count);
        }
    }
    json_decref(j);
    for (uint32_t t = 0; rc == 0 && t < s->net_attempts; t++) {
        cara_cidr *v = cara_env_realloc(r->env, *used, (*count + 1) * sizeof *v);
        if (v == NULL)
            return CARA_ENOMEM;
        *used = v;
        v[(*count)++] = s->net_tried[t];
    }
    return rc;
}

static const cara_project *spec_of(cara_reconciler *r, const char *project)
{
    for (proj *p = r->projects; p != NULL; p = p->next)
        if (strcmp(p->name, project) == 0)
            return p->spec;
    return NULL;
}

static void on_created(void *arg, const cara_docker_result *res)
{
    step *s = arg;
    cara_reconciler *r = s->r;
    bool overlap = res->rc == 0 && res->http_status == 403 && strstr(res->error, "overlap") != NULL;
    if (!r->closing && overlap && s->net_attempts < CARA_NET_CREATE_ATTEMPTS_MAX) {
        cara_env_logf(r->env, CARA_LOG_INFO, "reconcile",
                      "project=%s network=%s subnet taken meanwhile; trying the next", s->project,
                      s->object);
        if (list_networks(r, s) != 0)
            fail_now(s, "cannot list the engine's networks");
        return;
    }
    if (res->rc == 0 && res->http_status == 201) {
        char subnet[CARA_CIDR_TEXT_BYTES];
        cara_cidr_format(s->net_tried[s->net_attempts - 1], subnet);
        cara_env_logf(r->env, CARA_LOG_INFO, "reconcile", "project=%s network=%s subnet=%s",
                      s->project, s->object, subnet);
    }
    recon_step_done(s, res);
}

static int create(cara_reconciler *r, step *s, cara_cidr subnet)
{
    const cara_project *spec = spec_of(r, s->project);
    if (spec == NULL)
        return CARA_ENOENT; /* deleted meanwhile without a spec: nothing to create */
    char text[CARA_CIDR_TEXT_BYTES], gateway[INET_ADDRSTRLEN];
    cara_cidr_format(subnet, text);
    cara_netpool_gateway(subnet, gateway);
    s->net_tried[s->net_attempts++] = subnet;
    json_t *body = cara_obj_network_body(spec, r->cfg.node_name, text, gateway);
    int rc = body != NULL ? cara_docker_request(r->cfg.docker, "POST", "/networks/create", body,
                                                on_created, s)
                          : CARA_ENOMEM;
    json_decref(body);
    return rc;
}

static void on_networks(void *arg, const cara_docker_result *res)
{
    step *s = arg;
    cara_reconciler *r = s->r;
    if (r->closing || res->rc != 0 || res->http_status != 200) {
        recon_step_done(s, res); /* the listing's failure is the step's */
        return;
    }
    cara_cidr *used = NULL, pick;
    size_t count = 0;
    int rc = used_subnets(r, s, res, &used, &count);
    if (rc == 0)
        rc = cara_netpool_pick(&r->pool, cara_netpool_start(&r->pool, r->cfg.node_name, s->project),
                               used, count, &pick);
    cara_env_free(r->env, used);
    if (rc == CARA_ELIMIT) {
        char pool[CARA_CIDR_TEXT_BYTES];
        cara_cidr_format(r->pool.pool, pool);
        s->pool_exhausted = true;
        snprintf(s->error_text, sizeof s->error_text,
                 "no free /%u subnet left in the network pool %s (%u subnets; every one overlaps "
                 "a network on this engine): delete projects or give the agent a larger "
                 "--network-pool",
                 r->pool.prefix_len, pool, cara_netpool_count(&r->pool));
        fail_now(s, s->error_text);
        return;
    }
    if (rc == 0)
        rc = create(r, s, pick);
    if (rc != 0) {
        char why[128];
        snprintf(why, sizeof why, "choosing a subnet: %s", cara_strerror(rc));
        fail_now(s, why);
    }
}

int recon_net_create(cara_reconciler *r, step *s)
{
    CARA_ASSERT(s->kind == STEP_NET_CREATE);
    return list_networks(r, s);
}
