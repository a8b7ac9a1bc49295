/*
 * The SQLite store: batches round-trip, a tampered row is quarantined and
 * reported without stopping the load, and a writer killed with SIGKILL in
 * the middle of batches leaves the database at a batch boundary with every
 * signature valid.
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

static void put_batch(cara_store *st, const tkey *op, int b)
{
    cara_buf recs[BATCH_RECORDS];
    cara_store_op ops[BATCH_RECORDS];
    for (int k = 0; k < BATCH_RECORDS; k++) {
        batch_record(&recs[k], op, b, k);
        ops[k] = (cara_store_op){.type = CARA_STORE_PUT, .bytes = recs[k].data, .len = recs[k].len};
    }
    CHECK_OK(cara_store_apply(st, ops, BATCH_RECORDS));
    for (int k = 0; k < BATCH_RECORDS; k++)
        cara_buf_free(&recs[k]);
}

TEST(store_batches_round_trip_with_deletes_and_floors)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    char path[128];
    db_path(path, sizeof path);
    cara_store *st;
    CHECK_OK(cara_store_open(&st, path, cara_test_env()));
    for (int b = 0; b < 3; b++)
        put_batch(st, &op, b);
    cara_store_op ops[] = {
        {.type = CARA_STORE_DEL, .kind = CARA_CRDT_PROJECT, .key = (const uint8_t *)"p0-0",
         .key_bytes = 4},
        {.type = CARA_STORE_FLOOR, .key = (const uint8_t *)"p0-0", .key_bytes = 4,
         .generation = 1},
    };
    CHECK_OK(cara_store_apply(st, ops, 2));
    /* A batch with one undecodable op writes nothing. */
    cara_store_op bad[] = {ops[0], {.type = CARA_STORE_PUT, .bytes = (const uint8_t *)"x", .len = 1}};
    CHECK_RC(cara_store_apply(st, bad, 2), CARA_EINVAL);
    cara_store_close(st);

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

static void tamper(const char *path, const char *sql)
{
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
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
    put_batch(st, &op, 0);
    cara_buf foreign;
    trec(&foreign, CARA_CRDT_PROJECT, "foreign", 1, HLC(NOW_MS, 0), &stranger, "\x80", 1);
    cara_store_op put = {.type = CARA_STORE_PUT, .bytes = foreign.data, .len = foreign.len};
    CHECK_OK(cara_store_apply(st, &put, 1));
    cara_buf_free(&foreign);
    cara_store_close(st);
    /* Flip a bit in one signature, garble another row, rename a third. */
    tamper(path, "UPDATE records SET bytes = substr(bytes,1,length(bytes)-40) || "
                 "(CASE WHEN substr(bytes,length(bytes)-39,1) = x'00' THEN x'01' ELSE x'00' END)"
                 " || substr(bytes,length(bytes)-38) WHERE key = CAST('p0-1' AS BLOB)");
    tamper(path, "UPDATE records SET bytes = x'ddffffffff' WHERE key = CAST('p0-2' AS BLOB)");
    tamper(path, "UPDATE records SET key = CAST('p0-9' AS BLOB) WHERE key = CAST('p0-3' AS BLOB)");
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
    for (int b = 0; b < BATCHES_MAX; b++) {
        put_batch(st, op, b);
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
    put_batch(st, &op, 0); /* stamped NOW_MS */
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
