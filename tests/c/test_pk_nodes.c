/*
 * test_pk_nodes.c — the 32-byte pickle node keeps what it was given: offsets below 1 TiB in
 * the node, past it in the graph's side table; a call's args, NEWOBJ_EX's kwargs, BUILD state
 * on a call and on a scalar (side table). The same pickle is run at offset 0, just below the
 * side table's threshold and past it, in a sparse anonymous mapping of which only the
 * pickle's page is ever written. And values held in their ids: ints of 30 bits, bools, None
 * and floats (in the graph's table) have no node, ints past that range do, and BUILD makes a
 * node of its target. FLOAT lines are parsed when read, unless they might overflow.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "pickle/machine.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* (object.__new__(object, **{})) with a BUILD of {}, and 7 with a BUILD of None, in a tuple */
static const uint8_t PICKLE[] = "\x80\x04"            /* 0 PROTO 4 */
                                "cbuiltins\nobject\n" /* 2 GLOBAL */
                                ")"                   /* 19 EMPTY_TUPLE: args */
                                "}"                   /* 20 EMPTY_DICT: kwargs */
                                "\x92"                /* 21 NEWOBJ_EX */
                                "}"                   /* 22 EMPTY_DICT: state */
                                "b"                   /* 23 BUILD */
                                "K\x07"               /* 24 BININT1 7 */
                                "N"                   /* 26 NONE: state */
                                "b"                   /* 27 BUILD */
                                "\x86"                /* 28 TUPLE2 */
                                ".";                  /* 29 STOP */

/* Runs the pickle at buf[start] into a fresh g (budget mem) under the default limits. */
static brine_status run_one(pk_graph *g, mem_budget *mem, const uint8_t *buf, size_t len,
                            size_t start, brine_error *err)
{
    brine_limits req, lim;
    brine_limits_default(&req);
    req.max_input_bytes = (uint64_t)len;
    lim_resolve(&req, &lim);
    mem_budget_init(mem, lim.max_memory);
    pk_graph_init(g, mem);
    pk_run_options opts = {&lim, NULL, NULL};
    memset(err, 0, sizeof *err);
    return pk_run(g, buf, len, start, &opts, err);
}

static void run_at(uint64_t start)
{
    size_t len = (size_t)start + 4096;
    uint8_t *buf =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (buf == MAP_FAILED) {
        printf("skip: cannot map %zu bytes\n", len);
        return;
    }
    memcpy(buf + start, PICKLE, sizeof PICKLE - 1);
    mem_budget mem;
    pk_graph g;
    brine_error err;
    brine_status st = run_one(&g, &mem, buf, len, (size_t)start, &err);
    CHECK(st == BRINE_OK && g.n_pickles == 1 && g.pickles[0].complete, "at %llu: %s",
          (unsigned long long)start, err.msg);
    if (st == BRINE_OK) {
        const pk_node *root = pk_at(&g, g.pickles[0].root);
        CHECK(root->kind == K_TUPLE && root->count == 2, "root");
        CHECK(pk_offset(&g, root) == start + 28, "root at %llu",
              (unsigned long long)pk_offset(&g, root));
        const pk_node *obj = pk_at(&g, root->items[0]), *seven = pk_at(&g, root->items[1]);
        CHECK(obj->kind == K_NEWOBJ && pk_offset(&g, obj) == start + 21, "NEWOBJ_EX at %llu",
              (unsigned long long)pk_offset(&g, obj));
        const pk_node *cls = pk_at(&g, obj->a), *args = pk_at(&g, pk_args(obj)),
                      *kwargs = pk_at(&g, pk_kwargs(&g, obj)),
                      *state = pk_at(&g, pk_state(&g, obj));
        CHECK(cls->kind == K_GLOBAL && pk_offset(&g, cls) == start + 2, "class");
        CHECK(pk_args(obj) && args->kind == K_TUPLE && pk_offset(&g, args) == start + 19, "args");
        CHECK(pk_kwargs(&g, obj) && kwargs->kind == K_DICT && pk_offset(&g, kwargs) == start + 20,
              "kwargs");
        CHECK(pk_state(&g, obj) && state->kind == K_DICT && pk_offset(&g, state) == start + 22,
              "state of the object");
        /* 7 is held in its id until BUILD makes it a node, there */
        CHECK(!pk_is_small(root->items[1]) && seven->kind == K_INT &&
                  pk_int(&g, root->items[1]) == 7 && pk_offset(&g, seven) == start + 27,
              "the int");
        CHECK(pk_state(&g, seven) == PK_NONE_ID && pk_at(&g, PK_NONE_ID)->kind == K_NONE,
              "state of the int");
        CHECK(!pk_args(seven) && !pk_kwargs(&g, seven) && !pk_state(&g, args) &&
                  !pk_kwargs(&g, args) && !pk_args(cls),
              "operands where there are none");
    }
    pk_graph_free(&g);
    CHECK(mem.used == 0, "%llu bytes not freed", (unsigned long long)mem.used);
    munmap(buf, len);
}

/* (7, -5, 2**29-1, 2**29, -2**29, -2**29-1, True, False, None, 2**31, 1.5), protocol 2 */
static const uint8_t VALUES[] = "\x80\x02\x28\x4b\x07\x4a\xfb\xff\xff\xff\x4a\xff\xff\xff\x1f"
                                "\x4a\x00\x00\x00\x20\x4a\x00\x00\x00\xe0\x4a\xff\xff\xff\xdf"
                                "\x88\x89\x4e\x8a\x05\x00\x00\x00\x80\x00"
                                "\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x74\x71\x00\x2e";

static void values_in_ids(void)
{
    mem_budget mem;
    pk_graph g;
    brine_error err;
    brine_status st = run_one(&g, &mem, VALUES, sizeof VALUES - 1, 0, &err);
    CHECK(st == BRINE_OK && g.n_pickles == 1, "values: %s", err.msg);
    const pk_node *t = st ? NULL : pk_at(&g, g.pickles[0].root);
    CHECK(t && t->kind == K_TUPLE && t->count == 11, "values: the tuple");
    if (t && t->count == 11) {
        static const int64_t ints[] = {7, -5, (1 << 29) - 1, 1 << 29, -(1 << 29), -(1 << 29) - 1};
        for (int i = 0; i < 6; i++) {
            int64_t v = 0;
            int held = i != 3 && i != 5; /* 2**29 and -2**29-1 are past 30 bits */
            CHECK(pk_int_of(&g, t->items[i], &v) && v == ints[i] &&
                      pk_is_small(t->items[i]) == held,
                  "int %d: %lld, held in the id: %d", i, (long long)v, pk_is_small(t->items[i]));
        }
        CHECK(t->items[6] == PK_TRUE_ID && pk_at(&g, t->items[6])->kind == K_BOOL &&
                  pk_int(&g, t->items[6]) == 1,
              "True");
        CHECK(t->items[7] == PK_FALSE_ID && pk_at(&g, t->items[7])->v.i == 0, "False");
        CHECK(t->items[8] == PK_NONE_ID && pk_at(&g, t->items[8])->kind == K_NONE, "None");
        int64_t v;
        CHECK(!pk_is_small(t->items[9]) && pk_int_of(&g, t->items[9], &v) && v == INT64_C(1) << 31,
              "2**31");
        CHECK(!pk_int_of(&g, t->items[6], &v) && !pk_int_of(&g, t->items[8], &v) &&
                  !pk_int_of(&g, t->items[10], &v),
              "a bool, None or a float is no K_INT");
        CHECK(pk_is_small(t->items[10]) && pk_at(&g, t->items[10])->kind == K_FLOAT &&
                  pk_float(&g, t->items[10]) == 1.5 && g.n_floats == 1,
              "1.5, in the table of floats");
        /* node 0 (the placeholder), the two ints past 30 bits, 2**31 and the tuple */
        CHECK(g.n_nodes == 5, "%zu nodes", g.n_nodes);
    }
    pk_graph_free(&g);
    CHECK(mem.used == 0, "values: %llu bytes not freed", (unsigned long long)mem.used);
}

/* Protocol 0's FLOAT lines: most are read only when asked (their address in the table of
 * floats), those that might overflow a double are parsed as they are decoded. The values are
 * the literals of the lines (C rounds them as Python's float() does). */
static void float_lines(void)
{
    static const char *const special[] = {
        "-2.5e-3", "1e308", "0.000000000000000000001e329", "1e-400", "123456789012345678",
        "inf",     "+.5E+2"};
    static const double values[] = {-2.5e-3,  1e308, 1e308, 0.0, 123456789012345678.0,
                                    HUGE_VAL, 50.0};
    static const int parsed_later[] = {1, 0, 0, 1, 1, 0, 1};
    enum { N_PLAIN = 70, N_SPECIAL = sizeof values / sizeof values[0] };
    char text[4096] = "(";
    size_t len = 1;
    for (int i = 0; i < N_PLAIN; i++) /* past one 64-bit word of the table's bitmap */
        len += (size_t)snprintf(text + len, sizeof text - len, "F%d.0625\n", i);
    for (int i = 0; i < N_SPECIAL; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "F%s\n", special[i]);
    len += (size_t)snprintf(text + len, sizeof text - len, "t.");
    mem_budget mem;
    pk_graph g;
    brine_error err;
    brine_status st = run_one(&g, &mem, (const uint8_t *)text, len, 0, &err);
    CHECK(st == BRINE_OK && g.n_pickles == 1, "float lines: %s", err.msg);
    const pk_node *t = st ? NULL : pk_at(&g, g.pickles[0].root);
    CHECK(t && t->kind == K_TUPLE && t->count == N_PLAIN + N_SPECIAL, "float lines: the tuple");
    if (t && t->count == N_PLAIN + N_SPECIAL) {
        for (int i = 0; i < N_PLAIN + N_SPECIAL; i++) {
            pk_id id = t->items[i];
            double want = i < N_PLAIN ? i + 0.0625 : values[i - N_PLAIN];
            size_t k = (id & (PK_SMALL_CONST - 1)) >> 2;
            int later =
                pk_is_small(id) && k < g.n_floats && (g.float_lines[k / 64] >> (k % 64) & 1);
            CHECK(pk_kind_of(&g, id) == K_FLOAT && pk_float(&g, id) == want, "float %d: %.17g", i,
                  pk_float(&g, id));
            CHECK(later == (i < N_PLAIN || parsed_later[i - N_PLAIN]), "float %d parsed later: %d",
                  i, later);
        }
    }
    pk_graph_free(&g);
    CHECK(mem.used == 0, "float lines: %llu bytes not freed", (unsigned long long)mem.used);
}

int main(void)
{
    values_in_ids();
    float_lines();
    CHECK(sizeof(pk_node) == 32, "pk_node is %zu bytes", sizeof(pk_node));
    run_at(0);
    run_at(((uint64_t)PK_OFF_SIDE << 32) - 4096); /* the last offsets kept in the node */
    run_at(((uint64_t)PK_OFF_SIDE << 32) + 5);    /* the side table */
    run_at(((uint64_t)1 << 40) + 5);              /* past 40 bits: only the side table has it */
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
