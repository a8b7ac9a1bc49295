#include "ctl/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "os/os.h"

#define CONFIG_BYTES_MAX (64 * 1024)

static bool host_char_ok(char ch)
{
    return isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_' || ch == ':' ||
           ch == '%';
}

static int parse_port(const char *s, unsigned *port)
{
    if (*s == '\0' || strlen(s) > 5)
        return -1;
    unsigned v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

int ctl_peer_parse(const char *text, char *host, size_t host_cap, unsigned *port)
{
    *port = CTL_DEFAULT_PORT;
    const char *h = text, *port_text = NULL;
    size_t hlen;
    if (text[0] == '[') { /* [v6] or [v6]:port */
        const char *close = strchr(text, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return -1;
        h = text + 1;
        hlen = (size_t)(close - h);
        if (close[1] == ':')
            port_text = close + 2;
    } else {
        const char *colon = strchr(text, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) { /* name:port */
            hlen = (size_t)(colon - text);
            port_text = colon + 1;
        } else { /* a name, or a bare IPv6 address (several colons) */
            hlen = strlen(text);
        }
    }
    if (hlen == 0 || hlen >= host_cap)
        return -1;
    for (size_t i = 0; i < hlen; i++)
        if (!host_char_ok(h[i]))
            return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (port_text != NULL && parse_port(port_text, port) != 0)
        return -1;
    return 0;
}

/* "~/x" is the home directory's x, as a shell would read it. */
static int expand_home(const char *in, char *out, size_t cap)
{
    const char *home = getenv("HOME");
    int n;
    if (strncmp(in, "~/", 2) == 0 && home != NULL && home[0] != '\0')
        n = snprintf(out, cap, "%s/%s", home, in + 2);
    else
        n = snprintf(out, cap, "%s", in);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

typedef struct file_values {
    char peer[512];
    char key[CTL_PATH_BYTES_MAX];
} file_values;

static int config_path(char *out, size_t cap)
{
    const char *env = getenv("CARAVANCTL_CONFIG");
    if (env != NULL && env[0] != '\0')
        return expand_home(env, out, cap);
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        out[0] = '\0'; /* no home: no config file */
        return 0;
    }
    int n = snprintf(out, cap, "%s/.config/caravanserai/config.yaml", home);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Copies one `key: value` pair of the file's mapping into `v`. */
static int config_pair(const char *path, yaml_node_t *k, yaml_node_t *val, file_values *v)
{
    unsigned long line = (unsigned long)k->start_mark.line + 1;
    if (k->type != YAML_SCALAR_NODE) {
        fprintf(stderr, "error: %s:%lu: keys must be plain words\n", path, line);
        return -1;
    }
    const char *key = (const char *)k->data.scalar.value;
    char *dst;
    size_t cap;
    if (strcmp(key, "peer") == 0) {
        dst = v->peer;
        cap = sizeof v->peer;
    } else if (strcmp(key, "key") == 0) {
        dst = v->key;
        cap = sizeof v->key;
    } else {
        fprintf(stderr, "error: %s:%lu: unknown key \"%s\" (known: peer, key)\n", path, line, key);
        return -1;
    }
    if (dst[0] != '\0') { /* a second "peer:" must not silently win */
        fprintf(stderr, "error: %s:%lu: duplicate key \"%s\"\n", path, line, key);
        return -1;
    }
    if (val->type != YAML_SCALAR_NODE || val->data.scalar.length == 0 ||
        val->data.scalar.length >= cap) {
        fprintf(stderr, "error: %s:%lu: %s must be a non-empty string\n", path, line, key);
        return -1;
    }
    memcpy(dst, val->data.scalar.value, val->data.scalar.length + 1);
    return 0;
}

static int config_parse(const char *path, const char *text, size_t len, file_values *v)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "error: %s:%lu: %s\n", path, (unsigned long)parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && root->type != YAML_MAPPING_NODE) {
        fprintf(stderr, "error: %s: the config file must be a mapping (peer: ..., key: ...)\n",
                path);
        rc = -1;
    }
    for (yaml_node_pair_t *p = root != NULL && rc == 0 ? root->data.mapping.pairs.start : NULL;
         p != NULL && p < root->data.mapping.pairs.top && rc == 0; p++)
        rc = config_pair(path, yaml_document_get_node(&doc, p->key),
                         yaml_document_get_node(&doc, p->value), v);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

static int config_read(const ctl_ctx *ctx, file_values *v)
{
    char path[CTL_PATH_BYTES_MAX];
    if (config_path(path, sizeof path) != 0) {
        fprintf(stderr, "error: the config file's path is too long\n");
        return -1;
    }
    if (path[0] == '\0')
        return 0;
    char *text = NULL;
    size_t len = 0;
    cara_env *env = (cara_env *)&ctx->env;
    int rc = cara_os_read_file(env, path, CONFIG_BYTES_MAX, &text, &len);
    if (rc == CARA_ENOENT)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "error: %s: cannot read: %s\n", path, cara_strerror(rc));
        return -1;
    }
    rc = config_parse(path, text, len, v);
    cara_env_free(env, text);
    return rc;
}

int ctl_settings_load(const ctl_ctx *ctx, ctl_settings *out)
{
    memset(out, 0, sizeof *out);
    file_values v = {{0}, {0}};
    if (config_read(ctx, &v) != 0)
        return CTL_EXIT_FAIL;
    const char *peer = ctx->peer != NULL ? ctx->peer : v.peer[0] ? v.peer : "127.0.0.1";
    if (ctl_peer_parse(peer, out->host, sizeof out->host, &out->port) != 0) {
        if (ctx->peer != NULL)
            return ctl_usage_error(NULL, "invalid --peer '%s' (NAME|ADDR[:PORT])", peer);
        fprintf(stderr, "error: invalid peer '%s' in the config file (NAME|ADDR[:PORT])\n", peer);
        return CTL_EXIT_FAIL;
    }
    bool v6 = strchr(out->host, ':') != NULL;
    snprintf(out->peer, sizeof out->peer, "%s%s%s:%u", v6 ? "[" : "", out->host, v6 ? "]" : "",
             out->port);
    const char *key = ctx->key != NULL ? ctx->key : v.key[0] ? v.key : NULL;
    out->key_explicit = key != NULL;
    if (key == NULL)
        key = "~/.config/caravanserai/operator.key";
    if (expand_home(key, out->key_path, sizeof out->key_path) != 0) {
        fprintf(stderr, "error: the key file's path is too long\n");
        return CTL_EXIT_FAIL;
    }
    return 0;
}
