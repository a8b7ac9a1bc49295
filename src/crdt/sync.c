/*
 * Anti-entropy over a 16-ary trie of key hashes (docs/crdt.md §Anti-entropy).
 *
 * Every held record sits at the 64-bit prefix of its key hash. A prefix of
 * `depth` nibbles names the range of records whose key hash starts with it;
 * its fingerprint is the XOR of their version hashes, with their count.
 * Peers compare fingerprints from the root down, descending only where they
 * differ, and list entries once a prefix is small. Work and bytes are then
 * proportional to (records that differ) × (trie depth), as in Merkle
 * anti-entropy (Dynamo) and range-based set reconciliation (Meyer, 2023).
 *
 * A message is ["sync", 1, [item...]] with items
 *   [0, depth, prefix, count, fingerprint]   FP: "this is what I hold here"
 *   [1, depth, prefix, entries]              LIST: every entry I hold here
 *   [2, keyhashes]                           WANT: send me these records
 * An entry is 41 bytes: key hash (16), version hash (8, big-endian),
 * generation (8), HLC (8), kind (1); so the peer can tell both what it
 * lacks and whose version wins without seeing the records.
 */
#include <string.h>

#include "crdt/crdt_int.h"

#define SYNC_MAGIC "sync"
#define SYNC_VERSION 1
#define FANOUT_BITS 4
#define FANOUT (1u << FANOUT_BITS)
#define DEPTH_MAX (64 / FANOUT_BITS)
#define ENTRY_BYTES CARA_CRDT_SYNC_ENTRY_BYTES
#define KEYHASH_BYTES 16

enum { ITEM_FP = 0, ITEM_LIST = 1, ITEM_WANT = 2 };

typedef struct span {
    size_t lo, hi; /* indexes into the sorted entries */
    uint64_t fp;
} span;

/* Items are packed into `items` as they are produced and framed at the end,
 * since msgpack wants the count first. */
typedef struct out_ctx {
    cara_crdt *s;
    crdt_entry **v;
    cara_buf items;
    size_t items_count;
    cara_buf *delta;
    size_t delta_limit; /* delta->len never passes it */
    size_t work;        /* entries scanned so far (CARA_CRDT_SYNC_WORK_MAX) */
    bool delta_full;    /* a record did not fit: stop taking on work */
    msgpack_packer pk;
} out_ctx;

/* Room kept in a reply for its frame: the array header, magic, version,
 * the item count and the WANT item's header. */
#define REPLY_FRAME_BYTES CARA_CRDT_SYNC_FRAME_BYTES

static int sink_buf(void *data, const char *p, size_t len)
{
    return cara_buf_append((cara_buf *)data, p, len) == 0 ? 0 : -1;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* The entries whose key hash starts with `prefix` (top depth nibbles). */
static span span_of(const cara_crdt *s, crdt_entry **v, unsigned depth, uint64_t prefix)
{
    uint64_t first = prefix, last = UINT64_MAX;
    if (depth > 0 && depth < DEPTH_MAX)
        last = prefix | (UINT64_MAX >> (FANOUT_BITS * depth));
    else if (depth == DEPTH_MAX)
        last = prefix;
    size_t lo = 0, hi = s->count;
    while (lo < hi) { /* first index with key >= first */
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid]->keyhash_hi < first)
            lo = mid + 1;
        else
            hi = mid;
    }
    span sp = {.lo = lo, .hi = lo, .fp = 0};
    while (sp.hi < s->count && v[sp.hi]->keyhash_hi <= last)
        sp.fp ^= v[sp.hi++]->vhash;
    return sp;
}

static bool prefix_ok(unsigned depth, uint64_t prefix)
{
    if (depth > DEPTH_MAX)
        return false;
    if (depth == DEPTH_MAX)
        return true;
    return (prefix & (UINT64_MAX >> (FANOUT_BITS * depth))) == 0;
}

static int emit_fp(out_ctx *o, unsigned depth, uint64_t prefix, span sp)
{
    msgpack_packer *pk = &o->pk;
    int rc = msgpack_pack_array(pk, 5);
    rc = rc ? rc : msgpack_pack_uint64(pk, ITEM_FP);
    rc = rc ? rc : msgpack_pack_uint64(pk, depth);
    rc = rc ? rc : msgpack_pack_uint64(pk, prefix);
    rc = rc ? rc : msgpack_pack_uint64(pk, sp.hi - sp.lo);
    rc = rc ? rc : msgpack_pack_uint64(pk, sp.fp);
    o->items_count++;
    return rc ? CARA_ETOOBIG : 0;
}

static void entry_encode(const crdt_entry *e, uint8_t out[ENTRY_BYTES])
{
    memcpy(out, e->keyhash, KEYHASH_BYTES);
    put_be64(out + 16, e->vhash);
    put_be64(out + 24, e->rec.generation);
    put_be64(out + 32, e->rec.hlc);
    out[40] = (uint8_t)e->rec.kind;
}

static int emit_list(out_ctx *o, unsigned depth, uint64_t prefix, span sp)
{
    msgpack_packer *pk = &o->pk;
    size_t n = sp.hi - sp.lo;
    int rc = msgpack_pack_array(pk, 4);
    rc = rc ? rc : msgpack_pack_uint64(pk, ITEM_LIST);
    rc = rc ? rc : msgpack_pack_uint64(pk, depth);
    rc = rc ? rc : msgpack_pack_uint64(pk, prefix);
    rc = rc ? rc : msgpack_pack_bin(pk, n * ENTRY_BYTES);
    for (size_t i = sp.lo; rc == 0 && i < sp.hi; i++) {
        uint8_t ent[ENTRY_BYTES];
        entry_encode(o->v[i], ent);
        rc = msgpack_pack_bin_body(pk, ent, sizeof ent);
    }
    o->items_count++;
    return rc ? CARA_ETOOBIG : 0;
}

int cara_crdt_sync_start(cara_crdt *s, cara_buf *msg_out)
{
    crdt_entry **v = crdt_sorted(s);
    if (v == NULL)
        return CARA_ENOMEM;
    span root = span_of(s, v, 0, 0);
    msgpack_packer pk;
    msgpack_packer_init(&pk, msg_out, sink_buf);
    int rc = msgpack_pack_array(&pk, 3);
    rc = rc ? rc : msgpack_pack_str_with_body(&pk, SYNC_MAGIC, strlen(SYNC_MAGIC));
    rc = rc ? rc : msgpack_pack_uint64(&pk, SYNC_VERSION);
    rc = rc ? rc : msgpack_pack_array(&pk, 1);
    rc = rc ? rc : msgpack_pack_array(&pk, 5);
    rc = rc ? rc : msgpack_pack_uint64(&pk, ITEM_FP);
    rc = rc ? rc : msgpack_pack_uint64(&pk, 0);
    rc = rc ? rc : msgpack_pack_uint64(&pk, 0);
    rc = rc ? rc : msgpack_pack_uint64(&pk, root.hi - root.lo);
    rc = rc ? rc : msgpack_pack_uint64(&pk, root.fp);
    return rc ? CARA_ETOOBIG : 0;
}

/* ---- Handling items ---------------------------------------------------------- */

/* Appends a record (or a floor's tombstone) to the delta. One that does
 * not fit is left for a later exchange, where the fingerprints will still
 * differ; the reply stops taking on work, so the delta it promised by its
 * items is not more than the peer can receive. */
static void send_bytes(out_ctx *o, const uint8_t *bytes, size_t len)
{
    if (o->delta->len + len > o->delta_limit ||
        cara_buf_append(o->delta, bytes, len) != 0)
        o->delta_full = true;
}

static void send_record(out_ctx *o, const crdt_entry *e)
{
    send_bytes(o, e->bytes, e->len);
}

/* span_of, counting the entries it walks against the message's work bound. */
static span span_counted(out_ctx *o, unsigned depth, uint64_t prefix)
{
    span sp = span_of(o->s, o->v, depth, prefix);
    o->work += sp.hi - sp.lo + 1;
    return sp;
}

static int on_fp(out_ctx *o, unsigned depth, uint64_t prefix, uint64_t count, uint64_t fp)
{
    span sp = span_counted(o, depth, prefix);
    size_t mine = sp.hi - sp.lo;
    if (mine == count && sp.fp == fp)
        return 0;
    /* Few records here (or no finer prefix): list them, and the peer works
     * out the difference in both directions from the list. */
    if (mine <= CARA_CRDT_SYNC_LEAF_RECORDS || depth == DEPTH_MAX)
        return emit_list(o, depth, prefix, sp);
    for (uint64_t c = 0; c < FANOUT; c++) {
        uint64_t child = prefix | (c << (64 - FANOUT_BITS * (depth + 1)));
        int rc = emit_fp(o, depth + 1, child, span_counted(o, depth + 1, child));
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int want(out_ctx *o, cara_buf *wants, const uint8_t *keyhash)
{
    (void)o;
    return cara_buf_append(wants, keyhash, KEYHASH_BYTES);
}

/* Our version wins over the listed one when the merge order says so; the
 * order on (generation, tombstone, HLC) decides almost always, and on a
 * full tie of those both sides send, and merge picks. */
static int listed_cmp(const crdt_entry *e, const uint8_t *ent)
{
    uint64_t gen = crdt_be64(ent + 24), hlc = crdt_be64(ent + 32);
    int tomb = ent[40] == CARA_CRDT_TOMBSTONE;
    int my_tomb = e->rec.kind == CARA_CRDT_TOMBSTONE;
    if (e->rec.generation != gen)
        return e->rec.generation > gen ? 1 : -1;
    if (my_tomb != tomb)
        return my_tomb - tomb;
    if (e->rec.hlc != hlc)
        return e->rec.hlc > hlc ? 1 : -1;
    return 0;
}

static int on_list(out_ctx *o, unsigned depth, uint64_t prefix, const uint8_t *ents, size_t n,
                   cara_buf *wants)
{
    span sp = span_counted(o, depth, prefix);
    o->work += n;
    size_t i = sp.lo, j = 0;
    /* Both sides are sorted by key hash: one merge-join pass. */
    while (i < sp.hi || j < n) {
        int c = i >= sp.hi ? 1 : j >= n ? -1 : memcmp(o->v[i]->keyhash, ents + j * ENTRY_BYTES, 16);
        if (c < 0) {
            send_record(o, o->v[i++]);
            continue;
        }
        const uint8_t *ent = ents + j * ENTRY_BYTES;
        if (c > 0) {
            /* The peer holds what we collected: prove the delete rather
             * than ask for a record we would refuse. */
            const crdt_floor *f = crdt_floor_find(o->s, ent);
            if (f != NULL && f->rec.generation >= crdt_be64(ent + 24))
                send_bytes(o, f->bytes, f->len);
            else if (want(o, wants, ent) != 0)
                return CARA_ETOOBIG;
            j++;
            continue;
        }
        const crdt_entry *e = o->v[i++];
        j++;
        if (e->vhash == crdt_be64(ent + 16))
            continue;
        int w = listed_cmp(e, ent);
        if (w >= 0)
            send_record(o, e);
        if (w <= 0 && want(o, wants, ent) != 0)
            return CARA_ETOOBIG;
    }
    return 0;
}

static int on_want(out_ctx *o, const uint8_t *hashes, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const crdt_entry *e = crdt_find(o->s, hashes + k * KEYHASH_BYTES);
        if (e != NULL)
            send_record(o, e);
    }
    return 0;
}

/* ---- Decoding a peer's message ---------------------------------------------- */

static bool uint_at(const msgpack_object *a, uint32_t i, uint64_t *v)
{
    if (a->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = a->via.array.ptr[i].via.u64;
    return true;
}

/* A LIST must be sorted, without repeats, and inside its own prefix:
 * the merge-join in on_list relies on all three. */
static bool list_ok(unsigned depth, uint64_t prefix, const uint8_t *ents, size_t n)
{
    uint64_t mask = depth == 0 ? 0 : depth >= DEPTH_MAX ? UINT64_MAX
                                                        : ~(UINT64_MAX >> (FANOUT_BITS * depth));
    for (size_t j = 0; j < n; j++) {
        const uint8_t *e = ents + j * ENTRY_BYTES;
        if ((crdt_be64(e) & mask) != prefix)
            return false;
        if (j > 0 && memcmp(e - ENTRY_BYTES, e, KEYHASH_BYTES) >= 0)
            return false;
    }
    return true;
}

/* One item, checked and decoded; pointers borrow from the message. */
typedef struct item {
    uint64_t type, depth, prefix, count, fp;
    const uint8_t *data; /* LIST entries or WANT key hashes */
    size_t n;
} item;

static int parse_item(const msgpack_object *it, item *out)
{
    memset(out, 0, sizeof *out);
    if (it->type != MSGPACK_OBJECT_ARRAY || it->via.array.size < 2 || !uint_at(it, 0, &out->type))
        return CARA_EPARSE;
    const msgpack_object *f = it->via.array.ptr;
    if (out->type == ITEM_WANT) {
        if (it->via.array.size != 2 || f[1].type != MSGPACK_OBJECT_BIN ||
            f[1].via.bin.size % KEYHASH_BYTES != 0)
            return CARA_EPARSE;
        out->data = (const uint8_t *)f[1].via.bin.ptr;
        out->n = f[1].via.bin.size / KEYHASH_BYTES;
        return 0;
    }
    if (it->via.array.size < 4 || !uint_at(it, 1, &out->depth) || !uint_at(it, 2, &out->prefix) ||
        !prefix_ok((unsigned)(out->depth > DEPTH_MAX ? DEPTH_MAX + 1 : out->depth), out->prefix))
        return CARA_EPARSE;
    if (out->type == ITEM_FP)
        return it->via.array.size == 5 && uint_at(it, 3, &out->count) && uint_at(it, 4, &out->fp)
                   ? 0
                   : CARA_EPARSE;
    if (out->type != ITEM_LIST || it->via.array.size != 4 || f[3].type != MSGPACK_OBJECT_BIN ||
        f[3].via.bin.size % ENTRY_BYTES != 0)
        return CARA_EPARSE;
    out->data = (const uint8_t *)f[3].via.bin.ptr;
    out->n = f[3].via.bin.size / ENTRY_BYTES;
    return list_ok((unsigned)out->depth, out->prefix, out->data, out->n) ? 0 : CARA_EPARSE;
}

static bool item_well_formed(const msgpack_object *it)
{
    item x;
    return parse_item(it, &x) == 0;
}

static int handle_item(out_ctx *o, const msgpack_object *it, cara_buf *wants)
{
    item x;
    int rc = parse_item(it, &x);
    if (rc != 0)
        return rc;
    if (x.type == ITEM_WANT)
        return on_want(o, x.data, x.n);
    if (x.type == ITEM_FP)
        return on_fp(o, (unsigned)x.depth, x.prefix, x.count, x.fp);
    return on_list(o, (unsigned)x.depth, x.prefix, x.data, x.n, wants);
}

/* Bytes the reply would take with what is packed so far. */
static size_t reply_bytes(const out_ctx *o, const cara_buf *wants)
{
    return o->items.len + wants->len + REPLY_FRAME_BYTES;
}

/* Handles the items within the budget, starting at a rotating index so
 * that items that cannot be settled (a record the peer keeps refusing)
 * do not take the budget of every exchange. An item whose output would
 * pass the budget is undone and left, with the rest, for a later
 * exchange: the peer's fingerprints still differ there. */
static int handle_budgeted(out_ctx *o, const msgpack_object *items, size_t budget,
                           cara_buf *wants)
{
    uint32_t n = items->via.array.size;
    uint32_t first = n ? (uint32_t)(o->s->sync_rotation++ % n) : 0;
    for (uint32_t k = 0; k < n; k++) {
        size_t items_len = o->items.len, items_count = o->items_count, wants_len = wants->len;
        int rc = handle_item(o, &items->via.array.ptr[(first + k) % n], wants);
        bool over = reply_bytes(o, wants) > budget ||
                    o->items_count + 1 > CARA_CRDT_SYNC_ITEMS_MAX; /* +1: the WANT item */
        if (rc == CARA_ETOOBIG || (rc == 0 && over)) {
            o->items.len = items_len;
            o->items_count = items_count;
            wants->len = wants_len;
            o->s->stats.sync_deferred += n - k;
            return 0;
        }
        if (rc != 0)
            return rc;
        /* A message of items that overlap (which no honest peer sends:
         * its items name disjoint prefixes) could make this walk the state
         * many times over; past the bound the rest waits. */
        bool worked_out = o->work > CARA_CRDT_SYNC_WORK_MAX;
        if (o->delta_full || worked_out) {
            o->s->stats.sync_deferred += n - k - 1;
            o->s->stats.sync_work_capped += worked_out;
            return 0;
        }
    }
    return 0;
}

static int handle_items(out_ctx *o, const msgpack_object *m, size_t budget, cara_buf *wants)
{
    if (m->type != MSGPACK_OBJECT_ARRAY || m->via.array.size != 3)
        return CARA_EPARSE;
    const msgpack_object *f = m->via.array.ptr;
    uint64_t version;
    if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != strlen(SYNC_MAGIC) ||
        memcmp(f[0].via.str.ptr, SYNC_MAGIC, strlen(SYNC_MAGIC)) != 0 || !uint_at(m, 1, &version))
        return CARA_EPARSE;
    if (version != SYNC_VERSION)
        return CARA_EUNSUPPORTED;
    if (f[2].type != MSGPACK_OBJECT_ARRAY || f[2].via.array.size > CARA_CRDT_SYNC_ITEMS_MAX)
        return CARA_EPARSE;
    /* Malformed items are refused before any work is done, so that a
     * message is either handled (perhaps in part) or refused whole. */
    for (uint32_t i = 0; i < f[2].via.array.size; i++)
        if (!item_well_formed(&f[2].via.array.ptr[i]))
            return CARA_EPARSE;
    return handle_budgeted(o, &f[2], budget, wants);
}

static int frame_reply(out_ctx *o, cara_buf *wants, cara_buf *reply_out)
{
    if (wants->len > 0) {
        int rc = msgpack_pack_array(&o->pk, 2);
        rc = rc ? rc : msgpack_pack_uint64(&o->pk, ITEM_WANT);
        rc = rc ? rc : msgpack_pack_bin_with_body(&o->pk, wants->data, wants->len);
        if (rc != 0)
            return CARA_ETOOBIG;
        o->items_count++;
    }
    if (o->items_count == 0)
        return 0;
    if (o->items_count > CARA_CRDT_SYNC_ITEMS_MAX)
        return CARA_ETOOBIG;
    size_t start = reply_out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, reply_out, sink_buf);
    int rc = msgpack_pack_array(&pk, 3);
    rc = rc ? rc : msgpack_pack_str_with_body(&pk, SYNC_MAGIC, strlen(SYNC_MAGIC));
    rc = rc ? rc : msgpack_pack_uint64(&pk, SYNC_VERSION);
    rc = rc ? rc : msgpack_pack_array(&pk, (uint32_t)o->items_count);
    rc = rc ? rc : (cara_buf_append(reply_out, o->items.data, o->items.len) == 0 ? 0 : -1);
    if (rc != 0) {
        reply_out->len = start;
        return CARA_ETOOBIG;
    }
    return 0;
}

int cara_crdt_sync_recv(cara_crdt *s, const uint8_t *msg, size_t len, cara_buf *reply_out,
                        cara_buf *delta_out)
{
    CARA_ASSERT(s != NULL && reply_out != NULL && delta_out != NULL);
    size_t total = 0;
    if (msg == NULL || len > CARA_CRDT_SYNC_MSG_BYTES_MAX)
        return CARA_ETOOBIG;
    int rc = cara_mpcheck(msg, len, 4, &total);
    if (rc != 0 || total != len)
        return CARA_EPARSE;
    /* The budgets: what the caller's buffers can still take, and never a
     * reply the peer would refuse. */
    size_t reply_room = reply_out->bytes_max - reply_out->len;
    size_t budget = reply_room < CARA_CRDT_SYNC_MSG_BYTES_MAX ? reply_room
                                                               : CARA_CRDT_SYNC_MSG_BYTES_MAX;
    if (budget <= REPLY_FRAME_BYTES)
        return CARA_ETOOBIG;
    out_ctx o = {.s = s, .v = crdt_sorted(s), .delta = delta_out,
                 .delta_limit = delta_out->bytes_max};
    if (o.v == NULL)
        return CARA_ENOMEM;
    cara_buf wants;
    cara_buf_init(&o.items, s->env, budget);
    cara_buf_init(&wants, s->env, budget);
    msgpack_packer_init(&o.pk, &o.items, sink_buf);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    rc = msgpack_unpack_next(&up, (const char *)msg, len, &off) == MSGPACK_UNPACK_SUCCESS
             ? handle_items(&o, &up.data, budget, &wants)
             : CARA_EPARSE;
    if (rc == 0)
        rc = frame_reply(&o, &wants, reply_out);
    msgpack_unpacked_destroy(&up);
    cara_buf_free(&wants);
    cara_buf_free(&o.items);
    return rc;
}
