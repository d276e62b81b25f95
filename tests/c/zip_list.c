/*
 * zip_list.c — prints brine's view of a zip as JSON, for the differential tests against
 * Python's zipfile and the malformed-zip corpus (tests/python/test_zip_diff.py).
 *
 *   zip_list [--max-entries N] [--max-ratio N] [--max-entry-bytes N] [--max-total-bytes N] FILE
 *
 * Output: {"ok": true, "zip64", "cd_offset", "eocd_offset", "anomalies": [...],
 *          "entries": [{"name_hex", "method", "flags", "local_flags", "crc", "csize", "usize",
 *                       "local_offset", "data_offset", "anomalies": [...],
 *                       "read": {"ok", "len", "crc", "owned"} | {"ok": false, "code", "error"}}]}
 * or {"ok": false, "code", "error", "offset"} when the directory cannot be read (exit 1).
 * Entries are read in directory order, so inflation limits apply cumulatively.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "brine.h"
#include "core/alloc.h"
#include "formats/zip.h"

static json_t *anomaly_list(uint64_t bits)
{
    json_t *a = json_array();
    for (unsigned b = 0; b < 64; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if ((bits & bit) && zip_anomaly_name(bit))
            json_array_append_new(a, json_string(zip_anomaly_name(bit)));
    }
    return a;
}

static json_t *hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    if (!s)
        return json_null();
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        uint64_t v;
        if (parse_u64(argv[i + 1], &v))
            break;
        if (!strcmp(argv[i], "--max-entries"))
            lim.zip_max_entries = v;
        else if (!strcmp(argv[i], "--max-ratio"))
            lim.zip_max_ratio = v;
        else if (!strcmp(argv[i], "--max-entry-bytes"))
            lim.zip_max_entry_bytes = v;
        else if (!strcmp(argv[i], "--max-total-bytes"))
            lim.zip_max_total_bytes = v;
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: zip_list [--max-entries N] [--max-ratio N] "
                        "[--max-entry-bytes N] [--max-total-bytes N] FILE\n");
        return 2;
    }
    const uint8_t *data;
    size_t len;
    brine_error err;
    if (brine_map_file(argv[i], &data, &len, &err)) {
        fprintf(stderr, "zip_list: %s: %s\n", argv[i], err.msg);
        return 2;
    }
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(4) << 30);
    zip_archive *za;
    json_t *out = json_object();
    int rc = 0;
    if (zip_open(data, len, &lim, &mem, &za, &err)) {
        json_object_set_new(out, "ok", json_false());
        json_object_set_new(out, "code", json_string(brine_status_name(err.code)));
        json_object_set_new(out, "error", json_string(err.msg));
        if (err.has_offset)
            json_object_set_new(out, "offset", json_integer((json_int_t)err.offset));
        rc = 1;
    } else {
        json_object_set_new(out, "ok", json_true());
        json_object_set_new(out, "zip64", json_boolean(zip_is_zip64(za)));
        json_object_set_new(out, "cd_offset", json_integer((json_int_t)zip_cd_offset(za)));
        json_object_set_new(out, "eocd_offset", json_integer((json_int_t)zip_eocd_offset(za)));
        json_t *entries = json_array();
        for (size_t k = 0; k < zip_count(za); k++) {
            const zip_entry *e = zip_entry_at(za, k);
            json_t *je = json_object();
            json_object_set_new(je, "name_hex", hex(e->name, e->name_len));
            json_object_set_new(je, "method", json_integer(e->method));
            json_object_set_new(je, "flags", json_integer(e->flags));
            json_object_set_new(je, "local_flags", json_integer(e->local_flags));
            json_object_set_new(je, "crc", json_integer(e->crc32));
            json_object_set_new(je, "csize", json_integer((json_int_t)e->csize));
            json_object_set_new(je, "usize", json_integer((json_int_t)e->usize));
            json_object_set_new(je, "local_offset", json_integer((json_int_t)e->local_offset));
            json_object_set_new(je, "data_offset", json_integer((json_int_t)e->data_offset));
            json_object_set_new(je, "find",
                                json_integer(zip_find(za, (const char *)e->name, e->name_len)));
            const uint8_t *d;
            size_t n;
            int owned;
            json_t *jr = json_object();
            if (zip_read(za, k, 0, &d, &n, &owned, &err)) {
                json_object_set_new(jr, "ok", json_false());
                json_object_set_new(jr, "code", json_string(brine_status_name(err.code)));
                json_object_set_new(jr, "error", json_string(err.msg));
                if (err.limit)
                    json_object_set_new(jr, "limit", json_string(err.limit));
            } else {
                uLong c = crc32_z(crc32(0, Z_NULL, 0), d, n);
                json_object_set_new(jr, "ok", json_true());
                json_object_set_new(jr, "len", json_integer((json_int_t)n));
                json_object_set_new(jr, "crc", json_integer((json_int_t)c));
                json_object_set_new(jr, "owned", json_boolean(owned));
                json_object_set_new(jr, "zero_copy",
                                    json_boolean(!owned && d == data + e->data_offset));
                zip_release(za, d, n, owned);
            }
            json_object_set_new(je, "read", jr);
            /* after the read: it adds ZIP_CRC and ZIP_DEFLATE_TAIL */
            json_object_set_new(je, "anomalies", anomaly_list(e->anomalies));
            json_array_append_new(entries, je);
        }
        json_object_set_new(out, "entries", entries);
        json_object_set_new(out, "anomalies", anomaly_list(zip_archive_anomalies(za)));
        zip_close(za);
        if (mem.used) {
            fprintf(stderr, "zip_list: %" PRIu64 " bytes still charged after zip_close\n",
                    mem.used);
            rc = 3;
        }
    }
    char *s = json_dumps(out, JSON_COMPACT);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(out);
    brine_unmap(data, len);
    return rc;
}
