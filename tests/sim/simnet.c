/*
 * simnet: the deterministic cluster harness (simnet.h). One event queue (a
 * binary heap keyed by time then scheduling order), per-node timers read
 * from cara_gossip_next_deadline_ms, and a driver loop per node that does
 * what the agent's libuv loop does. Core-only: no clock, socket, file or
 * OS randomness; memory comes from the caller's env.
 */
#include "simnet.h"

#include <stdio.h>

#include <string.h>

#define EV_DGRAM 1     /* a datagram arrives at `to` */
#define EV_ACCEPT 2    /* a dial reaches `to`: it accepts */
#define EV_CONNECTED 3 /* the dialler learns its connection is up */
#define EV_BYTES 4     /* stream bytes arrive at `to` */
#define EV_CLOSED 5    /* `to` learns its end of a stream closed */
#define EV_OUTSIDE 6   /* bytes from an outside party arrive at `to` (conn: its handle) */

#define CONNS_MAX 4096
#define SEGMENT_BYTES_MAX (64 * 1024)
#define DRAIN_ROUNDS_MAX 1000
#define PORT 7946

typedef struct sim_ev {
    uint64_t at_ms, seq;
    uint8_t type;
    uint16_t to;
    uint32_t life;     /* the target's life when scheduled */
    uint32_t conn;     /* EV_ACCEPT .. EV_CLOSED */
    cara_gossip_addr from;
    uint8_t *bytes;    /* owned */
    size_t len;
} sim_ev;

/* A connection: end 0 is the dialler, end 1 the accepter. */
typedef struct sim_conn {
    bool used, broken;
    uint32_t id;
    uint16_t node[2];
    uint32_t life[2];
    uint32_t sid[2];   /* the object's stream id at each end; 0 before accept */
    bool open[2];      /* the object at that end still holds the stream */
    uint64_t last_at[2]; /* last arrival scheduled towards end k */
} sim_conn;

/* An outside party's connection to a node (sim_outside_*). */
typedef struct sim_outside {
    bool used, node_open;
    uint16_t node;
    uint32_t life, sid;
    uint8_t *kept; /* SIM_OUTSIDE_KEEP_BYTES, owned */
    size_t kept_len;
    uint64_t total;
} sim_outside;

typedef struct sim_node {
    sim *s;
    size_t index;
    char name[24]; /* "n" and an index: room for any size_t, as -Wformat-truncation asks */
    uint8_t pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    cara_env env;
    cara_crdt *crdt;
    cara_gossip *g;
    uint32_t life;
    int64_t skew_ms;
    uint64_t deadline_ms; /* cached next deadline; SIM_NEVER when down */
} sim_node;

struct sim {
    sim_cfg cfg;
    cara_env *env;
    cara_rng rng;
    uint8_t op_pk[CARA_CRDT_PK_BYTES], op_sk[CARA_CRDT_SK_BYTES];
    sim_node *nodes[SIM_NODES_MAX];
    size_t n;
    sim_link_cfg links[SIM_NODES_MAX][SIM_NODES_MAX];
    bool cut[SIM_NODES_MAX][SIM_NODES_MAX];
    sim_ev *heap;
    size_t heap_count, heap_cap;
    uint64_t seq, now_ms;
    sim_conn *conns;
    uint32_t conn_id_next;
    sim_outside outside[SIM_OUTSIDE_MAX];
    uint8_t *dgram;  /* CARA_GOSSIP_DATAGRAM_BYTES_MAX */
    cara_buf segment;
    sim_datagram_fn on_datagram;
    sim_event_fn on_event;
    void *tap_ctx;
    uint64_t trace;
    sim_stats stats;
};

/* ---- Trace hash (FNV-1a, 64 bits) ---------------------------------------------- */

static void trace_bytes(sim *s, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) {
        s->trace ^= b[i];
        s->trace *= 0x100000001b3ull;
    }
}

static void trace_u64(sim *s, uint64_t v) { trace_bytes(s, &v, sizeof v); }

/* ---- The env of each node -------------------------------------------------------- */

static uint64_t node_mono(void *ctx) { return ((sim_node *)ctx)->s->now_ms; }
static int64_t node_wall(void *ctx)
{
    sim_node *nd = ctx;
    return nd->s->cfg.wall_start_ms + (int64_t)nd->s->now_ms + nd->skew_ms;
}
static void node_log(void *ctx, int level, const char *module, const char *msg)
{
    (void)ctx, (void)level, (void)module, (void)msg;
}
static void *node_alloc(void *ctx, size_t n)
{
    return cara_env_alloc(((sim_node *)ctx)->s->env, n);
}
static void *node_realloc(void *ctx, void *p, size_t n)
{
    return cara_env_realloc(((sim_node *)ctx)->s->env, p, n);
}
static void node_free(void *ctx, void *p) { cara_env_free(((sim_node *)ctx)->s->env, p); }

/* ---- Event queue ------------------------------------------------------------------- */

static bool ev_before(const sim_ev *a, const sim_ev *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static int heap_push(sim *s, sim_ev *ev)
{
    if (s->heap_count == s->heap_cap) {
        size_t cap = s->heap_cap ? 2 * s->heap_cap : 1024;
        sim_ev *h = cara_env_realloc(s->env, s->heap, cap * sizeof *h);
        if (h == NULL) {
            cara_env_free(s->env, ev->bytes);
            return CARA_ENOMEM;
        }
        s->heap = h;
        s->heap_cap = cap;
    }
    ev->seq = s->seq++;
    size_t i = s->heap_count++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_before(ev, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = *ev;
    return 0;
}

static sim_ev heap_pop(sim *s)
{
    sim_ev top = s->heap[0];
    sim_ev last = s->heap[--s->heap_count];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_count)
            break;
        if (c + 1 < s->heap_count && ev_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_count > 0)
        s->heap[i] = last;
    return top;
}

static int schedule(sim *s, uint8_t type, size_t to, uint64_t at_ms, uint32_t conn,
                    const cara_gossip_addr *from, const uint8_t *bytes, size_t len)
{
    sim_ev ev = {.at_ms = at_ms, .type = type, .to = (uint16_t)to, .conn = conn,
                 .life = s->nodes[to]->life, .len = len};
    if (from != NULL)
        ev.from = *from;
    if (len > 0) {
        ev.bytes = cara_env_alloc(s->env, len);
        if (ev.bytes == NULL)
            return CARA_ENOMEM;
        memcpy(ev.bytes, bytes, len);
    }
    return heap_push(s, &ev);
}

/* ---- Addresses and identities ---------------------------------------------------- */

cara_gossip_addr sim_addr(size_t i)
{
    cara_gossip_addr a = {.len = 6, .bytes = {100, 64, (uint8_t)(i >> 8), (uint8_t)(i + 1),
                                              PORT >> 8, PORT & 0xff}};
    if ((uint8_t)(i + 1) == 0)
        a.bytes[2]++;
    return a;
}

int sim_node_of_addr(const cara_gossip_addr *a)
{
    for (size_t i = 0; i < SIM_NODES_MAX; i++) {
        cara_gossip_addr b = sim_addr(i);
        if (a->len == b.len && memcmp(a->bytes, b.bytes, b.len) == 0)
            return (int)i;
    }
    return -1;
}

size_t sim_nodes_count(const sim *s) { return s->n; }
const char *sim_name(const sim *s, size_t i) { return s->nodes[i]->name; }
const uint8_t *sim_pk(const sim *s, size_t i) { return s->nodes[i]->pk; }
const uint8_t *sim_sk(const sim *s, size_t i) { return s->nodes[i]->sk; }
const uint8_t *sim_operator_pk(const sim *s) { return s->op_pk; }
const uint8_t *sim_operator_sk(const sim *s) { return s->op_sk; }
uint64_t sim_now(const sim *s) { return s->now_ms; }
int64_t sim_wall(const sim *s, size_t i) { return node_wall(s->nodes[i]); }
void sim_set_skew(sim *s, size_t i, int64_t skew_ms) { s->nodes[i]->skew_ms = skew_ms; }
bool sim_up(const sim *s, size_t i) { return s->nodes[i]->g != NULL; }
uint32_t sim_life(const sim *s, size_t i) { return s->nodes[i]->life; }
cara_gossip *sim_gossip(sim *s, size_t i) { return s->nodes[i]->g; }
cara_crdt *sim_crdt(sim *s, size_t i) { return s->nodes[i]->crdt; }
uint64_t sim_trace_hash(const sim *s) { return s->trace; }
void sim_stats_get(const sim *s, sim_stats *out) { *out = s->stats; }
sim_link_cfg *sim_link(sim *s, size_t from, size_t to) { return &s->links[from][to]; }

void sim_set_taps(sim *s, sim_datagram_fn on_datagram, sim_event_fn on_event, void *ctx)
{
    s->on_datagram = on_datagram;
    s->on_event = on_event;
    s->tap_ctx = ctx;
}

void *sim_tap_ctx(const sim *s) { return s->tap_ctx; }

static void make_key(sim *s, uint8_t pk[CARA_CRDT_PK_BYTES], uint8_t sk[CARA_CRDT_SK_BYTES])
{
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    cara_rng_bytes(&s->rng, seed, sizeof seed);
    CARA_ASSERT(cara_crdt_key_from_seed(seed, pk, sk) == 0);
}

/* ---- Object life --------------------------------------------------------------------- */

static int node_new(sim *s, size_t i)
{
    sim_node *nd = cara_env_calloc(s->env, 1, sizeof *nd);
    if (nd == NULL)
        return CARA_ENOMEM;
    s->nodes[i] = nd;
    nd->s = s;
    nd->index = i;
    nd->deadline_ms = SIM_NEVER;
    (void)snprintf(nd->name, sizeof nd->name, "n%02zu", i);
    make_key(s, nd->pk, nd->sk);
    nd->env = (cara_env){nd, node_mono, node_wall, node_log, node_alloc, node_realloc,
                         node_free, CARA_LOG_ERROR, {{0}}};
    cara_rng_seed(&nd->env.rng, s->cfg.seed * 1000003u + i + 1);
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])s->op_pk,
                        .operator_pks_count = 1};
    return cara_crdt_new(&nd->crdt, &cc, &nd->env);
}

int sim_new(sim **out, const sim_cfg *cfg)
{
    if (cfg->nodes_count == 0 || cfg->nodes_count > SIM_NODES_MAX || cfg->env == NULL)
        return CARA_EINVAL;
    sim *s = cara_env_calloc(cfg->env, 1, sizeof *s);
    if (s == NULL)
        return CARA_ENOMEM;
    s->cfg = *cfg;
    if (s->cfg.wall_start_ms == 0)
        s->cfg.wall_start_ms = 1790000000000; /* 2026-09-21 */
    s->env = cfg->env;
    s->n = cfg->nodes_count;
    s->now_ms = 1000;
    s->trace = 0xcbf29ce484222325ull;
    s->conn_id_next = 1;
    cara_rng_seed(&s->rng, cfg->seed);
    make_key(s, s->op_pk, s->op_sk);
    s->conns = cara_env_calloc(s->env, CONNS_MAX, sizeof *s->conns);
    s->dgram = cara_env_alloc(s->env, CARA_GOSSIP_DATAGRAM_BYTES_MAX);
    cara_buf_init(&s->segment, s->env, 2 * CARA_WIRE_STREAM_MSG_BYTES_MAX + 4096);
    int rc = s->conns == NULL || s->dgram == NULL ? CARA_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        rc = node_new(s, i);
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->n; j++)
            s->links[i][j] = cfg->link;
    if (rc != 0) {
        sim_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sim_free(sim *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->nodes[i] == NULL)
            continue;
        cara_gossip_free(s->nodes[i]->g);
        cara_crdt_free(s->nodes[i]->crdt);
        cara_env_free(s->env, s->nodes[i]);
    }
    for (size_t i = 0; i < s->heap_count; i++)
        cara_env_free(s->env, s->heap[i].bytes);
    cara_env_free(s->env, s->heap);
    cara_env_free(s->env, s->conns);
    for (size_t k = 0; k < SIM_OUTSIDE_MAX; k++)
        cara_env_free(s->env, s->outside[k].kept);
    cara_env_free(s->env, s->dgram);
    cara_buf_free(&s->segment);
    cara_env_free(s->env, s);
}

static void node_refresh(sim *s, sim_node *nd)
{
    (void)s;
    nd->deadline_ms = nd->g != NULL ? cara_gossip_next_deadline_ms(nd->g) : SIM_NEVER;
}

static void drain(sim *s, size_t i);

int sim_start(sim *s, size_t i)
{
    sim_node *nd = s->nodes[i];
    if (nd->g != NULL)
        return CARA_EEXIST;
    nd->life++;
    cara_rng_seed(&nd->env.rng, (s->cfg.seed * 1000003u + i + 1) ^ ((uint64_t)nd->life << 40));
    cara_gossip_cfg gc = s->cfg.gossip;
    gc.name = nd->name;
    memcpy(gc.pk, nd->pk, sizeof gc.pk);
    memcpy(gc.sk, nd->sk, sizeof gc.sk);
    gc.addr = sim_addr(i);
    gc.epoch = nd->life;
    int rc = cara_gossip_new(&nd->g, &gc, &nd->env, nd->crdt);
    if (rc == 0)
        drain(s, i);
    return rc;
}

void sim_crash(sim *s, size_t i)
{
    sim_node *nd = s->nodes[i];
    if (nd->g == NULL)
        return;
    cara_gossip_free(nd->g);
    nd->g = NULL;
    nd->deadline_ms = SIM_NEVER;
    /* Its streams vanish with it; the peers' ends dangle until their idle
     * timeout, as TCP leaves them when a host dies. */
    for (size_t k = 0; k < CONNS_MAX; k++) {
        sim_conn *c = &s->conns[k];
        for (int e = 0; c->used && e < 2; e++)
            if (c->node[e] == i && c->life[e] == nd->life) {
                c->open[e] = false;
                c->broken = true;
            }
        if (c->used && !c->open[0] && !c->open[1])
            *c = (sim_conn){0};
    }
    for (size_t k = 0; k < SIM_OUTSIDE_MAX; k++)
        if (s->outside[k].used && s->outside[k].node == i)
            s->outside[k].node_open = false;
}

int sim_add_member(sim *s, size_t i, size_t j)
{
    cara_gossip_addr a = sim_addr(j);
    int rc = cara_gossip_add_member(s->nodes[i]->g, s->nodes[j]->name, s->nodes[j]->pk, &a,
                                    s->now_ms);
    drain(s, i);
    return rc;
}

int sim_join(sim *s, size_t i, size_t seed, const uint8_t *proof, size_t proof_len)
{
    cara_gossip_addr a = sim_addr(seed);
    int rc = cara_gossip_join(s->nodes[i]->g, &a, proof, proof_len, s->now_ms);
    drain(s, i);
    return rc;
}

/* ---- Admission and records ----------------------------------------------------------- */

static int sign_record(sim *s, int kind, const char *key, uint64_t gen, uint64_t hlc,
                       const void *value, size_t value_bytes, cara_buf *out)
{
    cara_crdt_record r = {.kind = kind, .key = (const uint8_t *)key, .key_bytes = strlen(key),
                          .generation = gen, .hlc = hlc, .author = s->op_pk,
                          .value = value, .value_bytes = value_bytes};
    return cara_crdt_record_sign(&r, s->op_sk, out);
}

int sim_admission(sim *s, size_t i, bool admitted, cara_buf *out)
{
    cara_buf v;
    cara_buf_init(&v, s->env, 256);
    int rc = cara_crdt_admission_encode(s->nodes[i]->pk, admitted, &v);
    uint64_t hlc = (uint64_t)s->cfg.wall_start_ms << CARA_CRDT_HLC_COUNTER_BITS;
    if (rc == 0)
        rc = sign_record(s, CARA_CRDT_ADMISSION, s->nodes[i]->name, admitted ? 1 : 2,
                         hlc + (admitted ? 0 : 1), v.data, v.len, out);
    cara_buf_free(&v);
    return rc;
}

int sim_admit_at(sim *s, size_t at, size_t subject)
{
    cara_buf b;
    cara_buf_init(&b, s->env, CARA_CRDT_RECORD_BYTES_MAX);
    int rc = sim_admission(s, subject, true, &b);
    if (rc == 0)
        rc = cara_crdt_apply_local(s->nodes[at]->crdt, b.data, b.len, sim_wall(s, at), NULL);
    cara_buf_free(&b);
    return rc;
}

int sim_admit_all(sim *s)
{
    for (size_t at = 0; at < s->n; at++)
        for (size_t j = 0; j < s->n; j++) {
            int rc = sim_admit_at(s, at, j);
            if (rc != 0)
                return rc;
        }
    return 0;
}

int sim_boot(sim *s)
{
    int rc = sim_admit_all(s);
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        rc = sim_start(s, i);
    for (size_t i = 1; rc == 0 && i < s->n; i++)
        rc = sim_add_member(s, i, 0);
    return rc;
}

int sim_publish(sim *s, size_t i, int kind, const char *key, uint64_t generation,
                const void *value, size_t value_bytes, bool want_ack, cara_buf *out)
{
    sim_node *nd = s->nodes[i];
    if (nd->g == NULL)
        return CARA_EINVAL;
    cara_buf b;
    cara_buf_init(&b, s->env, CARA_CRDT_RECORD_BYTES_MAX);
    uint64_t hlc = cara_crdt_hlc_next(nd->crdt, sim_wall(s, i));
    int rc = sign_record(s, kind, key, generation, hlc, value, value_bytes, &b);
    if (rc == 0)
        rc = cara_crdt_apply_local(nd->crdt, b.data, b.len, sim_wall(s, i), NULL);
    if (rc == 0)
        rc = cara_gossip_publish(nd->g, b.data, b.len, want_ack ? CARA_GOSSIP_HOLDERS_MAX + 1 : 0,
                                 s->now_ms);
    if (rc == 0 && out != NULL)
        rc = cara_buf_append(out, b.data, b.len);
    cara_buf_free(&b);
    drain(s, i);
    return rc;
}

/* ---- Links and partitions ---------------------------------------------------------- */

static bool link_cut(const sim *s, size_t a, size_t b) { return s->cut[a][b] || s->cut[b][a]; }

static uint64_t latency(sim *s, size_t from, size_t to)
{
    const sim_link_cfg *l = &s->links[from][to];
    uint32_t span = l->latency_max_ms > l->latency_min_ms ? l->latency_max_ms - l->latency_min_ms
                                                          : 0;
    return l->latency_min_ms + cara_rng_below(&s->rng, (uint64_t)span + 1);
}

static bool chance(sim *s, uint32_t ppm)
{
    return ppm > 0 && cara_rng_below(&s->rng, SIM_PPM) < ppm;
}

/* Breaks a connection: every live end that still holds it learns at once;
 * bytes in flight are lost. */
static void conn_break(sim *s, sim_conn *c)
{
    if (c->broken)
        return;
    c->broken = true;
    s->stats.streams_broken++;
    for (int e = 0; e < 2; e++)
        if (c->open[e] && c->sid[e] != 0)
            (void)schedule(s, EV_CLOSED, c->node[e], s->now_ms, c->id, NULL, NULL, 0);
}

static void break_crossing(sim *s)
{
    for (size_t k = 0; k < CONNS_MAX; k++) {
        sim_conn *c = &s->conns[k];
        if (c->used && link_cut(s, c->node[0], c->node[1]))
            conn_break(s, c);
    }
}

void sim_cut(sim *s, size_t from, size_t to, bool cut)
{
    s->cut[from][to] = cut;
    if (cut)
        break_crossing(s);
}

void sim_partition_pair(sim *s, size_t i, size_t j, bool cut)
{
    s->cut[i][j] = s->cut[j][i] = cut;
    if (cut)
        break_crossing(s);
}

void sim_isolate(sim *s, size_t i, bool cut)
{
    for (size_t j = 0; j < s->n; j++)
        if (j != i)
            s->cut[i][j] = s->cut[j][i] = cut;
    if (cut)
        break_crossing(s);
}

void sim_split(sim *s, const int *side)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->n; j++)
            s->cut[i][j] = side[i] != side[j];
    break_crossing(s);
}

void sim_heal_all(sim *s) { memset(s->cut, 0, sizeof s->cut); }

int sim_inject(sim *s, size_t to, const cara_gossip_addr *from, const uint8_t *bytes,
               size_t len, uint64_t delay_ms)
{
    return schedule(s, EV_DGRAM, to, s->now_ms + delay_ms, 0, from, bytes, len);
}

static sim_outside *outside_of(sim *s, int handle)
{
    if (handle < 0 || handle >= SIM_OUTSIDE_MAX || !s->outside[handle].used)
        return NULL;
    return &s->outside[handle];
}

/* The outside connection whose node end is stream `sid` of node i. */
static sim_outside *outside_by_sid(sim *s, size_t i, uint32_t sid)
{
    for (size_t k = 0; k < SIM_OUTSIDE_MAX; k++) {
        sim_outside *o = &s->outside[k];
        if (o->used && o->node_open && o->node == i && o->life == s->nodes[i]->life &&
            o->sid == sid)
            return o;
    }
    return NULL;
}

int sim_outside_connect(sim *s, size_t to, int *handle)
{
    sim_node *nd = s->nodes[to];
    if (nd->g == NULL)
        return CARA_EINVAL;
    int k = 0;
    while (k < SIM_OUTSIDE_MAX && s->outside[k].used)
        k++;
    if (k == SIM_OUTSIDE_MAX)
        return CARA_ELIMIT;
    sim_outside *o = &s->outside[k];
    if (o->kept == NULL)
        o->kept = cara_env_alloc(s->env, SIM_OUTSIDE_KEEP_BYTES);
    if (o->kept == NULL)
        return CARA_ENOMEM;
    uint32_t sid = 0;
    int rc = cara_gossip_stream_accept(nd->g, &sid, s->now_ms);
    if (rc != 0)
        return rc;
    uint8_t *kept = o->kept;
    *o = (sim_outside){.used = true, .node_open = true, .node = (uint16_t)to, .life = nd->life,
                       .sid = sid, .kept = kept};
    *handle = k;
    drain(s, to);
    return 0;
}

int sim_outside_send(sim *s, int handle, const uint8_t *bytes, size_t len, uint64_t delay_ms)
{
    sim_outside *o = outside_of(s, handle);
    if (o == NULL)
        return CARA_EINVAL;
    return schedule(s, EV_OUTSIDE, o->node, s->now_ms + delay_ms, (uint32_t)handle, NULL, bytes,
                    len);
}

const uint8_t *sim_outside_received(const sim *s, int handle, size_t *kept, uint64_t *total)
{
    const sim_outside *o = &s->outside[handle];
    *kept = o->kept_len;
    *total = o->total;
    return o->kept;
}

bool sim_outside_open(const sim *s, int handle)
{
    return handle >= 0 && handle < SIM_OUTSIDE_MAX && s->outside[handle].used &&
           s->outside[handle].node_open;
}

void sim_outside_close(sim *s, int handle)
{
    sim_outside *o = outside_of(s, handle);
    if (o == NULL || !o->node_open)
        return;
    o->node_open = false;
    if (s->nodes[o->node]->g != NULL && s->nodes[o->node]->life == o->life) {
        cara_gossip_stream_closed(s->nodes[o->node]->g, o->sid);
        drain(s, o->node);
    }
}

/* The node wrote to an outside party, or closed its end: true if `sid` was one. */
static bool outside_write(sim *s, size_t from, uint32_t sid, const uint8_t *b, size_t len)
{
    sim_outside *o = outside_by_sid(s, from, sid);
    if (o == NULL)
        return false;
    size_t room = SIM_OUTSIDE_KEEP_BYTES - o->kept_len;
    size_t keep = len < room ? len : room;
    memcpy(o->kept + o->kept_len, b, keep);
    o->kept_len += keep;
    o->total += len;
    return true;
}

static bool outside_close(sim *s, size_t from, uint32_t sid)
{
    sim_outside *o = outside_by_sid(s, from, sid);
    if (o == NULL)
        return false;
    o->node_open = false;
    return true;
}

/* ---- Output of one node ------------------------------------------------------------- */

static void route_datagram(sim *s, size_t from, const cara_gossip_addr *to_addr,
                           const uint8_t *b, size_t len)
{
    int to = sim_node_of_addr(to_addr);
    s->stats.datagrams_sent++;
    if (len > s->stats.datagram_bytes_max)
        s->stats.datagram_bytes_max = len;
    if (len > CARA_GOSSIP_DATAGRAM_BYTES_MAX)
        s->stats.datagrams_oversized++;
    trace_u64(s, s->now_ms);
    trace_u64(s, from);
    trace_u64(s, (uint64_t)(int64_t)to);
    trace_bytes(s, b, len);
    if (s->on_datagram != NULL && !s->on_datagram(s->tap_ctx, s, (int)from, to, b, len))
        return;
    if (to < 0 || (size_t)to >= s->n) {
        s->stats.datagrams_unroutable++;
        return;
    }
    if (s->cut[from][to]) {
        s->stats.datagrams_cut++;
        return;
    }
    const sim_link_cfg *l = &s->links[from][to];
    if (chance(s, l->loss_ppm)) {
        s->stats.datagrams_lost++;
        return;
    }
    cara_gossip_addr fa = sim_addr(from);
    int copies = chance(s, l->dup_ppm) ? 2 : 1;
    s->stats.datagrams_duplicated += (uint64_t)(copies - 1);
    for (int c = 0; c < copies; c++) {
        uint64_t at = s->now_ms + latency(s, from, (size_t)to);
        if (chance(s, l->reorder_ppm)) {
            at += 1 + cara_rng_below(&s->rng, (uint64_t)l->reorder_extra_ms + 1);
            s->stats.datagrams_reordered++;
        }
        (void)schedule(s, EV_DGRAM, (size_t)to, at, 0, &fa, b, len);
    }
}

static sim_conn *conn_new(sim *s)
{
    for (size_t k = 0; k < CONNS_MAX; k++)
        if (!s->conns[k].used) {
            s->conns[k] = (sim_conn){.used = true, .id = s->conn_id_next++};
            return &s->conns[k];
        }
    return NULL;
}

static sim_conn *conn_by_id(sim *s, uint32_t id)
{
    for (size_t k = 0; id != 0 && k < CONNS_MAX; k++)
        if (s->conns[k].used && s->conns[k].id == id)
            return &s->conns[k];
    return NULL;
}

/* The connection whose end at node i (this life) is stream `sid`; *end gets which. */
static sim_conn *conn_by_sid(sim *s, size_t i, uint32_t sid, int *end)
{
    for (size_t k = 0; k < CONNS_MAX; k++) {
        sim_conn *c = &s->conns[k];
        for (int e = 0; c->used && e < 2; e++)
            if (c->node[e] == i && c->life[e] == s->nodes[i]->life && c->sid[e] == sid &&
                c->open[e]) {
                *end = e;
                return c;
            }
    }
    return NULL;
}

static void conn_maybe_free(sim_conn *c)
{
    if (!c->open[0] && !c->open[1])
        *c = (sim_conn){0};
}

static void dial(sim *s, size_t from, uint32_t sid, const cara_gossip_addr *to_addr)
{
    int to = sim_node_of_addr(to_addr);
    s->stats.dials++;
    trace_u64(s, 0xd1a1);
    trace_u64(s, s->now_ms);
    trace_u64(s, from);
    trace_u64(s, (uint64_t)(int64_t)to);
    sim_conn *c = conn_new(s);
    if (c == NULL) {
        cara_gossip_stream_closed(s->nodes[from]->g, sid);
        s->stats.dials_refused++;
        return;
    }
    c->node[0] = (uint16_t)from;
    c->life[0] = s->nodes[from]->life;
    c->sid[0] = sid;
    c->open[0] = true;
    uint64_t lat = to >= 0 && (size_t)to < s->n ? latency(s, from, (size_t)to) : 1;
    if (to < 0 || (size_t)to >= s->n || (size_t)to == from || link_cut(s, from, (size_t)to) ||
        s->nodes[to]->g == NULL) {
        /* Refused or timed out: the dialler hears of it after a round trip. */
        s->stats.dials_refused++;
        c->broken = true;
        (void)schedule(s, EV_CLOSED, from, s->now_ms + 2 * lat, c->id, NULL, NULL, 0);
        return;
    }
    c->node[1] = (uint16_t)to;
    c->life[1] = s->nodes[to]->life;
    (void)schedule(s, EV_ACCEPT, (size_t)to, s->now_ms + lat, c->id, NULL, NULL, 0);
}

/* Sends a stream's bytes to the other end in segments of random size. */
static void stream_write(sim *s, size_t from, uint32_t sid, const uint8_t *b, size_t len)
{
    if (outside_write(s, from, sid, b, len))
        return;
    int end;
    sim_conn *c = conn_by_sid(s, from, sid, &end);
    s->stats.stream_bytes += len;
    trace_u64(s, 0x5e9);
    trace_u64(s, s->now_ms);
    trace_u64(s, from);
    trace_u64(s, len);
    if (c == NULL || c->broken)
        return;
    int other = 1 - end;
    size_t to = c->node[other];
    if (link_cut(s, from, to)) {
        conn_break(s, c);
        return;
    }
    if (!c->open[other])
        return; /* the peer closed: the bytes go nowhere */
    const sim_link_cfg *l = &s->links[from][to];
    uint64_t at = s->now_ms + latency(s, from, to);
    for (size_t off = 0; off < len;) {
        size_t seg = 1 + cara_rng_below(&s->rng, SEGMENT_BYTES_MAX);
        seg = seg < len - off ? seg : len - off;
        if (at < c->last_at[other])
            at = c->last_at[other];
        if (l->stream_bytes_per_ms > 0)
            at += seg / l->stream_bytes_per_ms;
        c->last_at[other] = at;
        (void)schedule(s, EV_BYTES, to, at, c->id, NULL, b + off, seg);
        s->stats.stream_segments++;
        off += seg;
    }
}

static void stream_close(sim *s, size_t from, uint32_t sid)
{
    if (outside_close(s, from, sid))
        return;
    int end;
    sim_conn *c = conn_by_sid(s, from, sid, &end);
    if (c == NULL)
        return;
    c->open[end] = false;
    int other = 1 - end;
    if (c->open[other] && c->sid[other] != 0 && !c->broken) {
        /* The FIN follows the data already written. */
        uint64_t at = s->now_ms + latency(s, from, c->node[other]);
        if (at < c->last_at[other])
            at = c->last_at[other];
        (void)schedule(s, EV_CLOSED, c->node[other], at, c->id, NULL, NULL, 0);
    } else if (c->open[other] && c->sid[other] == 0) {
        c->open[other] = false; /* not accepted yet: the accept will find it closed */
    }
    conn_maybe_free(c);
}

static void record_event(sim *s, size_t i, const cara_gossip_event *ev)
{
    s->stats.events++;
    trace_u64(s, 0xe7);
    trace_u64(s, s->now_ms);
    trace_u64(s, i);
    trace_bytes(s, &ev->kind, 1);
    trace_bytes(s, &ev->state, 1);
    trace_u64(s, ev->incarnation);
    trace_bytes(s, ev->name, strlen(ev->name));
    trace_u64(s, (uint64_t)(int64_t)ev->reason);
    trace_u64(s, ev->holders);
    trace_u64(s, ev->applied);
    if (s->on_event != NULL)
        s->on_event(s->tap_ctx, s, (int)i, ev);
}

/* Takes everything node i has to say, as the agent's loop would after any
 * input or timer. */
static void drain(sim *s, size_t i)
{
    sim_node *nd = s->nodes[i];
    for (int round = 0; nd->g != NULL && round < DRAIN_ROUNDS_MAX; round++) {
        bool any = false;
        cara_gossip_addr to;
        size_t len;
        uint32_t sid;
        while (cara_gossip_poll_send(nd->g, &to, s->dgram, CARA_GOSSIP_DATAGRAM_BYTES_MAX,
                                     &len) == 0) {
            route_datagram(s, i, &to, s->dgram, len);
            any = true;
        }
        while (cara_gossip_poll_dial(nd->g, &sid, &to) == 0) {
            dial(s, i, sid, &to);
            any = true;
        }
        cara_buf_reset(&s->segment);
        while (cara_gossip_stream_poll_send(nd->g, &sid, &s->segment) == 0) {
            stream_write(s, i, sid, s->segment.data, s->segment.len);
            cara_buf_reset(&s->segment);
            any = true;
        }
        while (cara_gossip_poll_close(nd->g, &sid) == 0) {
            stream_close(s, i, sid);
            any = true;
        }
        cara_gossip_event ev;
        while (cara_gossip_poll_event(nd->g, &ev) == 0) {
            record_event(s, i, &ev);
            any = true;
        }
        if (!any)
            break;
    }
    node_refresh(s, nd);
}

/* ---- Input to one node ------------------------------------------------------------- */

static void deliver(sim *s, sim_ev *ev)
{
    sim_node *nd = s->nodes[ev->to];
    if (nd->g == NULL || nd->life != ev->life) {
        if (ev->type == EV_DGRAM)
            s->stats.datagrams_to_down++;
        return;
    }
    s->stats.deliveries++;
    int64_t wall = node_wall(nd);
    sim_conn *c = ev->type == EV_DGRAM || ev->type == EV_OUTSIDE ? NULL : conn_by_id(s, ev->conn);
    int end = c != NULL && c->node[1] == ev->to && c->life[1] == ev->life ? 1 : 0;
    switch (ev->type) {
    case EV_DGRAM:
        s->stats.datagrams_delivered++;
        (void)cara_gossip_recv(nd->g, &ev->from, ev->bytes, ev->len, s->now_ms, wall);
        break;
    case EV_ACCEPT: {
        if (c == NULL || c->broken || !c->open[0])
            break;
        uint32_t sid;
        if (link_cut(s, c->node[0], c->node[1]) ||
            cara_gossip_stream_accept(nd->g, &sid, s->now_ms) != 0) {
            s->stats.dials_refused++;
            c->broken = true;
            (void)schedule(s, EV_CLOSED, c->node[0], s->now_ms + latency(s, ev->to, c->node[0]),
                           c->id, NULL, NULL, 0);
            break;
        }
        c->sid[1] = sid;
        c->open[1] = true;
        (void)schedule(s, EV_CONNECTED, c->node[0], s->now_ms + latency(s, ev->to, c->node[0]),
                       c->id, NULL, NULL, 0);
        break;
    }
    case EV_CONNECTED:
        if (c != NULL && !c->broken && c->open[0])
            cara_gossip_stream_connected(nd->g, c->sid[0], s->now_ms);
        break;
    case EV_BYTES:
        if (c != NULL && !c->broken && c->open[end])
            (void)cara_gossip_stream_recv(nd->g, c->sid[end], ev->bytes, ev->len, s->now_ms,
                                          wall);
        break;
    case EV_OUTSIDE: {
        sim_outside *o = outside_of(s, (int)ev->conn);
        if (o != NULL && o->node_open && o->life == nd->life)
            (void)cara_gossip_stream_recv(nd->g, o->sid, ev->bytes, ev->len, s->now_ms, wall);
        break;
    }
    case EV_CLOSED:
        if (c != NULL && c->open[end] && c->node[end] == ev->to) {
            c->open[end] = false;
            cara_gossip_stream_closed(nd->g, c->sid[end]);
            conn_maybe_free(c);
        }
        break;
    }
    drain(s, ev->to);
}

/* ---- Running ------------------------------------------------------------------------ */

/* One step at or before until_ms: the earliest delivery, else the earliest
 * timer. Returns false when nothing is due by then. */
static bool step(sim *s, uint64_t until_ms)
{
    uint64_t tq = s->heap_count > 0 ? s->heap[0].at_ms : SIM_NEVER;
    uint64_t tn = SIM_NEVER;
    size_t who = SIZE_MAX;
    for (size_t i = 0; i < s->n; i++)
        if (s->nodes[i]->deadline_ms < tn) {
            tn = s->nodes[i]->deadline_ms;
            who = i;
        }
    /* A deadline in the past (a confirmation pulled a suspicion's end
     * forward) is due now. */
    if (tn < s->now_ms)
        tn = s->now_ms;
    if (tq < s->now_ms)
        tq = s->now_ms;
    uint64_t t = tq <= tn ? tq : tn;
    if (t > until_ms || t == SIM_NEVER)
        return false;
    s->now_ms = t;
    if (tq <= tn) {
        sim_ev ev = heap_pop(s);
        deliver(s, &ev);
        cara_env_free(s->env, ev.bytes);
        return true;
    }
    sim_node *nd = s->nodes[who];
    s->stats.ticks++;
    (void)cara_gossip_tick(nd->g, s->now_ms, node_wall(nd));
    drain(s, who);
    if (nd->deadline_ms <= s->now_ms) {
        /* A timer that stays due after running would spin: note it and
         * look again a millisecond later. */
        s->stats.late_deadlines++;
        nd->deadline_ms = s->now_ms + 1;
    }
    return true;
}

void sim_run_until(sim *s, uint64_t until_ms)
{
    while (step(s, until_ms))
        ;
    if (until_ms > s->now_ms)
        s->now_ms = until_ms;
}

void sim_run_for(sim *s, uint64_t duration_ms) { sim_run_until(s, s->now_ms + duration_ms); }

bool sim_run_until_cond(sim *s, uint64_t deadline_ms, uint64_t step_ms,
                        bool (*cond)(sim *s, void *ctx), void *ctx)
{
    if (step_ms == 0)
        step_ms = 1;
    for (;;) {
        if (cond(s, ctx))
            return true;
        if (s->now_ms >= deadline_ms)
            return false;
        uint64_t next = s->now_ms + step_ms;
        sim_run_until(s, next < deadline_ms ? next : deadline_ms);
    }
}

/* ---- Queries ------------------------------------------------------------------------ */

bool sim_converged(const sim *s)
{
    uint8_t first[32], h[32];
    bool have = false;
    for (size_t i = 0; i < s->n; i++) {
        if (s->nodes[i]->g == NULL)
            continue;
        cara_crdt_state_hash(s->nodes[i]->crdt, have ? h : first);
        if (have && memcmp(first, h, sizeof h) != 0)
            return false;
        have = true;
    }
    return true;
}

int sim_member_state(sim *s, size_t observer, size_t subject)
{
    cara_gossip_member m;
    if (s->nodes[observer]->g == NULL ||
        cara_gossip_member_get(s->nodes[observer]->g, s->nodes[subject]->name, &m) != 0)
        return 0;
    return m.state;
}
