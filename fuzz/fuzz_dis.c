/*
 * fuzz_dis.c — brine_dis on arbitrary bytes, as a text listing and as JSON.
 *
 * A malformed stream is part of the output, not an error: brine_dis returns BRINE_OK (or a
 * resource error) for any bytes, and its JSON must be one valid document.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brine_limits lim;
    fuzz_limits(&lim);
    brine_error err;
    memset(&err, 0, sizeof err);
    fuzz_sink sink;
    memset(&sink, 0, sizeof sink);

    fuzz_sink_reset(&sink, 0);
    brine_status st = brine_dis(data, size, BRINE_DIS_TEXT, &lim, fuzz_write, &sink, &err);
    fuzz_expect_status(st, &err, "brine_dis (text)");

    fuzz_sink_reset(&sink, 1);
    st = brine_dis(data, size, BRINE_DIS_JSON, &lim, fuzz_write, &sink, &err);
    fuzz_expect_status(st, &err, "brine_dis (json)");
    if (st == BRINE_OK) {
        json_t *doc = fuzz_expect_json(&sink, "brine_dis JSON");
        if (doc) {
            FUZZ_CHECK(json_is_array(json_object_get(doc, "pickles")), "no pickles array");
            json_decref(doc);
        }
    }
    fuzz_sink_reset(&sink, 0);
    return 0;
}
