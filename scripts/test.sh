#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it (`.ci/run`) and as the README tells people to.
#
# On a fresh Debian 12 machine as root: installs the missing packages and the project venv
# (requirements-dev.txt, kept in $BRINE_VENV between runs), then
#   1. a gcc build with -Werror into build/ and the CTest suite;
#   2. an ASan+UBSan build with clang into build-asan/ and the same CTest suite (leaks fail);
#   3. the threads test under ThreadSanitizer (build-tsan/) and the fully static tool
#      (build-static/, -DBRINE_STATIC_EXE=ON) scanning the samples as the dynamic one does;
#   4. the libFuzzer targets with clang into build-fuzz/, each run for FUZZ_SECONDS from its
#      seed corpus with seed FUZZ_SEED (1): a gate that fails the same way on every run of
#      one commit; any crash, leak, timeout or out-of-memory fails. Exploring is
#      `scripts/fuzz.sh -t 600` (a random seed), and what it finds becomes a regression.
# Also reports formatting (scripts/check_format.sh). Every step runs even when an earlier,
# unrelated one failed; the last line says PASS or FAIL and which steps failed. Exit status is
# 0 only when everything passed.
#
# Environment: FUZZ_SECONDS (default 60, per target; 0 skips fuzzing), FUZZ_SEED, BRINE_JOBS,
# BRINE_SKIP_APT=1, BRINE_SKIP_ASAN=1, CTEST_JOBS (default 2).
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BRINE_ROOT" || exit 2

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SEED=${FUZZ_SEED:-1}
CTEST_JOBS=${CTEST_JOBS:-2}

run_ctest() {
    ctest --test-dir "$1" --output-on-failure -j "$CTEST_JOBS"
}

run_ctest_asan() {
    LSAN_OPTIONS=suppressions=$BRINE_ROOT/scripts/lsan.supp \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest "$1"
}

step packages brine_ensure_packages build test || {
    brine_summary "brine test.sh"
    exit 1
}
step venv brine_ensure_venv || {
    brine_summary "brine test.sh"
    exit 1
}
step release-venvs brine_ensure_release_venvs || {
    brine_summary "brine test.sh"
    exit 1
}

if step build brine_build build gcc -DBRINE_WERROR=ON -DBRINE_BUILD_TESTS=ON; then
    step ctest run_ctest build
else
    skip ctest "build failed"
fi

step format scripts/check_format.sh

if [ "${BRINE_SKIP_ASAN:-0}" != 1 ]; then
    if step asan-build brine_build build-asan clang -DBRINE_WERROR=ON -DBRINE_BUILD_TESTS=ON \
        -DBRINE_SANITIZER=address,undefined; then
        step asan-ctest run_ctest_asan build-asan
    else
        skip asan-ctest "asan-build failed"
    fi
fi

# brine from several threads at once under ThreadSanitizer: only the threads test is built.
run_tsan() {
    brine_configure build-tsan clang -DBRINE_WERROR=ON -DBRINE_BUILD_TESTS=ON \
        -DBRINE_SANITIZER=thread >/dev/null &&
        cmake --build build-tsan --target test_threads -j "$BRINE_JOBS" &&
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir build-tsan \
            --output-on-failure -L threads
}
step tsan run_tsan

# The fully static tool builds and scans the samples like the dynamic one.
run_static() {
    brine_configure build-static gcc -DBRINE_WERROR=ON -DBRINE_BUILD_TESTS=OFF \
        -DBRINE_STATIC_EXE=ON >/dev/null &&
        cmake --build build-static --target brine -j "$BRINE_JOBS" &&
        ! ldd build-static/brine >/dev/null 2>&1 &&
        diff <(build-static/brine scan --format jsonl samples/* | sed 's/"brine": *"[^"]*"//') \
            <(build/brine scan --format jsonl samples/* | sed 's/"brine": *"[^"]*"//')
}
step static run_static

if [ "$FUZZ_SECONDS" != 0 ]; then
    step fuzz scripts/fuzz.sh -t "$FUZZ_SECONDS" -s "$FUZZ_SEED"
fi

brine_summary "brine test.sh"
