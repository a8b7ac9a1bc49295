/* An image that cannot be had: the project waits in ImagePullBackOff,
 * retried with the step back-off, and is reported Failed (ImagePullFailed)
 * only once the failures have lasted past a bound (docs/agent.md, "Image
 * pulls").
 *
 * Why not Failed at once, as other steps are: a pull fails for reasons
 * that pass by themselves (a registry that is down or rate-limits, a
 * network that is not up yet, an image pushed a minute after the apply),
 * and Kubernetes users expect exactly this. Their pod stays Pending, its
 * container Waiting with reason ErrImagePull then ImagePullBackOff, and
 * the kubelet retries with a back-off of 10 s doubling to 5 min. Kubelet
 * never gives up; a Deployment marks itself not progressing after its
 * progress deadline (10 min). Here the project is given up after a bound,
 * so that `apply --wait` and scripts get an answer, as Nomad's restart
 * policy (attempts within an interval, then "fail") gives one. */
#include <stdio.h>
#include <string.h>

#include "agent/reconcile_int.h"

void recon_image_ok(svc_state *sv)
{
    sv->pull_failures = 0;
    sv->pull_first_failed_mono_ms = 0;
}

/* Whether the failures of `sv` have lasted past the bound: so many
 * attempts, and so long since the first, whichever ends later. */
static bool past_bound(const cara_reconciler *r, const svc_state *sv, uint64_t now_mono_ms)
{
    return sv->pull_failures >= r->cfg.image_pull_attempts &&
           now_mono_ms - sv->pull_first_failed_mono_ms >= r->cfg.image_pull_window_ms;
}

/* The phase a project waiting for its image shows: what it was, since
 * nothing of it failed for good, except that an earlier step's Failed is
 * over (the plan got past it to the image). */
static cara_phase waiting_phase(const proj *p)
{
    return p->status.phase == CARA_PHASE_FAILED ? CARA_PHASE_SCHEDULED : p->status.phase;
}

static void give_up(cara_reconciler *r, proj *p, const step *s, svc_state *sv, const char *msg,
                    uint64_t now_mono_ms)
{
    uint64_t over_s = (now_mono_ms - sv->pull_first_failed_mono_ms) / 1000;
    r->stats.step_errors++;
    r->stats.pulls_given_up++;
    p->pull_gave_up = true;
    snprintf(p->failed_msg, sizeof p->failed_msg, "%s", msg);
    snprintf(sv->failed, sizeof sv->failed, "ImagePullFailed: %.*s", (int)sizeof sv->failed - 64,
             msg);
    cara_env_logf(r->env, CARA_LOG_WARN, "reconcile",
                  "project=%s service=%s image=%s gave up after %u failed attempts over %llu s",
                  p->name, s->service, s->image, sv->pull_failures, (unsigned long long)over_s);
    recon_services_update(r, p);
    recon_set_condition(r, p, "ImagePulling", CARA_COND_FALSE, "ImagePullFailed",
                        "gave up pulling %s after %u failed attempts over %llu s", s->image,
                        sv->pull_failures, (unsigned long long)over_s);
    recon_set_phase(r, p, CARA_PHASE_FAILED, "ImagePullFailed",
                    "pull image %s: %s (gave up after %u failed attempts over %llu s; apply a "
                    "new spec to try again)",
                    s->image, msg, sv->pull_failures, (unsigned long long)over_s);
}

void recon_image_failed(cara_reconciler *r, proj *p, const step *s, svc_state *sv, bool counted,
                        const char *msg)
{
    uint64_t now = cara_env_now_mono_ms(r->env);
    if (counted && !p->deleting) {
        if (sv->pull_failures == 0)
            sv->pull_first_failed_mono_ms = now;
        if (sv->pull_failures < UINT32_MAX)
            sv->pull_failures++;
        if (past_bound(r, sv, now)) {
            give_up(r, p, s, sv, msg, now);
            return;
        }
    }
    recon_back_off(r, p);
    if (p->deleting)
        return; /* it stays Terminating; the removal goes on */
    /* The next attempt on the wall clock, to the second, for people. */
    int64_t next_wall_ms = cara_env_now_wall_ms(r->env) + (int64_t)p->retry_backoff_ms;
    char next[CARA_TIME_TEXT_BYTES];
    if (cara_time_format_rfc3339((next_wall_ms + 999) / 1000 * 1000, next) != 0)
        snprintf(next, sizeof next, "later");
    snprintf(sv->failed, sizeof sv->failed,
             "ImagePullBackOff: %.*s; %u failed attempt(s), next at %s",
             (int)sizeof sv->failed - 96, msg, sv->pull_failures, next);
    sv->pull_backoff = true;
    recon_services_update(r, p);
    recon_set_condition(r, p, "ImagePulling", CARA_COND_FALSE, "ImagePullBackOff",
                        "back-off pulling %s: %u failed attempt(s), next at %s: %s", s->image,
                        sv->pull_failures, next, msg);
    recon_set_phase(r, p, waiting_phase(p), "ImagePullBackOff",
                    "service %s: back-off pulling image %s, next attempt at %s: %s", s->service,
                    s->image, next, msg);
}
