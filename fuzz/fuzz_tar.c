/*
 * fuzz_tar.c — the tarfile-exact tar reader (src/formats/tar.c) on arbitrary bytes.
 *
 * Checks what the reader claims: the outcome is coherent (no members when tarfile.open
 * fails), every member's data lies inside the input and has the member's size, names respect
 * archive_max_name, tar_find returns the last member of each name, every anomaly bit has a
 * name, and closing the archive returns every byte to the memory budget.
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/tar.h"

static int inside(const uint8_t *base, size_t len, const uint8_t *p, uint64_t n)
{
    return p >= base && (uint64_t)(p - base) <= len && n <= len - (uint64_t)(p - base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    if (!data)
        data = empty;
    brine_limits req, lim;
    fuzz_limits(&req);
    req.archive_max_members = 100000;
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    (void)tar_probe(data, size);
    tar_archive *ta = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = tar_open(data, size, &lim, &mem, &ta, &err);
    if (st != BRINE_OK) {
        FUZZ_CHECK(ta == NULL, "tar_open failed (%d) but returned an archive", (int)st);
        FUZZ_CHECK(st == BRINE_ERR_LIMIT || st == BRINE_ERR_NOMEM, "tar_open returned %d: %s",
                   (int)st, err.msg);
        FUZZ_CHECK(mem.used == 0, "%llu bytes charged after a failed tar_open",
                   (unsigned long long)mem.used);
        return 0;
    }
    const tar_outcome *out = tar_get_outcome(ta);
    size_t n = tar_count(ta);
    FUZZ_CHECK(out->open_ok || (!out->complete && n == 0), "tarfile.open fails with members");
    FUZZ_CHECK(out->complete || out->reason != NULL, "a failure without a reason");
    FUZZ_CHECK(n <= lim.archive_max_members, "%zu members over the limit", n);
    FUZZ_CHECK(tar_member_at(ta, n) == NULL, "member past the end is not NULL");
    FUZZ_CHECK(tar_end_offset(ta) <= size, "end offset outside the input");
    for (uint64_t bit = 1; bit; bit <<= 1)
        if (tar_anomalies(ta) & bit)
            FUZZ_CHECK(tar_anomaly_name(bit) && tar_anomaly_rule(bit) && tar_anomaly_text(bit),
                       "archive anomaly %llx has no name", (unsigned long long)bit);
    for (size_t i = 0; i < n; i++) {
        const tar_member *m = tar_member_at(ta, i);
        FUZZ_CHECK(m->name_len <= lim.archive_max_name && m->linkname_len <= lim.archive_max_name,
                   "member %zu: name over the limit", i);
        FUZZ_CHECK(m->header_offset < size, "member %zu: header outside the input", i);
        if (m->linkname_len)
            FUZZ_CHECK(inside(data, size, m->linkname, m->linkname_len),
                       "member %zu: link target outside the input", i);
        if (m->data) {
            FUZZ_CHECK(m->size >= 0 && (uint64_t)m->size == m->data_len,
                       "member %zu: data length differs from its size", i);
            FUZZ_CHECK(inside(data, size, m->data, m->data_len) &&
                           (uint64_t)(m->data - data) == m->data_offset,
                       "member %zu: data outside the input", i);
            unsigned long sum = 0;
            for (uint64_t k = 0; k < m->data_len; k++)
                sum += m->data[k];
            (void)sum;
        }
        for (uint64_t bit = 1; bit; bit <<= 1)
            if (m->anomalies & bit)
                FUZZ_CHECK(tar_anomaly_name(bit) != NULL, "member %zu: anomaly %llx has no name", i,
                           (unsigned long long)bit);
        unsigned long sum = 0;
        for (size_t k = 0; k < m->name_len; k++)
            sum += m->name[k];
        (void)sum;
        long target = tar_find_link_target(ta, i);
        FUZZ_CHECK(target < (long)n && (target < 0 || m->type == '1' || m->type == '2'),
                   "member %zu: link target %ld", i, target);
        FUZZ_CHECK(target < 0 || m->type != '1' || target < (long)i,
                   "member %zu: a hard link resolves forwards to %ld", i, target);
        long found = tar_find(ta, (const char *)m->name, m->name_len);
        if (m->name_len && m->name[m->name_len - 1] == '/')
            continue; /* getmember strips trailing slashes from the query */
        FUZZ_CHECK(found >= (long)i, "member %zu: tar_find gives %ld, not the last", i, found);
        const tar_member *f = tar_member_at(ta, (size_t)found);
        FUZZ_CHECK(f->name_len == m->name_len &&
                       (!m->name_len || memcmp(f->name, m->name, m->name_len) == 0),
                   "member %zu: tar_find found another name", i);
        FUZZ_CHECK((size_t)found == i || (m->anomalies & TAR_DUPLICATE),
                   "member %zu: a later member of its name without the duplicate bit", i);
    }
    (void)tar_is_torch(ta);
    tar_close(ta);
    FUZZ_CHECK(mem.used == 0, "%llu bytes still charged after tar_close",
               (unsigned long long)mem.used);
    return 0;
}
