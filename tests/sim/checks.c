/*
 * The invariant checkers (docs/sim.md, "Invariants") and the measures the
 * summary reports. They watch through simnet's taps: every change a node's
 * driver takes from its crdt, every record landing on a disk, every event
 * a node reports; and they look at the whole world at each crash, at each
 * sample and at the end.
 *
 *   record_verifies  every record that lands on a disk, and at the end every
 *                    record held in memory or on disk, decodes and verifies
 *   genuine_only     every record a node accepts is one the operator signed
 *                    (byte for byte) or, for node-authored kinds, one signed
 *                    by a node the operator admitted, for itself; no view
 *                    holds a member the operator never admitted
 *   convergence      within the stated bound after every fault stopped, all
 *                    live nodes hold one state (the same state hash)
 *   membership       within the same bound, every live node sees exactly the
 *                    live members as alive (left and stopped ones not)
 *   acked_durable    an acknowledged generation of a spec is, after any crash,
 *                    still held by some node's memory or disk, and at the end
 *                    by every live node
 */
#include <stdlib.h>
#include <string.h>

#include "gossip/gossip_int.h"
#include "world.h"

/* ---- What holds what ----------------------------------------------------------------- */

static bool crdt_holds(const cara_crdt *c, const char *key, uint64_t gen)
{
    cara_crdt_record r;
    uint64_t floor_gen = 0;
    if (cara_crdt_get(c, CARA_CRDT_PROJECT, (const uint8_t *)key, strlen(key), &r) == 0 &&
        r.generation >= gen)
        return true;
    return cara_crdt_floor_get(c, (const uint8_t *)key, strlen(key), &floor_gen) &&
           floor_gen >= gen;
}

static size_t live_count(const world *w)
{
    size_t c = 0;
    for (size_t i = 0; i < w->n; i++)
        c += world_live(w, i);
    return c;
}

op_key *world_key_by_name(world *w, const uint8_t *key, size_t len)
{
    /* Names are "p" and at least four digits: their index. */
    if (len < 5 || len > 12 || key[0] != 'p')
        return NULL;
    size_t k = 0;
    for (size_t i = 1; i < len; i++) {
        if (key[i] < '0' || key[i] > '9')
            return NULL;
        k = k * 10 + (size_t)(key[i] - '0');
    }
    return k < w->keys_count && strlen(w->keys[k].name) == len &&
                   memcmp(w->keys[k].name, key, len) == 0
               ? &w->keys[k] : NULL;
}

/* ---- Spread of each write -------------------------------------------------------------- */

static bool spread_done(world *w, pending_write *pw)
{
    for (size_t i = 0; i < w->n; i++)
        if (world_live(w, i) && !pw->holders[i])
            return false;
    return true;
}

static void spread_mark(world *w, pending_write *pw)
{
    pw->spread = true;
    w->writes_spread++;
    series_add(&w->spread_ms, w->env, sim_now(w->s) - pw->at_ms);
    cara_env_free(w->env, pw->holders);
    pw->holders = NULL;
}

void checks_write_published(world *w, pending_write *pw)
{
    if (w->sc.op_holders <= 1)
        pw->acked = true; /* durable on the accepting node before it answers */
}

/* Node i now holds `key` at generation `gen`: every write of that key at
 * or below it has one more holder. */
static void spread_note(world *w, int i, const op_key *k, uint64_t gen)
{
    size_t key = (size_t)(k - w->keys);
    for (size_t n = 0; n < w->writes_count; n++) {
        pending_write *pw = &w->writes[n];
        if (pw->spread || pw->key != key || pw->gen > gen)
            continue;
        if (!pw->holders[i]) {
            pw->holders[i] = 1;
            pw->holders_count++;
        }
        if (pw->holders_count >= w->live_cached && spread_done(w, pw))
            spread_mark(w, pw);
    }
}

/* ---- Taps ----------------------------------------------------------------------------- */

static bool tap_datagram(void *ctx, sim *s, int from, int to, const uint8_t *b, size_t len)
{
    (void)s;
    world *w = ctx;
    return w->h == NULL || hostile_tap_datagram(w, from, to, b, len);
}

static bool operator_kind(int kind)
{
    return kind == CARA_CRDT_PROJECT || kind == CARA_CRDT_TOMBSTONE ||
           kind == CARA_CRDT_ADMISSION || kind == CARA_CRDT_SETTINGS;
}

/* The node the operator admitted with this key, or -1. */
static int admitted_author(const world *w, const uint8_t *pk)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->ever_admitted[i] && memcmp(sim_pk(w->s, i), pk, CARA_CRDT_PK_BYTES) == 0)
            return (int)i;
    return -1;
}

static void genuine_check(world *w, int node, const cara_crdt_record *r, const uint8_t *b,
                          size_t len)
{
    const char *who = sim_name(w->s, (size_t)node);
    if (operator_kind(r->kind)) {
        if (!ledger_issued(w, b, len))
            world_violation(w, CHECK_GENUINE_ONLY,
                            "%s accepted a kind %d record \"%.*s\" generation %llu that the "
                            "operator never signed", who, r->kind, (int)r->key_bytes,
                            (const char *)r->key, (unsigned long long)r->generation);
        return;
    }
    int a = admitted_author(w, r->author);
    bool own = r->kind != CARA_CRDT_NODE && r->kind != CARA_CRDT_JOIN;
    if (a >= 0 && !own)
        own = strlen(sim_name(w->s, (size_t)a)) == r->key_bytes &&
              memcmp(sim_name(w->s, (size_t)a), r->key, r->key_bytes) == 0;
    if (a < 0 || !own)
        world_violation(w, CHECK_GENUINE_ONLY,
                        "%s accepted a kind %d record \"%.*s\" signed by %s", who, r->kind,
                        (int)r->key_bytes, (const char *)r->key,
                        a < 0 ? "a key the operator never admitted" : "another node than it names");
}

static void tap_change(void *ctx, sim *s, int node, const cara_crdt_change *c)
{
    (void)s;
    world *w = ctx;
    if (c->type != CARA_CRDT_CHANGE_PUT)
        return;
    cara_crdt_record r;
    if (cara_crdt_record_decode(c->bytes, c->len, &r) != 0) {
        world_violation(w, CHECK_RECORD_VERIFIES, "%s accepted bytes that do not decode",
                        sim_name(w->s, (size_t)node));
        return;
    }
    genuine_check(w, node, &r, c->bytes, c->len);
    if (w->h != NULL)
        hostile_tap_change(w, node, c);
    if (r.kind == CARA_CRDT_PROJECT || r.kind == CARA_CRDT_TOMBSTONE) {
        const op_key *k = world_key_by_name(w, r.key, r.key_bytes);
        if (k != NULL)
            spread_note(w, node, k, r.generation);
    }
}

/* 0 when the envelope decodes and its signature verifies. */
static int record_sound(const uint8_t *b, size_t len)
{
    cara_crdt_record r;
    int rc = cara_crdt_record_decode(b, len, &r);
    return rc == 0 ? cara_crdt_record_verify(&r) : rc;
}

static void tap_stored(void *ctx, sim *s, int node, const uint8_t *b, size_t len)
{
    (void)s;
    world *w = ctx;
    int rc = record_sound(b, len);
    if (rc != 0)
        world_violation(w, CHECK_RECORD_VERIFIES,
                        "%s's disk holds a record of %zu bytes that does not verify (%s)",
                        sim_name(w->s, (size_t)node), len, cara_errname(rc));
}

/* Nothing happened to the subject: it is up, running, and no cut touches
 * it. Suspecting it is a false positive (loss and chaos included: the
 * detector is meant to tell a slow network from a dead node). */
static bool untouched(const world *w, size_t j)
{
    return sim_up(w->s, j) && !sim_paused(w->s, j) && sim_cuts_of(w->s, j) == 0;
}

static void member_event(world *w, int node, const cara_gossip_event *ev)
{
    int j = sim_node_of_name(w->s, ev->name, strlen(ev->name));
    if (j < 0 || !w->ever_admitted[j]) {
        world_violation(w, CHECK_GENUINE_ONLY, "%s holds a member \"%s\" the operator never "
                        "admitted", sim_name(w->s, (size_t)node), ev->name);
        return;
    }
    world_trace(w, "%s sees %s %s (incarnation %u)", sim_name(w->s, (size_t)node), ev->name,
                cara_gossip_state_name(ev->state), ev->incarnation);
    if (ev->state == CARA_GOSSIP_SUSPECT) {
        w->suspicions++;
        if (untouched(w, (size_t)j) && w->susp_inc[j] != ev->incarnation + 1) {
            w->susp_inc[j] = ev->incarnation + 1; /* one per suspicion, not per observer */
            w->false_suspicions++;
        }
    }
    if (ev->state != CARA_GOSSIP_DEAD)
        return;
    for (size_t k = 0; k < w->detections_count; k++)
        if (w->detections[k].node == (size_t)j) {
            series_add(&w->detect_ms, w->env, sim_now(w->s) - w->detections[k].crashed_ms);
            w->detections[k] = w->detections[--w->detections_count];
            return;
        }
}

static void acked_event(world *w, int node, const cara_gossip_event *ev)
{
    for (size_t k = w->writes_count; k > 0; k--) {
        pending_write *pw = &w->writes[k - 1];
        if (pw->node != (size_t)node || pw->life != sim_life(w->s, (size_t)node) ||
            pw->hlc != ev->hlc || memcmp(pw->id, ev->id, sizeof pw->id) != 0)
            continue;
        if (!pw->acked && ev->holders >= w->sc.op_holders) {
            pw->acked = true;
            op_key *key = &w->keys[pw->key];
            if (pw->gen > key->gen_acked) {
                key->gen_acked = pw->gen;
                key->acked_at_ms = sim_now(w->s);
            }
            w->acked++;
            world_log(w, "%s acknowledges %s generation %llu: %u holders",
                      sim_name(w->s, (size_t)node), key->name, (unsigned long long)pw->gen,
                      ev->holders);
        }
        return;
    }
}

static void tap_event(void *ctx, sim *s, int node, const cara_gossip_event *ev)
{
    (void)s;
    world *w = ctx;
    if (ev->kind == CARA_GOSSIP_EV_MEMBER)
        member_event(w, node, ev);
    else if (ev->kind == CARA_GOSSIP_EV_ACKED)
        acked_event(w, node, ev);
    else if (ev->kind == CARA_GOSSIP_EV_JOINED || ev->kind == CARA_GOSSIP_EV_JOIN_REFUSED)
        world_log(w, "%s: %s by %s", sim_name(w->s, (size_t)node),
                  ev->kind == CARA_GOSSIP_EV_JOINED ? "welcomed" : "join refused", ev->name);
}

void checks_install(world *w)
{
    sim_taps t = {.on_datagram = tap_datagram, .on_event = tap_event, .on_change = tap_change,
                  .on_stored = tap_stored, .on_runtime = checks_runtime_tap, .ctx = w};
    sim_set_taps_all(w->s, &t);
}

/* ---- At each crash -------------------------------------------------------------------- */

void checks_on_crash(world *w, size_t i)
{
    w->live_cached = live_count(w);
    w->detections = sim_grow(w->env, w->detections, w->detections_count, &w->detections_cap,
                             sizeof *w->detections, 32);
    for (size_t k = 0; k < w->detections_count; k++)
        if (w->detections[k].node == i) {
            w->undetected++; /* restarted and crashed again before anyone saw it */
            w->detections[k] = w->detections[--w->detections_count];
            break;
        }
    w->detections[w->detections_count++] =
        (detection){.node = i, .life = sim_life(w->s, i), .crashed_ms = sim_now(w->s)};
    /* What was acknowledged must survive somewhere: in a live node's
     * memory or on a disk (a node that is down shows its disk). */
    for (size_t k = 0; k < w->keys_count; k++) {
        const op_key *key = &w->keys[k];
        if (key->gen_acked == 0)
            continue;
        bool held = false;
        for (size_t j = 0; !held && j < w->n; j++)
            held = w->role[j] == ROLE_MEMBER && crdt_holds(sim_crdt(w->s, j), key->name,
                                                           key->gen_acked);
        if (!held)
            world_violation(w, CHECK_ACKED_DURABLE,
                            "%s generation %llu, acknowledged at %llu ms, is held by no node's "
                            "memory or disk once %s crashed", key->name,
                            (unsigned long long)key->gen_acked,
                            (unsigned long long)key->acked_at_ms, sim_name(w->s, i));
    }
}

void checks_forget_crash(world *w, size_t i)
{
    for (size_t k = 0; k < w->detections_count; k++)
        if (w->detections[k].node == i) {
            w->detections[k] = w->detections[--w->detections_count];
            return;
        }
}

/* ---- Samples ----------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Distinct states among live nodes, by fingerprint, and how many hold the
 * commonest. A fingerprint costs nothing to read; the state hash costs a
 * sort and a hash of the whole state, which at a thousand nodes made most
 * of a run. */
static uint32_t states_of(world *w, uint32_t *largest)
{
    uint64_t *h = cara_env_alloc(w->env, (w->n ? w->n : 1) * sizeof *h);
    CARA_ASSERT(h != NULL);
    size_t c = 0;
    for (size_t i = 0; i < w->n; i++)
        if (world_live(w, i))
            h[c++] = sim_state_fp(w->s, i);
    qsort(h, c, sizeof *h, cmp_u64);
    uint32_t states = 0, run = 0;
    *largest = 0;
    for (size_t k = 0; k < c; k++) {
        if (k == 0 || h[k] != h[k - 1]) {
            states++;
            run = 0;
        }
        if (++run > *largest)
            *largest = run;
    }
    cara_env_free(w->env, h);
    return states;
}

/* One state by fingerprint is confirmed by the core's own state hash: the
 * checker's verdict is cara_crdt_state_hash's. */
static bool hashes_agree(world *w)
{
    uint8_t first[32], h[32];
    bool have = false;
    for (size_t i = 0; i < w->n; i++) {
        if (!world_live(w, i))
            continue;
        sim_state_hash(w->s, i, have ? h : first);
        if (have && memcmp(first, h, sizeof h) != 0)
            return false;
        have = true;
    }
    return true;
}

bool checks_converged(world *w, uint32_t *states)
{
    uint32_t largest;
    *states = states_of(w, &largest);
    if (*states <= 1 && !hashes_agree(w)) {
        *states = 2;
        world_log(w, "the state fingerprints agree but the state hashes do not");
        return false;
    }
    return *states <= 1;
}

/* The views are read from each node's membership table underneath its
 * object: cara_gossip_stats_get and cara_gossip_members_foreach look each
 * member's last contact up by a scan of the peers, O(N) a member, so
 * reading every view through them costs O(N^3) at each sample (a billion
 * steps at N = 1000). The table itself answers in O(N) a view. */
typedef struct view_ctx {
    world *w;
    size_t alive;
    bool ok;
} view_ctx;

static int view_member(void *ctx, const cara_swim_peer *p, int state, uint32_t incarnation)
{
    view_ctx *v = ctx;
    (void)incarnation;
    if (state != CARA_SWIM_ALIVE && state != CARA_SWIM_SUSPECT)
        return 0;
    v->alive++;
    int j = sim_node_of_name(v->w->s, p->id.name, p->id.name_len);
    if (j < 0 || !world_live(v->w, (size_t)j)) {
        v->ok = false;
        return 1;
    }
    return 0;
}

/* Does live node i see exactly the live members as alive (itself too)? */
static bool view_ok(world *w, size_t i, size_t live)
{
    const cara_swim *sw = sim_gossip(w->s, i)->swim;
    if (cara_swim_alive_count(sw) + cara_swim_suspect_count(sw) != live)
        return false;
    view_ctx v = {w, 1, true};
    (void)cara_swim_members_foreach(sw, view_member, &v);
    return v.ok && v.alive == live;
}

bool checks_views_agree(world *w, uint32_t *agreeing)
{
    size_t live = live_count(w);
    *agreeing = 0;
    for (size_t i = 0; i < w->n; i++)
        if (world_live(w, i) && view_ok(w, i, live))
            (*agreeing)++;
    return *agreeing == live;
}

/* How much of the operator's latest writes the live nodes hold: 1 - the
 * (node, key) pairs where a live node lacks the key's latest generation,
 * over all such pairs. Only writes not yet everywhere can be missing. */
static uint32_t writes_held_ppm(world *w, size_t live)
{
    size_t keys = 0;
    uint64_t missing = 0;
    for (size_t k = 0; k < w->keys_count; k++)
        keys += w->keys[k].gen_issued > 0;
    for (size_t k = 0; k < w->writes_count; k++) {
        const pending_write *pw = &w->writes[k];
        if (pw->spread || pw->gen != w->keys[pw->key].gen_issued)
            continue;
        for (size_t i = 0; i < w->n; i++)
            missing += world_live(w, i) && !pw->holders[i];
    }
    if (keys == 0 || live == 0)
        return SIM_PPM;
    return (uint32_t)(SIM_PPM - missing * SIM_PPM / ((uint64_t)keys * live));
}

void checks_sample(world *w)
{
    w->samples = sim_grow(w->env, w->samples, w->samples_count, &w->samples_cap,
                          sizeof *w->samples, 256);
    sample *sp = &w->samples[w->samples_count++];
    sp->at_ms = sim_now(w->s);
    sp->live = (uint32_t)live_count(w);
    w->live_cached = sp->live;
    sp->states = states_of(w, &sp->agreeing);
    /* The curve counts members by state only (O(N) a sample); the verdict
     * of the liveness phase looks at every member of every view. */
    sp->views_agreeing = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (!world_live(w, i))
            continue;
        const cara_swim *sw = sim_gossip(w->s, i)->swim;
        sp->views_agreeing += cara_swim_alive_count(sw) + cara_swim_suspect_count(sw) == sp->live;
    }
    /* A write whose holders crashed may be complete among those left. */
    for (size_t k = 0; k < w->writes_count; k++)
        if (!w->writes[k].spread && spread_done(w, &w->writes[k]))
            spread_mark(w, &w->writes[k]);
    sp->writes_held_ppm = writes_held_ppm(w, sp->live);
}

/* ---- At the end ------------------------------------------------------------------------ */

typedef struct scan_ctx {
    world *w;
    size_t node;
    bool disk;
    size_t bad;
} scan_ctx;

static int scan_record(void *ctx, const uint8_t *b, size_t len)
{
    scan_ctx *c = ctx;
    int rc = record_sound(b, len);
    if (rc != 0 && c->bad++ == 0)
        world_violation(c->w, CHECK_RECORD_VERIFIES, "%s's %s holds a record that does not "
                        "verify (%s)", sim_name(c->w->s, c->node), c->disk ? "disk" : "state",
                        cara_errname(rc));
    return 0;
}

static int scan_state(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t len)
{
    (void)r;
    return scan_record(ctx, b, len);
}

void checks_final(world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        if (w->role[i] == ROLE_SPARE)
            continue;
        scan_ctx c = {w, i, false, 0};
        (void)cara_crdt_foreach(sim_crdt(w->s, i), scan_state, &c);
        c.disk = true;
        c.bad = 0;
        (void)sim_disk_foreach(w->s, i, scan_record, &c);
    }
    size_t reported = 0;
    for (size_t k = 0; k < w->keys_count; k++) {
        const op_key *key = &w->keys[k];
        for (size_t i = 0; key->gen_acked > 0 && i < w->n; i++)
            if (world_live(w, i) && !crdt_holds(sim_crdt(w->s, i), key->name, key->gen_acked)) {
                if (reported++ < 4)
                    world_violation(w, CHECK_ACKED_DURABLE,
                                    "%s generation %llu, acknowledged at %llu ms, is not held "
                                    "by %s at the end", key->name,
                                    (unsigned long long)key->gen_acked,
                                    (unsigned long long)key->acked_at_ms, sim_name(w->s, i));
                break;
            }
    }
    for (size_t k = 0; k < w->writes_count; k++)
        if (!w->writes[k].spread)
            w->writes_lost_unspread++;
    w->undetected += w->detections_count;
}
