/*
 * The node object (src/core) on its own: several nodes, each a cara_core
 * over its own crdt, with records carried between them by hand and a
 * runtime that does what it is told and reports at once. No agent, store,
 * engine or clock: what is checked is what the nodes decide (one scheduler
 * per project, one owner, one RUN, removal by the owner alone, expiry at
 * its deadline, the end of a project never placed). Linked into the
 * core-only test binary too (build/test-sim).
 */
#include "core/core.h"
#include "crdt_util.h"
#include "spec_util.h"

#define CN 4 /* nodes */

typedef struct run_state {
    char project[CARA_NAME_BYTES_MAX + 1];
    uint64_t generation;
    bool running;
} run_state;

typedef struct cnode {
    char name[16];
    tkey key;
    cara_crdt *crdt;
    cara_core *core;
    run_state runs[64]; /* the runtime: what it was told to run */
    size_t runs_count;
    size_t run_actions, delete_actions, incarnations_asked, publishes_asked;
} cnode;

typedef struct cluster {
    tkey op;
    cnode n[CN];
    int64_t now;
} cluster;

static void apply_at(cluster *cl, int i, const uint8_t *bytes, size_t len)
{
    int result = 0;
    CHECK_OK(cara_crdt_apply(cl->n[i].crdt, bytes, len, cl->now, &result));
    cara_crdt_record rec;
    CHECK_OK(cara_crdt_record_decode(bytes, len, &rec));
    char key[CARA_CRDT_KEY_BYTES_MAX + 1];
    snprintf(key, sizeof key, "%.*s", (int)rec.key_bytes, (const char *)rec.key);
    if (result == CARA_CRDT_APPLIED)
        cara_core_record_changed(cl->n[i].core, rec.kind, key);
}

/* An operator's or node's record, reaching every node. */
static void everywhere(cluster *cl, cara_buf *rec)
{
    for (int i = 0; i < CN; i++)
        apply_at(cl, i, rec->data, rec->len);
    cara_buf_free(rec);
}

static run_state *run_of(cnode *n, const char *project)
{
    for (size_t i = 0; i < n->runs_count; i++)
        if (strcmp(n->runs[i].project, project) == 0)
            return &n->runs[i];
    CHECK(n->runs_count < 64);
    run_state *r = &n->runs[n->runs_count++];
    snprintf(r->project, sizeof r->project, "%s", project);
    return r;
}

static void report(cluster *cl, int i, const char *project, cara_phase phase)
{
    cara_project_status st = {.phase = phase, .node_ref = cl->n[i].name};
    cara_core_runtime_status(cl->n[i].core, project, &st, cl->now);
}

/* Node i's record as its driver would say it. */
static void publish_node(cluster *cl, int i)
{
    cara_node node = {.name = cl->n[i].name,
                      .capacity = {.cpu_millis = 2000, .memory_bytes = 1ULL << 30}};
    cara_buf v;
    cara_buf_init(&v, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&node, &v));
    CHECK_OK(cara_core_publish_node(cl->n[i].core, v.data, v.len, cl->now));
    cara_buf_free(&v);
}

/* Steps every node and carries every action out until nothing moves:
 * records reach every node (the writer's own store included), the runtime
 * runs and removes at once and reports. */
static void settle(cluster *cl)
{
    for (int round = 0; round < 64; round++) {
        bool moved = false;
        for (int i = 0; i < CN; i++) {
            cnode *n = &cl->n[i];
            if (cara_core_busy(n->core) || cara_core_next_deadline_wall_ms(n->core) <= cl->now) {
                cara_core_step(n->core, (uint64_t)cl->now, cl->now);
                moved = true;
            }
            cara_core_action act;
            while (cara_core_poll_action(n->core, &act) == 0) {
                moved = true;
                if (act.kind == CARA_CORE_ACT_RECORD) {
                    for (int j = 0; j < CN; j++)
                        if (j != i)
                            apply_at(cl, j, act.record, act.record_len);
                    cara_crdt_record rec;
                    CHECK_OK(cara_crdt_record_decode(act.record, act.record_len, &rec));
                    char key[CARA_CRDT_KEY_BYTES_MAX + 1];
                    snprintf(key, sizeof key, "%.*s", (int)rec.key_bytes, (const char *)rec.key);
                    cara_core_record_changed(n->core, rec.kind, key); /* stored here too */
                } else if (act.kind == CARA_CORE_ACT_RUN) {
                    CHECK(act.spec != NULL);
                    n->run_actions++;
                    run_state *r = run_of(n, act.project);
                    r->generation = act.generation;
                    r->running = true;
                    report(cl, i, act.project, CARA_PHASE_RUNNING);
                } else if (act.kind == CARA_CORE_ACT_DELETE) {
                    n->delete_actions++;
                    run_of(n, act.project)->running = false;
                    report(cl, i, act.project, CARA_PHASE_TERMINATED);
                } else if (act.kind == CARA_CORE_ACT_INCARNATION) {
                    n->incarnations_asked++;
                    CHECK(act.generation > cara_core_incarnation(n->core));
                    cara_core_set_incarnation(n->core, act.generation);
                    publish_node(cl, i);
                } else if (act.kind == CARA_CORE_ACT_PUBLISH_NODE) {
                    n->publishes_asked++;
                    publish_node(cl, i);
                }
                cara_core_action_free(n->core, &act);
            }
        }
        if (!moved)
            return;
    }
    CHECK(!"the cluster did not settle in 64 rounds");
}

static void cluster_open(cluster *cl)
{
    memset(cl, 0, sizeof *cl);
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey_make(&cl->op, &rng);
    cl->now = 1790000000000LL;
    for (int i = 0; i < CN; i++) {
        cnode *n = &cl->n[i];
        snprintf(n->name, sizeof n->name, "n%d", i);
        tkey_make(&n->key, &rng);
        cara_crdt_cfg cc = {.operator_pks = (const uint8_t(*)[CARA_CRDT_PK_BYTES])cl->op.pk,
                            .operator_pks_count = 1, .validate_value = cara_core_validate_value,
                            .validate_ctx = cara_test_env()};
        CHECK_OK(cara_crdt_new(&n->crdt, &cc, cara_test_env()));
        cara_core_cfg cfg = {.name = n->name, .node_pk = n->key.pk, .node_sk = n->key.sk,
                             .crdt = n->crdt};
        CHECK_OK(cara_core_new(&n->core, &cfg, cara_test_env()));
    }
    /* Each node publishes its record once admitted (the object asks). */
    for (int i = 0; i < CN; i++) {
        cara_core_set_incarnation(cl->n[i].core, 1);
        cara_buf rec;
        tadmission(&rec, cl->n[i].name, 1, (uint64_t)cl->now << 16, &cl->op, &cl->n[i].key, true);
        everywhere(cl, &rec);
    }
    settle(cl);
    for (int i = 0; i < CN; i++) {
        CHECK_INT(cl->n[i].publishes_asked, ==, 1);
        CHECK_INT(cl->n[i].incarnations_asked, ==, 0);
        CHECK(cara_core_nodes_get(cl->n[i].core)->count == CN);
    }
}

static void cluster_close(cluster *cl)
{
    for (int i = 0; i < CN; i++) {
        cara_core_free(cl->n[i].core);
        cara_crdt_free(cl->n[i].crdt);
    }
}

/* The operator applies a one-service project (generation gen), its
 * service asking for `cpu` (NULL: nothing). */
static void apply_sized(cluster *cl, const char *name, uint64_t gen, const char *selector,
                        int64_t expire_at, const char *cpu)
{
    char text[512];
    char res[64] = "";
    if (cpu != NULL)
        snprintf(res, sizeof res, ", resources: {cpu: %s}", cpu);
    snprintf(text, sizeof text,
             "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: %s}\n"
             "spec:\n  services: [{name: web, image: busybox%s}]\n%s",
             name, res, selector ? selector : "");
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(text, &d, &p));
    cara_diags_free(&d);
    if (expire_at != 0) {
        p->has_expire_at = true;
        p->expire_at_wall_ms = expire_at;
    }
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_SPEC_BYTES_MAX);
    CHECK_OK(cara_project_encode(p, &v));
    cara_project_free(cara_test_env(), p);
    trec(&rec, CARA_CRDT_PROJECT, name, gen, ((uint64_t)cl->now << 16) + gen, &cl->op, v.data,
         v.len);
    cara_buf_free(&v);
    everywhere(cl, &rec);
}

static void apply_project(cluster *cl, const char *name, uint64_t gen, const char *selector,
                          int64_t expire_at)
{
    apply_sized(cl, name, gen, selector, expire_at, NULL);
}

static void delete_project(cluster *cl, const char *name, uint64_t gen)
{
    cara_buf rec;
    trec(&rec, CARA_CRDT_TOMBSTONE, name, gen, ((uint64_t)cl->now << 16) + gen, &cl->op, NULL, 0);
    everywhere(cl, &rec);
}

/* The node running `project`, -1 if none; fails if more than one does. */
static int runner(cluster *cl, const char *project)
{
    int who = -1;
    for (int i = 0; i < CN; i++)
        for (size_t k = 0; k < cl->n[i].runs_count; k++)
            if (strcmp(cl->n[i].runs[k].project, project) == 0 && cl->n[i].runs[k].running) {
                CHECK(who == -1); /* never two copies */
                who = i;
            }
    return who;
}

/* Every node shows `project` in `phase`, on node `owner` (-1: none). */
static void check_shown(cluster *cl, const char *project, uint64_t gen, cara_phase phase, int owner)
{
    for (int i = 0; i < CN; i++) {
        cara_project_status *st = NULL;
        CHECK_OK(cara_core_project_status(cl->n[i].core, project, gen, &st, NULL));
        CHECK_STR(cara_phase_name(st->phase), cara_phase_name(phase));
        if (owner >= 0)
            CHECK_STR(st->node_ref, cl->n[owner].name);
        else
            CHECK(st->node_ref == NULL);
        cara_project_status_free(cara_test_env(), st);
    }
}

static size_t total(cluster *cl, bool runs)
{
    size_t n = 0;
    for (int i = 0; i < CN; i++)
        n += runs ? cl->n[i].run_actions : cl->n[i].delete_actions;
    return n;
}

TEST(core_one_scheduler_places_and_only_the_owner_runs)
{
    cluster cl;
    cluster_open(&cl);
    const char *names[] = {"shop", "blog", "wiki", "mail", "chat", "docs"};
    for (size_t k = 0; k < 6; k++)
        apply_project(&cl, names[k], 1, NULL, 0);
    settle(&cl);
    CHECK_INT(total(&cl, true), ==, 6); /* one RUN per project, cluster-wide */
    const cara_core_nodes *ns = cara_core_nodes_get(cl.n[0].core);
    CHECK(ns != NULL && ns->count == CN);
    for (size_t k = 0; k < 6; k++) {
        int owner = runner(&cl, names[k]);
        CHECK(owner >= 0);
        check_shown(&cl, names[k], 1, CARA_PHASE_RUNNING, owner);
        /* The placement every node reads was written by the scheduler that
         * rendezvous hashing names, and by no other node. */
        int s = cara_sched_scheduler_of(names[k], ns->items, ns->count);
        CHECK(s >= 0);
        for (int i = 0; i < CN; i++) {
            cara_crdt_record r;
            int rc = cara_crdt_get_by(cl.n[0].crdt, CARA_CRDT_PLACEMENT,
                                      (const uint8_t *)names[k], strlen(names[k]),
                                      cl.n[i].key.pk, &r);
            CHECK_INT(rc == 0, ==, strcmp(cl.n[i].name, ns->items[s].name) == 0);
        }
    }
    /* Nothing left to do: a further step decides nothing new. */
    size_t runs = total(&cl, true);
    for (int i = 0; i < CN; i++)
        cara_core_all_changed(cl.n[i].core);
    settle(&cl);
    CHECK_INT(total(&cl, true), ==, runs);
    cluster_close(&cl);
}

TEST(core_update_and_delete_go_to_the_owner_alone)
{
    cluster cl;
    cluster_open(&cl);
    apply_project(&cl, "shop", 1, NULL, 0);
    settle(&cl);
    int owner = runner(&cl, "shop");
    CHECK(owner >= 0);
    apply_project(&cl, "shop", 2, NULL, 0);
    settle(&cl);
    CHECK_INT(runner(&cl, "shop"), ==, owner); /* an update stays where it runs */
    CHECK_INT(run_of(&cl.n[owner], "shop")->generation, ==, 2);
    CHECK_INT(total(&cl, true), ==, 2);
    check_shown(&cl, "shop", 2, CARA_PHASE_RUNNING, owner);
    delete_project(&cl, "shop", 3);
    settle(&cl);
    CHECK_INT(total(&cl, false), ==, 1);
    CHECK_INT(cl.n[owner].delete_actions, ==, 1);
    CHECK_INT(runner(&cl, "shop"), ==, -1);
    /* Terminated everywhere, and no node keeps local data for it. */
    for (int i = 0; i < CN; i++) {
        cara_core_stats st;
        cara_core_stats_get(cl.n[i].core, &st);
        CHECK_INT(st.projects_known, ==, 0);
    }
    cluster_close(&cl);
}

/* Applies `name` (generation 1, expiring at `expire_at`) and returns the
 * node that runs it once the cluster settled. */
static int place(cluster *cl, const char *name, int64_t expire_at)
{
    apply_project(cl, name, 1, NULL, expire_at);
    settle(cl);
    int owner = runner(cl, name);
    CHECK(owner >= 0);
    return owner;
}

/* How many of node i's events about `project` have `reason`. */
static size_t events_with(cluster *cl, int i, const char *project, const char *reason)
{
    cara_core_event ev[CARA_CORE_EVENTS_PER_PROJECT];
    size_t n = cara_core_events_get(cl->n[i].core, project, ev, CARA_CORE_EVENTS_PER_PROJECT);
    size_t k = 0;
    for (size_t j = 0; j < n; j++)
        k += strcmp(ev[j].reason, reason) == 0;
    return k;
}

TEST(core_expiry_removes_at_its_deadline_and_not_before)
{
    cluster cl;
    cluster_open(&cl);
    int64_t at = cl.now + 60000;
    int owner = place(&cl, "demo", at);
    CHECK_INT(cara_core_next_deadline_wall_ms(cl.n[owner].core), ==, at);
    cl.now = at - 1;
    for (int i = 0; i < CN; i++)
        cara_core_all_changed(cl.n[i].core); /* evaluated a millisecond before: kept */
    settle(&cl);
    CHECK_INT(total(&cl, false), ==, 0);
    cl.now = at;
    settle(&cl);
    CHECK_INT(total(&cl, false), ==, 1);
    CHECK_INT(cl.n[owner].delete_actions, ==, 1);
    CHECK_INT(runner(&cl, "demo"), ==, -1);
    CHECK_INT(events_with(&cl, owner, "demo", "Expired"), ==, 1);
    /* Acted on once: later steps remove nothing more. */
    cl.now = at + 3600000;
    settle(&cl);
    CHECK_INT(total(&cl, false), ==, 1);
    cluster_close(&cl);
}

/* A newer spec with a later expireAt, arriving as the older one's passes,
 * is not expired by the older one's time. */
TEST(core_expiry_takes_the_newest_spec_when_both_arrive_together)
{
    cluster cl;
    cluster_open(&cl);
    int64_t at = cl.now + 60000;
    int owner = place(&cl, "demo", at);
    cl.now = at;
    apply_project(&cl, "demo", 2, NULL, at + 3600000);
    settle(&cl);
    CHECK_INT(total(&cl, false), ==, 0);
    CHECK_INT(runner(&cl, "demo"), ==, owner);
    CHECK_INT(events_with(&cl, owner, "demo", "Expired"), ==, 0);
    cl.now = at + 3600000;
    settle(&cl);
    CHECK_INT(cl.n[owner].delete_actions, ==, 1);
    cluster_close(&cl);
}

TEST(core_project_that_fits_nowhere_waits_then_ends_terminated_when_deleted)
{
    cluster cl;
    cluster_open(&cl);
    apply_project(&cl, "gpu", 1, "  nodeSelector: {accel: gpu}\n", 0);
    settle(&cl);
    CHECK_INT(total(&cl, true), ==, 0);
    check_shown(&cl, "gpu", 1, CARA_PHASE_PENDING, -1);
    delete_project(&cl, "gpu", 2);
    settle(&cl);
    CHECK_INT(total(&cl, false), ==, 0); /* nothing ran: nothing to remove */
    check_shown(&cl, "gpu", 2, CARA_PHASE_TERMINATED, -1);
    cluster_close(&cl);
}

/* A project that waits for room (every node's CPU is taken) is placed as
 * soon as a delete frees some, with nothing else changing. */
TEST(core_a_project_waiting_for_room_is_placed_when_a_delete_frees_it)
{
    cluster cl;
    cluster_open(&cl);
    char name[16];
    for (int k = 0; k < CN; k++) {
        snprintf(name, sizeof name, "big%d", k);
        apply_sized(&cl, name, 1, NULL, 0, "1500m"); /* of 2000m per node */
    }
    settle(&cl);
    CHECK_INT(total(&cl, true), ==, CN); /* one per node */
    apply_sized(&cl, "late", 1, NULL, 0, "1500m");
    settle(&cl);
    CHECK_INT(runner(&cl, "late"), ==, -1);
    check_shown(&cl, "late", 1, CARA_PHASE_PENDING, -1);
    int freed = runner(&cl, "big2");
    CHECK(freed >= 0);
    delete_project(&cl, "big2", 2);
    settle(&cl);
    CHECK_INT(runner(&cl, "big2"), ==, -1);
    CHECK_INT(runner(&cl, "late"), ==, freed);
    check_shown(&cl, "late", 1, CARA_PHASE_RUNNING, freed);
    cluster_close(&cl);
}

TEST(core_refuses_a_config_it_cannot_hold)
{
    cara_core *c = NULL;
    uint8_t k[CARA_CRDT_SK_BYTES] = {0};
    cara_core_cfg cfg = {.name = "n0", .node_pk = k, .node_sk = k, .crdt = NULL};
    CHECK_RC(cara_core_new(&c, &cfg, cara_test_env()), CARA_EINVAL);
    CHECK(c == NULL);
    cara_core_free(NULL);
}

/* Starts node i's gossip, with the members its stored records name. */
static void gossip_on(cluster *cl, int i)
{
    cnode *n = &cl->n[i];
    cara_gossip_cfg gc = {.name = n->name, .epoch = 1};
    memcpy(gc.pk, n->key.pk, CARA_CRDT_PK_BYTES);
    memcpy(gc.sk, n->key.sk, CARA_CRDT_SK_BYTES);
    char addr[32];
    snprintf(addr, sizeof addr, "100.64.0.%d:7950", i + 1);
    CHECK_OK(cara_gossip_addr_parse(addr, &gc.addr));
    CHECK_OK(cara_core_gossip_start(n->core, &gc, 1000));
}

static const cara_sched_node *cached(cluster *cl, int at, const char *name)
{
    const cara_core_nodes *ns = cara_core_nodes_get(cl->n[at].core);
    CHECK(ns != NULL);
    for (size_t i = 0; i < ns->count; i++)
        if (strcmp(ns->items[i].name, name) == 0)
            return &ns->items[i];
    return NULL;
}

TEST(core_forced_delete_ends_a_project_whose_node_is_not_ready_and_a_plain_one_waits)
{
    cluster cl;
    cluster_open(&cl);
    const char *name = "shop";
    int o = place(&cl, name, 0);
    /* Another node whose membership knows nobody: to it the owner is
     * admitted (its placement stays) but not Ready, and it is the only
     * Ready node, so the project's scheduler. */
    int s = (o + 1) % CN;
    /* The rule under test is the delete's, not the fence's: s decides as
     * if it saw a majority (which takes a network of gossip objects; the
     * simulator's scenarios cover the fence). */
    cnode *sn = &cl.n[s];
    cara_core_free(sn->core);
    cara_core_cfg cfg = {.name = sn->name, .node_pk = sn->key.pk, .node_sk = sn->key.sk,
                         .crdt = sn->crdt, .fencing_disabled = true};
    CHECK_OK(cara_core_new(&sn->core, &cfg, cara_test_env()));
    cara_core_set_incarnation(sn->core, 2);
    cara_core_all_changed(sn->core);
    gossip_on(&cl, s);
    CHECK(!cara_core_node_ready(cl.n[s].core, cl.n[o].name));
    /* The owner is cut off: the tombstone reaches every node but it. */
    cara_buf rec;
    trec(&rec, CARA_CRDT_TOMBSTONE, name, 2, ((uint64_t)cl.now << 16) + 2, &cl.op, NULL, 0);
    for (int i = 0; i < CN; i++)
        if (i != o)
            apply_at(&cl, i, rec.data, rec.len);
    cara_buf_free(&rec);
    /* Settle without the owner: its records go nowhere, it steps nothing. */
    for (int round = 0; round < 8; round++)
        for (int i = 0; i < CN; i++) {
            if (i == o)
                continue;
            cara_core_step(cl.n[i].core, (uint64_t)cl.now, cl.now);
            cara_core_action act;
            while (cara_core_poll_action(cl.n[i].core, &act) == 0) {
                if (act.kind == CARA_CORE_ACT_RECORD)
                    for (int j = 0; j < CN; j++)
                        if (j != o)
                            apply_at(&cl, j, act.record, act.record_len);
                cara_core_action_free(cl.n[i].core, &act);
            }
        }
    cara_project_status *st = NULL;
    CHECK_OK(cara_core_project_status(cl.n[s].core, name, 2, &st, NULL));
    CHECK(st->phase != CARA_PHASE_TERMINATED); /* a plain delete waits for the node */
    cara_project_status_free(cara_test_env(), st);
    cara_core_force_delete(cl.n[s].core, name, cl.now);
    cara_core_action act;
    bool terminated = false;
    while (cara_core_poll_action(cl.n[s].core, &act) == 0) {
        CHECK_INT(act.kind, ==, CARA_CORE_ACT_RECORD); /* nothing to run or remove here */
        apply_at(&cl, s, act.record, act.record_len);
        cara_core_action_free(cl.n[s].core, &act);
        terminated = true;
    }
    CHECK(terminated);
    CHECK_OK(cara_core_project_status(cl.n[s].core, name, 2, &st, NULL));
    CHECK_STR(cara_phase_name(st->phase), "Terminated");
    CHECK(st->conditions_count == 1);
    CHECK_STR(st->conditions[0].reason, "ForcedWhileNodeNotReady");
    cara_project_status_free(cara_test_env(), st);
    cluster_close(&cl);
}

/* A membership event reaches the scheduler's view of the nodes: a member
 * gossip learns of turns Ready there, and counts for acknowledgements. */
TEST(core_membership_events_move_readiness_in_the_scheduler_view)
{
    cluster cl;
    cluster_open(&cl);
    CHECK(cached(&cl, 0, "n2")->ready); /* no gossip: admitted with a record */
    CHECK_INT(cara_core_acks_wanted(cl.n[0].core), ==, 1); /* a node on its own */
    gossip_on(&cl, 0);
    CHECK_INT(cara_core_durable_members(cl.n[0].core), ==, 1); /* itself */
    CHECK_INT(cara_core_acks_wanted(cl.n[0].core), ==, 1);
    cara_core_step(cl.n[0].core, (uint64_t)cl.now, cl.now);
    CHECK(!cached(&cl, 0, "n2")->ready); /* membership does not know n2 */
    cara_gossip *g = cara_core_gossip(cl.n[0].core);
    cara_gossip_addr a;
    CHECK_OK(cara_gossip_addr_parse("100.64.0.3:7950", &a));
    CHECK_OK(cara_gossip_add_member(g, "n2", cl.n[2].key.pk, &a, 1000));
    CHECK(!cached(&cl, 0, "n2")->ready); /* not until the event is taken */
    CHECK_OK(cara_gossip_tick(g, 1001, cl.now));
    uint8_t dg[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
    size_t len;
    cara_gossip_addr to;
    while (cara_gossip_poll_send(g, &to, dg, sizeof dg, &len) == 0) {
    }
    bool member = false;
    cara_gossip_event ev;
    while (cara_core_poll_gossip_event(cl.n[0].core, &ev) == 0)
        member |= ev.kind == CARA_GOSSIP_EV_MEMBER && strcmp(ev.name, "n2") == 0;
    CHECK(member);
    CHECK_INT(cara_core_durable_members(cl.n[0].core), ==, 2);
    CHECK_INT(cara_core_acks_wanted(cl.n[0].core), ==, 2); /* min(2, members) */
    CHECK(cara_core_busy(cl.n[0].core));
    CHECK(cached(&cl, 0, "n2")->ready);
    cluster_close(&cl);
}

/* The runtime's reports become the owner's STATUS record for the
 * generation it was handed, and an event when the phase moves. */
TEST(core_runtime_reports_become_the_owner_status_and_events)
{
    cluster cl;
    cluster_open(&cl);
    apply_project(&cl, "shop", 1, NULL, 0);
    apply_project(&cl, "shop", 2, NULL, 0);
    settle(&cl);
    int o = runner(&cl, "shop");
    CHECK(o >= 0);
    cara_condition c = {.type = "Phase", .status = CARA_COND_TRUE, .reason = "ImagePullBackOff",
                        .message = "Failed: image busybox cannot be pulled",
                        .last_transition_wall_ms = cl.now};
    cara_project_status st = {.phase = CARA_PHASE_FAILED, .node_ref = cl.n[o].name,
                              .conditions = &c, .conditions_count = 1};
    cara_core_runtime_status(cl.n[o].core, "shop", &st, cl.now);
    cara_core_runtime_status(cl.n[o].core, "shop", &st, cl.now); /* same phase: one event */
    settle(&cl);
    cara_crdt_record r;
    CHECK_OK(cara_crdt_get_by(cl.n[1 - (o & 1)].crdt, CARA_CRDT_STATUS, (const uint8_t *)"shop",
                              4, cl.n[o].key.pk, &r));
    CHECK_INT(r.generation, ==, 2);
    cara_core_event ev[CARA_CORE_EVENTS_PER_PROJECT];
    size_t n = cara_core_events_get(cl.n[o].core, "shop", ev, CARA_CORE_EVENTS_PER_PROJECT);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(ev[i].reason, "ImagePullBackOff") == 0) {
            failed++;
            CHECK_STR(ev[i].type, "Warning");
            CHECK_STR(ev[i].message, "image busybox cannot be pulled");
        }
    CHECK_INT(failed, ==, 1);
    /* A report on a project the state does not hold is ignored. */
    cara_core_runtime_status(cl.n[o].core, "orphan", &st, cl.now);
    cara_core_action act;
    CHECK_RC(cara_core_poll_action(cl.n[o].core, &act), CARA_EAGAIN);
    cluster_close(&cl);
}

/* The action queue keeps its order when it grows with its head moved. */
TEST(core_actions_keep_their_order_across_growth_of_the_queue)
{
    cluster cl;
    cluster_open(&cl);
    cara_core *c = cl.n[0].core;
    uint64_t hlc[64];
    size_t written = 0, read = 0;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 12 + 9 * round; k++) {
            char key[16];
            snprintf(key, sizeof key, "q%zu", written);
            cara_project_status st = {.phase = CARA_PHASE_PENDING};
            cara_buf v;
            cara_buf_init(&v, cara_test_env(), CARA_STATUS_BYTES_MAX);
            CHECK_OK(cara_project_status_encode(&st, &v));
            CHECK(written < 64);
            CHECK_OK(cara_core_write_own(c, CARA_CRDT_STATUS, key, 1, v.data, v.len, cl.now,
                                         &hlc[written]));
            written++;
            cara_buf_free(&v);
        }
        for (int k = 0; k < 7; k++) { /* take a few: the head moves */
            cara_core_action act;
            CHECK_OK(cara_core_poll_action(c, &act));
            cara_crdt_record r;
            CHECK_OK(cara_crdt_record_decode(act.record, act.record_len, &r));
            CHECK_INT(r.hlc, ==, hlc[read]);
            read++;
            cara_core_action_free(c, &act);
        }
    }
    cara_core_action act;
    while (cara_core_poll_action(c, &act) == 0) {
        cara_crdt_record r;
        CHECK_OK(cara_crdt_record_decode(act.record, act.record_len, &r));
        CHECK_INT(r.hlc, ==, hlc[read]);
        read++;
        cara_core_action_free(c, &act);
    }
    CHECK_INT(read, ==, written);
    cluster_close(&cl);
}

/* An older life's record of a node, at or above its incarnation, is
 * refuted: the node takes a higher incarnation and its new record wins
 * everywhere; its own records never set this off. */
TEST(core_node_refutes_an_older_lifes_record_of_itself)
{
    cluster cl;
    cluster_open(&cl);
    cnode *n = &cl.n[2];
    /* n2's own republish: nothing to refute. */
    publish_node(&cl, 2);
    settle(&cl);
    CHECK_INT(n->incarnations_asked, ==, 0);
    /* A record n2 signed in an earlier life, generation 5, held by n0. */
    cara_node old = {.name = n->name, .state = CARA_NODE_DRAINING};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&old, &v));
    trec(&rec, CARA_CRDT_NODE, n->name, 5, (uint64_t)(cl.now - 1000) << 16, &n->key, v.data,
         v.len);
    cara_buf_free(&v);
    everywhere(&cl, &rec);
    settle(&cl);
    CHECK_INT(n->incarnations_asked, ==, 1);
    CHECK_INT(cara_core_incarnation(n->core), ==, 6);
    for (int i = 0; i < CN; i++) {
        cara_crdt_record r;
        CHECK_OK(cara_crdt_get(cl.n[i].crdt, CARA_CRDT_NODE, (const uint8_t *)n->name,
                               strlen(n->name), &r));
        CHECK_INT(r.generation, ==, 6);
    }
    /* An older record below the incarnation changes nothing. */
    cara_crdt_record held;
    CHECK_OK(cara_crdt_get(n->crdt, CARA_CRDT_NODE, (const uint8_t *)n->name, strlen(n->name),
                           &held));
    cara_core_record_changed(n->core, CARA_CRDT_NODE, n->name);
    settle(&cl);
    CHECK_INT(n->incarnations_asked, ==, 1);
    cluster_close(&cl);
}

TEST(core_gossip_addresses_parse_strictly_and_print_back)
{
    cara_gossip_addr a;
    char text[80];
    CHECK_OK(cara_gossip_addr_parse("100.64.0.7:7946", &a));
    CHECK_INT(a.len, ==, 6);
    cara_gossip_addr_text(&a, text, sizeof text);
    CHECK_STR(text, "100.64.0.7:7946");
    CHECK_OK(cara_gossip_addr_parse("10.0.0.1", &a)); /* the default port */
    cara_gossip_addr_text(&a, text, sizeof text);
    CHECK_STR(text, "10.0.0.1:7950");
    CHECK_OK(cara_gossip_addr_parse("[fd7a:115c::3]:9", &a));
    CHECK_INT(a.len, ==, 18);
    cara_gossip_addr_text(&a, text, sizeof text);
    CHECK_STR(text, "[fd7a:115c::3]:9");
    const char *bad[] = {"", ":7950", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536",
                         "10.0.0.1:+80", "10.0.0.1:80x", "::1", "[::1", "[::1]x",
                         "[10.0.0.1]:1", "host.example:7950", "10.0.0.256:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_RC(cara_gossip_addr_parse(bad[i], &a), CARA_EPARSE);
    a.len = 3;
    cara_gossip_addr_text(&a, text, sizeof text);
    CHECK_STR(text, "?");
}

/* A restarted node rejoins from what it stored: its gossip object starts
 * knowing every member whose node record carries a gossip address, and
 * readiness is membership's from then on. */
TEST(core_gossip_start_knows_the_stored_members_and_takes_readiness_from_them)
{
    cluster cl;
    cluster_open(&cl);
    cnode *n = &cl.n[0];
    /* n1's record gains a gossip address; n2 and n3 have none. */
    cara_node node = {.name = cl.n[1].name, .gossip_addr = "100.64.0.2:7950"};
    cara_buf v;
    cara_buf_init(&v, cara_test_env(), CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&node, &v));
    cara_core_set_incarnation(cl.n[1].core, 2);
    CHECK_OK(cara_core_publish_node(cl.n[1].core, v.data, v.len, cl.now));
    cara_buf_free(&v);
    settle(&cl);
    CHECK_INT(cl.n[1].incarnations_asked, ==, 0);
    CHECK(cara_core_node_ready(n->core, "n2")); /* no gossip: every admitted node with a record */
    CHECK(cara_core_gossip(n->core) == NULL);
    cara_gossip_cfg gc = {.name = n->name};
    memcpy(gc.pk, n->key.pk, CARA_CRDT_PK_BYTES);
    memcpy(gc.sk, n->key.sk, CARA_CRDT_SK_BYTES);
    CHECK_OK(cara_gossip_addr_parse("100.64.0.1:7950", &gc.addr));
    gc.epoch = 1;
    CHECK_OK(cara_core_gossip_start(n->core, &gc, 1000));
    CHECK_RC(cara_core_gossip_start(n->core, &gc, 1000), CARA_EEXIST);
    cara_gossip_member m;
    CHECK_OK(cara_gossip_member_get(cara_core_gossip(n->core), "n1", &m));
    CHECK_RC(cara_gossip_member_get(cara_core_gossip(n->core), "n2", &m), CARA_ENOENT);
    CHECK(cara_core_node_ready(n->core, "n0"));  /* itself */
    CHECK(cara_core_node_ready(n->core, "n1"));  /* alive to membership */
    CHECK(!cara_core_node_ready(n->core, "n2")); /* unknown to membership */
    cluster_close(&cl);
}

/* ---- Node controls: cordon and drain (docs/crdt.md, "Node controls") ------------------ */

/* The operator's control of node i, signed at generation gen, everywhere. */
static void control_node(cluster *cl, int i, bool cordoned, bool draining, uint64_t gen)
{
    cara_node_control ctl = {.cordoned = cordoned, .draining = draining};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_NODECTL_BYTES);
    CHECK_OK(cara_node_control_encode(&ctl, &v));
    trec(&rec, CARA_CRDT_NODECTL, cl->n[i].name, gen, ((uint64_t)cl->now << 16) + gen, &cl->op,
         v.data, v.len);
    cara_buf_free(&v);
    everywhere(cl, &rec);
}

/* Every node's view of node i: schedulable, cordoned, draining. */
static void check_view(cluster *cl, int i, bool schedulable, bool cordoned, bool draining)
{
    for (int at = 0; at < CN; at++) {
        const cara_sched_node *n = cached(cl, at, cl->n[i].name);
        CHECK(n != NULL);
        CHECK_INT(n->schedulable, ==, schedulable);
        CHECK_INT(n->cordoned, ==, cordoned);
        CHECK_INT(n->draining, ==, draining);
    }
}

/* How many nodes show `project` with a condition of `reason` whose
 * message holds `message_part`. */
static int shown_with_reason(cluster *cl, const char *project, const char *reason,
                             const char *message_part)
{
    int all = 0;
    for (int at = 0; at < CN; at++) {
        cara_project_status *st = NULL;
        CHECK_OK(cara_core_project_status(cl->n[at].core, project, 1, &st, NULL));
        bool has = false;
        for (size_t k = 0; k < st->conditions_count; k++)
            has = has || (strcmp(st->conditions[k].reason, reason) == 0 &&
                          strstr(st->conditions[k].message, message_part) != NULL);
        all += has;
        cara_project_status_free(cara_test_env(), st);
    }
    return all;
}

TEST(core_cordon_keeps_new_projects_off_the_node_and_uncordon_restores)
{
    cluster cl;
    cluster_open(&cl);
    int owner = place(&cl, "first", 0);
    check_view(&cl, owner, true, false, false);
    control_node(&cl, owner, true, false, 1);
    settle(&cl);
    check_view(&cl, owner, false, true, false);
    /* What runs there stays: a cordon is not a drain. */
    CHECK_INT(runner(&cl, "first"), ==, owner);
    CHECK_INT(total(&cl, false), ==, 0);
    /* Twenty new projects: none lands on the cordoned node. */
    char names[20][16];
    for (int k = 0; k < 20; k++) {
        snprintf(names[k], sizeof names[k], "p%d", k);
        apply_project(&cl, names[k], 1, NULL, 0);
    }
    settle(&cl);
    for (int k = 0; k < 20; k++) {
        int r = runner(&cl, names[k]);
        CHECK(r >= 0);
        CHECK(r != owner);
    }
    /* Uncordoned (a later record): schedulable again, and new projects
     * may land there again (rendezvous weights spread 20 over 4 nodes;
     * the chance that none of 20 picks one given node is (3/4)^20 ≈ 0.3 %,
     * so a fixed set of names is checked, not a random one). */
    control_node(&cl, owner, false, false, 2);
    settle(&cl);
    check_view(&cl, owner, true, false, false);
    size_t there = 0;
    for (int k = 0; k < 20; k++) {
        snprintf(names[k], sizeof names[k], "q%d", k);
        apply_project(&cl, names[k], 1, NULL, 0);
    }
    settle(&cl);
    for (int k = 0; k < 20; k++)
        there += runner(&cl, names[k]) == owner;
    CHECK(there > 0);
    cluster_close(&cl);
}

TEST(core_an_older_control_loses_to_a_newer_one)
{
    cluster cl;
    cluster_open(&cl);
    control_node(&cl, 1, true, true, 5);
    /* A replay of an older uncordon loses everywhere. */
    cara_node_control off = {0};
    cara_buf v, rec;
    cara_buf_init(&v, cara_test_env(), CARA_NODECTL_BYTES);
    CHECK_OK(cara_node_control_encode(&off, &v));
    trec(&rec, CARA_CRDT_NODECTL, cl.n[1].name, 4, ((uint64_t)cl.now << 16) + 9, &cl.op, v.data,
         v.len);
    for (int i = 0; i < CN; i++)
        CHECK_RC(cara_crdt_apply(cl.n[i].crdt, rec.data, rec.len, cl.now, NULL), CARA_ESTALE);
    cara_buf_free(&rec);
    cara_buf_free(&v);
    settle(&cl);
    check_view(&cl, 1, false, true, true);
    cluster_close(&cl);
}

TEST(core_drain_moves_projects_off_the_node_and_the_old_owner_removes_them)
{
    cluster cl;
    cluster_open(&cl);
    const char *names[] = {"shop", "blog", "wiki", "mail", "chat", "docs", "news", "maps"};
    for (size_t k = 0; k < 8; k++)
        apply_project(&cl, names[k], 1, NULL, 0);
    settle(&cl);
    /* Drain the node that runs "shop" (and whatever else landed there). */
    int drained = runner(&cl, "shop");
    CHECK(drained >= 0);
    size_t were_there = 0;
    for (size_t k = 0; k < 8; k++)
        were_there += runner(&cl, names[k]) == drained;
    size_t runs_before = total(&cl, true);
    control_node(&cl, drained, true, true, 1);
    settle(&cl);
    check_view(&cl, drained, false, true, true);
    for (size_t k = 0; k < 8; k++) {
        int r = runner(&cl, names[k]); /* fails on two copies */
        CHECK(r >= 0);
        CHECK(r != drained);
        check_shown(&cl, names[k], 1, CARA_PHASE_RUNNING, r);
    }
    /* Each moved project: one DELETE at the old owner, one RUN elsewhere,
     * and the scheduler's event names the node it left. */
    CHECK_INT(cl.n[drained].delete_actions, ==, were_there);
    CHECK_INT(total(&cl, true), ==, runs_before + were_there);
    size_t drained_events = 0;
    for (int i = 0; i < CN; i++)
        drained_events += events_with(&cl, i, "shop", "Drained");
    CHECK_INT(drained_events, ==, 1);
    /* Settled means settled: another look moves nothing. */
    for (int i = 0; i < CN; i++)
        cara_core_all_changed(cl.n[i].core);
    settle(&cl);
    CHECK_INT(total(&cl, true), ==, runs_before + were_there);
    /* Uncordoned, the node takes new work but nothing moves back. */
    control_node(&cl, drained, false, false, 2);
    settle(&cl);
    for (size_t k = 0; k < 8; k++)
        CHECK(runner(&cl, names[k]) != drained);
    CHECK_INT(total(&cl, true), ==, runs_before + were_there);
    cluster_close(&cl);
}

TEST(core_drain_with_nowhere_to_go_keeps_the_project_and_says_why_once)
{
    cluster cl;
    cluster_open(&cl);
    int owner = place(&cl, "shop", 0);
    uint64_t gen = 1;
    for (int i = 0; i < CN; i++)
        if (i != owner)
            control_node(&cl, i, true, false, gen++);
    control_node(&cl, owner, true, true, gen++);
    settle(&cl);
    /* Still running where it was: a drain never leaves a project Pending. */
    CHECK_INT(runner(&cl, "shop"), ==, owner);
    check_shown(&cl, "shop", 1, CARA_PHASE_RUNNING, owner);
    char part[64];
    snprintf(part, sizeof part, "node %s is draining, but no other node fits", cl.n[owner].name);
    CHECK_INT(shown_with_reason(&cl, "shop", "DrainBlocked", part), ==, CN);
    CHECK_INT(shown_with_reason(&cl, "shop", "DrainBlocked", "unschedulable"), ==, CN);
    /* Said once: looking again writes nothing more. */
    uint64_t writes = 0, again = 0;
    for (int i = 0; i < CN; i++) {
        cara_core_stats st;
        cara_core_stats_get(cl.n[i].core, &st);
        writes += st.status_writes;
        cara_core_all_changed(cl.n[i].core);
    }
    settle(&cl);
    for (int i = 0; i < CN; i++) {
        cara_core_stats st;
        cara_core_stats_get(cl.n[i].core, &st);
        again += st.status_writes;
    }
    CHECK_INT(again, ==, writes);
    /* Uncordoned while blocked: the reason goes, the project stays. */
    control_node(&cl, owner, false, false, gen++);
    settle(&cl);
    CHECK_INT(runner(&cl, "shop"), ==, owner);
    CHECK_INT(shown_with_reason(&cl, "shop", "DrainBlocked", ""), ==, 0);
    check_shown(&cl, "shop", 1, CARA_PHASE_RUNNING, owner);
    control_node(&cl, owner, true, true, gen++);
    settle(&cl);
    CHECK_INT(shown_with_reason(&cl, "shop", "DrainBlocked", part), ==, CN);
    /* A node opens up: the drain goes on at once. */
    int other = (owner + 1) % CN;
    control_node(&cl, other, false, false, gen++);
    settle(&cl);
    CHECK_INT(runner(&cl, "shop"), ==, other);
    check_shown(&cl, "shop", 1, CARA_PHASE_RUNNING, other);
    CHECK_INT(cl.n[owner].delete_actions, ==, 1);
    size_t drained_events = 0;
    for (int i = 0; i < CN; i++)
        drained_events += events_with(&cl, i, "shop", "Drained");
    CHECK_INT(drained_events, ==, 1);
    cluster_close(&cl);
}

/* Takes node i's actions out; returns how many DELETEs named `project`
 * (and whether they were forced), carrying RECORDs to every node. */
static size_t drain_deletes(cluster *cl, int i, const char *project, bool *forced)
{
    size_t n = 0;
    cara_core_action act;
    while (cara_core_poll_action(cl->n[i].core, &act) == 0) {
        if (act.kind == CARA_CORE_ACT_RECORD)
            for (int j = 0; j < CN; j++)
                apply_at(cl, j, act.record, act.record_len);
        if (act.kind == CARA_CORE_ACT_DELETE && strcmp(act.project, project) == 0) {
            n++;
            *forced = act.force;
        }
        CHECK(act.kind != CARA_CORE_ACT_RUN);
        cara_core_action_free(cl->n[i].core, &act);
    }
    return n;
}

/* A node that runs a project and hears from no member for the fence
 * timeout (its link is cut) stops it, not a millisecond before, says so
 * in its status, and counts as having settled what it runs. */
TEST(core_a_cut_off_node_fences_at_the_timeout_and_not_before)
{
    cluster cl;
    cluster_open(&cl);
    const char *name = "shop";
    int o = place(&cl, name, 0);
    cnode *n = &cl.n[o];
    gossip_on(&cl, o);
    cara_gossip *g = cara_core_gossip(n->core);
    for (int j = 0; j < CN; j++) {
        if (j == o)
            continue;
        char addr[32];
        snprintf(addr, sizeof addr, "100.64.0.%d:7950", j + 1);
        cara_gossip_addr a;
        CHECK_OK(cara_gossip_addr_parse(addr, &a));
        CHECK_OK(cara_gossip_add_member(g, cl.n[j].name, cl.n[j].key.pk, &a, 1000));
    }
    uint64_t t0 = (uint64_t)cl.now;
    cara_core_step(n->core, t0, cl.now);
    cara_core_fence_state f;
    cara_core_fence_get(n->core, &f);
    CHECK(!f.majority && !f.fenced);
    CHECK_INT(f.known, ==, CN);
    CHECK_INT(f.seen, ==, 1);
    CHECK(!cara_core_settled(n->core)); /* no exchange yet, not fenced yet */
    bool forced = false;
    CHECK_INT(drain_deletes(&cl, o, name, &forced), ==, 0);
    uint32_t fence_ms = CARA_SETTINGS_FENCE_SECONDS_DEFAULT * 1000;
    cl.now += fence_ms - 1;
    cara_core_step(n->core, t0 + fence_ms - 1, cl.now);
    CHECK_INT(drain_deletes(&cl, o, name, &forced), ==, 0);
    cl.now += 1;
    cara_core_step(n->core, t0 + fence_ms, cl.now);
    cara_core_step(n->core, t0 + fence_ms, cl.now); /* the fence marks, the next step acts */
    CHECK_INT(drain_deletes(&cl, o, name, &forced), ==, 1);
    CHECK(forced);
    cara_core_fence_get(n->core, &f);
    CHECK(f.fenced);
    CHECK(cara_core_settled(n->core));
    /* The runtime's Terminated is written as the fence's Pending. */
    report(&cl, o, name, CARA_PHASE_TERMINATED);
    cara_core_action act;
    bool wrote = false;
    while (cara_core_poll_action(n->core, &act) == 0) {
        if (act.kind == CARA_CORE_ACT_RECORD) {
            cara_crdt_record rec;
            CHECK_OK(cara_crdt_record_decode(act.record, act.record_len, &rec));
            if (rec.kind == CARA_CRDT_STATUS) {
                cara_project_status *st = NULL;
                CHECK_OK(cara_project_status_decode(cara_test_env(), rec.value, rec.value_bytes,
                                                    NULL, &st));
                CHECK_STR(cara_phase_name(st->phase), "Pending");
                bool fenced = false;
                for (size_t k = 0; k < st->conditions_count; k++)
                    fenced |= strcmp(st->conditions[k].type, "Fenced") == 0;
                CHECK(fenced);
                cara_project_status_free(cara_test_env(), st);
                wrote = true;
            }
        }
        cara_core_action_free(n->core, &act);
    }
    CHECK(wrote);
    cluster_close(&cl);
}

/* A node back after more than the fence timeout away stops what it ran
 * before anything else; one back after less does not. */
TEST(core_a_node_back_from_a_long_absence_is_fenced_at_its_first_step)
{
    for (int longer = 0; longer < 2; longer++) {
        cluster cl;
        cluster_open(&cl);
        cnode *n = &cl.n[0];
        cara_core_free(n->core);
        int64_t away = longer ? CARA_SETTINGS_FENCE_SECONDS_DEFAULT * 1000 + 1 : 2000;
        cara_core_cfg cfg = {.name = n->name, .node_pk = n->key.pk, .node_sk = n->key.sk,
                             .crdt = n->crdt, .last_majority_wall_ms = cl.now - away};
        CHECK_OK(cara_core_new(&n->core, &cfg, cara_test_env()));
        cara_core_set_incarnation(n->core, 2);
        gossip_on(&cl, 0);
        cara_core_step(n->core, (uint64_t)cl.now, cl.now);
        cara_core_fence_state f;
        cara_core_fence_get(n->core, &f);
        CHECK(f.fenced == (longer != 0));
        CHECK(cara_core_settled(n->core) == (longer != 0));
        cluster_close(&cl);
    }
}

/* The scheduler moves a project off a node that stays NotReady for the
 * grace, not before; the move names where it came from; the node the
 * project moved to runs it; the old node, on seeing the move, removes its
 * copy. */
TEST(core_a_project_moves_off_a_not_ready_node_after_the_grace)
{
    cluster cl;
    cluster_open(&cl);
    const char *name = "shop";
    int o = place(&cl, name, 0);
    /* s: a node whose membership knows nobody, so every other node is
     * NotReady to it and it is the only Ready one, deciding as if it saw a
     * majority (the simulator covers majorities over a network). */
    int s = (o + 1) % CN;
    cnode *sn = &cl.n[s];
    cara_core_free(sn->core);
    cara_core_cfg cfg = {.name = sn->name, .node_pk = sn->key.pk, .node_sk = sn->key.sk,
                         .crdt = sn->crdt, .fencing_disabled = true};
    CHECK_OK(cara_core_new(&sn->core, &cfg, cara_test_env()));
    cara_core_set_incarnation(sn->core, 2);
    cara_core_all_changed(sn->core);
    gossip_on(&cl, s);
    int64_t t0 = cl.now;
    settle(&cl);
    cara_crdt_record rec;
    cara_project_status *st = NULL;
    CHECK_OK(cara_crdt_get_by(sn->crdt, CARA_CRDT_PLACEMENT, (const uint8_t *)name,
                              strlen(name), sn->key.pk, &rec));
    CHECK_OK(cara_project_status_decode(cara_test_env(), rec.value, rec.value_bytes, NULL, &st));
    CHECK_STR(st->node_ref, cl.n[o].name); /* still there, with NotReadyAt */
    CHECK_STR(st->conditions[1].type, "NotReadyAt");
    CHECK_INT(st->conditions[1].last_transition_wall_ms, ==, t0);
    cara_project_status_free(cara_test_env(), st);
    int64_t due = cara_core_next_deadline_wall_ms(sn->core);
    CHECK(due > t0);
    cl.now = due - 1;
    settle(&cl);
    CHECK_INT(runner(&cl, name), ==, o);
    cl.now = due;
    settle(&cl);
    /* Moved to s (the only Ready node to s); o saw the move and removed
     * its copy; one copy runs. */
    /* The other nodes know no membership and take every node as Ready:
     * they read the placement of the scheduler over all four, which for
     * "shop" is s itself (n3, o is n2), so they read the move too. */
    {
        const cara_core_nodes *ns = cara_core_nodes_get(cl.n[o].core);
        int sc = cara_sched_scheduler_of(name, ns->items, ns->count);
        CHECK_STR(ns->items[sc].name, sn->name);
    }
    CHECK_INT(runner(&cl, name), ==, s);
    CHECK_OK(cara_core_project_status(cl.n[o].core, name, 1, &st, NULL));
    CHECK_STR(st->node_ref, sn->name);
    cara_project_status_free(cara_test_env(), st);
    CHECK(events_with(&cl, o, name, "Moved") == 1);
    cluster_close(&cl);
}

static void revoked_owner_waits_the_grace(bool stale_hint);

TEST(core_a_revoked_schedulers_project_waits_the_grace_before_it_moves)
{
    revoked_owner_waits_the_grace(false);
}

/* The same, when the node that becomes the scheduler holds a placement of
 * its own from before, older, naming another node: read once the revoked
 * node's placement is gone, it must not start the project there at once. */
TEST(core_a_revoked_owners_project_does_not_follow_an_older_placement)
{
    revoked_owner_waits_the_grace(true);
}

static void revoked_owner_waits_the_grace(bool stale_hint)
{
    cluster cl;
    cluster_open(&cl);
    /* A project whose scheduler is also its owner: revoking that node
     * drops every record it signed, the placement and the STATUS both, so
     * the others hold nothing that says the project runs there. */
    char name[16] = "";
    int o = -1;
    for (int k = 0; k < 64 && o < 0; k++) {
        snprintf(name, sizeof name, "shop%d", k);
        int r = place(&cl, name, 0);
        const cara_core_nodes *ns = cara_core_nodes_get(cl.n[r].core);
        int sc = cara_sched_scheduler_of(name, ns->items, ns->count);
        if (strcmp(ns->items[sc].name, cl.n[r].name) == 0)
            o = r;
    }
    CHECK(o >= 0);
    if (stale_hint) {
        /* The scheduler once o is gone, and a placement by it from before
         * (older than o's), naming another node y. */
        int s2 = -1, y = -1;
        cara_sched_node rest[CN];
        size_t rn = 0;
        const cara_core_nodes *ns = cara_core_nodes_get(cl.n[(o + 1) % CN].core);
        for (size_t i = 0; i < ns->count; i++)
            if (strcmp(ns->items[i].name, cl.n[o].name) != 0)
                rest[rn++] = ns->items[i];
        int sc = cara_sched_scheduler_of(name, rest, rn);
        for (int j = 0; j < CN; j++)
            if (strcmp(rest[sc].name, cl.n[j].name) == 0)
                s2 = j;
        for (int j = 0; j < CN && y < 0; j++)
            if (j != o && j != s2)
                y = j;
        CHECK(s2 >= 0 && y >= 0);
        cara_project_status hint = {.phase = CARA_PHASE_SCHEDULED, .node_ref = cl.n[y].name};
        cara_buf v, hrec;
        cara_buf_init(&v, cara_test_env(), CARA_STATUS_BYTES_MAX);
        CHECK_OK(cara_project_status_encode(&hint, &v));
        trec(&hrec, CARA_CRDT_PLACEMENT, name, 1, (uint64_t)(cl.now - 60000) << 16, &cl.n[s2].key,
             v.data, v.len);
        cara_buf_free(&v);
        everywhere(&cl, &hrec);
        settle(&cl);
        CHECK_INT(runner(&cl, name), ==, o); /* o's newer placement is what is read */
    }
    /* The revocation reaches the other three; the revoked node's traffic
     * is dropped, so it does not hear of it and keeps its copy until its
     * fence (not modelled here: no membership). */
    cara_buf rec;
    tadmission(&rec, cl.n[o].name, 2, ((uint64_t)cl.now << 16) + 7, &cl.op, &cl.n[o].key, false);
    for (int i = 0; i < CN; i++)
        if (i != o)
            apply_at(&cl, i, rec.data, rec.len);
    cara_buf_free(&rec);
    int64_t t0 = cl.now;
    int s = -1;
    settle(&cl);
    for (int i = 0; i < CN; i++)
        if (i != o) {
            const cara_core_nodes *ns = cara_core_nodes_get(cl.n[i].core);
            CHECK_INT(ns->count, ==, CN - 1);
            int sc = cara_sched_scheduler_of(name, ns->items, ns->count);
            for (int j = 0; j < CN; j++)
                if (strcmp(ns->items[sc].name, cl.n[j].name) == 0)
                    s = j;
        }
    CHECK(s >= 0 && s != o);
    CHECK_INT(runner(&cl, name), ==, o); /* nobody else started it */
    cara_project_status *st = NULL;
    CHECK_OK(cara_core_project_status(cl.n[s].core, name, 1, &st, NULL));
    CHECK_STR(st->node_ref, cl.n[o].name); /* the revoked owner, with NotReadyAt */
    cara_project_status_free(cara_test_env(), st);
    int64_t due = cara_core_next_deadline_wall_ms(cl.n[s].core);
    CHECK(due > t0);
    cl.now = due - 1;
    settle(&cl);
    CHECK_INT(runner(&cl, name), ==, o);
    /* The revoked node's fence stopped its copy by then. */
    run_of(&cl.n[o], name)->running = false;
    cl.now = due;
    settle(&cl);
    int r = runner(&cl, name);
    CHECK(r >= 0 && r != o);
    cluster_close(&cl);
}
