/* model.h — the storage behind brine_model, for the converters in src/convert/. */
#ifndef BRINE_LOAD_MODEL_H
#define BRINE_LOAD_MODEL_H

#include "brine.h"
#include "core/alloc.h"
#include "load/tensors.h"
#include "scan/driver.h"

struct brine_model {
    mem_budget mem;
    brine_limits lim;
    const uint8_t *map;
    size_t map_len;
    const char *format; /* a constant */
    drv_run_out run;    /* the walk that judged the file; holds what the tensors point into */
    ld_set set;
    char *config_json;
};

#endif
