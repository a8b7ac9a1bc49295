/*
 * RFC 3339 timestamps <-> Unix milliseconds. Pure functions: no clock, no
 * locale, no timezone database. Offsets are honoured on input; output is
 * always UTC with a "Z", which makes it canonical.
 */
#ifndef CARA_BASE_TIME_H
#define CARA_BASE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Longest text cara_time_format() writes, with its NUL:
 * "9999-12-31T23:59:59.999Z". */
#define CARA_TIME_TEXT_BYTES 25

/* Parses an RFC 3339 date-time ("2026-12-01T00:00:00Z",
 * "2026-12-01t01:30:00.25+01:30") of `len` bytes. Fractions finer than a
 * millisecond are truncated. Leap seconds (":60") are refused.
 * Returns 0 and sets *unix_ms, or CARA_EPARSE. */
int cara_time_parse_rfc3339(const char *text, size_t len, int64_t *unix_ms);

/* Writes `unix_ms` as UTC RFC 3339 into out[CARA_TIME_TEXT_BYTES], with
 * milliseconds only when they are not zero. Years outside 0001..9999 give
 * CARA_EINVAL. */
int cara_time_format_rfc3339(int64_t unix_ms, char out[CARA_TIME_TEXT_BYTES]);

#endif
