#!/usr/bin/env bash
# The README's second command, and what CI runs: installs dependencies, builds with warnings
# as errors, runs every test (unit + CLI integration), then again under AddressSanitizer +
# UndefinedBehaviorSanitizer, fuzzes each libFuzzer target briefly (FUZZ_SECONDS, default 30),
# runs a benchmark smoke run, and ends with the packaging checks (scripts/package-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "=== build (warnings are errors) ==="
BUILD_DIR=build scripts/build.sh -DTRAILWARDEN_WERROR=ON -DTRAILWARDEN_TESTS=ON
echo "=== tests: each unit test case (label unit, in parallel), then the integration suites ==="
ctest --test-dir build -L unit -j "$(nproc)" --output-on-failure
ctest --test-dir build -LE unit --output-on-failure

echo "=== tests under ASan + UBSan ==="
BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DTRAILWARDEN_WERROR=ON \
  -DTRAILWARDEN_TESTS=ON -DTRAILWARDEN_SANITIZE=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir build-asan -L unit -j "$(nproc)" --output-on-failure
ctest --test-dir build-asan -LE unit --output-on-failure
unset ASAN_OPTIONS UBSAN_OPTIONS

# Any ASan/UBSan report, crash, leak or timeout fails a target (UBSan halts:
# -fno-sanitize-recover=all); run.sh runs them all, then exits 1 naming the failed ones.
echo "=== fuzzing: every target for ${FUZZ_SECONDS:-30} s (libFuzzer, ASan + UBSan, halting) ==="
tests/fuzz/run.sh "${FUZZ_SECONDS:-30}"

echo "=== benchmark smoke run (correctness check only; figures come from run_bench.sh) ==="
TRAILWARDEN=build/trailwarden tests/bench/run_bench.sh --quick --reps 1

echo "=== packaging: systemd unit, container build steps, Debian package install and purge ==="
BUILD_DIR=build scripts/package-check.sh

# Every stage above stops the script on failure (set -e); reaching here means all passed.
cases=$(ctest --test-dir build -N -L unit | sed -n 's/^Total Tests: //p')
suites=$(ctest --test-dir build -N -LE unit | sed -n 's/^Total Tests: //p')
# The fuzz targets are the ones run.sh knows (its ALL list).
fuzz=$(sed -n 's/^ALL=(\(.*\))$/\1/p' tests/fuzz/run.sh | wc -w)
echo "checks: $((2 * (cases + suites) + fuzz + 2)) passed, 0 failed ($cases unit test cases and $suites integration suites, again under ASan/UBSan, $fuzz fuzz targets, benchmark correctness, packaging)"
