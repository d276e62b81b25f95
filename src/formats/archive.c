/*
 * archive.c — tar and 7z archives that are not checkpoints of their own (a model folder
 * packed for shipping): every member a reader would extract is handed back as a file of its
 * own and judged by whatever format it is, each finding naming its member. Tar is read as
 * Python's tarfile reads it (formats/tar.c), 7z through libarchive (formats/sevenzip.c).
 * What cannot be read (a header tarfile rejects, an encrypted 7z member) is invalid, and what
 * could be read before it is still judged.
 */
#include <inttypes.h>
#include <string.h>

#include "formats/arlib.h"
#include "formats/format.h"
#include "formats/sevenzip.h"
#include "formats/tar.h"

static int tar_bid(const uint8_t *data, size_t len) { return tar_probe(data, len); }

/* Archive-level and member anomalies readers disagree on (tarfile vs GNU tar vs extract()). */
static brine_status tar_anomaly_findings(fmt_env *env, const char *member, uint64_t bits,
                                         int64_t offset)
{
    for (unsigned b = 0; b < 64; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if (!(bits & bit) || !tar_anomaly_text(bit))
            continue;
        brine_status st =
            fmt_finding(env, BRINE_INVALID, bit == TAR_DUPLICATE ? "duplicate-member" : "malformed",
                        member, offset, "tar: %s", tar_anomaly_text(bit));
        if (st)
            return st;
    }
    return BRINE_OK;
}

static void release_tar(void *ta) { tar_close(ta); }

static brine_status tar_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    tar_archive *ta = NULL;
    brine_error err;
    brine_status st = tar_open(data, len, fmt_limits(env), fmt_mem(env), &ta, &err);
    if (st)
        return fmt_error_finding(env, NULL, &err, "tar");
    const tar_outcome *o = tar_get_outcome(ta);
    if (!o->open_ok) { /* tarfile.open raises: nobody reads this as a tar */
        tar_close(ta);
        return BRINE_OK;
    }
    fmt_set_format(env, "tar");
    if (!o->complete)
        st = fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)o->offset,
                         "tarfile stops listing the members here (%s): other readers go on",
                         o->reason);
    /* only the anomalies that change what a reader extracts: a pax header or a long name is
     * how tarfile itself writes, not a disagreement */
    const uint64_t disagree = TAR_A_STOPPED | TAR_A_TRAILING;
    if (!st)
        st = tar_anomaly_findings(env, NULL, tar_anomalies(ta) & disagree,
                                  (int64_t)tar_end_offset(ta));
    const uint64_t member_bits = TAR_DUPLICATE | TAR_NAME_DOTDOT | TAR_NAME_ABSOLUTE |
                                 TAR_LINK_ESCAPE | TAR_DATA_CUT | TAR_SPARSE | TAR_NEGATIVE_SIZE;
    for (size_t i = 0; i < tar_count(ta) && !st; i++) {
        const tar_member *m = tar_member_at(ta, i);
        char name[256];
        size_t n = m->name_len < sizeof name - 1 ? m->name_len : sizeof name - 1;
        for (size_t k = 0; k < n; k++)
            name[k] = m->name[k] >= 0x20 && m->name[k] < 0x7f ? (char)m->name[k] : '?';
        name[n] = '\0';
        st = tar_anomaly_findings(env, name, m->anomalies & member_bits, (int64_t)m->header_offset);
        if (!st && m->data && m->data_len)
            st = fmt_file(env, name, m->data, m->data_len);
    }
    if (fmt_loading(env))
        return st ? (tar_close(ta), st) : fmt_hold(env, ta, release_tar);
    tar_close(ta);
    return st;
}

const fmt_ops fmt_tar = {"tar", tar_bid, tar_walk, NULL};

static int sevenzip_bid(const uint8_t *data, size_t len) { return sz_probe(data, len); }

typedef struct sz_walk {
    fmt_env *env;
    size_t members;
} sz_walk;

static brine_status sz_member_cb(void *ctx, const sz_member *m)
{
    sz_walk *w = ctx;
    w->members++;
    if (m->status == BRINE_ERR_NOMEM)
        return m->status;
    if (m->status)
        return fmt_finding(w->env, BRINE_INVALID,
                           m->status == BRINE_ERR_LIMIT ? "limit" : "malformed", m->name, -1,
                           "7z member cannot be read: %s", m->reason ? m->reason : "?");
    if (!m->data || !m->len)
        return BRINE_OK;
    /* the member's bytes are freed when this returns: a load cannot serve tensors from them */
    if (fmt_loading(w->env))
        fmt_unloadable(w->env, "7z archives: brine judges their members but does not load "
                               "tensors from them");
    return fmt_file(w->env, m->name, m->data, m->len);
}

static brine_status sevenzip_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "7z");
    brine_error err;
    if (arlib_load(&err) != BRINE_OK)
        return fmt_finding(env, BRINE_UNVERIFIED, "unsupported-format", NULL, -1, "%s", err.msg);
    sz_walk w = {env, 0};
    brine_status st = sz_each(data, len, fmt_limits(env), fmt_mem(env), sz_member_cb, &w, &err);
    if (st == BRINE_ERR_NOMEM || st == BRINE_OK)
        return st;
    return fmt_error_finding(env, NULL, &err, "7z");
}

const fmt_ops fmt_7z = {"7z", sevenzip_bid, sevenzip_walk, NULL};
