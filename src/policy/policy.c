/*
 * policy.c — allowlist profiles, the denylist that names threats, and policy files.
 *
 * Why an allowlist decides: every denylist in research/threats.md was bypassed by a gadget it
 * did not list. Here a global is fine only when an allowlist entry covers it; the denylist only
 * grades what is not fine (unverified vs unsafe) and explains it.
 */
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

typedef struct deny_entry {
    const char *pattern;
    const char *why;
    int forbidden;
} deny_entry;

static const deny_entry deny_list[] = {
#define FORBID(p, w) {p, w, 1},
#define DENY(p, w)   {p, w, 0},
#define NOT_DENIED(p, w)
#define DENY_PART(p, w)
#include "policy/denylist.def"
#undef FORBID
#undef DENY
#undef DENY_PART
#undef NOT_DENIED
};

/* DENY_PART entries: a package component such as "tests" wherever it appears in a module
 * path (numpy.core.tests.test_x, scipy.io.tests...). Few, so a linear pass. */
static const deny_entry deny_parts[] = {
#define FORBID(p, w)
#define DENY(p, w)
#define NOT_DENIED(p, w)
#define DENY_PART(p, w) {p, w, 0},
#include "policy/denylist.def"
#undef FORBID
#undef DENY
#undef DENY_PART
#undef NOT_DENIED
};

/* NOT_DENIED entries: exact names inside a denied module that do nothing but return their
 * argument (TorchScript's unpickler helpers); the wildcard above would misname them. */
static const char *const not_denied[] = {
#define FORBID(p, w)
#define DENY(p, w)
#define DENY_PART(p, w)
#define NOT_DENIED(p, w) p,
#include "policy/denylist.def"
#undef FORBID
#undef DENY
#undef DENY_PART
#undef NOT_DENIED
};

typedef struct allow_entry {
    const char *profile;
    const char *pattern;
} allow_entry;

static const allow_entry allow_list[] = {
#define ALLOW(prof, p) {prof, p},
#include "policy/allowlist.def"
#undef ALLOW
};

static const char *const profile_names[] = {"default",  "numpy", "sklearn",  "xgboost",
                                            "lightgbm", "torch", "builtins", NULL};

#define MAX_USER_ENTRIES 4096
#define MAX_ENTRY_LEN    512

struct brine_policy {
    unsigned profiles; /* bit i: profile_names[i] active */
    char **user;       /* user entries: exact names or "module.*" */
    size_t n_user;
};

static const struct brine_policy default_policy = {1u, NULL, 0};

const pol_policy *pol_default(void) { return &default_policy; }

/* "a.b.*" matches "a.b", "a.b.x" and "a.b.x.y"; other patterns match exactly. */
static int pattern_matches(const char *pattern, const char *full)
{
    size_t pl = strlen(pattern);
    if (pl >= 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == '.') {
        size_t base = pl - 2;
        return strncmp(full, pattern, base) == 0 && (full[base] == '\0' || full[base] == '.');
    }
    return strcmp(pattern, full) == 0;
}

static int profile_index(const char *name)
{
    for (int i = 0; profile_names[i]; i++)
        if (strcmp(profile_names[i], name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ fast lookup
 *
 * Every global of every scanned file is classified, so the lists are indexed once: exact
 * patterns and wildcard bases ("a.b" for "a.b.*") in sorted arrays. A name matches a wildcard
 * when the name itself or one of its '.'-prefixes is a base, so a lookup is a binary search
 * per prefix instead of a pass over every pattern. */

typedef struct idx_entry {
    const char *key; /* exact name, or wildcard base without ".*" */
    size_t key_len;
    const char *why;   /* denylist: what it does */
    int16_t profile;   /* allowlist: profile index; denylist: -1 */
    uint8_t forbidden; /* denylist: never allowable */
    uint8_t wildcard;
} idx_entry;

enum {
    N_DENY = sizeof deny_list / sizeof deny_list[0],
    N_ALLOW = sizeof allow_list / sizeof allow_list[0]
};

static idx_entry deny_idx[N_DENY], allow_idx[N_ALLOW];
static size_t longest_key; /* no prefix longer than this can match: skip them (FINDINGS F11) */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static int idx_cmp(const void *a, const void *b)
{
    const idx_entry *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static void fill_entry(idx_entry *e, const char *pattern)
{
    size_t n = strlen(pattern);
    e->key = pattern;
    e->wildcard = n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.';
    e->key_len = e->wildcard ? n - 2 : n;
}

static void build_index(void)
{
    for (size_t i = 0; i < N_DENY; i++) {
        fill_entry(&deny_idx[i], deny_list[i].pattern);
        deny_idx[i].why = deny_list[i].why;
        deny_idx[i].forbidden = (uint8_t)deny_list[i].forbidden;
        deny_idx[i].profile = -1;
    }
    for (size_t i = 0; i < N_ALLOW; i++) {
        fill_entry(&allow_idx[i], allow_list[i].pattern);
        allow_idx[i].profile = (int16_t)profile_index(allow_list[i].profile);
    }
    for (size_t i = 0; i < N_DENY; i++)
        longest_key = deny_idx[i].key_len > longest_key ? deny_idx[i].key_len : longest_key;
    for (size_t i = 0; i < N_ALLOW; i++)
        longest_key = allow_idx[i].key_len > longest_key ? allow_idx[i].key_len : longest_key;
    qsort(deny_idx, N_DENY, sizeof deny_idx[0], idx_cmp);
    qsort(allow_idx, N_ALLOW, sizeof allow_idx[0], idx_cmp);
}

/* The first entry keyed exactly key[0..n), of the given kind, that accept takes (several
 * entries may share a key: a module in two profiles). */
static const idx_entry *idx_find(const idx_entry *idx, size_t count, const char *key, size_t n,
                                 int wildcard, int (*accept)(const idx_entry *, const void *),
                                 const void *ctx)
{
    idx_entry probe = {key, n, NULL, 0, 0, 0};
    size_t lo = 0, hi = count;
    while (lo < hi) { /* first entry not less than key */
        size_t mid = lo + (hi - lo) / 2;
        if (idx_cmp(&idx[mid], &probe) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < count && idx_cmp(&idx[lo], &probe) == 0; lo++)
        if (idx[lo].wildcard == wildcard && accept(&idx[lo], ctx))
            return &idx[lo];
    return NULL;
}

/* The first entry matching full[0..n): exact, or a wildcard on it or one of its '.'-prefixes.
 * full need not end at n (the walk below matches suffixes in place). */
static const idx_entry *idx_match(const idx_entry *idx, size_t count, const char *full, size_t n,
                                  int (*accept)(const idx_entry *, const void *), const void *ctx)
{
    const idx_entry *e = n <= longest_key ? idx_find(idx, count, full, n, 0, accept, ctx) : NULL;
    if (e)
        return e;
    /* wildcards: the prefixes ending at a '.', shortest first, none longer than any key */
    for (size_t k = 1; k <= n && k <= longest_key; k++)
        if (k == n || full[k] == '.')
            if ((e = idx_find(idx, count, full, k, 1, accept, ctx)))
                return e;
    return NULL;
}

/* The DENY_PART entry naming one of the inner components of full[0..n) (not the first, which
 * the ordinary entries judge, nor the last, the global's own name), or NULL. */
static const deny_entry *part_match(const char *full, size_t n)
{
    const char *first_dot = memchr(full, '.', n);
    if (!first_dot)
        return NULL;
    for (size_t start = (size_t)(first_dot - full) + 1; start < n;) {
        const char *dot = memchr(full + start, '.', n - start);
        if (!dot)
            break; /* the last component */
        size_t len = (size_t)(dot - full) - start;
        for (size_t i = 0; i < sizeof deny_parts / sizeof deny_parts[0]; i++)
            if (strlen(deny_parts[i].pattern) == len &&
                memcmp(deny_parts[i].pattern, full + start, len) == 0)
                return &deny_parts[i];
        start = (size_t)(dot - full) + 1;
    }
    return NULL;
}

/* Why full[0..n) is on the denylist (an entry or a DENY_PART component), or NULL. */
static const char *denied(const char *full, size_t n);

static int accept_forbidden(const idx_entry *e, const void *ctx)
{
    (void)ctx;
    return e->forbidden;
}

static int accept_any(const idx_entry *e, const void *ctx)
{
    (void)e;
    (void)ctx;
    return 1;
}

static int accept_profile(const idx_entry *e, const void *ctx)
{
    const struct brine_policy *p = ctx;
    return e->profile >= 0 && (p->profiles & (1u << e->profile));
}

static const char *denied(const char *full, size_t n)
{
    for (size_t i = 0; i < sizeof not_denied / sizeof not_denied[0]; i++)
        if (strlen(not_denied[i]) == n && memcmp(not_denied[i], full, n) == 0)
            return NULL;
    const idx_entry *e = idx_match(deny_idx, N_DENY, full, n, accept_any, NULL);
    if (e)
        return e->why;
    const deny_entry *d = part_match(full, n);
    return d ? d->why : NULL;
}

/* ------------------------------------------------------------------ attribute walks
 *
 * Protocol 4 resolves a dotted name by getattr, one component at a time, from the imported
 * module: `torch` + `os.system` is torch's `os` attribute, then its `system`. Whatever a module
 * happens to hold is reachable that way — the modules it imported, its __builtins__, its
 * __loader__ — so a walk is judged by every component, not by where it starts. */

#define MAX_WALK_COMPONENTS 64 /* deeper walks are not judged: they are refused */

/* Attribute names (leading underscores removed) that lead from ordinary objects to code,
 * frames or the interpreter without being dunders; every dunder is refused by its shape. */
static const char *const walk_to_code[] = {
    "f_globals",  "f_builtins",   "f_locals", "f_back",   "f_code",   "tb_frame", "tb_next",
    "gi_frame",   "gi_code",      "cr_frame", "cr_code",  "ag_frame", "ag_code",  "func_globals",
    "func_code",  "func_closure", "im_func",  "im_self",  "im_class", "co_code",  "cell_contents",
    "getframe",   "eval",         "exec",     "execfile", "compile",  "open",     "system",
    "popen",      "getattr",      "setattr",  "delattr",  "globals",  "locals",   "vars",
    "breakpoint", "apply",        "builtins"};

static int is_dunder(const char *c, size_t n)
{
    return n >= 4 && c[0] == '_' && c[1] == '_' && c[n - 2] == '_' && c[n - 1] == '_';
}

/* Why the walk full[name_at..n) (the dotted name part of "module.name") is unsafe, or NULL.
 * *at and *at_len get the culprit: a component, or the module path reached from it. */
static const char *walk_threat(const char *full, size_t n, size_t name_at, size_t *at,
                               size_t *at_len)
{
    const char *why;
    *at = 0;
    *at_len = n;
    /* the whole name: a denied module anywhere on its import path (numpy.lib.npyio...) */
    if ((why = denied(full, n)))
        return why;
    /* count first: every component below costs a lookup over the rest of the walk */
    unsigned components = 1;
    for (const char *d = full + name_at; (d = memchr(d, '.', (size_t)(full + n - d))); d++)
        if (++components > MAX_WALK_COMPONENTS) {
            *at = name_at;
            *at_len = n - name_at;
            return "an attribute walk too long to judge";
        }
    for (size_t start = name_at; start < n;) {
        const char *dot = memchr(full + start, '.', n - start);
        size_t end = dot ? (size_t)(dot - full) : n;
        *at = start;
        *at_len = end - start;
        if (is_dunder(full + start, end - start))
            return "a dunder attribute: reaches interpreter internals (globals, builtins, "
                   "loaders, classes) and through them code";
        size_t bare = start; /* `_os` is the os module under a private name */
        while (bare < end && full[bare] == '_')
            bare++;
        for (size_t i = 0; i < sizeof walk_to_code / sizeof walk_to_code[0]; i++)
            if (strlen(walk_to_code[i]) == end - bare &&
                memcmp(walk_to_code[i], full + bare, end - bare) == 0)
                return "an attribute that reaches code, frames or the interpreter";
        /* the rest of the walk read as a module path: torch + os.system reaches os.system */
        if (bare < end && (why = denied(full + bare, n - bare))) {
            *at = bare;
            *at_len = n - bare;
            return why;
        }
        start = end + 1;
    }
    return NULL;
}

static void build_index_once(void) { pthread_once(&idx_once, build_index); }

const char *pol_dotted_reach(const char *module, const char *name, char *buf, size_t cap)
{
    build_index_once();
    if (!strchr(name, '.') || cap == 0)
        return NULL;
    size_t ml = strlen(module), nl = strlen(name);
    char *full = malloc(ml + nl + 2);
    if (!full)
        return NULL;
    memcpy(full, module, ml);
    full[ml] = '.';
    memcpy(full + ml + 1, name, nl + 1);
    size_t at, at_len;
    const char *why = walk_threat(full, ml + nl + 1, ml + 1, &at, &at_len);
    if (why)
        snprintf(buf, cap, "%.*s (%s)", (int)(at_len > 200 ? 200 : at_len), full + at, why);
    free(full);
    return why ? buf : NULL;
}

static int user_exact(const struct brine_policy *p, const char *full)
{
    for (size_t i = 0; i < p->n_user; i++)
        if (strchr(p->user[i], '*') == NULL && strcmp(p->user[i], full) == 0)
            return 1;
    return 0;
}

pol_class pol_classify(const pol_policy *pp, const char *module, const char *name, const char **why)
{
    const struct brine_policy *p = pp ? pp : &default_policy;
    build_index_once();
    *why = NULL;
    size_t ml = strlen(module), nl = strlen(name);
    char local[512];
    char *full = ml + nl + 2 <= sizeof local ? local : malloc(ml + nl + 2);
    if (!full)
        return POL_UNVERIFIED; /* cannot even spell it: not allowed */
    memcpy(full, module, ml);
    full[ml] = '.';
    memcpy(full + ml + 1, name, nl + 1);
    size_t n = ml + nl + 1;
    pol_class c = POL_UNVERIFIED;
    const idx_entry *e;
    size_t i;
    if ((e = idx_match(deny_idx, N_DENY, full, n, accept_forbidden, NULL))) {
        *why = e->why;
        c = POL_FORBIDDEN;
        goto out;
    }
    if (memchr(name, '.', nl)) {
        /* An attribute walk: never through a dunder or a denied module, whatever allows it,
         * and allowed only by an exact entry — a wildcard on `torch` says nothing about the
         * modules torch imported. */
        size_t at, at_len;
        if ((*why = walk_threat(full, n, ml + 1, &at, &at_len))) {
            c = POL_FORBIDDEN;
            goto out;
        }
        if (user_exact(p, full) || idx_find(allow_idx, N_ALLOW, full, n, 0, accept_profile, p))
            c = POL_ALLOWED;
        goto out;
    }
    /* Exact user entries first: the user named this very global. Then the denylist, so that no
     * profile or wildcard admits a name that is known to run code. */
    if (user_exact(p, full)) {
        c = POL_ALLOWED;
        goto out;
    }
    if ((*why = denied(full, n))) {
        c = POL_DANGEROUS;
        goto out;
    }
    if (idx_match(allow_idx, N_ALLOW, full, n, accept_profile, p)) {
        c = POL_ALLOWED;
        goto out;
    }
    for (i = 0; i < p->n_user; i++)
        if (pattern_matches(p->user[i], full)) {
            c = POL_ALLOWED;
            goto out;
        }
out:
    if (full != local)
        free(full);
    return c;
}

const char *pol_torch_storage_dtype(const char *name)
{
    static const struct {
        const char *name, *dtype;
    } storages[] = {
#define TORCH_STORAGE(n, d) {n, d},
#define TORCH_DTYPE(n)
#include "policy/torch_names.def"
#undef TORCH_STORAGE
#undef TORCH_DTYPE
    };
    for (size_t i = 0; i < sizeof storages / sizeof storages[0]; i++)
        if (strcmp(storages[i].name, name) == 0)
            return storages[i].dtype;
    return NULL;
}

/* ------------------------------------------------------------------ public API */

brine_policy *brine_policy_new(void)
{
    brine_policy *p = calloc(1, sizeof *p);
    if (p)
        p->profiles = 1u;
    return p;
}

void brine_policy_free(brine_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_user; i++)
        free(p->user[i]);
    free(p->user);
    free(p);
}

const char *const *brine_policy_profiles(void) { return profile_names; }

static int valid_entry(const char *e)
{
    size_t n = strlen(e);
    if (n == 0 || n > MAX_ENTRY_LEN || e[0] == '.' || e[n - 1] == '.')
        return 0;
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        char c = e[i];
        if (c == '.')
            dots++;
        else if (c == '*' && !(i == n - 1 && i > 0 && e[i - 1] == '.'))
            return 0;
        else if (!(c == '_' || c == '*' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9')))
            return 0;
    }
    return dots > 0;
}

brine_status brine_policy_allow(brine_policy *p, const char *entry, brine_error *err)
{
    if (!p || !entry)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_policy_allow: NULL argument");
    int pi = profile_index(entry);
    if (pi >= 0) {
        p->profiles |= 1u << pi;
        return BRINE_OK;
    }
    if (!valid_entry(entry))
        return err_set(err, BRINE_ERR_USAGE, __LINE__,
                       "'%.200s' is neither a profile (default, numpy, sklearn, xgboost, lightgbm, "
                       "torch, builtins) nor module.name or module.*",
                       entry);
    for (size_t i = 0; i < sizeof deny_list / sizeof deny_list[0]; i++) {
        if (!deny_list[i].forbidden)
            continue;
        /* refuse an entry that would cover a forbidden module, in either direction */
        if (pattern_matches(deny_list[i].pattern, entry) ||
            pattern_matches(entry, deny_list[i].pattern) ||
            (strchr(entry, '*') && strncmp(deny_list[i].pattern, entry, strlen(entry) - 1) == 0))
            return err_set(err, BRINE_ERR_POLICY, __LINE__, "'%.200s' can never be allowed: %s",
                           entry, deny_list[i].why);
    }
    if (p->n_user >= MAX_USER_ENTRIES)
        return err_set(err, BRINE_ERR_LIMIT, __LINE__, "more than %d policy entries",
                       MAX_USER_ENTRIES);
    char **grown = realloc(p->user, (p->n_user + 1) * sizeof *grown);
    if (!grown)
        return ERR_NOMEM(err);
    p->user = grown;
    if (!(p->user[p->n_user] = strdup(entry)))
        return ERR_NOMEM(err);
    p->n_user++;
    return BRINE_OK;
}

brine_status brine_policy_load(brine_policy *p, const char *path, brine_error *err)
{
    if (!p || !path)
        return err_set(err, BRINE_ERR_USAGE, __LINE__, "brine_policy_load: NULL argument");
    /* only a regular file, opened without blocking: a FIFO would wait for a writer forever */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat sb;
    if (fd < 0 && stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return err_set(err, BRINE_ERR_IO, __LINE__, "policy %s is not a regular file", path);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot open policy %s: %s", path,
                       strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return err_set(err, BRINE_ERR_IO, __LINE__, "policy %s is not a regular file", path);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return ERR_NOMEM(err);
    }
    char line[MAX_ENTRY_LEN + 2];
    uint64_t lineno = 0;
    brine_status st = BRINE_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            st = err_at(err, BRINE_ERR_USAGE, lineno, __LINE__, "%s:%llu: line too long", path,
                        (unsigned long long)lineno);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (!*s)
            continue;
        if ((st = brine_policy_allow(p, s, err))) {
            if (err) {
                err->has_offset = 1;
                err->offset = lineno;
            }
            break;
        }
    }
    fclose(f);
    return st;
}
