/*
 * cursor.h — the bounded cursor every parser reads through.
 *
 * Reads test `n > end - p`, never form `p + n` first, so a length read from the file can never
 * move a pointer outside the buffer. Multi-byte fields only through the little-endian loaders.
 */
#ifndef BRINE_CORE_CURSOR_H
#define BRINE_CORE_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cursor {
    const uint8_t *base; /* start of the buffer: offsets are relative to it */
    const uint8_t *p;    /* next byte to read */
    const uint8_t *end;  /* one past the last readable byte */
} cursor;

static inline void cur_init(cursor *c, const uint8_t *data, size_t len)
{
    static const uint8_t none[1];
    if (!data) /* NULL + 0 is undefined behaviour; an empty input reads from a real empty span */
        data = none, len = 0;
    c->base = data;
    c->p = data;
    c->end = data + len;
}

static inline size_t cur_left(const cursor *c) { return (size_t)(c->end - c->p); }
static inline uint64_t cur_pos(const cursor *c) { return (uint64_t)(c->p - c->base); }

/* Points *out at the next n bytes and advances; -1 (cursor unchanged) if fewer remain. */
static inline int cur_take(cursor *c, uint64_t n, const uint8_t **out)
{
    if (n > (uint64_t)(c->end - c->p))
        return -1;
    *out = c->p;
    c->p += n;
    return 0;
}

static inline uint16_t ld_le16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }
static inline uint32_t ld_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}
static inline uint64_t ld_le64(const uint8_t *b)
{
    return (uint64_t)ld_le32(b) | ((uint64_t)ld_le32(b + 4) << 32);
}
static inline uint64_t ld_be64(const uint8_t *b)
{
    return ((uint64_t)b[0] << 56) | ((uint64_t)b[1] << 48) | ((uint64_t)b[2] << 40) |
           ((uint64_t)b[3] << 32) | ((uint64_t)b[4] << 24) | ((uint64_t)b[5] << 16) |
           ((uint64_t)b[6] << 8) | (uint64_t)b[7];
}

/* A line ending in '\n': *out/len exclude the newline; -1 if no newline remains. */
static inline int cur_line(cursor *c, const uint8_t **out, size_t *len)
{
    const uint8_t *nl = memchr(c->p, '\n', cur_left(c));
    if (!nl)
        return -1;
    *out = c->p;
    *len = (size_t)(nl - c->p);
    c->p = nl + 1;
    return 0;
}

#endif
