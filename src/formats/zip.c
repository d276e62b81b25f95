/*
 * zip.c — the zip directory reader (APPNOTE.TXT 6.3.x), read the way miniz reads it for
 * torch.load (caffe2/serialize/inline_container.cc → mz_zip_reader_*).
 *
 * Threat model: every byte is hostile. The end record is searched for only in the last
 * 22 + 65535 bytes (the comment's maximum), every count and size is checked against the bytes
 * that exist and against brine_limits before anything is allocated, all offset arithmetic is
 * checked, and inflation writes into a buffer of the declared size and fails if the stream
 * wants more. Where readers disagree (zipfile vs miniz: local names, CRCs, local flags,
 * trailing directory bytes, prepended data) brine reads like miniz and records the
 * disagreement as an anomaly, because a scanner that reads differently from the loader can be
 * steered past (CVE-2025-1944, -1945, -10156).
 */
#include "formats/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/file.h"
#include "core/limits.h"

/* Record signatures and fixed sizes (APPNOTE 4.3.7, 4.3.12, 4.3.14–4.3.16). */
#define SIG_LOCAL      0x04034b50u
#define SIG_CENTRAL    0x02014b50u
#define SIG_EOCD       0x06054b50u
#define SIG_EOCD64     0x06064b50u
#define SIG_LOCATOR    0x07064b50u
#define SIG_DESCRIPTOR 0x08074b50u
#define LOCAL_SIZE     30u
#define CENTRAL_SIZE   46u
#define EOCD_SIZE      22u
#define EOCD64_SIZE    56u
#define LOCATOR_SIZE   20u
#define MAX_COMMENT    65535u
#define EXTRA_ZIP64    0x0001u

/* General-purpose flag bits (APPNOTE 4.4.4). */
#define FLAG_ENCRYPTED  0x0001u
#define FLAG_DESCRIPTOR 0x0008u
#define FLAG_PATCH      0x0020u
#define FLAG_STRONG     0x0040u
#define FLAG_MASKED     0x2000u

struct zip_archive {
    const uint8_t *data;
    size_t len;
    mem_budget *mem;
    brine_limits lim;
    zip_entry *entries;
    size_t n;
    zip_entry **by_name; /* sorted by ASCII-folded name, then directory order */
    uint64_t anomalies;
    uint64_t cd_ofs, cd_size, eocd_ofs;
    int zip64;
    uint64_t inflated; /* bytes inflated so far, for zip_max_total_bytes */
    uint64_t concat;   /* bytes prepended to the archive (zipfile shifts every offset) */
    int src_fd;        /* the file data maps (core/file.h), or -1: headers are pread from it */
    uint64_t src_off;  /* where data starts in that file */
};

/* Bytes [at, at + n) of the archive (the caller checked they exist): pread into buf when data
 * is a mapped file, else (or when n exceeds cap, or the read falls short) the mapping itself.
 * Touching a mapped page maps the whole page-cache folio it sits in, so reading a few header
 * bytes through the mapping would count MiBs of tensor bytes in the resident set. */
static const uint8_t *peek(const zip_archive *za, uint64_t at, size_t n, uint8_t *buf, size_t cap)
{
    if (za->src_fd < 0 || n > cap)
        return za->data + at;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(za->src_fd, buf + got, n - got, (off_t)(za->src_off + at + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return za->data + at;
        got += (size_t)r;
    }
    return buf;
}

/* ------------------------------------------------------------------ small helpers */

/* A printable, truncated copy of an entry name for messages (names are arbitrary bytes). */
static const char *show_name(const zip_entry *e, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < e->name_len && o + 5 < cap; i++) {
        uint8_t c = e->name[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            static const char hex[] = "0123456789abcdef";
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    if (o + 5 >= cap && cap >= 4) {
        o = cap - 4;
        buf[o++] = '.';
        buf[o++] = '.';
        buf[o++] = '.';
    }
    buf[o] = '\0';
    return buf;
}

static int fold(uint8_t c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

/* miniz's mz_zip_filename_compare: ASCII tolower, then length. */
static int cmp_folded(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        int d = fold(a[i]) - fold(b[i]);
        if (d)
            return d;
    }
    return alen < blen ? -1 : alen > blen;
}

static int cmp_exact(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int d = n ? memcmp(a, b, n) : 0;
    if (d)
        return d;
    return alen < blen ? -1 : alen > blen;
}

static int by_folded_then_pos(const void *pa, const void *pb)
{
    const zip_entry *a = *(const zip_entry *const *)pa, *b = *(const zip_entry *const *)pb;
    int d = cmp_folded(a->name, a->name_len, b->name, b->name_len);
    if (d)
        return d;
    return a < b ? -1 : a > b;
}

static int by_exact_then_pos(const void *pa, const void *pb)
{
    const zip_entry *a = *(const zip_entry *const *)pa, *b = *(const zip_entry *const *)pb;
    int d = cmp_exact(a->name, a->name_len, b->name, b->name_len);
    if (d)
        return d;
    return a < b ? -1 : a > b;
}

/* Looks for extra field `id` in extra[0..len). Returns 1 and the field when found, 0 when
 * absent, -1 when the extra area is malformed before the field is found. */
static int find_extra(const uint8_t *extra, size_t len, uint16_t id, const uint8_t **field,
                      size_t *flen)
{
    cursor c;
    cur_init(&c, extra, len);
    while (cur_left(&c)) {
        const uint8_t *h, *body;
        if (cur_take(&c, 4, &h))
            return -1;
        uint16_t fid = ld_le16(h), n = ld_le16(h + 2);
        if (cur_take(&c, n, &body))
            return -1;
        if (fid == id) {
            *field = body;
            *flen = n;
            return 1;
        }
    }
    return 0;
}

/* Every field header and body of an extra area fits (APPNOTE 4.5.1). */
static int extra_well_formed(const uint8_t *extra, size_t len)
{
    cursor c;
    cur_init(&c, extra, len);
    while (cur_left(&c)) {
        const uint8_t *h, *body;
        if (cur_take(&c, 4, &h) || cur_take(&c, ld_le16(h + 2), &body))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ end records */

typedef struct dir_info {
    uint64_t eocd_ofs;
    uint64_t entries;
    uint64_t cd_size, cd_ofs;
    uint64_t dir_start; /* where the end records begin: EOCD64 when zip64, else EOCD */
    uint32_t this_disk, cd_disk;
    int zip64;
} dir_info;

/* Finds the end-of-central-directory record the way mz_zip_reader_locate_header_sig does:
 * the last signature, scanning back from the end, that leaves at least 22 bytes; never
 * further back than 22 + 65535 bytes, because the comment is at most 65535 bytes long. */
static brine_status find_eocd(zip_archive *za, dir_info *di, brine_error *err)
{
    const uint8_t *d = za->data;
    size_t len = za->len;
    if (len < EOCD_SIZE)
        return ERR_CORRUPT(err, 0,
                           "not a zip: the end-of-central-directory record needs %u bytes, "
                           "the file has %zu",
                           EOCD_SIZE, len);
    size_t lowest = len > EOCD_SIZE + MAX_COMMENT ? len - (EOCD_SIZE + MAX_COMMENT) : 0;
    size_t p = len - EOCD_SIZE;
    for (;;) {
        if (ld_le32(d + p) == SIG_EOCD)
            break;
        if (p == lowest)
            return ERR_CORRUPT(err, lowest,
                               "not a zip: no end-of-central-directory record in the last "
                               "%zu bytes",
                               len - lowest);
        p--;
    }
    di->eocd_ofs = p;
    const uint8_t *r = d + p;
    uint16_t comment = ld_le16(r + 20);
    if ((uint64_t)p + EOCD_SIZE + comment != len)
        za->anomalies |= ZIP_A_EOCD_COMMENT;
    /* An earlier end record whose comment reaches exactly to the end of the file and covers
     * this one: the "EOCD in comment" trick. miniz and zipfile both take the last one. */
    for (size_t q = lowest; q < p; q++) {
        if (ld_le32(d + q) == SIG_EOCD && (uint64_t)q + EOCD_SIZE + ld_le16(d + q + 20) == len) {
            za->anomalies |= ZIP_A_EOCD_IN_COMMENT;
            break;
        }
    }
    di->this_disk = ld_le16(r + 4);
    di->cd_disk = ld_le16(r + 6);
    uint64_t on_disk = ld_le16(r + 8);
    di->entries = ld_le16(r + 10);
    di->cd_size = ld_le32(r + 12);
    di->cd_ofs = ld_le32(r + 16);
    di->dir_start = p;

    /* ZIP64: a locator right before the end record (APPNOTE 4.3.15). */
    if (p < LOCATOR_SIZE || ld_le32(d + p - LOCATOR_SIZE) != SIG_LOCATOR) {
        if (on_disk != di->entries)
            return ERR_CORRUPT(err, p,
                               "multi-disk archives are not supported (%llu entries on this "
                               "disk, %llu in total)",
                               (unsigned long long)on_disk, (unsigned long long)di->entries);
        return BRINE_OK;
    }
    uint64_t loc = p - LOCATOR_SIZE;
    const uint8_t *l = d + loc;
    uint32_t disks = ld_le32(l + 16);
    if (disks != 1)
        return ERR_CORRUPT(err, loc,
                           "multi-disk archives are not supported (the ZIP64 locator says "
                           "%u disks)",
                           disks);
    uint64_t e64 = ld_le64(l + 8);
    int found = 0;
    /* miniz 2.1 (torch 1.13) reads where the locator points; newer miniz also tries the
     * place right before the locator. Both must hold a ZIP64 end record, else fail closed. */
    if (loc >= EOCD64_SIZE && e64 <= loc - EOCD64_SIZE && ld_le32(d + e64) == SIG_EOCD64) {
        found = 1;
    } else if (loc >= EOCD64_SIZE && ld_le32(d + loc - EOCD64_SIZE) == SIG_EOCD64) {
        e64 = loc - EOCD64_SIZE;
        found = 1;
        za->anomalies |= ZIP_A_ZIP64_LOCATOR;
    }
    if (!found)
        return ERR_CORRUPT(err, loc,
                           "the ZIP64 locator points at offset %llu, where there is no ZIP64 "
                           "end-of-central-directory record",
                           (unsigned long long)ld_le64(l + 8));
    const uint8_t *z = d + e64;
    if (ld_le64(z + 4) < EOCD64_SIZE - 12)
        return ERR_CORRUPT(err, e64 + 4,
                           "ZIP64 end record declares %llu bytes, it needs at least %u",
                           (unsigned long long)ld_le64(z + 4), EOCD64_SIZE - 12);
    uint32_t this64 = ld_le32(z + 16), cd64 = ld_le32(z + 20);
    uint64_t on_disk64 = ld_le64(z + 24), total64 = ld_le64(z + 32);
    uint64_t size64 = ld_le64(z + 40), ofs64 = ld_le64(z + 48);
    /* Readers that use ZIP64 values only when the classic ones are saturated would see a
     * different directory than miniz, which always uses them. */
    if ((di->entries != 0xFFFF && di->entries != total64) ||
        (on_disk != 0xFFFF && on_disk != on_disk64) ||
        (di->cd_size != 0xFFFFFFFFu && di->cd_size != size64) ||
        (di->cd_ofs != 0xFFFFFFFFu && di->cd_ofs != ofs64))
        za->anomalies |= ZIP_A_ZIP64_MISMATCH;
    if (on_disk64 != total64)
        return ERR_CORRUPT(err, e64 + 24,
                           "multi-disk archives are not supported (%llu entries on this "
                           "disk, %llu in total)",
                           (unsigned long long)on_disk64, (unsigned long long)total64);
    di->this_disk = this64;
    di->cd_disk = cd64;
    di->entries = total64;
    di->cd_size = size64;
    di->cd_ofs = ofs64;
    di->dir_start = e64;
    di->zip64 = 1;
    return BRINE_OK;
}

/* ------------------------------------------------------------------ one entry */

/* Reads central-directory record i at c into e. Structural failures (the directory cannot be
 * walked further) are errors; problems of this entry alone become anomaly bits. */
static brine_status read_central(zip_archive *za, cursor *c, size_t i, uint32_t this_disk,
                                 zip_entry *e, brine_error *err)
{
    uint64_t at = za->cd_ofs + cur_pos(c);
    const uint8_t *h;
    if (cur_take(c, CENTRAL_SIZE, &h))
        return ERR_CORRUPT(err, at,
                           "central directory record %zu needs %u bytes, %zu remain in the "
                           "directory",
                           i, CENTRAL_SIZE, cur_left(c));
    if (ld_le32(h) != SIG_CENTRAL)
        return ERR_CORRUPT(err, at,
                           "central directory record %zu: expected signature 50 4b 01 02, "
                           "found %02x %02x %02x %02x",
                           i, h[0], h[1], h[2], h[3]);
    uint16_t nlen = ld_le16(h + 28), xlen = ld_le16(h + 30), clen = ld_le16(h + 32);
    uint16_t disk = ld_le16(h + 34);
    const uint8_t *name, *extra, *comment;
    if (cur_take(c, nlen, &name) || cur_take(c, xlen, &extra) || cur_take(c, clen, &comment))
        return ERR_CORRUPT(err, at,
                           "central directory record %zu needs %u bytes of name, extra and "
                           "comment; the directory ends first",
                           i, (unsigned)nlen + xlen + clen);
    (void)comment;
    /* mz_zip_reader_read_central_dir refuses the whole archive for these. */
    if (disk == 0xFFFF || (disk != this_disk && disk != 1))
        return ERR_CORRUPT(err, at + 34,
                           "central directory record %zu starts on disk %u: multi-disk "
                           "archives are not supported",
                           i, disk);

    memset(e, 0, sizeof *e);
    e->name = name;
    e->name_len = nlen;
    e->flags = ld_le16(h + 8);
    e->method = ld_le16(h + 10);
    e->crc32 = ld_le32(h + 16);
    e->csize = ld_le32(h + 20);
    e->usize = ld_le32(h + 24);
    e->local_offset = ld_le32(h + 42);
    e->cd_offset = at;

    const uint8_t *f;
    size_t flen;
    int has = find_extra(extra, xlen, EXTRA_ZIP64, &f, &flen);
    if (!extra_well_formed(extra, xlen))
        e->anomalies |= ZIP_EXTRA;
    /* ZIP64 extended information (APPNOTE 4.5.3): only the saturated fields are present,
     * in this order. mz_zip_file_stat_internal consults it exactly when one is 0xFFFFFFFF. */
    if ((e->usize == 0xFFFFFFFFu || e->csize == 0xFFFFFFFFu || e->local_offset == 0xFFFFFFFFu) &&
        has != 1) {
        e->anomalies |= ZIP_ERR_ZIP64;
    } else if (e->usize == 0xFFFFFFFFu || e->csize == 0xFFFFFFFFu ||
               e->local_offset == 0xFFFFFFFFu) {
        cursor z;
        cur_init(&z, f, flen);
        uint64_t *want[3] = {&e->usize, &e->csize, &e->local_offset};
        for (int k = 0; k < 3; k++) {
            const uint8_t *v;
            if (*want[k] != 0xFFFFFFFFu)
                continue;
            if (cur_take(&z, 8, &v)) {
                e->anomalies |= ZIP_ERR_ZIP64;
                break;
            }
            *want[k] = ld_le64(v);
        }
    }
    /* zipfile reads offsets relative to where the archive starts after prepended data */
    if (__builtin_add_overflow(e->local_offset, za->concat, &e->local_offset))
        e->anomalies |= ZIP_ERR_ZIP64;

    if (e->flags & (FLAG_ENCRYPTED | FLAG_STRONG | FLAG_MASKED))
        e->anomalies |= ZIP_ERR_ENCRYPTED;
    if (e->flags & FLAG_PATCH)
        e->anomalies |= ZIP_ERR_PATCH;
    if (e->method != 0 && e->method != 8)
        e->anomalies |= ZIP_ERR_METHOD;
    if (!(e->anomalies & ZIP_ERR_ZIP64) &&
        ((e->method == 0 && e->csize != e->usize) || (e->usize && !e->csize)))
        e->anomalies |= ZIP_ERR_SIZES;

    /* names */
    if (!nlen)
        e->anomalies |= ZIP_NAME_EMPTY;
    if (nlen && memchr(name, 0, nlen))
        e->anomalies |= ZIP_NAME_NUL;
    if (nlen && memchr(name, '\\', nlen))
        e->anomalies |= ZIP_NAME_BACKSLASH;
    if (nlen && (name[0] == '/' || name[0] == '\\' ||
                 (nlen >= 2 && name[1] == ':' && fold(name[0]) >= 'a' && fold(name[0]) <= 'z')))
        e->anomalies |= ZIP_NAME_ABSOLUTE;
    for (size_t s = 0; s < nlen;) {
        size_t t = s;
        while (t < nlen && name[t] != '/' && name[t] != '\\')
            t++;
        if (t - s == 2 && name[s] == '.' && name[s + 1] == '.')
            e->anomalies |= ZIP_NAME_DOTDOT;
        s = t + 1;
    }
    return BRINE_OK;
}

/* The data descriptor after the data (APPNOTE 4.3.9): optional signature, CRC-32, then
 * 4-byte sizes, or 8-byte sizes for ZIP64. Returns its length when one of the four forms is
 * there (with the signature, matching sizes are enough to recognise it; without, the CRC must
 * match too), else 0. *agrees is 0 when a recognised descriptor disagrees with the central
 * directory's CRC. */
static uint64_t descriptor_len(const zip_archive *za, const zip_entry *e, uint64_t at, int *agrees)
{
    size_t left = za->len - (size_t)at;
    uint8_t buf[24];
    if (left > sizeof buf)
        left = sizeof buf; /* the longest form */
    const uint8_t *p = peek(za, at, left, buf, sizeof buf);
    *agrees = 1;
    for (int sig = 1; sig >= 0; sig--) {
        size_t s = sig ? 4 : 0;
        if (sig && (left < 4 || ld_le32(p) != SIG_DESCRIPTOR))
            continue;
        uint64_t len = 0;
        if (left >= s + 12 && ld_le32(p + s + 4) == e->csize && ld_le32(p + s + 8) == e->usize)
            len = s + 12;
        else if (left >= s + 20 && ld_le64(p + s + 4) == e->csize &&
                 ld_le64(p + s + 12) == e->usize)
            len = s + 20;
        if (!len)
            continue;
        if (ld_le32(p + s) == e->crc32)
            return len;
        if (sig) {
            *agrees = 0;
            return len;
        }
    }
    return 0;
}

/* Reads the local header only to find the data; compares what it repeats. Sets *end to the
 * end of the entry's bytes (data plus descriptor), or 0 when the entry has no usable data. */
static void read_local(zip_archive *za, zip_entry *e, uint64_t *end)
{
    *end = 0;
    if (e->anomalies & ZIP_ERR_ZIP64)
        return;
    uint64_t lo = e->local_offset;
    uint8_t sig[4];
    if (lo > za->len || za->len - lo < LOCAL_SIZE ||
        ld_le32(peek(za, lo, sizeof sig, sig, sizeof sig)) != SIG_LOCAL) {
        e->anomalies |= ZIP_ERR_LOCAL;
        return;
    }
    /* one read for the fixed part with the name and extra field that usually follow */
    uint8_t buf[LOCAL_SIZE + 480];
    size_t avail = za->len - lo < sizeof buf ? (size_t)(za->len - lo) : sizeof buf;
    const uint8_t *h = peek(za, lo, avail, buf, sizeof buf);
    uint16_t nlen = ld_le16(h + 26), xlen = ld_le16(h + 28);
    uint64_t data = lo + LOCAL_SIZE + nlen + xlen; /* lo < len: no overflow */
    if (data > za->len) {
        e->anomalies |= ZIP_ERR_LOCAL;
        return;
    }
    if (h == buf && LOCAL_SIZE + nlen + xlen > avail)
        h = za->data + lo; /* a long name or extra field: read where it is */
    e->local_flags = ld_le16(h + 6);
    e->data_offset = data;
    if (nlen != e->name_len || (nlen && memcmp(h + LOCAL_SIZE, e->name, nlen)))
        e->anomalies |= ZIP_LOCAL_NAME;
    if (e->local_flags != e->flags)
        e->anomalies |= ZIP_LOCAL_FLAGS;
    if (ld_le16(h + 8) != e->method)
        e->anomalies |= ZIP_LOCAL_METHOD;
    if (!(e->local_flags & FLAG_DESCRIPTOR)) {
        uint64_t lc = ld_le32(h + 18), lu = ld_le32(h + 22);
        if (ld_le32(h + 14) != e->crc32)
            e->anomalies |= ZIP_LOCAL_CRC;
        if (lc == 0xFFFFFFFFu || lu == 0xFFFFFFFFu) {
            /* the local ZIP64 field holds both sizes (APPNOTE 4.5.3) */
            const uint8_t *f;
            size_t flen;
            if (find_extra(h + LOCAL_SIZE + nlen, xlen, EXTRA_ZIP64, &f, &flen) == 1 &&
                flen >= 16) {
                lu = ld_le64(f);
                lc = ld_le64(f + 8);
            }
        }
        if (lc != e->csize || lu != e->usize)
            e->anomalies |= ZIP_LOCAL_SIZES;
    }
    if (e->csize > za->len - data) {
        e->anomalies |= ZIP_ERR_PAST_EOF;
        return;
    }
    *end = data + e->csize;
    if (e->local_flags & FLAG_DESCRIPTOR) {
        int agrees;
        uint64_t d = descriptor_len(za, e, *end, &agrees);
        if (!d || !agrees)
            e->anomalies |= ZIP_DESCRIPTOR;
        *end += d;
    }
}

/* ------------------------------------------------------------------ relations */

typedef struct span {
    uint64_t lo, hi;
    zip_entry *e;
} span;

static int by_lo(const void *pa, const void *pb)
{
    const span *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    return a->e < b->e ? -1 : a->e > b->e;
}

/* Overlapping entries, entries in the directory, and bytes that belong to nobody. */
static void check_layout(zip_archive *za, span *sp, size_t ns)
{
    if (ns > 1) /* qsort's pointer must not be NULL even for 0 elements */
        qsort(sp, ns, sizeof *sp, by_lo);
    uint64_t covered = 0; /* end of the bytes accounted for so far */
    if (ns == 0 && za->cd_ofs > 0)
        za->anomalies |= ZIP_A_PREFIX;
    for (size_t k = 0; k < ns; k++) {
        /* entry k overlaps another iff it starts before the furthest end so far, or ends
         * after the next one (in start order) begins */
        if ((k > 0 && sp[k].lo < covered) || (k + 1 < ns && sp[k].hi > sp[k + 1].lo))
            sp[k].e->anomalies |= ZIP_OVERLAP;
        if (sp[k].hi > za->cd_ofs)
            sp[k].e->anomalies |= ZIP_OVERLAP_CD;
        if (k == 0 && sp[k].lo > 0)
            za->anomalies |= ZIP_A_PREFIX;
        else if (k > 0 && sp[k].lo > covered)
            za->anomalies |= ZIP_A_HIDDEN;
        if (sp[k].hi > covered)
            covered = sp[k].hi;
    }
    if (ns && covered < za->cd_ofs)
        za->anomalies |= ZIP_A_HIDDEN;
}

/* Exact duplicates are neighbours after the exact sort. */
static void mark_duplicates(zip_entry **v, size_t n)
{
    for (size_t k = 1; k < n; k++) {
        const zip_entry *a = v[k - 1], *b = v[k];
        if (!cmp_exact(a->name, a->name_len, b->name, b->name_len)) {
            v[k - 1]->anomalies |= ZIP_DUPLICATE;
            v[k]->anomalies |= ZIP_DUPLICATE;
        }
    }
}

/* Names equal up to ASCII case are neighbours after the folded sort; a group that holds
 * two different spellings ("A", "a", "A") marks all its members, since miniz's binary search
 * may land on any of them. */
static void mark_case_groups(zip_entry **v, size_t n)
{
    size_t g = 0;
    while (g < n) {
        size_t h = g + 1;
        int spellings = 0;
        while (h < n && !cmp_folded(v[g]->name, v[g]->name_len, v[h]->name, v[h]->name_len)) {
            if (cmp_exact(v[g]->name, v[g]->name_len, v[h]->name, v[h]->name_len))
                spellings = 1;
            h++;
        }
        if (spellings)
            for (size_t k = g; k < h; k++)
                v[k]->anomalies |= ZIP_DUPLICATE_CASE;
        g = h;
    }
}

/* ------------------------------------------------------------------ open / close */

brine_status zip_open(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                      zip_archive **out, brine_error *err)
{
    if (!out || !mem || (!data && len))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "zip_open: NULL argument");
    *out = NULL;
    zip_archive *za = mem_calloc(mem, 1, sizeof *za);
    if (!za)
        return ERR_NOMEM(err);
    za->data = data;
    za->len = len;
    za->mem = mem;
    za->src_fd = -1;
    if (len >= (1u << 20) && !file_source(data, len, &za->src_fd, &za->src_off))
        za->src_fd = -1;
    if (za->src_fd >= 0) /* headers: no read-ahead around them either */
        (void)posix_fadvise(za->src_fd, 0, 0, POSIX_FADV_RANDOM);
    lim_resolve(lim, &za->lim);
    /* The directory and the local headers are a few bytes each, spread over the whole file;
     * the default read-around of a mapped page (up to the device's read-ahead, often MiBs)
     * would read the tensor records between them from disk. Members are read whole by
     * zip_read, which asks for their bytes then. */
    file_advise_random(data, len);

    brine_status st;
    dir_info di;
    memset(&di, 0, sizeof di);
    if ((st = find_eocd(za, &di, err)))
        goto fail;
    za->eocd_ofs = di.eocd_ofs;
    za->zip64 = di.zip64;
    if ((di.this_disk | di.cd_disk) != 0 && (di.this_disk != 1 || di.cd_disk != 1)) {
        st = ERR_CORRUPT(err, di.eocd_ofs,
                         "multi-disk archives are not supported (disk %u, directory on disk "
                         "%u)",
                         di.this_disk, di.cd_disk);
        goto fail;
    }
    if (di.entries > za->lim.zip_max_entries) {
        st = err_limit(err, "zip_max_entries", za->lim.zip_max_entries, di.entries, di.eocd_ofs, 1,
                       __LINE__);
        goto fail;
    }
    uint64_t need, cd_end;
    if (__builtin_mul_overflow(di.entries, (uint64_t)CENTRAL_SIZE, &need) || di.cd_size < need) {
        st = ERR_CORRUPT(err, di.eocd_ofs,
                         "the end record declares %llu entries, which need at least %llu "
                         "bytes of central directory; it declares %llu",
                         (unsigned long long)di.entries,
                         (unsigned long long)(di.entries * CENTRAL_SIZE),
                         (unsigned long long)di.cd_size);
        goto fail;
    }
    /* Bytes prepended to an archive written for offset 0 (a payload, a stub): zipfile finds
     * the directory from the end record and shifts every offset by the difference
     * (_EndRecData's "concat"). miniz does not, but needs "PK\3\4" at offset 0, which such a
     * file lacks — so this is the reading of whoever can open it. */
    if (di.cd_size <= di.dir_start && di.dir_start - di.cd_size > di.cd_ofs &&
        !(len >= 4 && ld_le32(data) == SIG_LOCAL)) {
        za->concat = di.dir_start - di.cd_size - di.cd_ofs;
        di.cd_ofs += za->concat;
        za->anomalies |= ZIP_A_PREFIX;
    }
    if (__builtin_add_overflow(di.cd_ofs, di.cd_size, &cd_end) || cd_end > len) {
        st = ERR_CORRUPT(err, di.eocd_ofs,
                         "the central directory (offset %llu, %llu bytes) extends past the end "
                         "of the file (%zu bytes)",
                         (unsigned long long)di.cd_ofs, (unsigned long long)di.cd_size, len);
        goto fail;
    }
    if (cd_end > di.dir_start) {
        st = ERR_CORRUPT(err, di.cd_ofs,
                         "the central directory (offset %llu, %llu bytes) overlaps the end "
                         "record at %llu",
                         (unsigned long long)di.cd_ofs, (unsigned long long)di.cd_size,
                         (unsigned long long)di.dir_start);
        goto fail;
    }
    if (cd_end < di.dir_start)
        za->anomalies |= ZIP_A_CD_GAP;
    za->cd_ofs = di.cd_ofs;
    za->cd_size = di.cd_size;

    /* di.entries * 46 <= cd_size <= len: the count is bounded by the bytes that exist */
    za->n = (size_t)di.entries;
    za->entries = mem_calloc(mem, za->n, sizeof *za->entries);
    if (!za->entries) {
        st = ERR_NOMEM(err);
        goto fail;
    }
    cursor c;
    cur_init(&c, data + di.cd_ofs, (size_t)di.cd_size);
    for (size_t i = 0; i < za->n; i++)
        if ((st = read_central(za, &c, i, di.this_disk, &za->entries[i], err)))
            goto fail;
    if (cur_left(&c))
        za->anomalies |= ZIP_A_CD_TRAILING;

    /* local headers, then the layout of all entries in the file */
    span *sp = mem_calloc(mem, za->n, sizeof *sp);
    if (!sp) {
        st = ERR_NOMEM(err);
        goto fail;
    }
    size_t ns = 0;
    /* ask for every local header's page at once: the disk serves them in parallel, where
     * reading them in turn would wait for each */
    if (len >= (1u << 20) && za->n <= (1u << 16))
        for (size_t i = 0; i < za->n; i++)
            if (za->entries[i].local_offset < len)
                file_prefetch_page(data + za->entries[i].local_offset);
    for (size_t i = 0; i < za->n; i++) {
        uint64_t end;
        read_local(za, &za->entries[i], &end);
        if (end) {
            sp[ns].lo = za->entries[i].local_offset;
            sp[ns].hi = end;
            sp[ns].e = &za->entries[i];
            ns++;
        }
    }
    check_layout(za, sp, ns);
    mem_free(mem, sp, za->n * sizeof *sp);

    /* duplicates: exact names, then names equal up to ASCII case (miniz's lookup) */
    za->by_name = mem_calloc(mem, za->n, sizeof *za->by_name);
    if (!za->by_name) {
        st = ERR_NOMEM(err);
        goto fail;
    }
    for (size_t i = 0; i < za->n; i++)
        za->by_name[i] = &za->entries[i];
    if (za->n > 1) {
        qsort(za->by_name, za->n, sizeof *za->by_name, by_exact_then_pos);
        mark_duplicates(za->by_name, za->n);
        qsort(za->by_name, za->n, sizeof *za->by_name, by_folded_then_pos);
        mark_case_groups(za->by_name, za->n);
    }

    *out = za;
    return BRINE_OK;
fail:
    zip_close(za);
    return st;
}

void zip_close(zip_archive *za)
{
    if (!za)
        return;
    mem_budget *mem = za->mem;
    mem_free(mem, za->by_name, za->n * sizeof *za->by_name);
    mem_free(mem, za->entries, za->n * sizeof *za->entries);
    mem_free(mem, za, sizeof *za);
}

size_t zip_count(const zip_archive *za) { return za->n; }

const zip_entry *zip_entry_at(const zip_archive *za, size_t i)
{
    return i < za->n ? &za->entries[i] : NULL;
}

uint64_t zip_archive_anomalies(const zip_archive *za) { return za->anomalies; }
uint64_t zip_cd_offset(const zip_archive *za) { return za->cd_ofs; }
uint64_t zip_eocd_offset(const zip_archive *za) { return za->eocd_ofs; }
int zip_is_zip64(const zip_archive *za) { return za->zip64; }

long zip_find(const zip_archive *za, const char *name, size_t name_len)
{
    const uint8_t *key = (const uint8_t *)name;
    size_t lo = 0, hi = za->n;
    while (lo < hi) { /* first element not less than key, in folded order */
        size_t mid = lo + (hi - lo) / 2;
        const zip_entry *e = za->by_name[mid];
        if (cmp_folded(e->name, e->name_len, key, name_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < za->n) {
        const zip_entry *e = za->by_name[lo];
        /* ties are in directory order, so the first match is the earliest entry */
        if (!cmp_folded(e->name, e->name_len, key, name_len))
            return (long)(e - za->entries);
    }
    return -1;
}

/* ------------------------------------------------------------------ reading */

/* zlib's allocations go through the budget too (mem_lib_alloc). */
static voidpf zip_zalloc(voidpf opaque, uInt items, uInt size)
{
    return mem_lib_alloc(opaque, items, size);
}

static uint32_t crc_of(const uint8_t *p, uint64_t n)
{
    return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, (z_size_t)n);
}

/* Inflates e's raw deflate data into out[0..usize): the stream must end exactly there, as
 * miniz requires (TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF, UNEXPECTED_DECOMPRESSED_SIZE). */
static brine_status inflate_entry(zip_archive *za, zip_entry *e, uint8_t *out, brine_error *err)
{
    char nb[96];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zip_zalloc;
    zs.zfree = mem_lib_free;
    zs.opaque = za->mem;
    int r = inflateInit2(&zs, -MAX_WBITS);
    if (r != Z_OK)
        return r == Z_MEM_ERROR ? ERR_NOMEM(err)
                                : err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                                          "zlib refused to start: %s", zs.msg ? zs.msg : "?");
    const uint8_t *in = za->data + e->data_offset;
    uint64_t in_left = e->csize, out_left = e->usize;
    file_advise_willneed(in, (size_t)in_left); /* csize <= len was checked at open */
    const uInt chunk = 1u << 30;               /* avail_in/avail_out are 32-bit */
    brine_status st = BRINE_OK;
    for (;;) {
        if (zs.avail_in == 0 && in_left) {
            zs.avail_in = in_left < chunk ? (uInt)in_left : chunk;
            zs.next_in = (Bytef *)(uintptr_t)in;
            in += zs.avail_in;
            in_left -= zs.avail_in;
        }
        if (zs.avail_out == 0 && out_left) {
            zs.avail_out = out_left < chunk ? (uInt)out_left : chunk;
            zs.next_out = out;
            out += zs.avail_out;
            out_left -= zs.avail_out;
        }
        r = inflate(&zs, Z_NO_FLUSH);
        if (r == Z_STREAM_END)
            break;
        if (r == Z_OK)
            continue;
        if (r == Z_MEM_ERROR) {
            st = ERR_NOMEM(err);
        } else if (r == Z_BUF_ERROR && zs.avail_out == 0 && out_left == 0) {
            st = ERR_CORRUPT(err, e->data_offset,
                             "entry '%s' inflates to more than the %llu bytes the central "
                             "directory declares",
                             show_name(e, nb, sizeof nb), (unsigned long long)e->usize);
        } else if (r == Z_BUF_ERROR) {
            st = ERR_CORRUPT(err, e->data_offset + e->csize,
                             "entry '%s': the deflate stream is cut off after %llu compressed "
                             "bytes",
                             show_name(e, nb, sizeof nb), (unsigned long long)e->csize);
        } else {
            st = ERR_CORRUPT(err, e->data_offset + (e->csize - in_left - zs.avail_in),
                             "entry '%s': invalid deflate data (%s)", show_name(e, nb, sizeof nb),
                             zs.msg ? zs.msg : "zlib error");
        }
        break;
    }
    uint64_t produced = e->usize - out_left - zs.avail_out;
    uint64_t unused = in_left + zs.avail_in;
    inflateEnd(&zs);
    if (st)
        return st;
    if (produced != e->usize)
        return ERR_CORRUPT(err, e->data_offset,
                           "entry '%s' inflates to %llu bytes, the central directory declares "
                           "%llu",
                           show_name(e, nb, sizeof nb), (unsigned long long)produced,
                           (unsigned long long)e->usize);
    if (unused)
        e->anomalies |= ZIP_DEFLATE_TAIL;
    return BRINE_OK;
}

brine_status zip_read(zip_archive *za, size_t i, unsigned flags, const uint8_t **data, size_t *len,
                      int *owned, brine_error *err)
{
    if (!za || !data || !len || !owned || i >= za->n)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "zip_read: bad argument");
    *data = NULL;
    *len = 0;
    *owned = 0;
    zip_entry *e = &za->entries[i];
    char nb[96];
    uint64_t bad = e->anomalies & ZIP_ERR_MASK;
    if (flags & ZIP_READ_IGNORE_FLAGS)
        bad &= ~(ZIP_ERR_ENCRYPTED | ZIP_ERR_PATCH);
    if (bad) {
        uint64_t bit = bad & (~bad + 1); /* the lowest error bit */
        brine_status code = bit & (ZIP_ERR_ENCRYPTED | ZIP_ERR_PATCH | ZIP_ERR_METHOD)
                                ? BRINE_ERR_UNSUPPORTED
                                : BRINE_ERR_MALFORMED;
        return err_at(err, code, e->cd_offset, __LINE__, "entry '%s': %s",
                      show_name(e, nb, sizeof nb), zip_anomaly_text(bit));
    }
    if (e->method == 0) {
        /* stored: zero-copy; csize == usize was checked at open */
        if (e->csize > SIZE_MAX)
            return err_limit(err, "zip_max_entry_bytes", SIZE_MAX, e->csize, e->cd_offset, 1,
                             __LINE__);
        *data = za->data + e->data_offset;
        *len = (size_t)e->csize;
        if (!(flags & ZIP_READ_NO_CRC)) {
            file_advise_willneed(*data, *len); /* read whole now, not a page per fault */
            if (crc_of(*data, e->csize) != e->crc32)
                e->anomalies |= ZIP_CRC;
        }
        return BRINE_OK;
    }

    /* deflate: every limit before the buffer exists */
    if (e->usize > za->lim.zip_max_entry_bytes || e->usize > SIZE_MAX)
        return err_limit(err, "zip_max_entry_bytes", za->lim.zip_max_entry_bytes, e->usize,
                         e->cd_offset, 1, __LINE__);
    uint64_t cap;
    if (!__builtin_mul_overflow(e->csize, za->lim.zip_max_ratio, &cap) && e->usize > cap)
        return err_limit(err, "zip_max_ratio", za->lim.zip_max_ratio,
                         (e->usize + e->csize - 1) / e->csize, e->cd_offset, 1, __LINE__);
    uint64_t total;
    if (__builtin_add_overflow(za->inflated, e->usize, &total) ||
        total > za->lim.zip_max_total_bytes)
        return err_limit(err, "zip_max_total_bytes", za->lim.zip_max_total_bytes,
                         za->inflated + e->usize, e->cd_offset, 1, __LINE__);
    uint8_t *buf = mem_alloc(za->mem, (size_t)e->usize);
    if (!buf)
        return ERR_NOMEM(err);
    brine_status st = inflate_entry(za, e, buf, err);
    if (st) {
        mem_free(za->mem, buf, (size_t)e->usize);
        return st;
    }
    za->inflated = total;
    if (!(flags & ZIP_READ_NO_CRC) && crc_of(buf, e->usize) != e->crc32)
        e->anomalies |= ZIP_CRC;
    *data = buf;
    *len = (size_t)e->usize;
    *owned = 1;
    return BRINE_OK;
}

void zip_release(zip_archive *za, const uint8_t *data, size_t len, int owned)
{
    if (za && owned && data)
        mem_free(za->mem, (void *)(uintptr_t)data, len);
}

/* ------------------------------------------------------------------ anomaly names */

const char *zip_anomaly_name(uint64_t bit)
{
#define X(id, b, name, text)                                                                       \
    if (bit == ZIP_##id)                                                                           \
        return name;
    ZIP_ANOMALY_LIST(X)
#undef X
    return NULL;
}

const char *zip_anomaly_rule(uint64_t bit)
{
#define X(id, b, name, text)                                                                       \
    if (bit == ZIP_##id)                                                                           \
        return "zip-" name;
    ZIP_ANOMALY_LIST(X)
#undef X
    return NULL;
}

const char *zip_anomaly_text(uint64_t bit)
{
#define X(id, b, name, text)                                                                       \
    if (bit == ZIP_##id)                                                                           \
        return text;
    ZIP_ANOMALY_LIST(X)
#undef X
    return NULL;
}
