/* UTF-8 well-formedness (RFC 3629, Unicode Table 3-7). msgpack strings are
 * raw bytes; checking them here keeps every model string printable as JSON
 * and YAML, both of which require UTF-8. */
#include "spec/spec_int.h"

/* Length of the sequence starting with lead byte `c`, with the allowed
 * range of its second byte; 0 when `c` cannot start a sequence. */
static int seq_len(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0)
            *lo = 0xa0; /* overlong below U+0800 */
        if (c == 0xed)
            *hi = 0x9f; /* U+D800..U+DFFF are surrogates */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0)
            *lo = 0x90; /* overlong below U+10000 */
        if (c == 0xf4)
            *hi = 0x8f; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

bool spec_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char lo, hi;
        int n = seq_len(p[i], &lo, &hi);
        if (n == 0 || (size_t)n > len - i)
            return false;
        for (int k = 1; k < n; k++) {
            unsigned char c = p[i + (size_t)k];
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf))
                return false;
        }
        i += (size_t)n;
    }
    return true;
}
