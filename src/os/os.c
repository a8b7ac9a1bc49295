#include "os/os.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/base.h"

static uint64_t os_now_mono_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t os_now_wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* logfmt values are quoted when they hold spaces, quotes or '='. */
static void put_logfmt_value(FILE *f, const char *s)
{
    if (strpbrk(s, " \"=\t\n") == NULL && *s != '\0') {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void os_log(void *ctx, int level, const char *module, const char *msg)
{
    cara_os_log *lg = ctx;
    FILE *f = lg->stream != NULL ? lg->stream : stderr;
    char ts[CARA_TIME_TEXT_BYTES];
    if (cara_time_format_rfc3339(os_now_wall_ms(NULL), ts) != 0)
        strcpy(ts, "?");
    if (lg->json) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"app\":", ts, cara_log_level_name(level));
        put_json_string(f, lg->app != NULL ? lg->app : "cara");
        fputs(",\"module\":", f);
        put_json_string(f, module);
        fputs(",\"msg\":", f);
        put_json_string(f, msg);
        fputs("}\n", f);
    } else {
        fprintf(f, "ts=%s level=%s module=", ts, cara_log_level_name(level));
        put_logfmt_value(f, module);
        fputs(" msg=", f);
        put_logfmt_value(f, msg);
        fputc('\n', f);
    }
    fflush(f);
}

static void *os_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *os_calloc(void *ctx, size_t count, size_t size)
{
    (void)ctx;
    return calloc(count, size);
}

static void *os_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    return realloc(p, size);
}

static void os_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void cara_os_env_init(cara_env *env, cara_os_log *log, int log_level_max)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)os_now_mono_ms(NULL) ^ ((uint64_t)os_now_wall_ms(NULL) << 20);
    *env = (cara_env){
        .ctx = log,
        .now_mono_ms = os_now_mono_ms,
        .now_wall_ms = os_now_wall_ms,
        .log = os_log,
        .alloc = os_alloc,
        .calloc = os_calloc,
        .realloc = os_realloc,
        .free = os_free,
        .log_level_max = log_level_max,
    };
    cara_rng_seed(&env->rng, seed);
}

int cara_os_read_file(cara_env *env, const char *path, size_t bytes_max, char **data_out,
                      size_t *len_out)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? CARA_ENOENT : errno == EACCES ? CARA_EPERM : CARA_EIO;
    cara_buf b;
    cara_buf_init(&b, env, bytes_max);
    char chunk[16384];
    int rc = 0;
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n > 0 && (rc = cara_buf_append(&b, chunk, n)) != 0)
            break;
        if (n < sizeof chunk) {
            if (ferror(f))
                rc = errno == EISDIR ? CARA_EINVAL : CARA_EIO;
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (rc == 0 && b.data == NULL)
        rc = cara_buf_append(&b, "", 0);
    if (rc != 0) {
        cara_buf_free(&b);
        return rc;
    }
    *data_out = (char *)cara_buf_take(&b, len_out);
    return 0;
}
