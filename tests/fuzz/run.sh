#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, both halting on their first report) and
# runs each for SECONDS (default 60) from the seed corpus in tests/fuzz/corpus/<name>, one after
# the other. Usage: run.sh [SECONDS [TARGET...]] (TARGET without "_fuzz"; default all).
#
# A target fails when libFuzzer exits non-zero (a crash, an ASan or UBSan report, a leak, a
# timeout, an out-of-memory) or when its log holds a sanitizer report anyway (a UBSan
# "runtime error:" from code built without -fno-sanitize-recover). The failing input is left in
# build-fuzz/artifacts/<name>/ and the report is printed. Every target is run even when one
# fails; the last line counts them, and the script exits 1 if any failed.
# New inputs go to build-fuzz/corpus-<name>; the seed corpus in the repository is only read.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
shift || true
ALL=(pattern decode relp disk_queue alert_record aws_input ecs_document sns alarm_state alarm_stage alarm_journal digest integrity_journal dynamodb_ledger)
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=("${ALL[@]}")
fi
for t in "${targets[@]}"; do
  if [[ ! " ${ALL[*]} " =~ " $t " ]]; then
    echo "fuzz: unknown target '$t' (known: ${ALL[*]})" >&2
    exit 2
  fi
done

# -fno-sanitize-recover=all: a UBSan report aborts (CMakeLists.txt adds it to a fuzz tree too).
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRAILWARDEN_TESTS=OFF -DTRAILWARDEN_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
  >/dev/null || exit 1
cmake --build build-fuzz --target "${targets[@]/%/_fuzz}" || exit 1

# halt_on_error: the same at run time, for any check compiled as recoverable after all.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus-$t" "build-fuzz/artifacts/$t"
  log="build-fuzz/fuzz-$t.log"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  (cd build-fuzz && "./${t}_fuzz" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
    "corpus-$t" "../tests/fuzz/corpus/$t") >"$log" 2>&1
  rc=$?
  reports=$(grep -c -E 'runtime error:|^==[0-9]+==ERROR: ' "$log")
  if [[ $rc -ne 0 || $reports -ne 0 ]]; then
    failed+=("$t")
    # The report from its first line (UBSan's "runtime error:" or a sanitizer's "==ERROR:").
    first=$(grep -n -m1 -E 'runtime error:|==[0-9]+==ERROR: |^==[0-9]+== ERROR: libFuzzer' "$log" \
      | cut -d: -f1)
    sed -n "${first:-1},\$p" "$log" | head -n 80
    echo "fuzz: FAIL $t (exit $rc, $reports sanitizer report(s)); log $log," \
      "input(s): $(ls -d build-fuzz/artifacts/"$t"/* 2>/dev/null | tr '\n' ' ')"
  else
    tail -n 12 "$log"
  fi
done
echo "fuzz: ${#targets[@]} targets, $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[[ ${#failed[@]} -eq 0 ]]
