/*
 * report_alloc_fail.c — the report writers under allocation failure and output failure.
 *
 * jansson allocates every JSON value the writers build; json_set_alloc_funcs routes those
 * allocations through a counter that fails the n-th one. For n = 1, 2, … until a report
 * completes, each format must return BRINE_ERR_NOMEM (or succeed), never crash, and refuse
 * further use once broken; under ASan/LSan nothing may leak. A sink that fails after k bytes
 * must make the report return BRINE_ERR_IO and then stay quiet. Also checks that the output
 * of a completed report is the same as without injection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "brine.h"

static long alloc_countdown = -1; /* fail when it reaches 0; -1: never */

static void *failing_malloc(size_t n)
{
    if (alloc_countdown >= 0 && alloc_countdown-- == 0)
        return NULL;
    return malloc(n);
}

typedef struct sink {
    char *buf;
    size_t len, cap;
    long fail_after; /* bytes accepted before the sink fails; -1: never */
} sink;

static int sink_write(void *ctx, const void *p, size_t n)
{
    sink *s = ctx;
    if (s->fail_after >= 0 && s->len + n > (size_t)s->fail_after)
        return -1;
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return -1;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return 0;
}

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Writes one report of two files and one error; returns the first failing status. */
static brine_status write_report(brine_report_format fmt, brine_result *const *res, sink *out)
{
    brine_report *r = brine_report_new(fmt, sink_write, out);
    if (!r)
        return BRINE_ERR_NOMEM;
    brine_error err, why;
    memset(&why, 0, sizeof why);
    why.code = BRINE_ERR_IO;
    snprintf(why.msg, sizeof why.msg, "cannot open: No such file or directory");
    brine_status st = brine_report_add(r, "dir/a b\xff.pkl", res[0], &err);
    if (!st)
        st = brine_report_add_error(r, "/missing.pkl", &why, &err);
    if (!st)
        st = brine_report_add(r, "/abs/evil\x1b.pkl", res[1], &err);
    if (!st)
        st = brine_report_finish(r, &err);
    if (st) {
        /* once broken, the report refuses everything with an error, never crashes */
        CHECK(brine_report_add(r, "x", res[0], &err) != BRINE_OK, "add after failure");
        CHECK(brine_report_finish(r, &err) != BRINE_OK || st == BRINE_ERR_USAGE,
              "finish after failure");
    }
    brine_report_free(r);
    return st;
}

int main(void)
{
    static const uint8_t safe[] = "\x80\x04N.";
    static const uint8_t evil[] = "cos\nsystem\n(S'echo hi'\ntR.";
    brine_result *res[2] = {NULL, NULL};
    brine_error err;
    if (brine_scan_bytes(safe, sizeof safe - 1, NULL, &res[0], &err) ||
        brine_scan_bytes(evil, sizeof evil - 1, NULL, &res[1], &err)) {
        fprintf(stderr, "scan failed: %s\n", err.msg);
        return 1;
    }
    static const brine_report_format formats[] = {BRINE_REPORT_TEXT, BRINE_REPORT_JSON,
                                                  BRINE_REPORT_JSONL, BRINE_REPORT_SARIF};
    json_set_alloc_funcs(failing_malloc, free);
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        sink ref = {NULL, 0, 0, -1};
        alloc_countdown = -1;
        CHECK(write_report(formats[f], res, &ref) == BRINE_OK, "format %zu without failures", f);
        if (formats[f] != BRINE_REPORT_TEXT) {
            /* every JSON format is valid JSON, line by line for jsonl */
            size_t lines = 0;
            for (char *line = ref.buf; line && *line; lines++) {
                char *nl = formats[f] == BRINE_REPORT_JSONL ? strchr(line, '\n') : NULL;
                json_error_t jerr;
                json_t *doc = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, &jerr);
                CHECK(doc != NULL, "format %zu: invalid JSON: %s", f, jerr.text);
                json_decref(doc);
                line = nl ? nl + 1 : NULL;
            }
            CHECK(lines == (formats[f] == BRINE_REPORT_JSONL ? 3u : 1u), "format %zu: %zu docs", f,
                  lines);
        }
        int completed = 0;
        for (long n = 0; n < 100000 && !completed; n++) {
            sink out = {NULL, 0, 0, -1};
            alloc_countdown = n;
            brine_status st = write_report(formats[f], res, &out);
            CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM, "format %zu, allocation %ld: %s", f, n,
                  brine_status_name(st));
            if (st == BRINE_OK) {
                completed = 1;
                CHECK(out.len == ref.len && memcmp(out.buf, ref.buf, ref.len) == 0,
                      "format %zu: output after %ld allocations differs", f, n);
            }
            free(out.buf);
        }
        CHECK(completed, "format %zu never completed", f);
        alloc_countdown = -1;
        for (long k = 0; k < (long)ref.len; k++) {
            sink out = {NULL, 0, 0, k};
            brine_status st = write_report(formats[f], res, &out);
            CHECK(st == BRINE_ERR_IO, "format %zu, sink failing after %ld bytes: %s", f, k,
                  brine_status_name(st));
            CHECK(out.len <= (size_t)k, "format %zu wrote past a failed sink", f);
            free(out.buf);
        }
        free(ref.buf);
    }
    brine_result_free(res[0]);
    brine_result_free(res[1]);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    puts("ok");
    return 0;
}
