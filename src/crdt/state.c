/*
 * The replicated state: a table of the winning record per slot, the trust
 * rules that decide who may write what, and merge.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt_int.h"

static const char *const reason_names[CARA_CRDT_R_COUNT_] = {
    [CARA_CRDT_R_MALFORMED] = "malformed",       [CARA_CRDT_R_OVERSIZED] = "oversized",
    [CARA_CRDT_R_NONCANON] = "noncanonical",     [CARA_CRDT_R_BADSIG] = "bad_signature",
    [CARA_CRDT_R_UNTRUSTED] = "untrusted_key",   [CARA_CRDT_R_WRONG_AUTHOR] = "wrong_author",
    [CARA_CRDT_R_NOT_ADMITTED] = "not_admitted", [CARA_CRDT_R_STALE] = "stale",
    [CARA_CRDT_R_COLLECTED] = "collected",       [CARA_CRDT_R_FUTURE] = "future_timestamp",
    [CARA_CRDT_R_INVALID_VALUE] = "invalid_value", [CARA_CRDT_R_FULL] = "full",
    [CARA_CRDT_R_EXPIRED] = "expired_token",
};

const char *cara_crdt_reason_name(int reason)
{
    if (reason < 0 || reason >= CARA_CRDT_R_COUNT_)
        return "unknown";
    return reason_names[reason];
}

static int reason_of(int rc)
{
    switch (rc) {
    case CARA_ETOOBIG: return CARA_CRDT_R_OVERSIZED;
    case CARA_ENONCANON: return CARA_CRDT_R_NONCANON;
    case CARA_EBADSIG: return CARA_CRDT_R_BADSIG;
    case CARA_EUNTRUSTED: return CARA_CRDT_R_UNTRUSTED;
    case CARA_EWRONGAUTHOR: return CARA_CRDT_R_WRONG_AUTHOR;
    case CARA_ENOTADMITTED: return CARA_CRDT_R_NOT_ADMITTED;
    case CARA_ESTALE: return CARA_CRDT_R_STALE;
    case CARA_ECOLLECTED: return CARA_CRDT_R_COLLECTED;
    case CARA_EFUTURE: return CARA_CRDT_R_FUTURE;
    case CARA_ESCHEMA: return CARA_CRDT_R_INVALID_VALUE;
    case CARA_ELIMIT: return CARA_CRDT_R_FULL;
    case CARA_EEXPIRED: return CARA_CRDT_R_EXPIRED;
    default: return CARA_CRDT_R_MALFORMED;
    }
}

/* ---- Life cycle ------------------------------------------------------------ */

#define TABLE_CAP_MIN 64

int cara_crdt_new(cara_crdt **out, const cara_crdt_cfg *cfg, cara_env *env)
{
    CARA_ASSERT(out != NULL && cfg != NULL && env != NULL);
    *out = NULL;
    if (cfg->operator_pks_count == 0 || cfg->operator_pks_count > CARA_CRDT_OPERATORS_MAX ||
        cfg->operator_pks == NULL || cfg->skew_ms_max < 0 || cfg->tombstone_horizon_ms < 0 ||
        cfg->floor_horizon_ms < 0 || cfg->records_max > CARA_CRDT_RECORDS_MAX ||
        cfg->floors_max > CARA_CRDT_FLOORS_MAX || cfg->nodes_max > CARA_CRDT_NODES_MAX)
        return CARA_EINVAL;
    int64_t tomb_ms = cfg->tombstone_horizon_ms ? cfg->tombstone_horizon_ms
                                                : CARA_CRDT_TOMBSTONE_HORIZON_MS_DEFAULT;
    int64_t floor_ms = cfg->floor_horizon_ms ? cfg->floor_horizon_ms
                                             : CARA_CRDT_FLOOR_HORIZON_MS_DEFAULT;
    /* A floor must outlive the tombstone it replaces, or collection would
     * forget a delete the moment it happened. */
    if (floor_ms <= tomb_ms)
        return CARA_EINVAL;
    /* Ed25519 and BLAKE2b pick their implementation here; no IO is done
     * for the functions this module calls. Idempotent. */
    if (sodium_init() < 0)
        return CARA_ENOMEM;
    cara_crdt *s = cara_env_calloc(env, 1, sizeof *s);
    if (s == NULL)
        return CARA_ENOMEM;
    s->env = env;
    s->operators = cara_env_calloc(env, cfg->operator_pks_count, CARA_CRDT_PK_BYTES);
    s->table = cara_env_calloc(env, TABLE_CAP_MIN, sizeof *s->table);
    if (s->operators == NULL || s->table == NULL) {
        cara_crdt_free(s);
        return CARA_ENOMEM;
    }
    memcpy(s->operators, cfg->operator_pks, cfg->operator_pks_count * CARA_CRDT_PK_BYTES);
    s->operators_count = cfg->operator_pks_count;
    s->table_cap = TABLE_CAP_MIN;
    s->skew_ms_max = cfg->skew_ms_max ? cfg->skew_ms_max : CARA_CRDT_SKEW_MS_DEFAULT;
    s->tombstone_horizon_ms = tomb_ms;
    s->floor_horizon_ms = floor_ms;
    s->records_max = cfg->records_max ? cfg->records_max : CARA_CRDT_RECORDS_MAX;
    s->floors_max = cfg->floors_max ? cfg->floors_max : CARA_CRDT_FLOORS_MAX;
    s->nodes_max = cfg->nodes_max ? cfg->nodes_max : CARA_CRDT_NODES_MAX;
    s->validate_value = cfg->validate_value;
    s->validate_ctx = cfg->validate_ctx;
    s->sorted_dirty = true;
    *out = s;
    return 0;
}

static void entry_free(cara_env *env, crdt_entry *e)
{
    if (e != NULL)
        cara_env_free(env, e->bytes);
    cara_env_free(env, e);
}

void cara_crdt_free(cara_crdt *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->table && i < s->table_cap; i++)
        entry_free(s->env, s->table[i]);
    crdt_floors_free(s);
    crdt_changes_free(s);
    cara_env_free(s->env, s->table);
    cara_env_free(s->env, s->sorted);
    crdt_admitted_free(s);
    cara_env_free(s->env, s->joined);
    cara_env_free(s->env, s->operators);
    cara_env_free(s->env, s);
}

/* ---- Table (open addressing, linear probing, backward-shift delete) -------- */

static size_t probe_start(const cara_crdt *s, const uint8_t keyhash[16])
{
    /* The key hash is already uniform; its second half picks the bucket so
     * that the trie order (first half) and table order are unrelated. */
    return (size_t)crdt_be64(keyhash + 8) & (s->table_cap - 1);
}

static size_t find_index(const cara_crdt *s, const uint8_t keyhash[16], bool *found)
{
    size_t i = probe_start(s, keyhash);
    for (size_t n = 0; n < s->table_cap; n++, i = (i + 1) & (s->table_cap - 1)) {
        if (s->table[i] == NULL) {
            *found = false;
            return i;
        }
        if (memcmp(s->table[i]->keyhash, keyhash, 16) == 0) {
            *found = true;
            return i;
        }
    }
    CARA_UNREACHABLE(); /* the table is never full: load factor <= 1/2 */
}

crdt_entry *crdt_find(const cara_crdt *s, const uint8_t keyhash[16])
{
    bool found;
    size_t i = find_index(s, keyhash, &found);
    return found ? s->table[i] : NULL;
}

static int table_grow(cara_crdt *s)
{
    size_t cap = s->table_cap * 2;
    crdt_entry **t = cara_env_calloc(s->env, cap, sizeof *t);
    if (t == NULL)
        return CARA_ENOMEM;
    crdt_entry **old = s->table;
    size_t old_cap = s->table_cap;
    s->table = t;
    s->table_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] == NULL)
            continue;
        bool found;
        size_t j = find_index(s, old[i]->keyhash, &found);
        CARA_ASSERT(!found);
        t[j] = old[i];
    }
    cara_env_free(s->env, old);
    return 0;
}

static void table_remove_at(cara_crdt *s, size_t i)
{
    size_t mask = s->table_cap - 1;
    s->joins_held -= s->table[i]->rec.kind == CARA_CRDT_JOIN;
    crdt_log(s, CARA_CRDT_CHANGE_DEL, s->table[i]->keyhash);
    entry_free(s->env, s->table[i]);
    s->table[i] = NULL;
    /* Shift back later members of the same probe run into the hole. */
    for (size_t j = (i + 1) & mask; s->table[j] != NULL; j = (j + 1) & mask) {
        size_t home = probe_start(s, s->table[j]->keyhash);
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            s->table[i] = s->table[j];
            s->table[j] = NULL;
            i = j;
        }
    }
    s->count--;
    s->sorted_dirty = true;
}

bool crdt_remove(cara_crdt *s, const uint8_t keyhash[16])
{
    bool found;
    size_t i = find_index(s, keyhash, &found);
    if (found)
        table_remove_at(s, i);
    return found;
}

static int cmp_entry_keyhash(const void *a, const void *b)
{
    const crdt_entry *x = *(crdt_entry *const *)a, *y = *(crdt_entry *const *)b;
    return memcmp(x->keyhash, y->keyhash, 16);
}

crdt_entry **crdt_sorted(cara_crdt *s)
{
    if (!s->sorted_dirty)
        return s->sorted;
    crdt_entry **v = cara_env_realloc(s->env, s->sorted, (s->count + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    s->sorted = v;
    size_t n = 0;
    for (size_t i = 0; i < s->table_cap; i++)
        if (s->table[i] != NULL)
            v[n++] = s->table[i];
    CARA_ASSERT(n == s->count);
    qsort(v, n, sizeof *v, cmp_entry_keyhash);
    s->sorted_dirty = false;
    return v;
}

/* ---- Admissions ------------------------------------------------------------- */

bool crdt_is_operator(const cara_crdt *s, const uint8_t *pk)
{
    for (size_t i = 0; i < s->operators_count; i++)
        if (sodium_memcmp(s->operators[i], pk, CARA_CRDT_PK_BYTES) == 0)
            return true;
    return false;
}


/* The node joined by a token as `name`, if any (in effect and admitted). */
static const crdt_joined *joined_as(const cara_crdt *s, const uint8_t *name, size_t name_bytes)
{
    for (size_t i = 0; i < s->joined_count; i++)
        if (s->joined[i].name_bytes == name_bytes &&
            memcmp(s->joined[i].name, name, name_bytes) == 0)
            return &s->joined[i];
    return NULL;
}

/* The key admitted as node `name`: by the operator's admission held for
 * that name, if it admits and is in effect, else by a join token. (An
 * admitting operator record for a name keeps every join for that name out
 * of effect, so the two never both answer; see admit.c.) */
static bool admission_of(const cara_crdt *s, const uint8_t *name, size_t name_bytes,
                         uint8_t pk_out[CARA_CRDT_PK_BYTES])
{
    uint8_t kh[16];
    crdt_keyhash(CARA_CRDT_ADMISSION, name, name_bytes, NULL, kh);
    const crdt_entry *e = crdt_find(s, kh);
    bool admitted = false;
    if (e != NULL) {
        /* The value was checked when the admission was accepted. */
        int rc = cara_crdt_admission_decode(e->rec.value, e->rec.value_bytes, pk_out, &admitted);
        CARA_ASSERT(rc == 0);
        /* An admission past the cap is held but not in effect. */
        if (admitted && cara_crdt_node_admitted(s, pk_out))
            return true;
    }
    const crdt_joined *j = joined_as(s, name, name_bytes);
    if (j == NULL)
        return false;
    memcpy(pk_out, j->pk, CARA_CRDT_PK_BYTES);
    return true;
}

bool crdt_admits_as(const cara_crdt *s, const uint8_t *name, size_t name_bytes,
                    const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    uint8_t held[CARA_CRDT_PK_BYTES];
    return admission_of(s, name, name_bytes, held) &&
           memcmp(held, pk, CARA_CRDT_PK_BYTES) == 0;
}

int cara_crdt_node_key_of(const cara_crdt *s, const char *name, uint8_t pk[CARA_CRDT_PK_BYTES])
{
    size_t n = strlen(name);
    if (n == 0 || n > CARA_CRDT_KEY_BYTES_MAX)
        return CARA_ENOENT;
    return admission_of(s, (const uint8_t *)name, n, pk) ? 0 : CARA_ENOENT;
}

int cara_crdt_node_name_of(const cara_crdt *s, const uint8_t pk[CARA_CRDT_PK_BYTES], char *name,
                           size_t name_bytes_max)
{
    CARA_ASSERT(name != NULL && name_bytes_max > 0);
    for (size_t i = 0; i < s->table_cap; i++) {
        const crdt_entry *e = s->table[i];
        uint8_t held[CARA_CRDT_PK_BYTES];
        bool ok = false;
        if (e == NULL || e->rec.kind != CARA_CRDT_ADMISSION ||
            cara_crdt_admission_decode(e->rec.value, e->rec.value_bytes, held, &ok) != 0 || !ok ||
            memcmp(held, pk, CARA_CRDT_PK_BYTES) != 0)
            continue;
        snprintf(name, name_bytes_max, "%.*s", (int)e->rec.key_bytes, (const char *)e->rec.key);
        return 0;
    }
    for (size_t i = 0; i < s->joined_count; i++) {
        const crdt_joined *j = &s->joined[i];
        if (memcmp(j->pk, pk, CARA_CRDT_PK_BYTES) != 0)
            continue;
        snprintf(name, name_bytes_max, "%.*s", (int)j->name_bytes, (const char *)j->name);
        return 0;
    }
    return CARA_ENOENT;
}

/* Should a node-signed entry go, given the admissions now held? */
static bool unadmitted_entry(const cara_crdt *s, const crdt_entry *e)
{
    uint8_t pk[CARA_CRDT_PK_BYTES];
    if (cara_crdt_kind_per_author(e->rec.kind))
        return !cara_crdt_node_admitted(s, e->rec.author);
    if (e->rec.kind == CARA_CRDT_NODE)
        return !admission_of(s, e->rec.key, e->rec.key_bytes, pk) ||
               memcmp(pk, e->rec.author, CARA_CRDT_PK_BYTES) != 0;
    return false;
}

/* Rebuilds the admitted key set (admit.c) and drops node-signed records
 * whose author is no longer admitted (or, for node records, no longer that node's key).
 * Dropping rather than keeping them makes the state independent of whether
 * a record arrived before or after the revocation; the change feed tells
 * the store to delete them too. Then retries the held records. */
static int admissions_changed(cara_crdt *s, int64_t now_wall_ms)
{
    int rc = crdt_rebuild_admitted(s);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < s->table_cap;) {
        crdt_entry *e = s->table[i];
        if (e != NULL && unadmitted_entry(s, e)) {
            table_remove_at(s, i); /* may shift a later entry into i */
            s->stats.purged++;
            continue;
        }
        i++;
    }
    crdt_retry_held(s, now_wall_ms);
    return 0;
}

size_t cara_crdt_admission_room(const cara_crdt *s)
{
    return s->nodes_max - s->admitted_count;
}

uint64_t cara_crdt_admissions_version(const cara_crdt *s) { return s->admissions_version; }

size_t cara_crdt_admitted_count(const cara_crdt *s) { return s->admitted_count; }

int cara_crdt_admitted_at(const cara_crdt *s, size_t i, uint8_t pk[CARA_CRDT_PK_BYTES],
                          const char **name, size_t *name_bytes)
{
    if (i >= s->admitted_count)
        return CARA_ENOENT;
    memcpy(pk, s->admitted[i], CARA_CRDT_PK_BYTES);
    *name = s->admitted_names[i].name;
    *name_bytes = s->admitted_names[i].len;
    return 0;
}

/* ---- Trust: who may write what -------------------------------------------- */

static int check_author(const cara_crdt *s, const cara_crdt_record *r)
{
    uint8_t pk[CARA_CRDT_PK_BYTES];
    switch (r->kind) {
    case CARA_CRDT_PROJECT:
    case CARA_CRDT_TOMBSTONE:
    case CARA_CRDT_ADMISSION:
    case CARA_CRDT_SETTINGS:
    case CARA_CRDT_NODECTL:
        if (crdt_is_operator(s, r->author))
            return 0;
        return cara_crdt_node_admitted(s, r->author) ? CARA_EWRONGAUTHOR : CARA_EUNTRUSTED;
    case CARA_CRDT_STATUS:
    case CARA_CRDT_PLACEMENT:
        if (cara_crdt_node_admitted(s, r->author))
            return 0;
        return crdt_is_operator(s, r->author) ? CARA_EWRONGAUTHOR : CARA_EUNTRUSTED;
    case CARA_CRDT_NODE:
        if (!admission_of(s, r->key, r->key_bytes, pk))
            return CARA_ENOTADMITTED;
        if (memcmp(pk, r->author, CARA_CRDT_PK_BYTES) == 0)
            return 0;
        return cara_crdt_node_admitted(s, r->author) || crdt_is_operator(s, r->author)
                   ? CARA_EWRONGAUTHOR
                   : CARA_EUNTRUSTED;
    case CARA_CRDT_JOIN:
        /* Any key may ask to join with a token; the grant in the value
         * says whether an operator stands behind it (join.c). */
        return crdt_join_check_author(s, r);
    default:
        return CARA_EPARSE;
    }
}

static int check_value(const cara_crdt *s, const cara_crdt_record *r)
{
    if (r->kind == CARA_CRDT_ADMISSION) {
        uint8_t pk[CARA_CRDT_PK_BYTES];
        bool ok;
        return cara_crdt_admission_decode(r->value, r->value_bytes, pk, &ok) == 0 ? 0
                                                                                    : CARA_ESCHEMA;
    }
    if (r->kind == CARA_CRDT_JOIN)
        return crdt_join_verify_value(r); /* the operator's and the token's signatures */
    if (s->validate_value == NULL || r->kind == CARA_CRDT_TOMBSTONE)
        return 0;
    int rc = s->validate_value(s->validate_ctx, r->kind, r->key, r->key_bytes, r->value,
                               r->value_bytes);
    return rc == 0 ? 0 : CARA_ESCHEMA;
}

/* Is `r` at or below a collected delete of its project? Specs, tombstones,
 * statuses and placements all name the project in their key. */
static bool below_floor(const cara_crdt *s, const cara_crdt_record *r)
{
    int slot = crdt_slot_of(r->kind);
    if (slot != CARA_CRDT_PROJECT && !cara_crdt_kind_per_author(r->kind))
        return false;
    uint64_t floor;
    return cara_crdt_floor_get(s, r->key, r->key_bytes, &floor) && r->generation <= floor;
}

/* ---- Leftovers of deleted projects --------------------------------------------- */

size_t crdt_drop_leftovers(cara_crdt *s, const uint8_t *key, size_t key_bytes,
                           uint64_t generation)
{
    static const int kinds[] = {CARA_CRDT_STATUS, CARA_CRDT_PLACEMENT};
    size_t n = 0;
    for (size_t a = 0; a < s->admitted_count; a++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            uint8_t kh[16];
            crdt_keyhash(kinds[k], key, key_bytes, s->admitted[a], kh);
            const crdt_entry *e = crdt_find(s, kh);
            if (e != NULL && e->rec.generation <= generation && crdt_remove(s, kh))
                n++;
        }
    }
    return n;
}

/* Status and placement records of a project this replica holds nothing
 * of (no spec, no tombstone, no floor) and that are older than the
 * tombstone horizon: written for a project that was deleted and collected
 * before they arrived, or by a node that wrote for a project that never
 * existed. Nothing can refer to them any more. */
static size_t collect_orphans(cara_crdt *s, int64_t now_wall_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < s->table_cap;) {
        crdt_entry *e = s->table[i];
        uint8_t kh[16];
        if (e == NULL || !cara_crdt_kind_per_author(e->rec.kind) ||
            cara_crdt_hlc_wall_ms(e->rec.hlc) > now_wall_ms - s->tombstone_horizon_ms) {
            i++;
            continue;
        }
        crdt_keyhash(CARA_CRDT_PROJECT, e->rec.key, e->rec.key_bytes, NULL, kh);
        if (crdt_find(s, kh) != NULL) {
            i++;
            continue;
        }
        table_remove_at(s, i);
        n++;
    }
    return n;
}

static bool tombstone_due(const cara_crdt *s, const cara_crdt_record *r, int64_t now_wall_ms)
{
    return r->kind == CARA_CRDT_TOMBSTONE &&
           cara_crdt_hlc_wall_ms(r->hlc) <= now_wall_ms - s->tombstone_horizon_ms;
}

/* One pass over the table turning due tombstones into floors. Removing
 * a project's leftovers can shift a later tombstone into a slot already
 * passed; the caller runs passes until one collects nothing. */
static size_t collect_pass(cara_crdt *s, int64_t now_wall_ms)
{
    size_t removed = 0;
    for (size_t i = 0; i < s->table_cap;) {
        crdt_entry *e = s->table[i];
        if (e == NULL || !tombstone_due(s, &e->rec, now_wall_ms)) {
            i++;
            continue;
        }
        /* crdt_floor_make removes the tombstone (and may shift a later
         * entry into i, which the loop then looks at). */
        uint8_t kh[16];
        memcpy(kh, e->keyhash, sizeof kh);
        if (crdt_floor_make(s, e->bytes, e->len, now_wall_ms) != 0 || crdt_find(s, kh) != NULL) {
            i++; /* kept (no memory for its floor): looked at again next run */
            continue;
        }
        s->stats.collected++;
        removed++;
    }
    return removed;
}

size_t cara_crdt_gc(cara_crdt *s, int64_t now_wall_ms)
{
    size_t removed = 0, n;
    while ((n = collect_pass(s, now_wall_ms)) > 0)
        removed += n;
    size_t orphans = collect_orphans(s, now_wall_ms);
    s->stats.leftovers_collected += orphans;
    removed += orphans;
    removed += crdt_floors_expire(s, now_wall_ms);
    return removed;
}

/* ---- Merge ------------------------------------------------------------------ */

/* Decides whether `r` may replace what is held. Returns 0 (apply), or
 * CARA_EEXIST for an identical record, or a refusal. */
static int admit_record(cara_crdt *s, const cara_crdt_record *r, const uint8_t keyhash[16],
                        int64_t now_wall_ms, bool stored)
{
    /* Cheap checks first, signature last but before anything that could
     * let an unsigned record influence the outcome beyond its counter. */
    if (!stored && cara_crdt_hlc_wall_ms(r->hlc) > now_wall_ms + s->skew_ms_max)
        return CARA_EFUTURE;
    int rc = check_author(s, r);
    if (rc != 0)
        return rc;
    if (below_floor(s, r))
        return CARA_ECOLLECTED;
    const crdt_entry *held = crdt_find(s, keyhash);
    if (held != NULL) {
        int c = crdt_record_cmp(r, &held->rec);
        if (c == 0)
            return CARA_EEXIST;
        if (c < 0)
            return CARA_ESTALE;
    }
    rc = cara_crdt_record_verify(r);
    if (rc != 0)
        return rc;
    return check_value(s, r);
}

static int entry_new(cara_crdt *s, const uint8_t *bytes, size_t len, const uint8_t keyhash[16],
                     crdt_entry **out)
{
    crdt_entry *e = cara_env_calloc(s->env, 1, sizeof *e);
    uint8_t *copy = cara_env_alloc(s->env, len);
    if (e == NULL || copy == NULL) {
        cara_env_free(s->env, e);
        cara_env_free(s->env, copy);
        return CARA_ENOMEM;
    }
    memcpy(copy, bytes, len);
    e->bytes = copy;
    e->len = len;
    int rc = cara_crdt_record_decode(copy, len, &e->rec);
    CARA_ASSERT(rc == 0);
    memcpy(e->keyhash, keyhash, 16);
    e->keyhash_hi = crdt_be64(keyhash);
    uint8_t vh[8];
    crypto_generichash(vh, sizeof vh, copy, len, NULL, 0);
    e->vhash = crdt_be64(vh);
    *out = e;
    return 0;
}

static int install(cara_crdt *s, const uint8_t *bytes, size_t len, const uint8_t keyhash[16],
                   int64_t now_wall_ms)
{
    bool found;
    size_t i = find_index(s, keyhash, &found);
    if (!found && s->count >= s->records_max)
        return CARA_ELIMIT;
    crdt_entry *e;
    int rc = entry_new(s, bytes, len, keyhash, &e);
    if (rc != 0)
        return rc;
    s->joins_held += e->rec.kind == CARA_CRDT_JOIN;
    if (found) {
        s->joins_held -= s->table[i]->rec.kind == CARA_CRDT_JOIN;
        entry_free(s->env, s->table[i]);
        s->table[i] = e;
    } else {
        if (2 * (s->count + 1) > s->table_cap) {
            rc = table_grow(s);
            if (rc != 0) {
                s->joins_held -= e->rec.kind == CARA_CRDT_JOIN;
                entry_free(s->env, e);
                return rc;
            }
            i = find_index(s, keyhash, &found);
        }
        s->table[i] = e;
        s->count++;
    }
    s->sorted_dirty = true;
    crdt_log(s, CARA_CRDT_CHANGE_PUT, keyhash);
    if (!found && crdt_admit_one(s, &e->rec)) {
        /* One key more and nothing else: no record loses its author, and
         * records held for this key may now go in. */
        crdt_retry_held(s, now_wall_ms);
        return 0;
    }
    if (e->rec.kind == CARA_CRDT_ADMISSION || e->rec.kind == CARA_CRDT_JOIN)
        return admissions_changed(s, now_wall_ms);
    return 0;
}

static void hlc_observe(cara_crdt *s, uint64_t hlc)
{
    if (hlc > s->hlc_last)
        s->hlc_last = hlc;
}

/* A node record or status refused only because its author is not (yet)
 * admitted is held if its signature is good (see changes.c). */
static void maybe_hold(cara_crdt *s, const cara_crdt_record *r, int rc, const uint8_t *bytes,
                       size_t len)
{
    bool node_kind = r->kind == CARA_CRDT_NODE || cara_crdt_kind_per_author(r->kind);
    if (!node_kind || (rc != CARA_ENOTADMITTED && rc != CARA_EUNTRUSTED))
        return;
    if (crdt_is_operator(s, r->author) || cara_crdt_record_verify(r) != 0)
        return;
    crdt_hold(s, bytes, len);
}

/* Puts an accepted record in place: a tombstone already past the horizon
 * becomes a floor at once (collection would do it on its next run). */
static int place(cara_crdt *s, const cara_crdt_record *r, const uint8_t *bytes, size_t len,
                 const uint8_t keyhash[16], int64_t now_wall_ms)
{
    if (!tombstone_due(s, r, now_wall_ms))
        return install(s, bytes, len, keyhash, now_wall_ms);
    /* Never installed, but a store may hold it (reloaded at start after
     * the horizon passed): its row goes, the floor stands for it. */
    crdt_log(s, CARA_CRDT_CHANGE_DEL, keyhash);
    int rc = crdt_floor_make(s, bytes, len, now_wall_ms);
    if (rc == 0)
        s->stats.collected++;
    return rc;
}

static int apply(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms,
                 bool stored, int *result)
{
    CARA_ASSERT(s != NULL);
    cara_crdt_record r;
    uint8_t kh[16];
    int rc = cara_crdt_record_decode(bytes, len, &r);
    if (rc == 0) {
        crdt_keyhash(r.kind, r.key, r.key_bytes, r.author, kh);
        rc = admit_record(s, &r, kh, now_wall_ms, stored);
    }
    if (rc == CARA_EEXIST) {
        s->stats.duplicates++;
        if (result)
            *result = CARA_CRDT_DUPLICATE;
        return 0;
    }
    if (rc == 0)
        rc = place(s, &r, bytes, len, kh, now_wall_ms);
    if (rc == CARA_ENOMEM)
        return rc; /* ours, not the sender's fault: not counted as a refusal */
    if (rc != 0) {
        s->stats.rejected[reason_of(rc)]++;
        if (r.body != NULL)
            maybe_hold(s, &r, rc, bytes, len);
        return rc;
    }
    hlc_observe(s, r.hlc);
    s->stats.applied++;
    if (result)
        *result = CARA_CRDT_APPLIED;
    return 0;
}

int cara_crdt_apply(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms,
                    int *result)
{
    return apply(s, bytes, len, now_wall_ms, false, result);
}

int cara_crdt_apply_local(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms,
                           int *result)
{
    return apply(s, bytes, len, now_wall_ms, true, result);
}

int cara_crdt_floor_restore(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms)
{
    cara_crdt_record r;
    int rc = cara_crdt_record_decode(bytes, len, &r);
    if (rc == 0 && r.kind != CARA_CRDT_TOMBSTONE)
        rc = CARA_EINVAL;
    if (rc == 0 && !crdt_is_operator(s, r.author))
        rc = CARA_EUNTRUSTED;
    if (rc == 0)
        rc = cara_crdt_record_verify(&r);
    /* Restored whatever its age against this clock: the floor horizon is
     * applied by cara_crdt_gc, not at load (a clock that is wrong at boot
     * must not forget deletes). */
    if (rc == 0)
        rc = crdt_floor_make(s, bytes, len, now_wall_ms);
    if (rc == 0)
        hlc_observe(s, r.hlc);
    return rc;
}

/* Operator-signed kinds and joins go first: admissions and joins decide
 * which node records are acceptable, whatever order the sender packed
 * them in. */
static bool first_pass_kind(const uint8_t *bytes, size_t len)
{
    cara_crdt_record r;
    if (cara_crdt_record_decode(bytes, len, &r) != 0)
        return true;
    return r.kind == CARA_CRDT_ADMISSION || r.kind == CARA_CRDT_SETTINGS ||
           r.kind == CARA_CRDT_NODECTL || r.kind == CARA_CRDT_JOIN;
}

int cara_crdt_apply_batch(cara_crdt *s, const uint8_t *bytes, size_t len, int64_t now_wall_ms,
                          size_t *applied_out)
{
    size_t applied = 0;
    int rc_frame = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        while (off < len) {
            size_t n = 0;
            if (cara_mpcheck(bytes + off, len - off, 4, &n) != 0) {
                rc_frame = CARA_EPARSE;
                break;
            }
            bool first = first_pass_kind(bytes + off, n);
            if (first == (pass == 0)) {
                int result = 0;
                if (cara_crdt_apply(s, bytes + off, n, now_wall_ms, &result) == 0 &&
                    result == CARA_CRDT_APPLIED)
                    applied++;
            }
            off += n;
        }
    }
    if (applied_out)
        *applied_out = applied;
    return rc_frame;
}

uint64_t cara_crdt_hlc_next(cara_crdt *s, int64_t now_wall_ms)
{
    CARA_ASSERT(now_wall_ms >= 0);
    uint64_t wall = (uint64_t)now_wall_ms << CARA_CRDT_HLC_COUNTER_BITS;
    /* Past the counter's 16 bits the stamp spills into the millisecond
     * field: the clock runs a little ahead rather than going backwards. */
    s->hlc_last = wall > s->hlc_last ? wall : s->hlc_last + 1;
    return s->hlc_last;
}

/* ---- Reading ---------------------------------------------------------------- */

static bool key_arg_ok(const uint8_t *key, size_t key_bytes)
{
    return key != NULL && key_bytes > 0 && key_bytes <= CARA_CRDT_KEY_BYTES_MAX;
}

int cara_crdt_get(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                  cara_crdt_record *out)
{
    uint8_t kh[16];
    if (!key_arg_ok(key, key_bytes) || crdt_slot_by_author(kind))
        return CARA_ENOENT;
    crdt_keyhash(kind, key, key_bytes, NULL, kh);
    const crdt_entry *e = crdt_find(s, kh);
    if (e == NULL)
        return CARA_ENOENT;
    *out = e->rec;
    return 0;
}

int cara_crdt_get_envelope(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                           const uint8_t *author, const uint8_t **bytes, size_t *len)
{
    uint8_t kh[16];
    if (!key_arg_ok(key, key_bytes) || (author == NULL && crdt_slot_by_author(kind)))
        return CARA_ENOENT;
    crdt_keyhash(kind, key, key_bytes, author, kh);
    const crdt_entry *e = crdt_find(s, kh);
    if (e == NULL || (author != NULL && memcmp(e->rec.author, author, CARA_CRDT_PK_BYTES) != 0))
        return CARA_ENOENT;
    *bytes = e->bytes;
    *len = e->len;
    return 0;
}

int cara_crdt_get_by_id(const cara_crdt *s, const uint8_t id[CARA_CRDT_ID_BYTES],
                        const uint8_t **bytes, size_t *len, uint64_t *hlc, bool *floor)
{
    const crdt_entry *e = crdt_find(s, id);
    if (e != NULL) {
        *bytes = e->bytes;
        *len = e->len;
        *hlc = e->rec.hlc;
        *floor = false;
        return 0;
    }
    const crdt_floor *f = crdt_floor_find(s, id);
    if (f == NULL)
        return CARA_ENOENT;
    *bytes = f->bytes;
    *len = f->len;
    *hlc = f->rec.hlc;
    *floor = true;
    return 0;
}

int cara_crdt_get_by(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                     const uint8_t author[CARA_CRDT_PK_BYTES], cara_crdt_record *out)
{
    uint8_t kh[16];
    if (!key_arg_ok(key, key_bytes) || author == NULL)
        return CARA_ENOENT;
    crdt_keyhash(kind, key, key_bytes, author, kh);
    const crdt_entry *e = crdt_find(s, kh);
    if (e == NULL || memcmp(e->rec.author, author, CARA_CRDT_PK_BYTES) != 0)
        return CARA_ENOENT;
    *out = e->rec;
    return 0;
}

int cara_crdt_foreach_author(const cara_crdt *s, int kind, const uint8_t *key, size_t key_bytes,
                             int (*fn)(void *ctx, const cara_crdt_record *r), void *ctx)
{
    if (!cara_crdt_kind_per_author(kind) || !key_arg_ok(key, key_bytes))
        return 0;
    for (size_t a = 0; a < s->admitted_count; a++) {
        cara_crdt_record r;
        if (cara_crdt_get_by(s, kind, key, key_bytes, s->admitted[a], &r) != 0)
            continue;
        int rc = fn(ctx, &r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int cara_crdt_foreach(const cara_crdt *s, int (*fn)(void *ctx, const cara_crdt_record *r,
                                                    const uint8_t *bytes, size_t len),
                      void *ctx)
{
    /* Sorting is a cache refresh, not a change of the state. */
    crdt_entry **v = crdt_sorted((cara_crdt *)s);
    if (v == NULL)
        return CARA_ENOMEM;
    for (size_t i = 0; i < s->count; i++) {
        int rc = fn(ctx, &v[i]->rec, v[i]->bytes, v[i]->len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void cara_crdt_state_hash(const cara_crdt *s, uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crdt_entry **v = crdt_sorted((cara_crdt *)s);
    CARA_ASSERT(v != NULL || s->count == 0);
    for (size_t i = 0; i < s->count; i++) {
        uint8_t len_be[8];
        for (int b = 0; b < 8; b++)
            len_be[b] = (uint8_t)(v[i]->len >> (56 - 8 * b));
        crypto_generichash_update(&st, len_be, sizeof len_be);
        crypto_generichash_update(&st, v[i]->bytes, v[i]->len);
    }
    crypto_generichash_final(&st, out, 32);
}

size_t cara_crdt_state_bytes(const cara_crdt *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->table_cap; i++)
        if (s->table[i] != NULL)
            n += s->table[i]->len;
    return n;
}

void cara_crdt_stats_get(const cara_crdt *s, cara_crdt_stats *out)
{
    *out = s->stats;
    out->records_count = s->count;
    out->floors_count = s->floors_count;
    out->held_count = s->held_count;
}
