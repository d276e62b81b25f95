/*
 * tar.c — tar headers read exactly as CPython 3.11 `tarfile` reads them (TarFile.next,
 * TarInfo.frombuf/_proc_member and friends, mode 'r:'), because torch.load decides between
 * its tar loader and pickle.load by whether tarfile raises.
 *
 * Threat model: every byte is hostile. Sizes are read from the file but never size an
 * allocation: member records grow through the budget up to archive_max_members, and names
 * are slices of the input (only ustar prefix joins are copied, at most 256 bytes per header).
 * Python's quirks are reproduced rather than tidied: numeric fields go through Python's int()
 * grammar, a negative size moves the reader backwards (reported as a failure: tarfile would
 * re-read headers, possibly forever), links and directories carry no data so a size on them
 * makes their "data" the next header, and a bad header after the first member ends the archive
 * silently. Chains of extension headers recurse in tarfile; here they are bounded.
 *
 * Known divergence: pax numbers containing non-ASCII Unicode digits or spaces (which Python's
 * int() accepts) are treated as invalid.
 */
#include "formats/tar.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/limits.h"

/* Extension headers (L, K, x, g, X) before one member. tarfile recurses once per header and
 * hits Python's recursion limit after a few hundred; no real archive needs more than 3. */
enum { MAX_CHAIN = 64 };

/* Python integers: base-256 fields reach 2^88 and pax sizes are unbounded, and whether an
 * offset is past the end of the file (ReadError) or past 2^63 (seek raises OverflowError)
 * decides what tarfile raises. Values saturate at ±2^120. */
__extension__ typedef __int128 pynum;
#define PY_SEEK_MAX ((pynum)INT64_MAX)
/* tarfile reads a pax or GNU long-name body with one fileobj.read(size rounded up), and a
 * file's read(n) allocates n bytes first: above 2^63 it raises OverflowError, and above the
 * machine's memory MemoryError, so whether a multi-gigabyte declared size fails depends on
 * the machine. brine does not guess: a body read over 4 GiB is "tarfile fails". */
#define PY_READ_MAX ((pynum)1 << 32)

/* Results of reading one header chain; the names follow tarfile's exception classes. */
enum {
    H_OK,
    H_EMPTY,      /* EmptyHeaderError: no bytes at all */
    H_TRUNC,      /* TruncatedHeaderError: fewer than 512 bytes */
    H_EOF,        /* EOFHeaderError: a block of zeros */
    H_INVALID,    /* InvalidHeaderError: bad checksum, number or pax record */
    H_SUBSEQUENT, /* SubsequentHeaderError: any of the above after an L/K/x/g header */
    H_OTHER,      /* an exception that is not a TarError (ValueError, IndexError, a loop) */
    H_FATAL       /* brine's own limit or memory failure, already in ta->err */
};

/* pax keywords that change what tarfile lists (PAX_FIELDS, the GNU sparse keys). */
enum {
    PK_PATH,
    PK_LINKPATH,
    PK_SIZE,
    PK_SP_NAME,
    PK_SP_SIZE,
    PK_SP_REALSIZE,
    PK_SP_MAP,
    PK_SP_MAJOR,
    PK_SP_MINOR,
    PK_N
};
static const char *const pax_keys[PK_N] = {
    "path",
    "linkpath",
    "size",
    "GNU.sparse.name",
    "GNU.sparse.size",
    "GNU.sparse.realsize",
    "GNU.sparse.map",
    "GNU.sparse.major",
    "GNU.sparse.minor",
};

/* One keyword of a pax dict: its value (a slice of the input) and its insertion order, since
 * _apply_pax_info applies keywords in dict order. */
typedef struct pax_val {
    int present;
    uint64_t seq;
    const uint8_t *v;
    size_t len;
} pax_val;
typedef struct pax_set {
    pax_val k[PK_N];
} pax_set;

/* A TarInfo under construction. */
typedef struct tar_info {
    const uint8_t *name; /* NULL: the name is in the pool at name_pool */
    size_t name_pool;
    size_t name_len;
    const uint8_t *link;
    size_t link_len;
    char type;
    pynum size;
    uint64_t offset, offset_data;
    int sparse;
    int is_ext; /* 'S' header: more sparse blocks follow */
    pynum origsize;
    uint64_t anomalies;
} tar_info;

typedef struct entry {
    tar_member m;
    size_t name_pool;
    int pooled;
    size_t index;
} entry;

struct tar_archive {
    const uint8_t *data;
    size_t len;
    mem_budget *mem;
    brine_limits lim;
    entry *e;
    size_t n, cap;
    uint8_t *pool;
    size_t pool_len, pool_cap;
    entry **by_name;
    tar_outcome out;
    uint64_t anomalies;
    uint64_t end_offset;
    pax_set global;
    uint64_t seq;
    uint64_t tell; /* tarfile.fileobj.tell() */
    pynum offset;  /* tarfile.offset: where the next header chain starts */
    const char *why;
    brine_error *err;
};

/* ------------------------------------------------------------------ Python's numbers */

static int py_space(uint8_t c, int unicode)
{
    /* int(bytes) skips ASCII whitespace; str.strip() and int(str) also skip U+001C..U+001F */
    return c == ' ' || (c >= 9 && c <= 13) || (unicode && c >= 0x1c && c <= 0x1f);
}

/* Python's int(s, base) for base 8 or 10: whitespace, a sign, for base 8 an optional 0o
 * prefix, digits with single underscores between them. Saturates beyond ±2^62 (every such
 * size is past any file). 0, or -1 where Python raises ValueError. */
static int py_int(const uint8_t *s, size_t n, int base, int unicode, pynum *out)
{
    const pynum cap = (pynum)1 << 120;
    size_t i = 0;
    while (i < n && py_space(s[i], unicode))
        i++;
    while (n > i && py_space(s[n - 1], unicode))
        n--;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int prev_digit = 0;
    if (base == 8 && n - i >= 2 && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O')) {
        i += 2;
        prev_digit = 1; /* "0o_7" is allowed */
        if (i == n)
            return -1;
    }
    pynum v = 0;
    int any = 0;
    for (; i < n; i++) {
        uint8_t c = s[i];
        if (c == '_') {
            if (!prev_digit)
                return -1;
            prev_digit = 0;
            continue;
        }
        if (c < '0' || c >= '0' + base)
            return -1;
        if (v < cap)
            v = v * base + (c - '0');
        if (v > cap)
            v = cap;
        prev_digit = 1;
        any = 1;
    }
    if (!any || !prev_digit)
        return -1;
    *out = neg ? -v : v;
    return 0;
}

/* tarfile.nts: up to the first NUL. */
static size_t nts_len(const uint8_t *s, size_t n)
{
    const uint8_t *z = memchr(s, 0, n);
    return z ? (size_t)(z - s) : n;
}

/* tarfile.nti. 0, -1 (InvalidHeaderError) or -2 (IndexError: an empty slice). */
static int nti(const uint8_t *s, size_t n, pynum *out)
{
    const pynum cap = (pynum)1 << 120;
    if (n == 0)
        return -2;
    if (s[0] == 0x80 || s[0] == 0xff) {
        /* GNU base-256: big-endian s[1..n); 0xff means 256^(n-1) - value below zero, whose
         * magnitude is the complement + 1 */
        pynum v = 0;
        for (size_t i = 1; i < n; i++) {
            uint8_t b = s[0] == 0xff ? (uint8_t)~s[i] : s[i];
            v = v < cap >> 8 ? (v << 8) | b : cap;
        }
        *out = s[0] == 0xff ? -(v < cap ? v + 1 : cap) : v;
        return 0;
    }
    size_t len = nts_len(s, n);
    for (size_t i = 0; i < len; i++)
        if (s[i] >= 0x80) /* the ASCII decode fails */
            return -1;
    size_t i = 0;
    while (i < len && py_space(s[i], 1))
        i++;
    if (i == len) { /* `s.strip() or "0"` */
        *out = 0;
        return 0;
    }
    return py_int(s, len, 8, 1, out);
}

/* TarInfo._block: count rounded up to a multiple of 512 (floor division, so negative counts
 * round towards zero). */
static pynum block_of(pynum count)
{
    pynum q = count / TAR_BLOCK, r = count % TAR_BLOCK;
    if (r < 0)
        q -= 1, r += TAR_BLOCK;
    if (r)
        q += 1;
    return q * TAR_BLOCK;
}

static int is_reg(char t) { return t == '0' || t == 0 || t == '7' || t == 'S'; }
static int is_supported(char t)
{
    return (t >= '0' && t <= '7') || t == 0 || t == 'L' || t == 'K' || t == 'S';
}
static int is_gnu(char t) { return t == 'L' || t == 'K' || t == 'S'; }

/* ------------------------------------------------------------------ reading */

/* fileobj.read(want) at tell (want >= 0): what remains of it. */
static size_t take(tar_archive *ta, pynum want, const uint8_t **p)
{
    size_t left = ta->tell < ta->len ? ta->len - (size_t)ta->tell : 0;
    size_t got = want > (pynum)left ? left : (size_t)want;
    *p = ta->data + (ta->tell < ta->len ? ta->tell : ta->len);
    ta->tell += got;
    return got;
}

static const uint8_t *name_ptr(const tar_archive *ta, const tar_info *ti)
{
    return ti->name ? ti->name : ta->pool + ti->name_pool;
}

static void rstrip_slash(const tar_archive *ta, tar_info *ti)
{
    const uint8_t *p = name_ptr(ta, ti);
    while (ti->name_len && p[ti->name_len - 1] == '/')
        ti->name_len--;
}

/* ustar: prefix + "/" + name, joined in the pool (at most 155 + 1 + 100 bytes). */
static int join_prefix(tar_archive *ta, tar_info *ti, const uint8_t *prefix, size_t plen)
{
    size_t need = plen + 1 + ti->name_len;
    if (mem_grow(ta->mem, (void **)&ta->pool, &ta->pool_cap, ta->pool_len + need, 1)) {
        ERR_NOMEM(ta->err);
        return -1;
    }
    uint8_t *dst = ta->pool + ta->pool_len;
    memcpy(dst, prefix, plen);
    dst[plen] = '/';
    if (ti->name_len)
        memcpy(dst + plen + 1, name_ptr(ta, ti), ti->name_len);
    ti->name = NULL;
    ti->name_pool = ta->pool_len;
    ti->name_len = need;
    ta->pool_len += need;
    return 0;
}

/* TarInfo.frombuf on the got bytes at h. */
static int frombuf(tar_archive *ta, const uint8_t *h, size_t got, tar_info *ti)
{
    if (got == 0)
        return ta->why = "empty file", H_EMPTY;
    if (got != TAR_BLOCK)
        return ta->why = "truncated header", H_TRUNC;
    size_t zeros = 0;
    while (zeros < TAR_BLOCK && h[zeros] == 0)
        zeros++;
    if (zeros == TAR_BLOCK)
        return ta->why = "end of file header", H_EOF;
    pynum chk, num;
    if (nti(h + 148, 8, &chk))
        return ta->why = "invalid header", H_INVALID;
    pynum us = 256, ss = 256; /* the checksum field counts as 8 spaces */
    for (size_t i = 0; i < TAR_BLOCK; i++)
        if (i < 148 || i >= 156)
            us += h[i], ss += (int8_t)h[i];
    if (chk != us && chk != ss)
        return ta->why = "bad checksum", H_INVALID;
    static const uint16_t fields[][2] = {{100, 8},  {108, 8}, {116, 8},
                                         {136, 12}, {329, 8}, {337, 8}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (nti(h + fields[i][0], fields[i][1], &num))
            return ta->why = "invalid header", H_INVALID;
    if (nti(h + 124, 12, &ti->size))
        return ta->why = "invalid header", H_INVALID;
    ti->name = h;
    ti->name_len = nts_len(h, 100);
    ti->type = (char)h[156];
    ti->link = h + 157;
    ti->link_len = nts_len(h + 157, 100);
    size_t plen = nts_len(h + 345, 155);
    /* v7 tar: a regular file whose name ends in '/' is a directory */
    if (ti->type == 0 && ti->name_len && h[ti->name_len - 1] == '/')
        ti->type = '5';
    if (ti->type == 'S') { /* old GNU sparse: 4 structs, the extension flag, the real size */
        for (size_t i = 0; i < 8; i++)
            if (nti(h + 386 + 12 * i, 12, &num))
                return ta->why = "invalid header", H_INVALID;
        ti->is_ext = h[482] != 0;
        if (nti(h + 483, 12, &ti->origsize))
            return ta->why = "invalid header", H_INVALID;
    }
    if (ti->type == '5')
        rstrip_slash(ta, ti);
    if (plen && !is_gnu(ti->type) && ta->mem && join_prefix(ta, ti, h + 345, plen))
        return H_FATAL;
    if (ti->size < 0)
        ti->anomalies |= TAR_NEGATIVE_SIZE;
    return H_OK;
}

/* _apply_pax_info: the keywords in dict order. */
static int apply_pax(tar_archive *ta, tar_info *ti, const pax_set *ps)
{
    uint64_t done = 0;
    for (;;) {
        int best = -1;
        for (int k = 0; k < PK_N; k++)
            if (ps->k[k].present && !(done >> k & 1) &&
                (best < 0 || ps->k[k].seq < ps->k[best].seq))
                best = k;
        if (best < 0)
            return H_OK;
        done |= UINT64_C(1) << best;
        const pax_val *v = &ps->k[best];
        pynum num;
        switch (best) {
        case PK_PATH:
        case PK_SP_NAME:
            ti->name = v->v;
            ti->name_len = v->len;
            if (best == PK_PATH)
                rstrip_slash(ta, ti);
            ti->anomalies |= TAR_PAX_NAME;
            break;
        case PK_LINKPATH:
            ti->link = v->v;
            ti->link_len = v->len;
            break;
        case PK_SIZE: /* ValueError → 0 */
            ti->size = py_int(v->v, v->len, 10, 1, &num) ? 0 : num;
            ti->anomalies |= TAR_PAX_NAME;
            break;
        case PK_SP_SIZE:
        case PK_SP_REALSIZE: /* int(value) uncaught */
            if (py_int(v->v, v->len, 10, 1, &num))
                return ta->why = "ValueError: GNU sparse size is not a number", H_OTHER;
            ti->size = num;
            break;
        default: break;
        }
    }
}

static int from_tarfile(tar_archive *ta, tar_info *ti, unsigned depth);

/* _proc_builtin: regular and unknown types skip their data; links, directories, devices and
 * fifos carry none. Then the global pax headers apply. */
static int proc_builtin(tar_archive *ta, tar_info *ti)
{
    ti->offset_data = ta->tell;
    pynum off = (pynum)ta->tell;
    if (is_reg(ti->type) || !is_supported(ti->type))
        off += block_of(ti->size);
    ta->offset = off;
    int r = apply_pax(ta, ti, &ta->global);
    if (r)
        return r;
    if (ti->type == '5')
        rstrip_slash(ta, ti);
    return H_OK;
}

/* A header error inside a chain becomes SubsequentHeaderError (a ReadError at any offset). */
static int subsequent(int r) { return r >= H_EMPTY && r <= H_SUBSEQUENT ? H_SUBSEQUENT : r; }

/* _proc_gnulong: the data blocks hold the next member's name or link target. */
static int proc_gnulong(tar_archive *ta, tar_info *ti, unsigned depth)
{
    const uint8_t *buf;
    if (block_of(ti->size) < 0 || block_of(ti->size) > PY_READ_MAX)
        return ta->why = block_of(ti->size) < 0 ? "ValueError: negative read length"
                                                : "MemoryError: a read of over 4 GiB",
               H_OTHER;
    size_t got = take(ta, block_of(ti->size), &buf);
    tar_info next;
    memset(&next, 0, sizeof next);
    int r = subsequent(from_tarfile(ta, &next, depth + 1));
    if (r)
        return r;
    next.offset = ti->offset;
    if (ti->type == 'L') {
        next.name = buf;
        next.name_len = nts_len(buf, got);
    } else {
        next.link = buf;
        next.link_len = nts_len(buf, got);
    }
    if (next.type == '5' && next.name_len && name_ptr(ta, &next)[next.name_len - 1] == '/')
        next.name_len--; /* removesuffix: one slash only */
    next.anomalies |= TAR_PAX_NAME | ti->anomalies;
    *ti = next;
    return H_OK;
}

/* _proc_sparse: extension blocks of 21 sparse structs each, then the data. */
static int proc_sparse(tar_archive *ta, tar_info *ti)
{
    int ext = ti->is_ext;
    while (ext) {
        const uint8_t *b;
        size_t got = take(ta, TAR_BLOCK, &b);
        for (size_t i = 0; i < 42; i++) {
            size_t at = 12 * i;
            size_t n = at >= got ? 0 : got - at < 12 ? got - at : 12;
            pynum num;
            int r = nti(b + (at < got ? at : got), n, &num);
            if (r == -2)
                return ta->why = "IndexError: sparse block cut short", H_OTHER;
            if (r)
                return ta->why = "invalid header", H_INVALID;
        }
        if (got <= 504)
            return ta->why = "IndexError: sparse block cut short", H_OTHER;
        ext = b[504] != 0;
    }
    ti->offset_data = ta->tell;
    ta->offset = (pynum)ta->tell + block_of(ti->size);
    ti->size = ti->origsize;
    ti->sparse = 1;
    ti->anomalies |= TAR_SPARSE;
    return H_OK;
}

/* Python's int() over every comma-separated item of a GNU.sparse.map value. */
static int sparse_map_ok(const pax_val *v)
{
    size_t start = 0;
    for (size_t i = 0; i <= v->len; i++)
        if (i == v->len || v->v[i] == ',') {
            pynum num;
            if (py_int(v->v + start, i - start, 10, 1, &num))
                return 0;
            start = i + 1;
        }
    return 1;
}

/* _proc_gnusparse_10: a decimal map of "count\n" then 2*count "number\n" lines in the data
 * blocks; the data starts after the blocks read. */
static int proc_sparse10(tar_archive *ta, tar_info *next)
{
    const uint8_t *p;
    size_t got = take(ta, TAR_BLOCK, &p);
    const uint8_t *q = p + got;
    const uint8_t *nl = memchr(p, '\n', got);
    pynum fields, num;
    if (!nl || py_int(p, (size_t)(nl - p), 10, 0, &fields))
        return ta->why = "ValueError: GNU sparse 1.0 map", H_OTHER;
    p = nl + 1;
    for (pynum have = 0; fields > 0 && have < 2 * fields; have++) {
        if (!memchr(p, '\n', (size_t)(q - p))) {
            const uint8_t *more;
            q += take(ta, TAR_BLOCK, &more); /* the blocks are contiguous in the input */
        }
        nl = memchr(p, '\n', (size_t)(q - p));
        if (!nl || py_int(p, (size_t)(nl - p), 10, 0, &num))
            return ta->why = "ValueError: GNU sparse 1.0 map", H_OTHER;
        p = nl + 1;
    }
    next->offset_data = ta->tell;
    return H_OK;
}

static int pax_key(const uint8_t *k, size_t n)
{
    for (int i = 0; i < PK_N; i++)
        if (strlen(pax_keys[i]) == n && memcmp(pax_keys[i], k, n) == 0)
            return i;
    return -1;
}

static int is_key(const uint8_t *k, size_t n, const char *z)
{
    return strlen(z) == n && memcmp(z, k, n) == 0;
}

/* _proc_pax: "%d %s=%s\n" records for the next member (x, X) or all following ones (g). */
static int proc_pax(tar_archive *ta, tar_info *ti, unsigned depth)
{
    const uint8_t *buf;
    if (block_of(ti->size) < 0 || block_of(ti->size) > PY_READ_MAX) /* read(-512) refused */
        return ta->why = block_of(ti->size) < 0 ? "ValueError: negative read length"
                                                : "MemoryError: a read of over 4 GiB",
               H_OTHER;
    size_t got = take(ta, block_of(ti->size), &buf);
    pax_set local;
    pax_set *ps = &ta->global;
    uint64_t seq = ta->seq;
    if (ti->type != 'g') {
        local = ta->global; /* pax_headers.copy(): global keys keep their order */
        ps = &local;
    } else {
        ta->anomalies |= TAR_A_PAX_GLOBAL;
    }
    int sparse00_bad = 0;
    size_t pos = 0;
    while (got > pos && buf[pos] != 0) {
        size_t d = 0;
        while (d <= 20 && pos + d < got && buf[pos + d] >= '0' && buf[pos + d] <= '9')
            d++;
        if (d == 0 || d > 20 || pos + d >= got || buf[pos + d] != ' ')
            return ta->why = "invalid header", H_INVALID;
        uint64_t length = 0;
        for (size_t i = 0; i < d; i++)
            length = length < UINT64_C(1) << 58 ? length * 10 + (uint64_t)(buf[pos + i] - '0')
                                                : UINT64_C(1) << 62;
        if (length < 5 || length > got - pos)
            return ta->why = "invalid header", H_INVALID;
        size_t end = pos + (size_t)length - 1; /* the record's last byte, its '\n' */
        size_t kv = pos + d + 1;
        const uint8_t *eq = kv < end ? memchr(buf + kv, '=', end - kv) : NULL;
        if (!eq || eq == buf + kv || buf[end] != '\n')
            return ta->why = "invalid header", H_INVALID;
        const uint8_t *key = buf + kv, *val = eq + 1;
        size_t key_len = (size_t)(eq - key), val_len = (size_t)(buf + end - val);
        pynum num;
        if ((is_key(key, key_len, "GNU.sparse.offset") ||
             is_key(key, key_len, "GNU.sparse.numbytes")) &&
            py_int(val, val_len, 10, 1, &num))
            sparse00_bad = 1;
        int k = pax_key(key, key_len);
        if (k >= 0) {
            pax_val *pv = &ps->k[k];
            if (!pv->present)
                pv->seq = seq++;
            pv->present = 1;
            pv->v = val;
            pv->len = val_len;
        }
        pos += (size_t)length;
    }
    if (ti->type == 'g')
        ta->seq = seq;

    tar_info next;
    memset(&next, 0, sizeof next);
    int r = subsequent(from_tarfile(ta, &next, depth + 1));
    if (r)
        return r;
    if (ps->k[PK_SP_MAP].present) {
        if (!sparse_map_ok(&ps->k[PK_SP_MAP]))
            return ta->why = "ValueError: GNU.sparse.map", H_OTHER;
        next.sparse = 1;
    } else if (ps->k[PK_SP_SIZE].present) {
        if (sparse00_bad)
            return ta->why = "invalid header", H_INVALID;
        next.sparse = 1;
    } else if (ps->k[PK_SP_MAJOR].present && ps->k[PK_SP_MINOR].present &&
               is_key(ps->k[PK_SP_MAJOR].v, ps->k[PK_SP_MAJOR].len, "1") &&
               is_key(ps->k[PK_SP_MINOR].v, ps->k[PK_SP_MINOR].len, "0")) {
        if ((r = proc_sparse10(ta, &next)))
            return r;
        next.sparse = 1;
    }
    if (next.sparse)
        next.anomalies |= TAR_SPARSE;
    if (ti->type != 'g') {
        if ((r = apply_pax(ta, &next, ps)))
            return r;
        next.offset = ti->offset;
        if (ps->k[PK_SIZE].present) { /* the pax size moves the next header */
            pynum off = (pynum)next.offset_data;
            if (is_reg(next.type) || !is_supported(next.type))
                off += block_of(next.size);
            ta->offset = off;
        }
    }
    next.anomalies |= ti->anomalies;
    *ti = next;
    return H_OK;
}

/* TarInfo.fromtarfile: one header at tell, then whatever its type implies. */
static int from_tarfile(tar_archive *ta, tar_info *ti, unsigned depth)
{
    if (depth >= MAX_CHAIN) {
        ta->anomalies |= TAR_A_LONG_CHAIN;
        return ta->why = "too many extension headers in a row (tarfile recurses)", H_OTHER;
    }
    uint64_t at = ta->tell;
    const uint8_t *h;
    size_t got = take(ta, TAR_BLOCK, &h);
    int r = frombuf(ta, h, got, ti);
    if (r)
        return r;
    ti->offset = at;
    switch (ti->type) {
    case 'L':
    case 'K': return proc_gnulong(ta, ti, depth);
    case 'S': return proc_sparse(ta, ti);
    case 'x':
    case 'g':
    case 'X': return proc_pax(ta, ti, depth);
    default: return proc_builtin(ta, ti);
    }
}

/* ------------------------------------------------------------------ the archive */

static int has_dotdot(const uint8_t *p, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || p[i] == '/' || p[i] == '\\') {
            if (i - start == 2 && p[start] == '.' && p[start + 1] == '.')
                return 1;
            start = i + 1;
        }
    return 0;
}

static brine_status add_member(tar_archive *ta, tar_info *ti)
{
    if (ti->name_len > ta->lim.archive_max_name || ti->link_len > ta->lim.archive_max_name)
        return err_limit(ta->err, "archive_max_name", ta->lim.archive_max_name,
                         ti->name_len > ti->link_len ? ti->name_len : ti->link_len, ti->offset, 1,
                         __LINE__);
    if (mem_grow(ta->mem, (void **)&ta->e, &ta->cap, ta->n + 1, sizeof *ta->e))
        return ERR_NOMEM(ta->err);
    entry *e = &ta->e[ta->n];
    memset(e, 0, sizeof *e);
    e->index = ta->n++;
    e->pooled = ti->name == NULL;
    e->name_pool = ti->name_pool;
    tar_member *m = &e->m;
    m->name = ti->name;
    m->name_len = ti->name_len;
    m->linkname = ti->link;
    m->linkname_len = ti->link_len;
    m->type = ti->type;
    m->size = ti->size > INT64_MAX   ? INT64_MAX
              : ti->size < INT64_MIN ? INT64_MIN
                                     : (int64_t)ti->size;
    m->header_offset = ti->offset;
    m->data_offset = ti->offset_data;
    m->anomalies = ti->anomalies;
    if (ti->size < 0)
        m->anomalies |= TAR_NEGATIVE_SIZE;
    if (!is_supported(ti->type))
        m->anomalies |= TAR_UNKNOWN_TYPE;
    if (ti->type >= '1' && ti->type <= '6' && ti->size > 0)
        m->anomalies |= TAR_SIZE_NO_DATA;
    if ((is_reg(ti->type) || !is_supported(ti->type)) && !ti->sparse && ti->size >= 0) {
        if (ti->offset_data <= ta->len && ti->size <= (pynum)(ta->len - ti->offset_data)) {
            m->data = ta->data + ti->offset_data;
            m->data_len = (uint64_t)ti->size;
        } else {
            m->anomalies |= TAR_DATA_CUT;
        }
    }
    return BRINE_OK;
}

static int by_name_cmp(const void *a, const void *b)
{
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    size_t n = x->m.name_len < y->m.name_len ? x->m.name_len : y->m.name_len;
    int c = n ? memcmp(x->m.name, y->m.name, n) : 0;
    if (c)
        return c;
    if (x->m.name_len != y->m.name_len)
        return x->m.name_len < y->m.name_len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Names, the sorted index, duplicates and name anomalies, once every member is read. */
static brine_status finish(tar_archive *ta)
{
    for (size_t i = 0; i < ta->n; i++) {
        entry *e = &ta->e[i];
        tar_member *m = &e->m;
        if (e->pooled)
            m->name = ta->pool + e->name_pool;
        if (m->name_len == 0)
            m->anomalies |= TAR_NAME_EMPTY;
        else if (m->name[0] == '/')
            m->anomalies |= TAR_NAME_ABSOLUTE;
        if (has_dotdot(m->name, m->name_len))
            m->anomalies |= TAR_NAME_DOTDOT;
        if (m->type == '1' || m->type == '2') {
            m->anomalies |= TAR_LINK;
            if ((m->linkname_len && m->linkname[0] == '/') ||
                has_dotdot(m->linkname, m->linkname_len))
                m->anomalies |= TAR_LINK_ESCAPE;
        }
    }
    if (ta->n == 0)
        return BRINE_OK;
    size_t bytes;
    if (__builtin_mul_overflow(ta->n, sizeof *ta->by_name, &bytes) ||
        !(ta->by_name = mem_alloc(ta->mem, bytes)))
        return ERR_NOMEM(ta->err);
    for (size_t i = 0; i < ta->n; i++)
        ta->by_name[i] = &ta->e[i];
    qsort(ta->by_name, ta->n, sizeof *ta->by_name, by_name_cmp);
    for (size_t i = 1; i < ta->n; i++) {
        tar_member *a = &ta->by_name[i - 1]->m, *b = &ta->by_name[i]->m;
        if (a->name_len == b->name_len &&
            (!a->name_len || !memcmp(a->name, b->name, a->name_len))) {
            a->anomalies |= TAR_DUPLICATE;
            b->anomalies |= TAR_DUPLICATE;
        }
    }
    return BRINE_OK;
}

static void fail(tar_archive *ta, int read_error, uint64_t at)
{
    ta->out.complete = 0;
    ta->out.read_error = read_error;
    ta->out.reason = ta->why;
    ta->out.offset = at;
}

/* TarFile.next until it returns None or raises. */
static brine_status walk(tar_archive *ta)
{
    ta->out.open_ok = 1;
    ta->out.complete = 1;
    for (size_t call = 0;; call++) {
        if (ta->n >= ta->lim.archive_max_members)
            return err_limit(ta->err, "archive_max_members", ta->lim.archive_max_members, ta->n + 1,
                             ta->tell, 1, __LINE__);
        if (ta->offset != (pynum)ta->tell) { /* "Advance the file pointer" */
            if (ta->offset == 0) {
                ta->end_offset = 0;
                return BRINE_OK;
            }
            if (ta->offset < 0 || ta->offset - 1 > PY_SEEK_MAX) { /* seek raises */
                ta->why = ta->offset < 0 ? "negative seek" : "OverflowError: seek past 2^63";
                fail(ta, 0, ta->tell);
                return BRINE_OK;
            }
            if (ta->offset - 1 >= (pynum)ta->len) {
                ta->why = "unexpected end of data";
                fail(ta, 1, ta->tell);
                return BRINE_OK;
            }
            ta->tell = (uint64_t)ta->offset;
        }
        uint64_t start = ta->tell;
        tar_info ti;
        memset(&ti, 0, sizeof ti);
        int r = from_tarfile(ta, &ti, 0);
        if (r == H_FATAL)
            return ta->err->code;
        if (call == 0 && (r == H_SUBSEQUENT || r == H_OTHER ||
                          ((r == H_EMPTY || r == H_TRUNC || r == H_INVALID) && ta->offset == 0)))
            ta->out.open_ok = 0;
        switch (r) {
        case H_OK: {
            brine_status st = add_member(ta, &ti);
            if (st)
                return st;
            if (ta->offset <= (pynum)start) { /* tarfile re-reads this chain forever */
                ta->why = "a negative size moves tarfile back to earlier headers";
                ta->end_offset = start;
                fail(ta, 0, start);
                return BRINE_OK;
            }
            continue;
        }
        case H_EOF: /* the end-of-archive block: anything non-zero after it is never read */
            ta->end_offset = start;
            for (size_t i = (size_t)start + TAR_BLOCK; i < ta->len; i++)
                if (ta->data[i]) {
                    ta->anomalies |= TAR_A_TRAILING;
                    break;
                }
            return BRINE_OK;
        case H_EMPTY:
        case H_TRUNC:
        case H_INVALID:
            ta->end_offset = start;
            /* tarfile tests its offset as the failed chain left it: an inner member may have
             * moved it before an outer pax header turned out invalid */
            if (ta->offset == 0) {
                fail(ta, 1, start); /* ReadError: at the first header, tarfile.open raises */
            } else {
                ta->anomalies |= TAR_A_NO_END;
                if (r != H_EMPTY)
                    ta->anomalies |= TAR_A_STOPPED;
            }
            return BRINE_OK;
        case H_SUBSEQUENT:
            ta->end_offset = start;
            fail(ta, 1, start);
            return BRINE_OK;
        default:
            ta->end_offset = start;
            fail(ta, 0, start);
            return BRINE_OK;
        }
    }
}

brine_status tar_open(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                      tar_archive **out, brine_error *err)
{
    static const uint8_t empty[1];
    brine_error local;
    if (!err)
        err = &local;
    err_clear(err);
    *out = NULL;
    tar_archive *ta = mem_calloc(mem, 1, sizeof *ta);
    if (!ta)
        return ERR_NOMEM(err);
    ta->data = data ? data : empty;
    ta->len = data ? len : 0;
    ta->mem = mem;
    lim_resolve(lim, &ta->lim);
    ta->err = err;
    brine_status st = walk(ta);
    if (!st)
        st = finish(ta);
    ta->err = NULL;
    if (st) {
        tar_close(ta);
        return st;
    }
    *out = ta;
    return BRINE_OK;
}

void tar_close(tar_archive *ta)
{
    if (!ta)
        return;
    mem_budget *mem = ta->mem;
    if (ta->by_name)
        mem_free(mem, ta->by_name, ta->n * sizeof *ta->by_name);
    if (ta->e)
        mem_free(mem, ta->e, ta->cap * sizeof *ta->e);
    if (ta->pool)
        mem_free(mem, ta->pool, ta->pool_cap);
    mem_free(mem, ta, sizeof *ta);
}

const tar_outcome *tar_get_outcome(const tar_archive *ta) { return &ta->out; }
size_t tar_count(const tar_archive *ta) { return ta->n; }
uint64_t tar_anomalies(const tar_archive *ta) { return ta->anomalies; }
uint64_t tar_end_offset(const tar_archive *ta) { return ta->end_offset; }

const tar_member *tar_member_at(const tar_archive *ta, size_t i)
{
    return i < ta->n ? &ta->e[i].m : NULL;
}

long tar_find(const tar_archive *ta, const char *name, size_t name_len)
{
    while (name_len && name[name_len - 1] == '/')
        name_len--;
    /* the last entry whose name is <= name, in (name, index) order */
    size_t lo = 0, hi = ta->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const tar_member *m = &ta->by_name[mid]->m;
        size_t n = m->name_len < name_len ? m->name_len : name_len;
        int c = n ? memcmp(m->name, name, n) : 0;
        if (!c)
            c = m->name_len < name_len ? -1 : m->name_len > name_len;
        if (c <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const entry *e = ta->by_name[lo - 1];
    if (e->m.name_len != name_len || (name_len && memcmp(e->m.name, name, name_len)))
        return -1;
    return (long)e->index;
}

/* posixpath.normpath into out (n + 2 bytes): "." for nothing, one leading '/' (two kept as
 * "//"), no empty or "." components, ".." cancelling the previous component. */
static size_t normpath(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t lead = 0;
    while (lead < n && p[lead] == '/')
        lead++;
    size_t o = 0, initial = lead == 0 ? 0 : lead == 2 ? 2 : 1;
    while (o < initial)
        out[o++] = '/';
    size_t base = o;
    for (size_t i = lead; i < n;) {
        size_t e = i;
        while (e < n && p[e] != '/')
            e++;
        size_t len = e - i;
        if (len == 0 || (len == 1 && p[i] == '.')) {
            /* skipped */
        } else if (len == 2 && p[i] == '.' && p[i + 1] == '.') {
            int last_is_up = o - base >= 2 && out[o - 1] == '.' && out[o - 2] == '.' &&
                             (o - base == 2 || out[o - 3] == '/');
            if (o > base && !last_is_up) {
                while (o > base && out[o - 1] != '/')
                    o--;
                if (o > base)
                    o--; /* the separator */
            } else if (!initial) {
                if (o > base)
                    out[o++] = '/';
                out[o++] = '.', out[o++] = '.';
            }
        } else {
            if (o > base)
                out[o++] = '/';
            memcpy(out + o, p + i, len);
            o += len;
        }
        i = e + 1;
    }
    if (o == 0)
        out[o++] = '.';
    return o;
}

long tar_find_link_target(const tar_archive *ta, size_t i)
{
    const tar_member *link = tar_member_at(ta, i);
    if (!link || (link->type != '1' && link->type != '2'))
        return -1;
    /* the name looked for: the link target, or for a symlink dirname(name) + "/" + target */
    size_t dir = 0;
    if (link->type == '2') {
        for (size_t k = 0; k < link->name_len; k++)
            if (link->name[k] == '/')
                dir = k + 1;
        size_t slashes = 0;
        while (slashes < dir && link->name[slashes] == '/')
            slashes++;
        if (dir && slashes != dir)
            while (dir && link->name[dir - 1] == '/')
                dir--; /* dirname strips trailing slashes unless it is all slashes */
    }
    size_t want_len = dir + (dir && link->linkname_len) + link->linkname_len, cap = 0;
    for (size_t k = 0; k < ta->n; k++)
        if (ta->e[k].m.name_len > cap)
            cap = ta->e[k].m.name_len;
    if (want_len > cap)
        cap = want_len;
    uint8_t *joined = mem_alloc(ta->mem, 3 * (cap + 2));
    if (!joined)
        return -1; /* fail closed: the caller cannot read the link */
    uint8_t *want = joined + cap + 2, *norm = want + cap + 2;
    memcpy(joined, link->name, dir);
    size_t j = dir;
    if (dir && link->linkname_len)
        joined[j++] = '/';
    if (link->linkname_len)
        memcpy(joined + j, link->linkname, link->linkname_len);
    size_t wn = normpath(joined, want_len, want);
    long found = -1;
    for (size_t k = link->type == '1' ? i : ta->n; k-- > 0;) {
        const tar_member *m = &ta->e[k].m;
        if (normpath(m->name, m->name_len, norm) == wn && memcmp(norm, want, wn) == 0) {
            found = (long)k;
            break;
        }
    }
    mem_free(ta->mem, joined, 3 * (cap + 2));
    return found;
}

int tar_is_torch(const tar_archive *ta)
{
    if (!ta->out.open_ok)
        return 0;
    static const char *const names[] = {"storages", "tensors", "pickle", "sys_info"};
    for (size_t i = 0; i < 4; i++)
        if (tar_find(ta, names[i], strlen(names[i])) >= 0)
            return 1;
    return 0;
}

int tar_probe(const uint8_t *data, size_t len)
{
    if (!data || len < TAR_BLOCK)
        return 0;
    tar_archive ta;
    memset(&ta, 0, sizeof ta);
    ta.data = data;
    ta.len = TAR_BLOCK;
    tar_info ti;
    memset(&ti, 0, sizeof ti);
    int r = frombuf(&ta, data, TAR_BLOCK, &ti); /* a ustar prefix needs the pool: still a tar */
    if (r != H_OK && r != H_FATAL)
        return 0;
    return memcmp(data + 257, "ustar", 5) == 0 ? 90 : 60;
}

const char *tar_anomaly_name(uint64_t bit)
{
#define X(id, b, name, text)                                                                       \
    if (bit == TAR_##id)                                                                           \
        return name;
    TAR_ANOMALY_LIST(X)
#undef X
    return NULL;
}

const char *tar_anomaly_rule(uint64_t bit)
{
#define X(id, b, name, text)                                                                       \
    if (bit == TAR_##id)                                                                           \
        return "tar-" name;
    TAR_ANOMALY_LIST(X)
#undef X
    return NULL;
}

const char *tar_anomaly_text(uint64_t bit)
{
#define X(id, b, name, text)                                                                       \
    if (bit == TAR_##id)                                                                           \
        return text;
    TAR_ANOMALY_LIST(X)
#undef X
    return NULL;
}
