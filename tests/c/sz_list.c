/*
 * sz_list.c — prints brine's reading of a 7z archive (src/formats/sevenzip.c) as one JSON
 * line, for tests/python/test_sevenzip.py, which compares it with the 7-Zip tool's listing.
 *
 *   sz_list [--max-members N] [--max-entry-bytes N] [--max-total-bytes N] [--max-ratio N]
 *           [--max-memory N] FILE
 *
 * Output: {"ok": true, "members": [{"name", "type", "index", "declared", "status", "reason",
 *          "len", "sha256"}]} or {"ok": false, "code", "error", "limit", "members": [...]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "brine.h"
#include "core/alloc.h"
#include "formats/sevenzip.h"

static json_t *sha256_hex(const uint8_t *p, size_t n)
{
    unsigned char md[32];
    unsigned int md_len = 0;
    if (!EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL))
        return json_null();
    char hex[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return json_string(hex);
}

static brine_status on_member(void *ctx, const sz_member *m)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", json_stringn(m->name, m->name_len));
    char type[2] = {m->type, 0};
    json_object_set_new(j, "type", json_string(type));
    json_object_set_new(j, "index", json_integer((json_int_t)m->index));
    json_object_set_new(j, "link", m->linkname ? json_string(m->linkname) : json_null());
    json_object_set_new(j, "declared", json_integer(m->declared_size));
    json_object_set_new(j, "status", json_integer(m->status));
    json_object_set_new(j, "reason", m->reason ? json_string(m->reason) : json_null());
    json_object_set_new(j, "len", json_integer((json_int_t)m->len));
    json_object_set_new(j, "sha256", m->data ? sha256_hex(m->data, m->len) : json_null());
    json_array_append_new(ctx, j);
    return BRINE_OK;
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
        else if (strcmp(argv[i], "--max-entry-bytes") == 0)
            lim.zip_max_entry_bytes = v;
        else if (strcmp(argv[i], "--max-total-bytes") == 0)
            lim.zip_max_total_bytes = v;
        else if (strcmp(argv[i], "--max-ratio") == 0)
            lim.zip_max_ratio = v;
        else if (strcmp(argv[i], "--max-memory") == 0)
            lim.max_memory = v;
        else
            break;
    }
    if (i + 1 != argc) {
        fprintf(stderr, "usage: sz_list [--max-… N] FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[i], "rb");
    if (!f)
        return 2;
    size_t cap = 1 << 20, len = 0;
    uint8_t *data = malloc(cap);
    for (size_t got; data && (got = fread(data + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            uint8_t *bigger = realloc(data, cap *= 2);
            if (!bigger)
                free(data);
            data = bigger;
        }
    }
    fclose(f);
    if (!data)
        return 2;
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(1) << 32);
    json_t *members = json_array();
    brine_error err;
    brine_status st = sz_each(data, len, &lim, &mem, on_member, members, &err);
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_boolean(st == BRINE_OK));
    if (st) {
        json_object_set_new(o, "code", json_integer(st));
        json_object_set_new(o, "error", json_string(err.msg));
        json_object_set_new(o, "limit", err.limit ? json_string(err.limit) : json_null());
    }
    json_object_set_new(o, "members", members);
    json_object_set_new(o, "leak", json_integer((json_int_t)mem.used));
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s ? s : "null");
    free(s);
    json_decref(o);
    free(data);
    return 0;
}
