/*
 * fuzz.h — what every fuzz target shares: the limits it runs under, a writer that consumes
 * output (reading every byte, so the sanitizers check it) and, when asked, keeps it for a
 * check, and the contract checks that turn a silent wrong answer into a crash.
 *
 * Each target defines LLVMFuzzerTestOneInput. Built with BRINE_BUILD_FUZZERS it links with
 * libFuzzer; otherwise with replay_main.c, as the plain program CTest runs over the corpus.
 */
#ifndef BRINE_FUZZ_H
#define BRINE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "brine.h"
#include "json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a message: libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Limits for fuzzing: the defaults, lowered so that one input costs at most a few hundred
 * megabytes and a few seconds under ASan. A limit hit is a verdict, not a finding. */
static inline void fuzz_limits(brine_limits *lim)
{
    memset(lim, 0, sizeof *lim); /* zero: the default */
    lim->max_opcodes = 2000000;
    lim->max_memory = UINT64_C(256) << 20;
    lim->max_string = UINT64_C(16) << 20;
    lim->zip_max_entry_bytes = UINT64_C(64) << 20;
    lim->zip_max_total_bytes = UINT64_C(128) << 20;
    lim->st_max_header = UINT64_C(16) << 20;
}

/* The input as a file at path (/proc/self/fd/N of a memfd, cap bytes for it): what a target
 * hands brine_model_open, which takes a path. Returns the fd; the caller closes it. */
static inline int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "memfd_create failed");
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, data + done, size - done);
        FUZZ_CHECK(w > 0, "write to memfd failed");
        done += (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* Output sink. keep: collect up to FUZZ_KEEP_MAX bytes into buf for a check afterwards. */
#define FUZZ_KEEP_MAX (UINT64_C(64) << 20)
typedef struct fuzz_sink {
    int keep;
    char *buf;
    size_t len, cap;
    int overflow;      /* more than FUZZ_KEEP_MAX was written */
    unsigned long sum; /* every byte read, so ASan and UBSan see the whole buffer */
} fuzz_sink;

static inline int fuzz_write(void *ctx, const void *buf, size_t len)
{
    fuzz_sink *s = ctx;
    const unsigned char *p = buf;
    FUZZ_CHECK(len == 0 || buf != NULL, "write of %zu bytes from NULL", len);
    for (size_t i = 0; i < len; i++)
        s->sum += p[i];
    if (!s->keep || s->overflow)
        return 0;
    if (len > FUZZ_KEEP_MAX - s->len) {
        s->overflow = 1;
        return 0;
    }
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + len)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        FUZZ_CHECK(nb != NULL, "out of memory in the harness");
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    return 0;
}

static inline void fuzz_sink_reset(fuzz_sink *s, int keep)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->keep = keep;
}

/* The kept output must be one valid JSON document: checked by json_check (any number size,
 * strict UTF-8), then parsed by jansson for the caller's checks, which also rejects duplicate
 * keys. Returns the document (caller frees with json_decref), or NULL when the output
 * overflowed or holds numbers jansson cannot represent. */
static inline json_t *fuzz_expect_json(const fuzz_sink *s, const char *what)
{
    if (s->overflow)
        return NULL;
    size_t at = 0;
    const char *why = json_check(s->buf ? s->buf : "", s->len, &at);
    if (why) {
        size_t from = at > 60 ? at - 60 : 0;
        size_t to = at + 20 < s->len ? at + 20 : s->len;
        FUZZ_CHECK(why == NULL, "%s is not valid JSON: %s at byte %zu: ...%.*s...", what, why, at,
                   (int)(to - from), s->buf + from);
    }
    json_error_t jerr;
    json_t *doc =
        json_loadb(s->buf ? s->buf : "", s->len,
                   JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!doc)
        FUZZ_CHECK(json_error_code(&jerr) != json_error_duplicate_key,
                   "%s has a duplicate key: %s at position %d", what, jerr.text, jerr.position);
    return doc;
}

static inline void fuzz_expect_status(brine_status st, const brine_error *err, const char *what)
{
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM || st == BRINE_ERR_LIMIT,
               "%s returned %d (%s): %s", what, (int)st, brine_status_name(st), err->msg);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL, "%s: unterminated message", what);
}

#endif
