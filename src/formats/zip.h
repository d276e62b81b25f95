/*
 * zip.h — a zip directory reader for hostile input, with PyTorch's (miniz) semantics.
 *
 * The central directory is authoritative, as it is for torch's reader (miniz,
 * caffe2/serialize/inline_container.cc): names, methods, flags, sizes and CRCs come from it.
 * Local headers are read only to find where an entry's data starts; whatever they disagree
 * on is recorded as an anomaly on the entry, never a reason to skip it. The caller turns
 * anomalies into findings (zip_anomaly_name/zip_anomaly_text say what each bit means).
 *
 * zip_open fails only when the directory itself cannot be enumerated (no end record, a
 * central directory out of range or cut short, multi-disk, a limit). A bad entry (encrypted,
 * unknown method, data past the end of the file, no local header) is still listed, with an
 * ZIP_ERR_* bit set; zip_read refuses it with the reason. That way one broken entry never
 * hides what the others contain.
 *
 * The archive does not copy the file: names and stored data point into the caller's bytes,
 * which must outlive the archive.
 */
#ifndef BRINE_FORMATS_ZIP_H
#define BRINE_FORMATS_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"

/* Anomalies. Entry bits describe one entry (zip_entry.anomalies); archive bits describe the
 * whole file (zip_archive_anomalies). ZIP_ERR_* bits make the entry unreadable. */
/* clang-format off */
#define ZIP_ANOMALY_LIST(X)                                                                    \
    /* entry: the local header disagrees with the central directory */                         \
    X(LOCAL_NAME, 0, "local-name", "local header name differs from the central directory "    \
      "name (CVE-2025-1944: torch reads the central directory, zipfile refuses)")              \
    X(LOCAL_FLAGS, 1, "local-flags", "local header flags differ from the central directory "  \
      "(CVE-2025-1945: torch ignores local flags such as encryption bits)")                    \
    X(LOCAL_METHOD, 2, "local-method", "local header compression method differs from the "   \
      "central directory")                                                                     \
    X(LOCAL_CRC, 3, "local-crc", "local header CRC-32 differs from the central directory")    \
    X(LOCAL_SIZES, 4, "local-sizes", "local header sizes differ from the central directory")  \
    X(DESCRIPTOR, 5, "descriptor", "data descriptor missing or disagreeing with the central " \
      "directory")                                                                             \
    X(CRC, 6, "crc", "CRC-32 of the data differs from the central directory "                 \
      "(CVE-2025-10156: torch ignores CRCs, zipfile refuses)")                                 \
    /* entry: relations to other entries */                                                    \
    X(DUPLICATE, 7, "duplicate", "another entry has the same name (which one a reader "       \
      "picks is up to the reader)")                                                            \
    X(DUPLICATE_CASE, 8, "duplicate-case", "another entry has the same name up to ASCII "     \
      "case (miniz, hence torch, looks names up case-insensitively)")                          \
    X(OVERLAP, 9, "overlap", "the entry's bytes overlap another entry's (overlapping-entry "  \
      "zip bombs, one payload under two names)")                                               \
    X(OVERLAP_CD, 10, "overlap-cd", "the entry's bytes lie in or after the central "          \
      "directory")                                                                             \
    /* entry: member names that escape or confuse an extraction */                             \
    X(NAME_DOTDOT, 11, "name-dotdot", "the name has a '..' component (path traversal)")       \
    X(NAME_ABSOLUTE, 12, "name-absolute", "the name is an absolute path")                     \
    X(NAME_BACKSLASH, 13, "name-backslash", "the name contains a backslash")                  \
    X(NAME_NUL, 14, "name-nul", "the name contains a NUL byte (C readers truncate it)")       \
    X(NAME_EMPTY, 15, "name-empty", "the name is empty")                                      \
    X(EXTRA, 16, "extra", "malformed extra field")                                            \
    X(DEFLATE_TAIL, 17, "deflate-tail", "the deflate stream ends before the compressed size") \
    /* entry errors: the entry cannot be read */                                               \
    X(ERR_ENCRYPTED, 24, "encrypted", "encrypted entry (central directory flag bit 0, 6 or "  \
      "13): torch refuses it")                                                                 \
    X(ERR_PATCH, 25, "patch", "compressed patch data (flag bit 5) is not supported")          \
    X(ERR_METHOD, 26, "method", "compression method is neither stored (0) nor deflate (8)")   \
    X(ERR_LOCAL, 27, "local-header", "no valid local header at the entry's offset")           \
    X(ERR_PAST_EOF, 28, "past-eof", "the entry's data runs past the end of the file")         \
    X(ERR_SIZES, 29, "sizes", "inconsistent sizes (stored entry with compressed != "          \
      "uncompressed size, or data with a zero compressed size)")                               \
    X(ERR_ZIP64, 30, "zip64-field", "a size or offset is 0xFFFFFFFF but the ZIP64 extra "    \
      "field does not supply it")                                                              \
    /* archive */                                                                              \
    X(A_EOCD_COMMENT, 40, "eocd-comment", "the end record's comment length does not match "   \
      "the bytes after it (trailing data, or a truncated comment)")                            \
    X(A_EOCD_IN_COMMENT, 41, "eocd-in-comment", "an end-of-central-directory record is "      \
      "hidden in another one's comment (readers may pick different ones)")                     \
    X(A_CD_TRAILING, 42, "cd-trailing", "the central directory holds bytes after its "        \
      "declared entries (zipfile reads records by size, miniz by count)")                      \
    X(A_CD_GAP, 43, "cd-gap", "bytes between the central directory and the end record "       \
      "(zipfile would shift every offset by them, torch does not)")                            \
    X(A_PREFIX, 44, "prefix", "bytes before the first entry (polyglot or prepended data)")    \
    X(A_HIDDEN, 45, "hidden-bytes", "bytes between entries that belong to no entry")          \
    X(A_ZIP64_MISMATCH, 46, "zip64-mismatch", "the ZIP64 end record disagrees with the "      \
      "classic end record")                                                                    \
    X(A_ZIP64_LOCATOR, 47, "zip64-locator", "the ZIP64 locator does not point at the ZIP64 "  \
      "end record (found just before the locator instead)")
/* clang-format on */

/* 64-bit masks: enum constants must fit an int, so these are constants instead. */
#define X(id, bit, name, text) static const uint64_t ZIP_##id = UINT64_C(1) << (bit);
ZIP_ANOMALY_LIST(X)
#undef X
#define ZIP_ERR_MASK                                                                               \
    (ZIP_ERR_ENCRYPTED | ZIP_ERR_PATCH | ZIP_ERR_METHOD | ZIP_ERR_LOCAL | ZIP_ERR_PAST_EOF |       \
     ZIP_ERR_SIZES | ZIP_ERR_ZIP64)

typedef struct zip_entry {
    const uint8_t *name; /* central-directory name bytes, in the file, NOT NUL-terminated */
    size_t name_len;
    uint16_t method;       /* central directory: 0 stored, 8 deflate, else unsupported */
    uint16_t flags;        /* central directory general-purpose flags */
    uint16_t local_flags;  /* local header flags (valid unless ZIP_ERR_LOCAL) */
    uint32_t crc32;        /* central directory CRC-32 */
    uint64_t csize, usize; /* central directory sizes (ZIP64 extra applied) */
    uint64_t cd_offset;    /* file offset of the central directory record */
    uint64_t local_offset; /* file offset of the local header */
    uint64_t data_offset;  /* file offset of the data (0 when ZIP_ERR_LOCAL) */
    uint64_t anomalies;    /* ZIP_* entry bits; ZIP_CRC is added by zip_read */
} zip_entry;

typedef struct zip_archive zip_archive;

/* Reads the directory of the zip in data[0..len). lim NULL: defaults. All memory is charged
 * to mem, which must outlive the archive. Errors: BRINE_ERR_MALFORMED (with the offset),
 * BRINE_ERR_LIMIT (zip_max_entries), BRINE_ERR_NOMEM. *out is NULL on failure. */
brine_status zip_open(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                      zip_archive **out, brine_error *err);
/* Accepts NULL. Does not free buffers returned by zip_read (see zip_release). */
void zip_close(zip_archive *za);

size_t zip_count(const zip_archive *za);
/* The i-th entry in central-directory order; NULL when i is out of range. */
const zip_entry *zip_entry_at(const zip_archive *za, size_t i);
/* ZIP_A_* bits about the whole file. */
uint64_t zip_archive_anomalies(const zip_archive *za);
/* File offset of the central directory, and of the end-of-central-directory record. */
uint64_t zip_cd_offset(const zip_archive *za);
uint64_t zip_eocd_offset(const zip_archive *za);
/* 1 when the archive has a ZIP64 end record. */
int zip_is_zip64(const zip_archive *za);

/* The index of the entry called name, as miniz (torch) looks it up: ASCII case-insensitive.
 * When several entries match (ZIP_DUPLICATE/ZIP_DUPLICATE_CASE), the first in directory
 * order; callers must treat such archives as ambiguous. -1 when none matches. */
long zip_find(const zip_archive *za, const char *name, size_t name_len);

/* zip_read flags */
#define ZIP_READ_NO_CRC 1u /* do not verify the CRC-32 of stored data (zero-copy mapping) */
/* read an entry flagged encrypted or patch data as if it were not: its bytes may still be a
 * plain payload that another reader (or a repaired copy) loads, and must be judged */
#define ZIP_READ_IGNORE_FLAGS 2u

/* The data of entry i. Stored entries: *data points into the file, *owned = 0 (nothing is
 * copied). Deflated entries: inflated into a buffer charged to the archive's budget,
 * *owned = 1; release it with zip_release. Refuses entries with ZIP_ERR_* bits
 * (BRINE_ERR_UNSUPPORTED for encryption/method, else BRINE_ERR_MALFORMED) and enforces
 * zip_max_entry_bytes, zip_max_ratio and (over all reads) zip_max_total_bytes before
 * allocating (BRINE_ERR_LIMIT). The inflated size must equal the declared size exactly, as
 * miniz requires. A CRC mismatch is not an error: it sets ZIP_CRC on the entry (torch
 * ignores CRCs). */
brine_status zip_read(zip_archive *za, size_t i, unsigned flags, const uint8_t **data, size_t *len,
                      int *owned, brine_error *err);
/* Frees what zip_read returned (does nothing when owned is 0). */
void zip_release(zip_archive *za, const uint8_t *data, size_t len, int owned);

/* For one anomaly bit: a short stable identifier ("local-name"), the same as a finding rule
 * ("zip-local-name"), and a sentence. All are string constants; NULL for bits that are not
 * anomalies. */
const char *zip_anomaly_name(uint64_t bit);
const char *zip_anomaly_rule(uint64_t bit);
const char *zip_anomaly_text(uint64_t bit);

#endif
