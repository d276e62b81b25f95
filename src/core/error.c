/* error.c — filling brine_error. Never allocates: messages go into the struct's buffer. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *brine_status_name(brine_status status)
{
    switch (status) {
    case BRINE_OK: return "ok";
    case BRINE_ERR_MALFORMED: return "malformed input";
    case BRINE_ERR_LIMIT: return "limit exceeded";
    case BRINE_ERR_NOMEM: return "out of memory";
    case BRINE_ERR_IO: return "input/output error";
    case BRINE_ERR_USAGE: return "invalid argument";
    case BRINE_ERR_POLICY: return "refused by policy";
    case BRINE_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

void err_clear(brine_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

static brine_status err_vset(brine_error *err, brine_status code, int has_offset,
                             uint64_t offset, int line, const char *fmt, va_list ap)
    ERR_PRINTF(6, 0);

static brine_status err_vset(brine_error *err, brine_status code, int has_offset,
                             uint64_t offset, int line, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    memset(err, 0, sizeof *err);
    err->code = code;
    err->has_offset = has_offset;
    err->offset = offset;
    err->source_line = line;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

brine_status err_set(brine_error *err, brine_status code, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, 0, 0, line, fmt, ap);
    va_end(ap);
    return code;
}

brine_status err_at(brine_error *err, brine_status code, uint64_t offset, int line,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, 1, offset, line, fmt, ap);
    va_end(ap);
    return code;
}

brine_status err_limit(brine_error *err, const char *limit, uint64_t value, uint64_t observed,
                       uint64_t offset, int has_offset, int line)
{
    if (!err)
        return BRINE_ERR_LIMIT;
    memset(err, 0, sizeof *err);
    err->code = BRINE_ERR_LIMIT;
    err->limit = limit;
    err->limit_value = value;
    err->observed = observed;
    err->has_offset = has_offset;
    err->offset = offset;
    err->source_line = line;
    snprintf(err->msg, sizeof err->msg, "limit %s is %llu, the input needs %llu", limit,
             (unsigned long long)value, (unsigned long long)observed);
    return BRINE_ERR_LIMIT;
}
