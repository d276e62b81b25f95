/* registry.c — the formats brine knows, and detection by bidding (libarchive's model). */
#include "formats/format.h"

extern const fmt_desc fmt_pickle;
extern const fmt_desc fmt_zip;
extern const fmt_desc fmt_safetensors;
extern const fmt_desc fmt_torch_tar;

const fmt_desc *const fmt_registry[] = {
    &fmt_pickle,
    &fmt_zip,
    &fmt_safetensors,
    &fmt_torch_tar,
    NULL,
};

const fmt_desc *fmt_detect(const uint8_t *data, size_t len)
{
    const fmt_desc *best = NULL;
    int best_bid = 0;
    for (size_t i = 0; fmt_registry[i]; i++) {
        int bid = fmt_registry[i]->probe(data, len);
        if (bid > best_bid) {
            best_bid = bid;
            best = fmt_registry[i];
        }
    }
    return best;
}
