/*
 * arlib.c — libarchive loaded on first use (src/core/lazylib.h says why).
 */
#define ARLIB_IMPLEMENTATION
#include "formats/arlib.h"

#ifdef BRINE_NO_DLOPEN

brine_status arlib_load(brine_error *err)
{
    (void)err;
    return BRINE_OK;
}

#else

#include "core/lazylib.h"

#ifndef BRINE_LIBARCHIVE_SONAME
#error "BRINE_LIBARCHIVE_SONAME names the libarchive to load (CMakeLists.txt reads it)"
#endif

arlib_api arlib;

static brine_status resolve(void *lib, brine_error *err)
{
    arlib_api api;
    brine_status st = BRINE_OK;
#define ARLIB_RESOLVE(name)                                                                       \
    if (!st)                                                                                      \
        st = lazylib_symbol(lib, BRINE_LIBARCHIVE_SONAME, #name, &api.name, sizeof api.name, err);
    ARLIB_FUNCTIONS(ARLIB_RESOLVE)
#undef ARLIB_RESOLVE
    if (!st)
        arlib = api;
    return st;
}

brine_status arlib_load(brine_error *err)
{
    static lazylib lib = LAZYLIB_INIT;
    return lazylib_load(&lib, BRINE_LIBARCHIVE_SONAME, "libarchive, which reads 7z files,",
                        resolve, err);
}

#endif
