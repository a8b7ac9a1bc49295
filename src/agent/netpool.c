#include "agent/netpool.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static uint32_t mask_of(uint8_t len) { return len == 0 ? 0 : 0xffffffffu << (32 - len); }

int cara_cidr_parse(const char *text, cara_cidr *out)
{
    const char *slash = text != NULL ? strchr(text, '/') : NULL;
    char host[INET_ADDRSTRLEN];
    if (slash == NULL || (size_t)(slash - text) >= sizeof host)
        return CARA_EINVAL;
    memcpy(host, text, (size_t)(slash - text));
    host[slash - text] = '\0';
    struct in_addr a;
    char *end;
    if (inet_pton(AF_INET, host, &a) != 1 || slash[1] < '0' || slash[1] > '9')
        return CARA_EINVAL;
    unsigned long len = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || len > 32 || end - (slash + 1) > 2)
        return CARA_EINVAL;
    uint32_t addr = ntohl(a.s_addr);
    if ((addr & ~mask_of((uint8_t)len)) != 0)
        return CARA_EINVAL;
    *out = (cara_cidr){addr, (uint8_t)len};
    return 0;
}

void cara_cidr_format(cara_cidr c, char *out)
{
    snprintf(out, CARA_CIDR_TEXT_BYTES, "%u.%u.%u.%u/%u", c.addr >> 24, (c.addr >> 16) & 255,
             (c.addr >> 8) & 255, c.addr & 255, c.len);
}

bool cara_cidr_overlap(cara_cidr a, cara_cidr b)
{
    uint32_t m = mask_of(a.len < b.len ? a.len : b.len);
    return (a.addr & m) == (b.addr & m);
}

int cara_netpool_init(cara_netpool *p, const char *cidr, unsigned prefix_len)
{
    cara_cidr pool;
    if (cara_cidr_parse(cidr, &pool) != 0 || prefix_len < pool.len ||
        prefix_len > CARA_NETPOOL_PREFIX_LEN_MAX ||
        prefix_len - pool.len > CARA_NETPOOL_SUBNETS_BITS_MAX)
        return CARA_EINVAL;
    *p = (cara_netpool){pool, (uint8_t)prefix_len};
    return 0;
}

uint32_t cara_netpool_count(const cara_netpool *p) { return 1u << (p->prefix_len - p->pool.len); }

cara_cidr cara_netpool_subnet(const cara_netpool *p, uint32_t index)
{
    CARA_ASSERT(index < cara_netpool_count(p));
    return (cara_cidr){p->pool.addr + (index << (32 - p->prefix_len)), p->prefix_len};
}

void cara_netpool_gateway(cara_cidr subnet, char *out)
{
    uint32_t g = subnet.addr + 1;
    snprintf(out, INET_ADDRSTRLEN, "%u.%u.%u.%u", g >> 24, (g >> 16) & 255, (g >> 8) & 255,
             g & 255);
}

uint32_t cara_netpool_start(const cara_netpool *p, const char *node, const char *project)
{
    crypto_generichash_state st;
    unsigned char h[8];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    /* Both with their NUL: ("ab", "c") and ("a", "bc") hash apart. */
    crypto_generichash_update(&st, (const unsigned char *)node, strlen(node) + 1);
    crypto_generichash_update(&st, (const unsigned char *)project, strlen(project) + 1);
    crypto_generichash_final(&st, h, sizeof h);
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof h; i++)
        v = v << 8 | h[i];
    return (uint32_t)(v % cara_netpool_count(p));
}

static bool taken(cara_cidr c, const cara_cidr *used, size_t used_count)
{
    for (size_t i = 0; i < used_count; i++)
        if (cara_cidr_overlap(c, used[i]))
            return true;
    return false;
}

int cara_netpool_pick(const cara_netpool *p, uint32_t start, const cara_cidr *used,
                      size_t used_count, cara_cidr *out)
{
    uint32_t n = cara_netpool_count(p);
    for (uint32_t i = 0; i < n; i++) { /* bounded: n <= 2^CARA_NETPOOL_SUBNETS_BITS_MAX */
        cara_cidr c = cara_netpool_subnet(p, (start + i) % n);
        if (!taken(c, used, used_count)) {
            *out = c;
            return 0;
        }
    }
    return CARA_ELIMIT;
}
