/* file.h — the input file behind a mapping, for the paths that move or skip its bytes. */
#ifndef BRINE_CORE_FILE_H
#define BRINE_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"

/* 1 when [p, p + len) lies in a mapping made by brine_map_file, with *fd the open, read-only
 * descriptor of its file (valid until brine_unmap) and *offset where p is in it; else 0 (a
 * small file read into memory, an inflated member, any other buffer). */
int file_source(const void *p, size_t len, int *fd, uint64_t *offset);

/* Hints for the kernel about how [p, p + len) of a mapping will be read; the range is widened
 * to whole pages and failures are ignored (a hint on heap memory is harmless). */
void file_advise_random(const void *p, size_t len);   /* headers here and there: no read-ahead */
void file_advise_willneed(const void *p, size_t len); /* about to be read whole: read it now */
void file_advise_normal(const void *p, size_t len);   /* back to the default read-ahead */
/* Starts reading the page holding p, without waiting (many such requests run in parallel). */
void file_prefetch_page(const void *p);
/* Takes the whole pages of [p, p + len) out of the resident set when they lie in a file
 * mapping (read once, likely not again: a pickle behind the machine's cursor). They stay in
 * the page cache; a later read maps them again with the same bytes (the mapping is private
 * and read-only: no page of it was ever copied). No-op on any other buffer. */
void file_release(const void *p, size_t len);

#endif
