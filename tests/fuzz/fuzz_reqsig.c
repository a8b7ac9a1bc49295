/*
 * Feeds arbitrary request-signature headers and request lines to the
 * request-signature code (src/crdt/reqsig.c). The input is split at its
 * first seven NUL bytes into X-Cara-Key, -Node, -Time, -Nonce, -Signature,
 * the method, the target, and the body (the rest); a field the input does
 * not reach is a missing header. Properties:
 *   - parse accepts exactly the documented forms: an accepted set decodes
 *     to values that print back as the header text (hex in either case,
 *     TIME in its one decimal spelling); a refused set leaves *out zeroed;
 *   - the message is the fields joined by newlines after the prefix, or
 *     CARA_EINVAL with nothing written;
 *   - the input's own signature verifies only as the documented codes, and
 *     one that verifies stops verifying once NODE names another node;
 *   - signing the same request under the fuzzer's key gives headers that
 *     parse and verify, and fails exactly when the message is refused.
 */
#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "crdt/crdt.h"
#include "fuzz_common.h"
#include "fuzz_crdt_fixture.h"

enum { F_KEY, F_NODE, F_TIME, F_NONCE, F_SIG, F_METHOD, F_TARGET, F_COUNT };

typedef struct input {
    char *text; /* the input with a NUL after each field, owned */
    const char *f[F_COUNT];
    const uint8_t *body;
    size_t body_len;
} input;

static void split(input *in, const uint8_t *data, size_t size)
{
    memset(in, 0, sizeof *in);
    in->text = malloc(size + 1);
    FUZZ_CHECK(in->text != NULL);
    memcpy(in->text, data, size);
    in->text[size] = '\0';
    size_t at = 0;
    for (int i = 0; i < F_COUNT && at <= size; i++) {
        in->f[i] = in->text + at;
        at += strlen(in->text + at) + 1;
    }
    if (at <= size) {
        in->body = data + at;
        in->body_len = size - at;
    }
}

static bool same_hex(const char *hex, const uint8_t *bin, size_t n)
{
    char want[2 * 64 + 1];
    sodium_bin2hex(want, sizeof want, bin, n);
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++)
        if (tolower((unsigned char)hex[i]) != want[i])
            return false;
    return true;
}

static void check_parse(const input *in, cara_reqsig_parsed *p, bool *ok)
{
    memset(p, 0xa5, sizeof *p);
    int rc = cara_crdt_reqsig_parse(in->f[F_KEY], in->f[F_NODE], in->f[F_TIME], in->f[F_NONCE],
                                    in->f[F_SIG], p);
    FUZZ_CHECK(rc == 0 || rc == CARA_EPARSE);
    *ok = rc == 0;
    if (rc != 0) {
        static const cara_reqsig_parsed zero;
        FUZZ_CHECK(memcmp(p, &zero, sizeof zero) == 0);
        return;
    }
    FUZZ_CHECK(same_hex(in->f[F_KEY], p->pk, CARA_CRDT_PK_BYTES));
    FUZZ_CHECK(same_hex(in->f[F_NODE], p->node_pk, CARA_CRDT_PK_BYTES));
    FUZZ_CHECK(same_hex(in->f[F_NONCE], p->nonce, CARA_REQSIG_NONCE_BYTES));
    FUZZ_CHECK(same_hex(in->f[F_SIG], p->sig, CARA_CRDT_SIG_BYTES));
    char t[CARA_REQSIG_TIME_TEXT_BYTES];
    snprintf(t, sizeof t, "%lld", (long long)p->time_wall_ms);
    FUZZ_CHECK(p->time_wall_ms >= 0 && strcmp(t, in->f[F_TIME]) == 0);
    FUZZ_CHECK(strcmp(p->text.key, in->f[F_KEY]) == 0 && strcmp(p->text.node, in->f[F_NODE]) == 0 &&
               strcmp(p->text.time, in->f[F_TIME]) == 0 &&
               strcmp(p->text.nonce, in->f[F_NONCE]) == 0 && strcmp(p->text.sig, in->f[F_SIG]) == 0);
}

/* Returns the rc of cara_crdt_reqsig_message over the input's own fields. */
static int check_message(cara_env *env, const input *in, const char *node, const char *time,
                         const char *nonce)
{
    cara_buf b;
    cara_buf_init(&b, env, 4 * CARA_HTTP_HEADER_BYTES_MAX);
    int rc = cara_crdt_reqsig_message(node, in->f[F_METHOD], in->f[F_TARGET], time, nonce,
                                      in->body, in->body_len, &b);
    FUZZ_CHECK(rc == 0 || rc == CARA_EINVAL);
    if (rc != 0) {
        FUZZ_CHECK(b.len == 0);
        cara_buf_free(&b);
        return rc;
    }
    const char *want[6] = {CARA_REQSIG_PREFIX, node, in->f[F_METHOD], in->f[F_TARGET], time,
                           nonce};
    const char *p = (const char *)b.data, *end = p + b.len;
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(want[i]);
        FUZZ_CHECK((size_t)(end - p) > n && memcmp(p, want[i], n) == 0 && p[n] == '\n');
        p += n + 1;
    }
    FUZZ_CHECK(end - p == 64 && memchr(p, '\n', 64) == NULL);
    cara_buf_free(&b);
    return 0;
}

/* The input's own signature, and the same request signed for another node. */
static void check_verify(cara_env *env, const input *in, const cara_reqsig_parsed *p)
{
    int rc = cara_crdt_reqsig_verify(p, in->f[F_METHOD], in->f[F_TARGET], in->body, in->body_len,
                                     env);
    FUZZ_CHECK(rc == 0 || rc == CARA_EBADSIG || rc == CARA_EINVAL);
    if (rc != 0)
        return;
    cara_reqsig_parsed other = *p;
    other.text.node[0] = other.text.node[0] == '0' ? '1' : '0';
    FUZZ_CHECK(cara_crdt_reqsig_verify(&other, in->f[F_METHOD], in->f[F_TARGET], in->body,
                                       in->body_len, env) == CARA_EBADSIG);
}

/* Signs the input's request under `me` for the parsed node (or a fixed one). */
static void check_sign(cara_env *env, const input *in, const cara_reqsig_parsed *p, bool parsed,
                       const fixture_key *me)
{
    static const uint8_t zero_nonce[CARA_REQSIG_NONCE_BYTES];
    uint8_t node[CARA_CRDT_PK_BYTES];
    memcpy(node, parsed ? p->node_pk : me->pk, sizeof node);
    cara_reqsig_headers h;
    int rc = cara_crdt_reqsig_sign(me->sk, node, in->f[F_METHOD], in->f[F_TARGET],
                                   parsed ? p->time_wall_ms : 0, parsed ? p->nonce : zero_nonce,
                                   in->body, in->body_len, env, &h);
    FUZZ_CHECK(rc == 0 || rc == CARA_EINVAL);
    /* The same fields as text: sign fails exactly when the message is refused. */
    FUZZ_CHECK(check_message(env, in, h.node, h.time, h.nonce) == rc);
    if (rc != 0)
        return;
    cara_reqsig_parsed q;
    FUZZ_CHECK(cara_crdt_reqsig_parse(h.key, h.node, h.time, h.nonce, h.sig, &q) == 0);
    FUZZ_CHECK(memcmp(q.pk, me->pk, sizeof q.pk) == 0 && memcmp(q.node_pk, node, sizeof node) == 0);
    FUZZ_CHECK(cara_crdt_reqsig_verify(&q, in->f[F_METHOD], in->f[F_TARGET], in->body,
                                       in->body_len, env) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    static fixture_key me;
    static int ready;
    if (!ready) {
        FUZZ_CHECK(sodium_init() >= 0);
        fixture_key_make(&me, 1);
        ready = 1;
    }
    input in;
    split(&in, data, size);
    cara_reqsig_parsed p;
    bool parsed = false;
    check_parse(&in, &p, &parsed);
    if (in.f[F_METHOD] != NULL && in.f[F_TARGET] != NULL) {
        if (parsed)
            check_verify(env, &in, &p);
        if (in.f[F_NODE] != NULL && in.f[F_TIME] != NULL && in.f[F_NONCE] != NULL)
            check_message(env, &in, in.f[F_NODE], in.f[F_TIME], in.f[F_NONCE]);
        check_sign(env, &in, &p, parsed, &me);
    }
    free(in.text);
    return 0;
}
