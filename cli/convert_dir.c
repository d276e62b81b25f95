/*
 * convert_dir.c — `brine convert DIR OUTDIR`: a Hugging Face model folder in one command.
 *
 * Every regular file of DIR is scanned first; one that is not safe stops the conversion before
 * anything is written. Model files (torch checkpoints, pickles, numpy files) become
 * safetensors named as transformers names them — pytorch_model-00001-of-00002.bin →
 * model-00001-of-00002.safetensors, pytorch_model.bin → model.safetensors, anything else
 * STEM.safetensors — each with its config (STEM.config.json); a shard index
 * (pytorch_model.bin.index.json) whose weight_map names only converted files is rewritten to
 * point at them (model.safetensors.index.json, keys sorted, two-space indent, as transformers
 * writes it); every other file (config.json, tokenizer files, safetensors already) is copied
 * byte for byte. Each output is written to a temporary file and renamed into place; when one
 * fails, the outputs already written are removed again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

enum kind { COPY, MODEL, INDEX };

typedef struct item {
    char *name;   /* in DIR */
    char *out;    /* in OUTDIR */
    char *config; /* MODEL: the config's name */
    enum kind kind;
    json_t *index; /* INDEX: the parsed index */
} item;

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

/* "pytorch_model-00001-of-00002.bin" → "model-00001-of-00002" + ext; "x.pt" → "x" + ext. */
static char *hf_name(const char *name, const char *ext)
{
    const char *dot = strrchr(name, '.');
    size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    const char *skip = strncmp(name, "pytorch_model", 13) == 0 && stem >= 13 ? "pytorch_" : "";
    size_t s = strlen(skip), e = strlen(ext);
    char *out = malloc(stem - s + e + 1);
    if (out) {
        memcpy(out, name + s, stem - s);
        memcpy(out + stem - s, ext, e + 1);
    }
    return out;
}

/* Writes len bytes to a temporary file in dir and renames it to path (replacing it only with
 * force). Returns 0 or -1 after printing why. */
static int write_file(const char *dir, const char *path, const char *data, size_t len, int no_sync,
                      int force)
{
    char *tmp = join(dir, ".brine-convert.XXXXXX");
    int fd = tmp ? mkstemp(tmp) : -1;
    if (fd < 0) {
        cli_warn("convert: %s: cannot create a temporary file: %s", dir, strerror(errno));
        free(tmp);
        return -1;
    }
    size_t off = 0;
    int ok = 1;
    while (ok && off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        off += ok ? (size_t)w : 0;
    }
    ok = ok && (no_sync || fsync(fd) == 0);
    ok = close(fd) == 0 && ok;
    if (ok && !force) {
        /* no replace: link fails when path exists (created since the checks) */
        ok = link(tmp, path) == 0;
        unlink(tmp);
    } else if (ok) {
        ok = rename(tmp, path) == 0;
    }
    if (!ok) {
        cli_warn("convert: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

static int copy_file(const char *dir, const char *src, const char *dst, int no_sync, int force)
{
    FILE *f = fopen(src, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    if (f) {
        for (;;) {
            if (len == cap) {
                char *nb = realloc(buf, cap = cap ? cap * 2 : 1 << 16);
                if (!nb)
                    break;
                buf = nb;
            }
            size_t n = fread(buf + len, 1, cap - len, f);
            len += n;
            if (n == 0) {
                rc = ferror(f) ? -1 : 0;
                break;
            }
        }
        fclose(f);
    }
    if (rc)
        cli_warn("convert: cannot read %s", src);
    else
        rc = write_file(dir, dst, buf ? buf : "", len, no_sync, force);
    free(buf);
    return rc;
}

/* The weight_map of an index file, when every file it names is a model file of this folder
 * that is converted; else NULL (the index is copied as it is). */
static json_t *convertible_index(const char *path, item *items, size_t n)
{
    json_t *doc = json_load_file(path, 0, NULL);
    json_t *map = json_object_get(doc, "weight_map");
    const char *k;
    json_t *v;
    int ok = json_is_object(map) && json_object_size(map);
    json_object_foreach(map, k, v)
    {
        int found = 0;
        for (size_t i = 0; ok && i < n; i++)
            found |= items[i].kind == MODEL && json_is_string(v) &&
                     strcmp(items[i].name, json_string_value(v)) == 0;
        ok = ok && found;
    }
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static const char *out_of(const item *items, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, name) == 0)
            return items[i].out;
    return NULL;
}

int cli_convert_dir(const char *in, const char *out, brine_policy *policy,
                    const brine_limits *limits, const brine_convert_options *base)
{
    struct stat si, so;
    if (stat(in, &si) != 0 || !S_ISDIR(si.st_mode))
        return cli_usage_error("convert", "%s is not a directory", in);
    if (stat(out, &so) == 0) {
        if (!S_ISDIR(so.st_mode))
            return cli_usage_error("convert", "IN is a directory: OUT %s must be one too", out);
        if (so.st_dev == si.st_dev && so.st_ino == si.st_ino) {
            cli_warn("convert: OUT %s is the input directory %s: convert never writes over its "
                     "input",
                     out, in);
            return CLI_USAGE;
        }
    }
    struct dirent **names = NULL;
    int count = scandir(in, &names, NULL, alphasort);
    if (count < 0) {
        cli_warn("convert: cannot list %s: %s", in, strerror(errno));
        return CLI_USAGE;
    }
    item *items = calloc((size_t)count + 1, sizeof *items);
    size_t n = 0, written = 0;
    char **done = calloc((size_t)count * 2 + 1, sizeof *done);
    int rc = items && done ? CLI_OK : CLI_USAGE;
    brine_scan_options so_opts = {.policy = policy, .limits = limits};
    /* 1: every file judged and named before anything is written */
    for (int i = 0; i < count && rc == CLI_OK; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        char *path = join(in, name);
        struct stat st;
        if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            cli_warn("convert: %s/%s skipped: not a regular file", in, name);
            free(path);
            continue;
        }
        brine_result *r = NULL;
        brine_error err;
        if (brine_scan_file(path, &so_opts, &r, &err) != BRINE_OK) {
            cli_warn("convert %s: %s", path, err.msg);
            rc = CLI_USAGE;
        } else if (brine_result_verdict(r) != BRINE_SAFE) {
            cli_warn("convert %s: refused (%s): nothing in %s was written", path,
                     brine_verdict_name(brine_result_verdict(r)), in);
            rc = CLI_FAILED;
        } else {
            const char *fmt = brine_result_format(r);
            item *it = &items[n++];
            it->name = strdup(name);
            it->kind = strcmp(fmt, "none") == 0 || strcmp(fmt, "safetensors") == 0 ? COPY : MODEL;
            it->out = it->kind == MODEL ? hf_name(name, ".safetensors") : strdup(name);
            it->config = it->kind == MODEL ? hf_name(name, ".config.json") : NULL;
            if (!it->name || !it->out || (it->kind == MODEL && !it->config))
                rc = CLI_USAGE;
        }
        brine_result_free(r);
        free(path);
    }
    /* indexes of converted shards: rewritten */
    size_t len = strlen(".index.json");
    for (size_t i = 0; i < n && rc == CLI_OK; i++) {
        size_t l = strlen(items[i].name);
        if (items[i].kind != COPY || l <= len || strcmp(items[i].name + l - len, ".index.json"))
            continue;
        char *path = join(in, items[i].name);
        json_t *doc = path ? convertible_index(path, items, n) : NULL;
        free(path);
        if (!doc)
            continue;
        if (base->key || base->state_dict || base->max_shard_size) {
            json_decref(doc);
            rc = cli_usage_error("convert",
                                 "%s: --key, --state-dict and --max-shard-size do not "
                                 "apply to a sharded checkpoint (its index names the tensors)",
                                 items[i].name);
            break;
        }
        char *stem = strndup(items[i].name, l - len); /* "pytorch_model.bin" */
        char *mapped = stem ? hf_name(stem, ".safetensors.index.json") : NULL;
        free(stem);
        free(items[i].out);
        items[i].out = mapped;
        items[i].kind = INDEX;
        items[i].index = doc;
        if (!mapped)
            rc = CLI_USAGE;
    }
    /* no two outputs with one name; none that exists, unless --force */
    for (size_t i = 0; i < n && rc == CLI_OK; i++)
        for (int c = 0; c < 2 && rc == CLI_OK; c++) {
            const char *o = c ? items[i].config : items[i].out;
            if (!o)
                continue;
            for (size_t j = 0; j < n && rc == CLI_OK; j++)
                if ((j != i && strcmp(o, items[j].out) == 0) ||
                    (j != i && items[j].config && strcmp(o, items[j].config) == 0))
                    rc = cli_usage_error("convert", "%s and %s would both be written to %s",
                                         items[i].name, items[j].name, o);
            char *p = join(out, o);
            struct stat st;
            if (rc == CLI_OK && p && !base->force && lstat(p, &st) == 0) {
                cli_warn("convert: %s exists; use --force to replace it", p);
                rc = CLI_USAGE;
            }
            free(p);
        }
    size_t models = 0;
    for (size_t i = 0; i < n; i++)
        models += items[i].kind == MODEL;
    if (rc == CLI_OK && !models)
        rc = cli_usage_error("convert", "directory %s holds no model file to convert", in);
    if (rc == CLI_OK && stat(out, &so) != 0 && mkdir(out, 0777) != 0) {
        cli_warn("convert: cannot create %s: %s", out, strerror(errno));
        rc = CLI_USAGE;
    }
    /* 2: the outputs */
    for (size_t i = 0; i < n && rc == CLI_OK; i++) {
        char *src = join(in, items[i].name), *dst = join(out, items[i].out);
        char *cfg = items[i].config ? join(out, items[i].config) : NULL;
        if (!src || !dst || (items[i].config && !cfg)) {
            rc = CLI_USAGE;
        } else if (items[i].kind == COPY) {
            rc = copy_file(out, src, dst, base->no_sync, base->force) ? CLI_USAGE : CLI_OK;
        } else if (items[i].kind == MODEL) {
            brine_model *m = NULL;
            rc = cli_open_model("convert", src, policy, limits, &m);
            brine_convert_options opts = *base;
            opts.config_path = cfg;
            brine_error err;
            brine_status st = rc ? BRINE_OK : brine_model_write_safetensors(m, dst, &opts, &err);
            if (!rc && st) {
                cli_warn("convert %s: %s", src, err.msg);
                rc = st == BRINE_ERR_IO || st == BRINE_ERR_USAGE ? CLI_USAGE : CLI_FAILED;
            }
            brine_model_free(m);
            if (!rc && cfg)
                done[written++] = strdup(cfg);
        } else {
            json_t *map = json_object_get(items[i].index, "weight_map");
            const char *k;
            json_t *v;
            json_object_foreach(map, k, v)
            {
                json_object_set_new(map, k, json_string(out_of(items, n, json_string_value(v))));
            }
            char *text = json_dumps(items[i].index, JSON_INDENT(2) | JSON_SORT_KEYS);
            size_t tl = text ? strlen(text) : 0;
            char *full = text ? realloc(text, tl + 2) : NULL;
            if (full) {
                memcpy(full + tl, "\n", 2);
                rc = write_file(out, dst, full, tl + 1, base->no_sync, base->force) ? CLI_USAGE
                                                                                    : CLI_OK;
            } else {
                free(text);
                rc = CLI_USAGE;
            }
            free(full);
        }
        if (rc == CLI_OK) {
            printf("%s -> %s\n", src, dst);
            done[written++] = dst;
            dst = NULL;
        }
        free(src);
        free(dst);
        free(cfg);
    }
    if (rc != CLI_OK) /* nothing half-done */
        for (size_t i = 0; i < written; i++)
            unlink(done[i]);
    for (size_t i = 0; i < written; i++)
        free(done[i]);
    for (size_t i = 0; i < n; i++) {
        free(items[i].name);
        free(items[i].out);
        free(items[i].config);
        json_decref(items[i].index);
    }
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    free(items);
    free(done);
    return rc;
}
