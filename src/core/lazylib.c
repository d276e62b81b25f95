/*
 * lazylib.c — dlopen on first use (see lazylib.h for why).
 */
#include "core/lazylib.h"

#ifndef BRINE_NO_DLOPEN /* the fully static tool links the libraries instead */

#include <dlfcn.h>
#include <string.h>

brine_status lazylib_load(lazylib *l, const char *soname, const char *what,
                          brine_status (*resolve)(void *handle, brine_error *err),
                          brine_error *err)
{
    if (__atomic_load_n(&l->ready, __ATOMIC_ACQUIRE))
        return BRINE_OK;
    pthread_mutex_lock(&l->lock);
    brine_status st = BRINE_OK;
    if (!l->ready) {
        /* never closed: a library whose constructors ran is not worth unloading */
        void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            const char *why = dlerror();
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__, "%s cannot be loaded: %s", what,
                         why ? why : soname);
        } else {
            st = resolve(handle, err);
        }
        if (!st)
            __atomic_store_n(&l->ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&l->lock);
    return st;
}

brine_status lazylib_symbol(void *handle, const char *soname, const char *name, void *out,
                            size_t size, brine_error *err)
{
    void *sym = dlsym(handle, name);
    if (!sym || size != sizeof sym)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__, "%s has no %s", soname, name);
    memcpy(out, &sym, sizeof sym); /* POSIX: a function pointer holds what dlsym returns */
    return BRINE_OK;
}

#endif
