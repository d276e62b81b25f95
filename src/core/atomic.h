/*
 * atomic.h — writing an output file so that it appears complete or not at all: a temporary
 * file in the same directory (so rename is atomic), fsync, rename over the target, fsync of
 * the directory. On any failure the temporary file is removed and the target is untouched.
 */
#ifndef BRINE_CORE_ATOMIC_H
#define BRINE_CORE_ATOMIC_H

#include "brine.h"

/* Writes the file's bytes to fd; returns BRINE_OK or an error (err set). */
typedef brine_status (*atomic_produce_fn)(void *ctx, int fd, brine_error *err);

/* ATOMIC_NO_SYNC: skip fsync. The output still appears whole or not at all to every reader;
 * only its survival across a power loss right after the rename is no longer promised. */
#define ATOMIC_NO_SYNC 1u

/* Creates a temporary file beside path and fills it with produce. When keep_tmp is NULL it is
 * renamed over path at once; otherwise its name is returned in *keep_tmp (free() it) for the
 * caller to atomic_commit later, so several outputs can be committed together. */
brine_status atomic_write(const char *path, atomic_produce_fn produce, void *ctx, unsigned flags,
                          char **keep_tmp, brine_error *err);
/* Renames a staged temporary file over path and (unless ATOMIC_NO_SYNC) syncs the directory;
 * removes it on failure. */
brine_status atomic_commit(const char *tmp, const char *path, unsigned flags, brine_error *err);

#endif
