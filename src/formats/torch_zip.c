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
 *
 * Zips that are not torch's are read as zipfile users read them: every member (other than a
 * torch archive's raw storage records) is handed back as a file of its own and judged by
 * whatever format it is. Keras v3 and skops archives are recognised by their listing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "formats/format.h"
#include "formats/keras.h"
#include "formats/skops.h"
#include "formats/zip.h"
#include "pickle/decode.h"
#include "policy/policy.h"

typedef struct torch_zip {
    fmt_env *env;
    mem_budget *mem;
    zip_archive *za;
    char prefix[256]; /* "<folder>/" */
    size_t prefix_len;
    int big_endian; /* the byteorder record says "big" */
    struct tz_held {
        const uint8_t *data;
        size_t len;
    } * held; /* inflated members and storages a load serves from */
    size_t n_held, cap_held;
} torch_zip;

static void tz_release(void *state)
{
    torch_zip *tz = state;
    for (size_t i = 0; i < tz->n_held; i++)
        zip_release(tz->za, tz->held[i].data, tz->held[i].len, 1);
    mem_free(tz->mem, tz->held, tz->cap_held * sizeof *tz->held);
    zip_close(tz->za);
    mem_free(tz->mem, tz, sizeof *tz);
}

/* Keeps an inflated buffer until the archive is released; frees it on failure. */
static int tz_keep(torch_zip *tz, const uint8_t *data, size_t len)
{
    if (mem_grow(tz->mem, (void **)&tz->held, &tz->cap_held, tz->n_held + 1, sizeof *tz->held)) {
        zip_release(tz->za, data, len, 1);
        return -1;
    }
    tz->held[tz->n_held].data = data;
    tz->held[tz->n_held++].len = len;
    return 0;
}

/* zipfile finds an archive by its end record, within the last 64 KiB + 22 bytes; torch's
 * reader needs the local header magic at the start. */
static int zip_bid(const uint8_t *data, size_t len)
{
    if (len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0)
        return 90;
    if (len < 22)
        return 0;
    /* every 'P' from the last place a record fits back to the window's start (memrchr: a
     * byte-by-byte compare was 4% of a folder scan) */
    size_t from = len > 65557 ? len - 65557 : 0, end = len - 22 + 1;
    const uint8_t *p;
    while (end > from && (p = memrchr(data + from, 'P', end - from))) {
        if (memcmp(p, "PK\x05\x06", 4) == 0)
            return 50;
        end = (size_t)(p - data);
    }
    return 0;
}

static long find_record(const torch_zip *tz, const char *record)
{
    char name[512];
    int n = snprintf(name, sizeof name, "%s%s", tz->prefix, record);
    if (n < 0 || (size_t)n >= sizeof name)
        return -1;
    return zip_find(tz->za, name, (size_t)n);
}

/* The name as zipfile users see it (UTF-8 kept when the whole name is valid UTF-8, so an
 * npz member "über.npy" is the array np.load calls "über"); control bytes and anything else
 * become '?'. */
static void member_name(const zip_entry *e, char *buf, size_t cap)
{
    size_t n = e->name_len < cap - 1 ? e->name_len : cap - 1;
    int utf8 = n == e->name_len && pk_utf8_valid(e->name, n, 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = (e->name[i] >= 0x20 && e->name[i] < 0x7f) || (utf8 && e->name[i] >= 0x80)
                     ? (char)e->name[i]
                     : '?';
    buf[n] = '\0';
}

/* The record data/<key> of a storage, or -1. */
static long storage_record(const torch_zip *tz, const uint8_t *key, size_t key_len, char *name,
                           size_t cap)
{
    int n = snprintf(name, cap, "%sdata/%.*s", tz->prefix, (int)(key_len > 200 ? 200 : key_len),
                     (const char *)key);
    return n > 0 && (size_t)n < cap && key_len <= 200 ? zip_find(tz->za, name, (size_t)n) : -1;
}

/* A storage named by data.pkl must exist as data/<key> with numel × itemsize bytes; torch 1.13
 * does not check and exposes heap memory past a short record. */
static int storage_check(void *ctx, const uint8_t *key, size_t key_len, const char *cls,
                         int64_t numel, char *why, size_t cap)
{
    torch_zip *tz = ctx;
    char name[512];
    long idx = storage_record(tz, key, key_len, name, sizeof name);
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
        snprintf(why, cap,
                 "storage record %s holds %" PRIu64 " bytes, data.pkl declares %" PRId64
                 " elements of %s (torch 1.13 would expose heap memory)",
                 name, e->usize, numel, cls);
        return -1;
    }
    return 0;
}

/* Scan: the size of data/<key>, never its bytes. */
static int size_resolve(void *ctx, ld_storage *s, brine_error *err)
{
    torch_zip *tz = ctx;
    char name[512];
    long idx = storage_record(tz, (const uint8_t *)s->key, strlen(s->key), name, sizeof name);
    if (idx < 0) {
        err_set(err, BRINE_ERR_MALFORMED, __LINE__, "storage %.60s has no record", s->key);
        return -1;
    }
    static const uint8_t unread = 0; /* a scan never reads tensor bytes */
    s->data = &unread;
    s->nbytes = zip_entry_at(tz->za, (size_t)idx)->usize;
    return 0;
}

/* Load: the bytes of data/<key>, in the file's byte order. Stored records are served from
 * the mapping as they are; deflated ones are inflated (miniz accepts them too). */
static int bytes_resolve(void *ctx, ld_storage *s, brine_error *err)
{
    torch_zip *tz = ctx;
    char name[512];
    long idx = storage_record(tz, (const uint8_t *)s->key, strlen(s->key), name, sizeof name);
    if (idx < 0) {
        err_set(err, BRINE_ERR_MALFORMED, __LINE__, "storage %.60s has no record in the archive",
                s->key);
        return -1;
    }
    const uint8_t *data;
    size_t len;
    int owned;
    if (zip_read(tz->za, (size_t)idx, ZIP_READ_NO_CRC, &data, &len, &owned, err))
        return -1;
    if (owned && tz_keep(tz, data, len)) {
        err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
        return -1;
    }
    s->data = data;
    s->nbytes = len;
    s->big_endian = tz->big_endian;
    return 0;
}

static brine_status report_anomalies(fmt_env *env, const char *member, uint64_t bits,
                                     int64_t offset)
{
    for (unsigned b = 0; b < 64; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if (!(bits & bit) || !zip_anomaly_rule(bit))
            continue;
        brine_status st =
            fmt_finding(env, BRINE_INVALID, zip_anomaly_rule(bit), member, offset,
                        "%s: readers disagree about this archive", zip_anomaly_text(bit));
        if (st)
            return st;
    }
    return BRINE_OK;
}

/* The bytes of entry i, or NULL after reporting why they cannot be read. Entries flagged
 * encrypted or patch data are read anyway (the reason is already a finding): what they hold
 * may still be a payload someone loads. */
static brine_status read_member(torch_zip *tz, size_t i, const char *name, const uint8_t **data,
                                size_t *len, int *owned)
{
    brine_error err;
    brine_status st = zip_read(tz->za, i, ZIP_READ_IGNORE_FLAGS, data, len, owned, &err);
    if (st) {
        *data = NULL;
        return fmt_error_finding(tz->env, name, &err, NULL);
    }
    if (zip_entry_at(tz->za, i)->anomalies & ZIP_CRC)
        st = report_anomalies(tz->env, name, ZIP_CRC,
                              (int64_t)zip_entry_at(tz->za, i)->local_offset);
    return st;
}

/* data.pkl: the saved object, with storages from data/<key>. */
static brine_status walk_data_pkl(torch_zip *tz, size_t i)
{
    char name[256];
    member_name(zip_entry_at(tz->za, i), name, sizeof name);
    const uint8_t *data;
    size_t len;
    int owned;
    brine_status st = read_member(tz, i, name, &data, &len, &owned);
    if (st || !data)
        return st;
    if (owned && tz_keep(tz, data, len))
        return BRINE_ERR_NOMEM;
    fmt_pickle p = {name, data, len, 0, 1, PID_TORCH_ZIP, 0, storage_check, tz, FMT_PICKLE};
    pk_graph *g;
    st = fmt_run_pickle(tz->env, &p, &g, NULL);
    if (!st && g->n_pickles)
        st = fmt_model_root(tz->env, name, g, g->pickles[0].root, size_resolve, bytes_resolve, tz);
    fmt_graph_free(tz->env, g);
    return st;
}

static brine_status check_byteorder(torch_zip *tz)
{
    long bo = find_record(tz, "byteorder");
    if (bo < 0)
        return BRINE_OK;
    const uint8_t *d;
    size_t l;
    int owned;
    char name[256];
    member_name(zip_entry_at(tz->za, (size_t)bo), name, sizeof name);
    brine_status st = read_member(tz, (size_t)bo, name, &d, &l, &owned);
    if (st || !d)
        return st;
    tz->big_endian = l == 3 && memcmp(d, "big", 3) == 0;
    int little = l == 6 && memcmp(d, "little", 6) == 0;
    zip_release(tz->za, d, l, owned);
    if (!tz->big_endian && !little)
        return fmt_finding(tz->env, BRINE_INVALID, "malformed", name, -1,
                           "byteorder record is neither 'little' nor 'big': torch refuses it");
    return BRINE_OK;
}

static int has_member(const torch_zip *tz, const char *name)
{
    return zip_find(tz->za, name, strlen(name)) >= 0;
}

static int all_named(const torch_zip *tz, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < zip_count(tz->za); i++) {
        const zip_entry *e = zip_entry_at(tz->za, i);
        if (e->name_len < sl || memcmp(e->name + e->name_len - sl, suffix, sl) != 0)
            return 0;
    }
    return 1;
}

/* skops reads members with zipfile: exact names */
static int skops_has_member(void *ctx, const char *name)
{
    const torch_zip *tz = ctx;
    size_t n = strlen(name);
    for (size_t i = 0; i < zip_count(tz->za); i++) {
        const zip_entry *e = zip_entry_at(tz->za, i);
        if (e->name_len == n && memcmp(e->name, name, n) == 0)
            return 1;
    }
    return 0;
}

/* The JSON member a framework judges before it builds anything: a Keras v3 archive's
 * config.json (keras.saving.load_model, formats/keras.c), a skops archive's schema.json
 * (skops.io.load's audit, formats/skops.c). Their weights (model.weights.h5, .npy members)
 * are walked below as files of their own. */
static brine_status walk_json_member(torch_zip *tz, const char *member, int skops)
{
    long i = zip_find(tz->za, member, strlen(member));
    char name[256];
    member_name(zip_entry_at(tz->za, (size_t)i), name, sizeof name);
    const uint8_t *d;
    size_t l;
    int owned;
    brine_status st = read_member(tz, (size_t)i, name, &d, &l, &owned);
    if (st || !d)
        return st;
    st = skops ? skops_walk_schema(tz->env, name, d, l, skops_has_member, tz)
               : keras_walk_config_json(tz->env, name, d, l);
    zip_release(tz->za, d, l, owned);
    return st;
}

static brine_status zip_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    mem_budget *mem = fmt_mem(env);
    fmt_set_format(env, "zip");
    zip_archive *za;
    brine_error err;
    brine_status st = zip_open(data, len, fmt_limits(env), mem, &za, &err);
    if (st && st != BRINE_ERR_NOMEM && !(len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0))
        return BRINE_OK; /* an end-record signature inside other data: zipfile fails too */
    if (st)
        return fmt_error_finding(env, NULL, &err, "zip");
    torch_zip *tz = mem_calloc(mem, 1, sizeof *tz);
    if (!tz) {
        zip_close(za);
        return BRINE_ERR_NOMEM;
    }
    tz->env = env;
    tz->mem = mem;
    tz->za = za;
    if ((st = fmt_hold(env, tz, tz_release)))
        return st;
    if ((st = report_anomalies(env, NULL, zip_archive_anomalies(za), -1)))
        return st;
    size_t n = zip_count(za);
    for (size_t i = 0; i < n && !st; i++) {
        char name[256];
        member_name(zip_entry_at(za, i), name, sizeof name);
        st = report_anomalies(env, name, zip_entry_at(za, i)->anomalies & ~ZIP_CRC,
                              (int64_t)zip_entry_at(za, i)->cd_offset);
    }
    /* torch takes the archive folder from the first entry: everything up to its first '/' */
    const zip_entry *first = n ? zip_entry_at(za, 0) : NULL;
    const uint8_t *slash = first ? memchr(first->name, '/', first->name_len) : NULL;
    if (slash && (size_t)(slash - first->name) + 1 < sizeof tz->prefix) {
        tz->prefix_len = (size_t)(slash - first->name) + 1;
        memcpy(tz->prefix, first->name, tz->prefix_len);
        tz->prefix[tz->prefix_len] = '\0';
    }
    long data_pkl = tz->prefix_len ? find_record(tz, "data.pkl") : -1;
    int torchscript = tz->prefix_len && find_record(tz, "constants.pkl") >= 0;
    for (size_t i = 0; i < n && !torchscript && tz->prefix_len; i++) {
        const zip_entry *e = zip_entry_at(za, i);
        torchscript = e->name_len > tz->prefix_len + 5 &&
                      memcmp(e->name, tz->prefix, tz->prefix_len) == 0 &&
                      memcmp(e->name + tz->prefix_len, "code/", 5) == 0;
    }
    if (!st && torchscript) {
        fmt_set_format(env, "torchscript");
        st = fmt_finding(env, BRINE_UNSAFE, "torchscript", NULL, -1,
                         "TorchScript archive: torch.load hands it to torch.jit.load, which "
                         "compiles and runs its code/ (even with weights_only=True before torch "
                         "2.6, CVE-2025-32434)");
    } else if (!st && data_pkl >= 0) {
        fmt_set_format(env, "pytorch-zip");
    } else if (!st && n && all_named(tz, ".npy")) {
        fmt_set_format(env, "npz"); /* np.load's NpzFile: each .npy member is read below */
    } else if (!st && has_member(tz, "config.json") && has_member(tz, "metadata.json")) {
        fmt_set_format(env, "keras");
        st = walk_json_member(tz, "config.json", 0);
    } else if (!st && has_member(tz, "schema.json")) {
        fmt_set_format(env, "skops");
        st = walk_json_member(tz, "schema.json", 1);
    }
    if (!st && data_pkl >= 0 && !torchscript && !(st = check_byteorder(tz)))
        st = walk_data_pkl(tz, (size_t)data_pkl);
    /* every other member is a file of its own to whoever opens the archive. A torch archive's
     * storage records (<folder>/data/<key>) are raw tensor bytes, never unpickled; TorchScript
     * pickles are read by torch.jit with storages as in data.pkl. */
    char storage_dir[300];
    int sdl = snprintf(storage_dir, sizeof storage_dir, "%sdata/", tz->prefix);
    for (size_t i = 0; i < n && !st; i++) {
        const zip_entry *e = zip_entry_at(za, i);
        if ((long)i == data_pkl)
            continue;
        if ((data_pkl >= 0 || torchscript) && e->name_len > (size_t)sdl &&
            memcmp(e->name, storage_dir, (size_t)sdl) == 0)
            continue;
        if (e->name_len && e->name[e->name_len - 1] == '/' && e->usize == 0)
            continue; /* a directory */
        char name[256];
        member_name(e, name, sizeof name);
        const uint8_t *d;
        size_t l;
        int owned;
        if ((st = read_member(tz, i, name, &d, &l, &owned)) || !d)
            continue;
        if (owned && fmt_loading(env) && tz_keep(tz, d, l))
            return BRINE_ERR_NOMEM;
        if (torchscript && l >= 2 && d[0] == 0x80) {
            fmt_pickle p = {name, d, l, 0, 1, PID_TORCH_ZIP, 0, NULL, NULL, FMT_PICKLE};
            pk_graph *g;
            st = fmt_run_pickle(env, &p, &g, NULL);
            fmt_graph_free(env, g);
        } else {
            st = fmt_file(env, name, d, l);
        }
        if (owned && !fmt_loading(env))
            zip_release(za, d, l, owned);
    }
    return st;
}

const fmt_ops fmt_zip = {"zip", zip_bid, zip_walk, NULL};
