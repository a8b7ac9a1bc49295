#include "ctl/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "os/os.h"

/* ---- Opening: settings and key ------------------------------------------------ */

static int load_key(ctl_client *c, int key_need)
{
    uint8_t seed[CARA_OS_KEY_SEED_BYTES];
    int rc = cara_os_keyfile_read(c->cfg.key_path, seed);
    if (rc == 0) {
        rc = cara_crdt_key_from_seed(seed, c->pk, c->sk);
        sodium_memzero(seed, sizeof seed);
        c->have_key = rc == 0;
    }
    if (rc == 0)
        return 0;
    /* Without a key at the default place, reads go unsigned (allowed on
     * loopback); a key that was named, or that exists but cannot be used,
     * is always an error. */
    if (rc == CARA_ENOENT && !c->cfg.key_explicit && key_need == CTL_KEY_OPTIONAL)
        return 0;
    if (rc == CARA_ENOENT)
        return ctl_fail("no operator key at %s (create one with 'caravanctl keygen', or "
                        "name one with --key FILE)", c->cfg.key_path);
    if (rc == CARA_EPERM)
        return ctl_fail("%s: cannot use the key file: it must be readable by its owner only "
                        "(chmod 600)", c->cfg.key_path);
    return ctl_fail("%s: cannot read the key file: %s", c->cfg.key_path, cara_strerror(rc));
}

int ctl_client_open(ctl_client *c, ctl_ctx *ctx, int key_need)
{
    memset(c, 0, sizeof *c);
    c->env = &ctx->env;
    int rc = ctl_settings_load(ctx, &c->cfg);
    if (rc != 0)
        return rc;
    if (sodium_init() < 0)
        return ctl_fail("libsodium cannot start");
    rc = load_key(c, key_need);
    if (rc != 0)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ctl_fail("libcurl cannot start");
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        curl_global_cleanup();
        return ctl_fail("libcurl cannot start");
    }
    return 0;
}

void ctl_client_close(ctl_client *c)
{
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
        curl_global_cleanup();
    }
    sodium_memzero(c->sk, sizeof c->sk);
    c->curl = NULL;
}

/* ---- Requests ------------------------------------------------------------------- */

static bool signs(const ctl_client *c, const char *target)
{
    return c->have_key && strncmp(target, "/v1/", 4) == 0;
}

/* Adds the five X-Cara-* headers for this request. Returns 0 or a CARA_E*. */
static int sign_headers(ctl_client *c, const char *method, const char *target, const char *body,
                        size_t body_len, struct curl_slist **hs)
{
    if (!signs(c, target))
        return 0;
    CARA_ASSERT(c->have_node_pk); /* ctl_client_node_key ran before prepare */
    uint8_t nonce[CARA_REQSIG_NONCE_BYTES];
    randombytes_buf(nonce, sizeof nonce);
    cara_reqsig_headers h;
    int rc = cara_crdt_reqsig_sign(c->sk, c->node_pk, method, target,
                                   cara_env_now_wall_ms(c->env), nonce, (const uint8_t *)body,
                                   body_len, c->env, &h);
    if (rc != 0)
        return rc;
    char line[64 + CARA_REQSIG_SIG_HEX_BYTES];
    const char *names[5] = {"X-Cara-Key", "X-Cara-Node", "X-Cara-Time", "X-Cara-Nonce",
                            "X-Cara-Signature"};
    const char *values[5] = {h.key, h.node, h.time, h.nonce, h.sig};
    for (int i = 0; i < 5; i++) {
        snprintf(line, sizeof line, "%s: %s", names[i], values[i]);
        struct curl_slist *next = curl_slist_append(*hs, line);
        if (next == NULL)
            return CARA_ENOMEM;
        *hs = next;
    }
    return 0;
}

/* Sets what every request shares; returns the header list to free. */
static int prepare(ctl_client *c, const char *method, const char *target, const char *body,
                   size_t body_len, struct curl_slist **hs)
{
    CURL *h = c->curl;
    curl_easy_reset(h); /* keeps the connection cache */
    char url[sizeof c->cfg.peer + CARA_HTTP_TARGET_BYTES_MAX + 16];
    if (snprintf(url, sizeof url, "http://%s%s", c->cfg.peer, target) >= (int)sizeof url)
        return CARA_ETOOBIG;
    curl_easy_setopt(h, CURLOPT_URL, url);
    /* The signature covers the target as sent: curl must not tidy it. */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CTL_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "caravanctl");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    *hs = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    if (*hs == NULL)
        return CARA_ENOMEM;
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        struct curl_slist *next = curl_slist_append(*hs, "Content-Type: application/json");
        if (next == NULL)
            return CARA_ENOMEM;
        *hs = next;
    }
    int rc = sign_headers(c, method, target, body, body_len, hs);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hs);
    return rc;
}

/* "cannot reach PEER: Connection refused", with the OS's words when the
 * failure was the OS's. Returns CTL_EXIT_FAIL. */
static int report_transport(ctl_client *c, CURLcode cc, const char *errbuf)
{
    long os_errno = 0;
    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        return ctl_fail("cannot reach %s: unknown host \"%s\"", c->cfg.peer, c->cfg.host);
    case CURLE_OPERATION_TIMEDOUT:
        return ctl_fail("cannot reach %s: no answer in time", c->cfg.peer);
    case CURLE_COULDNT_CONNECT:
        if (os_errno != 0)
            return ctl_fail("cannot reach %s: %s", c->cfg.peer, strerror((int)os_errno));
        break;
    default:
        break;
    }
    return ctl_fail("cannot reach %s: %s", c->cfg.peer,
                    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
}

typedef struct sink {
    cara_buf *buf;
    bool too_big;
} sink;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    if (cara_buf_append(s->buf, data, size * n) != 0) {
        s->too_big = true;
        return 0;
    }
    return size * n;
}

/* The publicKey of a /healthz answer; false if there is none. */
static bool node_key_from(const cara_buf *resp, uint8_t pk[CARA_CRDT_PK_BYTES])
{
    json_t *j = ctl_json_load_clean(resp->data != NULL ? (const char *)resp->data : "",
                                    resp->len, NULL);
    const char *hex = json_string_value(json_object_get(j, "publicKey"));
    size_t got = 0;
    const char *end = NULL;
    bool ok = hex != NULL && strlen(hex) == 2 * CARA_CRDT_PK_BYTES &&
              sodium_hex2bin(pk, CARA_CRDT_PK_BYTES, hex, strlen(hex), NULL, &got, &end) == 0 &&
              got == CARA_CRDT_PK_BYTES && *end == '\0';
    json_decref(j);
    return ok;
}

int ctl_client_node_key(ctl_client *c)
{
    if (c->have_node_pk)
        return 0;
    cara_buf resp;
    cara_buf_init(&resp, c->env, CTL_ERROR_BODY_BYTES_MAX);
    long status = 0;
    /* Not under /v1/, so this call is not signed and does not come back here. */
    int rc = ctl_http_call(c, "GET", "/healthz", NULL, 0, &status, &resp);
    if (rc == 0 && status != 200)
        rc = ctl_fail("cannot learn the node key of %s: /healthz answered HTTP %ld",
                      c->cfg.peer, status);
    else if (rc == 0 && !node_key_from(&resp, c->node_pk))
        rc = ctl_fail("cannot learn the node key of %s: /healthz has no valid publicKey",
                      c->cfg.peer);
    c->have_node_pk = rc == 0;
    cara_buf_free(&resp);
    return rc;
}

int ctl_http_call(ctl_client *c, const char *method, const char *target, const char *body,
                  size_t body_len, long *status, cara_buf *resp)
{
    struct curl_slist *hs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    *status = 0;
    if (signs(c, target) && ctl_client_node_key(c) != 0)
        return CTL_EXIT_FAIL;
    int rc = prepare(c, method, target, body, body_len, &hs);
    if (rc != 0) {
        curl_slist_free_all(hs);
        return ctl_fail("cannot build the request: %s", cara_strerror(rc));
    }
    sink s = {resp, false};
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)CTL_REQUEST_TIMEOUT_MS);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    CURLcode cc = curl_easy_perform(c->curl);
    curl_slist_free_all(hs);
    if (s.too_big)
        return ctl_fail("the answer from %s is larger than %d bytes", c->cfg.peer,
                        CTL_RESPONSE_BYTES_MAX);
    if (cc != CURLE_OK)
        return report_transport(c, cc, errbuf);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* Replaces terminal control characters (C0 but tab and newline, DEL, and
 * C1 as UTF-8) with '?', in place. */
static void clean_text(char *t)
{
    for (unsigned char *p = (unsigned char *)t; *p; p++) {
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
            *p = '?';
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            p[0] = '?', p[1] = '?';
    }
}

/* Strings from a peer are printed on the operator's terminal: a hostile or
 * broken node must not be able to send it escape sequences. */
static void clean_json(json_t *j, int depth)
{
    if (j == NULL || depth > CARA_DOC_DEPTH_MAX)
        return;
    if (json_is_string(j)) {
        const char *v = json_string_value(j);
        if (strpbrk(v, "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0d\x0e\x0f\x10\x11\x12"
                       "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\xc2") == NULL)
            return;
        char *copy = strdup(v);
        if (copy != NULL) {
            clean_text(copy);
            json_string_set(j, copy);
            free(copy);
        }
        return;
    }
    size_t i;
    const char *key;
    json_t *v;
    if (json_is_array(j))
        json_array_foreach(j, i, v) clean_json(v, depth + 1);
    else if (json_is_object(j))
        json_object_foreach(j, key, v) clean_json(v, depth + 1);
}

json_t *ctl_json_load_clean(const char *text, size_t len, json_error_t *err)
{
    json_t *j = json_loadb(text, len, 0, err);
    clean_json(j, 0);
    return j;
}

json_t *ctl_http_json(const cara_buf *resp)
{
    json_error_t jerr;
    json_t *j = ctl_json_load_clean(resp->data != NULL ? (const char *)resp->data : "", resp->len, &jerr);
    if (j == NULL)
        ctl_fail("the answer is not JSON: %s", jerr.text);
    return j;
}

int ctl_http_report(long status, const cara_buf *resp)
{
    json_t *j = ctl_json_load_clean(resp->data != NULL ? (const char *)resp->data : "", resp->len, NULL);
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (msg == NULL) {
        char text[201];
        snprintf(text, sizeof text, "%s", resp->data != NULL ? (const char *)resp->data : "");
        text[strcspn(text, "\r\n")] = '\0';
        clean_text(text);
        ctl_fail("the peer answered HTTP %ld%s%s", status, text[0] ? ": " : "", text);
        json_decref(j);
        return CTL_EXIT_FAIL;
    }
    ctl_fail("%s", msg);
    json_t *details = json_object_get(j, "details");
    for (size_t i = 0; i < json_array_size(details); i++) {
        const char *d = json_string_value(json_array_get(details, i));
        if (d != NULL)
            fprintf(stderr, "  %s\n", d);
    }
    json_decref(j);
    return CTL_EXIT_FAIL;
}

/* ---- Streams -------------------------------------------------------------------- */

typedef struct stream_state {
    ctl_client *c;
    ctl_stream_fn fn;
    void *ctx;
    long status;
    bool stopped;
    cara_buf err; /* the body of an answer other than 200 */
} stream_state;

static size_t on_stream(char *data, size_t size, size_t n, void *arg)
{
    stream_state *s = arg;
    size_t len = size * n;
    if (s->status == 0)
        curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200) {
        (void)cara_buf_append(&s->err, data, len); /* beyond the cap: cut */
        return len;
    }
    if (s->fn(s->ctx, data, len) != 0) {
        s->stopped = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return len;
}

int ctl_http_stream(ctl_client *c, const char *target, int64_t timeout_ms, ctl_stream_fn fn,
                    void *ctx, long *status_out)
{
    struct curl_slist *hs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    if (signs(c, target) && ctl_client_node_key(c) != 0)
        return CTL_STREAM_FAILED;
    int rc = prepare(c, "GET", target, NULL, 0, &hs);
    if (rc != 0) {
        curl_slist_free_all(hs);
        ctl_fail("cannot build the request: %s", cara_strerror(rc));
        return CTL_STREAM_FAILED;
    }
    stream_state s = {.c = c, .fn = fn, .ctx = ctx};
    cara_buf_init(&s.err, c->env, CTL_ERROR_BODY_BYTES_MAX);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 0));
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    CURLcode cc = curl_easy_perform(c->curl);
    curl_slist_free_all(hs);
    if (s.status == 0)
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &s.status);
    if (status_out != NULL)
        *status_out = s.status;
    int out;
    if (s.stopped)
        out = CTL_STREAM_STOPPED;
    else if (cc == CURLE_OPERATION_TIMEDOUT && s.status == 200)
        out = CTL_STREAM_TIMEOUT;
    else if (cc != CURLE_OK && s.status == 0)
        out = (report_transport(c, cc, errbuf), CTL_STREAM_FAILED);
    else if (s.status != 200)
        out = (ctl_http_report(s.status, &s.err), CTL_STREAM_REFUSED);
    else if (cc != CURLE_OK)
        out = (ctl_fail("the stream from %s broke: %s", c->cfg.peer,
                        errbuf[0] ? errbuf : curl_easy_strerror(cc)),
               CTL_STREAM_FAILED);
    else
        out = CTL_STREAM_ENDED;
    cara_buf_free(&s.err);
    return out;
}
