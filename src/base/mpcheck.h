/*
 * A structural pre-scan of untrusted msgpack bytes, run before msgpack-c
 * sees them. msgpack-c allocates count×24 bytes for an array or map header
 * before any element arrives, so five bytes (dd ff ff ff ff) ask it for
 * about 100 GB. The scan walks the framing only (no allocation) and refuses
 * any count or length that the remaining bytes cannot possibly hold, and
 * any nesting deeper than `depth_max`.
 */
#ifndef CARA_BASE_MPCHECK_H
#define CARA_BASE_MPCHECK_H

#include <stddef.h>
#include <stdint.h>

/* Scans exactly one msgpack object at the start of buf[0..len).
 * Returns 0 and sets *object_bytes to its encoded size;
 * CARA_EPARSE if it is truncated or uses the reserved byte 0xc1 or
 * claims more elements or bytes than remain;
 * CARA_ETOOBIG if it nests deeper than depth_max (≤ CARA_MP_DEPTH_MAX). */
int cara_mpcheck(const uint8_t *buf, size_t len, int depth_max, size_t *object_bytes);

#endif
