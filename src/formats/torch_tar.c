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
#include "formats/format.h"
#include "pickle/machine.h"

enum { TAR_BLOCK = 512, MAX_DIMS = 64 };

typedef struct tar_member {
    const uint8_t *data;
    uint64_t size;
    uint64_t offset; /* of the data in the file */
    int found;
    int duplicates;
} tar_member;

/* tarfile.nti: octal digits (NUL/space padded), or base-256 when the first byte has 0x80. */
static int tar_number(const uint8_t *f, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (f[0] & 0x80) {
        if (f[0] != 0x80) /* negative or too big */
            return -1;
        for (size_t i = 1; i < n; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == 0))
        i++;
    int digits = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != 0)
            return -1;
    *out = v;
    return digits || f[0] == 0 || f[0] == ' ' ? 0 : -1;
}

/* The checksum tarfile accepts: the sum of the header with the checksum field read as spaces,
 * unsigned or signed bytes. */
static int tar_checksum_ok(const uint8_t *h)
{
    uint64_t want;
    if (tar_number(h + 148, 8, &want) != 0)
        return 0;
    int64_t us = 0, ss = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++) {
        uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
        us += c;
        ss += (int8_t)c;
    }
    return (uint64_t)us == want || (uint64_t)ss == want;
}

static int tar_probe(const uint8_t *data, size_t len)
{
    return len >= TAR_BLOCK && tar_checksum_ok(data) ? 85 : 0;
}

static int name_is(const uint8_t *h, const char *z)
{
    size_t n = strlen(z);
    return memcmp(h, z, n) == 0 && h[n] == 0;
}

/* Walks the headers; fills the three members torch reads. Returns an error message or NULL. */
static const char *tar_walk(const uint8_t *data, size_t len, tar_member m[3], uint64_t *bad_at)
{
    static const char *const names[3] = {"storages", "tensors", "pickle"};
    cursor c;
    cur_init(&c, data, len);
    for (unsigned guard = 0; guard < 1000000; guard++) {
        *bad_at = cur_pos(&c);
        const uint8_t *h;
        if (cur_left(&c) == 0)
            return NULL; /* tarfile tolerates a missing end-of-archive marker */
        if (cur_take(&c, TAR_BLOCK, &h) != 0)
            return "tar header cut short";
        int zero = 1;
        for (size_t i = 0; i < TAR_BLOCK && zero; i++)
            zero = h[i] == 0;
        if (zero)
            return NULL;
        if (!tar_checksum_ok(h))
            return "tar header checksum does not match";
        uint64_t size;
        if (tar_number(h + 124, 12, &size) != 0)
            return "tar header size is not a number";
        uint64_t padded;
        if (__builtin_add_overflow(size, (uint64_t)TAR_BLOCK - 1, &padded))
            return "tar member size overflows";
        padded -= padded % TAR_BLOCK;
        uint64_t at = cur_pos(&c);
        const uint8_t *body = c.p;
        int cut = size > cur_left(&c);
        if (cut) /* what is there is still scanned: a payload may precede the cut */
            size = cur_left(&c);
        cur_take(&c, padded <= cur_left(&c) ? padded : cur_left(&c), &body);
        uint8_t type = h[156];
        if (type == '0' || type == 0)
            for (int k = 0; k < 3; k++)
                if (name_is(h, names[k])) {
                    /* tarfile.getmember: the last member of a name wins */
                    m[k].duplicates += m[k].found;
                    m[k].found = 1;
                    m[k].data = body;
                    m[k].size = size;
                    m[k].offset = at;
                }
        /* links, directories, pax and GNU headers are not members torch reads */
        if (cut)
            return "tar member runs past the end of the file";
    }
    return "too many tar members";
}

/* Runs one pickle at *pos of a member, judges it, advances *pos past its STOP. The graph is
 * left for the caller to read the value (and free). */
static brine_status one_pickle(fmt_env *env, const tar_member *m, const char *name, size_t *pos,
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
    const pk_node *n = pk_at(g, id);
    if (n->kind != K_INT || n->v.i < 0)
        return 0;
    *v = n->v.i;
    return 1;
}

/* storages: count, then (key, location, storage_type) + records, then the views list. */
static brine_status scan_storages(fmt_env *env, const tar_member *m)
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
static brine_status scan_tensors(fmt_env *env, const tar_member *m)
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

static brine_status torch_tar_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "pytorch-tar");
    fmt_unloadable(env, "pytorch-tar checkpoints (torch <= 0.3): brine judges them but does not "
                        "rebuild their tensors yet");
    tar_member m[3];
    memset(m, 0, sizeof m);
    uint64_t bad_at = 0;
    const char *why = tar_walk(data, len, m, &bad_at);
    brine_status st = BRINE_OK;
    if (why)
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)bad_at, "%s", why);
    static const char *const names[3] = {"storages", "tensors", "pickle"};
    for (int k = 0; k < 3 && !st; k++) {
        if (m[k].duplicates)
            st = fmt_finding(env, BRINE_INVALID, "duplicate-member", names[k], (int64_t)m[k].offset,
                             "%d more members are named %s: tarfile reads the last one, "
                             "other readers the first",
                             m[k].duplicates, names[k]);
        else if (!m[k].found)
            st = fmt_finding(env, BRINE_INVALID, "malformed", names[k], -1,
                             "no %s member: torch's tar loader fails (after running what "
                             "the members before it hold)",
                             names[k]);
    }
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
    return st;
}

const fmt_ops fmt_torch_tar = {"pytorch-tar", tar_probe, torch_tar_walk, NULL};
