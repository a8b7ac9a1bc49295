/* Validation of a Project's status and of a Node: both are written by
 * agents, not people, but they arrive from peers and must hold to the
 * same caps as everything else. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spec/validate_int.h"

/* Condition types and reasons are CamelCase words ("NotReadyAt"). */
static bool camel_case(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len == 0 || len > max || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

static void check_camel(vctx *v, const char *path, const char *s, size_t max)
{
    char q[QUOTE_BYTES];
    if (!check_required(v, path, s) || camel_case(s, max))
        return;
    quote(q, sizeof q, s, strlen(s));
    verr(v, path, "%s is not a CamelCase word (letters and digits, starting with a capital, at most %zu characters)",
         q, max);
}

void check_conditions(vctx *v, const char *path, const cara_condition *c, size_t count)
{
    char p[BIND_PATH_BYTES];
    check_count(v, path, count, CARA_CONDITIONS_COUNT_MAX);
    for (size_t i = 0; i < count; i++) {
        pathf(p, "%s[%zu].type", path, i);
        check_camel(v, p, c[i].type, CARA_NAME_BYTES_MAX);
        pathf(p, "%s[%zu].reason", path, i);
        check_camel(v, p, c[i].reason, CARA_REASON_BYTES_MAX);
        pathf(p, "%s[%zu].message", path, i);
        check_bytes(v, p, c[i].message, CARA_MESSAGE_BYTES_MAX);
        if ((unsigned)c[i].status > CARA_COND_UNKNOWN) {
            pathf(p, "%s[%zu].status", path, i);
            verr(v, p, "must be one of True, False, Unknown");
        }
    }
}

/* One entry per service: names are the spec's service names, so they are
 * labels and unique, even though the status alone cannot say which
 * services the spec declares. */
static void check_service_statuses(vctx *v, const cara_service_status *s, size_t count)
{
    char p[BIND_PATH_BYTES], q[QUOTE_BYTES];
    check_count(v, "services", count, CARA_SERVICES_COUNT_MAX);
    for (size_t i = 0; i < count; i++) {
        pathf(p, "services[%zu].name", i);
        check_dns_label(v, p, s[i].name);
        for (size_t j = 0; j < i && s[i].name != NULL; j++) {
            if (s[j].name != NULL && strcmp(s[j].name, s[i].name) == 0) {
                quote(q, sizeof q, s[i].name, strlen(s[i].name));
                verr(v, p, "service name %s is already used by services[%zu]", q, j);
                break;
            }
        }
        if ((unsigned)s[i].state > CARA_SVC_REMOVING) {
            pathf(p, "services[%zu].state", i);
            verr(v, p, "must be one of Waiting, Pulling, Creating, Starting, Running, Completed, "
                       "Exited, Failed, Removing");
        }
        pathf(p, "services[%zu].message", i);
        check_bytes(v, p, s[i].message, CARA_MESSAGE_BYTES_MAX);
        if (s[i].restarts > CARA_SVC_RESTARTS_MAX) {
            pathf(p, "services[%zu].restarts", i);
            verr(v, p, "must be between 0 and %d, got %" PRIu32, CARA_SVC_RESTARTS_MAX,
                 s[i].restarts);
        }
    }
}

int cara_project_status_validate(const cara_project_status *s, cara_diags *d)
{
    CARA_ASSERT(s != NULL && d != NULL);
    vctx v = {.d = d};
    if ((unsigned)s->phase > CARA_PHASE_TERMINATED)
        verr(&v, "phase", "must be one of Pending, Scheduled, Running, Failed, Terminating, Terminated");
    if (s->node_ref != NULL)
        check_dns_label(&v, "nodeRef", s->node_ref);
    check_conditions(&v, "conditions", s->conditions, s->conditions_count);
    check_service_statuses(&v, s->services, s->services_count);
    return v.bad ? CARA_ESCHEMA : 0;
}

static bool ip_valid(const char *s)
{
    unsigned char buf[16];
    return strlen(s) <= CARA_ADDR_BYTES_MAX &&
           (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

static void check_addrs(vctx *v, const cara_node *n)
{
    char p[BIND_PATH_BYTES], q[QUOTE_BYTES];
    check_count(v, "addresses", n->addrs_count, CARA_NODE_ADDRS_COUNT_MAX);
    for (size_t i = 0; i < n->addrs_count; i++) {
        pathf(p, "addresses[%zu]", i);
        if (!check_required(v, p, n->addrs[i]) || ip_valid(n->addrs[i]))
            continue;
        quote(q, sizeof q, n->addrs[i], strlen(n->addrs[i]));
        verr(v, p, "%s is not an IPv4 or IPv6 address", q);
    }
}

/* Port text: 1..65535, digits only, no leading zero (one spelling each). */
static bool port_valid(const char *s, size_t len)
{
    if (len == 0 || len > 5 || s[0] == '0')
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v <= 65535;
}

bool cara_host_port_valid(const char *s)
{
    CARA_ASSERT(s != NULL);
    size_t len = strlen(s);
    const char *colon = strrchr(s, ':');
    if (len > CARA_NODE_GOSSIP_ADDR_BYTES_MAX || colon == NULL || colon == s ||
        !port_valid(colon + 1, len - (size_t)(colon + 1 - s)))
        return false;
    size_t host_len = (size_t)(colon - s);
    char host[CARA_NODE_GOSSIP_ADDR_BYTES_MAX + 1];
    unsigned char buf[16];
    if (s[0] == '[') {
        if (host_len < 3 || s[host_len - 1] != ']')
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(host_len - 2), s + 1);
        return inet_pton(AF_INET6, host, buf) == 1;
    }
    snprintf(host, sizeof host, "%.*s", (int)host_len, s);
    if (inet_pton(AF_INET, host, buf) == 1)
        return true;
    /* A dotted quad that inet_pton refused ("300.1.1.1") is no name either. */
    bool digits_dots = strspn(host, "0123456789.") == host_len;
    return !digits_dots && cara_dns_name_valid(host, host_len);
}

bool cara_version_text_valid(const char *s)
{
    CARA_ASSERT(s != NULL);
    size_t len = strlen(s);
    if (len == 0 || len > CARA_NODE_VERSION_BYTES_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '+' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A node states each condition once: two MemoryPressure entries would
 * leave every reader to pick one. */
static void check_condition_types_unique(vctx *v, const cara_condition *c, size_t count)
{
    char p[BIND_PATH_BYTES], q[QUOTE_BYTES];
    for (size_t i = 0; i < count && i < CARA_CONDITIONS_COUNT_MAX; i++)
        for (size_t j = 0; j < i && c[i].type != NULL; j++)
            if (c[j].type != NULL && strcmp(c[i].type, c[j].type) == 0) {
                pathf(p, "conditions[%zu].type", i);
                quote(q, sizeof q, c[i].type, strlen(c[i].type));
                verr(v, p, "condition type %s is already used by conditions[%zu]", q, j);
                break;
            }
}

static void check_node_text(vctx *v, const cara_node *n)
{
    char q[QUOTE_BYTES];
    if (n->gossip_addr != NULL && !cara_host_port_valid(n->gossip_addr)) {
        quote(q, sizeof q, n->gossip_addr, strlen(n->gossip_addr));
        verr(v, "gossipAddress", "%s is not HOST:PORT (an IPv4 address, a bracketed IPv6 "
             "address or a DNS name; a port 1-65535; at most %d characters)",
             q, CARA_NODE_GOSSIP_ADDR_BYTES_MAX);
    }
    if (n->api_addr != NULL && !cara_host_port_valid(n->api_addr)) {
        quote(q, sizeof q, n->api_addr, strlen(n->api_addr));
        verr(v, "apiAddress", "%s is not HOST:PORT (an IPv4 address, a bracketed IPv6 "
             "address or a DNS name; a port 1-65535; at most %d characters)",
             q, CARA_NODE_GOSSIP_ADDR_BYTES_MAX);
    }
    if (n->agent_version != NULL && !cara_version_text_valid(n->agent_version)) {
        quote(q, sizeof q, n->agent_version, strlen(n->agent_version));
        verr(v, "agentVersion", "%s is not a version (1 to %d of letters, digits, '.', '+', "
             "'_' and '-')", q, CARA_NODE_VERSION_BYTES_MAX);
    }
}

int cara_node_validate(const cara_node *n, cara_diags *d)
{
    CARA_ASSERT(n != NULL && d != NULL);
    vctx v = {.d = d};
    check_dns_label(&v, "name", n->name);
    check_addrs(&v, n);
    /* MagicDNS names are often shown fully qualified, with a final dot. */
    if (n->magic_dns != NULL) {
        size_t len = strlen(n->magic_dns);
        if (len > 0 && n->magic_dns[len - 1] == '.')
            len--;
        if (!cara_dns_name_valid(n->magic_dns, len)) {
            char q[QUOTE_BYTES];
            quote(q, sizeof q, n->magic_dns, strlen(n->magic_dns));
            verr(&v, "magicDNS", "%s is not a DNS name (DNS labels separated by dots, at most %d characters)",
                 q, CARA_HOSTNAME_BYTES_MAX);
        }
    }
    check_labels(&v, "labels", n->labels, n->labels_count, CARA_LABELS_COUNT_MAX);
    check_resources(&v, "capacity", &n->capacity);
    if ((unsigned)n->state > CARA_NODE_DRAINING)
        verr(&v, "state", "must be one of Ready, NotReady, Draining");
    check_conditions(&v, "conditions", n->conditions, n->conditions_count);
    check_condition_types_unique(&v, n->conditions, n->conditions_count);
    check_node_text(&v, n);
    return v.bad ? CARA_ESCHEMA : 0;
}
