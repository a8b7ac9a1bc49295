/*
 * The value of a NODECTL record: the operator's cordon and drain of one
 * node (spec.h, "cara_node_control"; docs/crdt.md, "Node controls").
 *
 * A fixed array rather than a map of the spec's document style: the value
 * has two flags and no optional field, and the magic plus a version at its
 * head let a later version add fields (a reason, a deadline) that an older
 * reader refuses as unsupported instead of misreading. As for ADMISSION
 * values, canonical means re-encoding the decoded fields gives the very
 * bytes received, so one meaning has one encoding under the signature.
 */
#include <string.h>

#include "base/mpcheck.h"
#include "spec/spec_int.h"

static int sink_buf(void *data, const char *bytes, size_t len)
{
    return cara_buf_append(data, bytes, len) == 0 ? 0 : -1;
}

/* A sink that compares what is packed with the bytes received. */
typedef struct cmp_sink {
    const uint8_t *want;
    size_t want_len, pos;
} cmp_sink;

static int sink_cmp(void *data, const char *bytes, size_t len)
{
    cmp_sink *c = data;
    if (len > c->want_len - c->pos || memcmp(c->want + c->pos, bytes, len) != 0)
        return -1;
    c->pos += len;
    return 0;
}

static int pack(void *data, msgpack_packer_write write, const cara_node_control *c)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, data, write);
    size_t magic_bytes = strlen(CARA_NODECTL_MAGIC);
    if (msgpack_pack_array(&pk, 4) != 0 || msgpack_pack_str(&pk, magic_bytes) != 0 ||
        msgpack_pack_str_body(&pk, CARA_NODECTL_MAGIC, magic_bytes) != 0 ||
        msgpack_pack_uint8(&pk, CARA_NODECTL_VERSION) != 0 ||
        (c->cordoned ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) != 0 ||
        (c->draining ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) != 0)
        return -1;
    return 0;
}

int cara_node_control_encode(const cara_node_control *c, cara_buf *out)
{
    CARA_ASSERT(c != NULL && out != NULL);
    if (c->draining && !c->cordoned)
        return CARA_EINVAL;
    size_t start = out->len;
    if (pack(out, sink_buf, c) != 0) {
        out->len = start; /* the buffer says only "could not append" */
        return CARA_ETOOBIG;
    }
    CARA_ASSERT(out->len - start == CARA_NODECTL_BYTES);
    return 0;
}

/* The fields of a decoded array, checked for shape only. */
static int fields_of(const msgpack_object *o, cara_node_control *c, uint64_t *version)
{
    size_t magic_bytes = strlen(CARA_NODECTL_MAGIC);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
        return CARA_EPARSE;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != magic_bytes ||
        memcmp(f[0].via.str.ptr, CARA_NODECTL_MAGIC, magic_bytes) != 0 ||
        f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return CARA_EPARSE;
    *version = f[1].via.u64;
    if (*version != CARA_NODECTL_VERSION)
        return CARA_EUNSUPPORTED; /* later fields may follow other rules */
    if (f[2].type != MSGPACK_OBJECT_BOOLEAN || f[3].type != MSGPACK_OBJECT_BOOLEAN)
        return CARA_EPARSE;
    c->cordoned = f[2].via.boolean;
    c->draining = f[3].via.boolean;
    return 0;
}

int cara_node_control_decode(const uint8_t *bytes, size_t len, cara_node_control *out)
{
    CARA_ASSERT(out != NULL);
    size_t total = 0;
    /* The pre-scan refuses counts the bytes cannot hold before msgpack-c
     * allocates for them; depth 2 is all this value has. */
    if (bytes == NULL || len == 0 || cara_mpcheck(bytes, len, 2, &total) != 0 || total != len)
        return CARA_EPARSE;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = CARA_EPARSE;
    cara_node_control c = {0};
    uint64_t version = 0;
    if (msgpack_unpack_next(&up, (const char *)bytes, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len)
        rc = fields_of(&up.data, &c, &version);
    msgpack_unpacked_destroy(&up);
    if (rc != 0)
        return rc;
    /* Canonical: the one encoding of these fields, byte for byte. */
    cmp_sink cmp = {.want = bytes, .want_len = len};
    if (pack(&cmp, sink_cmp, &c) != 0 || cmp.pos != len)
        return CARA_ENONCANON;
    if (c.draining && !c.cordoned)
        return CARA_ESCHEMA;
    *out = c;
    return rc;
}
