/*
 * filters.c — gzip, zlib, bz2, xz/lzma, lz4-frame and zstd decoding, as Python reads them.
 *
 * Parses: the gzip member header (RFC 1952 2.3, as CPython's gzip._read_gzip_header reads it);
 * everything else is decoded by the reference library, driven in the same stream-by-stream
 * loop as the Python reader (gzip._GzipReader, _compression.DecompressReader, joblib's
 * BinaryZlibFile, zstandard's stream reader), so what is accepted, rejected or ignored after a
 * stream matches the reader byte for byte. filters.h has the table of readers.
 *
 * Threat model: hostile input. All header reads go through the bounded cursor; the output
 * buffer doubles within filter_max_bytes and the budget (never sized from a length in the
 * file); zlib, libbz2, liblzma, liblz4 and libzstd allocate through the budget too, so a
 * header that asks for a 4 GiB dictionary fails as NOMEM instead of allocating it.
 */
#include "filters/filters.h"

#include <bzlib.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#define LZ4F_STATIC_LINKING_ONLY
#include <lz4frame.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/limits.h"

/* io.DEFAULT_BUFFER_SIZE: _compression.DecompressReader reads the file in blocks this big, and
 * only errors in the first block handed to a new stream's decompressor count as trailing. */
#define PY_READ_BLOCK 8192u
/* The ratio limit only applies past this much output: small files never trip it. */
#define RATIO_FLOOR   (UINT64_C(64) << 20)
/* First allocation of the output buffer; it doubles from there. */
#define OUT_MIN_CAP   ((size_t)64 << 10)

typedef struct flt_run {
    mem_budget *mem;
    brine_limits lim;
    flt_output *out;
    brine_error *err;
    const uint8_t *in;
    size_t n;
    size_t out_stop; /* out_room offers no room past this length (a Python call's max_length) */
} flt_run;

const char *flt_name(flt_kind k)
{
    switch (k) {
    case FLT_GZIP: return "gzip";
    case FLT_ZLIB: return "zlib";
    case FLT_BZIP2: return "bz2";
    case FLT_XZ: return "xz";
    case FLT_LZMA_ALONE: return "lzma";
    case FLT_LZ4: return "lz4";
    case FLT_ZSTD: return "zstd";
    case FLT_LZIP: return "lzip";
    case FLT_NONE:
    case FLT_KIND_COUNT: break;
    }
    return "none";
}

/* ------------------------------------------------------------------ probe */

static int has_prefix(const uint8_t *d, size_t n, const char *magic, size_t m)
{
    return n >= m && memcmp(d, magic, m) == 0;
}

/* Skippable frames (magic 0x184D2A50..5F, LE32 size) are shared by lz4 and zstd: look past
 * up to 16 of them, within the first 64 KiB, for the frame that says which one this is. */
static flt_kind probe_after_skippable(const uint8_t *d, size_t n)
{
    cursor c;
    cur_init(&c, d, n < 65536 ? n : 65536);
    for (int i = 0; i < 16; i++) {
        const uint8_t *h;
        if (cur_take(&c, 4, &h) != 0)
            return FLT_NONE;
        uint32_t magic = ld_le32(h);
        if (magic == 0x184D2204u)
            return FLT_LZ4;
        if (magic == 0xFD2FB528u)
            return FLT_ZSTD;
        if ((magic & 0xFFFFFFF0u) != 0x184D2A50u || cur_take(&c, 4, &h) != 0)
            return FLT_NONE;
        if (cur_take(&c, ld_le32(h), &h) != 0)
            return FLT_NONE;
    }
    return FLT_NONE;
}

/* The dictionary sizes xz-utils and Python's lzma write: 2^k or 2^k + 2^(k-1). */
static int plausible_lzma_dict(uint32_t v)
{
    for (unsigned k = 12; k < 32; k++)
        if (v == (UINT32_C(1) << k) || v == (UINT32_C(1) << k) + (UINT32_C(1) << (k - 1)))
            return 1;
    return 0;
}

flt_kind flt_probe(const uint8_t *d, size_t n, int *confidence)
{
    int conf = 0;
    flt_kind k = FLT_NONE;
    if (!d)
        n = 0;
    if (has_prefix(d, n, "\x1f\x8b\x08", 3))
        k = FLT_GZIP, conf = 90;
    else if (has_prefix(d, n, "\x1f\x8b", 2)) /* joblib's prefix; the reader then refuses */
        k = FLT_GZIP, conf = 50;
    else if (has_prefix(d, n, "\xfd\x37\x7a\x58\x5a\x00", 6))
        k = FLT_XZ, conf = 95;
    else if (has_prefix(d, n, "LZIP", 4) && n >= 5 && d[4] <= 1) /* lzip 1.x versions 0, 1 */
        k = FLT_LZIP, conf = 90;
    else if (has_prefix(d, n, "\x28\xb5\x2f\xfd", 4))
        k = FLT_ZSTD, conf = 95;
    else if (has_prefix(d, n, "\x04\x22\x4d\x18", 4))
        k = FLT_LZ4, conf = 95;
    else if (has_prefix(d, n, "BZh", 3) && n >= 4 && d[3] >= '1' && d[3] <= '9')
        k = FLT_BZIP2, conf = (n >= 10 && (memcmp(d + 4, "\x31\x41\x59\x26\x53\x59", 6) == 0 ||
                                           memcmp(d + 4, "\x17\x72\x45\x38\x50\x90", 6) == 0))
                                  ? 95
                                  : 80;
    else if (n >= 4 && (ld_le32(d) & 0xFFFFFFF0u) == 0x184D2A50u) {
        k = probe_after_skippable(d, n);
        conf = k == FLT_NONE ? 0 : 60;
    } else if (n >= 2 && (d[0] & 0x0F) == 8 && (d[0] >> 4) <= 7 &&
               ((unsigned)d[0] * 256u + d[1]) % 31u == 0) {
        /* RFC 1950 2.2: CM 8, CINFO <= 7, FCHECK. joblib only tests d[0] == 'x'. */
        k = FLT_ZLIB;
        conf = d[0] == 0x78 ? ((d[1] & 0x20) ? 30 : 60) : 25;
    } else if (has_prefix(d, n, "\x5d\x00", 2)) {
        /* joblib's lzma prefix is the default properties byte (lc=3 lp=0 pb=2) and the low
         * byte of the dictionary size; a 13-byte header with a usual size is likelier. */
        k = FLT_LZMA_ALONE;
        conf = (n >= 13 && plausible_lzma_dict(ld_le32(d + 1))) ? 60 : 30;
    }
    if (confidence)
        *confidence = conf;
    return k;
}

/* ------------------------------------------------------------------ output and limits */

brine_status flt_check_depth(uint64_t depth, const brine_limits *lim, brine_error *err)
{
    brine_limits eff;
    lim_resolve(lim, &eff);
    if (depth >= eff.max_filter_depth)
        return err_limit(err, "max_filter_depth", eff.max_filter_depth, depth + 1, 0, 0, __LINE__);
    return BRINE_OK;
}

void flt_output_free(flt_output *out, mem_budget *mem)
{
    if (!out)
        return;
    if (out->data)
        mem_free(mem, out->data, out->cap);
    memset(out, 0, sizeof *out);
}

/* Makes room for at least one more byte and returns how many bytes may be written at
 * out->data + out->len. The buffer never exceeds filter_max_bytes + 1: that one extra byte
 * lets a decoder show it has more to say than the limit allows. */
static brine_status out_room(flt_run *r, size_t *room)
{
    flt_output *o = r->out;
    if (o->len >= o->cap) {
        uint64_t hard = r->lim.filter_max_bytes + 1;
        uint64_t want = o->cap ? (uint64_t)o->cap * 2 : OUT_MIN_CAP;
        if (want > hard)
            want = hard;
        if (want > SIZE_MAX / 2)
            want = SIZE_MAX / 2;
        if (want <= o->cap)
            return err_limit(r->err, "filter_max_bytes", r->lim.filter_max_bytes, o->len, 0, 0,
                             __LINE__);
        uint8_t *p = o->data ? mem_realloc(r->mem, o->data, o->cap, (size_t)want)
                             : mem_alloc(r->mem, (size_t)want);
        if (!p)
            return ERR_NOMEM(r->err);
        o->data = p;
        o->cap = (size_t)want;
    }
    *room = o->cap - o->len;
    if (r->out_stop - o->len < *room)
        *room = r->out_stop - o->len;
    return BRINE_OK;
}

/* After a decoder wrote: enforce the byte and ratio limits. in_done is the input offset the
 * decoder has reached. */
static brine_status out_check(flt_run *r, uint64_t in_done)
{
    flt_output *o = r->out;
    if (o->len > r->lim.filter_max_bytes) {
        o->len = (size_t)r->lim.filter_max_bytes;
        return err_limit(r->err, "filter_max_bytes", r->lim.filter_max_bytes, o->len + 1, in_done,
                         1, __LINE__);
    }
    uint64_t cap;
    if (o->len > RATIO_FLOOR &&
        (__builtin_mul_overflow(in_done ? in_done : 1, r->lim.filter_max_ratio, &cap) == 0) &&
        o->len > cap)
        return err_limit(r->err, "filter_max_ratio", r->lim.filter_max_ratio,
                         o->len / (in_done ? in_done : 1), in_done, 1, __LINE__);
    return BRINE_OK;
}

/* The libraries' allocations go through the budget (mem_lib_alloc). */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    return mem_lib_alloc(opaque, items, size);
}
static void z_free(voidpf opaque, voidpf addr) { mem_lib_free(opaque, addr); }
static void *bz_alloc(void *opaque, int items, int size)
{
    if (items < 0 || size < 0)
        return NULL;
    return mem_lib_alloc(opaque, (size_t)items, (size_t)size);
}
static void *lz_alloc(void *opaque, size_t items, size_t size)
{
    return mem_lib_alloc(opaque, items, size);
}
static void *one_alloc(void *opaque, size_t size) { return mem_lib_alloc(opaque, 1, size); }

/* A stream whose first decompress() call would fail is trailing junk to
 * _compression.DecompressReader: that first call gets the rest of the current 8192-byte block
 * of the file (the previous decompressor's unused_data), or a whole block at a boundary. */
static size_t first_block_end(size_t pos, size_t n)
{
    size_t end = (pos / PY_READ_BLOCK + 1) * PY_READ_BLOCK;
    return end < n ? end : n;
}

/* ------------------------------------------------------------------ zlib and gzip */

typedef enum z_outcome { Z_O_END, Z_O_TRUNCATED, Z_O_ERROR } z_outcome;

/* Inflates r->in[pos..n) with the given window bits until the stream ends; *used gets the
 * input bytes it occupies. Errors other than corruption are returned as status. */
static brine_status inflate_stream(flt_run *r, size_t pos, int wbits, z_outcome *how, size_t *used,
                                   const char **why)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    zs.opaque = r->mem;
    int zr = inflateInit2(&zs, wbits);
    if (zr != Z_OK)
        return zr == Z_MEM_ERROR ? ERR_NOMEM(r->err)
                                 : err_set(r->err, BRINE_ERR_UNSUPPORTED, __LINE__,
                                           "zlib refused to start (%d)", zr);
    brine_status st = BRINE_OK;
    size_t left = r->n - pos;
    zs.next_in = (Bytef *)(uintptr_t)(r->in + pos);
    *how = Z_O_TRUNCATED;
    *why = NULL;
    for (;;) {
        size_t room;
        if ((st = out_room(r, &room)) != BRINE_OK)
            break;
        /* zlib counts in uInt: feed at most 1 GiB at a time */
        uInt chunk_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
        uInt chunk_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        zs.avail_in = chunk_in;
        zs.next_out = r->out->data + r->out->len;
        zs.avail_out = chunk_out;
        zr = inflate(&zs, Z_NO_FLUSH);
        left -= chunk_in - zs.avail_in;
        r->out->len += chunk_out - zs.avail_out;
        if ((st = out_check(r, r->n - left)) != BRINE_OK)
            break;
        if (zr == Z_STREAM_END) {
            *how = Z_O_END;
            break;
        }
        if (zr == Z_MEM_ERROR) {
            st = ERR_NOMEM(r->err);
            break;
        }
        if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR) {
            *how = Z_O_ERROR;
            *why = zs.msg ? zs.msg : (zr == Z_NEED_DICT ? "needs a preset dictionary" : "error");
            break;
        }
        /* Z_OK or Z_BUF_ERROR: no progress possible means the input is exhausted */
        if (left == 0 && zs.avail_out > 0)
            break;
    }
    *used = r->n - pos - left;
    inflateEnd(&zs);
    return st;
}

/* gzip._read_gzip_header: returns 0 and the header length, or 1 for a clean end of input,
 * or a status (EOFError or BadGzipFile as MALFORMED). */
static brine_status gzip_header(flt_run *r, size_t pos, size_t *hlen, int *at_end)
{
    cursor c;
    const uint8_t *b;
    cur_init(&c, r->in + pos, r->n - pos);
    *at_end = 0;
    if (cur_left(&c) == 0) { /* fp.read(2) == b'': end of file, no more members */
        *at_end = 1;
        return BRINE_OK;
    }
    if (cur_left(&c) < 2 || memcmp(c.p, "\x1f\x8b", 2) != 0)
        return ERR_CORRUPT(r->err, pos, "Not a gzipped file: member %u needs magic 1f 8b",
                           r->out->streams + 1);
    c.p += 2;
    if (cur_take(&c, 8, &b) != 0)
        goto eof;
    if (b[0] != 8)
        return ERR_CORRUPT(r->err, pos + 2, "Unknown compression method %u (gzip needs 8)", b[0]);
    unsigned flag = b[1];
    if (flag & 4) { /* FEXTRA: LE16 length, then that many bytes */
        if (cur_take(&c, 2, &b) != 0 || cur_take(&c, ld_le16(b), &b) != 0)
            goto eof;
    }
    for (unsigned bit = 8; bit <= 16; bit <<= 1) /* FNAME, FCOMMENT: NUL-terminated */
        if (flag & bit) {
            const uint8_t *nul = memchr(c.p, 0, cur_left(&c));
            if (!nul)
                goto eof;
            c.p = nul + 1;
        }
    if ((flag & 2) && cur_take(&c, 2, &b) != 0) /* FHCRC: read, never checked by gzip.py */
        goto eof;
    *hlen = (size_t)cur_pos(&c);
    return BRINE_OK;
eof:
    return ERR_CORRUPT(r->err, r->n,
                       "Compressed file ended before the end-of-stream marker was reached "
                       "(gzip member %u header)",
                       r->out->streams + 1);
}

/* gzip.GzipFile: every member, zero padding skipped, anything else an error. */
static brine_status decode_gzip_python(flt_run *r)
{
    size_t pos = 0;
    for (;;) {
        size_t hlen = 0, used = 0;
        int at_end;
        brine_status st = gzip_header(r, pos, &hlen, &at_end);
        if (st != BRINE_OK)
            return st;
        if (at_end)
            break;
        size_t body = pos + hlen;
        size_t start_len = r->out->len;
        z_outcome how;
        const char *why;
        st = inflate_stream(r, body, -MAX_WBITS, &how, &used, &why);
        if (st != BRINE_OK)
            return st;
        if (how == Z_O_ERROR)
            return ERR_CORRUPT(r->err, body + used, "gzip member %u: deflate data is corrupt: %s",
                               r->out->streams + 1, why);
        if (how == Z_O_TRUNCATED || r->n - (body + used) < 8)
            return ERR_CORRUPT(r->err, r->n,
                               "Compressed file ended before the end-of-stream marker was "
                               "reached (gzip member %u)",
                               r->out->streams + 1);
        const uint8_t *t = r->in + body + used;
        size_t got = r->out->len - start_len;
        uint32_t crc = (uint32_t)crc32_z(0, r->out->data + start_len, (z_size_t)got);
        if (ld_le32(t) != crc)
            return ERR_CORRUPT(r->err, body + used,
                               "CRC check failed: gzip member %u stores %08x, data gives %08x",
                               r->out->streams + 1, ld_le32(t), crc);
        if (ld_le32(t + 4) != (uint32_t)got)
            return ERR_CORRUPT(r->err, body + used + 4,
                               "Incorrect length of data produced: gzip member %u stores %u, "
                               "data has %u bytes (mod 2^32)",
                               r->out->streams + 1, ld_le32(t + 4), (uint32_t)got);
        r->out->streams++;
        pos = body + used + 8;
        while (pos < r->n && r->in[pos] == 0) /* "Gzip files can be padded with zeroes" */
            pos++;
        r->out->consumed = pos;
    }
    r->out->end = FLT_END_CLEAN;
    return BRINE_OK;
}

/* zlib.decompress (PYTHON) or joblib's BinaryZlibFile / BinaryGzipFile (JOBLIB): one stream;
 * zlib itself parses the gzip header when wbits is 31 (and checks what gzip.py does not). */
static brine_status decode_one_zlib(flt_run *r, int wbits, int joblib)
{
    z_outcome how;
    size_t used = 0;
    const char *why;
    brine_status st = inflate_stream(r, 0, wbits, &how, &used, &why);
    if (st != BRINE_OK)
        return st;
    const char *what = wbits == 31 ? "gzip" : "zlib";
    if (how == Z_O_ERROR)
        return ERR_CORRUPT(r->err, used, "%s stream is corrupt: %s", what, why);
    if (how == Z_O_TRUNCATED) {
        /* joblib: a read that returns b'' is "end of file, we're good" */
        r->out->silent_truncation = joblib;
        return ERR_CORRUPT(r->err, r->n, "%s stream ends before its end-of-stream marker%s", what,
                           joblib ? " (joblib reads it as a short file)" : "");
    }
    r->out->streams = 1;
    r->out->consumed = used;
    if (used == r->n)
        r->out->end = FLT_END_CLEAN;
    else
        r->out->end = joblib ? FLT_END_HANG : FLT_END_IGNORED;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ bz2 and lzma */

/* One step of a stream decoder over r->in[*pos..limit): returns 1 at stream end, 0 when the
 * input up to limit is used, -1 on a data error (message in *why), or sets *st. */
typedef int (*stream_step)(void *state, flt_run *r, size_t *pos, size_t limit, const char **why,
                           brine_status *st);

static int bz_step(void *state, flt_run *r, size_t *pos, size_t limit, const char **why,
                   brine_status *st)
{
    bz_stream *bs = state;
    for (;;) {
        size_t room;
        if ((*st = out_room(r, &room)) != BRINE_OK)
            return -2;
        size_t in_left = limit - *pos;
        unsigned in_n = in_left > (1u << 30) ? (1u << 30) : (unsigned)in_left;
        unsigned out_n = room > (1u << 30) ? (1u << 30) : (unsigned)room;
        bs->next_in = (char *)(uintptr_t)(r->in + *pos);
        bs->avail_in = in_n;
        bs->next_out = (char *)(r->out->data + r->out->len);
        bs->avail_out = out_n;
        int br = BZ2_bzDecompress(bs);
        *pos += in_n - bs->avail_in;
        r->out->len += out_n - bs->avail_out;
        if ((*st = out_check(r, *pos)) != BRINE_OK)
            return -2;
        if (br == BZ_STREAM_END)
            return 1;
        if (br == BZ_MEM_ERROR) {
            *st = ERR_NOMEM(r->err);
            return -2;
        }
        if (br != BZ_OK) {
            *why = br == BZ_DATA_ERROR_MAGIC ? "Invalid data stream (not a bzip2 header)"
                                             : "Invalid data stream";
            return -1;
        }
        if ((*pos == limit && bs->avail_out > 0) || r->out->len >= r->out_stop)
            return 0;
    }
}

static int xz_step(void *state, flt_run *r, size_t *pos, size_t limit, const char **why,
                   brine_status *st)
{
    lzma_stream *ls = state;
    for (;;) {
        size_t room;
        if ((*st = out_room(r, &room)) != BRINE_OK)
            return -2;
        size_t in_n = limit - *pos;
        ls->next_in = r->in + *pos;
        ls->avail_in = in_n;
        ls->next_out = r->out->data + r->out->len;
        ls->avail_out = room;
        lzma_ret lr = lzma_code(ls, LZMA_RUN);
        *pos += in_n - ls->avail_in;
        r->out->len += room - ls->avail_out;
        if ((*st = out_check(r, *pos)) != BRINE_OK)
            return -2;
        /* _lzma's decompress_buf: GET_CHECK and NO_CHECK are informational; BUF_ERROR with
         * all input used and room left is "needs more input" */
        if (lr == LZMA_GET_CHECK || lr == LZMA_NO_CHECK || lr == LZMA_BUF_ERROR)
            lr = LZMA_OK;
        if (lr == LZMA_STREAM_END)
            return 1;
        if (lr == LZMA_MEM_ERROR || lr == LZMA_MEMLIMIT_ERROR) {
            *st = ERR_NOMEM(r->err);
            return -2;
        }
        if (lr != LZMA_OK) {
            *why = lr == LZMA_FORMAT_ERROR    ? "Input format not supported by decoder"
                   : lr == LZMA_OPTIONS_ERROR ? "Invalid or unsupported options"
                   : lr == LZMA_DATA_ERROR    ? "Corrupt input data"
                                              : "Internal error";
            return -1;
        }
        if ((*pos == limit && ls->avail_out > 0) || r->out->len >= r->out_stop)
            return 0;
    }
}

/* _compression.DecompressReader over bz2 or lzma streams (see filters.h). */
static brine_status decode_streams(flt_run *r, flt_kind k)
{
    size_t pos = 0;
    const char *name = k == FLT_BZIP2 ? "bz2" : "lzma";
    for (;;) {
        int first_stream = r->out->streams == 0;
        if (!first_stream && pos == r->n)
            break;
        bz_stream bs;
        lzma_stream ls = LZMA_STREAM_INIT;
        lzma_allocator la = {lz_alloc, mem_lib_free, r->mem};
        void *state;
        stream_step step;
        if (k == FLT_BZIP2) {
            memset(&bs, 0, sizeof bs);
            bs.bzalloc = bz_alloc;
            bs.bzfree = mem_lib_free;
            bs.opaque = r->mem;
            int br = BZ2_bzDecompressInit(&bs, 0, 0);
            if (br != BZ_OK)
                return br == BZ_MEM_ERROR ? ERR_NOMEM(r->err)
                                          : err_set(r->err, BRINE_ERR_UNSUPPORTED, __LINE__,
                                                    "libbz2 refused to start (%d)", br);
            state = &bs, step = bz_step;
        } else {
            ls.allocator = &la;
            /* as _lzma.LZMADecompressor(FORMAT_AUTO, memlimit=None) */
            lzma_ret lr =
                lzma_auto_decoder(&ls, UINT64_MAX, LZMA_TELL_ANY_CHECK | LZMA_TELL_NO_CHECK);
            if (lr != LZMA_OK)
                return lr == LZMA_MEM_ERROR ? ERR_NOMEM(r->err)
                                            : err_set(r->err, BRINE_ERR_UNSUPPORTED, __LINE__,
                                                      "liblzma refused to start (%d)", (int)lr);
            state = &ls, step = xz_step;
        }
        size_t start = pos, start_len = r->out->len;
        const char *why = NULL;
        brine_status st = BRINE_OK;
        /* The first decompress() call of a stream after the first: it gets the rest of the
         * current block, and returns once it has the 8192 bytes BufferedReader asked for. */
        size_t limit = first_stream ? r->n : first_block_end(pos, r->n);
        if (!first_stream)
            r->out_stop = start_len + PY_READ_BLOCK;
        int res = step(state, r, &pos, limit, &why, &st);
        int trailing_ok = !first_stream && res == -1;
        r->out_stop = SIZE_MAX;
        if (res == 0 && (limit < r->n || r->out->len > start_len))
            res = step(state, r, &pos, r->n, &why, &st);
        if (k == FLT_BZIP2)
            BZ2_bzDecompressEnd(&bs);
        else
            lzma_end(&ls);
        if (res == -2)
            return st;
        if (trailing_ok) {
            /* "Trailing data isn't a valid compressed stream; ignore it." — and what this
             * stream produced in that call is dropped with the exception */
            r->out->len = start_len;
            r->out->consumed = start;
            r->out->end = FLT_END_IGNORED;
            return BRINE_OK;
        }
        if (res == -1)
            return ERR_CORRUPT(r->err, pos, "%s stream %u is corrupt: %s", name,
                               r->out->streams + 1, why);
        if (res == 0)
            return ERR_CORRUPT(r->err, r->n,
                               "Compressed file ended before the end-of-stream marker was "
                               "reached (%s stream %u)",
                               name, r->out->streams + 1);
        r->out->streams++;
        r->out->consumed = pos;
    }
    r->out->end = FLT_END_CLEAN;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ lz4 and zstd */

/* lz4.frame.LZ4FrameFile: frames back to back; LZ4F_decompress returns 0 at each frame end
 * (a skippable frame included) and stops there, which is when Python starts a fresh
 * decompressor. Anything left that is not a frame raises. */
static brine_status decode_lz4(flt_run *r)
{
    LZ4F_dctx *dctx = NULL;
    LZ4F_CustomMem cm = {one_alloc, NULL, mem_lib_free, r->mem};
    dctx = LZ4F_createDecompressionContext_advanced(cm, LZ4F_VERSION);
    if (!dctx)
        return ERR_NOMEM(r->err);
    brine_status st = BRINE_OK;
    size_t pos = 0;
    int in_frame = 0;
    for (;;) {
        if (!in_frame && pos == r->n && r->out->streams > 0)
            break;
        size_t room;
        if ((st = out_room(r, &room)) != BRINE_OK)
            break;
        /* LZ4FrameDecompressor hands out max_length bytes per call: a checksum error at the
         * frame's end comes after the reader has seen the frame's data */
        size_t in_n = r->n - pos, out_n = room < PY_READ_BLOCK ? room : PY_READ_BLOCK;
        room = out_n;
        size_t hint =
            LZ4F_decompress(dctx, r->out->data + r->out->len, &out_n, r->in + pos, &in_n, NULL);
        pos += in_n;
        r->out->len += out_n;
        if (LZ4F_isError(hint)) {
            st = LZ4F_getErrorCode(hint) == LZ4F_ERROR_allocation_failed
                     ? ERR_NOMEM(r->err)
                     : ERR_CORRUPT(r->err, pos, "lz4 frame %u: LZ4F_decompress failed: %s",
                                   r->out->streams + 1, LZ4F_getErrorName(hint));
            break;
        }
        if ((st = out_check(r, pos)) != BRINE_OK)
            break;
        in_frame = hint != 0;
        if (hint == 0) {
            r->out->streams++;
            r->out->consumed = pos;
            continue;
        }
        if (pos == r->n && out_n < room) {
            st = ERR_CORRUPT(r->err, r->n,
                             "Compressed file ended before the end-of-stream marker was "
                             "reached (lz4 frame %u)",
                             r->out->streams + 1);
            break;
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    if (st == BRINE_OK)
        r->out->end = FLT_END_CLEAN;
    return st;
}

/* zstandard.open(...).read(): frames back to back, skippable ones skipped by libzstd; the
 * window is capped at libzstd's default (128 MiB), as ZstdDecompressor(max_window_size=0). */
static brine_status decode_zstd(flt_run *r)
{
    ZSTD_customMem cm = {one_alloc, mem_lib_free, r->mem};
    ZSTD_DCtx *dctx = ZSTD_createDCtx_advanced(cm);
    if (!dctx)
        return ERR_NOMEM(r->err);
    brine_status st = BRINE_OK;
    ZSTD_inBuffer in = {r->in, r->n, 0};
    int in_frame = 0;
    while (in.pos < in.size || in_frame) {
        size_t room;
        if ((st = out_room(r, &room)) != BRINE_OK)
            break;
        /* as for lz4: the reader's 8192-byte reads see the data before a checksum error */
        ZSTD_outBuffer ob = {r->out->data + r->out->len,
                             room < PY_READ_BLOCK ? room : PY_READ_BLOCK, 0};
        size_t before_in = in.pos;
        size_t zr = ZSTD_decompressStream(dctx, &ob, &in);
        r->out->len += ob.pos;
        if (ZSTD_isError(zr)) {
            st = ZSTD_getErrorCode(zr) == ZSTD_error_memory_allocation
                     ? ERR_NOMEM(r->err)
                     : ERR_CORRUPT(r->err, in.pos, "zstd frame %u: %s", r->out->streams + 1,
                                   ZSTD_getErrorName(zr));
            break;
        }
        if ((st = out_check(r, in.pos)) != BRINE_OK)
            break;
        if (zr == 0) {
            in_frame = 0;
            r->out->streams++;
            r->out->consumed = in.pos;
            continue;
        }
        in_frame = 1;
        if (in.pos == in.size && in.pos == before_in && ob.pos == 0) {
            /* zstandard's reader returns b'' here: end of file, no exception */
            r->out->silent_truncation = 1;
            st = ERR_CORRUPT(r->err, r->n,
                             "zstd frame %u ends before its last block (zstandard reads it "
                             "as a short file)",
                             r->out->streams + 1);
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    if (st == BRINE_OK)
        r->out->end = FLT_END_CLEAN;
    return st;
}

/* ------------------------------------------------------------------ entry point */

brine_status flt_decode(flt_kind k, flt_reader reader, const uint8_t *d, size_t n, mem_budget *mem,
                        const brine_limits *lim, flt_output *out, brine_error *err)
{
    static const uint8_t empty[1];
    if (out)
        memset(out, 0, sizeof *out);
    if (!out || !mem || (!d && n))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "flt_decode: missing argument");
    flt_run r = {
        .mem = mem, .out = out, .err = err, .in = d ? d : empty, .n = n, .out_stop = SIZE_MAX};
    lim_resolve(lim, &r.lim);
    int joblib = reader == FLT_READER_JOBLIB;
    switch (k) {
    case FLT_GZIP: return joblib ? decode_one_zlib(&r, 31, 1) : decode_gzip_python(&r);
    case FLT_ZLIB: return decode_one_zlib(&r, MAX_WBITS, joblib);
    case FLT_BZIP2:
    case FLT_XZ:
    case FLT_LZMA_ALONE: /* LZMAFile reads all three through FORMAT_AUTO */
    case FLT_LZIP: return decode_streams(&r, k);
    case FLT_LZ4: return decode_lz4(&r);
    case FLT_ZSTD: return decode_zstd(&r);
    case FLT_NONE:
    case FLT_KIND_COUNT: break;
    }
    return err_set(err, BRINE_ERR_USAGE, __LINE__, "flt_decode: no filter %d", (int)k);
}
