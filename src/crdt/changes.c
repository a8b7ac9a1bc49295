/*
 * The change feed (what the driver mirrors into its store) and the records
 * held until their author's admission arrives.
 */
#include <string.h>

#include "crdt/crdt_int.h"

/* ---- Change log ------------------------------------------------------------ */

void crdt_log(cara_crdt *s, int type, const uint8_t id[16])
{
    if (s->changes_reset)
        return; /* the driver rewrites everything anyway */
    if (s->changes_count == s->changes_cap) {
        size_t cap = s->changes_cap ? s->changes_cap * 2 : 64;
        crdt_change *v = NULL;
        if (cap <= CARA_CRDT_CHANGES_MAX) {
            /* Compact first: taken changes are dead weight. */
            if (s->changes_next > 0) {
                memmove(s->changes, s->changes + s->changes_next,
                        (s->changes_count - s->changes_next) * sizeof *s->changes);
                s->changes_count -= s->changes_next;
                s->changes_next = 0;
            }
            v = cara_env_realloc(s->env, s->changes, cap * sizeof *v);
        }
        if (v == NULL) {
            /* Over the cap (or out of memory): one RESET says it all. */
            s->changes_reset = true;
            s->changes_count = s->changes_next = 0;
            return;
        }
        s->changes = v;
        s->changes_cap = cap;
    }
    crdt_change *c = &s->changes[s->changes_count++];
    c->type = (uint8_t)type;
    memcpy(c->id, id, 16);
}

int cara_crdt_poll_change(cara_crdt *s, cara_crdt_change *out)
{
    CARA_ASSERT(s != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (s->changes_reset) {
        s->changes_reset = false;
        out->type = CARA_CRDT_CHANGE_RESET;
        return 1;
    }
    while (s->changes_next < s->changes_count) {
        const crdt_change *c = &s->changes[s->changes_next++];
        out->type = c->type;
        memcpy(out->id, c->id, 16);
        if (c->type == CARA_CRDT_CHANGE_PUT) {
            /* The current bytes of the slot; a slot removed since has its
             * DEL later in the log, so this entry says nothing more. */
            const crdt_entry *e = crdt_find(s, c->id);
            if (e == NULL)
                continue;
            out->bytes = e->bytes;
            out->len = e->len;
        } else if (c->type == CARA_CRDT_CHANGE_FLOOR_PUT) {
            const crdt_floor *f = crdt_floor_find(s, c->id);
            if (f == NULL)
                continue;
            out->bytes = f->bytes;
            out->len = f->len;
        }
        return 1;
    }
    s->changes_count = s->changes_next = 0;
    return 0;
}

void crdt_changes_free(cara_crdt *s)
{
    cara_env_free(s->env, s->changes);
    for (size_t i = 0; i < s->held_count; i++)
        cara_env_free(s->env, s->held[i].bytes);
    s->changes = NULL;
    s->held_count = 0;
}

/* ---- Held records -------------------------------------------------------------
 * A node record or status can overtake the admission that allows it (they
 * travel by different paths). Refusing it would leave it to the next
 * anti-entropy round; holding it lets it apply the moment the admission
 * does. Only records whose signature verifies are held, at most
 * CARA_CRDT_HELD_MAX, oldest evicted first: junk cannot crowd the state. */

void crdt_hold(cara_crdt *s, const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < s->held_count; i++)
        if (s->held[i].len == len && memcmp(s->held[i].bytes, bytes, len) == 0)
            return;
    uint8_t *copy = cara_env_alloc(s->env, len);
    if (copy == NULL)
        return;
    memcpy(copy, bytes, len);
    if (s->held_count == CARA_CRDT_HELD_MAX) {
        cara_env_free(s->env, s->held[0].bytes);
        memmove(s->held, s->held + 1, (CARA_CRDT_HELD_MAX - 1) * sizeof *s->held);
        s->held_count--;
        s->stats.held_dropped++;
    }
    s->held[s->held_count++] = (crdt_held){.bytes = copy, .len = len};
    if (!s->retrying_held)
        s->stats.held++; /* a record held again on a retry is not counted twice */
}

void crdt_retry_held(cara_crdt *s, int64_t now_wall_ms)
{
    if (s->retrying_held || s->held_count == 0)
        return;
    /* Take the list: what is still refused for want of an admission is
     * held again by cara_crdt_apply itself. */
    crdt_held list[CARA_CRDT_HELD_MAX];
    size_t n = s->held_count;
    memcpy(list, s->held, n * sizeof *list);
    s->held_count = 0;
    s->retrying_held = true;
    for (size_t i = 0; i < n; i++) {
        int rc = cara_crdt_apply(s, list[i].bytes, list[i].len, now_wall_ms, NULL);
        if (rc != 0 && rc != CARA_ENOTADMITTED && rc != CARA_EUNTRUSTED)
            s->stats.held_dropped++;
        cara_env_free(s->env, list[i].bytes);
    }
    s->retrying_held = false;
}
