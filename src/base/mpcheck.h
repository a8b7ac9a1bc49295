/*
 * A structural pre-scan of untrusted msgpack bytes, run before msgpack-c
 * sees them. msgpack-c allocates count×24 bytes for an array or map header
 * before any element arrives, so five bytes (dd ff ff ff ff) ask it for
 * about 100 GB. The scan walks the framing only (no allocation) and refuses
 * any count or length that the remaining bytes cannot possibly hold, and
 * any nesting deeper than `depth_max`. The bounded form also caps the
 * total number of elements, which caps what msgpack-c's zone will hold
 * (docs/encoding.md).
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

/* As cara_mpcheck, and CARA_ETOOBIG as soon as the elements claimed by the
 * object's arrays and maps, summed over every level, pass elements_max. An
 * element is what msgpack-c allocates one msgpack_object for: an array of
 * n counts n, a map of n pairs counts 2n (a key and a value), the
 * outermost object counts nothing. So for any object accepted, msgpack-c's
 * unpacker allocates at most elements_max * sizeof(msgpack_object) bytes
 * of arrays and maps in its zone. The count is judged on each header's
 * claim, before its elements are scanned. cara_mpcheck is this with no
 * bound (SIZE_MAX). */
int cara_mpcheck_bounded(const uint8_t *buf, size_t len, int depth_max, size_t elements_max,
                         size_t *object_bytes);

#endif
