/*
 * pickle.c — the raw pickle format: what pickle.load, joblib.load or pandas.read_pickle reads
 * from a file, one pickle after another (concatenated pickles are loaded by callers that loop
 * over load()). Any file whose first byte is an opcode is read this way, beside whatever else
 * it may be: bytes a real unpickler would execute are judged whatever other magic they carry.
 */
#include "formats/format.h"
#include "pickle/opcodes.h"

static int pickle_bid(const uint8_t *data, size_t len)
{
    if (len >= 2 && data[0] == 0x80)
        return 60; /* PROTO: a pickle, even of a protocol CPython refuses */
    return len && pk_opcodes[data[0]].name ? 5 : 0;
}

static brine_status pickle_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_pickle p = {NULL, data, len, 0, FMT_ALL, PID_NONE, FMT_P_SNIFF, NULL, NULL};
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
