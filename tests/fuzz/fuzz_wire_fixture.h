/*
 * Sample gossip wire messages (src/gossip/wire.c), one or more of each
 * kind, shared by the wire's unit tests and the unit test that writes and
 * checks the wire fuzzer's seeds. Records and blobs are opaque to the
 * codec, so the samples borrow fixed byte patterns from static storage.
 */
#ifndef CARA_FUZZ_WIRE_FIXTURE_H
#define CARA_FUZZ_WIRE_FIXTURE_H

#include <string.h>

#include "gossip/wire_int.h"

/* The samples, in this order; fixture_wire_sample fills number i. */
enum {
    FIXTURE_WIRE_SWIM_PING = 0, /* a target, two updates, two records */
    FIXTURE_WIRE_SWIM_ACK,      /* no target, no updates, no records */
    FIXTURE_WIRE_SWIM_GOSSIP,   /* a gossip round: one record, three adverts */
    FIXTURE_WIRE_PULL,          /* two record versions asked for */
    FIXTURE_WIRE_PUSH,
    FIXTURE_WIRE_ACK,
    FIXTURE_WIRE_SYNC,
    FIXTURE_WIRE_DELTA,
    FIXTURE_WIRE_DONE,
    FIXTURE_WIRE_JOIN,
    FIXTURE_WIRE_WELCOME,
    FIXTURE_WIRE_REFUSED,
    FIXTURE_WIRE_COUNT
};

static const char *const fixture_wire_names[FIXTURE_WIRE_COUNT] = {
    "dgram-swim-ping", "dgram-swim-ack", "dgram-swim-gossip", "dgram-pull", "stream-push", "stream-ack", "stream-sync",
    "stream-delta", "stream-done", "clear-join", "clear-welcome", "clear-refused",
};

/* Backing bytes for records and blobs: byte i is (i * 7 + 3) & 0xff. */
static inline const uint8_t *fixture_wire_bytes(void)
{
    static uint8_t b[4096];
    static int ready;
    if (!ready) {
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (uint8_t)(i * 7 + 3);
        ready = 1;
    }
    return b;
}

static inline void fixture_wire_id(cara_swim_id *id, cara_swim_addr *addr, const char *name,
                                   uint8_t key_byte)
{
    memset(id, 0, sizeof *id);
    id->name_len = (uint8_t)strlen(name);
    memcpy(id->name, name, id->name_len);
    memset(id->key, key_byte, sizeof id->key);
    if (addr != NULL) {
        memset(addr, 0, sizeof *addr);
        addr->len = 6;
        const uint8_t a[6] = {100, 64, 0, key_byte, 0x1f, 0x90};
        memcpy(addr->bytes, a, sizeof a);
    }
}

/* n adverts (or pulls): ids of one repeated byte, HLCs of every size. */
static inline void fixture_wire_ihaves(cara_wire_msg *m, size_t n)
{
    m->ihaves_count = n;
    for (size_t k = 0; k < n; k++) {
        memset(m->ihaves[k].id, (int)(0x40 + k), CARA_CRDT_ID_BYTES);
        m->ihaves[k].hlc = k == 0 ? 0 : (uint64_t)0x0123456789abcdefull >> (8 * (k % 8));
    }
}

static inline void fixture_wire_records(cara_wire_msg *m, size_t count, size_t len)
{
    m->records_count = count;
    for (size_t i = 0; i < count; i++)
        m->records[i] = (cara_wire_bytes){fixture_wire_bytes() + i, len + i};
}

/* Fills *m with sample i (FIXTURE_WIRE_*). */
static inline void fixture_wire_sample(int i, cara_wire_msg *m)
{
    memset(m, 0, sizeof *m);
    switch (i) {
    case FIXTURE_WIRE_SWIM_PING: {
        m->kind = CARA_WIRE_SWIM;
        m->swim.type = CARA_SWIM_PING;
        m->swim.seq = 70000;
        m->swim.digest = 0x9e3779b9;
        fixture_wire_id(&m->swim.target, NULL, "node-b", 0xb0);
        m->swim.updates_count = 2;
        cara_swim_update *u = &m->swim.updates[0];
        u->kind = CARA_SWIM_ALIVE;
        u->incarnation = 3;
        fixture_wire_id(&u->member, &u->addr, "node-a", 0xa0);
        u = &m->swim.updates[1];
        u->kind = CARA_SWIM_SUSPECT;
        u->incarnation = 200;
        fixture_wire_id(&u->member, NULL, "node-c", 0xc0);
        u->accuser_len = 6;
        memcpy(u->accuser, "node-a", 6);
        fixture_wire_records(m, 2, 40);
        break;
    }
    case FIXTURE_WIRE_SWIM_ACK:
        m->kind = CARA_WIRE_SWIM;
        m->swim.type = CARA_SWIM_ACK;
        m->swim.seq = 5;
        m->swim.digest = 7;
        break;
    case FIXTURE_WIRE_SWIM_GOSSIP:
        m->kind = CARA_WIRE_SWIM;
        m->swim.type = CARA_SWIM_GOSSIP;
        m->swim.digest = 0x01020304;
        fixture_wire_records(m, 1, 200);
        fixture_wire_ihaves(m, 3);
        break;
    case FIXTURE_WIRE_PULL:
        m->kind = CARA_WIRE_PULL;
        fixture_wire_ihaves(m, 2);
        break;
    case FIXTURE_WIRE_PUSH:
        m->kind = CARA_WIRE_PUSH;
        m->want_ack = true;
        fixture_wire_records(m, 3, 300);
        break;
    case FIXTURE_WIRE_ACK:
        m->kind = CARA_WIRE_ACK;
        m->acks_count = 3;
        for (size_t k = 0; k < 3; k++) {
            memset(m->acks[k].id, (int)(0x10 + k), CARA_CRDT_ID_BYTES);
            m->acks[k].hlc = (uint64_t)1700000000000 << (16 * k / 2);
        }
        break;
    case FIXTURE_WIRE_SYNC:
    case FIXTURE_WIRE_DELTA:
        m->kind = i == FIXTURE_WIRE_SYNC ? CARA_WIRE_SYNC : CARA_WIRE_DELTA;
        m->blob = (cara_wire_bytes){fixture_wire_bytes(), i == FIXTURE_WIRE_SYNC ? 90 : 1000};
        break;
    case FIXTURE_WIRE_DONE:
        m->kind = CARA_WIRE_DONE;
        break;
    case FIXTURE_WIRE_JOIN:
    case FIXTURE_WIRE_WELCOME:
        m->kind = i == FIXTURE_WIRE_JOIN ? CARA_WIRE_JOIN : CARA_WIRE_WELCOME;
        fixture_wire_id(&m->node, &m->addr, i == FIXTURE_WIRE_JOIN ? "joiner" : "seed-1",
                        (uint8_t)(0x30 + i));
        fixture_wire_records(m, i == FIXTURE_WIRE_JOIN ? 1 : 2, 120);
        break;
    case FIXTURE_WIRE_REFUSED:
        m->kind = CARA_WIRE_REFUSED;
        m->reason = CARA_ENOTADMITTED;
        m->text_len = (uint16_t)strlen("no admission for this key");
        memcpy(m->text, "no admission for this key", m->text_len);
        break;
    default:
        break;
    }
}

/* Where sample i is received. */
static inline int fixture_wire_where(int i)
{
    if (i <= FIXTURE_WIRE_PULL)
        return CARA_WIRE_IN_DATAGRAM;
    return i >= FIXTURE_WIRE_JOIN ? CARA_WIRE_IN_CLEAR : CARA_WIRE_IN_STREAM;
}

#endif
