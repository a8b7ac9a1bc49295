/* Host usage: /proc/meminfo and statvfs(2), for the node's pressure
 * conditions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "os/os.h"

/* /proc/meminfo is about 1.5 KiB; its MemAvailable line is the third. */
#define MEMINFO_BYTES_MAX 8192

int cara_os_meminfo_parse(const char *text, size_t len, uint64_t *available_bytes)
{
    static const char key[] = "MemAvailable:";
    const size_t key_len = sizeof key - 1;
    for (size_t i = 0; i + key_len <= len; i++) {
        if ((i > 0 && text[i - 1] != '\n') || memcmp(text + i, key, key_len) != 0)
            continue;
        size_t j = i + key_len;
        while (j < len && text[j] == ' ')
            j++;
        uint64_t kib = 0;
        size_t digits = 0;
        for (; j < len && text[j] >= '0' && text[j] <= '9'; j++, digits++) {
            if (kib > (UINT64_MAX >> 10) / 10)
                return CARA_EPARSE;
            kib = kib * 10 + (uint64_t)(text[j] - '0');
        }
        /* The kernel writes " kB" after every size (meaning KiB). */
        if (digits == 0 || len - j < 3 || memcmp(text + j, " kB", 3) != 0)
            return CARA_EPARSE;
        *available_bytes = kib << 10;
        return 0;
    }
    return CARA_EPARSE;
}

int cara_os_mem_available(uint64_t *available_bytes)
{
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CARA_EIO;
    char text[MEMINFO_BYTES_MAX];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, text + len, sizeof text - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof text)
            break; /* MemAvailable is near the top: what was read is enough */
    }
    close(fd);
    return cara_os_meminfo_parse(text, len, available_bytes);
}

int cara_os_disk_usage(const char *path, uint64_t *available_bytes, uint64_t *total_bytes)
{
    struct statvfs st;
    if (statvfs(path, &st) != 0)
        return errno == ENOENT ? CARA_ENOENT : errno == EACCES ? CARA_EPERM : CARA_EIO;
    uint64_t unit = st.f_frsize ? st.f_frsize : st.f_bsize;
    *available_bytes = (uint64_t)st.f_bavail * unit;
    *total_bytes = (uint64_t)st.f_blocks * unit;
    return 0;
}
