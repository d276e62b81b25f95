/*
 * npy.c — NumPy .npy headers and bodies, read as numpy.lib.format.read_array reads them
 * (numpy 1.24 lib/format.py and 2.4 lib/_format_impl.py; the rules are summarised in npy.h).
 *
 * Threat model: the header is attacker-controlled text that numpy hands to ast.literal_eval;
 * the body is either raw array bytes or a pickle that np.load(allow_pickle=True) runs. The
 * danger is a reader that misses an object dtype (a structured field or a sub-array of 'O'),
 * so the pickle is never judged; or a reader that disagrees with Python on the literal
 * (duplicate keys — the last wins —, string concatenation, escapes, comments, Python 2's L
 * suffix) and so sees a different dtype than numpy does. The literal is therefore parsed
 * with Python's own token rules into a small tree charged to the budget, with a nesting cap
 * equal to Python's; anything brine does not interpret (\N{...} escapes, dtype strings
 * outside numpy's canonical spellings, dict or set fields) is UNSUPPORTED, never accepted.
 * Sizes are computed with checked arithmetic; the body is only sliced, never copied.
 */
#include "formats/npy.h"
#include "formats/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/limits.h"

static const uint8_t npy_magic[NPY_MAGIC_LEN] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int npy_probe(const uint8_t *data, size_t len)
{
    return len >= NPY_MAGIC_LEN && memcmp(data, npy_magic, NPY_MAGIC_LEN) == 0 ? 100 : 0;
}

int npz_member_is_array(const uint8_t *member, size_t len)
{
    /* NpzFile.__getitem__ reads len(MAGIC_PREFIX) bytes and compares; the name is not used */
    return npy_probe(member, len) != 0;
}

/* ------------------------------------------------------------------ the literal */

/* What ast.literal_eval can return, as far as a header needs to tell apart. */
enum { V_DICT, V_LIST, V_TUPLE, V_SET, V_STR, V_BYTES, V_INT, V_BOOL, V_NONE, V_NUM, V_ELLIPSIS };

typedef struct hnode {
    uint8_t kind;
    uint8_t big;     /* V_INT outside int64: numpy's conversion to C long fails */
    uint8_t imag;    /* V_NUM: a complex number */
    uint8_t signed_; /* produced by a unary or binary operator (literal_eval allows one) */
    int64_t i;       /* V_INT, V_BOOL */
    uint32_t off;    /* offset in the header text */
    uint32_t first, last, next; /* children (dict: key, value, key, value…); 0 = none */
    uint32_t count;
    uint32_t s, slen; /* V_STR: UTF-8 bytes in the arena */
} hnode;

typedef struct hparser {
    const uint8_t *src;
    size_t n, pos;
    int latin1;   /* 1.0/2.0: each byte is one character */
    int filter_l; /* 1.0/2.0: numpy drops a NAME 'L' that follows a number */
    int py2_long;
    uint64_t base; /* file offset of src[0] */
    unsigned depth;
    hnode *nodes;
    size_t n_nodes, cap_nodes;
    char *arena;
    size_t alen, acap;
    mem_budget *mem;
    brine_error *err;
} hparser;

#define BAD(p, ...) ERR_CORRUPT((p)->err, (p)->base + (p)->pos, __VA_ARGS__)
#define UNSUP(p, ...)                                                                              \
    err_at((p)->err, BRINE_ERR_UNSUPPORTED, (p)->base + (p)->pos, __LINE__, __VA_ARGS__)

static int peek(const hparser *p, size_t ahead)
{
    return p->pos + ahead < p->n ? p->src[p->pos + ahead] : -1;
}

static int is_ident(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

/* Skips spaces, comments and line continuations; newlines too inside brackets (Python
 * joins bracketed lines). Returns -1 when a continuation ends the text (a SyntaxError). */
static int skip_ws(hparser *p, int bracketed)
{
    for (;;) {
        int c = peek(p, 0);
        if (c == ' ' || c == '\t' || c == '\f')
            p->pos++;
        else if (c == '#')
            while (p->pos < p->n && p->src[p->pos] != '\n' && p->src[p->pos] != '\r')
                p->pos++;
        else if (c == '\\' && (peek(p, 1) == '\n' || peek(p, 1) == '\r')) {
            p->pos += peek(p, 1) == '\r' && peek(p, 2) == '\n' ? 3 : 2;
            if (p->pos >= p->n)
                return -1;
        } else if (bracketed && (c == '\n' || c == '\r'))
            p->pos++;
        else
            return 0;
    }
}

static brine_status new_node(hparser *p, uint8_t kind, uint32_t *id)
{
    if (p->n_nodes >= UINT32_MAX - 1)
        return BAD(p, "header has too many values");
    if (mem_grow(p->mem, (void **)&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof *p->nodes))
        return ERR_NOMEM(p->err);
    hnode *h = &p->nodes[p->n_nodes];
    memset(h, 0, sizeof *h);
    h->kind = kind;
    h->off = (uint32_t)p->pos;
    *id = (uint32_t)p->n_nodes++;
    return BRINE_OK;
}

static void add_child(hparser *p, uint32_t parent, uint32_t child)
{
    hnode *h = &p->nodes[parent];
    if (h->count++ == 0)
        h->first = child;
    else
        p->nodes[h->last].next = child;
    h->last = child;
}

/* A set element or dict key must be hashable: literal_eval builds the set or dict and
 * raises TypeError for a list, dict or set, also inside a tuple. */
static int hashable(const hparser *p, uint32_t id, unsigned depth)
{
    const hnode *h = &p->nodes[id];
    if (h->kind == V_LIST || h->kind == V_DICT || h->kind == V_SET)
        return 0;
    if (h->kind != V_TUPLE)
        return 1;
    if (depth > NPY_MAX_NESTING)
        return 0;
    for (uint32_t c = h->first, k = 0; k < h->count; k++, c = p->nodes[c].next)
        if (!hashable(p, c, depth + 1))
            return 0;
    return 1;
}

static void put_utf8(hparser *p, uint32_t cp)
{
    char *o = p->arena + p->alen;
    if (cp < 0x80)
        o[0] = (char)cp, p->alen += 1;
    else if (cp < 0x800)
        o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), p->alen += 2;
    else if (cp < 0x10000)
        o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        o[2] = (char)(0x80 | (cp & 0x3F)), p->alen += 3;
    else
        o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), p->alen += 4;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One source character of string content into the arena (latin-1 bytes become UTF-8; 3.0
 * text is UTF-8 already). */
static void put_source_char(hparser *p)
{
    uint8_t c = p->src[p->pos++];
    if (c < 0x80 || p->latin1) {
        put_utf8(p, c);
        return;
    }
    p->arena[p->alen++] = (char)c;
    while (p->pos < p->n && (p->src[p->pos] & 0xC0) == 0x80)
        p->arena[p->alen++] = (char)p->src[p->pos++];
}

/* One string token, prefix included, appended to the arena (str) or skipped (bytes).
 * *is_bytes says which. Escapes follow Python's string-literal rules. */
static brine_status string_token(hparser *p, int *is_bytes)
{
    int raw = 0, b = 0, u = 0, f = 0;
    while (p->pos < p->n && p->src[p->pos] != '\'' && p->src[p->pos] != '"') {
        int c = p->src[p->pos] | 0x20;
        if (c == 'r' && !raw)
            raw = 1;
        else if (c == 'b' && !b)
            b = 1;
        else if (c == 'u' && !u)
            u = 1;
        else if (c == 'f' && !f)
            f = 1;
        else
            return BAD(p, "a name where a literal was expected");
        p->pos++;
    }
    if ((u && (raw || b || f)) || (b && f))
        return BAD(p, "invalid string prefix");
    if (f)
        return BAD(p, "an f-string is not a literal (ast.literal_eval refuses JoinedStr)");
    *is_bytes = b;
    int q = p->src[p->pos];
    int triple = peek(p, 1) == q && peek(p, 2) == q;
    p->pos += triple ? 3 : 1;
    for (;;) {
        if (p->pos >= p->n)
            return BAD(p, "unterminated string literal");
        int c = p->src[p->pos];
        if (c == q && (!triple || (peek(p, 1) == q && peek(p, 2) == q))) {
            p->pos += triple ? 3 : 1;
            return BRINE_OK;
        }
        if ((c == '\n' || c == '\r') && !triple)
            return BAD(p, "unterminated string literal (newline inside quotes)");
        if (b && c >= 0x80)
            return BAD(p, "bytes can only contain ASCII literal characters");
        if (c == '\r') { /* the tokenizer reads \r\n and \r as \n */
            p->pos += peek(p, 1) == '\n' ? 2 : 1;
            if (!b)
                put_utf8(p, '\n');
            continue;
        }
        if (c != '\\') {
            if (b)
                p->pos++;
            else
                put_source_char(p);
            continue;
        }
        int e = peek(p, 1);
        if (e < 0)
            return BAD(p, "unterminated string literal");
        if (raw || b) {
            /* raw: the backslash stays and protects the next character from ending the
             * literal; bytes content is never used by a valid header, only delimited */
            if (!b)
                put_utf8(p, '\\');
            p->pos++;
            if (p->src[p->pos] == '\r' && peek(p, 1) == '\n')
                p->pos++;
            if (b) {
                if (p->src[p->pos] >= 0x80)
                    return BAD(p, "bytes can only contain ASCII literal characters");
                p->pos++;
            } else
                put_source_char(p);
            continue;
        }
        p->pos += 2;
        static const char simple[] = "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v";
        const char *hit = NULL;
        for (size_t k = 0; k + 1 < sizeof simple; k += 2)
            if (simple[k] == e)
                hit = &simple[k + 1];
        if (hit)
            put_utf8(p, (uint8_t)*hit);
        else if (e == '\n')
            ; /* continuation inside the literal */
        else if (e == '\r')
            p->pos += peek(p, 0) == '\n' ? 1 : 0;
        else if (e >= '0' && e <= '7') {
            uint32_t v = (uint32_t)(e - '0');
            for (int k = 0; k < 2 && peek(p, 0) >= '0' && peek(p, 0) <= '7'; k++)
                v = v * 8 + (uint32_t)(p->src[p->pos++] - '0');
            put_utf8(p, v);
        } else if (e == 'x' || e == 'u' || e == 'U') {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int k = 0; k < digits; k++) {
                int h = hexval(peek(p, 0));
                if (h < 0)
                    return BAD(p, "truncated \\%cXX escape", e);
                v = v * 16 + (uint32_t)h;
                p->pos++;
            }
            if (v > 0x10FFFF)
                return BAD(p, "illegal Unicode character in \\U escape");
            put_utf8(p, v);
        } else if (e == 'N')
            return UNSUP(p, "\\N{...} escapes in a header are not interpreted by brine");
        else {
            /* an unknown escape keeps its backslash (a DeprecationWarning in Python) */
            put_utf8(p, '\\');
            p->pos--;
        }
    }
}

/* Python's numeric literal grammar: digitpart = digit (["_"] digit)*. */
static int digitpart(hparser *p, int (*ok)(int))
{
    if (!ok(peek(p, 0)))
        return 0;
    p->pos++;
    for (;;) {
        if (peek(p, 0) == '_' && ok(peek(p, 1)))
            p->pos += 2;
        else if (ok(peek(p, 0)))
            p->pos++;
        else
            return 1;
    }
}

static int dec_ok(int c) { return c >= '0' && c <= '9'; }
static int hex_ok(int c) { return hexval(c) >= 0; }
static int oct_ok(int c) { return c >= '0' && c <= '7'; }
static int bin_ok(int c) { return c == '0' || c == '1'; }

/* An integer's value from its text (underscores skipped), with overflow into big. */
static void int_value(hnode *h, const uint8_t *s, size_t len, unsigned radix)
{
    uint64_t v = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] == '_')
            continue;
        int d = hexval(s[k]);
        if (__builtin_mul_overflow(v, (uint64_t)radix, &v) ||
            __builtin_add_overflow(v, (uint64_t)d, &v))
            h->big = 1;
    }
    if (v > (uint64_t)INT64_MAX)
        h->big = 1;
    h->i = h->big ? 0 : (int64_t)v;
}

static brine_status number(hparser *p, uint32_t *id)
{
    brine_status st = new_node(p, V_INT, id);
    if (st)
        return st;
    hnode *h = &p->nodes[*id];
    size_t start = p->pos;
    int c1 = peek(p, 1) | 0x20;
    if (peek(p, 0) == '0' && (c1 == 'x' || c1 == 'o' || c1 == 'b')) {
        int (*ok)(int) = c1 == 'x' ? hex_ok : c1 == 'o' ? oct_ok : bin_ok;
        p->pos += 2;
        if (peek(p, 0) == '_')
            p->pos++;
        size_t ds = p->pos;
        if (!digitpart(p, ok))
            return BAD(p, "invalid number literal");
        int_value(h, p->src + ds, p->pos - ds, c1 == 'x' ? 16 : c1 == 'o' ? 8 : 2);
    } else {
        int had_int = digitpart(p, dec_ok), is_float = 0;
        size_t int_end = p->pos;
        if (peek(p, 0) == '.') {
            p->pos++;
            is_float = 1;
            if (!digitpart(p, dec_ok) && !had_int)
                return BAD(p, "invalid number literal");
        }
        int e = peek(p, 0);
        if ((e == 'e' || e == 'E') && had_int + is_float > 0) {
            size_t save = p->pos++;
            if (peek(p, 0) == '+' || peek(p, 0) == '-')
                p->pos++;
            if (digitpart(p, dec_ok))
                is_float = 1;
            else
                p->pos = save;
        }
        if (peek(p, 0) == 'j' || peek(p, 0) == 'J') {
            p->pos++;
            h->kind = V_NUM;
            h->imag = 1;
        } else if (is_float)
            h->kind = V_NUM;
        else {
            /* decinteger: a leading zero only in "0", "00", "0_0"… */
            int zero = 0, nonzero = 0;
            for (size_t k = start; k < int_end; k++)
                if (p->src[k] == '0')
                    zero |= k == start;
                else if (p->src[k] != '_')
                    nonzero = 1;
            if (zero && nonzero)
                return BAD(p, "leading zeros in a decimal integer literal are not permitted");
            int_value(h, p->src + start, int_end - start, 10);
        }
    }
    /* Python 2's 123L: numpy's _filter_header drops a NAME token 'L' after a number
     * (1.0/2.0 headers; 1.24 always, 2.x after a SyntaxError) */
    size_t after = p->pos;
    while (peek(p, 0) == ' ' || peek(p, 0) == '\t' || peek(p, 0) == '\f')
        p->pos++;
    if (p->filter_l && peek(p, 0) == 'L' && !is_ident(peek(p, 1))) {
        p->pos++;
        p->py2_long = 1;
        return BRINE_OK;
    }
    p->pos = after;
    if (is_ident(peek(p, 0)) || peek(p, 0) == '.')
        return BAD(p, "invalid number literal");
    return BRINE_OK;
}

static brine_status value(hparser *p, uint32_t *id, int bracketed);

/* The elements of a list, tuple or set up to the closing bracket; `first` (when not 0 or
 * has_first) is already parsed. */
static brine_status elements(hparser *p, uint32_t parent, int close, int check_hash)
{
    for (;;) {
        if (skip_ws(p, 1))
            return BAD(p, "unexpected end of header");
        if (peek(p, 0) == close) {
            p->pos++;
            return BRINE_OK;
        }
        uint32_t c;
        brine_status st = value(p, &c, 1);
        if (st)
            return st;
        if (check_hash && !hashable(p, c, 0))
            return BAD(p, "unhashable set element");
        add_child(p, parent, c);
        if (skip_ws(p, 1))
            return BAD(p, "unexpected end of header");
        if (peek(p, 0) == ',')
            p->pos++;
        else if (peek(p, 0) != close)
            return BAD(p, "expected ',' or '%c' in the header", close);
    }
}

static brine_status atom(hparser *p, uint32_t *id)
{
    brine_status st;
    int c = peek(p, 0);
    if (c == '(' || c == '[' || c == '{') {
        if (++p->depth > NPY_MAX_NESTING)
            return BAD(p, "too many nested parentheses (Python's limit is %d)", NPY_MAX_NESTING);
        p->pos++;
        if (skip_ws(p, 1))
            return BAD(p, "unexpected end of header");
        if (c == '[') {
            if ((st = new_node(p, V_LIST, id)) || (st = elements(p, *id, ']', 0)))
                return st;
        } else if (c == '(') {
            if (peek(p, 0) == ')') {
                p->pos++;
                st = new_node(p, V_TUPLE, id);
            } else {
                uint32_t first;
                if ((st = value(p, &first, 1)))
                    return st;
                if (skip_ws(p, 1))
                    return BAD(p, "unexpected end of header");
                if (peek(p, 0) == ')') { /* (x) is x */
                    p->pos++;
                    *id = first;
                } else if (peek(p, 0) == ',') {
                    p->pos++;
                    if ((st = new_node(p, V_TUPLE, id)))
                        return st;
                    add_child(p, *id, first);
                    st = elements(p, *id, ')', 0);
                } else
                    return BAD(p, "expected ',' or ')' in the header");
            }
            if (st)
                return st;
        } else if (peek(p, 0) == '}') {
            p->pos++;
            if ((st = new_node(p, V_DICT, id)))
                return st;
        } else {
            uint32_t first;
            if ((st = value(p, &first, 1)))
                return st;
            if (skip_ws(p, 1))
                return BAD(p, "unexpected end of header");
            if (peek(p, 0) != ':') { /* a set */
                if ((st = new_node(p, V_SET, id)))
                    return st;
                if (!hashable(p, first, 0))
                    return BAD(p, "unhashable set element");
                add_child(p, *id, first);
                if (peek(p, 0) == ',')
                    p->pos++;
                else if (peek(p, 0) != '}')
                    return BAD(p, "expected ',' or '}' in the header");
                st = elements(p, *id, '}', 1);
            } else {
                if ((st = new_node(p, V_DICT, id)))
                    return st;
                uint32_t key = first;
                for (;;) {
                    p->pos++; /* ':' */
                    if (!hashable(p, key, 0))
                        return BAD(p, "unhashable dict key");
                    uint32_t v;
                    if ((st = value(p, &v, 1)))
                        return st;
                    add_child(p, *id, key);
                    add_child(p, *id, v);
                    if (skip_ws(p, 1))
                        return BAD(p, "unexpected end of header");
                    if (peek(p, 0) == ',') {
                        p->pos++;
                        if (skip_ws(p, 1))
                            return BAD(p, "unexpected end of header");
                    } else if (peek(p, 0) != '}')
                        return BAD(p, "expected ',' or '}' in the header");
                    if (peek(p, 0) == '}') {
                        p->pos++;
                        break;
                    }
                    if ((st = value(p, &key, 1)))
                        return st;
                    if (skip_ws(p, 1))
                        return BAD(p, "unexpected end of header");
                    if (peek(p, 0) != ':')
                        return BAD(p, "expected ':' after a dict key in the header");
                }
            }
            if (st)
                return st;
        }
        p->depth--;
        return BRINE_OK;
    }
    if ((c >= '0' && c <= '9') || (c == '.' && dec_ok(peek(p, 1))))
        return number(p, id);
    if (c == '.' && peek(p, 1) == '.' && peek(p, 2) == '.') {
        p->pos += 3;
        return new_node(p, V_ELLIPSIS, id);
    }
    if (c == '\'' || c == '"' || (c >= 0 && c < 0x80 && is_ident(c))) {
        size_t k = p->pos;
        while (k < p->n && is_ident(p->src[k]))
            k++;
        if (k < p->n && (p->src[k] == '\'' || p->src[k] == '"') && k - p->pos <= 2) {
            /* one or more adjacent string literals, concatenated */
            if ((st = new_node(p, V_STR, id)))
                return st;
            p->nodes[*id].s = (uint32_t)p->alen;
            int kind = -1;
            for (;;) {
                int is_bytes = 0;
                if ((st = string_token(p, &is_bytes)))
                    return st;
                if (kind >= 0 && kind != is_bytes)
                    return BAD(p, "cannot mix bytes and nonbytes literals");
                kind = is_bytes;
                size_t save = p->pos;
                if (skip_ws(p, p->depth > 0))
                    return BAD(p, "unexpected end of header");
                size_t j = p->pos;
                while (j < p->n && j - p->pos <= 2 && is_ident(p->src[j]))
                    j++;
                if (!(j < p->n && (p->src[j] == '\'' || p->src[j] == '"') && j - p->pos <= 2)) {
                    p->pos = save;
                    break;
                }
            }
            hnode *h = &p->nodes[*id];
            h->kind = kind ? V_BYTES : V_STR;
            h->slen = (uint32_t)(p->alen - h->s);
            return BRINE_OK;
        }
        size_t len = k - p->pos;
        const char *w = (const char *)p->src + p->pos;
        if (len == 4 && memcmp(w, "True", 4) == 0)
            st = new_node(p, V_BOOL, id), p->nodes[*id].i = 1;
        else if (len == 5 && memcmp(w, "False", 5) == 0)
            st = new_node(p, V_BOOL, id);
        else if (len == 4 && memcmp(w, "None", 4) == 0)
            st = new_node(p, V_NONE, id);
        else if (len == 3 && memcmp(w, "set", 3) == 0) {
            /* set() is the one call literal_eval accepts */
            p->pos = k;
            if (skip_ws(p, p->depth > 0) || peek(p, 0) != '(')
                return BAD(p, "a name where a literal was expected");
            p->pos++;
            if (skip_ws(p, 1) || peek(p, 0) != ')')
                return BAD(p, "set() with arguments is not a literal");
            p->pos++;
            return new_node(p, V_SET, id);
        } else
            return BAD(p, "a name where a literal was expected");
        p->pos = k;
        return st;
    }
    return BAD(p, "unexpected character 0x%02x in the header", (unsigned)(c < 0 ? 0 : c));
}

static int is_real(const hnode *h) { return h->kind == V_INT || (h->kind == V_NUM && !h->imag); }

/* atom, or +/- atom on a number, or (signed) real +/- (signed) complex — what
 * ast.literal_eval's _convert_signed_num and its complex BinOp case accept. */
static brine_status signed_num(hparser *p, uint32_t *id, int bracketed)
{
    int c = peek(p, 0);
    if (c != '+' && c != '-')
        return atom(p, id);
    p->pos++;
    if (skip_ws(p, bracketed))
        return BAD(p, "unexpected end of header");
    brine_status st = atom(p, id);
    if (st)
        return st;
    hnode *h = &p->nodes[*id];
    if (h->signed_ || (h->kind != V_INT && h->kind != V_NUM))
        return BAD(p, "malformed node or string: a sign on something that is not a number");
    if (c == '-' && h->kind == V_INT && !h->big)
        h->i = -h->i;
    h->signed_ = 1;
    return BRINE_OK;
}

static brine_status value(hparser *p, uint32_t *id, int bracketed)
{
    if (skip_ws(p, bracketed))
        return BAD(p, "unexpected end of header");
    brine_status st = signed_num(p, id, bracketed);
    if (st)
        return st;
    size_t save = p->pos;
    if (skip_ws(p, bracketed))
        return BAD(p, "unexpected end of header");
    int c = peek(p, 0);
    if (c != '+' && c != '-') {
        p->pos = save;
        return BRINE_OK;
    }
    if (!is_real(&p->nodes[*id]) || p->nodes[*id].kind == V_BOOL)
        return BAD(p, "malformed node or string: an operator outside a complex literal");
    p->pos++;
    if (skip_ws(p, bracketed))
        return BAD(p, "unexpected end of header");
    uint32_t right;
    if ((st = signed_num(p, &right, bracketed)))
        return st;
    if (p->nodes[right].kind != V_NUM || !p->nodes[right].imag)
        return BAD(p, "malformed node or string: a sum whose right side is not imaginary");
    hnode *h = &p->nodes[*id];
    h->kind = V_NUM;
    h->imag = 1;
    h->signed_ = 1;
    return BRINE_OK;
}

/* The whole header text: blank lines, then one expression, then only blanks. */
static brine_status parse_header(hparser *p, uint32_t *root)
{
    /* literal_eval strips leading spaces and tabs; later lines may be blank, but the line
     * holding the expression must not be indented (IndentationError) */
    while (peek(p, 0) == ' ' || peek(p, 0) == '\t')
        p->pos++;
    for (;;) {
        size_t line = p->pos;
        int indented = 0;
        while (peek(p, 0) == ' ' || peek(p, 0) == '\t' || peek(p, 0) == '\f') {
            indented = peek(p, 0) == '\f' ? 0 : 1;
            p->pos++;
        }
        if (peek(p, 0) == '#')
            while (p->pos < p->n && p->src[p->pos] != '\n' && p->src[p->pos] != '\r')
                p->pos++;
        if (peek(p, 0) == '\n' || peek(p, 0) == '\r') {
            p->pos++;
            continue;
        }
        if (peek(p, 0) == '\\' && (peek(p, 1) == '\n' || peek(p, 1) == '\r')) {
            if (skip_ws(p, 0))
                return BAD(p, "unexpected end of header");
            continue;
        }
        if (p->pos >= p->n)
            return BAD(p, "the header holds no expression");
        if (indented && line > 0)
            return BAD(p, "unexpected indent before the header's expression");
        break;
    }
    brine_status st = value(p, root, 0);
    if (st)
        return st;
    for (;;) {
        if (skip_ws(p, 0))
            return BAD(p, "unexpected end of header after a line continuation");
        if (p->pos >= p->n)
            return BRINE_OK;
        if (peek(p, 0) != '\n' && peek(p, 0) != '\r')
            return BAD(p, "unexpected text after the header's dict");
        p->pos++;
    }
}

/* ------------------------------------------------------------------ dtypes */

typedef struct dwalk {
    int has_object;
    int unknown;
    int overflow;
    int kind; /* leaf kind letter of a simple dtype */
    int big_endian;
    char descr[48];
} dwalk;

static int str_is(const hparser *p, const hnode *h, const char *s)
{
    size_t n = strlen(s);
    return h->kind == V_STR && h->slen == n && memcmp(p->arena + h->s, s, n) == 0;
}

/* A dtype string, in the spellings numpy's own dtype.str produces (numpy accepts many more:
 * 'i+4', 'f 4', 'int64', 'i4,O'… — those are reported as unknown). Returns 1 and fills
 * itemsize/kind/descr, or 0. */
static int leaf_dtype(const char *s, size_t n, uint64_t *itemsize, dwalk *w)
{
    char order = '=';
    if (n && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '='))
        order = s[0], s++, n--;
    if (!n)
        return 0;
    char kind = s[0];
    const char *num = s + 1;
    size_t nn = n - 1;
    uint64_t size = 0;
    int has_size = 0;
    if (kind == 'M' || kind == 'm') {
        /* M8, M8[unit], M8[10ms]: always 8 bytes */
        if (nn < 1 || num[0] != '8')
            return 0;
        num++, nn--;
        if (nn) {
            if (num[0] != '[' || num[nn - 1] != ']')
                return 0;
            const char *u = num + 1;
            size_t ul = nn - 2, d = 0;
            while (d < ul && d < 9 && u[d] >= '0' && u[d] <= '9')
                d++;
            static const char *const units[] = {"Y",  "M",  "W",  "D",  "h",  "m",  "s",
                                                "ms", "us", "ns", "ps", "fs", "as", "generic"};
            int ok = 0;
            for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
                if (strlen(units[k]) == ul - d && memcmp(units[k], u + d, ul - d) == 0)
                    ok = !(d && k == 13);
            if (!ok)
                return 0;
        }
        *itemsize = 8;
        w->kind = kind;
        w->big_endian = order == '>';
        char unit[24] = "";
        if (nn > 2 && !(nn == 9 && memcmp(num, "[generic]", 9) == 0))
            memcpy(unit, num, nn < sizeof unit ? nn : sizeof unit - 1);
        snprintf(w->descr, sizeof w->descr, "%c%c8%s", order == '>' ? '>' : '<', kind, unit);
        return 1;
    }
    for (size_t k = 0; k < nn; k++) {
        if (num[k] < '0' || num[k] > '9' || size > UINT64_C(1) << 40)
            return 0;
        size = size * 10 + (uint64_t)(num[k] - '0');
        has_size = 1;
    }
    int ok = 0;
    switch (kind) {
    case '?': ok = !has_size, size = 1, kind = 'b'; break;
    case 'b': ok = has_size && size == 1; break;
    case 'i':
    case 'u': ok = has_size && (size == 1 || size == 2 || size == 4 || size == 8); break;
    case 'f': ok = has_size && (size == 2 || size == 4 || size == 8 || size == 16); break;
    case 'c': ok = has_size && (size == 8 || size == 16 || size == 32); break;
    case 'O':
        ok = !has_size || size == 4 || size == 8;
        size = 8;
        w->has_object = 1;
        break;
    case 'a':
        if (order != '=' && !has_size)
            return 0;
        kind = 'S';
        ok = 1;
        break;
    case 'S':
    case 'V': ok = 1; break;
    case 'U':
        ok = size <= INT32_MAX / 4;
        size *= 4;
        break;
    default: return 0;
    }
    if (!ok || size > INT32_MAX)
        return 0;
    *itemsize = size;
    w->kind = kind;
    int one_byte = size == 1 || kind == 'b' || kind == 'O' || kind == 'S' || kind == 'V';
    w->big_endian = order == '>' && !one_byte && kind != 'U' ? 1 : 0;
    if (kind == 'U')
        w->big_endian = order == '>';
    char oc = one_byte && kind != 'U' ? '|' : order == '>' ? '>' : '<';
    if (kind == 'O')
        snprintf(w->descr, sizeof w->descr, "|O");
    else
        snprintf(w->descr, sizeof w->descr, "%c%c%" PRIu64, oc, kind,
                 kind == 'U' ? size / 4 : size);
    return 1;
}

static uint32_t child(const hparser *p, const hnode *h, uint32_t k)
{
    uint32_t c = h->first;
    while (k--)
        c = p->nodes[c].next;
    return c;
}

/* The element count of a sub-array shape (an int or a tuple of ints, non-negative); -1 when
 * it is not one numpy takes, -2 on overflow. */
static int sub_shape(const hparser *p, const hnode *h, uint64_t *count)
{
    *count = 1;
    if (h->kind == V_INT)
        return h->big || h->i < 0 ? -1 : (*count = (uint64_t)h->i, 0);
    if (h->kind != V_TUPLE)
        return -1;
    for (uint32_t c = h->first, k = 0; k < h->count; k++, c = p->nodes[c].next) {
        const hnode *e = &p->nodes[c];
        if (e->kind != V_INT || e->big || e->i < 0)
            return -1;
        if (__builtin_mul_overflow(*count, (uint64_t)e->i, count))
            return -2;
    }
    return 0;
}

/* A dtype string brine does not parse may still be one numpy reads as holding objects
 * ('object', 'i4,O', '(2,)O', 'O,f4'…): every numpy spelling of the object type contains 'O'
 * or "object". Such a file is judged as if its body were a pickle — the worst reading. */
static int mentions_object(const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (s[k] == 'O' || (n - k >= 6 && memcmp(s + k, "object", 6) == 0))
            return 1;
    return 0;
}

/* The strings a field name occupies in numpy's fields: the name and a string title. */
static int field_strings(const hparser *p, const hnode *f, uint32_t out[2])
{
    if (f->kind != V_TUPLE && f->kind != V_LIST)
        return 0;
    const hnode *name = &p->nodes[f->first];
    if (name->kind == V_STR) {
        out[0] = f->first;
        return 1;
    }
    if (name->kind != V_TUPLE || name->count != 2)
        return 0;
    int n = 0;
    for (uint32_t c = name->first, k = 0; k < 2; k++, c = p->nodes[c].next)
        if (p->nodes[c].kind == V_STR)
            out[n++] = c;
    return n;
}

/* descr_to_dtype's is_pad for a (name, type[, shape]) field: name '' and a type numpy
 * builds as void without names — a 'V' string, or any sub-array. */
static int is_pad_field(const hparser *p, const hnode *f)
{
    if ((f->kind != V_TUPLE && f->kind != V_LIST) || f->count < 2 ||
        !str_is(p, &p->nodes[f->first], ""))
        return 0;
    if (f->count == 3)
        return 1;
    const hnode *t = &p->nodes[child(p, f, 1)];
    if (t->kind == V_TUPLE)
        return 1;
    if (t->kind != V_STR)
        return 0;
    uint64_t size;
    dwalk w;
    memset(&w, 0, sizeof w);
    return leaf_dtype(p->arena + t->s, t->slen, &size, &w) && w.kind == 'V';
}

static int same_str(const hparser *p, uint32_t a, uint32_t b)
{
    const hnode *x = &p->nodes[a], *y = &p->nodes[b];
    return x->slen == y->slen && memcmp(p->arena + x->s, p->arena + y->s, x->slen) == 0;
}

/* descr_to_dtype: a str, a (base, shape) tuple, or a list of (name, descr[, shape]) fields.
 * Sums the itemsize; notes objects and strings brine does not know. *is_void_like is set
 * when numpy's dtype would have type numpy.void and no names (a 'V' string or a sub-array),
 * which makes a field named '' padding that descr_to_dtype drops, objects and all. */
static brine_status walk_descr(hparser *p, uint32_t id, unsigned depth, uint64_t *itemsize,
                               int *is_void_like, dwalk *w)
{
    const hnode *h = &p->nodes[id];
    p->pos = h->off;
    *itemsize = 0;
    *is_void_like = 0;
    if (depth > NPY_MAX_NESTING)
        return BAD(p, "descr nests too deeply");
    if (h->kind == V_STR) {
        if (!leaf_dtype(p->arena + h->s, h->slen, itemsize, w)) {
            w->unknown = 1;
            w->has_object |= mentions_object(p->arena + h->s, h->slen);
            return BRINE_OK;
        }
        *is_void_like = w->kind == 'V';
        return BRINE_OK;
    }
    if (h->kind == V_TUPLE) {
        /* numpy.dtype((descr_to_dtype(descr[0]), descr[1])); more items are ignored */
        if (h->count < 2)
            return BAD(p, "descr tuple needs (base, shape)");
        uint64_t base, count;
        int vl;
        brine_status st = walk_descr(p, child(p, h, 0), depth + 1, &base, &vl, w);
        if (st)
            return st;
        int r = sub_shape(p, &p->nodes[child(p, h, 1)], &count);
        if (r == -1)
            w->unknown = 1;
        else if (r == -2 || __builtin_mul_overflow(base, count, itemsize))
            w->overflow = 1;
        *is_void_like = 1;
        return BRINE_OK;
    }
    if (h->kind == V_DICT || h->kind == V_SET)
        return UNSUP(p, "a dict or set as descr: numpy iterates it, brine does not");
    if (h->kind != V_LIST)
        return BAD(p, "descr is not a valid dtype descriptor");
    uint64_t total = 0;
    for (uint32_t c = h->first, k = 0; k < h->count; k++, c = p->nodes[c].next) {
        const hnode *f = &p->nodes[c];
        p->pos = f->off;
        uint32_t name_id = 0, type_id = 0, shape_id = 0;
        int nf;
        char ch[3];
        if (f->kind == V_TUPLE || f->kind == V_LIST) {
            nf = (int)f->count;
            if (nf != 2 && nf != 3)
                return BAD(p, "a field of descr needs (name, type[, shape]), found %d items", nf);
            name_id = child(p, f, 0);
            type_id = child(p, f, 1);
            shape_id = nf == 3 ? child(p, f, 2) : 0;
        } else if (f->kind == V_STR && (f->slen == 2 || f->slen == 3)) {
            /* `name, descr_str = field` unpacks a 2-character string: 'xO' is an object
             * field called 'x'. Only ASCII is taken apart here. */
            nf = (int)f->slen;
            memcpy(ch, p->arena + f->s, (size_t)nf);
            for (int q = 0; q < nf; q++)
                if ((uint8_t)ch[q] >= 0x80)
                    return UNSUP(p, "a non-ASCII string used as a descr field");
            uint64_t sz;
            dwalk sub = *w;
            if (!leaf_dtype(&ch[1], 1, &sz, &sub)) {
                w->unknown = 1;
                w->has_object |= mentions_object(&ch[1], 1);
                continue;
            }
            if (nf == 3) { /* numpy.dtype((dt, 'c')) is not a shape numpy takes */
                w->unknown = 1;
                w->has_object |= sub.has_object;
                continue;
            }
            w->has_object |= sub.has_object;
            if (__builtin_add_overflow(total, sz, &total))
                w->overflow = 1;
            continue;
        } else if (f->kind == V_DICT || f->kind == V_SET) {
            return UNSUP(p, "a dict or set as a descr field: numpy unpacks it, brine does not");
        } else
            return BAD(p, "a field of descr is not a (name, type) pair");
        const hnode *name = &p->nodes[name_id];
        int pad_name = str_is(p, name, "");
        if (name->kind == V_TUPLE) {
            if (name->count != 2 || p->nodes[child(p, name, 1)].kind != V_STR)
                return UNSUP(p, "a (title, name) field name brine does not interpret");
        } else if (name->kind != V_STR)
            return UNSUP(p, "a field name that is not a string");
        uint64_t sz, count = 1;
        int vl;
        dwalk sub = *w;
        sub.has_object = 0;
        brine_status st = walk_descr(p, type_id, depth + 1, &sz, &vl, &sub);
        if (st)
            return st;
        if (shape_id) {
            int r = sub_shape(p, &p->nodes[shape_id], &count);
            if (r == -1)
                sub.unknown = 1;
            else if (r == -2 || __builtin_mul_overflow(sz, count, &sz))
                sub.overflow = 1;
            vl = 1;
        }
        w->unknown |= sub.unknown;
        w->overflow |= sub.overflow;
        /* descr_to_dtype's is_pad: name == '' and a void type without names — skipped */
        if (!(pad_name && vl)) {
            w->has_object |= sub.has_object;
            /* numpy.dtype refuses a name or title used twice ("name already used as a name
             * or title"); the check is quadratic, so very wide records are not checked */
            uint32_t mine[2], theirs[2];
            int nm = field_strings(p, f, mine);
            if (k >= 4096)
                w->unknown = 1;
            for (uint32_t o = h->first, j = 0; j < k && k < 4096; j++, o = p->nodes[o].next) {
                int nt = field_strings(p, &p->nodes[o], theirs);
                if (is_pad_field(p, &p->nodes[o])) /* dropped: it cannot clash */
                    continue;
                for (int x = 0; x < nm; x++)
                    for (int y = 0; y < nt; y++)
                        if (same_str(p, mine[x], theirs[y])) {
                            p->pos = f->off;
                            return BAD(p, "descr is not a valid dtype descriptor: field name "
                                          "used twice");
                        }
            }
        }
        if (__builtin_add_overflow(total, sz, &total))
            w->overflow = 1;
    }
    *itemsize = total;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ the file */

/* Validates UTF-8 as Python's decoder does (no surrogates, no overlongs) and counts
 * characters. -1 on invalid input. */
static int64_t utf8_chars(const uint8_t *s, size_t n)
{
    int64_t chars = 0;
    for (size_t i = 0; i < n; chars++) {
        uint8_t c = s[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xC2 && c <= 0xDF ? 2
                     : c >= 0xE0 && c <= 0xEF ? 3
                     : c >= 0xF0 && c <= 0xF4 ? 4
                                              : 0;
        if (!len || len > n - i)
            return -1;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return -1;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90))
            return -1;
        i += len;
    }
    return chars;
}

static const char *tensor_name(int kind, uint64_t size)
{
    switch (kind) {
    case 'b': return "BOOL";
    case 'i': return size == 1 ? "I8" : size == 2 ? "I16" : size == 4 ? "I32" : "I64";
    case 'u': return size == 1 ? "U8" : size == 2 ? "U16" : size == 4 ? "U32" : "U64";
    case 'f': return size == 2 ? "F16" : size == 4 ? "F32" : size == 8 ? "F64" : NULL;
    case 'c': return size == 8 ? "C64" : size == 16 ? "C128" : NULL;
    default: return NULL;
    }
}

static brine_status check_header(hparser *p, uint32_t root, npy_info *out)
{
    const hnode *d = &p->nodes[root];
    p->pos = d->off;
    if (d->kind != V_DICT)
        return BAD(p, "Header is not a dictionary");
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    uint32_t val[3] = {0, 0, 0};
    int seen[3] = {0, 0, 0};
    for (uint32_t c = d->first, k = 0; k < d->count; k += 2) {
        const hnode *key = &p->nodes[c];
        uint32_t v = key->next;
        int which = -1;
        for (int q = 0; q < 3; q++)
            if (str_is(p, key, keys[q]))
                which = q;
        p->pos = key->off;
        if (which < 0)
            return BAD(p, "Header does not contain the correct keys (descr, fortran_order, "
                          "shape)");
        /* a repeated key: ast.literal_eval keeps the last value */
        val[which] = v;
        seen[which] = 1;
        c = p->nodes[v].next;
    }
    if (!seen[0] || !seen[1] || !seen[2])
        return BAD(p, "Header does not contain the correct keys (descr, fortran_order, shape)");

    const hnode *shape = &p->nodes[val[2]];
    p->pos = shape->off;
    if (shape->kind != V_TUPLE)
        return BAD(p, "shape is not valid: not a tuple");
    out->ndim = shape->count;
    int64_t bool_dim = -1;
    for (uint32_t c = shape->first, k = 0; k < shape->count; k++, c = p->nodes[c].next) {
        const hnode *e = &p->nodes[c];
        p->pos = e->off;
        if (e->kind != V_INT && e->kind != V_BOOL)
            return BAD(p, "shape is not valid: dimension %u is not an int", k);
        /* bools pass isinstance(x, int): an object array still unpickles, a plain one
         * fails in fromfile/ndarray (TypeError); ints beyond a C long raise OverflowError in
         * numpy.multiply.reduce, before any pickle is read */
        if (e->kind == V_BOOL && bool_dim < 0)
            bool_dim = (int64_t)k;
        if (e->big)
            return BAD(p, "shape is not valid: dimension %u does not fit a C long", k);
        if (k < LD_MAX_DIMS)
            out->shape[k] = e->i;
    }
    const hnode *fo = &p->nodes[val[1]];
    p->pos = fo->off;
    if (fo->kind != V_BOOL)
        return BAD(p, "fortran_order is not a valid bool");
    out->fortran = (int)fo->i;

    dwalk w;
    memset(&w, 0, sizeof w);
    uint64_t itemsize;
    int vl;
    const hnode *descr = &p->nodes[val[0]];
    brine_status st = walk_descr(p, val[0], 0, &itemsize, &vl, &w);
    if (st)
        return st;
    p->pos = descr->off;
    out->has_object = w.has_object;
    out->descr_unknown = w.unknown;
    out->structured = descr->kind == V_LIST;
    out->subarray = descr->kind == V_TUPLE;
    out->itemsize = itemsize;
    if (w.has_object) /* the pickle is what np.load reads: nothing else matters */
        return BRINE_OK;
    if (out->subarray) {
        /* read_array reads count items of (base, sub-shape): the array gains the sub-array's
         * dimensions and the reshape to `shape` fails, unless the sub-array holds one
         * element or there are no items — a corner brine does not model */
        uint64_t sub = 0;
        int r = sub_shape(p, &p->nodes[child(p, descr, 1)], &sub);
        int empty = 0;
        for (uint32_t k = 0; k < out->ndim && k < LD_MAX_DIMS; k++)
            empty |= out->shape[k] == 0;
        if (r == 0 && sub != 1 && !empty)
            return BAD(p, "a (base, shape) descr makes read_array's reshape fail");
        return UNSUP(p, "a (base, shape) descr holding one element, or no items");
    }
    if (bool_dim >= 0) {
        p->pos = shape->off;
        return BAD(p, "shape is not valid: dimension %" PRId64 " is a bool", bool_dim);
    }
    if (w.unknown)
        return UNSUP(p, "a dtype descr brine does not interpret (numpy may or may not read it)");
    if (w.overflow)
        return BAD(p, "descr is not a valid dtype descriptor: its itemsize overflows");
    if (!out->structured && !out->subarray) {
        memcpy(out->descr, w.descr, sizeof out->descr);
        out->big_endian = w.big_endian;
        const char *tn = tensor_name(w.kind, itemsize);
        out->dtype = tn ? ld_dtype_by_st(tn) : NULL;
    }
    return BRINE_OK;
}

brine_status npy_parse(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                       npy_info *out, brine_error *err)
{
    (void)lim;
    memset(out, 0, sizeof *out);
    cursor c;
    cur_init(&c, data, len);
    const uint8_t *b;
    if (cur_take(&c, NPY_MAGIC_LEN + 2, &b) || !npy_probe(b, NPY_MAGIC_LEN))
        return ERR_CORRUPT(err, 0,
                           "the npy magic string is not correct or the file is shorter "
                           "than 8 bytes");
    out->major = b[6];
    out->minor = b[7];
    if (out->minor != 0 || out->major < 1 || out->major > 3)
        return ERR_CORRUPT(err, 6,
                           "npy format version (%d,%d): numpy reads only (1,0), (2,0) "
                           "and (3,0)",
                           out->major, out->minor);
    size_t lenbytes = out->major == 1 ? 2 : 4;
    if (cur_take(&c, lenbytes, &b))
        return ERR_CORRUPT(err, 8, "EOF reading the array header length: %zu bytes needed",
                           lenbytes);
    out->header_len = lenbytes == 2 ? ld_le16(b) : ld_le32(b);
    out->data_offset = 8 + lenbytes + out->header_len;
    if (out->header_len > NPY_MAX_HEADER_BYTES)
        return err_limit(err, "npy header bytes", NPY_MAX_HEADER_BYTES, out->header_len,
                         8 + lenbytes, 1, __LINE__);
    const uint8_t *text;
    if (cur_take(&c, out->header_len, &text))
        return ERR_CORRUPT(err, 8 + lenbytes,
                           "EOF reading the array header: %" PRIu64 " bytes declared, %zu remain",
                           out->header_len, cur_left(&c));
    size_t hl = (size_t)out->header_len;
    if (memchr(text, 0, hl))
        return ERR_CORRUPT(err, 8 + lenbytes,
                           "the header contains a NUL byte (source code cannot contain null "
                           "bytes)");
    if (out->major == 3) {
        int64_t chars = utf8_chars(text, hl);
        if (chars < 0)
            return ERR_CORRUPT(err, 8 + lenbytes, "a version 3.0 header is not valid UTF-8");
        out->header_chars = (uint64_t)chars;
    } else
        out->header_chars = hl;
    out->header_over_numpy_limit = out->header_chars > NPY_NUMPY_MAX_HEADER;

    hparser p;
    memset(&p, 0, sizeof p);
    p.src = text;
    p.n = hl;
    p.latin1 = out->major < 3;
    p.filter_l = out->major < 3;
    p.base = 8 + lenbytes;
    p.mem = mem;
    p.err = err;
    p.acap = 2 * hl + 8;
    brine_status st = BRINE_OK;
    if (!(p.arena = mem_alloc(mem, p.acap)))
        st = ERR_NOMEM(err);
    uint32_t root = 0;
    if (!st && !(st = new_node(&p, V_NONE, &root))) /* node 0 is "no child" */
        st = parse_header(&p, &root);
    out->py2_long = p.py2_long;
    if (!st)
        st = check_header(&p, root, out);
    mem_free(mem, p.nodes, p.cap_nodes * sizeof *p.nodes);
    mem_free(mem, p.arena, p.arena ? p.acap : 0);
    if (st || out->has_object)
        return st;

    /* a plain array: exactly numel × itemsize bytes, read in C or Fortran order */
    uint64_t numel = 1;
    if (out->ndim > LD_MAX_DIMS)
        return ERR_CORRUPT(err, p.base, "%u dimensions: numpy allows at most %d", out->ndim,
                           LD_MAX_DIMS);
    for (uint32_t k = 0; k < out->ndim; k++) {
        if (out->shape[k] < 0)
            return ERR_CORRUPT(err, p.base, "negative dimension %" PRId64 " in shape",
                               out->shape[k]);
        if (__builtin_mul_overflow(numel, (uint64_t)out->shape[k], &numel) ||
            numel > (uint64_t)INT64_MAX)
            return ERR_CORRUPT(err, p.base, "the element count of the shape overflows int64");
    }
    /* numpy's array constructor multiplies the itemsize by every non-zero dimension and
     * refuses an overflow ("array is too big") even when another dimension is 0 */
    uint64_t span = out->itemsize;
    for (uint32_t k = 0; k < out->ndim; k++)
        if (out->shape[k] && (__builtin_mul_overflow(span, (uint64_t)out->shape[k], &span) ||
                              span > (uint64_t)INT64_MAX))
            return ERR_CORRUPT(err, p.base,
                               "array is too big: itemsize × the non-zero "
                               "dimensions overflow");
    if (__builtin_mul_overflow(numel, out->itemsize, &out->nbytes) ||
        out->nbytes > (uint64_t)INT64_MAX)
        return ERR_CORRUPT(err, p.base,
                           "%" PRIu64 " elements of %" PRIu64 " bytes overflow the array size",
                           numel, out->itemsize);
    out->numel = numel;
    uint64_t body = len - out->data_offset;
    if (body < out->nbytes)
        return ERR_CORRUPT(err, out->data_offset,
                           "array data needs %" PRIu64 " bytes, %" PRIu64 " remain", out->nbytes,
                           body);
    out->trailing = body - out->nbytes;
    return BRINE_OK;
}

brine_status npy_add_tensor(ld_set *s, const char *name, const npy_info *info, const uint8_t *body,
                            uint64_t body_len, brine_error *err)
{
    if (!info->dtype || info->has_object || info->ndim > LD_MAX_DIMS)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "npy array %.200s is not a tensor", name);
    if (body_len < info->nbytes)
        return ERR_CORRUPT(err, info->data_offset,
                           "array data needs %" PRIu64 " bytes, %" PRIu64 " remain", info->nbytes,
                           body_len);
    return ld_add_array(s, name, info->dtype, info->ndim, info->shape, info->fortran,
                        info->big_endian, body, info->nbytes, err);
}

/* ------------------------------------------------------------------ the format */

/* What np.load reads: the header as numpy.lib.format checks it; an object dtype anywhere makes
 * the body a pickle that np.load(allow_pickle=True) unpickles with the stock C unpickler from
 * data_offset (bytes after its STOP are never read); numeric arrays are tensors. A .npz is a
 * zip whose npy members come back here through fmt_file. */
static brine_status npy_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "npy");
    npy_info info;
    brine_error err;
    brine_status st = npy_parse(data, len, fmt_limits(env), fmt_mem(env), &info, &err);
    if (st == BRINE_ERR_NOMEM)
        return st;
    if (st == BRINE_ERR_UNSUPPORTED && !info.has_object)
        return fmt_finding(env, BRINE_UNVERIFIED, "unsupported-format", NULL,
                           err.has_offset ? (int64_t)err.offset : -1,
                           "npy: a header brine does not read (%s); numpy may still load it",
                           err.msg);
    if (st && !(st == BRINE_ERR_UNSUPPORTED && info.has_object))
        return fmt_error_finding(env, NULL, &err, "npy");
    if (info.has_object) {
        if (info.data_offset > len)
            return fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)len,
                               "npy: the object array's pickle starts past the end");
        fmt_pickle p = {NULL, data, len,       (size_t)info.data_offset, 1, PID_NONE, 0,
                        NULL, NULL, FMT_PICKLE};
        pk_graph *g;
        st = fmt_run_pickle(env, &p, &g, NULL);
        fmt_graph_free(env, g);
        return st;
    }
    if (!info.dtype) /* strings, datetimes, structured records: data, not a tensor */
        return BRINE_OK;
    if (info.nbytes > len - info.data_offset)
        return fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)info.data_offset,
                           "npy: the array needs %" PRIu64 " bytes, %" PRIu64 " remain",
                           info.nbytes, (uint64_t)(len - info.data_offset));
    return fmt_array(env, NULL, info.dtype, info.ndim, info.shape, info.fortran, info.big_endian,
                     data + info.data_offset, info.nbytes);
}

const fmt_ops fmt_npy = {"npy", npy_probe, npy_walk, NULL};
