/*
 * h5lib.c — libhdf5 loaded on first use (src/core/lazylib.h says why).
 */
#define H5LIB_IMPLEMENTATION
#include "formats/h5lib.h"

#ifdef BRINE_NO_DLOPEN

brine_status h5lib_load(brine_error *err)
{
    (void)err;
    return BRINE_OK;
}

#else

#include "core/lazylib.h"

#ifndef BRINE_HDF5_SONAME
#error "BRINE_HDF5_SONAME names the libhdf5 to load (CMakeLists.txt reads it from the library)"
#endif

h5lib_api h5lib;

static brine_status resolve(void *lib, brine_error *err)
{
    h5lib_api api;
    brine_status st = BRINE_OK;
#define H5LIB_RESOLVE(name)                                                                       \
    if (!st)                                                                                      \
        st = lazylib_symbol(lib, BRINE_HDF5_SONAME, #name, &api.name, sizeof api.name, err);
    H5LIB_FUNCTIONS(H5LIB_RESOLVE)
    H5LIB_VARIABLES(H5LIB_RESOLVE)
#undef H5LIB_RESOLVE
    if (st)
        return st;
    /* what H5CHECK and H5OPEN do before every id when libhdf5 is linked (a library of another
     * release than the headers aborts in H5check_version, as a linked one would) */
    if (api.H5check_version(H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE) < 0 ||
        api.H5open() < 0)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__, "%s does not initialise",
                       BRINE_HDF5_SONAME);
    h5lib = api;
    return BRINE_OK;
}

brine_status h5lib_load(brine_error *err)
{
    static lazylib lib = LAZYLIB_INIT;
    return lazylib_load(&lib, BRINE_HDF5_SONAME, "libhdf5, which reads HDF5 files,", resolve,
                        err);
}

#endif
