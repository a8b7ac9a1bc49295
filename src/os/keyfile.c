/*
 * Key files: the OS side of key handling (src/crdt does the pure part).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"

#define KEYFILE_TAG "caravanserai-ed25519-seed-v1 "
#define KEYFILE_TAG_BYTES (sizeof KEYFILE_TAG - 1)
#define KEYFILE_BYTES (KEYFILE_TAG_BYTES + 2 * CARA_OS_KEY_SEED_BYTES + 1)

static int errno_code(int e)
{
    switch (e) {
    case ENOENT: return CARA_ENOENT;
    case EEXIST: return CARA_EEXIST;
    case EACCES:
    case EPERM:
    case EROFS: return CARA_EPERM;
    default: return CARA_EIO;
    }
}

void cara_os_key_generate(uint8_t seed[CARA_OS_KEY_SEED_BYTES])
{
    /* Called for its effect, so it stays outside the assertion: only its
     * result is the invariant (libsodium cannot run without it). */
    int sodium_rc = sodium_init();
    CARA_ASSERT(sodium_rc >= 0);
    randombytes_buf(seed, CARA_OS_KEY_SEED_BYTES);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return CARA_EIO;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char copy[4096];
    if (strlen(path) >= sizeof copy)
        return;
    strcpy(copy, path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int cara_os_keyfile_write(const char *path, const uint8_t seed[CARA_OS_KEY_SEED_BYTES],
                          bool force)
{
    char text[KEYFILE_BYTES + 1];
    char tmp[4096];
    memcpy(text, KEYFILE_TAG, KEYFILE_TAG_BYTES);
    sodium_bin2hex(text + KEYFILE_TAG_BYTES, 2 * CARA_OS_KEY_SEED_BYTES + 1, seed,
                   CARA_OS_KEY_SEED_BYTES);
    text[KEYFILE_BYTES - 1] = '\n';
    /* Without force, O_EXCL on the final name refuses to clobber; with it,
     * a temporary file renamed over the old one never leaves half a key. */
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return CARA_EINVAL;
    const char *target = force ? tmp : path;
    if (force)
        (void)unlink(tmp);
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sodium_memzero(text, sizeof text);
        return errno_code(errno);
    }
    int rc = write_all(fd, text, KEYFILE_BYTES);
    sodium_memzero(text, sizeof text);
    if (rc == 0 && fchmod(fd, 0600) != 0) /* the umask may have been wider */
        rc = CARA_EIO;
    if (rc == 0 && fsync(fd) != 0)
        rc = CARA_EIO;
    close(fd);
    if (rc == 0 && force && rename(tmp, path) != 0)
        rc = errno_code(errno);
    if (rc != 0)
        (void)unlink(target);
    else
        fsync_dir_of(path);
    return rc;
}

int cara_os_keyfile_read(const char *path, uint8_t seed[CARA_OS_KEY_SEED_BYTES])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ELOOP ? CARA_EPERM : errno_code(errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return CARA_EIO;
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        return CARA_EPERM;
    }
    char text[KEYFILE_BYTES + 2];
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    int rc = 0;
    size_t bin_len = 0;
    if (n != (ssize_t)KEYFILE_BYTES || memcmp(text, KEYFILE_TAG, KEYFILE_TAG_BYTES) != 0 ||
        text[KEYFILE_BYTES - 1] != '\n')
        rc = CARA_EPARSE;
    else if (sodium_hex2bin(seed, CARA_OS_KEY_SEED_BYTES, text + KEYFILE_TAG_BYTES,
                            2 * CARA_OS_KEY_SEED_BYTES, NULL, &bin_len, NULL) != 0 ||
             bin_len != CARA_OS_KEY_SEED_BYTES)
        rc = CARA_EPARSE;
    sodium_memzero(text, sizeof text);
    return rc;
}

int cara_os_mkdir_p(const char *dir, unsigned mode)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p)
        return CARA_EINVAL;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST)
            return errno_code(errno);
        p[i] = c;
    }
    return 0;
}
