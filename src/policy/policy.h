/*
 * policy.h — deciding what a global is: allowed, unverified, dangerous or forbidden.
 *
 * Order of decisions: forbidden modules (never allowable) → globals the user allowed by exact
 * name → the denylist (names a threat) → allowlist profiles and wildcards → unverified.
 * A dotted name (a protocol-4 attribute walk) is forbidden when any component is a dunder or
 * reaches code, or when a denied module appears anywhere on the walk; otherwise only an exact
 * entry allows it, never a wildcard.
 */
#ifndef BRINE_POLICY_POLICY_H
#define BRINE_POLICY_POLICY_H

#include <stddef.h>

#include "brine.h"

typedef enum pol_class {
    POL_ALLOWED,
    POL_UNVERIFIED,
    POL_DANGEROUS, /* on the denylist: *why says what it does */
    POL_FORBIDDEN  /* a never-allowable module or builtin */
} pol_class;

typedef struct brine_policy pol_policy;

/* Classifies "module" + "name" (after Python-2 mapping; name may be dotted). *why gets a
 * constant description for DANGEROUS and FORBIDDEN, else NULL. */
pol_class pol_classify(const pol_policy *p, const char *module, const char *name, const char **why);

/* For a dotted name: what its attribute walk reaches that makes it unsafe ("os.system (what
 * it does)", "__globals__ (...)"), written to buf; NULL when the walk names nothing known. */
const char *pol_dotted_reach(const char *module, const char *name, char *buf, size_t cap);

/* The storage dtype name of a torch storage class ("FloatStorage" → "float32"), or NULL. */
const char *pol_torch_storage_dtype(const char *name);

/* The default policy, shared and immutable, for callers that pass none. */
const pol_policy *pol_default(void);

#endif
