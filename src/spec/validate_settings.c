/*
 * Validation of the cluster settings (docs/manifest.md, "Cluster settings").
 * The binder reads each timer as any uint32_t and leaves the ranges to this
 * file, so that the rules tying timers together are checked against the
 * values the input gave, never against a default standing in for a value
 * that was refused.
 */
#include <inttypes.h>
#include <string.h>

#include "spec/validate_int.h"

typedef struct timer_rule {
    const char *path;
    size_t off;
    uint32_t min, max;
} timer_rule;

#define TIMER(name, member, lo, hi) \
    {"timers." name, offsetof(cara_settings_timers, member), (lo), (hi)}

static const timer_rule timer_rules[] = {
    TIMER("fenceTimeoutSeconds", fence_timeout_s, CARA_SETTINGS_FENCE_SECONDS_MIN,
          CARA_SETTINGS_FENCE_SECONDS_MAX),
    TIMER("rescheduleGraceSeconds", reschedule_grace_s, CARA_SETTINGS_GRACE_SECONDS_MIN,
          CARA_SETTINGS_GRACE_SECONDS_MAX),
    TIMER("terminatingTimeoutSeconds", terminating_timeout_s,
          CARA_SETTINGS_TERMINATING_SECONDS_MIN, CARA_SETTINGS_TERMINATING_SECONDS_MAX),
    TIMER("tombstoneHorizonSeconds", tombstone_horizon_s, CARA_SETTINGS_HORIZON_SECONDS_MIN,
          CARA_SETTINGS_HORIZON_SECONDS_MAX),
    TIMER("clockSkewSeconds", clock_skew_s, CARA_SETTINGS_SKEW_SECONDS_MIN,
          CARA_SETTINGS_SKEW_SECONDS_MAX),
};

/* Returns whether every timer is within its range. */
static bool check_timer_ranges(vctx *v, const cara_settings_timers *t)
{
    bool ok = true;
    for (size_t i = 0; i < sizeof timer_rules / sizeof *timer_rules; i++) {
        const timer_rule *r = &timer_rules[i];
        uint32_t value;
        memcpy(&value, (const unsigned char *)t + r->off, sizeof value);
        if (value < r->min || value > r->max) {
            verr(v, r->path, "must be between %" PRIu32 " and %" PRIu32 ", got %" PRIu32, r->min,
                 r->max, value);
            ok = false;
        }
    }
    return ok;
}

/* DESIGN.md §6: a node cut off from a majority stops its projects after the
 * fence timeout, and the cluster starts them elsewhere after the grace.
 * The grace is judged by another node, from the silent node's own
 * heartbeat stamps, so the judge's clock may run ahead of the silent
 * node's by up to the skew bound: the grace must outlast the fence by more
 * than that, or both copies could run at once. */
static void check_timer_relations(vctx *v, const cara_settings_timers *t)
{
    const char *path = "timers.rescheduleGraceSeconds";
    if (t->reschedule_grace_s <= t->fence_timeout_s) {
        verr(v, path,
             "must be greater than fenceTimeoutSeconds (%" PRIu32 "), got %" PRIu32
             ": a node cut off from the cluster must stop its projects before they start elsewhere",
             t->fence_timeout_s, t->reschedule_grace_s);
    } else if (t->reschedule_grace_s - t->fence_timeout_s <= t->clock_skew_s) {
        verr(v, path,
             "must exceed fenceTimeoutSeconds (%" PRIu32 ") by more than clockSkewSeconds (%" PRIu32
             "), got %" PRIu32 ": clocks that far apart could start a project elsewhere before "
             "its old node has stopped it",
             t->fence_timeout_s, t->clock_skew_s, t->reschedule_grace_s);
    }
}

/* The ingress host rule makes "{host}.{environment}.{baseDomain}" of any
 * host label, which may be 63 bytes: the settings must leave room for it,
 * so that no valid project can ever be given a name too long for DNS. */
static void check_host_room(vctx *v, const cara_settings *s)
{
    size_t fqdn = CARA_NAME_BYTES_MAX + 1 + strlen(s->environment) + 1 + strlen(s->base_domain);
    if (fqdn > CARA_HOSTNAME_BYTES_MAX)
        verr(v, "baseDomain",
             "leaves no room for ingress hosts: \"{63-byte label}.{environment}.{baseDomain}\" "
             "would be %zu bytes, over the %d of a DNS name (environment and baseDomain may "
             "total %d bytes)",
             fqdn, CARA_HOSTNAME_BYTES_MAX, CARA_HOSTNAME_BYTES_MAX - CARA_NAME_BYTES_MAX - 2);
}

int cara_settings_validate(const cara_settings *s, cara_diags *d)
{
    CARA_ASSERT(s != NULL && d != NULL);
    vctx v = {.d = d};
    char q[QUOTE_BYTES];
    check_dns_label(&v, "environment", s->environment);
    bool env_ok = s->environment != NULL && cara_dns_label_valid(s->environment,
                                                                  strlen(s->environment));
    bool base_ok = false;
    if (check_required(&v, "baseDomain", s->base_domain)) {
        base_ok = cara_dns_name_valid(s->base_domain, strlen(s->base_domain));
        if (!base_ok) {
            quote(q, sizeof q, s->base_domain, strlen(s->base_domain));
            verr(&v, "baseDomain",
                 "%s is not a DNS name (DNS labels separated by dots, at most %d characters)", q,
                 CARA_HOSTNAME_BYTES_MAX);
        }
    }
    if (env_ok && base_ok)
        check_host_room(&v, s);
    if (check_timer_ranges(&v, &s->timers))
        check_timer_relations(&v, &s->timers);
    return v.bad ? CARA_ESCHEMA : 0;
}
