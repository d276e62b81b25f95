/*
 * fuzz_filters.c — the decompression filters (src/filters/) on arbitrary bytes.
 *
 * Every input is probed, then decoded as every codec (and as joblib reads gzip and zlib),
 * whatever the probe says, so each decoder sees the mutations of every other's seeds. The
 * contract checks: the status is one flt_decode documents; the output never exceeds the
 * limit nor its buffer; `consumed` stays inside the input; the "end" and "silent truncation"
 * fields only appear with the statuses they belong to; xz and lzma (both read through
 * LZMAFile's FORMAT_AUTO) agree byte for byte; and freeing returns every byte to the budget.
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "filters/filters.h"

static brine_status decode_once(flt_kind k, flt_reader rd, const uint8_t *data, size_t size,
                                const brine_limits *lim, mem_budget *mem, flt_output *out)
{
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = flt_decode(k, rd, data, size, mem, lim, out, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_MALFORMED || st == BRINE_ERR_LIMIT ||
                   st == BRINE_ERR_NOMEM,
               "%s: flt_decode returned %d: %s", flt_name(k), (int)st, err.msg);
    FUZZ_CHECK(out->len <= out->cap && out->len <= lim->filter_max_bytes,
               "%s: %zu bytes out, cap %zu", flt_name(k), out->len, out->cap);
    FUZZ_CHECK(out->len == 0 || out->data != NULL, "%s: bytes without a buffer", flt_name(k));
    FUZZ_CHECK(out->consumed <= size, "%s: consumed %llu of %zu", flt_name(k),
               (unsigned long long)out->consumed, size);
    FUZZ_CHECK(mem->used >= out->cap, "%s: output not charged", flt_name(k));
    if (st == BRINE_OK) {
        FUZZ_CHECK(out->end <= FLT_END_HANG && !out->silent_truncation, "%s: bad end %d/%d",
                   flt_name(k), (int)out->end, out->silent_truncation);
        FUZZ_CHECK(out->end != FLT_END_CLEAN || out->consumed == size || out->streams == 0,
                   "%s: clean end at %llu of %zu", flt_name(k), (unsigned long long)out->consumed,
                   size);
        FUZZ_CHECK(out->end != FLT_END_HANG || rd == FLT_READER_JOBLIB, "%s: a hang outside joblib",
                   flt_name(k));
    } else {
        FUZZ_CHECK(!out->silent_truncation || st == BRINE_ERR_MALFORMED,
                   "%s: silent truncation with status %d", flt_name(k), (int)st);
        FUZZ_CHECK(err.msg[0] != '\0', "%s: error without a message", flt_name(k));
    }
    unsigned long sum = 0; /* touch every byte: the sanitizers check the buffer */
    for (size_t i = 0; i < out->len; i++)
        sum += out->data[i];
    (void)sum;
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    if (!data)
        data = empty;
    brine_limits req, lim;
    fuzz_limits(&req);
    req.filter_max_bytes = UINT64_C(16) << 20;
    lim_resolve(&req, &lim);

    int conf = -1;
    flt_kind probed = flt_probe(data, size, &conf);
    FUZZ_CHECK(probed < FLT_KIND_COUNT && conf >= 0 && conf <= 100 &&
                   (probed != FLT_NONE) == (conf > 0),
               "probe: %d with confidence %d", (int)probed, conf);

    for (int k = FLT_GZIP; k < FLT_KIND_COUNT; k++) {
        for (int rd = FLT_READER_PYTHON; rd <= FLT_READER_JOBLIB; rd++) {
            if (rd == FLT_READER_JOBLIB && k != FLT_GZIP && k != FLT_ZLIB)
                continue;
            mem_budget mem;
            mem_budget_init(&mem, lim.max_memory);
            flt_output out;
            brine_status st =
                decode_once((flt_kind)k, (flt_reader)rd, data, size, &lim, &mem, &out);
            if (k == FLT_XZ) { /* LZMAFile(FORMAT_AUTO) reads both: the same answer */
                mem_budget mem2;
                mem_budget_init(&mem2, lim.max_memory);
                flt_output out2;
                brine_status st2 =
                    decode_once(FLT_LZMA_ALONE, FLT_READER_PYTHON, data, size, &lim, &mem2, &out2);
                FUZZ_CHECK(st == st2 && out.len == out2.len &&
                               (out.len == 0 || memcmp(out.data, out2.data, out.len) == 0),
                           "xz and lzma disagree: %d/%zu vs %d/%zu", (int)st, out.len, (int)st2,
                           out2.len);
                flt_output_free(&out2, &mem2);
                FUZZ_CHECK(mem2.used == 0, "lzma: %llu bytes left", (unsigned long long)mem2.used);
            }
            flt_output_free(&out, &mem);
            FUZZ_CHECK(mem.used == 0, "%s: %llu bytes still charged after flt_output_free",
                       flt_name((flt_kind)k), (unsigned long long)mem.used);
        }
    }
    return 0;
}
