/* registry.c — the formats brine knows. Every format that bids walks a file (formats/format.h). */
#include "formats/format.h"

extern const fmt_ops fmt_raw_pickle;
extern const fmt_ops fmt_torch_legacy;
extern const fmt_ops fmt_zip;
extern const fmt_ops fmt_safetensors;
extern const fmt_ops fmt_torch_tar;
extern const fmt_ops fmt_compressed;
extern const fmt_ops fmt_tar;
extern const fmt_ops fmt_7z;
extern const fmt_ops fmt_joblib_zfile;
extern const fmt_ops fmt_npy;
extern const fmt_ops fmt_gguf;
extern const fmt_ops fmt_onnx;
extern const fmt_ops fmt_tf_savedmodel;
extern const fmt_ops fmt_keras_metadata;
extern const fmt_ops fmt_keras_h5;

/* clang-format off */
const fmt_ops *const fmt_registry[] = {
    &fmt_raw_pickle,
    &fmt_torch_legacy,
    &fmt_zip,
    &fmt_safetensors,
    &fmt_torch_tar,
    &fmt_tar,
    &fmt_7z,
    &fmt_compressed,
    &fmt_joblib_zfile,
    &fmt_npy,
    &fmt_gguf,
    &fmt_onnx,
    &fmt_tf_savedmodel,
    &fmt_keras_metadata,
    &fmt_keras_h5,
    NULL,
};
/* clang-format on */
