/* The HTTP client of httpc.h: libcurl multi on a libuv loop. */
#include "agent/httpc.h"

#include <jansson.h>

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/un.h>

/* A reply body past this is not something the engine sends for the calls we
 * make (a list of every container of a busy engine is well under it), nor
 * an agent (its error bodies are one line). */
#define HTTPC_BODY_BYTES_MAX (32u * 1024 * 1024)
/* One NDJSON line of /events or pull progress. */
#define HTTPC_LINE_BYTES_MAX (1024u * 1024)
#define HTTPC_TIMEOUT_MS_DEFAULT 120000u

struct cara_httpc_req {
    cara_httpc *d;
    CURL *easy;
    struct curl_slist *headers;
    cara_buf body_in;        /* reply body, or the partial line of a stream */
    bool stream, lines, cancelled;
    bool whole_errors, head_seen, collecting; /* collecting: an error body (whole_errors) */
    cara_httpc_data_fn data_fn;
    cara_httpc_head_fn head_fn;
    cara_httpc_done_fn done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    struct cara_httpc_req *prev, *next;
};

struct cara_httpc {
    cara_env *env;
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;  /* curl's timeout */
    uv_timer_t reaper; /* finishes requests cancelled from inside curl */
    int in_curl;       /* > 0 while curl runs our callbacks */
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "": TCP */
    uint32_t timeout_ms;
    cara_httpc_req *reqs; /* in flight, doubly linked */
    size_t inflight;
    bool closing;
    int handles_open; /* libuv handles not yet closed (timer + polls) */
};

/* One watched socket: libuv polls the fd curl asked about. */
typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    cara_httpc *d;
} sock_ctx;

static void maybe_free(cara_httpc *d)
{
    if (d->closing && d->handles_open == 0) {
        curl_multi_cleanup(d->multi);
        curl_global_cleanup();
        cara_env_free(d->env, d);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    cara_httpc *d;
    if (h->type == UV_POLL) {
        sock_ctx *s = h->data;
        d = s->d;
        cara_env_free(d->env, s);
    } else {
        d = h->data;
    }
    d->handles_open--;
    maybe_free(d);
}

/* Finishes a request: unlinks it, runs its callback once, frees it. */
static void finish(cara_httpc_req *r, CURLcode code)
{
    cara_httpc *d = r->d;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    cara_httpc_result res = {0};
    if (r->cancelled) {
        res.rc = CARA_EAGAIN;
        res.error = "cancelled";
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        res.rc = CARA_ETIMEOUT;
        res.error = r->errbuf;
    } else if (code == CURLE_WRITE_ERROR) {
        res.rc = CARA_ETOOBIG;
        res.error = "reply larger than the client accepts";
    } else if (code != CURLE_OK) {
        res.rc = CARA_EIO;
        res.error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
    } else {
        res.http_status = status;
    }
    /* The engine's errors are {"message": "..."}, the agent's {"error":
     * "...", "reason": "..."}; hand the text up. */
    json_t *j = NULL;
    if (res.rc == 0) {
        res.body = r->body_in.data ? (const char *)r->body_in.data : "";
        res.body_len = r->body_in.len;
        res.error = "";
        if (status >= 400 && (j = json_loadb(res.body, res.body_len, 0, NULL)) != NULL) {
            const char *m = json_string_value(json_object_get(j, "message"));
            if (m == NULL)
                m = json_string_value(json_object_get(j, "error"));
            if (m != NULL)
                res.error = m;
        }
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        d->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    d->inflight--;
    curl_multi_remove_handle(d->multi, r->easy);
    r->done(r->arg, &res);
    json_decref(j);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    cara_buf_free(&r->body_in);
    cara_env_free(d->env, r);
}

static void drain_done(cara_httpc *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        cara_httpc_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CARA_ASSERT(r != NULL);
        finish(r, msg->data.result);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx *s = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    s->d->in_curl++;
    curl_multi_socket_action(s->d->multi, s->fd, flags, &running);
    s->d->in_curl--;
    drain_done(s->d);
}

static void on_timer(uv_timer_t *t)
{
    cara_httpc *d = t->data;
    int running;
    d->in_curl++;
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    d->in_curl--;
    drain_done(d);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    cara_httpc *d = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&d->timer);
    else
        uv_timer_start(&d->timer, on_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    cara_httpc *d = userp;
    sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_handle_closed);
            curl_multi_assign(d->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = cara_env_alloc(d->env, sizeof *s);
        if (s == NULL)
            return -1;
        s->fd = fd;
        s->d = d;
        if (uv_poll_init_socket(d->loop, &s->poll, fd) != 0) {
            cara_env_free(d->env, s);
            return -1;
        }
        s->poll.data = s;
        d->handles_open++;
        curl_multi_assign(d->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

/* Hands complete lines to the stream's callback, keeping the partial tail. */
static size_t feed_lines(cara_httpc_req *r, const char *data, size_t len)
{
    if (cara_buf_append(&r->body_in, data, len) != 0)
        return 0; /* one line over the cap: end the stream */
    size_t start = 0;
    for (size_t i = 0; i < r->body_in.len; i++) {
        if (r->body_in.data[i] != '\n')
            continue;
        size_t n = i - start;
        if (n > 0 && r->body_in.data[i - 1] == '\r')
            n--;
        if (n > 0 && !r->cancelled)
            r->data_fn(r->arg, (const char *)r->body_in.data + start, n);
        start = i + 1;
    }
    memmove(r->body_in.data, r->body_in.data + start, r->body_in.len - start);
    r->body_in.len -= start;
    r->body_in.data[r->body_in.len] = '\0';
    return len;
}

/* The status of a stream is known once its headers are in: tell the
 * caller, and decide where an error's body goes (whole_errors). */
static void head_done(cara_httpc_req *r)
{
    if (r->head_seen)
        return;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200)
        return; /* 1xx: the final answer is still to come */
    r->head_seen = true;
    r->collecting = r->whole_errors && status >= 400;
    if (r->collecting)
        cara_buf_init(&r->body_in, r->d->env, HTTPC_BODY_BYTES_MAX);
    if (r->head_fn != NULL && !r->cancelled)
        r->head_fn(r->arg, status);
}

/* Each header line; the empty one ends the block (of each answer, so a
 * 1xx is passed over). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    cara_httpc_req *r = userp;
    size_t len = size * nmemb;
    if (r->stream && (len == 2 && data[0] == '\r' && data[1] == '\n'))
        head_done(r);
    return r->cancelled ? 0 : len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    cara_httpc_req *r = userp;
    size_t len = size * nmemb;
    if (r->cancelled)
        return 0;
    if (r->stream)
        head_done(r); /* a server that sent no blank line: never, but cheap */
    if (!r->stream || r->collecting)
        return cara_buf_append(&r->body_in, data, len) == 0 ? len : 0;
    size_t taken = len;
    if (r->lines)
        taken = feed_lines(r, data, len);
    else
        r->data_fn(r->arg, data, len);
    /* A callback may have cancelled this stream: stop curl reading it. */
    return r->cancelled ? 0 : taken;
}

static void req_free(cara_httpc_req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    cara_buf_free(&r->body_in);
    cara_env_free(r->d->env, r);
}

static int set_headers(cara_httpc_req *r, const cara_httpc_opts *o)
{
    for (size_t i = 0; i < o->headers_count; i++) {
        struct curl_slist *l = curl_slist_append(r->headers, o->headers[i]);
        if (l == NULL)
            return CARA_ENOMEM;
        r->headers = l;
    }
    if (r->headers != NULL)
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    return 0;
}

static cara_httpc_req *start(cara_httpc *d, const cara_httpc_opts *o, int *rc)
{
    *rc = CARA_EINVAL;
    if (d->closing || strncmp(o->url, "http://", 7) != 0)
        return NULL;
    *rc = CARA_ENOMEM;
    cara_httpc_req *r = cara_env_calloc(d->env, 1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->d = d;
    r->stream = o->stream;
    r->lines = o->lines;
    r->whole_errors = o->whole_errors;
    r->data_fn = o->data_fn;
    r->head_fn = o->head_fn;
    r->done = o->done;
    r->arg = o->arg;
    cara_buf_init(&r->body_in, d->env, r->stream ? HTTPC_LINE_BYTES_MAX : HTTPC_BODY_BYTES_MAX);
    r->easy = curl_easy_init();
    if (r->easy == NULL || set_headers(r, o) != 0)
        goto fail;
    if (o->body != NULL) {
        curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, o->body);
    } else if (strcmp(o->method, "POST") == 0) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, "");
    }
    if (curl_easy_setopt(r->easy, CURLOPT_URL, o->url) != CURLE_OK)
        goto fail;
    if (d->socket_path[0])
        curl_easy_setopt(r->easy, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
    curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, o->method);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    /* Plain HTTP only: no redirects, no other scheme. */
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http");
    if (o->connect_timeout_ms)
        curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    if (!r->stream)
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
    return r;
fail:
    req_free(r);
    return NULL;
}

int cara_httpc_start(cara_httpc *d, const cara_httpc_opts *o, cara_httpc_req **req_out)
{
    CARA_ASSERT(o != NULL && o->method != NULL && o->url != NULL && o->done != NULL);
    CARA_ASSERT(!o->stream || o->data_fn != NULL);
    int rc;
    cara_httpc_req *r = start(d, o, &rc);
    if (r == NULL)
        return rc;
    if (curl_multi_add_handle(d->multi, r->easy) != CURLM_OK) {
        req_free(r);
        return CARA_ENOMEM;
    }
    r->next = d->reqs;
    if (d->reqs)
        d->reqs->prev = r;
    d->reqs = r;
    d->inflight++;
    if (req_out != NULL)
        *req_out = r;
    return 0;
}

static void on_reaper(uv_timer_t *t)
{
    cara_httpc *d = t->data;
    cara_httpc_req *r = d->reqs;
    while (r != NULL) {
        cara_httpc_req *next = r->next;
        if (r->cancelled)
            finish(r, CURLE_OK);
        r = next;
    }
}

/* curl forbids removing a handle from inside its own callbacks, so a cancel
 * made there is finished by the reaper on the next loop turn. */
void cara_httpc_cancel(cara_httpc *d, cara_httpc_req *r)
{
    r->cancelled = true;
    if (d->in_curl > 0)
        uv_timer_start(&d->reaper, on_reaper, 0, 0);
    else
        finish(r, CURLE_OK);
}

size_t cara_httpc_inflight(const cara_httpc *d) { return d->inflight; }

/* The agent speaks plain HTTP only (CURLOPT_PROTOCOLS_STR "http": the
 * engine's unix socket, peers' APIs on the overlay, which WireGuard already
 * encrypts), yet curl_global_init initialises its TLS library whatever the
 * flags say (since curl 7.57). With OpenSSL that loads every error string
 * of libssl and libcrypto and the system's openssl.cnf: about 1 MB resident
 * per agent for TLS that is never spoken. OpenSSL lets a first
 * OPENSSL_init_ssl call with its NO_LOAD options settle those steps for the
 * process, so curl's later call does not run them. The symbol is looked up
 * rather than linked: with a curl built on another TLS library it is
 * absent and nothing is done. The option values are OpenSSL's public ABI
 * (<openssl/crypto.h>, <openssl/ssl.h>, the same in 1.1 and 3.x). */
#define OSSL_INIT_NO_LOAD_CRYPTO_STRINGS 0x00000001ULL
#define OSSL_INIT_NO_LOAD_CONFIG 0x00000080ULL
#define OSSL_INIT_NO_LOAD_SSL_STRINGS 0x00100000ULL

static void tls_left_unloaded(void)
{
    int (*init_ssl)(uint64_t opts, const void *settings) = NULL;
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v == NULL || v->ssl_version == NULL || strncmp(v->ssl_version, "OpenSSL/", 8) != 0)
        return;
    *(void **)&init_ssl = dlsym(RTLD_DEFAULT, "OPENSSL_init_ssl");
    if (init_ssl != NULL)
        (void)init_ssl(OSSL_INIT_NO_LOAD_CRYPTO_STRINGS | OSSL_INIT_NO_LOAD_CONFIG |
                           OSSL_INIT_NO_LOAD_SSL_STRINGS,
                       NULL);
}

int cara_httpc_new(cara_httpc **out, uv_loop_t *loop, cara_env *env,
                   const cara_httpc_config *cfg)
{
    cara_httpc *d = cara_env_calloc(env, 1, sizeof *d);
    if (d == NULL)
        return CARA_ENOMEM;
    if (cfg->unix_socket != NULL) {
        size_t n = strlen(cfg->unix_socket);
        if (n == 0 || n >= sizeof d->socket_path) {
            cara_env_free(env, d);
            return CARA_EINVAL;
        }
        memcpy(d->socket_path, cfg->unix_socket, n + 1);
    }
    d->env = env;
    d->loop = loop;
    d->timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : HTTPC_TIMEOUT_MS_DEFAULT;
    tls_left_unloaded();
    /* Reference-counted and thread-safe since curl 7.84. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cara_env_free(env, d);
        return CARA_ENOMEM;
    }
    d->multi = curl_multi_init();
    if (d->multi == NULL) {
        curl_global_cleanup();
        cara_env_free(env, d);
        return CARA_ENOMEM;
    }
    uv_timer_init(loop, &d->timer);
    uv_timer_init(loop, &d->reaper);
    d->timer.data = d;
    d->reaper.data = d;
    d->handles_open = 2;
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    *out = d;
    return 0;
}

void cara_httpc_free(cara_httpc *d)
{
    if (d == NULL)
        return;
    CARA_ASSERT(d->in_curl == 0); /* never from inside a curl callback */
    while (d->reqs != NULL)
        cara_httpc_cancel(d, d->reqs);
    d->closing = true;
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, on_handle_closed);
    uv_close((uv_handle_t *)&d->reaper, on_handle_closed);
}

int cara_httpc_urlencode(const char *s, cara_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            rc = cara_buf_append(out, s, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = cara_buf_append(out, esc, 3);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
