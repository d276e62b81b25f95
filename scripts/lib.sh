# shellcheck shell=bash
# lib.sh — shared by scripts/test.sh and scripts/demo.sh (sourced, not run).
#
# Installs brine's Debian packages when some are missing, configures and builds a tree, and
# keeps a tally of named steps so a script can end with one summary line. Works as root on a
# fresh Debian 12 machine with no stdin (CI), and as a normal user on a machine that already
# has everything (then apt is never touched).
#
# Environment:
#   BRINE_SKIP_APT=1   never call apt-get (fail later if something is missing)
#   BRINE_JOBS=N       parallel build jobs (default: number of cores)

BRINE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BRINE_JOBS=${BRINE_JOBS:-$(nproc 2>/dev/null || echo 2)}
export DEBIAN_FRONTEND=noninteractive

log() { printf '\n==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

# ---------------------------------------------------------------- packages

# Prints the packages of the given sections of scripts/packages.txt ("build", "test").
brine_packages() {
    local want=" $* " section="" line
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [ -n "$line" ] || continue
        case $line in
        \[*\]) section=${line#[}; section=${section%]} ;;
        *) case $want in *" $section "*) printf '%s\n' "$line" ;; esac ;;
        esac
    done <"$BRINE_ROOT/scripts/packages.txt"
}

# Prints those of the given packages that dpkg does not have installed.
brine_missing_packages() {
    local p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || status=""
        [ "$status" = installed ] || printf '%s\n' "$p"
    done
}

# Installs the packages of the given sections that are missing; does nothing (and needs no
# network) when all are installed.
brine_ensure_packages() {
    local missing
    if [ "${BRINE_SKIP_APT:-0}" = 1 ]; then
        log "packages: skipped (BRINE_SKIP_APT=1)"
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "dpkg-query not found: not a Debian system, not installing packages"
        return 0
    fi
    # shellcheck disable=SC2046
    # shellcheck disable=SC2046
    missing=$(brine_missing_packages $(brine_packages "$@"))
    if [ -z "$missing" ]; then
        log "packages: all $(brine_packages "$@" | wc -l) installed"
        return 0
    fi
    log "packages: installing $(echo "$missing" | tr '\n' ' ')"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing packages and not root: $missing"
        sudo="sudo -n"
    fi
    # shellcheck disable=SC2086
    $sudo apt-get -o DPkg::Lock::Timeout=600 update </dev/null || return 1
    # shellcheck disable=SC2046,SC2086
    $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $missing \
        </dev/null || return 1
    # shellcheck disable=SC2046
    missing=$(brine_missing_packages $(brine_packages "$@"))
    [ -z "$missing" ] || die "still missing after apt-get install: $missing"
}

# ---------------------------------------------------------------- virtual environment

# The project's virtual environment (requirements-dev.txt, pinned) lives outside the work tree,
# in BRINE_VENV (default /var/cache/brine/venv), so fresh clones and CI runs on the same machine
# reuse it; it is rebuilt when requirements-dev.txt changes (its hash is stamped inside).
BRINE_VENV=${BRINE_VENV:-/var/cache/brine/venv}
export BRINE_VENV

brine_ensure_venv() {
    local req="$BRINE_ROOT/requirements-dev.txt" want have=""
    want=$(sha256sum "$req" | cut -d' ' -f1)
    [ -f "$BRINE_VENV/.brine-requirements" ] && have=$(cat "$BRINE_VENV/.brine-requirements")
    if [ "$want" = "$have" ] && [ -x "$BRINE_VENV/bin/python" ]; then
        log "venv: $BRINE_VENV up to date"
        return 0
    fi
    log "venv: creating $BRINE_VENV from requirements-dev.txt"
    rm -rf "$BRINE_VENV"
    mkdir -p "$(dirname "$BRINE_VENV")" &&
        /usr/bin/python3 -m venv "$BRINE_VENV" &&
        "$BRINE_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req" </dev/null &&
        printf '%s\n' "$want" >"$BRINE_VENV/.brine-requirements"
}

# brine_ensure_release_venvs: one venv per scikit-learn release the profile tables and the
# cross-release fixtures come from, /var/cache/brine/sk-<release> from
# requirements-sklearn-<release>.txt (binary wheels only), each rebuilt when its file changes.
brine_ensure_release_venvs() {
    local req rel dir want have
    for req in "$BRINE_ROOT"/requirements-sklearn-*.txt; do
        rel=${req##*/requirements-sklearn-}
        rel=${rel%.txt}
        dir="$(dirname "$BRINE_VENV")/sk-$rel"
        want=$(sha256sum "$req" | cut -d' ' -f1)
        have=""
        [ -f "$dir/.brine-requirements" ] && have=$(cat "$dir/.brine-requirements")
        if [ "$want" = "$have" ] && [ -x "$dir/bin/python" ]; then
            log "venv: $dir up to date"
            continue
        fi
        log "venv: creating $dir from ${req##*/}"
        rm -rf "$dir"
        /usr/bin/python3 -m venv "$dir" &&
            "$dir/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
                -r "$req" </dev/null &&
            printf '%s\n' "$want" >"$dir/.brine-requirements" || return 1
    done
}

# ---------------------------------------------------------------- building

# brine_configure DIR CC [cmake arguments...]: configures DIR, recreating it when its compiler
# differs from CC.
brine_configure() {
    local dir=$1 cc=$2
    shift 2
    local ccpath
    ccpath=$(command -v "$cc") || die "compiler not found: $cc"
    if [ -f "$dir/CMakeCache.txt" ] &&
        ! grep -qx "CMAKE_C_COMPILER:[A-Z]*=$ccpath" "$dir/CMakeCache.txt"; then
        log "$dir was configured with another compiler: starting afresh"
        rm -rf "$dir"
    fi
    cmake -S "$BRINE_ROOT" -B "$dir" -DCMAKE_C_COMPILER="$ccpath" "$@"
}

# brine_build DIR CC [cmake arguments...]: configures DIR and builds every target.
brine_build() {
    brine_configure "$@" && cmake --build "$1" -j "$BRINE_JOBS"
}

# ---------------------------------------------------------------- steps and summary

BRINE_STEPS=()
BRINE_FAILED=()
BRINE_T0=$(date +%s)

# step NAME command...: runs the command, records pass/fail and time; never exits.
step() {
    local name=$1 t0 rc
    shift
    log "$name"
    t0=$(date +%s)
    "$@"
    rc=$?
    local dt=$(($(date +%s) - t0))
    if [ $rc = 0 ]; then
        BRINE_STEPS+=("$name: ok (${dt}s)")
    else
        BRINE_STEPS+=("$name: FAILED rc=$rc (${dt}s)")
        BRINE_FAILED+=("$name")
    fi
    return $rc
}

# skip NAME WHY: records a step that could not run because an earlier one failed.
skip() {
    BRINE_STEPS+=("$1: skipped ($2)")
    BRINE_FAILED+=("$1")
}

# Prints every step and one final line; returns 1 when any step failed.
brine_summary() {
    local what=$1 s dt=$(($(date +%s) - BRINE_T0))
    printf '\n==> summary\n'
    for s in "${BRINE_STEPS[@]}"; do
        printf '  %s\n' "$s"
    done
    if [ ${#BRINE_FAILED[@]} = 0 ]; then
        printf '%s: PASS — %d steps in %dm%02ds\n' "$what" ${#BRINE_STEPS[@]} $((dt / 60)) $((dt % 60))
        return 0
    fi
    printf '%s: FAIL — %s (%dm%02ds)\n' "$what" "${BRINE_FAILED[*]}" $((dt / 60)) $((dt % 60))
    return 1
}
