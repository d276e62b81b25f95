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

/* One reading: decode, report how it ends, and walk what came out. */
static brine_status read_stream(fmt_env *env, flt_kind k, flt_reader reader, const uint8_t *data,
                                size_t len, int confident, const flt_output *other)
{
    mem_budget *mem = fmt_mem(env);
    flt_output out;
    brine_error err;
    brine_status st = flt_decode(k, reader, data, len, mem, fmt_limits(env), &out, &err);
    if (st == BRINE_ERR_NOMEM || st == BRINE_ERR_USAGE) {
        flt_output_free(&out, mem);
        return st;
    }
    if (other && st == BRINE_OK && out.len == other->len &&
        (!out.len || memcmp(out.data, other->data, out.len) == 0)) {
        flt_output_free(&out, mem); /* joblib sees the same bytes: one reading is enough */
        return BRINE_OK;
    }
    char member[48];
    snprintf(member, sizeof member, "<%s%s>", flt_name(k),
             reader == FLT_READER_JOBLIB ? " as joblib reads it" : "");
    brine_status fst = BRINE_OK;
    if (confident || out.len)
        fmt_set_format(env, flt_name(k));
    if (st && (confident || out.len))
        fst = fmt_error_finding(env, member, &err,
                                out.silent_truncation ? "the stream is cut short (the reader "
                                                        "returns what it has)"
                                                      : "the stream cannot be decompressed");
    else if (!st && out.end == FLT_END_HANG)
        fst = fmt_finding(env, BRINE_INVALID, "trailing-data", member, (int64_t)out.consumed,
                          "bytes after the compressed stream: joblib's reader loops forever "
                          "asking for more");
    if (fst) {
        flt_output_free(&out, mem);
        return fst;
    }
    if (!out.len) {
        flt_output_free(&out, mem);
        return BRINE_OK;
    }
    unsigned *depth = fmt_filter_depth(env);
    if (flt_check_depth(*depth, fmt_limits(env), &err) != BRINE_OK) {
        flt_output_free(&out, mem);
        return fmt_error_finding(env, member, &err, NULL);
    }
    ++*depth;
    st = fmt_file(env, member, out.data, out.len);
    --*depth;
    if (!st && fmt_loading(env) && reader == FLT_READER_PYTHON) {
        uint8_t *p = out.data;
        size_t cap = out.cap;
        out.data = NULL;
        return fmt_hold_buffer(env, p, cap); /* tensors may point into it */
    }
    flt_output_free(&out, mem);
    return st;
}

static brine_status compressed_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    int confidence = 0;
    flt_kind k = flt_probe(data, len, &confidence);
    brine_status st = read_stream(env, k, FLT_READER_PYTHON, data, len, confidence >= 90, NULL);
    if (st || (k != FLT_GZIP && k != FLT_ZLIB))
        return st;
    /* joblib reads gzip and zlib with its own file objects: compare its reading */
    flt_output python;
    brine_error err;
    brine_status pst =
        flt_decode(k, FLT_READER_PYTHON, data, len, fmt_mem(env), fmt_limits(env), &python, &err);
    if (pst == BRINE_ERR_NOMEM) {
        flt_output_free(&python, fmt_mem(env));
        return pst;
    }
    st = read_stream(env, k, FLT_READER_JOBLIB, data, len, confidence >= 90,
                     pst == BRINE_OK ? &python : NULL);
    flt_output_free(&python, fmt_mem(env));
    return st;
}

const fmt_ops fmt_compressed = {"compressed", compressed_bid, compressed_walk, NULL};
