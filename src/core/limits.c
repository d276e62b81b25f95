/* limits.c — resolving caller-supplied limits against defaults and hard caps. */
#include "core/limits.h"

#include <string.h>

void brine_limits_default(brine_limits *limits)
{
    if (!limits)
        return;
    memset(limits, 0, sizeof *limits);
#define X(field, def, cap) limits->field = (def);
    BRINE_LIMIT_LIST(X)
#undef X
}

void lim_resolve(const brine_limits *requested, brine_limits *out)
{
    brine_limits_default(out);
    if (!requested)
        return;
#define X(field, def, cap)                                                                     \
    if (requested->field)                                                                      \
        out->field = requested->field < (cap) ? requested->field : (cap);
    BRINE_LIMIT_LIST(X)
#undef X
}
