/*
 * result.c — a scan result: verdict, findings and globals, owned by the result and freed in
 * one call. The number of stored findings is capped (the verdict still counts every one), so a
 * file with a million distinct globals cannot make the report grow without bound.
 */
#include "scan/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hashmap.h"

enum { MAX_FINDINGS = 10000, MAX_GLOBALS = 100000, MAX_TENSORS = 100000 };

/* The result's own budget, apart from the scan's max_memory: a file that exhausts the scan
 * budget must still be able to record the limit finding that says so. Findings and globals
 * are capped above, so this bounds the result too. */
#define RESULT_MEMORY (UINT64_C(256) << 20)

brine_result *res_new(void)
{
    brine_result *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    mem_budget_init(&r->mem, RESULT_MEMORY);
    r->format = "none";
    return r;
}

void brine_result_free(brine_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_findings; i++) {
        brine_finding *f = &r->findings[i];
        mem_free(&r->mem, (void *)f->rule, strlen(f->rule) + 1);
        mem_free(&r->mem, (void *)f->global, f->global ? strlen(f->global) + 1 : 0);
        mem_free(&r->mem, (void *)f->member, f->member ? strlen(f->member) + 1 : 0);
        mem_free(&r->mem, (void *)f->message, strlen(f->message) + 1);
    }
    mem_free(&r->mem, r->findings, r->cap_findings * sizeof *r->findings);
    for (size_t i = 0; i < r->n_globals; i++)
        mem_free(&r->mem, r->globals[i], strlen(r->globals[i]) + 1);
    mem_free(&r->mem, r->globals, r->cap_globals * sizeof *r->globals);
    mem_free(&r->mem, r->seen, r->cap_seen * sizeof *r->seen);
    for (size_t i = 0; i < r->n_tensors; i++) {
        mem_free(&r->mem, r->tensors[i].name, strlen(r->tensors[i].name) + 1);
        mem_free(&r->mem, r->tensors[i].shape, r->tensors[i].ndim * sizeof(int64_t) + 1);
    }
    mem_free(&r->mem, r->tensors, r->cap_tensors * sizeof *r->tensors);
    free(r);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    if (!s)
        return h * 31 + 7;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * UINT64_C(0x100000001b3);
    return (h ^ 0xff) * UINT64_C(0x100000001b3);
}

/* A set of 64-bit keys (0 never stored): dedupes findings and globals. Returns 1 when key was
 * already present, 0 when added, -1 when out of memory. */
static int seen_add(brine_result *r, uint64_t key)
{
    key |= 1;
    if ((r->n_seen + 1) * 2 > r->cap_seen) {
        size_t ncap = r->cap_seen ? r->cap_seen * 2 : 256;
        if (!r->cap_seen) /* keyed, so a file cannot pick names that share one chain */
            hmap_seed(&r->seen_k0, &r->seen_k1);
        uint64_t *fresh = mem_calloc(&r->mem, ncap, sizeof *fresh);
        if (!fresh)
            return -1;
        for (size_t i = 0; i < r->cap_seen; i++) {
            uint64_t k = r->seen[i];
            if (!k)
                continue;
            size_t h = (size_t)hmap_siphash(r->seen_k0, r->seen_k1, &k, sizeof k) & (ncap - 1);
            while (fresh[h])
                h = (h + 1) & (ncap - 1);
            fresh[h] = k;
        }
        mem_free(&r->mem, r->seen, r->cap_seen * sizeof *r->seen);
        r->seen = fresh;
        r->cap_seen = ncap;
    }
    size_t h = (size_t)hmap_siphash(r->seen_k0, r->seen_k1, &key, sizeof key) & (r->cap_seen - 1);
    while (r->seen[h]) {
        if (r->seen[h] == key)
            return 1;
        h = (h + 1) & (r->cap_seen - 1);
    }
    r->seen[h] = key;
    r->n_seen++;
    return 0;
}

brine_status res_vadd_finding(brine_result *r, brine_verdict severity, const char *rule,
                              const char *global, const char *member, int64_t offset,
                              const char *fmt, va_list ap)
{
    if (severity > r->verdict)
        r->verdict = severity;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* one finding per rule and global (and member); findings without a global per message */
    uint64_t key =
        hash_str(hash_str(hash_str(UINT64_C(1469598103934665603), rule), global), member);
    if (!global)
        key = hash_str(key, msg);
    int dup = seen_add(r, key);
    if (dup < 0)
        return BRINE_ERR_NOMEM;
    if (dup)
        return BRINE_OK;
    if (r->n_findings >= MAX_FINDINGS) {
        r->dropped_findings++;
        return BRINE_OK;
    }
    if (mem_grow(&r->mem, (void **)&r->findings, &r->cap_findings, r->n_findings + 1,
                 sizeof *r->findings))
        return BRINE_ERR_NOMEM;
    /* every string is copied: rules too, since containers build some (zip-<anomaly>) */
    brine_finding f = {severity, NULL, NULL, NULL, offset, NULL};
    if (!(f.rule = mem_strndup(&r->mem, rule, strlen(rule))) ||
        (global && !(f.global = mem_strndup(&r->mem, global, strlen(global)))) ||
        (member && !(f.member = mem_strndup(&r->mem, member, strlen(member)))) ||
        !(f.message = mem_strndup(&r->mem, msg, strlen(msg)))) {
        mem_free(&r->mem, (void *)f.rule, f.rule ? strlen(f.rule) + 1 : 0);
        mem_free(&r->mem, (void *)f.global, f.global ? strlen(f.global) + 1 : 0);
        mem_free(&r->mem, (void *)f.member, f.member ? strlen(f.member) + 1 : 0);
        return BRINE_ERR_NOMEM;
    }
    r->findings[r->n_findings++] = f;
    return BRINE_OK;
}

brine_status res_add_global(brine_result *r, const char *full)
{
    int dup = seen_add(r, hash_str(UINT64_C(0x51ED27), full));
    if (dup < 0)
        return BRINE_ERR_NOMEM;
    if (dup || r->n_globals >= MAX_GLOBALS)
        return BRINE_OK;
    if (mem_grow(&r->mem, (void **)&r->globals, &r->cap_globals, r->n_globals + 1,
                 sizeof *r->globals))
        return BRINE_ERR_NOMEM;
    char *copy = mem_strndup(&r->mem, full, strlen(full));
    if (!copy)
        return BRINE_ERR_NOMEM;
    r->globals[r->n_globals++] = copy;
    return BRINE_OK;
}

brine_status res_add_tensor(brine_result *r, const char *name, const char *dtype, uint32_t ndim,
                            const int64_t *shape, uint64_t numel)
{
    if (r->n_tensors >= MAX_TENSORS)
        return BRINE_OK;
    if (mem_grow(&r->mem, (void **)&r->tensors, &r->cap_tensors, r->n_tensors + 1,
                 sizeof *r->tensors))
        return BRINE_ERR_NOMEM;
    struct res_tensor *t = &r->tensors[r->n_tensors];
    t->name = mem_strndup(&r->mem, name, strlen(name));
    t->shape = mem_alloc(&r->mem, ndim * sizeof(int64_t) + 1);
    if (!t->name || !t->shape) {
        mem_free(&r->mem, t->name, t->name ? strlen(name) + 1 : 0);
        mem_free(&r->mem, t->shape, t->shape ? ndim * sizeof(int64_t) + 1 : 0);
        return BRINE_ERR_NOMEM;
    }
    memcpy(t->shape, shape, ndim * sizeof(int64_t));
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = numel;
    r->n_tensors++;
    return BRINE_OK;
}

void res_finish(brine_result *r)
{
    /* most severe first, keeping stream order within a severity (a counting sort) */
    if (r->n_findings < 2)
        return;
    brine_finding *sorted = mem_alloc(&r->mem, r->n_findings * sizeof *sorted);
    if (!sorted)
        return; /* unsorted is still correct, only less readable */
    size_t k = 0;
    for (int sev = BRINE_UNSAFE; sev >= BRINE_SAFE; sev--)
        for (size_t i = 0; i < r->n_findings; i++)
            if ((int)r->findings[i].severity == sev)
                sorted[k++] = r->findings[i];
    memcpy(r->findings, sorted, r->n_findings * sizeof *sorted);
    mem_free(&r->mem, sorted, r->n_findings * sizeof *sorted);
}

/* ------------------------------------------------------------------ public accessors */

brine_verdict brine_result_verdict(const brine_result *r) { return r ? r->verdict : BRINE_INVALID; }
const char *brine_result_format(const brine_result *r) { return r ? r->format : "none"; }
size_t brine_result_finding_count(const brine_result *r) { return r ? r->n_findings : 0; }
const brine_finding *brine_result_finding(const brine_result *r, size_t i)
{
    return r && i < r->n_findings ? &r->findings[i] : NULL;
}
size_t brine_result_global_count(const brine_result *r) { return r ? r->n_globals : 0; }
const char *brine_result_global(const brine_result *r, size_t i)
{
    return r && i < r->n_globals ? r->globals[i] : NULL;
}

size_t brine_result_tensor_count(const brine_result *r) { return r ? r->n_tensors : 0; }

brine_status brine_result_tensor(const brine_result *r, size_t i, brine_tensor_info *out,
                                 brine_error *err)
{
    if (!r || !out || i >= r->n_tensors)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_result_tensor: no tensor %zu", i);
    const struct res_tensor *t = &r->tensors[i];
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out; /* every field of this release is filled */
    out->name = t->name;
    out->dtype = t->dtype;
    out->ndim = t->ndim;
    out->shape = t->shape;
    out->numel = t->numel;
    return BRINE_OK;
}

const char *brine_verdict_name(brine_verdict v)
{
    switch (v) {
    case BRINE_SAFE: return "safe";
    case BRINE_UNVERIFIED: return "unverified";
    case BRINE_INVALID: return "invalid";
    case BRINE_UNSAFE: return "unsafe";
    }
    return "invalid";
}
