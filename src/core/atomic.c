/*
 * atomic.c — temp-file-and-rename output (see atomic.h), and the table of live temporary
 * files that a signal handler may remove (brine_remove_temporaries).
 *
 * Threat model: not hostile input but a hostile moment — Ctrl-C, a kill, a full disk, an
 * output path that appears while we write. Whatever happens, the target is either the
 * complete new file or untouched, and no temporary as large as the model is left behind.
 */
#include "core/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

/* The live temporaries. Names are copied in, so a signal handler touches only static memory
 * and lock-free atomics. 16 is far more than one process writes at once (convert: 2). */
enum { TEMP_SLOTS = 16, TEMP_NAME_MAX = 4096 };
enum { SLOT_FREE = 0, SLOT_FILLING = 1, SLOT_LIVE = 2 };
static char temp_names[TEMP_SLOTS][TEMP_NAME_MAX];
static atomic_int temp_state[TEMP_SLOTS];

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomics");

static int temp_register(const char *name)
{
    size_t n = strlen(name);
    if (n >= TEMP_NAME_MAX)
        return -1;
    for (int i = 0; i < TEMP_SLOTS; i++) {
        int expect = SLOT_FREE;
        if (atomic_compare_exchange_strong(&temp_state[i], &expect, SLOT_FILLING)) {
            memcpy(temp_names[i], name, n + 1);
            atomic_store(&temp_state[i], SLOT_LIVE);
            return i;
        }
    }
    return -1;
}

static void temp_unregister(const char *name)
{
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (atomic_load(&temp_state[i]) == SLOT_LIVE && strcmp(temp_names[i], name) == 0) {
            atomic_store(&temp_state[i], SLOT_FREE);
            return;
        }
}

void brine_remove_temporaries(void)
{
    /* async-signal-safe: atomics, static memory and unlink(2) only */
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (atomic_load(&temp_state[i]) == SLOT_LIVE)
            (void)unlink(temp_names[i]);
}

/* Holds back the signals a user sends to stop a conversion, so that a step made of several
 * system calls (create + register, two renames) is not cut in the middle. */
static void hold_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, old);
}

static void release_signals(const sigset_t *old) { sigprocmask(SIG_SETMASK, old, NULL); }

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

void atomic_discard(const char *tmp)
{
    if (!tmp)
        return;
    unlink(tmp);
    temp_unregister(tmp);
}

/* Replaces path with tmp without the flush that ext4 (auto_da_alloc) starts when a rename
 * replaces a file: swap the two names, then remove the old file, now under tmp's name.
 * Readers still see the old file or the new one. Only worth it without fsync: a synced file
 * has nothing left to flush. Returns -1 when path does not exist or the file system cannot
 * swap. */
static int exchange_into(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) != 0)
        return -1;
    if (unlink(tmp) == 0 || errno != EISDIR)
        return 0;
    /* path was a directory (made after the caller's checks): put it back; rename refuses */
    (void)renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE);
    return -1;
}

/* rename(2) that refuses an existing target unless ATOMIC_REPLACE. */
static int rename_into(const char *tmp, const char *path, unsigned flags)
{
    if ((flags & ATOMIC_REPLACE) && (flags & ATOMIC_NO_SYNC) && exchange_into(tmp, path) == 0)
        return 0;
    if (flags & ATOMIC_REPLACE)
        return rename(tmp, path); /* no target to swap with, or no RENAME_EXCHANGE */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    /* the file system has no RENAME_NOREPLACE: link() refuses an existing target too */
    if (link(tmp, path) != 0)
        return -1;
    unlink(tmp);
    return 0;
}

brine_status atomic_commit(const char *tmp, const char *path, unsigned flags, brine_error *err)
{
    if (rename_into(tmp, path, flags) != 0) {
        int e = errno;
        atomic_discard(tmp);
        if (e == EEXIST)
            return err_set(err, BRINE_ERR_IO, __LINE__,
                           "%.150s appeared while converting; it was not replaced", path);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot rename the output into %.150s: %s",
                       path, strerror(e));
    }
    temp_unregister(tmp);
    if (!(flags & ATOMIC_NO_SYNC))
        sync_dir_of(path);
    return BRINE_OK;
}

brine_status atomic_commit_pair(const char *tmp1, const char *path1, const char *tmp2,
                                const char *path2, unsigned flags, brine_error *err)
{
    sigset_t old;
    hold_signals(&old);
    brine_status st = atomic_commit(tmp1, path1, flags, err);
    if (st)
        atomic_discard(tmp2);
    else if ((st = atomic_commit(tmp2, path2, flags, err)))
        unlink(path1); /* one output without the other is a half conversion */
    release_signals(&old);
    return st;
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
    static atomic_uint counter;
    int fd = -1, registered = 0;
    sigset_t old;
    /* created and registered with the stop signals held: a signal in between would leave an
     * unregistered temporary behind */
    hold_signals(&old);
    /* hidden, unique by pid and attempt; O_EXCL so an existing file is never reused */
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, cap, "%.*s.%s.tmp-%ld-%u", dlen, path, path + dlen, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    int e = errno;
    if (fd >= 0 && !(registered = temp_register(tmp) >= 0)) {
        close(fd);
        unlink(tmp);
    }
    release_signals(&old);
    if (fd < 0 || !registered) {
        free(tmp);
        if (fd >= 0)
            return err_set(err, BRINE_ERR_IO, __LINE__,
                           "cannot write beside %.150s: path too long or too many outputs", path);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot create a file beside %.150s: %s", path,
                       strerror(e));
    }
    brine_status st = produce(ctx, fd, err);
    if (!st && !(flags & ATOMIC_NO_SYNC) && fsync(fd) != 0)
        st = err_set(err, BRINE_ERR_IO, __LINE__, "fsync of %.150s failed: %s", tmp,
                     strerror(errno));
    if (close(fd) != 0 && !st)
        st =
            err_set(err, BRINE_ERR_IO, __LINE__, "closing %.150s failed: %s", tmp, strerror(errno));
    if (st) {
        atomic_discard(tmp);
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
