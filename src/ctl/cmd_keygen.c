/*
 * caravanctl keygen [--out FILE] [--force]
 */
#include <getopt.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt.h"
#include "ctl/ctl.h"
#include "os/os.h"

#define KEYGEN_PATH_BYTES_MAX 4096

static const char USAGE[] =
    "usage: caravanctl keygen [--out FILE] [--force]\n"
    "\n"
    "Creates an operator key (Ed25519) and prints its public key and key id.\n"
    "  --out FILE  where to write the secret (default\n"
    "              $HOME/.config/caravanserai/operator.key; directories are\n"
    "              created with mode 0700, the file with mode 0600)\n"
    "  --force     replace an existing key file\n";

static int default_path(char *out, size_t cap)
{
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        fprintf(stderr, "caravanctl keygen: HOME is not set; use --out FILE\n");
        return -1;
    }
    if (snprintf(out, cap, "%s/.config/caravanserai/operator.key", home) >= (int)cap) {
        fprintf(stderr, "caravanctl keygen: HOME is too long\n");
        return -1;
    }
    return 0;
}

static int parent_dirs(const char *path)
{
    char dir[KEYGEN_PATH_BYTES_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    return cara_os_mkdir_p(dir, 0700);
}

int ctl_cmd_keygen(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    bool force = false;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'o') {
            out = optarg;
        } else if (opt == 'F') {
            force = true;
        } else if (opt == 'h') {
            fputs(USAGE, stdout);
            return CTL_EXIT_OK;
        } else {
            return ctl_bad_option("keygen", opt, argv);
        }
    }
    if (optind < argc)
        return ctl_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
    if (out == NULL && ctx->key != NULL)
        out = ctx->key; /* `caravanctl --key FILE keygen` writes FILE */
    char path[KEYGEN_PATH_BYTES_MAX];
    if (out == NULL && default_path(path, sizeof path) != 0)
        return 1;
    if (out != NULL)
        snprintf(path, sizeof path, "%s", out);
    int rc = parent_dirs(path);
    uint8_t seed[CARA_OS_KEY_SEED_BYTES], pk[CARA_CRDT_PK_BYTES], sk[CARA_CRDT_SK_BYTES];
    cara_os_key_generate(seed);
    if (rc == 0)
        rc = cara_crdt_key_from_seed(seed, pk, sk);
    if (rc == 0)
        rc = cara_os_keyfile_write(path, seed, force);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    if (rc == CARA_EEXIST) {
        fprintf(stderr, "caravanctl keygen: %s exists; use --force to replace it\n", path);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "caravanctl keygen: %s: %s\n", path, cara_strerror(rc));
        return 1;
    }
    char hex[2 * CARA_CRDT_PK_BYTES + 1], id[CARA_CRDT_KEY_ID_BYTES];
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    cara_crdt_key_id(pk, id);
    printf("key_file=%s\npublic_key=%s\nkey_id=%s\n", path, hex, id);
    return 0;
}
