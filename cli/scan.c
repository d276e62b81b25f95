/*
 * scan.c — `brine scan`: scans files and directory trees and reports a verdict per file.
 *
 * Formats are recognised by content, so every file is scanned, whatever its name. Trees are
 * walked in a fixed order (entries sorted bytewise, not by locale) so the same tree always
 * gives the same report, and each file is reported as soon as it is scanned (jsonl is
 * flushed line by line), so a tree of millions of files streams in constant memory apart from
 * one directory's names. The walk never follows a symbolic link to a directory, and refuses
 * to enter a directory that is already being walked (a bind mount of a parent), so it always
 * ends. Special files (FIFOs, devices, sockets) are reported as errors without being opened:
 * opening a FIFO would block.
 *
 * On a terminal, while the results go elsewhere (a file, a pipe), a progress line on stderr
 * counts the files scanned; it is redrawn at most four times a second and erased at the end.
 *
 * Exit status: 1 when a file fails (its verdict is at least --fail-on), else 2 when anything
 * could not be read or written, else 0. Findings always win over errors.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char scan_help[] =
    "Usage: brine scan [OPTION]... PATH...|-\n"
    "\n"
    "Decide whether model files are safe to load, without loading them. Formats are\n"
    "recognised by content, never by file name: every file given (or, with -r, found) is\n"
    "scanned; '-' is standard input (a file named '-' is './-'). Only regular files are\n"
    "read: a FIFO, device or socket is an error, never waited on. Each file gets one\n"
    "verdict, from least to most severe:\n"
    "  safe        fully parsed; only constructs the policy allows\n"
    "  unverified  fully parsed; uses globals outside the policy, none known to be dangerous\n"
    "  invalid     malformed, truncated, over a limit or inconsistent: cannot be proven safe\n"
    "  unsafe      can run code or touch the system when loaded\n"
    "\n"
    "Options:\n"
    "  -r, --recursive        scan directories and everything below them; symbolic links to\n"
    "                         directories are not followed. Without -r a directory is an error\n"
    "      --format=FORMAT    text (default, for people), json (one document), jsonl (one\n"
    "                         line per file as it is scanned), or sarif (SARIF 2.1.0)\n"
    "      --allow=ENTRY      also allow ENTRY: a profile, a global 'module.qualname', or\n"
    "                         'module.*' (the module and its submodules). Repeatable.\n"
    "                         Some modules (os, sys, subprocess, ...) can never be allowed.\n"
    "                         Profiles: %s\n"
    "      --policy=FILE      read allow entries from FILE: one per line, '#' starts a comment\n"
    "      --fail-on=VERDICT  the least severe verdict that makes a file fail: unverified\n"
    "                         (default: anything not safe fails), invalid, or unsafe\n"
    "      --limit=NAME=VALUE set a resource limit, e.g. max_memory=100M (repeatable;\n"
    "                         'brine --help-limits' lists the names and defaults)\n"
    "  -h, --help             show this help and exit\n"
    "\n"
    "Results go to stdout; diagnostics to stderr. A path that cannot be read is reported in\n"
    "the output (and, with json, jsonl or sarif, also on stderr). While the results go to a\n"
    "file or a pipe, a progress line on a terminal's stderr counts the files scanned.\n"
    "'man brine' lists the rules that findings name and the exact json output.\n"
    "\n"
    "Exit status:\n"
    "  0  every file passes\n"
    "  1  at least one file fails (its verdict is at least --fail-on)\n"
    "  2  usage error, or a path could not be read (or the output written) and no file\n"
    "     failed: findings always win over errors\n";

enum { OPT_FORMAT = 256, OPT_ALLOW, OPT_POLICY, OPT_FAIL_ON, OPT_LIMIT };

static const struct option scan_options[] = {
    {"recursive", no_argument, NULL, 'r'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"fail-on", required_argument, NULL, OPT_FAIL_ON},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct scan_run {
    brine_report *report;
    brine_scan_options opts;
    brine_verdict fail_on;
    int recursive;
    int echo_errors; /* also print unreadable paths on stderr (non-text formats) */
    int flush_each;  /* jsonl: flush after every file */
    int out_broken;  /* the output failed: stop */
    unsigned long long failed, errors;
    unsigned long long scanned;
    int progress;         /* show a progress line on stderr (a terminal) */
    int progress_shown;   /* a progress line is on screen and must be cleared first */
    struct timespec last; /* when the progress line was last drawn */
} scan_run;

/* The directories being walked, innermost first, to refuse cycles through bind mounts. */
typedef struct dir_frame {
    dev_t dev;
    ino_t ino;
    const struct dir_frame *up;
} dir_frame;

/* Erases the progress line, so a diagnostic starts on a clean line. */
static void progress_clear(scan_run *run)
{
    if (run->progress_shown) {
        fputs("\r\033[K", stderr);
        run->progress_shown = 0;
    }
}

static void progress_tick(scan_run *run)
{
    if (!run->progress)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)(now.tv_sec - run->last.tv_sec) * 1000 +
                   (now.tv_nsec - run->last.tv_nsec) / 1000000;
    if (ms < 250)
        return;
    run->last = now;
    fprintf(stderr, "\rbrine: %llu files scanned, %llu failing, %llu errors\033[K", run->scanned,
            run->failed, run->errors);
    run->progress_shown = 1;
}

/* The output failed (disk full, closed pipe): say so once, and stop scanning. */
static void out_failed(scan_run *run)
{
    progress_clear(run);
    if (!run->out_broken)
        cli_warn("cannot write the report: %s", ferror(stdout) ? "write error" : "out of memory");
    run->out_broken = 1;
}

static void report_status(scan_run *run, brine_status st)
{
    if (st)
        out_failed(run);
}

static void add_error(scan_run *run, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(scan_run *run, const char *path, const char *fmt, ...)
{
    brine_error why, err;
    memset(&why, 0, sizeof why);
    memset(&err, 0, sizeof err);
    why.code = BRINE_ERR_IO;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why.msg, sizeof why.msg, fmt, ap);
    va_end(ap);
    run->errors++;
    if (run->echo_errors) {
        progress_clear(run);
        cli_warn("%s: %s", path, why.msg);
    }
    report_status(run, brine_report_add_error(run->report, path, &why, &err));
}

/* Reports the outcome of scanning path: the result, or the error st/err. */
static void report_scan(scan_run *run, const char *path, brine_status st, brine_result *res,
                        brine_error err)
{
    run->scanned++;
    progress_tick(run);
    if (st) {
        /* the library's message already says what failed ("cannot open: ...") */
        add_error(run, path, "%s", err.msg[0] ? err.msg : brine_status_name(st));
        return;
    }
    if (brine_result_verdict(res) >= run->fail_on)
        run->failed++;
    memset(&err, 0, sizeof err);
    report_status(run, brine_report_add(run->report, path, res, &err));
    brine_result_free(res);
    if (run->flush_each && fflush(stdout) != 0)
        out_failed(run);
}

static void scan_one(scan_run *run, const char *path)
{
    brine_result *res = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = brine_scan_file(path, &run->opts, &res, &err);
    report_scan(run, path, st, res, err);
}

/* Scans standard input ("-"), read whole — at most max_memory bytes, the budget a scan of one
 * file has anyway. A terminal is refused rather than waited on. */
static void scan_stdin(scan_run *run)
{
    brine_limits def;
    brine_limits_default(&def);
    uint64_t cap = run->opts.limits && run->opts.limits->max_memory ? run->opts.limits->max_memory
                                                                    : def.max_memory;
    if (isatty(STDIN_FILENO)) {
        add_error(run, "-", "standard input is a terminal: pipe or redirect a file into it");
        return;
    }
    size_t size = 0, alloc = 0;
    uint8_t *buf = NULL;
    for (;;) {
        if (size == alloc) {
            if (alloc > cap) {
                free(buf);
                add_error(run, "-",
                          "standard input is larger than max_memory (%llu bytes): scan it as "
                          "a file",
                          (unsigned long long)cap);
                return;
            }
            /* one byte past the cap tells "exactly cap" from "more" */
            size_t next = alloc ? alloc * 2 : 65536;
            if (next > cap + 1)
                next = (size_t)cap + 1;
            uint8_t *grown = realloc(buf, next);
            if (!grown) {
                free(buf);
                add_error(run, "-", "out of memory reading standard input");
                return;
            }
            buf = grown;
            alloc = next;
        }
        ssize_t r = read(STDIN_FILENO, buf + size, alloc - size);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            add_error(run, "-", "cannot read standard input: %s", strerror(e));
            return;
        }
        if (r == 0)
            break;
        size += (size_t)r;
    }
    brine_result *res = NULL;
    brine_error err;
    memset(&err, 0, sizeof err);
    brine_status st = brine_scan_bytes(buf, size, &run->opts, &res, &err);
    free(buf);
    report_scan(run, "-", st, res, err);
}

static void note_dir_link(scan_run *run, const char *path)
{
    progress_clear(run);
    cli_warn("%s: symbolic link to a directory, not followed", path);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "dir" + "/" + "name", without doubling a trailing slash. NULL when out of memory. */
static char *join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] == '/';
    char *p = malloc(dl + nl + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (!slash)
        p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

static void walk(scan_run *run, const char *path, const struct stat *st, const dir_frame *up);

/* Reads the names in a directory, sorted. *n_out is the count; NULL with *n_out 0 on error
 * (reported). The directory is closed before its entries are visited, so the depth of a
 * tree costs no file descriptors. */
static char **read_names(scan_run *run, const char *path, size_t *n_out)
{
    *n_out = 0;
    DIR *d = opendir(path);
    if (!d) {
        add_error(run, path, "cannot open directory: %s", strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                add_error(run, path, "cannot read directory: %s", strerror(errno));
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = ncap < cap ? NULL : realloc(names, ncap * sizeof *names);
            if (!grown)
                goto nomem;
            names = grown;
            cap = ncap;
        }
        if (!(names[n] = strdup(e->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, by_name);
    *n_out = n;
    return names;
nomem:
    closedir(d);
    add_error(run, path, "out of memory reading the directory");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return NULL;
}

static void walk_dir(scan_run *run, const char *path, const struct stat *st, const dir_frame *up)
{
    for (const dir_frame *f = up; f; f = f->up) {
        if (f->dev == st->st_dev && f->ino == st->st_ino) {
            add_error(run, path, "directory loop: already being scanned higher up");
            return;
        }
    }
    dir_frame here = {st->st_dev, st->st_ino, up};
    size_t n;
    char **names = read_names(run, path, &n);
    for (size_t i = 0; i < n; i++) {
        char *child = run->out_broken ? NULL : join(path, names[i]);
        free(names[i]);
        if (!child) {
            if (!run->out_broken)
                add_error(run, path, "out of memory");
            continue;
        }
        struct stat cst;
        if (lstat(child, &cst) != 0) {
            add_error(run, child, "cannot open: %s", strerror(errno));
        } else if (S_ISLNK(cst.st_mode)) {
            /* a link to a file is scanned (the loader would follow it); a link to a
             * directory is not followed, or a link to an ancestor would never end */
            if (stat(child, &cst) != 0)
                add_error(run, child, "cannot open: %s", strerror(errno));
            else if (S_ISDIR(cst.st_mode))
                note_dir_link(run, child);
            else
                walk(run, child, &cst, &here);
        } else {
            walk(run, child, &cst, &here);
        }
        free(child);
    }
    free(names);
}

/* Scans path, whose stat (links followed) is st. */
static void walk(scan_run *run, const char *path, const struct stat *st, const dir_frame *up)
{
    if (run->out_broken)
        return;
    if (S_ISREG(st->st_mode))
        scan_one(run, path);
    else if (S_ISDIR(st->st_mode) && run->recursive)
        walk_dir(run, path, st, up);
    else if (S_ISDIR(st->st_mode))
        add_error(run, path, "is a directory (use -r)");
    else
        add_error(run, path, "%s", cli_not_regular(st->st_mode));
}

static int parse_verdict(const char *s, brine_verdict *out)
{
    static const brine_verdict v[] = {BRINE_UNVERIFIED, BRINE_INVALID, BRINE_UNSAFE};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (strcmp(s, brine_verdict_name(v[i])) == 0) {
            *out = v[i];
            return 0;
        }
    }
    return -1;
}

static int parse_format(const char *s, brine_report_format *out)
{
    static const struct {
        const char *name;
        brine_report_format format;
    } formats[] = {{"text", BRINE_REPORT_TEXT},
                   {"json", BRINE_REPORT_JSON},
                   {"jsonl", BRINE_REPORT_JSONL},
                   {"sarif", BRINE_REPORT_SARIF}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(s, formats[i].name) == 0) {
            *out = formats[i].format;
            return 0;
        }
    }
    return -1;
}

static void print_help(void)
{
    /* the profile list comes from the library, so the help cannot go stale */
    char profiles[256] = "";
    size_t used = 0;
    const char *const *p = brine_policy_profiles();
    for (size_t i = 0; p && p[i]; i++) {
        int n = snprintf(profiles + used, sizeof profiles - used, "%s%s", i ? ", " : "", p[i]);
        if (n < 0 || (size_t)n >= sizeof profiles - used)
            break;
        used += (size_t)n;
    }
    printf(scan_help, profiles);
}

/* Applies one --allow or --policy to *policy, creating it on first use. */
static int widen(brine_policy **policy, int is_file, const char *arg)
{
    if (!*policy && !(*policy = brine_policy_new())) {
        cli_warn("out of memory");
        return -1;
    }
    brine_error err;
    memset(&err, 0, sizeof err);
    if (!is_file) {
        if (brine_policy_allow(*policy, arg, &err) == BRINE_OK)
            return 0;
        cli_usage_error("scan", "--allow %s: %s", arg, err.msg);
        return -1;
    }
    if (brine_policy_load(*policy, arg, &err) == BRINE_OK)
        return 0;
    if (err.code == BRINE_ERR_IO) /* the message names the file */
        cli_warn("--policy: %s", err.msg);
    else if (err.has_offset)
        cli_warn("--policy %s:%llu: %s", arg, (unsigned long long)err.offset, err.msg);
    else
        cli_warn("--policy %s: %s", arg, err.msg);
    return -1;
}

int cli_scan(int argc, char **argv)
{
    scan_run run;
    memset(&run, 0, sizeof run);
    run.fail_on = BRINE_UNVERIFIED;
    brine_report_format format = BRINE_REPORT_TEXT;
    brine_policy *policy = NULL;
    brine_limits limits;
    memset(&limits, 0, sizeof limits);
    int have_limits = 0, status = CLI_USAGE;

    optind = 0; /* full re-initialisation (glibc) */
    int c;
    while ((c = getopt_long(argc, argv, "rh", scan_options, NULL)) != -1) {
        switch (c) {
        case 'r': run.recursive = 1; break;
        case 'h':
            print_help();
            brine_policy_free(policy);
            return CLI_OK;
        case OPT_FORMAT:
            if (parse_format(optarg, &format)) {
                cli_usage_error("scan", "--format must be text, json, jsonl or sarif, not '%s'",
                                optarg);
                goto out;
            }
            break;
        case OPT_ALLOW:
        case OPT_POLICY:
            if (widen(&policy, c == OPT_POLICY, optarg))
                goto out;
            break;
        case OPT_FAIL_ON:
            if (parse_verdict(optarg, &run.fail_on)) {
                cli_usage_error("scan", "--fail-on must be unverified, invalid or unsafe, not '%s'",
                                optarg);
                goto out;
            }
            break;
        case OPT_LIMIT:
            if (cli_parse_limit("scan", optarg, &limits))
                goto out;
            have_limits = 1;
            break;
        default: /* getopt has printed what was wrong */ cli_try_help("scan"); goto out;
        }
    }
    if (optind >= argc) {
        cli_usage_error("scan", "no PATH to scan");
        goto out;
    }

    run.opts.policy = policy;
    run.opts.limits = have_limits ? &limits : NULL;
    run.echo_errors = format != BRINE_REPORT_TEXT;
    run.flush_each = format == BRINE_REPORT_JSONL;
    run.report = brine_report_new(format, cli_write_stdout, NULL);
    if (!run.report) {
        cli_warn("out of memory");
        goto out;
    }
    brine_report_set_fail_on(run.report, run.fail_on);
    run.progress = isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO);
    clock_gettime(CLOCK_MONOTONIC, &run.last);

    int stdin_seen = 0;
    for (int i = optind; i < argc && !run.out_broken; i++) {
        struct stat st;
        if (strcmp(argv[i], "-") == 0) {
            /* standard input, once: a second "-" would read an empty stream */
            if (stdin_seen++)
                add_error(&run, argv[i], "standard input was already scanned");
            else
                scan_stdin(&run);
            continue;
        }
        /* command-line paths follow links, a directory link included: the user named it */
        if (stat(argv[i], &st) != 0)
            add_error(&run, argv[i], "cannot open: %s", strerror(errno));
        else
            walk(&run, argv[i], &st, NULL);
    }
    if (!run.out_broken) {
        brine_error err;
        memset(&err, 0, sizeof err);
        report_status(&run, brine_report_finish(run.report, &err));
    }
    if (fflush(stdout) != 0)
        out_failed(&run);
    progress_clear(&run);
    status = run.failed ? CLI_FAILED : run.errors || run.out_broken ? CLI_USAGE : CLI_OK;
out:
    brine_report_free(run.report);
    brine_policy_free(policy);
    return status;
}
