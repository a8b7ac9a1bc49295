/*
 * caravanctl's settings: which peer to talk to and which operator key to
 * sign with, from the command line, else the config file, else defaults.
 *
 * The config file is $CARAVANCTL_CONFIG, else
 * $HOME/.config/caravanserai/config.yaml; a missing file is no error. It is
 * a YAML mapping with the keys `peer:` and `key:`; any other key is an
 * error, so that a typo is not silently ignored.
 */
#ifndef CARA_CTL_CONFIG_H
#define CARA_CTL_CONFIG_H

#include <stdbool.h>

#include "ctl/ctl.h"

typedef struct ctl_settings {
    char host[256];                /* a DNS name or an IP literal, without brackets */
    unsigned port;                 /* 1..65535 */
    char peer[300];                /* "host:port" ("[v6]:port") for messages */
    char key_path[CTL_PATH_BYTES_MAX];
    bool key_explicit;             /* from --key or the config file */
} ctl_settings;

/* Fills `out` from ctx (--peer, --key), the config file and the defaults.
 * Prints what is wrong and returns CTL_EXIT_FAIL (unreadable or invalid
 * config file) or CTL_EXIT_USAGE (a malformed --peer); 0 on success. */
int ctl_settings_load(const ctl_ctx *ctx, ctl_settings *out);

/* Splits NAME|ADDR[:PORT] ("[v6]:PORT" for an IPv6 address with a port)
 * into host and port (CTL_DEFAULT_PORT when absent). Returns 0 or -1. */
int ctl_peer_parse(const char *text, char *host, size_t host_cap, unsigned *port);

#endif
