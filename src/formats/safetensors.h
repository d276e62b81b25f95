/*
 * safetensors.h — reading and writing safetensors files (research/formats.md §3).
 *
 * Layout: u64 LE header length N, N bytes of UTF-8 JSON, then the byte buffer that the
 * tensors' data_offsets tile exactly. The reader applies every rule of the reference
 * validator (huggingface/safetensors SafeTensors::read_metadata + Metadata::validate) and is
 * stricter where a lax reading lets two loaders disagree: a repeated key anywhere is an error
 * (serde keeps the last tensor entry, Python's json too), and __metadata__ values must be
 * strings. Tensors point into the caller's bytes (zero-copy), which must outlive the file.
 *
 * The writer lays tensors out as the reference writer does (dtype descending in enum order,
 * then name), pads the header with spaces to a multiple of 8 so every tensor is aligned to
 * its element size, streams the data in bounded memory, and writes files atomically.
 */
#ifndef BRINE_FORMATS_SAFETENSORS_H
#define BRINE_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"

/* ------------------------------------------------------------------ dtypes */

typedef enum st_dtype {
#define DTYPE(id, name, bits, torch, storage, numpy) ST_##id,
#include "formats/dtypes.def"
#undef DTYPE
    ST_DTYPE_COUNT
} st_dtype;

typedef struct st_dtype_info {
    const char *name;    /* "F32" */
    unsigned bits;       /* 32; sub-byte types 4 or 6 */
    const char *torch;   /* "float32", or NULL */
    const char *storage; /* "FloatStorage", or NULL */
    const char *numpy;   /* "<f4", or NULL */
} st_dtype_info;

/* Indexed by st_dtype. */
extern const st_dtype_info st_dtypes[ST_DTYPE_COUNT];

/* The dtype spelled name[0..len) (case-sensitive, as the reference), or -1. */
int st_dtype_from_name(const char *name, size_t len);

/* nelements × bits / 8 for a shape, with overflow and sub-byte checks: 0 on success, -1 on
 * overflow, -2 when nelements × bits is not a multiple of 8 (MisalignedSlice). */
int st_nbytes(st_dtype dtype, size_t ndim, const uint64_t *shape, uint64_t *nbytes);

/* ------------------------------------------------------------------ reader */

typedef struct st_tensor_info {
    const char *name; /* NUL-terminated UTF-8 (names with NUL are rejected) */
    size_t name_len;
    st_dtype dtype;
    const char *dtype_name; /* st_dtypes[dtype].name */
    size_t ndim;
    const uint64_t *shape; /* ndim entries ([] is a scalar: one element) */
    uint64_t nelements;
    uint64_t begin, end; /* data_offsets, relative to the data buffer */
    uint64_t offset;     /* file offset of the data: 8 + N + begin */
    const uint8_t *data; /* into the caller's bytes; may be unaligned for the dtype */
    uint64_t nbytes;     /* end - begin */
} st_tensor_info;

typedef struct st_file st_file;

/* Validates data[0..len) as a safetensors file. lim NULL: defaults (st_max_header,
 * max_tensors). All memory is charged to mem, which must outlive the file; the JSON parser's
 * own allocations are estimated from the header and charged before it runs. Errors:
 * BRINE_ERR_MALFORMED (message names the reference's error where there is one, offset
 * points at the header or the tensor entry), BRINE_ERR_LIMIT, BRINE_ERR_NOMEM. */
brine_status st_open(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                     st_file **out, brine_error *err);
/* Accepts NULL. */
void st_close(st_file *f);

/* Tensors in file order (by data offset). */
size_t st_count(const st_file *f);
const st_tensor_info *st_tensor(const st_file *f, size_t i);
/* The index of the tensor called name[0..len), or -1. */
long st_find(const st_file *f, const char *name, size_t len);

/* N, the header length, and 8 + N, where the data buffer starts. */
uint64_t st_header_len(const st_file *f);
uint64_t st_data_start(const st_file *f);

/* __metadata__: 1 when the header has it (possibly empty), 0 when absent or null. Entries
 * are sorted by key; strings are NUL-terminated UTF-8. */
int st_has_metadata(const st_file *f);
size_t st_metadata_count(const st_file *f);
int st_metadata_at(const st_file *f, size_t i, const char **key, const char **value);
/* The value for key, or NULL. */
const char *st_metadata_get(const st_file *f, const char *key);

/* ------------------------------------------------------------------ writer */

/* Fills buf with len bytes of a tensor's data, starting at byte offset `offset` of the
 * tensor; the writer calls it in order, in chunks. Return BRINE_OK or an error (err set). */
typedef brine_status (*st_fill_fn)(void *ctx, uint64_t offset, uint8_t *buf, size_t len,
                                   brine_error *err);

typedef struct st_writer st_writer;

/* A writer charging its bookkeeping (names, shapes, the header, one I/O buffer) to mem. */
brine_status st_writer_new(const brine_limits *lim, mem_budget *mem, st_writer **out,
                           brine_error *err);
/* Accepts NULL. Removes a temporary file that a failed st_writer_write_file left open. */
void st_writer_free(st_writer *w);

/* Adds a tensor. Its bytes come from data (nbytes = st_nbytes of the shape; the pointer must
 * stay valid until the file is written) or, when data is NULL, from fill(ctx, …). The name
 * must be valid UTF-8 without NUL, not "__metadata__" (safetensors issue #849), and unique;
 * dims must be at most INT64_MAX. Nothing is read until the file is written. */
brine_status st_writer_add(st_writer *w, const char *name, size_t name_len, st_dtype dtype,
                           size_t ndim, const uint64_t *shape, const void *data, st_fill_fn fill,
                           void *ctx, brine_error *err);
/* Sets a __metadata__ entry (UTF-8, no NUL; a repeated key replaces the value). Written
 * sorted by key. */
brine_status st_writer_set_metadata(st_writer *w, const char *key, size_t key_len,
                                    const char *value, size_t value_len, brine_error *err);

/* Declares that tensor data pointers inside [base, base + len) are bytes of the open file fd
 * at offset (pointer - base), as for a mapped input: the writer copies them from fd
 * (copy_file_range into an output descriptor, pread into its bounded buffer otherwise) and
 * never reads that memory, so a mapping is not faulted in and memory does not grow with the
 * model. fd must stay open until the file is written. */
void st_writer_set_source(st_writer *w, int fd, const uint8_t *base, size_t len);

/* The header the writer will produce (valid until the next add/set/free), for tests. */
brine_status st_writer_header(st_writer *w, const uint8_t **header, size_t *len, brine_error *err);

/* Streams the whole file to write(ctx, …): 8-byte length, header, tensors in layout order. */
brine_status st_writer_write(st_writer *w, brine_write_fn write, void *ctx, brine_error *err);
/* As st_writer_write, to an open file descriptor (not closed, not synced). */
brine_status st_writer_write_fd(st_writer *w, int fd, brine_error *err);
/* Writes path atomically: a temporary file in the same directory, fsync, rename over path,
 * fsync of the directory. On failure the temporary file is removed and path is untouched. */
brine_status st_writer_write_file(st_writer *w, const char *path, brine_error *err);

#endif
