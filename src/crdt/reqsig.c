/*
 * Request signatures of the HTTP API (docs/api.md, "Authentication"): the
 * signed message, signing into header values, and parsing and verifying
 * them. No clock, no randomness, no I/O: the agent and caravanctl bring
 * those.
 */
#include <sodium.h>
#include <string.h>

#include "crdt/crdt.h"

#define BODY_HASH_BYTES 32
/* Method names are short tokens (RFC 9110 §9); a longer one is garbage. */
#define METHOD_BYTES_MAX 32

static bool text_ok(const char *s, size_t bytes_max)
{
    size_t n = strnlen(s, bytes_max + 1);
    return n > 0 && n <= bytes_max && memchr(s, '\n', n) == NULL;
}

/* Exactly 2 * bytes hex digits, nothing else (no decoding). */
static bool hex_text_ok(const char *s, size_t bytes)
{
    size_t n = strnlen(s, 2 * bytes + 1);
    if (n != 2 * bytes)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

int cara_crdt_reqsig_message(const char *node_hex, const char *method, const char *target,
                             const char *time_text, const char *nonce_hex, const uint8_t *body,
                             size_t body_len, cara_buf *out)
{
    CARA_ASSERT(node_hex != NULL && method != NULL && target != NULL);
    CARA_ASSERT(time_text != NULL && nonce_hex != NULL);
    CARA_ASSERT(body != NULL || body_len == 0);
    if (!hex_text_ok(node_hex, CARA_CRDT_PK_BYTES) || !text_ok(method, METHOD_BYTES_MAX) ||
        !text_ok(target, CARA_HTTP_TARGET_BYTES_MAX) ||
        !text_ok(time_text, CARA_REQSIG_TIME_TEXT_BYTES) ||
        !text_ok(nonce_hex, CARA_REQSIG_NONCE_HEX_BYTES))
        return CARA_EINVAL;
    uint8_t hash[BODY_HASH_BYTES];
    char hash_hex[2 * BODY_HASH_BYTES + 1];
    crypto_generichash(hash, sizeof hash, body_len ? body : (const uint8_t *)"", body_len,
                       NULL, 0);
    sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
    return cara_buf_printf(out, "%s\n%s\n%s\n%s\n%s\n%s\n%s", CARA_REQSIG_PREFIX, node_hex,
                           method, target, time_text, nonce_hex, hash_hex);
}

int cara_crdt_reqsig_sign(const uint8_t sk[CARA_CRDT_SK_BYTES],
                          const uint8_t node_pk[CARA_CRDT_PK_BYTES], const char *method,
                          const char *target, int64_t time_wall_ms,
                          const uint8_t nonce[CARA_REQSIG_NONCE_BYTES], const uint8_t *body,
                          size_t body_len, cara_env *env, cara_reqsig_headers *out)
{
    CARA_ASSERT(sk != NULL && node_pk != NULL && nonce != NULL && out != NULL);
    if (time_wall_ms < 0)
        return CARA_EINVAL;
    memset(out, 0, sizeof *out);
    /* The public half of an Ed25519 secret key is its last 32 bytes. */
    sodium_bin2hex(out->key, sizeof out->key, sk + CARA_CRDT_SK_BYTES - CARA_CRDT_PK_BYTES,
                   CARA_CRDT_PK_BYTES);
    sodium_bin2hex(out->node, sizeof out->node, node_pk, CARA_CRDT_PK_BYTES);
    snprintf(out->time, sizeof out->time, "%lld", (long long)time_wall_ms);
    sodium_bin2hex(out->nonce, sizeof out->nonce, nonce, CARA_REQSIG_NONCE_BYTES);
    cara_buf msg;
    cara_buf_init(&msg, env, CARA_HTTP_HEADER_BYTES_MAX);
    int rc = cara_crdt_reqsig_message(out->node, method, target, out->time, out->nonce, body,
                                      body_len, &msg);
    if (rc == 0) {
        uint8_t sig[CARA_CRDT_SIG_BYTES];
        crypto_sign_detached(sig, NULL, msg.data, msg.len, sk);
        sodium_bin2hex(out->sig, sizeof out->sig, sig, sizeof sig);
    }
    cara_buf_free(&msg);
    return rc;
}

/* Exactly `bytes` bytes of hex, nothing before or after. */
static bool hex_exact(const char *hex, uint8_t *bin, size_t bytes)
{
    size_t n = strnlen(hex, 2 * bytes + 1);
    if (n != 2 * bytes)
        return false;
    size_t got = 0;
    const char *end = NULL;
    return sodium_hex2bin(bin, bytes, hex, n, NULL, &got, &end) == 0 && got == bytes &&
           end == hex + n;
}

/* Decimal digits only, no sign or leading zero (one spelling per value,
 * so the signed text and the number can never disagree). */
static bool time_parse(const char *s, int64_t *out)
{
    size_t n = strnlen(s, CARA_REQSIG_TIME_TEXT_BYTES);
    if (n == 0 || n >= CARA_REQSIG_TIME_TEXT_BYTES || (n > 1 && s[0] == '0'))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int cara_crdt_reqsig_parse(const char *key_hex, const char *node_hex, const char *time_text,
                           const char *nonce_hex, const char *sig_hex, cara_reqsig_parsed *out)
{
    CARA_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (key_hex == NULL || node_hex == NULL || time_text == NULL || nonce_hex == NULL ||
        sig_hex == NULL)
        return CARA_EPARSE;
    if (!hex_exact(key_hex, out->pk, CARA_CRDT_PK_BYTES) ||
        !hex_exact(node_hex, out->node_pk, CARA_CRDT_PK_BYTES) ||
        !time_parse(time_text, &out->time_wall_ms) ||
        !hex_exact(nonce_hex, out->nonce, CARA_REQSIG_NONCE_BYTES) ||
        !hex_exact(sig_hex, out->sig, CARA_CRDT_SIG_BYTES)) {
        memset(out, 0, sizeof *out);
        return CARA_EPARSE;
    }
    /* Lengths were checked above, so each copy fits with its NUL. */
    memcpy(out->text.key, key_hex, sizeof out->text.key);
    memcpy(out->text.node, node_hex, sizeof out->text.node);
    snprintf(out->text.time, sizeof out->text.time, "%s", time_text);
    memcpy(out->text.nonce, nonce_hex, sizeof out->text.nonce);
    memcpy(out->text.sig, sig_hex, sizeof out->text.sig);
    return 0;
}

int cara_crdt_reqsig_verify(const cara_reqsig_parsed *h, const char *method, const char *target,
                            const uint8_t *body, size_t body_len, cara_env *env)
{
    CARA_ASSERT(h != NULL);
    cara_buf msg;
    cara_buf_init(&msg, env, CARA_HTTP_HEADER_BYTES_MAX);
    int rc = cara_crdt_reqsig_message(h->text.node, method, target, h->text.time,
                                      h->text.nonce, body, body_len, &msg);
    if (rc == 0 && crypto_sign_verify_detached(h->sig, msg.data, msg.len, h->pk) != 0)
        rc = CARA_EBADSIG;
    cara_buf_free(&msg);
    return rc;
}
