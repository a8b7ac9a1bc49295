#include "sched/sched.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static uint64_t weight(const char *salt, const char *project, const char *node)
{
    crypto_generichash_state st;
    uint8_t out[8];
    crypto_generichash_init(&st, NULL, 0, sizeof out);
    if (salt != NULL)
        crypto_generichash_update(&st, (const uint8_t *)salt, strlen(salt) + 1);
    crypto_generichash_update(&st, (const uint8_t *)project, strlen(project) + 1);
    crypto_generichash_update(&st, (const uint8_t *)node, strlen(node));
    crypto_generichash_final(&st, out, sizeof out);
    uint64_t w = 0;
    for (size_t i = 0; i < sizeof out; i++)
        w = (w << 8) | out[i];
    return w;
}

uint64_t cara_sched_weight(const char *project, const char *node)
{
    return weight(NULL, project, node);
}

uint64_t cara_sched_place_weight(const char *project, const char *node)
{
    return weight("place", project, node);
}

/* Highest weight wins; equal weights (2^-64) fall back to the name, so the
 * answer never depends on the order of `nodes`. */
static bool beats(const char *project, const cara_sched_node *a, uint64_t wa,
                  const cara_sched_node *best, uint64_t wbest)
{
    (void)project;
    if (best == NULL)
        return true;
    if (wa != wbest)
        return wa > wbest;
    return strcmp(a->name, best->name) > 0;
}

int cara_sched_scheduler_of(const char *project, const cara_sched_node *nodes, size_t count)
{
    int best = -1;
    uint64_t wbest = 0;
    for (size_t i = 0; i < count; i++) {
        if (!nodes[i].ready)
            continue;
        uint64_t w = cara_sched_weight(project, nodes[i].name);
        if (beats(project, &nodes[i], w, best < 0 ? NULL : &nodes[best], wbest)) {
            best = (int)i;
            wbest = w;
        }
    }
    return best;
}

cara_resources cara_sched_requests(const cara_project *p)
{
    cara_resources r = {0};
    for (size_t i = 0; i < p->services_count; i++) {
        r.cpu_millis += p->services[i].resources.cpu_millis;
        r.memory_bytes += p->services[i].resources.memory_bytes;
    }
    return r;
}

static bool selector_matches(const cara_project *p, const cara_sched_node *n)
{
    for (size_t i = 0; i < p->node_selector_count; i++) {
        bool found = false;
        for (size_t j = 0; j < n->labels_count && !found; j++)
            found = strcmp(p->node_selector[i].name, n->labels[j].name) == 0 &&
                    strcmp(p->node_selector[i].value, n->labels[j].value) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool fits(uint64_t want, uint64_t capacity, uint64_t allocated)
{
    if (want == 0 || capacity == 0)
        return true;
    return allocated <= capacity && want <= capacity - allocated;
}

bool cara_sched_fits_node(const cara_project *p, const cara_sched_node *n)
{
    cara_resources want = cara_sched_requests(p);
    return selector_matches(p, n) && fits(want.cpu_millis, n->capacity.cpu_millis, 0) &&
           fits(want.memory_bytes, n->capacity.memory_bytes, 0);
}

cara_sched_verdict cara_sched_place(const cara_project *p, const cara_sched_node *nodes,
                                    size_t count)
{
    cara_sched_verdict v = {.index = -1};
    cara_resources want = cara_sched_requests(p);
    uint64_t wbest = 0;
    for (size_t i = 0; i < count; i++) {
        const cara_sched_node *n = &nodes[i];
        if (!n->ready) {
            v.not_ready++;
            continue;
        }
        if (!n->schedulable) {
            v.unschedulable++;
            continue;
        }
        if (!selector_matches(p, n)) {
            v.selector_mismatch++;
            continue;
        }
        if (!fits(want.cpu_millis, n->capacity.cpu_millis, n->allocated.cpu_millis) ||
            !fits(want.memory_bytes, n->capacity.memory_bytes, n->allocated.memory_bytes)) {
            v.insufficient++;
            continue;
        }
        uint64_t w = cara_sched_place_weight(p->name, n->name);
        const cara_sched_node *best = v.index < 0 ? NULL : &nodes[v.index];
        if (best != NULL && n->placed != best->placed) {
            if (n->placed < best->placed) {
                v.index = (int)i;
                wbest = w;
            }
            continue;
        }
        if (beats(p->name, n, w, best, wbest)) {
            v.index = (int)i;
            wbest = w;
        }
    }
    return v;
}

void cara_sched_explain(const cara_sched_verdict *v, size_t count, char *out, size_t cap)
{
    if (count == 0) {
        snprintf(out, cap, "no admitted node is known");
        return;
    }
    snprintf(out, cap, "0 of %zu nodes fit: %zu not ready, %zu unschedulable, "
                       "%zu do not match the node selector, %zu lack cpu or memory",
             count, v->not_ready, v->unschedulable, v->selector_mismatch, v->insufficient);
}
