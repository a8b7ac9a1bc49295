#include "agent/config.h"
#include "agent/agent_int.h"
#include "agent/netpool.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_FILE_BYTES_MAX (64 * 1024)

static char *dup_str(const char *s) { return s != NULL ? strdup(s) : NULL; }

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = dup_str(v);
}

static int add_str(char **list, size_t *count, const char *v, const char *what)
{
    if (*count >= CARA_AGENT_LIST_MAX) {
        fprintf(stderr, "cara-agent: at most %d %s\n", CARA_AGENT_LIST_MAX, what);
        return 2;
    }
    list[(*count)++] = dup_str(v);
    return 0;
}

/* "500ms", "90s", "5m", "2h", "7d" (a bare number is seconds), within
 * 1 s .. 365 d. Returns 0 or 2 (printed). */
static int parse_duration(const char *flag, const char *v, int64_t *ms)
{
    char *end = NULL;
    double n = strtod(v, &end);
    double mult = strcmp(end, "ms") == 0 ? 1
                  : strcmp(end, "s") == 0 || *end == '\0' ? 1000
                  : strcmp(end, "m") == 0 ? 60e3
                  : strcmp(end, "h") == 0 ? 3600e3
                  : strcmp(end, "d") == 0 ? 86400e3
                                          : -1;
    double total = n * mult;
    if (end == v || mult < 0 || !(total >= 1000 && total <= 365 * 86400e3)) {
        fprintf(stderr, "cara-agent: %s wants a duration between 1s and 365d (90s, 5m, 7d), "
                        "got \"%s\"\n", flag, v);
        return 2;
    }
    *ms = (int64_t)total;
    return 0;
}

/* A count of failed pulls before an image is given up: 1 to the cap. */
static int parse_pull_attempts(const char *flag, const char *v, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || v[0] == '-' || n < 1 ||
        n > CARA_RECONCILER_PULL_ATTEMPTS_MAX) {
        fprintf(stderr, "cara-agent: %s wants a whole number from 1 to %d, got \"%s\"\n", flag,
                CARA_RECONCILER_PULL_ATTEMPTS_MAX, v);
        return 2;
    }
    *out = (unsigned)n;
    return 0;
}

/* How long an image is retried at least before it is given up. */
static int parse_pull_window(const char *flag, const char *v, int64_t *ms)
{
    if (parse_duration(flag, v, ms) != 0)
        return 2;
    if (*ms > (int64_t)CARA_RECONCILER_PULL_WINDOW_MS_MAX) {
        fprintf(stderr, "cara-agent: %s is at most 7d, got \"%s\"\n", flag, v);
        return 2;
    }
    return 0;
}

/* --join A,B or repeated --join: each seed on its own. */
static int add_join(cara_agent_settings *s, const char *v)
{
    const char *p = v;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > 0) {
            char *one = strndup(p, len);
            int rc = one ? add_str(s->join, &s->join_count, one, "--join seeds") : 2;
            free(one);
            if (rc != 0)
                return rc;
        }
        p += len + (comma != NULL);
    }
    return 0;
}

static int add_label(cara_agent_settings *s, const char *k, size_t klen, const char *v)
{
    if (s->labels_count >= CARA_AGENT_LIST_MAX) {
        fprintf(stderr, "cara-agent: at most %d labels\n", CARA_AGENT_LIST_MAX);
        return 2;
    }
    s->labels[s->labels_count].name = strndup(k, klen);
    s->labels[s->labels_count++].value = dup_str(v);
    return 0;
}

static int parse_level(const char *v, int *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    fprintf(stderr, "cara-agent: unknown log level \"%s\" (error, warn, info, debug)\n", v);
    return 2;
}

static int parse_prefix(const char *v, unsigned *out)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || n < 1 || n > 32) {
        fprintf(stderr, "cara-agent: network prefix \"%s\" is not a length 1..32\n", v);
        return 2;
    }
    *out = (unsigned)n;
    return 0;
}

static int parse_memory_min(const char *v, uint64_t *out)
{
    uint64_t bytes = 0;
    if (cara_memory_quantity_parse(v, &bytes) != 0 || bytes == 0) {
        fprintf(stderr, "cara-agent: memory threshold \"%s\" is not a positive quantity "
                        "(100Mi, 1Gi, 500M)\n", v);
        return 2;
    }
    *out = bytes;
    return 0;
}

/* "10%" or "10": a share of the data dir's filesystem, 1..99. */
static int parse_disk_min(const char *v, unsigned *out)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || (strcmp(end, "%") != 0 && *end != '\0') || n < 1 || n > 99) {
        fprintf(stderr, "cara-agent: disk threshold \"%s\" is not a percentage 1%%..99%%\n", v);
        return 2;
    }
    *out = (unsigned)n;
    return 0;
}

static int parse_format(const char *v, int *json)
{
    if (strcmp(v, "logfmt") != 0 && strcmp(v, "json") != 0) {
        fprintf(stderr, "cara-agent: unknown log format \"%s\" (logfmt or json)\n", v);
        return 2;
    }
    *json = strcmp(v, "json") == 0;
    return 0;
}

/* ---- The YAML file -------------------------------------------------------------- */

static const char *scalar(yaml_document_t *doc, yaml_node_t *n)
{
    (void)doc;
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int file_list(cara_agent_settings *s, yaml_document_t *doc, yaml_node_t *v, const char *key,
                     const char *path)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        fprintf(stderr, "%s:%zu: %s must be a list\n", path, v->start_mark.line + 1, key);
        return 2;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        const char *item = scalar(doc, yaml_document_get_node(doc, *it));
        if (item == NULL) {
            fprintf(stderr, "%s: %s holds a non-string item\n", path, key);
            return 2;
        }
        int rc = strcmp(key, "api") == 0    ? add_str(s->api, &s->api_count, item, "API addresses")
                 : strcmp(key, "join") == 0 ? add_join(s, item)
                                            : add_str(s->pubkey_args, &s->pubkey_args_count, item,
                                                      "operator keys");
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int file_key(cara_agent_settings *s, yaml_document_t *doc, const char *key, yaml_node_t *v,
                    const char *path)
{
    const char *sv = scalar(doc, v);
    if (strcmp(key, "api") == 0 || strcmp(key, "operatorPubkeys") == 0 ||
        strcmp(key, "join") == 0)
        return file_list(s, doc, v, key, path);
    if (strcmp(key, "labels") == 0) {
        if (v->type != YAML_MAPPING_NODE) {
            fprintf(stderr, "%s: labels must be a mapping\n", path);
            return 2;
        }
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
            const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
            const char *val = scalar(doc, yaml_document_get_node(doc, p->value));
            if (k == NULL || val == NULL || add_label(s, k, strlen(k), val) != 0)
                return 2;
        }
        return 0;
    }
    if (sv == NULL) {
        fprintf(stderr, "%s:%zu: %s must be a string\n", path, v->start_mark.line + 1, key);
        return 2;
    }
    if (strcmp(key, "name") == 0)
        set_str(&s->name, sv);
    else if (strcmp(key, "dataDir") == 0)
        set_str(&s->data_dir, sv);
    else if (strcmp(key, "dockerHost") == 0)
        set_str(&s->docker_host, sv);
    else if (strcmp(key, "networkPool") == 0)
        set_str(&s->network_pool, sv);
    else if (strcmp(key, "bind") == 0)
        set_str(&s->bind, sv);
    else if (strcmp(key, "advertise") == 0)
        set_str(&s->advertise, sv);
    else if (strcmp(key, "token") == 0)
        set_str(&s->token, sv);
    else if (strcmp(key, "tombstoneHorizon") == 0)
        return parse_duration(key, sv, &s->tombstone_horizon_ms);
    else if (strcmp(key, "gcInterval") == 0)
        return parse_duration(key, sv, &s->gc_interval_ms);
    else if (strcmp(key, "networkPrefix") == 0)
        return parse_prefix(sv, &s->network_prefix_len);
    else if (strcmp(key, "memoryAvailableMin") == 0)
        return parse_memory_min(sv, &s->memory_available_min_bytes);
    else if (strcmp(key, "diskAvailableMin") == 0)
        return parse_disk_min(sv, &s->disk_available_min_percent);
    else if (strcmp(key, "imagePullAttempts") == 0)
        return parse_pull_attempts(key, sv, &s->image_pull_attempts);
    else if (strcmp(key, "imagePullWindow") == 0)
        return parse_pull_window(key, sv, &s->image_pull_window_ms);
    else if (strcmp(key, "logFormat") == 0)
        return parse_format(sv, &s->log_json);
    else if (strcmp(key, "logLevel") == 0)
        return parse_level(sv, &s->log_level);
    else {
        fprintf(stderr, "%s:%zu: unknown key \"%s\"\n", path, v->start_mark.line + 1, key);
        return 2;
    }
    return 0;
}

static int load_file(cara_agent_settings *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cara-agent: cannot read %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (fseek(f, 0, SEEK_END) != 0 || ftell(f) > CONFIG_FILE_BYTES_MAX || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cara-agent: %s is larger than %d bytes\n", path, CONFIG_FILE_BYTES_MAX);
        fclose(f);
        return 2;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "%s:%zu:%zu: yaml: %s\n", path, parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem ? parser.problem : "error");
        rc = 2;
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root != NULL && root->type != YAML_MAPPING_NODE) {
            fprintf(stderr, "%s: the configuration must be a mapping\n", path);
            rc = 2;
        }
        for (yaml_node_pair_t *p = root && rc == 0 ? root->data.mapping.pairs.start : NULL;
             p != NULL && p < root->data.mapping.pairs.top && rc == 0; p++) {
            const char *k = scalar(&doc, yaml_document_get_node(&doc, p->key));
            rc = k ? file_key(s, &doc, k, yaml_document_get_node(&doc, p->value), path) : 2;
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- Flags -------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: cara-agent [OPTIONS]\n\n"
            "Runs one Caravanserai node: replicated state, HTTP API, scheduler and the\n"
            "reconciler of this node's projects on the Docker engine.\n\n"
            "Options (each also a key of the --config file):\n"
            "  --name NAME              node name, a DNS label (default: the host name)\n"
            "  --data-dir DIR           state database and node key (default /var/lib/caravanserai)\n"
            "  --api ADDR:PORT          API listen address, repeatable (default %s)\n"
            "  --docker-host URL        engine socket (default %s)\n"
            "  --operator-pubkey FILE   a trusted operator key (file or 64 hex digits), repeatable\n"
            "  --label KEY=VALUE        a node label for node selectors, repeatable\n"
            "  --network-pool CIDR      project networks' subnets come from here (default %s)\n"
            "  --network-prefix LEN     prefix length of each project's subnet (default %d)\n"
            "  --bind ADDR[:PORT]       gossip address, UDP and TCP (port 7950 by default);\n"
            "                           without it the node runs on its own\n"
            "  --advertise ADDR[:PORT]  the address peers reach (default: --bind)\n"
            "  --join ADDR[:PORT],...   seeds of an existing cluster (repeatable); without\n"
            "                           it the node starts a new cluster\n"
            "  --token TOKEN            a join token (caravanctl join-token create): the\n"
            "                           node admits itself with it\n"
            "  --tombstone-horizon D    how long a deletion is kept before collection\n"
            "                           (default 7d; docs/crdt.md)\n"
            "  --gc-interval D          how often collection runs (default 60s)\n"
            "  --memory-available-min Q MemoryPressure when available memory is below Q\n"
            "                           (default 100Mi, kubelet's memory.available)\n"
            "  --disk-available-min P%%  DiskPressure when the data dir's filesystem has less\n"
            "                           than P%% available (default 10%%, kubelet's nodefs)\n"
            "  --image-pull-attempts N  an image that cannot be pulled is retried with\n"
            "                           back-off (ImagePullBackOff) and its project Failed\n"
            "                           (ImagePullFailed) after at least N failed attempts\n"
            "                           (default %d) ...\n"
            "  --image-pull-window D    ... and at least D since the first (default %um)\n"
            "  --config FILE            YAML file with the settings above (flags win)\n"
            "  --log-format FMT         logfmt (default) or json\n"
            "  --log-level LEVEL        error, warn, info (default) or debug\n"
            "  -h, --help               show this help\n"
            "  --version                print the version\n",
            CARA_AGENT_API_DEFAULT, CARA_AGENT_DOCKER_DEFAULT, CARA_NETPOOL_DEFAULT,
            CARA_NETPOOL_PREFIX_LEN_DEFAULT, CARA_RECONCILER_PULL_ATTEMPTS_DEFAULT,
            CARA_RECONCILER_PULL_WINDOW_MS_DEFAULT / 60000);
}

int cara_agent_read_pubkey(const char *arg, uint8_t pk[CARA_CRDT_PK_BYTES])
{
    size_t used;
    if (strlen(arg) == 2 * CARA_CRDT_PK_BYTES &&
        sodium_hex2bin(pk, CARA_CRDT_PK_BYTES, arg, strlen(arg), NULL, &used, NULL) == 0 &&
        used == CARA_CRDT_PK_BYTES)
        return 0;
    FILE *f = fopen(arg, "rb");
    if (f == NULL)
        return errno == ENOENT ? CARA_ENOENT : CARA_EIO;
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The first run of exactly 64 hex digits is the key. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j < n && isxdigit((unsigned char)text[j]))
            j++;
        if (j - i == 2 * CARA_CRDT_PK_BYTES &&
            sodium_hex2bin(pk, CARA_CRDT_PK_BYTES, text + i, j - i, NULL, &used, NULL) == 0)
            return 0;
        i = j;
    }
    return CARA_EPARSE;
}

static int parse_flags(cara_agent_settings *s, int argc, char **argv, const char **config)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},        {"data-dir", required_argument, NULL, 'd'},
        {"api", required_argument, NULL, 'a'},         {"docker-host", required_argument, NULL, 'D'},
        {"operator-pubkey", required_argument, NULL, 'k'}, {"label", required_argument, NULL, 'l'},
        {"config", required_argument, NULL, 'c'},      {"log-format", required_argument, NULL, 'f'},
        {"log-level", required_argument, NULL, 'L'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},           {"network-pool", required_argument, NULL, 'N'},
        {"network-prefix", required_argument, NULL, 'P'}, {"bind", required_argument, NULL, 'B'},
        {"advertise", required_argument, NULL, 'R'},   {"join", required_argument, NULL, 'J'},
        {"token", required_argument, NULL, 't'},
        {"tombstone-horizon", required_argument, NULL, 'H'},
        {"gc-interval", required_argument, NULL, 'G'}, 
                {"memory-available-min", required_argument, NULL, 'M'},
        {"disk-available-min", required_argument, NULL, 'K'},
        {"image-pull-attempts", required_argument, NULL, 'I'},
        {"image-pull-window", required_argument, NULL, 'W'},  {NULL, 0, NULL, 0},
    };
    int opt, rc = 0;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': set_str(&s->name, optarg); break;
        case 'd': set_str(&s->data_dir, optarg); break;
        case 'a': rc = add_str(s->api, &s->api_count, optarg, "API addresses"); break;
        case 'D': set_str(&s->docker_host, optarg); break;
        case 'k': rc = add_str(s->pubkey_args, &s->pubkey_args_count, optarg, "operator keys"); break;
        case 'l': {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg) {
                fprintf(stderr, "cara-agent: --label wants KEY=VALUE, got \"%s\"\n", optarg);
                return 2;
            }
            rc = add_label(s, optarg, (size_t)(eq - optarg), eq + 1);
            break;
        }
        case 'c': *config = optarg; break;
        case 'N': set_str(&s->network_pool, optarg); break;
        case 'B': set_str(&s->bind, optarg); break;
        case 'R': set_str(&s->advertise, optarg); break;
        case 't': set_str(&s->token, optarg); break;
        case 'J': rc = add_join(s, optarg); break;
        case 'H': rc = parse_duration("--tombstone-horizon", optarg, &s->tombstone_horizon_ms); break;
        case 'G': rc = parse_duration("--gc-interval", optarg, &s->gc_interval_ms); break;
        case 'P': rc = parse_prefix(optarg, &s->network_prefix_len); break;
        case 'M': rc = parse_memory_min(optarg, &s->memory_available_min_bytes); break;
        case 'K': rc = parse_disk_min(optarg, &s->disk_available_min_percent); break;
        case 'I': rc = parse_pull_attempts("--image-pull-attempts", optarg, &s->image_pull_attempts); break;
        case 'W': rc = parse_pull_window("--image-pull-window", optarg, &s->image_pull_window_ms); break;
        case 'f': rc = parse_format(optarg, &s->log_json); break;
        case 'L': rc = parse_level(optarg, &s->log_level); break;
        case 'h': usage(stdout); return 1;
        case 'V': printf("cara-agent %s\n", CARA_VERSION); return 1;
        case ':':
            fprintf(stderr, "cara-agent: option '%s' needs a value\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            fprintf(stderr, "cara-agent: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "cara-agent: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return rc;
}

static bool unspecified(const cara_gossip_addr *a)
{
    static const uint8_t zero[16] = {0};
    return memcmp(a->bytes, zero, a->len - 2) == 0;
}

/* Gossip addresses parse; a seed or a token needs --bind; an address that
 * binds every interface needs --advertise (peers cannot dial 0.0.0.0). */
static int check_gossip(cara_agent_settings *s)
{
    cara_gossip_addr a;
    if ((s->join_count > 0 || s->token != NULL || s->advertise != NULL) && s->bind == NULL) {
        fprintf(stderr, "cara-agent: --join, --token and --advertise need --bind ADDR[:PORT] "
                        "(the gossip address)\n");
        return 2;
    }
    if (s->bind != NULL && cara_gossip_addr_parse(s->bind, &a) != 0) {
        fprintf(stderr, "cara-agent: --bind %s is not ADDR[:PORT] with an IP address\n", s->bind);
        return 2;
    }
    if (s->bind != NULL && s->advertise == NULL && unspecified(&a)) {
        fprintf(stderr, "cara-agent: --bind %s listens on every address; say which one peers "
                        "dial with --advertise ADDR[:PORT]\n", s->bind);
        return 2;
    }
    if (s->advertise != NULL &&
        (cara_gossip_addr_parse(s->advertise, &a) != 0 || unspecified(&a))) {
        fprintf(stderr, "cara-agent: --advertise %s is not ADDR[:PORT] with a specific IP "
                        "address\n", s->advertise);
        return 2;
    }
    /* What peers dial, in one canonical form ("127.0.0.1:7950"): the node
     * record publishes it. */
    if (s->bind != NULL) {
        char text[80];
        (void)cara_gossip_addr_parse(s->advertise ? s->advertise : s->bind, &a);
        cara_gossip_addr_text(&a, text, sizeof text);
        set_str(&s->advertise, text);
    }
    for (size_t i = 0; i < s->join_count; i++)
        if (cara_gossip_addr_parse(s->join[i], &a) != 0) {
            fprintf(stderr, "cara-agent: --join %s is not ADDR[:PORT] with an IP address\n",
                    s->join[i]);
            return 2;
        }
    return 0;
}

static int finish(cara_agent_settings *s)
{
    char host[256];
    if (s->name == NULL && gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        s->name = strdup(host);
    }
    if (s->name == NULL || !cara_dns_label_valid(s->name, strlen(s->name))) {
        fprintf(stderr, "cara-agent: node name \"%s\" is not a DNS label; use --name\n",
                s->name ? s->name : "");
        return 2;
    }
    if (s->data_dir == NULL)
        s->data_dir = strdup("/var/lib/caravanserai");
    if (s->api_count == 0)
        s->api[s->api_count++] = strdup(CARA_AGENT_API_DEFAULT);
    if (s->docker_host == NULL)
        s->docker_host = strdup(CARA_AGENT_DOCKER_DEFAULT);
    if (s->network_pool == NULL)
        s->network_pool = strdup(CARA_NETPOOL_DEFAULT);
    if (s->network_prefix_len == 0)
        s->network_prefix_len = CARA_NETPOOL_PREFIX_LEN_DEFAULT;
    cara_netpool pool;
    if (cara_netpool_init(&pool, s->network_pool, s->network_prefix_len) != 0) {
        fprintf(stderr,
                "cara-agent: network pool %s split into /%u subnets is not usable: the pool must "
                "be an IPv4 CIDR with its host bits zero, and the prefix between the pool's and "
                "%d, with at most %d subnets\n",
                s->network_pool, s->network_prefix_len, CARA_NETPOOL_PREFIX_LEN_MAX,
                1 << CARA_NETPOOL_SUBNETS_BITS_MAX);
        return 2;
    }
    if (check_gossip(s) != 0)
        return 2;
    /* Below the floor horizon (90 d), which must outlast it (docs/crdt.md). */
    if (s->tombstone_horizon_ms > 30LL * 86400 * 1000) {
        fprintf(stderr, "cara-agent: --tombstone-horizon is at most 30d\n");
        return 2;
    }
    if (s->pubkey_args_count == 0) {
        fprintf(stderr, "cara-agent: at least one --operator-pubkey is needed (see caravanctl keygen)\n");
        return 2;
    }
    for (size_t i = 0; i < s->pubkey_args_count; i++) {
        int rc = cara_agent_read_pubkey(s->pubkey_args[i], s->pks[s->pks_count]);
        if (rc != 0) {
            fprintf(stderr, "cara-agent: operator key %s: %s\n", s->pubkey_args[i],
                    rc == CARA_EPARSE ? "no 64-hex-digit public key in it" : cara_strerror(rc));
            return 2;
        }
        s->pks_count++;
    }
    return 0;
}

int cara_agent_settings_parse(cara_agent_settings *s, int argc, char **argv)
{
    *s = (cara_agent_settings){.log_level = CARA_LOG_INFO};
    const char *config = NULL;
    /* The file first, then the flags over it: parse the flags twice. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
    }
    int rc = config != NULL ? load_file(s, config) : 0;
    if (rc != 0)
        return rc;
    cara_agent_settings flags = {.log_level = -1, .log_json = -1};
    const char *ignored = NULL;
    rc = parse_flags(&flags, argc, argv, &ignored);
    if (rc != 0) {
        cara_agent_settings_free(&flags);
        return rc;
    }
    /* Flags win: scalars replace, lists given on the command line replace
     * the file's lists. */
    if (flags.name) set_str(&s->name, flags.name);
    if (flags.data_dir) set_str(&s->data_dir, flags.data_dir);
    if (flags.docker_host) set_str(&s->docker_host, flags.docker_host);
    if (flags.network_pool) set_str(&s->network_pool, flags.network_pool);
    if (flags.bind) set_str(&s->bind, flags.bind);
    if (flags.advertise) set_str(&s->advertise, flags.advertise);
    if (flags.token) set_str(&s->token, flags.token);
    if (flags.tombstone_horizon_ms) s->tombstone_horizon_ms = flags.tombstone_horizon_ms;
    if (flags.gc_interval_ms) s->gc_interval_ms = flags.gc_interval_ms;
    if (flags.join_count) {
        for (size_t i = 0; i < s->join_count; i++)
            free(s->join[i]);
        memcpy(s->join, flags.join, sizeof s->join);
        s->join_count = flags.join_count;
        flags.join_count = 0;
    }
    if (flags.network_prefix_len) s->network_prefix_len = flags.network_prefix_len;
    if (flags.memory_available_min_bytes)
        s->memory_available_min_bytes = flags.memory_available_min_bytes;
    if (flags.disk_available_min_percent)
        s->disk_available_min_percent = flags.disk_available_min_percent;
    if (flags.image_pull_attempts) s->image_pull_attempts = flags.image_pull_attempts;
    if (flags.image_pull_window_ms) s->image_pull_window_ms = flags.image_pull_window_ms;
    if (flags.log_level >= 0) s->log_level = flags.log_level;
    if (flags.log_json >= 0) s->log_json = flags.log_json;
    if (flags.api_count) {
        for (size_t i = 0; i < s->api_count; i++)
            free(s->api[i]);
        memcpy(s->api, flags.api, sizeof s->api);
        s->api_count = flags.api_count;
        flags.api_count = 0;
    }
    for (size_t i = 0; i < flags.pubkey_args_count; i++)
        add_str(s->pubkey_args, &s->pubkey_args_count, flags.pubkey_args[i], "operator keys");
    for (size_t i = 0; i < flags.labels_count; i++)
        add_label(s, flags.labels[i].name, strlen(flags.labels[i].name), flags.labels[i].value);
    cara_agent_settings_free(&flags);
    return finish(s);
}

void cara_agent_settings_free(cara_agent_settings *s)
{
    free(s->name);
    free(s->data_dir);
    free(s->docker_host);
    free(s->network_pool);
    free(s->bind);
    free(s->advertise);
    free(s->token);
    for (size_t i = 0; i < s->join_count; i++)
        free(s->join[i]);
    for (size_t i = 0; i < s->api_count; i++)
        free(s->api[i]);
    for (size_t i = 0; i < s->pubkey_args_count; i++)
        free(s->pubkey_args[i]);
    for (size_t i = 0; i < s->labels_count; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    *s = (cara_agent_settings){0};
}

void cara_agent_settings_apply(const cara_agent_settings *s, cara_agent_config *cfg)
{
    *cfg = (cara_agent_config){
        .name = s->name,
        .data_dir = s->data_dir,
        .api = (const char *const *)s->api,
        .api_count = s->api_count,
        .docker_host = s->docker_host,
        .operator_pks = (uint8_t(*)[CARA_CRDT_PK_BYTES])s->pks,
        .operator_pks_count = s->pks_count,
        .labels = (cara_kv *)s->labels,
        .labels_count = s->labels_count,
        .network_pool = s->network_pool,
        .network_prefix_len = s->network_prefix_len,
        .gossip_bind = s->bind,
        .gossip_advertise = s->advertise,
        .gossip_join = (const char *const *)s->join,
        .gossip_join_count = s->join_count,
        .join_token = s->token,
        .tombstone_horizon_ms = s->tombstone_horizon_ms,
        .gc_interval_ms = (uint32_t)s->gc_interval_ms,
        .memory_available_min_bytes = s->memory_available_min_bytes,
        .disk_available_min_percent = s->disk_available_min_percent,
        .image_pull_attempts = s->image_pull_attempts,
        .image_pull_window_ms = (uint32_t)s->image_pull_window_ms,
    };
}
