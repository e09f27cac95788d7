#!/usr/bin/env bash
# The README's first command: installs the dependencies, builds, and replays the bundled
# sample CloudTrail files with the built-in default configuration (CIS 4.9, AWS Config changes).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAILWARDEN_SKIP_PEERS=1 scripts/setup.sh  # test peers are for scripts/test.sh
scripts/build.sh -DTRAILWARDEN_TESTS=OFF
echo "--- build/trailwarden replay samples/AWSLogs ---" >&2
build/trailwarden replay samples/AWSLogs
