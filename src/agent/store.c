/*
 * SQLite side of the store (see store.h). Rows are keyed by the record's
 * slot identity (cara_crdt_record_id: kind, name and, for node-authored
 * kinds, the author), the same identity the crdt merges on; the crdt's
 * change feed says what to write.
 */
#include "agent/store.h"

#include <sqlite3.h>
#include <string.h>

struct cara_store {
    cara_env *env;
    sqlite3 *db;
    sqlite3_stmt *put, *del, *floor_put, *floor_del;
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS state_records("
    "  id BLOB PRIMARY KEY, kind INTEGER NOT NULL, bytes BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS state_floors("
    "  id BLOB PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS counters("
    "  name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS quarantine("
    "  id INTEGER PRIMARY KEY, slot INTEGER, key BLOB, bytes BLOB, reason TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL);";

static int db_fail(cara_store *st, const char *what)
{
    cara_env_logf(st->env, CARA_LOG_ERROR, "store", "msg=\"%s failed\" sqlite=\"%s\"", what,
                  sqlite3_errmsg(st->db));
    return CARA_EIO;
}

static int prepare(cara_store *st, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v2(st->db, sql, -1, out, NULL) == SQLITE_OK ? 0 : CARA_EIO;
}

int cara_store_open(cara_store **out, const char *path, cara_env *env)
{
    *out = NULL;
    /* No page cache memory set aside per connection before any page is
     * read (SQLite's default is 20 pages, about 87 KB, each one touched):
     * the state is small and its pages are cached as they are read. Only
     * possible before SQLite initialises; later calls are refused and
     * harmless. */
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
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
        (prepare(st, "INSERT OR REPLACE INTO state_records(id,kind,bytes) VALUES(?,?,?)",
                 &st->put) != 0 ||
         prepare(st, "DELETE FROM state_records WHERE id=?", &st->del) != 0 ||
         prepare(st, "INSERT OR REPLACE INTO state_floors(id,bytes) VALUES(?,?)",
                 &st->floor_put) != 0 ||
         prepare(st, "DELETE FROM state_floors WHERE id=?", &st->floor_del) != 0))
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
    sqlite3_finalize(st->floor_put);
    sqlite3_finalize(st->floor_del);
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

static int begin(cara_store *st)
{
    /* IMMEDIATE takes the write lock up front, so the batch cannot fail
     * half-way on a busy database after some rows were written. */
    return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : db_fail(st, "begin");
}

static int end(cara_store *st, int rc)
{
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(st, "commit");
    if (rc != 0)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- Writing ------------------------------------------------------------------- */

static int put_record(cara_store *st, const uint8_t *bytes, size_t len)
{
    cara_crdt_record r;
    uint8_t id[CARA_CRDT_ID_BYTES];
    int rc = cara_crdt_record_decode(bytes, len, &r);
    CARA_ASSERT(rc == 0); /* the crdt holds only records that decode */
    cara_crdt_record_id(&r, id);
    sqlite3_bind_blob(st->put, 1, id, sizeof id, SQLITE_STATIC);
    sqlite3_bind_int(st->put, 2, r.kind);
    sqlite3_bind_blob(st->put, 3, bytes, (int)len, SQLITE_STATIC);
    return step_done(st->put);
}

static int put_floor(cara_store *st, const uint8_t id[CARA_CRDT_ID_BYTES], const uint8_t *bytes,
                     size_t len)
{
    sqlite3_bind_blob(st->floor_put, 1, id, CARA_CRDT_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st->floor_put, 2, bytes, (int)len, SQLITE_STATIC);
    return step_done(st->floor_put);
}

static int del_id(sqlite3_stmt *stmt, const uint8_t id[CARA_CRDT_ID_BYTES])
{
    sqlite3_bind_blob(stmt, 1, id, CARA_CRDT_ID_BYTES, SQLITE_STATIC);
    return step_done(stmt);
}

static int rewrite_record(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    (void)r;
    return put_record(ctx, bytes, len);
}

static int rewrite_floor(void *ctx, const cara_crdt_record *r, const uint8_t *bytes, size_t len)
{
    uint8_t id[CARA_CRDT_ID_BYTES];
    cara_crdt_record_id(r, id); /* a tombstone's id is its project slot's */
    return put_floor(ctx, id, bytes, len);
}

/* The change log overflowed: the tables are rewritten from the state. */
static int rewrite_all(cara_store *st, cara_crdt *s)
{
    if (sqlite3_exec(st->db, "DELETE FROM state_records; DELETE FROM state_floors;", NULL, NULL,
                     NULL) != SQLITE_OK)
        return CARA_EIO;
    int rc = cara_crdt_foreach(s, rewrite_record, st);
    return rc ? rc : cara_crdt_floor_foreach(s, rewrite_floor, st);
}

static int write_change(cara_store *st, cara_crdt *s, const cara_crdt_change *c, bool puts)
{
    switch (c->type) {
    case CARA_CRDT_CHANGE_PUT: return puts ? put_record(st, c->bytes, c->len) : 0;
    case CARA_CRDT_CHANGE_DEL: return del_id(st->del, c->id);
    case CARA_CRDT_CHANGE_FLOOR_PUT: return put_floor(st, c->id, c->bytes, c->len);
    case CARA_CRDT_CHANGE_FLOOR_DEL: return del_id(st->floor_del, c->id);
    case CARA_CRDT_CHANGE_RESET: return rewrite_all(st, s);
    default: CARA_UNREACHABLE();
    }
}

/* Drains the change feed into one transaction. `puts` false skips record
 * PUTs: while loading, those are the rows just read. */
static int persist(cara_store *st, cara_crdt *s, bool puts,
                   void (*seen)(void *ctx, const cara_crdt_change *c), void *ctx)
{
    cara_crdt_change c;
    if (!cara_crdt_poll_change(s, &c))
        return 0;
    int rc = begin(st);
    if (rc != 0) {
        while (cara_crdt_poll_change(s, &c)) {
        }
        return rc;
    }
    do {
        if (rc == 0)
            rc = write_change(st, s, &c, puts);
        if (seen != NULL)
            seen(ctx, &c);
    } while (cara_crdt_poll_change(s, &c)); /* drained even after a failure */
    return end(st, rc);
}

int cara_store_persist(cara_store *st, cara_crdt *s,
                       void (*seen)(void *ctx, const cara_crdt_change *c), void *ctx)
{
    return persist(st, s, true, seen, ctx);
}

int cara_store_counter_next(cara_store *st, const char *name, uint64_t at_least,
                            uint64_t *value)
{
    sqlite3_stmt *q = NULL;
    int rc = begin(st);
    if (rc != 0)
        return rc;
    if (prepare(st,
                "INSERT INTO counters(name,value) VALUES(?1,max(?2,1)) ON CONFLICT(name) "
                "DO UPDATE SET value=max(value+1,?2) RETURNING value",
                &q) != 0)
        rc = db_fail(st, "prepare counter");
    if (rc == 0) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, at_least > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)at_least);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) > 0)
            *value = (uint64_t)sqlite3_column_int64(q, 0);
        else
            rc = db_fail(st, "counter");
        if (rc == 0 && sqlite3_step(q) != SQLITE_DONE)
            rc = db_fail(st, "counter");
    }
    sqlite3_finalize(q);
    return end(st, rc);
}

/* ---- Loading ----------------------------------------------------------------- */

typedef struct bad_row {
    uint8_t id[CARA_CRDT_ID_BYTES];
    const char *reason; /* static; NULL: delete without quarantine */
} bad_row;

typedef struct load_ctx {
    cara_store *st;
    int64_t now_wall_ms;
    cara_crdt *s;
    cara_store_report *rep;
    bad_row *bad;
    size_t bad_n, bad_cap;
} load_ctx;

static int load_floors(cara_store *st, cara_crdt *s, int64_t now_wall_ms,
                       cara_store_report *rep)
{
    sqlite3_stmt *q;
    if (prepare(st, "SELECT bytes FROM state_floors", &q) != 0)
        return db_fail(st, "select floors");
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        const uint8_t *b = sqlite3_column_blob(q, 0);
        int n = sqlite3_column_bytes(q, 0);
        /* A damaged floor is logged and skipped: the records themselves
         * are still verified, and peers that hold the floor prove it. */
        int rc = b != NULL && n > 0 ? cara_crdt_floor_restore(s, b, (size_t)n, now_wall_ms)
                                    : CARA_EPARSE;
        if (rc == CARA_ENOMEM) {
            sqlite3_finalize(q);
            return rc;
        }
        if (rc == 0)
            rep->floors++;
        else
            cara_env_logf(st->env, CARA_LOG_WARN, "store", "msg=\"floor skipped\" reason=%s",
                          cara_strerror(rc));
    }
    sqlite3_finalize(q);
    return step == SQLITE_DONE ? 0 : db_fail(st, "read floors");
}

/* What to do with a row the crdt refused: damage is quarantined (NULL
 * here means "just delete": the row is sound but no longer wanted). */
static const char *refusal_reason(int rc, int kind, bool *quarantine)
{
    *quarantine = true;
    bool by_node = kind == CARA_CRDT_NODE || cara_crdt_kind_per_author(kind);
    switch (rc) {
    case CARA_EUNTRUSTED:
    case CARA_ENOTADMITTED:
        if (by_node)
            break; /* its node was revoked: the state dropped it too */
        /* An operator record by a key this node no longer trusts: a
         * configuration change, perhaps a mistake; keep it for a person. */
        return "untrusted_key";
    case CARA_EWRONGAUTHOR: return "wrong_author";
    /* More rows than this node's state may hold (its cap was lowered):
     * acknowledged records are kept for a person, not deleted. */
    case CARA_ELIMIT: return "full";
    case CARA_EBADSIG: return "bad_signature";
    case CARA_EFUTURE: return "future_timestamp";
    case CARA_ESCHEMA: return "invalid_value";
    case CARA_EPARSE:
    case CARA_ENONCANON:
    case CARA_ETOOBIG: return "malformed";
    default: break;
    }
    /* Revoked author, stale, collected, full: the record was good once and
     * the state has moved past it. */
    *quarantine = false;
    return cara_strerror(rc);
}

static int note_bad(load_ctx *c, const uint8_t id[CARA_CRDT_ID_BYTES], const char *reason)
{
    if (c->bad_n == c->bad_cap) {
        size_t cap = c->bad_cap ? c->bad_cap * 2 : 16;
        bad_row *v = cara_env_realloc(c->st->env, c->bad, cap * sizeof *v);
        if (v == NULL)
            return CARA_ENOMEM;
        c->bad = v;
        c->bad_cap = cap;
    }
    memcpy(c->bad[c->bad_n].id, id, CARA_CRDT_ID_BYTES);
    c->bad[c->bad_n++].reason = reason;
    return 0;
}

/* Checks one row: its id must be what the signed bytes say, and the crdt
 * must accept it. */
static int load_row(load_ctx *c, const uint8_t *id, int id_bytes, const uint8_t *bytes, int len)
{
    cara_crdt_record r;
    uint8_t want[CARA_CRDT_ID_BYTES];
    uint8_t row_id[CARA_CRDT_ID_BYTES] = {0};
    if (id != NULL && id_bytes == CARA_CRDT_ID_BYTES)
        memcpy(row_id, id, sizeof row_id);
    if (bytes == NULL || len <= 0 || cara_crdt_record_decode(bytes, (size_t)len, &r) != 0)
        return note_bad(c, row_id, "malformed");
    cara_crdt_record_id(&r, want);
    if (memcmp(want, row_id, sizeof want) != 0)
        return note_bad(c, row_id, "row_mismatch");
    int rc = cara_crdt_apply_local(c->s, bytes, (size_t)len, c->now_wall_ms, NULL);
    if (rc == CARA_ENOMEM)
        return rc;
    if (rc == 0) {
        c->rep->loaded++;
        return 0;
    }
    bool q;
    const char *reason = refusal_reason(rc, r.kind, &q);
    cara_env_logf(c->st->env, q ? CARA_LOG_WARN : CARA_LOG_INFO, "store",
                  "msg=\"%s\" kind=%d key=\"%.*s\" reason=\"%s\"",
                  q ? "record quarantined" : "record no longer in the state, deleted", r.kind,
                  (int)r.key_bytes, (const char *)r.key, reason);
    return note_bad(c, row_id, q ? reason : NULL);
}

static int load_records(load_ctx *c)
{
    sqlite3_stmt *q = NULL;
    /* Admissions, settings and joins first: node records depend on
     * admissions and joins. */
    _Static_assert(CARA_CRDT_ADMISSION == 5 && CARA_CRDT_SETTINGS == 6 && CARA_CRDT_JOIN == 8,
                   "query below");
    if (prepare(c->st,
                "SELECT id, bytes FROM state_records ORDER BY (kind IN (5, 6, 8)) DESC, id",
                &q) != 0)
        return db_fail(c->st, "select records");
    int rc = 0, step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW)
        rc = load_row(c, sqlite3_column_blob(q, 0), sqlite3_column_bytes(q, 0),
                      sqlite3_column_blob(q, 1), sqlite3_column_bytes(q, 1));
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(c->st, "read records");
    sqlite3_finalize(q);
    return rc;
}

static int settle_bad(load_ctx *c)
{
    sqlite3_stmt *ins = NULL;
    int rc = begin(c->st);
    if (rc != 0)
        return rc;
    if (prepare(c->st,
                "INSERT INTO quarantine(slot,key,bytes,reason,at_ms) "
                "SELECT kind,id,bytes,?,? FROM state_records WHERE id=?",
                &ins) != 0)
        rc = CARA_EIO;
    for (size_t i = 0; rc == 0 && i < c->bad_n; i++) {
        if (c->bad[i].reason != NULL) {
            sqlite3_bind_text(ins, 1, c->bad[i].reason, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, c->now_wall_ms);
            sqlite3_bind_blob(ins, 3, c->bad[i].id, CARA_CRDT_ID_BYTES, SQLITE_STATIC);
            rc = step_done(ins);
            c->rep->quarantined++;
        } else {
            c->rep->dropped++;
        }
        rc = rc ? rc : del_id(c->st->del, c->bad[i].id);
    }
    sqlite3_finalize(ins);
    rc = end(c->st, rc);
    return rc ? db_fail(c->st, "quarantine") : 0;
}

/* Databases written before rows were keyed by slot identity hold a table
 * `records(slot, key, kind, bytes)` (and `floors`, which no version ever
 * filled: collection was not run). Its rows are moved into state_records
 * unchanged; the load then checks them like any other. */
static int migrate(cara_store *st, cara_store_report *rep)
{
    sqlite3_stmt *q = NULL;
    if (prepare(st, "SELECT bytes FROM records", &q) != 0)
        return 0; /* no such table: nothing to migrate */
    int rc = begin(st), step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        const uint8_t *b = sqlite3_column_blob(q, 0);
        int n = sqlite3_column_bytes(q, 0);
        cara_crdt_record r;
        if (b == NULL || n <= 0 || cara_crdt_record_decode(b, (size_t)n, &r) != 0)
            continue; /* unreadable then, unreadable now: left behind */
        rc = put_record(st, b, (size_t)n);
        rep->migrated++;
    }
    sqlite3_finalize(q);
    if (rc == 0 && step != SQLITE_DONE)
        rc = CARA_EIO;
    if (rc == 0 &&
        sqlite3_exec(st->db, "DROP TABLE records; DROP TABLE IF EXISTS floors;", NULL, NULL,
                     NULL) != SQLITE_OK)
        rc = CARA_EIO;
    rc = end(st, rc);
    return rc ? db_fail(st, "migrate") : 0;
}

int cara_store_load(cara_store *st, cara_crdt *s, int64_t now_wall_ms, cara_store_report *rep)
{
    memset(rep, 0, sizeof *rep);
    load_ctx c = {.st = st, .now_wall_ms = now_wall_ms, .s = s, .rep = rep};
    int rc = migrate(st, rep);
    rc = rc ? rc : load_floors(st, s, now_wall_ms, rep);
    rc = rc ? rc : load_records(&c);
    if (rc == 0 && c.bad_n > 0)
        rc = settle_bad(&c);
    /* What loading changed besides reading rows back: floors made from
     * tombstones past the horizon, rows of revoked authors purged. */
    int prc = persist(st, s, false, NULL, NULL);
    cara_env_free(st->env, c.bad);
    return rc ? rc : prc;
}

long cara_store_quarantine_count(cara_store *st)
{
    sqlite3_stmt *q;
    long n = CARA_EIO;
    if (prepare(st, "SELECT count(*) FROM quarantine", &q) != 0)
        return CARA_EIO;
    if (sqlite3_step(q) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* ---- Stamps --------------------------------------------------------------------- */

int cara_store_stamp_get(cara_store *st, const char *name, int64_t *value)
{
    *value = 0;
    sqlite3_stmt *q = NULL;
    if (prepare(st, "SELECT value FROM counters WHERE name=?1", &q) != 0)
        return db_fail(st, "prepare stamp");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = 0;
    int s = sqlite3_step(q);
    if (s == SQLITE_ROW)
        *value = sqlite3_column_int64(q, 0);
    else if (s != SQLITE_DONE)
        rc = db_fail(st, "stamp");
    sqlite3_finalize(q);
    return rc;
}

int cara_store_stamp_set(cara_store *st, const char *name, int64_t value)
{
    sqlite3_stmt *q = NULL;
    if (prepare(st, "INSERT INTO counters(name,value) VALUES(?1,?2) ON CONFLICT(name) "
                    "DO UPDATE SET value=?2",
                &q) != 0)
        return db_fail(st, "prepare stamp");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, value);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : db_fail(st, "stamp");
    sqlite3_finalize(q);
    return rc;
}
