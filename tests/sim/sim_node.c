/*
 * The driver of one node: what cara-agent's libuv loop does around its
 * node object (src/core/core.h, which owns the gossip object), with the
 * network, clock and disk of simnet.c instead of real ones. This is the
 * only file that drives the node object (cara_core_*, and cara_gossip_*
 * on the object's gossip), with sim_runtime.c, which hands it the
 * runtime's reports (the checkers only query it): start, inputs,
 * timers, the poll loop after each of them, crash, and restart from the
 * disk. Records stored go to the object as they do in the agent, and its
 * evaluation runs in the poll loop and at its wall-clock deadline (expiry,
 * on the node's own wall clock). When the sim runs projects, values are
 * checked as the agent's store checks them, the node publishes its node
 * record (at start, when admitted, and with a higher incarnation it keeps
 * durable when the object asks for one), and the object's RUN and DELETE
 * actions go to the node's simulated runtime (sim_runtime.c).
 *
 * The order of the poll loop follows the object's durability contract
 * (src/gossip/gossip.h): the crdt's changes are written to the disk and,
 * in the default mode, synced before any datagram or stream byte produced
 * by the same input leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/version.h"

#include "sim_int.h"

#define DRAIN_ROUNDS_MAX 1000
/* The object's evaluation turn runs at most this often (on the node's
 * monotonic clock) while it has work: the agent runs it once per turn of
 * its loop, after every input ready at once (docs/core.md), and a step
 * costs a decode of every node record when one changed
 * (cara_core_nodes_get). Stepping after every datagram instead made the
 * boot of 100 nodes twenty times slower (docs/sim.md, "Speed"). */
#define SIM_CORE_STEP_MS 250

/* ---- Clocks ------------------------------------------------------------------------ */

uint64_t node_mono_at(const sim_node *nd, uint64_t true_ms)
{
    uint64_t elapsed = true_ms > nd->anchor_true_ms ? true_ms - nd->anchor_true_ms : 0;
    uint64_t rate = (uint64_t)((int64_t)SIM_PPM + nd->drift_ppm);
    return nd->anchor_mono_ms + elapsed * rate / SIM_PPM;
}

int64_t node_wall_at(const sim_node *nd, uint64_t true_ms)
{
    return sim_config(nd->s)->wall_start_ms + (int64_t)node_mono_at(nd, true_ms) -
           SIM_MONO_START + nd->wall_offset_ms;
}

uint64_t node_true_of_mono(const sim_node *nd, uint64_t mono_ms)
{
    if (mono_ms == SIM_NEVER)
        return SIM_NEVER;
    if (mono_ms <= nd->anchor_mono_ms)
        return nd->anchor_true_ms;
    uint64_t rate = (uint64_t)((int64_t)SIM_PPM + nd->drift_ppm);
    uint64_t t = nd->anchor_true_ms + ((mono_ms - nd->anchor_mono_ms) * SIM_PPM + rate - 1) / rate;
    while (node_mono_at(nd, t) < mono_ms) /* rounding: at most a step or two */
        t++;
    return t;
}

void node_set_drift(sim_node *nd, int32_t drift_ppm)
{
    uint64_t now = sim_now(nd->s);
    CARA_ASSERT(drift_ppm > -(int32_t)SIM_PPM / 2 && drift_ppm < (int32_t)SIM_PPM / 2);
    nd->anchor_mono_ms = node_mono_at(nd, now);
    nd->anchor_true_ms = now;
    nd->drift_ppm = drift_ppm;
}

static uint64_t mono_now(const sim_node *nd) { return node_mono_at(nd, sim_now(nd->s)); }
static int64_t wall_now(const sim_node *nd) { return node_wall_at(nd, sim_now(nd->s)); }

/* ---- The env of each node -------------------------------------------------------- */

static uint64_t env_mono(void *ctx) { return mono_now(ctx); }
static int64_t env_wall(void *ctx) { return wall_now(ctx); }
/* The node objects' log lines go nowhere, unless CARA_SIM_LOG is set (a
 * debugging aid: every node's lines on stderr, with the simulated time). */
static void env_log(void *ctx, int level, const char *module, const char *msg)
{
    (void)level;
    const sim_node *nd = ctx;
    fprintf(stderr, "%12.3f %s %s: %s\n", (double)sim_now(nd->s) / 1000.0, nd->name, module, msg);
}
static void *env_alloc(void *ctx, size_t n)
{
    return cara_env_alloc(sim_env(((sim_node *)ctx)->s), n);
}
static void *env_realloc(void *ctx, void *p, size_t n)
{
    return cara_env_realloc(sim_env(((sim_node *)ctx)->s), p, n);
}
static void env_free(void *ctx, void *p) { cara_env_free(sim_env(((sim_node *)ctx)->s), p); }

/* ---- Life ------------------------------------------------------------------------- */

static int crdt_fresh(sim_node *nd)
{
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])sim_op_pk(nd->s),
                        .operator_pks_count = 1};
    if (sim_config(nd->s)->projects) {
        cc.validate_value = cara_core_validate_value;
        cc.validate_ctx = &nd->env;
    }
    return cara_crdt_new(&nd->crdt, &cc, &nd->env);
}

/* The node record, as the agent writes it (src/agent/agent_node.c): its
 * overlay address, gossip address, a zone label, a capacity, and the
 * three conditions only it can observe, healthy (the simulated host has
 * no pressure and its engine answers). No Ready condition: readiness is
 * the readers' (DESIGN.md §4). */
#define SIM_NODE_CPU_MILLIS 4000
#define SIM_NODE_MEMORY_BYTES (8ull << 30)
#define SIM_NODE_ZONES 3

static void publish_node(sim_node *nd)
{
    char gossip[64], host[64], zone[8];
    cara_gossip_addr a = sim_addr(nd->index);
    cara_gossip_addr_text(&a, gossip, sizeof gossip);
    snprintf(host, sizeof host, "%s", gossip);
    char *colon = strrchr(host, ':');
    if (colon != NULL)
        *colon = '\0';
    snprintf(zone, sizeof zone, "z%zu", nd->index % SIM_NODE_ZONES);
    char *addrs[1] = {host};
    cara_kv label = {.name = "zone", .value = zone};
    int64_t since = sim_config(nd->s)->wall_start_ms;
    cara_condition conds[3] = {
        {CARA_NODE_COND_MEMORY_PRESSURE, CARA_COND_FALSE, "SufficientMemory",
         "available memory is at least 100Mi", since},
        {CARA_NODE_COND_DISK_PRESSURE, CARA_COND_FALSE, "SufficientDisk",
         "available space on the data dir's filesystem is at least 10%", since},
        {CARA_NODE_COND_DOCKER_REACHABLE, CARA_COND_TRUE, "EngineAnswers",
         "the engine answers its API", since},
    };
    cara_node n = {.name = nd->name, .addrs = addrs, .addrs_count = 1, .labels = &label,
                   .labels_count = 1,
                   .capacity = {.cpu_millis = SIM_NODE_CPU_MILLIS,
                                .memory_bytes = SIM_NODE_MEMORY_BYTES},
                   .state = CARA_NODE_READY, .conditions = conds, .conditions_count = 3,
                   .gossip_addr = gossip, .agent_version = CARA_VERSION};
    cara_buf v;
    cara_buf_init(&v, &nd->env, CARA_NODE_BYTES_MAX);
    int rc = cara_node_encode(&n, &v);
    if (rc == 0)
        rc = cara_core_publish_node(nd->core, v.data, v.len, wall_now(nd));
    CARA_ASSERT(rc == 0); /* the harness's own record: anything else is its bug */
    sim_stats_mut(nd->s)->node_publishes++;
    cara_buf_free(&v);
}

int node_new(sim *s, size_t i, sim_node **out)
{
    const sim_cfg *cfg = sim_config(s);
    sim_node *nd = cara_env_calloc(sim_env(s), 1, sizeof *nd);
    if (nd == NULL)
        return CARA_ENOMEM;
    *out = nd;
    nd->s = s;
    nd->index = i;
    nd->deadline_ms = SIM_NEVER;
    nd->anchor_true_ms = nd->anchor_mono_ms = SIM_MONO_START;
    (void)snprintf(nd->name, sizeof nd->name, "n%02zu", i);
    /* Each node's key depends on the seed and its index alone, so that a
     * run with more nodes keeps the keys of the first ones. */
    cara_rng krng;
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    cara_rng_seed(&krng, cfg->seed * 0x9e3779b97f4a7c15ull + i + 1);
    cara_rng_bytes(&krng, seed, sizeof seed);
    CARA_ASSERT(cara_crdt_key_from_seed(seed, nd->pk, nd->sk) == 0);
    nd->env = (cara_env){nd, env_mono, env_wall, env_log, env_alloc, env_realloc,
                         env_free, getenv("CARA_SIM_LOG") != NULL ? CARA_LOG_INFO : CARA_LOG_ERROR,
                         {{0}}};
    cara_rng_seed(&nd->env.rng, cfg->seed * 1000003u + i + 1);
    nd->hash_dirty = true;
    int rc = crdt_fresh(nd);
    if (rc == 0)
        rc = sim_store_new(&nd->store, sim_env(s), sim_blob_pool(s), &cfg->store,
                           cfg->seed ^ (0x5705e000ull + i));
    if (rc == 0)
        rc = sim_mirror_new(&nd->mirror, sim_env(s), sim_blob_pool(s));
    if (rc == 0 && cfg->projects)
        rc = sim_runtime_new(&nd->rt, nd);
    return rc;
}

void node_free(sim_node *nd)
{
    if (nd == NULL)
        return;
    cara_env *env = sim_env(nd->s);
    cara_core_free(nd->core); /* and its gossip object */
    cara_crdt_free(nd->crdt);
    sim_store_free(nd->store);
    sim_mirror_free(nd->mirror);
    sim_runtime_free(nd->rt);
    cara_env_free(env, nd->conns);
    cara_env_free(env, nd);
}

int node_start(sim_node *nd)
{
    if (nd->g != NULL)
        return CARA_EEXIST;
    const sim_cfg *cfg = sim_config(nd->s);
    nd->life++;
    if (nd->life > 1)
        sim_stats_mut(nd->s)->restarts++;
    cara_rng_seed(&nd->env.rng, (cfg->seed * 1000003u + nd->index + 1) ^ ((uint64_t)nd->life << 40));
    cara_gossip_cfg gc = cfg->gossip;
    gc.name = nd->name;
    memcpy(gc.pk, nd->pk, sizeof gc.pk);
    memcpy(gc.sk, nd->sk, sizeof gc.sk);
    gc.addr = sim_addr(nd->index);
    gc.epoch = nd->life;
    /* The agent's stamp of the last majority seen, kept durable as its
     * incarnation counter is (docs/scheduling.md, "Coming back"). */
    cara_core_cfg cc = {.name = nd->name, .node_pk = nd->pk, .node_sk = nd->sk, .crdt = nd->crdt,
                        .last_majority_wall_ms = nd->majority_stamp_wall_ms,
                        .fencing_disabled = sim_config(nd->s)->fencing_off};
    int rc = cara_core_new(&nd->core, &cc, &nd->env);
    /* The agent takes the next value of its durable counter at each start
     * (agent.c): a new life's record never loses to an older one's. */
    if (rc == 0)
        cara_core_set_incarnation(nd->core, ++nd->incarnation);
    if (rc == 0 && (rc = cara_core_gossip_start(nd->core, &gc, mono_now(nd))) != 0) {
        cara_core_free(nd->core);
        nd->core = NULL;
    }
    if (rc != 0)
        return rc;
    nd->g = cara_core_gossip(nd->core);
    nd->installed = true;
    nd->next_sync_mono_ms = mono_now(nd) + cfg->store.sync_interval_ms;
    if (nd->rt != NULL) {
        sim_runtime_start(nd->rt);
        /* A restarted node says where it stands at once, as the agent
         * publishes its record when it starts admitted. */
        if (cara_crdt_node_admitted(nd->crdt, nd->pk))
            publish_node(nd);
    }
    node_drain(nd);
    return 0;
}

/* The process dies: its object and memory go, its disk keeps what was
 * synced, and the state a restart will load is rebuilt from it now. */
void node_crash(sim_node *nd)
{
    if (nd->g == NULL)
        return;
    sim_stats *st = sim_stats_mut(nd->s);
    cara_core_free(nd->core); /* and its gossip object */
    nd->core = NULL;
    nd->g = NULL;
    if (nd->rt != NULL)
        sim_runtime_crash(nd->rt); /* the engine's containers die with the host */
    st->writes_lost += sim_store_crash(nd->store);
    cara_crdt_free(nd->crdt);
    nd->crdt = NULL;
    CARA_ASSERT(crdt_fresh(nd) == 0);
    st->restart_records_refused += sim_store_load(nd->store, nd->crdt, wall_now(nd));
    /* What loading installed is what the disk holds already. */
    cara_crdt_change c;
    while (cara_crdt_poll_change(nd->crdt, &c))
        ;
    sim_mirror_reload(nd->mirror, nd->crdt);
    nd->hash_dirty = true;
    nd->paused_until_ms = 0;
    net_node_down(nd->s, nd->index);
}

/* ---- Input ------------------------------------------------------------------------- */

void node_input_datagram(sim_node *nd, const cara_gossip_addr *from, const uint8_t *b, size_t len)
{
    (void)cara_gossip_recv(nd->g, from, b, len, mono_now(nd), wall_now(nd));
}

int node_input_accept(sim_node *nd, uint32_t *sid)
{
    return cara_gossip_stream_accept(nd->g, sid, mono_now(nd));
}

void node_input_connected(sim_node *nd, uint32_t sid)
{
    cara_gossip_stream_connected(nd->g, sid, mono_now(nd));
}

void node_input_stream(sim_node *nd, uint32_t sid, const uint8_t *b, size_t len)
{
    (void)cara_gossip_stream_recv(nd->g, sid, b, len, mono_now(nd), wall_now(nd));
}

void node_input_closed(sim_node *nd, uint32_t sid) { cara_gossip_stream_closed(nd->g, sid); }

void node_tick(sim_node *nd)
{
    if (nd->g != NULL)
        (void)cara_gossip_tick(nd->g, mono_now(nd), wall_now(nd));
    if (nd->g != NULL && nd->rt != NULL)
        sim_runtime_due(nd->rt);
}

/* ---- What the world asks of a node ------------------------------------------------------ */

int node_add_member(sim_node *nd, const char *name, const uint8_t pk[CARA_CRDT_PK_BYTES],
                    cara_gossip_addr addr)
{
    int rc = cara_gossip_add_member(nd->g, name, pk, &addr, mono_now(nd));
    node_drain(nd);
    return rc;
}

/* Every member its admissions name, as the agent adds every member whose
 * node record its store holds after a restart. */
size_t node_add_known_members(sim_node *nd)
{
    if (nd->g == NULL)
        return 0;
    size_t added = 0, count = cara_crdt_admitted_count(nd->crdt);
    for (size_t k = 0; k < count; k++) {
        uint8_t pk[CARA_CRDT_PK_BYTES];
        const char *name;
        size_t name_len;
        if (cara_crdt_admitted_at(nd->crdt, k, pk, &name, &name_len) != 0)
            continue;
        int j = sim_node_of_name(nd->s, name, name_len);
        if (j < 0 || (size_t)j == nd->index)
            continue;
        cara_gossip_addr a = sim_addr((size_t)j);
        added += cara_gossip_add_member(nd->g, sim_name(nd->s, (size_t)j), pk, &a,
                                        mono_now(nd)) == 0;
    }
    node_drain(nd);
    return added;
}

int node_join(sim_node *nd, cara_gossip_addr seed, const uint8_t *proof, size_t proof_len)
{
    int rc = cara_gossip_join(nd->g, &seed, proof, proof_len, mono_now(nd));
    node_drain(nd);
    return rc;
}

int node_leave(sim_node *nd)
{
    if (nd->g == NULL)
        return CARA_EINVAL;
    int rc = cara_gossip_leave(nd->g, mono_now(nd));
    node_drain(nd);
    return rc;
}

int node_install(sim_node *nd, const uint8_t *envelope, size_t len)
{
    int rc = cara_crdt_apply_local(nd->crdt, envelope, len, wall_now(nd), NULL);
    node_drain(nd);
    return rc;
}

int node_accept(sim_node *nd, const uint8_t *envelope, size_t len, uint32_t holders)
{
    if (nd->g == NULL)
        return CARA_EINVAL;
    int rc = cara_crdt_apply_local(nd->crdt, envelope, len, wall_now(nd), NULL);
    if (rc == 0)
        rc = cara_gossip_publish(nd->g, envelope, len, holders, mono_now(nd));
    node_drain(nd);
    return rc;
}

int node_relay(sim_node *nd, const uint8_t *envelope, size_t len)
{
    if (nd->g == NULL)
        return CARA_EINVAL;
    int rc = cara_gossip_publish(nd->g, envelope, len, 0, mono_now(nd));
    node_drain(nd);
    return rc;
}

/* ---- Output ------------------------------------------------------------------------ */

/* A change the disk took goes to the node object, as the agent's store
 * feed does (it is written, synced or not, before the object acts). */
static void core_told(sim_node *nd, const cara_crdt_change *c)
{
    cara_crdt_record r;
    if (c->type == CARA_CRDT_CHANGE_PUT && cara_crdt_record_decode(c->bytes, c->len, &r) == 0) {
        char key[CARA_CRDT_KEY_BYTES_MAX + 1];
        (void)snprintf(key, sizeof key, "%.*s", (int)r.key_bytes, (const char *)r.key);
        cara_core_record_changed(nd->core, r.kind, key);
    } else if (c->type == CARA_CRDT_CHANGE_DEL || c->type == CARA_CRDT_CHANGE_RESET) {
        cara_core_all_changed(nd->core);
    }
}

/* The object's evaluation turn, and its actions carried out: its records
 * to gossip (stored by the next persist, before anything is sent), node
 * records published when it asks, runs and deletes to the runtime. */
static bool core_turn(sim_node *nd)
{
    if (nd->core == NULL)
        return false;
    uint64_t mono = mono_now(nd);
    if ((cara_core_busy(nd->core) && mono >= nd->core_step_mono_ms) ||
        cara_core_next_deadline_wall_ms(nd->core) <= wall_now(nd) ||
        cara_core_next_deadline_mono_ms(nd->core) <= mono) {
        cara_core_step(nd->core, mono, wall_now(nd));
        nd->core_step_mono_ms = mono + SIM_CORE_STEP_MS;
        cara_core_fence_state f;
        cara_core_fence_get(nd->core, &f);
        if (f.majority)
            nd->majority_stamp_wall_ms = f.majority_wall_ms;
    }
    bool any = false;
    cara_core_action act;
    while (cara_core_poll_action(nd->core, &act) == 0) {
        any = true;
        switch (act.kind) {
        case CARA_CORE_ACT_RECORD:
            (void)cara_gossip_publish(nd->g, act.record, act.record_len, 0, mono_now(nd));
            break;
        case CARA_CORE_ACT_INCARNATION:
            /* Durable first (the agent's store counter), then set and published. */
            if (act.generation > nd->incarnation)
                nd->incarnation = act.generation;
            cara_core_set_incarnation(nd->core, nd->incarnation);
            if (nd->rt != NULL)
                publish_node(nd);
            break;
        case CARA_CORE_ACT_PUBLISH_NODE:
            if (nd->rt != NULL)
                publish_node(nd);
            break;
        case CARA_CORE_ACT_RUN:
        case CARA_CORE_ACT_DELETE:
            if (nd->rt != NULL)
                sim_runtime_take(nd->rt, &act);
            break;
        default:
            break;
        }
        cara_core_action_free(nd->core, &act);
    }
    return any;
}

static void stored(void *ctx, const uint8_t *b, size_t len)
{
    sim_node *nd = ctx;
    net_stored(nd->s, nd->index, b, len);
}

void node_persist(sim_node *nd, bool before_send)
{
    const sim_store_cfg *sc = &sim_config(nd->s)->store;
    cara_crdt_change c;
    bool reset = false;
    while (cara_crdt_poll_change(nd->crdt, &c)) {
        net_change(nd->s, nd->index, &c);
        CARA_ASSERT(sim_store_write(nd->store, nd->crdt, &c) == 0);
        sim_mirror_change(nd->mirror, &c);
        reset |= c.type == CARA_CRDT_CHANGE_RESET;
        nd->hash_dirty = true;
        if (nd->core != NULL)
            core_told(nd, &c);
    }
    if (reset)
        sim_mirror_reload(nd->mirror, nd->crdt);
    if (!sim_store_dirty(nd->store))
        return;
    /* A node that is down is being installed (admissions written by an
     * installer): those writes are durable whatever the mode. */
    bool sync = nd->g == NULL || (sc->sync == SIM_SYNC_BEFORE_SEND && before_send);
    if (sc->sync == SIM_SYNC_INTERVAL && mono_now(nd) >= nd->next_sync_mono_ms) {
        nd->next_sync_mono_ms = mono_now(nd) + sc->sync_interval_ms;
        sync = true;
    }
    if (sync) {
        sim_stats_mut(nd->s)->syncs++;
        (void)sim_store_sync(nd->store, stored, nd);
    }
}

/* The true time at which the node's wall clock reads wall_ms (now if past). */
static uint64_t true_of_wall(const sim_node *nd, int64_t wall_ms)
{
    int64_t now_wall = wall_now(nd);
    if (wall_ms <= now_wall)
        return sim_now(nd->s);
    uint64_t ahead = (uint64_t)(wall_ms - now_wall);
    return node_true_of_mono(nd, mono_now(nd) + ahead);
}

uint64_t node_next_deadline(const sim_node *nd)
{
    if (nd->g == NULL)
        return SIM_NEVER;
    uint64_t t = node_true_of_mono(nd, cara_gossip_next_deadline_ms(nd->g));
    if (cara_core_busy(nd->core)) {
        uint64_t ts = node_true_of_mono(nd, nd->core_step_mono_ms);
        ts = ts > sim_now(nd->s) ? ts : sim_now(nd->s);
        t = ts < t ? ts : t;
    }
    int64_t wall = cara_core_next_deadline_wall_ms(nd->core);
    if (wall != INT64_MAX) {
        uint64_t tw = true_of_wall(nd, wall);
        t = tw < t ? tw : t;
    }
    uint64_t fence = cara_core_next_deadline_mono_ms(nd->core);
    if (fence != UINT64_MAX) {
        uint64_t tf = node_true_of_mono(nd, fence);
        tf = tf > sim_now(nd->s) ? tf : sim_now(nd->s);
        t = tf < t ? tf : t;
    }
    if (nd->rt != NULL) {
        uint64_t tr = sim_runtime_next_ms(nd->rt);
        t = tr < t ? tr : t;
    }
    if (sim_config(nd->s)->store.sync == SIM_SYNC_INTERVAL && sim_store_dirty(nd->store)) {
        uint64_t ts = node_true_of_mono(nd, nd->next_sync_mono_ms);
        t = ts < t ? ts : t;
    }
    return t;
}

void node_drain(sim_node *nd)
{
    sim *s = nd->s;
    node_persist(nd, true);
    uint8_t *dgram = sim_dgram_buf(s);
    cara_buf *segment = sim_segment_buf(s);
    for (int round = 0; nd->g != NULL && round < DRAIN_ROUNDS_MAX; round++) {
        bool any = core_turn(nd);
        if (any)
            node_persist(nd, true);
        cara_gossip_addr to;
        size_t len;
        uint32_t sid;
        while (cara_gossip_poll_send(nd->g, &to, dgram, CARA_GOSSIP_DATAGRAM_BYTES_MAX, &len) == 0) {
            net_datagram(s, nd->index, &to, dgram, len);
            any = true;
        }
        while (cara_gossip_poll_dial(nd->g, &sid, &to) == 0) {
            net_dial(s, nd->index, sid, &to);
            any = true;
        }
        cara_buf_reset(segment);
        while (cara_gossip_stream_poll_send(nd->g, &sid, segment) == 0) {
            net_stream_write(s, nd->index, sid, segment->data, segment->len);
            cara_buf_reset(segment);
            any = true;
        }
        while (cara_gossip_poll_close(nd->g, &sid) == 0) {
            net_stream_close(s, nd->index, sid);
            any = true;
        }
        cara_gossip_event ev;
        while (cara_core_poll_gossip_event(nd->core, &ev) == 0) {
            net_event(s, nd->index, &ev);
            any = true;
        }
        if (!any)
            break;
    }
    net_refresh(s, nd);
}
