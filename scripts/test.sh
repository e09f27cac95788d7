#!/usr/bin/env bash
# The README's second command, and what CI runs: installs dependencies, builds with warnings
# as errors, runs every test (unit + CLI integration), then the unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "=== build (warnings are errors) ==="
BUILD_DIR=build scripts/build.sh -DTRAILWARDEN_WERROR=ON -DTRAILWARDEN_TESTS=ON
echo "=== tests ==="
ctest --test-dir build --output-on-failure

echo "=== tests under ASan + UBSan ==="
BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DTRAILWARDEN_WERROR=ON \
  -DTRAILWARDEN_TESTS=ON -DTRAILWARDEN_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure

echo "=== benchmark smoke run (correctness check only; figures come from run_bench.sh) ==="
TRAILWARDEN=build/trailwarden tests/bench/run_bench.sh --quick --reps 1
