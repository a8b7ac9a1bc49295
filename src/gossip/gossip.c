/*
 * The gossip node object: datagrams, membership, dissemination and
 * acknowledgements (docs/gossip.md, "The node object"). Streams (joining,
 * anti-entropy, large pushes) are in gossip_stream.c.
 *
 * A datagram is one sealed wire message (seal.c, wire.c). The sender's key
 * comes from the seal, never from the message, and is mapped to a member
 * name through the admissions the crdt holds, so a member can speak only
 * for itself. Records ride on SWIM messages in the room the membership
 * updates leave, each about lambda * log N times like memberlist's
 * broadcasts; a record newly learnt is passed on the same way, which makes
 * dissemination epidemic rather than a one-hop push.
 */
#include "gossip/gossip_int.h"

#include <sodium.h>
#include <string.h>

const char *cara_gossip_state_name(int state)
{
    switch (state) {
    case CARA_GOSSIP_ALIVE: return "alive";
    case CARA_GOSSIP_SUSPECT: return "suspect";
    case CARA_GOSSIP_DEAD: return "dead";
    case CARA_GOSSIP_LEFT: return "left";
    default: return "unknown";
    }
}

const char *cara_gossip_drop_name(int drop)
{
    static const char *const names[CARA_GOSSIP_DROP_COUNT_] = {
        "malformed", "not_admitted", "bad_tag", "replay", "oversized",
        "unknown_sender", "record_refused", "stream_error", "full", "version",
    };
    return drop >= 0 && drop < CARA_GOSSIP_DROP_COUNT_ ? names[drop] : "unknown";
}

void cara_gossip_cfg_lan(cara_gossip_cfg *cfg)
{
    cara_swim_cfg lan;
    cara_swim_cfg_lan(&lan);
#define DEF(f, v) \
    if (cfg->f == 0) \
        cfg->f = (v)
    DEF(probe_interval_ms, lan.probe_interval_ms);
    DEF(probe_timeout_ms, lan.probe_timeout_ms);
    DEF(indirect_checks_count, lan.indirect_checks_count);
    DEF(suspicion_mult, lan.suspicion_mult);
    DEF(suspicion_max_mult, lan.suspicion_max_mult);
    DEF(suspicion_confirmations, lan.suspicion_confirmations);
    DEF(retransmit_mult, lan.retransmit_mult);
    DEF(awareness_max, lan.awareness_max);
    DEF(reap_horizon_ms, lan.reap_horizon_ms);
    /* Three members at once reach a 32-node cluster in about two more
     * rounds of piggybacking; more only adds duplicates. */
    DEF(push_fanout, 3);
    /* A record's first three piggybacks from each node carry it whole (in
     * practice the gossip round that forwards it at once), the other five
     * of its eight carry its 24-byte id and HLC (docs/gossip.md, "Lazy
     * push"): an epidemic of fanout 3 reaches about 95 % of the nodes, and
     * the adverts bring the rest by a pull, at a fraction of the bytes of
     * eight whole copies. */
    DEF(eager_transmits, 3);
    /* An answer takes one round trip (under 10 ms on a LAN) plus the
     * advertiser's turn; half a probe period, then the next advertiser. */
    DEF(pull_timeout_ms, 500);
    /* Pull answers are what an admitted peer can make us send by asking;
     * 512 KiB/s covers a burst of a thousand node records answered twice. */
    DEF(pull_bytes_per_s_max, 512ull * 1024);
    /* memberlist's LAN GossipInterval and GossipNodes: while news (a record
     * or a membership update) is pending, every 200 ms it goes to 3 random
     * members, so it crosses a 32-node cluster in about a second instead
     * of one hop per probe period. Nothing is sent when nothing is new. */
    DEF(gossip_interval_ms, 200);
    DEF(gossip_nodes, 3);
    /* Pushes and piggybacks carry news; anti-entropy is the safety net for
     * what they missed (a node that was down, a lost datagram). memberlist
     * pushes and pulls its whole state every 30 s; ours costs only the
     * difference, so 10 s, scaled up with N like memberlist's. */
    DEF(anti_entropy_interval_ms, 10 * 1000);
    /* Serf's reconnect interval: a partition that outlasted a death heals
     * within about this long after the network does (members are kept
     * for reap_horizon_ms, so up to then). */
    DEF(reconnect_interval_ms, 30 * 1000);
    DEF(stream_timeout_ms, 10 * 1000);
    DEF(join_retry_ms, 1000);
    DEF(ack_retry_ms, 1000);
    DEF(ack_timeout_ms, 60 * 1000);
    /* 4 MiB/s each way bounds a catch-up's cost on a LAN link and still
     * moves a full state of 65,536 small records within seconds. */
    DEF(sync_bytes_per_s_max, 4ull * 1024 * 1024);
#undef DEF
}

/* ---- Events ------------------------------------------------------------------ */

void gossip_event(cara_gossip *g, const cara_gossip_event *ev)
{
    if (g->ev_count == CARA_GOSSIP_EVENTS_MAX) {
        gossip_drop(g, CARA_GOSSIP_DROP_FULL);
        return;
    }
    g->events[(g->ev_head + g->ev_count) % CARA_GOSSIP_EVENTS_MAX] = *ev;
    g->ev_count++;
}

int cara_gossip_poll_event(cara_gossip *g, cara_gossip_event *ev)
{
    if (g->ev_count == 0)
        return CARA_EAGAIN;
    *ev = g->events[g->ev_head];
    g->ev_head = (g->ev_head + 1) % CARA_GOSSIP_EVENTS_MAX;
    g->ev_count--;
    /* Drained: start again at slot 0, so only as many of the ring's pages
     * are ever touched as it held at once (the driver drains it often). */
    if (g->ev_count == 0)
        g->ev_head = 0;
    return 0;
}

void gossip_drop(cara_gossip *g, int why)
{
    CARA_ASSERT(why >= 0 && why < CARA_GOSSIP_DROP_COUNT_);
    g->stats.dropped[why]++;
}

/* ---- Peers: admitted keys and their names ------------------------------------- */

/* Twice the cells of the peer table (slotidx.h). */
#define PEER_INDEX_CELLS (2 * CARA_GOSSIP_PEERS_MAX)

typedef struct pk_key {
    const cara_gossip *g;
    const uint8_t *pk;
} pk_key;

static uint64_t pk_hash(const uint8_t *pk)
{
    uint64_t h;
    memcpy(&h, pk, sizeof h); /* a public key is already uniform */
    return h;
}

static bool pk_match(const void *ctx, size_t slot)
{
    const pk_key *k = ctx;
    return memcmp(k->g->peers[slot].pk, k->pk, CARA_CRDT_PK_BYTES) == 0;
}

static uint64_t peer_hash(const void *ctx, size_t slot)
{
    const cara_gossip *g = ctx;
    return pk_hash(g->peers[slot].pk);
}

/* The peer of `pk` as the table holds it now (no refresh), or NULL. */
static gossip_peer *peer_held(const cara_gossip *g, const uint8_t *pk)
{
    pk_key k = {g, pk};
    size_t slot = cara_slotidx_find(&g->peer_index, pk_hash(pk), pk_match, &k);
    return slot == CARA_SLOTIDX_NONE ? NULL : &g->peers[slot];
}

gossip_peer *gossip_peer_by_pk(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    gossip_refresh_admissions(g);
    return peer_held(g, pk);
}

/* Mirrors the crdt's admitted set into the seal and the peer table when it
 * changed: new keys get pairwise keys, revoked ones lose them at once. */
void gossip_refresh_admissions(cara_gossip *g)
{
    uint64_t v = cara_crdt_admissions_version(g->crdt);
    if (g->admissions_known && v == g->admissions_version)
        return;
    g->admissions_known = true;
    g->admissions_version = v;
    for (size_t i = 0; i < g->peers_count; i++)
        g->peers[i].seen = false;
    size_t n = cara_crdt_admitted_count(g->crdt);
    for (size_t i = 0; i < n; i++) {
        uint8_t pk[CARA_CRDT_PK_BYTES];
        const char *name;
        size_t name_len;
        if (cara_crdt_admitted_at(g->crdt, i, pk, &name, &name_len) != 0 ||
            memcmp(pk, g->cfg.pk, CARA_CRDT_PK_BYTES) == 0 || name_len == 0 ||
            name_len > CARA_SWIM_NAME_BYTES_MAX)
            continue;
        gossip_peer *p = peer_held(g, pk);
        if (p == NULL) {
            if (g->peers_count == CARA_GOSSIP_PEERS_MAX || cara_seal_admit(g->seal, pk) != 0)
                continue;
            p = &g->peers[g->peers_count++];
            *p = (gossip_peer){0};
            memcpy(p->pk, pk, CARA_CRDT_PK_BYTES);
            cara_slotidx_put(&g->peer_index, pk_hash(pk), g->peers_count - 1);
        }
        p->seen = true;
        p->name_len = (uint8_t)name_len;
        memcpy(p->name, name, name_len);
    }
    for (size_t i = 0; i < g->peers_count;) {
        if (g->peers[i].seen) {
            i++;
            continue;
        }
        (void)cara_seal_revoke(g->seal, g->peers[i].pk);
        cara_slotidx_del(&g->peer_index, pk_hash(g->peers[i].pk), i, peer_hash, g);
        size_t last = --g->peers_count;
        if (i != last) {
            cara_slotidx_move(&g->peer_index, pk_hash(g->peers[last].pk), last, i);
            g->peers[i] = g->peers[last];
        }
    }
}

static cara_swim_id id_of(const gossip_peer *p)
{
    cara_swim_id id = {.name_len = p->name_len};
    memcpy(id.name, p->name, p->name_len);
    memcpy(id.key, p->pk, CARA_CRDT_PK_BYTES);
    return id;
}

static cara_swim_addr swim_addr(const cara_gossip_addr *a)
{
    cara_swim_addr s = {.len = a->len};
    memcpy(s.bytes, a->bytes, a->len);
    return s;
}

static cara_gossip_addr gossip_addr(const cara_swim_addr *a)
{
    cara_gossip_addr s = {.len = a->len};
    memcpy(s.bytes, a->bytes, a->len);
    return s;
}

void gossip_swim_join_peer(cara_gossip *g, const char *name, size_t name_len,
                           const uint8_t pk[CARA_CRDT_PK_BYTES], const cara_gossip_addr *addr,
                           uint64_t now_mono_ms)
{
    if (name_len == 0 || name_len > CARA_SWIM_NAME_BYTES_MAX)
        return;
    cara_swim_peer peer = {.id = {.name_len = (uint8_t)name_len}, .addr = swim_addr(addr)};
    memcpy(peer.id.name, name, name_len);
    memcpy(peer.id.key, pk, CARA_CRDT_PK_BYTES);
    (void)cara_swim_join(g->swim, &peer, now_mono_ms);
}

/* ---- Object life ------------------------------------------------------------ */

static int make_swim(cara_gossip *g)
{
    cara_swim_cfg sc = {
        .self = g->self,
        .self_addr = swim_addr(&g->cfg.addr),
        .probe_interval_ms = g->cfg.probe_interval_ms,
        .probe_timeout_ms = g->cfg.probe_timeout_ms,
        .indirect_checks_count = g->cfg.indirect_checks_count,
        .suspicion_mult = g->cfg.suspicion_mult,
        .suspicion_max_mult = g->cfg.suspicion_max_mult,
        .suspicion_confirmations = g->cfg.suspicion_confirmations,
        .retransmit_mult = g->cfg.retransmit_mult,
        .awareness_max = g->cfg.awareness_max,
        .reap_horizon_ms = g->cfg.reap_horizon_ms,
    };
    return cara_swim_new(&g->swim, &sc, g->env);
}

int cara_gossip_new(cara_gossip **out, const cara_gossip_cfg *cfg, cara_env *env,
                    cara_crdt *crdt)
{
    size_t name_len = cfg->name != NULL ? strlen(cfg->name) : 0;
    if (name_len == 0 || name_len > CARA_SWIM_NAME_BYTES_MAX || cfg->addr.len == 0 ||
        cfg->addr.len > CARA_SWIM_ADDR_BYTES_MAX || crdt == NULL)
        return CARA_EINVAL;
    cara_gossip *g = cara_env_calloc(env, 1, sizeof *g);
    if (g == NULL)
        return CARA_ENOMEM;
    g->env = env;
    g->crdt = crdt;
    g->cfg = *cfg;
    g->cfg.name = NULL; /* not kept: `self` holds it */
    cara_gossip_cfg_lan(&g->cfg);
    g->self.name_len = (uint8_t)name_len;
    memcpy(g->self.name, cfg->name, name_len);
    memcpy(g->self.key, cfg->pk, CARA_CRDT_PK_BYTES);
    g->peers = cara_env_calloc(env, CARA_GOSSIP_PEERS_MAX, sizeof *g->peers);
    g->bcasts = cara_env_calloc(env, CARA_GOSSIP_BCASTS_MAX, sizeof *g->bcasts);
    /* Written before read, drained often: unzeroed, its pages are touched
     * only as far as it ever fills (see cara_gossip_poll_event). */
    g->events = cara_env_alloc(env, CARA_GOSSIP_EVENTS_MAX * sizeof *g->events);
    g->pulls = cara_env_calloc(env, CARA_GOSSIP_PULLS_MAX, sizeof *g->pulls);
    int rc_index = cara_slotidx_init(&g->peer_index, env, PEER_INDEX_CELLS);
    int rc = g->peers == NULL || g->bcasts == NULL || g->events == NULL || g->pulls == NULL ||
                     rc_index != 0
                 ? CARA_ENOMEM
                 : 0;
    if (rc == 0)
        rc = cara_seal_new(env, cfg->pk, cfg->sk, cfg->epoch, &g->seal);
    if (rc == 0)
        rc = make_swim(g);
    if (rc == 0)
        gossip_streams_init(g);
    if (rc == 0 && g->streams == NULL)
        rc = CARA_ENOMEM;
    if (rc != 0) {
        cara_gossip_free(g);
        return rc;
    }
    g->joined = true; /* until a seed is given */
    gossip_refresh_admissions(g);
    *out = g;
    return 0;
}

void cara_gossip_free(cara_gossip *g)
{
    if (g == NULL)
        return;
    gossip_streams_free(g);
    while (g->out_head != NULL) {
        gossip_dgram *d = g->out_head;
        g->out_head = d->next;
        cara_env_free(g->env, d);
    }
    for (size_t i = 0; g->bcasts != NULL && i < g->bcasts_count; i++)
        cara_env_free(g->env, g->bcasts[i].bytes);
    for (size_t i = 0; i < CARA_GOSSIP_TRACKS_MAX; i++)
        cara_env_free(g->env, g->tracks[i].bytes);
    cara_env_free(g->env, g->proof);
    cara_swim_free(g->swim);
    cara_seal_free(g->seal);
    cara_env_free(g->env, g->peers);
    cara_slotidx_free(&g->peer_index, g->env);
    cara_env_free(g->env, g->bcasts);
    cara_env_free(g->env, g->events);
    cara_env_free(g->env, g->pulls);
    sodium_memzero(g->cfg.sk, sizeof g->cfg.sk);
    cara_env_free(g->env, g);
}

/* ---- Joining and members ------------------------------------------------------ */

int cara_gossip_join(cara_gossip *g, const cara_gossip_addr *seed, const uint8_t *proof,
                     size_t proof_len, uint64_t now_mono_ms)
{
    if (seed == NULL || seed->len == 0 || seed->len > CARA_SWIM_ADDR_BYTES_MAX)
        return CARA_EINVAL;
    if (g->seeds_count == CARA_GOSSIP_SEEDS_MAX || proof_len > CARA_GOSSIP_PROOF_BYTES_MAX)
        return CARA_ELIMIT;
    if (proof_len > 0 && g->proof == NULL) {
        g->proof = cara_env_alloc(g->env, proof_len);
        if (g->proof == NULL)
            return CARA_ENOMEM;
        memcpy(g->proof, proof, proof_len);
        g->proof_len = proof_len;
    }
    g->seeds[g->seeds_count++] = (gossip_seed){
        .addr = *seed, .retry_mono_ms = now_mono_ms, .backoff_ms = g->cfg.join_retry_ms};
    g->joined = false;
    return 0;
}

int cara_gossip_add_member(cara_gossip *g, const char *name, const uint8_t pk[CARA_CRDT_PK_BYTES],
                           const cara_gossip_addr *addr, uint64_t now_mono_ms)
{
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > CARA_SWIM_NAME_BYTES_MAX || addr == NULL || addr->len == 0 ||
        addr->len > CARA_SWIM_ADDR_BYTES_MAX || memcmp(pk, g->cfg.pk, CARA_CRDT_PK_BYTES) == 0)
        return CARA_EINVAL;
    gossip_peer *p = gossip_peer_by_pk(g, pk);
    if (p == NULL || p->name_len != len || memcmp(p->name, name, len) != 0)
        return CARA_EINVAL;
    cara_swim_peer peer = {.id = id_of(p), .addr = swim_addr(addr)};
    return cara_swim_join(g->swim, &peer, now_mono_ms);
}

bool cara_gossip_joined(const cara_gossip *g) { return g->joined; }

/* ---- Records: taking, holding, piggybacking ------------------------------------- */

static bool record_ack_of(const uint8_t *bytes, size_t len, cara_wire_ack *ack)
{
    cara_crdt_record r;
    if (cara_crdt_record_decode(bytes, len, &r) != 0)
        return false;
    cara_crdt_record_id(&r, ack->id);
    ack->hlc = r.hlc;
    return true;
}

bool gossip_holds(cara_gossip *g, const uint8_t *bytes, size_t len, cara_wire_ack *ack)
{
    cara_crdt_record r, held;
    if (cara_crdt_record_decode(bytes, len, &r) != 0)
        return false;
    cara_crdt_record_id(&r, ack->id);
    ack->hlc = r.hlc;
    int rc = cara_crdt_kind_per_author(r.kind) || r.kind == CARA_CRDT_NODE || r.kind == CARA_CRDT_JOIN
                 ? cara_crdt_get_by(g->crdt, r.kind, r.key, r.key_bytes, r.author, &held)
                 : cara_crdt_get(g->crdt, r.kind, r.key, r.key_bytes, &held);
    if (rc == 0)
        return held.hlc >= r.hlc;
    /* A deleted project at or below a floor is held as its floor. */
    uint64_t floor_generation = 0;
    return (r.kind == CARA_CRDT_PROJECT || r.kind == CARA_CRDT_TOMBSTONE) &&
           cara_crdt_floor_get(g->crdt, r.key, r.key_bytes, &floor_generation) &&
           floor_generation >= r.generation;
}

/* Queues a record for piggybacking, as if already sent `transmits` times:
 * 0 for news to push eagerly, eager_transmits for news to advertise only.
 * A record too large to ride on a datagram is advertised only, and its
 * bytes are not kept (a pull is answered from the crdt). */
static void bcast_add(cara_gossip *g, const uint8_t *bytes, size_t len, uint32_t transmits)
{
    cara_wire_ack a;
    if (!record_ack_of(bytes, len, &a))
        return;
    bool fits = cara_wire_record_item_bytes(len) + CARA_SWIM_HEADER_BYTES_MAX +
                    CARA_SWIM_ENVELOPE_RESERVE_BYTES <=
                CARA_GOSSIP_PLAINTEXT_BYTES_MAX;
    for (size_t i = 0; i < g->bcasts_count; i++) {
        gossip_bcast *b = &g->bcasts[i];
        if (memcmp(b->id, a.id, CARA_CRDT_ID_BYTES) == 0) {
            if (b->hlc >= a.hlc)
                return;
            cara_env_free(g->env, b->bytes); /* a newer version replaces it */
            *b = g->bcasts[--g->bcasts_count];
            break;
        }
    }
    if (g->bcasts_count == CARA_GOSSIP_BCASTS_MAX) {
        size_t worst = 0;
        for (size_t i = 1; i < g->bcasts_count; i++)
            if (g->bcasts[i].transmits > g->bcasts[worst].transmits)
                worst = i;
        cara_env_free(g->env, g->bcasts[worst].bytes);
        g->bcasts[worst] = g->bcasts[--g->bcasts_count];
        gossip_drop(g, CARA_GOSSIP_DROP_FULL);
    }
    uint8_t *copy = NULL;
    if (fits && transmits < g->cfg.eager_transmits) {
        copy = cara_env_alloc(g->env, len);
        if (copy == NULL)
            return;
        memcpy(copy, bytes, len);
    }
    g->bcasts[g->bcasts_count++] = (gossip_bcast){
        .bytes = copy, .len = len, .id = {0}, .hlc = a.hlc, .transmits = transmits};
    memcpy(g->bcasts[g->bcasts_count - 1].id, a.id, CARA_CRDT_ID_BYTES);
}

/* Where a record that is to be advertised only starts in the queue: past
 * its eager phase. With eager_transmits at or past the retransmit limit
 * (the lazy push switched off) it starts at 0 and goes out whole. */
static uint32_t lazy_start(const cara_gossip *g)
{
    uint32_t e = g->cfg.eager_transmits;
    return e < cara_swim_retransmit_limit(g->swim) ? e : 0;
}

bool gossip_take_record(cara_gossip *g, const uint8_t *bytes, size_t len, int64_t now_wall_ms)
{
    int result = 0;
    int rc = cara_crdt_apply(g->crdt, bytes, len, now_wall_ms, &result);
    if (rc != 0 && rc != CARA_ESTALE && rc != CARA_ECOLLECTED) {
        gossip_drop(g, CARA_GOSSIP_DROP_RECORD);
        return false;
    }
    if (rc != 0 || result != CARA_CRDT_APPLIED)
        return false;
    g->stats.records_received_new++;
    cara_wire_ack a;
    bool pulled = record_ack_of(bytes, len, &a) && gossip_lazy_arrived(g, a.id, a.hlc);
    if (pulled)
        g->stats.records_pulled++;
    /* A record that came by a pull is late news: most members hold it by
     * now, so it is only advertised onwards, not pushed whole again. */
    bcast_add(g, bytes, len, pulled ? lazy_start(g) : 0);
    g->forward_soon = true;
    return true;
}

/* Would queued record b go out whole in a message with `room` bytes left
 * (and in its eager phase)? */
static bool bcast_whole(const cara_gossip *g, const gossip_bcast *b, const cara_wire_msg *m,
                        size_t room)
{
    return b->bytes != NULL && b->transmits < g->cfg.eager_transmits &&
           m->records_count < CARA_WIRE_RECORDS_MAX &&
           cara_wire_record_item_bytes(b->len) <= room;
}

/* Fills the room left in a SWIM message with queued records, fewest
 * transmissions first (memberlist's TransmitLimitedQueue order): whole
 * while a record is in its eager phase and fits, else as an advert
 * (lazy.c). Each counts as one transmission either way. */
static void piggyback(cara_gossip *g, cara_wire_msg *m, size_t room)
{
    bool taken[CARA_GOSSIP_BCASTS_MAX] = {0};
    /* With the lazy push switched off, records only ever go out whole. */
    bool lazy = lazy_start(g) > 0;
    m->records_count = 0;
    m->ihaves_count = 0;
    for (;;) {
        bool advert_fits =
            lazy && m->ihaves_count < CARA_WIRE_IHAVES_MAX && CARA_WIRE_IHAVE_BYTES <= room;
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < g->bcasts_count; i++) {
            if (taken[i] || (!advert_fits && !bcast_whole(g, &g->bcasts[i], m, room)))
                continue;
            if (best == SIZE_MAX || g->bcasts[i].transmits < g->bcasts[best].transmits)
                best = i;
        }
        if (best == SIZE_MAX)
            break;
        gossip_bcast *b = &g->bcasts[best];
        taken[best] = true;
        if (bcast_whole(g, b, m, room)) {
            room -= cara_wire_record_item_bytes(b->len);
            m->records[m->records_count++] = (cara_wire_bytes){.ptr = b->bytes, .len = b->len};
            g->stats.records_piggybacked++;
        } else {
            room -= CARA_WIRE_IHAVE_BYTES;
            cara_wire_ack *a = &m->ihaves[m->ihaves_count++];
            memcpy(a->id, b->id, CARA_CRDT_ID_BYTES);
            a->hlc = b->hlc;
            g->stats.ihaves_sent++;
        }
        b->transmits++;
    }
}

/* Drops the records piggybacked often enough; runs after each message is
 * sealed, since the message borrows their bytes. */
static void bcasts_retire(cara_gossip *g)
{
    uint32_t limit = cara_swim_retransmit_limit(g->swim);
    /* An advert costs 24 bytes where a whole record costs hundreds, so
     * with the lazy push a record is advertised half as many times again
     * (12 sends instead of 8 at N = 32): the chance that no send of a
     * record reaches some node, about e^-8 per node and record with 8,
     * drops to about e^-12, for some 100 bytes per record and node. */
    if (lazy_start(g) > 0)
        limit += limit / 2;
    for (size_t i = 0; i < g->bcasts_count;) {
        if (g->bcasts[i].transmits < limit) {
            i++;
            continue;
        }
        cara_env_free(g->env, g->bcasts[i].bytes);
        g->bcasts[i] = g->bcasts[--g->bcasts_count];
    }
}

/* ---- Datagrams out ---------------------------------------------------------------- */

void gossip_send_msg(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES],
                     const cara_gossip_addr *to, const cara_wire_msg *m)
{
    cara_buf plain;
    cara_buf_init(&plain, g->env, CARA_GOSSIP_PLAINTEXT_BYTES_MAX);
    if (g->out_count == CARA_GOSSIP_OUTBOX_MAX ||
        cara_wire_encode(m, CARA_GOSSIP_PLAINTEXT_BYTES_MAX, &plain) != 0) {
        gossip_drop(g, CARA_GOSSIP_DROP_FULL);
        cara_buf_free(&plain);
        return;
    }
    gossip_dgram *d = cara_env_alloc(g->env, sizeof *d);
    size_t len = 0;
    if (d == NULL || cara_seal_seal(g->seal, pk, plain.data, plain.len, d->bytes,
                                    sizeof d->bytes, &len) != 0) {
        cara_env_free(g->env, d);
        cara_buf_free(&plain);
        gossip_drop(g, CARA_GOSSIP_DROP_NOTADMITTED);
        return;
    }
    cara_buf_free(&plain);
    d->next = NULL;
    d->to = *to;
    d->len = (uint16_t)len;
    if (g->out_tail != NULL)
        g->out_tail->next = d;
    else
        g->out_head = d;
    g->out_tail = d;
    g->out_count++;
}

/* A PING's target is its recipient, and the seal already says who that is:
 * the datagram is sealed under the pairwise key of sender and recipient,
 * which no other node can open. So the target's name and 32-byte key are
 * not sent (about 40 bytes of every probe), and the receiver restores
 * them as its own identity (handle_msg). A PING-REQ names a third member
 * and keeps its target. */
static void omit_ping_target(cara_swim_msg *m)
{
    if (m->type != CARA_SWIM_PING)
        return;
    memset(&m->target, 0, sizeof m->target);
    memset(&m->target_addr, 0, sizeof m->target_addr);
}

/* Moves the swim layer's messages into the outbox, records piggybacked. */
void gossip_pump(cara_gossip *g)
{
    cara_swim_peer to;
    cara_wire_msg *m = cara_env_alloc(g->env, sizeof *m);
    if (m == NULL)
        return;
    while (cara_swim_poll_send(g->swim, &to, &m->swim) == 0) {
        gossip_peer *p = gossip_peer_by_pk(g, to.id.key);
        if (p == NULL) {
            gossip_drop(g, CARA_GOSSIP_DROP_NOTADMITTED);
            continue;
        }
        m->kind = CARA_WIRE_SWIM;
        omit_ping_target(&m->swim);
        size_t used = cara_wire_swim_bytes(&m->swim);
        size_t room = used < CARA_GOSSIP_PLAINTEXT_BYTES_MAX ? CARA_GOSSIP_PLAINTEXT_BYTES_MAX - used
                                                              : 0;
        piggyback(g, m, room);
        cara_gossip_addr a = gossip_addr(&to.addr);
        gossip_send_msg(g, p->pk, &a, m);
        bcasts_retire(g);
    }
    cara_swim_event ev;
    while (cara_swim_poll_event(g->swim, &ev) == 0) {
        cara_gossip_event out = {.kind = CARA_GOSSIP_EV_MEMBER, .incarnation = ev.incarnation};
        memcpy(out.name, ev.member.id.name, ev.member.id.name_len);
        memcpy(out.pk, ev.member.id.key, CARA_CRDT_PK_BYTES);
        out.addr = gossip_addr(&ev.member.addr);
        switch (ev.kind) {
        case CARA_SWIM_EV_JOINED:
        case CARA_SWIM_EV_ALIVE_AGAIN: out.state = CARA_GOSSIP_ALIVE; break;
        case CARA_SWIM_EV_SUSPECT: out.state = CARA_GOSSIP_SUSPECT; break;
        case CARA_SWIM_EV_DEAD: out.state = CARA_GOSSIP_DEAD; break;
        case CARA_SWIM_EV_LEFT: out.state = CARA_GOSSIP_LEFT; break;
        default: out.kind = CARA_GOSSIP_EV_REAPED; break;
        }
        gossip_event(g, &out);
    }
    cara_env_free(g->env, m);
}

int cara_gossip_poll_send(cara_gossip *g, cara_gossip_addr *to, uint8_t *out, size_t out_cap,
                          size_t *len)
{
    gossip_pump(g);
    gossip_dgram *d = g->out_head;
    if (d == NULL)
        return CARA_EAGAIN;
    CARA_ASSERT(out_cap >= d->len);
    g->out_head = d->next;
    if (g->out_head == NULL)
        g->out_tail = NULL;
    g->out_count--;
    *to = d->to;
    memcpy(out, d->bytes, d->len);
    *len = d->len;
    g->stats.datagrams_out++;
    g->stats.datagram_bytes_out += d->len;
    if (d->len > g->stats.datagram_bytes_max)
        g->stats.datagram_bytes_max = d->len;
    cara_env_free(g->env, d);
    return 0;
}

/* ---- Publishing and acknowledgements ---------------------------------------------- */

/* Sends `record` to member `to`, if admitted. */
static void push_to(cara_gossip *g, const cara_swim_peer *to, const uint8_t *record, size_t len,
                    bool want_ack, uint64_t now_mono_ms)
{
    gossip_peer *p = gossip_peer_by_pk(g, to->id.key);
    if (p == NULL)
        return;
    cara_gossip_addr a = gossip_addr(&to->addr);
    g->stats.records_pushed++;
    gossip_push_record(g, p->pk, &a, record, len, want_ack, now_mono_ms);
}

void gossip_push_record(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES],
                        const cara_gossip_addr *to, const uint8_t *record, size_t len,
                        bool want_ack, uint64_t now_mono_ms)
{
    if (cara_wire_record_item_bytes(len) + CARA_SWIM_ENVELOPE_RESERVE_BYTES <=
        CARA_GOSSIP_PLAINTEXT_BYTES_MAX) {
        cara_wire_msg *m = cara_env_calloc(g->env, 1, sizeof *m);
        if (m == NULL)
            return;
        m->kind = CARA_WIRE_PUSH;
        m->want_ack = want_ack;
        m->records_count = 1;
        m->records[0] = (cara_wire_bytes){.ptr = record, .len = len};
        gossip_send_msg(g, pk, to, m);
        cara_env_free(g->env, m);
        return;
    }
    gossip_stream *st = gossip_stream_open(g, GP_PUSH, to, pk, now_mono_ms);
    if (st == NULL)
        return;
    st->push = cara_env_alloc(g->env, len);
    if (st->push == NULL)
        return;
    memcpy(st->push, record, len);
    st->push_len = len;
    st->push_want_ack = want_ack;
}

static gossip_track *track_find(cara_gossip *g, const cara_wire_ack *a)
{
    for (size_t i = 0; i < CARA_GOSSIP_TRACKS_MAX; i++) {
        gossip_track *t = &g->tracks[i];
        if (t->used && memcmp(t->id, a->id, CARA_CRDT_ID_BYTES) == 0 && a->hlc >= t->hlc)
            return t;
    }
    return NULL;
}

static bool track_has(const gossip_track *t, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    for (uint32_t i = 0; i < t->holders_count; i++)
        if (memcmp(t->holders[i], pk, CARA_CRDT_PK_BYTES) == 0)
            return true;
    return false;
}

static void track_start(cara_gossip *g, const uint8_t *record, size_t len,
                        uint32_t holders_wanted, uint64_t now_mono_ms)
{
    cara_wire_ack a;
    if (!record_ack_of(record, len, &a))
        return;
    gossip_track *t = NULL;
    for (size_t i = 0; i < CARA_GOSSIP_TRACKS_MAX && t == NULL; i++)
        if (!g->tracks[i].used || (g->tracks[i].used &&
                                   memcmp(g->tracks[i].id, a.id, CARA_CRDT_ID_BYTES) == 0))
            t = &g->tracks[i];
    if (t == NULL) { /* full: the oldest deadline goes */
        t = &g->tracks[0];
        for (size_t i = 1; i < CARA_GOSSIP_TRACKS_MAX; i++)
            if (g->tracks[i].until_mono_ms < t->until_mono_ms)
                t = &g->tracks[i];
        gossip_drop(g, CARA_GOSSIP_DROP_FULL);
    }
    cara_env_free(g->env, t->bytes);
    *t = (gossip_track){.used = true, .hlc = a.hlc, .wanted = holders_wanted,
                        .until_mono_ms = now_mono_ms + g->cfg.ack_timeout_ms,
                        .retry_mono_ms = now_mono_ms + g->cfg.ack_retry_ms};
    memcpy(t->id, a.id, CARA_CRDT_ID_BYTES);
    t->bytes = cara_env_alloc(g->env, len);
    if (t->bytes == NULL) {
        t->used = false;
        return;
    }
    memcpy(t->bytes, record, len);
    t->len = len;
}

int cara_gossip_publish(cara_gossip *g, const uint8_t *record, size_t len,
                        uint32_t holders_wanted, uint64_t now_mono_ms)
{
    cara_wire_ack a;
    if (record == NULL || len == 0 || !record_ack_of(record, len, &a))
        return CARA_EINVAL;
    bool want_ack = holders_wanted > 1;
    /* The pushes below are this node's eager push: its piggybacks only
     * advertise the record. */
    bcast_add(g, record, len, lazy_start(g));
    if (want_ack)
        track_start(g, record, len, holders_wanted, now_mono_ms);
    cara_swim_peer to[CARA_SWIM_INDIRECT_MAX];
    size_t n = cara_swim_sample_alive(g->swim, g->cfg.push_fanout, to);
    for (size_t i = 0; i < n; i++)
        push_to(g, &to[i], record, len, want_ack, now_mono_ms);
    return 0;
}

void gossip_ack_from(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES],
                     const cara_wire_ack *acks, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        g->stats.acks_received++;
        gossip_track *t = track_find(g, &acks[i]);
        if (t == NULL || track_has(t, pk))
            continue;
        if (t->holders_count < CARA_GOSSIP_HOLDERS_MAX)
            memcpy(t->holders[t->holders_count], pk, CARA_CRDT_PK_BYTES);
        t->holders_count++;
        cara_gossip_event ev = {.kind = CARA_GOSSIP_EV_ACKED, .hlc = t->hlc,
                                .holders = t->holders_count + 1};
        memcpy(ev.id, t->id, CARA_CRDT_ID_BYTES);
        memcpy(ev.pk, pk, CARA_CRDT_PK_BYTES);
        gossip_event(g, &ev);
        /* Enough holders: stop re-pushing (a later version may exist by
         * the next retry, and the old one must not be pushed after it). */
        if (t->holders_count + 1 >= t->wanted || t->holders_count >= CARA_GOSSIP_HOLDERS_MAX) {
            cara_env_free(g->env, t->bytes);
            *t = (gossip_track){0};
        }
    }
}

/* Does this node hold a newer version of the tracked record's slot? */
static bool superseded(cara_gossip *g, const gossip_track *t)
{
    cara_crdt_record r, held;
    if (cara_crdt_record_decode(t->bytes, t->len, &r) != 0)
        return true;
    int rc = cara_crdt_kind_per_author(r.kind) || r.kind == CARA_CRDT_NODE || r.kind == CARA_CRDT_JOIN
                 ? cara_crdt_get_by(g->crdt, r.kind, r.key, r.key_bytes, r.author, &held)
                 : cara_crdt_get(g->crdt, r.kind, r.key, r.key_bytes, &held);
    return rc != 0 || held.hlc != r.hlc;
}

/* Re-pushes tracked records to members that have not acknowledged them
 * (a lost datagram, a member that died before answering). */
static void tracks_tick(cara_gossip *g, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < CARA_GOSSIP_TRACKS_MAX; i++) {
        gossip_track *t = &g->tracks[i];
        if (!t->used)
            continue;
        if (now_mono_ms >= t->until_mono_ms) {
            cara_env_free(g->env, t->bytes);
            *t = (gossip_track){0};
            continue;
        }
        if (now_mono_ms < t->retry_mono_ms)
            continue;
        cara_wire_ack held;
        if (!gossip_holds(g, t->bytes, t->len, &held) || superseded(g, t)) {
            /* Replaced (a delete after an apply) or gone: pushing the old
             * version now could only plant it where the new one is not. */
            cara_env_free(g->env, t->bytes);
            *t = (gossip_track){0};
            continue;
        }
        t->retry_mono_ms = now_mono_ms + g->cfg.ack_retry_ms;
        cara_swim_peer to[CARA_SWIM_INDIRECT_MAX];
        size_t n = cara_swim_sample_alive(g->swim, CARA_SWIM_INDIRECT_MAX, to);
        uint32_t sent = 0;
        for (size_t k = 0; k < n && sent < g->cfg.push_fanout; k++) {
            if (track_has(t, to[k].id.key))
                continue;
            push_to(g, &to[k], t->bytes, t->len, true, now_mono_ms);
            sent++;
        }
    }
}

/* ---- Datagrams in ----------------------------------------------------------------- */

static void send_acks(cara_gossip *g, const gossip_peer *p, const cara_gossip_addr *to,
                      const cara_wire_msg *in)
{
    cara_wire_msg *m = cara_env_calloc(g->env, 1, sizeof *m);
    if (m == NULL)
        return;
    m->kind = CARA_WIRE_ACK;
    for (size_t i = 0; i < in->records_count && m->acks_count < CARA_WIRE_ACKS_MAX; i++)
        if (gossip_holds(g, in->records[i].ptr, in->records[i].len, &m->acks[m->acks_count]))
            m->acks_count++;
    if (m->acks_count > 0) {
        g->stats.acks_sent += m->acks_count;
        gossip_send_msg(g, p->pk, to, m);
    }
    cara_env_free(g->env, m);
}

/* Drops updates about members whose key this node has not admitted (yet):
 * probing them would fail at the seal and raise a false suspicion. Their
 * admission travels with them (piggybacked records, anti-entropy), and
 * SWIM's samples repeat the update once it has arrived. */
static void filter_updates(cara_gossip *g, cara_swim_msg *sm)
{
    uint8_t kept = 0;
    for (uint8_t i = 0; i < sm->updates_count; i++) {
        const cara_swim_update *u = &sm->updates[i];
        bool self = memcmp(u->member.key, g->cfg.pk, CARA_CRDT_PK_BYTES) == 0;
        if (self || gossip_peer_by_pk(g, u->member.key) != NULL)
            sm->updates[kept++] = *u;
    }
    sm->updates_count = kept;
}

int gossip_seal_drop_reason(int rc)
{
    switch (rc) {
    case CARA_ETOOBIG: return CARA_GOSSIP_DROP_OVERSIZED;
    case CARA_ENOTADMITTED: return CARA_GOSSIP_DROP_NOTADMITTED;
    case CARA_EBADSIG: return CARA_GOSSIP_DROP_BADTAG;
    case CARA_EREPLAY:
    case CARA_ESTALE: return CARA_GOSSIP_DROP_REPLAY;
    default: return CARA_GOSSIP_DROP_MALFORMED;
    }
}

static void handle_msg(cara_gossip *g, gossip_peer *p, const cara_gossip_addr *from,
                       cara_wire_msg *m, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    switch (m->kind) {
    case CARA_WIRE_SWIM: {
        /* Records first: an admission riding on this message lets the
         * update about its node below be taken. */
        for (size_t i = 0; i < m->records_count; i++)
            (void)gossip_take_record(g, m->records[i].ptr, m->records[i].len, now_wall_ms);
        cara_swim_id id = id_of(p);
        if (m->swim.type == CARA_SWIM_PING && m->swim.target.name_len == 0)
            m->swim.target = g->self; /* omit_ping_target: it was sealed for us */
        filter_updates(g, &m->swim);
        (void)cara_swim_recv(g->swim, &id, &m->swim, now_mono_ms);
        gossip_lazy_on_ihaves(g, p, from, m, now_mono_ms);
        break;
    }
    case CARA_WIRE_PULL:
        gossip_lazy_on_pull(g, p, from, m, now_mono_ms);
        break;
    case CARA_WIRE_PUSH:
        for (size_t i = 0; i < m->records_count; i++)
            (void)gossip_take_record(g, m->records[i].ptr, m->records[i].len, now_wall_ms);
        if (m->want_ack)
            send_acks(g, p, from, m);
        break;
    case CARA_WIRE_ACK:
        gossip_ack_from(g, p->pk, m->acks, m->acks_count);
        break;
    default:
        gossip_drop(g, CARA_GOSSIP_DROP_MALFORMED);
    }
}

int cara_gossip_recv(cara_gossip *g, const cara_gossip_addr *from, const uint8_t *bytes,
                     size_t len, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    g->last_now_mono_ms = now_mono_ms;
    g->stats.datagrams_in++;
    g->stats.datagram_bytes_in += len;
    gossip_refresh_admissions(g);
    uint8_t *plain = cara_env_alloc(g->env, CARA_GOSSIP_PLAINTEXT_BYTES_MAX);
    cara_wire_msg *m = cara_env_alloc(g->env, sizeof *m);
    uint8_t pk[CARA_CRDT_PK_BYTES];
    size_t plain_len = 0;
    int rc = plain == NULL || m == NULL ? CARA_ENOMEM : 0;
    if (rc == 0 && len > CARA_GOSSIP_DATAGRAM_BYTES_MAX)
        rc = CARA_ETOOBIG;
    if (rc == 0)
        rc = cara_seal_open(g->seal, bytes, len, pk, plain, CARA_GOSSIP_PLAINTEXT_BYTES_MAX,
                            &plain_len);
    if (rc != 0) {
        if (rc != CARA_ENOMEM)
            gossip_drop(g, gossip_seal_drop_reason(rc));
    } else if ((rc = cara_wire_decode(plain, plain_len, CARA_WIRE_IN_DATAGRAM, m)) != 0) {
        gossip_drop(g, rc == CARA_EUNSUPPORTED ? CARA_GOSSIP_DROP_VERSION
                                               : CARA_GOSSIP_DROP_MALFORMED);
    } else {
        gossip_peer *p = gossip_peer_by_pk(g, pk);
        if (p == NULL) {
            gossip_drop(g, CARA_GOSSIP_DROP_UNKNOWN);
        } else {
            p->last_contact_mono_ms = now_mono_ms;
            handle_msg(g, p, from, m, now_mono_ms, now_wall_ms);
        }
    }
    cara_env_free(g->env, plain);
    cara_env_free(g->env, m);
    gossip_forward(g, now_mono_ms);
    gossip_pump(g);
    return 0;
}

/* ---- Timers ------------------------------------------------------------------------- */

static bool news_pending(const cara_gossip *g)
{
    return g->bcasts_count > 0 || cara_swim_pending(g->swim) > 0;
}

/* A gossip round: pending news to gossip_nodes random members. */
static void gossip_round(cara_gossip *g, uint64_t now_mono_ms)
{
    if (now_mono_ms < g->gossip_next_mono_ms)
        return;
    g->gossip_next_mono_ms = now_mono_ms + g->cfg.gossip_interval_ms;
    g->gossip_last_mono_ms = now_mono_ms;
    if (news_pending(g))
        (void)cara_swim_gossip(g->swim, g->cfg.gossip_nodes, g->bcasts_count > 0);
}

/* A record this node has just learnt goes on at once rather than at the
 * next round: each hop then costs a datagram's flight (and the receiver's
 * disk write), not half a gossip interval. At most one extra round every
 * CARA_GOSSIP_FORWARD_MS_MIN, so a burst of records shares rounds. */
void gossip_forward(cara_gossip *g, uint64_t now_mono_ms)
{
    if (!g->forward_soon ||
        now_mono_ms < g->gossip_last_mono_ms + CARA_GOSSIP_FORWARD_MS_MIN)
        return;
    g->forward_soon = false;
    g->gossip_next_mono_ms = now_mono_ms;
    gossip_round(g, now_mono_ms);
}

int cara_gossip_tick(cara_gossip *g, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    g->last_now_mono_ms = now_mono_ms;
    gossip_refresh_admissions(g);
    (void)cara_swim_tick(g->swim, now_mono_ms);
    gossip_forward(g, now_mono_ms);
    gossip_round(g, now_mono_ms);
    if (now_mono_ms >= g->reconnect_next_mono_ms) {
        if (g->reconnect_next_mono_ms != 0)
            (void)cara_swim_reconnect(g->swim, now_mono_ms);
        g->reconnect_next_mono_ms = now_mono_ms + g->cfg.reconnect_interval_ms;
    }
    tracks_tick(g, now_mono_ms);
    gossip_lazy_tick(g, now_mono_ms);
    gossip_streams_tick(g, now_mono_ms, now_wall_ms);
    gossip_pump(g);
    return 0;
}

uint64_t cara_gossip_next_deadline_ms(const cara_gossip *g)
{
    uint64_t d = cara_swim_next_deadline_ms(g->swim);
    if (news_pending(g) && g->gossip_next_mono_ms < d)
        d = g->gossip_next_mono_ms;
    if (g->forward_soon && g->gossip_last_mono_ms + CARA_GOSSIP_FORWARD_MS_MIN < d)
        d = g->gossip_last_mono_ms + CARA_GOSSIP_FORWARD_MS_MIN;
    if (g->reconnect_next_mono_ms < d)
        d = g->reconnect_next_mono_ms;
    for (size_t i = 0; i < CARA_GOSSIP_TRACKS_MAX; i++)
        if (g->tracks[i].used && g->tracks[i].retry_mono_ms < d)
            d = g->tracks[i].retry_mono_ms;
    uint64_t l = gossip_lazy_deadline(g);
    if (l < d)
        d = l;
    uint64_t s = gossip_streams_deadline(g);
    return s < d ? s : d;
}

int cara_gossip_leave(cara_gossip *g, uint64_t now_mono_ms)
{
    g->leaving = true;
    int rc = cara_swim_leave(g->swim, now_mono_ms);
    gossip_pump(g);
    return rc;
}

/* ---- Queries ------------------------------------------------------------------------ */

static uint8_t state_of_swim(int s)
{
    switch (s) {
    case CARA_SWIM_ALIVE: return CARA_GOSSIP_ALIVE;
    case CARA_SWIM_SUSPECT: return CARA_GOSSIP_SUSPECT;
    case CARA_SWIM_DEAD: return CARA_GOSSIP_DEAD;
    default: return CARA_GOSSIP_LEFT;
    }
}

static void self_member(const cara_gossip *g, cara_gossip_member *m)
{
    *m = (cara_gossip_member){.addr = g->cfg.addr, .self = true,
                              .state = g->leaving ? CARA_GOSSIP_LEFT : CARA_GOSSIP_ALIVE,
                              .incarnation = cara_swim_incarnation(g->swim),
                              .last_contact_mono_ms = g->last_now_mono_ms};
    memcpy(m->name, g->self.name, g->self.name_len);
    memcpy(m->pk, g->cfg.pk, CARA_CRDT_PK_BYTES);
}

static void fill_member(const cara_gossip *g, const cara_swim_peer *p, int state,
                        uint32_t incarnation, cara_gossip_member *m)
{
    *m = (cara_gossip_member){.addr = gossip_addr(&p->addr), .state = state_of_swim(state),
                              .incarnation = incarnation};
    memcpy(m->name, p->id.name, p->id.name_len);
    memcpy(m->pk, p->id.key, CARA_CRDT_PK_BYTES);
    const gossip_peer *held = peer_held(g, p->id.key);
    if (held != NULL)
        m->last_contact_mono_ms = held->last_contact_mono_ms;
}

int cara_gossip_member_get(const cara_gossip *g, const char *name, cara_gossip_member *out)
{
    size_t len = strlen(name);
    if (len == g->self.name_len && memcmp(name, g->self.name, len) == 0) {
        self_member(g, out);
        return 0;
    }
    cara_swim_peer p;
    int state = 0;
    uint32_t inc = 0;
    if (cara_swim_member_peer(g->swim, name, len, &p) != 0 ||
        cara_swim_member(g->swim, name, len, &state, &inc) != 0)
        return CARA_ENOENT;
    fill_member(g, &p, state, inc, out);
    return 0;
}

typedef struct foreach_ctx {
    const cara_gossip *g;
    int (*fn)(void *ctx, const cara_gossip_member *m);
    void *ctx;
} foreach_ctx;

static int foreach_one(void *ctx, const cara_swim_peer *p, int state, uint32_t incarnation)
{
    foreach_ctx *f = ctx;
    cara_gossip_member m;
    fill_member(f->g, p, state, incarnation, &m);
    return f->fn(f->ctx, &m);
}

int cara_gossip_members_foreach(const cara_gossip *g,
                                int (*fn)(void *ctx, const cara_gossip_member *m), void *ctx)
{
    cara_gossip_member self;
    self_member(g, &self);
    int rc = fn(ctx, &self);
    if (rc != 0)
        return rc;
    foreach_ctx f = {.g = g, .fn = fn, .ctx = ctx};
    return cara_swim_members_foreach(g->swim, foreach_one, &f);
}

uint32_t cara_gossip_probe_fail_streak(const cara_gossip *g)
{
    return cara_swim_probe_fail_streak(g->swim);
}

size_t cara_gossip_live_count(const cara_gossip *g)
{
    return cara_swim_alive_count(g->swim) + cara_swim_suspect_count(g->swim);
}

static int count_state(void *ctx, const cara_gossip_member *m)
{
    size_t *by = ctx;
    if (m->state < 5)
        by[m->state]++;
    return 0;
}

void cara_gossip_stats_get(const cara_gossip *g, cara_gossip_stats *out)
{
    *out = g->stats;
    const cara_swim_stats *s = cara_swim_get_stats(g->swim);
    out->probes = s->probes_sent_count;
    out->suspicions = s->suspicions_raised_count;
    out->refutations = s->refutations_count;
    out->false_suspicions = s->false_suspicions_refuted_count;
    out->deaths = s->deaths_declared_count;
    memset(out->members_by_state, 0, sizeof out->members_by_state);
    (void)cara_gossip_members_foreach(g, count_state, out->members_by_state);
}
