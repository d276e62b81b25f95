#!/usr/bin/env bash
# check_symbols.sh LIB HEADER — the shared or static library's exported symbols are exactly brine's API:
# every defined dynamic symbol starts with brine_ (libdeflate's symbol-prefix test: a leaked
# internal helper can clash with an application's own), and every BRINE_API function that the
# public header declares is exported.
set -uo pipefail
lib=${1:?usage: check_symbols.sh LIB HEADER}
header=${2:?usage: check_symbols.sh LIB HEADER}

# A static archive (.a) is checked the same way: its global symbols are what a program linking
# it sees.
case $lib in
*.a) nm_flags="-g --defined-only" ;;
*) nm_flags="-D --defined-only" ;;
esac
# shellcheck disable=SC2086
exported=$(nm $nm_flags "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort -u) || exit 2
[ -n "$exported" ] || {
    echo "no exported symbols in $lib"
    exit 1
}
bad=$(printf '%s\n' "$exported" | grep -Ev '^brine_' |
    grep -Evx '_init|_fini|_edata|_end|__bss_start')
declared=$(tr '\n' ' ' <"$header" | grep -oE 'BRINE_API[^;{]*\(' |
    grep -oE 'brine_[a-z0-9_]+ *\($' | tr -d ' (' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))

rc=0
if [ -n "$bad" ]; then
    echo "exported symbols without the brine_ prefix (make them static or hidden):"
    printf '%s\n' "$bad" | sed 's/^/  /'
    rc=1
fi
if [ -n "$missing" ]; then
    echo "declared BRINE_API in $(basename "$header") but not exported by $(basename "$lib"):"
    printf '%s\n' "$missing" | sed 's/^/  /'
    rc=1
fi
[ $rc = 1 ] || echo "$(printf '%s\n' "$exported" | wc -l) exported symbols, all brine_*, all declared ones present"
exit $rc
