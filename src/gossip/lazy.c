/*
 * Lazy push of records (docs/gossip.md, "Lazy push"): adverts in, pulls
 * out, pulls in, answers out.
 *
 * A record goes out whole on its first few piggybacks from each node (the
 * eager push, gossip.c), then only as an advert: its 16-byte slot id and
 * its HLC. A node that receives an advert for a version it does not hold
 * asks the advertiser for it in a PULL, and the advertiser answers with
 * the record it holds for that slot (a PUSH datagram, or a stream when
 * the record does not fit one). This is Plumtree's split between eager
 * and lazy push (Leitao, Pereira, Rodrigues, "Epidemic Broadcast Trees",
 * SRDS 2007), without its tree: our eager targets are drawn at random
 * every round, so there is nothing to prune, and the eager phase is
 * bounded by a count instead. What it keeps is the point that matters
 * for bytes: every node still hears of every record about lambda log N
 * times, but only the first few times in full.
 *
 * Bounds: at most CARA_GOSSIP_PULLS_MAX versions are being pulled at once,
 * one pull in flight per slot whatever the number of adverts, each asked
 * of at most CARA_GOSSIP_PULL_ALTS_MAX advertisers in turn; and the bytes
 * this node sends in answers are charged to a token bucket of
 * pull_bytes_per_s_max, so a peer that asks again and again gets silence,
 * not our bandwidth. Anti-entropy remains the safety net for whatever a
 * pull gives up on.
 */
#include "gossip/gossip_int.h"

#include <string.h>

/* What this node holds for a slot: the HLC of its live record (or of its
 * floor's tombstone), or false. */
static bool held_hlc(const cara_gossip *g, const uint8_t id[CARA_CRDT_ID_BYTES], uint64_t *hlc)
{
    const uint8_t *bytes;
    size_t len;
    bool floor;
    return cara_crdt_get_by_id(g->crdt, id, &bytes, &len, hlc, &floor) == 0;
}

static gossip_pull *pull_find(cara_gossip *g, const uint8_t id[CARA_CRDT_ID_BYTES])
{
    if (g->pulls_count == 0)
        return NULL;
    for (size_t i = 0; i < CARA_GOSSIP_PULLS_MAX; i++)
        if (g->pulls[i].used && memcmp(g->pulls[i].id, id, CARA_CRDT_ID_BYTES) == 0)
            return &g->pulls[i];
    return NULL;
}

static void pull_free(cara_gossip *g, gossip_pull *pl)
{
    CARA_ASSERT(pl->used && g->pulls_count > 0);
    *pl = (gossip_pull){0};
    g->pulls_count--;
}

/* A free slot; when every slot is taken, the entry closest to its deadline
 * goes (it was about to be retried or dropped anyway), counted. */
static gossip_pull *pull_slot(cara_gossip *g)
{
    gossip_pull *soonest = NULL;
    for (size_t i = 0; i < CARA_GOSSIP_PULLS_MAX; i++) {
        gossip_pull *pl = &g->pulls[i];
        if (!pl->used)
            return pl;
        if (soonest == NULL || pl->deadline_mono_ms < soonest->deadline_mono_ms)
            soonest = pl;
    }
    gossip_drop(g, CARA_GOSSIP_DROP_FULL);
    pull_free(g, soonest);
    return soonest;
}

static void alt_add(gossip_pull *pl, const gossip_peer *p, const cara_gossip_addr *from)
{
    for (uint8_t k = 0; k < pl->alts_count; k++)
        if (memcmp(pl->alt_pk[k], p->pk, CARA_CRDT_PK_BYTES) == 0)
            return;
    if (pl->alts_count == CARA_GOSSIP_PULL_ALTS_MAX)
        return;
    memcpy(pl->alt_pk[pl->alts_count], p->pk, CARA_CRDT_PK_BYTES);
    pl->alt_addr[pl->alts_count] = *from;
    pl->alts_count++;
}

/* Starts (or restarts) pulling `a` from the advertiser p: true when it is
 * to be asked of p now. */
static bool pull_start(cara_gossip *g, gossip_pull *pl, const cara_wire_ack *a,
                       const gossip_peer *p, const cara_gossip_addr *from, uint64_t now_mono_ms)
{
    if (pl == NULL) {
        pl = pull_slot(g);
        g->pulls_count++;
    }
    *pl = (gossip_pull){.used = true, .hlc = a->hlc, .tries = 1,
                        .deadline_mono_ms = now_mono_ms + g->cfg.pull_timeout_ms};
    memcpy(pl->id, a->id, CARA_CRDT_ID_BYTES);
    alt_add(pl, p, from);
    return true;
}

/* One advert from p: true when its version is to be pulled from p now. */
static bool on_ihave(cara_gossip *g, const gossip_peer *p, const cara_gossip_addr *from,
                     const cara_wire_ack *a, uint64_t now_mono_ms)
{
    uint64_t hlc = 0;
    if (held_hlc(g, a->id, &hlc) && hlc >= a->hlc)
        return false; /* the common case: we hold it, or newer */
    gossip_pull *pl = pull_find(g, a->id);
    if (pl == NULL || (pl->gave_up && a->hlc > pl->hlc))
        return pull_start(g, pl, a, p, from, now_mono_ms);
    /* Already pulling: one pull in flight per slot, and this advertiser
     * is kept in case the one asked does not answer. A newer version is
     * remembered; whoever answers sends the newest it holds. */
    if (a->hlc > pl->hlc)
        pl->hlc = a->hlc;
    if (!pl->gave_up)
        alt_add(pl, p, from);
    return false;
}

void gossip_lazy_on_ihaves(cara_gossip *g, const gossip_peer *p, const cara_gossip_addr *from,
                           const cara_wire_msg *m, uint64_t now_mono_ms)
{
    if (m->ihaves_count == 0)
        return;
    g->stats.ihaves_received += m->ihaves_count;
    cara_wire_msg *pull = cara_env_alloc(g->env, sizeof *pull);
    if (pull == NULL)
        return;
    pull->kind = CARA_WIRE_PULL;
    pull->ihaves_count = 0;
    for (size_t i = 0; i < m->ihaves_count; i++)
        if (on_ihave(g, p, from, &m->ihaves[i], now_mono_ms))
            pull->ihaves[pull->ihaves_count++] = m->ihaves[i];
    if (pull->ihaves_count > 0) {
        g->stats.pulls_sent += pull->ihaves_count;
        gossip_send_msg(g, p->pk, from, pull);
    }
    cara_env_free(g->env, pull);
}

/* ---- Answering ---------------------------------------------------------------- */

/* Flushes the records gathered in `out` as one PUSH datagram. */
static void answer_flush(cara_gossip *g, const gossip_peer *p, const cara_gossip_addr *to,
                         cara_wire_msg *out, size_t *room)
{
    if (out->records_count > 0)
        gossip_send_msg(g, p->pk, to, out);
    out->records_count = 0;
    *room = CARA_GOSSIP_PLAINTEXT_BYTES_MAX - CARA_SWIM_ENVELOPE_RESERVE_BYTES;
}

/* A PULL from p: each version asked for that we hold (or hold newer) is
 * sent back, small records packed into PUSH datagrams, large ones on a
 * stream each, while the answer budget lasts. */
void gossip_lazy_on_pull(cara_gossip *g, const gossip_peer *p, const cara_gossip_addr *from,
                         const cara_wire_msg *m, uint64_t now_mono_ms)
{
    gossip_bucket_fill(&g->pull_bucket, (double)g->cfg.pull_bytes_per_s_max, now_mono_ms);
    cara_wire_msg *out = cara_env_calloc(g->env, 1, sizeof *out);
    if (out == NULL)
        return;
    out->kind = CARA_WIRE_PUSH;
    size_t room = 0;
    answer_flush(g, p, from, out, &room);
    for (size_t i = 0; i < m->ihaves_count; i++) {
        const uint8_t *bytes;
        size_t len;
        uint64_t hlc;
        bool floor;
        if (cara_crdt_get_by_id(g->crdt, m->ihaves[i].id, &bytes, &len, &hlc, &floor) != 0 ||
            floor || hlc < m->ihaves[i].hlc)
            continue; /* not ours to give (any more): another advertiser will be asked */
        if (g->pull_bucket.tokens < (double)len) {
            g->stats.pull_answers_over_budget++;
            continue;
        }
        g->pull_bucket.tokens -= (double)len;
        g->stats.pull_records_sent++;
        size_t item = cara_wire_record_item_bytes(len);
        if (item + CARA_SWIM_ENVELOPE_RESERVE_BYTES > CARA_GOSSIP_PLAINTEXT_BYTES_MAX) {
            gossip_push_record(g, p->pk, from, bytes, len, false, now_mono_ms);
            continue;
        }
        if (item > room)
            answer_flush(g, p, from, out, &room);
        out->records[out->records_count++] = (cara_wire_bytes){.ptr = bytes, .len = len};
        room -= item;
    }
    answer_flush(g, p, from, out, &room);
    cara_env_free(g->env, out);
}

/* ---- Arrivals and timers ------------------------------------------------------------ */

bool gossip_lazy_arrived(cara_gossip *g, const uint8_t id[CARA_CRDT_ID_BYTES], uint64_t hlc)
{
    gossip_pull *pl = pull_find(g, id);
    if (pl == NULL || hlc < pl->hlc)
        return false;
    bool waiting = !pl->gave_up;
    pull_free(g, pl);
    return waiting;
}

/* A pull whose deadline passed: done, asked of the next advertiser, or
 * given up (and kept, quiet, for a few timeouts, so that the adverts still
 * in flight for a version nobody could give us do not start it again). */
static void pull_due(cara_gossip *g, gossip_pull *pl, uint64_t now_mono_ms)
{
    uint64_t hlc = 0;
    if (pl->gave_up || (held_hlc(g, pl->id, &hlc) && hlc >= pl->hlc)) {
        pull_free(g, pl);
        return;
    }
    g->stats.pulls_timed_out++;
    if (pl->tries >= pl->alts_count) {
        pl->gave_up = true;
        pl->deadline_mono_ms = now_mono_ms + 10ull * g->cfg.pull_timeout_ms;
        return;
    }
    cara_wire_msg *m = cara_env_alloc(g->env, sizeof *m);
    if (m == NULL)
        return;
    uint8_t k = pl->tries++;
    m->kind = CARA_WIRE_PULL;
    m->ihaves_count = 1;
    memcpy(m->ihaves[0].id, pl->id, CARA_CRDT_ID_BYTES);
    m->ihaves[0].hlc = pl->hlc;
    pl->deadline_mono_ms = now_mono_ms + g->cfg.pull_timeout_ms;
    g->stats.pulls_sent++;
    gossip_send_msg(g, pl->alt_pk[k], &pl->alt_addr[k], m);
    cara_env_free(g->env, m);
}

void gossip_lazy_tick(cara_gossip *g, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < CARA_GOSSIP_PULLS_MAX && g->pulls_count > 0; i++)
        if (g->pulls[i].used && g->pulls[i].deadline_mono_ms <= now_mono_ms)
            pull_due(g, &g->pulls[i], now_mono_ms);
}

uint64_t gossip_lazy_deadline(const cara_gossip *g)
{
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < CARA_GOSSIP_PULLS_MAX && g->pulls_count > 0; i++)
        if (g->pulls[i].used && g->pulls[i].deadline_mono_ms < d)
            d = g->pulls[i].deadline_mono_ms;
    return d;
}
