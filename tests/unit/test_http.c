/* The HTTP server against real loopback sockets. The server runs on a
 * libuv loop in the test's main thread; the client (libcurl easy, or raw
 * bytes on a socket for requests curl would never send) runs in a second
 * thread and wakes the loop through a uv_async when it is done. */
#include <arpa/inet.h>
#include <errno.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "agent/http.h"
#include "agent/httpc.h"
#include "harness.h"

/* ---- The server side ---------------------------------------------------------- */

static uv_loop_t loop;
static cara_http *srv;
static uint16_t port;
static uv_timer_t agent_timer; /* completes deferred replies, feeds streams */
static cara_http_deferred *pending_deferred;
static cara_http_stream *open_stream;
static int stream_lines_sent;
static int stream_closed_calls;
static int flood_result;
static size_t flood_bytes;

static void on_stream_closed(void *ctx, cara_http_stream *st)
{
    (void)ctx;
    CHECK(st == open_stream);
    stream_closed_calls++;
    open_stream = NULL;
    uv_timer_stop(&agent_timer);
}

static void complete_deferred(uv_timer_t *t)
{
    (void)t;
    CHECK_OK(cara_http_deferred_json(pending_deferred, 201, json_pack("{s:b}", "durable", 1)));
    pending_deferred = NULL;
}

static void feed_stream(uv_timer_t *t);

/* /deferstream: the status is decided later, then the stream runs as /stream. */
static void complete_deferred_as_stream(uv_timer_t *t)
{
    open_stream = cara_http_deferred_stream(pending_deferred, 200, "text/plain",
                                            on_stream_closed, NULL);
    pending_deferred = NULL;
    CHECK(open_stream != NULL);
    CHECK_OK(cara_http_stream_write(open_stream, "first\n", 6));
    uv_timer_start(t, feed_stream, 20, 20);
}

static char deferstream_header[64];

static void feed_stream(uv_timer_t *t)
{
    char line[32];
    int n = snprintf(line, sizeof line, "line %d\n", stream_lines_sent++);
    CHECK_OK(cara_http_stream_write(open_stream, line, (size_t)n));
    if (stream_lines_sent == 5) {
        uv_timer_stop(t);
        cara_http_stream_end(open_stream);
        open_stream = NULL;
    }
}

/* Writes 64 KiB per tick to a client that never reads, until refused. */
static void flood_stream(uv_timer_t *t)
{
    static char chunk[64 * 1024];
    int rc = cara_http_stream_write(open_stream, chunk, sizeof chunk);
    if (rc == 0) {
        flood_bytes += sizeof chunk;
        CHECK(flood_bytes < 256u * 1024 * 1024); /* something must push back */
        return;
    }
    flood_result = rc;
    uv_timer_stop(t);
}

/* What /burst queues at once: four times the steady-state cap, then one
 * more chunk inside the headroom given after it. */
#define BURST_CHUNK_BYTES (64 * 1024)
#define BURST_CHUNKS 16
#define BURST_BYTES ((BURST_CHUNKS + 1) * BURST_CHUNK_BYTES)

static void open_burst(cara_http_reply *reply)
{
    static char chunk[BURST_CHUNK_BYTES];
    static char steady[CARA_HTTP_STREAM_QUEUE_BYTES_MAX];
    memset(chunk, '~', sizeof chunk);
    open_stream = cara_http_reply_stream(reply, 200, "application/x-ndjson", on_stream_closed,
                                         NULL);
    CHECK(open_stream != NULL);
    CHECK_RC(cara_http_stream_set_queue_max(open_stream, CARA_HTTP_STREAM_QUEUE_BYTES_MAX - 1),
             CARA_EINVAL);
    CHECK_RC(cara_http_stream_set_queue_max(open_stream, CARA_HTTP_REPLY_BYTES_MAX + 1),
             CARA_EINVAL);
    CHECK_OK(cara_http_stream_set_queue_max(open_stream, CARA_HTTP_REPLY_BYTES_MAX));
    for (int i = 0; i < BURST_CHUNKS; i++)
        CHECK_OK(cara_http_stream_write(open_stream, chunk, sizeof chunk));
    size_t queued = cara_http_stream_queued(open_stream);
    CHECK_INT(queued, ==, BURST_CHUNKS * BURST_CHUNK_BYTES);
    /* What agent_watch_open does after its snapshot: the usual room on top. */
    CHECK_OK(cara_http_stream_set_queue_max(open_stream, queued + sizeof steady));
    CHECK_OK(cara_http_stream_write(open_stream, chunk, sizeof chunk));
    CHECK_RC(cara_http_stream_write(open_stream, steady, sizeof steady), CARA_ETOOBIG);
    CHECK_INT(cara_http_stream_queued(open_stream), ==, BURST_BYTES);
}

static void handler(void *ctx, const cara_http_request *req, cara_http_reply *reply)
{
    (void)ctx;
    if (strcmp(req->path, "/burst") == 0) {
        open_burst(reply);
        return;
    }
    if (strcmp(req->path, "/json") == 0 || strcmp(req->path, "/a b") == 0) {
        const char *q = cara_http_query(req, "a");
        const char *rq = cara_http_reply_query(reply, "a"); /* the same, from the reply */
        CHECK((q == NULL && rq == NULL) || (q != NULL && rq != NULL && strcmp(q, rq) == 0));
        const char *h = cara_http_header(req, "x-test");
        CHECK_OK(cara_http_reply_json(
            reply, 200,
            json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:b, s:s}", "method", req->method,
                      "path", req->path, "target", req->target, "body",
                      (const char *)req->body, "a", q, "h", h, "body_len",
                      (json_int_t)req->body_len, "loopback", req->peer_loopback, "peer",
                      req->peer_addr)));
    } else if (strcmp(req->path, "/text") == 0) {
        CHECK_OK(cara_http_reply_text(reply, 200, "text/plain", "hello\n", 6));
        CHECK_RC(cara_http_reply_text(reply, 200, "text/plain", "again", 5), CARA_EINVAL);
    } else if (strcmp(req->path, "/error") == 0) {
        CHECK_OK(cara_http_reply_error(reply, 404, "NotFound", "no project %s", "web"));
    } else if (strcmp(req->path, "/defer") == 0) {
        pending_deferred = cara_http_reply_defer(reply);
        CHECK(pending_deferred != NULL);
        uv_timer_start(&agent_timer, complete_deferred, 50, 0);
    } else if (strcmp(req->path, "/deferstream") == 0) {
        const char *h = cara_http_header(req, "x-test");
        snprintf(deferstream_header, sizeof deferstream_header, "%s", h ? h : "");
        pending_deferred = cara_http_reply_defer(reply);
        CHECK(pending_deferred != NULL);
        uv_timer_start(&agent_timer, complete_deferred_as_stream, 30, 0);
    } else if (strcmp(req->path, "/stream") == 0 || strcmp(req->path, "/hang") == 0 ||
               strcmp(req->path, "/flood") == 0) {
        open_stream = cara_http_reply_stream(reply, 200, "application/x-ndjson",
                                             on_stream_closed, NULL);
        CHECK(open_stream != NULL);
        CHECK_OK(cara_http_stream_write(open_stream, "first\n", 6));
        if (strcmp(req->path, "/stream") == 0)
            uv_timer_start(&agent_timer, feed_stream, 20, 20);
        if (strcmp(req->path, "/flood") == 0)
            uv_timer_start(&agent_timer, flood_stream, 1, 1);
    }
    /* any other path: no reply, the server must answer 500 */
}

static void start_server_with(const char *addr, uint32_t idle_timeout_s, uint32_t conns_max)
{
    CHECK_INT(uv_loop_init(&loop), ==, 0);
    uv_timer_init(&loop, &agent_timer);
    const char *listen[] = {addr};
    cara_http_cfg cfg = {.loop = &loop, .env = cara_test_env(), .listen = listen,
                         .listen_count = 1, .handler = handler,
                         .idle_timeout_s = idle_timeout_s, .stream_probe_ms = 100,
                         .connections_max = conns_max};
    CHECK_OK(cara_http_new(&srv, &cfg));
    port = cara_http_port(srv, 0);
    CHECK(port != 0);
}

static void start_server_on(const char *addr, uint32_t idle_timeout_s)
{
    start_server_with(addr, idle_timeout_s, 0);
}

static void start_server(void) { start_server_on("127.0.0.1:0", 0); }

static void stop_server(void)
{
    cara_http_free(srv);
    srv = NULL;
    uv_close((uv_handle_t *)&agent_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), ==, 0);
}

/* ---- Running a client beside the loop --------------------------------------- */

typedef void (*client_fn)(void *arg);
typedef struct client_run {
    client_fn fn;
    void *arg;
    uv_async_t done;
    volatile int finished;
} client_run;

static void client_thread(void *p)
{
    client_run *c = p;
    c->fn(c->arg);
    c->finished = 1;
    uv_async_send(&c->done);
}

static void on_client_done(uv_async_t *a) { (void)a; }
static void on_guard(uv_timer_t *t) { (void)t; cara_test_fail(__FILE__, __LINE__, "timed out"); }

/* Runs fn in a thread while the loop serves, until it returns and `also`
 * (if given) is true. */
static void run_client(client_fn fn, void *arg, const int *also)
{
    client_run c = {.fn = fn, .arg = arg};
    static bool curl_ready;
    if (!curl_ready) { /* once, before any thread */
        CHECK_INT(curl_global_init(CURL_GLOBAL_DEFAULT), ==, CURLE_OK);
        curl_ready = true;
    }
    uv_async_init(&loop, &c.done, on_client_done);
    uv_timer_t guard;
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, on_guard, 20000, 0);
    uv_thread_t th;
    CHECK_INT(uv_thread_create(&th, client_thread, &c), ==, 0);
    while (!c.finished || (also != NULL && !*also))
        uv_run(&loop, UV_RUN_ONCE);
    uv_thread_join(&th);
    uv_close((uv_handle_t *)&c.done, NULL);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- libcurl client ---------------------------------------------------------- */

static const char *client_host = "127.0.0.1";

typedef struct call {
    const char *method, *path, *header;
    const char *body;
    size_t body_len;
    bool chunked;
    long status;
    char content_type[128];
    cara_buf reply;
} call;

static size_t on_data(char *d, size_t size, size_t n, void *p)
{
    call *c = p;
    return cara_buf_append(&c->reply, d, size * n) == 0 ? size * n : 0;
}

static void curl_call(void *p)
{
    call *c = p;
    char url[256];
    snprintf(url, sizeof url, "http://%s:%u%s", client_host, port, c->path);
    CURL *e = curl_easy_init();
    struct curl_slist *hs = NULL;
    if (c->header)
        hs = curl_slist_append(hs, c->header);
    if (c->chunked)
        hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
    if (c->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
        if (!c->chunked)
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    }
    if (curl_easy_perform(e) == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
        char *ct = NULL;
        curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(c->content_type, sizeof c->content_type, "%s", ct ? ct : "");
    }
    curl_slist_free_all(hs);
    curl_easy_cleanup(e);
}

static call *do_call_full(const char *method, const char *path, const char *body,
                          size_t body_len, const char *header, bool chunked)
{
    static call c;
    if (c.reply.env != NULL)
        cara_buf_free(&c.reply);
    c = (call){.method = method, .path = path, .body = body, .body_len = body_len,
               .header = header, .chunked = chunked};
    cara_buf_init(&c.reply, cara_test_env(), 16u << 20);
    run_client(curl_call, &c, NULL);
    return &c;
}

static call *do_call(const char *method, const char *path, const char *body)
{
    return do_call_full(method, path, body, body ? strlen(body) : 0, NULL, false);
}

static json_t *reply_json(const call *c)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)c->reply.data, c->reply.len, 0, &err);
    if (j == NULL)
        cara_test_fail(__FILE__, __LINE__, "not JSON: %s: %.*s", err.text, (int)c->reply.len,
                       c->reply.data ? (const char *)c->reply.data : "");
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* ---- Raw socket client -------------------------------------------------------- */

typedef struct raw {
    const char *send;
    size_t send_len;
    size_t send_repeat_bytes; /* then this many 'x' in chunks of 4096 */
    const char *send_tail;
    const char *until;        /* close as soon as this text has arrived */
    int timeout_ms;
    char got[65536];
    size_t got_len;
    bool eof;     /* the server closed the connection */
    long elapsed_ms;
} raw;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may close early; the reply says why */
        p += w;
        n -= (size_t)w;
    }
}

static void raw_call(void *p)
{
    raw *r = p;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = r->timeout_ms / 1000, .tv_usec = (r->timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    long t0 = now_ms();
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return;
    }
    send_all(fd, r->send, r->send_len);
    static char xs[4096];
    memset(xs, 'x', sizeof xs);
    for (size_t left = r->send_repeat_bytes; left > 0;) {
        size_t n = left < sizeof xs ? left : sizeof xs;
        char head[16];
        snprintf(head, sizeof head, "%zx\r\n", n);
        send_all(fd, head, strlen(head));
        send_all(fd, xs, n);
        send_all(fd, "\r\n", 2);
        left -= n;
    }
    if (r->send_tail)
        send_all(fd, r->send_tail, strlen(r->send_tail));
    for (;;) {
        ssize_t n = recv(fd, r->got + r->got_len, sizeof r->got - 1 - r->got_len, 0);
        if (n == 0)
            r->eof = true;
        if (n <= 0)
            break;
        r->got_len += (size_t)n;
        r->got[r->got_len] = '\0';
        if (r->until && strstr(r->got, r->until))
            break;
    }
    r->elapsed_ms = now_ms() - t0;
    close(fd);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* ---- Tests ------------------------------------------------------------------- */

TEST(http_json_reply_carries_path_target_query_headers_body_and_peer)
{
    start_server();
    call *c = do_call_full("POST", "/a%20b?a=1%2B2&z=", "{\"x\":1}", 7, "X-Test: yes", false);
    CHECK_INT(c->status, ==, 200);
    CHECK_STR(c->content_type, "application/json");
    json_t *j = reply_json(c);
    CHECK_STR(jstr(j, "method"), "POST");
    CHECK_STR(jstr(j, "path"), "/a b");
    CHECK_STR(jstr(j, "target"), "/a%20b?a=1%2B2&z=");
    CHECK_STR(jstr(j, "a"), "1+2");
    CHECK_STR(jstr(j, "h"), "yes");
    CHECK_STR(jstr(j, "body"), "{\"x\":1}");
    CHECK_INT(json_integer_value(json_object_get(j, "body_len")), ==, 7);
    CHECK(json_is_true(json_object_get(j, "loopback")));
    CHECK_STR(jstr(j, "peer"), "127.0.0.1");
    json_decref(j);
    /* Keep-alive aside, a second request on a new connection works too. */
    c = do_call("GET", "/json", NULL);
    CHECK_INT(c->status, ==, 200);
    j = reply_json(c);
    CHECK(json_is_null(json_object_get(j, "a"))); /* no query: the getter said NULL */
    CHECK_INT(json_integer_value(json_object_get(j, "body_len")), ==, 0);
    json_decref(j);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.requests, ==, 2);
    stop_server();
}

TEST(http_text_error_and_missing_replies)
{
    start_server();
    call *c = do_call("GET", "/text", NULL);
    CHECK_INT(c->status, ==, 200);
    CHECK_STR(c->content_type, "text/plain");
    CHECK_STR((const char *)c->reply.data, "hello\n");
    c = do_call("GET", "/error", NULL);
    CHECK_INT(c->status, ==, 404);
    json_t *j = reply_json(c);
    CHECK_STR(jstr(j, "error"), "no project web");
    CHECK_STR(jstr(j, "reason"), "NotFound");
    json_decref(j);
    c = do_call("GET", "/nobody-answers", NULL);
    CHECK_INT(c->status, ==, 500);
    j = reply_json(c);
    CHECK_STR(jstr(j, "reason"), "InternalError");
    json_decref(j);
    stop_server();
}

/* Whether this machine has an IPv6 loopback to bind: a container started
 * with Docker's defaults, for one, has IPv6 switched off entirely. Fills
 * `why` when it has not. */
static bool ipv6_loopback_usable(char *why, size_t cap)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(why, cap, "no IPv6 sockets here: %s", strerror(errno));
        return false;
    }
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (!ok)
        snprintf(why, cap, "cannot bind [::1]: %s", strerror(errno));
    close(fd);
    return ok;
}

TEST(http_listens_on_ipv6_loopback_and_reports_the_port)
{
    char why[128];
    if (!ipv6_loopback_usable(why, sizeof why))
        cara_test_skip("%s", why);
    start_server_on("[::1]:0", 0);
    client_host = "[::1]";
    call *c = do_call("GET", "/json?a=v6", NULL);
    CHECK_INT(c->status, ==, 200);
    json_t *j = reply_json(c);
    CHECK_STR(jstr(j, "a"), "v6");
    CHECK_STR(jstr(j, "peer"), "::1");
    CHECK(json_is_true(json_object_get(j, "loopback")));
    json_decref(j);
    stop_server();
}

TEST(http_new_refuses_bad_addresses_and_a_taken_port)
{
    CHECK_INT(uv_loop_init(&loop), ==, 0);
    const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80", "[::1]80",
                         "localhost:80", "127.0.0.1:8x", "[127.0.0.1]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *listen[] = {bad[i]};
        cara_http_cfg cfg = {.loop = &loop, .env = cara_test_env(), .listen = listen,
                             .listen_count = 1, .handler = handler};
        cara_http *s = NULL;
        int rc = cara_http_new(&s, &cfg);
        if (rc != CARA_EINVAL)
            cara_test_fail(__FILE__, __LINE__, "%s: %s", bad[i], cara_errname(rc));
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    const char *one[] = {"127.0.0.1:0"};
    cara_http_cfg cfg = {.loop = &loop, .env = cara_test_env(), .listen = one,
                         .listen_count = 1, .handler = handler};
    cara_http *a;
    CHECK_OK(cara_http_new(&a, &cfg));
    char taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", cara_http_port(a, 0));
    const char *two[] = {"127.0.0.1:0", taken};
    cfg.listen = two;
    cfg.listen_count = 2;
    cara_http *b = NULL;
    CHECK_RC(cara_http_new(&b, &cfg), CARA_EIO);
    cara_http_free(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(http_deferred_reply_is_sent_when_the_agent_completes_it)
{
    start_server();
    long t0 = now_ms();
    call *c = do_call("PUT", "/defer", "{}");
    CHECK(now_ms() - t0 >= 45); /* the timer completed it, not the handler */
    CHECK_INT(c->status, ==, 201);
    json_t *j = reply_json(c);
    CHECK(json_is_true(json_object_get(j, "durable")));
    json_decref(j);
    CHECK(pending_deferred == NULL);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.deferred_open, ==, 0);
    stop_server();
}

TEST(http_deferred_handle_outlives_the_server)
{
    start_server();
    raw r = {.send = "GET /defer HTTP/1.1\r\nHost: x\r\n\r\n", .timeout_ms = 20};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    CHECK(pending_deferred != NULL);
    uv_timer_stop(&agent_timer);
    cara_http_free(srv); /* the connection goes, the handle stays */
    srv = NULL;
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_OK(cara_http_deferred_json(pending_deferred, 200, json_object()));
    pending_deferred = NULL;
    uv_close((uv_handle_t *)&agent_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(http_stream_sends_every_write_then_ends)
{
    start_server();
    call *c = do_call("GET", "/stream", NULL);
    CHECK_INT(c->status, ==, 200);
    CHECK_STR(c->content_type, "application/x-ndjson");
    CHECK_STR((const char *)c->reply.data, "first\nline 0\nline 1\nline 2\nline 3\nline 4\n");
    CHECK_INT(stream_closed_calls, ==, 0); /* the agent ended it: no on_close */
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.streams_open, ==, 0);
    CHECK_INT(st.streams_dropped, ==, 0);
    stop_server();
}

TEST(http_stream_is_chunked_on_the_wire)
{
    start_server();
    raw r = {.send = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", .until = "\r\n0\r\n\r\n",
             .timeout_ms = 5000};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    CHECK(strstr(r.got, "HTTP/1.1 200") == r.got);
    CHECK(strstr(r.got, "Transfer-Encoding: chunked") != NULL);
    CHECK(strstr(r.got, "7\r\nline 4\n\r\n") != NULL);
    stop_server();
}

TEST(http_client_leaving_a_quiet_stream_calls_on_close)
{
    start_server();
    /* Read the first line, then hang up while the stream has nothing queued. */
    raw r = {.send = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n", .until = "first\n",
             .timeout_ms = 5000};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, &stream_closed_calls);
    CHECK(strstr(r.got, "first\n") != NULL);
    CHECK_INT(stream_closed_calls, ==, 1);
    CHECK(open_stream == NULL);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.streams_open, ==, 0);
    CHECK_INT(st.streams_dropped, ==, 1);
    stop_server();
}

TEST(http_open_stream_gets_on_close_when_the_server_is_freed)
{
    start_server();
    raw r = {.send = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n", .until = "first\n",
             .timeout_ms = 5000};
    r.send_len = strlen(r.send);
    /* Keep the socket open: use a client that returns with it still open. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&a, sizeof a), ==, 0);
    send_all(fd, r.send, r.send_len);
    while (open_stream == NULL)
        uv_run(&loop, UV_RUN_ONCE);
    stop_server();
    CHECK_INT(stream_closed_calls, ==, 1);
    close(fd);
}

TEST(http_stream_queue_is_bounded_for_a_client_that_does_not_read)
{
    start_server();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&a, sizeof a), ==, 0);
    const char *req = "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, strlen(req));
    while (flood_result == 0)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_RC(flood_result, CARA_ETOOBIG);
    CHECK(cara_http_stream_queued(open_stream) <= CARA_HTTP_STREAM_QUEUE_BYTES_MAX);
    CHECK(cara_http_stream_queued(open_stream) + 64 * 1024 > CARA_HTTP_STREAM_QUEUE_BYTES_MAX);
    cara_http_stream_end(open_stream); /* what the agent does with a slow watcher */
    open_stream = NULL;
    close(fd);
    stop_server();
    CHECK_INT(stream_closed_calls, ==, 0);
}

TEST(http_refuses_content_length_with_transfer_encoding_before_the_handler)
{
    start_server();
    /* The classic smuggling shape: a second request hidden in the body. */
    raw r = {.send = "POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                     "GET /json HTTP/1.1\r\nHost: x\r\n\r\n",
             .timeout_ms = 5000};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    CHECK(strstr(r.got, "HTTP/1.1 400") == r.got);
    CHECK(strstr(r.got, "\"reason\":\"BadRequest\"") != NULL);
    CHECK_INT(count_of(r.got, "HTTP/1.1"), ==, 1);
    CHECK(r.eof);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.requests, ==, 0);
    CHECK_INT(st.refused_smuggling, ==, 1);
    stop_server();
}

TEST(http_refuses_duplicate_content_length)
{
    start_server();
    raw r = {.send = "POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     "Content-Length: 3\r\n\r\nabc",
             .timeout_ms = 5000};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    CHECK(strstr(r.got, "HTTP/1.1 400") == r.got);
    CHECK(strstr(r.got, "\"reason\":\"BadRequest\"") != NULL);
    CHECK(r.eof);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.requests, ==, 0);
    stop_server();
}

TEST(http_body_at_the_cap_is_served_and_one_byte_more_is_413)
{
    start_server();
    char *body = malloc(CARA_HTTP_BODY_BYTES_MAX + 2);
    memset(body, 'b', CARA_HTTP_BODY_BYTES_MAX + 1);
    body[CARA_HTTP_BODY_BYTES_MAX + 1] = '\0';
    call *c = do_call_full("POST", "/json", body, CARA_HTTP_BODY_BYTES_MAX, NULL, false);
    CHECK_INT(c->status, ==, 200);
    json_t *j = reply_json(c);
    CHECK_INT(json_integer_value(json_object_get(j, "body_len")), ==, CARA_HTTP_BODY_BYTES_MAX);
    json_decref(j);
    c = do_call_full("POST", "/json", body, CARA_HTTP_BODY_BYTES_MAX + 1, NULL, false);
    CHECK_INT(c->status, ==, 413);
    j = reply_json(c);
    CHECK_STR(jstr(j, "reason"), "TooLarge");
    json_decref(j);
    free(body);
    stop_server();
}

TEST(http_chunked_body_over_the_cap_is_413)
{
    start_server();
    raw r = {.send = "POST /json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
             .send_repeat_bytes = CARA_HTTP_BODY_BYTES_MAX + 4096, .send_tail = "0\r\n\r\n",
             .timeout_ms = 10000};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    CHECK(strstr(r.got, "HTTP/1.1 413") == r.got);
    CHECK(strstr(r.got, "\"reason\":\"TooLarge\"") != NULL);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.requests, ==, 0);
    CHECK_INT(st.refused_too_big, ==, 1);
    stop_server();
}

TEST(http_headers_over_the_cap_are_refused)
{
    start_server();
    static char req[CARA_HTTP_HEADER_BYTES_MAX + 1024];
    int n = snprintf(req, sizeof req, "GET /json HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'h', CARA_HTTP_HEADER_BYTES_MAX);
    n += CARA_HTTP_HEADER_BYTES_MAX;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    raw r = {.send = req, .send_len = (size_t)n, .timeout_ms = 5000};
    run_client(raw_call, &r, NULL);
    CHECK(strstr(r.got, "HTTP/1.1 431") == r.got);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.requests, ==, 0);
    stop_server();
}

TEST(http_garbage_bytes_get_no_handler_call_and_the_server_keeps_serving)
{
    start_server_on("127.0.0.1:0", 1);
    raw r = {.send = "\x16\x03\x01\x02\x00\x01\xff garbage\r\n\r\n", .timeout_ms = 5000};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    /* MHD answers 400 or just closes; never anything else. */
    CHECK(r.got_len == 0 || strstr(r.got, "HTTP/1.1 400") == r.got);
    CHECK(r.eof);
    call *c = do_call("GET", "/json", NULL);
    CHECK_INT(c->status, ==, 200);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.requests, ==, 1);
    stop_server();
}

TEST(http_idle_partial_request_is_closed_after_the_idle_timeout)
{
    start_server_on("127.0.0.1:0", 1);
    raw r = {.send = "GET /json HTTP/1.1\r\nHost: x\r\n", .timeout_ms = 8000};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    CHECK(r.eof);
    CHECK_INT(r.got_len, ==, 0);
    CHECK(r.elapsed_ms >= 900 && r.elapsed_ms < 5000);
    stop_server();
}

static void spin_loop_ms(int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* At the cap MHD stops accepting: a further client waits in the listen
 * backlog, unserved, until a slot frees. */
TEST(http_connections_over_the_limit_wait_unserved)
{
    start_server_with("127.0.0.1:0", 0, 2);
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK_INT(connect(fds[i], (struct sockaddr *)&a, sizeof a), ==, 0);
    }
    spin_loop_ms(20); /* MHD accepts both */
    raw r = {.send = "GET /json HTTP/1.1\r\nHost: x\r\n\r\n", .timeout_ms = 300};
    r.send_len = strlen(r.send);
    run_client(raw_call, &r, NULL);
    CHECK(!r.eof);
    CHECK_INT(r.got_len, ==, 0);
    cara_http_stats st;
    cara_http_stats_get(srv, &st);
    CHECK_INT(st.requests, ==, 0);
    close(fds[0]);
    close(fds[1]);
    spin_loop_ms(20); /* with the slots free again, requests are served */
    call *c = do_call("GET", "/json", NULL);
    CHECK_INT(c->status, ==, 200);
    stop_server();
}

TEST(http_target_over_the_cap_is_414)
{
    start_server();
    static char req[CARA_HTTP_TARGET_BYTES_MAX + 256];
    int n = snprintf(req, sizeof req, "GET /json?a=");
    memset(req + n, 't', CARA_HTTP_TARGET_BYTES_MAX);
    n += CARA_HTTP_TARGET_BYTES_MAX;
    n += snprintf(req + n, sizeof req - (size_t)n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    raw r = {.send = req, .send_len = (size_t)n, .timeout_ms = 5000};
    run_client(raw_call, &r, NULL);
    CHECK(strstr(r.got, "HTTP/1.1 414") == r.got);
    CHECK(strstr(r.got, "\"reason\":\"TargetTooLong\"") != NULL);
    stop_server();
}

/* A raised queue cap lets a burst far over the steady-state cap through
 * whole, and gives way to the steady cap by itself once the client has read
 * the queue down to it. */
TEST(http_stream_queue_max_raised_for_a_burst_then_back_to_the_steady_cap)
{
    start_server();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&a, sizeof a), ==, 0);
    const char *req = "GET /burst HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, strlen(req));
    size_t tildes = 0;
    long t0 = now_ms();
    static char buf[65536];
    while (tildes < BURST_BYTES) {
        CHECK(now_ms() - t0 < 10000);
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        CHECK(n != 0); /* the server must not close the stream */
        for (ssize_t i = 0; i < n; i++)
            tildes += buf[i] == '~';
    }
    CHECK(open_stream != NULL);
    CHECK_INT(cara_http_stream_queued(open_stream), ==, 0);
    /* Drained: the steady cap again. */
    static char big[CARA_HTTP_STREAM_QUEUE_BYTES_MAX + 1];
    CHECK_RC(cara_http_stream_write(open_stream, big, sizeof big), CARA_ETOOBIG);
    CHECK_OK(cara_http_stream_write(open_stream, big, sizeof big - 1));
    cara_http_stream_end(open_stream);
    open_stream = NULL;
    close(fd);
    stop_server();
    CHECK_INT(stream_closed_calls, ==, 0);
}

/* ---- The agent's own client (httpc) against this server, over TCP ------------- */

typedef struct hc_call {
    long head_status;
    int head_calls, done_calls, rc;
    bool data_before_head;
    long status;
    char data[256];
    size_t data_len;
    char error[128];
    bool cancel_on_data;
    cara_httpc *c;
    cara_httpc_req *req;
} hc_call;

static void hc_head(void *arg, long status)
{
    hc_call *h = arg;
    h->head_calls++;
    h->head_status = status;
}

static void hc_data(void *arg, const char *d, size_t n)
{
    hc_call *h = arg;
    h->data_before_head |= h->head_calls == 0;
    size_t room = sizeof h->data - 1 - h->data_len;
    memcpy(h->data + h->data_len, d, n < room ? n : room);
    h->data_len += n < room ? n : room;
    if (h->cancel_on_data)
        cara_httpc_cancel(h->c, h->req); /* from inside a callback: finished later */
}

static void hc_done(void *arg, const cara_httpc_result *res)
{
    hc_call *h = arg;
    h->done_calls++;
    h->rc = res->rc;
    h->status = res->http_status;
    snprintf(h->error, sizeof h->error, "%s", res->error);
}

/* Runs the loop until *flag is set (10 s at most); the guard is closed
 * before returning, so no handle outlives the call. */
static void wait_for(const int *flag)
{
    static uv_timer_t guard;
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, on_guard, 10000, 0);
    while (*flag == 0)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void hc_run(cara_httpc *c, const char *path, hc_call *h)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    const char *headers[] = {"X-Test: from-httpc"};
    cara_httpc_opts o = {.method = "GET", .url = url, .headers = headers, .headers_count = 1,
                         .stream = true, .whole_errors = true, .connect_timeout_ms = 2000,
                         .data_fn = hc_data, .head_fn = hc_head, .done = hc_done, .arg = h};
    h->c = c;
    CHECK_OK(cara_httpc_start(c, &o, &h->req));
    wait_for(&h->done_calls);
    CHECK_INT(h->done_calls, ==, 1);
}

TEST(httpc_streams_a_deferred_stream_with_its_status_first_and_extra_headers)
{
    start_server();
    cara_httpc *c;
    cara_httpc_config cfg = {0};
    CHECK_OK(cara_httpc_new(&c, &loop, cara_test_env(), &cfg));
    stream_lines_sent = 0;
    hc_call h = {0};
    hc_run(c, "/deferstream", &h);
    CHECK_STR(deferstream_header, "from-httpc");
    CHECK_INT(h.head_calls, ==, 1);
    CHECK_INT(h.head_status, ==, 200);
    CHECK(!h.data_before_head);
    CHECK_INT(h.rc, ==, 0);
    CHECK_INT(h.status, ==, 200);
    CHECK_STR(h.data, "first\nline 0\nline 1\nline 2\nline 3\nline 4\n");
    /* An error status with whole_errors: its body goes to done, its
     * message picked from the agent's {"error", "reason"}. */
    hc_call e = {0};
    hc_run(c, "/error", &e);
    CHECK_INT(e.head_status, ==, 404);
    CHECK_INT(e.status, ==, 404);
    CHECK_INT(e.data_len, ==, 0);
    CHECK_STR(e.error, "no project web");
    /* Cancelled from its own data callback: done runs once, with EAGAIN,
     * and the server sees its client go. */
    stream_closed_calls = 0;
    hc_call k = {.cancel_on_data = true};
    hc_run(c, "/hang", &k);
    CHECK_RC(k.rc, CARA_EAGAIN);
    CHECK_INT(cara_httpc_inflight(c), ==, 0);
    wait_for(&stream_closed_calls);
    /* Nobody listening: an I/O error, not a hang. */
    cara_httpc_free(c);
    stop_server();
    CHECK_INT(uv_loop_init(&loop), ==, 0);
    CHECK_OK(cara_httpc_new(&c, &loop, cara_test_env(), &cfg));
    hc_call u = {0};
    hc_run(c, "/nobody", &u);
    CHECK_RC(u.rc, CARA_EIO);
    CHECK_INT(u.head_calls, ==, 0);
    cara_httpc_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), ==, 0);
}
