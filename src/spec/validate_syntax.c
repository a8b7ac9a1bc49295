/*
 * Syntax of names the outside world defines: DNS labels and names (RFC
 * 1123), Docker image references (the grammar of distribution/reference),
 * Kubernetes label keys and values, environment variable names. Pure
 * functions on bytes.
 */
#include <stdio.h>
#include <string.h>

#include "spec/bind_int.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool cara_dns_label_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > CARA_NAME_BYTES_MAX)
        return false;
    if (s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool cara_dns_name_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > CARA_HOSTNAME_BYTES_MAX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!cara_dns_label_valid(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

int cara_ingress_fqdn(const char *host, const char *environment, const char *base_domain,
                      char out[CARA_HOSTNAME_BYTES_MAX + 1])
{
    CARA_ASSERT(host != NULL && out != NULL);
    int n;
    if (strchr(host, '.') != NULL) {
        n = snprintf(out, CARA_HOSTNAME_BYTES_MAX + 1, "%s", host);
    } else {
        if (environment == NULL || base_domain == NULL)
            return CARA_EINVAL;
        n = snprintf(out, CARA_HOSTNAME_BYTES_MAX + 1, "%s.%s.%s", host, environment, base_domain);
    }
    if (n < 0 || (size_t)n > CARA_HOSTNAME_BYTES_MAX) {
        out[0] = '\0';
        return CARA_ETOOBIG;
    }
    if (!cara_dns_name_valid(out, (size_t)n))
        return CARA_EINVAL;
    return 0;
}

/* ---- Kubernetes labels ---------------------------------------------------- */

/* 1..63 of [A-Za-z0-9_.-], starting and ending alphanumeric. */
static bool label_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > CARA_LABEL_VALUE_BYTES_MAX)
        return false;
    if (!is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool label_key_valid(const char *s, size_t len)
{
    if (s == NULL || len > CARA_LABEL_KEY_BYTES_MAX)
        return false;
    const char *slash = memchr(s, '/', len);
    if (slash == NULL)
        return label_name_valid(s, len);
    size_t prefix = (size_t)(slash - s);
    return cara_dns_name_valid(s, prefix) && label_name_valid(slash + 1, len - prefix - 1);
}

bool label_value_valid(const char *s, size_t len)
{
    return s != NULL && (len == 0 || label_name_valid(s, len));
}

bool env_name_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > CARA_ENV_NAME_BYTES_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '=')
            return false;
    return true;
}

/* ---- Docker image references ------------------------------------------------ */

/* path-component: [a-z0-9]+ joined by '.', '_', '__' or one or more '-'. */
static const char *path_component_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty path component";
    for (size_t i = 0; i < len; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return "repository name must be lowercase";
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
        return "path components must start and end with a letter or digit";
    for (size_t i = 0; i < len;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t run = 0;
        while (i + run < len && !is_lower_alnum(s[i + run]))
            run++;
        bool ok = (run == 1 && (s[i] == '.' || s[i] == '_')) ||
                  (run == 2 && s[i] == '_' && s[i + 1] == '_') ||
                  strspn(s + i, "-") >= run;
        if (!ok)
            return "repository name may only use lowercase letters, digits, '.', '_', '__' and '-'";
        i += run;
    }
    return NULL;
}

/* host[:port], the host as dot-separated components of [A-Za-z0-9-]. */
static bool domain_valid(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t host_len = colon ? (size_t)(colon - s) : len;
    if (colon != NULL) {
        size_t port_len = len - host_len - 1;
        if (port_len == 0 || port_len > 5)
            return false;
        for (size_t i = host_len + 1; i < len; i++)
            if (!is_digit(s[i]))
                return false;
    }
    size_t start = 0;
    for (size_t i = 0; i <= host_len; i++) {
        if (i == host_len || s[i] == '.') {
            size_t n = i - start;
            if (n == 0 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
                return false;
            for (size_t k = start; k < i; k++)
                if (!is_alnum(s[k]) && s[k] != '-')
                    return false;
            start = i + 1;
        }
    }
    return true;
}

static const char *tag_problem(const char *s, size_t len)
{
    if (len == 0 || len > 128)
        return "tag must be 1 to 128 characters";
    bool first_ok = is_alnum(s[0]) || s[0] == '_';
    for (size_t i = 0; i < len && first_ok; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return "tag may only use letters, digits, '_', '.' and '-'";
    return first_ok ? NULL : "tag must start with a letter, digit or '_'";
}

static const char *digest_problem(const char *s, size_t len)
{
    static const char want[] = "sha256:";
    size_t n = sizeof want - 1;
    if (len != n + 64 || memcmp(s, want, n) != 0)
        return "digest must be \"sha256:\" and 64 lowercase hex digits";
    for (size_t i = n; i < len; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return "digest must be \"sha256:\" and 64 lowercase hex digits";
    return NULL;
}

/* The first component is a registry when it has a '.' or ':' or is
 * "localhost" (Docker's own rule); otherwise it is part of the name. */
static const char *name_problem(const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    size_t start = 0;
    if (slash != NULL) {
        size_t first = (size_t)(slash - s);
        bool registry = memchr(s, '.', first) || memchr(s, ':', first) ||
                        (first == 9 && memcmp(s, "localhost", 9) == 0);
        if (registry) {
            if (!domain_valid(s, first))
                return "registry must be a host name with an optional port";
            start = first + 1;
        }
    }
    for (size_t i = start; i <= len; i++) {
        if (i == len || s[i] == '/') {
            const char *why = path_component_problem(s + start, i - start);
            if (why != NULL)
                return why;
            start = i + 1;
        }
    }
    return NULL;
}

const char *image_ref_problem(const char *s, size_t len)
{
    if (len == 0)
        return "must not be empty";
    if (len > CARA_IMAGE_BYTES_MAX)
        return "longer than 255 characters";
    const char *at = memchr(s, '@', len);
    size_t name_tag = at ? (size_t)(at - s) : len;
    if (at != NULL) {
        const char *why = digest_problem(at + 1, len - name_tag - 1);
        if (why != NULL)
            return why;
    }
    /* A ':' after the last '/' starts the tag; one before it is a port. */
    size_t last_slash = 0, tag_colon = SIZE_MAX;
    for (size_t i = 0; i < name_tag; i++) {
        if (s[i] == '/')
            last_slash = i, tag_colon = SIZE_MAX;
        else if (s[i] == ':' && i > last_slash)
            tag_colon = i;
    }
    size_t name_len = tag_colon != SIZE_MAX ? tag_colon : name_tag;
    if (tag_colon != SIZE_MAX) {
        const char *why = tag_problem(s + tag_colon + 1, name_tag - tag_colon - 1);
        if (why != NULL)
            return why;
    }
    return name_problem(s, name_len);
}
