/*
 * fuzz_zip.c — the zip directory reader (src/formats/zip.c) on arbitrary bytes.
 *
 * Opens the archive as torch's reader would, then checks what it claims: every entry's name
 * and data lie inside the input, readable entries have a local header and data in bounds,
 * zip_find finds each name, zip_read gives exactly the declared size (pointing into the input
 * when stored, in a budgeted buffer when inflated), and closing the archive returns every
 * byte to the memory budget.
 */
#include "fuzz.h"

#include <strings.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/zip.h"

static int inside(const uint8_t *base, size_t len, const uint8_t *p, uint64_t n)
{
    return p >= base && (uint64_t)(p - base) <= len && n <= len - (uint64_t)(p - base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    if (!data)
        data = empty;
    brine_limits req, lim;
    fuzz_limits(&req);
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    zip_archive *za = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = zip_open(data, size, &lim, &mem, &za, &err);
    if (st != BRINE_OK) {
        FUZZ_CHECK(za == NULL, "zip_open failed (%d) but returned an archive", (int)st);
        FUZZ_CHECK(st == BRINE_ERR_MALFORMED || st == BRINE_ERR_LIMIT || st == BRINE_ERR_NOMEM,
                   "zip_open returned %d: %s", (int)st, err.msg);
        FUZZ_CHECK(mem.used == 0, "%llu bytes charged after a failed zip_open",
                   (unsigned long long)mem.used);
        return 0;
    }
    FUZZ_CHECK(za != NULL, "zip_open: BRINE_OK without an archive");
    size_t n = zip_count(za);
    FUZZ_CHECK(n <= lim.zip_max_entries, "%zu entries over the limit", n);
    FUZZ_CHECK(zip_entry_at(za, n) == NULL, "entry past the end is not NULL");
    FUZZ_CHECK(zip_cd_offset(za) <= size && zip_eocd_offset(za) <= size,
               "directory offsets outside the input");
    for (size_t i = 0; i < n; i++) {
        const zip_entry *e = zip_entry_at(za, i);
        FUZZ_CHECK(e != NULL, "entry %zu is NULL", i);
        FUZZ_CHECK(e->name_len == 0 || inside(data, size, e->name, e->name_len),
                   "entry %zu: name outside the input", i);
        FUZZ_CHECK(e->cd_offset < size, "entry %zu: central record outside the input", i);
        for (uint64_t bit = 1; bit; bit <<= 1)
            if (e->anomalies & bit)
                FUZZ_CHECK(zip_anomaly_name(bit) && zip_anomaly_text(bit) &&
                               strlen(zip_anomaly_name(bit)) > 0,
                           "entry %zu: anomaly bit %llx has no name", i, (unsigned long long)bit);
        if (!(e->anomalies & ZIP_ERR_MASK)) {
            FUZZ_CHECK(e->data_offset <= size && e->csize <= size - e->data_offset,
                       "entry %zu: readable, but its data is outside the input", i);
        }
        long found = zip_find(za, (const char *)e->name, e->name_len);
        FUZZ_CHECK(found >= 0 && (size_t)found <= i, "entry %zu: zip_find gives %ld", i, found);
        const zip_entry *fe = zip_entry_at(za, (size_t)found);
        FUZZ_CHECK(
            fe->name_len == e->name_len &&
                (e->name_len == 0 ||
                 strncasecmp((const char *)fe->name, (const char *)e->name, e->name_len) == 0 ||
                 memchr(e->name, 0, e->name_len) != NULL),
            "entry %zu: zip_find found another name", i);

        for (unsigned flags = 0; flags <= ZIP_READ_NO_CRC; flags++) {
            const uint8_t *out = NULL;
            size_t len = 0;
            int owned = 0;
            uint64_t before = mem.used;
            st = zip_read(za, i, flags, &out, &len, &owned, &err);
            if (st != BRINE_OK) {
                FUZZ_CHECK(st == BRINE_ERR_MALFORMED || st == BRINE_ERR_LIMIT ||
                               st == BRINE_ERR_NOMEM || st == BRINE_ERR_UNSUPPORTED,
                           "zip_read returned %d: %s", (int)st, err.msg);
                FUZZ_CHECK(mem.used == before, "a failed zip_read keeps %llu bytes",
                           (unsigned long long)(mem.used - before));
                continue;
            }
            FUZZ_CHECK(!(e->anomalies & ZIP_ERR_MASK), "entry %zu with an error bit was read", i);
            FUZZ_CHECK(len == e->usize, "entry %zu: read %zu bytes, declared %llu", i, len,
                       (unsigned long long)e->usize);
            FUZZ_CHECK(len == 0 || out != NULL, "entry %zu: NULL data", i);
            if (!owned)
                FUZZ_CHECK(len == 0 || inside(data, size, out, len),
                           "entry %zu: unowned data outside the input", i);
            unsigned long sum = 0;
            for (size_t k = 0; k < len; k++)
                sum += out[k];
            (void)sum;
            zip_release(za, out, len, owned);
            FUZZ_CHECK(mem.used == before, "zip_release leaves %llu bytes charged",
                       (unsigned long long)(mem.used - before));
        }
    }
    (void)zip_archive_anomalies(za);
    (void)zip_is_zip64(za);
    zip_close(za);
    FUZZ_CHECK(mem.used == 0, "%llu bytes still charged after zip_close",
               (unsigned long long)mem.used);
    return 0;
}
