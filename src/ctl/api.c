#include "ctl/api.h"

#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

bool ctl_name_valid(const char *name)
{
    /* Project and node names are DNS labels (docs/manifest.md). */
    return cara_dns_label_valid(name, strlen(name));
}

int ctl_api_get(ctl_client *c, const char *target, bool allow_404, json_t **out)
{
    *out = NULL;
    cara_buf resp;
    cara_buf_init(&resp, c->env, CTL_RESPONSE_BYTES_MAX);
    long status = 0;
    int rc = ctl_http_call(c, "GET", target, NULL, 0, &status, &resp);
    if (rc == 0 && status == 404 && allow_404) {
        /* nothing there */
    } else if (rc == 0 && status != 200) {
        rc = ctl_http_report(status, &resp);
    } else if (rc == 0) {
        *out = ctl_http_json(&resp);
        rc = *out != NULL ? 0 : CTL_EXIT_FAIL;
    }
    cara_buf_free(&resp);
    return rc;
}

int ctl_api_project(ctl_client *c, const char *name, json_t **out)
{
    char target[64 + CARA_CRDT_KEY_BYTES_MAX];
    snprintf(target, sizeof target, "/v1/projects/%s", name);
    return ctl_api_get(c, target, true, out);
}

uint64_t ctl_project_generation(const json_t *project)
{
    json_t *g = ctl_jget(project, "metadata", "generation", NULL);
    return json_is_integer(g) && json_integer_value(g) > 0 ? (uint64_t)json_integer_value(g) : 0;
}

int ctl_record_body(ctl_client *c, int kind, const char *key, uint64_t generation,
                    const uint8_t *value, size_t value_len, char **body_out)
{
    *body_out = NULL;
    if (!c->have_key)
        return ctl_fail("no operator key to sign with");
    int64_t now_ms = cara_env_now_wall_ms(c->env);
    cara_crdt_record rec = {
        .kind = kind,
        .key = (const uint8_t *)key,
        .key_bytes = strlen(key),
        .generation = generation,
        .hlc = (uint64_t)now_ms << CARA_CRDT_HLC_COUNTER_BITS,
        .author = c->pk,
        .value = value,
        .value_bytes = value_len,
    };
    cara_buf env_buf;
    cara_buf_init(&env_buf, c->env, CARA_CRDT_RECORD_BYTES_MAX);
    int rc = cara_crdt_record_sign(&rec, c->sk, &env_buf);
    if (rc != 0) {
        cara_buf_free(&env_buf);
        return ctl_fail("cannot sign the record for \"%s\": %s", key, cara_strerror(rc));
    }
    size_t b64_len = sodium_base64_encoded_len(env_buf.len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    json_t *j = NULL;
    if (b64 != NULL) {
        sodium_bin2base64(b64, b64_len, env_buf.data, env_buf.len, sodium_base64_VARIANT_ORIGINAL);
        j = json_pack("{s:s}", "record", b64);
    }
    *body_out = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    free(b64);
    cara_buf_free(&env_buf);
    return *body_out != NULL ? 0 : ctl_fail("out of memory");
}

int ctl_api_send(ctl_client *c, const char *method, const char *target, const char *body,
                 long quiet_status, json_t **reply, long *status_out)
{
    *reply = NULL;
    cara_buf resp;
    cara_buf_init(&resp, c->env, CTL_RESPONSE_BYTES_MAX);
    long status = 0;
    int rc = ctl_http_call(c, method, target, body, strlen(body), &status, &resp);
    if (status_out != NULL)
        *status_out = status;
    if (rc == 0 && status == quiet_status) {
        *reply = ctl_http_json(&resp); /* the caller reads the error's fields */
        rc = CTL_EXIT_FAIL;
    } else if (rc == 0 && (status < 200 || status > 299)) {
        rc = ctl_http_report(status, &resp);
    }
    if (rc == 0) {
        *reply = ctl_http_json(&resp);
        rc = *reply != NULL ? 0 : CTL_EXIT_FAIL;
    }
    cara_buf_free(&resp);
    return rc;
}

static json_t *jget_va(const json_t *j, va_list ap)
{
    const char *k;
    while (j != NULL && (k = va_arg(ap, const char *)) != NULL)
        j = json_object_get(j, k);
    return (json_t *)j;
}

json_t *ctl_jget(const json_t *j, ...)
{
    va_list ap;
    va_start(ap, j);
    json_t *out = jget_va(j, ap);
    va_end(ap);
    return out;
}

const char *ctl_jstr(const json_t *j, ...)
{
    va_list ap;
    va_start(ap, j);
    json_t *out = jget_va(j, ap);
    va_end(ap);
    return json_string_value(out);
}

int ctl_parse_duration(const char *text, int64_t *ms_out)
{
    /* DIGITS[.DIGITS][ms|s|m|h]: no signs, exponents, hex or spaces. */
    size_t whole = strspn(text, "0123456789");
    if (whole == 0 || whole > 9)
        return -1;
    const char *p = text + whole;
    size_t frac = 0;
    if (*p == '.') {
        frac = strspn(p + 1, "0123456789");
        if (frac == 0 || frac > 3)
            return -1;
        p += 1 + frac;
    }
    double v = strtod(text, NULL);
    static const struct {
        const char *suffix;
        double ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            double ms = v * units[i].ms;
            if (ms < 1 || ms > 1e12)
                return -1; /* zero would be an immediate timeout */
            *ms_out = (int64_t)ms;
            return 0;
        }
    }
    return -1;
}

int ctl_check_durable(const json_t *reply, const char *what)
{
    json_int_t durable = json_integer_value(json_object_get(reply, "durable"));
    json_int_t wanted = json_integer_value(json_object_get(reply, "wanted"));
    if (wanted <= 0 || durable >= wanted)
        return 0;
    fprintf(stderr,
            "caravanctl: %s is held by %lld node%s of the %lld required; it keeps spreading to "
            "the others as they come back\n",
            what, (long long)durable, durable == 1 ? "" : "s", (long long)wanted);
    return CTL_EXIT_FAIL;
}
