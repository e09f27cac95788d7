#!/usr/bin/env bash
# Installs everything trailwarden needs to build, test and benchmark on Debian 12 (bookworm).
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config python3
  # libraries (see CMakeLists.txt)
  libsimdjson-dev libisal-dev zlib1g-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libvectorscan-dev libssl-dev doctest-dev librdkafka-dev libcurl4-openssl-dev
  libcpp-httplib-dev libsystemd-dev
  # tests and benchmarks: igzip (decompression floor), jq (baseline), GNU time (peak RSS),
  # clang with compiler-rt for the libFuzzer targets
  isal jq time gzip clang libclang-rt-14-dev
  # output test peers: kcat (Kafka consumer), rsyslog with TLS and RELP, openssl for test
  # certificates
  kcat rsyslog rsyslog-gnutls rsyslog-relp openssl python3-botocore
  # the AWS CLI's own digest validator (/usr/bin/aws cloudtrail validate-logs, awscli 2.9.19)
  # for the awscli_trail suite; brings python3-cryptography for tests/integration/trailgen.py
  awscli
  # PyYAML: tests/tools/ecs_validate.py reads ECS's ecs_flat.yml
  python3-yaml
  # packaging checks (scripts/package-check.sh): dpkg-shlibdeps and file for CPack's DEB
  # generator, systemd-analyze, and the package's own non-library dependencies
  dpkg-dev file systemd adduser ca-certificates
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test peers: the fauxqs SQS/S3 emulator on Node.js 22 (npm), boto3 for the tests.
if [ "${TRAILWARDEN_SKIP_PEERS:-0}" != "1" ]; then
  "$(dirname "$0")/setup-peers.sh"
fi
