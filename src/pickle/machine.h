/*
 * machine.h — the symbolic pickle machine and the object graph it builds.
 *
 * The machine replays a pickle the way CPython's _pickle.c does — value stack, separate mark
 * stack with a fence, memo, protocol — but nothing is imported or called: GLOBAL, REDUCE,
 * BUILD, NEWOBJ and friends become inert nodes, and every code-reaching step is appended to an
 * event log, so a call whose result is popped is still seen. The machine knows nothing about
 * torch or numpy; their semantics are passes over the graph.
 *
 * Both CPython unpicklers are modelled at once (PK_UNPICKLER_* in decode.h): while they agree
 * the machine is both; where one raises and the other goes on, an EV_DIVERGE event records
 * it and the machine goes on as the one that continues, so the events are the union of what
 * either would import and call.
 */
#ifndef BRINE_PICKLE_MACHINE_H
#define BRINE_PICKLE_MACHINE_H

#include <string.h>

#include "brine.h"
#include "core/alloc.h"
#include "core/hashmap.h"
#include "pickle/decode.h"
#include "pickle/opcodes.h"

/* Node ids index the arena; 0 is never a valid node. An id with PK_SMALL set is no node but a
 * value held in the id itself (pk_is_small): an int in [PK_SMALL_LO, PK_SMALL_HI] (bit 30
 * clear), or (bit 30 set, then the low two bits) None 0, False 1, True 2, or 3 a float: bits
 * 2-29 index the graph's table of floats (8 bytes each: the double, or the address of a
 * protocol 0 FLOAT line parsed when read). Most values of a large pickle are such, and a node
 * costs 32 bytes. */
typedef uint32_t pk_id;

enum { PK_SMALL_BITS = 30 };
#define PK_SMALL       UINT32_C(0x80000000)
#define PK_SMALL_CONST UINT32_C(0x40000000)
#define PK_SMALL_LO    (-(INT64_C(1) << (PK_SMALL_BITS - 1)))
#define PK_SMALL_HI    ((INT64_C(1) << (PK_SMALL_BITS - 1)) - 1)
#define PK_NONE_ID     (PK_SMALL | PK_SMALL_CONST | 0)
#define PK_FALSE_ID    (PK_SMALL | PK_SMALL_CONST | 1)
#define PK_TRUE_ID     (PK_SMALL | PK_SMALL_CONST | 2)
#define PK_FLOAT_TAG   (PK_SMALL | PK_SMALL_CONST | 3)
#define PK_FLOATS_MAX  (PK_SMALL_CONST >> 2) /* floats one graph's table can index */

static inline int pk_is_small(pk_id id) { return (id & PK_SMALL) != 0; }

/* The id holding the int v (PK_SMALL_LO <= v <= PK_SMALL_HI): two's complement, 30 bits. */
static inline pk_id pk_small_id(int64_t v)
{
    return PK_SMALL | ((pk_id)(uint64_t)v & (PK_SMALL_CONST - 1));
}

static inline int64_t pk_small_value(pk_id id)
{
    int64_t v = (int64_t)(id & (PK_SMALL_CONST - 1));
    return v > PK_SMALL_HI ? v - (INT64_C(1) << PK_SMALL_BITS) : v;
}

typedef enum pk_kind {
    K_NONE,
    K_BOOL,
    K_INT,
    K_BIGINT,
    K_FLOAT,
    K_STR,   /* text (UNICODE, BINUNICODE…) */
    K_PYSTR, /* Python 2 str (STRING, BINSTRING, SHORT_BINSTRING): bytes that load as str */
    K_BYTES,
    K_BYTEARRAY,
    K_TUPLE,
    K_LIST,
    K_DICT,
    K_SET,
    K_FROZENSET,
    K_GLOBAL, /* a name resolved by find_class */
    K_CALL,   /* REDUCE: a = callable, b = args */
    K_NEWOBJ, /* NEWOBJ / NEWOBJ_EX: a = class, b = args, pk_kwargs() (or 0) */
    K_INST,   /* INST / OBJ: a = class, b = args tuple */
    K_PERSID, /* PERSID / BINPERSID: a = pid */
    K_EXT,    /* EXT1/2/4: i = code */
    K_BUFFER  /* NEXT_BUFFER, READONLY_BUFFER of one */
} pk_kind;

/* 32 bytes; a graph holds one per value built (but those held in ids), so every field
 * counts. A value (v) shares its bytes with what only other kinds have (args, BUILD state,
 * items): a scalar never has items; K_GLOBAL's v.g and K_EXT's v.i leave room for them.
 * Read the offset, args, kwargs and state with pk_offset(), pk_args(), pk_kwargs() and
 * pk_state(): what does not fit (an offset past 2^40 - 2^32, NEWOBJ_EX's kwargs, the state of
 * a scalar or K_EXT: all rare) lives in a side table of the graph. Items live in the graph's
 * item arena (small containers) or in their own array (large ones); their capacity is
 * pk_items_cap(count), or count with PKF_EXACT, never stored. Only containers and non-literal
 * kinds (K_GLOBAL…K_BUFFER) ever have items; read them only below count. */
typedef struct pk_node {
    uint8_t kind;
    uint8_t flags;   /* PKF_* */
    uint8_t opcode;  /* the opcode that made it */
    uint8_t off_hi;  /* bits 32-39 of where it was made; PK_OFF_SIDE: in the side table */
    uint32_t count;  /* items (containers; dicts count keys and values) */
    uint32_t off_lo; /* bits 0-31 of where it was made */
    pk_id a;         /* operand, see pk_kind */
    union {
        union {
            int64_t i;
            double d;
            struct {
                const uint8_t *p;
                uint64_t len;
            } s; /* K_STR, K_PYSTR, K_BYTES, K_BYTEARRAY, K_BIGINT (bytes or text) */
            struct {
                uint32_t global; /* index in the machine's global table */
            } g;
        } v;
        struct {
            pk_id b_;     /* K_CALL, K_NEWOBJ, K_INST: the args; read pk_args() */
            pk_id state_; /* when pk_state_in_node(kind); read pk_state() */
            pk_id *items;
        };
    };
} pk_node;

enum { PK_OFF_SIDE = 0xff };

/* Kinds whose BUILD state lives in the node; the scalars' and K_EXT's (v takes their bytes,
 * and BUILD on them is rare) live in a side table of the graph. */
static inline int pk_state_in_node(uint8_t kind) { return kind >= K_TUPLE && kind != K_EXT; }

/* The arguments of a call (b), 0 for every other node. */
static inline pk_id pk_args(const pk_node *n)
{
    return n->kind == K_CALL || n->kind == K_NEWOBJ || n->kind == K_INST ? n->b_ : 0;
}

/* Capacity of a node's items array holding count items: 0, or a power of two >= 4. */
static inline size_t pk_items_cap(uint32_t count)
{
    if (count <= 4)
        return count ? 4 : 0;
    return (size_t)1 << (32 - __builtin_clz(count - 1));
}

enum {
    PKF_BIGTEXT = 1,  /* K_BIGINT: v.s is decimal text, else little-endian bytes */
    PKF_BUILT = 2,    /* BUILD was applied at least once */
    PKF_MUTATED = 4,  /* a container op was applied to a non-container */
    PKF_READONLY = 8, /* READONLY_BUFFER */
    PKF_SPLICED = 16, /* a build hook read raw bytes from the stream for this node (joblib's
                       * arrays: its jl_array holds that span of the input), never decoded as
                       * opcodes */
    PKF_EXACT = 32    /* items hold exactly count ids (built whole from the stack), not
                       * pk_items_cap(count): the machine's bookkeeping, nothing to judge */
};

/* A global as find_class would see it, after Python-2 name mapping. */
typedef struct pk_global {
    char *module;
    char *name;
    char *full;      /* "module.name" */
    uint64_t offset; /* first reference */
    uint8_t dotted;  /* name walks attributes (protocol >= 4 getattr chain) */
    uint8_t mapped;  /* Python-2 mapping changed it */
    uint8_t dynamic; /* STACK_GLOBAL operands were not literal strings */
} pk_global;

/* Every step of a load that can reach code, in stream order. */
typedef enum pk_evkind {
    EV_GLOBAL, /* node = K_GLOBAL */
    EV_CALL,   /* node = K_CALL / K_NEWOBJ / K_INST */
    EV_BUILD,  /* node = target, aux = state */
    EV_MUTATE, /* container op on something that is not a plain list/dict/set: node = target */
    EV_PERSID, /* node = K_PERSID */
    EV_EXT,    /* node = K_EXT */
    EV_BUFFER, /* NEXT_BUFFER */
    EV_FRAME,  /* FRAME misuse: aux 0 = an opcode crossed a frame boundary, 1 = the frame
                * is longer than the input */
    EV_DIVERGE /* the two CPython unpicklers part here: aux = the PK_UNPICKLER_* bits that
                * raise at this opcode; the machine goes on as the other one, and
                * pk_graph.deferred_error says why */
} pk_evkind;

typedef struct pk_event {
    uint8_t kind;
    uint8_t opcode;
    uint64_t offset;
    pk_id node;
    pk_id aux;
} pk_event;

typedef struct pk_graph pk_graph;

/* Of n, a node of g: the last BUILD state applied (0 when none), NEWOBJ_EX's keyword
 * arguments (0 for every other node), where it was made. */
static inline pk_id pk_state(const pk_graph *g, const pk_node *n);
static inline pk_id pk_kwargs(const pk_graph *g, const pk_node *n);
static inline uint64_t pk_offset(const pk_graph *g, const pk_node *n);

/* One pickle, from its first opcode to STOP. */
typedef struct pk_pickle {
    uint64_t start, end; /* end is one past STOP (or where parsing failed) */
    pk_id root;          /* the value STOP returned, 0 if none */
    int proto;           /* highest PROTO seen */
    int complete;        /* reached STOP */
    uint32_t first_event, n_events;
    uint64_t frame_end; /* STOP lay inside a FRAME that goes on after it: the frame's end,
                         * where a file reader (pickle.py's _Unframer) has read to; else 0 */
    uint8_t unpicklers; /* PK_UNPICKLER_* still running at the end (reached STOP if complete) */
    uint64_t expanded;  /* leaves of the largest value, fully expanded (saturating) */
    uint64_t built;     /* values built: its nodes and the values held in ids */
    uint64_t nesting;   /* deepest nesting of its graph */
} pk_pickle;

/* Observer for the disassembler: called for each decoded opcode before it is applied, with
 * the stack depth and mark depth at that point. */
typedef void (*pk_op_observer)(void *ctx, const pk_op *op, uint32_t stack_depth,
                               uint32_t mark_depth);

typedef struct pk_run_options {
    const brine_limits *limits; /* resolved limits */
    pk_op_observer observe;
    void *observe_ctx;
} pk_run_options;

/* What a build hook sees and may change. Loaders such as joblib's NumpyUnpickler.load_build
 * act right after BUILD: they may read bytes from the file themselves (bytes that are never
 * opcodes) or start a nested pickle.load there, and put another object on the stack. */
typedef struct pk_build_site {
    pk_graph *g;
    const uint8_t *data; /* the whole buffer being run */
    size_t len;
    uint64_t pos;               /* in: offset right after BUILD; out: where decoding resumes
                                 * (only forward, at most len) */
    uint64_t frame_end;         /* end of the FRAME the BUILD lies in, 0 when none */
    uint64_t build_offset;      /* offset of the BUILD opcode */
    pk_id target;               /* the object BUILD applied state to (the stack top) */
    pk_id state;                /* the state it applied */
    pk_id replace;              /* out: node put on the stack instead of target, 0 = keep */
    int proto;                  /* the run's protocol at this BUILD (find_class's self.proto) */
    const pk_run_options *opts; /* of this run: a nested pk_run may start from site->pos */
} pk_build_site;

/* Called after every BUILD. Returning an error stops the run with it (the hook fills err). */
typedef brine_status (*pk_build_hook)(void *ctx, pk_build_site *site, brine_error *err);

/* The graph and the record of everything a run saw; freed in one call. */
struct pk_graph {
    mem_budget *mem;
    pk_pool strings;
    pk_node *nodes;
    size_t n_nodes, cap_nodes;
    struct pk_items_blk *item_blocks; /* arena of small containers' items, freed in one go */
    pk_id *items_next;                /* free space in the newest block */
    size_t items_left;
    pk_id *heap_items; /* nodes whose items have their own array */
    size_t n_heap_items, cap_heap_items;
    pk_global *globals;
    size_t n_globals, cap_globals;
    pk_event *events;
    size_t n_events, cap_events;
    pk_pickle *pickles;
    size_t n_pickles, cap_pickles;
    uint64_t opcodes;     /* opcodes executed so far */
    size_t code_events;   /* events that reach code: GLOBAL, calls, BUILD, container ops on
                           * objects, EXT, a read across a FRAME end (not PERSID or
                           * NEXT_BUFFER, which fail in a plain pickle.load before anything
                           * runs) */
    int failed;           /* the last run stopped on an error */
    brine_error error;    /* that error */
    uint64_t trailing_at; /* offset of bytes after the last pickle, if any */
    uint64_t trailing_len;
    /* A problem that does not stop the run: the unpicklers diverged (the run went on as the
     * one that continues) or a finished pickle is over max_expansion, max_nesting or, for
     * the C unpickler, max_memo_index. The first one is kept (a limit before a divergence);
     * a run that reaches STOP with it sets failed and error to it but returns BRINE_OK, so
     * every pickle of the stream is still run and judged. */
    int deferred;
    brine_error deferred_error;
    unsigned unpicklers;  /* set by the caller after pk_graph_init: the PK_UNPICKLER_* the
                           * file is loaded with (joblib: PY); 0 = both, the union */
    size_t n_divergences; /* EV_DIVERGE events so far */
    hmap side;            /* (node id, PK_SIDE_*) -> what does not fit in the node */
    pk_id *side_states;   /* PK_SIDE_STATE's values index it (BUILD may replace a state) */
    size_t n_side_states, cap_side_states;
    double *floats; /* the floats held in ids (PK_FLOAT_TAG) */
    size_t n_floats, cap_floats;
    uint64_t *float_lines;  /* bit i: floats[i] holds the address of a FLOAT line not yet
                             * parsed (PV_FLOAT_TEXT), not a double */
    size_t cap_float_lines; /* words */
};

void pk_graph_init(pk_graph *g, mem_budget *mem);
void pk_graph_free(pk_graph *g);

/* Runs one pickle starting at data[start]: fresh stack, marks, memo and protocol, as a new
 * Unpickler.load() would. Appends a pk_pickle record (also on failure). Returns BRINE_OK when
 * STOP was reached (by either unpickler; g->failed is then set when g->deferred is); otherwise
 * the error (also copied to g->error). NOMEM is returned as is. */
brine_status pk_run(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                    const pk_run_options *opts, brine_error *err);

/* pk_run with a build hook called after every BUILD (joblib's NumpyUnpickler.load_build). A
 * nested pk_run the hook starts has no hook, as the loaders' nested pickle.load has none. */
brine_status pk_run_hooked(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                           const pk_run_options *opts, pk_build_hook hook, void *hook_ctx,
                           brine_error *err);

/* pk_run whose find_class maps Python-2 names as an unpickler at protocol find_class_proto
 * would, whatever PROTO the stream says: a nested Unpickler given another unpickler's bound
 * find_class (joblib >= 1.6 for object arrays) maps by that other unpickler's protocol. */
brine_status pk_run_mapped(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                           const pk_run_options *opts, int find_class_proto, brine_error *err);

/* Runs every pickle from data[start] on, back to back (concatenated pickles). Stops at the
 * first failure, or — after the first pickle of the stream — at the first position that does
 * not start a pickle reaching any code: those bytes are recorded as trailing data. */
brine_status pk_run_all(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                        const pk_run_options *opts, brine_error *err);

/* What pk_at gives for an id holding a value, made nowhere (offset 0): [0] a K_INT whose v.i
 * is a poison value, INT64_MIN (read an int's value with pk_int_of() or pk_int(), never with
 * pk_at(...)->v.i); [1 + k] None, False and True (k = the id's low two bits); [4] a K_FLOAT
 * whose v.d is a NaN (read it with pk_float()). */
extern const pk_node pk_small_nodes[5];

static inline const pk_node *pk_at(const pk_graph *g, pk_id id)
{
    if (!pk_is_small(id))
        return &g->nodes[id];
    return &pk_small_nodes[(id & PK_SMALL_CONST) ? 1 + (id & 3) : 0];
}

/* A node to write (the machine, and a build hook marking its target, which BUILD always
 * makes a node): never an id holding a value. */
static inline pk_node *pk_node_w(pk_graph *g, pk_id id) { return &g->nodes[id]; }

static inline uint8_t pk_kind_of(const pk_graph *g, pk_id id) { return pk_at(g, id)->kind; }

/* *v = the value of id when it is a K_INT (small or not); returns 0 for any other kind. */
static inline int pk_int_of(const pk_graph *g, pk_id id, int64_t *v)
{
    if (pk_at(g, id)->kind != K_INT)
        return 0;
    *v = pk_is_small(id) ? pk_small_value(id) : g->nodes[id].v.i;
    return 1;
}

/* The value of a K_FLOAT. */
static inline double pk_float(const pk_graph *g, pk_id id)
{
    if (!pk_is_small(id))
        return g->nodes[id].v.d;
    size_t i = (id & (PK_SMALL_CONST - 1)) >> 2;
    if (i >= g->n_floats)
        return pk_at(g, id)->v.d;
    if (g->float_lines[i / 64] >> (i % 64) & 1) {
        const uint8_t *line;
        memcpy(&line, &g->floats[i], sizeof line);
        return pk_float_line(line);
    }
    return g->floats[i];
}

/* The value of a K_INT or K_BOOL. */
static inline int64_t pk_int(const pk_graph *g, pk_id id)
{
    if (!pk_is_small(id))
        return g->nodes[id].v.i;
    return (id & PK_SMALL_CONST) ? pk_at(g, id)->v.i : pk_small_value(id);
}

enum { PK_SIDE_STATE, PK_SIDE_KWARGS, PK_SIDE_OFFSET };

/* The side table's value for n, 0 when none. */
uint64_t pk_side(const pk_graph *g, const pk_node *n, uint32_t what);

static inline pk_id pk_state(const pk_graph *g, const pk_node *n)
{
    if (!(n->flags & PKF_BUILT))
        return 0;
    return pk_state_in_node(n->kind) ? n->state_ : (pk_id)pk_side(g, n, PK_SIDE_STATE);
}

static inline pk_id pk_kwargs(const pk_graph *g, const pk_node *n)
{
    return n->kind == K_NEWOBJ && n->opcode == OPC_NEWOBJ_EX ? (pk_id)pk_side(g, n, PK_SIDE_KWARGS)
                                                             : 0;
}

static inline uint64_t pk_offset(const pk_graph *g, const pk_node *n)
{
    return n->off_hi == PK_OFF_SIDE ? pk_side(g, n, PK_SIDE_OFFSET)
                                    : (uint64_t)n->off_hi << 32 | n->off_lo;
}

/* Renders the object graph of every pickle as pseudo-Python. */
brine_status pk_render(const pk_graph *g, const brine_limits *lim, brine_write_fn write, void *ctx);

#endif
