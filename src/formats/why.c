/*
 * why.c — the first reason a hand-written reader stopped (why.h).
 */
#include "formats/why.h"

#include <stdarg.h>
#include <stdio.h>

int fmt_why_set(fmt_why *w, uint64_t at, const char *fmt, ...)
{
    if (w->msg)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->buf, sizeof w->buf, fmt, ap);
    va_end(ap);
    w->msg = w->buf;
    w->at = at;
    return -1;
}

brine_status fmt_why_finding(fmt_env *env, const fmt_why *w, const char *what)
{
    if (!w->msg)
        return BRINE_OK;
    return fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)w->at, "%s: %s", what,
                       w->msg);
}
