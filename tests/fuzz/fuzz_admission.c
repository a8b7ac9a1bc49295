/*
 * Feeds arbitrary bytes to cara_crdt_admission_decode, the value of an
 * ADMISSION record. An accepted value is the one encoding of its fields:
 * encoding them again gives the input byte for byte. A refused value
 * leaves both outputs as they were. Apart from the input's fate, the key
 * and flag drawn from its first bytes encode to a value that decodes back
 * to them, and any strict prefix of that value is refused.
 */
#include <string.h>

#include "crdt/crdt.h"
#include "fuzz_common.h"

static void check_decoded(cara_env *env, const uint8_t *data, size_t size,
                          const uint8_t pk[CARA_CRDT_PK_BYTES], bool admitted)
{
    cara_buf b;
    cara_buf_init(&b, env, 256);
    FUZZ_CHECK(cara_crdt_admission_encode(pk, admitted, &b) == 0);
    FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    cara_buf_free(&b);
}

static void check_round_trip(cara_env *env, const uint8_t *data, size_t size)
{
    uint8_t pk[CARA_CRDT_PK_BYTES] = {0};
    memcpy(pk, data, size < sizeof pk ? size : sizeof pk);
    bool admitted = size > sizeof pk && (data[sizeof pk] & 1);
    cara_buf b;
    cara_buf_init(&b, env, 256);
    FUZZ_CHECK(cara_crdt_admission_encode(pk, admitted, &b) == 0);
    uint8_t got[CARA_CRDT_PK_BYTES];
    bool got_admitted = !admitted;
    FUZZ_CHECK(cara_crdt_admission_decode(b.data, b.len, got, &got_admitted) == 0);
    FUZZ_CHECK(memcmp(got, pk, sizeof pk) == 0 && got_admitted == admitted);
    size_t cut = size % b.len; /* a strict prefix, drawn from the input */
    FUZZ_CHECK(cara_crdt_admission_decode(b.data, cut, got, &got_admitted) == CARA_EPARSE);
    cara_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cara_env *env = fuzz_env();
    uint8_t pk[CARA_CRDT_PK_BYTES], before[CARA_CRDT_PK_BYTES];
    memset(pk, 0xa5, sizeof pk);
    memcpy(before, pk, sizeof pk);
    bool admitted = true;
    int rc = cara_crdt_admission_decode(size ? data : NULL, size, pk, &admitted);
    FUZZ_CHECK(rc == 0 || rc == CARA_EPARSE || rc == CARA_ENONCANON);
    if (rc == 0) {
        check_decoded(env, data, size, pk, admitted);
    } else {
        FUZZ_CHECK(memcmp(pk, before, sizeof pk) == 0 && admitted);
        admitted = false;
        FUZZ_CHECK(cara_crdt_admission_decode(size ? data : NULL, size, pk, &admitted) == rc);
        FUZZ_CHECK(memcmp(pk, before, sizeof pk) == 0 && !admitted);
    }
    check_round_trip(env, data, size);
    return 0;
}
