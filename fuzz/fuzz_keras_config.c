/*
 * fuzz_keras_config.c — the JSON rules of Keras configs (src/formats/keras.c) and skops
 * schemas (src/formats/skops.c) on arbitrary text.
 *
 * The first byte picks the reader: even → keras_check_config (bit 1: a model config),
 * odd → skops_check_schema (bit 1: every member exists). Checks: every report carries a rule
 * of its reader with that rule's severity and a NUL-terminated message; the reports stay
 * within the cap; the status agrees with the error; every byte charged to the budget
 * (jansson's estimate, the walk's lists) is returned.
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/keras.h"
#include "formats/skops.h"

typedef struct seen {
    int skops;
    unsigned n;
} seen;

static int on_report(void *ctx, brine_verdict sev, const char *rule, const char *msg)
{
    seen *s = ctx;
    s->n++;
    FUZZ_CHECK(msg != NULL && strlen(msg) < 1024, "message");
    static const struct {
        const char *rule;
        brine_verdict sev;
        int skops;
    } allowed[] = {
        {"keras-lambda", BRINE_UNSAFE, 0},
        {"keras-dangerous-object", BRINE_UNSAFE, 0},
        {"keras-custom-object", BRINE_UNVERIFIED, 0},
        {"malformed", BRINE_INVALID, 0},
        {"skops-untrusted-type", BRINE_UNVERIFIED, 1},
        {"skops-dangerous-type", BRINE_UNSAFE, 1},
        {"malformed", BRINE_INVALID, 1},
        {"limit", BRINE_INVALID, 1},
    };
    int ok = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        ok |= allowed[i].skops == s->skops && allowed[i].sev == sev &&
              strcmp(allowed[i].rule, rule) == 0;
    FUZZ_CHECK(ok, "rule %s with severity %d from the %s reader", rule, (int)sev,
               s->skops ? "skops" : "keras");
    return 0;
}

static int every_member(void *ctx, const char *name)
{
    (void)ctx;
    return name[0] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    brine_limits req, lim;
    fuzz_limits(&req);
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    brine_error err;
    memset(&err, 0, sizeof err);
    seen s = {data[0] & 1, 0};
    brine_status st;
    if (!s.skops)
        st = keras_check_config("config", data + 1, size - 1,
                                (data[0] & 2) ? KERAS_CONFIG_MODEL : 0, &mem, on_report, &s, &err);
    else
        st = skops_check_schema(data + 1, size - 1, &mem, (data[0] & 2) ? every_member : NULL, NULL,
                                on_report, &s, &err);
    FUZZ_CHECK(mem.used == 0, "%llu bytes left charged", (unsigned long long)mem.used);
    FUZZ_CHECK(st == BRINE_OK || err.code == st, "status %d, error code %d", st, err.code);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_MALFORMED || st == BRINE_ERR_LIMIT ||
                   st == BRINE_ERR_NOMEM,
               "status %d", st);
    unsigned cap = (s.skops ? SKOPS_MAX_REPORTS : KERAS_MAX_REPORTS) + 1;
    FUZZ_CHECK(s.n <= cap, "%u reports, cap %u", s.n, cap);
    return 0;
}
