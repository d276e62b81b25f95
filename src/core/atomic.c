/* atomic.c — temp-file-and-rename output (see atomic.h). */
#include "core/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

static void sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + 1), path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* makes the rename durable; the file is complete either way */
        close(dfd);
    }
}

brine_status atomic_commit(const char *tmp, const char *path, unsigned flags, brine_error *err)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot rename the output into %.150s: %s",
                       path, strerror(e));
    }
    if (!(flags & ATOMIC_NO_SYNC))
        sync_dir_of(path);
    return BRINE_OK;
}

brine_status atomic_write(const char *path, atomic_produce_fn produce, void *ctx, unsigned flags,
                          char **keep_tmp, brine_error *err)
{
    if (!path || !*path)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "no output path");
    size_t cap = strlen(path) + 64;
    char *tmp = malloc(cap);
    if (!tmp)
        return ERR_NOMEM(err);
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path + 1) : 0;
    static unsigned counter;
    int fd = -1;
    /* hidden, unique by pid and attempt; O_EXCL so an existing file is never reused */
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, cap, "%.*s.%s.tmp-%ld-%u", dlen, path, path + dlen, (long)getpid(),
                 counter++);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot create a file beside %.150s: %s",
                       path, strerror(e));
    }
    brine_status st = produce(ctx, fd, err);
    if (!st && !(flags & ATOMIC_NO_SYNC) && fsync(fd) != 0)
        st = err_set(err, BRINE_ERR_IO, __LINE__, "fsync of %.150s failed: %s", tmp,
                     strerror(errno));
    if (close(fd) != 0 && !st)
        st = err_set(err, BRINE_ERR_IO, __LINE__, "closing %.150s failed: %s", tmp,
                     strerror(errno));
    if (st) {
        unlink(tmp);
        free(tmp);
        return st;
    }
    if (keep_tmp) {
        *keep_tmp = tmp;
        return BRINE_OK;
    }
    st = atomic_commit(tmp, path, flags, err);
    free(tmp);
    return st;
}
