/*
 * safetensors.c — the safetensors reader, writer and scan descriptor (research/formats.md §3).
 *
 * Threat model: the header is attacker-controlled JSON of up to st_max_header bytes and the
 * offsets in it point into attacker-controlled bytes. The reader applies the reference
 * validator's rules in its order (huggingface/safetensors@24b0b28 safetensors/src/tensor.rs,
 * SafeTensors::read_metadata + Metadata::validate): length ≥ 8, N ≤ 100 000 000, 8 + N ≤
 * file length, UTF-8, JSON of the right types, offsets that tile the buffer exactly in order
 * (no gap, no overlap, no trailing bytes — a polyglot can hide nothing there), element count
 * × bits with overflow checks. It is stricter where serde or Python's json are lax and two
 * loaders could then disagree (TOB-SFTN-7, llama.cpp #1603): any repeated key is an error,
 * metadata values must be strings, integers must fit int64 (jansson's range).
 *
 * Before jansson parses anything, a linear pre-scan bounds what parsing can cost: nesting
 * depth (serde_json's recursion limit, 128), the number of tensor entries (max_tensors) and
 * an estimate of the parser's memory, charged to the budget while the DOM exists, because
 * jansson allocates through its own malloc.
 */
#include "formats/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/file.h"
#include "core/limits.h"
#include "formats/format.h"

/* ------------------------------------------------------------------ dtypes */

const st_dtype_info st_dtypes[ST_DTYPE_COUNT] = {
#define DTYPE(id, name, bits, torch, storage, numpy) {name, bits, torch, storage, numpy},
#include "formats/dtypes.def"
#undef DTYPE
};

int st_dtype_from_name(const char *name, size_t len)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strlen(st_dtypes[i].name) == len && !memcmp(st_dtypes[i].name, name, len))
            return i;
    return -1;
}

int st_nbytes(st_dtype dtype, size_t ndim, const uint64_t *shape, uint64_t *nbytes)
{
    /* Metadata::validate: try_fold(1, checked_mul), then checked_mul by bitsize, then
     * nbits % 8 (MisalignedSlice) */
    uint64_t n = 1, bits;
    for (size_t i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, shape[i], &n))
            return -1;
    if (__builtin_mul_overflow(n, (uint64_t)st_dtypes[dtype].bits, &bits))
        return -1;
    if (bits % 8)
        return -2;
    *nbytes = bits / 8;
    return 0;
}

/* ------------------------------------------------------------------ reader */

typedef struct st_meta {
    const char *key, *value;
} st_meta;

struct st_file {
    mem_budget *mem;
    uint64_t header_len;
    st_tensor_info *tensors;
    size_t n;
    uint64_t *dims; /* every tensor's shape, back to back */
    size_t n_dims;
    char *strings; /* names, metadata keys and values, NUL-terminated */
    size_t strings_len;
    st_meta *meta;
    size_t n_meta;
    int has_meta;
    const st_tensor_info **by_name;
};

/* Rust's str::from_utf8: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Returns the offset of the first invalid byte, or len. */
static size_t utf8_valid_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

enum { ST_MAX_DEPTH = 128 }; /* serde_json's default recursion limit */

/* A JSON syntax check (RFC 8259) that allocates nothing, run before jansson: it gives exact
 * messages and offsets, bounds nesting (serde_json's limit, so recursion here is bounded
 * too), and counts what the parse will cost. Once it passes, jansson can only refuse a
 * header for the few reasons listed in st_open — anything else is jansson running out of
 * memory, which its error codes do not reliably say. */
typedef struct jscan {
    const uint8_t *s;
    size_t len, i;
    unsigned depth;
    uint64_t values;   /* JSON values: what the parser will allocate */
    uint64_t top_keys; /* members of the root object: the tensor count, plus __metadata__ */
    const char *why;   /* set on failure; s[i] is where */
} jscan;

static int js_fail(jscan *j, const char *why)
{
    j->why = why;
    return -1;
}

static void js_ws(jscan *j)
{
    while (j->i < j->len &&
           (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

static int js_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int js_digit(const jscan *j)
{
    return j->i < j->len && j->s[j->i] >= '0' && j->s[j->i] <= '9';
}

static int js_string(jscan *j)
{
    j->i++; /* the opening quote */
    while (j->i < j->len) {
        uint8_t c = j->s[j->i];
        if (c == '"') {
            j->i++;
            return 0;
        }
        if (c < 0x20)
            return js_fail(j, "a control character inside a string must be escaped");
        if (c == '\\') {
            if (j->len - j->i < 2)
                break;
            uint8_t e = j->s[j->i + 1];
            if (e == 'u') {
                if (j->len - j->i < 6 || !js_hex(j->s[j->i + 2]) || !js_hex(j->s[j->i + 3]) ||
                    !js_hex(j->s[j->i + 4]) || !js_hex(j->s[j->i + 5]))
                    return js_fail(j, "\\u needs four hex digits");
                j->i += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || !e)
                return js_fail(j, "unknown escape in a string");
            j->i += 2;
            continue;
        }
        j->i++;
    }
    return js_fail(j, "the string is not closed");
}

static int js_number(jscan *j)
{
    if (j->s[j->i] == '-')
        j->i++;
    if (!js_digit(j))
        return js_fail(j, "a number needs a digit here");
    if (j->s[j->i] == '0')
        j->i++;
    else
        while (js_digit(j))
            j->i++;
    if (j->i < j->len && j->s[j->i] == '.') {
        j->i++;
        if (!js_digit(j))
            return js_fail(j, "a fraction needs a digit after '.'");
        while (js_digit(j))
            j->i++;
    }
    if (j->i < j->len && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->len && (j->s[j->i] == '+' || j->s[j->i] == '-'))
            j->i++;
        if (!js_digit(j))
            return js_fail(j, "an exponent needs a digit");
        while (js_digit(j))
            j->i++;
    }
    return 0;
}

static int js_value(jscan *j);

/* An object or an array (close is '}' or ']'). */
static int js_container(jscan *j, uint8_t close)
{
    if (++j->depth >= ST_MAX_DEPTH)
        return js_fail(j, "nesting reaches serde_json's recursion limit of 128 levels");
    j->i++;
    js_ws(j);
    if (j->i < j->len && j->s[j->i] == close) {
        j->i++;
        j->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (j->i >= j->len || j->s[j->i] != '"')
                return js_fail(j, "expected a string key");
            if (js_string(j))
                return -1;
            if (j->depth == 1)
                j->top_keys++;
            js_ws(j);
            if (j->i >= j->len || j->s[j->i] != ':')
                return js_fail(j, "expected ':' after the key");
            j->i++;
            js_ws(j);
        }
        if (js_value(j))
            return -1;
        js_ws(j);
        if (j->i < j->len && j->s[j->i] == ',') {
            j->i++;
            js_ws(j);
            continue;
        }
        if (j->i < j->len && j->s[j->i] == close) {
            j->i++;
            j->depth--;
            return 0;
        }
        return js_fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int js_value(jscan *j)
{
    j->values++;
    if (j->i >= j->len)
        return js_fail(j, "expected a value, the header ends");
    uint8_t c = j->s[j->i];
    if (c == '{' || c == '[')
        return js_container(j, c == '{' ? '}' : ']');
    if (c == '"')
        return js_string(j);
    if (c == '-' || (c >= '0' && c <= '9'))
        return js_number(j);
    static const char *const words[] = {"true", "false", "null"};
    for (size_t w = 0; w < 3; w++) {
        size_t n = strlen(words[w]);
        if (j->len - j->i >= n && !memcmp(j->s + j->i, words[w], n)) {
            j->i += n;
            return 0;
        }
    }
    if (c == '\0')
        return js_fail(j, "NUL byte: only JSON whitespace may pad the header");
    return js_fail(j, "expected a value");
}

static int json_check(jscan *j, const uint8_t *s, size_t len)
{
    memset(j, 0, sizeof *j);
    j->s = s;
    j->len = len;
    js_ws(j);
    /* serde deserialises the header into a map: nothing else can be one */
    if (j->i >= len || j->s[j->i] != '{')
        return js_fail(j, "the header must be a JSON object");
    if (js_value(j))
        return -1;
    js_ws(j);
    if (j->i < len)
        return js_fail(j, j->s[j->i] ? "trailing characters after the JSON value"
                                     : "NUL byte: only JSON whitespace may pad the header");
    return 0;
}

/* The refusals jansson may still make after json_check passed (jansson 2.14 load.c). */
static int jansson_refusal(const char *text)
{
    static const char *const known[] = {"duplicate object key",   "\\u0000 is not allowed",
                                        "NUL byte in object key", "invalid Unicode",
                                        "too big integer",        "real number overflow"};
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        if (!strncmp(text, known[k], strlen(known[k])))
            return 1;
    return 0;
}

/* The budget is charged for the JSON DOM while it exists (jansson uses its own malloc): a
 * value costs at most this many bytes there (objects, with their hash buckets, the most). */
enum { ST_JSON_VALUE_COST = 160 };

static int reserve(mem_budget *b, uint64_t n)
{
    if (b->used > b->limit || n > b->limit - b->used) {
        b->exhausted = 1;
        return -1;
    }
    b->used += n;
    if (b->used > b->peak)
        b->peak = b->used;
    return 0;
}

static void unreserve(mem_budget *b, uint64_t n) { b->used -= n <= b->used ? n : b->used; }

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a float";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Where a tensor entry's key is in the header, for error offsets (best effort: the key as
 * written, quoted; else the header start). */
static uint64_t key_offset(const uint8_t *hdr, size_t len, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 0; k + 2 <= len && i <= len - k - 2; i++)
        if (hdr[i] == '"' && hdr[i + k + 1] == '"' && !memcmp(hdr + i + 1, key, k))
            return 8 + i;
    return 8;
}

/* A short printable form of a name for messages. */
static const char *show(const char *s, char *buf, size_t cap)
{
    size_t n = strlen(s);
    if (n < cap) {
        memcpy(buf, s, n + 1);
    } else {
        memcpy(buf, s, cap - 4);
        memcpy(buf + cap - 4, "...", 4);
    }
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    return buf;
}

/* A non-negative JSON integer, as serde's usize (which rejects floats and negatives). */
static int get_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

typedef struct pending {
    const char *name; /* into the DOM */
    const json_t *shape;
    st_dtype dtype;
    uint64_t begin, end;
} pending;

static int by_offsets(const void *pa, const void *pb)
{
    const st_tensor_info *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int by_tensor_name(const void *pa, const void *pb)
{
    const st_tensor_info *a = *(const st_tensor_info *const *)pa;
    const st_tensor_info *b = *(const st_tensor_info *const *)pb;
    return strcmp(a->name, b->name);
}

static int by_meta_key(const void *pa, const void *pb)
{
    return strcmp(((const st_meta *)pa)->key, ((const st_meta *)pb)->key);
}

/* Checks one tensor entry's types (serde's TensorInfo): dtype, shape, data_offsets. Other
 * keys are ignored, as the reference ignores them. */
static brine_status check_entry(const char *name, const json_t *v, pending *p, uint64_t *ndims,
                                brine_error *err)
{
    char nb[80];
    const uint64_t at = 8; /* the caller points err at the entry */
    if (!json_is_object(v))
        return ERR_CORRUPT(err, at,
                           "tensor '%s' is %s, expected an object with dtype, shape and "
                           "data_offsets (InvalidHeaderDeserialization)",
                           show(name, nb, sizeof nb), json_kind(v));
    const json_t *dt = json_object_get(v, "dtype");
    const json_t *sh = json_object_get(v, "shape");
    const json_t *of = json_object_get(v, "data_offsets");
    const char *missing = !dt ? "dtype" : !sh ? "shape" : !of ? "data_offsets" : NULL;
    if (missing)
        return ERR_CORRUPT(err, at,
                           "tensor '%s' has no \"%s\" (InvalidHeaderDeserialization: missing "
                           "field)",
                           show(name, nb, sizeof nb), missing);
    int d =
        json_is_string(dt) ? st_dtype_from_name(json_string_value(dt), json_string_length(dt)) : -1;
    if (d < 0) {
        char vb[40];
        return ERR_CORRUPT(err, at,
                           "tensor '%s' has dtype %s%s%s, not one of the 22 safetensors dtypes "
                           "(InvalidHeaderDeserialization: unknown variant)",
                           show(name, nb, sizeof nb), json_is_string(dt) ? "\"" : "",
                           json_is_string(dt) ? show(json_string_value(dt), vb, sizeof vb)
                                              : json_kind(dt),
                           json_is_string(dt) ? "\"" : "");
    }
    if (!json_is_array(sh))
        return ERR_CORRUPT(err, at,
                           "tensor '%s' has a shape that is %s, expected an array of "
                           "non-negative integers (InvalidHeaderDeserialization)",
                           show(name, nb, sizeof nb), json_kind(sh));
    for (size_t i = 0; i < json_array_size(sh); i++) {
        uint64_t dim;
        if (get_uint(json_array_get(sh, i), &dim))
            return ERR_CORRUPT(err, at,
                               "tensor '%s': shape[%zu] is %s%s, expected a non-negative "
                               "integer (InvalidHeaderDeserialization)",
                               show(name, nb, sizeof nb), i, json_kind(json_array_get(sh, i)),
                               json_is_integer(json_array_get(sh, i)) ? " below zero" : "");
    }
    if (!json_is_array(of) || json_array_size(of) != 2 ||
        get_uint(json_array_get(of, 0), &p->begin) || get_uint(json_array_get(of, 1), &p->end))
        return ERR_CORRUPT(err, at,
                           "tensor '%s': data_offsets must be [begin, end], two non-negative "
                           "integers (InvalidHeaderDeserialization)",
                           show(name, nb, sizeof nb));
    p->name = name;
    p->shape = sh;
    p->dtype = (st_dtype)d;
    *ndims += json_array_size(sh);
    return BRINE_OK;
}

/* __metadata__: an object of strings (the reference's Option<HashMap<String, String>>;
 * null is None). */
static brine_status check_metadata(const uint8_t *hdr, size_t hlen, const json_t *v,
                                   size_t *strings, brine_error *err)
{
    char nb[80];
    uint64_t at = key_offset(hdr, hlen, "__metadata__");
    if (json_is_null(v))
        return BRINE_OK;
    if (!json_is_object(v))
        return ERR_CORRUPT(err, at,
                           "__metadata__ is %s, expected an object of strings "
                           "(InvalidHeaderDeserialization)",
                           json_kind(v));
    const char *k;
    const json_t *s;
    json_object_foreach((json_t *)(uintptr_t)v, k, s)
    {
        if (!json_is_string(s))
            return ERR_CORRUPT(err, at,
                               "__metadata__ value for '%s' is %s, expected a string "
                               "(InvalidHeaderDeserialization: invalid type)",
                               show(k, nb, sizeof nb), json_kind(s));
        *strings += strlen(k) + 1 + json_string_length(s) + 1;
    }
    return BRINE_OK;
}

static char *put_str(char **cur, const char *s, size_t n)
{
    char *d = *cur;
    memcpy(d, s, n);
    d[n] = '\0';
    *cur += n + 1;
    return d;
}

/* The tensors, sorted by offsets as Metadata::deserialize sorts them, checked as
 * Metadata::validate checks them, then the buffer end against the file (read_metadata). */
static brine_status validate_layout(st_file *f, const uint8_t *hdr, size_t hlen, size_t len,
                                    brine_error *err)
{
    char nb[80];
    if (f->n > 1)
        qsort(f->tensors, f->n, sizeof *f->tensors, by_offsets);
    uint64_t start = 0;
    for (size_t i = 0; i < f->n; i++) {
        st_tensor_info *t = &f->tensors[i];
        if (t->begin != start || t->end < t->begin) {
            if (t->end < t->begin)
                return ERR_CORRUPT(err, key_offset(hdr, hlen, t->name),
                                   "tensor '%s': data_offsets [%llu, %llu] end before they begin "
                                   "(InvalidOffset)",
                                   show(t->name, nb, sizeof nb), (unsigned long long)t->begin,
                                   (unsigned long long)t->end);
            return ERR_CORRUPT(err, key_offset(hdr, hlen, t->name),
                               "tensor '%s' begins at buffer offset %llu, where the previous "
                               "tensor ends at %llu: a %s (InvalidOffset)",
                               show(t->name, nb, sizeof nb), (unsigned long long)t->begin,
                               (unsigned long long)start, t->begin > start ? "gap" : "overlap");
        }
        start = t->end;
        uint64_t nbytes;
        int r = st_nbytes(t->dtype, t->ndim, t->shape, &nbytes);
        if (r == -1)
            return ERR_CORRUPT(err, key_offset(hdr, hlen, t->name),
                               "tensor '%s': shape × dtype size overflows 64 bits "
                               "(ValidationOverflow)",
                               show(t->name, nb, sizeof nb));
        if (r == -2)
            return ERR_CORRUPT(err, key_offset(hdr, hlen, t->name),
                               "tensor '%s': %s elements of %u bits do not fill whole bytes "
                               "(MisalignedSlice)",
                               show(t->name, nb, sizeof nb), t->dtype_name,
                               st_dtypes[t->dtype].bits);
        if (t->end - t->begin != nbytes)
            return ERR_CORRUPT(err, key_offset(hdr, hlen, t->name),
                               "tensor '%s': %s shape needs %llu bytes, data_offsets [%llu, "
                               "%llu] hold %llu (TensorInvalidInfo)",
                               show(t->name, nb, sizeof nb), t->dtype_name,
                               (unsigned long long)nbytes, (unsigned long long)t->begin,
                               (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
        uint64_t n = 1;
        for (size_t k = 0; k < t->ndim; k++)
            n *= t->shape[k]; /* cannot overflow: st_nbytes checked it */
        t->nelements = n;
        t->nbytes = nbytes;
    }
    uint64_t data_start = 8 + f->header_len;
    uint64_t buffer = len - data_start;
    if (start != buffer)
        return ERR_CORRUPT(err, data_start + (start < buffer ? start : buffer),
                           "the tensors cover %llu bytes of data, the file holds %llu after the "
                           "header: %s (MetadataIncompleteBuffer)",
                           (unsigned long long)start, (unsigned long long)buffer,
                           start < buffer ? "trailing bytes (a polyglot can hide there)"
                                          : "the file is truncated");
    for (size_t i = 0; i < f->n; i++) {
        st_tensor_info *t = &f->tensors[i];
        t->offset = data_start + t->begin;
        /* t->offset <= len: begin <= end <= start == buffer */
        t->data = NULL;
    }
    return BRINE_OK;
}

/* Turns the parsed DOM into the file's own compact tables. */
static brine_status build(st_file *f, const uint8_t *hdr, size_t hlen, size_t len, json_t *root,
                          uint64_t max_tensors, brine_error *err)
{
    const char *key;
    json_t *v;
    const json_t *meta = NULL;
    size_t n_tensors = 0, strings = 0;
    json_object_foreach(root, key, v)
    {
        if (!strcmp(key, "__metadata__"))
            meta = v;
        else
            n_tensors++;
        strings += strlen(key) + 1;
    }
    if (n_tensors > max_tensors)
        return err_limit(err, "max_tensors", max_tensors, n_tensors, 8, 1, __LINE__);
    brine_status st;
    if (meta && (st = check_metadata(hdr, hlen, meta, &strings, err)))
        return st;
    pending *pend = mem_calloc(f->mem, n_tensors, sizeof *pend);
    if (!pend)
        return ERR_NOMEM(err);
    uint64_t ndims = 0;
    size_t k = 0;
    st = BRINE_OK;
    json_object_foreach(root, key, v)
    {
        if (v == meta)
            continue;
        if ((st = check_entry(key, v, &pend[k++], &ndims, err))) {
            /* only now, on the error path: finding the key costs a pass over the header */
            if (err)
                err->offset = key_offset(hdr, hlen, key);
            break;
        }
    }
    if (!st) {
        f->n = n_tensors;
        f->n_dims = (size_t)ndims; /* ≤ header bytes */
        f->strings_len = strings;
        f->has_meta = meta && json_is_object(meta);
        f->n_meta = f->has_meta ? json_object_size(meta) : 0;
        f->tensors = mem_calloc(f->mem, f->n, sizeof *f->tensors);
        f->dims = mem_calloc(f->mem, f->n_dims, sizeof *f->dims);
        f->strings = mem_alloc(f->mem, f->strings_len);
        f->meta = mem_calloc(f->mem, f->n_meta, sizeof *f->meta);
        f->by_name = mem_calloc(f->mem, f->n, sizeof *f->by_name);
        if (!f->tensors || !f->dims || !f->strings || !f->meta || !f->by_name)
            st = ERR_NOMEM(err);
    }
    if (!st) {
        char *cur = f->strings;
        uint64_t *dim = f->dims;
        for (size_t i = 0; i < f->n; i++) {
            st_tensor_info *t = &f->tensors[i];
            t->name_len = strlen(pend[i].name);
            t->name = put_str(&cur, pend[i].name, t->name_len);
            t->dtype = pend[i].dtype;
            t->dtype_name = st_dtypes[t->dtype].name;
            t->ndim = json_array_size(pend[i].shape);
            t->shape = dim;
            for (size_t d = 0; d < t->ndim; d++)
                get_uint(json_array_get(pend[i].shape, d), dim++);
            t->begin = pend[i].begin;
            t->end = pend[i].end;
        }
        if (f->has_meta) {
            size_t m = 0;
            const char *mk;
            json_t *mv;
            json_object_foreach((json_t *)(uintptr_t)meta, mk, mv)
            {
                f->meta[m].key = put_str(&cur, mk, strlen(mk));
                f->meta[m].value = put_str(&cur, json_string_value(mv), json_string_length(mv));
                m++;
            }
            if (f->n_meta > 1)
                qsort(f->meta, f->n_meta, sizeof *f->meta, by_meta_key);
        }
    }
    mem_free(f->mem, pend, n_tensors * sizeof *pend);
    if (st)
        return st;
    if ((st = validate_layout(f, hdr, hlen, len, err)))
        return st;
    for (size_t i = 0; i < f->n; i++)
        f->by_name[i] = &f->tensors[i];
    if (f->n > 1)
        qsort(f->by_name, f->n, sizeof *f->by_name, by_tensor_name);
    return BRINE_OK;
}

brine_status st_open(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                     st_file **out, brine_error *err)
{
    if (!out || !mem || (!data && len))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "st_open: NULL argument");
    *out = NULL;
    brine_limits L;
    lim_resolve(lim, &L);
    /* read_metadata, steps 1-4 */
    if (len < 8)
        return ERR_CORRUPT(err, 0,
                           "a safetensors file starts with an 8-byte header length; the file "
                           "has %zu bytes (HeaderTooSmall)",
                           len);
    uint64_t n = ld_le64(data);
    if (n > L.st_max_header) {
        if (L.st_max_header < UINT64_C(100000000))
            return err_limit(err, "st_max_header", L.st_max_header, n, 0, 1, __LINE__);
        return ERR_CORRUPT(err, 0,
                           "header length %llu is over the 100000000-byte maximum "
                           "(HeaderTooLarge)",
                           (unsigned long long)n);
    }
    if (n > len - 8)
        return ERR_CORRUPT(err, 0,
                           "header length %llu runs past the end of the file (%zu bytes after "
                           "the length) (InvalidHeaderLength)",
                           (unsigned long long)n, len - 8);
    const uint8_t *hdr = data + 8;
    size_t hlen = (size_t)n;
    file_advise_willneed(hdr, hlen); /* read whole now; the tensors after it are not read */
    size_t bad = utf8_valid_prefix(hdr, hlen);
    if (bad != hlen)
        return ERR_CORRUPT(err, 8 + bad, "header is not valid UTF-8 at byte %zu (InvalidHeader)",
                           bad);

    /* check the syntax and bound the parse before it runs */
    jscan js;
    if (json_check(&js, hdr, hlen))
        return ERR_CORRUPT(err, 8 + js.i,
                           "header is not valid JSON at byte %zu: %s "
                           "(InvalidHeaderDeserialization)",
                           js.i, js.why);
    if (js.top_keys > L.max_tensors + 1)
        return err_limit(err, "max_tensors", L.max_tensors, js.top_keys - 1, 8, 1, __LINE__);
    uint64_t cost;
    if (__builtin_mul_overflow(js.values, (uint64_t)ST_JSON_VALUE_COST, &cost) ||
        __builtin_add_overflow(cost, 2 * (uint64_t)hlen, &cost) || reserve(mem, cost))
        return err_limit(err, "max_memory", mem->limit, cost, 8, 1, __LINE__);

    json_error_t je;
    json_t *root = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, &je);
    brine_status st = BRINE_OK;
    st_file *f = NULL;
    if (!root && !jansson_refusal(je.text)) {
        st = ERR_NOMEM(err); /* valid syntax: jansson ran out of memory */
        goto out;
    }
    if (!root) {
        st = ERR_CORRUPT(err, 8 + (uint64_t)(je.position > 0 ? je.position : 0),
                         "header is not valid JSON: %s (InvalidHeaderDeserialization%s)", je.text,
                         strstr(je.text, "duplicate") ? "; brine refuses repeated keys, which "
                                                        "serde resolves by keeping the last"
                                                      : "");
        goto out;
    }
    if (!json_is_object(root)) {
        st = ERR_CORRUPT(err, 8,
                         "header is %s, expected a JSON object "
                         "(InvalidHeaderDeserialization)",
                         json_kind(root));
        goto out;
    }
    f = mem_calloc(mem, 1, sizeof *f);
    if (!f) {
        st = ERR_NOMEM(err);
        goto out;
    }
    f->mem = mem;
    f->header_len = n;
    if ((st = build(f, hdr, hlen, len, root, L.max_tensors, err)))
        goto out;
    for (size_t i = 0; i < f->n; i++)
        f->tensors[i].data = data + f->tensors[i].offset;
out:
    json_decref(root);
    unreserve(mem, cost);
    if (st) {
        st_close(f);
        return st;
    }
    *out = f;
    return BRINE_OK;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    mem_budget *mem = f->mem;
    mem_free(mem, f->by_name, f->n * sizeof *f->by_name);
    mem_free(mem, f->meta, f->n_meta * sizeof *f->meta);
    mem_free(mem, f->strings, f->strings_len);
    mem_free(mem, f->dims, f->n_dims * sizeof *f->dims);
    mem_free(mem, f->tensors, f->n * sizeof *f->tensors);
    mem_free(mem, f, sizeof *f);
}

size_t st_count(const st_file *f) { return f->n; }

const st_tensor_info *st_tensor(const st_file *f, size_t i)
{
    return i < f->n ? &f->tensors[i] : NULL;
}

long st_find(const st_file *f, const char *name, size_t len)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const st_tensor_info *t = f->by_name[mid];
        size_t m = t->name_len < len ? t->name_len : len;
        int d = m ? memcmp(t->name, name, m) : 0;
        if (!d)
            d = t->name_len < len ? -1 : t->name_len > len;
        if (!d)
            return (long)(t - f->tensors);
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

uint64_t st_header_len(const st_file *f) { return f->header_len; }
uint64_t st_data_start(const st_file *f) { return 8 + f->header_len; }
int st_has_metadata(const st_file *f) { return f->has_meta; }
size_t st_metadata_count(const st_file *f) { return f->n_meta; }

int st_metadata_at(const st_file *f, size_t i, const char **key, const char **value)
{
    if (i >= f->n_meta)
        return -1;
    *key = f->meta[i].key;
    *value = f->meta[i].value;
    return 0;
}

const char *st_metadata_get(const st_file *f, const char *key)
{
    size_t lo = 0, hi = f->n_meta;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(f->meta[mid].key, key);
        if (!d)
            return f->meta[mid].value;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------------ writer */

typedef struct wtensor {
    char *name;
    size_t name_len;
    st_dtype dtype;
    size_t ndim;
    uint64_t *shape;
    uint64_t nbytes;
    uint64_t begin; /* set when the header is built */
    const uint8_t *data;
    st_fill_fn fill;
    void *ctx;
} wtensor;

typedef struct wmeta {
    char *key, *value;
    size_t key_len, value_len;
} wmeta;

struct st_writer {
    mem_budget *mem;
    brine_limits lim;
    wtensor *t;
    size_t n, cap;
    wmeta *meta;
    size_t n_meta, cap_meta;
    wtensor **order; /* layout order, built with the header */
    size_t order_cap;
    uint8_t *hdr; /* 8-byte length + JSON + padding */
    size_t hdr_len, hdr_cap;
    int hdr_valid;
    int src_fd; /* st_writer_set_source: data in [src_base, + src_len) is read from src_fd */
    const uint8_t *src_base;
    size_t src_len;
};

enum { ST_IO_CHUNK = 1 << 20 };

brine_status st_writer_new(const brine_limits *lim, mem_budget *mem, st_writer **out,
                           brine_error *err)
{
    if (!out || !mem)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "st_writer_new: NULL argument");
    st_writer *w = mem_calloc(mem, 1, sizeof *w);
    if (!w)
        return ERR_NOMEM(err);
    w->mem = mem;
    w->src_fd = -1;
    lim_resolve(lim, &w->lim);
    *out = w;
    return BRINE_OK;
}

void st_writer_free(st_writer *w)
{
    if (!w)
        return;
    mem_budget *mem = w->mem;
    for (size_t i = 0; i < w->n; i++) {
        mem_free(mem, w->t[i].name, w->t[i].name_len + 1);
        mem_free(mem, w->t[i].shape, w->t[i].ndim * sizeof *w->t[i].shape);
    }
    for (size_t i = 0; i < w->n_meta; i++) {
        mem_free(mem, w->meta[i].key, w->meta[i].key_len + 1);
        mem_free(mem, w->meta[i].value, w->meta[i].value_len + 1);
    }
    mem_free(mem, w->t, w->cap * sizeof *w->t);
    mem_free(mem, w->meta, w->cap_meta * sizeof *w->meta);
    mem_free(mem, w->order, w->order_cap * sizeof *w->order);
    mem_free(mem, w->hdr, w->hdr_cap);
    mem_free(mem, w, sizeof *w);
}

/* Strings the reader will accept back: UTF-8, no NUL (jansson refuses \u0000). */
static int writable_string(const char *s, size_t len)
{
    return utf8_valid_prefix((const uint8_t *)s, len) == len && !memchr(s, 0, len);
}

brine_status st_writer_add(st_writer *w, const char *name, size_t name_len, st_dtype dtype,
                           size_t ndim, const uint64_t *shape, const void *data, st_fill_fn fill,
                           void *ctx, brine_error *err)
{
    if (!w || (!name && name_len) || (unsigned)dtype >= ST_DTYPE_COUNT || (!shape && ndim) ||
        (!data && !fill))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "st_writer_add: bad argument");
    if (!writable_string(name, name_len))
        return err_set(err, BRINE_ERR_USAGE, __LINE__,
                       "tensor name is not UTF-8 text without NUL bytes");
    if (name_len == 12 && !memcmp(name, "__metadata__", 12))
        return err_set(err, BRINE_ERR_USAGE, __LINE__,
                       "a tensor cannot be called __metadata__: readers would take it for the "
                       "metadata (safetensors issue #849)");
    if (w->n >= w->lim.max_tensors)
        return err_limit(err, "max_tensors", w->lim.max_tensors, (uint64_t)w->n + 1, 0, 0,
                         __LINE__);
    for (size_t i = 0; i < ndim; i++)
        if (shape[i] > (uint64_t)INT64_MAX)
            return err_set(err, BRINE_ERR_USAGE, __LINE__, "dimension %zu is %llu, above INT64_MAX",
                           i, (unsigned long long)shape[i]);
    uint64_t nbytes;
    int r = st_nbytes(dtype, ndim, shape, &nbytes);
    if (r)
        return err_set(err, BRINE_ERR_USAGE, __LINE__,
                       r == -1 ? "tensor size overflows 64 bits"
                               : "%s elements of this shape do not fill whole bytes",
                       st_dtypes[dtype].name);
    if (mem_grow(w->mem, (void **)&w->t, &w->cap, w->n + 1, sizeof *w->t))
        return ERR_NOMEM(err);
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = mem_strndup(w->mem, name_len ? name : "", name_len);
    t->shape = mem_calloc(w->mem, ndim, sizeof *t->shape);
    if (!t->name || !t->shape) {
        mem_free(w->mem, t->name, name_len + 1);
        mem_free(w->mem, t->shape, ndim * sizeof *t->shape);
        return ERR_NOMEM(err);
    }
    if (ndim)
        memcpy(t->shape, shape, ndim * sizeof *shape);
    t->name_len = name_len;
    t->dtype = dtype;
    t->ndim = ndim;
    t->nbytes = nbytes;
    t->data = data;
    t->fill = data ? NULL : fill;
    t->ctx = ctx;
    w->n++;
    w->hdr_valid = 0;
    return BRINE_OK;
}

brine_status st_writer_set_metadata(st_writer *w, const char *key, size_t key_len,
                                    const char *value, size_t value_len, brine_error *err)
{
    if (!w || (!key && key_len) || (!value && value_len))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "st_writer_set_metadata: bad argument");
    if (!writable_string(key, key_len) || !writable_string(value, value_len))
        return err_set(err, BRINE_ERR_USAGE, __LINE__,
                       "metadata keys and values must be UTF-8 text without NUL bytes");
    char *v = mem_strndup(w->mem, value_len ? value : "", value_len);
    if (!v)
        return ERR_NOMEM(err);
    w->hdr_valid = 0;
    for (size_t i = 0; i < w->n_meta; i++) {
        wmeta *m = &w->meta[i];
        if (m->key_len == key_len && !memcmp(m->key, key, key_len)) {
            mem_free(w->mem, m->value, m->value_len + 1);
            m->value = v;
            m->value_len = value_len;
            return BRINE_OK;
        }
    }
    char *k = mem_strndup(w->mem, key_len ? key : "", key_len);
    if (!k || mem_grow(w->mem, (void **)&w->meta, &w->cap_meta, w->n_meta + 1, sizeof *w->meta)) {
        mem_free(w->mem, k, key_len + 1);
        mem_free(w->mem, v, value_len + 1);
        return ERR_NOMEM(err);
    }
    w->meta[w->n_meta++] = (wmeta){k, v, key_len, value_len};
    return BRINE_OK;
}

/* Rust's Ord for str: bytewise, a prefix first. */
static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int d = m ? memcmp(a, b, m) : 0;
    return d ? d : alen < blen ? -1 : alen > blen;
}

/* prepare(): dtype descending (enum order), then name. */
static int by_layout(const void *pa, const void *pb)
{
    const wtensor *a = *(const wtensor *const *)pa, *b = *(const wtensor *const *)pb;
    if (a->dtype != b->dtype)
        return a->dtype > b->dtype ? -1 : 1;
    return cmp_bytes(a->name, a->name_len, b->name, b->name_len);
}

static int by_wname(const void *pa, const void *pb)
{
    const wtensor *a = *(const wtensor *const *)pa, *b = *(const wtensor *const *)pb;
    return cmp_bytes(a->name, a->name_len, b->name, b->name_len);
}

static int by_wmeta(const void *pa, const void *pb)
{
    const wmeta *a = pa, *b = pb;
    return cmp_bytes(a->key, a->key_len, b->key, b->key_len);
}

/* A growable header buffer whose maximum is fixed up front (curl's dynbuf): 8 + the header
 * limit. */
typedef struct hbuf {
    st_writer *w;
    uint64_t max;
    int failed; /* 1 out of memory, 2 over the limit */
} hbuf;

static void hb_put(hbuf *b, const void *p, size_t n)
{
    st_writer *w = b->w;
    if (b->failed)
        return;
    if (n > b->max - w->hdr_len) {
        b->failed = 2;
        return;
    }
    if (w->hdr_len + n > w->hdr_cap &&
        mem_grow(w->mem, (void **)&w->hdr, &w->hdr_cap, w->hdr_len + n, 1)) {
        b->failed = 1;
        return;
    }
    memcpy(w->hdr + w->hdr_len, p, n);
    w->hdr_len += n;
}

static void hb_c(hbuf *b, char c) { hb_put(b, &c, 1); }
static void hb_s(hbuf *b, const char *s) { hb_put(b, s, strlen(s)); }

static void hb_u64(hbuf *b, uint64_t v)
{
    char d[24];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    hb_put(b, d + i, sizeof d - i);
}

/* A JSON string as serde_json writes it: ", \ and control characters escaped (\b \t \n \f \r
 * by name, the rest as \u00xx in lowercase hex), everything else, UTF-8 included, as is. */
static void hb_str(hbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    hb_c(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6] = {'\\', 'u', '0', '0', 0, 0};
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\f')
            esc = "\\f";
        else if (c == '\r')
            esc = "\\r";
        else if (c >= 0x20)
            continue;
        hb_put(b, s + run, i - run);
        run = i + 1;
        if (esc) {
            hb_s(b, esc);
        } else {
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            hb_put(b, u, 6);
        }
    }
    hb_put(b, s + run, n - run);
    hb_c(b, '"');
}

static brine_status build_header(st_writer *w, brine_error *err)
{
    if (w->hdr_valid)
        return BRINE_OK;
    if (w->order_cap < w->n) {
        wtensor **o = mem_realloc(w->mem, w->order, w->order_cap * sizeof *o, w->n * sizeof *o);
        if (!o)
            return ERR_NOMEM(err);
        w->order = o;
        w->order_cap = w->n;
    }
    for (size_t i = 0; i < w->n; i++)
        w->order[i] = &w->t[i];
    if (w->n > 1)
        qsort(w->order, w->n, sizeof *w->order, by_layout);
    /* repeated names are neighbours once sorted by name alone */
    if (w->n > 1) {
        wtensor **byn = mem_calloc(w->mem, w->n, sizeof *byn);
        if (!byn)
            return ERR_NOMEM(err);
        memcpy(byn, w->order, w->n * sizeof *byn);
        qsort(byn, w->n, sizeof *byn, by_wname);
        const wtensor *dup = NULL;
        for (size_t i = 1; i < w->n && !dup; i++)
            if (!cmp_bytes(byn[i - 1]->name, byn[i - 1]->name_len, byn[i]->name, byn[i]->name_len))
                dup = byn[i];
        mem_free(w->mem, byn, w->n * sizeof *byn);
        if (dup)
            return err_set(err, BRINE_ERR_USAGE, __LINE__, "two tensors are called '%.100s'",
                           dup->name);
    }
    if (w->n_meta > 1)
        qsort(w->meta, w->n_meta, sizeof *w->meta, by_wmeta);

    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        wtensor *t = w->order[i];
        t->begin = off;
        if (__builtin_add_overflow(off, t->nbytes, &off))
            return err_set(err, BRINE_ERR_USAGE, __LINE__, "tensor data exceeds 2^64 bytes");
    }

    hbuf b = {w, 8 + w->lim.st_max_header, 0};
    w->hdr_len = 0;
    hb_put(&b, "\0\0\0\0\0\0\0\0", 8);
    hb_c(&b, '{');
    int first = 1;
    if (w->n_meta) {
        hb_s(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i)
                hb_c(&b, ',');
            hb_str(&b, w->meta[i].key, w->meta[i].key_len);
            hb_c(&b, ':');
            hb_str(&b, w->meta[i].value, w->meta[i].value_len);
        }
        hb_c(&b, '}');
        first = 0;
    }
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = w->order[i];
        if (!first)
            hb_c(&b, ',');
        first = 0;
        hb_str(&b, t->name, t->name_len);
        hb_s(&b, ":{\"dtype\":\"");
        hb_s(&b, st_dtypes[t->dtype].name);
        hb_s(&b, "\",\"shape\":[");
        for (size_t d = 0; d < t->ndim; d++) {
            if (d)
                hb_c(&b, ',');
            hb_u64(&b, t->shape[d]);
        }
        hb_s(&b, "],\"data_offsets\":[");
        hb_u64(&b, t->begin);
        hb_c(&b, ',');
        hb_u64(&b, t->begin + t->nbytes);
        hb_s(&b, "]}");
    }
    hb_c(&b, '}');
    /* "Force alignment to 8 bytes": spaces, so the buffer starts 8-aligned */
    hb_put(&b, "        ", (8 - (w->hdr_len - 8) % 8) % 8);
    if (b.failed == 1)
        return ERR_NOMEM(err);
    if (b.failed == 2)
        return err_limit(err, "st_max_header", w->lim.st_max_header, w->lim.st_max_header + 1, 0, 0,
                         __LINE__);
    uint64_t n = w->hdr_len - 8;
    for (int i = 0; i < 8; i++)
        w->hdr[i] = (uint8_t)(n >> (8 * i));
    w->hdr_valid = 1;
    return BRINE_OK;
}

brine_status st_writer_header(st_writer *w, const uint8_t **header, size_t *len, brine_error *err)
{
    if (!w || !header || !len)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "st_writer_header: NULL argument");
    brine_status st = build_header(w, err);
    if (st)
        return st;
    *header = w->hdr;
    *len = w->hdr_len;
    return BRINE_OK;
}

void st_writer_set_source(st_writer *w, int fd, const uint8_t *base, size_t len)
{
    if (!w)
        return;
    w->src_fd = base && len ? fd : -1;
    w->src_base = base;
    w->src_len = len;
}

/* The offset in the source file of t's bytes, or -1 when they are not all in it. */
static int64_t source_offset(const st_writer *w, const wtensor *t)
{
    if (w->src_fd < 0 || !t->data || (uintptr_t)t->data < (uintptr_t)w->src_base)
        return -1;
    uintptr_t at = (uintptr_t)t->data - (uintptr_t)w->src_base;
    if (at > w->src_len || t->nbytes > w->src_len - at || at > INT64_MAX)
        return -1;
    return (int64_t)at;
}

/* Copies n bytes of the source from *off to out_fd inside the kernel (no page of the input is
 * mapped or copied to user space; a reflink where the file system can). Returns the bytes
 * copied before it stopped; *unsupported is set when the kernel cannot copy between these
 * two files at all, so the caller falls back to pread for the rest. */
static uint64_t copy_range(int src, uint64_t *off, int out_fd, uint64_t n, int *unsupported,
                           int *saved_errno)
{
    uint64_t done = 0;
    while (done < n) {
        size_t want = n - done > (1u << 30) ? (1u << 30) : (size_t)(n - done);
        loff_t o = (loff_t)*off;
        ssize_t r = copy_file_range(src, &o, out_fd, NULL, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && done == 0 &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
             errno == EBADF)) {
            *unsupported = 1;
            return 0;
        }
        if (r <= 0) {
            *saved_errno = r < 0 ? errno : 0;
            return done;
        }
        *off += (uint64_t)r;
        done += (uint64_t)r;
    }
    return done;
}

/* Writes the header and the tensors; out_fd >= 0 is the descriptor behind write/ctx, for
 * copying source ranges inside the kernel. */
static brine_status write_body(st_writer *w, brine_write_fn write, void *ctx, int out_fd,
                               brine_error *err)
{
    brine_status st = build_header(w, err);
    if (st)
        return st;
    if (write(ctx, w->hdr, w->hdr_len))
        return err_set(err, BRINE_ERR_IO, __LINE__, "writing the safetensors header failed");
    uint8_t *buf = NULL;
    size_t buf_len = 0;
    int no_copy_range = out_fd < 0;
    for (size_t i = 0; i < w->n && !st; i++) {
        const wtensor *t = w->order[i];
        int64_t src = source_offset(w, t);
        uint64_t done = 0;
        if (src >= 0 && !no_copy_range && t->nbytes) {
            uint64_t off = (uint64_t)src;
            int saved = 0;
            done = copy_range(w->src_fd, &off, out_fd, t->nbytes, &no_copy_range, &saved);
            if (!no_copy_range && done < t->nbytes) {
                st = err_set(err, BRINE_ERR_IO, __LINE__,
                             "copying tensor '%.100s' failed after %llu of %llu bytes: %s", t->name,
                             (unsigned long long)done, (unsigned long long)t->nbytes,
                             saved ? strerror(saved) : "the input file is shorter than it was");
                break;
            }
        }
        while (done < t->nbytes && !st) {
            size_t n = t->nbytes - done < ST_IO_CHUNK ? (size_t)(t->nbytes - done) : ST_IO_CHUNK;
            const uint8_t *p;
            if (t->data && src < 0) {
                p = t->data + done; /* bytes in memory (inflated, built): no file behind them */
            } else {
                if (!buf) {
                    buf_len = ST_IO_CHUNK;
                    if (!(buf = mem_alloc(w->mem, buf_len))) {
                        st = ERR_NOMEM(err);
                        break;
                    }
                }
                if (src >= 0) {
                    /* pread into the one reused buffer: the mapping is never touched */
                    for (size_t got = 0; got < n && !st;) {
                        ssize_t r = pread(w->src_fd, buf + got, n - got,
                                          (off_t)((uint64_t)src + done + got));
                        if (r < 0 && errno == EINTR)
                            continue;
                        if (r <= 0)
                            st = err_set(
                                err, BRINE_ERR_IO, __LINE__,
                                "reading tensor '%.100s' from the input failed: %s", t->name,
                                r < 0 ? strerror(errno) : "the input file is shorter than it was");
                        else
                            got += (size_t)r;
                    }
                } else {
                    st = t->fill(t->ctx, done, buf, n, err);
                }
                if (st)
                    break;
                p = buf;
            }
            if (write(ctx, p, n))
                st = err_set(err, BRINE_ERR_IO, __LINE__,
                             "writing tensor '%.100s' failed after %llu of %llu bytes", t->name,
                             (unsigned long long)done, (unsigned long long)t->nbytes);
            done += n;
        }
    }
    mem_free(w->mem, buf, buf_len);
    return st;
}

brine_status st_writer_write(st_writer *w, brine_write_fn write, void *ctx, brine_error *err)
{
    if (!w || !write)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "st_writer_write: NULL argument");
    return write_body(w, write, ctx, -1, err);
}

typedef struct fd_sink {
    int fd;
    int saved_errno;
} fd_sink;

static int write_all(void *ctx, const void *buf, size_t len)
{
    fd_sink *s = ctx;
    const uint8_t *p = buf;
    while (len) {
        ssize_t r = write(s->fd, p, len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            s->saved_errno = errno;
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

brine_status st_writer_write_fd(st_writer *w, int fd, brine_error *err)
{
    fd_sink s = {fd, 0};
    brine_status st = w ? write_body(w, write_all, &s, fd, err)
                        : err_set(err, BRINE_ERR_USAGE, __LINE__, "st_writer_write_fd: NULL");
    if (st == BRINE_ERR_IO && s.saved_errno && err) {
        size_t n = strlen(err->msg);
        if (n + 3 < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(s.saved_errno));
    }
    return st;
}

brine_status st_writer_write_file(st_writer *w, const char *path, brine_error *err)
{
    if (!w || !path || !*path)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "st_writer_write_file: no path");
    /* build the header first: a writer that cannot produce a file leaves nothing behind */
    brine_status st = build_header(w, err);
    if (st)
        return st;
    size_t plen = strlen(path);
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0; /* directory, with its '/' */
    size_t cap = plen + 64;
    char *tmp = mem_alloc(w->mem, cap);
    char *dir = mem_strndup(w->mem, dlen ? path : ".", dlen ? dlen : 1);
    if (!tmp || !dir) {
        mem_free(w->mem, tmp, cap);
        mem_free(w->mem, dir, (dlen ? dlen : 1) + 1);
        return ERR_NOMEM(err);
    }
    /* same directory, so rename is atomic; hidden, and unique by pid and attempt */
    int fd = -1;
    static unsigned counter; /* distinguishes writers of one process (threads) */
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, cap, "%.*s.%s.tmp-%ld-%u", (int)dlen, path, path + dlen, (long)getpid(),
                 __atomic_fetch_add(&counter, 1u, __ATOMIC_RELAXED));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        st = err_set(err, BRINE_ERR_IO, __LINE__,
                     "cannot create a temporary file beside %.150s: "
                     "%s",
                     path, strerror(errno));
        goto out;
    }
    st = st_writer_write_fd(w, fd, err);
    if (!st && fsync(fd))
        st = err_set(err, BRINE_ERR_IO, __LINE__, "fsync of %.150s failed: %s", tmp,
                     strerror(errno));
    if (close(fd) && !st)
        st =
            err_set(err, BRINE_ERR_IO, __LINE__, "closing %.150s failed: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path))
        st = err_set(err, BRINE_ERR_IO, __LINE__, "cannot rename the output into %.150s: %s", path,
                     strerror(errno));
    if (st) {
        unlink(tmp);
        goto out;
    }
    /* make the rename itself durable; the file is complete either way */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    mem_free(w->mem, tmp, cap);
    mem_free(w->mem, dir, (dlen ? dlen : 1) + 1);
    return st;
}

/* ------------------------------------------------------------------ format descriptor */

/* A plausible u64 header length (at least "{}", at most the reference's 100 MB), then '{'
 * after optional JSON whitespace — the reference accepts leading whitespace (§3.2). A length
 * that runs past the end still bids (lower): a truncated safetensors file must be reported
 * invalid, not passed over. */
static int st_probe(const uint8_t *data, size_t len)
{
    if (len < 10)
        return 0;
    uint64_t n = ld_le64(data);
    if (n < 2)
        return 0;
    /* a header length past the reference's 100 MB or past the end still announces
     * safetensors when JSON follows: reported invalid, not passed over */
    size_t avail = len - 8 < n ? len - 8 : (size_t)n;
    for (size_t i = 0; i < avail; i++) {
        uint8_t c = data[8 + i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c != '{')
            return 0;
        return n <= len - 8 && n <= UINT64_C(100000000) ? 90 : 70;
    }
    return 0;
}

/* Safetensors holds data only: nothing in it can run. A load serves its tensors zero-copy
 * and its __metadata__ as the config. */
static brine_status st_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "safetensors");
    st_file *f;
    brine_error err;
    brine_status st = st_open(data, len, fmt_limits(env), fmt_mem(env), &f, &err);
    if (st == BRINE_ERR_USAGE)
        return st;
    if (st)
        return fmt_error_finding(env, NULL, &err, NULL);
    for (size_t i = 0; !st && i < st_count(f); i++) {
        const st_tensor_info *t = st_tensor(f, i);
        const ld_dtype *dt = ld_dtype_by_st(t->dtype_name);
        uint64_t shape[LD_MAX_DIMS];
        if (!dt || t->ndim > LD_MAX_DIMS) {
            fmt_unloadable(env, "tensor %.200s: dtype %s", t->name, t->dtype_name);
            continue;
        }
        for (size_t k = 0; k < t->ndim; k++)
            shape[k] = t->shape[k];
        st = fmt_tensor(env, t->name, dt, (uint32_t)t->ndim, shape, t->data, t->nbytes);
    }
    ld_set *set = fmt_load_set(env);
    if (!st && set && !set->config) {
        json_t *config = json_object();
        int bad = !config;
        for (size_t i = 0; !bad && i < st_metadata_count(f); i++) {
            const char *k, *v;
            if (st_metadata_at(f, i, &k, &v) == 0)
                bad = json_object_set_new(config, k, json_string(v)) != 0;
        }
        set->config = config;
        if (bad)
            st = BRINE_ERR_NOMEM;
    }
    st_close(f);
    return st;
}

const fmt_ops fmt_safetensors = {"safetensors", st_probe, st_walk, NULL};
