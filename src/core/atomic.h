/*
 * atomic.h — writing an output file so that it appears complete or not at all: a temporary
 * file in the same directory (so rename is atomic), fsync, rename over the target, fsync of
 * the directory. On any failure the temporary file is removed and the target is untouched.
 *
 * Every temporary file is registered, while it exists, in a fixed static table that
 * brine_remove_temporaries() (brine.h) walks from a signal handler: an interrupted
 * conversion leaves nothing behind either. The table holds copies of the names, so the
 * handler reads no heap memory and calls only unlink().
 */
#ifndef BRINE_CORE_ATOMIC_H
#define BRINE_CORE_ATOMIC_H

#include "brine.h"

/* Writes the file's bytes to fd; returns BRINE_OK or an error (err set). */
typedef brine_status (*atomic_produce_fn)(void *ctx, int fd, brine_error *err);

/* ATOMIC_NO_SYNC: skip fsync. The output still appears whole or not at all to every reader;
 * only its survival across a power loss right after the rename is no longer promised. An
 * existing target is then swapped out (RENAME_EXCHANGE) and removed rather than renamed
 * over, which on ext4 would start writing the new file back at once (auto_da_alloc). */
#define ATOMIC_NO_SYNC 1u
/* ATOMIC_REPLACE: the commit may replace an existing file. Without it the commit refuses a
 * path that exists at the moment of the rename (renameat2 RENAME_NOREPLACE, or link() where
 * the file system lacks it), so a file created after the caller's own checks is not lost. */
#define ATOMIC_REPLACE 2u

/* Creates a temporary file beside path and fills it with produce. When keep_tmp is NULL it is
 * committed at once; otherwise its name is returned in *keep_tmp (free() it) for the caller to
 * commit later with atomic_commit or atomic_commit_pair, or drop with atomic_discard. */
brine_status atomic_write(const char *path, atomic_produce_fn produce, void *ctx, unsigned flags,
                          char **keep_tmp, brine_error *err);
/* Renames a staged temporary file onto path (see ATOMIC_REPLACE) and, unless ATOMIC_NO_SYNC,
 * syncs the directory; removes the temporary file on failure. */
brine_status atomic_commit(const char *tmp, const char *path, unsigned flags, brine_error *err);
/* Commits two staged files together, with SIGINT, SIGTERM and SIGHUP held back meanwhile so
 * that an interruption cannot leave one without the other. When the second commit fails the
 * first output is removed again. Both temporaries are gone afterwards. */
brine_status atomic_commit_pair(const char *tmp1, const char *path1, const char *tmp2,
                                const char *path2, unsigned flags, brine_error *err);
/* Removes a staged temporary file (NULL is ignored). */
void atomic_discard(const char *tmp);

#endif
