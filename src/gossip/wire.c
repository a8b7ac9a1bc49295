/*
 * The gossip wire codec (wire_int.h, docs/gossip.md "Wire").
 *
 * Writing goes through msgpack-c's packer, whose output is the shortest
 * form of every integer, string, binary and array header. Reading does not
 * go through msgpack-c: its only C reader builds an object tree in a zone
 * it mallocs, sized by the counts the input claims (24 bytes an element
 * before any element arrives, notes/integration.md §5), so a 4 MiB stream
 * message could make it allocate about 100 MiB before our caps are seen.
 * Our messages have a fixed shape, so a cursor reads exactly the forms the
 * packer writes, checks each count against its cap and the bytes left
 * before it reads on, and refuses anything else, overlong forms included:
 * a decoded message re-encodes to the very bytes received. The structural
 * pre-scan of src/base/mpcheck.c runs first, as for every untrusted
 * msgpack in the project.
 */
#include <msgpack.h>
#include <string.h>

#include "gossip/wire_int.h"

_Static_assert(CARA_CRDT_ID_BYTES == 16, "CARA_WIRE_ACK_ITEM_BYTES_MAX counts a 16-byte id");
_Static_assert(CARA_WIRE_CLEAR_HEADER_BYTES == 2 + 1 + 4, "magic, version, length");

/* The outer array's length for each kind. */
#define SHAPE_SWIM 4    /* version, kind, membership message, records */
#define SHAPE_PUSH 4    /* version, kind, want_ack, records */
#define SHAPE_ACK 3     /* version, kind, [[id, hlc], ...] */
#define SHAPE_BLOB 3    /* version, kind, bin (SYNC, DELTA) */
#define SHAPE_DONE 2    /* version, kind */
#define SHAPE_HELLO 6   /* version, kind, name, key, addr, records (JOIN, WELCOME) */
#define SHAPE_REFUSED 4 /* version, kind, reason, text */
#define SWIM_FIELDS 6   /* type, seq, target name, target key, target addr, updates */
#define UPDATE_FIELDS 6 /* kind, incarnation, name, key, addr, accuser */
/* Nesting: outer array > membership message > updates > update. */
#define WIRE_DEPTH_MAX 5

/* ---- Kinds and places ------------------------------------------------------ */

static bool kind_known(int kind)
{
    switch (kind) {
    case CARA_WIRE_SWIM: case CARA_WIRE_PUSH: case CARA_WIRE_ACK:
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
        return kind == CARA_WIRE_SWIM || kind == CARA_WIRE_PUSH || kind == CARA_WIRE_ACK;
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
    if (m->type < CARA_SWIM_PING || m->type > CARA_SWIM_NACK ||
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
        return swim_ok(&m->swim) && records_ok(m);
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

static size_t shape_of(int kind)
{
    switch (kind) {
    case CARA_WIRE_SWIM: return SHAPE_SWIM;
    case CARA_WIRE_PUSH: return SHAPE_PUSH;
    case CARA_WIRE_ACK: return SHAPE_ACK;
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
        return rc ? rc : pack_records(pk, m);
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
    /* fixarray(4), version, kind, and array16's header for the records. */
    return 1 + 1 + 1 + s.written + 3;
}

/* ---- Reading ------------------------------------------------------------------
 * A cursor over the input. Each reader takes one value of one type in its
 * shortest form, or fails with CARA_EPARSE and leaves the cursor anywhere
 * (the caller gives up). */

typedef struct rd {
    const uint8_t *p;
    size_t len, pos;
} rd;

static size_t rd_left(const rd *r)
{
    return r->len - r->pos;
}

static int rd_be(rd *r, int n, uint64_t *v)
{
    if ((size_t)n > rd_left(r))
        return CARA_EPARSE;
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = (x << 8) | r->p[r->pos + (size_t)i];
    r->pos += (size_t)n;
    *v = x;
    return 0;
}

static int rd_byte(rd *r, uint8_t *b)
{
    if (rd_left(r) < 1)
        return CARA_EPARSE;
    *b = r->p[r->pos++];
    return 0;
}

/* A non-negative integer: fixint, uint8..uint64, each only where no
 * shorter form holds the value. */
static int rd_uint(rd *r, uint64_t *v)
{
    uint8_t b;
    if (rd_byte(r, &b) != 0)
        return CARA_EPARSE;
    if (b <= 0x7f) {
        *v = b;
        return 0;
    }
    static const uint64_t need[4] = {1u << 7, 1u << 8, 1u << 16, 1ull << 32};
    if (b < 0xcc || b > 0xcf)
        return CARA_EPARSE;
    int i = b - 0xcc;
    if (rd_be(r, 1 << i, v) != 0 || *v < need[i])
        return CARA_EPARSE;
    return 0;
}

/* A negative integer as msgpack-c's pack_int32 writes it: negative fixint,
 * int8, int16 or int32, each only below the range of the shorter ones. */
static int rd_negative(rd *r, int64_t *v)
{
    uint8_t b;
    if (rd_byte(r, &b) != 0)
        return CARA_EPARSE;
    if (b >= 0xe0) {
        *v = (int8_t)b;
        return 0;
    }
    static const int64_t above[3] = {-32, -128, -32768};
    if (b < 0xd0 || b > 0xd2)
        return CARA_EPARSE;
    int i = b - 0xd0;
    uint64_t u;
    if (rd_be(r, 1 << i, &u) != 0)
        return CARA_EPARSE;
    int64_t x = i == 0 ? (int8_t)u : i == 1 ? (int16_t)u : (int32_t)u;
    if (x >= above[i])
        return CARA_EPARSE;
    *v = x;
    return 0;
}

/* The length that follows a str, bin or array header: 1, 2 or 4 bytes
 * (width index i = 0, 1, 2), which must be at least `min`, the first
 * value that a shorter header cannot hold. */
static int rd_len(rd *r, int i, uint64_t min, size_t *n)
{
    uint64_t v;
    if (rd_be(r, 1 << i, &v) != 0 || v < min)
        return CARA_EPARSE;
    *n = (size_t)v;
    return 0;
}

/* The shortest form of a str or bin length of width index i. */
static const uint64_t str_min[3] = {32, 1u << 8, 1u << 16};
static const uint64_t bin_min[3] = {0, 1u << 8, 1u << 16};

/* An array header. Every element takes at least one byte, so a count
 * larger than the bytes left is refused before anything is read. */
static int rd_array(rd *r, size_t *n)
{
    uint8_t b;
    if (rd_byte(r, &b) != 0)
        return CARA_EPARSE;
    if (b >= 0x90 && b <= 0x9f)
        *n = b & 0x0f;
    else if (b == 0xdc || b == 0xdd) {
        /* array16 (i = 1) from 16 elements, array32 (i = 2) from 65536 */
        if (rd_len(r, b == 0xdc ? 1 : 2, b == 0xdc ? 16 : 1u << 16, n) != 0)
            return CARA_EPARSE;
    } else {
        return CARA_EPARSE;
    }
    return *n <= rd_left(r) ? 0 : CARA_EPARSE;
}

static int rd_body(rd *r, size_t n, const uint8_t **ptr)
{
    if (n > rd_left(r))
        return CARA_EPARSE;
    *ptr = r->p + r->pos;
    r->pos += n;
    return 0;
}

static int rd_str(rd *r, const uint8_t **ptr, size_t *n)
{
    uint8_t b;
    if (rd_byte(r, &b) != 0)
        return CARA_EPARSE;
    if (b >= 0xa0 && b <= 0xbf)
        *n = b & 0x1f;
    else if (b < 0xd9 || b > 0xdb || rd_len(r, b - 0xd9, str_min[b - 0xd9], n) != 0)
        return CARA_EPARSE;
    return rd_body(r, *n, ptr);
}

static int rd_bin(rd *r, const uint8_t **ptr, size_t *n)
{
    uint8_t b;
    if (rd_byte(r, &b) != 0 || b < 0xc4 || b > 0xc6 || rd_len(r, b - 0xc4, bin_min[b - 0xc4], n) != 0)
        return CARA_EPARSE;
    return rd_body(r, *n, ptr);
}

/* Takes a nil if one is next. */
static bool rd_nil(rd *r)
{
    if (rd_left(r) >= 1 && r->p[r->pos] == 0xc0) {
        r->pos++;
        return true;
    }
    return false;
}

static int rd_bool(rd *r, bool *v)
{
    uint8_t b;
    if (rd_byte(r, &b) != 0 || (b != 0xc2 && b != 0xc3))
        return CARA_EPARSE;
    *v = b == 0xc3;
    return 0;
}

/* A uint no larger than `max`. */
static int rd_uint_max(rd *r, uint64_t max, uint64_t *v)
{
    return rd_uint(r, v) == 0 && *v <= max ? 0 : CARA_EPARSE;
}

/* ---- Decoding fields ----------------------------------------------------------- */

/* A name: 1..64 bytes of str. */
static int rd_name(rd *r, char *name, uint8_t *name_len)
{
    const uint8_t *p;
    size_t n;
    if (rd_str(r, &p, &n) != 0 || !name_ok(n))
        return CARA_EPARSE;
    memcpy(name, p, n);
    *name_len = (uint8_t)n;
    return 0;
}

static int rd_key(rd *r, uint8_t key[CARA_SWIM_KEY_BYTES])
{
    const uint8_t *p;
    size_t n;
    if (rd_bin(r, &p, &n) != 0 || n != CARA_SWIM_KEY_BYTES)
        return CARA_EPARSE;
    memcpy(key, p, n);
    return 0;
}

static int rd_addr(rd *r, cara_swim_addr *addr)
{
    const uint8_t *p;
    size_t n;
    if (rd_bin(r, &p, &n) != 0 || n > CARA_SWIM_ADDR_BYTES_MAX)
        return CARA_EPARSE;
    memcpy(addr->bytes, p, n);
    addr->len = (uint8_t)n;
    return 0;
}

static int rd_update(rd *r, cara_swim_update *u)
{
    size_t n;
    uint64_t kind, inc;
    if (rd_array(r, &n) != 0 || n != UPDATE_FIELDS)
        return CARA_EPARSE;
    if (rd_uint(r, &kind) != 0 || kind < CARA_SWIM_ALIVE || kind > CARA_SWIM_LEFT ||
        rd_uint_max(r, CARA_SWIM_INCARNATION_MAX, &inc) != 0)
        return CARA_EPARSE;
    u->kind = (uint8_t)kind;
    u->incarnation = (uint32_t)inc;
    if (rd_name(r, u->member.name, &u->member.name_len) != 0 || rd_key(r, u->member.key) != 0 ||
        rd_addr(r, &u->addr) != 0)
        return CARA_EPARSE;
    const uint8_t *p;
    if (rd_str(r, &p, &n) != 0 || n > CARA_SWIM_NAME_BYTES_MAX)
        return CARA_EPARSE;
    memcpy(u->accuser, p, n);
    u->accuser_len = (uint8_t)n;
    return 0;
}

/* The target: three nils, or a name, a key and an address. */
static int rd_target(rd *r, cara_swim_msg *m)
{
    if (rd_nil(r))
        return rd_nil(r) && rd_nil(r) ? 0 : CARA_EPARSE;
    if (rd_name(r, m->target.name, &m->target.name_len) != 0 || rd_key(r, m->target.key) != 0 ||
        rd_addr(r, &m->target_addr) != 0)
        return CARA_EPARSE;
    return 0;
}

static int rd_swim(rd *r, cara_swim_msg *m)
{
    size_t n;
    uint64_t type, seq;
    if (rd_array(r, &n) != 0 || n != SWIM_FIELDS)
        return CARA_EPARSE;
    if (rd_uint(r, &type) != 0 || type < CARA_SWIM_PING || type > CARA_SWIM_NACK ||
        rd_uint_max(r, UINT32_MAX, &seq) != 0 || rd_target(r, m) != 0 || rd_array(r, &n) != 0)
        return CARA_EPARSE;
    if (n > CARA_SWIM_PIGGYBACK_MAX)
        return CARA_ETOOBIG;
    m->type = (uint8_t)type;
    m->seq = (uint32_t)seq;
    m->updates_count = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        if (rd_update(r, &m->updates[i]) != 0)
            return CARA_EPARSE;
    return 0;
}

static int rd_records(rd *r, cara_wire_msg *m)
{
    size_t n;
    if (rd_array(r, &n) != 0)
        return CARA_EPARSE;
    if (n > CARA_WIRE_RECORDS_MAX)
        return CARA_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        cara_wire_bytes *b = &m->records[i];
        if (rd_bin(r, &b->ptr, &b->len) != 0 || b->len == 0)
            return CARA_EPARSE;
        if (b->len > CARA_CRDT_RECORD_BYTES_MAX)
            return CARA_ETOOBIG;
    }
    m->records_count = n;
    return 0;
}

static int rd_acks(rd *r, cara_wire_msg *m)
{
    size_t n;
    if (rd_array(r, &n) != 0)
        return CARA_EPARSE;
    if (n > CARA_WIRE_ACKS_MAX)
        return CARA_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        size_t fields, id_len;
        const uint8_t *id;
        if (rd_array(r, &fields) != 0 || fields != 2 || rd_bin(r, &id, &id_len) != 0 ||
            id_len != CARA_CRDT_ID_BYTES || rd_uint(r, &m->acks[i].hlc) != 0)
            return CARA_EPARSE;
        memcpy(m->acks[i].id, id, CARA_CRDT_ID_BYTES);
    }
    m->acks_count = n;
    return 0;
}

static int rd_blob(rd *r, cara_wire_msg *m)
{
    if (rd_bin(r, &m->blob.ptr, &m->blob.len) != 0)
        return CARA_EPARSE;
    return blob_ok(m) ? 0 : CARA_ETOOBIG;
}

static int rd_refused(rd *r, cara_wire_msg *m)
{
    int64_t reason;
    const uint8_t *p;
    size_t n;
    if (rd_negative(r, &reason) != 0 || reason <= CARA_ERROR_FIRST_ || rd_str(r, &p, &n) != 0)
        return CARA_EPARSE;
    if (n > CARA_WIRE_TEXT_BYTES_MAX)
        return CARA_ETOOBIG;
    if (!text_ok((const char *)p, n))
        return CARA_EPARSE;
    m->reason = (int32_t)reason;
    memcpy(m->text, p, n);
    m->text_len = (uint16_t)n;
    return 0;
}

static int rd_body_of(rd *r, cara_wire_msg *m)
{
    switch (m->kind) {
    case CARA_WIRE_SWIM: {
        int rc = rd_swim(r, &m->swim);
        return rc ? rc : rd_records(r, m);
    }
    case CARA_WIRE_PUSH:
        return rd_bool(r, &m->want_ack) ? CARA_EPARSE : rd_records(r, m);
    case CARA_WIRE_ACK:
        return rd_acks(r, m);
    case CARA_WIRE_SYNC:
    case CARA_WIRE_DELTA:
        return rd_blob(r, m);
    case CARA_WIRE_DONE:
        return 0;
    case CARA_WIRE_JOIN:
    case CARA_WIRE_WELCOME:
        if (rd_name(r, m->node.name, &m->node.name_len) != 0 || rd_key(r, m->node.key) != 0 ||
            rd_addr(r, &m->addr) != 0)
            return CARA_EPARSE;
        return rd_records(r, m);
    case CARA_WIRE_REFUSED:
        return rd_refused(r, m);
    default:
        CARA_UNREACHABLE();
    }
}

/* Clears the message's scalars and counts, not the big arrays. */
static void msg_clear(cara_wire_msg *m)
{
    m->kind = 0;
    memset(&m->swim, 0, offsetof(cara_swim_msg, updates));
    m->want_ack = false;
    m->records_count = 0;
    m->acks_count = 0;
    m->blob = (cara_wire_bytes){0};
    memset(&m->node, 0, sizeof m->node);
    memset(&m->addr, 0, sizeof m->addr);
    m->reason = 0;
    m->text_len = 0;
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
    int rc = cara_mpcheck(bytes, len, WIRE_DEPTH_MAX, &total);
    if (rc != 0 || total != len)
        return CARA_EPARSE; /* truncated, trailing bytes, lying counts or too deep */
    rd r = {.p = bytes, .len = len};
    size_t fields;
    uint64_t version, kind;
    if (rd_array(&r, &fields) != 0 || fields < 2 || rd_uint(&r, &version) != 0)
        return CARA_EPARSE;
    if (version != CARA_WIRE_VERSION)
        return CARA_EUNSUPPORTED;
    if (rd_uint(&r, &kind) != 0 || kind > UINT8_MAX || !kind_known((int)kind) ||
        !kind_in((int)kind, where) ||
        fields != shape_of((int)kind))
        return CARA_EPARSE;
    out->kind = (uint8_t)kind;
    rc = rd_body_of(&r, out);
    if (rc == 0 && r.pos != len)
        rc = CARA_EPARSE;
    if (rc != 0) {
        msg_clear(out);
        return rc;
    }
    /* What the reader accepts, the writer can write: a broken promise here
     * is a bug in this file, not bad input. */
    CARA_ASSERT(msg_ok(out));
    return 0;
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
