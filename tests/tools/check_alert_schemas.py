#!/usr/bin/env python3
"""ctest `alert_schemas`: every alert of every test corpus is a valid OCSF 1.4.0 Detection
Finding and, when the build has `format = "ecs"`, a valid ECS 8.17 document.

Usage: check_alert_schemas.py TRAILWARDEN [--keep DIR] [--integrity-tool TOOL]

The corpora (repository files only): every CloudTrail file of tests/data/cloudtrail (including
the hostile odd_records.json, whose every record must raise an alert), the Panther test records
and the EventBridge notification samples wrapped as CloudTrail files, samples/AWSLogs, the
decode fuzz seeds, a small generated corpus (tests/bench/gen_corpus.py) and the golden alert
files as they are; with --integrity-tool, the integrity alerts it prints
(tests/integration/integrity_findings_tool.cpp: every check, typical, minimal and hostile
values), which must name all six checks, and in format cloudtrail keep their evidence out of
"record". Each corpus is replayed with `trailwarden replay --enable '*'`, with and
without --no-raw-data, in format ocsf and, if supported, ecs (otherwise the line
"SKIPPED ecs: not supported by this build" is printed). Exit 1 if any alert violates its schema,
printing the violations grouped by schema, kind and attribute (observable violations by the
attribute the observable names) with counts and an example of each; exit 2 if a replay fails.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import ocsf_validate  # noqa: E402

GEN_FILES, GEN_RECORDS = 3, 1000  # a few thousand generated records: seconds, not minutes


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT)


def wrap_records(records: list, path: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"Records": records}, f, ensure_ascii=False)
    return path


def build_corpora(work: str) -> dict[str, list[str]]:
    """Corpus name -> the paths to replay."""
    data = os.path.join(ROOT, "tests", "data")
    corpora: dict[str, list[str]] = {}
    for fn in sorted(glob.glob(os.path.join(data, "cloudtrail", "*.json"))):
        corpora[rel(fn)] = [fn]
    panther = os.path.join(data, "cloudtrail", "panther_cloudtrail_rule_tests.ndjson")
    with open(panther, encoding="utf-8") as f:
        recs = [json.loads(line)["record"] for line in f if line.strip()]
    corpora[rel(panther)] = [wrap_records([r for r in recs if isinstance(r, dict)],
                                          os.path.join(work, "panther.json"))]
    details = []
    for fn in sorted(glob.glob(os.path.join(data, "notifications", "eventbridge_*.json"))):
        with open(fn, encoding="utf-8") as f:
            ev = json.load(f)
        for e in ev if isinstance(ev, list) else [ev]:
            if isinstance(e, dict) and isinstance(e.get("detail"), dict):
                details.append(e["detail"])
    if details:
        corpora["tests/data/notifications/eventbridge_*.json (detail)"] = [
            wrap_records(details, os.path.join(work, "eventbridge.json"))]
    corpora["samples/AWSLogs"] = [os.path.join(ROOT, "samples", "AWSLogs")]
    seeds = [fn for fn in sorted(glob.glob(os.path.join(ROOT, "tests", "fuzz", "corpus",
                                                        "decode", "*")))
             if looks_like_cloudtrail(fn)]
    if seeds:
        corpora["tests/fuzz/corpus/decode"] = seeds
    gen = os.path.join(work, "generated")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "bench", "gen_corpus.py"),
                    "--out", gen, "--manifest", os.path.join(work, "generated-MANIFEST.json"),
                    "--files", str(GEN_FILES), "--records", str(GEN_RECORDS),
                    "--seed", "11", "--jobs", "1", "--level", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    corpora[f"generated ({GEN_FILES}x{GEN_RECORDS} records, tests/bench/gen_corpus.py)"] = [gen]
    return corpora


def looks_like_cloudtrail(fn: str) -> bool:
    try:
        with open(fn, "rb") as f:
            head = f.read(4096)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(fn, "rb") as f:
                head = f.read(4096)
        return head.lstrip().startswith(b"{") and b'"Records"' in head[:64]
    except OSError:
        return False


class Checker:
    def __init__(self, trailwarden: str, work: str):
        self.tw = trailwarden
        self.work = work
        self.groups: collections.Counter = collections.Counter()
        self.example: dict = {}
        self.alerts = 0
        self.invalid = 0
        self.failures: list[str] = []
        self.ecs = None

    # --- running trailwarden -------------------------------------------------------------------

    def ecs_mode(self) -> tuple[str, str] | None:
        """How this build writes ECS: ("config", conf path) or ("flag", "") or None."""
        conf = self.write_config("ecs", os.path.join(self.work, "probe.ndjson"))
        p = subprocess.run([self.tw, "-c", conf, "check-config", "-q"], capture_output=True,
                           text=True, timeout=60)
        if p.returncode == 0:
            return ("config", conf)
        empty = wrap_records([], os.path.join(self.work, "empty.json"))
        f = subprocess.run([self.tw, "replay", "-q", "--format", "ecs", "-o",
                            os.path.join(self.work, "probe-flag.ndjson"), empty],
                           capture_output=True, text=True, timeout=60)
        if f.returncode == 0:
            return ("flag", "")
        first = (p.stderr or p.stdout).strip().splitlines()
        self.ecs_reason = first[0] if first else f"check-config exit {p.returncode}"
        return None

    def write_config(self, fmt: str, out: str) -> str:
        state = os.path.join(self.work, "state")
        os.makedirs(state, exist_ok=True)
        conf = os.path.join(self.work, f"{fmt}-{abs(hash(out))}.toml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f'[general]\nstate_dir = {json.dumps(state)}\n\n'
                    f'[[outputs]]\nname = "check"\ntype = "file"\nformat = {json.dumps(fmt)}\n'
                    f'path = {json.dumps(out)}\n')
        return conf

    def replay(self, name: str, paths: list[str], fmt: str, raw: bool) -> list[str] | None:
        out = os.path.join(self.work, f"out-{len(self.failures)}-{abs(hash((name, fmt, raw)))}"
                                      f".ndjson")
        if os.path.exists(out):
            os.unlink(out)
        cmd = [self.tw]
        if fmt == "ocsf":
            cmd += ["replay", "-o", out]
        elif self.ecs[0] == "config":
            cmd += ["-c", self.write_config("ecs", out), "replay"]
        else:
            cmd += ["replay", "--format", "ecs", "-o", out]
        cmd += ["-q", "--enable", "*", "-w", "2"] + ([] if raw else ["--no-raw-data"]) + paths
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            self.failures.append(f"{name} [{fmt}{'' if raw else ', --no-raw-data'}]: replay "
                                 f"exited {p.returncode}: {p.stderr.strip()[-2000:]}")
            return None
        with open(out, encoding="utf-8") as f:
            return [line for line in f if line.strip()]

    # --- validating ----------------------------------------------------------------------------

    def validate(self, label: str, lines: list[str], validator) -> tuple[int, int]:
        invalid = 0
        for i, line in enumerate(lines, 1):
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as e:
                vs = [ocsf_validate.Violation("not_json", "", str(e))]
            else:
                vs = validator(doc)
            if vs:
                invalid += 1
            for v in vs:
                key = (label.split(" ")[0], v.kind, generic_path(v.path)
                       + observable_subject(doc if isinstance(doc, dict) else {}, v.path))
                self.groups[key] += 1
                self.example.setdefault(key, f"{label} alert {i}: {v}")
        self.alerts += len(lines)
        self.invalid += invalid
        return len(lines), invalid

    def report(self) -> int:
        if self.groups:
            print(f"\nVIOLATIONS by schema, kind and attribute ({sum(self.groups.values())} in "
                  f"{self.invalid} of {self.alerts} alerts):")
            for (schema, kind, path), n in self.groups.most_common():
                print(f"  {n:6d}  {schema:4s} {kind:24s} {path}")
                print(f"          e.g. {self.example[(schema, kind, path)][:300]}")
        for f in self.failures:
            print(f"FAILED {f}")
        verdict = "FAIL" if self.groups or self.failures else "OK"
        print(f"alert_schemas: {verdict}: {self.alerts} alerts checked, {self.invalid} invalid, "
              f"{sum(self.groups.values())} violations, {len(self.failures)} replay failures")
        if self.failures:
            return 2
        return 1 if self.groups else 0


def generic_path(path: str) -> str:
    return ocsf_validate.generic_path(path) or "<event>"


def observable_subject(doc: dict, path: str) -> str:
    """For a violation of observables[i], the attribute it names (array indexes dropped), so
    that the report groups observable violations by attribute: " (resources[].uid)"."""
    m = re.match(r"observables\[(\d+)\]", path)
    obs = doc.get("observables")
    if not m or not isinstance(obs, list) or int(m.group(1)) >= len(obs):
        return ""
    name = obs[int(m.group(1))].get("name") if isinstance(obs[int(m.group(1))], dict) else None
    return f" ({generic_path(name)})" if isinstance(name, str) else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trailwarden")
    ap.add_argument("--keep", help="keep the corpora and alerts in this directory")
    ap.add_argument("--integrity-tool", help="integrity_findings_tool: check its alerts too")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with the replays' messages
    work = args.keep or tempfile.mkdtemp(prefix="tw-alert-schemas-")
    os.makedirs(work, exist_ok=True)
    try:
        c = Checker(os.path.abspath(args.trailwarden), work)
        corpora = build_corpora(work)
        ocsf = ocsf_validate.default_validator().validate
        c.ecs = c.ecs_mode()
        ecs = None
        if c.ecs is None:
            print(f"SKIPPED ecs: not supported by this build ({c.ecs_reason})")
        else:
            import ecs_validate  # PyYAML only needed when there is something to check
            ecs = ecs_validate.default_validator().validate
        for fn in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "golden", "*.ndjson"))):
            with open(fn, encoding="utf-8") as f:
                n, bad = c.validate(f"ocsf {rel(fn)} (golden)", f.readlines(), ocsf)
            print(f"ocsf {rel(fn)} (golden, as committed): {n} alerts, {bad} invalid")
        formats = ["ocsf"] + (["ecs"] if ecs else [])
        if args.integrity_tool:
            check_integrity_findings(c, args.integrity_tool, {"ocsf": ocsf, "ecs": ecs})
        for name, paths in corpora.items():
            for fmt in formats:
                for raw in (True, False):
                    lines = c.replay(name, paths, fmt, raw)
                    if lines is None:
                        continue
                    mode = f"{fmt}{'' if raw else ' --no-raw-data'}"
                    n, bad = c.validate(f"{fmt} {name} [{mode}]", lines,
                                        ocsf if fmt == "ocsf" else ecs)
                    print(f"{mode:22s} {name}: {n} alerts, {bad} invalid")
                    if name.endswith("odd_records.json") and fmt == "ocsf" and raw:
                        check_every_record_alerts(c, paths[0], lines)
        return c.report()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


INTEGRITY_RULES = {f"integrity.{c}" for c in (
    "digest_invalid", "digest_chain_broken", "digest_chain_restarted", "log_file_modified",
    "log_file_unreadable", "digest_delivery_stopped")}


def check_integrity_findings(c: Checker, tool: str, validators: dict) -> None:
    """The integrity alerts of every check (agent/normalize/integrity_finding.h), as the tool
    prints them, in each format there is a validator for; the cloudtrail envelope by hand."""
    for fmt in ("ocsf", "ecs", "cloudtrail"):
        p = subprocess.run([tool, fmt], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            c.failures.append(f"{tool} {fmt}: exit {p.returncode}: {p.stderr.strip()[-500:]}")
            continue
        lines = [line for line in p.stdout.split("\n") if line.strip()]
        label = f"{fmt} integrity findings (tests/integration/integrity_findings_tool.cpp)"
        if fmt == "cloudtrail":
            docs = [json.loads(line) for line in lines]
            bad = [i for i, d in enumerate(docs) if d.get("record") is not None
                   or not isinstance(d.get("integrity"), dict)
                   or d["trailwarden"].get("kind") != "integrity"]
            if bad:
                c.failures.append(f"{label}: alerts {bad} have a record or no evidence")
            rules = {d["trailwarden"]["rule_id"] for d in docs}
            print(f"{fmt:22s} integrity findings: {len(docs)} alerts, {len(bad)} with a record")
        elif validators.get(fmt) is None:
            continue
        else:
            n, bad = c.validate(label, lines, validators[fmt])
            docs = [json.loads(line) for line in lines]
            rules = {(d.get("finding_info", {}).get("analytic", {}).get("uid") if fmt == "ocsf"
                      else d.get("rule", {}).get("id")) for d in docs}
            print(f"{fmt:22s} integrity findings: {n} alerts, {bad} invalid")
        if rules != INTEGRITY_RULES:
            c.failures.append(f"{label}: rule ids {sorted(map(str, rules))}, expected every check "
                              f"{sorted(INTEGRITY_RULES)}")


def check_every_record_alerts(c: Checker, path: str, lines: list[str]) -> None:
    """Each hostile record is there to be checked: each must raise at least one alert."""
    with open(path, encoding="utf-8") as f:
        records = json.load(f)["Records"]
    seen = set()
    for line in lines:
        raw = json.loads(line).get("raw_data")
        if isinstance(raw, str):
            seen.add(json.dumps(json.loads(raw), sort_keys=True))
    missing = [i for i, r in enumerate(records) if json.dumps(r, sort_keys=True) not in seen]
    if missing:
        c.failures.append(f"{rel(path)}: records {missing} raised no alert (each odd record "
                          f"must match a built-in rule)")


if __name__ == "__main__":
    sys.exit(main())
