/*
 * h5lib.h — libhdf5 for keras.c, loaded when the first HDF5 file shows up
 * (src/core/lazylib.h says why).
 *
 * keras.c includes this after <hdf5.h>: unless BRINE_NO_DLOPEN, the API names it uses become
 * the loaded entry points and variables, so its code reads as plain HDF5.
 */
#ifndef BRINE_FORMATS_H5LIB_H
#define BRINE_FORMATS_H5LIB_H

#include <hdf5.h>

#include "core/error.h"

/* BRINE_OK once libhdf5 is usable; BRINE_ERR_UNSUPPORTED (err says why) when it cannot be
 * loaded — tried again on the next call. Thread-safe. */
brine_status h5lib_load(brine_error *err);

#ifndef BRINE_NO_DLOPEN

#define H5LIB_FUNCTIONS(X)                                                                         \
    X(H5open)                                                                                      \
    X(H5check_version)                                                                             \
    X(H5free_memory)                                                                               \
    X(H5Aclose)                                                                                    \
    X(H5Aexists)                                                                                   \
    X(H5Aget_space)                                                                                \
    X(H5Aget_type)                                                                                 \
    X(H5Aopen)                                                                                     \
    X(H5Aread)                                                                                     \
    X(H5Dclose)                                                                                    \
    X(H5Dget_create_plist)                                                                         \
    X(H5Dget_space)                                                                                \
    X(H5Dget_storage_size)                                                                         \
    X(H5Dget_type)                                                                                 \
    X(H5Dopen2)                                                                                    \
    X(H5Dread)                                                                                     \
    X(H5Eset_auto2)                                                                                \
    X(H5Fclose)                                                                                    \
    X(H5Fopen)                                                                                     \
    X(H5Lexists)                                                                                   \
    X(H5Lvisit)                                                                                    \
    X(H5Oget_info_by_name)                                                                         \
    X(H5Pclose)                                                                                    \
    X(H5Pcreate)                                                                                   \
    X(H5Pget_external_count)                                                                       \
    X(H5Pget_layout)                                                                               \
    X(H5Pset_fapl_core)                                                                            \
    X(H5Pset_file_image)                                                                           \
    X(H5Pset_file_image_callbacks)                                                                 \
    X(H5Sclose)                                                                                    \
    X(H5Sget_simple_extent_dims)                                                                   \
    X(H5Sget_simple_extent_ndims)                                                                  \
    X(H5Sget_simple_extent_npoints)                                                                \
    X(H5Sget_simple_extent_type)                                                                   \
    X(H5Tclose)                                                                                    \
    X(H5Tcopy)                                                                                     \
    X(H5Tget_class)                                                                                \
    X(H5Tget_cset)                                                                                 \
    X(H5Tget_ebias)                                                                                \
    X(H5Tget_fields)                                                                               \
    X(H5Tget_sign)                                                                                 \
    X(H5Tget_size)                                                                                 \
    X(H5Tis_variable_str)                                                                          \
    X(H5Tset_cset)                                                                                 \
    X(H5Tset_order)                                                                                \
    X(H5Tset_size)

/* the ids behind H5T_STD_U8LE, H5P_FILE_ACCESS, ...: variables libhdf5 sets in H5open() */
#define H5LIB_VARIABLES(X)                                                                         \
    X(H5P_CLS_FILE_ACCESS_ID_g)                                                                    \
    X(H5T_C_S1_g)                                                                                  \
    X(H5T_IEEE_F32LE_g)                                                                            \
    X(H5T_IEEE_F64LE_g)                                                                            \
    X(H5T_STD_I8LE_g)                                                                              \
    X(H5T_STD_I16LE_g)                                                                             \
    X(H5T_STD_I32LE_g)                                                                             \
    X(H5T_STD_I64LE_g)                                                                             \
    X(H5T_STD_U8LE_g)                                                                              \
    X(H5T_STD_U16LE_g)                                                                             \
    X(H5T_STD_U32LE_g)                                                                             \
    X(H5T_STD_U64LE_g)

typedef struct h5lib_api {
#define H5LIB_POINTER(name) __typeof__(name) *name;
    H5LIB_FUNCTIONS(H5LIB_POINTER)
    H5LIB_VARIABLES(H5LIB_POINTER)
#undef H5LIB_POINTER
} h5lib_api;

extern h5lib_api h5lib;

#ifndef H5LIB_IMPLEMENTATION
/* H5OPEN and H5CHECK call H5open()/H5check() before every id: h5lib_load did both */
#undef H5OPEN
#define H5OPEN
#undef H5CHECK
#define H5CHECK
#define H5free_memory                (*h5lib.H5free_memory)
#define H5Aclose                     (*h5lib.H5Aclose)
#define H5Aexists                    (*h5lib.H5Aexists)
#define H5Aget_space                 (*h5lib.H5Aget_space)
#define H5Aget_type                  (*h5lib.H5Aget_type)
#define H5Aopen                      (*h5lib.H5Aopen)
#define H5Aread                      (*h5lib.H5Aread)
#define H5Dclose                     (*h5lib.H5Dclose)
#define H5Dget_create_plist          (*h5lib.H5Dget_create_plist)
#define H5Dget_space                 (*h5lib.H5Dget_space)
#define H5Dget_storage_size          (*h5lib.H5Dget_storage_size)
#define H5Dget_type                  (*h5lib.H5Dget_type)
#define H5Dopen2                     (*h5lib.H5Dopen2)
#define H5Dread                      (*h5lib.H5Dread)
#define H5Eset_auto2                 (*h5lib.H5Eset_auto2)
#define H5Fclose                     (*h5lib.H5Fclose)
#define H5Fopen                      (*h5lib.H5Fopen)
#define H5Lexists                    (*h5lib.H5Lexists)
#define H5Lvisit                     (*h5lib.H5Lvisit)
#define H5Oget_info_by_name          (*h5lib.H5Oget_info_by_name)
#define H5Pclose                     (*h5lib.H5Pclose)
#define H5Pcreate                    (*h5lib.H5Pcreate)
#define H5Pget_external_count        (*h5lib.H5Pget_external_count)
#define H5Pget_layout                (*h5lib.H5Pget_layout)
#define H5Pset_fapl_core             (*h5lib.H5Pset_fapl_core)
#define H5Pset_file_image            (*h5lib.H5Pset_file_image)
#define H5Pset_file_image_callbacks  (*h5lib.H5Pset_file_image_callbacks)
#define H5Sclose                     (*h5lib.H5Sclose)
#define H5Sget_simple_extent_dims    (*h5lib.H5Sget_simple_extent_dims)
#define H5Sget_simple_extent_ndims   (*h5lib.H5Sget_simple_extent_ndims)
#define H5Sget_simple_extent_npoints (*h5lib.H5Sget_simple_extent_npoints)
#define H5Sget_simple_extent_type    (*h5lib.H5Sget_simple_extent_type)
#define H5Tclose                     (*h5lib.H5Tclose)
#define H5Tcopy                      (*h5lib.H5Tcopy)
#define H5Tget_class                 (*h5lib.H5Tget_class)
#define H5Tget_cset                  (*h5lib.H5Tget_cset)
#define H5Tget_ebias                 (*h5lib.H5Tget_ebias)
#define H5Tget_fields                (*h5lib.H5Tget_fields)
#define H5Tget_sign                  (*h5lib.H5Tget_sign)
#define H5Tget_size                  (*h5lib.H5Tget_size)
#define H5Tis_variable_str           (*h5lib.H5Tis_variable_str)
#define H5Tset_cset                  (*h5lib.H5Tset_cset)
#define H5Tset_order                 (*h5lib.H5Tset_order)
#define H5Tset_size                  (*h5lib.H5Tset_size)
#define H5P_CLS_FILE_ACCESS_ID_g     (*h5lib.H5P_CLS_FILE_ACCESS_ID_g)
#define H5T_C_S1_g                   (*h5lib.H5T_C_S1_g)
#define H5T_IEEE_F32LE_g             (*h5lib.H5T_IEEE_F32LE_g)
#define H5T_IEEE_F64LE_g             (*h5lib.H5T_IEEE_F64LE_g)
#define H5T_STD_I8LE_g               (*h5lib.H5T_STD_I8LE_g)
#define H5T_STD_I16LE_g              (*h5lib.H5T_STD_I16LE_g)
#define H5T_STD_I32LE_g              (*h5lib.H5T_STD_I32LE_g)
#define H5T_STD_I64LE_g              (*h5lib.H5T_STD_I64LE_g)
#define H5T_STD_U8LE_g               (*h5lib.H5T_STD_U8LE_g)
#define H5T_STD_U16LE_g              (*h5lib.H5T_STD_U16LE_g)
#define H5T_STD_U32LE_g              (*h5lib.H5T_STD_U32LE_g)
#define H5T_STD_U64LE_g              (*h5lib.H5T_STD_U64LE_g)
#endif /* H5LIB_IMPLEMENTATION */

#endif /* BRINE_NO_DLOPEN */

#endif
