/*
 * driver.c — the environment formats walk into (formats/format.h), and the entry points of
 * scan, load and dis on top of it.
 *
 * A file is offered to every format; each one that bids reads the file as its loader would
 * (a polyglot is judged by every loader that accepts it, the worst verdict wins). Pickles are
 * run and judged here; the command decides what else happens with the same graph: a scan
 * validates tensors without reading their bytes, a load collects them, dis lists one member.
 * What no format reads is format `none` only when it carries no model magic at all.
 */
#include "scan/driver.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "core/limits.h"
#include "formats/format.h"
#include "formats/joblib.h"
#include "pickle/dis.h"
#include "scan/result.h"

enum { PATH_MAX_MEMBER = 512 };

struct fmt_env {
    scan_ctx *sc;
    drv_mode mode;
    char path[PATH_MAX_MEMBER]; /* the current file inside the top-level one ("" at the top) */
    unsigned depth;             /* files inside files */
    unsigned filter_depth;      /* decompression filters around the current file */
    int cur_bid;                /* bid of the format walking the current file */
    int named_bid;              /* bid of the format that named the top-level file */
    /* load */
    ld_set *set;
    int have_root;
    pk_graph *root_graph; /* the model's graph: its strings back the loaded values */
    brine_error load_err; /* what a load cannot serve (fmt_unloadable) */
    const char *dir;      /* the folder of the top-level file, or NULL (bytes) */
    struct drv_jl {
        const pk_graph *g;
        jl_ctx *jl;
    } * jls; /* joblib arrays per graph */
    size_t n_jls, cap_jls;
    /* dis */
    const drv_dis *dis;
    int dis_done;
    struct drv_held {
        void *state;
        void (*release)(void *);
    } * held;
    size_t n_held, cap_held;
};

/* ------------------------------------------------------------------ member paths */

/* "outer/inner": the path of a member of the current file, in buf. NULL for the file itself
 * at the top level. */
static const char *member_path(const fmt_env *env, const char *member, char *buf, size_t cap)
{
    if (!env->path[0] && !member)
        return NULL;
    int n = snprintf(buf, cap, "%s%s%s", env->path, env->path[0] && member ? "/" : "",
                     member ? member : "");
    if (n < 0 || (size_t)n >= cap) /* cut: say so rather than name another member */
        memcpy(buf + cap - 4, "...", 4);
    return buf;
}

/* ------------------------------------------------------------------ the environment */

const brine_limits *fmt_limits(const fmt_env *env) { return &env->sc->limits; }
mem_budget *fmt_mem(fmt_env *env) { return &env->sc->mem; }
int fmt_loading(const fmt_env *env) { return env->mode == DRV_LOAD; }
ld_set *fmt_load_set(fmt_env *env)
{
    return env->mode == DRV_LOAD && env->depth == env->filter_depth ? env->set : NULL;
}

void fmt_set_format(fmt_env *env, const char *name)
{
    if (env->depth == 0 && env->cur_bid >= env->named_bid) {
        env->named_bid = env->cur_bid;
        env->sc->result->format = name;
    }
}

brine_status fmt_finding(fmt_env *env, brine_verdict severity, const char *rule, const char *member,
                         int64_t offset, const char *fmt, ...)
{
    char buf[PATH_MAX_MEMBER];
    va_list ap;
    va_start(ap, fmt);
    if (severity > env->sc->worst) /* what a nested judgment found, for its cache */
        env->sc->worst = severity;
    brine_status st = res_vadd_finding(env->sc->result, severity, rule, NULL,
                                       member_path(env, member, buf, sizeof buf), offset, fmt, ap);
    va_end(ap);
    return st;
}

void fmt_unloadable(fmt_env *env, const char *fmt, ...)
{
    if (env->mode != DRV_LOAD || env->load_err.code)
        return;
    char msg[sizeof env->load_err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set(&env->load_err, BRINE_ERR_UNSUPPORTED, __LINE__, "%s", msg);
}

size_t fmt_finding_count(const fmt_env *env) { return env->sc->result->n_findings; }

brine_status fmt_error_finding(fmt_env *env, const char *member, const brine_error *err,
                               const char *what)
{
    if (err->code == BRINE_ERR_NOMEM)
        return BRINE_ERR_NOMEM;
    return fmt_finding(env, BRINE_INVALID, err->code == BRINE_ERR_LIMIT ? "limit" : "malformed",
                       member, err->has_offset ? (int64_t)err->offset : -1, "%s%s%s",
                       what ? what : "", what ? ": " : "", err->msg);
}

brine_status fmt_hold(fmt_env *env, void *state, void (*release)(void *))
{
    if (mem_grow(&env->sc->mem, (void **)&env->held, &env->cap_held, env->n_held + 1,
                 sizeof *env->held)) {
        release(state);
        return BRINE_ERR_NOMEM;
    }
    env->held[env->n_held].state = state;
    env->held[env->n_held++].release = release;
    return BRINE_OK;
}

typedef struct held_buffer {
    mem_budget *mem;
    void *p;
    size_t n;
} held_buffer;

static void release_buffer(void *state)
{
    held_buffer *h = state;
    mem_budget *mem = h->mem;
    mem_free(mem, h->p, h->n);
    mem_free(mem, h, sizeof *h);
}

brine_status fmt_hold_buffer(fmt_env *env, void *p, size_t n)
{
    held_buffer *h = mem_alloc(&env->sc->mem, sizeof *h);
    if (!h) {
        mem_free(&env->sc->mem, p, n);
        return BRINE_ERR_NOMEM;
    }
    h->mem = &env->sc->mem;
    h->p = p;
    h->n = n;
    return fmt_hold(env, h, release_buffer);
}

unsigned *fmt_filter_depth(fmt_env *env) { return &env->filter_depth; }

static void release_held(fmt_env *env)
{
    while (env->n_held) {
        struct drv_held *h = &env->held[--env->n_held];
        h->release(h->state);
    }
    mem_free(&env->sc->mem, env->held, env->cap_held * sizeof *env->held);
    env->held = NULL;
    env->cap_held = 0;
}

/* ------------------------------------------------------------------ pickles */

const struct jl_ctx *fmt_joblib_arrays(const fmt_env *env, const pk_graph *g)
{
    for (size_t i = 0; i < env->n_jls; i++)
        if (env->jls[i].g == g)
            return env->jls[i].jl;
    return NULL;
}

void fmt_graph_free(fmt_env *env, pk_graph *g)
{
    if (!g || g == env->root_graph)
        return;
    for (size_t i = 0; i < env->n_jls; i++)
        if (env->jls[i].g == g) {
            jl_free(env->jls[i].jl);
            mem_free(&env->sc->mem, env->jls[i].jl, sizeof *env->jls[i].jl);
            env->jls[i] = env->jls[--env->n_jls];
            break;
        }
    pk_graph_free(g);
    mem_free(&env->sc->mem, g, sizeof *g);
}

/* The first run of a pickle, by the loader's own unpickler. */
static brine_status first_run(fmt_env *env, const fmt_pickle *p, pk_graph *g,
                              const pk_run_options *opts, brine_error *err)
{
    scan_ctx *sc = env->sc;
    if (p->loader == FMT_PICKLE)
        return pk_run(g, p->data, p->len, p->start, opts, err);
    jl_ctx *jl = mem_alloc(&sc->mem, sizeof *jl);
    if (!jl ||
        mem_grow(&sc->mem, (void **)&env->jls, &env->cap_jls, env->n_jls + 1, sizeof *env->jls)) {
        mem_free(&sc->mem, jl, sizeof *jl);
        return ERR_NOMEM(err);
    }
    g->unpicklers = PK_UNPICKLER_PY; /* joblib's NumpyUnpickler is pickle.py's _Unpickler */
    jl_init(jl, &sc->mem, &sc->limits,
            p->loader == FMT_JOBLIB ? JL_NUMPY_UNPICKLER : JL_COMPAT_UNPICKLER);
    env->jls[env->n_jls].g = g;
    env->jls[env->n_jls++].jl = jl;
    return jl_run(jl, g, p->data, p->len, p->start, opts, err);
}

static brine_status dis_member(fmt_env *env, const fmt_pickle *p, const char *path)
{
    const drv_dis *d = env->dis;
    if (d->member_seen)
        d->member_seen(d->ctx, path);
    if (!d->write || env->dis_done || !(d->member ? path && strcmp(d->member, path) == 0 : !path))
        return BRINE_OK;
    env->dis_done = 1;
    brine_error err;
    brine_status st;
    if (p->loader == FMT_PICKLE) {
        st = brine_dis(p->data + p->start, p->len - p->start, d->format, &env->sc->limits, d->write,
                       d->ctx, &err);
    } else { /* joblib: array bytes spliced in after each wrapper's BUILD */
        jl_ctx jl;
        jl_init(&jl, &env->sc->mem, &env->sc->limits,
                p->loader == FMT_JOBLIB ? JL_NUMPY_UNPICKLER : JL_COMPAT_UNPICKLER);
        st = pk_dis_hooked(p->data + p->start, p->len - p->start, d->format, &env->sc->limits,
                           jl_build_hook, &jl, d->write, d->ctx, &err);
        jl_free(&jl);
    }
    return st == BRINE_ERR_NOMEM ? st : BRINE_OK;
}

brine_status fmt_run_pickle(fmt_env *env, const fmt_pickle *p, pk_graph **out, int *inert)
{
    scan_ctx *sc = env->sc;
    char buf[PATH_MAX_MEMBER];
    const char *path = member_path(env, p->member, buf, sizeof buf);
    *out = NULL;
    if (inert)
        *inert = 0;
    pk_graph *g = mem_alloc(&sc->mem, sizeof *g);
    if (!g)
        return BRINE_ERR_NOMEM;
    pk_graph_init(g, &sc->mem);
    /* one work budget per file (issue 7.5): every stream, nested ones included, runs only
     * what the streams before it left; one it cannot cover is not judged: invalid */
    brine_limits lim = sc->limits;
    int capped = sc->limits.max_work - sc->work < lim.max_opcodes;
    if (capped)
        lim.max_opcodes = sc->limits.max_work - sc->work;
    pk_run_options opts = {&lim, NULL, NULL};
    brine_error err;
    brine_status st;
    if (sc->work >= sc->limits.max_work) {
        /* reported once (same text: deduplicated); the graph stays empty and failed */
        err_limit(&g->error, "max_work", sc->limits.max_work, sc->work + 1, 0, 0, __LINE__);
        g->failed = 1;
        st = scan_add_finding(sc, BRINE_INVALID, "limit", NULL, NULL, -1,
                              "limit max_work is %" PRIu64 ": the file's pickles (nested ones "
                              "included) ran that many opcodes; the pickles after that point "
                              "are not judged",
                              sc->limits.max_work);
        if (st)
            goto fail;
        *out = g;
        return BRINE_OK;
    }
    st = first_run(env, p, g, &opts, &err);
    if (st == BRINE_ERR_NOMEM)
        goto fail;
    if ((p->flags & FMT_P_SNIFF) && scan_inert(sc, g, st != BRINE_OK, p->data, p->len)) {
        if (inert)
            *inert = 1;
        fmt_graph_free(env, g);
        return BRINE_OK;
    }
    if (env->mode == DRV_DIS && dis_member(env, p, path) == BRINE_ERR_NOMEM) {
        st = BRINE_ERR_NOMEM;
        goto fail;
    }
    if (!st && p->count == FMT_ALL && g->pickles[0].end < p->len)
        st = pk_run_all(g, p->data, p->len, (size_t)g->pickles[0].end, &opts, &err);
    for (uint32_t k = 1; !st && p->count != FMT_ALL && k < p->count; k++)
        st = pk_run(g, p->data, p->len, (size_t)g->pickles[g->n_pickles - 1].end, &opts, &err);
    if (st == BRINE_ERR_NOMEM)
        goto fail;
    sc->work += g->opcodes;
    if (capped && g->failed && g->error.code == BRINE_ERR_LIMIT && g->error.limit &&
        strcmp(g->error.limit, "max_opcodes") == 0) /* the file's budget ran out, not this one's */
        err_limit(&g->error, "max_work", sc->limits.max_work, sc->work + 1, g->error.offset,
                  g->error.has_offset, __LINE__);
    /* a nested judgment (bytes a callable unpickles) runs inside this one: restore */
    scan_storage_fn outer_check = sc->storage_check;
    void *outer_ctx = sc->storage_ctx;
    sc->storage_check = p->storage_check;
    sc->storage_ctx = p->storage_ctx;
    st = scan_judge(sc, g, p->data, p->len, path, p->pid_mode);
    sc->storage_check = outer_check;
    sc->storage_ctx = outer_ctx;
    if (!st && p->count == FMT_ALL && g->trailing_len)
        st = scan_add_finding(sc, BRINE_INVALID, "trailing-data", NULL, path,
                              (int64_t)g->trailing_at,
                              "%" PRIu64 " bytes after the last STOP are not a pickle "
                              "(loaders ignore them; polyglot files hide content there)",
                              g->trailing_len);
    if (st)
        goto fail;
    *out = g;
    return BRINE_OK;
fail:
    fmt_graph_free(env, g);
    return st;
}

/* Scan: rebuilds the tensors of a judged graph without reading their data — arguments the
 * real loader rejects, or views that reach outside their storage, make the file invalid.
 * Load: the same pass collects them. What brine does not rebuild (object arrays, …) is not a
 * finding. */
brine_status fmt_model_root(fmt_env *env, const char *member, const pk_graph *g, pk_id root,
                            ld_resolve_fn sizes, ld_resolve_fn bytes, void *ctx)
{
    scan_ctx *sc = env->sc;
    char buf[PATH_MAX_MEMBER];
    const char *path = member_path(env, member, buf, sizeof buf);
    if (!root || g->failed || env->mode == DRV_DIS)
        return BRINE_OK;
    /* the model is the file's own pickle, or what a compressed file holds */
    int loading = env->mode == DRV_LOAD && !env->have_root && env->depth == env->filter_depth;
    if (!loading) {
        /* tensors and arrays come only from torch and numpy reconstructors */
        size_t i;
        for (i = 0; i < g->n_globals; i++)
            if (strncmp(g->globals[i].full, "torch.", 6) == 0 ||
                strncmp(g->globals[i].full, "numpy.", 6) == 0 ||
                strncmp(g->globals[i].full, "joblib.", 7) == 0)
                break;
        if (i == g->n_globals)
            return BRINE_OK;
    }
    ld_set scratch, *set = &scratch;
    if (loading) {
        set = env->set;
        set->resolve = bytes;
        set->resolve_ctx = ctx;
        set->joblib = fmt_joblib_arrays(env, g);
        env->have_root = 1;
        env->root_graph = (pk_graph *)g;
    } else {
        ld_set_init(set, &sc->mem, &sc->limits, sizes, ctx);
        set->want_config = 0;
        set->joblib = fmt_joblib_arrays(env, g);
    }
    brine_error err;
    err_clear(&err);
    brine_status st = ld_collect(set, g, root, &err);
    for (size_t k = 0; !loading && st == BRINE_OK && k < set->n_tensors; k++) {
        const ld_tensor *t = &set->tensors[k];
        st = res_add_tensor(sc->result, t->name, t->dtype->st_name, t->ndim, t->shape, t->numel);
    }
    if (!loading)
        ld_set_free(set);
    if (st == BRINE_ERR_NOMEM || st == BRINE_OK || st == BRINE_ERR_UNSUPPORTED)
        return st == BRINE_ERR_NOMEM ? st : BRINE_OK;
    return scan_add_finding(sc, BRINE_INVALID, st == BRINE_ERR_LIMIT ? "limit" : "bad-tensor", NULL,
                            path, err.has_offset ? (int64_t)err.offset : -1, "%s", err.msg);
}

brine_status fmt_array(fmt_env *env, const char *name, const ld_dtype *dt, uint32_t ndim,
                       const int64_t *shape, int fortran, int big_endian, const uint8_t *data,
                       uint64_t nbytes)
{
    char buf[PATH_MAX_MEMBER];
    const char *full = name;
    if (!name) {
        size_t n = strlen(env->path);
        if (!n) {
            full = "array";
        } else {
            if (n >= 4 && memcmp(env->path + n - 4, ".npy", 4) == 0)
                n -= 4;
            snprintf(buf, sizeof buf, "%.*s", (int)n, env->path);
            full = buf;
        }
    } else if (env->path[0]) {
        full = member_path(env, name[0] ? name : NULL, buf, sizeof buf);
    }
    if (env->mode == DRV_DIS || ndim > LD_MAX_DIMS)
        return BRINE_OK;
    if (env->mode == DRV_LOAD) {
        brine_error err;
        brine_status st =
            ld_add_array(env->set, full, dt, ndim, shape, fortran, big_endian, data, nbytes, &err);
        if (st == BRINE_ERR_NOMEM || !st)
            return st;
        return scan_add_finding(env->sc, BRINE_INVALID,
                                st == BRINE_ERR_LIMIT ? "limit" : "bad-tensor", NULL,
                                env->path[0] ? env->path : NULL, -1, "%s", err.msg);
    }
    uint64_t numel = 1;
    for (uint32_t i = 0; i < ndim; i++)
        numel *= (uint64_t)shape[i];
    return res_add_tensor(env->sc->result, full, dt->st_name, ndim, shape, numel);
}

brine_status fmt_tensor(fmt_env *env, const char *name, const ld_dtype *dt, uint32_t ndim,
                        const uint64_t *shape, const uint8_t *data, uint64_t nbytes)
{
    int64_t dims[LD_MAX_DIMS];
    if (ndim > LD_MAX_DIMS)
        return BRINE_OK;
    for (uint32_t i = 0; i < ndim; i++)
        dims[i] = (int64_t)shape[i];
    return fmt_array(env, name ? name : "", dt, ndim, dims, 0, 0, data, nbytes);
}

brine_status fmt_sibling(fmt_env *env, const char *name, const uint8_t **data, size_t *len,
                         brine_error *err)
{
    if (jl_name_escapes((const uint8_t *)name, strlen(name)))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "%.200s leaves the folder", name);
    if (!env->dir)
        return err_set(err, BRINE_ERR_IO, __LINE__,
                       "%.200s is a separate file, and only bytes were given", name);
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", env->dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(err, BRINE_ERR_IO, __LINE__, "path of %.200s too long", name);
    return brine_map_file(path, data, len, err);
}

void fmt_sibling_release(const uint8_t *data, size_t len) { brine_unmap(data, len); }

const char *fmt_dir(const fmt_env *env)
{
    return env->depth == env->filter_depth ? env->dir : NULL;
}

/* ------------------------------------------------------------------ detection */

/* Model formats brine recognises by their magic but does not analyse yet: never `none`. */
typedef struct unsupported {
    const char *format; /* the format name scan reports */
    const char *what;
} unsupported;

static const unsupported *unsupported_format(const uint8_t *d, size_t n)
{
    static const unsupported tflite = {"tflite", "TensorFlow Lite flatbuffer"};
    if (n >= 8 && memcmp(d + 4, "TFL3", 4) == 0)
        return &tflite;
    return NULL;
}

static brine_status walk_file(fmt_env *env, const uint8_t *data, size_t len)
{
    scan_ctx *sc = env->sc;
    if ((uint64_t)len > sc->limits.max_input_bytes)
        return fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                           "limit max_input_bytes is %" PRIu64 ", the input has %zu bytes",
                           sc->limits.max_input_bytes, len);
    int bids[64];
    size_t n = 0;
    int headers_only = 0;
    for (; fmt_registry[n] && n < 64; n++) {
        bids[n] = fmt_registry[n]->bid(data, len);
        headers_only |= bids[n] > 0 && (strcmp(fmt_registry[n]->name, "zip") == 0 ||
                                        strcmp(fmt_registry[n]->name, "safetensors") == 0);
    }
    /* A large file is mapped without read-ahead (core/file.c) so that the bids cost a page
     * each; a zip or safetensors file is then read by its headers (those readers ask for
     * what they read whole), anything else from the start on. */
    if (!headers_only)
        file_advise_normal(data, len);
    int saved_bid = env->cur_bid;
    brine_status st = BRINE_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (bids[i] <= 0)
            continue;
        int included = 0;
        for (size_t k = 0; k < n; k++)
            included |= bids[k] > 0 && fmt_registry[k]->includes == fmt_registry[i];
        if (included)
            continue;
        env->cur_bid = bids[i];
        st = fmt_registry[i]->walk(env, data, len);
    }
    env->cur_bid = saved_bid;
    if (st)
        return st;
    const unsupported *u = unsupported_format(data, len);
    if (!u)
        return BRINE_OK;
    env->cur_bid = 1;
    fmt_set_format(env, u->format);
    env->cur_bid = saved_bid;
    return fmt_finding(env, BRINE_UNVERIFIED, "unsupported-format", NULL, -1,
                       "%s: a model format brine recognises but does not analyse yet; its "
                       "loader may run code",
                       u->what);
}

brine_status fmt_file(fmt_env *env, const char *member, const uint8_t *data, size_t len)
{
    scan_ctx *sc = env->sc;
    if (env->depth >= sc->limits.max_nested)
        return fmt_finding(env, BRINE_INVALID, "limit", member, -1,
                           "files nested deeper than max_nested=%" PRIu64
                           ": what is inside is not read",
                           sc->limits.max_nested);
    char saved[PATH_MAX_MEMBER];
    memcpy(saved, env->path, sizeof saved);
    char buf[PATH_MAX_MEMBER];
    const char *path = member_path(env, member, buf, sizeof buf);
    snprintf(env->path, sizeof env->path, "%s", path ? path : "");
    env->depth++;
    brine_status st = walk_file(env, data, len);
    env->depth--;
    memcpy(env->path, saved, sizeof saved);
    return st;
}

/* Bytes a judged callable unpickles: torch.load reads them like a file; pickle.loads as one
 * plain pickle. */
static brine_status nested_bytes(scan_ctx *sc, const uint8_t *data, size_t len, const char *member,
                                 int as_file)
{
    fmt_env *env = sc->env;
    char saved[PATH_MAX_MEMBER];
    memcpy(saved, env->path, sizeof saved);
    /* the judge already composed the member path: it replaces the current one */
    snprintf(env->path, sizeof env->path, "%s", member ? member : "");
    unsigned depth = env->depth;
    env->depth = 1; /* nested bytes never name the top-level format */
    brine_status st;
    if (as_file) {
        st = walk_file(env, data, len);
    } else {
        fmt_pickle p = {NULL, data, len, 0, 1, PID_NONE, FMT_P_SNIFF, NULL, NULL, FMT_PICKLE};
        pk_graph *g;
        int inert;
        st = fmt_run_pickle(env, &p, &g, &inert);
        fmt_graph_free(env, g);
    }
    env->depth = depth;
    memcpy(env->path, saved, sizeof saved);
    return st;
}

/* ------------------------------------------------------------------ entry points */

brine_status drv_run(const uint8_t *data, size_t len, const char *dir,
                     const brine_scan_options *opts, drv_mode mode, ld_set *set, const drv_dis *dis,
                     drv_run_out *out, brine_error *err)
{
    memset(out, 0, sizeof *out);
    scan_ctx *sc = calloc(1, sizeof *sc);
    fmt_env *env = calloc(1, sizeof *env);
    if (!sc || !env) {
        free(sc);
        free(env);
        return ERR_NOMEM(err);
    }
    lim_resolve(opts ? opts->limits : NULL, &sc->limits);
    sc->policy = opts && opts->policy ? opts->policy : pol_default();
    mem_budget_init(&sc->mem, sc->limits.max_memory);
    sc->nested = nested_bytes;
    sc->env = env;
    sc->result = res_new();
    env->sc = sc;
    env->mode = mode;
    env->set = set;
    env->dis = dis;
    env->dir = dir;
    brine_status st = sc->result ? BRINE_OK : BRINE_ERR_NOMEM;
    if (!st) {
        sc->result->format = "none";
        st = walk_file(env, data, len);
    }
    hmap_free(&sc->nested_seen);
    if (st == BRINE_ERR_NOMEM && sc->mem.exhausted) {
        /* the budget, not the machine, ran out: that is a limit finding about the file */
        st = scan_add_finding(sc, BRINE_INVALID, "limit", NULL, NULL, -1,
                              "limit max_memory is %" PRIu64 ": the file needs more to scan",
                              sc->limits.max_memory);
    }
    if (st || mode != DRV_LOAD)
        release_held(env);
    if (st) {
        brine_result_free(sc->result);
        sc->result = NULL;
        st = st == BRINE_ERR_NOMEM ? ERR_NOMEM(err) : err_set(err, st, __LINE__, "scan failed");
    } else {
        res_finish(sc->result);
        out->result = sc->result;
        out->dis_found = env->dis_done;
        out->load_err = env->load_err;
    }
    out->ctx = sc;
    out->env = env;
    return st;
}

void drv_release(drv_run_out *out)
{
    scan_ctx *sc = out->ctx;
    fmt_env *env = out->env;
    if (env) {
        pk_graph *g = env->root_graph;
        env->root_graph = NULL;
        fmt_graph_free(env, g);
        release_held(env);
        mem_free(&sc->mem, env->jls, env->cap_jls * sizeof *env->jls);
        free(env);
    }
    free(sc);
    memset(out, 0, sizeof *out);
}

brine_status brine_scan_bytes(const uint8_t *data, size_t len, const brine_scan_options *opts,
                              brine_result **out, brine_error *err)
{
    if (!out || (!data && len))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_scan_bytes: NULL argument");
    *out = NULL;
    drv_run_out run;
    brine_status st = drv_run(data, len, NULL, opts, DRV_SCAN, NULL, NULL, &run, err);
    *out = run.result;
    drv_release(&run);
    return st;
}

/* The folder of path ("." for a bare name), in buf. */
const char *drv_dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return NULL;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return buf;
}

brine_status brine_scan_file(const char *path, const brine_scan_options *opts, brine_result **out,
                             brine_error *err)
{
    if (!path || !out)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_scan_file: NULL argument");
    *out = NULL;
    const uint8_t *data;
    size_t len;
    brine_status st = brine_map_file(path, &data, &len, err);
    if (st)
        return st;
    char dir[4096];
    drv_run_out run;
    st = drv_run(data, len, drv_dir_of(path, dir, sizeof dir), opts, DRV_SCAN, NULL, NULL, &run,
                 err);
    *out = run.result;
    drv_release(&run);
    brine_unmap(data, len);
    return st;
}

/* ------------------------------------------------------------------ dis --member */

typedef struct member_list {
    char names[64][PATH_MAX_MEMBER];
    size_t n, total;
    int has_file; /* the file itself is read as a pickle */
} member_list;

static void note_member(void *ctx, const char *path)
{
    member_list *l = ctx;
    if (!path) {
        l->has_file = 1;
        return;
    }
    l->total++;
    if (l->n < 64)
        snprintf(l->names[l->n++], PATH_MAX_MEMBER, "%s", path);
}

brine_status brine_dis_member(const uint8_t *data, size_t len, const char *member,
                              brine_dis_format format, const brine_limits *limits,
                              brine_write_fn write, void *ctx, brine_error *err)
{
    if ((!data && len) || !write)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_dis_member: NULL argument");
    brine_scan_options so = {.limits = limits};
    member_list *l = calloc(1, sizeof *l);
    if (!l)
        return ERR_NOMEM(err);
    /* first the list of pickles the file holds, then the one asked for */
    drv_dis list = {NULL, format, NULL, l, note_member};
    drv_run_out run;
    brine_status st = drv_run(data, len, NULL, &so, DRV_DIS, NULL, &list, &run, err);
    const char *format_name = run.result ? brine_result_format(run.result) : "none";
    brine_result_free(run.result);
    drv_release(&run);
    const char *target = member;
    int found = 0;
    for (size_t i = 0; !st && member && i < l->n; i++)
        found |= strcmp(l->names[i], member) == 0;
    if (!st && !member && !l->has_file && l->total == 1) {
        target = l->names[0];
        found = 1;
    }
    if (!st && (member ? found : (l->has_file || found))) {
        drv_dis one = {target, format, write, ctx, NULL};
        st = drv_run(data, len, NULL, &so, DRV_DIS, NULL, &one, &run, err);
        brine_result_free(run.result);
        drv_release(&run);
    } else if (!st) {
        char names[1024] = "";
        size_t at = 0;
        for (size_t i = 0; i < l->n && at < sizeof names - 1; i++) {
            int w = snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", l->names[i]);
            at += w > 0 ? (size_t)w : 0;
        }
        if (!l->total && !member)
            /* nothing any loader reads as a pickle: listed as one, up to where it fails */
            st = brine_dis(data, len, format, limits, write, ctx, err);
        else if (!l->total)
            st = err_set(err, BRINE_ERR_USAGE, __LINE__,
                         "no pickle member %s: the file reads as %s and holds no pickle", member,
                         format_name);
        else
            st = err_set(err, member ? BRINE_ERR_USAGE : BRINE_ERR_UNSUPPORTED, __LINE__,
                         "%s%s%s; the %s holds %zu pickle%s: %.700s%s",
                         member ? "no pickle member " : "",
                         member ? member : "choose a pickle with --member",
                         member ? " in the file" : "", format_name, l->total,
                         l->total == 1 ? "" : "s", names, l->total > l->n ? ", …" : "");
    }
    free(l);
    return st;
}
