/*
 * file.c — mapping input files read-only. Inputs are never opened for writing.
 *
 * Threat model: the path may name anything — a FIFO whose open() would wait forever for a
 * writer, a terminal that would become our controlling tty, a device that never ends. It is
 * opened with O_NONBLOCK | O_NOCTTY and checked with fstat() on the descriptor itself (no
 * window between the check and the read); only a regular file is read.
 */
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

/* Files up to this size are read into memory, larger ones mapped (brine_unmap tells them
 * apart by length). */
#define SMALL_FILE (64 * 1024)

brine_status brine_map_file(const char *path, const uint8_t **data, size_t *len, brine_error *err)
{
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
        close(fd);
        *data = empty_file;
        return BRINE_OK;
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
        close(fd);
        if (!buf)
            return err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
        if (got != (size_t)st.st_size) {
            free(buf);
            return err_set(err, BRINE_ERR_IO, __LINE__, "cannot read: %s",
                           got < (size_t)st.st_size && e ? strerror(e) : "file changed size");
        }
        *data = buf;
        *len = got;
        return BRINE_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot map: %s", strerror(e));
    *data = p;
    *len = (size_t)st.st_size;
    return BRINE_OK;
}

void brine_unmap(const uint8_t *data, size_t len)
{
    if (!data || data == empty_file || !len)
        return;
    if (len <= SMALL_FILE)
        free((void *)(uintptr_t)data);
    else
        munmap((void *)(uintptr_t)data, len);
}
