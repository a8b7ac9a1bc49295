/* The node object's check of record values: decodable as their kind, and
 * about the object their (signed) key names. */
#include "core/core.h"
#include "harness.h"

static const char *const project_yaml =
    "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: shop}\n"
    "spec: {services: [{name: web, image: busybox}]}\n";

static int check(int kind, const char *key, const cara_buf *value)
{
    return cara_core_validate_value(cara_test_env(), kind, (const uint8_t *)key, strlen(key),
                                    value->data, value->len);
}

TEST(project_value_must_name_the_project_its_key_names)
{
    cara_env *env = cara_test_env();
    cara_diags d;
    cara_diags_init(&d, env, "t");
    cara_project **ps;
    size_t n;
    CHECK_OK(cara_manifest_parse(env, project_yaml, strlen(project_yaml), &d, &ps, &n));
    cara_buf v;
    cara_buf_init(&v, env, CARA_SPEC_BYTES_MAX);
    CHECK_OK(cara_project_encode(ps[0], &v));
    CHECK_OK(check(CARA_CRDT_PROJECT, "shop", &v));
    CHECK_RC(check(CARA_CRDT_PROJECT, "other", &v), CARA_ESCHEMA);
    CHECK_RC(check(CARA_CRDT_PROJECT, "sho", &v), CARA_ESCHEMA);
    /* A project value is not a node value. */
    CHECK(check(CARA_CRDT_NODE, "shop", &v) != 0);
    cara_buf_free(&v);
    cara_project_free(env, ps[0]);
    cara_env_free(env, ps);
    cara_diags_free(&d);
}

TEST(node_value_must_describe_the_node_its_key_names)
{
    cara_env *env = cara_test_env();
    cara_node node = {.name = "n1", .state = CARA_NODE_READY};
    cara_buf v;
    cara_buf_init(&v, env, CARA_NODE_BYTES_MAX);
    CHECK_OK(cara_node_encode(&node, &v));
    CHECK_OK(check(CARA_CRDT_NODE, "n1", &v));
    /* n1's admitted key signs a record keyed n1 that claims to be n2. */
    node.name = "n2";
    cara_buf_reset(&v);
    CHECK_OK(cara_node_encode(&node, &v));
    CHECK_RC(check(CARA_CRDT_NODE, "n1", &v), CARA_ESCHEMA);
    /* Garbage is refused whatever the key. */
    uint8_t junk[] = {0x81, 0xa1, 'x', 0x01};
    CHECK(cara_core_validate_value(env, CARA_CRDT_NODE, (const uint8_t *)"n1", 2, junk, sizeof junk) != 0);
    cara_buf_free(&v);
}
