/*
 * unpickler_stats.c — what the symbolic machine measures on a pickle stream, for the
 * amplification-limit tests (tests/python/test_unpickler_limits.py): how far benign files are
 * from max_expansion and max_nesting.
 *
 *   unpickler_stats FILE...
 *
 * Each FILE is a raw pickle stream (concatenated pickles are run back to back). Prints one
 * JSON object per FILE: {"file", "pickles", "values", "expanded", "nesting", "ratio",
 * "divergences", "error"} where values counts what the pickles built (nodes, and ints, bools
 * and None held in ids) and ratio is the largest expanded / values of one pickle, as
 * max_expansion measures it. The
 * amplification limits are set to their hard caps so that the numbers are measured, not cut.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brine.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/limits.h"
#include "pickle/machine.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void json_escaped(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    brine_limits req;
    memset(&req, 0, sizeof req);
    req.max_expansion = UINT64_MAX; /* clamped to the hard caps */
    req.max_nesting = UINT64_MAX;
    brine_limits lim;
    lim_resolve(&req, &lim);
    int status = 0;
    for (int i = 1; i < argc; i++) {
        size_t len = 0;
        uint8_t *data = slurp(argv[i], &len);
        if (!data) {
            fprintf(stderr, "unpickler_stats: cannot read %s\n", argv[i]);
            status = 2;
            continue;
        }
        mem_budget mem;
        mem_budget_init(&mem, lim.max_memory);
        pk_graph g;
        pk_graph_init(&g, &mem);
        pk_run_options opts = {&lim, NULL, NULL};
        brine_error err;
        err_clear(&err);
        uint64_t values = 0, expanded = 0, nesting = 0;
        double ratio = 0;
        size_t pos = 0;
        brine_status st = BRINE_OK;
        while (pos < len && g.n_pickles < lim.max_pickles) {
            st = pk_run(&g, data, len, pos, &opts, &err);
            if (st || !g.n_pickles)
                break;
            const pk_pickle *p = &g.pickles[g.n_pickles - 1];
            uint64_t made = p->built;
            values += made;
            if (p->expanded > expanded)
                expanded = p->expanded;
            if (p->nesting > nesting)
                nesting = p->nesting;
            if (made && (double)p->expanded / (double)made > ratio)
                ratio = (double)p->expanded / (double)made;
            pos = (size_t)p->end;
        }
        printf("{\"file\": ");
        json_escaped(argv[i]);
        printf(", \"pickles\": %zu, \"values\": %" PRIu64 ", \"expanded\": %" PRIu64
               ", \"nesting\": %" PRIu64 ", \"ratio\": %.3f, \"divergences\": %zu, \"error\": ",
               g.n_pickles, values, expanded, nesting, ratio, g.n_divergences);
        if (g.failed)
            json_escaped(g.error.msg);
        else
            printf("null");
        printf("}\n");
        pk_graph_free(&g);
        free(data);
    }
    return status;
}
