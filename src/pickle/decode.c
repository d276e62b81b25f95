/*
 * decode.c — one opcode and its argument, read the way CPython's two unpicklers (3.11) read
 * it: the C one (Modules/_pickle.c) and the pure-Python one (Lib/pickle.py, used by joblib).
 * Threat model: every byte is hostile. Lengths are checked against the bytes that remain
 * before anything is sliced; text arguments are decoded with CPython's exact rules
 * (strtol-then-int for INT, PyBytes_DecodeEscape for STRING, raw-unicode-escape for UNICODE,
 * UTF-8 "surrogatepass" for BINUNICODE), because a scanner that accepts what the loader
 * rejects, or the reverse, can be steered past. Where the two unpicklers disagree (FLOAT
 * spellings only float() takes, memo indices past ssize_t, NUL bytes that end C strings,
 * empty or unterminated GLOBAL lines) the argument is decoded as the one that accepts it
 * does, and op->rejects names the other.
 */
#include "pickle/decode.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pickle/opcodes.h"

struct pk_blk {
    struct pk_blk *next;
    size_t size;
};

void pk_pool_init(pk_pool *pool, mem_budget *mem)
{
    pool->mem = mem;
    pool->head = NULL;
}

void *pk_pool_alloc(pk_pool *pool, size_t n)
{
    size_t total;
    if (__builtin_add_overflow(n, sizeof(struct pk_blk), &total))
        return NULL;
    struct pk_blk *b = mem_alloc(pool->mem, total);
    if (!b)
        return NULL;
    b->next = pool->head;
    b->size = total;
    pool->head = b;
    return b + 1;
}

void pk_pool_free(pk_pool *pool)
{
    struct pk_blk *b = pool->head;
    while (b) {
        struct pk_blk *next = b->next;
        mem_free(pool->mem, b, b->size);
        b = next;
    }
    pool->head = NULL;
}

/* ------------------------------------------------------------------ text helpers */

static int c_isspace(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static int digit_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A' + 10;
    return 99;
}

/* CPython reads text arguments as C strings: a NUL ends them early. */
static uint64_t c_strlen(const uint8_t *s, uint64_t n)
{
    const uint8_t *z = memchr(s, 0, n);
    return z ? (uint64_t)(z - s) : n;
}

/* Python int(text, base) for base 0 or 10 (PyLong_FromString): whitespace around, a sign,
 * a 0x, 0o or 0b prefix in base 0, single underscores between digits, no leading zeros in base-0
 * decimals, and at most 4300 decimal digits (CPython's int_max_str_digits, CVE-2020-10735).
 * Returns 0 and sets *value and *big on success, -1 when CPython would raise ValueError. */
static int py_int_parse(const uint8_t *s, uint64_t n, int base, int64_t *value, int *big)
{
    uint64_t i = 0;
    while (i < n && c_isspace(s[i]))
        i++;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int prefixed = 0;
    if (base == 0) {
        if (i + 1 < n && s[i] == '0' && (s[i + 1] | 0x20) == 'x')
            base = 16, prefixed = 1;
        else if (i + 1 < n && s[i] == '0' && (s[i + 1] | 0x20) == 'o')
            base = 8, prefixed = 1;
        else if (i + 1 < n && s[i] == '0' && (s[i + 1] | 0x20) == 'b')
            base = 2, prefixed = 1;
        else
            base = -10; /* decimal with the no-leading-zeros rule */
        if (prefixed) {
            i += 2;
            if (i < n && s[i] == '_') /* an underscore may follow the prefix */
                i++;
        }
    }
    int radix = base < 0 ? 10 : base;
    uint64_t acc = 0, ndigits = 0;
    int overflow = 0, nonzero_lead = 0, prev_us = 0;
    uint64_t start = i;
    for (; i < n && !c_isspace(s[i]); i++) {
        if (s[i] == '_') {
            if (prev_us || i == start)
                return -1;
            prev_us = 1;
            continue;
        }
        int d = digit_value(s[i]);
        if (d >= radix)
            return -1;
        if (ndigits == 0)
            nonzero_lead = d != 0;
        else if (base == -10 && !nonzero_lead && d != 0)
            return -1; /* "010" is not a base-0 literal */
        prev_us = 0;
        ndigits++;
        if (!overflow && (__builtin_mul_overflow(acc, (uint64_t)radix, &acc) ||
                          __builtin_add_overflow(acc, (uint64_t)d, &acc)))
            overflow = 1;
    }
    if (ndigits == 0 || prev_us)
        return -1;
    while (i < n && c_isspace(s[i]))
        i++;
    if (i != n)
        return -1;
    if (radix == 10 && ndigits > 4300)
        return -1;
    if (overflow || acc > (uint64_t)INT64_MAX + (uint64_t)neg) {
        *big = 1;
        return 0;
    }
    *big = 0;
    *value = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

/* C's strtol(s, &end, 0) on the NUL-terminated text: returns the number of bytes consumed
 * (0 when nothing converts, as strtol leaves end at s) and sets *overflow on ERANGE. */
static uint64_t c_strtol0(const uint8_t *s, uint64_t n, long *value, int *overflow)
{
    uint64_t i = 0;
    while (i < n && c_isspace(s[i]))
        i++;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int base = 10;
    if (i < n && s[i] == '0') {
        if (i + 2 < n + 1 && i + 1 < n && (s[i + 1] | 0x20) == 'x' && i + 2 < n &&
            digit_value(s[i + 2]) < 16)
            base = 16, i += 2;
        else
            base = 8;
    }
    uint64_t start = i;
    unsigned long acc = 0;
    *overflow = 0;
    for (; i < n && digit_value(s[i]) < base; i++) {
        if (__builtin_mul_overflow(acc, (unsigned long)base, &acc) ||
            __builtin_add_overflow(acc, (unsigned long)digit_value(s[i]), &acc))
            *overflow = 1;
    }
    if (i == start)
        return 0;
    unsigned long lim = neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
    if (acc > lim)
        *overflow = 1;
    *value = *overflow ? 0 : (neg ? (long)(0 - acc) : (long)acc);
    return i;
}

/* PyOS_string_to_double's accepted syntax: [sign] (inf|infinity|nan |
 * digits[.digits][e[sign]digits] | .digits[…]); no leading whitespace, no hex, no underscores.
 * Returns bytes consumed, 0 if none. *magnitude (when not NULL): the value read is below
 * 10^*magnitude (integer digits past leading zeros plus the exponent); INT64_MAX for a word or
 * an exponent of more than 5 digits. */
static uint64_t float_span(const uint8_t *s, uint64_t n, int64_t *magnitude)
{
    int64_t ignored;
    magnitude = magnitude ? magnitude : &ignored;
    *magnitude = INT64_MAX;
    uint64_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    static const char *const words[] = {"infinity", "inf", "nan"};
    for (size_t w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        if (n - i >= wl) {
            size_t k = 0;
            while (k < wl && (s[i + k] | 0x20) == words[w][k])
                k++;
            if (k == wl)
                return i + wl;
        }
    }
    uint64_t digits = 0;
    int64_t whole = 0; /* integer digits past leading zeros */
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        whole += whole || s[i] != '0';
        i++, digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return 0;
    *magnitude = whole;
    if (i < n && (s[i] | 0x20) == 'e') {
        uint64_t j = i + 1;
        int neg = j < n && s[j] == '-';
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        uint64_t e0 = j;
        int64_t e = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9') {
            e = j - e0 < 5 ? e * 10 + (s[j] - '0') : e;
            j++;
        }
        if (j > e0) {
            i = j;
            *magnitude = j - e0 > 5 ? INT64_MAX : neg ? whole - e : whole + e;
        }
    }
    return i;
}

double pk_float_line(const uint8_t *line)
{
    char buf[PK_FLOAT_LINE_MAX + 1];
    size_t n = 0;
    while (n < PK_FLOAT_LINE_MAX && line[n] != '\n') {
        buf[n] = (char)line[n];
        n++;
    }
    buf[n] = '\0';
    return strtod(buf, NULL);
}

/* Python's float() on the bytes of a FLOAT line (pickle.py load_float): ASCII whitespace
 * around, single underscores between digits, the same words as C, no NUL byte; a value too
 * large gives inf instead of OverflowError. Returns 0 and sets *out, -1 when float() raises. */
static int py_float_parse(const uint8_t *s, uint64_t n, pk_pool *pool, double *out)
{
    if (memchr(s, 0, n))
        return -1;
    while (n && c_isspace(s[0]))
        s++, n--;
    while (n && c_isspace(s[n - 1]))
        n--;
    if (!n)
        return -1;
    char local[128];
    char *buf = local;
    if (n >= sizeof local && !(buf = pk_pool_alloc(pool, n + 1)))
        return -1;
    uint64_t o = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (s[i] == '_') { /* _Py_string_to_number_with_underscores: only between digits */
            if (i == 0 || i + 1 == n || s[i - 1] < '0' || s[i - 1] > '9' || s[i + 1] < '0' ||
                s[i + 1] > '9')
                return -1;
            continue;
        }
        buf[o++] = (char)s[i];
    }
    if (float_span((const uint8_t *)buf, o, NULL) != o)
        return -1;
    buf[o] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

/* The canonical decimal digits of a memo index int() accepted (no sign, whitespace,
 * underscores or leading zeros): pickle.py's memo is a dict keyed by the int value. */
static const uint8_t *canon_digits(const uint8_t *s, uint64_t n, pk_pool *pool, uint64_t *len)
{
    uint8_t *d = pk_pool_alloc(pool, n ? n : 1);
    if (!d)
        return NULL;
    uint64_t o = 0;
    for (uint64_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9' && (o || s[i] != '0'))
            d[o++] = s[i];
    if (!o)
        d[o++] = '0';
    *len = o;
    return d;
}

int pk_utf8_valid(const uint8_t *s, uint64_t n, int allow_surrogates)
{
    uint64_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint64_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 3, cp = c & 0x07;
        else
            return 0;
        if (need > n - i - 1)
            return 0;
        for (uint64_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        if (!allow_surrogates && cp >= 0xD800 && cp <= 0xDFFF)
            return 0;
        i += need + 1;
    }
    return 1;
}

static size_t put_utf8(uint8_t *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ------------------------------------------------------------------ argument readers */

#define TRUNCATED(what, need)                                                                  \
    ERR_CORRUPT(err, op->offset, "%s needs %llu bytes, %llu remain", (what),                   \
                (unsigned long long)(need), (unsigned long long)cur_left(c))

static brine_status read_line(cursor *c, pk_op *op, const uint8_t **s, uint64_t *n,
                              brine_error *err)
{
    size_t len;
    if (cur_line(c, s, &len) != 0)
        return ERR_CORRUPT(err, op->offset, "%s argument has no terminating newline",
                           pk_opcodes[op->code].name);
    *n = len;
    return BRINE_OK;
}

/* pickle.py's readline() at the end of the input returns what is left without a newline,
 * and load_global / load_inst cut its last byte ([:-1]) and call find_class anyway: the C
 * unpickler reports truncated data first. Only the name lines matter (EOF follows). */
static void read_line_at_eof(cursor *c, pk_op *op, const uint8_t **s, uint64_t *n)
{
    size_t left = cur_left(c);
    *s = c->p;
    *n = left ? left - 1 : 0;
    c->p = c->end;
    op->rejects = PK_UNPICKLER_C;
    op->reject_why = "the name line has no newline at the end of the input: _pickle.c raises "
                     "'pickle data was truncated', pickle.py cuts its last byte and imports it";
}

static brine_status read_counted(cursor *c, pk_op *op, unsigned width, int is_signed,
                                 const brine_limits *lim, brine_error *err)
{
    const uint8_t *b;
    if (cur_take(c, width, &b) != 0)
        return TRUNCATED("length field", width);
    op->mid = cur_pos(c);
    uint64_t n;
    if (width == 1)
        n = b[0];
    else if (width == 4)
        n = is_signed ? (uint64_t)(int64_t)(int32_t)ld_le32(b) : ld_le32(b);
    else
        n = ld_le64(b);
    if (is_signed && (int64_t)n < 0)
        return ERR_CORRUPT(err, op->offset, "%s has negative byte count %lld",
                           pk_opcodes[op->code].name, (long long)(int64_t)n);
    if (n > (uint64_t)INT64_MAX)
        return ERR_CORRUPT(err, op->offset, "%s length %llu exceeds the maximum size",
                           pk_opcodes[op->code].name, (unsigned long long)n);
    if (n > lim->max_string)
        return err_limit(err, "max_string", lim->max_string, n, op->offset, 1, __LINE__);
    if (cur_take(c, n, &op->s) != 0)
        return TRUNCATED(pk_opcodes[op->code].name, n);
    op->slen = n;
    return BRINE_OK;
}

/* PyBytes_DecodeEscape, as applied to STRING after the quotes are removed. */
static brine_status decode_escapes(pk_op *op, const uint8_t *s, uint64_t n, pk_pool *pool,
                                   brine_error *err)
{
    if (!memchr(s, '\\', n)) {
        op->s = s;
        op->slen = n;
        return BRINE_OK;
    }
    uint8_t *out = pk_pool_alloc(pool, n ? n : 1);
    if (!out)
        return ERR_NOMEM(err);
    uint64_t o = 0;
    for (uint64_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        i++;
        if (i == n)
            return ERR_CORRUPT(err, op->offset, "STRING ends with a lone backslash");
        uint8_t e = s[i++];
        switch (e) {
        case '\n': break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 't': out[o++] = '\t'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 'v': out[o++] = '\v'; break;
        case 'a': out[o++] = '\a'; break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
            unsigned v = (unsigned)(e - '0');
            for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
                v = v * 8 + (unsigned)(s[i++] - '0');
            out[o++] = (uint8_t)v;
            break;
        }
        case 'x':
            if (n - i < 2 || digit_value(s[i]) > 15 || digit_value(s[i + 1]) > 15)
                return ERR_CORRUPT(err, op->offset, "STRING has an invalid \\x escape");
            out[o++] = (uint8_t)(digit_value(s[i]) * 16 + digit_value(s[i + 1]));
            i += 2;
            break;
        default: /* unknown escapes keep their backslash */
            out[o++] = '\\';
            i--;
            break;
        }
    }
    op->s = out;
    op->slen = o;
    return BRINE_OK;
}

/* raw-unicode-escape (UNICODE opcode): bytes are Latin-1 code points, \uXXXX and \UXXXXXXXX
 * are escapes, a backslash before anything else is literal and keeps that character. */
static brine_status decode_raw_unicode(pk_op *op, const uint8_t *s, uint64_t n, pk_pool *pool,
                                       brine_error *err)
{
    uint64_t cap;
    if (__builtin_mul_overflow(n, (uint64_t)2, &cap))
        return ERR_NOMEM(err);
    uint8_t *out = pk_pool_alloc(pool, cap ? cap : 1);
    if (!out)
        return ERR_NOMEM(err);
    uint64_t o = 0;
    for (uint64_t i = 0; i < n;) {
        uint8_t ch = s[i++];
        if (ch != '\\' || i == n || (s[i] != 'u' && s[i] != 'U')) {
            o += put_utf8(out + o, ch);
            if (ch == '\\' && i < n)
                o += put_utf8(out + o, s[i++]);
            continue;
        }
        unsigned count = s[i++] == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (unsigned k = 0; k < count; k++, i++) {
            if (i >= n || digit_value(s[i]) > 15)
                return ERR_CORRUPT(err, op->offset, "UNICODE has a truncated \\%c escape",
                                   count == 4 ? 'u' : 'U');
            cp = (cp << 4) | (uint32_t)digit_value(s[i]);
        }
        if (cp > 0x10FFFF)
            return ERR_CORRUPT(err, op->offset, "UNICODE escape \\U%08x is out of range", cp);
        /* \u escapes are at most 6 input bytes and produce at most 4 output bytes */
        o += put_utf8(out + o, cp);
    }
    op->s = out;
    op->slen = o;
    return BRINE_OK;
}

static void set_int(pk_op *op, int64_t v)
{
    op->vk = PV_INT;
    op->i = v;
}

/* LONG1/LONG4 payloads that fit in int64 become PV_INT, others stay as bytes. */
static void set_le_long(pk_op *op)
{
    if (op->slen == 0) {
        set_int(op, 0);
        return;
    }
    if (op->slen <= 8) {
        uint64_t v = 0;
        for (uint64_t k = 0; k < op->slen; k++)
            v |= (uint64_t)op->s[k] << (8 * k);
        if (op->slen < 8 && (op->s[op->slen - 1] & 0x80))
            v |= ~(uint64_t)0 << (8 * op->slen);
        set_int(op, (int64_t)v);
        return;
    }
    op->vk = PV_BIGINT_LE;
}

/* int(text, 0) for INT (after strtol gave up) and LONG: int64 when it fits, else the text. */
static brine_status set_text_int(pk_op *op, const uint8_t *s, uint64_t n, const char *what,
                                 brine_error *err)
{
    int big = 0;
    int64_t iv = 0;
    if (py_int_parse(s, n, 0, &iv, &big) != 0)
        return ERR_CORRUPT(err, op->offset, "%s argument is not an integer", what);
    if (big) {
        op->vk = PV_BIGINT_TEXT;
        op->s = s;
        op->slen = n;
    } else {
        set_int(op, iv);
    }
    return BRINE_OK;
}

brine_status pk_decode(cursor *c, pk_op *op, pk_pool *pool, const brine_limits *lim,
                       brine_error *err)
{
    /* copied from a zeroed constant: gcc turns a memset (or a compound literal) of this size
     * into `rep stos`, whose start-up cost was ~40% of decoding a raw pickle */
    static const pk_op blank;
    *op = blank;
    op->offset = cur_pos(c);
    const uint8_t *b;
    if (cur_take(c, 1, &b) != 0)
        return ERR_CORRUPT(err, op->offset, "ran out of input: expected an opcode");
    op->code = b[0];
    const pk_opinfo *info = &pk_opcodes[op->code];
    if (!info->name)
        return ERR_CORRUPT(err, op->offset, "invalid opcode 0x%02x", op->code);

    brine_status st = BRINE_OK;
    const uint8_t *s;
    uint64_t n;
    switch (op->code) {
    case OPC_INT: {
        if ((st = read_line(c, op, &s, &n, err)))
            break;
        if (n == 0) {
            st = ERR_CORRUPT(err, op->offset, "INT argument is empty");
            break;
        }
        /* _pickle.c load_int: strtol(s, &end, 0) first; on overflow or trailing text, int(s, 0) */
        uint64_t z = c_strlen(s, n);
        long v = 0;
        int overflow = 0;
        uint64_t used = c_strtol0(s, z, &v, &overflow);
        if (!overflow && used == z) {
            if (n == 2 && (v == 0 || v == 1)) {
                op->vk = PV_BOOL;
                op->i = v;
            } else {
                set_int(op, v);
            }
        } else if ((st = set_text_int(op, s, z, "INT", err))) {
            break;
        }
        /* pickle.py: "00"/"01" are bools, anything else is int(line, 0), which refuses
         * C's octal "010" and any NUL byte (strtol stops there) */
        int big = 0;
        int64_t iv = 0;
        if (!(n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) &&
            (z != n || py_int_parse(s, n, 0, &iv, &big) != 0)) {
            op->rejects = PK_UNPICKLER_PY;
            op->reject_why = "INT argument: _pickle.c's strtol takes it, pickle.py's int(x, 0) "
                             "raises ValueError";
        }
        break;
    }
    case OPC_LONG: {
        if ((st = read_line(c, op, &s, &n, err)))
            break;
        if (n == 0) {
            st = ERR_CORRUPT(err, op->offset, "LONG argument is empty");
            break;
        }
        if (s[n - 1] == 'L') /* Python 2 longs end in L */
            n--;
        st = set_text_int(op, s, c_strlen(s, n), "LONG", err);
        if (!st && c_strlen(s, n) != n) {
            op->rejects = PK_UNPICKLER_PY;
            op->reject_why = "LONG argument has a NUL byte: _pickle.c reads up to it, "
                             "pickle.py's int() raises";
        }
        break;
    }
    case OPC_GET:
    case OPC_PUT: {
        if ((st = read_line(c, op, &s, &n, err)))
            break;
        int big = 0;
        int64_t iv = 0;
        uint64_t z = c_strlen(s, n);
        if (n == 0 || py_int_parse(s, z, 10, &iv, &big) != 0) {
            st = ERR_CORRUPT(err, op->offset, "%s argument is not a memo index", info->name);
            break;
        }
        int negative = big ? memchr(s, '-', z) != NULL : iv < 0;
        if (negative && (op->code == OPC_PUT || big)) { /* no memo key is ever negative */
            st = ERR_CORRUPT(err, op->offset, "negative %s argument", info->name);
            break;
        }
        if (big) {
            /* past ssize_t: _pickle.c raises OverflowError, pickle.py's dict memo takes it */
            if (z != n) {
                st = ERR_CORRUPT(err, op->offset, "%s argument is not a memo index", info->name);
                break;
            }
            op->vk = PV_BIGINT_TEXT;
            if (!(op->s = canon_digits(s, n, pool, &op->slen))) {
                st = ERR_NOMEM(err);
                break;
            }
            op->rejects = PK_UNPICKLER_C;
            op->reject_why = "memo index past ssize_t: _pickle.c raises OverflowError, "
                             "pickle.py's dict memo takes it";
            break;
        }
        set_int(op, iv);
        if (z != n) {
            op->rejects = PK_UNPICKLER_PY;
            op->reject_why = "memo index has a NUL byte: _pickle.c reads up to it, pickle.py's "
                             "int() raises";
        }
        break;
    }
    case OPC_FLOAT: {
        if ((st = read_line(c, op, &s, &n, err)))
            break;
        uint64_t z = c_strlen(s, n);
        int64_t magnitude;
        uint64_t span = float_span(s, z, &magnitude);
        double pyd = 0;
        /* a line that is all float syntax (no NUL, space or underscore) reads the same in
         * Python's float() as in strtod below: parsed once (protocol 0 writes every float so) */
        int py_ok = (span && span == n) || py_float_parse(s, n, pool, &pyd) == 0;
        if (span == 0 || span != z) {
            /* PyOS_string_to_double refuses it; Python's float() may not (underscores,
             * whitespace around) */
            if (!py_ok) {
                st = ERR_CORRUPT(err, op->offset, "FLOAT argument is not a float");
                break;
            }
            op->vk = PV_FLOAT;
            op->d = pyd;
            op->rejects = PK_UNPICKLER_C;
            op->reject_why = "FLOAT argument: pickle.py's float() takes it, _pickle.c's "
                             "PyOS_string_to_double raises ValueError";
            break;
        }
        if (span == n && n <= PK_FLOAT_LINE_MAX && magnitude <= 308) {
            /* below 10^308, so below DBL_MAX: strtod cannot overflow on it, and it is parsed
             * when read (a scan reads few floats, and strtod on the 17 digits protocol 0
             * writes was a tenth of a folder scan) */
            op->vk = PV_FLOAT_TEXT;
            op->s = s;
            op->slen = n;
            break;
        }
        char local[128];
        char *buf = local;
        if (span >= sizeof local) {
            buf = pk_pool_alloc(pool, span + 1);
            if (!buf) {
                st = ERR_NOMEM(err);
                break;
            }
        }
        memcpy(buf, s, span);
        buf[span] = '\0';
        errno = 0;
        double d = strtod(buf, NULL);
        op->vk = PV_FLOAT;
        op->d = d;
        if (errno == ERANGE && isinf(d)) {
            if (!py_ok) {
                st = ERR_CORRUPT(err, op->offset, "FLOAT argument overflows a double");
                break;
            }
            op->rejects = PK_UNPICKLER_C;
            op->reject_why = "FLOAT argument overflows a double: _pickle.c raises "
                             "OverflowError, pickle.py's float() gives inf";
        } else if (!py_ok) {
            op->rejects = PK_UNPICKLER_PY;
            op->reject_why = "FLOAT argument has a NUL byte: _pickle.c reads up to it, "
                             "pickle.py's float() raises";
        }
        break;
    }
    case OPC_STRING: {
        if ((st = read_line(c, op, &s, &n, err)))
            break;
        if (n < 2 || s[0] != s[n - 1] || (s[0] != '\'' && s[0] != '"')) {
            st = ERR_CORRUPT(err, op->offset, "the STRING opcode argument must be quoted");
            break;
        }
        if (n - 2 > lim->max_string) {
            st = err_limit(err, "max_string", lim->max_string, n - 2, op->offset, 1, __LINE__);
            break;
        }
        op->vk = PV_BYTES;
        st = decode_escapes(op, s + 1, n - 2, pool, err);
        break;
    }
    case OPC_UNICODE:
        if ((st = read_line(c, op, &s, &n, err)))
            break;
        if (n > lim->max_string) {
            st = err_limit(err, "max_string", lim->max_string, n, op->offset, 1, __LINE__);
            break;
        }
        op->vk = PV_STR;
        st = decode_raw_unicode(op, s, n, pool, err);
        break;
    case OPC_PERSID:
        if ((st = read_line(c, op, &s, &n, err)))
            break;
        for (uint64_t k = 0; k < n; k++)
            if (s[k] & 0x80) {
                st = ERR_CORRUPT(err, op->offset, "persistent IDs in protocol 0 must be ASCII");
                break;
            }
        op->vk = PV_STR;
        op->s = s;
        op->slen = n;
        break;
    case OPC_GLOBAL:
    case OPC_INST: {
        const uint8_t *s2;
        uint64_t n2;
        size_t line_len;
        if (cur_line(c, &s, &line_len) != 0) {
            read_line_at_eof(c, op, &s, &n);
            s2 = s; /* the second readline() returns b'' */
            n2 = 0;
        } else {
            n = line_len;
            op->mid = cur_pos(c);
            if (cur_line(c, &s2, &line_len) != 0)
                read_line_at_eof(c, op, &s2, &n2);
            else
                n2 = line_len;
        }
        if ((n == 0 || n2 == 0) && !op->rejects) {
            /* _pickle.c: "pickle data was truncated"; pickle.py calls find_class('', …) */
            op->rejects = PK_UNPICKLER_C;
            op->reject_why = "empty module or name: _pickle.c raises, pickle.py calls "
                             "find_class with it";
        }
        /* load_global decodes UTF-8 strictly, load_inst ASCII */
        int ok = 1;
        if (op->code == OPC_GLOBAL) {
            ok = pk_utf8_valid(s, n, 0) && pk_utf8_valid(s2, n2, 0);
        } else {
            for (uint64_t k = 0; k < n; k++)
                ok &= !(s[k] & 0x80);
            for (uint64_t k = 0; k < n2; k++)
                ok &= !(s2[k] & 0x80);
        }
        if (!ok) {
            st = ERR_CORRUPT(err, op->offset, "%s module or name is not valid %s", info->name,
                             op->code == OPC_GLOBAL ? "UTF-8" : "ASCII");
            break;
        }
        op->vk = PV_PAIR;
        op->s = s;
        op->slen = n;
        op->s2 = s2;
        op->s2len = n2;
        break;
    }
    case OPC_FRAME:
        if (cur_take(c, 8, &b) != 0) {
            st = TRUNCATED("FRAME", 8);
            break;
        }
        if (ld_le64(b) > (uint64_t)INT64_MAX) {
            st = ERR_CORRUPT(err, op->offset, "FRAME length exceeds the maximum size");
            break;
        }
        /* a frame longer than the input: _pickle.c refuses it, pickle.py (and joblib, which
         * uses it) reads on — the machine reads on and the scan reports it */
        set_int(op, (int64_t)ld_le64(b));
        break;
    case OPC_BINFLOAT:
        if (cur_take(c, 8, &b) != 0) {
            st = TRUNCATED("BINFLOAT", 8);
            break;
        }
        {
            uint64_t bits = ld_be64(b); /* the one big-endian field of the format */
            memcpy(&op->d, &bits, sizeof bits);
        }
        op->vk = PV_FLOAT;
        break;
    case OPC_LONG1:
    case OPC_LONG4:
        if ((st = read_counted(c, op, op->code == OPC_LONG1 ? 1 : 4, 1, lim, err)))
            break;
        set_le_long(op);
        break;
    case OPC_SHORT_BINSTRING:
    case OPC_SHORT_BINBYTES:
    case OPC_SHORT_BINUNICODE:
        st = read_counted(c, op, 1, 0, lim, err);
        break;
    case OPC_BINSTRING:
    case OPC_BINBYTES:
    case OPC_BINUNICODE:
        st = read_counted(c, op, 4, 0, lim, err);
        break;
    case OPC_BINBYTES8:
    case OPC_BINUNICODE8:
    case OPC_BYTEARRAY8:
        st = read_counted(c, op, 8, 0, lim, err);
        break;
    default: {
        /* fixed-width integers, by the argument kind pickletools gives them */
        unsigned width = info->arg == ARG_UINT1 ? 1 : info->arg == ARG_UINT2 ? 2
                       : info->arg == ARG_INT4 || info->arg == ARG_UINT4 ? 4 : 0;
        if (!width)
            break;
        if (cur_take(c, width, &b) != 0) {
            st = TRUNCATED(info->name, width);
            break;
        }
        set_int(op, width == 1   ? b[0]
                    : width == 2 ? ld_le16(b)
                    : info->arg == ARG_INT4 ? (int32_t)ld_le32(b) : (int64_t)ld_le32(b));
        break;
    }
    }
    if (st)
        return st;
    if (op->code == OPC_BINSTRING && op->slen > (uint64_t)INT32_MAX) {
        op->rejects = PK_UNPICKLER_PY; /* pickle.py unpacks the length as signed '<i' */
        op->reject_why = "BINSTRING length past 2^31: pickle.py reads it as negative and raises";
    }
    switch (op->code) {
    case OPC_SHORT_BINSTRING: case OPC_BINSTRING: case OPC_SHORT_BINBYTES: case OPC_BINBYTES:
    case OPC_BINBYTES8: case OPC_BYTEARRAY8:
        op->vk = PV_BYTES;
        break;
    case OPC_SHORT_BINUNICODE: case OPC_BINUNICODE: case OPC_BINUNICODE8:
        if (!pk_utf8_valid(op->s, op->slen, 1))
            return ERR_CORRUPT(err, op->offset, "%s is not valid UTF-8", info->name);
        op->vk = PV_STR;
        break;
    case OPC_PROTO:
        if (op->i > 5)
            return ERR_CORRUPT(err, op->offset, "unsupported pickle protocol: %lld",
                               (long long)op->i);
        break;
    case OPC_EXT1: case OPC_EXT2: case OPC_EXT4:
        if (op->i <= 0)
            return ERR_CORRUPT(err, op->offset, "EXT specifies code <= 0");
        break;
    default:
        break;
    }
    op->end = cur_pos(c);
    return BRINE_OK;
}
