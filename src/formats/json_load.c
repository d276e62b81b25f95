/*
 * json_load.c — JSON documents read as Python's json.loads reads them (Keras configs, skops
 * schema.json), for the formats that judge them, and the capped reporting of what they find.
 * jansson does the parsing (a standard job); brine checks that two parses agree, because
 * jansson can lose memory failures silently.
 */
#include "formats/json_load.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "formats/format.h"

/* json.loads of text as jansson parses it (any value at the top; the last of repeated keys
 * wins). jansson neither tells an allocation failure from a syntax error reliably nor always
 * notices one (a string can come out shortened), so a document is used only when two parses
 * agree: NULL with *nomem set when they do not, or jansson says memory ran out; NULL with
 * *nomem clear for text that is not JSON. */
static json_t *parse_twice(const uint8_t *text, size_t len, json_error_t *je, int *nomem)
{
    /* jansson 2.14 ignores a failed append to its string buffer (lex_save): under memory
     * pressure a string can come out shortened ("Lambda" as "Lambd") with no error. A
     * document is therefore used only when two parses agree. */
    *nomem = 0;
    json_error_t je2;
    json_t *a = json_loadb((const char *)text, len, JSON_DECODE_ANY, je);
    json_t *b = json_loadb((const char *)text, len, JSON_DECODE_ANY, &je2);
    if (!a && !b) {
        *nomem = json_error_code(je) == json_error_out_of_memory ||
                 json_error_code(&je2) == json_error_out_of_memory || je->position != je2.position;
        return NULL;
    }
    if (!a || !b) { /* one parse failed for memory: a third one confirms the other */
        json_t *ok = a ? a : b;
        json_t *c = json_loadb((const char *)text, len, JSON_DECODE_ANY, &je2);
        int same = c && json_equal(ok, c);
        json_decref(c);
        if (same)
            return ok;
        json_decref(ok);
        *nomem = 1;
        return NULL;
    }
    if (json_equal(a, b)) {
        json_decref(b);
        return a;
    }
    json_decref(a);
    json_decref(b);
    *nomem = 1;
    return NULL;
}

/* jansson allocates with its own malloc: the document is charged to the budget while it
 * exists (two of them while the parses are compared), at most this many bytes per input byte
 * (an object per two bytes, "{}", costs about 100 bytes with its hash table). */
enum { JDOC_COST_PER_BYTE = 128 };

brine_status jdoc_load(const char *what, const char *reader, const uint8_t *text, size_t len,
                       mem_budget *mem, json_t **root, uint64_t *cost, brine_error *err)
{
    *root = NULL;
    *cost = 0;
    uint64_t charge;
    if (__builtin_mul_overflow((uint64_t)len, (uint64_t)JDOC_COST_PER_BYTE, &charge) ||
        mem->used > mem->limit || charge > mem->limit - mem->used)
        return err_limit(err, "max_memory", mem->limit, charge, 0, 0, __LINE__);
    mem->used += charge;
    if (mem->used > mem->peak)
        mem->peak = mem->used;
    /* json.loads: any value at the top (the reader then fails on a non-dict), the last of
     * repeated keys wins (jansson's default too); NaN and Infinity, which Python accepts,
     * are refused here — the file is then invalid, never safe */
    json_error_t je;
    int nomem;
    json_t *doc = parse_twice(text, len, &je, &nomem);
    brine_status st = BRINE_OK;
    if (!doc && nomem)
        st = err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
    else if (!doc)
        st = err_at(err, BRINE_ERR_MALFORMED, (uint64_t)je.position, __LINE__,
                    "%s is not JSON as %s reads it: %.200s", what, reader, je.text);
    else if (!json_is_object(doc))
        st = err_set(err, BRINE_ERR_MALFORMED, __LINE__, "%s is not a JSON object: %s fails", what,
                     reader);
    if (st) {
        jdoc_free(doc, charge, mem);
        return st;
    }
    *root = doc;
    *cost = charge;
    return BRINE_OK;
}

void jdoc_free(json_t *root, uint64_t cost, mem_budget *mem)
{
    json_decref(root);
    mem->used -= cost;
}

void jdoc_say(jdoc_says *s, brine_verdict severity, const char *rule, const char *fmt, ...)
{
    if (s->stop)
        return;
    if (++s->count > s->max) {
        if (s->count == s->max + 1 &&
            s->report(s->ctx, BRINE_UNVERIFIED, s->more_rule, s->more_msg))
            s->stop = 1;
        return;
    }
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->report(s->ctx, severity, rule, msg))
        s->stop = 1;
}

int jdoc_report(void *sink, brine_verdict severity, const char *rule, const char *msg)
{
    jdoc_sink *s = sink;
    s->st = fmt_finding(s->env, severity, rule, s->member, -1, "%s", msg);
    return s->st != BRINE_OK;
}

brine_status jdoc_sink_done(jdoc_sink *sink, brine_status st, const brine_error *err)
{
    if (sink->st)
        return sink->st;
    if (st)
        return fmt_error_finding(sink->env, sink->member, err, NULL);
    return BRINE_OK;
}
