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
static brine_status check_names(const ld_set *s, brine_error *err)
{
    if (s->n_tensors < 1)
        return BRINE_OK;
    const char **names = malloc(s->n_tensors * sizeof *names);
    if (!names)
        return ERR_NOMEM(err);
    brine_status st = BRINE_OK;
    for (size_t i = 0; i < s->n_tensors && !st; i++) {
        names[i] = s->tensors[i].name;
        if (strcmp(names[i], "__metadata__") == 0)
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                         "cannot be represented in safetensors: a tensor is named "
                         "'__metadata__', the key safetensors reserves for its metadata");
    }
    if (!st)
        qsort(names, s->n_tensors, sizeof *names, by_name);
    for (size_t i = 1; i < s->n_tensors && !st; i++)
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
static char *shared_groups(const ld_set *s, brine_status *st, brine_error *err)
{
    json_t *groups = json_array();
    int bad = !groups;
    for (size_t k = 0; !bad && k < s->n_storages; k++) {
        json_t *names = json_array();
        bad = !names;
        for (size_t i = 0; !bad && i < s->n_tensors; i++)
            if (s->tensors[i].storage == k)
                bad = json_array_append_new(names, json_string(s->tensors[i].name)) != 0;
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
    brine_status st = check_names(s, err);
    if (!st)
        st = st_writer_new(&m->lim, mem, &w, err);
    if (st)
        return st;
    fills = calloc(s->n_tensors ? s->n_tensors : 1, sizeof *fills);
    scratch = malloc(SCRATCH + 16);
    if (!fills || !scratch) {
        st = ERR_NOMEM(err);
        goto out;
    }
    for (size_t i = 0; i < s->n_tensors; i++)
        total += s->tensors[i].numel * s->tensors[i].dtype->size;
    int fd = -1;
    uint64_t at;
    if (file_source(m->map, m->map_len, &fd, &at) && at == 0) {
        st_writer_set_source(w, fd, m->map, m->map_len);
        /* the judge read headers here and there; the copy reads the tensors in order */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    } else {
        fd = -1;
    }
    for (size_t i = 0; i < s->n_tensors && !st; i++) {
        const ld_tensor *t = &s->tensors[i];
        int dt = st_dtype_from_name(t->dtype->st_name, strlen(t->dtype->st_name));
        if (dt < 0) {
            st = err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                         "tensor %.200s: safetensors has no %s dtype", t->name,
                         t->dtype->torch_name);
            break;
        }
        uint64_t shape[LD_MAX_DIMS];
        for (uint32_t k = 0; k < t->ndim; k++)
            shape[k] = (uint64_t)t->shape[k];
        const void *direct = NULL;
        if (ld_tensor_contiguous(s, t) && !(opts && opts->progress))
            direct = s->storages[t->storage].data + (uint64_t)t->offset * t->dtype->size;
        fills[i] = (fill_ctx){s, t, fd, m->map, m->map_len, scratch, &done, total, opts};
        st = st_writer_add(w, t->name, strlen(t->name), (st_dtype)dt, t->ndim, shape, direct,
                           direct ? NULL : fill_tensor, &fills[i], err);
    }
    if (!st)
        st = st_writer_set_metadata(w, "format", 6, "pt", 2, err);
    if (!st && (shared = shared_groups(s, &st, err)))
        st = st_writer_set_metadata(w, "brine.shared", 12, shared, strlen(shared), err);
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
        st = atomic_write(config_path, write_text, m->config_json, flags, &staged, err);
    if (!st)
        st = atomic_write(path, write_weights, w, flags, &staged_weights, err);
    if (!st)
        st = atomic_commit_pair(staged_weights, path, staged, config_path, flags, err);
    else
        atomic_discard(staged);
out:
    free(staged_weights);
    st_writer_free(w);
    free(fills);
    free(scratch);
    free(config_path);
    free(staged);
    free(shared);
    return st;
}
