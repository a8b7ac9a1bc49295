/*
 * Canonical msgpack, writing side. A record is the JSON shape of json_out.c
 * rendered with three byte rules, so that one meaning has one encoding:
 *   - map keys sorted bytewise by their UTF-8 bytes (shorter first on a
 *     common prefix), whatever order the model or the manifest had;
 *   - integers in the shortest msgpack form (msgpack-c's pack_int64 picks
 *     it: positive fixint, uint8..64, negative fixint, int8..64);
 *   - strings as str (fixstr, str8, str16, str32 by length), never bin.
 * Going through json_t keeps one generic writer: the field list lives in
 * json_out.c only, and JSON and msgpack cannot drift apart.
 * See docs/encoding.md for why signatures depend on this.
 */
#include <stdlib.h>
#include <string.h>

#include "spec/spec_int.h"

/* msgpack-c's packer writes through a callback; this one appends to a
 * bounded buffer and counts the record's bytes against its own cap. */
typedef struct mp_sink {
    msgpack_packer pk;
    cara_buf *out;
    size_t written_bytes;
    size_t record_bytes_max;
    int rc;
} mp_sink;

static int sink_write(void *data, const char *bytes, size_t len)
{
    mp_sink *s = data;
    if (s->rc != 0)
        return -1;
    if (len > s->record_bytes_max - s->written_bytes) {
        s->rc = CARA_ETOOBIG;
        return -1;
    }
    int rc = cara_buf_append(s->out, bytes, len);
    if (rc != 0) {
        s->rc = rc;
        return -1;
    }
    s->written_bytes += len;
    return 0;
}

typedef struct mp_key {
    const char *key;
    size_t len;
    json_t *value;
} mp_key;

static int key_cmp(const void *a, const void *b)
{
    const mp_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int pack_value(mp_sink *s, const json_t *j, int depth);

static int pack_str(mp_sink *s, const char *str, size_t len)
{
    if (msgpack_pack_str(&s->pk, len) != 0 || msgpack_pack_str_body(&s->pk, str, len) != 0)
        return CARA_EIO; /* replaced by the sink's own code */
    return 0;
}

static int pack_object(mp_sink *s, const json_t *j, int depth)
{
    size_t n = json_object_size(j);
    mp_key *keys = NULL;
    if (n > 0) {
        keys = cara_env_calloc(s->out->env, n, sizeof *keys);
        if (keys == NULL)
            return CARA_ENOMEM;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    void *it;
    for (it = json_object_iter((json_t *)j); it != NULL;
         it = json_object_iter_next((json_t *)j, it)) {
        CARA_ASSERT(i < n);
        k = json_object_iter_key(it);
        v = json_object_iter_value(it);
        keys[i++] = (mp_key){k, json_object_iter_key_len(it), v};
    }
    CARA_ASSERT(i == n);
    if (n > 1)
        qsort(keys, n, sizeof *keys, key_cmp);
    int rc = msgpack_pack_map(&s->pk, n) != 0 ? CARA_EIO : 0;
    for (i = 0; rc == 0 && i < n; i++) {
        rc = pack_str(s, keys[i].key, keys[i].len);
        if (rc == 0)
            rc = pack_value(s, keys[i].value, depth + 1);
    }
    cara_env_free(s->out->env, keys);
    return rc;
}

static int pack_value(mp_sink *s, const json_t *j, int depth)
{
    msgpack_packer *pk = &s->pk;
    /* Our shapes nest 7 deep at most; the decoder refuses deeper input, so
     * deeper output would be a bug here. */
    CARA_ASSERT(depth < CARA_MP_DEPTH_MAX);
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return pack_object(s, j, depth);
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (msgpack_pack_array(pk, n) != 0)
            return CARA_EIO;
        for (size_t i = 0; i < n; i++) {
            int rc = pack_value(s, json_array_get(j, i), depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case JSON_STRING:
        return pack_str(s, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, (int64_t)json_integer_value(j)) != 0 ? CARA_EIO : 0;
    case JSON_TRUE:
        return msgpack_pack_true(pk) != 0 ? CARA_EIO : 0;
    case JSON_FALSE:
        return msgpack_pack_false(pk) != 0 ? CARA_EIO : 0;
    case JSON_NULL:
        return msgpack_pack_nil(pk) != 0 ? CARA_EIO : 0;
    case JSON_REAL:
        return CARA_EINVAL; /* no field of the schema is a real */
    }
    CARA_UNREACHABLE();
}

int spec_json_to_msgpack(const json_t *j, size_t record_bytes_max, cara_buf *out)
{
    CARA_ASSERT(j != NULL && out != NULL);
    size_t len_before = out->len;
    mp_sink sink = {.out = out, .record_bytes_max = record_bytes_max};
    msgpack_packer_init(&sink.pk, &sink, sink_write);
    int rc = pack_value(&sink, j, 0);
    if (rc != 0 && sink.rc != 0)
        rc = sink.rc; /* the sink knows whether it was the cap or memory */
    if (rc != 0) {
        out->len = len_before;
        if (out->data != NULL)
            out->data[out->len] = '\0';
    }
    return rc;
}

/* ---- Public encoders ------------------------------------------------------------ */

int cara_project_encode(const cara_project *p, cara_buf *out)
{
    json_t *j;
    int rc = spec_project_json(p, NULL, &j);
    if (rc != 0)
        return rc;
    rc = spec_json_to_msgpack(j, CARA_SPEC_BYTES_MAX, out);
    json_decref(j);
    return rc;
}

int cara_project_status_encode(const cara_project_status *s, cara_buf *out)
{
    json_t *j;
    int rc = spec_project_status_json(s, &j);
    if (rc != 0)
        return rc;
    rc = spec_json_to_msgpack(j, CARA_STATUS_BYTES_MAX, out);
    json_decref(j);
    return rc;
}

int cara_node_encode(const cara_node *n, cara_buf *out)
{
    json_t *j;
    int rc = spec_node_json(n, &j);
    if (rc != 0)
        return rc;
    rc = spec_json_to_msgpack(j, CARA_NODE_BYTES_MAX, out);
    json_decref(j);
    return rc;
}

int cara_settings_encode(const cara_settings *s, cara_buf *out)
{
    json_t *j;
    int rc = spec_settings_json(s, &j);
    if (rc != 0)
        return rc;
    rc = spec_json_to_msgpack(j, CARA_SETTINGS_BYTES_MAX, out);
    json_decref(j);
    return rc;
}
