/*
 * keras.c — Keras models: the JSON configs Keras deserializes (legacy .h5 model_config and
 * training_config attributes, a .keras archive's config.json) and HDF5 files (legacy .h5
 * models, save_weights files, a .keras archive's model.weights.h5).
 *
 * Threat model. Loading a Keras model rebuilds every object its config names. A Lambda layer
 * carries Python bytecode (marshal, base64) or names a function that runs when the model is
 * built (CVE-2024-3660); Keras 3 refuses it under safe_mode, tf.keras 2 and Keras 3 before
 * 3.9 on .h5 did not (CVE-2025-9905). An object whose "module" is outside Keras is imported
 * and called (CVE-2025-1550, Keras <= 3.8); Keras's own non-modeling functions (get_file,
 * load_model, enable_unsafe_deserialization) turn a config into a downloader or switch
 * safe_mode off (CVE-2025-8747, CVE-2025-9906). So: a Lambda anywhere is unsafe whatever
 * safe_mode would do; a non-modeling API or a (module, name) the pickle policy names as
 * dangerous is unsafe; any other object Keras does not resolve itself (a registered
 * "package>Name", a module outside keras, a class name outside Keras's own) needs the user's
 * code and is unverified. Keras's names come from keras 3.15 itself
 * (scripts/gen_keras_names.py → keras_names.def) plus tf.keras 2 names.
 *
 * The HDF5 container is read with Debian's libhdf5 (a standard job: the format is too large
 * to hand-write), loaded when the first HDF5 file shows up (h5lib.h). libhdf5 trusts its
 * input more than brine's own parsers do, so: the file is
 * opened from a copy in memory (core driver, never a path, no backing store), HDF5's error
 * printing is off and every failure is a finding; links are walked with a cap on objects
 * and depth; external links, external raw-data files and virtual datasets (which make
 * libhdf5 open other files) are findings and never followed; attribute and dataset sizes
 * are checked against the file size and the limits before brine allocates for them.
 * And libhdf5 1.10.8 still crashes on some corrupt files (K2 in fuzz/FINDINGS.md): every
 * file is read once in a forked child first, and one that kills or hangs the child is
 * invalid and never reaches libhdf5 in this process.
 */
#include "formats/keras.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/sha256.h"
#include "formats/format.h"
#include "formats/h5lib.h"
#include "formats/json_load.h"
#include "policy/policy.h"

/* ------------------------------------------------------------------ Keras's names */

static const char *const api_names[] = {
#define API(n) n,
#define NON_MODELING(n)
#define SHORT(n)
#include "formats/keras_names.def"
#undef API
#undef NON_MODELING
#undef SHORT
};
static const char *const non_modeling_names[] = {
#define API(n)
#define NON_MODELING(n) n,
#define SHORT(n)
#include "formats/keras_names.def"
#undef API
#undef NON_MODELING
#undef SHORT
};
static const char *const short_names[] = {
#define API(n)
#define NON_MODELING(n)
#define SHORT(n) n,
#include "formats/keras_names.def"
#undef API
#undef NON_MODELING
#undef SHORT
};

static int cmp_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

/* The tables are sorted by the generator (Python's str order is strcmp's on ASCII). */
static int in_table(const char *const *table, size_t n, const char *name)
{
    return bsearch(name, table, n, sizeof *table, cmp_name) != NULL;
}

int keras_is_api_name(const char *name)
{
    return in_table(api_names, sizeof api_names / sizeof *api_names, name);
}

static int is_non_modeling(const char *name)
{
    return in_table(non_modeling_names, sizeof non_modeling_names / sizeof *non_modeling_names,
                    name);
}

static int is_short_name(const char *name)
{
    return in_table(short_names, sizeof short_names / sizeof *short_names, name);
}

/* ------------------------------------------------------------------ the config walk */

typedef struct kwalk {
    const char *what;
    jdoc_says says;
} kwalk;

/* A string value of obj, with no NUL inside (jansson refuses \u0000 without JSON_ALLOW_NUL). */
static const char *str_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* serialization_lib's plain values: what deserialize_keras_object builds without a lookup */
static int is_plain_type(const char *cls)
{
    static const char *const plain[] = {"__tensor__",   "__numpy__",       "__bytes__",
                                        "__typespec__", "__ellipsis__",    "__slice__",
                                        "__tuple__",    "__keras_tensor__"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (strcmp(cls, plain[i]) == 0)
            return 1;
    return 0;
}

/* Keras 3 resolves builtins.<name> functions inside these keras modules */
static int keras_builtin_function(const char *name)
{
    static const char *const mods[] = {"activations", "constraints", "initializers", "losses",
                                       "metrics",     "optimizers",  "regularizers"};
    char api[300];
    for (size_t i = 0; i < sizeof mods / sizeof *mods; i++) {
        int n = snprintf(api, sizeof api, "keras.%s.%s", mods[i], name);
        if (n > 0 && (size_t)n < sizeof api && keras_is_api_name(api))
            return 1;
    }
    return 0;
}

/* One object with a class_name: what Keras does with it. layer: the name of the innermost
 * object with config.name around it (what the user sees in model.summary()). */
static void judge(kwalk *k, const json_t *obj, const char *cls, const char *layer, int in_lambda)
{
    const json_t *config = json_object_get(obj, "config");
    const char *module = str_at(obj, "module");
    const char *registered = str_at(obj, "registered_name");
    const char *own = json_is_object(config) ? str_at(config, "name") : NULL;
    const char *shown = own ? own : layer ? layer : "?";
    if (strcmp(cls, "Lambda") == 0) {
        const json_t *fn = json_is_object(config) ? json_object_get(config, "function") : NULL;
        jdoc_say(&k->says, BRINE_UNSAFE, "keras-lambda",
                 "%s: Lambda layer '%.100s' carries Python code (%s) that runs when the model is "
                 "built; safe_mode refuses it in Keras 3, tf.keras 2 runs it (CVE-2024-3660)",
                 k->what, shown,
                 json_is_array(fn) || json_is_string(fn) ? "marshalled bytecode or a function name"
                 : json_is_object(fn)                    ? "a serialized function"
                                                         : "a function");
        return;
    }
    if (strcmp(cls, "__lambda__") == 0) {
        if (!in_lambda)
            jdoc_say(&k->says, BRINE_UNSAFE, "keras-lambda",
                     "%s: a __lambda__ (marshalled Python bytecode) in '%.100s' runs when the "
                     "model is built; safe_mode refuses it, unsafe deserialization runs it",
                     k->what, shown);
        return;
    }
    if (is_plain_type(cls))
        return;
    const char *name = cls;
    if (strcmp(cls, "function") == 0) {
        name = json_is_string(config) ? json_string_value(config) : NULL;
        if (!name) {
            jdoc_say(&k->says, BRINE_INVALID, "malformed",
                     "%s: a function object in '%.100s' without a function name: Keras fails",
                     k->what, shown);
            return;
        }
    }
    if (registered && strchr(registered, '>')) {
        /* register_keras_serializable("package")'s name: only the user's code resolves it,
         * and it takes precedence over any module */
        jdoc_say(&k->says, BRINE_UNVERIFIED, "keras-custom-object",
                 "%s: '%.100s' in '%.100s' is a custom object (registered as '%.100s'): loading "
                 "needs and runs its code",
                 k->what, cls, shown, registered);
        return;
    }
    if (module && (strcmp(module, "keras") == 0 || starts_with(module, "keras."))) {
        char api[512];
        int n = snprintf(api, sizeof api, "%s.%s", module, name);
        if (n < 0 || (size_t)n >= sizeof api)
            api[0] = '\0';
        if (is_non_modeling(api)) {
            jdoc_say(&k->says, BRINE_UNSAFE, "keras-dangerous-object",
                     "%s: '%.200s' in '%.100s' is a Keras non-modeling API (downloads, loads "
                     "other files or disables safe_mode: CVE-2025-8747, CVE-2025-9906)",
                     k->what, api, shown);
        } else if (!keras_is_api_name(api)) {
            jdoc_say(&k->says, BRINE_UNVERIFIED, "keras-custom-object",
                     "%s: '%.200s' in '%.100s' is not an object of Keras 3.15's own", k->what, api,
                     shown);
        }
        return;
    }
    if (module && strcmp(module, "builtins") == 0 && strcmp(cls, "function") == 0 &&
        keras_builtin_function(name))
        return;
    if (module) {
        const char *why = NULL;
        pol_class pc = pol_classify(pol_default(), module, name, &why);
        if (pc == POL_DANGEROUS || pc == POL_FORBIDDEN)
            jdoc_say(&k->says, BRINE_UNSAFE, "keras-dangerous-object",
                     "%s: '%.100s.%.100s' in '%.100s' is imported from outside Keras (%s; Keras "
                     "<= 3.8 imports it despite safe_mode, CVE-2025-1550)",
                     k->what, module, name, shown, why ? why : "dangerous");
        else
            jdoc_say(&k->says, BRINE_UNVERIFIED, "keras-custom-object",
                     "%s: '%.100s.%.100s' in '%.100s' comes from outside Keras: loading needs and "
                     "runs its code",
                     k->what, module, name, shown);
        return;
    }
    /* a legacy config (tf.keras 2, Keras 3 .h5): the class name alone, resolved among
     * Keras's layers, losses, metrics, optimizers… or the user's custom_objects */
    if (!is_short_name(name))
        jdoc_say(&k->says, BRINE_UNVERIFIED, "keras-custom-object",
                 "%s: class '%.100s' in '%.100s' is not one of Keras's own: loading needs and "
                 "runs the user's code",
                 k->what, name, shown);
}

static brine_status walk_value(kwalk *k, const json_t *v, unsigned depth, const char *layer,
                               int in_lambda, brine_error *err)
{
    if (k->says.stop)
        return BRINE_OK;
    if (depth > KERAS_MAX_DEPTH)
        return err_limit(err, "max_depth", KERAS_MAX_DEPTH, depth, 0, 0, __LINE__);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            brine_status st = walk_value(k, json_array_get(v, i), depth + 1, layer, in_lambda, err);
            if (st)
                return st;
        }
        return BRINE_OK;
    }
    if (!json_is_object(v))
        return BRINE_OK;
    const char *cls = str_at(v, "class_name");
    const json_t *config = json_object_get(v, "config");
    const char *own = json_is_object(config) ? str_at(config, "name") : NULL;
    if (cls) {
        judge(k, v, cls, layer, in_lambda);
        if (strcmp(cls, "Lambda") == 0)
            in_lambda = 1;
    }
    const char *key;
    const json_t *child;
    json_object_foreach((json_t *)v, key, child)
    {
        brine_status st = walk_value(k, child, depth + 1, own ? own : layer, in_lambda, err);
        if (st)
            return st;
    }
    return BRINE_OK;
}

brine_status keras_check_config(const char *what, const uint8_t *json, size_t len, unsigned flags,
                                mem_budget *mem, keras_report_fn report, void *ctx,
                                brine_error *err)
{
    json_t *root;
    uint64_t cost;
    brine_status st = jdoc_load(what, "Keras", json, len, mem, &root, &cost, err);
    if (st)
        return st;
    if ((flags & KERAS_CONFIG_MODEL) && !json_is_string(json_object_get(root, "class_name"))) {
        /* deserialize_keras_object returns such a dict as it is: no model, Keras fails */
        st = err_set(err, BRINE_ERR_MALFORMED, __LINE__,
                     "%s names no class_name at its top: Keras builds no model from it", what);
    } else {
        kwalk k = {
            what,
            {.report = report,
             .ctx = ctx,
             .max = KERAS_MAX_REPORTS,
             .more_rule = "keras-custom-object",
             .more_msg = "more objects to report than brine lists; the first ones are above"}};
        st = walk_value(&k, root, 0, NULL, 0, err);
        if (!st && k.says.stop && k.says.count <= KERAS_MAX_REPORTS + 1)
            st = err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
    }
    jdoc_free(root, cost, mem);
    return st;
}

/* ------------------------------------------------------------------ reporting into env */

static brine_status check_config(fmt_env *env, const char *member, const char *what,
                                 const uint8_t *json, size_t len, unsigned flags)
{
    jdoc_sink sink = {env, member, BRINE_OK};
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st =
        keras_check_config(what, json, len, flags, fmt_mem(env), jdoc_report, &sink, &err);
    return jdoc_sink_done(&sink, st, &err);
}

brine_status keras_walk_config_json(fmt_env *env, const char *member, const uint8_t *json,
                                    size_t len)
{
    return check_config(env, member, "config.json", json, len, KERAS_CONFIG_MODEL);
}

/* ------------------------------------------------------------------ HDF5 */

static const uint8_t hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* libhdf5 looks for the superblock at 0, 512, 1024, 2048, … (a user block before it). */
static int h5_bid(const uint8_t *data, size_t len)
{
    for (size_t at = 0; at < len && at <= 8192; at = at ? at * 2 : 512)
        if (len - at >= 8 && memcmp(data + at, hdf5_magic, 8) == 0)
            return 80;
    return 0;
}

enum { H5_MAX_DEPTH = 64, H5_MAX_OBJECTS = 1000000 };

typedef struct h5walk {
    fmt_env *env;
    mem_budget *mem;
    hid_t file;
    size_t file_len;
    char **datasets; /* paths of the datasets, in link-name order */
    size_t n_datasets, cap_datasets;
    uint64_t n_links;
    uint64_t max_links;
    brine_status st;
    int limit_hit;
    int probe; /* in the isolated child: read everything, hand nothing on */
} h5walk;

static herr_t visit_link(hid_t group, const char *name, const H5L_info_t *info, void *op)
{
    h5walk *w = op;
    if (++w->n_links > w->max_links) {
        w->limit_hit = 1;
        return 1;
    }
    unsigned depth = 1;
    for (const char *p = name; *p; p++)
        depth += *p == '/';
    if (depth > H5_MAX_DEPTH) {
        w->limit_hit = 2;
        return 1;
    }
    if (info->type == H5L_TYPE_EXTERNAL) {
        w->st = fmt_finding(w->env, BRINE_UNSAFE, "hdf5-external", NULL, -1,
                            "link '%.200s' is an external link: h5py opens the other file it "
                            "names when the link is read (brine does not follow it)",
                            name);
        return w->st ? -1 : 0;
    }
    if (info->type != H5L_TYPE_HARD)
        return 0; /* a soft link names an object of this file: read under its own name */
    H5O_info_t oi;
    if (H5Oget_info_by_name(group, name, &oi, H5P_DEFAULT) < 0)
        return 0; /* reported when read */
    if (oi.type != H5O_TYPE_DATASET)
        return 0;
    if (mem_grow(w->mem, (void **)&w->datasets, &w->cap_datasets, w->n_datasets + 1,
                 sizeof *w->datasets)) {
        w->st = BRINE_ERR_NOMEM;
        return -1;
    }
    char *copy = mem_strndup(w->mem, name, strlen(name));
    if (!copy) {
        w->st = BRINE_ERR_NOMEM;
        return -1;
    }
    w->datasets[w->n_datasets++] = copy;
    return 0;
}

/* A string attribute of the root (Keras's model_config, training_config): h5py writes str as
 * a variable-length string, bytes as a fixed-length one; both are read. *out is NULL when
 * absent. Returns 0, or -1 after reporting (or on NOMEM with w->st set). */
static int read_root_string(h5walk *w, const char *attr, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (H5Aexists(w->file, attr) <= 0)
        return 0;
    hid_t a = H5Aopen(w->file, attr, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t s = a >= 0 ? H5Aget_space(a) : -1;
    hid_t mt = -1;
    int rc = -1;
    const char *why = "cannot be read";
    if (t < 0 || s < 0 || H5Tget_class(t) != H5T_STRING) {
        why = "is not a string";
        goto done;
    }
    if (H5Sget_simple_extent_npoints(s) != 1) {
        why = "is not one string";
        goto done;
    }
    if (H5Tis_variable_str(t) > 0) {
        mt = H5Tcopy(H5T_C_S1);
        char *p = NULL;
        /* HDF5 converts between character sets never: read it in the attribute's own */
        if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0 ||
            H5Aread(a, mt, &p) < 0 || !p)
            goto done;
        size_t n = strnlen(p, w->file_len + 1);
        if (n <= w->file_len) {
            *out = mem_strndup(w->mem, p, n);
            *out_len = n;
        }
        H5free_memory(p);
        if (n > w->file_len)
            goto done;
        if (!*out) {
            w->st = BRINE_ERR_NOMEM;
            goto done;
        }
        rc = 0;
    } else {
        size_t n = H5Tget_size(t);
        if (n == 0 || n > w->file_len) {
            why = "declares more bytes than the file holds";
            goto done;
        }
        char *buf = mem_alloc(w->mem, n + 1);
        if (!buf) {
            w->st = BRINE_ERR_NOMEM;
            goto done;
        }
        mt = H5Tcopy(t);
        if (mt < 0 || H5Aread(a, mt, buf) < 0) {
            mem_free(w->mem, buf, n + 1);
            goto done;
        }
        buf[n] = '\0';
        /* numpy's bytes_ drops trailing NULs; a NUL inside ends what json.loads can read */
        size_t used = strnlen(buf, n);
        char *copy = mem_strndup(w->mem, buf, used);
        mem_free(w->mem, buf, n + 1);
        if (!copy) {
            w->st = BRINE_ERR_NOMEM;
            goto done;
        }
        *out = copy;
        *out_len = used;
        rc = 0;
    }
done:
    if (mt >= 0)
        H5Tclose(mt);
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (rc && !w->st)
        w->st = fmt_finding(w->env, BRINE_INVALID, "malformed", NULL, -1,
                            "root attribute %s %s: Keras fails to read it", attr, why);
    return rc;
}

/* The little-endian memory type brine reads a dataset as, and its dtype; -1 when brine has
 * no tensor dtype for it. A half float is h5py's custom 16-bit IEEE type. */
static hid_t mem_type_for(hid_t ft, const ld_dtype **dt)
{
    size_t size = H5Tget_size(ft);
    switch (H5Tget_class(ft)) {
    case H5T_FLOAT: {
        size_t spos, epos, esize, mpos, msize;
        if (H5Tget_fields(ft, &spos, &epos, &esize, &mpos, &msize) < 0)
            return -1;
        if (size == 4 && spos == 31 && epos == 23 && esize == 8 && mpos == 0 && msize == 23) {
            *dt = ld_dtype_by_st("F32");
            return H5Tcopy(H5T_IEEE_F32LE);
        }
        if (size == 8 && spos == 63 && epos == 52 && esize == 11 && mpos == 0 && msize == 52) {
            *dt = ld_dtype_by_st("F64");
            return H5Tcopy(H5T_IEEE_F64LE);
        }
        if (size == 2 && spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 &&
            H5Tget_ebias(ft) == 15) {
            hid_t mt = H5Tcopy(ft);
            if (mt >= 0 && H5Tset_order(mt, H5T_ORDER_LE) < 0) {
                H5Tclose(mt);
                return -1;
            }
            *dt = ld_dtype_by_st("F16");
            return mt;
        }
        return -1;
    }
    case H5T_INTEGER: {
        int sgn = H5Tget_sign(ft) == H5T_SGN_2;
        static const char *const names[2][4] = {{"U8", "U16", "U32", "U64"},
                                                {"I8", "I16", "I32", "I64"}};
        int k = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : size == 8 ? 3 : -1;
        if (k < 0)
            return -1;
        const hid_t le[2][4] = {{H5T_STD_U8LE, H5T_STD_U16LE, H5T_STD_U32LE, H5T_STD_U64LE},
                                {H5T_STD_I8LE, H5T_STD_I16LE, H5T_STD_I32LE, H5T_STD_I64LE}};
        *dt = ld_dtype_by_st(names[sgn][k]);
        return H5Tcopy(le[sgn][k]);
    }
    default: return -1;
    }
}

/* One dataset: a tensor named by its path, its elements read (and so checked) by libhdf5. */
static brine_status read_dataset(h5walk *w, const char *path)
{
    fmt_env *env = w->env;
    const brine_limits *lim = fmt_limits(env);
    brine_status st = BRINE_OK;
    hid_t ds = H5Dopen2(w->file, path, H5P_DEFAULT);
    hid_t dcpl = ds >= 0 ? H5Dget_create_plist(ds) : -1;
    hid_t ft = ds >= 0 ? H5Dget_type(ds) : -1;
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    hid_t mt = -1;
    void *buf = NULL;
    uint64_t nbytes = 0;
    if (dcpl < 0 || ft < 0 || sp < 0) {
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, -1,
                         "dataset '%.200s' cannot be opened: h5py fails too", path);
        goto done;
    }
    if (H5Pget_external_count(dcpl) != 0 || H5Pget_layout(dcpl) == H5D_VIRTUAL) {
        st = fmt_finding(env, BRINE_UNSAFE, "hdf5-external", NULL, -1,
                         "dataset '%.200s' keeps its data in other files (external storage or "
                         "a virtual dataset): h5py reads them (brine does not)",
                         path);
        goto done;
    }
    const ld_dtype *dt = NULL;
    mt = mem_type_for(ft, &dt);
    if (mt < 0 || !dt) {
        fmt_unloadable(env, "dataset %.200s: an HDF5 type brine has no tensor dtype for", path);
        goto done;
    }
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[LD_MAX_DIMS];
    if (nd < 0 || nd > LD_MAX_DIMS || H5Sget_simple_extent_dims(sp, dims, NULL) != nd) {
        fmt_unloadable(env, "dataset %.200s: a dataspace brine cannot read", path);
        goto done;
    }
    if (H5Sget_simple_extent_type(sp) == H5S_NULL) {
        fmt_unloadable(env, "dataset %.200s: an empty (null) dataspace", path);
        goto done;
    }
    uint64_t numel = 1, shape[LD_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        shape[i] = dims[i];
        if (__builtin_mul_overflow(numel, (uint64_t)dims[i], &numel))
            numel = UINT64_MAX;
    }
    if (__builtin_mul_overflow(numel, (uint64_t)dt->size, &nbytes) || nbytes > lim->max_memory) {
        st = fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                         "dataset '%.200s' declares more bytes than max_memory=%" PRIu64, path,
                         lim->max_memory);
        goto done;
    }
    /* a compressed chunked dataset is a decompression bomb like any other */
    hsize_t stored = H5Dget_storage_size(ds);
    if (nbytes > (UINT64_C(1) << 20) && nbytes / (stored ? stored : 1) > lim->zip_max_ratio) {
        st = fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                         "dataset '%.200s' expands %" PRIu64 " stored bytes to %" PRIu64
                         " (zip_max_ratio=%" PRIu64 ")",
                         path, (uint64_t)stored, nbytes, lim->zip_max_ratio);
        goto done;
    }
    if (w->mem->used > w->mem->limit || nbytes > w->mem->limit - w->mem->used) {
        st = fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                         "dataset '%.200s' (%" PRIu64
                         " bytes) does not fit in what max_memory=%" PRIu64
                         " leaves (the tensors read so far are held)",
                         path, nbytes, lim->max_memory);
        goto done;
    }
    buf = mem_alloc(w->mem, (size_t)nbytes);
    if (!buf) {
        st = BRINE_ERR_NOMEM;
        goto done;
    }
    if (nbytes && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, -1,
                         "dataset '%.200s' cannot be read (truncated or corrupt): h5py fails too",
                         path);
        goto done;
    }
    if (w->probe) {
        /* read and checked by libhdf5: all the child is for */
    } else if (fmt_loading(env)) {
        st = fmt_hold_buffer(env, buf, (size_t)nbytes);
        void *data = buf;
        buf = NULL;
        if (!st)
            st = fmt_tensor(env, path, dt, (uint32_t)nd, shape, data, nbytes);
    } else {
        st = fmt_tensor(env, path, dt, (uint32_t)nd, shape, buf, nbytes);
    }
done:
    if (buf)
        mem_free(w->mem, buf, (size_t)nbytes);
    if (mt >= 0)
        H5Tclose(mt);
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (ds >= 0)
        H5Dclose(ds);
    return st;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* libhdf5 1.10's global heap reader (H5HG__cache_heap_deserialize) advances through a
 * collection by each object's size; a free-space object (index 0) of size 0, or a size
 * that wraps the pointer, makes it loop forever (h5py hangs the same way). Every global
 * heap collection ("GCOL", version 1) is walked here first, as libhdf5 walks it; one whose
 * objects do not tile it is refused before libhdf5 sees the file. Returns the offset of the
 * bad collection, or -1. A "GCOL" inside tensor bytes that is not a collection is refused
 * too: such a file is invalid, never passed as safe. */
static int64_t bad_global_heap(const uint8_t *data, size_t len)
{
    enum { HDR = 16, OBJHDR = 16 }; /* 8-byte lengths: Keras files use the default */
    for (size_t at = 0; len >= HDR && at <= len - HDR; at++) {
        const uint8_t *hit = memchr(data + at, 'G', len - HDR + 1 - at);
        if (!hit)
            break;
        at = (size_t)(hit - data);
        if (memcmp(hit, "GCOL", 4) != 0 || hit[4] != 1)
            continue;
        uint64_t size = le64(hit + 8);
        uint64_t end = size < len - at ? size : len - at; /* libhdf5 fails past the file */
        uint64_t p = HDR;
        while (p < end) {
            if (end - p < OBJHDR)
                break; /* too small for an object: free space to the end */
            unsigned idx = (unsigned)hit[p] | (unsigned)hit[p + 1] << 8;
            uint64_t osize = le64(hit + p + 8);
            uint64_t need;
            if (idx > 0) {
                uint64_t aligned = osize > UINT64_MAX - 7 ? 0 : (osize + 7) / 8 * 8;
                if (osize > UINT64_MAX - 7 || aligned > UINT64_MAX - OBJHDR)
                    return (int64_t)at;
                need = OBJHDR + aligned;
            } else {
                need = osize;
            }
            if (need == 0 || need > end - p)
                return (int64_t)at;
            p += need;
        }
    }
    return -1;
}

static int root_has(hid_t file, const char *name)
{
    return H5Lexists(file, name, H5P_DEFAULT) > 0 || H5Aexists(file, name) > 0;
}

/* Debian's libhdf5 is built without thread safety; brine may scan in several threads. */
static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

static brine_status h5_walk_locked(fmt_env *env, const uint8_t *data, size_t len, int probe);

/* Sanitizer builds (the fuzzers, the ASan tests) install a death callback that would report
 * a crash of libhdf5 in the child as brine's own: the child clears it. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* Images a child has read to the end already, keyed by the SHA-256 of the bytes, the limits and
 * the budget's state (what decides how far the walk reads): the same bytes again (one file
 * in several archives, a test's thousands of runs) need no second child. Under h5_lock. */
enum { H5_SURVIVORS = 8 };
static uint8_t h5_survivors[H5_SURVIVORS][SHA256_BYTES];
static unsigned h5_n_survivors;

/* 0 with the key, -1 when the image cannot be hashed (no libcrypto: no cache). */
static int h5_image_key(fmt_env *env, const uint8_t *data, size_t len, uint8_t key[SHA256_BYTES])
{
    struct {
        uint8_t bytes[SHA256_BYTES];
        brine_limits lim;
        uint64_t used, limit;
    } what;
    memset(&what, 0, sizeof what);
    brine_error err;
    if (sha256(data, len, what.bytes, &err))
        return -1;
    what.lim = *fmt_limits(env);
    what.used = fmt_mem(env)->used;
    what.limit = fmt_mem(env)->limit;
    return sha256(&what, sizeof what, key, &err) ? -1 : 0;
}

/* Reads the file with libhdf5 in a forked child, everything the walk reads (root attributes,
 * links, every dataset), handing nothing on. Returns 0 when the child finished, else reports
 * the file invalid (st set) and returns -1. The child gets 60 s plus 1 s per 16 MiB. */
static int h5_survives(fmt_env *env, const uint8_t *data, size_t len, brine_status *st)
{
    unsigned seconds = 60 + (unsigned)(len >> 24);
    *st = BRINE_OK;
    uint8_t key[SHA256_BYTES];
    int keyed = h5_image_key(env, data, len, key) == 0;
    unsigned known = !keyed ? 0 : h5_n_survivors < H5_SURVIVORS ? h5_n_survivors : H5_SURVIVORS;
    for (unsigned i = 0; i < known; i++)
        if (memcmp(h5_survivors[i], key, sizeof key) == 0)
            return 0;
    pid_t pid = fork();
    if (pid < 0) {
        *st = fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                          "cannot start the process that reads HDF5 in isolation (fork failed): "
                          "the file is not read");
        return -1;
    }
    if (pid == 0) {
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
            signal(fatal[i], SIG_DFL);
        if (__sanitizer_set_death_callback)
            __sanitizer_set_death_callback(NULL);
        mem_fail_after(0); /* a test's injected failure is for the reading in the parent */
        alarm(seconds);
        h5_walk_locked(env, data, len, 1);
        _exit(0); /* no atexit handlers, no stdio flush: the parent owns those */
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            kill(pid, SIGKILL);
            status = -1;
            break;
        }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (keyed)
            memcpy(h5_survivors[h5_n_survivors++ % H5_SURVIVORS], key, sizeof key);
        return 0;
    }
    if (status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        *st = fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                          "libhdf5 did not finish reading this file in %u s (h5py would hang "
                          "on it too); brine does not read it further",
                          seconds);
    else if (status != -1 && WIFSIGNALED(status))
        *st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, -1,
                          "libhdf5 crashes (signal %d) reading this file: h5py would crash "
                          "too; brine read it in a separate process and does not read it further",
                          WTERMSIG(status));
    else
        *st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, -1,
                          "libhdf5 fails reading this file (the isolated reader exited with "
                          "status %d): h5py would fail too",
                          status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return -1;
}

static brine_status h5_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    brine_error err;
    if (h5lib_load(&err) != BRINE_OK) {
        fmt_set_format(env, "hdf5");
        return fmt_finding(env, BRINE_UNVERIFIED, "unsupported-format", NULL, -1, "%s", err.msg);
    }
    pthread_mutex_lock(&h5_lock);
    brine_status st;
    if (h5_survives(env, data, len, &st) == 0)
        st = h5_walk_locked(env, data, len, 0);
    pthread_mutex_unlock(&h5_lock);
    return st;
}

/* libhdf5's core driver copies a file image twice over (into the property list, and again
 * when the file opens). These callbacks hand it brine's own bytes each time instead, as
 * H5LTopen_file_image does when told not to copy: the file is opened read-only, so the driver
 * only reads them, and an HDF5 file needs no memory of its size. */
static void *image_same(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)size, (void)op;
    return udata;
}

static void *image_no_copy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                           void *udata)
{
    (void)size, (void)op, (void)udata;
    return dest == src ? dest : NULL;
}

static herr_t image_keep(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    (void)ptr, (void)op, (void)udata;
    return 0;
}

static void *image_udata_copy(void *udata) { return udata; }

static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

static brine_status h5_walk_locked(fmt_env *env, const uint8_t *data, size_t len, int probe)
{
    fmt_set_format(env, "hdf5");
    /* libhdf5 prints its error stack to stderr by default: every failure is a finding */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5walk w = {.env = env, .mem = fmt_mem(env), .file_len = len, .probe = probe};
    const brine_limits *lim = fmt_limits(env);
    w.max_links = lim->max_tensors < H5_MAX_OBJECTS / 4 ? lim->max_tensors * 4 : H5_MAX_OBJECTS;
    /* no image_realloc: a file opened read-only never grows */
    H5FD_file_image_callbacks_t no_copy = {.image_malloc = image_same,
                                           .image_memcpy = image_no_copy,
                                           .image_free = image_keep,
                                           .udata_copy = image_udata_copy,
                                           .udata_free = image_udata_free,
                                           .udata = (void *)(uintptr_t)data};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    brine_status st = BRINE_OK;
    char *model_config = NULL, *training_config = NULL;
    size_t mc_len = 0, tc_len = 0;
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
        H5Pset_file_image_callbacks(fapl, &no_copy) < 0 ||
        H5Pset_file_image(fapl, (void *)(uintptr_t)data, len) < 0) {
        st = BRINE_ERR_NOMEM;
        goto done;
    }
    int64_t gcol = bad_global_heap(data, len);
    if (gcol >= 0) {
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, gcol,
                         "a global heap collection whose objects do not tile it: libhdf5 1.10 "
                         "loops forever on it (h5py hangs), brine does not open the file");
        goto done;
    }
    w.file = H5Fopen("brine-image.h5", H5F_ACC_RDONLY, fapl);
    if (w.file < 0) {
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, -1,
                         "libhdf5 cannot open this HDF5 file (truncated or corrupt): h5py fails "
                         "too");
        goto done;
    }
    if (read_root_string(&w, "model_config", &model_config, &mc_len) ||
        read_root_string(&w, "training_config", &training_config, &tc_len)) {
        st = w.st;
        goto done;
    }
    int keras = model_config != NULL;
    int weights = root_has(w.file, "model_weights") || root_has(w.file, "layer_names") ||
                  (root_has(w.file, "layers") && root_has(w.file, "vars"));
    if (keras)
        fmt_set_format(env, "keras-h5");
    if (model_config && (st = check_config(env, NULL, "model_config", (const uint8_t *)model_config,
                                           mc_len, KERAS_CONFIG_MODEL)))
        goto done;
    if (training_config && (st = check_config(env, NULL, "training_config",
                                              (const uint8_t *)training_config, tc_len, 0)))
        goto done;
    if (!keras && !weights) {
        st = fmt_finding(env, BRINE_UNVERIFIED, "unsupported-format", NULL, -1,
                         "HDF5 file with neither a Keras model config nor Keras weights: brine "
                         "lists its datasets, what reads them is unknown");
        if (st)
            goto done;
    }
    if (H5Lvisit(w.file, H5_INDEX_NAME, H5_ITER_INC, visit_link, &w) < 0 && !w.st)
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, -1,
                         "the HDF5 group tree cannot be walked (corrupt): h5py fails too");
    if (st || (st = w.st))
        goto done;
    if (w.limit_hit) {
        st = fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                         w.limit_hit == 1 ? "more than %" PRIu64 " HDF5 links (max_tensors x 4)"
                                          : "HDF5 groups nested deeper than %" PRIu64,
                         w.limit_hit == 1 ? w.max_links : (uint64_t)H5_MAX_DEPTH);
        if (st)
            goto done;
    }
    if (w.n_datasets > lim->max_tensors) {
        st = fmt_finding(env, BRINE_INVALID, "limit", NULL, -1,
                         "%zu datasets, more than max_tensors=%" PRIu64, w.n_datasets,
                         lim->max_tensors);
        goto done;
    }
    for (size_t i = 0; i < w.n_datasets && !st; i++)
        st = read_dataset(&w, w.datasets[i]);
done:
    for (size_t i = 0; i < w.n_datasets; i++)
        mem_free(w.mem, w.datasets[i], strlen(w.datasets[i]) + 1);
    mem_free(w.mem, w.datasets, w.cap_datasets * sizeof *w.datasets);
    if (model_config)
        mem_free(w.mem, model_config, mc_len + 1);
    if (training_config)
        mem_free(w.mem, training_config, tc_len + 1);
    if (w.file > 0)
        H5Fclose(w.file);
    if (fapl >= 0)
        H5Pclose(fapl);
    return st;
}

const fmt_ops fmt_keras_h5 = {"keras-h5", h5_bid, h5_walk, NULL};
