/* Decoding of the {"record": BASE64} request body (api_body.h). */
#include "agent/api_body.h"

#include <jansson.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* libsodium 1.0.18 (Debian 12) reads a byte >= 0x80 as a base64 digit
 * (found by tests/fuzz/fuzz_api_body.c), so several strings would name one
 * record: the alphabet is checked here first. */
static bool base64_alphabet(const char *b64, size_t b64_len)
{
    for (size_t i = 0; i < b64_len; i++) {
        char c = b64[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

/* Decodes standard padded base64 into a new buffer from `env`. */
static int base64_decode(cara_env *env, const char *b64, size_t b64_len, uint8_t **out,
                         size_t *out_len)
{
    if (!base64_alphabet(b64, b64_len))
        return CARA_EPARSE;
    size_t cap = b64_len / 4 * 3 + 3;
    uint8_t *bytes = cara_env_alloc(env, cap);
    if (bytes == NULL)
        return CARA_ENOMEM;
    const char *end = NULL;
    size_t n = 0;
    if (sodium_base642bin(bytes, cap, b64, b64_len, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + b64_len) {
        cara_env_free(env, bytes);
        return CARA_EPARSE;
    }
    *out = bytes;
    *out_len = n;
    return 0;
}

int cara_api_body_record(cara_env *env, const uint8_t *body, size_t body_len, uint8_t **out,
                         size_t *out_len, char why[CARA_API_BODY_WHY_BYTES])
{
    CARA_ASSERT(out != NULL && out_len != NULL && why != NULL);
    CARA_ASSERT(body != NULL || body_len == 0);
    *out = NULL;
    *out_len = 0;
    why[0] = '\0';
    json_error_t jerr;
    json_t *j = json_loadb(body_len ? (const char *)body : "", body_len, 0, &jerr);
    if (j == NULL) {
        snprintf(why, CARA_API_BODY_WHY_BYTES, "body is not JSON: %s", jerr.text);
        return CARA_EPARSE;
    }
    json_t *rec = json_object_get(j, "record");
    int rc = CARA_EPARSE;
    if (!json_is_string(rec))
        snprintf(why, CARA_API_BODY_WHY_BYTES, "body lacks \"record\"");
    else if ((rc = base64_decode(env, json_string_value(rec), json_string_length(rec), out,
                                 out_len)) == CARA_EPARSE)
        snprintf(why, CARA_API_BODY_WHY_BYTES, "\"record\" is not base64");
    else if (rc == CARA_ENOMEM)
        snprintf(why, CARA_API_BODY_WHY_BYTES, "out of memory");
    json_decref(j);
    return rc;
}
