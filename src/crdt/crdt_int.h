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
/* Is the slot of `kind` one per (key, author)? STATUS and PLACEMENT (one
 * writer per record), and JOIN: every node that asks for a name keeps its
 * own request, so a later joiner cannot overwrite an earlier one's; who
 * gets the name is decided by the rebuild of the admitted set. */
static inline bool crdt_slot_by_author(int kind)
{
    return cara_crdt_kind_per_author(kind) || kind == CARA_CRDT_JOIN;
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

/* A node admitted by a join token: the name it joined as (copied: the
 * record may be replaced before the next rebuild) and its key. */
typedef struct crdt_joined {
    uint8_t name[CARA_CRDT_KEY_BYTES_MAX];
    size_t name_bytes;
    uint8_t pk[CARA_CRDT_PK_BYTES];
} crdt_joined;

/* A decoded JOIN value; pointers borrow from the value bytes. */
typedef struct crdt_join_value {
    const uint8_t *grant; /* the grant's exact bytes */
    size_t grant_bytes;
    const uint8_t *grant_body; /* the bytes the operator signed */
    size_t grant_body_bytes;
    const uint8_t *grant_sig;
    const uint8_t *token_id;
    int64_t expires_wall_ms;
    uint32_t uses;
    const uint8_t *token_pk;
    const uint8_t *operator_pk;
    const uint8_t *node_pk;
    const uint8_t *token_sig;
} crdt_join_value;

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

    /* Admitted node keys, rebuilt when an admission or join changes. */
    uint8_t (*admitted)[CARA_CRDT_PK_BYTES]; /* CARA_CRDT_NODES_MAX slots, in cap order */
    crdt_admitted_name *admitted_names; /* parallel to `admitted` */
    uint64_t *admitted_hlcs; /* parallel: the HLC of the record that admitted each */
    size_t admitted_count;
    /* The slot of each admitted key: whether a key is admitted is asked
     * for every record and datagram (admit.c). */
    cara_slotidx admitted_index;
    size_t joins_held; /* JOIN records in the table */
    uint64_t admissions_version; /* bumped by every rebuild */
    /* Of those, the ones a join token admits, with their names. */
    crdt_joined *joined;
    size_t joined_count;

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
/* msgpack-c sinks: append to a cara_buf, or compare with bytes held (how
 * decoders prove canonical form: re-encoding must give the input). */
typedef struct crdt_cmp_sink {
    const uint8_t *want;
    size_t want_len, pos;
    bool differs;
} crdt_cmp_sink;
int crdt_sink_buf(void *data, const char *p, size_t len);
int crdt_sink_cmp(void *data, const char *p, size_t len);
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
/* Is `pk` admitted as node `name` (by an operator or a token)? */
bool crdt_admits_as(const cara_crdt *s, const uint8_t *name, size_t name_bytes,
                    const uint8_t pk[CARA_CRDT_PK_BYTES]);

/* admit.c */
/* Recomputes the admitted keys (and the nodes joined by token) from the
 * ADMISSION and JOIN records held; sets stats.admissions_over_cap and
 * stats.joins_used_up. 0 or CARA_ENOMEM (nothing changed then). */
int crdt_rebuild_admitted(cara_crdt *s);
/* The admitted set after `r`, just installed in a slot that was empty,
 * when that is one key more in its place of the cap order and nothing
 * else: an operator's ADMISSION that admits a key not yet admitted, no
 * JOIN held, and room under the cap. Then it updates the set as a
 * rebuild would and returns true; else it changes nothing and returns
 * false (rebuild). The common case of a cluster's growth (and of a
 * node's boot, which applies every admission one by one). */
bool crdt_admit_one(cara_crdt *s, const cara_crdt_record *r);
/* Does the admitted set equal what a rebuild gives? For tests. */
bool crdt_admitted_consistent(const cara_crdt *s);
void crdt_admitted_free(cara_crdt *s);
/* Why a JOIN record of `author` for `name` does (0) or does not admit it,
 * given the records held, with `extra` (a decoded record that beats the
 * one in its slot; may be NULL) taken as applied. Codes as
 * cara_crdt_join_check. Changes nothing. */
int crdt_join_fate(const cara_crdt *s, const cara_crdt_record *extra, const uint8_t *name,
                   size_t name_bytes, const uint8_t author[CARA_CRDT_PK_BYTES]);

/* join.c */
/* Decodes a JOIN value (canonical form, field sizes, uses in range):
 * 0 or CARA_EPARSE. */
int crdt_join_value_decode(const uint8_t *bytes, size_t len, crdt_join_value *out);
/* The cheap checks of a JOIN record, no signature verified: a well-formed
 * value (CARA_ESCHEMA), a grant by a configured operator (CARA_EUNTRUSTED),
 * the node it names is the author (CARA_EWRONGAUTHOR), stamped no later
 * than the expiry (CARA_EEXPIRED). */
int crdt_join_check_author(const cara_crdt *s, const cara_crdt_record *r);
/* The signatures of a JOIN value: the operator's over the grant, the
 * token key's over the node key: 0 or CARA_EBADSIG. */
int crdt_join_verify_value(const cara_crdt_record *r);

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
