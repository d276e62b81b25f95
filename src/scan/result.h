/* result.h — the storage behind brine_result (see result.c). */
#ifndef BRINE_SCAN_RESULT_H
#define BRINE_SCAN_RESULT_H

#include <stdarg.h>

#include "brine.h"
#include "core/alloc.h"

struct brine_result {
    mem_budget mem;
    const char *format;
    brine_verdict verdict;
    brine_finding *findings;
    size_t n_findings, cap_findings;
    size_t dropped_findings;
    char **globals;
    size_t n_globals, cap_globals;
    uint64_t *seen; /* dedup keys of findings and globals */
    size_t n_seen, cap_seen;
    uint64_t seen_k0, seen_k1; /* SipHash key of the dedup set: names come from the file */
    struct res_tensor {
        char *name;
        const char *dtype; /* a constant */
        uint32_t ndim;
        int64_t *shape;
        uint64_t numel;
    } * tensors;
    size_t n_tensors, cap_tensors;
};

brine_result *res_new(void);
brine_status res_vadd_finding(brine_result *r, brine_verdict severity, const char *rule,
                              const char *global, const char *member, int64_t offset,
                              const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));
brine_status res_add_global(brine_result *r, const char *full);
/* Records a tensor the scan validated (name, dtype, shape are copied). */
brine_status res_add_tensor(brine_result *r, const char *name, const char *dtype, uint32_t ndim,
                            const int64_t *shape, uint64_t numel);
/* Orders findings most severe first. */
void res_finish(brine_result *r);

#endif
