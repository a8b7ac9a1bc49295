/*
 * The Project, Node and cluster settings model (DESIGN.md §3, §4), its
 * validation, and its codecs:
 * YAML manifests in (libyaml), JSON in and out (jansson), canonical msgpack
 * in and out (msgpack-c), YAML out for display.
 *
 * Ownership: every string and array inside a model object is owned by that
 * object and allocated from the env given to the function that built it.
 * Free a whole object with the matching cara_*_free(env, obj), which accepts
 * NULL. Objects are plain structs so that tests and the scheduler can read
 * them; build them only through the codecs or with the same allocator.
 *
 * Canonical form: cara_project_encode() gives the same bytes for the same
 * Project whatever the manifest's key order, quoting or style; decoding
 * refuses any bytes that are not exactly that form, so a signature over
 * the bytes and one over the meaning are the same thing.
 */
#ifndef CARA_SPEC_H
#define CARA_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define CARA_API_VERSION "caravanserai/v1"

/* ---- Diagnostics -----------------------------------------------------------
 * Errors found in one input, each with a field path such as
 * "spec.services[1].volumeMounts[0].name" and, where the input had positions
 * (YAML), a 1-based line and column. Formatted as
 *   SOURCE:LINE:COL: PATH: MESSAGE     (or SOURCE: PATH: MESSAGE)
 * At most CARA_ERRORS_COUNT_MAX are kept; more set `truncated`. */
typedef struct cara_diag {
    uint32_t line, col; /* 0 when unknown */
    char *path;         /* owned; "" for the document as a whole */
    char *message;      /* owned */
} cara_diag;

typedef struct cara_diag_pos {
    char *path;
    uint32_t line, col;
} cara_diag_pos;

typedef struct cara_diags {
    cara_env *env;           /* borrowed */
    const char *source;      /* borrowed; file name, "-" or "<request>" */
    cara_diag *items;
    size_t count, cap;
    bool truncated;
    /* Where each field path was found in the current document, so that
     * validation (which sees only the model) can point at the source. */
    cara_diag_pos *pos;
    size_t pos_count, pos_cap;
} cara_diags;

void cara_diags_init(cara_diags *d, cara_env *env, const char *source);
void cara_diags_free(cara_diags *d);
/* Adds an error at `path`; the position is that of the longest recorded
 * path that is a prefix of `path` (see cara_diags_note_pos). */
void cara_diags_add(cara_diags *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds an error at an explicit position. */
void cara_diags_add_at(cara_diags *d, uint32_t line, uint32_t col, const char *path,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Records that `path` was found at line:col of the current document. */
void cara_diags_note_pos(cara_diags *d, const char *path, uint32_t line, uint32_t col);
/* Forgets recorded positions (between documents); keeps the errors. */
void cara_diags_reset_pos(cara_diags *d);
/* Writes entry i formatted as above, NUL-terminated, cut to `cap`. */
void cara_diags_format(const cara_diags *d, size_t i, char *out, size_t cap);

/* ---- Model ----------------------------------------------------------------- */

typedef struct cara_kv {
    char *name;
    char *value;
} cara_kv;

typedef enum { CARA_RESTART_ALWAYS = 0, CARA_RESTART_ON_FAILURE, CARA_RESTART_NEVER } cara_restart;
typedef enum { CARA_PROTO_TCP = 0, CARA_PROTO_UDP } cara_proto;
typedef enum { CARA_VOLUME_EPHEMERAL = 0 } cara_volume_type;
typedef enum { CARA_SCOPE_INTERNAL = 0 } cara_scope;

typedef struct cara_volume_mount {
    char *name;       /* a declared volume */
    char *mount_path; /* absolute path in the container */
    bool read_only;
} cara_volume_mount;

typedef struct cara_port {
    char *name; /* optional (NULL): a DNS label */
    uint16_t container_port;
    cara_proto protocol;
} cara_port;

/* Docker HEALTHCHECK with CMD form; absent when command_count == 0. */
typedef struct cara_health {
    char **command;
    size_t command_count;
    uint32_t interval_s, timeout_s, start_period_s, retries;
} cara_health;

/* 0 means "not set". Parsed from Kubernetes quantities: cpu "500m" or "2",
 * memory "256Mi", "1G", "1048576". */
typedef struct cara_resources {
    uint64_t cpu_millis;
    uint64_t memory_bytes;
} cara_resources;

typedef struct cara_service {
    char *name;
    char *image;
    char **command; /* replaces the image's entrypoint (Kubernetes `command`) */
    size_t command_count;
    char **args;    /* replaces the image's cmd (Kubernetes `args`) */
    size_t args_count;
    cara_kv *env;
    size_t env_count;
    cara_volume_mount *mounts;
    size_t mounts_count;
    cara_port *ports;
    size_t ports_count;
    cara_restart restart;
    cara_health health;
    cara_resources resources;
} cara_service;

typedef struct cara_volume {
    char *name;
    cara_volume_type type;
} cara_volume;

typedef struct cara_ingress {
    char *name;
    char *host; /* a label (expanded, see cara_ingress_fqdn) or a full name */
    char *target_service;
    uint16_t target_port;
    cara_scope scope;
} cara_ingress;

typedef struct cara_project {
    char *name;
    cara_kv *labels; /* metadata.labels */
    size_t labels_count;
    cara_service *services;
    size_t services_count;
    cara_volume *volumes;
    size_t volumes_count;
    cara_ingress *ingress;
    size_t ingress_count;
    cara_kv *node_selector; /* the node's labels must include all of these */
    size_t node_selector_count;
    bool has_expire_at;
    int64_t expire_at_wall_ms; /* Unix ms, when has_expire_at */
} cara_project;

typedef enum {
    CARA_PHASE_PENDING = 0,
    CARA_PHASE_SCHEDULED,
    CARA_PHASE_RUNNING,
    CARA_PHASE_FAILED,
    CARA_PHASE_TERMINATING,
    CARA_PHASE_TERMINATED,
} cara_phase;

typedef enum { CARA_COND_TRUE = 0, CARA_COND_FALSE, CARA_COND_UNKNOWN } cara_cond_status;

typedef struct cara_condition {
    char *type;    /* CamelCase: Phase, NotReadyAt, TerminatingAt, Ready, ... */
    cara_cond_status status;
    char *reason;  /* CamelCase */
    char *message; /* may be "" */
    int64_t last_transition_wall_ms; /* Unix ms */
} cara_condition;

/* Where one service of a placed project stands, as its agent last saw it
 * (Kubernetes' containerStatuses play the same part). */
typedef enum {
    CARA_SVC_WAITING = 0, /* not started yet, or waiting out a restart back-off */
    CARA_SVC_PULLING,     /* its image is being pulled */
    CARA_SVC_CREATING,    /* its container is being created */
    CARA_SVC_STARTING,    /* started; health check not passed yet */
    CARA_SVC_RUNNING,
    CARA_SVC_COMPLETED,   /* exited with status 0 and is not to be restarted */
    CARA_SVC_EXITED,      /* stopped otherwise (non-zero status, signal) */
    CARA_SVC_FAILED,      /* could not be pulled, created or started */
    CARA_SVC_REMOVING,    /* its container is being removed */
} cara_svc_state;

typedef struct cara_service_status {
    char *name;          /* the service's name in the spec: a DNS label */
    cara_svc_state state;
    char *message;       /* NULL when none; never "" in a bound model */
    uint32_t restarts;   /* times its container was restarted */
} cara_service_status;

typedef struct cara_project_status {
    cara_phase phase;
    char *node_ref; /* NULL when not placed */
    cara_condition *conditions;
    size_t conditions_count;
    cara_service_status *services; /* in the spec's order, by convention */
    size_t services_count;
} cara_project_status;

typedef enum { CARA_NODE_READY = 0, CARA_NODE_NOT_READY, CARA_NODE_DRAINING } cara_node_state;

/* A node record: what only the node itself knows, written and signed by
 * that node (docs/manifest.md, "Node"). Whether it is Ready is not among
 * it: readers take that from membership (DESIGN.md §4), so `state` is
 * written as Ready by every node and read only for Draining, and a
 * "Ready" condition (records of earlier versions carry one) is ignored. */
typedef struct cara_node {
    char *name;
    char **addrs; /* overlay IPs, text form */
    size_t addrs_count;
    char *magic_dns; /* optional (NULL) */
    cara_kv *labels;
    size_t labels_count;
    cara_resources capacity;
    cara_node_state state;
    /* MemoryPressure, DiskPressure, DockerReachable (CARA_NODE_COND_*);
     * each type at most once. */
    cara_condition *conditions;
    size_t conditions_count;
    bool unschedulable;
    char *gossip_addr;   /* optional (NULL): "host:port" of the node's gossip socket */
    char *agent_version; /* optional (NULL): the agent's build version (CARA_VERSION) */
    /* optional (NULL): "host:port" of the node's HTTP API (its first --api
     * address), where peers send the requests they proxy (logs). */
    char *api_addr;
} cara_node;

#define CARA_NODE_COND_MEMORY_PRESSURE "MemoryPressure"
#define CARA_NODE_COND_DISK_PRESSURE "DiskPressure"
#define CARA_NODE_COND_DOCKER_REACHABLE "DockerReachable"

/* The condition of `type` in `n`, or NULL. */
const cara_condition *cara_node_condition(const cara_node *n, const char *type);

/* Cluster settings (the value of the crdt's SETTINGS record, key "cluster";
 * docs/manifest.md, "Cluster settings"). Timers are whole seconds; a
 * binder fills the defaults below for any timer the input leaves out, and
 * the writers always write all five. */
#define CARA_SETTINGS_KIND "ClusterSettings"
#define CARA_SETTINGS_FENCE_SECONDS_DEFAULT 10
#define CARA_SETTINGS_GRACE_SECONDS_DEFAULT 30
#define CARA_SETTINGS_TERMINATING_SECONDS_DEFAULT 60
#define CARA_SETTINGS_HORIZON_SECONDS_DEFAULT 604800
#define CARA_SETTINGS_SKEW_SECONDS_DEFAULT 5

typedef struct cara_settings_timers {
    uint32_t fence_timeout_s;       /* fenceTimeoutSeconds */
    uint32_t reschedule_grace_s;    /* rescheduleGraceSeconds */
    uint32_t terminating_timeout_s; /* terminatingTimeoutSeconds */
    uint32_t tombstone_horizon_s;   /* tombstoneHorizonSeconds */
    uint32_t clock_skew_s;          /* clockSkewSeconds */
} cara_settings_timers;

typedef struct cara_settings {
    char *environment; /* a DNS label: "prod" */
    char *base_domain; /* a DNS name: "example.internal" */
    cara_settings_timers timers;
} cara_settings;

/* Fills `t` with the defaults above. */
void cara_settings_timers_default(cara_settings_timers *t);

/* An operator's control of one node (the value of the crdt's NODECTL
 * record, key = the node's name; docs/crdt.md, "Node controls"):
 * `caravanctl node cordon|uncordon|drain`. A cordoned node takes no new
 * projects; a draining one also has its projects moved away. Draining
 * implies cordoned: a value saying otherwise is refused. */
typedef struct cara_node_control {
    bool cordoned;
    bool draining;
} cara_node_control;

/* Names of enum values as written in manifests and JSON ("Always",
 * "Running", "NotReady", ...). The parse functions return 0 or CARA_EPARSE. */
const char *cara_restart_name(cara_restart r);
const char *cara_phase_name(cara_phase p);
const char *cara_cond_status_name(cara_cond_status s);
const char *cara_node_state_name(cara_node_state s);
const char *cara_svc_state_name(cara_svc_state s);
int cara_phase_parse(const char *s, cara_phase *out);
int cara_svc_state_parse(const char *s, cara_svc_state *out);

void cara_project_free(cara_env *env, cara_project *p);
void cara_project_status_free(cara_env *env, cara_project_status *s);
void cara_node_free(cara_env *env, cara_node *n);
void cara_settings_free(cara_env *env, cara_settings *s);

/* Deep equality (field by field, order-sensitive for lists; labels and
 * node selectors are mappings and compare regardless of order). A service
 * status's message that is NULL equals one that is "": both are written
 * as "no message". */
bool cara_project_equal(const cara_project *a, const cara_project *b);
bool cara_project_status_equal(const cara_project_status *a, const cara_project_status *b);
bool cara_node_equal(const cara_node *a, const cara_node *b);
bool cara_settings_equal(const cara_settings *a, const cara_settings *b);

/* ---- Validation -------------------------------------------------------------
 * Checks every rule of DESIGN.md §3 and every cap of limits.h, adding one
 * diagnostic per problem (all of them, not only the first). Returns 0 when
 * valid, CARA_ESCHEMA otherwise. */
int cara_project_validate(const cara_project *p, cara_diags *d);
int cara_project_status_validate(const cara_project_status *s, cara_diags *d);
int cara_node_validate(const cara_node *n, cara_diags *d);
/* Settings: environment a DNS label, baseDomain a DNS name, each timer in
 * its range of limits.h, rescheduleGraceSeconds - fenceTimeoutSeconds >
 * clockSkewSeconds, and room for "{63-byte label}.{environment}.{baseDomain}"
 * within CARA_HOSTNAME_BYTES_MAX (see docs/manifest.md for why). */
int cara_settings_validate(const cara_settings *s, cara_diags *d);

/* True when `s` (len bytes) is an RFC 1123 label: 1..63 of [a-z0-9-], not
 * starting or ending with '-'. */
bool cara_dns_label_valid(const char *s, size_t len);
/* True when `s` is a dotted name of such labels, at most 253 bytes. */
bool cara_dns_name_valid(const char *s, size_t len);
/* True when `s` is "host:port": host an IPv4 address, a bracketed IPv6
 * address or a DNS name, port a decimal 1..65535 without leading zeros,
 * at most CARA_NODE_GOSSIP_ADDR_BYTES_MAX bytes in all. */
bool cara_host_port_valid(const char *s);
/* True when `s` is 1..CARA_NODE_VERSION_BYTES_MAX of [0-9A-Za-z.+_-]. */
bool cara_version_text_valid(const char *s);
/* Parses a Kubernetes memory quantity ("100Mi", "1G", "1048576") into
 * bytes: 0, CARA_EPARSE or CARA_ETOOBIG (over CARA_MEMORY_BYTES_MAX). */
int cara_memory_quantity_parse(const char *s, uint64_t *bytes_out);

/* The ingress host rule: a host without a dot becomes
 * "{host}.{environment}.{baseDomain}"; one with a dot is used as given.
 * Writes into out[CARA_HOSTNAME_BYTES_MAX + 1]; CARA_ETOOBIG if longer,
 * CARA_EINVAL if the result is not a valid DNS name. */
int cara_ingress_fqdn(const char *host, const char *environment, const char *base_domain,
                      char out[CARA_HOSTNAME_BYTES_MAX + 1]);

/* ---- Manifests (YAML or JSON text) -------------------------------------------
 * Reads every document of `text` (YAML 1.1 via libyaml; JSON is accepted as
 * YAML's flow style). Each document must be a Project. Unknown fields are
 * errors. Every problem in the file is reported in `d`.
 * On success returns 0 and an owned array of owned Projects (free each with
 * cara_project_free and the array with cara_env_free). On any error returns
 * CARA_EPARSE (syntax) or CARA_ESCHEMA (content), sets *out to NULL and
 * *count to 0: a file is taken whole or not at all. Empty documents are
 * skipped; a file with no Project is an error. */
int cara_manifest_parse(cara_env *env, const char *text, size_t len, cara_diags *d,
                        cara_project ***out, size_t *count);

/* Reads a cluster settings file: exactly one YAML (or JSON) document whose
 * kind is ClusterSettings, with the same binder rules as a manifest. Returns
 * 0 and an owned object (free with cara_settings_free), or CARA_EPARSE
 * (syntax, no document, more than one) or CARA_ESCHEMA (content), with
 * every problem in `d` and *out NULL. */
int cara_settings_parse(cara_env *env, const char *text, size_t len, cara_diags *d,
                        cara_settings **out);

/* ---- JSON -------------------------------------------------------------------
 * The JSON shape is the manifest's: {"apiVersion","kind","metadata","spec"}
 * plus "status" when given. Returned json_t values are new references. */
json_t *cara_project_to_json(const cara_project *p, const cara_project_status *status_or_null);
/* The same, saying why it failed: returns 0 with *out a new reference,
 * CARA_ENOMEM, or CARA_EINVAL for a model no decoder could have produced
 * (a string that is not UTF-8, a time outside years 1..9999). */
int cara_project_json(const cara_project *p, const cara_project_status *status_or_null,
                      json_t **out);
json_t *cara_project_status_to_json(const cara_project_status *s);
json_t *cara_node_to_json(const cara_node *n);
/* Binds a JSON value (e.g. an API request body) with the same rules as a
 * manifest; errors carry paths but no positions. "status", if present in
 * `j`, is ignored here. Returns 0 or CARA_ESCHEMA. */
int cara_project_from_json(cara_env *env, const json_t *j, cara_diags *d, cara_project **out);
int cara_project_status_from_json(cara_env *env, const json_t *j, cara_diags *d,
                                  cara_project_status **out);
int cara_node_from_json(cara_env *env, const json_t *j, cara_diags *d, cara_node **out);
/* Settings: {"apiVersion","kind":"ClusterSettings","environment","baseDomain",
 * "timers":{...}}, every timer written. */
json_t *cara_settings_to_json(const cara_settings *s);
int cara_settings_from_json(cara_env *env, const json_t *j, cara_diags *d,
                            cara_settings **out);

/* Renders a JSON value as a YAML document (block style, keys in the order
 * of the JSON object) into `out`. Returns 0, CARA_ETOOBIG or CARA_ENOMEM. */
int cara_json_to_yaml(const json_t *j, cara_buf *out);
/* Renders `n` (>= 1) JSON values as one YAML stream of `n` documents, the
 * second and later introduced by "---". Same returns as cara_json_to_yaml. */
int cara_json_to_yaml_stream(const json_t *const *docs, size_t n, cara_buf *out);

/* ---- Canonical msgpack ---------------------------------------------------------
 * Maps with the JSON field names as keys, sorted bytewise; absent optional
 * fields and empty lists are omitted; integers in their shortest form.
 * encode appends to `out` (0, CARA_ETOOBIG past the *_BYTES_MAX cap, or
 * CARA_ENOMEM). decode takes untrusted bytes: it pre-scans them
 * (cara_mpcheck), binds them strictly (no unknown, duplicate or mistyped
 * field: CARA_ESCHEMA), validates the result (CARA_ESCHEMA), and refuses
 * bytes that do not re-encode identically (CARA_ENONCANON). Truncated or
 * malformed bytes give CARA_EPARSE; trailing bytes too; more bytes than the
 * record's cap give CARA_ETOOBIG. `d` may be NULL; when given, it receives
 * the reason. See docs/encoding.md. */
int cara_project_encode(const cara_project *p, cara_buf *out);
int cara_project_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                        cara_project **out);
int cara_project_status_encode(const cara_project_status *s, cara_buf *out);
int cara_project_status_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                               cara_project_status **out);
int cara_node_encode(const cara_node *n, cara_buf *out);
int cara_node_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                     cara_node **out);
/* Cap: CARA_SETTINGS_BYTES_MAX. */
int cara_settings_encode(const cara_settings *s, cara_buf *out);
int cara_settings_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                         cara_settings **out);

/* The NODECTL value, fixed and versioned:
 *     fixarray(4) [ "nodectl", 1, cordoned bool, draining bool ]
 * (12 bytes). encode appends (0, CARA_EINVAL for draining without
 * cordoned, CARA_ENOMEM or CARA_ETOOBIG from the buffer). decode takes
 * untrusted bytes: 0; CARA_EPARSE (truncated, malformed, another shape,
 * trailing bytes); CARA_EUNSUPPORTED (another version); CARA_ENONCANON
 * (the same fields encoded otherwise); CARA_ESCHEMA (draining without
 * cordoned). *out is written only on success. */
#define CARA_NODECTL_MAGIC "nodectl"
#define CARA_NODECTL_VERSION 1
#define CARA_NODECTL_BYTES 12
int cara_node_control_encode(const cara_node_control *c, cara_buf *out);
int cara_node_control_decode(const uint8_t *bytes, size_t len, cara_node_control *out);

#endif
