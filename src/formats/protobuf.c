/*
 * protobuf.c — the bounded wire-format reader (protobuf.h says why it is hand-written).
 * Every length is compared with the bytes left in the enclosing message before a slice is
 * formed, so a nested length can never reach past its parent.
 */
#include "formats/protobuf.h"

void pb_init(pb_msg *m, const uint8_t *data, size_t len, uint64_t at)
{
    static const uint8_t none[1];
    if (!data)
        data = none, len = 0;
    m->p = data;
    m->end = data + len;
    m->at = at;
    m->why = NULL;
    m->why_at = at;
}

void pb_sub(pb_msg *m, const pb_field *f) { pb_init(m, f->data, f->len, f->at); }

int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*p == end)
            return -1;
        uint8_t b = *(*p)++;
        if (i == 9 && b > 1) /* the tenth byte holds bit 63 only */
            return -1;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

static int bad(pb_msg *m, const uint8_t *where, const char *why)
{
    m->why = why;
    m->why_at = m->at + (uint64_t)(where - m->p);
    return -1;
}

int pb_next(pb_msg *m, pb_field *f)
{
    if (m->p == m->end)
        return 0;
    const uint8_t *q = m->p;
    uint64_t key;
    if (pb_varint(&q, m->end, &key))
        return bad(m, m->p, "a field key runs past its message or over 10 bytes");
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return bad(m, m->p, "field number 0 or above 2^29-1");
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    f->data = NULL;
    f->len = 0;
    f->v = 0;
    switch (f->wire) {
    case PB_VARINT:
        if (pb_varint(&q, m->end, &f->v))
            return bad(m, m->p, "a varint runs past its message or over 10 bytes");
        break;
    case PB_FIXED64:
    case PB_FIXED32: {
        size_t n = f->wire == PB_FIXED64 ? 8 : 4;
        if ((size_t)(m->end - q) < n)
            return bad(m, m->p, "a fixed-width field runs past its message");
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)q[i] << (8 * i);
        f->data = q;
        f->len = n;
        q += n;
        break;
    }
    case PB_LEN: {
        uint64_t n;
        if (pb_varint(&q, m->end, &n))
            return bad(m, m->p, "a length runs past its message or over 10 bytes");
        if (n > (uint64_t)(m->end - q))
            return bad(m, m->p, "a length-delimited field runs past its message");
        f->data = q;
        f->len = (size_t)n;
        q += n;
        break;
    }
    default:
        return bad(m, m->p,
                   "wire type 3, 4, 6 or 7 (groups are not written by any model "
                   "writer; 6 and 7 do not exist)");
    }
    f->at = m->at + (uint64_t)((f->data ? f->data : q) - m->p);
    m->at += (uint64_t)(q - m->p);
    m->p = q;
    return 1;
}
