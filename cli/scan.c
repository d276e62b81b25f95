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
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
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
    "      --include=GLOB     in directories, scan only files matching GLOB (repeatable)\n"
    "      --exclude=GLOB     in directories, skip files and directories matching GLOB\n"
    "                         (repeatable; wins over --include). A GLOB without '/' matches\n"
    "                         the name at any depth ('*.pkl'); one with '/' matches the path\n"
    "                         below the directory named ('ckpt/*.bin', '**/tmp/*'); a\n"
    "                         trailing '/' matches directories only. Paths named on the\n"
    "                         command line are always scanned\n"
    "  -j, --jobs=N           scan the files of directories with N threads (default: the\n"
    "                         cores available); the report is the same as with -j 1\n"
    "  -o, --output=FILE      write the report to FILE, replaced only once it is complete\n"
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
    "Results go to stdout (or FILE); diagnostics to stderr. A path that cannot be read is\n"
    "reported in the output (and, with json, jsonl or sarif, also on stderr). While the\n"
    "results go to a file or a pipe, a progress line on a terminal's stderr counts the files\n"
    "scanned.\n"
    "'man brine' lists the rules that findings name and the exact json output.\n"
    "\n"
    "Exit status:\n"
    "  0  every file passes\n"
    "  1  at least one file fails (its verdict is at least --fail-on)\n"
    "  2  usage error, or a path could not be read (or the output written) and no file\n"
    "     failed: findings always win over errors\n";

enum { OPT_FORMAT = 256, OPT_ALLOW, OPT_POLICY, OPT_FAIL_ON, OPT_LIMIT, OPT_INCLUDE, OPT_EXCLUDE };

static const struct option scan_options[] = {
    {"recursive", no_argument, NULL, 'r'},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"output", required_argument, NULL, 'o'},
    {"jobs", required_argument, NULL, 'j'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"fail-on", required_argument, NULL, OPT_FAIL_ON},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One entry of the report, in the order of a serial scan: a file to scan (its result is
 * filled in by whichever thread scans it), or an error or note found by the walk. */
typedef enum { JOB_SCAN, JOB_ERROR, JOB_NOTE } job_kind;

typedef struct scan_job {
    job_kind kind;
    int done;      /* the result (or message) is ready to be reported */
    char *path;    /* owned */
    char *message; /* JOB_ERROR, JOB_NOTE: owned */
    brine_status st;
    brine_result *res;
    brine_error err;
} scan_job;

/* The worker threads of -j N. Jobs sit in a ring in walk order: the walker appends at tail,
 * workers take the next unclaimed job, and the main thread reports from head only once that
 * job is done. The ring is bounded, so a tree of millions of files still costs memory for a
 * few hundred jobs per thread, and the report comes out byte for byte as a serial scan's. */
typedef struct scan_pool {
    pthread_t *threads;
    size_t n_threads;
    scan_job *ring;
    size_t cap;
    uint64_t head, claim, tail; /* head <= claim <= tail, tail - head <= cap */
    int stop;
    size_t idle;      /* workers waiting for a job: signal work only when one is */
    int main_waiting; /* the main thread waits for job wait_seq: signal done only then */
    uint64_t wait_seq;
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was added, or stop */
    pthread_cond_t done; /* the job at head may be done */
} scan_pool;

typedef struct scan_run {
    brine_report *report;
    brine_scan_options opts;
    brine_verdict fail_on;
    int recursive;
    int echo_errors; /* also print unreadable paths on stderr (non-text formats) */
    int flush_each;  /* jsonl: flush after every file */
    int out_broken;  /* the output failed: stop */
    FILE *out;       /* where the report goes: stdout, or the -o temporary file */
    unsigned long long failed, errors;
    unsigned long long scanned;
    int progress;              /* show a progress line on stderr (a terminal) */
    int progress_shown;        /* a progress line is on screen and must be cleared first */
    struct timespec last;      /* when the progress line was last drawn */
    char **include, **exclude; /* --include / --exclude patterns (argv strings) */
    size_t n_include, n_exclude;
    long jobs;       /* -j: threads scanning files of directories */
    scan_pool *pool; /* started at the first directory when jobs > 1 */
    int skip_set;    /* the -o temporary file, never scanned: its directory and name */
    dev_t skip_dev;
    ino_t skip_ino;
    const char *skip_name;
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
        cli_warn("cannot write the report: %s", ferror(run->out) ? "write error" : "out of memory");
    run->out_broken = 1;
}

static void report_status(scan_run *run, brine_status st)
{
    if (st)
        out_failed(run);
}

/* Reports an error entry now (the main thread, in report order). */
static void emit_error(scan_run *run, const char *path, const char *message)
{
    brine_error why, err;
    memset(&why, 0, sizeof why);
    memset(&err, 0, sizeof err);
    why.code = BRINE_ERR_IO;
    snprintf(why.msg, sizeof why.msg, "%s", message);
    run->errors++;
    if (run->echo_errors) {
        progress_clear(run);
        cli_warn("%s: %s", path, why.msg);
    }
    report_status(run, brine_report_add_error(run->report, path, &why, &err));
}

/* Reports the outcome of scanning path: the result, or the error st/err. Frees res. */
static void report_scan(scan_run *run, const char *path, brine_status st, brine_result *res,
                        const brine_error *err)
{
    run->scanned++;
    progress_tick(run);
    if (st) {
        /* the library's message already says what failed ("cannot open: ...") */
        emit_error(run, path, err->msg[0] ? err->msg : brine_status_name(st));
        return;
    }
    if (brine_result_verdict(res) >= run->fail_on)
        run->failed++;
    brine_error werr;
    memset(&werr, 0, sizeof werr);
    report_status(run, brine_report_add(run->report, path, res, &werr));
    brine_result_free(res);
    if (run->flush_each && fflush(run->out) != 0)
        out_failed(run);
}

static void run_job(const scan_run *run, scan_job *job)
{
    memset(&job->err, 0, sizeof job->err);
    job->res = NULL;
    job->st = brine_scan_file(job->path, &run->opts, &job->res, &job->err);
}

/* Reports a finished job and frees what it holds. After the output failed, only frees. */
static void emit_job(scan_run *run, scan_job *job)
{
    if (run->out_broken) {
        brine_result_free(job->res);
    } else if (job->kind == JOB_SCAN) {
        report_scan(run, job->path, job->st, job->res, &job->err);
    } else if (job->kind == JOB_ERROR) {
        emit_error(run, job->path, job->message);
    } else {
        progress_clear(run);
        cli_warn("%s: %s", job->path, job->message);
    }
    free(job->path);
    free(job->message);
    memset(job, 0, sizeof *job);
}

static void *pool_worker(void *arg)
{
    scan_run *run = arg;
    scan_pool *p = run->pool;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->claim == p->tail && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
        }
        if (p->claim == p->tail)
            break; /* stopping, and nothing left */
        uint64_t seq = p->claim++;
        scan_job *job = &p->ring[seq % p->cap];
        pthread_mutex_unlock(&p->lock);
        if (job->kind == JOB_SCAN && !job->done)
            run_job(run, job);
        pthread_mutex_lock(&p->lock);
        job->done = 1;
        if (seq == p->wait_seq && p->main_waiting)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* The cores this process may run on (its affinity mask), at least 1. */
static long cores_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* Frees run->pool, whose threads have ended (or never started). */
static void pool_free(scan_run *run)
{
    scan_pool *p = run->pool;
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->ring);
    free(p->threads);
    free(p);
    run->pool = NULL;
}

/* Starts run->jobs workers. On failure (memory, threads) the scan goes on serially. */
static void pool_start(scan_run *run)
{
    scan_pool *p = calloc(1, sizeof *p);
    size_t n = (size_t)run->jobs;
    if (!p)
        return;
    /* enough jobs queued to keep every thread busy past a slow file, and few wake-ups: at 16
     * per thread, 10,000 small files cost 2,300 context switches and 87 ms; at 256, 700 and
     * 70 ms (2 cores). A job is ~300 bytes. */
    p->cap = n * 256;
    p->ring = calloc(p->cap, sizeof *p->ring);
    p->threads = calloc(n, sizeof *p->threads);
    if (!p->ring || !p->threads || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->ring);
        free(p->threads);
        free(p);
        return;
    }
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    run->pool = p;
    for (size_t i = 0; i < n; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_worker, run) != 0)
            break;
        p->n_threads++;
    }
    if (p->n_threads == 0) {
        cli_warn("cannot start threads: scanning with one");
        pool_free(run);
        run->jobs = 1;
    }
}

/* Waits until job seq is done, scanning queued jobs meanwhile: the main thread would sleep
 * while a core is free. Called with the lock held. */
static void pool_wait(const scan_run *run, scan_pool *p, uint64_t seq)
{
    while (!p->ring[seq % p->cap].done) {
        if (p->claim < p->tail) {
            scan_job *job = &p->ring[p->claim++ % p->cap];
            pthread_mutex_unlock(&p->lock);
            if (job->kind == JOB_SCAN && !job->done)
                run_job(run, job);
            pthread_mutex_lock(&p->lock);
            job->done = 1;
            continue;
        }
        p->wait_seq = seq;
        p->main_waiting = 1;
        pthread_cond_wait(&p->done, &p->lock);
        p->main_waiting = 0;
    }
}

/* Reports the jobs at head that are done, in order; at least the one at head (waiting for it).
 * Called with the lock held; reporting writes output, so it runs unlocked. */
static void pool_emit_ready(scan_run *run)
{
    scan_pool *p = run->pool;
    pool_wait(run, p, p->head);
    while (p->head < p->tail && p->ring[p->head % p->cap].done) {
        scan_job *job = &p->ring[p->head % p->cap];
        scan_job copy = *job;
        memset(job, 0, sizeof *job);
        p->head++;
        pthread_mutex_unlock(&p->lock);
        emit_job(run, &copy);
        pthread_mutex_lock(&p->lock);
    }
}

/* The ring is full: waits for the job half way along (jobs finish roughly in order), then
 * reports what is done. One wake-up per half ring, not one per file. */
static void pool_make_room(scan_run *run)
{
    scan_pool *p = run->pool;
    pool_wait(run, p, p->head + p->cap / 2);
    pool_emit_ready(run);
}

/* Reports every queued job, in order. */
static void pool_drain(scan_run *run)
{
    scan_pool *p = run->pool;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->head < p->tail)
        pool_emit_ready(run);
    pthread_mutex_unlock(&p->lock);
}

static void pool_stop(scan_run *run)
{
    scan_pool *p = run->pool;
    if (!p)
        return;
    pool_drain(run);
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pool_free(run);
}

/* Takes the job (its strings included): reports it in order, scanning it first when it is a
 * file — on a worker when the pool runs, else right here. */
static void submit(scan_run *run, scan_job *job)
{
    scan_pool *p = run->pool;
    if (job->kind != JOB_SCAN)
        job->done = 1;
    if (!p) {
        if (job->kind == JOB_SCAN && !run->out_broken)
            run_job(run, job);
        emit_job(run, job);
        return;
    }
    pthread_mutex_lock(&p->lock);
    while (p->tail - p->head == p->cap)
        pool_make_room(run);
    p->ring[p->tail % p->cap] = *job;
    p->tail++;
    if (p->idle)
        pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

static void add_error(scan_run *run, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Queues an error entry for path (reported in walk order). */
static void add_error(scan_run *run, const char *path, const char *fmt, ...)
{
    char msg[sizeof(((brine_error *)0)->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    scan_job job = {.kind = JOB_ERROR, .path = strdup(path), .message = strdup(msg)};
    if (!job.path || !job.message) {
        /* no memory to queue it: report it now, slightly out of order, rather than lose it */
        free(job.path);
        free(job.message);
        pool_drain(run);
        emit_error(run, path, msg);
        return;
    }
    submit(run, &job);
}

static void note_dir_link(scan_run *run, const char *path)
{
    scan_job job = {.kind = JOB_NOTE,
                    .path = strdup(path),
                    .message = strdup("symbolic link to a directory, not followed")};
    if (job.path && job.message) {
        submit(run, &job);
        return;
    }
    free(job.path);
    free(job.message);
}

/* Queues path (a regular file) to be scanned; takes path. */
static void scan_path(scan_run *run, char *path)
{
    scan_job job = {.kind = JOB_SCAN, .path = path};
    submit(run, &job);
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
    report_scan(run, "-", st, res, &err);
}

/* --include / --exclude. A pattern without '/' is matched (fnmatch) against the entry's name
 * at any depth, as in .gitignore; a pattern with '/' against its whole path relative to the
 * directory named on the command line, '*' and '?' not crossing '/' (FNM_PATHNAME), a leading
 * '/' anchoring nothing more and a leading "**" "/" matching at any depth. A trailing '/'
 * matches directories only. */
static int glob_match(const char *pattern, const char *rel, const char *name, int is_dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(pattern);
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, pattern, n + 1);
    if (buf[n - 1] == '/') {
        if (!is_dir)
            return 0;
        buf[--n] = '\0';
    }
    const char *pat = buf;
    if (!strchr(pat, '/'))
        return fnmatch(pat, name, 0) == 0;
    if (pat[0] == '/')
        return fnmatch(pat + 1, rel, FNM_PATHNAME) == 0;
    if (strncmp(pat, "**/", 3) == 0) {
        for (const char *at = rel; at; at = strchr(at, '/'), at = at ? at + 1 : NULL)
            if (fnmatch(pat + 3, at, FNM_PATHNAME) == 0)
                return 1;
        return 0;
    }
    return fnmatch(pat, rel, FNM_PATHNAME) == 0;
}

static int matches_any(char **patterns, size_t n, const char *rel, const char *name, int is_dir)
{
    for (size_t i = 0; i < n; i++)
        if (glob_match(patterns[i], rel, name, is_dir))
            return 1;
    return 0;
}

/* Whether the walk skips the entry rel (name its last part): excluded, or a file that no
 * --include names. */
static int filtered_out(const scan_run *run, const char *rel, const char *name, int is_dir)
{
    if (matches_any(run->exclude, run->n_exclude, rel, name, is_dir))
        return 1;
    return !is_dir && run->n_include && !matches_any(run->include, run->n_include, rel, name, 0);
}

/* What a directory entry is, from readdir's d_type when the file system gives it (no stat),
 * else from one fstatat relative to the directory. */
typedef enum { ENT_FILE, ENT_DIR, ENT_DIR_LINK, ENT_OTHER, ENT_ERROR } ent_kind;

typedef struct dir_entry {
    char *name;
    ent_kind kind;
    unsigned mode; /* ENT_OTHER: the file type, for the message */
    int err;       /* ENT_ERROR: errno of the stat */
} dir_entry;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const dir_entry *)a)->name, ((const dir_entry *)b)->name);
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

static ent_kind kind_of_mode(unsigned mode)
{
    return S_ISREG(mode) ? ENT_FILE : S_ISDIR(mode) ? ENT_DIR : ENT_OTHER;
}

/* Classifies one entry of the directory dfd. Links are followed (a link to a file is scanned:
 * the loader would follow it; a link to a directory is not, or a link to an ancestor would
 * never end). */
static void classify(int dfd, const struct dirent *e, dir_entry *out)
{
    struct stat st;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            out->kind = ENT_ERROR;
            out->err = errno;
            return;
        }
        if (!S_ISLNK(st.st_mode)) {
            out->kind = kind_of_mode(st.st_mode);
            out->mode = st.st_mode;
            return;
        }
        type = DT_LNK;
    }
    switch (type) {
    case DT_REG: out->kind = ENT_FILE; return;
    case DT_DIR: out->kind = ENT_DIR; return;
    case DT_LNK:
        if (fstatat(dfd, e->d_name, &st, 0) != 0) {
            out->kind = ENT_ERROR;
            out->err = errno;
        } else {
            out->kind = S_ISDIR(st.st_mode) ? ENT_DIR_LINK : kind_of_mode(st.st_mode);
            out->mode = st.st_mode;
        }
        return;
    default:
        out->kind = ENT_OTHER;
        out->mode = (unsigned)DTTOIF(type);
        return;
    }
}

static void free_entries(dir_entry *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
}

/* Reads and classifies the entries of the open directory d (the caller's dir_frame already
 * checked), sorted by name. NULL with *n_out 0 on error (reported). */
static dir_entry *read_entries(scan_run *run, const char *path, DIR *d, size_t *n_out)
{
    *n_out = 0;
    int dfd = dirfd(d);
    dir_entry *ents = NULL;
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
        if (run->skip_set && strcmp(e->d_name, run->skip_name) == 0) {
            struct stat fst;
            if (fstatat(dfd, e->d_name, &fst, AT_SYMLINK_NOFOLLOW) == 0 &&
                fst.st_dev == run->skip_dev && fst.st_ino == run->skip_ino)
                continue; /* the report being written (-o) */
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            dir_entry *grown = ncap < cap ? NULL : realloc(ents, ncap * sizeof *ents);
            if (!grown)
                goto nomem;
            ents = grown;
            cap = ncap;
        }
        memset(&ents[n], 0, sizeof ents[n]);
        if (!(ents[n].name = strdup(e->d_name)))
            goto nomem;
        classify(dfd, e, &ents[n]);
        n++;
    }
    if (n > 1)
        qsort(ents, n, sizeof *ents, by_name);
    *n_out = n;
    return ents;
nomem:
    add_error(run, path, "out of memory reading the directory");
    free_entries(ents, n);
    return NULL;
}

static void walk_dir(scan_run *run, const char *path, size_t rel_off, int follow,
                     const dir_frame *up);

/* Visits one classified entry of the directory path. */
static void visit(scan_run *run, const char *path, size_t rel_off, const dir_entry *ent,
                  const dir_frame *here)
{
    char *child = join(path, ent->name);
    if (!child) {
        add_error(run, path, "out of memory");
        return;
    }
    const char *rel = child + rel_off;
    if (filtered_out(run, rel, ent->name, ent->kind == ENT_DIR || ent->kind == ENT_DIR_LINK)) {
        free(child);
        return;
    }
    switch (ent->kind) {
    case ENT_FILE: scan_path(run, child); return;
    case ENT_DIR: walk_dir(run, child, rel_off, 0, here); break;
    case ENT_DIR_LINK: note_dir_link(run, child); break;
    case ENT_OTHER: add_error(run, child, "%s", cli_not_regular(ent->mode)); break;
    case ENT_ERROR: add_error(run, child, "cannot open: %s", strerror(ent->err)); break;
    }
    free(child);
}

/* Walks the directory path; rel_off is where the path relative to the directory named on the
 * command line starts. follow: path was named by the user, so a link to it is followed. The
 * directory is closed before its entries are visited, so the depth of a tree costs no file
 * descriptors; its entries are classified while it is open, relative to its descriptor. */
static void walk_dir(scan_run *run, const char *path, size_t rel_off, int follow,
                     const dir_frame *up)
{
    if (run->out_broken)
        return;
    if (run->jobs > 1 && !run->pool)
        pool_start(run);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        add_error(run, path, "cannot open directory: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    for (const dir_frame *f = up; f; f = f->up) {
        if (f->dev == st.st_dev && f->ino == st.st_ino) {
            close(fd);
            add_error(run, path, "directory loop: already being scanned higher up");
            return;
        }
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        add_error(run, path, "cannot open directory: %s", strerror(errno));
        close(fd);
        return;
    }
    dir_frame here = {st.st_dev, st.st_ino, up};
    size_t n;
    dir_entry *ents = read_entries(run, path, d, &n);
    closedir(d);
    for (size_t i = 0; i < n && !run->out_broken; i++)
        visit(run, path, rel_off, &ents[i], &here);
    free_entries(ents, n);
}

/* Scans a path named on the command line, whose stat (links followed) is st. */
static void walk_arg(scan_run *run, const char *path, const struct stat *st)
{
    if (S_ISREG(st->st_mode)) {
        char *copy = strdup(path);
        if (copy)
            scan_path(run, copy);
        else
            add_error(run, path, "out of memory");
    } else if (S_ISDIR(st->st_mode) && run->recursive) {
        size_t len = strlen(path);
        walk_dir(run, path, len && path[len - 1] == '/' ? len : len + 1, 1, NULL);
    } else if (S_ISDIR(st->st_mode)) {
        add_error(run, path, "is a directory (use -r)");
    } else {
        add_error(run, path, "%s", cli_not_regular(st->st_mode));
    }
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

/* -o FILE: the report is written to a temporary file next to FILE and renamed over it once
 * complete, so FILE is either the old file or the whole new report, never half of one. An
 * interrupted scan removes the temporary file. */
static char *volatile staged_path; /* for the signal handler */

static void remove_staged(int sig)
{
    if (staged_path)
        unlink(staged_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Opens run->out on a new temporary file next to target; returns its path, or NULL after a
 * diagnostic. */
static char *output_open(scan_run *run, const char *target)
{
    const char *slash = strrchr(target, '/');
    size_t dir_len = slash ? (size_t)(slash - target) + 1 : 0;
    const char *base = target + dir_len;
    if (!*base) {
        cli_usage_error("scan", "--output %s: names a directory, not a file", target);
        return NULL;
    }
    size_t len = dir_len + 1 + strlen(base) + sizeof ".brine-XXXXXX";
    char *tmp = malloc(len);
    if (!tmp) {
        cli_warn("out of memory");
        return NULL;
    }
    /* hidden, in the same directory (so rename is atomic), unique */
    snprintf(tmp, len, "%.*s.%s.brine-XXXXXX", (int)dir_len, target, base);
    /* no signal between creating the file and knowing to remove it */
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &saved);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd >= 0) {
        staged_path = tmp;
        signal(SIGINT, remove_staged);
        signal(SIGTERM, remove_staged);
        signal(SIGHUP, remove_staged);
    }
    sigprocmask(SIG_SETMASK, &saved, NULL);
    struct stat st;
    if (fd < 0) {
        cli_warn("--output %s: cannot create a file in its directory: %s", target, strerror(errno));
        free(tmp);
        return NULL;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || fstat(fd, &st) != 0 || !(run->out = fdopen(fd, "w"))) {
        cli_warn("--output %s: %s", target, strerror(errno));
        close(fd);
        unlink(tmp);
        staged_path = NULL;
        free(tmp);
        return NULL;
    }
    /* the walk never scans the report it is writing */
    run->skip_set = 1;
    run->skip_dev = st.st_dev;
    run->skip_ino = st.st_ino;
    run->skip_name = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
    return tmp;
}

/* Flushes, syncs and closes run->out; renames tmp to target when the report is whole, else
 * removes it. Returns 0, or -1 after a diagnostic. */
static int output_commit(scan_run *run, char *tmp, const char *target)
{
    int ok = !run->out_broken && fflush(run->out) == 0 && !ferror(run->out) &&
             fsync(fileno(run->out)) == 0;
    int e = errno;
    if (fclose(run->out) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    run->out = stdout;
    if (ok && rename(tmp, target) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        if (!run->out_broken)
            cli_warn("--output %s: cannot write the report: %s", target, strerror(e));
    }
    staged_path = NULL;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    free(tmp);
    return ok ? 0 : -1;
}

static int write_out(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, *(FILE **)ctx) == len ? 0 : -1;
}

/* Appends arg to a --include / --exclude list. */
static int add_pattern(char ***list, size_t *n, char *arg)
{
    char **grown = realloc(*list, (*n + 1) * sizeof **list);
    if (!grown) {
        cli_warn("out of memory");
        return -1;
    }
    grown[(*n)++] = arg;
    *list = grown;
    return 0;
}

static int parse_jobs(const char *s, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < 1 || n > 1024)
        return -1;
    *out = n;
    return 0;
}

int cli_scan(int argc, char **argv)
{
    scan_run run;
    memset(&run, 0, sizeof run);
    run.fail_on = BRINE_UNVERIFIED;
    run.out = stdout;
    brine_report_format format = BRINE_REPORT_TEXT;
    brine_policy *policy = NULL;
    brine_limits limits;
    memset(&limits, 0, sizeof limits);
    int have_limits = 0, status = CLI_USAGE;
    const char *output = NULL;
    char *staged = NULL;

    optind = 0; /* full re-initialisation (glibc) */
    int c;
    while ((c = getopt_long(argc, argv, "rhj:o:", scan_options, NULL)) != -1) {
        switch (c) {
        case 'r': run.recursive = 1; break;
        case 'h':
            print_help();
            brine_policy_free(policy);
            free(run.include);
            free(run.exclude);
            return CLI_OK;
        case 'j':
            if (parse_jobs(optarg, &run.jobs)) {
                cli_usage_error("scan", "--jobs must be a number from 1 to 1024, not '%s'", optarg);
                goto out;
            }
            break;
        case 'o': output = optarg; break;
        case OPT_INCLUDE:
            if (add_pattern(&run.include, &run.n_include, optarg))
                goto out;
            break;
        case OPT_EXCLUDE:
            if (add_pattern(&run.exclude, &run.n_exclude, optarg))
                goto out;
            break;
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
    if (!run.jobs)
        run.jobs = cores_available();
    if (run.jobs > 1024)
        run.jobs = 1024;
    if (output && !(staged = output_open(&run, output)))
        goto out;

    run.opts.policy = policy;
    run.opts.limits = have_limits ? &limits : NULL;
    run.echo_errors = format != BRINE_REPORT_TEXT;
    run.flush_each = format == BRINE_REPORT_JSONL;
    run.report = brine_report_new(format, write_out, &run.out);
    if (!run.report) {
        cli_warn("out of memory");
        goto out;
    }
    brine_report_set_fail_on(run.report, run.fail_on);
    run.progress = isatty(STDERR_FILENO) && (output || !isatty(STDOUT_FILENO));
    clock_gettime(CLOCK_MONOTONIC, &run.last);

    int stdin_seen = 0;
    for (int i = optind; i < argc && !run.out_broken; i++) {
        struct stat st;
        if (strcmp(argv[i], "-") == 0) {
            /* standard input, once: a second "-" would read an empty stream */
            if (stdin_seen++) {
                add_error(&run, argv[i], "standard input was already scanned");
            } else {
                pool_drain(&run); /* what came before is reported first */
                scan_stdin(&run);
            }
            continue;
        }
        /* command-line paths follow links, a directory link included: the user named it */
        if (stat(argv[i], &st) != 0)
            add_error(&run, argv[i], "cannot open: %s", strerror(errno));
        else
            walk_arg(&run, argv[i], &st);
    }
    pool_stop(&run);
    if (!run.out_broken) {
        brine_error err;
        memset(&err, 0, sizeof err);
        report_status(&run, brine_report_finish(run.report, &err));
    }
    if (!staged && fflush(stdout) != 0)
        out_failed(&run);
    progress_clear(&run);
    if (staged) {
        int failed = output_commit(&run, staged, output);
        staged = NULL;
        if (failed)
            run.out_broken = 1;
    }
    status = run.failed ? CLI_FAILED : run.errors || run.out_broken ? CLI_USAGE : CLI_OK;
out:
    pool_stop(&run);
    if (staged) { /* an error after the output was opened: leave FILE as it was */
        run.out_broken = 1;
        output_commit(&run, staged, output);
    }
    brine_report_free(run.report);
    brine_policy_free(policy);
    free(run.include);
    free(run.exclude);
    return status;
}
