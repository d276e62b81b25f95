/*
 * convert.c — `brine convert IN OUT`: a model that passes the policy, written as safetensors
 * plus a JSON config of its non-tensor values. The input is only read (mapped read-only); the
 * outputs appear atomically or not at all.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char convert_help[] =
    "Usage: brine convert [--to safetensors] [--allow ENTRY]... [--config PATH] IN OUT\n"
    "\n"
    "Converts IN (PyTorch zip or legacy checkpoint, raw pickle of tensors or numpy arrays)\n"
    "into a safetensors file OUT and a JSON config of its non-tensor values (hyper-parameters,\n"
    "epoch counters, strings) beside it. IN must pass the policy (it is scanned first, as\n"
    "torch.load(weights_only=True) would refuse unknown globals). Tensors are copied\n"
    "bit-exactly; views are written contiguous; tensors that share a storage are each written\n"
    "and recorded in the metadata key \"brine.shared\". Both outputs are written atomically:\n"
    "a failed conversion leaves nothing behind. IN is never modified.\n"
    "\n"
    "  --to FORMAT     safetensors (the default; skops, xgboost and lightgbm are not in this\n"
    "                  version)\n"
    "  --config PATH   where the JSON config goes (default: OUT with .safetensors replaced by\n"
    "                  .config.json)\n"
    "  --allow ENTRY   widen the policy (profile, module.qualname or module.*)\n"
    "  --no-sync       do not fsync the outputs (still atomic; faster, but a power loss just\n"
    "                  after the rename may lose them)\n"
    "  -h, --help      this text\n"
    "\n"
    "A progress bar is shown on a terminal. Exit status: 0 converted; 1 the input is refused\n"
    "(unsafe, unverified or invalid) or cannot be represented; 2 usage or I/O error.\n";

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    int *last = ctx;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == *last)
        return;
    *last = pct;
    fprintf(stderr, "\rbrine convert: [%-50.*s] %3d%%", pct / 2,
            "##################################################", pct);
    if (pct == 100)
        fputc('\n', stderr);
}

int cli_convert(int argc, char **argv)
{
    static const struct option longopts[] = {{"to", required_argument, NULL, 't'},
                                             {"allow", required_argument, NULL, 'a'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"no-sync", no_argument, NULL, 'S'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    brine_policy *policy = brine_policy_new();
    const char *config = NULL;
    int no_sync = 0;
    brine_error err;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'a' && brine_policy_allow(policy, optarg, &err) == BRINE_OK)
            continue;
        if (c == 'c') {
            config = optarg;
            continue;
        }
        if (c == 'S') {
            no_sync = 1;
            continue;
        }
        if (c == 't' && strcmp(optarg, "safetensors") == 0)
            continue;
        brine_policy_free(policy);
        if (c == 'h') {
            fputs(convert_help, stdout);
            return CLI_OK;
        }
        if (c == 't')
            return cli_usage_error("convert", "--to %s is not supported in this version", optarg);
        return c == 'a' ? cli_usage_error("convert", "%s", err.msg)
                        : cli_usage_error("convert", "bad option");
    }
    if (argc - optind != 2) {
        brine_policy_free(policy);
        return cli_usage_error("convert", "expected IN and OUT");
    }
    brine_model *m = NULL;
    int rc = cli_open_model("convert", argv[optind], policy, &m);
    brine_policy_free(policy);
    if (rc)
        return rc;
    int last = -1;
    brine_convert_options opts = {config, isatty(2) ? progress : NULL, &last, no_sync};
    brine_status st = brine_model_write_safetensors(m, argv[optind + 1], &opts, &err);
    if (st) {
        if (last >= 0)
            fputc('\n', stderr);
        cli_warn("convert %s: %s", argv[optind], err.msg);
        rc = st == BRINE_ERR_IO || st == BRINE_ERR_USAGE ? CLI_USAGE : CLI_FAILED;
    } else {
        printf("%s: %zu tensors written to %s\n", argv[optind], brine_model_tensor_count(m),
               argv[optind + 1]);
    }
    brine_model_free(m);
    return rc;
}
