/*
 * format.h — the one model of a format that every command uses (libarchive's read-support
 * files are the model): detection asks every format to bid on the first bytes, and each format
 * that bids walks the file, handing what its real loader would read to the environment:
 *
 *   - pickles, in the order the loader reads them, with the hooks that loader implies
 *     (persistent ids, storages) — fmt_run_pickle runs and judges them;
 *   - the saved object of a model pickle — fmt_model_root (scan validates its tensors, load
 *     collects them from the same graph the judge checked);
 *   - plain tensors (safetensors records, .npy arrays) — fmt_tensor;
 *   - members and decompressed streams that are files of their own — fmt_file, which detects
 *     and walks them like a top-level file (bounded depth);
 *   - findings about the container — fmt_finding.
 *
 * What the environment does with each (judge, collect tensors, disassemble one member) is the
 * driver's business (src/scan/driver.c): a format never knows which command runs it, so scan,
 * inspect, load, convert and dis cannot disagree about a file. Adding a format is one new file
 * in src/formats/ and one line in formats/registry.c.
 */
#ifndef BRINE_FORMATS_FORMAT_H
#define BRINE_FORMATS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"
#include "load/tensors.h"
#include "pickle/machine.h"
#include "scan/scan.h"

typedef struct fmt_env fmt_env;

typedef struct fmt_ops {
    const char *name;
    /* 0: not this format; 1..100: how sure, from the bytes alone. Every format that bids
     * walks the file (each reading a loader could make is judged; the worst verdict wins);
     * the highest bidder names the file's format. */
    int (*bid)(const uint8_t *data, size_t len);
    /* Reads the file as its loader would, reporting through env. Malformed input is a
     * finding, not an error: returns BRINE_OK unless memory runs out. */
    brine_status (*walk)(fmt_env *env, const uint8_t *data, size_t len);
    /* A format whose reading includes this one's (legacy torch includes the raw pickle
     * reading of its first pickle): when both bid, only the including one walks. */
    const struct fmt_ops *includes;
} fmt_ops;

/* NULL-terminated, in registry order. */
extern const fmt_ops *const fmt_registry[];

/* The unpickler a loader runs. */
typedef enum fmt_loader {
    FMT_PICKLE,       /* pickle.load and friends */
    FMT_JOBLIB,       /* joblib.load: NumpyUnpickler, arrays spliced into the stream */
    FMT_JOBLIB_COMPAT /* the pickle inside an old joblib ZF file (numpy_pickle_compat) */
} fmt_loader;

/* What a loader reads as a pickle. */
typedef struct fmt_pickle {
    const char *member;  /* member of the current file, NULL for the file itself */
    const uint8_t *data; /* the member's bytes */
    size_t len;
    size_t start;                  /* where the loader starts reading */
    uint32_t count;                /* pickles read back to back: 1, or FMT_ALL for a stream of
                                    * concatenated pickles (data after the last one is reported) */
    scan_pid_mode pid_mode;        /* what persistent_load does */
    unsigned flags;                /* FMT_P_* */
    scan_storage_fn storage_check; /* checks a storage a persistent id names, or NULL */
    void *storage_ctx;
    fmt_loader loader; /* which unpickler reads it */
} fmt_pickle;

#define FMT_ALL UINT32_MAX

enum {
    /* The bytes may not be a pickle at all (a raw file, an archive member): when no real
     * unpickler would execute anything from them, nothing is reported and *inert is set. */
    FMT_P_SNIFF = 1
};

/* The arrays joblib's hook read while running g (FMT_JOBLIB*), else NULL. */
const struct jl_ctx *fmt_joblib_arrays(const fmt_env *env, const pk_graph *g);

/* A file next to the top-level one (joblib's old sidecar arrays), read into *data (release
 * with fmt_sibling_release). BRINE_ERR_IO when there is no folder (bytes were scanned) or the
 * file cannot be read; BRINE_ERR_USAGE when name would leave the folder. */
brine_status fmt_sibling(fmt_env *env, const char *name, const uint8_t **data, size_t *len,
                         brine_error *err);
void fmt_sibling_release(const uint8_t *data, size_t len);

/* The folder of the file being walked when it is the top-level file (or a filter's output
 * of it), else NULL: bytes were scanned, or it is a member of an archive. */
const char *fmt_dir(const fmt_env *env);

/* Runs the pickle(s) through the machine and judges them. *g receives the graph for the
 * format to read values from (free it with fmt_graph_free); *inert (may be NULL) is set when
 * FMT_P_SNIFF found nothing any loader would run. Returns BRINE_ERR_NOMEM only. */
brine_status fmt_run_pickle(fmt_env *env, const fmt_pickle *p, pk_graph **g, int *inert);
void fmt_graph_free(fmt_env *env, pk_graph *g);

/* The saved object of a model pickle: scan validates its tensors against the storages
 * (sizes only, never their bytes), load rebuilds them. sizes and bytes resolve storages
 * (NULL: the pickle has none). */
brine_status fmt_model_root(fmt_env *env, const char *member, const pk_graph *g, pk_id root,
                            ld_resolve_fn sizes, ld_resolve_fn bytes, void *ctx);

/* A C-contiguous little-endian tensor stored as it is (name: its name inside the file). */
brine_status fmt_tensor(fmt_env *env, const char *name, const ld_dtype *dt, uint32_t ndim,
                        const uint64_t *shape, const uint8_t *data, uint64_t nbytes);

/* An array stored as it is, in C or Fortran order, little- or big-endian (a .npy body). name
 * NULL: named after the current member (".npy" dropped: what np.load's NpzFile calls it), or
 * "array" for a top-level file. */
brine_status fmt_array(fmt_env *env, const char *name, const ld_dtype *dt, uint32_t ndim,
                       const int64_t *shape, int fortran, int big_endian, const uint8_t *data,
                       uint64_t nbytes);

/* Bytes a loader reads as a file of their own: a member of an archive, a decompressed
 * stream. They are detected and walked like a file, one level deeper (max_nested). The
 * bytes must stay valid until fmt_hold'd state is released (or for the call, when copied). */
brine_status fmt_file(fmt_env *env, const char *member, const uint8_t *data, size_t len);

/* A finding about the current file; member is relative to it (NULL: the file itself). */
brine_status fmt_finding(fmt_env *env, brine_verdict severity, const char *rule, const char *member,
                         int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Names the file's format (a string constant); only the top-level file's name is kept. */
void fmt_set_format(fmt_env *env, const char *name);

/* Keeps state alive until the environment ends (a load serves tensors from it), then calls
 * release(state). Returns BRINE_ERR_NOMEM (after releasing) when it cannot. */
brine_status fmt_hold(fmt_env *env, void *state, void (*release)(void *state));

/* Keeps a buffer charged to fmt_mem(env) until the environment ends. */
brine_status fmt_hold_buffer(fmt_env *env, void *p, size_t n);

/* How many decompression filters wrap the current file (for max_filter_depth). */
unsigned *fmt_filter_depth(fmt_env *env);

const brine_limits *fmt_limits(const fmt_env *env);
mem_budget *fmt_mem(fmt_env *env);
/* 1 when the command rebuilds tensors (load, inspect, convert): formats may skip work that
 * only a load needs otherwise. */
int fmt_loading(const fmt_env *env);
/* The tensor set a load fills, when loading the top-level file; else NULL. */
ld_set *fmt_load_set(fmt_env *env);

/* A valid construct a load cannot serve (a dtype with no counterpart): a scan ignores it, a
 * load fails with this message (BRINE_ERR_UNSUPPORTED). */
void fmt_unloadable(fmt_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Findings so far (a format checks whether a step added any). */
size_t fmt_finding_count(const fmt_env *env);

/* Limit and malformed findings from a reader's error. */
brine_status fmt_error_finding(fmt_env *env, const char *member, const brine_error *err,
                               const char *what);

#endif
