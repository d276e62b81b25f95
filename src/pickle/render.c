/*
 * render.c — the object graph as pseudo-Python: what pickle.load would import, call and build.
 *
 * Output is bounded whatever the graph: each value is rendered into a fixed-size line with
 * per-container item caps, strings are cut, recursion is bounded by max_depth and cycles
 * (a list appended into itself) print as `...` as Python's repr does.
 */
#include "pickle/render.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pickle/opcodes.h"

enum { MAX_ITEMS = 12, MAX_TEXT = 80 };

/* Room kept at the end of every buffer for emit's " …\n". */
enum { SB_TAIL = 8 };

void sb_put(sbuf *b, const char *s, size_t n)
{
    size_t limit = b->cap > SB_TAIL ? b->cap - SB_TAIL : 0;
    if (b->len >= limit) {
        b->truncated = 1;
        return;
    }
    size_t room = limit - b->len;
    if (n > room) {
        /* cut at a character boundary: the text may be UTF-8 that ends up in JSON */
        n = room;
        while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
            n--;
        b->truncated = 1;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence (without surrogates) starting at s, or 0. */
static size_t utf8_seq(const uint8_t *s, uint64_t avail)
{
    size_t k = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    return k && k <= avail && pk_utf8_valid(s, k, 0) ? k : 0;
}

/* Python-style quoted text; non-printable bytes escaped. UTF-8 passes through. */
static void put_quoted(sbuf *b, const uint8_t *s, uint64_t n, int bytes_prefix)
{
    if (bytes_prefix)
        sb_put(b, "b", 1);
    sb_put(b, "'", 1);
    uint64_t lim = n > MAX_TEXT ? MAX_TEXT : n;
    for (uint64_t i = 0; i < lim; i++) {
        uint8_t c = s[i];
        if (c == '\'' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            sb_put(b, (const char *)&c, 1);
        } else if (c >= 0x80 && !bytes_prefix && utf8_seq(s + i, lim - i) > 0) {
            /* whole, valid, non-surrogate sequences only: the text may end up in JSON */
            size_t k = utf8_seq(s + i, lim - i);
            sb_put(b, (const char *)s + i, k);
            i += k - 1;
        } else {
            sb_fmt(b, "\\x%02x", c);
        }
    }
    sb_put(b, "'", 1);
    if (n > lim)
        sb_fmt(b, "...(%" PRIu64 " bytes)", n);
}

/* Unquoted text with the same escaping (names are UTF-8 by construction; this is a guard). */
static void put_text(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        size_t k = c >= 0x80 ? utf8_seq((const uint8_t *)s + i, n - i) : 1;
        if (c >= 0x20 && c != 0x7f && k) {
            sb_put(b, s + i, k);
            i += k - 1;
        } else {
            sb_fmt(b, "\\x%02x", c);
        }
    }
}

typedef struct walk {
    const pk_graph *g;
    unsigned depth, max_depth;
    pk_id path[64]; /* ids on the current path, for cycle detection */
} walk;

static void repr(walk *w, sbuf *b, pk_id id);

static void repr_items(walk *w, sbuf *b, const pk_node *n, const char *open, const char *close,
                       int pairs)
{
    sb_str(b, open);
    uint32_t shown = 0;
    for (uint32_t i = 0; i < n->count; i += pairs ? 2 : 1) {
        if (shown == MAX_ITEMS) {
            sb_fmt(b, ", ...(%u items)", pairs ? n->count / 2 : n->count);
            break;
        }
        if (shown++)
            sb_str(b, ", ");
        repr(w, b, n->items[i]);
        if (pairs && i + 1 < n->count) {
            sb_str(b, ": ");
            repr(w, b, n->items[i + 1]);
        }
    }
    if (n->kind == K_TUPLE && n->count == 1)
        sb_str(b, ",");
    sb_str(b, close);
}

static void repr(walk *w, sbuf *b, pk_id id)
{
    if (b->truncated)
        return;
    const pk_node *n = pk_at(w->g, id);
    for (unsigned i = 0; i < w->depth && i < 64; i++)
        if (w->path[i] == id) {
            sb_str(b, "...");
            return;
        }
    if (w->depth >= w->max_depth || w->depth >= 64) {
        sb_str(b, "...");
        return;
    }
    switch (n->kind) {
    case K_NONE: sb_str(b, "None"); return;
    case K_BOOL: sb_str(b, n->v.i ? "True" : "False"); return;
    case K_INT: sb_fmt(b, "%" PRId64, pk_int(w->g, id)); return;
    case K_BIGINT:
        if (n->flags & PKF_BIGTEXT)
            sb_put(b, (const char *)n->v.s.p, n->v.s.len > MAX_TEXT ? MAX_TEXT : n->v.s.len);
        else
            sb_fmt(b, "<int of %" PRIu64 " bytes>", n->v.s.len);
        return;
    case K_FLOAT: {
        double d = pk_float(w->g, id);
        if (isnan(d))
            sb_str(b, "nan");
        else if (isinf(d))
            sb_str(b, d > 0 ? "inf" : "-inf");
        else
            sb_fmt(b, "%.17g", d);
        return;
    }
    case K_STR: case K_PYSTR: put_quoted(b, n->v.s.p, n->v.s.len, 0); return;
    case K_BYTES: put_quoted(b, n->v.s.p, n->v.s.len, 1); return;
    case K_BYTEARRAY:
        sb_str(b, "bytearray(");
        put_quoted(b, n->v.s.p, n->v.s.len, 1);
        sb_str(b, ")");
        return;
    case K_GLOBAL: put_text(b, w->g->globals[n->v.g.global].full); return;
    case K_CALL: case K_NEWOBJ: case K_INST: case K_PERSID: case K_EXT: case K_BUFFER:
        sb_fmt(b, "_v%u", id);
        return;
    default: break;
    }
    w->path[w->depth++] = id;
    switch (n->kind) {
    case K_TUPLE: repr_items(w, b, n, "(", ")", 0); break;
    case K_LIST: repr_items(w, b, n, "[", "]", 0); break;
    case K_DICT: repr_items(w, b, n, "{", "}", 1); break;
    case K_SET:
        if (n->count)
            repr_items(w, b, n, "{", "}", 0);
        else
            sb_str(b, "set()");
        break;
    case K_FROZENSET: repr_items(w, b, n, "frozenset({", "})", 0); break;
    default: sb_str(b, "?"); break;
    }
    w->depth--;
}

void pk_repr(const pk_graph *g, pk_id id, unsigned max_depth, sbuf *b)
{
    walk w;
    memset(&w, 0, sizeof w);
    w.g = g;
    w.max_depth = max_depth ? max_depth : 16;
    repr(&w, b, id);
}

/* The call a node stands for, as `callable(args)`. */
static void repr_call(const pk_graph *g, const pk_node *n, sbuf *b)
{
    pk_repr(g, n->a, 8, b);
    if (n->kind == K_NEWOBJ)
        sb_str(b, ".__new__");
    const pk_node *args = pk_args(n) ? pk_at(g, pk_args(n)) : NULL;
    if (args && args->kind == K_TUPLE) {
        sb_str(b, "(");
        if (n->kind == K_NEWOBJ) {
            pk_repr(g, n->a, 8, b);
            if (args->count)
                sb_str(b, ", ");
        }
        for (uint32_t i = 0; i < args->count && !b->truncated; i++) {
            if (i)
                sb_str(b, ", ");
            pk_repr(g, args->items[i], 8, b);
        }
        if (pk_kwargs(g, n)) {
            sb_str(b, ", **");
            pk_repr(g, pk_kwargs(g, n), 8, b);
        }
        sb_str(b, ")");
    } else {
        sb_str(b, "(*");
        if (pk_args(n))
            pk_repr(g, pk_args(n), 8, b);
        sb_str(b, ")");
    }
}

static int emit(brine_write_fn write, void *ctx, sbuf *b)
{
    /* sb_put left SB_TAIL bytes free for this */
    const char *tail = b->truncated ? " …\n" : "\n";
    size_t n = strlen(tail);
    memcpy(b->buf + b->len, tail, n + 1);
    b->len += n;
    int rc = write(ctx, b->buf, b->len);
    b->len = 0;
    b->buf[0] = '\0';
    b->truncated = 0;
    return rc;
}

void pk_describe_event(const pk_graph *g, const pk_event *e, sbuf *b)
{
    const pk_node *n = e->node ? pk_at(g, e->node) : NULL;
    switch (e->kind) {
    case EV_GLOBAL: {
        const pk_global *gl = &g->globals[n->v.g.global];
        if (gl->dynamic) {
            sb_str(b, "import the name computed from ");
            pk_repr(g, n->a, 4, b);
        } else {
            sb_str(b, "from ");
            put_text(b, gl->module);
            sb_str(b, " import ");
            put_text(b, gl->name);
        }
        break;
    }
    case EV_CALL:
        sb_fmt(b, "_v%u = ", e->node);
        repr_call(g, n, b);
        break;
    case EV_BUILD:
        pk_repr(g, e->node, 4, b);
        sb_str(b, ".__setstate__(");
        pk_repr(g, e->aux, 8, b);
        sb_str(b, ")");
        break;
    case EV_MUTATE:
        pk_repr(g, e->node, 4, b);
        sb_fmt(b, ".%s(", e->opcode == OPC_SETITEM || e->opcode == OPC_SETITEMS ? "update"
                          : e->opcode == OPC_ADDITEMS                           ? "add"
                                                                                : "extend");
        pk_repr(g, e->aux, 8, b);
        sb_str(b, ")");
        break;
    case EV_PERSID:
        sb_fmt(b, "_v%u = persistent_load(", e->node);
        pk_repr(g, n->a, 8, b);
        sb_str(b, ")");
        break;
    case EV_EXT:
        sb_fmt(b, "_v%u = copyreg extension #%" PRId64, e->node, n->v.i);
        break;
    case EV_BUFFER:
        sb_fmt(b, "_v%u = next(buffers)  # out-of-band data, not in the file", e->node);
        break;
    case EV_FRAME:
        sb_str(b, "# an opcode crosses a FRAME boundary here");
        break;
    default: break;
    }
}

brine_status pk_render(const pk_graph *g, const brine_limits *lim, brine_write_fn write,
                       void *ctx)
{
    char line[1024];
    sbuf b = {line, sizeof line, 0, 0};
    line[0] = '\0';
    unsigned depth = lim && lim->max_depth < 32 ? (unsigned)lim->max_depth : 32;
    for (size_t p = 0; p < g->n_pickles; p++) {
        const pk_pickle *pk = &g->pickles[p];
        sb_fmt(&b, "# pickle %zu at offset %" PRIu64 "%s", p + 1, pk->start,
               pk->complete ? "" : " (incomplete: loading stops with an error)");
        if (emit(write, ctx, &b))
            return BRINE_ERR_IO;
        for (uint32_t i = 0; i < pk->n_events; i++) {
            const pk_event *e = &g->events[pk->first_event + i];
            pk_describe_event(g, e, &b);
            if (emit(write, ctx, &b))
                return BRINE_ERR_IO;
        }
        if (pk->root) {
            sb_str(&b, "result = ");
            walk w;
            memset(&w, 0, sizeof w);
            w.g = g;
            w.max_depth = depth;
            repr(&w, &b, pk->root);
            if (emit(write, ctx, &b))
                return BRINE_ERR_IO;
        }
    }
    return BRINE_OK;
}
