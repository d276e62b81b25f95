/*
 * sevenzip_header.c — a 7z header's counts, read before libarchive reads them.
 *
 * Threat model: the header is hostile. Debian 12's libarchive (3.6) sizes allocations by the
 * counts a header declares — files, folders, pack and unpack streams — checked only against
 * 100 million, and allocates an LZMA dictionary or PPMd model of the size a coder's
 * properties declare: a 124-byte file declaring 67 million files made it ask for 5.9 GB
 * before it read another byte (fuzz/FINDINGS.md, F18). Written by hand because it is a
 * validator: it walks the header as libarchive does (7zFormat.txt), through the stream
 * descriptions to the file count, the last number anything is sized by, and stops there.
 * An LZMA- or LZMA2-compressed header (7-Zip's default) is decoded first, with liblzma,
 * into the budget.
 */
#include "formats/sevenzip_header.h"

#include <lzma.h>
#include <string.h>
#include <zlib.h>

#include "core/cursor.h"
#include "core/error.h"

/* Property ids (7zFormat.txt). */
enum {
    K_END = 0x00,
    K_HEADER = 0x01,
    K_ARCHIVE_PROPERTIES = 0x02,
    K_MAIN_STREAMS_INFO = 0x04,
    K_FILES_INFO = 0x05,
    K_PACK_INFO = 0x06,
    K_UNPACK_INFO = 0x07,
    K_SUBSTREAMS_INFO = 0x08,
    K_SIZE = 0x09,
    K_CRC = 0x0A,
    K_FOLDER = 0x0B,
    K_CODERS_UNPACK_SIZE = 0x0C,
    K_NUM_UNPACK_STREAM = 0x0D,
    K_ENCODED_HEADER = 0x17,
};

/* libarchive's own bound on coders per folder; 7-Zip's on the streams of one folder. */
enum { MAX_CODERS = 4, MAX_FOLDER_STREAMS = 64 };

static const uint8_t ID_COPY[] = {0x00};
static const uint8_t ID_LZMA[] = {0x03, 0x01, 0x01};
static const uint8_t ID_LZMA2[] = {0x21};
static const uint8_t ID_PPMD[] = {0x03, 0x04, 0x01};
static const uint8_t ID_AES[] = {0x06, 0xF1, 0x07, 0x01};

typedef struct coder {
    const uint8_t *id, *props;
    size_t id_len;
    uint64_t props_len;
} coder;

/* The first folder of the encoded header's stream description: how the header is packed. */
typedef struct packed_header {
    uint64_t pack_pos, pack_size, unpack_size;
    coder coders[MAX_CODERS];
    size_t n_coders;
    uint64_t n_folders, n_pack_streams;
    int crc_defined;
    uint32_t crc;
} packed_header;

/* What the stream description says per folder, for the parts that follow it. */
typedef struct folder_info {
    uint64_t unpack_streams;
    uint8_t outs, crc_defined;
} folder_info;

typedef struct reader {
    cursor c;
    uint64_t base; /* offset of the header in the file, for messages */
    const brine_limits *lim;
    mem_budget *mem;
    brine_error *err;
    packed_header *ph; /* recorded while reading an encoded header's description, else NULL */
} reader;

static brine_status cut(reader *r)
{
    return ERR_CORRUPT(r->err, r->base + cur_pos(&r->c), "7z header ends early");
}

static brine_status byte(reader *r, uint8_t *v)
{
    const uint8_t *p;
    *v = 0;
    if (cur_take(&r->c, 1, &p))
        return cut(r);
    *v = *p;
    return BRINE_OK;
}

static brine_status skip(reader *r, uint64_t n, const uint8_t **p)
{
    const uint8_t *q;
    if (cur_take(&r->c, n, p ? p : &q))
        return cut(r);
    return BRINE_OK;
}

/* 7z NUMBER: the first byte's leading one bits count the bytes that follow (little-endian);
 * its remaining bits are the value's high part. */
static brine_status number(reader *r, uint64_t *v)
{
    uint8_t first, b;
    brine_status st = byte(r, &first);
    *v = 0;
    for (unsigned i = 0; i < 8 && !st; i++) {
        uint8_t mask = (uint8_t)(0x80u >> i);
        if (!(first & mask)) {
            *v |= (uint64_t)(first & (mask - 1u)) << (8 * i);
            return BRINE_OK;
        }
        if (!(st = byte(r, &b)))
            *v |= (uint64_t)b << (8 * i);
    }
    return st;
}

static brine_status expect(reader *r, uint8_t want)
{
    uint8_t got;
    brine_status st = byte(r, &got);
    if (!st && got != want)
        st = ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1,
                         "7z header: property 0x%02x where 0x%02x belongs", got, want);
    return st;
}

/* A count libarchive will size an allocation by: within archive_max_members, and within what
 * the rest of the header can describe, per_byte items a byte and spare more. */
static brine_status count(reader *r, const char *what, uint64_t per_byte, uint64_t spare,
                          uint64_t *v)
{
    uint64_t at = r->base + cur_pos(&r->c);
    brine_status st = number(r, v);
    if (st)
        return st;
    if (*v > r->lim->archive_max_members)
        return err_limit(r->err, "archive_max_members", r->lim->archive_max_members, *v, at, 1,
                         __LINE__);
    uint64_t room;
    if (!__builtin_mul_overflow((uint64_t)cur_left(&r->c), per_byte, &room) &&
        !__builtin_add_overflow(room, spare, &room) && *v > room)
        return ERR_CORRUPT(r->err, at, "7z header declares %llu %s in %zu bytes",
                           (unsigned long long)*v, what, cur_left(&r->c));
    return BRINE_OK;
}

static int bit(const uint8_t *bits, uint64_t i)
{
    return !bits || (bits[i / 8] >> (7 - i % 8)) & 1;
}

/* Digests: a defined bit per item (*bits, NULL when all are defined), then a CRC per defined
 * item (*crcs). */
static brine_status digests(reader *r, uint64_t n, const uint8_t **bits, const uint8_t **crcs)
{
    uint8_t all;
    brine_status st = byte(r, &all);
    *bits = NULL;
    if (!st && !all)
        st = skip(r, (n + 7) / 8, bits);
    uint64_t defined = 0;
    for (uint64_t i = 0; i < n && !st; i++)
        defined += (uint64_t)bit(*bits, i);
    return st ? st : skip(r, defined * 4, crcs);
}

static brine_status pack_info(reader *r)
{
    uint64_t pos, n = 0, size;
    uint8_t id;
    brine_status st = number(r, &pos);
    if (!st)
        st = count(r, "pack streams", 1, 0, &n);
    if (!st && n == 0)
        st = ERR_CORRUPT(r->err, r->base + cur_pos(&r->c), "7z header declares no pack streams");
    if (!st)
        st = expect(r, K_SIZE);
    for (uint64_t i = 0; i < n && !st; i++)
        if (!(st = number(r, &size)) && i == 0 && r->ph)
            r->ph->pack_pos = pos, r->ph->pack_size = size, r->ph->n_pack_streams = n;
    if (!st)
        st = byte(r, &id);
    const uint8_t *bits, *crcs;
    if (!st && id == K_CRC && !(st = digests(r, n, &bits, &crcs)))
        st = byte(r, &id);
    if (!st && id != K_END)
        st = ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1, "7z pack info does not end");
    return st;
}

static int same_id(const coder *c, const uint8_t *id, size_t n)
{
    return c->id_len == n && memcmp(c->id, id, n) == 0;
}

/* The memory a decoder allocates at once, by the size its properties declare. */
static brine_status coder_memory(reader *r, const coder *c, uint64_t at)
{
    uint64_t need = 0;
    if ((same_id(c, ID_LZMA, sizeof ID_LZMA) || same_id(c, ID_PPMD, sizeof ID_PPMD)) &&
        c->props_len >= 5)
        need = ld_le32(c->props + 1);
    else if (same_id(c, ID_LZMA2, sizeof ID_LZMA2) && c->props_len >= 1)
        need = c->props[0] >= 40 ? UINT32_MAX
                                 : (uint64_t)(2u | (c->props[0] & 1u)) << (c->props[0] / 2 + 11);
    if (need > r->lim->max_memory)
        return err_limit(r->err, "max_memory", r->lim->max_memory, need, at, 1, __LINE__);
    return BRINE_OK;
}

static brine_status folder(reader *r, folder_info *f, int record)
{
    uint64_t n_coders, ins = 0, outs = 0, v;
    brine_status st = number(r, &n_coders);
    if (!st && (n_coders == 0 || n_coders > MAX_CODERS))
        st = ERR_CORRUPT(r->err, r->base + cur_pos(&r->c), "7z folder with %llu coders",
                         (unsigned long long)n_coders);
    for (uint64_t i = 0; i < n_coders && !st; i++) {
        uint64_t at = r->base + cur_pos(&r->c);
        uint8_t flags;
        coder c = {0};
        uint64_t in = 1, out = 1;
        if ((st = byte(r, &flags)))
            break;
        if (flags & 0x80)
            return ERR_CORRUPT(r->err, at, "7z coder with alternative methods");
        c.id_len = flags & 0x0Fu;
        st = skip(r, c.id_len, &c.id);
        if (!st && (flags & 0x10) && !(st = number(r, &in)))
            st = number(r, &out);
        if (!st && (flags & 0x20) && !(st = number(r, &c.props_len)))
            st = skip(r, c.props_len, &c.props);
        if (!st)
            st = coder_memory(r, &c, at);
        if (st)
            break;
        if (in > MAX_FOLDER_STREAMS || out > MAX_FOLDER_STREAMS)
            return ERR_CORRUPT(r->err, at, "7z coder with %llu in and %llu out streams",
                               (unsigned long long)in, (unsigned long long)out);
        ins += in, outs += out;
        if (record)
            r->ph->coders[i] = c, r->ph->n_coders = (size_t)n_coders;
    }
    if (st)
        return st;
    if (outs == 0 || ins < outs - 1 || ins > MAX_FOLDER_STREAMS || outs > MAX_FOLDER_STREAMS)
        return ERR_CORRUPT(r->err, r->base + cur_pos(&r->c), "7z folder streams do not add up");
    for (uint64_t i = 0; i < 2 * (outs - 1) && !st; i++) /* bind pairs */
        st = number(r, &v);
    uint64_t packed = ins - (outs - 1);
    for (uint64_t i = 0; packed > 1 && i < packed && !st; i++)
        st = number(r, &v);
    f->outs = (uint8_t)outs;
    return st;
}

static brine_status unpack_info(reader *r, folder_info **folders, uint64_t *n)
{
    uint8_t id;
    brine_status st = expect(r, K_FOLDER);
    if (!st)
        st = count(r, "folders", 1, 0, n);
    if (!st)
        st = byte(r, &id);
    if (st)
        return st;
    if (id != 0) /* folders kept in another stream: libarchive refuses them too */
        return ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1, "7z external folders");
    if (*n && !(*folders = mem_calloc(r->mem, (size_t)*n, sizeof **folders)))
        return ERR_NOMEM(r->err);
    if (r->ph)
        r->ph->n_folders = *n;
    for (uint64_t i = 0; i < *n && !st; i++)
        st = folder(r, &(*folders)[i], r->ph && i == 0);
    if (!st)
        st = expect(r, K_CODERS_UNPACK_SIZE);
    for (uint64_t i = 0; i < *n && !st; i++) {
        for (unsigned j = 0; j < (*folders)[i].outs && !st; j++) {
            uint64_t size;
            if (!(st = number(r, &size)) && r->ph && i == 0 && j == 0)
                r->ph->unpack_size = size;
        }
    }
    if (!st)
        st = byte(r, &id);
    const uint8_t *bits, *crcs;
    if (!st && id == K_CRC && !(st = digests(r, *n, &bits, &crcs))) {
        for (uint64_t i = 0; i < *n; i++)
            (*folders)[i].crc_defined = (uint8_t)bit(bits, i);
        if (r->ph && *n && bit(bits, 0))
            r->ph->crc_defined = 1, r->ph->crc = ld_le32(crcs);
        st = byte(r, &id);
    }
    if (!st && id != K_END)
        st = ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1, "7z coders info does not end");
    return st;
}

/* Sets *streams to the number of unpack streams (the files with data). */
static brine_status substreams_info(reader *r, folder_info *folders, uint64_t n, uint64_t *streams)
{
    uint8_t id;
    brine_status st = byte(r, &id);
    for (uint64_t i = 0; i < n; i++)
        folders[i].unpack_streams = 1;
    *streams = n;
    if (!st && id == K_NUM_UNPACK_STREAM) {
        *streams = 0;
        for (uint64_t i = 0; i < n && !st; i++) {
            uint64_t at = r->base + cur_pos(&r->c);
            /* n streams take n - 1 sizes */
            if ((st = count(r, "unpack streams", 1, 1, &folders[i].unpack_streams)))
                break;
            *streams += folders[i].unpack_streams; /* both at most archive_max_members */
            if (*streams > r->lim->archive_max_members)
                st = err_limit(r->err, "archive_max_members", r->lim->archive_max_members, *streams,
                               at, 1, __LINE__);
        }
        if (!st)
            st = byte(r, &id);
    }
    if (!st && id == K_SIZE) {
        uint64_t size;
        for (uint64_t i = 0; i < n && !st; i++)
            for (uint64_t j = 1; j < folders[i].unpack_streams && !st; j++)
                st = number(r, &size);
        if (!st)
            st = byte(r, &id);
    }
    if (!st && id == K_CRC) {
        uint64_t n_digests = 0;
        for (uint64_t i = 0; i < n; i++)
            if (folders[i].unpack_streams != 1 || !folders[i].crc_defined)
                n_digests += folders[i].unpack_streams;
        const uint8_t *bits, *crcs;
        if (!(st = digests(r, n_digests, &bits, &crcs)))
            st = byte(r, &id);
    }
    if (!st && id != K_END)
        st = ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1, "7z substreams info does not end");
    return st;
}

/* StreamsInfo: pack info, coders, substreams, each optional, in that order. */
static brine_status streams_info(reader *r, uint64_t *streams)
{
    folder_info *folders = NULL;
    uint64_t n = 0;
    uint8_t id;
    brine_status st = byte(r, &id);
    *streams = 0;
    if (!st && id == K_PACK_INFO && !(st = pack_info(r)))
        st = byte(r, &id);
    if (!st && id == K_UNPACK_INFO && !(st = unpack_info(r, &folders, &n)))
        st = byte(r, &id);
    *streams = n;
    if (!st && id == K_SUBSTREAMS_INFO && !(st = substreams_info(r, folders, n, streams)))
        st = byte(r, &id);
    if (!st && id != K_END)
        st = ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1, "7z streams info does not end");
    if (folders)
        mem_free(r->mem, folders, (size_t)n * sizeof *folders);
    return st;
}

/* The header after its kHeader byte, up to and including the file count. */
static brine_status header(reader *r)
{
    uint8_t id;
    uint64_t streams = 0, files;
    brine_status st = byte(r, &id);
    /* Archive properties are (type, size, bytes) to 7-Zip, but libarchive 3.6 reads the type
     * and the size and never skips the bytes: from there the two read different headers (F20:
     * property bytes that libarchive took for a file count of 67,108,863). 7-Zip never writes
     * them, so a header with them is refused rather than judged by one reading. */
    if (!st && id == K_ARCHIVE_PROPERTIES)
        return ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1,
                           "7z header has archive properties: 7-Zip skips their bytes, "
                           "libarchive reads them as the header that follows");
    if (!st && id == K_MAIN_STREAMS_INFO && !(st = streams_info(r, &streams)))
        st = byte(r, &id);
    if (st || id == K_END)
        return st;
    if (id != K_FILES_INFO)
        return ERR_CORRUPT(r->err, r->base + cur_pos(&r->c) - 1,
                           "7z header: property 0x%02x where the files belong", id);
    /* files beyond those with data are marked in a bitmap, one bit each */
    return count(r, "files", 8, streams, &files);
}

/* Decodes the packed header into out[0..ph->unpack_size). */
static brine_status unpack_header(reader *r, const packed_header *ph, const uint8_t *packed,
                                  uint8_t *out)
{
    const coder *c = &ph->coders[0];
    if (same_id(c, ID_COPY, sizeof ID_COPY)) {
        if (ph->pack_size < ph->unpack_size)
            return ERR_CORRUPT(r->err, ph->pack_pos + 32, "7z stored header is cut short");
        memcpy(out, packed, (size_t)ph->unpack_size);
        return BRINE_OK;
    }
    lzma_allocator la = {mem_lib_alloc, mem_lib_free, r->mem};
    lzma_filter filters[2] = {
        {same_id(c, ID_LZMA, sizeof ID_LZMA) ? LZMA_FILTER_LZMA1 : LZMA_FILTER_LZMA2, NULL},
        {LZMA_VLI_UNKNOWN, NULL}};
    lzma_ret lr = lzma_properties_decode(&filters[0], &la, c->props, (size_t)c->props_len);
    if (lr == LZMA_MEM_ERROR)
        return ERR_NOMEM(r->err);
    if (lr != LZMA_OK)
        return ERR_CORRUPT(r->err, ph->pack_pos + 32, "7z header: bad LZMA properties");
    /* No distance reaches past the header's own size: a larger dictionary is never used. */
    lzma_options_lzma *opt = filters[0].options;
    if (opt->dict_size > ph->unpack_size)
        opt->dict_size =
            ph->unpack_size < LZMA_DICT_SIZE_MIN ? LZMA_DICT_SIZE_MIN : (uint32_t)ph->unpack_size;
    lzma_stream ls = LZMA_STREAM_INIT;
    ls.allocator = &la;
    lr = lzma_raw_decoder(&ls, filters);
    mem_lib_free(r->mem, filters[0].options);
    ls.next_in = packed;
    ls.avail_in = (size_t)ph->pack_size;
    ls.next_out = out;
    ls.avail_out = (size_t)ph->unpack_size;
    while (lr == LZMA_OK && ls.avail_out) {
        size_t in = ls.avail_in, left = ls.avail_out;
        lr = lzma_code(&ls, LZMA_RUN);
        if (lr == LZMA_OK && in == ls.avail_in && left == ls.avail_out)
            break; /* no progress: the input is used up */
    }
    lzma_end(&ls);
    if (lr == LZMA_MEM_ERROR)
        return ERR_NOMEM(r->err);
    if (ls.avail_out)
        return ERR_CORRUPT(r->err, ph->pack_pos + 32,
                           "7z header does not decompress to its declared %llu bytes",
                           (unsigned long long)ph->unpack_size);
    return BRINE_OK;
}

static brine_status encoded_header(reader *r, const uint8_t *data, size_t len)
{
    packed_header ph;
    memset(&ph, 0, sizeof ph);
    r->ph = &ph;
    uint64_t streams, end;
    brine_status st = streams_info(r, &streams);
    r->ph = NULL;
    if (st)
        return st;
    if (!ph.n_folders || !ph.n_pack_streams || !ph.unpack_size ||
        __builtin_add_overflow(ph.pack_pos, ph.pack_size, &end) || end > len - 32)
        return ERR_CORRUPT(r->err, r->base, "7z encoded header: no packed header in the file");
    for (size_t i = 0; i < ph.n_coders; i++)
        if (same_id(&ph.coders[i], ID_AES, sizeof ID_AES))
            return err_at(r->err, BRINE_ERR_UNSUPPORTED, r->base, __LINE__,
                          "7z header is encrypted (brine reads no passwords)");
    const coder *c = &ph.coders[0];
    if (ph.n_coders != 1 ||
        !(same_id(c, ID_LZMA, sizeof ID_LZMA) || same_id(c, ID_LZMA2, sizeof ID_LZMA2) ||
          same_id(c, ID_COPY, sizeof ID_COPY)))
        return err_at(r->err, BRINE_ERR_UNSUPPORTED, r->base, __LINE__,
                      "7z header packed by a method brine does not check (only LZMA, LZMA2 "
                      "or stored)");
    uint64_t ratio_cap;
    if (ph.unpack_size > r->lim->zip_max_entry_bytes)
        return err_limit(r->err, "zip_max_entry_bytes", r->lim->zip_max_entry_bytes, ph.unpack_size,
                         r->base, 1, __LINE__);
    if (!__builtin_mul_overflow((uint64_t)len, r->lim->zip_max_ratio, &ratio_cap) &&
        ph.unpack_size > ratio_cap)
        return err_limit(r->err, "zip_max_ratio", r->lim->zip_max_ratio, ph.unpack_size / len,
                         r->base, 1, __LINE__);
    size_t size = (size_t)ph.unpack_size;
    uint8_t *plain = mem_alloc(r->mem, size);
    if (!plain)
        return ERR_NOMEM(r->err);
    st = unpack_header(r, &ph, data + 32 + ph.pack_pos, plain);
    if (!st && ph.crc_defined && (uint32_t)crc32(0, plain, (uInt)size) != ph.crc)
        st = ERR_CORRUPT(r->err, r->base, "7z decoded header CRC mismatch");
    if (!st) {
        reader inner = *r;
        cur_init(&inner.c, plain, size);
        if (!(st = expect(&inner, K_HEADER)))
            st = header(&inner);
    }
    mem_free(r->mem, plain, size);
    return st;
}

brine_status sz_header_check(const uint8_t *data, size_t len, const brine_limits *lim,
                             mem_budget *mem, brine_error *err)
{
    uint64_t off = ld_le64(data + 12), size = ld_le64(data + 20);
    if (size == 0)
        return BRINE_OK; /* an empty archive */
    reader r = {.base = 32 + off, .lim = lim, .mem = mem, .err = err};
    cur_init(&r.c, data + 32 + off, (size_t)size);
    uint8_t id;
    brine_status st = byte(&r, &id);
    if (st)
        return st;
    if (id == K_HEADER)
        return header(&r);
    if (id == K_ENCODED_HEADER)
        return encoded_header(&r, data, len);
    return ERR_CORRUPT(err, r.base, "7z header starts with property 0x%02x", id);
}
