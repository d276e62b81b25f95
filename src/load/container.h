/*
 * container.h — where a legacy torch file's storages live: five pickles, then one record per
 * storage key (formats/torch_legacy.c walks it; the tensor pass resolves storages here).
 */
#ifndef BRINE_LOAD_CONTAINER_H
#define BRINE_LOAD_CONTAINER_H

#include "brine.h"
#include "core/alloc.h"
#include "load/tensors.h"
#include "pickle/machine.h"

typedef struct ld_container {
    const uint8_t *data; /* the whole file */
    size_t len;
    mem_budget *mem;
    const pk_graph *g;              /* the graph of its five pickles */
    struct ld_legacy_index *legacy; /* storage keys and records, indexed on first use */
} ld_container;

void ld_container_close(ld_container *c);

/* The element size and declared element count of legacy storage `key` (a text node), from
 * its persistent id in g; -1 when no valid ('storage', class, key, location, numel, …) names it. */
int ld_legacy_storage(const pk_graph *g, const pk_node *key, uint32_t *elem, int64_t *numel);
/* ld_legacy_storage through an index of g's persistent ids, built on the first call (c->g and
 * c->mem set; freed by ld_container_close). Each call is one hash lookup, so checking every
 * key of a checkpoint is linear. Returns -1 as ld_legacy_storage does, -2 when memory ran out. */
int ld_legacy_lookup(ld_container *c, const pk_node *key, uint32_t *elem, int64_t *numel);
/* Storage bytes of a legacy torch file (ctx: an ld_container with data, len, mem and g set;
 * close it with ld_container_close). The records are located once, then looked up by key. */
int ld_legacy_resolve(void *ctx, ld_storage *s, brine_error *err);

#endif
