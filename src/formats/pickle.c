/*
 * pickle.c — the raw pickle format: what pickle.load, joblib.load or pandas.read_pickle reads
 * from a file, one pickle after another (concatenated pickles are loaded by callers that loop
 * over load()). Any file whose first byte is an opcode is read this way, beside whatever else
 * it may be: bytes a real unpickler would execute are judged whatever other magic they carry.
 *
 * A pickle that names joblib's array wrappers is read as joblib.load reads it: pickle.py's
 * unpickler with raw array bytes spliced into the stream after each wrapper's BUILD (bytes
 * that are never opcodes), object arrays as nested pickles, and the arrays of joblib < 0.10 in
 * sidecar files next to the pickle (formats/joblib.c). pickle.load of such a file stops at
 * the first array, a prefix of the same reading. The old ZF container (joblib < 0.10 with
 * compression) is unwrapped here too: it is joblib's own framing, not a stream format.
 */
#include <string.h>

#include "formats/format.h"
#include "core/cursor.h"
#include "formats/joblib.h"
#include "pickle/decode.h"
#include "pickle/opcodes.h"

static int pickle_bid(const uint8_t *data, size_t len)
{
    if (len >= 2 && data[0] == 0x80)
        return 60; /* PROTO: a pickle, even of a protocol CPython refuses */
    return len && pk_opcodes[data[0]].name ? 5 : 0;
}

/* A run of this many bytes of opcodes marks a big pickle, searched whole. */
#define SKIM_MIN (1u << 20)

/* Opcodes whose argument is text a reader may take as a class name: GLOBAL and INST lines,
 * and the strings STACK_GLOBAL pops (joblib's unpickler decodes protocol-0-2 STRINGs too). */
static int names_text(uint8_t code) { return code && strchr("ciXVSTU\x8c\x8d", code) != NULL; }

/* joblib's wrappers are named in the stream as text (GLOBAL lines or STACK_GLOBAL operands),
 * and joblib.load reads one pickle: the names can only be among the opcodes from the start to
 * the first STOP, persistent id or bytes that are not an opcode (where the first array's raw
 * bytes begin, or where a file of another format stops reading as a pickle). Only those bytes
 * are searched, whatever the input's size: a whole-input search read every tensor of a 1 GiB
 * zip, tar or legacy checkpoint from disk, and called a small zip (a skops archive, a torch
 * checkpoint) whose member merely holds the text "ArrayWrapper" a joblib pickle, then invalid
 * (fuzz/FINDINGS.md, F16 and F21). */
static int names_joblib_wrapper(fmt_env *env, const uint8_t *data, size_t len)
{
    /* nowhere in a small input: nowhere in its opcodes either (most pickles of a folder; the
     * decoding below cost as much as the machine's run) */
    if (len <= SKIM_MIN && !memmem(data, len, "ArrayWrapper", 12))
        return 0;
    size_t reach = 0;
    cursor c;
    cur_init(&c, data, len);
    pk_pool pool;
    pk_pool_init(&pool, fmt_mem(env));
    pk_op op;
    brine_error err;
    int failed = 0;
    for (unsigned n = 1; cur_left(&c); n++) {
        if (pk_decode(&c, &op, &pool, fmt_limits(env), &err)) {
            failed = 1;
            break;
        }
        if (op.code == OPC_PERSID || op.code == OPC_BINPERSID) {
            /* joblib's NumpyUnpickler has no persistent_load: load raises here, and reads no
             * name after it nor in the id (F21: a zip's "PK" is a PERSID, and its header bytes
             * decoded on into a stored member holding the text) */
            reach = (size_t)op.offset;
            break;
        }
        reach = (size_t)cur_pos(&c);
        if (op.code == OPC_STOP)
            break;
        if (reach >= SKIM_MIN) {
            /* a MiB of opcodes: a big pickle, whose bytes the machine reads anyway (the
             * inputs that must not be read whole stop being pickles within bytes) */
            reach = len;
            break;
        }
        if (n % 4096 == 0) { /* decoded escapes are not kept */
            pk_pool_free(&pool);
            pk_pool_init(&pool, fmt_mem(env));
        }
    }
    pk_pool_free(&pool);
    /* a name cut by a text op that failed to decode (a limit, a missing newline) is still
     * text a reader may see */
    if (failed && reach < len && names_text(data[reach]))
        reach = len - reach > 4096 ? reach + 4096 : len;
    return memmem(data, reach, "ArrayWrapper", 12) != NULL;
}

/* Sidecar arrays of joblib < 0.10: each file is read from the pickle's folder and judged like
 * a file of its own (a .npy may hold an object array, hence a pickle). */
static brine_status walk_sidecars(fmt_env *env, const jl_ctx *jl)
{
    brine_status st = BRINE_OK;
    for (size_t i = 0; jl && i < jl->n_arrays && !st; i++) {
        const jl_array *a = &jl->arrays[i];
        if (a->kind != JL_SIDECAR_NPY && a->kind != JL_SIDECAR_Z)
            continue;
        if (a->sidecar_escapes) {
            st = fmt_finding(env, BRINE_UNSAFE, "path-escape", NULL, (int64_t)a->build_offset,
                             "joblib reads the array file '%.200s', a name that leaves the "
                             "pickle's folder",
                             a->sidecar);
            continue;
        }
        const uint8_t *d;
        size_t n;
        brine_error err;
        if (fmt_sibling(env, a->sidecar, &d, &n, &err)) {
            st = fmt_finding(env, BRINE_INVALID, "malformed", a->sidecar, -1,
                             "joblib reads this array file next to the pickle: %s", err.msg);
            continue;
        }
        if (a->kind == JL_SIDECAR_Z) {
            uint8_t *raw;
            size_t raw_len;
            if (jl_zfile_read(fmt_mem(env), fmt_limits(env), d, n, &raw, &raw_len, &err) ==
                BRINE_OK) {
                /* raw array bytes: nothing in them is read as code */
                mem_free(fmt_mem(env), raw, raw_len + 1);
            } else {
                st = fmt_error_finding(env, a->sidecar, &err, NULL);
            }
        } else {
            st = fmt_file(env, a->sidecar, d, n);
        }
        fmt_sibling_release(d, n);
    }
    return st;
}

static brine_status read_joblib(fmt_env *env, const uint8_t *data, size_t len, fmt_loader loader)
{
    /* a ZF file may hold raw array bytes (a sidecar .z): not a pickle, nothing runs */
    fmt_pickle p = {
        NULL, data, len,   0, 1, PID_NONE, loader == FMT_JOBLIB_COMPAT ? FMT_P_SNIFF : 0,
        NULL, NULL, loader};
    pk_graph *g;
    int inert = 0;
    brine_status st = fmt_run_pickle(env, &p, &g, &inert);
    if (st || inert)
        return st;
    fmt_set_format(env, "joblib");
    if (g->n_pickles)
        st = fmt_model_root(env, NULL, g, g->pickles[0].root, NULL, NULL, NULL);
    if (!st)
        st = walk_sidecars(env, fmt_joblib_arrays(env, g));
    fmt_graph_free(env, g);
    return st;
}

static brine_status pickle_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    if (names_joblib_wrapper(env, data, len))
        return read_joblib(env, data, len, FMT_JOBLIB);
    fmt_pickle p = {NULL, data, len, 0, FMT_ALL, PID_NONE, FMT_P_SNIFF, NULL, NULL, FMT_PICKLE};
    pk_graph *g;
    int inert;
    brine_status st = fmt_run_pickle(env, &p, &g, &inert);
    if (st || inert)
        return st;
    fmt_set_format(env, "pickle");
    if (g->n_pickles)
        st = fmt_model_root(env, NULL, g, g->pickles[0].root, NULL, NULL, NULL);
    fmt_graph_free(env, g);
    return st;
}

const fmt_ops fmt_raw_pickle = {"pickle", pickle_bid, pickle_walk, NULL};

/* joblib < 0.10's compressed files: "ZF", the length, zlib data holding the pickle, read by
 * numpy_pickle_compat's unpickler. */
static int zfile_bid(const uint8_t *data, size_t len) { return jl_is_zfile(data, len) ? 80 : 0; }

static brine_status zfile_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "joblib");
    uint8_t *raw;
    size_t raw_len;
    brine_error err;
    brine_status st = jl_zfile_read(fmt_mem(env), fmt_limits(env), data, len, &raw, &raw_len, &err);
    if (st)
        return fmt_error_finding(env, NULL, &err, "joblib ZF file");
    st = read_joblib(env, raw, raw_len, FMT_JOBLIB_COMPAT);
    if (fmt_loading(env)) /* the tensors point into raw */
        return st ? (mem_free(fmt_mem(env), raw, raw_len + 1), st)
                  : fmt_hold_buffer(env, raw, raw_len + 1);
    mem_free(fmt_mem(env), raw, raw_len + 1);
    return st;
}

const fmt_ops fmt_joblib_zfile = {"joblib-zf", zfile_bid, zfile_walk, NULL};
