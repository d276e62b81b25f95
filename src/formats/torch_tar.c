/*
 * torch_tar.c — the oldest PyTorch format (≈ torch 0.1–0.3): a tar archive with members
 * `storages`, `tensors` and `pickle`, read the way torch.serialization.legacy_load still reads
 * it (torch 1.13 tries this loader first for any file Python's tarfile accepts).
 *
 *   storages: pickle(count), then per storage pickle((key, location, storage_type)) followed
 *             by int64 numel and numel × itemsize raw bytes; then pickle(storage_views)
 *   tensors:  pickle(count), then per tensor pickle((key, storage_id, type)) followed by
 *             int32 ndim, 4 pad bytes, int64 sizes[ndim], int64 strides[ndim], int64 offset
 *   pickle:   the saved object; persistent ids are storage keys or ('module', class, …)
 *
 * Every pickle in the archive is judged, the raw records between them are bounds-checked,
 * and the tar headers are parsed with the rules Python's tarfile applies (checksum signed or
 * unsigned, octal or base-256 sizes, the last member of a name wins) — the other scanners skip
 * this format entirely (research/threats.md §7 E 34).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/limits.h"
#include "formats/format.h"
#include "formats/tar.h"
#include "pickle/machine.h"

enum { MAX_DIMS = 64 };

/* One of the members torch reads: its bytes (what the file holds of them, when cut). */
typedef struct torch_part {
    const uint8_t *data;
    uint64_t size;
    uint64_t offset; /* of the data in the file */
    int found;
} torch_part;

/* A tar that tarfile opens and whose members name torch's: the only tars torch.load reads as
 * checkpoints. Its reading includes the plain archive's (whose members torch reads here). */
static int torch_tar_probe(const uint8_t *data, size_t len)
{
    if (!tar_probe(data, len))
        return 0;
    brine_limits lim;
    lim_resolve(NULL, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    tar_archive *ta = NULL;
    if (tar_open(data, len, &lim, &mem, &ta, NULL) != BRINE_OK)
        return 85; /* over a limit: the scan reports it, never a pass */
    int torch = tar_is_torch(ta);
    tar_close(ta);
    return torch ? 85 : 0; /* other tars are plain archives (archive.c) */
}

/* Runs one pickle at *pos of a member, judges it, advances *pos past its STOP. The graph is
 * left for the caller to read the value (and free). */
static brine_status one_pickle(fmt_env *env, const torch_part *m, const char *name, size_t *pos,
                               pk_graph **g, int *ok)
{
    fmt_pickle p = {name, m->data, (size_t)m->size, *pos, 1, PID_TORCH_TAR, 0,
                    NULL, NULL,    FMT_PICKLE};
    brine_status st = fmt_run_pickle(env, &p, g, NULL);
    *ok = !st && !(*g)->failed;
    if (*ok)
        *pos = (size_t)(*g)->pickles[(*g)->n_pickles - 1].end;
    return st;
}

static brine_status bad(fmt_env *env, const char *member, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static brine_status bad(fmt_env *env, const char *member, size_t pos, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fmt_finding(env, BRINE_INVALID, "malformed", member, (int64_t)pos, "%s", msg);
}

static int small_int(const pk_graph *g, pk_id id, int64_t *v)
{
    return pk_int_of(g, id, v) && *v >= 0;
}

/* storages: count, then (key, location, storage_type) + records, then the views list. */
static brine_status scan_storages(fmt_env *env, const torch_part *m)
{
    size_t pos = 0;
    pk_graph *g;
    int ok;
    int64_t count = 0;
    brine_status st = one_pickle(env, m, "storages", &pos, &g, &ok);
    if (!st && ok && !small_int(g, g->pickles[0].root, &count))
        st = bad(env, "storages", 0, "the storage count is not a non-negative integer");
    fmt_graph_free(env, g);
    for (int64_t i = 0; !st && ok && i < count; i++) {
        size_t at = pos;
        st = one_pickle(env, m, "storages", &pos, &g, &ok);
        uint64_t elem = 0;
        if (!st && ok) {
            const pk_node *t = pk_at(g, g->pickles[0].root);
            const pk_node *cls = t->kind == K_TUPLE && t->count == 3 ? pk_at(g, t->items[2]) : NULL;
            const char *dt = cls && cls->kind == K_GLOBAL
                                 ? pol_torch_storage_dtype(g->globals[cls->v.g.global].name)
                                 : NULL;
            const ld_dtype *d = dt ? ld_dtype_by_torch(dt) : NULL;
            elem = d ? d->size : 0;
            if (!elem)
                st = bad(env, "storages", at,
                         "storage %" PRIu64 " is not (key, location, "
                         "storage type)",
                         (uint64_t)i);
        }
        fmt_graph_free(env, g);
        if (st || !ok || !elem)
            return st;
        uint64_t numel, bytes;
        if (m->size - pos < 8)
            return bad(env, "storages", pos,
                       "storage record needs an 8-byte count, %" PRIu64 " bytes remain",
                       m->size - pos);
        numel = ld_le64(m->data + pos);
        if (__builtin_mul_overflow(numel, elem, &bytes) || bytes > m->size - pos - 8)
            return bad(env, "storages", pos,
                       "storage record of %" PRIu64 " elements runs past "
                       "the member",
                       numel);
        pos += 8 + (size_t)bytes;
    }
    if (!st && ok) { /* the storage views */
        st = one_pickle(env, m, "storages", &pos, &g, &ok);
        fmt_graph_free(env, g);
    }
    return st;
}

/* tensors: count, then (key, storage_id, type) + int32 ndim, pad, sizes, strides, offset. */
static brine_status scan_tensors(fmt_env *env, const torch_part *m)
{
    size_t pos = 0;
    pk_graph *g;
    int ok;
    int64_t count = 0;
    brine_status st = one_pickle(env, m, "tensors", &pos, &g, &ok);
    if (!st && ok && !small_int(g, g->pickles[0].root, &count))
        st = bad(env, "tensors", 0, "the tensor count is not a non-negative integer");
    fmt_graph_free(env, g);
    for (int64_t i = 0; !st && ok && i < count; i++) {
        st = one_pickle(env, m, "tensors", &pos, &g, &ok);
        fmt_graph_free(env, g);
        if (st || !ok)
            return st;
        if (m->size - pos < 8)
            return bad(env, "tensors", pos, "tensor record needs 8 bytes, %" PRIu64 " remain",
                       m->size - pos);
        int32_t ndim = (int32_t)ld_le32(m->data + pos);
        if (ndim < 0 || ndim > MAX_DIMS)
            return bad(env, "tensors", pos, "tensor record has %" PRIu64 " dimensions",
                       (uint64_t)(int64_t)ndim);
        uint64_t need = 8 + 16 * (uint64_t)ndim + 8;
        if (need > m->size - pos)
            return bad(env, "tensors", pos, "tensor record needs %" PRIu64 " bytes", need);
        for (int32_t k = 0; k < 2 * ndim + 1; k++)
            if ((int64_t)ld_le64(m->data + pos + 8 + 8 * (size_t)k) < 0)
                return bad(env, "tensors", pos,
                           "tensor record has a negative size, stride or offset");
        pos += (size_t)need;
    }
    return st;
}

/* Finds what torch's legacy_load extracts under name: tarfile's last member of that name. */
static brine_status find_part(fmt_env *env, const tar_archive *ta, const uint8_t *data, size_t len,
                              const char *name, torch_part *p)
{
    memset(p, 0, sizeof *p);
    long i = tar_find(ta, name, strlen(name));
    if (i < 0)
        return fmt_finding(env, BRINE_INVALID, "malformed", name, -1,
                           "no %s member: torch's tar loader fails (after running what "
                           "the members before it hold)",
                           name);
    const tar_member *m = tar_member_at(ta, (size_t)i);
    brine_status st = BRINE_OK;
    if (m->anomalies & TAR_DUPLICATE) {
        size_t dups = 0;
        for (size_t k = 0; k < tar_count(ta); k++) {
            const tar_member *o = tar_member_at(ta, k);
            dups += o != m && o->name_len == m->name_len && !memcmp(o->name, m->name, m->name_len);
        }
        st = fmt_finding(env, BRINE_INVALID, "duplicate-member", name, (int64_t)m->header_offset,
                         "%zu more members are named %s: tarfile reads the last one, "
                         "other readers the first",
                         dups, name);
    }
    if (st)
        return st;
    if (m->type == '1' || m->type == '2') {
        /* extract() makes a symlink that points wherever it says, or copies a hard link's
         * target from the archive when no such file exists on disk: either way torch does
         * not read this member's bytes. The archive's own target is still judged. */
        long t = tar_find_link_target(ta, (size_t)i);
        st = fmt_finding(env, BRINE_INVALID, "malformed", name, (int64_t)m->header_offset,
                         "member %s is a %s link to %.*s: torch reads that file, possibly "
                         "outside the archive",
                         name, m->type == '1' ? "hard" : "symbolic", (int)m->linkname_len,
                         (const char *)m->linkname);
        if (st || t < 0)
            return st;
        m = tar_member_at(ta, (size_t)t);
    }
    if (m->data) {
        p->data = m->data, p->size = m->data_len;
    } else if ((m->anomalies & TAR_DATA_CUT) && m->data_offset <= len) {
        /* what is there is still judged: a payload may precede the cut */
        p->data = data + m->data_offset, p->size = len - m->data_offset;
        st = fmt_finding(env, BRINE_INVALID, "malformed", name, (int64_t)m->header_offset,
                         "tar member runs past the end of the file");
    } else {
        return fmt_finding(env, BRINE_INVALID, "malformed", name, (int64_t)m->header_offset,
                           "member %s is not a regular file with its data in the archive", name);
    }
    p->found = 1;
    p->offset = m->data_offset;
    return st;
}

static brine_status torch_tar_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "pytorch-tar");
    fmt_unloadable(env, "pytorch-tar checkpoints (torch <= 0.3): brine judges them but does not "
                        "rebuild their tensors yet");
    tar_archive *ta = NULL;
    brine_error err;
    brine_status st = tar_open(data, len, fmt_limits(env), fmt_mem(env), &ta, &err);
    if (st)
        return fmt_error_finding(env, NULL, &err, NULL);
    const tar_outcome *o = tar_get_outcome(ta);
    if (!o->complete)
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)o->offset,
                         o->read_error ? "tarfile raises ReadError (%s): torch.load falls back "
                                         "to pickle.load on the whole file"
                                       : "tarfile fails (%s): torch.load raises",
                         o->reason);
    uint64_t hidden = tar_anomalies(ta) & (TAR_A_STOPPED | TAR_A_TRAILING);
    for (uint64_t bit = 1; !st && bit; bit <<= 1)
        if (hidden & bit)
            st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)tar_end_offset(ta),
                             "%s", tar_anomaly_text(bit));
    static const char *const names[3] = {"storages", "tensors", "pickle"};
    torch_part m[3];
    memset(m, 0, sizeof m);
    for (int k = 0; k < 3 && !st; k++)
        st = find_part(env, ta, data, len, names[k], &m[k]);
    /* torch reads storages, then tensors, then pickle; all three are judged regardless */
    if (!st && m[0].found)
        st = scan_storages(env, &m[0]);
    if (!st && m[1].found)
        st = scan_tensors(env, &m[1]);
    if (!st && m[2].found) {
        size_t pos = 0;
        pk_graph *g;
        int ok;
        st = one_pickle(env, &m[2], "pickle", &pos, &g, &ok);
        fmt_graph_free(env, g);
    }
    tar_close(ta);
    return st;
}

extern const fmt_ops fmt_tar;
const fmt_ops fmt_torch_tar = {"pytorch-tar", torch_tar_probe, torch_tar_walk, &fmt_tar};
