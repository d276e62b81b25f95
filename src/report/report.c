/*
 * report.c — brine_report_*: the counters, the call order and the write path shared by the
 * output formats (text.c, json.c, sarif.c).
 *
 * Reports stream: every format writes a file's entry when it is added and keeps nothing of
 * it, so scanning a tree of millions of files costs the same memory as scanning one. Only what
 * must come after the streamed array (the errors of a JSON document) is held until finish.
 * Once the caller's sink refuses bytes or memory runs out, the report stops writing and every
 * later call fails: a half-written document must not be continued as if nothing happened.
 */
#include "report/report.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/zip.h"

const rep_rule rep_rules[] = {
#define RULE(id, severity, summary) {id, severity, summary},
#include "report/rules.def"
#undef RULE
/* zip discrepancies between readers, as the zip container names them */
#define X(id, bit, name, text) {"zip-" name, "invalid", text},
    ZIP_ANOMALY_LIST(X)
#undef X
};
const size_t rep_rule_count = sizeof rep_rules / sizeof rep_rules[0];

long rep_rule_index(const char *id)
{
    for (size_t i = 0; i < rep_rule_count; i++)
        if (strcmp(rep_rules[i].id, id) == 0)
            return (long)i;
    return -1;
}

brine_report *brine_report_new(brine_report_format format, brine_write_fn write, void *ctx)
{
    const rep_format *fmt;
    switch (format) {
    case BRINE_REPORT_TEXT: fmt = &rep_text; break;
    case BRINE_REPORT_JSON: fmt = &rep_json; break;
    case BRINE_REPORT_JSONL: fmt = &rep_jsonl; break;
    case BRINE_REPORT_SARIF: fmt = &rep_sarif; break;
    default: return NULL;
    }
    if (!write)
        return NULL;
    brine_report *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fmt = fmt;
    r->write = write;
    r->ctx = ctx;
    r->fail_on = BRINE_UNVERIFIED;
    return r;
}

void brine_report_set_fail_on(brine_report *r, brine_verdict threshold)
{
    if (r && threshold >= BRINE_SAFE && threshold <= BRINE_UNSAFE)
        r->fail_on = threshold;
}

void brine_report_free(brine_report *r)
{
    if (!r)
        return;
    json_decref(r->pending);
    free(r->cwd);
    free(r);
}

/* The state every adding call checks first; returns non-zero (with err set) to refuse. */
static brine_status check_open(brine_report *r, const char *path, brine_error *err)
{
    if (!r || !path)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_report: NULL argument");
    if (r->finished)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_report: the report is finished");
    if (r->broken)
        return err_set(err, r->broken, __LINE__, "brine_report: the output failed earlier");
    return BRINE_OK;
}

/* A failed entry makes the whole report broken: a document missing an entry, or with counts
 * that disagree with its entries, must not be completed as if it were whole. */
static brine_status fail(brine_report *r, brine_status st, brine_error *err)
{
    if (!r->broken)
        r->broken = st;
    if (st == BRINE_ERR_NOMEM)
        return ERR_NOMEM(err);
    return err_set(err, st, __LINE__, "brine_report: the output could not be written");
}

brine_status brine_report_add(brine_report *r, const char *path, const brine_result *result,
                              brine_error *err)
{
    brine_status st = check_open(r, path, err);
    if (st)
        return st;
    if (!result)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_report_add: NULL result");
    brine_verdict v = brine_result_verdict(result);
    if (v < BRINE_SAFE || v > BRINE_UNSAFE)
        v = BRINE_INVALID; /* cannot happen; fail closed if it ever does */
    r->verdicts[v]++;
    r->n_files++;
    st = r->fmt->file(r, path, result);
    return st ? fail(r, st, err) : BRINE_OK;
}

brine_status brine_report_add_error(brine_report *r, const char *path, const brine_error *why,
                                    brine_error *err)
{
    brine_status st = check_open(r, path, err);
    if (st)
        return st;
    const char *message = "unknown error";
    if (why) {
        /* the caller's struct: trust nothing past its buffer */
        if (memchr(why->msg, '\0', sizeof why->msg) && why->msg[0])
            message = why->msg;
        else
            message = brine_status_name(why->code);
    }
    r->n_errors++;
    st = r->fmt->error(r, path, message);
    return st ? fail(r, st, err) : BRINE_OK;
}

brine_status brine_report_finish(brine_report *r, brine_error *err)
{
    if (!r)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_report_finish: NULL report");
    if (r->finished)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_report: the report is finished");
    if (r->broken)
        return err_set(err, r->broken, __LINE__, "brine_report: the output failed earlier");
    r->finished = 1;
    brine_status st = r->fmt->finish(r);
    return st ? fail(r, st, err) : BRINE_OK;
}

/* ------------------------------------------------------------------ shared by the formats */

brine_status rep_write(brine_report *r, const void *buf, size_t len)
{
    if (r->broken)
        return r->broken;
    if (len && r->write(r->ctx, buf, len) != 0)
        r->broken = BRINE_ERR_IO;
    return r->broken;
}

brine_status rep_puts(brine_report *r, const char *s) { return rep_write(r, s, strlen(s)); }

static int dump_cb(const char *buf, size_t len, void *data)
{
    return rep_write(data, buf, len) ? -1 : 0;
}

brine_status rep_dump(brine_report *r, const json_t *value, size_t flags)
{
    if (r->broken)
        return r->broken;
    if (json_dump_callback(value, dump_cb, r, flags | JSON_PRESERVE_ORDER) != 0 && !r->broken)
        r->broken = BRINE_ERR_NOMEM; /* jansson fails only on allocation or a bad value */
    return r->broken;
}

/* Writes value as the next line of a streamed array whose items are indented by indent. */
brine_status rep_stream_item(brine_report *r, const json_t *value, const char *indent)
{
    brine_status st = rep_puts(r, r->n_items ? ",\n" : "\n");
    if (!st)
        st = rep_puts(r, indent);
    if (!st)
        st = rep_dump(r, value, JSON_INDENT(0));
    if (!st)
        r->n_items++;
    return st;
}

/* Closes the streamed array: "]" right after "[" when empty, else on its own line. */
brine_status rep_stream_close(brine_report *r, const char *indent)
{
    brine_status st = BRINE_OK;
    if (r->n_items) {
        st = rep_puts(r, "\n");
        if (!st)
            st = rep_puts(r, indent);
    }
    r->n_items = 0;
    return st ? st : rep_puts(r, "]");
}

uint64_t rep_failed(const brine_report *r)
{
    uint64_t n = 0;
    for (int v = (int)r->fail_on; v <= (int)BRINE_UNSAFE; v++)
        n += r->verdicts[v];
    return n;
}

static json_t *jcount(uint64_t n) { return json_integer((json_int_t)n); }

json_t *rep_summary(const brine_report *r)
{
    json_t *s = json_object();
    if (!s)
        return NULL;
    if (rep_set(s, "files", jcount(r->n_files)) ||
        rep_set(s, "safe", jcount(r->verdicts[BRINE_SAFE])) ||
        rep_set(s, "unverified", jcount(r->verdicts[BRINE_UNVERIFIED])) ||
        rep_set(s, "invalid", jcount(r->verdicts[BRINE_INVALID])) ||
        rep_set(s, "unsafe", jcount(r->verdicts[BRINE_UNSAFE])) ||
        rep_set(s, "errors", jcount(r->n_errors)) || rep_set(s, "failed", jcount(rep_failed(r)))) {
        json_decref(s);
        return NULL;
    }
    return s;
}

int rep_set(json_t *obj, const char *key, json_t *value)
{
    if (!value)
        return -1;
    return json_object_set_new(obj, key, value);
}

int rep_append(json_t *arr, json_t *value)
{
    if (!value)
        return -1;
    return json_array_append_new(arr, value);
}

static json_t *attach(json_t *parent, const char *key, json_t *child)
{
    /* a borrowed pointer: valid while parent holds it, which is as long as parent lives */
    json_t *borrowed = child;
    if (key ? rep_set(parent, key, child) : rep_append(parent, child))
        return NULL;
    return borrowed;
}

json_t *rep_obj_in(json_t *parent, const char *key) { return attach(parent, key, json_object()); }
json_t *rep_arr_in(json_t *parent, const char *key) { return attach(parent, key, json_array()); }
