/*
 * filters.h — decompression filters: gzip, zlib, bz2, xz, lzma-alone, lz4 frame, zstd.
 *
 * A filter turns a compressed file into the bytes its Python reader would hand to pickle.load
 * (or to the next format), decoded with the real libraries (zlib, libbz2, liblzma, liblz4,
 * libzstd). Threat model: the input is hostile. Decompression bombs are stopped by the
 * filter_max_bytes and filter_max_ratio limits and the memory budget (every library allocation
 * is charged to it where the library lets us), nested wrapping by max_filter_depth; the output
 * buffer grows within those limits and is never sized from a length read from the file.
 *
 * Each codec is read exactly as its Python consumer reads it; where consumers disagree, the
 * reader argument picks one and flt_output says what the other sees:
 *
 *   codec      FLT_READER_PYTHON (pandas.read_pickle, and joblib   FLT_READER_JOBLIB
 *              for bz2/xz/lzma/lz4)
 *   gzip       gzip.GzipFile: every member; zero bytes between      joblib BinaryGzipFile (zlib
 *              and after members skipped; anything else after a     wbits=31): the first member
 *              member is an error; truncation is an error           only; bytes after it make
 *                                                                   the reader loop forever;
 *                                                                   truncation is silent EOF;
 *                                                                   reserved flags and FHCRC
 *                                                                   checked (GzipFile ignores)
 *   zlib       zlib.decompress: one stream, trailing bytes ignored  joblib BinaryZlibFile: one
 *                                                                   stream, as for gzip above
 *   bz2, xz,   BZ2File / LZMAFile(FORMAT_AUTO) via _compression.DecompressReader: every stream;
 *   lzma       after the first, a stream whose first decompress() call fails is ignored with
 *              everything after it (so xz stream padding ends the reading: Python never sees a
 *              stream after padding, `xz -d` does); truncation is an error
 *              lzip members are read the same way (FORMAT_AUTO accepts them since liblzma
 *              5.4): pandas.read_pickle("m.xz") opens an lzip file; joblib never does
 *   lz4        lz4.frame.LZ4FrameFile: every frame (skippable frames skipped); any bytes that
 *              are not a frame are an error
 *   zstd       zstandard.open (pandas): every frame, skippable frames skipped; bytes that are
 *              not a frame are an error; a truncated frame ends the data silently
 */
#ifndef BRINE_FILTERS_FILTERS_H
#define BRINE_FILTERS_FILTERS_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"

typedef enum flt_kind {
    FLT_NONE = 0,
    FLT_GZIP,
    FLT_ZLIB,
    FLT_BZIP2,
    FLT_XZ,
    FLT_LZMA_ALONE,
    FLT_LZ4,
    FLT_ZSTD,
    FLT_LZIP, /* .lz: liblzma >= 5.4 reads it under LZMAFile's FORMAT_AUTO, so pandas does */
    FLT_KIND_COUNT
} flt_kind;

typedef enum flt_reader {
    FLT_READER_PYTHON = 0, /* the standard modules, lz4.frame, zstandard (pandas.read_pickle) */
    FLT_READER_JOBLIB = 1  /* joblib.load: differs from PYTHON for gzip and zlib only */
} flt_reader;

/* How the reader's view of the input ends, after the streams it reads. */
typedef enum flt_end {
    FLT_END_CLEAN = 0, /* every byte was read (padding the reader skips included) */
    FLT_END_IGNORED,   /* bytes from `consumed` on are silently never read */
    FLT_END_HANG       /* joblib: bytes follow the stream; reading past its end loops forever */
} flt_end;

typedef struct flt_output {
    uint8_t *data;     /* decompressed bytes, charged to the budget; NULL when len == 0 */
    size_t len;        /* bytes in data */
    size_t cap;        /* bytes allocated (and charged) for data */
    uint32_t streams;  /* members / streams / frames decoded to their end */
    uint64_t consumed; /* input bytes the read streams (and skipped padding) occupy */
    flt_end end;       /* meaningful when flt_decode returned BRINE_OK */
    /* On BRINE_ERR_MALFORMED: 1 when the reader does not raise but returns `data` and then
     * end-of-file (joblib on a truncated zlib/gzip stream, zstandard on a truncated frame). */
    int silent_truncation;
} flt_output;

/* The most likely codec for a file starting with d[0..n), or FLT_NONE. *confidence (may be
 * NULL) gets 0..100: 90+ for an unambiguous magic, lower for the short magics joblib tests
 * (b'x' for zlib, b'\x5d\x00' for lzma-alone), 0 for FLT_NONE. Reads at most 64 KiB (to look
 * past skippable frames, which lz4 and zstd share). */
flt_kind flt_probe(const uint8_t *d, size_t n, int *confidence);

/* "gzip", "zlib", "bz2", "xz", "lzma", "lz4", "zstd", "lzip"; "none" for FLT_NONE. */
const char *flt_name(flt_kind k);

/* Decompresses d[0..n) as `reader` reads a `k` file (see the table above) into out, whose
 * buffer is charged to mem, within lim->filter_max_bytes, filter_max_ratio and the budget.
 * out is always initialised. Returns:
 *   BRINE_OK            out->data holds everything the reader reads; out->end says what
 *                       follows the last stream;
 *   BRINE_ERR_MALFORMED the reader raises (corrupt or truncated stream, bad trailing bytes);
 *                       err->offset is the input offset, and out->data STILL holds what was
 *                       decompressed before the error, so a payload preceding it can be judged;
 *   BRINE_ERR_LIMIT     output or ratio limit; out->data holds the first filter_max_bytes;
 *   BRINE_ERR_NOMEM     budget exhausted (out->data holds what fit);
 *   BRINE_ERR_USAGE     k is FLT_NONE or unknown.
 * The caller frees out with flt_output_free in every case. */
brine_status flt_decode(flt_kind k, flt_reader reader, const uint8_t *d, size_t n, mem_budget *mem,
                        const brine_limits *lim, flt_output *out, brine_error *err);

/* Returns out's buffer to mem and clears out. Accepts NULL and an already freed output. */
void flt_output_free(flt_output *out, mem_budget *mem);

/* BRINE_ERR_LIMIT (limit "max_filter_depth") when depth, the number of filters already
 * unwrapped around the bytes about to be probed, reaches lim->max_filter_depth. */
brine_status flt_check_depth(uint64_t depth, const brine_limits *lim, brine_error *err);

#endif
