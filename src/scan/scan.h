/*
 * scan.h — the scan context shared by every format: findings, globals, policy, limits.
 *
 * Formats hand the pickles they find to the driver (formats/format.h), which runs the machine
 * and calls scan_judge to judge the graph against the policy. Findings are
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
    PID_NONE,         /* plain pickle.load: no persistent_load, any persistent id fails */
    PID_TORCH_ZIP,    /* torch zip data.pkl: ('storage', type, key, location, numel) */
    PID_TORCH_LEGACY, /* legacy torch: ('storage', type, key, location, numel, view) */
    PID_TORCH_TAR     /* oldest torch tar: storage keys, or ('module', class, file, source) */
} scan_pid_mode;

/* Checks that a torch storage a persistent id names exists with enough bytes; returns 0 when
 * it does, else writes the reason into why. Set by containers that hold storages. */
typedef int (*scan_storage_fn)(void *ctx, const uint8_t *key, size_t key_len,
                               const char *storage_class, int64_t numel, char *why, size_t cap);

typedef struct scan_ctx {
    const pol_policy *policy;
    brine_limits limits; /* resolved */
    mem_budget mem;
    brine_result *result;
    unsigned depth; /* nested pickle depth */
    scan_storage_fn storage_check;
    void *storage_ctx;
    /* Judges bytes a callable unpickles (pickle.loads, torch.storage._load_from_bytes):
     * as_file reads them like a file torch.load opens, else as one plain pickle.load. */
    brine_status (*nested)(struct scan_ctx *sc, const uint8_t *data, size_t len, const char *member,
                           int as_file);
    void *env;           /* the driver's environment */
    uint64_t work;       /* opcodes run so far, nested pickles included (max_work) */
    hmap nested_seen;    /* nested pickles already judged: digest → worst verdict */
    brine_verdict worst; /* most severe finding since the last reset (nested cache) */
} scan_ctx;

/* Records a finding. member may be NULL; offset < 0 when unknown. The message is formatted
 * into the result's own storage. Returns BRINE_ERR_NOMEM only. */
brine_status scan_add_finding(scan_ctx *sc, brine_verdict severity, const char *rule,
                              const char *global, const char *member, int64_t offset,
                              const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Records a global referenced by the file ("module.qualname"), once. */
brine_status scan_add_global(scan_ctx *sc, const char *full);

/* Judges a graph the caller ran: findings, the failure, and the names after an error. */
struct pk_graph;
brine_status scan_judge(scan_ctx *sc, struct pk_graph *g, const uint8_t *data, size_t len,
                        const char *member, scan_pid_mode pid_mode);

/* 1 when a sniffed run of data reached nothing any unpickler would run and the bytes are not
 * a pickle after all (a text file, an image): it stopped (stopped != 0) where both CPython
 * unpicklers fail, before any code, and no importable name follows; or data is a zip, whose
 * "PK" pickle.load reads as a persistent id it cannot resolve. data and len are the bytes the
 * graph's offsets refer to. */
int scan_inert(scan_ctx *sc, const struct pk_graph *g, int stopped, const uint8_t *data,
               size_t len);

#endif
