/*
 * SWIM failure detection and membership with Lifeguard's refinements,
 * sans-IO. The protocol, its defaults and where it departs from memberlist
 * are in docs/gossip.md; the comments here say why each step is shaped the
 * way it is.
 *
 * References: Das, Gupta, Motivala, "SWIM" (DSN 2002); Dadgar, Phillips,
 * Currey, "Lifeguard: Local Health Awareness for More Accurate Failure
 * Detection" (arXiv 1707.00788).
 */
#include "gossip/swim_int.h"

#include <math.h>
#include <string.h>

/* One member we know, other than ourselves. Slots are reused after a reap. */
typedef struct member {
    bool used;
    cara_swim_peer peer;
    uint8_t state;
    uint32_t incarnation;
    uint64_t state_since_ms;
    /* Suspicion: fixed when it starts (N may change while it runs). */
    uint64_t suspect_start_ms, suspect_min_ms, suspect_max_ms;
    uint32_t suspect_k; /* confirmations that bring it to the minimum */
    uint32_t accusers_count; /* the first accuser included */
    uint64_t accusers[CARA_SWIM_CONFIRMS_MAX + 1];
    uint64_t name_h;      /* name_hash of the name, for the digest */
    bool probe_soon;      /* suspected by another: our next probe is of it */
    uint32_t peer_digest; /* the digest its last message carried; 0: none */
} member;

/* One pending update and how often it has been piggybacked. */
typedef struct bcast {
    cara_swim_update u;
    uint32_t transmits_count;
    uint64_t born;   /* enqueue order: newer first among equals */
    uint64_t picked; /* message number that last took it */
} bcast;

/* A ping we send for another member's ping-req. */
typedef struct relay {
    bool used;
    cara_swim_peer requester;
    cara_swim_id target;
    uint32_t requester_seq, own_seq;
    uint64_t nack_at_ms;
} relay;

typedef struct out_item {
    cara_swim_peer to;
    cara_swim_msg msg;
} out_item;

typedef struct probe {
    bool active, indirect_sent;
    uint32_t seq;
    size_t slot;
    uint64_t ack_deadline_ms, end_ms;
    uint32_t relays_count, nacks_count;
    cara_swim_id relays[CARA_SWIM_INDIRECT_MAX];
    bool nacked[CARA_SWIM_INDIRECT_MAX];
} probe;

struct cara_swim {
    cara_env *env;
    cara_swim_cfg cfg;
    uint32_t incarnation;
    bool leaving;
    uint32_t lhm; /* Lifeguard's local health multiplier, 0 = healthy */
    uint32_t fail_streak; /* probes in a row that got no ack, each of another member */
    size_t fail_last_slot; /* the member the last failed probe was to */
    uint64_t self_h; /* name_hash of our name */

    member *members; /* CARA_SWIM_MEMBERS_MAX slots */
    /* One past the highest slot in use: the scans of the table stop there,
     * so that a table sized for a thousand members costs a small cluster
     * only what it holds. */
    size_t members_hi;
    /* The slot of each member by name: every message names a member, and
     * looking it up must not cost a scan of the table (memberlist keeps a
     * map by name the same way). */
    cara_slotidx index;
    size_t alive_count, suspect_count, down_count; /* down: DEAD or LEFT */
    /* The sum of the digest shares of the live members, kept as their
     * states change (the digest is read for every message sent). */
    uint32_t digest_members;
    uint32_t *order; /* probe order: slots, shuffled each round */
    size_t order_count, order_cursor;

    bcast *bcasts;
    size_t bcasts_count;
    uint64_t bcast_born, msg_number;

    relay relays[CARA_SWIM_RELAYS_MAX];
    probe probe;
    uint64_t probe_next_ms;
    uint32_t seq_next;

    out_item *outbox;
    size_t out_head, out_count;
    cara_swim_event *events;
    size_t ev_head, ev_count;
    cara_swim_stats stats;
};

#define NO_SLOT ((size_t)-1)

/* ---- Small helpers ------------------------------------------------------ */

static bool name_eq(const cara_swim_id *id, const char *name, size_t len)
{
    return id->name_len == len && memcmp(id->name, name, len) == 0;
}

static bool id_eq(const cara_swim_id *a, const cara_swim_id *b)
{
    return name_eq(a, b->name, b->name_len);
}

/* FNV-1a of a name: tells accusers apart, collisions only merge two. */
static uint64_t name_hash(const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 1099511628211ULL;
    return h;
}

/* One member's share of the digest: its name and incarnation, mixed
 * (SplitMix64's finaliser) so that sums of shares rarely meet by chance. */
static uint32_t digest_share(uint64_t name_h, uint32_t incarnation)
{
    uint64_t z = name_h ^ ((uint64_t)incarnation * 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static bool is_self(const cara_swim *s, const char *name, size_t len)
{
    return name_eq(&s->cfg.self, name, len);
}

/* The index has twice the cells of the table (slotidx.h). */
#define INDEX_CELLS (2 * CARA_SWIM_MEMBERS_MAX)

typedef struct name_key {
    const cara_swim *s;
    const char *name;
    size_t len;
    uint64_t h;
} name_key;

static bool name_match(const void *ctx, size_t slot)
{
    const name_key *k = ctx;
    const member *m = &k->s->members[slot];
    return m->name_h == k->h && name_eq(&m->peer.id, k->name, k->len);
}

static uint64_t slot_hash(const void *ctx, size_t slot)
{
    const cara_swim *s = ctx;
    return s->members[slot].name_h;
}

static size_t find_member(const cara_swim *s, const char *name, size_t len)
{
    name_key k = {s, name, len, name_hash(name, len)};
    size_t slot = cara_slotidx_find(&s->index, k.h, name_match, &k);
    return slot == CARA_SLOTIDX_NONE ? NO_SLOT : slot;
}

static uint64_t scaled(const cara_swim *s, uint64_t base_ms)
{
    return base_ms * (s->lhm + 1);
}

/* N for the scaling formulas: live members and ourselves. */
static size_t members_n(const cara_swim *s)
{
    return s->alive_count + s->suspect_count + 1;
}

size_t cara_swim_update_bytes_max(const cara_swim_update *u)
{
    return 1 + 1 + 5 + (2 + (size_t)u->member.name_len) + (2 + CARA_SWIM_KEY_BYTES) +
           (2 + (size_t)u->addr.len) + (2 + (size_t)u->accuser_len);
}

void cara_swim_cfg_lan(cara_swim_cfg *cfg)
{
    cfg->probe_interval_ms = 1000;
    cfg->probe_timeout_ms = 500;
    cfg->indirect_checks_count = 3;
    cfg->suspicion_mult = 2;
    cfg->suspicion_max_mult = 12;
    cfg->suspicion_confirmations = 3;
    cfg->retransmit_mult = 4;
    cfg->awareness_max = 8;
    cfg->reap_horizon_ms = 300000;
}

/* ---- Formulas ----------------------------------------------------------- */

uint64_t cara_swim_suspicion_min_ms(uint32_t suspicion_mult, size_t members_count,
                                    uint32_t probe_interval_ms)
{
    double scale = members_count > 10 ? log10((double)members_count) : 1.0;
    return (uint64_t)((double)suspicion_mult * scale * (double)probe_interval_ms);
}

uint64_t cara_swim_suspicion_timeout_ms(uint64_t min_ms, uint64_t max_ms, uint32_t confirmations,
                                        uint32_t expected)
{
    CARA_ASSERT(min_ms <= max_ms);
    if (expected == 0)
        return min_ms;
    if (confirmations > expected)
        confirmations = expected;
    /* Each independent accuser is evidence; the log makes the first ones
     * count most (Lifeguard, section IV-B). */
    double frac = log((double)confirmations + 1.0) / log((double)expected + 1.0);
    double t = (double)max_ms - (double)(max_ms - min_ms) * frac;
    uint64_t t_ms = (uint64_t)floor(t);
    return t_ms < min_ms ? min_ms : t_ms;
}

uint32_t cara_swim_retransmit_limit(const cara_swim *s)
{
    double n = (double)members_n(s) + 1.0;
    return s->cfg.retransmit_mult * (uint32_t)ceil(log10(n));
}

/* ---- Output queues ------------------------------------------------------ */

static void emit_event(cara_swim *s, uint8_t kind, const member *m)
{
    if (s->ev_count == CARA_SWIM_EVENTS_MAX) {
        s->stats.events_dropped_count++; /* the newest is dropped */
        return;
    }
    cara_swim_event *ev = &s->events[(s->ev_head + s->ev_count) % CARA_SWIM_EVENTS_MAX];
    ev->kind = kind;
    ev->incarnation = m->incarnation;
    ev->member = m->peer;
    s->ev_count++;
}

/* Queues an update. A newer update about a member replaces the older one
 * (only the latest state is worth spreading). When the queue is full the
 * entry sent most often is evicted: it has had the most chances to spread. */
static void enqueue_update(cara_swim *s, const cara_swim_update *u)
{
    size_t at = s->bcasts_count;
    for (size_t i = 0; i < s->bcasts_count; i++)
        if (id_eq(&s->bcasts[i].u.member, &u->member))
            at = i;
    if (at == s->bcasts_count && s->bcasts_count == CARA_SWIM_BROADCASTS_MAX) {
        at = 0;
        for (size_t i = 1; i < s->bcasts_count; i++)
            if (s->bcasts[i].transmits_count > s->bcasts[at].transmits_count)
                at = i;
        s->stats.broadcasts_evicted_count++;
    }
    if (at == s->bcasts_count)
        s->bcasts_count++;
    s->bcasts[at] = (bcast){.u = *u, .transmits_count = 0, .born = ++s->bcast_born};
}

static void make_update(cara_swim_update *u, uint8_t kind, uint32_t inc, const cara_swim_peer *p,
                        const cara_swim_id *accuser)
{
    memset(u, 0, sizeof *u);
    u->kind = kind;
    u->incarnation = inc;
    u->member = p->id;
    if (kind == CARA_SWIM_ALIVE)
        u->addr = p->addr;
    if (accuser) {
        u->accuser_len = accuser->name_len;
        memcpy(u->accuser, accuser->name, accuser->name_len);
    }
}

static void enqueue_self(cara_swim *s, uint8_t kind)
{
    cara_swim_peer me = {s->cfg.self, s->cfg.self_addr};
    cara_swim_update u;
    make_update(&u, kind, s->incarnation, &me, kind == CARA_SWIM_ALIVE ? NULL : &s->cfg.self);
    enqueue_update(s, &u);
}

static bool msg_has(const cara_swim_msg *msg, const cara_swim_id *id)
{
    for (size_t i = 0; i < msg->updates_count; i++)
        if (id_eq(&msg->updates[i].member, id))
            return true;
    return false;
}

static bool msg_add(cara_swim_msg *msg, const cara_swim_update *u, size_t *bytes)
{
    size_t need = cara_swim_update_bytes_max(u);
    if (msg->updates_count == CARA_SWIM_PIGGYBACK_MAX || *bytes + need > CARA_SWIM_PIGGYBACK_BYTES_MAX)
        return false;
    msg->updates[msg->updates_count++] = *u;
    *bytes += need;
    return true;
}

/* The next broadcast to take: an update about the recipient first (the
 * suspected member is told first, Lifeguard's "buddy system"), then the
 * fewest-sent, newest first. */
static size_t pick_bcast(const cara_swim *s, const cara_swim_id *to, bool told)
{
    size_t best = NO_SLOT;
    for (size_t i = 0; i < s->bcasts_count; i++) {
        const bcast *b = &s->bcasts[i];
        if (b->picked == s->msg_number || (told && id_eq(&b->u.member, to)))
            continue;
        if (id_eq(&b->u.member, to))
            return i;
        if (best == NO_SLOT || b->transmits_count < s->bcasts[best].transmits_count ||
            (b->transmits_count == s->bcasts[best].transmits_count &&
             b->born > s->bcasts[best].born))
            best = i;
    }
    return best;
}

/* Spare room carries a few member states drawn at random, and our own
 * first: with no push/pull at this layer, that is how a newcomer learns the
 * members whose joins were spread before it arrived (docs/gossip.md). */
static void add_samples(cara_swim *s, const cara_swim_id *to, cara_swim_msg *msg, size_t *bytes)
{
    cara_swim_update u;
    size_t added = 0;
    if (!msg_has(msg, &s->cfg.self)) {
        /* While leaving, every message says so. */
        cara_swim_peer me = {s->cfg.self, s->cfg.self_addr};
        uint8_t kind = s->leaving ? CARA_SWIM_LEFT : CARA_SWIM_ALIVE;
        make_update(&u, kind, s->incarnation, &me, s->leaving ? &s->cfg.self : NULL);
        if (!msg_add(msg, &u, bytes))
            return;
        added++;
    }
    for (size_t tries = 0; tries < 2 * CARA_SWIM_SAMPLES_PER_MSG && s->order_count > 0 &&
                           added < CARA_SWIM_SAMPLES_PER_MSG;
         tries++) {
        const member *m = &s->members[s->order[cara_rng_below(&s->env->rng, s->order_count)]];
        if (m->state != CARA_SWIM_ALIVE || id_eq(&m->peer.id, to) || msg_has(msg, &m->peer.id))
            continue;
        make_update(&u, CARA_SWIM_ALIVE, m->incarnation, &m->peer, NULL);
        if (!msg_add(msg, &u, bytes))
            return;
        added++;
    }
}

/* Fills the piggyback list of a message to `to`; an update leaves the
 * queue once sent retransmit_limit times. */
static void fill_piggyback(cara_swim *s, const cara_swim_id *to, cara_swim_msg *msg,
                           bool samples)
{
    size_t bytes = 0;
    uint32_t limit = cara_swim_retransmit_limit(s);
    s->msg_number++;
    msg->updates_count = 0;
    /* A member we suspect hears it on every message we send it, for as long
     * as the suspicion lasts, not only while the update is being spread:
     * it is the one member that can end the suspicion (Lifeguard's buddy
     * system). Without this, a suspect whose few notices were all lost
     * would be declared dead while alive. For the same reason a member we
     * hold dead or departed, yet which talks to us (it restarted), is told
     * its old state and incarnation so that it can rise above them. */
    size_t slot = find_member(s, to->name, to->name_len);
    bool told = false;
    if (slot != NO_SLOT && s->members[slot].state != CARA_SWIM_ALIVE) {
        const member *m = &s->members[slot];
        cara_swim_update u;
        make_update(&u, m->state, m->incarnation, &m->peer,
                    m->state == CARA_SWIM_LEFT ? &m->peer.id : &s->cfg.self);
        told = msg_add(msg, &u, &bytes);
    }
    for (;;) {
        size_t i = pick_bcast(s, to, told);
        if (i == NO_SLOT || !msg_add(msg, &s->bcasts[i].u, &bytes))
            break;
        s->bcasts[i].picked = s->msg_number;
        s->bcasts[i].transmits_count++;
        s->stats.updates_piggybacked_count++;
    }
    for (size_t i = 0; i < s->bcasts_count;) {
        if (s->bcasts[i].transmits_count >= limit)
            s->bcasts[i] = s->bcasts[--s->bcasts_count];
        else
            i++;
    }
    if (samples)
        add_samples(s, to, msg, &bytes);
}

/* Whether `to` last told us a digest equal to ours: then our views agree,
 * and samples would teach it nothing. */
static bool views_agree(const cara_swim *s, const cara_swim_id *to, uint32_t digest)
{
    size_t slot = find_member(s, to->name, to->name_len);
    return slot != NO_SLOT && s->members[slot].peer_digest == digest;
}

/* Queues a message. `target` is the member a ping or ping-req is about. */
static void send_msg(cara_swim *s, const cara_swim_peer *to, uint8_t type, uint32_t seq,
                     const cara_swim_peer *target)
{
    if (s->out_count == CARA_SWIM_OUTBOX_MAX) {
        s->stats.outbox_dropped_count++;
        return;
    }
    out_item *it = &s->outbox[(s->out_head + s->out_count) % CARA_SWIM_OUTBOX_MAX];
    s->out_count++;
    it->to = *to;
    memset(&it->msg, 0, offsetof(cara_swim_msg, updates));
    it->msg.type = type;
    it->msg.seq = seq;
    if (target) {
        it->msg.target = target->id;
        if (type == CARA_SWIM_PING_REQ)
            it->msg.target_addr = target->addr;
    }
    it->msg.digest = cara_swim_digest(s);
    /* Samples ride on pings and on the acks that answer them: a newcomer
     * (or a restarted node) learns the members through the answers to its
     * own pings as much as through the pings it receives; with pings alone
     * a restarted node of 8 missed a member after 10 periods in about one
     * run in 15. Relays, nacks and gossip rounds carry news only. And none
     * go to a member whose last digest equals ours: in a cluster at rest
     * that is every member, and samples were most of its bytes. */
    bool samples = (type == CARA_SWIM_PING || type == CARA_SWIM_ACK) &&
                   !views_agree(s, &to->id, it->msg.digest);
    fill_piggyback(s, &to->id, &it->msg, samples);
}

/* A peer by id: its known address, or none (the driver answers to the
 * datagram's source then). */
static cara_swim_peer peer_of(const cara_swim *s, const cara_swim_id *id)
{
    cara_swim_peer p = {.id = *id};
    size_t slot = find_member(s, id->name, id->name_len);
    if (slot != NO_SLOT)
        p = s->members[slot].peer;
    return p;
}

int cara_swim_poll_send(cara_swim *s, cara_swim_peer *to, cara_swim_msg *msg)
{
    if (s->out_count == 0)
        return CARA_EAGAIN;
    out_item *it = &s->outbox[s->out_head];
    *to = it->to;
    memcpy(msg, &it->msg, offsetof(cara_swim_msg, updates) +
                              it->msg.updates_count * sizeof(cara_swim_update));
    s->out_head = (s->out_head + 1) % CARA_SWIM_OUTBOX_MAX;
    s->out_count--;
    /* Drained: start again at slot 0, so the ring's pages are touched only
     * as deep as it ever fills, not all of them in turn. */
    if (s->out_count == 0)
        s->out_head = 0;
    return 0;
}

int cara_swim_poll_event(cara_swim *s, cara_swim_event *ev)
{
    if (s->ev_count == 0)
        return CARA_EAGAIN;
    *ev = s->events[s->ev_head];
    s->ev_head = (s->ev_head + 1) % CARA_SWIM_EVENTS_MAX;
    s->ev_count--;
    if (s->ev_count == 0)
        s->ev_head = 0; /* as for the outbox */
    return 0;
}

/* ---- Members table -------------------------------------------------------- */

static void count_state(cara_swim *s, uint8_t state, int delta)
{
    if (state == CARA_SWIM_ALIVE)
        s->alive_count += (size_t)delta;
    else if (state == CARA_SWIM_SUSPECT)
        s->suspect_count += (size_t)delta;
    else if (state == CARA_SWIM_DEAD || state == CARA_SWIM_LEFT)
        s->down_count += (size_t)delta;
}

/* What a member adds to the digest (cara_swim_digest): only the live. */
static uint32_t member_share(const member *m)
{
    bool live = m->state == CARA_SWIM_ALIVE || m->state == CARA_SWIM_SUSPECT;
    return live ? digest_share(m->name_h, m->incarnation) : 0;
}

static void set_state(cara_swim *s, member *m, uint8_t state, uint32_t inc, uint64_t now_mono_ms)
{
    count_state(s, m->state, -1);
    count_state(s, state, +1);
    s->digest_members -= member_share(m);
    m->state = state;
    m->incarnation = inc;
    m->state_since_ms = now_mono_ms;
    s->digest_members += member_share(m);
}

/* New members enter the probe order at a random place after the cursor,
 * so they are probed within this round (SWIM, section 4.3). */
static size_t add_member(cara_swim *s, const cara_swim_peer *p, uint32_t inc, uint64_t now_mono_ms)
{
    size_t slot = NO_SLOT; /* the lowest free one */
    for (size_t i = 0; i < s->members_hi && slot == NO_SLOT; i++)
        if (!s->members[i].used)
            slot = i;
    if (slot == NO_SLOT && s->members_hi < CARA_SWIM_MEMBERS_MAX)
        slot = s->members_hi;
    if (slot == NO_SLOT) {
        s->stats.members_full_count++;
        return NO_SLOT;
    }
    member *m = &s->members[slot];
    memset(m, 0, sizeof *m);
    m->used = true;
    m->peer = *p;
    m->name_h = name_hash(p->id.name, p->id.name_len);
    cara_slotidx_put(&s->index, m->name_h, slot);
    if (slot >= s->members_hi)
        s->members_hi = slot + 1;
    set_state(s, m, CARA_SWIM_ALIVE, inc, now_mono_ms);
    s->order[s->order_count++] = (uint32_t)slot;
    size_t span = s->order_count - s->order_cursor;
    size_t j = s->order_cursor + cara_rng_below(&s->env->rng, span);
    uint32_t t = s->order[j];
    s->order[j] = s->order[s->order_count - 1];
    s->order[s->order_count - 1] = t;
    return slot;
}

static void remove_member(cara_swim *s, size_t slot)
{
    for (size_t i = 0; i < s->order_count; i++) {
        if (s->order[i] != slot)
            continue;
        memmove(&s->order[i], &s->order[i + 1], (s->order_count - i - 1) * sizeof s->order[0]);
        s->order_count--;
        if (i < s->order_cursor)
            s->order_cursor--;
        break;
    }
    if (s->probe.active && s->probe.slot == slot)
        s->probe.active = false;
    count_state(s, s->members[slot].state, -1);
    s->digest_members -= member_share(&s->members[slot]);
    cara_slotidx_del(&s->index, s->members[slot].name_h, slot, slot_hash, s);
    s->members[slot].used = false;
    while (s->members_hi > 0 && !s->members[s->members_hi - 1].used)
        s->members_hi--;
}

static void shuffle_order(cara_swim *s)
{
    for (size_t i = s->order_count; i > 1; i--) {
        size_t j = cara_rng_below(&s->env->rng, i);
        uint32_t t = s->order[i - 1];
        s->order[i - 1] = s->order[j];
        s->order[j] = t;
    }
    s->order_cursor = 0;
}

/* The next member to probe: round-robin over a shuffled list, reshuffled
 * after each full round, skipping the dead and the departed. */
static size_t next_target(cara_swim *s)
{
    /* A member another suspects comes first (probe_soon). */
    for (size_t i = 0; i < s->order_count; i++) {
        member *m = &s->members[s->order[i]];
        if (!m->probe_soon)
            continue;
        m->probe_soon = false;
        if (m->state == CARA_SWIM_SUSPECT)
            return s->order[i];
    }
    for (size_t n = 0; n <= s->order_count; n++) {
        if (s->order_count == 0)
            return NO_SLOT;
        if (s->order_cursor >= s->order_count)
            shuffle_order(s);
        size_t slot = s->order[s->order_cursor++];
        uint8_t st = s->members[slot].state;
        if (st == CARA_SWIM_ALIVE || st == CARA_SWIM_SUSPECT)
            return slot;
    }
    return NO_SLOT;
}

/* Up to `k` live members drawn at random, other than `exclude` (a slot or
 * NO_SLOT), into `out`; returns how many. */
static size_t pick_alive(cara_swim *s, size_t exclude, size_t k, uint32_t *out)
{
    uint32_t cand[CARA_SWIM_MEMBERS_MAX];
    size_t n = 0, got = 0;
    for (size_t i = 0; i < s->order_count; i++) {
        uint32_t slot = s->order[i];
        if (slot != exclude && s->members[slot].state == CARA_SWIM_ALIVE)
            cand[n++] = slot;
    }
    for (size_t i = 0; i < n && got < k; i++) {
        size_t j = i + cara_rng_below(&s->env->rng, n - i);
        uint32_t t = cand[i];
        cand[i] = cand[j];
        cand[j] = t;
        out[got++] = cand[i];
    }
    return got;
}

/* ---- Suspicion -------------------------------------------------------------- */

/* K, but no more than the members who could confirm: all live ones but
 * the suspect and the first accuser (memberlist drops K to 0 there; we keep
 * asking for every member that can confirm, so that a small cluster does
 * not fall to the minimum on one word). */
static uint32_t confirmations_expected(const cara_swim *s)
{
    size_t n = members_n(s);
    uint32_t k = s->cfg.suspicion_confirmations;
    if (n < 2 + (size_t)k)
        k = n > 2 ? (uint32_t)(n - 2) : 0;
    return k;
}

static uint64_t suspect_deadline_ms(const member *m)
{
    uint32_t confirmations = m->accusers_count > 0 ? m->accusers_count - 1 : 0;
    return m->suspect_start_ms + cara_swim_suspicion_timeout_ms(m->suspect_min_ms, m->suspect_max_ms,
                                                                confirmations, m->suspect_k);
}

static bool accuser_add(member *m, uint64_t h)
{
    for (uint32_t i = 0; i < m->accusers_count; i++)
        if (m->accusers[i] == h)
            return false;
    if (m->accusers_count == CARA_SWIM_CONFIRMS_MAX + 1)
        return false;
    m->accusers[m->accusers_count++] = h;
    return true;
}

/* Someone else suspects `m`: our next probe is of it, and it starts now
 * unless a probe is in flight. If `m` is dead, our probe fails and we
 * confirm the suspicion a period from now, instead of whenever the
 * round-robin order would have reached it (after N/2 periods on average):
 * this is what lets a suspicion reach its minimum, three confirmations,
 * within about two periods whatever N. If it is alive, our ping carries
 * the suspicion (fill_piggyback) and its ack carries the refutation,
 * since our digests differ. Each member that hears of a suspicion sends
 * one probe more than it would have; none is sent while nobody is
 * suspected. */
static void probe_suspect_soon(cara_swim *s, member *m, uint64_t now_mono_ms)
{
    m->probe_soon = true;
    if (!s->probe.active && !s->leaving && s->probe_next_ms > now_mono_ms)
        s->probe_next_ms = now_mono_ms;
}

/* `accuser` suspects `m` at `inc`. A new suspicion starts at the maximum
 * timeout; each further independent accuser shortens it. When we raise it
 * ourselves the suspect is told at once, so it can refute before the rest
 * of the cluster has even heard (Lifeguard's buddy system). */
static void suspect_member(cara_swim *s, member *m, uint32_t inc, const char *accuser,
                           size_t accuser_len, uint64_t now_mono_ms)
{
    bool ours = is_self(s, accuser, accuser_len);
    uint64_t h = name_hash(accuser, accuser_len);
    cara_swim_id acc = {.name_len = (uint8_t)accuser_len};
    memcpy(acc.name, accuser, accuser_len);
    cara_swim_update u;
    if (m->state == CARA_SWIM_ALIVE || (m->state == CARA_SWIM_SUSPECT && inc > m->incarnation)) {
        set_state(s, m, CARA_SWIM_SUSPECT, inc, now_mono_ms);
        m->suspect_start_ms = now_mono_ms;
        m->suspect_min_ms = cara_swim_suspicion_min_ms(s->cfg.suspicion_mult, members_n(s),
                                                        s->cfg.probe_interval_ms);
        m->suspect_max_ms = m->suspect_min_ms * s->cfg.suspicion_max_mult;
        m->suspect_k = confirmations_expected(s);
        m->accusers_count = 0;
        accuser_add(m, h);
        emit_event(s, CARA_SWIM_EV_SUSPECT, m);
        if (ours) {
            s->stats.suspicions_raised_count++;
        } else {
            probe_suspect_soon(s, m, now_mono_ms);
        }
    } else if (m->state == CARA_SWIM_SUSPECT && inc == m->incarnation) {
        if (!accuser_add(m, h))
            return; /* heard before: nothing new to spread */
    } else {
        s->stats.stale_count++;
        return;
    }
    make_update(&u, CARA_SWIM_SUSPECT, inc, &m->peer, &acc);
    enqueue_update(s, &u);
    if (ours)
        send_msg(s, &m->peer, CARA_SWIM_PING, s->seq_next++, &m->peer);
}

static void declare_down(cara_swim *s, member *m, uint8_t state, const cara_swim_update *u,
                         uint64_t now_mono_ms)
{
    set_state(s, m, state, u->incarnation, now_mono_ms);
    emit_event(s, state == CARA_SWIM_LEFT ? CARA_SWIM_EV_LEFT : CARA_SWIM_EV_DEAD, m);
    enqueue_update(s, u);
}

/* ---- Updates from peers ------------------------------------------------------- */

/* A refutation races every suspicion timer in the cluster, and a node that
 * is being suspected is often one that sends little (its probing slowed by
 * its health multiplier), so piggybacking alone can lose the race. It is
 * sent at once in PINGs to the accuser and to k - 1 other live members,
 * each of which then spreads it. */
static void refute_notices(cara_swim *s, const cara_swim_update *u)
{
    uint32_t to[CARA_SWIM_INDIRECT_MAX + 1];
    size_t n = 0;
    size_t acc = u->accuser_len ? find_member(s, u->accuser, u->accuser_len) : NO_SLOT;
    if (acc != NO_SLOT && s->members[acc].state == CARA_SWIM_ALIVE)
        to[n++] = (uint32_t)acc;
    size_t k = s->cfg.indirect_checks_count > n ? s->cfg.indirect_checks_count - n : 0;
    n += pick_alive(s, acc, k, to + n);
    for (size_t i = 0; i < n; i++) {
        const member *m = &s->members[to[i]];
        send_msg(s, &m->peer, CARA_SWIM_PING, s->seq_next++, &m->peer);
    }
}

/* An update about ourselves. Only we raise our incarnation, so a suspicion
 * or death at our number or above is refuted by going one higher; a leave
 * in progress is not refuted. */
static void self_update(cara_swim *s, const cara_swim_update *u)
{
    if (memcmp(u->member.key, s->cfg.self.key, CARA_SWIM_KEY_BYTES) != 0) {
        s->stats.conflicts_count++;
        return;
    }
    if (s->leaving || u->incarnation < s->incarnation ||
        (u->kind == CARA_SWIM_ALIVE && u->incarnation == s->incarnation)) {
        s->stats.stale_count++;
        return;
    }
    /* An ALIVE above our number is our own from before a restart. */
    s->incarnation = u->incarnation + 1;
    s->stats.refutations_count++;
    if (u->kind != CARA_SWIM_ALIVE && s->lhm + 1 < s->cfg.awareness_max)
        s->lhm++; /* being suspected hints that we are the slow one */
    enqueue_self(s, CARA_SWIM_ALIVE);
    refute_notices(s, u);
}

static void alive_update(cara_swim *s, size_t slot, const cara_swim_update *u, uint64_t now_mono_ms)
{
    cara_swim_peer p = {u->member, u->addr};
    if (slot == NO_SLOT) {
        slot = add_member(s, &p, u->incarnation, now_mono_ms);
        if (slot != NO_SLOT) {
            emit_event(s, CARA_SWIM_EV_JOINED, &s->members[slot]);
            enqueue_update(s, u);
        }
        return;
    }
    member *m = &s->members[slot];
    if (u->incarnation <= m->incarnation) {
        /* The same state again (samples carry it all the time) is no news;
         * anything older, or an ALIVE against a suspicion at the same
         * number, is stale. */
        if (u->incarnation < m->incarnation || m->state != CARA_SWIM_ALIVE)
            s->stats.stale_count++;
        return;
    }
    uint8_t prev = m->state;
    set_state(s, m, CARA_SWIM_ALIVE, u->incarnation, now_mono_ms);
    if (u->addr.len > 0)
        m->peer.addr = u->addr;
    if (prev != CARA_SWIM_ALIVE)
        emit_event(s, CARA_SWIM_EV_ALIVE_AGAIN, m);
    if (prev == CARA_SWIM_SUSPECT)
        s->stats.false_suspicions_refuted_count++;
    enqueue_update(s, u);
}

static bool update_valid(const cara_swim_update *u)
{
    if (u->kind < CARA_SWIM_ALIVE || u->kind > CARA_SWIM_LEFT || u->member.name_len == 0 ||
        u->member.name_len > CARA_SWIM_NAME_BYTES_MAX || u->addr.len > CARA_SWIM_ADDR_BYTES_MAX ||
        u->accuser_len > CARA_SWIM_NAME_BYTES_MAX || u->incarnation > CARA_SWIM_INCARNATION_MAX)
        return false;
    if (u->kind == CARA_SWIM_ALIVE)
        return true;
    if (u->accuser_len == 0)
        return false;
    /* Only a member can say that it left. */
    return u->kind != CARA_SWIM_LEFT ||
           name_eq(&u->member, u->accuser, u->accuser_len);
}

static void apply_update(cara_swim *s, const cara_swim_update *u, uint64_t now_mono_ms)
{
    if (!update_valid(u)) {
        s->stats.nonsense_count++;
        return;
    }
    if (is_self(s, u->member.name, u->member.name_len)) {
        self_update(s, u);
        return;
    }
    size_t slot = find_member(s, u->member.name, u->member.name_len);
    if (slot != NO_SLOT &&
        memcmp(s->members[slot].peer.id.key, u->member.key, CARA_SWIM_KEY_BYTES) != 0) {
        s->stats.conflicts_count++;
        return;
    }
    if (u->kind == CARA_SWIM_ALIVE) {
        alive_update(s, slot, u, now_mono_ms);
        return;
    }
    /* We do not add members on hearsay of their failure. */
    member *m = slot == NO_SLOT ? NULL : &s->members[slot];
    if (m == NULL || u->incarnation < m->incarnation || m->state == CARA_SWIM_DEAD ||
        m->state == CARA_SWIM_LEFT) {
        s->stats.stale_count++;
        return;
    }
    if (u->kind == CARA_SWIM_SUSPECT)
        suspect_member(s, m, u->incarnation, u->accuser, u->accuser_len, now_mono_ms);
    else
        declare_down(s, m, u->kind, u, now_mono_ms);
}

/* ---- Probing ---------------------------------------------------------------- */

static void lhm_add(cara_swim *s, int delta)
{
    int v = (int)s->lhm + delta;
    int top = (int)s->cfg.awareness_max - 1;
    s->lhm = (uint32_t)(v < 0 ? 0 : v > top ? top : v);
}

static void probe_start(cara_swim *s, uint64_t now_mono_ms)
{
    uint64_t period_ms = scaled(s, s->cfg.probe_interval_ms);
    s->probe_next_ms = now_mono_ms + period_ms;
    size_t slot = next_target(s);
    if (slot == NO_SLOT)
        return;
    probe *p = &s->probe;
    memset(p, 0, sizeof *p);
    p->active = true;
    p->slot = slot;
    p->seq = s->seq_next++;
    p->ack_deadline_ms = now_mono_ms + scaled(s, s->cfg.probe_timeout_ms);
    p->end_ms = s->probe_next_ms;
    s->stats.probes_sent_count++;
    send_msg(s, &s->members[slot].peer, CARA_SWIM_PING, p->seq, &s->members[slot].peer);
}

/* No direct ack in time: ask k other live members, chosen at random, to
 * ping the target for us. */
static void probe_indirect(cara_swim *s)
{
    probe *p = &s->probe;
    uint32_t relays[CARA_SWIM_INDIRECT_MAX];
    p->indirect_sent = true;
    size_t n = pick_alive(s, p->slot, s->cfg.indirect_checks_count, relays);
    for (size_t i = 0; i < n; i++) {
        const member *r = &s->members[relays[i]];
        p->relays[p->relays_count++] = r->peer.id;
        s->stats.indirect_probes_sent_count++;
        send_msg(s, &r->peer, CARA_SWIM_PING_REQ, p->seq, &s->members[p->slot].peer);
    }
}

/* The period ended with no ack. Every relay that did not even send a nack
 * points at our own links or CPU, so each raises our health multiplier
 * (Lifeguard, section IV-A); nacks that did arrive say the target, not us,
 * is at fault. */
static void probe_fail(cara_swim *s, uint64_t now_mono_ms)
{
    probe *p = &s->probe;
    p->active = false;
    s->stats.probes_failed_count++;
    /* One dead member probed twice in a row (the end of one round, the
     * start of the next) says nothing of our own link: count members. A
     * nack says our link to that relay works both ways and the target is
     * at fault: the streak starts over (otherwise a node that probes two
     * cut-off members in a row would take itself for the cut one). */
    if (p->nacks_count > 0)
        s->fail_streak = 0;
    else if (s->fail_streak == 0 || s->fail_last_slot != p->slot)
        s->fail_streak++;
    s->fail_last_slot = p->slot;
    lhm_add(s, (int)(p->relays_count - p->nacks_count));
    member *m = &s->members[p->slot];
    if (m->state == CARA_SWIM_ALIVE || m->state == CARA_SWIM_SUSPECT)
        suspect_member(s, m, m->incarnation, s->cfg.self.name, s->cfg.self.name_len, now_mono_ms);
}

static void probe_tick(cara_swim *s, uint64_t now_mono_ms)
{
    probe *p = &s->probe;
    if (p->active && !p->indirect_sent && now_mono_ms >= p->ack_deadline_ms)
        probe_indirect(s);
    if (p->active && now_mono_ms >= p->end_ms)
        probe_fail(s, now_mono_ms);
    if (!p->active && now_mono_ms >= s->probe_next_ms)
        probe_start(s, now_mono_ms);
}

/* ---- Messages from peers ------------------------------------------------------- */

static int relay_index(const cara_swim_id *relays, uint32_t count, const cara_swim_id *from)
{
    for (uint32_t i = 0; i < count; i++)
        if (id_eq(&relays[i], from))
            return (int)i;
    return -1;
}

/* An ack we cannot place: late (routine) or from nowhere (nonsense). */
static void ack_unplaced(cara_swim *s, const cara_swim_id *from, uint32_t seq)
{
    if (find_member(s, from->name, from->name_len) == NO_SLOT || seq >= s->seq_next)
        s->stats.nonsense_count++;
    else
        s->stats.stale_count++;
}

static void recv_ack(cara_swim *s, const cara_swim_id *from, uint32_t seq)
{
    for (size_t i = 0; i < CARA_SWIM_RELAYS_MAX; i++) {
        relay *r = &s->relays[i];
        if (r->used && r->own_seq == seq && id_eq(&r->target, from)) {
            send_msg(s, &r->requester, CARA_SWIM_ACK, r->requester_seq, NULL);
            r->used = false;
            return;
        }
    }
    probe *p = &s->probe;
    if (p->active && seq == p->seq &&
        (id_eq(&s->members[p->slot].peer.id, from) ||
         relay_index(p->relays, p->relays_count, from) >= 0)) {
        p->active = false;
        s->stats.acks_received_count++;
        s->fail_streak = 0;
        lhm_add(s, -1);
        return;
    }
    ack_unplaced(s, from, seq);
}

static void recv_nack(cara_swim *s, const cara_swim_id *from, uint32_t seq)
{
    probe *p = &s->probe;
    int i = p->active && seq == p->seq ? relay_index(p->relays, p->relays_count, from) : -1;
    if (i >= 0 && !p->nacked[i]) {
        p->nacked[i] = true;
        p->nacks_count++;
        s->stats.nacks_received_count++;
        return;
    }
    ack_unplaced(s, from, seq);
}

/* Pings the target for `from`. The nack goes back at four fifths of the
 * probe timeout, so that it reaches the requester before its period ends
 * (it asked at the timeout; period = 2 x timeout at the defaults). */
static void recv_ping_req(cara_swim *s, const cara_swim_id *from, const cara_swim_msg *msg,
                          uint64_t now_mono_ms)
{
    if (msg->target.name_len == 0 || msg->target.name_len > CARA_SWIM_NAME_BYTES_MAX ||
        msg->target_addr.len > CARA_SWIM_ADDR_BYTES_MAX || id_eq(&msg->target, from) ||
        is_self(s, msg->target.name, msg->target.name_len)) {
        s->stats.nonsense_count++;
        return;
    }
    relay *r = NULL;
    for (size_t i = 0; i < CARA_SWIM_RELAYS_MAX && r == NULL; i++)
        if (!s->relays[i].used)
            r = &s->relays[i];
    if (r == NULL) {
        s->stats.relays_full_count++;
        return;
    }
    cara_swim_peer target = peer_of(s, &msg->target);
    if (target.addr.len == 0)
        target.addr = msg->target_addr;
    *r = (relay){.used = true, .requester = peer_of(s, from), .target = msg->target,
                 .requester_seq = msg->seq, .own_seq = s->seq_next++,
                 .nack_at_ms = now_mono_ms + s->cfg.probe_timeout_ms * 4 / 5};
    s->stats.relayed_pings_count++;
    send_msg(s, &target, CARA_SWIM_PING, r->own_seq, &target);
}

int cara_swim_recv(cara_swim *s, const cara_swim_id *from, const cara_swim_msg *msg,
                   uint64_t now_mono_ms)
{
    if (from->name_len == 0 || from->name_len > CARA_SWIM_NAME_BYTES_MAX ||
        msg->updates_count > CARA_SWIM_PIGGYBACK_MAX || is_self(s, from->name, from->name_len)) {
        s->stats.nonsense_count++;
        return 0;
    }
    /* Updates first: a newcomer's ping carries its own ALIVE and address. */
    for (size_t i = 0; i < msg->updates_count; i++)
        apply_update(s, &msg->updates[i], now_mono_ms);
    size_t from_slot = find_member(s, from->name, from->name_len);
    if (from_slot != NO_SLOT)
        s->members[from_slot].peer_digest = msg->digest;
    switch (msg->type) {
    case CARA_SWIM_PING:
        if (!is_self(s, msg->target.name, msg->target.name_len)) {
            s->stats.nonsense_count++; /* meant for a member we are not */
            break;
        }
        cara_swim_peer to = peer_of(s, from);
        send_msg(s, &to, CARA_SWIM_ACK, msg->seq, NULL);
        break;
    case CARA_SWIM_ACK:
        recv_ack(s, from, msg->seq);
        break;
    case CARA_SWIM_PING_REQ:
        recv_ping_req(s, from, msg, now_mono_ms);
        break;
    case CARA_SWIM_NACK:
        recv_nack(s, from, msg->seq);
        break;
    case CARA_SWIM_GOSSIP:
        break; /* the updates were all it had */
    default:
        s->stats.nonsense_count++;
    }
    return 0;
}

/* ---- Timers ------------------------------------------------------------------- */

static void relays_tick(cara_swim *s, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < CARA_SWIM_RELAYS_MAX; i++) {
        relay *r = &s->relays[i];
        if (r->used && now_mono_ms >= r->nack_at_ms) {
            r->used = false;
            send_msg(s, &r->requester, CARA_SWIM_NACK, r->requester_seq, NULL);
        }
    }
}

/* Suspicions that ran out become deaths; deaths and departures older than
 * the horizon are forgotten. Keeping them that long stops a late ALIVE at
 * the old incarnation from bringing a dead member back. */
static void members_tick(cara_swim *s, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < s->members_hi; i++) {
        member *m = &s->members[i];
        if (!m->used)
            continue;
        if (m->state == CARA_SWIM_SUSPECT && now_mono_ms >= suspect_deadline_ms(m)) {
            cara_swim_update u;
            make_update(&u, CARA_SWIM_DEAD, m->incarnation, &m->peer, &s->cfg.self);
            s->stats.deaths_declared_count++;
            declare_down(s, m, CARA_SWIM_DEAD, &u, now_mono_ms);
        } else if ((m->state == CARA_SWIM_DEAD || m->state == CARA_SWIM_LEFT) &&
                   now_mono_ms >= m->state_since_ms + s->cfg.reap_horizon_ms) {
            emit_event(s, CARA_SWIM_EV_REAPED, m);
            remove_member(s, i);
        }
    }
}

int cara_swim_tick(cara_swim *s, uint64_t now_mono_ms)
{
    relays_tick(s, now_mono_ms);
    if (!s->leaving)
        probe_tick(s, now_mono_ms);
    members_tick(s, now_mono_ms);
    return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t cara_swim_next_deadline_ms(const cara_swim *s)
{
    uint64_t t = UINT64_MAX;
    const probe *p = &s->probe;
    if (!s->leaving) {
        t = s->probe_next_ms;
        if (p->active)
            t = min_u64(p->indirect_sent ? p->end_ms : p->ack_deadline_ms, p->end_ms);
    }
    for (size_t i = 0; i < CARA_SWIM_RELAYS_MAX; i++)
        if (s->relays[i].used)
            t = min_u64(t, s->relays[i].nack_at_ms);
    for (size_t i = 0; i < s->members_hi && s->suspect_count + s->down_count > 0; i++) {
        const member *m = &s->members[i];
        if (m->used && m->state == CARA_SWIM_SUSPECT)
            t = min_u64(t, suspect_deadline_ms(m));
        else if (m->used && (m->state == CARA_SWIM_DEAD || m->state == CARA_SWIM_LEFT))
            t = min_u64(t, m->state_since_ms + s->cfg.reap_horizon_ms);
    }
    return t;
}

/* ---- Lifecycle ------------------------------------------------------------ */

int cara_swim_join(cara_swim *s, const cara_swim_peer *peer, uint64_t now_mono_ms)
{
    if (peer->id.name_len == 0 || peer->id.name_len > CARA_SWIM_NAME_BYTES_MAX ||
        peer->addr.len > CARA_SWIM_ADDR_BYTES_MAX || is_self(s, peer->id.name, peer->id.name_len))
        return CARA_EINVAL;
    if (find_member(s, peer->id.name, peer->id.name_len) != NO_SLOT)
        return CARA_EEXIST;
    size_t slot = add_member(s, peer, 0, now_mono_ms);
    if (slot == NO_SLOT)
        return CARA_ELIMIT;
    emit_event(s, CARA_SWIM_EV_JOINED, &s->members[slot]);
    /* Probe at once rather than a period later: joining is when we most
     * need to be heard. */
    if (!s->probe.active)
        s->probe_next_ms = now_mono_ms;
    return 0;
}

int cara_swim_reconnect(cara_swim *s, uint64_t now_mono_ms)
{
    (void)now_mono_ms;
    if (s->leaving)
        return 0;
    size_t dead = 0;
    for (size_t i = 0; i < s->members_hi; i++)
        dead += s->members[i].used && s->members[i].state == CARA_SWIM_DEAD;
    if (dead == 0)
        return 0;
    uint64_t pick = cara_rng_below(&s->env->rng, dead);
    for (size_t i = 0; i < s->members_hi; i++) {
        const member *m = &s->members[i];
        if (!m->used || m->state != CARA_SWIM_DEAD || pick-- > 0)
            continue;
        /* The ping leads with the member's death (fill_piggyback), so a
         * live member refutes it; its answer leads with our own death if
         * it holds one, so we refute in turn. The ACK itself matches no
         * probe and is counted stale. */
        send_msg(s, &m->peer, CARA_SWIM_PING, s->seq_next++, &m->peer);
        return 1;
    }
    return 0;
}

int cara_swim_leave(cara_swim *s, uint64_t now_mono_ms)
{
    (void)now_mono_ms;
    if (s->leaving)
        return 0;
    s->leaving = true;
    s->probe.active = false;
    enqueue_self(s, CARA_SWIM_LEFT);
    /* A leave happens once, so it is told to every member directly (up to
     * a cap) instead of waiting for the retransmissions of gossip. */
    uint32_t sent = 0;
    shuffle_order(s);
    for (size_t i = 0; i < s->order_count && sent < CARA_SWIM_LEAVE_NOTICES_MAX; i++) {
        const member *m = &s->members[s->order[i]];
        if (m->state != CARA_SWIM_ALIVE && m->state != CARA_SWIM_SUSPECT)
            continue;
        send_msg(s, &m->peer, CARA_SWIM_PING, s->seq_next++, &m->peer);
        sent++;
    }
    return 0;
}

static bool cfg_valid(const cara_swim_cfg *c)
{
    return c->self.name_len > 0 && c->self.name_len <= CARA_SWIM_NAME_BYTES_MAX &&
           c->self_addr.len <= CARA_SWIM_ADDR_BYTES_MAX && c->probe_interval_ms > 0 &&
           c->probe_timeout_ms > 0 && c->probe_timeout_ms < c->probe_interval_ms &&
           c->indirect_checks_count <= CARA_SWIM_INDIRECT_MAX && c->suspicion_mult >= 1 &&
           c->suspicion_mult <= CARA_SWIM_SUSPICION_MULT_MAX && c->suspicion_max_mult >= 1 &&
           c->suspicion_max_mult <= CARA_SWIM_SUSPICION_MULT_MAX &&
           c->suspicion_confirmations >= 1 &&
           c->suspicion_confirmations <= CARA_SWIM_CONFIRMS_MAX && c->retransmit_mult >= 1 &&
           c->retransmit_mult <= CARA_SWIM_RETRANSMIT_MULT_MAX && c->awareness_max >= 1 &&
           c->awareness_max <= CARA_SWIM_AWARENESS_MAX && c->reap_horizon_ms > 0;
}

int cara_swim_new(cara_swim **out, const cara_swim_cfg *cfg, cara_env *env)
{
    cara_env_check(env);
    *out = NULL;
    if (!cfg_valid(cfg))
        return CARA_EINVAL;
    cara_swim *s = cara_env_calloc(env, 1, sizeof *s);
    if (s == NULL)
        return CARA_ENOMEM;
    s->env = env;
    s->cfg = *cfg;
    s->seq_next = 1;
    s->self_h = name_hash(cfg->self.name, cfg->self.name_len);
    s->members = cara_env_calloc(env, CARA_SWIM_MEMBERS_MAX, sizeof *s->members);
    s->order = cara_env_calloc(env, CARA_SWIM_MEMBERS_MAX, sizeof *s->order);
    s->bcasts = cara_env_calloc(env, CARA_SWIM_BROADCASTS_MAX, sizeof *s->bcasts);
    /* The two rings are written before they are read, and drained often:
     * left unzeroed, only the pages they ever held at once are touched
     * (a node's resident memory, docs/sim.md "Speed and scale"). */
    s->outbox = cara_env_alloc(env, CARA_SWIM_OUTBOX_MAX * sizeof *s->outbox);
    s->events = cara_env_alloc(env, CARA_SWIM_EVENTS_MAX * sizeof *s->events);
    int rc_index = cara_slotidx_init(&s->index, env, INDEX_CELLS);
    if (!s->members || !s->order || rc_index != 0 || !s->bcasts || !s->outbox || !s->events) {
        cara_swim_free(s);
        return CARA_ENOMEM;
    }
    enqueue_self(s, CARA_SWIM_ALIVE);
    *out = s;
    return 0;
}

void cara_swim_free(cara_swim *s)
{
    if (s == NULL)
        return;
    cara_env *env = s->env;
    cara_env_free(env, s->events);
    cara_env_free(env, s->outbox);
    cara_env_free(env, s->bcasts);
    cara_slotidx_free(&s->index, env);
    cara_env_free(env, s->order);
    cara_env_free(env, s->members);
    cara_env_free(env, s);
}

/* ---- Queries -------------------------------------------------------------- */

int cara_swim_member(const cara_swim *s, const char *name, size_t name_len, int *state,
                     uint32_t *incarnation)
{
    if (is_self(s, name, name_len)) {
        *state = s->leaving ? CARA_SWIM_LEFT : CARA_SWIM_ALIVE;
        *incarnation = s->incarnation;
        return 0;
    }
    size_t slot = find_member(s, name, name_len);
    if (slot == NO_SLOT)
        return CARA_ENOENT;
    *state = s->members[slot].state;
    *incarnation = s->members[slot].incarnation;
    return 0;
}

size_t cara_swim_alive_count(const cara_swim *s)
{
    return s->alive_count + (s->leaving ? 0 : 1);
}

uint32_t cara_swim_digest(const cara_swim *s)
{
    uint32_t d = s->leaving ? 0 : digest_share(s->self_h, s->incarnation);
    d += s->digest_members; /* sums wrap: the order of the terms is no matter */
    return d == 0 ? 1 : d; /* 0 says "no digest" on the wire */
}

size_t cara_swim_suspect_count(const cara_swim *s)
{
    return s->suspect_count;
}

uint32_t cara_swim_local_health(const cara_swim *s)
{
    return s->lhm;
}

uint32_t cara_swim_probe_fail_streak(const cara_swim *s)
{
    return s->fail_streak;
}

uint32_t cara_swim_incarnation(const cara_swim *s)
{
    return s->incarnation;
}

const cara_swim_stats *cara_swim_get_stats(const cara_swim *s)
{
    return &s->stats;
}

int cara_swim_members_foreach(const cara_swim *s,
                              int (*fn)(void *ctx, const cara_swim_peer *p, int state,
                                        uint32_t incarnation),
                              void *ctx)
{
    for (size_t i = 0; i < s->members_hi; i++) {
        const member *m = &s->members[i];
        if (!m->used)
            continue;
        int rc = fn(ctx, &m->peer, m->state, m->incarnation);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int cara_swim_member_peer(const cara_swim *s, const char *name, size_t name_len,
                          cara_swim_peer *out)
{
    size_t slot = find_member(s, name, name_len);
    if (slot == NO_SLOT)
        return CARA_ENOENT;
    *out = s->members[slot].peer;
    return 0;
}

size_t cara_swim_sample_alive(cara_swim *s, size_t k, cara_swim_peer *out)
{
    uint32_t slots[CARA_SWIM_INDIRECT_MAX];
    if (k > CARA_SWIM_INDIRECT_MAX)
        k = CARA_SWIM_INDIRECT_MAX;
    size_t got = pick_alive(s, NO_SLOT, k, slots);
    for (size_t i = 0; i < got; i++)
        out[i] = s->members[slots[i]].peer;
    return got;
}

size_t cara_swim_pending(const cara_swim *s)
{
    return s->bcasts_count;
}

size_t cara_swim_gossip(cara_swim *s, size_t k, bool always)
{
    if (s->leaving || (!always && s->bcasts_count == 0))
        return 0;
    uint32_t slots[CARA_SWIM_INDIRECT_MAX];
    if (k > CARA_SWIM_INDIRECT_MAX)
        k = CARA_SWIM_INDIRECT_MAX;
    size_t got = pick_alive(s, NO_SLOT, k, slots);
    for (size_t i = 0; i < got; i++)
        send_msg(s, &s->members[slots[i]].peer, CARA_SWIM_GOSSIP, 0, NULL);
    return got;
}
