/*
 * fuzz_skops_convert.c — brine convert IN OUT.skops (src/convert/to_skops.c) on arbitrary
 * bytes: brine_model_open under the sklearn and numpy profiles, then
 * brine_model_write_skops, which rebuilds the estimator's skops schema from the pickle's
 * graph without unpickling.
 *
 * Invariants: the archive is written only when the converter returns BRINE_OK (nothing is
 * left behind on failure); failures are refusals (unsupported, malformed, limit, out of
 * memory) with a message; a written archive is one brine itself reads back: its own scan of
 * the archive is neither `invalid` nor `unsafe`, and its schema.json is valid JSON; the
 * model's memory budget is back where it was after the conversion.
 */
#include "fuzz.h"

#include <unistd.h>

#include "core/alloc.h"
#include "formats/zip.h"
#include "load/model.h"

#define FUZZ_OUT_DIR "/tmp/brine-fuzz-skops-XXXXXX"
#include "fuzz_out_dir.h"

static brine_policy *sk_policy(void)
{
    static brine_policy *p;
    if (!p) {
        static const char *const allow[] = {"sklearn", "numpy"};
        brine_error err;
        p = brine_policy_new();
        FUZZ_CHECK(p != NULL, "harness out of memory");
        for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
            FUZZ_CHECK(brine_policy_allow(p, allow[i], &err) == BRINE_OK, "profile %s: %s",
                       allow[i], err.msg);
    }
    return p;
}

/* brine reads back what it wrote: a zip with a JSON schema.json that its scan does not call
 * invalid or unsafe. */
static void check_archive(const char *path)
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
    zip_archive *za = NULL;
    brine_status st = zip_open(data, len, &lim, &mem, &za, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM || st == BRINE_ERR_LIMIT,
               "brine wrote a skops archive its own zip reader refuses: %s", err.msg);
    if (st == BRINE_OK) {
        long i = zip_find(za, "schema.json", strlen("schema.json"));
        FUZZ_CHECK(i >= 0, "the skops archive has no schema.json");
        const uint8_t *schema = NULL;
        size_t n = 0;
        int owned = 0;
        st = zip_read(za, (size_t)i, 0, &schema, &n, &owned, &err);
        FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM || st == BRINE_ERR_LIMIT,
                   "schema.json cannot be read back: %s", err.msg);
        if (st == BRINE_OK) {
            fuzz_sink s;
            memset(&s, 0, sizeof s);
            s.keep = 1;
            fuzz_write(&s, schema, n);
            json_decref(fuzz_expect_json(&s, "schema.json"));
            fuzz_sink_reset(&s, 0);
            zip_release(za, schema, n, owned);
        }
    }
    zip_close(za);

    brine_scan_options so;
    memset(&so, 0, sizeof so);
    so.limits = &lim;
    so.policy = sk_policy();
    brine_result *res = NULL;
    st = brine_scan_bytes(data, len, &so, &res, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM, "scan of the archive failed: %s", err.msg);
    if (res) {
        brine_verdict v = brine_result_verdict(res);
        FUZZ_CHECK(v != BRINE_INVALID && v != BRINE_UNSAFE,
                   "brine's scan calls the skops archive it wrote %s", brine_verdict_name(v));
        brine_result_free(res);
    }
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
    opts.policy = sk_policy();
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
    char out[128];
    snprintf(out, sizeof out, "%s/out.skops", out_dir);
    brine_convert_options co;
    memset(&co, 0, sizeof co);
    co.no_sync = 1;
    memset(&err, 0, sizeof err);
    uint64_t used = m->mem.used;
    st = brine_model_write_skops(m, out, &co, &err);
    FUZZ_CHECK(m->mem.used == used, "the budget holds %llu bytes more after the convert",
               (unsigned long long)(m->mem.used - used));
    if (st == BRINE_OK) {
        FUZZ_CHECK(files_in_out_dir() == 1, "convert succeeded but left %zu files",
                   files_in_out_dir());
        check_archive(out);
        unlink(out);
    } else {
        FUZZ_CHECK(st == BRINE_ERR_UNSUPPORTED || st == BRINE_ERR_MALFORMED ||
                       st == BRINE_ERR_NOMEM || st == BRINE_ERR_LIMIT,
                   "convert failed with %d: %s", (int)st, err.msg);
        FUZZ_CHECK(err.msg[0] != 0, "failure %d without a message", (int)st);
        FUZZ_CHECK(files_in_out_dir() == 0, "a failed convert left %zu files", files_in_out_dir());
    }
    brine_model_free(m);
    close(fd);
    return 0;
}
