#!/usr/bin/env bash
# trailwarden throughput benchmark.
#
# Usage: tests/bench/run_bench.sh [--files N] [--records N] [--quick] [--seed S] [--reps N]
#
#   --files N     corpus files (default 200)
#   --records N   records per file (default 1000)
#   --quick       smoke run: 20 files x 1,000 records
#   --seed S      corpus seed (default 1)
#   --reps N      repetitions per command, best and median reported (default 3)
#
# Environment:
#   TRAILWARDEN   binary to test, relative to the repo root or absolute
#                 (default build/trailwarden).  Set it to the empty string
#                 (TRAILWARDEN= tests/bench/run_bench.sh) to run only the
#                 igzip / jq / python baselines and their correctness check.
#   BENCH_DIR     cache for generated corpora (default /tmp/trailwarden-bench);
#                 a corpus is reused when its MANIFEST.json matches.
#
# What it does: generates (or reuses) a deterministic CloudTrail corpus with
# tests/bench/gen_corpus.py, warms the page cache, then times on the same
# files, each command REPS times (wall clock; peak RSS from /usr/bin/time):
#   igzip -dc FILES > /dev/null                                (the floor)
#   trailwarden replay --quiet --workers 1 -o /dev/null DIR                (default rules: CIS 4.9)
#   trailwarden replay --quiet --workers 1 --enable '*' -o /dev/null DIR   (all built-in rules)
#   trailwarden replay --quiet --workers 2 -o /dev/null DIR
#   trailwarden replay --quiet --workers 1 --enable '*' --enable-alarm 'cis-*' -o /dev/null DIR
#                                                    (all rules and all CIS alarms; docs/alarms.md)
# (replay uses every core by default; the single-thread figures pin --workers 1)
#   openssl dgst -sha256 INFLATED                              (the [integrity] hash pass)
#   igzip -dc FILES | jq -c -f tests/bench/jq_filter.jq        (jq baseline, 4.9)
#   python3 tests/bench/baseline.py DIR                         (python baseline, 4.9)
# and prints a Markdown table, the goals (met/missed) and a correctness (PASS/FAIL)
# check: alerts from `trailwarden replay -o FILE DIR` == Config-change records
# in the MANIFEST == python baseline matches.
#
# Exit status: 0 when the correctness check passes (performance goals are a
# report and never fail the script), 1 when it fails, 2 on usage / setup
# errors (missing binary or tool).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in tests/bench

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

FILES=200
RECORDS=1000
SEED=1
REPS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --files) FILES=${2:?--files needs a value}; shift 2 ;;
    --records) RECORDS=${2:?--records needs a value}; shift 2 ;;
    --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
    --reps) REPS=${2:?--reps needs a value}; shift 2 ;;
    --quick) FILES=20; RECORDS=1000; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_bench: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$FILES" "$RECORDS" "$SEED" "$REPS"; do
  [[ "$v" =~ ^[0-9]+$ && "$v" -ge 1 ]] || { echo "run_bench: numeric arguments must be integers >= 1 (got '$v')" >&2; exit 2; }
done

# The script lives in tests/bench/; everything below runs from the repo root.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
BENCH="$ROOT/tests/bench"

log() { echo "run_bench: $*" >&2; }
die() { echo "run_bench: error: $*" >&2; exit 2; }

# ---- tools -------------------------------------------------------------------
for t in igzip jq python3 openssl; do
  command -v "$t" >/dev/null || die "'$t' not found (apt-get install -y isal jq python3)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install -y time)"

# ---- the binary under test -------------------------------------------------------
if [[ -n "${TRAILWARDEN+set}" && -z "$TRAILWARDEN" ]]; then
  TW=""
  log "TRAILWARDEN is empty: running the baselines only"
else
  TW_ARG=${TRAILWARDEN:-build/trailwarden}
  if [[ "$TW_ARG" != */* ]] && command -v "$TW_ARG" >/dev/null; then
    TW=$(command -v "$TW_ARG")
  else
    TW=$TW_ARG
    [[ "$TW" = /* ]] || TW="$ROOT/$TW"
  fi
  if [[ ! -f "$TW" || ! -x "$TW" ]]; then
    cat >&2 <<EOF
run_bench: error: trailwarden binary not found or not executable: $TW
  Build it first (it is expected at build/trailwarden relative to the repo root),
  or point TRAILWARDEN at it:        TRAILWARDEN=/path/to/trailwarden $0
  or run only the baselines with:    TRAILWARDEN= $0
EOF
    exit 2
  fi
fi

# ---- corpus --------------------------------------------------------------------
BENCH_DIR=${BENCH_DIR:-/tmp/trailwarden-bench}
CORPUS="$BENCH_DIR/corpus-${FILES}x${RECORDS}"
[[ "$SEED" == 1 ]] || CORPUS="$CORPUS-seed$SEED"
DATA="$CORPUS/logs"            # only the .json.gz files: this is what every tool reads
MANIFEST="$CORPUS/MANIFEST.json"

corpus_ok() {
  [[ -f "$MANIFEST" ]] || return 1
  python3 - "$MANIFEST" "$DATA" "$FILES" "$RECORDS" "$SEED" "$BENCH" <<'EOF'
import json, os, sys
mpath, data, files, records, seed, bench = sys.argv[1:]
sys.path.insert(0, bench)
import gen_corpus
m = json.load(open(mpath))
ok = (m.get("generator_hash") == gen_corpus.source_hash() and m.get("files") == int(files)
      and m.get("records_per_file") == int(records) and m.get("seed") == int(seed))
if ok:
    present = {n for n in os.listdir(data) if n.endswith(".json.gz")} if os.path.isdir(data) else set()
    ok = present == {f["name"] for f in m["files_detail"]} and all(
        os.path.getsize(os.path.join(data, f["name"])) == f["compressed_bytes"] for f in m["files_detail"])
sys.exit(0 if ok else 1)
EOF
}

if corpus_ok; then
  log "reusing corpus $CORPUS"
else
  log "generating corpus $CORPUS ($FILES files x $RECORDS records, seed $SEED)"
  rm -rf "$CORPUS"
  mkdir -p "$DATA"
  python3 "$BENCH/gen_corpus.py" --out "$DATA" --manifest "$MANIFEST" \
    --files "$FILES" --records "$RECORDS" --seed "$SEED"
fi

shopt -s nullglob
INPUTS=("$DATA"/*.json.gz)
shopt -u nullglob
[[ ${#INPUTS[@]} -eq $FILES ]] || die "expected $FILES files in $DATA, found ${#INPUTS[@]}"

# Quote for use inside `bash -c` strings.
q() { printf '%q' "$1"; }
QFILES=$(printf '%q ' "${INPUTS[@]}")
QDATA=$(q "$DATA")
QTW=$(q "$TW")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/trailwarden-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.tsv"
: > "$RESULTS"

log "warming the page cache"
cat "${INPUTS[@]}" > /dev/null

# measure KEY LABEL COMMAND
#   Runs COMMAND (a bash string, pipefail on) REPS times; stdout goes to
#   $TMP/KEY.out, stderr to $TMP/KEY.err.  Appends
#   KEY, LABEL, best ns, median ns, peak RSS KiB (max over runs), status
#   to $RESULTS.
measure() {
  local key=$1 label=$2 cmd=$3 i t0 t1 rc status=ok rss max_rss=0
  local -a times=()
  log "timing: $label"
  for ((i = 1; i <= REPS; i++)); do
    t0=$(date +%s%N)
    rc=0
    /usr/bin/time -f '%M' -o "$TMP/$key.time" bash -o pipefail -c "$cmd" > "$TMP/$key.out" 2> "$TMP/$key.err" || rc=$?
    t1=$(date +%s%N)
    times+=($((t1 - t0)))
    rss=$(tail -n 1 "$TMP/$key.time")
    [[ "$rss" =~ ^[0-9]+$ ]] || rss=0
    (( rss > max_rss )) && max_rss=$rss
    if (( rc != 0 )); then
      status="exit=$rc"
      log "  run $i exited with status $rc; stderr tail:"
      tail -n 5 "$TMP/$key.err" | sed 's/^/    /' >&2
    fi
  done
  local sorted best median
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  best=$(head -n 1 <<< "$sorted")
  median=$(sed -n "$(( (REPS + 1) / 2 ))p" <<< "$sorted")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$label" "$best" "$median" "$max_rss" "$status" >> "$RESULTS"
}

measure igzip "igzip -dc FILES > /dev/null" "igzip -dc $QFILES > /dev/null"
if [[ -n "$TW" ]]; then
  measure tw_default "trailwarden replay -w 1 (default rules)" "exec $QTW replay --quiet --workers 1 -o /dev/null $QDATA"
  measure tw_all "trailwarden replay -w 1 --enable '*'" "exec $QTW replay --quiet --workers 1 --enable '*' -o /dev/null $QDATA"
  measure tw_w2 "trailwarden replay --workers 2" "exec $QTW replay --quiet --workers 2 -o /dev/null $QDATA"
  measure tw_alarms "trailwarden replay -w 1 --enable '*' --enable-alarm 'cis-*'" "exec $QTW replay --quiet --workers 1 --enable '*' --enable-alarm 'cis-*' -o /dev/null $QDATA"
fi
# The integrity stage's added work ([integrity] in run, docs/integrity.md): one SHA-256 pass over
# every log file's inflated bytes, timed alone over the inflated corpus (on the page cache).
igzip -dc $QFILES > "$TMP/inflated.json"
measure sha256 "openssl dgst -sha256 (inflated corpus)" "exec openssl dgst -sha256 $(q "$TMP/inflated.json") > /dev/null"
rm -f "$TMP/inflated.json"
measure jq "igzip -dc FILES | jq -c -f jq_filter.jq" "igzip -dc $QFILES | jq -c -f $(q "$BENCH/jq_filter.jq")"
measure python "python3 baseline.py DIR" "exec python3 $(q "$BENCH/baseline.py") --quiet $QDATA"

# ---- correctness runs (not timed) ----------------------------------------------------
TW_RC=""; TW_ALL_RC=""
if [[ -n "$TW" ]]; then
  log "correctness: trailwarden replay -o FILE DIR"
  TW_RC=0
  "$TW" replay -o "$TMP/alerts.jsonl" "$DATA" 2> "$TMP/replay.stderr" || TW_RC=$?
  [[ -f "$TMP/alerts.jsonl" ]] || : > "$TMP/alerts.jsonl"
  log "info: trailwarden replay --enable '*' -o FILE DIR"
  TW_ALL_RC=0
  "$TW" replay --enable '*' -o "$TMP/alerts_all.jsonl" "$DATA" 2> "$TMP/replay_all.stderr" || TW_ALL_RC=$?
  [[ -f "$TMP/alerts_all.jsonl" ]] || : > "$TMP/alerts_all.jsonl"
fi

# ---- report ------------------------------------------------------------------------------
TW_VERSION=""
[[ -n "$TW" ]] && TW_VERSION=$("$TW" --version 2>/dev/null | head -n 1 || true)

set +e
python3 - "$RESULTS" "$MANIFEST" "$TMP" "$REPS" "$TW" "$TW_RC" "$TW_ALL_RC" "$TW_VERSION" <<'EOF'
import json, os, platform, subprocess, sys

results_path, manifest_path, tmp, reps, tw, tw_rc, tw_all_rc, tw_version = sys.argv[1:]
m = json.load(open(manifest_path))
rows = {}
order = []
for line in open(results_path):
    key, label, best, median, rss, status = line.rstrip("\n").split("\t")
    rows[key] = dict(label=label, best=int(best) / 1e9, median=int(median) / 1e9, rss=int(rss) / 1024, status=status)
    order.append(key)

mb = m["decompressed_bytes"] / 1e6
igz = rows["igzip"]["best"]

def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except Exception:
        return "?"

cpu = "?"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip(); break
except OSError:
    pass

print("## trailwarden benchmark\n")
print(f"- corpus: {m['files']} files x {m['records_per_file']} records = {m['total_records']:,} records "
      f"(seed {m['seed']}); compressed {m['compressed_bytes'] / 1e6:.1f} MB, decompressed {mb:.1f} MB "
      f"(ratio {m['decompressed_bytes'] / m['compressed_bytes']:.1f}); avg record {m['avg_record_bytes']:.0f} B; "
      f"largest file {m['max_decompressed_file_bytes'] / 2**20:.2f} MiB decompressed")
print(f"- machine: {cpu}, {os.cpu_count()} cores; {platform.platform()}")
print(f"- tools: {version(['igzip', '--version'])}; {version(['jq', '--version'])}; Python {platform.python_version()}"
      + (f"; trailwarden: {tw} {tw_version}" if tw else "; trailwarden: not run (TRAILWARDEN empty)"))
print(f"- each command run {reps}x on a warm page cache; seconds = best wall time (median in brackets); "
      f"MB/s = decompressed JSON MB (10^6 B) per second; RSS = peak resident set\n")

print("| command | seconds | MB/s | x igzip | peak RSS MiB |")
print("|---|---:|---:|---:|---:|")
for k in order:
    r = rows[k]
    note = "" if r["status"] == "ok" else f" **({r['status']})**"
    label = r["label"].replace("|", "\\|")  # a literal | would split the Markdown cell
    print(f"| `{label}`{note} | {r['best']:.3f} ({r['median']:.3f}) | {mb / r['best']:.0f} | "
          f"{r['best'] / igz:.2f} | {r['rss']:.1f} |")
print()

def goal(ok, text):
    # Goals are figures, not test verdicts (a loaded machine or the small --quick corpus misses
    # them honestly): "met" / "missed", as in README's table.
    print(f"{'met   ' if ok else 'missed'}  {text}")

def line(ok, text):
    print(f"{'PASS' if ok else 'FAIL'}  {text}")

print("### goals\n")
print("```")
if tw:
    d, a, w2 = rows["tw_default"]["best"], rows["tw_all"]["best"], rows["tw_w2"]["best"]
    goal(d <= 1.25 * igz, f"replay(default) <= 1.25x igzip: {d / igz:.2f}x")
    goal(a <= 2.0 * igz, f"replay(all rules) <= 2x igzip: {a / igz:.2f}x")
    goal(rows["jq"]["best"] / d >= 15, f"replay(default) >= 15x faster than jq: {rows['jq']['best'] / d:.1f}x")
    goal(rows["python"]["best"] / d >= 10, f"replay(default) >= 10x faster than python: {rows['python']['best'] / d:.1f}x")
    limit = 64 + 3 * m["max_decompressed_file_bytes"] / 2**20
    worst = max(("tw_default", "tw_all", "tw_w2"), key=lambda k: rows[k]["rss"])
    goal(rows[worst]["rss"] <= limit,
         f"peak RSS <= 64 MiB + 3x largest decompressed file = {limit:.1f} MiB: "
         f"{rows[worst]['rss']:.1f} MiB ({rows[worst]['label']})")
    goal(d / w2 >= 1.7, f"--workers 2 throughput >= 1.7x default: {d / w2:.2f}x")
    al = rows["tw_alarms"]["best"]
    goal(al <= 1.05 * a, f"all CIS alarms on <= 1.05x all rules without them: {al / a:.3f}x")
    sha = rows["sha256"]["best"]
    goal(sha <= 0.10 * d,
         f"[integrity] log-file hashing adds <= 10% to replay(default): {100 * sha / d:.0f}% "
         f"({100 * sha / a:.0f}% of all rules)")
    bad = [rows[k]["label"] for k in ("tw_default", "tw_all", "tw_w2", "tw_alarms")
           if rows[k]["status"] != "ok"]
    if bad:
        print("ERROR   trailwarden exited non-zero while timed: " + ", ".join(bad))
else:
    print("SKIP  trailwarden goals (no binary)")
print("```\n")

# ---- correctness ----
def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for l in f if l.strip())
    except OSError:
        return -1

expected = m["config_changes"]
n_py = count_lines(os.path.join(tmp, "python.out"))
n_jq = count_lines(os.path.join(tmp, "jq.out"))
print("### correctness\n")
print("```")
ok = n_py == expected and rows["python"]["status"] == "ok"
line(ok, f"python baseline matches ({n_py}) == MANIFEST config_changes ({expected})")
print(f"{'INFO' if n_jq == expected else 'WARN'}  jq baseline matches: {n_jq}")
if tw:
    path = os.path.join(tmp, "alerts.jsonl")
    n_tw = count_lines(path)
    valid = True
    try:
        with open(path, "rb") as f:
            for l in f:
                if l.strip() and not isinstance(json.loads(l), dict):
                    valid = False
    except (OSError, ValueError):
        valid = False
    tw_ok = tw_rc == "0" and valid and n_tw == expected == n_py
    line(tw_ok, f"trailwarden replay alerts ({n_tw}) == MANIFEST config_changes ({expected}) == python ({n_py})"
                f"; exit status {tw_rc}; every line a JSON object: {'yes' if valid else 'NO'}")
    ok = ok and tw_ok
    # Informational: do the alerts carry the eventIDs of the expected records?
    ids = []
    for l in open(os.path.join(tmp, "python.out"), encoding="utf-8"):
        ids.append(json.loads(l).get("eventID", ""))
    blob = open(path, encoding="utf-8", errors="replace").read()
    print(f"INFO  expected eventIDs found in the alerts: {sum(1 for i in ids if i and i in blob)}/{len(ids)}")
    n_all = count_lines(os.path.join(tmp, "alerts_all.jsonl"))
    exp_all = m["cis_expected_matches"]
    print(f"INFO  replay --enable '*': {n_all} alerts (exit {tw_all_rc}); baseline.py --all would give "
          f"{sum(exp_all.values())} ({', '.join(f'{k}={v}' for k, v in exp_all.items())})")
    print("      (rule sets may legitimately differ: built-in rule ids/versions, 4.1/4.2 variants)")
print("```")
if not tw:
    print("\n(trailwarden not run: set TRAILWARDEN or build build/trailwarden)")
sys.exit(0 if ok else 1)
EOF
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  log "CORRECTNESS CHECK FAILED"
  [[ -s "$TMP/replay.stderr" ]] && { log "trailwarden stderr (tail):"; tail -n 20 "$TMP/replay.stderr" >&2; }
  exit 1
fi
exit 0
