/*
 * lazylib.h — a shared library opened on first use instead of at start-up.
 *
 * libhdf5 and libarchive, with what they link in turn (libcurl, GnuTLS, Kerberos, LDAP,
 * libxml2, ICU: some forty libraries), cost every brine process ~5 ms in the dynamic loader,
 * though only HDF5 and 7z files need them. So the shared builds dlopen them by soname (read
 * from the library at configure time) when the first such file shows up: src/formats/h5lib.h
 * and arlib.h. The fully static tool links them (BRINE_NO_DLOPEN).
 */
#ifndef BRINE_CORE_LAZYLIB_H
#define BRINE_CORE_LAZYLIB_H

#include <pthread.h>
#include <stddef.h>

#include "core/error.h"

typedef struct lazylib {
    pthread_mutex_t lock;
    int ready; /* set once, under lock, after resolve succeeded */
} lazylib;

#define LAZYLIB_INIT {PTHREAD_MUTEX_INITIALIZER, 0}

/* Opens soname (RTLD_NOW | RTLD_LOCAL, found as the dynamic loader finds a linked library)
 * and runs resolve(handle) once, the first time it succeeds; what it names ("libhdf5")
 * goes into the error. BRINE_OK when the library is ready; BRINE_ERR_UNSUPPORTED (err says
 * why) when it cannot be opened, or resolve's error — tried again on the next call.
 * Thread-safe. */
brine_status lazylib_load(lazylib *l, const char *soname, const char *what,
                          brine_status (*resolve)(void *handle, brine_error *err),
                          brine_error *err);

/* Stores dlsym(handle, name) into *out, a pointer of size bytes (a function's or a
 * variable's), or returns BRINE_ERR_UNSUPPORTED naming the missing symbol. */
brine_status lazylib_symbol(void *handle, const char *soname, const char *name, void *out,
                            size_t size, brine_error *err);

#endif
