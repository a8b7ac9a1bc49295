/* The Docker client against the real engine on /var/run/docker.sock
 * (`make test` starts one when none answers). */
#include <uv.h>

#include "agent/docker.h"
#include "harness.h"

#define NET_NAME "cara-test-docker-client"

typedef struct call {
    int done;
    int rc;
    long status;
    char body[4096];
    char error[512];
} call;

static void on_done(void *arg, const cara_docker_result *res)
{
    call *c = arg;
    c->done++;
    c->rc = res->rc;
    c->status = res->http_status;
    snprintf(c->body, sizeof c->body, "%.*s", (int)res->body_len, res->body ? res->body : "");
    snprintf(c->error, sizeof c->error, "%s", res->error ? res->error : "");
}

static uv_loop_t loop;

static cara_docker *client(const char *host)
{
    CHECK_INT(uv_loop_init(&loop), ==, 0);
    cara_docker *d;
    cara_docker_config cfg = {.host = host};
    CHECK_OK(cara_docker_new(&d, &loop, cara_test_env(), &cfg));
    return d;
}

/* Runs one request to completion. */
static void run(cara_docker *d, const char *method, const char *path, json_t *body, call *c)
{
    memset(c, 0, sizeof *c);
    CHECK_OK(cara_docker_request(d, method, path, body, on_done, c));
    while (!c->done)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_INT(c->done, ==, 1);
}

static void shutdown_client(cara_docker *d)
{
    cara_docker_free(d);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), ==, 0);
}

TEST(docker_ping_answers_ok)
{
    cara_docker *d = client(NULL);
    call c;
    run(d, "GET", "/_ping", NULL, &c);
    if (c.rc != 0)
        cara_test_fail(__FILE__, __LINE__, "no Docker engine answers: %s", c.error);
    CHECK_INT(c.status, ==, 200);
    CHECK_STR(c.body, "OK");
    shutdown_client(d);
}

TEST(docker_network_create_is_refused_as_duplicate_and_errors_carry_the_engine_message)
{
    cara_docker *d = client(NULL);
    call c;
    run(d, "DELETE", "/networks/" NET_NAME, NULL, &c); /* leftovers of a crashed run */
    /* Each network here names its subnet (TEST-NET-1, never routed): an
     * engine with default options has only 30 networks' worth of default
     * pools, which other suites on a shared engine may hold. */
    json_t *body = json_pack("{s:s, s:s, s:b, s:{s:s}, s:{s:[{s:s}]}}", "Name", NET_NAME, "Driver",
                             "bridge", "CheckDuplicate", 1, "Labels", "io.caravanserai.test", "1",
                             "IPAM", "Config", "Subnet", "192.0.2.0/28");
    run(d, "POST", "/networks/create", body, &c);
    CHECK_INT(c.status, ==, 201);
    run(d, "POST", "/networks/create", body, &c);
    CHECK_INT(c.status, ==, 409);
    CHECK(strstr(c.error, NET_NAME) != NULL);
    json_decref(body);
    run(d, "GET", "/networks/" NET_NAME, NULL, &c);
    CHECK_INT(c.status, ==, 200);
    CHECK(strstr(c.body, "io.caravanserai.test") != NULL);
    run(d, "DELETE", "/networks/" NET_NAME, NULL, &c);
    CHECK_INT(c.status, ==, 204);
    run(d, "GET", "/networks/" NET_NAME, NULL, &c);
    CHECK_INT(c.status, ==, 404);
    shutdown_client(d);
}

typedef struct events {
    int lines;
    int saw_create;
    cara_docker *d;
    cara_docker_req *req;
    call end;
} events;

static void on_event(void *arg, const char *line, size_t len)
{
    events *e = arg;
    e->lines++;
    json_t *j = json_loadb(line, len, 0, NULL);
    CHECK(j != NULL); /* every line is one JSON object */
    const char *action = json_string_value(json_object_get(j, "Action"));
    const char *name =
        json_string_value(json_object_get(json_object_get(json_object_get(j, "Actor"), "Attributes"), "name"));
    if (action && name && strcmp(action, "create") == 0 && strcmp(name, NET_NAME "-ev") == 0) {
        e->saw_create = 1;
        cara_docker_cancel(e->d, e->req); /* from inside the stream's own callback */
    }
    json_decref(j);
}

static void on_events_end(void *arg, const cara_docker_result *res) { on_done(&((events *)arg)->end, res); }

TEST(docker_event_stream_delivers_lines_and_can_be_cancelled_from_its_callback)
{
    cara_docker *d = client(NULL);
    events e = {.d = d};
    CHECK_OK(cara_docker_stream(d, "GET", "/events?filters=%7B%22type%22%3A%5B%22network%22%5D%7D",
                                true, on_event, on_events_end, &e, &e.req));
    call c;
    json_t *body = json_pack("{s:s, s:b, s:{s:[{s:s}]}}", "Name", NET_NAME "-ev", "CheckDuplicate",
                             1, "IPAM", "Config", "Subnet", "192.0.2.16/28");
    run(d, "POST", "/networks/create", body, &c);
    json_decref(body);
    CHECK_INT(c.status, ==, 201);
    for (int i = 0; i < 2000 && !e.end.done; i++)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_INT(e.saw_create, ==, 1);
    CHECK_INT(e.end.done, ==, 1);
    CHECK_RC(e.end.rc, CARA_EAGAIN);
    run(d, "DELETE", "/networks/" NET_NAME "-ev", NULL, &c);
    CHECK_INT(cara_docker_inflight(d), ==, 0);
    shutdown_client(d);
}

TEST(docker_unreachable_engine_is_an_io_error)
{
    cara_docker *d = client("unix:///nonexistent/docker.sock");
    call c;
    run(d, "GET", "/_ping", NULL, &c);
    CHECK_RC(c.rc, CARA_EIO);
    CHECK_INT(c.status, ==, 0);
    shutdown_client(d);
}

TEST(docker_host_must_be_a_unix_socket)
{
    uv_loop_t l;
    uv_loop_init(&l);
    cara_docker *d;
    cara_docker_config tcp = {.host = "tcp://127.0.0.1:2375"};
    CHECK_RC(cara_docker_new(&d, &l, cara_test_env(), &tcp), CARA_EINVAL);
    char long_path[200] = "unix:///";
    memset(long_path + 8, 'a', 150);
    cara_docker_config too_long = {.host = long_path};
    CHECK_RC(cara_docker_new(&d, &l, cara_test_env(), &too_long), CARA_EINVAL);
    uv_loop_close(&l);
}

TEST(docker_free_cancels_requests_in_flight)
{
    cara_docker *d = client(NULL);
    call c = {0};
    CHECK_OK(cara_docker_request(d, "GET", "/_ping", NULL, on_done, &c));
    shutdown_client(d);
    CHECK_INT(c.done, ==, 1);
    CHECK_RC(c.rc, CARA_EAGAIN);
}
