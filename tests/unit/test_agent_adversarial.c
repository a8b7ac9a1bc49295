/*
 * Adversarial cases of the agent's state half (agent_state.c), on a real
 * store and crdt with a libuv loop and no engine, as test_agent_eval.c: a
 * hostile node's placement cannot keep a project once the scheduler
 * changes.
 */
#include <sqlite3.h>
#include <uv.h>

#include "agent/agent_int.h"
#include "crdt_util.h"
#include "spec_util.h"

#define NODES 4

typedef struct fixture {
    cara_agent a;
    uv_loop_t loop;
    tkey op, nodes[NODES];
    char dir[64];
} fixture;

static void ingest(fixture *f, cara_buf *rec)
{
    bool changed = false;
    CHECK_OK(agent_ingest(&f->a, rec->data, rec->len, &changed));
    CHECK(changed);
    cara_buf_free(rec);
}

static int64_t now_ms(void) { return cara_env_now_wall_ms(cara_test_env()); }

static void node_record(fixture *f, int i, cara_node_state state, uint64_t gen)
{
    char name[16];
    snprintf(name, sizeof name, "n%d", i);
    char *addrs[] = {"100.64.0.1"};
    cara_condition ready = {.type = "Ready", .status = CARA_COND_TRUE, .reason = "AgentRunning",
                            .message = "", .last_transition_wall_ms = 1};
    cara_node n = {.name = name, .addrs = addrs, .addrs_count = 1,
                   .capacity = {.cpu_millis = 2000, .memory_bytes = 1ULL << 30},
                   .state = state, .conditions = &ready, .conditions_count = 1};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&n, &v));
    trec(&rec, CARA_CRDT_NODE, name, gen, ((uint64_t)now_ms() << 16) + gen, &f->nodes[i], v.data,
         v.len);
    cara_buf_free(&v);
    ingest(f, &rec);
}

static void project_record(fixture *f, const char *name)
{
    char text[512];
    snprintf(text, sizeof text,
             "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: %s}\n"
             "spec:\n  services: [{name: web, image: busybox}]\n", name);
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(text, &d, &p));
    cara_diags_free(&d);
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_SPEC_BYTES_MAX);
    CHECK_OK(cara_project_encode(p, &v));
    cara_project_free(cara_test_env(), p);
    trec(&rec, CARA_CRDT_PROJECT, name, 1, (uint64_t)now_ms() << 16, &f->op, v.data, v.len);
    cara_buf_free(&v);
    ingest(f, &rec);
}

/* A PLACEMENT by node `author` for project `name`, Scheduled on `on`. */
static void placement(fixture *f, int author, const char *name, const char *on, uint64_t hlc)
{
    cara_condition c = {.type = "Phase", .status = CARA_COND_TRUE, .reason = "Scheduled",
                        .message = "Scheduled: placed", .last_transition_wall_ms = now_ms()};
    cara_project_status st = {.phase = CARA_PHASE_SCHEDULED, .node_ref = (char *)on,
                              .conditions = &c, .conditions_count = 1};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_STATUS_BYTES_MAX);
    CHECK_OK(cara_project_status_encode(&st, &v));
    trec(&rec, CARA_CRDT_PLACEMENT, name, 1, hlc, &f->nodes[author], v.data, v.len);
    cara_buf_free(&v);
    ingest(f, &rec);
}

static void settle(fixture *f)
{
    for (int i = 0; i < 10; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey_make(&f->op, &rng);
    for (int i = 0; i < NODES; i++)
        tkey_make(&f->nodes[i], &rng);
    snprintf(f->dir, sizeof f->dir, "/tmp/cara-review-XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/state.db", f->dir);
    cara_agent *a = &f->a;
    a->env = cara_test_env();
    a->cfg.name = "observer";
    CHECK(uv_loop_init(&f->loop) == 0);
    a->loop = &f->loop;
    agent_eval_init(a);
    cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])f->op.pk,
                        .operator_pks_count = 1, .validate_value = agent_validate_value,
                        .validate_ctx = a->env};
    CHECK_OK(cara_crdt_new(&a->crdt, &cc, a->env));
    CHECK_OK(cara_store_open(&a->store, path, a->env));
    for (int i = 0; i < NODES; i++) {
        char name[16];
        cara_buf rec;
        snprintf(name, sizeof name, "n%d", i);
        tadmission(&rec, name, 1, (uint64_t)now_ms() << 16, &f->op, &f->nodes[i], true);
        ingest(f, &rec);
        node_record(f, i, CARA_NODE_READY, 1);
    }
    settle(f);
}

static void fixture_close(fixture *f)
{
    agent_eval_close(&f->a);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    agent_nodes_free(&f->a, &f->a.nodes);
    cara_store_close(f->a.store);
    cara_crdt_free(f->a.crdt);
    while (f->a.projects != NULL) {
        agent_project *next = f->a.projects->next;
        cara_env_free(f->a.env, f->a.projects);
        f->a.projects = next;
    }
}

/* Nodes by rendezvous weight for `project`, highest first. */
static void rank(const char *project, int order[NODES])
{
    uint64_t w[NODES];
    for (int i = 0; i < NODES; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        w[i] = cara_sched_weight(project, name);
        order[i] = i;
    }
    for (int i = 0; i < NODES; i++)
        for (int j = i + 1; j < NODES; j++)
            if (w[order[j]] > w[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
}

/* Regression (review of issue 7), as it was: docs/crdt.md says a placement hint (the newest placement any
 * admitted node wrote, used while the project's scheduler has none) is
 * "confirmed or replaced by the new scheduler on its next evaluation".
 * schedule() writes nothing when the derived owner is a Ready node, so a
 * hint is never confirmed and stays what every node reads. A hostile
 * admitted node H that keeps a placement naming itself, stamped up to the
 * skew bound ahead, takes any project whose scheduler changes (a node
 * joins or leaves) away from a healthy owner, for good.
 *
 * S: scheduler, X: owner S chose (stays Ready), H: hostile, S2: the next
 * scheduler once S is NotReady. This agent is S2. */
TEST(new_scheduler_confirms_or_replaces_a_placement_hint)
{
    fixture f;
    fixture_open(&f);
    const char *p = "web";
    int order[NODES];
    rank(p, order);
    int S = order[0], S2 = order[1], X = order[2], H = order[3];
    char sname[16], s2name[16], xname[16], hname[16];
    snprintf(sname, sizeof sname, "n%d", S);
    snprintf(s2name, sizeof s2name, "n%d", S2);
    snprintf(xname, sizeof xname, "n%d", X);
    snprintf(hname, sizeof hname, "n%d", H);
    project_record(&f, p);
    settle(&f);
    /* From here on this agent is S2 (neither scheduler nor owner yet). */
    f.a.cfg.name = s2name;
    memcpy(f.a.node_pk, f.nodes[S2].pk, CARA_CRDT_PK_BYTES);
    memcpy(f.a.node_sk, f.nodes[S2].sk, CARA_CRDT_SK_BYTES);
    uint64_t hlc = (uint64_t)now_ms() << 16;
    placement(&f, S, p, xname, hlc);
    /* H's placement names itself, 30 s ahead (inside the 60 s skew). */
    placement(&f, H, p, hname, hlc + ((uint64_t)30000 << 16));
    settle(&f);
    cara_project_status *st = NULL;
    CHECK_OK(agent_project_status(&f.a, p, 1, &st, NULL));
    CHECK_STR(st->node_ref, xname); /* the scheduler's placement wins: right */
    cara_project_status_free(f.a.env, st);
    /* S goes NotReady: S2 becomes the scheduler; X is still Ready. */
    node_record(&f, S, CARA_NODE_NOT_READY, 2);
    settle(&f);
    cara_crdt_record r;
    int rc = cara_crdt_get_by(f.a.crdt, CARA_CRDT_PLACEMENT, (const uint8_t *)p, strlen(p),
                              f.nodes[S2].pk, &r);
    CHECK_OK(agent_project_status(&f.a, p, 1, &st, NULL));
    fprintf(stderr, "  S=%s X=%s H=%s S2=%s: after S left, shown owner %s, S2 placement: %s\n",
            sname, xname, hname, s2name, st->node_ref ? st->node_ref : "(none)",
            rc == 0 ? "written" : "none");
    bool hijacked = st->node_ref != NULL && strcmp(st->node_ref, hname) == 0;
    cara_project_status_free(f.a.env, st);
    CHECK(rc == 0);    /* fails: S2 never writes its own placement */
    CHECK(!hijacked);  /* fails: H's hint moved the project off healthy X */
    fixture_close(&f);
}
