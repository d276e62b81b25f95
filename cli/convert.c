/*
 * convert.c — `brine convert IN OUT`: a model that passes the policy, written as safetensors
 * plus a JSON config of its non-tensor values. The input is only read (mapped read-only); the
 * outputs appear atomically or not at all.
 *
 * Before a byte of IN is read, the three paths (IN, OUT, the config) are compared: by device
 * and inode where the file exists (hard links, symlinks, bind mounts) and by resolved
 * directory + name where it does not yet, so no output can land on the input or on the other
 * output, and an existing output is replaced only with --force. SIGINT, SIGTERM and SIGHUP
 * remove the staged temporaries (brine_remove_temporaries) and then end the process by the
 * same signal, so the shell sees 128+N and nothing is left behind.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char convert_help[] =
    "Usage: brine convert [--to safetensors] [--allow ENTRY]... [--config PATH] [--force]\n"
    "                     [--no-sync] [--limit NAME=VALUE]... [--key PATH] [--state-dict]\n"
    "                     [--dedup] [--max-shard-size SIZE] IN OUT\n"
    "       brine convert [OPTION]... DIR OUTDIR\n"
    "\n"
    "Converts IN (PyTorch zip or legacy checkpoint, raw pickle of tensors or numpy arrays)\n"
    "into a safetensors file OUT and a JSON config of its non-tensor values (hyper-parameters,\n"
    "epoch counters, strings) beside it. IN must pass the policy (it is scanned first, as\n"
    "torch.load(weights_only=True) would refuse unknown globals). Tensors are copied\n"
    "bit-exactly; views are written contiguous; tensors that share a storage are each written\n"
    "and recorded in the metadata key \"brine.shared\". Both outputs are written atomically:\n"
    "a failed or interrupted conversion leaves nothing behind. IN is never modified: an\n"
    "output that is IN (same path, hard link, symlink) or the other output is refused before\n"
    "IN is read.\n"
    "An OUT ending in .json or .ubj gets the XGBoost model, .txt the LightGBM model that IN\n"
    "pickles (a Booster or a scikit-learn wrapper), as the library's own model file; the\n"
    "wrapper's attributes go to the config (OUT with its extension replaced by .config.json).\n"
    "An OUT ending in .skops gets the scikit-learn estimator (pipeline, ColumnTransformer...)\n"
    "as a skops archive (skops.io.load reads it), built from the pickle's graph; values skops\n"
    "cannot rebuild exactly are refused (exit 1) with their place in IN.\n"
    "\n"
    "  --to FORMAT     safetensors (the default; OUT's extension picks the others: .skops,\n"
    "                  .json/.ubj, .txt)\n"
    "  --config PATH   where the JSON config goes (default: OUT with .safetensors replaced by\n"
    "                  .config.json)\n"
    "  --force         replace OUT and the config if they exist (never IN)\n"
    "  --allow ENTRY   widen the policy (profile, module.qualname or module.*)\n"
    "  --no-sync       do not fsync the outputs (still atomic; faster, but a power loss just\n"
    "                  after the rename may lose them)\n"
    "  --key PATH      convert one part of the checkpoint: a dotted path of keys and list\n"
    "                  indices (model, state_dict, optimizer_states.0); its tensors lose the\n"
    "                  PATH. prefix\n"
    "  --state-dict    the value (IN, or its --key part) is a whole pickled torch.nn.Module:\n"
    "                  write model.state_dict() — parameters and persistent buffers, named as\n"
    "                  load_state_dict expects (fc1.weight, bn.running_mean)\n"
    "  --max-shard-size SIZE  when the tensors exceed SIZE (bytes, or 5GB, 500MB, 2GiB as\n"
    "                  transformers reads it), write them in order to OUT's stem\n"
    "                  -0000k-of-0000N.safetensors plus STEM.safetensors.index.json\n"
    "                  (weight_map, metadata.total_size) instead of OUT\n"
    "  --dedup         tensors that are the same view of one storage (tied weights) are\n"
    "                  stored once, as safetensors.torch.save_model does; the others are\n"
    "                  listed in the metadata key \"brine.aliases\" so they re-tie\n"
    "  --limit NAME=VALUE  set a resource limit (repeatable; see 'brine --help-limits')\n"
    "  -h, --help      this text\n"
    "\n"
    "A directory IN is a model folder (Hugging Face layout): every file is scanned first and\n"
    "one that is not safe stops everything; model files become safetensors named as\n"
    "transformers names them (pytorch_model-00001-of-00002.bin -> model-00001-of-00002\n"
    ".safetensors, pytorch_model.bin -> model.safetensors), a shard index is rewritten\n"
    "(pytorch_model.bin.index.json -> model.safetensors.index.json), other files (config.json,\n"
    "tokenizer files) are copied.\n"
    "\n"
    "A progress bar is shown on a terminal.\n"
    "Exit status:\n"
    "  0  converted\n"
    "  1  IN is refused (unsafe, unverified or invalid) or cannot be represented in\n"
    "     safetensors (two tensors with the same joined name, a tensor named __metadata__)\n"
    "  2  usage or I/O error: IN cannot be read, an output would overwrite IN or the other\n"
    "     output, an output exists (without --force) or cannot be written\n"
    "  128+N  interrupted by signal N (SIGINT 130, SIGTERM 143, SIGHUP 129); nothing is left\n";

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

/* ------------------------------------------------------------------ signals */

/* Removes the staged outputs, then dies of the same signal (default disposition), so that
 * the parent sees the interruption as such. Only async-signal-safe calls. */
static void on_stop_signal(int sig)
{
    static struct sigaction default_action; /* all zero: SIG_DFL, empty mask */
    brine_remove_temporaries();
    sigaction(sig, &default_action, NULL);
    raise(sig); /* pending: sig is blocked while its handler runs */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void catch_stop_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
            sigaddset(&sa.sa_mask, sigs[k]);
        /* an ignored signal (nohup) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

/* ------------------------------------------------------------------ paths */

/* What a path names, found without opening it. */
typedef struct path_id {
    const char *path;
    const char *what; /* "IN", "OUT", "the config" */
    int exists;       /* lstat found an entry (a dangling symlink too) */
    int has_inode;    /* stat (links followed) succeeded: dev/ino below */
    struct stat st;
    char *dir;        /* realpath of the directory holding the entry, or NULL */
    const char *name; /* the last component */
} path_id;

static void path_id_free(path_id *p) { free(p->dir); }

/* Fills *p for path. Returns 0, or prints why the path cannot be used and returns -1. */
static int identify(path_id *p, const char *path, const char *what, int is_output)
{
    memset(p, 0, sizeof *p);
    p->path = path;
    p->what = what;
    struct stat lst;
    if (lstat(path, &lst) == 0)
        p->exists = 1;
    else if (errno != ENOENT || !is_output) {
        cli_warn("convert: %s %s: cannot open: %s", what, path, strerror(errno));
        return -1;
    }
    if (p->exists && stat(path, &p->st) == 0)
        p->has_inode = 1;
    const char *slash = strrchr(path, '/');
    p->name = slash ? slash + 1 : path;
    if (is_output && (!*p->name || strcmp(p->name, ".") == 0 || strcmp(p->name, "..") == 0)) {
        cli_warn("convert: %s %s names a directory, not a file", what, path);
        return -1;
    }
    char dir[PATH_MAX];
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    if (dlen >= sizeof dir) {
        cli_warn("convert: %s %s: path too long", what, path);
        return -1;
    }
    memcpy(dir, dlen ? path : ".", dlen ? dlen : 1);
    dir[dlen ? dlen : 1] = 0;
    p->dir = realpath(dir, NULL);
    if (!p->dir && is_output) {
        cli_warn("convert: %s %s: cannot use its directory: %s", what, path, strerror(errno));
        return -1;
    }
    if (p->has_inode && !S_ISREG(p->st.st_mode)) {
        /* a directory, FIFO, device or socket: never read one, never rename over one */
        cli_warn("convert: %s %s %s", what, path, cli_not_regular(p->st.st_mode));
        return -1;
    }
    return 0;
}

/* The same file: the same inode (hard link, symlink, bind mount) or the same directory entry
 * (one that does not exist yet, spelled two ways). */
static int same_file(const path_id *a, const path_id *b)
{
    if (a->has_inode && b->has_inode && a->st.st_dev == b->st.st_dev &&
        a->st.st_ino == b->st.st_ino)
        return 1;
    return a->dir && b->dir && strcmp(a->dir, b->dir) == 0 && strcmp(a->name, b->name) == 0;
}

/* "out.safetensors" → "out.config.json"; anything else gets ".config.json" appended — the
 * library's default, computed here so the config path is checked like OUT. */
static char *default_config_path(const char *out)
{
    size_t n = strlen(out), ext = strlen(".safetensors");
    size_t stem = n >= ext && strcmp(out + n - ext, ".safetensors") == 0 ? n - ext : n;
    if (brine_native_format(out)) /* model.json → model.config.json */
        stem = (size_t)(strrchr(out, '.') - out);
    char *p = malloc(stem + sizeof ".config.json");
    if (p) {
        memcpy(p, out, stem);
        memcpy(p + stem, ".config.json", sizeof ".config.json");
    }
    return p;
}

/* Refuses any output that is IN or the other output, and existing outputs without --force.
 * Returns CLI_OK or the exit status after printing why. */
static int check_paths(const char *in, const char *out, const char *config, int force)
{
    path_id id[3];
    memset(id, 0, sizeof id);
    int ok = identify(&id[0], in, "IN", 0) == 0;
    ok = ok && identify(&id[1], out, "OUT", 1) == 0;
    ok = ok && identify(&id[2], config, "the config", 1) == 0;
    int rc = ok ? CLI_OK : CLI_USAGE;
    for (int i = 1; i < 3 && rc == CLI_OK; i++) {
        if (same_file(&id[0], &id[i])) {
            cli_warn("convert: %s %s is the input file %s: convert never writes over its input",
                     id[i].what, id[i].path, in);
            rc = CLI_USAGE;
        }
    }
    if (rc == CLI_OK && same_file(&id[1], &id[2])) {
        cli_warn("convert: the config %s and OUT %s are the same file", config, out);
        rc = CLI_USAGE;
    }
    for (int i = 1; i < 3 && rc == CLI_OK; i++) {
        if (id[i].exists && !force) {
            cli_warn("convert: %s %s exists; use --force to replace it", id[i].what, id[i].path);
            rc = CLI_USAGE;
        }
    }
    for (int i = 0; i < 3; i++)
        path_id_free(&id[i]);
    return rc;
}

/* ------------------------------------------------------------------ the command */

/* transformers' convert_file_size_to_int: "5GB" = 5 * 10^9, "2GiB" = 2 * 2^30, "100" bytes. */
static int parse_size(const char *text, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t factor;
    } units[] = {{"GIB", 1ull << 30},
                 {"MIB", 1ull << 20},
                 {"KIB", 1ull << 10},
                 {"GB", 1000000000ull},
                 {"MB", 1000000ull},
                 {"KB", 1000ull},
                 {"B", 1},
                 {"", 1}};
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (end == text || errno || text[0] == '-')
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i].suffix) == 0) {
            if (__builtin_mul_overflow((uint64_t)n, units[i].factor, out) || !*out)
                return -1;
            return 0;
        }
    return -1;
}

int cli_convert(int argc, char **argv)
{
    enum {
        OPT_TO = 256,
        OPT_ALLOW,
        OPT_CONFIG,
        OPT_FORCE,
        OPT_NO_SYNC,
        OPT_LIMIT,
        OPT_KEY,
        OPT_STATE_DICT,
        OPT_DEDUP,
        OPT_MAX_SHARD
    };
    static const struct option longopts[] = {
        {"to", required_argument, NULL, OPT_TO},
        {"allow", required_argument, NULL, OPT_ALLOW},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"force", no_argument, NULL, OPT_FORCE},
        {"no-sync", no_argument, NULL, OPT_NO_SYNC},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"key", required_argument, NULL, OPT_KEY},
        {"state-dict", no_argument, NULL, OPT_STATE_DICT},
        {"dedup", no_argument, NULL, OPT_DEDUP},
        {"max-shard-size", required_argument, NULL, OPT_MAX_SHARD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    brine_policy *policy = brine_policy_new();
    if (!policy) {
        cli_warn("out of memory");
        return CLI_USAGE;
    }
    brine_limits limits;
    memset(&limits, 0, sizeof limits);
    const char *config = NULL, *key = NULL;
    int no_sync = 0, force = 0, have_limits = 0, state_dict = 0, dedup = 0, rc = CLI_OK;
    uint64_t max_shard = 0;
    brine_error err;
    int c;
    optind = 0; /* full re-initialisation (glibc) */
    while (rc == CLI_OK && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TO:
            if (strcmp(optarg, "safetensors") != 0)
                rc = cli_usage_error("convert", "--to %s is not supported in this version", optarg);
            break;
        case OPT_ALLOW:
            if (brine_policy_allow(policy, optarg, &err) != BRINE_OK)
                rc = cli_usage_error("convert", "%s", err.msg);
            break;
        case OPT_CONFIG: config = optarg; break;
        case OPT_FORCE: force = 1; break;
        case OPT_NO_SYNC: no_sync = 1; break;
        case OPT_KEY: key = optarg; break;
        case OPT_STATE_DICT: state_dict = 1; break;
        case OPT_DEDUP: dedup = 1; break;
        case OPT_MAX_SHARD:
            if (parse_size(optarg, &max_shard))
                rc = cli_usage_error("convert",
                                     "--max-shard-size %s: expected bytes or a size "
                                     "like 5GB, 500MB, 2GiB",
                                     optarg);
            break;
        case OPT_LIMIT:
            if (cli_parse_limit("convert", optarg, &limits))
                rc = CLI_USAGE;
            have_limits = 1;
            break;
        case 'h':
            brine_policy_free(policy);
            fputs(convert_help, stdout);
            return CLI_OK;
        default: /* getopt has printed what was wrong */ cli_try_help("convert"); rc = CLI_USAGE;
        }
    }
    if (rc == CLI_OK && argc - optind != 2)
        rc = cli_usage_error("convert", "expected IN and OUT");
    if (rc != CLI_OK) {
        brine_policy_free(policy);
        return rc;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    struct stat in_st;
    if (stat(in, &in_st) == 0 && S_ISDIR(in_st.st_mode)) { /* a model folder */
        brine_convert_options base = {.no_sync = no_sync,
                                      .force = force,
                                      .key = key,
                                      .state_dict = state_dict,
                                      .dedup = dedup,
                                      .max_shard_size = max_shard};
        rc = config ? cli_usage_error("convert", "--config does not apply to a directory")
                    : cli_convert_dir(in, out, policy, have_limits ? &limits : NULL, &base);
        brine_policy_free(policy);
        return rc;
    }
    char *config_path = config ? NULL : default_config_path(out);
    if (!config && !config_path) {
        brine_policy_free(policy);
        cli_warn("out of memory");
        return CLI_USAGE;
    }
    if (!config)
        config = config_path;
    /* every collision is refused before a byte of IN is read or of OUT written */
    rc = check_paths(in, out, config, force);
    if (rc != CLI_OK) {
        brine_policy_free(policy);
        free(config_path);
        return rc;
    }
    catch_stop_signals();
    brine_model *m = NULL;
    rc = cli_open_model("convert", in, policy, have_limits ? &limits : NULL, &m);
    brine_policy_free(policy);
    if (rc) {
        free(config_path);
        return rc;
    }
    int last = -1;
    brine_convert_options opts = {.config_path = config,
                                  .progress = isatty(2) ? progress : NULL,
                                  .progress_ctx = &last,
                                  .no_sync = no_sync,
                                  .force = force,
                                  .key = key,
                                  .state_dict = state_dict,
                                  .dedup = dedup,
                                  .max_shard_size = max_shard};
    int native = brine_native_format(out); /* .json/.ubj XGBoost, .txt LightGBM */
    int skops = brine_skops_format(out);
    brine_status st = skops    ? brine_model_write_skops(m, out, &opts, &err)
                      : native ? brine_model_write_native(m, out, &opts, &err)
                               : brine_model_write_safetensors(m, out, &opts, &err);
    if (st) {
        if (last >= 0)
            fputc('\n', stderr);
        cli_warn("convert %s: %s", in, err.msg);
        rc = st == BRINE_ERR_IO || st == BRINE_ERR_USAGE ? CLI_USAGE : CLI_FAILED;
    } else if (skops) {
        printf("%s: skops archive written to %s\n", in, out);
    } else if (native) {
        printf("%s: model written to %s (config: %s)\n", in, out, config);
    } else {
        size_t n = brine_model_tensor_count(m);
        if (key || state_dict || dedup ||
            max_shard) /* a part, or fewer stored: the count is not the model's */
            printf("%s: written to %s (config: %s)\n", in, out, config);
        else
            printf("%s: %zu %s written to %s (config: %s)\n", in, n, n == 1 ? "tensor" : "tensors",
                   out, config);
    }
    brine_model_free(m);
    free(config_path);
    return rc;
}
