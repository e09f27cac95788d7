#!/usr/bin/env python3
"""Throughput and latency of `trailwarden run` against the fauxqs SQS/S3 emulator (127.0.0.1).

Usage: tests/bench/bench_sqs.py [--objects N] [--agents 1,3] [--records R] [build/trailwarden]

For each agent count: uploads N CloudTrail objects (R realistic records each, one AWS Config
change with a unique eventID per object), starts the agents, then sends one S3 notification per
object and measures
  - objects/s: objects processed per second, from the first notification to the last alert;
  - latency: from sending a notification to its alert appearing in an agent's output
    (observed by tailing the alert files every 5 ms; p50 and p99).
Prints a Markdown table. The emulator runs on the same 2-core machine as the agents, so the
figures are for the pipeline, not for AWS.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "peers"))
try:
    import fauxqs  # noqa: E402
except ImportError:  # Debian's python3 has boto3
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    raise

BUCKET = "trail-bucket"
BACKGROUND = [json.loads(l)["record"] for l in
              (ROOT / "tests/data/cloudtrail/panther_cloudtrail_rule_tests.ndjson").read_text().splitlines() if l.strip()]
CONFIG = next(r for r in json.loads((ROOT / "tests/data/cloudtrail/awsdocs_config.json").read_text())["Records"]
              if r["eventName"] == "StopConfigurationRecorder")


def make_object(tag: str, records: int, rng: random.Random) -> bytes:
    recs = []
    for i in range(records - 1):
        r = copy.deepcopy(rng.choice(BACKGROUND))
        r["eventID"] = f"{tag}-bg-{i}"
        if r.get("eventSource") == "config.amazonaws.com":
            r["eventSource"] = "ec2.amazonaws.com"
        recs.append(r)
    c = copy.deepcopy(CONFIG)
    c["eventID"] = tag
    recs.insert(rng.randrange(len(recs) + 1), c)
    return gzip.compress(json.dumps({"Records": recs}).encode())


def run(binary: str, n_objects: int, n_agents: int, records: int) -> dict:
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="tw-bench-sqs-"))
    with fauxqs.Fauxqs() as fx:
        fx.create_bucket(BUCKET)
        url = fx.create_queue("bench", visibility_timeout=120)
        keys = {}
        for i in range(n_objects):
            tag = f"obj-{i:05d}"
            key = f"AWSLogs/111122223333/CloudTrail/us-east-1/2024/11/18/111122223333_CloudTrail_us-east-1_20241118T0000Z_{tag}.json.gz"
            fx.put_object(BUCKET, key, make_object(tag, records, rng))
            keys[tag] = key
        agents, outs = [], []
        env = dict(os.environ, AWS_ACCESS_KEY_ID=fauxqs.DUMMY_ACCESS_KEY,
                   AWS_SECRET_ACCESS_KEY=fauxqs.DUMMY_SECRET_KEY, AWS_EC2_METADATA_DISABLED="true")
        for a in range(n_agents):
            d = work / f"agent{a}"
            (d / "state").mkdir(parents=True)
            out = d / "alerts.ndjson"
            cfg = d / "trailwarden.toml"
            cfg.write_text(f"""
[general]
log_level = "warn"
state_dir = "{d / 'state'}"
[aws]
region = "us-east-1"
endpoint_url = "{fx.endpoint}"
[source.sqs]
queue_url = "{url}"
wait_time_seconds = 20
allowed_buckets = ["{BUCKET}"]
[[outputs]]
type = "file"
path = "{out}"
""")
            outs.append(out)
            agents.append(subprocess.Popen([binary, "-c", str(cfg), "run"], env=env,
                                           stdout=subprocess.DEVNULL, stderr=open(d / "stderr.log", "wb")))
        sent = {}
        start = time.monotonic()
        for tag, key in keys.items():
            sent[tag] = time.monotonic()
            fx.send(url, fauxqs.s3_event_body(BUCKET, key))
        seen: dict[str, float] = {}
        offsets = [0] * n_agents
        deadline = time.monotonic() + 300
        while len(seen) < n_objects and time.monotonic() < deadline:
            for i, out in enumerate(outs):
                if not out.exists():
                    continue
                with open(out, "rb") as f:
                    f.seek(offsets[i])
                    chunk = f.read()
                complete = chunk[: chunk.rfind(b"\n") + 1]
                offsets[i] += len(complete)
                now = time.monotonic()
                for line in complete.splitlines():
                    uid = json.loads(line)["finding_info"]["related_events"][0]["uid"]
                    seen.setdefault(uid, now)
            time.sleep(0.005)  # tailing files: nothing to wait on
        elapsed = max(seen.values()) - start if seen else float("nan")
        for p in agents:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=60) for p in agents]
        lat = sorted((seen[t] - sent[t]) * 1000 for t in seen)
        return {
            "agents": n_agents, "objects": n_objects, "delivered": len(seen), "exit": codes,
            "objects_per_s": n_objects / elapsed if elapsed else 0,
            "p50_ms": statistics.median(lat) if lat else float("nan"),
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
        }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(ROOT / "build" / "trailwarden"))
    ap.add_argument("--objects", type=int, default=300)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--agents", default="1,3")
    args = ap.parse_args()
    rows = [run(args.binary, args.objects, int(n), args.records) for n in args.agents.split(",")]
    print(f"\n{args.objects} objects of {args.records} records, one S3 notification each (fauxqs on 127.0.0.1)\n")
    print("| agents | objects/s | p50 notification→alert | p99 | delivered | exit |")
    print("|---:|---:|---:|---:|---:|---|")
    ok = True
    for r in rows:
        print(f"| {r['agents']} | {r['objects_per_s']:.0f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | "
              f"{r['delivered']}/{r['objects']} | {r['exit']} |")
        ok = ok and r["delivered"] == r["objects"] and all(c == 0 for c in r["exit"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
