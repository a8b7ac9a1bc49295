#include "base/mpcheck.h"

#include "base/assert.h"
#include "base/error.h"
#include "base/limits.h"

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Decodes one header at buf[pos]. Sets *skip to the payload bytes that follow
 * the header (strings, binaries, numbers) and *children to the number of
 * objects nested inside (arrays: n, maps: 2n). */
static int header(const uint8_t *buf, size_t len, size_t pos, size_t *hdr, uint64_t *skip,
                  uint64_t *children)
{
    uint8_t b = buf[pos];
    size_t left = len - pos - 1;
    *skip = 0;
    *children = 0;
    *hdr = 1;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3 && b != 0xc1))
        return 0;
    if (b >= 0x80 && b <= 0x8f) { *children = 2u * (b & 0x0f); return 0; }
    if (b >= 0x90 && b <= 0x9f) { *children = b & 0x0f; return 0; }
    if (b >= 0xa0 && b <= 0xbf) { *skip = b & 0x1f; return 0; }
    int n; /* size of the length field */
    switch (b) {
    case 0xc4: case 0xd9: n = 1; break;         /* bin8, str8 */
    case 0xc5: case 0xda: n = 2; break;         /* bin16, str16 */
    case 0xc6: case 0xdb: n = 4; break;         /* bin32, str32 */
    case 0xc7: n = 1; *skip = 1; break;         /* ext8: + type byte */
    case 0xc8: n = 2; *skip = 1; break;
    case 0xc9: n = 4; *skip = 1; break;
    case 0xca: case 0xce: case 0xd2: *skip = 4; return 0;
    case 0xcb: case 0xcf: case 0xd3: *skip = 8; return 0;
    case 0xcc: case 0xd0: *skip = 1; return 0;
    case 0xcd: case 0xd1: *skip = 2; return 0;
    case 0xd4: *skip = 2; return 0;             /* fixext1: type + 1 */
    case 0xd5: *skip = 3; return 0;
    case 0xd6: *skip = 5; return 0;
    case 0xd7: *skip = 9; return 0;
    case 0xd8: *skip = 17; return 0;
    case 0xdc: case 0xde: n = 2; break;         /* array16, map16 */
    case 0xdd: case 0xdf: n = 4; break;         /* array32, map32 */
    default: return CARA_EPARSE;                /* 0xc1 is never used */
    }
    if ((size_t)n > left)
        return CARA_EPARSE;
    uint64_t count = be(buf + pos + 1, n);
    *hdr = 1 + (size_t)n;
    if (b == 0xdc || b == 0xdd)
        *children = count;
    else if (b == 0xde || b == 0xdf)
        *children = 2 * count;
    else
        *skip += count;
    return 0;
}

int cara_mpcheck_bounded(const uint8_t *buf, size_t len, int depth_max, size_t elements_max,
                         size_t *object_bytes)
{
    CARA_ASSERT(depth_max > 0 && depth_max <= CARA_MP_DEPTH_MAX);
    uint64_t pending[CARA_MP_DEPTH_MAX + 1]; /* objects still owed per level */
    int depth = 0;
    pending[0] = 1;
    size_t pos = 0;
    /* Elements claimed so far: never more than `len` (each takes a byte). */
    size_t elements = 0;
    /* Each iteration consumes at least one byte, so the loop is bounded by
     * `len`. */
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        if (pos >= len)
            return CARA_EPARSE;
        pending[depth]--;
        size_t hdr;
        uint64_t skip, children;
        int rc = header(buf, len, pos, &hdr, &skip, &children);
        if (rc != 0)
            return rc;
        pos += hdr;
        /* Every child takes at least one byte: a count larger than the bytes
         * left is a lie, whatever the rest says. */
        if (skip > len - pos || children > len - pos)
            return CARA_EPARSE;
        pos += (size_t)skip;
        if (children > 0) {
            /* Judged on the claim, before any child is read: a reader that
             * allocates per element never sees a count past the bound. */
            if (children > elements_max - elements)
                return CARA_ETOOBIG;
            elements += (size_t)children;
            if (depth + 1 >= depth_max)
                return CARA_ETOOBIG;
            pending[++depth] = children;
        }
    }
    *object_bytes = pos;
    return 0;
}

int cara_mpcheck(const uint8_t *buf, size_t len, int depth_max, size_t *object_bytes)
{
    return cara_mpcheck_bounded(buf, len, depth_max, SIZE_MAX, object_bytes);
}
