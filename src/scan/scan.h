/*
 * scan.h — the scan context shared by every format: findings, globals, policy, limits.
 *
 * A format's scan function reads its container and hands pickles (and other members) back to
 * scan_pickle, which runs the machine and judges the graph against the policy. Findings are
 * collected here; the verdict is the most severe finding (safe when there is none).
 */
#ifndef BRINE_SCAN_SCAN_H
#define BRINE_SCAN_SCAN_H

#include "brine.h"
#include "core/alloc.h"
#include "core/hashmap.h"
#include "load/tensors.h"
#include "policy/policy.h"

/* How persistent ids (PERSID/BINPERSID) are resolved by the loader of this pickle. */
typedef enum scan_pid_mode {
    PID_NONE,        /* plain pickle.load: no persistent_load, any persistent id fails */
    PID_TORCH_ZIP,   /* torch zip data.pkl: ('storage', type, key, location, numel) */
    PID_TORCH_LEGACY, /* legacy torch: ('storage', type, key, location, numel, view) */
    PID_TORCH_TAR     /* oldest torch tar: storage keys, or ('module', class, file, source) */
} scan_pid_mode;

/* Checks that a torch storage a persistent id names exists with enough bytes; returns 0 when
 * it does, else writes the reason into why. Set by containers that hold storages. */
typedef int (*scan_storage_fn)(void *ctx, const uint8_t *key, size_t key_len,
                               const char *storage_class, int64_t numel, char *why, size_t cap);

typedef struct scan_ctx {
    const pol_policy *policy;
    brine_limits limits;       /* resolved */
    mem_budget mem;
    brine_result *result;
    unsigned depth;            /* nested pickle depth */
    scan_storage_fn storage_check;
    void *storage_ctx;
    ld_resolve_fn tensor_resolve; /* storage sizes for validating tensor views, or NULL */
    void *tensor_ctx;
    uint64_t work;             /* opcodes run so far, nested pickles included (max_work) */
    hmap nested_seen;          /* nested pickles already judged: digest → worst verdict */
    brine_verdict worst;       /* most severe finding since the last reset (nested cache) */
} scan_ctx;

/* Records a finding. member may be NULL; offset < 0 when unknown. The message is formatted
 * into the result's own storage. Returns BRINE_ERR_NOMEM only. */
brine_status scan_add_finding(scan_ctx *sc, brine_verdict severity, const char *rule,
                              const char *global, const char *member, int64_t offset,
                              const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Records a global referenced by the file ("module.qualname"), once. */
brine_status scan_add_global(scan_ctx *sc, const char *full);

/* Scans a pickle stream (concatenated pickles included) found in member (NULL: the file),
 * at base_offset within the file. Findings go to sc. expect_many: the loader reads several
 * pickles back to back (legacy torch); otherwise data after the first STOP that is not a
 * pickle is reported. */
brine_status scan_pickle(scan_ctx *sc, const uint8_t *data, size_t len, const char *member,
                         scan_pid_mode pid_mode);

/* Judges a graph the caller ran (findings, failure, names after an error), for containers
 * that read their pickles one at a time. */
struct pk_graph;
brine_status scan_judge(scan_ctx *sc, struct pk_graph *g, const uint8_t *data, size_t len,
                        const char *member, scan_pid_mode pid_mode);

/* Sets the result's format name (a string constant). */
void scan_set_format(scan_ctx *sc, const char *format);

#endif
