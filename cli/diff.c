/*
 * diff.c — `brine diff A B`: compares the tensors of two model files of any supported formats
 * by name, dtype, shape and bytes (C order, little-endian), and their non-tensor values.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char diff_help[] =
    "Usage: brine diff [--allow ENTRY]... [--limit NAME=VALUE]... A B\n"
    "\n"
    "Compares the tensors of two model files (PyTorch zip or legacy, raw pickle, safetensors) by\n"
    "name, dtype, shape and element bytes in C order, and reports every difference. Differing\n"
    "non-tensor values are noted but do not count. Both files are scanned first and refused\n"
    "unless safe under the policy.\n"
    "\n"
    "  --allow ENTRY  widen the policy (profile, module.qualname or module.*)\n"
    "  --limit NAME=VALUE  set a resource limit (repeatable; see 'brine --help-limits')\n"
    "  -h, --help     this text\n"
    "\n"
    "Exit status:\n"
    "  0  identical tensors\n"
    "  1  they differ, or a file is refused (unsafe, unverified, invalid, no tensors)\n"
    "  2  usage error, or a file cannot be read (missing, a directory, FIFO or device)\n";

static long find_tensor(const brine_model *m, const char *name)
{
    brine_error err;
    for (size_t i = 0; i < brine_model_tensor_count(m); i++) {
        brine_tensor_info t;
        if (brine_model_tensor(m, i, &t, &err) == BRINE_OK && strcmp(t.name, name) == 0)
            return (long)i;
    }
    return -1;
}

static int same_shape(const brine_tensor_info *a, const brine_tensor_info *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (unsigned k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k])
            return 0;
    return 1;
}

int cli_diff(int argc, char **argv)
{
    static const struct option longopts[] = {{"allow", required_argument, NULL, 'a'},
                                             {"limit", required_argument, NULL, 'l'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    brine_policy *policy = brine_policy_new();
    if (!policy) {
        cli_warn("out of memory");
        return CLI_USAGE;
    }
    brine_limits limits;
    memset(&limits, 0, sizeof limits);
    int have_limits = 0;
    brine_error err;
    int c;
    optind = 0; /* full re-initialisation (glibc) */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'a' && brine_policy_allow(policy, optarg, &err) == BRINE_OK)
            continue;
        if (c == 'l' && cli_parse_limit("diff", optarg, &limits) == 0) {
            have_limits = 1;
            continue;
        }
        brine_policy_free(policy);
        if (c == 'h') {
            fputs(diff_help, stdout);
            return CLI_OK;
        }
        if (c == 'l') /* cli_parse_limit has said why */
            return CLI_USAGE;
        if (c == 'a')
            return cli_usage_error("diff", "%s", err.msg);
        cli_try_help("diff"); /* getopt has printed what was wrong */
        return CLI_USAGE;
    }
    if (argc - optind != 2) {
        brine_policy_free(policy);
        return cli_usage_error("diff", "expected two files A B");
    }
    brine_model *a = NULL, *b = NULL;
    const brine_limits *lim = have_limits ? &limits : NULL;
    int rc = cli_open_model("diff", argv[optind], policy, lim, &a);
    if (!rc)
        rc = cli_open_model("diff", argv[optind + 1], policy, lim, &b);
    brine_policy_free(policy);
    if (rc) {
        brine_model_free(a);
        return rc;
    }
    size_t differences = 0;
    for (int side = 0; side < 2; side++) {
        const brine_model *x = side ? b : a, *y = side ? a : b;
        for (size_t i = 0; i < brine_model_tensor_count(x); i++) {
            brine_tensor_info t;
            brine_model_tensor(x, i, &t, &err);
            if (find_tensor(y, t.name) < 0) {
                printf("only in %s: %s\n", side ? "B" : "A", t.name);
                differences++;
            }
        }
    }
    for (size_t i = 0; i < brine_model_tensor_count(a); i++) {
        brine_tensor_info ta, tb;
        brine_model_tensor(a, i, &ta, &err);
        long j = find_tensor(b, ta.name);
        if (j < 0)
            continue;
        brine_model_tensor(b, (size_t)j, &tb, &err);
        if (strcmp(ta.dtype, tb.dtype) != 0) {
            printf("dtype differs: %s: %s vs %s\n", ta.name, ta.dtype, tb.dtype);
            differences++;
        } else if (!same_shape(&ta, &tb)) {
            printf("shape differs: %s\n", ta.name);
            differences++;
        } else {
            uint8_t da[32], db[32];
            if (brine_model_tensor_sha256(a, i, da, &err) ||
                brine_model_tensor_sha256(b, (size_t)j, db, &err)) {
                cli_warn("diff: %s", err.msg);
                rc = CLI_USAGE;
                break;
            }
            if (memcmp(da, db, 32) != 0) {
                printf("bytes differ: %s\n", ta.name);
                differences++;
            }
        }
    }
    const char *ca = brine_model_config_json(a), *cb = brine_model_config_json(b);
    if (!rc && strcmp(ca, cb) != 0) /* reported, but diff compares tensors (DESIGN.md) */
        printf("note: the non-tensor values differ\n");
    if (!rc)
        printf("%zu %s in A, %zu in B: %s\n", brine_model_tensor_count(a),
               brine_model_tensor_count(a) == 1 ? "tensor" : "tensors", brine_model_tensor_count(b),
               differences ? "different" : "identical");
    brine_model_free(a);
    brine_model_free(b);
    return rc ? rc : differences ? CLI_FAILED : CLI_OK;
}
