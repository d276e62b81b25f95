/*
 * fuzz_onnx.c — the ONNX reader (src/formats/onnx.c) and the protobuf wire reader
 * (src/formats/protobuf.c) on arbitrary bytes, through scan and load
 * (fuzz_model_formats.h), plus a walk of every field of the top-level message: each slice
 * pb_next hands out lies inside the input and the walk ends.
 */
#include "fuzz_model_formats.h"

#include "formats/protobuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pb_msg m;
    pb_field f;
    pb_init(&m, data, size, 0);
    size_t fields = 0;
    int r;
    while ((r = pb_next(&m, &f)) > 0) {
        FUZZ_CHECK(f.at <= size, "field offset %llu past %zu", (unsigned long long)f.at, size);
        if (f.data)
            FUZZ_CHECK(f.data >= data && f.len <= size - (size_t)(f.data - data),
                       "a slice outside the input");
        FUZZ_CHECK(++fields <= size, "more fields than bytes");
    }
    FUZZ_CHECK(r == 0 || m.why != NULL, "an error without a reason");
    fuzz_model_format(data, size, "onnx", 0);
    return 0;
}
