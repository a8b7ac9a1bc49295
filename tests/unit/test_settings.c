/* Cluster settings: the ClusterSettings document through every codec, its
 * canonical bytes, each validation rule with its exact message, refusals of
 * untrusted msgpack, a seeded property test, and the crdt's SETTINGS record
 * checked with the settings decoder. */
#include "crdt_util.h"
#include "spec/spec_int.h"
#include "spec_gen.h"

#define HEAD "apiVersion: caravanserai/v1\nkind: ClusterSettings\n"

static const char example_yaml[] =
    HEAD "environment: prod\n"
    "baseDomain: example.internal\n"
    "timers:\n"
    "  fenceTimeoutSeconds: 10\n"
    "  rescheduleGraceSeconds: 30\n"
    "  terminatingTimeoutSeconds: 60\n"
    "  tombstoneHorizonSeconds: 604800\n"
    "  clockSkewSeconds: 5\n";

static int parse(const char *text, cara_diags *d, cara_settings **out)
{
    cara_diags_init(d, cara_test_env(), "s.yaml");
    return cara_settings_parse(cara_test_env(), text, strlen(text), d, out);
}

static void print_diags(const cara_diags *d)
{
    char line[CARA_ERROR_BYTES_MAX * 2];
    for (size_t i = 0; i < d->count; i++) {
        cara_diags_format(d, i, line, sizeof line);
        fprintf(stderr, "  %s\n", line);
    }
}

static cara_settings *parse_ok(const char *text)
{
    cara_diags d;
    cara_settings *s = NULL;
    int rc = parse(text, &d, &s);
    print_diags(&d);
    CHECK_OK(rc);
    CHECK(s != NULL);
    CHECK_INT(d.count, ==, 0);
    cara_diags_free(&d);
    return s;
}

/* `text` must fail with `want_rc` and exactly one error, formatted `want`. */
static void check_one_error(const char *text, int want_rc, const char *want)
{
    cara_diags d;
    cara_settings *s = NULL;
    int rc = parse(text, &d, &s);
    if (d.count != 1)
        print_diags(&d);
    CHECK_RC(rc, want_rc);
    CHECK(s == NULL);
    CHECK_INT(d.count, ==, 1);
    char line[CARA_ERROR_BYTES_MAX * 2];
    cara_diags_format(&d, 0, line, sizeof line);
    CHECK_STR(line, want);
    cara_diags_free(&d);
}

static void encode(const cara_settings *s, cara_buf *b)
{
    cara_buf_init(b, cara_test_env(), CARA_SETTINGS_BYTES_MAX);
    CHECK_OK(cara_settings_encode(s, b));
}

/* msgpack -> model -> JSON -> model -> YAML -> model, each equal to `s`,
 * and the bytes of the last identical to the first. */
static void check_round_trips(const cara_settings *s)
{
    cara_env *env = cara_test_env();
    cara_buf b0, b1, y;
    encode(s, &b0);
    cara_settings *from_mp = NULL;
    CHECK_OK(cara_settings_decode(env, b0.data, b0.len, NULL, &from_mp));
    CHECK(cara_settings_equal(s, from_mp));
    json_t *j = cara_settings_to_json(from_mp);
    CHECK(j != NULL);
    cara_settings *from_json = NULL;
    CHECK_OK(cara_settings_from_json(env, j, NULL, &from_json));
    CHECK(cara_settings_equal(s, from_json));
    cara_buf_init(&y, env, CARA_MANIFEST_BYTES_MAX);
    CHECK_OK(cara_json_to_yaml(j, &y));
    cara_settings *from_yaml = parse_ok((const char *)y.data);
    CHECK(cara_settings_equal(s, from_yaml));
    encode(from_yaml, &b1);
    CHECK_MEM(b1.data, b1.len, b0.data, b0.len);
    cara_buf_free(&b1);
    cara_buf_free(&y);
    cara_settings_free(env, from_yaml);
    cara_settings_free(env, from_json);
    json_decref(j);
    cara_settings_free(env, from_mp);
    cara_buf_free(&b0);
}

TEST(settings_example_binds_and_survives_every_format)
{
    cara_settings *s = parse_ok(example_yaml);
    CHECK_STR(s->environment, "prod");
    CHECK_STR(s->base_domain, "example.internal");
    CHECK_INT(s->timers.fence_timeout_s, ==, 10);
    CHECK_INT(s->timers.reschedule_grace_s, ==, 30);
    CHECK_INT(s->timers.terminating_timeout_s, ==, 60);
    CHECK_INT(s->timers.tombstone_horizon_s, ==, 604800);
    CHECK_INT(s->timers.clock_skew_s, ==, 5);
    check_round_trips(s);
    cara_settings_free(cara_test_env(), s);
}

TEST(settings_defaults_fill_absent_timers_and_are_valid)
{
    cara_settings_timers def;
    cara_settings_timers_default(&def);
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "defaults");
    cara_settings s = {.environment = "prod", .base_domain = "example.internal", .timers = def};
    CHECK_OK(cara_settings_validate(&s, &d)); /* the defaults keep every rule */
    cara_diags_free(&d);

    cara_settings *none = parse_ok(HEAD "environment: prod\nbaseDomain: example.internal\n");
    cara_settings *some = parse_ok(HEAD "environment: prod\nbaseDomain: example.internal\n"
                                        "timers: {clockSkewSeconds: 5}\n");
    cara_settings *all = parse_ok(example_yaml);
    CHECK(memcmp(&none->timers, &def, sizeof def) == 0);
    CHECK(cara_settings_equal(none, all));
    CHECK(cara_settings_equal(some, all));
    cara_settings *partial = parse_ok(HEAD "environment: prod\nbaseDomain: example.internal\n"
                                           "timers: {fenceTimeoutSeconds: 12}\n");
    CHECK_INT(partial->timers.fence_timeout_s, ==, 12);
    CHECK_INT(partial->timers.reschedule_grace_s, ==, CARA_SETTINGS_GRACE_SECONDS_DEFAULT);
    CHECK(!cara_settings_equal(partial, all));
    cara_env *env = cara_test_env();
    cara_settings_free(env, partial);
    cara_settings_free(env, all);
    cara_settings_free(env, some);
    cara_settings_free(env, none);
}

/* ---- Canonical bytes ------------------------------------------------------------------- */

static void mp_str(cara_buf *b, const char *s)
{
    uint8_t h = (uint8_t)(0xa0 | strlen(s));
    CHECK(strlen(s) < 32);
    CHECK_OK(cara_buf_append(b, &h, 1));
    CHECK_OK(cara_buf_append(b, s, strlen(s)));
}

static void mp_raw(cara_buf *b, const char *bytes, size_t len)
{
    CHECK_OK(cara_buf_append(b, bytes, len));
}

/* The canonical form written by hand from docs/encoding.md's rules: keys
 * sorted bytewise, integers shortest, every timer present. */
static void expected_bytes(cara_buf *b)
{
    cara_buf_init(b, cara_test_env(), CARA_SETTINGS_BYTES_MAX);
    mp_raw(b, "\x85", 1);
    mp_str(b, "apiVersion"), mp_str(b, "caravanserai/v1");
    mp_str(b, "baseDomain"), mp_str(b, "example.internal");
    mp_str(b, "environment"), mp_str(b, "prod");
    mp_str(b, "kind"), mp_str(b, "ClusterSettings");
    mp_str(b, "timers"), mp_raw(b, "\x85", 1);
    mp_str(b, "clockSkewSeconds"), mp_raw(b, "\x05", 1);               /* 5: fixint */
    mp_str(b, "fenceTimeoutSeconds"), mp_raw(b, "\x0a", 1);            /* 10 */
    mp_str(b, "rescheduleGraceSeconds"), mp_raw(b, "\x1e", 1);         /* 30 */
    mp_str(b, "terminatingTimeoutSeconds"), mp_raw(b, "\x3c", 1);      /* 60 */
    mp_str(b, "tombstoneHorizonSeconds"), mp_raw(b, "\xce\x00\x09\x3a\x80", 5); /* uint32 */
}

TEST(settings_encode_to_the_documented_canonical_bytes_whatever_the_style)
{
    static const char *const variants[] = {
        HEAD "environment: prod\nbaseDomain: example.internal\n",
        "timers: {clockSkewSeconds: 5, fenceTimeoutSeconds: \"10\"}\n"
        "baseDomain: 'example.internal'\nkind: ClusterSettings\nenvironment: prod\n"
        "apiVersion: caravanserai/v1\n",
        "{\"apiVersion\": \"caravanserai/v1\", \"kind\": \"ClusterSettings\", \"environment\": "
        "\"prod\", \"baseDomain\": \"example.internal\", \"timers\": {\"tombstoneHorizonSeconds\": "
        "604800, \"rescheduleGraceSeconds\": 30}}\n",
        HEAD "environment: prod\nbaseDomain: example.internal\ntimers: ~\n",
    };
    cara_buf want;
    expected_bytes(&want);
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        cara_settings *s = parse_ok(variants[i]);
        cara_buf got;
        encode(s, &got);
        CHECK_MEM(got.data, got.len, want.data, want.len);
        cara_buf_free(&got);
        cara_settings_free(cara_test_env(), s);
    }
    cara_settings *s = NULL;
    CHECK_OK(cara_settings_decode(cara_test_env(), want.data, want.len, NULL, &s));
    cara_settings_free(cara_test_env(), s);
    cara_buf_free(&want);
}

/* ---- Validation, one rule at a time ------------------------------------------------------ */

#define NAMES "environment: prod\nbaseDomain: example.internal\n"

TEST(settings_names_are_required_and_well_formed)
{
    check_one_error(HEAD "baseDomain: example.internal\n", CARA_ESCHEMA,
                    "s.yaml:1:1: environment: required field is missing");
    check_one_error(HEAD "environment: prod\n", CARA_ESCHEMA,
                    "s.yaml:1:1: baseDomain: required field is missing");
    check_one_error(HEAD "environment: Prod\nbaseDomain: example.internal\n", CARA_ESCHEMA,
                    "s.yaml:3:1: environment: \"Prod\" is not a DNS label (lowercase letters, "
                    "digits and '-', 1 to 63 characters, starting and ending with a letter or "
                    "digit)");
    check_one_error(HEAD "environment: prod.eu\nbaseDomain: example.internal\n", CARA_ESCHEMA,
                    "s.yaml:3:1: environment: \"prod.eu\" is not a DNS label (lowercase letters, "
                    "digits and '-', 1 to 63 characters, starting and ending with a letter or "
                    "digit)");
    check_one_error(HEAD "environment: prod\nbaseDomain: example..internal\n", CARA_ESCHEMA,
                    "s.yaml:4:1: baseDomain: \"example..internal\" is not a DNS name (DNS labels "
                    "separated by dots, at most 253 characters)");
    check_one_error(HEAD "environment: prod\nbaseDomain: example.internal.\n", CARA_ESCHEMA,
                    "s.yaml:4:1: baseDomain: \"example.internal.\" is not a DNS name (DNS labels "
                    "separated by dots, at most 253 characters)");
    check_one_error(HEAD "environment: ~\nbaseDomain: example.internal\n", CARA_ESCHEMA,
                    "s.yaml:3:1: environment: required field has no value");
}

/* Builds "environment: e\nbaseDomain: <labels of 63 bytes>.x" where the
 * names total `names_bytes` bytes. */
static void names_of(char *out, size_t cap, size_t names_bytes)
{
    char base[CARA_HOSTNAME_BYTES_MAX + 1];
    size_t want = names_bytes - 1; /* environment is "e" */
    size_t used = 0;
    while (used < want) {
        if (used > 0)
            base[used++] = '.';
        size_t len = want - used > 40 ? 40 : want - used;
        memset(base + used, 'b', len);
        used += len;
    }
    base[used] = '\0';
    snprintf(out, cap, HEAD "environment: e\nbaseDomain: %s\n", base);
}

TEST(settings_names_leave_room_for_a_63_byte_host_label)
{
    /* 63 + '.' + names + '.' = 253 when names (environment + baseDomain)
     * total 188 bytes. */
    char text[1024];
    names_of(text, sizeof text, 188);
    cara_settings *s = parse_ok(text);
    char fqdn[CARA_HOSTNAME_BYTES_MAX + 1], label[CARA_NAME_BYTES_MAX + 1];
    memset(label, 'h', CARA_NAME_BYTES_MAX);
    label[CARA_NAME_BYTES_MAX] = '\0';
    CHECK_OK(cara_ingress_fqdn(label, s->environment, s->base_domain, fqdn));
    CHECK_INT(strlen(fqdn), ==, CARA_HOSTNAME_BYTES_MAX);
    cara_settings_free(cara_test_env(), s);
    names_of(text, sizeof text, 189);
    check_one_error(text, CARA_ESCHEMA,
                    "s.yaml:4:1: baseDomain: leaves no room for ingress hosts: \"{63-byte "
                    "label}.{environment}.{baseDomain}\" would be 254 bytes, over the 253 of a "
                    "DNS name (environment and baseDomain may total 188 bytes)");
}

TEST(settings_timers_are_within_their_ranges)
{
    static const struct {
        const char *field;
        long long lo, hi;
        int line;
    } t[] = {
        {"fenceTimeoutSeconds", CARA_SETTINGS_FENCE_SECONDS_MIN, CARA_SETTINGS_FENCE_SECONDS_MAX},
        {"rescheduleGraceSeconds", CARA_SETTINGS_GRACE_SECONDS_MIN,
         CARA_SETTINGS_GRACE_SECONDS_MAX},
        {"terminatingTimeoutSeconds", CARA_SETTINGS_TERMINATING_SECONDS_MIN,
         CARA_SETTINGS_TERMINATING_SECONDS_MAX},
        {"tombstoneHorizonSeconds", CARA_SETTINGS_HORIZON_SECONDS_MIN,
         CARA_SETTINGS_HORIZON_SECONDS_MAX},
        {"clockSkewSeconds", CARA_SETTINGS_SKEW_SECONDS_MIN, CARA_SETTINGS_SKEW_SECONDS_MAX},
    };
    /* The other timers are set so that the relation rules hold at either
     * end of the range under test, and only the range is reported. */
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        for (int end = 0; end < 2; end++) {
            long long bad = end ? t[i].hi + 1 : t[i].lo - 1;
            char text[512], want[512];
            snprintf(text, sizeof text, HEAD NAMES "timers:\n  %s: %lld\n", t[i].field, bad);
            snprintf(want, sizeof want,
                     "s.yaml:6:3: timers.%s: must be between %lld and %lld, got %lld", t[i].field,
                     t[i].lo, t[i].hi, bad);
            check_one_error(text, CARA_ESCHEMA, want);
        }
    }
    check_one_error(HEAD NAMES "timers: {clockSkewSeconds: 4294967296}\n", CARA_ESCHEMA,
                    "s.yaml:5:10: timers.clockSkewSeconds: must be between 0 and 4294967295, got "
                    "4294967296");
    check_one_error(HEAD NAMES "timers: {clockSkewSeconds: 1.5}\n", CARA_ESCHEMA,
                    "s.yaml:5:10: timers.clockSkewSeconds: must be an integer, got \"1.5\"");
    check_one_error(HEAD NAMES "timers: [30]\n", CARA_ESCHEMA,
                    "s.yaml:5:1: timers: must be a mapping, got a list");
}

TEST(settings_grace_outlasts_the_fence_by_more_than_the_clock_skew)
{
    /* Grace equal to the fence. */
    check_one_error(HEAD NAMES "timers: {fenceTimeoutSeconds: 60, rescheduleGraceSeconds: 60}\n",
                    CARA_ESCHEMA,
                    "s.yaml:5:35: timers.rescheduleGraceSeconds: must be greater than "
                    "fenceTimeoutSeconds (60), got 60: a node cut off from the cluster must stop "
                    "its projects before they start elsewhere");
    /* Grace beyond the fence by exactly the skew: not enough. */
    check_one_error(HEAD NAMES "timers: {fenceTimeoutSeconds: 30, rescheduleGraceSeconds: 90, "
                               "clockSkewSeconds: 60}\n",
                    CARA_ESCHEMA,
                    "s.yaml:5:35: timers.rescheduleGraceSeconds: must exceed fenceTimeoutSeconds "
                    "(30) by more than clockSkewSeconds (60), got 90: clocks that far apart could "
                    "start a project elsewhere before its old node has stopped it");
    /* With the default fence (10) and skew (5), a grace of 15 is refused... */
    check_one_error(HEAD NAMES "timers: {rescheduleGraceSeconds: 15}\n", CARA_ESCHEMA,
                    "s.yaml:5:10: timers.rescheduleGraceSeconds: must exceed fenceTimeoutSeconds "
                    "(10) by more than clockSkewSeconds (5), got 15: clocks that far apart could "
                    "start a project elsewhere before its old node has stopped it");
    /* ...and one second more than the skew is enough. */
    cara_settings *s = parse_ok(HEAD NAMES "timers: {rescheduleGraceSeconds: 16}\n");
    cara_settings_free(cara_test_env(), s);
    s = parse_ok(HEAD NAMES "timers: {rescheduleGraceSeconds: 60, clockSkewSeconds: 49}\n");
    cara_settings_free(cara_test_env(), s);
}

TEST(settings_document_shape_is_checked_like_a_manifest)
{
    check_one_error("apiVersion: caravanserai/v1\nkind: Project\n" NAMES, CARA_ESCHEMA,
                    "s.yaml:2:1: kind: must be \"ClusterSettings\", got \"Project\"");
    check_one_error("apiVersion: v1\nkind: ClusterSettings\n" NAMES, CARA_ESCHEMA,
                    "s.yaml:1:1: apiVersion: must be \"caravanserai/v1\", got \"v1\"");
    check_one_error(HEAD NAMES "baseDomian: x\n", CARA_ESCHEMA,
                    "s.yaml:5:1: baseDomian: unknown field (did you mean \"baseDomain\"?)");
    check_one_error(HEAD NAMES "timers: {fence: 30}\n", CARA_ESCHEMA,
                    "s.yaml:5:10: timers.fence: unknown field (did you mean "
                    "\"fenceTimeoutSeconds\"?)");
    check_one_error(HEAD NAMES "environment: dev\n", CARA_ESCHEMA,
                    "s.yaml:5:1: environment: duplicate key (first at line 3)");
    check_one_error(HEAD NAMES "---\n" HEAD NAMES, CARA_EPARSE,
                    "s.yaml:6:1: a settings file holds one document, found a second");
    check_one_error("", CARA_EPARSE, "s.yaml: no ClusterSettings in the file (it has no documents)");
    check_one_error("- a\n", CARA_ESCHEMA, "s.yaml:1:1: a document must be a mapping, got a list");
}

TEST(settings_report_every_problem_at_once)
{
    cara_diags d;
    cara_settings *s = NULL;
    CHECK_RC(parse(HEAD "environment: Prod\nbaseDomain: -x\nextra: 1\n"
                        "timers: {fenceTimeoutSeconds: 1, clockSkewSeconds: 601}\n",
                   &d, &s),
             CARA_ESCHEMA);
    CHECK(s == NULL);
    CHECK_INT(d.count, ==, 5);
    CHECK_STR(d.items[0].path, "environment");
    CHECK_STR(d.items[1].path, "baseDomain");
    CHECK_STR(d.items[2].path, "extra");
    CHECK_STR(d.items[3].path, "timers.fenceTimeoutSeconds");
    CHECK_STR(d.items[4].path, "timers.clockSkewSeconds");
    cara_diags_free(&d);
}

/* ---- Untrusted msgpack -------------------------------------------------------------------- */

static int decode(const void *bytes, size_t len)
{
    cara_env *env = cara_test_env();
    cara_diags d;
    cara_diags_init(&d, env, "<msgpack>");
    cara_settings *s = NULL;
    int rc = cara_settings_decode(env, bytes, len, &d, &s);
    CHECK(rc == 0 ? s != NULL && d.count == 0 : s == NULL && d.count > 0);
    cara_settings_free(env, s);
    cara_diags_free(&d);
    return rc;
}

static int decode_json(const json_t *j)
{
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), CARA_SETTINGS_BYTES_MAX);
    CHECK_OK(spec_json_to_msgpack(j, CARA_SETTINGS_BYTES_MAX, &b));
    int rc = decode(b.data, b.len);
    cara_buf_free(&b);
    return rc;
}

static json_t *example_json(void)
{
    cara_settings *s = parse_ok(example_yaml);
    json_t *j = cara_settings_to_json(s);
    cara_settings_free(cara_test_env(), s);
    return j;
}

TEST(settings_decode_refuses_broken_framing_and_oversized_records)
{
    cara_buf b;
    expected_bytes(&b);
    CHECK_OK(decode(b.data, b.len));
    for (size_t len = 0; len < b.len; len++)
        CHECK_RC(decode(b.data, len), CARA_EPARSE);
    CHECK_OK(cara_buf_append(&b, "\xc0", 1));
    CHECK_RC(decode(b.data, b.len), CARA_EPARSE);
    CHECK_RC(decode("\xdf\xff\xff\xff\xff", 5), CARA_EPARSE);
    cara_buf_free(&b);
    static uint8_t big[CARA_SETTINGS_BYTES_MAX + 1];
    CHECK_RC(decode(big, sizeof big), CARA_ETOOBIG);
}

TEST(settings_decode_refuses_schema_and_rule_violations)
{
    CHECK_RC(decode("\x90", 1), CARA_ESCHEMA);
    json_t *j = example_json();
    json_object_set_new(j, "kind", json_string("Project"));
    CHECK_RC(decode_json(j), CARA_ESCHEMA);
    json_decref(j);
    j = example_json();
    json_object_set_new(j, "region", json_string("eu"));
    CHECK_RC(decode_json(j), CARA_ESCHEMA);
    json_decref(j);
    j = example_json();
    json_object_set_new(json_object_get(j, "timers"), "rescheduleGraceSeconds", json_integer(15));
    CHECK_RC(decode_json(j), CARA_ESCHEMA);
    json_decref(j);
    j = example_json();
    json_object_set_new(json_object_get(j, "timers"), "clockSkewSeconds", json_string("5"));
    CHECK_RC(decode_json(j), CARA_ENONCANON); /* a string where the writer puts an integer */
    json_decref(j);
    j = example_json();
    json_object_set_new(j, "environment", json_integer(7));
    CHECK_RC(decode_json(j), CARA_ENONCANON); /* binds as "7", re-encodes as a string */
    json_decref(j);
}

TEST(settings_decode_refuses_other_spellings_of_the_same_settings)
{
    /* Timers left out: the same settings, but not the canonical bytes. */
    json_t *j = example_json();
    json_object_del(j, "timers");
    CHECK_RC(decode_json(j), CARA_ENONCANON);
    json_decref(j);
    j = example_json();
    json_object_del(json_object_get(j, "timers"), "clockSkewSeconds");
    CHECK_RC(decode_json(j), CARA_ENONCANON);
    json_decref(j);
    /* A wider integer than needed: 5 as uint16. */
    cara_buf b;
    expected_bytes(&b);
    const uint8_t *at = memmem(b.data, b.len, "clockSkewSeconds\x05", 17);
    CHECK(at != NULL);
    size_t off = (size_t)(at - b.data) + 16;
    cara_buf wide;
    cara_buf_init(&wide, cara_test_env(), CARA_SETTINGS_BYTES_MAX);
    mp_raw(&wide, (const char *)b.data, off);
    mp_raw(&wide, "\xcd\x00\x05", 3);
    mp_raw(&wide, (const char *)b.data + off + 1, b.len - off - 1);
    CHECK_RC(decode(wide.data, wide.len), CARA_ENONCANON);
    /* Keys out of order: swap "apiVersion" and "baseDomain" pairs. */
    cara_buf swapped;
    cara_buf_init(&swapped, cara_test_env(), CARA_SETTINGS_BYTES_MAX);
    mp_raw(&swapped, "\x85", 1);
    mp_str(&swapped, "baseDomain"), mp_str(&swapped, "example.internal");
    mp_str(&swapped, "apiVersion"), mp_str(&swapped, "caravanserai/v1");
    size_t rest = 1 + 11 + 16 + 11 + 17; /* header and the two pairs */
    mp_raw(&swapped, (const char *)b.data + rest, b.len - rest);
    CHECK_INT(swapped.len, ==, b.len);
    CHECK_RC(decode(swapped.data, swapped.len), CARA_ENONCANON);
    cara_buf_free(&swapped);
    cara_buf_free(&wide);
    cara_buf_free(&b);
}

/* ---- Properties ---------------------------------------------------------------------------- */

TEST(property_settings_validate_and_round_trip_through_every_format)
{
    cara_env *env = cara_test_env();
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    cara_buf a, b;
    cara_buf_init(&a, env, CARA_SETTINGS_BYTES_MAX);
    cara_buf_init(&b, env, CARA_SETTINGS_BYTES_MAX);
    for (int i = 0; i < 3000; i++) {
        cara_settings *s = gen_settings(env, &rng);
        cara_diags d;
        cara_diags_init(&d, env, "gen");
        int rc = cara_settings_validate(s, &d);
        if (rc != 0)
            print_diags(&d);
        CHECK_OK(rc);
        cara_diags_free(&d);
        cara_buf_reset(&a);
        cara_buf_reset(&b);
        CHECK_OK(cara_settings_encode(s, &a));
        cara_settings *t = NULL;
        CHECK_OK(cara_settings_decode(env, a.data, a.len, NULL, &t));
        CHECK(cara_settings_equal(s, t));
        CHECK_OK(cara_settings_encode(t, &b));
        CHECK_MEM(b.data, b.len, a.data, a.len);
        if (i % 10 == 0)
            check_round_trips(s);
        cara_settings_free(env, t);
        cara_settings_free(env, s);
    }
    cara_buf_free(&b);
    cara_buf_free(&a);
}

/* ---- The crdt's SETTINGS record ----------------------------------------------------------- */

/* The check the agent plugs into the crdt for this kind. */
static int settings_value_ok(void *ctx, int kind, const uint8_t *key, size_t key_bytes,
                             const uint8_t *value, size_t len)
{
    (void)ctx, (void)key, (void)key_bytes;
    if (kind != CARA_CRDT_SETTINGS)
        return 0;
    cara_settings *s = NULL;
    int rc = cara_settings_decode(cara_test_env(), value, len, NULL, &s);
    cara_settings_free(cara_test_env(), s);
    return rc;
}

TEST(settings_record_carries_validated_settings)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    const uint8_t(*pks)[CARA_CRDT_PK_BYTES] = &op.pk;
    cara_crdt_cfg cfg = {.operator_pks = pks, .operator_pks_count = 1,
                         .validate_value = settings_value_ok};
    cara_crdt *c = NULL;
    CHECK_OK(cara_crdt_new(&c, &cfg, cara_test_env()));
    int64_t now_ms = 1700000000000LL;
    uint64_t hlc = (uint64_t)now_ms << CARA_CRDT_HLC_COUNTER_BITS;
    cara_buf good, rec;
    expected_bytes(&good);
    /* A value the settings decoder refuses: grace no longer than the fence. */
    json_t *j = example_json();
    json_object_set_new(json_object_get(j, "timers"), "rescheduleGraceSeconds", json_integer(10));
    cara_buf bad;
    cara_buf_init(&bad, cara_test_env(), CARA_SETTINGS_BYTES_MAX);
    CHECK_OK(spec_json_to_msgpack(j, CARA_SETTINGS_BYTES_MAX, &bad));
    json_decref(j);
    trec(&rec, CARA_CRDT_SETTINGS, "cluster", 1, hlc, &op, bad.data, bad.len);
    CHECK_RC(cara_crdt_apply(c, rec.data, rec.len, now_ms, NULL), CARA_ESCHEMA);
    cara_buf_free(&rec);
    trec(&rec, CARA_CRDT_SETTINGS, "cluster", 1, hlc, &op, good.data, good.len);
    int result = 0;
    CHECK_OK(cara_crdt_apply(c, rec.data, rec.len, now_ms, &result));
    CHECK_INT(result, ==, CARA_CRDT_APPLIED);
    cara_crdt_record got;
    CHECK_OK(cara_crdt_get(c, CARA_CRDT_SETTINGS, (const uint8_t *)"cluster", 7, &got));
    CHECK_MEM(got.value, got.value_bytes, good.data, good.len);
    cara_crdt_stats st;
    cara_crdt_stats_get(c, &st);
    CHECK_INT(st.rejected[CARA_CRDT_R_INVALID_VALUE], ==, 1);
    cara_buf_free(&rec);
    cara_buf_free(&bad);
    cara_buf_free(&good);
    cara_crdt_free(c);
}
