#!/usr/bin/env python3
"""Alerts per second of the Kafka and Splunk HEC outputs against their local test peers.

Usage: tests/bench/bench_outputs.py [--count N] [BUILD_DIR]   (default: build, N = 20000)

Drives each output through its test tool (the real factory, batches of 500, the pipeline's
retry rules) against librdkafka's mock cluster (3 brokers) and the strict HEC receiver
(tests/integration/peers/hec_receiver.py), on 127.0.0.1, and prints a Markdown table. The
receivers run on the same machine, so the figures bound the output, not a real SIEM.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
    return elapsed, out.stdout


def kafka(build: Path, count: int, tmp: Path) -> float:
    mock = subprocess.Popen([str(build / "kafka_mock_cluster")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        bootstraps = mock.stdout.readline().strip()
        cfg = tmp / "kafka.toml"
        cfg.write_text(f'[[outputs]]\ntype = "kafka"\nname = "kafka"\nbrokers = "{bootstraps}"\n'
                       f'topic = "alerts"\n')
        elapsed, _ = timed([str(build / "kafka_tool"), str(cfg), "--count", str(count),
                            "--batch", "500", "--value-bytes", "3000", "--log-level", "error"])
        return count / elapsed
    finally:
        mock.stdin.close()
        mock.wait(timeout=30)


def hec(build: Path, count: int, tmp: Path, ack: bool) -> float:
    token = "11111111-2222-3333-4444-555555555555"
    recv = subprocess.Popen([sys.executable, str(ROOT / "tests/integration/peers/hec_receiver.py"),
                             "--token", token + (":ack" if ack else "")],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = json.loads(recv.stdout.readline())["port"]
        cfg = tmp / f"hec-{ack}.toml"
        cfg.write_text(f'[[outputs]]\ntype = "splunk_hec"\nname = "hec"\n'
                       f'url = "http://127.0.0.1:{port}"\ntoken = "{token}"\n'
                       f'ack = {"true" if ack else "false"}\nack_poll_ms = 20\n')
        elapsed, _ = timed([str(build / "hec_tool"), str(cfg), "--count", str(count), "--batch", "500",
                            "--state-dir", str(tmp), "--log-level", "error"])
        return count / elapsed
    finally:
        recv.terminate()
        recv.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=str(ROOT / "build"))
    ap.add_argument("--count", type=int, default=20000)
    args = ap.parse_args()
    build = Path(args.build)
    tmp = Path(tempfile.mkdtemp(prefix="tw-bench-out-"))
    rows = [("kafka (mock cluster, 3 brokers, idempotent, acks=all, zstd)", kafka(build, args.count, tmp)),
            ("splunk_hec (strict receiver, gzip)", hec(build, args.count, tmp, ack=False)),
            ("splunk_hec with indexer acknowledgement", hec(build, args.count, tmp, ack=True))]
    print(f"\n{args.count} alerts per output, batches of 500, peers on 127.0.0.1\n")
    print("| output | alerts/s |")
    print("|---|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
