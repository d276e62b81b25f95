/*
 * joblib_dump.c — test driver: reads one file as joblib.load would (ZF container → compat
 * unpickler, anything else → NumpyUnpickler; compressed streams are not opened here), runs
 * the pickle machine with joblib's build hook, and prints JSON for tests/python/test_joblib.py:
 *
 *   {"ok": bool, "error": str|null, "error_offset": int|null, "zfile": bool,
 *    "globals": [full names, nested pickles included, in stream order],
 *    "pickles": [{"start", "end", "complete"}],
 *    "arrays": [{"kind", "type", "itemsize", "shape", "pad_offset", "fortran", "big_endian",
 *                "data_offset", "data_len", "raw_sha256", "sidecar", "escapes"}],
 *    "tensors": [{"name", "dtype", "shape", "sha256"}], "tensors_error": str|null,
 *    "trailing": int}
 *
 * With --zfile it only unwraps a ZF file (main pickle or .z sidecar) and prints the length
 * and sha256 of the inflated bytes.
 *
 * raw_sha256 hashes the array bytes exactly as they sit in the file; sha256 hashes a tensor's
 * elements in C order, little-endian (ld_tensor_read), as `brine inspect --hash` defines it.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/joblib.h"
#include "load/tensors.h"
#include "pickle/machine.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        unsigned char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

static json_t *hex_sha256(const uint8_t *p, size_t n)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[65];
    EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return json_string(hex);
}

static const char *kind_name(uint8_t k)
{
    switch (k) {
    case JL_INLINE: return "inline";
    case JL_OBJECT: return "object";
    case JL_SIDECAR_NPY: return "sidecar-npy";
    default: return "sidecar-z";
    }
}

/* --zfile FILE: only jl_zfile_read, {"ok", "error", "len", "sha256"} of what it inflates. */
static int zfile_only(const unsigned char *file, size_t flen)
{
    brine_limits req, lim;
    memset(&req, 0, sizeof req);
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    brine_error err;
    memset(&err, 0, sizeof err);
    uint8_t *out = NULL;
    size_t out_len = 0;
    brine_status st = jl_zfile_read(&mem, &lim, file, flen, &out, &out_len, &err);
    json_t *o = json_pack("{s:b}", "ok", st == BRINE_OK);
    json_object_set_new(o, "error", st ? json_string(err.msg) : json_null());
    if (!st) {
        json_object_set_new(o, "len", json_integer((json_int_t)out_len));
        json_object_set_new(o, "sha256", hex_sha256(out, out_len));
        mem_free(&mem, out, out_len + 1);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    if (text)
        puts(text);
    free(text);
    json_decref(o);
    return mem.used == 0 ? 0 : 3;
}

int main(int argc, char **argv)
{
    int zfile_mode = argc == 3 && strcmp(argv[1], "--zfile") == 0;
    if (argc != 2 && !zfile_mode) {
        fprintf(stderr, "usage: joblib_dump [--zfile] FILE\n");
        return 2;
    }
    if (zfile_mode)
        argv++;
    size_t flen = 0;
    unsigned char *file = slurp(argv[1], &flen);
    if (!file) {
        fprintf(stderr, "joblib_dump: cannot read %s\n", argv[1]);
        return 2;
    }
    if (zfile_mode) {
        int rc = zfile_only(file, flen);
        free(file);
        return rc;
    }
    brine_limits req, lim;
    memset(&req, 0, sizeof req);
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    brine_error err;
    memset(&err, 0, sizeof err);

    json_t *out = json_object();
    const uint8_t *data = file;
    size_t len = flen;
    uint8_t *inner = NULL;
    size_t inner_len = 0;
    int zfile = jl_is_zfile(file, flen);
    brine_status st = BRINE_OK;
    if (zfile) {
        st = jl_zfile_read(&mem, &lim, file, flen, &inner, &inner_len, &err);
        data = inner;
        len = inner_len;
    }
    json_object_set_new(out, "zfile", json_boolean(zfile));

    pk_graph g;
    pk_graph_init(&g, &mem);
    jl_ctx jl;
    jl_init(&jl, &mem, &lim, zfile ? JL_COMPAT_UNPICKLER : JL_NUMPY_UNPICKLER);
    pk_run_options opts = {&lim, NULL, NULL};
    if (!st)
        st = jl_run(&jl, &g, data, len, 0, &opts, &err);
    json_object_set_new(out, "ok", json_boolean(st == BRINE_OK));
    json_object_set_new(out, "error", st ? json_string(err.msg) : json_null());
    json_object_set_new(out, "error_offset",
                        st && err.has_offset ? json_integer((json_int_t)err.offset) : json_null());

    json_t *globals = json_array();
    for (size_t i = 0; i < g.n_globals; i++)
        json_array_append_new(globals, json_string(g.globals[i].full));
    json_object_set_new(out, "globals", globals);

    json_t *pickles = json_array();
    for (size_t i = 0; i < g.n_pickles; i++)
        json_array_append_new(
            pickles, json_pack("{s:I,s:I,s:b}", "start", (json_int_t)g.pickles[i].start, "end",
                               (json_int_t)g.pickles[i].end, "complete", g.pickles[i].complete));
    json_object_set_new(out, "pickles", pickles);
    json_object_set_new(
        out, "trailing",
        json_integer(st == BRINE_OK && g.n_pickles ? (json_int_t)(len - g.pickles[0].end) : 0));

    json_t *arrays = json_array();
    for (size_t i = 0; i < jl.n_arrays; i++) {
        const jl_array *a = &jl.arrays[i];
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(kind_name(a->kind)));
        if (a->kind == JL_INLINE || a->kind == JL_OBJECT) {
            json_t *shape = json_array();
            for (uint32_t d = 0; d < a->ndim; d++)
                json_array_append_new(shape, json_integer((json_int_t)a->shape[d]));
            json_object_set_new(o, "shape", shape);
            json_object_set_new(o, "data_offset", json_integer((json_int_t)a->data_offset));
            json_object_set_new(o, "data_len", json_integer((json_int_t)a->data_len));
        }
        if (a->kind == JL_INLINE) {
            char t[2] = {a->type, 0};
            json_object_set_new(o, "type", json_string(t));
            json_object_set_new(o, "itemsize", json_integer(a->itemsize));
            json_object_set_new(o, "pad_offset", json_integer((json_int_t)a->pad_offset));
            json_object_set_new(o, "fortran", json_boolean(a->fortran));
            json_object_set_new(o, "big_endian", json_boolean(a->big_endian));
            json_object_set_new(o, "raw_sha256",
                                hex_sha256(data + a->data_offset, (size_t)a->data_len));
        }
        if (a->sidecar) {
            json_object_set_new(o, "sidecar", json_stringn(a->sidecar, a->sidecar_len));
            json_object_set_new(o, "escapes", json_boolean(a->sidecar_escapes));
        }
        json_array_append_new(arrays, o);
    }
    json_object_set_new(out, "arrays", arrays);

    json_t *tensors = json_array();
    json_t *terr = json_null();
    if (st == BRINE_OK && g.n_pickles && g.pickles[0].root) {
        ld_set set;
        ld_set_init(&set, &mem, &lim, NULL, NULL);
        set.want_config = 0;
        set.joblib = &jl;
        brine_error lerr;
        memset(&lerr, 0, sizeof lerr);
        brine_status ls = ld_collect(&set, &g, g.pickles[0].root, &lerr);
        if (ls) {
            terr = json_string(lerr.msg);
        } else {
            for (size_t i = 0; i < set.n_tensors; i++) {
                const ld_tensor *t = &set.tensors[i];
                uint64_t nbytes = t->numel * t->dtype->size;
                uint8_t *buf = malloc(nbytes ? (size_t)nbytes : 1);
                json_t *shape = json_array();
                for (uint32_t d = 0; d < t->ndim; d++)
                    json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
                json_t *o = json_pack("{s:s,s:s,s:o}", "name", t->name, "dtype", t->dtype->st_name,
                                      "shape", shape);
                if (buf && ld_tensor_read(&set, t, buf, nbytes, &lerr) == BRINE_OK)
                    json_object_set_new(o, "sha256", hex_sha256(buf, (size_t)nbytes));
                free(buf);
                json_array_append_new(tensors, o);
            }
        }
        ld_set_free(&set);
    }
    json_object_set_new(out, "tensors", tensors);
    json_object_set_new(out, "tensors_error", terr);

    char *text = json_dumps(out, JSON_COMPACT);
    if (text)
        puts(text);
    free(text);
    json_decref(out);
    jl_free(&jl);
    pk_graph_free(&g);
    if (inner)
        mem_free(&mem, inner, inner_len + 1);
    free(file);
    if (mem.used != 0) {
        fprintf(stderr, "joblib_dump: %llu bytes still charged to the budget\n",
                (unsigned long long)mem.used);
        return 3;
    }
    return 0;
}
