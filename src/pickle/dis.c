/*
 * dis.c — `brine dis`: the opcode listing in the spirit of pickletools.dis, then the object
 * graph as pseudo-Python. Arguments are shown as CPython's C unpickler decodes them (INT
 * "010" is 8, as _pickle.c reads it, not 10 as pickletools does).
 *
 * Output is streamed through the caller's writer; nothing is buffered per opcode, so a
 * listing of a huge stream costs constant memory beyond the machine itself.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "brine.h"
#include "core/error.h"
#include "core/limits.h"
#include "pickle/machine.h"
#include "pickle/opcodes.h"
#include "pickle/dis.h"
#include "pickle/render.h"

enum { HEX_MAX = 4096 };

typedef struct dis_out {
    brine_write_fn write;
    void *ctx;
    int json;
    int failed;     /* the writer returned non-zero */
    size_t ops;     /* ops listed in the current pickle */
    size_t pickles; /* pickles opened */
} dis_out;

static void out(dis_out *d, const char *s, size_t n)
{
    if (!d->failed && n && d->write(d->ctx, s, n))
        d->failed = 1;
}

static void outs(dis_out *d, const char *s) { out(d, s, strlen(s)); }

static void outf(dis_out *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(dis_out *d, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        out(d, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A JSON string from UTF-8 text, with lone surrogates (as surrogatepass encodes them)
 * written as \udXXX escapes so every JSON parser accepts the document. */
static void json_text_body(dis_out *d, const uint8_t *s, uint64_t n)
{
    uint64_t run = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        const char *esc = NULL;
        char buf[16];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c < 0x20) {
            snprintf(buf, sizeof buf, "\\u%04x", c);
            esc = buf;
        } else if (c == 0xED && i + 2 < n && (s[i + 1] & 0xE0) == 0xA0) {
            unsigned cp = 0xD000u | ((unsigned)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3Fu);
            snprintf(buf, sizeof buf, "\\u%04x", cp);
            esc = buf;
        }
        if (esc) {
            out(d, (const char *)s + run, (size_t)(i - run));
            outs(d, esc);
            if (c == 0xED)
                i += 2;
            run = i + 1;
        }
    }
    out(d, (const char *)s + run, (size_t)(n - run));
}

static void json_text(dis_out *d, const uint8_t *s, uint64_t n)
{
    outs(d, "\"");
    json_text_body(d, s, n);
    outs(d, "\"");
}

static void json_bytes(dis_out *d, const uint8_t *s, uint64_t n)
{
    outf(d, "{\"len\": %" PRIu64 ", \"hex\": \"", n);
    uint64_t lim = n > HEX_MAX ? HEX_MAX : n;
    char hex[129];
    for (uint64_t i = 0; i < lim;) {
        size_t k = 0;
        for (; k < 64 && i < lim; k++, i++)
            snprintf(hex + 2 * k, 3, "%02x", s[i]);
        out(d, hex, 2 * k);
    }
    outs(d, n > HEX_MAX ? "\", \"truncated\": true}" : "\"}");
}

/* Decimal digits of an integer given as little-endian two's complement bytes or as a Python
 * literal (base 0: 0x/0o/0b prefixes, underscores). Bounded: callers cap the input size. */
static void bigint_decimal(dis_out *d, const uint8_t *s, uint64_t n, int text)
{
    enum { MAXLIMBS = 1024 }; /* base 1e9 limbs: 9216 decimal digits */
    uint32_t limb[MAXLIMBS];
    size_t nl = 1;
    limb[0] = 0;
    int neg = 0;
    unsigned base = 256;
    uint64_t i = 0, end = n;
    uint8_t carry_in = 1; /* for negating two's complement */
    if (text) {
        while (i < end && (s[i] == ' ' || s[i] == '\t'))
            i++;
        while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r'))
            end--;
        if (i < end && (s[i] == '-' || s[i] == '+'))
            neg = s[i++] == '-';
        base = 10;
        if (end - i > 1 && s[i] == '0') {
            uint8_t p = s[i + 1] | 0x20;
            base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 10;
            if (base != 10)
                i += 2;
        }
    } else {
        neg = n && (s[n - 1] & 0x80);
    }
    uint64_t count = end - i;
    for (uint64_t k = 0; k < count; k++) {
        unsigned digit;
        if (text) {
            uint8_t c = s[i + k];
            if (c == '_')
                continue;
            digit = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
        } else {
            /* most significant byte first; negate on the fly for negative numbers */
            uint8_t byte = s[n - 1 - k];
            digit = neg ? (uint8_t)~byte : byte;
        }
        uint64_t carry = digit;
        for (size_t l = 0; l < nl; l++) {
            uint64_t v = (uint64_t)limb[l] * base + carry;
            limb[l] = (uint32_t)(v % 1000000000u);
            carry = v / 1000000000u;
        }
        while (carry && nl < MAXLIMBS) {
            limb[nl++] = (uint32_t)(carry % 1000000000u);
            carry /= 1000000000u;
        }
    }
    if (!text && neg) { /* magnitude = ~x + 1 */
        uint64_t carry = carry_in;
        for (size_t l = 0; l < nl && carry; l++) {
            uint64_t v = limb[l] + carry;
            limb[l] = (uint32_t)(v % 1000000000u);
            carry = v / 1000000000u;
        }
        if (carry && nl < MAXLIMBS)
            limb[nl++] = (uint32_t)carry;
    }
    if (neg)
        outs(d, "-");
    outf(d, "%u", limb[nl - 1]);
    for (size_t l = nl - 1; l-- > 0;)
        outf(d, "%09u", limb[l]);
}

static void json_float(dis_out *d, double v)
{
    if (isnan(v))
        outs(d, "\"nan\"");
    else if (isinf(v))
        outs(d, v > 0 ? "\"inf\"" : "\"-inf\"");
    else
        outf(d, "%.17g", v);
}

static void json_arg(dis_out *d, const pk_op *op)
{
    switch (op->vk) {
    case PV_NONE: outs(d, "null"); break;
    case PV_BOOL: outs(d, op->i ? "true" : "false"); break;
    case PV_INT: outf(d, "%" PRId64, op->i); break;
    case PV_BIGINT_TEXT:
    case PV_BIGINT_LE:
        if (op->slen > 2048) /* past this, exact decimal costs too much: hex of the bytes */
            json_bytes(d, op->s, op->slen);
        else
            bigint_decimal(d, op->s, op->slen, op->vk == PV_BIGINT_TEXT);
        break;
    case PV_FLOAT: json_float(d, op->d); break;
    case PV_FLOAT_TEXT: json_float(d, pk_float_line(op->s)); break;
    case PV_STR: json_text(d, op->s, op->slen); break;
    case PV_BYTES: json_bytes(d, op->s, op->slen); break;
    case PV_PAIR: {
        outs(d, "\"");
        json_text_body(d, op->s, op->slen);
        outs(d, " ");
        json_text_body(d, op->s2, op->s2len);
        outs(d, "\"");
        break;
    }
    }
}

static void text_arg(dis_out *d, const pk_op *op)
{
    char line[200];
    sbuf b = {line, sizeof line, 0, 0};
    line[0] = '\0';
    switch (op->vk) {
    case PV_NONE: return;
    case PV_BOOL: sb_str(&b, op->i ? "True" : "False"); break;
    case PV_INT: sb_fmt(&b, "%" PRId64, op->i); break;
    case PV_BIGINT_TEXT: sb_put(&b, (const char *)op->s, op->slen > 60 ? 60 : op->slen); break;
    case PV_BIGINT_LE: sb_fmt(&b, "<%" PRIu64 "-byte integer>", op->slen); break;
    case PV_FLOAT: sb_fmt(&b, "%.17g", op->d); break;
    case PV_FLOAT_TEXT: sb_fmt(&b, "%.17g", pk_float_line(op->s)); break;
    case PV_STR:
    case PV_BYTES: {
        sb_str(&b, op->vk == PV_BYTES ? "b'" : "'");
        uint64_t lim = op->slen > 60 ? 60 : op->slen;
        for (uint64_t i = 0; i < lim; i++) {
            uint8_t c = op->s[i];
            if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
                sb_put(&b, (const char *)&c, 1);
            else if (c >= 0x80 && op->vk == PV_STR)
                sb_put(&b, (const char *)&c, 1);
            else
                sb_fmt(&b, "\\x%02x", c);
        }
        sb_str(&b, "'");
        if (op->slen > lim)
            sb_fmt(&b, "... (%" PRIu64 " bytes)", op->slen);
        break;
    }
    case PV_PAIR:
        sb_fmt(&b, "'%.*s %.*s'", (int)(op->slen > 80 ? 80 : op->slen), (const char *)op->s,
               (int)(op->s2len > 80 ? 80 : op->s2len), (const char *)op->s2);
        break;
    }
    outs(d, " ");
    outs(d, line);
}

static void observe(void *ctx, const pk_op *op, uint32_t stack_depth, uint32_t mark_depth)
{
    dis_out *d = ctx;
    const char *name = pk_opcodes[op->code].name;
    if (d->json) {
        outf(d, "%s\n    {\"offset\": %" PRIu64 ", \"op\": \"%s\", \"code\": %u, \"arg\": ",
             d->ops ? "," : "", op->offset, name, op->code);
        json_arg(d, op);
        outs(d, "}");
    } else {
        char code[8];
        if (op->code >= 0x20 && op->code < 0x7f)
            snprintf(code, sizeof code, "%c", op->code);
        else
            snprintf(code, sizeof code, "\\x%02x", op->code);
        outf(d, "%8" PRIu64 ": %-4s [%3u] ", op->offset, code, stack_depth);
        for (uint32_t i = 0; i < mark_depth && i < 32; i++)
            outs(d, "| ");
        outs(d, name);
        text_arg(d, op);
        outs(d, "\n");
    }
    d->ops++;
}

/* Writer adapter: renders the graph text into a JSON string body. */
static int json_string_writer(void *ctx, const void *buf, size_t len)
{
    dis_out *d = ctx;
    const uint8_t *s = buf;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = NULL;
        char tmp[8];
        if (s[i] == '"')
            esc = "\\\"";
        else if (s[i] == '\\')
            esc = "\\\\";
        else if (s[i] == '\n')
            esc = "\\n";
        else if (s[i] < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", s[i]);
            esc = tmp;
        }
        if (esc) {
            out(d, (const char *)s + run, i - run);
            outs(d, esc);
            run = i + 1;
        }
    }
    out(d, (const char *)s + run, len - run);
    return d->failed;
}

static int plain_writer(void *ctx, const void *buf, size_t len)
{
    dis_out *d = ctx;
    out(d, buf, len);
    return d->failed;
}

static void open_pickle(dis_out *d, uint64_t offset)
{
    if (d->json)
        outf(d, "%s\n  {\"offset\": %" PRIu64 ", \"ops\": [", d->pickles ? "," : "", offset);
    else
        outf(d, "%s# pickle %zu at offset %" PRIu64 "\n", d->pickles ? "\n" : "", d->pickles + 1,
             offset);
    d->pickles++;
    d->ops = 0;
}

static void close_pickle(dis_out *d, const pk_pickle *p)
{
    if (d->json)
        outf(d, "\n   ], \"end\": %" PRIu64 ", \"protocol\": %d, \"complete\": %s}", p->end,
             p->proto, p->complete ? "true" : "false");
    else if (p->complete)
        outf(d, "highest protocol among opcodes = %d\n", p->proto);
}

brine_status brine_dis(const uint8_t *data, size_t len, brine_dis_format format,
                       const brine_limits *limits, brine_write_fn write, void *ctx,
                       brine_error *err)
{
    return pk_dis_hooked(data, len, format, limits, NULL, NULL, write, ctx, err);
}

brine_status pk_dis_hooked(const uint8_t *data, size_t len, brine_dis_format format,
                           const brine_limits *limits, pk_build_hook hook, void *hook_ctx,
                           brine_write_fn write, void *ctx, brine_error *err)
{
    if (!write || (!data && len))
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_dis: NULL argument");
    brine_limits lim;
    lim_resolve(limits, &lim);
    mem_budget mem;
    mem_budget_init(&mem, lim.max_memory);
    pk_graph g;
    pk_graph_init(&g, &mem);
    dis_out d = {write, ctx, format == BRINE_DIS_JSON, 0, 0, 0};
    pk_run_options opts = {&lim, observe, &d};
    brine_error run_err;
    err_clear(&run_err);
    brine_status st = BRINE_OK;
    size_t pos = 0;
    int have_error = 0;
    uint64_t trailing_at = 0, trailing_len = 0;

    if (d.json)
        outs(&d, "{\"pickles\": [");
    while (pos < len || pos == 0) {
        if (g.n_pickles >= lim.max_pickles) {
            err_limit(&run_err, "max_pickles", lim.max_pickles, g.n_pickles + 1, pos, 1, __LINE__);
            have_error = 1;
            break;
        }
        /* a later position where not even one opcode decodes is trailing data, not a pickle */
        if (pos > 0) {
            cursor c;
            cur_init(&c, data, len);
            c.p = data + pos;
            pk_op probe;
            pk_pool scratch;
            pk_pool_init(&scratch, &mem);
            brine_error probe_err;
            brine_status pst = pk_decode(&c, &probe, &scratch, &lim, &probe_err);
            pk_pool_free(&scratch);
            if (pst == BRINE_ERR_MALFORMED || pst == BRINE_ERR_LIMIT) {
                trailing_at = pos;
                trailing_len = len - pos;
                break;
            }
        }
        open_pickle(&d, pos);
        size_t before = g.n_pickles;
        st = hook ? pk_run_hooked(&g, data, len, pos, &opts, hook, hook_ctx, &run_err)
                  : pk_run(&g, data, len, pos, &opts, &run_err);
        if (g.n_pickles == before) { /* no record: memory ran out before the first opcode */
            if (st != BRINE_ERR_NOMEM) {
                have_error = 1;
                st = BRINE_OK;
            }
            break;
        }
        close_pickle(&d, &g.pickles[g.n_pickles - 1]);
        if (st == BRINE_ERR_NOMEM && !mem.exhausted)
            break;
        if (st) {
            have_error = 1;
            st = BRINE_OK;
            break;
        }
        pos = (size_t)g.pickles[before].end;
        if (len == 0 || hook) /* a hooked loader (joblib.load) reads one pickle */
            break;
    }
    if (st == BRINE_OK) {
        if (d.json) {
            outs(&d, "\n ],\n \"trailing\": ");
            if (trailing_len)
                outf(&d, "{\"offset\": %" PRIu64 ", \"length\": %" PRIu64 "}", trailing_at,
                     trailing_len);
            else
                outs(&d, "null");
            outs(&d, ",\n \"error\": ");
            if (have_error) {
                outs(&d, "{\"offset\": ");
                if (run_err.has_offset)
                    outf(&d, "%" PRIu64, run_err.offset);
                else
                    outs(&d, "null");
                outs(&d, ", \"message\": ");
                json_text(&d, (const uint8_t *)run_err.msg, strlen(run_err.msg));
                outs(&d, "}");
            } else {
                outs(&d, "null");
            }
            outs(&d, ",\n \"graph\": \"");
            pk_render(&g, &lim, json_string_writer, &d);
            outs(&d, "\"}\n");
        } else {
            if (trailing_len)
                outf(&d,
                     "# %" PRIu64 " bytes of trailing data at offset %" PRIu64 " (not a pickle)\n",
                     trailing_len, trailing_at);
            if (have_error)
                outf(&d, "# error at offset %" PRIu64 ": %s\n", run_err.offset, run_err.msg);
            outs(&d, "\n# what pickle.load would do, as pseudo-Python:\n");
            pk_render(&g, &lim, plain_writer, &d);
        }
    }
    pk_graph_free(&g);
    if (st == BRINE_ERR_NOMEM)
        return ERR_NOMEM(err);
    if (d.failed)
        return err_set(err, BRINE_ERR_IO, __LINE__, "write failed");
    return BRINE_OK;
}
