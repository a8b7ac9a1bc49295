/*
 * Feeds arbitrary bytes to the manifest reader. Every Project it accepts
 * must survive the round trips the CLI and the cluster rely on: canonical
 * msgpack (encode, decode, equal, same bytes again), JSON (to_json,
 * from_json, equal) and YAML (to_yaml, parse, equal).
 */
#include <string.h>

#include "fuzz_common.h"

static void check_msgpack(cara_env *env, const cara_project *p)
{
    cara_buf b;
    cara_buf_init(&b, env, CARA_SPEC_BYTES_MAX);
    int rc = cara_project_encode(p, &b);
    /* A manifest may hold a project whose record is over the spec cap. */
    FUZZ_CHECK(rc == 0 || rc == CARA_ETOOBIG);
    if (rc == 0) {
        cara_project *q = NULL;
        FUZZ_CHECK(cara_project_decode(env, b.data, b.len, NULL, &q) == 0);
        FUZZ_CHECK(cara_project_equal(p, q));
        cara_buf again;
        cara_buf_init(&again, env, CARA_SPEC_BYTES_MAX);
        FUZZ_CHECK(cara_project_encode(q, &again) == 0);
        FUZZ_CHECK(again.len == b.len && memcmp(again.data, b.data, b.len) == 0);
        cara_buf_free(&again);
        cara_project_free(env, q);
    }
    cara_buf_free(&b);
}

static void check_json_and_yaml(cara_env *env, const cara_project *p)
{
    json_t *j = cara_project_to_json(p, NULL);
    FUZZ_CHECK(j != NULL);
    cara_diags d;
    cara_diags_init(&d, env, "json");
    cara_project *q = NULL;
    FUZZ_CHECK(cara_project_from_json(env, j, &d, &q) == 0);
    FUZZ_CHECK(cara_project_equal(p, q));
    cara_project_free(env, q);
    cara_diags_free(&d);

    cara_buf y;
    cara_buf_init(&y, env, CARA_MANIFEST_BYTES_MAX);
    FUZZ_CHECK(cara_json_to_yaml(j, &y) == 0);
    cara_diags_init(&d, env, "yaml");
    cara_project **ps = NULL;
    size_t n = 0;
    int rc = cara_manifest_parse(env, (const char *)y.data, y.len, &d, &ps, &n);
    if (rc != 0)
        fprintf(stderr, "re-reading our own YAML failed:\n%s\n", (const char *)y.data);
    FUZZ_CHECK(rc == 0 && n == 1);
    FUZZ_CHECK(cara_project_equal(p, ps[0]));
    cara_project_free(env, ps[0]);
    cara_env_free(env, ps);
    cara_diags_free(&d);
    cara_buf_free(&y);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    cara_diags d;
    cara_diags_init(&d, env, "fuzz.yaml");
    cara_project **ps = NULL;
    size_t n = 0;
    int rc = cara_manifest_parse(env, (const char *)data, size, &d, &ps, &n);
    if (rc != 0) {
        FUZZ_CHECK(ps == NULL && n == 0);
        FUZZ_CHECK(d.count > 0 || d.truncated);
    }
    for (size_t i = 0; i < n; i++) {
        check_msgpack(env, ps[i]);
        check_json_and_yaml(env, ps[i]);
        cara_project_free(env, ps[i]);
    }
    cara_env_free(env, ps);
    cara_diags_free(&d);
    return 0;
}
