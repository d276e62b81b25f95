/*
 * hashmap.h — one small open-addressing map from byte strings to 64-bit values.
 *
 * Threat model: the keys come from hostile files (storage keys, nested pickle digests). A
 * fixed hash lets a file choose keys that all land in one probe chain, turning every lookup
 * into a scan of the table (the quadratic blow-up of hash-flooding, CVE-2011-4885 in PHP's
 * arrays). Keys are hashed with SipHash-1-3 under a secret key drawn from getrandom() once
 * per process, so a file cannot precompute collisions. Every byte (slots and copied keys) is
 * charged to the caller's mem_budget.
 */
#ifndef BRINE_CORE_HASHMAP_H
#define BRINE_CORE_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/alloc.h"

typedef struct hmap_slot {
    uint64_t hash;
    size_t key_off; /* into keys */
    size_t key_len;
    uint64_t value;
    int used;
} hmap_slot;

typedef struct hmap {
    mem_budget *mem;
    hmap_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
    uint8_t *keys; /* copies of every key, back to back */
    size_t keys_len, keys_cap;
    uint64_t k0, k1; /* SipHash key */
} hmap;

/* An empty map charging mem. Allocates nothing until the first insert. */
void hmap_init(hmap *m, mem_budget *mem);
/* Frees everything; the map may be re-initialised. Accepts a zeroed map. */
void hmap_free(hmap *m);

/* 1 and *value when key is present, else 0. */
int hmap_get(const hmap *m, const void *key, size_t len, uint64_t *value);
/* Adds key → value when key is absent (the key bytes are copied) and returns 0; when present
 * returns 1 with the stored value in *existing (may be NULL) and changes nothing; -1 when
 * the budget or the system refused memory (the map is unchanged). */
int hmap_put(hmap *m, const void *key, size_t len, uint64_t value, uint64_t *existing);

/* The process's secret SipHash key (getrandom on first use; clock and address when no
 * entropy is available), for tables that hash with hmap_siphash themselves (the pickle memo,
 * the findings set). Thread-safe. */
void hmap_seed(uint64_t *k0, uint64_t *k1);

/* SipHash-1-3 of data under (k0, k1). */
uint64_t hmap_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
