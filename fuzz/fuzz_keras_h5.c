/*
 * fuzz_keras_h5.c — brine_scan_bytes on HDF5 files (Keras .h5, save_weights files) and Keras
 * v3 and skops archives, seeded from fuzz/corpus/keras_files: libhdf5 reading hostile files
 * through src/formats/keras.c, and the zip walk handing config.json, schema.json and
 * model.weights.h5 over. The checks are fuzz_scan.c's (the public contract of a result and of
 * its JSON report); only the seeds differ, so the time goes to these readers.
 */
#include "fuzz_scan.c"

/* libhdf5 1.10 leaves one block of its global state (424 bytes, allocated inside libhdf5)
 * unreachable at exit after some thousands of files; no single input reproduces it. Leaks
 * whose allocation is inside libhdf5 are not brine's: LeakSanitizer's hook skips them, every
 * other leak is still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }

/* A corrupt file can make libhdf5's metadata cache ask malloc for an impossible size
 * (0xff00...): glibc returns NULL and libhdf5 reports an error, which brine turns into
 * `invalid`. ASan's allocator would abort instead; let it return NULL as glibc does. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
