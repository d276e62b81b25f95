/*
 * fuzz_savedmodel.c — the TensorFlow SavedModel and keras_metadata.pb readers
 * (src/formats/tf_savedmodel.c) on arbitrary bytes, through scan and load
 * (fuzz_model_formats.h).
 */
#include "fuzz_model_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_model_format(data, size, "tf-savedmodel", 0);
    return 0;
}
