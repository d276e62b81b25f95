/*
 * joblib.h — joblib's pickles as joblib.load reads them, every generation still on disk.
 *
 * joblib.load is pickle.load with a hook in BUILD (NumpyUnpickler.load_build): when the object
 * just built is one of joblib's array wrappers, joblib replaces it by an array it reads itself:
 *   - NumpyArrayWrapper (joblib >= 0.10): raw array bytes straight from the stream after the
 *     BUILD (after an alignment pad since joblib 1.2), or a nested pickle for object arrays;
 *   - NDArrayWrapper (joblib < 0.10): np.load of a sidecar .npy named in the pickle;
 *   - ZNDArrayWrapper (joblib < 0.10, compressed): a sidecar ZF file of raw array bytes.
 * Files from joblib < 0.10 with compression are one "ZF" zlib container around the pickle.
 *
 * The caller runs the pickle machine with jl_attach()'s build hook, then reads jl_ctx.arrays:
 * every array joblib would make, with the bytes it would read and the sidecars it would open.
 */
#ifndef BRINE_FORMATS_JOBLIB_H
#define BRINE_FORMATS_JOBLIB_H

#include "brine.h"
#include "core/alloc.h"
#include "pickle/machine.h"

/* Which unpickler reads the stream: they recognise different wrappers. */
typedef enum jl_loader {
    JL_NUMPY_UNPICKLER, /* numpy_pickle.NumpyUnpickler: every joblib.load except ZF files */
    JL_COMPAT_UNPICKLER /* numpy_pickle_compat.ZipNumpyUnpickler: the pickle inside a ZF file
                         * (load_compatibility); only NDArrayWrapper and ZNDArrayWrapper */
} jl_loader;

typedef enum jl_kind {
    JL_INLINE,      /* NumpyArrayWrapper: raw bytes in the stream (data_offset, data_len) */
    JL_OBJECT,      /* NumpyArrayWrapper of an object dtype: a nested pickle in the stream */
    JL_SIDECAR_NPY, /* NDArrayWrapper: np.load(<dir of the pickle>/sidecar, allow_pickle=True) */
    JL_SIDECAR_Z    /* ZNDArrayWrapper: read_zfile(<dir of the pickle>/sidecar), raw bytes */
} jl_kind;

enum { JL_MAX_DIMS = 64 }; /* numpy 2's NPY_MAXDIMS */

typedef struct jl_array {
    uint8_t kind;       /* jl_kind */
    uint8_t fortran;    /* JL_INLINE: order 'F' (bytes in Fortran order) */
    uint8_t big_endian; /* JL_INLINE: the dtype's byte order is '>' */
    char type;          /* JL_INLINE: numpy kind: b i u f c M m S U V */
    uint32_t itemsize;  /* JL_INLINE: bytes per element */
    uint32_t ndim;      /* JL_INLINE / JL_OBJECT */
    uint64_t shape[JL_MAX_DIMS];
    uint64_t count;        /* elements */
    pk_id wrapper;         /* the wrapper node; for JL_INLINE and sidecars it also stands for
                            * the array in the graph (flag PKF_SPLICED on JL_INLINE) */
    pk_id subclass;        /* the 'subclass' attribute (numpy 1 rebuilds it), 0 if absent */
    uint64_t build_offset; /* the BUILD that made joblib read it */
    uint64_t pad_offset;   /* JL_INLINE: the pad-length byte, or data_offset when none */
    uint64_t data_offset;  /* JL_INLINE: first data byte; JL_OBJECT: first nested opcode */
    uint64_t data_len;     /* JL_INLINE: count × itemsize; JL_OBJECT: nested pickle length */
    const uint8_t *data;   /* JL_INLINE: the data_len bytes at data_offset of the buffer run */
    size_t nested_pickle;  /* JL_OBJECT: index of the nested pickle in g->pickles, read as
                            * joblib <= 1.5 reads it (pickle.load: Python-2 names mapped by
                            * the nested pickle's own protocol); its root replaced the wrapper */
    size_t nested_alt;     /* JL_OBJECT: the same bytes read again as joblib >= 1.6 reads them
                            * (the outer unpickler's find_class maps names by the OUTER
                            * protocol); only its globals and events matter */
    char *sidecar;         /* sidecars: the file name as pickled (NUL-terminated copy) */
    size_t sidecar_len;
    int sidecar_escapes; /* the name is empty, absolute, has '/', '\\', '..' or a NUL:
                          * os.path.join would leave the pickle's folder */
} jl_array;

typedef struct jl_ctx {
    mem_budget *mem;
    const brine_limits *lim;
    jl_loader loader;
    jl_array *arrays; /* in the order joblib reads them */
    size_t n_arrays, cap_arrays;
    int unsorted; /* wrappers were not built in the order they were made */
} jl_ctx;

void jl_init(jl_ctx *jl, mem_budget *mem, const brine_limits *lim, jl_loader loader);
void jl_free(jl_ctx *jl);

/* Runs the pickle at data[start] as joblib.load does: pk_run_hooked with jl_build_hook.
 * One joblib file is one pickle; joblib.load reads nothing after its STOP. */
brine_status jl_run(jl_ctx *jl, pk_graph *g, const uint8_t *data, size_t len, size_t start,
                    const pk_run_options *opts, brine_error *err);

/* The hook itself (pk_build_hook). Fails with BRINE_ERR_MALFORMED whenever brine cannot
 * compute exactly what joblib would read (the file is then invalid, never guessed at). */
brine_status jl_build_hook(void *ctx, pk_build_site *site, brine_error *err);

/* The record of the array a wrapper node became, or NULL. */
const jl_array *jl_find(const jl_ctx *jl, pk_id wrapper);

/* 1 when data starts with joblib's ZF prefix (joblib.load then uses load_compatibility). */
int jl_is_zfile(const uint8_t *data, size_t len);

/* read_zfile: "ZF", a 19-byte hex length (int(x, 16) rules), an optional space, a zlib
 * stream that must inflate to exactly that length. *out is allocated from mem (free with
 * mem_free(mem, *out, *out_len + 1)); limits zip_max_entry_bytes and zip_max_ratio apply. */
brine_status jl_zfile_read(mem_budget *mem, const brine_limits *lim, const uint8_t *data,
                           size_t len, uint8_t **out, size_t *out_len, brine_error *err);

/* 1 when a sidecar name would not stay in the pickle's folder (see jl_array). */
int jl_name_escapes(const uint8_t *name, size_t len);

#endif
