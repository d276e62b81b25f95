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
#include <pthread.h>
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

/* The mappings made here and the descriptors of their files, so that readers given only a
 * pointer can read headers with pread (touching a mapped page maps the whole page-cache folio
 * it sits in, up to MiBs of tensors) and copy tensor bytes inside the kernel. A mutex guards
 * the table: directory scans map files on several threads. */
typedef struct mapping {
    const uint8_t *base;
    size_t len;
    int fd;
} mapping;

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping *maps;
static size_t n_maps, cap_maps;

static void remember(const uint8_t *base, size_t len, int fd)
{
    pthread_mutex_lock(&maps_lock);
    if (n_maps == cap_maps) {
        size_t cap = cap_maps ? cap_maps * 2 : 8;
        mapping *m = realloc(maps, cap * sizeof *m);
        if (m) {
            maps = m;
            cap_maps = cap;
        }
    }
    if (n_maps < cap_maps) {
        maps[n_maps++] = (mapping){base, len, fd};
        fd = -1;
    }
    pthread_mutex_unlock(&maps_lock);
    if (fd >= 0) /* no room: the mapping works without its descriptor */
        close(fd);
}

static void forget(const uint8_t *base)
{
    int fd = -1;
    pthread_mutex_lock(&maps_lock);
    for (size_t i = 0; i < n_maps; i++)
        if (maps[i].base == base) {
            fd = maps[i].fd;
            maps[i] = maps[--n_maps];
            break;
        }
    if (!n_maps) {
        free(maps);
        maps = NULL;
        cap_maps = 0;
    }
    pthread_mutex_unlock(&maps_lock);
    if (fd >= 0)
        close(fd);
}

int file_source(const void *p, size_t len, int *fd, uint64_t *offset)
{
    int found = 0;
    uintptr_t a = (uintptr_t)p;
    pthread_mutex_lock(&maps_lock);
    for (size_t i = 0; i < n_maps && !found; i++) {
        uintptr_t b = (uintptr_t)maps[i].base;
        if (a >= b && a - b <= maps[i].len && len <= maps[i].len - (a - b)) {
            *fd = maps[i].fd;
            *offset = (uint64_t)(a - b);
            found = 1;
        }
    }
    pthread_mutex_unlock(&maps_lock);
    return found;
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
        if (!buf || got != (size_t)st.st_size) {
            close(fd);
            free(buf);
            if (!buf)
                return err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
            return err_set(err, BRINE_ERR_IO, __LINE__, "cannot read: %s",
                           got < (size_t)st.st_size && e ? strerror(e) : "file changed size");
        }
        close(fd);
        *data = buf;
        *len = got;
        return BRINE_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    if (p == MAP_FAILED) {
        close(fd);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot map: %s", strerror(e));
    }
    /* no read-ahead until a reader says how it reads: the default read-around of the first
     * page touched may be the device's whole read-ahead window (often MiBs of tensors) */
    file_advise_random(p, (size_t)st.st_size);
    /* a page touched must not map the whole (up to 2 MiB) page-cache folio it sits in:
     * reading one header would count MiBs of tensors in our resident set */
    (void)madvise(p, (size_t)st.st_size, MADV_NOHUGEPAGE);
    *data = p;
    *len = (size_t)st.st_size;
    remember(p, *len, fd); /* keeps fd open for pread and copy_file_range, or closes it */
    return BRINE_OK;
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

void file_release(const void *p, size_t len)
{
    int fd;
    uint64_t offset;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096, lo, hi;
    if (!p || len < ADVISE_MIN || !file_source(p, len, &fd, &offset))
        return;
    lo = ((uintptr_t)p + page - 1) & ~(page - 1); /* whole pages inside the range only */
    hi = ((uintptr_t)p + len) & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void file_prefetch_page(const void *p)
{
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    (void)madvise((void *)((uintptr_t)p & ~(page - 1)), page, MADV_WILLNEED);
}

void brine_unmap(const uint8_t *data, size_t len)
{
    if (!data || data == empty_file || !len)
        return;
    if (len <= SMALL_FILE)
        free((void *)(uintptr_t)data);
    else {
        forget(data);
        munmap((void *)(uintptr_t)data, len);
    }
}
