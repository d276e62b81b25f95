/*
 * fuzz_safetensors.c — the safetensors reader (src/formats/safetensors.c) on arbitrary bytes,
 * and the writer on whatever the reader accepts.
 *
 * For a file the reader accepts: tensors tile the data buffer in order, each slice lies in the
 * input and has the size its dtype and shape say, names are unique and found by st_find, and
 * metadata is sorted. Then the writer rewrites the file and the reader must accept the
 * result with the same tensors (names, dtypes, shapes, bytes) and metadata: a round trip.
 * Every byte charged to the budget is returned when the file and writer are freed.
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/safetensors.h"

static void check_file(const st_file *f, const uint8_t *data, size_t size)
{
    size_t n = st_count(f);
    uint64_t start = st_data_start(f);
    FUZZ_CHECK(start == 8 + st_header_len(f) && start <= size, "data start %llu of %zu",
               (unsigned long long)start, size);
    uint64_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        const st_tensor_info *t = st_tensor(f, i);
        FUZZ_CHECK(t && t->name && strlen(t->name) == t->name_len, "tensor %zu name", i);
        FUZZ_CHECK(t->begin == prev_end && t->end >= t->begin, "tensor %zu does not tile", i);
        prev_end = t->end;
        FUZZ_CHECK(t->nbytes == t->end - t->begin, "tensor %zu nbytes", i);
        FUZZ_CHECK(t->offset == start + t->begin && t->offset <= size &&
                       t->nbytes <= size - t->offset,
                   "tensor %zu outside the input", i);
        FUZZ_CHECK(t->nbytes == 0 || t->data == data + t->offset, "tensor %zu data pointer", i);
        uint64_t nb = 0;
        FUZZ_CHECK(st_nbytes(t->dtype, t->ndim, t->shape, &nb) == 0 && nb == t->nbytes,
                   "tensor %zu: shape and dtype give %llu bytes, slice has %llu", i,
                   (unsigned long long)nb, (unsigned long long)t->nbytes);
        FUZZ_CHECK(st_find(f, t->name, t->name_len) == (long)i, "st_find(tensor %zu)", i);
    }
    FUZZ_CHECK(start + prev_end == size, "buffer does not end the file");
    size_t nm = st_metadata_count(f);
    const char *prev = NULL;
    for (size_t i = 0; i < nm; i++) {
        const char *k = NULL, *v = NULL;
        FUZZ_CHECK(st_metadata_at(f, i, &k, &v) == 0 && k && v, "metadata %zu", i);
        FUZZ_CHECK(!prev || strcmp(prev, k) < 0, "metadata not sorted or repeated at %zu", i);
        FUZZ_CHECK(st_metadata_get(f, k) == v || strcmp(st_metadata_get(f, k), v) == 0,
                   "st_metadata_get(%s)", k);
        prev = k;
    }
}

static void round_trip(const st_file *f, const brine_limits *lim)
{
    mem_budget mem;
    mem_budget_init(&mem, lim->max_memory);
    st_writer *w = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = st_writer_new(lim, &mem, &w, &err);
    for (size_t i = 0; st == BRINE_OK && i < st_count(f); i++) {
        const st_tensor_info *t = st_tensor(f, i);
        st = st_writer_add(w, t->name, t->name_len, t->dtype, t->ndim, t->shape,
                           t->data ? (const void *)t->data : (const void *)"", NULL, NULL, &err);
        /* names the reader accepts, the writer may refuse (e.g. "__metadata__" as a
         * tensor): then there is nothing to compare */
        if (st == BRINE_ERR_USAGE || st == BRINE_ERR_MALFORMED)
            goto out;
    }
    for (size_t i = 0; st == BRINE_OK && i < st_metadata_count(f); i++) {
        const char *k, *v;
        st_metadata_at(f, i, &k, &v);
        st = st_writer_set_metadata(w, k, strlen(k), v, strlen(v), &err);
        if (st == BRINE_ERR_USAGE || st == BRINE_ERR_MALFORMED)
            goto out;
    }
    if (st == BRINE_OK) {
        fuzz_sink sink;
        memset(&sink, 0, sizeof sink);
        fuzz_sink_reset(&sink, 1);
        st = st_writer_write(w, fuzz_write, &sink, &err);
        if (st == BRINE_OK && !sink.overflow) {
            mem_budget mem2;
            mem_budget_init(&mem2, lim->max_memory);
            st_file *g = NULL;
            brine_status st2 = st_open((const uint8_t *)sink.buf, sink.len, lim, &mem2, &g, &err);
            FUZZ_CHECK(st2 == BRINE_OK || st2 == BRINE_ERR_LIMIT || st2 == BRINE_ERR_NOMEM,
                       "the reader refuses what the writer wrote: %s", err.msg);
            if (st2 == BRINE_OK) {
                FUZZ_CHECK(st_count(g) == st_count(f), "round trip: %zu tensors, was %zu",
                           st_count(g), st_count(f));
                FUZZ_CHECK(st_metadata_count(g) == st_metadata_count(f),
                           "round trip: metadata count");
                for (size_t i = 0; i < st_count(f); i++) {
                    const st_tensor_info *a = st_tensor(f, i);
                    long j = st_find(g, a->name, a->name_len);
                    FUZZ_CHECK(j >= 0, "round trip lost tensor %s", a->name);
                    const st_tensor_info *b = st_tensor(g, (size_t)j);
                    FUZZ_CHECK(a->dtype == b->dtype && a->ndim == b->ndim &&
                                   a->nbytes == b->nbytes &&
                                   (a->ndim == 0 ||
                                    memcmp(a->shape, b->shape, a->ndim * sizeof *a->shape) == 0) &&
                                   (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0),
                               "round trip changed tensor %s", a->name);
                }
                for (size_t i = 0; i < st_metadata_count(f); i++) {
                    const char *k, *v;
                    st_metadata_at(f, i, &k, &v);
                    const char *v2 = st_metadata_get(g, k);
                    FUZZ_CHECK(v2 && strcmp(v, v2) == 0, "round trip changed metadata %s", k);
                }
                check_file(g, (const uint8_t *)sink.buf, sink.len);
            }
            st_close(g);
            FUZZ_CHECK(mem2.used == 0, "%llu bytes charged after st_close",
                       (unsigned long long)mem2.used);
        }
        fuzz_sink_reset(&sink, 0);
    }
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_LIMIT || st == BRINE_ERR_NOMEM,
               "writer failed on a file the reader accepted: %d %s", (int)st, err.msg);
out:
    st_writer_free(w);
    FUZZ_CHECK(mem.used == 0, "%llu bytes charged after st_writer_free",
               (unsigned long long)mem.used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    if (!data)
        data = empty;
    brine_limits req, lim;
    fuzz_limits(&req);
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    st_file *f = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = st_open(data, size, &lim, &mem, &f, &err);
    if (st != BRINE_OK) {
        FUZZ_CHECK(f == NULL, "st_open failed but returned a file");
        FUZZ_CHECK(st == BRINE_ERR_MALFORMED || st == BRINE_ERR_LIMIT || st == BRINE_ERR_NOMEM,
                   "st_open returned %d: %s", (int)st, err.msg);
    } else {
        FUZZ_CHECK(f != NULL, "st_open: BRINE_OK without a file");
        check_file(f, data, size);
        round_trip(f, &lim);
    }
    st_close(f);
    FUZZ_CHECK(mem.used == 0, "%llu bytes still charged after st_close",
               (unsigned long long)mem.used);
    return 0;
}
