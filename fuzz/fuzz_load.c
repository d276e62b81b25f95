/*
 * fuzz_load.c — the safe-load path on arbitrary bytes: brine_model_open (scan verdict gate,
 * tensor rebuild arguments, storages by persistent id, legacy records, safetensors), reading
 * and hashing every tensor, the config JSON, and brine_model_write_safetensors.
 *
 * The input is written to a memfd (brine_model_open takes a path). For a model that opens:
 * every tensor's description is consistent (nbytes = numel × itemsize, shape and strides
 * readable), every tensor can be read in full (ASan sees any view that reaches outside its
 * storage), the config is valid JSON, and converting to safetensors either fails cleanly
 * leaving no file, or writes a file that brine's own safetensors reader accepts and whose
 * tensors hold exactly the bytes brine_model_tensor_read gave.
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/safetensors.h"

#define FUZZ_OUT_DIR "/tmp/brine-fuzz-load-XXXXXX"
#include "fuzz_out_dir.h"

/* Reads tensor i in full into a fresh heap block (caller frees), or NULL if too large. */
static uint8_t *read_tensor(const brine_model *m, size_t i, const brine_tensor_info *t)
{
    if (t->nbytes > (UINT64_C(64) << 20))
        return NULL;
    uint8_t *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    FUZZ_CHECK(buf != NULL, "harness out of memory");
    brine_error err;
    brine_status st = brine_model_tensor_read(m, i, buf, (size_t)t->nbytes, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM || st == BRINE_ERR_LIMIT,
               "tensor %zu (%s) cannot be read: %s", i, t->name, err.msg);
    if (st != BRINE_OK) {
        free(buf);
        return NULL;
    }
    if (t->data && t->nbytes)
        FUZZ_CHECK(memcmp(t->data, buf, (size_t)t->nbytes) == 0,
                   "tensor %zu: the mapped bytes differ from brine_model_tensor_read", i);
    uint8_t digest[32];
    st = brine_model_tensor_sha256(m, i, digest, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM, "tensor %zu cannot be hashed: %s", i,
               err.msg);
    return buf;
}

static void check_converted(const brine_model *m, const char *path, uint8_t **bytes)
{
    const uint8_t *data = NULL;
    size_t len = 0;
    brine_error err;
    FUZZ_CHECK(brine_map_file(path, &data, &len, &err) == BRINE_OK, "cannot map %s: %s", path,
               err.msg);
    brine_limits lim;
    fuzz_limits(&lim);
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(1) << 30);
    st_file *f = NULL;
    brine_status st = st_open(data, len, &lim, &mem, &f, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM,
               "brine wrote a safetensors file its own reader refuses: %s", err.msg);
    if (st == BRINE_OK) {
        size_t n = brine_model_tensor_count(m);
        for (size_t i = 0; i < n; i++) {
            brine_tensor_info t;
            if (!bytes[i] || brine_model_tensor(m, i, &t, &err) != BRINE_OK)
                continue;
            long j = st_find(f, t.name, strlen(t.name));
            if (j < 0)
                continue; /* a tensor sharing a storage may be written under another name */
            const st_tensor_info *s = st_tensor(f, (size_t)j);
            FUZZ_CHECK(strcmp(s->dtype_name, t.dtype) == 0, "tensor %s: dtype %s, written %s",
                       t.name, t.dtype, s->dtype_name);
            FUZZ_CHECK(s->nbytes == t.nbytes &&
                           (t.nbytes == 0 || memcmp(s->data, bytes[i], (size_t)t.nbytes) == 0),
                       "tensor %s: the converted bytes differ from the loaded ones", t.name);
        }
    }
    st_close(f);
    brine_unmap(data, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);

    brine_limits lim;
    fuzz_limits(&lim);
    brine_load_options opts;
    memset(&opts, 0, sizeof opts);
    opts.limits = &lim;
    brine_model *m = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = brine_model_open(path, &opts, &m, &err);
    FUZZ_CHECK(st != BRINE_ERR_IO && st != BRINE_ERR_USAGE, "brine_model_open returned %d: %s",
               (int)st, err.msg);
    if (st != BRINE_OK) {
        FUZZ_CHECK(m == NULL, "a model on failure");
        close(fd);
        return 0;
    }
    FUZZ_CHECK(m != NULL, "BRINE_OK without a model");
    FUZZ_CHECK(brine_model_format(m) != NULL, "NULL format");

    size_t n = brine_model_tensor_count(m);
    uint8_t **bytes = calloc(n ? n : 1, sizeof *bytes);
    FUZZ_CHECK(bytes != NULL, "harness out of memory");
    for (size_t i = 0; i < n; i++) {
        brine_tensor_info t;
        st = brine_model_tensor(m, i, &t, &err);
        FUZZ_CHECK(st == BRINE_OK, "tensor %zu of %zu cannot be described: %s", i, n, err.msg);
        FUZZ_CHECK(t.name && t.dtype && t.itemsize > 0, "tensor %zu: incomplete description", i);
        uint64_t numel = 1;
        for (unsigned k = 0; k < t.ndim; k++) {
            FUZZ_CHECK(t.shape[k] >= 0, "tensor %zu: negative size", i);
            if (__builtin_mul_overflow(numel, (uint64_t)t.shape[k], &numel))
                FUZZ_CHECK(0, "tensor %zu: shape product overflows", i);
            (void)t.strides[k];
        }
        FUZZ_CHECK(numel == t.numel, "tensor %zu: numel %llu, shape says %llu", i,
                   (unsigned long long)t.numel, (unsigned long long)numel);
        FUZZ_CHECK(t.nbytes / t.itemsize == t.numel || strcmp(t.dtype, "F4") == 0 ||
                       strncmp(t.dtype, "F6", 2) == 0,
                   "tensor %zu: nbytes %llu for %llu elements of %zu bytes", i,
                   (unsigned long long)t.nbytes, (unsigned long long)t.numel, t.itemsize);
        bytes[i] = read_tensor(m, i, &t);
        uint64_t off;
        if (bytes[i] && brine_model_tensor_file_offset(m, i, &off, &err) == BRINE_OK)
            FUZZ_CHECK(off <= size && t.nbytes <= size - off &&
                           memcmp(data + off, bytes[i], (size_t)t.nbytes) == 0,
                       "tensor %zu: the file's bytes at offset %llu are not the tensor", i,
                       (unsigned long long)off);
    }
    const char *config = brine_model_config_json(m);
    if (config) {
        size_t at = 0;
        const char *why = json_check(config, strlen(config), &at);
        FUZZ_CHECK(why == NULL, "config is not valid JSON: %s at byte %zu", why, at);
    }

    char out[128], cfg[128];
    snprintf(out, sizeof out, "%s/out.safetensors", out_dir);
    snprintf(cfg, sizeof cfg, "%s/out.config.json", out_dir);
    brine_convert_options co;
    memset(&co, 0, sizeof co);
    co.config_path = cfg;
    co.no_sync = 1;
    st = brine_model_write_safetensors(m, out, &co, &err);
    if (st == BRINE_OK) {
        FUZZ_CHECK(files_in_out_dir() == 2, "convert succeeded but left %zu files",
                   files_in_out_dir());
        check_converted(m, out, bytes);
        unlink(out);
        unlink(cfg);
    } else {
        FUZZ_CHECK(st == BRINE_ERR_UNSUPPORTED || st == BRINE_ERR_NOMEM || st == BRINE_ERR_LIMIT ||
                       st == BRINE_ERR_POLICY,
                   "convert of a model that opened failed: %d %s", (int)st, err.msg);
        FUZZ_CHECK(files_in_out_dir() == 0, "a failed convert left %zu files", files_in_out_dir());
    }
    for (size_t i = 0; i < n; i++)
        free(bytes[i]);
    free(bytes);
    brine_model_free(m);
    close(fd);
    return 0;
}
