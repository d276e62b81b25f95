/*
 * flt_decode.c — decodes one file with src/filters and prints what a reader would see, for the
 * differential test (tests/python/test_filters.py).
 *
 *   flt_decode [--joblib] [--max-bytes N] [--max-ratio N] [--probe] KIND|auto FILE OUT
 *
 * Writes the decoded bytes to OUT (also on error: what was decoded before it) and one line of
 * JSON to stdout: {"status": ..., "kind": ..., "confidence": ..., "len": ..., "streams": ...,
 * "consumed": ..., "end": ..., "silent_truncation": ..., "offset": ..., "limit": ..., "msg": ...}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "filters/filters.h"

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    *n = len;
    return buf;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    flt_reader reader = FLT_READER_PYTHON;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (!strcmp(argv[i], "--joblib"))
            reader = FLT_READER_JOBLIB;
        else if (!strcmp(argv[i], "--max-bytes") && i + 1 < argc)
            lim.filter_max_bytes = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--max-ratio") && i + 1 < argc)
            lim.filter_max_ratio = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--max-memory") && i + 1 < argc)
            lim.max_memory = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "flt_decode: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (argc - i != 3) {
        fprintf(stderr, "usage: flt_decode [--joblib] [--max-bytes N] KIND|auto FILE OUT\n");
        return 2;
    }
    size_t n = 0;
    uint8_t *d = slurp(argv[i + 1], &n);
    if (!d) {
        fprintf(stderr, "flt_decode: cannot read %s\n", argv[i + 1]);
        return 2;
    }
    int conf = 0;
    flt_kind probed = flt_probe(d, n, &conf);
    flt_kind k = FLT_NONE;
    if (!strcmp(argv[i], "auto"))
        k = probed;
    else
        for (int c = 1; c < FLT_KIND_COUNT; c++)
            if (!strcmp(argv[i], flt_name((flt_kind)c)))
                k = (flt_kind)c;
    brine_limits eff;
    lim_resolve(&lim, &eff);
    mem_budget mem;
    mem_budget_init(&mem, eff.max_memory);
    flt_output out;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = flt_decode(k, reader, d, n, &mem, &lim, &out, &err);
    FILE *o = fopen(argv[i + 2], "wb");
    if (!o || (out.len && fwrite(out.data, 1, out.len, o) != out.len) || fclose(o) != 0) {
        fprintf(stderr, "flt_decode: cannot write %s\n", argv[i + 2]);
        return 2;
    }
    static const char *const ends[] = {"clean", "ignored", "hang"};
    printf("{\"status\": ");
    json_str(st == BRINE_OK ? "ok" : brine_status_name(st));
    printf(", \"kind\": ");
    json_str(flt_name(k));
    printf(", \"probed\": ");
    json_str(flt_name(probed));
    printf(", \"confidence\": %d, \"len\": %zu, \"streams\": %u, \"consumed\": %llu, "
           "\"end\": ",
           conf, out.len, out.streams, (unsigned long long)out.consumed);
    json_str(ends[out.end]);
    printf(", \"silent_truncation\": %d, \"offset\": %llu, \"limit\": ", out.silent_truncation,
           (unsigned long long)err.offset);
    json_str(err.limit ? err.limit : "");
    printf(", \"msg\": ");
    json_str(err.msg);
    printf("}\n");
    flt_output_free(&out, &mem);
    free(d);
    if (mem.used != 0) {
        fprintf(stderr, "flt_decode: %llu bytes still charged\n", (unsigned long long)mem.used);
        return 3;
    }
    return 0;
}
