/*
 * tensors.h — the tensor pass: finds the tensors and arrays in a judged object graph and the
 * plain values around them, the way torch.load(weights_only=True) and numpy would rebuild
 * them — but by brine's own code, with every argument validated, nothing imported.
 */
#ifndef BRINE_LOAD_TENSORS_H
#define BRINE_LOAD_TENSORS_H

#include <jansson.h>

#include "brine.h"
#include "core/alloc.h"
#include "core/hashmap.h"
#include "formats/joblib.h"
#include "pickle/machine.h"

enum { LD_MAX_DIMS = 64 };

/* Element types, with their safetensors spelling. */
typedef struct ld_dtype {
    const char *st_name;    /* "F32" */
    const char *torch_name; /* "float32" */
    uint32_t size;          /* bytes per element */
} ld_dtype;

const ld_dtype *ld_dtype_by_torch(const char *torch_name);
const ld_dtype *ld_dtype_by_st(const char *st_name);

/* A storage: bytes in the file (or decoded from it) holding numel elements. */
typedef struct ld_storage {
    char *key;
    const ld_dtype *dtype;
    uint64_t numel;
    const uint8_t *data; /* NULL until resolved */
    uint64_t nbytes;
    int big_endian; /* stored big-endian: swapped when read */
    size_t owned;   /* allocation size of data when brine allocated it, else 0 */
} ld_storage;

typedef struct ld_tensor {
    char *name; /* nested keys and indices joined with '.' */
    const ld_dtype *dtype;
    uint32_t ndim;
    int64_t *shape;
    int64_t *strides; /* in elements */
    int64_t offset;   /* in elements, into the storage */
    size_t storage;   /* index into the storage table */
    uint64_t numel;
} ld_tensor;

/* Resolves a torch storage reference (persistent id key) to bytes. Return 0 on success. */
typedef int (*ld_resolve_fn)(void *ctx, ld_storage *s, brine_error *err);

typedef struct ld_set {
    mem_budget *mem;
    const brine_limits *lim;
    ld_storage *storages;
    size_t n_storages, cap_storages;
    hmap storage_index; /* key → index into storages: one lookup per reference, not a scan */
    ld_tensor *tensors;
    size_t n_tensors, cap_tensors;
    json_t *config;  /* the non-tensor values, tensors replaced by {"__tensor__": name} */
    int want_config; /* 0: validate tensors only, build no JSON (scans) */
    ld_resolve_fn resolve;
    void *resolve_ctx;
    const pk_graph *g;
    const jl_ctx *joblib; /* arrays joblib's build hook read from the stream, or NULL: their
                           * wrapper nodes become tensors (set it before ld_collect) */
} ld_set;

void ld_set_init(ld_set *s, mem_budget *mem, const brine_limits *lim, ld_resolve_fn resolve,
                 void *ctx);
void ld_set_free(ld_set *s);

/* Walks the value root of g, collecting tensors (torch rebuild calls, numpy arrays) and the
 * config. Fails with BRINE_ERR_MALFORMED naming the tensor when an argument is invalid
 * (unknown dtype, negative size, view outside its storage, storage smaller than declared). */
brine_status ld_collect(ld_set *s, const pk_graph *g, pk_id root, brine_error *err);

/* Adds an array whose bytes are already in memory, in C order or (fortran) Fortran order,
 * stored little- or big-endian (swapped when read): safetensors records and .npy bodies, read
 * in place. data holds nbytes >= numel × size bytes and must outlive s. */
brine_status ld_add_array(ld_set *s, const char *name, const ld_dtype *dt, uint32_t ndim,
                          const int64_t *shape, int fortran, int big_endian, const uint8_t *data,
                          uint64_t nbytes, brine_error *err);

/* json_dumps, checked: jansson 2.14 can emit a broken document (a key dropped) when an
 * allocation fails mid-dump, so the text is parsed back and compared; NULL on any failure. */
char *ld_json_dump(const json_t *doc, size_t flags);

/* Copies tensor t in C order, little-endian, into dst (exactly t's numel × size bytes). */
brine_status ld_tensor_read(const ld_set *s, const ld_tensor *t, uint8_t *dst, uint64_t len,
                            brine_error *err);
/* Copies elements [first, first + count) of t in C order into dst (count × size bytes), so
 * large views can be streamed in bounded memory. */
brine_status ld_tensor_read_range(const ld_set *s, const ld_tensor *t, uint64_t first,
                                  uint64_t count, uint8_t *dst, brine_error *err);
/* 1 when the tensor's bytes are one contiguous little-endian run in its storage. */
int ld_tensor_contiguous(const ld_set *s, const ld_tensor *t);

#endif
