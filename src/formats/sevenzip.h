/*
 * sevenzip.h — 7z archives through libarchive: every member's name and bytes, one at a time.
 *
 * Models ship as .7z on file-sharing sites and in some model hubs' mirrors, and py7zr extracts
 * them without complaint; what is inside is then loaded like any other file. brine does not
 * decompress 7z members itself (LZMA, LZMA2, PPMd, BCJ filters, solid blocks): libarchive
 * does, within brine's limits, after brine has read the header's counts (sevenzip_header.h). libarchive's own bookkeeping is not charged to brine's budget; member bytes
 * are, and they grow with what the decoder actually produces, never with a size the archive
 * declares.
 */
#ifndef BRINE_FORMATS_SEVENZIP_H
#define BRINE_FORMATS_SEVENZIP_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"

typedef struct sz_member {
    const char *name; /* UTF-8 path as libarchive gives it, NUL-terminated (valid during the
                         callback only) */
    size_t name_len;
    const char *linkname;  /* symlinks: the UTF-8 target (valid during the callback), else NULL */
    char type;             /* tar spelling: '0' file, '5' directory, '2' symlink, '?' other */
    uint64_t index;        /* position in the archive, from 0 */
    const uint8_t *data;   /* the member's bytes for files read completely; else NULL */
    size_t len;            /* bytes in data */
    int64_t declared_size; /* size the archive declares, -1 when unset */
    brine_status status;   /* BRINE_OK, or why data is NULL for a file: BRINE_ERR_UNSUPPORTED
                              (encrypted, unsupported method), BRINE_ERR_MALFORMED (corrupt,
                              size differs from the declared one), BRINE_ERR_LIMIT */
    const char *reason;    /* status != BRINE_OK: what happened (valid during the callback) */
} sz_member;

/* Returns BRINE_OK to go on; any other status stops the walk and is returned by sz_each. */
typedef brine_status (*sz_member_fn)(void *ctx, const sz_member *m);

/* How sure the bytes are a 7z archive, 0..100: the 6-byte signature "7z\xBC\xAF\x27\x1C". */
int sz_probe(const uint8_t *data, size_t len);

/* Calls cb for every member of the 7z in data[0..len), in archive order. The bytes handed to
 * cb are freed when it returns. Limits: archive_max_members, archive_max_name,
 * zip_max_entry_bytes (one member), zip_max_total_bytes (all members) and zip_max_ratio
 * (decompressed bytes of the whole archive / input size); a member over a limit is handed to
 * cb with status BRINE_ERR_LIMIT, and the walk then stops with BRINE_ERR_LIMIT. A member that
 * cannot be decoded (encrypted: reason names it) is handed over with its status and the walk
 * goes on when libarchive can. Errors: BRINE_ERR_MALFORMED / BRINE_ERR_UNSUPPORTED when the
 * archive itself cannot be read (not 7z, corrupt headers, encrypted headers or headers packed
 * other than by LZMA, LZMA2 or storing), with the member index reached in err;
 * BRINE_ERR_LIMIT (also max_memory, for a coder's declared dictionary); BRINE_ERR_NOMEM; or
 * cb's status. */
brine_status sz_each(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                     sz_member_fn cb, void *ctx, brine_error *err);

#endif
