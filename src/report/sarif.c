/*
 * sarif.c — the SARIF 2.1.0 report (OASIS SARIF v2.1.0, errata 01), for code-scanning UIs.
 *
 * One run. tool.driver lists every rule brine knows (rules.def), so a result's ruleIndex is
 * known when the result is streamed. Each finding is one result:
 *   - level: "error" for unsafe and invalid, "warning" for unverified (§3.27.10);
 *   - locations[0].physicalLocation: the file as a URI reference (§3.10: relative paths stay
 *     relative, absolute paths become file:// URIs, everything outside the unreserved set is
 *     percent-encoded), with region.byteOffset (§3.30.13) when the offset is in the file
 *     itself. An offset inside an archive member is not an offset in the file, so it goes in
 *     the location's property bag as memberOffset instead;
 *   - logicalLocations: the archive member and the global, when known.
 * Paths that could not be scanned are toolExecutionNotifications of the invocation (§3.20.21),
 * and executionSuccessful is false when there are any. The summary goes in the run's
 * property bag.
 */
#include <stdlib.h>
#include <string.h>

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

static json_t *artifact_location(const char *path)
{
    char *uri = path_uri(path);
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
    if (f->offset >= 0 && !f->member &&
        (!(region = rep_obj_in(phys, "region")) ||
         rep_set(region, "byteOffset", json_integer((json_int_t)f->offset))))
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

/* {ruleId, ruleIndex?, level, message, locations, properties} */
static json_t *result_object(const char *path, const brine_result *res, const brine_finding *f)
{
    const char *rule = f->rule ? f->rule : "";
    long index = rep_rule_index(rule);
    json_t *o = json_object(), *locs, *props;
    if (!o || rep_set(o, "ruleId", rep_jstr(rule)) ||
        (index >= 0 && rep_set(o, "ruleIndex", json_integer(index))) ||
        rep_set(o, "level", json_string(level_of(f->severity))) ||
        rep_set(o, "message", text_message(f->message ? f->message : rule)) ||
        !(locs = rep_arr_in(o, "locations")) || rep_append(locs, location(path, f)) ||
        !(props = rep_obj_in(o, "properties")) ||
        rep_set(props, "severity", json_string(brine_verdict_name(f->severity))) ||
        rep_set(props, "verdict", json_string(brine_verdict_name(brine_result_verdict(res)))) ||
        rep_set(props, "format", rep_jstr(brine_result_format(res)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {id, shortDescription, defaultConfiguration, properties} */
static json_t *rule_object(const rep_rule *rule)
{
    const char *level = strcmp(rule->severity, "unverified") == 0 ? "warning" : "error";
    json_t *o = json_object(), *desc, *conf, *props;
    if (!o || rep_set(o, "id", json_string(rule->id)) ||
        !(desc = rep_obj_in(o, "shortDescription")) ||
        rep_set(desc, "text", json_string(rule->summary)) ||
        !(conf = rep_obj_in(o, "defaultConfiguration")) ||
        rep_set(conf, "level", json_string(level)) || !(props = rep_obj_in(o, "properties")) ||
        rep_set(props, "severity", json_string(rule->severity))) {
        json_decref(o);
        return NULL;
    }
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
        json_t *o = result_object(path, res, f);
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
