/*
 * tensors.c — rebuilding tensors and arrays from a judged graph, by brine's own code.
 *
 * Only a fixed set of reconstructors is interpreted: torch._utils._rebuild_tensor(_v2/_v3),
 * _rebuild_parameter(_with_state), torch.nn.Parameter, _rebuild_from_type_v2 of those, torch
 * storages by persistent id or torch.storage._load_from_bytes, and numpy arrays
 * (_reconstruct + BUILD state, _frombuffer). Every argument is checked: the dtype must be
 * known, sizes and strides non-negative, the view inside its storage with checked arithmetic,
 * and the storage bytes at least numel × itemsize (torch 1.13 exposes heap memory there,
 * CVE-2026-24747's storage-size half).
 */
#include "load/tensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/limits.h"
#include "policy/policy.h"

/* The element types of formats/dtypes.def (whole-byte ones), plus those safetensors cannot
 * name: complex128, and quantized storages, which hold their integer representation. */
static const ld_dtype dtypes[] = {
#define DTYPE(id, name, bits, torch, storage, numpy) {name, torch, (bits) % 8 ? 0 : (bits) / 8},
#include "formats/dtypes.def"
#undef DTYPE
    {"C128", "complex128", 16},
    {"I8", "qint8", 1},
    {"U8", "quint8", 1},
    {"I32", "qint32", 4},
};

const ld_dtype *ld_dtype_by_torch(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].size && dtypes[i].torch_name && strcmp(dtypes[i].torch_name, name) == 0)
            return &dtypes[i];
    return NULL;
}

const ld_dtype *ld_dtype_by_st(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].size && strcmp(dtypes[i].st_name, name) == 0)
            return &dtypes[i];
    return NULL;
}

void ld_set_init(ld_set *s, mem_budget *mem, const brine_limits *lim, ld_resolve_fn resolve,
                 void *ctx)
{
    memset(s, 0, sizeof *s);
    s->mem = mem;
    hmap_init(&s->storage_index, mem);
    s->lim = lim;
    s->resolve = resolve;
    s->resolve_ctx = ctx;
    s->want_config = 1;
}

void ld_set_free(ld_set *s)
{
    for (size_t i = 0; i < s->n_storages; i++) {
        ld_storage *st = &s->storages[i];
        mem_free(s->mem, st->key, strlen(st->key) + 1);
        if (st->owned)
            mem_free(s->mem, (void *)st->data, st->owned);
    }
    for (size_t i = 0; i < s->n_tensors; i++) {
        ld_tensor *t = &s->tensors[i];
        mem_free(s->mem, t->name, strlen(t->name) + 1);
        mem_free(s->mem, t->shape, t->ndim * sizeof(int64_t) + 1);
        mem_free(s->mem, t->strides, t->ndim * sizeof(int64_t) + 1);
    }
    mem_free(s->mem, s->storages, s->cap_storages * sizeof *s->storages);
    hmap_free(&s->storage_index);
    mem_free(s->mem, s->tensors, s->cap_tensors * sizeof *s->tensors);
    json_decref(s->config);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ graph helpers */

typedef struct walker {
    ld_set *s;
    const pk_graph *g;
    brine_error *err;
    char path[1024];
    size_t plen;
    unsigned depth;
    pk_id on_path[256];
    uint64_t visits, max_visits;
    uint64_t edges;         /* of the graph under the root, counted by mark_shared */
    uint64_t size;          /* nodes and edges */
    uint64_t repeat_visits; /* made while walking a shared value again */
    uint64_t repeat_budget; /* after which a shared value met again is a bare reference */
    unsigned repeating;     /* depth of such walks */
    uint8_t *marks;         /* per node MK_* */
    json_t *descr;          /* the structured dtype of the array just collected, for its config */
    int descr_oom;          /* building a descr ran out of memory */
} walker;

/* What brine does not rebuild (object arrays, structured dtypes, other tensor subclasses):
 * the loader may accept it, so a scan does not call the file invalid for it. */
#define UNSUPPORTED(w, node, ...)                                                                  \
    err_at((w)->err, BRINE_ERR_UNSUPPORTED, pk_offset((w)->g, pk_at((w)->g, node)), __LINE__,      \
           __VA_ARGS__)

#define BAD(w, node, ...)                                                                          \
    err_at((w)->err, BRINE_ERR_MALFORMED, pk_offset((w)->g, pk_at((w)->g, node)), __LINE__,        \
           __VA_ARGS__)

static const pk_node *N(const walker *w, pk_id id) { return pk_at(w->g, id); }

static const char *global_name(const walker *w, pk_id id)
{
    const pk_node *n = N(w, id);
    return n->kind == K_GLOBAL ? w->g->globals[n->v.g.global].full : NULL;
}

/* The callable's name when id is a call of a global, else NULL. */
static const char *callee(const walker *w, pk_id id)
{
    const pk_node *n = N(w, id);
    if (n->kind != K_CALL && n->kind != K_NEWOBJ && n->kind != K_INST)
        return NULL;
    return global_name(w, n->a);
}

static int is_text(const pk_node *n) { return n->kind == K_STR || n->kind == K_PYSTR; }

static int text_eq(const pk_node *n, const char *z)
{
    size_t zl = strlen(z);
    return is_text(n) && n->v.s.len == zl && memcmp(n->v.s.p, z, zl) == 0;
}

static const pk_node *args_of(const walker *w, pk_id call, uint32_t min, uint32_t max)
{
    const pk_node *c = N(w, call);
    const pk_node *a = pk_args(c) ? N(w, pk_args(c)) : NULL;
    if (!a || a->kind != K_TUPLE || a->count < min || a->count > max)
        return NULL;
    return a;
}

/* Integers of a tuple (or list), each >= 0, at most LD_MAX_DIMS. */
static int int_tuple(const walker *w, pk_id id, int64_t *out, uint32_t *n)
{
    const pk_node *t = N(w, id);
    if (callee(w, id) && strcmp(callee(w, id), "torch.Size") == 0) { /* torch.Size((…)) */
        const pk_node *a = args_of(w, id, 1, 1);
        if (!a)
            return 0;
        t = N(w, a->items[0]);
    }
    if ((t->kind != K_TUPLE && t->kind != K_LIST) || t->count > LD_MAX_DIMS)
        return 0;
    for (uint32_t i = 0; i < t->count; i++)
        if (!pk_int_of(w->g, t->items[i], &out[i]) || out[i] < 0)
            return 0;
    *n = t->count;
    return 1;
}

/* ------------------------------------------------------------------ storages */

/* Registers a storage once per key. Bytes come from data or, when data is NULL, from the
 * container's resolver. owned: data's allocation size when brine allocated it; on success the
 * set takes ownership (a duplicate is freed at once), on failure the caller keeps it. */
static brine_status add_storage(walker *w, const char *key, size_t keylen, const ld_dtype *dt,
                                uint64_t numel, const uint8_t *data, uint64_t nbytes, size_t owned,
                                size_t *index)
{
    ld_set *s = w->s;
    uint64_t seen;
    if (memchr(key, 0, keylen)) /* torch.load looks for a record of that whole name: none */
        return err_set(w->err, BRINE_ERR_MALFORMED, __LINE__,
                       "storage key %.*s… holds a NUL byte: no record has that name",
                       (int)strnlen(key, 64), key);
    /* a hash lookup: a checkpoint references thousands of storages (issue 7.5) */
    if (hmap_get(&s->storage_index, key, keylen, &seen)) {
        size_t i = (size_t)seen;
        if (s->storages[i].dtype != dt || s->storages[i].numel != numel)
            return err_set(w->err, BRINE_ERR_MALFORMED, __LINE__,
                           "storage %.*s is referenced with two different types or sizes",
                           (int)(keylen > 64 ? 64 : keylen), key);
        if (owned)
            mem_free(s->mem, (void *)data, owned);
        *index = i;
        return BRINE_OK;
    }
    if (mem_grow(s->mem, (void **)&s->storages, &s->cap_storages, s->n_storages + 1,
                 sizeof *s->storages))
        return ERR_NOMEM(w->err);
    ld_storage *st = &s->storages[s->n_storages];
    memset(st, 0, sizeof *st);
    if (!(st->key = mem_strndup(s->mem, key, keylen)))
        return ERR_NOMEM(w->err);
    st->dtype = dt;
    st->numel = numel;
    st->data = data;
    st->nbytes = nbytes;
    st->owned = owned;
    brine_status rc = BRINE_OK;
    if (!data && s->resolve && s->resolve(s->resolve_ctx, st, w->err) != 0)
        rc = w->err && w->err->code ? w->err->code : BRINE_ERR_MALFORMED;
    uint64_t need;
    if (!rc && (__builtin_mul_overflow(numel, (uint64_t)dt->size, &need) || need > st->nbytes))
        rc = err_set(w->err, BRINE_ERR_MALFORMED, __LINE__,
                     "storage %.40s declares %" PRIu64
                     " elements of %u bytes, its record holds %" PRIu64 " bytes",
                     st->key, numel, dt->size, st->nbytes);
    if (rc) {
        mem_free(s->mem, st->key, keylen + 1);
        if (!data && st->owned) /* the resolver's allocation */
            mem_free(s->mem, (void *)st->data, st->owned);
        return rc;
    }
    if (hmap_put(&s->storage_index, key, keylen, s->n_storages, NULL) < 0) {
        mem_free(s->mem, st->key, keylen + 1);
        if (!data && st->owned)
            mem_free(s->mem, (void *)st->data, st->owned);
        return ERR_NOMEM(w->err);
    }
    *index = s->n_storages++;
    return BRINE_OK;
}

/* Bytes spelled in the pickle: bytes literals, or _codecs.encode(text, 'latin1'). *owned is
 * the allocation size when converted. Returns 1, 0 when the value is not such bytes, -1 when
 * memory ran out (which must not read as "not bytes"). */
static int pickled_bytes(walker *w, pk_id id, const uint8_t **p, uint64_t *len, size_t *owned)
{
    const pk_node *n = N(w, id);
    *owned = 0;
    if (n->kind == K_BYTES || n->kind == K_BYTEARRAY || n->kind == K_PYSTR) {
        *p = n->v.s.p;
        *len = n->v.s.len;
        return 1;
    }
    const char *c = callee(w, id);
    if (c && (strcmp(c, "builtins.bytes") == 0 || strcmp(c, "__builtin__.bytes") == 0) &&
        args_of(w, id, 0, 0) && !pk_state(w->g, n)) { /* protocol 2's b'': bytes() */
        *p = (const uint8_t *)"";
        *len = 0;
        return 1;
    }
    const pk_node *a = c && strcmp(c, "_codecs.encode") == 0 ? args_of(w, id, 2, 2) : NULL;
    if (!a || N(w, a->items[0])->kind != K_STR)
        return 0;
    const pk_node *t = N(w, a->items[0]);
    uint8_t *out = mem_alloc(w->s->mem, t->v.s.len ? (size_t)t->v.s.len : 1);
    if (!out)
        return -1;
    uint64_t o = 0;
    for (uint64_t i = 0; i < t->v.s.len; i++) {
        uint8_t ch = t->v.s.p[i];
        if (ch < 0x80)
            out[o++] = ch;
        else if ((ch == 0xC2 || ch == 0xC3) && i + 1 < t->v.s.len)
            out[o++] = (uint8_t)(((ch & 0x1F) << 6) | (t->v.s.p[++i] & 0x3F));
        else {
            mem_free(w->s->mem, out, t->v.s.len ? (size_t)t->v.s.len : 1);
            return 0;
        }
    }
    *p = out;
    *len = o;
    *owned = t->v.s.len ? (size_t)t->v.s.len : 1;
    return 1;
}

/* A storage given as torch.storage._load_from_bytes(b): b is a legacy torch file holding
 * that one storage (torch pickles a raw tensor's storage this way). */
static brine_status nested_storage(walker *w, pk_id call, const ld_dtype *want, size_t *index)
{
    const pk_node *a = args_of(w, call, 1, 1);
    /* a synthetic key: the bytes literal's offset and node, unique within the file. Tensors that
     * share one literal (through the memo) share its storage, so the nested pickle is run
     * once, not once per reference (issue 7.5: 40,000 references to one 200 kB literal). */
    char key[48];
    int kl = a ? snprintf(key, sizeof key, "bytes@%" PRIu64 "#%" PRIu32,
                          pk_offset(w->g, N(w, a->items[0])), (uint32_t)a->items[0])
               : 0;
    uint64_t seen;
    if (a && hmap_get(&w->s->storage_index, key, (size_t)kl, &seen)) {
        const ld_storage *prev = &w->s->storages[seen];
        if (want && want != prev->dtype)
            return BAD(w, call, "_load_from_bytes storage has a bad type or size");
        *index = (size_t)seen;
        return BRINE_OK;
    }
    const uint8_t *bytes;
    uint64_t len;
    size_t owned;
    int got = a ? pickled_bytes(w, a->items[0], &bytes, &len, &owned) : 0;
    if (got < 0)
        return ERR_NOMEM(w->err);
    if (!got)
        return BAD(w, call, "_load_from_bytes needs literal bytes");
    pk_graph g2;
    pk_graph_init(&g2, w->s->mem);
    pk_run_options opts = {w->s->lim, NULL, NULL};
    brine_status st = BRINE_OK;
    size_t pos = 0;
    for (int k = 0; k < 5 && !st; k++) {
        st = pk_run(&g2, bytes, (size_t)len, pos, &opts, w->err);
        if (!st)
            pos = (size_t)g2.pickles[g2.n_pickles - 1].end;
    }
    const pk_node *pid = NULL;
    if (!st) {
        const pk_node *obj = pk_at(&g2, g2.pickles[3].root);
        pid = obj->kind == K_PERSID ? pk_at(&g2, obj->a) : NULL;
        const pk_node *keys = pk_at(&g2, g2.pickles[4].root);
        if (!pid || pid->kind != K_TUPLE || pid->count < 5 || keys->kind != K_LIST ||
            keys->count != 1 || pk_at(&g2, pid->items[1])->kind != K_GLOBAL ||
            pk_kind_of(&g2, pid->items[4]) != K_INT || len - pos < 8)
            st = BAD(w, call, "_load_from_bytes data is not a single torch storage");
    }
    if (!st) {
        const char *cls = g2.globals[pk_at(&g2, pid->items[1])->v.g.global].name;
        const char *tdt = pol_torch_storage_dtype(cls);
        const ld_dtype *dt = tdt ? ld_dtype_by_torch(tdt) : NULL;
        int64_t numel = pk_int(&g2, pid->items[4]);
        uint64_t count = ld_le64(bytes + pos), need;
        if (!dt || (want && want != dt) || numel < 0 || count != (uint64_t)numel ||
            __builtin_mul_overflow(count, (uint64_t)dt->size, &need) || need > len - pos - 8) {
            st = BAD(w, call, "_load_from_bytes storage has a bad type or size");
        } else {
            /* converted bytes are copied so the storage outlives them */
            uint8_t *copy = owned ? mem_alloc(w->s->mem, need ? (size_t)need : 1) : NULL;
            if (owned && !copy) {
                st = ERR_NOMEM(w->err);
            } else {
                if (copy)
                    memcpy(copy, bytes + pos + 8, (size_t)need);
                st = add_storage(w, key, (size_t)kl, dt, count, copy ? copy : bytes + pos + 8, need,
                                 copy ? (need ? (size_t)need : 1) : 0, index);
                if (st && copy)
                    mem_free(w->s->mem, copy, need ? (size_t)need : 1);
            }
        }
    }
    pk_graph_free(&g2);
    if (owned)
        mem_free(w->s->mem, (void *)bytes, owned);
    return st;
}

/* The storage argument of a rebuild call. want: the dtype a v3 rebuild names, else NULL. */
static brine_status storage_of(walker *w, pk_id id, const ld_dtype *want, size_t *index)
{
    const pk_node *n = N(w, id);
    const char *c = callee(w, id);
    if (c && strcmp(c, "torch.storage._load_from_bytes") == 0)
        return nested_storage(w, id, want, index);
    if (n->kind != K_PERSID)
        return BAD(w, id, "tensor storage is not a storage reference");
    const pk_node *pid = N(w, n->a);
    int64_t count;
    if (pid->kind != K_TUPLE || pid->count < 5 || !text_eq(N(w, pid->items[0]), "storage") ||
        N(w, pid->items[1])->kind != K_GLOBAL || !is_text(N(w, pid->items[2])) ||
        !pk_int_of(w->g, pid->items[4], &count) || count < 0)
        return BAD(w, id, "persistent id is not ('storage', type, key, location, numel)");
    const pk_global *cls = &w->g->globals[N(w, pid->items[1])->v.g.global];
    const ld_dtype *dt = NULL;
    uint64_t numel = (uint64_t)count;
    if (strcmp(cls->name, "UntypedStorage") == 0) {
        /* v3: numel counts bytes; the dtype comes from the rebuild call */
        if (!want || numel % want->size)
            return BAD(w, id, "untyped storage without a matching dtype");
        dt = want;
        numel /= want->size;
    } else {
        const char *tdt =
            strcmp(cls->module, "torch") == 0 ? pol_torch_storage_dtype(cls->name) : NULL;
        dt = tdt ? ld_dtype_by_torch(tdt) : NULL;
        if (!dt)
            return BAD(w, id, "unknown storage type %s", cls->full);
        if (want && want != dt)
            return BAD(w, id, "storage type %s disagrees with the tensor dtype", cls->full);
    }
    const pk_node *key = N(w, pid->items[2]);
    return add_storage(w, (const char *)key->v.s.p, (size_t)key->v.s.len, dt, numel, NULL, 0, 0,
                       index);
}

/* ------------------------------------------------------------------ tensors */

static brine_status add_tensor(walker *w, pk_id at, const ld_dtype *dt, size_t storage,
                               int64_t offset, const int64_t *shape, const int64_t *strides,
                               uint32_t ndim)
{
    ld_set *s = w->s;
    if (s->n_tensors >= s->lim->max_tensors)
        return err_limit(w->err, "max_tensors", s->lim->max_tensors, s->n_tensors + 1,
                         pk_offset(w->g, N(w, at)), 1, __LINE__);
    /* view bounds: offset + Σ (size_i − 1)·stride_i must lie inside the storage */
    uint64_t numel = 1, last = (uint64_t)offset;
    int empty = 0;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            empty = 1;
        uint64_t span;
        if (__builtin_mul_overflow((uint64_t)shape[i], numel, &numel) ||
            (shape[i] > 0 &&
             (__builtin_mul_overflow((uint64_t)(shape[i] - 1), (uint64_t)strides[i], &span) ||
              __builtin_add_overflow(last, span, &last))))
            return BAD(w, at, "tensor %.200s: size arithmetic overflows", w->path);
    }
    const ld_storage *st = &s->storages[storage];
    if (offset < 0 || (uint64_t)offset > st->numel || (!empty && last >= st->numel))
        return BAD(w, at,
                   "tensor %.200s: view reaches element %" PRIu64 " of a %" PRIu64
                   "-element storage",
                   w->path, last, st->numel);
    if (mem_grow(s->mem, (void **)&s->tensors, &s->cap_tensors, s->n_tensors + 1,
                 sizeof *s->tensors))
        return ERR_NOMEM(w->err);
    ld_tensor *t = &s->tensors[s->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = mem_strndup(s->mem, w->path, w->plen);
    t->shape = mem_alloc(s->mem, ndim * sizeof(int64_t) + 1);
    t->strides = mem_alloc(s->mem, ndim * sizeof(int64_t) + 1);
    if (!t->name || !t->shape || !t->strides) {
        mem_free(s->mem, t->name, t->name ? w->plen + 1 : 0);
        mem_free(s->mem, t->shape, t->shape ? ndim * sizeof(int64_t) + 1 : 0);
        mem_free(s->mem, t->strides, t->strides ? ndim * sizeof(int64_t) + 1 : 0);
        return ERR_NOMEM(w->err);
    }
    memcpy(t->shape, shape, ndim * sizeof(int64_t));
    memcpy(t->strides, strides, ndim * sizeof(int64_t));
    t->ndim = ndim;
    t->dtype = dt;
    t->offset = offset;
    t->storage = storage;
    t->numel = empty ? 0 : numel;
    s->n_tensors++;
    return BRINE_OK;
}

/* torch._utils._rebuild_tensor / _v2 / _v3, given the call's argument tuple */
static brine_status torch_tensor(walker *w, pk_id at, const char *fn, const pk_node *a)
{
    int v3 = strcmp(fn, "torch._utils._rebuild_tensor_v3") == 0;
    int v1 = strcmp(fn, "torch._utils._rebuild_tensor") == 0;
    int q = strcmp(fn, "torch._utils._rebuild_qtensor") == 0; /* + qparams, grad, hooks */
    uint32_t min = v1 ? 4 : v3 || q ? 7 : 6, max = v1 ? 4 : v3 ? 8 : 7;
    if (!a || a->kind != K_TUPLE || a->count < min || a->count > max)
        return BAD(w, at, "%s: wrong arguments", fn);
    const ld_dtype *want = NULL;
    if (v3) {
        const char *dn = global_name(w, a->items[6]);
        want = dn && strncmp(dn, "torch.", 6) == 0 ? ld_dtype_by_torch(dn + 6) : NULL;
        if (!want)
            return BAD(w, at, "%s: unknown dtype", fn);
    }
    int64_t shape[LD_MAX_DIMS], strides[LD_MAX_DIMS];
    uint32_t nd, ns;
    int64_t off;
    if (!pk_int_of(w->g, a->items[1], &off) || off < 0 || !int_tuple(w, a->items[2], shape, &nd) ||
        !int_tuple(w, a->items[3], strides, &ns) || nd != ns)
        return BAD(w, at, "%s: offset, sizes and strides must be non-negative integers", fn);
    size_t storage;
    brine_status st = storage_of(w, a->items[0], want, &storage);
    if (st)
        return st;
    return add_tensor(w, at, w->s->storages[storage].dtype, storage, off, shape, strides, nd);
}

static int is_rebuild_tensor(const char *fn)
{
    return fn && (strcmp(fn, "torch._utils._rebuild_tensor") == 0 ||
                  strcmp(fn, "torch._utils._rebuild_tensor_v2") == 0 ||
                  strcmp(fn, "torch._utils._rebuild_tensor_v3") == 0 ||
                  strcmp(fn, "torch._utils._rebuild_qtensor") == 0);
}

/* numpy dtype node → element type and byte order. */
static const ld_dtype *numpy_dtype(walker *w, pk_id id, int *big_endian)
{
    const char *c = callee(w, id);
    const pk_node *a = c && strcmp(c, "numpy.dtype") == 0 ? args_of(w, id, 1, 3) : NULL;
    if (!a || !is_text(N(w, a->items[0])))
        return NULL;
    const pk_node *code = N(w, a->items[0]);
    static const struct {
        const char *code, *torch;
    } map[] = {{"f2", "float16"},   {"f4", "float32"},    {"f8", "float64"}, {"i1", "int8"},
               {"i2", "int16"},     {"i4", "int32"},      {"i8", "int64"},   {"u1", "uint8"},
               {"u2", "uint16"},    {"u4", "uint32"},     {"u8", "uint64"},  {"b1", "bool"},
               {"c8", "complex64"}, {"c16", "complex128"}};
    const ld_dtype *dt = NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (text_eq(code, map[i].code))
            dt = ld_dtype_by_torch(map[i].torch);
    /* BUILD state (3, '<', None, None, None, -1, -1, 0): index 1 is the byte order */
    *big_endian = 0;
    const pk_node *state = pk_state(w->g, N(w, id)) ? N(w, pk_state(w->g, N(w, id))) : NULL;
    if (state && state->kind == K_TUPLE && state->count >= 2) {
        const pk_node *order = N(w, state->items[1]);
        if (text_eq(order, ">"))
            *big_endian = 1;
        else if (!text_eq(order, "<") && !text_eq(order, "|") && !text_eq(order, "="))
            return NULL;
    }
    return dt;
}

/* The .npy type string of a plain numeric field: numpy's dtype.str ('<i8', '|u1'). */
static int field_typestr(walker *w, pk_id id, char *out, size_t cap, uint32_t *size)
{
    int big = 0;
    const ld_dtype *dt = numpy_dtype(w, id, &big);
    const pk_node *a = dt ? args_of(w, id, 1, 3) : NULL;
    if (!a || big || N(w, a->items[0])->v.s.len > 4)
        return 0;
    const pk_node *code = N(w, a->items[0]);
    *size = dt->size;
    return snprintf(out, cap, "%c%.*s", dt->size == 1 ? '|' : '<', (int)code->v.s.len,
                    (const char *)code->v.s.p) > 0;
}

/* The field names numpy writes unquoted-safe: repr() of them is 'name' (no quote, backslash
 * or control character to escape), so the .npy header can carry them verbatim. */
static int plain_name(const pk_node *n)
{
    if (!is_text(n) || n->v.s.len == 0 || n->v.s.len > 200)
        return 0;
    for (uint64_t i = 0; i < n->v.s.len; i++)
        if (n->v.s.p[i] < 0x20 || n->v.s.p[i] > 0x7e || n->v.s.p[i] == '\'' || n->v.s.p[i] == '\\')
            return 0;
    return 1;
}

/* A structured dtype — numpy.dtype('V64', False, True) + BUILD (3, '|', None, names,
 * {name: (dtype, offset)}, itemsize, alignment, flags), every field a plain little-endian
 * number (sklearn's tree nodes, HistGradientBoosting's predictor records, KDTree's node_data)
 * — as the descr numpy writes in a .npy header: numpy/_core/_internal.py _array_descr, which
 * names the gaps ('', '|V<n>') before a field and after the last one. Anything else (sub-arrays,
 * titles, nested records, overlapping or unordered fields, big-endian fields) gives NULL. */
static json_t *structured_descr(walker *w, pk_id id, uint32_t *itemsize)
{
    const char *c = callee(w, id);
    const pk_node *a = c && strcmp(c, "numpy.dtype") == 0 ? args_of(w, id, 1, 3) : NULL;
    const pk_node *state = a && pk_state(w->g, N(w, id)) ? N(w, pk_state(w->g, N(w, id))) : NULL;
    if (!a || !is_text(N(w, a->items[0])) || N(w, a->items[0])->v.s.len < 2 ||
        N(w, a->items[0])->v.s.p[0] != 'V' || !state || state->kind != K_TUPLE || state->count != 8)
        return NULL;
    const pk_node *names = N(w, state->items[3]), *fields = N(w, state->items[4]);
    int64_t version, size;
    if (!pk_int_of(w->g, state->items[0], &version) || version != 3 ||
        !text_eq(N(w, state->items[1]), "|") || N(w, state->items[2])->kind != K_NONE ||
        names->kind != K_TUPLE || names->count == 0 || names->count > 1024 ||
        fields->kind != K_DICT || !pk_int_of(w->g, state->items[5], &size) || size <= 0 ||
        size > (1 << 20))
        return NULL;
    json_t *descr = json_array();
    w->descr_oom = 1; /* until the descr is whole */
    uint64_t at = 0;
    char type[16];
    for (uint32_t i = 0; descr && i < names->count; i++) {
        const pk_node *name = N(w, names->items[i]), *field = NULL;
        int64_t offset = -1;
        for (uint32_t k = 0; k + 1 < fields->count; k += 2) /* the last duplicate wins */
            if (is_text(N(w, fields->items[k])) &&
                N(w, fields->items[k])->v.s.len == name->v.s.len &&
                memcmp(N(w, fields->items[k])->v.s.p, name->v.s.p, name->v.s.len) == 0)
                field = N(w, fields->items[k + 1]);
        uint32_t fsize = 0;
        if (field && field->kind == K_TUPLE && field->count == 2 &&
            !pk_int_of(w->g, field->items[1], &offset))
            offset = -1;
        if (!plain_name(name) || offset < 0 || (uint64_t)offset < at ||
            !field_typestr(w, field->items[0], type, sizeof type, &fsize) ||
            (uint64_t)offset + fsize > (uint64_t)size) {
            json_decref(descr);
            w->descr_oom = 0;
            return NULL;
        }
        char pad[32];
        if ((uint64_t)offset > at) {
            snprintf(pad, sizeof pad, "|V%" PRIu64, (uint64_t)offset - at);
            if (json_array_append_new(descr, json_pack("[ss]", "", pad)))
                break;
        }
        if (json_array_append_new(
                descr, json_pack("[s#s]", (const char *)name->v.s.p, (int)name->v.s.len, type)))
            break;
        at = (uint64_t)offset + fsize;
        if (i + 1 == names->count && at < (uint64_t)size) {
            snprintf(pad, sizeof pad, "|V%" PRIu64, (uint64_t)size - at);
            if (json_array_append_new(descr, json_pack("[ss]", "", pad)))
                break;
        }
    }
    if (descr && json_array_size(descr) < names->count) { /* an append ran out of memory */
        json_decref(descr);
        return NULL;
    }
    w->descr_oom = !descr;
    *itemsize = (uint32_t)size;
    return descr;
}

static brine_status numpy_storage(walker *w, pk_id at, pk_id bytes_id, const ld_dtype *dt,
                                  uint64_t numel, int big_endian, size_t *index)
{
    const uint8_t *p;
    uint64_t len;
    size_t owned;
    int got = pickled_bytes(w, bytes_id, &p, &len, &owned);
    if (got < 0)
        return ERR_NOMEM(w->err);
    if (!got)
        return UNSUPPORTED(w, at, "array %.200s: data is not bytes in the file (object array?)",
                           w->path);
    uint64_t need;
    if (__builtin_mul_overflow(numel, (uint64_t)dt->size, &need) || need != len) {
        if (owned)
            mem_free(w->s->mem, (void *)p, owned);
        return BAD(w, at,
                   "array %.200s: %" PRIu64 " elements of %u bytes but %" PRIu64 " data bytes",
                   w->path, numel, dt->size, len);
    }
    char key[48];
    int kl = snprintf(key, sizeof key, "array@%" PRIu64, pk_offset(w->g, N(w, at)));
    brine_status st = add_storage(w, key, (size_t)kl, dt, numel, p, len, owned, index);
    if (st) {
        if (owned)
            mem_free(w->s->mem, (void *)p, owned);
        return st;
    }
    w->s->storages[*index].big_endian = big_endian;
    return BRINE_OK;
}

/* The element count of a shape; -1 when it overflows. */
static int shape_numel(const int64_t *shape, uint32_t nd, uint64_t *numel)
{
    *numel = 1;
    for (uint32_t i = 0; i < nd; i++)
        if (__builtin_mul_overflow(*numel, (uint64_t)shape[i], numel))
            return -1;
    return 0;
}

/* Strides in elements. Only an empty array (a zero dimension) can make the product of the
 * other dimensions overflow — (0, 10^11, 10^9) — and its strides address nothing: they
 * become 0 from there instead of signed overflow (found by fuzz_npy). */
static void c_strides(const int64_t *shape, uint32_t nd, int fortran, int64_t *strides)
{
    int64_t acc = 1;
    for (uint32_t k = 0; k < nd; k++) {
        uint32_t i = fortran ? k : nd - 1 - k;
        strides[i] = acc;
        if (__builtin_mul_overflow(acc, shape[i] ? shape[i] : 1, &acc))
            acc = 0;
    }
}

/* A structured array, in a load: its records as bytes — a uint8 tensor of shape + (itemsize,)
 * — and its descr kept for the config (w->descr). NULL when the dtype is not one
 * structured_descr reads, or in a scan (which does not rebuild such arrays). */
static const ld_dtype *structured(walker *w, pk_id dtype, int64_t *shape, uint32_t *nd, int fortran)
{
    uint32_t itemsize;
    w->descr_oom = 0;
    json_t *descr = w->s->want_config ? structured_descr(w, dtype, &itemsize) : NULL;
    if (!descr)
        return NULL;
    if (*nd + 1 > LD_MAX_DIMS || (fortran && *nd > 1)) { /* records not in C order */
        json_decref(descr);
        return NULL;
    }
    shape[(*nd)++] = itemsize;
    json_decref(w->descr);
    w->descr = descr;
    return ld_dtype_by_st("U8");
}

/* numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, fortran, data)
 */
static brine_status numpy_array(walker *w, pk_id id)
{
    const pk_node *n = N(w, id);
    const pk_node *state = pk_state(w->g, n) ? N(w, pk_state(w->g, n)) : NULL;
    if (!state || state->kind != K_TUPLE || state->count != 5)
        return UNSUPPORTED(w, id, "array %.200s: no (version, shape, dtype, fortran, data) state",
                           w->path);
    int64_t shape[LD_MAX_DIMS], strides[LD_MAX_DIMS];
    uint32_t nd;
    int big = 0;
    const ld_dtype *dt = numpy_dtype(w, state->items[2], &big);
    const pk_node *fortran = N(w, state->items[3]);
    if (!int_tuple(w, state->items[1], shape, &nd) || fortran->kind != K_BOOL)
        return UNSUPPORTED(w, id, "array %.200s: unsupported shape or dtype", w->path);
    if (!dt && !(dt = structured(w, state->items[2], shape, &nd, (int)fortran->v.i)))
        return w->descr_oom ? ERR_NOMEM(w->err)
                            : UNSUPPORTED(w, id, "array %.200s: unsupported dtype", w->path);
    uint64_t numel;
    if (shape_numel(shape, nd, &numel))
        return BAD(w, id, "array %.200s: size overflows", w->path);
    size_t storage;
    brine_status st = numpy_storage(w, id, state->items[4], dt, numel, big, &storage);
    if (st)
        return st;
    c_strides(shape, nd, (int)fortran->v.i, strides);
    return add_tensor(w, id, dt, storage, 0, shape, strides, nd);
}

/* numpy.core.numeric._frombuffer(buffer, dtype, shape, order) — protocol 5 arrays */
static brine_status numpy_frombuffer(walker *w, pk_id id)
{
    const pk_node *a = args_of(w, id, 4, 4);
    int64_t shape[LD_MAX_DIMS], strides[LD_MAX_DIMS];
    uint32_t nd;
    int big = 0;
    const ld_dtype *dt = a ? numpy_dtype(w, a->items[1], &big) : NULL;
    if (!a || !int_tuple(w, a->items[2], shape, &nd) || !is_text(N(w, a->items[3])))
        return UNSUPPORTED(w, id, "array %.200s: unsupported _frombuffer arguments", w->path);
    if (!dt && !(dt = structured(w, a->items[1], shape, &nd, text_eq(N(w, a->items[3]), "F"))))
        return w->descr_oom ? ERR_NOMEM(w->err)
                            : UNSUPPORTED(w, id, "array %.200s: unsupported dtype", w->path);
    uint64_t numel;
    if (shape_numel(shape, nd, &numel))
        return BAD(w, id, "array %.200s: size overflows", w->path);
    size_t storage;
    brine_status st = numpy_storage(w, id, a->items[0], dt, numel, big, &storage);
    if (st)
        return st;
    c_strides(shape, nd, text_eq(N(w, a->items[3]), "F"), strides);
    return add_tensor(w, id, dt, storage, 0, shape, strides, nd);
}

/* The dtype joblib's NumpyArrayWrapper pickled in its state ({'dtype': ..., ...}), or 0. */
static pk_id wrapper_dtype(walker *w, pk_id wrapper)
{
    const pk_node *state =
        pk_state(w->g, N(w, wrapper)) ? N(w, pk_state(w->g, N(w, wrapper))) : NULL;
    pk_id found = 0;
    for (uint32_t k = 0; state && state->kind == K_DICT && k + 1 < state->count; k += 2)
        if (text_eq(N(w, state->items[k]), "dtype"))
            found = state->items[k + 1];
    return found;
}

/* An array joblib read from the stream after its wrapper's BUILD (formats/joblib.c): the
 * bytes are in the file in the wrapper's order, in the dtype's byte order. */
static brine_status joblib_array(walker *w, pk_id id, const jl_array *ja)
{
    if (ja->kind != JL_INLINE)
        return UNSUPPORTED(w, id, "array %.200s: %s", w->path,
                           ja->kind == JL_OBJECT ? "joblib object array"
                                                 : "joblib array in a sidecar file");
    static const struct {
        char type;
        uint32_t size;
        const char *torch;
    } map[] = {{'b', 1, "bool"},      {'i', 1, "int8"},       {'i', 2, "int16"},
               {'i', 4, "int32"},     {'i', 8, "int64"},      {'u', 1, "uint8"},
               {'u', 2, "uint16"},    {'u', 4, "uint32"},     {'u', 8, "uint64"},
               {'f', 2, "float16"},   {'f', 4, "float32"},    {'f', 8, "float64"},
               {'c', 8, "complex64"}, {'c', 16, "complex128"}};
    const ld_dtype *dt = NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].type == ja->type && map[i].size == ja->itemsize)
            dt = ld_dtype_by_torch(map[i].torch);
    int64_t shape[LD_MAX_DIMS], strides[LD_MAX_DIMS];
    uint32_t nd = ja->ndim;
    for (uint32_t i = 0; i < ja->ndim && i < LD_MAX_DIMS; i++)
        shape[i] = (int64_t)ja->shape[i]; /* the hook kept count <= INT64_MAX */
    pk_id dtype = ja->type == 'V' ? wrapper_dtype(w, id) : 0;
    uint64_t count = ja->count;
    if (!dt && dtype && ja->ndim < LD_MAX_DIMS &&
        (dt = structured(w, dtype, shape, &nd, ja->fortran)) &&
        __builtin_mul_overflow(ja->count, (uint64_t)shape[nd - 1], &count))
        return BAD(w, id, "array %.200s: size overflows", w->path);
    if (!dt && w->descr_oom)
        return ERR_NOMEM(w->err);
    if (!dt || (nd == ja->ndim && dt->size != ja->itemsize) || ja->ndim > LD_MAX_DIMS)
        return UNSUPPORTED(w, id, "array %.200s: joblib array of numpy kind '%c' size %u", w->path,
                           ja->type, ja->itemsize);
    const pk_node *n = N(w, id);
    if (!(n->flags & PKF_SPLICED) || !ja->data)
        return BAD(w, id, "array %.200s: joblib data span lost", w->path);
    char key[48];
    int kl = snprintf(key, sizeof key, "joblib@%" PRIu64, ja->data_offset);
    size_t storage;
    brine_status st =
        add_storage(w, key, (size_t)kl, dt, count, ja->data, ja->data_len, 0, &storage);
    if (st)
        return st;
    w->s->storages[storage].big_endian = ja->big_endian;
    c_strides(shape, nd, ja->fortran, strides);
    return add_tensor(w, id, dt, storage, 0, shape, strides, nd);
}

/* If id rebuilds a tensor or array, collects it and returns 1 (or an error). */
static int tensor_call(walker *w, pk_id id, brine_status *st)
{
    const jl_array *ja = w->s->joblib ? jl_find(w->s->joblib, id) : NULL;
    if (ja) {
        *st = joblib_array(w, id, ja);
        return 1;
    }
    const char *fn = callee(w, id);
    if (!fn)
        return 0;
    if (is_rebuild_tensor(fn)) {
        *st = torch_tensor(w, id, fn, pk_args(N(w, id)) ? N(w, pk_args(N(w, id))) : NULL);
        return 1;
    }
    if (strcmp(fn, "torch._tensor._rebuild_from_type_v2") == 0) {
        /* (func, new_type, args, state): func(*args), then the type is applied */
        const pk_node *a = args_of(w, id, 4, 4);
        const char *f = a ? global_name(w, a->items[0]) : NULL;
        const char *type = a ? global_name(w, a->items[1]) : NULL;
        if (!is_rebuild_tensor(f) || !type ||
            (strcmp(type, "torch.Tensor") != 0 &&
             strcmp(type, "torch.nn.parameter.Parameter") != 0))
            *st =
                UNSUPPORTED(w, id, "_rebuild_from_type_v2 of something that is not a plain tensor");
        else
            *st = torch_tensor(w, id, f, N(w, a->items[2]));
        return 1;
    }
    if (strcmp(fn, "torch._utils._rebuild_parameter") == 0 ||
        strcmp(fn, "torch._utils._rebuild_parameter_with_state") == 0 ||
        strcmp(fn, "torch.nn.parameter.Parameter") == 0) {
        const pk_node *a = args_of(w, id, 1, 4);
        if (!a || !tensor_call(w, a->items[0], st))
            *st = BAD(w, id, "%s does not wrap a tensor", fn);
        return 1;
    }
    if (strcmp(fn, "numpy.core.multiarray._reconstruct") == 0 ||
        strcmp(fn, "numpy._core.multiarray._reconstruct") == 0) {
        *st = numpy_array(w, id);
        return 1;
    }
    if (strcmp(fn, "numpy.core.numeric._frombuffer") == 0 ||
        strcmp(fn, "numpy._core.numeric._frombuffer") == 0) {
        *st = numpy_frombuffer(w, id);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ the walk */

static brine_status walk(walker *w, pk_id id, json_t **out);

static size_t path_push(walker *w, const char *part, size_t n)
{
    size_t saved = w->plen;
    size_t room = sizeof w->path - 1 - w->plen;
    if (w->plen && room) {
        w->path[w->plen++] = '.';
        room--;
    }
    if (n > room)
        n = room;
    memcpy(w->path + w->plen, part, n);
    w->plen += n;
    w->path[w->plen] = '\0';
    return saved;
}

static void path_pop(walker *w, size_t saved)
{
    w->plen = saved;
    w->path[saved] = '\0';
}

static brine_status walk_child(walker *w, const char *part, size_t n, pk_id child, json_t **out)
{
    size_t saved = path_push(w, part, n);
    brine_status st = walk(w, child, out);
    path_pop(w, saved);
    return st;
}

/* ------------------------------------------------------------------ the config encoding */

/* The config is the value the pickle builds, tensors replaced by references, in the typed
 * JSON of docs/config.md: plain JSON where JSON says it exactly, {"__type__": T, ...} for the
 * rest, so that python/brine/checkpoint.py rebuilds the original object. */
static const char TYPE_KEY[] = "__type__";

/* A scan validates tensors but needs no config: every JSON value is then the static null, so
 * the walk allocates nothing outside the memory budget. */
#define JV(w, e) ((w)->s->want_config ? (e) : json_null())

/* Sets key on a config object; an allocation that fails is an error, never a lost value. */
static brine_status jset(walker *w, json_t *obj, const char *key, json_t *val)
{
    if (!w->s->want_config) {
        json_decref(val);
        return BRINE_OK;
    }
    return val && json_object_set_new(obj, key, val) == 0 ? BRINE_OK : ERR_NOMEM(w->err);
}

/* {"__type__": type}: the static null in a scan, NULL when memory ran out. */
static json_t *typed(walker *w, const char *type)
{
    return JV(w, json_pack("{s:s}", TYPE_KEY, type));
}

/* Appends val to arr (both ignored in a scan). */
static brine_status jappend(walker *w, json_t *arr, json_t *val)
{
    if (!w->s->want_config) {
        json_decref(val);
        return BRINE_OK;
    }
    return val && json_array_append_new(arr, val) == 0 ? BRINE_OK : ERR_NOMEM(w->err);
}

static json_t *hex_string(const uint8_t *p, uint64_t n)
{
    static const char digits[] = "0123456789abcdef";
    if (n > (SIZE_MAX - 1) / 2)
        return NULL;
    char *buf = malloc((size_t)n * 2 + 1);
    if (!buf)
        return NULL;
    for (uint64_t i = 0; i < n; i++) {
        buf[2 * i] = digits[p[i] >> 4];
        buf[2 * i + 1] = digits[p[i] & 15];
    }
    json_t *s = json_stringn(buf, (size_t)n * 2);
    free(buf);
    return s;
}

/* {"__type__": type, "hex": "…"}: every byte, in order (bytes, bytearray, odd text). */
static brine_status hex_value(walker *w, const char *type, const uint8_t *p, uint64_t n,
                              json_t **out)
{
    *out = typed(w, type);
    if (!w->s->want_config)
        return BRINE_OK;
    if (!*out)
        return ERR_NOMEM(w->err);
    return jset(w, *out, "hex", hex_string(p, n));
}

/* The decimal text of a little-endian two's-complement integer (LONG1/LONG4), by repeated
 * division by 10^9: quadratic, so the caller bounds n. */
static json_t *decimal_of_le(const uint8_t *p, uint64_t n)
{
    int neg = n && (p[n - 1] & 0x80);
    size_t nw = (size_t)(n + 3) / 4;
    uint32_t *mag = calloc(nw ? nw : 1, sizeof *mag);
    char *text = malloc((size_t)n * 3 + 3); /* 256^n < 10^(2.41 n) */
    json_t *out = NULL;
    if (!mag || !text)
        goto done;
    for (uint64_t i = 0; i < n; i++)
        mag[i / 4] |= (uint32_t)(uint8_t)(neg ? ~p[i] : p[i]) << (8 * (i % 4));
    for (size_t i = 0; neg && i < nw && ++mag[i] == 0; i++) /* ~x + 1 */
        ;
    while (nw && !mag[nw - 1])
        nw--;
    size_t nd = 0;
    do {
        uint64_t rem = 0;
        for (size_t i = nw; i-- > 0;) {
            uint64_t cur = (rem << 32) | mag[i];
            mag[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (nw && !mag[nw - 1])
            nw--;
        for (int k = 0; k < 9; k++) { /* nine digits a chunk, but none past the leading one */
            text[nd++] = (char)('0' + rem % 10);
            rem /= 10;
            if (!nw && !rem)
                break;
        }
    } while (nw);
    if (neg)
        text[nd++] = '-';
    for (size_t i = 0; i < nd / 2; i++) {
        char c = text[i];
        text[i] = text[nd - 1 - i];
        text[nd - 1 - i] = c;
    }
    out = json_stringn(text, nd);
done:
    free(mag);
    free(text);
    return out;
}

/* An int past int64: {"__type__": "int", "value": "decimal"}; one of more than 1024 bytes
 * (which would be slow to convert) as {"__type__": "int", "le_hex": two's complement}. */
static brine_status bigint_value(walker *w, const pk_node *n, json_t **out)
{
    *out = typed(w, "int");
    if (!w->s->want_config)
        return BRINE_OK;
    if (!*out)
        return ERR_NOMEM(w->err);
    if (!(n->flags & PKF_BIGTEXT))
        return n->v.s.len > 1024 ? jset(w, *out, "le_hex", hex_string(n->v.s.p, n->v.s.len))
                                 : jset(w, *out, "value", decimal_of_le(n->v.s.p, n->v.s.len));
    /* Python int() text: the sign and the digits (no '_', blanks or a trailing L) */
    char *buf = malloc((size_t)n->v.s.len + 1);
    size_t k = 0;
    for (uint64_t i = 0; buf && i < n->v.s.len; i++) {
        uint8_t c = n->v.s.p[i];
        if (c == '-' || (c >= '0' && c <= '9'))
            buf[k++] = (char)c;
    }
    json_t *v = buf ? json_stringn(buf, k) : NULL;
    free(buf);
    return jset(w, *out, "value", v);
}

static brine_status walk_node(walker *w, pk_id id, json_t **out);

/* Every visit of a node is counted: shared references (GET of a container) are walked once per
 * path, so a billion-laughs graph of a few hundred bytes would expand without this cap. */
static brine_status walk(walker *w, pk_id id, json_t **out)
{
    *out = NULL;
    w->repeat_visits += w->repeating != 0;
    if (++w->visits > w->max_visits) {
        if (w->max_visits == w->s->lim->max_nodes)
            return err_limit(w->err, "max_nodes", w->max_visits, w->visits,
                             pk_offset(w->g, N(w, id)), 1, __LINE__);
        err_limit(w->err, "max_expansion", w->max_visits, w->visits, pk_offset(w->g, N(w, id)), 1,
                  __LINE__);
        if (w->err)
            snprintf(w->err->msg, sizeof w->err->msg,
                     "the object graph expands to more than %llu paths, about four times its "
                     "%llu nodes and references (shared tuples within tuples): brine does not "
                     "write it out",
                     (unsigned long long)w->max_visits, (unsigned long long)w->size);
        return BRINE_ERR_LIMIT;
    }
    brine_status st = walk_node(w, id, out);
    if (st) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

/* Dict contents: key/value pairs from items (SETITEMS) or, for OrderedDict([(k, v), …]), from
 * a list of pairs, appended to pairs as [key, value]. *plain is cleared when a key is not
 * text (or holds a NUL) or is the reserved "__type__": the dict then needs the typed form.
 * Tensor names join the keys as before: text, an int's digits, else "key<i>". */
static brine_status walk_pairs(walker *w, const pk_node *src, uint32_t count, int as_list,
                               json_t *pairs, int *plain)
{
    for (uint32_t i = 0; i < count; i += as_list ? 1 : 2) {
        pk_id k, v;
        if (as_list) {
            const pk_node *pair = N(w, src->items[i]);
            if ((pair->kind != K_TUPLE && pair->kind != K_LIST) || pair->count != 2)
                return err_set(w->err, BRINE_ERR_MALFORMED, __LINE__, "dict item is not a pair");
            k = pair->items[0];
            v = pair->items[1];
        } else {
            if (i + 1 >= count)
                break;
            k = src->items[i];
            v = src->items[i + 1];
        }
        const pk_node *kn = N(w, k);
        char buf[64];
        const char *part = buf;
        size_t n;
        json_t *key = NULL;
        brine_status st = BRINE_OK;
        /* a key with a NUL byte cannot be part of a C-string name: named by position, as a
         * key that is not text */
        if (is_text(kn) && pk_utf8_valid(kn->v.s.p, kn->v.s.len, 0) &&
            !memchr(kn->v.s.p, 0, (size_t)kn->v.s.len)) {
            part = (const char *)kn->v.s.p;
            n = (size_t)kn->v.s.len;
            if (n == sizeof TYPE_KEY - 1 && memcmp(part, TYPE_KEY, n) == 0)
                *plain = 0;
            if (w->s->want_config && !(key = json_stringn(part, n)))
                return ERR_NOMEM(w->err);
        } else {
            *plain = 0;
            if (kn->kind == K_INT)
                n = (size_t)snprintf(buf, sizeof buf, "%" PRId64, pk_int(w->g, k));
            else
                n = (size_t)snprintf(buf, sizeof buf, "key%u", i);
            if ((st = walk(w, k, &key)))
                return st;
        }
        json_t *val = NULL;
        if ((st = walk_child(w, part, n, v, &val))) {
            json_decref(key);
            return st;
        }
        if (!w->s->want_config)
            continue;
        json_t *pair = json_pack("[oo]", key, val); /* takes key and val, even on failure */
        if ((st = jappend(w, pairs, pair)))
            return st;
    }
    return BRINE_OK;
}

/* A dict from its pairs (taken): a plain object when plain, else
 * {"__type__": "dict", "items": [[key, value], …]}. */
static brine_status dict_value(walker *w, json_t *pairs, int plain, json_t **out)
{
    *out = NULL;
    if (!w->s->want_config) {
        *out = json_null();
        return BRINE_OK;
    }
    if (!plain) {
        if (!(*out = typed(w, "dict"))) {
            json_decref(pairs);
            return ERR_NOMEM(w->err);
        }
        return jset(w, *out, "items", pairs);
    }
    *out = json_object();
    size_t i;
    json_t *pair;
    int bad = !*out;
    json_array_foreach(pairs, i, pair)
    {
        if (bad)
            break;
        /* a repeated key keeps its first place and its last value, as a Python dict */
        bad = json_object_set(*out, json_string_value(json_array_get(pair, 0)),
                              json_array_get(pair, 1)) != 0;
    }
    json_decref(pairs);
    return bad ? ERR_NOMEM(w->err) : BRINE_OK;
}

/* The items of a list, tuple or set, as a JSON array. */
static brine_status walk_items(walker *w, const pk_node *n, json_t **arr)
{
    *arr = JV(w, json_array());
    if (!*arr)
        return ERR_NOMEM(w->err);
    brine_status st = BRINE_OK;
    for (uint32_t i = 0; i < n->count && !st; i++) {
        char idx[16];
        int k = snprintf(idx, sizeof idx, "%u", i);
        json_t *v = NULL;
        if (!(st = walk_child(w, idx, (size_t)k, n->items[i], &v)))
            st = jappend(w, *arr, v);
    }
    if (st) {
        json_decref(*arr);
        *arr = NULL;
    }
    return st;
}

/* {"__type__": type, "items": […]} */
static brine_status items_value(walker *w, const char *type, const pk_node *n, json_t **out)
{
    json_t *items = NULL;
    brine_status st = walk_items(w, n, &items);
    if (st)
        return st;
    if (!(*out = typed(w, type))) {
        json_decref(items);
        return ERR_NOMEM(w->err);
    }
    return jset(w, *out, "items", items);
}

/* OrderedDict(pairs or dict) / Counter(dict) / dict(…) called by REDUCE, then SETITEMS: the
 * merged contents as a dict value. Returns 0 when the call has another shape (the caller
 * then keeps it as a generic object). */
static int dict_call(walker *w, pk_id id, brine_status *st, json_t **dict)
{
    const pk_node *n = N(w, id);
    const pk_node *a = n->kind == K_CALL ? args_of(w, id, 0, 1) : NULL;
    const pk_node *init = a && a->count == 1 ? N(w, a->items[0]) : NULL;
    if (!a || (init && init->kind != K_LIST && init->kind != K_TUPLE && init->kind != K_DICT))
        return 0;
    json_t *pairs = JV(w, json_array());
    int plain = 1;
    *st = pairs ? BRINE_OK : ERR_NOMEM(w->err);
    if (!*st && init)
        *st = walk_pairs(w, init, init->count, init->kind != K_DICT, pairs, &plain);
    if (!*st)
        *st = walk_pairs(w, n, n->count, 0, pairs, &plain);
    if (!*st)
        *st = dict_value(w, pairs, plain, dict);
    else
        json_decref(pairs);
    return 1;
}

/* Any other allowlisted call: {"__type__": "object", "callee": "module.name", "how":
 * "reduce"|"newobj"|"inst", "args": […], "kwargs": {…}, "items": […]} (BUILD state is added by
 * the caller). The rebuilder constructs only names in its own fixed table. */
static brine_status object_value(walker *w, pk_id id, const char *fn, json_t **out)
{
    const pk_node *n = N(w, id);
    if (!(*out = typed(w, "object")))
        return ERR_NOMEM(w->err);
    const char *how = n->kind == K_NEWOBJ ? "newobj" : n->kind == K_INST ? "inst" : "reduce";
    brine_status st = jset(w, *out, "how", JV(w, json_string(how)));
    json_t *v = NULL;
    if (!st) {
        if (fn)
            st = jset(w, *out, "callee", JV(w, json_string(fn)));
        else if (!(st = walk(w, n->a, &v)))
            st = jset(w, *out, "callee", v);
    }
    if (!st && pk_args(n) && !(st = walk(w, pk_args(n), &v))) {
        /* an argument tuple is written as its items ([…], not a typed tuple) */
        const char *type = json_string_value(json_object_get(v, TYPE_KEY));
        json_t *items = w->s->want_config && N(w, pk_args(n))->kind == K_TUPLE && type &&
                                strcmp(type, "tuple") == 0
                            ? json_object_get(v, "items")
                            : NULL;
        if (items) {
            json_incref(items);
            json_decref(v);
            v = items;
        }
        st = jset(w, *out, "args", v);
    }
    if (!st && n->kind == K_NEWOBJ && pk_kwargs(w->g, n) && !(st = walk(w, pk_kwargs(w->g, n), &v)))
        st = jset(w, *out, "kwargs", v);
    if (!st && n->count && !(st = walk_items(w, n, &v)))
        st = jset(w, *out, "items", v);
    return st;
}

/* {"__type__": "tensor" or "ndarray", "name": …} with what torch.load would set on it. */
static brine_status tensor_value(walker *w, pk_id id, json_t **out)
{
    const char *fn = callee(w, id);
    int numpy =
        (w->s->joblib && jl_find(w->s->joblib, id)) || (fn && strncmp(fn, "numpy.", 6) == 0);
    if (!(*out = typed(w, numpy ? "ndarray" : "tensor")))
        return ERR_NOMEM(w->err);
    const ld_tensor *t = &w->s->tensors[w->s->n_tensors - 1];
    brine_status st = jset(w, *out, "name", JV(w, json_string(t->name)));
    if (!st && numpy && w->s->storages[t->storage].big_endian) /* safetensors holds it swapped */
        st = jset(w, *out, "byteorder", JV(w, json_string(">")));
    if (!st && numpy && w->descr) { /* a structured array: its records are the last dimension */
        st = jset(w, *out, "descr", w->descr);
        w->descr = NULL;
    }
    if (st || numpy || !fn)
        return st;
    /* requires_grad: _rebuild_parameter(data, requires_grad, hooks), _rebuild_tensor_v2/v3
     * (storage, offset, size, stride, requires_grad, hooks, …) */
    int param = strcmp(fn, "torch._utils._rebuild_parameter") == 0 ||
                strcmp(fn, "torch._utils._rebuild_parameter_with_state") == 0 ||
                strcmp(fn, "torch.nn.parameter.Parameter") == 0;
    const pk_node *a = pk_args(N(w, id)) ? N(w, pk_args(N(w, id))) : NULL;
    uint32_t at = param ? 1 : 4;
    int grad = param; /* Parameter(data) requires grad */
    if (a && a->kind == K_TUPLE && a->count > at && N(w, a->items[at])->kind == K_BOOL)
        grad = (int)N(w, a->items[at])->v.i;
    if (param)
        st = jset(w, *out, "parameter", JV(w, json_true()));
    if (!st && grad)
        st = jset(w, *out, "requires_grad", JV(w, json_true()));
    return st;
}

/* An object array — numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD (1, shape,
 * dtype('O8'), fortran, [items in C order]) — in a load: {"__type__": "ndarray", "dtype":
 * "object", "shape": [...], "items": [...]}, each item walked as any value (a gradient
 * boosting's estimators_ holds its trees so). 1 when id is one (st set), else 0. */
static int object_array(walker *w, pk_id id, brine_status *st, json_t **out)
{
    const char *fn = callee(w, id);
    if (!w->s->want_config || !fn ||
        (strcmp(fn, "numpy.core.multiarray._reconstruct") != 0 &&
         strcmp(fn, "numpy._core.multiarray._reconstruct") != 0))
        return 0;
    const pk_node *state = pk_state(w->g, N(w, id)) ? N(w, pk_state(w->g, N(w, id))) : NULL;
    if (!state || state->kind != K_TUPLE || state->count != 5)
        return 0;
    const char *dc = callee(w, state->items[2]);
    const pk_node *da =
        dc && strcmp(dc, "numpy.dtype") == 0 ? args_of(w, state->items[2], 1, 3) : NULL;
    const pk_node *list = N(w, state->items[4]);
    int64_t shape[LD_MAX_DIMS];
    uint32_t nd;
    uint64_t numel;
    if (!da || (!text_eq(N(w, da->items[0]), "O8") && !text_eq(N(w, da->items[0]), "O4")) ||
        list->kind != K_LIST || pk_state(w->g, list) ||
        !int_tuple(w, state->items[1], shape, &nd) || shape_numel(shape, nd, &numel) ||
        numel != list->count)
        return 0;
    json_t *dims = NULL, *items = NULL;
    *st = (*out = typed(w, "ndarray")) ? jset(w, *out, "dtype", json_string("object"))
                                       : ERR_NOMEM(w->err);
    if (!*st)
        *st = (dims = json_array()) ? jset(w, *out, "shape", dims) : ERR_NOMEM(w->err);
    for (uint32_t i = 0; i < nd && !*st; i++)
        *st = jappend(w, dims, json_integer((json_int_t)shape[i]));
    w->on_path[w->depth++] = id;
    if (!*st && !(*st = walk_items(w, list, &items)))
        *st = jset(w, *out, "items", items);
    w->depth--;
    if (*st) {
        json_decref(*out);
        *out = NULL;
    }
    return 1;
}

static brine_status walk_value(walker *w, pk_id id, json_t **out)
{
    const pk_node *n = N(w, id);
    *out = NULL;
    if (w->depth >= w->s->lim->max_depth || w->depth >= sizeof w->on_path / sizeof w->on_path[0])
        return err_limit(w->err, "max_depth", w->s->lim->max_depth, w->depth + 1,
                         pk_offset(w->g, n), 1, __LINE__);
    brine_status st = BRINE_OK;
    size_t before = w->s->n_tensors;
    if (object_array(w, id, &st, out))
        return st;
    if (tensor_call(w, id, &st)) {
        if (!st && w->s->n_tensors > before)
            st = tensor_value(w, id, out);
        const char *fn = callee(w, id);
        const pk_node *qa =
            fn && strcmp(fn, "torch._utils._rebuild_qtensor") == 0 ? args_of(w, id, 7, 7) : NULL;
        if (!st && *out && qa) {
            /* the quantizer (scheme, scales, zero points, axis) travels with the tensor */
            json_t *qparams = NULL;
            if (!(st = walk_child(w, "__qparams__", 11, qa->items[4], &qparams)))
                st = jset(w, *out, "qparams", qparams);
        }
        if (!st && !*out)
            st = ERR_NOMEM(w->err);
        return st;
    }
    w->on_path[w->depth++] = id;
    const char *fn = callee(w, id);
    const uint8_t *bp;
    uint64_t blen;
    size_t bowned;
    int got, plain = !pk_state(w->g, n);
    json_t *pairs, *dict = NULL;
    switch (n->kind) {
    case K_NONE: *out = json_null(); break; /* a static singleton: no allocation */
    case K_BOOL: *out = JV(w, json_boolean(n->v.i)); break;
    case K_INT: *out = JV(w, json_integer((json_int_t)pk_int(w->g, id))); break;
    case K_FLOAT: { /* JSON has no NaN or infinities */
        double d = pk_float(w->g, id);
        if (d == d && d <= 1.7976931348623157e308 && d >= -1.7976931348623157e308)
            *out = JV(w, json_real(d));
        else if ((*out = typed(w, "float")))
            st = jset(w, *out, "value",
                      JV(w, json_string(d != d  ? "nan"
                                        : d > 0 ? "inf"
                                                : "-inf")));
        break;
    }
    case K_BIGINT: st = bigint_value(w, n, out); break;
    case K_STR:
    case K_PYSTR:
        /* text that is not strict UTF-8 (lone surrogates, Python 2 bytes) keeps its bytes */
        if (pk_utf8_valid(n->v.s.p, n->v.s.len, 0))
            *out = JV(w, json_stringn((const char *)n->v.s.p, (size_t)n->v.s.len));
        else
            st = hex_value(w, n->kind == K_STR ? "str" : "pystr", n->v.s.p, n->v.s.len, out);
        break;
    case K_BYTES:
    case K_BYTEARRAY:
        st = hex_value(w, n->kind == K_BYTES ? "bytes" : "bytearray", n->v.s.p, n->v.s.len, out);
        break;
    case K_GLOBAL:
        if ((*out = typed(w, "global")))
            st = jset(w, *out, "name", JV(w, json_string(w->g->globals[n->v.g.global].full)));
        break;
    case K_DICT:
        if (!(pairs = JV(w, json_array())))
            break;
        if (!(st = walk_pairs(w, n, n->count, 0, pairs, &plain)))
            st = dict_value(w, pairs, plain, out);
        else
            json_decref(pairs);
        break;
    case K_LIST:
        if (!pk_state(w->g, n))
            st = walk_items(w, n, out);
        else
            st = items_value(w, "list", n, out);
        break;
    case K_TUPLE: st = items_value(w, "tuple", n, out); break;
    case K_SET: st = items_value(w, "set", n, out); break;
    case K_FROZENSET: st = items_value(w, "frozenset", n, out); break;
    case K_EXT:
        if ((*out = typed(w, "ext")))
            st = jset(w, *out, "code", JV(w, json_integer((json_int_t)n->v.i)));
        break;
    case K_BUFFER: *out = typed(w, "buffer"); break;
    case K_PERSID:
        if ((*out = typed(w, "persid")) && !(st = walk(w, n->a, &dict)))
            st = jset(w, *out, "pid", dict);
        break;
    default:
        if (fn && strcmp(fn, "_codecs.encode") == 0 &&
            (got = pickled_bytes(w, id, &bp, &blen, &bowned)) != 0) {
            if (got < 0) {
                st = ERR_NOMEM(w->err);
            } else {
                st = hex_value(w, "bytes", bp, blen, out);
                if (bowned)
                    mem_free(w->s->mem, (void *)bp, bowned);
            }
        } else if (fn && strcmp(fn, "builtins.dict") == 0 && !pk_state(w->g, n) &&
                   dict_call(w, id, &st, out)) {
            /* dict(…) is a plain dict */
        } else if (fn &&
                   (strcmp(fn, "collections.OrderedDict") == 0 ||
                    strcmp(fn, "collections.Counter") == 0) &&
                   dict_call(w, id, &st, &dict)) {
            if (st || !(*out = typed(w, fn)))
                json_decref(dict);
            else
                st = jset(w, *out, "value", dict);
        } else {
            st = object_value(w, id, fn, out);
        }
        break;
    }
    /* BUILD state (a state_dict's _metadata, an object's __dict__): kept, not lost */
    if (!st && pk_state(w->g, n) && *out && w->s->want_config && json_is_object(*out) &&
        json_object_get(*out, TYPE_KEY) && !json_object_get(*out, "state")) {
        json_t *state = NULL;
        if (!(st = walk_child(w, "__state__", 9, pk_state(w->g, n), &state)))
            st = jset(w, *out, "state", state);
    } else if (!st && pk_state(w->g, n) && !w->s->want_config) {
        json_t *state = NULL;
        st = walk_child(w, "__state__", 9, pk_state(w->g, n), &state);
    }
    w->depth--;
    if (!st && !*out)
        st = ERR_NOMEM(w->err);
    return st;
}

/* Values with an identity (lists, dicts, sets, objects, tensors) reached from two places in
 * the graph (one object under two keys, tied weights, a container that holds itself): the
 * first carries "id", later ones refer to it, so the rebuilt object has the same sharing. */
static int has_identity(walker *w, pk_id id)
{
    const pk_node *n = N(w, id);
    if (n->kind == K_LIST || n->kind == K_DICT || n->kind == K_SET)
        return 1;
    const char *fn = callee(w, id);
    return (n->kind == K_CALL || n->kind == K_NEWOBJ || n->kind == K_INST) &&
           !(fn && strcmp(fn, "_codecs.encode") == 0);
}

/* The first occurrence of a shared value: its typed form with "id" (a plain list or dict
 * takes the typed form for it). */
static brine_status with_id(walker *w, pk_id id, json_t **out)
{
    json_t *v = *out;
    if (json_is_array(v) || (json_is_object(v) && !json_object_get(v, TYPE_KEY))) {
        json_t *items = v;
        const char *type = json_is_array(v) ? "list" : "dict";
        if (json_is_object(v)) { /* a plain dict as [key, value] pairs */
            const char *k;
            json_t *x;
            int bad = !(items = json_array());
            json_object_foreach(v, k, x)
            {
                if (bad)
                    break;
                bad = json_array_append_new(items, json_pack("[sO]", k, x)) != 0;
            }
            json_decref(v);
            if (bad) {
                json_decref(items);
                *out = NULL;
                return ERR_NOMEM(w->err);
            }
        }
        *out = json_pack("{s:s,s:o}", TYPE_KEY, type, "items", items);
        if (!*out)
            return ERR_NOMEM(w->err);
    }
    return jset(w, *out, "id", json_integer((json_int_t)id));
}

/* A later occurrence: {"__type__": "ref", "id": …, "value": the same contents again, for
 * readers that do not resolve references}; a tensor keeps its own name and says "same_as". */
static brine_status as_ref(walker *w, pk_id id, json_t **out)
{
    const char *type = json_string_value(json_object_get(*out, TYPE_KEY));
    if (type && (strcmp(type, "tensor") == 0 || strcmp(type, "ndarray") == 0))
        return jset(w, *out, "same_as", json_integer((json_int_t)id));
    json_t *ref = json_pack("{s:s,s:I,s:o}", TYPE_KEY, "ref", "id", (json_int_t)id, "value", *out);
    *out = ref;
    return ref ? BRINE_OK : ERR_NOMEM(w->err);
}

enum { MK_SEEN = 1, MK_SHARED = 2, MK_EMITTED = 4 };

static brine_status walk_node(walker *w, pk_id id, json_t **out)
{
    *out = NULL;
    for (unsigned i = 0; i < w->depth; i++)
        if (w->on_path[i] == id) {
            /* a container that holds itself: a reference to the enclosing value */
            *out = typed(w, "ref");
            return !w->s->want_config ? BRINE_OK
                   : *out             ? jset(w, *out, "id", json_integer((json_int_t)id))
                                      : ERR_NOMEM(w->err);
        }
    uint8_t *mk = w->marks && !pk_is_small(id) ? &w->marks[id] : NULL;
    if (!mk || !(*mk & MK_SHARED) || !has_identity(w, id))
        return walk_value(w, id, out);
    int again = (*mk & MK_EMITTED) != 0;
    if (again && w->repeat_visits >= w->repeat_budget) {
        /* A graph that shares containers within containers (a few hundred bytes can expand
         * to millions of paths) stops repeating them: the reference alone, resolved by id as
         * for a recursive one; tensors below keep the names of their first path only. */
        if (!w->s->want_config)
            return BRINE_OK;
        *out = typed(w, "ref");
        return *out ? jset(w, *out, "id", json_integer((json_int_t)id)) : ERR_NOMEM(w->err);
    }
    *mk |= MK_EMITTED;
    w->repeating += (unsigned)again;
    brine_status st = walk_value(w, id, out);
    w->repeating -= (unsigned)again;
    if (st || !w->s->want_config)
        return st;
    return again ? as_ref(w, id, out) : with_id(w, id, out);
}

/* Marks the nodes reachable from root that are reached through more than one edge (the root
 * counts one), by an explicit-stack pass that pushes each node once. */
static brine_status mark_shared(walker *w, pk_id root)
{
    const pk_graph *g = w->g;
    mem_budget *mem = w->s->mem;
    pk_id *stack = mem_alloc(mem, g->n_nodes * sizeof *stack + 1);
    if (!(w->marks = mem_calloc(mem, g->n_nodes + 1, 1)) || !stack) {
        mem_free(mem, stack, stack ? g->n_nodes * sizeof *stack + 1 : 0);
        return ERR_NOMEM(w->err);
    }
    size_t top = 0;
    w->marks[root] = MK_SEEN;
    stack[top++] = root;
    while (top) {
        const pk_node *n = N(w, stack[--top]);
        pk_id calls[3] = {0, 0, 0};
        if (n->kind == K_CALL || n->kind == K_NEWOBJ || n->kind == K_INST || n->kind == K_PERSID) {
            calls[0] = n->a;
            calls[1] = pk_args(n);
            calls[2] = pk_kwargs(w->g, n);
        }
        for (uint32_t i = 0; i < n->count + 4u; i++) {
            pk_id c = i < n->count       ? (n->items ? n->items[i] : 0)
                      : i - n->count < 3 ? calls[i - n->count]
                                         : pk_state(w->g, n);
            if (!c)
                continue;
            w->edges++; /* a small int too: a value the walk visits */
            if (pk_is_small(c) || c >= g->n_nodes)
                continue;
            if (w->marks[c] & MK_SEEN) {
                w->marks[c] |= MK_SHARED;
            } else {
                w->marks[c] = MK_SEEN;
                stack[top++] = c;
            }
        }
    }
    mem_free(mem, stack, g->n_nodes * sizeof *stack + 1);
    return BRINE_OK;
}

brine_status ld_collect(ld_set *s, const pk_graph *g, pk_id root, brine_error *err)
{
    walker *w = mem_calloc(s->mem, 1, sizeof *w);
    if (!w)
        return ERR_NOMEM(err);
    w->s = s;
    w->g = g;
    w->err = err;
    s->g = g;
    json_t *config = NULL;
    brine_status st = root < g->n_nodes ? mark_shared(w, root) : BRINE_OK;
    /* A tree visits each node once. A shared list, dict, set or object is written again at each
     * later path (its contents repeated for readers that do not resolve references, its
     * tensors named once per path) while those repeats stay within twice the graph's size,
     * then as a bare reference (F15: 177 bytes of nested lists made 4 M visits, 9.7 GB of
     * config). Values without identity (tuples, strings) are always repeated; the walk stops
     * at four times the graph, and never past max_nodes. */
    w->size = (uint64_t)g->n_nodes + w->edges;
    w->repeat_budget = 2 * w->size + (UINT64_C(1) << 12);
    w->max_visits = 4 * w->size + (UINT64_C(1) << 17);
    if (w->max_visits > s->lim->max_nodes)
        w->max_visits = s->lim->max_nodes;
    if (!st)
        st = walk(w, root, &config);
    mem_free(s->mem, w->marks, w->marks ? g->n_nodes + 1 : 0);
    json_decref(w->descr);
    mem_free(s->mem, w, sizeof *w);
    if (st) {
        json_decref(config);
        return st;
    }
    s->config = config;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ reading */

int ld_tensor_contiguous(const ld_set *s, const ld_tensor *t)
{
    const ld_storage *st = &s->storages[t->storage];
    if (st->big_endian && t->dtype->size > 1)
        return 0;
    int64_t expect = 1;
    for (uint32_t k = t->ndim; k-- > 0;) {
        if (t->shape[k] != 1 && t->strides[k] != expect)
            return 0;
        expect *= t->shape[k];
    }
    return 1;
}

/* One element from big-endian to little-endian; complex numbers swap each half. */
static void swap_element(uint8_t *p, const ld_dtype *dt)
{
    uint32_t part = dt->st_name[0] == 'C' ? dt->size / 2 : dt->size;
    for (uint32_t base = 0; base < dt->size; base += part)
        for (uint32_t i = 0; i < part / 2; i++) {
            uint8_t tmp = p[base + i];
            p[base + i] = p[base + part - 1 - i];
            p[base + part - 1 - i] = tmp;
        }
}

brine_status ld_tensor_read_range(const ld_set *s, const ld_tensor *t, uint64_t first,
                                  uint64_t count, uint8_t *dst, brine_error *err)
{
    if (first > t->numel || count > t->numel - first)
        return err_set(err, BRINE_ERR_USAGE, __LINE__,
                       "elements %" PRIu64 "+%" PRIu64 " past a %" PRIu64 "-element tensor", first,
                       count, t->numel);
    if (!count)
        return BRINE_OK;
    const ld_storage *st = &s->storages[t->storage];
    uint32_t size = t->dtype->size;
    const uint8_t *base = st->data + (uint64_t)t->offset * size;
    if (ld_tensor_contiguous(s, t)) {
        memcpy(dst, base + first * size, (size_t)(count * size));
        return BRINE_OK;
    }
    /* strided copy in C order with an index odometer started at element `first`; bounds were
     * checked when the tensor was collected */
    int64_t idx[LD_MAX_DIMS] = {0};
    uint64_t rest = first;
    for (uint32_t k = t->ndim; k-- > 0;) {
        idx[k] = (int64_t)(rest % (uint64_t)t->shape[k]);
        rest /= (uint64_t)t->shape[k];
    }
    uint64_t o = 0;
    for (uint64_t e = 0; e < count; e++) {
        uint64_t off = 0;
        for (uint32_t k = 0; k < t->ndim; k++)
            off += (uint64_t)idx[k] * (uint64_t)t->strides[k];
        memcpy(dst + o, base + off * size, size);
        if (st->big_endian)
            swap_element(dst + o, t->dtype);
        o += size;
        for (uint32_t k = t->ndim; k-- > 0;) {
            if (++idx[k] < t->shape[k])
                break;
            idx[k] = 0;
        }
    }
    return BRINE_OK;
}

brine_status ld_tensor_read(const ld_set *s, const ld_tensor *t, uint8_t *dst, uint64_t len,
                            brine_error *err)
{
    uint64_t need = t->numel * t->dtype->size;
    if (len != need)
        return err_set(err, BRINE_ERR_USAGE, __LINE__,
                       "buffer of %" PRIu64 " bytes for a %" PRIu64 "-byte tensor", len, need);
    return ld_tensor_read_range(s, t, 0, t->numel, dst, err);
}

brine_status ld_add_array(ld_set *s, const char *name, const ld_dtype *dt, uint32_t ndim,
                          const int64_t *shape, int fortran, int big_endian, const uint8_t *data,
                          uint64_t nbytes, brine_error *err)
{
    if (ndim > LD_MAX_DIMS)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__, "array %.200s has %u dimensions", name,
                       ndim);
    walker w;
    memset(&w, 0, sizeof w);
    w.s = s;
    w.err = err;
    pk_graph none;
    memset(&none, 0, sizeof none);
    pk_node zero;
    memset(&zero, 0, sizeof zero);
    none.nodes = &zero; /* add_tensor reports offsets through node 0 */
    none.n_nodes = 1;
    w.g = &none;
    size_t n = strlen(name);
    if (n >= sizeof w.path)
        return err_set(err, BRINE_ERR_LIMIT, __LINE__, "array name longer than %zu bytes",
                       sizeof w.path - 1);
    memcpy(w.path, name, n + 1);
    w.plen = n;
    int64_t strides[LD_MAX_DIMS];
    uint64_t numel;
    for (uint32_t i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return err_set(err, BRINE_ERR_MALFORMED, __LINE__, "array %.200s: negative dimension",
                           name);
    if (shape_numel(shape, ndim, &numel))
        return err_set(err, BRINE_ERR_MALFORMED, __LINE__, "array %.200s: shape overflows", name);
    c_strides(shape, ndim, fortran, strides);
    char key[32];
    int kl = snprintf(key, sizeof key, "a%zu", s->n_tensors);
    size_t index;
    brine_status st = add_storage(&w, key, (size_t)kl, dt, numel, data, nbytes, 0, &index);
    if (st)
        return st;
    s->storages[index].big_endian = big_endian && dt->size > 1;
    return add_tensor(&w, 0, dt, index, 0, shape, strides, ndim);
}

char *ld_json_dump(const json_t *doc, size_t flags)
{
    char *text = json_dumps(doc, flags);
    if (!text)
        return NULL;
    json_t *back = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    int same = back && json_equal(back, doc);
    json_decref(back);
    if (!same) {
        free(text);
        return NULL;
    }
    return text;
}
