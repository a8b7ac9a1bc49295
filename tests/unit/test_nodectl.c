/*
 * The operator's node controls (docs/crdt.md, "Node controls"): the
 * NODECTL value's codec on good and hostile bytes, who may write the
 * record, the crdt's value check, and how the API shows a controlled
 * node. The scheduling side (cordon keeps new projects off, drain moves
 * them) is in test_core.c, with the other decisions of the node object.
 */
#include "agent/agent_int.h"
#include "core/core.h"
#include "crdt_util.h"
#include "spec_util.h"

static void encode(const cara_node_control *c, cara_buf *b)
{
    cara_buf_init(b, cara_test_env(), 64);
    CHECK_OK(cara_node_control_encode(c, b));
}

TEST(nodectl_value_round_trips_and_has_one_fixed_form)
{
    static const cara_node_control all[] = {{false, false}, {true, false}, {true, true}};
    for (size_t i = 0; i < 3; i++) {
        cara_buf b;
        encode(&all[i], &b);
        CHECK_INT(b.len, ==, CARA_NODECTL_BYTES);
        cara_node_control got = {!all[i].cordoned, !all[i].draining};
        CHECK_OK(cara_node_control_decode(b.data, b.len, &got));
        CHECK_INT(got.cordoned, ==, all[i].cordoned);
        CHECK_INT(got.draining, ==, all[i].draining);
        /* Every strict prefix is refused, and leaves the output alone. */
        for (size_t cut = 0; cut < b.len; cut++) {
            cara_node_control keep = {true, true};
            CHECK_RC(cara_node_control_decode(b.data, cut, &keep), CARA_EPARSE);
            CHECK(keep.cordoned && keep.draining);
        }
        cara_buf_free(&b);
    }
    /* The bytes, as docs/crdt.md gives them. */
    cara_buf b;
    cara_node_control drain = {true, true};
    encode(&drain, &b);
    static const uint8_t want[] = {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 0x01, 0xc3, 0xc3};
    CHECK_MEM(b.data, b.len, want, sizeof want);
    cara_buf_free(&b);
}

TEST(nodectl_value_refuses_draining_without_cordon)
{
    cara_node_control bad = {.cordoned = false, .draining = true};
    cara_buf b;
    cara_buf_init(&b, cara_test_env(), 64);
    CHECK_RC(cara_node_control_encode(&bad, &b), CARA_EINVAL);
    CHECK_INT(b.len, ==, 0);
    cara_buf_free(&b);
    static const uint8_t bytes[] = {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 0x01, 0xc2, 0xc3};
    cara_node_control got;
    CHECK_RC(cara_node_control_decode(bytes, sizeof bytes, &got), CARA_ESCHEMA);
}

TEST(nodectl_value_refuses_hostile_bytes_each_with_its_code)
{
    struct {
        const char *what;
        uint8_t bytes[24];
        size_t len;
        int rc;
    } cases[] = {
        {"empty", {0}, 0, CARA_EPARSE},
        {"nil", {0xc0}, 1, CARA_EPARSE},
        {"trailing byte", {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 1, 0xc3, 0xc2, 0}, 13,
         CARA_EPARSE},
        {"three fields", {0x93, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 1, 0xc3}, 11, CARA_EPARSE},
        {"other magic", {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'X', 1, 0xc3, 0xc2}, 12,
         CARA_EPARSE},
        {"flag as int", {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 1, 0x01, 0xc2}, 12,
         CARA_EPARSE},
        {"version 2", {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 2, 0xc3, 0xc2}, 12,
         CARA_EUNSUPPORTED},
        {"version as uint8", {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 0xcc, 1, 0xc3, 0xc2},
         13, CARA_ENONCANON},
        {"magic as str8", {0x94, 0xd9, 7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 1, 0xc3, 0xc2}, 13,
         CARA_ENONCANON},
        {"array16", {0xdc, 0, 4, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 1, 0xc3, 0xc2}, 14,
         CARA_ENONCANON},
        /* A count the bytes cannot hold: refused by the pre-scan before
         * msgpack-c would allocate for it. */
        {"huge array", {0xdd, 0xff, 0xff, 0xff, 0xff}, 5, CARA_EPARSE},
        {"huge str", {0x94, 0xdb, 0xff, 0xff, 0xff, 0xff}, 6, CARA_EPARSE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cara_node_control got = {true, true};
        int rc = cara_node_control_decode(cases[i].len ? cases[i].bytes : NULL, cases[i].len, &got);
        if (rc != cases[i].rc)
            cara_test_fail(__FILE__, __LINE__, "%s: got %s, want %s", cases[i].what,
                           cara_strerror(rc), cara_strerror(cases[i].rc));
        CHECK(got.cordoned && got.draining); /* untouched */
    }
}

/* A replica that checks values as the agent does. */
static cara_crdt *validating_replica(const tkey *op)
{
    cara_crdt_cfg cfg = {.validate_value = cara_core_validate_value,
                         .validate_ctx = cara_test_env()};
    return treplica_cfg(op, &cfg);
}

TEST(nodectl_record_is_written_by_an_operator_alone)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node, stranger;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    tkey_make(&stranger, &rng);
    cara_crdt *s = validating_replica(&op);
    int64_t now = 1790000000000LL;
    uint64_t hlc = (uint64_t)now << 16;
    cara_buf rec;
    tadmission(&rec, "n1", 1, hlc, &op, &node, true);
    CHECK_OK(cara_crdt_apply(s, rec.data, rec.len, now, NULL));
    cara_buf_free(&rec);
    cara_buf v;
    cara_node_control cordon = {.cordoned = true};
    encode(&cordon, &v);
    uint8_t before[32], after[32];
    cara_crdt_state_hash(s, before);
    /* The node itself may not cordon or uncordon itself: wrong author. */
    trec(&rec, CARA_CRDT_NODECTL, "n1", 2, hlc + 1, &node, v.data, v.len);
    CHECK_RC(cara_crdt_apply(s, rec.data, rec.len, now, NULL), CARA_EWRONGAUTHOR);
    cara_buf_free(&rec);
    /* A key nobody trusts: untrusted. */
    trec(&rec, CARA_CRDT_NODECTL, "n1", 2, hlc + 1, &stranger, v.data, v.len);
    CHECK_RC(cara_crdt_apply(s, rec.data, rec.len, now, NULL), CARA_EUNTRUSTED);
    cara_buf_free(&rec);
    cara_crdt_state_hash(s, after);
    CHECK_MEM(before, 32, after, 32); /* nothing changed */
    cara_crdt_stats st = tstats(s);
    CHECK_INT(st.rejected[CARA_CRDT_R_WRONG_AUTHOR], ==, 1);
    CHECK_INT(st.rejected[CARA_CRDT_R_UNTRUSTED], ==, 1);
    /* The operator may; the record is one slot per node. */
    trec(&rec, CARA_CRDT_NODECTL, "n1", 2, hlc + 1, &op, v.data, v.len);
    int result = 0;
    CHECK_OK(cara_crdt_apply(s, rec.data, rec.len, now, &result));
    CHECK_INT(result, ==, CARA_CRDT_APPLIED);
    cara_buf_free(&rec);
    cara_crdt_record held;
    CHECK_OK(cara_crdt_get(s, CARA_CRDT_NODECTL, (const uint8_t *)"n1", 2, &held));
    CHECK_INT(held.generation, ==, 2);
    cara_buf_free(&v);
    cara_crdt_free(s);
}

TEST(nodectl_record_with_a_malformed_value_is_refused_as_invalid)
{
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op;
    tkey_make(&op, &rng);
    cara_crdt *s = validating_replica(&op);
    int64_t now = 1790000000000LL;
    static const uint8_t bad[][12] = {
        {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 0x01, 0xc2, 0xc3}, /* drain, no cordon */
        {0x94, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 0x02, 0xc3, 0xc3}, /* version 2 */
        {0x93, 0xa7, 'n', 'o', 'd', 'e', 'c', 't', 'l', 0x01, 0xc3, 0xc3}, /* wrong count */
    };
    for (size_t i = 0; i < 3; i++) {
        cara_buf rec;
        trec(&rec, CARA_CRDT_NODECTL, "n1", 1, ((uint64_t)now << 16) + i, &op, bad[i],
             sizeof bad[i]);
        CHECK_RC(cara_crdt_apply(s, rec.data, rec.len, now, NULL), CARA_ESCHEMA);
        cara_buf_free(&rec);
    }
    /* An empty value too. */
    cara_buf rec;
    trec(&rec, CARA_CRDT_NODECTL, "n1", 1, (uint64_t)now << 16, &op, NULL, 0);
    CHECK_RC(cara_crdt_apply(s, rec.data, rec.len, now, NULL), CARA_ESCHEMA);
    cara_buf_free(&rec);
    CHECK_INT(tstats(s).rejected[CARA_CRDT_R_INVALID_VALUE], ==, 4);
    CHECK_INT(tstats(s).records_count, ==, 0);
    cara_crdt_free(s);
}

TEST(nodectl_batch_applies_controls_with_the_operator_kinds_first)
{
    /* Whatever order a peer packs them in, a control and a node record
     * both land; the control changes no admission. */
    cara_rng rng;
    cara_rng_seed(&rng, cara_test_seed());
    tkey op, node;
    tkey_make(&op, &rng);
    tkey_make(&node, &rng);
    cara_crdt *s = validating_replica(&op);
    int64_t now = 1790000000000LL;
    uint64_t hlc = (uint64_t)now << 16;
    cara_buf batch, rec, v;
    cara_buf_init(&batch, cara_test_env(), CARA_CRDT_DELTA_BYTES_MAX);
    cara_node_control drain = {true, true};
    encode(&drain, &v);
    trec(&rec, CARA_CRDT_NODECTL, "n1", 1, hlc + 2, &op, v.data, v.len);
    CHECK_OK(cara_buf_append(&batch, rec.data, rec.len));
    cara_buf_free(&rec);
    tadmission(&rec, "n1", 1, hlc + 1, &op, &node, true);
    CHECK_OK(cara_buf_append(&batch, rec.data, rec.len));
    cara_buf_free(&rec);
    size_t applied = 0;
    CHECK_OK(cara_crdt_apply_batch(s, batch.data, batch.len, now, &applied));
    CHECK_INT(applied, ==, 2);
    CHECK(cara_crdt_node_admitted(s, node.pk));
    cara_buf_free(&v);
    cara_buf_free(&batch);
    cara_crdt_free(s);
}

TEST(nodectl_api_json_shows_the_operators_cordon_and_drain)
{
    cara_node n = {.name = "n1", .capacity = {.cpu_millis = 1000}};
    cara_condition engine = {.type = CARA_NODE_COND_DOCKER_REACHABLE, .status = CARA_COND_TRUE,
                             .reason = "Answered", .message = ""};
    n.conditions = &engine;
    n.conditions_count = 1;
    json_t *j = agent_node_json(&n, true, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "Ready");
    CHECK(json_is_true(json_object_get(j, "schedulable")));
    CHECK(json_is_false(json_object_get(json_object_get(j, "control"), "cordoned")));
    json_decref(j);
    cara_node_control cordon = {.cordoned = true};
    j = agent_node_json(&n, true, &cordon);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "Ready");
    CHECK(json_is_false(json_object_get(j, "schedulable")));
    CHECK(json_is_true(json_object_get(j, "unschedulable")));
    CHECK(json_is_true(json_object_get(json_object_get(j, "control"), "cordoned")));
    CHECK(json_is_false(json_object_get(json_object_get(j, "control"), "draining")));
    json_decref(j);
    cara_node_control drain = {.cordoned = true, .draining = true};
    j = agent_node_json(&n, true, &drain);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "Draining");
    CHECK(json_is_true(json_object_get(json_object_get(j, "control"), "draining")));
    CHECK(json_is_false(json_object_get(j, "schedulable")));
    json_decref(j);
}
