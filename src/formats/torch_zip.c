/*
 * torch_zip.c — PyTorch zip checkpoints (torch.save since 1.6), TorchScript archives, and any
 * other zip: scanned the way torch.load reads them.
 *
 * torch's reader (miniz, caffe2/serialize/inline_container.cc) takes names, sizes and methods
 * from the central directory, looks names up case-insensitively, ignores local headers and
 * CRCs, takes the archive folder from the first entry, and unpickles <folder>/data.pkl with a
 * persistent_load that reads <folder>/data/<key>. An archive with constants.pkl is TorchScript
 * and goes to torch.jit.load, which compiles and runs the archive's code — even with
 * weights_only=True before torch 2.6 (CVE-2025-32434). Every discrepancy between this reading
 * and a stricter one (Python's zipfile) is a finding, never a reason to skip bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "formats/format.h"
#include "formats/zip.h"
#include "policy/policy.h"

typedef struct torch_zip {
    scan_ctx *sc;
    zip_archive *za;
    char prefix[256]; /* "<folder>/" */
    size_t prefix_len;
} torch_zip;

static int zip_probe(const uint8_t *data, size_t len)
{
    return len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0 ? 90 : 0;
}

static long find_record(const torch_zip *tz, const char *record)
{
    char name[512];
    int n = snprintf(name, sizeof name, "%s%s", tz->prefix, record);
    if (n < 0 || (size_t)n >= sizeof name)
        return -1;
    return zip_find(tz->za, name, (size_t)n);
}

static void member_name(const zip_entry *e, char *buf, size_t cap)
{
    size_t n = e->name_len < cap - 1 ? e->name_len : cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = e->name[i] >= 0x20 && e->name[i] < 0x7f ? (char)e->name[i] : '?';
    buf[n] = '\0';
}

/* A storage named by data.pkl must exist as data/<key> with numel × itemsize bytes; torch 1.13
 * does not check and exposes heap memory past a short record. */
static int storage_check(void *ctx, const uint8_t *key, size_t key_len, const char *cls,
                         int64_t numel, char *why, size_t cap)
{
    torch_zip *tz = ctx;
    char name[512];
    int n = snprintf(name, sizeof name, "%sdata/%.*s", tz->prefix, (int)(key_len > 200 ? 200 : key_len),
                     (const char *)key);
    long idx = n > 0 && (size_t)n < sizeof name ? zip_find(tz->za, name, (size_t)n) : -1;
    if (idx < 0) {
        snprintf(why, cap, "storage %.*s has no record %s", (int)(key_len > 40 ? 40 : key_len),
                 (const char *)key, name);
        return -1;
    }
    const char *dtype = pol_torch_storage_dtype(cls);
    const ld_dtype *d = dtype ? ld_dtype_by_torch(dtype) : NULL;
    uint64_t elem = strcmp(cls, "UntypedStorage") == 0 ? 1 : d ? d->size : 0;
    uint64_t need;
    const zip_entry *e = zip_entry_at(tz->za, (size_t)idx);
    if (!elem || numel < 0 || __builtin_mul_overflow((uint64_t)numel, elem, &need) ||
        need > e->usize) {
        snprintf(why, cap, "storage record %s holds %" PRIu64 " bytes, data.pkl declares %" PRId64
                           " elements of %s (torch 1.13 would expose heap memory)",
                 name, e->usize, numel, cls);
        return -1;
    }
    return 0;
}

/* For validating tensor views during a scan: the size of data/<key>, never its bytes. */
static int size_resolve(void *ctx, ld_storage *s, brine_error *err)
{
    torch_zip *tz = ctx;
    char name[512];
    int n = snprintf(name, sizeof name, "%sdata/%s", tz->prefix, s->key);
    long idx = n > 0 && (size_t)n < sizeof name ? zip_find(tz->za, name, (size_t)n) : -1;
    if (idx < 0) {
        err_set(err, BRINE_ERR_MALFORMED, __LINE__, "storage %.60s has no record", s->key);
        return -1;
    }
    static const uint8_t unread = 0; /* a scan never reads tensor bytes */
    s->data = &unread;
    s->nbytes = zip_entry_at(tz->za, (size_t)idx)->usize;
    return 0;
}

static brine_status report_anomalies(scan_ctx *sc, const char *member, uint64_t bits,
                                     int64_t offset)
{
    for (unsigned b = 0; b < 64; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if (!(bits & bit) || !zip_anomaly_rule(bit))
            continue;
        brine_status st = scan_add_finding(sc, BRINE_INVALID, zip_anomaly_rule(bit), NULL, member,
                                           offset,
                                           "%s: readers disagree about this archive",
                                           zip_anomaly_text(bit));
        if (st)
            return st;
    }
    return BRINE_OK;
}

/* Reads entry i and scans it as a pickle stream. */
static brine_status scan_member(torch_zip *tz, size_t i, scan_pid_mode mode, int sniff)
{
    const zip_entry *e = zip_entry_at(tz->za, i);
    char name[256];
    member_name(e, name, sizeof name);
    const uint8_t *data;
    size_t len;
    int owned;
    brine_error err;
    brine_status st = zip_read(tz->za, i, 0, &data, &len, &owned, &err);
    if (st == BRINE_ERR_NOMEM)
        return st;
    if (st) {
        return scan_add_finding(tz->sc, BRINE_INVALID, st == BRINE_ERR_LIMIT ? "limit" : "malformed",
                                NULL, name, err.has_offset ? (int64_t)err.offset : -1, "%s", err.msg);
    }
    if (zip_entry_at(tz->za, i)->anomalies & ZIP_CRC)
        st = report_anomalies(tz->sc, name, ZIP_CRC, (int64_t)e->local_offset);
    /* sniffed members: only those a pickle loader would start executing */
    int is_pickle = !sniff || (len >= 2 && data[0] == 0x80 && data[1] <= 5);
    if (!st && is_pickle)
        st = scan_pickle(tz->sc, data, len, name, mode);
    zip_release(tz->za, data, len, owned);
    return st;
}

static int ends_with(const zip_entry *e, const char *suffix)
{
    size_t n = strlen(suffix);
    return e->name_len >= n && memcmp(e->name + e->name_len - n, suffix, n) == 0;
}

static brine_status zip_scan(scan_ctx *sc, const uint8_t *data, size_t len)
{
    torch_zip tz;
    memset(&tz, 0, sizeof tz);
    tz.sc = sc;
    scan_set_format(sc, "zip");
    brine_error err;
    brine_status st = zip_open(data, len, &sc->limits, &sc->mem, &tz.za, &err);
    if (st == BRINE_ERR_NOMEM)
        return st;
    if (st)
        return scan_add_finding(sc, BRINE_INVALID, st == BRINE_ERR_LIMIT ? "limit" : "malformed",
                                NULL, NULL, err.has_offset ? (int64_t)err.offset : -1,
                                "zip: %s", err.msg);
    if ((st = report_anomalies(sc, NULL, zip_archive_anomalies(tz.za), -1)))
        goto out;
    size_t n = zip_count(tz.za);
    for (size_t i = 0; i < n && !st; i++) {
        const zip_entry *e = zip_entry_at(tz.za, i);
        char name[256];
        member_name(e, name, sizeof name);
        st = report_anomalies(sc, name, e->anomalies & ~ZIP_CRC, (int64_t)e->cd_offset);
    }
    /* torch takes the archive folder from the first entry: everything up to its first '/' */
    const zip_entry *first = n ? zip_entry_at(tz.za, 0) : NULL;
    const uint8_t *slash = first ? memchr(first->name, '/', first->name_len) : NULL;
    if (!st && slash && (size_t)(slash - first->name) + 1 < sizeof tz.prefix) {
        tz.prefix_len = (size_t)(slash - first->name) + 1;
        memcpy(tz.prefix, first->name, tz.prefix_len);
        tz.prefix[tz.prefix_len] = '\0';
    }
    long data_pkl = tz.prefix_len ? find_record(&tz, "data.pkl") : -1;
    long constants = tz.prefix_len ? find_record(&tz, "constants.pkl") : -1;
    int torchscript = constants >= 0;
    for (size_t i = 0; i < n && !torchscript; i++)
        if (zip_entry_at(tz.za, i)->name_len > tz.prefix_len + 5 &&
            memcmp(zip_entry_at(tz.za, i)->name + tz.prefix_len, "code/", 5) == 0 &&
            tz.prefix_len && memcmp(zip_entry_at(tz.za, i)->name, tz.prefix, tz.prefix_len) == 0)
            torchscript = 1;
    if (!st && torchscript) {
        scan_set_format(sc, "torchscript");
        st = scan_add_finding(sc, BRINE_UNSAFE, "torchscript", NULL, NULL, -1,
                              "TorchScript archive: torch.load hands it to torch.jit.load, which "
                              "compiles and runs its code/ (even with weights_only=True before "
                              "torch 2.6, CVE-2025-32434)");
    } else if (data_pkl >= 0) {
        scan_set_format(sc, "pytorch-zip");
    }
    if (!st && data_pkl >= 0) {
        sc->storage_check = storage_check;
        sc->storage_ctx = &tz;
        sc->tensor_resolve = size_resolve;
        sc->tensor_ctx = &tz;
        st = scan_member(&tz, (size_t)data_pkl, PID_TORCH_ZIP, 0);
        sc->storage_check = NULL;
        sc->tensor_resolve = NULL;
    }
    /* every other pickle in the archive: custom loaders read them, so they are judged too.
     * Storage records (<folder>/data/<key>) are raw tensor bytes, never unpickled; other
     * members are sniffed from their first bytes without reading them whole. */
    char storage_dir[300];
    int sdl = snprintf(storage_dir, sizeof storage_dir, "%sdata/", tz.prefix);
    for (size_t i = 0; i < n && !st; i++) {
        const zip_entry *e = zip_entry_at(tz.za, i);
        if ((long)i == data_pkl || (e->anomalies & ZIP_ERR_MASK))
            continue;
        if (tz.prefix_len && e->name_len > (size_t)sdl &&
            memcmp(e->name, storage_dir, (size_t)sdl) == 0)
            continue;
        int named = ends_with(e, ".pkl") || ends_with(e, ".pickle");
        if (!named && e->method == 0 &&
            !(e->usize >= 2 && data[e->data_offset] == 0x80 && data[e->data_offset + 1] <= 5))
            continue;
        st = scan_member(&tz, i, torchscript ? PID_TORCH_ZIP : PID_NONE, !named);
    }
out:
    zip_close(tz.za);
    return st;
}

const fmt_desc fmt_zip = {"zip", zip_probe, zip_scan};
