/*
 * model.c — brine_model: safe loading of tensors from checkpoints and pickles.
 *
 * Opening a model is a scan first (the verdict must be `safe` under the caller's policy, as
 * torch.load(weights_only=True) refuses unknown globals), then the container's pickle is
 * replayed by the symbolic machine and the tensor pass rebuilds tensors from validated
 * arguments. Storage bytes stay in the read-only mapping of the file whenever the container
 * stores them uncompressed; nothing is copied until a caller asks for a strided or swapped
 * tensor.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "brine.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/file.h"
#include "core/limits.h"
#include "core/sha256.h"
#include "load/model.h"

/* ------------------------------------------------------------------ open */

/* The file is walked once: every pickle is judged and the model's tensors are collected from
 * the very graphs the judge checked. Anything short of `safe` under the caller's policy is
 * refused, as torch.load(weights_only=True) refuses unknown globals. */
static brine_status judge_and_collect(brine_model *m, const char *path,
                                      const brine_load_options *opts, brine_error *err)
{
    brine_scan_options so = {.policy = opts ? opts->policy : NULL,
                             .limits = opts ? opts->limits : NULL};
    char dir[4096];
    brine_status st = drv_run(m->map, m->map_len, drv_dir_of(path, dir, sizeof dir), &so, DRV_LOAD,
                              &m->set, NULL, &m->run, err);
    if (st)
        return st;
    brine_result *res = m->run.result;
    m->run.result = NULL;
    brine_verdict v = brine_result_verdict(res);
    m->format = brine_result_format(res); /* a constant string */
    if (v != BRINE_SAFE) {
        const brine_finding *f = brine_result_finding(res, 0);
        st =
            err_at(err, v == BRINE_INVALID ? BRINE_ERR_MALFORMED : BRINE_ERR_POLICY,
                   f && f->offset >= 0 ? (uint64_t)f->offset : 0, __LINE__,
                   "refused (%s): %s%s%s: %s", brine_verdict_name(v), f ? f->rule : "?",
                   f && f->global ? " " : "", f && f->global ? f->global : "", f ? f->message : "");
        if (err && (!f || f->offset < 0))
            err->has_offset = 0;
    } else if (m->run.load_err.code) {
        if (err)
            *err = m->run.load_err;
        st = m->run.load_err.code;
    } else if (strcmp(m->format, "none") == 0) {
        st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                     "not a model file: no format brine "
                     "reads recognises it");
    }
    brine_result_free(res);
    return st;
}

brine_status brine_model_open(const char *path, const brine_load_options *opts, brine_model **out,
                              brine_error *err)
{
    if (!path || !out)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_open: NULL argument");
    *out = NULL;
    brine_model *m = calloc(1, sizeof *m);
    if (!m)
        return ERR_NOMEM(err);
    m->format = "none";
    lim_resolve(opts ? opts->limits : NULL, &m->lim);
    mem_budget_init(&m->mem, m->lim.max_memory);
    ld_set_init(&m->set, &m->mem, &m->lim, NULL, NULL);
    brine_status st = brine_map_file(path, &m->map, &m->map_len, err);
    if (!st)
        st = judge_and_collect(m, path, opts, err);
    /* the judge read headers here and there (zip_open asked for no read-ahead); a caller now
     * reads tensor bytes through the mapping, in order */
    if (!st)
        file_advise_normal(m->map, m->map_len);
    if (!st && !m->set.config && !(m->set.config = json_object()))
        st = ERR_NOMEM(err);
    if (!st) {
        m->config_json =
            ld_json_dump(m->set.config, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
        if (!m->config_json)
            st = ERR_NOMEM(err);
    }
    if (st) {
        brine_model_free(m);
        return st;
    }
    *out = m;
    return BRINE_OK;
}

void brine_model_free(brine_model *m)
{
    if (!m)
        return;
    free(m->config_json);
    ld_set_free(&m->set);
    drv_release(&m->run);
    brine_unmap(m->map, m->map_len);
    free(m);
}

const char *brine_model_format(const brine_model *m) { return m ? m->format : "none"; }
size_t brine_model_tensor_count(const brine_model *m) { return m ? m->set.n_tensors : 0; }
const char *brine_model_config_json(const brine_model *m) { return m ? m->config_json : NULL; }

brine_status brine_model_tensor(const brine_model *m, size_t i, brine_tensor_info *out,
                                brine_error *err)
{
    if (!m || !out || i >= m->set.n_tensors)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_tensor: no tensor %zu", i);
    const ld_tensor *t = &m->set.tensors[i];
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out; /* every field of this release is filled */
    out->name = t->name;
    out->dtype = t->dtype->st_name;
    out->itemsize = t->dtype->size;
    out->ndim = t->ndim;
    out->shape = t->shape;
    out->strides = t->strides;
    out->storage_offset = t->offset;
    out->numel = t->numel;
    out->nbytes = t->numel * t->dtype->size;
    out->storage = t->storage;
    const ld_storage *s = &m->set.storages[t->storage];
    if (ld_tensor_contiguous(&m->set, t))
        out->data = s->data + (uint64_t)t->offset * t->dtype->size;
    return BRINE_OK;
}

brine_status brine_model_tensor_read(const brine_model *m, size_t i, void *dst, size_t len,
                                     brine_error *err)
{
    if (!m || (!dst && len) || i >= m->set.n_tensors)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_tensor_read: bad argument");
    return ld_tensor_read(&m->set, &m->set.tensors[i], dst, len, err);
}

brine_status brine_model_tensor_file_offset(const brine_model *m, size_t i, uint64_t *offset,
                                            brine_error *err)
{
    if (!offset)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_tensor_file_offset: NULL");
    brine_tensor_info t;
    brine_status st = brine_model_tensor(m, i, &t, err);
    if (st)
        return st;
    /* Integer compare: the bytes may live in a decompressed buffer, another object. */
    uintptr_t at = (uintptr_t)t.data, base = (uintptr_t)m->map;
    if (!t.data || at < base || at - base > m->map_len || t.nbytes > m->map_len - (at - base))
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "tensor %s is not stored contiguous and uncompressed in the file", t.name);
    *offset = (uint64_t)(at - base);
    return BRINE_OK;
}

brine_status brine_model_tensor_sha256(const brine_model *m, size_t i, uint8_t digest[32],
                                       brine_error *err)
{
    brine_tensor_info t;
    brine_status st = brine_model_tensor(m, i, &t, err);
    if (st)
        return st;
    const uint8_t *bytes = t.data;
    uint8_t *copy = NULL;
    if (!bytes && t.nbytes) {
        /* a view or a byte-swapped tensor: hash its C-order copy */
        copy = mem_alloc((mem_budget *)&m->mem, (size_t)t.nbytes);
        if (!copy)
            return ERR_NOMEM(err);
        if ((st = brine_model_tensor_read(m, i, copy, (size_t)t.nbytes, err))) {
            mem_free((mem_budget *)&m->mem, copy, (size_t)t.nbytes);
            return st;
        }
        bytes = copy;
    }
    st = sha256(bytes ? bytes : (const uint8_t *)"", (size_t)t.nbytes, digest, err);
    if (copy)
        mem_free((mem_budget *)&m->mem, copy, (size_t)t.nbytes);
    return st;
}
