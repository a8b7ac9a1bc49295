/* caravanctl sign-request METHOD TARGET [--body FILE] [--time MS]: prints
 * the four X-Cara-* headers that sign one API request, so that any HTTP
 * client (curl -H @FILE) can talk to the agent. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/http_client.h"
#include "os/os.h"

static void help(void)
{
    printf("Usage: caravanctl sign-request METHOD TARGET [--body FILE] [--time MS]\n\n"
           "Prints the headers X-Cara-Key, X-Cara-Time, X-Cara-Nonce and\n"
           "X-Cara-Signature that sign one request with the operator key\n"
           "(docs/api.md), one 'Name: value' line each, for use with\n"
           "curl -H @FILE. TARGET is the path and query exactly as sent.\n\n"
           "Options:\n"
           "      --body FILE   the request body to sign ('-' is stdin; default none)\n"
           "      --time MS     sign as of this Unix time in milliseconds (default now)\n"
           "  -h, --help        show this help\n\n"
           "Exit codes: 0 printed, 1 failure (no key, unreadable body), 2 usage error.\n");
}

static int sign_and_print(ctl_ctx *ctx, const char *method, const char *target,
                          const char *body_file, int64_t time_ms)
{
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
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
        int r = cara_crdt_reqsig_sign(c.sk, method, target, time_ms >= 0 ? time_ms
                                                                        : cara_env_now_wall_ms(&ctx->env),
                                      nonce, (const uint8_t *)body, body_len, &ctx->env, &h);
        if (r != 0)
            rc = ctl_fail("cannot sign: %s", cara_strerror(r));
    }
    if (rc == 0)
        printf("X-Cara-Key: %s\nX-Cara-Time: %s\nX-Cara-Nonce: %s\nX-Cara-Signature: %s\n", h.key,
               h.time, h.nonce, h.sig);
    cara_env_free(&ctx->env, body);
    ctl_client_close(&c);
    return rc;
}

int ctl_cmd_sign_request(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"body", required_argument, NULL, 'b'},
        {"time", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *body = NULL;
    int64_t time_ms = -1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'b') {
            body = optarg;
        } else if (opt == 't') {
            char *end = NULL;
            long long v = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 0)
                return ctl_usage_error("sign-request", "--time needs Unix milliseconds, got '%s'",
                                       optarg);
            time_ms = v;
        } else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else {
            return ctl_bad_option("sign-request", opt, argv);
        }
    }
    if (argc - optind != 2)
        return ctl_usage_error("sign-request", "expected: sign-request METHOD TARGET");
    return sign_and_print(ctx, argv[optind], argv[optind + 1], body, time_ms);
}
