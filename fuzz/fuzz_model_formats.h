/*
 * fuzz_model_formats.h — what the GGUF, ONNX and SavedModel targets share: scan the bytes
 * (the verdict is the worst finding, the format is the expected one when the target's own
 * bid would claim the input), then open them as a model through a memfd and read and hash
 * every tensor it serves (ASan sees any slice that reaches past the input).
 */
#ifndef BRINE_FUZZ_MODEL_FORMATS_H
#define BRINE_FUZZ_MODEL_FORMATS_H

#include "fuzz.h"

/* Scans data (claims: the format must be want_format), then loads it. */
static inline void fuzz_model_format(const uint8_t *data, size_t size, const char *want_format,
                                     int claims)
{
    brine_limits lim;
    fuzz_limits(&lim);
    brine_scan_options sopts;
    memset(&sopts, 0, sizeof sopts);
    sopts.limits = &lim;
    brine_result *res = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = brine_scan_bytes(data, size, &sopts, &res, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM, "scan returned %d: %s", (int)st, err.msg);
    if (st != BRINE_OK)
        return;
    brine_verdict v = brine_result_verdict(res), worst = BRINE_SAFE;
    for (size_t i = 0; i < brine_result_finding_count(res); i++) {
        const brine_finding *f = brine_result_finding(res, i);
        FUZZ_CHECK(f->rule && f->message, "finding without rule or message");
        if (f->severity > worst)
            worst = f->severity;
    }
    FUZZ_CHECK(v == worst, "verdict %d, worst finding %d", (int)v, (int)worst);
    if (claims)
        FUZZ_CHECK(strcmp(brine_result_format(res), want_format) == 0,
                   "format %s, the input opens like %s", brine_result_format(res), want_format);
    brine_result_free(res);

    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    brine_load_options lopts;
    memset(&lopts, 0, sizeof lopts);
    lopts.limits = &lim;
    brine_model *m = NULL;
    st = brine_model_open(path, &lopts, &m, &err);
    if (st == BRINE_OK) {
        for (size_t i = 0; i < brine_model_tensor_count(m); i++) {
            brine_tensor_info t;
            FUZZ_CHECK(brine_model_tensor(m, i, &t, &err) == BRINE_OK, "tensor %zu: %s", i,
                       err.msg);
            uint8_t digest[32];
            st = brine_model_tensor_sha256(m, i, digest, &err);
            FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM, "hash of %s: %s", t.name, err.msg);
        }
        brine_model_free(m);
    }
    close(fd);
}

#endif
