/*
 * skops.c — skops archives, audited as skops.io.load audits them before constructing
 * anything (skops 0.16 skops/io/_audit.py get_tree + Node.get_unsafe_set).
 *
 * Threat model: schema.json names the classes and functions skops imports and calls when it
 * loads (ObjectNode: cls.__new__ + __setstate__; FunctionNode, MethodNode, OperatorFuncNode,
 * PartialNode: callables; ReduceNode: a constructor called with arguments). skops refuses
 * any type outside its per-node default trusted set unless the user trusts it; users are
 * told to pass get_untrusted_types()'s list as trusted=, so brine reports exactly that list:
 * each name unverified, or unsafe when the pickle policy knows it runs code (builtins.eval,
 * os.system, ...). The walk is skops' own: loaders looked up by (__loader__, protocol) with
 * the fallback to the current protocol, memoisation by __id__ (a node whose id was seen is
 * the earlier node, never audited again), each node type's children and trusted set
 * (skops_trusted.def, generated from skops), LossNode's trust handed down to its subtree.
 * Whatever makes get_tree raise (a missing key, an unknown loader, a member that is not in
 * the archive) is malformed: skops cannot load the file.
 */
#include "formats/skops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "formats/format.h"
#include "formats/json_load.h"
#include "policy/policy.h"

/* Trust sets: a bit each (scripts/gen_skops_trusted.py). */
enum {
    T_PRIM = 1u << 0,
    T_CONT = 1u << 1,
    T_NPDTYPE = 1u << 2,
    T_SKEST = 1u << 3,
    T_SKINT = 1u << 4,
    T_UFUNC = 1u << 5,
    T_LOSS = 1u << 6,
    T_DICT = 1u << 7,
    T_DEFDICT = 1u << 8,
    T_LIST = 1u << 9,
    T_SET = 1u << 10,
    T_TUPLE = 1u << 11,
    T_SLICE = 1u << 12,
    T_BYTES = 1u << 13,
    T_BYTEARRAY = 1u << 14,
    T_NDARRAY = 1u << 15,
    T_MASKED = 1u << 16,
    T_RANDSTATE = 1u << 17,
    T_GENERATOR = 1u << 18,
    T_SPARSE = 1u << 19,
};

typedef struct trust_row {
    const char *name;
    unsigned sets;
} trust_row;

static const trust_row trust_rows[] = {
#define TRUST(n, s) {n, s},
#define TREE_TYPE(n)
#define LOADER(l, p, c)
#define PROTOCOL(n)
#include "formats/skops_trusted.def"
#undef TRUST
#undef TREE_TYPE
#undef LOADER
#undef PROTOCOL
};

static const char *const tree_type[] = {
#define TRUST(n, s)
#define TREE_TYPE(n) n,
#define LOADER(l, p, c)
#define PROTOCOL(n)
#include "formats/skops_trusted.def"
#undef TRUST
#undef TREE_TYPE
#undef LOADER
#undef PROTOCOL
};

typedef struct loader_row {
    const char *loader;
    int protocol;
    const char *node;
} loader_row;

static const loader_row loader_rows[] = {
#define TRUST(n, s)
#define TREE_TYPE(n)
#define LOADER(l, p, c) {l, p, c},
#define PROTOCOL(n)
#include "formats/skops_trusted.def"
#undef TRUST
#undef TREE_TYPE
#undef LOADER
#undef PROTOCOL
};

static const int current_protocol =
#define TRUST(n, s)
#define TREE_TYPE(n)
#define LOADER(l, p, c)
#define PROTOCOL(n) n
#include "formats/skops_trusted.def"
#undef TRUST
#undef TREE_TYPE
#undef LOADER
#undef PROTOCOL
    ;

static int cmp_trust(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const trust_row *)elem)->name);
}

/* The sets a "module.Class" name belongs to (0: none). */
static unsigned trust_sets(const char *name)
{
    const trust_row *r = bsearch(name, trust_rows, sizeof trust_rows / sizeof *trust_rows,
                                 sizeof *trust_rows, cmp_trust);
    return r ? r->sets : 0;
}

/* Node classes, and the default trusted sets of each (its _get_trusted default). */
typedef enum node_kind {
    N_BYTEARRAY,
    N_BYTES,
    N_CACHED,
    N_CTOR_REDUCE,
    N_DTYPE,
    N_DEFAULTDICT,
    N_DICT,
    N_FUNCTION,
    N_JSON,
    N_LIST,
    N_LOSS,
    N_MASKED,
    N_METHOD,
    N_NDARRAY,
    N_OBJECT,
    N_OPERATOR,
    N_PARTIAL,
    N_QUANTILE,
    N_RANDGEN,
    N_RANDSTATE,
    N_SET,
    N_SLICE,
    N_SPARSE,
    N_TREE,
    N_TUPLE,
    N_TYPE,
    N_UNKNOWN
} node_kind;

static const struct {
    const char *cls;
    node_kind kind;
    unsigned sets;
} node_classes[] = {
    {"BytearrayNode", N_BYTEARRAY, T_BYTEARRAY},
    {"BytesNode", N_BYTES, T_BYTES},
    {"CachedNode", N_CACHED, 0},
    {"ConstructorFromReduceNode", N_CTOR_REDUCE, 0},
    {"DTypeNode", N_DTYPE, 0},
    {"DefaultDictNode", N_DEFAULTDICT, T_DEFDICT},
    {"DictNode", N_DICT, T_DICT},
    {"FunctionNode", N_FUNCTION, T_UFUNC},
    {"JsonNode", N_JSON, 0},
    {"ListNode", N_LIST, T_LIST},
    {"LossNode", N_LOSS, T_LOSS},
    {"MaskedArrayNode", N_MASKED, T_MASKED},
    {"MethodNode", N_METHOD, 0},
    {"NdArrayNode", N_NDARRAY, T_NDARRAY | T_NPDTYPE},
    {"ObjectNode", N_OBJECT, T_SKEST | T_SKINT},
    {"OperatorFuncNode", N_OPERATOR, 0},
    {"PartialNode", N_PARTIAL, 0},
    {"QuantileForestNode", N_QUANTILE, 0},
    {"RandomGeneratorNode", N_RANDGEN, T_GENERATOR},
    {"RandomStateNode", N_RANDSTATE, T_RANDSTATE},
    {"SetNode", N_SET, T_SET},
    {"SliceNode", N_SLICE, T_SLICE},
    {"SparseMatrixNode", N_SPARSE, T_SPARSE},
    {"TreeNode", N_TREE, 0},
    {"TupleNode", N_TUPLE, T_TUPLE},
    {"TypeNode", N_TYPE, T_PRIM | T_CONT | T_NPDTYPE},
};

/* get_tree: (loader, protocol), else (loader, PROTOCOL), else TypeError. */
static node_kind lookup_loader(const char *loader, int protocol, unsigned *sets)
{
    const char *cls = NULL;
    for (int pass = 0; pass < 2 && !cls; pass++) {
        int want = pass ? current_protocol : protocol;
        for (size_t i = 0; i < sizeof loader_rows / sizeof *loader_rows; i++)
            if (loader_rows[i].protocol == want && strcmp(loader_rows[i].loader, loader) == 0)
                cls = loader_rows[i].node;
    }
    for (size_t i = 0; cls && i < sizeof node_classes / sizeof *node_classes; i++)
        if (strcmp(node_classes[i].cls, cls) == 0) {
            *sets = node_classes[i].sets;
            return node_classes[i].kind;
        }
    return N_UNKNOWN;
}

/* ------------------------------------------------------------------ the walk */

typedef struct skwalk {
    mem_budget *mem;
    int protocol;
    skops_member_fn has_member;
    void *member_ctx;
    jdoc_says says;
    char **seen_names; /* untrusted names reported so far (get_unsafe_set is a set) */
    size_t n_seen, cap_seen;
    char **ids; /* __id__ values memoised so far, as text */
    size_t n_ids, cap_ids;
    brine_status st;
} skwalk;

/* Adds s to a list of strings unless it is there; 1 when added, 0 when present, -1 NOMEM. */
static int add_once(skwalk *w, char ***list, size_t *n, size_t *cap, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], s) == 0)
            return 0;
    if (mem_grow(w->mem, (void **)list, cap, *n + 1, sizeof **list))
        return -1;
    char *copy = mem_strndup(w->mem, s, strlen(s));
    if (!copy)
        return -1;
    (*list)[(*n)++] = copy;
    return 1;
}

static void free_list(skwalk *w, char **list, size_t n, size_t cap)
{
    for (size_t i = 0; i < n; i++)
        mem_free(w->mem, list[i], strlen(list[i]) + 1);
    mem_free(w->mem, list, cap * sizeof *list);
}

/* One name of get_unsafe_set. dotted: module and "Class.method" of a MethodNode. */
static void untrusted(skwalk *w, const char *module, const char *name)
{
    char full[512];
    snprintf(full, sizeof full, "%s.%s", module, name);
    int added = add_once(w, &w->seen_names, &w->n_seen, &w->cap_seen, full);
    if (added < 0) {
        w->st = BRINE_ERR_NOMEM;
        w->says.stop = 1;
        return;
    }
    if (!added)
        return;
    const char *why = NULL;
    pol_class pc = pol_classify(pol_default(), module, name, &why);
    if (pc == POL_DANGEROUS || pc == POL_FORBIDDEN)
        jdoc_say(&w->says, BRINE_UNSAFE, "skops-dangerous-type",
                 "schema.json names '%.300s' (%s): skops.io.load runs it once the type is trusted",
                 full, why ? why : "dangerous");
    else
        jdoc_say(&w->says, BRINE_UNVERIFIED, "skops-untrusted-type",
                 "schema.json names '%.300s', outside skops' default trusted types "
                 "(get_untrusted_types lists it; loading needs trusted=)",
                 full);
}

static void bad(skwalk *w, const char *what, const char *cls, const char *module)
{
    jdoc_say(&w->says, BRINE_INVALID, "malformed",
             "schema.json: %s (node %.100s.%.100s): skops cannot load it", what,
             module ? module : "?", cls ? cls : "?");
}

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The text of an __id__ as Python's memo dict keys it (1, 1.0 and true are one key); NULL
 * when skops does not memoise it (falsy) or it is of a kind brine does not key. */
static const char *id_key(const json_t *id, char *buf, size_t cap)
{
    if (json_is_integer(id) && json_integer_value(id) != 0)
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else if (json_is_true(id))
        snprintf(buf, cap, "1");
    else if (json_is_real(id) && json_real_value(id) != 0)
        snprintf(buf, cap, "r%.17g", json_real_value(id));
    else if (json_is_string(id) && json_string_length(id) > 0)
        snprintf(buf, cap, "s%.200s", json_string_value(id));
    else
        return NULL;
    return buf;
}

static void node(skwalk *w, const json_t *state, unsigned extra, unsigned depth);

static void child(skwalk *w, const json_t *parent, const char *key, unsigned extra, unsigned depth,
                  const char *cls, const char *module)
{
    const json_t *c = json_object_get(parent, key);
    if (!c) {
        char what[80];
        snprintf(what, sizeof what, "no \"%s\"", key);
        bad(w, what, cls, module);
        return;
    }
    node(w, c, extra, depth + 1);
}

static void member(skwalk *w, const json_t *state, const char *cls, const char *module)
{
    const char *file = str_at(state, "file");
    if (!file)
        bad(w, "no \"file\" member name", cls, module);
    else if (w->has_member && !w->has_member(w->member_ctx, file))
        bad(w, "a \"file\" that is not in the archive", cls, module);
}

/* The children a node's content dict names (keys ends with NULL): skops builds each, and a
 * content that is not a dict or a missing key raises. */
static void keyed_children(skwalk *w, const json_t *content, const char *const *keys,
                           unsigned extra, unsigned depth, const char *cls, const char *module)
{
    if (!json_is_object(content)) {
        bad(w, "no content", cls, module);
        return;
    }
    for (; *keys; keys++)
        child(w, content, *keys, extra, depth, cls, module);
}

/* Every node of a JSON list (a ListNode's content, an object array's items); 0 when it is
 * not a list. */
static int list_children(skwalk *w, const json_t *list, unsigned extra, unsigned depth)
{
    if (!json_is_array(list))
        return 0;
    for (size_t i = 0; i < json_array_size(list); i++)
        node(w, json_array_get(list, i), extra, depth + 1);
    return 1;
}

/* MethodNode: obj, a node of the method's own type, and func, the method's name. */
static void method_node(skwalk *w, const json_t *content, unsigned down, unsigned depth,
                        const char *cls, const char *module)
{
    const json_t *obj = json_is_object(content) ? json_object_get(content, "obj") : NULL;
    const json_t *func = json_is_object(content) ? json_object_get(content, "func") : NULL;
    if (!obj || !func) {
        bad(w, "a method without obj and func", cls, module);
        return;
    }
    node(w, obj, down, depth + 1);
    const char *ocls = json_is_object(obj) ? str_at(obj, "__class__") : NULL;
    const char *omod = json_is_object(obj) ? str_at(obj, "__module__") : NULL;
    if (!ocls || !omod || strcmp(ocls, cls) != 0 || strcmp(omod, module) != 0) {
        bad(w, "a method whose object is of another type", cls, module);
        return;
    }
    /* MethodNode.get_unsafe_set always adds module.Class.func */
    char dotted[300];
    snprintf(dotted, sizeof dotted, "%s.%s", ocls,
             json_is_string(func) ? json_string_value(func) : "?");
    untrusted(w, omod, dotted);
}

/* ReduceNode (TreeNode, LossNode, QuantileForestNode): attrs (content), then
 * __reduce__.args, then the constructor, a TypeNode judged with the trust this node hands
 * down. */
static void reduce_node(skwalk *w, const json_t *state, node_kind kind, unsigned down,
                        unsigned depth, const char *cls, const char *module)
{
    if (kind == N_LOSS)
        down |= T_LOSS;
    child(w, state, "content", down, depth, cls, module);
    const json_t *reduce = json_object_get(state, "__reduce__");
    if (!json_is_object(reduce)) {
        bad(w, "no __reduce__", cls, module);
        return;
    }
    child(w, reduce, "args", down, depth, cls, module);
    char ctor[512];
    if (kind == N_TREE)
        snprintf(ctor, sizeof ctor, "%s", tree_type[0]);
    else if (kind == N_LOSS)
        snprintf(ctor, sizeof ctor, "%s.%s", module, cls);
    else
        return; /* QuantileForest: the node's own type is untrusted anyway */
    if (!((trust_sets(ctor) & (T_PRIM | T_CONT | T_NPDTYPE)) || (trust_sets(ctor) & down))) {
        char *dot = strrchr(ctor, '.');
        *dot = '\0';
        untrusted(w, ctor, dot + 1);
    }
}

static void node(skwalk *w, const json_t *state, unsigned extra, unsigned depth)
{
    if (w->says.stop)
        return;
    if (depth > SKOPS_MAX_DEPTH) {
        jdoc_say(&w->says, BRINE_INVALID, "limit", "schema.json nests nodes deeper than %d levels",
                 SKOPS_MAX_DEPTH);
        w->says.stop = 1;
        return;
    }
    if (!json_is_object(state)) {
        bad(w, "a node that is not a JSON object", NULL, NULL);
        return;
    }
    char idbuf[256];
    const char *id = id_key(json_object_get(state, "__id__"), idbuf, sizeof idbuf);
    if (id)
        for (size_t i = 0; i < w->n_ids; i++)
            if (strcmp(w->ids[i], id) == 0)
                return; /* the memoised node: skops reuses it, unaudited */
    const char *loader = str_at(state, "__loader__");
    const char *cls = str_at(state, "__class__");
    const char *module = str_at(state, "__module__");
    if (!loader || !cls || !module) {
        bad(w, "__loader__, __class__ or __module__ missing or not a string", cls, module);
        return;
    }
    unsigned sets = 0;
    node_kind kind = lookup_loader(loader, w->protocol, &sets);
    if (kind == N_UNKNOWN) {
        bad(w, "an unknown __loader__", cls, module);
        return;
    }
    if (kind == N_CACHED) {
        bad(w, "a CachedNode whose __id__ no earlier node has", cls, module);
        return;
    }
    /* Node.__init__ memoises before the children are built: a child naming its ancestor's
     * __id__ is the ancestor */
    if (id && add_once(w, &w->ids, &w->n_ids, &w->cap_ids, id) < 0) {
        w->st = BRINE_ERR_NOMEM;
        w->says.stop = 1;
        return;
    }
    const json_t *content = json_object_get(state, "content");
    unsigned down = extra; /* what the children trust beyond their defaults */
    switch (kind) {
    case N_JSON:
        if (!content)
            bad(w, "a JsonNode without content", cls, module);
        return; /* always safe */
    case N_DEFAULTDICT:
        extra = 0; /* self.trusted = ["collections.defaultdict"]: the user's list is ignored */
        keyed_children(w, content, (const char *const[]){"main", "default_factory", NULL}, down,
                       depth, cls, module);
        break;
    case N_DICT: {
        child(w, state, "key_types", down, depth, cls, module);
        if (!json_is_object(content)) {
            bad(w, "content is not a dict", cls, module);
            break;
        }
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)content, k, v) node(w, v, down, depth + 1);
        break;
    }
    case N_LIST:
    case N_SET:
    case N_TUPLE:
        if (!list_children(w, content, down, depth))
            bad(w, "content is not a list", cls, module);
        break;
    case N_FUNCTION:
    case N_TYPE: break;
    case N_PARTIAL:
        keyed_children(w, content, (const char *const[]){"func", "args", "kwds", "namespace", NULL},
                       down, depth, cls, module);
        break;
    case N_SLICE:
        if (!json_is_object(content) || !json_object_get(content, "start") ||
            !json_object_get(content, "stop") || !json_object_get(content, "step"))
            bad(w, "a slice without start, stop and step", cls, module);
        break;
    case N_CTOR_REDUCE:
    case N_DTYPE:
    case N_RANDSTATE: child(w, state, "content", down, depth, cls, module); break;
    case N_OBJECT:
        if (content && !json_is_null(content))
            node(w, content, down, depth + 1);
        break;
    case N_METHOD: method_node(w, content, down, depth, cls, module); break;
    case N_BYTES:
    case N_BYTEARRAY:
    case N_SPARSE:
        if (kind == N_SPARSE && (!str_at(state, "type") || strcmp(str_at(state, "type"), "scipy")))
            bad(w, "a sparse matrix whose type is not \"scipy\"", cls, module);
        else
            member(w, state, cls, module);
        break;
    case N_OPERATOR:
        if (strcmp(module, "operator") != 0) {
            bad(w, "an operator function from outside module operator", cls, module);
            break;
        }
        child(w, state, "attrs", down, depth, cls, module);
        break;
    case N_NDARRAY: {
        const char *type = str_at(state, "type");
        if (type && strcmp(type, "numpy") == 0) {
            member(w, state, cls, module);
        } else if (type && strcmp(type, "json") == 0) {
            if (!list_children(w, content, down, depth)) {
                bad(w, "an object array without a content list", cls, module);
                break;
            }
            child(w, state, "shape", down, depth, cls, module);
        } else {
            bad(w, "an array of unknown type", cls, module);
        }
        break;
    }
    case N_MASKED:
        keyed_children(w, content, (const char *const[]){"data", "mask", NULL}, down, depth, cls,
                       module);
        break;
    case N_RANDGEN:
        keyed_children(w, content, (const char *const[]){"bit_generator", "seed_seq", NULL}, down,
                       depth, cls, module);
        break;
    case N_TREE:
    case N_LOSS:
    case N_QUANTILE: reduce_node(w, state, kind, down, depth, cls, module); break;
    case N_CACHED:
    case N_UNKNOWN: break;
    }
    /* is_self_safe: module.class in the node's trusted list (its default + what it was
     * handed) */
    char full[512];
    snprintf(full, sizeof full, "%s.%s", module, cls);
    if (!(trust_sets(full) & (sets | extra)))
        untrusted(w, module, cls);
}

brine_status skops_check_schema(const uint8_t *json, size_t len, mem_budget *mem,
                                skops_member_fn has_member, void *member_ctx,
                                keras_report_fn report, void *ctx, brine_error *err)
{
    json_t *root;
    uint64_t cost;
    brine_status st = jdoc_load("schema.json", "skops", json, len, mem, &root, &cost, err);
    if (st)
        return st;
    /* read_schema: protocol an int (not a bool) in 0..PROTOCOL */
    const json_t *p = json_object_get(root, "protocol");
    if (!json_is_integer(p) || json_integer_value(p) < 0 ||
        json_integer_value(p) > current_protocol) {
        st = err_set(err, BRINE_ERR_MALFORMED, __LINE__,
                     "schema.json protocol is not an integer in 0..%d: skops refuses it",
                     current_protocol);
    } else {
        skwalk w = {.mem = mem,
                    .protocol = (int)json_integer_value(p),
                    .has_member = has_member,
                    .member_ctx = member_ctx,
                    .says = {.report = report,
                             .ctx = ctx,
                             .max = SKOPS_MAX_REPORTS,
                             .more_rule = "skops-untrusted-type",
                             .more_msg = "schema.json: more to report than brine lists; the "
                                         "first ones are above"}};
        node(&w, root, 0, 0);
        st = w.st;
        if (st == BRINE_ERR_NOMEM)
            err_set(err, st, __LINE__, "out of memory");
        free_list(&w, w.seen_names, w.n_seen, w.cap_seen);
        free_list(&w, w.ids, w.n_ids, w.cap_ids);
    }
    jdoc_free(root, cost, mem);
    return st;
}

/* ------------------------------------------------------------------ into env */

brine_status skops_walk_schema(struct fmt_env *env, const char *member, const uint8_t *json,
                               size_t len, skops_member_fn has_member, void *member_ctx)
{
    jdoc_sink sink = {env, member, BRINE_OK};
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = skops_check_schema(json, len, fmt_mem(env), has_member, member_ctx,
                                         jdoc_report, &sink, &err);
    return jdoc_sink_done(&sink, st, &err);
}
