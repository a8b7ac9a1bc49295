/* The writing side of the spec codecs: JSON shape, quantities, canonical
 * msgpack bytes, YAML rendering, and the document trees built from JSON
 * and msgpack. The round trips through the binder are in
 * test_spec_codec.c. */
#include <yaml.h>

#include "harness.h"
#include "spec/spec_int.h"
#include "spec_gen.h"

/* ---- An independent check of the canonical byte rules ----------------------
 * Walks msgpack bytes by hand (not with msgpack-c, which the encoder uses)
 * and fails on any map whose keys are not strictly ascending bytewise, any
 * integer or string header longer than needed, and any type the encoder
 * must never write (bin, ext, floats). Returns the bytes consumed. */
static uint64_t be_n(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t canon_walk(const uint8_t *b, size_t len, const uint8_t **str, size_t *str_len);

static size_t canon_container(const uint8_t *b, size_t len, size_t pos, uint64_t n, bool map)
{
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *key = NULL;
        size_t key_len = 0;
        CHECK(pos < len);
        pos += canon_walk(b + pos, len - pos, &key, &key_len);
        if (!map)
            continue;
        CHECK(key != NULL); /* keys are strings */
        if (prev != NULL) {
            size_t m = prev_len < key_len ? prev_len : key_len;
            int c = memcmp(prev, key, m);
            CHECK(c < 0 || (c == 0 && prev_len < key_len));
        }
        prev = key;
        prev_len = key_len;
        CHECK(pos < len);
        pos += canon_walk(b + pos, len - pos, NULL, NULL);
    }
    return pos;
}

static size_t canon_walk(const uint8_t *b, size_t len, const uint8_t **str, size_t *str_len)
{
    CHECK(len >= 1);
    uint8_t t = b[0];
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
        return 1;
    if (t >= 0xa0 && t <= 0xbf) {
        CHECK(len >= 1u + (t & 0x1f));
        if (str) { *str = b + 1; *str_len = t & 0x1f; }
        return 1u + (t & 0x1f);
    }
    if (t >= 0x80 && t <= 0x8f)
        return canon_container(b, len, 1, t & 0x0f, true);
    if (t >= 0x90 && t <= 0x9f)
        return canon_container(b, len, 1, t & 0x0f, false);
    int w = t == 0xcc || t == 0xd0 || t == 0xd9 ? 1 : t == 0xcd || t == 0xd1 || t == 0xda || t == 0xdc || t == 0xde ? 2
          : t == 0xce || t == 0xd2 || t == 0xdb || t == 0xdd || t == 0xdf ? 4 : t == 0xcf || t == 0xd3 ? 8 : 0;
    CHECK(w != 0); /* bin, ext, float or reserved: never written */
    CHECK(len >= 1u + (size_t)w);
    uint64_t v = be_n(b + 1, w);
    switch (t) {
    case 0xcc: CHECK(v > 0x7f); return 2;
    case 0xcd: CHECK(v > 0xff); return 3;
    case 0xce: CHECK(v > 0xffff); return 5;
    case 0xcf: CHECK(v > 0xffffffffu); return 9;
    case 0xd0: CHECK((int8_t)v < -32); return 2;
    case 0xd1: CHECK((int16_t)v < -128); return 3;
    case 0xd2: CHECK((int32_t)v < -32768); return 5;
    case 0xd3: CHECK((int64_t)v < INT32_MIN); return 9;
    case 0xd9: case 0xda: case 0xdb:
        CHECK(v > (t == 0xd9 ? 31u : t == 0xda ? 0xffu : 0xffffu));
        CHECK(len - 1 - (size_t)w >= v);
        if (str) { *str = b + 1 + w; *str_len = (size_t)v; }
        return 1 + (size_t)w + (size_t)v;
    case 0xdc: case 0xdd:
        CHECK(v > (t == 0xdc ? 15u : 0xffffu));
        return canon_container(b, len, 1 + (size_t)w, v, false);
    default: /* 0xde, 0xdf */
        CHECK(v > (t == 0xde ? 15u : 0xffffu));
        return canon_container(b, len, 1 + (size_t)w, v, true);
    }
}

static void check_canonical_bytes(const cara_buf *b)
{
    CHECK_INT(canon_walk(b->data, b->len, NULL, NULL), ==, b->len);
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
}

/* ---- JSON shape ----------------------------------------------------------------- */

TEST(json_shape_of_the_wordpress_project)
{
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    json_t *j = cara_project_to_json(p, NULL);
    CHECK(j != NULL);
    char *text = dump(j);
    CHECK_STR(text,
              "{\"apiVersion\":\"caravanserai/v1\",\"kind\":\"Project\","
              "\"metadata\":{\"name\":\"wordpress\"},\"spec\":{\"services\":["
              "{\"name\":\"db\",\"image\":\"mysql:8\",\"env\":[{\"name\":\"MYSQL_ROOT_PASSWORD\","
              "\"value\":\"secret\"}],\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":"
              "\"/var/lib/mysql\",\"readOnly\":false}],\"restartPolicy\":\"Always\"},"
              "{\"name\":\"app\",\"image\":\"wordpress:6\",\"env\":[{\"name\":"
              "\"WORDPRESS_DB_HOST\",\"value\":\"db\"}],\"restartPolicy\":\"Always\"}],"
              "\"volumes\":[{\"name\":\"data\",\"type\":\"Ephemeral\"}],"
              "\"ingress\":[{\"name\":\"web\",\"host\":\"blog\",\"target\":{\"service\":\"app\","
              "\"port\":80},\"access\":{\"scope\":\"Internal\"}}],"
              "\"expireAt\":\"2026-12-01T00:00:00Z\"}}");
    free(text);
    json_decref(j);
    cara_project_free(env, p);
}

TEST(json_shape_of_optional_service_parts)
{
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    cara_service *s = &p->services[1];
    s->ports_count = 1;
    s->ports = cara_env_calloc(env, 1, sizeof *s->ports);
    s->ports[0] = (cara_port){gen_strdup(env, "http"), 80, CARA_PROTO_TCP};
    s->restart = CARA_RESTART_ON_FAILURE;
    s->health.command_count = 1;
    s->health.command = cara_env_calloc(env, 1, sizeof(char *));
    s->health.command[0] = gen_strdup(env, "true");
    s->health.interval_s = 30;
    s->health.timeout_s = 5;
    s->health.retries = 3;
    s->resources = (cara_resources){500, 256u << 20};
    json_t *j = cara_project_to_json(p, NULL);
    json_t *svc = json_array_get(json_object_get(json_object_get(j, "spec"), "services"), 1);
    char *text = dump(svc);
    CHECK_STR(text, "{\"name\":\"app\",\"image\":\"wordpress:6\",\"env\":[{\"name\":"
                    "\"WORDPRESS_DB_HOST\",\"value\":\"db\"}],\"ports\":[{\"containerPort\":80,"
                    "\"protocol\":\"TCP\",\"name\":\"http\"}],\"restartPolicy\":\"OnFailure\","
                    "\"healthCheck\":{\"command\":[\"true\"],\"intervalSeconds\":30,"
                    "\"timeoutSeconds\":5,\"startPeriodSeconds\":0,\"retries\":3},"
                    "\"resources\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"}}");
    free(text);
    json_decref(j);
    cara_project_free(env, p);
}

TEST(json_shape_of_status_and_node)
{
    cara_env *env = cara_test_env();
    cara_condition c = {"Phase", CARA_COND_TRUE, "Scheduled", "", 1796083200250LL};
    cara_project_status s = {CARA_PHASE_RUNNING, "node-1", &c, 1};
    json_t *j = cara_project_status_to_json(&s);
    char *text = dump(j);
    CHECK_STR(text, "{\"phase\":\"Running\",\"nodeRef\":\"node-1\",\"conditions\":[{\"type\":"
                    "\"Phase\",\"status\":\"True\",\"reason\":\"Scheduled\",\"message\":\"\","
                    "\"lastTransitionTime\":\"2026-12-01T00:00:00.250Z\"}]}");
    free(text);
    json_decref(j);

    cara_project_status bare = {CARA_PHASE_PENDING, NULL, NULL, 0};
    j = cara_project_status_to_json(&bare);
    text = dump(j);
    CHECK_STR(text, "{\"phase\":\"Pending\"}");
    free(text);
    json_decref(j);

    char *addrs[] = {"100.64.0.1"};
    cara_kv labels[] = {{"zone", "a"}};
    cara_node n = {"n1", addrs, 1, "n1.ts.net", labels, 1, {2000, 1ULL << 30},
                   CARA_NODE_DRAINING, NULL, 0, true};
    j = cara_node_to_json(&n);
    text = dump(j);
    CHECK_STR(text, "{\"name\":\"n1\",\"addresses\":[\"100.64.0.1\"],\"magicDNS\":\"n1.ts.net\","
                    "\"labels\":{\"zone\":\"a\"},\"capacity\":{\"cpu\":\"2\",\"memory\":\"1Gi\"},"
                    "\"state\":\"Draining\",\"unschedulable\":true}");
    free(text);
    json_decref(j);
    (void)env;
}

TEST(json_shape_of_service_statuses)
{
    /* A message that is NULL or "" is left out; restarts is always there. */
    cara_service_status svc[] = {
        {.name = "db", .state = CARA_SVC_PULLING, .message = "pulling mysql:8"},
        {.name = "app", .state = CARA_SVC_RUNNING, .message = "", .restarts = 2},
        {.name = "cache", .state = CARA_SVC_REMOVING},
    };
    cara_project_status s = {.phase = CARA_PHASE_RUNNING, .services = svc, .services_count = 3};
    json_t *j = cara_project_status_to_json(&s);
    char *text = dump(j);
    CHECK_STR(text, "{\"phase\":\"Running\",\"services\":["
                    "{\"name\":\"db\",\"state\":\"Pulling\",\"message\":\"pulling mysql:8\","
                    "\"restarts\":0},"
                    "{\"name\":\"app\",\"state\":\"Running\",\"restarts\":2},"
                    "{\"name\":\"cache\",\"state\":\"Removing\",\"restarts\":0}]}");
    free(text);
    json_decref(j);
    /* Inside a project, under "status". */
    cara_project *p = gen_wordpress(cara_test_env());
    j = cara_project_to_json(p, &s);
    CHECK(json_array_size(json_object_get(json_object_get(j, "status"), "services")) == 3);
    json_decref(j);
    cara_project_free(cara_test_env(), p);
}

TEST(service_state_names_parse_back)
{
    static const char *const names[] = {"Waiting", "Pulling",   "Creating", "Starting", "Running",
                                        "Completed", "Exited", "Failed",   "Removing"};
    for (int i = 0; i <= CARA_SVC_REMOVING; i++) {
        CHECK_STR(cara_svc_state_name((cara_svc_state)i), names[i]);
        cara_svc_state st = CARA_SVC_WAITING;
        CHECK_OK(cara_svc_state_parse(names[i], &st));
        CHECK_INT((int)st, ==, i);
    }
    cara_svc_state st = CARA_SVC_RUNNING;
    CHECK_RC(cara_svc_state_parse("running", &st), CARA_EPARSE);
    CHECK_RC(cara_svc_state_parse("", &st), CARA_EPARSE);
    CHECK_INT((int)st, ==, CARA_SVC_RUNNING);
}

TEST(json_refuses_a_model_with_invalid_utf8)
{
    cara_project_status s = {CARA_PHASE_PENDING, "bad\xff", NULL, 0};
    json_t *j = NULL;
    CHECK_RC(spec_project_status_json(&s, &j), CARA_EINVAL);
    CHECK(j == NULL);
    CHECK(cara_project_status_to_json(&s) == NULL);
}

TEST(quantities_have_one_spelling)
{
    struct { uint64_t v; const char *cpu, *mem; } cases[] = {
        {1, "1m", "1"},
        {500, "500m", "500"},
        {1000, "1", "1000"},
        {1024, "1024m", "1Ki"},
        {2000, "2", "2000"},
        {1536, "1536m", "1536"},
        {256ULL << 20, "268435456m", "256Mi"},
        {3ULL << 30, "3221225472m", "3Gi"},
        {1ULL << 40, "1099511627776m", "1Ti"},
        {1ULL << 60, "1152921504606846976m", "1Ei"},
        {(1ULL << 30) + 1024, "1073742848m", "1048577Ki"},
        {UINT64_MAX, "18446744073709551615m", "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char q[SPEC_QUANTITY_BYTES];
        spec_cpu_quantity(cases[i].v, q);
        CHECK_STR(q, cases[i].cpu);
        spec_memory_quantity(cases[i].v, q);
        CHECK_STR(q, cases[i].mem);
    }
}

/* ---- Canonical msgpack ---------------------------------------------------------------- */

TEST(msgpack_sorts_keys_bytewise_and_packs_shortest)
{
    cara_env *env = cara_test_env();
    json_t *j = json_pack("{s:i, s:i, s:i, s:i, s:i, s:I, s:s, s:[], s:{s:b, s:n}}",
                          "b", 127, "a", 128, "ab", 65536, "B", -33, "aa", -1,
                          "\xc3\xa9", (json_int_t)4294967296LL, "zz", "x", "a0", "m", "k", 1, "c");
    CHECK(j != NULL);
    cara_buf b;
    cara_buf_init(&b, env, 1024);
    CHECK_OK(spec_json_to_msgpack(j, 1024, &b));
    check_canonical_bytes(&b);
    static const uint8_t want[] = {
        0x89, 0xa1, 'B', 0xd0, 0xdf,                 /* -33: int8 */
        0xa1, 'a', 0xcc, 0x80,                       /* 128: uint8 */
        0xa2, 'a', '0', 0x90,                        /* [] */
        0xa2, 'a', 'a', 0xff,                        /* -1: negative fixint */
        0xa2, 'a', 'b', 0xce, 0x00, 0x01, 0x00, 0x00, /* 65536: uint32 */
        0xa1, 'b', 0x7f,                             /* 127: positive fixint */
        0xa1, 'm', 0x82, 0xa1, 'c', 0xc0, 0xa1, 'k', 0xc3,
        0xa2, 'z', 'z', 0xa1, 'x',
        0xa2, 0xc3, 0xa9, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, /* "é" sorts after ASCII */
    };
    CHECK_MEM(b.data, b.len, want, sizeof want);
    cara_buf_free(&b);
    json_decref(j);
}

TEST(msgpack_uses_str8_for_mid_length_strings_and_refuses_reals)
{
    cara_env *env = cara_test_env();
    char s[40];
    memset(s, 'x', sizeof s - 1);
    s[39] = '\0';
    json_t *j = json_string(s);
    cara_buf b;
    cara_buf_init(&b, env, 1024);
    CHECK_OK(spec_json_to_msgpack(j, 1024, &b));
    CHECK_INT(b.len, ==, 2 + 39);
    CHECK_INT(b.data[0], ==, 0xd9);
    CHECK_INT(b.data[1], ==, 39);
    json_decref(j);
    j = json_pack("[s, f]", "kept?", 1.5);
    CHECK_RC(spec_json_to_msgpack(j, 1024, &b), CARA_EINVAL);
    CHECK_INT(b.len, ==, 41); /* unchanged on error */
    json_decref(j);
    cara_buf_free(&b);
}

TEST(msgpack_bytes_of_service_statuses_are_canonical)
{
    cara_env *env = cara_test_env();
    cara_service_status svc[] = {
        {.name = "web", .state = CARA_SVC_RUNNING, .restarts = 300},
        {.name = "db", .state = CARA_SVC_WAITING, .message = "pulling mysql:8"},
    };
    cara_project_status s = {.phase = CARA_PHASE_RUNNING, .services = svc, .services_count = 2};
    cara_buf b;
    cara_buf_init(&b, env, CARA_STATUS_BYTES_MAX);
    CHECK_OK(cara_project_status_encode(&s, &b));
    check_canonical_bytes(&b);
    static const uint8_t want[] = {
        0x82, 0xa5, 'p', 'h', 'a', 's', 'e', 0xa7, 'R', 'u', 'n', 'n', 'i', 'n', 'g',
        0xa8, 's', 'e', 'r', 'v', 'i', 'c', 'e', 's', 0x92,
        /* keys sorted: name < restarts < state; 300 as uint16 */
        0x83, 0xa4, 'n', 'a', 'm', 'e', 0xa3, 'w', 'e', 'b',
        0xa8, 'r', 'e', 's', 't', 'a', 'r', 't', 's', 0xcd, 0x01, 0x2c,
        0xa5, 's', 't', 'a', 't', 'e', 0xa7, 'R', 'u', 'n', 'n', 'i', 'n', 'g',
        /* message < name; restarts 0 is written, as a fixint */
        0x84, 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xaf, 'p', 'u', 'l', 'l', 'i', 'n', 'g',
        ' ', 'm', 'y', 's', 'q', 'l', ':', '8',
        0xa4, 'n', 'a', 'm', 'e', 0xa2, 'd', 'b',
        0xa8, 'r', 'e', 's', 't', 'a', 'r', 't', 's', 0x00,
        0xa5, 's', 't', 'a', 't', 'e', 0xa7, 'W', 'a', 'i', 't', 'i', 'n', 'g',
    };
    CHECK_MEM(b.data, b.len, want, sizeof want);
    /* An empty message is the same record as none. */
    size_t len = b.len;
    svc[1].message = "";
    cara_buf_reset(&b);
    CHECK_OK(cara_project_status_encode(&s, &b));
    CHECK_INT(b.len, ==, len - 8 - 16);
    svc[1].message = NULL;
    cara_buf c;
    cara_buf_init(&c, env, CARA_STATUS_BYTES_MAX);
    CHECK_OK(cara_project_status_encode(&s, &c));
    CHECK_MEM(c.data, c.len, b.data, b.len);
    cara_buf_free(&c);
    cara_buf_free(&b);
}

/* An owned string of `len` bytes: `first`, then copies of `c`. */
static char *filled(char first, char c, size_t len)
{
    char *s = cara_env_alloc(cara_test_env(), len + 1);
    CHECK(s != NULL);
    memset(s, c, len);
    s[0] = first;
    s[len] = '\0';
    return s;
}

TEST(msgpack_status_with_every_list_and_string_at_its_cap_fits_its_record)
{
    cara_env *env = cara_test_env();
    cara_project_status *s = cara_env_calloc(env, 1, sizeof *s);
    s->phase = CARA_PHASE_TERMINATING;
    s->node_ref = filled('n', 'n', CARA_NAME_BYTES_MAX);
    s->conditions_count = CARA_CONDITIONS_COUNT_MAX;
    s->conditions = cara_env_calloc(env, s->conditions_count, sizeof *s->conditions);
    for (size_t i = 0; i < s->conditions_count; i++) {
        cara_condition *c = &s->conditions[i];
        c->type = filled('T', 'y', CARA_NAME_BYTES_MAX);
        c->status = CARA_COND_UNKNOWN;
        c->reason = filled('R', 'r', CARA_REASON_BYTES_MAX);
        c->message = filled('m', 'm', CARA_MESSAGE_BYTES_MAX);
        c->last_transition_wall_ms = 253402300799999LL; /* 9999-12-31T23:59:59.999Z */
    }
    s->services_count = CARA_SERVICES_COUNT_MAX;
    s->services = cara_env_calloc(env, s->services_count, sizeof *s->services);
    for (size_t i = 0; i < s->services_count; i++) {
        cara_service_status *st = &s->services[i];
        st->name = filled('s', 's', CARA_NAME_BYTES_MAX);
        st->name[CARA_NAME_BYTES_MAX - 2] = (char)('0' + i / 10);
        st->name[CARA_NAME_BYTES_MAX - 1] = (char)('0' + i % 10);
        st->state = CARA_SVC_COMPLETED; /* the longest name */
        st->message = filled('x', 'x', CARA_MESSAGE_BYTES_MAX);
        st->restarts = CARA_SVC_RESTARTS_MAX;
    }
    cara_diags d;
    cara_diags_init(&d, env, "t");
    CHECK_OK(cara_project_status_validate(s, &d));
    cara_diags_free(&d);
    cara_buf b;
    cara_buf_init(&b, env, 2 * CARA_STATUS_BYTES_MAX);
    CHECK_OK(cara_project_status_encode(s, &b));
    CHECK(b.len > CARA_STATUS_BYTES_MAX / 2);
    CHECK(b.len <= CARA_STATUS_BYTES_MAX);
    cara_project_status *t = NULL;
    CHECK_OK(cara_project_status_decode(env, b.data, b.len, NULL, &t));
    CHECK(cara_project_status_equal(s, t));
    cara_project_status_free(env, t);
    cara_buf_free(&b);
    cara_project_status_free(env, s);
}

TEST(msgpack_encoders_write_canonical_bytes_for_random_objects)
{
    cara_env *env = cara_test_env();
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    cara_buf b;
    cara_buf_init(&b, env, CARA_SPEC_BYTES_MAX);
    for (int i = 0; i < 500; i++) {
        cara_project *p = gen_project(env, &rng, i % 6);
        cara_buf_reset(&b);
        CHECK_OK(cara_project_encode(p, &b));
        check_canonical_bytes(&b);
        cara_project_free(env, p);
        cara_project_status *s = gen_project_status(env, &rng, i % 6);
        cara_buf_reset(&b);
        CHECK_OK(cara_project_status_encode(s, &b));
        check_canonical_bytes(&b);
        cara_project_status_free(env, s);
        cara_node *n = gen_node(env, &rng, i % 6);
        cara_buf_reset(&b);
        CHECK_OK(cara_node_encode(n, &b));
        check_canonical_bytes(&b);
        cara_node_free(env, n);
    }
    cara_buf_free(&b);
}

TEST(msgpack_encode_appends_and_leaves_the_buffer_alone_on_error)
{
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    cara_buf b;
    cara_buf_init(&b, env, 4096);
    CHECK_OK(cara_buf_append_str(&b, "hdr"));
    CHECK_OK(cara_project_encode(p, &b));
    size_t one = b.len - 3;
    CHECK(memcmp(b.data, "hdr", 3) == 0);
    CHECK_OK(cara_project_encode(p, &b));
    CHECK_INT(b.len, ==, 3 + 2 * one);
    CHECK(memcmp(b.data + 3, b.data + 3 + one, one) == 0);
    /* The buffer's own cap is honoured too. */
    cara_buf small;
    cara_buf_init(&small, env, one - 1);
    CHECK_RC(cara_project_encode(p, &small), CARA_ETOOBIG);
    CHECK_INT(small.len, ==, 0);
    cara_buf_free(&small);
    cara_buf_free(&b);
    cara_project_free(env, p);
}

TEST(msgpack_encode_refuses_a_project_over_the_spec_cap)
{
    cara_env *env = cara_test_env();
    cara_project *p = gen_wordpress(env);
    /* Every field within its own cap, the whole over CARA_SPEC_BYTES_MAX:
     * 16 env values of 32 KiB (512 KiB). */
    cara_service *s = &p->services[0];
    cara_env_free(env, s->env[0].name);
    cara_env_free(env, s->env[0].value);
    cara_env_free(env, s->env);
    s->env_count = 16;
    s->env = cara_env_calloc(env, s->env_count, sizeof *s->env);
    char *big = cara_env_alloc(env, CARA_ENV_VALUE_BYTES_MAX + 1);
    memset(big, 'v', CARA_ENV_VALUE_BYTES_MAX);
    big[CARA_ENV_VALUE_BYTES_MAX] = '\0';
    for (size_t i = 0; i < s->env_count; i++) {
        char name[32];
        snprintf(name, sizeof name, "V%zu", i);
        s->env[i].name = gen_strdup(env, name);
        s->env[i].value = gen_strdup(env, big);
    }
    cara_env_free(env, big);
    cara_buf b;
    cara_buf_init(&b, env, 4 * CARA_SPEC_BYTES_MAX);
    CHECK_RC(cara_project_encode(p, &b), CARA_ETOOBIG);
    CHECK_INT(b.len, ==, 0);
    /* Half of it fits. */
    s->env_count = 6;
    CHECK_OK(cara_project_encode(p, &b));
    CHECK(b.len > 6 * CARA_ENV_VALUE_BYTES_MAX);
    s->env_count = 16;
    cara_buf_free(&b);
    cara_project_free(env, p);
}

/* ---- YAML out -------------------------------------------------------------------------- */

static char *to_yaml(const json_t *j)
{
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), 1 << 20);
    CHECK_OK(cara_json_to_yaml(j, &b));
    size_t len;
    return (char *)cara_buf_take(&b, &len);
}

TEST(yaml_renders_block_style_in_json_key_order)
{
    json_t *j = json_pack("{s:s, s:{s:[{s:s, s:i}], s:b, s:n, s:[], s:{}}}", "zeta", "first",
                          "alpha", "list", "name", "db", "port", 3306, "flag", 1, "none",
                          "empty", "obj");
    char *y = to_yaml(j);
    CHECK_STR(y, "zeta: first\n"
                 "alpha:\n"
                 "  list:\n"
                 "  - name: db\n"
                 "    port: 3306\n"
                 "  flag: true\n"
                 "  none: null\n"
                 "  empty: []\n"
                 "  obj: {}\n");
    cara_env_free(cara_test_env(), y);
    json_decref(j);
}

TEST(yaml_quotes_strings_that_would_read_back_as_something_else)
{
    const char *quoted[] = {"true", "False", "yes", "NO", "on", "y", "~", "null", "",
                            "3306", "0x1F", "1e3", "-1", "+2", ".5", "12:30", "2026-01-01",
                            "a: b", "#c", "- d", "[x]", "{y}", "*z", "&w", "!t", "'q'",
                            ".inf", "-.inf", ".NaN", "<<", "=", " lead", "trail "};
    for (size_t i = 0; i < sizeof quoted / sizeof *quoted; i++) {
        json_t *j = json_pack("{s:s}", "k", quoted[i]);
        char *y = to_yaml(j);
        /* The value must not be emitted plain: it starts with a quote. */
        const char *v = y + 3;
        if (!(v[0] == '\'' || v[0] == '"'))
            cara_test_fail(__FILE__, __LINE__, "\"%s\" emitted plain: %s", quoted[i], y);
        cara_env_free(cara_test_env(), y);
        json_decref(j);
    }
    const char *plain[] = {"secret", "mysql:8", "/var/lib/mysql", "caf\xc3\xa9", "a-b", "x.y"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        json_t *j = json_pack("{s:s}", "k", plain[i]);
        char *y = to_yaml(j);
        char want[64];
        snprintf(want, sizeof want, "k: %s\n", plain[i]);
        CHECK_STR(y, want);
        cara_env_free(cara_test_env(), y);
        json_decref(j);
    }
}

TEST(yaml_uses_literal_style_for_multiline_strings)
{
    json_t *j = json_pack("{s:s}", "script", "line one\nline two\n");
    char *y = to_yaml(j);
    CHECK_STR(y, "script: |\n  line one\n  line two\n");
    cara_env_free(cara_test_env(), y);
    json_decref(j);
}

TEST(yaml_refuses_output_past_the_buffer_cap)
{
    json_t *j = json_pack("{s:s}", "key", "a value that does not fit");
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), 10);
    CHECK_RC(cara_json_to_yaml(j, &b), CARA_ETOOBIG);
    CHECK_INT(b.len, ==, 0);
    cara_buf_free(&b);
    json_decref(j);
}

/* ---- Document trees ---------------------------------------------------------------- */

TEST(doc_from_json_keeps_types_and_key_order)
{
    cara_env *env = cara_test_env();
    json_t *j = json_loads("{\"z\":\"s\",\"a\":[1,-2,1.5,true,false,null],\"m\":{}}", 0, NULL);
    CHECK(j != NULL);
    doc dc;
    doc_init(&dc, env);
    doc_node *root;
    CHECK_OK(doc_from_json(&dc, j, &root));
    CHECK_INT(root->kind, ==, DOC_MAP);
    CHECK_INT(root->count, ==, 6);
    CHECK_STR(root->items[0]->text, "z");
    CHECK_STR(root->items[2]->text, "a");
    CHECK_STR(root->items[4]->text, "m");
    CHECK_INT(root->items[1]->scalar, ==, DOC_STR);
    doc_node *a = root->items[3];
    CHECK_INT(a->kind, ==, DOC_SEQ);
    CHECK_INT(a->count, ==, 6);
    CHECK_INT(a->items[0]->scalar, ==, DOC_INT);
    CHECK_INT(a->items[0]->i, ==, 1);
    CHECK_INT(a->items[1]->i, ==, -2);
    CHECK_STR(a->items[1]->text, "-2");
    CHECK_INT(a->items[2]->scalar, ==, DOC_FLOAT);
    CHECK_INT(a->items[3]->scalar, ==, DOC_BOOL);
    CHECK(a->items[3]->b && !a->items[4]->b);
    CHECK_INT(a->items[5]->kind, ==, DOC_NULL);
    CHECK_INT(root->items[5]->kind, ==, DOC_MAP);
    CHECK_INT(root->items[5]->count, ==, 0);
    doc_free(&dc);
    json_decref(j);
}

TEST(doc_from_json_refuses_nesting_past_the_cap)
{
    cara_env *env = cara_test_env();
    json_t *j = json_array();
    for (int i = 0; i < CARA_DOC_DEPTH_MAX + 2; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, j);
        j = outer;
    }
    doc dc;
    doc_init(&dc, env);
    doc_node *root;
    CHECK_RC(doc_from_json(&dc, j, &root), CARA_ETOOBIG);
    doc_free(&dc);
    json_decref(j);
}

/* Unpacks `bytes` and builds a tree; returns doc_from_msgpack's code. */
static int mp_tree(doc *dc, const void *bytes, size_t len, doc_node **root)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    CHECK_INT(msgpack_unpack_next(&up, bytes, len, &off), ==, MSGPACK_UNPACK_SUCCESS);
    int rc = doc_from_msgpack(dc, &up.data, root);
    msgpack_unpacked_destroy(&up);
    return rc;
}

TEST(doc_from_msgpack_copies_strings_and_maps_number_types)
{
    cara_env *env = cara_test_env();
    /* {"k": ["ab", -5, 2^64-1, 1.5, true, nil]} */
    static const uint8_t mp[] = {0x81, 0xa1, 'k', 0x96, 0xa2, 'a', 'b', 0xfb,
                                 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc3, 0xc0};
    uint8_t copy[sizeof mp];
    memcpy(copy, mp, sizeof mp);
    doc dc;
    doc_init(&dc, env);
    doc_node *root;
    CHECK_OK(mp_tree(&dc, copy, sizeof copy, &root));
    memset(copy, 0, sizeof copy); /* the tree must not point into the input */
    CHECK_INT(root->kind, ==, DOC_MAP);
    CHECK_STR(root->items[0]->text, "k");
    doc_node *a = root->items[1];
    CHECK_STR(a->items[0]->text, "ab");
    CHECK_INT(a->items[0]->len, ==, 2);
    CHECK_INT(a->items[0]->scalar, ==, DOC_STR);
    CHECK_INT(a->items[1]->scalar, ==, DOC_INT);
    CHECK_INT(a->items[1]->i, ==, -5);
    CHECK_INT(a->items[2]->scalar, ==, DOC_FLOAT); /* above INT64_MAX */
    CHECK_STR(a->items[2]->text, "18446744073709551615");
    CHECK_INT(a->items[3]->scalar, ==, DOC_FLOAT);
    CHECK_INT(a->items[4]->scalar, ==, DOC_BOOL);
    CHECK_INT(a->items[5]->kind, ==, DOC_NULL);
    doc_free(&dc);
}

TEST(doc_from_msgpack_refuses_what_no_field_can_hold)
{
    cara_env *env = cara_test_env();
    static const struct { uint8_t b[8]; size_t len; } cases[] = {
        {{0x81, 0x01, 0xa1, 'x'}, 4},       /* integer key */
        {{0x81, 0xc0, 0xa1, 'x'}, 4},       /* nil key */
        {{0x91, 0xc4, 0x01, 'x'}, 4},       /* bin */
        {{0x91, 0xd4, 0x01, 0x00}, 4},      /* fixext1 */
        {{0x91, 0xa2, 'a', 0x00}, 4},       /* NUL inside a string */
        {{0x91, 0xa2, 0xc3, 0x28}, 4},      /* invalid UTF-8 */
        {{0x91, 0xa3, 0xed, 0xa0, 0x80}, 5}, /* a UTF-16 surrogate */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        doc dc;
        doc_init(&dc, env);
        doc_node *root;
        CHECK_RC(mp_tree(&dc, cases[i].b, cases[i].len, &root), CARA_ESCHEMA);
        doc_free(&dc);
    }
}

TEST(utf8_validator_matches_the_standard)
{
    CHECK(spec_utf8_valid("", 0));
    CHECK(spec_utf8_valid("plain", 5));
    CHECK(spec_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    CHECK(spec_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
    CHECK(!spec_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!spec_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!spec_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    CHECK(!spec_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!spec_utf8_valid("\xc3", 1));             /* truncated */
    CHECK(!spec_utf8_valid("\x80", 1));             /* lone continuation */
    CHECK(!spec_utf8_valid("\xff", 1));
}

TEST(doc_from_msgpack_accepts_the_empty_string)
{
    /* msgpack-c hands out a NULL pointer for a zero-length str; found by
     * fuzz_msgpack (UBSan: memchr on NULL). */
    cara_env *env = cara_test_env();
    doc dc;
    doc_init(&dc, env);
    doc_node *root;
    CHECK_OK(mp_tree(&dc, "\xa0", 1, &root));
    CHECK_INT(root->scalar, ==, DOC_STR);
    CHECK_INT(root->len, ==, 0);
    CHECK_STR(root->text, "");
    doc_free(&dc);
}
