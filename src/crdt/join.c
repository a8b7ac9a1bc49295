/*
 * Join tokens (docs/joining.md): the grant an operator signs, the token's
 * text, and the JOIN record by which a node admits itself with a token.
 * Which JOIN records are in effect is decided together with the operator's
 * admissions, when the admitted set is rebuilt (state.c).
 */
#include <sodium.h>
#include <string.h>

#include "crdt/crdt_int.h"

#define GRANT_MAGIC "cara-join-grant"
#define GRANT_VERSION 1
#define GRANT_BODY_FIELDS 7
#define JOIN_MAGIC "join"
#define JOIN_FIELDS 4
/* What the token key signs: this prefix, the node's key, the token id.
 * Fixed lengths, so the concatenation is unambiguous. */
#define TOKEN_SIG_PREFIX "cara-join-node-v1"
#define TOKEN_SIG_MSG_BYTES \
    (sizeof TOKEN_SIG_PREFIX - 1 + CARA_CRDT_PK_BYTES + CARA_CRDT_JOIN_TOKEN_ID_BYTES)
/* A JOIN value: array and magic, the grant as bin 8, two bins. */
#define JOIN_VALUE_BYTES_MAX (8 + 2 + CARA_CRDT_JOIN_GRANT_BYTES_MAX + 2 + 32 + 2 + 64)

/* ---- The grant ---------------------------------------------------------------- */

static int pack_grant_body(msgpack_packer *pk, const uint8_t *token_id, uint64_t expires_wall_ms,
                           uint64_t uses, const uint8_t *token_pk, const uint8_t *operator_pk)
{
    int rc = msgpack_pack_array(pk, GRANT_BODY_FIELDS);
    rc = rc ? rc : msgpack_pack_str_with_body(pk, GRANT_MAGIC, strlen(GRANT_MAGIC));
    rc = rc ? rc : msgpack_pack_uint64(pk, GRANT_VERSION);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, token_id, CARA_CRDT_JOIN_TOKEN_ID_BYTES);
    rc = rc ? rc : msgpack_pack_uint64(pk, expires_wall_ms);
    rc = rc ? rc : msgpack_pack_uint64(pk, uses);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, token_pk, CARA_CRDT_PK_BYTES);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, operator_pk, CARA_CRDT_PK_BYTES);
    return rc;
}

int cara_crdt_join_grant_sign(const uint8_t token_id[CARA_CRDT_JOIN_TOKEN_ID_BYTES],
                              int64_t expires_wall_ms, uint32_t uses,
                              const uint8_t token_pk[CARA_CRDT_PK_BYTES],
                              const uint8_t operator_sk[CARA_CRDT_SK_BYTES], cara_buf *out)
{
    CARA_ASSERT(token_id != NULL && token_pk != NULL && operator_sk != NULL && out != NULL);
    if (uses == 0 || uses > CARA_CRDT_JOIN_USES_MAX || expires_wall_ms < 0)
        return CARA_EINVAL;
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, crdt_sink_buf);
    if (msgpack_pack_array(&pk, 2) != 0)
        goto full;
    size_t body_at = out->len;
    /* The public half of an Ed25519 secret key is its last 32 bytes. */
    if (pack_grant_body(&pk, token_id, (uint64_t)expires_wall_ms, uses, token_pk,
                        operator_sk + 32) != 0)
        goto full;
    uint8_t sig[CARA_CRDT_SIG_BYTES];
    crypto_sign_detached(sig, NULL, out->data + body_at, out->len - body_at, operator_sk);
    if (msgpack_pack_bin_with_body(&pk, sig, sizeof sig) != 0 ||
        out->len - start > CARA_CRDT_JOIN_GRANT_BYTES_MAX)
        goto full;
    return 0;
full:
    out->len = start;
    if (out->data)
        out->data[start] = 0;
    return CARA_ETOOBIG;
}

static bool bin_of(const msgpack_object *o, size_t n)
{
    return o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n;
}

/* Binds the fields of a grant body; every type and range checked. */
static int bind_grant_body(const msgpack_object *b, crdt_join_value *out)
{
    if (b->type != MSGPACK_OBJECT_ARRAY || b->via.array.size != GRANT_BODY_FIELDS)
        return CARA_EPARSE;
    const msgpack_object *f = b->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != strlen(GRANT_MAGIC) ||
        memcmp(f[0].via.str.ptr, GRANT_MAGIC, strlen(GRANT_MAGIC)) != 0)
        return CARA_EPARSE;
    if (f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[1].via.u64 != GRANT_VERSION ||
        !bin_of(&f[2], CARA_CRDT_JOIN_TOKEN_ID_BYTES) ||
        f[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[3].via.u64 > (uint64_t)INT64_MAX ||
        f[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[4].via.u64 == 0 ||
        f[4].via.u64 > CARA_CRDT_JOIN_USES_MAX || !bin_of(&f[5], CARA_CRDT_PK_BYTES) ||
        !bin_of(&f[6], CARA_CRDT_PK_BYTES))
        return CARA_EPARSE;
    out->token_id = (const uint8_t *)f[2].via.bin.ptr;
    out->expires_wall_ms = (int64_t)f[3].via.u64;
    out->uses = (uint32_t)f[4].via.u64;
    out->token_pk = (const uint8_t *)f[5].via.bin.ptr;
    out->operator_pk = (const uint8_t *)f[6].via.bin.ptr;
    return 0;
}

/* Decodes a grant (its envelope [body, sig] and its canonical body) into
 * the grant fields of `out`; the signature is not checked. */
static int grant_decode(const uint8_t *bytes, size_t len, crdt_join_value *out)
{
    size_t total = 0, body_len = 0;
    if (bytes == NULL || len == 0 || len > CARA_CRDT_JOIN_GRANT_BYTES_MAX ||
        cara_mpcheck(bytes, len, 3, &total) != 0 || total != len || bytes[0] != 0x92 ||
        cara_mpcheck(bytes + 1, len - 1, 2, &body_len) != 0 ||
        len != 1 + body_len + 2 + CARA_CRDT_SIG_BYTES)
        return CARA_EPARSE;
    const uint8_t *sig = bytes + 1 + body_len;
    if (sig[0] != 0xc4 || sig[1] != CARA_CRDT_SIG_BYTES)
        return CARA_EPARSE;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = CARA_EPARSE;
    if (msgpack_unpack_next(&up, (const char *)bytes + 1, body_len, &off) ==
            MSGPACK_UNPACK_SUCCESS &&
        off == body_len)
        rc = bind_grant_body(&up.data, out);
    msgpack_unpacked_destroy(&up);
    if (rc != 0)
        return rc;
    crdt_cmp_sink c = {.want = bytes + 1, .want_len = body_len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c, crdt_sink_cmp);
    if (pack_grant_body(&pk, out->token_id, (uint64_t)out->expires_wall_ms, out->uses,
                        out->token_pk, out->operator_pk) != 0 ||
        c.differs || c.pos != body_len)
        return CARA_EPARSE;
    out->grant = bytes;
    out->grant_bytes = len;
    out->grant_body = bytes + 1;
    out->grant_body_bytes = body_len;
    out->grant_sig = sig + 2;
    return 0;
}

/* ---- The token's text ------------------------------------------------------------ */

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Decodes exactly text[0..n) as base64url without padding, in its one
 * canonical spelling (re-encoding gives the text back: no stray bits). */
static bool b64_decode(const char *text, size_t n, uint8_t *bin, size_t bin_cap, size_t *bin_len)
{
    const char *end = NULL;
    if (n == 0 || sodium_base642bin(bin, bin_cap, text, n, NULL, bin_len, &end, B64) != 0 ||
        end != text + n)
        return false;
    char again[CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    if (sodium_base64_ENCODED_LEN(*bin_len, B64) > sizeof again)
        return false;
    sodium_bin2base64(again, sizeof again, bin, *bin_len, B64);
    return strlen(again) == n && memcmp(again, text, n) == 0;
}

int cara_crdt_join_token_format(const uint8_t *grant, size_t grant_bytes,
                                const uint8_t seed[CARA_CRDT_SEED_BYTES], char *out,
                                size_t out_bytes)
{
    CARA_ASSERT(seed != NULL && out != NULL);
    crdt_join_value v;
    uint8_t pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    memset(&v, 0, sizeof v);
    if (grant_decode(grant, grant_bytes, &v) != 0 || cara_crdt_key_from_seed(seed, pk, sk) != 0)
        return CARA_EINVAL;
    sodium_memzero(sk, sizeof sk);
    if (memcmp(pk, v.token_pk, sizeof pk) != 0)
        return CARA_EINVAL;
    size_t prefix = strlen(CARA_CRDT_JOIN_TOKEN_PREFIX);
    size_t g = sodium_base64_ENCODED_LEN(grant_bytes, B64) - 1; /* without its NUL */
    size_t k = sodium_base64_ENCODED_LEN(CARA_CRDT_SEED_BYTES, B64) - 1;
    if (prefix + g + 1 + k + 1 > out_bytes)
        return CARA_ETOOBIG;
    memcpy(out, CARA_CRDT_JOIN_TOKEN_PREFIX, prefix);
    sodium_bin2base64(out + prefix, g + 1, grant, grant_bytes, B64);
    out[prefix + g] = '.';
    sodium_bin2base64(out + prefix + g + 1, k + 1, seed, CARA_CRDT_SEED_BYTES, B64);
    return 0;
}

/* The parse proper, into `t`, which the caller wipes on failure. */
static int token_parse(const char *token, cara_crdt_join_token *t)
{
    size_t n = strnlen(token, CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX);
    size_t prefix = strlen(CARA_CRDT_JOIN_TOKEN_PREFIX);
    if (n >= CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX || n <= prefix ||
        memcmp(token, CARA_CRDT_JOIN_TOKEN_PREFIX, prefix) != 0)
        return CARA_EPARSE;
    const char *g = token + prefix;
    const char *dot = memchr(g, '.', n - prefix);
    if (dot == NULL)
        return CARA_EPARSE;
    const char *k = dot + 1;
    size_t k_len = n - (size_t)(k - token), seed_len = 0;
    uint8_t seed[CARA_CRDT_SEED_BYTES + 1]; /* one more: a longer seed must not fit */
    bool ok = b64_decode(g, (size_t)(dot - g), t->grant, sizeof t->grant, &t->grant_bytes) &&
              b64_decode(k, k_len, seed, sizeof seed, &seed_len) &&
              seed_len == CARA_CRDT_SEED_BYTES;
    crdt_join_value v;
    memset(&v, 0, sizeof v);
    uint8_t pk[CARA_CRDT_PK_BYTES];
    ok = ok && grant_decode(t->grant, t->grant_bytes, &v) == 0 &&
         cara_crdt_key_from_seed(seed, pk, t->token_sk) == 0 &&
         memcmp(pk, v.token_pk, sizeof pk) == 0;
    sodium_memzero(seed, sizeof seed);
    if (!ok)
        return CARA_EPARSE;
    memcpy(t->token_id, v.token_id, sizeof t->token_id);
    t->expires_wall_ms = v.expires_wall_ms;
    t->uses = v.uses;
    memcpy(t->token_pk, v.token_pk, sizeof t->token_pk);
    memcpy(t->operator_pk, v.operator_pk, sizeof t->operator_pk);
    return 0;
}

int cara_crdt_join_token_parse(const char *token, cara_crdt_join_token *out)
{
    CARA_ASSERT(out != NULL);
    cara_crdt_join_token t;
    memset(&t, 0, sizeof t);
    int rc = token == NULL ? CARA_EPARSE : token_parse(token, &t);
    if (rc == 0)
        *out = t;
    else
        memset(out, 0, sizeof *out);
    sodium_memzero(&t, sizeof t);
    return rc;
}

void cara_crdt_join_token_wipe(cara_crdt_join_token *t)
{
    if (t != NULL)
        sodium_memzero(t, sizeof *t);
}

/* ---- The JOIN record's value ------------------------------------------------------ */

static int pack_join_value(msgpack_packer *pk, const uint8_t *grant, size_t grant_bytes,
                           const uint8_t *node_pk, const uint8_t *token_sig)
{
    int rc = msgpack_pack_array(pk, JOIN_FIELDS);
    rc = rc ? rc : msgpack_pack_str_with_body(pk, JOIN_MAGIC, strlen(JOIN_MAGIC));
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, grant, grant_bytes);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, node_pk, CARA_CRDT_PK_BYTES);
    rc = rc ? rc : msgpack_pack_bin_with_body(pk, token_sig, CARA_CRDT_SIG_BYTES);
    return rc;
}

static int bind_join_value(const msgpack_object *o, crdt_join_value *out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != JOIN_FIELDS)
        return CARA_EPARSE;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != strlen(JOIN_MAGIC) ||
        memcmp(f[0].via.str.ptr, JOIN_MAGIC, strlen(JOIN_MAGIC)) != 0 ||
        f[1].type != MSGPACK_OBJECT_BIN || !bin_of(&f[2], CARA_CRDT_PK_BYTES) ||
        !bin_of(&f[3], CARA_CRDT_SIG_BYTES))
        return CARA_EPARSE;
    int rc = grant_decode((const uint8_t *)f[1].via.bin.ptr, f[1].via.bin.size, out);
    if (rc != 0)
        return rc;
    out->node_pk = (const uint8_t *)f[2].via.bin.ptr;
    out->token_sig = (const uint8_t *)f[3].via.bin.ptr;
    return 0;
}

int crdt_join_value_decode(const uint8_t *bytes, size_t len, crdt_join_value *out)
{
    memset(out, 0, sizeof *out);
    size_t total = 0;
    if (bytes == NULL || len == 0 || len > JOIN_VALUE_BYTES_MAX ||
        cara_mpcheck(bytes, len, 2, &total) != 0 || total != len)
        return CARA_EPARSE;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = CARA_EPARSE;
    if (msgpack_unpack_next(&up, (const char *)bytes, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len)
        rc = bind_join_value(&up.data, out);
    msgpack_unpacked_destroy(&up);
    crdt_cmp_sink c = {.want = bytes, .want_len = len};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c, crdt_sink_cmp);
    if (rc == 0 && (pack_join_value(&pk, out->grant, out->grant_bytes, out->node_pk,
                                    out->token_sig) != 0 ||
                    c.differs || c.pos != len))
        rc = CARA_EPARSE;
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

static void token_sig_msg(const uint8_t *node_pk, const uint8_t *token_id,
                          uint8_t msg[TOKEN_SIG_MSG_BYTES])
{
    size_t p = sizeof TOKEN_SIG_PREFIX - 1;
    memcpy(msg, TOKEN_SIG_PREFIX, p);
    memcpy(msg + p, node_pk, CARA_CRDT_PK_BYTES);
    memcpy(msg + p + CARA_CRDT_PK_BYTES, token_id, CARA_CRDT_JOIN_TOKEN_ID_BYTES);
}

/* A bounded sink for the value, which never exceeds JOIN_VALUE_BYTES_MAX. */
typedef struct fixed_sink {
    uint8_t bytes[JOIN_VALUE_BYTES_MAX];
    size_t len;
} fixed_sink;

static int sink_fixed(void *data, const char *p, size_t len)
{
    fixed_sink *f = data;
    if (len > sizeof f->bytes - f->len)
        return -1;
    memcpy(f->bytes + f->len, p, len);
    f->len += len;
    return 0;
}

int cara_crdt_join_record_sign(const cara_crdt_join_token *t,
                               const uint8_t node_pk[CARA_CRDT_PK_BYTES],
                               const uint8_t node_sk[CARA_CRDT_SK_BYTES], const char *node_name,
                               uint64_t hlc, cara_buf *out)
{
    CARA_ASSERT(t != NULL && node_pk != NULL && node_sk != NULL && node_name != NULL &&
                out != NULL);
    if (t->grant_bytes == 0 || t->grant_bytes > sizeof t->grant)
        return CARA_EINVAL;
    if (cara_crdt_hlc_wall_ms(hlc) > t->expires_wall_ms)
        return CARA_EEXPIRED;
    uint8_t msg[TOKEN_SIG_MSG_BYTES], sig[CARA_CRDT_SIG_BYTES];
    token_sig_msg(node_pk, t->token_id, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, t->token_sk);
    fixed_sink v = {.len = 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &v, sink_fixed);
    if (pack_join_value(&pk, t->grant, t->grant_bytes, node_pk, sig) != 0)
        return CARA_ETOOBIG;
    cara_crdt_record r = {.kind = CARA_CRDT_JOIN, .key = (const uint8_t *)node_name,
                          .key_bytes = strlen(node_name), .generation = 0, .hlc = hlc,
                          .author = node_pk, .value = v.bytes, .value_bytes = v.len};
    return cara_crdt_record_sign(&r, node_sk, out);
}

/* ---- Trust ---------------------------------------------------------------------- */

int crdt_join_check_author(const cara_crdt *s, const cara_crdt_record *r)
{
    CARA_ASSERT(r->kind == CARA_CRDT_JOIN);
    crdt_join_value v;
    if (crdt_join_value_decode(r->value, r->value_bytes, &v) != 0)
        return CARA_ESCHEMA;
    if (!crdt_is_operator(s, v.operator_pk))
        return CARA_EUNTRUSTED;
    if (memcmp(v.node_pk, r->author, CARA_CRDT_PK_BYTES) != 0)
        return CARA_EWRONGAUTHOR;
    /* The record's own stamp, not the receiver's clock: every replica must
     * judge the same record alike, now or in a year. The seed also judges
     * against its clock, in cara_crdt_join_check. */
    if (cara_crdt_hlc_wall_ms(r->hlc) > v.expires_wall_ms)
        return CARA_EEXPIRED;
    return 0;
}

int crdt_join_verify_value(const cara_crdt_record *r)
{
    crdt_join_value v;
    if (crdt_join_value_decode(r->value, r->value_bytes, &v) != 0)
        return CARA_EBADSIG;
    if (crypto_sign_verify_detached(v.grant_sig, v.grant_body, v.grant_body_bytes,
                                    v.operator_pk) != 0)
        return CARA_EBADSIG;
    uint8_t msg[TOKEN_SIG_MSG_BYTES];
    token_sig_msg(v.node_pk, v.token_id, msg);
    if (crypto_sign_verify_detached(v.token_sig, msg, sizeof msg, v.token_pk) != 0)
        return CARA_EBADSIG;
    return 0;
}

int cara_crdt_join_check(const cara_crdt *s, const uint8_t *record, size_t len,
                         int64_t now_wall_ms)
{
    CARA_ASSERT(s != NULL);
    cara_crdt_record r;
    if (cara_crdt_record_decode(record, len, &r) != 0 || r.kind != CARA_CRDT_JOIN)
        return CARA_EPARSE;
    if (cara_crdt_hlc_wall_ms(r.hlc) > now_wall_ms + s->skew_ms_max)
        return CARA_EFUTURE;
    int rc = crdt_join_check_author(s, &r);
    if (rc != 0)
        return rc == CARA_ESCHEMA ? CARA_EPARSE : rc;
    if (cara_crdt_record_verify(&r) != 0 || crdt_join_verify_value(&r) != 0)
        return CARA_EBADSIG;
    /* A node that asks again once it is in is told so, even after the
     * token expired: its join was judged when it was made. */
    if (crdt_admits_as(s, r.key, r.key_bytes, r.author))
        return 0;
    crdt_join_value v;
    rc = crdt_join_value_decode(r.value, r.value_bytes, &v);
    CARA_ASSERT(rc == 0);
    if (now_wall_ms > v.expires_wall_ms)
        return CARA_EEXPIRED;
    uint8_t kh[16];
    crdt_keyhash(CARA_CRDT_JOIN, r.key, r.key_bytes, r.author, kh);
    const crdt_entry *held = crdt_find(s, kh);
    int c = held != NULL ? crdt_record_cmp(&r, &held->rec) : 1;
    if (c < 0)
        return CARA_ESTALE;
    if (held == NULL && s->count >= s->records_max)
        return CARA_ELIMIT;
    return crdt_join_fate(s, c > 0 ? &r : NULL, r.key, r.key_bytes, r.author);
}
