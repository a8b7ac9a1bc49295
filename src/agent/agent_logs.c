/* GET /v1/projects/NAME/logs: a service's output from the engine, with
 * Docker's multiplexed frames decoded into plain text. */
#include <stdio.h>
#include <string.h>

#include "agent/agent_int.h"

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

void agent_logs_open(cara_agent *a, const cara_http_request *req, cara_http_reply *reply,
                     const char *project, bool from_node)
{
    (void)from_node;
    const char *service = cara_http_query(req, "service");
    const char *tail = cara_http_query(req, "tail");
    cara_project *spec = NULL;
    cara_project_status *st = NULL;
    uint64_t gen;
    bool deleted;
    bool known = agent_load_project(a, project, &spec, &st, &gen, &deleted) == 0 && spec != NULL;
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
        cara_http_reply_error(reply, 409, "NotOwnedHere",
                              owner_copy[0] ? "project \"%s\" runs on node %s; ask that node"
                                            : "project \"%s\" is not placed on a node yet%s",
                              project, owner_copy);
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
