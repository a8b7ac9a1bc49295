/* The codecs end to end, through the binder: round trips across every
 * format, canonical bytes whatever the manifest's style, seeded property
 * tests, and untrusted msgpack that must be refused with the right error. */
#include <dirent.h>

#include "harness.h"
#include "spec/spec_int.h"
#include "spec_gen.h"

static const char wordpress_yaml[] =
    "apiVersion: caravanserai/v1\n"
    "kind: Project\n"
    "metadata: {name: wordpress}\n"
    "spec:\n"
    "  services:\n"
    "    - name: db\n"
    "      image: mysql:8\n"
    "      env: [{name: MYSQL_ROOT_PASSWORD, value: secret}]\n"
    "      volumeMounts: [{name: data, mountPath: /var/lib/mysql}]\n"
    "    - name: app\n"
    "      image: wordpress:6\n"
    "      env: [{name: WORDPRESS_DB_HOST, value: db}]   # reaches db by service name\n"
    "  volumes: [{name: data, type: Ephemeral}]\n"
    "  ingress:\n"
    "    - name: web\n"
    "      host: blog\n"
    "      target: {service: app, port: 80}\n"
    "      access: {scope: Internal}\n"
    "  expireAt: \"2026-12-01T00:00:00Z\"\n";

/* Parses a manifest holding exactly one Project; fails the test otherwise
 * and prints the diagnostics. */
static cara_project *parse_one(const char *text, size_t len)
{
    cara_env *env = cara_test_env();
    cara_diags d;
    cara_diags_init(&d, env, "test.yaml");
    cara_project **ps = NULL;
    size_t n = 0;
    int rc = cara_manifest_parse(env, text, len, &d, &ps, &n);
    for (size_t i = 0; i < d.count; i++) {
        char line[CARA_ERROR_BYTES_MAX * 2];
        cara_diags_format(&d, i, line, sizeof line);
        fprintf(stderr, "  %s\n", line);
    }
    if (rc != 0)
        fprintf(stderr, "  while reading:\n%s\n", text);
    CHECK_OK(rc);
    CHECK_INT(n, ==, 1);
    cara_project *p = ps[0];
    cara_env_free(env, ps);
    cara_diags_free(&d);
    return p;
}

static void encode_project(const cara_project *p, cara_buf *b)
{
    cara_buf_init(b, cara_test_env(), CARA_SPEC_BYTES_MAX);
    CHECK_OK(cara_project_encode(p, b));
}

/* Every other format and back, each step equal to `p`; and the msgpack of
 * each step byte-identical to `p`'s. */
static void check_project_round_trips(const cara_project *p)
{
    cara_env *env = cara_test_env();
    cara_buf b0;
    encode_project(p, &b0);

    cara_project *from_mp = NULL;
    CHECK_OK(cara_project_decode(env, b0.data, b0.len, NULL, &from_mp));
    CHECK(cara_project_equal(p, from_mp));

    json_t *j = cara_project_to_json(from_mp, NULL);
    CHECK(j != NULL);
    cara_diags d;
    cara_diags_init(&d, env, "<json>");
    cara_project *from_json = NULL;
    CHECK_OK(cara_project_from_json(env, j, &d, &from_json));
    CHECK(cara_project_equal(p, from_json));
    cara_diags_free(&d);

    cara_buf y;
    cara_buf_init(&y, env, CARA_MANIFEST_BYTES_MAX);
    CHECK_OK(cara_json_to_yaml(j, &y));
    cara_project *from_yaml = parse_one((const char *)y.data, y.len);
    CHECK(cara_project_equal(p, from_yaml));

    cara_buf b1;
    encode_project(from_yaml, &b1);
    CHECK_MEM(b1.data, b1.len, b0.data, b0.len);

    cara_buf_free(&b1);
    cara_buf_free(&y);
    cara_project_free(env, from_yaml);
    cara_project_free(env, from_json);
    json_decref(j);
    cara_project_free(env, from_mp);
    cara_buf_free(&b0);
}

TEST(round_trip_yaml_msgpack_json_yaml_keeps_the_project)
{
    cara_env *env = cara_test_env();
    cara_project *p = parse_one(wordpress_yaml, strlen(wordpress_yaml));
    cara_project *hand = gen_wordpress(env);
    CHECK(cara_project_equal(p, hand)); /* the manifest means what we think */
    check_project_round_trips(p);
    cara_project_free(env, hand);
    cara_project_free(env, p);
}

/* ---- One meaning, one encoding ------------------------------------------------------ */

static const char *const wordpress_variants[] = {
    /* Keys in another order, everything in block style. */
    "kind: Project\n"
    "spec:\n"
    "  expireAt: \"2026-12-01T00:00:00Z\"\n"
    "  volumes:\n"
    "  - type: Ephemeral\n"
    "    name: data\n"
    "  ingress:\n"
    "  - target:\n"
    "      port: 80\n"
    "      service: app\n"
    "    access:\n"
    "      scope: Internal\n"
    "    host: blog\n"
    "    name: web\n"
    "  services:\n"
    "  - image: mysql:8\n"
    "    volumeMounts:\n"
    "    - mountPath: /var/lib/mysql\n"
    "      name: data\n"
    "    env:\n"
    "    - value: secret\n"
    "      name: MYSQL_ROOT_PASSWORD\n"
    "    name: db\n"
    "  - env:\n"
    "    - {value: db, name: WORDPRESS_DB_HOST}\n"
    "    name: app\n"
    "    image: wordpress:6\n"
    "metadata:\n"
    "  name: wordpress\n"
    "apiVersion: caravanserai/v1\n",
    /* All quoted, all flow, defaults spelled out, an offset time. */
    "{\"apiVersion\": \"caravanserai/v1\", \"kind\": \"Project\", \"metadata\": {\"name\": "
    "\"wordpress\", \"labels\": {}}, \"spec\": {\"services\": [{\"name\": \"db\", \"image\": "
    "\"mysql:8\", \"restartPolicy\": \"Always\", \"command\": [], \"env\": [{\"name\": "
    "\"MYSQL_ROOT_PASSWORD\", \"value\": 'secret'}], \"volumeMounts\": [{\"name\": \"data\", "
    "\"mountPath\": \"/var/lib/mysql\", \"readOnly\": false}]}, {\"name\": \"app\", "
    "\"image\": \"wordpress:6\", \"env\": [{\"name\": \"WORDPRESS_DB_HOST\", \"value\": "
    "\"db\"}]}], \"volumes\": [{\"name\": \"data\"}], \"ingress\": [{\"name\": \"web\", "
    "\"host\": \"blog\", \"target\": {\"service\": \"app\", \"port\": 80}}], \"nodeSelector\": "
    "{}, \"expireAt\": \"2026-12-01T01:00:00+01:00\"}}\n",
    /* Document markers, comments, anchors and an alias, a plain time. */
    "%YAML 1.1\n"
    "---\n"
    "# the blog\n"
    "apiVersion: 'caravanserai/v1'\n"
    "kind: \"Project\"\n"
    "metadata:\n"
    "  name: wordpress   # project name\n"
    "spec:\n"
    "  services:\n"
    "    - name: db\n"
    "      image: \"mysql:8\"\n"
    "      env:\n"
    "        - name: MYSQL_ROOT_PASSWORD\n"
    "          value: >-\n"
    "            secret\n"
    "      volumeMounts:\n"
    "        - &m {name: data, mountPath: /var/lib/mysql, readOnly: false}\n"
    "    - name: app\n"
    "      image: wordpress:6\n"
    "      restartPolicy: Always\n"
    "      env: [{name: WORDPRESS_DB_HOST, value: \"db\"}]\n"
    "  volumes: [{name: data, type: Ephemeral}]\n"
    "  ingress: [{name: web, host: blog, target: {service: app, port: \"80\"}, "
    "access: {scope: Internal}}]\n"
    "  expireAt: 2026-12-01T00:00:00.000Z\n"
    "...\n",
};

TEST(manifests_differing_only_in_style_give_identical_bytes)
{
    cara_env *env = cara_test_env();
    cara_project *p = parse_one(wordpress_yaml, strlen(wordpress_yaml));
    cara_buf want;
    encode_project(p, &want);
    for (size_t i = 0; i < sizeof wordpress_variants / sizeof *wordpress_variants; i++) {
        cara_project *q = parse_one(wordpress_variants[i], strlen(wordpress_variants[i]));
        cara_buf got;
        encode_project(q, &got);
        if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0)
            cara_test_fail(__FILE__, __LINE__, "variant %zu encodes differently", i);
        cara_buf_free(&got);
        cara_project_free(env, q);
    }
    /* The JSON body of an API request, with a status to ignore. */
    json_t *j = json_loads(wordpress_variants[1], JSON_DECODE_ANY, NULL);
    CHECK(j == NULL); /* single quotes: YAML flow, not JSON */
    j = cara_project_to_json(p, NULL);
    json_object_set_new(j, "status", json_pack("{s:s}", "phase", "Running"));
    cara_diags d;
    cara_diags_init(&d, env, "<request>");
    cara_project *q = NULL;
    CHECK_OK(cara_project_from_json(env, j, &d, &q));
    cara_buf got;
    encode_project(q, &got);
    CHECK_MEM(got.data, got.len, want.data, want.len);
    cara_buf_free(&got);
    cara_project_free(env, q);
    cara_diags_free(&d);
    json_decref(j);
    cara_buf_free(&want);
    cara_project_free(env, p);
}

/* ---- Properties ------------------------------------------------------------------------ */

TEST(property_project_encode_decode_encode_is_identity)
{
    cara_env *env = cara_test_env();
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    cara_buf a, b;
    cara_buf_init(&a, env, CARA_SPEC_BYTES_MAX);
    cara_buf_init(&b, env, CARA_SPEC_BYTES_MAX);
    for (int i = 0; i < 5000; i++) {
        cara_project *p = gen_project(env, &rng, i % 6);
        cara_buf_reset(&a);
        cara_buf_reset(&b);
        CHECK_OK(cara_project_encode(p, &a));
        cara_diags d;
        cara_diags_init(&d, env, "<msgpack>");
        cara_project *q = NULL;
        int rc = cara_project_decode(env, a.data, a.len, &d, &q);
        if (rc != 0) {
            char line[CARA_ERROR_BYTES_MAX * 2];
            for (size_t k = 0; k < d.count; k++) {
                cara_diags_format(&d, k, line, sizeof line);
                fprintf(stderr, "  %s\n", line);
            }
        }
        CHECK_OK(rc);
        cara_diags_free(&d);
        CHECK(cara_project_equal(p, q));
        CHECK_OK(cara_project_encode(q, &b));
        CHECK_MEM(b.data, b.len, a.data, a.len);
        cara_project_free(env, q);
        cara_project_free(env, p);
    }
    cara_buf_free(&b);
    cara_buf_free(&a);
}

TEST(property_project_survives_json_and_yaml)
{
    cara_env *env = cara_test_env();
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    for (int i = 0; i < 1500; i++) {
        cara_project *p = gen_project(env, &rng, i % 6);
        check_project_round_trips(p);
        cara_project_free(env, p);
    }
}

TEST(property_status_encode_decode_encode_is_identity)
{
    cara_env *env = cara_test_env();
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    cara_buf a, b;
    cara_buf_init(&a, env, CARA_STATUS_BYTES_MAX);
    cara_buf_init(&b, env, CARA_STATUS_BYTES_MAX);
    for (int i = 0; i < 5000; i++) {
        cara_project_status *s = gen_project_status(env, &rng, i % 5);
        cara_buf_reset(&a);
        cara_buf_reset(&b);
        CHECK_OK(cara_project_status_encode(s, &a));
        cara_project_status *t = NULL;
        CHECK_OK(cara_project_status_decode(env, a.data, a.len, NULL, &t));
        CHECK(cara_project_status_equal(s, t));
        CHECK_OK(cara_project_status_encode(t, &b));
        CHECK_MEM(b.data, b.len, a.data, a.len);
        json_t *j = cara_project_status_to_json(t);
        cara_project_status *u = NULL;
        CHECK_OK(cara_project_status_from_json(env, j, NULL, &u));
        CHECK(cara_project_status_equal(s, u));
        json_decref(j);
        cara_project_status_free(env, u);
        cara_project_status_free(env, t);
        cara_project_status_free(env, s);
    }
    cara_buf_free(&b);
    cara_buf_free(&a);
}

TEST(property_node_encode_decode_encode_is_identity)
{
    cara_env *env = cara_test_env();
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    cara_buf a, b;
    cara_buf_init(&a, env, CARA_NODE_BYTES_MAX);
    cara_buf_init(&b, env, CARA_NODE_BYTES_MAX);
    for (int i = 0; i < 5000; i++) {
        cara_node *n = gen_node(env, &rng, i % 5);
        cara_buf_reset(&a);
        cara_buf_reset(&b);
        CHECK_OK(cara_node_encode(n, &a));
        cara_node *m = NULL;
        CHECK_OK(cara_node_decode(env, a.data, a.len, NULL, &m));
        CHECK(cara_node_equal(n, m));
        CHECK_OK(cara_node_encode(m, &b));
        CHECK_MEM(b.data, b.len, a.data, a.len);
        json_t *j = cara_node_to_json(m);
        cara_node *o = NULL;
        CHECK_OK(cara_node_from_json(env, j, NULL, &o));
        CHECK(cara_node_equal(n, o));
        json_decref(j);
        cara_node_free(env, o);
        cara_node_free(env, m);
        cara_node_free(env, n);
    }
    cara_buf_free(&b);
    cara_buf_free(&a);
}

/* Binds a YAML document as a status (doc_from_yaml's callback). */
typedef struct bound_status {
    int rc;
    cara_project_status *status;
} bound_status;

static int bind_status_doc(void *ctx, doc *dc)
{
    bound_status *b = ctx;
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    b->rc = bind_project_status(cara_test_env(), dc->root, "", &d, &b->status);
    cara_diags_free(&d);
    return 0;
}

/* ---- Adversarial msgpack ------------------------------------------------------------------ */

typedef enum { AS_PROJECT, AS_STATUS, AS_NODE, AS_SETTINGS } rec_as;

/* Decodes `bytes` as the given record; on success frees the object. */
static int decode_as(rec_as as, const void *bytes, size_t len)
{
    cara_env *env = cara_test_env();
    cara_diags d;
    cara_diags_init(&d, env, "<msgpack>");
    int rc;
    void *obj = NULL;
    switch (as) {
    case AS_PROJECT:
        rc = cara_project_decode(env, bytes, len, &d, (cara_project **)&obj);
        cara_project_free(env, obj);
        break;
    case AS_STATUS:
        rc = cara_project_status_decode(env, bytes, len, &d, (cara_project_status **)&obj);
        cara_project_status_free(env, obj);
        break;
    case AS_SETTINGS:
        rc = cara_settings_decode(env, bytes, len, &d, (cara_settings **)&obj);
        cara_settings_free(env, obj);
        break;
    default:
        rc = cara_node_decode(env, bytes, len, &d, (cara_node **)&obj);
        cara_node_free(env, obj);
        break;
    }
    if (rc != 0)
        CHECK(d.count > 0); /* a refusal always says why */
    else
        CHECK(obj != NULL);
    cara_diags_free(&d);
    return rc;
}

/* The canonical JSON tree of the WordPress project, to be altered. */
static json_t *wordpress_json(void)
{
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    json_t *j = cara_project_to_json(p, NULL);
    cara_project_free(env, p);
    return j;
}

static json_t *first_service(json_t *j)
{
    return json_array_get(json_object_get(json_object_get(j, "spec"), "services"), 0);
}

/* Encodes `j` with the canonical writer (sorted keys, shortest ints) and
 * decodes it as a project. */
static int decode_json_as(rec_as as, const json_t *j)
{
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), CARA_SPEC_BYTES_MAX);
    CHECK_OK(spec_json_to_msgpack(j, CARA_SPEC_BYTES_MAX, &b));
    int rc = decode_as(as, b.data, b.len);
    cara_buf_free(&b);
    return rc;
}

TEST(msgpack_decode_refuses_broken_framing)
{
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    cara_buf b;
    encode_project(p, &b);
    CHECK_OK(decode_as(AS_PROJECT, b.data, b.len));
    for (size_t len = 0; len < b.len; len++) /* every truncation */
        CHECK_RC(decode_as(AS_PROJECT, b.data, len), CARA_EPARSE);
    CHECK_OK(cara_buf_append(&b, "\xc0", 1)); /* trailing byte */
    CHECK_RC(decode_as(AS_PROJECT, b.data, b.len), CARA_EPARSE);
    static const struct { const char *b; size_t len; } lies[] = {
        {"\xdd\xff\xff\xff\xff", 5},     /* array32 of 4 G elements */
        {"\xdf\xff\xff\xff\xff", 5},     /* map32 of 4 G pairs */
        {"\xdd\x01\x00\x00\x00\xc0", 6}, /* 16 M elements, one byte left */
        {"\x81\xdb\xff\xff\xff\xff", 6}, /* str32 of 4 GB */
        {"\x81\xa4kin", 5},              /* string cut short */
        {"\xc1", 1},                     /* the reserved byte */
        {"\x92\xc0", 2},                 /* one element of two */
    };
    for (size_t i = 0; i < sizeof lies / sizeof *lies; i++)
        for (rec_as as = AS_PROJECT; as <= AS_NODE; as++)
            CHECK_RC(decode_as(as, lies[i].b, lies[i].len), CARA_EPARSE);
    /* Nesting past CARA_MP_DEPTH_MAX. */
    uint8_t deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0xc0;
    CHECK_RC(decode_as(AS_PROJECT, deep, sizeof deep), CARA_EPARSE);
    cara_buf_free(&b);
    cara_project_free(env, p);
}

TEST(msgpack_decode_refuses_a_record_over_its_cap)
{
    size_t len = CARA_SPEC_BYTES_MAX + 1;
    uint8_t *big = calloc(1, len);
    CHECK_RC(decode_as(AS_PROJECT, big, len), CARA_ETOOBIG);
    CHECK_RC(decode_as(AS_STATUS, big, CARA_STATUS_BYTES_MAX + 1), CARA_ETOOBIG);
    CHECK_RC(decode_as(AS_NODE, big, CARA_NODE_BYTES_MAX + 1), CARA_ETOOBIG);
    free(big);
}

TEST(msgpack_decode_refuses_schema_violations)
{
    /* Not a map at all. */
    CHECK_RC(decode_as(AS_PROJECT, "\x90", 1), CARA_ESCHEMA);
    CHECK_RC(decode_as(AS_STATUS, "\xc0", 1), CARA_ESCHEMA);
    CHECK_RC(decode_as(AS_NODE, "\xa1x", 2), CARA_ESCHEMA);

    json_t *j = wordpress_json();
    CHECK_OK(decode_json_as(AS_PROJECT, j));
    /* Unknown fields, at the top and deep inside. */
    json_object_set_new(j, "extra", json_integer(1));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ESCHEMA);
    json_object_del(j, "extra");
    json_object_set_new(first_service(j), "replicas", json_integer(3));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ESCHEMA);
    json_object_del(first_service(j), "replicas");
    /* Wrong types. */
    json_object_set_new(first_service(j), "env", json_string("x"));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ESCHEMA);
    json_object_set_new(first_service(j), "env", json_array());
    json_object_set_new(first_service(j), "restartPolicy", json_pack("[s]", "Always"));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ESCHEMA);
    json_object_set_new(first_service(j), "restartPolicy", json_string("Sometimes"));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ESCHEMA);
    json_decref(j);
    /* A required field missing; a rule of DESIGN.md §3 broken. */
    j = wordpress_json();
    json_object_del(first_service(j), "image");
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ESCHEMA);
    json_decref(j);
    j = wordpress_json();
    json_object_set_new(json_object_get(j, "metadata"), "name", json_string("Not_A_Label"));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ESCHEMA);
    json_decref(j);
    j = json_pack("{s:s, s:b}", "phase", "Running", "unschedulable", 1);
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_decref(j);
}

/* Replaces the first occurrence of `from` in b (a canonical record) with
 * `to`, keeping the rest of the bytes. */
static void splice(cara_buf *b, const void *from, size_t from_len, const void *to, size_t to_len)
{
    for (size_t i = 0; i + from_len <= b->len; i++) {
        if (memcmp(b->data + i, from, from_len) != 0)
            continue;
        cara_buf out;
        cara_buf_init(&out, b->env, b->bytes_max);
        CHECK_OK(cara_buf_append(&out, b->data, i));
        CHECK_OK(cara_buf_append(&out, to, to_len));
        CHECK_OK(cara_buf_append(&out, b->data + i + from_len, b->len - i - from_len));
        cara_buf_free(b);
        *b = out;
        return;
    }
    cara_test_fail(__FILE__, __LINE__, "pattern not found");
}

TEST(msgpack_decode_refuses_untyped_bytes_in_typed_fields)
{
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    cara_buf b;
    /* The ingress port 80 (positive fixint 0x50) as ... */
    static const uint8_t port80[] = {0xa4, 'p', 'o', 'r', 't', 0x50};
    static const struct { uint8_t v[10]; size_t len; int rc; } as[] = {
        {{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, CARA_ESCHEMA}, /* 2^64-1 */
        {{0xd0, 0xb0}, 2, CARA_ESCHEMA},                                         /* -80 */
        {{0xcb, 0x40, 0x54, 0, 0, 0, 0, 0, 0}, 9, CARA_ESCHEMA},                 /* 80.0 */
        {{0xc4, 0x01, 0x50}, 3, CARA_ESCHEMA},                                   /* bin */
        {{0xd4, 0x01, 0x50}, 3, CARA_ESCHEMA},                                   /* ext */
        {{0xc3}, 1, CARA_ESCHEMA},                                               /* true */
        {{0xc0}, 1, CARA_ESCHEMA},                                               /* nil */
        {{0xcd, 0x00, 0x50}, 3, CARA_ENONCANON},  /* uint16 where a fixint fits */
        {{0xd3, 0, 0, 0, 0, 0, 0, 0, 0x50}, 9, CARA_ENONCANON}, /* int64 */
    };
    for (size_t i = 0; i < sizeof as / sizeof *as; i++) {
        encode_project(p, &b);
        uint8_t to[16];
        memcpy(to, port80, 5);
        memcpy(to + 5, as[i].v, as[i].len);
        splice(&b, port80, sizeof port80, to, 5 + as[i].len);
        int rc = decode_as(AS_PROJECT, b.data, b.len);
        if (rc != as[i].rc)
            cara_test_fail(__FILE__, __LINE__, "case %zu: %s, want %s", i, cara_errname(rc),
                           cara_errname(as[i].rc));
        cara_buf_free(&b);
    }
    /* The map key "kind" as bin, then as an integer. */
    encode_project(p, &b);
    splice(&b, "\xa4kind", 5, "\xc4\x04kind", 6);
    CHECK_RC(decode_as(AS_PROJECT, b.data, b.len), CARA_ESCHEMA);
    cara_buf_free(&b);
    encode_project(p, &b);
    splice(&b, "\xa4kind", 5, "\x01", 1);
    CHECK_RC(decode_as(AS_PROJECT, b.data, b.len), CARA_ESCHEMA);
    cara_buf_free(&b);
    cara_project_free(env, p);
}

TEST(msgpack_decode_refuses_duplicate_keys)
{
    /* {"phase":"Pending","phase":"Running"} */
    static const char dup[] = "\x82\xa5phase\xa7Pending\xa5phase\xa7Running";
    CHECK_RC(decode_as(AS_STATUS, dup, sizeof dup - 1), CARA_ESCHEMA);
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    cara_buf b;
    encode_project(p, &b);
    /* A fifth top-level pair repeating "kind". */
    CHECK_INT(b.data[0], ==, 0x84);
    b.data[0] = 0x85;
    CHECK_OK(cara_buf_append(&b, "\xa4kind\xa7Project", 13));
    CHECK_RC(decode_as(AS_PROJECT, b.data, b.len), CARA_ESCHEMA);
    cara_buf_free(&b);
    cara_project_free(env, p);
}

/* Packs `j` without sorting keys (insertion order), with msgpack-c. */
static void pack_unsorted(msgpack_packer *pk, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            msgpack_pack_str_with_body(pk, k, strlen(k));
            pack_unsorted(pk, v);
        }
        return;
    }
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            pack_unsorted(pk, json_array_get(j, i));
        return;
    case JSON_STRING:
        msgpack_pack_str_with_body(pk, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(j));
        return;
    case JSON_TRUE: msgpack_pack_true(pk); return;
    case JSON_FALSE: msgpack_pack_false(pk); return;
    default: CHECK(false);
    }
}

TEST(msgpack_decode_refuses_equivalent_but_non_canonical_encodings)
{
    /* Keys in the JSON writer's order rather than sorted. */
    json_t *j = wordpress_json();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_unsorted(&pk, j);
    CHECK_RC(decode_as(AS_PROJECT, sb.data, sb.size), CARA_ENONCANON);
    msgpack_sbuffer_destroy(&sb);
    /* An empty list written out; a default left out. */
    json_object_set_new(first_service(j), "args", json_array());
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ENONCANON);
    json_object_del(first_service(j), "args");
    CHECK_OK(decode_json_as(AS_PROJECT, j));
    json_object_del(first_service(j), "restartPolicy");
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ENONCANON);
    json_decref(j);
    /* A time with an offset, or a quantity in another spelling. */
    j = wordpress_json();
    json_object_set_new(json_object_get(j, "spec"), "expireAt",
                        json_string("2026-12-01T01:00:00+01:00"));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ENONCANON);
    json_object_set_new(json_object_get(j, "spec"), "expireAt",
                        json_string("2026-12-01T00:00:00Z"));
    json_object_set_new(first_service(j), "resources", json_pack("{s:s}", "memory", "1024Ki"));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ENONCANON);
    json_object_set_new(first_service(j), "resources", json_pack("{s:s}", "memory", "1Mi"));
    CHECK_OK(decode_json_as(AS_PROJECT, j));
    json_object_set_new(first_service(j), "resources", json_pack("{s:I}", "memory", 1048576));
    CHECK_RC(decode_json_as(AS_PROJECT, j), CARA_ENONCANON);
    json_decref(j);
    /* str8 for a string that fits a fixstr: {"phase": "Pending"}. */
    CHECK_OK(decode_as(AS_STATUS, "\x81\xa5phase\xa7Pending", 15));
    CHECK_RC(decode_as(AS_STATUS, "\x81\xd9\x05phase\xa7Pending", 16), CARA_ENONCANON);
    CHECK_RC(decode_as(AS_STATUS, "\x81\xa5phase\xda\x00\x07Pending", 17), CARA_ENONCANON);
    /* A node whose default flag is left out. */
    j = json_pack("{s:s, s:s, s:b}", "name", "n1", "state", "Ready", "unschedulable", 0);
    CHECK_OK(decode_json_as(AS_NODE, j));
    json_object_del(j, "unschedulable");
    CHECK_RC(decode_json_as(AS_NODE, j), CARA_ENONCANON);
    json_decref(j);
}

/* {"phase": "Running", "services": [{"name": "web", "state": "Running",
 * "restarts": 0}]}, canonical; tests change it. */
static json_t *status_json_with_service(void)
{
    return json_pack("{s:s, s:[{s:s, s:s, s:i}]}", "phase", "Running", "services", "name", "web",
                     "state", "Running", "restarts", 0);
}

static json_t *first_service_status(json_t *j)
{
    return json_array_get(json_object_get(j, "services"), 0);
}

TEST(msgpack_decode_refuses_bad_service_statuses)
{
    json_t *j = status_json_with_service();
    CHECK_OK(decode_json_as(AS_STATUS, j));
    /* Schema: an unknown state, an unknown field, a wrong type, a missing
     * name, restarts past the cap or negative, a duplicate name, too many. */
    json_object_set_new(first_service_status(j), "state", json_string("Sleeping"));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_object_set_new(first_service_status(j), "state", json_string("Running"));
    json_object_set_new(first_service_status(j), "exitCode", json_integer(1));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_object_del(first_service_status(j), "exitCode");
    json_object_set_new(first_service_status(j), "message", json_pack("[s]", "x"));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_object_del(first_service_status(j), "message");
    json_object_del(first_service_status(j), "name");
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_object_set_new(first_service_status(j), "name", json_string("web"));
    json_object_set_new(first_service_status(j), "restarts", json_integer(CARA_SVC_RESTARTS_MAX + 1));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_object_set_new(first_service_status(j), "restarts", json_integer(-1));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_object_set_new(first_service_status(j), "restarts", json_integer(CARA_SVC_RESTARTS_MAX));
    CHECK_OK(decode_json_as(AS_STATUS, j));
    json_array_append(json_object_get(j, "services"), first_service_status(j));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_decref(j);
    j = json_pack("{s:s, s:[]}", "phase", "Running", "services");
    for (int i = 0; i <= CARA_SERVICES_COUNT_MAX; i++)
        json_array_append_new(json_object_get(j, "services"),
                              json_pack("{s:s, s:s, s:i}", "name", "s", "state", "Waiting",
                                        "restarts", 0));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_object_set_new(j, "services", json_string("web"));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ESCHEMA);
    json_decref(j);
}

TEST(msgpack_decode_refuses_non_canonical_service_statuses)
{
    json_t *j = status_json_with_service();
    /* An empty message: the binder reads it as none, which is written
     * without the key, so these bytes are not the canonical ones. */
    json_object_set_new(first_service_status(j), "message", json_string(""));
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ENONCANON);
    json_object_set_new(first_service_status(j), "message", json_string("ok"));
    CHECK_OK(decode_json_as(AS_STATUS, j));
    json_object_del(first_service_status(j), "message");
    /* restarts left out (its default), or the list written out empty. */
    json_object_del(first_service_status(j), "restarts");
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ENONCANON);
    json_decref(j);
    j = json_pack("{s:s, s:[]}", "phase", "Running", "services");
    CHECK_RC(decode_json_as(AS_STATUS, j), CARA_ENONCANON);
    json_decref(j);
    /* restarts 0 as uint8 where a fixint fits. */
    j = status_json_with_service();
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), CARA_STATUS_BYTES_MAX);
    CHECK_OK(spec_json_to_msgpack(j, CARA_STATUS_BYTES_MAX, &b));
    CHECK_OK(decode_as(AS_STATUS, b.data, b.len));
    splice(&b, "\xa8restarts\x00", 10, "\xa8restarts\xcc\x00", 11);
    CHECK_RC(decode_as(AS_STATUS, b.data, b.len), CARA_ENONCANON);
    cara_buf_free(&b);
    json_decref(j);
}

TEST(from_json_binds_service_statuses_with_exact_messages)
{
    cara_env *env = cara_test_env();
    json_t *j = json_pack("{s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}, {s:s, s:s, s:i}]}",
                          "phase", "Running", "services",
                          "name", "db", "state", "Pulling", "message", "",
                          "name", "app", "state", "Failed", "message", "image not found",
                          "restarts", "3",
                          "name", "web", "state", "Running", "restarts", 12);
    cara_diags d;
    cara_diags_init(&d, env, "<request>");
    cara_project_status *s = NULL;
    CHECK_OK(cara_project_status_from_json(env, j, &d, &s));
    CHECK_INT(s->services_count, ==, 3);
    CHECK_STR(s->services[0].name, "db");
    CHECK(s->services[0].state == CARA_SVC_PULLING);
    CHECK(s->services[0].message == NULL); /* "" is bound as none */
    CHECK_INT(s->services[0].restarts, ==, 0); /* the default */
    CHECK(s->services[1].state == CARA_SVC_FAILED);
    CHECK_STR(s->services[1].message, "image not found");
    CHECK_INT(s->services[1].restarts, ==, 3);
    CHECK_INT(s->services[2].restarts, ==, 12);
    cara_project_status_free(env, s);
    json_decref(j);

    j = json_pack("{s:s, s:[{s:s, s:s, s:I}, {s:s, s:s}, {s:s, s:s}]}", "phase", "Running",
                  "services", "name", "db", "state", "Sleeping", "restarts",
                  (json_int_t)CARA_SVC_RESTARTS_MAX + 1, "name", "App", "state", "Running",
                  "name", "db", "state", "Exited");
    CHECK_RC(cara_project_status_from_json(env, j, &d, &s), CARA_ESCHEMA);
    CHECK(s == NULL);
    static const char *const want[][2] = {
        {"services[0].state", "must be one of Waiting, Pulling, Creating, Starting, Running, "
                              "Completed, Exited, Failed, Removing, got \"Sleeping\""},
        {"services[0].restarts", "must be between 0 and 1000000, got 1000001"},
        {"services[1].name", "\"App\" is not a DNS label (lowercase letters, digits and '-', 1 "
                             "to 63 characters, starting and ending with a letter or digit)"},
        {"services[2].name", "service name \"db\" is already used by services[0]"},
    };
    if (d.count != sizeof want / sizeof *want)
        for (size_t i = 0; i < d.count; i++)
            fprintf(stderr, "  %s: %s\n", d.items[i].path, d.items[i].message);
    CHECK_INT(d.count, ==, sizeof want / sizeof *want);
    for (size_t i = 0; i < d.count; i++) {
        CHECK_STR(d.items[i].path, want[i][0]);
        CHECK_STR(d.items[i].message, want[i][1]);
    }
    cara_diags_free(&d);
    json_decref(j);
}

TEST(status_with_service_entries_survives_json_yaml_and_msgpack)
{
    cara_env *env = cara_test_env();
    cara_service_status svc[] = {
        {.name = "db", .state = CARA_SVC_COMPLETED, .message = "exit 0\nno: restart", .restarts = 0},
        {.name = "app", .state = CARA_SVC_STARTING, .message = "true", .restarts = 65536},
    };
    cara_project_status s = {.phase = CARA_PHASE_RUNNING, .node_ref = "node-1",
                             .services = svc, .services_count = 2};
    /* YAML text of the status, read back by the YAML reader and binder. */
    json_t *j = cara_project_status_to_json(&s);
    cara_buf y;
    cara_buf_init(&y, env, CARA_MANIFEST_BYTES_MAX);
    CHECK_OK(cara_json_to_yaml(j, &y));
    json_decref(j);
    bound_status bs = {0};
    cara_diags d;
    cara_diags_init(&d, env, "t");
    CHECK_OK(doc_from_yaml(env, (const char *)y.data, y.len, &d, bind_status_doc, &bs));
    CHECK_OK(bs.rc);
    CHECK(cara_project_status_equal(&s, bs.status));
    /* And its canonical bytes are those of the original. */
    cara_buf a, b;
    cara_buf_init(&a, env, CARA_STATUS_BYTES_MAX);
    cara_buf_init(&b, env, CARA_STATUS_BYTES_MAX);
    CHECK_OK(cara_project_status_encode(&s, &a));
    CHECK_OK(cara_project_status_encode(bs.status, &b));
    CHECK_MEM(b.data, b.len, a.data, a.len);
    cara_buf_free(&b);
    cara_buf_free(&a);
    cara_project_status_free(env, bs.status);
    cara_diags_free(&d);
    cara_buf_free(&y);
}

TEST(from_json_reports_paths_and_ignores_a_project_status)
{
    cara_env *env = cara_test_env();
    json_t *j = wordpress_json();
    json_object_set_new(j, "status", json_string("anything"));
    cara_project *p = NULL;
    CHECK_OK(cara_project_from_json(env, j, NULL, &p));
    cara_project_free(env, p);
    json_object_set_new(first_service(j), "image", json_array());
    cara_diags d;
    cara_diags_init(&d, env, "<request>");
    CHECK_RC(cara_project_from_json(env, j, &d, &p), CARA_ESCHEMA);
    CHECK(p == NULL);
    CHECK(d.count >= 1);
    CHECK_STR(d.items[0].path, "spec.services[0].image");
    CHECK_INT(d.items[0].line, ==, 0);
    cara_diags_free(&d);
    json_decref(j);
}

/* ---- Fuzz seeds ---------------------------------------------------------------------------
 * The msgpack fuzzer's seeds are canonical records. This test checks that
 * each still decodes (the schema may move on), and with CARA_WRITE_SEEDS=1
 * writes them afresh from the generators. */

static void write_seed(const char *name, const cara_buf *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cara_test_path("fuzz/seeds/fuzz_msgpack"), name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_INT(fwrite(b->data, 1, b->len, f), ==, b->len);
    CHECK_INT(fclose(f), ==, 0);
}

static void write_seeds(void)
{
    cara_env *env = cara_test_env();
    cara_rng rng;
    cara_rng_seed(&rng, 20260101);
    cara_buf b;
    cara_buf_init(&b, env, CARA_SPEC_BYTES_MAX);
    cara_project *p = gen_wordpress(env);
    CHECK_OK(cara_project_encode(p, &b));
    write_seed("project-wordpress.mp", &b);
    cara_project_free(env, p);
    for (int i = 0; i < 3; i++) {
        char name[64];
        cara_buf_reset(&b);
        p = gen_project(env, &rng, 2 * i + 1);
        CHECK_OK(cara_project_encode(p, &b));
        snprintf(name, sizeof name, "project-%d.mp", i);
        write_seed(name, &b);
        cara_project_free(env, p);
        cara_buf_reset(&b);
        cara_project_status *s = gen_project_status(env, &rng, 3);
        CHECK_OK(cara_project_status_encode(s, &b));
        snprintf(name, sizeof name, "status-%d.mp", i);
        write_seed(name, &b);
        cara_project_status_free(env, s);
        cara_buf_reset(&b);
        cara_node *n = gen_node(env, &rng, 3);
        CHECK_OK(cara_node_encode(n, &b));
        snprintf(name, sizeof name, "node-%d.mp", i);
        write_seed(name, &b);
        cara_node_free(env, n);
    }
    /* Settings draw from their own generator, so the seeds above stay
     * what they were before settings existed. */
    cara_rng_seed(&rng, 20260102);
    for (int i = 0; i < 3; i++) {
        char name[64];
        cara_buf_reset(&b);
        cara_settings *st = gen_settings(env, &rng);
        CHECK_OK(cara_settings_encode(st, &b));
        snprintf(name, sizeof name, "settings-%d.mp", i);
        write_seed(name, &b);
        cara_settings_free(env, st);
    }
    cara_buf_free(&b);
}

TEST(fuzz_msgpack_seeds_are_canonical_records)
{
    const char *w = getenv("CARA_WRITE_SEEDS");
    if (w != NULL && strcmp(w, "1") == 0)
        write_seeds();
    const char *dir = cara_test_path("fuzz/seeds/fuzz_msgpack");
    DIR *dh = opendir(dir);
    CHECK(dh != NULL);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        static uint8_t bytes[CARA_SPEC_BYTES_MAX];
        size_t len = fread(bytes, 1, sizeof bytes, f);
        fclose(f);
        rec_as as = strncmp(e->d_name, "project", 7) == 0  ? AS_PROJECT
                    : strncmp(e->d_name, "status", 6) == 0   ? AS_STATUS
                    : strncmp(e->d_name, "settings", 8) == 0 ? AS_SETTINGS
                                                             : AS_NODE;
        if (decode_as(as, bytes, len) != 0)
            cara_test_fail(__FILE__, __LINE__, "seed %s no longer decodes", e->d_name);
        seen++;
    }
    closedir(dh);
    CHECK(seen >= 4);
}

TEST(mappings_in_any_order_give_equal_models_and_identical_bytes)
{
    static const char a[] =
        "apiVersion: caravanserai/v1\nkind: Project\n"
        "metadata: {name: x, labels: {team: web, app: blog, example.com/tier: front}}\n"
        "spec: {services: [{name: s, image: nginx}], nodeSelector: {zone: b, disk: ssd}}\n";
    static const char b[] =
        "apiVersion: caravanserai/v1\nkind: Project\n"
        "metadata: {name: x, labels: {example.com/tier: front, app: blog, team: web}}\n"
        "spec: {services: [{name: s, image: nginx}], nodeSelector: {disk: ssd, zone: b}}\n";
    cara_env *env = cara_test_env();
    cara_project *p = parse_one(a, strlen(a)), *q = parse_one(b, strlen(b));
    CHECK(cara_project_equal(p, q));
    CHECK_STR(p->labels[0].name, "team"); /* the model keeps the manifest's order */
    CHECK_STR(q->labels[0].name, "example.com/tier");
    cara_buf x, y;
    encode_project(p, &x);
    encode_project(q, &y);
    CHECK_MEM(x.data, x.len, y.data, y.len);
    check_project_round_trips(p);
    cara_buf_free(&x);
    cara_buf_free(&y);
    cara_project_free(env, p);
    cara_project_free(env, q);
}
