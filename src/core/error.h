/*
 * error.h — recording failures into a brine_error without allocating.
 *
 * Every "the input is malformed" exit goes through ERR_CORRUPT, which records the offset and
 * the source line (SQLite's CORRUPT_BKPT), so a bug report names the check that fired.
 */
#ifndef BRINE_CORE_ERROR_H
#define BRINE_CORE_ERROR_H

#include "brine.h"

#if defined(__GNUC__)
#define ERR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ERR_PRINTF(f, a)
#endif

/* Sets err (if not NULL) and returns code. fmt is printf-style, into err->msg. */
brine_status err_set(brine_error *err, brine_status code, int line, const char *fmt, ...)
    ERR_PRINTF(4, 5);
/* As err_set, with the byte offset where it happened. */
brine_status err_at(brine_error *err, brine_status code, uint64_t offset, int line,
                    const char *fmt, ...) ERR_PRINTF(5, 6);
/* A limit was exceeded: records its name, value and what the input asked for. */
brine_status err_limit(brine_error *err, const char *limit, uint64_t value, uint64_t observed,
                       uint64_t offset, int has_offset, int line);
/* Clears err to BRINE_OK. */
void err_clear(brine_error *err);

#define ERR_CORRUPT(err, off, ...) err_at((err), BRINE_ERR_MALFORMED, (off), __LINE__, __VA_ARGS__)
#define ERR_NOMEM(err) err_set((err), BRINE_ERR_NOMEM, __LINE__, "out of memory")

#endif
