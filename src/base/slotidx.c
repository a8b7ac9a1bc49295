/* An index from a key's hash to a slot of the caller's table (slotidx.h). */
#include "base/slotidx.h"

#include "base/assert.h"
#include "base/error.h"

int cara_slotidx_init(cara_slotidx *x, cara_env *env, size_t cells)
{
    CARA_ASSERT(cells >= 2 && (cells & (cells - 1)) == 0);
    x->cells = cara_env_calloc(env, cells, sizeof *x->cells);
    x->mask = cells - 1;
    return x->cells == NULL ? CARA_ENOMEM : 0;
}

void cara_slotidx_free(cara_slotidx *x, cara_env *env)
{
    cara_env_free(env, x->cells);
    x->cells = NULL;
}

static size_t home_of(const cara_slotidx *x, uint64_t h)
{
    return (size_t)(h ^ (h >> 32)) & x->mask;
}

/* The cell holding `slot`, found from its home cell. */
static size_t cell_of(const cara_slotidx *x, uint64_t h, size_t slot)
{
    size_t c = home_of(x, h);
    for (size_t n = 0; n <= x->mask; n++, c = (c + 1) & x->mask)
        if (x->cells[c] == slot + 1)
            return c;
    CARA_ASSERT(!"a slot is indexed under its hash");
    return 0;
}

size_t cara_slotidx_find(const cara_slotidx *x, uint64_t h, cara_slotidx_match_fn match,
                         const void *ctx)
{
    size_t c = home_of(x, h);
    for (size_t n = 0; n <= x->mask && x->cells[c] != 0; n++, c = (c + 1) & x->mask)
        if (match(ctx, x->cells[c] - 1))
            return x->cells[c] - 1;
    return CARA_SLOTIDX_NONE;
}

void cara_slotidx_put(cara_slotidx *x, uint64_t h, size_t slot)
{
    CARA_ASSERT(slot < UINT32_MAX);
    size_t c = home_of(x, h);
    for (size_t n = 0; n <= x->mask; n++, c = (c + 1) & x->mask) {
        if (x->cells[c] == 0) {
            x->cells[c] = (uint32_t)(slot + 1);
            return;
        }
    }
    CARA_ASSERT(!"the index has more cells than slots");
}

void cara_slotidx_del(cara_slotidx *x, uint64_t h, size_t slot, cara_slotidx_hash_fn hash,
                      const void *ctx)
{
    size_t hole = cell_of(x, h, slot);
    x->cells[hole] = 0;
    /* Each later member of the run moves into the hole unless its home
     * lies cyclically in (hole, c], where it is still reachable. */
    for (size_t c = (hole + 1) & x->mask; x->cells[c] != 0; c = (c + 1) & x->mask) {
        size_t home = home_of(x, hash(ctx, x->cells[c] - 1));
        bool stays = hole <= c ? (hole < home && home <= c) : (hole < home || home <= c);
        if (stays)
            continue;
        x->cells[hole] = x->cells[c];
        x->cells[c] = 0;
        hole = c;
    }
}

void cara_slotidx_move(cara_slotidx *x, uint64_t h, size_t from, size_t to)
{
    CARA_ASSERT(to < UINT32_MAX);
    x->cells[cell_of(x, h, from)] = (uint32_t)(to + 1);
}
