/*
 * machine.c — the symbolic pickle machine.
 *
 * Follows CPython's _pickle.c (3.11) load loop opcode by opcode: the value stack with a fence
 * at the newest MARK (Pdata), a separate mark stack (marker()), POP that removes a MARK when
 * one sits on top (load_pop), a memo whose reads share nodes, MEMOIZE indexing by the number
 * of filled slots, the Python-2 name mapping of find_class for protocol < 3 and dotted names
 * for protocol >= 4. Where CPython would raise, the machine stops with an error at the same
 * opcode, because nothing after that point runs in the real loader.
 *
 * Both unpicklers at once: Lib/pickle.py differs from _pickle.c in what it accepts (decode.c
 * lists the argument cases) and in a few opcodes: REDUCE and NEWOBJ(_EX) take any iterable as
 * arguments (func(*args)), INST calls find_class before it looks for its MARK, APPENDS with
 * no items still calls extend([]) and ADDITEMS looks up add, SETITEMS with an odd count
 * stores the pairs before it raises, a FRAME cut short by the end of the input is read on,
 * an opcode crossing a frame end raises, and the memo is a dict (any index, no array). The
 * machine follows both while they agree and the survivor where one raises (EV_DIVERGE).
 *
 * Amplification: after a pickle, one pass over its graph (iterative, no expansion) computes
 * the leaves and nesting depth a consumer walking the result would meet; a graph over
 * max_expansion or max_nesting is reported, as is a memo index _pickle.c cannot allocate.
 *
 * Differences on purpose (stricter than CPython, never more lenient): FRAME boundaries are
 * checked exactly (CPython's stream reader can be made to read other bytes than pickletools,
 * gh-154848); STACK_GLOBAL operands that are not literal strings are flagged; operations that
 * would call methods of unknown objects are logged as events.
 *
 * Threat model: arbitrary bytes. Every stack pop is checked against the fence, every index
 * against the memo, every allocation against the budget and a limit from core/limits.h.
 */
#include "pickle/machine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "core/hashmap.h"
#include "core/limits.h"
#include "pickle/opcodes.h"

/* ------------------------------------------------------------------ graph storage */

const pk_node pk_small_nodes[5] = {
    {.kind = K_INT, .v = {.i = INT64_MIN}}, {.kind = K_NONE},
    {.kind = K_BOOL, .v = {.i = 0}},        {.kind = K_BOOL, .v = {.i = 1}},
    {.kind = K_FLOAT, .v = {.d = NAN}},
};

/* Small containers (most of them: a record's dict, a call's argument tuple) take their items
 * from the blocks of one arena: no allocation, header or free of their own. A container
 * outgrowing ITEMS_ARENA_MAX ids moves to an array of its own, grown by realloc (which
 * remaps rather than copies large arrays). What a growing small container leaves behind in
 * the arena stays there: at most what it grew to. */
enum { ITEMS_ARENA_MAX = 256, ITEMS_BLOCK = 16384 };

/* Capacity of n's items: exactly count for a container built whole from the stack (TUPLE,
 * LIST, DICT…: PKF_EXACT), else pk_items_cap(count). */
static size_t items_cap(const pk_node *n)
{
    return (n->flags & PKF_EXACT) ? n->count : pk_items_cap(n->count);
}

struct pk_items_blk {
    struct pk_items_blk *next;
    size_t n; /* ids in this block */
    pk_id ids[];
};

void pk_graph_init(pk_graph *g, mem_budget *mem)
{
    memset(g, 0, sizeof *g);
    g->mem = mem;
    pk_pool_init(&g->strings, mem);
    hmap_init(&g->side, mem);
}

void pk_graph_free(pk_graph *g)
{
    if (!g || !g->mem)
        return;
    for (size_t i = 0; i < g->n_heap_items; i++) {
        const pk_node *n = &g->nodes[g->heap_items[i]];
        mem_free(g->mem, n->items, items_cap(n) * sizeof(pk_id));
    }
    mem_free(g->mem, g->heap_items, g->cap_heap_items * sizeof *g->heap_items);
    while (g->item_blocks) {
        struct pk_items_blk *b = g->item_blocks;
        g->item_blocks = b->next;
        mem_free(g->mem, b, sizeof *b + b->n * sizeof(pk_id));
    }
    mem_free(g->mem, g->nodes, g->cap_nodes * sizeof *g->nodes);
    mem_free(g->mem, g->globals, g->cap_globals * sizeof *g->globals);
    mem_free(g->mem, g->events, g->cap_events * sizeof *g->events);
    mem_free(g->mem, g->pickles, g->cap_pickles * sizeof *g->pickles);
    pk_pool_free(&g->strings);
    hmap_free(&g->side);
    mem_free(g->mem, g->side_states, g->cap_side_states * sizeof *g->side_states);
    mem_free(g->mem, g->floats, g->cap_floats * sizeof *g->floats);
    mem_free(g->mem, g->float_lines, g->cap_float_lines * sizeof *g->float_lines);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------ run state */

/* Memo: a dense array for the indices pickles really use (MEMOIZE and the Picklers' PUTs count
 * 0, 1, 2, ...), and a sparse open-addressing map for the rest. CPython's C memo is an array
 * sized by twice the largest index (LONG_BINPUT 0x7fffffff asks for 32 GiB): here the dense
 * array grows only as entries are put into it (an index goes there only while the array
 * stays at most about twice the entries it holds), so what the memo costs is what is used,
 * never an index read from the file. A key lives where it was first put: dense or sparse. */
typedef struct memo_slot {
    uint64_t key; /* index + 1; 0 = empty */
    pk_id val;
} memo_slot;

/* pickle.py memo keys past int64 (its memo is a dict): few, so a list. */
typedef struct big_key {
    const uint8_t *digits;
    uint64_t len;
    pk_id val;
} big_key;

enum { MAX_BIG_KEYS = 4096 };

typedef struct run {
    pk_graph *g;
    uint8_t live; /* PK_UNPICKLER_* still running */
    big_key *big;
    size_t n_big, cap_big;
    size_t first_node; /* nodes of this run are [first_node, n_nodes) */
    uint64_t n_small;  /* values it pushed held in ids (ints, bools, None, floats): no node */
    const brine_limits *lim;
    const pk_run_options *opts;
    pk_build_hook hook; /* NULL: plain pickle.load */
    void *hook_ctx;
    int map_proto; /* protocol find_class maps names by, -1: the stream's own */
    cursor cur;
    brine_error *err;
    pk_id *stack;
    size_t n_stack, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    size_t fence;              /* stack index of the newest mark (0 when none) */
    pk_id *dense;              /* dense[i]: memo index i, 0 = absent (no node has id 0) */
    size_t dense_cap;          /* entries allocated */
    size_t dense_init;         /* entries [0, dense_init) are set or zeroed; the rest of the
                                * array is never written, so its pages are never touched */
    size_t dense_len;          /* filled entries of dense */
    memo_slot *memo;           /* the sparse rest */
    size_t memo_cap;           /* slots, a power of two */
    size_t memo_sparse;        /* filled slots of memo */
    size_t memo_len;           /* entries of the whole memo (MEMOIZE's index, len(memo)) */
    uint64_t memo_k0, memo_k1; /* SipHash key of the memo, drawn when it is first allocated */
    int proto;
    uint64_t frame_end; /* 0 when not inside a FRAME */
    pk_pickle *pickle;
    size_t pickle_index; /* of pickle in g->pickles (nested runs append records) */
    const pk_op *op;     /* the opcode being applied */
} run;

#define FAIL(...) ERR_CORRUPT(r->err, r->op->offset, __VA_ARGS__)

static brine_status nomem(run *r)
{
    if (r->g->mem->exhausted) {
        err_limit(r->err, "max_memory", r->g->mem->limit, r->g->mem->used, r->op->offset, 1,
                  __LINE__);
        snprintf(r->err->msg, sizeof r->err->msg,
                 "limit max_memory is %llu bytes; %llu were in use when the scan needed more",
                 (unsigned long long)r->g->mem->limit, (unsigned long long)r->g->mem->used);
        return BRINE_ERR_LIMIT;
    }
    return ERR_NOMEM(r->err);
}

/* Room for need nodes: doubling up to 1 Mi nodes, then a quarter more each time, and never
 * past max_nodes (+1 for node 0). The node array is most of what a scan allocates and is
 * charged to its budget; realloc remaps rather than copies an array that large. */
static int nodes_grow(pk_graph *g, size_t need, uint64_t max_nodes)
{
    if (need <= g->cap_nodes)
        return 0;
    size_t cap = g->cap_nodes;
    size_t ncap = cap < 8 ? 8 : cap < ((size_t)1 << 20) ? cap * 2 : cap + cap / 4;
    if (max_nodes < SIZE_MAX && ncap > max_nodes + 1)
        ncap = (size_t)max_nodes + 1;
    if (ncap < need)
        ncap = need;
    size_t old_bytes, new_bytes;
    if (__builtin_mul_overflow(cap, sizeof *g->nodes, &old_bytes) ||
        __builtin_mul_overflow(ncap, sizeof *g->nodes, &new_bytes))
        return -1;
    pk_node *p = mem_realloc(g->mem, g->nodes, old_bytes, new_bytes);
    if (!p)
        return -1;
    g->nodes = p;
    g->cap_nodes = ncap;
    return 0;
}

static brine_status side_put(run *r, pk_id id, uint32_t what, uint64_t v);

static brine_status new_node(run *r, pk_kind kind, pk_id *out)
{
    pk_graph *g = r->g;
    if (g->n_nodes >= r->lim->max_nodes)
        return err_limit(r->err, "max_nodes", r->lim->max_nodes, g->n_nodes + 1, r->op->offset, 1,
                         __LINE__);
    if (g->n_nodes + 1 >= g->cap_nodes && nodes_grow(g, g->n_nodes + 2, r->lim->max_nodes))
        return nomem(r);
    if (g->n_nodes == 0) { /* id 0 means "no node": a zeroed placeholder */
        memset(&g->nodes[0], 0, sizeof g->nodes[0]);
        g->n_nodes = 1;
    }
    pk_id id = (pk_id)g->n_nodes++;
    pk_node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->opcode = r->op->code;
    uint64_t at = r->op->offset;
    n->off_lo = (uint32_t)at;
    n->off_hi = (uint8_t)(at >> 32);
    if (at >> 32 >= PK_OFF_SIDE) {
        n->off_hi = PK_OFF_SIDE;
        brine_status st = side_put(r, id, PK_SIDE_OFFSET, at);
        if (st) {
            g->n_nodes--; /* not made: the node stays unused */
            return st;
        }
    }
    *out = id;
    return BRINE_OK;
}

/* n ids from the arena (n <= ITEMS_ARENA_MAX), NULL when memory is refused. */
static pk_id *items_take(pk_graph *g, size_t n)
{
    if (n > g->items_left) {
        struct pk_items_blk *b = mem_alloc(g->mem, sizeof *b + ITEMS_BLOCK * sizeof(pk_id));
        if (!b)
            return NULL;
        b->next = g->item_blocks;
        b->n = ITEMS_BLOCK;
        g->item_blocks = b;
        g->items_next = b->ids;
        g->items_left = ITEMS_BLOCK;
    }
    pk_id *p = g->items_next;
    g->items_next += n;
    g->items_left -= n;
    return p;
}

/* Room for need items in a container; on failure it is unchanged. exact: the container is
 * empty and gets exactly need items, never more (PKF_EXACT). */
static brine_status items_reserve(run *r, pk_id container, uint64_t need, int exact)
{
    pk_graph *g = r->g;
    pk_node *n = pk_node_w(g, container);
    size_t cap = items_cap(n);
    if (need <= cap)
        return BRINE_OK;
    if (need > UINT32_MAX)
        return err_limit(r->err, "max_nodes", r->lim->max_nodes, need, r->op->offset, 1, __LINE__);
    exact = exact && n->count == 0;
    size_t ncap = exact ? (size_t)need : pk_items_cap((uint32_t)need);
    pk_id *fresh;
    if (ncap <= ITEMS_ARENA_MAX) {
        if (!(fresh = items_take(g, ncap)))
            return nomem(r);
        if (n->count)
            memcpy(fresh, n->items, (size_t)n->count * sizeof(pk_id));
    } else if (cap > ITEMS_ARENA_MAX) {
        if (!(fresh = mem_realloc(g->mem, n->items, cap * sizeof(pk_id), ncap * sizeof(pk_id))))
            return nomem(r);
    } else {
        if (mem_grow(g->mem, (void **)&g->heap_items, &g->cap_heap_items, g->n_heap_items + 1,
                     sizeof *g->heap_items) ||
            !(fresh = mem_alloc(g->mem, ncap * sizeof(pk_id))))
            return nomem(r);
        if (n->count)
            memcpy(fresh, n->items, (size_t)n->count * sizeof(pk_id));
        g->heap_items[g->n_heap_items++] = container;
    }
    n->items = fresh;
    n->flags = (uint8_t)(exact ? n->flags | PKF_EXACT : n->flags & ~PKF_EXACT);
    return BRINE_OK;
}

/* Appends the stack's ids [from, to) to a container; exact: see items_reserve. */
static brine_status add_stack_items(run *r, pk_id container, size_t from, size_t to, int exact)
{
    if (from >= to)
        return BRINE_OK; /* an empty stack may have no array yet */
    pk_node *n = pk_node_w(r->g, container);
    size_t k = to - from;
    brine_status st = items_reserve(r, container, (uint64_t)n->count + k, exact);
    if (st)
        return st;
    memcpy(n->items + n->count, r->stack + from, k * sizeof(pk_id));
    n->count += (uint32_t)k;
    return BRINE_OK;
}

static brine_status log_event(run *r, pk_evkind kind, pk_id node, pk_id aux)
{
    pk_graph *g = r->g;
    if (mem_grow(g->mem, (void **)&g->events, &g->cap_events, g->n_events + 1, sizeof *g->events))
        return nomem(r);
    pk_event *e = &g->events[g->n_events++];
    e->kind = (uint8_t)kind;
    e->opcode = r->op->code;
    e->offset = r->op->offset;
    e->node = node;
    e->aux = aux;
    r->pickle->n_events++;
    /* a read across a FRAME end counts: _pickle.c on a stream without peek() reads other
     * bytes from there on, so what runs is not what the machine saw */
    if ((kind != EV_PERSID && kind != EV_BUFFER && kind != EV_FRAME && kind != EV_DIVERGE) ||
        (kind == EV_FRAME && aux == 0))
        g->code_events++;
    return BRINE_OK;
}

static const char *unpickler_name(unsigned bits)
{
    return bits == PK_UNPICKLER_C ? "_pickle.c" : bits == PK_UNPICKLER_PY ? "pickle.py" : "both";
}

/* Keeps the first deferred problem, a limit in preference to a divergence. */
static void defer(run *r, const brine_error *e)
{
    pk_graph *g = r->g;
    if (!g->deferred || (g->deferred_error.code != BRINE_ERR_LIMIT && e->code == BRINE_ERR_LIMIT)) {
        g->deferred_error = *e;
        g->deferred = 1;
    }
}

/* The unpicklers in `raising` raise at this opcode. When that is every one still running,
 * the load stops here (error); otherwise the others go on and the parting is recorded. A
 * limit error (limit != NULL) is recorded as that limit. */
static brine_status diverge(run *r, unsigned raising, const char *why, const brine_error *limit)
{
    uint8_t stopping = (uint8_t)(raising & r->live);
    if (!stopping)
        return BRINE_OK;
    if (stopping == r->live) {
        if (limit) {
            *r->err = *limit;
            return limit->code;
        }
        return FAIL("%s", why);
    }
    r->live = (uint8_t)(r->live & ~stopping);
    r->g->n_divergences++;
    brine_error e;
    if (limit)
        e = *limit;
    else
        err_at(&e, BRINE_ERR_MALFORMED, r->op->offset, __LINE__,
               "unpickler divergence: %s (%s raises here; the scan follows %s)", why,
               unpickler_name(stopping), unpickler_name(r->live));
    defer(r, &e);
    return log_event(r, EV_DIVERGE, 0, stopping);
}

/* The side table: what does not fit in a node, keyed by (id, PK_SIDE_*). All rare: an
 * offset past the node's 40 bits, NEWOBJ_EX's kwargs, BUILD on a scalar or K_EXT (CPython
 * raises there unless the state is empty). */
typedef struct side_key {
    pk_id id;
    uint32_t what;
} side_key;

uint64_t pk_side(const pk_graph *g, const pk_node *n, uint32_t what)
{
    side_key k = {(pk_id)(n - g->nodes), what};
    uint64_t v;
    if (!hmap_get(&g->side, &k, sizeof k, &v))
        return 0;
    if (what != PK_SIDE_STATE)
        return v;
    return v < g->n_side_states ? g->side_states[v] : 0;
}

/* Adds (id, what) -> v; the key must be new, except PK_SIDE_STATE, which BUILD replaces. */
static brine_status side_put(run *r, pk_id id, uint32_t what, uint64_t v)
{
    pk_graph *g = r->g;
    side_key k = {id, what};
    uint64_t at;
    if (what == PK_SIDE_STATE) {
        if (hmap_get(&g->side, &k, sizeof k, &at) && at < g->n_side_states) {
            g->side_states[at] = (pk_id)v;
            return BRINE_OK;
        }
        if (mem_grow(g->mem, (void **)&g->side_states, &g->cap_side_states, g->n_side_states + 1,
                     sizeof *g->side_states))
            return nomem(r);
        g->side_states[g->n_side_states] = (pk_id)v;
        v = g->n_side_states;
    }
    if (hmap_put(&g->side, &k, sizeof k, v, NULL) < 0)
        return nomem(r);
    if (what == PK_SIDE_STATE)
        g->n_side_states++;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ stack (Pdata) */

static brine_status push(run *r, pk_id id)
{
    if (r->n_stack >= r->lim->max_stack)
        return err_limit(r->err, "max_stack", r->lim->max_stack, r->n_stack + 1, r->op->offset, 1,
                         __LINE__);
    if (mem_grow(r->g->mem, (void **)&r->stack, &r->cap_stack, r->n_stack + 1, sizeof(pk_id)))
        return nomem(r);
    r->stack[r->n_stack++] = id;
    return BRINE_OK;
}

/* Pdata_stack_underflow's two messages. */
static brine_status underflow(run *r)
{
    return FAIL(r->n_marks ? "%s: unexpected MARK found" : "%s: unpickling stack underflow",
                pk_opcodes[r->op->code].name);
}

static brine_status pop(run *r, pk_id *out)
{
    if (r->n_stack <= r->fence)
        return underflow(r);
    *out = r->stack[--r->n_stack];
    return BRINE_OK;
}

/* marker(): pops the newest mark and lowers the fence to the previous one. */
static brine_status marker(run *r, size_t *pos)
{
    if (r->n_marks == 0)
        return FAIL("%s: could not find MARK", pk_opcodes[r->op->code].name);
    *pos = r->marks[--r->n_marks];
    r->fence = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    return BRINE_OK;
}

/* Moves stack[start..] into a new container node (Pdata_poptuple / Pdata_poplist). */
static brine_status pop_into(run *r, size_t start, pk_kind kind, pk_id *out)
{
    if (start < r->fence || start > r->n_stack)
        return underflow(r);
    brine_status st = new_node(r, kind, out);
    if (st || (st = add_stack_items(r, *out, start, r->n_stack, 1)))
        return st;
    r->n_stack = start;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ memo */

static memo_slot *memo_find(run *r, uint64_t idx)
{
    if (!r->memo_cap)
        return NULL;
    size_t mask = r->memo_cap - 1;
    /* keyed: PUT takes any index (pickle.py's memo is a dict), and with a fixed hash the
     * indices j * 2^38 - 1 all shared one probe chain — 100,000 PUTs took 20 s (issue 7.5) */
    size_t h = (size_t)hmap_siphash(r->memo_k0, r->memo_k1, &idx, sizeof idx) & mask;
    for (;;) {
        memo_slot *s = &r->memo[h];
        if (s->key == idx + 1 || s->key == 0)
            return s;
        h = (h + 1) & mask;
    }
}

/* The node at memo index idx, 0 when there is none. */
static pk_id memo_get(run *r, uint64_t idx)
{
    if (idx < r->dense_init && r->dense[idx])
        return r->dense[idx];
    if (!r->memo_sparse)
        return 0;
    const memo_slot *s = memo_find(r, idx);
    return s && s->key ? s->val : 0;
}

/* Dense array slack: an index up to twice the entries held (plus this) may grow the array. */
enum { MEMO_DENSE_SLACK = 64 };

static brine_status memo_put_sparse(run *r, uint64_t idx, pk_id val)
{
    memo_slot *s = memo_find(r, idx);
    if (!s || (r->memo_sparse + 1) * 2 > r->memo_cap) {
        size_t ncap = r->memo_cap ? r->memo_cap * 2 : 64;
        if (!r->memo_cap) /* a fresh key per pickle: the file cannot aim at it */
            hmap_seed(&r->memo_k0, &r->memo_k1);
        memo_slot *old = r->memo;
        size_t ocap = r->memo_cap;
        memo_slot *fresh = mem_calloc(r->g->mem, ncap, sizeof *fresh);
        if (!fresh)
            return nomem(r);
        r->memo = fresh;
        r->memo_cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].key)
                *memo_find(r, old[i].key - 1) = old[i];
        mem_free(r->g->mem, old, ocap * sizeof *old);
        s = memo_find(r, idx);
    }
    s->key = idx + 1;
    s->val = val;
    r->memo_sparse++;
    r->memo_len++;
    return BRINE_OK;
}

static brine_status memo_put(run *r, uint64_t idx, pk_id val)
{
    if (idx < r->dense_init && r->dense[idx]) {
        r->dense[idx] = val; /* overwriting keeps memo_len, as in _Unpickler_MemoPut */
        return BRINE_OK;
    }
    if (r->memo_sparse) {
        memo_slot *s = memo_find(r, idx);
        if (s && s->key) {
            s->val = val;
            return BRINE_OK;
        }
    }
    if (r->memo_len >= r->lim->max_memo)
        return err_limit(r->err, "max_memo", r->lim->max_memo, r->memo_len + 1, r->op->offset, 1,
                         __LINE__);
    if (idx >= r->dense_cap) {
        /* grow only while the array stays proportional to what it holds, never to an index */
        if (idx > 2 * (uint64_t)r->dense_len + MEMO_DENSE_SLACK)
            return memo_put_sparse(r, idx, val);
        if (mem_grow(r->g->mem, (void **)&r->dense, &r->dense_cap, (size_t)idx + 1,
                     sizeof *r->dense))
            return nomem(r);
    }
    if (idx >= r->dense_init) { /* zero only up to the index put: idx < dense_cap here */
        memset(r->dense + r->dense_init, 0, ((size_t)idx - r->dense_init) * sizeof *r->dense);
        r->dense_init = (size_t)idx + 1;
    }
    r->dense[idx] = val;
    r->dense_len++;
    r->memo_len++;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ globals */

static const struct {
    const char *module, *name, *to_module, *to_name;
} name_mapping[] = {
#define NAME(m, n, m3, n3) {m, n, m3, n3},
#define IMPORT(m, m3)
#include "pickle/compat.def"
#undef NAME
#undef IMPORT
};

static const struct {
    const char *module, *to_module;
} import_mapping[] = {
#define NAME(m, n, m3, n3)
#define IMPORT(m, m3) {m, m3},
#include "pickle/compat.def"
#undef NAME
#undef IMPORT
};

static int bytes_eq(const uint8_t *s, uint64_t n, const char *z)
{
    size_t zl = strlen(z);
    return n == zl && memcmp(s, z, zl) == 0;
}

static char *pool_str(run *r, const void *s, uint64_t n)
{
    char *d = pk_pool_alloc(&r->g->strings, (size_t)n + 1);
    if (d) {
        if (n)
            memcpy(d, s, (size_t)n);
        d[n] = '\0';
    }
    return d;
}

/* find_class, symbolically: applies the Python-2 mapping, records the global, pushes a node. */
static brine_status make_global(run *r, const uint8_t *mod, uint64_t mlen, const uint8_t *name,
                                uint64_t nlen, int dynamic, pk_id *out)
{
    int mapped = 0;
    /* No file or package can be named with a NUL byte, and sys.modules holds none: both
     * unpicklers' find_class fail with ModuleNotFoundError before anything is imported (a
     * tar header's NUL-padded name read as a GLOBAL line, for one) */
    if (!dynamic && memchr(mod, 0, (size_t)mlen))
        return FAIL("GLOBAL module name with a NUL byte: no module can be imported by that name");
    if ((r->map_proto >= 0 ? r->map_proto : r->proto) < 3 && !dynamic) {
        size_t i;
        for (i = 0; i < sizeof name_mapping / sizeof name_mapping[0]; i++)
            if (bytes_eq(mod, mlen, name_mapping[i].module) &&
                bytes_eq(name, nlen, name_mapping[i].name)) {
                mod = (const uint8_t *)name_mapping[i].to_module;
                mlen = strlen(name_mapping[i].to_module);
                name = (const uint8_t *)name_mapping[i].to_name;
                nlen = strlen(name_mapping[i].to_name);
                mapped = 1;
                break;
            }
        for (i = 0; !mapped && i < sizeof import_mapping / sizeof import_mapping[0]; i++)
            if (bytes_eq(mod, mlen, import_mapping[i].module)) {
                mod = (const uint8_t *)import_mapping[i].to_module;
                mlen = strlen(import_mapping[i].to_module);
                mapped = 1;
            }
    }
    pk_graph *g = r->g;
    if (mem_grow(g->mem, (void **)&g->globals, &g->cap_globals, g->n_globals + 1,
                 sizeof *g->globals))
        return nomem(r);
    pk_global *gl = &g->globals[g->n_globals];
    memset(gl, 0, sizeof *gl);
    gl->module = pool_str(r, mod, mlen);
    gl->name = pool_str(r, name, nlen);
    uint64_t flen = mlen + nlen + 1;
    gl->full = pk_pool_alloc(&g->strings, (size_t)flen + 1);
    if (!gl->module || !gl->name || !gl->full)
        return nomem(r);
    memcpy(gl->full, mod, (size_t)mlen);
    gl->full[mlen] = '.';
    memcpy(gl->full + mlen + 1, name, (size_t)nlen);
    gl->full[flen] = '\0';
    gl->offset = r->op->offset;
    gl->dotted = memchr(name, '.', (size_t)nlen) != NULL;
    gl->mapped = (uint8_t)mapped;
    gl->dynamic = (uint8_t)dynamic;
    brine_status st = new_node(r, K_GLOBAL, out);
    if (st)
        return st;
    pk_node_w(g, *out)->v.g.global = (uint32_t)g->n_globals++;
    return log_event(r, EV_GLOBAL, *out, 0);
}

/* ------------------------------------------------------------------ type checks */

/* Values that are what they look like: nothing can change their type at run time. */
static int is_literal(const pk_node *n)
{
    switch (n->kind) {
    case K_GLOBAL:
    case K_CALL:
    case K_NEWOBJ:
    case K_INST:
    case K_PERSID:
    case K_EXT:
    case K_BUFFER: return 0;
    default: return 1;
    }
}

static int is_text(const pk_node *n) { return n->kind == K_STR || n->kind == K_PYSTR; }

/* ------------------------------------------------------------------ opcodes */

/* The id holding the value op makes when it is None, a bool, a small int or a float (into the
 * graph's table while it has room); else 0, also when memory is refused (*st is then set). */
static pk_id held_in_id(run *r, pk_kind kind, const pk_op *op, brine_status *st)
{
    pk_graph *g = r->g;
    switch (kind) {
    case K_NONE: return PK_NONE_ID;
    case K_BOOL: /* NEWTRUE, NEWFALSE, or INT's "01" and "00" */
        return op->code == OPC_NEWTRUE || (op->code != OPC_NEWFALSE && op->i) ? PK_TRUE_ID
                                                                             : PK_FALSE_ID;
    case K_INT: return op->i >= PK_SMALL_LO && op->i <= PK_SMALL_HI ? pk_small_id(op->i) : 0;
    case K_FLOAT:
        if (g->n_floats >= PK_FLOATS_MAX)
            return 0;
        size_t i = g->n_floats, words = g->cap_float_lines;
        if (mem_grow(g->mem, (void **)&g->floats, &g->cap_floats, i + 1, sizeof *g->floats) ||
            mem_grow(g->mem, (void **)&g->float_lines, &g->cap_float_lines, i / 64 + 1,
                     sizeof *g->float_lines)) {
            *st = nomem(r);
            return 0;
        }
        if (g->cap_float_lines > words)
            memset(g->float_lines + words, 0,
                   (g->cap_float_lines - words) * sizeof *g->float_lines);
        if (op->vk == PV_FLOAT_TEXT) {
            memcpy(&g->floats[i], &op->s, sizeof op->s);
            g->float_lines[i / 64] |= (uint64_t)1 << (i % 64);
        } else {
            g->floats[i] = op->d;
        }
        g->n_floats++;
        return PK_FLOAT_TAG | (pk_id)(i << 2);
    default: return 0;
    }
}

static brine_status op_value(run *r, const pk_op *op)
{
    pk_id id;
    pk_kind kind;
    switch (op->code) {
    case OPC_NONE: kind = K_NONE; break;
    case OPC_NEWTRUE:
    case OPC_NEWFALSE: kind = K_BOOL; break;
    case OPC_FLOAT:
    case OPC_BINFLOAT: kind = K_FLOAT; break;
    case OPC_STRING:
    case OPC_BINSTRING:
    case OPC_SHORT_BINSTRING: kind = K_PYSTR; break;
    case OPC_BINBYTES:
    case OPC_SHORT_BINBYTES:
    case OPC_BINBYTES8: kind = K_BYTES; break;
    case OPC_BYTEARRAY8: kind = K_BYTEARRAY; break;
    case OPC_UNICODE:
    case OPC_BINUNICODE:
    case OPC_SHORT_BINUNICODE:
    case OPC_BINUNICODE8: kind = K_STR; break;
    case OPC_EMPTY_LIST: kind = K_LIST; break;
    case OPC_EMPTY_DICT: kind = K_DICT; break;
    case OPC_EMPTY_SET: kind = K_SET; break;
    case OPC_EMPTY_TUPLE: kind = K_TUPLE; break;
    default: /* integers */
        kind = (op->vk == PV_BIGINT_LE || op->vk == PV_BIGINT_TEXT) ? K_BIGINT
               : op->vk == PV_BOOL                                  ? K_BOOL
                                                                    : K_INT;
        break;
    }
    brine_status st = BRINE_OK;
    pk_id small = held_in_id(r, kind, op, &st);
    if (small) {
        r->n_small++;
        return push(r, small); /* no node: the id is the value */
    }
    if (st || (st = new_node(r, kind, &id)))
        return st;
    pk_node *n = pk_node_w(r->g, id);
    switch (kind) {
    case K_INT: n->v.i = op->i; break; /* past PK_SMALL_HI */
    case K_FLOAT:
        /* past PK_FLOATS_MAX: a node */
        n->v.d = op->vk == PV_FLOAT_TEXT ? pk_float_line(op->s) : op->d;
        break;
    case K_BIGINT:
        n->flags |= op->vk == PV_BIGINT_TEXT ? PKF_BIGTEXT : 0;
        /* fall through */
    case K_PYSTR:
    case K_BYTES:
    case K_BYTEARRAY:
    case K_STR:
        n->v.s.p = op->s;
        n->v.s.len = op->slen;
        break;
    default: break;
    }
    return push(r, id);
}

static brine_status op_stack_global(run *r)
{
    pk_id name = 0, mod = 0, out = 0;
    brine_status st;
    if ((st = pop(r, &name)) || (st = pop(r, &mod)))
        return st;
    const pk_node *mn = pk_at(r->g, mod), *nn = pk_at(r->g, name);
    if (is_text(mn) && is_text(nn)) {
        if (!pk_utf8_valid(mn->v.s.p, mn->v.s.len, 0) || !pk_utf8_valid(nn->v.s.p, nn->v.s.len, 0))
            return FAIL("STACK_GLOBAL operand is not valid text");
        st = make_global(r, mn->v.s.p, mn->v.s.len, nn->v.s.p, nn->v.s.len, 0, &out);
    } else if ((!is_text(mn) && is_literal(mn)) || (!is_text(nn) && is_literal(nn))) {
        /* load_stack_global: module and name must be exact str */
        return FAIL("STACK_GLOBAL requires str operands");
    } else {
        /* a computed operand: whatever it evaluates to at load time will be imported */
        const char *m = is_text(mn) ? NULL : "?", *n = is_text(nn) ? NULL : "?";
        if ((!m && !pk_utf8_valid(mn->v.s.p, mn->v.s.len, 0)) ||
            (!n && !pk_utf8_valid(nn->v.s.p, nn->v.s.len, 0)))
            return FAIL("STACK_GLOBAL operand is not valid text");
        pk_id computed = m ? mod : name; /* read before new nodes move the arena */
        st = make_global(r, m ? (const uint8_t *)m : mn->v.s.p, m ? 1 : mn->v.s.len,
                         n ? (const uint8_t *)n : nn->v.s.p, n ? 1 : nn->v.s.len, 1, &out);
        if (!st)
            pk_node_w(r->g, out)->a = computed;
    }
    return st ? st : push(r, out);
}

/* REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ: one call node and one event. */
static brine_status make_call(run *r, pk_kind kind, pk_id callable, pk_id args, pk_id kwargs)
{
    const pk_node *cn = pk_at(r->g, callable);
    if (is_literal(cn))
        return FAIL("%s: %s is not callable", pk_opcodes[r->op->code].name,
                    cn->kind == K_NONE ? "None" : "a literal value");
    brine_status st;
    const pk_node *an = args ? pk_at(r->g, args) : NULL;
    if (an && is_literal(an) && an->kind != K_TUPLE) {
        /* _pickle.c wants a tuple; pickle.py spreads any iterable (func(*args)) */
        int iterable = an->kind == K_LIST || an->kind == K_DICT || an->kind == K_SET ||
                       an->kind == K_FROZENSET || an->kind == K_STR || an->kind == K_PYSTR ||
                       an->kind == K_BYTES || an->kind == K_BYTEARRAY;
        if (!iterable || kind == K_INST)
            return FAIL("%s: the argument list must be a tuple", pk_opcodes[r->op->code].name);
        if ((st = diverge(r, PK_UNPICKLER_C,
                          "the arguments are not a tuple: _pickle.c raises, pickle.py spreads "
                          "the iterable into the call",
                          NULL)))
            return st;
    }
    if (kwargs && is_literal(pk_at(r->g, kwargs)) && pk_at(r->g, kwargs)->kind != K_DICT)
        return FAIL("NEWOBJ_EX: keyword arguments must be a dict");
    pk_id out;
    st = new_node(r, kind, &out);
    if (st)
        return st;
    pk_node *n = pk_node_w(r->g, out);
    n->a = callable;
    n->b_ = args;
    if (kwargs && (st = side_put(r, out, PK_SIDE_KWARGS, kwargs)))
        return st;
    if ((st = log_event(r, EV_CALL, out, 0)))
        return st;
    return push(r, out);
}

/* APPEND(S), SETITEM(S), ADDITEMS: plain containers are filled; anything else would have a
 * method of an unknown object called, which is logged. */
static brine_status apply_items(run *r, pk_id target, size_t from, int pairs)
{
    const pk_node *t = pk_at(r->g, target);
    uint8_t code = r->op->code;
    int plain = ((code == OPC_APPEND || code == OPC_APPENDS) && t->kind == K_LIST) ||
                ((code == OPC_SETITEM || code == OPC_SETITEMS) &&
                 (t->kind == K_DICT || t->kind == K_LIST)) ||
                (code == OPC_ADDITEMS && t->kind == K_SET);
    brine_status st;
    if (pairs && (r->n_stack - from) % 2 != 0) {
        /* _pickle.c checks first; pickle.py stores the pairs, then raises IndexError */
        if ((r->live & PK_UNPICKLER_PY) && !plain && !is_literal(t) && r->n_stack - from >= 3) {
            pk_id payload;
            if ((st = new_node(r, K_DICT, &payload)))
                return st;
            if ((st = add_stack_items(r, payload, from, r->n_stack - 1, 1)))
                return st;
            pk_node_w(r->g, target)->flags |= PKF_MUTATED;
            if ((st = log_event(r, EV_MUTATE, target, payload)))
                return st;
        }
        return FAIL("odd number of items for %s", pk_opcodes[code].name);
    }
    if (plain) {
        if (t->kind == K_LIST && pairs) { /* list[i] = v: no new items to track */
            r->n_stack = from;
            return BRINE_OK;
        }
        if ((st = add_stack_items(r, target, from, r->n_stack, 0)))
            return st;
    } else if (is_literal(t)) {
        return FAIL("%s: target cannot take items", pk_opcodes[code].name);
    } else {
        pk_node_w(r->g, target)->flags |= PKF_MUTATED;
        pk_id payload;
        if ((st = new_node(r, pairs ? K_DICT : K_LIST, &payload)))
            return st;
        /* the target keeps the items too, so passes over the graph see what an
         * OrderedDict or a list subclass was filled with */
        if ((st = add_stack_items(r, payload, from, r->n_stack, 1)) ||
            (st = add_stack_items(r, target, from, r->n_stack, 0)))
            return st;
        if ((st = log_event(r, EV_MUTATE, target, payload)))
            return st;
    }
    r->n_stack = from;
    return BRINE_OK;
}

/* PUT with an index past int64: pickle.py only (decode.c), a dict entry like any other. */
static brine_status big_put(run *r, const pk_op *op, pk_id val)
{
    for (size_t k = 0; k < r->n_big; k++)
        if (r->big[k].len == op->slen && !memcmp(r->big[k].digits, op->s, op->slen)) {
            r->big[k].val = val;
            return BRINE_OK;
        }
    if (r->n_big >= MAX_BIG_KEYS || r->memo_len >= r->lim->max_memo)
        return err_limit(r->err, "max_memo",
                         r->n_big >= MAX_BIG_KEYS ? MAX_BIG_KEYS : r->lim->max_memo,
                         r->memo_len + 1, op->offset, 1, __LINE__);
    if (mem_grow(r->g->mem, (void **)&r->big, &r->cap_big, r->n_big + 1, sizeof *r->big))
        return nomem(r);
    r->big[r->n_big].digits = op->s;
    r->big[r->n_big].len = op->slen;
    r->big[r->n_big].val = val;
    r->n_big++;
    r->memo_len++; /* len(memo) counts it: MEMOIZE indexes after it */
    return BRINE_OK;
}

/* ------------------------------------------------------------------ amplification */

/* Child k of a node: its items, then its operands a, b, c and BUILD state. 0 = none. */
static pk_id child_at(const pk_graph *g, const pk_node *n, uint64_t k)
{
    if (k < n->count)
        return n->items[k];
    switch (k - n->count) {
    case 0: return n->a;
    case 1: return pk_args(n);
    case 2: return pk_kwargs(g, n);
    case 3: return pk_state(g, n);
    default: return 0;
    }
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s;
    return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

typedef struct walk_frame {
    pk_id id;
    uint32_t k;    /* its inner-node number */
    uint64_t next; /* next child index */
} walk_frame;

/* The run's inner nodes (those with children) numbered densely: a bit per node and a count
 * per 64 nodes, so the walk's arrays cover only them — most nodes are numbers and strings. */
typedef struct inner_index {
    uint64_t *bits;
    uint32_t *rank; /* inner nodes before each word of bits */
    size_t words;
} inner_index;

static int is_inner(const inner_index *x, size_t i)
{
    return (int)((x->bits[i >> 6] >> (i & 63)) & 1);
}

static uint32_t inner_of(const inner_index *x, size_t i)
{
    uint64_t below = x->bits[i >> 6] & ((UINT64_C(1) << (i & 63)) - 1);
    return x->rank[i >> 6] + (uint32_t)__builtin_popcountll(below);
}

/* A node with no children: one leaf, depth 1, nothing to remember about it. */
static int is_leaf(const pk_graph *g, const pk_node *n)
{
    return !n->count && !n->a && !pk_args(n) && !pk_kwargs(g, n) && !pk_state(g, n);
}

/* depth[] of the walk: 0 = not reached yet; DEPTH_DONE set once the node's subtree is done. */
#define DEPTH_DONE UINT32_C(0x80000000)
#define DEPTH_MAX  UINT32_C(0x7fffffff) /* max_nesting's hard cap is far below */

static brine_status nesting_error(run *r, uint64_t depth, uint64_t offset)
{
    brine_status st =
        err_limit(r->err, "max_nesting", r->lim->max_nesting, depth, offset, 1, __LINE__);
    snprintf(r->err->msg, sizeof r->err->msg,
             "limit max_nesting is %llu; the object made here nests %llu deep: "
             "consumers that walk it recurse that deep",
             (unsigned long long)r->lim->max_nesting, (unsigned long long)depth);
    return st;
}

/* Leaves and nesting depth of every node of this run, fully expanded as a consumer walking
 * the loaded object would see them (shared references counted each time they are reached,
 * a reference back into a node being walked counted once), in one iterative post-order
 * pass: O(nodes + items), nothing expanded. Fills the pickle record; returns a limit error
 * for the first node over max_nesting, or over max_expansion once past the floor.
 * Memory: 12 bytes per inner node and 3/16 of a byte per node of the run, and a walk stack
 * as deep as the graph; leaves (most nodes: numbers, strings) are folded into their parent
 * without being visited. */
static brine_status amplification(run *r)
{
    pk_graph *g = r->g;
    size_t first = r->first_node ? r->first_node : 1,
           n = g->n_nodes > first ? g->n_nodes - first : 0;
    r->pickle->built = (uint64_t)n + r->n_small;
    if (!n) { /* values held in ids only, or nothing */
        r->pickle->expanded = r->pickle->nesting = r->n_small ? 1 : 0;
        return BRINE_OK;
    }
    inner_index x = {NULL, NULL, (n + 63) / 64};
    uint64_t *size = NULL;
    uint32_t *depth = NULL;
    walk_frame *stk = NULL;
    size_t cap_stk = 0, m = 0, size_bytes = 0;
    brine_status st = BRINE_OK;
    x.bits = mem_calloc(g->mem, x.words, sizeof *x.bits);
    x.rank = x.bits ? mem_calloc(g->mem, x.words, sizeof *x.rank) : NULL;
    if (!x.rank) {
        st = nomem(r);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (!is_leaf(g, pk_at(g, (pk_id)(i + first))))
            x.bits[i >> 6] |= UINT64_C(1) << (i & 63);
    for (size_t w = 0; w < x.words; w++) {
        x.rank[w] = (uint32_t)m; /* m <= n < 2^32: node ids are 32 bits */
        m += (size_t)__builtin_popcountll(x.bits[w]);
    }
    size_bytes = m * sizeof *size;        /* m <= n, which the node array already holds */
    size = mem_alloc(g->mem, size_bytes); /* valid once depth[] is nonzero */
    depth = size ? mem_calloc(g->mem, m, sizeof *depth) : NULL;
    if (!size || !depth) {
        st = nomem(r);
        goto out;
    }
    uint64_t allowed, built = r->pickle->built;
    if (__builtin_mul_overflow(r->lim->max_expansion, built, &allowed))
        allowed = UINT64_MAX;
    if (allowed < BRINE_EXPANSION_FLOOR)
        allowed = BRINE_EXPANSION_FLOOR;
    uint64_t max_size = 0, max_depth = 0;
    for (size_t root = 0; root < n && !st; root++) {
        const pk_node *rn = pk_at(g, (pk_id)(root + first));
        if (!is_inner(&x, root)) {
            max_size = max_size ? max_size : 1;
            max_depth = max_depth ? max_depth : 1;
            if (1 > r->lim->max_nesting) {
                st = nesting_error(r, 1, pk_offset(g, rn));
                break;
            }
            continue;
        }
        uint32_t rk = inner_of(&x, root);
        if (depth[rk])
            continue;
        size_t sp = 0;
        if (mem_grow(g->mem, (void **)&stk, &cap_stk, 1, sizeof *stk)) {
            st = nomem(r);
            break;
        }
        stk[sp++] = (walk_frame){(pk_id)(root + first), rk, 0};
        size[rk] = 1;
        depth[rk] = 1;
        while (sp) {
            walk_frame *f = &stk[sp - 1];
            const pk_node *node = pk_at(g, f->id);
            size_t fi = f->k;
            if (f->next < (uint64_t)node->count + 4) {
                pk_id c = child_at(g, node, f->next++);
                if (!c)
                    continue;
                uint64_t cs = 1, cd = 1; /* other runs' nodes, leaves and back edges: one leaf */
                if (c >= first && c < g->n_nodes) {
                    if (!is_inner(&x, c - first)) {
                        if (1 > r->lim->max_nesting) {
                            st = nesting_error(r, 1, pk_offset(g, pk_at(g, c)));
                            break;
                        }
                    } else {
                        uint32_t ck = inner_of(&x, c - first);
                        if (!depth[ck]) {
                            if (mem_grow(g->mem, (void **)&stk, &cap_stk, sp + 1, sizeof *stk)) {
                                st = nomem(r);
                                break;
                            }
                            size[ck] = 1;
                            depth[ck] = 1;
                            stk[sp++] = (walk_frame){c, ck, 0};
                            continue;
                        }
                        if (depth[ck] & DEPTH_DONE) {
                            cs = size[ck];
                            cd = depth[ck] & ~DEPTH_DONE;
                        }
                    }
                }
                size[fi] = sat_add(size[fi], cs);
                if (cd + 1 > depth[fi])
                    depth[fi] = (uint32_t)(cd + 1 > DEPTH_MAX ? DEPTH_MAX : cd + 1);
                continue;
            }
            uint32_t d = depth[fi];
            depth[fi] = d | DEPTH_DONE;
            sp--;
            if (size[fi] > max_size)
                max_size = size[fi];
            if (d > max_depth)
                max_depth = d;
            if (d > r->lim->max_nesting) {
                st = nesting_error(r, d, pk_offset(g, node));
                break;
            }
            if (size[fi] > allowed) {
                st = err_limit(r->err, "max_expansion", r->lim->max_expansion, size[fi] / built,
                               pk_offset(g, node), 1, __LINE__);
                snprintf(r->err->msg, sizeof r->err->msg,
                         "limit max_expansion is %llu leaves per value; the object made here "
                         "expands to %llu%s leaves from %llu values (shared references, "
                         "\"billion laughs\")",
                         (unsigned long long)r->lim->max_expansion, (unsigned long long)size[fi],
                         size[fi] == UINT64_MAX ? "+" : "", (unsigned long long)built);
                break;
            }
            if (sp) { /* fold into the parent */
                size_t pi = stk[sp - 1].k;
                size[pi] = sat_add(size[pi], size[fi]);
                if ((uint64_t)d + 1 > depth[pi])
                    depth[pi] = d >= DEPTH_MAX ? DEPTH_MAX : d + 1;
            }
        }
    }
    r->pickle->expanded = max_size;
    r->pickle->nesting = max_depth;
out:
    mem_free(g->mem, size, size_bytes);
    mem_free(g->mem, depth, m * sizeof *depth);
    mem_free(g->mem, x.bits, x.words * sizeof *x.bits);
    mem_free(g->mem, x.rank, x.words * sizeof *x.rank);
    mem_free(g->mem, stk, cap_stk * sizeof *stk);
    return st;
}

static brine_status frame_check(run *r, const pk_op *op)
{
    if (!r->frame_end)
        return BRINE_OK;
    if (op->offset >= r->frame_end) {
        r->frame_end = 0;
        return BRINE_OK;
    }
    if (op->end > r->frame_end || op->code == OPC_FRAME) {
        uint64_t f = r->frame_end;
        brine_status st = log_event(r, EV_FRAME, 0, 0);
        r->frame_end = 0;
        /* pickle.py's _Unframer raises "pickle exhausted before end of frame" when one read()
         * or readline() gets part of what it asked from the frame (a read that starts right
         * at the end goes to the file), and on a FRAME before the current one is used up;
         * _pickle.c ignores frame ends */
        uint64_t arg = op->offset + 1, mid = op->mid ? op->mid : arg;
        int py_raises = (arg < f && f < mid) || (mid < f && f < op->end) ||
                        (op->code == OPC_FRAME && op->end < f);
        if (!st && py_raises)
            st = diverge(r, PK_UNPICKLER_PY,
                         "a read crosses the end of its FRAME: pickle.py raises, _pickle.c "
                         "reads on",
                         NULL);
        return st;
    }
    return BRINE_OK;
}

/* The build hook: the loader reads what it wants from the stream after this BUILD (joblib's
 * arrays), so decoding resumes where the hook says, and its object replaces the stack top. */
static brine_status after_build(run *r, const pk_op *op, pk_id target, pk_id state)
{
    uint64_t here = cur_pos(&r->cur);
    pk_build_site site;
    memset(&site, 0, sizeof site);
    site.g = r->g;
    site.data = r->cur.base;
    site.len = (size_t)(r->cur.end - r->cur.base);
    site.pos = here;
    site.frame_end = r->frame_end > here ? r->frame_end : 0;
    site.build_offset = op->offset;
    site.target = target;
    site.state = state;
    site.opts = r->opts;
    site.proto = r->proto;
    brine_status st = r->hook(r->hook_ctx, &site, r->err);
    /* a nested run may have grown (moved) the pickle records */
    r->pickle = &r->g->pickles[r->pickle_index];
    if (st)
        return st;
    if (site.pos < here || site.pos > site.len)
        return FAIL("BUILD hook moved the stream outside the input");
    r->cur.p = r->cur.base + site.pos;
    if (site.replace) {
        if (site.replace >= r->g->n_nodes || r->n_stack <= r->fence)
            return FAIL("BUILD hook replaced the stack top with no node");
        r->stack[r->n_stack - 1] = site.replace;
    }
    return BRINE_OK;
}

static brine_status step(run *r, const pk_op *op, int *stop)
{
    brine_status st;
    pk_id a = 0, b = 0, c = 0, out = 0;
    size_t m;
    if ((st = frame_check(r, op)))
        return st;
    if (op->rejects && (st = diverge(r, op->rejects, op->reject_why, NULL)))
        return st;
    switch (op->code) {
    case OPC_PROTO:
        r->proto = (int)op->i;
        if (r->proto > r->pickle->proto)
            r->pickle->proto = r->proto;
        return BRINE_OK;
    case OPC_FRAME:
        if ((uint64_t)op->i > (uint64_t)(r->cur.end - r->cur.p)) {
            r->frame_end = 0;
            if ((st = log_event(r, EV_FRAME, 0, 1)))
                return st;
            return diverge(r, PK_UNPICKLER_C,
                           "FRAME is longer than the rest of the input: _pickle.c raises, "
                           "pickle.py reads what is there",
                           NULL);
        }
        r->frame_end = op->end + (uint64_t)op->i;
        return BRINE_OK;
    case OPC_STOP:
        if ((st = pop(r, &a)))
            return st;
        r->pickle->root = a;
        *stop = 1;
        return BRINE_OK;
    case OPC_MARK:
        if (r->n_marks >= r->lim->max_marks)
            return err_limit(r->err, "max_marks", r->lim->max_marks, r->n_marks + 1, op->offset, 1,
                             __LINE__);
        if (mem_grow(r->g->mem, (void **)&r->marks, &r->cap_marks, r->n_marks + 1, sizeof(size_t)))
            return nomem(r);
        r->marks[r->n_marks++] = r->n_stack;
        r->fence = r->n_stack;
        return BRINE_OK;
    case OPC_POP:
        if (r->n_marks && r->marks[r->n_marks - 1] == r->n_stack) {
            r->n_marks--;
            r->fence = r->n_marks ? r->marks[r->n_marks - 1] : 0;
            return BRINE_OK;
        }
        return pop(r, &a);
    case OPC_POP_MARK:
        if ((st = marker(r, &m)))
            return st;
        r->n_stack = m < r->n_stack ? m : r->n_stack;
        return BRINE_OK;
    case OPC_DUP:
        if (r->n_stack <= r->fence)
            return underflow(r);
        return push(r, r->stack[r->n_stack - 1]);
    case OPC_TUPLE:
    case OPC_LIST:
    case OPC_FROZENSET:
        if ((st = marker(r, &m)))
            return st;
        if ((st = pop_into(r, m,
                           op->code == OPC_TUPLE  ? K_TUPLE
                           : op->code == OPC_LIST ? K_LIST
                                                  : K_FROZENSET,
                           &out)))
            return st;
        return push(r, out);
    case OPC_DICT:
        if ((st = marker(r, &m)))
            return st;
        if ((r->n_stack - m) % 2 != 0)
            return FAIL("odd number of items for DICT");
        if ((st = pop_into(r, m, K_DICT, &out)))
            return st;
        return push(r, out);
    case OPC_TUPLE1:
    case OPC_TUPLE2:
    case OPC_TUPLE3: {
        size_t k = (size_t)(op->code - OPC_TUPLE1 + 1);
        if (r->n_stack < k)
            return underflow(r);
        if ((st = pop_into(r, r->n_stack - k, K_TUPLE, &out)))
            return st;
        return push(r, out);
    }
    case OPC_APPEND:
        if (r->n_stack < 2 || r->n_stack - 1 <= r->fence)
            return underflow(r);
        return apply_items(r, r->stack[r->n_stack - 2], r->n_stack - 1, 0);
    case OPC_SETITEM:
        if (r->n_stack < 3 || r->n_stack - 2 <= r->fence)
            return underflow(r);
        return apply_items(r, r->stack[r->n_stack - 3], r->n_stack - 2, 1);
    case OPC_APPENDS:
    case OPC_SETITEMS:
    case OPC_ADDITEMS:
        if ((st = marker(r, &m)))
            return st;
        if (m > r->n_stack || m <= r->fence)
            return underflow(r);
        if (m == r->n_stack && op->code != OPC_SETITEMS && (r->live & PK_UNPICKLER_PY)) {
            /* _pickle.c does nothing; pickle.py calls extend([]) (APPENDS) or looks up add
             * (ADDITEMS) on the target, which raises on anything but a list or set */
            const pk_node *t = pk_at(r->g, r->stack[m - 1]);
            int has_method = op->code == OPC_APPENDS ? t->kind == K_LIST || t->kind == K_BYTEARRAY
                                                     : t->kind == K_SET;
            if (!has_method && is_literal(t))
                return diverge(r, PK_UNPICKLER_PY,
                               "APPENDS or ADDITEMS with no items on a plain value: pickle.py "
                               "raises AttributeError, _pickle.c does nothing",
                               NULL);
            if (!has_method) {
                pk_id payload;
                if ((st = new_node(r, K_LIST, &payload)))
                    return st;
                pk_node_w(r->g, r->stack[m - 1])->flags |= PKF_MUTATED;
                return log_event(r, EV_MUTATE, r->stack[m - 1], payload);
            }
        }
        if (m == r->n_stack)
            return BRINE_OK; /* do_append / do_setitems / load_additems: nothing to do */
        return apply_items(r, r->stack[m - 1], m, op->code == OPC_SETITEMS);
    case OPC_GET:
    case OPC_BINGET:
    case OPC_LONG_BINGET: {
        if (op->vk == PV_BIGINT_TEXT) { /* pickle.py only (decode.c) */
            for (size_t k = 0; k < r->n_big; k++)
                if (r->big[k].len == op->slen && !memcmp(r->big[k].digits, op->s, op->slen))
                    return push(r, r->big[k].val);
            return FAIL("Memo value not found at index %.*s", (int)(op->slen > 40 ? 40 : op->slen),
                        (const char *)op->s);
        }
        pk_id v = op->i >= 0 ? memo_get(r, (uint64_t)op->i) : 0;
        if (!v)
            return FAIL("Memo value not found at index %lld", (long long)op->i);
        return push(r, v);
    }
    case OPC_PUT:
    case OPC_BINPUT:
    case OPC_LONG_BINPUT:
        if (r->n_stack <= r->fence)
            return underflow(r);
        if (op->vk == PV_BIGINT_TEXT)
            return big_put(r, op, r->stack[r->n_stack - 1]);
        if ((uint64_t)op->i > r->lim->max_memo_index && (r->live & PK_UNPICKLER_C)) {
            /* _Unpickler_MemoPut grows its array to 2 * index pointers */
            brine_error e;
            err_limit(&e, "max_memo_index", r->lim->max_memo_index, (uint64_t)op->i, op->offset, 1,
                      __LINE__);
            snprintf(e.msg, sizeof e.msg,
                     "limit max_memo_index is %llu; %s %llu makes _pickle.c allocate a memo "
                     "array of %llu MiB (pickle.py's dict memo does not)",
                     (unsigned long long)r->lim->max_memo_index, pk_opcodes[op->code].name,
                     (unsigned long long)op->i, (unsigned long long)((uint64_t)op->i >> 16));
            if ((st = diverge(r, PK_UNPICKLER_C, e.msg, &e)))
                return st;
        }
        return memo_put(r, (uint64_t)op->i, r->stack[r->n_stack - 1]);
    case OPC_MEMOIZE:
        if (r->n_stack <= r->fence)
            return underflow(r);
        return memo_put(r, r->memo_len, r->stack[r->n_stack - 1]);
    case OPC_GLOBAL:
        if ((st = make_global(r, op->s, op->slen, op->s2, op->s2len, 0, &out)))
            return st;
        return push(r, out);
    case OPC_STACK_GLOBAL: return op_stack_global(r);
    case OPC_REDUCE:
        if ((st = pop(r, &b)) || (st = pop(r, &a)))
            return st;
        return make_call(r, K_CALL, a, b, 0);
    case OPC_NEWOBJ:
        if ((st = pop(r, &b)) || (st = pop(r, &a)))
            return st;
        return make_call(r, K_NEWOBJ, a, b, 0);
    case OPC_NEWOBJ_EX:
        if ((st = pop(r, &c)) || (st = pop(r, &b)) || (st = pop(r, &a)))
            return st;
        return make_call(r, K_NEWOBJ, a, b, c);
    case OPC_INST:
        if (!r->n_marks && (r->live & PK_UNPICKLER_PY)) {
            /* pickle.py's load_inst calls find_class, then pop_mark raises; _pickle.c looks
             * for the MARK first: the import happens in one of them */
            if ((st = make_global(r, op->s, op->slen, op->s2, op->s2len, 0, &a)))
                return st;
            return FAIL("INST: could not find MARK (pickle.py imported the class first)");
        }
        if ((st = marker(r, &m)) || (st = pop_into(r, m, K_TUPLE, &b)))
            return st;
        if ((st = make_global(r, op->s, op->slen, op->s2, op->s2len, 0, &a)))
            return st;
        return make_call(r, K_INST, a, b, 0);
    case OPC_OBJ:
        if ((st = marker(r, &m)))
            return st;
        if (r->n_stack - m < 1)
            return underflow(r);
        if ((st = pop_into(r, m + 1, K_TUPLE, &b)) || (st = pop(r, &a)))
            return st;
        return make_call(r, K_INST, a, b, 0);
    case OPC_BUILD: {
        if ((st = pop(r, &b)))
            return st;
        if (r->n_stack <= r->fence)
            return underflow(r);
        a = r->stack[r->n_stack - 1];
        if (pk_is_small(a)) {
            /* BUILD marks its target: a value held in its id becomes a node here, made at
             * the BUILD; the memo and containers keep the plain value (CPython raises on a
             * non-empty state for an int, a bool or None anyway) */
            pk_kind k = (pk_kind)pk_at(r->g, a)->kind;
            int64_t v = k == K_FLOAT ? 0 : pk_int(r->g, a);
            double d = k == K_FLOAT ? pk_float(r->g, a) : 0;
            if ((st = new_node(r, k, &a)))
                return st;
            if (k == K_FLOAT)
                pk_node_w(r->g, a)->v.d = d;
            else if (k != K_NONE)
                pk_node_w(r->g, a)->v.i = v;
            r->stack[r->n_stack - 1] = a;
        }
        pk_node *t = pk_node_w(r->g, a);
        if (pk_state_in_node(t->kind))
            t->state_ = b;
        else if ((st = side_put(r, a, PK_SIDE_STATE, b)))
            return st;
        t->flags |= PKF_BUILT;
        if ((st = log_event(r, EV_BUILD, a, b)))
            return st;
        return r->hook ? after_build(r, op, a, b) : BRINE_OK;
    }
    case OPC_PERSID:
    case OPC_BINPERSID:
        if (op->code == OPC_PERSID) {
            if ((st = new_node(r, K_STR, &a)))
                return st;
            pk_node_w(r->g, a)->v.s.p = op->s;
            pk_node_w(r->g, a)->v.s.len = op->slen;
        } else if ((st = pop(r, &a))) {
            return st;
        }
        if ((st = new_node(r, K_PERSID, &out)))
            return st;
        pk_node_w(r->g, out)->a = a;
        if ((st = log_event(r, EV_PERSID, out, 0)))
            return st;
        return push(r, out);
    case OPC_EXT1:
    case OPC_EXT2:
    case OPC_EXT4:
        if ((st = new_node(r, K_EXT, &out)))
            return st;
        pk_node_w(r->g, out)->v.i = op->i;
        if ((st = log_event(r, EV_EXT, out, 0)))
            return st;
        return push(r, out);
    case OPC_NEXT_BUFFER:
        if ((st = new_node(r, K_BUFFER, &out)))
            return st;
        if ((st = log_event(r, EV_BUFFER, out, 0)))
            return st;
        return push(r, out);
    case OPC_READONLY_BUFFER: {
        if (r->n_stack <= r->fence)
            return underflow(r);
        pk_id top = r->stack[r->n_stack - 1];
        const pk_node *t = pk_at(r->g, top);
        if (is_literal(t) && t->kind != K_BYTES && t->kind != K_BYTEARRAY)
            return FAIL("READONLY_BUFFER: the value does not support the buffer protocol");
        pk_node_w(r->g, top)->flags |= PKF_READONLY;
        return BRINE_OK;
    }
    default: return op_value(r, op);
    }
}

/* Frees the stack, marks and memo; called again (a no-op) when the run ends. */
static void run_free(run *r)
{
    mem_budget *mem = r->g->mem;
    mem_free(mem, r->stack, r->cap_stack * sizeof(pk_id));
    mem_free(mem, r->marks, r->cap_marks * sizeof(size_t));
    mem_free(mem, r->memo, r->memo_cap * sizeof(memo_slot));
    mem_free(mem, r->dense, r->dense_cap * sizeof(pk_id));
    mem_free(mem, r->big, r->cap_big * sizeof *r->big);
    r->stack = NULL;
    r->marks = NULL;
    r->memo = NULL;
    r->dense = NULL;
    r->big = NULL;
    r->cap_stack = r->cap_marks = r->memo_cap = r->dense_cap = r->cap_big = 0;
    r->n_stack = r->n_marks = r->memo_sparse = r->dense_init = r->n_big = 0;
}

static brine_status run_pickle(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                               const pk_run_options *opts, pk_build_hook hook, void *hook_ctx,
                               int map_proto, brine_error *err);

brine_status pk_run(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                    const pk_run_options *opts, brine_error *err)
{
    return run_pickle(g, data, len, start, opts, NULL, NULL, -1, err);
}

brine_status pk_run_hooked(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                           const pk_run_options *opts, pk_build_hook hook, void *hook_ctx,
                           brine_error *err)
{
    return run_pickle(g, data, len, start, opts, hook, hook_ctx, -1, err);
}

brine_status pk_run_mapped(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                           const pk_run_options *opts, int find_class_proto, brine_error *err)
{
    return run_pickle(g, data, len, start, opts, NULL, NULL, find_class_proto, err);
}

static brine_status run_pickle(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                               const pk_run_options *opts, pk_build_hook hook, void *hook_ctx,
                               int map_proto, brine_error *err)
{
    brine_error local;
    if (!err)
        err = &local;
    err_clear(err);
    run r;
    memset(&r, 0, sizeof r);
    r.g = g;
    r.live = (uint8_t)(g->unpicklers & PK_UNPICKLER_BOTH);
    if (!r.live)
        r.live = PK_UNPICKLER_BOTH;
    r.first_node = g->n_nodes;
    r.lim = opts->limits;
    r.opts = opts;
    r.hook = hook;
    r.hook_ctx = hook_ctx;
    r.map_proto = map_proto;
    r.err = err;
    cur_init(&r.cur, data, len);
    r.cur.p = r.cur.base + start; /* base, not data: cur_init replaces a NULL data */
    pk_op op;
    memset(&op, 0, sizeof op);
    op.offset = start;
    r.op = &op;

    brine_status st;
    if (mem_grow(g->mem, (void **)&g->pickles, &g->cap_pickles, g->n_pickles + 1,
                 sizeof *g->pickles)) {
        st = nomem(&r);
        goto out;
    }
    r.pickle_index = g->n_pickles;
    r.pickle = &g->pickles[g->n_pickles++];
    memset(r.pickle, 0, sizeof *r.pickle);
    r.pickle->start = start;
    r.pickle->first_event = (uint32_t)g->n_events;

    /* what the machine has read of a mapped file it keeps only as node values pointing into
     * it: every RELEASE_STEP bytes, the pages behind leave the resident set (file_release) */
    enum { RELEASE_STEP = 8 << 20 };
    size_t released = start;
    int stop = 0;
    while (!stop) {
        if (op.offset >= released + RELEASE_STEP && op.offset <= len) {
            file_release(r.cur.base + released, (size_t)op.offset - released);
            released = (size_t)op.offset;
        }
        if (g->opcodes >= r.lim->max_opcodes) {
            st = err_limit(err, "max_opcodes", r.lim->max_opcodes, g->opcodes + 1, cur_pos(&r.cur),
                           1, __LINE__);
            break;
        }
        g->opcodes++;
        st = pk_decode(&r.cur, &op, &g->strings, r.lim, err);
        if (st) {
            /* an argument that cannot be decoded but was read across the end of its FRAME:
             * _pickle.c reading a stream without peek() reads other bytes there (gh-154848) */
            if (st != BRINE_ERR_NOMEM && r.frame_end && op.offset < r.frame_end &&
                cur_pos(&r.cur) > r.frame_end) {
                brine_error saved = *err;
                if (log_event(&r, EV_FRAME, 0, 0) == BRINE_ERR_NOMEM)
                    st = BRINE_ERR_NOMEM;
                else
                    *err = saved;
            }
            break;
        }
        if (opts->observe)
            opts->observe(opts->observe_ctx, &op, (uint32_t)r.n_stack, (uint32_t)r.n_marks);
        if ((st = step(&r, &op, &stop)))
            break;
        /* the pickles array may have moved when a nested run grew it: re-point */
        r.pickle = &g->pickles[r.pickle_index];
    }
    r.pickle = &g->pickles[r.pickle_index];
    r.pickle->end = stop ? cur_pos(&r.cur) : op.offset;
    r.pickle->complete = stop;
    if (stop && r.frame_end > r.pickle->end)
        r.pickle->frame_end = r.frame_end;
    r.pickle->unpicklers = r.live;
    if (stop) {
        /* the loader is done; what it returns is too big or too deep for its consumers */
        brine_error amp;
        err_clear(&amp);
        run_free(&r); /* the memo is done with: the pass's arrays may take its place */
        r.err = &amp;
        st = amplification(&r);
        r.err = err;
        if (st == BRINE_ERR_LIMIT) {
            defer(&r, &amp);
            st = BRINE_OK;
        } else if (st) {
            *err = amp;
        }
    }
out:
    g->failed = st != BRINE_OK;
    if (st)
        g->error = *err;
    else if (g->deferred) {
        g->failed = 1;
        g->error = g->deferred_error;
    }
    run_free(&r);
    return st;
}

brine_status pk_run_all(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                        const pk_run_options *opts, brine_error *err)
{
    size_t pos = start;
    g->trailing_len = 0;
    while (pos < len) {
        if (g->n_pickles >= opts->limits->max_pickles)
            return err_limit(err, "max_pickles", opts->limits->max_pickles, g->n_pickles + 1, pos,
                             1, __LINE__);
        size_t events_before = g->code_events, log_before = g->n_events;
        size_t index = g->n_pickles; /* nested runs may append records after this one */
        int deferred_before = g->deferred;
        brine_error deferred_error_before = g->deferred_error;
        size_t divergences_before = g->n_divergences;
        brine_status st = pk_run(g, data, len, pos, opts, err);
        if (st == BRINE_ERR_NOMEM)
            return st;
        if (st && pos > 0 && g->code_events == events_before) {
            /* bytes after a STOP that do not make a pickle reaching any code: not a pickle,
             * just trailing data (pickle.load never reads them) */
            g->n_pickles = index;
            g->n_events = log_before;
            g->trailing_at = pos;
            g->trailing_len = len - pos;
            g->deferred = deferred_before; /* what the trailing bytes did is not a pickle's */
            g->deferred_error = deferred_error_before;
            g->n_divergences = divergences_before;
            g->failed = g->deferred;
            if (g->deferred)
                g->error = g->deferred_error;
            return BRINE_OK;
        }
        if (st)
            return st;
        pos = (size_t)g->pickles[index].end;
    }
    return BRINE_OK;
}
