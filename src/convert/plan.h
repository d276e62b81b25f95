/*
 * plan.h — which tensors a conversion writes, under which names, with which config: all of
 * them as loaded, one part of the checkpoint (--key), the state_dict() of a pickled
 * torch.nn.Module (--state-dict), and tensors that are the same view of the same storage
 * stored once (--dedup, as safetensors.torch.save_model does).
 */
#ifndef BRINE_CONVERT_PLAN_H
#define BRINE_CONVERT_PLAN_H

#include <jansson.h>

#include "brine.h"
#include "load/tensors.h"

typedef struct cv_entry {
    const ld_tensor *t;
    char *name; /* the name written (malloc'd) */
    long kept;  /* -1, or the entry this one is an alias of (not written) */
} cv_entry;

typedef struct cv_plan {
    cv_entry *e;
    size_t n;
    char *config;  /* the config text (malloc'd) */
    char *aliases; /* {"alias": "kept", …} for the safetensors metadata, or NULL */
} cv_plan;

typedef struct cv_select {
    const char *key; /* dotted path of the part to convert, or NULL */
    int state_dict;  /* 1: the module state of a pickled torch.nn.Module */
    int dedup;       /* 1: identical views stored once */
} cv_select;

/* Builds the plan for the model's set and config (the typed JSON of docs/config.md).
 * BRINE_ERR_USAGE when the key does not exist or the value is not a module. */
brine_status cv_plan_build(const ld_set *s, const json_t *config, const cv_select *sel, cv_plan *p,
                           brine_error *err);
void cv_plan_free(cv_plan *p);

#endif
