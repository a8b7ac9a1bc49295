/*
 * Scheduling (DESIGN.md §6), pure functions over a view of the nodes.
 *
 * Every node computes the same answers from the same replicated state:
 * the scheduler of a project is the Ready node with the highest rendezvous
 * hash of (project, node) (Thaler and Ravishankar, 1996); only it writes the
 * project's placement, so a membership change moves the scheduling duty of
 * about 1/N of the projects and no coordination is needed.
 */
#ifndef CARA_SCHED_H
#define CARA_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"
#include "spec/spec.h"

typedef struct cara_sched_node {
    const char *name;          /* borrowed */
    bool ready;                /* Ready and admitted */
    bool admitted;             /* its key is admitted (counts toward the majority) */
    bool schedulable;          /* cara_sched_node_schedulable of its record, and not
                                * cordoned or draining by the operator */
    bool cordoned;             /* the operator's NODECTL record: no new projects */
    bool draining;             /* ... and its projects are moved away (core_decide.c) */
    const cara_kv *labels;     /* borrowed */
    size_t labels_count;
    cara_resources capacity;   /* 0 fields: unknown, treated as unlimited */
    cara_resources allocated;  /* sum of the requests of projects placed there */
    uint32_t placed;           /* projects placed there (not Pending or Terminated) */
} cara_sched_node;

/* ---- Node health ---------------------------------------------------------------
 * What a node's own record says about taking new work. Its placements stay
 * where they are: pressure and an unreachable engine only keep new
 * projects away (as kubelet's pressure taints do), and readiness, which
 * decides rescheduling, is not the node's to say (DESIGN.md §4). */

/* What the agent read of its host; a part it could not read is unknown. */
typedef struct cara_host_sample {
    bool memory_known;
    uint64_t memory_available_bytes; /* /proc/meminfo MemAvailable */
    bool disk_known;
    uint64_t disk_available_bytes;   /* statvfs of the data dir: f_bavail × f_frsize */
    uint64_t disk_total_bytes;       /* f_blocks × f_frsize */
} cara_host_sample;

/* Pressure when available memory is below `memory_available_bytes_min`,
 * or available disk below `disk_available_percent_min` % of the
 * filesystem (kubelet's memory.available and nodefs.available signals). */
typedef struct cara_pressure_thresholds {
    uint64_t memory_available_bytes_min;
    uint32_t disk_available_percent_min; /* 0..100 */
} cara_pressure_thresholds;

typedef struct cara_pressure {
    cara_cond_status memory; /* True: under pressure; Unknown: not read */
    cara_cond_status disk;
} cara_pressure;

/* The pressure conditions' statuses for a sample. Pure. */
cara_pressure cara_sched_pressure(const cara_host_sample *s, const cara_pressure_thresholds *t);

/* Whether node record `n` lets new projects be placed there: not
 * cordoned (unschedulable), not Draining, neither MemoryPressure nor
 * DiskPressure True, and DockerReachable not False or Unknown. A condition
 * the record lacks (a record of an earlier version) keeps nothing away.
 * Readiness is separate (cara_sched_node.ready). */
bool cara_sched_node_schedulable(const cara_node *n);

/* The rendezvous weight of (project, node): BLAKE2b-64 over
 * "project\0node". Exposed for tests and tools. */
uint64_t cara_sched_weight(const char *project, const char *node);

/* The placement weight of (project, node): BLAKE2b-64 over
 * "place\0project\0node", a hash apart from the scheduler's, so that the
 * node that schedules a project is not, by construction, the node that
 * runs it (docs/scheduling.md, "Two hashes"). */
uint64_t cara_sched_place_weight(const char *project, const char *node);

/* Index of the project's scheduler among `nodes`, or -1 if none is ready. */
int cara_sched_scheduler_of(const char *project, const cara_sched_node *nodes, size_t count);

/* Why no node fits, for the Pending condition. */
typedef struct cara_sched_verdict {
    int index;            /* chosen node, or -1 */
    size_t not_ready;     /* nodes skipped for each reason */
    size_t unschedulable;
    size_t selector_mismatch;
    size_t insufficient;
} cara_sched_verdict;

/* Sum of a project's resource requests. */
cara_resources cara_sched_requests(const cara_project *p);

/* Picks the target node of `p`: among ready, schedulable nodes whose
 * labels include the node selector and whose free capacity (capacity less
 * `allocated`) holds the requests, the one with the fewest projects
 * placed, then the highest placement weight (cara_sched_place_weight), so
 * that load spreads and every node computing it over the same view agrees. */
cara_sched_verdict cara_sched_place(const cara_project *p, const cara_sched_node *nodes,
                                    size_t count);

/* Whether `p` could run on `n` at all: its labels include the node
 * selector and its capacity (not what is free) holds the requests. What
 * a placed project is checked against when its spec changes: a spec that
 * no longer fits its node is placed again. */
bool cara_sched_fits_node(const cara_project *p, const cara_sched_node *n);

/* Writes a one-line explanation of a verdict with index -1 ("0 of 3 nodes
 * fit: 1 not ready, 2 lack memory") into out. */
void cara_sched_explain(const cara_sched_verdict *v, size_t count, char *out, size_t cap);

/* The record of `kind` (STATUS or PLACEMENT) that node `node` wrote for
 * `project`, if its admitted key wrote one for a generation at most
 * `generation_max` (a higher one describes no spec that exists). *out
 * borrows from `s`. */
bool cara_sched_record_of_node(const cara_crdt *s, int kind, const char *project,
                               const char *node, uint64_t generation_max, cara_crdt_record *out);

/* The placement a reader takes for `project` at spec `generation`: the
 * one written by the scheduler (computed over `nodes`); without one, the
 * newest by a node ranked above the scheduler (a hint; docs/crdt.md).
 * Returns true and fills *out (borrowed from `s`); *by_scheduler says
 * whether it is the scheduler's own. */
bool cara_sched_placement_of(const cara_crdt *s, const char *project, uint64_t generation,
                             const cara_sched_node *nodes, size_t count, cara_crdt_record *out,
                             bool *by_scheduler);

#endif
