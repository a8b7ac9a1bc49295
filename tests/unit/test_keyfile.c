/*
 * Key files: written 0600, read back, refused when group/world accessible,
 * never clobbered without force.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "crdt/crdt.h"
#include "harness.h"
#include "os/os.h"

static void tmp_dir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/cara-keyfile-XXXXXX");
    CHECK(mkdtemp(out) != NULL);
}

TEST(keyfile_round_trip_with_mode_0600)
{
    char dir[64], path[128];
    tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a/b/operator.key", dir);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    CHECK_OK(cara_os_mkdir_p(sub, 0700));
    uint8_t seed[32], back[32];
    cara_os_key_generate(seed);
    umask(0);
    CHECK_OK(cara_os_keyfile_write(path, seed, false));
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK_INT(st.st_mode & 0777, ==, 0600);
    CHECK(stat(sub, &st) == 0);
    CHECK_INT(st.st_mode & 0777, ==, 0700);
    CHECK_OK(cara_os_keyfile_read(path, back));
    CHECK_MEM(seed, 32, back, 32);
    /* The derived key pair is the same from the stored seed. */
    uint8_t pk1[32], sk1[64], pk2[32], sk2[64];
    CHECK_OK(cara_crdt_key_from_seed(seed, pk1, sk1));
    CHECK_OK(cara_crdt_key_from_seed(back, pk2, sk2));
    CHECK_MEM(pk1, 32, pk2, 32);
    unlink(path);
}

TEST(keyfile_refuses_group_or_world_accessible_file)
{
    char dir[64], path[128];
    tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/k", dir);
    uint8_t seed[32] = {7}, back[32];
    CHECK_OK(cara_os_keyfile_write(path, seed, false));
    CHECK(chmod(path, 0640) == 0);
    CHECK_RC(cara_os_keyfile_read(path, back), CARA_EPERM);
    CHECK(chmod(path, 0604) == 0);
    CHECK_RC(cara_os_keyfile_read(path, back), CARA_EPERM);
    CHECK(chmod(path, 0600) == 0);
    CHECK_OK(cara_os_keyfile_read(path, back));
    unlink(path);
}

TEST(keyfile_not_clobbered_without_force)
{
    char dir[64], path[128];
    tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/k", dir);
    uint8_t a[32] = {1}, b[32] = {2}, back[32];
    CHECK_OK(cara_os_keyfile_write(path, a, false));
    CHECK_RC(cara_os_keyfile_write(path, b, false), CARA_EEXIST);
    CHECK_OK(cara_os_keyfile_read(path, back));
    CHECK_MEM(back, 32, a, 32);
    CHECK_OK(cara_os_keyfile_write(path, b, true));
    CHECK_OK(cara_os_keyfile_read(path, back));
    CHECK_MEM(back, 32, b, 32);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK_INT(st.st_mode & 0777, ==, 0600);
    unlink(path);
}

TEST(keyfile_rejects_garbage_and_missing)
{
    char dir[64], path[128];
    tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/k", dir);
    uint8_t back[32];
    CHECK_RC(cara_os_keyfile_read(path, back), CARA_ENOENT);
    FILE *f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    CHECK(chmod(path, 0600) == 0);
    CHECK_RC(cara_os_keyfile_read(path, back), CARA_EPARSE);
    unlink(path);
}
