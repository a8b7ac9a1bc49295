/*
 * The hostile node (docs/sim.md, "The hostile node"): an admitted member
 * that runs the real node object, so the others keep it alive, and that
 * also relays what an honest node never would, through its own object's
 * dissemination (cara_gossip_publish takes any envelope that decodes) and
 * onto the overlay directly:
 *
 *   records    altered (a byte of the value or signature changed), replayed
 *              (an older generation it once held), forged (a spec, an
 *              admission or another node's record signed with its own key;
 *              with `operator_key_leaked`, a spec signed with the
 *              operator's key, which the cluster cannot tell from a real
 *              one: the scenario that shows genuine_only firing);
 *   datagrams  captured on the wire and replayed to their receiver, sent to
 *              another node, altered, or forged by a key nobody admitted.
 *
 * Every such thing must be refused and counted, and change nothing; the
 * checkers say if one was not.
 */
#include <string.h>

#include <jansson.h>

#include "gossip/seal_int.h"
#include "world.h"

#define ARCHIVE_MAX 128
#define CAPTURED_MAX 64
#define CAPTURE_EVERY 16

enum {
    A_ALTER_RECORD = 0,
    A_REPLAY_RECORD,
    A_FORGE_SPEC,
    A_FORGE_ADMISSION,
    A_FORGE_NODE_RECORD,
    A_LEAKED_KEY_SPEC,
    A_REPLAY_DATAGRAM,
    A_MISDIRECT_DATAGRAM,
    A_ALTER_DATAGRAM,
    A_FORGE_DATAGRAM,
    A_COUNT_
};

static const char *const action_names[A_COUNT_] = {
    "altered_records",     "replayed_records",     "forged_specs",
    "forged_admissions",   "forged_node_records",  "leaked_key_specs",
    "replayed_datagrams",  "misdirected_datagrams", "altered_datagrams",
    "forged_datagrams",
};

typedef struct blob {
    uint8_t *bytes;
    size_t len;
} blob;

typedef struct captured {
    int from, to;
    uint8_t bytes[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    size_t len;
} captured;

struct hostile {
    size_t node;
    cara_rng rng;
    blob archive[ARCHIVE_MAX];
    size_t archive_count, archive_next;
    captured *cap; /* CAPTURED_MAX */
    size_t cap_count, cap_next;
    uint64_t seen;
    uint8_t rogue_pk[CARA_CRDT_PK_BYTES], rogue_sk[CARA_CRDT_SK_BYTES];
    cara_seal *rogue;
    uint64_t counts[A_COUNT_];
    uint64_t forged_seq;
};

int hostile_new(world *w)
{
    hostile *h = cara_env_calloc(w->env, 1, sizeof *h);
    if (h == NULL)
        return CARA_ENOMEM;
    w->h = h;
    h->node = w->sc.nodes - 1;
    w->is_hostile[h->node] = 1;
    cara_rng_seed(&h->rng, w->sc.seed ^ 0x686f7374696c65ull);
    h->cap = cara_env_calloc(w->env, CAPTURED_MAX, sizeof *h->cap);
    if (h->cap == NULL)
        return CARA_ENOMEM;
    uint8_t seed[CARA_CRDT_SEED_BYTES];
    cara_rng_bytes(&h->rng, seed, sizeof seed);
    CARA_ASSERT(cara_crdt_key_from_seed(seed, h->rogue_pk, h->rogue_sk) == 0);
    return cara_seal_new(w->env, h->rogue_pk, h->rogue_sk, 1, &h->rogue);
}

void hostile_free(world *w)
{
    hostile *h = w->h;
    if (h == NULL)
        return;
    for (size_t k = 0; k < ARCHIVE_MAX; k++)
        cara_env_free(w->env, h->archive[k].bytes);
    cara_env_free(w->env, h->cap);
    cara_seal_free(h->rogue);
    cara_env_free(w->env, h);
    w->h = NULL;
}

/* ---- What it sees ------------------------------------------------------------------- */

bool hostile_tap_datagram(world *w, int from, int to, const uint8_t *b, size_t len)
{
    hostile *h = w->h;
    if (to < 0 || len > CARA_GOSSIP_DATAGRAM_BYTES_MAX || ++h->seen % CAPTURE_EVERY != 0)
        return true;
    captured *c = &h->cap[h->cap_next];
    c->from = from;
    c->to = to;
    memcpy(c->bytes, b, len);
    c->len = len;
    h->cap_next = (h->cap_next + 1) % CAPTURED_MAX;
    if (h->cap_count < CAPTURED_MAX)
        h->cap_count++;
    return true;
}

void hostile_tap_change(world *w, int node, const cara_crdt_change *c)
{
    hostile *h = w->h;
    if ((size_t)node != h->node)
        return;
    blob *b = &h->archive[h->archive_next];
    cara_env_free(w->env, b->bytes);
    b->bytes = cara_env_alloc(w->env, c->len);
    CARA_ASSERT(b->bytes != NULL);
    memcpy(b->bytes, c->bytes, c->len);
    b->len = c->len;
    h->archive_next = (h->archive_next + 1) % ARCHIVE_MAX;
    if (h->archive_count < ARCHIVE_MAX)
        h->archive_count++;
}

/* ---- Records ------------------------------------------------------------------------ */

static void relay(world *w, const uint8_t *b, size_t len)
{
    (void)sim_relay(w->s, w->h->node, b, len);
}

static void alter_record(world *w)
{
    hostile *h = w->h;
    blob *b = &h->archive[cara_rng_below(&h->rng, h->archive_count)];
    uint8_t *copy = cara_env_alloc(w->env, b->len);
    CARA_ASSERT(copy != NULL);
    memcpy(copy, b->bytes, b->len);
    cara_crdt_record r;
    CARA_ASSERT(cara_crdt_record_decode(copy, b->len, &r) == 0);
    /* A byte of the value if there is one, else of the signature: the
     * envelope still decodes, so the node object relays it. */
    uint8_t *at = r.value_bytes > 0
                      ? (uint8_t *)r.value + cara_rng_below(&h->rng, r.value_bytes)
                      : (uint8_t *)r.sig + cara_rng_below(&h->rng, CARA_CRDT_SIG_BYTES);
    *at ^= (uint8_t)(1 + cara_rng_below(&h->rng, 255));
    relay(w, copy, b->len);
    cara_env_free(w->env, copy);
}

static void forge(world *w, int kind, const char *key, const uint8_t *value, size_t value_bytes,
                  const uint8_t *pk, const uint8_t *sk)
{
    hostile *h = w->h;
    cara_buf b;
    cara_buf_init(&b, w->env, CARA_CRDT_RECORD_BYTES_MAX);
    cara_crdt_record r = {.kind = kind, .key = (const uint8_t *)key, .key_bytes = strlen(key),
                          .generation = 1000000 + h->forged_seq++,
                          .hlc = cara_crdt_hlc_next(sim_crdt(w->s, h->node),
                                                    sim_wall(w->s, h->node)),
                          .author = pk, .value = value, .value_bytes = value_bytes};
    CARA_ASSERT(cara_crdt_record_sign(&r, sk, &b) == 0);
    relay(w, b.data, b.len);
    cara_buf_free(&b);
}

/* A node record naming `victim`, well formed: only its signature (the
 * hostile node's key, not the victim's) can betray it. */
static void node_value(world *w, size_t victim, cara_buf *out)
{
    cara_node n = {.name = (char *)sim_name(w->s, victim), .state = CARA_NODE_READY,
                   .capacity = {.cpu_millis = 64000, .memory_bytes = 1ull << 40}};
    CARA_ASSERT(cara_node_encode(&n, out) == 0);
}

/* Values are well formed (a spec the operator could have written, a node
 * record), so that what refuses them is the check of who signed them, not
 * the check of their shape. */
static void forge_record(world *w, int action)
{
    hostile *h = w->h;
    const uint8_t *pk = sim_pk(w->s, h->node), *sk = sim_sk(w->s, h->node);
    char key[24];
    cara_buf v;
    cara_buf_init(&v, w->env, CARA_SPEC_BYTES_MAX);
    workload_traits t;
    switch (action) {
    case A_FORGE_SPEC:
        /* A live key of the operator's, so that accepting it would matter. */
        snprintf(key, sizeof key, "p%04llu",
                 (unsigned long long)(w->keys_count ? cara_rng_below(&h->rng, w->keys_count) : 0));
        CARA_ASSERT(workload_spec(w, &h->rng, key, sim_true_wall(w->s), NULL, &t, &v) == 0);
        forge(w, CARA_CRDT_PROJECT, key, v.data, v.len, pk, sk);
        break;
    case A_FORGE_ADMISSION:
        CARA_ASSERT(cara_crdt_admission_encode(h->rogue_pk, true, &v) == 0);
        forge(w, CARA_CRDT_ADMISSION, "rogue", v.data, v.len, pk, sk);
        break;
    case A_FORGE_NODE_RECORD: {
        size_t victim = (size_t)cara_rng_below(&h->rng, w->sc.nodes);
        node_value(w, victim, &v);
        forge(w, CARA_CRDT_NODE, sim_name(w->s, victim), v.data, v.len, pk, sk);
        break;
    }
    case A_LEAKED_KEY_SPEC:
        snprintf(key, sizeof key, "x%04llu", (unsigned long long)h->forged_seq);
        CARA_ASSERT(workload_spec(w, &h->rng, key, sim_true_wall(w->s), NULL, &t, &v) == 0);
        forge(w, CARA_CRDT_PROJECT, key, v.data, v.len, sim_operator_pk(w->s),
              sim_operator_sk(w->s));
        break;
    default: CARA_UNREACHABLE();
    }
    cara_buf_free(&v);
}

/* ---- Datagrams ---------------------------------------------------------------------- */

static size_t random_member(world *w)
{
    hostile *h = w->h;
    for (int tries = 0; tries < 16; tries++) {
        size_t i = (size_t)cara_rng_below(&h->rng, w->n);
        if (world_live(w, i) && i != h->node)
            return i;
    }
    return SIZE_MAX;
}

static void datagram_act(world *w, int action)
{
    hostile *h = w->h;
    captured *c = &h->cap[cara_rng_below(&h->rng, h->cap_count)];
    uint8_t buf[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    memcpy(buf, c->bytes, c->len);
    cara_gossip_addr from = sim_addr((size_t)c->from);
    size_t to = (size_t)c->to;
    if (action == A_MISDIRECT_DATAGRAM) {
        size_t other = random_member(w);
        if (other == SIZE_MAX || other == to)
            return;
        to = other;
    } else if (action == A_ALTER_DATAGRAM) {
        size_t bit = (size_t)cara_rng_below(&h->rng, c->len * 8);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    (void)sim_inject(w->s, to, &from, buf, c->len, 1 + cara_rng_below(&h->rng, 20));
}

static void forge_datagram(world *w)
{
    hostile *h = w->h;
    size_t to = random_member(w);
    if (to == SIZE_MAX)
        return;
    uint8_t plain[200], out[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    cara_rng_bytes(&h->rng, plain, sizeof plain);
    size_t len = 0;
    if (cara_seal_admit(h->rogue, sim_pk(w->s, to)) != 0 ||
        cara_seal_seal(h->rogue, sim_pk(w->s, to), plain, sizeof plain, out, sizeof out, &len) != 0)
        return;
    cara_gossip_addr from = sim_addr(h->node);
    (void)sim_inject(w->s, to, &from, out, len, 1);
}

void hostile_act(world *w)
{
    hostile *h = w->h;
    if (h == NULL || !sim_up(w->s, h->node))
        return;
    /* Every kind alike, but the leaked key, which is drawn on its own: one
     * time in four when the scenario leaks it. */
    int action = (int)cara_rng_below(&h->rng, (uint64_t)A_COUNT_ - 1);
    if (action >= A_LEAKED_KEY_SPEC)
        action++;
    if (w->sc.operator_key_leaked && cara_rng_below(&h->rng, 4) == 0)
        action = A_LEAKED_KEY_SPEC;
    if ((action == A_ALTER_RECORD || action == A_REPLAY_RECORD) && h->archive_count == 0)
        action = A_FORGE_SPEC;
    if (action >= A_REPLAY_DATAGRAM && action != A_FORGE_DATAGRAM && h->cap_count == 0)
        action = A_FORGE_DATAGRAM;
    h->counts[action]++;
    switch (action) {
    case A_ALTER_RECORD: alter_record(w); break;
    case A_REPLAY_RECORD: {
        blob *b = &h->archive[cara_rng_below(&h->rng, h->archive_count)];
        relay(w, b->bytes, b->len);
        break;
    }
    case A_FORGE_SPEC:
    case A_FORGE_ADMISSION:
    case A_FORGE_NODE_RECORD:
    case A_LEAKED_KEY_SPEC: forge_record(w, action); break;
    case A_FORGE_DATAGRAM: forge_datagram(w); break;
    default: datagram_act(w, action); break;
    }
}

void hostile_summary(world *w, void *json_object)
{
    json_t *o = json_object;
    if (w->h == NULL)
        return;
    json_object_set_new(o, "node", json_string(sim_name(w->s, w->h->node)));
    for (int a = 0; a < A_COUNT_; a++)
        json_object_set_new(o, action_names[a], json_integer((json_int_t)w->h->counts[a]));
}
