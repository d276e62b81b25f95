/*
 * sarif.c — the SARIF 2.1.0 report (OASIS SARIF v2.1.0, errata 01), for code-scanning UIs.
 *
 * One run. tool.driver lists every rule brine knows (rules.def), so a result's ruleIndex is
 * known when the result is streamed. Each finding is one result:
 *   - level: "error" for unsafe and invalid, "warning" for unverified (§3.27.10);
 *   - locations[0].physicalLocation: the file as a URI reference (§3.10: relative paths stay
 *     relative, absolute paths become file:// URIs, everything outside the unreserved set is
 *     percent-encoded, a leading "./" dropped), with a region. GitHub code scanning drops a result
 * whose region has no startLine, and a model file has no lines, so startLine is always 1 (the
 * finding is about the file); region.byteOffset (§3.30.13) joins it when the offset is in the file
 *     itself. An offset inside an archive member is not an offset in the file, so it goes in
 *     the location's property bag as memberOffset instead;
 *   - logicalLocations: the archive member and the global, when known;
 *   - partialFingerprints["brineFinding/v1"]: SHA-256 of the rule, the path (relative to the
 *     working directory when it is below it, "./" dropped), the member, the global and which
 *     occurrence of that combination in the file it is. No absolute path, offset or time
 *     goes in, so the same finding in two checkouts or two runs has the same fingerprint and
 *     code scanning tracks it as one alert.
 * Rules carry shortDescription, fullDescription, help (text and markdown) and the property
 * bag GitHub reads: tags and security-severity, a CVSS-like score by verdict (unsafe 9.3
 * critical, unverified 5.0 medium, invalid 4.0 medium: a file brine cannot read fails too).
 * Paths that could not be scanned are toolExecutionNotifications of the invocation (§3.20.21),
 * and executionSuccessful is false when there are any. The summary goes in the run's
 * property bag.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sha256.h"
#include "report/report.h"

/* A URI reference for a path (RFC 3986): bytes outside unreserved, sub-delims (except ';'
 * and ':', which could be read as a scheme) and '/' '@' are percent-encoded. NULL when out of
 * memory. */
static char *path_uri(const char *path)
{
    static const char keep[] = "-._~!$&'()*+,=@/";
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path), out;
    /* worst case three bytes per byte, plus "file://" and the NUL */
    if (__builtin_mul_overflow(n, (size_t)3, &out) || __builtin_add_overflow(out, (size_t)8, &out))
        return NULL;
    char *uri = malloc(out);
    if (!uri)
        return NULL;
    size_t o = 0;
    if (path[0] == '/') {
        memcpy(uri, "file://", 7);
        o = 7;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c && strchr(keep, c))) {
            uri[o++] = (char)c;
        } else {
            uri[o++] = '%';
            uri[o++] = hex[c >> 4];
            uri[o++] = hex[c & 15];
        }
    }
    uri[o] = '\0';
    return uri;
}

/* path without leading "./" (and the slashes after it): "./models/a.pkl" is the URI
 * "models/a.pkl", relative to the root code scanning resolves URIs against. */
static const char *skip_dot_slash(const char *path)
{
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        while (path[0] == '/')
            path++;
    }
    return path;
}

static json_t *artifact_location(const char *path)
{
    char *uri = path_uri(skip_dot_slash(path));
    if (!uri)
        return NULL;
    json_t *o = json_object();
    if (o && rep_set(o, "uri", json_string(uri))) { /* only ASCII left */
        json_decref(o);
        o = NULL;
    }
    free(uri);
    return o;
}

static json_t *text_message(const char *text)
{
    json_t *o = json_object();
    if (o && rep_set(o, "text", rep_jstr(text))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *level_of(brine_verdict v)
{
    switch (v) {
    case BRINE_SAFE: return "note";
    case BRINE_UNVERIFIED: return "warning";
    default: return "error";
    }
}

static json_t *logical_locations(const brine_finding *f)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    if (f->member) {
        json_t *m = rep_obj_in(a, NULL);
        if (!m || rep_set(m, "name", rep_jstr(f->member)) ||
            rep_set(m, "kind", json_string("resource")))
            goto fail;
    }
    if (f->global) {
        const char *dot = strrchr(f->global, '.');
        json_t *g = rep_obj_in(a, NULL);
        if (!g || rep_set(g, "name", rep_jstr(dot ? dot + 1 : f->global)) ||
            rep_set(g, "fullyQualifiedName", rep_jstr(f->global)))
            goto fail;
    }
    return a;
fail:
    json_decref(a);
    return NULL;
}

/* {physicalLocation: {artifactLocation, region?}, logicalLocations?, properties?} */
static json_t *location(const char *path, const brine_finding *f)
{
    json_t *loc = json_object(), *phys, *region, *props;
    if (!loc || !(phys = rep_obj_in(loc, "physicalLocation")) ||
        rep_set(phys, "artifactLocation", artifact_location(path)))
        goto fail;
    if (!(region = rep_obj_in(phys, "region")) || rep_set(region, "startLine", json_integer(1)))
        goto fail;
    if (f->offset >= 0 && !f->member &&
        rep_set(region, "byteOffset", json_integer((json_int_t)f->offset)))
        goto fail;
    if ((f->member || f->global) && rep_set(loc, "logicalLocations", logical_locations(f)))
        goto fail;
    if (f->offset >= 0 && f->member &&
        (!(props = rep_obj_in(loc, "properties")) ||
         rep_set(props, "memberOffset", json_integer((json_int_t)f->offset))))
        goto fail;
    return loc;
fail:
    json_decref(loc);
    return NULL;
}

/* The path a fingerprint hashes: relative to the working directory when path is below it,
 * without leading "./", so "/ci/work/m.pkl", "./m.pkl" and "m.pkl" (run from /ci/work) agree. */
static const char *stable_path(brine_report *r, const char *path)
{
    if (path[0] == '/') {
        if (!r->cwd_known) {
            r->cwd_known = 1;
            r->cwd = getcwd(NULL, 0); /* NULL (unknown): absolute paths stay as they are */
        }
        size_t n = r->cwd ? strlen(r->cwd) : 0;
        if (n > 1 && strncmp(path, r->cwd, n) == 0 && path[n] == '/')
            path += n + 1;
    }
    return skip_dot_slash(path);
}

static int same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Appends one field to the hashed bytes: a tag (absent or present), the text and a NUL, so
 * no two different field lists hash the same bytes. Returns the new length. */
static size_t put_field(uint8_t *buf, size_t o, const char *text)
{
    buf[o++] = text ? 1 : 0;
    if (text) {
        size_t n = strlen(text);
        memcpy(buf + o, text, n);
        o += n;
    }
    buf[o++] = 0;
    return o;
}

/* {"brineFinding/v1": hex SHA-256 of rule, stable path, member, global, occurrence}. The
 * occurrence (how many earlier findings of the file share rule, member and global) tells
 * apart two calls of the same global, and stays the same from run to run. */
static json_t *fingerprints(brine_report *r, const char *path, const brine_result *res, size_t at)
{
    const brine_finding *f = brine_result_finding(res, at);
    unsigned long occurrence = 0;
    for (size_t j = 0; j < at; j++) {
        const brine_finding *g = brine_result_finding(res, j);
        if (g && same_text(g->rule, f->rule) && same_text(g->member, f->member) &&
            same_text(g->global, f->global))
            occurrence++;
    }
    char count[32];
    snprintf(count, sizeof count, "%lu", occurrence);
    const char *fields[] = {f->rule, stable_path(r, path), f->member, f->global, count};
    size_t len = 0;
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        size_t n = fields[k] ? strlen(fields[k]) : 0;
        if (__builtin_add_overflow(len, n + 2, &len))
            return NULL;
    }
    uint8_t *buf = malloc(len), digest[SHA256_BYTES];
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        o = put_field(buf, o, fields[k]);
    brine_error err;
    int hashed = sha256(buf, o, digest, &err) == BRINE_OK;
    free(buf);
    json_t *o_fp = json_object();
    if (!hashed) /* no libcrypto: an empty bag (SARIF consumers then match by location) */
        return o_fp;
    static const char hex[] = "0123456789abcdef";
    char text[2 * SHA256_BYTES + 1];
    for (size_t k = 0; k < SHA256_BYTES; k++) {
        text[2 * k] = hex[digest[k] >> 4];
        text[2 * k + 1] = hex[digest[k] & 15];
    }
    text[2 * SHA256_BYTES] = '\0';
    if (o_fp && rep_set(o_fp, "brineFinding/v1", json_string(text))) {
        json_decref(o_fp);
        return NULL;
    }
    return o_fp;
}

/* {ruleId, ruleIndex?, level, message, locations, partialFingerprints, properties} */
static json_t *result_object(brine_report *r, const char *path, const brine_result *res, size_t at)
{
    const brine_finding *f = brine_result_finding(res, at);
    const char *rule = f->rule ? f->rule : "";
    long index = rep_rule_index(rule);
    json_t *o = json_object(), *locs, *props;
    if (!o || rep_set(o, "ruleId", rep_jstr(rule)) ||
        (index >= 0 && rep_set(o, "ruleIndex", json_integer(index))) ||
        rep_set(o, "level", json_string(level_of(f->severity))) ||
        rep_set(o, "message", text_message(f->message ? f->message : rule)) ||
        !(locs = rep_arr_in(o, "locations")) || rep_append(locs, location(path, f)) ||
        rep_set(o, "partialFingerprints", fingerprints(r, path, res, at)) ||
        !(props = rep_obj_in(o, "properties")) ||
        rep_set(props, "severity", json_string(brine_verdict_name(f->severity))) ||
        rep_set(props, "verdict", json_string(brine_verdict_name(brine_result_verdict(res)))) ||
        rep_set(props, "format", rep_jstr(brine_result_format(res)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* What GitHub code scanning shows for a rule, by the verdict it gives. */
typedef struct rule_class {
    const char *severity;          /* rules.def's severity */
    const char *security_severity; /* CVSS-like score: >= 9 critical, 4-6.9 medium */
    const char *meaning;           /* the verdict, for fullDescription */
    const char *advice;            /* what to do, for help */
    const char *tag;               /* a tag besides "security" and "ml-model" */
} rule_class;

static const rule_class rule_classes[] = {
    {"unsafe", "9.3", "Verdict unsafe: loading the file can run code or touch the system.",
     "Do not load this file with pickle, torch.load, joblib.load or any loader that "
     "unpickles. Find out where it came from; if the model is needed, get its weights in a "
     "format without code (safetensors), or convert a trusted copy with 'brine convert'.",
     "external/cwe/cwe-502"},
    {"unverified", "5.0",
     "Verdict unverified: the file was fully parsed and uses globals outside the active "
     "allowlist, none known to be dangerous.",
     "Check the named global. If it is trusted, allow it ('brine scan --allow "
     "module.qualname', a --policy file, or the action's 'allow' input); otherwise treat the "
     "file as unsafe.",
     "supply-chain"},
    {"invalid", "4.0",
     "Verdict invalid: the file is malformed, truncated, over a limit or inconsistent, so "
     "it cannot be proven safe; readers that are more lenient may still run what it holds.",
     "Do not load the file until it is explained. Regenerate it from a trusted source; if it "
     "is over a limit, raise the limit with --limit NAME=VALUE after checking why it is "
     "that large.",
     "correctness"},
};

static const rule_class *class_of(const rep_rule *rule)
{
    for (size_t i = 0; i < sizeof rule_classes / sizeof rule_classes[0]; i++)
        if (strcmp(rule->severity, rule_classes[i].severity) == 0)
            return &rule_classes[i];
    return &rule_classes[1]; /* "by content": the rule's own level is the middle one */
}

/* s1 s2 s3 joined into one new string, or NULL. */
static char *concat3(const char *s1, const char *s2, const char *s3)
{
    size_t n1 = strlen(s1), n2 = strlen(s2), n3 = strlen(s3);
    char *s = malloc(n1 + n2 + n3 + 1);
    if (s) {
        memcpy(s, s1, n1);
        memcpy(s + n1, s2, n2);
        memcpy(s + n1 + n2, s3, n3 + 1);
    }
    return s;
}

/* {text, markdown}: the rule, its verdict and what to do. */
static json_t *rule_help(const rep_rule *rule, const rule_class *c)
{
    json_t *o = json_object();
    char *head = concat3(rule->id, ": ", rule->summary);
    char *text = head ? concat3(head, "\n\n", c->meaning) : NULL;
    char *text2 = text ? concat3(text, "\n\n", c->advice) : NULL;
    char *md1 = concat3("**", rule->id, "** (brine): ");
    char *md2 = md1 ? concat3(md1, rule->summary, "\n\n") : NULL;
    char *md3 = md2 ? concat3(md2, c->meaning, "\n\n**What to do:** ") : NULL;
    char *md4 = md3 ? concat3(md3, c->advice,
                              "\n\nSee `man brine` (section RULES) for every rule brine reports.")
                    : NULL;
    if (!o || !text2 || !md4 || rep_set(o, "text", json_string(text2)) ||
        rep_set(o, "markdown", json_string(md4))) {
        json_decref(o);
        o = NULL;
    }
    free(head);
    free(text);
    free(text2);
    free(md1);
    free(md2);
    free(md3);
    free(md4);
    return o;
}

/* {id, name, shortDescription, fullDescription, help, defaultConfiguration, properties} */
static json_t *rule_object(const rep_rule *rule)
{
    const rule_class *c = class_of(rule);
    const char *level = strcmp(rule->severity, "unverified") == 0 ? "warning" : "error";
    char *full = concat3(rule->summary, " ", c->meaning);
    json_t *o = json_object(), *desc, *conf, *props, *tags;
    if (!full || !o || rep_set(o, "id", json_string(rule->id)) ||
        rep_set(o, "name", json_string(rule->id)) || !(desc = rep_obj_in(o, "shortDescription")) ||
        rep_set(desc, "text", json_string(rule->summary)) ||
        !(desc = rep_obj_in(o, "fullDescription")) || rep_set(desc, "text", json_string(full)) ||
        rep_set(o, "help", rule_help(rule, c)) || !(conf = rep_obj_in(o, "defaultConfiguration")) ||
        rep_set(conf, "level", json_string(level)) || !(props = rep_obj_in(o, "properties")) ||
        rep_set(props, "severity", json_string(rule->severity)) ||
        rep_set(props, "security-severity", json_string(c->security_severity)) ||
        rep_set(props, "precision", json_string("high")) ||
        rep_set(props, "problem.severity",
                json_string(strcmp(level, "warning") == 0 ? "warning" : "error")) ||
        !(tags = rep_arr_in(props, "tags")) || rep_append(tags, json_string("security")) ||
        rep_append(tags, json_string("ml-model")) || rep_append(tags, json_string(c->tag))) {
        json_decref(o);
        o = NULL;
    }
    free(full);
    return o;
}

static brine_status sarif_start(brine_report *r)
{
    if (r->started)
        return BRINE_OK;
    r->started = 1;
    brine_status st =
        rep_puts(r, "{\n"
                    "  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
                    "  \"version\": \"2.1.0\",\n"
                    "  \"runs\": [\n"
                    "    {\n"
                    "      \"tool\": {\n"
                    "        \"driver\": {\n"
                    "          \"name\": \"brine\",\n"
                    "          \"version\": \"" BRINE_VERSION_STRING "\",\n"
                    "          \"semanticVersion\": \"" BRINE_VERSION_STRING "\",\n"
                    "          \"rules\": [");
    for (size_t i = 0; i < rep_rule_count && !st; i++) {
        json_t *rule = rule_object(&rep_rules[i]);
        st = rule ? rep_stream_item(r, rule, "            ") : BRINE_ERR_NOMEM;
        json_decref(rule);
    }
    if (!st)
        st = rep_stream_close(r, "          ");
    if (!st)
        st = rep_puts(r, "\n        }\n      },\n      \"results\": [");
    return st;
}

static brine_status sarif_file(brine_report *r, const char *path, const brine_result *res)
{
    brine_status st = sarif_start(r);
    size_t n = brine_result_finding_count(res);
    for (size_t i = 0; i < n && !st; i++) {
        const brine_finding *f = brine_result_finding(res, i);
        if (!f)
            continue;
        json_t *o = result_object(r, path, res, i);
        st = o ? rep_stream_item(r, o, "        ") : BRINE_ERR_NOMEM;
        json_decref(o);
    }
    return st;
}

static brine_status sarif_error(brine_report *r, const char *path, const char *message)
{
    brine_status st = sarif_start(r);
    if (st)
        return st;
    if (!r->pending && !(r->pending = json_array()))
        return BRINE_ERR_NOMEM;
    /* {level, message, locations: [{physicalLocation: {artifactLocation}}]} */
    json_t *n = json_object(), *locs, *loc, *phys;
    if (!n || rep_set(n, "level", json_string("error")) ||
        rep_set(n, "message", text_message(message)) || !(locs = rep_arr_in(n, "locations")) ||
        !(loc = rep_obj_in(locs, NULL)) || !(phys = rep_obj_in(loc, "physicalLocation")) ||
        rep_set(phys, "artifactLocation", artifact_location(path))) {
        json_decref(n);
        return BRINE_ERR_NOMEM;
    }
    return rep_append(r->pending, n) ? BRINE_ERR_NOMEM : BRINE_OK;
}

static brine_status sarif_finish(brine_report *r)
{
    brine_status st = sarif_start(r);
    if (!st)
        st = rep_stream_close(r, "      ");
    if (!st)
        st = rep_puts(r, r->n_errors ? ",\n      \"invocations\": [\n        "
                                       "{\"executionSuccessful\": false, "
                                       "\"toolExecutionNotifications\": ["
                                     : ",\n      \"invocations\": [\n        "
                                       "{\"executionSuccessful\": true, "
                                       "\"toolExecutionNotifications\": [");
    size_t n = r->pending ? json_array_size(r->pending) : 0;
    for (size_t i = 0; i < n && !st; i++)
        st = rep_stream_item(r, json_array_get(r->pending, i), "          ");
    if (!st)
        st = rep_stream_close(r, "        ");
    if (!st)
        st = rep_puts(r, "}\n      ],\n      \"properties\": {\"summary\": ");
    if (!st) {
        json_t *s = rep_summary(r);
        st = s ? rep_dump(r, s, JSON_INDENT(0)) : BRINE_ERR_NOMEM;
        json_decref(s);
    }
    if (!st)
        st = rep_puts(r, "}\n    }\n  ]\n}\n");
    return st;
}

const rep_format rep_sarif = {sarif_file, sarif_error, sarif_finish};
