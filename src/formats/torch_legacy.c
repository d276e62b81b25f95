/*
 * torch_legacy.c — PyTorch's legacy format (torch.save(..., _use_new_zipfile_serialization=
 * False), and every torch.save before 1.6): five pickles back to back — the magic number
 * 0x1950a86a20f9469cfc6c, the protocol version, sys_info, the saved object, the list of storage
 * keys — then, for each key in that order, an int64 element count and the storage's raw bytes.
 * torch.serialization._legacy_load reads it with a persistent_load that takes
 * ('storage', class, key, location, numel, view_metadata) tuples. Every pickle is judged, the
 * records are bounds-checked against the declared storages, and the saved object's tensors
 * are validated (scan) or rebuilt (load) from the same graph.
 */
#include <inttypes.h>
#include <string.h>

#include "core/cursor.h"
#include "formats/format.h"
#include "load/container.h"

static const uint8_t torch_magic_le[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                           0x20, 0x6a, 0xa8, 0x50, 0x19};

/* After the 5 pickles: for each key of pickle 5, int64 count then count × element bytes. */
static brine_status check_legacy_storages(fmt_env *env, ld_container *box, size_t pos)
{
    const pk_graph *g = box->g;
    const uint8_t *data = box->data;
    size_t len = box->len;
    const pk_node *keys = pk_at(g, g->pickles[4].root);
    if (keys->kind != K_LIST)
        return fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)pos,
                           "legacy torch file: the fifth pickle is not the list of storage keys");
    for (uint32_t k = 0; k < keys->count; k++) {
        uint32_t elem = 0;
        int64_t numel = -1;
        /* storage keys are indexed once, then looked up (issue 7.5: 4,000 tensors took 156 s) */
        if (ld_legacy_lookup(box, pk_at(g, keys->items[k]), &elem, &numel) == -2)
            return BRINE_ERR_NOMEM;
        if (!elem || numel < 0)
            return fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)pos,
                               "legacy torch file: storage key %u has no storage reference", k);
        if (len - pos < 8)
            return fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)pos,
                               "legacy torch storage %u needs an 8-byte count, %zu bytes remain", k,
                               len - pos);
        uint64_t count = ld_le64(data + pos);
        uint64_t bytes;
        if (count != (uint64_t)numel || __builtin_mul_overflow(count, (uint64_t)elem, &bytes) ||
            bytes > len - pos - 8)
            return fmt_finding(env, BRINE_INVALID, "malformed", NULL, (int64_t)pos,
                               "legacy torch storage %u: count %" PRIu64 " (pickle says %" PRId64
                               ") of %u-byte elements, %zu bytes remain",
                               k, count, numel, elem, len - pos - 8);
        pos += 8 + (size_t)bytes;
    }
    if (pos != len)
        return fmt_finding(env, BRINE_INVALID, "trailing-data", NULL, (int64_t)pos,
                           "%zu bytes after the last legacy torch storage", len - pos);
    return BRINE_OK;
}

/* The first pickle is the magic number, as torch.save spells it at any protocol: optional
 * PROTO and FRAME, then LONG1/LONG4 of its 10 little-endian bytes or a LONG/INT line of its
 * decimal or hex digits, then STOP. Matched on the bytes, allocating nothing (a bid must not
 * depend on memory). A spelling this misses is read as a raw pickle, which is stricter. */
static int legacy_bid(const uint8_t *data, size_t len)
{
    cursor c;
    cur_init(&c, data, len);
    const uint8_t *p;
    if (cur_left(&c) >= 2 && data[0] == 0x80 && data[1] <= 5)
        cur_take(&c, 2, &p);
    if (cur_left(&c) >= 9 && c.p[0] == 0x95)
        cur_take(&c, 9, &p);
    int ok = 0;
    if (cur_left(&c) >= 12 && c.p[0] == 0x8a && c.p[1] == 10) {
        ok = memcmp(c.p + 2, torch_magic_le, 10) == 0;
        cur_take(&c, 12, &p);
    } else if (cur_left(&c) >= 15 && c.p[0] == 0x8b && ld_le32(c.p + 1) == 10) {
        ok = memcmp(c.p + 5, torch_magic_le, 10) == 0;
        cur_take(&c, 15, &p);
    } else if (cur_left(&c) >= 2 && (c.p[0] == 'L' || c.p[0] == 'I')) {
        static const char *const spell[] = {"119547037146038801333356", "0x1950a86a20f9469cfc6c"};
        for (int k = 0; k < 2 && !ok; k++) {
            size_t n = strlen(spell[k]);
            size_t l = cur_left(&c) > n + 1 && c.p[1 + n] == 'L' ? 1 : 0;
            if (cur_left(&c) >= n + 2 + l && memcmp(c.p + 1, spell[k], n) == 0 &&
                c.p[1 + n + l] == '\n') {
                ok = 1;
                cur_take(&c, n + 2 + l, &p);
            }
        }
    }
    return ok && cur_left(&c) && c.p[0] == '.' ? 95 : 0;
}

static brine_status legacy_walk(fmt_env *env, const uint8_t *data, size_t len)
{
    fmt_set_format(env, "pytorch-legacy");
    fmt_pickle p = {NULL, data, len, 0, 5, PID_TORCH_LEGACY, 0, NULL, NULL, FMT_PICKLE};
    pk_graph *g;
    brine_status st = fmt_run_pickle(env, &p, &g, NULL);
    if (st || g->failed || g->n_pickles < 5) {
        fmt_graph_free(env, g);
        return st;
    }
    ld_container box;
    memset(&box, 0, sizeof box);
    box.data = data;
    box.len = len;
    box.g = g;
    box.mem = fmt_mem(env);
    size_t before = fmt_finding_count(env);
    st = check_legacy_storages(env, &box, (size_t)g->pickles[4].end);
    if (!st && fmt_finding_count(env) == before) /* the records are sound: the tensors */
        st = fmt_model_root(env, NULL, g, g->pickles[3].root, ld_legacy_resolve, ld_legacy_resolve,
                            &box);
    ld_container_close(&box);
    fmt_graph_free(env, g);
    return st;
}

extern const fmt_ops fmt_raw_pickle;
const fmt_ops fmt_torch_legacy = {"pytorch-legacy", legacy_bid, legacy_walk, &fmt_raw_pickle};
