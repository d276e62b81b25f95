/*
 * format.h — the descriptor every container format exports (libarchive's bidding): detection
 * asks each format to probe the first bytes, and the most confident one scans the file.
 * Adding a format is one new file in src/formats/ and one line in formats/registry.c.
 */
#ifndef BRINE_FORMATS_FORMAT_H
#define BRINE_FORMATS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "scan/scan.h"

typedef struct fmt_desc {
    const char *name;
    /* 0: not this format; 1..100: how sure, from the bytes alone. */
    int (*probe)(const uint8_t *data, size_t len);
    /* Scans the whole file; findings go to sc. Malformed input is a finding, not an error:
     * return BRINE_OK unless memory runs out. */
    brine_status (*scan)(scan_ctx *sc, const uint8_t *data, size_t len);
} fmt_desc;

/* NULL-terminated, in registry order. */
extern const fmt_desc *const fmt_registry[];

/* The best format for data, or NULL when no format bids. */
const fmt_desc *fmt_detect(const uint8_t *data, size_t len);

#endif
