/* api_header.c — a program of strict ISO C99 (or, compiled as C++, C++11) using brine.h: the
 * public header must compile with -pedantic-errors in both languages, and link. */
#include "brine.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    brine_limits limits;
    brine_limits_default(&limits);
    if (strcmp(brine_version(), BRINE_VERSION_STRING) != 0) {
        printf("header %s, library %s\n", BRINE_VERSION_STRING, brine_version());
        return 1;
    }
    brine_result *r = NULL;
    brine_scan_options opts;
    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    static const uint8_t empty_dict[] = {0x80, 0x02, '}', '.'};
    if (brine_scan_bytes(empty_dict, sizeof empty_dict, &opts, &r, NULL) != BRINE_OK)
        return 1;
    printf("brine %s (%d): %s\n", brine_version(), BRINE_VERSION_NUMBER,
           brine_verdict_name(brine_result_verdict(r)));
    int ok = brine_result_verdict(r) == BRINE_SAFE;
    brine_result_free(r);
    return ok ? 0 : 1;
}
