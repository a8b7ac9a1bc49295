/*
 * SQLite side of the store (see store.h). Rows are keyed by (slot, key),
 * the slot being the record kind with tombstones folded into projects, the
 * same identity the crdt merges on.
 */
#include "agent/store.h"

#include <sqlite3.h>
#include <string.h>

struct cara_store {
    cara_env *env;
    sqlite3 *db;
    sqlite3_stmt *put, *del, *floor;
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS records("
    "  slot INTEGER NOT NULL, key BLOB NOT NULL, kind INTEGER NOT NULL,"
    "  bytes BLOB NOT NULL, PRIMARY KEY(slot, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS floors("
    "  key BLOB PRIMARY KEY, generation INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS quarantine("
    "  id INTEGER PRIMARY KEY, slot INTEGER, key BLOB, bytes BLOB, reason TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL);";

static int slot_of(int kind)
{
    return kind == CARA_CRDT_TOMBSTONE ? CARA_CRDT_PROJECT : kind;
}

static int db_fail(cara_store *st, const char *what)
{
    cara_env_logf(st->env, CARA_LOG_ERROR, "store", "msg=\"%s failed\" sqlite=\"%s\"", what,
                  sqlite3_errmsg(st->db));
    return CARA_EIO;
}

int cara_store_open(cara_store **out, const char *path, cara_env *env)
{
    *out = NULL;
    cara_store *st = cara_env_calloc(env, 1, sizeof *st);
    if (st == NULL)
        return CARA_ENOMEM;
    st->env = env;
    int rc = 0;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(st->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(st->db, 5000) != SQLITE_OK)
        rc = db_fail(st, "open");
    if (rc == 0 &&
        (sqlite3_prepare_v2(st->db,
                            "INSERT OR REPLACE INTO records(slot,key,kind,bytes) VALUES(?,?,?,?)",
                            -1, &st->put, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(st->db, "DELETE FROM records WHERE slot=? AND key=?", -1, &st->del,
                            NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(st->db,
                            "INSERT INTO floors(key,generation) VALUES(?,?) ON CONFLICT(key) "
                            "DO UPDATE SET generation=max(generation, excluded.generation)",
                            -1, &st->floor, NULL) != SQLITE_OK))
        rc = db_fail(st, "prepare");
    if (rc != 0) {
        cara_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void cara_store_close(cara_store *st)
{
    if (st == NULL)
        return;
    sqlite3_finalize(st->put);
    sqlite3_finalize(st->del);
    sqlite3_finalize(st->floor);
    sqlite3_close(st->db);
    cara_env_free(st->env, st);
}

static int step_done(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE ? 0 : CARA_EIO;
}

static int apply_one(cara_store *st, const cara_store_op *op)
{
    if (op->type == CARA_STORE_PUT) {
        cara_crdt_record r;
        if (cara_crdt_record_decode(op->bytes, op->len, &r) != 0)
            return CARA_EINVAL;
        sqlite3_bind_int(st->put, 1, slot_of(r.kind));
        sqlite3_bind_blob(st->put, 2, r.key, (int)r.key_bytes, SQLITE_STATIC);
        sqlite3_bind_int(st->put, 3, r.kind);
        sqlite3_bind_blob(st->put, 4, op->bytes, (int)op->len, SQLITE_STATIC);
        return step_done(st->put);
    }
    if (op->key == NULL || op->key_bytes == 0 || op->key_bytes > CARA_CRDT_KEY_BYTES_MAX)
        return CARA_EINVAL;
    if (op->type == CARA_STORE_DEL) {
        sqlite3_bind_int(st->del, 1, slot_of(op->kind));
        sqlite3_bind_blob(st->del, 2, op->key, (int)op->key_bytes, SQLITE_STATIC);
        return step_done(st->del);
    }
    if (op->type == CARA_STORE_FLOOR) {
        if (op->generation > INT64_MAX)
            return CARA_EINVAL;
        sqlite3_bind_blob(st->floor, 1, op->key, (int)op->key_bytes, SQLITE_STATIC);
        sqlite3_bind_int64(st->floor, 2, (sqlite3_int64)op->generation);
        return step_done(st->floor);
    }
    return CARA_EINVAL;
}

int cara_store_apply(cara_store *st, const cara_store_op *ops, size_t ops_count)
{
    /* IMMEDIATE takes the write lock up front, so the batch cannot fail
     * half-way on a busy database after some rows were written. */
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(st, "begin");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ops_count; i++)
        rc = apply_one(st, &ops[i]);
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(st, "commit");
    if (rc != 0)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- Loading ----------------------------------------------------------------- */

typedef struct bad_row {
    int slot;
    uint8_t *key;
    int key_bytes;
    const char *reason; /* static */
} bad_row;

static int load_floors(cara_store *st, cara_crdt *s, cara_store_report *rep)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT key, generation FROM floors", -1, &q, NULL) !=
        SQLITE_OK)
        return db_fail(st, "select floors");
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(q, 0);
        int kn = sqlite3_column_bytes(q, 0);
        sqlite3_int64 g = sqlite3_column_int64(q, 1);
        /* A damaged floor row is dropped from the report, not fatal: the
         * records themselves are still verified. */
        if (k != NULL && kn > 0 && g >= 0 &&
            cara_crdt_floor_set(s, k, (size_t)kn, (uint64_t)g) == 0)
            rep->floors++;
    }
    sqlite3_finalize(q);
    return rc;
}

/* Rows were checked against the clock when they arrived. Reloading them
 * must not depend on today's clock: a node that boots before its clock is
 * set (an edge box without a real-time clock, before NTP) would otherwise
 * find its own records "from the future", quarantine its whole state and
 * then remove its running containers as orphans. Signatures, authors and
 * floors are still checked. */
#define LOAD_NOW_MS (INT64_MAX / 4)

/* Checks one row: the columns must name what the signed bytes say, and
 * the crdt must accept it. Returns NULL when good, else a reason. */
static const char *check_row(cara_crdt *s, sqlite3_stmt *q)
{
    int slot = sqlite3_column_int(q, 0);
    const uint8_t *key = sqlite3_column_blob(q, 1);
    int key_bytes = sqlite3_column_bytes(q, 1);
    const uint8_t *bytes = sqlite3_column_blob(q, 2);
    int len = sqlite3_column_bytes(q, 2);
    cara_crdt_record r;
    if (bytes == NULL || len <= 0 || cara_crdt_record_decode(bytes, (size_t)len, &r) != 0)
        return "malformed";
    if (slot_of(r.kind) != slot || (size_t)key_bytes != r.key_bytes ||
        memcmp(key, r.key, r.key_bytes) != 0)
        return "row_mismatch";
    int result = 0;
    int rc = cara_crdt_apply(s, bytes, (size_t)len, LOAD_NOW_MS, &result);
    if (rc == CARA_ENOMEM)
        return NULL; /* not the row's fault; it stays */
    if (rc == 0)
        return NULL;
    switch (rc) {
    case CARA_EBADSIG: return "bad_signature";
    case CARA_EUNTRUSTED: return "untrusted_key";
    case CARA_EWRONGAUTHOR: return "wrong_author";
    case CARA_ENOTADMITTED: return "not_admitted";
    case CARA_EFUTURE: return "future_timestamp";
    case CARA_ECOLLECTED: return "collected";
    case CARA_ESCHEMA: return "invalid_value";
    default: return "rejected";
    }
}

static int quarantine(cara_store *st, const bad_row *bad, size_t n, int64_t now_wall_ms)
{
    sqlite3_stmt *ins = NULL;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(st, "begin");
    int rc = sqlite3_prepare_v2(st->db,
                                "INSERT INTO quarantine(slot,key,bytes,reason,at_ms) "
                                "SELECT slot,key,bytes,?,? FROM records WHERE slot=? AND key=?",
                                -1, &ins, NULL) == SQLITE_OK
                 ? 0
                 : CARA_EIO;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_text(ins, 1, bad[i].reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, now_wall_ms);
        sqlite3_bind_int(ins, 3, bad[i].slot);
        sqlite3_bind_blob(ins, 4, bad[i].key, bad[i].key_bytes, SQLITE_STATIC);
        rc = step_done(ins);
        sqlite3_bind_int(st->del, 1, bad[i].slot);
        sqlite3_bind_blob(st->del, 2, bad[i].key, bad[i].key_bytes, SQLITE_STATIC);
        rc = rc ? rc : step_done(st->del);
    }
    sqlite3_finalize(ins);
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = CARA_EIO;
    if (rc != 0) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return db_fail(st, "quarantine");
    }
    return 0;
}

static int note_bad(cara_store *st, bad_row **bad, size_t *n, size_t *cap, sqlite3_stmt *q,
                    const char *reason)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        bad_row *v = cara_env_realloc(st->env, *bad, c * sizeof *v);
        if (v == NULL)
            return CARA_ENOMEM;
        *bad = v, *cap = c;
    }
    bad_row *b = &(*bad)[*n];
    b->slot = sqlite3_column_int(q, 0);
    b->key_bytes = sqlite3_column_bytes(q, 1);
    b->key = cara_env_alloc(st->env, (size_t)b->key_bytes + 1);
    if (b->key == NULL)
        return CARA_ENOMEM;
    if (b->key_bytes > 0)
        memcpy(b->key, sqlite3_column_blob(q, 1), (size_t)b->key_bytes);
    b->reason = reason;
    (*n)++;
    cara_env_logf(st->env, CARA_LOG_WARN, "store",
                  "msg=\"record quarantined\" slot=%d key=\"%.*s\" reason=%s", b->slot,
                  b->key_bytes > 64 ? 64 : b->key_bytes, (const char *)b->key, reason);
    return 0;
}

int cara_store_load(cara_store *st, cara_crdt *s, int64_t now_wall_ms, cara_store_report *rep)
{
    memset(rep, 0, sizeof *rep);
    int rc = load_floors(st, s, rep);
    sqlite3_stmt *q = NULL;
    /* Admissions and settings first: node records depend on admissions. */
    if (rc == 0 && sqlite3_prepare_v2(st->db,
                                      "SELECT slot, key, bytes FROM records ORDER BY "
                                      "(kind IN (5, 6)) DESC, slot, key",
                                      -1, &q, NULL) != SQLITE_OK)
        rc = db_fail(st, "select records");
    _Static_assert(CARA_CRDT_ADMISSION == 5 && CARA_CRDT_SETTINGS == 6, "query above");
    bad_row *bad = NULL;
    size_t bad_n = 0, bad_cap = 0;
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        const char *reason = check_row(s, q);
        if (reason == NULL)
            rep->loaded++;
        else
            rc = note_bad(st, &bad, &bad_n, &bad_cap, q, reason);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(st, "read records");
    sqlite3_finalize(q);
    if (rc == 0 && bad_n > 0)
        rc = quarantine(st, bad, bad_n, now_wall_ms);
    if (rc == 0)
        rep->quarantined = bad_n;
    for (size_t i = 0; i < bad_n; i++)
        cara_env_free(st->env, bad[i].key);
    cara_env_free(st->env, bad);
    return rc;
}

long cara_store_quarantine_count(cara_store *st)
{
    sqlite3_stmt *q;
    long n = CARA_EIO;
    if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM quarantine", -1, &q, NULL) != SQLITE_OK)
        return CARA_EIO;
    if (sqlite3_step(q) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}
