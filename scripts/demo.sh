#!/usr/bin/env bash
# demo.sh — the quick start: installs what building brine needs, builds it into build/, and
# scans the sample files shipped in samples/ (an exploit with a harmless payload, benign
# models, ...), showing each verdict.
#
# brine exits 1 when a file is not safe — here that is the point of the demo, so the script
# prints brine's exit status and still succeeds. It fails only when the build fails or brine
# itself errs (exit status 2 or a signal).
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BRINE_ROOT" || exit 2

brine_ensure_packages build || exit 1
log "building brine into build/"
if ! cmake -S . -B build >/dev/null || ! cmake --build build --target brine brine_archive brine_shared -j "$BRINE_JOBS"; then
    die "build failed"
fi

shopt -s nullglob
samples=(samples/*)
[ ${#samples[@]} -gt 0 ] || die "no files in samples/"

log "build/brine scan samples/*"
build/brine scan "${samples[@]}"
rc=$?
echo
case $rc in
0) echo "brine exit status 0: every file is safe" ;;
1) echo "brine exit status 1: at least one file is not safe to load (as expected for the exploit)" ;;
*)
    echo "brine exit status $rc: brine failed"
    exit 1
    ;;
esac
echo "Try: build/brine dis samples/seed_exploit.pkl   build/brine scan --format json samples/*"
exit 0
