/*
 * The reconciler: makes the Docker engine hold exactly the objects of the
 * Projects this node owns, and reports each project's phase.
 *
 * It is level-triggered and keeps no state of its own about Docker: every
 * pass lists the engine's objects labelled with this node's name and
 * compares them with the desired projects, so an agent restart, a missed
 * event or an object removed behind its back all heal the same way. Events
 * only make the next pass come sooner. Each project has at most one engine
 * call in flight, so steps for one project are ordered (network, volumes,
 * image, create, start) while projects progress in parallel.
 */
#ifndef CARA_AGENT_RECONCILE_H
#define CARA_AGENT_RECONCILE_H

#include <uv.h>

#include "agent/docker.h"
#include "spec/spec.h"

typedef struct cara_reconciler cara_reconciler;

/* Called whenever a project's status changes. `status` is borrowed for the
 * call. After a Terminated report the project is forgotten. The callback
 * must not call cara_reconciler_apply or _delete (asserted): it runs in the
 * middle of a step; defer such work to the next loop turn. */
typedef void (*cara_reconciler_status_fn)(void *ctx, const char *project,
                                          const cara_project_status *status);

/* Kubernetes users see ImagePullBackOff for minutes (its back-off grows to
 * 5 min) before they conclude: at least 5 attempts over at least 4 min,
 * whichever ends later. 4, not 5: with the 1 s doubling to 60 s back-off
 * the project is given up at about 243 s, inside `caravanctl apply
 * --wait`'s default 5 min, which then prints the reason rather than a
 * timeout (docs/agent.md, "Image pulls"). */
#define CARA_RECONCILER_PULL_ATTEMPTS_DEFAULT 5
#define CARA_RECONCILER_PULL_WINDOW_MS_DEFAULT (4u * 60 * 1000)
/* Caps of the settings: beyond them a project would wait in back-off for
 * longer than anyone watches it. */
#define CARA_RECONCILER_PULL_ATTEMPTS_MAX 1000
#define CARA_RECONCILER_PULL_WINDOW_MS_MAX (7u * 86400 * 1000)

typedef struct cara_reconciler_config {
    const char *node_name;      /* borrowed; labels objects as ours */
    cara_docker *docker;        /* borrowed */
    uv_loop_t *loop;            /* borrowed */
    cara_env *env;              /* borrowed */
    uint32_t resync_interval_ms; /* full pass even without events; 0: 10 s */
    uint32_t stop_timeout_s;     /* SIGTERM-to-SIGKILL grace on removal; 0: 10 */
    /* The pool project networks' subnets are taken from (agent/netpool.h),
     * "A.B.C.D/N", and the prefix length of each; NULL and 0: the defaults
     * CARA_NETPOOL_DEFAULT and CARA_NETPOOL_PREFIX_LEN_DEFAULT. */
    const char *network_pool;       /* borrowed for the call to _new */
    uint32_t network_prefix_len;
    /* An image that cannot be pulled keeps its project in ImagePullBackOff
     * (not Failed), retried with the step back-off, until at least
     * image_pull_attempts attempts have failed and image_pull_window_ms has
     * passed since the first of them; then the project is Failed with
     * reason ImagePullFailed and that spec is not retried any more
     * (docs/agent.md, "Image pulls"). 0: the defaults below. */
    uint32_t image_pull_attempts;
    uint32_t image_pull_window_ms;
    cara_reconciler_status_fn on_status;
    void *ctx;
} cara_reconciler_config;

/* Returns 0, CARA_EINVAL (a network pool cara_netpool_init refuses) or
 * CARA_ENOMEM. */
int cara_reconciler_new(cara_reconciler **out, const cara_reconciler_config *cfg);
/* Stops streams and timers; run the loop afterwards to let handles close.
 * Containers are left running (an agent restart must not stop workloads). */
void cara_reconciler_free(cara_reconciler *r);

/* Makes `p` (taken) the desired spec of its project on this node, replacing
 * any earlier one. Returns 0 or CARA_ENOMEM (p is freed either way). */
int cara_reconciler_apply(cara_reconciler *r, cara_project *p);
/* Removes the project's objects, then reports Terminated. Unknown projects
 * are removed too (their objects are found by label). */
int cara_reconciler_delete(cara_reconciler *r, const char *project);
/* The same without the stop grace period: running containers are removed
 * at once (SIGKILL), as `caravanctl delete --force` asks. It also hastens a
 * deletion already under way. */
int cara_reconciler_delete_force(cara_reconciler *r, const char *project);
/* Declares the desired set complete (after the agent loaded its state):
 * from now on, objects of projects that are not desired are removed. */
void cara_reconciler_set_complete(cara_reconciler *r);
/* Asks for a full pass soon. */
void cara_reconciler_kick(cara_reconciler *r);

/* The id of the container of (project, service) on this node as last
 * listed, found by its labels. Returns 0 or CARA_ENOENT. */
int cara_reconciler_container_id(cara_reconciler *r, const char *project, const char *service,
                                 char *out, size_t cap);

/* Counters for /metrics and tests. */
typedef struct cara_reconciler_stats {
    uint64_t passes, steps, step_errors, events, stream_restarts, restarts;
    uint64_t pulls_given_up; /* projects reported Failed with ImagePullFailed */
} cara_reconciler_stats;
void cara_reconciler_get_stats(const cara_reconciler *r, cara_reconciler_stats *out);
/* True when every desired project's last pass found nothing to do. */
bool cara_reconciler_idle(const cara_reconciler *r);

#endif
