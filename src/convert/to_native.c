/*
 * to_native.c — the XGBoost or LightGBM model inside a pickle, written as the library's own
 * model file, without unpickling anything.
 *
 * A pickled xgboost.core.Booster keeps its whole state in one bytearray, `handle`
 * (Booster.__getstate__: XGBoosterSerializeToBuffer): since XGBoost 2.0 a UBJSON object
 * {"Config": …, "Model": …} whose "Model" value is exactly what save_model writes as .ubj.
 * OUT.ubj is that value's bytes; OUT.json is the same value transcoded to JSON. A pickled
 * lightgbm.basic.Booster keeps model_to_string() in `_handle` (`handle` before 4.0): OUT.txt is
 * that text. The scikit-learn wrappers (XGBClassifier, LGBMRegressor…) hold the Booster in
 * `_Booster`; their other attributes (parameters, n_classes_, classes_…), which the native file
 * does not hold, go to the JSON config beside OUT.
 *
 * The UBJSON reader is hand-written because it reads attacker bytes and only needs the subset
 * XGBoost writes (draft-12 markers, optimized containers): every length is checked against the
 * bytes left before it is used, nesting is bounded, and counts never exceed the bytes left.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/cursor.h"
#include "core/error.h"
#include "load/model.h"
#include "pickle/decode.h"

enum { UBJ_MAX_DEPTH = 128 };

/* ------------------------------------------------------------------ the pickle graph */

static const char *global_of(const pk_graph *g, pk_id id)
{
    const pk_node *n = pk_at(g, id);
    return id && n->kind == K_GLOBAL ? g->globals[n->v.g.global].full : NULL;
}

/* The class an object node was made from: NEWOBJ/INST of a class, a call of the class, or
 * copyreg._reconstructor(cls, object, None) (protocols 0-1). */
static const char *class_of(const pk_graph *g, pk_id id)
{
    const pk_node *n = pk_at(g, id);
    if (n->kind != K_CALL && n->kind != K_NEWOBJ && n->kind != K_INST)
        return NULL;
    const char *fn = global_of(g, n->a);
    if (fn && strcmp(fn, "copyreg._reconstructor") == 0 && pk_args(n)) {
        const pk_node *args = pk_at(g, pk_args(n));
        return args->kind == K_TUPLE && args->count >= 1 ? global_of(g, args->items[0]) : NULL;
    }
    return fn;
}

static int text_is(const pk_node *n, const char *z)
{
    size_t zl = strlen(z);
    return (n->kind == K_STR || n->kind == K_PYSTR) && n->v.s.len == zl &&
           memcmp(n->v.s.p, z, zl) == 0;
}

/* The value of key in the dict node id (the last one, as dict updates go), or 0. */
static pk_id dict_get(const pk_graph *g, pk_id id, const char *key)
{
    const pk_node *d = id ? pk_at(g, id) : NULL;
    pk_id found = 0;
    if (!d || d->kind != K_DICT)
        return 0;
    for (uint32_t i = 0; i + 1 < d->count; i += 2)
        if (text_is(pk_at(g, d->items[i]), key))
            found = d->items[i + 1];
    return found;
}

/* Bytes spelled in the pickle: a bytes or bytearray literal, bytearray(x) of one, or
 * _codecs.encode(text, 'latin1') (protocol 2). Latin-1 text is decoded into *owned, charged
 * to mem (mem_free it with *owned_len). Returns 1, 0 when the value is not bytes, -1 when
 * memory ran out. */
static int pickled_bytes(mem_budget *mem, const pk_graph *g, pk_id id, const uint8_t **p,
                         uint64_t *len, uint8_t **owned, size_t *owned_len, unsigned depth)
{
    const pk_node *n = pk_at(g, id);
    *owned = NULL;
    if (n->kind == K_BYTES || n->kind == K_BYTEARRAY) {
        *p = n->v.s.p;
        *len = n->v.s.len;
        return 1;
    }
    const char *fn = n->kind == K_CALL ? global_of(g, n->a) : NULL;
    const pk_node *args = fn && pk_args(n) ? pk_at(g, pk_args(n)) : NULL;
    if (!args || args->kind != K_TUPLE || depth > 2)
        return 0;
    if (strcmp(fn, "builtins.bytearray") == 0 && args->count == 1)
        return pickled_bytes(mem, g, args->items[0], p, len, owned, owned_len, depth + 1);
    if (strcmp(fn, "_codecs.encode") != 0 || args->count != 2 ||
        pk_at(g, args->items[0])->kind != K_STR || !text_is(pk_at(g, args->items[1]), "latin1"))
        return 0;
    const pk_node *t = pk_at(g, args->items[0]);
    if (t->v.s.len > SIZE_MAX)
        return -1;
    size_t cap = (size_t)t->v.s.len;
    uint8_t *out = mem_alloc(mem, cap);
    if (!out)
        return -1;
    uint64_t o = 0;
    for (uint64_t i = 0; i < t->v.s.len; i++) {
        uint8_t ch = t->v.s.p[i];
        if (ch < 0x80) {
            out[o++] = ch;
        } else if ((ch == 0xC2 || ch == 0xC3) && i + 1 < t->v.s.len) {
            out[o++] = (uint8_t)(((ch & 0x1F) << 6) | (t->v.s.p[++i] & 0x3F));
        } else {
            mem_free(mem, out, cap);
            return 0;
        }
    }
    *p = out;
    *len = o;
    *owned = out;
    *owned_len = cap;
    return 1;
}

/* The one object of class cls in the graph whose BUILD state holds key; 0 when there is none,
 * and *many when there are several (brine does not guess which one is meant). */
static pk_id find_state_holder(const pk_graph *g, const char *cls, const char *key, int *many)
{
    pk_id found = 0;
    *many = 0;
    for (size_t i = 1; i < g->n_nodes; i++) {
        const pk_node *n = pk_at(g, (pk_id)i);
        if (!pk_state(g, n) || (n->kind != K_CALL && n->kind != K_NEWOBJ && n->kind != K_INST))
            continue;
        const char *c = class_of(g, (pk_id)i);
        if (!c || strcmp(c, cls) != 0 || !dict_get(g, pk_state(g, n), key))
            continue;
        if (found)
            *many = 1;
        found = (pk_id)i;
    }
    return found;
}

/* ------------------------------------------------------------------ UBJSON */

/* The JSON transcoding, charged to the model's budget (it grows with the snapshot). */
typedef struct text_buf {
    mem_budget *mem;
    char *p;
    size_t len, cap;
} text_buf;

typedef struct ubj {
    cursor c;
    uint64_t base; /* offset of the buffer in the pickle, for error messages */
    text_buf *out; /* NULL: only skip */
    brine_error *err;
} ubj;

static brine_status put(ubj *u, const char *s, size_t n)
{
    if (!u->out)
        return BRINE_OK;
    text_buf *b = u->out;
    if (n > SIZE_MAX - b->len - 1)
        return ERR_NOMEM(u->err);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *grown = mem_realloc(b->mem, b->p, b->cap, cap);
        if (!grown)
            return ERR_NOMEM(u->err);
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return BRINE_OK;
}

#define UBJ_BAD(u, ...)                                                                            \
    err_at((u)->err, BRINE_ERR_MALFORMED, (u)->base + cur_pos(&(u)->c), __LINE__, __VA_ARGS__)

static brine_status take(ubj *u, uint64_t n, const uint8_t **p)
{
    return cur_take(&u->c, n, p) ? UBJ_BAD(u, "XGBoost model: UBJSON value runs past the end")
                                 : BRINE_OK;
}

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* An integer of type marker m. Returns 1 and *v, 0 when m is no integer marker, or -1 (err set). */
static int ubj_int(ubj *u, uint8_t m, int64_t *v)
{
    const uint8_t *p = NULL;
    unsigned n = m == 'i' || m == 'U' ? 1 : m == 'I' ? 2 : m == 'l' ? 4 : m == 'L' ? 8 : 0;
    if (!n)
        return 0;
    if (take(u, n, &p))
        return -1;
    uint64_t raw = be(p, n);
    if (m == 'U')
        *v = (int64_t)raw;
    else if (n == 1)
        *v = (int8_t)raw;
    else if (n == 2)
        *v = (int16_t)raw;
    else if (n == 4)
        *v = (int32_t)(uint32_t)raw;
    else
        *v = (int64_t)raw;
    return 1;
}

/* A length or count: an integer marker and a value in [0, bytes left]. */
static brine_status ubj_count(ubj *u, int64_t *n)
{
    const uint8_t *m = NULL;
    brine_status st;
    if ((st = take(u, 1, &m)))
        return st;
    int r = ubj_int(u, m[0], n);
    if (r < 0)
        return BRINE_ERR_MALFORMED; /* take set err */
    if (r == 0 || *n < 0 || (uint64_t)*n > cur_left(&u->c))
        return UBJ_BAD(u, "XGBoost model: bad UBJSON length");
    return BRINE_OK;
}

static brine_status put_json_string(ubj *u, const uint8_t *s, uint64_t n)
{
    if (!u->out)
        return BRINE_OK;
    if (!pk_utf8_valid(s, n, 0))
        return UBJ_BAD(u, "XGBoost model: a string is not UTF-8");
    brine_status st = put(u, "\"", 1);
    size_t run = 0;
    for (uint64_t i = 0; i < n && !st; i++) {
        if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') {
            run++;
            continue;
        }
        char esc[8];
        snprintf(esc, sizeof esc, "\\u%04x", s[i]);
        if (!(st = put(u, (const char *)s + i - run, run)))
            st = put(u, esc, 6);
        run = 0;
    }
    if (!st)
        st = put(u, (const char *)s + n - run, run);
    return st ? st : put(u, "\"", 1);
}

static brine_status ubj_value(ubj *u, uint8_t m, unsigned depth);

/* A container after its '[' or '{': optimized ($type #count, #count) or ended by ']' / '}'. */
static brine_status ubj_container(ubj *u, int object, unsigned depth)
{
    if (depth >= UBJ_MAX_DEPTH)
        return UBJ_BAD(u, "XGBoost model: UBJSON nested deeper than %d", UBJ_MAX_DEPTH);
    uint8_t type = 0;
    int64_t count = -1;
    const uint8_t *p = NULL;
    brine_status st;
    if (cur_left(&u->c) && u->c.p[0] == '$') {
        if ((st = take(u, 2, &p)))
            return st;
        type = p[1];
        if (cur_left(&u->c) == 0 || u->c.p[0] != '#')
            return UBJ_BAD(u, "XGBoost model: UBJSON typed container without a count");
    }
    if (cur_left(&u->c) && u->c.p[0] == '#') {
        u->c.p++;
        if ((st = ubj_count(u, &count)))
            return st;
    }
    if ((st = put(u, object ? "{" : "[", 1)))
        return st;
    for (int64_t i = 0; count < 0 || i < count; i++) {
        if (count < 0) {
            if ((st = take(u, 1, &p)))
                return st;
            if (p[0] == (object ? '}' : ']'))
                break;
            u->c.p--;
        }
        if (i && (st = put(u, ",", 1)))
            return st;
        if (object) {
            int64_t klen;
            if ((st = ubj_count(u, &klen)) || (st = take(u, (uint64_t)klen, &p)) ||
                (st = put_json_string(u, p, (uint64_t)klen)) || (st = put(u, ":", 1)))
                return st;
        }
        uint8_t vm = type;
        if (!vm) {
            if ((st = take(u, 1, &p)))
                return st;
            vm = p[0];
        }
        if ((st = ubj_value(u, vm, depth + 1)))
            return st;
    }
    return put(u, object ? "}" : "]", 1);
}

static brine_status ubj_value(ubj *u, uint8_t m, unsigned depth)
{
    const uint8_t *p = NULL;
    char num[40];
    int64_t iv;
    brine_status st;
    while (m == 'N') { /* no-op */
        if ((st = take(u, 1, &p)))
            return st;
        m = p[0];
    }
    int r = ubj_int(u, m, &iv);
    if (r < 0)
        return BRINE_ERR_MALFORMED; /* take set err */
    if (r > 0) {
        snprintf(num, sizeof num, "%" PRId64, iv);
        return put(u, num, strlen(num));
    }
    switch (m) {
    case 'Z': return put(u, "null", 4);
    case 'T': return put(u, "true", 4);
    case 'F': return put(u, "false", 5);
    case 'd':
    case 'D': {
        double d;
        if ((st = take(u, m == 'd' ? 4 : 8, &p)))
            return st;
        if (m == 'd') {
            uint32_t bits = (uint32_t)be(p, 4);
            float f;
            memcpy(&f, &bits, 4);
            d = f;
        } else {
            uint64_t bits = be(p, 8);
            memcpy(&d, &bits, 8);
        }
        if (!isfinite(d))
            return err_at(u->err, BRINE_ERR_UNSUPPORTED, u->base + cur_pos(&u->c), __LINE__,
                          "XGBoost model: a NaN or infinite number has no JSON spelling (write "
                          ".ubj instead)");
        /* enough digits to read back the same float32 / float64 */
        snprintf(num, sizeof num, m == 'd' ? "%.9g" : "%.17g", d);
        if (!strpbrk(num, ".eE")) /* XGBoost reads "1" as an integer where it wants a number */
            memcpy(num + strlen(num), ".0", 3);
        return put(u, num, strlen(num));
    }
    case 'C':
        if ((st = take(u, 1, &p)))
            return st;
        return put_json_string(u, p, 1);
    case 'S':
    case 'H':
        if ((st = ubj_count(u, &iv)) || (st = take(u, (uint64_t)iv, &p)))
            return st;
        if (m == 'S')
            return put_json_string(u, p, (uint64_t)iv);
        for (int64_t i = 0; i < iv; i++)
            if (!strchr("0123456789+-.eE", p[i]) || !p[i])
                return UBJ_BAD(u, "XGBoost model: bad high-precision number");
        return iv ? put(u, (const char *)p, (size_t)iv) : UBJ_BAD(u, "XGBoost model: empty number");
    case '[': return ubj_container(u, 0, depth);
    case '{': return ubj_container(u, 1, depth);
    default: return UBJ_BAD(u, "XGBoost model: unknown UBJSON marker 0x%02x", m);
    }
}

/* The "Model" value of XGBoost's serialisation {"Config": …, "Model": …}: *at, *n its bytes. */
static brine_status xgb_model_span(const uint8_t *snap, uint64_t len, uint64_t base, uint64_t *at,
                                   uint64_t *n, brine_error *err)
{
    ubj u = {.base = base, .out = NULL, .err = err};
    cur_init(&u.c, snap, (size_t)len);
    const uint8_t *p = NULL;
    if (len == 0 || snap[0] != '{')
        return err_at(err, BRINE_ERR_UNSUPPORTED, base, __LINE__,
                      "the XGBoost Booster's state is not the UBJSON snapshot XGBoost 2.0 and "
                      "later write (an older release's format): not converted");
    u.c.p++;
    brine_status st;
    for (;;) {
        if ((st = take(&u, 1, &p)))
            return st;
        if (p[0] == '}')
            break;
        u.c.p--;
        int64_t klen;
        if ((st = ubj_count(&u, &klen)) || (st = take(&u, (uint64_t)klen, &p)))
            return st;
        int is_model = klen == 5 && memcmp(p, "Model", 5) == 0;
        uint64_t start = cur_pos(&u.c);
        if ((st = take(&u, 1, &p)))
            return st;
        if ((st = ubj_value(&u, p[0], 1)))
            return st;
        if (is_model) {
            *at = start;
            *n = cur_pos(&u.c) - start;
            if (snap[start] != '{')
                return err_at(err, BRINE_ERR_MALFORMED, base + start, __LINE__,
                              "XGBoost snapshot: \"Model\" is not an object");
            return BRINE_OK;
        }
    }
    return err_at(err, BRINE_ERR_MALFORMED, base, __LINE__,
                  "XGBoost snapshot without a \"Model\" entry");
}

/* ------------------------------------------------------------------ the config */

/* The typed object (docs/config.md: `{"__type__": "object", "callee", "args", "state"}`) in the
 * model's config whose state holds the booster under `_Booster`, or NULL. */
static json_t *find_wrapper(json_t *v, unsigned depth)
{
    if (depth > 64)
        return NULL;
    if (json_is_object(v)) {
        json_t *state = json_object_get(v, "state");
        if (json_is_object(state) && json_object_get(state, "_Booster"))
            return v;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            json_t *w = find_wrapper(x, depth + 1);
            if (w)
                return w;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            json_t *w = find_wrapper(x, depth + 1);
            if (w)
                return w;
        }
    }
    return NULL;
}

/* {"format", "class", "attributes"}: the wrapper's attributes without the booster, or for a
 * bare Booster its own attributes without the model bytes. */
static char *native_config(const brine_model *m, const char *format, const char *booster_class,
                           const char *handle_key)
{
    json_t *doc = json_loads(m->config_json, 0, NULL);
    json_t *out = json_object();
    char *text = NULL;
    if (!doc || !out)
        goto done;
    json_t *w = find_wrapper(doc, 0);
    json_t *attrs = NULL;
    const char *cls = booster_class;
    if (w) {
        attrs = json_deep_copy(json_object_get(w, "state"));
        if (attrs)
            json_object_del(attrs, "_Booster");
        json_t *call = json_object_get(w, "callee");
        json_t *cls0 = json_array_get(json_object_get(w, "args"), 0); /* a global: the class */
        if (json_is_string(call) && strcmp(json_string_value(call), "copyreg._reconstructor") != 0)
            cls = json_string_value(call);
        else if (json_is_string(json_object_get(cls0, "name")))
            cls = json_string_value(json_object_get(cls0, "name"));
    } else {
        json_t *state = json_object_get(doc, "state");
        attrs = json_is_object(state) ? json_deep_copy(state) : json_object();
        if (attrs)
            json_object_del(attrs, handle_key);
    }
    if (!attrs || json_object_set_new(out, "format", json_string(format)) ||
        json_object_set_new(out, "class", json_string(cls)) ||
        json_object_set_new(out, "attributes", attrs))
        goto done;
    text = ld_json_dump(out, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_SORT_KEYS);
done:
    json_decref(doc);
    json_decref(out);
    return text;
}

/* ------------------------------------------------------------------ writing */

typedef struct span {
    const uint8_t *p;
    size_t len;
} span;

static brine_status write_span(void *ctx, int fd, brine_error *err)
{
    const span *s = ctx;
    size_t off = 0;
    while (off < s->len) {
        ssize_t w = write(fd, s->p + off, s->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(err, BRINE_ERR_IO, __LINE__, "cannot write: %s", strerror(errno));
        off += (size_t)w;
    }
    return BRINE_OK;
}

static int ends_with(const char *s, const char *ext)
{
    size_t n = strlen(s), e = strlen(ext);
    return n > e && strcmp(s + n - e, ext) == 0;
}

/* "model.json" → "model.config.json": the extension replaced. */
static char *native_config_path(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    char *out = malloc(stem + sizeof ".config.json");
    if (out) {
        memcpy(out, path, stem);
        memcpy(out + stem, ".config.json", sizeof ".config.json");
    }
    return out;
}

static brine_status write_pair(const char *path, span body, const char *config_text,
                               const brine_convert_options *opts, brine_error *err)
{
    char *config_path =
        opts && opts->config_path ? strdup(opts->config_path) : native_config_path(path);
    char *staged = NULL, *staged_body = NULL;
    unsigned flags =
        (opts && opts->no_sync ? ATOMIC_NO_SYNC : 0) | (opts && opts->force ? ATOMIC_REPLACE : 0);
    brine_status st = config_path ? BRINE_OK : ERR_NOMEM(err);
    if (!st && strcmp(config_path, path) == 0)
        st = err_set(err, BRINE_ERR_USAGE, __LINE__,
                     "the config and the model would both be written to %.150s", path);
    if (!st)
        st = atomic_write(config_path, write_span,
                          &(span){(const uint8_t *)config_text, strlen(config_text)}, flags,
                          &staged, err);
    if (!st)
        st = atomic_write(path, write_span, &body, flags, &staged_body, err);
    if (!st)
        st = atomic_commit_pair(staged_body, path, staged, config_path, flags, err);
    else
        atomic_discard(staged);
    free(staged_body);
    free(staged);
    free(config_path);
    return st;
}

static brine_status write_xgboost(const brine_model *m, const pk_graph *g, const char *path,
                                  const brine_convert_options *opts, brine_error *err)
{
    int many;
    pk_id b = find_state_holder(g, "xgboost.core.Booster", "handle", &many);
    if (!b)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "no XGBoost Booster (xgboost.core.Booster with its model state) in the "
                       "file: .json and .ubj outputs are XGBoost models");
    if (many)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "the file holds several XGBoost Boosters: brine converts one");
    pk_id h = dict_get(g, pk_state(g, pk_at(g, b)), "handle");
    const uint8_t *snap;
    uint64_t len = 0, at = 0, n = 0;
    mem_budget *mem = (mem_budget *)&m->mem; /* the writers charge the model's budget */
    uint8_t *owned;
    size_t owned_len = 0;
    int got = pickled_bytes(mem, g, h, &snap, &len, &owned, &owned_len, 0);
    if (got < 0)
        return ERR_NOMEM(err);
    if (!got)
        return err_at(err, BRINE_ERR_UNSUPPORTED, pk_offset(g, pk_at(g, h)), __LINE__,
                      "the XGBoost Booster's handle is not a byte string (an unfitted or "
                      "foreign Booster): not converted");
    uint64_t base = pk_offset(g, pk_at(g, h));
    brine_status st = xgb_model_span(snap, len, base, &at, &n, err);
    text_buf json = {mem, NULL, 0, 0};
    span body = {snap + (st ? 0 : at), (size_t)n};
    if (!st && ends_with(path, ".json")) {
        ubj u = {.base = base + at, .out = &json, .err = err};
        cur_init(&u.c, snap + at + 1, (size_t)n - 1);
        if (!(st = ubj_value(&u, '{', 0)) && !(st = put(&u, "\n", 1)))
            body = (span){(const uint8_t *)json.p, json.len};
    }
    char *config = st ? NULL : native_config(m, "xgboost", "xgboost.core.Booster", "handle");
    if (!st && !config)
        st = ERR_NOMEM(err);
    if (!st)
        st = write_pair(path, body, config, opts, err);
    free(config);
    mem_free(mem, json.p, json.cap);
    mem_free(mem, owned, owned_len);
    return st;
}

static brine_status write_lightgbm(const brine_model *m, const pk_graph *g, const char *path,
                                   const brine_convert_options *opts, brine_error *err)
{
    int many, many_old;
    const char *key = "_handle";
    pk_id b = find_state_holder(g, "lightgbm.basic.Booster", key, &many);
    if (!b) {
        key = "handle"; /* LightGBM before 4.0 */
        b = find_state_holder(g, "lightgbm.basic.Booster", key, &many_old);
        many = many_old;
    }
    if (!b)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "no LightGBM Booster (lightgbm.basic.Booster with its model string) in "
                       "the file: .txt outputs are LightGBM models");
    if (many)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "the file holds several LightGBM Boosters: brine converts one");
    const pk_node *t = pk_at(g, dict_get(g, pk_state(g, pk_at(g, b)), key));
    if (t->kind != K_STR || !pk_utf8_valid(t->v.s.p, t->v.s.len, 0) || t->v.s.len < 4 ||
        memcmp(t->v.s.p, "tree", 4) != 0)
        return err_at(err, BRINE_ERR_UNSUPPORTED, pk_offset(g, t), __LINE__,
                      "the LightGBM Booster's %s is not a model string (\"tree\\n…\")", key);
    char *config = native_config(m, "lightgbm", "lightgbm.basic.Booster", key);
    if (!config)
        return ERR_NOMEM(err);
    brine_status st = write_pair(path, (span){t->v.s.p, (size_t)t->v.s.len}, config, opts, err);
    free(config);
    return st;
}

int brine_native_format(const char *path)
{
    if (!path)
        return 0;
    return ends_with(path, ".json") || ends_with(path, ".ubj") || ends_with(path, ".txt");
}

brine_status brine_model_write_native(const brine_model *m, const char *path,
                                      const brine_convert_options *opts, brine_error *err)
{
    if (!m || !path)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_write_native: NULL");
    const pk_graph *g = m->set.g;
    if (!g)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "%s files hold no pickled XGBoost or LightGBM model", m->format);
    if (ends_with(path, ".json") || ends_with(path, ".ubj"))
        return write_xgboost(m, g, path, opts, err);
    if (ends_with(path, ".txt"))
        return write_lightgbm(m, g, path, opts, err);
    return err_set(err, BRINE_ERR_USAGE, __LINE__,
                   "%.200s: the output's extension names no model format (.json or .ubj for "
                   "XGBoost, .txt for LightGBM, .safetensors)",
                   path);
}
