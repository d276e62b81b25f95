/*
 * json_load.h — the JSON documents formats judge (a Keras config, a skops schema.json): read
 * as Python's json.loads reads them, with jansson's memory charged to the budget while the
 * document exists, and the findings of a judgement reported into a fmt_env
 * (src/formats/json_load.c).
 */
#ifndef BRINE_FORMATS_JSON_LOAD_H
#define BRINE_FORMATS_JSON_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "brine.h"
#include <jansson.h>

#include "core/alloc.h"

/* Parses text[0..len) into *root, a JSON object, and charges *cost bytes to mem for it.
 * what names the document in messages ("config.json"), reader the program whose reading
 * brine follows ("Keras"). Returns BRINE_ERR_LIMIT when mem cannot cover the document,
 * BRINE_ERR_MALFORMED when the text is not JSON or not an object, BRINE_ERR_NOMEM, each with
 * *root NULL and nothing charged; BRINE_OK with a document the caller gives to jdoc_free. */
brine_status jdoc_load(const char *what, const char *reader, const uint8_t *text, size_t len,
                       mem_budget *mem, json_t **root, uint64_t *cost, brine_error *err);
/* Frees a document from jdoc_load (NULL is allowed) and returns its charge to mem. */
void jdoc_free(json_t *root, uint64_t cost, mem_budget *mem);

/* What a judged document reports through (keras_report_fn): nonzero to stop (out of memory). */
typedef int (*jdoc_report_fn)(void *ctx, brine_verdict severity, const char *rule, const char *msg);

/* A judgement's findings, at most max: past that one finding (more_rule, more_msg) says the
 * list is cut — a document naming thousands of objects has its verdict from the first ones,
 * the rest would flood the report. stop is set once report asks to stop. */
typedef struct jdoc_says {
    jdoc_report_fn report;
    void *ctx;
    unsigned max;
    const char *more_rule, *more_msg;
    unsigned count;
    int stop;
} jdoc_says;

/* Reports one finding (printf-style sentence) unless stopped or past the cap. */
void jdoc_say(jdoc_says *s, brine_verdict severity, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

struct fmt_env;
/* Reports a judgement's findings into env as the member's (a keras_report_fn's context). */
typedef struct jdoc_sink {
    struct fmt_env *env;
    const char *member;
    brine_status st; /* the first failure to record a finding */
} jdoc_sink;

/* A keras_report_fn writing into a jdoc_sink: nonzero (stop) once a finding fails. */
int jdoc_report(void *sink, brine_verdict severity, const char *rule, const char *msg);
/* Ends a judgement reported into sink: its recording failure first, else the checker's
 * failure st (with err) as a finding of the member, else BRINE_OK. */
brine_status jdoc_sink_done(jdoc_sink *sink, brine_status st, const brine_error *err);

#endif
