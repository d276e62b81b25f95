/*
 * brine.c — the brine tool: dispatches to a command, prints the top-level help and version.
 *
 *   brine scan    decide whether files are safe to load            (scan.c)
 *   brine dis     disassemble the pickles of a file                 (dis.c)
 *   brine inspect tensors and values of a model                     (inspect.c)
 *   brine convert a model to safetensors + JSON config               (convert.c)
 *   brine diff    compare the tensors of two models                  (diff.c)
 *
 * Every command is an ordinary client of include/brine.h. The tool never loads or runs what
 * it reads; all it adds to the library is argument parsing, walking directories and choosing
 * the exit status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
    "  inspect   list the tensors (name, dtype, shape, SHA-256) and values of a model\n"
    "  convert   convert a model to safetensors + a JSON config of its other values\n"
    "  diff      compare the tensors of two models; exit 0 when identical, 1 when not\n"
    "  help [COMMAND]  show this help, or the help of COMMAND\n"
    "\n"
    "Options:\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "      --help-limits  list the resource limits, their defaults and meanings, and exit\n"
    "\n"
    "Run 'brine COMMAND --help' for the options of a command; 'man brine' has the details.\n"
    "\n"
    "Exit status: 0 success; 1 'brine scan' found a file that fails, 'brine diff' found a\n"
    "difference, or inspect/convert/diff refused a file; 2 usage error or a file could not\n"
    "be read (only regular files are read). An interrupted 'brine convert' removes its\n"
    "temporary files and dies of the signal (status 128+N).\n";

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
    cli_try_help(command);
    return CLI_USAGE;
}

void cli_try_help(const char *command)
{
    fprintf(stderr, "Try 'brine%s%s --help' for more information.\n", command ? " " : "",
            command ? command : "");
}

const char *cli_not_regular(unsigned mode)
{
    if (S_ISDIR(mode))
        return "is a directory, not a file";
    if (S_ISFIFO(mode))
        return "is a FIFO (named pipe), not a regular file: brine reads only regular files";
    if (S_ISCHR(mode))
        return "is a character device, not a regular file: brine reads only regular files";
    if (S_ISBLK(mode))
        return "is a block device, not a regular file: brine reads only regular files";
    if (S_ISSOCK(mode))
        return "is a socket, not a regular file: brine reads only regular files";
    return "is not a regular file: brine reads only regular files";
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

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"scan", cli_scan},       {"dis", cli_dis},   {"inspect", cli_inspect},
    {"convert", cli_convert}, {"diff", cli_diff},
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
