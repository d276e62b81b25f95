/*
 * escape.c — getting attacker-chosen strings out safely.
 *
 * Everything a report prints about a file came from that file or its name: a global in a
 * pickle is arbitrary bytes, and so is a file name. Two sinks, two rules:
 *  - JSON must be valid UTF-8 (RFC 8259 §8.1; jansson refuses anything else), so invalid
 *    bytes become U+FFFD. Control characters are escaped by jansson itself.
 *  - A terminal obeys escape sequences, so text output escapes C0 and C1 controls, DEL,
 *    invalid UTF-8, and the Unicode bidirectional controls that reorder a line as displayed
 *    (CVE-2021-42574, "Trojan Source").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

size_t rep_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1fu, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0; /* continuation byte, overlong lead (C0, C1) or beyond U+10FFFF (F5..FF) */
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

json_t *rep_jstr(const char *s)
{
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = rep_utf8_next(u + i, n - i, &cp);
        if (k == 0) {
            bad++;
            k = 1;
        }
        i += k;
    }
    if (!bad)
        return json_stringn(s, n);
    /* each bad byte (1 byte) becomes U+FFFD (3 bytes); n + 2 * bad cannot overflow since
     * both count bytes of one string in memory, but check rather than reason */
    size_t out_len;
    if (__builtin_mul_overflow(bad, (size_t)2, &out_len) ||
        __builtin_add_overflow(out_len, n, &out_len))
        return NULL;
    char *buf = malloc(out_len ? out_len : 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = rep_utf8_next(u + i, n - i, &cp);
        if (k == 0) {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

/* Code points a terminal must not receive raw. */
static int needs_escape(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || /* C0, DEL, C1 */
           cp == 0x061c || cp == 0x200e || cp == 0x200f ||          /* ALM, LRM, RLM */
           (cp >= 0x202a && cp <= 0x202e) ||                        /* LRE..RLO */
           (cp >= 0x2066 && cp <= 0x2069) ||                        /* LRI..PDI */
           cp == 0x2028 || cp == 0x2029;                            /* line/para separators */
}

brine_status rep_text_escaped(brine_report *r, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), run = 0; /* run: bytes since the last escape, written in one go */
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = rep_utf8_next(u + i, n - i, &cp);
        char esc[16];
        int e = 0;
        if (k == 0) {
            e = snprintf(esc, sizeof esc, "\\x%02x", u[i]);
            k = 1;
        } else if (needs_escape(cp)) {
            e = cp < 0x80 ? snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp)
                          : snprintf(esc, sizeof esc, "\\u{%04x}", (unsigned)cp);
        }
        if (e > 0) {
            brine_status st = rep_write(r, u + i - run, run);
            if (!st)
                st = rep_write(r, esc, (size_t)e);
            if (st)
                return st;
            run = 0;
        } else {
            run += k;
        }
        i += k;
    }
    return rep_write(r, u + n - run, run);
}
