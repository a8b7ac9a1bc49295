#include "ctl/project_view.h"

#include <stdio.h>
#include <string.h>

#include "ctl/api.h"
#include "ctl/print.h"

/* RFC 3339 times in UTC with the same precision compare as text; the
 * agent writes them all the same way. Parsing keeps it right regardless. */
static void older(const char *t, int64_t *oldest_ms, const char **oldest)
{
    int64_t ms;
    if (t != NULL && cara_time_parse_rfc3339(t, strlen(t), &ms) == 0 && ms < *oldest_ms) {
        *oldest_ms = ms;
        *oldest = t;
    }
}

void ctl_project_age(const json_t *p, int64_t now_wall_ms, char *out, size_t cap)
{
    int64_t oldest_ms = INT64_MAX;
    const char *oldest = NULL;
    json_t *conds = ctl_jget(p, "status", "conditions", NULL);
    for (size_t i = 0; i < json_array_size(conds); i++)
        older(ctl_jstr(json_array_get(conds, i), "lastTransitionTime", NULL), &oldest_ms, &oldest);
    json_t *events = ctl_jget(p, "events", NULL);
    for (size_t i = 0; i < json_array_size(events); i++)
        older(ctl_jstr(json_array_get(events, i), "time", NULL), &oldest_ms, &oldest);
    ctl_age(oldest, now_wall_ms, out, cap);
}

bool ctl_service_ready(const char *state)
{
    return state != NULL && (strcmp(state, "Running") == 0 || strcmp(state, "Completed") == 0);
}

void ctl_project_services(const json_t *p, char *out, size_t cap)
{
    json_t *st = ctl_jget(p, "status", "services", NULL);
    size_t total = json_array_size(ctl_jget(p, "spec", "services", NULL));
    if (!json_is_array(st)) {
        snprintf(out, cap, "%zu", total);
        return;
    }
    size_t ready = 0;
    for (size_t i = 0; i < json_array_size(st); i++)
        ready += ctl_service_ready(ctl_jstr(json_array_get(st, i), "state", NULL));
    snprintf(out, cap, "%zu/%zu", ready, total > json_array_size(st) ? total : json_array_size(st));
}

const json_t *ctl_condition(const json_t *p, const char *type)
{
    json_t *conds = ctl_jget(p, "status", "conditions", NULL);
    for (size_t i = 0; i < json_array_size(conds); i++) {
        const char *t = ctl_jstr(json_array_get(conds, i), "type", NULL);
        if (t != NULL && strcmp(t, type) == 0)
            return json_array_get(conds, i);
    }
    return NULL;
}

const char *ctl_project_failure(const json_t *p)
{
    const json_t *c = ctl_condition(p, "Phase");
    const char *m = ctl_jstr(c, "message", NULL);
    if (m != NULL && m[0] != '\0')
        return m;
    json_t *events = ctl_jget(p, "events", NULL);
    for (size_t i = json_array_size(events); i > 0; i--) {
        const json_t *e = json_array_get(events, i - 1);
        const char *type = ctl_jstr(e, "type", NULL);
        if (type != NULL && strcmp(type, "Warning") == 0 && ctl_jstr(e, "message", NULL) != NULL)
            return ctl_jstr(e, "message", NULL);
    }
    const char *r = ctl_jstr(c, "reason", NULL);
    return r != NULL ? r : "no reason given";
}
