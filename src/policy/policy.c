/*
 * policy.c — allowlist profiles, the denylist that names threats, and policy files.
 *
 * Why an allowlist decides: every denylist in research/threats.md was bypassed by a gadget it
 * did not list. Here a global is fine only when an allowlist entry covers it; the denylist only
 * grades what is not fine (unverified vs unsafe) and explains it.
 */
#include "policy/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct deny_entry {
    const char *pattern;
    const char *why;
    int forbidden;
} deny_entry;

static const deny_entry deny_list[] = {
#define FORBID(p, w) {p, w, 1},
#define DENY(p, w) {p, w, 0},
#include "policy/denylist.def"
#undef FORBID
#undef DENY
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

static const char *const profile_names[] = {"default", "numpy",  "sklearn",  "xgboost",
                                            "lightgbm", "torch", "builtins", NULL};

#define MAX_USER_ENTRIES 4096
#define MAX_ENTRY_LEN 512

struct brine_policy {
    unsigned profiles;  /* bit i: profile_names[i] active */
    char **user;        /* user entries: exact names or "module.*" */
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

pol_class pol_classify(const pol_policy *pp, const char *module, const char *name,
                       const char **why)
{
    const struct brine_policy *p = pp ? pp : &default_policy;
    char full[1024];
    int n = snprintf(full, sizeof full, "%s.%s", module, name);
    *why = NULL;
    if (n < 0 || (size_t)n >= sizeof full)
        return POL_UNVERIFIED; /* longer than any allowlist entry */
    size_t i;
    for (i = 0; i < sizeof deny_list / sizeof deny_list[0]; i++)
        if (deny_list[i].forbidden && pattern_matches(deny_list[i].pattern, full)) {
            *why = deny_list[i].why;
            return POL_FORBIDDEN;
        }
    for (i = 0; i < p->n_user; i++)
        if (strchr(p->user[i], '*') == NULL && strcmp(p->user[i], full) == 0)
            return POL_ALLOWED;
    for (i = 0; i < sizeof deny_list / sizeof deny_list[0]; i++)
        if (pattern_matches(deny_list[i].pattern, full)) {
            *why = deny_list[i].why;
            return POL_DANGEROUS;
        }
    for (i = 0; i < sizeof allow_list / sizeof allow_list[0]; i++) {
        int pi = profile_index(allow_list[i].profile);
        if (pi >= 0 && (p->profiles & (1u << pi)) && pattern_matches(allow_list[i].pattern, full))
            return POL_ALLOWED;
    }
    for (i = 0; i < p->n_user; i++)
        if (pattern_matches(p->user[i], full))
            return POL_ALLOWED;
    return POL_UNVERIFIED;
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
        if (pattern_matches(deny_list[i].pattern, entry) || pattern_matches(entry, deny_list[i].pattern) ||
            (strchr(entry, '*') && strncmp(deny_list[i].pattern, entry, strlen(entry) - 1) == 0))
            return err_set(err, BRINE_ERR_POLICY, __LINE__,
                           "'%.200s' can never be allowed: %s", entry, deny_list[i].why);
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
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set(err, BRINE_ERR_IO, __LINE__, "cannot open policy %s: %s", path,
                       strerror(errno));
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
