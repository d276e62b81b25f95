/*
 * arlib.h — libarchive for sevenzip.c, loaded when the first 7z file shows up
 * (src/core/lazylib.h says why).
 *
 * sevenzip.c includes this after <archive.h> and <archive_entry.h>: unless BRINE_NO_DLOPEN,
 * the API names it uses become the loaded entry points, so its code reads as plain libarchive.
 */
#ifndef BRINE_FORMATS_ARLIB_H
#define BRINE_FORMATS_ARLIB_H

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"

/* BRINE_OK once libarchive is usable; BRINE_ERR_UNSUPPORTED (err says why) when it cannot be
 * loaded — tried again on the next call. Thread-safe. */
brine_status arlib_load(brine_error *err);

#ifndef BRINE_NO_DLOPEN

#define ARLIB_FUNCTIONS(X)                                                                       \
    X(archive_entry_filetype)                                                                    \
    X(archive_entry_is_encrypted)                                                                \
    X(archive_entry_pathname_utf8)                                                               \
    X(archive_entry_size)                                                                        \
    X(archive_entry_size_is_set)                                                                 \
    X(archive_entry_symlink_utf8)                                                                \
    X(archive_error_string)                                                                      \
    X(archive_read_data)                                                                         \
    X(archive_read_free)                                                                         \
    X(archive_read_has_encrypted_entries)                                                        \
    X(archive_read_new)                                                                          \
    X(archive_read_next_header)                                                                  \
    X(archive_read_open_memory)                                                                  \
    X(archive_read_support_format_7zip)

typedef struct arlib_api {
#define ARLIB_POINTER(name) __typeof__(name) *name;
    ARLIB_FUNCTIONS(ARLIB_POINTER)
#undef ARLIB_POINTER
} arlib_api;

extern arlib_api arlib;

#ifndef ARLIB_IMPLEMENTATION
#define archive_entry_filetype (*arlib.archive_entry_filetype)
#define archive_entry_is_encrypted (*arlib.archive_entry_is_encrypted)
#define archive_entry_pathname_utf8 (*arlib.archive_entry_pathname_utf8)
#define archive_entry_size (*arlib.archive_entry_size)
#define archive_entry_size_is_set (*arlib.archive_entry_size_is_set)
#define archive_entry_symlink_utf8 (*arlib.archive_entry_symlink_utf8)
#define archive_error_string (*arlib.archive_error_string)
#define archive_read_data (*arlib.archive_read_data)
#define archive_read_free (*arlib.archive_read_free)
#define archive_read_has_encrypted_entries (*arlib.archive_read_has_encrypted_entries)
#define archive_read_new (*arlib.archive_read_new)
#define archive_read_next_header (*arlib.archive_read_next_header)
#define archive_read_open_memory (*arlib.archive_read_open_memory)
#define archive_read_support_format_7zip (*arlib.archive_read_support_format_7zip)
#endif /* ARLIB_IMPLEMENTATION */

#endif /* BRINE_NO_DLOPEN */

#endif
