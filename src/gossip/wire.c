/*
 * The gossip wire codec (wire_int.h, docs/gossip.md "Wire").
 *
 * Writing goes through msgpack-c's packer, whose output is the shortest
 * form of every integer, string, binary and array header. Reading goes
 * through msgpack-c's unpacker, after the project's structural pre-scan
 * (src/base/mpcheck.c) has refused truncated input, lying counts, deep
 * nesting and more elements than the largest message our caps admit:
 * msgpack-c allocates 24 bytes for every element an array claims, so the
 * element bound, not the 4 MiB a stream message may span, is what bounds
 * its allocation (WIRE_ZONE_BYTES_MAX). Binders then check every type,
 * length, range and cap on the object tree, and the decoded message is
 * re-encoded against the input, which refuses overlong forms: a decoded
 * message encodes to the very bytes received.
 */
#include <msgpack.h>
#include <string.h>

#include "gossip/wire_int.h"

_Static_assert(CARA_CRDT_ID_BYTES == 16, "CARA_WIRE_ACK_ITEM_BYTES_MAX counts a 16-byte id");
_Static_assert(CARA_WIRE_CLEAR_HEADER_BYTES == 2 + 1 + 4, "magic, version, length");
_Static_assert(CARA_WIRE_IHAVE_BYTES == CARA_CRDT_ID_BYTES + 8, "an advert is a slot id and an HLC");

/* The outer array's length for each kind. */
#define SHAPE_SWIM 5    /* version, kind, membership message, records, adverts */
#define SHAPE_PUSH 4    /* version, kind, want_ack, records */
#define SHAPE_ACK 3     /* version, kind, [[id, hlc], ...] */
#define SHAPE_PULL 3    /* version, kind, bin of (id, hlc) entries */
#define SHAPE_BLOB 3    /* version, kind, bin (SYNC, DELTA) */
#define SHAPE_DONE 2    /* version, kind */
#define SHAPE_HELLO 6   /* version, kind, name, key, addr, records (JOIN, WELCOME) */
#define SHAPE_REFUSED 4 /* version, kind, reason, text */
#define SWIM_FIELDS 7   /* type, seq, target name, key, addr, digest, updates */
#define UPDATE_FIELDS 6 /* kind, incarnation, name, key, addr, accuser */
/* Nesting: outer array > membership message > updates > update. */
#define WIRE_DEPTH_MAX 5

/* ---- Kinds and places ------------------------------------------------------ */

static bool kind_known(int kind)
{
    switch (kind) {
    case CARA_WIRE_SWIM: case CARA_WIRE_PUSH: case CARA_WIRE_ACK: case CARA_WIRE_PULL:
    case CARA_WIRE_SYNC: case CARA_WIRE_DELTA: case CARA_WIRE_DONE:
    case CARA_WIRE_JOIN: case CARA_WIRE_WELCOME: case CARA_WIRE_REFUSED:
        return true;
    default:
        return false;
    }
}

static bool kind_in(int kind, int where)
{
    switch (where) {
    case CARA_WIRE_IN_DATAGRAM:
        return kind == CARA_WIRE_SWIM || kind == CARA_WIRE_PUSH || kind == CARA_WIRE_ACK ||
               kind == CARA_WIRE_PULL;
    case CARA_WIRE_IN_STREAM:
        return kind == CARA_WIRE_PUSH || kind == CARA_WIRE_ACK || kind == CARA_WIRE_SYNC ||
               kind == CARA_WIRE_DELTA || kind == CARA_WIRE_DONE;
    case CARA_WIRE_IN_CLEAR:
        return kind == CARA_WIRE_JOIN || kind == CARA_WIRE_WELCOME || kind == CARA_WIRE_REFUSED;
    default:
        return false;
    }
}

/* The longest message each place admits. */
static size_t place_bytes_max(int where)
{
    switch (where) {
    case CARA_WIRE_IN_DATAGRAM: return CARA_GOSSIP_PLAINTEXT_BYTES_MAX;
    case CARA_WIRE_IN_STREAM: return CARA_WIRE_STREAM_MSG_BYTES_MAX;
    case CARA_WIRE_IN_CLEAR: return CARA_WIRE_CLEAR_BYTES_MAX - CARA_WIRE_CLEAR_HEADER_BYTES;
    default: return 0;
    }
}

/* ---- What a valid message is (shared by encode and, as a check, decode) -- */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static bool name_ok(size_t len)
{
    return len >= 1 && len <= CARA_SWIM_NAME_BYTES_MAX;
}

static bool id_ok(const cara_swim_id *id, const cara_swim_addr *addr)
{
    return name_ok(id->name_len) && addr->len <= CARA_SWIM_ADDR_BYTES_MAX;
}

static bool update_ok(const cara_swim_update *u)
{
    return u->kind >= CARA_SWIM_ALIVE && u->kind <= CARA_SWIM_LEFT &&
           u->incarnation <= CARA_SWIM_INCARNATION_MAX && id_ok(&u->member, &u->addr) &&
           u->accuser_len <= CARA_SWIM_NAME_BYTES_MAX;
}

/* A message with no target (ACK, NACK) has an empty name, a zero key and
 * no address; it is written as three nils. */
static bool swim_ok(const cara_swim_msg *m)
{
    if (m->type < CARA_SWIM_PING || m->type > CARA_SWIM_GOSSIP ||
        m->updates_count > CARA_SWIM_PIGGYBACK_MAX)
        return false;
    if (m->target.name_len == 0) {
        if (!all_zero(m->target.key, CARA_SWIM_KEY_BYTES) || m->target_addr.len != 0)
            return false;
    } else if (!id_ok(&m->target, &m->target_addr)) {
        return false;
    }
    for (size_t i = 0; i < m->updates_count; i++)
        if (!update_ok(&m->updates[i]))
            return false;
    return true;
}

static bool records_ok(const cara_wire_msg *m)
{
    if (m->records_count > CARA_WIRE_RECORDS_MAX)
        return false;
    for (size_t i = 0; i < m->records_count; i++)
        if (m->records[i].ptr == NULL || m->records[i].len == 0 ||
            m->records[i].len > CARA_CRDT_RECORD_BYTES_MAX)
            return false;
    return true;
}

static bool text_ok(const char *text, size_t len)
{
    if (len > CARA_WIRE_TEXT_BYTES_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
            return false;
    return true;
}

/* Any negative code of the error range, known to this build or not, so
 * that a newer seed's reason still reaches the operator. */
static bool reason_ok(int32_t reason)
{
    return reason < 0 && reason > CARA_ERROR_FIRST_;
}

static bool blob_ok(const cara_wire_msg *m)
{
    size_t max = m->kind == CARA_WIRE_SYNC ? CARA_CRDT_SYNC_MSG_BYTES_MAX
                                           : CARA_WIRE_DELTA_BYTES_MAX;
    return m->blob.len <= max && (m->blob.ptr != NULL || m->blob.len == 0);
}

static bool msg_ok(const cara_wire_msg *m)
{
    switch (m->kind) {
    case CARA_WIRE_SWIM:
        return swim_ok(&m->swim) && records_ok(m) && m->ihaves_count <= CARA_WIRE_IHAVES_MAX;
    case CARA_WIRE_PULL:
        return m->ihaves_count <= CARA_WIRE_IHAVES_MAX;
    case CARA_WIRE_PUSH:
        return records_ok(m);
    case CARA_WIRE_ACK:
        return m->acks_count <= CARA_WIRE_ACKS_MAX;
    case CARA_WIRE_SYNC:
    case CARA_WIRE_DELTA:
        return blob_ok(m);
    case CARA_WIRE_DONE:
        return true;
    case CARA_WIRE_JOIN:
    case CARA_WIRE_WELCOME:
        return id_ok(&m->node, &m->addr) && records_ok(m);
    case CARA_WIRE_REFUSED:
        return reason_ok(m->reason) && text_ok(m->text, m->text_len);
    default:
        return false;
    }
}

/* ---- Writing ----------------------------------------------------------------
 * One sink for msgpack-c's packer: with `out` NULL it only counts, so the
 * size is known (and checked against the cap) before `out` is touched. */

typedef struct sink {
    cara_buf *out;
    size_t written;
    size_t cap;
    int rc;
} sink;

static int sink_write(void *data, const char *bytes, size_t len)
{
    sink *s = data;
    if (s->rc != 0)
        return -1;
    if (len > s->cap - s->written) {
        s->rc = CARA_ETOOBIG;
        return -1;
    }
    if (s->out != NULL) {
        int rc = cara_buf_append(s->out, bytes, len);
        if (rc != 0) {
            s->rc = rc;
            return -1;
        }
    }
    s->written += len;
    return 0;
}

static int pack_str(msgpack_packer *pk, const void *p, size_t len)
{
    return msgpack_pack_str_with_body(pk, p, len);
}

static int pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
    return msgpack_pack_bin_with_body(pk, p, len);
}

static int pack_update(msgpack_packer *pk, const cara_swim_update *u)
{
    int rc = msgpack_pack_array(pk, UPDATE_FIELDS);
    rc = rc ? rc : msgpack_pack_uint8(pk, u->kind);
    rc = rc ? rc : msgpack_pack_uint32(pk, u->incarnation);
    rc = rc ? rc : pack_str(pk, u->member.name, u->member.name_len);
    rc = rc ? rc : pack_bin(pk, u->member.key, CARA_SWIM_KEY_BYTES);
    rc = rc ? rc : pack_bin(pk, u->addr.bytes, u->addr.len);
    rc = rc ? rc : pack_str(pk, u->accuser, u->accuser_len);
    return rc;
}

static int pack_swim(msgpack_packer *pk, const cara_swim_msg *m)
{
    int rc = msgpack_pack_array(pk, SWIM_FIELDS);
    rc = rc ? rc : msgpack_pack_uint8(pk, m->type);
    rc = rc ? rc : msgpack_pack_uint32(pk, m->seq);
    if (m->target.name_len == 0) {
        for (int i = 0; i < 3; i++)
            rc = rc ? rc : msgpack_pack_nil(pk);
    } else {
        rc = rc ? rc : pack_str(pk, m->target.name, m->target.name_len);
        rc = rc ? rc : pack_bin(pk, m->target.key, CARA_SWIM_KEY_BYTES);
        rc = rc ? rc : pack_bin(pk, m->target_addr.bytes, m->target_addr.len);
    }
    rc = rc ? rc : msgpack_pack_uint32(pk, m->digest);
    rc = rc ? rc : msgpack_pack_array(pk, m->updates_count);
    for (size_t i = 0; rc == 0 && i < m->updates_count; i++)
        rc = pack_update(pk, &m->updates[i]);
    return rc;
}

static int pack_records(msgpack_packer *pk, const cara_wire_msg *m)
{
    int rc = msgpack_pack_array(pk, m->records_count);
    for (size_t i = 0; rc == 0 && i < m->records_count; i++)
        rc = pack_bin(pk, m->records[i].ptr, m->records[i].len);
    return rc;
}

static int pack_acks(msgpack_packer *pk, const cara_wire_msg *m)
{
    int rc = msgpack_pack_array(pk, m->acks_count);
    for (size_t i = 0; rc == 0 && i < m->acks_count; i++) {
        rc = msgpack_pack_array(pk, 2);
        rc = rc ? rc : pack_bin(pk, m->acks[i].id, CARA_CRDT_ID_BYTES);
        rc = rc ? rc : msgpack_pack_uint64(pk, m->acks[i].hlc);
    }
    return rc;
}

/* The adverts as one bin: each entry's 16-byte id, then its HLC in 8
 * bytes big-endian. A flat bin costs 24 bytes an entry where an array of
 * [bin, uint] would cost 28, and it is one msgpack element whatever its
 * length, so it adds nothing to the decoder's allocation bound. */
static int pack_ihaves(msgpack_packer *pk, const cara_wire_msg *m)
{
    uint8_t flat[CARA_WIRE_IHAVES_MAX * CARA_WIRE_IHAVE_BYTES];
    CARA_ASSERT(m->ihaves_count <= CARA_WIRE_IHAVES_MAX);
    for (size_t i = 0; i < m->ihaves_count; i++) {
        uint8_t *e = flat + i * CARA_WIRE_IHAVE_BYTES;
        memcpy(e, m->ihaves[i].id, CARA_CRDT_ID_BYTES);
        for (int b = 0; b < 8; b++)
            e[CARA_CRDT_ID_BYTES + b] = (uint8_t)(m->ihaves[i].hlc >> (56 - 8 * b));
    }
    return pack_bin(pk, flat, m->ihaves_count * CARA_WIRE_IHAVE_BYTES);
}

static size_t shape_of(int kind)
{
    switch (kind) {
    case CARA_WIRE_SWIM: return SHAPE_SWIM;
    case CARA_WIRE_PUSH: return SHAPE_PUSH;
    case CARA_WIRE_ACK: return SHAPE_ACK;
    case CARA_WIRE_PULL: return SHAPE_PULL;
    case CARA_WIRE_SYNC: case CARA_WIRE_DELTA: return SHAPE_BLOB;
    case CARA_WIRE_DONE: return SHAPE_DONE;
    case CARA_WIRE_JOIN: case CARA_WIRE_WELCOME: return SHAPE_HELLO;
    case CARA_WIRE_REFUSED: return SHAPE_REFUSED;
    default: return 0;
    }
}

/* Packs a message msg_ok() accepted. */
static int pack_msg(msgpack_packer *pk, const cara_wire_msg *m)
{
    int rc = msgpack_pack_array(pk, shape_of(m->kind));
    rc = rc ? rc : msgpack_pack_uint8(pk, CARA_WIRE_VERSION);
    rc = rc ? rc : msgpack_pack_uint8(pk, m->kind);
    if (rc != 0)
        return rc;
    switch (m->kind) {
    case CARA_WIRE_SWIM:
        rc = pack_swim(pk, &m->swim);
        rc = rc ? rc : pack_records(pk, m);
        return rc ? rc : pack_ihaves(pk, m);
    case CARA_WIRE_PULL:
        return pack_ihaves(pk, m);
    case CARA_WIRE_PUSH:
        rc = m->want_ack ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        return rc ? rc : pack_records(pk, m);
    case CARA_WIRE_ACK:
        return pack_acks(pk, m);
    case CARA_WIRE_SYNC:
    case CARA_WIRE_DELTA:
        return pack_bin(pk, m->blob.ptr, m->blob.len);
    case CARA_WIRE_DONE:
        return 0;
    case CARA_WIRE_JOIN:
    case CARA_WIRE_WELCOME:
        rc = pack_str(pk, m->node.name, m->node.name_len);
        rc = rc ? rc : pack_bin(pk, m->node.key, CARA_SWIM_KEY_BYTES);
        rc = rc ? rc : pack_bin(pk, m->addr.bytes, m->addr.len);
        return rc ? rc : pack_records(pk, m);
    case CARA_WIRE_REFUSED:
        rc = msgpack_pack_int32(pk, m->reason);
        return rc ? rc : pack_str(pk, m->text, m->text_len);
    default:
        CARA_UNREACHABLE();
    }
}

size_t cara_wire_encoded_bytes(const cara_wire_msg *m)
{
    CARA_ASSERT(m != NULL);
    if (!msg_ok(m))
        return 0;
    sink s = {.cap = SIZE_MAX};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, sink_write);
    CARA_ASSERT(pack_msg(&pk, m) == 0);
    return s.written;
}

int cara_wire_encode(const cara_wire_msg *m, size_t cap, cara_buf *out)
{
    CARA_ASSERT(m != NULL && out != NULL);
    size_t need = cara_wire_encoded_bytes(m);
    if (need == 0)
        return CARA_EINVAL;
    if (need > cap)
        return CARA_ETOOBIG;
    size_t len_before = out->len;
    sink s = {.out = out, .cap = need};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, sink_write);
    if (pack_msg(&pk, m) != 0) {
        CARA_ASSERT(s.rc != 0);
        out->len = len_before;
        if (out->data != NULL)
            out->data[len_before] = 0;
        return s.rc;
    }
    CARA_ASSERT(s.written == need);
    return 0;
}

size_t cara_wire_record_item_bytes(size_t len)
{
    size_t hdr = len < 256 ? 2 : len < 65536 ? 3 : 5;
    return hdr + len;
}

size_t cara_wire_swim_bytes(const cara_swim_msg *m)
{
    CARA_ASSERT(m != NULL);
    if (!swim_ok(m))
        return SIZE_MAX;
    sink s = {.cap = SIZE_MAX};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, sink_write);
    CARA_ASSERT(pack_swim(&pk, m) == 0);
    /* fixarray(5), version, kind, array16's header for the records and
     * bin16's for the adverts. */
    return 1 + 1 + 1 + s.written + 3 + 3;
}

/* ---- Reading ------------------------------------------------------------------
 * The pre-scan bounds depth and elements, msgpack-c builds the object tree
 * in a zone sized for that bound, and the binders below check types, exact
 * lengths, ranges and caps on the tree. msgpack-c does not say which form
 * a value came in, so the shortest-form rule is checked by re-encoding the
 * decoded message against the input (reencodes_to). */

/* Elements (cara_mpcheck_bounded: msgpack_objects msgpack-c allocates) of
 * the largest message each kind's caps admit. An update is one element of
 * the updates array plus its six fields; an ack, one plus its two. */
#define ELEMENTS_SWIM                                                                  \
    (SHAPE_SWIM + SWIM_FIELDS + CARA_SWIM_PIGGYBACK_MAX * (1 + UPDATE_FIELDS) +        \
     CARA_WIRE_RECORDS_MAX)
#define ELEMENTS_PUSH (SHAPE_PUSH + CARA_WIRE_RECORDS_MAX)
#define ELEMENTS_ACK (SHAPE_ACK + CARA_WIRE_ACKS_MAX * (1 + 2))
#define ELEMENTS_PULL SHAPE_PULL
#define ELEMENTS_HELLO (SHAPE_HELLO + CARA_WIRE_RECORDS_MAX)
#define ELEMENTS_OTHER (SHAPE_BLOB > SHAPE_REFUSED ? SHAPE_BLOB : SHAPE_REFUSED)
/* The bound the pre-scan enforces: the largest of the above (1147 with
 * today's caps). A message with more elements breaks some cap. */
#define WIRE_ELEMENTS_MAX ELEMENTS_SWIM
_Static_assert(WIRE_ELEMENTS_MAX >= ELEMENTS_PUSH && WIRE_ELEMENTS_MAX >= ELEMENTS_ACK &&
                   WIRE_ELEMENTS_MAX >= ELEMENTS_HELLO && WIRE_ELEMENTS_MAX >= ELEMENTS_OTHER &&
                   WIRE_ELEMENTS_MAX >= ELEMENTS_PULL &&
                   WIRE_ELEMENTS_MAX >= SHAPE_DONE,
               "the element bound admits the largest message of every kind");
/* What msgpack-c may allocate for any input the pre-scan lets through: one
 * zone chunk of this many bytes (27,528 on LP64), plus the chunk's own
 * header, freed before cara_wire_decode returns (docs/gossip.md, "Wire"). */
#define WIRE_ZONE_BYTES_MAX (WIRE_ELEMENTS_MAX * sizeof(msgpack_object))
_Static_assert(WIRE_ZONE_BYTES_MAX <= 32 * 1024, "decoding a wire message allocates under 32 KiB");
/* Every zone allocation is a multiple of the zone's alignment, so the
 * allocations of one message pack the chunk without padding. */
_Static_assert(sizeof(msgpack_object) % MSGPACK_ZONE_ALIGN == 0 &&
                   sizeof(msgpack_object_kv) == 2 * sizeof(msgpack_object),
               "elements times sizeof(msgpack_object) is all the zone holds");

static bool ob_type(const msgpack_object *o, msgpack_object_type t)
{
    return o->type == t;
}

/* An array of exactly n elements. */
static bool ob_array(const msgpack_object *o, size_t n)
{
    return ob_type(o, MSGPACK_OBJECT_ARRAY) && o->via.array.size == n;
}

/* A non-negative integer no larger than max. */
static bool ob_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (!ob_type(o, MSGPACK_OBJECT_POSITIVE_INTEGER) || o->via.u64 > max)
        return false;
    *v = o->via.u64;
    return true;
}

static bool ob_str(const msgpack_object *o, const uint8_t **p, size_t *n)
{
    if (!ob_type(o, MSGPACK_OBJECT_STR))
        return false;
    *p = (const uint8_t *)o->via.str.ptr;
    *n = o->via.str.size;
    return true;
}

static bool ob_bin(const msgpack_object *o, const uint8_t **p, size_t *n)
{
    if (!ob_type(o, MSGPACK_OBJECT_BIN))
        return false;
    *p = (const uint8_t *)o->via.bin.ptr;
    *n = o->via.bin.size;
    return true;
}

/* ---- Binding fields -----------------------------------------------------------
 * msgpack-c may give an empty string or binary a NULL pointer, which
 * memcpy must not see even for no bytes. */

static void copy_out(void *dst, const uint8_t *src, size_t n)
{
    if (n > 0)
        memcpy(dst, src, n);
}

/* A name: 1..64 bytes of str. */
static int bind_name(const msgpack_object *o, char *name, uint8_t *name_len)
{
    const uint8_t *p;
    size_t n;
    if (!ob_str(o, &p, &n) || !name_ok(n))
        return CARA_EPARSE;
    copy_out(name, p, n);
    *name_len = (uint8_t)n;
    return 0;
}

static int bind_key(const msgpack_object *o, uint8_t key[CARA_SWIM_KEY_BYTES])
{
    const uint8_t *p;
    size_t n;
    if (!ob_bin(o, &p, &n) || n != CARA_SWIM_KEY_BYTES)
        return CARA_EPARSE;
    copy_out(key, p, n);
    return 0;
}

static int bind_addr(const msgpack_object *o, cara_swim_addr *addr)
{
    const uint8_t *p;
    size_t n;
    if (!ob_bin(o, &p, &n) || n > CARA_SWIM_ADDR_BYTES_MAX)
        return CARA_EPARSE;
    copy_out(addr->bytes, p, n);
    addr->len = (uint8_t)n;
    return 0;
}

/* name, key, address at f[0..2]. */
static int bind_id(const msgpack_object *f, cara_swim_id *id, cara_swim_addr *addr)
{
    if (bind_name(&f[0], id->name, &id->name_len) != 0 || bind_key(&f[1], id->key) != 0 ||
        bind_addr(&f[2], addr) != 0)
        return CARA_EPARSE;
    return 0;
}

static int bind_update(const msgpack_object *o, cara_swim_update *u)
{
    if (!ob_array(o, UPDATE_FIELDS))
        return CARA_EPARSE;
    const msgpack_object *f = o->via.array.ptr;
    uint64_t kind, inc;
    if (!ob_uint(&f[0], CARA_SWIM_LEFT, &kind) || kind < CARA_SWIM_ALIVE ||
        !ob_uint(&f[1], CARA_SWIM_INCARNATION_MAX, &inc))
        return CARA_EPARSE;
    u->kind = (uint8_t)kind;
    u->incarnation = (uint32_t)inc;
    if (bind_id(&f[2], &u->member, &u->addr) != 0)
        return CARA_EPARSE;
    const uint8_t *p;
    size_t n;
    if (!ob_str(&f[5], &p, &n) || n > CARA_SWIM_NAME_BYTES_MAX)
        return CARA_EPARSE;
    copy_out(u->accuser, p, n);
    u->accuser_len = (uint8_t)n;
    return 0;
}

/* [type, seq, target name, target key, target addr, digest, updates]; the
 * target is three nils or a name, a key and an address. */
static int bind_swim(const msgpack_object *o, cara_swim_msg *m)
{
    if (!ob_array(o, SWIM_FIELDS))
        return CARA_EPARSE;
    const msgpack_object *f = o->via.array.ptr;
    uint64_t type, seq, digest;
    if (!ob_uint(&f[0], CARA_SWIM_GOSSIP, &type) || type < CARA_SWIM_PING ||
        !ob_uint(&f[1], UINT32_MAX, &seq) || !ob_uint(&f[5], UINT32_MAX, &digest))
        return CARA_EPARSE;
    if (ob_type(&f[2], MSGPACK_OBJECT_NIL)) {
        if (!ob_type(&f[3], MSGPACK_OBJECT_NIL) || !ob_type(&f[4], MSGPACK_OBJECT_NIL))
            return CARA_EPARSE;
    } else if (bind_id(&f[2], &m->target, &m->target_addr) != 0) {
        return CARA_EPARSE;
    }
    if (!ob_type(&f[6], MSGPACK_OBJECT_ARRAY))
        return CARA_EPARSE;
    size_t n = f[6].via.array.size;
    if (n > CARA_SWIM_PIGGYBACK_MAX)
        return CARA_ETOOBIG;
    m->type = (uint8_t)type;
    m->seq = (uint32_t)seq;
    m->digest = (uint32_t)digest;
    m->updates_count = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        if (bind_update(&f[6].via.array.ptr[i], &m->updates[i]) != 0)
            return CARA_EPARSE;
    return 0;
}

static int bind_records(const msgpack_object *o, cara_wire_msg *m)
{
    if (!ob_type(o, MSGPACK_OBJECT_ARRAY))
        return CARA_EPARSE;
    size_t n = o->via.array.size;
    if (n > CARA_WIRE_RECORDS_MAX)
        return CARA_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        cara_wire_bytes *b = &m->records[i];
        if (!ob_bin(&o->via.array.ptr[i], &b->ptr, &b->len) || b->len == 0)
            return CARA_EPARSE;
        if (b->len > CARA_CRDT_RECORD_BYTES_MAX)
            return CARA_ETOOBIG;
    }
    m->records_count = n;
    return 0;
}

static int bind_acks(const msgpack_object *o, cara_wire_msg *m)
{
    if (!ob_type(o, MSGPACK_OBJECT_ARRAY))
        return CARA_EPARSE;
    size_t n = o->via.array.size;
    if (n > CARA_WIRE_ACKS_MAX)
        return CARA_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *a = &o->via.array.ptr[i];
        const uint8_t *id;
        size_t id_len;
        if (!ob_array(a, 2) || !ob_bin(&a->via.array.ptr[0], &id, &id_len) ||
            id_len != CARA_CRDT_ID_BYTES ||
            !ob_uint(&a->via.array.ptr[1], UINT64_MAX, &m->acks[i].hlc))
            return CARA_EPARSE;
        copy_out(m->acks[i].id, id, CARA_CRDT_ID_BYTES);
    }
    m->acks_count = n;
    return 0;
}

/* The adverts' bin: a whole number of entries, at most CARA_WIRE_IHAVES_MAX. */
static int bind_ihaves(const msgpack_object *o, cara_wire_msg *m)
{
    const uint8_t *p;
    size_t n;
    if (!ob_bin(o, &p, &n) || n % CARA_WIRE_IHAVE_BYTES != 0)
        return CARA_EPARSE;
    if (n / CARA_WIRE_IHAVE_BYTES > CARA_WIRE_IHAVES_MAX)
        return CARA_ETOOBIG;
    m->ihaves_count = n / CARA_WIRE_IHAVE_BYTES;
    for (size_t i = 0; i < m->ihaves_count; i++) {
        const uint8_t *e = p + i * CARA_WIRE_IHAVE_BYTES;
        memcpy(m->ihaves[i].id, e, CARA_CRDT_ID_BYTES);
        uint64_t hlc = 0;
        for (int b = 0; b < 8; b++)
            hlc = (hlc << 8) | e[CARA_CRDT_ID_BYTES + b];
        m->ihaves[i].hlc = hlc;
    }
    return 0;
}

static int bind_blob(const msgpack_object *o, cara_wire_msg *m)
{
    if (!ob_bin(o, &m->blob.ptr, &m->blob.len))
        return CARA_EPARSE;
    return blob_ok(m) ? 0 : CARA_ETOOBIG;
}

static int bind_refused(const msgpack_object *f, cara_wire_msg *m)
{
    const uint8_t *p;
    size_t n;
    if (!ob_type(&f[0], MSGPACK_OBJECT_NEGATIVE_INTEGER) || f[0].via.i64 <= CARA_ERROR_FIRST_ ||
        !ob_str(&f[1], &p, &n))
        return CARA_EPARSE;
    if (n > CARA_WIRE_TEXT_BYTES_MAX)
        return CARA_ETOOBIG;
    if (!text_ok((const char *)p, n))
        return CARA_EPARSE;
    m->reason = (int32_t)f[0].via.i64;
    copy_out(m->text, p, n);
    m->text_len = (uint16_t)n;
    return 0;
}

/* Binds f[2..], the fields after version and kind, whose number shape_of
 * has checked. */
static int bind_body(const msgpack_object *f, cara_wire_msg *m)
{
    switch (m->kind) {
    case CARA_WIRE_SWIM: {
        int rc = bind_swim(&f[2], &m->swim);
        rc = rc ? rc : bind_records(&f[3], m);
        return rc ? rc : bind_ihaves(&f[4], m);
    }
    case CARA_WIRE_PULL:
        return bind_ihaves(&f[2], m);
    case CARA_WIRE_PUSH:
        if (!ob_type(&f[2], MSGPACK_OBJECT_BOOLEAN))
            return CARA_EPARSE;
        m->want_ack = f[2].via.boolean;
        return bind_records(&f[3], m);
    case CARA_WIRE_ACK:
        return bind_acks(&f[2], m);
    case CARA_WIRE_SYNC:
    case CARA_WIRE_DELTA:
        return bind_blob(&f[2], m);
    case CARA_WIRE_DONE:
        return 0;
    case CARA_WIRE_JOIN:
    case CARA_WIRE_WELCOME:
        if (bind_id(&f[2], &m->node, &m->addr) != 0)
            return CARA_EPARSE;
        return bind_records(&f[5], m);
    case CARA_WIRE_REFUSED:
        return bind_refused(&f[2], m);
    default:
        CARA_UNREACHABLE();
    }
}

/* ---- One encoding -------------------------------------------------------------
 * A packer sink that compares what msgpack-c writes with the input instead
 * of storing it. */

typedef struct same_sink {
    const uint8_t *p;
    size_t len, pos;
} same_sink;

static int same_write(void *data, const char *bytes, size_t len)
{
    same_sink *s = data;
    if (len == 0)
        return 0; /* an empty body, whose pointer may be NULL */
    if (len > s->len - s->pos || memcmp(s->p + s->pos, bytes, len) != 0)
        return -1;
    s->pos += len;
    return 0;
}

/* True when the outer array's header and the version are written in
 * their shortest forms at the start of bytes, so that a version is judged
 * on its canonical form before anything after it. */
static bool head_canonical(const uint8_t *bytes, size_t len, size_t fields, uint64_t version)
{
    same_sink s = {.p = bytes, .len = len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, same_write);
    return msgpack_pack_array(&pk, fields) == 0 && msgpack_pack_uint64(&pk, version) == 0;
}

/* True when m, which msg_ok() accepts, encodes to exactly bytes[0..len):
 * every integer, string, binary and array header of the input was in its
 * shortest form, the one form cara_wire_encode writes. */
static bool reencodes_to(const cara_wire_msg *m, const uint8_t *bytes, size_t len)
{
    same_sink s = {.p = bytes, .len = len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, same_write);
    return pack_msg(&pk, m) == 0 && s.pos == len;
}

/* Clears the message's scalars and counts, not the big arrays. */
static void msg_clear(cara_wire_msg *m)
{
    m->kind = 0;
    memset(&m->swim, 0, offsetof(cara_swim_msg, updates));
    m->want_ack = false;
    m->records_count = 0;
    m->acks_count = 0;
    m->ihaves_count = 0;
    m->blob = (cara_wire_bytes){0};
    memset(&m->node, 0, sizeof m->node);
    memset(&m->addr, 0, sizeof m->addr);
    m->reason = 0;
    m->text_len = 0;
}

/* Binds the tree msgpack-c built from bytes[0..len). */
static int bind_msg(const msgpack_object *top, const uint8_t *bytes, size_t len, int where,
                    cara_wire_msg *out)
{
    if (!ob_type(top, MSGPACK_OBJECT_ARRAY) || top->via.array.size < 2)
        return CARA_EPARSE;
    size_t fields = top->via.array.size;
    const msgpack_object *f = top->via.array.ptr;
    uint64_t version, kind;
    if (!ob_uint(&f[0], UINT64_MAX, &version) || !head_canonical(bytes, len, fields, version))
        return CARA_EPARSE;
    if (version != CARA_WIRE_VERSION)
        return CARA_EUNSUPPORTED;
    if (!ob_uint(&f[1], UINT8_MAX, &kind) || !kind_known((int)kind) || !kind_in((int)kind, where) ||
        fields != shape_of((int)kind))
        return CARA_EPARSE;
    out->kind = (uint8_t)kind;
    int rc = bind_body(f, out);
    if (rc != 0)
        return rc;
    /* What the binders accept, the writer can write: a broken promise here
     * is a bug in this file, not bad input. */
    CARA_ASSERT(msg_ok(out));
    return reencodes_to(out, bytes, len) ? 0 : CARA_EPARSE;
}

int cara_wire_decode(const uint8_t *bytes, size_t len, int where, cara_wire_msg *out)
{
    CARA_ASSERT(out != NULL);
    msg_clear(out);
    size_t max = place_bytes_max(where);
    CARA_ASSERT(max > 0);
    if (bytes == NULL || len == 0)
        return CARA_EPARSE;
    if (len > max)
        return CARA_ETOOBIG;
    size_t total = 0;
    int rc = cara_mpcheck_bounded(bytes, len, WIRE_DEPTH_MAX, WIRE_ELEMENTS_MAX, &total);
    if (rc == CARA_ETOOBIG) {
        /* Too deep, or too many elements: only the second is a list past
         * its cap; the first (or any other flaw) is malformed input. */
        return cara_mpcheck(bytes, len, WIRE_DEPTH_MAX, &total) == 0 && total == len
                   ? CARA_ETOOBIG
                   : CARA_EPARSE;
    }
    if (rc != 0 || total != len)
        return CARA_EPARSE; /* truncated, trailing bytes or lying counts */
    /* Every element takes at least one byte, so min(len, bound) elements
     * are all msgpack-c can allocate: one chunk holds them, and the zone
     * never grows. */
    size_t elements = len < WIRE_ELEMENTS_MAX ? len : WIRE_ELEMENTS_MAX;
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, elements * sizeof(msgpack_object)))
        return CARA_ENOMEM;
    msgpack_object top;
    size_t off = 0;
    /* Strings and binaries in the tree point into `bytes`. */
    if (msgpack_unpack((const char *)bytes, len, &off, &zone, &top) != MSGPACK_UNPACK_SUCCESS)
        rc = CARA_EPARSE; /* cannot happen after the pre-scan, but is refused */
    else
        rc = bind_msg(&top, bytes, len, where, out);
    msgpack_zone_destroy(&zone);
    if (rc != 0)
        msg_clear(out);
    return rc;
}

/* ---- Clear frames ---------------------------------------------------------------- */

bool cara_wire_is_clear(const uint8_t *bytes, size_t len)
{
    return bytes != NULL && len >= 2 && bytes[0] == CARA_WIRE_CLEAR_MAGIC0 &&
           bytes[1] == CARA_WIRE_CLEAR_MAGIC1;
}

int cara_wire_clear_frame(const cara_wire_msg *m, cara_buf *out)
{
    CARA_ASSERT(m != NULL && out != NULL);
    if (!kind_in(m->kind, CARA_WIRE_IN_CLEAR))
        return CARA_EINVAL;
    size_t need = cara_wire_encoded_bytes(m);
    if (need == 0)
        return CARA_EINVAL;
    if (need > CARA_WIRE_CLEAR_BYTES_MAX - CARA_WIRE_CLEAR_HEADER_BYTES)
        return CARA_ETOOBIG;
    uint8_t hdr[CARA_WIRE_CLEAR_HEADER_BYTES] = {
        CARA_WIRE_CLEAR_MAGIC0, CARA_WIRE_CLEAR_MAGIC1, CARA_WIRE_VERSION,
        (uint8_t)(need >> 24), (uint8_t)(need >> 16), (uint8_t)(need >> 8), (uint8_t)need};
    size_t len_before = out->len;
    int rc = cara_buf_append(out, hdr, sizeof hdr);
    if (rc != 0)
        return rc;
    rc = cara_wire_encode(m, need, out);
    if (rc != 0) {
        out->len = len_before;
        if (out->data != NULL)
            out->data[len_before] = 0;
    }
    return rc;
}

int cara_wire_clear_parse(const uint8_t *bytes, size_t len, size_t *used, cara_wire_msg *out)
{
    CARA_ASSERT(used != NULL && out != NULL);
    msg_clear(out);
    if (bytes == NULL && len > 0)
        return CARA_EPARSE;
    /* Each header byte is judged as soon as it arrives, so garbage (or a
     * seal hello) is refused at once rather than waited on. */
    if (len >= 1 && bytes[0] != CARA_WIRE_CLEAR_MAGIC0)
        return CARA_EPARSE;
    if (len >= 2 && bytes[1] != CARA_WIRE_CLEAR_MAGIC1)
        return CARA_EPARSE;
    if (len >= 3 && bytes[2] != CARA_WIRE_VERSION)
        return CARA_EUNSUPPORTED;
    if (len < CARA_WIRE_CLEAR_HEADER_BYTES)
        return CARA_EAGAIN;
    uint64_t n = ((uint64_t)bytes[3] << 24) | ((uint64_t)bytes[4] << 16) |
                 ((uint64_t)bytes[5] << 8) | bytes[6];
    if (n > CARA_WIRE_CLEAR_BYTES_MAX - CARA_WIRE_CLEAR_HEADER_BYTES)
        return CARA_ETOOBIG;
    if (n == 0)
        return CARA_EPARSE;
    if (len - CARA_WIRE_CLEAR_HEADER_BYTES < n)
        return CARA_EAGAIN;
    int rc = cara_wire_decode(bytes + CARA_WIRE_CLEAR_HEADER_BYTES, (size_t)n,
                              CARA_WIRE_IN_CLEAR, out);
    if (rc != 0)
        return rc;
    *used = CARA_WIRE_CLEAR_HEADER_BYTES + (size_t)n;
    return 0;
}
