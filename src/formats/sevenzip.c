/*
 * sevenzip.c — 7z members through libarchive (archive_read_support_format_7zip), read from
 * memory.
 *
 * Threat model: the archive is hostile. Its headers declare sizes and counts that are never
 * trusted: the member count is bounded by archive_max_members, names by archive_max_name,
 * and member bytes are collected in a budget-charged buffer that grows only as libarchive's
 * decoders produce data, bounded by zip_max_entry_bytes per member, zip_max_total_bytes in
 * all and zip_max_ratio against the input size (LZMA bombs). An encrypted member is not a
 * reason to give up on the others: it is reported by name and the walk goes on. Decoding is
 * libarchive's; its bugs are its own (Debian's security updates), which is why this file does
 * nothing but drive it. libarchive is loaded when the first 7z file shows up (arlib.h).
 */
#include "formats/sevenzip.h"

#include <string.h>
#include <zlib.h>
#include <locale.h>
#include <pthread.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/limits.h"
#include "formats/arlib.h"
#include "formats/sevenzip_header.h"

enum { CHUNK = 64 * 1024 };

static const uint8_t SZ_MAGIC[6] = {'7', 'z', 0xBC, 0xAF, 0x27, 0x1C};

int sz_probe(const uint8_t *data, size_t len)
{
    return data && len >= 32 && memcmp(data, SZ_MAGIC, sizeof SZ_MAGIC) == 0 ? 95 : 0;
}

/* The 32-byte start header (7zFormat.txt "SignatureHeader"): signature, version, CRC of the
 * next 20 bytes, then where the next header lies and its CRC. libarchive goes on with a
 * damaged start header and then trusts sizes from wherever it lands (a 105-byte input made it
 * ask for 4.4 GB); 7-Zip refuses such files. So brine checks both CRCs and that the next
 * header lies inside the input before libarchive sees the bytes. */
static const char *start_header_problem(const uint8_t *d, size_t len)
{
    if (d[6] != 0)
        return "unsupported 7z major version";
    if ((uint32_t)crc32(0, d + 12, 20) != ld_le32(d + 8))
        return "7z start header CRC mismatch";
    uint64_t off = ld_le64(d + 12), size = ld_le64(d + 20), end;
    if (__builtin_add_overflow(off, size, &end) || end > len - 32)
        return "7z next header lies outside the file";
    if (size > UINT32_MAX || (uint32_t)crc32(0, d + 32 + off, (uInt)size) != ld_le32(d + 28))
        return "7z next header CRC mismatch";
    return NULL;
}

typedef struct sz_walk {
    struct archive *a;
    const brine_limits *lim;
    mem_budget *mem;
    uint64_t total;     /* decompressed bytes so far */
    uint64_t max_total; /* min(zip_max_total_bytes, zip_max_ratio × input) */
    uint64_t in_len;
    uint8_t *buf;
    size_t cap;
    const char *limit; /* the limit a member went over */
    uint64_t limit_value, observed;
} sz_walk;

static brine_status over(sz_walk *w, const char *limit, uint64_t value, uint64_t observed,
                         const char **reason)
{
    w->limit = limit;
    w->limit_value = value;
    w->observed = observed;
    *reason = limit;
    return BRINE_ERR_LIMIT;
}

static char type_of(struct archive_entry *e)
{
    switch (archive_entry_filetype(e)) {
    case AE_IFREG: return '0';
    case AE_IFDIR: return '5';
    case AE_IFLNK: return '2';
    default: return '?';
    }
}

/* Reads the current member's data into w->buf. BRINE_OK with *n bytes; BRINE_ERR_LIMIT with
 * *reason; or the member's own error with libarchive's message in *reason. *fatal when
 * libarchive cannot go on to the next member. */
static brine_status read_data(sz_walk *w, struct archive_entry *e, size_t *n, const char **reason,
                              int *fatal)
{
    *n = 0;
    *fatal = 0;
    if (archive_entry_is_encrypted(e)) {
        *reason = "encrypted member (brine reads no passwords)";
        return BRINE_ERR_UNSUPPORTED;
    }
    for (;;) {
        if (w->cap - *n < CHUNK) {
            uint64_t want = (uint64_t)*n + CHUNK;
            if (want > w->lim->zip_max_entry_bytes + CHUNK)
                return over(w, "zip_max_entry_bytes", w->lim->zip_max_entry_bytes, want, reason);
            if (mem_grow(w->mem, (void **)&w->buf, &w->cap, (size_t)want, 1)) {
                *reason = "out of memory";
                return BRINE_ERR_NOMEM;
            }
        }
        la_ssize_t got = archive_read_data(w->a, w->buf + *n, CHUNK);
        if (got < 0) {
            *fatal = got == ARCHIVE_FATAL;
            const char *msg = archive_error_string(w->a);
            *reason = msg ? msg : "libarchive could not decode the member";
            return archive_read_has_encrypted_entries(w->a) > 0 ? BRINE_ERR_UNSUPPORTED
                                                                : BRINE_ERR_MALFORMED;
        }
        if (got == 0)
            break;
        *n += (size_t)got;
        w->total += (uint64_t)got;
        if (*n > w->lim->zip_max_entry_bytes)
            return over(w, "zip_max_entry_bytes", w->lim->zip_max_entry_bytes, *n, reason);
        if (w->total > w->max_total)
            return over(w,
                        w->max_total == w->lim->zip_max_total_bytes ? "zip_max_total_bytes"
                                                                    : "zip_max_ratio",
                        w->max_total, w->total, reason);
    }
    if (archive_entry_size_is_set(e) && archive_entry_size(e) != (la_int64_t)*n) {
        *reason = "member size differs from the size the archive declares";
        return BRINE_ERR_MALFORMED;
    }
    return BRINE_OK;
}

static brine_status walk(sz_walk *w, sz_member_fn cb, void *ctx, brine_error *err)
{
    for (uint64_t index = 0;; index++) {
        struct archive_entry *e;
        int r = archive_read_next_header(w->a, &e);
        if (r == ARCHIVE_EOF)
            return BRINE_OK;
        if (r < ARCHIVE_WARN) {
            const char *msg = archive_error_string(w->a);
            brine_status code = archive_read_has_encrypted_entries(w->a) > 0 ? BRINE_ERR_UNSUPPORTED
                                                                             : BRINE_ERR_MALFORMED;
            return err_set(err, code, __LINE__, "7z: member %llu cannot be read: %s",
                           (unsigned long long)index, msg ? msg : "libarchive failed");
        }
        if (index >= w->lim->archive_max_members)
            return err_limit(err, "archive_max_members", w->lim->archive_max_members, index + 1, 0,
                             0, __LINE__);
        sz_member m;
        memset(&m, 0, sizeof m);
        m.name = archive_entry_pathname_utf8(e);
        if (!m.name)
            m.name = ""; /* not convertible to UTF-8 (no C.UTF-8 locale) */
        m.name_len = strlen(m.name);
        if (m.name_len > w->lim->archive_max_name)
            return err_limit(err, "archive_max_name", w->lim->archive_max_name, m.name_len, 0, 0,
                             __LINE__);
        m.type = type_of(e);
        if (m.type == '2')
            m.linkname = archive_entry_symlink_utf8(e);
        m.index = index;
        m.declared_size = archive_entry_size_is_set(e) ? (int64_t)archive_entry_size(e) : -1;
        int fatal = 0;
        if (m.type == '0') {
            size_t n = 0;
            m.status = read_data(w, e, &n, &m.reason, &fatal);
            if (m.status == BRINE_ERR_NOMEM)
                return ERR_NOMEM(err);
            if (m.status == BRINE_OK) {
                m.data = w->buf ? w->buf : (const uint8_t *)"";
                m.len = n;
            }
        }
        brine_status st = cb(ctx, &m);
        if (st)
            return st;
        if (m.status == BRINE_ERR_LIMIT)
            return err_limit(err, w->limit, w->limit_value, w->observed, 0, 0, __LINE__);
        if (fatal)
            return err_set(err, m.status, __LINE__, "7z: member %s cannot be read: %s", m.name,
                           m.reason);
    }
}

/* libarchive converts 7z's UTF-16 names to the thread's locale encoding, which fails for every
 * non-ASCII name in the C locale; a UTF-8 locale for this thread only (uselocale) leaves the
 * caller's locale alone. It is made once and kept: glibc's newlocale/freelocale from several
 * threads share locale data under a lock ThreadSanitizer cannot see, and once is cheaper. */
static locale_t utf8_ctype;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void make_utf8_locale(void)
{
    utf8_ctype = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t utf8_locale(void)
{
    pthread_once(&utf8_once, make_utf8_locale);
    return utf8_ctype;
}

brine_status sz_each(const uint8_t *data, size_t len, const brine_limits *lim, mem_budget *mem,
                     sz_member_fn cb, void *ctx, brine_error *err)
{
    brine_limits L;
    lim_resolve(lim, &L);
    err_clear(err);
    if (!sz_probe(data, len))
        return err_at(err, BRINE_ERR_MALFORMED, 0, __LINE__, "not a 7z archive (no signature)");
    const char *problem = start_header_problem(data, len);
    if (problem)
        return err_at(err, BRINE_ERR_MALFORMED, 0, __LINE__, "%s", problem);
    brine_status st = sz_header_check(data, len, &L, mem, err);
    if (!st)
        st = arlib_load(err);
    if (st)
        return st;
    sz_walk w;
    memset(&w, 0, sizeof w);
    w.lim = &L;
    w.mem = mem;
    w.in_len = len;
    if (__builtin_mul_overflow((uint64_t)len, L.zip_max_ratio, &w.max_total) ||
        w.max_total > L.zip_max_total_bytes)
        w.max_total = L.zip_max_total_bytes;
    locale_t utf8 = utf8_locale();
    locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
    w.a = archive_read_new();
    if (!w.a) {
        if (utf8)
            uselocale(old);
        return ERR_NOMEM(err);
    }
    if (archive_read_support_format_7zip(w.a) != ARCHIVE_OK ||
        archive_read_open_memory(w.a, data, len) != ARCHIVE_OK) {
        const char *msg = archive_error_string(w.a);
        st = err_at(err, BRINE_ERR_MALFORMED, 0, __LINE__, "7z: %s",
                    msg ? msg : "libarchive cannot open it");
    } else {
        st = walk(&w, cb, ctx, err);
    }
    archive_read_free(w.a);
    if (utf8)
        uselocale(old);
    if (w.buf)
        mem_free(mem, w.buf, w.cap);
    return st;
}
