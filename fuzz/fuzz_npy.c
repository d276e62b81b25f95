/*
 * fuzz_npy.c — the .npy reader (src/formats/npy.c) on arbitrary bytes.
 *
 * For a file the reader accepts: the body starts inside the input right after the header;
 * an object array has no tensor and no size; a plain array's nbytes = numel × itemsize fits
 * in the input with the trailing bytes counted; a tensor dtype's size is the itemsize; the
 * array then goes into an ld_set in place and reads back in C order in chunks (which walks
 * every Fortran stride and byte swap), and every byte charged to the budget is returned.
 */
#include "fuzz.h"

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/npy.h"
#include "load/tensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brine_limits req, lim;
    fuzz_limits(&req);
    lim_resolve(&req, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    npy_info info;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = npy_parse(data, size, &lim, &mem, &info, &err);
    FUZZ_CHECK(mem.used == 0, "npy_parse left %llu bytes charged", (unsigned long long)mem.used);
    FUZZ_CHECK(st != BRINE_OK || err.code == BRINE_OK, "ok with an error set");
    FUZZ_CHECK(st == BRINE_OK || err.code == st, "status %d, error code %d", st, err.code);
    if (st != BRINE_OK)
        return 0;
    FUZZ_CHECK(npy_probe(data, size) == 100, "accepted without the magic");
    FUZZ_CHECK(info.major >= 1 && info.major <= 3 && info.minor == 0, "version %d.%d", info.major,
               info.minor);
    FUZZ_CHECK(info.data_offset == (info.major == 1 ? 10 : 12) + info.header_len &&
                   info.data_offset <= size,
               "data offset %llu of %zu", (unsigned long long)info.data_offset, size);
    if (info.has_object) {
        FUZZ_CHECK(info.dtype == NULL && info.nbytes == 0, "object array with a tensor dtype");
        return 0;
    }
    FUZZ_CHECK(!info.descr_unknown && info.ndim <= LD_MAX_DIMS, "unknown descr accepted");
    uint64_t numel = 1;
    for (uint32_t k = 0; k < info.ndim; k++) {
        FUZZ_CHECK(info.shape[k] >= 0, "negative dimension");
        FUZZ_CHECK(!__builtin_mul_overflow(numel, (uint64_t)info.shape[k], &numel), "numel");
    }
    FUZZ_CHECK(numel == info.numel, "numel %llu, shape says %llu", (unsigned long long)info.numel,
               (unsigned long long)numel);
    uint64_t nbytes;
    FUZZ_CHECK(!__builtin_mul_overflow(numel, info.itemsize, &nbytes) && nbytes == info.nbytes,
               "nbytes");
    FUZZ_CHECK(info.nbytes + info.trailing == size - info.data_offset, "body accounting");
    if (!info.dtype)
        return 0;
    FUZZ_CHECK(info.dtype->size == info.itemsize, "tensor size %u, itemsize %llu", info.dtype->size,
               (unsigned long long)info.itemsize);
    ld_set s;
    ld_set_init(&s, &mem, &lim, NULL, NULL);
    st = npy_add_tensor(&s, "array", &info, data + info.data_offset, size - info.data_offset, &err);
    FUZZ_CHECK(st == BRINE_OK || st == BRINE_ERR_LIMIT || st == BRINE_ERR_NOMEM,
               "npy_add_tensor refused an accepted array: %s", err.msg);
    if (st == BRINE_OK) {
        FUZZ_CHECK(s.n_tensors == 1 && s.tensors[0].numel == info.numel, "tensor count");
        uint8_t buf[4096];
        uint64_t per = sizeof buf / info.itemsize, sum = 0;
        for (uint64_t first = 0; first < info.numel; first += per) {
            uint64_t count = info.numel - first < per ? info.numel - first : per;
            FUZZ_CHECK(ld_tensor_read_range(&s, &s.tensors[0], first, count, buf, &err) == BRINE_OK,
                       "read: %s", err.msg);
            for (uint64_t i = 0; i < count * info.itemsize; i++)
                sum += buf[i];
        }
        (void)sum;
    }
    ld_set_free(&s);
    FUZZ_CHECK(mem.used == 0, "the tensor set left %llu bytes charged",
               (unsigned long long)mem.used);
    return 0;
}
