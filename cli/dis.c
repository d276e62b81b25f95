/*
 * dis.c — `brine dis`: lists the opcodes of every pickle in a file (pickletools.dis style, or
 * the JSON of docs/contract.md) and the object graph they build, as pseudo-Python. The file
 * is mapped read-only and only decoded: nothing it names is imported or called.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char dis_help[] =
    "Usage: brine dis [OPTION]... FILE\n"
    "\n"
    "List the opcodes of every pickle in FILE, as Python's pickletools.dis does (concatenated\n"
    "pickles included), then the objects they build, written as pseudo-Python. Nothing in\n"
    "FILE is executed. A malformed stream is listed up to the opcode that fails, followed by\n"
    "the error.\n"
    "\n"
    "Options:\n"
    "      --format=FORMAT    text (default) or json: {pickles: [{offset, end, protocol, ops:\n"
    "                         [{offset, op, code, arg}]}], trailing, error, graph}\n"
    "      --member=NAME      disassemble the pickle NAME inside FILE, named as scan's findings\n"
    "                         name it (archive/data.pkl in a PyTorch zip); without it, FILE\n"
    "                         itself, or the only pickle it holds\n"
    "      --limit=NAME=VALUE set a resource limit (repeatable; see 'brine --help-limits')\n"
    "  -h, --help             show this help and exit\n"
    "\n"
    "Exit status:\n"
    "  0  FILE was listed (a malformed stream too: its error is part of the listing)\n"
    "  2  usage error, or FILE could not be read\n";

enum { OPT_FORMAT = 256, OPT_MEMBER, OPT_LIMIT };

static const struct option dis_options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"member", required_argument, NULL, OPT_MEMBER},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_dis(int argc, char **argv)
{
    brine_dis_format format = BRINE_DIS_TEXT;
    brine_limits limits;
    memset(&limits, 0, sizeof limits);
    const char *member = NULL;
    int have_limits = 0;

    optind = 0; /* full re-initialisation (glibc) */
    int c;
    while ((c = getopt_long(argc, argv, "h", dis_options, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(dis_help, stdout); return CLI_OK;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") == 0)
                format = BRINE_DIS_TEXT;
            else if (strcmp(optarg, "json") == 0)
                format = BRINE_DIS_JSON;
            else
                return cli_usage_error("dis", "--format must be text or json, not '%s'", optarg);
            break;
        case OPT_MEMBER: member = optarg; break;
        case OPT_LIMIT:
            if (cli_parse_limit("dis", optarg, &limits))
                return CLI_USAGE;
            have_limits = 1;
            break;
        default: /* getopt has printed what was wrong */ cli_try_help("dis"); return CLI_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("dis", "no FILE to disassemble");
    if (argc - optind > 1)
        return cli_usage_error("dis", "one FILE at a time (got %d)", argc - optind);
    const char *path = argv[optind];
    const brine_limits *lim = have_limits ? &limits : NULL;

    const uint8_t *data;
    size_t len;
    brine_error err;
    memset(&err, 0, sizeof err);
    if (brine_map_file(path, &data, &len, &err) != BRINE_OK) {
        cli_warn("%s: %s", path, err.msg);
        return CLI_USAGE;
    }
    memset(&err, 0, sizeof err);
    brine_status st =
        brine_dis_member(data, len, member, format, lim, cli_write_stdout, NULL, &err);
    brine_unmap(data, len);
    if (st != BRINE_OK) {
        fflush(stdout);
        cli_warn("%s: %s", path, err.msg[0] ? err.msg : brine_status_name(st));
        return CLI_USAGE;
    }
    return CLI_OK;
}
