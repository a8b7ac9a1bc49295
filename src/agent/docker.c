/* The Docker engine client of docker.h: the HTTP client (httpc.c) bound to
 * the engine's unix socket and API version. */
#include "agent/docker.h"

#include <stdlib.h>
#include <string.h>

struct cara_docker {
    cara_env *env;
    cara_httpc *http;
};

int cara_docker_new(cara_docker **out, uv_loop_t *loop, cara_env *env,
                    const cara_docker_config *cfg)
{
    static const char prefix[] = "unix://";
    const char *host = cfg->host ? cfg->host : "unix:///var/run/docker.sock";
    if (strncmp(host, prefix, sizeof prefix - 1) != 0)
        return CARA_EINVAL;
    cara_docker *d = cara_env_calloc(env, 1, sizeof *d);
    if (d == NULL)
        return CARA_ENOMEM;
    d->env = env;
    cara_httpc_config hc = {.unix_socket = host + sizeof prefix - 1,
                            .request_timeout_ms = cfg->request_timeout_ms};
    int rc = cara_httpc_new(&d->http, loop, env, &hc);
    if (rc != 0) {
        cara_env_free(env, d);
        return rc;
    }
    *out = d;
    return 0;
}

void cara_docker_free(cara_docker *d)
{
    if (d == NULL)
        return;
    cara_httpc_free(d->http); /* finishes closing on the loop by itself */
    cara_env_free(d->env, d);
}

/* Starts METHOD on the engine's PATH; `o` carries the rest. */
static int docker_start(cara_docker *d, const char *method, const char *path, const json_t *body,
                        cara_httpc_opts *o, cara_docker_req **req_out)
{
    if (path[0] != '/')
        return CARA_EINVAL;
    cara_buf url;
    cara_buf_init(&url, d->env, 8192);
    char *json = NULL;
    static const char *const json_header[] = {"Content-Type: application/json"};
    int rc = cara_buf_printf(&url, "http://docker/%s%s", CARA_DOCKER_API_VERSION, path);
    if (rc == 0 && body != NULL && (json = json_dumps(body, JSON_COMPACT)) == NULL)
        rc = CARA_ENOMEM;
    if (rc == 0) {
        o->method = method;
        o->url = (const char *)url.data;
        o->body = json;
        if (json != NULL) {
            o->headers = json_header;
            o->headers_count = 1;
        }
        rc = cara_httpc_start(d->http, o, req_out);
    }
    free(json); /* jansson's allocator; curl copied it */
    cara_buf_free(&url);
    return rc == CARA_ETOOBIG ? CARA_EINVAL : rc;
}

int cara_docker_request(cara_docker *d, const char *method, const char *path,
                        const json_t *body, cara_docker_done_fn done, void *arg)
{
    CARA_ASSERT(done != NULL);
    cara_httpc_opts o = {.done = done, .arg = arg};
    return docker_start(d, method, path, body, &o, NULL);
}

int cara_docker_stream(cara_docker *d, const char *method, const char *path, bool lines,
                       cara_docker_data_fn data_fn, cara_docker_done_fn done, void *arg,
                       cara_docker_req **req_out)
{
    CARA_ASSERT(done != NULL && data_fn != NULL);
    cara_httpc_opts o = {.stream = true, .lines = lines, .data_fn = data_fn, .done = done,
                         .arg = arg};
    return docker_start(d, method, path, NULL, &o, req_out);
}

void cara_docker_cancel(cara_docker *d, cara_docker_req *req) { cara_httpc_cancel(d->http, req); }

size_t cara_docker_inflight(const cara_docker *d) { return cara_httpc_inflight(d->http); }

int cara_docker_urlencode(const char *s, cara_buf *out) { return cara_httpc_urlencode(s, out); }
