/*
 * Feeds arbitrary bytes to cara_api_body_record as the body of a PUT or
 * DELETE /v1/projects/NAME. An accepted body names one record, and names
 * it one way: the standard base64 of the decoded bytes is exactly the
 * string the body held, and a body written afresh around it decodes to the
 * same bytes. A refused body hands out nothing (NULL, 0), says why, and is
 * refused the same way a second time.
 */
#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "agent/api_body.h"
#include "fuzz_common.h"

/* The base64 of `bytes` is exactly the "record" string of `data`. */
static void check_canonical(cara_env *env, const uint8_t *data, size_t size,
                            const uint8_t *bytes, size_t n)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    FUZZ_CHECK(j != NULL);
    json_t *s = json_object_get(j, "record");
    FUZZ_CHECK(json_is_string(s));
    size_t enc_len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *enc = cara_env_alloc(env, enc_len);
    FUZZ_CHECK(enc != NULL);
    sodium_bin2base64(enc, enc_len, bytes, n, sodium_base64_VARIANT_ORIGINAL);
    FUZZ_CHECK(strlen(enc) == json_string_length(s) &&
               memcmp(enc, json_string_value(s), strlen(enc)) == 0);
    /* Written afresh, the body decodes to the same bytes. */
    json_t *again = json_pack("{s:s}", "record", enc);
    char *text = json_dumps(again, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    uint8_t *bytes2 = NULL;
    size_t n2 = 0;
    char why[CARA_API_BODY_WHY_BYTES];
    FUZZ_CHECK(cara_api_body_record(env, (const uint8_t *)text, strlen(text), &bytes2, &n2,
                                    why) == 0);
    FUZZ_CHECK(n2 == n && (n == 0 || memcmp(bytes2, bytes, n) == 0));
    cara_env_free(env, bytes2);
    free(text);
    json_decref(again);
    cara_env_free(env, enc);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    uint8_t *bytes = (uint8_t *)"sentinel";
    size_t n = 99;
    char why[CARA_API_BODY_WHY_BYTES] = "sentinel";
    int rc = cara_api_body_record(env, size ? data : NULL, size, &bytes, &n, why);
    FUZZ_CHECK(rc == 0 || rc == CARA_EPARSE || rc == CARA_ENOMEM);
    if (rc != 0) {
        FUZZ_CHECK(bytes == NULL && n == 0 && why[0] != '\0');
        FUZZ_CHECK(strnlen(why, sizeof why) < sizeof why);
        char why2[CARA_API_BODY_WHY_BYTES];
        FUZZ_CHECK(cara_api_body_record(env, size ? data : NULL, size, &bytes, &n, why2) == rc);
        FUZZ_CHECK(strcmp(why, why2) == 0);
        return 0;
    }
    FUZZ_CHECK(why[0] == '\0' && (bytes != NULL || n == 0));
    check_canonical(env, data, size, bytes, n);
    cara_env_free(env, bytes);
    return 0;
}
