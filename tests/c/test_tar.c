/*
 * test_tar.c — contracts of the tar reader (src/formats/tar.c) and the 7z reader
 * (src/formats/sevenzip.c) on hand-built inputs: lookup (last member wins, trailing '/'),
 * what tarfile does at the edges (zero first block, link with a size, a bad later header,
 * pax size, negative sizes), limits, and allocation-failure injection (every allocation in
 * turn fails: a clean BRINE_ERR_NOMEM and nothing left charged). Whether brine reads like
 * tarfile on real archives is tests/python/test_tar_diff.py's job.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brine.h"
#include "core/alloc.h"
#include "formats/sevenzip.h"
#include "formats/tar.h"

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* A ustar header with a correct checksum. */
static void header(uint8_t *h, const char *name, char type, uint64_t size, const char *link)
{
    memset(h, 0, TAR_BLOCK);
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    char num[32];
    snprintf(num, sizeof num, "%011" PRIo64, size & 077777777777);
    memcpy(h + 124, num, 11);
    memcpy(h + 136, "00000000000", 11);
    h[156] = (uint8_t)type;
    if (link)
        memcpy(h + 157, link, strlen(link));
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

typedef struct buf {
    uint8_t d[64 * TAR_BLOCK];
    size_t n;
} buf;

static void member(buf *b, const char *name, char type, const char *data, const char *link)
{
    size_t len = data ? strlen(data) : 0;
    header(b->d + b->n, name, type, len, link);
    b->n += TAR_BLOCK;
    if (len) {
        memset(b->d + b->n, 0, (len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK);
        memcpy(b->d + b->n, data, len);
        b->n += (len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    }
}

static void end(buf *b)
{
    memset(b->d + b->n, 0, 2 * TAR_BLOCK);
    b->n += 2 * TAR_BLOCK;
}

static tar_archive *open_ok(const buf *b, mem_budget *mem)
{
    tar_archive *ta = NULL;
    brine_error err;
    CHECK(tar_open(b->d, b->n, NULL, mem, &ta, &err) == BRINE_OK && ta);
    return ta;
}

static void test_lookup(void)
{
    static buf b;
    b.n = 0;
    member(&b, "model.pkl", '0', "first", NULL);
    member(&b, "dir/", '5', NULL, NULL);
    member(&b, "model.pkl", '0', "second", NULL);
    end(&b);
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    tar_archive *ta = open_ok(&b, &mem);
    if (!ta)
        return;
    CHECK(tar_count(ta) == 3);
    CHECK(tar_find(ta, "model.pkl", 9) == 2);
    CHECK(tar_find(ta, "model.pkl/", 10) == 2); /* getmember strips the query's slashes */
    CHECK(tar_find(ta, "dir", 3) == 1);         /* and tarfile strips directory names */
    CHECK(tar_find(ta, "nope", 4) == -1 && tar_find(ta, "", 0) == -1);
    const tar_member *m = tar_member_at(ta, 2);
    CHECK(m->data && m->data_len == 6 && memcmp(m->data, "second", 6) == 0);
    CHECK((m->anomalies & TAR_DUPLICATE) && (tar_member_at(ta, 0)->anomalies & TAR_DUPLICATE));
    CHECK(!(tar_member_at(ta, 1)->anomalies & TAR_DUPLICATE));
    CHECK(tar_member_at(ta, 3) == NULL);
    CHECK(tar_get_outcome(ta)->open_ok && tar_get_outcome(ta)->complete);
    CHECK(!tar_is_torch(ta));
    CHECK(tar_probe(b.d, b.n) == 90);
    tar_close(ta);
    CHECK(mem.used == 0);
    tar_close(NULL);
}

static void test_edges(void)
{
    static buf b;
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    /* a block of zeros first: tarfile opens an empty archive */
    b.n = 0;
    end(&b);
    tar_archive *ta = open_ok(&b, &mem);
    CHECK(ta && tar_count(ta) == 0 && tar_get_outcome(ta)->complete && !tar_is_torch(ta));
    tar_close(ta);
    CHECK(tar_probe(b.d, b.n) == 0);
    /* empty input: ReadError("empty file") */
    CHECK(tar_open(NULL, 0, NULL, &mem, &ta, NULL) == BRINE_OK);
    CHECK(ta && !tar_get_outcome(ta)->open_ok && tar_get_outcome(ta)->read_error &&
          strcmp(tar_get_outcome(ta)->reason, "empty file") == 0);
    tar_close(ta);
    /* a symlink with a size: its "data" is the next header, which tarfile reads */
    b.n = 0;
    member(&b, "storages", '2', NULL, "/etc/passwd");
    snprintf((char *)b.d + 124, 12, "%011o", 512u);
    memset(b.d + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += b.d[i];
    snprintf((char *)b.d + 148, 8, "%06o", sum);
    member(&b, "pickle", '0', "payload", NULL);
    end(&b);
    ta = open_ok(&b, &mem);
    if (ta) {
        CHECK(tar_count(ta) == 2 && tar_is_torch(ta));
        const tar_member *m = tar_member_at(ta, 0);
        CHECK(m->type == '2' && m->data == NULL &&
              (m->anomalies & (TAR_SIZE_NO_DATA | TAR_LINK | TAR_LINK_ESCAPE)) ==
                  (TAR_SIZE_NO_DATA | TAR_LINK | TAR_LINK_ESCAPE));
        CHECK(tar_member_at(ta, 1)->header_offset == 512);
        tar_close(ta);
    }
    /* a bad checksum after the first member: tarfile stops there, silently */
    b.n = 0;
    member(&b, "a", '0', "x", NULL);
    member(&b, "b", '0', "y", NULL);
    end(&b);
    b.d[1024 + 148] ^= 1;
    ta = open_ok(&b, &mem);
    if (ta) {
        CHECK(tar_count(ta) == 1 && tar_get_outcome(ta)->complete);
        CHECK(tar_anomalies(ta) & TAR_A_STOPPED);
        tar_close(ta);
    }
    /* ... and in the first header, tarfile.open raises ReadError("bad checksum") */
    b.d[148] ^= 1;
    ta = open_ok(&b, &mem);
    if (ta) {
        CHECK(!tar_get_outcome(ta)->open_ok && tar_get_outcome(ta)->read_error);
        CHECK(strcmp(tar_get_outcome(ta)->reason, "bad checksum") == 0);
        tar_close(ta);
    }
    /* data cut short: opens, then "unexpected end of data" */
    b.n = 0;
    member(&b, "a", '0', "x", NULL);
    member(&b, "b", '0', "0123456789", NULL);
    b.n -= 500;
    ta = open_ok(&b, &mem);
    if (ta) {
        CHECK(tar_get_outcome(ta)->open_ok && !tar_get_outcome(ta)->complete &&
              tar_get_outcome(ta)->read_error);
        CHECK(tar_count(ta) == 2 && tar_member_at(ta, 1)->data != NULL);
        tar_close(ta);
    }
    /* size -512 (base-256): tarfile would read the same header forever */
    b.n = 0;
    member(&b, "loop", '0', NULL, NULL);
    memset(b.d + 124, 0xff, 12);
    b.d[134] = 0xfe;
    b.d[135] = 0x00;
    memset(b.d + 148, ' ', 8);
    sum = 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += b.d[i];
    snprintf((char *)b.d + 148, 8, "%06o", sum);
    end(&b);
    ta = open_ok(&b, &mem);
    if (ta) {
        CHECK(tar_member_at(ta, 0) && tar_member_at(ta, 0)->size == -512);
        CHECK(!tar_get_outcome(ta)->complete && !tar_get_outcome(ta)->read_error);
        tar_close(ta);
    }
    CHECK(mem.used == 0);
}

static void test_limits_and_nomem(void)
{
    static buf b;
    b.n = 0;
    for (int i = 0; i < 20; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s%d", i % 2 ? "p/" : "", i);
        member(&b, name, '0', "data", NULL);
    }
    /* a ustar prefix, joined in the pool */
    header(b.d + b.n, "tail", '0', 0, NULL);
    memcpy(b.d + b.n + 345, "prefix/dir", 10);
    memset(b.d + b.n + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += b.d[b.n + (size_t)i];
    snprintf((char *)b.d + b.n + 148, 8, "%06o", sum);
    b.n += TAR_BLOCK;
    end(&b);
    mem_budget mem;
    mem_budget_init(&mem, 1 << 20);
    tar_archive *ta = open_ok(&b, &mem);
    if (ta) {
        CHECK(tar_count(ta) == 21 && tar_find(ta, "prefix/dir/tail", 15) == 20);
        tar_close(ta);
    }
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.archive_max_members = 5;
    brine_error err;
    ta = (tar_archive *)&lim;
    CHECK(tar_open(b.d, b.n, &lim, &mem, &ta, &err) == BRINE_ERR_LIMIT && ta == NULL);
    CHECK(err.limit && strcmp(err.limit, "archive_max_members") == 0 && mem.used == 0);
    lim.archive_max_members = 0;
    lim.archive_max_name = 10;
    CHECK(tar_open(b.d, b.n, &lim, &mem, &ta, &err) == BRINE_ERR_LIMIT && mem.used == 0);
    /* every allocation in turn fails */
    int ok_seen = 0;
    for (uint64_t n = 1; n < 200 && !ok_seen; n++) {
        mem_fail_after(n);
        brine_status st = tar_open(b.d, b.n, NULL, &mem, &ta, &err);
        mem_fail_after(0);
        CHECK(st == BRINE_OK || (st == BRINE_ERR_NOMEM && ta == NULL));
        if (st == BRINE_OK) {
            ok_seen = 1;
            CHECK(tar_count(ta) == 21);
            tar_close(ta);
        }
        CHECK(mem.used == 0);
    }
    CHECK(ok_seen);
}

/* "a.pkl" = "hi\n", stored, written by 7-Zip 23 */
static const uint8_t tiny_7z[] = {
    0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04, 0xe1, 0x5a, 0x1a, 0x4f, 0x03, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0xb4,
    0xfc, 0x82, 0x68, 0x69, 0x0a, 0x01, 0x04, 0x06, 0x00, 0x01, 0x09, 0x03, 0x00, 0x07, 0x0b,
    0x01, 0x00, 0x01, 0x01, 0x00, 0x0c, 0x03, 0x00, 0x08, 0x0a, 0x01, 0x7a, 0x7a, 0x6f, 0xed,
    0x00, 0x00, 0x05, 0x01, 0x11, 0x0d, 0x00, 0x61, 0x00, 0x2e, 0x00, 0x70, 0x00, 0x6b, 0x00,
    0x6c, 0x00, 0x00, 0x00, 0x14, 0x0a, 0x01, 0x00, 0x94, 0x00, 0x83, 0xf4, 0xba, 0x84, 0xdd,
    0x01, 0x15, 0x06, 0x01, 0x00, 0x20, 0x80, 0xa4, 0x81, 0x00, 0x00};

typedef struct seen {
    int count;
    brine_status answer;
} seen;

static brine_status on_member(void *ctx, const sz_member *m)
{
    seen *s = ctx;
    s->count++;
    CHECK(strcmp(m->name, "a.pkl") == 0 && m->name_len == 5 && m->type == '0');
    CHECK(m->status == BRINE_OK && m->len == 3 && memcmp(m->data, "hi\n", 3) == 0);
    CHECK(m->declared_size == 3 && m->index == 0);
    return s->answer;
}

static void test_sevenzip(void)
{
    mem_budget mem;
    mem_budget_init(&mem, 1 << 24);
    brine_error err;
    seen s = {0, BRINE_OK};
    CHECK(sz_probe(tiny_7z, sizeof tiny_7z) == 95 && sz_probe(tiny_7z, 5) == 0);
    CHECK(sz_each(tiny_7z, sizeof tiny_7z, NULL, &mem, on_member, &s, &err) == BRINE_OK);
    CHECK(s.count == 1 && mem.used == 0);
    s = (seen){0, BRINE_ERR_POLICY}; /* the callback's status stops the walk */
    CHECK(sz_each(tiny_7z, sizeof tiny_7z, NULL, &mem, on_member, &s, &err) == BRINE_ERR_POLICY);
    CHECK(s.count == 1 && mem.used == 0);
    s = (seen){0, BRINE_OK};
    for (uint64_t n = 1; n < 20; n++) {
        mem_fail_after(n);
        brine_status st = sz_each(tiny_7z, sizeof tiny_7z, NULL, &mem, on_member, &s, &err);
        mem_fail_after(0);
        CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM);
        CHECK(mem.used == 0);
    }
    CHECK(sz_each(tiny_7z, 40, NULL, &mem, on_member, &s, &err) == BRINE_ERR_MALFORMED);
    CHECK(mem.used == 0);
}

int main(void)
{
    test_lookup();
    test_edges();
    test_limits_and_nomem();
    test_sevenzip();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    puts("test_tar: all checks passed");
    return 0;
}
