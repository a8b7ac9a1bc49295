/*
 * The memo of public-key operations that cara-sim links in (sim_crypto.c).
 * Only the cara-sim binary has it: the unit tests call libsodium directly.
 */
#ifndef CARA_SIM_CRYPTO_H
#define CARA_SIM_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sim_crypto_stats {
    uint64_t verify_hits, verify_misses, kx_hits, kx_misses;
} sim_crypto_stats;

/* On by default; off makes every call reach libsodium. */
void sim_crypto_memo_enable(bool on);
void sim_crypto_stats_get(sim_crypto_stats *out);
size_t sim_crypto_memo_bytes(void);
void sim_crypto_memo_free(void);

#endif
