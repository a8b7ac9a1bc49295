/*
 * cara-agent's settings: command-line flags, optionally on top of a YAML
 * file given with --config (flags win). Every key of the file has a flag:
 *
 *   name: node1                     --name
 *   dataDir: /var/lib/caravanserai  --data-dir
 *   api: ["127.0.0.1:7951"]         --api (repeatable)
 *   dockerHost: unix:///var/run/docker.sock   --docker-host
 *   operatorPubkeys: [/etc/caravanserai/operator.pub]  --operator-pubkey (repeatable)
 *   labels: {zone: a}               --label k=v (repeatable)
 *   logFormat: logfmt | json        --log-format
 *   logLevel: error|warn|info|debug --log-level
 *   networkPool: 10.214.0.0/16      --network-pool
 *   networkPrefix: 25               --network-prefix
 *   bind: 100.64.0.1:7950           --bind (gossip, UDP and TCP)
 *   advertise: 100.64.0.1:7950      --advertise
 *   join: [100.64.0.2:7950]         --join (repeatable, or comma-separated)
 *   token: cara-join-v1....         --token
 *   tombstoneHorizon: 7d            --tombstone-horizon (docs/crdt.md)
 *   gcInterval: 60s                 --gc-interval
 *   memoryAvailableMin: 100Mi       --memory-available-min (MemoryPressure below it)
 *   diskAvailableMin: 10%           --disk-available-min (DiskPressure below it)
 *   imagePullAttempts: 5            --image-pull-attempts (docs/agent.md, "Image pulls")
 *   imagePullWindow: 4m             --image-pull-window
 */
#ifndef CARA_AGENT_CONFIG_H
#define CARA_AGENT_CONFIG_H

#include "agent/agent.h"

#define CARA_AGENT_LIST_MAX 16

typedef struct cara_agent_settings {
    char *name;
    char *data_dir;
    char *api[CARA_AGENT_LIST_MAX];
    size_t api_count;
    char *docker_host;
    char *pubkey_args[CARA_AGENT_LIST_MAX]; /* files, or 64 hex digits */
    size_t pubkey_args_count;
    cara_kv labels[CARA_AGENT_LIST_MAX];
    size_t labels_count;
    int log_json;
    int log_level;
    char *network_pool;          /* CIDR; filled with the default */
    unsigned network_prefix_len; /* filled with the default */
    char *bind, *advertise, *token;
    int64_t tombstone_horizon_ms, gc_interval_ms; /* 0: defaults */
    char *join[CARA_AGENT_LIST_MAX];
    size_t join_count;
    uint64_t memory_available_min_bytes; /* 0: the default */
    unsigned disk_available_min_percent; /* 0: the default */
    unsigned image_pull_attempts;        /* 0: the default */
    int64_t image_pull_window_ms;        /* 0: the default */
    uint8_t pks[CARA_AGENT_LIST_MAX][CARA_CRDT_PK_BYTES];
    size_t pks_count;
} cara_agent_settings;

/* Parses argv (and the --config file). Returns 0 to run, 1 when --help or
 * --version was answered, 2 on a usage or configuration error (printed). */
int cara_agent_settings_parse(cara_agent_settings *s, int argc, char **argv);
void cara_agent_settings_free(cara_agent_settings *s);
/* Fills `cfg` from `s` (borrowing its strings). */
void cara_agent_settings_apply(const cara_agent_settings *s, cara_agent_config *cfg);

/* Reads an operator public key: 64 hex digits given directly, or a file
 * whose first such token is the key (so `caravanctl keygen`'s output, or a
 * file with just the key, both work). Returns 0, CARA_EPARSE or the file's
 * error. */
int cara_agent_read_pubkey(const char *arg, uint8_t pk[CARA_CRDT_PK_BYTES]);

#endif
