/*
 * The agent's own address pool for project networks (docs/agent.md,
 * "Project networks and their subnets").
 *
 * Each project's bridge network gets an IPv4 subnet of `prefix_len` bits
 * carved from the pool, instead of one of the engine's default pools (which
 * hold about 30 networks). Allocation keeps no state: the candidates of a
 * project are the pool's subnets in order, starting at a hash of (node,
 * project), and the first one that overlaps no network the engine already
 * has is taken. Several agents sharing one engine start at different
 * places and see each other's networks in the engine's list; a race between
 * two of them is refused by the engine ("Pool overlaps") and retried with
 * the next candidate by the reconciler.
 *
 * Pure functions; no I/O.
 */
#ifndef CARA_AGENT_NETPOOL_H
#define CARA_AGENT_NETPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Clear of Docker's default pools (172.17.0.0/16-172.31.0.0/16 and
 * 192.168.0.0/16), of Tailscale's 100.64.0.0/10, of Kubernetes' usual
 * 10.96.0.0/12, 10.244.0.0/16 and k3s' 10.42.0.0/15, and of the 10.0-10.10
 * ranges home routers and VPNs like. /25s hold a project at its service
 * cap (CARA_SERVICES_COUNT_MAX) plus the gateway; 512 of them per engine. */
#define CARA_NETPOOL_DEFAULT "10.214.0.0/16"
#define CARA_NETPOOL_PREFIX_LEN_DEFAULT 25
/* "255.255.255.255/32" and its NUL, plus a byte: the compiler cannot see
 * that the length has two digits at most. */
#define CARA_CIDR_TEXT_BYTES 20

typedef struct cara_cidr {
    uint32_t addr; /* host byte order, host bits zero */
    uint8_t len;   /* 0..32 */
} cara_cidr;

typedef struct cara_netpool {
    cara_cidr pool;
    uint8_t prefix_len; /* of each project's subnet */
} cara_netpool;

/* Parses "A.B.C.D/N". Host bits must be zero (a typo in a pool should not be
 * silently rounded). Returns 0 or CARA_EINVAL. */
int cara_cidr_parse(const char *text, cara_cidr *out);
/* Writes "A.B.C.D/N" into out[CARA_CIDR_TEXT_BYTES]. */
void cara_cidr_format(cara_cidr c, char *out);
bool cara_cidr_overlap(cara_cidr a, cara_cidr b);

/* Makes a pool from its CIDR text and the per-project prefix length.
 * Returns 0, or CARA_EINVAL: the CIDR does not parse, the prefix is shorter
 * than the pool's, longer than CARA_NETPOOL_PREFIX_LEN_MAX (too few
 * addresses for a project at its service cap), or the pool would have more
 * than CARA_NETPOOL_SUBNETS_MAX subnets. */
int cara_netpool_init(cara_netpool *p, const char *cidr, unsigned prefix_len);
/* Number of subnets in the pool. */
uint32_t cara_netpool_count(const cara_netpool *p);
/* Subnet `index` (< count) of the pool. */
cara_cidr cara_netpool_subnet(const cara_netpool *p, uint32_t index);
/* The gateway of a subnet: its first host address, as text. */
void cara_netpool_gateway(cara_cidr subnet, char *out);
/* The first candidate index of (node, project): deterministic, spread by a
 * keyed-free BLAKE2b hash so that different nodes start apart. */
uint32_t cara_netpool_start(const cara_netpool *p, const char *node, const char *project);
/* The first subnet from `start` on (wrapping) that overlaps none of `used`.
 * Returns 0 with *out set, or CARA_ELIMIT when every subnet is taken. */
int cara_netpool_pick(const cara_netpool *p, uint32_t start, const cara_cidr *used,
                      size_t used_count, cara_cidr *out);

#endif
