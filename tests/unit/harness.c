#include "harness.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TESTS_MAX 2048
#define TEST_TIMEOUT_S_DEFAULT 120

struct test {
    const char *name;
    const char *file;
    cara_test_fn fn;
};

static struct test tests[TESTS_MAX];
static size_t tests_count;
static uint64_t seed;
static uint64_t fake_mono_ms = 1000;
static int64_t fake_wall_ms = 1790000000000; /* 2026-09-21 */
static cara_env env;

void cara_test_register(const char *name, const char *file, cara_test_fn fn)
{
    if (tests_count == TESTS_MAX) {
        fprintf(stderr, "too many tests; raise TESTS_MAX\n");
        abort();
    }
    const char *slash = strrchr(file, '/');
    tests[tests_count++] = (struct test){name, slash ? slash + 1 : file, fn};
}

_Noreturn void cara_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n  (seed %llu: rerun with CARA_TEST_SEED=%llu)\n",
            (unsigned long long)seed, (unsigned long long)seed);
    va_end(ap);
    fflush(stderr);
    _exit(1);
}

/* The child's end of the pipe a skip reason travels on. */
static int skip_fd = -1;
#define SKIP_EXIT_CODE 77 /* automake's code for a skipped test */
#define SKIP_REASON_BYTES_MAX 256

_Noreturn void cara_test_skip(const char *fmt, ...)
{
    char why[SKIP_REASON_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (skip_fd >= 0 && n > 0 && write(skip_fd, why, strlen(why)) < 0)
        perror("skip reason");
    _exit(SKIP_EXIT_CODE);
}

uint64_t cara_test_seed(void) { return seed; }

static uint64_t t_mono(void *ctx) { (void)ctx; return fake_mono_ms; }
static int64_t t_wall(void *ctx) { (void)ctx; return fake_wall_ms; }
static void t_log(void *ctx, int level, const char *module, const char *msg)
{
    (void)ctx;
    if (getenv("CARA_TEST_VERBOSE"))
        fprintf(stderr, "  log %s %s: %s\n", cara_log_level_name(level), module, msg);
}
static void *t_alloc(void *ctx, size_t n) { (void)ctx; return malloc(n); }
static void *t_realloc(void *ctx, void *p, size_t n) { (void)ctx; return realloc(p, n); }
static void t_free(void *ctx, void *p) { (void)ctx; free(p); }

cara_env *cara_test_env(void)
{
    if (env.alloc == NULL) {
        env = (cara_env){NULL, t_mono, t_wall, t_log, t_alloc, t_realloc, t_free,
                         CARA_LOG_DEBUG, {{0}}};
        cara_rng_seed(&env.rng, seed);
    }
    return &env;
}

void cara_test_set_time(uint64_t mono_ms, int64_t wall_ms)
{
    fake_mono_ms = mono_ms;
    fake_wall_ms = wall_ms;
}

const char *cara_test_path(const char *rel)
{
    static char path[4096];
    const char *root = getenv("CARA_SRC_ROOT");
    snprintf(path, sizeof path, "%s/tests/%s", root ? root : ".", rel);
    return path;
}

/* Runs one test in a child. Returns 1 (passed), 0 (failed) or -1
 * (skipped; its reason in why[SKIP_REASON_BYTES_MAX]). */
static int run_one(const struct test *t, unsigned timeout_s, char *why)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 0;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (pid == 0) {
        close(fds[0]);
        skip_fd = fds[1];
        alarm(timeout_s);
        t->fn();
        /* exit, not _exit: LeakSanitizer checks at exit in `make asan`. */
        exit(0);
    }
    close(fds[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    ssize_t n = read(fds[0], why, SKIP_REASON_BYTES_MAX - 1);
    close(fds[0]);
    why[n > 0 ? n : 0] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_EXIT_CODE && why[0] != '\0')
        return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    if (WIFSIGNALED(status))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return 0;
}

int main(int argc, char **argv)
{
    const char *s = getenv("CARA_TEST_SEED");
    seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    const char *t = getenv("CARA_TEST_TIMEOUT_S");
    unsigned timeout_s = t ? (unsigned)atoi(t) : TEST_TIMEOUT_S_DEFAULT;
    size_t passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < tests_count; i++) {
        int selected = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strstr(tests[i].name, argv[a]) || strstr(tests[i].file, argv[a]))
                selected = 1;
        if (!selected)
            continue;
        char why[SKIP_REASON_BYTES_MAX];
        int ok = run_one(&tests[i], timeout_s, why);
        if (ok < 0) {
            printf("SKIP %s:%s (%s)\n", tests[i].file, tests[i].name, why);
            skipped++;
            continue;
        }
        printf("%s %s:%s\n", ok ? "PASS" : "FAIL", tests[i].file, tests[i].name);
        ok ? passed++ : failed++;
    }
    printf("unit: %zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    return failed == 0 ? 0 : 1;
}
