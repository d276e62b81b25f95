/*
 * report.h — the report writer behind brine_report_* (see report.c), shared by its formats.
 *
 * Each output format is one file with one descriptor, as the container formats are: text.c
 * (for people), json.c (json and jsonl, docs/contract.md), sarif.c (SARIF 2.1.0). report.c owns
 * the counters, the write path and the call order; a format only turns one file or one error
 * into bytes. Everything a scanned file controls (paths, globals, messages quoting them) goes
 * out escaped: text output is for terminals, where a global named "\033]0;..." is an attack,
 * and JSON must stay valid UTF-8 whatever bytes a file name holds.
 */
#ifndef BRINE_REPORT_REPORT_H
#define BRINE_REPORT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "brine.h"

/* One output format. Each hook writes through rep_write and returns BRINE_OK,
 * BRINE_ERR_IO (the sink refused bytes) or BRINE_ERR_NOMEM. */
typedef struct rep_format {
    brine_status (*file)(brine_report *r, const char *path, const brine_result *res);
    brine_status (*error)(brine_report *r, const char *path, const char *message);
    brine_status (*finish)(brine_report *r);
} rep_format;

extern const rep_format rep_text, rep_json, rep_jsonl, rep_sarif;

struct brine_report {
    const rep_format *fmt;
    brine_write_fn write;
    void *ctx;
    brine_verdict fail_on; /* a file fails when its verdict >= fail_on */
    uint64_t verdicts[4];  /* files per verdict */
    uint64_t n_files;      /* files added (errors not included) */
    uint64_t n_errors;     /* paths that could not be scanned */
    uint64_t n_items;      /* items written so far in the array being streamed */
    int started;           /* the opening of the document is written */
    int finished;          /* brine_report_finish ran */
    brine_status broken;   /* sticky: once the sink fails, nothing more is written */
    json_t *pending;       /* items that must follow the streamed array (errors) */
    char *cwd;             /* SARIF: the working directory, for stable fingerprints, or NULL */
    int cwd_known;         /* cwd was looked up (it may still be NULL) */
};

/* Writes len bytes to the sink. After the first failure it writes nothing and keeps
 * returning BRINE_ERR_IO. */
brine_status rep_write(brine_report *r, const void *buf, size_t len);
brine_status rep_puts(brine_report *r, const char *s);
/* Writes a JSON value with jansson's flags (JSON_PRESERVE_ORDER is always added). */
brine_status rep_dump(brine_report *r, const json_t *value, size_t flags);

/* Streams value as the next item of a JSON array: ",\n" (none before the first), indent,
 * the value on one line. r->n_items counts the items written. */
brine_status rep_stream_item(brine_report *r, const json_t *value, const char *indent);
/* Closes the streamed array ("]" right after "[" when empty, else "\n" indent "]") and resets
 * r->n_items. */
brine_status rep_stream_close(brine_report *r, const char *indent);

/* The failed count for the summary: files whose verdict is at least r->fail_on. */
uint64_t rep_failed(const brine_report *r);
/* {"files", "safe", "unverified", "invalid", "unsafe", "errors", "failed"}, or NULL. */
json_t *rep_summary(const brine_report *r);

/* A JSON string for s, which need not be valid UTF-8: invalid bytes become U+FFFD (jansson
 * refuses invalid UTF-8, and a file name is only bytes). NULL when out of memory. */
json_t *rep_jstr(const char *s);
/* obj[key] = value, taking the reference; returns -1 (and drops value) on failure, also when
 * value is NULL, so calls chain: if (rep_set(o, "a", x) || rep_set(o, "b", y)) fail. */
int rep_set(json_t *obj, const char *key, json_t *value);
int rep_append(json_t *arr, json_t *value);
/* A new empty object (array) set as parent[key], or appended to parent when key is NULL.
 * The parent owns it from birth, so freeing the parent frees everything on any error path.
 * NULL on failure. */
json_t *rep_obj_in(json_t *parent, const char *key);
json_t *rep_arr_in(json_t *parent, const char *key);

/* Length of the valid UTF-8 sequence at s (at most n bytes) and its code point in *cp, or 0
 * when the bytes there are not valid UTF-8 (overlong forms, surrogates and values above
 * U+10FFFF are invalid, as in RFC 3629). */
size_t rep_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Writes s for a terminal: control characters, invalid UTF-8, C1 controls and Unicode
 * bidirectional overrides are written as \xNN or \u{NNNN}, so neither a file name nor a global
 * chosen by an attacker can move the cursor, retitle the window or reorder what is shown. */
brine_status rep_text_escaped(brine_report *r, const char *s);

/* The rules brine reports, in docs/contract.md order (rules.def). */
typedef struct rep_rule {
    const char *id;
    const char *severity; /* "unsafe", "unverified", "invalid", or "by content" */
    const char *summary;  /* one sentence, for SARIF's shortDescription */
} rep_rule;

extern const rep_rule rep_rules[];
extern const size_t rep_rule_count;
/* The index of rule id in rep_rules, or -1 when brine's table does not know it. */
long rep_rule_index(const char *id);

#endif
