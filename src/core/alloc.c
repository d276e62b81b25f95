/* alloc.c — budgeted allocation and allocation-failure injection. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Per thread, so that threads scanning at once never share (or race on) the injection counter. */
static _Thread_local uint64_t fail_at;  /* allocation number that fails; 0 = never */
static _Thread_local uint64_t attempts; /* allocations attempted since mem_fail_after */

uint64_t mem_fail_after(uint64_t n)
{
    uint64_t seen = attempts;
    fail_at = n;
    attempts = 0;
    return seen;
}

static int injected_failure(void)
{
    attempts++;
    return fail_at && attempts == fail_at;
}

void mem_budget_init(mem_budget *b, uint64_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

static int charge(mem_budget *b, size_t n)
{
    if (n > b->limit - b->used || b->used > b->limit) {
        b->exhausted = 1;
        return -1;
    }
    b->used += n;
    if (b->used > b->peak)
        b->peak = b->used;
    return 0;
}

void *mem_alloc(mem_budget *b, size_t n)
{
    if (injected_failure() || charge(b, n))
        return NULL;
    void *p = malloc(n ? n : 1);
    if (!p)
        b->used -= n;
    return p;
}

void *mem_calloc(mem_budget *b, size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        b->exhausted = 1;
        return NULL;
    }
    void *p = mem_alloc(b, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *mem_realloc(mem_budget *b, void *p, size_t old_n, size_t new_n)
{
    if (!p)
        return mem_alloc(b, new_n);
    if (injected_failure())
        return NULL;
    if (new_n > old_n && charge(b, new_n - old_n))
        return NULL;
    void *q = realloc(p, new_n ? new_n : 1);
    if (!q) {
        if (new_n > old_n)
            b->used -= new_n - old_n;
        return NULL;
    }
    if (new_n < old_n)
        b->used -= old_n - new_n;
    return q;
}

void mem_free(mem_budget *b, void *p, size_t n)
{
    if (!p)
        return;
    b->used -= n <= b->used ? n : b->used;
    free(p);
}

char *mem_strndup(mem_budget *b, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = mem_alloc(b, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

int mem_grow_to(mem_budget *b, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    /* the first block holds 256 bytes (at least 8 elements): most arrays of a small pickle
     * then never grow (10 reallocs per file of a folder scan before) */
    size_t ncap = *cap ? *cap : elem && 256 / elem > 8 ? 256 / elem : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    size_t old_bytes, new_bytes;
    if (__builtin_mul_overflow(*cap, elem, &old_bytes) ||
        __builtin_mul_overflow(ncap, elem, &new_bytes))
        return -1;
    void *p = mem_realloc(b, *arr, old_bytes, new_bytes);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* The size is kept in a 16-byte prefix, which also keeps malloc's alignment. */
void *mem_lib_alloc(void *budget, size_t items, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(items, size, &n) || __builtin_add_overflow(n, (size_t)16, &n))
        return NULL;
    uint8_t *p = mem_alloc(budget, n);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    return p + 16;
}

void mem_lib_free(void *budget, void *addr)
{
    if (!addr)
        return;
    uint8_t *p = (uint8_t *)addr - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    mem_free(budget, p, n);
}
