/*
 * The gossip transport's seal: pairwise keys from the node keys, AEAD over
 * each datagram and frame, a replay window per peer, and drop counters.
 * docs/gossip-transport.md gives the format and the reasoning; seal_int.h
 * the contract of each function.
 *
 * Wire header (CARA_GOSSIP_SEAL_HEADER_BYTES, all of it associated data):
 *     0xCA | version 2 << 4 | type | sender key id (8) | counter (8, BE)
 * then ChaCha20-Poly1305 (IETF) ciphertext and its 16-byte tag. The nonce
 * is four zero bytes then the counter, little-endian. The key id is the
 * first 8 bytes of BLAKE2b-256 of the sender's Ed25519 key; the
 * receiver keeps its peers sorted by (key id, key) and tries the pairwise
 * key of each peer under that id, at most CARA_GOSSIP_KEY_ID_PEERS_MAX.
 */
#include <sodium.h>
#include <stddef.h>
#include <string.h>

#include "gossip/seal_int.h"

#define MAGIC 0xCA
/* Version 1 carried the sender's whole key (a 60-byte overhead); version 2
 * its key id (34). The version sits in the high nibble of the second byte,
 * the type in the low one, so a version 1 header (0xCA 0x5E ...) reads as
 * version 5 and is refused as malformed. */
#define SEAL_VERSION 2
enum { TYPE_DATAGRAM = 1, TYPE_FRAME = 2, TYPE_HELLO = 3 };
#define VT(type) ((uint8_t)(SEAL_VERSION << 4 | (type)))

#define PK_BYTES CARA_CRDT_PK_BYTES
#define KID_BYTES CARA_GOSSIP_SEAL_KEY_ID_BYTES
#define KEY_BYTES crypto_aead_chacha20poly1305_ietf_KEYBYTES
#define HDR_BYTES CARA_GOSSIP_SEAL_HEADER_BYTES
#define OVERHEAD CARA_GOSSIP_SEAL_OVERHEAD_BYTES
#define WINDOW CARA_GOSSIP_REPLAY_WINDOW
#define WINDOW_WORDS (WINDOW / 64)
/* crypto_kdf subkey ids under the pair's direction keys. */
#define SUBKEY_DATAGRAM 1
#define SUBKEY_STREAM 2
#define KDF_CONTEXT "caraseal"

_Static_assert(CARA_GOSSIP_SEAL_TAG_BYTES == crypto_aead_chacha20poly1305_ietf_ABYTES,
               "the tag is Poly1305's");
_Static_assert(HDR_BYTES == 2 + KID_BYTES + 8, "header layout");
_Static_assert(2 * KID_BYTES + 1 == CARA_CRDT_KEY_ID_BYTES,
               "the seal's key id is the bytes of the crdt's printed key id");
_Static_assert(KEY_BYTES == crypto_kx_SESSIONKEYBYTES && KEY_BYTES == crypto_kdf_KEYBYTES,
               "kx session keys feed the kdf and the AEAD directly");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "4 zero bytes + counter");
_Static_assert(sizeof(KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context length");
_Static_assert(CARA_SEAL_HELLO_BYTES == 2 + PK_BYTES + CARA_SEAL_HELLO_RANDOM_BYTES,
               "hello layout");
_Static_assert(CARA_SEAL_KID_BYTES == KID_BYTES, "one key id size");

/* The receiving side of one peer: the highest counter accepted, a bitmap of
 * the WINDOW counters up to it (bit c % WINDOW), and a floor set by the
 * caller after a restart. */
typedef struct window {
    uint64_t top;
    uint64_t floor;
    bool any;
    uint64_t bits[WINDOW_WORDS];
} window;

/* One admitted peer. `kid` and `pk` come first, adjacent: the table is
 * sorted by the 40 bytes (kid, pk), so that the peers sharing a key id
 * are neighbours. */
typedef struct peer {
    uint8_t kid[KID_BYTES];
    uint8_t pk[PK_BYTES];
    uint8_t dg_tx[KEY_BYTES], dg_rx[KEY_BYTES]; /* datagrams, each direction */
    uint8_t st_tx[KEY_BYTES], st_rx[KEY_BYTES]; /* stream keys before the hellos */
    uint64_t sent;                              /* counters used, this epoch */
    window win;
} peer;

_Static_assert(offsetof(peer, kid) == 0 && offsetof(peer, pk) == KID_BYTES,
               "kid and pk are one sort key at the start of the entry");
#define SORT_BYTES (KID_BYTES + PK_BYTES)

/* An entry's sort key: its first SORT_BYTES bytes, read through a pointer
 * to the whole entry (the key spans two of its members). */
static const uint8_t *sort_bytes(const peer *p)
{
    return (const uint8_t *)p;
}

struct cara_seal {
    cara_env *env;
    uint8_t pk[PK_BYTES];
    uint8_t kid[KID_BYTES];
    uint8_t xpk[crypto_kx_PUBLICKEYBYTES];
    uint8_t xsk[crypto_kx_SECRETKEYBYTES];
    uint64_t epoch_base; /* epoch << 32 */
    /* One more than the highest count used with any peer: a new entry
     * starts here, so a peer revoked and admitted again in one epoch never
     * sees a counter (a nonce under its unchanged key) a second time. */
    uint64_t sent_high;
    size_t kid_bytes; /* of KID_BYTES that are the key's; the rest are 0 */
    peer *peers; /* CARA_GOSSIP_PEERS_MAX slots, sorted by (kid, pk) */
    size_t count;
    cara_seal_stats stats;
};

typedef struct header {
    int type;
    const uint8_t *kid;
    uint64_t counter;
} header;

/* ---- Small helpers -------------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void nonce_of(uint64_t counter, uint8_t nonce[12])
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++, counter >>= 8)
        nonce[4 + i] = (uint8_t)counter;
}

static int drop(cara_seal *s, enum cara_seal_drop why)
{
    static const int codes[CARA_SEAL_DROP_COUNT_] = {
        [CARA_SEAL_DROP_MALFORMED] = CARA_EPARSE,
        [CARA_SEAL_DROP_OVERSIZED] = CARA_ETOOBIG,
        [CARA_SEAL_DROP_NOTADMITTED] = CARA_ENOTADMITTED,
        [CARA_SEAL_DROP_BADTAG] = CARA_EBADSIG,
        [CARA_SEAL_DROP_REPLAY] = CARA_EREPLAY,
        [CARA_SEAL_DROP_TOOOLD] = CARA_ESTALE,
    };
    s->stats.dropped[why]++;
    return codes[why];
}

/* Reads the clear header of `len` bytes; false unless the bytes hold at
 * least a header and a tag, with our magic, version and `type`. */
static bool header_get(const uint8_t *b, size_t len, int type, header *h)
{
    if (len < OVERHEAD || b[0] != MAGIC || b[1] != VT(type))
        return false;
    h->type = type;
    h->kid = b + 2;
    h->counter = get_be64(b + 2 + KID_BYTES);
    return true;
}

/* Writes header and ciphertext of `len` plaintext bytes to `out`. */
static void seal_into(const uint8_t key[KEY_BYTES], int type, const uint8_t kid[KID_BYTES],
                      uint64_t counter, const uint8_t *pt, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    out[0] = MAGIC;
    out[1] = VT(type);
    memcpy(out + 2, kid, KID_BYTES);
    put_be64(out + 2 + KID_BYTES, counter);
    nonce_of(counter, nonce);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out + HDR_BYTES, &clen, pt, len, out, HDR_BYTES,
                                              NULL, nonce, key);
}

/* Checks the tag of a sealed datagram or frame and decrypts it to `out`. */
static bool open_into(const uint8_t key[KEY_BYTES], const header *h, const uint8_t *b,
                      size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    nonce_of(h->counter, nonce);
    unsigned long long plen = 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, b + HDR_BYTES,
                                                     len - HDR_BYTES, b, HDR_BYTES, nonce,
                                                     key) == 0;
}

/* ---- Replay window (RFC 6479's bitmap, one bit a counter) ------------------- */

/* Returns CARA_SEAL_DROP_COUNT_ when `c` may be accepted, else the reason. */
static enum cara_seal_drop window_check(const window *w, uint64_t c)
{
    if (c < w->floor)
        return CARA_SEAL_DROP_TOOOLD;
    if (!w->any || c > w->top)
        return CARA_SEAL_DROP_COUNT_;
    if (w->top - c >= WINDOW)
        return CARA_SEAL_DROP_TOOOLD;
    if (w->bits[(c % WINDOW) / 64] & (1ULL << (c % 64)))
        return CARA_SEAL_DROP_REPLAY;
    return CARA_SEAL_DROP_COUNT_;
}

/* Marks `c` as accepted; called only after its tag verified, so a forged
 * counter can never move the window. */
static void window_mark(window *w, uint64_t c)
{
    bool ahead = !w->any || c > w->top;
    if (ahead && (!w->any || c - w->top >= WINDOW)) {
        memset(w->bits, 0, sizeof w->bits);
    } else if (ahead) {
        /* The counters that enter the window have not been seen yet. */
        for (uint64_t n = w->top + 1; n <= c; n++)
            w->bits[(n % WINDOW) / 64] &= ~(1ULL << (n % 64));
    }
    if (ahead)
        w->top = c;
    w->any = true;
    w->bits[(c % WINDOW) / 64] |= 1ULL << (c % 64);
}

/* ---- Peer table ------------------------------------------------------------ */

/* The same hash as cara_crdt_key_id, so the id in a datagram's header is
 * the key_id that caravanctl prints for the key. */
void cara_seal_key_id(const uint8_t pk[CARA_CRDT_PK_BYTES], uint8_t kid[CARA_SEAL_KID_BYTES])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, pk, PK_BYTES, NULL, 0);
    memcpy(kid, h, KID_BYTES);
}

/* The key id this seal uses for `pk`: cara_seal_key_id, unless a test
 * narrowed it (cara_seal_narrow_key_ids). */
static void kid_of(const cara_seal *s, const uint8_t pk[PK_BYTES], uint8_t kid[KID_BYTES])
{
    cara_seal_key_id(pk, kid);
    memset(kid + s->kid_bytes, 0, KID_BYTES - s->kid_bytes);
}

/* The sort key of `pk`: its key id, then the key itself. */
static void sort_key(const cara_seal *s, const uint8_t pk[PK_BYTES], uint8_t key[SORT_BYTES])
{
    kid_of(s, pk, key);
    memcpy(key + KID_BYTES, pk, PK_BYTES);
}

/* Index of the first entry whose first `n` sort-key bytes are not below
 * `key`'s (n = KID_BYTES finds the first peer of a key id). */
static size_t lower_bound(const cara_seal *s, const uint8_t *key, size_t n)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(sort_bytes(&s->peers[mid]), key, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static peer *find(const cara_seal *s, const uint8_t pk[PK_BYTES])
{
    uint8_t key[SORT_BYTES];
    sort_key(s, pk, key);
    size_t i = lower_bound(s, key, SORT_BYTES);
    if (i < s->count && memcmp(sort_bytes(&s->peers[i]), key, SORT_BYTES) == 0)
        return &s->peers[i];
    return NULL;
}

/* How many peers, from index `i` on, carry key id `kid`. */
static size_t kid_run(const cara_seal *s, size_t i, const uint8_t kid[KID_BYTES])
{
    size_t n = 0;
    while (i + n < s->count && memcmp(s->peers[i + n].kid, kid, KID_BYTES) == 0)
        n++;
    return n;
}

/* crypto_kx's roles are fixed by the Ed25519 keys: the smaller one is the
 * client, so both ends compute the same pair without talking. Each
 * direction key then gives one subkey for datagrams and one for streams. */
static int derive(const cara_seal *s, const uint8_t pk[PK_BYTES], peer *p)
{
    uint8_t xpk[crypto_kx_PUBLICKEYBYTES], rx[KEY_BYTES], tx[KEY_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0)
        return CARA_EINVAL;
    int rc = memcmp(s->pk, pk, PK_BYTES) < 0
                 ? crypto_kx_client_session_keys(rx, tx, s->xpk, s->xsk, xpk)
                 : crypto_kx_server_session_keys(rx, tx, s->xpk, s->xsk, xpk);
    if (rc == 0) {
        crypto_kdf_derive_from_key(p->dg_tx, KEY_BYTES, SUBKEY_DATAGRAM, KDF_CONTEXT, tx);
        crypto_kdf_derive_from_key(p->dg_rx, KEY_BYTES, SUBKEY_DATAGRAM, KDF_CONTEXT, rx);
        crypto_kdf_derive_from_key(p->st_tx, KEY_BYTES, SUBKEY_STREAM, KDF_CONTEXT, tx);
        crypto_kdf_derive_from_key(p->st_rx, KEY_BYTES, SUBKEY_STREAM, KDF_CONTEXT, rx);
    }
    sodium_memzero(rx, sizeof rx);
    sodium_memzero(tx, sizeof tx);
    return rc == 0 ? 0 : CARA_EINVAL;
}

/* ---- Life cycle and admission ------------------------------------------------ */

int cara_seal_new(cara_env *env, const uint8_t pk[CARA_CRDT_PK_BYTES],
                  const uint8_t sk[CARA_CRDT_SK_BYTES], uint32_t epoch, cara_seal **out)
{
    CARA_ASSERT(env != NULL && pk != NULL && sk != NULL && out != NULL);
    *out = NULL;
    if (sodium_init() < 0)
        return CARA_EINVAL;
    /* libsodium's Ed25519 secret key is the seed followed by the public key. */
    if (memcmp(sk + 32, pk, PK_BYTES) != 0)
        return CARA_EINVAL;
    cara_seal *s = cara_env_calloc(env, 1, sizeof *s);
    if (s == NULL)
        return CARA_ENOMEM;
    s->peers = cara_env_calloc(env, CARA_GOSSIP_PEERS_MAX, sizeof *s->peers);
    if (s->peers == NULL) {
        cara_env_free(env, s);
        return CARA_ENOMEM;
    }
    s->env = env;
    memcpy(s->pk, pk, PK_BYTES);
    s->kid_bytes = KID_BYTES;
    kid_of(s, pk, s->kid);
    s->epoch_base = (uint64_t)epoch << 32;
    if (crypto_sign_ed25519_pk_to_curve25519(s->xpk, pk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(s->xsk, sk) != 0) {
        cara_seal_free(s);
        return CARA_EINVAL;
    }
    *out = s;
    return 0;
}

void cara_seal_free(cara_seal *s)
{
    if (s == NULL)
        return;
    cara_env *env = s->env;
    sodium_memzero(s->peers, CARA_GOSSIP_PEERS_MAX * sizeof *s->peers);
    cara_env_free(env, s->peers);
    sodium_memzero(s, sizeof *s);
    cara_env_free(env, s);
}

int cara_seal_admit(cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    CARA_ASSERT(s != NULL && pk != NULL);
    if (memcmp(pk, s->pk, PK_BYTES) == 0)
        return CARA_EINVAL;
    uint8_t key[SORT_BYTES];
    sort_key(s, pk, key);
    size_t i = lower_bound(s, key, SORT_BYTES);
    if (i < s->count && memcmp(sort_bytes(&s->peers[i]), key, SORT_BYTES) == 0)
        return 0;
    if (s->count == CARA_GOSSIP_PEERS_MAX ||
        kid_run(s, lower_bound(s, key, KID_BYTES), key) >= CARA_GOSSIP_KEY_ID_PEERS_MAX)
        return CARA_ELIMIT;
    peer fresh;
    memset(&fresh, 0, sizeof fresh);
    int rc = derive(s, pk, &fresh);
    if (rc == 0) {
        memcpy(fresh.kid, key, KID_BYTES);
        memcpy(fresh.pk, pk, PK_BYTES);
        fresh.sent = s->sent_high;
        memmove(&s->peers[i + 1], &s->peers[i], (s->count - i) * sizeof *s->peers);
        s->peers[i] = fresh;
        s->count++;
    }
    sodium_memzero(&fresh, sizeof fresh);
    return rc;
}

int cara_seal_narrow_key_ids(cara_seal *s, size_t bytes)
{
    CARA_ASSERT(s != NULL);
    if (bytes < 1 || bytes > KID_BYTES || s->count > 0)
        return CARA_EINVAL;
    s->kid_bytes = bytes;
    kid_of(s, s->pk, s->kid);
    return 0;
}

int cara_seal_revoke(cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    CARA_ASSERT(s != NULL && pk != NULL);
    peer *p = find(s, pk);
    if (p == NULL)
        return CARA_ENOENT;
    size_t i = (size_t)(p - s->peers);
    memmove(&s->peers[i], &s->peers[i + 1], (s->count - i - 1) * sizeof *s->peers);
    s->count--;
    /* The last slot still holds a copy of the last entry's keys. */
    sodium_memzero(&s->peers[s->count], sizeof *s->peers);
    return 0;
}

bool cara_seal_is_admitted(const cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES])
{
    return find(s, pk) != NULL;
}

size_t cara_seal_peer_count(const cara_seal *s)
{
    return s->count;
}

/* ---- Datagrams ----------------------------------------------------------------- */

int cara_seal_seal(cara_seal *s, const uint8_t to_pk[CARA_CRDT_PK_BYTES],
                   const uint8_t *plaintext, size_t len, uint8_t *out, size_t out_cap,
                   size_t *out_len)
{
    CARA_ASSERT(s != NULL && to_pk != NULL && (plaintext != NULL || len == 0));
    CARA_ASSERT(out != NULL && out_len != NULL);
    if (len > CARA_GOSSIP_PLAINTEXT_BYTES_MAX)
        return CARA_ETOOBIG;
    if (out_cap < len + OVERHEAD)
        return CARA_EINVAL;
    peer *p = find(s, to_pk);
    if (p == NULL)
        return CARA_ENOTADMITTED;
    if (p->sent >= CARA_GOSSIP_EPOCH_SENDS_MAX)
        return CARA_ELIMIT;
    seal_into(p->dg_tx, TYPE_DATAGRAM, s->kid, s->epoch_base + p->sent, plaintext, len, out);
    p->sent++;
    if (p->sent > s->sent_high)
        s->sent_high = p->sent;
    s->stats.sealed++;
    *out_len = len + OVERHEAD;
    return 0;
}

int cara_seal_open(cara_seal *s, const uint8_t *bytes, size_t len,
                   uint8_t from_pk[CARA_CRDT_PK_BYTES], uint8_t *out, size_t out_cap,
                   size_t *out_len)
{
    CARA_ASSERT(s != NULL && (bytes != NULL || len == 0) && from_pk != NULL);
    CARA_ASSERT(out != NULL && out_len != NULL);
    header h;
    if (len > CARA_GOSSIP_DATAGRAM_BYTES_MAX)
        return drop(s, CARA_SEAL_DROP_OVERSIZED);
    if (!header_get(bytes, len, TYPE_DATAGRAM, &h))
        return drop(s, CARA_SEAL_DROP_MALFORMED);
    if (out_cap < len - OVERHEAD)
        return CARA_EINVAL;
    size_t first = lower_bound(s, h.kid, KID_BYTES);
    size_t n = kid_run(s, first, h.kid);
    if (n == 0)
        return drop(s, CARA_SEAL_DROP_NOTADMITTED);
    CARA_ASSERT(n <= CARA_GOSSIP_KEY_ID_PEERS_MAX);
    /* Each peer under this id in turn; the tag decides which one sealed
     * it. A refusal by a window outranks a bad tag, so that a replay is
     * counted as one even when another key shares the id. */
    enum cara_seal_drop why = CARA_SEAL_DROP_COUNT_;
    for (size_t k = 0; k < n; k++) {
        peer *p = &s->peers[first + k];
        enum cara_seal_drop w = window_check(&p->win, h.counter);
        if (w != CARA_SEAL_DROP_COUNT_) {
            why = w;
            continue;
        }
        if (!open_into(p->dg_rx, &h, bytes, len, out)) {
            if (why == CARA_SEAL_DROP_COUNT_)
                why = CARA_SEAL_DROP_BADTAG;
            continue;
        }
        window_mark(&p->win, h.counter);
        memcpy(from_pk, p->pk, PK_BYTES);
        *out_len = len - OVERHEAD;
        s->stats.opened++;
        return 0;
    }
    return drop(s, why);
}

int cara_seal_set_floor(cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES], uint64_t floor)
{
    peer *p = find(s, pk);
    if (p == NULL)
        return CARA_ENOENT;
    if (floor > p->win.floor)
        p->win.floor = floor;
    return 0;
}

int cara_seal_recv_top(const cara_seal *s, const uint8_t pk[CARA_CRDT_PK_BYTES], uint64_t *top)
{
    const peer *p = find(s, pk);
    if (p == NULL)
        return CARA_ENOENT;
    *top = p->win.any ? p->win.top : 0;
    return 0;
}

void cara_seal_stats_get(const cara_seal *s, cara_seal_stats *out)
{
    *out = s->stats;
}

/* ---- Streams ----------------------------------------------------------------------- */

void cara_seal_hello(const cara_seal *s, const uint8_t random[CARA_SEAL_HELLO_RANDOM_BYTES],
                     uint8_t out[CARA_SEAL_HELLO_BYTES])
{
    out[0] = MAGIC;
    out[1] = VT(TYPE_HELLO);
    memcpy(out + 2, s->pk, PK_BYTES);
    memcpy(out + 2 + PK_BYTES, random, CARA_SEAL_HELLO_RANDOM_BYTES);
}

static void stream_key(const uint8_t pair_key[KEY_BYTES], const uint8_t *r_init,
                       const uint8_t *r_resp, uint8_t out[KEY_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, pair_key, KEY_BYTES, KEY_BYTES);
    crypto_generichash_update(&st, r_init, CARA_SEAL_HELLO_RANDOM_BYTES);
    crypto_generichash_update(&st, r_resp, CARA_SEAL_HELLO_RANDOM_BYTES);
    crypto_generichash_final(&st, out, KEY_BYTES);
    sodium_memzero(&st, sizeof st);
}

int cara_seal_stream_start(cara_seal *s, cara_seal_stream *st, bool initiator,
                           const uint8_t mine[CARA_SEAL_HELLO_BYTES], const uint8_t *theirs,
                           size_t len, const uint8_t *expect_pk)
{
    CARA_ASSERT(s != NULL && st != NULL && mine != NULL && (theirs != NULL || len == 0));
    CARA_ASSERT(memcmp(mine + 2, s->pk, PK_BYTES) == 0);
    memset(st, 0, sizeof *st);
    if (len != CARA_SEAL_HELLO_BYTES || theirs[0] != MAGIC || theirs[1] != VT(TYPE_HELLO))
        return drop(s, CARA_SEAL_DROP_MALFORMED);
    const uint8_t *pk = theirs + 2;
    const peer *p = find(s, pk);
    if (p == NULL || (expect_pk != NULL && memcmp(expect_pk, pk, PK_BYTES) != 0))
        return drop(s, CARA_SEAL_DROP_NOTADMITTED);
    const uint8_t *r_mine = mine + 2 + PK_BYTES, *r_theirs = theirs + 2 + PK_BYTES;
    const uint8_t *r_init = initiator ? r_mine : r_theirs;
    const uint8_t *r_resp = initiator ? r_theirs : r_mine;
    stream_key(p->st_tx, r_init, r_resp, st->tx);
    stream_key(p->st_rx, r_init, r_resp, st->rx);
    memcpy(st->peer_pk, pk, PK_BYTES);
    memcpy(st->peer_kid, p->kid, KID_BYTES);
    st->ready = true;
    return 0;
}

int cara_seal_stream_seal(cara_seal *s, cara_seal_stream *st, const uint8_t *plaintext,
                          size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    CARA_ASSERT(s != NULL && st != NULL && (plaintext != NULL || len == 0));
    CARA_ASSERT(out != NULL && out_len != NULL);
    if (!st->ready)
        return CARA_EINVAL;
    if (len > CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX)
        return CARA_ETOOBIG;
    if (out_cap < 4 + len + OVERHEAD)
        return CARA_EINVAL;
    if (find(s, st->peer_pk) == NULL)
        return CARA_ENOTADMITTED;
    if (st->tx_next == UINT64_MAX)
        return CARA_ELIMIT;
    put_be32(out, (uint32_t)(len + OVERHEAD));
    seal_into(st->tx, TYPE_FRAME, s->kid, st->tx_next, plaintext, len, out + 4);
    st->tx_next++;
    s->stats.sealed++;
    *out_len = 4 + len + OVERHEAD;
    return 0;
}

int cara_seal_stream_open(cara_seal *s, cara_seal_stream *st, const uint8_t *bytes, size_t len,
                          size_t *used, uint8_t *out, size_t out_cap, size_t *out_len)
{
    CARA_ASSERT(s != NULL && st != NULL && (bytes != NULL || len == 0));
    CARA_ASSERT(used != NULL && out != NULL && out_len != NULL);
    *used = 0;
    if (!st->ready)
        return CARA_EINVAL;
    if (len < 4)
        return CARA_EAGAIN;
    size_t flen = get_be32(bytes);
    if (flen > CARA_GOSSIP_FRAME_BYTES_MAX - 4)
        return drop(s, CARA_SEAL_DROP_OVERSIZED);
    if (flen < OVERHEAD)
        return drop(s, CARA_SEAL_DROP_MALFORMED);
    if (len - 4 < flen)
        return CARA_EAGAIN;
    header h;
    if (!header_get(bytes + 4, flen, TYPE_FRAME, &h) ||
        memcmp(h.kid, st->peer_kid, KID_BYTES) != 0)
        return drop(s, CARA_SEAL_DROP_MALFORMED);
    if (out_cap < flen - OVERHEAD)
        return CARA_EINVAL;
    if (find(s, st->peer_pk) == NULL)
        return drop(s, CARA_SEAL_DROP_NOTADMITTED);
    if (h.counter != st->rx_next)
        return drop(s, CARA_SEAL_DROP_REPLAY);
    if (!open_into(st->rx, &h, bytes + 4, flen, out))
        return drop(s, CARA_SEAL_DROP_BADTAG);
    st->rx_next++;
    s->stats.opened++;
    *used = 4 + flen;
    *out_len = flen - OVERHEAD;
    return 0;
}

void cara_seal_stream_close(cara_seal_stream *st)
{
    sodium_memzero(st, sizeof *st);
}
