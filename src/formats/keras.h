/*
 * keras.h — Keras model configs (the JSON of a legacy .h5's model_config/training_config
 * attributes and of a .keras archive's config.json), judged as Keras 3.15's deserializer and
 * tf.keras 2.x resolve them; and Keras HDF5 files (src/formats/keras.c).
 */
#ifndef BRINE_FORMATS_KERAS_H
#define BRINE_FORMATS_KERAS_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include <jansson.h>

#include "core/alloc.h"
#include "formats/json_load.h"

/* One judgement about the config: severity, rule (a rules.def id) and a sentence. Returns
 * nonzero to stop the walk (out of memory). */
typedef jdoc_report_fn keras_report_fn;

/* Deepest nesting of a config brine walks (Keras's own configs nest a few levels per model). */
enum { KERAS_MAX_DEPTH = 256, KERAS_MAX_REPORTS = 64 };

/* Walks the JSON config text json[0..len) (what names it: "model_config", "config.json") and
 * reports every Lambda (unsafe), every object Keras refuses as a non-modeling API or that the
 * pickle policy names as dangerous (unsafe) and every object outside Keras's own names
 * (unverified). jansson's memory is charged to mem while the document exists. Returns
 * BRINE_ERR_MALFORMED / BRINE_ERR_LIMIT in err when the text cannot be read as Keras reads it
 * (json.loads), BRINE_ERR_NOMEM, or BRINE_OK. */
brine_status keras_check_config(const char *what, const uint8_t *json, size_t len, unsigned flags,
                                mem_budget *mem, keras_report_fn report, void *ctx,
                                brine_error *err);
/* keras_check_config flags: the text is a model's config (a class_name at its top) */
enum { KERAS_CONFIG_MODEL = 1 };

struct fmt_env;
/* A .keras archive's config.json, judged into env as a member of the archive (torch_zip.c). */
brine_status keras_walk_config_json(struct fmt_env *env, const char *member, const uint8_t *json,
                                    size_t len);

/* 1 when name is a Keras API name ("keras.layers.Dense") Keras 3.15 resolves itself. */
int keras_is_api_name(const char *name);

#endif
