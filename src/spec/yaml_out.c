/*
 * JSON value -> YAML text, through libyaml's emitter (never by hand: the
 * emitter knows the quoting and escaping rules, we only choose styles).
 *
 * The one thing the emitter cannot know is how a reader will resolve a
 * plain scalar: under YAML 1.1, `true`, `no`, `~`, `3306`, `0x1f`, `1e3`,
 * `12:30` and `2026-01-01` are not strings. A string that looks like any
 * of these is written quoted, so that reading the output back gives the
 * very same model. Numbers, booleans and null are written plain. Multi-line
 * strings ask for the literal block style; the emitter falls back to
 * quotes when a string cannot be written that way (trailing spaces,
 * control characters).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "spec/spec_int.h"

typedef struct yaml_sink {
    cara_buf *out;
    int rc;
} yaml_sink;

static int sink_write(void *data, unsigned char *bytes, size_t len)
{
    yaml_sink *s = data;
    int rc = cara_buf_append(s->out, bytes, len);
    if (rc != 0) {
        s->rc = rc;
        return 0; /* libyaml: 0 is failure */
    }
    return 1;
}

/* Words that YAML 1.1 resolves to null, booleans or special floats when
 * they are plain. */
static bool reserved_word(const char *s)
{
    static const char *const words[] = {
        "~",   "null", "true", "false", "yes", "no",   "y",    "n",    "on",
        "off", ".inf", "-.inf", "+.inf", ".nan", "<<", "=",
    };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    return false;
}

/* True when `s` may be written plain and still read back as a string.
 * Deliberately coarse: anything starting like a number (digit, or a sign
 * or dot followed by a digit or dot) is quoted, which covers integers in
 * every base, floats, sexagesimals and timestamps at the cost of quoting a
 * few strings that did not need it. */
static bool plain_reads_as_string(const char *s, size_t len)
{
    if (len == 0 || strlen(s) != len)
        return false;
    if (reserved_word(s))
        return false;
    char c = s[0];
    if (c >= '0' && c <= '9')
        return false;
    if ((c == '-' || c == '+' || c == '.') && len > 1 &&
        ((s[1] >= '0' && s[1] <= '9') || s[1] == '.'))
        return false;
    return true;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int init_ok)
{
    if (!init_ok)
        return CARA_ENOMEM;
    return yaml_emitter_emit(em, ev) ? 0 : -1; /* -1: see emit_error */
}

static int emit_scalar(yaml_emitter_t *em, const char *text, size_t len, yaml_scalar_style_t style,
                       bool plain_ok)
{
    yaml_event_t ev;
    int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)len,
                                          plain_ok, 1, style);
    return emit(em, &ev, ok);
}

static int emit_string(yaml_emitter_t *em, const char *s, size_t len)
{
    if (memchr(s, '\n', len) != NULL)
        return emit_scalar(em, s, len, YAML_LITERAL_SCALAR_STYLE, false);
    if (plain_reads_as_string(s, len))
        return emit_scalar(em, s, len, YAML_PLAIN_SCALAR_STYLE, true);
    return emit_scalar(em, s, len, YAML_SINGLE_QUOTED_SCALAR_STYLE, false);
}

static int emit_value(yaml_emitter_t *em, const json_t *j, int depth);

static int emit_object(yaml_emitter_t *em, const json_t *j, int depth)
{
    yaml_event_t ev;
    int rc = emit(em, &ev,
                  yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                      YAML_BLOCK_MAPPING_STYLE));
    for (void *it = json_object_iter((json_t *)j); rc == 0 && it != NULL;
         it = json_object_iter_next((json_t *)j, it)) {
        rc = emit_string(em, json_object_iter_key(it), json_object_iter_key_len(it));
        if (rc == 0)
            rc = emit_value(em, json_object_iter_value(it), depth + 1);
    }
    if (rc == 0)
        rc = emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
    return rc;
}

static int emit_array(yaml_emitter_t *em, const json_t *j, int depth)
{
    yaml_event_t ev;
    int rc = emit(em, &ev,
                  yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                       YAML_BLOCK_SEQUENCE_STYLE));
    for (size_t i = 0; rc == 0 && i < json_array_size(j); i++)
        rc = emit_value(em, json_array_get(j, i), depth + 1);
    if (rc == 0)
        rc = emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
    return rc;
}

static int emit_value(yaml_emitter_t *em, const json_t *j, int depth)
{
    if (depth > CARA_DOC_DEPTH_MAX)
        return CARA_ETOOBIG; /* the reader would refuse it anyway */
    char text[40];
    int len;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return emit_object(em, j, depth);
    case JSON_ARRAY:
        return emit_array(em, j, depth);
    case JSON_STRING:
        return emit_string(em, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        len = snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return emit_scalar(em, text, (size_t)len, YAML_PLAIN_SCALAR_STYLE, true);
    case JSON_REAL:
        len = snprintf(text, sizeof text, "%.17g", json_real_value(j));
        return emit_scalar(em, text, (size_t)len, YAML_PLAIN_SCALAR_STYLE, true);
    case JSON_TRUE:
        return emit_scalar(em, "true", 4, YAML_PLAIN_SCALAR_STYLE, true);
    case JSON_FALSE:
        return emit_scalar(em, "false", 5, YAML_PLAIN_SCALAR_STYLE, true);
    case JSON_NULL:
        return emit_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE, true);
    }
    CARA_UNREACHABLE();
}

/* One stream of `n` documents; every document after the first starts with
 * an explicit "---". */
static int emit_stream(yaml_emitter_t *em, const json_t *const *docs, size_t n)
{
    yaml_event_t ev;
    int rc = emit(em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = emit(em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, i == 0));
        if (rc == 0)
            rc = emit_value(em, docs[i], 0);
        if (rc == 0)
            rc = emit(em, &ev, yaml_document_end_event_initialize(&ev, 1));
    }
    if (rc == 0)
        rc = emit(em, &ev, yaml_stream_end_event_initialize(&ev));
    return rc;
}

int spec_json_to_yaml_stream(const json_t *const *docs, size_t n, cara_buf *out)
{
    CARA_ASSERT(docs != NULL && out != NULL);
    size_t len_before = out->len;
    yaml_sink sink = {.out = out};
    yaml_emitter_t em;
    if (!yaml_emitter_initialize(&em))
        return CARA_ENOMEM;
    yaml_emitter_set_output(&em, sink_write, &sink);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* no folding: one line per scalar */
    yaml_emitter_set_indent(&em, 2);
    int rc = emit_stream(&em, docs, n);
    if (rc == 0 && !yaml_emitter_flush(&em))
        rc = -1;
    if (rc == -1) /* the emitter failed: our sink, its memory, or bad text */
        rc = sink.rc != 0 ? sink.rc : em.error == YAML_MEMORY_ERROR ? CARA_ENOMEM : CARA_EINVAL;
    yaml_emitter_delete(&em);
    if (rc != 0) {
        out->len = len_before;
        if (out->data != NULL)
            out->data[out->len] = '\0';
    }
    return rc;
}

int cara_json_to_yaml(const json_t *j, cara_buf *out)
{
    CARA_ASSERT(j != NULL);
    return spec_json_to_yaml_stream(&j, 1, out);
}

int cara_json_to_yaml_stream(const json_t *const *docs, size_t n, cara_buf *out)
{
    CARA_ASSERT(docs != NULL && n >= 1);
    return spec_json_to_yaml_stream(docs, n, out);
}
