#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets (clang, ASan+UBSan, build-fuzz/) and runs each for a
# bounded time from its seed corpora (fuzz/corpus/KIND) and every past crash
# (fuzz/regressions/T), with its dictionary. New inputs go to fuzz/corpus-work/T (not committed), so repeated runs
# on one machine keep building on each other. Fails when any target finds a crash, a leak, a
# timeout or an out-of-memory; the input is kept in build-fuzz/artifacts/T/.
#
#   scripts/fuzz.sh [-t SECONDS] [-j PARALLEL] [-s SEED] [TARGET...]
#
# Default: every target, FUZZ_SECONDS (60) each, as many at once as there are cores, a random
# seed (FUZZ_SEED or -s fixes it: the same seed on the same corpus mutates the same way, so a
# gate run is reproducible; exploring wants a new seed each time).
# When a crash is found: reproduce with `build-fuzz/fuzz/T FILE`, save the file as
# fuzz/regressions/T/<short-bug-name> (the replay test runs it from then on) and describe it in
# fuzz/FINDINGS.md.
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BRINE_ROOT" || exit 2

seconds=${FUZZ_SECONDS:-60}
parallel=$BRINE_JOBS
fuzz_seed=${FUZZ_SEED:-}
while getopts "t:j:s:" opt; do
    case $opt in
    t) seconds=$OPTARG ;;
    j) parallel=$OPTARG ;;
    s) fuzz_seed=$OPTARG ;;
    *) die "usage: $0 [-t SECONDS] [-j PARALLEL] [-s SEED] [TARGET...]" ;;
    esac
done
shift $((OPTIND - 1))

log "fuzz: building build-fuzz/"
brine_configure build-fuzz clang -DBRINE_BUILD_FUZZERS=ON -DBRINE_BUILD_TESTS=OFF \
    -DBRINE_SANITIZER=address,undefined -DBRINE_WERROR=ON || exit 1
list=build-fuzz/fuzz/fuzz_targets.txt
[ -f "$list" ] || die "$list not found: fuzz/CMakeLists.txt writes it"
# only the fuzzers (and the library they link): the tool is not needed here
# shellcheck disable=SC2046
cmake --build build-fuzz -j "$BRINE_JOBS" --target $(cut -d' ' -f1 "$list") || exit 1
declare -A dict_of seeds_of
targets=()
while read -r name dict seeds; do
    [ -n "$name" ] || continue
    dict_of[$name]=$dict
    seeds_of[$name]=$seeds
    targets+=("$name")
done <"$list"
[ $# = 0 ] || targets=("$@")

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p build-fuzz/logs

fuzz_one() {
    local t=$1 bin=build-fuzz/fuzz/$1
    [ -x "$bin" ] || {
        echo "no fuzzer binary $bin" >"build-fuzz/logs/$t.log"
        return 1
    }
    local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len=65536
        -use_value_profile=1 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t/")
    [ -z "${dict_of[$t]:-}" ] || args+=(-dict="${dict_of[$t]}")
    [ -z "$fuzz_seed" ] || args+=(-seed="$fuzz_seed")
    mkdir -p "fuzz/corpus-work/$t" "build-fuzz/artifacts/$t"
    # new inputs go to the first directory: the work corpus, never the committed seeds
    local dirs=("fuzz/corpus-work/$t") seed
    IFS=, read -r -a seed <<<"${seeds_of[$t]:-}"
    dirs+=("${seed[@]}")
    "$bin" "${args[@]}" "${dirs[@]}" >"build-fuzz/logs/$t.log" 2>&1
}

# one line per target: runs, coverage, corpus, result
report_one() {
    local t=$1 rc=$2 logf=build-fuzz/logs/$1.log runs cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$logf" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+')
    if [ "$rc" = 0 ]; then
        printf '  %-22s ok      %10s execs  %s\n' "$t" "${runs:-?}" "${cov:-}"
    else
        printf '  %-22s FAILED  rc=%s  %s execs  %s\n' "$t" "$rc" "${runs:-?}" "${cov:-}"
        grep -E 'ERROR: |SUMMARY: |^artifact_prefix|Test unit written|==[0-9]+==|fuzz check failed|runtime error|Assertion' "$logf" |
            head -10 | sed 's/^/      /'
        printf '      log: %s\n' "$logf"
        # a CI clone is gone afterwards: a small input is printed so that it can be rebuilt
        local unit
        unit=$(sed -n "s/.*Test unit written to //p" "$logf" | tail -1)
        if [ -n "$unit" ] && [ -f "$unit" ] && [ "$(stat -c %s "$unit")" -le 8192 ]; then
            printf '      input (base64, decode with base64 -d):\n'
            base64 -w 96 "$unit" | sed 's/^/        /'
        fi
    fi
}

log "fuzz: ${#targets[@]} targets, ${seconds}s each, $parallel at a time, seed ${fuzz_seed:-random}"
declare -A pid_of rc_of
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$parallel" ]; then
        wait -n
        running=$((running - 1))
    fi
    fuzz_one "$t" &
    pid_of[$t]=$!
    running=$((running + 1))
done
failed=0
for t in "${targets[@]}"; do
    wait "${pid_of[$t]}"
    rc_of[$t]=$?
    [ "${rc_of[$t]}" = 0 ] || failed=1
done
log "fuzz results"
for t in "${targets[@]}"; do
    report_one "$t" "${rc_of[$t]}"
done
exit $failed
