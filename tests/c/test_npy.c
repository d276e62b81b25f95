/*
 * test_npy.c — the .npy reader (src/formats/npy.c).
 *
 *   test_npy              run the unit tests (hand-made headers for the literal rules)
 *   test_npy FILE...      print brine's reading of each FILE as one JSON line: the header
 *                         fields, and for tensors the sha256 of the elements in C order,
 *                         little-endian, read through the ld_set (npy_add_tensor)
 *
 * The Python tests (tests/python/test_npy.py) compare the JSON with numpy itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/npy.h"
#include "load/tensors.h"

static int failures, checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

static const char *status_word(brine_status st)
{
    switch (st) {
    case BRINE_OK: return "ok";
    case BRINE_ERR_MALFORMED: return "malformed";
    case BRINE_ERR_LIMIT: return "limit";
    case BRINE_ERR_NOMEM: return "nomem";
    case BRINE_ERR_UNSUPPORTED: return "unsupported";
    default: return "other";
    }
}

/* The sha256 of the tensor's elements in C order, little-endian, read in bounded chunks. */
static int tensor_sha256(const ld_set *s, const ld_tensor *t, char hex[65], brine_error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        return -1;
    enum { CHUNK = 1 << 16 };
    uint8_t *buf = malloc((size_t)CHUNK * t->dtype->size);
    int rc = buf ? 0 : -1;
    for (uint64_t first = 0; !rc && first < t->numel; first += CHUNK) {
        uint64_t count = t->numel - first < CHUNK ? t->numel - first : CHUNK;
        if (ld_tensor_read_range(s, t, first, count, buf, err) ||
            !EVP_DigestUpdate(ctx, buf, (size_t)(count * t->dtype->size)))
            rc = -1;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!rc && !EVP_DigestFinal_ex(ctx, md, &mdlen))
        rc = -1;
    for (unsigned i = 0; !rc && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static json_t *describe(const uint8_t *data, size_t len)
{
    brine_limits lim;
    lim_resolve(NULL, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    npy_info info;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = npy_parse(data, len, &lim, &mem, &info, &err);
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(status_word(st)));
    if (st) {
        json_object_set_new(o, "error", json_string(err.msg));
        json_object_set_new(o, "offset", json_integer((json_int_t)err.offset));
    }
    json_object_set_new(o, "version", json_pack("[ii]", info.major, info.minor));
    json_object_set_new(o, "header_len", json_integer((json_int_t)info.header_len));
    json_object_set_new(o, "header_chars", json_integer((json_int_t)info.header_chars));
    json_object_set_new(o, "header_over_numpy_limit", json_boolean(info.header_over_numpy_limit));
    json_object_set_new(o, "py2_long", json_boolean(info.py2_long));
    json_object_set_new(o, "data_offset", json_integer((json_int_t)info.data_offset));
    json_object_set_new(o, "has_object", json_boolean(info.has_object));
    json_object_set_new(o, "descr_unknown", json_boolean(info.descr_unknown));
    json_object_set_new(o, "structured", json_boolean(info.structured));
    json_object_set_new(o, "subarray", json_boolean(info.subarray));
    json_object_set_new(o, "fortran", json_boolean(info.fortran));
    json_t *shape = json_array();
    for (uint32_t k = 0; k < info.ndim && k < LD_MAX_DIMS; k++)
        json_array_append_new(shape, json_integer((json_int_t)info.shape[k]));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "ndim", json_integer(info.ndim));
    json_object_set_new(o, "descr", json_string(info.descr));
    json_object_set_new(o, "itemsize", json_integer((json_int_t)info.itemsize));
    json_object_set_new(o, "numel", json_integer((json_int_t)info.numel));
    json_object_set_new(o, "nbytes", json_integer((json_int_t)info.nbytes));
    json_object_set_new(o, "trailing", json_integer((json_int_t)info.trailing));
    json_object_set_new(o, "big_endian", json_boolean(info.big_endian));
    json_object_set_new(o, "tensor",
                        info.dtype && !st ? json_string(info.dtype->st_name) : json_null());
    if (!st && info.dtype && !info.has_object) {
        ld_set set;
        ld_set_init(&set, &mem, &lim, NULL, NULL);
        brine_status ts = npy_add_tensor(&set, "array", &info, data + info.data_offset,
                                         len - info.data_offset, &err);
        char hex[65] = "";
        if (!ts && set.n_tensors == 1 && tensor_sha256(&set, &set.tensors[0], hex, &err) == 0)
            json_object_set_new(o, "sha256", json_string(hex));
        else
            json_object_set_new(o, "tensor_error", json_string(err.msg));
        ld_set_free(&set);
    }
    if (mem.used != 0)
        json_object_set_new(o, "leak", json_integer((json_int_t)mem.used));
    return o;
}

static int dump_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 2;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return 2;
    json_t *o = describe(buf, len);
    json_object_set_new(o, "file", json_string(path));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    puts(text ? text : "{}");
    free(text);
    json_decref(o);
    free(buf);
    return 0;
}

/* ------------------------------------------------------------------ unit tests */

/* A v1.0 file: magic, length, header text as given (no padding added), body. */
static size_t build(uint8_t *out, size_t cap, int major, const char *header, const void *body,
                    size_t body_len)
{
    size_t h = strlen(header), pre = major == 1 ? 10 : 12;
    if (pre + h + body_len > cap)
        abort();
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (uint8_t)major;
    out[7] = 0;
    if (major == 1) {
        out[8] = (uint8_t)h;
        out[9] = (uint8_t)(h >> 8);
    } else
        for (int k = 0; k < 4; k++)
            out[8 + k] = (uint8_t)(h >> (8 * k));
    memcpy(out + pre, header, h);
    if (body_len)
        memcpy(out + pre + h, body, body_len);
    return pre + h + body_len;
}

static brine_status parse(int major, const char *header, const void *body, size_t body_len,
                          npy_info *info)
{
    static uint8_t buf[1 << 16];
    size_t n = build(buf, sizeof buf, major, header, body, body_len);
    mem_budget mem;
    mem_budget_init(&mem, 1 << 26);
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = npy_parse(buf, n, NULL, &mem, info, &err);
    CHECK(mem.used == 0);
    return st;
}

static void unit_tests(void)
{
    npy_info in;
    static const uint8_t eight[8] = {1, 0, 0, 0, 2, 0, 0, 0};
    /* the canonical header */
    CHECK(parse(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n", eight, 8, &in) ==
          BRINE_OK);
    CHECK(in.dtype && strcmp(in.dtype->st_name, "I32") == 0 && in.ndim == 1 && in.shape[0] == 2);
    CHECK(in.nbytes == 8 && in.trailing == 0 && !in.has_object && in.data_offset == 10 + 58);
    /* a repeated key: the last one wins, as in ast.literal_eval */
    CHECK(parse(1, "{'descr':'|O','descr':'<f4','fortran_order':False,'shape':(2,)}", eight, 8,
                &in) == BRINE_OK);
    CHECK(!in.has_object && in.dtype && strcmp(in.dtype->st_name, "F32") == 0);
    CHECK(parse(1, "{'descr':'<f4','descr':'|O','fortran_order':False,'shape':(2,)}", "", 0, &in) ==
          BRINE_OK);
    CHECK(in.has_object);
    /* concatenation, escapes, comments, continuations, parentheses */
    CHECK(parse(1, "({'descr':'\\x3c' 'f' \"4\", # c\n'fortran_order':False,\\\n'shape':(2,)})",
                eight, 8, &in) == BRINE_OK);
    CHECK(in.dtype && strcmp(in.descr, "<f4") == 0);
    CHECK(parse(1, "{'descr':u'\\u003ci4','fortran_order':False,'shape':(0x2,)}", eight, 8, &in) ==
          BRINE_OK);
    /* Python 2's long suffix, only for 1.0/2.0 headers */
    CHECK(parse(1, "{'descr':'<i4','fortran_order':False,'shape':(2L,)}", eight, 8, &in) ==
              BRINE_OK &&
          in.py2_long);
    CHECK(parse(3, "{'descr':'<i4','fortran_order':False,'shape':(2L,)}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    /* objects anywhere */
    CHECK(parse(1,
                "{'descr':[('a','<i4'),('b',[('c','|O')])],'fortran_order':False,"
                "'shape':(-7,)}",
                "", 0, &in) == BRINE_OK &&
          in.has_object && in.structured);
    CHECK(parse(1, "{'descr':('|O',(2,3)),'fortran_order':False,'shape':()}", "", 0, &in) ==
              BRINE_OK &&
          in.has_object && in.subarray);
    CHECK(parse(1, "{'descr':['xO'],'fortran_order':False,'shape':(1,)}", "", 0, &in) == BRINE_OK &&
          in.has_object);
    /* ...except in a padding field, which descr_to_dtype drops */
    CHECK(parse(1,
                "{'descr':[('',('|O',(2,))),('b','<i4')],'fortran_order':False,"
                "'shape':(1,)}",
                "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20, &in) == BRINE_OK &&
          !in.has_object && in.itemsize == 20);
    /* an unknown dtype string is never accepted; with an object field it still reports it */
    CHECK(parse(1, "{'descr':'int64','fortran_order':False,'shape':(1,)}", eight, 8, &in) ==
          BRINE_ERR_UNSUPPORTED);
    CHECK(parse(1, "{'descr':[('a','float'),('b','O')],'fortran_order':False,'shape':(1,)}", "", 0,
                &in) == BRINE_OK &&
          in.has_object && in.descr_unknown);
    /* malformed */
    CHECK(parse(1, "{'descr':'<i4','fortran_order':0,'shape':(2,)}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'<i4','fortran_order':False,'shape':[2]}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'<i4','fortran_order':False,'shape':(2,),'x':1}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'<i4','fortran_order':False,'shape':(3,)}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'<i4','fortran_order':False,'shape':(True,)}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'|O','fortran_order':False,'shape':(True,)}", "", 0, &in) ==
              BRINE_OK &&
          in.has_object);
    CHECK(parse(1, "{'descr':'|O','fortran_order':False,'shape':(99999999999999999999,)}", "", 0,
                &in) == BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'<i1','fortran_order':False,'shape':(4294967296,4294967296)}", "", 0,
                &in) == BRINE_ERR_MALFORMED);
    CHECK(parse(1, "\n  {'descr':'<i4','fortran_order':False,'shape':(2,)}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'<i4','fortran_order':False,'shape':(07,)}", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':'<i4','fortran_order':False,'shape':(2,)} \\\n", eight, 8, &in) ==
          BRINE_ERR_MALFORMED);
    CHECK(parse(1, "{'descr':{[1]},'descr':'<i4','fortran_order':False,'shape':(2,)}", eight, 8,
                &in) == BRINE_ERR_MALFORMED);
    /* nesting deeper than Python's tokenizer allows */
    char deep[1024];
    size_t d = 0;
    d += (size_t)snprintf(deep, sizeof deep, "{'descr':");
    for (int k = 0; k < 201; k++)
        deep[d++] = '[';
    for (int k = 0; k < 201; k++)
        deep[d++] = ']';
    snprintf(deep + d, sizeof deep - d, ",'fortran_order':False,'shape':(2,)}");
    CHECK(parse(1, deep, eight, 8, &in) == BRINE_ERR_MALFORMED);
    /* regression (fuzz_npy empty-array-strides-overflow.npy): an empty array whose other
     * dimensions overflow — numpy: "array is too big"; c_strides overflowed int64 */
    CHECK(parse(1, "{'descr':'<f8','fortran_order':False,'shape':(0,101000000000,1000000000)}", "",
                0, &in) == BRINE_ERR_MALFORMED);
    {
        mem_budget m2;
        mem_budget_init(&m2, 1 << 20);
        brine_limits lim;
        lim_resolve(NULL, &lim);
        ld_set s;
        ld_set_init(&s, &m2, &lim, NULL, NULL);
        const int64_t shape[3] = {0, 101000000000, 1000000000};
        CHECK(ld_add_array(&s, "e", ld_dtype_by_st("F64"), 3, shape, 0, 0, (const uint8_t *)"", 0,
                           NULL) == BRINE_ERR_MALFORMED);
        ld_set_free(&s);
        CHECK(m2.used == 0);
    }
    /* versions */
    static uint8_t bad[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 4, 0, 0, 0};
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    CHECK(npy_parse(bad, sizeof bad, NULL, &mem, &in, NULL) == BRINE_ERR_MALFORMED);
    CHECK(npy_probe(bad, 6) == 100 && npy_probe(bad, 5) == 0 && npz_member_is_array(bad, 16));
    /* big-endian and Fortran order read back in C order, little-endian */
    static const uint8_t be[8] = {0, 0, 0, 1, 0, 0, 0, 2};
    CHECK(parse(1, "{'descr':'>i4','fortran_order':False,'shape':(2,)}", be, 8, &in) == BRINE_OK);
    CHECK(in.big_endian && strcmp(in.descr, ">i4") == 0);
    static const uint8_t fo[6] = {1, 4, 2, 5, 3, 6}; /* [[1,2,3],[4,5,6]] in Fortran order */
    CHECK(parse(1, "{'descr':'|u1','fortran_order':True,'shape':(2,3)}", fo, 6, &in) == BRINE_OK);
    {
        uint8_t file[256];
        size_t n = build(file, sizeof file, 1, "{'descr':'|u1','fortran_order':True,'shape':(2,3)}",
                         fo, 6);
        mem_budget_init(&mem, 1 << 20);
        brine_limits lim;
        lim_resolve(NULL, &lim);
        npy_info fi;
        CHECK(npy_parse(file, n, &lim, &mem, &fi, NULL) == BRINE_OK);
        ld_set s;
        ld_set_init(&s, &mem, &lim, NULL, NULL);
        uint8_t out[6] = {0};
        CHECK(npy_add_tensor(&s, "x", &fi, file + fi.data_offset, n - fi.data_offset, NULL) ==
              BRINE_OK);
        CHECK(s.n_tensors == 1 && ld_tensor_read(&s, &s.tensors[0], out, 6, NULL) == BRINE_OK);
        CHECK(memcmp(out, "\1\2\3\4\5\6", 6) == 0);
        ld_set_free(&s);
        CHECK(mem.used == 0);
    }
}

/* Every allocation of a parse fails in turn: each run ends in NOMEM with nothing charged,
 * until one succeeds with the same reading (SQLite's and libdeflate's injection tests). */
static void alloc_failures(void)
{
    static uint8_t buf[4096];
    size_t n = build(buf, sizeof buf, 1,
                     "{'descr':[('a','<i4'),('b',[('c','|O'),('d',('<f8',(2,)))])],"
                     "'fortran_order':False,'shape':(1,2,3),'descr':'<u2'}",
                     "\1\0\2\0\3\0\4\0\5\0\6\0", 12);
    int ok = 0;
    for (uint64_t k = 1; k < 200 && !ok; k++) {
        mem_budget mem;
        mem_budget_init(&mem, 1 << 20);
        npy_info in;
        brine_error err;
        memset(&err, 0, sizeof err);
        mem_fail_after(k);
        brine_status st = npy_parse(buf, n, NULL, &mem, &in, &err);
        mem_fail_after(0);
        CHECK(mem.used == 0);
        CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM);
        if (st == BRINE_OK) {
            ok = 1;
            CHECK(k > 2 && in.dtype && strcmp(in.dtype->st_name, "U16") == 0 && in.numel == 6);
        }
    }
    CHECK(ok);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        int rc = 0;
        for (int i = 1; i < argc; i++)
            rc |= dump_file(argv[i]);
        return rc;
    }
    unit_tests();
    alloc_failures();
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
