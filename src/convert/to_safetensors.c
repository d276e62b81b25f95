/*
 * to_safetensors.c — a loaded model written as safetensors + a JSON config.
 *
 * The input was already judged safe and its tensors rebuilt from validated arguments; this
 * file only lays bytes out. Contiguous little-endian tensors are handed to the writer as
 * ranges of the input file, which it copies with copy_file_range (or pread through one
 * bounded buffer): the mapping of the input is not faulted in, so the copy runs at the speed
 * of cp and memory does not grow with the model. Views and byte-swapped tensors are
 * produced chunk by chunk through a bounded scratch buffer. Both outputs are
 * atomic: each is staged in a registered temporary file (core/atomic.h) and the two are
 * renamed into place together, refusing existing files unless forced; a failure at any step
 * or a signal (through brine_remove_temporaries) removes what was staged, so a failed or
 * interrupted conversion leaves nothing behind.
 *
 * Names a model can hold but safetensors cannot (the same joined name twice, the reserved
 * "__metadata__") are refused as BRINE_ERR_UNSUPPORTED before anything is written: the
 * input is fine, the target format is not able to say it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/error.h"
#include "core/file.h"
#include "formats/safetensors.h"
#include "convert/plan.h"
#include "load/model.h"

enum { SCRATCH = 1 << 20 };

typedef struct fill_ctx {
    const ld_set *set;
    const ld_tensor *t;
    int fd;             /* the input file behind the mapping, or -1 */
    const uint8_t *map; /* the mapping: map[i] is byte i of fd */
    size_t map_len;
    uint8_t *scratch; /* SCRATCH + one element, shared by all tensors */
    uint64_t *done;
    uint64_t total;
    const brine_convert_options *opts;
} fill_ctx;

/* Contiguous bytes at offset `at` of the input file, read into buf (the writer's bounded
 * buffer) rather than through the mapping. */
static brine_status pread_tensor(fill_ctx *f, uint64_t at, uint8_t *buf, size_t len,
                                 brine_error *err)
{
    while (len) {
        ssize_t r = pread(f->fd, buf, len, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return err_set(err, BRINE_ERR_IO, __LINE__, "reading tensor %.200s failed: %s",
                           f->t->name,
                           r < 0 ? strerror(errno) : "the input file is shorter than it was");
        buf += r;
        at += (uint64_t)r;
        len -= (size_t)r;
        *f->done += (uint64_t)r;
        if (f->opts && f->opts->progress)
            f->opts->progress(f->opts->progress_ctx, *f->done, f->total);
    }
    return BRINE_OK;
}

/* The writer asks for bytes [offset, offset + len) of a tensor, in order and in chunks that
 * need not fall on element boundaries. */
static brine_status fill_tensor(void *ctx, uint64_t offset, uint8_t *buf, size_t len,
                                brine_error *err)
{
    fill_ctx *f = ctx;
    uint32_t size = f->t->dtype->size;
    const uint8_t *base =
        ld_tensor_contiguous(f->set, f->t)
            ? f->set->storages[f->t->storage].data + (uint64_t)f->t->offset * f->t->dtype->size
            : NULL;
    if (base && f->fd >= 0 && base >= f->map && base < f->map + f->map_len)
        return pread_tensor(f, (uint64_t)(base - f->map) + offset, buf, len, err);
    while (len) {
        uint64_t first = offset / size, skip = offset % size;
        uint64_t count = (skip + len + size - 1) / size;
        if (count > SCRATCH / size)
            count = SCRATCH / size;
        if (count > f->t->numel - first)
            count = f->t->numel - first;
        brine_status st = ld_tensor_read_range(f->set, f->t, first, count, f->scratch, err);
        if (st)
            return st;
        uint64_t avail = count * size - skip;
        size_t n = avail < len ? (size_t)avail : len;
        memcpy(buf, f->scratch + skip, n);
        buf += n;
        offset += n;
        len -= n;
        *f->done += n;
        if (f->opts && f->opts->progress)
            f->opts->progress(f->opts->progress_ctx, *f->done, f->total);
    }
    return BRINE_OK;
}

/* "out.safetensors" → "out.config.json"; anything else gets ".config.json" appended. */
static char *config_path_for(const char *path)
{
    size_t n = strlen(path), ext = strlen(".safetensors");
    size_t stem = n >= ext && strcmp(path + n - ext, ".safetensors") == 0 ? n - ext : n;
    char *out = malloc(stem + sizeof ".config.json");
    if (out) {
        memcpy(out, path, stem);
        memcpy(out + stem, ".config.json", sizeof ".config.json");
    }
    return out;
}

/* Writes the config text to fd. */
static brine_status write_text(void *ctx, int fd, brine_error *err)
{
    const char *text = ctx;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(err, BRINE_ERR_IO, __LINE__, "cannot write the config: %s",
                           strerror(errno));
        off += (size_t)w;
    }
    return BRINE_OK;
}

/* Streams the safetensors file to fd. */
static brine_status write_weights(void *ctx, int fd, brine_error *err)
{
    return st_writer_write_fd(ctx, fd, err);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses tensor names safetensors cannot represent: its header is a JSON object keyed by
 * name, so a repeated name would silently drop a tensor and "__metadata__" is not a tensor. */
static brine_status check_names(const cv_plan *p, brine_error *err)
{
    if (p->n < 1)
        return BRINE_OK;
    const char **names = malloc(p->n * sizeof *names);
    if (!names)
        return ERR_NOMEM(err);
    brine_status st = BRINE_OK;
    for (size_t i = 0; i < p->n && !st; i++) {
        names[i] = p->e[i].name;
        if (strcmp(names[i], "__metadata__") == 0)
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                         "cannot be represented in safetensors: a tensor is named "
                         "'__metadata__', the key safetensors reserves for its metadata");
    }
    if (!st)
        qsort(names, p->n, sizeof *names, by_name);
    for (size_t i = 1; i < p->n && !st; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                         "cannot be represented in safetensors: two tensors are named '%.150s' "
                         "(nested keys are joined with '.')",
                         names[i]);
    free(names);
    return st;
}

/* The groups of tensors that share a storage, as a JSON array of name arrays, or NULL when
 * there are none. *st is set when memory runs out (a missing group would be a lost fact). */
static char *shared_groups(const ld_set *s, const cv_plan *p, brine_status *st, brine_error *err)
{
    json_t *groups = json_array();
    int bad = !groups;
    for (size_t k = 0; !bad && k < s->n_storages; k++) {
        json_t *names = json_array();
        bad = !names;
        for (size_t i = 0; !bad && i < p->n; i++)
            if (p->e[i].t->storage == k && p->e[i].kept < 0)
                bad = json_array_append_new(names, json_string(p->e[i].name)) != 0;
        if (!bad && json_array_size(names) > 1)
            bad = json_array_append(groups, names) != 0;
        json_decref(names);
    }
    char *text = NULL;
    if (!bad && json_array_size(groups) && !(text = ld_json_dump(groups, JSON_COMPACT)))
        bad = 1;
    json_decref(groups);
    if (bad)
        *st = ERR_NOMEM(err);
    return text;
}

/* ------------------------------------------------------------------ shards */

/* One tensor of a shard handed to its writer (as the single-file loop does). */
static brine_status add_to_shard(st_writer *w, const ld_set *s, const cv_entry *e, fill_ctx *fill,
                                 brine_error *err)
{
    const ld_tensor *t = e->t;
    int dt = st_dtype_from_name(t->dtype->st_name, strlen(t->dtype->st_name));
    if (dt < 0)
        return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                       "tensor %.200s: safetensors has no %s dtype", e->name, t->dtype->torch_name);
    uint64_t shape[LD_MAX_DIMS];
    for (uint32_t k = 0; k < t->ndim; k++)
        shape[k] = (uint64_t)t->shape[k];
    const void *direct = NULL;
    if (ld_tensor_contiguous(s, t) && !(fill->opts && fill->opts->progress))
        direct = s->storages[t->storage].data + (uint64_t)t->offset * t->dtype->size;
    return st_writer_add(w, e->name, strlen(e->name), (st_dtype)dt, t->ndim, shape, direct,
                         direct ? NULL : fill_tensor, fill, err);
}

/* "dir/model.safetensors" → "dir/model" (the stem shard and index names grow from). */
static char *shard_stem(const char *path)
{
    size_t n = strlen(path), ext = strlen(".safetensors");
    size_t stem = n >= ext && strcmp(path + n - ext, ".safetensors") == 0 ? n - ext : n;
    char *out = malloc(stem + 1);
    if (out) {
        memcpy(out, path, stem);
        out[stem] = 0;
    }
    return out;
}

/* The tensors split in plan order into shards of at most max bytes (a tensor larger than max
 * alone), written as STEM-0000k-of-0000N.safetensors with STEM.safetensors.index.json —
 * {"metadata": {"total_size": …}, "weight_map": {name: file}}, keys sorted, two-space indent,
 * as transformers' save_pretrained writes them — and the config. Everything is staged first
 * and committed only when all of it was written; a failed commit removes what it renamed. */
static brine_status write_sharded(const brine_model *m, const cv_plan *p, const char *path,
                                  const char *config_path, const brine_convert_options *opts,
                                  int fd, fill_ctx *fills, uint8_t *scratch, uint64_t *done,
                                  uint64_t total, brine_error *err)
{
    const ld_set *s = &m->set;
    mem_budget *mem = (mem_budget *)&m->mem;
    unsigned flags = (opts->no_sync ? ATOMIC_NO_SYNC : 0) | (opts->force ? ATOMIC_REPLACE : 0);
    size_t *shard = calloc(p->n ? p->n : 1, sizeof *shard), nshards = 0;
    uint64_t cur = 0;
    char *stem = shard_stem(path), *index_text = NULL;
    json_t *index =
        json_pack("{s:{s:I},s:{}}", "metadata", "total_size", (json_int_t)total, "weight_map");
    brine_status st = shard && stem && index ? BRINE_OK : ERR_NOMEM(err);
    for (size_t i = 0; !st && i < p->n; i++) {
        if (p->e[i].kept >= 0)
            continue;
        uint64_t size = p->e[i].t->numel * p->e[i].t->dtype->size;
        if (!nshards || (cur && cur + size > opts->max_shard_size)) {
            nshards++;
            cur = 0;
        }
        shard[i] = nshards - 1;
        cur += size;
    }
    if (!nshards)
        nshards = 1;
    size_t nfiles = nshards + 2; /* the shards, the index, the config */
    char **paths = calloc(nfiles, sizeof *paths), **staged = calloc(nfiles, sizeof *staged);
    if (!st && (!paths || !staged))
        st = ERR_NOMEM(err);
    for (size_t k = 0; !st && k < nshards; k++) {
        size_t len = strlen(stem) + 64;
        if (!(paths[k] = malloc(len))) {
            st = ERR_NOMEM(err);
            break;
        }
        snprintf(paths[k], len, "%s-%05zu-of-%05zu.safetensors", stem, k + 1, nshards);
        const char *base = strrchr(paths[k], '/') ? strrchr(paths[k], '/') + 1 : paths[k];
        st_writer *w = NULL;
        st = st_writer_new(&m->lim, mem, &w, err);
        if (!st && fd >= 0) /* tensor bytes copied from the input file, as for one output */
            st_writer_set_source(w, fd, m->map, m->map_len);
        for (size_t i = 0; !st && i < p->n; i++) {
            if (p->e[i].kept >= 0 || shard[i] != k)
                continue;
            fills[i] = (fill_ctx){s, p->e[i].t, fd, m->map, m->map_len, scratch, done, total, opts};
            st = add_to_shard(w, s, &p->e[i], &fills[i], err);
            if (!st && json_object_set_new(json_object_get(index, "weight_map"), p->e[i].name,
                                           json_string(base)))
                st = ERR_NOMEM(err);
        }
        if (!st)
            st = st_writer_set_metadata(w, "format", 6, "pt", 2, err);
        if (!st)
            st = atomic_write(paths[k], write_weights, w, flags, &staged[k], err);
        st_writer_free(w);
    }
    if (!st && p->aliases) {
        json_t *a = json_loads(p->aliases, 0, NULL);
        if (!a || json_object_set_new(json_object_get(index, "metadata"), "brine.aliases", a))
            st = ERR_NOMEM(err);
    }
    size_t len = stem ? strlen(stem) + sizeof ".safetensors.index.json" : 0;
    if (!st && (!(paths[nshards] = malloc(len)) || !(paths[nshards + 1] = strdup(config_path)) ||
                !(index_text = json_dumps(index, JSON_INDENT(2) | JSON_SORT_KEYS))))
        st = ERR_NOMEM(err);
    if (!st) {
        snprintf(paths[nshards], len, "%s.safetensors.index.json", stem);
        size_t tl = strlen(index_text);
        char *nl = realloc(index_text, tl + 2); /* transformers ends the index with "\n" */
        if (nl) {
            index_text = nl;
            memcpy(index_text + tl, "\n", 2);
        } else {
            st = ERR_NOMEM(err);
        }
    }
    if (!st)
        st = atomic_write(paths[nshards], write_text, index_text, flags, &staged[nshards], err);
    if (!st)
        st = atomic_write(paths[nshards + 1], write_text, p->config, flags, &staged[nshards + 1],
                          err);
    size_t committed = 0;
    int commit_failed = 0;
    for (; !st && committed < nfiles; committed++)
        if ((st = atomic_commit(staged[committed], paths[committed], flags, err))) {
            commit_failed = 1; /* atomic_commit removed its own temporary */
            break;
        }
    if (st) { /* nothing half-done: what was renamed goes, what was staged is dropped */
        for (size_t k = 0; paths && staged && k < nfiles; k++) {
            if (k < committed)
                unlink(paths[k]);
            else if (k > committed || !commit_failed)
                atomic_discard(staged[k]);
        }
    }
    for (size_t k = 0; paths && staged && k < nfiles; k++) {
        free(paths[k]);
        free(staged[k]);
    }
    free(paths);
    free(staged);
    free(shard);
    free(stem);
    free(index_text);
    json_decref(index);
    return st;
}

brine_status brine_model_write_safetensors(const brine_model *m, const char *path,
                                           const brine_convert_options *opts, brine_error *err)
{
    if (!m || !path)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_model_write_safetensors: NULL");
    mem_budget *mem = (mem_budget *)&m->mem;
    const ld_set *s = &m->set;
    st_writer *w = NULL;
    fill_ctx *fills = NULL;
    uint8_t *scratch = NULL;
    char *config_path = NULL, *staged = NULL, *shared = NULL;
    char *staged_weights = NULL;
    uint64_t done = 0, total = 0;
    cv_plan plan;
    cv_select sel = {opts ? opts->key : NULL, opts ? opts->state_dict : 0, opts ? opts->dedup : 0};
    brine_status st = cv_plan_build(s, s->config, &sel, &plan, err);
    if (!st)
        st = check_names(&plan, err);
    if (!st)
        st = st_writer_new(&m->lim, mem, &w, err);
    if (st) {
        cv_plan_free(&plan);
        return st;
    }
    fills = calloc(plan.n ? plan.n : 1, sizeof *fills);
    scratch = malloc(SCRATCH + 16);
    if (!fills || !scratch) {
        st = ERR_NOMEM(err);
        goto out;
    }
    for (size_t i = 0; i < plan.n; i++)
        if (plan.e[i].kept < 0)
            total += plan.e[i].t->numel * plan.e[i].t->dtype->size;
    int fd = -1;
    uint64_t at;
    if (file_source(m->map, m->map_len, &fd, &at) && at == 0) {
        st_writer_set_source(w, fd, m->map, m->map_len);
        /* the judge read headers here and there; the copy reads the tensors in order */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    } else {
        fd = -1;
    }
    if (opts && opts->max_shard_size && total > opts->max_shard_size) {
        if (!(config_path = opts->config_path ? strdup(opts->config_path) : config_path_for(path)))
            st = ERR_NOMEM(err);
        else
            st = write_sharded(m, &plan, path, config_path, opts, fd, fills, scratch, &done, total,
                               err);
        goto out;
    }
    for (size_t i = 0; i < plan.n && !st; i++) {
        const ld_tensor *t = plan.e[i].t;
        const char *name = plan.e[i].name;
        if (plan.e[i].kept >= 0) /* stored once, under the name it is an alias of */
            continue;
        int dt = st_dtype_from_name(t->dtype->st_name, strlen(t->dtype->st_name));
        if (dt < 0) {
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                         "tensor %.200s: safetensors has no %s dtype", name, t->dtype->torch_name);
            break;
        }
        uint64_t shape[LD_MAX_DIMS];
        for (uint32_t k = 0; k < t->ndim; k++)
            shape[k] = (uint64_t)t->shape[k];
        const void *direct = NULL;
        if (ld_tensor_contiguous(s, t) && !(opts && opts->progress))
            direct = s->storages[t->storage].data + (uint64_t)t->offset * t->dtype->size;
        fills[i] = (fill_ctx){s, t, fd, m->map, m->map_len, scratch, &done, total, opts};
        st = st_writer_add(w, name, strlen(name), (st_dtype)dt, t->ndim, shape, direct,
                           direct ? NULL : fill_tensor, &fills[i], err);
    }
    if (!st)
        st = st_writer_set_metadata(w, "format", 6, "pt", 2, err);
    if (!st && (shared = shared_groups(s, &plan, &st, err)))
        st = st_writer_set_metadata(w, "brine.shared", 12, shared, strlen(shared), err);
    if (!st && plan.aliases) /* {"alias": "stored name"}: load_checkpoint re-ties them */
        st =
            st_writer_set_metadata(w, "brine.aliases", 13, plan.aliases, strlen(plan.aliases), err);
    if (!st && !(config_path =
                     opts && opts->config_path ? strdup(opts->config_path) : config_path_for(path)))
        st = ERR_NOMEM(err);
    if (!st && strcmp(config_path, path) == 0)
        st = err_set(err, BRINE_ERR_USAGE, __LINE__,
                     "the config and the weights would both be written to %.150s", path);
    /* both are staged, then renamed together: either both files appear or neither */
    unsigned flags =
        (opts && opts->no_sync ? ATOMIC_NO_SYNC : 0) | (opts && opts->force ? ATOMIC_REPLACE : 0);
    if (!st)
        st = atomic_write(config_path, write_text, plan.config, flags, &staged, err);
    if (!st)
        st = atomic_write(path, write_weights, w, flags, &staged_weights, err);
    if (!st)
        st = atomic_commit_pair(staged_weights, path, staged, config_path, flags, err);
    else
        atomic_discard(staged);
out:
    cv_plan_free(&plan);
    free(staged_weights);
    st_writer_free(w);
    free(fills);
    free(scratch);
    free(config_path);
    free(staged);
    free(shared);
    return st;
}
