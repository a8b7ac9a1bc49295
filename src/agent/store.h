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

/* Mirrors every change the crdt logged since the last call (its change
 * feed: records installed and removed, floors made and dropped) in one
 * transaction (BEGIN IMMEDIATE ... COMMIT): after a crash the database
 * holds all of them or none. Returns 0, CARA_EIO or CARA_ENOMEM; on error
 * the changes are lost to the store, and the caller must stop (the state
 * in memory is ahead of the disk). */
/* `seen` (may be NULL) is called for each change as it is written, before
 * the commit; it must not change `s`. */
int cara_store_persist(cara_store *st, cara_crdt *s,
                       void (*seen)(void *ctx, const cara_crdt_change *c), void *ctx);

/* Takes the next value of the persisted counter `name`: one more than the
 * last value handed out, and at least `at_least` (1 for a new counter),
 * synced before it returns, so a value is never handed out twice whatever
 * the wall clock does. Returns 0 or CARA_EIO. */
int cara_store_counter_next(cara_store *st, const char *name, uint64_t at_least,
                            uint64_t *value);

/* A named wall-clock stamp kept on disk (the last time this node saw a
 * majority: docs/scheduling.md); 0 when never set. 0 or CARA_EIO. */
int cara_store_stamp_get(cara_store *st, const char *name, int64_t *value);
int cara_store_stamp_set(cara_store *st, const char *name, int64_t value);

typedef struct cara_store_report {
    size_t loaded;      /* rows accepted into the state */
    size_t quarantined; /* damaged rows moved to the quarantine table */
    size_t dropped;     /* rows deleted: no longer part of the state */
    size_t floors;
    size_t migrated;    /* rows taken from the earlier table layout */
} cara_store_report;

/* Loads floors, then every record (admissions and settings first) into
 * `s`, verifying each (cara_crdt_apply_local). A row that is damaged
 * (malformed, bad signature, columns that disagree with its signed
 * content) is moved to the quarantine table and logged with its reason; a
 * row the state no longer wants (its author was revoked, it lost to another
 * row, its project was collected) is deleted. Neither is fatal. What the
 * load itself changed (tombstones past the horizon turned into floors) is
 * persisted before it returns. A database written by an earlier version
 * (rows keyed by slot and name) is migrated. Returns 0, CARA_EIO or
 * CARA_ENOMEM. */
int cara_store_load(cara_store *st, cara_crdt *s, int64_t now_wall_ms, cara_store_report *rep);

/* Number of rows in the quarantine table, or a negative CARA_E*. */
long cara_store_quarantine_count(cara_store *st);

#endif
