/*
 * test_linear.c — the seeded hash map behind storage-key lookups and the nested-pickle cache
 * (issue 7.5).
 *
 *   test_linear             unit tests: insert/lookup, duplicates, empty and binary keys,
 *                           growth, budget refusal and allocation failure leave the map usable
 *   test_linear --siphash HEX...   prints SipHash-1-3 under the zero key of each input, one
 *                           unsigned decimal a line (tests/python/test_linear.py compares them
 *                           with CPython's hash() of bytes under PYTHONHASHSEED=0)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hashmap.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int print_siphash(int argc, char **argv)
{
    static uint8_t buf[1 << 16];
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]) / 2;
        if (n > sizeof buf)
            return 2;
        for (size_t k = 0; k < n; k++) {
            int hi = hexval(argv[i][2 * k]), lo = hexval(argv[i][2 * k + 1]);
            if (hi < 0 || lo < 0)
                return 2;
            buf[k] = (uint8_t)(hi * 16 + lo);
        }
        printf("%" PRIu64 "\n", hmap_siphash(0, 0, buf, n));
    }
    return 0;
}

static void test_basic(void)
{
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(1) << 30);
    hmap m;
    hmap_init(&m, &mem);
    uint64_t v = 7;
    CHECK(hmap_get(&m, "a", 1, &v) == 0 && v == 7); /* empty map */
    CHECK(hmap_put(&m, "", 0, 11, NULL) == 0);      /* the empty key is a key */
    CHECK(hmap_get(&m, "", 0, &v) == 1 && v == 11);
    /* keys that differ only in a NUL or in length */
    CHECK(hmap_put(&m, "ab\0c", 4, 1, NULL) == 0);
    CHECK(hmap_put(&m, "ab\0d", 4, 2, NULL) == 0);
    CHECK(hmap_put(&m, "ab", 2, 3, NULL) == 0);
    CHECK(hmap_get(&m, "ab\0c", 4, &v) == 1 && v == 1);
    CHECK(hmap_get(&m, "ab\0d", 4, &v) == 1 && v == 2);
    CHECK(hmap_get(&m, "ab", 2, &v) == 1 && v == 3);
    CHECK(hmap_get(&m, "ab\0", 3, &v) == 0);
    /* a second put keeps the first value and reports it */
    uint64_t old = 0;
    CHECK(hmap_put(&m, "ab", 2, 99, &old) == 1 && old == 3);
    CHECK(hmap_get(&m, "ab", 2, &v) == 1 && v == 3);
    /* many keys, through several doublings; the caller's buffer is reused (keys are copied) */
    char key[32];
    for (uint64_t i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, "layer%" PRIu64 ".weight", i);
        CHECK(hmap_put(&m, key, (size_t)n, i * 3, NULL) == 0);
    }
    CHECK(m.n == 100000 + 4);
    CHECK(m.n * 2 <= m.cap);
    int bad = 0;
    for (uint64_t i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, "layer%" PRIu64 ".weight", i);
        bad += !(hmap_get(&m, key, (size_t)n, &v) == 1 && v == i * 3);
    }
    CHECK(bad == 0);
    CHECK(hmap_get(&m, "layer100000.weight", 18, &v) == 0);
    hmap_free(&m);
    CHECK(mem.used == 0);
    hmap_free(&m); /* twice is harmless */
    CHECK(mem.used == 0);
}

/* The key is secret, not zero: the hash is not the one a file could compute offline. */
static void test_seeded(void)
{
    mem_budget mem;
    mem_budget_init(&mem, UINT64_C(1) << 20);
    hmap a, b;
    hmap_init(&a, &mem);
    hmap_init(&b, &mem);
    CHECK((a.k0 | a.k1) != 0);
    CHECK(a.k0 == b.k0 && a.k1 == b.k1); /* one key per process */
    CHECK(hmap_siphash(a.k0, a.k1, "storage", 7) != hmap_siphash(0, 0, "storage", 7));
    hmap_free(&a);
    hmap_free(&b);
}

/* The budget refuses: the put fails cleanly and everything stored before is still there. */
static void test_budget(void)
{
    mem_budget mem;
    mem_budget_init(&mem, 4096);
    hmap m;
    hmap_init(&m, &mem);
    uint64_t i = 0, v;
    char key[32];
    int rc = 0;
    for (; i < 100000 && rc == 0; i++) {
        int n = snprintf(key, sizeof key, "k%" PRIu64, i);
        rc = hmap_put(&m, key, (size_t)n, i, NULL);
    }
    CHECK(rc == -1);
    CHECK(mem.exhausted);
    CHECK(mem.used <= 4096);
    uint64_t stored = i - 1;
    CHECK(m.n == stored);
    for (uint64_t k = 0; k < stored; k++) {
        int n = snprintf(key, sizeof key, "k%" PRIu64, k);
        CHECK(hmap_get(&m, key, (size_t)n, &v) == 1 && v == k);
    }
    hmap_free(&m);
    CHECK(mem.used == 0);
}

/* Fail the N-th allocation for every N until a run of 1,000 inserts succeeds. */
static void test_alloc_failure(void)
{
    for (uint64_t nth = 1; nth < 1000; nth++) {
        mem_budget mem;
        mem_budget_init(&mem, UINT64_C(1) << 30);
        hmap m;
        hmap_init(&m, &mem);
        mem_fail_after(nth);
        int failed = 0;
        char key[32];
        for (uint64_t i = 0; i < 1000; i++) {
            int n = snprintf(key, sizeof key, "%" PRIu64, i);
            int rc = hmap_put(&m, key, (size_t)n, i, NULL);
            if (rc < 0) {
                failed = 1;
                CHECK(hmap_get(&m, key, (size_t)n, NULL) == 0);
                CHECK(hmap_put(&m, key, (size_t)n, i, NULL) == 0); /* usable again */
            }
        }
        mem_fail_after(0);
        CHECK(m.n == 1000);
        hmap_free(&m);
        CHECK(mem.used == 0);
        if (!failed)
            return;
    }
    fprintf(stderr, "allocation failures never stopped\n");
    failures++;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--siphash") == 0)
        return print_siphash(argc - 2, argv + 2);
    test_basic();
    test_seeded();
    test_budget();
    test_alloc_failure();
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    else
        printf("hashmap: all checks passed\n");
    return failures ? 1 : 0;
}
