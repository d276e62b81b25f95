/*
 * hashmap.c — seeded open-addressing map (see hashmap.h for the threat model).
 *
 * Linear probing at load factor <= 1/2: with a keyed hash the expected probe length is
 * constant whatever keys the file chooses. The table only grows, by doubling; keys are copied
 * into one arena so the caller's strings may die.
 */
#include "core/hashmap.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t rotl(uint64_t x, unsigned b) { return (x << b) | (x >> (64 - b)); }

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

/* SipHash (Aumasson & Bernstein, 2012) with 1 compression and 3 finalisation rounds — the
 * variant CPython uses for str/bytes hashing since 3.11. */
uint64_t hmap_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575), v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
    uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261), v3 = k1 ^ UINT64_C(0x7465646279746573);
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* One secret key per process, drawn on first use (as CPython's hash secret): a syscall per
 * table made scans of many small nested pickles slower than the work they saved. */
static uint64_t process_key[2];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

static void draw_process_key(void)
{
    if (getrandom(process_key, sizeof process_key, GRND_NONBLOCK) != (ssize_t)sizeof process_key) {
        /* no entropy yet (early boot): still distinct per run */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        process_key[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30);
        process_key[1] = (uint64_t)(uintptr_t)&ts ^ UINT64_C(0x9E3779B97F4A7C15);
    }
}

void hmap_seed(uint64_t *k0, uint64_t *k1)
{
    pthread_once(&process_key_once, draw_process_key);
    *k0 = process_key[0];
    *k1 = process_key[1];
}

void hmap_init(hmap *m, mem_budget *mem)
{
    memset(m, 0, sizeof *m);
    m->mem = mem;
    hmap_seed(&m->k0, &m->k1);
}

void hmap_free(hmap *m)
{
    if (m->mem) {
        mem_free(m->mem, m->slots, m->cap * sizeof *m->slots);
        mem_free(m->mem, m->keys, m->keys_cap);
    }
    m->slots = NULL;
    m->keys = NULL;
    m->cap = m->n = m->keys_len = m->keys_cap = 0;
}

/* The slot holding key, or the empty slot where it would go. cap must be nonzero. */
static hmap_slot *probe(hmap_slot *slots, size_t cap, const uint8_t *keys, uint64_t h,
                        const void *key, size_t len)
{
    size_t mask = cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        hmap_slot *s = &slots[i];
        if (!s->used)
            return s;
        if (s->hash == h && s->key_len == len && (!len || !memcmp(keys + s->key_off, key, len)))
            return s;
    }
}

int hmap_get(const hmap *m, const void *key, size_t len, uint64_t *value)
{
    if (!m->cap)
        return 0;
    uint64_t h = hmap_siphash(m->k0, m->k1, key, len);
    const hmap_slot *s = probe(m->slots, m->cap, m->keys, h, key, len);
    if (!s->used)
        return 0;
    if (value)
        *value = s->value;
    return 1;
}

static int grow(hmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (ncap < m->cap || ncap > SIZE_MAX / sizeof(hmap_slot))
        return -1;
    hmap_slot *fresh = mem_calloc(m->mem, ncap, sizeof *fresh);
    if (!fresh)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        const hmap_slot *s = &m->slots[i];
        if (s->used)
            *probe(fresh, ncap, m->keys, s->hash, m->keys + s->key_off, s->key_len) = *s;
    }
    mem_free(m->mem, m->slots, m->cap * sizeof *m->slots);
    m->slots = fresh;
    m->cap = ncap;
    return 0;
}

int hmap_put(hmap *m, const void *key, size_t len, uint64_t value, uint64_t *existing)
{
    uint64_t h = hmap_siphash(m->k0, m->k1, key, len);
    if (m->cap) {
        hmap_slot *s = probe(m->slots, m->cap, m->keys, h, key, len);
        if (s->used) {
            if (existing)
                *existing = s->value;
            return 1;
        }
    }
    size_t need;
    if (__builtin_add_overflow(m->keys_len, len, &need))
        return -1;
    if (need > m->keys_cap && mem_grow(m->mem, (void **)&m->keys, &m->keys_cap, need, 1))
        return -1;
    if ((m->n + 1) * 2 > m->cap && grow(m))
        return -1;
    hmap_slot *s = probe(m->slots, m->cap, m->keys, h, key, len);
    if (len)
        memcpy(m->keys + m->keys_len, key, len);
    s->hash = h;
    s->key_off = m->keys_len;
    s->key_len = len;
    s->value = value;
    s->used = 1;
    m->keys_len = need;
    m->n++;
    return 0;
}
