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

/* The name an admitted key was admitted under (its admission's key). */
typedef struct crdt_admitted_name {
    uint8_t len;
    char name[CARA_CRDT_KEY_BYTES_MAX];
} crdt_admitted_name;

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

/* A collected tombstone: its envelope (owned) proves the floor to peers. */
typedef struct crdt_floor {
    uint8_t *bytes; /* NULL marks an empty slot */
    size_t len;
    cara_crdt_record rec; /* points into bytes */
    uint8_t keyhash[16];  /* the project slot's identity */
} crdt_floor;

/* One logged change (see cara_crdt_poll_change). */
typedef struct crdt_change {
    uint8_t type;
    uint8_t id[16];
} crdt_change;

/* A record waiting for its author's admission. */
typedef struct crdt_held {
    uint8_t *bytes;
    size_t len;
} crdt_held;

struct cara_crdt {
    cara_env *env;
    uint8_t (*operators)[CARA_CRDT_PK_BYTES];
    size_t operators_count;
    int64_t skew_ms_max;
    int64_t tombstone_horizon_ms;
    int64_t floor_horizon_ms;
    size_t records_max, floors_max, nodes_max;
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
    crdt_admitted_name *admitted_names; /* parallel to `admitted` */
    size_t admitted_count;
    uint64_t admissions_version; /* bumped by every rebuild */

    /* Floors: open addressing by project keyhash. */
    crdt_floor *floors;
    size_t floors_cap, floors_count;

    /* Change log for the driver (changes.c). */
    crdt_change *changes;
    size_t changes_count, changes_cap, changes_next;
    bool changes_reset;

    /* Records held until an admission arrives (changes.c); FIFO. */
    crdt_held held[CARA_CRDT_HELD_MAX];
    size_t held_count;
    bool retrying_held;

    /* Where the next anti-entropy reply starts its work (sync.c). */
    uint64_t sync_rotation;

    uint64_t hlc_last;
    cara_crdt_stats stats;
};

/* record.c */
/* The slot identity of (kind, key[, author]): `author` is read only for
 * the kinds kept per author, and may be NULL for the others. */
void crdt_keyhash(int kind, const uint8_t *key, size_t key_bytes, const uint8_t *author,
                  uint8_t out[16]);
uint64_t crdt_be64(const uint8_t *p);
/* Total order used by merge: >0 when a wins over b, 0 when identical. */
int crdt_record_cmp(const cara_crdt_record *a, const cara_crdt_record *b);

/* state.c */
crdt_entry *crdt_find(const cara_crdt *s, const uint8_t keyhash[16]);
/* Removes the entry with this keyhash, logging the change; false if none. */
bool crdt_remove(cara_crdt *s, const uint8_t keyhash[16]);
/* Drops the STATUS and PLACEMENT records of project `key` at or below
 * `generation` (every admitted author); returns how many. */
size_t crdt_drop_leftovers(cara_crdt *s, const uint8_t *key, size_t key_bytes,
                           uint64_t generation);
bool crdt_is_operator(const cara_crdt *s, const uint8_t *pk);

/* floors.c */
const crdt_floor *crdt_floor_find(const cara_crdt *s, const uint8_t keyhash[16]);
/* Turns a verified tombstone (bytes, len) into a floor, replacing a lower
 * one; evicts the oldest floor when floors_max is reached. */
int crdt_floor_make(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms);
size_t crdt_floors_expire(cara_crdt *s, int64_t now_wall_ms);
void crdt_floors_free(cara_crdt *s);

/* changes.c */
void crdt_log(cara_crdt *s, int type, const uint8_t id[16]);
void crdt_changes_free(cara_crdt *s);
/* Keeps a verified record refused only for want of an admission. */
void crdt_hold(cara_crdt *s, const uint8_t *bytes, size_t len);
/* Applies the held records again (after an admission changed). */
void crdt_retry_held(cara_crdt *s, int64_t now_wall_ms);
/* Returns the entries sorted by keyhash (rebuilt if needed); NULL on ENOMEM. */
crdt_entry **crdt_sorted(cara_crdt *s);

#endif
