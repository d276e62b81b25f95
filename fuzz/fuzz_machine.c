/*
 * fuzz_machine.c — the pickle decoder and symbolic machine on arbitrary bytes (internal API).
 *
 * Runs every concatenated pickle as pk_run_all does for a scan, watching each decoded opcode,
 * and checks what the graph claims: opcodes are known and lie inside the input, node ids and
 * item ids are in range or values held in ids (ints, None, False, True, floats), events point at
 * nodes, and freeing the graph returns every byte to
 * the budget (an accounting bug here would let a file dodge max_memory).
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "pickle/machine.h"
#include "pickle/opcodes.h"

typedef struct watch {
    size_t len;
    uint64_t last_offset;
    unsigned long ops;
} watch;

static void observe(void *ctx, const pk_op *op, uint32_t stack_depth, uint32_t mark_depth)
{
    watch *w = ctx;
    (void)stack_depth;
    (void)mark_depth;
    FUZZ_CHECK(pk_opcodes[op->code].name != NULL, "unknown opcode 0x%02x decoded", op->code);
    FUZZ_CHECK(op->offset < op->end && op->end <= w->len, "opcode at %llu ends at %llu of %zu",
               (unsigned long long)op->offset, (unsigned long long)op->end, w->len);
    FUZZ_CHECK(w->ops == 0 || op->offset >= w->last_offset, "opcode offsets go backwards");
    w->last_offset = op->offset;
    w->ops++;
}

/* A node of g, or a value the machine holds in an id. */
static int valid_id(const pk_graph *g, pk_id id)
{
    if (!pk_is_small(id))
        return id < g->n_nodes;
    if ((id & PK_FLOAT_TAG) == PK_FLOAT_TAG)
        return ((id & (PK_SMALL_CONST - 1)) >> 2) < g->n_floats;
    return !(id & PK_SMALL_CONST) || id == PK_NONE_ID || id == PK_FALSE_ID || id == PK_TRUE_ID;
}

static void check_graph(const pk_graph *g, size_t size)
{
    for (size_t i = 1; i < g->n_nodes; i++) {
        const pk_node *n = &g->nodes[i];
        FUZZ_CHECK(n->count == 0 || n->items != NULL, "node %zu: %u items, no storage", i,
                   n->count);
        for (uint32_t k = 0; n->items && k < n->count; k++)
            FUZZ_CHECK(valid_id(g, n->items[k]), "node %zu item %u out of range", i, k);
        /* a scalar's value shares its bytes with items: it must never have any */
        FUZZ_CHECK(n->count == 0 || n->kind >= K_TUPLE, "node %zu: a scalar with items", i);
        FUZZ_CHECK(valid_id(g, n->a) && valid_id(g, pk_args(n)) && valid_id(g, pk_kwargs(g, n)) &&
                       valid_id(g, pk_state(g, n)),
                   "node %zu operand out of range", i);
        FUZZ_CHECK(!pk_state(g, n) || (n->flags & PKF_BUILT), "node %zu: state without BUILD", i);
        FUZZ_CHECK(pk_offset(g, n) < size, "node %zu: made at %llu of %zu bytes", i,
                   (unsigned long long)pk_offset(g, n), size);
        if (n->kind == K_GLOBAL)
            FUZZ_CHECK(n->v.g.global < g->n_globals, "node %zu: global index out of range", i);
    }
    for (size_t i = 0; i < g->n_events; i++)
        FUZZ_CHECK((g->events[i].node < g->n_nodes || g->n_nodes == 0) &&
                       ((g->events[i].kind != EV_BUILD && g->events[i].kind != EV_MUTATE) ||
                        valid_id(g, g->events[i].aux)),
                   "event %zu node", i);
    for (size_t i = 0; i < g->n_globals; i++)
        FUZZ_CHECK(g->globals[i].full && g->globals[i].module && g->globals[i].name,
                   "global %zu has NULL names", i);
    for (size_t i = 0; i < g->n_pickles; i++) {
        FUZZ_CHECK(g->pickles[i].start <= g->pickles[i].end, "pickle %zu ends before it starts", i);
        FUZZ_CHECK(!g->pickles[i].root || valid_id(g, g->pickles[i].root),
                   "pickle %zu root out of range", i);
        /* a pickle reaches STOP only while one of the two CPython unpicklers still runs */
        FUZZ_CHECK(!g->pickles[i].complete || (g->pickles[i].unpicklers & PK_UNPICKLER_BOTH),
                   "pickle %zu completed with no unpickler running", i);
    }
    FUZZ_CHECK(!g->deferred || g->deferred_error.code == BRINE_ERR_MALFORMED ||
                   g->deferred_error.code == BRINE_ERR_LIMIT,
               "deferred error with code %d", (int)g->deferred_error.code);
    FUZZ_CHECK(!g->n_divergences || g->deferred, "divergence without a deferred error");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brine_limits req, lim;
    fuzz_limits(&req);
    lim_resolve(&req, &lim);

    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    pk_graph g;
    pk_graph_init(&g, &mem);

    watch w = {size, 0, 0};
    pk_run_options opts = {&lim, observe, &w};
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = pk_run_all(&g, data, size, 0, &opts, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_MALFORMED || st == BRINE_ERR_LIMIT ||
                   st == BRINE_ERR_NOMEM,
               "pk_run_all returned %d: %s", (int)st, err.msg);
    FUZZ_CHECK(w.ops <= lim.max_opcodes, "ran %lu opcodes, limit %llu", w.ops,
               (unsigned long long)lim.max_opcodes);
    FUZZ_CHECK(mem.used <= mem.limit, "budget overrun: %llu of %llu", (unsigned long long)mem.used,
               (unsigned long long)mem.limit);
    if (st == BRINE_ERR_MALFORMED)
        FUZZ_CHECK(err.has_offset && err.offset <= size, "malformed at offset %llu of %zu",
                   (unsigned long long)err.offset, size);
    check_graph(&g, size);
    pk_graph_free(&g);
    FUZZ_CHECK(mem.used == 0, "%llu bytes still charged to the budget after pk_graph_free",
               (unsigned long long)mem.used);
    return 0;
}
