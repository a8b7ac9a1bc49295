/* Validation helpers shared by validate*.c. A vctx collects problems into
 * diagnostics and remembers whether there was any. */
#ifndef CARA_SPEC_VALIDATE_INT_H
#define CARA_SPEC_VALIDATE_INT_H

#include "spec/bind_int.h"

typedef struct vctx {
    cara_diags *d;
    bool bad;
    char path[BIND_PATH_BYTES]; /* scratch for vpath */
} vctx;

void verr(vctx *v, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* snprintf into a path buffer; a path cut short is still a useful path. */
void pathf(char out[BIND_PATH_BYTES], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats a path into v->path and returns it (valid until the next call). */
const char *vpath(vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Each reports its problem at `path`. check_required returns whether `s` is set. */
bool check_required(vctx *v, const char *path, const char *s);
void check_dns_label(vctx *v, const char *path, const char *s);
void check_count(vctx *v, const char *path, size_t count, size_t max);
void check_bytes(vctx *v, const char *path, const char *s, size_t max);
void check_strv(vctx *v, const char *path, char **items, size_t count);
void check_labels(vctx *v, const char *path, const cara_kv *kv, size_t count, size_t max);
void check_resources(vctx *v, const char *path, const cara_resources *r);
void check_conditions(vctx *v, const char *path, const cara_condition *c, size_t count);

/* validate_service.c */
void check_service(vctx *v, const cara_project *p, size_t i);
void check_ingress(vctx *v, const cara_project *p);

#endif
