/* The HTTP API's routes (docs/api.md). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent/api_body.h"

#define API_PREFIX "/v1/"

/* ---- JSON views -------------------------------------------------------------------- */

static json_t *events_json(cara_agent *a, const char *name)
{
    json_t *arr = json_array();
    cara_core_event events[CARA_CORE_EVENTS_PER_PROJECT];
    size_t n = cara_core_events_get(a->core, name, events, CARA_CORE_EVENTS_PER_PROJECT);
    for (size_t i = 0; i < n; i++) {
        const cara_core_event *e = &events[i];
        char t[CARA_TIME_TEXT_BYTES] = "";
        cara_time_format_rfc3339(e->time_wall_ms, t);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "time", t, "type", e->type,
                                             "reason", e->reason, "message", e->message));
    }
    return arr;
}

json_t *agent_project_json(cara_agent *a, const char *name)
{
    cara_project *spec = NULL;
    cara_project_status *st = NULL;
    uint64_t gen = 0;
    bool deleted = false;
    if (cara_core_load_project(a->core, name, &spec, &st, &gen, &deleted) != 0)
        return NULL;
    uint64_t observed = 0;
    cara_project_status *again = NULL;
    if (cara_core_project_status(a->core, name, gen, &again, &observed) != 0)
        observed = 0;
    cara_project_status_free(a->env, again);
    cara_project_status pending = {.phase = CARA_PHASE_PENDING};
    const cara_project_status *shown = st != NULL ? st : &pending;
    json_t *j;
    if (spec != NULL) {
        j = cara_project_to_json(spec, shown);
    } else {
        j = json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", CARA_API_VERSION, "kind",
                      "Project", "metadata", "name", name, "status",
                      cara_project_status_to_json(shown));
    }
    json_t *meta = json_object_get(j, "metadata");
    json_object_set_new(meta, "generation", json_integer((json_int_t)gen));
    /* The generation of the spec the status describes (its record's). */
    if (st != NULL && observed > 0)
        json_object_set_new(json_object_get(j, "status"), "observedGeneration",
                            json_integer((json_int_t)observed));
    if (deleted)
        json_object_set_new(meta, "deletionRequested", json_true());
    if (spec != NULL && spec->has_expire_at && cara_env_now_wall_ms(a->env) >= spec->expire_at_wall_ms)
        json_object_set_new(meta, "expired", json_true());
    json_object_set_new(j, "events", events_json(a, name));
    cara_project_free(a->env, spec);
    cara_project_status_free(a->env, st);
    return j;
}

static const char *phase_of(json_t *project)
{
    return json_string_value(json_object_get(json_object_get(project, "status"), "phase"));
}

/* A deleted or expired project that reached Terminated is gone from the API's view,
 * as a deleted object is in Kubernetes; the state keeps its tombstone until
 * collection. */
bool agent_project_visible(json_t *project)
{
    const char *phase = phase_of(project);
    json_t *meta = json_object_get(project, "metadata");
    bool ending = json_is_true(json_object_get(meta, "deletionRequested")) ||
                  json_is_true(json_object_get(meta, "expired"));
    return !(ending && phase != NULL && strcmp(phase, "Terminated") == 0);
}

typedef struct list_ctx {
    cara_agent *a;
    json_t *items;
    const char *phase;
} list_ctx;

static int list_one(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t l)
{
    (void)b;
    (void)l;
    list_ctx *c = ctx;
    if (r->kind != CARA_CRDT_PROJECT && r->kind != CARA_CRDT_TOMBSTONE)
        return 0;
    char name[CARA_NAME_BYTES_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)r->key_bytes, (const char *)r->key);
    json_t *j = agent_project_json(c->a, name);
    if (j != NULL && agent_project_visible(j) && (c->phase == NULL || strcmp(phase_of(j), c->phase) == 0))
        json_array_append_new(c->items, j);
    else
        json_decref(j);
    return 0;
}

static int by_name(const void *x, const void *y)
{
    json_t *const *a = x, *const *b = y;
    return strcmp(json_string_value(json_object_get(json_object_get(*a, "metadata"), "name")),
                  json_string_value(json_object_get(json_object_get(*b, "metadata"), "name")));
}

static json_t *sorted(json_t *items)
{
    size_t n = json_array_size(items);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    json_t *out = json_array();
    if (v == NULL)
        return out;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(items, i);
    qsort(v, n, sizeof *v, by_name);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(items);
    return out;
}

static void get_projects(cara_agent *a, const cara_http_request *req, cara_http_reply *reply)
{
    const char *phase = cara_http_query(req, "phase");
    cara_phase ignored;
    if (phase != NULL && cara_phase_parse(phase, &ignored) != 0) {
        cara_http_reply_error(reply, 400, "BadRequest", "unknown phase \"%s\"", phase);
        return;
    }
    list_ctx c = {a, json_array(), phase};
    if (cara_crdt_foreach(a->crdt, list_one, &c) != 0) {
        json_decref(c.items);
        cara_http_reply_error(reply, 500, "InternalError", "listing projects failed");
        return;
    }
    cara_http_reply_json(reply, 200, json_pack("{s:o}", "items", sorted(c.items)));
}

static void get_project(cara_agent *a, const char *name, cara_http_reply *reply)
{
    json_t *j = agent_project_json(a, name);
    if (j == NULL || !agent_project_visible(j)) {
        json_decref(j);
        cara_http_reply_error(reply, 404, "NotFound", "project \"%s\" not found", name);
        return;
    }
    cara_http_reply_json(reply, 200, j);
}

static void get_nodes(cara_agent *a, cara_http_reply *reply)
{
    const cara_core_nodes *ns = cara_core_nodes_get(a->core);
    json_t *items = json_array();
    for (size_t i = 0; ns != NULL && i < ns->count; i++) {
        json_t *j = agent_node_json_of(a, ns->decoded[i]);
        agent_gossip_annotate(a, j, ns->decoded[i]->name);
        json_array_append_new(items, j);
    }
    cara_http_reply_json(reply, 200, json_pack("{s:o}", "items", items));
}

/* ---- Mutations --------------------------------------------------------------------- */

/* Reads {"record": BASE64} into owned bytes. */
static int record_from_body(cara_agent *a, const cara_http_request *req, uint8_t **bytes,
                            size_t *len, cara_http_reply *reply)
{
    char why[CARA_API_BODY_WHY_BYTES];
    int rc = cara_api_body_record(a->env, req->body, req->body_len, bytes, len, why);
    if (rc == CARA_ENOMEM)
        cara_http_reply_error(reply, 500, "OutOfMemory", "%s", why);
    else if (rc != 0)
        cara_http_reply_error(reply, 400, "BadRequest", "%s", why);
    return rc;
}

/* An invalid project value: the spec decoder's own words as details. */
static void reply_invalid_value(cara_agent *a, const cara_crdt_record *rec, cara_http_reply *reply)
{
    if (rec->kind != CARA_CRDT_PROJECT) {
        cara_http_reply_error(reply, 400, "InvalidValue",
                              "the record's value is not a valid value of its kind");
        return;
    }
    cara_diags d;
    cara_diags_init(&d, a->env, "record");
    cara_project *p = NULL;
    int rc = cara_project_decode(a->env, rec->value, rec->value_bytes, &d, &p);
    cara_project_free(a->env, p);
    json_t *details = json_array();
    char line[CARA_ERROR_BYTES_MAX + 256];
    for (size_t i = 0; i < d.count; i++) {
        snprintf(line, sizeof line, "%s: %s", d.items[i].path, d.items[i].message);
        json_array_append_new(details, json_string(line));
    }
    cara_diags_free(&d);
    json_t *body = json_pack("{s:s, s:s, s:o}", "error", "the project is invalid", "reason",
                             rc == CARA_ENONCANON ? "NonCanonical" : "InvalidProject", "details",
                             details);
    cara_http_reply_json(reply, 400, body);
}

/* Maps a refusal of the replicated state to an HTTP answer. */
static void reply_refused(cara_agent *a, int rc, const cara_crdt_record *rec, cara_http_reply *reply)
{
    switch (rc) {
    case CARA_ESTALE: {
        /* Name the held generation: a deleted project's tombstone is not
         * shown by GET, and a client re-creating it must outnumber it. */
        cara_crdt_record held;
        json_int_t g = cara_crdt_get(a->crdt, rec->kind == CARA_CRDT_TOMBSTONE ? CARA_CRDT_PROJECT : rec->kind,
                                     rec->key, rec->key_bytes, &held) == 0
                           ? (json_int_t)held.generation
                           : 0;
        char msg[160];
        snprintf(msg, sizeof msg, "generation %llu is not newer than the held generation %lld",
                 (unsigned long long)rec->generation, (long long)g);
        cara_http_reply_json(reply, 409, json_pack("{s:s, s:s, s:I}", "error", msg, "reason",
                                                   "Conflict", "heldGeneration", g));
        return;
    }
    case CARA_EBADSIG:
        cara_http_reply_error(reply, 403, "BadSignature", "the record's signature does not verify");
        return;
    case CARA_EUNTRUSTED:
    case CARA_EWRONGAUTHOR:
        cara_http_reply_error(reply, 403, "Forbidden", "the record's key may not write it");
        return;
    case CARA_EFUTURE:
        cara_http_reply_error(reply, 400, "FutureTimestamp",
                              "the record is stamped ahead of this node's clock by more than the skew bound");
        return;
    case CARA_ECOLLECTED:
        cara_http_reply_error(reply, 409, "Collected",
                              "a deletion at or above this generation was collected; use a higher generation");
        return;
    case CARA_ESCHEMA:
        reply_invalid_value(a, rec, reply);
        return;
    case CARA_EIO:
        cara_http_reply_error(reply, 500, "StorageError", "the record could not be made durable");
        return;
    default:
        cara_http_reply_error(reply, 400, "BadRecord", "the record was refused: %s",
                              cara_strerror(rc));
    }
}

/* How many nodes must hold a record durably before the answer: `?ack=N`,
 * or the node object's rule (cara_core_acks_wanted). False (and the reply
 * given) for a bad value. */
static bool ack_wanted(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                       uint32_t *wanted)
{
    const char *q = cara_http_query(req, "ack");
    if (q == NULL) {
        *wanted = cara_core_acks_wanted(a->core);
        return true;
    }
    char *end = NULL;
    unsigned long n = strtoul(q, &end, 10);
    if (*q == '\0' || *end != '\0' || n < 1 || n > CARA_GOSSIP_ACK_NODES_MAX) {
        cara_http_reply_error(reply, 400, "BadRequest", "ack must be a number of nodes, 1..%d",
                              CARA_GOSSIP_ACK_NODES_MAX);
        return false;
    }
    *wanted = (uint32_t)n;
    return true;
}

/* Would this admission admit one node more than the state takes? The
 * state would keep it without effect (docs/crdt.md); the operator is told
 * here instead. */
static bool admission_over_cap(cara_agent *a, const cara_crdt_record *rec)
{
    uint8_t pk[CARA_CRDT_PK_BYTES];
    bool admits = false;
    return rec->kind == CARA_CRDT_ADMISSION &&
           cara_crdt_admission_decode(rec->value, rec->value_bytes, pk, &admits) == 0 && admits &&
           !cara_crdt_node_admitted(a->crdt, pk) && cara_crdt_admission_room(a->crdt) == 0;
}

static void put_record(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                       int want_kind, const char *name)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (record_from_body(a, req, &bytes, &len, reply) != 0)
        return;
    cara_crdt_record rec;
    int rc = cara_crdt_record_decode(bytes, len, &rec);
    /* PUT carries a spec (or an admission), DELETE a tombstone: nothing else. */
    bool is_delete = strcmp(req->method, "DELETE") == 0;
    bool kind_ok = rc == 0 && (is_delete ? rec.kind == CARA_CRDT_TOMBSTONE : rec.kind == want_kind);
    const char *problem = rc != 0 ? cara_strerror(rc)
                          : !kind_ok ? (is_delete ? "a DELETE carries a tombstone record"
                                                  : "a PUT carries a record of the kind its "
                                                    "path names, a tombstone goes with DELETE")
                          : rec.key_bytes != strlen(name) || memcmp(rec.key, name, rec.key_bytes)
                              ? "the record's key is not the name in the path"
                              : NULL;
    if (problem != NULL) {
        cara_http_reply_error(reply, 400, "BadRecord", "the record is refused: %s", problem);
        cara_env_free(a->env, bytes);
        return;
    }
    cara_crdt_record held;
    bool had = cara_crdt_get(a->crdt, want_kind, (const uint8_t *)name, strlen(name), &held) == 0;
    bool had_live = had && held.kind != CARA_CRDT_TOMBSTONE;
    bool same = had_live && held.kind == rec.kind && held.value_bytes == rec.value_bytes &&
                memcmp(held.value, rec.value, rec.value_bytes) == 0;
    uint64_t held_gen = had ? held.generation : 0;
    const char *result = rec.kind == CARA_CRDT_TOMBSTONE ? "deleting"
                         : same                          ? "unchanged"
                         : had_live                      ? "configured"
                                                         : "created";
    if (admission_over_cap(a, &rec)) {
        cara_http_reply_error(reply, 409, "TooManyNodes",
                              "the cluster already admits its maximum of %d nodes: revoke one "
                              "first (caravanctl admit --revoke)", CARA_CRDT_NODES_MAX);
        cara_env_free(a->env, bytes);
        return;
    }
    uint32_t wanted = 0;
    if (!ack_wanted(a, req, reply, &wanted)) {
        cara_env_free(a->env, bytes);
        return;
    }
    bool changed = false;
    const char *fq = cara_http_query(req, "force");
    bool force = fq != NULL && (strcmp(fq, "1") == 0 || strcmp(fq, "true") == 0);
    if (!same)
        rc = agent_ingest(a, bytes, len, &changed);
    if (rc != 0) {
        reply_refused(a, rc, &rec, reply);
        cara_env_free(a->env, bytes);
        return;
    }
    if (rec.kind == CARA_CRDT_TOMBSTONE && force)
        agent_force_delete(a, name); /* evaluates now, with the force; also hastens one under way */
    json_t *body = json_pack("{s:s, s:I, s:i, s:i}", "result", result, "generation",
                             (json_int_t)(same ? held_gen : rec.generation), "durable", 1,
                             "wanted", (int)wanted);
    int status = strcmp(result, "created") == 0 ? 201 : 200;
    /* What other nodes must hold: the version this node holds now (for an
     * unchanged apply, the earlier record, not the new signature). */
    const uint8_t *held_bytes = bytes;
    size_t held_len = len;
    if (same)
        (void)cara_crdt_get_envelope(a->crdt, want_kind, (const uint8_t *)name, strlen(name),
                                     NULL, &held_bytes, &held_len);
    if (!agent_gossip_defer_ack(a, held_bytes, held_len, wanted, AGENT_ACK_TIMEOUT_MS, status,
                                body, reply))
        cara_http_reply_json(reply, status, body);
    cara_env_free(a->env, bytes);
}

/* PUT /v1/nodes/NAME/control: the operator's cordon or drain of a node
 * this agent knows (it has the node's record). A control for a name no
 * node has would sit in the state for a node that may never come; the
 * operator is told instead, and nothing is written. */
static void put_node_control(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                             const char *name)
{
    cara_crdt_record node;
    if (cara_crdt_get(a->crdt, CARA_CRDT_NODE, (const uint8_t *)name, strlen(name), &node) != 0) {
        cara_http_reply_error(reply, 404, "NotFound", "node \"%s\" not found", name);
        return;
    }
    put_record(a, req, reply, CARA_CRDT_NODECTL, name);
}

/* ---- Health and metrics -------------------------------------------------------------- */

static void healthz(cara_agent *a, cara_http_reply *reply)
{
    char pk[2 * CARA_CRDT_PK_BYTES + 1], hash_hex[65];
    uint8_t hash[32];
    sodium_bin2hex(pk, sizeof pk, a->node_pk, sizeof a->node_pk);
    /* Replicas holding the same records show the same hash (convergence
     * checks compare it across nodes). */
    cara_crdt_state_hash(a->crdt, hash);
    sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
    cara_http_reply_json(reply, 200,
                         json_pack("{s:s, s:s, s:s, s:b, s:s, s:I}", "status", "ok", "node",
                                   a->cfg.name, "publicKey", pk, "admitted", agent_admitted(a),
                                   "stateHash", hash_hex, "members",
                                   (json_int_t)cara_core_durable_members(a->core)));
}

static void metric(cara_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    cara_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                    (unsigned long long)v);
}

/* Refused requests by reason (WrongNode counts requests signed for another
 * node: a misdirected client or a replay from another node). */
static void auth_metrics(cara_agent *a, cara_buf *b)
{
    cara_auth_stats st;
    cara_auth_stats_get(a->auth, &st);
    cara_buf_printf(b, "# HELP cara_api_auth_rejected_total API requests refused by "
                       "authentication, by reason.\n"
                       "# TYPE cara_api_auth_rejected_total counter\n");
    for (int i = CARA_AUTH_OK + 1; i < CARA_AUTH_REASON_COUNT_; i++)
        cara_buf_printf(b, "cara_api_auth_rejected_total{reason=\"%s\"} %llu\n",
                        cara_auth_reason_name(i), (unsigned long long)st.refused[i]);
}

/* Gossip: members by state, probes, suspicions, traffic, drops by reason
 * (docs/gossip.md). Absent on a node running on its own. */
static void gossip_metrics(cara_agent *a, cara_buf *b)
{
    cara_gossip_stats g;
    bool on = false;
    agent_gossip_stats(a, &g, &on);
    if (!on)
        return;
    cara_buf_printf(b, "# HELP cara_gossip_members Members by state, this node included.\n"
                       "# TYPE cara_gossip_members gauge\n");
    for (int st = CARA_GOSSIP_ALIVE; st <= CARA_GOSSIP_LEFT; st++)
        cara_buf_printf(b, "cara_gossip_members{state=\"%s\"} %zu\n", cara_gossip_state_name(st),
                        g.members_by_state[st]);
    metric(b, "cara_gossip_probes_total", "counter", "Probes sent.", g.probes);
    metric(b, "cara_gossip_suspicions_total", "counter", "Suspicions raised by this node's probes.",
           g.suspicions);
    metric(b, "cara_gossip_refutations_total", "counter",
           "Times this node refuted a suspicion of itself.", g.refutations);
    metric(b, "cara_gossip_false_suspicions_total", "counter",
           "Suspected members seen alive again.", g.false_suspicions);
    metric(b, "cara_gossip_deaths_total", "counter", "Members this node declared dead.", g.deaths);
    metric(b, "cara_gossip_datagrams_in_total", "counter", "Datagrams received.", g.datagrams_in);
    metric(b, "cara_gossip_datagrams_out_total", "counter", "Datagrams sent.", g.datagrams_out);
    metric(b, "cara_gossip_datagram_bytes_in_total", "counter", "Datagram bytes received.",
           g.datagram_bytes_in);
    metric(b, "cara_gossip_datagram_bytes_out_total", "counter", "Datagram bytes sent.",
           g.datagram_bytes_out);
    metric(b, "cara_gossip_datagram_bytes_max", "gauge", "The largest datagram sent.",
           g.datagram_bytes_max);
    metric(b, "cara_gossip_stream_bytes_in_total", "counter", "Stream bytes received.",
           g.stream_bytes_in);
    metric(b, "cara_gossip_stream_bytes_out_total", "counter", "Stream bytes sent.",
           g.stream_bytes_out);
    metric(b, "cara_gossip_records_received_total", "counter",
           "Records that were new to this node, from pushes, piggybacks and joins.",
           g.records_received_new);
    metric(b, "cara_gossip_sync_records_applied_total", "counter",
           "Records applied by anti-entropy.", g.sync_records_applied);
    metric(b, "cara_gossip_syncs_total", "counter", "Anti-entropy exchanges completed.",
           g.syncs_completed);
    metric(b, "cara_gossip_joins_refused_total", "counter", "Joiners this node refused.",
           g.joins_refused);
    cara_buf_printf(b, "# HELP cara_gossip_dropped_total Received gossip input dropped, by "
                       "reason.\n# TYPE cara_gossip_dropped_total counter\n");
    for (int i = 0; i < CARA_GOSSIP_DROP_COUNT_; i++)
        cara_buf_printf(b, "cara_gossip_dropped_total{reason=\"%s\"} %llu\n",
                        cara_gossip_drop_name(i), (unsigned long long)g.dropped[i]);
    metric(b, "cara_gossip_truncated_total", "counter",
           "Datagrams longer than the receive buffer.", a->stats.gossip_truncated);
    metric(b, "cara_gossip_slow_readers_total", "counter",
           "Gossip connections closed because the peer did not read.", a->stats.gossip_slow_readers);
    metric(b, "cara_gossip_send_dropped_total", "counter",
           "Datagrams dropped because the send queue was full.", a->stats.gossip_send_dropped);
}

static void metrics(cara_agent *a, cara_http_reply *reply)
{
    cara_buf b;
    cara_buf_init(&b, a->env, 1024 * 1024);
    cara_crdt_stats cs;
    cara_crdt_stats_get(a->crdt, &cs);
    cara_reconciler_stats rs = {0};
    if (a->recon)
        cara_reconciler_get_stats(a->recon, &rs);
    cara_core_stats core;
    cara_core_stats_get(a->core, &core);
    cara_http_stats hs;
    cara_http_stats_get(a->http, &hs);
    metric(&b, "cara_records_applied_total", "counter", "Records that changed the state.",
           a->stats.records_applied);
    metric(&b, "cara_records_refused_total", "counter", "Records refused (any reason).",
           a->stats.records_refused);
    cara_buf_printf(&b, "# HELP cara_records_rejected_total Records refused, by reason.\n"
                        "# TYPE cara_records_rejected_total counter\n");
    for (int i = 0; i < CARA_CRDT_R_COUNT_; i++)
        cara_buf_printf(&b, "cara_records_rejected_total{reason=\"%s\"} %llu\n",
                        cara_crdt_reason_name(i), (unsigned long long)cs.rejected[i]);
    metric(&b, "cara_store_errors_total", "counter", "Failed durable writes.", a->stats.store_errors);
    metric(&b, "cara_status_writes_total", "counter", "Status records written by this node.",
           core.status_writes);
    metric(&b, "cara_node_publishes_total", "counter",
           "Node records this node wrote.",
           a->stats.node_publishes);
    metric(&b, "cara_state_bytes", "gauge", "Bytes of replicated state held.",
           cara_crdt_state_bytes(a->crdt));
    metric(&b, "cara_state_records", "gauge", "Records in the replicated state.",
           cs.records_count);
    metric(&b, "cara_state_floors", "gauge", "Floors left by collected deletes.", cs.floors_count);
    metric(&b, "cara_records_collected_total", "counter",
           "Tombstones collected into floors, and status or placement records of deleted or "
           "unknown projects.",
           cs.collected + cs.leftovers_collected);
    metric(&b, "cara_floors_dropped_total", "counter",
           "Floors dropped past the floor horizon or to stay within the floor cap.",
           cs.floors_expired + cs.floors_evicted);
    metric(&b, "cara_records_held", "gauge", "Records waiting for their author's admission.",
           cs.held_count);
    metric(&b, "cara_project_evaluations_total", "counter",
           "Project evaluations (scheduling, ownership, expiry).", core.evaluations);
    metric(&b, "cara_reconcile_passes_total", "counter", "Full reconciliation passes.", rs.passes);
    metric(&b, "cara_reconcile_steps_total", "counter", "Engine calls made by the reconciler.",
           rs.steps);
    metric(&b, "cara_reconcile_step_errors_total", "counter", "Engine calls that failed.",
           rs.step_errors);
    metric(&b, "cara_image_pulls_given_up_total", "counter",
           "Projects Failed with ImagePullFailed after the image-pull bound.", rs.pulls_given_up);
    metric(&b, "cara_container_restarts_total", "counter",
           "Containers started again by the agent after they stopped.", rs.restarts);
    metric(&b, "cara_engine_stream_restarts_total", "counter",
           "Reconnections of the engine's event stream.", rs.stream_restarts);
    metric(&b, "cara_api_requests_total", "counter", "API requests handled.", a->stats.api_requests);
    metric(&b, "cara_api_auth_refused_total", "counter", "API requests refused by authentication.",
           a->stats.api_refused_auth);
    auth_metrics(a, &b);
    gossip_metrics(a, &b);
    metric(&b, "cara_api_streams_open", "gauge", "Open watch and log streams.", hs.streams_open);
    metric(&b, "cara_projects_known", "gauge", "Projects this node keeps local data for.",
           core.projects_known);
    cara_core_fence_state fence;
    cara_core_fence_get(a->core, &fence);
    metric(&b, "cara_fenced", "gauge",
           "1 while this node is fenced: no majority for the fence timeout, its projects stopped.",
           fence.fenced);
    metric(&b, "cara_majority", "gauge", "1 while this node sees a majority of the nodes it knows.",
           fence.majority);
    metric(&b, "cara_majority_nodes_seen", "gauge",
           "Admitted nodes this node sees (alive and heard from), itself included.", fence.seen);
    metric(&b, "cara_majority_nodes_known", "gauge",
           "Admitted nodes this node knows, itself included.", fence.known);
    metric(&b, "cara_project_runs_total", "counter", "Specs handed to the reconciler.", core.runs);
    metric(&b, "cara_project_deletes_total", "counter",
           "Removals handed to the reconciler (deletes, moves, fencing).", core.deletes);
    cara_http_reply_text(reply, 200, "text/plain; version=0.0.4", b.data ? b.data : (uint8_t *)"",
                         b.len);
    cara_buf_free(&b);
}

/* ---- Routing ------------------------------------------------------------------------ */

/* Splits "/v1/projects/NAME/logs" into its parts; false for other shapes. */
static bool route(const char *path, char *collection, size_t ccap, char *name, size_t ncap,
                  char *sub, size_t scap)
{
    *collection = *name = *sub = '\0';
    if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0)
        return false;
    const char *p = path + strlen(API_PREFIX);
    char *outs[3] = {collection, name, sub};
    size_t caps[3] = {ccap, ncap, scap};
    for (int i = 0; i < 3 && *p; i++) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n >= caps[i])
            return false;
        memcpy(outs[i], p, n);
        outs[i][n] = '\0';
        p += n + (slash ? 1 : 0);
        if (slash && *p == '\0')
            return false; /* trailing slash */
    }
    return *p == '\0';
}

/* `node_route`: the route admitted nodes may use too (auth.h); *by_node
 * says whether one did. */
static bool authorised(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                       bool node_route, bool *by_node)
{
    *by_node = false;
    bool is_read = strcmp(req->method, "GET") == 0;
    bool signed_req = cara_http_header(req, "X-Cara-Signature") != NULL;
    /* docs/api.md: unsigned reads are allowed from loopback when the API
     * listens on loopback only. */
    if (is_read && !signed_req && a->api_loopback_only && req->peer_loopback)
        return true;
    int reason = 0;
    if (cara_auth_check_http(a->auth, req, a->node_pk, node_route, cara_env_now_wall_ms(a->env),
                             cara_env_now_mono_ms(a->env), &reason, by_node) == 0)
        return true;
    a->stats.api_refused_auth++;
    const char *name = cara_auth_reason_name(reason);
    if (reason == CARA_AUTH_WRONG_NODE) {
        /* Say which node this is, so the client can sign for it. */
        char pk[2 * CARA_CRDT_PK_BYTES + 1];
        sodium_bin2hex(pk, sizeof pk, a->node_pk, sizeof a->node_pk);
        cara_http_reply_error(reply, cara_auth_reason_status(reason), name,
                              "request refused: %s: signed for another node; this node (%s) "
                              "has the public key %s", name, a->cfg.name, pk);
        return false;
    }
    cara_http_reply_error(reply, cara_auth_reason_status(reason), name, "request refused: %s",
                          name);
    return false;
}

void agent_http_handler(void *ctx, const cara_http_request *req, cara_http_reply *reply)
{
    cara_agent *a = ctx;
    a->stats.api_requests++;
    const char *m = req->method;
    if (strcmp(req->path, "/healthz") == 0 && strcmp(m, "GET") == 0) {
        healthz(a, reply);
        return;
    }
    if (strcmp(req->path, "/metrics") == 0 && strcmp(m, "GET") == 0) {
        metrics(a, reply);
        return;
    }
    char coll[32], name[CARA_CRDT_KEY_BYTES_MAX + 1], sub[32];
    if (!route(req->path, coll, sizeof coll, name, sizeof name, sub, sizeof sub)) {
        cara_http_reply_error(reply, 404, "NotFound", "no such endpoint: %s", req->path);
        return;
    }
    bool get = strcmp(m, "GET") == 0;
    bool logs = strcmp(coll, "projects") == 0 && name[0] && strcmp(sub, "logs") == 0 && get;
    bool by_node;
    if (!authorised(a, req, reply, logs, &by_node))
        return;
    if (strcmp(coll, "projects") == 0 && name[0] == '\0' && get)
        get_projects(a, req, reply);
    else if (strcmp(coll, "projects") == 0 && name[0] && sub[0] == '\0' && get)
        get_project(a, name, reply);
    else if (strcmp(coll, "projects") == 0 && name[0] && sub[0] == '\0' && strcmp(m, "PUT") == 0)
        put_record(a, req, reply, CARA_CRDT_PROJECT, name);
    else if (strcmp(coll, "projects") == 0 && name[0] && sub[0] == '\0' && strcmp(m, "DELETE") == 0)
        put_record(a, req, reply, CARA_CRDT_PROJECT, name);
    else if (logs)
        agent_logs_open(a, req, reply, name, by_node);
    else if (strcmp(coll, "admissions") == 0 && name[0] && sub[0] == '\0' && strcmp(m, "PUT") == 0)
        put_record(a, req, reply, CARA_CRDT_ADMISSION, name);
    else if (strcmp(coll, "settings") == 0 && name[0] && sub[0] == '\0' && strcmp(m, "PUT") == 0)
        put_record(a, req, reply, CARA_CRDT_SETTINGS, name); /* the crdt takes key "cluster" only */
    else if (strcmp(coll, "nodes") == 0 && name[0] == '\0' && get)
        get_nodes(a, reply);
    else if (strcmp(coll, "nodes") == 0 && name[0] && strcmp(sub, "control") == 0 &&
             strcmp(m, "PUT") == 0)
        put_node_control(a, req, reply, name);
    else if (strcmp(coll, "watch") == 0 && name[0] == '\0' && get)
        agent_watch_open(a, reply);
    else
        cara_http_reply_error(reply, 405, "MethodNotAllowed", "%s is not served on %s", m,
                              req->path);
}
