/*
 * cara-agent's core: one node of the cluster. It holds the replicated state
 * (src/crdt) and persists it (store.c), serves the HTTP API (http.c,
 * docs/api.md), elects and places (src/sched), and reconciles the projects
 * this node owns through the Docker engine (reconcile.c). Everything runs
 * on one libuv loop.
 */
#ifndef CARA_AGENT_H
#define CARA_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "crdt/crdt.h"
#include "spec/spec.h"

#define CARA_AGENT_API_DEFAULT "127.0.0.1:7951"
#define CARA_AGENT_DOCKER_DEFAULT "unix:///var/run/docker.sock"

typedef struct cara_agent_config {
    const char *name;        /* node name: a DNS label */
    const char *data_dir;    /* SQLite state and node key; created if missing */
    const char *const *api;  /* listen addresses "ADDR:PORT" */
    size_t api_count;
    const char *docker_host; /* "unix:///var/run/docker.sock" */
    uint8_t (*operator_pks)[CARA_CRDT_PK_BYTES];
    size_t operator_pks_count;
    cara_kv *labels;         /* node labels (for node selectors); borrowed */
    size_t labels_count;
    uint32_t resync_interval_ms; /* reconciler full pass; 0: default */
    uint32_t gc_interval_ms;     /* collection runs (docs/crdt.md); 0: 60 s */
    int64_t tombstone_horizon_ms; /* 0: the crdt's default (7 days) */
    int64_t floor_horizon_ms;     /* 0: the crdt's default (90 days) */
    size_t records_max;           /* 0: CARA_CRDT_RECORDS_MAX */
    /* Project networks' subnets (agent/netpool.h); NULL and 0: defaults. */
    const char *network_pool;
    uint32_t network_prefix_len;
    /* An image that cannot be pulled is given up (the project Failed with
     * ImagePullFailed) after at least this many failed attempts over at
     * least this long (docs/agent.md, "Image pulls"); 0: 5 and 4 min. */
    uint32_t image_pull_attempts;
    uint32_t image_pull_window_ms;
    /* Gossip (docs/gossip.md): off without gossip_bind, a node on its own. */
    const char *gossip_bind;      /* "ADDR[:PORT]", UDP and TCP; port 7950 by default */
    /* What peers dial, "host:port", published in the node record as
     * gossipAddress; NULL: none (the field is left out). The settings fill
     * it from --advertise or --bind. */
    const char *gossip_advertise;
    const char *const *gossip_join; /* seeds "ADDR[:PORT]" */
    size_t gossip_join_count;
    const char *join_token;       /* caravanctl join-token create; NULL: none */
    /* Pressure thresholds (docs/agent.md, "Node health"); 0: kubelet's
     * hard eviction defaults, 100Mi of memory and 10 % of the data dir's
     * filesystem (CARA_NODE_*_MIN_DEFAULT). */
    uint64_t memory_available_min_bytes;
    uint32_t disk_available_min_percent; /* 1..99 */
} cara_agent_config;

/* Runs the agent until SIGTERM or SIGINT. Returns 0 after a clean shutdown
 * (containers keep running), or a CARA_E* code when it cannot start; the
 * reason is logged. */
int cara_agent_run(const cara_agent_config *cfg, cara_env *env);

#endif
