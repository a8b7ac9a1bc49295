/*
 * An index from a key to the slot that holds it in a caller's table: open
 * addressing with linear probing over a power-of-two array of cells, each
 * holding slot + 1 (0 is empty), and deletion by backward shift (Knuth,
 * TAOCP vol. 3, algorithm 6.4R), so no tombstones pile up however often
 * members come and go. The caller keeps the keys; the index keeps only
 * slot numbers, and asks the caller to compare a key and to rehash a slot.
 *
 * The tables of the node object are sized for a thousand members and
 * looked up on every message; a scan of them is what made a large
 * simulated cluster slow (docs/sim.md, "Speed and scale").
 */
#ifndef CARA_BASE_SLOTIDX_H
#define CARA_BASE_SLOTIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/env.h"

typedef struct cara_slotidx {
    uint32_t *cells; /* owned: slot + 1, 0 for an empty cell */
    size_t mask;     /* cells - 1 */
} cara_slotidx;

/* Does `slot` of the caller's table hold the key sought? */
typedef bool (*cara_slotidx_match_fn)(const void *ctx, size_t slot);
/* The hash of the key held in `slot`. */
typedef uint64_t (*cara_slotidx_hash_fn)(const void *ctx, size_t slot);

#define CARA_SLOTIDX_NONE SIZE_MAX

/* `cells` a power of two, at least twice the slots the table may hold
 * (a probe run then stays short, and there is always an empty cell).
 * 0 or CARA_ENOMEM; freed by cara_slotidx_free. */
int cara_slotidx_init(cara_slotidx *x, cara_env *env, size_t cells);
void cara_slotidx_free(cara_slotidx *x, cara_env *env);
/* The slot whose key has hash `h` and matches, or CARA_SLOTIDX_NONE. */
size_t cara_slotidx_find(const cara_slotidx *x, uint64_t h, cara_slotidx_match_fn match,
                         const void *ctx);
/* Records `slot` under `h`; the key must not be indexed already. */
void cara_slotidx_put(cara_slotidx *x, uint64_t h, size_t slot);
/* Forgets `slot`, indexed under `h`; `hash` rehashes the slots that follow
 * it in its run. */
void cara_slotidx_del(cara_slotidx *x, uint64_t h, size_t slot, cara_slotidx_hash_fn hash,
                      const void *ctx);
/* The key indexed under `h` at slot `from` has moved to slot `to`. */
void cara_slotidx_move(cara_slotidx *x, uint64_t h, size_t from, size_t to);

#endif
