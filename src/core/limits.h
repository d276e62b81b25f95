/*
 * limits.h — every resource limit brine enforces, in one place (SQLite's sqliteLimit.h).
 *
 * Each line: field of brine_limits, default, hard cap, what it bounds, and the attack it stops.
 * A caller may lower any limit through brine_limits; a value above the hard cap is clamped.
 */
#ifndef BRINE_CORE_LIMITS_H
#define BRINE_CORE_LIMITS_H

#include "brine.h"

/*      field                default             hard cap            */
#define BRINE_LIMIT_LIST(X)                                                                    \
    /* bytes of one input; stops reading a device or a sparse 1 TB file into memory */         \
    X(max_input_bytes, UINT64_C(1) << 40, UINT64_C(1) << 44)                                   \
    /* opcodes per file; stops time bombs (a 100 MB stream of DUP/POP runs in bounded time) */ \
    X(max_opcodes, UINT64_C(100000000), UINT64_C(4000000000))                                  \
    /* value-stack depth; stops MARK/EMPTY_LIST floods that grow the stack without bound */    \
    X(max_stack, UINT64_C(1000000), UINT64_C(100000000))                                       \
    /* mark-stack depth; same attack through MARK alone */                                     \
    X(max_marks, UINT64_C(100000), UINT64_C(10000000))                                         \
    /* memo entries; stops memo floods (a sparse map here; indices: max_memo_index)      */   \
    X(max_memo, UINT64_C(10000000), UINT64_C(100000000))                                       \
    /* object-graph nodes; stops billion-laughs expansion through GET/DUP + containers */     \
    X(max_nodes, UINT64_C(20000000), UINT64_C(400000000))                                      \
    /* nesting depth of graph walks; stops stack exhaustion on deeply nested containers */     \
    X(max_depth, UINT64_C(1000), UINT64_C(100000))                                             \
    /* one string/bytes argument; bounds copies of escaped strings (STRING, UNICODE) */        \
    X(max_string, UINT64_C(1) << 32, UINT64_C(1) << 40)                                        \
    /* bytes allocated for one file; the budget every allocation is charged against */         \
    X(max_memory, UINT64_C(2) << 30, UINT64_C(64) << 30)                                       \
    /* concatenated pickles in one stream; stops a file of a million tiny pickles */           \
    X(max_pickles, UINT64_C(100000), UINT64_C(10000000))                                       \
    /* nested pickle depth (bytes handed to pickle.loads inside a pickle) */                   \
    X(max_nested, UINT64_C(8), UINT64_C(64))                                                   \
    /* zip entries; stops central directories that declare millions of entries */              \
    X(zip_max_entries, UINT64_C(1000000), UINT64_C(100000000))                                 \
    /* decompressed bytes of one zip entry; zip bombs */                                       \
    X(zip_max_entry_bytes, UINT64_C(16) << 30, UINT64_C(1) << 40)                              \
    /* decompressed bytes of a whole archive; overlapping-entry zip bombs */                   \
    X(zip_max_total_bytes, UINT64_C(64) << 30, UINT64_C(1) << 42)                              \
    /* decompressed/compressed ratio of one entry; deflate bombs (1032:1 is deflate's max) */  \
    X(zip_max_ratio, UINT64_C(1100), UINT64_C(1000000))                                        \
    /* safetensors header bytes; the reference implementation's own cap is 100 MB */           \
    X(st_max_header, UINT64_C(100000000), UINT64_C(100000000))                                 \
    /* tensors in one file; bounds per-tensor bookkeeping */                                   \
    X(max_tensors, UINT64_C(10000000), UINT64_C(100000000))                                    \
    /* decompressed bytes of one compressed file (all its streams); gzip/bz2/xz/zstd bombs */ \
    X(filter_max_bytes, UINT64_C(16) << 30, UINT64_C(1) << 40)                                 \
    /* decompressed/compressed ratio, checked once 64 MiB are out; bombs smaller than the    \
     * byte limit (bz2 and zstd reach 10^6:1 on zeros, so the default leaves room for that) */ \
    X(filter_max_ratio, UINT64_C(10000000), UINT64_C(1000000000))                              \
    /* filters wrapped in filters (gzip in xz in ...); stops a bomb that multiplies its      \
     * ratio through each layer (42.zip's nesting trick) */                                    \
    X(max_filter_depth, UINT64_C(4), UINT64_C(16))                                             \
    /* leaves of the fully expanded object graph, per node built (expat's amplification    */ \
    /* factor), checked once the graph exceeds BRINE_EXPANSION_FLOOR leaves; stops memo     */ \
    /* "billion laughs" (326 bytes -> 10^30 leaves) and DUP-doubled tuples (2^40 items)     */ \
    X(max_expansion, UINT64_C(1000), UINT64_C(1000000))                                      \
    /* nesting depth of the object graph; stops 200,000 nested lists that crash or raise   */ \
    /* RecursionError in every consumer that walks the result (repr, deepcopy, json, ==)   */ \
    X(max_nesting, UINT64_C(5000), UINT64_C(1000000))                                        \
    /* memo index; _pickle.c's memo is an array grown to 2*index pointers on PUT            */ \
    /* (_Unpickler_MemoPut), so LONG_BINPUT 0xffffffff asks for 64 GiB and fails to load   */ \
    /* in C while pickle.py (a dict) goes on: 2^24 asks for 256 MiB                         */ \
    X(max_memo_index, UINT64_C(1) << 24, UINT64_C(1) << 31)                                 \
    /* tar/7z members; stops archives of millions of empty headers (tarfile lists them all) */ \
    X(archive_max_members, UINT64_C(1000000), UINT64_C(100000000))                             \
    /* one member name or link target; stops gigabyte pax `path` records kept per member */    \
    X(archive_max_name, UINT64_C(1) << 20, UINT64_C(1) << 30)                                 \
    /* opcodes of every pickle of one file, nested ones (pickle.loads, _load_from_bytes)       \
     * included; stops a file that hands many different nested pickles to loaders, each under \
     * max_opcodes (issue 7.5). A scan runs ~100 M opcodes a second */                        \
    X(max_work, UINT64_C(400000000), UINT64_C(16000000000))

/* Graphs that expand to fewer leaves than this are never over max_expansion: small pickles
 * with a few shared references can have a high ratio and nothing to amplify. 2^22 leaves is
 * what a consumer walks in well under a second. */
#define BRINE_EXPANSION_FLOOR (UINT64_C(1) << 22)

/* The effective limits: defaults where the caller left zero, clamped to the hard caps. */
void lim_resolve(const brine_limits *requested, brine_limits *out);

#endif
