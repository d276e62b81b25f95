/*
 * onnx.c — ONNX models (ModelProto, onnx/onnx.proto @f754691; research/formats.md §9), read
 * through the bounded protobuf reader (formats/protobuf.h) as onnx.load and onnxruntime read
 * them.
 *
 * Threat model: an ONNX file holds no code, but it names files: an initializer's external
 * data `location` is joined to the model's folder by every loader, and an absolute path, a
 * `..` component or a symlink reads (or, on save, writes) outside it — CVE-2022-25882,
 * CVE-2024-27318 (a `lstrip('/.')` sanitizer bypass), CVE-2026-27489 (symlinks). Those are
 * `path-escape`. Operators from a domain outside the standard ones need a native custom-op
 * library the runtime loads (`custom-operator`). Every graph is walked — the main graph,
 * subgraphs in If/Loop/Scan attributes (bounded depth), training graphs and model-local
 * functions — so an external tensor or a custom op cannot hide in a nested one. Malformed
 * protobuf, tensors whose data does not match their dims, and missing external files are
 * `malformed` (invalid). The main graph's initializers are served as tensors, their bytes
 * exactly what onnx.numpy_helper.to_array returns.
 */
#include "formats/format.h"
#include "formats/why.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/protobuf.h"

enum {
    OX_MAX_DEPTH = 32, /* graphs inside attributes inside graphs */
    OX_MAX_DOMAINS = 16,
    OX_MAX_FUNCTIONS = 32,
    OX_NAME = 512
};

/* Field numbers, onnx/onnx.proto. */
enum {
    MODEL_IR_VERSION = 1,
    MODEL_OPSET = 8,
    MODEL_GRAPH = 7,
    MODEL_TRAINING = 20,
    MODEL_FUNCTIONS = 25,
    FUNC_NAME = 1,
    FUNC_DOMAIN = 10,
    OPSET_DOMAIN = 1,
    GRAPH_NODE = 1,
    GRAPH_INITIALIZER = 5,
    GRAPH_SPARSE_INITIALIZER = 15,
    NODE_NAME = 3,
    NODE_OP_TYPE = 4,
    NODE_ATTRIBUTE = 5,
    NODE_DOMAIN = 7,
    ATTR_T = 5,
    ATTR_G = 6,
    ATTR_TENSORS = 10,
    ATTR_GRAPHS = 11,
    ATTR_SPARSE = 22,
    ATTR_SPARSES = 23,
    SPARSE_VALUES = 1,
    SPARSE_INDICES = 2,
    TRAIN_INIT = 1,
    TRAIN_ALGO = 2,
    FUNC_ATTRIBUTE_PROTO = 11,
    FUNC_NODE = 7,
    FUNC_OPSET = 9,
    T_DIMS = 1,
    T_DATA_TYPE = 2,
    T_FLOAT = 4,
    T_INT32 = 5,
    T_STRING = 6,
    T_INT64 = 7,
    T_NAME = 8,
    T_RAW = 9,
    T_DOUBLE = 10,
    T_UINT64 = 11,
    T_EXTERNAL = 13,
    T_LOCATION = 14
};

typedef struct ox {
    fmt_env *env;
    fmt_why why; /* what went wrong */
    char domains[OX_MAX_DOMAINS][128];
    size_t n_domains;
    /* model-local functions (domain, name): a node calling one runs a graph in the model,
     * not a native custom op */
    char fn_domain[OX_MAX_FUNCTIONS][128], fn_name[OX_MAX_FUNCTIONS][128];
    size_t n_fns;
    uint64_t n_tensors;
} ox;

static int pb_fail(ox *o, const pb_msg *m, const char *what)
{
    return fmt_why_set(&o->why, m->why_at, "%s: %s", what, m->why);
}

/* A string field as a C string (truncated to cap-1; NUL bytes make it unusable as a name). */
static void cstr(char *buf, size_t cap, const pb_field *f)
{
    size_t n = f->len < cap - 1 ? f->len : cap - 1;
    memcpy(buf, f->data, n);
    buf[n] = '\0';
}

/* ------------------------------------------------------------------ custom domains */

static int standard_domain(const char *d)
{
    /* onnx's own domains and ONNX Runtime's contrib ops (built into the runtime) */
    static const char *const std[] = {"",
                                      "ai.onnx",
                                      "ai.onnx.ml",
                                      "ai.onnx.training",
                                      "ai.onnx.preview.training",
                                      "com.microsoft",
                                      "com.microsoft.nchwc",
                                      "com.microsoft.experimental"};
    for (size_t i = 0; i < sizeof std / sizeof *std; i++)
        if (strcmp(d, std[i]) == 0)
            return 1;
    return 0;
}

static brine_status domain_used(ox *o, const char *domain, const char *op, const char *node,
                                uint64_t at)
{
    if (standard_domain(domain))
        return BRINE_OK;
    for (size_t i = 0; i < o->n_fns; i++)
        if (strcmp(o->fn_domain[i], domain) == 0 && (!op || strcmp(o->fn_name[i], op) == 0))
            return BRINE_OK;
    for (size_t i = 0; i < o->n_domains; i++)
        if (strcmp(o->domains[i], domain) == 0)
            return BRINE_OK; /* one finding per domain */
    if (o->n_domains < OX_MAX_DOMAINS)
        snprintf(o->domains[o->n_domains++], sizeof o->domains[0], "%s", domain);
    if (op)
        return fmt_finding(o->env, BRINE_UNVERIFIED, "custom-operator", NULL, (int64_t)at,
                           "node %.200s: operator %.200s from the custom domain %.200s (the "
                           "runtime must load a native custom-op library)",
                           node[0] ? node : "(unnamed)", op, domain);
    return fmt_finding(o->env, BRINE_UNVERIFIED, "custom-operator", NULL, (int64_t)at,
                       "opset_import names the custom domain %.200s (the runtime must load a "
                       "native custom-op library)",
                       domain);
}

static brine_status opset(ox *o, const pb_field *f)
{
    pb_msg m;
    pb_field g;
    pb_sub(&m, f);
    char domain[128] = "";
    int r;
    while ((r = pb_next(&m, &g)) > 0)
        if (g.num == OPSET_DOMAIN && g.wire == PB_LEN)
            cstr(domain, sizeof domain, &g);
    if (r < 0)
        return pb_fail(o, &m, "opset_import"), BRINE_OK;
    return domain_used(o, domain, NULL, NULL, f->at);
}

/* ------------------------------------------------------------------ tensors */

typedef struct ox_type {
    const char *st; /* safetensors dtype, NULL: no counterpart */
    int field;      /* the typed field numpy_helper reads when there is no raw_data */
} ox_type;

/* TensorProto.DataType → dtype and typed field (onnx.proto; numpy_helper.to_array). */
static const ox_type ox_types[] = {
    [1] = {"F32", T_FLOAT},      [2] = {"U8", T_INT32},           [3] = {"I8", T_INT32},
    [4] = {"U16", T_INT32},      [5] = {"I16", T_INT32},          [6] = {"I32", T_INT32},
    [7] = {"I64", T_INT64},      [8] = {NULL, T_STRING},          [9] = {"BOOL", T_INT32},
    [10] = {"F16", T_INT32},     [11] = {"F64", T_DOUBLE},        [12] = {"U32", T_UINT64},
    [13] = {"U64", T_UINT64},    [14] = {"C64", T_FLOAT},         [15] = {NULL, T_DOUBLE},
    [16] = {"BF16", T_INT32},    [17] = {"F8_E4M3", T_INT32},     [18] = {"F8_E4M3FNUZ", T_INT32},
    [19] = {"F8_E5M2", T_INT32}, [20] = {"F8_E5M2FNUZ", T_INT32}, [21] = {NULL, T_INT32},
    [22] = {NULL, T_INT32},      [23] = {NULL, T_INT32},          [24] = {"F8_E8M0", T_INT32},
    [25] = {NULL, T_INT32},      [26] = {NULL, T_INT32},
};

/* Any location a loader would join to the model folder and leave it with: absolute (POSIX
 * or Windows), a `..` component, a backslash (a separator on Windows), a NUL. */
static int location_escapes(const char *s, size_t n)
{
    if (n == 0 || s[0] == '/' || s[0] == '\\' || memchr(s, '\\', n) || memchr(s, 0, n) ||
        (n >= 2 && s[1] == ':'))
        return 1;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] != '/')
            j++;
        if (j - i == 2 && s[i] == '.' && s[i + 1] == '.')
            return 1;
        i = j + 1;
    }
    return 0;
}

/* "123" → 123; -1 for anything else (onnx reads int(value): no sign accepted here). */
static int parse_u64(const char *s, uint64_t *v)
{
    if (!*s)
        return -1;
    uint64_t r = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || __builtin_mul_overflow(r, 10, &r) ||
            __builtin_add_overflow(r, (uint64_t)(*s - '0'), &r))
            return -1;
    }
    *v = r;
    return 0;
}

typedef struct mapped {
    mem_budget *mem;
    const uint8_t *data;
    size_t len;
} mapped;

static void release_map(void *state)
{
    mapped *m = state;
    fmt_sibling_release(m->data, m->len);
    mem_free(m->mem, m, sizeof *m);
}

/* The bytes of an external tensor: containment first (path-escape), then the file. *data is
 * NULL when the tensor cannot be served (a finding was made). */
static brine_status external(ox *o, const char *tname, const pb_field *tf, const uint8_t **data,
                             uint64_t nbytes, int have_nbytes)
{
    *data = NULL;
    pb_msg m;
    pb_field f;
    pb_sub(&m, tf);
    char location[1024] = "", key[64], value[1024];
    int have_loc = 0, r;
    uint64_t offset = 0, length = 0;
    int have_len = 0;
    while ((r = pb_next(&m, &f)) > 0) {
        if (f.num != T_EXTERNAL || f.wire != PB_LEN)
            continue;
        pb_msg e;
        pb_field g;
        pb_sub(&e, &f);
        key[0] = value[0] = '\0';
        size_t vlen = 0;
        int re;
        while ((re = pb_next(&e, &g)) > 0) {
            if (g.wire != PB_LEN)
                continue;
            if (g.num == 1)
                cstr(key, sizeof key, &g);
            else if (g.num == 2) {
                cstr(value, sizeof value, &g);
                vlen = g.len;
            }
        }
        if (re < 0)
            return pb_fail(o, &e, "external_data entry"), BRINE_OK;
        if (strcmp(key, "location") == 0) {
            /* every location is checked: a later entry overrides, an earlier may be read */
            if (vlen >= sizeof value || location_escapes(value, vlen))
                return fmt_finding(o->env, BRINE_UNSAFE, "path-escape", NULL, (int64_t)f.at,
                                   "initializer %.200s: external data location \"%.300s\" "
                                   "leaves the model's folder (absolute, .., or a backslash)",
                                   tname, value);
            memcpy(location, value, vlen + 1);
            have_loc = 1;
        } else if (strcmp(key, "offset") == 0 || strcmp(key, "length") == 0) {
            uint64_t v;
            if (parse_u64(value, &v))
                return fmt_why_set(&o->why, f.at,
                                   "initializer %.200s: external data %s \"%.100s\" is not a "
                                   "non-negative integer",
                                   tname, key, value),
                       BRINE_OK;
            if (key[0] == 'o')
                offset = v;
            else
                length = v, have_len = 1;
        } else if (strcmp(key, "checksum") != 0 && strcmp(key, "basepath") != 0) {
            /* onnx ≥ 1.21 refuses other keys (CVE-2026-34445: they were setattr'd) */
            return fmt_why_set(&o->why, f.at,
                               "initializer %.200s: external data key \"%.60s\" is not one "
                               "onnx accepts",
                               tname, key),
                   BRINE_OK;
        }
    }
    if (r < 0)
        return pb_fail(o, &m, "tensor"), BRINE_OK;
    if (!have_loc)
        return fmt_why_set(&o->why, tf->at, "initializer %.200s: external data without a location",
                           tname),
               BRINE_OK;
    const char *dir = fmt_dir(o->env);
    if (!dir)
        return fmt_why_set(&o->why, tf->at,
                           "initializer %.200s: external data file %.300s cannot be read: "
                           "only bytes were given",
                           tname, location),
               BRINE_OK;
    char path[PATH_MAX], real_dir[PATH_MAX], real[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, location);
    if (n < 0 || (size_t)n >= sizeof path || !realpath(dir, real_dir))
        return fmt_why_set(&o->why, tf->at, "initializer %.200s: the path of %.300s is too long",
                           tname, location),
               BRINE_OK;
    if (!realpath(path, real))
        return fmt_why_set(&o->why, tf->at,
                           "initializer %.200s: external data file %.300s does not exist", tname,
                           location),
               BRINE_OK;
    size_t dl = strlen(real_dir);
    /* a symlink (or a link on the way) that resolves outside the folder (CVE-2026-27489) */
    if (strncmp(real, real_dir, dl) != 0 || (real[dl] != '/' && dl > 1))
        return fmt_finding(o->env, BRINE_UNSAFE, "path-escape", NULL, (int64_t)tf->at,
                           "initializer %.200s: external data location \"%.300s\" resolves to "
                           "%.300s, outside the model's folder (a symlink)",
                           tname, location, real);
    mapped *mp = mem_calloc(fmt_mem(o->env), 1, sizeof *mp);
    if (!mp)
        return BRINE_ERR_NOMEM;
    mp->mem = fmt_mem(o->env);
    brine_error err;
    /* mapped by the path whose containment was just checked (realpath resolved every link) */
    brine_status st = brine_map_file(real, &mp->data, &mp->len, &err);
    if (st) {
        mem_free(mp->mem, mp, sizeof *mp);
        return fmt_why_set(&o->why, tf->at, "initializer %.200s: external data file %.300s: %s",
                           tname, location, err.msg),
               BRINE_OK;
    }
    if ((st = fmt_hold(o->env, mp, release_map)))
        return st;
    if (!have_len)
        length = offset <= mp->len ? mp->len - offset : 0;
    if (offset > mp->len || length > mp->len - offset)
        return fmt_why_set(&o->why, tf->at,
                           "initializer %.200s: external data offset %" PRIu64 " length %" PRIu64
                           " passes the end of %.300s (%zu bytes)",
                           tname, offset, length, location, mp->len),
               BRINE_OK;
    if (have_nbytes && length != nbytes)
        return fmt_why_set(&o->why, tf->at,
                           "initializer %.200s: external data of %" PRIu64
                           " bytes, its dims need %" PRIu64,
                           tname, length, nbytes),
               BRINE_OK;
    *data = mp->data + offset;
    return BRINE_OK;
}

/* Decodes a typed field (packed or not): counts the values when buf is NULL, else writes
 * each as size little-endian bytes. -1 (o->why set) when the field is malformed. */
static int typed_pass(ox *o, const pb_field *tf, int field, uint32_t size, uint8_t *buf,
                      uint64_t cap, uint64_t *count, const char *tname)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, tf);
    int r;
    /* fixed32 for float_data, fixed64 for double_data, varints otherwise */
    uint32_t fixed = field == T_FLOAT ? 4 : field == T_DOUBLE ? 8 : 0;
    uint32_t single = fixed == 4 ? PB_FIXED32 : fixed == 8 ? PB_FIXED64 : PB_VARINT;
    *count = 0;
    while ((r = pb_next(&m, &f)) > 0) {
        if (f.num != (uint32_t)field)
            continue;
        int packed = f.wire == PB_LEN;
        if (!packed && f.wire != single)
            return fmt_why_set(&o->why, f.at, "initializer %.200s: field %d has wire type %" PRIu32,
                               tname, field, f.wire);
        const uint8_t *p = f.data, *end = p ? p + f.len : p;
        for (int once = 1; packed ? p < end : once; once = 0) {
            uint64_t v = f.v;
            if (packed && fixed) {
                if ((size_t)(end - p) < fixed)
                    return fmt_why_set(&o->why, f.at,
                                       "initializer %.200s: a packed field ends mid-element",
                                       tname);
                v = 0;
                for (uint32_t k = 0; k < fixed; k++)
                    v |= (uint64_t)p[k] << (8 * k);
                p += fixed;
            } else if (packed && pb_varint(&p, end, &v)) {
                return fmt_why_set(&o->why, f.at,
                                   "initializer %.200s: a packed varint runs past its field",
                                   tname);
            }
            if (buf) {
                if (*count == cap)
                    return -1;
                for (uint32_t k = 0; k < size; k++)
                    buf[*count * size + k] = (uint8_t)(v >> (8 * k));
            }
            ++*count;
        }
    }
    if (r < 0)
        return pb_fail(o, &m, "tensor");
    return 0;
}

/* A typed field gathered into little-endian elements of size bytes: the values are counted
 * first, so the buffer is only allocated once they match the dims (at most 8 bytes per byte
 * of the file). */
static brine_status typed(ox *o, const pb_field *tf, int field, uint32_t size, uint64_t numel,
                          const char *tname, const uint8_t **out)
{
    *out = NULL;
    uint64_t count;
    if (typed_pass(o, tf, field, size, NULL, 0, &count, tname))
        return BRINE_OK;
    if (count != numel)
        return fmt_why_set(&o->why, tf->at,
                           "initializer %.200s: %" PRIu64 " values, its dims hold %" PRIu64, tname,
                           count, numel),
               BRINE_OK;
    uint64_t nbytes = numel * size; /* numel values are in the file: no overflow */
    mem_budget *mem = fmt_mem(o->env);
    size_t cap = nbytes ? (size_t)nbytes : 1;
    uint8_t *buf = mem_alloc(mem, cap);
    if (!buf)
        return BRINE_ERR_NOMEM;
    if (typed_pass(o, tf, field, size, buf, numel, &count, tname)) {
        mem_free(mem, buf, cap);
        return BRINE_OK;
    }
    brine_status st = fmt_hold_buffer(o->env, buf, cap);
    if (!st)
        *out = buf;
    return st;
}

/* A TensorProto: external data always checked; served when serve (main-graph initializer). */
static brine_status tensor(ox *o, const pb_field *tf, int serve)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, tf);
    char name[OX_NAME] = "";
    int64_t dims[LD_MAX_DIMS];
    uint32_t ndim = 0;
    uint64_t dtype = 0, location = 0;
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    int have_raw = 0, have_ext = 0, r;
    while ((r = pb_next(&m, &f)) > 0) {
        switch (f.num) {
        case T_NAME:
            if (f.wire == PB_LEN)
                cstr(name, sizeof name, &f);
            break;
        case T_DATA_TYPE: dtype = f.v; break;
        case T_LOCATION: location = f.v; break;
        case T_RAW: raw = f.data, raw_len = f.len, have_raw = f.wire == PB_LEN; break;
        case T_EXTERNAL: have_ext = 1; break;
        case T_DIMS: {
            const uint8_t *p = f.data, *end = p ? p + f.len : p;
            int packed = f.wire == PB_LEN;
            for (int once = 1; packed ? p < end : once; once = 0) {
                uint64_t v = f.v;
                if (packed && pb_varint(&p, end, &v))
                    return fmt_why_set(&o->why, f.at, "tensor dims: a varint runs past its field"),
                           BRINE_OK;
                if (ndim == LD_MAX_DIMS || (int64_t)v < 0)
                    return fmt_why_set(&o->why, f.at,
                                       "tensor %.200s: more than %d dims, or a negative one", name,
                                       LD_MAX_DIMS),
                           BRINE_OK;
                dims[ndim++] = (int64_t)v;
            }
            break;
        }
        default: break;
        }
    }
    if (r < 0)
        return pb_fail(o, &m, "tensor"), BRINE_OK;
    if (!name[0] && serve)
        snprintf(name, sizeof name, "initializer_%" PRIu64, o->n_tensors);
    o->n_tensors++;
    const ox_type *ty = dtype < sizeof ox_types / sizeof *ox_types ? &ox_types[dtype] : NULL;
    if (!ty || !ty->field)
        return fmt_why_set(&o->why, tf->at,
                           "tensor %.200s: data_type %" PRIu64 " is not an ONNX type", name, dtype),
               BRINE_OK;
    const ld_dtype *dt = ty->st ? ld_dtype_by_st(ty->st) : NULL;
    uint64_t numel = 1, nbytes = 0;
    for (uint32_t k = 0; k < ndim; k++)
        if (__builtin_mul_overflow(numel, (uint64_t)dims[k], &numel))
            return fmt_why_set(&o->why, tf->at, "tensor %.200s: its element count overflows", name),
                   BRINE_OK;
    int sized = dt && !__builtin_mul_overflow(numel, dt->size, &nbytes);
    const uint8_t *data = NULL;
    brine_status st = BRINE_OK;
    if (location == 1 || have_ext) {
        if ((st = external(o, name, tf, &data, nbytes, sized)) || !data)
            return st;
    } else if (!serve || !dt) {
        /* nothing to read: the scan of a non-initializer tensor is its external data */
    } else if (have_raw) {
        if (!sized || raw_len != nbytes)
            return fmt_why_set(&o->why, tf->at,
                               "initializer %.200s: raw_data of %zu bytes, its dims need %" PRIu64,
                               name, raw_len, nbytes),
                   BRINE_OK;
        data = raw;
    } else if (dtype == 14 && numel > UINT64_MAX / 2) {
        return fmt_why_set(&o->why, tf->at, "initializer %.200s: its element count overflows",
                           name),
               BRINE_OK;
    } else if ((st = dtype == 14 /* complex64: two floats per element in float_data */
                         ? typed(o, tf, ty->field, 4, numel * 2, name, &data)
                         : typed(o, tf, ty->field, dt->size, numel, name, &data)) ||
               !data) {
        return st;
    }
    if (!serve)
        return BRINE_OK;
    if (!dt) {
        fmt_unloadable(o->env,
                       "initializer %.200s: ONNX data_type %" PRIu64 " has no safetensors "
                       "counterpart",
                       name, dtype);
        return BRINE_OK;
    }
    if (!sized)
        return fmt_why_set(&o->why, tf->at, "initializer %.200s: its byte size overflows", name),
               BRINE_OK;
    uint64_t shape[LD_MAX_DIMS];
    for (uint32_t k = 0; k < ndim; k++)
        shape[k] = (uint64_t)dims[k];
    return fmt_tensor(o->env, name, dt, ndim, shape, data, nbytes);
}

/* ------------------------------------------------------------------ graphs */

static brine_status graph(ox *o, const pb_field *gf, unsigned depth, int top);

static brine_status sparse(ox *o, const pb_field *sf)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, sf);
    int r = 0;
    brine_status st = BRINE_OK;
    while (!st && !o->why.msg && (r = pb_next(&m, &f)) > 0)
        if ((f.num == SPARSE_VALUES || f.num == SPARSE_INDICES) && f.wire == PB_LEN)
            st = tensor(o, &f, 0);
    if (!st && r < 0)
        pb_fail(o, &m, "sparse tensor");
    return st;
}

static brine_status attribute(ox *o, const pb_field *af, unsigned depth)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, af);
    int r = 0;
    brine_status st = BRINE_OK;
    while (!st && !o->why.msg && (r = pb_next(&m, &f)) > 0) {
        if (f.wire != PB_LEN)
            continue;
        if (f.num == ATTR_T || f.num == ATTR_TENSORS)
            st = tensor(o, &f, 0);
        else if (f.num == ATTR_G || f.num == ATTR_GRAPHS)
            st = graph(o, &f, depth + 1, 0);
        else if (f.num == ATTR_SPARSE || f.num == ATTR_SPARSES)
            st = sparse(o, &f);
    }
    if (!st && r < 0)
        pb_fail(o, &m, "attribute");
    return st;
}

static brine_status node(ox *o, const pb_field *nf, unsigned depth)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, nf);
    char op[128] = "", domain[128] = "", name[128] = "";
    int r = 0;
    brine_status st = BRINE_OK;
    while (!st && !o->why.msg && (r = pb_next(&m, &f)) > 0) {
        if (f.wire != PB_LEN)
            continue;
        if (f.num == NODE_OP_TYPE)
            cstr(op, sizeof op, &f);
        else if (f.num == NODE_DOMAIN)
            cstr(domain, sizeof domain, &f);
        else if (f.num == NODE_NAME)
            cstr(name, sizeof name, &f);
        else if (f.num == NODE_ATTRIBUTE)
            st = attribute(o, &f, depth);
    }
    if (!st && r < 0)
        pb_fail(o, &m, "node");
    if (st || o->why.msg)
        return st;
    return domain_used(o, domain, op, name, nf->at);
}

static brine_status graph(ox *o, const pb_field *gf, unsigned depth, int top)
{
    if (depth > OX_MAX_DEPTH)
        return fmt_finding(o->env, BRINE_INVALID, "limit", NULL, (int64_t)gf->at,
                           "graphs nested deeper than %d (subgraphs of If/Loop/Scan attributes)",
                           OX_MAX_DEPTH);
    pb_msg m;
    pb_field f;
    pb_sub(&m, gf);
    int r = 0;
    brine_status st = BRINE_OK;
    while (!st && !o->why.msg && (r = pb_next(&m, &f)) > 0) {
        if (f.wire != PB_LEN)
            continue;
        if (f.num == GRAPH_NODE)
            st = node(o, &f, depth);
        else if (f.num == GRAPH_INITIALIZER)
            st = tensor(o, &f, top);
        else if (f.num == GRAPH_SPARSE_INITIALIZER)
            st = sparse(o, &f);
    }
    if (!st && r < 0)
        pb_fail(o, &m, "graph");
    return st;
}

static brine_status function(ox *o, const pb_field *ff)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, ff);
    int r = 0;
    brine_status st = BRINE_OK;
    while (!st && !o->why.msg && (r = pb_next(&m, &f)) > 0) {
        if (f.wire != PB_LEN)
            continue;
        if (f.num == FUNC_NODE)
            st = node(o, &f, 1);
        else if (f.num == FUNC_OPSET)
            st = opset(o, &f);
        else if (f.num == FUNC_ATTRIBUTE_PROTO)
            st = attribute(o, &f, 1);
    }
    if (!st && r < 0)
        pb_fail(o, &m, "function");
    return st;
}

/* ------------------------------------------------------------------ walk */

/* ModelProto opens with ir_version (field 1, a varint 3..12 today) and, from onnx's writer,
 * producer_name (2), graph (7) or opset_import (8) next. SavedModel also opens with a field
 * 1 varint, then meta_graphs (2): a ModelProto's field 2 is producer_name, a short string,
 * so the bid needs a field 7 or 8 somewhere among the first top-level fields. */
static int onnx_bid(const uint8_t *data, size_t len)
{
    pb_msg m;
    pb_field f;
    pb_init(&m, data, len, 0);
    if (pb_next(&m, &f) <= 0 || f.num != MODEL_IR_VERSION || f.wire != PB_VARINT || f.v == 0 ||
        f.v > 64)
        return 0;
    for (int i = 0; i < 8; i++) {
        int r = pb_next(&m, &f);
        if (r < 0)
            return 20; /* a truncated model still announces ONNX: reported, not passed over */
        if (r == 0)
            return 0;
        if ((f.num == MODEL_GRAPH || f.num == MODEL_OPSET) && f.wire == PB_LEN)
            return 80;
        if (f.num > 26 || (f.num == 2 && f.wire != PB_LEN))
            return 0;
    }
    return 0;
}

static brine_status onnx_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "onnx");
    ox o;
    memset(&o, 0, sizeof o);
    o.env = env;
    pb_msg m;
    pb_field f;
    pb_init(&m, data, len, 0);
    /* the model-local functions first: nodes anywhere may call them */
    while (pb_next(&m, &f) > 0 && o.n_fns < OX_MAX_FUNCTIONS) {
        if (f.num != MODEL_FUNCTIONS || f.wire != PB_LEN)
            continue;
        pb_msg fm;
        pb_field g;
        pb_sub(&fm, &f);
        char *dom = o.fn_domain[o.n_fns], *name = o.fn_name[o.n_fns];
        dom[0] = name[0] = '\0';
        while (pb_next(&fm, &g) > 0)
            if (g.wire == PB_LEN && g.num == FUNC_DOMAIN)
                cstr(dom, sizeof o.fn_domain[0], &g);
            else if (g.wire == PB_LEN && g.num == FUNC_NAME)
                cstr(name, sizeof o.fn_name[0], &g);
        o.n_fns++;
    }
    pb_init(&m, data, len, 0);
    int r = 0, graphs = 0;
    brine_status st = BRINE_OK;
    while (!st && !o.why.msg && (r = pb_next(&m, &f)) > 0) {
        if (f.wire != PB_LEN)
            continue;
        if (f.num == MODEL_GRAPH)
            st = graph(&o, &f, 0, graphs++ == 0);
        else if (f.num == MODEL_OPSET)
            st = opset(&o, &f);
        else if (f.num == MODEL_FUNCTIONS)
            st = function(&o, &f);
        else if (f.num == MODEL_TRAINING) {
            pb_msg t;
            pb_field g;
            pb_sub(&t, &f);
            int rt = 0;
            while (!st && !o.why.msg && (rt = pb_next(&t, &g)) > 0)
                if ((g.num == TRAIN_INIT || g.num == TRAIN_ALGO) && g.wire == PB_LEN)
                    st = graph(&o, &g, 1, 0);
            if (!st && rt < 0)
                pb_fail(&o, &t, "training_info");
        }
    }
    if (!st && r < 0)
        pb_fail(&o, &m, "model");
    if (!st && !o.why.msg && graphs > 1)
        /* protobuf merges repeated occurrences of a singular message; brine served the
         * first graph's initializers only */
        fmt_why_set(&o.why, 0, "the model holds %d graph fields (protobuf would merge them)",
                    graphs);
    if (st)
        return st;
    return fmt_why_finding(env, &o.why, "ONNX");
}

const fmt_ops fmt_onnx = {"onnx", onnx_bid, onnx_walk, NULL};
