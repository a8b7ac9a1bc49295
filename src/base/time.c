#include "base/time.h"

#include <stdio.h>
#include <string.h>

#include "base/assert.h"

#include "base/error.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant,
 * "chrono-Compatible Low-Level Date Algorithms"). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly `n` digits at text[*pos]. */
static int digits(const char *text, size_t len, size_t *pos, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (*pos >= len || text[*pos] < '0' || text[*pos] > '9')
            return CARA_EPARSE;
        v = v * 10 + (unsigned)(text[*pos] - '0');
        (*pos)++;
    }
    *out = v;
    return 0;
}

static int expect(const char *text, size_t len, size_t *pos, char a, char b)
{
    if (*pos >= len || (text[*pos] != a && text[*pos] != b))
        return CARA_EPARSE;
    (*pos)++;
    return 0;
}

/* Reads ".fff…" if present; returns milliseconds in *ms. */
static int fraction(const char *text, size_t len, size_t *pos, unsigned *ms)
{
    *ms = 0;
    if (*pos >= len || text[*pos] != '.')
        return 0;
    (*pos)++;
    int count = 0;
    while (*pos < len && text[*pos] >= '0' && text[*pos] <= '9') {
        if (count < 3)
            *ms = *ms * 10 + (unsigned)(text[*pos] - '0');
        count++;
        (*pos)++;
        if (count > 9)
            return CARA_EPARSE; /* nanoseconds are the finest anyone writes */
    }
    if (count == 0)
        return CARA_EPARSE;
    for (int i = count; i < 3; i++)
        *ms *= 10;
    return 0;
}

static int offset_minutes(const char *text, size_t len, size_t *pos, int *minutes)
{
    if (*pos < len && (text[*pos] == 'Z' || text[*pos] == 'z')) {
        (*pos)++;
        *minutes = 0;
        return 0;
    }
    if (*pos >= len || (text[*pos] != '+' && text[*pos] != '-'))
        return CARA_EPARSE;
    int sign = text[*pos] == '-' ? -1 : 1;
    (*pos)++;
    unsigned hh, mm;
    if (digits(text, len, pos, 2, &hh) || expect(text, len, pos, ':', ':') ||
        digits(text, len, pos, 2, &mm) || hh > 23 || mm > 59)
        return CARA_EPARSE;
    *minutes = sign * (int)(hh * 60 + mm);
    return 0;
}

int cara_time_parse_rfc3339(const char *text, size_t len, int64_t *unix_ms)
{
    size_t pos = 0;
    unsigned y, mo, d, h, mi, s, ms;
    int off;
    if (digits(text, len, &pos, 4, &y) || expect(text, len, &pos, '-', '-') ||
        digits(text, len, &pos, 2, &mo) || expect(text, len, &pos, '-', '-') ||
        digits(text, len, &pos, 2, &d) || expect(text, len, &pos, 'T', 't') ||
        digits(text, len, &pos, 2, &h) || expect(text, len, &pos, ':', ':') ||
        digits(text, len, &pos, 2, &mi) || expect(text, len, &pos, ':', ':') ||
        digits(text, len, &pos, 2, &s) || fraction(text, len, &pos, &ms) ||
        offset_minutes(text, len, &pos, &off))
        return CARA_EPARSE;
    if (pos != len || y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
        h > 23 || mi > 59 || s > 59)
        return CARA_EPARSE;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - (int64_t)off * 60;
    /* An offset can carry a time past year 1..9999 in UTC, which could not be
     * written back (cara_time_format_rfc3339): refuse it here, once. */
    int64_t first = days_from_civil(1, 1, 1) * 86400, last = days_from_civil(9999, 12, 31) * 86400 + 86399;
    if (secs < first || secs > last)
        return CARA_EPARSE;
    *unix_ms = secs * 1000 + ms;
    return 0;
}

int cara_time_format_rfc3339(int64_t unix_ms, char out[CARA_TIME_TEXT_BYTES])
{
    int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : -((-unix_ms + 999) / 1000);
    unsigned ms = (unsigned)(unix_ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    unsigned rem = (unsigned)(secs - days * 86400);
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999)
        return CARA_EINVAL;
    /* The compiler cannot see that the fields are bounded, so format into
     * room it accepts and check the length. */
    char tmp[64];
    int n;
    if (ms != 0)
        n = snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", (int)y, m, d,
                     rem / 3600, rem / 60 % 60, rem % 60, ms);
    else
        n = snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02u:%02u:%02uZ", (int)y, m, d,
                     rem / 3600, rem / 60 % 60, rem % 60);
    CARA_ASSERT(n > 0 && n < CARA_TIME_TEXT_BYTES);
    memcpy(out, tmp, (size_t)n + 1);
    return 0;
}
