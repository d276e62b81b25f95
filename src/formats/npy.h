/*
 * npy.h — NumPy .npy files (versions 1.0, 2.0, 3.0) read as numpy.lib.format.read_array reads
 * them, and the rule for .npz members. research/formats.md §6; facts from numpy 1.24
 * (lib/format.py, lib/npyio.py) and numpy 2.4 (lib/_format_impl.py, lib/_npyio_impl.py).
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0), the
 * header text (latin-1 for 1.0/2.0, UTF-8 for 3.0) — a Python dict literal read by
 * ast.literal_eval with exactly the keys descr, fortran_order, shape — then the body. numpy
 * checks no padding, alignment or trailing newline: the body starts right after the header.
 *
 * What np.load does with the body:
 *  - the dtype holds objects anywhere ('O', a structured field of 'O', a sub-array of 'O'):
 *    with allow_pickle=True it calls pickle.load(file) — the stock Unpickler, find_class
 *    unrestricted, encoding='ASCII' by default — at data_offset; it reads one pickle up to
 *    STOP and ignores every byte after it; the shape is not used (only each dimension must
 *    fit a C long) and the header length limit is lifted. The caller judges that pickle.
 *  - otherwise it reads exactly numel × itemsize bytes (a shorter body is an error in both
 *    versions; trailing bytes are ignored), C order or, with fortran_order, Fortran order.
 *
 * .npz: np.load opens a file starting "PK\x03\x04" or "PK\x05\x06" with zipfile; every name
 * in namelist() can be read (key, or key + ".npy"); a member whose first 6 bytes are the npy
 * magic is read with read_array (same allow_pickle), whatever its name and compression; any
 * other member is returned as raw bytes (numpy 1.24) or None (2.4) — never unpickled.
 * A file that is neither npy nor zip is handed to pickle.load by np.load(allow_pickle=True).
 */
#ifndef BRINE_FORMATS_NPY_H
#define BRINE_FORMATS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"
#include "load/tensors.h"

enum {
    NPY_MAGIC_LEN = 6,
    /* numpy's _MAX_HEADER_SIZE: longer headers (in characters) are refused unless
     * allow_pickle=True, which lifts the limit (numpy ≥ 1.24; older numpy had no limit) */
    NPY_NUMPY_MAX_HEADER = 10000,
    /* brine's own cap on header bytes: numpy 1.0 headers stop at 65535 bytes, 2.0/3.0 at
     * 4 GiB; ast.literal_eval of megabytes is already impractical for numpy itself */
    NPY_MAX_HEADER_BYTES = 16 << 20,
    /* Python's tokenizer refuses more than 200 nested brackets (MAXLEVEL) */
    NPY_MAX_NESTING = 200,
};

typedef struct npy_info {
    int major, minor;
    uint64_t header_len;         /* bytes of header text after the length field */
    uint64_t header_chars;       /* characters after decoding: what numpy compares to 10000 */
    int header_over_numpy_limit; /* header_chars > NPY_NUMPY_MAX_HEADER: np.load refuses it
                                    unless allow_pickle=True */
    int py2_long;                /* an integer written with Python 2's L suffix (1.0/2.0 only) */
    uint64_t data_offset;        /* where the body (array bytes or pickle) starts */
    int fortran;
    uint32_t ndim; /* object arrays may have more than LD_MAX_DIMS: shape keeps the
                      first LD_MAX_DIMS */
    int64_t shape[LD_MAX_DIMS];
    int has_object;        /* the body is a pickle that np.load(allow_pickle=True) loads */
    int descr_unknown;     /* a dtype string brine does not know: with has_object the pickle
                              is still reported, without it npy_parse fails UNSUPPORTED */
    int structured;        /* descr is a list of fields */
    int subarray;          /* descr is (base, shape) */
    int big_endian;        /* simple dtypes: stored big-endian ('>' and itemsize > 1) */
    const ld_dtype *dtype; /* a tensor element type, or NULL (structured, strings, datetime,
                              object, longdouble, …) */
    uint64_t itemsize, numel, nbytes; /* numel and nbytes are 0 for object arrays */
    uint64_t trailing;                /* body bytes after nbytes, which np.load ignores */
    char descr[48]; /* simple dtypes as numpy's dtype.str spells them ("<f4", "|b1",
                       ">i8", "|O", "<U10", "<M8[ns]"); "" for structured/sub-array */
} npy_info;

/* 100 when data starts with the npy magic, else 0. */
int npy_probe(const uint8_t *data, size_t len);

/* Parses data[0..len) as one .npy file. lim NULL: defaults; the header's parse tree is
 * charged to mem and freed before returning. On BRINE_OK, out describes the file: for
 * has_object, the pickle starts at out->data_offset; otherwise out->nbytes bytes from there
 * hold the array (at most len - data_offset). Errors: BRINE_ERR_MALFORMED where numpy's
 * reader raises (message says what numpy needed), BRINE_ERR_UNSUPPORTED for a dtype string
 * or a literal brine does not interpret (never a reason to call the file safe; data_offset
 * and header fields are filled when known), BRINE_ERR_LIMIT for a header above
 * NPY_MAX_HEADER_BYTES, BRINE_ERR_NOMEM. */
brine_status npy_parse(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                       npy_info *out, brine_error *err);

/* Adds the array of a parsed file (info->dtype not NULL, no objects) to s as one tensor
 * called name, in place: Fortran order becomes strides, big-endian a swap when read.
 * body/body_len are the bytes from data_offset to the end of the file (or member); they
 * must outlive s. Errors: BRINE_ERR_USAGE for a non-tensor info, MALFORMED for a short
 * body, LIMIT (max_tensors), NOMEM. */
brine_status npy_add_tensor(ld_set *s, const char *name, const npy_info *info, const uint8_t *body,
                            uint64_t body_len, brine_error *err);

/* 1 when np.load would read this .npz member with read_array (its bytes start with the npy
 * magic; the name does not matter), 0 when it returns the bytes unread. */
int npz_member_is_array(const uint8_t *member, size_t len);

#endif
