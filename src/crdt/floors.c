/*
 * Floors: what a collected tombstone leaves behind (docs/crdt.md, "Deletes
 * and collection"). A floor keeps the tombstone's signed envelope, so any
 * replica can prove it to a peer that still holds the deleted project, and
 * is dropped after the floor horizon.
 */
#include <string.h>

#include "crdt/crdt_int.h"

static size_t floor_index(const cara_crdt *s, const uint8_t keyhash[16], bool *found)
{
    size_t mask = s->floors_cap - 1, i = (size_t)crdt_be64(keyhash + 8) & mask;
    for (size_t n = 0; n < s->floors_cap; n++, i = (i + 1) & mask) {
        const crdt_floor *f = &s->floors[i];
        if (f->bytes == NULL) {
            *found = false;
            return i;
        }
        if (memcmp(f->keyhash, keyhash, 16) == 0) {
            *found = true;
            return i;
        }
    }
    CARA_UNREACHABLE(); /* load factor <= 1/2 */
}

const crdt_floor *crdt_floor_find(const cara_crdt *s, const uint8_t keyhash[16])
{
    if (s->floors_count == 0)
        return NULL;
    bool found;
    size_t i = floor_index(s, keyhash, &found);
    return found ? &s->floors[i] : NULL;
}

bool cara_crdt_floor_get(const cara_crdt *s, const uint8_t *key, size_t key_bytes,
                         uint64_t *generation)
{
    *generation = 0;
    if (key == NULL || key_bytes == 0 || key_bytes > CARA_CRDT_KEY_BYTES_MAX)
        return false;
    uint8_t kh[16];
    crdt_keyhash(CARA_CRDT_PROJECT, key, key_bytes, NULL, kh);
    const crdt_floor *f = crdt_floor_find(s, kh);
    if (f == NULL)
        return false;
    *generation = f->rec.generation;
    return true;
}

static int floors_grow(cara_crdt *s)
{
    size_t cap = s->floors_cap ? s->floors_cap * 2 : 64;
    crdt_floor *fresh = cara_env_calloc(s->env, cap, sizeof *fresh);
    if (fresh == NULL)
        return CARA_ENOMEM;
    crdt_floor *old = s->floors;
    size_t old_cap = s->floors_cap;
    s->floors = fresh;
    s->floors_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].bytes == NULL)
            continue;
        bool found;
        s->floors[floor_index(s, old[i].keyhash, &found)] = old[i];
    }
    cara_env_free(s->env, old);
    return 0;
}

/* Removes the floor at index i (backward-shift delete, as the table). */
static void floor_remove_at(cara_crdt *s, size_t i)
{
    size_t mask = s->floors_cap - 1;
    crdt_log(s, CARA_CRDT_CHANGE_FLOOR_DEL, s->floors[i].keyhash);
    cara_env_free(s->env, s->floors[i].bytes);
    memset(&s->floors[i], 0, sizeof s->floors[i]);
    for (size_t j = (i + 1) & mask; s->floors[j].bytes != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)crdt_be64(s->floors[j].keyhash + 8) & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            s->floors[i] = s->floors[j];
            memset(&s->floors[j], 0, sizeof s->floors[j]);
            i = j;
        }
    }
    s->floors_count--;
}

/* The floor whose tombstone is oldest (HLC), to make room. */
static void evict_oldest(cara_crdt *s)
{
    size_t oldest = SIZE_MAX;
    for (size_t i = 0; i < s->floors_cap; i++)
        if (s->floors[i].bytes != NULL &&
            (oldest == SIZE_MAX || s->floors[i].rec.hlc < s->floors[oldest].rec.hlc))
            oldest = i;
    CARA_ASSERT(oldest != SIZE_MAX);
    floor_remove_at(s, oldest);
    s->stats.floors_evicted++;
}

int crdt_floor_make(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms)
{
    (void)now_wall_ms;
    cara_crdt_record r;
    int rc = cara_crdt_record_decode(bytes, len, &r);
    CARA_ASSERT(rc == 0 && r.kind == CARA_CRDT_TOMBSTONE);
    uint8_t kh[16];
    crdt_keyhash(CARA_CRDT_PROJECT, r.key, r.key_bytes, NULL, kh);
    bool found = false;
    size_t i = s->floors_count ? floor_index(s, kh, &found) : 0;
    if (found && s->floors[i].rec.generation >= r.generation) {
        /* Floors only rise; what the higher floor covers goes all the same
         * (a tombstone below a floor is never admitted, so this is only a
         * safeguard for collection's loop). */
        const crdt_entry *held = crdt_find(s, kh);
        if (held != NULL && held->rec.generation <= s->floors[i].rec.generation)
            crdt_remove(s, kh);
        return 0;
    }
    if (!found && s->floors_count >= s->floors_max)
        evict_oldest(s);
    if (!found && 2 * (s->floors_count + 1) > s->floors_cap && (rc = floors_grow(s)) != 0)
        return rc;
    uint8_t *copy = cara_env_alloc(s->env, len);
    if (copy == NULL)
        return CARA_ENOMEM;
    memcpy(copy, bytes, len);
    i = floor_index(s, kh, &found);
    crdt_floor *f = &s->floors[i];
    if (found)
        cara_env_free(s->env, f->bytes);
    else
        s->floors_count++;
    f->bytes = copy;
    f->len = len;
    rc = cara_crdt_record_decode(copy, len, &f->rec);
    CARA_ASSERT(rc == 0);
    memcpy(f->keyhash, kh, 16);
    crdt_log(s, CARA_CRDT_CHANGE_FLOOR_PUT, kh);
    /* Whatever the project left at or below the floor goes with it; a
     * project re-created above it stays. */
    const crdt_entry *held = crdt_find(s, kh);
    if (held != NULL && held->rec.generation <= f->rec.generation)
        crdt_remove(s, kh); /* `bytes` may have been this entry's: read f->rec below */
    s->stats.leftovers_collected +=
        crdt_drop_leftovers(s, f->rec.key, f->rec.key_bytes, f->rec.generation);
    return 0;
}

size_t crdt_floors_expire(cara_crdt *s, int64_t now_wall_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < s->floors_cap;) {
        const crdt_floor *f = &s->floors[i];
        if (f->bytes == NULL ||
            cara_crdt_hlc_wall_ms(f->rec.hlc) > now_wall_ms - s->floor_horizon_ms) {
            i++;
            continue;
        }
        floor_remove_at(s, i); /* may shift a later floor into i */
        n++;
    }
    s->stats.floors_expired += n;
    return n;
}

int cara_crdt_floor_foreach(const cara_crdt *s,
                            int (*fn)(void *ctx, const cara_crdt_record *tombstone,
                                      const uint8_t *bytes, size_t len),
                            void *ctx)
{
    for (size_t i = 0; i < s->floors_cap; i++) {
        const crdt_floor *f = &s->floors[i];
        if (f->bytes == NULL)
            continue;
        int rc = fn(ctx, &f->rec, f->bytes, f->len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void crdt_floors_free(cara_crdt *s)
{
    for (size_t i = 0; s->floors && i < s->floors_cap; i++)
        cara_env_free(s->env, s->floors[i].bytes);
    cara_env_free(s->env, s->floors);
    s->floors = NULL;
}
