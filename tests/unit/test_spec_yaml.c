/* The YAML reader and the binder: positions, documents, aliases, caps,
 * scalar typing, defaults and quantities. */
#include "spec/bind_int.h"
#include "spec_util.h"

#define HEAD "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: p}\n"

/* ---- The document tree ---------------------------------------------------------- */

typedef struct trees {
    size_t docs;
    uint32_t root_line, root_col, second_line, second_col;
    size_t nodes_count;
} trees;

static int on_tree(void *ctx, doc *dc)
{
    trees *t = ctx;
    t->docs++;
    t->root_line = dc->root->line;
    t->root_col = dc->root->col;
    t->nodes_count = dc->nodes_count;
    if (dc->root->kind == DOC_MAP && dc->root->count >= 2) {
        t->second_line = dc->root->items[1]->line;
        t->second_col = dc->root->items[1]->col;
    }
    return 0;
}

static int read_yaml(const char *text, cara_diags *d, trees *t)
{
    *t = (trees){0};
    cara_diags_init(d, cara_test_env(), "t.yaml");
    return doc_from_yaml(cara_test_env(), text, strlen(text), d, on_tree, t);
}

TEST(yaml_positions_are_one_based)
{
    cara_diags d;
    trees t;
    CHECK_OK(read_yaml("\n  key:   value\n", &d, &t));
    CHECK_INT(t.docs, ==, 1);
    CHECK_INT(t.root_line, ==, 2);
    CHECK_INT(t.root_col, ==, 3);
    CHECK_INT(t.second_line, ==, 2);
    CHECK_INT(t.second_col, ==, 10);
    cara_diags_free(&d);
}

TEST(yaml_calls_back_once_per_non_empty_document)
{
    cara_diags d;
    trees t;
    CHECK_OK(read_yaml("---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n", &d, &t));
    CHECK_INT(t.docs, ==, 2);
    CHECK_INT(t.root_line, ==, 7);
    cara_diags_free(&d);
}

TEST(yaml_syntax_error_names_line_column_and_context)
{
    cara_diags d;
    trees t;
    CHECK_RC(read_yaml("a: [1, 2\nb: 3\n", &d, &t), CARA_EPARSE);
    CHECK_INT(d.count, ==, 1);
    CHECK_STR(spec_diag(&d, 0),
              "t.yaml:2:2: yaml: did not find expected ',' or ']' (while parsing a flow sequence)");
    cara_diags_free(&d);
}

TEST(yaml_tab_indentation_is_a_syntax_error)
{
    CHECK_ONE_ERROR(HEAD "spec:\n\tservices: []\n",
                    "t.yaml:5:1: yaml: found character that cannot start any token (while "
                    "scanning for the next token)");
}

TEST(yaml_invalid_utf8_is_positioned)
{
    cara_diags d;
    trees t;
    CHECK_RC(read_yaml("a: 1\nb: \xff\n", &d, &t), CARA_EPARSE);
    CHECK_INT(d.count, ==, 1);
    CHECK_STR(spec_diag(&d, 0), "t.yaml:2:4: yaml: invalid leading UTF-8 octet");
    cara_diags_free(&d);
}

TEST(yaml_aliases_point_at_the_anchored_node)
{
    const char *text = HEAD "spec:\n  services:\n"
                            "    - {name: a, image: x, env: &common [{name: A, value: '1'}]}\n"
                            "    - {name: b, image: x, env: *common}\n";
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(text, &d, &p));
    CHECK_INT(p->services[1].env_count, ==, 1);
    CHECK_STR(p->services[1].env[0].value, "1");
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(yaml_alias_bomb_fails_fast_on_the_node_budget)
{
    /* Each level doubles: 2^40 nodes if expanded. */
    char text[4096] = "a0: &a0 [x, x]\n";
    for (int i = 1; i <= 40; i++) {
        char line[64];
        snprintf(line, sizeof line, "a%d: &a%d [*a%d, *a%d]\n", i, i, i - 1, i - 1);
        strcat(text, line);
    }
    cara_diags d;
    trees t;
    CHECK_RC(read_yaml(text, &d, &t), CARA_EPARSE);
    CHECK_INT(t.docs, ==, 0);
    CHECK_INT(d.count, ==, 1);
    CHECK(strstr(spec_diag(&d, 0), "yaml: document has more than 200000 nodes (each alias use "
                                    "counts in full)") != NULL);
    cara_diags_free(&d);
}

TEST(yaml_unknown_and_recursive_aliases_are_errors)
{
    cara_diags d;
    trees t;
    CHECK_RC(read_yaml("a: *nope\n", &d, &t), CARA_EPARSE);
    CHECK_STR(spec_diag(&d, 0), "t.yaml:1:4: yaml: unknown alias \"nope\"");
    cara_diags_free(&d);
    CHECK_RC(read_yaml("a: &x [1, *x]\n", &d, &t), CARA_EPARSE);
    CHECK_STR(spec_diag(&d, 0), "t.yaml:1:11: yaml: alias refers to a node that contains it: \"x\"");
    cara_diags_free(&d);
}

TEST(yaml_nesting_deeper_than_the_cap_is_an_error)
{
    char text[256] = "";
    for (int i = 0; i < CARA_DOC_DEPTH_MAX; i++)
        strcat(text, "[");
    cara_diags d;
    trees t;
    CHECK_RC(read_yaml(text, &d, &t), CARA_EPARSE); /* 32 levels are fine; it is unclosed */
    CHECK_STR(spec_diag(&d, 0), "t.yaml:2:1: yaml: did not find expected node content (while parsing a flow node)");
    cara_diags_free(&d);
    strcat(text, "[]");
    for (int i = 0; i < CARA_DOC_DEPTH_MAX; i++)
        strcat(text, "]");
    CHECK_RC(read_yaml(text, &d, &t), CARA_EPARSE);
    CHECK_STR(spec_diag(&d, 0), "t.yaml:1:33: yaml: nesting is deeper than 32 levels");
    cara_diags_free(&d);
}

TEST(yaml_scalar_longer_than_the_cap_is_an_error)
{
    size_t n = CARA_DOC_SCALAR_BYTES_MAX + 1;
    char *text = malloc(n + 8);
    memcpy(text, "a: ", 3);
    memset(text + 3, 'x', n);
    text[3 + n] = '\0';
    cara_diags d;
    trees t;
    CHECK_RC(read_yaml(text, &d, &t), CARA_EPARSE);
    CHECK_STR(spec_diag(&d, 0), "t.yaml:1:4: yaml: scalar is longer than 32768 bytes");
    cara_diags_free(&d);
    free(text);
}

TEST(yaml_explicit_tags_are_refused_but_str_is_allowed)
{
    CHECK_ONE_ERROR(HEAD "spec: !!map {services: []}\n",
                    "t.yaml:4:7: yaml: explicit tags are not supported, got \"!!map\"");
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(HEAD "spec: {services: [{name: a, image: !!str x, env: [{name: N, value: ! 12}]}]}\n",
                        &d, &p));
    CHECK_STR(p->services[0].env[0].value, "12");
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

/* ---- Binding ---------------------------------------------------------------------- */

TEST(duplicate_mapping_keys_are_errors)
{
    CHECK_ONE_ERROR(HEAD "spec:\n  services: [{name: a, image: x}]\n  services: [{name: b, image: x}]\n",
                    "t.yaml:6:3: spec.services: duplicate key (first at line 5)");
    CHECK_ONE_ERROR(HEAD "spec:\n  services: [{name: a, image: x}]\n  nodeSelector: {a: b, a: c}\n",
                    "t.yaml:6:24: spec.nodeSelector.a: duplicate key");
}

TEST(a_number_and_a_quoted_string_bind_to_the_same_string)
{
    cara_diags d;
    cara_project *a, *b;
    CHECK_OK(spec_parse(HEAD "spec: {services: [{name: s, image: x, env: [{name: P, value: 3306}]}]}\n", &d, &a));
    cara_diags_free(&d);
    CHECK_OK(spec_parse(HEAD "spec: {services: [{name: s, image: x, env: [{name: P, value: \"3306\"}]}]}\n", &d, &b));
    cara_diags_free(&d);
    CHECK(cara_project_equal(a, b));
    CHECK_STR(a->services[0].env[0].value, "3306");
    cara_project_free(cara_test_env(), a);
    cara_project_free(cara_test_env(), b);
}

TEST(integers_and_booleans_accept_their_text_forms)
{
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(HEAD "spec:\n  services:\n    - name: s\n      image: x\n"
                             "      ports: [{containerPort: \"8080\"}]\n"
                             "      volumeMounts: [{name: v, mountPath: /v, readOnly: \"true\"}]\n"
                             "  volumes: [{name: v}]\n",
                        &d, &p));
    CHECK_INT(p->services[0].ports[0].container_port, ==, 8080);
    CHECK(p->services[0].mounts[0].read_only);
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(null_means_absent_for_optional_fields_and_is_an_error_for_required_ones)
{
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(HEAD "spec:\n  services: [{name: s, image: x, command: ~, ports: null}]\n  volumes:\n", &d, &p));
    CHECK_INT(p->services[0].command_count, ==, 0);
    CHECK_INT(p->volumes_count, ==, 0);
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
    CHECK_ONE_ERROR(HEAD "spec:\n  services: [{name: s, image: }]\n",
                    "t.yaml:5:24: spec.services[0].image: required field has no value");
}

TEST(defaults_are_filled_into_the_model)
{
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(HEAD "spec:\n  services:\n    - name: s\n      image: x\n"
                             "      env: [{name: EMPTY}]\n      ports: [{containerPort: 53}]\n"
                             "      volumeMounts: [{name: v, mountPath: /v}]\n"
                             "      healthCheck: {command: [\"true\"], retries: 5}\n"
                             "  volumes: [{name: v}]\n"
                             "  ingress: [{name: i, host: h, target: {service: s, port: 53}}]\n",
                        &d, &p));
    const cara_service *s = &p->services[0];
    CHECK_STR(s->env[0].value, "");
    CHECK(s->ports[0].protocol == CARA_PROTO_TCP);
    CHECK(s->ports[0].name == NULL);
    CHECK(!s->mounts[0].read_only);
    CHECK(s->restart == CARA_RESTART_ALWAYS);
    CHECK_INT(s->health.interval_s, ==, 30);
    CHECK_INT(s->health.timeout_s, ==, 30);
    CHECK_INT(s->health.start_period_s, ==, 0);
    CHECK_INT(s->health.retries, ==, 5);
    CHECK(p->volumes[0].type == CARA_VOLUME_EPHEMERAL);
    CHECK(p->ingress[0].scope == CARA_SCOPE_INTERNAL);
    CHECK(!p->has_expire_at);
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(the_base_manifest_binds_every_field)
{
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(SPEC_BASE_YAML, &d, &p));
    CHECK_STR(p->name, "wordpress");
    CHECK_INT(p->labels_count, ==, 2);
    CHECK_STR(p->labels[1].name, "app.kubernetes.io/name");
    CHECK_INT(p->services_count, ==, 2);
    CHECK_STR(p->services[1].command[0], "docker-entrypoint.sh");
    CHECK_STR(p->services[1].args[0], "apache2-foreground");
    CHECK_STR(p->services[1].ports[0].name, "http");
    CHECK_INT(p->services[1].health.command_count, ==, 3);
    CHECK_INT(p->services[1].resources.cpu_millis, ==, 500);
    CHECK_INT(p->services[1].resources.memory_bytes, ==, 256 << 20);
    CHECK_STR(p->ingress[0].host, "blog");
    CHECK_STR(p->ingress[0].target_service, "app");
    CHECK_INT(p->ingress[0].target_port, ==, 80);
    CHECK_STR(p->node_selector[0].value, "ssd");
    CHECK(p->has_expire_at);
    CHECK_INT(p->expire_at_wall_ms, ==, 1796083200000LL);
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(status_in_a_manifest_is_ignored)
{
    cara_diags d;
    cara_project *p;
    CHECK_OK(spec_parse(HEAD "spec: {services: [{name: s, image: x}]}\nstatus: {phase: Running, anything: [1]}\n", &d, &p));
    cara_diags_free(&d);
    cara_project_free(cara_test_env(), p);
}

TEST(every_error_in_every_document_is_reported_and_nothing_is_returned)
{
    const char *text = HEAD "spec: {services: [{name: s, image: x, imagee: y}]}\n"
                            "---\n" HEAD "spec: {services: [{name: ok, image: x}]}\n"
                            "---\n" HEAD "spec: {services: [{name: S, image: x}], volumes: [{name: v, type: Disk}]}\n";
    cara_diags d;
    cara_project *p;
    CHECK_RC(spec_parse(text, &d, &p), CARA_ESCHEMA);
    CHECK(p == NULL);
    CHECK_INT(d.count, ==, 3);
    CHECK_STR(spec_diag(&d, 0), "t.yaml:4:39: spec.services[0].imagee: unknown field (did you mean \"image\"?)");
    CHECK_STR(spec_diag(&d, 1), "t.yaml:14:20: spec.services[0].name: \"S\" is not a DNS label (lowercase "
                                "letters, digits and '-', 1 to 63 characters, starting and ending with a "
                                "letter or digit)");
    CHECK_STR(spec_diag(&d, 2), "t.yaml:14:61: spec.volumes[0].type: volume type \"Disk\" is not supported (only Ephemeral)");
    cara_diags_free(&d);
}

TEST(several_projects_in_one_file)
{
    cara_env *env = cara_test_env();
    const char *text = HEAD "spec: {services: [{name: a, image: x}]}\n---\n"
                            "apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: q}\n"
                            "spec: {services: [{name: b, image: x}]}\n";
    cara_diags d;
    cara_diags_init(&d, env, "t.yaml");
    cara_project **ps;
    size_t n;
    CHECK_OK(cara_manifest_parse(env, text, strlen(text), &d, &ps, &n));
    CHECK_INT(n, ==, 2);
    CHECK_STR(ps[0]->name, "p");
    CHECK_STR(ps[1]->name, "q");
    for (size_t i = 0; i < n; i++)
        cara_project_free(env, ps[i]);
    cara_env_free(env, ps);
    cara_diags_free(&d);
}

TEST(a_file_without_documents_is_an_error)
{
    CHECK_ONE_ERROR("", "t.yaml: no Project in the file (it has no documents)");
    CHECK_ONE_ERROR("# comment\n---\n", "t.yaml: no Project in the file (it has no documents)");
}

TEST(documents_beyond_the_cap_are_refused)
{
    size_t one = strlen(HEAD "spec: {services: [{name: a, image: x}]}\n---\n");
    char *text = malloc(one * (CARA_MANIFEST_DOCS_MAX + 1) + 1);
    text[0] = '\0';
    for (int i = 0; i <= CARA_MANIFEST_DOCS_MAX; i++)
        strcat(text, HEAD "spec: {services: [{name: a, image: x}]}\n---\n");
    cara_diags d;
    cara_project *p;
    CHECK_RC(spec_parse(text, &d, &p), CARA_EPARSE);
    CHECK(p == NULL);
    CHECK_INT(d.count, ==, 1);
    CHECK(strstr(spec_diag(&d, 0), ": more than 256 documents in one file") != NULL);
    cara_diags_free(&d);
    free(text);
}

TEST(wrong_types_are_reported_with_what_was_given)
{
    CHECK_ONE_ERROR(HEAD "spec: {services: [{name: a, image: x, ports: [{containerPort: http}]}]}\n",
                    "t.yaml:4:48: spec.services[0].ports[0].containerPort: must be an integer, got \"http\"");
    CHECK_ONE_ERROR(HEAD "spec: {services: [{name: a, image: {x: 1}}]}\n",
                    "t.yaml:4:29: spec.services[0].image: must be a string, got a mapping");
    CHECK_ONE_ERROR(HEAD "spec: {services: [{name: a, image: x, volumeMounts: [{name: v, mountPath: /v, readOnly: no}]}], volumes: [{name: v}]}\n",
                    "t.yaml:4:79: spec.services[0].volumeMounts[0].readOnly: must be true or false, got \"no\"");
}

/* ---- Status and node binders ----------------------------------------------------- */

typedef struct bound {
    int rc;
    cara_project_status *status;
    cara_node *node;
} bound;

static int bind_status_cb(void *ctx, doc *dc)
{
    bound *b = ctx;
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    b->rc = bind_project_status(cara_test_env(), dc->root, "status", &d, &b->status);
    for (size_t i = 0; i < d.count; i++)
        fprintf(stderr, "  %s\n", spec_diag(&d, i));
    cara_diags_free(&d);
    return 0;
}

static int bind_node_cb(void *ctx, doc *dc)
{
    bound *b = ctx;
    cara_diags d;
    cara_diags_init(&d, cara_test_env(), "t");
    b->rc = bind_node(cara_test_env(), dc->root, "", &d, &b->node);
    if (b->rc != 0)
        CHECK_STR(spec_diag(&d, 0), "t:1:12: state: must be one of Ready, NotReady, Draining, got \"Gone\"");
    cara_diags_free(&d);
    return 0;
}

TEST(status_and_node_bind_with_the_same_rules)
{
    cara_env *env = cara_test_env();
    cara_diags d;
    cara_diags_init(&d, env, "t");
    bound b = {0};
    const char *st = "{phase: Running, nodeRef: node-1, conditions: [{type: Phase, status: 'True', "
                     "reason: Started, lastTransitionTime: '2026-01-01T00:00:00Z'}]}";
    CHECK_OK(doc_from_yaml(env, st, strlen(st), &d, bind_status_cb, &b));
    CHECK_OK(b.rc);
    CHECK(b.status->phase == CARA_PHASE_RUNNING);
    CHECK_STR(b.status->conditions[0].reason, "Started");
    CHECK(b.status->conditions[0].message == NULL);
    cara_project_status_free(env, b.status);
    const char *node = "{name: n1, addresses: [100.64.0.1], capacity: {cpu: 4, memory: 8Gi}, "
                       "labels: {disk: ssd}, unschedulable: true}";
    CHECK_OK(doc_from_yaml(env, node, strlen(node), &d, bind_node_cb, &b));
    CHECK_OK(b.rc);
    CHECK_INT(b.node->capacity.cpu_millis, ==, 4000);
    CHECK_INT(b.node->capacity.memory_bytes, ==, 8ULL << 30);
    CHECK(b.node->unschedulable);
    CHECK(b.node->state == CARA_NODE_READY);
    cara_node_free(env, b.node);
    const char *bad = "{name: n1, state: Gone}";
    CHECK_OK(doc_from_yaml(env, bad, strlen(bad), &d, bind_node_cb, &b));
    CHECK_RC(b.rc, CARA_ESCHEMA);
    CHECK(b.node == NULL);
    cara_diags_free(&d);
}

/* ---- Quantities ----------------------------------------------------------------------- */

TEST(cpu_quantities)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t millis;
    } cases[] = {
        {"500m", 0, 500}, {"0.5", 0, 500}, {"2", 0, 2000}, {"1.25", 0, 1250},
        {"0.0001", 0, 1}, {"4096", 0, 4096000}, {"4097", CARA_ETOOBIG, 0},
        {"1e3", CARA_EPARSE, 0}, {"-1", CARA_EPARSE, 0}, {".5", CARA_EPARSE, 0},
        {"1.", CARA_EPARSE, 0}, {"2 cores", CARA_EPARSE, 0}, {"", CARA_EPARSE, 0},
        {"99999999999999999999999", CARA_ETOOBIG, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t v = 0;
        CHECK_RC(quantity_cpu_millis(cases[i].text, strlen(cases[i].text), &v), cases[i].rc);
        if (cases[i].rc == 0)
            CHECK_INT(v, ==, cases[i].millis);
    }
}

TEST(memory_quantities)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t bytes;
    } cases[] = {
        {"256Mi", 0, 256ULL << 20}, {"1Gi", 0, 1ULL << 30}, {"512M", 0, 512000000},
        {"1k", 0, 1000}, {"1048576", 0, 1048576}, {"1.5Gi", 0, 3ULL << 29},
        {"0.3", 0, 1}, {"1Pi", 0, 1ULL << 50}, {"1025Ti", CARA_ETOOBIG, 0},
        {"1Ei", CARA_ETOOBIG, 0}, {"256MB", CARA_EPARSE, 0}, {"1K", CARA_EPARSE, 0},
        {"100m", CARA_EPARSE, 0}, {"Mi", CARA_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t v = 0;
        CHECK_RC(quantity_memory_bytes(cases[i].text, strlen(cases[i].text), &v), cases[i].rc);
        if (cases[i].rc == 0)
            CHECK_INT(v, ==, cases[i].bytes);
    }
}

TEST(quantities_must_be_positive)
{
    CHECK_ONE_ERROR(HEAD "spec: {services: [{name: a, image: x, resources: {cpu: 0m}}]}\n",
                    "t.yaml:4:51: spec.services[0].resources.cpu: must be greater than 0, got \"0m\"");
}
