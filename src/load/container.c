/*
 * container.c — the storages of a legacy torch file, located the way torch's legacy loader
 * reads them: five pickles, then one record per storage key in the order of the fifth pickle.
 * Keys and records are indexed once (a checkpoint of 4,000 tensors took 156 s by linear scans).
 */
#include "load/container.h"

#include <stdio.h>
#include <string.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/hashmap.h"
#include "policy/policy.h"

/* ------------------------------------------------------------------ legacy torch files */

int ld_legacy_storage(const pk_graph *g, const pk_node *key, uint32_t *elem, int64_t *numel)
{
    if (key->kind != K_STR && key->kind != K_PYSTR)
        return -1;
    for (size_t i = 0; i < g->n_events; i++) {
        const pk_event *e = &g->events[i];
        if (e->kind != EV_PERSID)
            continue;
        const pk_node *pid = pk_at(g, pk_at(g, e->node)->a);
        if (pid->kind != K_TUPLE || pid->count < 5)
            continue;
        const pk_node *pk = pk_at(g, pid->items[2]), *cls = pk_at(g, pid->items[1]);
        int64_t count;
        if ((pk->kind != K_STR && pk->kind != K_PYSTR) || pk->v.s.len != key->v.s.len ||
            memcmp(pk->v.s.p, key->v.s.p, key->v.s.len) != 0)
            continue;
        const char *dt = cls->kind == K_GLOBAL
                             ? pol_torch_storage_dtype(g->globals[cls->v.g.global].name)
                             : NULL;
        const ld_dtype *d = dt ? ld_dtype_by_torch(dt) : NULL;
        if (!d || !pk_int_of(g, pid->items[4], &count) || count < 0)
            return -1;
        *elem = d->size;
        *numel = count;
        return 0;
    }
    return -1;
}

/* The index behind ld_legacy_lookup and ld_legacy_resolve. A legacy checkpoint names each
 * storage in a persistent id and again in the key list of pickle 5; matching them by linear
 * scans made a 4,000-tensor checkpoint take minutes (issue 7.5), so both sides are hashed. */
typedef struct legacy_pid {
    uint32_t elem; /* 0: the first persistent id naming the key is not a valid storage */
    int64_t numel;
} legacy_pid;

typedef struct legacy_record {
    uint64_t offset; /* of the bytes, after the 8-byte count */
    uint64_t nbytes;
} legacy_record;

struct ld_legacy_index {
    hmap by_pid; /* key → index into pids (the first persistent id naming it) */
    legacy_pid *pids;
    size_t n_pids, cap_pids;
    int records_built;
    hmap by_record; /* key → index into records (the first record of that key) */
    legacy_record *records;
    size_t n_records, cap_records;
};

static void legacy_index_free(mem_budget *mem, struct ld_legacy_index *ix)
{
    if (!ix)
        return;
    hmap_free(&ix->by_pid);
    hmap_free(&ix->by_record);
    mem_free(mem, ix->pids, ix->cap_pids * sizeof *ix->pids);
    mem_free(mem, ix->records, ix->cap_records * sizeof *ix->records);
    mem_free(mem, ix, sizeof *ix);
}

/* Same rules as ld_legacy_storage, for every persistent id at once: the first one that names
 * a key decides it. */
static int legacy_index_build(ld_container *c)
{
    const pk_graph *g = c->g;
    struct ld_legacy_index *ix = mem_calloc(c->mem, 1, sizeof *ix);
    if (!ix)
        return -1;
    hmap_init(&ix->by_pid, c->mem);
    hmap_init(&ix->by_record, c->mem);
    for (size_t i = 0; i < g->n_events; i++) {
        const pk_event *e = &g->events[i];
        if (e->kind != EV_PERSID)
            continue;
        const pk_node *pid = pk_at(g, pk_at(g, e->node)->a);
        if (pid->kind != K_TUPLE || pid->count < 5)
            continue;
        const pk_node *pk = pk_at(g, pid->items[2]), *cls = pk_at(g, pid->items[1]);
        if (pk->kind != K_STR && pk->kind != K_PYSTR)
            continue;
        if (hmap_get(&ix->by_pid, pk->v.s.p, (size_t)pk->v.s.len, NULL))
            continue;
        const char *dt = cls->kind == K_GLOBAL
                             ? pol_torch_storage_dtype(g->globals[cls->v.g.global].name)
                             : NULL;
        const ld_dtype *d = dt ? ld_dtype_by_torch(dt) : NULL;
        legacy_pid p = {0, -1};
        int64_t count;
        if (d && pk_int_of(g, pid->items[4], &count) && count >= 0) {
            p.elem = d->size;
            p.numel = count;
        }
        if (mem_grow(c->mem, (void **)&ix->pids, &ix->cap_pids, ix->n_pids + 1, sizeof *ix->pids) ||
            hmap_put(&ix->by_pid, pk->v.s.p, (size_t)pk->v.s.len, ix->n_pids, NULL) < 0) {
            legacy_index_free(c->mem, ix);
            return -1;
        }
        ix->pids[ix->n_pids++] = p;
    }
    c->legacy = ix;
    return 0;
}

int ld_legacy_lookup(ld_container *c, const pk_node *key, uint32_t *elem, int64_t *numel)
{
    if (key->kind != K_STR && key->kind != K_PYSTR)
        return -1;
    if (!c->legacy && legacy_index_build(c))
        return -2;
    uint64_t i;
    if (!hmap_get(&c->legacy->by_pid, key->v.s.p, (size_t)key->v.s.len, &i) ||
        !c->legacy->pids[i].elem)
        return -1;
    *elem = c->legacy->pids[i].elem;
    *numel = c->legacy->pids[i].numel;
    return 0;
}

/* Storage records after the five pickles: for each key of pickle 5, an int64 count and
 * count × itemsize bytes, read in order up to the first that does not fit. */
static int legacy_records_build(ld_container *box)
{
    struct ld_legacy_index *ix = box->legacy;
    const pk_graph *g = box->g;
    const pk_node *keys = pk_at(g, g->pickles[4].root);
    size_t pos = (size_t)g->pickles[4].end;
    for (uint32_t k = 0; keys->kind == K_LIST && k < keys->count; k++) {
        const pk_node *key = pk_at(g, keys->items[k]);
        uint32_t elem;
        int64_t numel;
        uint64_t bytes;
        int found = box->len - pos < 8 ? -1 : ld_legacy_lookup(box, key, &elem, &numel);
        if (found == -2)
            return -1;
        if (found != 0 ||
            __builtin_mul_overflow(ld_le64(box->data + pos), (uint64_t)elem, &bytes) ||
            bytes > box->len - pos - 8)
            break;
        if (mem_grow(box->mem, (void **)&ix->records, &ix->cap_records, ix->n_records + 1,
                     sizeof *ix->records))
            return -1;
        int put = hmap_put(&ix->by_record, key->v.s.p, (size_t)key->v.s.len, ix->n_records, NULL);
        if (put < 0)
            return -1;
        if (put == 0) {
            ix->records[ix->n_records].offset = pos + 8;
            ix->records[ix->n_records++].nbytes = bytes;
        }
        pos += 8 + (size_t)bytes;
    }
    ix->records_built = 1;
    return 0;
}

int ld_legacy_resolve(void *ctx, ld_storage *s, brine_error *err)
{
    ld_container *box = ctx;
    if ((!box->legacy && legacy_index_build(box)) ||
        (!box->legacy->records_built && legacy_records_build(box))) {
        err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
        return -1;
    }
    uint64_t i;
    if (hmap_get(&box->legacy->by_record, s->key, strlen(s->key), &i)) {
        s->data = box->data + box->legacy->records[i].offset;
        s->nbytes = box->legacy->records[i].nbytes;
        return 0;
    }
    err_set(err, BRINE_ERR_MALFORMED, __LINE__, "legacy torch storage %.60s has no data record",
            s->key);
    return -1;
}

void ld_container_close(ld_container *c)
{
    if (c->mem)
        legacy_index_free(c->mem, c->legacy);
    memset(c, 0, sizeof *c);
}
