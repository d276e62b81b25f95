/*
 * scan.c — verdicts: runs the format that bids highest, then judges every pickle it finds.
 *
 * The judge walks the machine's event log, not the final object: a call whose result was
 * popped (OBJ + POP), a global imported and never used, a BUILD on a module — each is an event
 * and each is judged. Only globals on the active allowlist pass; the denylist names what
 * does not. Errors never hide findings: a file that is broken after its payload is unsafe.
 */
#include "scan/scan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/hashmap.h"
#include "core/limits.h"
#include "core/sha256.h"
#include "formats/format.h"
#include "load/container.h"
#include "load/tensors.h"
#include "pickle/machine.h"
#include "pickle/opcodes.h"
#include "pickle/render.h"
#include "scan/result.h"

brine_status scan_add_finding(scan_ctx *sc, brine_verdict severity, const char *rule,
                              const char *global, const char *member, int64_t offset,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (severity > sc->worst)
        sc->worst = severity;
    brine_status st = res_vadd_finding(sc->result, severity, rule, global, member, offset, fmt, ap);
    va_end(ap);
    return st;
}

brine_status scan_add_global(scan_ctx *sc, const char *full)
{
    return res_add_global(sc->result, full);
}

/* ------------------------------------------------------------------ judging one graph */

typedef struct judge {
    scan_ctx *sc;
    pk_graph *g;
    const char *member;
    scan_pid_mode pid_mode;
    pol_class *cls;   /* per global */
    const char **why; /* per global */
    hmap nested_done; /* (literal node, loader mode) already judged in this graph */
} judge;

#define FIND(sev, rule, global, off, ...)                                                          \
    do {                                                                                           \
        brine_status st_ = scan_add_finding(j->sc, (sev), (rule), (global), j->member,             \
                                            (int64_t)(off), __VA_ARGS__);                          \
        if (st_)                                                                                   \
            return st_;                                                                            \
    } while (0)

static const pk_global *global_of(const judge *j, pk_id id)
{
    const pk_node *n = pk_at(j->g, id);
    return n->kind == K_GLOBAL ? &j->g->globals[n->v.g.global] : NULL;
}

static pol_class class_of(const judge *j, pk_id id)
{
    const pk_node *n = pk_at(j->g, id);
    return n->kind == K_GLOBAL ? j->cls[n->v.g.global] : POL_UNVERIFIED;
}

static int text_is(const pk_node *n, const char *z)
{
    size_t zl = strlen(z);
    return (n->kind == K_STR || n->kind == K_PYSTR) && n->v.s.len == zl &&
           memcmp(n->v.s.p, z, zl) == 0;
}

static brine_status classify_globals(judge *j)
{
    pk_graph *g = j->g;
    for (size_t i = 0; i < g->n_globals; i++) {
        pk_global *gl = &g->globals[i];
        j->cls[i] = pol_classify(j->sc->policy, gl->module, gl->name, &j->why[i]);
        brine_status st = gl->dynamic ? BRINE_OK : scan_add_global(j->sc, gl->full);
        if (st)
            return st;
    }
    return BRINE_OK;
}

static brine_status judge_global(judge *j, uint32_t gi, const char *what, uint64_t offset)
{
    const pk_global *gl = &j->g->globals[gi];
    if (gl->dynamic) {
        FIND(BRINE_UNSAFE, "dynamic-global", NULL, offset,
             "STACK_GLOBAL imports a name computed while loading (%s): it can be anything", what);
        return BRINE_OK;
    }
    pol_class c = j->cls[gi];
    if (gl->dotted && c != POL_ALLOWED) {
        char buf[320];
        const char *reach = pol_dotted_reach(gl->module, gl->name, buf, sizeof buf);
        FIND(BRINE_UNSAFE, "dotted-name", gl->full, offset,
             "%s walks attributes from module %s%s%s; %s", gl->full, gl->module,
             reach ? ", reaching " : "", reach ? reach : "", what);
        return BRINE_OK;
    }
    switch (c) {
    case POL_FORBIDDEN:
        FIND(BRINE_UNSAFE, "forbidden-module", gl->full, offset, "%s: %s; %s", gl->full, j->why[gi],
             what);
        break;
    case POL_DANGEROUS:
        FIND(BRINE_UNSAFE, "dangerous-global", gl->full, offset, "%s: %s; %s", gl->full, j->why[gi],
             what);
        break;
    case POL_UNVERIFIED:
        FIND(BRINE_UNVERIFIED, "unverified-global", gl->full, offset,
             "%s is outside the allowlist: loading imports it and runs code nobody vetted; %s",
             gl->full, what);
        break;
    case POL_ALLOWED: break;
    }
    return BRINE_OK;
}

/* Callables whose argument is itself a pickle: scanning the bytes is the only way to know. */
static int nested_loader(const pk_global *gl, scan_pid_mode *mode)
{
    static const char *const loaders[] = {"pickle.loads", "_pickle.loads",     "pickle._loads",
                                          "dill.loads",   "cloudpickle.loads", "numpy.loads"};
    if (strcmp(gl->full, "torch.storage._load_from_bytes") == 0) {
        *mode = PID_TORCH_LEGACY;
        return 1;
    }
    for (size_t i = 0; i < sizeof loaders / sizeof loaders[0]; i++)
        if (strcmp(gl->full, loaders[i]) == 0) {
            *mode = PID_NONE;
            return 1;
        }
    return 0;
}

/* The bytes a value stands for, when they are in the file: bytes literals, and
 * _codecs.encode(text, 'latin1') — how protocols 0-2 spell bytes. *owned is set when the
 * Latin-1 conversion allocated (free with mem_free(&sc->mem, p, len)). */
static int literal_bytes(judge *j, pk_id id, const uint8_t **p, size_t *len, int *owned)
{
    const pk_node *n = pk_at(j->g, id);
    *owned = 0;
    if (n->kind == K_BYTES || n->kind == K_PYSTR || n->kind == K_BYTEARRAY) {
        *p = n->v.s.p;
        *len = (size_t)n->v.s.len;
        return 1;
    }
    const pk_global *gl = n->kind == K_CALL ? global_of(j, n->a) : NULL;
    const pk_node *args = gl ? pk_at(j->g, pk_args(n)) : NULL;
    if (!gl || strcmp(gl->full, "_codecs.encode") != 0 || args->kind != K_TUPLE || args->count != 2)
        return 0;
    const pk_node *text = pk_at(j->g, args->items[0]), *codec = pk_at(j->g, args->items[1]);
    if (text->kind != K_STR || !(text_is(codec, "latin1") || text_is(codec, "latin-1")))
        return 0;
    /* UTF-8 code points below 256 become one byte each */
    uint8_t *out = mem_alloc(&j->sc->mem, text->v.s.len ? (size_t)text->v.s.len : 1);
    if (!out)
        return 0;
    size_t o = 0;
    for (uint64_t i = 0; i < text->v.s.len; i++) {
        uint8_t c = text->v.s.p[i];
        if (c < 0x80) {
            out[o++] = c;
        } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text->v.s.len) {
            out[o++] = (uint8_t)(((c & 0x1F) << 6) | (text->v.s.p[++i] & 0x3F));
        } else { /* not Latin-1: encode() raises */
            mem_free(&j->sc->mem, out, (size_t)text->v.s.len);
            return 0;
        }
    }
    *p = out;
    *len = o;
    *owned = (int)(text->v.s.len ? text->v.s.len : 1);
    return 1;
}

/* Nested literals are judged once (issue 7.5: one 200 kB literal handed to pickle.loads
 * 40,000 times through the memo took 296 s). Within a graph a literal node is recognised by
 * its id, without hashing its bytes again; across the file by SHA-256 and length, with the
 * loader mode, depth and container checks (which change how the bytes are judged). The findings of
 * the first judgment stand for every repeat: they are in the result already, and the verdict with
 * them. */
typedef struct nested_key {
    uint8_t digest[32];
    uint64_t len;
    uint32_t mode, depth;
    uint64_t storages; /* the container's storage checks in force */
} nested_key;

/* 0 when *k is the key of these bytes, -1 when they cannot be hashed (no libcrypto). */
static int nested_key_of(const judge *j, const uint8_t *bytes, size_t len, scan_pid_mode mode,
                         nested_key *k)
{
    memset(k, 0, sizeof *k);
    brine_error err;
    if (sha256(bytes, len, k->digest, &err))
        return -1;
    k->len = len;
    k->mode = (uint32_t)mode;
    k->depth = j->sc->depth;
    k->storages = (uint64_t)(uintptr_t)j->sc->storage_ctx ^ (j->sc->storage_check ? 1 : 0);
    return 0;
}

/* 1 when this node of the graph was handed to a loader of this mode before: whatever that
 * produced is in the result and in sc->worst already, and nothing (not even a Latin-1
 * conversion or a hash) is redone. 0 the first time, -1 out of memory. */
static int nested_node_done(judge *j, pk_id literal, scan_pid_mode mode)
{
    if (!j->nested_done.mem)
        hmap_init(&j->nested_done, &j->sc->mem);
    uint64_t node_key[2] = {literal, (uint64_t)mode};
    return hmap_put(&j->nested_done, node_key, sizeof node_key, 0, NULL);
}

/* 1 when these bytes were judged already (their worst verdict is folded into sc->worst, so
 * an enclosing nested pickle caches it too), 0 when they must be judged now (*keyed: *k is
 * their key; else they could not be hashed, and are judged every time), -1 out of memory. */
static int nested_seen(judge *j, const uint8_t *bytes, size_t len, scan_pid_mode mode,
                       nested_key *k, int *keyed)
{
    if (!j->sc->nested_seen.mem)
        hmap_init(&j->sc->nested_seen, &j->sc->mem);
    *keyed = nested_key_of(j, bytes, len, mode, k) == 0;
    if (!*keyed)
        return 0;
    uint64_t worst;
    if (!hmap_get(&j->sc->nested_seen, k, sizeof *k, &worst))
        return 0;
    if ((brine_verdict)worst > j->sc->worst)
        j->sc->worst = (brine_verdict)worst;
    return 1;
}

static brine_status judge_nested(judge *j, uint64_t offset, pk_id args_id, const pk_global *gl,
                                 scan_pid_mode mode)
{
    const pk_node *args = args_id ? pk_at(j->g, args_id) : NULL;
    const uint8_t *bytes;
    size_t len;
    int owned;
    int done = args && args->kind == K_TUPLE && args->count >= 1
                   ? nested_node_done(j, args->items[0], mode)
                   : 0;
    if (done)
        return done < 0 ? BRINE_ERR_NOMEM : BRINE_OK;
    if (!args || args->kind != K_TUPLE || args->count < 1 ||
        !literal_bytes(j, args->items[0], &bytes, &len, &owned)) {
        FIND(BRINE_UNSAFE, "nested-pickle", gl->full, offset,
             "%s unpickles data computed while loading: it cannot be checked", gl->full);
        return BRINE_OK;
    }
    brine_status st = BRINE_OK;
    int seen = 0, keyed = 0;
    nested_key key;
    if (j->sc->depth >= j->sc->limits.max_nested) {
        st = scan_add_finding(j->sc, BRINE_INVALID, "limit", gl->full, j->member, (int64_t)offset,
                              "nested pickles deeper than max_nested=%" PRIu64,
                              j->sc->limits.max_nested);
    } else if ((seen = nested_seen(j, bytes, len, mode, &key, &keyed)) < 0) {
        st = BRINE_ERR_NOMEM;
    } else if (!seen) {
        char member[256];
        snprintf(member, sizeof member, "%s%s%s bytes at offset %" PRIu64,
                 j->member ? j->member : "", j->member ? ": " : "", gl->full, offset);
        /* torch.storage._load_from_bytes is torch.load: every format it reads (zip, tar,
         * legacy stack, or a plain pickle.load of the first pickle); the others unpickle */
        brine_verdict outer = j->sc->worst;
        j->sc->worst = BRINE_SAFE;
        j->sc->depth++;
        st = j->sc->nested(j->sc, bytes, len, member, mode != PID_NONE);
        j->sc->depth--;
        if (!st && keyed &&
            hmap_put(&j->sc->nested_seen, &key, sizeof key, (uint64_t)j->sc->worst, NULL) < 0)
            st = BRINE_ERR_NOMEM;
        if (j->sc->worst < outer)
            j->sc->worst = outer;
    }
    if (owned)
        mem_free(&j->sc->mem, (void *)bytes, (size_t)owned);
    return st;
}

static int is_dunder(const pk_node *n);
static int plants_dunder(const judge *j, const pk_node *state);

/* The tensor rebuild functions _rebuild_from_type_v2 may call (torch/_tensor.py
 * _reduce_ex_internal wraps exactly these). */
static int is_tensor_rebuilder(const char *full)
{
    static const char *const fns[] = {"torch._utils._rebuild_tensor",
                                      "torch._utils._rebuild_tensor_v2",
                                      "torch._utils._rebuild_tensor_v3",
                                      "torch._utils._rebuild_qtensor",
                                      "torch._utils._rebuild_sparse_tensor",
                                      "torch._utils._rebuild_sparse_csr_tensor",
                                      "torch._utils._rebuild_meta_tensor_no_storage",
                                      "torch._utils._rebuild_wrapper_subclass",
                                      "torch._utils._rebuild_device_tensor_from_numpy",
                                      "torch._utils._rebuild_device_tensor_from_cpu_tensor",
                                      "torch._utils._rebuild_parameter",
                                      "torch._utils._rebuild_parameter_with_state"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(full, fns[i]) == 0)
            return 1;
    return 0;
}

/* A call of callee with args (a tuple node), judged whatever its spelling: REDUCE, NEWOBJ, or
 * a trampoline inside an allowlisted function. line describes it for messages. */
/* The class a legacy torch ('module', <class>, source file, source) persistent id stands for:
 * torch's persistent_load returns the class itself (old torch.save(model) files). */
static pk_id persid_class(const judge *j, pk_id id)
{
    const pk_node *n = pk_at(j->g, id);
    if (n->kind != K_PERSID || (j->pid_mode != PID_TORCH_LEGACY && j->pid_mode != PID_TORCH_TAR))
        return id;
    const pk_node *pid = pk_at(j->g, n->a);
    if (pid->kind == K_TUPLE && pid->count >= 2 && text_is(pk_at(j->g, pid->items[0]), "module") &&
        pk_at(j->g, pid->items[1])->kind == K_GLOBAL)
        return pid->items[1];
    return id;
}

/* The event as pseudo-Python, rendered only when a finding needs it (most calls pass). */
static const char *call_line(const judge *j, const pk_event *e, const char *via, char *buf,
                             size_t cap)
{
    sbuf b = {buf, cap, 0, 0};
    buf[0] = '\0';
    if (via)
        sb_fmt(&b, "through %s: ", via);
    pk_describe_event(j->g, e, &b);
    return buf;
}

static brine_status judge_call_of(judge *j, pk_id callee, pk_id args_id, const pk_event *e,
                                  const char *via, unsigned depth)
{
    uint64_t offset = e->offset;
    char linebuf[384];
    const char *line = "";
    callee = persid_class(j, callee);
    const pk_global *gl = global_of(j, callee);
    if (!gl || class_of(j, callee) != POL_ALLOWED || gl->dotted || gl->dynamic)
        line = call_line(j, e, via, linebuf, sizeof linebuf);
    if (!gl) {
        FIND(BRINE_UNSAFE, "dynamic-call", NULL, offset,
             "calls something computed while loading: %s", line);
        return BRINE_OK;
    }
    char what[448];
    snprintf(what, sizeof what, "the file calls it: %s", line);
    brine_status st = judge_global(j, pk_at(j->g, callee)->v.g.global, what, offset);
    if (st)
        return st;
    scan_pid_mode mode;
    if (nested_loader(gl, &mode))
        return judge_nested(j, offset, args_id, gl, mode);
    if (class_of(j, callee) != POL_ALLOWED)
        return BRINE_OK;
    /* allowlisted functions whose arguments decide what runs */
    const pk_node *args = args_id ? pk_at(j->g, args_id) : NULL;
    if (strcmp(gl->full, "torch._tensor._rebuild_from_type_v2") == 0) {
        /* (func, new_type, args, state): `if new_type is Tensor: return func(*args)` — a
         * call of func, so func must be a tensor rebuilder and is judged as a call */
        if (!args || args->kind != K_TUPLE || args->count != 4) {
            FIND(BRINE_INVALID, "type-error", gl->full, offset,
                 "%s needs (func, type, args, state): %s", gl->full,
                 call_line(j, e, via, linebuf, sizeof linebuf));
            return BRINE_OK;
        }
        const pk_global *func = global_of(j, args->items[0]);
        if (func && class_of(j, args->items[0]) == POL_ALLOWED &&
            !is_tensor_rebuilder(func->full) && !nested_loader(func, &mode)) {
            FIND(BRINE_INVALID, "type-error", func->full, offset,
                 "%s calls %s, which is not a tensor rebuild function: %s", gl->full, func->full,
                 call_line(j, e, via, linebuf, sizeof linebuf));
            return BRINE_OK;
        }
        if (depth >= 8) {
            FIND(BRINE_INVALID, "limit", gl->full, offset, "%s nested too deeply", gl->full);
            return BRINE_OK;
        }
        st = judge_call_of(j, args->items[0], args->items[2], e, gl->full, depth + 1);
        if (!st && plants_dunder(j, pk_at(j->g, args->items[3])))
            st = scan_add_finding(j->sc, BRINE_UNSAFE, "dunder-state", gl->full, j->member,
                                  (int64_t)offset, "%s sets __dunder__ attributes from its state",
                                  gl->full);
        return st;
    }
    if (strcmp(gl->full, "torch._utils._rebuild_parameter_with_state") == 0 && args &&
        args->kind == K_TUPLE && args->count == 4 &&
        plants_dunder(j, pk_at(j->g, args->items[3]))) {
        FIND(BRINE_UNSAFE, "dunder-state", gl->full, offset,
             "%s sets __dunder__ attributes from its state: %s", gl->full,
             call_line(j, e, via, linebuf, sizeof linebuf));
        return BRINE_OK;
    }
    if (strcmp(gl->full, "copyreg._reconstructor") == 0) {
        /* (cls, base, state): how protocols 0 and 1 make an instance — base.__new__(cls,
         * state), then base.__init__(obj, state) unless base is object. cls is judged where
         * it is imported; base runs code unless it is object. */
        const pk_node *base =
            args && args->kind == K_TUPLE && args->count == 3 ? pk_at(j->g, args->items[1]) : NULL;
        const pk_global *bg = base && base->kind == K_GLOBAL ? global_of(j, args->items[1]) : NULL;
        if (!base || pk_at(j->g, args->items[0])->kind != K_GLOBAL) {
            FIND(BRINE_UNSAFE, "dynamic-call", gl->full, offset,
                 "%s makes an instance of something computed while loading: %s", gl->full,
                 call_line(j, e, via, linebuf, sizeof linebuf));
        } else if (!bg || strcmp(bg->full, "builtins.object") != 0 ||
                   pk_at(j->g, args->items[2])->kind != K_NONE) {
            if (depth >= 8) {
                FIND(BRINE_INVALID, "limit", gl->full, offset, "%s nested too deeply", gl->full);
                return BRINE_OK;
            }
            /* base.__init__ runs with state: judged as a call of base */
            return judge_call_of(j, args->items[1], 0, e, gl->full, depth + 1);
        }
        return BRINE_OK;
    }
    int64_t size;
    if (strcmp(gl->full, "builtins.bytearray") == 0 && args && args->kind == K_TUPLE &&
        args->count >= 1 && pk_int_of(j->g, args->items[0], &size) &&
        (uint64_t)size > j->sc->limits.max_string) {
        FIND(BRINE_INVALID, "limit", gl->full, offset,
             "bytearray(%" PRId64 ") asks the loader for more memory than max_string=%" PRIu64,
             size, j->sc->limits.max_string);
    }
    return BRINE_OK;
}

static brine_status judge_call(judge *j, const pk_event *e)
{
    const pk_node *call = pk_at(j->g, e->node);
    return judge_call_of(j, call->a, pk_args(call), e, NULL, 0);
}

static int is_dunder(const pk_node *n)
{
    return (n->kind == K_STR || n->kind == K_PYSTR) && n->v.s.len > 4 && n->v.s.p[0] == '_' &&
           n->v.s.p[1] == '_' && n->v.s.p[n->v.s.len - 1] == '_' && n->v.s.p[n->v.s.len - 2] == '_';
}

/* A BUILD state that plants dunder attributes (the "BUILD twice" gadget: the first BUILD sets
 * __setstate__ in the instance dict, the second one calls it). */
static int plants_dunder(const judge *j, const pk_node *state)
{
    const pk_node *dicts[2] = {state, NULL};
    if (state->kind == K_TUPLE && state->count == 2) {
        dicts[0] = pk_at(j->g, state->items[0]);
        dicts[1] = pk_at(j->g, state->items[1]);
    }
    for (int d = 0; d < 2; d++) {
        if (!dicts[d] || dicts[d]->kind != K_DICT)
            continue;
        for (uint32_t i = 0; i + 1 < dicts[d]->count; i += 2)
            if (is_dunder(pk_at(j->g, dicts[d]->items[i])))
                return 1;
    }
    return 0;
}

static brine_status judge_target(judge *j, const pk_event *e, const char *op)
{
    const pk_node *t = pk_at(j->g, e->node);
    const char *rule = NULL, *what = NULL;
    brine_verdict sev = BRINE_UNSAFE;
    const char *global = NULL;
    if (t->kind == K_GLOBAL) {
        rule = "global-mutation";
        global = j->g->globals[t->v.g.global].full;
        what = "changes an imported module, class or function, so later lookups return what the "
               "file planted";
    } else if (t->kind == K_PERSID || t->kind == K_EXT || t->kind == K_BUFFER) {
        rule = "dynamic-call";
        what = "calls a method of an object computed while loading";
    } else if (t->kind != K_CALL && t->kind != K_NEWOBJ && t->kind != K_INST) {
        rule = "type-error";
        sev = BRINE_INVALID;
        what = "applies to a plain value: the real loader raises here";
    } else if (pk_at(j->g, persid_class(j, t->a))->kind != K_GLOBAL) {
        rule = "dynamic-call";
        what = "applies to an object made by a computed callable";
    }
    if (!rule)
        return BRINE_OK; /* an object of an allowlisted (or separately judged) class */
    char line[384];
    FIND(sev, rule, global, e->offset, "%s%s%s %s: %s", op, global ? " on " : "",
         global ? global : "", what, call_line(j, e, NULL, line, sizeof line));
    return BRINE_OK;
}

static brine_status judge_persid(judge *j, const pk_event *e)
{
    const pk_node *pid = pk_at(j->g, pk_at(j->g, e->node)->a);
    if (j->pid_mode == PID_TORCH_TAR) {
        /* tar pickle: persistent_load returns deserialized_objects[int(id)] for a key, or the
         * class of a ('module', class, file, source) tuple (judged as a global) */
        if (pid->kind == K_INT || pid->kind == K_STR || pid->kind == K_PYSTR ||
            (pid->kind == K_TUPLE && pid->count >= 1 &&
             text_is(pk_at(j->g, pid->items[0]), "module")))
            return BRINE_OK;
        FIND(BRINE_INVALID, "type-error", NULL, e->offset,
             "persistent id is neither a storage key nor a module reference");
        return BRINE_OK;
    }
    if (j->pid_mode == PID_NONE) {
        FIND(BRINE_INVALID, "persistent-id", NULL, e->offset,
             "persistent id: pickle.load has no persistent_load and fails here; only a "
             "format-specific loader resolves it");
        return BRINE_OK;
    }
    /* torch: ('storage', <StorageClass>, key, location, numel[, view_metadata]) */
    size_t want = j->pid_mode == PID_TORCH_ZIP ? 5 : 6;
    int ok = pid->kind == K_TUPLE && pid->count == want &&
             text_is(pk_at(j->g, pid->items[0]), "storage");
    if (ok) {
        const pk_global *cls = global_of(j, pid->items[1]);
        const pk_node *key = pk_at(j->g, pid->items[2]), *loc = pk_at(j->g, pid->items[3]);
        int64_t numel;
        ok = cls && (key->kind == K_STR || key->kind == K_PYSTR) &&
             (loc->kind == K_STR || loc->kind == K_PYSTR) &&
             pk_int_of(j->g, pid->items[4], &numel) && numel >= 0;
        if (ok && class_of(j, pid->items[1]) != POL_ALLOWED)
            return BRINE_OK; /* the storage class global is judged on its own */
        char why[200];
        if (ok && j->sc->storage_check &&
            j->sc->storage_check(j->sc->storage_ctx, key->v.s.p, (size_t)key->v.s.len, cls->name,
                                 numel, why, sizeof why) != 0) {
            FIND(BRINE_INVALID, "storage-size", NULL, e->offset, "%s", why);
            return BRINE_OK;
        }
    } else if (j->pid_mode == PID_TORCH_LEGACY && pid->kind == K_TUPLE && pid->count == 4 &&
               text_is(pk_at(j->g, pid->items[0]), "module")) {
        return BRINE_OK; /* old torch.save(model): the class global is judged on its own */
    }
    if (!ok)
        FIND(BRINE_INVALID, "type-error", NULL, e->offset,
             "persistent id is not a torch storage reference; torch's loader rejects it");
    return BRINE_OK;
}

static brine_status judge_graph(scan_ctx *sc, pk_graph *g, const char *member,
                                scan_pid_mode pid_mode)
{
    judge jd = {.sc = sc, .g = g, .member = member, .pid_mode = pid_mode};
    judge *j = &jd;
    brine_status st = BRINE_OK;
    size_t ng = g->n_globals ? g->n_globals : 1;
    jd.cls = mem_calloc(&sc->mem, ng, sizeof *jd.cls);
    jd.why = mem_calloc(&sc->mem, ng, sizeof *jd.why);
    if (!jd.cls || !jd.why) {
        st = BRINE_ERR_NOMEM;
        goto out;
    }
    if ((st = classify_globals(j)))
        goto out;
    /* calls first, so a global's finding carries the call that uses it */
    for (size_t i = 0; i < g->n_events && !st; i++)
        if (g->events[i].kind == EV_CALL)
            st = judge_call(j, &g->events[i]);
    for (size_t i = 0; i < g->n_events && !st; i++) {
        const pk_event *e = &g->events[i];
        switch (e->kind) {
        case EV_GLOBAL: {
            const pk_node *n = pk_at(g, e->node);
            st = judge_global(j, n->v.g.global, "the file imports it", e->offset);
            break;
        }
        case EV_BUILD: {
            const pk_node *state = pk_at(g, e->aux);
            if (plants_dunder(j, state)) {
                st = scan_add_finding(sc, BRINE_UNSAFE, "dunder-state", NULL, member,
                                      (int64_t)e->offset,
                                      "BUILD plants a __dunder__ attribute: a later BUILD or "
                                      "lookup calls what the file chose");
                if (st)
                    break;
            }
            if (pk_at(g, e->node)->kind == K_GLOBAL ||
                !(pk_at(g, e->node)->kind == K_CALL || pk_at(g, e->node)->kind == K_NEWOBJ ||
                  pk_at(g, e->node)->kind == K_INST))
                st = judge_target(j, e, "BUILD");
            break;
        }
        case EV_MUTATE: st = judge_target(j, e, pk_opcodes[e->opcode].name); break;
        case EV_PERSID: st = judge_persid(j, e); break;
        case EV_EXT:
            st = scan_add_finding(sc, BRINE_UNSAFE, "ext-opcode", NULL, member, (int64_t)e->offset,
                                  "%s names a callable by number through copyreg's extension "
                                  "registry: invisible to name checks",
                                  pk_opcodes[e->opcode].name);
            break;
        case EV_BUFFER:
            st = scan_add_finding(sc, BRINE_INVALID, "out-of-band-buffer", NULL, member,
                                  (int64_t)e->offset,
                                  "NEXT_BUFFER: the data lives outside the file; loading fails "
                                  "without a buffers= argument");
            break;
        case EV_FRAME:
            if (e->aux == 1) {
                st = scan_add_finding(sc, BRINE_INVALID, "frame-truncated", NULL, member,
                                      (int64_t)e->offset,
                                      "FRAME is longer than the bytes that follow: CPython's C "
                                      "unpickler refuses it, pickle.py (used by joblib) reads on");
                break;
            }
            st = scan_add_finding(sc, BRINE_UNSAFE, "frame-boundary", NULL, member,
                                  (int64_t)e->offset,
                                  "an opcode crosses the end of its FRAME: CPython's stream "
                                  "unpickler reads these bytes differently from a static "
                                  "parser (gh-154848), which hides code");
            break;
        default: break;
        }
    }
out:
    hmap_free(&jd.nested_done);
    mem_free(&sc->mem, jd.cls, ng * sizeof *jd.cls);
    mem_free(&sc->mem, (void *)jd.why, ng * sizeof *jd.why);
    return st;
}

/* ------------------------------------------------------------------ pickle streams */

/* A name find_class could import: dotted Python identifiers (ASCII; what a text file's
 * "c" line almost never is). */
static int plausible_name(const uint8_t *s, size_t n)
{
    int start = 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (c == '.' && !start)
            start = 1;
        else if (alpha || (!start && c >= '0' && c <= '9'))
            start = 0;
        else
            return 0;
    }
    return n && !start;
}

/* Names and the literals STACK_GLOBAL pairs are at most this long (longer ones are skipped
 * unjudged by plausible_name's callers); a longer argument is stepped over whole. */
#define NAME_ARG_MAX 256

/* The recovery read below steps one byte at a time over what does not decode, so an opcode
 * whose argument it would read and validate in full (a text line, a counted UTF-8 string)
 * costs its length at every byte it starts at: quadratic on a megabyte of "iiii…" (F14).
 * Such an argument longer than any name is stepped over whole instead, unvalidated: returns
 * where the opcode at p ends, or NULL to decode it. *nl caches the next newline at or after
 * p (end when none), so looking for line ends stays linear. */
static const uint8_t *long_argument_end(const uint8_t *p, const uint8_t *end, const uint8_t **nl)
{
    switch (pk_opcodes[*p].arg) {
    case ARG_DECIMALNL_SHORT:
    case ARG_DECIMALNL_LONG:
    case ARG_STRINGNL:
    case ARG_STRINGNL_NOESCAPE:
    case ARG_STRINGNL_NOESCAPE_PAIR:
    case ARG_UNICODESTRINGNL:
    case ARG_FLOATNL:
        if (*nl <= p) {
            const uint8_t *q = memchr(p + 1, '\n', (size_t)(end - p - 1));
            *nl = q ? q : end;
        }
        if (*nl - p > NAME_ARG_MAX)
            return *nl < end ? *nl + 1 : end;
        /* the second line of a pair, looked for no further than a name can reach */
        if (pk_opcodes[*p].arg == ARG_STRINGNL_NOESCAPE_PAIR && *nl + 1 < end) {
            size_t room = (size_t)(end - *nl - 1);
            if (room > NAME_ARG_MAX && !memchr(*nl + 1, '\n', NAME_ARG_MAX))
                return *nl + 1;
        }
        return NULL;
    case ARG_UNICODESTRING4:
    case ARG_UNICODESTRING8: {
        size_t width = pk_opcodes[*p].arg == ARG_UNICODESTRING4 ? 4 : 8;
        if ((size_t)(end - p - 1) < width)
            return NULL;
        uint64_t n = width == 4 ? ld_le32(p + 1) : ld_le64(p + 1);
        if (n <= NAME_ARG_MAX || n > (uint64_t)(end - p - 1 - (ptrdiff_t)width))
            return NULL; /* short, or past the end: decoding fails at once */
        return p + 1 + width + n;
    }
    default: return NULL;
    }
}

/* After the machine stops on an error or a limit, the real C unpickler stops too — but the
 * other unpickler, a more lenient loader or a "fixed" copy of the file may not. The names that
 * follow are collected and judged (issue: a decoding error or a limit hit before the payload
 * must not hide it): a linear read of the remaining opcodes that steps over whatever does not
 * decode, pairing STACK_GLOBAL with the two most recent text literals. A dangerous name is
 * unsafe, any other invalid. With dry set nothing is reported; returns in *found how many
 * importable names follow. */
static brine_status names_after_error(scan_ctx *sc, const uint8_t *data, size_t len, uint64_t at,
                                      const char *member, int dry, size_t *found)
{
    *found = 0;
    if (at >= len)
        return BRINE_OK;
    cursor c;
    cur_init(&c, data, len);
    c.p = data + at;
    pk_pool pool;
    pk_pool_init(&pool, &sc->mem);
    pk_op op;
    brine_error err;
    const uint8_t *lit[2] = {NULL, NULL};
    size_t litlen[2] = {0, 0};
    brine_status st = BRINE_OK;
    int first = 1;
    const uint8_t *nl = data + at;
    for (uint64_t n = 0; n < sc->limits.max_opcodes && cur_left(&c) && !st; n++) {
        const uint8_t *at_op = c.p;
        const uint8_t *skip = first ? NULL : long_argument_end(c.p, c.end, &nl);
        if (skip) {
            /* too long to be a name; as a text literal it still takes a stack slot */
            uint8_t code = *at_op;
            if (code == OPC_STRING || code == OPC_UNICODE || code == OPC_BINUNICODE ||
                code == OPC_BINUNICODE8) {
                lit[0] = lit[1];
                litlen[0] = litlen[1];
                lit[1] = at_op;
                litlen[1] = (size_t)(skip - at_op);
            }
            c.p = skip;
            continue;
        }
        if (pk_decode(&c, &op, &pool, &sc->limits, &err) != BRINE_OK) {
            if (err.code == BRINE_ERR_NOMEM) {
                st = BRINE_ERR_NOMEM;
                break;
            }
            c.p = at_op + 1; /* step over what does not decode */
            first = 0;
            lit[0] = lit[1] = NULL;
            continue;
        }
        if (first) { /* the opcode that failed: skip it */
            first = 0;
            continue;
        }
        const uint8_t *mod = NULL, *name = NULL;
        size_t modlen = 0, namelen = 0;
        if (op.vk == PV_PAIR) {
            mod = op.s, modlen = (size_t)op.slen, name = op.s2, namelen = (size_t)op.s2len;
        } else if (op.code == OPC_STACK_GLOBAL && lit[0] && lit[1]) {
            mod = lit[0], modlen = litlen[0], name = lit[1], namelen = litlen[1];
        }
        if (op.vk == PV_STR ||
            (op.vk == PV_BYTES && (op.code == OPC_STRING || op.code == OPC_SHORT_BINSTRING ||
                                   op.code == OPC_BINSTRING))) {
            lit[0] = lit[1];
            litlen[0] = litlen[1];
            lit[1] = op.s;
            litlen[1] = (size_t)op.slen;
        }
        if (!mod || modlen > 140 || namelen > 140 || !plausible_name(mod, modlen) ||
            !plausible_name(name, namelen))
            continue;
        ++*found;
        if (dry)
            continue;
        char full[300], modz[150];
        snprintf(modz, sizeof modz, "%.*s", (int)modlen, (const char *)mod);
        snprintf(full, sizeof full, "%s.%.*s", modz, (int)namelen, (const char *)name);
        const char *why = NULL;
        pol_class cls = pol_classify(sc->policy, modz, full + modlen + 1, &why);
        int bad = cls == POL_FORBIDDEN || cls == POL_DANGEROUS;
        if (!(st = scan_add_global(sc, full)))
            st = scan_add_finding(sc, bad ? BRINE_UNSAFE : BRINE_INVALID, "after-error", full,
                                  member, (int64_t)op.offset,
                                  "%s is named after the point where brine stops reading%s%s: "
                                  "one CPython unpickler, a more lenient loader or a repaired "
                                  "copy may reach it",
                                  full, bad ? "; " : "", bad && why ? why : "");
    }
    pk_pool_free(&pool);
    return st;
}

static brine_status report_failure(scan_ctx *sc, const pk_graph *g, const char *member)
{
    const brine_error *e = &g->error;
    if (g->deferred && e->code == BRINE_ERR_MALFORMED) /* one unpickler raised, the other ran on */
        return scan_add_finding(sc, BRINE_INVALID, "unpickler-divergence", NULL, member,
                                e->has_offset ? (int64_t)e->offset : -1, "%s", e->msg);
    if (e->code == BRINE_ERR_LIMIT)
        return scan_add_finding(sc, BRINE_INVALID, "limit", NULL, member,
                                e->has_offset ? (int64_t)e->offset : -1, "%s", e->msg);
    return scan_add_finding(sc, BRINE_INVALID, "malformed", NULL, member,
                            e->has_offset ? (int64_t)e->offset : -1, "%s", e->msg);
}

brine_status scan_judge(scan_ctx *sc, pk_graph *g, const uint8_t *data, size_t len,
                        const char *member, scan_pid_mode pid_mode)
{
    brine_status st = judge_graph(sc, g, member, pid_mode);
    if (!st && g->failed)
        st = report_failure(sc, g, member);
    size_t found;
    /* a deferred error did not stop the run: every name was judged as code that runs */
    if (!st && g->failed && !g->deferred && g->error.has_offset &&
        (g->error.code == BRINE_ERR_MALFORMED || g->error.code == BRINE_ERR_LIMIT))
        st = names_after_error(sc, data, len, g->error.offset, member, 0, &found);
    return st;
}

int scan_inert(scan_ctx *sc, const pk_graph *g, int stopped, const uint8_t *data, size_t len)
{
    /* a PROTO opcode first: a pickle, whatever breaks later (protocol 6 included) */
    uint64_t start = g->n_pickles ? g->pickles[0].start : 0;
    if (start < len && data[start] == 0x80)
        return 0;
    /* A zip's "PK" whose header bytes, a timestamp among them, hold a newline reads as a
     * persistent id. Only pickle.load reads a zip as a pickle (torch.load takes the zip path
     * on these four bytes) and raises at that first opcode, whatever brine read past it: names
     * (a zip written at 16:32:20 has EXT4 after the newline) or a STOP (at 05:48:20). */
    if (start == 0 && len >= 4 && memcmp(data, "PK\3\4", 4) == 0)
        return 1;
    if (!stopped || !g->failed || g->code_events)
        return 0;
    for (size_t i = 0; i < g->n_events; i++)
        if (g->events[i].kind == EV_FRAME)
            return 0;
    /* Any other persistent id first: pickle.load has no persistent_load and raises there;
     * brine read past it for loaders that have one, and they found no names — a decoding error
     * or a limit (a string length from a zip header over max_string) alike. */
    if (start < len && (data[start] == 'P' || data[start] == 'Q'))
        return 1;
    if (g->error.code != BRINE_ERR_MALFORMED)
        return 0;
    if (!g->error.has_offset || g->error.offset >= len)
        return 1;
    /* The first opcode fails (a text file's first letter, a tar's member name, a zip's "PK"):
     * both unpicklers raise before reading anything else — unless its text argument is one
     * the two parse differently (pickle.py's float()/int() accept what _pickle.c refuses; its
     * memo takes any index), where only a look at what follows tells. */
    if (g->n_pickles == 1 && g->error.offset == g->pickles[0].start &&
        !memchr("FILSVgp", data[g->error.offset], 7))
        return 1;
    /* a byte that is no opcode: both unpicklers raise "invalid load key" right there */
    if (!pk_opcodes[data[g->error.offset]].name)
        return 1;
    /* an argument brine refused: look for importable names in the next MiB (the window keeps
     * a sniffed multi-GB archive from being read whole; past a refusal both unpicklers
     * share, nothing runs anyway) */
    size_t found = 0, window = len - (size_t)g->error.offset;
    if (window > ((size_t)1 << 20))
        window = (size_t)1 << 20;
    if (names_after_error(sc, data, (size_t)g->error.offset + window, g->error.offset, NULL, 1,
                          &found) != BRINE_OK)
        return 0;
    return found == 0;
}
