/*
 * tar.h — a tar reader that reads exactly what CPython 3.11's `tarfile` reads (mode 'r:').
 *
 * torch.load first hands any file to tarfile and falls back to pickle.load when tarfile raises
 * a TarError, so "would tarfile accept this, and which members would it list?" must be
 * answered the way tarfile answers it, not the way a tolerant tar tool would: header
 * checksums signed or unsigned (calc_chksums), numeric fields as nti() parses them (octal
 * through Python's int() with its whitespace, sign, `0o` prefix and `_` rules, or GNU
 * base-256), ustar prefixes, GNU long names/links, pax `x`/`g` records (path, linkpath, size,
 * GNU sparse keys) in dict order, no data skipped for links, directories, devices and fifos,
 * a silent stop at the first zero block, at a short header, or at a bad header after the
 * first one, and "the last member of a name wins" lookups.
 *
 * tar_open reads the whole header chain eagerly (as tarfile.getmembers() does) and never fails
 * because of the input: how tarfile would end is recorded in tar_outcome, what other readers
 * could see differently in anomaly bits. It fails only for limits (tar_max_members,
 * tar_max_name) and memory. The input is not copied: names and data point into the caller's
 * bytes (except ustar prefix names, which are joined in a budget-charged pool), which must
 * outlive the archive. Compression is not handled here: the caller unwraps gz/bz2/xz first.
 */
#ifndef BRINE_FORMATS_TAR_H
#define BRINE_FORMATS_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"

enum { TAR_BLOCK = 512 };

/* Anomalies: member bits (tar_member.anomalies) and archive bits (tar_anomalies). */
/* clang-format off */
#define TAR_ANOMALY_LIST(X)                                                                    \
    X(DUPLICATE, 0, "duplicate", "another member has the same name: tarfile's getmember "     \
      "(hence torch.load) reads the last one, other tools may read the first")                 \
    X(NAME_DOTDOT, 1, "name-dotdot", "the name has a '..' component (path traversal on "      \
      "extraction)")                                                                           \
    X(NAME_ABSOLUTE, 2, "name-absolute", "the name is an absolute path")                      \
    X(NAME_EMPTY, 3, "name-empty", "the name is empty")                                       \
    X(LINK, 4, "link", "a symbolic or hard link: extracting it makes its name open another "  \
      "file, possibly outside the archive")                                                    \
    X(LINK_ESCAPE, 5, "link-escape", "a link whose target is absolute or has a '..' "        \
      "component")                                                                             \
    X(SIZE_NO_DATA, 6, "size-no-data", "a link, directory, device or fifo declares a size: "  \
      "tarfile reads no data for it, so those bytes are read as the next headers, while "     \
      "other tools skip them")                                                                 \
    X(SPARSE, 7, "sparse", "a GNU sparse member: its bytes are a sparse map plus data, not "  \
      "the file; brine does not rebuild it")                                                   \
    X(UNKNOWN_TYPE, 8, "unknown-type", "a type tarfile does not know: it is read as a "       \
      "regular file")                                                                          \
    X(NEGATIVE_SIZE, 9, "negative-size", "a negative size (base-256 or a '-' sign)")          \
    X(PAX_NAME, 10, "pax-name", "a pax record or GNU long name replaces the header's name "   \
      "or size (readers that ignore extensions see another member)")                           \
    X(DATA_CUT, 11, "data-cut", "the member's data runs past the end of the file")            \
    /* archive */                                                                              \
    X(A_NO_END, 32, "no-end", "the archive has no end-of-archive zero block")                 \
    X(A_TRAILING, 33, "trailing", "non-zero bytes after the end-of-archive block (tarfile "   \
      "never reads them; other tools, or a polyglot reading, may)")                            \
    X(A_STOPPED, 34, "stopped-early", "a header after the first member is invalid (bad "      \
      "checksum or number) or cut short: tarfile stops there silently and never reads the "   \
      "bytes after it, other tools may skip ahead and read more members")                      \
    X(A_PAX_GLOBAL, 35, "pax-global", "a pax global header changes the members after it")     \
    X(A_LONG_CHAIN, 36, "long-chain", "many extension headers in a row before one member")
/* clang-format on */

#define X(id, bit, name, text) static const uint64_t TAR_##id = UINT64_C(1) << (bit);
TAR_ANOMALY_LIST(X)
#undef X

/* How tarfile.open(…, 'r:') followed by getmembers() ends. */
typedef struct tar_outcome {
    int open_ok;        /* tarfile.open returns: the first header chain was read (a first
                           block of zeros counts: tarfile then opens an empty archive) */
    int complete;       /* getmembers() returns: tarfile reached a clean stop */
    int read_error;     /* !complete: 1 = tarfile.ReadError (a TarError: torch.load falls back
                           to pickle.load); 0 = another exception or an endless loop */
    const char *reason; /* !complete: string constant, tarfile's message where it has one
                           ("empty file", "bad checksum", "unexpected end of data", …) */
    uint64_t offset;    /* !complete: offset of the header chain where it failed */
} tar_outcome;

typedef struct tar_member {
    const uint8_t *name; /* TarInfo.name as bytes (os.fsencode), NOT NUL-terminated */
    size_t name_len;
    const uint8_t *linkname; /* TarInfo.linkname as bytes */
    size_t linkname_len;
    char type;              /* TarInfo.type: '0', '5', '2', … ('\0' and v7 "dir/" fixed as
                               tarfile fixes them) */
    int64_t size;           /* TarInfo.size (pax or GNU sparse size applied) */
    uint64_t header_offset; /* TarInfo.offset: first header of the chain (pax/GNU included) */
    uint64_t data_offset;   /* TarInfo.offset_data */
    const uint8_t *data;    /* the bytes extractfile() gives: regular (or unknown-type),
                               non-sparse members whose data lies in the file; else NULL */
    uint64_t data_len;      /* == size when data != NULL */
    uint64_t anomalies;     /* TAR_* member bits */
} tar_member;

typedef struct tar_archive tar_archive;

/* How sure the bytes are a tar, 0..100, from the first header alone: 0 unless tarfile would
 * accept the first 512 bytes as a member header (checksum and every numeric field valid);
 * higher with a ustar/GNU magic than for a v7 header. */
int tar_probe(const uint8_t *data, size_t len);

/* Reads every header of the tar in data[0..len) as tarfile does. lim NULL: defaults. All
 * memory is charged to mem, which must outlive the archive. Input problems are not errors
 * (see tar_get_outcome and the anomaly bits). Errors: BRINE_ERR_LIMIT (tar_max_members,
 * tar_max_name), BRINE_ERR_NOMEM; *out is NULL on failure. */
brine_status tar_open(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                      tar_archive **out, brine_error *err);
/* Accepts NULL; returns every byte to the budget. */
void tar_close(tar_archive *ta);

/* tarfile's verdict on the whole file. */
const tar_outcome *tar_get_outcome(const tar_archive *ta);
/* The members tarfile lists (in order; when tarfile fails, those read before the failure). */
size_t tar_count(const tar_archive *ta);
const tar_member *tar_member_at(const tar_archive *ta, size_t i);
/* tarfile.getmember(name): the LAST member with exactly this name (name with trailing '/'
 * stripped, as getmember does); -1 when none. */
long tar_find(const tar_archive *ta, const char *name, size_t name_len);
/* tarfile._find_link_target for member i (what extractfile() of a link returns, and what
 * extract() copies when a hard link's target is not on disk): a hard link names a member
 * BEFORE it, a symbolic link is joined to its directory and may name any member; both
 * compared after posixpath.normpath, the last match wins. -1 when i is not a link or nothing
 * matches. O(members). */
long tar_find_link_target(const tar_archive *ta, size_t i);
/* TAR_A_* bits about the whole file, and the offset where tarfile stopped reading headers. */
uint64_t tar_anomalies(const tar_archive *ta);
uint64_t tar_end_offset(const tar_archive *ta);

/* 1 when torch.load would read this file as its oldest (tar) checkpoint format: tarfile opens
 * it and some member is named `storages`, `tensors`, `pickle` (what torch's legacy_load
 * extracts) or `sys_info` (which torch's tar writer added); a tar holding only config.json or
 * evil.pkl is not a checkpoint. When the listing then fails with a ReadError, torch falls back
 * to pickle.load instead (tar_get_outcome). */
int tar_is_torch(const tar_archive *ta);

/* For one anomaly bit: short name ("duplicate"), finding rule ("tar-duplicate"), sentence.
 * String constants; NULL for bits that are not anomalies. */
const char *tar_anomaly_name(uint64_t bit);
const char *tar_anomaly_rule(uint64_t bit);
const char *tar_anomaly_text(uint64_t bit);

#endif
