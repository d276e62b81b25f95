/*
 * test_safetensors.c — the safetensors reader, writer and scan descriptor.
 *
 *   test_safetensors                 run the unit tests
 *   test_safetensors --dump FILE     print brine's reading of FILE as JSON (exit 1: rejected)
 *   test_safetensors --write OUT SPEC
 *                                    write OUT with the C writer from a JSON spec
 *                                    {"metadata": {k: v}, "tensors": [{"name", "dtype", "shape",
 *                                    "hex", "stream": bool}]} (stream: through the callback)
 *
 * The unit tests build files by hand for every rule of the reference validator
 * (research/formats.md §3.2, §3.5) and check the writer against the reference writer's own
 * test vectors (safetensors/src/tensor.rs tests).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "brine.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/limits.h"
#include "formats/format.h"
#include "formats/safetensors.h"
#include "scan/result.h"
#include "scan/scan.h"

extern const fmt_ops fmt_safetensors;

static int failures, checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* A file: u64 LE length of header, header, then dlen data bytes (0, 1, 2, … mod 251). */
static uint8_t *mk(const char *header, size_t hlen, size_t dlen, size_t *len)
{
    *len = 8 + hlen + dlen;
    uint8_t *b = malloc(*len ? *len : 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, header, hlen);
    for (size_t i = 0; i < dlen; i++)
        b[8 + hlen + i] = (uint8_t)(i % 251);
    return b;
}

static brine_status open_str(const char *header, size_t dlen, const brine_limits *lim,
                             mem_budget *mem, st_file **f, brine_error *err)
{
    size_t len;
    uint8_t *b = mk(header, strlen(header), dlen, &len);
    brine_status st = st_open(b, len, lim, mem, f, err);
    if (!st) {
        /* tensors point into b: only keep the file open while b lives */
        st_close(*f);
        *f = NULL;
    }
    free(b);
    return st;
}

/* ------------------------------------------------------------------ dtype table */

static void test_dtypes(void)
{
    /* the reference's Dtype enum order (tensor.rs @24b0b28) */
    static const char *const order[] = {
        "BOOL",    "F4",          "F6_E2M3",     "F6_E3M2", "U8",  "I8",  "F8_E5M2", "F8_E4M3",
        "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16",     "U16", "F16", "BF16",    "I32",
        "U32",     "F32",         "C64",         "F64",     "I64", "U64"};
    static const unsigned bits[] = {8,  4,  6,  6,  8,  8,  8,  8,  8,  8,  8,
                                    16, 16, 16, 16, 32, 32, 32, 64, 64, 64, 64};
    CHECK(ST_DTYPE_COUNT == 22);
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        CHECK(!strcmp(st_dtypes[i].name, order[i]));
        CHECK(st_dtypes[i].bits == bits[i]);
        CHECK(st_dtype_from_name(order[i], strlen(order[i])) == i);
    }
    CHECK(st_dtype_from_name("f32", 3) == -1);
    CHECK(st_dtype_from_name("F3", 2) == -1);
    CHECK(st_dtype_from_name("F32 ", 4) == -1);
    CHECK(!strcmp(st_dtypes[ST_BF16].torch, "bfloat16") && !st_dtypes[ST_BF16].numpy);
    CHECK(!strcmp(st_dtypes[ST_F32].numpy, "<f4") &&
          !strcmp(st_dtypes[ST_F32].storage, "FloatStorage"));
    uint64_t nb, shape[2] = {3, 5};
    CHECK(st_nbytes(ST_F32, 2, shape, &nb) == 0 && nb == 60);
    CHECK(st_nbytes(ST_F32, 0, NULL, &nb) == 0 && nb == 4);
    CHECK(st_nbytes(ST_F4, 1, (uint64_t[]){3}, &nb) == -2);
    CHECK(st_nbytes(ST_F4, 1, (uint64_t[]){4}, &nb) == 0 && nb == 2);
    CHECK(st_nbytes(ST_F6_E2M3, 1, (uint64_t[]){4}, &nb) == 0 && nb == 3);
    CHECK(st_nbytes(ST_F6_E2M3, 1, (uint64_t[]){2}, &nb) == -2);
    CHECK(st_nbytes(ST_U8, 2, (uint64_t[]){UINT64_C(1) << 32, UINT64_C(1) << 32}, &nb) == -1);
    CHECK(st_nbytes(ST_U64, 1, (uint64_t[]){UINT64_C(1) << 62}, &nb) == -1);
    CHECK(st_nbytes(ST_U8, 2, (uint64_t[]){UINT64_C(1) << 40, 0}, &nb) == 0 && nb == 0);
}

/* ------------------------------------------------------------------ reader */

static void test_valid_mix(void)
{
    /* §3.5 "valid mix" */
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"b\":\"2\"},"
                    "\"f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                    "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]},"
                    "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[20,23]},"
                    "\"f64s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[23,31]},"
                    "\"empty\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[31,31]},"
                    "\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[31,33]},"
                    "\"f4\":{\"dtype\":\"F4\",\"shape\":[2,2],\"data_offsets\":[33,35]},"
                    "\"f6\":{\"dtype\":\"F6_E3M2\",\"shape\":[4],\"data_offsets\":[35,38]}}";
    size_t len;
    uint8_t *b = mk(h, strlen(h), 38, &len);
    mem_budget mem;
    mem_budget_init(&mem, 1 << 24);
    st_file *f;
    brine_error err;
    brine_status st = st_open(b, len, NULL, &mem, &f, &err);
    CHECK(st == BRINE_OK);
    if (st) {
        fprintf(stderr, "  %s\n", err.msg);
        free(b);
        return;
    }
    CHECK(st_count(f) == 9);
    CHECK(st_header_len(f) == strlen(h));
    CHECK(st_data_start(f) == 8 + strlen(h));
    static const char *const names[] = {"f32",   "bf16", "i64", "bool", "f64s",
                                        "empty", "f8",   "f4",  "f6"};
    for (size_t i = 0; i < 9; i++) {
        const st_tensor_info *t = st_tensor(f, i);
        CHECK(!strcmp(t->name, names[i]));
        CHECK(st_find(f, names[i], strlen(names[i])) == (long)i);
        CHECK(t->data == b + 8 + strlen(h) + t->begin); /* zero-copy */
        CHECK(t->nbytes == t->end - t->begin);
        CHECK(t->offset == 8 + strlen(h) + t->begin);
    }
    /* "empty" and "f8" share begin 31: sorted by (begin, end) */
    const st_tensor_info *t = st_tensor(f, 4);
    CHECK(t->dtype == ST_F64 && t->ndim == 0 && t->nelements == 1 && t->nbytes == 8);
    t = st_tensor(f, 5);
    CHECK(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 0 && t->nelements == 0);
    t = st_tensor(f, 7);
    CHECK(t->dtype == ST_F4 && !strcmp(t->dtype_name, "F4") && t->nelements == 4);
    CHECK(st_tensor(f, 9) == NULL);
    CHECK(st_find(f, "f3", 2) == -1 && st_find(f, "f32x", 4) == -1 && st_find(f, "", 0) == -1);
    CHECK(st_has_metadata(f) && st_metadata_count(f) == 2);
    const char *k, *v;
    CHECK(!st_metadata_at(f, 0, &k, &v) && !strcmp(k, "b") && !strcmp(v, "2"));
    CHECK(!st_metadata_at(f, 1, &k, &v) && !strcmp(k, "format") && !strcmp(v, "pt"));
    CHECK(st_metadata_at(f, 2, &k, &v) == -1);
    CHECK(!strcmp(st_metadata_get(f, "format"), "pt") && !st_metadata_get(f, "nope"));
    st_close(f);
    CHECK(mem.used == 0);
    free(b);
}

typedef struct rcase {
    const char *what;
    const char *header;
    size_t dlen;
    brine_status status;
    const char *needle; /* in err.msg */
} rcase;

static const rcase cases[] = {
    /* accepted, as the reference accepts them */
    {"empty header", "{}", 0, BRINE_OK, NULL},
    {"metadata only", "{\"__metadata__\":{\"a\":\"b\"}}", 0, BRINE_OK, NULL},
    {"empty metadata", "{\"__metadata__\":{}}", 0, BRINE_OK, NULL},
    {"null metadata (serde's None)", "{\"__metadata__\":null}", 0, BRINE_OK, NULL},
    {"leading whitespace", "\t\n\r {}", 0, BRINE_OK, NULL},
    {"trailing spaces", "{}      ", 0, BRINE_OK, NULL},
    {"extra key in a tensor entry",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[1,{\"y\":2}]}}", 4,
     BRINE_OK, NULL},
    {"offsets out of order in the JSON",
     "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
     2, BRINE_OK, NULL},
    {"empty tensor name", "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     BRINE_OK, NULL},
    {"unicode name", "{\"\\u00e9\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}",
     1, BRINE_OK, NULL},
    {"zero dim with huge dim",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[0,9223372036854775807],\"data_offsets\":[0,0]}}", 0,
     BRINE_OK, NULL},
    {"-0 dimension", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-0],\"data_offsets\":[0,0]}}", 0,
     BRINE_OK, NULL},
    /* rejected, with the reference's error named */
    {"non-string metadata", "{\"__metadata__\":{\"n\":1}}", 0, BRINE_ERR_MALFORMED,
     "expected a string"},
    {"metadata not an object", "{\"__metadata__\":\"x\"}", 0, BRINE_ERR_MALFORMED,
     "expected an object of strings"},
    {"duplicate tensor, identical entries",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
     1, BRINE_ERR_MALFORMED, "duplicate"},
    {"duplicate tensor, different entries",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     2, BRINE_ERR_MALFORMED, "duplicate"},
    {"duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, BRINE_ERR_MALFORMED,
     "duplicate"},
    {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0,
     BRINE_ERR_MALFORMED, "duplicate"},
    {"duplicate field in an entry",
     "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     BRINE_ERR_MALFORMED, "duplicate"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     BRINE_ERR_MALFORMED, "unknown variant"},
    {"lowercase dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     BRINE_ERR_MALFORMED, "unknown variant"},
    {"dtype not a string", "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     BRINE_ERR_MALFORMED, "unknown variant"},
    {"negative dim", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1,
     BRINE_ERR_MALFORMED, "below zero"},
    {"float dim", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1,
     BRINE_ERR_MALFORMED, "a float"},
    {"shape not an array", "{\"a\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1,
     BRINE_ERR_MALFORMED, "expected an array"},
    {"dim above int64",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551615],"
     "\"data_offsets\":[0,1]}}",
     1, BRINE_ERR_MALFORMED, "too big integer"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, BRINE_ERR_MALFORMED,
     "missing field"},
    {"missing data_offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, BRINE_ERR_MALFORMED,
     "no \"data_offsets\""},
    {"three offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,1]}}", 1,
     BRINE_ERR_MALFORMED, "data_offsets must be"},
    {"negative offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-1,-1]}}", 0,
     BRINE_ERR_MALFORMED, "data_offsets must be"},
    {"entry not an object", "{\"a\":[1,2]}", 0, BRINE_ERR_MALFORMED, "expected an object"},
    {"root is an array", "[]", 0, BRINE_ERR_MALFORMED, "must be a JSON object"},
    {"root is a string", "\"{}\"", 0, BRINE_ERR_MALFORMED, "must be a JSON object"},
    {"truncated JSON", "{\"a\":", 0, BRINE_ERR_MALFORMED, "not valid JSON"},
    {"JSON with trailing garbage", "{}x", 0, BRINE_ERR_MALFORMED, "not valid JSON"},
    {"NUL padding", "{}\0\0\0\0\0\0", 0, BRINE_OK, NULL}, /* strlen stops at the NUL: see below */
    {"gap between tensors",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}",
     3, BRINE_ERR_MALFORMED, "gap (InvalidOffset)"},
    {"overlapping tensors",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
     3, BRINE_ERR_MALFORMED, "overlap (InvalidOffset)"},
    {"first tensor not at 0", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2,
     BRINE_ERR_MALFORMED, "InvalidOffset"},
    {"end before begin",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
     "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}",
     1, BRINE_ERR_MALFORMED, "InvalidOffset"},
    {"size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     BRINE_ERR_MALFORMED, "TensorInvalidInfo"},
    {"shape product overflow",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
     BRINE_ERR_MALFORMED, "ValidationOverflow"},
    {"bits overflow",
     "{\"a\":{\"dtype\":\"U64\",\"shape\":[4611686018427387904],"
     "\"data_offsets\":[0,0]}}",
     0, BRINE_ERR_MALFORMED, "ValidationOverflow"},
    {"F4 odd count", "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
     BRINE_ERR_MALFORMED, "MisalignedSlice"},
    {"F6 with 2 elements", "{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[2],\"data_offsets\":[0,2]}}",
     2, BRINE_ERR_MALFORMED, "MisalignedSlice"},
    {"trailing bytes (polyglot)", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
     5, BRINE_ERR_MALFORMED, "MetadataIncompleteBuffer"},
    {"trailing bytes after an empty header", "{}", 1, BRINE_ERR_MALFORMED,
     "MetadataIncompleteBuffer"},
    {"missing bytes", "{\"a\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 14,
     BRINE_ERR_MALFORMED, "truncated (MetadataIncompleteBuffer)"},
    {"tensor called __metadata__ (issue #849)",
     "{\"__metadata__\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     BRINE_ERR_MALFORMED, "expected a string"},
    {"lone surrogate escape",
     "{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[0],"
     "\"data_offsets\":[0,0]}}",
     0, BRINE_ERR_MALFORMED, "not valid JSON"},
    {"NUL escape in a name",
     "{\"a\\u0000\":{\"dtype\":\"U8\",\"shape\":[0],"
     "\"data_offsets\":[0,0]}}",
     0, BRINE_ERR_MALFORMED, "not valid JSON"},
    {"NUL escape in metadata", "{\"__metadata__\":{\"k\":\"\\u0000\"}}", 0, BRINE_ERR_MALFORMED,
     "not valid JSON"},
};

static void test_rules(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const rcase *c = &cases[i];
        mem_budget mem;
        mem_budget_init(&mem, 1 << 24);
        st_file *f;
        brine_error err;
        memset(&err, 0, sizeof err);
        brine_status st = open_str(c->header, c->dlen, NULL, &mem, &f, &err);
        int ok = st == c->status && (!c->needle || strstr(err.msg, c->needle)) &&
                 (st == BRINE_OK || err.has_offset) && mem.used == 0;
        checks++;
        if (!ok) {
            failures++;
            fprintf(stderr, "rule '%s': status %d (want %d), message '%s', budget %" PRIu64 "\n",
                    c->what, st, c->status, st ? err.msg : "", mem.used);
        }
    }
}

/* Cases that need bytes strlen cannot carry, or a specific file length. */
static void test_framing(void)
{
    mem_budget mem;
    mem_budget_init(&mem, 1 << 24);
    st_file *f;
    brine_error err;
    uint8_t b[64];
    const char *h;
    memset(b, 0, sizeof b);

    CHECK(st_open(b, 7, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "HeaderTooSmall"));
    CHECK(st_open(b, 0, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED);
    CHECK(st_open(NULL, 0, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED);
    /* N = 0: an empty header is not JSON */
    CHECK(st_open(b, 8, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "not valid JSON"));
    /* N = 100 000 001 */
    uint64_t n = 100000001;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(n >> (8 * i));
    CHECK(st_open(b, 64, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "HeaderTooLarge"));
    memset(b, 0xff, 8);
    CHECK(st_open(b, 64, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "HeaderTooLarge"));
    /* the reference's own test: "<\0\0\0\0\xff\xff\xff" */
    memcpy(b, "<\0\0\0\0\xff\xff\xff", 8);
    CHECK(st_open(b, 64, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "HeaderTooLarge"));
    /* N past the end */
    memset(b, 0, 8);
    b[0] = 57;
    memcpy(b + 8, "{}", 2);
    CHECK(st_open(b, 64, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "InvalidHeaderLength"));
    /* NUL padding inside the header (the reference: "trailing characters") */
    size_t len;
    uint8_t *p = mk("{}\0\0\0\0\0\0", 8, 0, &len);
    CHECK(st_open(p, len, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED && strstr(err.msg, "NUL") &&
          err.offset == 10);
    free(p);
    /* not UTF-8 */
    p = mk("{\"\xff\":1}", 6, 0, &len);
    CHECK(st_open(p, len, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "InvalidHeader") && err.offset == 10);
    free(p);
    static const char *const bad_utf8[] = {
        "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
        "\x80",     "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++) {
        char hb[32];
        int hn = snprintf(hb, sizeof hb, "{\"%s\":1}", bad_utf8[i]);
        p = mk(hb, (size_t)hn, 0, &len);
        CHECK(st_open(p, len, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
              strstr(err.msg, "UTF-8"));
        free(p);
    }
    /* valid 4-byte UTF-8 inside a string */
    h = "{\"__metadata__\":{\"\xf0\x9f\x98\x80\":\"\xf4\x8f\xbf\xbf\"}}  ";
    p = mk(h, strlen(h), 0, &len);
    brine_status st = st_open(p, len, NULL, &mem, &f, &err);
    CHECK(st == BRINE_OK);
    if (!st) {
        CHECK(!strcmp(st_metadata_get(f, "\xf0\x9f\x98\x80"), "\xf4\x8f\xbf\xbf"));
        st_close(f);
    }
    free(p);
    /* error offsets point at the tensor entry */
    h = "{\"ok\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"bad\":{\"dtype\":\"U9\",\"shape\":[1],\"data_offsets\":[1,2]}}";
    p = mk(h, strlen(h), 2, &len);
    CHECK(st_open(p, len, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          err.offset == 8 + (uint64_t)(strstr(h, "\"bad\"") - h));
    free(p);
    CHECK(mem.used == 0);
}

static void test_limits(void)
{
    mem_budget mem;
    mem_budget_init(&mem, 1 << 24);
    st_file *f;
    brine_error err;
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    const char *three = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
                        "\"__metadata__\":{\"x\":\"y\"},"
                        "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}";
    lim.max_tensors = 3;
    CHECK(open_str(three, 3, &lim, &mem, &f, &err) == BRINE_OK);
    lim.max_tensors = 2;
    CHECK(open_str(three, 3, &lim, &mem, &f, &err) == BRINE_ERR_LIMIT &&
          !strcmp(err.limit, "max_tensors") && err.observed == 3);
    lim.max_tensors = 0;
    lim.st_max_header = 16;
    CHECK(open_str(three, 3, &lim, &mem, &f, &err) == BRINE_ERR_LIMIT &&
          !strcmp(err.limit, "st_max_header"));
    /* nesting: serde_json's recursion limit, checked before jansson recurses */
    char deep[600];
    size_t o = 0;
    o += (size_t)snprintf(deep + o, sizeof deep - o,
                          "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],"
                          "\"data_offsets\":[0,0],\"x\":");
    for (int i = 0; i < 130; i++)
        deep[o++] = '[';
    for (int i = 0; i < 130; i++)
        deep[o++] = ']';
    deep[o++] = '}';
    deep[o++] = '}';
    deep[o] = '\0';
    CHECK(open_str(deep, 0, NULL, &mem, &f, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "recursion limit"));
    /* the JSON parser's memory is charged up front: a header of many small values */
    size_t big = 200000;
    char *h = malloc(big + 64);
    o = (size_t)snprintf(h, big + 64,
                         "{\"__metadata__\":{},\"a\":{\"dtype\":\"U8\",\"shape\":[0],"
                         "\"data_offsets\":[0,0],\"x\":[");
    while (o < big) {
        h[o++] = '0';
        h[o++] = ',';
    }
    memcpy(h + o, "0]}}", 5);
    mem_budget small;
    mem_budget_init(&small, 1 << 20);
    CHECK(open_str(h, 0, NULL, &small, &f, &err) == BRINE_ERR_LIMIT &&
          !strcmp(err.limit, "max_memory") && small.used == 0);
    CHECK(open_str(h, 0, NULL, &mem, &f, &err) == BRINE_OK && mem.used == 0);
    free(h);
}

/* Allocation-failure injection: every allocation of st_open fails in turn. */
static void test_alloc_failures(void)
{
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[1,1],\"data_offsets\":[8,9]}}";
    size_t len;
    uint8_t *p = mk(h, strlen(h), 9, &len);
    for (uint64_t n = 1;; n++) {
        mem_budget mem;
        mem_budget_init(&mem, 1 << 24);
        st_file *f;
        brine_error err;
        mem_fail_after(n);
        brine_status st = st_open(p, len, NULL, &mem, &f, &err);
        uint64_t attempts = mem_fail_after(0);
        if (st == BRINE_OK) {
            st_close(f);
            CHECK(mem.used == 0);
            CHECK(attempts < n); /* every allocation has been failed once */
            break;
        }
        CHECK(st == BRINE_ERR_NOMEM && mem.used == 0);
        if (n > 100) {
            CHECK(0 && "st_open never succeeded");
            break;
        }
    }
    free(p);
}

/* jansson allocates through its own functions; failing them must read as out of memory,
 * never as a malformed header (FINDINGS F9). */
static uint64_t json_fail_at, json_calls;

static void *failing_malloc(size_t n)
{
    if (++json_calls == json_fail_at)
        return NULL;
    return malloc(n);
}

static void test_parser_out_of_memory(void)
{
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[1,1],\"data_offsets\":[8,9]}}";
    size_t len;
    uint8_t *p = mk(h, strlen(h), 9, &len);
    json_set_alloc_funcs(failing_malloc, free);
    for (json_fail_at = 1;; json_fail_at++) {
        json_calls = 0;
        mem_budget mem;
        mem_budget_init(&mem, 1 << 24);
        st_file *f;
        brine_error err;
        brine_status st = st_open(p, len, NULL, &mem, &f, &err);
        CHECK(mem.used == 0 || st == BRINE_OK);
        if (st == BRINE_OK) {
            st_close(f);
            CHECK(json_calls < json_fail_at);
            break;
        }
        checks++;
        if (st != BRINE_ERR_NOMEM) {
            failures++;
            fprintf(stderr, "jansson allocation %" PRIu64 " failing gives '%s'\n", json_fail_at,
                    err.msg);
        }
        if (json_fail_at > 1000) {
            CHECK(0 && "st_open never succeeded");
            break;
        }
    }
    json_set_alloc_funcs(malloc, free);
    free(p);
}

/* ------------------------------------------------------------------ writer */

static const float six[6] = {0, 1, 2, 3, 4, 5};

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static int mem_write(void *ctx, const void *buf, size_t len)
{
    membuf *m = ctx;
    if (m->n + len > m->cap) {
        size_t cap = (m->n + len) * 2;
        uint8_t *q = realloc(m->p, cap);
        if (!q)
            return -1;
        m->p = q;
        m->cap = cap;
    }
    memcpy(m->p + m->n, buf, len);
    m->n += len;
    return 0;
}

static void check_bytes(const membuf *m, const uint8_t *want, size_t n, const char *what)
{
    checks++;
    if (m->n != n || memcmp(m->p, want, n)) {
        failures++;
        fprintf(stderr, "writer: %s differs from the reference writer's bytes (%zu vs %zu)\n", what,
                m->n, n);
    }
}

static void test_writer_vectors(void)
{
    /* the reference writer's own tests (safetensors/src/tensor.rs: test_serialization,
     * test_empty, test_serialization_forced_alignement, test_serialization_fp4) */
    static const uint8_t ser[] = {
        64, 0,  0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 46,  48,
        34, 58, 123, 34,  100, 116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,
        44, 34, 115, 104, 97,  112, 101, 34,  58,  91,  49,  44,  50,  44,  51,  93,
        44, 34, 100, 97,  116, 97,  95,  111, 102, 102, 115, 101, 116, 115, 34,  58,
        91, 48, 44,  50,  52,  93,  125, 125, 0,   0,   0,   0,   0,   0,   128, 63,
        0,  0,  0,   64,  0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64};
    static const uint8_t empty[] = {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32};
    static const uint8_t empty_meta[] = {40,  0,   0,   0,   0,   0,   0,   0,   123, 34,  95,  95,
                                         109, 101, 116, 97,  100, 97,  116, 97,  95,  95,  34,  58,
                                         123, 34,  102, 114, 97,  109, 101, 119, 111, 114, 107, 34,
                                         58,  34,  112, 116, 34,  125, 125, 32,  32,  32,  32,  32};
    static const uint8_t forced[] = {
        72,  0,   0,   0,   0,   0,   0,   0,   123, 34, 97, 116, 116, 110, 48,  34,  58,  123,
        34,  100, 116, 121, 112, 101, 34,  58,  34,  70, 51, 50,  34,  44,  34,  115, 104, 97,
        112, 101, 34,  58,  91,  49,  44,  49,  44,  50, 44, 51,  93,  44,  34,  100, 97,  116,
        97,  95,  111, 102, 102, 115, 101, 116, 115, 34, 58, 91,  48,  44,  50,  52,  93,  125,
        125, 32,  32,  32,  32,  32,  32,  32,  0,   0,  0,  0,   0,   0,   128, 63,  0,   0,
        0,   64,  0,   0,   64,  64,  0,   0,   128, 64, 0,  0,   160, 64};
    static const uint8_t fp4[] = {
        64,  0,   0,   0,   0,   0,   0,  0,  123, 34,  97,  116, 116, 110, 46,  48,  34,  58,  123,
        34,  100, 116, 121, 112, 101, 34, 58, 34,  70,  52,  34,  44,  34,  115, 104, 97,  112, 101,
        34,  58,  91,  49,  44,  50,  93, 44, 34,  100, 97,  116, 97,  95,  111, 102, 102, 115, 101,
        116, 115, 34,  58,  91,  48,  44, 49, 93,  125, 125, 32,  32,  32,  32,  0};
    mem_budget mem;
    mem_budget_init(&mem, 1 << 24);
    brine_error err;
    st_writer *w;
    membuf m = {0};

    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    CHECK(!st_writer_add(w, "attn.0", 6, ST_F32, 3, (uint64_t[]){1, 2, 3}, six, NULL, NULL, &err));
    CHECK(!st_writer_write(w, mem_write, &m, &err));
    check_bytes(&m, ser, sizeof ser, "test_serialization");
    st_writer_free(w);

    m.n = 0;
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    CHECK(!st_writer_write(w, mem_write, &m, &err));
    check_bytes(&m, empty, sizeof empty, "test_empty");
    m.n = 0;
    CHECK(!st_writer_set_metadata(w, "framework", 9, "pt", 2, &err));
    CHECK(!st_writer_write(w, mem_write, &m, &err));
    check_bytes(&m, empty_meta, sizeof empty_meta, "test_empty with metadata");
    st_writer_free(w);

    m.n = 0;
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    CHECK(
        !st_writer_add(w, "attn0", 5, ST_F32, 4, (uint64_t[]){1, 1, 2, 3}, six, NULL, NULL, &err));
    CHECK(!st_writer_write(w, mem_write, &m, &err));
    check_bytes(&m, forced, sizeof forced, "test_serialization_forced_alignement");
    st_writer_free(w);

    m.n = 0;
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    CHECK(!st_writer_add(w, "attn.0", 6, ST_F4, 2, (uint64_t[]){1, 2}, "", NULL, NULL, &err));
    CHECK(!st_writer_write(w, mem_write, &m, &err));
    check_bytes(&m, fp4, sizeof fp4, "test_serialization_fp4");
    st_writer_free(w);
    free(m.p);
    CHECK(mem.used == 0);
}

typedef struct pattern {
    uint8_t seed;
    int fail_at; /* fail when asked for this offset (-1 never) */
    int calls;
} pattern;

static brine_status fill_pattern(void *ctx, uint64_t offset, uint8_t *buf, size_t len,
                                 brine_error *err)
{
    pattern *p = ctx;
    p->calls++;
    if (p->fail_at >= 0 && offset >= (uint64_t)p->fail_at)
        return err_set(err, BRINE_ERR_IO, __LINE__, "source failed at %" PRIu64, offset);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(p->seed + (offset + i) * 7);
    return BRINE_OK;
}

static void test_writer_layout(void)
{
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(1) << 26);
    brine_error err;
    st_writer *w;
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    /* added in an order unrelated to the layout */
    static const uint8_t bytes[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(!st_writer_add(w, "u8", 2, ST_U8, 1, (uint64_t[]){3}, bytes, NULL, NULL, &err));
    CHECK(!st_writer_add(w, "b", 1, ST_F64, 1, (uint64_t[]){1}, bytes, NULL, NULL, &err));
    CHECK(!st_writer_add(w, "a", 1, ST_F64, 1, (uint64_t[]){2}, bytes, NULL, NULL, &err));
    CHECK(!st_writer_add(w, "bf", 2, ST_BF16, 1, (uint64_t[]){3}, bytes, NULL, NULL, &err));
    CHECK(!st_writer_add(w, "f4", 2, ST_F4, 1, (uint64_t[]){2}, bytes, NULL, NULL, &err));
    CHECK(!st_writer_add(w, "i32", 3, ST_I32, 0, NULL, bytes, NULL, NULL, &err));
    CHECK(!st_writer_add(w, "c64", 3, ST_C64, 1, (uint64_t[]){1}, bytes, NULL, NULL, &err));
    CHECK(!st_writer_add(w, "zero", 4, ST_U64, 2, (uint64_t[]){0, 5}, NULL, fill_pattern,
                         &(pattern){0, 0, 0}, &err));
    pattern pat = {9, -1, 0};
    CHECK(!st_writer_add(w, "big", 3, ST_I16, 1, (uint64_t[]){1500000}, NULL, fill_pattern, &pat,
                         &err));
    CHECK(!st_writer_add(w, "\"q\\\n\x01\xc3\xa9", 7, ST_BOOL, 1, (uint64_t[]){2}, bytes, NULL,
                         NULL, &err));
    CHECK(!st_writer_set_metadata(w, "z", 1, "last", 4, &err));
    CHECK(!st_writer_set_metadata(w, "a", 1, "first", 5, &err));
    CHECK(!st_writer_set_metadata(w, "z", 1, "replaced", 8, &err));
    membuf m = {0};
    CHECK(!st_writer_write(w, mem_write, &m, &err));
    CHECK(pat.calls == 3); /* 3 000 000 bytes in 1 MiB chunks */

    const uint8_t *hdr;
    size_t hlen;
    CHECK(!st_writer_header(w, &hdr, &hlen, &err));
    CHECK(hlen % 8 == 0 && hlen <= m.n && !memcmp(hdr, m.p, hlen));
    /* escaping as serde_json: \" \\ \n and \u0001, UTF-8 as is */
    CHECK(memmem(hdr, hlen, "\"\\\"q\\\\\\n\\u0001\xc3\xa9\":", 16) != NULL);
    CHECK(memmem(hdr, hlen, "{\"__metadata__\":{\"a\":\"first\",\"z\":\"replaced\"},", 45) ==
          hdr + 8);

    st_file *f;
    mem_budget rmem;
    mem_budget_init(&rmem, 1 << 24);
    brine_status st = st_open(m.p, m.n, NULL, &rmem, &f, &err);
    CHECK(!st);
    if (!st) {
        /* dtype descending in enum order, then name */
        static const char *const want[] = {"zero", "a",   "b",  "c64", "i32",
                                           "bf",   "big", "u8", "f4",  "\"q\\\n\x01\xc3\xa9"};
        CHECK(st_count(f) == 10);
        for (size_t i = 0; i < st_count(f) && i < 10; i++) {
            const st_tensor_info *t = st_tensor(f, i);
            CHECK(!strcmp(t->name, want[i]));
            /* every tensor aligned to its element size in the file */
            unsigned size = st_dtypes[t->dtype].bits / 8;
            CHECK(size == 0 || t->offset % size == 0);
        }
        const st_tensor_info *big = st_tensor(f, (size_t)st_find(f, "big", 3));
        int same = big->nbytes == 3000000;
        for (uint64_t i = 0; same && i < big->nbytes; i++)
            same = big->data[i] == (uint8_t)(9 + i * 7);
        CHECK(same);
        const st_tensor_info *a = st_tensor(f, (size_t)st_find(f, "a", 1));
        CHECK(a->nbytes == 16 && !memcmp(a->data, bytes, 16));
        CHECK(!strcmp(st_metadata_get(f, "z"), "replaced"));
        st_close(f);
    }
    free(m.p);
    st_writer_free(w);
    CHECK(mem.used == 0 && rmem.used == 0);
}

static void test_writer_refusals(void)
{
    mem_budget mem;
    mem_budget_init(&mem, 1 << 24);
    brine_error err;
    st_writer *w;
    uint64_t one = 1;
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    CHECK(st_writer_add(w, "__metadata__", 12, ST_U8, 1, &one, "x", NULL, NULL, &err) ==
              BRINE_ERR_USAGE &&
          strstr(err.msg, "849"));
    CHECK(st_writer_add(w, "a\0b", 3, ST_U8, 1, &one, "x", NULL, NULL, &err) == BRINE_ERR_USAGE);
    CHECK(st_writer_add(w, "\xff", 1, ST_U8, 1, &one, "x", NULL, NULL, &err) == BRINE_ERR_USAGE);
    CHECK(st_writer_add(w, "a", 1, ST_F4, 1, &one, "x", NULL, NULL, &err) == BRINE_ERR_USAGE);
    CHECK(st_writer_add(w, "a", 1, ST_U8, 1, (uint64_t[]){UINT64_MAX}, "x", NULL, NULL, &err) ==
          BRINE_ERR_USAGE);
    CHECK(st_writer_add(w, "a", 1, ST_U8, 2, (uint64_t[]){1u << 31, 1u << 31}, "x", NULL, NULL,
                        &err) == BRINE_ERR_USAGE); /* 2^62 elements × 8 bits overflow */
    CHECK(st_writer_add(w, "b", 1, ST_U8, 2, (uint64_t[]){1u << 30, 1u << 30}, NULL, fill_pattern,
                        NULL, &err) == BRINE_OK); /* 2^60 bytes: fine, unwritten */
    CHECK(st_writer_add(w, "a", 1, ST_U8, 1, &one, NULL, NULL, NULL, &err) == BRINE_ERR_USAGE);
    CHECK(st_writer_add(w, "a", 1, ST_U8, 1, &one, "x", NULL, NULL, &err) == BRINE_OK);
    CHECK(st_writer_add(w, "a", 1, ST_I8, 1, &one, "x", NULL, NULL, &err) == BRINE_OK);
    membuf m = {0};
    CHECK(st_writer_write(w, mem_write, &m, &err) == BRINE_ERR_USAGE &&
          strstr(err.msg, "two tensors are called 'a'"));
    CHECK(st_writer_set_metadata(w, "k", 1, "v\0", 2, &err) == BRINE_ERR_USAGE);
    st_writer_free(w);

    /* header limit */
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.st_max_header = 32;
    CHECK(!st_writer_new(&lim, &mem, &w, &err));
    CHECK(!st_writer_add(w, "a_long_name_to_pass_the_limit", 29, ST_U8, 1, &one, "x", NULL, NULL,
                         &err));
    CHECK(st_writer_write(w, mem_write, &m, &err) == BRINE_ERR_LIMIT &&
          !strcmp(err.limit, "st_max_header"));
    st_writer_free(w);
    lim.st_max_header = 0;
    lim.max_tensors = 1;
    CHECK(!st_writer_new(&lim, &mem, &w, &err));
    CHECK(!st_writer_add(w, "a", 1, ST_U8, 1, &one, "x", NULL, NULL, &err));
    CHECK(st_writer_add(w, "b", 1, ST_U8, 1, &one, "x", NULL, NULL, &err) == BRINE_ERR_LIMIT);
    st_writer_free(w);
    free(m.p);
    CHECK(mem.used == 0);
}

static int count_entries(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        char line[32];
        if (fgets(line, sizeof line, p))
            n = (int)strtol(line, NULL, 10);
        pclose(p);
    }
    return n;
}

static void test_writer_atomic(void)
{
    char dir[] = "/tmp/brine_st_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    mem_budget mem;
    mem_budget_init(&mem, 1 << 24);
    brine_error err;
    st_writer *w;

    /* success */
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    pattern ok = {3, -1, 0};
    CHECK(!st_writer_add(w, "t", 1, ST_F32, 2, (uint64_t[]){300, 1000}, NULL, fill_pattern, &ok,
                         &err));
    CHECK(!st_writer_write_file(w, path, &err));
    st_writer_free(w);
    CHECK(count_entries(dir) == 1);
    const uint8_t *d;
    size_t len;
    CHECK(!brine_map_file(path, &d, &len, &err));
    st_file *f;
    brine_status st = st_open(d, len, NULL, &mem, &f, &err);
    CHECK(!st);
    if (!st) {
        CHECK(st_count(f) == 1 && st_tensor(f, 0)->nbytes == 1200000);
        st_close(f);
    }
    brine_unmap(d, len);
    struct stat sb;
    CHECK(!stat(path, &sb));
    off_t good_size = sb.st_size;

    /* failure half-way: the old file stays, no temporary file is left */
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    pattern bad = {3, 1 << 20, 0};
    CHECK(!st_writer_add(w, "t", 1, ST_F32, 1, (uint64_t[]){1 << 20}, NULL, fill_pattern, &bad,
                         &err));
    CHECK(st_writer_write_file(w, path, &err) == BRINE_ERR_IO && strstr(err.msg, "source failed"));
    st_writer_free(w);
    CHECK(count_entries(dir) == 1);
    CHECK(!stat(path, &sb) && sb.st_size == good_size);

    /* a refusal before writing creates nothing */
    char other[300];
    snprintf(other, sizeof other, "%s/none.safetensors", dir);
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    CHECK(!st_writer_add(w, "t", 1, ST_U8, 0, NULL, "x", NULL, NULL, &err));
    CHECK(!st_writer_add(w, "t", 1, ST_U8, 0, NULL, "x", NULL, NULL, &err));
    CHECK(st_writer_write_file(w, other, &err) == BRINE_ERR_USAGE);
    st_writer_free(w);
    CHECK(count_entries(dir) == 1);

    /* an unwritable place */
    CHECK(!st_writer_new(NULL, &mem, &w, &err));
    CHECK(st_writer_write_file(w, "/nonexistent-dir/x.safetensors", &err) == BRINE_ERR_IO);
    st_writer_free(w);
    CHECK(mem.used == 0);

    unlink(path);
    rmdir(dir);
}

static void test_writer_alloc_failures(void)
{
    static const uint8_t src[64];
    for (uint64_t n = 1;; n++) {
        mem_budget mem;
        mem_budget_init(&mem, 1 << 24);
        brine_error err;
        st_writer *w = NULL;
        membuf m = {0};
        mem_fail_after(n);
        brine_status st = st_writer_new(NULL, &mem, &w, &err);
        for (int i = 0; i < 20 && !st; i++) {
            char name[8] = {'t', (char)('a' + i), 0};
            st = st_writer_add(w, name, 2, (st_dtype)(i % ST_DTYPE_COUNT), 1, (uint64_t[]){8}, src,
                               NULL, NULL, &err);
        }
        if (!st)
            st = st_writer_set_metadata(w, "k", 1, "v", 1, &err);
        if (!st)
            st = st_writer_set_metadata(w, "k", 1, "w", 1, &err);
        if (!st)
            st = st_writer_write(w, mem_write, &m, &err);
        uint64_t attempts = mem_fail_after(0);
        st_writer_free(w);
        free(m.p);
        CHECK(mem.used == 0);
        if (st == BRINE_OK) {
            CHECK(attempts < n);
            break;
        }
        CHECK(st == BRINE_ERR_NOMEM);
        if (n > 500) {
            CHECK(0 && "the writer never succeeded");
            break;
        }
    }
}

/* ------------------------------------------------------------------ scan descriptor */

static void test_descriptor(void)
{
    size_t len;
    uint8_t *p = mk("{}", 2, 0, &len);
    CHECK(fmt_safetensors.bid(p, len) == 90);
    CHECK(!strcmp(fmt_safetensors.name, "safetensors"));
    free(p);
    p = mk(" \n{\"a\":1}", 9, 0, &len);
    CHECK(fmt_safetensors.bid(p, len) == 90);
    p[0] = 200; /* length past the end: still bids, lower */
    CHECK(fmt_safetensors.bid(p, len) == 70);
    p[0] = 9;
    p[8] = 'x';
    CHECK(fmt_safetensors.bid(p, len) == 0);
    free(p);
    CHECK(fmt_safetensors.bid((const uint8_t *)"PK\3\4\24\0\0\0\0\0{", 11) == 0);
    CHECK(fmt_safetensors.bid((const uint8_t *)"\x80\x02}q\0.", 6) == 0);

    /* scan: valid → no finding; malformed → "malformed" with the offset; limit → "limit" */
    struct {
        const char *h;
        size_t dlen;
        const char *rule;
        brine_verdict v;
    } sc_cases[] = {
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, NULL, BRINE_SAFE},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 3, "malformed",
         BRINE_INVALID},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"a\":1}", 2, "malformed",
         BRINE_INVALID},
    };
    for (size_t i = 0; i < 3; i++) {
        p = mk(sc_cases[i].h, strlen(sc_cases[i].h), sc_cases[i].dlen, &len);
        brine_result *res = NULL;
        CHECK(brine_scan_bytes(p, len, NULL, &res, NULL) == BRINE_OK);
        CHECK(res && !strcmp(brine_result_format(res), "safetensors"));
        CHECK(brine_result_verdict(res) == sc_cases[i].v);
        if (sc_cases[i].rule) {
            const brine_finding *fd = brine_result_finding(res, 0);
            CHECK(fd && !strcmp(fd->rule, sc_cases[i].rule) && fd->offset > 0 && fd->message);
        } else {
            CHECK(brine_result_finding_count(res) == 0);
        }
        brine_result_free(res);
        free(p);
    }
}

/* ------------------------------------------------------------------ tool modes */

static json_t *hexs(const uint8_t *p, uint64_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc((size_t)n * 2 + 1);
    for (uint64_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

static int dump(const char *path)
{
    const uint8_t *d;
    size_t len;
    brine_error err;
    if (brine_map_file(path, &d, &len, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return 2;
    }
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(2) << 30);
    st_file *f;
    json_t *out = json_object();
    int rc = 0;
    if (st_open(d, len, NULL, &mem, &f, &err)) {
        json_object_set_new(out, "ok", json_false());
        json_object_set_new(out, "code", json_string(brine_status_name(err.code)));
        json_object_set_new(out, "error", json_string(err.msg));
        json_object_set_new(out, "offset",
                            err.has_offset ? json_integer((json_int_t)err.offset) : json_null());
        rc = 1;
    } else {
        json_object_set_new(out, "ok", json_true());
        json_object_set_new(out, "header_len", json_integer((json_int_t)st_header_len(f)));
        json_t *meta = json_null();
        if (st_has_metadata(f)) {
            meta = json_object();
            const char *k, *v;
            for (size_t i = 0; !st_metadata_at(f, i, &k, &v); i++)
                json_object_set_new(meta, k, json_string(v));
        }
        json_object_set_new(out, "metadata", meta);
        json_t *ts = json_array();
        for (size_t i = 0; i < st_count(f); i++) {
            const st_tensor_info *t = st_tensor(f, i);
            json_t *jt = json_object();
            json_object_set_new(jt, "name", json_stringn(t->name, t->name_len));
            json_object_set_new(jt, "dtype", json_string(t->dtype_name));
            json_t *shape = json_array();
            for (size_t k = 0; k < t->ndim; k++)
                json_array_append_new(shape, json_integer((json_int_t)t->shape[k]));
            json_object_set_new(jt, "shape", shape);
            json_object_set_new(jt, "begin", json_integer((json_int_t)t->begin));
            json_object_set_new(jt, "end", json_integer((json_int_t)t->end));
            json_object_set_new(jt, "offset", json_integer((json_int_t)t->offset));
            json_object_set_new(jt, "hex", hexs(t->data, t->nbytes));
            json_array_append_new(ts, jt);
        }
        json_object_set_new(out, "tensors", ts);
        st_close(f);
    }
    char *s = json_dumps(out, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(out);
    brine_unmap(d, len);
    return rc;
}

typedef struct hexsrc {
    const uint8_t *bytes;
} hexsrc;

static brine_status fill_copy(void *ctx, uint64_t offset, uint8_t *buf, size_t len,
                              brine_error *err)
{
    (void)err;
    memcpy(buf, ((hexsrc *)ctx)->bytes + offset, len);
    return BRINE_OK;
}

static int unhex(const char *s, uint8_t **out, size_t *n)
{
    size_t l = strlen(s);
    if (l % 2)
        return -1;
    *n = l / 2;
    *out = malloc(*n ? *n : 1);
    for (size_t i = 0; i < *n; i++) {
        char b[3] = {s[2 * i], s[2 * i + 1], 0};
        char *end;
        (*out)[i] = (uint8_t)strtoul(b, &end, 16);
        if (*end)
            return -1;
    }
    return 0;
}

static int write_spec(const char *out, const char *spec_path)
{
    json_error_t je;
    json_t *spec = json_load_file(spec_path, 0, &je);
    if (!spec) {
        fprintf(stderr, "%s: %s\n", spec_path, je.text);
        return 2;
    }
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(1) << 30);
    brine_error err;
    st_writer *w;
    st_writer_new(NULL, &mem, &w, &err);
    json_t *ts = json_object_get(spec, "tensors");
    size_t n = json_array_size(ts);
    uint8_t **bufs = calloc(n + 1, sizeof *bufs);
    hexsrc *srcs = calloc(n + 1, sizeof *srcs);
    brine_status st = BRINE_OK;
    for (size_t i = 0; i < n && !st; i++) {
        json_t *t = json_array_get(ts, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        int dt = st_dtype_from_name(json_string_value(json_object_get(t, "dtype")),
                                    json_string_length(json_object_get(t, "dtype")));
        json_t *shape = json_object_get(t, "shape");
        uint64_t dims[64];
        size_t nd = json_array_size(shape);
        for (size_t k = 0; k < nd && k < 64; k++)
            dims[k] = (uint64_t)json_integer_value(json_array_get(shape, k));
        size_t blen;
        if (dt < 0 || nd > 64 ||
            unhex(json_string_value(json_object_get(t, "hex")), &bufs[i], &blen)) {
            fprintf(stderr, "bad spec entry %zu\n", i);
            st = BRINE_ERR_USAGE;
            break;
        }
        srcs[i].bytes = bufs[i];
        int stream = json_is_true(json_object_get(t, "stream"));
        st =
            st_writer_add(w, name, json_string_length(json_object_get(t, "name")), (st_dtype)dt, nd,
                          dims, stream ? NULL : bufs[i], stream ? fill_copy : NULL, &srcs[i], &err);
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(spec, "metadata"), k, v)
    {
        if (!st)
            st = st_writer_set_metadata(w, k, strlen(k), json_string_value(v),
                                        json_string_length(v), &err);
    }
    if (!st)
        st = st_writer_write_file(w, out, &err);
    if (st)
        fprintf(stderr, "write failed: %s\n", err.msg);
    st_writer_free(w);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(srcs);
    json_decref(spec);
    return st ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--dump"))
        return dump(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "--write"))
        return write_spec(argv[2], argv[3]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_safetensors [--dump FILE | --write OUT SPEC]\n");
        return 2;
    }
    test_dtypes();
    test_valid_mix();
    test_rules();
    test_framing();
    test_limits();
    test_alloc_failures();
    test_parser_out_of_memory();
    test_writer_vectors();
    test_writer_layout();
    test_writer_refusals();
    test_writer_atomic();
    test_writer_alloc_failures();
    test_descriptor();
    printf("test_safetensors: %d checks, %d failures\n", checks, failures);
    return failures != 0;
}
