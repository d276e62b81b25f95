/*
 * alloc.h — every allocation brine makes goes through here.
 *
 * A mem_budget is charged before memory is requested (SQLite's sqlite3Malloc): an input can
 * never make brine allocate more than the budget, whatever sizes it declares. Sizes are
 * computed by the caller with checked arithmetic; this layer refuses what the budget
 * cannot cover. For tests, mem_fail_after(n) makes the n-th allocation from now fail.
 */
#ifndef BRINE_CORE_ALLOC_H
#define BRINE_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

typedef struct mem_budget {
    uint64_t limit; /* bytes that may be outstanding */
    uint64_t used;  /* bytes outstanding now */
    uint64_t peak;  /* most bytes ever outstanding */
    int exhausted;  /* set when a request was refused for budget reasons */
} mem_budget;

void mem_budget_init(mem_budget *b, uint64_t limit);
/* NULL when the budget or the system refuses; n == 0 returns a unique small block. */
void *mem_alloc(mem_budget *b, size_t n);
void *mem_calloc(mem_budget *b, size_t count, size_t size);
/* Resizes p (old_n bytes) to new_n; on failure p is untouched and NULL is returned. */
void *mem_realloc(mem_budget *b, void *p, size_t old_n, size_t new_n);
void mem_free(mem_budget *b, void *p, size_t n);
/* Duplicates n bytes and appends a NUL. */
char *mem_strndup(mem_budget *b, const char *s, size_t n);

/* For C libraries' allocator hooks, whose free callback is not told the size (zlib, liblzma,
 * bzip2, lz4, zstd): budget is a mem_budget *, items × size is checked for overflow. */
void *mem_lib_alloc(void *budget, size_t items, size_t size);
void mem_lib_free(void *budget, void *addr);

/* Test hook: the n-th allocation from now fails (n >= 1); 0 disables. Returns how many
 * allocations have been attempted since the last call. Not thread-safe. */
uint64_t mem_fail_after(uint64_t n);

/* mem_grow when the array must grow. */
int mem_grow_to(mem_budget *b, void **arr, size_t *cap, size_t need, size_t elem);

/* Grows a typed array to hold at least need elements, doubling; 0 on success. Inline: most
 * calls find room (a push per opcode of the pickle machine). */
static inline int mem_grow(mem_budget *b, void **arr, size_t *cap, size_t need, size_t elem)
{
    return need <= *cap ? 0 : mem_grow_to(b, arr, cap, need, elem);
}

#endif
