/*
 * Internals of the gossip node object shared by gossip.c (datagrams,
 * membership, dissemination, acknowledgements) and gossip_stream.c
 * (streams: join, anti-entropy, large pushes). No other module includes it.
 */
#ifndef CARA_GOSSIP_GOSSIP_INT_H
#define CARA_GOSSIP_GOSSIP_INT_H

#include "gossip/gossip.h"
#include "gossip/seal_int.h"
#include "gossip/swim_int.h"
#include "gossip/wire_int.h"

/* A peer key the seal admits, with the name it was admitted under. */
typedef struct gossip_peer {
    uint8_t pk[CARA_CRDT_PK_BYTES];
    uint8_t name_len;
    char name[CARA_SWIM_NAME_BYTES_MAX];
    uint64_t last_contact_mono_ms;
    bool seen; /* marks for the admission refresh */
} gossip_peer;

/* One datagram waiting for poll_send. */
typedef struct gossip_dgram {
    struct gossip_dgram *next;
    cara_gossip_addr to;
    uint16_t len;
    uint8_t bytes[CARA_GOSSIP_DATAGRAM_BYTES_MAX];
} gossip_dgram;

/* A record being piggybacked, and how often it went out. */
typedef struct gossip_bcast {
    uint8_t *bytes; /* owned; NULL for a record too large for a datagram: advertised only */
    size_t len;
    uint8_t id[CARA_CRDT_ID_BYTES];
    uint64_t hlc;
    uint32_t transmits;
} gossip_bcast;

/* A published record whose holders are counted. */
typedef struct gossip_track {
    bool used;
    uint8_t id[CARA_CRDT_ID_BYTES];
    uint64_t hlc;
    uint8_t *bytes; /* owned: re-pushed to members that have not acknowledged */
    size_t len;
    uint64_t until_mono_ms, retry_mono_ms;
    uint32_t wanted;        /* holders wanted, this node included */
    uint32_t holders_count; /* other nodes; this one is implied */
    uint8_t holders[CARA_GOSSIP_HOLDERS_MAX][CARA_CRDT_PK_BYTES];
} gossip_track;

/* A record version advertised to us that we lack, being pulled (lazy.c). */
typedef struct gossip_pull {
    bool used;
    bool gave_up; /* every advertiser asked: quiet until the deadline */
    uint8_t id[CARA_CRDT_ID_BYTES];
    uint64_t hlc;              /* the newest version advertised */
    uint64_t deadline_mono_ms; /* answer awaited until (or quiet until) */
    uint8_t tries;             /* advertisers asked so far */
    uint8_t alts_count;        /* advertisers remembered, the first asked first */
    uint8_t alt_pk[CARA_GOSSIP_PULL_ALTS_MAX][CARA_CRDT_PK_BYTES];
    cara_gossip_addr alt_addr[CARA_GOSSIP_PULL_ALTS_MAX];
} gossip_pull;

/* A token bucket in bytes: filled at a rate up to one second's worth. */
typedef struct gossip_bucket {
    double tokens;
    uint64_t mono_ms;
} gossip_bucket;

/* Seeds given to cara_gossip_join, retried until one welcomes us. */
typedef struct gossip_seed {
    cara_gossip_addr addr;
    uint64_t retry_mono_ms;
    uint32_t backoff_ms;
    bool dialling;
} gossip_seed;

enum gossip_purpose {
    GP_UNKNOWN = 0, /* accepted, first bytes not seen */
    GP_JOIN = 1,    /* clear join exchange */
    GP_SYNC = 2,    /* anti-entropy push-pull */
    GP_PUSH = 3,    /* one large record pushed */
};

enum gossip_phase {
    PH_DIAL = 0,    /* waiting for poll_dial */
    PH_CONNECTING,  /* driver is connecting */
    PH_HELLO,       /* our hello sent, waiting for theirs */
    PH_OPEN,        /* sealed frames flow */
    PH_CLEAR,       /* join frames flow */
    PH_CLOSING,     /* waiting for poll_close */
};

typedef struct gossip_stream {
    bool used;
    uint32_t id;
    bool initiator;
    uint8_t purpose, phase;
    cara_gossip_addr addr;
    uint8_t peer_pk[CARA_CRDT_PK_BYTES]; /* known for dialled sealed streams */
    bool peer_known;
    cara_seal_stream seal;
    uint8_t hello[CARA_SEAL_HELLO_BYTES];
    cara_buf rx, tx, msg; /* received bytes, bytes to write, message being reassembled */
    uint64_t idle_deadline_mono_ms;
    size_t seed_index;     /* GP_JOIN, initiator */
    uint32_t rounds;       /* GP_SYNC messages handled */
    uint64_t applied;      /* GP_SYNC records applied */
    uint64_t bytes;        /* both ways, for the exchange cap */
    bool sent_done, got_done;
    uint8_t *push;         /* GP_PUSH initiator: the record (owned) */
    size_t push_len;
    bool push_want_ack;
} gossip_stream;

struct cara_gossip {
    cara_env *env;
    cara_crdt *crdt;
    cara_gossip_cfg cfg;
    cara_swim *swim;
    cara_seal *seal;
    cara_swim_id self;

    gossip_peer *peers; /* admitted keys other than ours, by insertion */
    size_t peers_count;
    /* The slot of each peer by key: every datagram names its sender by
     * key. The keys are admitted by the operator, so nobody else can
     * choose them to crowd one run of the index. */
    cara_slotidx peer_index;
    uint64_t admissions_version;
    bool admissions_known;

    gossip_dgram *out_head, *out_tail;
    size_t out_count;

    gossip_bcast *bcasts;
    size_t bcasts_count;

    gossip_track tracks[CARA_GOSSIP_TRACKS_MAX];

    gossip_seed seeds[CARA_GOSSIP_SEEDS_MAX];
    size_t seeds_count;
    uint8_t *proof;
    size_t proof_len;
    bool joined;

    gossip_stream *streams; /* CARA_GOSSIP_STREAMS_MAX slots */
    uint32_t stream_id_next;
    uint32_t sync_stream_id; /* the exchange this node runs; 0: none */
    uint64_t sync_next_mono_ms;
    uint64_t reconnect_next_mono_ms;
    /* Anti-entropy bandwidth bound. */
    gossip_bucket sync_bucket;
    /* Lazy push: versions being pulled, and the bound on pull answers. */
    gossip_pull *pulls; /* CARA_GOSSIP_PULLS_MAX slots */
    size_t pulls_count;
    gossip_bucket pull_bucket;

    cara_gossip_event *events;
    size_t ev_head, ev_count;
    bool leaving;
    uint64_t gossip_next_mono_ms;
    uint64_t gossip_last_mono_ms; /* the last round, scheduled or forwarded */
    bool forward_soon;            /* a record was learnt: forward it */
    uint64_t last_now_mono_ms;
    cara_gossip_stats stats;
};

/* gossip.c */
gossip_peer *gossip_peer_by_pk(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES]);
void gossip_refresh_admissions(cara_gossip *g);
void gossip_event(cara_gossip *g, const cara_gossip_event *ev);
void gossip_drop(cara_gossip *g, int why);
/* The drop reason of a seal refusal (CARA_ETOOBIG, CARA_EBADSIG, ...). */
int gossip_seal_drop_reason(int rc);
/* Merges one record from a peer; true when it changed the state. New
 * records are queued for piggybacking. */
bool gossip_take_record(cara_gossip *g, const uint8_t *bytes, size_t len, int64_t now_wall_ms);
/* Does this node hold the record's slot at `hlc` or newer? */
bool gossip_holds(cara_gossip *g, const uint8_t *bytes, size_t len, cara_wire_ack *ack);
void gossip_ack_from(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES],
                     const cara_wire_ack *acks, size_t count);
void gossip_swim_join_peer(cara_gossip *g, const char *name, size_t name_len,
                           const uint8_t pk[CARA_CRDT_PK_BYTES], const cara_gossip_addr *addr,
                           uint64_t now_mono_ms);
void gossip_pump(cara_gossip *g);
void gossip_forward(cara_gossip *g, uint64_t now_mono_ms);
/* Seals one message for `pk` and queues it for `to` (dropped and counted
 * when the outbox is full). */
void gossip_send_msg(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES],
                     const cara_gossip_addr *to, const cara_wire_msg *m);
/* Sends `record` to the admitted key `pk` at `to`: a PUSH datagram when it
 * fits, else a stream of its own. */
void gossip_push_record(cara_gossip *g, const uint8_t pk[CARA_CRDT_PK_BYTES],
                        const cara_gossip_addr *to, const uint8_t *record, size_t len,
                        bool want_ack, uint64_t now_mono_ms);
/* Refills `b` at `rate` bytes a second, up to one second's worth. */
void gossip_bucket_fill(gossip_bucket *b, double rate, uint64_t now_mono_ms);

/* lazy.c: adverts in, pulls out and in, their timers. */
void gossip_lazy_on_ihaves(cara_gossip *g, const gossip_peer *p, const cara_gossip_addr *from,
                           const cara_wire_msg *m, uint64_t now_mono_ms);
void gossip_lazy_on_pull(cara_gossip *g, const gossip_peer *p, const cara_gossip_addr *from,
                         const cara_wire_msg *m, uint64_t now_mono_ms);
/* A record version arrived: ends its pull. True when one was waiting for
 * it (the record then spreads by adverts only: its neighbours mostly hold
 * it already). */
bool gossip_lazy_arrived(cara_gossip *g, const uint8_t id[CARA_CRDT_ID_BYTES], uint64_t hlc);
void gossip_lazy_tick(cara_gossip *g, uint64_t now_mono_ms);
uint64_t gossip_lazy_deadline(const cara_gossip *g);

/* gossip_stream.c */
void gossip_streams_init(cara_gossip *g);
void gossip_streams_free(cara_gossip *g);
/* Opens a stream of `purpose` to `addr` (pk NULL for a join). NULL if full. */
gossip_stream *gossip_stream_open(cara_gossip *g, uint8_t purpose, const cara_gossip_addr *addr,
                                  const uint8_t *pk, uint64_t now_mono_ms);
void gossip_streams_tick(cara_gossip *g, uint64_t now_mono_ms, int64_t now_wall_ms);
uint64_t gossip_streams_deadline(const cara_gossip *g);
void gossip_sync_tokens(cara_gossip *g, uint64_t now_mono_ms);

#endif
