/*
 * make bench-crdt: 10,000 projects of realistic size on two replicas, 1 %
 * of them newer on one side. Prints the bytes a digest/delta reconciliation
 * exchanges as a fraction of the full state, merge+verify throughput, and
 * ingest throughput through the durable store (SQLite, synchronous=FULL):
 * batches of records merged and written in one transaction each, against
 * one transaction per record measured in the same run. Not a pass/fail
 * test: numbers for humans and for docs/crdt.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "agent/store.h"
#include "crdt/crdt.h"
#include "os/os.h"

#define INGEST_RECORDS 2000
#define INGEST_BATCH 100

#define PROJECTS 10000
#define DIFFER (PROJECTS / 100)
#define NOW_MS 1700000000000LL

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench-crdt: %s: %s\n", what, cara_strerror(rc));
    exit(1);
}

/* A stand-in spec: about 1.5 KiB, the size of a two-service project with a
 * dozen env vars, an ingress and a health check once encoded. */
static void spec_value(cara_rng *rng, uint8_t *v, size_t *n)
{
    *n = 1200 + cara_rng_below(rng, 600);
    for (size_t i = 0; i < *n; i++)
        v[i] = (uint8_t)("abcdefghijklmnopqrstuvwxyz0123456789:=/-"[cara_rng_below(rng, 40)]);
}

static void sign_project(cara_buf *all, cara_rng *rng, const uint8_t *pk, const uint8_t *sk,
                         int i, uint64_t gen)
{
    char name[32];
    uint8_t v[2048];
    size_t n;
    snprintf(name, sizeof name, "project-%05d", i);
    spec_value(rng, v, &n);
    cara_crdt_record r = {.kind = CARA_CRDT_PROJECT, .key = (const uint8_t *)name,
                          .key_bytes = strlen(name), .generation = gen,
                          .hlc = ((uint64_t)NOW_MS << 16) + (uint64_t)i, .author = pk,
                          .value = v, .value_bytes = n};
    int rc = cara_crdt_record_sign(&r, sk, all);
    if (rc != 0)
        die("sign", rc);
}

static void sync_pair(cara_crdt *a, cara_crdt *b, cara_env *env, size_t *digest, size_t *delta_b)
{
    cara_buf msg, reply, delta;
    cara_buf_init(&msg, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&reply, env, CARA_CRDT_SYNC_MSG_BYTES_MAX);
    cara_buf_init(&delta, env, CARA_CRDT_DELTA_BYTES_MAX);
    int rc = 0;
    for (int exchange = 0; rc == 0 && exchange < 8; exchange++) {
        uint8_t ha[32], hb[32];
        cara_crdt_state_hash(a, ha);
        cara_crdt_state_hash(b, hb);
        if (memcmp(ha, hb, 32) == 0)
            break;
        cara_buf_reset(&msg);
        rc = cara_crdt_sync_start(a, &msg);
        cara_crdt *from = a, *to = b;
    while (rc == 0 && msg.len > 0) {
        *digest += msg.len;
        cara_buf_reset(&reply);
        cara_buf_reset(&delta);
        rc = cara_crdt_sync_recv(to, msg.data, msg.len, &reply, &delta);
        *delta_b += delta.len;
        if (rc == 0)
            rc = cara_crdt_apply_batch(from, delta.data, delta.len, NOW_MS, NULL);
        cara_buf t = msg;
        msg = reply, reply = t;
        cara_crdt *x = from;
        from = to, to = x;
    }
    }
    if (rc != 0)
        die("sync", rc);
    cara_buf_free(&msg);
    cara_buf_free(&reply);
    cara_buf_free(&delta);
}

/* Merges `n` records into a fresh replica and store, `batch` per
 * transaction; returns durable records per second. */
static double ingest(cara_env *env, const cara_crdt_cfg *cfg, const cara_buf *recs, size_t n,
                     size_t batch)
{
    char dir[] = "/tmp/cara-bench-XXXXXX", path[64];
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", CARA_EIO);
    snprintf(path, sizeof path, "%s/state.db", dir);
    cara_store *st;
    cara_crdt *s;
    int rc = cara_store_open(&st, path, env);
    if (rc != 0 || (rc = cara_crdt_new(&s, cfg, env)) != 0)
        die("ingest setup", rc);
    double t0 = now_s();
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        if ((rc = cara_mpcheck(recs->data + off, recs->len - off, 4, &len)) != 0 ||
            (rc = cara_crdt_apply(s, recs->data + off, len, NOW_MS, NULL)) != 0)
            die("ingest apply", rc);
        off += len;
        if ((i + 1) % batch == 0 && (rc = cara_store_persist(st, s, NULL, NULL)) != 0)
            die("ingest persist", rc);
    }
    if ((rc = cara_store_persist(st, s, NULL, NULL)) != 0)
        die("ingest persist", rc);
    double t = now_s() - t0;
    cara_crdt_free(s);
    cara_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        die("cleanup", CARA_EIO);
    return (double)n / t;
}

int main(void)
{
    cara_os_log log = {.stream = stderr, .app = "bench-crdt"};
    cara_env env;
    cara_os_env_init(&env, &log, CARA_LOG_WARN);
    cara_rng_seed(&env.rng, 1);
    uint8_t seed[32] = {1}, pk[32], sk[64];
    cara_crdt_key_from_seed(seed, pk, sk);
    cara_crdt_cfg cfg = {.operator_pks = (const uint8_t(*)[32])pk, .operator_pks_count = 1};
    cara_crdt *a, *b;
    if (cara_crdt_new(&a, &cfg, &env) || cara_crdt_new(&b, &cfg, &env))
        die("new", CARA_ENOMEM);
    cara_buf base, newer;
    cara_buf_init(&base, &env, (size_t)PROJECTS * 4096);
    cara_buf_init(&newer, &env, (size_t)DIFFER * 4096);
    for (int i = 0; i < PROJECTS; i++)
        sign_project(&base, &env.rng, pk, sk, i, 1);
    for (int i = 0; i < DIFFER; i++)
        sign_project(&newer, &env.rng, pk, sk, i * (PROJECTS / DIFFER), 2);

    double t0 = now_s();
    size_t applied = 0;
    int rc = cara_crdt_apply_batch(a, base.data, base.len, NOW_MS, &applied);
    double t1 = now_s();
    if (rc != 0 || applied != PROJECTS)
        die("apply", rc ? rc : CARA_EINVAL);
    cara_crdt_apply_batch(b, base.data, base.len, NOW_MS, NULL);
    cara_crdt_apply_batch(b, newer.data, newer.len, NOW_MS, NULL);

    size_t digest = 0, delta = 0, state = cara_crdt_state_bytes(b);
    sync_pair(a, b, &env, &digest, &delta);
    uint8_t ha[32], hb[32];
    cara_crdt_state_hash(a, ha);
    cara_crdt_state_hash(b, hb);
    printf("projects=%d differing=%d record_bytes_avg=%zu\n", PROJECTS, DIFFER, state / PROJECTS);
    printf("state_bytes=%zu digest_bytes=%zu delta_record_bytes=%zu converged=%s\n", state,
           digest, delta, memcmp(ha, hb, 32) == 0 ? "yes" : "NO");
    printf("delta_fraction=%.4f\n", (double)(digest + delta) / (double)state);
    printf("merge_verify_records_per_s=%.0f\n", (double)PROJECTS / (t1 - t0));
    double batched = ingest(&env, &cfg, &base, INGEST_RECORDS, INGEST_BATCH);
    double single = ingest(&env, &cfg, &base, INGEST_RECORDS, 1);
    printf("ingest_durable_records_per_s=%.0f (batches of %d) "
           "ingest_one_txn_per_record_per_s=%.0f ratio=%.1f\n",
           batched, INGEST_BATCH, single, batched / single);
    cara_buf_free(&base);
    cara_buf_free(&newer);
    cara_crdt_free(a);
    cara_crdt_free(b);
    return memcmp(ha, hb, 32) == 0 ? 0 : 1;
}
