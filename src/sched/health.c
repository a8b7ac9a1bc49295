/*
 * Node health as scheduling reads it (sched.h, "Node health"). Pure: a
 * sample or a node record in, statuses and a verdict out; cara-agent reads
 * the host (src/os) and the simulator makes samples up.
 */
#include <string.h>

#include "sched/sched.h"

/* floor(total × percent / 100) without overflowing 64 bits. */
static uint64_t percent_of(uint64_t total, uint32_t percent)
{
    return total / 100 * percent + total % 100 * percent / 100;
}

cara_pressure cara_sched_pressure(const cara_host_sample *s, const cara_pressure_thresholds *t)
{
    CARA_ASSERT(s != NULL && t != NULL && t->disk_available_percent_min <= 100);
    cara_pressure p = {.memory = CARA_COND_UNKNOWN, .disk = CARA_COND_UNKNOWN};
    if (s->memory_known)
        p.memory = s->memory_available_bytes < t->memory_available_bytes_min ? CARA_COND_TRUE
                                                                            : CARA_COND_FALSE;
    /* A filesystem that reports no size (some pseudo filesystems) tells
     * nothing: unknown rather than "0 of 0 is below 10 %". */
    if (s->disk_known && s->disk_total_bytes > 0)
        p.disk = s->disk_available_bytes < percent_of(s->disk_total_bytes,
                                                      t->disk_available_percent_min)
                     ? CARA_COND_TRUE
                     : CARA_COND_FALSE;
    return p;
}

static bool condition_is(const cara_node *n, const char *type, cara_cond_status status)
{
    const cara_condition *c = cara_node_condition(n, type);
    return c != NULL && c->status == status;
}

bool cara_sched_node_schedulable(const cara_node *n)
{
    CARA_ASSERT(n != NULL);
    return !n->unschedulable && n->state != CARA_NODE_DRAINING &&
           !condition_is(n, CARA_NODE_COND_MEMORY_PRESSURE, CARA_COND_TRUE) &&
           !condition_is(n, CARA_NODE_COND_DISK_PRESSURE, CARA_COND_TRUE) &&
           !condition_is(n, CARA_NODE_COND_DOCKER_REACHABLE, CARA_COND_FALSE) &&
           !condition_is(n, CARA_NODE_COND_DOCKER_REACHABLE, CARA_COND_UNKNOWN);
}
