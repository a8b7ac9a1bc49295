/*
 * Kubernetes resource quantities, the subset people write by hand:
 *   cpu     "2", "0.5", "500m"            -> millicores
 *   memory  "1048576", "512M", "256Mi", "1.5Gi", "1k" -> bytes
 * A fraction finer than the unit (0.0001 cores, 0.3 bytes) is rounded up,
 * as Kubernetes does. Exponent forms ("1e3") and memory in milli-units are
 * refused: nobody means them in a manifest.
 */
#include <string.h>

#include "spec/bind_int.h"

typedef struct suffix {
    const char *text;
    uint64_t scale;
} suffix;

static const suffix memory_suffixes[] = {
    {"Ki", 1ULL << 10}, {"Mi", 1ULL << 20}, {"Gi", 1ULL << 30}, {"Ti", 1ULL << 40},
    {"Pi", 1ULL << 50}, {"Ei", 1ULL << 60}, {"k", 1000ULL}, {"M", 1000000ULL},
    {"G", 1000000000ULL}, {"T", 1000000000000ULL}, {"P", 1000000000000000ULL},
    {"E", 1000000000000000000ULL}, {"", 1},
};

static const suffix cpu_suffixes[] = {{"m", 1}, {"", 1000}};

/* Fractions longer than this are refused rather than silently cut. */
#define FRACTION_DIGITS_MAX 9

static int parse(const char *s, size_t len, const suffix *suffixes, size_t suffixes_count,
                 uint64_t cap, uint64_t *out)
{
    size_t i = 0, int_digits = 0, frac_digits = 0;
    uint64_t whole = 0, frac = 0, frac_den = 1;
    bool too_big = false;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) {
        if (whole > cap)
            too_big = true; /* keep scanning for the syntax */
        else
            whole = whole * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++) {
            if (frac_digits == FRACTION_DIGITS_MAX)
                return CARA_EPARSE;
            frac = frac * 10 + (uint64_t)(s[i] - '0');
            frac_den *= 10;
        }
        if (frac_digits == 0)
            return CARA_EPARSE;
    }
    if (int_digits == 0)
        return CARA_EPARSE;
    const suffix *sx = NULL;
    for (size_t k = 0; k < suffixes_count && sx == NULL; k++)
        if (strlen(suffixes[k].text) == len - i && memcmp(suffixes[k].text, s + i, len - i) == 0)
            sx = &suffixes[k];
    if (sx == NULL)
        return CARA_EPARSE;
    if (too_big || whole > cap / sx->scale)
        return CARA_ETOOBIG;
    /* frac/frac_den × scale, rounded up, without overflow: split the scale
     * into a multiple of frac_den and a remainder (both products fit). */
    uint64_t q = sx->scale / frac_den, r = sx->scale % frac_den;
    uint64_t frac_units = frac * q + (frac * r + frac_den - 1) / frac_den;
    uint64_t total = whole * sx->scale;
    if (frac_units > cap - total)
        return CARA_ETOOBIG;
    *out = total + frac_units;
    return 0;
}

int quantity_cpu_millis(const char *s, size_t len, uint64_t *out)
{
    return parse(s, len, cpu_suffixes, sizeof cpu_suffixes / sizeof *cpu_suffixes,
                 CARA_CPU_MILLIS_MAX, out);
}

int quantity_memory_bytes(const char *s, size_t len, uint64_t *out)
{
    return parse(s, len, memory_suffixes, sizeof memory_suffixes / sizeof *memory_suffixes,
                 CARA_MEMORY_BYTES_MAX, out);
}

int cara_memory_quantity_parse(const char *s, uint64_t *bytes_out)
{
    CARA_ASSERT(s != NULL && bytes_out != NULL);
    return quantity_memory_bytes(s, strlen(s), bytes_out);
}
