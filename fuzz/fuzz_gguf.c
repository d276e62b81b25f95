/*
 * fuzz_gguf.c — the GGUF reader (src/formats/gguf.c) on arbitrary bytes, through scan and
 * load (fuzz_model_formats.h). Anything that opens with the GGUF magic is named gguf.
 */
#include "fuzz_model_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_model_format(data, size, "gguf", size >= 4 && memcmp(data, "GGUF", 4) == 0);
    return 0;
}
