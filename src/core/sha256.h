/*
 * sha256.h — SHA-256 from libcrypto, loaded on first use.
 *
 * Only a few paths hash (nested pickles judged once per file, SARIF fingerprints, the HDF5
 * reader's cache, `load`'s tensor digests), but linking libcrypto cost every brine process
 * 1.7 MB of resident memory and 0.5 ms at start-up, more than the rest of its libraries
 * together. So the shared builds dlopen it as they do libhdf5 (src/core/lazylib.h); the
 * fully static tool links it.
 */
#ifndef BRINE_CORE_SHA256_H
#define BRINE_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum { SHA256_BYTES = 32 };

/* digest = SHA-256 of bytes[0..len). BRINE_ERR_UNSUPPORTED (err says why) when libcrypto
 * cannot be loaded. Thread-safe. */
brine_status sha256(const void *bytes, size_t len, uint8_t digest[SHA256_BYTES], brine_error *err);

#endif
