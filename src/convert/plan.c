/*
 * plan.c — the tensors and config a conversion writes (plan.h).
 *
 * Everything here reads the typed config (docs/config.md) that the tensor walk built: a part
 * of the checkpoint is found by following its keys, and a pickled module's state_dict() by
 * following its _parameters, _buffers and _modules the way Module._save_to_state_dict does
 * (parameters, then persistent buffers, then the children, None skipped). Nothing is
 * re-judged: the values were already walked and the tensors validated.
 */
#include "convert/plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

enum { MAX_JSON_DEPTH = 512 };

typedef struct builder {
    cv_entry *e;
    char **old; /* the name each entry has in the set (malloc'd) */
    size_t n, cap;
    brine_error *err;
} builder;

static const char *type_of(const json_t *v)
{
    return json_is_object(v) ? json_string_value(json_object_get(v, "__type__")) : NULL;
}

static int is(const json_t *v, const char *type)
{
    const char *t = type_of(v);
    return t && strcmp(t, type) == 0;
}

/* A later reference → the contents it repeats; an OrderedDict or Counter → its dict. */
static json_t *unwrap(json_t *v)
{
    for (int i = 0; i < MAX_JSON_DEPTH; i++) {
        json_t *inner = json_object_get(v, "value");
        if (inner &&
            (is(v, "ref") || is(v, "collections.OrderedDict") || is(v, "collections.Counter")))
            v = inner;
        else
            break;
    }
    return v;
}

/* d[key] where d is a dict value (plain, typed with [key, value] items, whose keys may be
 * ints matched by their digits); the last of repeated keys wins, as in Python. */
static json_t *dict_get(json_t *d, const char *key)
{
    d = unwrap(d);
    if (json_is_object(d) && !type_of(d))
        return json_object_get(d, key);
    if (!is(d, "dict"))
        return NULL;
    json_t *found = NULL, *pair;
    size_t i;
    json_array_foreach(json_object_get(d, "items"), i, pair)
    {
        json_t *k = json_array_get(pair, 0);
        char buf[32];
        if (json_is_integer(k))
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        const char *text = json_is_string(k)    ? json_string_value(k)
                           : json_is_integer(k) ? buf
                                                : NULL;
        if (text && strcmp(text, key) == 0)
            found = json_array_get(pair, 1);
    }
    return found;
}

/* The [key, value] pairs of a dict value with text keys, as a new array, or NULL. */
static json_t *dict_pairs(json_t *d)
{
    d = unwrap(d);
    json_t *pairs = NULL;
    if (json_is_object(d) && !type_of(d)) {
        const char *k;
        json_t *v;
        if (!(pairs = json_array()))
            return NULL;
        json_object_foreach(d, k, v)
        {
            if (json_array_append_new(pairs, json_pack("[sO]", k, v))) {
                json_decref(pairs);
                return NULL;
            }
        }
    } else if (is(d, "dict")) {
        pairs = json_incref(json_object_get(d, "items"));
    }
    return pairs;
}

/* One step of a --key path: a dict key, a list index, or __state__ of an object. */
static json_t *child(json_t *v, const char *part)
{
    json_t *d = unwrap(v);
    json_t *items = json_is_array(d)                  ? d
                    : is(d, "list") || is(d, "tuple") ? json_object_get(d, "items")
                                                      : NULL;
    if (items) {
        char *end;
        unsigned long long i = strtoull(part, &end, 10);
        if (!*part || *end || part[0] == '-' || part[0] == '+' || i >= json_array_size(items))
            return NULL;
        return json_array_get(items, (size_t)i);
    }
    if (is(d, "object"))
        return strcmp(part, "__state__") == 0 ? json_object_get(d, "state") : NULL;
    return dict_get(d, part);
}

static brine_status add(builder *b, const char *old, const char *name)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        cv_entry *e = realloc(b->e, cap * sizeof *e);
        if (e)
            b->e = e;
        char **o = e ? realloc(b->old, cap * sizeof *o) : NULL;
        if (!o)
            return ERR_NOMEM(b->err);
        b->old = o;
        b->cap = cap;
    }
    char *copy = strdup(name), *old_copy = strdup(old);
    if (!copy || !old_copy) {
        free(copy);
        free(old_copy);
        return ERR_NOMEM(b->err);
    }
    b->e[b->n] = (cv_entry){NULL, copy, -1};
    b->old[b->n++] = old_copy;
    return BRINE_OK;
}

/* Every tensor reference under v (a copy the caller owns): renamed without the key's prefix
 * and recorded. */
static brine_status take_part(builder *b, json_t *v, const char *prefix, size_t plen, int depth)
{
    if (depth > MAX_JSON_DEPTH)
        return err_set(b->err, BRINE_ERR_LIMIT, __LINE__, "config nested too deeply");
    if (is(v, "tensor") || is(v, "ndarray")) {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!name)
            return BRINE_OK;
        const char *short_name = strncmp(name, prefix, plen) == 0 ? name + plen : name;
        brine_status st = add(b, name, short_name);
        if (!st && json_object_set_new(v, "name", json_string(short_name)))
            st = ERR_NOMEM(b->err);
        return st;
    }
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v))
        json_array_foreach(v, i, x)
        {
            brine_status st = take_part(b, x, prefix, plen, depth + 1);
            if (st)
                return st;
        }
    else if (json_is_object(v))
        json_object_foreach(v, k, x)
        {
            brine_status st = take_part(b, x, prefix, plen, depth + 1);
            if (st)
                return st;
        }
    return BRINE_OK;
}

/* The names in a set value (typed set, or builtins.set([...]) of protocols < 4). */
static int in_set(json_t *set, const char *name)
{
    set = unwrap(set);
    json_t *items = is(set, "set") || is(set, "frozenset") ? json_object_get(set, "items") : NULL;
    if (!items && is(set, "object"))
        items = json_array_get(json_object_get(set, "args"), 0);
    size_t i;
    json_t *x;
    json_array_foreach(items, i, x)
    {
        if (json_is_string(x) && strcmp(json_string_value(x), name) == 0)
            return 1;
    }
    return 0;
}

/* Module._save_to_state_dict, recursively: prefix + name for each parameter and persistent
 * buffer, children after. sd receives {name: tensor reference}. */
static brine_status module_state(builder *b, json_t *mod, char *prefix, size_t plen, json_t *sd,
                                 int depth)
{
    json_t *state = is(unwrap(mod), "object") ? json_object_get(unwrap(mod), "state") : NULL;
    if (depth > MAX_JSON_DEPTH)
        return err_set(b->err, BRINE_ERR_LIMIT, __LINE__, "modules nested too deeply");
    if (!state || !dict_get(state, "_parameters") || !dict_get(state, "_modules"))
        return err_set(b->err, BRINE_ERR_USAGE, __LINE__,
                       "%.200s is not a pickled torch.nn.Module (no _parameters and _modules)",
                       plen ? prefix : "the value");
    static const char *const parts[] = {"_parameters", "_buffers", "_modules"};
    json_t *skip = dict_get(state, "_non_persistent_buffers_set");
    brine_status st = BRINE_OK;
    for (int p = 0; p < 3 && !st; p++) {
        json_t *pairs = dict_pairs(dict_get(state, parts[p]));
        size_t i;
        json_t *pair;
        if (!pairs && dict_get(state, parts[p]))
            return ERR_NOMEM(b->err);
        json_array_foreach(pairs, i, pair)
        {
            const char *name = json_string_value(json_array_get(pair, 0));
            json_t *v = unwrap(json_array_get(pair, 1));
            if (st || !name || json_is_null(v) || (p == 1 && in_set(skip, name)))
                continue;
            size_t n = strlen(name);
            if (plen + n + 2 > 4096) {
                st = err_set(b->err, BRINE_ERR_LIMIT, __LINE__, "module path too long");
                continue;
            }
            memcpy(prefix + plen, name, n + 1);
            if (p == 2) {
                prefix[plen + n] = '.';
                prefix[plen + n + 1] = 0;
                st = module_state(b, v, prefix, plen + n + 1, sd, depth + 1);
            } else if (is(v, "tensor")) {
                const char *old = json_string_value(json_object_get(v, "name"));
                st = old ? add(b, old, prefix) : BRINE_OK;
                if (!st &&
                    json_object_set_new(
                        sd, prefix, json_pack("{s:s,s:s}", "__type__", "tensor", "name", prefix)))
                    st = ERR_NOMEM(b->err);
            } else {
                st = err_set(b->err, BRINE_ERR_UNSUPPORTED, __LINE__, "%.200s is not a tensor",
                             prefix);
            }
            prefix[plen] = 0;
        }
        json_decref(pairs);
    }
    return st;
}

static int by_name(const void *a, const void *b)
{
    const ld_tensor *x = *(const ld_tensor *const *)a, *y = *(const ld_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Entries found by their name in the set. */
static brine_status resolve(builder *b, const ld_set *s)
{
    const ld_tensor **sorted = malloc((s->n_tensors ? s->n_tensors : 1) * sizeof *sorted);
    if (!sorted)
        return ERR_NOMEM(b->err);
    for (size_t i = 0; i < s->n_tensors; i++)
        sorted[i] = &s->tensors[i];
    qsort(sorted, s->n_tensors, sizeof *sorted, by_name);
    brine_status st = BRINE_OK;
    for (size_t i = 0; i < b->n && !st; i++) {
        ld_tensor key = {.name = (char *)b->old[i]};
        const ld_tensor *kp = &key;
        const ld_tensor **hit = bsearch(&kp, sorted, s->n_tensors, sizeof *sorted, by_name);
        if (hit)
            b->e[i].t = *hit;
        else
            st = err_set(b->err, BRINE_ERR_MALFORMED, __LINE__,
                         "the config names a tensor %.200s the model does not hold", b->old[i]);
    }
    free(sorted);
    return st;
}

/* The same bytes: one storage, offset, dtype, shape and strides. */
static int same_view(const ld_tensor *a, const ld_tensor *b)
{
    return a->storage == b->storage && a->offset == b->offset && a->dtype == b->dtype &&
           a->ndim == b->ndim && !memcmp(a->shape, b->shape, a->ndim * sizeof *a->shape) &&
           !memcmp(a->strides, b->strides, a->ndim * sizeof *a->strides);
}

static int by_view(const void *pa, const void *pb)
{
    const cv_entry *a = *(const cv_entry *const *)pa, *b = *(const cv_entry *const *)pb;
    if (a->t->storage != b->t->storage)
        return a->t->storage < b->t->storage ? -1 : 1;
    if (a->t->offset != b->t->offset)
        return a->t->offset < b->t->offset ? -1 : 1;
    if (a->t->ndim != b->t->ndim)
        return a->t->ndim < b->t->ndim ? -1 : 1;
    int c = memcmp(a->t->shape, b->t->shape, a->t->ndim * sizeof *a->t->shape);
    if (!c)
        c = memcmp(a->t->strides, b->t->strides, a->t->ndim * sizeof *a->t->strides);
    if (!c && a->t->dtype != b->t->dtype)
        c = strcmp(a->t->dtype->st_name, b->t->dtype->st_name);
    return c ? c : strcmp(a->name, b->name);
}

/* Identical views are stored once under the first name in sort order (as
 * safetensors.torch.save_model keeps sorted(names)[0]); the others become aliases, recorded
 * as {"alias": "kept"}. Empty tensors are never merged (they share nothing). */
static brine_status dedup(cv_plan *p, brine_error *err)
{
    if (p->n < 2)
        return BRINE_OK;
    cv_entry **order = malloc(p->n * sizeof *order);
    json_t *aliases = json_object();
    brine_status st = order && aliases ? BRINE_OK : ERR_NOMEM(err);
    for (size_t i = 0; !st && i < p->n; i++)
        order[i] = &p->e[i];
    if (!st)
        qsort(order, p->n, sizeof *order, by_view);
    for (size_t i = 1; !st && i < p->n; i++) {
        cv_entry *first = order[i - 1];
        while (first->kept >= 0)
            first = &p->e[first->kept];
        if (order[i]->t->numel == 0 || !same_view(first->t, order[i]->t))
            continue;
        order[i]->kept = (long)(first - p->e);
        if (json_object_set_new(aliases, order[i]->name, json_string(first->name)))
            st = ERR_NOMEM(err);
    }
    if (!st && json_object_size(aliases) &&
        !(p->aliases = ld_json_dump(aliases, JSON_COMPACT | JSON_SORT_KEYS)))
        st = ERR_NOMEM(err);
    free(order);
    json_decref(aliases);
    return st;
}

brine_status cv_plan_build(const ld_set *s, const json_t *config, const cv_select *sel, cv_plan *p,
                           brine_error *err)
{
    memset(p, 0, sizeof *p);
    builder b = {NULL, NULL, 0, 0, err};
    json_t *part = (json_t *)config, *out = NULL;
    brine_status st = BRINE_OK;
    char *path = NULL;
    if (sel && sel->key) {
        if (!(path = strdup(sel->key)))
            return ERR_NOMEM(err);
        for (char *tok = path; tok && part;) { /* dot-separated parts, each a key or index */
            char *dot = memchr(tok, '.', strlen(tok));
            if (dot)
                *dot = 0;
            part = child(part, tok);
            tok = dot ? dot + 1 : NULL;
        }
        if (!part)
            st = err_set(err, BRINE_ERR_USAGE, __LINE__, "--key %.200s: no such part", sel->key);
    }
    if (!st && sel && sel->state_dict) {
        char *prefix = calloc(4096, 1);
        out = json_object();
        if (!prefix || !out)
            st = ERR_NOMEM(err);
        else
            st = module_state(&b, part, prefix, 0, out, 0);
        free(prefix);
        json_t *od =
            st ? NULL : json_pack("{s:s,s:O}", "__type__", "collections.OrderedDict", "value", out);
        json_decref(out);
        out = od;
        if (!st && !out)
            st = ERR_NOMEM(err);
    } else if (!st && sel && sel->key) {
        /* the part, its tensors renamed without the key: "model.fc.weight" → "fc.weight" */
        size_t plen = strlen(sel->key);
        char *prefix = malloc(plen + 2);
        out = json_deep_copy(part);
        if (!prefix || !out) {
            st = ERR_NOMEM(err);
        } else {
            memcpy(prefix, sel->key, plen);
            memcpy(prefix + plen, ".", 2);
            st = take_part(&b, out, prefix, plen + 1, 0);
        }
        free(prefix);
    } else if (!st) {
        for (size_t i = 0; i < s->n_tensors && !st; i++)
            st = add(&b, s->tensors[i].name, s->tensors[i].name);
    }
    int whole = !sel || (!sel->key && !sel->state_dict);
    if (!st && !whole)
        st = resolve(&b, s);
    else if (whole)
        for (size_t i = 0; i < b.n; i++)
            b.e[i].t = &s->tensors[i];
    p->e = b.e;
    p->n = b.n;
    if (!st && !(p->config = ld_json_dump(out ? out : config,
                                          JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)))
        st = ERR_NOMEM(err);
    if (!st && sel && sel->dedup)
        st = dedup(p, err);
    for (size_t i = 0; i < b.n; i++)
        free(b.old[i]);
    free(b.old);
    free(path);
    json_decref(out);
    if (st)
        cv_plan_free(p);
    return st;
}

void cv_plan_free(cv_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->e[i].name);
    free(p->e);
    free(p->config);
    free(p->aliases);
    memset(p, 0, sizeof *p);
}
