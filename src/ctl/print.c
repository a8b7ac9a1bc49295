#include "ctl/print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

int ctl_output_parse(const char *text, ctl_output *out)
{
    if (strcmp(text, "table") == 0 || strcmp(text, "wide") == 0)
        *out = CTL_OUT_TABLE;
    else if (strcmp(text, "json") == 0)
        *out = CTL_OUT_JSON;
    else if (strcmp(text, "yaml") == 0)
        *out = CTL_OUT_YAML;
    else
        return -1;
    return 0;
}

int ctl_print_value(cara_env *env, const json_t *j, ctl_output fmt)
{
    if (fmt == CTL_OUT_YAML) {
        cara_buf y;
        cara_buf_init(&y, env, CTL_RESPONSE_BYTES_MAX);
        int rc = cara_json_to_yaml(j, &y);
        if (rc == 0)
            fwrite(y.data, 1, y.len, stdout);
        cara_buf_free(&y);
        return rc == 0 ? 0 : ctl_fail("cannot print as YAML: %s", cara_strerror(rc));
    }
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        return ctl_fail("cannot print as JSON");
    fputc('\n', stdout);
    return 0;
}

void ctl_age(const char *rfc3339, int64_t now_wall_ms, char *out, size_t cap)
{
    int64_t t;
    if (rfc3339 == NULL || cara_time_parse_rfc3339(rfc3339, strlen(rfc3339), &t) != 0) {
        snprintf(out, cap, "-");
        return;
    }
    int64_t s = (now_wall_ms - t) / 1000;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, cap, "%llds", (long long)s);
    else if (s < 120 * 60)
        snprintf(out, cap, "%lldm", (long long)(s / 60));
    else if (s < 48 * 3600)
        snprintf(out, cap, "%lldh", (long long)(s / 3600));
    else
        snprintf(out, cap, "%lldd", (long long)(s / 86400));
}

void ctl_table_init(ctl_table *t, size_t cols, const char *indent)
{
    CARA_ASSERT(cols > 0 && cols <= CTL_TABLE_COLS);
    *t = (ctl_table){.cols = cols, .indent = indent != NULL ? indent : ""};
}

int ctl_table_row(ctl_table *t, const char *const *cells)
{
    if (t->rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **v = realloc(t->cells, cap * t->cols * sizeof *v);
        if (v == NULL)
            return -1;
        t->cells = v;
        t->cap_rows = cap;
    }
    for (size_t i = 0; i < t->cols; i++) {
        const char *s = cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : "-";
        t->cells[t->rows * t->cols + i] = strdup(s);
    }
    t->rows++;
    return 0;
}

void ctl_table_print(const ctl_table *t, FILE *f)
{
    size_t width[CTL_TABLE_COLS] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (size_t i = 0; i < t->cols; i++) {
            const char *s = t->cells[r * t->cols + i];
            size_t n = s != NULL ? strlen(s) : 1;
            if (n > width[i])
                width[i] = n;
        }
    for (size_t r = 0; r < t->rows; r++) {
        fputs(t->indent, f);
        for (size_t i = 0; i < t->cols; i++) {
            const char *s = t->cells[r * t->cols + i];
            if (i + 1 == t->cols)
                fprintf(f, "%s\n", s != NULL ? s : "-");
            else
                fprintf(f, "%-*s   ", (int)width[i], s != NULL ? s : "-");
        }
    }
}

void ctl_table_free(ctl_table *t)
{
    for (size_t i = 0; i < t->rows * t->cols; i++)
        free(t->cells[i]);
    free(t->cells);
    *t = (ctl_table){0};
}
