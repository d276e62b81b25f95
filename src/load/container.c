/*
 * container.c — locating a model's pickle and storages inside its container, the way the
 * loader that will read it does (torch's legacy loader reads five pickles, then one record per
 * storage key in the order of the fifth pickle; a raw pickle has its arrays inline).
 */
#include "load/container.h"

#include <stdio.h>
#include <string.h>

#include "core/cursor.h"
#include "core/error.h"
#include "core/hashmap.h"
#include "formats/zip.h"
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
        const pk_node *n = pk_at(g, pid->items[4]);
        if ((pk->kind != K_STR && pk->kind != K_PYSTR) || pk->v.s.len != key->v.s.len ||
            memcmp(pk->v.s.p, key->v.s.p, key->v.s.len) != 0)
            continue;
        const char *dt = cls->kind == K_GLOBAL
                             ? pol_torch_storage_dtype(g->globals[cls->v.g.global].name)
                             : NULL;
        const ld_dtype *d = dt ? ld_dtype_by_torch(dt) : NULL;
        if (!d || n->kind != K_INT || n->v.i < 0)
            return -1;
        *elem = d->size;
        *numel = n->v.i;
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
    hmap by_pid;           /* key → index into pids (the first persistent id naming it) */
    legacy_pid *pids;
    size_t n_pids, cap_pids;
    int records_built;
    hmap by_record;        /* key → index into records (the first record of that key) */
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
        const pk_node *n = pk_at(g, pid->items[4]);
        if (pk->kind != K_STR && pk->kind != K_PYSTR)
            continue;
        if (hmap_get(&ix->by_pid, pk->v.s.p, (size_t)pk->v.s.len, NULL))
            continue;
        const char *dt = cls->kind == K_GLOBAL
                             ? pol_torch_storage_dtype(g->globals[cls->v.g.global].name)
                             : NULL;
        const ld_dtype *d = dt ? ld_dtype_by_torch(dt) : NULL;
        legacy_pid p = {0, -1};
        if (d && n->kind == K_INT && n->v.i >= 0) {
            p.elem = d->size;
            p.numel = n->v.i;
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
        if (found != 0 || __builtin_mul_overflow(ld_le64(box->data + pos), (uint64_t)elem, &bytes) ||
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

/* torch zip: storage <key> is the record <folder>/data/<key>, in the file's byte order. Stored
 * records are mapped as they are; deflated ones are inflated (miniz accepts them too). */
static int zip_resolve(void *ctx, ld_storage *s, brine_error *err)
{
    ld_container *c = ctx;
    char name[512];
    int n = snprintf(name, sizeof name, "%sdata/%s", c->prefix, s->key);
    long idx = n > 0 && (size_t)n < sizeof name ? zip_find(c->zip, name, (size_t)n) : -1;
    if (idx < 0) {
        err_set(err, BRINE_ERR_MALFORMED, __LINE__, "storage %.60s has no record in the archive",
                s->key);
        return -1;
    }
    const uint8_t *data;
    size_t len;
    int owned;
    if (zip_read(c->zip, (size_t)idx, ZIP_READ_NO_CRC, &data, &len, &owned, err))
        return -1;
    if (owned) {
        if (mem_grow(c->mem, (void **)&c->held, &c->cap_held, c->n_held + 1, sizeof *c->held)) {
            zip_release(c->zip, data, len, owned);
            err_set(err, BRINE_ERR_NOMEM, __LINE__, "out of memory");
            return -1;
        }
        c->held[c->n_held].data = data;
        c->held[c->n_held++].len = len;
    }
    s->data = data;
    s->nbytes = len;
    s->big_endian = c->big_endian;
    return 0;
}

static brine_status open_torch_zip(ld_container *c, brine_error *err)
{
    brine_status st = zip_open(c->data, c->len, c->lim, c->mem, (zip_archive **)&c->zip, err);
    if (st)
        return st;
    const zip_entry *first = zip_count(c->zip) ? zip_entry_at(c->zip, 0) : NULL;
    const uint8_t *slash = first ? memchr(first->name, '/', first->name_len) : NULL;
    if (!slash || (size_t)(slash - first->name) + 1 >= sizeof c->prefix)
        return err_set(err, BRINE_ERR_MALFORMED, __LINE__,
                       "file in archive is not in a subdirectory");
    size_t pl = (size_t)(slash - first->name) + 1;
    memcpy(c->prefix, first->name, pl);
    c->prefix[pl] = '\0';
    char name[300];
    int n = snprintf(name, sizeof name, "%sbyteorder", c->prefix);
    long bo = zip_find(c->zip, name, (size_t)n);
    if (bo >= 0) {
        const uint8_t *d;
        size_t l;
        int owned;
        if ((st = zip_read(c->zip, (size_t)bo, 0, &d, &l, &owned, err)))
            return st;
        c->big_endian = l == 3 && memcmp(d, "big", 3) == 0;
        int little = l == 6 && memcmp(d, "little", 6) == 0;
        zip_release(c->zip, d, l, owned);
        if (!c->big_endian && !little)
            return err_set(err, BRINE_ERR_MALFORMED, __LINE__,
                           "byteorder record is neither 'little' nor 'big'");
    }
    n = snprintf(name, sizeof name, "%sdata.pkl", c->prefix);
    long dp = zip_find(c->zip, name, (size_t)n);
    if (dp < 0)
        return err_set(err, BRINE_ERR_MALFORMED, __LINE__, "no %s in the archive", name);
    int owned;
    if ((st = zip_read(c->zip, (size_t)dp, 0, &c->pickle, &c->pickle_len, &owned, err)))
        return st;
    c->pickle_owned = owned ? c->pickle_len : 0;
    c->resolve = zip_resolve;
    return BRINE_OK;
}

static int no_storages(void *ctx, ld_storage *s, brine_error *err)
{
    (void)ctx;
    err_set(err, BRINE_ERR_MALFORMED, __LINE__,
            "persistent id %.60s in a plain pickle: no storage records to read", s->key);
    return -1;
}

brine_status ld_container_open(ld_container *c, const char *scan_format, const uint8_t *data,
                               size_t len, mem_budget *mem, const brine_limits *lim,
                               brine_error *err)
{
    memset(c, 0, sizeof *c);
    c->data = data;
    c->len = len;
    c->mem = mem;
    c->lim = lim;
    if (strcmp(scan_format, "pickle") == 0) {
        c->format = "pickle";
        c->pickle = data;
        c->pickle_len = len;
        c->resolve = no_storages;
        return BRINE_OK;
    }
    if (strcmp(scan_format, "pytorch-legacy") == 0) {
        c->format = "pytorch-legacy";
        c->pickle = data;
        c->pickle_len = len;
        c->resolve = no_storages; /* replaced once the five pickles are read */
        return BRINE_OK;
    }
    if (strcmp(scan_format, "pytorch-zip") == 0) {
        c->format = "pytorch-zip";
        return open_torch_zip(c, err);
    }
    return err_set(err, BRINE_ERR_UNSUPPORTED, __LINE__,
                   "%s files hold no tensors brine can rebuild", scan_format);
}

brine_status ld_container_root(ld_container *c, pk_graph *g, brine_error *err)
{
    pk_run_options opts = {c->lim, NULL, NULL};
    c->g = g;
    brine_status st = pk_run(g, c->pickle, c->pickle_len, 0, &opts, err);
    if (st)
        return st;
    const pk_node *first = pk_at(g, g->pickles[0].root);
    int magic = first->kind == K_BIGINT && !(first->flags & PKF_BIGTEXT) && first->v.s.len == 10 &&
                memcmp(first->v.s.p, "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10) == 0;
    if (strcmp(c->format, "pytorch-zip") != 0 && magic) {
        /* legacy torch: magic, protocol version, sys_info, the object, the storage keys */
        for (int k = 1; k < 5 && !st; k++)
            st = pk_run(g, c->pickle, c->pickle_len, (size_t)g->pickles[g->n_pickles - 1].end,
                        &opts, err);
        if (st)
            return st;
        c->format = "pytorch-legacy";
        c->resolve = ld_legacy_resolve;
        c->root = g->pickles[3].root;
        return BRINE_OK;
    }
    c->root = g->pickles[0].root;
    return BRINE_OK;
}

void ld_container_close(ld_container *c)
{
    if (c->zip) {
        for (size_t i = 0; i < c->n_held; i++)
            zip_release(c->zip, c->held[i].data, c->held[i].len, 1);
        if (c->pickle_owned)
            zip_release(c->zip, c->pickle, c->pickle_len, 1);
        zip_close(c->zip);
    }
    if (c->mem) {
        mem_free(c->mem, c->held, c->cap_held * sizeof *c->held);
        legacy_index_free(c->mem, c->legacy);
    }
    memset(c, 0, sizeof *c);
}
