/*
 * skops.h — skops archives (a zip with schema.json): every type the schema names judged
 * against skops 0.16's default trusted set, as skops.io.get_untrusted_types does
 * (src/formats/skops.c).
 */
#ifndef BRINE_FORMATS_SKOPS_H
#define BRINE_FORMATS_SKOPS_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include "core/alloc.h"
#include "formats/keras.h"

/* 1 when the archive has a member called name (skops reads node files from it). */
typedef int (*skops_member_fn)(void *ctx, const char *name);

enum { SKOPS_MAX_DEPTH = 512, SKOPS_MAX_REPORTS = 64 };

/* Walks schema.json json[0..len): every untrusted type is reported once (unverified, or
 * unsafe when the pickle policy names it as dangerous), every way skops' get_tree fails is
 * reported as malformed (invalid). has_member may be NULL (members are then not checked).
 * Returns BRINE_ERR_MALFORMED/BRINE_ERR_LIMIT in err when the text is not a JSON object or
 * nests too deep, BRINE_ERR_NOMEM, or BRINE_OK. */
brine_status skops_check_schema(const uint8_t *json, size_t len, mem_budget *mem,
                                skops_member_fn has_member, void *member_ctx,
                                keras_report_fn report, void *ctx, brine_error *err);

struct fmt_env;
/* A skops archive's schema.json, judged into env as a member of the archive (torch_zip.c). */
brine_status skops_walk_schema(struct fmt_env *env, const char *member, const uint8_t *json,
                               size_t len, skops_member_fn has_member, void *member_ctx);

#endif
