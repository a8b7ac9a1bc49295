/*
 * GET /v1/watch[?project=NAME | ?kind=Project|Node]: newline-delimited JSON
 * events to every open watcher, each only about the objects it asked for.
 *
 * The initial snapshot is written whole from the handler, so it may exceed
 * the steady-state stream queue cap (a few dozen projects with large env
 * values do). The stream's cap is raised for it (cara_http_stream_set_
 * queue_max): to CARA_HTTP_REPLY_BYTES_MAX while the snapshot is written,
 * then to what the snapshot left queued plus the steady-state cap, so that
 * changes arriving while the client reads the snapshot get the usual room.
 * The server drops back to the steady-state cap by itself once the client
 * has read the queue down to it (http.h). A snapshot over
 * CARA_HTTP_REPLY_BYTES_MAX fails like any reply that large would: the
 * watcher is dropped.
 */
#include <string.h>

#include "agent/agent_int.h"

enum { WATCH_PROJECTS = 1, WATCH_NODES = 2 };

/* A watcher with its filter. Every agent_watcher on a->watchers is
 * allocated here as the first member of one of these, so the list's
 * pointers may be cast back (agent_int.h keeps only the links). */
typedef struct watcher {
    agent_watcher base;
    unsigned kinds;                        /* WATCH_PROJECTS | WATCH_NODES */
    char project[CARA_CRDT_KEY_BYTES_MAX + 1]; /* "": every project */
} watcher;

static bool wants(const agent_watcher *aw, const char *kind, const char *name)
{
    const watcher *w = (const watcher *)aw;
    if (strcmp(kind, "Node") == 0)
        return (w->kinds & WATCH_NODES) != 0;
    if ((w->kinds & WATCH_PROJECTS) == 0)
        return false;
    return w->project[0] == '\0' || strcmp(w->project, name) == 0;
}

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
        if (!wants(c->w, kind, name))
            return 0;
        obj = agent_project_json(c->a, name);
        if (obj != NULL && !agent_project_visible(obj)) {
            json_decref(obj);
            obj = NULL;
        }
    } else if (r->kind == CARA_CRDT_NODE) {
        kind = "Node";
        if (!wants(c->w, kind, name))
            return 0;
        cara_node *n = NULL;
        if (cara_node_decode(c->a->env, r->value, r->value_bytes, NULL, &n) == 0) {
            obj = agent_node_json_of(c->a, n);
            agent_gossip_annotate(c->a, obj, n->name);
        }
        cara_node_free(c->a->env, n);
    }
    if (obj == NULL)
        return 0;
    c->alive = send_line(c->a, c->w, "ADDED", kind, obj);
    json_decref(obj);
    return c->alive ? 0 : 1;
}

/* Reads ?project= and ?kind= into `w`. Returns false (after answering 400)
 * for a filter that names nothing that could exist. */
static bool parse_filter(cara_http_reply *reply, watcher *w)
{
    const char *project = cara_http_reply_query(reply, "project");
    const char *kind = cara_http_reply_query(reply, "kind");
    w->kinds = WATCH_PROJECTS | WATCH_NODES;
    if (kind != NULL && strcmp(kind, "Project") == 0) {
        w->kinds = WATCH_PROJECTS;
    } else if (kind != NULL && strcmp(kind, "Node") == 0) {
        w->kinds = WATCH_NODES;
    } else if (kind != NULL) {
        cara_http_reply_error(reply, 400, "BadRequest", "kind must be Project or Node");
        return false;
    }
    if (project == NULL)
        return true;
    size_t n = strlen(project);
    if (n == 0 || n > CARA_CRDT_KEY_BYTES_MAX) {
        cara_http_reply_error(reply, 400, "BadRequest", "project must be a name of 1 to %d bytes",
                              CARA_CRDT_KEY_BYTES_MAX);
        return false;
    }
    if (w->kinds == WATCH_NODES) {
        cara_http_reply_error(reply, 400, "BadRequest", "a project filter needs kind Project");
        return false;
    }
    memcpy(w->project, project, n + 1);
    w->kinds = WATCH_PROJECTS;
    return true;
}

/* Queues an ADDED line for every object the watcher asked for; false if
 * the watcher was dropped. */
static bool send_snapshot(cara_agent *a, watcher *w)
{
    cara_http_stream *st = w->base.stream;
    int rc = cara_http_stream_set_queue_max(st, CARA_HTTP_REPLY_BYTES_MAX);
    CARA_ASSERT(rc == 0);
    snap_ctx c = {a, &w->base, true};
    if (w->project[0] != '\0') {
        /* One project: look it up rather than walk every record. */
        json_t *obj = agent_project_json(a, w->project);
        if (obj != NULL && agent_project_visible(obj))
            c.alive = send_line(a, &w->base, "ADDED", "Project", obj);
        json_decref(obj);
    } else if (cara_crdt_foreach(a->crdt, snapshot_one, &c) < 0) {
        c.alive = false; /* out of memory: an incomplete snapshot would mislead */
    }
    if (!c.alive)
        return false;
    /* Changes that arrive while the client reads the snapshot get the
     * steady-state room on top of it. */
    size_t queued = cara_http_stream_queued(st);
    size_t max = CARA_HTTP_REPLY_BYTES_MAX;
    if (queued < CARA_HTTP_REPLY_BYTES_MAX - CARA_HTTP_STREAM_QUEUE_BYTES_MAX)
        max = queued + CARA_HTTP_STREAM_QUEUE_BYTES_MAX;
    rc = cara_http_stream_set_queue_max(st, max);
    CARA_ASSERT(rc == 0);
    return true;
}

void agent_watch_open(cara_agent *a, cara_http_reply *reply)
{
    if (a->watchers_count >= AGENT_WATCHERS_MAX) {
        cara_http_reply_error(reply, 503, "TooManyWatchers", "at most %d watch streams are served",
                              AGENT_WATCHERS_MAX);
        return;
    }
    watcher filter = {0};
    if (!parse_filter(reply, &filter))
        return;
    watcher *w = cara_env_calloc(a->env, 1, sizeof *w);
    if (w == NULL) {
        cara_http_reply_error(reply, 500, "OutOfMemory", "out of memory");
        return;
    }
    *w = filter;
    w->base.agent = a;
    w->base.stream =
        cara_http_reply_stream(reply, 200, "application/x-ndjson", on_watcher_closed, w);
    if (w->base.stream == NULL) {
        cara_env_free(a->env, w);
        return;
    }
    w->base.next = a->watchers;
    a->watchers = &w->base;
    a->watchers_count++;
    send_snapshot(a, w);
}

void agent_watch_notify(cara_agent *a, const char *kind, const char *name)
{
    bool wanted = false;
    for (agent_watcher *w = a->watchers; w != NULL && !wanted; w = w->next)
        wanted = wants(w, kind, name);
    if (!wanted)
        return; /* nobody asked: do not build the object */
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
            cara_node_decode(a->env, rec.value, rec.value_bytes, NULL, &n) == 0) {
            obj = agent_node_json_of(a, n);
            agent_gossip_annotate(a, obj, n->name);
        }
        cara_node_free(a->env, n);
        if (obj == NULL)
            return;
    }
    agent_watcher *next;
    for (agent_watcher *w = a->watchers; w != NULL; w = next) {
        next = w->next;
        if (wants(w, kind, name))
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
