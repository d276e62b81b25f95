/*
 * container.h — where a model's pickle and storage bytes live: a raw pickle, a legacy torch
 * stack (five pickles then storage records), or a torch zip (data.pkl + data/<key>).
 */
#ifndef BRINE_LOAD_CONTAINER_H
#define BRINE_LOAD_CONTAINER_H

#include "brine.h"
#include "core/alloc.h"
#include "load/tensors.h"
#include "pickle/machine.h"

typedef struct ld_container {
    const char *format;     /* "pickle", "pytorch-legacy", "pytorch-zip" */
    const uint8_t *data;    /* the whole file */
    size_t len;
    mem_budget *mem;
    const brine_limits *lim;
    const pk_graph *g;      /* the graph of the container's pickle */
    pk_id root;             /* the saved object */
    ld_resolve_fn resolve;  /* storage bytes for a persistent id */
    void *zip;              /* zip_archive, for pytorch-zip */
    char prefix[256];       /* "<root>/" of a torch zip */
    int big_endian;         /* torch zip byteorder record says "big" */
    const uint8_t *pickle;  /* the bytes of data.pkl (or the file) */
    size_t pickle_len;
    size_t pickle_owned;    /* nonzero when data.pkl was inflated */
    struct ld_held {
        const uint8_t *data;
        size_t len;
    } *held;                /* inflated storages, released with the archive */
    size_t n_held, cap_held;
    struct ld_legacy_index *legacy; /* storage keys of a legacy file, indexed on first use */
} ld_container;

/* Opens the container of a file the scan identified as scan_format. */
brine_status ld_container_open(ld_container *c, const char *scan_format, const uint8_t *data,
                               size_t len, mem_budget *mem, const brine_limits *lim,
                               brine_error *err);
/* Runs the machine over the container's pickle(s) into g and sets c->root. */
brine_status ld_container_root(ld_container *c, pk_graph *g, brine_error *err);
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
