/*
 * gguf.c — GGUF v1–v3 (llama.cpp's model file), read as ggml/src/gguf.cpp and gguf-py's
 * GGUFReader read it: header, metadata key/values, tensor table, aligned data section.
 *
 * Threat model: every count, length, dimension and offset is attacker-controlled, and GGUF
 * parser bugs are the known attacks (llama.cpp's gguf_init_from_file overflows of 2024: a
 * huge string length or array count sizing an allocation, dimension products wrapping, a
 * tensor offset past the file). So nothing here allocates from a count: a length is checked
 * against the bytes that remain before it is used, element loops are bounded by the input,
 * nested arrays by a depth cap, and sizes use checked arithmetic. The second attack is the
 * chat template: llama-cpp-python rendered `tokenizer.chat_template` with an unsandboxed
 * Jinja environment (CVE-2024-34359), so a template that reaches Python internals runs code.
 *
 * Facts from gguf-py 0.19 (gguf/constants.py GGML_QUANT_SIZES, GGUFValueType; a test checks
 * the table below against it) and ggml/src/gguf.cpp (GGML_MAX_DIMS 4, alignment a power of
 * two read as uint32, offsets multiples of the alignment, ne[0] a multiple of the block size).
 */
#include "formats/format.h"
#include "formats/why.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"

enum {
    GGUF_MAX_DIMS = 4, /* GGML_MAX_DIMS */
    GGUF_MAX_ARRAY_DEPTH = 8,
    GGUF_DEFAULT_ALIGN = 32,
    GGUF_MAX_NAME = 1024
};

/* ggml types: name, elements per block, bytes per block (0: no such type). */
typedef struct gguf_type {
    const char *name;
    uint32_t block, size;
    const char *st; /* safetensors dtype a load serves, or NULL (quantized) */
} gguf_type;

static const gguf_type ggml_types[] = {
    [0] = {"F32", 1, 4, "F32"},        [1] = {"F16", 1, 2, "F16"},
    [2] = {"Q4_0", 32, 18, NULL},      [3] = {"Q4_1", 32, 20, NULL},
    [6] = {"Q5_0", 32, 22, NULL},      [7] = {"Q5_1", 32, 24, NULL},
    [8] = {"Q8_0", 32, 34, NULL},      [9] = {"Q8_1", 32, 40, NULL},
    [10] = {"Q2_K", 256, 84, NULL},    [11] = {"Q3_K", 256, 110, NULL},
    [12] = {"Q4_K", 256, 144, NULL},   [13] = {"Q5_K", 256, 176, NULL},
    [14] = {"Q6_K", 256, 210, NULL},   [15] = {"Q8_K", 256, 292, NULL},
    [16] = {"IQ2_XXS", 256, 66, NULL}, [17] = {"IQ2_XS", 256, 74, NULL},
    [18] = {"IQ3_XXS", 256, 98, NULL}, [19] = {"IQ1_S", 256, 50, NULL},
    [20] = {"IQ4_NL", 32, 18, NULL},   [21] = {"IQ3_S", 256, 110, NULL},
    [22] = {"IQ2_S", 256, 82, NULL},   [23] = {"IQ4_XS", 256, 136, NULL},
    [24] = {"I8", 1, 1, "I8"},         [25] = {"I16", 1, 2, "I16"},
    [26] = {"I32", 1, 4, "I32"},       [27] = {"I64", 1, 8, "I64"},
    [28] = {"F64", 1, 8, "F64"},       [29] = {"IQ1_M", 256, 56, NULL},
    [30] = {"BF16", 1, 2, "BF16"},     [34] = {"TQ1_0", 256, 54, NULL},
    [35] = {"TQ2_0", 256, 66, NULL},   [39] = {"MXFP4", 32, 17, NULL},
    [40] = {"NVFP4", 64, 36, NULL},    [41] = {"Q1_0", 128, 18, NULL},
};

enum {
    GV_UINT8,
    GV_INT8,
    GV_UINT16,
    GV_INT16,
    GV_UINT32,
    GV_INT32,
    GV_FLOAT32,
    GV_BOOL,
    GV_STRING,
    GV_ARRAY,
    GV_UINT64,
    GV_INT64,
    GV_FLOAT64,
    GV_COUNT
};

static const uint8_t gv_size[GV_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct gg {
    fmt_env *env;
    cursor c;
    uint32_t version; /* 1: 32-bit counts and lengths */
    fmt_why why;      /* what went wrong */
} gg;

typedef struct gg_str {
    const uint8_t *p;
    uint64_t len;
    uint64_t at;
} gg_str;

typedef struct gg_tensor {
    gg_str name;
    uint32_t ndim, type;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
} gg_tensor;

static int rd(gg *g, size_t n, const uint8_t **p, const char *what)
{
    uint64_t at = cur_pos(&g->c);
    if (cur_take(&g->c, n, p))
        return fmt_why_set(&g->why, at, "%s needs %zu bytes, %zu remain", what, n, cur_left(&g->c));
    return 0;
}

static int rd_u32(gg *g, uint32_t *v, const char *what)
{
    const uint8_t *p = NULL;
    if (rd(g, 4, &p, what))
        return -1;
    *v = ld_le32(p);
    return 0;
}

static int rd_u64(gg *g, uint64_t *v, const char *what)
{
    const uint8_t *p = NULL;
    if (rd(g, 8, &p, what))
        return -1;
    *v = ld_le64(p);
    return 0;
}

/* A count or length: 32 bits in v1, 64 after. */
static int rd_len(gg *g, uint64_t *v, const char *what)
{
    if (g->version == 1) {
        uint32_t v32;
        if (rd_u32(g, &v32, what))
            return -1;
        *v = v32;
        return 0;
    }
    return rd_u64(g, v, what);
}

/* A string's bytes are sliced after its length is checked against what remains. */
static int rd_str(gg *g, gg_str *s, const char *what)
{
    uint64_t at = cur_pos(&g->c);
    if (rd_len(g, &s->len, what))
        return -1;
    s->at = cur_pos(&g->c);
    if (s->len > cur_left(&g->c))
        return fmt_why_set(&g->why, at, "%s of %" PRIu64 " bytes, %zu remain", what, s->len,
                           cur_left(&g->c));
    return rd(g, (size_t)s->len, &s->p, what);
}

static int str_is(const gg_str *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->len == n && memcmp(s->p, lit, n) == 0;
}

/* ------------------------------------------------------------------ chat templates */

/* The template as Jinja would evaluate its names: string literals' quotes, concatenation
 * (~ and +), whitespace and the escapes Jinja's lexer decodes (\x5f, \u005f, \137) are
 * removed or decoded, letters lowered, so '__cla' ~ 'ss__' and '\x5f\x5fclass\x5f\x5f'
 * read as __class__. */
static size_t normalise(const uint8_t *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < cap; i++) {
        uint8_t c = s[i];
        if (c == '\'' || c == '"' || c == '~' || c == '+' || c == ' ' || c == '\t' || c == '\n' ||
            c == '\r')
            continue;
        if (c == '\\' && i + 1 < n) {
            unsigned v = 0, digits = 0, base = 16, want = 0;
            uint8_t k = s[i + 1];
            if (k == 'x')
                want = 2;
            else if (k == 'u')
                want = 4;
            else if (k == 'U')
                want = 8;
            else if (k >= '0' && k <= '7')
                base = 8, want = 3;
            size_t j = i + (base == 8 ? 1 : 2);
            for (; want && digits < want && j < n; j++, digits++) {
                uint8_t d = s[j];
                unsigned dv = d >= '0' && d <= '9'   ? (unsigned)(d - '0')
                              : d >= 'a' && d <= 'f' ? (unsigned)(d - 'a' + 10)
                              : d >= 'A' && d <= 'F' ? (unsigned)(d - 'A' + 10)
                                                     : 99u;
                if (dv >= base)
                    break;
                v = v * base + dv;
            }
            if (want && digits > 0 && v < 128) {
                c = (uint8_t)v;
                i = j - 1;
            }
        }
        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    return o;
}

static int is_letter(char c) { return c >= 'a' && c <= 'z'; }

/* Names a sandbox escape reaches through (the payloads of CVE-2024-34359 and the Jinja
 * SSTI catalogue). Matched as whole words of the normalised text. */
static const char *const gadgets[] = {
    "globals", "subclasses", "builtins", "mro",   "popen",   "subprocess", "getattr",
    "attr",    "import",     "eval(",    "exec(", "system(", "os.",        "self._",
};

static const char *template_gadget(const char *t, size_t n, char *found, size_t cap)
{
    /* any dunder access: Jinja's own templates never need one */
    for (size_t i = 0; i + 4 < n; i++) {
        if (t[i] != '_' || t[i + 1] != '_' || !is_letter(t[i + 2]))
            continue;
        size_t j = i + 2;
        while (j < n && (is_letter(t[j]) || (t[j] >= '0' && t[j] <= '9')))
            j++;
        if (j + 1 < n && t[j] == '_' && t[j + 1] == '_') {
            snprintf(found, cap, "%.*s", (int)(j + 2 - i), t + i);
            return found;
        }
    }
    for (size_t g = 0; g < sizeof gadgets / sizeof *gadgets; g++) {
        size_t len = strlen(gadgets[g]);
        for (size_t i = 0; i + len <= n; i++) {
            if (memcmp(t + i, gadgets[g], len) != 0)
                continue;
            int word_start = i == 0 || !is_letter(t[i - 1]);
            int word_end =
                !is_letter(gadgets[g][len - 1]) || i + len == n || !is_letter(t[i + len]);
            if (word_start && word_end) {
                snprintf(found, cap, "%s", gadgets[g]);
                return found;
            }
        }
    }
    return NULL;
}

static brine_status check_template(gg *g, const gg_str *key, const gg_str *v)
{
    mem_budget *mem = fmt_mem(g->env);
    size_t cap = (size_t)v->len ? (size_t)v->len : 1;
    char *t = mem_alloc(mem, cap);
    if (!t)
        return BRINE_ERR_NOMEM;
    size_t n = normalise(v->p, (size_t)v->len, t, cap);
    char found[64];
    const char *hit = template_gadget(t, n, found, sizeof found);
    /* '%c'|format(95) builds an underscore the normalisation cannot see (looked for in the
     * raw text: `x % cols` is arithmetic) */
    if (!hit && v->len >= 2 && memmem(v->p, (size_t)v->len, "%c", 2))
        hit = "%c";
    brine_status st = BRINE_OK;
    if (hit)
        st = fmt_finding(g->env, BRINE_UNSAFE, "template-injection", NULL, (int64_t)v->at,
                         "%.*s: the Jinja chat template reaches `%s` (a sandbox escape: "
                         "llama-cpp-python CVE-2024-34359 ran such templates)",
                         (int)(key->len < 200 ? key->len : 200), (const char *)key->p, hit);
    mem_free(mem, t, cap);
    return st;
}

static int is_template_key(const gg_str *k)
{
    static const char pre[] = "tokenizer.chat_template";
    size_t n = sizeof pre - 1;
    return k->len >= n && memcmp(k->p, pre, n) == 0 && (k->len == n || k->p[n] == '.');
}

/* ------------------------------------------------------------------ metadata */

/* One value of type t; strings under a template key are judged. */
static brine_status value(gg *g, const gg_str *key, uint32_t t, unsigned depth)
{
    uint64_t at = cur_pos(&g->c);
    if (t >= GV_COUNT)
        return (void)fmt_why_set(&g->why, at, "key %.*s: value type %" PRIu32 " is not a GGUF type",
                                 (int)(key->len < 100 ? key->len : 100), (const char *)key->p, t),
               BRINE_OK;
    if (t == GV_STRING) {
        gg_str s;
        if (rd_str(g, &s, "string value"))
            return BRINE_OK;
        if (is_template_key(key))
            return check_template(g, key, &s);
        return BRINE_OK;
    }
    if (t != GV_ARRAY) {
        const uint8_t *p = NULL;
        rd(g, gv_size[t], &p, "value");
        return BRINE_OK;
    }
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return (void)fmt_why_set(&g->why, at, "arrays nested deeper than %d", GGUF_MAX_ARRAY_DEPTH),
               BRINE_OK;
    uint32_t et;
    uint64_t count;
    if (rd_u32(g, &et, "array type") || rd_len(g, &count, "array count"))
        return BRINE_OK;
    if (et >= GV_COUNT)
        return (void)fmt_why_set(&g->why, at, "array element type %" PRIu32 " is not a GGUF type",
                                 et),
               BRINE_OK;
    /* every element takes at least one byte (fixed ones their size, strings their length
     * field, arrays their type and count): a count the bytes cannot hold is refused first */
    uint64_t min = gv_size[et] ? gv_size[et] : (g->version == 1 ? 4 : 8);
    if (et == GV_ARRAY)
        min += 4;
    if (count > cur_left(&g->c) / min)
        return (void)fmt_why_set(&g->why, at,
                                 "array of %" PRIu64 " elements of at least %" PRIu64
                                 " bytes, %zu bytes remain",
                                 count, min, cur_left(&g->c)),
               BRINE_OK;
    if (gv_size[et]) {
        const uint8_t *p = NULL;
        rd(g, (size_t)(count * gv_size[et]), &p, "array");
        return BRINE_OK;
    }
    for (uint64_t i = 0; i < count && !g->why.msg; i++) {
        brine_status st = value(g, key, et, depth + 1);
        if (st)
            return st;
    }
    return BRINE_OK;
}

static int cmp_str(const gg_str *a, const gg_str *b)
{
    size_t n = a->len < b->len ? (size_t)a->len : (size_t)b->len;
    int c = memcmp(a->p, b->p, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int by_str(const void *a, const void *b) { return cmp_str(a, b); }

static int by_offset(const void *pa, const void *pb)
{
    const gg_tensor *a = pa, *b = pb;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

/* The first name that appears twice (sorts names). */
static const gg_str *duplicate(gg_str *names, size_t n)
{
    qsort(names, n, sizeof *names, by_str);
    for (size_t i = 1; i < n; i++)
        if (cmp_str(&names[i - 1], &names[i]) == 0)
            return &names[i];
    return NULL;
}

/* ------------------------------------------------------------------ walk */

static brine_status report(gg *g) { return fmt_why_finding(g->env, &g->why, "GGUF"); }

static int gguf_bid(const uint8_t *data, size_t len)
{
    return len >= 4 && memcmp(data, "GGUF", 4) == 0 ? 100 : 0;
}

static brine_status serve(gg *g, const gg_tensor *t, const uint8_t *data)
{
    const gguf_type *ty = &ggml_types[t->type];
    char name[GGUF_MAX_NAME + 1];
    memcpy(name, t->name.p, (size_t)t->name.len);
    name[t->name.len] = '\0';
    const ld_dtype *dt = ty->st ? ld_dtype_by_st(ty->st) : NULL;
    if (!dt) {
        fmt_unloadable(g->env,
                       "tensor %.200s: ggml type %s is quantized (blocks of %" PRIu32
                       " elements): brine lists it but does not dequantize",
                       name, ty->name, ty->block);
        return BRINE_OK;
    }
    /* ne[0] is the innermost dimension: numpy's shape (GGUFReader) is the reverse */
    uint64_t shape[GGUF_MAX_DIMS];
    for (uint32_t k = 0; k < t->ndim; k++)
        shape[k] = t->ne[t->ndim - 1 - k];
    return fmt_tensor(g->env, name, dt, t->ndim, shape, data, t->nbytes);
}

/* The metadata entries: each key into names[i]; general.alignment, when present, into
 * *alignment. Stops at the first failure (g->why) or error status. */
static brine_status read_metadata(gg *g, gg_str *names, uint64_t n_kv, uint64_t *alignment)
{
    brine_status st = BRINE_OK;
    for (uint64_t i = 0; i < n_kv && !g->why.msg && !st; i++) {
        gg_str key;
        uint32_t type;
        if (rd_str(g, &key, "key") || rd_u32(g, &type, "value type"))
            break;
        names[i] = key;
        if (str_is(&key, "general.alignment")) {
            const uint8_t *p = NULL;
            if (type != GV_UINT32) {
                fmt_why_set(&g->why, key.at, "general.alignment has type %" PRIu32 ", not uint32",
                            type);
                break;
            }
            if (rd(g, 4, &p, "general.alignment"))
                break;
            *alignment = ld_le32(p);
            if (*alignment == 0 || (*alignment & (*alignment - 1)))
                fmt_why_set(&g->why, key.at, "general.alignment %" PRIu64 " is not a power of two",
                            *alignment);
            continue;
        }
        st = value(g, &key, type, 0);
    }
    return st;
}

/* Duplicate names: gguf-py and llama.cpp both refuse them (a second one would shadow). what:
 * "metadata key", "tensor". */
static void unique_names(gg *g, gg_str *names, uint64_t n, const char *what)
{
    const gg_str *dup = duplicate(names, (size_t)n);
    if (dup)
        fmt_why_set(&g->why, dup->at, "%s %.*s appears twice", what,
                    (int)(dup->len < 200 ? dup->len : 200), (const char *)dup->p);
}

/* One tensor info: name, dimensions (ne[0] innermost), ggml type and offset into the data
 * section. -1 when it cannot be read whole (g->why says why). */
static int read_tensor_info(gg *g, gg_tensor *t, uint64_t alignment)
{
    uint64_t at = cur_pos(&g->c);
    if (rd_str(g, &t->name, "tensor name") || rd_u32(g, &t->ndim, "n_dims"))
        return -1;
    if (t->name.len > GGUF_MAX_NAME || memchr(t->name.p, 0, (size_t)t->name.len)) {
        fmt_why_set(&g->why, at, "tensor name of %" PRIu64 " bytes (at most %d, no NUL)",
                    t->name.len, GGUF_MAX_NAME);
        return -1;
    }
    if (t->ndim > GGUF_MAX_DIMS) {
        fmt_why_set(&g->why, at, "tensor %.*s has %" PRIu32 " dimensions (ggml has at most %d)",
                    (int)t->name.len, (const char *)t->name.p, t->ndim, GGUF_MAX_DIMS);
        return -1;
    }
    uint64_t numel = 1;
    for (uint32_t k = 0; k < t->ndim && !g->why.msg; k++) {
        if (rd_len(g, &t->ne[k], "dimension"))
            break;
        if (t->ne[k] > INT64_MAX || __builtin_mul_overflow(numel, t->ne[k], &numel) ||
            numel > INT64_MAX)
            fmt_why_set(&g->why, at, "tensor %.*s: its element count overflows", (int)t->name.len,
                        (const char *)t->name.p);
    }
    if (g->why.msg || rd_u32(g, &t->type, "tensor type") || rd_u64(g, &t->offset, "offset"))
        return -1;
    const gguf_type *ty =
        t->type < sizeof ggml_types / sizeof *ggml_types ? &ggml_types[t->type] : NULL;
    if (!ty || !ty->name) {
        fmt_why_set(&g->why, at, "tensor %.*s: ggml type %" PRIu32 " is not a known type",
                    (int)t->name.len, (const char *)t->name.p, t->type);
        return -1;
    }
    if (t->ndim > 0 && t->ne[0] % ty->block) {
        fmt_why_set(&g->why, at,
                    "tensor %.*s: %" PRIu64 " elements per row, not a multiple of %s's "
                    "block of %" PRIu32,
                    (int)t->name.len, (const char *)t->name.p, t->ne[0], ty->name, ty->block);
        return -1;
    }
    if (__builtin_mul_overflow(numel / ty->block, (uint64_t)ty->size, &t->nbytes))
        fmt_why_set(&g->why, at, "tensor %.*s: its byte size overflows", (int)t->name.len,
                    (const char *)t->name.p);
    else if (t->offset % alignment)
        fmt_why_set(&g->why, at,
                    "tensor %.*s: offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                    (int)t->name.len, (const char *)t->name.p, t->offset, alignment);
    return 0;
}

/* In offset order: every tensor inside the data section, none overlapping the one before. */
static void check_extents(gg *g, const gg_tensor *by_off, uint64_t n_tensors, uint64_t data_len)
{
    uint64_t end_prev = 0;
    for (uint64_t i = 0; i < n_tensors && !g->why.msg; i++) {
        const gg_tensor *t = &by_off[i];
        if (t->offset > data_len || t->nbytes > data_len - t->offset)
            fmt_why_set(&g->why, t->name.at,
                        "tensor %.*s: %" PRIu64 " bytes at offset %" PRIu64
                        " pass the end of the data section (%" PRIu64 " bytes)",
                        (int)t->name.len, (const char *)t->name.p, t->nbytes, t->offset, data_len);
        else if (i > 0 && t->offset < end_prev)
            fmt_why_set(&g->why, t->name.at,
                        "tensor %.*s at offset %" PRIu64 " overlaps the one before",
                        (int)t->name.len, (const char *)t->name.p, t->offset);
        end_prev = t->offset + t->nbytes;
    }
}

static brine_status gguf_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "gguf");
    gg g;
    memset(&g, 0, sizeof g);
    g.env = env;
    cur_init(&g.c, data, len);
    const uint8_t *magic = NULL;
    uint64_t n_tensors = 0, n_kv = 0;
    if (rd(&g, 4, &magic, "magic") || rd_u32(&g, &g.version, "version"))
        return report(&g);
    if (g.version < 1 || g.version > 3)
        return (void)fmt_why_set(&g.why, 4, "version %" PRIu32 " (GGUF has 1 to 3)", g.version),
               report(&g);
    uint64_t at_counts = cur_pos(&g.c);
    if (rd_len(&g, &n_tensors, "tensor count") || rd_len(&g, &n_kv, "metadata count"))
        return report(&g);
    /* a key/value takes at least a key length, a type and one byte; a tensor info a name
     * length, n_dims, a type and an offset */
    uint64_t len_size = g.version == 1 ? 4 : 8;
    if (n_kv > cur_left(&g.c) / (len_size + 5))
        fmt_why_set(&g.why, at_counts, "%" PRIu64 " metadata entries cannot fit in %zu bytes", n_kv,
                    cur_left(&g.c));
    else if (n_tensors > cur_left(&g.c) / (len_size + 16))
        fmt_why_set(&g.why, at_counts, "%" PRIu64 " tensors cannot fit in %zu bytes", n_tensors,
                    cur_left(&g.c));
    if (g.why.msg)
        return report(&g);
    if (n_tensors > fmt_limits(env)->max_tensors)
        return fmt_finding(env, BRINE_INVALID, "limit", NULL, 8,
                           "limit max_tensors is %" PRIu64 ", the GGUF file declares %" PRIu64,
                           fmt_limits(env)->max_tensors, n_tensors);

    mem_budget *mem = fmt_mem(env);
    size_t names_cap = (size_t)(n_kv > n_tensors ? n_kv : n_tensors);
    gg_str *names = mem_calloc(mem, names_cap ? names_cap : 1, sizeof *names);
    gg_tensor *ts = mem_calloc(mem, n_tensors ? (size_t)n_tensors : 1, sizeof *ts), *by_off = NULL;
    brine_status st = BRINE_OK;
    if (!names || !ts) {
        st = BRINE_ERR_NOMEM;
        goto out;
    }

    uint64_t alignment = GGUF_DEFAULT_ALIGN;
    st = read_metadata(&g, names, n_kv, &alignment);
    if (!g.why.msg && !st)
        unique_names(&g, names, n_kv, "metadata key");
    for (uint64_t i = 0; i < n_tensors && !g.why.msg && !st; i++) {
        if (read_tensor_info(&g, &ts[i], alignment))
            break;
        names[i] = ts[i].name;
    }
    if (!g.why.msg && !st)
        unique_names(&g, names, n_tensors, "tensor");
    if (g.why.msg || st)
        goto out;

    /* the data section starts at the next multiple of the alignment */
    uint64_t pos = cur_pos(&g.c), pad = (alignment - pos % alignment) % alignment;
    uint64_t data_start = pos + pad;
    if (n_tensors && data_start > len) {
        fmt_why_set(&g.why, pos, "the data section starts at %" PRIu64 ", past the end (%zu bytes)",
                    data_start, len);
        goto out;
    }
    uint64_t data_len = data_start <= len ? len - data_start : 0;
    /* checked in offset order; served in file order (GGUFReader's) */
    by_off = mem_calloc(mem, n_tensors ? (size_t)n_tensors : 1, sizeof *by_off);
    if (!by_off) {
        st = BRINE_ERR_NOMEM;
        goto out;
    }
    if (n_tensors)
        memcpy(by_off, ts, (size_t)n_tensors * sizeof *ts);
    qsort(by_off, (size_t)n_tensors, sizeof *by_off, by_offset);
    check_extents(&g, by_off, n_tensors, data_len);
    for (uint64_t i = 0; i < n_tensors && !g.why.msg && !st; i++)
        st = serve(&g, &ts[i], data + data_start + ts[i].offset);
out:
    if (names)
        mem_free(mem, names, (names_cap ? names_cap : 1) * sizeof *names);
    if (by_off)
        mem_free(mem, by_off, (n_tensors ? (size_t)n_tensors : 1) * sizeof *by_off);
    if (ts)
        mem_free(mem, ts, (n_tensors ? (size_t)n_tensors : 1) * sizeof *ts);
    if (st)
        return st;
    return report(&g);
}

const fmt_ops fmt_gguf = {"gguf", gguf_bid, gguf_walk, NULL};
