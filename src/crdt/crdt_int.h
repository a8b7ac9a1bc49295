/*
 * Internals of the crdt module, shared by its files only.
 */
#ifndef CARA_CRDT_INT_H
#define CARA_CRDT_INT_H

#include <msgpack.h>

#include "crdt/crdt.h"

#define CRDT_MAGIC "crdt"
#define CRDT_VERSION 1
#define CRDT_BODY_FIELDS 8
#define CRDT_SETTINGS_KEY "cluster"

/* PROJECT and TOMBSTONE compete for one slot: a project is either specified
 * or deleted. Every other kind is its own slot. */
static inline int crdt_slot_of(int kind)
{
    return kind == CARA_CRDT_TOMBSTONE ? CARA_CRDT_PROJECT : kind;
}

/* A held record: the envelope bytes (owned) and what was decoded from them
 * (pointers into `bytes`). */
typedef struct crdt_entry {
    uint8_t *bytes;
    size_t len;
    cara_crdt_record rec;
    uint8_t keyhash[16];  /* BLAKE2b-128(slot || key); trie position */
    uint64_t keyhash_hi;  /* first 8 bytes of keyhash, big-endian */
    uint64_t vhash;       /* BLAKE2b-64 of the envelope: the version */
} crdt_entry;

typedef struct crdt_floor {
    uint8_t *key; /* owned; NULL marks an empty slot */
    size_t key_bytes;
    uint64_t generation;
} crdt_floor;

struct cara_crdt {
    cara_env *env;
    uint8_t (*operators)[CARA_CRDT_PK_BYTES];
    size_t operators_count;
    int64_t skew_ms_max;
    int64_t tombstone_horizon_ms;
    size_t records_max;
    cara_crdt_validate_fn validate_value;
    void *validate_ctx;

    /* Open-addressing table of entries, keyed by keyhash. */
    crdt_entry **table;
    size_t table_cap; /* power of two */
    size_t count;

    /* Entries sorted by keyhash, rebuilt when `sorted_dirty`. */
    crdt_entry **sorted;
    bool sorted_dirty;

    /* Admitted node keys, rebuilt when an admission changes. */
    uint8_t (*admitted)[CARA_CRDT_PK_BYTES];
    size_t admitted_count;

    crdt_floor *floors;
    size_t floors_cap, floors_count;

    uint64_t hlc_last;
    cara_crdt_stats stats;
};

/* record.c */
void crdt_keyhash(int slot, const uint8_t *key, size_t key_bytes, uint8_t out[16]);
uint64_t crdt_be64(const uint8_t *p);
/* Total order used by merge: >0 when a wins over b, 0 when identical. */
int crdt_record_cmp(const cara_crdt_record *a, const cara_crdt_record *b);

/* state.c */
crdt_entry *crdt_find(const cara_crdt *s, const uint8_t keyhash[16]);
/* Returns the entries sorted by keyhash (rebuilt if needed); NULL on ENOMEM. */
crdt_entry **crdt_sorted(cara_crdt *s);

#endif
