/*
 * limits.c — `--limit NAME=VALUE` and `brine --help-limits`.
 *
 * NAME is a field of brine_limits, spelled as in brine.h. The library clamps any value to the
 * field's hard cap, so the tool only checks the syntax and that the value is not zero (zero
 * would silently mean "the default" to the library, which is not what someone who typed it
 * meant).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "cli.h"

static const struct limit_field {
    const char *name;
    size_t offset;
    const char *meaning;
} limit_fields[] = {
#define F(name, meaning)                                                                           \
    {                                                                                              \
#name, offsetof(brine_limits, name), meaning                                               \
    }
    F(max_input_bytes, "bytes of one input (file or archive member)"),
    F(max_opcodes, "opcodes the pickle machine executes, per file"),
    F(max_stack, "pickle value-stack depth"),
    F(max_marks, "pickle mark-stack depth"),
    F(max_memo, "pickle memo entries"),
    F(max_nodes, "nodes in the object graph"),
    F(max_depth, "nesting depth of any walk over the graph"),
    F(max_string, "bytes of one string or bytes argument"),
    F(max_memory, "bytes brine may allocate for one file"),
    F(max_pickles, "concatenated pickles in one stream"),
    F(max_nested, "depth of pickles nested inside pickles"),
    F(zip_max_entries, "entries in one zip central directory"),
    F(zip_max_entry_bytes, "decompressed bytes of one zip entry"),
    F(zip_max_total_bytes, "decompressed bytes of all entries of one archive"),
    F(zip_max_ratio, "decompressed / compressed size of one zip entry"),
    F(st_max_header, "bytes of a safetensors JSON header"),
    F(max_tensors, "tensors in one file"),
    F(filter_max_bytes, "decompressed bytes of one compressed file (gzip, bz2, xz, ...)"),
    F(filter_max_ratio, "decompressed / compressed size of one compressed file"),
    F(max_filter_depth, "compression filters nested inside one another"),
    F(max_expansion, "leaves of the expanded object graph per node built (amplification)"),
    F(max_nesting, "nesting depth of the object graph a consumer would walk"),
    F(max_memo_index, "largest pickle memo index (CPython's C memo is an array that size)"),
    F(archive_max_members, "members of one tar or 7z archive"),
    F(archive_max_name, "bytes of one tar or 7z member name or link target"),
    F(max_work, "opcodes of all pickles of one file, nested pickles included"),
#undef F
};
enum { N_LIMITS = sizeof limit_fields / sizeof limit_fields[0] };

/* The struct is all uint64_t: a field missing from the table above would be a silent gap. */
_Static_assert(sizeof(brine_limits) == N_LIMITS * sizeof(uint64_t),
               "every field of brine_limits needs a line in limit_fields");

static uint64_t *field_of(brine_limits *limits, const struct limit_field *f)
{
    return (uint64_t *)(void *)((char *)limits + f->offset);
}

int cli_parse_limit(const char *command, const char *arg, brine_limits *limits)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        cli_usage_error(command, "--limit needs NAME=VALUE, got '%s'", arg);
        return -1;
    }
    size_t name_len = (size_t)(eq - arg);
    const struct limit_field *f = NULL;
    for (size_t i = 0; i < N_LIMITS; i++)
        if (strlen(limit_fields[i].name) == name_len &&
            memcmp(limit_fields[i].name, arg, name_len) == 0)
            f = &limit_fields[i];
    if (!f) {
        cli_usage_error(command, "--limit: no limit is named '%.*s' (see 'brine --help-limits')",
                        (int)name_len, arg);
        return -1;
    }
    /* digits only: strtoull would accept a sign, spaces and hex */
    const char *p = eq + 1;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++)
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
            goto bad;
    if (*p) {
        static const char units[] = "KMGT";
        const char *u = strchr(units, *p);
        if (!u || p[1])
            goto bad;
        for (const char *k = units; k <= u; k++)
            if (__builtin_mul_overflow(v, 1024, &v))
                goto bad;
    }
    if (v == 0)
        goto bad;
    *field_of(limits, f) = v;
    return 0;
bad:
    cli_usage_error(command,
                    "--limit %.*s: '%s' is not a positive integer (optionally with K, M, G or T)",
                    (int)name_len, arg, eq + 1);
    return -1;
}

void cli_print_limits(FILE *out)
{
    brine_limits def;
    brine_limits_default(&def);
    fputs("Resource limits. Every size or count a file declares is checked against them before\n"
          "anything is allocated; a file over a limit is 'invalid'. Lower or raise one with\n"
          "--limit NAME=VALUE (every command); VALUE may end in K, M, G or T (x1024^n).\n"
          "A value above brine's built-in hard cap for that limit is lowered to the cap.\n\n",
          out);
    fprintf(out, "  %-21s %-15s %s\n", "NAME", "DEFAULT", "MEANING");
    for (size_t i = 0; i < N_LIMITS; i++)
        fprintf(out, "  %-21s %-15" PRIu64 " %s\n", limit_fields[i].name,
                *field_of(&def, &limit_fields[i]), limit_fields[i].meaning);
}
