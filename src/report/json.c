/*
 * json.c — the json and jsonl reports, exactly as docs/contract.md describes them.
 *
 * json is one document, {brine, files, errors, summary}, streamed: the opening and each file
 * object are written as files are added, one object per line so the output also greps well;
 * errors (which the contract puts after the files) are held until finish. jsonl is one file
 * object per line, an error as {"path", "error"}, and no summary. Keys come out in a fixed
 * order (JSON_PRESERVE_ORDER) so the same scan always prints the same bytes.
 */
#include "report/report.h"

/* {severity, rule, global?, member?, offset?, message} */
static json_t *finding_object(const brine_finding *f)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (rep_set(o, "severity", json_string(brine_verdict_name(f->severity))) ||
        rep_set(o, "rule", rep_jstr(f->rule ? f->rule : "")) ||
        (f->global && rep_set(o, "global", rep_jstr(f->global))) ||
        (f->member && rep_set(o, "member", rep_jstr(f->member))) ||
        (f->offset >= 0 && rep_set(o, "offset", json_integer((json_int_t)f->offset))) ||
        rep_set(o, "message", rep_jstr(f->message ? f->message : ""))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {path, format, verdict, findings: [...], globals: [...], tensors?: [...]} */
static json_t *file_object(const char *path, const brine_result *res)
{
    json_t *o = json_object(), *findings, *globals;
    if (!o || rep_set(o, "path", rep_jstr(path)) ||
        rep_set(o, "format", rep_jstr(brine_result_format(res))) ||
        rep_set(o, "verdict", json_string(brine_verdict_name(brine_result_verdict(res)))) ||
        !(findings = rep_arr_in(o, "findings")) || !(globals = rep_arr_in(o, "globals")))
        goto fail;
    size_t n = brine_result_finding_count(res);
    for (size_t i = 0; i < n; i++) {
        const brine_finding *f = brine_result_finding(res, i);
        if (f && rep_append(findings, finding_object(f)))
            goto fail;
    }
    n = brine_result_global_count(res);
    for (size_t i = 0; i < n; i++) {
        const char *g = brine_result_global(res, i);
        if (g && rep_append(globals, rep_jstr(g)))
            goto fail;
    }
    /* tensors: [{name, dtype, shape}], as brine inspect lists them, when the scan found any */
    n = brine_result_tensor_count(res);
    json_t *tensors = n ? rep_arr_in(o, "tensors") : NULL;
    if (n && !tensors)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        brine_tensor_info t;
        json_t *shape = json_array(), *to = NULL;
        if (brine_result_tensor(res, i, &t, NULL) == BRINE_OK && shape)
            for (unsigned k = 0; k < t.ndim; k++)
                json_array_append_new(shape, json_integer((json_int_t)t.shape[k]));
        if (shape)
            to = json_pack("{s:o, s:s, s:o}", "name", rep_jstr(t.name), "dtype", t.dtype, "shape",
                           shape);
        if (rep_append(tensors, to))
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static brine_status json_start(brine_report *r)
{
    if (r->started)
        return BRINE_OK;
    r->started = 1;
    return rep_puts(r, "{\n  \"brine\": \"" BRINE_VERSION_STRING "\",\n  \"files\": [");
}

static brine_status json_file(brine_report *r, const char *path, const brine_result *res)
{
    brine_status st = json_start(r);
    if (st)
        return st;
    json_t *o = file_object(path, res);
    if (!o)
        return BRINE_ERR_NOMEM;
    st = rep_stream_item(r, o, "    ");
    json_decref(o);
    return st;
}

static json_t *error_object(const char *path, const char *key, const char *message)
{
    json_t *o = json_object();
    if (o && (rep_set(o, "path", rep_jstr(path)) || rep_set(o, key, rep_jstr(message)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static brine_status json_error(brine_report *r, const char *path, const char *message)
{
    brine_status st = json_start(r);
    if (st)
        return st;
    if (!r->pending && !(r->pending = json_array()))
        return BRINE_ERR_NOMEM;
    return rep_append(r->pending, error_object(path, "message", message)) ? BRINE_ERR_NOMEM
                                                                          : BRINE_OK;
}

static brine_status json_finish(brine_report *r)
{
    brine_status st = json_start(r);
    if (!st)
        st = rep_stream_close(r, "  ");
    if (!st)
        st = rep_puts(r, ",\n  \"errors\": [");
    size_t n = r->pending ? json_array_size(r->pending) : 0;
    for (size_t i = 0; i < n && !st; i++)
        st = rep_stream_item(r, json_array_get(r->pending, i), "    ");
    if (!st)
        st = rep_stream_close(r, "  ");
    if (!st)
        st = rep_puts(r, ",\n  \"summary\": ");
    if (!st) {
        json_t *s = rep_summary(r);
        st = s ? rep_dump(r, s, JSON_INDENT(0)) : BRINE_ERR_NOMEM;
        json_decref(s);
    }
    if (!st)
        st = rep_puts(r, "\n}\n");
    return st;
}

const rep_format rep_json = {json_file, json_error, json_finish};

/* ------------------------------------------------------------------ jsonl */

static brine_status jsonl_line(brine_report *r, json_t *o)
{
    if (!o)
        return BRINE_ERR_NOMEM;
    brine_status st = rep_dump(r, o, JSON_INDENT(0));
    json_decref(o);
    return st ? st : rep_puts(r, "\n");
}

static brine_status jsonl_file(brine_report *r, const char *path, const brine_result *res)
{
    return jsonl_line(r, file_object(path, res));
}

static brine_status jsonl_error(brine_report *r, const char *path, const char *message)
{
    return jsonl_line(r, error_object(path, "error", message));
}

static brine_status jsonl_finish(brine_report *r)
{
    (void)r;
    return BRINE_OK;
}

const rep_format rep_jsonl = {jsonl_file, jsonl_error, jsonl_finish};
