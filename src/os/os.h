/*
 * The operating system's side of cara_env: the real clocks, a seed from the
 * kernel, malloc, and a logger that writes one logfmt line per event to a
 * stream. Core modules never include this header (DESIGN.md principle 4);
 * binaries (cara-agent, caravanctl) and tests build their env with it, and
 * cara-sim builds a simulated one instead.
 */
#ifndef CARA_OS_H
#define CARA_OS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

typedef struct cara_os_log {
    FILE *stream;    /* borrowed; stderr by default */
    const char *app; /* borrowed; e.g. "cara-agent" */
    int json;        /* nonzero: one JSON object per line instead of logfmt */
} cara_os_log;

/* Fills `env` with the real hooks. `log` is borrowed and must outlive env;
 * the rng is seeded from getrandom(2). */
void cara_os_env_init(cara_env *env, cara_os_log *log, int log_level_max);

/* Reads a whole file of at most `bytes_max` bytes ("-" is stdin) into an
 * owned, NUL-terminated buffer freed with cara_env_free. Returns 0,
 * CARA_ENOENT, CARA_EPERM, CARA_ETOOBIG or CARA_EIO. */
int cara_os_read_file(cara_env *env, const char *path, size_t bytes_max, char **data_out,
                      size_t *len_out);

/* ---- Key files ---------------------------------------------------------------
 * A key file holds an Ed25519 seed (the secret from which cara_crdt_key_from_
 * seed derives the pair) as one line of text:
 *     caravanserai-ed25519-seed-v1 <64 hex digits>
 * It is created with mode 0600 and refused on read when group or others may
 * read or write it, as ssh refuses a private key with loose permissions. */
#define CARA_OS_KEY_SEED_BYTES 32

/* Fills seed[32] from the kernel's CSPRNG (libsodium). */
void cara_os_key_generate(uint8_t seed[CARA_OS_KEY_SEED_BYTES]);

/* Writes the seed to `path` durably (fsync of the file and its directory).
 * Without `force`, an existing file is left alone and CARA_EEXIST returned;
 * with it, the file is replaced atomically. Returns 0, CARA_EEXIST,
 * CARA_EPERM, CARA_ENOENT (missing directory) or CARA_EIO. */
int cara_os_keyfile_write(const char *path, const uint8_t seed[CARA_OS_KEY_SEED_BYTES],
                          bool force);

/* Reads a seed. Returns 0, CARA_ENOENT, CARA_EPERM (group/world-accessible
 * file, or not readable), CARA_EPARSE (not a key file) or CARA_EIO. The
 * secret is wiped from intermediate buffers. */
int cara_os_keyfile_read(const char *path, uint8_t seed[CARA_OS_KEY_SEED_BYTES]);

/* Creates `dir` and its missing parents with `mode` (existing ones are left
 * as they are). Returns 0, CARA_EPERM or CARA_EIO. */
int cara_os_mkdir_p(const char *dir, unsigned mode);

/* ---- Host usage (src/os/host.c) ---------------------------------------------
 * What a node reports as MemoryPressure and DiskPressure; the thresholds
 * are the core's (cara_sched_pressure). */

/* Finds MemAvailable in the text of /proc/meminfo ("MemAvailable:  123 kB")
 * and writes it in bytes. Returns 0, or CARA_EPARSE when the line is
 * missing (kernels before 3.14) or malformed. */
int cara_os_meminfo_parse(const char *text, size_t len, uint64_t *available_bytes);
/* Reads /proc/meminfo: 0, CARA_EIO or CARA_EPARSE. */
int cara_os_mem_available(uint64_t *available_bytes);
/* statvfs(2) of `path`: the bytes unprivileged writers can still use
 * (f_bavail, as df and kubelet count them) and the filesystem's size.
 * Returns 0, CARA_ENOENT, CARA_EPERM or CARA_EIO. */
int cara_os_disk_usage(const char *path, uint64_t *available_bytes, uint64_t *total_bytes);

#endif
