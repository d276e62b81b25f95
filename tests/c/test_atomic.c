/*
 * test_atomic.c — committing an output over what is already at its path (core/atomic.h):
 * with and without fsync a regular file is replaced whole and no temporary is left; a
 * directory that appeared at the path is refused and left where it was, also on the
 * --no-sync path that swaps names (RENAME_EXCHANGE) instead of renaming over the target.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static brine_status write_new(void *ctx, int fd, brine_error *err)
{
    (void)ctx;
    (void)err;
    return write(fd, "new", 3) == 3 ? BRINE_OK : BRINE_ERR_IO;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void replaces_a_file(const char *dir, unsigned flags)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/out", dir);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs("previous contents", f) >= 0);
    if (f)
        fclose(f);
    brine_error err = {0};
    CHECK(atomic_write(path, write_new, NULL, flags | ATOMIC_REPLACE, NULL, &err) == BRINE_OK);
    char got[32] = {0};
    f = fopen(path, "r");
    CHECK(f && fread(got, 1, sizeof got - 1, f) == 3 && !strcmp(got, "new"));
    if (f)
        fclose(f);
    CHECK(entries(dir) == 1); /* the old file and the temporary are gone */
    unlink(path);
}

static void refuses_a_directory(const char *dir, unsigned flags)
{
    char path[4096], inner[4200];
    snprintf(path, sizeof path, "%s/out", dir);
    snprintf(inner, sizeof inner, "%s/kept", path);
    CHECK(mkdir(path, 0700) == 0);
    int fd = open(inner, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    brine_error err = {0};
    CHECK(atomic_write(path, write_new, NULL, flags | ATOMIC_REPLACE, NULL, &err) != BRINE_OK);
    struct stat st;
    CHECK(stat(inner, &st) == 0 && S_ISREG(st.st_mode)); /* the directory stayed at path */
    CHECK(entries(dir) == 1);                            /* no temporary left */
    unlink(inner);
    rmdir(path);
}

int main(void)
{
    char dir[] = "/tmp/brine-test-atomic-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (unsigned flags = 0; flags <= ATOMIC_NO_SYNC; flags++) {
        replaces_a_file(dir, flags);
        refuses_a_directory(dir, flags);
    }
    rmdir(dir);
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
