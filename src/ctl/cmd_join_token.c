/* caravanctl join-token create [--ttl DURATION] [--uses N]: issues a token
 * with which new nodes admit themselves (docs/joining.md). Everything is
 * done here, offline: the operator key signs a grant for a fresh token key
 * pair, and the token is printed. No peer is asked. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/http_client.h"

#define DAY_MS (24LL * 3600 * 1000)
/* A token is a bearer secret for its whole life: a year is the longest
 * the CLI will sign for (the cluster itself accepts any expiry). */
#define TTL_MS_MAX (365 * DAY_MS)
#define TTL_MS_DEFAULT DAY_MS

static void help(void)
{
    printf("Usage: caravanctl join-token create [--ttl DURATION] [--uses N]\n\n"
           "Prints a join token: a new node started with it admits itself into the\n"
           "cluster, without 'caravanctl admit'. The token is signed with the operator\n"
           "key and holds a secret: whoever has it can join up to N nodes until it\n"
           "expires, so pass it as you would a password (docs/joining.md).\n"
           "Prints the token on stdout, and when it expires on stderr.\n\n"
           "Options:\n"
           "      --ttl DURATION  how long the token can be used: a number and a unit,\n"
           "                      s, m, h or d (default 24h, at most 365d)\n"
           "      --uses N        how many nodes it can admit, 1 to %d (default 1)\n"
           "  -h, --help          show this help\n\n"
           "Exit codes: 0 printed, 1 failure (no operator key), 2 usage error.\n",
           CARA_CRDT_JOIN_USES_MAX);
}

/* DIGITS then one of s, m, h, d; 1 s to TTL_MS_MAX. */
static int parse_ttl(const char *text, int64_t *ms_out)
{
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 9 || strlen(text) != digits + 1)
        return -1;
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', DAY_MS}};
    int64_t v = strtoll(text, NULL, 10);
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (text[digits] != units[i].unit)
            continue;
        if (v <= 0 || v > TTL_MS_MAX / units[i].ms)
            return -1;
        *ms_out = v * units[i].ms;
        return 0;
    }
    return -1;
}

static int parse_uses(const char *text, uint32_t *out)
{
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 4 || text[digits] != '\0')
        return -1;
    long v = strtol(text, NULL, 10);
    if (v < 1 || v > CARA_CRDT_JOIN_USES_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static void print_expiry(int64_t expires_wall_ms, int64_t ttl_ms, uint32_t uses)
{
    time_t t = (time_t)(expires_wall_ms / 1000);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "join token expires %s (in %lld s); admits up to %u node%s\n", when,
            (long long)(ttl_ms / 1000), uses, uses == 1 ? "" : "s");
}

static int create(ctl_ctx *ctx, int64_t ttl_ms, uint32_t uses)
{
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_REQUIRED);
    uint8_t id[CARA_CRDT_JOIN_TOKEN_ID_BYTES], seed[CARA_CRDT_SEED_BYTES];
    uint8_t token_pk[CARA_CRDT_PK_BYTES], token_sk[CARA_CRDT_SK_BYTES];
    randombytes_buf(id, sizeof id);
    randombytes_buf(seed, sizeof seed);
    int64_t expires_wall_ms = cara_env_now_wall_ms(&ctx->env) + ttl_ms;
    cara_buf grant;
    cara_buf_init(&grant, &ctx->env, CARA_CRDT_JOIN_GRANT_BYTES_MAX);
    char token[CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX];
    int r = 0;
    if (rc == 0 && !c.have_key)
        rc = ctl_fail("no operator key to sign with");
    if (rc == 0 && (r = cara_crdt_key_from_seed(seed, token_pk, token_sk)) == 0 &&
        (r = cara_crdt_join_grant_sign(id, expires_wall_ms, uses, token_pk, c.sk, &grant)) == 0)
        r = cara_crdt_join_token_format(grant.data, grant.len, seed, token, sizeof token);
    if (rc == 0 && r != 0)
        rc = ctl_fail("cannot make the join token: %s", cara_strerror(r));
    if (rc == 0) {
        printf("%s\n", token);
        if (fflush(stdout) != 0)
            rc = ctl_fail("cannot write the token");
    }
    if (rc == 0)
        print_expiry(expires_wall_ms, ttl_ms, uses);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(token_sk, sizeof token_sk);
    sodium_memzero(token, sizeof token);
    cara_buf_free(&grant);
    ctl_client_close(&c);
    return rc;
}

int ctl_cmd_join_token(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ttl", required_argument, NULL, 't'},
        {"uses", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t ttl_ms = TTL_MS_DEFAULT;
    uint32_t uses = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 't') {
            if (parse_ttl(optarg, &ttl_ms) != 0)
                return ctl_usage_error("join-token",
                                       "--ttl needs a duration such as 30m, 24h or 7d "
                                       "(s, m, h or d; at most 365d), got '%s'",
                                       optarg);
        } else if (opt == 'u') {
            if (parse_uses(optarg, &uses) != 0)
                return ctl_usage_error("join-token",
                                       "--uses needs a whole number from 1 to %d, got '%s'",
                                       CARA_CRDT_JOIN_USES_MAX, optarg);
        } else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else {
            return ctl_bad_option("join-token", opt, argv);
        }
    }
    if (optind >= argc)
        return ctl_usage_error("join-token", "expected a subcommand: create");
    if (strcmp(argv[optind], "create") != 0)
        return ctl_usage_error("join-token", "unknown subcommand '%s' (expected: create)",
                               argv[optind]);
    if (optind + 1 < argc)
        return ctl_usage_error("join-token", "unexpected argument '%s'", argv[optind + 1]);
    return create(ctx, ttl_ms, uses);
}
