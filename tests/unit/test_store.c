/*
 * The SQLite store: batches round-trip, a tampered row is quarantined and
 * reported without stopping the load, rows the state dropped (revoked
 * authors, collected deletes) are deleted from disk, a writer killed with
 * SIGKILL in the middle of batches leaves the database at a batch boundary
 * with every signature valid, counters only grow, and a database of the
 * earlier layout is migrated.
 */
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/store.h"
#include "crdt_util.h"

#define NOW_MS 1700000000000LL
#define HLC(ms, c) (((uint64_t)(ms) << CARA_CRDT_HLC_COUNTER_BITS) | (c))
#define BATCH_RECORDS 8
#define BATCHES_MAX 400

static void db_path(char *out, size_t cap)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/cara-store-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(out, cap, "%s/state.db", dir);
}

/* Signs record k of batch b: key "p<b>-<k>", generation b+1. */
static void batch_record(cara_buf *out, const tkey *op, int b, int k)
{
    char key[32];
    uint8_t value[300];
    snprintf(key, sizeof key, "p%d-%d", b, k);
    memset(value, b + k, sizeof value);
    trec(out, CARA_CRDT_PROJECT, key, (uint64_t)b + 1, HLC(NOW_MS, k), op, value, sizeof value);
}

/* Merges a batch into `s` and persists it: one transaction. */
static void put_batch(cara_store *st, cara_crdt *s, const tkey *op, int b)
{
    for (int k = 0; k < BATCH_RECORDS; k++) {
        cara_buf r;
        batch_record(&r, op, b, k);
        CHECK_OK(cara_crdt_apply(s, r.data, r.len, NOW_MS, NULL));
        cara_buf_free(&r);
    }
    CHECK_OK(cara_store_persist(st, s, NULL, NULL));
}

static long count_rows(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW);
    long n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

TEST(store_batches_round_trip_with_collected_deletes_as_floors)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    char path[128];
    db_path(path, sizeof path);
    cara_store *st;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *w = treplica(&op, 1);
    for (int b = 0; b < 3; b++)
        put_batch(st, w, &op, b);
    /* p0-0 is deleted, and the delete is collected: a floor replaces the
     * spec on disk. */
    cara_buf t;
    trec(&t, CARA_CRDT_TOMBSTONE, "p0-0", 2, HLC(NOW_MS, 9), &op, NULL, 0);
    CHECK_OK(cara_crdt_apply(w, t.data, t.len, NOW_MS, NULL));
    cara_buf_free(&t);
    CHECK_OK(cara_store_persist(st, w, NULL, NULL));
    CHECK_INT(cara_crdt_gc(w, NOW_MS + CARA_CRDT_TOMBSTONE_HORIZON_MS_DEFAULT), ==, 1);
    CHECK_OK(cara_store_persist(st, w, NULL, NULL));
    cara_crdt_free(w);
    cara_store_close(st);
    CHECK_INT(count_rows(path, "SELECT count(*) FROM state_records"), ==, 3 * BATCH_RECORDS - 1);
    CHECK_INT(count_rows(path, "SELECT count(*) FROM state_floors"), ==, 1);

    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *s = treplica(&op, 1);
    cara_store_report rep;
    CHECK_OK(cara_store_load(st, s, NOW_MS, &rep));
    CHECK_INT(rep.loaded, ==, 3 * BATCH_RECORDS - 1);
    CHECK_INT(rep.quarantined, ==, 0);
    CHECK_INT(rep.floors, ==, 1);
    /* The floor is enforced again after the restart. */
    cara_buf r;
    batch_record(&r, &op, 0, 0);
    CHECK_RC(cara_crdt_apply(s, r.data, r.len, NOW_MS, NULL), CARA_ECOLLECTED);
    cara_buf_free(&r);
    cara_crdt_free(s);
    cara_store_close(st);
}

TEST(store_deletes_rows_of_a_revoked_node_instead_of_quarantining_them)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, n1;
    tkey_make(&op, &rng);
    tkey_make(&n1, &rng);
    char path[128];
    db_path(path, sizeof path);
    cara_store *st;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *w = treplica(&op, 1);
    cara_buf adm, status, revoke;
    tadmission(&adm, "n1", 1, HLC(NOW_MS, 0), &op, &n1, true);
    trec(&status, CARA_CRDT_STATUS, "web", 1, HLC(NOW_MS, 1), &n1, "\x80", 1);
    tadmission(&revoke, "n1", 2, HLC(NOW_MS, 2), &op, &n1, false);
    CHECK_OK(cara_crdt_apply(w, adm.data, adm.len, NOW_MS, NULL));
    CHECK_OK(cara_crdt_apply(w, status.data, status.len, NOW_MS, NULL));
    CHECK_OK(cara_store_persist(st, w, NULL, NULL));
    CHECK_INT(count_rows(path, "SELECT count(*) FROM state_records"), ==, 2);
    /* The revocation purges the status from the state, and from disk. */
    CHECK_OK(cara_crdt_apply(w, revoke.data, revoke.len, NOW_MS, NULL));
    CHECK_OK(cara_store_persist(st, w, NULL, NULL));
    CHECK_INT(count_rows(path, "SELECT count(*) FROM state_records"), ==, 1);
    cara_store_close(st);
    /* A row of a revoked node found at load (written before this version)
     * is deleted, not quarantined, and nothing is quarantined. */
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *ins;
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO state_records(id,kind,bytes) VALUES(?,3,?)", -1,
                             &ins, NULL) == SQLITE_OK);
    cara_crdt_record rec;
    uint8_t id[CARA_CRDT_ID_BYTES];
    CHECK_OK(cara_crdt_record_decode(status.data, status.len, &rec));
    cara_crdt_record_id(&rec, id);
    sqlite3_bind_blob(ins, 1, id, sizeof id, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 2, status.data, (int)status.len, SQLITE_STATIC);
    CHECK(sqlite3_step(ins) == SQLITE_DONE);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    cara_crdt *s = treplica(&op, 1);
    cara_store_report rep;
    CHECK_OK(cara_store_load(st, s, NOW_MS, &rep));
    CHECK_INT(rep.loaded, ==, 1);
    CHECK_INT(rep.dropped, ==, 1);
    CHECK_INT(rep.quarantined, ==, 0);
    CHECK_INT(cara_store_quarantine_count(st), ==, 0);
    CHECK_INT(count_rows(path, "SELECT count(*) FROM state_records"), ==, 1);
    cara_buf_free(&adm);
    cara_buf_free(&status);
    cara_buf_free(&revoke);
    cara_crdt_free(w);
    cara_crdt_free(s);
    cara_store_close(st);
}

TEST(store_counter_only_grows_and_survives_reopening)
{
    char path[128];
    db_path(path, sizeof path);
    cara_store *st;
    uint64_t v = 0;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    CHECK_OK(cara_store_counter_next(st, "node_incarnation", 0, &v));
    CHECK_INT(v, ==, 1);
    CHECK_OK(cara_store_counter_next(st, "node_incarnation", 0, &v));
    CHECK_INT(v, ==, 2);
    /* Raised above a record seen elsewhere (an earlier life of the node). */
    CHECK_OK(cara_store_counter_next(st, "node_incarnation", 1700000000000ULL, &v));
    CHECK_INT(v, ==, 1700000000000LL);
    cara_store_close(st);
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    CHECK_OK(cara_store_counter_next(st, "node_incarnation", 5, &v));
    CHECK_INT(v, ==, 1700000000001LL);
    cara_store_close(st);
}

TEST(store_migrates_rows_of_the_earlier_layout)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    char path[128];
    db_path(path, sizeof path);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE records(slot INTEGER NOT NULL, key BLOB NOT NULL, "
                           "kind INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY(slot, key)) "
                           "WITHOUT ROWID; CREATE TABLE floors(key BLOB PRIMARY KEY, "
                           "generation INTEGER NOT NULL) WITHOUT ROWID;",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *ins;
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO records VALUES(1,?,1,?)", -1, &ins, NULL) ==
          SQLITE_OK);
    for (int k = 0; k < BATCH_RECORDS; k++) {
        cara_buf r;
        char key[32];
        snprintf(key, sizeof key, "p0-%d", k);
        batch_record(&r, &op, 0, k);
        sqlite3_bind_blob(ins, 1, key, (int)strlen(key), SQLITE_TRANSIENT);
        sqlite3_bind_blob(ins, 2, r.data, (int)r.len, SQLITE_TRANSIENT);
        CHECK(sqlite3_step(ins) == SQLITE_DONE);
        sqlite3_reset(ins);
        cara_buf_free(&r);
    }
    sqlite3_finalize(ins);
    sqlite3_close(db);
    cara_store *st;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *s = treplica(&op, 1);
    cara_store_report rep;
    CHECK_OK(cara_store_load(st, s, NOW_MS, &rep));
    CHECK_INT(rep.migrated, ==, BATCH_RECORDS);
    CHECK_INT(rep.loaded, ==, BATCH_RECORDS);
    cara_crdt_free(s);
    cara_store_close(st);
    CHECK_INT(count_rows(path, "SELECT count(*) FROM sqlite_master WHERE name='records'"), ==, 0);
    CHECK_INT(count_rows(path, "SELECT count(*) FROM state_records"), ==, BATCH_RECORDS);
}

/* Runs `sql` with ? bound to the row id of record p0-<k>. */
static void tamper_key(const char *path, const tkey *op, int k, const char *sql)
{
    cara_buf r;
    cara_crdt_record rec;
    uint8_t id[CARA_CRDT_ID_BYTES];
    batch_record(&r, op, 0, k);
    CHECK_OK(cara_crdt_record_decode(r.data, r.len, &rec));
    cara_crdt_record_id(&rec, id);
    sqlite3 *db;
    sqlite3_stmt *q;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK);
    sqlite3_bind_blob(q, 1, id, sizeof id, SQLITE_STATIC);
    CHECK(sqlite3_step(q) == SQLITE_DONE);
    CHECK(sqlite3_changes(db) == 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    cara_buf_free(&r);
}

TEST(store_quarantines_tampered_rows_and_loads_the_rest)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, stranger;
    tkey_make(&op, &rng);
    tkey_make(&stranger, &rng);
    char path[128];
    db_path(path, sizeof path);
    cara_store *st;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *w = treplica(&op, 1);
    put_batch(st, w, &op, 0);
    cara_crdt_free(w);
    /* A record by a key that is not (or no longer) an operator of this
     * node, written by a replica that trusted it. */
    cara_crdt *other = treplica(&stranger, 1);
    cara_buf foreign;
    trec(&foreign, CARA_CRDT_PROJECT, "foreign", 1, HLC(NOW_MS, 0), &stranger, "\x80", 1);
    CHECK_OK(cara_crdt_apply(other, foreign.data, foreign.len, NOW_MS, NULL));
    CHECK_OK(cara_store_persist(st, other, NULL, NULL));
    cara_crdt_free(other);
    cara_buf_free(&foreign);
    cara_store_close(st);
    /* Flip a bit in one signature, garble another row, give a third the
     * id of a fourth's slot (rows are found by the record's own key). */
    tamper_key(path, &op, 1, "UPDATE state_records SET bytes = substr(bytes,1,length(bytes)-40) || "
                 "(CASE WHEN substr(bytes,length(bytes)-39,1) = x'00' THEN x'01' ELSE x'00' END)"
                 " || substr(bytes,length(bytes)-38) WHERE id = ?");
    tamper_key(path, &op, 2, "UPDATE state_records SET bytes = x'ddffffffff' WHERE id = ?");
    tamper_key(path, &op, 3, "UPDATE state_records SET id = x'00112233445566778899aabbccddeeff' "
                             "WHERE id = ?");
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *s = treplica(&op, 1);
    cara_store_report rep;
    CHECK_OK(cara_store_load(st, s, NOW_MS, &rep));
    CHECK_INT(rep.quarantined, ==, 4);
    CHECK_INT(rep.loaded, ==, BATCH_RECORDS - 3);
    CHECK_INT(cara_store_quarantine_count(st), ==, 4);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *q;
    CHECK(sqlite3_prepare_v2(db, "SELECT group_concat(reason) FROM (SELECT reason FROM "
                                 "quarantine ORDER BY reason)", -1, &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(q, 0),
              "bad_signature,malformed,row_mismatch,untrusted_key");
    sqlite3_finalize(q);
    sqlite3_close(db);
    cara_crdt_free(s);
    /* A second load finds a clean table. */
    s = treplica(&op, 1);
    CHECK_OK(cara_store_load(st, s, NOW_MS, &rep));
    CHECK_INT(rep.quarantined, ==, 0);
    CHECK_INT(rep.loaded, ==, BATCH_RECORDS - 3);
    cara_crdt_free(s);
    cara_store_close(st);
}

/* Writes batches in order, one byte to `progress` after each commits. */
static _Noreturn void writer(const char *path, const tkey *op, int progress)
{
    cara_store *st;
    if (cara_store_open(&st, path, cara_test_env()) != 0)
        _exit(3);
    cara_crdt *s = treplica(op, 1);
    for (int b = 0; b < BATCHES_MAX; b++) {
        put_batch(st, s, op, b);
        if (write(progress, "b", 1) != 1)
            _exit(4);
    }
    _exit(0);
}

/* Reopens the store after a kill and checks the batch boundary. */
static int check_after_kill(const char *path, const tkey *op, uint64_t seed)
{
    cara_store *st;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *s = treplica(op, 1);
    cara_store_report rep;
    CHECK_OK(cara_store_load(st, s, NOW_MS, &rep));
    if (rep.quarantined != 0 || rep.loaded % BATCH_RECORDS != 0)
        cara_test_fail(__FILE__, __LINE__, "seed %llu: loaded %zu quarantined %zu",
                       (unsigned long long)seed, rep.loaded, rep.quarantined);
    int batches = (int)(rep.loaded / BATCH_RECORDS);
    /* Batches are written in order: exactly the first `batches` are there. */
    for (int b = 0; b < batches; b++) {
        for (int k = 0; k < BATCH_RECORDS; k++) {
            char key[32];
            cara_crdt_record r;
            snprintf(key, sizeof key, "p%d-%d", b, k);
            CHECK_OK(cara_crdt_get(s, CARA_CRDT_PROJECT, (const uint8_t *)key, strlen(key), &r));
        }
    }
    cara_crdt_free(s);
    cara_store_close(st);
    return batches;
}

TEST(store_survives_sigkill_during_batch_writes)
{
    uint64_t seed = cara_test_seed();
    cara_rng rng;
    cara_rng_seed(&rng, seed);
    tkey op;
    tkey_make(&op, &rng);
    int partial = 0;
    for (int run = 0; run < 6; run++) {
        char path[128];
        db_path(path, sizeof path);
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            writer(path, &op, fds[1]);
        }
        close(fds[1]);
        /* Kill right after a random batch committed, while the next is being
         * written: landing mid-run does not depend on how fast this machine
         * (or a sanitizer build) is. */
        int after = 1 + (int)cara_rng_below(&rng, BATCHES_MAX / 2);
        char byte;
        for (int i = 0; i < after && read(fds[0], &byte, 1) == 1; i++)
            ;
        kill(pid, SIGKILL);
        close(fds[0]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        int batches = check_after_kill(path, &op, seed);
        if (WIFSIGNALED(status) && batches > 0 && batches < BATCHES_MAX)
            partial++;
    }
    /* The kills must land mid-run at least sometimes, or nothing was tested. */
    CHECK(partial > 0);
}

TEST(store_reload_does_not_depend_on_the_clock_being_right)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    char path[128];
    db_path(path, sizeof path);
    cara_store *st;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *w = treplica(&op, 1);
    put_batch(st, w, &op, 0); /* stamped NOW_MS */
    cara_crdt_free(w);
    cara_store_close(st);
    /* The node boots with its clock a day behind (no RTC, no NTP yet): its
     * own rows are not "from the future", nothing is quarantined. */
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    cara_crdt *s = treplica(&op, 1);
    cara_store_report rep;
    CHECK_OK(cara_store_load(st, s, NOW_MS - 24LL * 3600 * 1000, &rep));
    CHECK_INT(rep.loaded, ==, BATCH_RECORDS);
    CHECK_INT(rep.quarantined, ==, 0);
    CHECK_INT(cara_store_quarantine_count(st), ==, 0);
    /* A record that arrives now, from the network, is still checked. */
    cara_buf late;
    trec(&late, CARA_CRDT_PROJECT, "late", 1, HLC(NOW_MS, 0), &op, "\x80", 1);
    CHECK_RC(cara_crdt_apply(s, late.data, late.len, NOW_MS - 24LL * 3600 * 1000, NULL), CARA_EFUTURE);
    cara_buf_free(&late);
    cara_crdt_free(s);
    cara_store_close(st);
}
