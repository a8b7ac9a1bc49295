/* cara-agent's lifecycle: open the state, start the parts, run, stop. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>

#include "agent/agent_int.h"
#include "os/os.h"

/* Reads the node key, creating it on first start. */
static int node_key(cara_agent *a)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/node.key", a->cfg.data_dir);
    uint8_t seed[CARA_OS_KEY_SEED_BYTES];
    int rc = cara_os_keyfile_read(path, seed);
    if (rc == CARA_ENOENT) {
        cara_os_key_generate(seed);
        rc = cara_os_keyfile_write(path, seed, false);
        if (rc == 0)
            cara_env_logf(a->env, CARA_LOG_INFO, "agent", "created node key %s", path);
    }
    if (rc == 0)
        rc = cara_crdt_key_from_seed(seed, a->node_pk, a->node_sk);
    memset(seed, 0, sizeof seed);
    if (rc != 0)
        cara_env_logf(a->env, CARA_LOG_ERROR, "agent", "node key %s: %s", path, cara_strerror(rc));
    return rc;
}

static int open_state(cara_agent *a)
{
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])a->cfg.operator_pks,
                        .operator_pks_count = a->cfg.operator_pks_count,
                        .tombstone_horizon_ms = a->cfg.tombstone_horizon_ms,
                        .floor_horizon_ms = a->cfg.floor_horizon_ms,
                        .records_max = a->cfg.records_max,
                        .validate_value = cara_core_validate_value,
                        .validate_ctx = a->env};
    int rc = cara_crdt_new(&a->crdt, &cc, a->env);
    if (rc != 0)
        return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/state.db", a->cfg.data_dir);
    if ((rc = cara_store_open(&a->store, path, a->env)) != 0) {
        cara_env_logf(a->env, CARA_LOG_ERROR, "agent", "cannot open %s: %s", path, cara_strerror(rc));
        return rc;
    }
    int64_t majority_at = 0;
    if ((rc = cara_store_stamp_get(a->store, AGENT_MAJORITY_STAMP, &majority_at)) != 0)
        return rc;
    a->majority_stamp_ms = majority_at;
    cara_core_cfg core = {.name = a->cfg.name, .node_pk = a->node_pk, .node_sk = a->node_sk,
                          .crdt = a->crdt, .last_majority_wall_ms = majority_at};
    if ((rc = cara_core_new(&a->core, &core, a->env)) != 0)
        return rc;
    cara_store_report rep;
    rc = cara_store_load(a->store, a->crdt, cara_env_now_wall_ms(a->env), &rep);
    if (rc == 0)
        cara_env_logf(a->env, CARA_LOG_INFO, "agent",
                      "state loaded: records=%zu floors=%zu quarantined=%zu dropped=%zu "
                      "migrated=%zu",
                      rep.loaded, rep.floors, rep.quarantined, rep.dropped, rep.migrated);
    a->quarantined = rep.quarantined;
    /* The node record's generation: a counter kept on disk, above any
     * record of ours the state holds, so a clock set back at boot cannot
     * make our new record lose to an old one (issue: wall-clock versions). */
    cara_crdt_record own;
    uint64_t held = cara_crdt_get(a->crdt, CARA_CRDT_NODE, (const uint8_t *)a->cfg.name,
                                  strlen(a->cfg.name), &own) == 0 &&
                            memcmp(own.author, a->node_pk, CARA_CRDT_PK_BYTES) == 0
                        ? own.generation
                        : 0;
    if (rc == 0 && held >= CARA_GENERATION_MAX)
        held = CARA_GENERATION_MAX - 1;
    uint64_t incarnation = 0;
    if (rc == 0 && (rc = cara_store_counter_next(a->store, "node_incarnation", held + 1,
                                                 &incarnation)) != 0)
        cara_env_logf(a->env, CARA_LOG_ERROR, "agent", "node incarnation: %s", cara_strerror(rc));
    cara_core_set_incarnation(a->core, incarnation);
    return rc;
}

/* Collection (docs/crdt.md): tombstones past the horizon become floors,
 * what deleted projects left goes, old floors expire. */
static void on_gc(uv_timer_t *t)
{
    cara_agent *a = t->data;
    if (a->stopping)
        return;
    size_t n = cara_crdt_gc(a->crdt, cara_env_now_wall_ms(a->env));
    if (n > 0) {
        cara_env_logf(a->env, CARA_LOG_INFO, "agent", "collection removed %zu records and floors",
                      n);
        agent_persist(a);
    }
}

static void on_info(void *arg, const cara_docker_result *res);

static void on_info_timer(uv_timer_t *t)
{
    cara_agent *a = t->data;
    if (!a->stopping && cara_docker_request(a->docker, "GET", "/info", NULL, on_info, a) != 0)
        uv_timer_start(&a->info_timer, on_info_timer, 5000, 0);
}

/* The engine's CPU count and memory become the node's capacity. The first
 * answer also tells the reconciler its desired set is complete. */
static void on_info(void *arg, const cara_docker_result *res)
{
    cara_agent *a = arg;
    if (a->stopping || res->rc == CARA_EAGAIN)
        return; /* cancelled by shutdown: the reconciler is gone */
    json_t *j = res->rc == 0 && res->http_status == 200
                    ? json_loadb(res->body, res->body_len, 0, NULL)
                    : NULL;
    agent_node_engine_seen(a, res->rc == 0 && res->http_status == 200);
    if (j == NULL) {
        cara_env_logf(a->env, CARA_LOG_WARN, "agent", "engine /info failed: %s; retrying in 5 s",
                      res->error[0] ? res->error : "no answer");
        uv_timer_start(&a->info_timer, on_info_timer, 5000, 0);
    } else {
        a->capacity.cpu_millis = (uint64_t)json_integer_value(json_object_get(j, "NCPU")) * 1000;
        a->capacity.memory_bytes = (uint64_t)json_integer_value(json_object_get(j, "MemTotal"));
        json_decref(j);
    }
    if (a->info_done)
        return;
    a->info_done = true;
    agent_node_refresh(a); /* the first record says what is known, not Unknown */
    agent_publish_node(a);
    agent_reevaluate_all(a);
    agent_maybe_complete(a);
}

void agent_maybe_complete(cara_agent *a)
{
    /* From now on the desired set is what the state says: the reconciler may
     * remove objects of projects this node does not own. Only once the node
     * object has settled what this node runs (after its first exchange, or
     * fenced): a node back from a long absence then removes its stale
     * copies first, one back from a short one keeps them (docs/scheduling.md).
     * Not if rows were set aside at load: a project whose spec was
     * quarantined would look like an orphan, and removing running workloads
     * on a doubt is worse than leaving them until an operator looks. */
    if (a->recon_completed || !a->info_done || !cara_core_settled(a->core))
        return;
    a->recon_completed = true;
    if (a->quarantined > 0)
        cara_env_logf(a->env, CARA_LOG_WARN, "agent",
                      "%zu stored records were quarantined at load: objects of projects this "
                      "node does not know are left alone until the next start",
                      a->quarantined);
    else
        cara_reconciler_set_complete(a->recon);
}

static void on_tick(uv_timer_t *t)
{
    cara_agent *a = t->data;
    agent_eval_soon(a); /* an expireAt that passed, the fence */
    agent_node_tick(a);
    agent_fence_tick(a);
}

static void on_leave_timer(uv_timer_t *t);

static void shutdown_agent(cara_agent *a, int signum)
{
    if (a->stopping)
        return;
    /* Ctrl-C is a graceful leave (members stop counting this node): the
     * notice goes out, and the node keeps answering for one probe period
     * so that it spreads, then stops. A SIGTERM is a restart or a stop the
     * node returns from: members see it die and it refutes when it is
     * back, as serf and Consul do. */
    if (signum == SIGINT && a->gossip != NULL && !a->leaving) {
        a->leaving = true;
        cara_env_logf(a->env, CARA_LOG_INFO, "agent",
                      "signal %d: leaving the cluster, then shutting down; containers keep "
                      "running", signum);
        agent_gossip_leave(a);
        uv_timer_start(&a->leave_timer, on_leave_timer, AGENT_LEAVE_WAIT_MS, 0);
        return;
    }
    a->stopping = true;
    if (signum != 0 && !a->leaving)
        cara_env_logf(a->env, CARA_LOG_INFO, "agent",
                      "signal %d: shutting down; containers keep running", signum);
    uv_timer_stop(&a->leave_timer);
    uv_close((uv_handle_t *)&a->leave_timer, NULL);
    agent_gossip_stop(a);
    agent_watch_close_all(a);
    cara_http_free(a->http);
    a->http = NULL;
    /* After the server: proxied streams end with their clients. */
    cara_httpc_free(a->peers);
    a->peers = NULL;
    cara_reconciler_free(a->recon);
    a->recon = NULL;
    /* After the reconciler: its steps in flight are cancelled with it. */
    cara_docker_free(a->docker);
    a->docker = NULL;
    uv_timer_stop(&a->tick);
    uv_close((uv_handle_t *)&a->tick, NULL);
    uv_timer_stop(&a->info_timer);
    uv_close((uv_handle_t *)&a->info_timer, NULL);
    uv_timer_stop(&a->fail_timer);
    uv_close((uv_handle_t *)&a->fail_timer, NULL);
    uv_timer_stop(&a->gc_timer);
    uv_close((uv_handle_t *)&a->gc_timer, NULL);
    agent_eval_close(a);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum) { shutdown_agent(s->data, signum); }

static void on_leave_timer(uv_timer_t *t) { shutdown_agent(t->data, 0); }

static void on_fail_timer(uv_timer_t *t) { shutdown_agent(t->data, 0); }

void agent_fail_stop(cara_agent *a, const char *why)
{
    cara_env_logf(a->env, CARA_LOG_ERROR, "agent", "%s: stopping (exit code 1) so that a restart "
                  "reloads the durable state", why);
    a->exit_code = 1;
    if (!a->stopping && !uv_is_active((uv_handle_t *)&a->fail_timer))
        uv_timer_start(&a->fail_timer, on_fail_timer, 0, 0);
}

static bool all_loopback(const cara_agent_config *cfg)
{
    for (size_t i = 0; i < cfg->api_count; i++)
        if (strncmp(cfg->api[i], "127.", 4) != 0 && strncmp(cfg->api[i], "[::1]:", 6) != 0)
            return false;
    return true;
}

/* Which node keys the API accepts (on the logs route only; auth.h). */
static bool node_key_admitted(void *ctx, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    cara_agent *a = ctx;
    return cara_crdt_node_admitted(a->crdt, pk);
}

static int start_parts(cara_agent *a)
{
    cara_docker_config dc = {.host = a->cfg.docker_host};
    int rc = cara_docker_new(&a->docker, a->loop, a->env, &dc);
    if (rc != 0) {
        cara_env_logf(a->env, CARA_LOG_ERROR, "agent", "docker host %s: %s", a->cfg.docker_host,
                      cara_strerror(rc));
        return rc;
    }
    cara_reconciler_config rc_cfg = {.node_name = a->cfg.name, .docker = a->docker,
                                     .loop = a->loop, .env = a->env,
                                     .resync_interval_ms = a->cfg.resync_interval_ms,
                                     .network_pool = a->cfg.network_pool,
                                     .network_prefix_len = a->cfg.network_prefix_len,
                                     .image_pull_attempts = a->cfg.image_pull_attempts,
                                     .image_pull_window_ms = a->cfg.image_pull_window_ms,
                                     .on_status = agent_on_status, .ctx = a};
    if ((rc = cara_reconciler_new(&a->recon, &rc_cfg)) != 0)
        return rc;
    cara_auth_cfg ac = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])a->cfg.operator_pks,
                        .operator_pks_count = a->cfg.operator_pks_count,
                        .node_admitted = node_key_admitted, .node_admitted_ctx = a};
    if ((rc = cara_auth_new(&a->auth, &ac, a->env)) != 0)
        return rc;
    a->api_loopback_only = all_loopback(&a->cfg);
    cara_httpc_config pc = {0};
    if ((rc = cara_httpc_new(&a->peers, a->loop, a->env, &pc)) != 0)
        return rc;
    cara_http_cfg hc = {.loop = a->loop, .env = a->env, .listen = a->cfg.api,
                        .listen_count = a->cfg.api_count, .handler = agent_http_handler,
                        .handler_ctx = a};
    if ((rc = cara_http_new(&a->http, &hc)) != 0) {
        cara_env_logf(a->env, CARA_LOG_ERROR, "agent", "cannot listen on %s: %s", a->cfg.api[0],
                      cara_strerror(rc));
        return rc;
    }
    return cara_docker_request(a->docker, "GET", "/info", NULL, on_info, a);
}

static void free_agent(cara_agent *a)
{
    agent_gossip_stop(a);
    cara_http_free(a->http);
    cara_httpc_free(a->peers);
    cara_reconciler_free(a->recon);
    cara_docker_free(a->docker);
    uv_run(a->loop, UV_RUN_DEFAULT); /* let every handle close */
    agent_gossip_free(a);
    cara_env_free(a->env, a->join_proof);
    cara_auth_free(a->auth);
    cara_store_close(a->store);
    cara_env_free(a->env, a->seen);
    cara_core_free(a->core);
    cara_crdt_free(a->crdt);
    memset(a->node_sk, 0, sizeof a->node_sk);
}

int cara_agent_run(const cara_agent_config *cfg, cara_env *env)
{
    cara_agent a = {.env = env, .cfg = *cfg};
    uv_loop_t loop;
    uv_loop_init(&loop);
    a.loop = &loop;
    agent_eval_init(&a);
    a.started_wall_ms = cara_env_now_wall_ms(env);
    agent_node_init(&a);
    int rc = 0;
    if (cfg->gossip_advertise != NULL && !cara_host_port_valid(cfg->gossip_advertise)) {
        cara_env_logf(env, CARA_LOG_ERROR, "agent",
                      "gossip address \"%s\" is not HOST:PORT", cfg->gossip_advertise);
        rc = CARA_EINVAL;
        goto out;
    }
    if (cfg->disk_available_min_percent > 99) {
        cara_env_logf(env, CARA_LOG_ERROR, "agent", "disk threshold %u%% is not 1..99",
                      (unsigned)cfg->disk_available_min_percent);
        rc = CARA_EINVAL;
        goto out;
    }
    rc = cara_os_mkdir_p(cfg->data_dir, 0700);
    if (rc != 0) {
        cara_env_logf(env, CARA_LOG_ERROR, "agent", "data dir %s: %s", cfg->data_dir, cara_strerror(rc));
        goto out;
    }
    if ((rc = node_key(&a)) != 0 || (rc = open_state(&a)) != 0 || (rc = start_parts(&a)) != 0 ||
        (rc = agent_gossip_start(&a)) != 0)
        goto out;
    char pk_hex[2 * CARA_CRDT_PK_BYTES + 1];
    sodium_bin2hex(pk_hex, sizeof pk_hex, a.node_pk, sizeof a.node_pk);
    cara_env_logf(env, CARA_LOG_INFO, "agent", "node=%s public_key=%s api=%s admitted=%s", cfg->name,
                  pk_hex, cfg->api[0], agent_admitted(&a) ? "yes" : "no");
    uv_signal_init(&loop, &a.sigterm);
    uv_signal_init(&loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_timer_init(&loop, &a.tick);
    a.tick.data = &a;
    uv_timer_init(&loop, &a.info_timer);
    a.info_timer.data = &a;
    uv_timer_init(&loop, &a.fail_timer);
    a.fail_timer.data = &a;
    uv_timer_init(&loop, &a.leave_timer);
    a.leave_timer.data = &a;
    uv_timer_start(&a.tick, on_tick, AGENT_TICK_MS, AGENT_TICK_MS);
    uv_timer_init(&loop, &a.gc_timer);
    a.gc_timer.data = &a;
    uv_timer_start(&a.gc_timer, on_gc, 0,
                   a.cfg.gc_interval_ms ? a.cfg.gc_interval_ms : AGENT_GC_INTERVAL_MS);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = a.exit_code != 0 ? CARA_EIO : 0;
out:
    if (!a.stopping)
        agent_eval_close(&a); /* start failed: nothing else closed it */
    free_agent(&a);
    uv_loop_close(&loop);
    return rc;
}
