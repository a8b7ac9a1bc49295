/* caravanctl logs PROJECT/SERVICE [-f] [--tail N] [--timestamps]: copies a
 * service's output to stdout as the agent streams it. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/api.h"

static void help(void)
{
    printf("Usage: caravanctl logs PROJECT/SERVICE [-f] [--tail N] [--timestamps]\n\n"
           "Prints a service's output (stdout and stderr interleaved).\n\n"
           "Options:\n"
           "  -f, --follow       keep printing new output until interrupted\n"
           "      --tail N       only the last N lines\n"
           "      --timestamps   prefix each line with its time\n"
           "  -h, --help         show this help\n\n"
           "Exit codes: 0 printed, 1 failure (unknown project or service, unreachable\n"
           "peer), 2 usage error.\n");
}

static int to_stdout(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    /* fflush's result too: a closed pipe shows only when the buffer goes out. */
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
        return 1;
    return 0;
}

static bool count_valid(const char *s)
{
    if (*s == '\0' || strlen(s) > 9)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

int ctl_cmd_logs(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, 't'},
        {"timestamps", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool follow = false, timestamps = false;
    const char *tail = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
        if (opt == 'f')
            follow = true;
        else if (opt == 't' && !count_valid(optarg))
            return ctl_usage_error("logs", "--tail needs a number of lines, got '%s'", optarg);
        else if (opt == 't')
            tail = optarg;
        else if (opt == 'T')
            timestamps = true;
        else if (opt == 'h') {
            help();
            return CTL_EXIT_OK;
        } else
            return ctl_bad_option("logs", opt, argv);
    }
    if (argc - optind != 1)
        return ctl_usage_error("logs", "expected: logs PROJECT/SERVICE");
    char project[CARA_CRDT_KEY_BYTES_MAX + 1];
    const char *arg = argv[optind], *slash = strchr(arg, '/');
    if (slash == NULL || (size_t)(slash - arg) >= sizeof project)
        return ctl_usage_error("logs", "expected PROJECT/SERVICE, got '%s'", arg);
    snprintf(project, sizeof project, "%.*s", (int)(slash - arg), arg);
    const char *service = slash + 1;
    if (!ctl_name_valid(project) || !ctl_name_valid(service))
        return ctl_fail("no such service: %s", arg);
    char target[256 + 2 * CARA_CRDT_KEY_BYTES_MAX];
    snprintf(target, sizeof target, "/v1/projects/%s/logs?service=%s%s%s%s%s", project, service,
             follow ? "&follow=1" : "", tail ? "&tail=" : "", tail ? tail : "",
             timestamps ? "&timestamps=1" : "");
    ctl_client c;
    int rc = ctl_client_open(&c, ctx, CTL_KEY_OPTIONAL);
    if (rc == 0) {
        int s = ctl_http_stream(&c, target, 0, to_stdout, NULL, NULL);
        /* STOPPED: stdout is gone, e.g. `logs -f | head` has read what it
         * wanted; that is the reader's choice, not a failure. */
        rc = s == CTL_STREAM_ENDED || s == CTL_STREAM_STOPPED ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    }
    ctl_client_close(&c);
    return rc;
}
