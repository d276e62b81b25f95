/*
 * cli.h — what the files of the brine tool share. The tool uses only the public header
 * (include/brine.h), like any other program built on libbrine.
 *
 * Conventions of the tool: results go to stdout, diagnostics to stderr as "brine: ...";
 * a usage error exits with status 2 after naming the problem and the --help to read.
 */
#ifndef BRINE_CLI_H
#define BRINE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "brine.h"

/* Exit statuses shared by every command (docs/contract.md): 0 success, 1 a file fails or is
 * refused (diff: or differs), 2 usage or I/O error. convert also dies of SIGINT/SIGTERM/SIGHUP
 * after removing its temporaries (the shell reports 128+N). */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* The commands; argv[0] is "brine COMMAND". Each returns the exit status. */
int cli_scan(int argc, char **argv);
int cli_dis(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_convert(int argc, char **argv);
int cli_diff(int argc, char **argv);

/* Opens a model for a command with the given policy and limits (NULL: defaults); on failure
 * prints why and returns the exit status (CLI_FAILED when the file is refused, CLI_USAGE when
 * it cannot be read — a FIFO, device or directory included). */
int cli_open_model(const char *command, const char *path, brine_policy *policy,
                   const brine_limits *limits, brine_model **out);

/* Why a file of this mode (not a regular file) is not read: "is a FIFO (named pipe), ...". */
const char *cli_not_regular(unsigned mode);

/* brine_write_fn writing to stdout. */
int cli_write_stdout(void *ctx, const void *buf, size_t len);

/* Prints "brine: " and the message to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the message and "Try 'brine COMMAND --help'." and returns CLI_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "Try 'brine COMMAND --help' for more information." (after getopt's own message). */
void cli_try_help(const char *command);

/* Parses one --limit argument "NAME=VALUE" into *limits. VALUE is a positive decimal integer,
 * optionally followed by K, M, G or T (×1024, ×1024², …). Returns 0, or -1 after printing a
 * usage diagnostic for command. */
int cli_parse_limit(const char *command, const char *arg, brine_limits *limits);
/* Writes the table of limits, their defaults and meanings (`brine --help-limits`). */
void cli_print_limits(FILE *out);

/* `brine convert DIR OUTDIR` (convert_dir.c): a model folder converted file by file. */
int cli_convert_dir(const char *in, const char *out, brine_policy *policy,
                    const brine_limits *limits, const brine_convert_options *base);

#endif
