/* The {"record": BASE64} body of PUT and DELETE /v1/projects/NAME
 * (src/agent/api_body.c): what it accepts and the reasons it gives. */
#include "agent/api_body.h"
#include "harness.h"

static int decode(const char *body, uint8_t **out, size_t *n, char *why)
{
    return cara_api_body_record(cara_test_env(), (const uint8_t *)body, strlen(body), out, n,
                                why);
}

TEST(api_body_decodes_the_record_bytes)
{
    uint8_t *out = NULL;
    size_t n = 0;
    char why[CARA_API_BODY_WHY_BYTES];
    CHECK_OK(decode("{\"record\": \"AQID\", \"extra\": true}", &out, &n, why));
    CHECK_INT(n, ==, 3);
    CHECK_MEM(out, 3, "\x01\x02\x03", 3);
    CHECK_STR(why, "");
    cara_env_free(cara_test_env(), out);
}

TEST(api_body_refusals_say_why_and_hand_out_nothing)
{
    const char *bodies[][2] = {
        {"", "body is not JSON"},
        {"{\"record\": 5}", "body lacks \"record\""},
        {"[\"AQID\"]", "body lacks \"record\""},
        {"{\"record\": \"AQI\"}", "\"record\" is not base64"},     /* no padding */
        {"{\"record\": \"AQJ=\"}", "\"record\" is not base64"},    /* stray bits */
        {"{\"record\": \"AQ ID\"}", "\"record\" is not base64"},   /* whitespace */
        {"{\"record\": \"AQID\\u0000\"}", "body is not JSON"}, /* jansson refuses NUL */
        /* libsodium 1.0.18 alone takes bytes >= 0x80 as digits (the fuzzer
         * found it): two strings must not name one record. */
        {"{\"record\": \"kpaAAACx\xd5\x8bnOJAg=\"}", "\"record\" is not base64"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        uint8_t *out = (uint8_t *)"x";
        size_t n = 7;
        char why[CARA_API_BODY_WHY_BYTES];
        CHECK_RC(decode(bodies[i][0], &out, &n, why), CARA_EPARSE);
        CHECK(out == NULL && n == 0);
        CHECK(strncmp(why, bodies[i][1], strlen(bodies[i][1])) == 0);
    }
}
