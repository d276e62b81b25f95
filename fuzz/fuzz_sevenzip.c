/*
 * fuzz_sevenzip.c — the 7z reader (src/formats/sevenzip.c, libarchive underneath) on arbitrary
 * bytes.
 *
 * Checks the wrapper's promises: members are handed over in order with sizes inside the
 * limits, a member's bytes exist exactly when its status is BRINE_OK and it is a file, every
 * failure is one of the documented statuses, and every byte charged to the budget is returned.
 */
#include "fuzz.h"

#include <zlib.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/sevenzip.h"

typedef struct walk {
    const brine_limits *lim;
    uint64_t next_index, total;
} walk;

static brine_status on_member(void *ctx, const sz_member *m)
{
    walk *w = ctx;
    FUZZ_CHECK(m->index == w->next_index, "member %llu handed over as %llu",
               (unsigned long long)w->next_index, (unsigned long long)m->index);
    w->next_index++;
    FUZZ_CHECK(m->name && strlen(m->name) == m->name_len, "member name length");
    FUZZ_CHECK(m->name_len <= w->lim->archive_max_name, "name over the limit");
    FUZZ_CHECK((m->data != NULL) == (m->status == BRINE_OK && m->type == '0'),
               "data present iff a file read completely");
    FUZZ_CHECK(m->status == BRINE_OK || m->reason != NULL, "a failed member without a reason");
    FUZZ_CHECK(m->status == BRINE_OK || m->status == BRINE_ERR_UNSUPPORTED ||
                   m->status == BRINE_ERR_MALFORMED || m->status == BRINE_ERR_LIMIT,
               "member status %d", (int)m->status);
    if (m->data) {
        FUZZ_CHECK(m->len <= w->lim->zip_max_entry_bytes, "member over zip_max_entry_bytes");
        unsigned long sum = 0;
        for (size_t k = 0; k < m->len; k++)
            sum += m->data[k];
        (void)sum;
        w->total += m->len;
        FUZZ_CHECK(w->total <= w->lim->zip_max_total_bytes, "over zip_max_total_bytes");
    }
    return BRINE_OK;
}

/* Half of the inputs get their two CRCs repaired, so that mutations reach libarchive's header
 * parser instead of stopping at brine's CRC check. */
static uint8_t *with_crcs(const uint8_t *data, size_t size)
{
    if (size < 33 || !(data[size - 1] & 1))
        return NULL;
    uint8_t *copy = malloc(size);
    if (!copy)
        return NULL;
    memcpy(copy, data, size);
    uint64_t off = 0, len = 0;
    for (int i = 7; i >= 0; i--)
        off = off << 8 | copy[12 + i], len = len << 8 | copy[20 + i];
    if (off <= size - 32 && len <= size - 32 - off) {
        uint32_t c = (uint32_t)crc32(0, copy + 32 + off, (uInt)len);
        for (int i = 0; i < 4; i++)
            copy[28 + i] = (uint8_t)(c >> (8 * i));
    }
    uint32_t c = (uint32_t)crc32(0, copy + 12, 20);
    for (int i = 0; i < 4; i++)
        copy[8 + i] = (uint8_t)(c >> (8 * i));
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    static const uint8_t empty[1];
    const uint8_t *data = input ? input : empty;
    uint8_t *repaired = with_crcs(data, size);
    if (repaired)
        data = repaired;
    brine_limits req, lim;
    fuzz_limits(&req);
    req.archive_max_members = 10000;
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    (void)sz_probe(data, size);
    walk w = {&lim, 0, 0};
    brine_error err;
    brine_status st = sz_each(data, size, &lim, &mem, on_member, &w, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_MALFORMED || st == BRINE_ERR_UNSUPPORTED ||
                   st == BRINE_ERR_LIMIT || st == BRINE_ERR_NOMEM,
               "sz_each returned %d: %s", (int)st, err.msg);
    FUZZ_CHECK(w.next_index <= lim.archive_max_members, "members over the limit");
    FUZZ_CHECK(mem.used == 0, "%llu bytes still charged", (unsigned long long)mem.used);
    free(repaired);
    return 0;
}
