/* file.h — the input file behind a mapping, for the paths that move or skip its bytes. */
#ifndef BRINE_CORE_FILE_H
#define BRINE_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"

/* As brine_map_file, and *fd is the open, read-only descriptor of the same file (data[i] is
 * byte i of it), for copying tensor bytes without faulting the mapping in. The caller closes
 * it. */
brine_status file_map_fd(const char *path, const uint8_t **data, size_t *len, int *fd,
                         brine_error *err);

/* Hints for the kernel about how [p, p + len) of a mapping will be read; the range is widened
 * to whole pages and failures are ignored (a hint on heap memory is harmless). */
void file_advise_random(const void *p, size_t len);   /* headers here and there: no read-ahead */
void file_advise_willneed(const void *p, size_t len); /* about to be read whole: read it now */
void file_advise_normal(const void *p, size_t len);   /* back to the default read-ahead */

#endif
