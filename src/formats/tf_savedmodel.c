/*
 * tf_savedmodel.c — TensorFlow SavedModel `saved_model.pb` and Keras 2's `keras_metadata.pb`,
 * read through the bounded protobuf reader (formats/protobuf.h).
 *
 * Field numbers from tensorflow/core/protobuf/saved_model.proto (SavedModel: meta_graphs 2),
 * meta_graph.proto (MetaGraphDef: graph_def 2), core/framework/graph.proto (GraphDef: node 1,
 * library 2), node_def.proto (NodeDef: name 1, op 2, attr 5), function.proto
 * (FunctionDefLibrary: function 1; FunctionDef: node_def 3), attr_value.proto (AttrValue:
 * s 2), and keras/protobuf/saved_metadata.proto (SavedMetadata: nodes 1; SavedObject:
 * identifier 4, metadata 5).
 *
 * Threat model: a SavedModel is a program. Its ops run when a signature or function is
 * called, so a graph is never `safe` (`graph-program`, unverified). Ops that call back into
 * Python or read, write, list or map files, or load libraries, are `graph-op` (unsafe): the
 * list is saved_model_cli's _OP_DENYLIST (WriteFile, ReadFile, PrintV2 to a file) with the
 * Python ops and the file ops ModelAudit and modelscan flag. The checkpoint ops every
 * SavedModel's saver holds (SaveV2, RestoreV2, MergeV2Checkpoints, ...) write and read the
 * files the loader names: listed in the graph-program finding, not unsafe on their own. A
 * Keras Lambda layer in keras_metadata.pb carries marshalled Python bytecode: unsafe.
 * Nothing is allocated from the input; nesting is bounded by the message structure (a fixed
 * number of levels, no recursion over the input).
 */
#include "formats/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "formats/protobuf.h"
#include "formats/why.h"

/* Ops that run Python, touch files or the network, or load native code. */
static const char *const danger_ops[] = {
    "PyFunc",
    "PyFuncStateless",
    "EagerPyFunc",
    "PyCall",
    "ReadFile",
    "WriteFile",
    "MatchingFiles",
    "ImmutableConst",
    "LoadLibrary",
    "LoadLibraryV2",
    "ShellExecute",
    "ExecuteOp",
    "DebugIdentity",
    "DebugIdentityV2",
    "DebugIdentityV3",
    "DebugNanCount",
    "DebugNumericSummary",
    "DebugNumericSummaryV2",
    "LoadAndRemapMatrix",
    "InitializeTableFromTextFile",
    "InitializeTableFromTextFileV2",
    "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2",
    "TextLineReader",
    "TextLineReaderV2",
    "WholeFileReader",
    "WholeFileReaderV2",
    "TFRecordReader",
    "TFRecordReaderV2",
    "TextLineDataset",
    "TFRecordDataset",
    "TFRecordDatasetV2",
    "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2",
    "SaveDataset",
    "SaveDatasetV2",
    "LoadDataset",
    "DatasetToTFRecord",
    "WriteAudioSummary",
    "CreateSummaryFileWriter",
    "CreateSummaryDbWriter",
    "WriteRawProtoSummary",
};

/* Checkpoint ops of the standard saver: they read and write the files the loader names. */
static const char *const checkpoint_ops[] = {
    "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints",
};

typedef struct tf {
    fmt_env *env;
    fmt_why why; /* what went wrong */
    uint64_t n_nodes;
    char checkpoint[160]; /* checkpoint ops seen, for the summary */
    char seen_danger[8][64];
    size_t n_danger;
} tf;

static int in_list(const char *const *list, size_t n, const char *op)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], op) == 0)
            return 1;
    return 0;
}

static void pb_bad(tf *t, const pb_msg *m) { fmt_why_set(&t->why, m->why_at, "%s", m->why); }

/* PrintV2's output_stream attr: "file://..." writes a file (saved_model_cli denies PrintV2). */
static int prints_to_file(const pb_field *nf)
{
    pb_msg m, e, v;
    pb_field f, g, h;
    pb_sub(&m, nf);
    while (pb_next(&m, &f) > 0) {
        if (f.num != 5 || f.wire != PB_LEN)
            continue;
        pb_sub(&e, &f);
        while (pb_next(&e, &g) > 0) {
            if (g.num != 2 || g.wire != PB_LEN)
                continue;
            pb_sub(&v, &g);
            while (pb_next(&v, &h) > 0)
                if (h.num == 2 && h.wire == PB_LEN && h.len >= 7 &&
                    memcmp(h.data, "file://", 7) == 0)
                    return 1;
        }
    }
    return 0;
}

static brine_status node_def(tf *t, const pb_field *nf, const char *where)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, nf);
    char op[128] = "", name[128] = "";
    int r = 0;
    while ((r = pb_next(&m, &f)) > 0) {
        if (f.wire != PB_LEN)
            continue;
        char *dst = f.num == 1 ? name : f.num == 2 ? op : NULL;
        if (dst) {
            size_t n = f.len < 127 ? f.len : 127;
            memcpy(dst, f.data, n);
            dst[n] = '\0';
        }
    }
    if (r < 0) {
        pb_bad(t, &m);
        return BRINE_OK;
    }
    t->n_nodes++;
    int danger = in_list(danger_ops, sizeof danger_ops / sizeof *danger_ops, op) ||
                 (strcmp(op, "PrintV2") == 0 && prints_to_file(nf));
    if (danger) {
        for (size_t i = 0; i < t->n_danger; i++)
            if (strcmp(t->seen_danger[i], op) == 0)
                return BRINE_OK; /* one finding per op */
        if (t->n_danger < 8)
            snprintf(t->seen_danger[t->n_danger++], sizeof t->seen_danger[0], "%s", op);
        return fmt_finding(t->env, BRINE_UNSAFE, "graph-op", NULL, (int64_t)nf->at,
                           "%s: node %.120s runs op %s, which runs Python or reads, writes or "
                           "lists files when the graph runs",
                           where, name[0] ? name : "(unnamed)", op);
    }
    if (in_list(checkpoint_ops, sizeof checkpoint_ops / sizeof *checkpoint_ops, op) &&
        !strstr(t->checkpoint, op) &&
        strlen(t->checkpoint) + strlen(op) + 2 < sizeof t->checkpoint) {
        size_t l = strlen(t->checkpoint);
        snprintf(t->checkpoint + l, sizeof t->checkpoint - l, "%s%s", l ? ", " : "", op);
    }
    return BRINE_OK;
}

typedef brine_status (*field_fn)(tf *t, const pb_field *f);

/* fn for every length-delimited field inner of every field outer of m: a repeated message's
 * repeated field. *n_outer (NULL: not counted) counts the outer fields. A malformed message
 * is recorded (pb_bad); what was read before it still counts. */
static brine_status each_inner(tf *t, pb_msg *m, uint32_t outer, uint32_t inner, field_fn fn,
                               int *n_outer)
{
    pb_msg sub;
    pb_field f, g;
    int r = 0;
    brine_status st = BRINE_OK;
    while (!st && (r = pb_next(m, &f)) > 0) {
        if (f.num != outer || f.wire != PB_LEN)
            continue;
        if (n_outer)
            (*n_outer)++;
        pb_sub(&sub, &f);
        int ri = 0;
        while (!st && (ri = pb_next(&sub, &g)) > 0)
            if (g.num == inner && g.wire == PB_LEN)
                st = fn(t, &g);
        if (ri < 0)
            pb_bad(t, &sub);
    }
    if (r < 0)
        pb_bad(t, m);
    return st;
}

static brine_status library_node(tf *t, const pb_field *nf)
{
    return node_def(t, nf, "function library");
}

/* FunctionDefLibrary: function (1) → FunctionDef.node_def (3). */
static brine_status library(tf *t, const pb_field *lf)
{
    pb_msg m;
    pb_sub(&m, lf);
    return each_inner(t, &m, 1, 3, library_node, NULL);
}

static brine_status graph_def(tf *t, const pb_field *gf)
{
    pb_msg m;
    pb_field f;
    pb_sub(&m, gf);
    int r = 0;
    brine_status st = BRINE_OK;
    while (!st && (r = pb_next(&m, &f)) > 0) {
        if (f.wire != PB_LEN)
            continue;
        if (f.num == 1)
            st = node_def(t, &f, "graph");
        else if (f.num == 2)
            st = library(t, &f);
    }
    if (r < 0)
        pb_bad(t, &m);
    return st;
}

/* SavedModel: field 1 a varint (schema version), then meta_graphs (2) only; ONNX's
 * ModelProto also opens with a field 1 varint but holds a graph (7) or opset_import (8).
 * Another protobuf that opens the same way (a small varint, then a length-delimited field)
 * still bids low: it is judged as a graph, never passed over as harmless. */
static int saved_model_bid(const uint8_t *data, size_t len)
{
    pb_msg m;
    pb_field f;
    pb_init(&m, data, len, 0);
    if (pb_next(&m, &f) <= 0 || f.num != 1 || f.wire != PB_VARINT)
        return 0;
    int generic = f.v >= 1 && f.v <= 32, r = 0, metas = 0, i;
    for (i = 0; i < 8 && (r = pb_next(&m, &f)) > 0; i++) {
        if ((f.num == 7 || f.num == 8) && f.wire == PB_LEN)
            return 0; /* ONNX */
        if (i == 0)
            generic = generic && f.wire == PB_LEN && f.num <= 15;
        if (f.num != 2 || f.wire != PB_LEN)
            continue;
        pb_msg g;
        pb_field h;
        pb_sub(&g, &f);
        int rg = pb_next(&g, &h);
        if (rg >= 0 && (rg == 0 || (h.num >= 1 && h.num <= 7 && h.wire == PB_LEN)))
            metas++;
    }
    if (metas && metas == i)
        return r < 0 ? 60 : 80;
    if (r < 0 && metas == i) {
        /* the field that runs past the end is a meta_graphs (2): a truncated SavedModel
         * (ONNX's field 2, producer_name, is a short string) */
        const uint8_t *q = m.p;
        uint64_t key;
        if (pb_varint(&q, m.end, &key) == 0 && key == (2 << 3 | PB_LEN))
            return 30;
    }
    return generic ? 5 : 0;
}

/* keras_metadata.pb: SavedMetadata.nodes (1), each a SavedObject whose identifier (4) is
 * "_tf_keras_…". */
static int keras_metadata_bid(const uint8_t *data, size_t len)
{
    pb_msg m, n;
    pb_field f, g;
    pb_init(&m, data, len, 0);
    if (pb_next(&m, &f) <= 0 || f.num != 1 || f.wire != PB_LEN)
        return 0;
    pb_sub(&n, &f);
    while (pb_next(&n, &g) > 0)
        if (g.num == 4 && g.wire == PB_LEN && g.len >= 9 && memcmp(g.data, "_tf_keras", 9) == 0)
            return 90;
    return 0;
}

static brine_status saved_model_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "tf-savedmodel");
    tf t = {.env = env};
    pb_msg m;
    pb_init(&m, data, len, 0);
    int metas = 0;
    /* meta_graphs (2) → MetaGraphDef.graph_def (2) */
    brine_status st = each_inner(&t, &m, 2, 2, graph_def, &metas);
    if (!st)
        st = fmt_finding(env, BRINE_UNVERIFIED, "graph-program", NULL, -1,
                         "a TensorFlow SavedModel: %d meta graph(s), %" PRIu64
                         " ops that run when it is loaded and called%s%s%s",
                         metas, t.n_nodes, t.checkpoint[0] ? " (checkpoint ops " : "", t.checkpoint,
                         t.checkpoint[0] ? " read and write the files the loader "
                                           "names)"
                                         : "");
    return st ? st : fmt_why_finding(env, &t.why, "SavedModel");
}

static int hexval(uint8_t c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Whether a JSON text holds the string want (ASCII), as json.loads decodes it: escapes
 * (\u004c, \/) are decoded, so "Lamb\u0064a" is found. No allocation: each string literal
 * is decoded into a buffer one byte longer than want. */
static int json_has_string(const uint8_t *s, size_t n, const char *want)
{
    size_t wl = strlen(want);
    char buf[32];
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"')
            continue;
        size_t o = 0;
        int over = 0;
        for (i++; i < n && s[i] != '"'; i++) {
            unsigned c = s[i];
            if (c == '\\' && i + 1 < n) {
                c = s[++i];
                if (c == 'u' && i + 4 < n) {
                    int a = hexval(s[i + 1]), b = hexval(s[i + 2]), d = hexval(s[i + 3]),
                        e = hexval(s[i + 4]);
                    c = a < 0 || b < 0 || d < 0 || e < 0
                            ? 0xffff
                            : (unsigned)(a << 12 | b << 8 | d << 4 | e);
                    i += 4;
                }
            }
            if (o < wl && o < sizeof buf)
                buf[o++] = c < 128 ? (char)c : '\x7f';
            else
                over = 1;
        }
        if (!over && o == wl && memcmp(buf, want, wl) == 0)
            return 1;
    }
    return 0;
}

/* A SavedObject's metadata, the layer's JSON config: a Lambda's holds marshalled bytecode. */
static brine_status lambda_layer(tf *t, const pb_field *mf)
{
    if (!json_has_string(mf->data, mf->len, "Lambda"))
        return BRINE_OK;
    return fmt_finding(t->env, BRINE_UNSAFE, "graph-op", NULL, (int64_t)mf->at,
                       "keras_metadata.pb: a Lambda layer (its function is Python bytecode keras "
                       "runs when the model loads)");
}

/* Keras 2 SavedModel metadata: each SavedObject's metadata (5) is the layer's JSON config;
 * a Lambda layer's holds marshalled bytecode that keras deserialises and runs. */
static brine_status keras_metadata_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "keras-metadata");
    tf t = {.env = env};
    pb_msg m;
    pb_init(&m, data, len, 0);
    /* nodes (1) → SavedObject.metadata (5) */
    brine_status st = each_inner(&t, &m, 1, 5, lambda_layer, NULL);
    if (!st)
        st = fmt_finding(env, BRINE_UNVERIFIED, "graph-program", NULL, -1,
                         "Keras SavedModel metadata: the model's layers are restored from the "
                         "SavedModel graph next to it, which runs when it is loaded");
    return st ? st : fmt_why_finding(env, &t.why, "keras_metadata.pb");
}

const fmt_ops fmt_tf_savedmodel = {"tf-savedmodel", saved_model_bid, saved_model_walk, NULL};
const fmt_ops fmt_keras_metadata = {"keras-metadata", keras_metadata_bid, keras_metadata_walk,
                                    NULL};
