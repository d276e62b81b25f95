/*
 * joblib.c — what joblib.load reads besides opcodes (joblib/numpy_pickle.py,
 * numpy_pickle_compat.py, read at joblib/joblib@53cea7b; research/formats.md §5).
 *
 * NumpyUnpickler.load_build runs after every BUILD: when the stack top is a NumpyArrayWrapper
 * it reads the array itself from the file (NumpyArrayWrapper.read_array): one pad-length byte
 * and that many pad bytes when the wrapper has numpy_array_alignment_bytes (joblib >= 1.2),
 * then prod(shape) × dtype.itemsize raw bytes — or, for a dtype that holds objects, a whole
 * nested pickle with a fresh memo. Old wrappers (NDArrayWrapper, ZNDArrayWrapper) name a
 * sidecar file instead. The ZF container (read_zfile) wraps the pickle of joblib < 0.10.
 *
 * Threat model: every attribute comes from a hostile BUILD state. The raw bytes joblib skips
 * must never be decoded as opcodes, and brine must resume exactly where joblib resumes, or an
 * attacker hides opcodes from brine that joblib runs (or the reverse). So whenever brine
 * cannot compute exactly what joblib would read — a dtype it cannot size, a state it cannot
 * evaluate, an alias of a wrapper class, a BUILD inside a FRAME — it stops with an error and
 * the file is invalid; it never guesses. Sizes use checked arithmetic against the bytes left.
 */
#include "formats/joblib.h"

#include <string.h>
#include <zlib.h>

#include "core/cursor.h"
#include "core/error.h"

/* ------------------------------------------------------------------ context */

void jl_init(jl_ctx *jl, mem_budget *mem, const brine_limits *lim, jl_loader loader)
{
    memset(jl, 0, sizeof *jl);
    jl->mem = mem;
    jl->lim = lim;
    jl->loader = loader;
}

void jl_free(jl_ctx *jl)
{
    if (!jl || !jl->mem)
        return;
    for (size_t i = 0; i < jl->n_arrays; i++)
        if (jl->arrays[i].sidecar)
            mem_free(jl->mem, jl->arrays[i].sidecar, jl->arrays[i].sidecar_len + 1);
    mem_free(jl->mem, jl->arrays, jl->cap_arrays * sizeof *jl->arrays);
    memset(jl, 0, sizeof *jl);
}

brine_status jl_run(jl_ctx *jl, pk_graph *g, const uint8_t *data, size_t len, size_t start,
                    const pk_run_options *opts, brine_error *err)
{
    return pk_run_hooked(g, data, len, start, opts, jl_build_hook, jl, err);
}

const jl_array *jl_find(const jl_ctx *jl, pk_id wrapper)
{
    if (!jl || !wrapper)
        return NULL;
    if (jl->unsorted) {
        for (size_t i = 0; i < jl->n_arrays; i++)
            if (jl->arrays[i].wrapper == wrapper)
                return &jl->arrays[i];
        return NULL;
    }
    /* wrappers are normally built in the order they were made: node ids ascend */
    size_t lo = 0, hi = jl->n_arrays;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (jl->arrays[mid].wrapper < wrapper)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < jl->n_arrays && jl->arrays[lo].wrapper == wrapper ? &jl->arrays[lo] : NULL;
}

/* ------------------------------------------------------------------ graph helpers */

static const pk_node *N(const pk_graph *g, pk_id id) { return pk_at(g, id); }

static const pk_global *global_of(const pk_graph *g, pk_id id)
{
    const pk_node *n = N(g, id);
    return id && n->kind == K_GLOBAL ? &g->globals[n->v.g.global] : NULL;
}

static int is_text(const pk_node *n) { return n->kind == K_STR || n->kind == K_PYSTR; }

static int text_eq(const pk_node *n, const char *z)
{
    size_t zl = strlen(z);
    return is_text(n) && n->v.s.len == zl && memcmp(n->v.s.p, z, zl) == 0;
}

/* Values whose type nothing can change at load time (machine.c is_literal). */
static int is_literal(const pk_node *n)
{
    switch (n->kind) {
    case K_GLOBAL:
    case K_CALL:
    case K_NEWOBJ:
    case K_INST:
    case K_PERSID:
    case K_EXT:
    case K_BUFFER: return 0;
    default: return 1;
    }
}

/* ------------------------------------------------------------------ wrapper classes */

typedef enum wrapper_kind { W_NONE, W_NUMPY, W_ND, W_ZND, W_ALIAS } wrapper_kind;

static const char *const wrapper_names[] = {"NumpyArrayWrapper", "NDArrayWrapper",
                                            "ZNDArrayWrapper"};

/* The modules joblib's own files name the classes from. NDArrayWrapper moved to
 * numpy_pickle_compat in 0.10 and numpy_pickle still imports it; scikit-learn < 0.23 vendored
 * joblib as sklearn.externals.joblib. */
static const char *const wrapper_modules[] = {"joblib.numpy_pickle", "joblib.numpy_pickle_compat",
                                              "sklearn.externals.joblib.numpy_pickle",
                                              "sklearn.externals.joblib.numpy_pickle_compat"};

/* Which wrapper a global names. W_ALIAS: a wrapper's name appears as a component of the name
 * but not in the form joblib writes (another module that imported it, an attribute chain such
 * as NumpyArrayWrapper.__new__): it may resolve to the same class, so brine cannot tell
 * whether joblib would read raw bytes after it. */
static wrapper_kind class_kind(const pk_global *gl)
{
    if (!gl)
        return W_NONE;
    int mentioned = 0;
    const char *p = gl->full;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        for (size_t i = 0; i < 3; i++)
            if (strlen(wrapper_names[i]) == n && memcmp(p, wrapper_names[i], n) == 0)
                mentioned = 1;
        if (!dot)
            break;
        p = dot + 1;
    }
    if (!mentioned)
        return W_NONE;
    for (size_t m = 0; m < sizeof wrapper_modules / sizeof wrapper_modules[0]; m++) {
        if (strcmp(gl->module, wrapper_modules[m]) != 0 && !gl->dotted)
            continue;
        size_t ml = strlen(wrapper_modules[m]);
        if (strncmp(gl->full, wrapper_modules[m], ml) != 0 || gl->full[ml] != '.')
            continue;
        const char *cls = gl->full + ml + 1;
        /* NumpyArrayWrapper never lived in numpy_pickle_compat */
        if (strcmp(cls, "NumpyArrayWrapper") == 0 && !strstr(wrapper_modules[m], "compat"))
            return W_NUMPY;
        if (strcmp(cls, "NDArrayWrapper") == 0)
            return W_ND;
        if (strcmp(cls, "ZNDArrayWrapper") == 0)
            return W_ZND;
    }
    return W_ALIAS;
}

/* The wrapper class the BUILD target is an instance of, as pickle.py would have made it
 * without running the class's __init__ (NEWOBJ, INST/OBJ with no arguments,
 * copyreg._reconstructor / __newobj__). W_ALIAS for any other construction that involves a
 * wrapper class: __init__ would run with pickled arguments, which brine does not model. */
static wrapper_kind target_kind(const pk_graph *g, pk_id target)
{
    const pk_node *t = N(g, target);
    const pk_node *args = pk_args(t) ? N(g, pk_args(t)) : NULL;
    wrapper_kind k;
    switch (t->kind) {
    case K_NEWOBJ: /* cls.__new__(cls, *args): object.__new__ ignores the arguments */
        return class_kind(global_of(g, t->a));
    case K_INST:
        k = class_kind(global_of(g, t->a));
        if (k != W_NONE && (!args || args->kind != K_TUPLE || args->count != 0))
            return W_ALIAS;
        return k;
    case K_CALL: {
        const pk_global *fn = global_of(g, t->a);
        k = class_kind(fn);
        if (k != W_NONE)
            return W_ALIAS; /* NumpyArrayWrapper(...) runs __init__ */
        if (!args || args->kind != K_TUPLE)
            return W_NONE;
        wrapper_kind inner = W_NONE;
        for (uint32_t i = 0; i < args->count; i++) {
            wrapper_kind ik = class_kind(global_of(g, args->items[i]));
            if (ik != W_NONE)
                inner = i == 0 ? ik : W_ALIAS;
        }
        if (inner == W_NONE)
            return W_NONE;
        if (fn && strcmp(fn->full, "copyreg._reconstructor") == 0 && args->count == 3) {
            const pk_global *base = global_of(g, args->items[1]);
            if (base && strcmp(base->full, "builtins.object") == 0 &&
                N(g, args->items[2])->kind == K_NONE)
                return inner;
        }
        if (fn && strcmp(fn->full, "copyreg.__newobj__") == 0)
            return inner;
        return W_ALIAS;
    }
    default: return W_NONE;
    }
}

/* ------------------------------------------------------------------ the BUILD state */

/* pickle.py load_build: a dict state updates __dict__ (later keys win), a (state, slotstate)
 * pair then setattr()s slotstate. Returns 1 and the value when the attribute is set, 0 when
 * not, -1 when brine cannot tell (a state or key that is not a plain value). */
static int dict_attr(const pk_graph *g, pk_id dict, const char *name, pk_id *out)
{
    const pk_node *d = N(g, dict);
    if (d->kind == K_NONE)
        return 0;
    if (d->kind != K_DICT || (d->flags & PKF_MUTATED))
        return -1;
    int found = 0;
    for (uint32_t i = 0; i + 1 < d->count; i += 2) {
        const pk_node *k = N(g, d->items[i]);
        if (!is_literal(k))
            return -1; /* its __eq__/__hash__ could make it any attribute */
        if (text_eq(k, name)) {
            *out = d->items[i + 1];
            found = 1;
        }
    }
    return found;
}

static int state_attr(const pk_graph *g, pk_id state, const char *name, pk_id *out)
{
    const pk_node *s = N(g, state);
    if (s->kind == K_TUPLE && s->count == 2) {
        int slot = dict_attr(g, s->items[1], name, out);
        if (slot != 0)
            return slot;
        return dict_attr(g, s->items[0], name, out);
    }
    return dict_attr(g, state, name, out);
}

/* ------------------------------------------------------------------ dtypes */

typedef struct dtype_info {
    char type;
    uint32_t itemsize;
    int big_endian;
    int hasobject;
} dtype_info;

/* numpy.dtype('f8', False, True) + BUILD (3, '<', None, names, fields, elsize, alignment,
 * flags), as numpy's arraydescr_reduce writes it (version 4 with a 9th item for datetimes and
 * metadata). What joblib consults comes from the state, as numpy's arraydescr_setstate sets it
 * (checked on numpy 1.24 and 2.4): dtype.hasobject is bit 0 (NPY_ITEM_HASOBJECT) of the
 * pickled flags, whatever the type code says, and a flexible type's itemsize is the pickled
 * elsize. brine requires the code and the state to agree on the itemsize and refuses sub-array
 * dtypes, so the size it computes is the one numpy has. */
static int parse_dtype(const pk_graph *g, pk_id id, dtype_info *out, const char **why)
{
    const pk_node *n = N(g, id);
    const pk_global *fn = n->kind == K_CALL ? global_of(g, n->a) : NULL;
    const pk_node *args = pk_args(n) ? N(g, pk_args(n)) : NULL;
    *why = "dtype is not a numpy.dtype(...) call";
    if (!fn || strcmp(fn->full, "numpy.dtype") != 0 || !args || args->kind != K_TUPLE ||
        args->count < 1 || args->count > 3)
        return -1;
    const pk_node *code = N(g, args->items[0]);
    *why = "dtype code is not text like 'f8'";
    if (!is_text(code) || code->v.s.len < 2 || code->v.s.len > 12)
        return -1;
    char type = (char)code->v.s.p[0];
    uint64_t size = 0;
    for (uint64_t i = 1; i < code->v.s.len; i++) {
        uint8_t c = code->v.s.p[i];
        if (c < '0' || c > '9' || (i == 1 && c == '0'))
            return -1;
        size = size * 10 + (uint64_t)(c - '0');
    }
    int ok;
    switch (type) {
    case 'b': ok = size == 1; break;
    case 'i':
    case 'u': ok = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'f': ok = size == 2 || size == 4 || size == 8 || size == 16; break;
    case 'c': ok = size == 8 || size == 16 || size == 32; break;
    case 'M':
    case 'm':
    case 'O': ok = size == 8; break;
    case 'S':
    case 'V': ok = size <= UINT32_MAX; break;
    case 'U':
        ok = size <= UINT32_MAX / 4;
        size *= 4;
        break;
    default: ok = 0; break;
    }
    *why = "unsupported dtype code";
    if (!ok)
        return -1;
    int flexible = type == 'S' || type == 'U' || type == 'V';

    const pk_node *st = pk_state(g, n) ? N(g, pk_state(g, n)) : NULL;
    *why = "dtype state is not numpy's (version, byteorder, subarray, names, fields, elsize, "
           "alignment, flags)";
    if (!st || st->kind != K_TUPLE || (st->count != 8 && st->count != 9))
        return -1;
    const pk_node *order = N(g, st->items[1]);
    int64_t ver, elsize, align, flags;
    if (!pk_int_of(g, st->items[0], &ver) || ver != (st->count == 8 ? 3 : 4) ||
        !pk_int_of(g, st->items[5], &elsize) || !pk_int_of(g, st->items[6], &align) ||
        !pk_int_of(g, st->items[7], &flags))
        return -1;
    *why = "dtype flags outside 0..255";
    if (flags < 0 || flags > 255)
        return -1;
    *why = "sub-array dtype";
    if (N(g, st->items[2])->kind != K_NONE)
        return -1;
    /* structured: names and fields only on a void type; their layout is numpy's to check,
     * the itemsize and hasobject brine needs are the state's */
    int names = N(g, st->items[3])->kind != K_NONE, fields = N(g, st->items[4])->kind != K_NONE;
    *why = "structured dtype that is not a void type with names and fields";
    if (names != fields || (names && type != 'V'))
        return -1;
    *why = "dtype byte order is not one of < > | =";
    if (text_eq(order, ">"))
        out->big_endian = 1;
    else if (text_eq(order, "<") || text_eq(order, "|") || text_eq(order, "="))
        out->big_endian = 0;
    else
        return -1;
    *why = "dtype itemsize in the state disagrees with its code";
    if (flexible ? elsize != (int64_t)size : elsize != -1)
        return -1;
    *why = "zero-sized dtype";
    if (size == 0)
        return -1;
    out->type = names ? 'V' : type;
    out->itemsize = (uint32_t)size;
    out->hasobject = (flags & 1) != 0; /* NPY_ITEM_HASOBJECT */
    *why = "an object dtype whose flags say it holds no objects";
    if (type == 'O' && !out->hasobject)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ the hook */

#define BAD(err, off, ...) ERR_CORRUPT(err, off, __VA_ARGS__)

static brine_status new_record(jl_ctx *jl, pk_id wrapper, jl_array **out, brine_error *err)
{
    if (mem_grow(jl->mem, (void **)&jl->arrays, &jl->cap_arrays, jl->n_arrays + 1,
                 sizeof *jl->arrays))
        return ERR_NOMEM(err);
    if (jl->n_arrays && jl->arrays[jl->n_arrays - 1].wrapper > wrapper)
        jl->unsorted = 1;
    *out = &jl->arrays[jl->n_arrays++];
    memset(*out, 0, sizeof **out);
    (*out)->wrapper = wrapper;
    return BRINE_OK;
}

static brine_status shape_of(const pk_graph *g, pk_id id, jl_array *a, uint64_t off,
                             brine_error *err)
{
    const pk_node *s = N(g, id);
    if ((s->kind != K_TUPLE && s->kind != K_LIST) || s->count > JL_MAX_DIMS)
        return BAD(err, off, "joblib array: shape is not a tuple of at most %d integers",
                   JL_MAX_DIMS);
    a->ndim = s->count;
    a->count = 1;
    for (uint32_t i = 0; i < s->count; i++) {
        int64_t d;
        if (!pk_int_of(g, s->items[i], &d) || d < 0)
            return BAD(err, off, "joblib array: shape[%u] is not a non-negative integer", i);
        a->shape[i] = (uint64_t)d;
        /* joblib multiplies in int64 and would wrap; such a file fails to load there too */
        if (__builtin_mul_overflow(a->count, a->shape[i], &a->count) || a->count > INT64_MAX)
            return BAD(err, off, "joblib array: the shape's element count overflows");
    }
    return BRINE_OK;
}

static brine_status sidecar(jl_ctx *jl, const pk_graph *g, pk_build_site *site, jl_kind kind,
                            brine_error *err)
{
    pk_id name = 0;
    int has = state_attr(g, site->state, "filename", &name);
    if (has <= 0 || !is_text(N(g, name)))
        return BAD(err, site->build_offset, "joblib %s: no plain 'filename' text in its state",
                   kind == JL_SIDECAR_Z ? "ZNDArrayWrapper" : "NDArrayWrapper");
    const pk_node *nn = N(g, name);
    if (nn->v.s.len > 4096)
        return BAD(err, site->build_offset, "joblib sidecar name of %llu bytes",
                   (unsigned long long)nn->v.s.len);
    jl_array *a;
    brine_status st = new_record(jl, site->target, &a, err);
    if (st)
        return st;
    a->kind = (uint8_t)kind;
    a->build_offset = site->build_offset;
    a->sidecar = mem_strndup(jl->mem, (const char *)nn->v.s.p, (size_t)nn->v.s.len);
    if (!a->sidecar) {
        jl->n_arrays--;
        return ERR_NOMEM(err);
    }
    a->sidecar_len = (size_t)nn->v.s.len;
    a->sidecar_escapes = jl_name_escapes(nn->v.s.p, (size_t)nn->v.s.len);
    pk_id sub = 0;
    if (state_attr(g, site->state, "subclass", &sub) > 0)
        a->subclass = sub;
    return BRINE_OK;
}

/* NumpyArrayWrapper.read (no mmap_mode: joblib.load's default). */
static brine_status numpy_wrapper(jl_ctx *jl, pk_graph *g, pk_build_site *site, brine_error *err)
{
    uint64_t off = site->build_offset;
    pk_id dtype = 0, shape = 0, order = 0, align = 0, sub = 0;
    int has_dtype = state_attr(g, site->state, "dtype", &dtype);
    int has_shape = state_attr(g, site->state, "shape", &shape);
    int has_order = state_attr(g, site->state, "order", &order);
    int has_align = state_attr(g, site->state, "numpy_array_alignment_bytes", &align);
    int has_sub = state_attr(g, site->state, "subclass", &sub);
    if (has_dtype < 0 || has_shape < 0 || has_order < 0 || has_align < 0 || has_sub < 0)
        return BAD(err, off, "NumpyArrayWrapper: its BUILD state is not a plain dict");
    if (!has_dtype || !has_shape)
        return BAD(err, off, "NumpyArrayWrapper: no %s in its state (joblib fails on it)",
                   has_dtype ? "shape" : "dtype");
    /* pickle.py reads the next FRAME into memory; joblib's reads go to the file behind it */
    if (site->frame_end)
        return BAD(err, off,
                   "NumpyArrayWrapper BUILD inside a FRAME: joblib would read the "
                   "array from after the frame");

    dtype_info dt;
    memset(&dt, 0, sizeof dt);
    const char *why = NULL;
    if (parse_dtype(g, dtype, &dt, &why))
        return BAD(err, off, "NumpyArrayWrapper: %s", why);

    jl_array rec;
    memset(&rec, 0, sizeof rec);
    brine_status st = shape_of(g, shape, &rec, off, err);
    if (st)
        return st;
    rec.wrapper = site->target;
    rec.build_offset = off;
    rec.subclass = has_sub ? sub : 0;
    uint64_t pos = site->pos, left = site->len - site->pos;

    if (dt.hasobject) {
        /* read_array: a nested Unpickler (no build hook) over the same file, fresh memo;
         * the outer stream resumes after its STOP */
        size_t index = g->n_pickles;
        st = pk_run(g, site->data, site->len, (size_t)pos, site->opts, err);
        if (st)
            return st;
        const pk_pickle *pk = &g->pickles[index];
        /* the nested unpickler read its last FRAME whole: the file (and joblib's outer
         * stream) is at the frame's end, not after STOP; brine does not follow that */
        if (pk->frame_end)
            return BAD(err, pk->end,
                       "object array pickle stops inside a FRAME that goes on to %llu: joblib "
                       "would resume there",
                       (unsigned long long)pk->frame_end);
        uint64_t end = pk->end;
        pk_id root = pk->root;
        /* joblib 1.6 hands the nested Unpickler the outer's bound find_class, so Python-2
         * names are mapped by the outer protocol: a second reading gives the globals that
         * version resolves (same bytes, same structure, maybe other names) */
        size_t alt = g->n_pickles;
        st = pk_run_mapped(g, site->data, site->len, (size_t)pos, site->opts, site->proto, err);
        if (st)
            return st;
        if (g->pickles[alt].end != end)
            return BAD(err, pos, "object array pickle: the two readings end apart");
        rec.kind = JL_OBJECT;
        rec.nested_pickle = index;
        rec.nested_alt = alt;
        rec.data_offset = pos;
        rec.pad_offset = pos;
        rec.data_len = end - pos;
        site->pos = end;
        site->replace = root;
    } else {
        if (has_order && !is_literal(N(g, order)))
            return BAD(err, off, "NumpyArrayWrapper: order is not a plain value");
        if (!has_order)
            return BAD(err, off, "NumpyArrayWrapper: no order in its state (joblib fails on it)");
        if (has_align && !is_literal(N(g, align)))
            return BAD(err, off,
                       "NumpyArrayWrapper: numpy_array_alignment_bytes is not a "
                       "plain value");
        rec.kind = JL_INLINE;
        rec.type = dt.type;
        rec.itemsize = dt.itemsize;
        rec.big_endian = (uint8_t)dt.big_endian;
        rec.fortran = (uint8_t)text_eq(N(g, order), "F"); /* anything else reads as C */
        rec.pad_offset = pos;
        /* safe_get_numpy_array_alignment_bytes: any value but None means a pad byte */
        if (has_align && N(g, align)->kind != K_NONE) {
            if (left < 1)
                return BAD(err, pos, "joblib array: the pad-length byte is missing");
            uint8_t pad = site->data[pos];
            if ((uint64_t)pad + 1 > left)
                return BAD(err, pos, "joblib array: %u pad bytes announced, %llu remain", pad,
                           (unsigned long long)(left - 1));
            pos += (uint64_t)pad + 1;
            left -= (uint64_t)pad + 1;
        }
        uint64_t need;
        if (__builtin_mul_overflow(rec.count, (uint64_t)dt.itemsize, &need))
            return BAD(err, off, "joblib array: count × itemsize overflows");
        if (need > left)
            return BAD(err, pos, "joblib array needs %llu data bytes (%llu × %u), %llu remain",
                       (unsigned long long)need, (unsigned long long)rec.count, dt.itemsize,
                       (unsigned long long)left);
        rec.data_offset = pos;
        rec.data_len = need;
        rec.data = site->data + pos;
        site->pos = pos + need;
        pk_node_w(g, site->target)->flags |= PKF_SPLICED;
    }
    jl_array *a;
    if ((st = new_record(jl, rec.wrapper, &a, err)))
        return st;
    *a = rec;
    return BRINE_OK;
}

brine_status jl_build_hook(void *ctx, pk_build_site *site, brine_error *err)
{
    jl_ctx *jl = ctx;
    pk_graph *g = site->g;
    wrapper_kind k = target_kind(g, site->target);
    if (k == W_NONE)
        return BRINE_OK;
    if (k == W_ALIAS)
        return BAD(err, site->build_offset,
                   "BUILD of an object made from a joblib array wrapper in a way joblib never "
                   "writes: brine cannot tell what joblib would read after it");
    if (jl->loader == JL_COMPAT_UNPICKLER && k == W_NUMPY)
        return BRINE_OK; /* numpy_pickle_compat's load_build only knows NDArrayWrapper */
    if (jl_find(jl, site->target))
        return BAD(err, site->build_offset,
                   "joblib array wrapper built twice: joblib would read it again with merged "
                   "attributes");
    switch (k) {
    case W_NUMPY: return numpy_wrapper(jl, g, site, err);
    case W_ND: return sidecar(jl, g, site, JL_SIDECAR_NPY, err);
    default: return sidecar(jl, g, site, JL_SIDECAR_Z, err);
    }
}

int jl_name_escapes(const uint8_t *name, size_t len)
{
    if (len == 0 || memchr(name, '/', len) || memchr(name, '\\', len) || memchr(name, 0, len))
        return 1;
    for (size_t i = 0; i + 1 < len; i++)
        if (name[i] == '.' && name[i + 1] == '.')
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ ZF files */

enum { ZF_HEADER = 2 + 19 }; /* _ZFILE_PREFIX + _MAX_LEN = len(hex(2**64)) */

int jl_is_zfile(const uint8_t *data, size_t len)
{
    return len >= 2 && data[0] == 'Z' && data[1] == 'F';
}

static int py_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* int(s, 16) on bytes: surrounding whitespace, a sign, an optional 0x prefix, digits with
 * single underscores between them (PyLong_FromString). -1 when Python would raise, or the
 * value is negative or does not fit. */
static int py_int16(const uint8_t *s, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (n && py_space(s[n - 1]))
        n--;
    while (i < n && py_space(s[i]))
        i++;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int prefixed = 0;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        i += 2, prefixed = 1;
    if (prefixed && i < n && s[i] == '_')
        i++;
    uint64_t v = 0;
    int digits = 0, prev_us = 0;
    for (; i < n; i++) {
        if (s[i] == '_') {
            if (prev_us || !digits)
                return -1;
            prev_us = 1;
            continue;
        }
        int d = hex_digit(s[i]);
        if (d < 0 || v > (UINT64_MAX >> 4))
            return -1;
        v = v << 4 | (uint64_t)d;
        digits = 1;
        prev_us = 0;
    }
    if (!digits || prev_us || (neg && v))
        return -1;
    *out = v;
    return 0;
}

static voidpf jl_zalloc(voidpf opaque, uInt items, uInt size)
{
    size_t n;
    if (__builtin_mul_overflow((size_t)items, (size_t)size, &n))
        return Z_NULL;
    /* the size is stored in front so zfree can return it to the budget */
    size_t *p = mem_alloc(opaque, n + sizeof(size_t));
    if (!p)
        return Z_NULL;
    *p = n + sizeof(size_t);
    return p + 1;
}

static void jl_zfree(voidpf opaque, voidpf address)
{
    if (!address)
        return;
    size_t *p = (size_t *)address - 1;
    mem_free(opaque, p, *p);
}

brine_status jl_zfile_read(mem_budget *mem, const brine_limits *lim, const uint8_t *data,
                           size_t len, uint8_t **out, size_t *out_len, brine_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!jl_is_zfile(data, len))
        return BAD(err, 0, "not a joblib ZF file");
    if (len < ZF_HEADER)
        return BAD(err, 0, "joblib ZF header needs %d bytes, %zu present", ZF_HEADER, len);
    uint64_t declared;
    if (py_int16(data + 2, ZF_HEADER - 2, &declared))
        return BAD(err, 2, "joblib ZF length is not a hexadecimal number int() accepts");
    size_t start = ZF_HEADER;
    if (len > start && data[start] == ' ') /* joblib <= 0.8.4 on Python 2: one more space */
        start++;
    uint64_t csize = len - start;
    if (declared > lim->zip_max_entry_bytes)
        return err_limit(err, "zip_max_entry_bytes", lim->zip_max_entry_bytes, declared, 2, 1,
                         __LINE__);
    if (csize == 0 || declared / csize > lim->zip_max_ratio)
        return err_limit(err, "zip_max_ratio", lim->zip_max_ratio, csize ? declared / csize : 0,
                         start, 1, __LINE__);
    uint8_t *buf = mem_alloc(mem, (size_t)declared + 1);
    if (!buf) {
        if (mem->exhausted)
            return err_limit(err, "max_memory", mem->limit, mem->used + declared + 1, 2, 1,
                             __LINE__);
        return ERR_NOMEM(err);
    }

    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = jl_zalloc;
    zs.zfree = jl_zfree;
    zs.opaque = mem;
    int r = inflateInit2(&zs, MAX_WBITS); /* zlib.decompress(data, 15, length) */
    if (r != Z_OK) {
        mem_free(mem, buf, (size_t)declared + 1);
        return ERR_NOMEM(err);
    }
    const uint8_t *in = data + start;
    uint64_t in_left = csize, out_left = declared + 1; /* one spare byte catches overlong */
    uint8_t *o = buf;
    const uInt chunk = 1u << 30;
    brine_status st = BRINE_OK;
    for (;;) {
        if (zs.avail_in == 0 && in_left) {
            zs.avail_in = in_left < chunk ? (uInt)in_left : chunk;
            zs.next_in = (Bytef *)(uintptr_t)in;
            in += zs.avail_in;
            in_left -= zs.avail_in;
        }
        if (zs.avail_out == 0 && out_left) {
            zs.avail_out = out_left < chunk ? (uInt)out_left : chunk;
            zs.next_out = o;
            o += zs.avail_out;
            out_left -= zs.avail_out;
        }
        r = inflate(&zs, Z_NO_FLUSH);
        if (r == Z_STREAM_END)
            break;
        if (r == Z_OK)
            continue;
        if (r == Z_MEM_ERROR)
            st = ERR_NOMEM(err);
        else if (r == Z_BUF_ERROR && zs.avail_out == 0 && out_left == 0)
            st = BAD(err, start, "joblib ZF data inflates to more than the %llu bytes declared",
                     (unsigned long long)declared);
        else if (r == Z_BUF_ERROR)
            st = BAD(err, len, "joblib ZF zlib stream is cut off");
        else
            st = BAD(err, start + (csize - in_left - zs.avail_in),
                     "joblib ZF: invalid zlib data (%s)", zs.msg ? zs.msg : "zlib error");
        break;
    }
    uint64_t produced = declared + 1 - out_left - zs.avail_out;
    inflateEnd(&zs);
    /* read_zfile asserts the length (an assert python -O drops: brine always checks) */
    if (!st && produced != declared)
        st = BAD(err, 2, "joblib ZF data inflates to %llu bytes, the header declares %llu",
                 (unsigned long long)produced, (unsigned long long)declared);
    if (st) {
        mem_free(mem, buf, (size_t)declared + 1);
        return st;
    }
    *out = buf;
    *out_len = (size_t)declared;
    return BRINE_OK;
}
