/*
 * file.c — mapping input files read-only. Inputs are never opened for writing.
 *
 * Threat model: the path may name anything — a FIFO whose open() would wait forever for a
 * writer, a terminal that would become our controlling tty, a device that never ends. It is
 * opened with O_NONBLOCK | O_NOCTTY and checked with fstat() on the descriptor itself (no
 * window between the check and the read); only a regular file is read.
 */
#include "core/file.h"
#include "brine.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t empty_file[1];

/* Why a file of this type is not read. */
static const char *not_regular(mode_t mode)
{
    if (S_ISDIR(mode))
        return "is a directory, not a file";
    if (S_ISFIFO(mode))
        return "is a FIFO (named pipe), not a regular file: brine reads only regular files";
    if (S_ISCHR(mode))
        return "is a character device, not a regular file: brine reads only regular files";
    if (S_ISBLK(mode))
        return "is a block device, not a regular file: brine reads only regular files";
    if (S_ISSOCK(mode))
        return "is a socket, not a regular file: brine reads only regular files";
    return "is not a regular file: brine reads only regular files";
}

/* Hands the descriptor to the caller who asked for it, else closes it. */
static brine_status keep_or_close(int fd, int *keep_fd)
{
    if (keep_fd)
        *keep_fd = fd;
    else
        close(fd);
    return BRINE_OK;
}

/* Files up to this size are read into memory, larger ones mapped (brine_unmap tells them
 * apart by length). */
#define SMALL_FILE (64 * 1024)

brine_status file_map_fd(const char *path, const uint8_t **data, size_t *len, int *keep_fd,
                         brine_error *err)
{
    if (keep_fd)
        *keep_fd = -1;
    if (!path || !data || !len)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_map_file: NULL argument");
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        /* a socket cannot be opened at all (ENXIO): say what it is, not just the errno */
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            return err_set(err, BRINE_ERR_IO, __LINE__, "%s", not_regular(st.st_mode));
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot open: %s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, BRINE_ERR_IO, __LINE__, "%s", not_regular(st.st_mode));
    }
    if (st.st_size == 0) {
        *data = empty_file;
        return keep_or_close(fd, keep_fd);
    }
    if ((uint64_t)st.st_size <= SMALL_FILE) {
        /* small files are read: two syscalls and a page fault fewer than a mapping, which
         * is most of the cost of scanning a folder of small pickles */
        uint8_t *buf = malloc((size_t)st.st_size);
        size_t got = 0;
        while (buf && got < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        int e = errno;
        if (!buf || got != (size_t)st.st_size) {
            close(fd);
            free(buf);
            if (!buf)
                return err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
            return err_set(err, BRINE_ERR_IO, __LINE__, "cannot read: %s",
                           got < (size_t)st.st_size && e ? strerror(e) : "file changed size");
        }
        *data = buf;
        *len = got;
        return keep_or_close(fd, keep_fd);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    if (p == MAP_FAILED) {
        close(fd);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot map: %s", strerror(e));
    }
    *data = p;
    *len = (size_t)st.st_size;
    return keep_or_close(fd, keep_fd);
}

brine_status brine_map_file(const char *path, const uint8_t **data, size_t *len, brine_error *err)
{
    return file_map_fd(path, data, len, NULL, err);
}

/* Below this a hint saves nothing worth its system call (read-ahead is 128 KiB by default). */
#define ADVISE_MIN (256 * 1024)

static void advise(const void *p, size_t len, int advice)
{
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096, lo = (uintptr_t)p & ~(page - 1), hi;
    if (!p || len < ADVISE_MIN || __builtin_add_overflow((uintptr_t)p, len, &hi))
        return;
    (void)madvise((void *)lo, hi - lo, advice);
}

void file_advise_random(const void *p, size_t len) { advise(p, len, MADV_RANDOM); }
void file_advise_willneed(const void *p, size_t len) { advise(p, len, MADV_WILLNEED); }
void file_advise_normal(const void *p, size_t len) { advise(p, len, MADV_NORMAL); }

void brine_unmap(const uint8_t *data, size_t len)
{
    if (!data || data == empty_file || !len)
        return;
    if (len <= SMALL_FILE)
        free((void *)(uintptr_t)data);
    else
        munmap((void *)(uintptr_t)data, len);
}
