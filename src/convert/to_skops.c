/*
 * to_skops.c — a pickled scikit-learn estimator written as a skops archive, without unpickling.
 *
 * The input is the model's typed config (docs/config.md) and its tensors: skops' schema.json
 * (protocol 2, the node kinds of skops 0.16: JsonNode, ListNode, TupleNode, DictNode,
 * ObjectNode, NdArrayNode, DTypeNode, TypeNode, TreeNode, LossNode, RandomStateNode,
 * RandomGeneratorNode) is built from the config, and each array becomes a .npy member. An
 * object becomes an ObjectNode only when the pickle builds it the way skops rebuilds one —
 * cls.__new__(cls) then __setstate__(state) (NEWOBJ with no arguments,
 * copyreg._reconstructor(cls, object, None), or sklearn's newObj(cls)) — and the few reduce
 * calls skops has its own node for are matched exactly (sklearn's Tree, its Cython losses,
 * numpy's RandomState and Generator), so the archive loads into the same value: the schema is
 * the one skops.io.dump writes for the same estimator (tests/python/test_skops_convert.py
 * compares them). Structured arrays keep numpy's descr and their bytes; object arrays become
 * skops' JSON arrays. Every other value (other reduce calls with arguments, functions, non-str
 * dict keys, big-endian data) is refused with its place in the file: never approximated.
 *
 * The zip is written stored (no compression) by hand: a few fixed headers, every size checked
 * to fit the 32-bit fields. Buffers come from the model's memory budget.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/atomic.h"
#include "core/error.h"
#include "load/model.h"

enum { SK_MAX_DEPTH = 200, SK_MAX_MEMBERS = 60000 };

typedef struct member {
    char name[32];
    uint8_t *data; /* .npy bytes, owned */
    size_t len;
} member;

typedef struct sk_ctx {
    const brine_model *m;
    mem_budget *mem;
    member *members;
    size_t n_members, cap_members;
    char where[512]; /* the config path of the value being converted, for messages */
    brine_error *err;
} sk_ctx;

static int ends_with(const char *s, const char *ext)
{
    size_t n = strlen(s), e = strlen(ext);
    return n > e && strcmp(s + n - e, ext) == 0;
}

int brine_skops_format(const char *path) { return path && ends_with(path, ".skops"); }

static brine_status refuse(sk_ctx *c, const char *what)
{
    return err_set(c->err, BRINE_ERR_UNSUPPORTED, __LINE__,
                   "%s at %s has no exact skops representation: not converted", what,
                   c->where[0] ? c->where : "the top level");
}

static json_t *node(const char *cls, const char *module, const char *loader)
{
    json_t *n = json_object();
    if (n && (json_object_set_new(n, "__class__", json_string(cls)) ||
              json_object_set_new(n, "__module__", json_string(module)) ||
              json_object_set_new(n, "__loader__", json_string(loader)))) {
        json_decref(n);
        return NULL;
    }
    return n;
}

/* A JSON-representable Python value: skops keeps json.dumps(value) as text. */
static json_t *json_node(const char *text)
{
    json_t *n = node("str", "builtins", "JsonNode");
    if (n && (json_object_set_new(n, "content", json_string(text)) ||
              json_object_set_new(n, "is_json", json_true()))) {
        json_decref(n);
        return NULL;
    }
    return n;
}

/* ------------------------------------------------------------------ .npy members */

typedef struct np_type {
    const char *st;    /* brine's (safetensors) name */
    const char *descr; /* numpy's, little-endian */
    const char *code;  /* pickled numpy.dtype argument */
    const char *cls;   /* numpy scalar class */
} np_type;

static const np_type np_types[] = {
    {"F64", "<f8", "f8", "float64"}, {"F32", "<f4", "f4", "float32"},
    {"F16", "<f2", "f2", "float16"}, {"I64", "<i8", "i8", "int64"},
    {"I32", "<i4", "i4", "int32"},   {"I16", "<i2", "i2", "int16"},
    {"I8", "|i1", "i1", "int8"},     {"U64", "<u8", "u8", "uint64"},
    {"U32", "<u4", "u4", "uint32"},  {"U16", "<u2", "u2", "uint16"},
    {"U8", "|u1", "u1", "uint8"},    {"BOOL", "|b1", "b1", "bool"},
};

static const np_type *np_by_st(const char *st)
{
    for (size_t i = 0; i < sizeof np_types / sizeof np_types[0]; i++)
        if (strcmp(np_types[i].st, st) == 0)
            return &np_types[i];
    return NULL;
}

static int np_scalar_class(const char *cls)
{
    for (size_t i = 0; i < sizeof np_types / sizeof np_types[0]; i++)
        if (strcmp(np_types[i].cls, cls) == 0)
            return 1;
    return 0;
}

static const np_type *np_by_code(const char *code)
{
    for (size_t i = 0; i < sizeof np_types / sizeof np_types[0]; i++)
        if (strcmp(np_types[i].code, code) == 0)
            return &np_types[i];
    return NULL;
}

/* Adds a member: the .npy header (format 1.0) for descr (its Python repr, as numpy's
 * header holds it) and shape, then nbytes of data taken from t (a tensor, in C order or
 * rewritten in Fortran order) or from raw. Returns its name or NULL (err set). */
static void to_fortran(uint8_t *dst, const uint8_t *c_order, const ld_tensor *t, uint32_t size);

static const char *add_npy(sk_ctx *c, const char *descr, uint32_t ndim, const int64_t *shape,
                           const ld_tensor *t, const uint8_t *raw, uint64_t nbytes, int fortran)
{
    char header[4096];
    int h = snprintf(header, sizeof header, "{'descr': %s, 'fortran_order': %s, 'shape': (", descr,
                     fortran ? "True" : "False");
    for (uint32_t i = 0; i < ndim && h > 0 && (size_t)h < sizeof header - 64; i++)
        h += snprintf(header + h, sizeof header - (size_t)h, "%s%" PRId64 "%s", i ? " " : "",
                      shape[i], ndim == 1 || i + 1 < ndim ? "," : "");
    if (h <= 0 || (size_t)h >= sizeof header - 64) {
        refuse(c, "an array of too many dimensions");
        return NULL;
    }
    h += snprintf(header + h, sizeof header - (size_t)h, "), }");
    size_t total_head = 10 + (size_t)h + 1;
    size_t pad = (64 - total_head % 64) % 64;
    size_t head_len = (size_t)h + pad + 1;
    if (nbytes > SIZE_MAX - 10 - head_len || c->n_members >= SK_MAX_MEMBERS) {
        refuse(c, "an array too large for a skops archive");
        return NULL;
    }
    if (c->n_members == c->cap_members) {
        if (mem_grow(c->mem, (void **)&c->members, &c->cap_members, c->n_members + 1,
                     sizeof *c->members)) {
            ERR_NOMEM(c->err);
            return NULL;
        }
    }
    size_t len = 10 + head_len + (size_t)nbytes;
    uint8_t *p = mem_alloc(c->mem, len);
    if (!p) {
        ERR_NOMEM(c->err);
        return NULL;
    }
    memcpy(p, "\x93NUMPY\x01\x00", 8);
    p[8] = (uint8_t)(head_len & 0xFF);
    p[9] = (uint8_t)(head_len >> 8);
    memcpy(p + 10, header, (size_t)h);
    memset(p + 10 + h, ' ', pad);
    p[10 + head_len - 1] = '\n';
    if (t) {
        uint8_t *c_order = fortran ? mem_alloc(c->mem, (size_t)nbytes) : p + 10 + head_len;
        if (!c_order) {
            mem_free(c->mem, p, len);
            ERR_NOMEM(c->err);
            return NULL;
        }
        if (ld_tensor_read(&c->m->set, t, c_order, nbytes, c->err)) {
            if (fortran)
                mem_free(c->mem, c_order, (size_t)nbytes);
            mem_free(c->mem, p, len);
            return NULL;
        }
        if (fortran) {
            to_fortran(p + 10 + head_len, c_order, t, t->dtype->size);
            mem_free(c->mem, c_order, (size_t)nbytes);
        }
    } else if (nbytes) {
        memcpy(p + 10 + head_len, raw, (size_t)nbytes);
    }
    member *mb = &c->members[c->n_members++];
    snprintf(mb->name, sizeof mb->name, "%zu.npy", c->n_members);
    mb->data = p;
    mb->len = len;
    return mb->name;
}

static json_t *array_node(sk_ctx *c, const char *cls, const char *file)
{
    json_t *n = node(cls, "numpy", "NdArrayNode");
    if (n && (json_object_set_new(n, "type", json_string("numpy")) ||
              json_object_set_new(n, "file", json_string(file)))) {
        json_decref(n);
        return NULL;
    }
    if (!n)
        ERR_NOMEM(c->err);
    return n;
}

/* 1 when t is laid out in Fortran order and not also in C order: numpy computes with the
 * layout it loads (a matrix product of a Fortran-ordered components_ differs in the last bit
 * from the C-ordered copy), so the archive keeps it. */
static int fortran(const ld_tensor *t)
{
    if (t->ndim < 2)
        return 0;
    int64_t expect_f = 1, expect_c = 1;
    int is_f = 1, is_c = 1;
    for (uint32_t i = 0; i < t->ndim; i++) {
        if (t->shape[i] != 1 && t->strides[i] != expect_f)
            is_f = 0;
        expect_f *= t->shape[i];
    }
    for (uint32_t i = t->ndim; i-- > 0;) {
        if (t->shape[i] != 1 && t->strides[i] != expect_c)
            is_c = 0;
        expect_c *= t->shape[i];
    }
    return is_f && !is_c;
}

/* dst (n elements of size bytes in C order) rewritten in Fortran order. */
static void to_fortran(uint8_t *dst, const uint8_t *c_order, const ld_tensor *t, uint32_t size)
{
    int64_t idx[LD_MAX_DIMS] = {0};
    for (uint64_t k = 0; k < t->numel; k++) {
        uint64_t off = 0;
        for (uint32_t i = 0; i < t->ndim; i++)
            off = off * (uint64_t)t->shape[i] + (uint64_t)idx[i];
        memcpy(dst + k * size, c_order + off * size, size);
        for (uint32_t i = 0; i < t->ndim; i++) { /* first index fastest */
            if (++idx[i] < t->shape[i])
                break;
            idx[i] = 0;
        }
    }
}

static json_t *conv(sk_ctx *c, json_t *v, unsigned depth);
static json_t *conv_seq(sk_ctx *c, json_t *items, const char *cls, const char *loader,
                        unsigned depth);
static brine_status push_where(sk_ctx *c, size_t *mark, const char *key, size_t index);

/* The items of dimensions dim.. of an object array, from *next on: skops keeps
 * ndarray.tolist(), a list of lists for each dimension but the last. */
static json_t *object_rows(sk_ctx *c, json_t *items, json_t *shape, size_t dim, size_t *next,
                           unsigned depth)
{
    size_t n = (size_t)json_integer_value(json_array_get(shape, dim));
    json_t *content = json_array();
    for (size_t i = 0; content && i < n; i++) {
        json_t *child;
        if (dim + 1 < json_array_size(shape)) {
            json_t *rows = object_rows(c, items, shape, dim + 1, next, depth + 1);
            child = rows ? node("list", "builtins", "ListNode") : NULL;
            if (child && json_object_set_new(child, "content", rows)) {
                json_decref(child);
                child = NULL;
            } else if (!child)
                json_decref(rows);
        } else {
            size_t mark;
            push_where(c, &mark, NULL, *next);
            child = conv(c, json_array_get(items, (*next)++), depth + 1);
            c->where[mark] = 0;
        }
        if (!child || json_array_append_new(content, child)) {
            json_decref(content);
            if (!c->err->code)
                ERR_NOMEM(c->err);
            return NULL;
        }
    }
    if (!content && !c->err->code)
        ERR_NOMEM(c->err);
    return content;
}

/* An object array (a gradient boosting's estimators_): skops' NdArrayNode of type "json",
 * which rebuilds a 1-d array item by item and a deeper one with np.array(rows, dtype=object)
 * — which would descend into items that are sequences, so those are refused. */
static json_t *conv_object_array(sk_ctx *c, json_t *v, unsigned depth)
{
    json_t *shape = json_object_get(v, "shape"), *items = json_object_get(v, "items");
    size_t nd = json_array_size(shape), numel = 1;
    int ok = strcmp(json_string_value(json_object_get(v, "dtype")), "object") == 0 &&
             json_is_array(items) && nd >= 1 && nd <= 32;
    for (size_t i = 0; ok && i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        ok = json_is_integer(d) && json_integer_value(d) >= (nd > 1 ? 1 : 0) &&
             !__builtin_mul_overflow(numel, (size_t)json_integer_value(d), &numel);
    }
    ok = ok && numel == json_array_size(items);
    for (size_t i = 0; ok && nd > 1 && i < numel; i++) {
        json_t *x = json_array_get(items, i);
        const char *t = json_string_value(json_object_get(x, "__type__"));
        if (t && strcmp(t, "ref") == 0)
            t = json_string_value(json_object_get(json_object_get(x, "value"), "__type__"));
        ok = !json_is_array(x) && !(t && (strcmp(t, "tuple") == 0 || strcmp(t, "list") == 0 ||
                                          strcmp(t, "ndarray") == 0));
    }
    if (!ok) {
        refuse(c, "an object ndarray skops would not rebuild the same");
        return NULL;
    }
    size_t next = 0;
    json_t *content = object_rows(c, items, shape, 0, &next, depth);
    json_t *dims = content ? conv_seq(c, shape, "tuple", "TupleNode", depth + 1) : NULL;
    json_t *n = dims ? node("ndarray", "numpy", "NdArrayNode") : NULL;
    if (!n) {
        json_decref(content);
        json_decref(dims);
        if (!c->err->code)
            ERR_NOMEM(c->err);
        return NULL;
    }
    /* each set_new takes its value even when it fails: all three run */
    if (json_object_set_new(n, "content", content) |
        json_object_set_new(n, "type", json_string("json")) |
        json_object_set_new(n, "shape", dims)) {
        json_decref(n);
        if (!c->err->code)
            ERR_NOMEM(c->err);
        return NULL;
    }
    return n;
}

/* A structured array (a tree's nodes): brine's loader holds its records as a uint8 tensor of
 * shape + (itemsize,) and numpy's descr in the config; the member is the .npy numpy writes for
 * it — the descr as Python's repr of the list of (name, type) pairs, the records byte for
 * byte. */
static json_t *conv_structured(sk_ctx *c, const ld_tensor *t, json_t *descr)
{
    char repr[2048];
    size_t at = 0;
    uint64_t itemsize = 0;
    int ok = t && t->ndim >= 1 && strcmp(t->dtype->st_name, "U8") == 0 && json_is_array(descr) &&
             json_array_size(descr) > 0;
    repr[at++] = '[';
    for (size_t i = 0; ok && i < json_array_size(descr); i++) {
        json_t *pair = json_array_get(descr, i);
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *type = json_string_value(json_array_get(pair, 1));
        const char *digits = type ? type + strspn(type, "<|") + 1 : NULL;
        /* the loader wrote the names and types; they must still be what it writes */
        ok = name && type && json_array_size(pair) == 2 && strlen(type) >= 3 &&
             strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ "
                          "-.:()[]") == strlen(name) &&
             strspn(digits, "0123456789") == strlen(digits) && strlen(digits) <= 8;
        if (!ok)
            break;
        itemsize += strtoull(digits, NULL, 10);
        int w = snprintf(repr + at, sizeof repr - at, "%s('%s', '%s')", i ? ", " : "", name, type);
        ok = w > 0 && (size_t)w < sizeof repr - at - 2;
        at += ok ? (size_t)w : 0;
    }
    if (!ok || itemsize != (uint64_t)t->shape[t->ndim - 1] ||
        !ld_tensor_contiguous(&c->m->set, t)) {
        refuse(c, "a structured ndarray brine does not map");
        return NULL;
    }
    repr[at++] = ']';
    repr[at] = 0;
    const char *file = add_npy(c, repr, t->ndim - 1, t->shape, t, NULL, t->numel, 0);
    return file ? array_node(c, "ndarray", file) : NULL;
}

static json_t *conv_ndarray(sk_ctx *c, json_t *v, unsigned depth)
{
    if (json_is_string(json_object_get(v, "dtype")))
        return conv_object_array(c, v, depth);
    const char *name = json_string_value(json_object_get(v, "name"));
    json_t *bo = json_object_get(v, "byteorder");
    if (!name) {
        refuse(c, "an ndarray without a name");
        return NULL;
    }
    if (bo && json_is_string(bo) && strcmp(json_string_value(bo), ">") == 0) {
        refuse(c, "a big-endian ndarray");
        return NULL;
    }
    const ld_tensor *t = NULL;
    for (size_t i = 0; i < c->m->set.n_tensors && !t; i++)
        if (strcmp(c->m->set.tensors[i].name, name) == 0)
            t = &c->m->set.tensors[i];
    json_t *descr = json_object_get(v, "descr");
    if (descr)
        return conv_structured(c, t, descr);
    const np_type *nt = t ? np_by_st(t->dtype->st_name) : NULL;
    if (!nt) {
        refuse(c, t ? "an ndarray of a dtype skops stores otherwise" : "an unknown ndarray");
        return NULL;
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(t->numel, (uint64_t)t->dtype->size, &nbytes)) {
        refuse(c, "an ndarray too large");
        return NULL;
    }
    char quoted[16];
    snprintf(quoted, sizeof quoted, "'%s'", nt->descr);
    const char *file = add_npy(c, quoted, t->ndim, t->shape, t, NULL, nbytes, fortran(t));
    return file ? array_node(c, "ndarray", file) : NULL;
}

/* numpy.dtype(code, False, True) with BUILD state (3, byteorder, ...): the numeric type, or
 * NULL when it is another dtype (object, structured, big-endian). */
static const np_type *pickled_dtype(json_t *v)
{
    if (json_is_object(v) && json_is_string(json_object_get(v, "__type__")) &&
        strcmp(json_string_value(json_object_get(v, "__type__")), "ref") == 0)
        v = json_object_get(v, "value");
    const char *callee = json_string_value(json_object_get(v, "callee"));
    json_t *args = json_object_get(v, "args");
    if (!callee || strcmp(callee, "numpy.dtype") != 0 || !json_is_array(args) ||
        !json_is_string(json_array_get(args, 0)))
        return NULL;
    json_t *st = json_object_get(json_object_get(v, "state"), "items");
    const char *order = json_string_value(json_array_get(st, 1));
    if (!order || strcmp(order, ">") == 0)
        return NULL;
    const np_type *nt = np_by_code(json_string_value(json_array_get(args, 0)));
    if (!nt)
        return NULL;
    /* a structured dtype carries field names and descriptions in its state */
    if (!json_is_null(json_array_get(st, 2)) || !json_is_null(json_array_get(st, 3)) ||
        !json_is_null(json_array_get(st, 4)))
        return NULL;
    return nt;
}

static int hex_digit(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* numpy.core.multiarray.scalar(dtype, bytes): a 0-d .npy of that type. */
static json_t *conv_scalar(sk_ctx *c, json_t *args)
{
    const np_type *nt = pickled_dtype(json_array_get(args, 0));
    json_t *b = json_array_get(args, 1);
    const char *hex = json_string_value(json_object_get(b, "hex"));
    if (!nt || !hex || json_array_size(args) != 2) {
        refuse(c, "a numpy scalar of a dtype brine does not map");
        return NULL;
    }
    size_t n = strlen(hex) / 2;
    uint8_t raw[16];
    if (strlen(hex) % 2 || n > sizeof raw) {
        refuse(c, "a numpy scalar of unexpected size");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            refuse(c, "a numpy scalar with bad bytes");
            return NULL;
        }
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    const ld_dtype *dt = ld_dtype_by_st(nt->st);
    if (!dt || dt->size != n) {
        refuse(c, "a numpy scalar whose bytes do not match its dtype");
        return NULL;
    }
    char quoted[16];
    snprintf(quoted, sizeof quoted, "'%s'", nt->descr);
    const char *file = add_npy(c, quoted, 0, NULL, NULL, raw, n, 0);
    return file ? array_node(c, nt->cls, file) : NULL;
}

/* ------------------------------------------------------------------ the value tree */

static json_t *conv(sk_ctx *c, json_t *v, unsigned depth);

static brine_status push_where(sk_ctx *c, size_t *mark, const char *key, size_t index)
{
    *mark = strlen(c->where);
    size_t left = sizeof c->where - *mark;
    if (key)
        snprintf(c->where + *mark, left, "%s%.100s", *mark ? "." : "", key);
    else
        snprintf(c->where + *mark, left, "%s%zu", *mark ? "." : "", index);
    return BRINE_OK;
}

static json_t *conv_seq(sk_ctx *c, json_t *items, const char *cls, const char *loader,
                        unsigned depth)
{
    json_t *n = node(cls, "builtins", loader), *content = json_array();
    if (!n || !content || json_object_set_new(n, "content", content)) { /* set_new takes it */
        if (!n)
            json_decref(content);
        json_decref(n);
        ERR_NOMEM(c->err);
        return NULL;
    }
    size_t i, mark;
    json_t *x;
    json_array_foreach(items, i, x)
    {
        push_where(c, &mark, NULL, i);
        json_t *child = conv(c, x, depth + 1);
        if (!child || json_array_append_new(content, child)) {
            json_decref(n);
            if (child)
                ERR_NOMEM(c->err);
            return NULL;
        }
        c->where[mark] = 0;
    }
    return n;
}

static json_t *conv_dict(sk_ctx *c, json_t *obj, unsigned depth)
{
    json_t *n = node("dict", "builtins", "DictNode"), *content = json_object(),
           *types = node("list", "builtins", "ListNode"), *tlist = json_array();
    if (!n || !content || !types || !tlist) {
        json_decref(n);
        json_decref(content);
        json_decref(types);
        json_decref(tlist);
        ERR_NOMEM(c->err);
        return NULL;
    }
    /* each set_new takes its value even when it fails: all three run */
    if (json_object_set_new(n, "content", content) | json_object_set_new(types, "content", tlist) |
        json_object_set_new(n, "key_types", types)) {
        json_decref(n);
        ERR_NOMEM(c->err);
        return NULL;
    }
    const char *k;
    json_t *x;
    size_t mark;
    json_object_foreach(obj, k, x)
    {
        push_where(c, &mark, k, 0);
        json_t *child = conv(c, x, depth + 1);
        json_t *type = child ? node("str", "builtins", "TypeNode") : NULL;
        if (!child) {
            json_decref(n);
            return NULL;
        }
        if (!type) /* set_new and append_new take their value even when they fail */
            json_decref(child);
        if (!type || json_object_set_new(content, k, child)) {
            json_decref(type);
            json_decref(n);
            ERR_NOMEM(c->err);
            return NULL;
        }
        if (json_array_append_new(tlist, type)) {
            json_decref(n);
            ERR_NOMEM(c->err);
            return NULL;
        }
        c->where[mark] = 0;
    }
    return n;
}

/* module.qualname → a node of class qualname in module (split at the last dot). */
static json_t *named_node(sk_ctx *c, const char *full, const char *loader)
{
    const char *dot = strrchr(full, '.');
    if (!dot || dot == full || !dot[1]) {
        refuse(c, "a global without a module");
        return NULL;
    }
    char module[256];
    size_t ml = (size_t)(dot - full);
    if (ml >= sizeof module) {
        refuse(c, "a global with a long module name");
        return NULL;
    }
    memcpy(module, full, ml);
    module[ml] = 0;
    json_t *n = node(dot + 1, module, loader);
    if (!n)
        ERR_NOMEM(c->err);
    return n;
}

/* A class passed as a value (dtype=numpy.float64): skops' TypeNode imports it by name, which
 * is only right for classes. brine cannot tell a class from a function by its name, so it
 * takes CamelCase names and numpy's scalar types, and refuses the rest. */
static json_t *conv_global(sk_ctx *c, const char *full)
{
    const char *dot = strrchr(full, '.');
    const char *last = dot ? dot + 1 : full;
    int numpy_type = strncmp(full, "numpy.", 6) == 0 && strchr(full + 6, '.') == NULL;
    int ok = (last[0] >= 'A' && last[0] <= 'Z') ||
             (numpy_type && (strcmp(last, "bool_") == 0 || np_scalar_class(last))) ||
             strcmp(full, "builtins.int") == 0 || strcmp(full, "builtins.float") == 0 ||
             strcmp(full, "builtins.str") == 0 || strcmp(full, "builtins.bool") == 0;
    if (!ok) {
        char what[512];
        snprintf(what, sizeof what,
                 "the global %.250s (a function, or a name brine does not "
                 "know to be a class)",
                 full);
        refuse(c, what);
        return NULL;
    }
    return named_node(c, full, "TypeNode");
}

/* skops' ReduceNode family (TreeNode, LossNode): constructor(*args), then
 * __setstate__(state) — exactly what the pickle's REDUCE + BUILD does. */
static json_t *reduce_node(sk_ctx *c, const char *module, const char *cls, const char *loader,
                           json_t *args, json_t *state, unsigned depth)
{
    json_t *n = node(cls, module, loader), *reduce = json_object();
    if (!n || !reduce || json_object_set_new(n, "__reduce__", reduce)) { /* takes reduce */
        if (!n)
            json_decref(reduce);
        json_decref(n);
        ERR_NOMEM(c->err);
        return NULL;
    }
    size_t mark;
    push_where(c, &mark, "__reduce__", 0);
    json_t *a = conv_seq(c, args, "tuple", "TupleNode", depth + 1);
    c->where[mark] = 0;
    if (!a || json_object_set_new(reduce, "args", a)) {
        if (a)
            ERR_NOMEM(c->err);
        json_decref(n);
        return NULL;
    }
    json_t *content = conv_dict(c, state, depth + 1);
    if (!content || json_object_set_new(n, "content", content)) {
        if (content)
            ERR_NOMEM(c->err);
        json_decref(n);
        return NULL;
    }
    return n;
}

/* numpy.random.RandomState: __randomstate_ctor('MT19937') (numpy 1) or
 * __randomstate_ctor(__bit_generator_ctor(MT19937)) (numpy 2), then __setstate__ of
 * get_state(legacy=False). skops' RandomStateNode does RandomState().set_state(that dict),
 * the same as long as the bit generator is RandomState's own, MT19937. */
static json_t *random_state(sk_ctx *c, json_t *v, unsigned depth)
{
    json_t *args = json_object_get(v, "args"), *state = json_object_get(v, "state");
    json_t *a0 = json_array_get(args, 0);
    if (json_is_object(a0) && json_object_get(a0, "__type__") &&
        strcmp(json_string_value(json_object_get(a0, "__type__")), "ref") == 0)
        a0 = json_object_get(a0, "value");
    const char *ctor = json_string_value(json_object_get(a0, "callee"));
    json_t *bg = json_array_get(json_object_get(a0, "args"), 0);
    const char *bg_name = json_string_value(json_object_get(bg, "name"));
    /* numpy 1.26 adds the bit generator's constructor: ('MT19937', __bit_generator_ctor) */
    const char *a1 = json_string_value(json_object_get(json_array_get(args, 1), "name"));
    int ctor_args = json_array_size(args) == 1 ||
                    (json_array_size(args) == 2 && a1 &&
                     strcmp(a1, "numpy.random._pickle.__bit_generator_ctor") == 0);
    int mt = (json_is_string(a0) && strcmp(json_string_value(a0), "MT19937") == 0) ||
             (ctor && strcmp(ctor, "numpy.random._pickle.__bit_generator_ctor") == 0 &&
              json_array_size(json_object_get(a0, "args")) == 1 && bg_name &&
              strcmp(bg_name, "numpy.random._mt19937.MT19937") == 0);
    const char *kind = json_string_value(json_object_get(state, "bit_generator"));
    if (!mt || !ctor_args || !json_is_object(state) || json_object_get(state, "__type__") ||
        !kind || strcmp(kind, "MT19937") != 0 || json_object_get(v, "items")) {
        refuse(c, "a numpy RandomState not built on MT19937 with a state dict");
        return NULL;
    }
    json_t *n = node("RandomState", "numpy.random.mtrand", "RandomStateNode");
    json_t *content = n ? conv_dict(c, state, depth + 1) : NULL;
    if (!content || json_object_set_new(n, "content", content)) {
        if (!n || content)
            ERR_NOMEM(c->err);
        json_decref(n);
        return NULL;
    }
    return n;
}

static json_t *deref(json_t *v)
{
    const char *t = json_string_value(json_object_get(v, "__type__"));
    return t && strcmp(t, "ref") == 0 ? json_object_get(v, "value") : v;
}

/* numpy.random.Generator: __generator_ctor(__bit_generator_ctor(PCG64) + BUILD (state,
 * seed_seq)), the SeedSequence a Cython pickle __pyx_unpickle_SeedSequence(SeedSequence,
 * checksum, None) + BUILD with its fields in Cython's (sorted) order: entropy,
 * n_children_spawned, pool, pool_size, spawn_key. skops' RandomGeneratorNode rebuilds
 * SeedSequence(**seed_seq.state) — entropy, spawn_key, pool_size, n_children_spawned: the
 * pool is recomputed from them — then the bit generator on it and its state set. */
static json_t *random_generator(sk_ctx *c, json_t *v, unsigned depth)
{
    json_t *args = json_object_get(v, "args");
    json_t *bg = deref(json_array_get(args, 0));
    const char *bg_ctor = json_string_value(json_object_get(bg, "callee"));
    const char *bg_cls =
        json_string_value(json_object_get(json_array_get(json_object_get(bg, "args"), 0), "name"));
    json_t *bg_state = json_object_get(json_object_get(bg, "state"), "items");
    json_t *state = json_array_get(bg_state, 0), *ss = deref(json_array_get(bg_state, 1));
    const char *ss_fn = json_string_value(json_object_get(ss, "callee"));
    json_t *ss_args = json_object_get(ss, "args");
    json_t *fields = json_object_get(json_object_get(ss, "state"), "items");
    const char *ss_cls = json_string_value(json_object_get(json_array_get(ss_args, 0), "name"));
    const char *kind = json_string_value(json_object_get(state, "bit_generator"));
    json_t *entropy = json_array_get(fields, 0);
    int ok = json_array_size(args) == 1 && !json_object_get(v, "state") && bg_ctor &&
             strcmp(bg_ctor, "numpy.random._pickle.__bit_generator_ctor") == 0 && bg_cls &&
             strncmp(bg_cls, "numpy.random._", 14) == 0 && kind &&
             strcmp(strrchr(bg_cls, '.') + 1, kind) == 0 && json_array_size(bg_state) == 2 &&
             json_is_object(state) && !json_object_get(state, "__type__") && ss_fn &&
             strcmp(ss_fn, "numpy.random.bit_generator.__pyx_unpickle_SeedSequence") == 0 &&
             ss_cls && strcmp(ss_cls, "numpy.random.bit_generator.SeedSequence") == 0 &&
             json_array_size(ss_args) == 3 && json_is_null(json_array_get(ss_args, 2)) &&
             json_array_size(fields) == 5 && !json_is_null(entropy) &&
             json_is_integer(json_array_get(fields, 1)) &&
             json_is_integer(json_array_get(fields, 3));
    if (!ok) {
        refuse(c, "a numpy Generator not pickled as numpy 2 does (bit generator state and "
                  "SeedSequence)");
        return NULL;
    }
    json_t *seed = json_pack("{s:O,s:O,s:O,s:O}", "entropy", entropy, "spawn_key",
                             json_array_get(fields, 4), "pool_size", json_array_get(fields, 3),
                             "n_children_spawned", json_array_get(fields, 1));
    json_t *n = seed ? node("Generator", "numpy.random._generator", "RandomGeneratorNode") : NULL;
    json_t *content = n ? json_object() : NULL;
    if (!content || json_object_set_new(n, "content", content)) {
        json_decref(seed);
        json_decref(n);
        ERR_NOMEM(c->err);
        return NULL;
    }
    size_t mark;
    push_where(c, &mark, "bit_generator", 0);
    json_t *a = conv_dict(c, state, depth + 1);
    c->where[mark] = 0;
    if (!a || json_object_set_new(content, "bit_generator", a)) {
        if (a)
            ERR_NOMEM(c->err);
        json_decref(seed);
        json_decref(n);
        return NULL;
    }
    json_t *b = conv_dict(c, seed, depth + 1);
    json_decref(seed);
    if (!b || json_object_set_new(content, "seed_seq", b)) {
        if (b)
            ERR_NOMEM(c->err);
        json_decref(n);
        return NULL;
    }
    return n;
}

/* scikit-learn's Cython losses (sklearn._loss._loss.CyHalfBinomialLoss, ...; the module is
 * plain `_loss` in the 1.5 wheels, and skops keeps that name too): pickled as CyX() (newer
 * Cython) or __pyx_unpickle_CyX(CyX, checksum, (fields...)), which sets the fields in order.
 * skops' LossNode calls CyX(*args): for the second form skops itself writes the fields as
 * the arguments, which __init__ takes in the same order. Fields must be plain numbers. */
static json_t *cy_loss(sk_ctx *c, json_t *v, const char *fn, unsigned depth)
{
    const char *dot = strrchr(fn, '.'), *name = dot + 1;
    char module[32], cls[128] = "", type_want[192];
    snprintf(module, sizeof module, "%.*s", (int)(dot - fn), fn);
    json_t *args = json_object_get(v, "args"), *ctor_args = NULL;
    const char *how = json_string_value(json_object_get(v, "how"));
    int plain = how && strcmp(how, "reduce") == 0 && !json_object_get(v, "state") &&
                !json_object_get(v, "items") && strlen(name) < 100;
    if (plain && strncmp(name, "Cy", 2) == 0 && json_array_size(args) == 0) {
        snprintf(cls, sizeof cls, "%s", name);
        ctor_args = args;
    } else if (plain && strncmp(name, "__pyx_unpickle_Cy", 17) == 0 && json_array_size(args) == 3) {
        const char *type = json_string_value(json_object_get(json_array_get(args, 0), "name"));
        json_t *fields = json_object_get(json_array_get(args, 2), "items");
        snprintf(cls, sizeof cls, "%s", name + 15);
        snprintf(type_want, sizeof type_want, "%s.%s", module, cls);
        if (type && strcmp(type, type_want) == 0 && json_is_array(fields))
            ctor_args = fields;
        for (size_t i = 0; ctor_args && i < json_array_size(fields); i++)
            if (!json_is_number(json_array_get(fields, i)))
                ctor_args = NULL;
    }
    if (!ctor_args) {
        char what[256];
        snprintf(what, sizeof what, "the Cython loss object %.150s", fn);
        refuse(c, what);
        return NULL;
    }
    json_t *empty = json_object();
    json_t *n = empty ? reduce_node(c, module, cls, "LossNode", ctor_args, empty, depth) : NULL;
    json_decref(empty);
    if (!empty)
        ERR_NOMEM(c->err);
    return n;
}

/* scikit-learn's Cython helper newObj(cls), defined as `return cls.__new__(cls)` in the
 * binary trees (KDTree, BallTree) and distance metrics, which pickle themselves as
 * (newObj, (cls,), state tuple): the same as skops' ObjectNode. Only these modules' own. */
static int sklearn_new_obj(const char *fn)
{
    static const char *const known[] = {
        "sklearn.neighbors._kd_tree.newObj", "sklearn.neighbors._ball_tree.newObj",
        "sklearn.neighbors._binary_tree.newObj", "sklearn.metrics._dist_metrics.newObj",
        "sklearn.neighbors._dist_metrics.newObj"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(fn, known[i]) == 0)
            return 1;
    return 0;
}

static json_t *conv_object(sk_ctx *c, json_t *v, unsigned depth)
{
    json_t *callee = json_object_get(v, "callee");
    const char *fn = json_string_value(callee);
    const char *how = json_string_value(json_object_get(v, "how"));
    json_t *args = json_object_get(v, "args"), *state = json_object_get(v, "state");
    char what[512];
    if (!fn) {
        refuse(c, "an object made by a callable that is not a plain name");
        return NULL;
    }
    if (strcmp(fn, "numpy.core.multiarray.scalar") == 0 ||
        strcmp(fn, "numpy._core.multiarray.scalar") == 0)
        return conv_scalar(c, args);
    if (strcmp(fn, "numpy.dtype") == 0) {
        const np_type *nt = pickled_dtype(v);
        if (!nt) {
            refuse(c, "a numpy dtype brine does not map (object, structured or big-endian)");
            return NULL;
        }
        int64_t zero = 0;
        char quoted[16];
        snprintf(quoted, sizeof quoted, "'%s'", nt->descr);
        const char *file = add_npy(c, quoted, 1, &zero, NULL, NULL, 0, 0);
        json_t *arr = file ? array_node(c, "ndarray", file) : NULL;
        json_t *n = arr ? node("dtype", "numpy", "DTypeNode") : NULL;
        if (arr && (!n || json_object_set_new(n, "content", arr))) {
            if (!n)
                json_decref(arr);
            json_decref(n);
            ERR_NOMEM(c->err);
            return NULL;
        }
        return n;
    }
    if (strcmp(fn, "builtins.slice") == 0 && how && strcmp(how, "reduce") == 0 &&
        json_array_size(args) == 3 && !state) {
        json_t *n = node("slice", "builtins", "SliceNode"), *content = json_object();
        static const char *const part[] = {"start", "stop", "step"};
        int bad = !n || !content || json_object_set_new(n, "content", content);
        if (!n)
            json_decref(content);
        for (size_t i = 0; i < 3 && !bad; i++) {
            json_t *a = json_array_get(args, i);
            if (!json_is_integer(a) && !json_is_null(a)) {
                json_decref(n);
                refuse(c, "a slice whose bounds are not integers");
                return NULL;
            }
            bad = json_object_set(content, part[i], a);
        }
        if (bad) {
            json_decref(n);
            ERR_NOMEM(c->err);
            return NULL;
        }
        return n;
    }
    if (strcmp(fn, "numpy.random._pickle.__randomstate_ctor") == 0)
        return random_state(c, v, depth);
    if (strcmp(fn, "numpy.random._pickle.__generator_ctor") == 0)
        return random_generator(c, v, depth);
    if (strncmp(fn, "sklearn._loss._loss.", 20) == 0 || strncmp(fn, "_loss.", 6) == 0)
        return cy_loss(c, v, fn, depth);
    /* Tree(n_features, n_classes, n_outputs) then __setstate__(state): skops' TreeNode */
    if (strcmp(fn, "sklearn.tree._tree.Tree") == 0 && how && strcmp(how, "reduce") == 0 &&
        json_is_array(args) && json_is_object(state) && !json_object_get(state, "__type__") &&
        !json_object_get(v, "items"))
        return reduce_node(c, "sklearn.tree._tree", "Tree", "TreeNode", args, state, depth);
    /* cls.__new__(cls) then __setstate__(state): what skops' ObjectNode does */
    const char *cls = NULL;
    if (how && strcmp(how, "newobj") == 0 && json_array_size(args) == 0 &&
        !json_object_get(v, "kwargs"))
        cls = fn;
    else if (sklearn_new_obj(fn) && how && strcmp(how, "reduce") == 0 && json_array_size(args) == 1)
        cls = json_string_value(json_object_get(json_array_get(args, 0), "name"));
    else if (strcmp(fn, "copyreg._reconstructor") == 0 && json_array_size(args) == 3 &&
             json_is_null(json_array_get(args, 2))) {
        json_t *c0 = json_array_get(args, 0), *c1 = json_array_get(args, 1);
        const char *base = json_string_value(json_object_get(c1, "name"));
        if (base && strcmp(base, "builtins.object") == 0)
            cls = json_string_value(json_object_get(c0, "name"));
    }
    const char *stype = json_string_value(json_object_get(state, "__type__"));
    if (!cls || json_object_get(v, "items") ||
        (state && (!json_is_object(state) || (stype && strcmp(stype, "tuple") != 0)))) {
        snprintf(what, sizeof what,
                 "the object %.200s (built by a call with arguments, or with a state that is "
                 "not a dict of attributes)",
                 fn);
        refuse(c, what);
        return NULL;
    }
    json_t *n = named_node(c, cls, "ObjectNode");
    /* no BUILD: __getstate__() is None (Python 3.11 for an empty __dict__), which skops
     * writes as a JSON null and skips on load */
    if (n && !state && json_object_set_new(n, "content", json_node("null"))) {
        json_decref(n);
        ERR_NOMEM(c->err);
        return NULL;
    }
    if (n && state) {
        json_t *content = stype ? conv(c, state, depth + 1) : conv_dict(c, state, depth + 1);
        if (!content || json_object_set_new(n, "content", content)) {
            if (content)
                ERR_NOMEM(c->err);
            json_decref(n);
            return NULL;
        }
    }
    return n;
}

static json_t *conv(sk_ctx *c, json_t *v, unsigned depth)
{
    if (depth > SK_MAX_DEPTH) {
        refuse(c, "a value nested too deep");
        return NULL;
    }
    json_t *n = NULL;
    if (json_is_null(v) || json_is_boolean(v) || json_is_integer(v) || json_is_real(v) ||
        json_is_string(v)) {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        n = text ? json_node(text) : NULL;
        free(text);
    } else if (json_is_array(v)) {
        return conv_seq(c, v, "list", "ListNode", depth);
    } else if (json_is_object(v) && !json_object_get(v, "__type__")) {
        return conv_dict(c, v, depth);
    } else {
        const char *type = json_string_value(json_object_get(v, "__type__"));
        if (!type)
            type = "?";
        if (strcmp(type, "tuple") == 0)
            return conv_seq(c, json_object_get(v, "items"), "tuple", "TupleNode", depth);
        if (strcmp(type, "list") == 0 && !json_object_get(v, "state"))
            return conv_seq(c, json_object_get(v, "items"), "list", "ListNode", depth);
        if (strcmp(type, "ndarray") == 0)
            return conv_ndarray(c, v, depth);
        if (strcmp(type, "object") == 0)
            return conv_object(c, v, depth);
        if (strcmp(type, "global") == 0 && json_is_string(json_object_get(v, "name")))
            return conv_global(c, json_string_value(json_object_get(v, "name")));
        if (strcmp(type, "ref") == 0 && json_object_get(v, "value"))
            return conv(c, json_object_get(v, "value"), depth + 1);
        if (strcmp(type, "int") == 0) { /* past int64: json.dumps writes its digits */
            const char *d = json_string_value(json_object_get(v, "value"));
            if (!d || !d[d[0] == '-'] ||
                strspn(d + (d[0] == '-'), "0123456789") != strlen(d + (d[0] == '-'))) {
                refuse(c, "an int too large to write as JSON digits");
                return NULL;
            }
            n = json_node(d);
        } else if (strcmp(type, "float") == 0) {
            const char *f = json_string_value(json_object_get(v, "value"));
            const char *py = !f                       ? NULL
                             : strcmp(f, "nan") == 0  ? "NaN"
                             : strcmp(f, "inf") == 0  ? "Infinity"
                             : strcmp(f, "-inf") == 0 ? "-Infinity"
                                                      : NULL;
            if (py)
                n = json_node(py);
            else {
                refuse(c, "a float");
                return NULL;
            }
        } else {
            char what[120];
            snprintf(what, sizeof what, "a value of kind %.60s", type);
            refuse(c, what);
            return NULL;
        }
    }
    if (!n)
        ERR_NOMEM(c->err);
    return n;
}

/* ------------------------------------------------------------------ the zip */

typedef struct zip_out {
    const sk_ctx *c;
    const char *schema;
} zip_out;

static void le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
    le16(p, v & 0xFFFF);
    le16(p + 2, v >> 16);
}

static brine_status write_all(int fd, const void *buf, size_t len, brine_error *err)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(err, BRINE_ERR_IO, __LINE__, "cannot write: %s", strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return BRINE_OK;
}

/* One stored entry's fixed fields, shared by the local and the central header. */
static void entry_fields(uint8_t *p, uint32_t crc, uint32_t size, uint16_t name_len)
{
    le16(p, 20);       /* version needed */
    le16(p + 2, 0);    /* flags */
    le16(p + 4, 0);    /* stored */
    le16(p + 6, 0);    /* time */
    le16(p + 8, 0x21); /* date: 1980-01-01 */
    le32(p + 10, crc);
    le32(p + 14, size);
    le32(p + 18, size);
    le16(p + 22, name_len);
    le16(p + 24, 0); /* extra */
}

static brine_status write_zip(void *ctx, int fd, brine_error *err)
{
    const zip_out *z = ctx;
    size_t n = z->c->n_members + 1;
    mem_budget *mem = z->c->mem;
    uint32_t *offsets = mem_calloc(mem, n, sizeof *offsets),
             *crcs = mem_calloc(mem, n, sizeof *crcs);
    brine_status st = offsets && crcs ? BRINE_OK : ERR_NOMEM(err);
    uint64_t at = 0;
    for (size_t i = 0; i < n && !st; i++) {
        const char *name = i ? z->c->members[i - 1].name : "schema.json";
        const uint8_t *data = i ? z->c->members[i - 1].data : (const uint8_t *)z->schema;
        size_t len = i ? z->c->members[i - 1].len : strlen(z->schema);
        if (at + 30 + strlen(name) + len >= UINT32_MAX) {
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                         "the skops archive would pass 4 GiB (brine writes no zip64)");
            break;
        }
        uint8_t h[30];
        crcs[i] = (uint32_t)crc32(0L, Z_NULL, 0);
        for (size_t o = 0; o < len; o += 1u << 30)
            crcs[i] = (uint32_t)crc32(crcs[i], data + o,
                                      (uInt)(len - o < (1u << 30) ? len - o : 1u << 30));
        le32(h, 0x04034b50);
        entry_fields(h + 4, crcs[i], (uint32_t)len, (uint16_t)strlen(name));
        offsets[i] = (uint32_t)at;
        if (!(st = write_all(fd, h, sizeof h, err)) &&
            !(st = write_all(fd, name, strlen(name), err)))
            st = write_all(fd, data, len, err);
        at += 30 + strlen(name) + len;
    }
    uint64_t cd_start = at;
    for (size_t i = 0; i < n && !st; i++) {
        const char *name = i ? z->c->members[i - 1].name : "schema.json";
        size_t len = i ? z->c->members[i - 1].len : strlen(z->schema);
        uint8_t h[46];
        le32(h, 0x02014b50);
        le16(h + 4, 20); /* version made by */
        entry_fields(h + 6, crcs[i], (uint32_t)len, (uint16_t)strlen(name));
        memset(h + 32, 0, 10); /* comment length, disk, attributes */
        le32(h + 42, offsets[i]);
        if (!(st = write_all(fd, h, sizeof h, err)))
            st = write_all(fd, name, strlen(name), err);
        at += 46 + strlen(name);
    }
    if (!st) {
        uint8_t e[22] = {0};
        le32(e, 0x06054b50);
        le16(e + 8, (uint32_t)n);
        le16(e + 10, (uint32_t)n);
        le32(e + 12, (uint32_t)(at - cd_start));
        le32(e + 16, (uint32_t)cd_start);
        st = write_all(fd, e, sizeof e, err);
    }
    mem_free(mem, offsets, offsets ? n * sizeof *offsets : 0);
    mem_free(mem, crcs, crcs ? n * sizeof *crcs : 0);
    return st;
}

/* ------------------------------------------------------------------ entry point */

brine_status brine_model_write_skops(const brine_model *m, const char *path,
                                     const brine_convert_options *opts, brine_error *err)
{
    if (!m || !path)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_write_skops: NULL");
    if (!m->set.g || !m->config_json)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "%s files hold no pickled scikit-learn estimator", m->format);
    /* the model's budget: what the archive's members take counts with the tensors' */
    sk_ctx c = {.m = m, .mem = (mem_budget *)&m->mem, .err = err};
    /* the loader's config document itself: parsing config_json again could lose a key to a
     * failed allocation inside jansson without saying so */
    const json_t *doc = m->set.config;
    /* brine's walk keeps no config when it meets a value it does not read (an array of a
     * dtype it does not map): the file is then not converted at all */
    if (json_is_object(doc) && json_object_size(doc) == 0) {
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "brine's loader does not decode every value of this file (an array of a "
                       "kind it does not read), so it has no exact skops representation: not "
                       "converted");
    }
    json_t *schema = doc ? conv(&c, (json_t *)doc, 0) : NULL;
    char *text = NULL;
    brine_status st = BRINE_OK;
    if (!doc)
        st = ERR_NOMEM(err);
    else if (!schema)
        st = err->code ? err->code : ERR_NOMEM(err);
    else if (json_object_set_new(schema, "protocol", json_integer(2)) ||
             json_object_set_new(schema, "_skops_version", json_string("0.16.0")) ||
             !(text = ld_json_dump(schema, JSON_COMPACT | JSON_REAL_PRECISION(17))))
        st = ERR_NOMEM(err);
    if (!st) {
        unsigned flags = (opts && opts->no_sync ? ATOMIC_NO_SYNC : 0) |
                         (opts && opts->force ? ATOMIC_REPLACE : 0);
        zip_out z = {.c = &c, .schema = text};
        st = atomic_write(path, write_zip, &z, flags, NULL, err);
    }
    for (size_t i = 0; i < c.n_members; i++)
        mem_free(c.mem, c.members[i].data, c.members[i].len);
    mem_free(c.mem, c.members, c.cap_members * sizeof *c.members);
    free(text);
    json_decref(schema);
    return st;
}
