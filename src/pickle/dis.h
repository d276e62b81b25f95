/* dis.h — the disassembler, for loaders whose unpickler splices bytes into the stream. */
#ifndef BRINE_PICKLE_DIS_H
#define BRINE_PICKLE_DIS_H

#include "brine.h"
#include "pickle/machine.h"

/* brine_dis with a BUILD hook (joblib's arrays): lists the one pickle such a loader reads;
 * the bytes the hook consumes are not opcodes and are not listed. hook NULL: brine_dis. */
brine_status pk_dis_hooked(const uint8_t *data, size_t len, brine_dis_format format,
                           const brine_limits *limits, pk_build_hook hook, void *hook_ctx,
                           brine_write_fn write, void *ctx, brine_error *err);

#endif
