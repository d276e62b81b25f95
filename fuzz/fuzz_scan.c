/*
 * fuzz_scan.c — brine_scan_bytes end to end on arbitrary bytes (format detection, every
 * container, the pickle machine, the policy), then a JSON report of the result.
 *
 * Checks the public contract: scanning readable bytes always gives a result; the verdict is
 * the most severe finding (safe when there is none) and findings come most severe first;
 * every string the result hands out is readable; the JSON report is valid JSON (and UTF-8).
 */
#include "fuzz.h"

static void check_result(const brine_result *res)
{
    brine_verdict v = brine_result_verdict(res);
    FUZZ_CHECK(v >= BRINE_SAFE && v <= BRINE_UNSAFE, "verdict %d", (int)v);
    const char *format = brine_result_format(res);
    FUZZ_CHECK(format != NULL && format[0] != '\0', "empty format name");
    size_t n = brine_result_finding_count(res);
    brine_verdict worst = BRINE_SAFE, prev = BRINE_UNSAFE;
    unsigned long sum = strlen(brine_verdict_name(v));
    for (size_t i = 0; i < n; i++) {
        const brine_finding *f = brine_result_finding(res, i);
        FUZZ_CHECK(f != NULL, "finding %zu of %zu is NULL", i, n);
        FUZZ_CHECK(f->severity >= BRINE_SAFE && f->severity <= BRINE_UNSAFE, "severity %d",
                   (int)f->severity);
        FUZZ_CHECK(f->severity <= prev, "finding %zu is more severe than the one before", i);
        prev = f->severity;
        if (f->severity > worst)
            worst = f->severity;
        FUZZ_CHECK(f->rule != NULL && f->message != NULL, "finding %zu without rule/message", i);
        sum += strlen(f->rule) + strlen(f->message);
        if (f->global)
            sum += strlen(f->global);
        if (f->member)
            sum += strlen(f->member);
        FUZZ_CHECK(f->offset >= -1, "finding %zu offset %lld", i, (long long)f->offset);
    }
    FUZZ_CHECK(brine_result_finding(res, n) == NULL, "finding past the end is not NULL");
    FUZZ_CHECK(v == worst, "verdict %s but the worst finding is %s", brine_verdict_name(v),
               brine_verdict_name(worst));
    size_t ng = brine_result_global_count(res);
    for (size_t i = 0; i < ng; i++) {
        const char *g = brine_result_global(res, i);
        FUZZ_CHECK(g != NULL, "global %zu of %zu is NULL", i, ng);
        sum += strlen(g);
    }
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brine_limits lim;
    fuzz_limits(&lim);
    brine_scan_options opts;
    memset(&opts, 0, sizeof opts);
    opts.limits = &lim;

    brine_result *res = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = brine_scan_bytes(data, size, &opts, &res, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_NOMEM, "brine_scan_bytes returned %d (%s): %s",
               (int)st, brine_status_name(st), err.msg);
    if (st != BRINE_OK) {
        FUZZ_CHECK(res == NULL, "result set on failure");
        return 0;
    }
    FUZZ_CHECK(res != NULL, "BRINE_OK without a result");
    check_result(res);

    fuzz_sink sink;
    memset(&sink, 0, sizeof sink);
    fuzz_sink_reset(&sink, 1);
    brine_report *rep = brine_report_new(BRINE_REPORT_JSON, fuzz_write, &sink);
    if (rep) {
        brine_status a = brine_report_add(rep, "fuzz\xe2\x80\x94input.pkl", res, &err);
        fuzz_expect_status(a, &err, "brine_report_add");
        brine_status f = brine_report_finish(rep, &err);
        fuzz_expect_status(f, &err, "brine_report_finish");
        brine_report_free(rep);
        if (a == BRINE_OK && f == BRINE_OK) {
            json_t *doc = fuzz_expect_json(&sink, "the JSON report");
            if (doc) {
                json_t *files = json_object_get(doc, "files");
                FUZZ_CHECK(json_is_array(files) && json_array_size(files) == 1,
                           "report has no files[0]");
                json_t *verdict = json_object_get(json_array_get(files, 0), "verdict");
                FUZZ_CHECK(json_is_string(verdict) &&
                               strcmp(json_string_value(verdict),
                                      brine_verdict_name(brine_result_verdict(res))) == 0,
                           "report verdict differs from the result");
                json_decref(doc);
            }
        }
    }
    fuzz_sink_reset(&sink, 0);
    brine_result_free(res);
    return 0;
}
