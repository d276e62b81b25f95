/*
 * sha256.c — libcrypto's one-shot SHA256(), linked or loaded on first use (sha256.h says why).
 */
#include "core/sha256.h"

#include <openssl/sha.h>

#ifdef BRINE_NO_DLOPEN

brine_status sha256(const void *bytes, size_t len, uint8_t digest[SHA256_BYTES], brine_error *err)
{
    (void)err;
    SHA256(bytes, len, digest);
    return BRINE_OK;
}

#else

#include "core/lazylib.h"

#ifndef BRINE_LIBCRYPTO_SONAME
#error "BRINE_LIBCRYPTO_SONAME names the libcrypto to load (CMakeLists.txt reads it)"
#endif

static __typeof__(SHA256) *sha256_fn;

static brine_status resolve(void *lib, brine_error *err)
{
    return lazylib_symbol(lib, BRINE_LIBCRYPTO_SONAME, "SHA256", &sha256_fn, sizeof sha256_fn, err);
}

brine_status sha256(const void *bytes, size_t len, uint8_t digest[SHA256_BYTES], brine_error *err)
{
    static lazylib lib = LAZYLIB_INIT;
    brine_status st = lazylib_load(&lib, BRINE_LIBCRYPTO_SONAME,
                                   "libcrypto, which computes SHA-256,", resolve, err);
    if (!st)
        sha256_fn(bytes, len, digest);
    return st;
}

#endif
