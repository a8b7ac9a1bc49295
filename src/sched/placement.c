/*
 * What a project's placement is, read from the per-author PLACEMENT
 * records (docs/crdt.md, "One writer per record"). Pure: the replicated
 * state and a view of the nodes in, a record out; cara-agent and the
 * simulator read placements through this one function.
 */
#include <string.h>

#include "sched/sched.h"

bool cara_sched_record_of_node(const cara_crdt *s, int kind, const char *project,
                               const char *node, uint64_t generation_max, cara_crdt_record *out)
{
    uint8_t pk[CARA_CRDT_PK_BYTES];
    if (node == NULL || cara_crdt_node_key_of(s, node, pk) != 0 ||
        cara_crdt_get_by(s, kind, (const uint8_t *)project, strlen(project), pk, out) != 0)
        return false;
    return out->generation <= generation_max;
}

/* Is placement `r` by a node of weight `w` a better hint than `best` (by
 * a node of weight `best_w`)? Newer generation, then newer HLC, then the
 * higher weight: the same answer on every node. */
static bool better_hint(const cara_crdt_record *r, uint64_t w, const cara_crdt_record *best,
                        uint64_t best_w, bool have)
{
    if (!have || r->generation != best->generation)
        return !have || r->generation > best->generation;
    if (r->hlc != best->hlc)
        return r->hlc > best->hlc;
    return w > best_w;
}

/* cara_sched_placement_of: the placement a node reads for `project`: the
 * newest written by its scheduler or by a node that ranks above the
 * scheduler, which is to say a node that was the scheduler while it was
 * Ready (it outranks the present one). Taking the newest of them, not the
 * scheduler's own first, makes readers whose views of membership differ
 * (one holds the higher node Ready, the other not yet or no longer) read
 * the same placement: the last decision made, by whichever of them made
 * it. A node ranked below the scheduler can never have been it while the
 * scheduler was Ready, so what it writes is not read here: that is what
 * keeps a hostile node's placement from steering projects (the node
 * object has one narrower fallback: docs/scheduling.md). *by_scheduler
 * says whether the answer is the scheduler's own. */
bool cara_sched_placement_of(const cara_crdt *s, const char *project, uint64_t generation,
                             const cara_sched_node *nodes, size_t count, cara_crdt_record *out,
                             bool *by_scheduler)
{
    *by_scheduler = false;
    int sched = cara_sched_scheduler_of(project, nodes, count);
    uint64_t floor_w = sched >= 0 ? cara_sched_weight(project, nodes[sched].name) : 0;
    uint64_t best_w = 0;
    bool have = false;
    for (size_t i = 0; i < count; i++) {
        cara_crdt_record r;
        uint64_t w = cara_sched_weight(project, nodes[i].name);
        if ((sched >= 0 && w < floor_w) ||
            !cara_sched_record_of_node(s, CARA_CRDT_PLACEMENT, project, nodes[i].name, generation, &r))
            continue;
        if (better_hint(&r, w, out, best_w, have)) {
            *out = r;
            best_w = w;
            have = true;
            *by_scheduler = sched >= 0 && (int)i == sched;
        }
    }
    return have;
}
