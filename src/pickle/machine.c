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
 * Differences on purpose (stricter than CPython, never more lenient): FRAME boundaries are
 * checked exactly (CPython's stream reader can be made to read other bytes than pickletools,
 * gh-154848); STACK_GLOBAL operands that are not literal strings are flagged; operations that
 * would call methods of unknown objects are logged as events.
 *
 * Threat model: arbitrary bytes. Every stack pop is checked against the fence, every index
 * against the memo, every allocation against the budget and a limit from core/limits.h.
 */
#include "pickle/machine.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/hashmap.h"
#include "pickle/opcodes.h"

/* ------------------------------------------------------------------ graph storage */

void pk_graph_init(pk_graph *g, mem_budget *mem)
{
    memset(g, 0, sizeof *g);
    g->mem = mem;
    pk_pool_init(&g->strings, mem);
}

void pk_graph_free(pk_graph *g)
{
    if (!g || !g->mem)
        return;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].items)
            mem_free(g->mem, g->nodes[i].items, (size_t)g->nodes[i].cap * sizeof(pk_id));
    mem_free(g->mem, g->nodes, g->cap_nodes * sizeof *g->nodes);
    mem_free(g->mem, g->globals, g->cap_globals * sizeof *g->globals);
    mem_free(g->mem, g->events, g->cap_events * sizeof *g->events);
    mem_free(g->mem, g->pickles, g->cap_pickles * sizeof *g->pickles);
    pk_pool_free(&g->strings);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------ run state */

/* Memo: a sparse open-addressing map from index to node. CPython's C memo is an array sized
 * by the largest index (LONG_BINPUT 0x7fffffff asks for 16 GiB); a map costs what is used. */
typedef struct memo_slot {
    uint64_t key; /* index + 1; 0 = empty */
    pk_id val;
} memo_slot;

typedef struct run {
    pk_graph *g;
    const brine_limits *lim;
    const pk_run_options *opts;
    cursor cur;
    brine_error *err;
    pk_id *stack;
    size_t n_stack, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    size_t fence;        /* stack index of the newest mark (0 when none) */
    memo_slot *memo;
    size_t memo_cap;     /* slots, a power of two */
    size_t memo_len;     /* filled slots (MEMOIZE's index) */
    uint64_t memo_k0, memo_k1; /* SipHash key of the memo, drawn when it is first allocated */
    int proto;
    uint64_t frame_end;  /* 0 when not inside a FRAME */
    pk_pickle *pickle;
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

static brine_status new_node(run *r, pk_kind kind, pk_id *out)
{
    pk_graph *g = r->g;
    if (g->n_nodes >= r->lim->max_nodes)
        return err_limit(r->err, "max_nodes", r->lim->max_nodes, g->n_nodes + 1, r->op->offset, 1,
                         __LINE__);
    if (mem_grow(g->mem, (void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes))
        return nomem(r);
    if (g->n_nodes == 0) { /* id 0 means "no node": a zeroed placeholder */
        memset(&g->nodes[0], 0, sizeof g->nodes[0]);
        g->n_nodes = 1;
        if (mem_grow(g->mem, (void **)&g->nodes, &g->cap_nodes, 2, sizeof *g->nodes))
            return nomem(r);
    }
    pk_id id = (pk_id)g->n_nodes++;
    pk_node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->opcode = r->op->code;
    n->offset = r->op->offset;
    *out = id;
    return BRINE_OK;
}

static brine_status add_item(run *r, pk_id container, pk_id item)
{
    pk_node *n = pk_at(r->g, container);
    size_t cap = n->cap;
    if (n->count == UINT32_MAX)
        return err_limit(r->err, "max_nodes", r->lim->max_nodes, (uint64_t)n->count + 1,
                         r->op->offset, 1, __LINE__);
    if (mem_grow(r->g->mem, (void **)&n->items, &cap, (size_t)n->count + 1, sizeof(pk_id)))
        return nomem(r);
    n->cap = (uint32_t)cap;
    n->items[n->count++] = item;
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
    if (kind != EV_PERSID && kind != EV_BUFFER && kind != EV_FRAME)
        g->code_events++;
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
    if (st)
        return st;
    for (size_t i = start; i < r->n_stack; i++)
        if ((st = add_item(r, *out, r->stack[i])))
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

static brine_status memo_put(run *r, uint64_t idx, pk_id val)
{
    memo_slot *s = memo_find(r, idx);
    if (s && s->key) {
        s->val = val; /* overwriting keeps memo_len, as in _Unpickler_MemoPut */
        return BRINE_OK;
    }
    if (r->memo_len >= r->lim->max_memo)
        return err_limit(r->err, "max_memo", r->lim->max_memo, r->memo_len + 1, r->op->offset, 1,
                         __LINE__);
    if (!s || (r->memo_len + 1) * 2 > r->memo_cap) {
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
    if (r->proto < 3 && !dynamic) {
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
    pk_at(g, *out)->v.g.global = (uint32_t)g->n_globals++;
    return log_event(r, EV_GLOBAL, *out, 0);
}

/* ------------------------------------------------------------------ type checks */

/* Values that are what they look like: nothing can change their type at run time. */
static int is_literal(const pk_node *n)
{
    switch (n->kind) {
    case K_GLOBAL: case K_CALL: case K_NEWOBJ: case K_INST: case K_PERSID: case K_EXT:
    case K_BUFFER:
        return 0;
    default:
        return 1;
    }
}

static int is_text(const pk_node *n) { return n->kind == K_STR || n->kind == K_PYSTR; }

/* ------------------------------------------------------------------ opcodes */

static brine_status op_value(run *r, const pk_op *op)
{
    pk_id id;
    pk_kind kind;
    switch (op->code) {
    case OPC_NONE: kind = K_NONE; break;
    case OPC_NEWTRUE: case OPC_NEWFALSE: kind = K_BOOL; break;
    case OPC_FLOAT: case OPC_BINFLOAT: kind = K_FLOAT; break;
    case OPC_STRING: case OPC_BINSTRING: case OPC_SHORT_BINSTRING: kind = K_PYSTR; break;
    case OPC_BINBYTES: case OPC_SHORT_BINBYTES: case OPC_BINBYTES8: kind = K_BYTES; break;
    case OPC_BYTEARRAY8: kind = K_BYTEARRAY; break;
    case OPC_UNICODE: case OPC_BINUNICODE: case OPC_SHORT_BINUNICODE: case OPC_BINUNICODE8:
        kind = K_STR;
        break;
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
    brine_status st = new_node(r, kind, &id);
    if (st)
        return st;
    pk_node *n = pk_at(r->g, id);
    switch (kind) {
    case K_BOOL:
        n->v.i = op->code == OPC_NEWTRUE ? 1 : op->code == OPC_NEWFALSE ? 0 : op->i;
        break;
    case K_INT: n->v.i = op->i; break;
    case K_FLOAT: n->v.d = op->d; break;
    case K_BIGINT:
        n->flags |= op->vk == PV_BIGINT_TEXT ? PKF_BIGTEXT : 0;
        /* fall through */
    case K_PYSTR: case K_BYTES: case K_BYTEARRAY: case K_STR:
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
            pk_at(r->g, out)->a = computed;
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
    if (args && is_literal(pk_at(r->g, args)) && pk_at(r->g, args)->kind != K_TUPLE)
        return FAIL("%s: the argument list must be a tuple", pk_opcodes[r->op->code].name);
    if (kwargs && is_literal(pk_at(r->g, kwargs)) && pk_at(r->g, kwargs)->kind != K_DICT)
        return FAIL("NEWOBJ_EX: keyword arguments must be a dict");
    pk_id out;
    brine_status st = new_node(r, kind, &out);
    if (st)
        return st;
    pk_node *n = pk_at(r->g, out);
    n->a = callable;
    n->b = args;
    n->c = kwargs;
    if ((st = log_event(r, EV_CALL, out, 0)))
        return st;
    return push(r, out);
}

/* APPEND(S), SETITEM(S), ADDITEMS: plain containers are filled; anything else would have a
 * method of an unknown object called, which is logged. */
static brine_status apply_items(run *r, pk_id target, size_t from, int pairs)
{
    pk_node *t = pk_at(r->g, target);
    uint8_t code = r->op->code;
    int plain = ((code == OPC_APPEND || code == OPC_APPENDS) && t->kind == K_LIST) ||
                ((code == OPC_SETITEM || code == OPC_SETITEMS) &&
                 (t->kind == K_DICT || t->kind == K_LIST)) ||
                (code == OPC_ADDITEMS && t->kind == K_SET);
    if (pairs && (r->n_stack - from) % 2 != 0)
        return FAIL("odd number of items for %s", pk_opcodes[code].name);
    brine_status st;
    if (plain) {
        if (t->kind == K_LIST && pairs) { /* list[i] = v: no new items to track */
            r->n_stack = from;
            return BRINE_OK;
        }
        for (size_t i = from; i < r->n_stack; i++)
            if ((st = add_item(r, target, r->stack[i])))
                return st;
    } else if (is_literal(t)) {
        return FAIL("%s: target cannot take items", pk_opcodes[code].name);
    } else {
        t->flags |= PKF_MUTATED;
        pk_id payload;
        if ((st = new_node(r, pairs ? K_DICT : K_LIST, &payload)))
            return st;
        /* the target keeps the items too, so passes over the graph see what an
         * OrderedDict or a list subclass was filled with */
        for (size_t i = from; i < r->n_stack; i++)
            if ((st = add_item(r, payload, r->stack[i])) || (st = add_item(r, target, r->stack[i])))
                return st;
        if ((st = log_event(r, EV_MUTATE, target, payload)))
            return st;
    }
    r->n_stack = from;
    return BRINE_OK;
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
        brine_status st = log_event(r, EV_FRAME, 0, 0);
        r->frame_end = 0;
        return st;
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
    switch (op->code) {
    case OPC_PROTO:
        r->proto = (int)op->i;
        if (r->proto > r->pickle->proto)
            r->pickle->proto = r->proto;
        return BRINE_OK;
    case OPC_FRAME:
        if ((uint64_t)op->i > (uint64_t)(r->cur.end - r->cur.p)) {
            r->frame_end = 0;
            return log_event(r, EV_FRAME, 0, 1);
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
        if ((st = pop_into(r, m, op->code == OPC_TUPLE ? K_TUPLE
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
        if (m == r->n_stack && op->code != OPC_ADDITEMS)
            return BRINE_OK; /* do_append / do_setitems: nothing to do */
        if (m == r->n_stack)
            return BRINE_OK;
        return apply_items(r, r->stack[m - 1], m, op->code == OPC_SETITEMS);
    case OPC_GET:
    case OPC_BINGET:
    case OPC_LONG_BINGET: {
        memo_slot *s = op->i >= 0 ? memo_find(r, (uint64_t)op->i) : NULL;
        if (!s || !s->key)
            return FAIL("Memo value not found at index %lld", (long long)op->i);
        return push(r, s->val);
    }
    case OPC_PUT:
    case OPC_BINPUT:
    case OPC_LONG_BINPUT:
        if (r->n_stack <= r->fence)
            return underflow(r);
        return memo_put(r, (uint64_t)op->i, r->stack[r->n_stack - 1]);
    case OPC_MEMOIZE:
        if (r->n_stack <= r->fence)
            return underflow(r);
        return memo_put(r, r->memo_len, r->stack[r->n_stack - 1]);
    case OPC_GLOBAL:
        if ((st = make_global(r, op->s, op->slen, op->s2, op->s2len, 0, &out)))
            return st;
        return push(r, out);
    case OPC_STACK_GLOBAL:
        return op_stack_global(r);
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
        pk_node *t = pk_at(r->g, a);
        t->state = b;
        t->flags |= PKF_BUILT;
        return log_event(r, EV_BUILD, a, b);
    }
    case OPC_PERSID:
    case OPC_BINPERSID:
        if (op->code == OPC_PERSID) {
            if ((st = new_node(r, K_STR, &a)))
                return st;
            pk_at(r->g, a)->v.s.p = op->s;
            pk_at(r->g, a)->v.s.len = op->slen;
        } else if ((st = pop(r, &a))) {
            return st;
        }
        if ((st = new_node(r, K_PERSID, &out)))
            return st;
        pk_at(r->g, out)->a = a;
        if ((st = log_event(r, EV_PERSID, out, 0)))
            return st;
        return push(r, out);
    case OPC_EXT1:
    case OPC_EXT2:
    case OPC_EXT4:
        if ((st = new_node(r, K_EXT, &out)))
            return st;
        pk_at(r->g, out)->v.i = op->i;
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
        pk_node *t = pk_at(r->g, r->stack[r->n_stack - 1]);
        if (is_literal(t) && t->kind != K_BYTES && t->kind != K_BYTEARRAY)
            return FAIL("READONLY_BUFFER: the value does not support the buffer protocol");
        t->flags |= PKF_READONLY;
        return BRINE_OK;
    }
    default:
        return op_value(r, op);
    }
}

static void run_free(run *r)
{
    mem_budget *mem = r->g->mem;
    mem_free(mem, r->stack, r->cap_stack * sizeof(pk_id));
    mem_free(mem, r->marks, r->cap_marks * sizeof(size_t));
    mem_free(mem, r->memo, r->memo_cap * sizeof(memo_slot));
}

brine_status pk_run(pk_graph *g, const uint8_t *data, size_t len, size_t start,
                    const pk_run_options *opts, brine_error *err)
{
    brine_error local;
    if (!err)
        err = &local;
    err_clear(err);
    run r;
    memset(&r, 0, sizeof r);
    r.g = g;
    r.lim = opts->limits;
    r.opts = opts;
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
    r.pickle = &g->pickles[g->n_pickles++];
    memset(r.pickle, 0, sizeof *r.pickle);
    r.pickle->start = start;
    r.pickle->first_event = (uint32_t)g->n_events;

    int stop = 0;
    while (!stop) {
        if (g->opcodes >= r.lim->max_opcodes) {
            st = err_limit(err, "max_opcodes", r.lim->max_opcodes, g->opcodes + 1, cur_pos(&r.cur),
                           1, __LINE__);
            break;
        }
        g->opcodes++;
        st = pk_decode(&r.cur, &op, &g->strings, r.lim, err);
        if (st)
            break;
        if (opts->observe)
            opts->observe(opts->observe_ctx, &op, (uint32_t)r.n_stack, (uint32_t)r.n_marks);
        if ((st = step(&r, &op, &stop)))
            break;
        /* the pickles array may have moved when a nested run grew it: re-point */
        r.pickle = &g->pickles[g->n_pickles - 1];
    }
    r.pickle = &g->pickles[g->n_pickles - 1];
    r.pickle->end = stop ? cur_pos(&r.cur) : op.offset;
    r.pickle->complete = stop;
out:
    g->failed = st != BRINE_OK;
    if (st)
        g->error = *err;
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
        brine_status st = pk_run(g, data, len, pos, opts, err);
        if (st == BRINE_ERR_NOMEM)
            return st;
        if (st && pos > 0 && g->code_events == events_before) {
            /* bytes after a STOP that do not make a pickle reaching any code: not a pickle,
             * just trailing data (pickle.load never reads them) */
            g->n_pickles--;
            g->n_events = log_before;
            g->trailing_at = pos;
            g->trailing_len = len - pos;
            g->failed = 0;
            return BRINE_OK;
        }
        if (st)
            return st;
        pos = (size_t)g->pickles[g->n_pickles - 1].end;
    }
    return BRINE_OK;
}
