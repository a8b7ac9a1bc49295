/*
 * The body of a record-carrying API request (PUT and DELETE
 * /v1/projects/NAME, docs/api.md): {"record": BASE64}, the record's
 * envelope in standard base64 with padding. Decoding only: no HTTP, no
 * state, so a fuzzer drives it directly (tests/fuzz/fuzz_api_body.c).
 */
#ifndef CARA_AGENT_API_BODY_H
#define CARA_AGENT_API_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Room for the sentence that says why a body was refused. */
#define CARA_API_BODY_WHY_BYTES 200

/* Decodes `body` (body_len bytes, not NUL-terminated; borrowed). On 0,
 * *out is the record's bytes, allocated from `env` and owned by the caller
 * (free with cara_env_free), and *out_len their count. Otherwise *out is
 * NULL, *out_len 0 and `why` holds a sentence for the client: returns
 * CARA_EPARSE (not JSON, no "record" string, not base64) or CARA_ENOMEM.
 * Standard base64 is checked strictly (padding, no stray bits, no
 * whitespace), so an accepted string is the one encoding of its bytes. */
int cara_api_body_record(cara_env *env, const uint8_t *body, size_t body_len, uint8_t **out,
                         size_t *out_len, char why[CARA_API_BODY_WHY_BYTES]);

#endif
