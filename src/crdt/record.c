/*
 * The record envelope: canonical msgpack encoding, decoding of untrusted
 * bytes, Ed25519 signatures over the exact body bytes, key ids, and the
 * total order that merge uses.
 */
#include <sodium.h>
#include <string.h>

#include "crdt/crdt_int.h"

/* ---- Packing --------------------------------------------------------------
 * Two sinks for msgpack-c's packer: one appends to a bounded buffer, the
 * other compares what would be written with bytes already held. The second
 * is how decode proves canonical form without allocating: re-encoding the
 * decoded fields must reproduce the received bytes exactly. */

int crdt_sink_buf(void *data, const char *p, size_t len)
{
    return cara_buf_append((cara_buf *)data, p, len) == 0 ? 0 : -1;
}

int crdt_sink_cmp(void *data, const char *p, size_t len)
{
    crdt_cmp_sink *c = data;
    if (c->differs || len > c->want_len - c->pos || memcmp(c->want + c->pos, p, len) != 0) {
        c->differs = true;
        return -1;
    }
    c->pos += len;
    return 0;
}

static int pack_body(msgpack_packer *pk, const cara_crdt_record *r)
{
    int rc = msgpack_pack_array(pk, CRDT_BODY_FIELDS);
    rc = rc ? rc : msgpack_pack_str_with_body(pk, CRDT_MAGIC, strlen(CRDT_MAGIC));
    rc = rc ? rc : msgpack_pack_uint64(pk, CRDT_VERSION);
    rc = rc ? rc : msgpack_pack_uint64(pk, (uint64_t)r->kind);
    rc = rc ? rc : msgpack_pack_str_with_body(pk, r->key, r->key_bytes);
    rc = rc ? rc : msgpack_pack_uint64(pk, r->generation);
    rc = rc ? rc : msgpack_pack_uint64(pk, r->hlc);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, r->author, CARA_CRDT_PK_BYTES);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, r->value, r->value_bytes);
    return rc;
}

/* Keys are names: letters, digits, '.', '-', '_'. Refusing control bytes
 * and separators keeps them safe to log and to use as SQLite keys. */
static bool key_ok(const uint8_t *key, size_t n)
{
    if (n == 0 || n > CARA_CRDT_KEY_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = key[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

static bool fields_ok(const cara_crdt_record *r)
{
    if (r->kind < CARA_CRDT_PROJECT || r->kind >= CARA_CRDT_KIND_END_)
        return false;
    if (!key_ok(r->key, r->key_bytes) || r->author == NULL)
        return false;
    if (r->generation > CARA_GENERATION_MAX)
        return false;
    if (r->value_bytes > CARA_CRDT_VALUE_BYTES_MAX || (r->value_bytes > 0 && r->value == NULL))
        return false;
    /* A tombstone says only "deleted at this generation". */
    if (r->kind == CARA_CRDT_TOMBSTONE && r->value_bytes != 0)
        return false;
    if (r->kind == CARA_CRDT_SETTINGS &&
        (r->key_bytes != strlen(CRDT_SETTINGS_KEY) ||
         memcmp(r->key, CRDT_SETTINGS_KEY, r->key_bytes) != 0))
        return false;
    return true;
}

int cara_crdt_record_sign(const cara_crdt_record *rec, const uint8_t sk[CARA_CRDT_SK_BYTES],
                          cara_buf *out)
{
    CARA_ASSERT(rec != NULL && sk != NULL && out != NULL);
    if (!fields_ok(rec))
        return CARA_EINVAL;
    /* The public half of an Ed25519 secret key is its last 32 bytes. */
    if (sodium_memcmp(rec->author, sk + 32, CARA_CRDT_PK_BYTES) != 0)
        return CARA_EINVAL;
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, crdt_sink_buf);
    if (msgpack_pack_array(&pk, 2) != 0)
        goto full;
    size_t body_at = out->len;
    if (pack_body(&pk, rec) != 0)
        goto full;
    uint8_t sig[CARA_CRDT_SIG_BYTES];
    crypto_sign_detached(sig, NULL, out->data + body_at, out->len - body_at, sk);
    if (msgpack_pack_bin_with_body(&pk, sig, sizeof sig) != 0)
        goto full;
    if (out->len - start > CARA_CRDT_RECORD_BYTES_MAX)
        goto full;
    return 0;
full:
    /* The buffer reports only "could not append"; undo the partial write. */
    out->len = start;
    if (out->data)
        out->data[start] = 0;
    return CARA_ETOOBIG;
}

/* ---- Decoding -------------------------------------------------------------- */

static bool obj_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

static int bind_body(const msgpack_object *b, cara_crdt_record *r)
{
    if (b->type != MSGPACK_OBJECT_ARRAY || b->via.array.size != CRDT_BODY_FIELDS)
        return CARA_EPARSE;
    const msgpack_object *f = b->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != strlen(CRDT_MAGIC) ||
        memcmp(f[0].via.str.ptr, CRDT_MAGIC, strlen(CRDT_MAGIC)) != 0)
        return CARA_EPARSE;
    uint64_t version, kind;
    if (!obj_uint(&f[1], &version) || !obj_uint(&f[2], &kind))
        return CARA_EPARSE;
    if (version != CRDT_VERSION)
        return CARA_EUNSUPPORTED;
    if (f[3].type != MSGPACK_OBJECT_STR || !obj_uint(&f[4], &r->generation) ||
        !obj_uint(&f[5], &r->hlc) || f[6].type != MSGPACK_OBJECT_BIN ||
        f[7].type != MSGPACK_OBJECT_BIN)
        return CARA_EPARSE;
    if (f[3].via.str.size > CARA_CRDT_KEY_BYTES_MAX || f[7].via.bin.size > CARA_CRDT_VALUE_BYTES_MAX)
        return CARA_ETOOBIG;
    if (f[6].via.bin.size != CARA_CRDT_PK_BYTES || kind >= CARA_CRDT_KIND_END_)
        return CARA_EPARSE;
    r->kind = (int)kind;
    r->key = (const uint8_t *)f[3].via.str.ptr;
    r->key_bytes = f[3].via.str.size;
    r->author = (const uint8_t *)f[6].via.bin.ptr;
    r->value = (const uint8_t *)f[7].via.bin.ptr;
    r->value_bytes = f[7].via.bin.size;
    return fields_ok(r) ? 0 : CARA_EPARSE;
}

/* Splits the envelope [body, sig] into its parts, by framing only. */
static int split_envelope(const uint8_t *bytes, size_t len, cara_crdt_record *out)
{
    size_t total = 0, body_len = 0;
    int rc = cara_mpcheck(bytes, len, 4, &total);
    if (rc != 0)
        return rc == CARA_ETOOBIG ? CARA_EPARSE : rc;
    if (total != len)
        return CARA_EPARSE; /* trailing bytes */
    if (bytes[0] != 0x92)   /* fixarray of 2 */
        return CARA_EPARSE;
    rc = cara_mpcheck(bytes + 1, len - 1, 3, &body_len);
    if (rc != 0)
        return CARA_EPARSE;
    /* The signature is bin8 of 64 bytes: c4 40 + 64, and ends the envelope. */
    if (len != 1 + body_len + 2 + CARA_CRDT_SIG_BYTES)
        return CARA_EPARSE;
    const uint8_t *sig = bytes + 1 + body_len;
    if (sig[0] != 0xc4 || sig[1] != CARA_CRDT_SIG_BYTES)
        return CARA_EPARSE;
    out->body = bytes + 1;
    out->body_bytes = body_len;
    out->sig = sig + 2;
    return 0;
}

int cara_crdt_record_decode(const uint8_t *bytes, size_t len, cara_crdt_record *out)
{
    CARA_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (bytes == NULL || len == 0)
        return CARA_EPARSE;
    if (len > CARA_CRDT_RECORD_BYTES_MAX)
        return CARA_ETOOBIG;
    cara_crdt_record r = {0};
    int rc = split_envelope(bytes, len, &r);
    if (rc != 0)
        return rc;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, (const char *)r.body, r.body_bytes, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != r.body_bytes) {
        msgpack_unpacked_destroy(&up);
        return CARA_EPARSE;
    }
    rc = bind_body(&up.data, &r);
    msgpack_unpacked_destroy(&up);
    if (rc != 0)
        return rc;
    /* Canonical form: the fields must re-encode to the very bytes signed. */
    crdt_cmp_sink c = {.want = r.body, .want_len = r.body_bytes};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c, crdt_sink_cmp);
    if (pack_body(&pk, &r) != 0 || c.differs || c.pos != r.body_bytes)
        return CARA_ENONCANON;
    *out = r;
    return 0;
}

int cara_crdt_record_verify(const cara_crdt_record *rec)
{
    CARA_ASSERT(rec != NULL && rec->body != NULL && rec->sig != NULL && rec->author != NULL);
    if (crypto_sign_verify_detached(rec->sig, rec->body, rec->body_bytes, rec->author) != 0)
        return CARA_EBADSIG;
    return 0;
}

/* ---- Admission value: [ "adm", node_pk, admitted ] ------------------------- */

static int pack_admission(msgpack_packer *pk, const uint8_t *node_pk, bool admitted)
{
    int rc = msgpack_pack_array(pk, 3);
    rc = rc ? rc : msgpack_pack_str_with_body(pk, "adm", 3);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, node_pk, CARA_CRDT_PK_BYTES);
    rc = rc ? rc : (admitted ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
    return rc;
}

int cara_crdt_admission_encode(const uint8_t node_pk[CARA_CRDT_PK_BYTES], bool admitted,
                               cara_buf *out)
{
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, crdt_sink_buf);
    if (pack_admission(&pk, node_pk, admitted) != 0) {
        out->len = start;
        return CARA_ETOOBIG;
    }
    return 0;
}

int cara_crdt_admission_decode(const uint8_t *bytes, size_t len,
                               uint8_t node_pk[CARA_CRDT_PK_BYTES], bool *admitted)
{
    size_t total = 0;
    if (bytes == NULL || cara_mpcheck(bytes, len, 2, &total) != 0 || total != len)
        return CARA_EPARSE;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = CARA_EPARSE;
    if (msgpack_unpack_next(&up, (const char *)bytes, len, &off) != MSGPACK_UNPACK_SUCCESS)
        goto out;
    const msgpack_object *o = &up.data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3)
        goto out;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != 3 ||
        memcmp(f[0].via.str.ptr, "adm", 3) != 0 || f[1].type != MSGPACK_OBJECT_BIN ||
        f[1].via.bin.size != CARA_CRDT_PK_BYTES || f[2].type != MSGPACK_OBJECT_BOOLEAN)
        goto out;
    crdt_cmp_sink c = {.want = bytes, .want_len = len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c, crdt_sink_cmp);
    if (pack_admission(&pk, (const uint8_t *)f[1].via.bin.ptr, f[2].via.boolean) != 0 ||
        c.pos != len) {
        rc = CARA_ENONCANON;
        goto out;
    }
    memcpy(node_pk, f[1].via.bin.ptr, CARA_CRDT_PK_BYTES);
    *admitted = f[2].via.boolean;
    rc = 0;
out:
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* ---- Keys, hashes, order ------------------------------------------------- */

int cara_crdt_key_from_seed(const uint8_t seed[CARA_CRDT_SEED_BYTES],
                            uint8_t pk[CARA_CRDT_PK_BYTES], uint8_t sk[CARA_CRDT_SK_BYTES])
{
    if (seed == NULL || pk == NULL || sk == NULL)
        return CARA_EINVAL;
    return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : CARA_EINVAL;
}

void cara_crdt_key_id(const uint8_t pk[CARA_CRDT_PK_BYTES], char out[CARA_CRDT_KEY_ID_BYTES])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, pk, CARA_CRDT_PK_BYTES, NULL, 0);
    sodium_bin2hex(out, CARA_CRDT_KEY_ID_BYTES, h, (CARA_CRDT_KEY_ID_BYTES - 1) / 2);
}

bool cara_crdt_kind_per_author(int kind)
{
    return kind == CARA_CRDT_STATUS || kind == CARA_CRDT_PLACEMENT;
}

/* STATUS and PLACEMENT have one slot per (project, author): a node can only
 * ever compete with its own records (DESIGN.md §4, one writer per record).
 * JOIN has one per (name, author), for the same reason. */
void crdt_keyhash(int kind, const uint8_t *key, size_t key_bytes, const uint8_t *author,
                  uint8_t out[16])
{
    crypto_generichash_state st;
    uint8_t tag = (uint8_t)crdt_slot_of(kind);
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, &tag, 1);
    crypto_generichash_update(&st, key, key_bytes);
    if (crdt_slot_by_author(kind)) {
        CARA_ASSERT(author != NULL);
        crypto_generichash_update(&st, author, CARA_CRDT_PK_BYTES);
    }
    crypto_generichash_final(&st, out, 16);
}

void cara_crdt_record_id(const cara_crdt_record *r, uint8_t id[CARA_CRDT_ID_BYTES])
{
    crdt_keyhash(r->kind, r->key, r->key_bytes, r->author, id);
}

uint64_t crdt_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a > b ? 1 : a < b ? -1 : 0;
}

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c > 0 ? 1 : -1;
    return cmp_u64(an, bn);
}

/* The merge order (docs/crdt.md §Merge): generation, then a tombstone over
 * a spec, then HLC, then author key, then body bytes, then signature bytes.
 * It is total over distinct envelopes, so "keep the greater" is
 * commutative, associative and idempotent. */
int crdt_record_cmp(const cara_crdt_record *a, const cara_crdt_record *b)
{
    int c = cmp_u64(a->generation, b->generation);
    if (c != 0)
        return c;
    c = (a->kind == CARA_CRDT_TOMBSTONE) - (b->kind == CARA_CRDT_TOMBSTONE);
    if (c != 0)
        return c;
    c = cmp_u64(a->hlc, b->hlc);
    if (c != 0)
        return c;
    c = cmp_bytes(a->author, CARA_CRDT_PK_BYTES, b->author, CARA_CRDT_PK_BYTES);
    if (c != 0)
        return c;
    c = cmp_bytes(a->body, a->body_bytes, b->body, b->body_bytes);
    if (c != 0)
        return c;
    return cmp_bytes(a->sig, CARA_CRDT_SIG_BYTES, b->sig, CARA_CRDT_SIG_BYTES);
}
