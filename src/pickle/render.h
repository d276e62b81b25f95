/*
 * render.h — bounded text rendering of graph values and events, shared by `brine dis` and the
 * messages of findings.
 */
#ifndef BRINE_PICKLE_RENDER_H
#define BRINE_PICKLE_RENDER_H

#include <stdarg.h>
#include <stddef.h>

#include "pickle/machine.h"

/* A fixed-size text buffer: appends stop (and set truncated) when it is full. */
typedef struct sbuf {
    char *buf;
    size_t cap;
    size_t len;
    int truncated;
} sbuf;

void sb_put(sbuf *b, const char *s, size_t n);
void sb_str(sbuf *b, const char *s);
void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A Python-like repr of a node, cut to fit. */
void pk_repr(const pk_graph *g, pk_id id, unsigned max_depth, sbuf *b);
/* One event as a line of pseudo-Python ("_v7 = os.system('touch x')"). */
void pk_describe_event(const pk_graph *g, const pk_event *e, sbuf *b);

#endif
