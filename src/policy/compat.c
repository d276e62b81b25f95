/*
 * compat.c — `brine inspect --compat`: which library releases a pickle was written by and
 * whether it will load in another release, from the generated profile tables alone.
 *
 * A pickle names every class and function it needs; a release can load it only if each of
 * them exists there. The tables (src/policy/profiles/<lib>-<release>.def) list what pickles of
 * that release's objects reference, so a name of the library missing from the target's table
 * is reported — as "moved" when scikit-learn's own list of the modules 0.22 made private
 * names it (sklearn-0.2x.def), as "absent" otherwise. The versions come from the file: the
 * `_sklearn_version` scikit-learn writes into every estimator's state, XGBoost's model
 * "version" and LightGBM's "version=" line, the torch archive's format version, the pickle
 * protocol, numpy.core vs numpy._core, Python 2 names.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brine.h"
#include "core/error.h"
#include "formats/zip.h"
#include "load/model.h"

typedef struct release_table {
    const char *lib, *release;
    const char *const *names;
    size_t n;
    const char *numpy; /* the numpy the table was generated with (the release's own) */
} release_table;

#define CLASS(name)     name,
#define FUNC(name, why) name,
#define ESTIMATOR(name) name,
#define MOVED(old, new, deprecated, removed)
static const char *const sk_1_1[] = {
#include "policy/profiles/sklearn-1.1.def"
};
static const char *const sk_1_2[] = {
#include "policy/profiles/sklearn-1.2.def"
};
static const char *const sk_1_3[] = {
#include "policy/profiles/sklearn-1.3.def"
};
static const char *const sk_1_5[] = {
#include "policy/profiles/sklearn-1.5.def"
};
static const char *const sk_1_9[] = {
#include "policy/profiles/sklearn-1.9.def"
};
static const char *const sk_0_2x[] = {
#include "policy/profiles/sklearn-0.2x.def"
};
static const char *const np_1_24[] = {
#include "policy/profiles/numpy-1.24.def"
};
static const char *const np_2_4[] = {
#include "policy/profiles/numpy-2.4.def"
};
static const char *const xgb_2_1[] = {
#include "policy/profiles/xgboost-2.1.def"
};
static const char *const xgb_3_2[] = {
#include "policy/profiles/xgboost-3.2.def"
};
static const char *const lgb_4_7[] = {
#include "policy/profiles/lightgbm-4.7.def"
};
static const char *const torch_1_13[] = {
#include "policy/profiles/torch-1.13.def"
};
static const char *const torch_2_13[] = {
#include "policy/profiles/torch-2.13.def"
};
#undef CLASS
#undef FUNC
#undef ESTIMATOR
#undef MOVED

typedef struct moved_module {
    const char *old_module, *new_module, *deprecated, *removed;
} moved_module;

static const moved_module moved[] = {
#define CLASS(name)
#define FUNC(name, why)
#define ESTIMATOR(name)
#define MOVED(old, new, deprecated, removed) {old, new, deprecated, removed},
#include "policy/profiles/sklearn-0.2x.def"
#undef CLASS
#undef FUNC
#undef ESTIMATOR
#undef MOVED
};

#define T(lib, rel, arr, np)                                                                       \
    {                                                                                              \
        lib, rel, arr, sizeof arr / sizeof arr[0], np                                              \
    }
static const release_table tables[] = {
    T("sklearn", "0.2x", sk_0_2x, "1.17"), T("sklearn", "1.1", sk_1_1, "1.23"),
    T("sklearn", "1.2", sk_1_2, "1.24"),   T("sklearn", "1.3", sk_1_3, "1.26"),
    T("sklearn", "1.5", sk_1_5, "2.0"),    T("sklearn", "1.9", sk_1_9, "2.4"),
    T("numpy", "1.24", np_1_24, "1.24"),   T("numpy", "2.4", np_2_4, "2.4"),
    T("xgboost", "2.1", xgb_2_1, "1.26"),  T("xgboost", "3.2", xgb_3_2, "2.4"),
    T("lightgbm", "4.7", lgb_4_7, "2.4"),  T("torch", "1.13", torch_1_13, "1.24"),
    T("torch", "2.13", torch_2_13, "2.4"),
};
#undef T

/* State layouts that changed while the class names stayed: a name check cannot see them.
 * From the cross-release runs of tests/python/test_sklearn_compat.py (1.1, 1.2, 1.3, 1.5, 1.9)
 * and the changelogs: `older` — files written before `release` fail in it and later ones;
 * `newer` — files written from `release` on fail before it. */
typedef struct layout_change {
    const char *global, *release;
    int older, newer;
    const char *why;
    const char *works_again; /* readers from this release on cope again (NULL: none seen) */
} layout_change;

static const layout_change layout_changes[] = {
    {"sklearn.tree._tree.Tree", "1.3", 1, 1,
     "the tree node record gained missing_go_to_left in 1.3: node arrays do not load across it",
     NULL},
    {"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", "1.3", 1, 1,
     "the predictor node record changed in 1.3: predict fails across it", NULL},
    {"sklearn.tree._classes.DecisionTreeClassifier", "1.4", 1, 0,
     "trees written before 1.4 lack monotonic_cst: predict fails from 1.4 on", NULL},
    {"sklearn.tree._classes.DecisionTreeRegressor", "1.4", 1, 0,
     "trees written before 1.4 lack monotonic_cst: predict fails in 1.5 (1.6-1.8 not measured), "
     "not in 1.9",
     "1.9"},
    {"sklearn.linear_model._logistic.LogisticRegression", "1.5", 0, 1,
     "multi_class became 'deprecated' in 1.5: releases before it mispredict", NULL},
    {"sklearn.linear_model._logistic.LogisticRegression", "1.7", 0, 1,
     "multi_class was removed in 1.7 (sklearn 1.5 deprecation): older releases fail to predict",
     NULL},
    {"sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
     "1.4", 1, 0, "models written before 1.4 lack _preprocessor: predict fails from 1.4 on", NULL},
    {"sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
     "1.4", 1, 0, "models written before 1.4 lack _preprocessor: predict fails from 1.4 on", NULL},
    /* From the independent run (tests/python/test_compat_independent.py, 2026-12-05): these
     * rows were added after it, so that run no longer tests them independently. */
    {"sklearn.tree._classes.ExtraTreeClassifier", "1.4", 1, 0,
     "trees written before 1.4 lack monotonic_cst: predict_proba differs from 1.4 on", NULL},
    {"sklearn.compose._column_transformer.ColumnTransformer", "1.2", 1, 0,
     "transformers written before 1.2 lack _name_to_fitted_passthrough: transform fails", NULL},
    {"sklearn.compose._column_transformer.ColumnTransformer", "1.4", 0, 1,
     "transformers written from 1.4 on lack what 1.2 and 1.3 read: transform fails there", NULL},
    {"sklearn.preprocessing._encoders.OneHotEncoder", "1.3", 1, 0,
     "encoders written before 1.3 lack _drop_idx_after_grouping: transform fails from 1.3 on",
     NULL},
    {"sklearn.ensemble._weight_boosting.AdaBoostClassifier", "1.6", 1, 0,
     "SAMME.R (the default before 1.6) is gone from 1.6 on: predictions differ", NULL},
    {"sklearn.ensemble._weight_boosting.AdaBoostClassifier", "1.6", 0, 1,
     "models written from 1.6 on have no algorithm attribute: older releases fail to predict",
     NULL},
};

/* "1.5.2" and "1.5" name table "1.5" (a release line) */
static const release_table *find_table(const char *lib, const char *release)
{
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        size_t n = strlen(tables[i].release);
        if (strcmp(tables[i].lib, lib) == 0 && strncmp(tables[i].release, release, n) == 0 &&
            (release[n] == 0 || release[n] == '.'))
            return &tables[i];
    }
    return NULL;
}

static int table_has_exact(const release_table *t, const char *full)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->names[i], full) == 0)
            return 1;
    return 0;
}

/* Cython 3 registers sklearn._loss._loss also as `_loss`: a table that recorded the short name
 * has the long one too. */
static int table_has(const release_table *t, const char *full)
{
    if (table_has_exact(t, full))
        return 1;
    if (strncmp(full, "sklearn._loss._loss.", 20) == 0) {
        char shortname[256];
        snprintf(shortname, sizeof shortname, "_loss.%s", full + 20);
        return table_has_exact(t, shortname);
    }
    return 0;
}

static int table_has_prefix(const release_table *t, const char *prefix)
{
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->names[i], prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

/* major*1000 + minor of "1.5.2" (0 when unparsable) */
static int version_key(const char *v)
{
    int part[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        if (*v < '0' || *v > '9')
            return k ? part[0] * 1000 : 0;
        while (*v >= '0' && *v <= '9' && part[k] < 100000)
            part[k] = part[k] * 10 + (*v++ - '0');
        if (*v == '.')
            v++;
        else
            break;
    }
    return part[0] * 1000 + part[1];
}

static const moved_module *moved_of(const char *full)
{
    for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
        size_t n = strlen(moved[i].old_module);
        if (strncmp(full, moved[i].old_module, n) == 0 && full[n] == '.')
            return &moved[i];
    }
    return NULL;
}

/* The library a global belongs to, as the tables name it, or NULL. Cython 3's short module
 * names (`_loss.`) belong to scikit-learn. */
static const char *lib_of(const char *full)
{
    static const char *const libs[] = {"sklearn", "numpy", "xgboost", "lightgbm", "torch"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        size_t n = strlen(libs[i]);
        if (strncmp(full, libs[i], n) == 0 && full[n] == '.')
            return libs[i];
    }
    return strncmp(full, "_loss.", 6) == 0 ? "sklearn" : NULL;
}

/* ------------------------------------------------------------------ what the file records */

static void add_unique(json_t *arr, const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (json_equal(x, v))
    {
        json_decref(v);
        return;
    }
    json_array_append_new(arr, v);
}

static int is_text_node(const pk_node *n, const char *z)
{
    size_t zl = strlen(z);
    return (n->kind == K_STR || n->kind == K_PYSTR) && n->v.s.len == zl &&
           memcmp(n->v.s.p, z, zl) == 0;
}

/* _sklearn_version values of every dict in the graph (each estimator's state has one). */
static void sklearn_versions(const pk_graph *g, json_t *out)
{
    for (size_t i = 1; i < g->n_nodes; i++) {
        const pk_node *d = pk_at(g, (pk_id)i);
        if (d->kind != K_DICT)
            continue;
        for (uint32_t k = 0; k + 1 < d->count; k += 2) {
            const pk_node *v = pk_at(g, d->items[k + 1]);
            if (is_text_node(pk_at(g, d->items[k]), "_sklearn_version") && v->kind == K_STR &&
                v->v.s.len < 32)
                add_unique(out, (const char *)v->v.s.p, (size_t)v->v.s.len);
        }
    }
}

/* LightGBM's model string starts "tree\nversion=v4\n". */
static void lightgbm_versions(const pk_graph *g, json_t *out)
{
    for (size_t i = 1; i < g->n_nodes; i++) {
        const pk_node *s = pk_at(g, (pk_id)i);
        if (s->kind != K_STR || s->v.s.len < 16 || memcmp(s->v.s.p, "tree\nversion=", 13) != 0)
            continue;
        size_t n = 0;
        while (13 + n < s->v.s.len && n < 16 && s->v.s.p[13 + n] != '\n')
            n++;
        add_unique(out, (const char *)s->v.s.p + 13, n);
    }
}

/* XGBoost's snapshot ends its "Model" with "version":[L major, L minor, L patch] in UBJSON;
 * found by its key, bounded by the buffer. */
static void xgboost_versions(const pk_graph *g, json_t *out)
{
    static const uint8_t key[] = {'L', 0, 0, 0, 0, 0, 0, 0, 7, 'v', 'e', 'r', 's', 'i', 'o', 'n'};
    for (size_t i = 1; i < g->n_nodes; i++) {
        const pk_node *b = pk_at(g, (pk_id)i);
        if ((b->kind != K_BYTES && b->kind != K_BYTEARRAY) || b->v.s.len < 64 || b->v.s.p[0] != '{')
            continue;
        const uint8_t *p = b->v.s.p, *end = p + b->v.s.len;
        for (const uint8_t *q = p; (size_t)(end - q) >= sizeof key + 4; q++) {
            if (memcmp(q, key, sizeof key) != 0)
                continue;
            const uint8_t *v = q + sizeof key;
            /* '[' then three integers, each 'L' + 8 bytes or 'i'/'U' + 1 byte */
            if (*v++ != '[')
                break;
            if (end - v >= 10 && v[0] == '#' && v[1] == 'L') /* counted: [#L<count> */
                v += 10;
            long parts[3];
            int ok = 1;
            for (int k = 0; k < 3 && ok; k++) {
                if (v < end && (*v == 'i' || *v == 'U') && end - v >= 2) {
                    parts[k] = v[1];
                    v += 2;
                } else if (v < end && *v == 'L' && end - v >= 9) {
                    parts[k] = v[8] | v[7] << 8;
                    v += 9;
                } else {
                    ok = 0;
                }
            }
            if (ok) {
                char buf[48];
                int n = snprintf(buf, sizeof buf, "%ld.%ld.%ld", parts[0], parts[1], parts[2]);
                add_unique(out, buf, (size_t)n);
            }
            break;
        }
    }
}

/* The torch archive's format version. A torch zip records it in `<root>/.data/version`, read
 * first as torch's PyTorchStreamReader does, or `<root>/version` ("3\n" from torch.save); a
 * legacy file in its second pickle (the protocol version, 1001). Measured with torch 1.13 and
 * 2.13 (tests/python/test_compat_torch.py): both read zip versions 1 to 10
 * (kMaxSupportedFileFormatVersion 0xA) and refuse 0 and 11 on; the legacy reader accepts 1001
 * only. */
enum { TORCH_ZIP_MIN = 1, TORCH_ZIP_MAX = 10, TORCH_LEGACY_PROTOCOL = 1001 };

/* 1 when name is "<one path component>/<rec>" */
static int is_root_record(const zip_entry *e, const char *rec)
{
    size_t n = strlen(rec);
    if (e->name_len <= n + 1 || memcmp(e->name + e->name_len - n, rec, n) != 0 ||
        e->name[e->name_len - n - 1] != '/')
        return 0;
    for (size_t i = 0; i + n + 1 < e->name_len; i++)
        if (e->name[i] == '/')
            return 0;
    return 1;
}

/* {"record", "version"} of a torch zip, {"record": "legacy protocol", "version"} of a legacy
 * file, or NULL. *version is -1 when the record holds no number. */
static json_t *torch_archive(const brine_model *m, long long *version)
{
    *version = -1;
    const pk_graph *g = m->set.g;
    if (strcmp(m->format, "pytorch-legacy") == 0 && g && g->n_pickles >= 2) {
        int64_t v;
        if (g->pickles[1].root && pk_int_of(g, g->pickles[1].root, &v))
            *version = v;
        return json_pack("{s:s,s:o}", "record", "legacy protocol", "version",
                         *version >= 0 ? json_integer(*version) : json_null());
    }
    if (strcmp(m->format, "pytorch-zip") != 0 || !m->map)
        return NULL;
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(64) << 20);
    zip_archive *za = NULL;
    brine_error err;
    json_t *out = NULL;
    if (zip_open(m->map, m->map_len, &m->lim, &mem, &za, &err) != BRINE_OK)
        return NULL;
    long at = -1;
    for (int pass = 0; pass < 2 && at < 0; pass++)
        for (size_t i = 0; i < zip_count(za) && at < 0; i++)
            if (is_root_record(zip_entry_at(za, i), pass ? "version" : ".data/version"))
                at = (long)i;
    const uint8_t *data = NULL;
    size_t len = 0;
    int owned = 0;
    if (at >= 0 && zip_entry_at(za, (size_t)at)->usize <= 64 &&
        zip_read(za, (size_t)at, 0, &data, &len, &owned, &err) == BRINE_OK) {
        long long v = 0;
        size_t i = 0;
        while (i < len && data[i] >= '0' && data[i] <= '9' && v < 1000000000)
            v = v * 10 + (data[i++] - '0');
        while (i < len && (data[i] == '\n' || data[i] == '\r' || data[i] == ' '))
            i++;
        *version = i && i == len ? v : -1;
        const zip_entry *e = zip_entry_at(za, (size_t)at);
        out = json_pack("{s:s%,s:o}", "record", (const char *)e->name, e->name_len, "version",
                        *version >= 0 ? json_integer(*version) : json_null());
        zip_release(za, data, len, owned);
    }
    zip_close(za);
    return out;
}

/* ------------------------------------------------------------------ the report */

static const char *first_sklearn_version(const pk_graph *g, char *buf, size_t cap)
{
    json_t *v = json_array();
    sklearn_versions(g, v);
    const char *s = json_string_value(json_array_get(v, 0));
    if (s)
        snprintf(buf, cap, "%s", s);
    json_decref(v);
    return s ? buf : NULL;
}

/* What a release with table t cannot read although it has every name: numpy._core names under
 * numpy 1, numpy.random pickles in a newer numpy's form, state layouts that changed. */
static void sklearn_state_checks(const pk_graph *g, const release_table *t, json_t *problems)
{
    int np_target = version_key(t->numpy), core2 = 0;
    for (size_t i = 0; i < g->n_globals; i++)
        core2 |= strncmp(g->globals[i].full, "numpy._core.", 12) == 0;
    /* numpy 1.26 already answers to numpy._core (a forward-compatibility alias) */
    if (core2 && np_target < 1026 && !table_has_prefix(t, "numpy._core."))
        json_array_append_new(
            problems, json_pack("{s:s,s:s,s:s}", "global", "numpy._core", "status", "absent", "why",
                                "written with numpy >= 2; this release runs numpy < 1.26"));
    for (size_t i = 1; i < g->n_nodes; i++) {
        const pk_node *n = pk_at(g, (pk_id)i);
        const pk_node *fn = n->kind == K_CALL && n->a ? pk_at(g, n->a) : NULL;
        const pk_node *args = fn && pk_args(n) ? pk_at(g, pk_args(n)) : NULL;
        if (!fn || fn->kind != K_GLOBAL || !args || args->kind != K_TUPLE)
            continue;
        const char *name = g->globals[fn->v.g.global].full;
        if (strncmp(name, "numpy.random._pickle.__", 23) != 0)
            continue;
        int class_arg = 0;
        for (uint32_t k = 0; k < args->count; k++) { /* numpy 2 passes the bit generator class */
            const pk_node *a = pk_at(g, args->items[k]);
            class_arg |= a->kind == K_GLOBAL &&
                         !strstr(g->globals[a->v.g.global].full, "numpy.random._pickle.");
        }
        const char *need =
            class_arg && np_target < 2000                                                ? "2.0"
            : strstr(name, "__randomstate_ctor") && args->count == 2 && np_target < 1024 ? "1.24"
                                                                                         : NULL;
        if (need) {
            json_array_append_new(problems, json_pack("{s:s,s:s,s:s,s:s}", "global", name, "status",
                                                      "changed", "needs_numpy", need, "why",
                                                      "a random state pickled by a newer numpy"));
            break;
        }
    }
    char buf[32];
    const char *written = first_sklearn_version(g, buf, sizeof buf);
    int w = written ? version_key(written) : 0, r = version_key(t->release);
    for (size_t k = 0; w && k < sizeof layout_changes / sizeof layout_changes[0]; k++) {
        const layout_change *c = &layout_changes[k];
        int b = version_key(c->release);
        int crosses = (c->older && w < b && r >= b) || (c->newer && w >= b && r < b);
        if (c->works_again && r >= version_key(c->works_again))
            crosses = 0;
        for (size_t i = 0; crosses && i < g->n_globals; i++)
            if (strcmp(g->globals[i].full, c->global) == 0) {
                json_array_append_new(problems,
                                      json_pack("{s:s,s:s,s:s,s:s}", "global", c->global, "status",
                                                "changed", "in", c->release, "why", c->why));
                break;
            }
    }
}

/* Python 2 and 3 name the standard library differently. CPython 3's unpickler maps Python 2
 * names (_compat_pickle) only below protocol 3; brine's graph holds the names after that
 * mapping (pk_global.mapped). What is left that a Python 3 cannot import: a module only
 * Python 2 has (any protocol >= 3 spelling, or one _compat_pickle does not map), or a
 * Python 2 builtin that _compat_pickle does not map (`__builtin__.file` becomes
 * `builtins.file`). Python 2 cannot import Python 3 module names (a Python 3 pickler writes
 * Python 2 spellings below protocol 3 only). From CPython 3.11's Lib/_compat_pickle.py;
 * checked against its find_class in tests/python/test_compat_python.py. */
static const char *const py2_only_modules[] = {
    "__builtin__",
    "copy_reg",
    "exceptions",
    "cPickle",
    "cStringIO",
    "StringIO",
    "UserDict",
    "UserList",
    "UserString",
    "sets",
    "new",
    "md5",
    "sha",
    "commands",
    "popen2",
    "urllib2",
    "urlparse",
    "Queue",
    "ConfigParser",
    "HTMLParser",
    "httplib",
    "cookielib",
    "Cookie",
    "Tkinter",
    "thread",
    "dummy_thread",
    "repr",
    "anydbm",
    "whichdb",
    "dbhash",
    "dumbdbm",
    "gdbm",
    "xmlrpclib",
    "SocketServer",
    "SimpleHTTPServer",
    "BaseHTTPServer",
    "htmlentitydefs",
    "markupbase",
    "mimetools",
    "rfc822",
    "robotparser",
};
static const char *const py2_only_builtins[] = {
    "file",       "execfile", "apply",  "buffer",    "cmp",    "coerce", "unicode", "long",
    "basestring", "xrange",   "unichr", "raw_input", "reduce", "intern", "reload",  "StandardError",
};
static const char *const py3_only_modules[] = {
    "builtins",      "copyreg",         "queue", "socketserver", "configparser", "reprlib",
    "_thread",       "tkinter",         "http",  "xmlrpc",       "html",         "dbm",
    "_dummy_thread", "collections.abc",
};

static int in_module(const char *full, const char *module)
{
    size_t n = strlen(module);
    return strncmp(full, module, n) == 0 && full[n] == '.';
}

static void python_name_check(const pk_global *gl, int v, json_t *problems)
{
    const char *why = NULL;
    if (v >= 3000) {
        for (size_t k = 0; !why && k < sizeof py2_only_modules / sizeof py2_only_modules[0]; k++)
            if (in_module(gl->full, py2_only_modules[k]))
                why = "a Python 2 module: Python 3 maps it only below protocol 3, if at all";
        for (size_t k = 0; !why && k < sizeof py2_only_builtins / sizeof py2_only_builtins[0]; k++)
            if (in_module(gl->full, "builtins") && strcmp(gl->name, py2_only_builtins[k]) == 0)
                why = "a Python 2 builtin Python 3 does not have";
    } else if (!gl->mapped) {
        for (size_t k = 0; !why && k < sizeof py3_only_modules / sizeof py3_only_modules[0]; k++)
            if (in_module(gl->full, py3_only_modules[k]))
                why = "a Python 3 module: Python 2 cannot import it";
    }
    if (why)
        json_array_append_new(problems, json_pack("{s:s,s:s,s:s}", "global", gl->full, "status",
                                                  "absent", "why", why));
}

static json_t *check_target(const brine_model *m, const char *lib, const char *release,
                            brine_error *err, brine_status *st)
{
    const pk_graph *g = m->set.g;
    json_t *o = json_object(), *problems = json_array();
    json_object_set_new(o, "target", json_sprintf("%s==%s", lib, release));
    int numpy_major = strcmp(lib, "numpy") == 0 ? version_key(release) / 1000 : 0;
    const release_table *t = NULL;
    if (strcmp(lib, "numpy") != 0 && strcmp(lib, "python") != 0 &&
        !(t = find_table(lib, release))) {
        *st = err_set(err, BRINE_ERR_USAGE, __LINE__,
                      "no table for %s %s (tables: sklearn 0.2x 1.1 1.2 1.3 1.5 1.9, numpy 1 2, "
                      "xgboost 2.1 3.2, lightgbm 4.7, torch 1.13 2.13, python 3)",
                      lib, release);
        json_decref(o);
        json_decref(problems);
        return NULL;
    }
    for (size_t i = 0; i < g->n_globals; i++) {
        const char *full = g->globals[i].full;
        const char *owner = lib_of(full);
        if (numpy_major == 1 && strncmp(full, "numpy._core.", 12) == 0)
            json_array_append_new(problems, json_pack("{s:s,s:s,s:s}", "global", full, "status",
                                                      "absent", "why",
                                                      "numpy._core exists from numpy 2.0 on: "
                                                      "numpy 1.x cannot import it"));
        if (strcmp(lib, "python") == 0) {
            python_name_check(&g->globals[i], version_key(release), problems);
            continue;
        }
        if (!t || !owner || strcmp(owner, lib) != 0 || table_has(t, full))
            continue;
        /* torch's tables hold the module classes; tensors and storages are the default's */
        if (strcmp(lib, "torch") == 0 && strncmp(full, "torch.nn.", 9) != 0)
            continue;
        const moved_module *mv = lib[0] == 's' ? moved_of(full) : NULL;
        if (mv && version_key(release) < version_key(mv->removed)) {
            continue; /* still importable under its old name (with a warning) */
        } else if (mv) {
            json_array_append_new(problems,
                                  json_pack("{s:s,s:s,s:s,s:s,s:s}", "global", full, "status",
                                            "moved", "module", mv->old_module, "to", mv->new_module,
                                            "removed_in", mv->removed));
        } else {
            json_array_append_new(problems,
                                  json_pack("{s:s,s:s}", "global", full, "status", "absent"));
        }
    }
    if (strcmp(lib, "python") == 0) {
        int v = version_key(release), proto = 0;
        for (size_t k = 0; k < g->n_pickles; k++)
            proto = g->pickles[k].proto > proto ? g->pickles[k].proto : proto;
        /* pickle.py's Unpickler refuses a PROTO above its HIGHEST_PROTOCOL */
        int highest = v >= 3008 ? 5 : v >= 3004 ? 4 : v >= 3000 ? 3 : 2;
        if (proto > highest)
            json_array_append_new(problems, json_pack("{s:s,s:i,s:i}", "status", "protocol",
                                                      "protocol", proto, "highest", highest));
    }
    if (t && strcmp(lib, "sklearn") == 0)
        sklearn_state_checks(g, t, problems);
    long long tv;
    json_t *arch = strcmp(lib, "torch") == 0 ? torch_archive(m, &tv) : NULL;
    if (arch) {
        int legacy = strcmp(m->format, "pytorch-legacy") == 0;
        if (legacy ? tv != TORCH_LEGACY_PROTOCOL : tv < TORCH_ZIP_MIN || tv > TORCH_ZIP_MAX)
            json_array_append_new(
                problems,
                json_pack("{s:s,s:O,s:s}", "status", "archive-version", "archive", arch, "why",
                          legacy ? "torch's legacy reader accepts protocol version 1001 only"
                                 : "torch reads archive versions 1 to 10"));
        json_decref(arch);
    }
    json_object_set_new(o, "loads", json_boolean(json_array_size(problems) == 0));
    json_object_set_new(o, "problems", problems);
    return o;
}

char *brine_model_compat_json(const brine_model *m, const char *target, brine_error *err)
{
    const pk_graph *g = m ? m->set.g : NULL;
    if (!g) {
        err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__, "no pickle: nothing to check");
        return NULL;
    }
    json_t *doc = json_object(), *sk = json_array(), *xgb = json_array(), *lgb = json_array();
    json_t *py2 = json_array();
    int proto = 0, np_core = 0, np_core2 = 0;
    for (size_t k = 0; k < g->n_pickles; k++)
        proto = g->pickles[k].proto > proto ? g->pickles[k].proto : proto;
    for (size_t i = 0; i < g->n_globals; i++) {
        np_core |= strncmp(g->globals[i].full, "numpy.core.", 11) == 0;
        np_core2 |= strncmp(g->globals[i].full, "numpy._core.", 12) == 0;
        if (g->globals[i].mapped)
            add_unique(py2, g->globals[i].full, strlen(g->globals[i].full));
    }
    sklearn_versions(g, sk);
    xgboost_versions(g, xgb);
    lightgbm_versions(g, lgb);
    json_object_set_new(doc, "format", json_string(m->format));
    json_object_set_new(doc, "protocol", json_integer(proto));
    json_object_set_new(doc, "sklearn_version", sk);
    json_object_set_new(doc, "xgboost_version", xgb);
    json_object_set_new(doc, "lightgbm_version", lgb);
    long long torch_version;
    json_t *arch = torch_archive(m, &torch_version);
    json_object_set_new(doc, "torch_archive", arch ? arch : json_null());
    json_object_set_new(doc, "numpy_names",
                        json_string(np_core && np_core2 ? "both"
                                    : np_core2          ? "numpy._core (numpy >= 2)"
                                    : np_core           ? "numpy.core (numpy 1.x)"
                                                        : "none"));
    json_object_set_new(doc, "python2_names", py2);
    brine_status st = BRINE_OK;
    if (target) {
        char lib[32];
        const char *eq = strstr(target, "==");
        if (!eq || eq == target || (size_t)(eq - target) >= sizeof lib || !eq[2]) {
            err_set(err, BRINE_ERR_USAGE, __LINE__, "--target %.100s: expected LIB==VERSION",
                    target);
            json_decref(doc);
            return NULL;
        }
        memcpy(lib, target, (size_t)(eq - target));
        lib[eq - target] = 0;
        json_t *c = check_target(m, lib, eq + 2, err, &st);
        if (!c) {
            json_decref(doc);
            return NULL;
        }
        json_object_set_new(doc, "check", c);
    }
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        ERR_NOMEM(err);
    return text;
}
