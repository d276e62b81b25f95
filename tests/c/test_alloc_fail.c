/*
 * test_alloc_fail.c — allocation-failure injection (SQLite's and libdeflate's malloc tests).
 *
 * For every operation on every input, the N-th allocation fails, for N = 1, 2, … until the
 * operation no longer allocates that many times. Each run must end cleanly: BRINE_ERR_NOMEM
 * or the same answer as without failures — never a crash, never a leak, and never a *milder*
 * verdict (an allocation failure must not turn `unsafe` into `safe`: fail closed).
 *
 * Two injectors, two sweeps per operation:
 *   mem   the library's own hook, mem_fail_after(n) (core/alloc.h): the n-th allocation
 *         through mem_alloc / mem_realloc fails, as when the memory budget runs out;
 *   libc  every allocation brine's code makes: malloc, calloc, realloc, strdup, strndup are
 *         wrapped at link time (ld --wrap, see tests/hardening.cmake) and jansson allocates
 *         through json_set_alloc_funcs, so direct allocations outside mem_* and the JSON
 *         documents of reports and configs are covered too.
 * The wrappers also count live blocks: after each run, once everything is freed, the count
 * must be back where it started, so a leak is named with its N even without LeakSanitizer
 * (the ASan build checks leaks a second time at exit). And they cap the bytes live outside
 * brine's budget at 1 GiB: an input that makes brine allocate more is reported, not OOM-killed.
 *
 *   test_alloc_fail [FILE...]   built-in inputs plus each FILE (scanned, disassembled,
 *                               reported, and opened with brine_model_open)
 *
 * Operations: brine_scan_bytes (default policy), brine_scan_bytes with a widened policy,
 * brine_report_* (JSON, SARIF, text, JSONL) of a scan, brine_dis (text and JSON),
 * brine_model_open with every tensor read and hashed, brine_model_write_safetensors (on
 * failure nothing may be left in the output directory; on success the same bytes). Runs with N over
 * every allocation, or a spread of 3000 of them when an operation allocates more (deep inputs).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "brine.h"
#include "core/alloc.h"

/* ------------------------------------------------------------------ libc injection */

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static uint64_t libc_fail_at; /* 0: never */
static uint64_t libc_calls;   /* allocation attempts since the sweep step began */
static int64_t live_blocks;   /* blocks allocated through the wrappers and not yet freed */
static int64_t live_bytes;    /* their usable size */
static int over_cap;          /* an allocation was refused because live_bytes hit the cap */

/* Allocations outside brine's memory budget (jansson documents, result objects) are capped
 * here: a tiny input that makes brine allocate a gigabyte is a finding, not an OOM kill. */
#define LIVE_BYTES_CAP (INT64_C(1) << 30)

static int libc_should_fail(size_t n)
{
    libc_calls++;
    if ((int64_t)n > LIVE_BYTES_CAP - live_bytes) {
        over_cap = 1;
        return 1;
    }
    return libc_fail_at && libc_calls == libc_fail_at;
}

static void *counted(void *p)
{
    if (p) {
        live_blocks++;
        live_bytes += (int64_t)malloc_usable_size(p);
    }
    return p;
}

void *__wrap_malloc(size_t n)
{
    if (libc_should_fail(n))
        return NULL;
    return counted(__real_malloc(n));
}

void *__wrap_calloc(size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n) || libc_should_fail(n))
        return NULL;
    return counted(__real_calloc(count, size));
}

void *__wrap_realloc(void *p, size_t n)
{
    if (!p)
        return __wrap_malloc(n);
    if (n == 0) {
        __wrap_free(p);
        return NULL;
    }
    size_t old = malloc_usable_size(p);
    if (libc_should_fail(n > old ? n - old : 0))
        return NULL;
    void *q = __real_realloc(p, n);
    if (q)
        live_bytes += (int64_t)malloc_usable_size(q) - (int64_t)old;
    return q;
}

void __wrap_free(void *p)
{
    if (p) {
        live_blocks--;
        live_bytes -= (int64_t)malloc_usable_size(p);
    }
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    if (libc_should_fail(strlen(s) + 1))
        return NULL;
    return counted(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (libc_should_fail(strnlen(s, n) + 1))
        return NULL;
    return counted(__real_strndup(s, n));
}

static void *json_alloc(size_t n) { return __wrap_malloc(n); }
static void json_release(void *p) { __wrap_free(p); }

/* ------------------------------------------------------------------ reporting */

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    failures++;
}

/* ------------------------------------------------------------------ operations */

typedef struct input {
    const char *name;
    const uint8_t *data;
    size_t len;
    const char *path; /* for brine_model_open, or NULL */
} input;

/* What one run answered: status, and for a result its verdict and sizes. */
typedef struct answer {
    brine_status st;
    int verdict; /* -1 when there is no result */
    size_t n_findings, n_globals, n_tensors;
    uint64_t out_hash; /* convert: FNV-1a of the safetensors file and the config written */
} answer;

typedef answer (*op_fn)(const input *in);

static int discard(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return 0;
}

static answer scan_with(const input *in, const brine_policy *policy)
{
    answer a = {BRINE_OK, -1, 0, 0, 0, 0};
    brine_scan_options opts;
    memset(&opts, 0, sizeof opts);
    opts.policy = policy;
    brine_result *res = NULL;
    brine_error err;
    a.st = brine_scan_bytes(in->data, in->len, &opts, &res, &err);
    if (a.st == BRINE_OK && !res)
        fail("%s: BRINE_OK without a result", in->name);
    if (a.st != BRINE_OK && res)
        fail("%s: a result with status %d", in->name, (int)a.st);
    if (res) {
        a.verdict = (int)brine_result_verdict(res);
        a.n_findings = brine_result_finding_count(res);
        a.n_globals = brine_result_global_count(res);
    }
    brine_result_free(res);
    return a;
}

static answer op_scan(const input *in) { return scan_with(in, NULL); }

static answer op_scan_policy(const input *in)
{
    answer a = {BRINE_ERR_NOMEM, -1, 0, 0, 0, 0};
    brine_policy *p = brine_policy_new();
    if (!p)
        return a;
    brine_error err;
    brine_status st = brine_policy_allow(p, "sklearn", &err);
    if (st == BRINE_OK)
        st = brine_policy_allow(p, "mypkg.models.Net", &err);
    if (st == BRINE_OK)
        a = scan_with(in, p);
    else
        a.st = st;
    brine_policy_free(p);
    return a;
}

static answer op_report(const input *in)
{
    answer a = scan_with(in, NULL);
    if (a.st != BRINE_OK)
        return a;
    /* scan again, keeping the result, and write it in every format */
    brine_result *res = NULL;
    brine_error err;
    a.st = brine_scan_bytes(in->data, in->len, NULL, &res, &err);
    if (a.st != BRINE_OK)
        return a;
    static const brine_report_format formats[] = {BRINE_REPORT_JSON, BRINE_REPORT_SARIF,
                                                  BRINE_REPORT_TEXT, BRINE_REPORT_JSONL};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0] && a.st == BRINE_OK; i++) {
        brine_report *rep = brine_report_new(formats[i], discard, NULL);
        if (!rep) {
            a.st = BRINE_ERR_NOMEM;
            break;
        }
        brine_error why;
        memset(&why, 0, sizeof why);
        why.code = BRINE_ERR_IO;
        snprintf(why.msg, sizeof why.msg, "cannot open: No such file or directory");
        a.st = brine_report_add(rep, "model.pkl", res, &err);
        if (a.st == BRINE_OK)
            a.st = brine_report_add_error(rep, "missing.pkl", &why, &err);
        if (a.st == BRINE_OK)
            a.st = brine_report_finish(rep, &err);
        brine_report_free(rep);
    }
    brine_result_free(res);
    return a;
}

static answer dis_as(const input *in, brine_dis_format f)
{
    answer a = {BRINE_OK, -1, 0, 0, 0, 0};
    brine_error err;
    a.st = brine_dis(in->data, in->len, f, NULL, discard, NULL, &err);
    return a;
}

static answer op_dis_text(const input *in) { return dis_as(in, BRINE_DIS_TEXT); }
static answer op_dis_json(const input *in) { return dis_as(in, BRINE_DIS_JSON); }

static answer op_load(const input *in)
{
    answer a = {BRINE_OK, -1, 0, 0, 0, 0};
    brine_model *m = NULL;
    brine_error err;
    a.st = brine_model_open(in->path, NULL, &m, &err);
    if (a.st == BRINE_OK && !m)
        fail("%s: brine_model_open: BRINE_OK without a model", in->name);
    if (m) {
        a.n_tensors = brine_model_tensor_count(m);
        const char *config = brine_model_config_json(m);
        (void)config;
        for (size_t i = 0; i < a.n_tensors && a.st == BRINE_OK; i++) {
            brine_tensor_info info;
            a.st = brine_model_tensor(m, i, &info, &err);
            if (a.st != BRINE_OK)
                break;
            if (info.nbytes <= (1u << 20)) {
                void *buf = __real_malloc(info.nbytes ? (size_t)info.nbytes : 1);
                if (!buf)
                    break;
                a.st = brine_model_tensor_read(m, i, buf, (size_t)info.nbytes, &err);
                __real_free(buf);
            }
            uint8_t digest[32];
            if (a.st == BRINE_OK)
                a.st = brine_model_tensor_sha256(m, i, digest, &err);
        }
    }
    brine_model_free(m);
    return a;
}

/* convert: outputs go to a private directory; after every run it must hold both outputs (on
 * success) or nothing at all (on failure: atomic writes leave no partial or temporary file). */
static char out_dir[64];

static uint8_t *read_file(const char *path, size_t *len);

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

static size_t count_dir_entries(void)
{
    size_t n = 0;
    DIR *d = opendir(out_dir);
    if (!d)
        return (size_t)-1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static answer op_convert(const input *in)
{
    answer a = {BRINE_OK, -1, 0, 0, 0, 0};
    char out[128], config[128];
    snprintf(out, sizeof out, "%s/out.safetensors", out_dir);
    snprintf(config, sizeof config, "%s/out.config.json", out_dir);
    brine_model *m = NULL;
    brine_error err;
    a.st = brine_model_open(in->path, NULL, &m, &err);
    if (a.st == BRINE_OK) {
        a.n_tensors = brine_model_tensor_count(m);
        brine_convert_options opts;
        memset(&opts, 0, sizeof opts);
        opts.config_path = config;
        opts.no_sync = 1;
        a.st = brine_model_write_safetensors(m, out, &opts, &err);
    }
    brine_model_free(m);
    size_t left = count_dir_entries();
    if (a.st == BRINE_OK) {
        if (left != 2)
            fail("%s: convert succeeded but left %zu files, not 2", in->name, left);
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        const char *files[2] = {out, config};
        for (int k = 0; k < 2; k++) {
            size_t n = 0;
            uint8_t *data = read_file(files[k], &n);
            if (data)
                h = fnv1a(h, data, n);
            __real_free(data);
        }
        a.out_hash = h;
        unlink(out);
        unlink(config);
    } else if (left != 0) {
        fail("%s: convert failed (%s) but left %zu files behind", in->name, brine_status_name(a.st),
             left);
        unlink(out);
        unlink(config);
    }
    return a;
}

typedef struct op {
    const char *name;
    op_fn fn;
    int needs_path;
} op;

static const op ops[] = {
    {"scan", op_scan, 0},         {"scan+policy", op_scan_policy, 0}, {"report", op_report, 0},
    {"dis-text", op_dis_text, 0}, {"dis-json", op_dis_json, 0},       {"load", op_load, 1},
    {"convert", op_convert, 1},
};

/* ------------------------------------------------------------------ sweeps */

enum { MAX_STEPS = 3000 };

/* The N values to try for an operation that allocates n times: all of them, or the first
 * 1000 and a spread of the rest. */
static uint64_t step_value(uint64_t n, uint64_t k, uint64_t *steps)
{
    if (n <= MAX_STEPS) {
        *steps = n;
        return k + 1;
    }
    *steps = MAX_STEPS;
    if (k < 1000)
        return k + 1;
    return 1001 + (k - 1000) * (n - 1001) / (MAX_STEPS - 1001);
}

static int same_answer(const answer *a, const answer *b)
{
    return a->st == b->st && a->verdict == b->verdict && a->n_findings == b->n_findings &&
           a->n_globals == b->n_globals && a->n_tensors == b->n_tensors &&
           a->out_hash == b->out_hash;
}

/* Checks one injected run against the clean one. */
static void judge(const char *sweep, const op *o, const input *in, uint64_t n, const answer *base,
                  const answer *got, int64_t leaked)
{
    if (leaked > 0)
        fail("%s %s %s: failing allocation %llu leaks %lld blocks", sweep, o->name, in->name,
             (unsigned long long)n, (long long)leaked);
    if (got->st == BRINE_ERR_NOMEM)
        return;
    if (got->st == BRINE_ERR_LIMIT && base->st != BRINE_ERR_LIMIT && strcmp(sweep, "mem") == 0)
        return; /* the budget layer may report the refusal as max_memory */
    if (got->verdict >= 0 && base->verdict >= 0 && got->verdict < base->verdict) {
        fail("%s %s %s: failing allocation %llu turns %s into %s", sweep, o->name, in->name,
             (unsigned long long)n, brine_verdict_name((brine_verdict)base->verdict),
             brine_verdict_name((brine_verdict)got->verdict));
        return;
    }
    if (got->st != base->st)
        fail("%s %s %s: failing allocation %llu returns %s (without failures: %s)", sweep, o->name,
             in->name, (unsigned long long)n, brine_status_name(got->st),
             brine_status_name(base->st));
    else if (got->verdict == base->verdict && !same_answer(got, base))
        fail("%s %s %s: failing allocation %llu succeeds with a different answer "
             "(findings %zu/%zu, globals %zu/%zu, tensors %zu/%zu)",
             sweep, o->name, in->name, (unsigned long long)n, got->n_findings, base->n_findings,
             got->n_globals, base->n_globals, got->n_tensors, base->n_tensors);
}

static void sweep_mem(const op *o, const input *in, const answer *base)
{
    mem_fail_after(0);
    int64_t live0 = live_blocks;
    answer again = o->fn(in);
    uint64_t n = mem_fail_after(0);
    if (!same_answer(&again, base))
        fail("mem %s %s: two clean runs differ", o->name, in->name);
    if (live_blocks != live0)
        fail("mem %s %s: a clean run leaks %lld blocks", o->name, in->name,
             (long long)(live_blocks - live0));
    uint64_t steps = 0;
    step_value(n, 0, &steps);
    for (uint64_t k = 0; k < steps; k++) {
        uint64_t at = step_value(n, k, &steps);
        live0 = live_blocks;
        mem_fail_after(at);
        answer got = o->fn(in);
        mem_fail_after(0);
        judge("mem", o, in, at, base, &got, live_blocks - live0);
    }
    printf("  mem   %-12s %-40s %6llu allocations, %llu runs\n", o->name, in->name,
           (unsigned long long)n, (unsigned long long)steps);
}

static void sweep_libc(const op *o, const input *in, const answer *base)
{
    libc_fail_at = 0;
    libc_calls = 0;
    int64_t live0 = live_blocks;
    (void)o->fn(in);
    uint64_t n = libc_calls;
    if (live_blocks != live0)
        fail("libc %s %s: a clean run leaks %lld blocks", o->name, in->name,
             (long long)(live_blocks - live0));
    uint64_t steps = 0;
    step_value(n, 0, &steps);
    for (uint64_t k = 0; k < steps; k++) {
        uint64_t at = step_value(n, k, &steps);
        live0 = live_blocks;
        libc_calls = 0;
        libc_fail_at = at;
        answer got = o->fn(in);
        libc_fail_at = 0;
        judge("libc", o, in, at, base, &got, live_blocks - live0);
    }
    printf("  libc  %-12s %-40s %6llu allocations, %llu runs\n", o->name, in->name,
           (unsigned long long)n, (unsigned long long)steps);
}

static void run_input(const input *in)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const op *o = &ops[i];
        if (o->needs_path && !in->path)
            continue;
        over_cap = 0;
        answer base = o->fn(in);
        if (over_cap) {
            fail("%s %s: allocates more than %lld MiB outside the memory budget for a %zu-byte "
                 "input (returned %s)",
                 o->name, in->name, (long long)(LIVE_BYTES_CAP >> 20), in->len,
                 brine_status_name(base.st));
            continue; /* sweeping it would only repeat this */
        }
        sweep_mem(o, in, &base);
        sweep_libc(o, in, &base);
    }
}

/* ------------------------------------------------------------------ inputs */

/* pickle.dumps({'w': [1.5, 2], 'n': 'x'}, protocol=2) */
static const uint8_t benign[] = {
    0x80, 0x02, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x01, 0x00, 0x00, 0x00, 0x77, 0x71, 0x01, 0x5d, 0x71,
    0x02, 0x28, 0x47, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4b, 0x02, 0x65, 0x58, 0x01,
    0x00, 0x00, 0x00, 0x6e, 0x71, 0x03, 0x58, 0x01, 0x00, 0x00, 0x00, 0x78, 0x71, 0x04, 0x75, 0x2e};
/* the seed's exploit: os.system('echo pwned') at protocol 0 */
static const uint8_t malicious[] = {0x63, 0x6f, 0x73, 0x0a, 0x73, 0x79, 0x73, 0x74, 0x65, 0x6d,
                                    0x0a, 0x28, 0x53, 0x27, 0x65, 0x63, 0x68, 0x6f, 0x20, 0x70,
                                    0x77, 0x6e, 0x65, 0x64, 0x27, 0x0a, 0x74, 0x52, 0x2e};
/* STACK_GLOBAL with memo operands and a dotted name (random._os.system), then a
 * broken tail (nullifAI) */
static const uint8_t tricky[] = {0x80, 0x04, 0x8c, 0x06, 0x72, 0x61, 0x6e, 0x64, 0x6f, 0x6d,
                                 0x94, 0x8c, 0x0a, 0x5f, 0x6f, 0x73, 0x2e, 0x73, 0x79, 0x73,
                                 0x74, 0x65, 0x6d, 0x94, 0x68, 0x00, 0x68, 0x01, 0x93, 0x8c,
                                 0x04, 0x65, 0x63, 0x68, 0x6f, 0x85, 0x52, 0x94, 0xff, 0xfe};
/* an OrderedDict with one tensor rebuilt from a persistent id (plain pickle) */
static const uint8_t torchish[] = {
    0x80, 0x02, 0x63, 0x63, 0x6f, 0x6c, 0x6c, 0x65, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x73, 0x0a,
    0x4f, 0x72, 0x64, 0x65, 0x72, 0x65, 0x64, 0x44, 0x69, 0x63, 0x74, 0x0a, 0x71, 0x00, 0x29,
    0x52, 0x71, 0x01, 0x58, 0x01, 0x00, 0x00, 0x00, 0x77, 0x71, 0x02, 0x63, 0x74, 0x6f, 0x72,
    0x63, 0x68, 0x2e, 0x5f, 0x75, 0x74, 0x69, 0x6c, 0x73, 0x0a, 0x5f, 0x72, 0x65, 0x62, 0x75,
    0x69, 0x6c, 0x64, 0x5f, 0x74, 0x65, 0x6e, 0x73, 0x6f, 0x72, 0x5f, 0x76, 0x32, 0x0a, 0x71,
    0x03, 0x28, 0x28, 0x58, 0x07, 0x00, 0x00, 0x00, 0x73, 0x74, 0x6f, 0x72, 0x61, 0x67, 0x65,
    0x71, 0x04, 0x63, 0x74, 0x6f, 0x72, 0x63, 0x68, 0x0a, 0x46, 0x6c, 0x6f, 0x61, 0x74, 0x53,
    0x74, 0x6f, 0x72, 0x61, 0x67, 0x65, 0x0a, 0x71, 0x05, 0x58, 0x01, 0x00, 0x00, 0x00, 0x30,
    0x71, 0x06, 0x58, 0x03, 0x00, 0x00, 0x00, 0x63, 0x70, 0x75, 0x71, 0x07, 0x4b, 0x04, 0x74,
    0x71, 0x08, 0x51, 0x4b, 0x00, 0x4b, 0x04, 0x85, 0x4b, 0x01, 0x85, 0x89, 0x68, 0x00, 0x29,
    0x52, 0x71, 0x09, 0x74, 0x71, 0x0a, 0x52, 0x71, 0x0b, 0x73, 0x2e};

static uint8_t *deep_nesting(size_t depth, size_t *len)
{
    /* PROTO 2, depth EMPTY_LISTs, depth-1 APPENDs, STOP: a list nested depth deep */
    *len = 2 + depth + (depth - 1) + 1;
    uint8_t *p = __real_malloc(*len);
    if (!p)
        return NULL;
    size_t k = 0;
    p[k++] = 0x80;
    p[k++] = 2;
    for (size_t i = 0; i < depth; i++)
        p[k++] = ']';
    for (size_t i = 0; i + 1 < depth; i++)
        p[k++] = 'a';
    p[k++] = '.';
    return p;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = __real_malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            uint8_t *nb = __real_realloc(buf, cap * 2);
            if (!nb)
                __real_free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    json_set_alloc_funcs(json_alloc, json_release);
    snprintf(out_dir, sizeof out_dir, "/tmp/brine-alloc-fail-XXXXXX");
    if (!mkdtemp(out_dir)) {
        perror("mkdtemp");
        return 2;
    }

    size_t deep_len = 0;
    uint8_t *deep = deep_nesting(1500, &deep_len);
    if (!deep)
        return 2;
    input builtin[] = {
        {"builtin:benign", benign, sizeof benign, NULL},
        {"builtin:malicious", malicious, sizeof malicious, NULL},
        {"builtin:tricky", tricky, sizeof tricky, NULL},
        {"builtin:torchish", torchish, sizeof torchish, NULL},
        {"builtin:deep-1500", deep, deep_len, NULL},
        {"builtin:empty", NULL, 0, NULL},
    };
    printf("allocation-failure injection\n");
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        run_input(&builtin[i]);
    __real_free(deep);

    for (int i = 1; i < argc; i++) {
        input in = {argv[i], NULL, 0, argv[i]};
        const char *slash = strrchr(argv[i], '/');
        in.name = slash ? slash + 1 : argv[i];
        uint8_t *data = read_file(argv[i], &in.len);
        if (!data) {
            fail("cannot read %s", argv[i]);
            continue;
        }
        in.data = data;
        run_input(&in);
        __real_free(data);
    }
    rmdir(out_dir);
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("every injected allocation failure ended cleanly\n");
    return 0;
}
