/* caravanctl: the operator's command-line tool. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "os/os.h"

struct command {
    const char *name;
    ctl_cmd_fn fn;
    const char *summary;
};

static const struct command commands[] = {
    {"validate", ctl_cmd_validate, "check manifests against the Project schema"},
    {"convert", ctl_cmd_convert, "print manifests in canonical YAML or JSON"},
    {"keygen", ctl_cmd_keygen, "create the operator key and print its public key"},
    {"apply", ctl_cmd_apply, "create or update projects from manifests"},
    {"get", ctl_cmd_get, "list projects or nodes"},
    {"describe", ctl_cmd_describe, "show a project in detail"},
    {"delete", ctl_cmd_delete, "delete a project"},
    {"logs", ctl_cmd_logs, "print a service's output"},
    {"watch", ctl_cmd_watch, "print changes to projects and nodes as they happen"},
    {"nodes", ctl_cmd_nodes, "list nodes (the same as 'get nodes')"},
    {"admit", ctl_cmd_admit, "admit a node into the cluster"},
    {"node", ctl_cmd_node, "cordon, uncordon or drain a node"},
    {"cordon", ctl_cmd_cordon, "keep new projects off a node (node cordon)"},
    {"uncordon", ctl_cmd_cordon, "let new projects onto a node again (node uncordon)"},
    {"drain", ctl_cmd_cordon, "move every project off a node (node drain)"},
    {"settings", ctl_cmd_settings, "apply the cluster's settings (timers, domain)"},
    {"join-token", ctl_cmd_join_token, "issue a token with which new nodes admit themselves"},
    {"sign-request", ctl_cmd_sign_request, "print the headers that sign one API request"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: caravanctl [--peer NAME|ADDR[:PORT]] [--key FILE] COMMAND [ARGS...]\n\n"
               "Caravanserai's command-line tool.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nGlobal options:\n"
               "  --peer PEER   the cara-agent to talk to: NAME|ADDR[:PORT] (default port\n"
               "                7951; default: the config file's peer:, else 127.0.0.1)\n"
               "  --key FILE    the operator key (default: the config file's key:, else\n"
               "                ~/.config/caravanserai/operator.key)\n"
               "  -h, --help    show this help\n"
               "  --version     print the version\n\n"
               "Config file: $CARAVANCTL_CONFIG, else ~/.config/caravanserai/config.yaml.\n"
               "Run 'caravanctl COMMAND --help' for a command's options.\n"
               "Exit codes: 0 success, 1 failure, 2 usage error.\n");
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "caravanctl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'caravanctl%s%s --help' for usage.\n", cmd ? " " : "", cmd ? cmd : "");
    va_end(ap);
    return CTL_EXIT_USAGE;
}

int ctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CTL_EXIT_FAIL;
}

int ctl_bad_option(const char *cmd, int opt, char **argv)
{
    const char *arg = argv[optind - 1];
    if (opt == ':')
        return ctl_usage_error(cmd, "option '%s' needs a value", arg);
    if (optopt != 0 && optopt != '?')
        return ctl_usage_error(cmd, "unknown option '-%c'", optopt);
    return ctl_usage_error(cmd, "unknown option '%s'", arg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"peer", required_argument, NULL, 'p'},
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* A closed pipe on stdout is an error return from write, not death by
     * signal: commands decide what it means (logs: the reader is done). */
    signal(SIGPIPE, SIG_IGN);
    cara_os_log log = {.stream = stderr, .app = "caravanctl"};
    ctl_ctx ctx = {0};
    cara_os_env_init(&ctx.env, &log, CARA_LOG_WARN);
    opterr = 0;
    int opt;
    /* '+': stop at the first non-option, the command name. */
    while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'p': ctx.peer = optarg; break;
        case 'k': ctx.key = optarg; break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case 'V': printf("caravanctl %s\n", CARA_VERSION); return CTL_EXIT_OK;
        default: return ctl_bad_option(NULL, opt, argv);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* 0 makes GNU getopt start afresh for the command */
            return commands[i].fn(&ctx, sub_argc, sub_argv);
        }
    }
    return ctl_usage_error(NULL, "unknown command '%s'", name);
}
