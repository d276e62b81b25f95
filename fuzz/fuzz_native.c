/*
 * fuzz_native.c — brine convert to XGBoost (.json, .ubj) and LightGBM (.txt) files
 * (src/convert/to_native.c) on arbitrary bytes, two ways per input:
 *
 *   1. the input is the file: brine_model_open under the xgboost, lightgbm, sklearn and numpy
 *      profiles, then each of the three native outputs;
 *   2. the input is the UBJSON snapshot of an XGBoost Booster: wrapped in a minimal pickle
 *      (xgboost.core.Booster with {"handle": <input>}), so the mutations reach the hand-written
 *      UBJSON reader directly instead of dying in the pickle around it.
 *
 * Invariants: an output and its config are written only when the converter returns BRINE_OK
 * (never a partial pair on failure); a written .json and config are valid JSON; a .ubj is a
 * UBJSON object ('{' … '}'); failures are the converter's refusals (malformed, unsupported,
 * limit, out of memory) with a terminated message; the model's memory budget is back where it
 * was after every conversion (nothing the writers charge leaks).
 */
#include "fuzz.h"

#include <sys/stat.h>
#include <unistd.h>

#include "load/model.h"

#define FUZZ_OUT_DIR "/tmp/brine-fuzz-native-XXXXXX"
#include "fuzz_out_dir.h"

/* The whole file, or NULL when it is larger than the harness keeps. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL, "cannot open %s", path);
    struct stat sb;
    FUZZ_CHECK(fstat(fileno(f), &sb) == 0, "cannot stat %s", path);
    char *buf = NULL;
    if ((uint64_t)sb.st_size <= FUZZ_KEEP_MAX) {
        buf = malloc((size_t)sb.st_size + 1);
        FUZZ_CHECK(buf != NULL, "harness out of memory");
        *len = fread(buf, 1, (size_t)sb.st_size, f);
        FUZZ_CHECK(*len == (size_t)sb.st_size, "short read of %s", path);
        buf[*len] = 0;
    }
    fclose(f);
    return buf;
}

static void expect_json_file(const char *path, const char *what)
{
    fuzz_sink s;
    memset(&s, 0, sizeof s);
    s.keep = 1;
    size_t len = 0;
    char *text = slurp(path, &len);
    if (text) {
        fuzz_write(&s, text, len);
        json_t *doc = fuzz_expect_json(&s, what);
        json_decref(doc);
    }
    free(text);
    fuzz_sink_reset(&s, 0);
}

static void convert(brine_model *m, const char *ext)
{
    char out[128], cfg[128];
    snprintf(out, sizeof out, "%s/out.%s", out_dir, ext);
    snprintf(cfg, sizeof cfg, "%s/out.config.json", out_dir);
    brine_convert_options co;
    memset(&co, 0, sizeof co);
    co.config_path = cfg;
    co.no_sync = 1;
    brine_error err;
    memset(&err, 0, sizeof err);
    uint64_t used = m->mem.used;
    brine_status st = brine_model_write_native(m, out, &co, &err);
    FUZZ_CHECK(m->mem.used == used, ".%s: the budget holds %llu bytes more after the convert", ext,
               (unsigned long long)(m->mem.used - used));
    if (st != BRINE_OK) {
        FUZZ_CHECK(st == BRINE_ERR_UNSUPPORTED || st == BRINE_ERR_MALFORMED ||
                       st == BRINE_ERR_NOMEM || st == BRINE_ERR_LIMIT,
                   ".%s: convert failed with %d: %s", ext, (int)st, err.msg);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "unterminated message");
        FUZZ_CHECK(err.msg[0] != 0, ".%s: failure %d without a message", ext, (int)st);
        FUZZ_CHECK(files_in_out_dir() == 0, ".%s: a failed convert left %zu files", ext,
                   files_in_out_dir());
        return;
    }
    FUZZ_CHECK(files_in_out_dir() == 2, ".%s: convert succeeded but left %zu files", ext,
               files_in_out_dir());
    expect_json_file(cfg, "the native config");
    if (strcmp(ext, "json") == 0) {
        expect_json_file(out, "the XGBoost JSON model");
    } else if (strcmp(ext, "ubj") == 0) {
        size_t len = 0;
        char *body = slurp(out, &len);
        FUZZ_CHECK(!body || (len >= 2 && body[0] == '{' && body[len - 1] == '}'),
                   "the .ubj output is not a UBJSON object");
        free(body);
    } else {
        size_t len = 0;
        char *body = slurp(out, &len);
        FUZZ_CHECK(!body || (len >= 4 && memcmp(body, "tree", 4) == 0),
                   "the .txt output is not a LightGBM model string");
        free(body);
    }
    unlink(out);
    unlink(cfg);
}

static brine_policy *native_policy(void)
{
    static brine_policy *p;
    if (!p) {
        static const char *const allow[] = {"xgboost", "lightgbm", "sklearn", "numpy"};
        brine_error err;
        p = brine_policy_new();
        FUZZ_CHECK(p != NULL, "harness out of memory");
        for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
            FUZZ_CHECK(brine_policy_allow(p, allow[i], &err) == BRINE_OK, "profile %s: %s",
                       allow[i], err.msg);
    }
    return p;
}

static void run_file(const uint8_t *data, size_t size, int ubj_only)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    brine_limits lim;
    fuzz_limits(&lim);
    brine_load_options opts;
    memset(&opts, 0, sizeof opts);
    opts.limits = &lim;
    opts.policy = native_policy();
    brine_model *m = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = brine_model_open(path, &opts, &m, &err);
    FUZZ_CHECK(st != BRINE_ERR_IO && st != BRINE_ERR_USAGE, "brine_model_open returned %d: %s",
               (int)st, err.msg);
    if (st == BRINE_OK) {
        convert(m, "ubj");
        convert(m, "json");
        if (!ubj_only)
            convert(m, "txt");
        brine_model_free(m);
    } else {
        FUZZ_CHECK(m == NULL, "a model on failure");
    }
    close(fd);
}

/* protocol 4: Booster.__new__ via NEWOBJ, then BUILD with {"handle": BINBYTES(data)} */
static void run_snapshot(const uint8_t *data, size_t size)
{
    static const char head[] = "\x80\x04"
                               "cxgboost.core\nBooster\n"
                               ")\x81}"
                               "X\x06\x00\x00\x00handle"
                               "B";
    size_t n = sizeof head - 1;
    uint8_t *pk = malloc(n + 4 + size + 3);
    FUZZ_CHECK(pk != NULL, "harness out of memory");
    memcpy(pk, head, n);
    if (size > UINT32_MAX) {
        free(pk);
        return;
    }
    for (unsigned i = 0; i < 4; i++)
        pk[n + i] = (uint8_t)(size >> (8 * i));
    memcpy(pk + n + 4, data, size);
    memcpy(pk + n + 4 + size, "sb.", 3);
    run_file(pk, n + 4 + size + 3, 1);
    free(pk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_file(data, size, 0);
    run_snapshot(data, size);
    return 0;
}
