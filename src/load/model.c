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
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "brine.h"
#include "core/cursor.h"
#include "core/error.h"
#include "core/limits.h"
#include "formats/safetensors.h"
#include "load/model.h"


/* ------------------------------------------------------------------ open */

static brine_status policy_gate(const uint8_t *data, size_t len, const brine_load_options *opts,
                                const char **format, brine_error *err)
{
    brine_scan_options so = {opts ? opts->policy : NULL, opts ? opts->limits : NULL};
    brine_result *res;
    brine_status st = brine_scan_bytes(data, len, &so, &res, err);
    if (st)
        return st;
    brine_verdict v = brine_result_verdict(res);
    *format = brine_result_format(res); /* a constant string */
    if (v != BRINE_SAFE) {
        const brine_finding *f = brine_result_finding(res, 0);
        st = err_at(err, v == BRINE_INVALID ? BRINE_ERR_MALFORMED : BRINE_ERR_POLICY,
                    f && f->offset >= 0 ? (uint64_t)f->offset : 0, __LINE__,
                    "refused (%s): %s%s%s: %s", brine_verdict_name(v), f ? f->rule : "?",
                    f && f->global ? " " : "", f && f->global ? f->global : "",
                    f ? f->message : "");
        if (err && (!f || f->offset < 0))
            err->has_offset = 0;
    }
    brine_result_free(res);
    return st;
}

/* safetensors: tensors straight from the validated header; __metadata__ becomes the config. */
static brine_status open_safetensors(brine_model *m, brine_error *err)
{
    st_file *f = NULL;
    brine_status st = st_open(m->map, m->map_len, &m->lim, &m->mem, &f, err);
    for (size_t i = 0; !st && i < st_count(f); i++) {
        const st_tensor_info *t = st_tensor(f, i);
        const ld_dtype *dt = ld_dtype_by_st(t->dtype_name);
        uint64_t shape[LD_MAX_DIMS];
        if (!dt || t->ndim > LD_MAX_DIMS) {
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__, "tensor %.200s: dtype %s", t->name,
                         t->dtype_name);
            break;
        }
        for (size_t k = 0; k < t->ndim; k++)
            shape[k] = t->shape[k];
        st = ld_add_plain(&m->set, t->name, dt, (uint32_t)t->ndim, shape, t->data, t->nbytes, err);
    }
    if (!st) {
        json_t *config = json_object();
        int bad = !config;
        for (size_t i = 0; !bad && i < st_metadata_count(f); i++) {
            const char *k, *v;
            if (st_metadata_at(f, i, &k, &v) == 0)
                bad = json_object_set_new(config, k, json_string(v)) != 0;
        }
        m->set.config = config;
        if (bad)
            st = ERR_NOMEM(err);
    }
    st_close(f);
    return st;
}

brine_status brine_model_open(const char *path, const brine_load_options *opts,
                              brine_model **out, brine_error *err)
{
    if (!path || !out)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_open: NULL argument");
    *out = NULL;
    brine_model *m = calloc(1, sizeof *m);
    if (!m)
        return ERR_NOMEM(err);
    lim_resolve(opts ? opts->limits : NULL, &m->lim);
    mem_budget_init(&m->mem, m->lim.max_memory);
    pk_graph_init(&m->g, &m->mem);
    brine_status st = brine_map_file(path, &m->map, &m->map_len, err);
    const char *format = "none";
    if (!st)
        st = policy_gate(m->map, m->map_len, opts, &format, err);
    if (!st && strcmp(format, "safetensors") == 0) {
        m->box.format = "safetensors";
        ld_set_init(&m->set, &m->mem, &m->lim, NULL, NULL);
        st = open_safetensors(m, err);
    } else {
        if (!st)
            st = ld_container_open(&m->box, format, m->map, m->map_len, &m->mem, &m->lim, err);
        if (!st)
            st = ld_container_root(&m->box, &m->g, err);
        if (!st) {
            ld_set_init(&m->set, &m->mem, &m->lim, m->box.resolve, &m->box);
            st = ld_collect(&m->set, &m->g, m->box.root, err);
        }
    }
    if (!st) {
        m->config_json = ld_json_dump(m->set.config, JSON_INDENT(2) | JSON_ENSURE_ASCII);
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
    pk_graph_free(&m->g);
    ld_container_close(&m->box);
    brine_unmap(m->map, m->map_len);
    free(m);
}

const char *brine_model_format(const brine_model *m) { return m ? m->box.format : "none"; }
size_t brine_model_tensor_count(const brine_model *m) { return m ? m->set.n_tensors : 0; }
const char *brine_model_config_json(const brine_model *m) { return m ? m->config_json : NULL; }

brine_status brine_model_tensor(const brine_model *m, size_t i, brine_tensor_info *out,
                                brine_error *err)
{
    if (!m || !out || i >= m->set.n_tensors)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_tensor: no tensor %zu", i);
    const ld_tensor *t = &m->set.tensors[i];
    memset(out, 0, sizeof *out);
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
    unsigned int n = 0;
    int ok = EVP_Digest(bytes ? bytes : (const uint8_t *)"", (size_t)t.nbytes, digest, &n,
                        EVP_sha256(), NULL);
    if (copy)
        mem_free((mem_budget *)&m->mem, copy, (size_t)t.nbytes);
    return ok && n == 32 ? BRINE_OK : err_set(err, BRINE_ERR_NOMEM, __LINE__, "SHA-256 failed");
}
