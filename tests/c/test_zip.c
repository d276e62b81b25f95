/*
 * test_zip.c — the zip reader on hand-built archives: every rule of src/formats/zip.c, the
 * zip tricks of research/threats.md §7 E, limits, and allocation-failure injection.
 *
 * Archives are built here byte by byte (APPNOTE.TXT layouts), so each test says exactly which
 * field it corrupts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "brine.h"
#include "core/alloc.h"
#include "formats/zip.h"

static int failures, checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------ a zip builder */

typedef struct zb {
    uint8_t *p;
    size_t n, cap;
} zb;

static void put(zb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u16(zb *b, uint32_t v) { put(b, (uint8_t[]){(uint8_t)v, (uint8_t)(v >> 8)}, 2); }
static void u32(zb *b, uint32_t v)
{
    u16(b, v & 0xFFFF);
    u16(b, v >> 16);
}
static void u64(zb *b, uint64_t v)
{
    u32(b, (uint32_t)v);
    u32(b, (uint32_t)(v >> 32));
}
static void set32(zb *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

typedef struct zent {
    const char *name;  /* central directory name */
    size_t nlen;       /* 0: strlen(name) unless raw_len */
    int raw_len;       /* nlen is exact (names with NUL, empty names) */
    const char *lname; /* local name; NULL: the same */
    const void *data;
    size_t len;
    int method;          /* 0 stored, 8 deflate, other: data stored raw under that id */
    uint16_t flags;      /* central directory flags */
    int lflags;          /* local flags; -1: the same */
    int lmethod;         /* local method; -1: the same */
    int bad_crc;         /* CRC in both headers wrong */
    int bad_local_crc;   /* only the local CRC wrong */
    int bad_local_size;  /* only the local sizes wrong */
    int descriptor;      /* 0 none, 1 signature + 32-bit, 2 no signature, 3 signature +
                          * 64-bit, 4 a wrong one */
    int zip64;           /* central sizes and offset in the ZIP64 extra field */
    int zip64_missing;   /* central sizes 0xFFFFFFFF without the extra field */
    int same_local_as;   /* 1-based: share entry k's local header and data (overlap) */
    int64_t csize_delta; /* added to the declared compressed size */
    int64_t usize_delta; /* added to the declared uncompressed size */
    size_t gap_before;   /* junk bytes before the local header */
    const void *tail;    /* bytes appended to the compressed data (counted in csize) */
    size_t tail_len;
    uint16_t disk;
    /* filled by build */
    uint64_t lofs, csize, usize;
    uint32_t crc;
} zent;

typedef struct zopts {
    const void *prefix;
    size_t prefix_len;
    int zip64_end;             /* write a ZIP64 end record and locator */
    int locator_off;           /* added to the locator's pointer */
    int64_t zip64_count_delta; /* classic end record count differs from the ZIP64 one */
    const void *comment;
    size_t comment_len;
    int comment_len_delta; /* declared comment length minus the real one */
    size_t cd_trailing;    /* junk bytes inside the directory after the records */
    size_t cd_gap;         /* junk bytes between the directory and the end record */
    int count_set;
    uint32_t count; /* declared entries */
    int cd_size_set;
    uint32_t cd_size;
    uint16_t disk, cd_disk;
    const void *after; /* bytes after the end record (not in the comment) */
    size_t after_len;
} zopts;

static uint8_t *deflate_raw(const void *d, size_t n, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)n) + 16;
    uint8_t *o = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)d;
    zs.avail_in = (uInt)n;
    zs.next_out = o;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return o;
}

static void build(zent *es, size_t n, const zopts *o, zb *b)
{
    static const zopts none;
    if (!o)
        o = &none;
    memset(b, 0, sizeof *b);
    put(b, o->prefix, o->prefix_len);
    uint8_t **comp = calloc(n, sizeof *comp);
    for (size_t i = 0; i < n; i++) {
        zent *e = &es[i];
        if (!e->raw_len && e->name)
            e->nlen = strlen(e->name);
        e->crc = (uint32_t)crc32(0, e->data, (uInt)e->len) ^ (e->bad_crc ? 0x5a5a5a5a : 0);
        e->usize = e->len;
        if (e->same_local_as) {
            const zent *s = &es[e->same_local_as - 1];
            e->lofs = s->lofs;
            e->csize = s->csize;
            e->crc = s->crc;
            continue;
        }
        size_t clen = e->len;
        const uint8_t *cdata = e->data;
        if (e->method == 8) {
            comp[i] = deflate_raw(e->data, e->len, &clen);
            cdata = comp[i];
        }
        e->csize = clen + e->tail_len;
        for (size_t g = 0; g < e->gap_before; g++)
            put(b, "J", 1);
        e->lofs = b->n;
        const char *ln = e->lname ? e->lname : e->name;
        size_t lnl = e->lname ? strlen(e->lname) : e->nlen;
        int lflags = e->lflags >= 0 ? e->lflags : e->flags;
        if (e->lflags == 0 && e->flags) /* zero-initialised: same as central */
            lflags = e->flags;
        u32(b, 0x04034b50);
        u16(b, 20);
        u16(b, (uint32_t)lflags);
        u16(b, (uint32_t)(e->lmethod > 0 ? e->lmethod : e->method));
        u32(b, 0);
        if (lflags & 8) {
            u32(b, 0);
            u32(b, 0);
            u32(b, 0);
        } else {
            u32(b, e->crc ^ (e->bad_local_crc ? 1u : 0u));
            u32(b, (uint32_t)e->csize + (e->bad_local_size ? 1u : 0u));
            u32(b, (uint32_t)e->usize);
        }
        u16(b, (uint32_t)lnl);
        u16(b, 0);
        put(b, ln, lnl);
        put(b, cdata, clen);
        put(b, e->tail, e->tail_len);
        switch (e->descriptor) {
        case 1:
            u32(b, 0x08074b50);
            /* fallthrough */
        case 2:
            u32(b, e->crc);
            u32(b, (uint32_t)e->csize);
            u32(b, (uint32_t)e->usize);
            break;
        case 3:
            u32(b, 0x08074b50);
            u32(b, e->crc);
            u64(b, e->csize);
            u64(b, e->usize);
            break;
        case 4:
            u32(b, 0x08074b50);
            u32(b, e->crc ^ 1u);
            u32(b, (uint32_t)e->csize);
            u32(b, (uint32_t)e->usize);
            break;
        default: break;
        }
    }
    size_t cd = b->n;
    for (size_t i = 0; i < n; i++) {
        zent *e = &es[i];
        uint64_t cs = (uint64_t)((int64_t)e->csize + e->csize_delta);
        uint64_t us = (uint64_t)((int64_t)e->usize + e->usize_delta);
        int big = e->zip64 || e->zip64_missing;
        u32(b, 0x02014b50);
        u16(b, 45);
        u16(b, 45);
        u16(b, e->flags);
        u16(b, (uint32_t)e->method);
        u32(b, 0);
        u32(b, e->crc);
        u32(b, big ? 0xFFFFFFFFu : (uint32_t)cs);
        u32(b, big ? 0xFFFFFFFFu : (uint32_t)us);
        u16(b, (uint32_t)e->nlen);
        u16(b, e->zip64 ? 28 : 0);
        u16(b, 0);
        u16(b, e->disk);
        u16(b, 0);
        u32(b, 0);
        u32(b, big ? 0xFFFFFFFFu : (uint32_t)e->lofs);
        put(b, e->name, e->nlen);
        if (e->zip64) {
            u16(b, 1);
            u16(b, 24);
            u64(b, us);
            u64(b, cs);
            u64(b, e->lofs);
        }
    }
    for (size_t i = 0; i < o->cd_trailing; i++)
        put(b, "T", 1);
    size_t cd_size = b->n - cd;
    for (size_t i = 0; i < o->cd_gap; i++)
        put(b, "G", 1);
    uint32_t count = o->count_set ? o->count : (uint32_t)n;
    if (o->zip64_end) {
        size_t e64 = b->n;
        u32(b, 0x06064b50);
        u64(b, 44);
        u16(b, 45);
        u16(b, 45);
        u32(b, 0);
        u32(b, 0);
        u64(b, count);
        u64(b, count);
        u64(b, o->cd_size_set ? o->cd_size : cd_size);
        u64(b, cd);
        u32(b, 0x07064b50);
        u32(b, 0);
        u64(b, (uint64_t)((int64_t)e64 + o->locator_off));
        u32(b, 1);
        count = (uint32_t)((int64_t)count + o->zip64_count_delta);
    }
    u32(b, 0x06054b50);
    u16(b, o->disk);
    u16(b, o->cd_disk);
    u16(b, count);
    u16(b, count);
    u32(b, o->cd_size_set ? o->cd_size : (uint32_t)cd_size);
    u32(b, (uint32_t)cd);
    u16(b, (uint32_t)((int)o->comment_len + o->comment_len_delta));
    put(b, o->comment, o->comment_len);
    put(b, o->after, o->after_len);
    for (size_t i = 0; i < n; i++)
        free(comp[i]);
    free(comp);
}

/* ------------------------------------------------------------------ helpers */

typedef struct opened {
    zb b;
    mem_budget mem;
    zip_archive *za;
    brine_status st;
    brine_error err;
} opened;

static void open_with(opened *o, zent *es, size_t n, const zopts *opts, const brine_limits *lim)
{
    build(es, n, opts, &o->b);
    mem_budget_init(&o->mem, UINT64_C(1) << 30);
    memset(&o->err, 0, sizeof o->err);
    o->st = zip_open(o->b.p, o->b.n, lim, &o->mem, &o->za, &o->err);
}

static void done(opened *o)
{
    zip_close(o->za);
    CHECK(o->mem.used == 0);
    free(o->b.p);
}

static uint64_t anomalies(const opened *o, size_t i)
{
    const zip_entry *e = zip_entry_at(o->za, i);
    return e ? e->anomalies : 0;
}

/* Reads entry i, checks its bytes, releases them; returns the status. */
static brine_status read_check(opened *o, size_t i, const void *want, size_t want_len)
{
    const uint8_t *d;
    size_t n;
    int owned;
    brine_status st = zip_read(o->za, i, 0, &d, &n, &owned, &o->err);
    if (!st) {
        CHECK(n == want_len && (!n || !memcmp(d, want, n)));
        zip_release(o->za, d, n, owned);
    }
    return st;
}

static const char hello[] = "hello, world";
static char zeros[1 << 22];

/* ------------------------------------------------------------------ tests */

static void test_benign(void)
{
    char text[3000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 7);
    zent es[] = {{.name = "arch/data.pkl", .data = hello, .len = 12},
                 {.name = "arch/text", .data = text, .len = sizeof text, .method = 8},
                 {.name = "arch/empty", .data = "", .len = 0},
                 {.name = "arch/dir/", .data = "", .len = 0}};
    opened o;
    open_with(&o, es, 4, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (o.st)
        return;
    CHECK(zip_count(o.za) == 4 && !zip_is_zip64(o.za));
    CHECK(zip_archive_anomalies(o.za) == 0);
    for (size_t i = 0; i < 4; i++)
        CHECK(anomalies(&o, i) == 0);
    const zip_entry *e = zip_entry_at(o.za, 1);
    CHECK(e->method == 8 && e->usize == sizeof text && e->csize < sizeof text);
    CHECK(e->name_len == 9 && !memcmp(e->name, "arch/text", 9));
    CHECK(zip_entry_at(o.za, 4) == NULL);

    const uint8_t *d;
    size_t n;
    int owned;
    CHECK(!zip_read(o.za, 0, 0, &d, &n, &owned, &o.err));
    CHECK(!owned && d == o.b.p + zip_entry_at(o.za, 0)->data_offset && n == 12); /* zero-copy */
    CHECK(!memcmp(d, hello, 12));
    CHECK(!zip_read(o.za, 1, 0, &d, &n, &owned, &o.err));
    CHECK(owned && n == sizeof text && !memcmp(d, text, n));
    zip_release(o.za, d, n, owned);
    CHECK(read_check(&o, 2, "", 0) == BRINE_OK);
    CHECK(zip_read(o.za, 9, 0, &d, &n, &owned, &o.err) == BRINE_ERR_USAGE);

    CHECK(zip_find(o.za, "arch/text", 9) == 1);
    CHECK(zip_find(o.za, "ARCH/TEXT", 9) == 1); /* miniz compares ASCII case-insensitively */
    CHECK(zip_find(o.za, "arch/tex", 8) == -1);
    CHECK(zip_find(o.za, "arch/textx", 10) == -1);
    CHECK(zip_find(o.za, "", 0) == -1);
    CHECK(zip_cd_offset(o.za) > 0 && zip_eocd_offset(o.za) == o.b.n - 22);
    done(&o);

    /* an empty archive is just an end record */
    opened z;
    open_with(&z, NULL, 0, NULL, NULL);
    CHECK(z.st == BRINE_OK && zip_count(z.za) == 0 && zip_archive_anomalies(z.za) == 0);
    CHECK(zip_find(z.za, "x", 1) == -1);
    done(&z);
}

static void test_not_zip(void)
{
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    zip_archive *za;
    brine_error err;
    CHECK(zip_open((const uint8_t *)"PK\5\6", 4, NULL, &mem, &za, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "needs 22 bytes"));
    CHECK(zip_open(NULL, 0, NULL, &mem, &za, &err) == BRINE_ERR_MALFORMED);
    static uint8_t junk[100000];
    CHECK(zip_open(junk, sizeof junk, NULL, &mem, &za, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "no end-of-central-directory record in the last 65557 bytes"));
    CHECK(mem.used == 0);

    /* the end record further back than a comment can reach is not searched for */
    zopts o = {.after = junk, .after_len = 65536};
    opened a;
    zent es[] = {{.name = "a", .data = hello, .len = 12}};
    open_with(&a, es, 1, &o, NULL);
    CHECK(a.st == BRINE_ERR_MALFORMED && strstr(a.err.msg, "no end-of-central-directory"));
    done(&a);
    /* … but within reach it is found, and the comment length mismatch is recorded */
    o.after_len = 65535 - 22;
    open_with(&a, es, 1, &o, NULL);
    CHECK(a.st == BRINE_OK && (zip_archive_anomalies(a.za) & ZIP_A_EOCD_COMMENT));
    done(&a);
}

static void test_local_header_tricks(void)
{
    /* CVE-2025-1944: the local name differs; the central name rules */
    zent es[] = {{.name = "arch/data.pkl", .lname = "arch/datb.pkl", .data = hello, .len = 12},
                 /* CVE-2025-1945: flags only in the local header; torch still reads it */
                 {.name = "b1", .data = hello, .len = 12, .lflags = 0x1},
                 {.name = "b20", .data = hello, .len = 12, .lflags = 0x20},
                 {.name = "b40", .data = hello, .len = 12, .lflags = 0x40},
                 {.name = "m", .data = hello, .len = 12, .lmethod = 8},
                 {.name = "lc", .data = hello, .len = 12, .bad_local_crc = 1},
                 {.name = "ls", .data = hello, .len = 12, .bad_local_size = 1}};
    opened o;
    open_with(&o, es, 7, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (o.st)
        return;
    CHECK(anomalies(&o, 0) == ZIP_LOCAL_NAME);
    CHECK(anomalies(&o, 1) == ZIP_LOCAL_FLAGS);
    CHECK(anomalies(&o, 2) == ZIP_LOCAL_FLAGS);
    CHECK(anomalies(&o, 3) == ZIP_LOCAL_FLAGS);
    CHECK(anomalies(&o, 4) == ZIP_LOCAL_METHOD);
    CHECK(anomalies(&o, 5) == ZIP_LOCAL_CRC);
    CHECK(anomalies(&o, 6) == ZIP_LOCAL_SIZES);
    for (size_t i = 0; i < 7; i++)
        CHECK(read_check(&o, i, hello, 12) == BRINE_OK);
    CHECK(zip_find(o.za, "arch/data.pkl", 13) == 0 && zip_find(o.za, "arch/datb.pkl", 13) == -1);
    done(&o);
}

static void test_central_flags_and_methods(void)
{
    zent es[] = {{.name = "enc", .data = hello, .len = 12, .flags = 0x1},
                 {.name = "patch", .data = hello, .len = 12, .flags = 0x20},
                 {.name = "strong", .data = hello, .len = 12, .flags = 0x40},
                 {.name = "masked", .data = hello, .len = 12, .flags = 0x2000},
                 {.name = "bzip2", .data = hello, .len = 12, .method = 12},
                 {.name = "ok", .data = hello, .len = 12, .flags = 0x800}};
    opened o;
    open_with(&o, es, 6, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (o.st)
        return;
    CHECK(anomalies(&o, 0) == ZIP_ERR_ENCRYPTED);
    CHECK(anomalies(&o, 1) == ZIP_ERR_PATCH);
    CHECK(anomalies(&o, 2) == ZIP_ERR_ENCRYPTED);
    CHECK(anomalies(&o, 3) == ZIP_ERR_ENCRYPTED);
    CHECK(anomalies(&o, 4) == ZIP_ERR_METHOD);
    for (size_t i = 0; i < 5; i++) {
        CHECK(read_check(&o, i, hello, 12) == BRINE_ERR_UNSUPPORTED);
        CHECK(strstr(o.err.msg, "entry '") && o.err.has_offset);
    }
    CHECK(read_check(&o, 5, hello, 12) == BRINE_OK && anomalies(&o, 5) == 0);
    done(&o);
}

static void test_crc(void)
{
    zent es[] = {{.name = "s", .data = hello, .len = 12, .bad_crc = 1},
                 {.name = "d", .data = hello, .len = 12, .method = 8, .bad_crc = 1}};
    opened o;
    open_with(&o, es, 2, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (o.st)
        return;
    CHECK(anomalies(&o, 0) == 0 && anomalies(&o, 1) == 0); /* not known until read */
    const uint8_t *d;
    size_t n;
    int owned;
    CHECK(!zip_read(o.za, 0, ZIP_READ_NO_CRC, &d, &n, &owned, &o.err) && anomalies(&o, 0) == 0);
    /* CVE-2025-10156: torch ignores the CRC; brine reads and records the mismatch */
    CHECK(read_check(&o, 0, hello, 12) == BRINE_OK && anomalies(&o, 0) == ZIP_CRC);
    CHECK(read_check(&o, 1, hello, 12) == BRINE_OK && anomalies(&o, 1) == ZIP_CRC);
    done(&o);
}

static void test_descriptors(void)
{
    zent es[] = {
        {.name = "sig", .data = hello, .len = 12, .flags = 8, .descriptor = 1},
        {.name = "nosig", .data = hello, .len = 12, .flags = 8, .descriptor = 2},
        {.name = "z64", .data = hello, .len = 12, .flags = 8, .descriptor = 3},
        {.name = "defl", .data = hello, .len = 12, .flags = 0x808, .descriptor = 1, .method = 8},
        {.name = "wrong", .data = hello, .len = 12, .flags = 8, .descriptor = 4},
        {.name = "absent", .data = hello, .len = 12, .flags = 8, .descriptor = 0}};
    opened o;
    open_with(&o, es, 6, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (o.st)
        return;
    for (size_t i = 0; i < 4; i++)
        CHECK(anomalies(&o, i) == 0);
    CHECK(anomalies(&o, 4) == ZIP_DESCRIPTOR);
    CHECK(anomalies(&o, 5) == ZIP_DESCRIPTOR);
    /* a descriptor with a signature and the right sizes is recognised even when its CRC
     * disagrees, so its bytes are accounted for */
    CHECK(zip_archive_anomalies(o.za) == 0);
    for (size_t i = 0; i < 6; i++)
        CHECK(read_check(&o, i, hello, 12) == BRINE_OK);
    done(&o);
}

static void test_zip64(void)
{
    zent es[] = {{.name = "a", .data = hello, .len = 12, .zip64 = 1},
                 {.name = "b", .data = hello, .len = 12, .method = 8, .zip64 = 1},
                 {.name = "c", .data = hello, .len = 12}};
    zopts z = {.zip64_end = 1};
    opened o;
    open_with(&o, es, 3, &z, NULL);
    CHECK(o.st == BRINE_OK);
    if (!o.st) {
        CHECK(zip_is_zip64(o.za) && zip_archive_anomalies(o.za) == 0);
        CHECK(zip_entry_at(o.za, 0)->csize == 12 && zip_entry_at(o.za, 0)->usize == 12);
        CHECK(zip_entry_at(o.za, 1)->local_offset == es[1].lofs);
        for (size_t i = 0; i < 3; i++)
            CHECK(anomalies(&o, i) == 0 && read_check(&o, i, hello, 12) == BRINE_OK);
    }
    done(&o);

    /* saturated fields without the extra field */
    zent m[] = {{.name = "a", .data = hello, .len = 12, .zip64_missing = 1}};
    open_with(&o, m, 1, NULL, NULL);
    CHECK(o.st == BRINE_OK && anomalies(&o, 0) == ZIP_ERR_ZIP64);
    CHECK(read_check(&o, 0, hello, 12) == BRINE_ERR_MALFORMED && strstr(o.err.msg, "ZIP64"));
    done(&o);

    /* the classic end record disagreeing with the ZIP64 one */
    z.zip64_count_delta = -1;
    open_with(&o, es, 3, &z, NULL);
    CHECK(o.st == BRINE_OK && zip_archive_anomalies(o.za) == ZIP_A_ZIP64_MISMATCH);
    CHECK(zip_count(o.za) == 3);
    done(&o);

    /* a locator that misses, with the record right before it (newer miniz finds it) */
    z.zip64_count_delta = 0;
    z.locator_off = 3;
    open_with(&o, es, 3, &z, NULL);
    CHECK(o.st == BRINE_OK && zip_archive_anomalies(o.za) == ZIP_A_ZIP64_LOCATOR);
    done(&o);
    /* … and one that points nowhere while no record precedes it */
    z.locator_off = 0;
    z.cd_gap = 5;
    zb b;
    build(es, 3, &z, &b);
    /* move the locator's pointer and break the record before it */
    size_t loc = b.n - 22 - 20;
    set32(&b, loc + 8, 7);
    set32(&b, loc - 56, 0x11111111);
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    zip_archive *za;
    brine_error err;
    CHECK(zip_open(b.p, b.n, NULL, &mem, &za, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "ZIP64 locator"));
    CHECK(mem.used == 0);
    free(b.p);
}

static void test_names_and_duplicates(void)
{
    zent es[] = {{.name = "../etc/passwd", .data = hello, .len = 12},
                 {.name = "a/../../b", .data = hello, .len = 12},
                 {.name = "/abs", .data = hello, .len = 12},
                 {.name = "C:\\win", .data = hello, .len = 12},
                 {.name = "a\\b", .data = hello, .len = 12},
                 {.name = "nul\0x", .nlen = 5, .raw_len = 1, .data = hello, .len = 12},
                 {.name = "", .nlen = 0, .raw_len = 1, .data = hello, .len = 12},
                 {.name = "dup", .data = hello, .len = 12},
                 {.name = "dup", .data = "other", .len = 5},
                 {.name = "Case", .data = hello, .len = 12},
                 {.name = "cASE", .data = hello, .len = 12},
                 {.name = "x..y/..z", .data = hello, .len = 12}};
    opened o;
    open_with(&o, es, 12, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (o.st)
        return;
    CHECK(anomalies(&o, 0) == ZIP_NAME_DOTDOT);
    CHECK(anomalies(&o, 1) == ZIP_NAME_DOTDOT);
    CHECK(anomalies(&o, 2) == ZIP_NAME_ABSOLUTE);
    CHECK(anomalies(&o, 3) == (ZIP_NAME_ABSOLUTE | ZIP_NAME_BACKSLASH));
    CHECK(anomalies(&o, 4) == ZIP_NAME_BACKSLASH);
    CHECK(anomalies(&o, 5) == ZIP_NAME_NUL);
    CHECK(anomalies(&o, 6) == ZIP_NAME_EMPTY);
    CHECK(anomalies(&o, 7) == ZIP_DUPLICATE && anomalies(&o, 8) == ZIP_DUPLICATE);
    CHECK(anomalies(&o, 9) == ZIP_DUPLICATE_CASE && anomalies(&o, 10) == ZIP_DUPLICATE_CASE);
    CHECK(anomalies(&o, 11) == 0);
    /* the first in directory order; the anomaly says it is ambiguous */
    CHECK(zip_find(o.za, "dup", 3) == 7);
    CHECK(zip_find(o.za, "case", 4) == 9 && zip_find(o.za, "CASE", 4) == 9);
    CHECK(zip_find(o.za, "nul\0x", 5) == 5 && zip_find(o.za, "nul", 3) == -1);
    CHECK(zip_find(o.za, "", 0) == 6);
    CHECK(read_check(&o, 8, "other", 5) == BRINE_OK);
    done(&o);
}

static void test_layout(void)
{
    /* two directory entries sharing one local header and its data */
    zent es[] = {{.name = "a", .data = hello, .len = 12},
                 {.name = "b", .data = hello, .len = 12, .same_local_as = 1},
                 {.name = "c", .data = hello, .len = 12}};
    opened o;
    open_with(&o, es, 3, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (!o.st) {
        CHECK(anomalies(&o, 0) == ZIP_OVERLAP &&
              anomalies(&o, 1) == (ZIP_OVERLAP | ZIP_LOCAL_NAME));
        CHECK(anomalies(&o, 2) == 0);
    }
    done(&o);

    /* data running into the central directory */
    zent r[] = {{.name = "a", .data = hello, .len = 12},
                {.name = "b", .data = hello, .len = 12, .csize_delta = 10, .usize_delta = 10}};
    open_with(&o, r, 2, NULL, NULL);
    CHECK(o.st == BRINE_OK && anomalies(&o, 1) == (ZIP_OVERLAP_CD | ZIP_LOCAL_SIZES) &&
          anomalies(&o, 0) == 0);
    done(&o);

    /* data past the end of the file */
    zent p[] = {
        {.name = "a", .data = hello, .len = 12, .csize_delta = 100000, .usize_delta = 100000}};
    open_with(&o, p, 1, NULL, NULL);
    CHECK(o.st == BRINE_OK && anomalies(&o, 0) == (ZIP_ERR_PAST_EOF | ZIP_LOCAL_SIZES));
    CHECK(read_check(&o, 0, hello, 12) == BRINE_ERR_MALFORMED && strstr(o.err.msg, "past the end"));
    done(&o);

    /* no local header where the directory points */
    zent l[] = {{.name = "a", .data = hello, .len = 12, .gap_before = 3},
                {.name = "b", .data = hello, .len = 12}};
    zopts pre = {.prefix = "MZ", .prefix_len = 2};
    build(l, 2, &pre, &o.b);
    free(o.b.p);
    l[0].gap_before = 0;
    open_with(&o, l, 2, &pre, NULL);
    CHECK(o.st == BRINE_OK && zip_archive_anomalies(o.za) == ZIP_A_PREFIX);
    done(&o);
    l[1].gap_before = 4;
    open_with(&o, l, 2, NULL, NULL);
    CHECK(o.st == BRINE_OK && zip_archive_anomalies(o.za) == ZIP_A_HIDDEN);
    /* point entry 0 one byte off: its local header is gone */
    done(&o);
    l[1].gap_before = 0;
    zb b;
    build(l, 2, NULL, &b);
    size_t cd = b.n - 22 - (46 + 1) * 2;
    set32(&b, cd + 42, 1);
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    zip_archive *za;
    brine_error err;
    CHECK(zip_open(b.p, b.n, NULL, &mem, &za, &err) == BRINE_OK);
    if (za) {
        CHECK(zip_entry_at(za, 0)->anomalies == ZIP_ERR_LOCAL);
        const uint8_t *d;
        size_t n;
        int owned;
        CHECK(zip_read(za, 0, 0, &d, &n, &owned, &err) == BRINE_ERR_MALFORMED &&
              strstr(err.msg, "no valid local header"));
        zip_close(za);
    }
    free(b.p);
    CHECK(mem.used == 0);

    /* stored with different sizes; data with a zero compressed size */
    zent s[] = {{.name = "a", .data = hello, .len = 12, .usize_delta = 1},
                {.name = "b", .data = "", .len = 0, .usize_delta = 5}};
    open_with(&o, s, 2, NULL, NULL);
    CHECK(o.st == BRINE_OK && (anomalies(&o, 0) & ZIP_ERR_SIZES) &&
          (anomalies(&o, 1) & ZIP_ERR_SIZES));
    done(&o);
}

static void test_end_record_tricks(void)
{
    zent es[] = {{.name = "a", .data = hello, .len = 12}};
    /* EOCD in comment: the real record's comment is a fake record ending the file */
    uint8_t fake[22] = {0x50, 0x4b, 5, 6};
    zopts z = {.comment = fake, .comment_len = 22};
    opened o;
    open_with(&o, es, 1, &z, NULL);
    /* miniz and zipfile both take the last record: an empty archive here */
    CHECK(o.st == BRINE_OK && zip_count(o.za) == 0);
    CHECK(zip_archive_anomalies(o.za) & ZIP_A_EOCD_IN_COMMENT);
    done(&o);

    /* comment length longer than the file */
    z = (zopts){.comment = "hi", .comment_len = 2, .comment_len_delta = 5};
    open_with(&o, es, 1, &z, NULL);
    CHECK(o.st == BRINE_OK && zip_archive_anomalies(o.za) == ZIP_A_EOCD_COMMENT);
    done(&o);

    /* bytes inside the directory after the declared records (zipfile reads by size) */
    z = (zopts){.cd_trailing = 46};
    open_with(&o, es, 1, &z, NULL);
    CHECK(o.st == BRINE_OK && zip_archive_anomalies(o.za) == ZIP_A_CD_TRAILING);
    done(&o);
    /* bytes between the directory and the end record (zipfile shifts offsets) */
    z = (zopts){.cd_gap = 9};
    open_with(&o, es, 1, &z, NULL);
    CHECK(o.st == BRINE_OK && zip_archive_anomalies(o.za) == ZIP_A_CD_GAP);
    done(&o);

    /* count and size that cannot both be true */
    z = (zopts){.count_set = 1, .count = 2};
    open_with(&o, es, 1, &z, NULL);
    CHECK(o.st == BRINE_ERR_MALFORMED && strstr(o.err.msg, "which need at least 92 bytes"));
    done(&o);
    /* a directory larger than the bytes before the end record */
    z = (zopts){.cd_size_set = 1, .cd_size = 1000};
    open_with(&o, es, 1, &z, NULL);
    CHECK(o.st == BRINE_ERR_MALFORMED && strstr(o.err.msg, "central directory"));
    done(&o);
    /* a truncated directory: the count says 2, the bytes hold one and a half records */
    zent two[] = {{.name = "a", .data = hello, .len = 12}, {.name = "b", .data = hello, .len = 12}};
    zb b;
    build(two, 2, NULL, &b);
    size_t eocd = b.n - 22;
    set32(&b, eocd + 12, 46 + 1 + 46 + 1 - 20); /* cd size */
    memmove(b.p + eocd - 20, b.p + eocd, 22);   /* drop the last 20 directory bytes */
    b.n -= 20;
    /* the end record now says: 2 entries, 74 bytes: too few for two records */
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    zip_archive *za;
    brine_error err;
    CHECK(zip_open(b.p, b.n, NULL, &mem, &za, &err) == BRINE_ERR_MALFORMED);
    set32(&b, b.n - 22 + 12, 92); /* claim enough: the second record runs into the record */
    set32(&b, b.n - 22 + 16, (uint32_t)(b.n - 22 - 92));
    CHECK(zip_open(b.p, b.n, NULL, &mem, &za, &err) == BRINE_ERR_MALFORMED);
    free(b.p);
    /* a record without its signature */
    build(two, 2, NULL, &b);
    set32(&b, b.n - 22 - 47, 0x12345678);
    CHECK(zip_open(b.p, b.n, NULL, &mem, &za, &err) == BRINE_ERR_MALFORMED &&
          strstr(err.msg, "record 1: expected signature"));
    free(b.p);
    CHECK(mem.used == 0);

    /* multi-disk */
    z = (zopts){.disk = 1};
    open_with(&o, es, 1, &z, NULL);
    CHECK(o.st == BRINE_ERR_MALFORMED && strstr(o.err.msg, "multi-disk"));
    done(&o);
    zent d[] = {{.name = "a", .data = hello, .len = 12, .disk = 3}};
    open_with(&o, d, 1, NULL, NULL);
    CHECK(o.st == BRINE_ERR_MALFORMED && strstr(o.err.msg, "multi-disk"));
    done(&o);
}

static void test_limits(void)
{
    /* entry-count bomb: 65535 declared in a few bytes */
    zent es[] = {{.name = "a", .data = hello, .len = 12}};
    zopts z = {.count_set = 1, .count = 65535};
    opened o;
    open_with(&o, es, 1, &z, NULL);
    CHECK(o.st == BRINE_ERR_MALFORMED && strstr(o.err.msg, "65535 entries"));
    done(&o);
    zent many[40];
    char names[40][4];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "%d", i);
        many[i] = (zent){.name = names[i], .data = hello, .len = 12};
    }
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.zip_max_entries = 39;
    open_with(&o, many, 40, NULL, &lim);
    CHECK(o.st == BRINE_ERR_LIMIT && !strcmp(o.err.limit, "zip_max_entries") &&
          o.err.observed == 40);
    done(&o);
    lim.zip_max_entries = 40;
    open_with(&o, many, 40, NULL, &lim);
    CHECK(o.st == BRINE_OK && zip_count(o.za) == 40);
    done(&o);

    /* deflate bomb: 4 MiB of zeros is ~1000:1 */
    zent bomb[] = {{.name = "bomb", .data = zeros, .len = sizeof zeros, .method = 8},
                   {.name = "bomb2", .data = zeros, .len = sizeof zeros, .method = 8}};
    memset(&lim, 0, sizeof lim);
    lim.zip_max_ratio = 100;
    open_with(&o, bomb, 2, NULL, &lim);
    CHECK(o.st == BRINE_OK);
    CHECK(read_check(&o, 0, zeros, sizeof zeros) == BRINE_ERR_LIMIT &&
          !strcmp(o.err.limit, "zip_max_ratio") && o.err.observed > 100);
    CHECK(o.mem.used < 100000); /* refused before the buffer exists */
    done(&o);
    memset(&lim, 0, sizeof lim);
    lim.zip_max_entry_bytes = sizeof zeros - 1;
    open_with(&o, bomb, 2, NULL, &lim);
    CHECK(read_check(&o, 0, zeros, sizeof zeros) == BRINE_ERR_LIMIT &&
          !strcmp(o.err.limit, "zip_max_entry_bytes"));
    done(&o);
    memset(&lim, 0, sizeof lim);
    lim.zip_max_total_bytes = sizeof zeros + 10;
    open_with(&o, bomb, 2, NULL, &lim);
    CHECK(read_check(&o, 0, zeros, sizeof zeros) == BRINE_OK);
    CHECK(read_check(&o, 1, zeros, sizeof zeros) == BRINE_ERR_LIMIT &&
          !strcmp(o.err.limit, "zip_max_total_bytes"));
    done(&o);
    /* the default limits accept it */
    open_with(&o, bomb, 2, NULL, NULL);
    CHECK(read_check(&o, 0, zeros, sizeof zeros) == BRINE_OK);
    done(&o);
}

static void test_inflate_errors(void)
{
    char text[5000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)(i * 31 % 251);
    /* declared smaller than the stream: refused rather than overrun */
    zent es[] = {
        {.name = "small", .data = text, .len = sizeof text, .method = 8, .usize_delta = -1},
        {.name = "large", .data = text, .len = sizeof text, .method = 8, .usize_delta = 1},
        {.name = "cut", .data = text, .len = sizeof text, .method = 8, .csize_delta = -40},
        {.name = "tail",
         .data = text,
         .len = sizeof text,
         .method = 8,
         .tail = "XYZ",
         .tail_len = 3},
        {.name = "garbage", .data = "\xff\xff\xff\xff\xff\xff", .len = 6, .method = 8}};
    /* garbage: stored bytes 0xff under method 8 (the builder deflates them, so corrupt) */
    opened o;
    open_with(&o, es, 5, NULL, NULL);
    CHECK(o.st == BRINE_OK);
    if (o.st)
        return;
    CHECK(read_check(&o, 0, text, sizeof text) == BRINE_ERR_MALFORMED &&
          strstr(o.err.msg, "more than the 4999 bytes"));
    CHECK(read_check(&o, 1, text, sizeof text) == BRINE_ERR_MALFORMED &&
          strstr(o.err.msg, "inflates to 5000 bytes, the central directory declares 5001"));
    CHECK(read_check(&o, 2, text, sizeof text) == BRINE_ERR_MALFORMED &&
          strstr(o.err.msg, "cut off"));
    CHECK(read_check(&o, 3, text, sizeof text) == BRINE_OK && anomalies(&o, 3) == ZIP_DEFLATE_TAIL);
    /* corrupt the garbage entry's deflate stream in place: a reserved block type */
    const zip_entry *g = zip_entry_at(o.za, 4);
    o.b.p[g->data_offset] = 0x07;
    CHECK(read_check(&o, 4, "", 0) == BRINE_ERR_MALFORMED && strstr(o.err.msg, "invalid deflate"));
    CHECK(o.mem.used > 0); /* the archive itself */
    done(&o);
}

static void test_alloc_failures(void)
{
    char text[2000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)(i % 13);
    zent es[] = {{.name = "a", .data = hello, .len = 12},
                 {.name = "b", .data = text, .len = sizeof text, .method = 8},
                 {.name = "c", .data = text, .len = sizeof text, .method = 8}};
    zb b;
    build(es, 3, NULL, &b);
    for (uint64_t n = 1;; n++) {
        mem_budget mem;
        mem_budget_init(&mem, 1 << 24);
        zip_archive *za = NULL;
        brine_error err;
        mem_fail_after(n);
        brine_status st = zip_open(b.p, b.n, NULL, &mem, &za, &err);
        for (size_t i = 0; i < 3 && !st; i++) {
            const uint8_t *d;
            size_t len;
            int owned;
            st = zip_read(za, i, 0, &d, &len, &owned, &err);
            if (!st)
                zip_release(za, d, len, owned);
        }
        uint64_t attempts = mem_fail_after(0);
        zip_close(za);
        CHECK(mem.used == 0);
        if (!st) {
            CHECK(attempts < n);
            break;
        }
        CHECK(st == BRINE_ERR_NOMEM);
        if (n > 100) {
            CHECK(n <= 100); /* never succeeded */
            break;
        }
    }
    free(b.p);
}

static void test_anomaly_names(void)
{
    int named = 0;
    for (unsigned bit = 0; bit < 64; bit++) {
        uint64_t m = UINT64_C(1) << bit;
        const char *n = zip_anomaly_name(m), *t = zip_anomaly_text(m), *r = zip_anomaly_rule(m);
        CHECK(!n == !t && !n == !r);
        if (n) {
            named++;
            CHECK(strlen(n) > 2 && strlen(t) > 10);
            CHECK(!strncmp(r, "zip-", 4) && !strcmp(r + 4, n));
        }
    }
    CHECK(named == 33);
    CHECK(!zip_anomaly_name(0) && !zip_anomaly_name(3));
    CHECK(!strcmp(zip_anomaly_name(ZIP_LOCAL_NAME), "local-name"));
    CHECK(strstr(zip_anomaly_text(ZIP_CRC), "CVE-2025-10156"));
}

int main(void)
{
    test_benign();
    test_not_zip();
    test_local_header_tricks();
    test_central_flags_and_methods();
    test_crc();
    test_descriptors();
    test_zip64();
    test_names_and_duplicates();
    test_layout();
    test_end_record_tricks();
    test_limits();
    test_inflate_errors();
    test_alloc_failures();
    test_anomaly_names();
    printf("test_zip: %d checks, %d failures\n", checks, failures);
    return failures != 0;
}
