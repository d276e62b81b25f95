/*
 * inspect.c — `brine inspect`: the tensors (name, dtype, shape, optional SHA-256) and the
 * non-tensor values of a model, loaded with the safe-load API (so only files the default policy
 * allows are opened).
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char inspect_help[] =
    "Usage: brine inspect [--format text|json] [--hash] [--allow ENTRY]...\n"
    "                     [--limit NAME=VALUE]... FILE\n"
    "\n"
    "Lists the tensors of a model (PyTorch zip or legacy checkpoint, raw pickle of tensors or\n"
    "numpy arrays) with their dtype (safetensors spelling: F32, BF16, I64, BOOL, ...) and shape,\n"
    "and its non-tensor values. Tensor names join nested dict keys and list indices with '.'.\n"
    "The file is scanned first and refused unless it is safe under the policy.\n"
    "\n"
    "  --format text|json  output format (default text)\n"
    "  --hash              add the SHA-256 of each tensor's elements in C order, little-endian\n"
    "                      (for torch: hashlib.sha256(t.contiguous().numpy().tobytes()))\n"
    "  --compat            instead: the releases the file records (pickle protocol,\n"
    "                      _sklearn_version, XGBoost/LightGBM model version, numpy.core or\n"
    "                      numpy._core names, Python 2 names), as JSON\n"
    "  --target LIB==VER   with --compat: what release VER of LIB (sklearn, numpy, xgboost,\n"
    "                      lightgbm, torch, python) lacks, per brine's generated tables;\n"
    "                      exit status 1 when it lacks anything\n"
    "  --allow ENTRY       widen the policy (profile, module.qualname or module.*)\n"
    "  --limit NAME=VALUE  set a resource limit (repeatable; see 'brine --help-limits')\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status:\n"
    "  0  listed\n"
    "  1  the file is refused (unsafe, unverified, invalid, or no tensors brine can read)\n"
    "  2  usage error, or the file cannot be read (missing, a directory, FIFO or device)\n";

static void hex_digest(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Opens a model for the CLI: policy from --allow entries; prints why on failure. Returns the
 * exit status to use on failure (CLI_FAILED for refusals, CLI_USAGE for I/O). */
int cli_open_model(const char *command, const char *path, brine_policy *policy,
                   const brine_limits *limits, brine_model **out)
{
    brine_load_options opts = {.policy = policy, .limits = limits};
    brine_error err;
    brine_status st = brine_model_open(path, &opts, out, &err);
    if (st == BRINE_OK)
        return CLI_OK;
    cli_warn("%s %s: %s", command, path, err.msg);
    return st == BRINE_ERR_IO || st == BRINE_ERR_USAGE ? CLI_USAGE : CLI_FAILED;
}

/* --compat: the report as JSON; 1 when --target names globals the release lacks. */
static int inspect_compat(brine_model *m, const char *path, const char *target)
{
    brine_error err;
    char *text = brine_model_compat_json(m, target, &err);
    brine_model_free(m);
    if (!text) {
        cli_warn("inspect %s: %s", path, err.msg);
        return err.code == BRINE_ERR_USAGE ? CLI_USAGE : CLI_FAILED;
    }
    json_t *doc = json_loads(text, 0, NULL);
    int fails = doc && json_is_false(json_object_get(json_object_get(doc, "check"), "loads"));
    json_decref(doc);
    printf("%s\n", text);
    free(text);
    return fails ? CLI_FAILED : CLI_OK;
}

int cli_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"hash", no_argument, NULL, 'H'},
        {"allow", required_argument, NULL, 'a'},  {"limit", required_argument, NULL, 'l'},
        {"compat", no_argument, NULL, 'c'},       {"target", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int json = 0, hash = 0, have_limits = 0, compat = 0, c;
    const char *target = NULL;
    brine_limits limits;
    memset(&limits, 0, sizeof limits);
    brine_policy *policy = brine_policy_new();
    if (!policy)
        return CLI_USAGE;
    brine_error err;
    optind = 0; /* full re-initialisation (glibc) */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "json") == 0)
                json = 1;
            else if (strcmp(optarg, "text") != 0) {
                brine_policy_free(policy);
                return cli_usage_error("inspect", "unknown format '%s'", optarg);
            }
            break;
        case 'H': hash = 1; break;
        case 'c': compat = 1; break;
        case 't': target = optarg; break;
        case 'l':
            if (cli_parse_limit("inspect", optarg, &limits)) {
                brine_policy_free(policy);
                return CLI_USAGE;
            }
            have_limits = 1;
            break;
        case 'a':
            if (brine_policy_allow(policy, optarg, &err)) {
                brine_policy_free(policy);
                return cli_usage_error("inspect", "%s", err.msg);
            }
            break;
        case 'h':
            fputs(inspect_help, stdout);
            brine_policy_free(policy);
            return CLI_OK;
        default: /* getopt has printed what was wrong */
            brine_policy_free(policy);
            cli_try_help("inspect");
            return CLI_USAGE;
        }
    }
    if (argc - optind != 1) {
        brine_policy_free(policy);
        return cli_usage_error("inspect", "expected one FILE");
    }
    const char *path = argv[optind];
    brine_model *m = NULL;
    int rc = cli_open_model("inspect", path, policy, have_limits ? &limits : NULL, &m);
    brine_policy_free(policy);
    if (rc)
        return rc;
    if (compat || target)
        return inspect_compat(m, path, target);

    json_t *doc = json_object(), *tensors = json_array();
    size_t n = brine_model_tensor_count(m);
    if (!json)
        printf("%s: %s, %zu %s\n", path, brine_model_format(m), n, n == 1 ? "tensor" : "tensors");
    for (size_t i = 0; i < n && rc == CLI_OK; i++) {
        brine_tensor_info t;
        uint8_t digest[32];
        char hex[65] = "";
        if (brine_model_tensor(m, i, &t, &err) ||
            (hash && brine_model_tensor_sha256(m, i, digest, &err))) {
            cli_warn("inspect %s: %s", path, err.msg);
            rc = CLI_FAILED;
            break;
        }
        if (hash)
            hex_digest(digest, hex);
        if (json) {
            json_t *shape = json_array();
            for (unsigned k = 0; k < t.ndim; k++)
                json_array_append_new(shape, json_integer((json_int_t)t.shape[k]));
            json_t *o =
                json_pack("{s:s, s:s, s:o}", "name", t.name, "dtype", t.dtype, "shape", shape);
            if (hash)
                json_object_set_new(o, "sha256", json_string(hex));
            json_array_append_new(tensors, o);
        } else {
            printf("  %-40s %-5s [", t.name, t.dtype);
            for (unsigned k = 0; k < t.ndim; k++)
                printf("%s%" PRId64, k ? ", " : "", t.shape[k]);
            printf("]%s%s\n", hash ? "  " : "", hex);
        }
    }
    const char *config = brine_model_config_json(m);
    if (rc == CLI_OK && json) {
        json_object_set_new(doc, "path", json_string(path));
        json_object_set_new(doc, "format", json_string(brine_model_format(m)));
        json_object_set_new(doc, "tensors", tensors);
        tensors = NULL;
        json_t *values = json_loads(config, 0, NULL);
        json_object_set_new(doc, "values", values ? values : json_null());
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text) {
            puts(text);
            free(text);
        }
    } else if (rc == CLI_OK) {
        printf("values:\n%s\n", config);
    }
    json_decref(tensors);
    json_decref(doc);
    brine_model_free(m);
    return rc;
}
