/*
 * json_check.h — a strict RFC 8259 validator for brine's JSON output, used by the fuzz targets.
 *
 * jansson cannot serve as the oracle on its own: it refuses integers beyond 64 bits, which
 * brine's contract allows ("a JSON integer, exact, any size"). This checker accepts any number
 * the grammar allows and rejects everything else: bad escapes, raw control characters, invalid
 * or overlong UTF-8, encoded surrogates, trailing bytes, unbalanced brackets. Iterative, so
 * the nesting it can check is bounded by JSONC_MAX_DEPTH, not by the C stack.
 */
#ifndef BRINE_FUZZ_JSON_CHECK_H
#define BRINE_FUZZ_JSON_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define JSONC_MAX_DEPTH 100000

typedef struct jsonc {
    const unsigned char *p, *end;
    const char *why; /* first error */
    size_t at;       /* its offset */
} jsonc;

static inline int jsonc_fail(jsonc *j, const unsigned char *start, const char *why)
{
    if (!j->why) {
        j->why = why;
        j->at = (size_t)(j->p - start);
    }
    return -1;
}

static inline void jsonc_ws(jsonc *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* One UTF-8 sequence starting at j->p (>= 0x80); 0 on success. */
static inline int jsonc_utf8(jsonc *j)
{
    const unsigned char *p = j->p;
    size_t left = (size_t)(j->end - p);
    uint32_t cp;
    size_t n;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
        cp = p[0] & 0x1Fu;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        cp = p[0] & 0x0Fu;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        cp = p[0] & 0x07u;
    } else {
        return -1;
    }
    if (left < n)
        return -1;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    j->p += n;
    return 0;
}

static inline int jsonc_hex4(const unsigned char *p)
{
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return -1;
    }
    return 0;
}

static inline int jsonc_string(jsonc *j, const unsigned char *start)
{
    j->p++; /* opening quote */
    while (j->p < j->end) {
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            return 0;
        }
        if (c < 0x20)
            return jsonc_fail(j, start, "raw control character in a string");
        if (c == '\\') {
            if (j->end - j->p < 2)
                return jsonc_fail(j, start, "truncated escape");
            unsigned char e = j->p[1];
            if (e == 'u') {
                if (j->end - j->p < 6 || jsonc_hex4(j->p + 2))
                    return jsonc_fail(j, start, "bad \\u escape");
                j->p += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                j->p += 2;
            } else {
                return jsonc_fail(j, start, "unknown escape");
            }
            continue;
        }
        if (c >= 0x80) {
            if (jsonc_utf8(j))
                return jsonc_fail(j, start, "invalid UTF-8 in a string");
            continue;
        }
        j->p++;
    }
    return jsonc_fail(j, start, "unterminated string");
}

static inline int jsonc_digits(jsonc *j)
{
    const unsigned char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s ? 0 : -1;
}

static inline int jsonc_number(jsonc *j, const unsigned char *start)
{
    if (*j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (jsonc_digits(j))
        return jsonc_fail(j, start, "bad number");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (jsonc_digits(j))
            return jsonc_fail(j, start, "bad fraction");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (jsonc_digits(j))
            return jsonc_fail(j, start, "bad exponent");
    }
    return 0;
}

static inline int jsonc_word(jsonc *j, const unsigned char *start, const char *w, size_t n)
{
    if ((size_t)(j->end - j->p) < n)
        return jsonc_fail(j, start, "bad literal");
    for (size_t i = 0; i < n; i++)
        if (j->p[i] != (unsigned char)w[i])
            return jsonc_fail(j, start, "bad literal");
    j->p += n;
    return 0;
}

/* NULL when buf[0..len) is exactly one JSON value (with optional whitespace around it);
 * otherwise a description of the first error, with *at its offset. */
static inline const char *json_check(const char *buf, size_t len, size_t *at)
{
    static char stack[JSONC_MAX_DEPTH]; /* '{' or '[' per open container */
    const unsigned char *start = (const unsigned char *)buf;
    jsonc j = {start, start + len, NULL, 0};
    size_t depth = 0;
    enum { VALUE, AFTER_VALUE, KEY } want = VALUE;
    jsonc_ws(&j);
    for (;;) {
        if (want == VALUE) {
            if (j.p >= j.end) {
                jsonc_fail(&j, start, "expected a value");
                break;
            }
            unsigned char c = *j.p;
            if (c == '{' || c == '[') {
                if (depth == JSONC_MAX_DEPTH) {
                    jsonc_fail(&j, start, "nested too deep");
                    break;
                }
                stack[depth++] = (char)c;
                j.p++;
                jsonc_ws(&j);
                if (j.p < j.end && *j.p == (c == '{' ? '}' : ']')) {
                    depth--;
                    j.p++;
                    want = AFTER_VALUE;
                } else {
                    want = c == '{' ? KEY : VALUE;
                }
                continue;
            }
            int r;
            if (c == '"')
                r = jsonc_string(&j, start);
            else if (c == '-' || (c >= '0' && c <= '9'))
                r = jsonc_number(&j, start);
            else if (c == 't')
                r = jsonc_word(&j, start, "true", 4);
            else if (c == 'f')
                r = jsonc_word(&j, start, "false", 5);
            else if (c == 'n')
                r = jsonc_word(&j, start, "null", 4);
            else
                r = jsonc_fail(&j, start, "unexpected character");
            if (r)
                break;
            want = AFTER_VALUE;
        } else if (want == KEY) {
            jsonc_ws(&j);
            if (j.p >= j.end || *j.p != '"') {
                jsonc_fail(&j, start, "expected a key");
                break;
            }
            if (jsonc_string(&j, start))
                break;
            jsonc_ws(&j);
            if (j.p >= j.end || *j.p != ':') {
                jsonc_fail(&j, start, "expected ':'");
                break;
            }
            j.p++;
            jsonc_ws(&j);
            want = VALUE;
        } else {
            jsonc_ws(&j);
            if (depth == 0) {
                if (j.p != j.end)
                    jsonc_fail(&j, start, "bytes after the document");
                break;
            }
            if (j.p >= j.end) {
                jsonc_fail(&j, start, "unterminated container");
                break;
            }
            char open = stack[depth - 1];
            if (*j.p == ',') {
                j.p++;
                jsonc_ws(&j);
                want = open == '{' ? KEY : VALUE;
            } else if (*j.p == (open == '{' ? '}' : ']')) {
                j.p++;
                depth--;
            } else {
                jsonc_fail(&j, start, "expected ',' or a closing bracket");
                break;
            }
        }
    }
    if (at)
        *at = j.at;
    return j.why;
}

#endif
