/*
 * simnet: the deterministic cluster harness (simnet.h). One event queue (a
 * binary heap keyed by time then scheduling order), a second heap of the
 * nodes' next timers, the network between them and the hosts' clocks and
 * pauses. Driving one node object is sim_node.c's job. Core-only: no
 * clock, socket, file or OS randomness; memory comes from the caller's env.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim_int.h"

#define EV_DGRAM 1     /* a datagram arrives at `to` */
#define EV_ACCEPT 2    /* a dial reaches `to`: it accepts */
#define EV_CONNECTED 3 /* the dialler learns its connection is up */
#define EV_BYTES 4     /* stream bytes arrive at `to` */
#define EV_CLOSED 5    /* `to` learns its end of a stream closed */
#define EV_OUTSIDE 6   /* bytes from an outside party arrive at `to` (conn: its handle) */

#define SEGMENT_BYTES_MAX (64 * 1024)
#define PORT 7946

typedef struct sim_ev {
    uint64_t at_ms, seq;
    uint8_t type;
    uint16_t to;
    uint32_t life;     /* the target's life when scheduled */
    uint64_t conn;     /* EV_ACCEPT .. EV_CLOSED: slot << 32 | serial */
    cara_gossip_addr from;
    uint8_t *bytes;    /* owned */
    size_t len;
} sim_ev;

/* A connection: end 0 is the dialler, end 1 the accepter. */
typedef struct sim_conn {
    bool used, broken;
    uint32_t serial;
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

struct sim {
    sim_cfg cfg;
    cara_env *env;
    cara_rng rng;
    uint8_t op_pk[CARA_CRDT_PK_BYTES], op_sk[CARA_CRDT_SK_BYTES];
    sim_node **nodes;
    size_t n;
    /* Links: each ordered pair names a class; classes hold configurations. */
    sim_link_cfg classes[SIM_LINK_CLASSES_MAX];
    size_t classes_count;
    uint8_t *link_class; /* n x n */
    uint8_t *cut;        /* n x n: the direction row -> column is cut */
    size_t cuts_count;
    uint32_t *cuts_by_node; /* cut directions from or to each node */
    sim_chaos chaos;
    sim_ev *heap;
    size_t heap_count, heap_cap;
    size_t *timers; /* node indices, a heap on (deadline_ms, index) */
    uint64_t seq, now_ms;
    sim_conn *conns;
    size_t conns_cap;
    size_t *conns_free;
    size_t conns_free_count;
    uint32_t conn_serial_next;
    sim_outside outside[SIM_OUTSIDE_MAX];
    size_t outside_used;
    uint8_t *dgram;  /* CARA_GOSSIP_DATAGRAM_BYTES_MAX */
    cara_buf segment;
    sim_pool *pool;
    sim_taps taps;
    uint64_t trace;
    sim_stats stats;
};

/* ---- Trace hash (FNV-1a, 64 bits) ---------------------------------------------- */

static void trace_bytes(sim *s, const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = s->trace;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    s->trace = h;
}

static void trace_u64(sim *s, uint64_t v) { trace_bytes(s, &v, sizeof v); }
void sim_trace_mix(sim *s, uint64_t v) { trace_u64(s, v); }

void *sim_grow(cara_env *env, void *array, size_t count, size_t *cap, size_t elem_bytes,
               size_t first_cap)
{
    if (count < *cap)
        return array;
    size_t n = *cap ? 2 * *cap : first_cap;
    void *v = cara_env_realloc(env, array, n * elem_bytes);
    CARA_ASSERT(v != NULL);
    *cap = n;
    return v;
}

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

static int schedule(sim *s, uint8_t type, size_t to, uint64_t at_ms, uint64_t conn,
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

/* ---- Timers: a heap of nodes on (deadline, index) --------------------------------- */

static bool timer_before(const sim *s, size_t a, size_t b)
{
    uint64_t da = s->nodes[a]->deadline_ms, db = s->nodes[b]->deadline_ms;
    return da < db || (da == db && a < b);
}

static void timer_set(sim *s, size_t pos, size_t node)
{
    s->timers[pos] = node;
    s->nodes[node]->heap_pos = pos;
}

static void timer_fix(sim *s, size_t pos)
{
    size_t node = s->timers[pos];
    while (pos > 0 && timer_before(s, node, s->timers[(pos - 1) / 2])) {
        timer_set(s, pos, s->timers[(pos - 1) / 2]);
        pos = (pos - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= s->n)
            break;
        if (c + 1 < s->n && timer_before(s, s->timers[c + 1], s->timers[c]))
            c++;
        if (!timer_before(s, s->timers[c], node))
            break;
        timer_set(s, pos, s->timers[c]);
        pos = c;
    }
    timer_set(s, pos, node);
}

void net_refresh(sim *s, sim_node *nd)
{
    uint64_t d = node_next_deadline(nd);
    if (nd->paused_until_ms > s->now_ms && d < nd->paused_until_ms)
        d = nd->paused_until_ms;
    if (d == nd->deadline_ms)
        return;
    nd->deadline_ms = d;
    timer_fix(s, nd->heap_pos);
}

/* ---- Addresses and identities ---------------------------------------------------- */

cara_gossip_addr sim_addr(size_t i)
{
    size_t v = i + 1;
    cara_gossip_addr a = {.len = 6, .bytes = {100, 64, (uint8_t)(v >> 8), (uint8_t)v,
                                              PORT >> 8, PORT & 0xff}};
    return a;
}

int sim_node_of_addr(const cara_gossip_addr *a)
{
    if (a->len != 6 || a->bytes[0] != 100 || a->bytes[1] != 64 || a->bytes[4] != (PORT >> 8) ||
        a->bytes[5] != (PORT & 0xff))
        return -1;
    size_t v = (size_t)a->bytes[2] << 8 | a->bytes[3];
    return v >= 1 && v <= SIM_NODES_MAX ? (int)(v - 1) : -1;
}

int sim_node_of_name(const sim *s, const char *name, size_t name_len)
{
    /* Names are "n" and a decimal index (sim_node.c). */
    if (name_len < 2 || name_len > 6 || name[0] != 'n')
        return -1;
    size_t v = 0;
    for (size_t k = 1; k < name_len; k++) {
        if (name[k] < '0' || name[k] > '9')
            return -1;
        v = v * 10 + (size_t)(name[k] - '0');
    }
    if (v >= s->n || strlen(s->nodes[v]->name) != name_len ||
        memcmp(s->nodes[v]->name, name, name_len) != 0)
        return -1;
    return (int)v;
}

size_t sim_nodes_count(const sim *s) { return s->n; }
const char *sim_name(const sim *s, size_t i) { return s->nodes[i]->name; }
const uint8_t *sim_pk(const sim *s, size_t i) { return s->nodes[i]->pk; }
const uint8_t *sim_sk(const sim *s, size_t i) { return s->nodes[i]->sk; }
const uint8_t *sim_operator_pk(const sim *s) { return s->op_pk; }
const uint8_t *sim_operator_sk(const sim *s) { return s->op_sk; }
const uint8_t *sim_op_pk(const sim *s) { return s->op_pk; }
uint64_t sim_now(const sim *s) { return s->now_ms; }
int64_t sim_true_wall(const sim *s)
{
    return s->cfg.wall_start_ms + (int64_t)s->now_ms - SIM_MONO_START;
}
bool sim_up(const sim *s, size_t i) { return s->nodes[i]->g != NULL; }
uint32_t sim_life(const sim *s, size_t i) { return s->nodes[i]->life; }
cara_gossip *sim_gossip(sim *s, size_t i) { return s->nodes[i]->g; }
cara_crdt *sim_crdt(sim *s, size_t i) { return s->nodes[i]->crdt; }
cara_core *sim_core(sim *s, size_t i) { return s->nodes[i]->core; }
uint64_t sim_trace_hash(const sim *s) { return s->trace; }
void sim_stats_get(const sim *s, sim_stats *out) { *out = s->stats; }
uint64_t sim_bytes_sent(const sim *s, size_t i) { return s->nodes[i]->bytes_sent; }
const sim_cfg *sim_config(const sim *s) { return &s->cfg; }
sim_node *sim_node_at(sim *s, size_t i) { return s->nodes[i]; }
cara_env *sim_env(sim *s) { return s->env; }
sim_pool *sim_blob_pool(sim *s) { return s->pool; }
sim_stats *sim_stats_mut(sim *s) { return &s->stats; }
uint8_t *sim_dgram_buf(sim *s) { return s->dgram; }
cara_buf *sim_segment_buf(sim *s) { return &s->segment; }

void sim_set_taps(sim *s, sim_datagram_fn on_datagram, sim_event_fn on_event, void *ctx)
{
    s->taps = (sim_taps){.on_datagram = on_datagram, .on_event = on_event, .ctx = ctx};
}

void sim_set_taps_all(sim *s, const sim_taps *taps) { s->taps = *taps; }
void *sim_tap_ctx(const sim *s) { return s->taps.ctx; }

/* ---- Clocks and pauses -------------------------------------------------------------- */

uint64_t sim_mono(const sim *s, size_t i) { return node_mono_at(s->nodes[i], s->now_ms); }
int64_t sim_wall(const sim *s, size_t i) { return node_wall_at(s->nodes[i], s->now_ms); }

int64_t sim_skew(const sim *s, size_t i)
{
    return sim_wall(s, i) - (s->cfg.wall_start_ms + (int64_t)s->now_ms - SIM_MONO_START);
}

void sim_set_skew(sim *s, size_t i, int64_t skew_ms)
{
    s->nodes[i]->wall_offset_ms += skew_ms - sim_skew(s, i);
}

void sim_clock_jump(sim *s, size_t i, int64_t delta_ms) { s->nodes[i]->wall_offset_ms += delta_ms; }

void sim_set_drift(sim *s, size_t i, int32_t drift_ppm)
{
    node_set_drift(s->nodes[i], drift_ppm);
    net_refresh(s, s->nodes[i]);
}

int32_t sim_drift(const sim *s, size_t i) { return s->nodes[i]->drift_ppm; }

void sim_pause(sim *s, size_t i, uint64_t until_ms)
{
    sim_node *nd = s->nodes[i];
    nd->paused_until_ms = until_ms;
    nd->paused_datagrams = 0;
    net_refresh(s, nd);
}

/* What arrived meanwhile is delivered at the time the pause was to end. */
void sim_resume(sim *s, size_t i)
{
    sim_node *nd = s->nodes[i];
    if (nd->paused_until_ms > s->now_ms)
        nd->paused_until_ms = s->now_ms;
    net_refresh(s, nd);
}

bool sim_paused(const sim *s, size_t i) { return s->nodes[i]->paused_until_ms > s->now_ms; }

/* ---- Object life --------------------------------------------------------------------- */

static void make_key(sim *s, uint8_t pk[CARA_CRDT_PK_BYTES], uint8_t sk[CARA_CRDT_SK_BYTES])
{
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    cara_rng_bytes(&s->rng, seed, sizeof seed);
    CARA_ASSERT(cara_crdt_key_from_seed(seed, pk, sk) == 0);
}

static int sim_alloc_tables(sim *s)
{
    size_t n = s->n;
    s->nodes = cara_env_calloc(s->env, n, sizeof *s->nodes);
    s->timers = cara_env_calloc(s->env, n, sizeof *s->timers);
    s->link_class = cara_env_calloc(s->env, n * n, 1);
    s->cut = cara_env_calloc(s->env, n * n, 1);
    s->cuts_by_node = cara_env_calloc(s->env, n, sizeof *s->cuts_by_node);
    s->dgram = cara_env_alloc(s->env, CARA_GOSSIP_DATAGRAM_BYTES_MAX);
    cara_buf_init(&s->segment, s->env, 2 * CARA_WIRE_STREAM_MSG_BYTES_MAX + 4096);
    if (s->nodes == NULL || s->timers == NULL || s->link_class == NULL || s->cut == NULL ||
        s->cuts_by_node == NULL || s->dgram == NULL)
        return CARA_ENOMEM;
    return sim_pool_new(&s->pool, s->env);
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
    s->now_ms = SIM_MONO_START;
    s->trace = 0xcbf29ce484222325ull;
    s->conn_serial_next = 1;
    s->classes[0] = cfg->link;
    s->classes_count = 1;
    cara_rng_seed(&s->rng, cfg->seed);
    make_key(s, s->op_pk, s->op_sk);
    int rc = sim_alloc_tables(s);
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        rc = node_new(s, i, &s->nodes[i]);
        if (rc == 0)
            timer_set(s, i, i); /* every deadline is SIM_NEVER: any order is a heap */
    }
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
    for (size_t i = 0; s->nodes != NULL && i < s->n; i++)
        node_free(s->nodes[i]);
    for (size_t i = 0; i < s->heap_count; i++)
        cara_env_free(s->env, s->heap[i].bytes);
    cara_env_free(s->env, s->heap);
    cara_env_free(s->env, s->conns);
    cara_env_free(s->env, s->conns_free);
    for (size_t k = 0; k < SIM_OUTSIDE_MAX; k++)
        cara_env_free(s->env, s->outside[k].kept);
    sim_pool_free(s->pool);
    cara_env_free(s->env, s->dgram);
    cara_buf_free(&s->segment);
    cara_env_free(s->env, s->nodes);
    cara_env_free(s->env, s->timers);
    cara_env_free(s->env, s->link_class);
    cara_env_free(s->env, s->cut);
    cara_env_free(s->env, s->cuts_by_node);
    cara_env_free(s->env, s);
}

int sim_start(sim *s, size_t i)
{
    int rc = node_start(s->nodes[i]);
    net_refresh(s, s->nodes[i]);
    return rc;
}

void sim_crash(sim *s, size_t i)
{
    node_crash(s->nodes[i]);
    net_refresh(s, s->nodes[i]);
}

size_t sim_add_known_members(sim *s, size_t i) { return node_add_known_members(s->nodes[i]); }

int sim_add_member(sim *s, size_t i, size_t j)
{
    return node_add_member(s->nodes[i], s->nodes[j]->name, s->nodes[j]->pk, sim_addr(j));
}

int sim_join(sim *s, size_t i, size_t seed, const uint8_t *proof, size_t proof_len)
{
    return node_join(s->nodes[i], sim_addr(seed), proof, proof_len);
}

int sim_leave(sim *s, size_t i) { return node_leave(s->nodes[i]); }

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

static int apply_installed(sim *s, size_t at, const uint8_t *b, size_t len)
{
    return node_install(s->nodes[at], b, len);
}

int sim_admit_at(sim *s, size_t at, size_t subject)
{
    cara_buf b;
    cara_buf_init(&b, s->env, CARA_CRDT_RECORD_BYTES_MAX);
    int rc = sim_admission(s, subject, true, &b);
    if (rc == 0)
        rc = apply_installed(s, at, b.data, b.len);
    cara_buf_free(&b);
    return rc;
}

int sim_admit_first(sim *s, size_t count)
{
    cara_buf all;
    cara_buf_init(&all, s->env, count * 512 + 1024);
    size_t *ends = cara_env_calloc(s->env, count + 1, sizeof *ends);
    int rc = ends == NULL ? CARA_ENOMEM : 0;
    for (size_t j = 0; rc == 0 && j < count; j++) {
        rc = sim_admission(s, j, true, &all);
        ends[j + 1] = all.len;
    }
    for (size_t at = 0; rc == 0 && at < count; at++)
        for (size_t j = 0; rc == 0 && j < count; j++)
            rc = apply_installed(s, at, all.data + ends[j], ends[j + 1] - ends[j]);
    cara_env_free(s->env, ends);
    cara_buf_free(&all);
    return rc;
}

int sim_admit_all(sim *s) { return sim_admit_first(s, s->n); }

int sim_boot(sim *s)
{
    int rc = sim_admit_all(s);
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        rc = sim_start(s, i);
    for (size_t i = 1; rc == 0 && i < s->n; i++)
        rc = sim_add_member(s, i, 0);
    return rc;
}

int sim_accept(sim *s, size_t i, const uint8_t *envelope, size_t len, uint32_t holders)
{
    return node_accept(s->nodes[i], envelope, len, holders);
}

int sim_relay(sim *s, size_t i, const uint8_t *envelope, size_t len)
{
    return node_relay(s->nodes[i], envelope, len);
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
        rc = sim_accept(s, i, b.data, b.len, want_ack ? CARA_GOSSIP_HOLDERS_MAX + 1 : 0);
    if (rc == 0 && out != NULL)
        rc = cara_buf_append(out, b.data, b.len);
    cara_buf_free(&b);
    return rc;
}

/* ---- Links and partitions ---------------------------------------------------------- */

static const sim_link_cfg *link_of(const sim *s, size_t from, size_t to)
{
    return &s->classes[s->link_class[from * s->n + to]];
}

sim_link_cfg sim_link(const sim *s, size_t from, size_t to) { return *link_of(s, from, to); }

int sim_link_set(sim *s, size_t from, size_t to, const sim_link_cfg *cfg)
{
    size_t k = 0;
    while (k < s->classes_count && memcmp(&s->classes[k], cfg, sizeof *cfg) != 0)
        k++;
    if (k == s->classes_count) {
        if (k == SIM_LINK_CLASSES_MAX)
            return CARA_ELIMIT;
        s->classes[s->classes_count++] = *cfg;
    }
    s->link_class[from * s->n + to] = (uint8_t)k;
    return 0;
}

void sim_set_chaos(sim *s, const sim_chaos *chaos)
{
    s->chaos = chaos != NULL ? *chaos : (sim_chaos){0};
}

bool sim_is_cut(const sim *s, size_t from, size_t to) { return s->cut[from * s->n + to] != 0; }
size_t sim_cuts_of(const sim *s, size_t i) { return s->cuts_by_node[i]; }

/* A stream needs both directions. */
static bool link_cut(const sim *s, size_t a, size_t b)
{
    return s->cut[a * s->n + b] || s->cut[b * s->n + a] || link_of(s, a, b)->down ||
           link_of(s, b, a)->down;
}

static double u01(cara_rng *r) { return (double)(cara_rng_next(r) >> 11) * 0x1p-53; }

static double normal01(cara_rng *r)
{
    /* Box-Muller; 1 - u keeps the logarithm finite. */
    double u1 = 1.0 - u01(r), u2 = u01(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double draw_latency(cara_rng *r, const sim_link_cfg *l)
{
    double lo = l->latency_min_ms, shape = l->latency_shape_milli / 1000.0;
    switch (l->latency_dist) {
    case SIM_LAT_NORMAL: return l->latency_mean_ms + l->latency_sd_ms * normal01(r);
    case SIM_LAT_EXPONENTIAL: {
        double mean = l->latency_mean_ms > lo ? l->latency_mean_ms - lo : 1.0;
        return lo - mean * log(1.0 - u01(r));
    }
    case SIM_LAT_LOGNORMAL: return l->latency_mean_ms * exp(shape * normal01(r));
    case SIM_LAT_PARETO:
        return (lo > 0 ? lo : 1.0) / pow(1.0 - u01(r), 1.0 / (shape > 0 ? shape : 1.5));
    default: {
        uint32_t span = l->latency_max_ms > l->latency_min_ms
                            ? l->latency_max_ms - l->latency_min_ms : 0;
        return l->latency_min_ms + (double)cara_rng_below(r, (uint64_t)span + 1);
    }
    }
}

uint64_t sim_draw_ms(cara_rng *rng, const sim_link_cfg *l)
{
    double d = draw_latency(rng, l);
    double hi = l->latency_max_ms > l->latency_min_ms ? l->latency_max_ms : l->latency_min_ms;
    if (!(d >= l->latency_min_ms)) /* NaN too */
        d = l->latency_min_ms;
    if (d > hi)
        d = hi;
    return (uint64_t)(d + 0.5);
}

static uint64_t latency(sim *s, size_t from, size_t to)
{
    uint64_t ms = sim_draw_ms(&s->rng, link_of(s, from, to));
    if (s->chaos.spike_ppm > 0 && cara_rng_below(&s->rng, SIM_PPM) < s->chaos.spike_ppm)
        ms += 1 + cara_rng_below(&s->rng, (uint64_t)s->chaos.spike_ms + 1);
    return ms;
}

uint64_t sim_latency_draw(sim *s, size_t from, size_t to) { return latency(s, from, to); }

static bool chance(sim *s, uint32_t ppm)
{
    return ppm > 0 && cara_rng_below(&s->rng, SIM_PPM) < ppm;
}

static const char *const dist_names[SIM_LAT_COUNT_] = {"uniform", "normal", "exponential",
                                                       "lognormal", "pareto"};

const char *sim_latency_dist_name(int dist)
{
    return dist >= 0 && dist < SIM_LAT_COUNT_ ? dist_names[dist] : "unknown";
}

int sim_latency_dist_of(const char *name)
{
    for (int d = 0; d < SIM_LAT_COUNT_; d++)
        if (strcmp(name, dist_names[d]) == 0)
            return d;
    return -1;
}

/* Breaks a connection: every live end that still holds it learns at once;
 * bytes in flight are lost. */
static void conn_break(sim *s, sim_conn *c, size_t slot)
{
    if (c->broken)
        return;
    c->broken = true;
    s->stats.streams_broken++;
    for (int e = 0; e < 2; e++)
        if (c->open[e] && c->sid[e] != 0)
            (void)schedule(s, EV_CLOSED, c->node[e], s->now_ms,
                           (uint64_t)slot << 32 | c->serial, NULL, NULL, 0);
}

static void break_crossing(sim *s)
{
    for (size_t k = 0; k < s->conns_cap; k++) {
        sim_conn *c = &s->conns[k];
        if (c->used && c->open[1] && link_cut(s, c->node[0], c->node[1]))
            conn_break(s, c, k);
    }
}

static void set_cut(sim *s, size_t from, size_t to, bool cut)
{
    uint8_t *c = &s->cut[from * s->n + to];
    if (*c == (uint8_t)cut)
        return;
    *c = cut;
    s->cuts_count += cut ? 1 : (size_t)-1;
    s->cuts_by_node[from] += cut ? 1 : (uint32_t)-1;
    s->cuts_by_node[to] += cut ? 1 : (uint32_t)-1;
}

void sim_cut_quiet(sim *s, size_t from, size_t to, bool cut) { set_cut(s, from, to, cut); }
void sim_break_cut_streams(sim *s) { break_crossing(s); }

void sim_cut(sim *s, size_t from, size_t to, bool cut)
{
    set_cut(s, from, to, cut);
    if (cut)
        break_crossing(s);
}

void sim_partition_pair(sim *s, size_t i, size_t j, bool cut)
{
    set_cut(s, i, j, cut);
    set_cut(s, j, i, cut);
    if (cut)
        break_crossing(s);
}

void sim_isolate(sim *s, size_t i, bool cut)
{
    for (size_t j = 0; j < s->n; j++)
        if (j != i) {
            set_cut(s, i, j, cut);
            set_cut(s, j, i, cut);
        }
    if (cut)
        break_crossing(s);
}

void sim_split(sim *s, const int *side)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->n; j++)
            set_cut(s, i, j, side[i] != side[j]);
    break_crossing(s);
}

void sim_heal_all(sim *s)
{
    memset(s->cut, 0, s->n * s->n);
    memset(s->cuts_by_node, 0, s->n * sizeof *s->cuts_by_node);
    s->cuts_count = 0;
}

int sim_inject(sim *s, size_t to, const cara_gossip_addr *from, const uint8_t *bytes,
               size_t len, uint64_t delay_ms)
{
    return schedule(s, EV_DGRAM, to, s->now_ms + delay_ms, 0, from, bytes, len);
}

/* ---- Connections ------------------------------------------------------------------- */

static size_t conn_new(sim *s)
{
    if (s->conns_free_count == 0) {
        size_t cap = s->conns_cap ? 2 * s->conns_cap : 256;
        sim_conn *v = cara_env_realloc(s->env, s->conns, cap * sizeof *v);
        size_t *f = cara_env_realloc(s->env, s->conns_free, cap * sizeof *f);
        CARA_ASSERT(v != NULL && f != NULL);
        memset(v + s->conns_cap, 0, (cap - s->conns_cap) * sizeof *v);
        s->conns = v;
        s->conns_free = f;
        for (size_t k = cap; k > s->conns_cap; k--)
            s->conns_free[s->conns_free_count++] = k - 1;
        s->conns_cap = cap;
    }
    size_t k = s->conns_free[--s->conns_free_count];
    s->conns[k] = (sim_conn){.used = true, .serial = s->conn_serial_next++};
    return k;
}

static uint64_t conn_handle(const sim *s, size_t slot)
{
    return (uint64_t)slot << 32 | s->conns[slot].serial;
}

static sim_conn *conn_by_handle(sim *s, uint64_t h, size_t *slot)
{
    size_t k = (size_t)(h >> 32);
    if (h == 0 || k >= s->conns_cap || !s->conns[k].used || s->conns[k].serial != (uint32_t)h)
        return NULL;
    *slot = k;
    return &s->conns[k];
}

static void node_conn_add(sim *s, size_t i, size_t slot)
{
    sim_node *nd = s->nodes[i];
    nd->conns = sim_grow(s->env, nd->conns, nd->conns_count, &nd->conns_cap, sizeof *nd->conns, 16);
    nd->conns[nd->conns_count++] = slot;
}

static void node_conn_remove(sim *s, size_t i, size_t slot)
{
    sim_node *nd = s->nodes[i];
    for (size_t k = 0; k < nd->conns_count; k++)
        if (nd->conns[k] == slot) {
            nd->conns[k] = nd->conns[--nd->conns_count];
            return;
        }
}

/* End e of the connection closes at its node. */
static void conn_end_closed(sim *s, sim_conn *c, size_t slot, int e)
{
    if (!c->open[e])
        return;
    c->open[e] = false;
    node_conn_remove(s, c->node[e], slot);
    if (!c->open[0] && !c->open[1]) {
        *c = (sim_conn){0};
        s->conns_free[s->conns_free_count++] = slot;
    }
}

/* The connection whose end at node i (this life) is stream `sid`; *end gets which. */
static sim_conn *conn_by_sid(sim *s, size_t i, uint32_t sid, int *end, size_t *slot)
{
    sim_node *nd = s->nodes[i];
    for (size_t k = 0; k < nd->conns_count; k++) {
        sim_conn *c = &s->conns[nd->conns[k]];
        for (int e = 0; e < 2; e++)
            if (c->open[e] && c->node[e] == i && c->life[e] == nd->life && c->sid[e] == sid) {
                *end = e;
                *slot = nd->conns[k];
                return c;
            }
    }
    return NULL;
}

void net_node_down(sim *s, size_t i)
{
    /* Its streams vanish with it; the peers' ends dangle until their idle
     * timeout, as TCP leaves them when a host dies. */
    sim_node *nd = s->nodes[i];
    while (nd->conns_count > 0) {
        size_t slot = nd->conns[nd->conns_count - 1];
        sim_conn *c = &s->conns[slot];
        c->broken = true;
        bool any = false;
        for (int e = 0; e < 2; e++)
            if (c->node[e] == i && c->open[e]) {
                conn_end_closed(s, c, slot, e);
                any = true;
            }
        if (!any)
            nd->conns_count--; /* never kept without an open end here; a guard */
    }
    for (size_t k = 0; k < SIM_OUTSIDE_MAX; k++)
        if (s->outside[k].used && s->outside[k].node == i)
            s->outside[k].node_open = false;
}

/* ---- Outside parties --------------------------------------------------------------- */

static sim_outside *outside_of(sim *s, int handle)
{
    if (handle < 0 || handle >= SIM_OUTSIDE_MAX || !s->outside[handle].used)
        return NULL;
    return &s->outside[handle];
}

/* The outside connection whose node end is stream `sid` of node i. */
static sim_outside *outside_by_sid(sim *s, size_t i, uint32_t sid)
{
    for (size_t k = 0; s->outside_used > 0 && k < SIM_OUTSIDE_MAX; k++) {
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
    int rc = node_input_accept(nd, &sid);
    if (rc != 0)
        return rc;
    uint8_t *kept = o->kept;
    *o = (sim_outside){.used = true, .node_open = true, .node = (uint16_t)to, .life = nd->life,
                       .sid = sid, .kept = kept};
    s->outside_used++;
    *handle = k;
    node_drain(nd);
    return 0;
}

int sim_outside_send(sim *s, int handle, const uint8_t *bytes, size_t len, uint64_t delay_ms)
{
    sim_outside *o = outside_of(s, handle);
    if (o == NULL)
        return CARA_EINVAL;
    return schedule(s, EV_OUTSIDE, o->node, s->now_ms + delay_ms, (uint64_t)handle, NULL, bytes,
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
    sim_node *nd = s->nodes[o->node];
    if (nd->g != NULL && nd->life == o->life) {
        node_input_closed(nd, o->sid);
        node_drain(nd);
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

/* ---- What a node sends (called by its driver) ---------------------------------------- */

void net_datagram(sim *s, size_t from, const cara_gossip_addr *to_addr, const uint8_t *b,
                  size_t len)
{
    int to = sim_node_of_addr(to_addr);
    s->stats.datagrams_sent++;
    s->stats.datagram_bytes += len;
    s->nodes[from]->bytes_sent += len;
    if (len > s->stats.datagram_bytes_max)
        s->stats.datagram_bytes_max = len;
    if (len > CARA_GOSSIP_DATAGRAM_BYTES_MAX)
        s->stats.datagrams_oversized++;
    trace_u64(s, s->now_ms);
    trace_u64(s, from);
    trace_u64(s, (uint64_t)(int64_t)to);
    trace_bytes(s, b, len);
    if (s->taps.on_datagram != NULL &&
        !s->taps.on_datagram(s->taps.ctx, s, (int)from, to, b, len))
        return;
    if (to < 0 || (size_t)to >= s->n) {
        s->stats.datagrams_unroutable++;
        return;
    }
    const sim_link_cfg *l = link_of(s, from, (size_t)to);
    if (s->cut[from * s->n + (size_t)to] || l->down) {
        s->stats.datagrams_cut++;
        return;
    }
    if (chance(s, l->loss_ppm) || chance(s, s->chaos.loss_ppm)) {
        s->stats.datagrams_lost++;
        return;
    }
    cara_gossip_addr fa = sim_addr(from);
    int copies = chance(s, l->dup_ppm) || chance(s, s->chaos.dup_ppm) ? 2 : 1;
    s->stats.datagrams_duplicated += (uint64_t)(copies - 1);
    for (int c = 0; c < copies; c++) {
        uint64_t at = s->now_ms + latency(s, from, (size_t)to);
        if (chance(s, l->reorder_ppm)) {
            at += 1 + cara_rng_below(&s->rng, (uint64_t)l->reorder_extra_ms + 1);
            s->stats.datagrams_reordered++;
        } else if (chance(s, s->chaos.reorder_ppm)) {
            at += 1 + cara_rng_below(&s->rng, (uint64_t)s->chaos.reorder_extra_ms + 1);
            s->stats.datagrams_reordered++;
        }
        (void)schedule(s, EV_DGRAM, (size_t)to, at, 0, &fa, b, len);
    }
}

void net_dial(sim *s, size_t from, uint32_t sid, const cara_gossip_addr *to_addr)
{
    int to = sim_node_of_addr(to_addr);
    s->stats.dials++;
    trace_u64(s, 0xd1a1);
    trace_u64(s, s->now_ms);
    trace_u64(s, from);
    trace_u64(s, (uint64_t)(int64_t)to);
    size_t slot = conn_new(s);
    sim_conn *c = &s->conns[slot];
    c->node[0] = (uint16_t)from;
    c->life[0] = s->nodes[from]->life;
    c->sid[0] = sid;
    c->open[0] = true;
    node_conn_add(s, from, slot);
    uint64_t lat = to >= 0 && (size_t)to < s->n ? latency(s, from, (size_t)to) : 1;
    if (to < 0 || (size_t)to >= s->n || (size_t)to == from || link_cut(s, from, (size_t)to) ||
        s->nodes[to]->g == NULL) {
        /* Refused or timed out: the dialler hears of it after a round trip. */
        s->stats.dials_refused++;
        c->broken = true;
        (void)schedule(s, EV_CLOSED, from, s->now_ms + 2 * lat, conn_handle(s, slot), NULL,
                       NULL, 0);
        return;
    }
    c->node[1] = (uint16_t)to;
    c->life[1] = s->nodes[to]->life;
    (void)schedule(s, EV_ACCEPT, (size_t)to, s->now_ms + lat, conn_handle(s, slot), NULL, NULL,
                   0);
}

/* Sends a stream's bytes to the other end in segments of random size. */
void net_stream_write(sim *s, size_t from, uint32_t sid, const uint8_t *b, size_t len)
{
    s->nodes[from]->bytes_sent += len;
    if (outside_write(s, from, sid, b, len))
        return;
    int end;
    size_t slot;
    sim_conn *c = conn_by_sid(s, from, sid, &end, &slot);
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
        conn_break(s, c, slot);
        return;
    }
    if (!c->open[other])
        return; /* the peer closed: the bytes go nowhere */
    const sim_link_cfg *l = link_of(s, from, to);
    uint64_t at = s->now_ms + latency(s, from, to);
    for (size_t off = 0; off < len;) {
        size_t seg = 1 + cara_rng_below(&s->rng, SEGMENT_BYTES_MAX);
        seg = seg < len - off ? seg : len - off;
        if (at < c->last_at[other])
            at = c->last_at[other];
        if (l->stream_bytes_per_ms > 0)
            at += seg / l->stream_bytes_per_ms;
        c->last_at[other] = at;
        (void)schedule(s, EV_BYTES, to, at, conn_handle(s, slot), NULL, b + off, seg);
        s->stats.stream_segments++;
        off += seg;
    }
}

void net_stream_close(sim *s, size_t from, uint32_t sid)
{
    if (outside_close(s, from, sid))
        return;
    int end;
    size_t slot;
    sim_conn *c = conn_by_sid(s, from, sid, &end, &slot);
    if (c == NULL)
        return;
    int other = 1 - end;
    if (c->open[other] && c->sid[other] != 0 && !c->broken) {
        /* The FIN follows the data already written. */
        uint64_t at = s->now_ms + latency(s, from, c->node[other]);
        if (at < c->last_at[other])
            at = c->last_at[other];
        (void)schedule(s, EV_CLOSED, c->node[other], at, conn_handle(s, slot), NULL, NULL, 0);
    } else if (c->open[other] && c->sid[other] == 0) {
        c->open[other] = false; /* not accepted yet: the accept will find it closed */
    }
    conn_end_closed(s, c, slot, end);
}

void net_event(sim *s, size_t i, const cara_gossip_event *ev)
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
    if (s->taps.on_event != NULL)
        s->taps.on_event(s->taps.ctx, s, (int)i, ev);
}

void net_change(sim *s, size_t i, const cara_crdt_change *c)
{
    s->stats.changes++;
    if (s->taps.on_change != NULL)
        s->taps.on_change(s->taps.ctx, s, (int)i, c);
}

void net_stored(sim *s, size_t i, const uint8_t *b, size_t len)
{
    if (s->taps.on_stored != NULL)
        s->taps.on_stored(s->taps.ctx, s, (int)i, b, len);
}

void net_runtime(sim *s, size_t i, const char *project, uint64_t generation, bool running)
{
    trace_u64(s, (uint64_t)i << 1 | running);
    trace_bytes(s, project, strlen(project));
    trace_u64(s, generation);
    if (s->taps.on_runtime != NULL)
        s->taps.on_runtime(s->taps.ctx, s, (int)i, project, generation, running);
}

/* ---- Input to one node ------------------------------------------------------------- */

static void deliver_accept(sim *s, sim_node *nd, sim_conn *c, size_t slot)
{
    uint32_t sid;
    if (c == NULL || c->broken || !c->open[0])
        return;
    if (link_cut(s, c->node[0], c->node[1]) || node_input_accept(nd, &sid) != 0) {
        s->stats.dials_refused++;
        c->broken = true;
        (void)schedule(s, EV_CLOSED, c->node[0], s->now_ms + latency(s, nd->index, c->node[0]),
                       conn_handle(s, slot), NULL, NULL, 0);
        return;
    }
    c->sid[1] = sid;
    c->open[1] = true;
    node_conn_add(s, nd->index, slot);
    (void)schedule(s, EV_CONNECTED, c->node[0], s->now_ms + latency(s, nd->index, c->node[0]),
                   conn_handle(s, slot), NULL, NULL, 0);
}

static void deliver(sim *s, sim_ev *ev)
{
    sim_node *nd = s->nodes[ev->to];
    if (nd->g == NULL || nd->life != ev->life) {
        if (ev->type == EV_DGRAM)
            s->stats.datagrams_to_down++;
        return;
    }
    s->stats.deliveries++;
    size_t slot = 0;
    sim_conn *c = ev->type == EV_DGRAM || ev->type == EV_OUTSIDE
                      ? NULL : conn_by_handle(s, ev->conn, &slot);
    int end = c != NULL && c->node[1] == ev->to && c->life[1] == ev->life ? 1 : 0;
    switch (ev->type) {
    case EV_DGRAM:
        s->stats.datagrams_delivered++;
        node_input_datagram(nd, &ev->from, ev->bytes, ev->len);
        break;
    case EV_ACCEPT: deliver_accept(s, nd, c, slot); break;
    case EV_CONNECTED:
        if (c != NULL && !c->broken && c->open[0])
            node_input_connected(nd, c->sid[0]);
        break;
    case EV_BYTES:
        if (c != NULL && !c->broken && c->open[end])
            node_input_stream(nd, c->sid[end], ev->bytes, ev->len);
        break;
    case EV_OUTSIDE: {
        sim_outside *o = outside_of(s, (int)ev->conn);
        if (o != NULL && o->node_open && o->life == nd->life)
            node_input_stream(nd, o->sid, ev->bytes, ev->len);
        break;
    }
    case EV_CLOSED:
        if (c != NULL && c->open[end] && c->node[end] == ev->to) {
            uint32_t sid = c->sid[end];
            conn_end_closed(s, c, slot, end);
            node_input_closed(nd, sid);
        }
        break;
    }
    node_drain(nd);
}

/* ---- Running ------------------------------------------------------------------------ */

/* An event for a paused node waits until it resumes; a socket buffer holds
 * only so many datagrams. */
static bool hold_for_pause(sim *s, sim_ev *ev)
{
    sim_node *nd = s->nodes[ev->to];
    if (nd->paused_until_ms <= s->now_ms || nd->life != ev->life)
        return false;
    if (ev->type == EV_DGRAM && nd->paused_datagrams >= SIM_PAUSE_DATAGRAMS_MAX) {
        s->stats.datagrams_paused_lost++;
        cara_env_free(s->env, ev->bytes);
        return true;
    }
    if (ev->type == EV_DGRAM)
        nd->paused_datagrams++;
    ev->at_ms = nd->paused_until_ms;
    (void)heap_push(s, ev);
    return true;
}

/* One step at or before until_ms: the earliest delivery, else the earliest
 * timer. Returns false when nothing is due by then. */
static bool step(sim *s, uint64_t until_ms)
{
    uint64_t tq = s->heap_count > 0 ? s->heap[0].at_ms : SIM_NEVER;
    size_t who = s->timers[0];
    uint64_t tn = s->nodes[who]->deadline_ms;
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
        if (hold_for_pause(s, &ev))
            return true;
        deliver(s, &ev);
        cara_env_free(s->env, ev.bytes);
        return true;
    }
    sim_node *nd = s->nodes[who];
    s->stats.ticks++;
    node_tick(nd);
    node_drain(nd);
    if (nd->deadline_ms <= s->now_ms) {
        /* A timer that stays due after running would spin: note it and
         * look again a millisecond later. */
        s->stats.late_deadlines++;
        nd->deadline_ms = s->now_ms + 1;
        timer_fix(s, nd->heap_pos);
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

void sim_state_hash(sim *s, size_t i, uint8_t out[32])
{
    sim_node *nd = s->nodes[i];
    if (nd->hash_dirty) {
        cara_crdt_state_hash(nd->crdt, nd->hash);
        nd->hash_dirty = false;
    }
    memcpy(out, nd->hash, 32);
}

uint64_t sim_state_fp(const sim *s, size_t i) { return sim_mirror_fp(s->nodes[i]->mirror); }

bool sim_converged(sim *s)
{
    uint8_t first[32], h[32];
    bool have = false;
    for (size_t i = 0; i < s->n; i++) {
        if (s->nodes[i]->g == NULL)
            continue;
        sim_state_hash(s, i, have ? h : first);
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

const uint8_t *sim_disk_get(const sim *s, size_t i, const uint8_t id[CARA_CRDT_ID_BYTES],
                            size_t *len)
{
    return sim_store_get(s->nodes[i]->store, id, len);
}

int sim_disk_foreach(const sim *s, size_t i,
                     int (*fn)(void *ctx, const uint8_t *bytes, size_t len), void *ctx)
{
    return sim_store_foreach(s->nodes[i]->store, fn, ctx);
}

size_t sim_harness_bytes(const sim *s)
{
    size_t b = sizeof *s + s->n * (sizeof(sim_node) + 2 * s->n + sizeof(size_t)) +
               s->heap_cap * sizeof(sim_ev) + s->conns_cap * (sizeof(sim_conn) + sizeof(size_t)) +
               sim_pool_bytes(s->pool);
    for (size_t i = 0; i < s->n; i++)
        b += sim_store_bytes(s->nodes[i]->store) + sim_mirror_bytes(s->nodes[i]->mirror) +
             s->nodes[i]->conns_cap * sizeof(size_t);
    for (size_t i = 0; i < s->heap_count; i++)
        b += s->heap[i].len;
    return b;
}
