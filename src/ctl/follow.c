#include "ctl/follow.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/api.h"
#include "ctl/project_view.h"

/* How many distinct things (phase, conditions, services) one project's
 * progress shows; a project has at most a few dozen services. */
#define FOLLOW_ITEMS_MAX 128
#define FOLLOW_TEXT_BYTES 600
#define FOLLOW_POLL_MS 300
#define FOLLOW_RETRY_MS 500

/* ---- Lines ---------------------------------------------------------------------- */

void ctl_lines_init(ctl_lines *l, cara_env *env, int (*fn)(void *, char *, size_t), void *ctx)
{
    cara_buf_init(&l->pending, env, CTL_WATCH_LINE_BYTES_MAX);
    l->fn = fn;
    l->ctx = ctx;
    l->too_long = false;
}

int ctl_lines_feed(void *arg, const char *data, size_t len)
{
    ctl_lines *l = arg;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) : len;
        if (cara_buf_append(&l->pending, data, n) != 0) {
            l->too_long = true;
            return 1;
        }
        if (nl == NULL)
            return 0;
        data += n + 1;
        len -= n + 1;
        int stop = l->fn(l->ctx, (char *)l->pending.data, l->pending.len);
        cara_buf_reset(&l->pending);
        if (stop)
            return stop;
    }
    return 0;
}

void ctl_lines_free(ctl_lines *l) { cara_buf_free(&l->pending); }

/* ---- Progress ------------------------------------------------------------------- */

typedef struct item {
    char key[160];
    char text[FOLLOW_TEXT_BYTES];
} item;

typedef struct follow {
    const char *name;
    uint64_t generation; /* conclusions need a status about at least this spec */
    item items[FOLLOW_ITEMS_MAX];
    size_t items_count;
    enum { F_WAITING = 0, F_RUNNING, F_FAILED, F_DELETED } outcome;
    char reason[FOLLOW_TEXT_BYTES];
} follow;

/* Prints `text` under `key` unless it is what was printed last for it. */
static void show(follow *f, const char *key, const char *prefix, const char *text)
{
    item *it = NULL;
    for (size_t i = 0; i < f->items_count && it == NULL; i++)
        if (strcmp(f->items[i].key, key) == 0)
            it = &f->items[i];
    if (it == NULL && f->items_count < FOLLOW_ITEMS_MAX) {
        it = &f->items[f->items_count++];
        snprintf(it->key, sizeof it->key, "%s", key);
        it->text[0] = '\0';
    }
    if (it != NULL && strcmp(it->text, text) == 0)
        return;
    if (it != NULL)
        snprintf(it->text, sizeof it->text, "%s", text);
    printf("project/%s%s: %s\n", f->name, prefix, text);
    fflush(stdout);
}

static void show_conditions(follow *f, const json_t *p)
{
    char text[FOLLOW_TEXT_BYTES], key[160];
    const char *phase = ctl_jstr(p, "status", "phase", NULL);
    const json_t *pc = ctl_condition(p, "Phase");
    const char *pm = ctl_jstr(pc, "message", NULL);
    snprintf(text, sizeof text, "%s", pm != NULL && pm[0] ? pm : phase ? phase : "Pending");
    show(f, "phase", "", text);
    json_t *conds = ctl_jget(p, "status", "conditions", NULL);
    for (size_t i = 0; i < json_array_size(conds); i++) {
        const json_t *c = json_array_get(conds, i);
        const char *type = ctl_jstr(c, "type", NULL);
        if (type == NULL || strcmp(type, "Phase") == 0)
            continue;
        const char *m = ctl_jstr(c, "message", NULL), *r = ctl_jstr(c, "reason", NULL);
        snprintf(key, sizeof key, "cond/%s", type);
        snprintf(text, sizeof text, "%s %s%s%s", type, r ? r : ctl_jstr(c, "status", NULL),
                 m && m[0] ? ": " : "", m && m[0] ? m : "");
        show(f, key, "", text);
    }
}

/* status.services (when the agent reports it): one line per service. */
static bool show_services(follow *f, const json_t *p)
{
    json_t *svcs = ctl_jget(p, "status", "services", NULL);
    bool all_ready = true;
    char text[FOLLOW_TEXT_BYTES], key[160], prefix[96];
    for (size_t i = 0; i < json_array_size(svcs); i++) {
        const json_t *s = json_array_get(svcs, i);
        const char *name = ctl_jstr(s, "name", NULL), *state = ctl_jstr(s, "state", NULL);
        const char *m = ctl_jstr(s, "message", NULL);
        json_int_t restarts = json_integer_value(json_object_get(s, "restarts"));
        if (name == NULL)
            continue;
        all_ready &= ctl_service_ready(state);
        snprintf(key, sizeof key, "svc/%s", name);
        snprintf(prefix, sizeof prefix, " service/%.60s", name);
        int n = snprintf(text, sizeof text, "%s%s%s", state ? state : "Unknown", m && m[0] ? ": " : "",
                         m && m[0] ? m : "");
        if (restarts > 0 && n > 0 && (size_t)n < sizeof text)
            snprintf(text + n, sizeof text - (size_t)n, " (restarts: %lld)", (long long)restarts);
        show(f, key, prefix, text);
    }
    return all_ready;
}

static void evaluate(follow *f, const json_t *p)
{
    show_conditions(f, p);
    bool services_ready = show_services(f, p);
    const char *phase = ctl_jstr(p, "status", "phase", NULL);
    json_int_t observed = json_integer_value(ctl_jget(p, "status", "observedGeneration", NULL));
    if (phase == NULL || (uint64_t)observed < f->generation)
        return; /* about an older spec: progress only */
    if (strcmp(phase, "Failed") == 0) {
        f->outcome = F_FAILED;
        /* The Phase message starts with the phase's name; the caller's
         * sentence already says "failed". */
        const char *why = ctl_project_failure(p);
        if (strncmp(why, "Failed: ", 8) == 0)
            why += 8;
        snprintf(f->reason, sizeof f->reason, "%s", why);
    } else if (strcmp(phase, "Running") == 0 && services_ready) {
        f->outcome = F_RUNNING;
    } else if (strcmp(phase, "Terminating") == 0 || strcmp(phase, "Terminated") == 0) {
        f->outcome = F_DELETED;
    }
}

/* The agent sends only this project's events; the name is checked all the
 * same, for an agent that predates the ?project= filter. */
static int on_event(void *ctx, char *line, size_t len)
{
    follow *f = ctx;
    json_t *ev = ctl_json_load_clean(line, len, NULL);
    const char *kind = ctl_jstr(ev, "kind", NULL), *type = ctl_jstr(ev, "type", NULL);
    const char *name = ctl_jstr(ev, "object", "metadata", "name", NULL);
    if (kind != NULL && strcmp(kind, "Project") == 0 && name != NULL &&
        strcmp(name, f->name) == 0) {
        if (type != NULL && strcmp(type, "DELETED") == 0)
            f->outcome = F_DELETED;
        else
            evaluate(f, json_object_get(ev, "object"));
    }
    json_decref(ev);
    return f->outcome != F_WAITING;
}

/* Large (about 100 KiB), and a process follows one project at a time. */
static follow the_follow;

static follow *follow_start(const char *name)
{
    memset(&the_follow, 0, sizeof the_follow);
    the_follow.name = name;
    return &the_follow;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ctl_follow_until_running(ctl_client *c, const char *name, uint64_t generation,
                             uint64_t deadline_mono_ms)
{
    follow *f = follow_start(name);
    f->generation = generation;
    /* Only this project's events: the snapshot of an unfiltered watch is
     * every object on the node. The target is signed as sent, query and
     * all, and a project name needs no escaping (DNS label characters). */
    if (!ctl_name_valid(name))
        return ctl_fail("not a project name: \"%s\"", name);
    char target[64 + CARA_CRDT_KEY_BYTES_MAX];
    snprintf(target, sizeof target, "/v1/watch?project=%s", name);
    ctl_lines lines;
    int rc = CTL_STREAM_ENDED;
    for (;;) {
        uint64_t now = cara_env_now_mono_ms(c->env);
        if (now >= deadline_mono_ms) {
            rc = CTL_STREAM_TIMEOUT;
            break;
        }
        ctl_lines_init(&lines, c->env, on_event, f);
        rc = ctl_http_stream(c, target, (int64_t)(deadline_mono_ms - now), ctl_lines_feed,
                             &lines, NULL);
        bool too_long = lines.too_long;
        ctl_lines_free(&lines);
        if (too_long)
            return ctl_fail("a watch event is longer than %d bytes", CTL_WATCH_LINE_BYTES_MAX);
        if (rc == CTL_STREAM_STOPPED || rc == CTL_STREAM_TIMEOUT || rc == CTL_STREAM_REFUSED)
            break;
        if (rc == CTL_STREAM_FAILED && f->items_count == 0)
            return CTL_EXIT_FAIL; /* never connected: reported */
        sleep_ms(FOLLOW_RETRY_MS); /* the stream ended: open it again */
    }
    if (rc == CTL_STREAM_REFUSED)
        return CTL_EXIT_FAIL;
    switch (f->outcome) {
    case F_RUNNING: return CTL_EXIT_OK;
    case F_FAILED: return ctl_fail("project \"%s\" failed: %s", name, f->reason);
    case F_DELETED: return ctl_fail("project \"%s\" is being deleted", name);
    default: return ctl_fail("project \"%s\" is not Running after the timeout", name);
    }
}

int ctl_follow_until_gone(ctl_client *c, const char *name, uint64_t deadline_mono_ms)
{
    follow *f = follow_start(name);
    for (;;) {
        json_t *p = NULL;
        int rc = ctl_api_project(c, name, &p);
        if (rc != 0)
            return rc;
        const char *phase = ctl_jstr(p, "status", "phase", NULL);
        bool gone = p == NULL || (phase != NULL && strcmp(phase, "Terminated") == 0);
        if (!gone)
            show_conditions(f, p);
        json_decref(p);
        if (gone)
            return CTL_EXIT_OK;
        if (cara_env_now_mono_ms(c->env) >= deadline_mono_ms)
            return ctl_fail("project \"%s\" still exists after the timeout", name);
        sleep_ms(FOLLOW_POLL_MS);
    }
}
