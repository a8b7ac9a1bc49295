/* Per-service state in a project's status (like Kubernetes'
 * containerStatuses): derived from the step in flight for a service, else
 * from its container as last listed. */
#include <stdio.h>
#include <string.h>

#include "agent/reconcile_int.h"

static bool restartable(const cara_service *svc, int exit_code)
{
    return svc->restart == CARA_RESTART_ALWAYS ||
           (svc->restart == CARA_RESTART_ON_FAILURE && exit_code != 0);
}

static cara_svc_state from_step(step_kind kind, const svc_state *sv, char *msg, size_t cap)
{
    switch (kind) {
    case STEP_IMG_INSPECT: snprintf(msg, cap, "looking for the image"); return CARA_SVC_WAITING;
    case STEP_IMG_PULL: snprintf(msg, cap, "%s", sv->progress[0] ? sv->progress : "pulling the image");
        return CARA_SVC_PULLING;
    case STEP_CTR_CREATE: return CARA_SVC_CREATING;
    case STEP_CTR_START: return CARA_SVC_STARTING;
    case STEP_CTR_STOP:
    case STEP_CTR_REMOVE: snprintf(msg, cap, "replacing the container"); return CARA_SVC_REMOVING;
    default: return CARA_SVC_WAITING;
    }
}

static cara_svc_state from_container(const actual_ctr *c, const cara_service *svc, char *msg,
                                     size_t cap)
{
    if (c == NULL)
        return CARA_SVC_WAITING;
    if (strcmp(c->state, "running") == 0)
        return CARA_SVC_RUNNING;
    if (strcmp(c->state, "created") == 0)
        return CARA_SVC_STARTING;
    if (strcmp(c->state, "restarting") == 0) {
        snprintf(msg, cap, "the engine is restarting it");
        return CARA_SVC_STARTING;
    }
    if (strcmp(c->state, "exited") == 0) {
        snprintf(msg, cap, "exit code %d%s", c->exit_code,
                 restartable(svc, c->exit_code) ? "; it will be started again" : "");
        return !restartable(svc, c->exit_code) && c->exit_code == 0 ? CARA_SVC_COMPLETED
                                                                     : CARA_SVC_EXITED;
    }
    if (strcmp(c->state, "removing") == 0)
        return CARA_SVC_REMOVING;
    snprintf(msg, cap, "container is %s", c->state);
    return strcmp(c->state, "dead") == 0 ? CARA_SVC_FAILED : CARA_SVC_WAITING;
}

static bool same_list(const cara_service_status *a, size_t an, const cara_service_status *b,
                      size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++) {
        const char *ma = a[i].message ? a[i].message : "", *mb = b[i].message ? b[i].message : "";
        if (strcmp(a[i].name, b[i].name) != 0 || a[i].state != b[i].state ||
            a[i].restarts != b[i].restarts || strcmp(ma, mb) != 0)
            return false;
    }
    return true;
}

static void free_list(cara_env *env, cara_service_status *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cara_env_free(env, v[i].name);
        cara_env_free(env, v[i].message);
    }
    cara_env_free(env, v);
}

void recon_services_update(cara_reconciler *r, proj *p)
{
    if (p->spec == NULL || p->deleting || p->svcs == NULL)
        return; /* a project going away reports its phase only */
    size_t n = p->spec->services_count;
    cara_service_status *v = cara_env_calloc(r->env, n, sizeof *v);
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        const cara_service *svc = &p->spec->services[i];
        const svc_state *sv = &p->svcs[i];
        char msg[CARA_MESSAGE_BYTES_MAX] = "", name[CARA_OBJECT_NAME_BYTES_MAX + 1];
        cara_obj_container_name(p->spec, svc, name);
        cara_svc_state st;
        if (sv->step > 0)
            st = from_step((step_kind)(sv->step - 1), sv, msg, sizeof msg);
        else if (sv->failed[0] != '\0' && snap_find_svc(&r->snap, p->name, svc->name) == NULL) {
            /* Kubernetes' container state Waiting, reason ImagePullBackOff. */
            st = sv->pull_backoff ? CARA_SVC_WAITING : CARA_SVC_FAILED;
            snprintf(msg, sizeof msg, "%s", sv->failed);
        } else
            st = from_container(snap_find_svc(&r->snap, p->name, svc->name), svc, msg, sizeof msg);
        v[i].name = cara_env_strndup(r->env, svc->name, strlen(svc->name));
        v[i].state = st;
        v[i].message = msg[0] ? cara_env_strndup(r->env, msg, strlen(msg)) : NULL;
        v[i].restarts = sv->restarts;
        if (v[i].name == NULL || (msg[0] && v[i].message == NULL)) {
            free_list(r->env, v, n);
            return;
        }
    }
    if (same_list(v, n, p->status.services, p->status.services_count)) {
        free_list(r->env, v, n);
        return;
    }
    free_list(r->env, p->status.services, p->status.services_count);
    p->status.services = v;
    p->status.services_count = n;
    recon_emit(r, p);
}

void recon_container_died(cara_reconciler *r, proj *p, const char *service)
{
    if (p->spec == NULL || p->svcs == NULL)
        return;
    for (size_t i = 0; i < p->spec->services_count; i++) {
        if (strcmp(p->spec->services[i].name, service) != 0)
            continue;
        svc_state *sv = &p->svcs[i];
        if (sv->expect_die)
            sv->expect_die = false; /* we stopped it ourselves */
        else
            sv->restarts++;
        recon_services_update(r, p);
        return;
    }
}
