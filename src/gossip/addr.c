/* Gossip addresses as text: "HOST[:PORT]" and back. Pure string work
 * (inet_pton/inet_ntop), so that the node object can read the gossip
 * addresses node records carry. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/gossip.h"

int cara_gossip_addr_parse(const char *text, cara_gossip_addr *out)
{
    char host[80];
    unsigned long port = CARA_GOSSIP_PORT_DEFAULT;
    const char *colon;
    size_t hl;
    bool v6 = text[0] == '[';
    if (v6) {
        const char *end = strchr(text, ']');
        if (end == NULL)
            return CARA_EPARSE;
        hl = (size_t)(end - text - 1);
        if (hl >= sizeof host)
            return CARA_EPARSE;
        memcpy(host, text + 1, hl);
        host[hl] = '\0';
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL)
            return CARA_EPARSE;
    } else {
        colon = strrchr(text, ':');
        hl = colon ? (size_t)(colon - text) : strlen(text);
        if (hl == 0 || hl >= sizeof host)
            return CARA_EPARSE;
        memcpy(host, text, hl);
        host[hl] = '\0';
    }
    if (colon != NULL) {
        char *end = NULL;
        port = strtoul(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port == 0 || port > 65535)
            return CARA_EPARSE;
    }
    uint8_t port_be[2] = {(uint8_t)(port >> 8), (uint8_t)port};
    if (!v6 && inet_pton(AF_INET, host, out->bytes) == 1) {
        out->len = 6;
        memcpy(out->bytes + 4, port_be, 2);
        return 0;
    }
    /* An IPv6 literal only in brackets: "::1:7950" would be ambiguous. */
    if (v6 && inet_pton(AF_INET6, host, out->bytes) == 1) {
        out->len = 18;
        memcpy(out->bytes + 16, port_be, 2);
        return 0;
    }
    return CARA_EPARSE;
}

void cara_gossip_addr_text(const cara_gossip_addr *a, char *out, size_t out_max)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->len == 6 && inet_ntop(AF_INET, a->bytes, host, sizeof host) != NULL)
        snprintf(out, out_max, "%s:%u", host, (unsigned)(a->bytes[4] << 8 | a->bytes[5]));
    else if (a->len == 18 && inet_ntop(AF_INET6, a->bytes, host, sizeof host) != NULL)
        snprintf(out, out_max, "[%s]:%u", host, (unsigned)(a->bytes[16] << 8 | a->bytes[17]));
    else
        snprintf(out, out_max, "?");
}
