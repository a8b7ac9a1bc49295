/* caravanctl sign-request METHOD TARGET [--body FILE] [--time MS]
 * [--node-key HEX]: prints the five X-Cara-* headers that sign one API
 * request for one node, so that any HTTP client (curl -H @FILE) can talk
 * to that node's agent. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/http_client.h"
#include "os/os.h"

static void help(void)
{
    printf("Usage: caravanctl sign-request METHOD TARGET [--body FILE] [--time MS]\n"
           "                               [--node-key HEX]\n\n"
           "Prints the headers X-Cara-Key, X-Cara-Node, X-Cara-Time, X-Cara-Nonce\n"
           "and X-Cara-Signature that sign one request with the operator key\n"
           "(docs/api.md), one 'Name: value' line each, for use with\n"
           "curl -H @FILE. TARGET is the path and query exactly as sent. The\n"
           "request is good only at the node it is signed for: the peer (asked\n"
           "for its key on GET /healthz), or the node whose key --node-key gives.\n\n"
           "Options:\n"
           "      --body FILE       the request body to sign ('-' is stdin; default none)\n"
           "      --time MS         sign as of this Unix time in milliseconds (default now)\n"
           "      --node-key HEX    sign for the node with this public key (64 hex digits,\n"
           "                        the publicKey of its /healthz) instead of asking the peer\n"
           "  -h, --help            show this help\n\n"
           "Exit codes: 0 printed, 1 failure (no key, unreadable body, peer\n"
           "unreachable), 2 usage error.\n");
}

typedef struct sign_opts {
    const char *body_file; /* NULL: no body */
    int64_t time_wall_ms;       /* -1: now */
    bool have_node_pk;
    uint8_t node_pk[CARA_CRDT_PK_BYTES];
} sign_opts;

static int sign_and_print(ctl_ctx *ctx, const char *method, const char *target,
                          const sign_opts *o)
{
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
    if (rc == 0 && o->have_node_pk) {
        memcpy(c.node_pk, o->node_pk, sizeof c.node_pk);
        c.have_node_pk = true;
    }
    if (rc == 0)
        rc = ctl_client_node_key(&c);
    const char *body_file = o->body_file;
    int64_t time_wall_ms = o->time_wall_ms;
    char *body = NULL;
    size_t body_len = 0;
    if (rc == 0 && body_file != NULL) {
        int r = cara_os_read_file(&ctx->env, body_file, CARA_HTTP_BODY_BYTES_MAX, &body, &body_len);
        if (r != 0)
            rc = ctl_fail("%s: cannot read: %s", body_file, cara_strerror(r));
    }
    cara_reqsig_headers h;
    uint8_t nonce[CARA_REQSIG_NONCE_BYTES];
    randombytes_buf(nonce, sizeof nonce);
    if (rc == 0) {
        int64_t at_ms = time_wall_ms >= 0 ? time_wall_ms : cara_env_now_wall_ms(&ctx->env);
        int r = cara_crdt_reqsig_sign(c.sk, c.node_pk, method, target, at_ms, nonce,
                                      (const uint8_t *)body, body_len, &ctx->env, &h);
        if (r != 0)
            rc = ctl_fail("cannot sign: %s", cara_strerror(r));
    }
    if (rc == 0)
        printf("X-Cara-Key: %s\nX-Cara-Node: %s\nX-Cara-Time: %s\nX-Cara-Nonce: %s\n"
               "X-Cara-Signature: %s\n", h.key, h.node, h.time, h.nonce, h.sig);
    cara_env_free(&ctx->env, body);
    ctl_client_close(&c);
    return rc;
}

/* Exactly 64 hex digits. */
static bool node_key_parse(const char *hex, uint8_t pk[CARA_CRDT_PK_BYTES])
{
    size_t got = 0;
    const char *end = NULL;
    return strlen(hex) == 2 * CARA_CRDT_PK_BYTES &&
           sodium_hex2bin(pk, CARA_CRDT_PK_BYTES, hex, strlen(hex), NULL, &got, &end) == 0 &&
           got == CARA_CRDT_PK_BYTES && *end == '\0';
}

int ctl_cmd_sign_request(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"body", required_argument, NULL, 'b'},
        {"time", required_argument, NULL, 't'},
        {"node-key", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sign_opts o = {.time_wall_ms = -1};
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'b') {
            o.body_file = optarg;
        } else if (opt == 't') {
            char *end = NULL;
            long long v = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 0)
                return ctl_usage_error("sign-request", "--time needs Unix milliseconds, got '%s'",
                                       optarg);
            o.time_wall_ms = v;
        } else if (opt == 'n') {
            if (!node_key_parse(optarg, o.node_pk))
                return ctl_usage_error("sign-request",
                                       "--node-key needs a public key of 64 hex digits, got '%s'",
                                       optarg);
            o.have_node_pk = true;
        } else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else {
            return ctl_bad_option("sign-request", opt, argv);
        }
    }
    if (argc - optind != 2)
        return ctl_usage_error("sign-request", "expected: sign-request METHOD TARGET");
    return sign_and_print(ctx, argv[optind], argv[optind + 1], &o);
}
