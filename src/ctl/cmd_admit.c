/* caravanctl admit [NODE] [--pubkey HEX] [--revoke]: signs the admission of
 * a node, without which it schedules nothing. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/api.h"

static void help(void)
{
    printf("Usage: caravanctl admit [NODE] [--pubkey HEX] [--revoke]\n\n"
           "Admits a node into the cluster with an operator-signed record. Without\n"
           "--pubkey, the node's name and public key are read from the peer's\n"
           "/healthz (so --peer should be that node; check its key out of band\n"
           "when the network is not trusted). Prints node/NAME admitted.\n\n"
           "Options:\n"
           "      --pubkey HEX   the node's Ed25519 public key (64 hex digits)\n"
           "      --revoke       withdraw the admission instead\n"
           "  -h, --help         show this help\n\n"
           "Exit codes: 0 admitted, 1 failure, 2 usage error.\n");
}

/* Reads the name and key the peer reports about itself. */
static int peer_identity(ctl_client *c, char *name, size_t name_cap, char *pk_hex, size_t pk_cap)
{
    json_t *h = NULL;
    int rc = ctl_api_get(c, "/healthz", false, &h);
    const char *n = ctl_jstr(h, "node", NULL), *k = ctl_jstr(h, "publicKey", NULL);
    if (rc == 0 && (n == NULL || k == NULL))
        rc = ctl_fail("%s does not report its node name and public key", c->cfg.peer);
    if (rc == 0) {
        snprintf(name, name_cap, "%s", n);
        snprintf(pk_hex, pk_cap, "%s", k);
    }
    json_decref(h);
    return rc;
}

static int admit(ctl_ctx *ctx, const char *node, const char *pubkey, bool revoke)
{
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
    char name[CARA_CRDT_KEY_BYTES_MAX + 1] = "", pk_hex[2 * CARA_CRDT_PK_BYTES + 1] = "";
    if (rc == 0 && pubkey == NULL) {
        rc = peer_identity(&c, name, sizeof name, pk_hex, sizeof pk_hex);
        if (rc == 0 && node != NULL && strcmp(node, name) != 0)
            rc = ctl_fail("%s is node \"%s\", not \"%s\"; give --pubkey to admit another node",
                          c.cfg.peer, name, node);
    } else if (rc == 0) {
        snprintf(name, sizeof name, "%s", node);
        snprintf(pk_hex, sizeof pk_hex, "%s", pubkey);
    }
    uint8_t pk[CARA_CRDT_PK_BYTES];
    size_t pk_len = 0;
    if (rc == 0 && (strlen(pk_hex) != 2 * CARA_CRDT_PK_BYTES ||
                    sodium_hex2bin(pk, sizeof pk, pk_hex, strlen(pk_hex), NULL, &pk_len, NULL) != 0 ||
                    pk_len != sizeof pk))
        rc = ctl_fail("invalid public key \"%s\" (64 hex digits)", pk_hex);
    if (rc == 0 && !ctl_name_valid(name))
        rc = ctl_fail("invalid node name \"%s\"", name);
    cara_buf value;
    cara_buf_init(&value, &ctx->env, 256);
    if (rc == 0 && cara_crdt_admission_encode(pk, !revoke, &value) != 0)
        rc = ctl_fail("out of memory");
    /* The API does not show admissions, so their generation is not counted
     * up from the one held: wall-clock milliseconds make each later
     * admission or revocation win. */
    char *body = NULL;
    if (rc == 0)
        rc = ctl_record_body(&c, CARA_CRDT_ADMISSION, name, (uint64_t)cara_env_now_wall_ms(&ctx->env),
                             value.data, value.len, &body);
    cara_buf_free(&value);
    char target[64 + CARA_CRDT_KEY_BYTES_MAX];
    snprintf(target, sizeof target, "/v1/admissions/%s", name);
    json_t *reply = NULL;
    if (rc == 0)
        rc = ctl_api_send(&c, "PUT", target, body, 0, &reply, NULL);
    if (rc == 0)
        printf("node/%s %s\n", name, revoke ? "revoked" : "admitted");
    json_decref(reply);
    free(body);
    ctl_client_close(&c);
    return rc;
}

int ctl_cmd_admit(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"pubkey", required_argument, NULL, 'k'},
        {"revoke", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pubkey = NULL;
    bool revoke = false;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'k')
            pubkey = optarg;
        else if (opt == 'R')
            revoke = true;
        else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else
            return ctl_bad_option("admit", opt, argv);
    }
    const char *node = optind < argc ? argv[optind++] : NULL;
    if (optind < argc)
        return ctl_usage_error("admit", "unexpected argument '%s'", argv[optind]);
    if (pubkey != NULL && node == NULL)
        return ctl_usage_error("admit", "--pubkey needs the NODE name");
    return admit(ctx, node, pubkey, revoke);
}
