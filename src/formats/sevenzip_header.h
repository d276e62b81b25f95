/*
 * sevenzip_header.h — the checks brine makes on a 7z archive's header before libarchive reads
 * it (sevenzip.c calls them).
 */
#ifndef BRINE_FORMATS_SEVENZIP_HEADER_H
#define BRINE_FORMATS_SEVENZIP_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"

/* data[0..len) is a 7z archive whose start header and next-header CRC are already checked.
 * Reads the next header (decoding it first when it is LZMA- or LZMA2-compressed) as far as
 * the file count and refuses what would make libarchive allocate by a declared number:
 * - a count of files, folders, pack or unpack streams over archive_max_members
 *   (BRINE_ERR_LIMIT) or over what the header's bytes can describe (BRINE_ERR_MALFORMED);
 * - an LZMA dictionary or PPMd model over max_memory (BRINE_ERR_LIMIT);
 * - a compressed header over zip_max_entry_bytes or zip_max_ratio (BRINE_ERR_LIMIT), an
 *   encrypted header or one compressed by another method (BRINE_ERR_UNSUPPORTED).
 * lim is resolved. Returns BRINE_OK, one of those, or BRINE_ERR_NOMEM. */
brine_status sz_header_check(const uint8_t *data, size_t len, const brine_limits *lim,
                             mem_budget *mem, brine_error *err);

#endif
