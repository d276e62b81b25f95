/*
 * why.h — the first reason a hand-written reader (GGUF, ONNX, SavedModel) stopped reading a
 * file, with its offset. Only the first counts: what fails after it follows from it. The
 * reader then reports it as one malformed finding (src/formats/why.c).
 */
#ifndef BRINE_FORMATS_WHY_H
#define BRINE_FORMATS_WHY_H

#include <stdint.h>

#include "formats/format.h"

typedef struct fmt_why {
    const char *msg; /* NULL while the file reads */
    uint64_t at;
    char buf[320];
} fmt_why;

/* Records the reason at offset at unless one is recorded already; returns -1. */
int fmt_why_set(fmt_why *w, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The reason as an invalid "malformed" finding, "what: reason"; BRINE_OK when there is none. */
brine_status fmt_why_finding(fmt_env *env, const fmt_why *w, const char *what);

#endif
