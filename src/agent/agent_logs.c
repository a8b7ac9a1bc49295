/* GET /v1/projects/NAME/logs: a service's output from the engine, with
 * Docker's multiplexed frames decoded into plain text; or, when another
 * node runs the project, the same answer from that node, proxied
 * (docs/api.md, "Node-to-node requests"). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_int.h"

/* How long the owner may take to accept the connection. Its answer's
 * status follows at once (it streams), so a connect that takes longer
 * means the node is away, and the client hears 502 rather than waits. */
#define LOGS_PROXY_CONNECT_MS 5000

typedef struct logs_ctx {
    cara_agent *a;
    cara_http_stream *out;  /* NULL once the client is gone or ended */
    cara_docker_req *in;    /* NULL once the engine stream ended */
    uint8_t hdr[8];
    size_t hdr_len;
    uint32_t remaining;     /* payload bytes left in the current frame */
    bool raw;               /* not multiplexed (a TTY, or an error body) */
} logs_ctx;

static void maybe_free(logs_ctx *c)
{
    if (c->out == NULL && c->in == NULL)
        cara_env_free(c->a->env, c);
}

static void emit(logs_ctx *c, const char *data, size_t len)
{
    if (c->out == NULL || len == 0)
        return;
    if (cara_http_stream_write(c->out, data, len) != 0) {
        /* The client does not read fast enough: end, do not buffer. */
        cara_http_stream_end(c->out);
        c->out = NULL;
        if (c->in != NULL)
            cara_docker_cancel(c->a->docker, c->in);
    }
}

/* Frames are [stream(1) 0 0 0 size(4, big-endian)] payload, and may straddle
 * chunks (notes/integration.md §1). */
static void on_chunk(void *arg, const char *data, size_t len)
{
    logs_ctx *c = arg;
    while (len > 0 && c->out != NULL) {
        if (c->raw) {
            emit(c, data, len);
            return;
        }
        if (c->remaining > 0) {
            size_t n = len < c->remaining ? len : c->remaining;
            emit(c, data, n);
            c->remaining -= (uint32_t)n;
            data += n;
            len -= n;
            continue;
        }
        c->hdr[c->hdr_len++] = (uint8_t)*data++;
        len--;
        if (c->hdr_len == 1 && c->hdr[0] > 2) {
            c->raw = true; /* not a frame header: pass the bytes through */
            emit(c, (const char *)c->hdr, 1);
            c->hdr_len = 0;
            continue;
        }
        if (c->hdr_len == 8) {
            c->remaining = (uint32_t)c->hdr[4] << 24 | (uint32_t)c->hdr[5] << 16 |
                           (uint32_t)c->hdr[6] << 8 | c->hdr[7];
            c->hdr_len = 0;
        }
    }
}

static void on_engine_end(void *arg, const cara_docker_result *res)
{
    logs_ctx *c = arg;
    c->in = NULL;
    if (c->out != NULL) {
        if (res->rc != 0 && res->rc != CARA_EAGAIN) {
            char line[600];
            int n = snprintf(line, sizeof line, "error: %s\n", res->error);
            emit(c, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        }
        if (c->out != NULL)
            cara_http_stream_end(c->out);
        c->out = NULL;
    }
    maybe_free(c);
}

static void on_client_gone(void *ctx, cara_http_stream *st)
{
    (void)st;
    logs_ctx *c = ctx;
    c->out = NULL;
    if (c->in != NULL)
        cara_docker_cancel(c->a->docker, c->in); /* runs on_engine_end, which frees */
    else
        maybe_free(c);
}

static bool flag(const cara_http_request *req, const char *key)
{
    const char *v = cara_http_query(req, key);
    return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* ---- The proxy: the owner's answer, passed through ------------------------------ */

typedef struct proxy_ctx {
    cara_agent *a;
    cara_http_deferred *wait;  /* until the owner's status is known; then NULL */
    cara_http_stream *out;     /* the client's stream once the owner said 200 */
    cara_httpc_req *in;        /* NULL once the owner's answer ended */
    char owner[CARA_NAME_BYTES_MAX + 1];
    char addr[CARA_NODE_GOSSIP_ADDR_BYTES_MAX + 1];
} proxy_ctx;

static void proxy_maybe_free(proxy_ctx *c)
{
    if (c->in == NULL && c->out == NULL && c->wait == NULL)
        cara_env_free(c->a->env, c);
}

static void proxy_client_gone(void *ctx, cara_http_stream *st)
{
    (void)st;
    proxy_ctx *c = ctx;
    c->out = NULL;
    if (c->in != NULL)
        cara_httpc_cancel(c->a->peers, c->in); /* runs proxy_done, which frees */
    else
        proxy_maybe_free(c);
}

/* The owner's status is in. 200: the client's stream starts, with the
 * owner's bytes to follow. An error status waits for its body (whole_errors),
 * handed to proxy_done. */
static void proxy_head(void *arg, long status)
{
    proxy_ctx *c = arg;
    if (status != 200 || c->wait == NULL)
        return;
    c->out = cara_http_deferred_stream(c->wait, 200, "text/plain; charset=utf-8",
                                       proxy_client_gone, c);
    c->wait = NULL;
    if (c->out == NULL && c->in != NULL)
        cara_httpc_cancel(c->a->peers, c->in); /* the client left while we waited */
}

/* Plain text already: the owner decoded the engine's frames. */
static void proxy_data(void *arg, const char *data, size_t len)
{
    proxy_ctx *c = arg;
    if (c->out == NULL)
        return;
    if (cara_http_stream_write(c->out, data, len) != 0) {
        /* The client does not read as fast as the owner sends: end, do not
         * buffer (as for a local stream). */
        cara_http_stream_end(c->out);
        c->out = NULL;
        if (c->in != NULL)
            cara_httpc_cancel(c->a->peers, c->in);
    }
}

/* The owner's reason, from its {"error", "reason"} body; "" when none. */
static void upstream_reason(const cara_httpc_result *res, char *out, size_t out_max)
{
    out[0] = '\0';
    json_t *j = res->body ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    const char *r = json_string_value(json_object_get(j, "reason"));
    if (r != NULL && strlen(r) < out_max && strspn(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                      "abcdefghijklmnopqrstuvwxyz") == strlen(r))
        snprintf(out, out_max, "%s", r);
    json_decref(j);
}

/* Answers the waiting client from an owner that never said 200. */
static void proxy_fail(proxy_ctx *c, const cara_httpc_result *res)
{
    cara_http_deferred *w = c->wait;
    c->wait = NULL;
    if (res->rc != 0) {
        cara_http_deferred_error(w, 502, "OwnerUnreachable",
                                 "cannot reach node %s at %s, which runs the project: %s",
                                 c->owner, c->addr, res->error);
        return;
    }
    if (res->http_status >= 400 && res->http_status < 500) {
        char reason[CARA_REASON_BYTES_MAX];
        upstream_reason(res, reason, sizeof reason);
        cara_http_deferred_error(w, (int)res->http_status, reason[0] ? reason : "OwnerRefused",
                                 "%s", res->error[0] ? res->error : "refused by the owner");
        return;
    }
    cara_http_deferred_error(w, 502, "OwnerError", "node %s answered HTTP %ld%s%s", c->owner,
                             res->http_status, res->error[0] ? ": " : "", res->error);
}

static void proxy_done(void *arg, const cara_httpc_result *res)
{
    proxy_ctx *c = arg;
    c->in = NULL;
    if (c->wait != NULL)
        proxy_fail(c, res);
    if (c->out != NULL) {
        if (res->rc != 0 && res->rc != CARA_EAGAIN) {
            char line[600];
            int n = snprintf(line, sizeof line, "error: lost node %s: %s\n", c->owner, res->error);
            proxy_data(c, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        }
        if (c->out != NULL)
            cara_http_stream_end(c->out);
        c->out = NULL;
    }
    proxy_maybe_free(c);
}

/* The target sent to the owner: the client's options, and proxied=1 so
 * that the owner never passes it on. */
static int proxy_target(const cara_http_request *req, const char *project, cara_buf *t)
{
    const char *service = cara_http_query(req, "service");
    const char *tail = cara_http_query(req, "tail");
    int rc = cara_buf_printf(t, "/v1/projects/");
    rc = rc ? rc : cara_httpc_urlencode(project, t);
    rc = rc ? rc : cara_buf_printf(t, "/logs?service=");
    rc = rc ? rc : cara_httpc_urlencode(service, t);
    if (rc == 0 && flag(req, "follow"))
        rc = cara_buf_printf(t, "&follow=1");
    if (rc == 0 && tail != NULL)
        rc = cara_buf_printf(t, "&tail=%s", tail); /* digits: checked by the caller */
    if (rc == 0 && flag(req, "timestamps"))
        rc = cara_buf_printf(t, "&timestamps=1");
    return rc ? rc : cara_buf_printf(t, "&proxied=1");
}

/* Signs GET `target` with this node's key for the owner's key (docs/api.md,
 * "Node-to-node requests") into five header lines. */
static int proxy_sign(cara_agent *a, const uint8_t owner_pk[CARA_CRDT_PK_BYTES],
                      const char *target, char lines[5][160])
{
    uint8_t nonce[CARA_REQSIG_NONCE_BYTES];
    randombytes_buf(nonce, sizeof nonce);
    cara_reqsig_headers h;
    int rc = cara_crdt_reqsig_sign(a->node_sk, owner_pk, "GET", target,
                                   cara_env_now_wall_ms(a->env), nonce, NULL, 0, a->env, &h);
    if (rc != 0)
        return rc;
    snprintf(lines[0], 160, "X-Cara-Key: %s", h.key);
    snprintf(lines[1], 160, "X-Cara-Node: %s", h.node);
    snprintf(lines[2], 160, "X-Cara-Time: %s", h.time);
    snprintf(lines[3], 160, "X-Cara-Nonce: %s", h.nonce);
    snprintf(lines[4], 160, "X-Cara-Signature: %s", h.sig);
    return 0;
}

/* The owner's API address from its node record; false when it has none. */
static bool owner_address(cara_agent *a, const char *owner, char *out, size_t out_max)
{
    const cara_core_nodes *ns = cara_core_nodes_get(a->core);
    for (size_t i = 0; ns != NULL && i < ns->count; i++)
        if (strcmp(ns->decoded[i]->name, owner) == 0 && ns->decoded[i]->api_addr != NULL) {
            snprintf(out, out_max, "%s", ns->decoded[i]->api_addr);
            return true;
        }
    return false;
}

static int proxy_start(cara_agent *a, proxy_ctx *c, const char *target,
                       const uint8_t owner_pk[CARA_CRDT_PK_BYTES])
{
    char lines[5][160];
    const char *headers[5];
    int rc = proxy_sign(a, owner_pk, target, lines);
    if (rc != 0)
        return rc;
    for (int i = 0; i < 5; i++)
        headers[i] = lines[i];
    cara_buf url;
    cara_buf_init(&url, a->env, CARA_HTTP_TARGET_BYTES_MAX + sizeof c->addr + 16);
    rc = cara_buf_printf(&url, "http://%s%s", c->addr, target);
    cara_httpc_opts o = {.method = "GET", .url = (const char *)url.data, .headers = headers,
                         .headers_count = 5, .stream = true, .whole_errors = true,
                         .connect_timeout_ms = LOGS_PROXY_CONNECT_MS, .data_fn = proxy_data,
                         .head_fn = proxy_head, .done = proxy_done, .arg = c};
    rc = rc ? rc : cara_httpc_start(a->peers, &o, &c->in);
    cara_buf_free(&url);
    return rc;
}

/* Proxies the request to `owner` when its record names an API address.
 * Returns false, having answered nothing, when it has none (the caller
 * answers 409); true once it answered (the stream, or an error). */
static bool proxy_open(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                       const char *project, const char *owner)
{
    uint8_t owner_pk[CARA_CRDT_PK_BYTES];
    char addr[sizeof ((proxy_ctx *)0)->addr];
    if (a->peers == NULL || !owner_address(a, owner, addr, sizeof addr) ||
        cara_crdt_node_key_of(a->crdt, owner, owner_pk) != 0)
        return false;
    cara_buf target;
    cara_buf_init(&target, a->env, CARA_HTTP_TARGET_BYTES_MAX);
    proxy_ctx *c = cara_env_calloc(a->env, 1, sizeof *c);
    int rc = c == NULL ? CARA_ENOMEM : proxy_target(req, project, &target);
    if (rc == 0) {
        c->a = a;
        snprintf(c->owner, sizeof c->owner, "%s", owner);
        snprintf(c->addr, sizeof c->addr, "%s", addr);
        rc = proxy_start(a, c, (const char *)target.data, owner_pk);
    }
    cara_buf_free(&target);
    if (rc != 0) {
        cara_env_free(a->env, c);
        cara_http_reply_error(reply, 502, "OwnerUnreachable",
                              "cannot ask node %s at %s, which runs the project: %s", owner,
                              addr, cara_strerror(rc));
        return true;
    }
    /* The status is the owner's: the client waits until it is known. */
    c->wait = cara_http_reply_defer(reply);
    if (c->wait == NULL) {
        cara_httpc_cancel(a->peers, c->in); /* frees c through proxy_done */
        cara_http_reply_error(reply, 500, "OutOfMemory", "out of memory");
    }
    return true;
}

void agent_logs_open(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                     const char *project, bool from_node)
{
    const char *service = cara_http_query(req, "service");
    const char *tail = cara_http_query(req, "tail");
    cara_project *spec = NULL;
    cara_project_status *st = NULL;
    uint64_t gen;
    bool deleted;
    bool known = cara_core_load_project(a->core, project, &spec, &st, &gen, &deleted) == 0 && spec != NULL;
    bool has_service = false;
    for (size_t i = 0; known && service != NULL && i < spec->services_count; i++)
        has_service |= strcmp(spec->services[i].name, service) == 0;
    const char *owner = st != NULL ? st->node_ref : NULL;
    char owner_copy[CARA_NAME_BYTES_MAX + 1] = "";
    if (owner != NULL)
        snprintf(owner_copy, sizeof owner_copy, "%s", owner);
    cara_project_free(a->env, spec);
    cara_project_status_free(a->env, st);
    bool tail_ok = tail == NULL || (tail[0] != '\0' && strspn(tail, "0123456789") == strlen(tail) &&
                                    strlen(tail) <= 9);
    if (!tail_ok) {
        cara_http_reply_error(reply, 400, "BadRequest", "tail must be a count, got \"%s\"", tail);
        return;
    }
    if (!known || !has_service) {
        cara_http_reply_error(reply, 404, "NotFound", service == NULL ? "name a service with ?service=S"
                              : "project \"%s\" has no service \"%s\"", project, service);
        return;
    }
    if (strcmp(owner_copy, a->cfg.name) != 0) {
        /* A proxied request is never proxied again: the two nodes saw
         * different owners, and the client hears so. */
        bool proxied = from_node || flag(req, "proxied");
        if (owner_copy[0] && !proxied && proxy_open(a, req, reply, project, owner_copy))
            return;
        cara_http_reply_error(reply, 409, "NotOwnedHere",
                              owner_copy[0] ? "project \"%s\" runs on node %s; ask that node%s"
                                            : "project \"%s\" is not placed on a node yet%s%s",
                              project, owner_copy,
                              proxied ? " (this request was proxied here by another node)" : "");
        return;
    }
    /* By the container's id, found by its labels: "{project}-{service}" may
     * be another project's container ("a-b"/"c" and "a"/"b-c"). */
    char id[160];
    if (a->recon == NULL || cara_reconciler_container_id(a->recon, project, service, id, sizeof id) != 0) {
        cara_http_reply_error(reply, 404, "NotFound", "service \"%s\" of project \"%s\" has no container yet",
                              service, project);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "/containers/%s/logs?stdout=1&stderr=1&follow=%d&timestamps=%d&tail=%s",
             id, flag(req, "follow"), flag(req, "timestamps"), tail ? tail : "all");
    logs_ctx *c = cara_env_calloc(a->env, 1, sizeof *c);
    if (c == NULL) {
        cara_http_reply_error(reply, 500, "OutOfMemory", "out of memory");
        return;
    }
    c->a = a;
    c->out = cara_http_reply_stream(reply, 200, "text/plain; charset=utf-8", on_client_gone, c);
    if (c->out == NULL) {
        cara_env_free(a->env, c);
        return;
    }
    if (cara_docker_stream(a->docker, "GET", path, false, on_chunk, on_engine_end, c, &c->in) != 0) {
        emit(c, "error: cannot reach the engine\n", 31);
        if (c->out != NULL)
            cara_http_stream_end(c->out);
        c->out = NULL;
        c->in = NULL;
        maybe_free(c);
    }
}
