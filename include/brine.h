/*
 * brine.h — the public interface of libbrine, and its documentation.
 *
 * brine reads machine-learning model files (pickles, PyTorch checkpoints, safetensors, …)
 * without executing them. Nothing in this library imports or calls anything named by a file:
 * the pickle machine is symbolic, and only a fixed set of reconstructors is interpreted by
 * brine's own code, with every argument validated.
 *
 * Conventions
 *  - Every function returns a brine_status. On failure, details go to the caller's
 *    brine_error (which may be NULL). The error path never allocates.
 *  - Handles are opaque; each *_new / *_open has a *_free that accepts NULL.
 *  - Options structs are zero-initialised by the caller; a zero field means "default".
 *    New fields are only ever added at the end.
 *  - Inputs are (const uint8_t *data, size_t len) or a path. brine never needs NUL
 *    termination of data and never writes to caller memory.
 *  - A malicious file is not an error: scanning it succeeds and returns findings.
 *  - Structs that may grow end with a struct_size field, after every field of the release
 *    that introduced it. Leave it 0 (the layout of brine 0.1) or set it to sizeof the struct:
 *    brine reads or fills fields added later only when struct_size says the caller has them.
 *
 * Threads
 *  Every function is thread-safe on distinct objects: threads may scan, load and convert at
 *  the same time, each with its own results, models and reports. A brine_policy or
 *  brine_limits may be shared by any number of threads once set up (calls only read them);
 *  a brine_model may be read (tensor info, read, sha256, config) from several threads at once.
 *  A brine_report, and the set-up calls brine_policy_allow and brine_policy_load, need one
 *  thread at a time. There is no global state to initialise and no global lock.
 */
#ifndef BRINE_H
#define BRINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BRINE_BUILDING) && defined(__GNUC__)
#define BRINE_API __attribute__((visibility("default")))
#else
#define BRINE_API
#endif

#include "brine_version.h"

/* The version of the library actually loaded (BRINE_VERSION_STRING is the header's). */
BRINE_API const char *brine_version(void);

/* ---------------------------------------------------------------- status and errors */

typedef enum brine_status {
    BRINE_OK = 0,
    BRINE_ERR_MALFORMED = 1,   /* the input is not well-formed (offset says where) */
    BRINE_ERR_LIMIT = 2,       /* a limit was exceeded (limit, limit_value, observed) */
    BRINE_ERR_NOMEM = 3,       /* an allocation failed or the memory budget ran out */
    BRINE_ERR_IO = 4,          /* a file could not be opened, read, mapped or written */
    BRINE_ERR_USAGE = 5,       /* the caller passed an invalid argument */
    BRINE_ERR_POLICY = 6,      /* refused: the input uses something the policy does not allow */
    BRINE_ERR_UNSUPPORTED = 7  /* a valid construct brine does not handle */
} brine_status;

/* Filled on failure. msg is a human sentence saying what was needed and what was found;
 * it lives in the struct itself, so the struct can be copied and outlives everything. */
typedef struct brine_error {
    brine_status code;
    int has_offset;            /* 1 when offset is meaningful */
    uint64_t offset;           /* byte offset in the file (or in member, when set) */
    const char *limit;         /* for BRINE_ERR_LIMIT: the limit's name, else NULL */
    uint64_t limit_value;      /* the limit in force */
    uint64_t observed;         /* what the input asked for */
    int source_line;           /* debug aid: the line of brine's source that failed */
    char msg[256];
} brine_error;

/* A constant English name for a status ("malformed input", …). Never NULL. */
BRINE_API const char *brine_status_name(brine_status status);

/* ---------------------------------------------------------------- limits */

/* Resource limits for one operation. Zero means "default"; a value above the hard cap is
 * clamped to it. The defaults and caps, and the attack each limit stops, are listed in
 * src/core/limits.h and in `brine --help-limits`. */
typedef struct brine_limits {
    uint64_t max_input_bytes;      /* bytes of one input (file or archive member) */
    uint64_t max_opcodes;          /* opcodes executed by the pickle machine, per file */
    uint64_t max_stack;            /* pickle value-stack depth */
    uint64_t max_marks;            /* pickle mark-stack depth */
    uint64_t max_memo;             /* pickle memo entries */
    uint64_t max_nodes;            /* nodes in the object graph */
    uint64_t max_depth;            /* nesting depth of any walk over the graph */
    uint64_t max_string;           /* one string / bytes argument */
    uint64_t max_memory;           /* bytes brine may allocate for one file */
    uint64_t max_pickles;          /* concatenated pickles in one stream */
    uint64_t max_nested;           /* nested pickles (pickles inside pickles) depth */
    uint64_t zip_max_entries;      /* entries in one zip central directory */
    uint64_t zip_max_entry_bytes;  /* decompressed bytes of one zip entry */
    uint64_t zip_max_total_bytes;  /* decompressed bytes of all entries of one archive */
    uint64_t zip_max_ratio;        /* decompressed / compressed size of one entry */
    uint64_t st_max_header;        /* safetensors JSON header bytes */
    uint64_t max_tensors;          /* tensors in one file */
    uint64_t filter_max_bytes;     /* decompressed bytes of one gzip/bz2/xz/lz4/zstd/... file */
    uint64_t filter_max_ratio;     /* decompressed / compressed size of one filtered file */
    uint64_t max_filter_depth;     /* compression filters nested inside one another */
    uint64_t max_expansion;        /* leaves of the fully expanded object graph per node built */
    uint64_t max_nesting;          /* nesting depth of the object graph a consumer would walk */
    uint64_t max_memo_index;       /* largest memo index (PUT/BINPUT/LONG_BINPUT argument) */
    uint64_t archive_max_members;  /* members of one tar or 7z archive */
    uint64_t archive_max_name;     /* bytes of one tar/7z member name or link target */
    uint64_t max_work;             /* opcodes of all pickles of one file, nested ones included */
} brine_limits;

/* Fills *limits with the defaults. */
BRINE_API void brine_limits_default(brine_limits *limits);

/* ---------------------------------------------------------------- policy */

/* Which globals a file may reference and still be `safe`. The default policy is what
 * torch.load(weights_only=True) allows, plus plain Python containers and scalars and numpy
 * array/dtype/scalar reconstruction (joblib's array wrapper included). */
typedef struct brine_policy brine_policy;

/* A new default policy, or NULL when out of memory. */
BRINE_API brine_policy *brine_policy_new(void);
BRINE_API void brine_policy_free(brine_policy *policy);

/* Widens the policy by one entry: a profile name ("sklearn", "xgboost", "lightgbm", "torch",
 * "numpy", "builtins"), an exact "module.qualname", or "module.*" (the module and its
 * submodules). Never-allowable modules (os, posix, nt, sys, subprocess, builtins.eval, …)
 * are refused with BRINE_ERR_POLICY. Profiles and wildcards never admit a denylisted name
 * (only an exact entry of that very name does) nor a dotted qualname (a protocol-4
 * attribute walk: only an exact entry does, and never one through a dunder such as
 * __globals__ or through a denied module). */
BRINE_API brine_status brine_policy_allow(brine_policy *policy, const char *entry,
                                          brine_error *err);

/* Reads a policy file: one entry per line as for brine_policy_allow, `#` starts a comment.
 * On error, err->offset is the line number. */
BRINE_API brine_status brine_policy_load(brine_policy *policy, const char *path,
                                         brine_error *err);

/* The names of the built-in profiles, NULL-terminated. */
BRINE_API const char *const *brine_policy_profiles(void);

/* ---------------------------------------------------------------- scanning */

typedef enum brine_verdict {
    BRINE_SAFE = 0,        /* fully parsed; only allowlisted constructs */
    BRINE_UNVERIFIED = 1,  /* fully parsed; globals outside the allowlist, none known bad */
    BRINE_INVALID = 2,     /* malformed, truncated, over a limit or inconsistent */
    BRINE_UNSAFE = 3       /* can run code or touch the system when loaded */
} brine_verdict;

/* "safe", "unverified", "invalid", "unsafe". */
BRINE_API const char *brine_verdict_name(brine_verdict verdict);

/* One reason for a verdict. Strings are owned by the result and live until it is freed. */
typedef struct brine_finding {
    brine_verdict severity;  /* the verdict this finding alone would give */
    const char *rule;        /* stable identifier, e.g. "dangerous-global" (see README) */
    const char *global;      /* "module.qualname" the finding is about, or NULL */
    const char *member;      /* archive member, or NULL for the file itself */
    int64_t offset;          /* byte offset in the member or file, or -1 */
    const char *message;     /* what the file would do, for people */
} brine_finding;

typedef struct brine_scan_options {
    const brine_policy *policy;  /* NULL: the default policy */
    const brine_limits *limits;  /* NULL: the default limits */
    size_t struct_size;          /* 0 or sizeof(brine_scan_options) */
} brine_scan_options;

typedef struct brine_result brine_result;

/* Scans one file. Returns BRINE_OK with *out set whenever the file could be read — a
 * malformed or malicious file is a result, not an error. Returns BRINE_ERR_IO when the
 * path cannot be opened or read, BRINE_ERR_NOMEM when memory runs out. *out is NULL on
 * failure. The file is opened read-only and never modified. */
BRINE_API brine_status brine_scan_file(const char *path, const brine_scan_options *opts,
                                       brine_result **out, brine_error *err);

/* As brine_scan_file, for bytes in memory. data may be NULL when len is 0. */
BRINE_API brine_status brine_scan_bytes(const uint8_t *data, size_t len,
                                        const brine_scan_options *opts, brine_result **out,
                                        brine_error *err);

BRINE_API void brine_result_free(brine_result *result);
BRINE_API brine_verdict brine_result_verdict(const brine_result *result);
/* The detected format: "pickle", "none", … Never NULL. */
BRINE_API const char *brine_result_format(const brine_result *result);
BRINE_API size_t brine_result_finding_count(const brine_result *result);
/* The i-th finding, most severe first; NULL when i is out of range. */
BRINE_API const brine_finding *brine_result_finding(const brine_result *result, size_t i);
/* Every distinct global the file references, as "module.qualname" after Python-2 name
 * mapping, in first-seen order. */
BRINE_API size_t brine_result_global_count(const brine_result *result);
BRINE_API const char *brine_result_global(const brine_result *result, size_t i);

/* The tensors and arrays a scan found and validated (name, dtype, shape; the data pointers of
 * brine_tensor_info are NULL), in the order the file holds them. A scan reads no tensor bytes,
 * so sha256 needs brine_model_tensor_sha256. At most 100000 are listed. */
typedef struct brine_tensor_info brine_tensor_info;
BRINE_API size_t brine_result_tensor_count(const brine_result *result);
BRINE_API brine_status brine_result_tensor(const brine_result *result, size_t i,
                                           brine_tensor_info *out, brine_error *err);

/* ---------------------------------------------------------------- output */

/* Where text goes: return 0 on success, non-zero to abort with BRINE_ERR_IO. */
typedef int (*brine_write_fn)(void *ctx, const void *buf, size_t len);

typedef enum brine_report_format {
    BRINE_REPORT_TEXT = 0,
    BRINE_REPORT_JSON = 1,   /* one object: {files:[…], errors:[…], summary:{…}} */
    BRINE_REPORT_JSONL = 2,  /* one file object per line, as files are added */
    BRINE_REPORT_SARIF = 3   /* SARIF 2.1.0 */
} brine_report_format;

typedef struct brine_report brine_report;

/* A report writer. NULL when out of memory. */
BRINE_API brine_report *brine_report_new(brine_report_format format, brine_write_fn write,
                                         void *ctx);
/* Adds one scanned file. */
BRINE_API brine_status brine_report_add(brine_report *report, const char *path,
                                        const brine_result *result, brine_error *err);
/* Adds a path that could not be scanned (err describes why). */
BRINE_API brine_status brine_report_add_error(brine_report *report, const char *path,
                                              const brine_error *why, brine_error *err);
/* Writes what is still buffered (JSON and SARIF documents, the text summary). */
BRINE_API brine_status brine_report_finish(brine_report *report, brine_error *err);
BRINE_API void brine_report_free(brine_report *report);
/* Sets the least severe verdict that makes a file fail, for the summary's `failed` count
 * (default BRINE_UNVERIFIED: every file that is not safe fails). Only the count depends on
 * it: every file and finding is written whatever the threshold. May be called any time
 * before brine_report_finish; a value outside safe..unsafe is ignored. */
BRINE_API void brine_report_set_fail_on(brine_report *report, brine_verdict threshold);

/* ---------------------------------------------------------------- disassembly */

typedef enum brine_dis_format {
    BRINE_DIS_TEXT = 0,  /* pickletools.dis-style listing, then the object graph */
    BRINE_DIS_JSON = 1   /* {pickles:[{offset, end, ops:[{offset, op, code, arg}]}], …} */
} brine_dis_format;

/* Disassembles every pickle in data (concatenated pickles included) and renders the object
 * graph the machine reconstructed as pseudo-Python. A malformed stream is listed up to the
 * failing opcode and the error is part of the output; the call still returns BRINE_OK. */
BRINE_API brine_status brine_dis(const uint8_t *data, size_t len, brine_dis_format format,
                                 const brine_limits *limits, brine_write_fn write, void *ctx,
                                 brine_error *err);

/* As brine_dis, for one pickle of a container, found the way every other command finds it
 * (the same format walk): member is its path inside the file as findings name it, e.g.
 * "archive/data.pkl", or NULL for the file itself — or for the only pickle a container holds.
 * When member names no pickle of the file, returns BRINE_ERR_USAGE (or, with member NULL and
 * several pickles, BRINE_ERR_UNSUPPORTED) with a message listing the pickles there are. With
 * member NULL, a file no loader reads as a pickle is listed as one, up to where it fails. */
BRINE_API brine_status brine_dis_member(const uint8_t *data, size_t len, const char *member,
                                        brine_dis_format format, const brine_limits *limits,
                                        brine_write_fn write, void *ctx, brine_error *err);

/* ---------------------------------------------------------------- safe loading */

/* A model file opened for reading its tensors: a PyTorch zip or legacy checkpoint, or a raw
 * pickle of tensors and numpy arrays. Opening scans the file first and refuses anything the
 * policy does not allow — as torch.load(weights_only=True) does — so what is loaded was
 * rebuilt by brine's own code from validated arguments, never by running the file. */
typedef struct brine_model brine_model;

typedef struct brine_load_options {
    const brine_policy *policy;  /* NULL: the default policy */
    const brine_limits *limits;  /* NULL: the default limits */
    size_t struct_size;          /* 0 or sizeof(brine_load_options) */
} brine_load_options;

/* Opens path read-only. Returns BRINE_ERR_POLICY when the scan verdict is unsafe or
 * unverified (err->msg names the first offending global and rule), BRINE_ERR_MALFORMED when
 * the file is invalid or a tensor's arguments are (err->msg names the tensor),
 * BRINE_ERR_UNSUPPORTED for formats without tensors brine can rebuild, BRINE_ERR_IO,
 * BRINE_ERR_NOMEM, BRINE_ERR_LIMIT. *out is NULL on failure. */
BRINE_API brine_status brine_model_open(const char *path, const brine_load_options *opts,
                                        brine_model **out, brine_error *err);
BRINE_API void brine_model_free(brine_model *model);
/* The container format ("pytorch-zip", "pytorch-legacy", "pickle", "safetensors"). */
BRINE_API const char *brine_model_format(const brine_model *model);
BRINE_API size_t brine_model_tensor_count(const brine_model *model);

struct brine_tensor_info {
    const char *name;        /* nested keys and list indices joined with '.' */
    const char *dtype;       /* safetensors spelling: "F32", "BF16", "I64", "BOOL", … */
    size_t itemsize;         /* bytes per element */
    unsigned ndim;
    const int64_t *shape;    /* ndim sizes */
    const int64_t *strides;  /* ndim strides, in elements */
    int64_t storage_offset;  /* in elements */
    uint64_t numel;
    uint64_t nbytes;         /* numel × itemsize: the size of a C-order copy */
    size_t storage;          /* tensors sharing a storage (views, tied weights) share this */
    const void *data;        /* the C-order little-endian bytes, mapped from the file without a
                              * copy — or NULL when the tensor is a strided view or byte-swapped:
                              * use brine_model_tensor_read */
    size_t struct_size;      /* set by the caller: 0 or sizeof(brine_tensor_info) */
};

/* Describes tensor i (0 <= i < count). Pointers live as long as the model. */
BRINE_API brine_status brine_model_tensor(const brine_model *model, size_t i,
                                          brine_tensor_info *out, brine_error *err);
/* Copies tensor i in C order, little-endian, into dst; len must equal its nbytes. */
BRINE_API brine_status brine_model_tensor_read(const brine_model *model, size_t i, void *dst,
                                               size_t len, brine_error *err);
/* Where tensor i's bytes are in the model's file: *offset is the byte offset of its first
 * element when the file itself holds them in C order, little-endian and uncompressed (then
 * brine_tensor_info.data points into the mapping at that offset). Otherwise — a strided view,
 * byte-swapped, compressed or decoded data — BRINE_ERR_UNSUPPORTED: the bytes exist only as a
 * copy (brine_model_tensor_read). Lets a caller map the file itself, e.g. copy-on-write, and
 * build writable tensors over it without a copy (the Python package's mmap=True). */
BRINE_API brine_status brine_model_tensor_file_offset(const brine_model *model, size_t i,
                                                      uint64_t *offset, brine_error *err);
/* SHA-256 of tensor i's elements in C order, little-endian (for a torch tensor t, the same as
 * hashlib.sha256(t.contiguous().numpy().tobytes()), bfloat16 viewed as int16). */
BRINE_API brine_status brine_model_tensor_sha256(const brine_model *model, size_t i,
                                                 uint8_t digest[32], brine_error *err);
/* The non-tensor values (hyper-parameters, counters, strings) as a JSON document in the typed
 * encoding of docs/config.md, in which each tensor appears as {"__type__": "tensor", "name":
 * name}. Owned by the model. */
BRINE_API const char *brine_model_config_json(const brine_model *model);

/* ---------------------------------------------------------------- conversion */

/* Called as bytes are written: done of total. */
typedef void (*brine_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct brine_convert_options {
    const char *config_path;     /* NULL: OUT with ".safetensors" replaced by ".config.json"
                                  * (or ".config.json" appended) */
    brine_progress_fn progress;  /* NULL: none */
    void *progress_ctx;
    int no_sync;                 /* 1: skip fsync (outputs stay atomic, but a power loss right
                                  * after the rename may lose them) */
    int force;                   /* 1: replace existing outputs; 0: fail with BRINE_ERR_IO if
                                  * either output exists when it is renamed into place */
    const char *key;             /* NULL, or the dotted path of the one part to convert
                                  * ("model", "state_dict", "optimizer.state.0") */
    int state_dict;              /* 1: the part is a pickled torch.nn.Module: write its
                                  * state_dict() (parameters and persistent buffers, with the
                                  * names load_state_dict takes) */
    int dedup;                   /* 1: tensors that are the same view of one storage are stored
                                  * once; the others are listed in the metadata key
                                  * "brine.aliases" ({"alias": "stored name"}) */
    uint64_t max_shard_size;     /* 0: one file. Else, when the tensors exceed it, they are
                                  * split in order into STEM-0000k-of-0000N.safetensors of at
                                  * most this many bytes (a larger tensor alone) beside path,
                                  * plus STEM.safetensors.index.json as transformers writes it
                                  * (path itself is not written) */
    size_t struct_size;          /* 0 or sizeof(brine_convert_options) */
} brine_convert_options;

/* Writes the model's tensors to a safetensors file at path — bit-exact, each in C order
 * (views are written contiguous), tensors sharing a storage written once each and recorded
 * in the metadata key "brine.shared" — and its non-tensor values to a JSON config beside it.
 * Both files are written atomically (temporary file, fsync unless no_sync, rename); on failure neither
 * exists afterwards and nothing else was touched. Memory does not grow with the model: stored
 * tensors are streamed from the mapped file. Returns BRINE_ERR_UNSUPPORTED for dtypes
 * safetensors cannot hold (complex128) and for names it cannot represent (two tensors named
 * "a.b.c", a tensor named "__metadata__"), BRINE_ERR_USAGE when path and the config path are
 * the same file, BRINE_ERR_IO (an existing output without force included), BRINE_ERR_NOMEM.
 * It does not check that path is not the model's own file: callers compare before opening
 * (a model opened from a path that is later replaced still reads its original bytes). */
BRINE_API brine_status brine_model_write_safetensors(const brine_model *model, const char *path,
                                                     const brine_convert_options *opts,
                                                     brine_error *err);

/* Writes the XGBoost or LightGBM model a pickle holds (a Booster, or a scikit-learn wrapper
 * such as XGBClassifier or LGBMRegressor, anywhere in the file) as the library's own model
 * file, chosen by path's extension: ".ubj" (XGBoost's UBJSON, the bytes the pickle holds),
 * ".json" (XGBoost's JSON), ".txt" (LightGBM's model string). Nothing is unpickled. The
 * wrapper's attributes the native file does not hold go to a JSON config (opts->config_path,
 * default path with its extension replaced by ".config.json"). Both outputs are atomic, as
 * for safetensors. BRINE_ERR_UNSUPPORTED when the file holds no such model, several, or one
 * in a form brine does not read (XGBoost before 2.0). */
BRINE_API brine_status brine_model_write_native(const brine_model *model, const char *path,
                                                const brine_convert_options *opts,
                                                brine_error *err);
/* 1 when path's extension names a native model format brine_model_write_native writes. */
BRINE_API int brine_native_format(const char *path);
/* Writes the scikit-learn estimator a pickle or joblib file holds as a skops archive (skops
 * 0.16, protocol 2: schema.json plus .npy members), from the typed config and the tensors —
 * nothing is unpickled. Objects are written only when skops rebuilds them exactly as the pickle
 * would (cls.__new__ then __setstate__); anything else (calls with arguments, functions,
 * structured or object arrays) is BRINE_ERR_UNSUPPORTED naming its place. Atomic, no config. */
BRINE_API brine_status brine_model_write_skops(const brine_model *model, const char *path,
                                               const brine_convert_options *opts,
                                               brine_error *err);
/* 1 when path ends in ".skops". */
BRINE_API int brine_skops_format(const char *path);
/* What the model's pickle records about the releases that wrote it (protocol, _sklearn_version,
 * XGBoost/LightGBM model versions, numpy.core vs numpy._core names, Python 2 names) and, with
 * target "LIB==VERSION" (sklearn, numpy, xgboost, lightgbm, python), the globals that release
 * does not have according to brine's generated tables ("check": {"loads", "problems"}). JSON
 * text to free(); NULL with err set on failure. */
BRINE_API char *brine_model_compat_json(const brine_model *model, const char *target,
                                        brine_error *err);

/* Removes every temporary file brine is writing at this moment (the staged outputs of
 * brine_model_write_safetensors in any thread). Async-signal-safe: call it from a handler
 * for SIGINT, SIGTERM and SIGHUP, then re-raise the signal, so that an interrupted
 * conversion leaves nothing behind. brine installs no signal handler itself. */
BRINE_API void brine_remove_temporaries(void);

/* Reads a whole file into memory (mapped read-only). *data must be released with
 * brine_unmap. Only a regular file is read: the path is opened without blocking (a FIFO
 * has no writer to wait for) and anything else — directory, FIFO, device, socket — is
 * BRINE_ERR_IO with a message saying what it is. */
BRINE_API brine_status brine_map_file(const char *path, const uint8_t **data, size_t *len,
                                      brine_error *err);
BRINE_API void brine_unmap(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* BRINE_H */
