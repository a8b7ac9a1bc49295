/*
 * Untrusted bytes and JSON values -> model: the reading paths that sit on
 * top of the binder.
 *
 * msgpack decoding is strict in three layers, each with its own error:
 *   1. framing (CARA_EPARSE): cara_mpcheck walks the bytes without
 *      allocating and refuses counts larger than the bytes left, nesting
 *      deeper than CARA_MP_DEPTH_MAX, truncation, and anything after the
 *      one object; only then does msgpack-c unpack them;
 *   2. schema and validation (CARA_ESCHEMA): the same binder as manifests;
 *   3. canonical form (CARA_ENONCANON): the model is encoded again and the
 *      bytes must be the input's, byte for byte. This one comparison
 *      catches every alternative spelling (unsorted keys, long integer
 *      forms, str16 for a short string, an explicit empty list, an omitted
 *      default) without a rule per case, so the set of accepted encodings
 *      is exactly the image of the encoder.
 */
#include <string.h>

#include "spec/spec_int.h"

/* The diagnostics to report into: the caller's, or a scratch list when the
 * caller passed NULL (the binder always wants somewhere to write). */
typedef struct diag_sink {
    cara_diags local;
    cara_diags *d;
} diag_sink;

static void sink_open(diag_sink *s, cara_env *env, cara_diags *d, const char *source)
{
    s->d = d;
    if (d == NULL) {
        cara_diags_init(&s->local, env, source);
        s->d = &s->local;
    }
}

static void sink_close(diag_sink *s)
{
    if (s->d == &s->local)
        cara_diags_free(&s->local);
}

/* Steps 1 and the tree: bytes -> doc tree in `dc`. */
static int msgpack_tree(doc *dc, const uint8_t *bytes, size_t len, size_t bytes_max,
                        cara_diags *d, doc_node **root)
{
    if (len > bytes_max) {
        cara_diags_add(d, "", "record of %zu bytes is over the %zu-byte limit", len, bytes_max);
        return CARA_ETOOBIG;
    }
    size_t object_bytes = 0;
    int rc = cara_mpcheck(bytes, len, CARA_MP_DEPTH_MAX, &object_bytes);
    if (rc == CARA_ETOOBIG) {
        cara_diags_add(d, "", "msgpack nests deeper than %d levels", CARA_MP_DEPTH_MAX);
        return CARA_EPARSE;
    }
    if (rc != 0) {
        cara_diags_add(d, "", "truncated or malformed msgpack");
        return CARA_EPARSE;
    }
    if (object_bytes != len) {
        cara_diags_add(d, "", "%zu bytes after the msgpack object", len - object_bytes);
        return CARA_EPARSE;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)bytes, len, &off);
    if (ur == MSGPACK_UNPACK_SUCCESS && off == len) {
        rc = doc_from_msgpack(dc, &up.data, root);
        if (rc == CARA_ESCHEMA)
            cara_diags_add(d, "", "msgpack holds a type no field accepts (bin, ext, a "
                                  "non-string map key, or a string that is not UTF-8 text)");
        else if (rc == CARA_ETOOBIG) {
            cara_diags_add(d, "", "msgpack holds too many or too deeply nested values");
            rc = CARA_EPARSE;
        }
    } else if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        rc = CARA_ENOMEM;
    } else {
        /* The pre-scan accepted it, so msgpack-c disagreeing is malformed
         * input the scan does not model; refuse it all the same. */
        cara_diags_add(d, "", "malformed msgpack");
        rc = CARA_EPARSE;
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* Step 3: `encoded` (the model encoded again) must be the input. */
static int check_canonical(const cara_buf *encoded, const uint8_t *bytes, size_t len,
                           cara_diags *d)
{
    if (encoded->len == len && memcmp(encoded->data, bytes, len) == 0)
        return 0;
    cara_diags_add(d, "", "msgpack is valid but not in canonical form (key order, integer "
                          "width, defaults or empty fields differ from the encoder's)");
    return CARA_ENONCANON;
}

typedef enum { REC_PROJECT, REC_STATUS, REC_NODE, REC_SETTINGS } rec_kind;

static size_t rec_bytes_max(rec_kind k)
{
    switch (k) {
    case REC_PROJECT: return CARA_SPEC_BYTES_MAX;
    case REC_STATUS: return CARA_STATUS_BYTES_MAX;
    case REC_NODE: return CARA_NODE_BYTES_MAX;
    case REC_SETTINGS: return CARA_SETTINGS_BYTES_MAX;
    }
    CARA_UNREACHABLE();
}

static int bind_rec(cara_env *env, rec_kind k, const doc_node *root, cara_diags *d, void **out)
{
    switch (k) {
    case REC_PROJECT: return bind_project(env, root, d, (cara_project **)out);
    case REC_STATUS: return bind_project_status(env, root, "", d, (cara_project_status **)out);
    case REC_NODE: return bind_node(env, root, "", d, (cara_node **)out);
    case REC_SETTINGS: return bind_settings(env, root, d, (cara_settings **)out);
    }
    CARA_UNREACHABLE();
}

static int encode_rec(rec_kind k, const void *obj, cara_buf *out)
{
    switch (k) {
    case REC_PROJECT: return cara_project_encode(obj, out);
    case REC_STATUS: return cara_project_status_encode(obj, out);
    case REC_NODE: return cara_node_encode(obj, out);
    case REC_SETTINGS: return cara_settings_encode(obj, out);
    }
    CARA_UNREACHABLE();
}

static void free_rec(cara_env *env, rec_kind k, void *obj)
{
    switch (k) {
    case REC_PROJECT: cara_project_free(env, obj); return;
    case REC_STATUS: cara_project_status_free(env, obj); return;
    case REC_NODE: cara_node_free(env, obj); return;
    case REC_SETTINGS: cara_settings_free(env, obj); return;
    }
    CARA_UNREACHABLE();
}

static int decode_rec(cara_env *env, rec_kind k, const uint8_t *bytes, size_t len,
                      cara_diags *d_or_null, void **out)
{
    CARA_ASSERT(env != NULL && out != NULL && (bytes != NULL || len == 0));
    *out = NULL;
    diag_sink ds;
    sink_open(&ds, env, d_or_null, "<msgpack>");
    doc dc;
    doc_init(&dc, env);
    doc_node *root = NULL;
    void *obj = NULL;
    cara_buf again;
    cara_buf_init(&again, env, rec_bytes_max(k));
    int rc = msgpack_tree(&dc, bytes, len, rec_bytes_max(k), ds.d, &root);
    if (rc == 0)
        rc = bind_rec(env, k, root, ds.d, &obj);
    if (rc == 0) {
        rc = encode_rec(k, obj, &again);
        /* Bytes that omitted many defaults may bind to a model whose
         * canonical form is over the cap, or hold a time the encoder cannot
         * write: either way they are not the canonical form. */
        if (rc == CARA_ETOOBIG || rc == CARA_EINVAL) {
            cara_diags_add(ds.d, "", "record has no canonical encoding within the limits");
            rc = CARA_ENONCANON;
        }
    }
    if (rc == 0)
        rc = check_canonical(&again, bytes, len, ds.d);
    if (rc == 0) {
        *out = obj;
        obj = NULL;
    }
    free_rec(env, k, obj);
    cara_buf_free(&again);
    doc_free(&dc);
    sink_close(&ds);
    return rc;
}

int cara_project_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                        cara_project **out)
{
    void *obj;
    int rc = decode_rec(env, REC_PROJECT, bytes, len, d, &obj);
    *out = obj;
    return rc;
}

int cara_project_status_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                               cara_project_status **out)
{
    void *obj;
    int rc = decode_rec(env, REC_STATUS, bytes, len, d, &obj);
    *out = obj;
    return rc;
}

int cara_node_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                     cara_node **out)
{
    void *obj;
    int rc = decode_rec(env, REC_NODE, bytes, len, d, &obj);
    *out = obj;
    return rc;
}

int cara_settings_decode(cara_env *env, const uint8_t *bytes, size_t len, cara_diags *d,
                         cara_settings **out)
{
    void *obj;
    int rc = decode_rec(env, REC_SETTINGS, bytes, len, d, &obj);
    *out = obj;
    return rc;
}

/* ---- JSON values ------------------------------------------------------------------ */

static int json_rec(cara_env *env, rec_kind k, const json_t *j, cara_diags *d_or_null,
                    void **out)
{
    CARA_ASSERT(env != NULL && j != NULL && out != NULL);
    *out = NULL;
    diag_sink ds;
    sink_open(&ds, env, d_or_null, "<request>");
    doc dc;
    doc_init(&dc, env);
    doc_node *root = NULL;
    int rc = doc_from_json(&dc, j, &root);
    if (rc == CARA_ETOOBIG) {
        cara_diags_add(ds.d, "", "JSON nests deeper than %d levels or holds more than %d values",
                       CARA_DOC_DEPTH_MAX, CARA_DOC_NODES_MAX);
        rc = CARA_ESCHEMA;
    }
    if (rc == 0)
        rc = bind_rec(env, k, root, ds.d, out);
    doc_free(&dc);
    sink_close(&ds);
    return rc;
}

int cara_project_from_json(cara_env *env, const json_t *j, cara_diags *d, cara_project **out)
{
    void *obj;
    int rc = json_rec(env, REC_PROJECT, j, d, &obj);
    *out = obj;
    return rc;
}

int cara_project_status_from_json(cara_env *env, const json_t *j, cara_diags *d,
                                  cara_project_status **out)
{
    void *obj;
    int rc = json_rec(env, REC_STATUS, j, d, &obj);
    *out = obj;
    return rc;
}

int cara_node_from_json(cara_env *env, const json_t *j, cara_diags *d, cara_node **out)
{
    void *obj;
    int rc = json_rec(env, REC_NODE, j, d, &obj);
    *out = obj;
    return rc;
}

int cara_settings_from_json(cara_env *env, const json_t *j, cara_diags *d, cara_settings **out)
{
    void *obj;
    int rc = json_rec(env, REC_SETTINGS, j, d, &obj);
    *out = obj;
    return rc;
}
