/* GET /v1/watch: newline-delimited JSON events to every open watcher. */
#include <string.h>

#include "agent/agent_int.h"

static void unlink_watcher(cara_agent *a, agent_watcher *w)
{
    for (agent_watcher **pp = &a->watchers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            a->watchers_count--;
            break;
        }
    }
    cara_env_free(a->env, w);
}

static void on_watcher_closed(void *ctx, cara_http_stream *st)
{
    agent_watcher *w = ctx;
    (void)st;
    unlink_watcher(w->agent, w);
}

/* Writes one event line; a watcher that does not keep up is dropped (its
 * stream ends) rather than buffered without bound. Returns false if the
 * watcher is gone. */
static bool send_line(cara_agent *a, agent_watcher *w, const char *type, const char *kind,
                      json_t *object)
{
    json_t *ev = json_pack("{s:s, s:s, s:O}", "type", type, "kind", kind, "object", object);
    char *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    int rc = CARA_ENOMEM;
    if (text != NULL) {
        size_t n = strlen(text);
        text[n] = '\n'; /* json_dumps leaves room for its NUL: reuse it */
        rc = cara_http_stream_write(w->stream, text, n + 1);
        free(text);
    }
    if (rc != 0) {
        cara_env_logf(a->env, CARA_LOG_WARN, "api", "dropping a watcher that does not keep up");
        cara_http_stream_end(w->stream);
        unlink_watcher(a, w);
        return false;
    }
    return true;
}

typedef struct snap_ctx {
    cara_agent *a;
    agent_watcher *w;
    bool alive;
} snap_ctx;

static int snapshot_one(void *ctx, const cara_crdt_record *r, const uint8_t *b, size_t l)
{
    (void)b;
    (void)l;
    snap_ctx *c = ctx;
    char name[CARA_CRDT_KEY_BYTES_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)r->key_bytes, (const char *)r->key);
    json_t *obj = NULL;
    const char *kind = "Project";
    if (r->kind == CARA_CRDT_PROJECT || r->kind == CARA_CRDT_TOMBSTONE) {
        obj = agent_project_json(c->a, name);
        if (obj != NULL && !agent_project_visible(obj)) {
            json_decref(obj);
            obj = NULL;
        }
    } else if (r->kind == CARA_CRDT_NODE) {
        cara_node *n = NULL;
        if (cara_node_decode(c->a->env, r->value, r->value_bytes, NULL, &n) == 0)
            obj = cara_node_to_json(n);
        cara_node_free(c->a->env, n);
        kind = "Node";
    }
    if (obj == NULL)
        return 0;
    c->alive = send_line(c->a, c->w, "ADDED", kind, obj);
    json_decref(obj);
    return c->alive ? 0 : 1;
}

void agent_watch_open(cara_agent *a, cara_http_reply *reply)
{
    if (a->watchers_count >= AGENT_WATCHERS_MAX) {
        cara_http_reply_error(reply, 503, "TooManyWatchers", "at most %d watch streams are served",
                              AGENT_WATCHERS_MAX);
        return;
    }
    agent_watcher *w = cara_env_calloc(a->env, 1, sizeof *w);
    if (w == NULL) {
        cara_http_reply_error(reply, 500, "OutOfMemory", "out of memory");
        return;
    }
    w->agent = a;
    w->stream = cara_http_reply_stream(reply, 200, "application/x-ndjson", on_watcher_closed, w);
    if (w->stream == NULL) {
        cara_env_free(a->env, w);
        return;
    }
    w->next = a->watchers;
    a->watchers = w;
    a->watchers_count++;
    snap_ctx c = {a, w, true};
    cara_crdt_foreach(a->crdt, snapshot_one, &c);
}

void agent_watch_notify(cara_agent *a, const char *kind, const char *name)
{
    if (a->watchers == NULL)
        return;
    json_t *obj = NULL;
    const char *type = "MODIFIED";
    if (strcmp(kind, "Project") == 0) {
        obj = agent_project_json(a, name);
        if (obj == NULL || !agent_project_visible(obj)) {
            json_decref(obj);
            obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", CARA_API_VERSION, "kind",
                            "Project", "metadata", "name", name);
            type = "DELETED";
        }
    } else {
        cara_crdt_record rec;
        cara_node *n = NULL;
        if (cara_crdt_get(a->crdt, CARA_CRDT_NODE, (const uint8_t *)name, strlen(name), &rec) == 0 &&
            cara_node_decode(a->env, rec.value, rec.value_bytes, NULL, &n) == 0)
            obj = cara_node_to_json(n);
        cara_node_free(a->env, n);
        if (obj == NULL)
            return;
    }
    agent_watcher *next;
    for (agent_watcher *w = a->watchers; w != NULL; w = next) {
        next = w->next;
        send_line(a, w, type, kind, obj);
    }
    json_decref(obj);
}

void agent_watch_close_all(cara_agent *a)
{
    while (a->watchers != NULL) {
        agent_watcher *w = a->watchers;
        cara_http_stream_end(w->stream);
        unlink_watcher(a, w);
    }
}
