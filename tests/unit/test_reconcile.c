/* The reconciler against the real engine (`make test` starts dockerd and
 * imports caravanserai/busybox:test). Each test uses its own node name, so
 * tests and other agents on the same engine never see each other's objects;
 * the checks are about objects and phases, never about timing. */
#include <unistd.h>

#include "agent/netpool.h"
#include "agent/reconcile.h"
#include "fake_engine.h"
#include "harness.h"

#define WAIT_MS_MAX 90000

static uv_loop_t loop;
static cara_docker *docker;
static char node[64];
/* What start_with gives the reconciler: the engine (NULL: the real one)
 * and its network pool (NULL, 0: the defaults). */
static const char *engine_host;
static const char *pool_cidr;
static uint32_t pool_prefix_len;
/* Its image-pull bound: by default, Failed at the first failed attempt,
 * which keeps tests about other things quick; the pull tests set more. */
static uint32_t pull_attempts = 1, pull_window_ms = 1;

typedef struct seen {
    cara_phase phase;
    int reports;
    int terminated;
    char message[1024];
    char reason[64];         /* of the Phase condition */
    char pulling_reason[64]; /* of the ImagePulling condition, "" if none */
    char pulling_message[1024];
    int failed_reports;      /* reports with phase Failed */
    char service_messages[8][512];
    size_t services_count;
    char service_names[8][64];
    cara_svc_state service_states[8];
    uint32_t service_restarts[8];
} seen;
static seen last;

static void on_status(void *ctx, const char *project, const cara_project_status *st)
{
    (void)ctx;
    (void)project;
    last.phase = st->phase;
    last.reports++;
    if (st->phase == CARA_PHASE_TERMINATED)
        last.terminated++;
    if (st->phase == CARA_PHASE_FAILED)
        last.failed_reports++;
    last.pulling_reason[0] = last.pulling_message[0] = '\0';
    for (size_t i = 0; i < st->conditions_count; i++) {
        const cara_condition *c = &st->conditions[i];
        if (strcmp(c->type, "Phase") == 0) {
            snprintf(last.message, sizeof last.message, "%s", c->message);
            snprintf(last.reason, sizeof last.reason, "%s", c->reason);
        }
        if (strcmp(c->type, "ImagePulling") == 0) {
            snprintf(last.pulling_reason, sizeof last.pulling_reason, "%s", c->reason);
            snprintf(last.pulling_message, sizeof last.pulling_message, "%s", c->message);
        }
    }
    last.services_count = st->services_count < 8 ? st->services_count : 8;
    for (size_t i = 0; i < last.services_count; i++) {
        snprintf(last.service_names[i], sizeof last.service_names[i], "%s", st->services[i].name);
        last.service_states[i] = st->services[i].state;
        last.service_restarts[i] = st->services[i].restarts;
        snprintf(last.service_messages[i], sizeof last.service_messages[i], "%s",
                 st->services[i].message ? st->services[i].message : "");
    }
}

/* The last reported state of `service`, failing the test if it is absent. */
static cara_svc_state service_state(const char *service, uint32_t *restarts)
{
    for (size_t i = 0; i < last.services_count; i++) {
        if (strcmp(last.service_names[i], service) == 0) {
            if (restarts)
                *restarts = last.service_restarts[i];
            return last.service_states[i];
        }
    }
    cara_test_fail(__FILE__, __LINE__, "no status for service %s", service);
}

static cara_project *parse(const char *yaml)
{
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "test.yaml");
    cara_project **ps = NULL;
    size_t n = 0;
    int rc = cara_manifest_parse(cara_test_env(), yaml, strlen(yaml), &d, &ps, &n);
    if (rc != 0) {
        char line[1024] = "";
        if (d.count > 0)
            cara_diags_format(&d, 0, line, sizeof line);
        cara_test_fail(__FILE__, __LINE__, "manifest: %s", line);
    }
    cara_project *p = ps[0];
    cara_env_free(cara_test_env(), ps);
    cara_diags_free(&d);
    return p;
}

/* Starts a reconciler; `complete`: its desired set is known at once (so
 * objects of projects it was not given are orphans to remove). */
static cara_reconciler *start_with(bool complete)
{
    cara_test_set_time(0, 1790000000000);
    CHECK_INT(uv_loop_init(&loop), ==, 0);
    if (docker == NULL) {
        cara_docker_config dc = {.host = engine_host};
        CHECK_OK(cara_docker_new(&docker, &loop, cara_test_env(), &dc));
    }
    if (node[0] == '\0')
        snprintf(node, sizeof node, "test-%d", (int)getpid());
    cara_reconciler_config cfg = {.node_name = node, .docker = docker, .loop = &loop,
                                  .env = cara_test_env(), .stop_timeout_s = 1,
                                  .on_status = on_status, .network_pool = pool_cidr,
                                  .network_prefix_len = pool_prefix_len,
                                  .image_pull_attempts = pull_attempts,
                                  .image_pull_window_ms = pull_window_ms};
    cara_reconciler *r;
    CHECK_OK(cara_reconciler_new(&r, &cfg));
    if (complete)
        cara_reconciler_set_complete(r);
    return r;
}

static cara_reconciler *start(void) { return start_with(true); }

/* The test env's clock is fake: advance it with the loop so back-offs end. */
static void spin(void)
{
    uv_update_time(&loop);
    cara_test_set_time(uv_now(&loop), 1790000000000 + (int64_t)uv_now(&loop));
    uv_run(&loop, UV_RUN_ONCE);
}

/* Runs the loop until `pred` holds; the reconciler's own resync timer
 * guarantees the loop wakes up at least every few seconds. */
static void wait_for_ms(cara_reconciler *r, bool (*pred)(cara_reconciler *), const char *what,
                        uint64_t wait_ms_max)
{
    uint64_t start_ms = uv_now(&loop);
    while (!pred(r)) {
        if (uv_now(&loop) - start_ms > wait_ms_max)
            cara_test_fail(__FILE__, __LINE__, "gave up waiting for %s (phase %s: %s)", what,
                           cara_phase_name(last.phase), last.message);
        spin();
    }
}

static void wait_for(cara_reconciler *r, bool (*pred)(cara_reconciler *), const char *what)
{
    wait_for_ms(r, pred, what, WAIT_MS_MAX);
}

static void stop(cara_reconciler *r)
{
    cara_reconciler_free(r);
    uv_run(&loop, UV_RUN_NOWAIT);
    cara_docker_free(docker);
    docker = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), ==, 0);
}

static bool is_running(cara_reconciler *r) { return cara_reconciler_idle(r) && last.phase == CARA_PHASE_RUNNING; }
static bool is_failed(cara_reconciler *r) { (void)r; return last.phase == CARA_PHASE_FAILED; }
static bool is_terminated(cara_reconciler *r) { (void)r; return last.terminated > 0; }

/* ---- Synchronous engine queries for the checks ---------------------------------- */

typedef struct answer {
    int done;
    long status;
    json_t *json;
    char raw[8192];
} answer;

static void on_answer(void *arg, const cara_docker_result *res)
{
    answer *a = arg;
    a->done = 1;
    a->status = res->http_status;
    a->json = res->rc == 0 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    /* Log frames carry binary headers: keep the printable bytes only. */
    size_t o = 0;
    for (size_t i = 0; res->rc == 0 && i < res->body_len && o < sizeof a->raw - 1; i++)
        if (res->body[i] >= 0x20 || res->body[i] == '\n')
            a->raw[o++] = res->body[i];
    a->raw[o] = '\0';
}

static void engine_raw(const char *path, answer *a)
{
    memset(a, 0, sizeof *a);
    CHECK_OK(cara_docker_request(docker, "GET", path, NULL, on_answer, a));
    while (!a->done)
        spin();
    json_decref(a->json);
    a->json = NULL;
}

static json_t *engine(const char *method, const char *path, long *status)
{
    answer a = {0};
    CHECK_OK(cara_docker_request(docker, method, path, NULL, on_answer, &a));
    while (!a.done)
        spin();
    if (status)
        *status = a.status;
    return a.json;
}

/* Objects labelled with our node, by kind: "containers", "networks", "volumes". */
static json_t *ours(const char *kind)
{
    char path[512];
    snprintf(path, sizeof path,
             "/%s%sfilters=%%7B%%22label%%22%%3A%%5B%%22io.caravanserai.node%%3D%s%%22%%5D%%7D",
             strcmp(kind, "containers") == 0 ? "containers/json" : kind,
             strcmp(kind, "containers") == 0 ? "?all=1&" : "?", node);
    json_t *j = engine("GET", path, NULL);
    CHECK(j != NULL);
    if (strcmp(kind, "volumes") == 0) {
        json_t *v = json_incref(json_object_get(j, "Volumes"));
        json_decref(j);
        return v != NULL ? v : json_array();
    }
    return j;
}

static size_t count_ours(const char *kind)
{
    json_t *j = ours(kind);
    size_t n = json_array_size(j);
    json_decref(j);
    return n;
}

static const char *const two_services =
    "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: PROJECT}\n"
    "spec:\n"
    "  services:\n"
    "    - name: web\n"
    "      image: caravanserai/busybox:test\n"
    "      command: [httpd, -f, -p, '8080', -h, /www]\n"
    "      env: [{name: GREETING, value: GREET}]\n"
    "    - name: client\n"
    "      image: caravanserai/busybox:test\n"
    "      command: [sh, -c, 'while true; do wget -qO- http://web:8080/ | tee -a /data/seen; sleep 1; done']\n"
    "      volumeMounts: [{name: data, mountPath: /data}]\n"
    "  volumes: [{name: data}]\n";

/* Removes what a crashed earlier run may have left under this name (owned
 * by that run's node name, so the reconciler rightly refuses to touch it). */
static void purge(const char *name)
{
    static const char *const fmts[] = {"/containers/%s-web?force=1", "/containers/%s-client?force=1",
                                       "/networks/cara-%s", "/volumes/cara-%s-data"};
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
        char path[256];
        snprintf(path, sizeof path, fmts[i], name);
        json_decref(engine("DELETE", path, NULL));
    }
}

/* Builds the manifest with the project name and greeting substituted. */
static cara_project *project(const char *name, const char *greeting)
{
    static char purged[8][64];
    bool done = false;
    for (size_t i = 0; i < 8; i++)
        done |= strcmp(purged[i], name) == 0;
    for (size_t i = 0; !done && i < 8; i++) {
        if (purged[i][0] == '\0') {
            purge(name);
            snprintf(purged[i], sizeof purged[i], "%s", name);
            done = true;
        }
    }
    char text[2048];
    const char *src = two_services;
    size_t o = 0;
    while (*src && o < sizeof text - 64) {
        if (strncmp(src, "PROJECT", 7) == 0) {
            o += (size_t)snprintf(text + o, sizeof text - o, "%s", name);
            src += 7;
        } else if (strncmp(src, "GREET", 5) == 0 && strncmp(src, "GREETING", 8) != 0) {
            o += (size_t)snprintf(text + o, sizeof text - o, "%s", greeting);
            src += 5;
        } else {
            text[o++] = *src++;
        }
    }
    text[o] = '\0';
    return parse(text);
}

static char *container_id(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/json", name);
    long st;
    json_t *j = engine("GET", path, &st);
    char *id = NULL;
    if (st == 200)
        id = strdup(json_string_value(json_object_get(j, "Id")));
    json_decref(j);
    return id;
}

static bool client_saw_web(const char *proj_name)
{
    char path[256];
    snprintf(path, sizeof path, "/containers/%s-client/logs?stdout=1&stderr=1", proj_name);
    answer a;
    engine_raw(path, &a);
    return strstr(a.raw, "hello from caravanserai") != NULL;
}

static const char *label(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "Labels"), key));
}

TEST(reconciler_apply_creates_exactly_the_project_objects_and_services_reach_each_other)
{
    cara_reconciler *r = start();
    CHECK_OK(cara_reconciler_apply(r, project("rc-apply", "hi")));
    wait_for(r, is_running, "Running");
    json_t *ctrs = ours("containers");
    CHECK_INT(json_array_size(ctrs), ==, 2);
    size_t i;
    json_t *c;
    json_array_foreach(ctrs, i, c) {
        CHECK_STR(label(c, "io.caravanserai.project"), "rc-apply");
        CHECK_STR(label(c, "io.caravanserai.node"), node);
        CHECK(label(c, "io.caravanserai.service") != NULL);
        CHECK_INT(strlen(label(c, "io.caravanserai.spec-hash")), ==, 32);
        CHECK_STR(json_string_value(json_object_get(c, "State")), "running");
    }
    json_decref(ctrs);
    json_t *nets = ours("networks");
    CHECK_INT(json_array_size(nets), ==, 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(nets, 0), "Name")), "cara-rc-apply");
    json_decref(nets);
    json_t *vols = ours("volumes");
    CHECK_INT(json_array_size(vols), ==, 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(vols, 0), "Name")), "cara-rc-apply-data");
    json_decref(vols);
    /* Each service reports Running, in spec order. */
    CHECK_INT(last.services_count, ==, 2);
    CHECK_STR(last.service_names[0], "web");
    CHECK_STR(last.service_names[1], "client");
    CHECK_INT(service_state("web", NULL), ==, CARA_SVC_RUNNING);
    CHECK_INT(service_state("client", NULL), ==, CARA_SVC_RUNNING);
    /* The client reaches the web service by its name. */
    uint64_t t0 = uv_now(&loop);
    while (!client_saw_web("rc-apply") && uv_now(&loop) - t0 < 30000)
        spin();
    CHECK(client_saw_web("rc-apply"));
    CHECK_OK(cara_reconciler_delete(r, "rc-apply"));
    wait_for(r, is_terminated, "Terminated");
    stop(r);
}

TEST(reconciler_spec_change_recreates_only_the_changed_service_and_delete_leaves_nothing)
{
    cara_reconciler *r = start();
    CHECK_OK(cara_reconciler_apply(r, project("rc-change", "one")));
    wait_for(r, is_running, "Running");
    char *web1 = container_id("rc-change-web"), *client1 = container_id("rc-change-client");
    CHECK(web1 != NULL && client1 != NULL);
    CHECK_OK(cara_reconciler_apply(r, project("rc-change", "two")));
    last.phase = CARA_PHASE_PENDING; /* wait for a fresh Running report */
    wait_for(r, is_running, "Running after the change");
    char *web2 = container_id("rc-change-web"), *client2 = container_id("rc-change-client");
    CHECK(web2 != NULL && client2 != NULL);
    CHECK(strcmp(web1, web2) != 0);    /* env changed: recreated */
    CHECK(strcmp(client1, client2) == 0); /* untouched */
    uint32_t restarts = 1;
    CHECK_INT(service_state("web", &restarts), ==, CARA_SVC_RUNNING);
    CHECK_INT(restarts, ==, 0); /* our own stop of the old container is no crash */
    CHECK_INT(count_ours("containers"), ==, 2);
    CHECK_OK(cara_reconciler_delete(r, "rc-change"));
    wait_for(r, is_terminated, "Terminated");
    CHECK_INT(count_ours("containers"), ==, 0);
    CHECK_INT(count_ours("networks"), ==, 0);
    CHECK_INT(count_ours("volumes"), ==, 0);
    free(web1), free(web2), free(client1), free(client2);
    stop(r);
}

static bool web_running_again(cara_reconciler *r)
{
    (void)r;
    long st;
    json_t *j = engine("GET", "/containers/rc-heal-web/json", &st);
    bool running = st == 200 && json_is_true(json_object_get(json_object_get(j, "State"), "Running"));
    json_decref(j);
    return running;
}

TEST(reconciler_restarts_a_killed_container_and_recreates_a_removed_one)
{
    cara_reconciler *r = start();
    CHECK_OK(cara_reconciler_apply(r, project("rc-heal", "x")));
    wait_for(r, is_running, "Running");
    char *id1 = container_id("rc-heal-web");
    long st;
    json_decref(engine("POST", "/containers/rc-heal-web/kill", &st));
    CHECK_INT(st, ==, 204);
    uint64_t t0 = uv_now(&loop);
    while (web_running_again(r) && uv_now(&loop) - t0 < 5000)
        spin(); /* let the agent see it stop */
    wait_for(r, web_running_again, "the killed container to run again");
    char *id2 = container_id("rc-heal-web");
    CHECK_STR(id1, id2); /* restarted, not recreated */
    uint64_t t1 = uv_now(&loop);
    uint32_t restarts = 0;
    while ((service_state("web", &restarts) != CARA_SVC_RUNNING || restarts == 0) &&
           uv_now(&loop) - t1 < 30000)
        spin();
    CHECK_INT(restarts, ==, 1); /* the kill counts; nothing else does */
    service_state("client", &restarts);
    CHECK_INT(restarts, ==, 0);
    json_decref(engine("DELETE", "/containers/rc-heal-web?force=1", &st));
    CHECK_INT(st, ==, 204);
    wait_for(r, web_running_again, "the removed container to be recreated");
    char *id3 = container_id("rc-heal-web");
    CHECK(strcmp(id3, id1) != 0);
    CHECK_INT(count_ours("containers"), ==, 2);
    CHECK_OK(cara_reconciler_delete(r, "rc-heal"));
    wait_for(r, is_terminated, "Terminated");
    free(id1), free(id2), free(id3);
    stop(r);
}

TEST(reconciler_resumes_after_restart_without_duplicates_and_removes_orphans)
{
    cara_reconciler *r = start();
    CHECK_OK(cara_reconciler_apply(r, project("rc-resume", "x")));
    wait_for(r, is_running, "Running");
    char *id1 = container_id("rc-resume-web");
    stop(r); /* the agent goes away; containers stay */
    r = start_with(false);
    CHECK_INT(count_ours("containers"), ==, 2);
    last.phase = CARA_PHASE_PENDING;
    CHECK_OK(cara_reconciler_apply(r, project("rc-resume", "x")));
    wait_for(r, is_running, "Running again");
    char *id2 = container_id("rc-resume-web");
    CHECK_STR(id1, id2);
    CHECK_INT(count_ours("containers"), ==, 2);
    CHECK_INT(count_ours("networks"), ==, 1);
    stop(r);
    /* A restarted agent whose desired set lacks the project removes it. */
    r = start();
    last.terminated = 0;
    wait_for(r, is_terminated, "the orphan to be removed");
    CHECK_INT(count_ours("containers"), ==, 0);
    CHECK_INT(count_ours("networks"), ==, 0);
    CHECK_INT(count_ours("volumes"), ==, 0);
    free(id1), free(id2);
    stop(r);
}

static bool in_pull_back_off(cara_reconciler *r)
{
    (void)r;
    return strcmp(last.pulling_reason, "ImagePullBackOff") == 0;
}

TEST(reconciler_reports_image_pull_back_off_then_failed_with_the_engine_reason)
{
    pull_attempts = 2; /* the second failed attempt gives up */
    cara_reconciler *r = start();
    cara_project *p = project("rc-noimage", "x");
    free(p->services[0].image);
    p->services[0].image = strdup("caravanserai/does-not-exist:never");
    last.failed_reports = 0;
    CHECK_OK(cara_reconciler_apply(r, p));
    wait_for(r, in_pull_back_off, "ImagePullBackOff");
    CHECK_INT(last.failed_reports, ==, 0);
    CHECK_INT(last.phase, ==, CARA_PHASE_SCHEDULED);
    CHECK_STR(last.reason, "ImagePullBackOff");
    CHECK_INT(service_state("web", NULL), ==, CARA_SVC_WAITING);
    wait_for(r, is_failed, "Failed");
    pull_attempts = 1;
    CHECK_STR(last.reason, "ImagePullFailed");
    CHECK_STR(last.pulling_reason, "ImagePullFailed");
    CHECK(strstr(last.message, "pull image") != NULL);
    CHECK(strstr(last.message, "gave up after 2 failed attempts") != NULL);
    CHECK_INT(service_state("web", NULL), ==, CARA_SVC_FAILED);
    CHECK(strlen(last.message) > strlen("Failed: pull image caravanserai/does-not-exist:never: "));
    CHECK_OK(cara_reconciler_delete(r, "rc-noimage"));
    wait_for(r, is_terminated, "Terminated");
    CHECK_INT(count_ours("containers"), ==, 0);
    stop(r);
}

/* Steps the reconciler made so far. */
static uint64_t steps_of(cara_reconciler *r)
{
    cara_reconciler_stats st;
    cara_reconciler_get_stats(r, &st);
    return st.steps;
}

TEST(reconciler_force_delete_removes_running_containers_without_stopping_them_first)
{
    cara_reconciler *r = start();
    /* Graceful: each running container is stopped, then removed. */
    CHECK_OK(cara_reconciler_apply(r, project("rc-graceful", "x")));
    wait_for(r, is_running, "Running");
    uint64_t before = steps_of(r);
    last.terminated = 0;
    CHECK_OK(cara_reconciler_delete(r, "rc-graceful"));
    wait_for(r, is_terminated, "Terminated");
    CHECK_INT(steps_of(r) - before, ==, 2 * 2 + 1 + 1); /* stop+remove ×2, network, volume */
    /* Forced: removed at once. */
    last.phase = CARA_PHASE_PENDING;
    CHECK_OK(cara_reconciler_apply(r, project("rc-forced", "x")));
    wait_for(r, is_running, "Running");
    before = steps_of(r);
    last.terminated = 0;
    CHECK_OK(cara_reconciler_delete_force(r, "rc-forced"));
    wait_for(r, is_terminated, "Terminated");
    CHECK_INT(steps_of(r) - before, ==, 2 + 1 + 1); /* remove ×2, network, volume */
    CHECK_INT(count_ours("containers"), ==, 0);
    stop(r);
}

TEST(reconciler_new_spec_after_a_failure_starts_afresh)
{
    cara_reconciler *r = start();
    cara_project *p = project("rc-fix", "x");
    free(p->services[0].image);
    p->services[0].image = strdup("caravanserai/does-not-exist:never");
    CHECK_OK(cara_reconciler_apply(r, p));
    wait_for(r, is_failed, "Failed");
    /* The fixed spec: its first report is not the old failure. */
    last.reports = 0;
    CHECK_OK(cara_reconciler_apply(r, project("rc-fix", "x")));
    CHECK(last.reports > 0);
    CHECK(last.phase != CARA_PHASE_FAILED);
    wait_for(r, is_running, "Running");
    CHECK_OK(cara_reconciler_delete(r, "rc-fix"));
    wait_for(r, is_terminated, "Terminated");
    stop(r);
}

/* Phases by project, for tests that run two at once. */
static cara_phase phase_a, phase_b;
static char phase_b_msg[1024];

static void on_status_two(void *ctx, const char *project, const cara_project_status *st)
{
    (void)ctx;
    if (strcmp(project, "rcn-x") == 0)
        phase_a = st->phase;
    if (strcmp(project, "rcn") == 0) {
        phase_b = st->phase;
        for (size_t i = 0; i < st->conditions_count; i++)
            if (strcmp(st->conditions[i].type, "Phase") == 0)
                snprintf(phase_b_msg, sizeof phase_b_msg, "%s", st->conditions[i].message);
    }
    on_status(ctx, project, st);
}

TEST(reconciler_projects_whose_object_names_collide_never_share_objects)
{
    /* "rcn-x" + service "db" and "rcn" + service "x-db" both make a
     * container "rcn-x-db"; volumes "cara-rcn-x-data" likewise. */
    cara_reconciler *r = start_with(true);
    stop(r); /* only to set up the loop, the client and the node name */
    CHECK_INT(uv_loop_init(&loop), ==, 0);
    cara_docker_config dc = {0};
    CHECK_OK(cara_docker_new(&docker, &loop, cara_test_env(), &dc));
    static const char *const names[] = {"/containers/rcn-x-db?force=1", "/networks/cara-rcn-x",
                                        "/networks/cara-rcn", "/volumes/cara-rcn-x-data"};
    for (size_t i = 0; i < 4; i++)
        json_decref(engine("DELETE", names[i], NULL));
    cara_reconciler_config cfg = {.node_name = node, .docker = docker, .loop = &loop,
                                  .env = cara_test_env(), .stop_timeout_s = 1,
                                  .on_status = on_status_two};
    CHECK_OK(cara_reconciler_new(&r, &cfg));
    cara_reconciler_set_complete(r);
    CHECK_OK(cara_reconciler_apply(r, parse(
        "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: rcn-x}\nspec:\n"
        "  services: [{name: db, image: caravanserai/busybox:test, command: [sleep, '3600'],"
        " volumeMounts: [{name: data, mountPath: /d}]}]\n  volumes: [{name: data}]\n")));
    wait_for(r, is_running, "rcn-x Running");
    phase_a = CARA_PHASE_RUNNING;
    char *first = container_id("rcn-x-db");
    CHECK_OK(cara_reconciler_apply(r, parse(
        "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: rcn}\nspec:\n"
        "  services: [{name: x-db, image: caravanserai/busybox:test, command: [sleep, '3600'],"
        " volumeMounts: [{name: x-data, mountPath: /d}]}]\n  volumes: [{name: x-data}]\n")));
    uint64_t t0 = uv_now(&loop);
    while (phase_b != CARA_PHASE_FAILED && uv_now(&loop) - t0 < 30000)
        spin();
    CHECK_INT(phase_b, ==, CARA_PHASE_FAILED);
    CHECK(strstr(phase_b_msg, "collide") != NULL || strstr(phase_b_msg, "already in use") != NULL);
    /* The first project keeps its container and reports nothing of the other. */
    char *still = container_id("rcn-x-db");
    CHECK_STR(first, still);
    CHECK_INT(phase_a, ==, CARA_PHASE_RUNNING);
    last.terminated = 0;
    CHECK_OK(cara_reconciler_delete(r, "rcn"));
    wait_for(r, is_terminated, "rcn Terminated");
    /* Deleting the second removed nothing of the first. */
    char *after = container_id("rcn-x-db");
    CHECK(after != NULL && strcmp(after, first) == 0);
    long st;
    json_decref(engine("GET", "/volumes/cara-rcn-x-data", &st));
    CHECK_INT(st, ==, 200);
    last.terminated = 0;
    CHECK_OK(cara_reconciler_delete(r, "rcn-x"));
    wait_for(r, is_terminated, "rcn-x Terminated");
    free(first), free(still), free(after);
    stop(r);
}

/* ---- Against the fake engine (tests/unit/fake_engine.h) ---------------------------- */

/* What the fake engine makes happen takes a few passes at most; the
 * reconciler's back-off starts at a second. */
#define FAKE_WAIT_MS_MAX 30000

static cara_project *one_service(const char *name)
{
    char text[512];
    snprintf(text, sizeof text,
             "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: %s}\nspec:\n"
             "  services: [{name: web, image: caravanserai/busybox:test, command: [sleep, '3600']}]\n",
             name);
    return parse(text);
}

static fake_engine *fake;
static bool start_refused(cara_reconciler *r) { (void)r; return fake_engine_starts_refused(fake) > 0; }

TEST(reconciler_recreates_a_container_whose_start_the_engine_refuses_after_an_engine_restart)
{
    fake = fake_engine_start();
    engine_host = fake_engine_host(fake);
    cara_reconciler *r = start();
    CHECK_OK(cara_reconciler_apply(r, one_service("fk-stale")));
    wait_for_ms(r, is_running, "Running", FAKE_WAIT_MS_MAX);
    char id1[80], id2[80];
    CHECK_INT(fake_engine_container_id(fake, "fk-stale-web", id1, sizeof id1), ==, 0);
    /* The engine comes back holding the old task: every start of the old
     * container is refused with "task ...: already exists", for ever. */
    fake_engine_restart_keeping_stale_tasks(fake);
    cara_reconciler_kick(r);
    wait_for_ms(r, start_refused, "the refused start", FAKE_WAIT_MS_MAX);
    last.phase = CARA_PHASE_PENDING;
    wait_for_ms(r, is_running, "Running in a recreated container", FAKE_WAIT_MS_MAX);
    CHECK_INT(fake_engine_container_id(fake, "fk-stale-web", id2, sizeof id2), ==, 0);
    CHECK(strcmp(id1, id2) != 0);
    CHECK_INT(fake_engine_containers(fake), ==, 1);
    CHECK_INT(fake_engine_starts_refused(fake), ==, 1); /* one recreation cured it */
    stop(r);
    fake_engine_stop(fake);
}

/* ---- Images that cannot be pulled (docs/agent.md, "Image pulls") ------------------ */

#define MISSING_IMAGE "cara-test/missing:1"

static cara_project *missing_image_project(const char *name)
{
    cara_project *p = one_service(name);
    free(p->services[0].image);
    p->services[0].image = strdup(MISSING_IMAGE);
    return p;
}

/* The message the last report gave service `service`. */
static const char *service_message(const char *service)
{
    for (size_t i = 0; i < last.services_count; i++)
        if (strcmp(last.service_names[i], service) == 0)
            return last.service_messages[i];
    cara_test_fail(__FILE__, __LINE__, "no status for service %s", service);
}

/* Pulls made, and the loop's time, when the first Failed report came. */
static int pulls_at_failed = -1;
static uint64_t ms_at_failed, ms_at_first_failure;

static bool failed_noting_pulls(cara_reconciler *r)
{
    (void)r;
    if (ms_at_first_failure == 0 && last.pulling_reason[0] != '\0')
        ms_at_first_failure = uv_now(&loop);
    if (last.phase == CARA_PHASE_FAILED && pulls_at_failed < 0) {
        pulls_at_failed = fake_engine_pulls(fake);
        ms_at_failed = uv_now(&loop);
    }
    return pulls_at_failed >= 0;
}

/* Runs the loop for `ms` of the loop's time. */
static void spin_for(uint64_t ms)
{
    uint64_t t0 = uv_now(&loop);
    while (uv_now(&loop) - t0 < ms)
        spin();
}

/* A reconciler on a fake engine that cannot pull MISSING_IMAGE, giving an
 * image up after `attempts` and `window_ms`. */
static cara_reconciler *start_without_registry(uint32_t attempts, uint32_t window_ms)
{
    fake = fake_engine_start();
    engine_host = fake_engine_host(fake);
    fake_engine_set_image(fake, MISSING_IMAGE, FAKE_IMAGE_UNPULLABLE);
    pull_attempts = attempts;
    pull_window_ms = window_ms;
    last.failed_reports = 0;
    ms_at_first_failure = 0;
    pulls_at_failed = -1;
    return start();
}

static void stop_without_registry(cara_reconciler *r)
{
    stop(r);
    fake_engine_stop(fake);
    pull_attempts = 1;
    pull_window_ms = 1;
}

TEST(reconciler_waits_in_image_pull_back_off_and_fails_for_good_only_after_the_attempts)
{
    cara_reconciler *r = start_without_registry(3, 1);
    CHECK_OK(cara_reconciler_apply(r, missing_image_project("fk-pull")));
    wait_for_ms(r, in_pull_back_off, "ImagePullBackOff", FAKE_WAIT_MS_MAX);
    /* Not Failed: Scheduled, the service Waiting, the engine's words and the
     * next attempt's time in the status. */
    CHECK_INT(last.failed_reports, ==, 0);
    CHECK_INT(last.phase, ==, CARA_PHASE_SCHEDULED);
    CHECK_STR(last.reason, "ImagePullBackOff");
    CHECK(strstr(last.message, "back-off pulling image " MISSING_IMAGE) != NULL);
    CHECK(strstr(last.message, "no such host") != NULL);
    CHECK(strstr(last.pulling_message, "next at 20") != NULL);
    CHECK_INT(service_state("web", NULL), ==, CARA_SVC_WAITING);
    CHECK(strncmp(service_message("web"), "ImagePullBackOff: HTTP 500: ", 28) == 0);
    wait_for_ms(r, failed_noting_pulls, "Failed", FAKE_WAIT_MS_MAX);
    CHECK_INT(pulls_at_failed, ==, 3); /* exactly the attempts asked for */
    CHECK_STR(last.reason, "ImagePullFailed");
    CHECK(strstr(last.message, "gave up after 3 failed attempts") != NULL);
    CHECK_INT(service_state("web", NULL), ==, CARA_SVC_FAILED);
    CHECK(strncmp(service_message("web"), "ImagePullFailed: ", 17) == 0);
    /* That spec is not tried again, however long one waits. */
    spin_for(5000);
    CHECK_INT(fake_engine_pulls(fake), ==, 3);
    CHECK_INT(last.phase, ==, CARA_PHASE_FAILED);
    CHECK(cara_reconciler_idle(r));
    cara_reconciler_stats st;
    cara_reconciler_get_stats(r, &st);
    CHECK_INT(st.pulls_given_up, ==, 1);
    /* An agent restart starts over: back-off again before Failed. */
    stop(r);
    engine_host = fake_engine_host(fake);
    r = start();
    last.failed_reports = 0;
    last.pulling_reason[0] = '\0';
    CHECK_OK(cara_reconciler_apply(r, missing_image_project("fk-pull")));
    wait_for_ms(r, in_pull_back_off, "ImagePullBackOff after a restart", FAKE_WAIT_MS_MAX);
    CHECK_INT(last.failed_reports, ==, 0);
    CHECK_INT(fake_engine_pulls(fake), ==, 4);
    /* A new spec starts over too, and the image that can now be pulled runs. */
    fake_engine_set_image(fake, MISSING_IMAGE, FAKE_IMAGE_PULLABLE);
    cara_project *p = missing_image_project("fk-pull");
    CHECK_OK(cara_reconciler_apply(r, p));
    wait_for_ms(r, is_running, "Running once the image can be pulled", FAKE_WAIT_MS_MAX);
    CHECK_STR(last.pulling_reason, "Pulled");
    stop_without_registry(r);
}

TEST(reconciler_gives_up_an_image_only_once_the_window_has_passed_too)
{
    /* Two attempts fail within about a second (the back-off starts at 1 s,
     * then 2 s): the window keeps the project waiting for a third. */
    cara_reconciler *r = start_without_registry(2, 2500);
    CHECK_OK(cara_reconciler_apply(r, missing_image_project("fk-window")));
    wait_for_ms(r, failed_noting_pulls, "Failed", FAKE_WAIT_MS_MAX);
    /* Three pulls where two attempts were asked for: the window, not the
     * count, ended it. (Times read in the callbacks are not compared: on
     * a loaded machine the first failure is seen late.) */
    CHECK_INT(pulls_at_failed, ==, 3);
    (void)ms_at_first_failure;
    CHECK_STR(last.reason, "ImagePullFailed");
    stop_without_registry(r);
}

TEST(reconciler_image_pull_back_off_ends_by_itself_once_the_image_can_be_pulled)
{
    cara_reconciler *r = start_without_registry(100, 1);
    CHECK_OK(cara_reconciler_apply(r, missing_image_project("fk-heal")));
    wait_for_ms(r, in_pull_back_off, "ImagePullBackOff", FAKE_WAIT_MS_MAX);
    /* The registry comes back: the next attempt pulls, with no new spec. */
    fake_engine_set_image(fake, MISSING_IMAGE, FAKE_IMAGE_PULLABLE);
    wait_for_ms(r, is_running, "Running", FAKE_WAIT_MS_MAX);
    CHECK_INT(last.failed_reports, ==, 0);
    CHECK_INT(service_state("web", NULL), ==, CARA_SVC_RUNNING);
    CHECK_STR(last.pulling_reason, "Pulled");
    stop_without_registry(r);
}

static bool in_pool(const char *subnet, const char *pool)
{
    cara_cidr s, p;
    return cara_cidr_parse(subnet, &s) == 0 && cara_cidr_parse(pool, &p) == 0 &&
           s.len > p.len && cara_cidr_overlap(s, p);
}

TEST(reconciler_takes_the_next_subnet_when_another_agent_took_its_pick_and_keeps_it)
{
    fake = fake_engine_start();
    engine_host = fake_engine_host(fake);
    cara_reconciler *r = start();
    fake_engine_race_next_network(fake);
    CHECK_OK(cara_reconciler_apply(r, one_service("fk-race")));
    wait_for_ms(r, is_running, "Running", FAKE_WAIT_MS_MAX);
    CHECK_INT(fake_engine_overlaps_refused(fake), ==, 1);
    char mine[32], theirs[32], again[32];
    CHECK_INT(fake_engine_network_subnet(fake, "cara-fk-race", mine, sizeof mine), ==, 0);
    CHECK_INT(fake_engine_network_subnet(fake, "racer", theirs, sizeof theirs), ==, 0);
    CHECK(strcmp(mine, theirs) != 0);
    CHECK(in_pool(mine, CARA_NETPOOL_DEFAULT));
    CHECK_STR(strrchr(mine, '/'), "/25");
    stop(r);
    /* The project's first pick is free again; a restarted agent keeps the
     * network, and so the subnet, it has. */
    engine_host = fake_engine_host(fake);
    r = start();
    CHECK_OK(cara_reconciler_apply(r, one_service("fk-race")));
    last.phase = CARA_PHASE_PENDING;
    wait_for_ms(r, is_running, "Running again", FAKE_WAIT_MS_MAX);
    CHECK_INT(fake_engine_network_subnet(fake, "cara-fk-race", again, sizeof again), ==, 0);
    CHECK_STR(again, mine);
    stop(r);
    fake_engine_stop(fake);
}

TEST(reconciler_reports_an_exhausted_network_pool_and_proceeds_once_a_subnet_is_free)
{
    fake = fake_engine_start();
    engine_host = fake_engine_host(fake);
    pool_cidr = "10.214.7.0/24"; /* two /25s, one of them someone else's */
    pool_prefix_len = 25;
    fake_engine_add_foreign_network(fake, "not-ours", "10.214.7.0/25");
    cara_reconciler *r = start();
    CHECK_OK(cara_reconciler_apply(r, one_service("fk-a")));
    wait_for_ms(r, is_running, "fk-a Running", FAKE_WAIT_MS_MAX);
    char subnet[32];
    CHECK_INT(fake_engine_network_subnet(fake, "cara-fk-a", subnet, sizeof subnet), ==, 0);
    CHECK_STR(subnet, "10.214.7.128/25");
    CHECK_OK(cara_reconciler_apply(r, one_service("fk-b")));
    wait_for_ms(r, is_failed, "fk-b Failed", FAKE_WAIT_MS_MAX);
    CHECK(strstr(last.message, "no free /25 subnet left in the network pool 10.214.7.0/24") != NULL);
    CHECK_INT(fake_engine_network_subnet(fake, "cara-fk-b", subnet, sizeof subnet), ==, -1);
    last.terminated = 0;
    CHECK_OK(cara_reconciler_delete(r, "fk-a"));
    wait_for_ms(r, is_terminated, "fk-a Terminated", FAKE_WAIT_MS_MAX);
    wait_for_ms(r, is_running, "fk-b Running", FAKE_WAIT_MS_MAX);
    CHECK_INT(fake_engine_network_subnet(fake, "cara-fk-b", subnet, sizeof subnet), ==, 0);
    CHECK_STR(subnet, "10.214.7.128/25");
    stop(r);
    fake_engine_stop(fake);
}

/* ---- Many projects on one real engine ---------------------------------------------------- */

/* More project networks than an engine started with default options has in
 * its default pools (30: 172.18-31.0.0/16 and the /20s of 192.168.0.0/16),
 * from two agents sharing the engine. Their image cannot be pulled (no
 * registry is reachable from a test): each project gets its network, then
 * fails at the pull, which keeps the test quick on a busy two-core machine
 * while proving that the network step succeeded. */
#define MANY_AGENTS 2
#define MANY_PER_AGENT 20
#define MANY_TOTAL (MANY_AGENTS * MANY_PER_AGENT)

static cara_phase many_phase[MANY_TOTAL];
static char many_failure[MANY_TOTAL][512];

static int many_index(const char *project)
{
    int agent, i;
    if (sscanf(project, "rcm-%d-%d", &agent, &i) != 2 || agent < 0 || agent >= MANY_AGENTS || i < 0 ||
        i >= MANY_PER_AGENT)
        return -1;
    return agent * MANY_PER_AGENT + i;
}

static void on_status_many(void *ctx, const char *project, const cara_project_status *st)
{
    (void)ctx;
    int k = many_index(project);
    if (k < 0)
        return;
    many_phase[k] = st->phase;
    for (size_t i = 0; st->phase == CARA_PHASE_FAILED && i < st->conditions_count; i++)
        if (strcmp(st->conditions[i].type, "Phase") == 0)
            snprintf(many_failure[k], sizeof many_failure[k], "%s", st->conditions[i].message);
}

static bool all_many(cara_phase want)
{
    for (int k = 0; k < MANY_TOTAL; k++)
        if (many_phase[k] != want)
            return false;
    return true;
}
static bool many_failed(cara_reconciler *r) { (void)r; return all_many(CARA_PHASE_FAILED); }
static bool many_gone(cara_reconciler *r) { (void)r; return all_many(CARA_PHASE_TERMINATED); }

static void many_name(int k, char *out, size_t cap)
{
    snprintf(out, cap, "rcm-%d-%02d", k / MANY_PER_AGENT, k % MANY_PER_AGENT);
}

/* The subnet of the project network of project k on the real engine. */
static cara_cidr many_subnet(int k)
{
    char name[64], path[128];
    many_name(k, name, sizeof name);
    snprintf(path, sizeof path, "/networks/cara-%s", name);
    json_t *j = engine("GET", path, NULL);
    const char *text = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(j, "IPAM"), "Config"), 0), "Subnet"));
    cara_cidr c = {0, 0};
    if (text == NULL || cara_cidr_parse(text, &c) != 0)
        cara_test_fail(__FILE__, __LINE__, "network of %s has no subnet", name);
    json_decref(j);
    return c;
}

TEST(reconciler_agents_sharing_a_default_engine_hold_more_projects_than_its_default_pools)
{
    cara_reconciler *r[MANY_AGENTS];
    char nodes[MANY_AGENTS][64];
    r[0] = start_with(true);
    stop(r[0]); /* only to set up the node name */
    CHECK_INT(uv_loop_init(&loop), ==, 0);
    cara_docker_config dc = {0};
    CHECK_OK(cara_docker_new(&docker, &loop, cara_test_env(), &dc));
    for (int k = 0; k < MANY_TOTAL; k++) { /* leftovers of a crashed run */
        char name[64], path[128];
        many_name(k, name, sizeof name);
        snprintf(path, sizeof path, "/containers/%s-web?force=1", name);
        json_decref(engine("DELETE", path, NULL));
        snprintf(path, sizeof path, "/networks/cara-%s", name);
        json_decref(engine("DELETE", path, NULL));
    }
    for (int a = 0; a < MANY_AGENTS; a++) {
        snprintf(nodes[a], sizeof nodes[a], "%.48s-%d", node, a);
        cara_reconciler_config cfg = {.node_name = nodes[a], .docker = docker, .loop = &loop,
                                      .env = cara_test_env(), .stop_timeout_s = 1,
                                      .on_status = on_status_many,
                                      .image_pull_attempts = 1, .image_pull_window_ms = 1};
        CHECK_OK(cara_reconciler_new(&r[a], &cfg));
        cara_reconciler_set_complete(r[a]);
    }
    for (int k = 0; k < MANY_TOTAL; k++) {
        char name[64];
        many_name(k, name, sizeof name);
        cara_project *p = one_service(name);
        free(p->services[0].image);
        p->services[0].image = strdup("caravanserai/does-not-exist:never");
        CHECK_OK(cara_reconciler_apply(r[k / MANY_PER_AGENT], p));
    }
    uint64_t t0 = uv_now(&loop);
    while (!many_failed(NULL) && uv_now(&loop) - t0 < WAIT_MS_MAX)
        spin();
    for (int k = 0; k < MANY_TOTAL; k++) /* past its network, every one */
        if (many_phase[k] != CARA_PHASE_FAILED || strstr(many_failure[k], "pull image") == NULL)
            cara_test_fail(__FILE__, __LINE__, "project %d: phase %s: %s", k,
                           cara_phase_name(many_phase[k]), many_failure[k]);
    /* Every subnet is the agents' pool's, and no two overlap. */
    cara_cidr pool, subnets[MANY_TOTAL];
    CHECK_OK(cara_cidr_parse(CARA_NETPOOL_DEFAULT, &pool));
    for (int k = 0; k < MANY_TOTAL; k++) {
        subnets[k] = many_subnet(k);
        CHECK(subnets[k].len == CARA_NETPOOL_PREFIX_LEN_DEFAULT && cara_cidr_overlap(subnets[k], pool));
        for (int j = 0; j < k; j++)
            CHECK(!cara_cidr_overlap(subnets[j], subnets[k]));
    }
    for (int k = 0; k < MANY_TOTAL; k++) {
        char name[64];
        many_name(k, name, sizeof name);
        CHECK_OK(cara_reconciler_delete_force(r[k / MANY_PER_AGENT], name));
    }
    t0 = uv_now(&loop);
    while (!many_gone(NULL) && uv_now(&loop) - t0 < WAIT_MS_MAX)
        spin();
    CHECK(many_gone(NULL));
    for (int a = 1; a < MANY_AGENTS; a++)
        cara_reconciler_free(r[a]);
    stop(r[0]);
}
