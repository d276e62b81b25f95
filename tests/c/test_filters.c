/*
 * test_filters.c — unit tests of src/filters: inputs compressed in-process with the reference
 * libraries' own encoders (zlib, libbz2, liblzma, liblz4, libzstd), so every expected output
 * is the original payload, never something brine produced.
 *
 * Covers: round trips of every codec, single and concatenated streams; probe verdicts and
 * confidences; the edges of filter_max_bytes (exactly the limit passes, one byte more is
 * refused with the first bytes kept); max_filter_depth; empty inputs as each reader treats
 * them; argument errors; and allocation-failure injection (the N-th allocation fails, for
 * every N): a clean NOMEM, never a crash, every byte returned to the budget.
 */
#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "filters/filters.h"

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static uint8_t payload[200000];

static void make_payload(void)
{
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof payload; i++) {
        x = x * 1103515245u + 12345u;
        /* half text-like, half noise: compressible but not trivially */
        payload[i] = i % 2 ? (uint8_t)('a' + (i / 7) % 26) : (uint8_t)(x >> 24);
    }
}

static buf enc(flt_kind k, const uint8_t *d, size_t n)
{
    buf b = {NULL, 0};
    size_t cap = n + n / 2 + 4096;
    b.p = malloc(cap);
    if (!b.p)
        abort();
    switch (k) {
    case FLT_ZLIB: {
        uLongf len = (uLongf)cap;
        if (compress2(b.p, &len, d, (uLong)n, 6) != Z_OK)
            abort();
        b.n = len;
        break;
    }
    case FLT_GZIP: {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        zs.next_in = (Bytef *)(uintptr_t)d;
        zs.avail_in = (uInt)n;
        zs.next_out = b.p;
        zs.avail_out = (uInt)cap;
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
            abort();
        b.n = zs.total_out;
        deflateEnd(&zs);
        break;
    }
    case FLT_BZIP2: {
        unsigned len = (unsigned)cap;
        if (BZ2_bzBuffToBuffCompress((char *)b.p, &len, (char *)(uintptr_t)d, (unsigned)n, 1, 0,
                                     0) != BZ_OK)
            abort();
        b.n = len;
        break;
    }
    case FLT_XZ:
        if (lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, d, n, b.p, &b.n, cap) != LZMA_OK)
            abort();
        break;
    case FLT_LZMA_ALONE: {
        lzma_options_lzma opt;
        lzma_lzma_preset(&opt, 1);
        lzma_stream ls = LZMA_STREAM_INIT;
        if (lzma_alone_encoder(&ls, &opt) != LZMA_OK)
            abort();
        ls.next_in = d;
        ls.avail_in = n;
        ls.next_out = b.p;
        ls.avail_out = cap;
        if (lzma_code(&ls, LZMA_FINISH) != LZMA_STREAM_END)
            abort();
        b.n = (size_t)ls.total_out;
        lzma_end(&ls);
        break;
    }
    case FLT_LZ4:
        b.n = LZ4F_compressFrame(b.p, cap, d, n, NULL);
        if (LZ4F_isError(b.n))
            abort();
        break;
    case FLT_ZSTD:
        b.n = ZSTD_compress(b.p, cap, d, n, 3);
        if (ZSTD_isError(b.n))
            abort();
        break;
    default: abort();
    }
    return b;
}

static buf cat(buf a, buf b)
{
    buf c = {malloc(a.n + b.n + 1), a.n + b.n};
    if (!c.p)
        abort();
    memcpy(c.p, a.p, a.n);
    memcpy(c.p + a.n, b.p, b.n);
    return c;
}

static brine_status run(flt_kind k, flt_reader rd, buf in, const brine_limits *lim, flt_output *out,
                        mem_budget *mem, brine_error *err)
{
    memset(err, 0, sizeof *err);
    mem_budget_init(mem, lim && lim->max_memory ? lim->max_memory : UINT64_C(1) << 30);
    return flt_decode(k, rd, in.p, in.n, mem, lim, out, err);
}

static const flt_kind kinds[] = {FLT_GZIP,       FLT_ZLIB, FLT_BZIP2, FLT_XZ,
                                 FLT_LZMA_ALONE, FLT_LZ4,  FLT_ZSTD};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

static void test_round_trips(void)
{
    for (int i = 0; i < N_KINDS; i++) {
        flt_kind k = kinds[i];
        buf a = enc(k, payload, sizeof payload), b = enc(k, payload, 1000);
        buf ab = cat(a, b);
        flt_output out;
        mem_budget mem;
        brine_error err;
        brine_status st = run(k, FLT_READER_PYTHON, a, NULL, &out, &mem, &err);
        CHECK(st == BRINE_OK && out.len == sizeof payload &&
                  memcmp(out.data, payload, sizeof payload) == 0 && out.streams == 1 &&
                  out.consumed == a.n && out.end == FLT_END_CLEAN,
              "%s: single stream: %d %s, %zu bytes", flt_name(k), st, err.msg, out.len);
        flt_output_free(&out, &mem);
        CHECK(mem.used == 0, "%s: %llu bytes left charged", flt_name(k),
              (unsigned long long)mem.used);

        st = run(k, FLT_READER_PYTHON, ab, NULL, &out, &mem, &err);
        if (k == FLT_ZLIB) { /* zlib.decompress: one stream, the rest ignored */
            CHECK(st == BRINE_OK && out.len == sizeof payload && out.end == FLT_END_IGNORED &&
                      out.consumed == a.n,
                  "zlib: two streams: %d %s", st, err.msg);
        } else {
            CHECK(st == BRINE_OK && out.len == sizeof payload + 1000 && out.streams == 2 &&
                      memcmp(out.data + sizeof payload, payload, 1000) == 0 &&
                      out.end == FLT_END_CLEAN,
                  "%s: two streams: %d %s, %zu bytes, %u streams", flt_name(k), st, err.msg,
                  out.len, out.streams);
        }
        flt_output_free(&out, &mem);

        if (k == FLT_GZIP || k == FLT_ZLIB) { /* joblib: the first stream, then a hang */
            st = run(k, FLT_READER_JOBLIB, ab, NULL, &out, &mem, &err);
            CHECK(st == BRINE_OK && out.len == sizeof payload && out.end == FLT_END_HANG &&
                      out.streams == 1,
                  "%s joblib: two streams: %d %s", flt_name(k), st, err.msg);
            flt_output_free(&out, &mem);
            buf cut = {a.p, a.n - 3};
            st = run(k, FLT_READER_JOBLIB, cut, NULL, &out, &mem, &err);
            CHECK(st == BRINE_ERR_MALFORMED && out.silent_truncation == 1,
                  "%s joblib: truncated: %d %s", flt_name(k), st, err.msg);
            flt_output_free(&out, &mem);
        }

        /* truncated anywhere: malformed (or silent for zstandard), never OK */
        for (size_t cut = 1; cut < a.n; cut += 1 + a.n / 37) {
            buf t = {a.p, cut};
            st = run(k, FLT_READER_PYTHON, t, NULL, &out, &mem, &err);
            CHECK(st == BRINE_ERR_MALFORMED && out.len < sizeof payload &&
                      memcmp(out.data ? out.data : payload, payload, out.len) == 0,
                  "%s: cut at %zu: %d %s, %zu bytes", flt_name(k), cut, st, err.msg, out.len);
            flt_output_free(&out, &mem);
        }
        free(a.p), free(b.p), free(ab.p);
    }
}

static void test_empty(void)
{
    /* GzipFile and zstandard read an empty file as empty; the others raise EOFError */
    for (int i = 0; i < N_KINDS; i++) {
        flt_kind k = kinds[i];
        flt_output out;
        mem_budget mem;
        brine_error err;
        buf e = {NULL, 0};
        brine_status st = run(k, FLT_READER_PYTHON, e, NULL, &out, &mem, &err);
        brine_status want = (k == FLT_GZIP || k == FLT_ZSTD) ? BRINE_OK : BRINE_ERR_MALFORMED;
        CHECK(st == want && out.len == 0, "%s: empty input: %d %s", flt_name(k), st, err.msg);
        flt_output_free(&out, &mem);
    }
}

static void test_limits(void)
{
    for (int i = 0; i < N_KINDS; i++) {
        flt_kind k = kinds[i];
        buf a = enc(k, payload, sizeof payload);
        brine_limits lim;
        memset(&lim, 0, sizeof lim);
        flt_output out;
        mem_budget mem;
        brine_error err;
        lim.filter_max_bytes = sizeof payload;
        brine_status st = run(k, FLT_READER_PYTHON, a, &lim, &out, &mem, &err);
        CHECK(st == BRINE_OK && out.len == sizeof payload, "%s: at the limit: %d %s", flt_name(k),
              st, err.msg);
        flt_output_free(&out, &mem);
        lim.filter_max_bytes = sizeof payload - 1;
        st = run(k, FLT_READER_PYTHON, a, &lim, &out, &mem, &err);
        CHECK(st == BRINE_ERR_LIMIT && err.limit && !strcmp(err.limit, "filter_max_bytes") &&
                  out.len == sizeof payload - 1 && memcmp(out.data, payload, out.len) == 0,
              "%s: one byte over: %d %s (%zu bytes)", flt_name(k), st, err.msg, out.len);
        flt_output_free(&out, &mem);
        CHECK(mem.used == 0, "%s: limit path leaks", flt_name(k));
        free(a.p);
    }
    brine_error err;
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    CHECK(flt_check_depth(3, &lim, &err) == BRINE_OK, "depth 3 under the default 4");
    CHECK(flt_check_depth(4, &lim, &err) == BRINE_ERR_LIMIT &&
              !strcmp(err.limit, "max_filter_depth"),
          "depth 4 refused");
    lim.max_filter_depth = 1000; /* clamped to the hard cap, 16 */
    CHECK(flt_check_depth(16, &lim, &err) == BRINE_ERR_LIMIT, "hard cap 16");
}

static void test_probe(void)
{
    static const struct {
        const char *bytes;
        size_t n;
        flt_kind want;
        int min_conf;
    } cases[] = {
        {"\x1f\x8b\x08\x00", 4, FLT_GZIP, 90},
        {"\x1f\x8b\x07", 3, FLT_GZIP, 50},
        {"\x78\x9c\x00", 3, FLT_ZLIB, 60},
        {"\x78\x01", 2, FLT_ZLIB, 60},
        {"\x78\x00", 2, FLT_NONE, 0},  /* FCHECK wrong */
        {"\x58\x85", 2, FLT_ZLIB, 25}, /* 2 KiB window */
        {"BZh91AY&SY", 10, FLT_BZIP2, 95},
        {"BZh0", 4, FLT_NONE, 0},
        {"\xfd"
         "7zXZ\x00\x00",
         7, FLT_XZ, 95},
        {"\x5d\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff", 13, FLT_LZMA_ALONE, 60},
        {"\x5d\x00\x01", 3, FLT_LZMA_ALONE, 30},
        {"\x04\x22\x4d\x18", 4, FLT_LZ4, 95},
        {"\x28\xb5\x2f\xfd", 4, FLT_ZSTD, 95},
        {"LZIP\x01\x10", 6, FLT_LZIP, 90},
        {"LZIP\x07", 5, FLT_NONE, 0},
        {"\x50\x2a\x4d\x18\x01\x00\x00\x00z\x28\xb5\x2f\xfd", 13, FLT_ZSTD, 60},
        {"\x5f\x2a\x4d\x18\x00\x00\x00\x00\x04\x22\x4d\x18", 12, FLT_LZ4, 60},
        {"\x50\x2a\x4d\x18\xff\xff\xff\xff", 8, FLT_NONE, 0},
        {"\x80\x04\x95", 3, FLT_NONE, 0},
        {"PK\x03\x04", 4, FLT_NONE, 0},
        {"", 0, FLT_NONE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int conf = -1;
        flt_kind k = flt_probe((const uint8_t *)cases[i].bytes, cases[i].n, &conf);
        CHECK(k == cases[i].want && conf >= cases[i].min_conf && (k != FLT_NONE || conf == 0),
              "probe case %zu: %s/%d", i, flt_name(k), conf);
    }
    CHECK(flt_probe(NULL, 5, NULL) == FLT_NONE, "NULL data");
    for (int i = 0; i < N_KINDS; i++) {
        buf a = enc(kinds[i], payload, 5000);
        int conf;
        flt_kind k = flt_probe(a.p, a.n, &conf);
        CHECK(k == kinds[i], "library output of %s probed as %s", flt_name(kinds[i]), flt_name(k));
        free(a.p);
    }
    CHECK(!strcmp(flt_name(FLT_NONE), "none") && !strcmp(flt_name((flt_kind)99), "none"),
          "flt_name of nothing");
}

static void test_usage(void)
{
    flt_output out;
    mem_budget mem;
    brine_error err;
    mem_budget_init(&mem, 1 << 20);
    CHECK(flt_decode(FLT_NONE, FLT_READER_PYTHON, (const uint8_t *)"x", 1, &mem, NULL, &out,
                     &err) == BRINE_ERR_USAGE,
          "FLT_NONE");
    CHECK(flt_decode(FLT_GZIP, FLT_READER_PYTHON, NULL, 3, &mem, NULL, &out, &err) ==
              BRINE_ERR_USAGE,
          "NULL data with a length");
    CHECK(flt_decode(FLT_GZIP, FLT_READER_PYTHON, NULL, 0, &mem, NULL, NULL, &err) ==
              BRINE_ERR_USAGE,
          "NULL out");
    flt_output_free(NULL, &mem);
    flt_output_free(&out, &mem);
    flt_output_free(&out, &mem); /* twice: cleared the first time */
    CHECK(mem.used == 0, "usage errors charge nothing");
}

/* The N-th allocation fails, for every N: a clean NOMEM and nothing left charged. */
static void test_alloc_failures(void)
{
    for (int i = 0; i < N_KINDS; i++) {
        flt_kind k = kinds[i];
        buf a = enc(k, payload, sizeof payload);
        for (uint64_t nth = 1; nth < 10000; nth++) {
            flt_output out;
            mem_budget mem;
            brine_error err;
            memset(&err, 0, sizeof err);
            mem_budget_init(&mem, UINT64_C(1) << 30);
            mem_fail_after(nth);
            brine_status st = flt_decode(k, FLT_READER_PYTHON, a.p, a.n, &mem, NULL, &out, &err);
            uint64_t attempts = mem_fail_after(0);
            if (st == BRINE_OK) {
                CHECK(attempts < nth && out.len == sizeof payload &&
                          memcmp(out.data, payload, out.len) == 0,
                      "%s: ok with allocation %llu failing", flt_name(k), (unsigned long long)nth);
                flt_output_free(&out, &mem);
                break;
            }
            CHECK(st == BRINE_ERR_NOMEM, "%s: allocation %llu fails: %d %s", flt_name(k),
                  (unsigned long long)nth, st, err.msg);
            flt_output_free(&out, &mem);
            CHECK(mem.used == 0, "%s: allocation %llu fails: %llu bytes left", flt_name(k),
                  (unsigned long long)nth, (unsigned long long)mem.used);
        }
        free(a.p);
    }
}

int main(void)
{
    make_payload();
    test_round_trips();
    test_empty();
    test_limits();
    test_probe();
    test_usage();
    test_alloc_failures();
    if (failures) {
        fprintf(stderr, "test_filters: %d failures\n", failures);
        return 1;
    }
    printf("test_filters: ok\n");
    return 0;
}
