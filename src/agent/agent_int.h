/* Internals of cara-agent shared by agent*.c; no other module includes it. */
#ifndef CARA_AGENT_INT_H
#define CARA_AGENT_INT_H

#include <uv.h>

#include "agent/agent.h"
#include "agent/auth.h"
#include "agent/docker.h"
#include "agent/http.h"
#include "agent/httpc.h"
#include "agent/reconcile.h"
#include "agent/store.h"
#include "core/core.h"
#include "gossip/gossip.h"
#include "sched/sched.h"

/* Watch streams open at once; a client past this gets 503. */
#define AGENT_WATCHERS_MAX 64
/* How often the agent looks at expiry times and its own node record. */
#define AGENT_TICK_MS 1000
/* The store's stamp of the last time this node saw a majority, and how
 * often it is written while it does (docs/scheduling.md): a stale stamp
 * only makes a restarted node fence sooner. */
#define AGENT_MAJORITY_STAMP "majority_wall_ms"
#define AGENT_MAJORITY_STAMP_EVERY_MS 2000
/* How long an apply or delete waits for other nodes to hold its record
 * before answering with how many do (DESIGN.md §4). */
#define AGENT_ACK_TIMEOUT_MS (10 * 1000)
/* After a graceful leave, how long the node keeps answering so that the
 * notice spreads: two LAN probe periods. */
#define AGENT_LEAVE_WAIT_MS 2000
/* Bytes queued to one gossip connection (or the UDP socket) before it is
 * treated as a peer that does not read: two of the largest messages. */
#define AGENT_GOSSIP_WRITE_QUEUE_BYTES_MAX (2 * CARA_WIRE_STREAM_MSG_BYTES_MAX)
/* How often collection runs: tombstones live for days, so a minute late
 * costs nothing; each run is one pass over the records. */
#define AGENT_GC_INTERVAL_MS (60 * 1000)

typedef struct agent_watcher {
    cara_http_stream *stream;
    struct cara_agent *agent;
    struct agent_watcher *next;
} agent_watcher;

/* A record the store just wrote, to act on once the write is committed. */
typedef struct agent_seen {
    int kind;
    char key[CARA_CRDT_KEY_BYTES_MAX + 1];
    uint64_t generation, hlc;
    uint8_t author[CARA_CRDT_PK_BYTES];
} agent_seen;

typedef struct agent_gossip agent_gossip;
/* The conditions of this node's record (agent_node.c), in record order. */
enum { AGENT_COND_MEMORY = 0, AGENT_COND_DISK, AGENT_COND_ENGINE, AGENT_CONDS };

/* What this node says of itself in its node record, and when it said it. */
typedef struct agent_node_self {
    cara_cond_status status[AGENT_CONDS];
    int64_t since_wall_ms[AGENT_CONDS]; /* lastTransitionTime of each */
    bool published;                     /* the two below are set */
    uint8_t value_hash[32];             /* BLAKE2b of the value last published */
    uint64_t published_mono_ms;         /* when it was published */
    /* The engine's liveness: GET /_ping every CARA_NODE_ENGINE_PING_MS. */
    cara_cond_status engine;            /* Unknown until the first answer */
    uint32_t engine_misses;             /* failed answers in a row */
    uint64_t engine_missing_mono_ms;    /* when the first of them was asked */
    bool ping_inflight;
    uint64_t ping_sent_mono_ms;
} agent_node_self;

typedef struct agent_stats {
    uint64_t gossip_truncated; /* datagrams longer than the receive buffer */
    uint64_t gossip_slow_readers; /* streams closed: the peer did not read */
    uint64_t gossip_send_dropped; /* datagrams dropped: the send queue was full */
    uint64_t records_applied, records_refused, store_errors;
    uint64_t node_publishes; /* node records written by this node */
    uint64_t api_requests, api_refused_auth;
} agent_stats;

typedef struct cara_agent {
    cara_env *env;
    cara_agent_config cfg;
    uv_loop_t *loop;
    uint8_t node_pk[CARA_CRDT_PK_BYTES];
    uint8_t node_sk[CARA_CRDT_SK_BYTES];
    int64_t started_wall_ms;
    cara_crdt *crdt;
    cara_store *store;
    cara_docker *docker;
    cara_httpc *peers;       /* other agents' APIs, over TCP (the logs proxy) */
    cara_reconciler *recon;
    cara_http *http;
    cara_auth *auth;
    agent_gossip *gossip;    /* NULL without --bind: a node on its own */
    uint8_t *join_proof;     /* the join-token record sent to seeds (owned) */
    size_t join_proof_len;
    bool api_loopback_only;
    cara_core *core;         /* the node object: what this node decides (src/core) */
    agent_watcher *watchers;
    size_t watchers_count;
    cara_resources capacity; /* from the engine's /info */
    agent_node_self self;    /* this node's own record (agent_node.c) */
    size_t quarantined;      /* rows the last load set aside */
    bool info_done;          /* the engine's /info answered once */
    bool recon_completed;    /* the reconciler was told its desired set is complete */
    int64_t majority_stamp_ms; /* the last majority stamp written to the store */
    uv_timer_t info_timer;   /* retries /info while the engine is away */
    /* Evaluations wait for the next loop turn: a record written from inside
     * a reconciler callback (a status) must not call the reconciler back. */
    bool draining;          /* agent_core_drain is under way */
    bool persist_pending;   /* own records merged but not yet written */
    agent_seen *seen;       /* what the write in progress changed (agent_persist) */
    size_t seen_count, seen_cap;
    bool seen_all;          /* removals, or too many to list: look at everything */
    uv_timer_t gc_timer;
    uv_timer_t eval_timer;
    uv_timer_t fail_timer;   /* fail-stop: shuts down from the loop */
    uv_timer_t leave_timer;  /* SIGINT: stops once the leave notice has spread */
    bool leaving;
    int exit_code;
    uv_signal_t sigterm, sigint;
    uv_timer_t tick;
    bool stopping;
    agent_stats stats;
} cara_agent;

/* agent.c: stops the agent with exit code 1 on the next loop turn (its
 * memory may hold what its disk does not: a restart reloads the truth). */
void agent_fail_stop(cara_agent *a, const char *why);
/* agent_state.c: records in and stored, the node object's actions out */
/* Merges untrusted record bytes; persists and acts on them when they change
 * the state. Returns 0 and sets *changed, or the crdt's refusal code. */
int agent_ingest(cara_agent *a, const uint8_t *bytes, size_t len, bool *changed);
/* Writes what the crdt changed since the last call (one transaction) and
 * tells the node object; a failure stops the agent. 0 or CARA_EIO. */
int agent_persist(cara_agent *a);
/* Asks for agent_persist on this loop turn's evaluation. */
void agent_persist_soon(cara_agent *a);
/* Carries out every action the node object queued (records stored and
 * sent, the reconciler told). Call after each input to the object. */
void agent_core_drain(cara_agent *a);
/* Arms the evaluation turn when the node object has work (what it was
 * told, or an expiry due). */
void agent_eval_soon(cara_agent *a);
void agent_eval_init(cara_agent *a);
void agent_eval_close(cara_agent *a);
/* Re-evaluates every project on the next turn (after start). */
void agent_reevaluate_all(cara_agent *a);
/* Tells the reconciler its desired set is complete once the engine
 * answered and the node object has settled what this node runs. */
void agent_maybe_complete(cara_agent *a);
/* Once a tick: keeps the majority stamp on disk while the node sees one. */
void agent_fence_tick(cara_agent *a);
/* `delete --force` of a project this node knows (docs/api.md). */
void agent_force_delete(cara_agent *a, const char *name);
/* Writes this node's node record (when admitted), whatever the rate
 * bound: for a first record, an admission or a refutation. */
void agent_publish_node(cara_agent *a);
/* Membership moved for `name`: readiness, watchers. */
void agent_membership_changed(cara_agent *a, const char *name);

/* agent_node.c: what this node says about itself */
/* Initialises a->self: every condition Unknown since the agent started. */
void agent_node_init(cara_agent *a);
/* Each tick: reads the host (memory, the data dir's disk), pings the
 * engine, and republishes through agent_node_observe. */
void agent_node_tick(cara_agent *a);
/* Takes a host sample and the engine's liveness into the conditions, and
 * republishes the record if its content changed and the last publish is
 * at least CARA_NODE_REPUBLISH_MS_MIN old (monotonic clock). */
void agent_node_observe(cara_agent *a, const cara_host_sample *s);
/* Reads the host and takes the engine's liveness into the conditions,
 * without publishing (before the first record goes out). */
void agent_node_refresh(cara_agent *a);
/* The engine answered (or failed to answer) a request that tells. */
void agent_node_engine_seen(cara_agent *a, bool answered);
/* Encodes this node's record value as of now into `out`. 0 or the
 * encoder's error. */
int agent_node_value(cara_agent *a, cara_buf *out);
/* Notes that `value` was just published (for the republish check). */
void agent_node_published(cara_agent *a, const cara_buf *value);
/* A node record as the API shows it: the record's fields, and the
 * reader's `ready`, `schedulable` and `state`, with the operator's
 * `control` (cordon, drain; NULL: none) folded in (docs/api.md). New ref. */
json_t *agent_node_json(const cara_node *n, bool ready, const cara_node_control *control);
/* agent_node_json with this agent's readiness and control of node n. */
json_t *agent_node_json_of(cara_agent *a, const cara_node *n);
/* Reconciler status callback. */
void agent_on_status(void *ctx, const char *project, const cara_project_status *st);
bool agent_admitted(const cara_agent *a);

/* agent_api.c */
void agent_http_handler(void *ctx, const cara_http_request *req, cara_http_reply *reply);
/* A project's JSON as the API shows it (spec, generation, status, events). */
json_t *agent_project_json(cara_agent *a, const char *name);
/* False for a deleted project that reached Terminated: the API hides it. */
bool agent_project_visible(json_t *project);

/* agent_watch.c */
void agent_watch_open(cara_agent *a, cara_http_reply *reply);
/* Tells every watcher about a change of `kind` ("Project"/"Node"). */
void agent_watch_notify(cara_agent *a, const char *kind, const char *name);
void agent_watch_close_all(cara_agent *a);

/* agent_gossip.c: sockets around the gossip node object */
int agent_gossip_start(cara_agent *a);
void agent_gossip_leave(cara_agent *a); /* graceful: members are told */
void agent_gossip_stop(cara_agent *a);  /* closes the handles; run the loop after */
void agent_gossip_free(cara_agent *a);
/* Queues a record this node wrote for gossip (no-op without it); it goes
 * out at the next agent_gossip_flush, after the disk. */
void agent_gossip_publish(cara_agent *a, const uint8_t *record, size_t len);
/* Persists what is pending, then sends what gossip queued. */
void agent_gossip_flush(cara_agent *a);
/* Defers an API answer until `wanted` nodes hold `record` (this one
 * included) or `timeout_ms` passes (then 202 with how many do). Takes
 * `body`. False when there is nothing to wait for: answer now. */
bool agent_gossip_defer_ack(cara_agent *a, const uint8_t *record, size_t len, uint32_t wanted,
                            uint32_t timeout_ms, int status, json_t *body, cara_http_reply *reply);
int agent_gossip_member(cara_agent *a, const char *name, cara_gossip_member *out);
/* Adds "membership" {state, incarnation, lastContactAgoMs | self} to a
 * node's JSON when gossip knows the node. */
void agent_gossip_annotate(cara_agent *a, json_t *node, const char *name);
void agent_gossip_stats(cara_agent *a, cara_gossip_stats *out, bool *on);

/* agent_logs.c: `from_node` when an admitted node signed the request (it
 * is a proxied one, never proxied again). */
void agent_logs_open(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                     const char *project, bool from_node);

#endif
