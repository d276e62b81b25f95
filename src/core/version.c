/* version.c — the version compiled into the library, which may differ from a header's. */
#include "brine.h"

const char *brine_version(void) { return BRINE_VERSION_STRING; }
