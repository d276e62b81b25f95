/*
 * brine.c — the brine tool: dispatches to a command, prints the top-level help and version.
 *
 *   brine scan    decide whether files are safe to load            (scan.c)
 *   brine dis     disassemble the pickles of a file                 (dis.c)
 *   brine inspect, convert, diff: not in this version yet (exit 2, said so in --help)
 *
 * Every command is an ordinary client of include/brine.h. The tool never loads or runs what
 * it reads; all it adds to the library is argument parsing, walking directories and choosing
 * the exit status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char top_help[] =
    "Usage: brine COMMAND [OPTION]... ARG...\n"
    "       brine --help | --version | --help-limits\n"
    "\n"
    "brine reads machine-learning model files (pickles, PyTorch checkpoints, joblib and\n"
    "NumPy files, safetensors, ...) without executing them: nothing in a file is imported or\n"
    "called, so scanning a malicious file is safe.\n"
    "\n"
    "Commands:\n"
    "  scan      decide whether files are safe to load: safe, unverified, invalid or unsafe\n"
    "  dis       list the opcodes of the pickles in a file and the objects they build\n"
    "  inspect   list the tensors and values of a model (not implemented yet in this version)\n"
    "  convert   convert a model to safetensors, skops, XGBoost or LightGBM\n"
    "            (not implemented yet in this version)\n"
    "  diff      compare the tensors of two models (not implemented yet in this version)\n"
    "  help [COMMAND]  show this help, or the help of COMMAND\n"
    "\n"
    "Options:\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "      --help-limits  list the resource limits, their defaults and meanings, and exit\n"
    "\n"
    "Run 'brine COMMAND --help' for the options of a command; 'man brine' has the details.\n"
    "\n"
    "Exit status: 0 success; 1 'brine scan' found a file that fails; 2 usage error, a file\n"
    "could not be read, or a command that is not implemented yet.\n";

static const char inspect_help[] =
    "Usage: brine inspect [--format text|json] [--hash] FILE\n"
    "\n"
    "List the tensors of FILE (name, dtype, shape) and its non-tensor values.\n"
    "\n"
    "Not implemented yet in this version: 'brine inspect' exits with status 2.\n"
    "\n"
    "Options (planned):\n"
    "      --format=FORMAT  text or json\n"
    "      --hash           add the SHA-256 of each tensor's elements\n"
    "  -h, --help           show this help and exit\n";

static const char convert_help[] =
    "Usage: brine convert [--to safetensors|skops|xgboost|lightgbm] [--allow ENTRY]... IN OUT\n"
    "\n"
    "Convert IN, which must pass the policy, into a safe format, written atomically to OUT.\n"
    "\n"
    "Not implemented yet in this version: 'brine convert' exits with status 2.\n"
    "\n"
    "Options (planned):\n"
    "      --to=FORMAT    safetensors, skops, xgboost or lightgbm\n"
    "      --allow=ENTRY  also allow a profile, a global or a module (as for brine scan)\n"
    "  -h, --help         show this help and exit\n";

static const char diff_help[] =
    "Usage: brine diff A B\n"
    "\n"
    "Compare the tensors of two models of any supported formats by name, dtype, shape and\n"
    "bytes; exit 0 when identical, 1 when not.\n"
    "\n"
    "Not implemented yet in this version: 'brine diff' exits with status 2.\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help and exit\n";

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("brine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("brine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Try 'brine%s%s --help' for more information.\n", command ? " " : "",
            command ? command : "");
    return CLI_USAGE;
}

int cli_write_stdout(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

/* Flushes stdout; a full disk or closed pipe is an error worth a diagnostic. */
static int finish_stdout(int status)
{
    /* a command that already failed has said why; do not add a second diagnostic */
    if ((fflush(stdout) != 0 || ferror(stdout)) && status == CLI_OK) {
        cli_warn("cannot write the output");
        return CLI_USAGE;
    }
    return status;
}

/* A command that a later version implements: its help works, running it says so. */
static int not_yet(const char *name, const char *help, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
    }
    cli_warn("%s is not implemented yet in this version", name);
    return CLI_USAGE;
}

static int run_inspect(int argc, char **argv)
{
    return not_yet("inspect", inspect_help, argc, argv);
}
static int run_convert(int argc, char **argv)
{
    return not_yet("convert", convert_help, argc, argv);
}
static int run_diff(int argc, char **argv) { return not_yet("diff", diff_help, argc, argv); }

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"scan", cli_scan},       {"dis", cli_dis},   {"inspect", run_inspect},
    {"convert", run_convert}, {"diff", run_diff},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Runs cmd with argv[0] = "brine NAME", so getopt's messages name the command. */
static int run(const struct command *cmd, int argc, char **argv)
{
    static char argv0[32];
    snprintf(argv0, sizeof argv0, "brine %s", cmd->name);
    argv[0] = argv0;
    return cmd->run(argc, argv);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(NULL, "missing COMMAND (scan, dis, inspect, convert, diff)");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        fputs(top_help, stdout);
        return finish_stdout(CLI_OK);
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        fputs("brine " BRINE_VERSION_STRING "\n", stdout);
        return finish_stdout(CLI_OK);
    }
    if (strcmp(first, "--help-limits") == 0) {
        cli_print_limits(stdout);
        return finish_stdout(CLI_OK);
    }
    if (strcmp(first, "help") == 0) {
        if (argc < 3) {
            fputs(top_help, stdout);
            return finish_stdout(CLI_OK);
        }
        const struct command *cmd = find_command(argv[2]);
        if (!cmd)
            return cli_usage_error(NULL, "no command is named '%s'", argv[2]);
        char help_flag[] = "--help";
        char *help_argv[] = {argv[2], help_flag, NULL};
        return finish_stdout(run(cmd, 2, help_argv));
    }
    if (first[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s' (options follow the COMMAND)", first);
    const struct command *cmd = find_command(first);
    if (!cmd)
        return cli_usage_error(NULL, "no command is named '%s'", first);
    return finish_stdout(run(cmd, argc - 1, argv + 1));
}
