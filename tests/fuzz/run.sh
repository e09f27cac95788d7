#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60)
# from the seed corpus in tests/fuzz/corpus. A crash leaves its input in build-fuzz/ and fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRAILWARDEN_TESTS=OFF -DTRAILWARDEN_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null
cmake --build build-fuzz --target pattern_fuzz decode_fuzz relp_fuzz disk_queue_fuzz alert_record_fuzz \
  aws_input_fuzz ecs_document_fuzz sns_fuzz alarm_state_fuzz alarm_stage_fuzz
for t in pattern decode relp disk_queue alert_record aws_input ecs_document sns alarm_state alarm_stage; do
  work=build-fuzz/corpus-$t
  mkdir -p "$work"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  (cd build-fuzz && ./${t}_fuzz -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
    -print_final_stats=1 "corpus-$t" "../tests/fuzz/corpus/$t" 2>&1 | tail -n 12)
done
