/*
 * fuzz_joblib.c — joblib's reads on arbitrary bytes (internal API): the ZF container, the
 * pickle machine with joblib's build hook (raw array spans, alignment padding, nested pickles
 * of object arrays, sidecar names), then the tensor pass over the arrays it found.
 *
 * Checks: every raw array span lies inside the input, after its BUILD and before the bytes
 * decoding resumed at; spans of successive arrays never overlap (a byte is data or opcode,
 * never both); nested pickles are recorded inside the input; each tensor reads in full; the
 * budget is back to 0 after everything is freed.
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/joblib.h"
#include "load/tensors.h"
#include "pickle/machine.h"

static void check_arrays(const jl_ctx *jl, const pk_graph *g, const uint8_t *body, size_t len)
{
    uint64_t prev_end = 0;
    for (size_t i = 0; i < jl->n_arrays; i++) {
        const jl_array *a = &jl->arrays[i];
        FUZZ_CHECK(a->wrapper > 0 && a->wrapper < g->n_nodes, "array %zu: wrapper id", i);
        FUZZ_CHECK(jl_find(jl, a->wrapper) == a, "array %zu: jl_find disagrees", i);
        if (a->kind == JL_INLINE) {
            FUZZ_CHECK(a->build_offset < a->pad_offset && a->pad_offset <= a->data_offset,
                       "array %zu: data before its BUILD", i);
            FUZZ_CHECK(a->data_offset <= len && a->data_len <= len - a->data_offset,
                       "array %zu: span [%llu, +%llu) outside %zu bytes", i,
                       (unsigned long long)a->data_offset, (unsigned long long)a->data_len, len);
            FUZZ_CHECK(a->pad_offset >= prev_end, "array %zu overlaps the previous one", i);
            uint64_t want;
            FUZZ_CHECK(!__builtin_mul_overflow(a->count, (uint64_t)a->itemsize, &want) &&
                           want == a->data_len,
                       "array %zu: %llu elements of %u bytes in %llu bytes", i,
                       (unsigned long long)a->count, a->itemsize, (unsigned long long)a->data_len);
            const pk_node *w = pk_at(g, a->wrapper);
            FUZZ_CHECK((w->flags & PKF_SPLICED) && a->data == body + a->data_offset,
                       "array %zu: wrapper node lost its span", i);
            prev_end = a->data_offset + a->data_len;
        } else if (a->kind == JL_OBJECT) {
            FUZZ_CHECK(a->nested_pickle < g->n_pickles && a->nested_alt < g->n_pickles &&
                           g->pickles[a->nested_alt].end == g->pickles[a->nested_pickle].end,
                       "array %zu: nested pickle records", i);
            const pk_pickle *pk = &g->pickles[a->nested_pickle];
            FUZZ_CHECK(pk->complete && pk->start == a->data_offset && pk->end <= len,
                       "array %zu: nested pickle record", i);
            FUZZ_CHECK(a->data_offset >= prev_end, "array %zu overlaps the previous one", i);
            prev_end = pk->end;
        } else {
            FUZZ_CHECK(a->sidecar && strlen(a->sidecar) <= a->sidecar_len,
                       "array %zu: sidecar name", i);
            FUZZ_CHECK(a->sidecar_escapes ==
                           jl_name_escapes((const uint8_t *)a->sidecar, a->sidecar_len),
                       "array %zu: escape flag", i);
        }
    }
}

static void check_tensors(mem_budget *mem, const brine_limits *lim, const pk_graph *g,
                          const jl_ctx *jl)
{
    /* as the driver does: a graph the machine refused (an amplification limit, a
     * divergence) is not walked for tensors */
    if (!g->n_pickles || !g->pickles[0].complete || !g->pickles[0].root || g->failed)
        return;
    ld_set set;
    ld_set_init(&set, mem, lim, NULL, NULL);
    set.want_config = 0;
    set.joblib = jl;
    brine_error err;
    memset(&err, 0, sizeof err);
    if (ld_collect(&set, g, g->pickles[0].root, &err) == BRINE_OK) {
        for (size_t i = 0; i < set.n_tensors; i++) {
            const ld_tensor *t = &set.tensors[i];
            uint64_t n = t->numel < 4096 ? t->numel : 4096;
            uint8_t *buf = malloc(n * t->dtype->size + 1);
            if (buf && n)
                FUZZ_CHECK(ld_tensor_read_range(&set, t, 0, n, buf, &err) == BRINE_OK,
                           "tensor %s: %s", t->name, err.msg);
            free(buf);
        }
    }
    ld_set_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brine_limits req, lim;
    fuzz_limits(&req);
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    brine_error err;
    memset(&err, 0, sizeof err);

    const uint8_t *body = data;
    size_t len = size;
    uint8_t *inner = NULL;
    size_t inner_len = 0;
    int zfile = jl_is_zfile(data, size);
    if (zfile) {
        brine_status zs = jl_zfile_read(&mem, &lim, data, size, &inner, &inner_len, &err);
        FUZZ_CHECK(zs == BRINE_OK || zs == BRINE_ERR_MALFORMED || zs == BRINE_ERR_LIMIT ||
                       zs == BRINE_ERR_NOMEM,
                   "jl_zfile_read returned %d", (int)zs);
        if (zs) {
            FUZZ_CHECK(mem.used == 0, "ZF failure leaked %llu bytes", (unsigned long long)mem.used);
            return 0;
        }
        body = inner;
        len = inner_len;
    }

    pk_graph g;
    pk_graph_init(&g, &mem);
    jl_ctx jl;
    jl_init(&jl, &mem, &lim, zfile ? JL_COMPAT_UNPICKLER : JL_NUMPY_UNPICKLER);
    pk_run_options opts = {&lim, NULL, NULL};
    brine_status st = jl_run(&jl, &g, body, len, 0, &opts, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_MALFORMED || st == BRINE_ERR_LIMIT ||
                   st == BRINE_ERR_NOMEM,
               "jl_run returned %d: %s", (int)st, err.msg);
    if (st == BRINE_ERR_MALFORMED)
        FUZZ_CHECK(err.has_offset && err.offset <= len, "malformed at offset %llu of %zu",
                   (unsigned long long)err.offset, len);
    check_arrays(&jl, &g, body, len);
    if (st == BRINE_OK)
        check_tensors(&mem, &lim, &g, &jl);
    jl_free(&jl);
    pk_graph_free(&g);
    if (inner)
        mem_free(&mem, inner, inner_len + 1);
    FUZZ_CHECK(mem.used == 0, "%llu bytes still charged to the budget",
               (unsigned long long)mem.used);
    return 0;
}
