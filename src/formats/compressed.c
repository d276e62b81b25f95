/*
 * compressed.c — gzip, zlib, bz2, xz, lzma-alone, lz4 frame, zstd and lzip streams around a
 * model (joblib's and pandas' compressors, a gzipped pickle): unwrapped with the real libraries
 * (src/filters/) exactly as the Python reader reads them — every stream of a multi-stream file
 * — and the result detected and walked like a file, one level deeper, within the limits on
 * output, ratio and wrapping depth. Where joblib's reader sees other bytes than Python's
 * modules (it reads only the first gzip/zlib stream), both readings are judged. A stream that
 * cannot be decompressed is invalid; what came out before the error is still judged.
 */
#include <string.h>

#include "filters/filters.h"
#include "formats/format.h"

static int compressed_bid(const uint8_t *data, size_t len)
{
    int confidence = 0;
    return flt_probe(data, len, &confidence) == FLT_NONE ? 0 : confidence;
}

/* One reading (out, as flt_decode left it with status st): report how it ends, and walk what
 * came out. Takes out over: freed here, or kept for a load whose tensors point into it. */
static brine_status walk_reading(fmt_env *env, flt_kind k, flt_reader reader, flt_output *out,
                                 brine_status st, const brine_error *err, int confident)
{
    mem_budget *mem = fmt_mem(env);
    char member[48];
    snprintf(member, sizeof member, "<%s%s>", flt_name(k),
             reader == FLT_READER_JOBLIB ? " as joblib reads it" : "");
    brine_status fst = BRINE_OK;
    if (confident || out->len)
        fmt_set_format(env, flt_name(k));
    if (st && (confident || out->len))
        fst = fmt_error_finding(env, member, err,
                                out->silent_truncation ? "the stream is cut short (the reader "
                                                         "returns what it has)"
                                                       : "the stream cannot be decompressed");
    else if (!st && out->end == FLT_END_HANG)
        fst = fmt_finding(env, BRINE_INVALID, "trailing-data", member, (int64_t)out->consumed,
                          "bytes after the compressed stream: joblib's reader loops forever "
                          "asking for more");
    brine_error derr;
    if (!fst && out->len && flt_check_depth(*fmt_filter_depth(env), fmt_limits(env), &derr))
        fst = fmt_error_finding(env, member, &derr, NULL);
    else if (!fst && out->len) {
        ++*fmt_filter_depth(env);
        fst = fmt_file(env, member, out->data, out->len);
        --*fmt_filter_depth(env);
        if (!fst && fmt_loading(env)) {
            uint8_t *p = out->data;
            size_t cap = out->cap;
            out->data = NULL;
            out->len = out->cap = 0;
            return fmt_hold_buffer(env, p, cap); /* tensors may point into it */
        }
    }
    flt_output_free(out, mem);
    return fst;
}

static brine_status compressed_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    mem_budget *mem = fmt_mem(env);
    int confidence = 0;
    flt_kind k = flt_probe(data, len, &confidence);
    flt_output python, joblib;
    brine_error perr, jerr;
    brine_status pst =
        flt_decode(k, FLT_READER_PYTHON, data, len, mem, fmt_limits(env), &python, &perr);
    /* joblib reads gzip and zlib with its own file objects: its reading is judged too when
     * it sees other bytes (only the first stream, say) */
    int second = (k == FLT_GZIP || k == FLT_ZLIB) && pst != BRINE_ERR_NOMEM;
    brine_status jst =
        second ? flt_decode(k, FLT_READER_JOBLIB, data, len, mem, fmt_limits(env), &joblib, &jerr)
               : BRINE_OK;
    if (second && jst == BRINE_OK && pst == BRINE_OK && joblib.len == python.len &&
        (!python.len || memcmp(joblib.data, python.data, python.len) == 0)) {
        flt_output_free(&joblib, mem);
        second = 0;
    }
    brine_status st = BRINE_OK;
    if (pst == BRINE_ERR_NOMEM || pst == BRINE_ERR_USAGE)
        st = pst;
    else if (jst == BRINE_ERR_NOMEM)
        st = jst;
    if (st) {
        flt_output_free(&python, mem);
        if (second)
            flt_output_free(&joblib, mem);
        return st;
    }
    st = walk_reading(env, k, FLT_READER_PYTHON, &python, pst, &perr, confidence >= 90);
    if (second && !st)
        return walk_reading(env, k, FLT_READER_JOBLIB, &joblib, jst, &jerr, confidence >= 90);
    if (second)
        flt_output_free(&joblib, mem);
    return st;
}

const fmt_ops fmt_compressed = {"compressed", compressed_bid, compressed_walk, NULL};
