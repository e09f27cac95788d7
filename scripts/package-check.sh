#!/usr/bin/env bash
# What CI runs for packaging (scripts/test.sh, stage "packaging"), on the built tree:
#   1. the systemd unit: `systemd-analyze security --offline=true` exposure at most 1.5;
#   2. the container: the Dockerfile's build stage runs nothing but the scripts CI runs, and
#      packaging/runtime-packages.txt provides every shared library of the binary;
#   3. the Debian package: built with cpack, its contents, conffiles and Depends inspected;
#   4. installed with dpkg on this machine: `trailwarden --version`, check-config on the
#      installed configuration (as root, and as the service user, as ExecStartPre runs it),
#      the user, directories, permissions, conffiles, `systemd-analyze verify` of the
#      installed unit; an edited conffile survives a reinstall; remove keeps the configuration;
#   5. purged: binary, unit, configuration, state, user and group all gone.
# Idempotent, and it leaves the machine as it found it: it refuses to touch a trailwarden
# package it did not install, and removes any dependency it had to install.
# Usage: [BUILD_DIR=build] scripts/package-check.sh   (after scripts/build.sh; root or sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD_DIR=${BUILD_DIR:-build}
BIN="$BUILD_DIR/trailwarden"
UNIT_SRC=packaging/systemd/trailwarden.service
DOCKERFILE=packaging/docker/Dockerfile
RUNTIME_LIST=packaging/runtime-packages.txt
MAX_EXPOSURE=1.5
PKG=trailwarden
CONF=/etc/trailwarden/trailwarden.toml
# Left behind only if a run is killed between install and purge; the next run purges then.
MARKER=/var/tmp/trailwarden-package-check.installed

checks=0
say() { echo "package-check: $*"; }
ok() { checks=$((checks + 1)); echo "package-check: ok: $*"; }
fail() { echo "package-check: FAIL: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "needs root (or sudo) to install the package"
  SUDO="sudo"
fi
for tool in cpack dpkg-deb dpkg-shlibdeps systemd-analyze readelf ldd file runuser; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup.sh installs it)"
done
[ -x "$BIN" ] || fail "$BIN does not exist: build first (scripts/build.sh)"
[ -f "$BUILD_DIR/CPackConfig.cmake" ] || fail "$BUILD_DIR/CPackConfig.cmake missing: reconfigure"

is_installed() { # the package is installed, or removed with its configuration left
  dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qE '^(installed|config-files|half-.*|unpacked|triggers-.*)$'
}
purge_pkg() { $SUDO env DEBIAN_FRONTEND=noninteractive dpkg --purge "$PKG" >/dev/null; }

TMP=$(mktemp -d)
installed_by_us=0
# State or log directories that exist while the package is not installed (an agent run as root
# from a source build, or a test that wrote into the system's state directory) are shown, set
# aside for the run, and put back at the end: the checks start from a known state.
LEFTOVER_DIRS="/var/lib/trailwarden /var/log/trailwarden"
restore_leftovers() {
  local d
  for d in $LEFTOVER_DIRS; do
    if [ -e "$TMP/leftover$d" ]; then
      $SUDO rm -rf "$d"
      $SUDO mkdir -p "$(dirname "$d")"
      $SUDO mv "$TMP/leftover$d" "$d"
      say "put back the $d that existed before this check"
    fi
  done
}
added_deps=""
cleanup() {
  local rc=$?
  if [ "$installed_by_us" -eq 1 ] && is_installed; then
    say "cleaning up: purging $PKG"
    purge_pkg || true
  fi
  if [ -n "$added_deps" ]; then
    say "cleaning up: removing what apt-get installed for the package: $added_deps"
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $added_deps >/dev/null || true
  fi
  [ "$installed_by_us" -eq 1 ] && $SUDO rm -f "$MARKER"
  restore_leftovers
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap "exit 130" INT TERM

if is_installed; then
  if [ -f "$MARKER" ]; then
    say "a previous run was interrupted: purging the $PKG it installed"
    purge_pkg
    $SUDO rm -f "$MARKER"
  else
    fail "$PKG is installed on this machine and this check did not install it: it installs and" \
      "purges the package, so remove it first (dpkg --purge $PKG)"
  fi
fi

# ---------------------------------------------------------------- 1. systemd unit
exposure_of() { # unit file -> the overall exposure figure ("1.1")
  (cd "$TMP" && systemd-analyze security --offline=true "$1" 2>&1) \
    | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
score=$(exposure_of "$SRC/$UNIT_SRC")
[ -n "$score" ] || fail "systemd-analyze security printed no exposure level for $UNIT_SRC"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' \
  || fail "$UNIT_SRC: exposure $score, more than $MAX_EXPOSURE (systemd-analyze security --offline=true $UNIT_SRC)"
# The same limit through the tool's own threshold (its scale is the exposure times 10).
(cd "$TMP" && systemd-analyze security --offline=true --threshold=15 "$SRC/$UNIT_SRC" >/dev/null 2>&1) \
  || fail "systemd-analyze security --threshold=15 rejects $UNIT_SRC"
ok "systemd-analyze security --offline=true: exposure $score (at most $MAX_EXPOSURE)"

# ---------------------------------------------------------------- 2. container
# The build stage's RUN lines, continuation lines joined, must be exactly these: the project's
# own scripts, which CI runs itself (scripts/test.sh), so CI proves the image's build steps.
expected_runs=$'TRAILWARDEN_SKIP_PEERS=1 scripts/setup.sh\nscripts/build.sh -DTRAILWARDEN_TESTS=OFF -DCMAKE_EXE_LINKER_FLAGS=-s'
stage_lines() { # $1 = stage name ("build") or "" for the last stage; prints joined instructions
  awk -v want="$1" '
    { line = $0; sub(/[ \t]+$/, "", line) }
    cont { buf = buf " " line; if (buf ~ /\\$/) { sub(/[ \t]*\\$/, "", buf); next } cont = 0; emit(buf); next }
    /^[ \t]*#/ || /^[ \t]*$/ { next }
    { buf = line; if (buf ~ /\\$/) { sub(/[ \t]*\\$/, "", buf); cont = 1; next } emit(buf) }
    function emit(l,  n, f) {
      gsub(/[ \t]+/, " ", l)
      if (l ~ /^FROM /) { n = split(l, f, " "); stage++; name[stage] = (n >= 4 && tolower(f[3]) == "as") ? f[4] : ""; }
      out[stage] = out[stage] l "\n"
    }
    END { for (i = 1; i <= stage; i++) if ((want == "" && i == stage) || (want != "" && name[i] == want)) printf "%s", out[i] }
  ' "$DOCKERFILE"
}
build_stage=$(stage_lines build)
[ -n "$build_stage" ] || fail "$DOCKERFILE has no stage named build"
grep -q '^FROM debian:bookworm-slim AS build$' <<<"$build_stage" \
  || fail "$DOCKERFILE: the build stage must be FROM debian:bookworm-slim"
actual_runs=$(sed -n 's/^RUN //p' <<<"$build_stage")
[ "$actual_runs" = "$expected_runs" ] \
  || fail "$DOCKERFILE: the build stage must run exactly"$'\n'"$expected_runs"$'\n'"but runs"$'\n'"$actual_runs"
other=$(grep -vE '^(FROM|WORKDIR|COPY|RUN) ' <<<"$build_stage" || true)
[ -z "$other" ] || fail "$DOCKERFILE: unexpected instructions in the build stage: $other"
grep -qx 'scripts/setup.sh' scripts/test.sh && grep -q '^BUILD_DIR=build scripts/build.sh ' scripts/test.sh \
  || fail "scripts/test.sh no longer runs scripts/setup.sh and scripts/build.sh: the Dockerfile's build steps are not proven by CI"
grep -q 'TRAILWARDEN_SKIP_PEERS' scripts/setup.sh || fail "scripts/setup.sh ignores TRAILWARDEN_SKIP_PEERS"
grep -q '^BUILD_DIR=\${BUILD_DIR:-build}$' scripts/build.sh && grep -qx 'WORKDIR /src' <<<"$build_stage" \
  && grep -q '^COPY --from=build /src/build/trailwarden /usr/bin/trailwarden$' <<<"$(stage_lines "")" \
  || fail "$DOCKERFILE: the runtime stage must copy the binary where scripts/build.sh puts it (/src/build/trailwarden)"
grep -q "$RUNTIME_LIST" <<<"$(stage_lines "")" || fail "$DOCKERFILE: the runtime stage does not use $RUNTIME_LIST"
ok "Dockerfile: the build stage runs only scripts/setup.sh and scripts/build.sh, as CI does"

# Every NEEDED library of the binary comes from a listed package; every listed package provides
# one of them (or is marked "not a library").
listed=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$RUNTIME_LIST" | awk '{print $1}')
allowed_extra=$(sed -n 's/^\([^#[:space:]]*\)[[:space:]]*#[[:space:]]*not a library.*/\1/p' "$RUNTIME_LIST")
needed_pkgs=""
lddout=$(ldd "$BIN")
for lib in $(readelf -d "$BIN" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
  path=$(awk -v l="$lib" '$1 == l && $2 == "=>" {print $3}' <<<"$lddout")
  [ -n "$path" ] && [ "$path" != "not" ] || fail "ldd does not resolve $lib"
  owner=""
  for candidate in "$path" "/usr$path" "${path#/usr}" "$(readlink -f "$path")"; do
    owner=$(dpkg -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$owner" ] && break
  done
  [ -n "$owner" ] || fail "no Debian package owns $path ($lib)"
  grep -qx "$owner" <<<"$listed" || fail "$RUNTIME_LIST lacks $owner (for $lib)"
  needed_pkgs+="$owner"$'\n'
done
for p in $listed; do
  grep -qx "$p" <<<"$needed_pkgs" || grep -qx "$p" <<<"$allowed_extra" \
    || fail "$RUNTIME_LIST lists $p, which provides none of the binary's libraries (stale entry?)"
done
ok "$RUNTIME_LIST provides all $(sort -u <<<"$needed_pkgs" | grep -c .) library packages of the binary"

# ---------------------------------------------------------------- 3. the .deb
say "building the package with cpack"
rm -rf "$BUILD_DIR/package"
cpack --config "$BUILD_DIR/CPackConfig.cmake" -B "$BUILD_DIR/package" >"$TMP/cpack.log" 2>&1 \
  || { cat "$TMP/cpack.log" >&2; fail "cpack failed"; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD_DIR/CPackConfig.cmake")
deb=$(ls "$BUILD_DIR"/package/${PKG}_"${version}"_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "cpack made no ${PKG}_${version}_*.deb in $BUILD_DIR/package"
deb=$(readlink -f "$deb")
contents=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $NF}')
for f in ./usr/bin/trailwarden ./etc/trailwarden/trailwarden.toml ./etc/default/trailwarden \
    ./lib/systemd/system/trailwarden.service ./usr/share/doc/trailwarden/README.md \
    ./usr/share/doc/trailwarden/operations.md ./usr/share/doc/trailwarden/copyright \
    ./usr/share/doc/trailwarden/LICENSE; do
  grep -q " $f\$" <<<"$contents" || fail "$deb lacks $f"
done
grep -qx -- '-rw------- root/root ./etc/default/trailwarden' <<<"$contents" \
  || fail "/etc/default/trailwarden (secrets) must be -rw------- root/root in the package"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/trailwarden >"$TMP/bin"
file "$TMP/bin" | grep -q ', stripped' || fail "the packaged binary is not stripped"
[ "$(dpkg-deb -I "$deb" conffiles)" = $'/etc/trailwarden/trailwarden.toml\n/etc/default/trailwarden' ] \
  || fail "conffiles of $deb: $(dpkg-deb -I "$deb" conffiles)"
depends=$(dpkg-deb -f "$deb" Depends)
for d in adduser ca-certificates libc6 libcurl4 librdkafka1 libvectorscan5; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "package version is not $version"
ok "$(basename "$deb"): $(stat -c %s "$deb") bytes; Depends: $depends"

# ---------------------------------------------------------------- 4. install
for d in $LEFTOVER_DIRS; do
  if [ -e "$d" ]; then
    say "note: $d exists though $PKG is not installed; setting it aside for this check. It holds:"
    $SUDO find "$d" -maxdepth 3 -printf '  %M %u:%g %p\n' | head -n 20
    $SUDO mkdir -p "$TMP/leftover$(dirname "$d")"
    $SUDO mv "$d" "$TMP/leftover$d"
  fi
done
# What a first install meets after `trailwarden run` as root from a source build: a state
# directory owned by root, with root's disk buffers in it. The postinst must hand it to the
# service user (the agent's run below, as user trailwarden, writes there).
$SUDO install -d -o root -g root -m 0755 /var/lib/trailwarden/buffers/stdout
$SUDO touch /var/lib/trailwarden/dedup.log
before=$(dpkg-query -W -f='${Package}\n' | sort)
$SUDO touch "$MARKER"
installed_by_us=1
export DEBIAN_FRONTEND=noninteractive
dpkg_i() { $SUDO env DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold -i "$deb" >"$TMP/dpkg.log" 2>&1; }
if ! dpkg_i; then
  say "dpkg -i left dependencies missing; apt-get install -f"
  $SUDO apt-get install -f -y -qq >>"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log" >&2; fail "apt-get install -f failed"; }
fi
added_deps=$(comm -13 <(echo "$before") <(dpkg-query -W -f='${Package}\n' | sort) | grep -vx "$PKG" | tr '\n' ' ' || true)
[ "$(dpkg-query -W -f='${db:Status-Status}' $PKG)" = installed ] || { cat "$TMP/dpkg.log" >&2; fail "$PKG is not installed"; }
grep -q 'warning' "$TMP/dpkg.log" && { cat "$TMP/dpkg.log" >&2; fail "dpkg warned while installing"; }
ok "dpkg -i $(basename "$deb")"
not_theirs=$($SUDO find /var/lib/trailwarden /var/log/trailwarden \( ! -user trailwarden -o ! -group trailwarden \) -print | head -n 5)
[ -z "$not_theirs" ] || fail "after a first install, not owned by trailwarden:trailwarden: $not_theirs"
ok "a root-owned /var/lib/trailwarden left before the install is handed to user trailwarden"

out=$(/usr/bin/trailwarden --version) || fail "trailwarden --version failed"
grep -qF "$version" <<<"$out" || fail "trailwarden --version says '$out', not $version"
ok "trailwarden --version: $out"

/usr/bin/trailwarden -c "$CONF" check-config >"$TMP/check.out" 2>"$TMP/check.err" \
  || { cat "$TMP/check.out" "$TMP/check.err" >&2; fail "check-config rejects the installed $CONF"; }
# As the unit's ExecStartPre runs it: the service user, with the environment file's variables.
$SUDO runuser -u trailwarden -- /usr/bin/trailwarden -c "$CONF" check-config -q >"$TMP/check-user.out" 2>&1 \
  || { cat "$TMP/check-user.out" >&2; fail "check-config -q fails as user trailwarden (permissions of $CONF?)"; }
ok "check-config accepts the installed configuration, as root and as user trailwarden"

alerts=$(/usr/bin/trailwarden replay -q /usr/share/doc/trailwarden/examples/AWSLogs 2>/dev/null | grep -c '"class_uid"' || true)
[ "$alerts" -gt 0 ] || fail "the installed trailwarden finds no alert in the shipped examples"
ok "the installed trailwarden replays the shipped examples: $alerts alerts"

# The issue's "done when": edit the one file, start the agent as the unit does (its user, the
# installed binary), let a test stream flow through the SQS/S3 emulator, watch /metrics move.
if [ -d "tests/integration/peers/node_modules" ] || [ "${PACKAGE_CHECK_SKIP_RUN:-0}" != 1 ]; then
  out=$(python3 "tests/integration/test_installed.py" 2>&1) || { echo "$out" >&2; fail "the installed agent's run"; }
  ok "$(tail -n1 <<<"$out" | sed 's/^test_installed: //')"
else
  say "SKIPPED the installed agent's run: no emulator (scripts/setup-peers.sh) and PACKAGE_CHECK_SKIP_RUN=1"
fi

IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd trailwarden)" || fail "no user trailwarden"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/trailwarden ] && [ "$shell" = /usr/sbin/nologin ] \
  || fail "user trailwarden: uid $uid, home $home, shell $shell"
[ "$(getent group trailwarden | cut -d: -f3)" = "$gid" ] || fail "trailwarden's group is not trailwarden"
for d in /var/lib/trailwarden /var/log/trailwarden; do
  [ "$(stat -c '%U:%G %a' "$d")" = "trailwarden:trailwarden 750" ] || fail "$d: $(stat -c '%U:%G %a' "$d")"
done
[ "$(stat -c '%U:%G %a' "$CONF")" = "root:trailwarden 640" ] || fail "$CONF: $(stat -c '%U:%G %a' "$CONF")"
[ "$(stat -c '%U:%G %a' /etc/default/trailwarden)" = "root:root 600" ] \
  || fail "/etc/default/trailwarden: $(stat -c '%U:%G %a' /etc/default/trailwarden)"
ok "system user trailwarden (uid $uid, nologin), its directories, and the file permissions"

conffiles=$(dpkg-query -W -f='${Conffiles}' $PKG | awk 'NF {print $1}')
[ "$conffiles" = $'/etc/trailwarden/trailwarden.toml\n/etc/default/trailwarden' ] \
  || fail "registered conffiles: $conffiles"
ok "conffiles registered: $(paste -sd' ' <<<"$conffiles")"

out=$(cd "$TMP" && systemd-analyze verify /lib/systemd/system/trailwarden.service 2>&1) \
  || { echo "$out" >&2; fail "systemd-analyze verify failed"; }
[ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify is not clean"; }
[ "$(exposure_of /lib/systemd/system/trailwarden.service)" = "$score" ] || fail "the installed unit differs"
[ ! -e /etc/systemd/system/multi-user.target.wants/trailwarden.service ] \
  || fail "the unit was enabled on install (it must wait for a configuration)"
ok "systemd-analyze verify of the installed unit is clean; the unit is installed disabled"

# An edited configuration survives a reinstall (an upgrade keeps it the same way).
echo "# package-check edit" | $SUDO tee -a "$CONF" >/dev/null
dpkg_i || { cat "$TMP/dpkg.log" >&2; fail "reinstall failed"; }
tail -n1 "$CONF" | grep -qx '# package-check edit' || fail "reinstalling overwrote the edited $CONF"
ok "an edited $CONF survives a reinstall"

$SUDO dpkg -r $PKG >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log" >&2; fail "dpkg -r failed"; }
[ "$(dpkg-query -W -f='${db:Status-Status}' $PKG)" = config-files ] || fail "dpkg -r did not leave config-files"
[ ! -e /usr/bin/trailwarden ] && [ ! -e /lib/systemd/system/trailwarden.service ] \
  || fail "dpkg -r left the binary or the unit"
[ -f "$CONF" ] && getent passwd trailwarden >/dev/null || fail "dpkg -r removed the configuration or the user"
ok "dpkg -r removes the program and keeps the configuration and the user"

# ---------------------------------------------------------------- 5. purge
purge_pkg || fail "dpkg --purge failed"
left=""
dpkg-query -W -f='${db:Status-Status}' $PKG 2>/dev/null | grep -qv not-installed && left+=" package-status"
for p in /usr/bin/trailwarden /lib/systemd/system/trailwarden.service /etc/trailwarden \
    /etc/default/trailwarden /var/lib/trailwarden /var/log/trailwarden /usr/share/doc/trailwarden \
    /etc/systemd/system/trailwarden.service \
    /etc/systemd/system/multi-user.target.wants/trailwarden.service \
    /var/lib/systemd/deb-systemd-helper-enabled/trailwarden.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-masked/trailwarden.service; do
  if [ -e "$p" ] || [ -L "$p" ]; then left+=" $p"; fi
done
getent passwd trailwarden >/dev/null && left+=" user"
getent group trailwarden >/dev/null && left+=" group"
[ -z "$left" ] || fail "dpkg --purge left:$left"
installed_by_us=0
$SUDO rm -f "$MARKER"
ok "dpkg --purge removes everything: files, state, unit state, user and group"

echo "package-check: $checks checks passed (exposure $score, $(basename "$deb") $(stat -c %s "$deb") bytes)"
