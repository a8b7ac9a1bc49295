/*
 * Feeds arbitrary bytes to the four msgpack decoders (project, status,
 * node, cluster settings). Beyond "no crash, no
 * leak, no undefined behaviour", it checks the canonical-form promise: any
 * bytes a decoder accepts must be exactly what the encoder writes for the
 * decoded object, and decoding them again gives an equal object.
 */
#include <string.h>

#include "fuzz_common.h"

static void check_project(cara_env *env, const uint8_t *data, size_t size)
{
    cara_project *p = NULL;
    if (cara_project_decode(env, data, size, NULL, &p) != 0) {
        FUZZ_CHECK(p == NULL);
        return;
    }
    cara_buf b;
    cara_buf_init(&b, env, CARA_SPEC_BYTES_MAX);
    FUZZ_CHECK(cara_project_encode(p, &b) == 0);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    cara_project *again = NULL;
    FUZZ_CHECK(cara_project_decode(env, b.data, b.len, NULL, &again) == 0);
    FUZZ_CHECK(cara_project_equal(p, again));
    cara_project_free(env, again);
    cara_buf_free(&b);
    cara_project_free(env, p);
}

static void check_status(cara_env *env, const uint8_t *data, size_t size)
{
    cara_project_status *s = NULL;
    if (cara_project_status_decode(env, data, size, NULL, &s) != 0) {
        FUZZ_CHECK(s == NULL);
        return;
    }
    cara_buf b;
    cara_buf_init(&b, env, CARA_STATUS_BYTES_MAX);
    FUZZ_CHECK(cara_project_status_encode(s, &b) == 0);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    cara_buf_free(&b);
    cara_project_status_free(env, s);
}

static void check_node(cara_env *env, const uint8_t *data, size_t size)
{
    cara_node *n = NULL;
    if (cara_node_decode(env, data, size, NULL, &n) != 0) {
        FUZZ_CHECK(n == NULL);
        return;
    }
    cara_buf b;
    cara_buf_init(&b, env, CARA_NODE_BYTES_MAX);
    FUZZ_CHECK(cara_node_encode(n, &b) == 0);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    cara_buf_free(&b);
    cara_node_free(env, n);
}

/* Settings also go through JSON: whatever the decoder accepts, the JSON
 * binder accepts as the same settings, and it satisfies validation. */
static void check_settings(cara_env *env, const uint8_t *data, size_t size)
{
    cara_settings *s = NULL;
    if (cara_settings_decode(env, data, size, NULL, &s) != 0) {
        FUZZ_CHECK(s == NULL);
        return;
    }
    cara_buf b;
    cara_buf_init(&b, env, CARA_SETTINGS_BYTES_MAX);
    FUZZ_CHECK(cara_settings_encode(s, &b) == 0);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    cara_diags d;
    cara_diags_init(&d, env, "fuzz");
    FUZZ_CHECK(cara_settings_validate(s, &d) == 0 && d.count == 0);
    json_t *j = cara_settings_to_json(s);
    FUZZ_CHECK(j != NULL);
    cara_settings *t = NULL;
    FUZZ_CHECK(cara_settings_from_json(env, j, &d, &t) == 0);
    FUZZ_CHECK(cara_settings_equal(s, t));
    char fqdn[CARA_HOSTNAME_BYTES_MAX + 1];
    FUZZ_CHECK(cara_ingress_fqdn("a23456789012345678901234567890123456789012345678901234567890123",
                                 s->environment, s->base_domain, fqdn) == 0);
    cara_settings_free(env, t);
    json_decref(j);
    cara_diags_free(&d);
    cara_buf_free(&b);
    cara_settings_free(env, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    check_project(env, data, size);
    check_status(env, data, size);
    check_node(env, data, size);
    check_settings(env, data, size);
    /* With diagnostics too: the error paths that format messages. */
    cara_diags d;
    cara_diags_init(&d, env, "fuzz");
    cara_project *p = NULL;
    if (cara_project_decode(env, data, size, &d, &p) != 0)
        FUZZ_CHECK(d.count > 0 || d.truncated);
    cara_project_free(env, p);
    cara_diags_free(&d);
    return 0;
}
