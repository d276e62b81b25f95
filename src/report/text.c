/*
 * text.c — the report for people:
 *
 *   model.pkl: unsafe (pickle)
 *     [unsafe] dangerous-global: calls os.system(...) (os.system, offset 2)
 *   missing.pkl: error: cannot open: No such file or directory
 *   notes.txt: safe (not a model file)
 *   2 files: 0 safe, 0 unverified, 0 invalid, 1 unsafe; 1 error
 *
 * One line per file as it is added, its findings indented below, a summary at the end. Every
 * string from the file or its name goes through rep_text_escaped (see escape.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report/report.h"

static brine_status text_finding(brine_report *r, const brine_finding *f)
{
    brine_status st = rep_puts(r, "  [");
    if (!st)
        st = rep_puts(r, brine_verdict_name(f->severity));
    if (!st)
        st = rep_puts(r, "] ");
    if (!st)
        st = rep_text_escaped(r, f->rule ? f->rule : "?");
    if (!st)
        st = rep_puts(r, ": ");
    if (!st)
        st = rep_text_escaped(r, f->message ? f->message : "");
    /* where: "(global, member NAME, offset N)", each part only when known */
    const char *sep = " (";
    if (!st && f->global) {
        st = rep_puts(r, sep);
        if (!st)
            st = rep_text_escaped(r, f->global);
        sep = ", ";
    }
    if (!st && f->member) {
        st = rep_puts(r, sep);
        if (!st)
            st = rep_puts(r, "member ");
        if (!st)
            st = rep_text_escaped(r, f->member);
        sep = ", ";
    }
    if (!st && f->offset >= 0) {
        char num[48];
        int n = snprintf(num, sizeof num, "%soffset %" PRId64, sep, f->offset);
        st = rep_write(r, num, (size_t)n);
        sep = ", ";
    }
    if (!st && sep[0] == ',')
        st = rep_puts(r, ")");
    if (!st)
        st = rep_puts(r, "\n");
    return st;
}

static brine_status text_file(brine_report *r, const char *path, const brine_result *res)
{
    brine_status st = rep_text_escaped(r, path);
    if (!st)
        st = rep_puts(r, ": ");
    if (!st)
        st = rep_puts(r, brine_verdict_name(brine_result_verdict(res)));
    /* format "none" means no format recognised the file: say so in words */
    const char *format = brine_result_format(res);
    int none = strcmp(format, "none") == 0;
    if (!st)
        st = rep_puts(r, " (");
    if (!st)
        st = none ? rep_puts(r, "not a model file") : rep_text_escaped(r, format);
    if (!st)
        st = rep_puts(r, ")\n");
    size_t n = brine_result_finding_count(res);
    for (size_t i = 0; i < n && !st; i++) {
        const brine_finding *f = brine_result_finding(res, i);
        if (f)
            st = text_finding(r, f);
    }
    return st;
}

static brine_status text_error(brine_report *r, const char *path, const char *message)
{
    brine_status st = rep_text_escaped(r, path);
    if (!st)
        st = rep_puts(r, ": error: ");
    if (!st)
        st = rep_text_escaped(r, message);
    if (!st)
        st = rep_puts(r, "\n");
    return st;
}

static brine_status text_finish(brine_report *r)
{
    /* English plurals ("1 file", "2 files"); scripts should read --format json instead */
    char line[256];
    int n = snprintf(line, sizeof line,
                     "%" PRIu64 " file%s: %" PRIu64 " safe, %" PRIu64 " unverified, %" PRIu64
                     " invalid, %" PRIu64 " unsafe; %" PRIu64 " error%s\n",
                     r->n_files, r->n_files == 1 ? "" : "s", r->verdicts[BRINE_SAFE],
                     r->verdicts[BRINE_UNVERIFIED], r->verdicts[BRINE_INVALID],
                     r->verdicts[BRINE_UNSAFE], r->n_errors, r->n_errors == 1 ? "" : "s");
    if (n < 0 || (size_t)n >= sizeof line)
        return BRINE_ERR_IO; /* cannot happen: six 20-digit numbers and fixed words */
    return rep_write(r, line, (size_t)n);
}

const rep_format rep_text = {text_file, text_error, text_finish};
