/*
 * tar_list.c — prints brine's reading of tar files as JSON lines, one per file, for the
 * differential tests against Python's tarfile (tests/python/test_tar_diff.py).
 *
 *   tar_list [--max-members N] [--max-name N] FILE...
 *
 * Each line: {"file", "ok": true, "probe", "open_ok", "complete", "read_error", "reason",
 *             "offset", "end_offset", "torch", "anomalies": [...],
 *             "members": [{"name_hex", "link_hex", "type" (byte value), "size", "offset",
 * "offset_data", "data": [start, len] | null, "anomalies": [...], "find", "link_target"}]} or
 * {"file", "ok": false, "code", "error"} when brine refuses the archive (a limit).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "brine.h"
#include "core/alloc.h"
#include "formats/tar.h"

static json_t *anomaly_list(uint64_t bits)
{
    json_t *a = json_array();
    for (unsigned b = 0; b < 64; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if ((bits & bit) && tar_anomaly_name(bit))
            json_array_append_new(a, json_string(tar_anomaly_name(bit)));
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

static json_t *list_one(const char *path, const brine_limits *lim)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(path));
    size_t len;
    uint8_t *data = slurp(path, &len);
    if (!data) {
        json_object_set_new(o, "ok", json_false());
        json_object_set_new(o, "error", json_string(strerror(errno)));
        return o;
    }
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(1) << 32);
    tar_archive *ta = NULL;
    brine_error err;
    brine_status st = tar_open(data, len, lim, &mem, &ta, &err);
    json_object_set_new(o, "probe", json_integer(tar_probe(data, len)));
    if (st != BRINE_OK) {
        json_object_set_new(o, "ok", json_false());
        json_object_set_new(o, "code", json_integer(st));
        json_object_set_new(o, "error", json_string(err.msg));
        json_object_set_new(o, "limit", err.limit ? json_string(err.limit) : json_null());
        free(data);
        return o;
    }
    const tar_outcome *out = tar_get_outcome(ta);
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "open_ok", json_boolean(out->open_ok));
    json_object_set_new(o, "complete", json_boolean(out->complete));
    json_object_set_new(o, "read_error", json_boolean(out->read_error));
    json_object_set_new(o, "reason", out->reason ? json_string(out->reason) : json_null());
    json_object_set_new(o, "offset", json_integer((json_int_t)out->offset));
    json_object_set_new(o, "end_offset", json_integer((json_int_t)tar_end_offset(ta)));
    json_object_set_new(o, "torch", json_boolean(tar_is_torch(ta)));
    json_object_set_new(o, "anomalies", anomaly_list(tar_anomalies(ta)));
    json_t *members = json_array();
    for (size_t i = 0; i < tar_count(ta); i++) {
        const tar_member *m = tar_member_at(ta, i);
        json_t *j = json_object();
        json_object_set_new(j, "name_hex", hex(m->name, m->name_len));
        json_object_set_new(j, "link_hex", hex(m->linkname, m->linkname_len));
        json_object_set_new(j, "type", json_integer((uint8_t)m->type)); /* any byte */
        json_object_set_new(j, "size", json_integer((json_int_t)m->size));
        json_object_set_new(j, "offset", json_integer((json_int_t)m->header_offset));
        json_object_set_new(j, "offset_data", json_integer((json_int_t)m->data_offset));
        if (m->data)
            json_object_set_new(
                j, "data",
                json_pack("[II]", (json_int_t)(m->data - data), (json_int_t)m->data_len));
        else
            json_object_set_new(j, "data", json_null());
        json_object_set_new(j, "anomalies", anomaly_list(m->anomalies));
        long found = tar_find(ta, (const char *)m->name, m->name_len);
        json_object_set_new(j, "find", json_integer(found));
        json_object_set_new(j, "link_target", json_integer(tar_find_link_target(ta, i)));
        json_array_append_new(members, j);
    }
    json_object_set_new(o, "members", members);
    tar_close(ta);
    if (mem.used != 0)
        json_object_set_new(o, "leak", json_integer((json_int_t)mem.used));
    free(data);
    return o;
}

int main(int argc, char **argv)
{
    brine_limits lim;
    memset(&lim, 0, sizeof lim);
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        uint64_t v = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--max-members") == 0)
            lim.archive_max_members = v;
        else if (strcmp(argv[i], "--max-name") == 0)
            lim.archive_max_name = v;
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: tar_list [--max-members N] [--max-name N] FILE...\n");
        return 2;
    }
    for (; i < argc; i++) {
        json_t *o = list_one(argv[i], &lim);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    }
    return 0;
}
