/*
 * The durable store of replicated state: one SQLite database in WAL mode
 * with synchronous=FULL, so a batch is on disk when cara_store_apply
 * returns (DESIGN.md §4: acknowledged means synced). The store keeps record
 * envelopes exactly as signed and trusts none of them: cara_store_load
 * re-verifies each through cara_crdt_apply and moves any row that fails
 * into a quarantine table, with its reason, instead of failing the start.
 */
#ifndef CARA_AGENT_STORE_H
#define CARA_AGENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "crdt/crdt.h"

typedef struct cara_store cara_store;

/* Opens or creates the database at `path` (its directory must exist).
 * `env` is borrowed. Returns 0, CARA_EIO or CARA_ENOMEM; close with
 * cara_store_close. */
int cara_store_open(cara_store **out, const char *path, cara_env *env);
void cara_store_close(cara_store *st); /* accepts NULL */

enum cara_store_op_type {
    CARA_STORE_PUT = 1,   /* bytes/len: a record envelope; replaces its slot */
    CARA_STORE_DEL = 2,   /* kind/key: removes that slot (collected, purged) */
    CARA_STORE_FLOOR = 3, /* key/generation: a collected tombstone's floor */
};

typedef struct cara_store_op {
    int type;
    const uint8_t *bytes; /* borrowed */
    size_t len;
    int kind;
    const uint8_t *key; /* borrowed */
    size_t key_bytes;
    uint64_t generation;
} cara_store_op;

/* Applies all ops in one transaction (BEGIN IMMEDIATE ... COMMIT): after a
 * crash the database holds all of them or none. Returns 0, CARA_EINVAL (an
 * op that does not decode; nothing is written) or CARA_EIO. */
int cara_store_apply(cara_store *st, const cara_store_op *ops, size_t ops_count);

typedef struct cara_store_report {
    size_t loaded;      /* rows accepted into the state */
    size_t quarantined; /* rows moved to the quarantine table */
    size_t floors;
} cara_store_report;

/* Loads floors, then every record (admissions and settings first) into
 * `s`, verifying each. A row that is rejected, or whose columns disagree
 * with its signed content, is moved to the quarantine table and logged
 * with its reason; that is never fatal. Returns 0, CARA_EIO or
 * CARA_ENOMEM. */
int cara_store_load(cara_store *st, cara_crdt *s, int64_t now_wall_ms, cara_store_report *rep);

/* Number of rows in the quarantine table, or a negative CARA_E*. */
long cara_store_quarantine_count(cara_store *st);

#endif
