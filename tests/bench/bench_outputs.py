#!/usr/bin/env python3
"""Alerts per second of the Kafka, Splunk HEC and syslog outputs against their local test peers.

Usage: tests/bench/bench_outputs.py [--count N] [--only NAME] [BUILD_DIR]
       (default: build, N = 20000; NAME: kafka, hec or syslog)

Drives each output through its test tool (the real factory, batches of 500, the pipeline's
retry rules) against librdkafka's mock cluster (3 brokers), the strict HEC receiver
(tests/integration/peers/hec_receiver.py) and a real rsyslogd (TCP with octet counting, RELP, and
UDP, each writing every message to a file), on 127.0.0.1, and prints a Markdown table. The
receivers run on the same machine, so the figures bound the output, not a real SIEM.

For syslog the clock stops when rsyslogd has written the last alert to its file (the file is
polled every 5 ms), not when the output is done: over TCP a batch counts as delivered once
rsyslogd's kernel has acknowledged it, which says nothing of rsyslogd keeping up. Over UDP
nothing is acknowledged at all; the figure is what rsyslogd wrote per second, and how many of
the datagrams it received is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
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


def free_port(kind: int) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LineCounter:
    """Counts the lines of a growing file that contain `marker`, reading only what is new."""

    def __init__(self, path: Path, marker: bytes = b""):
        self.path, self.marker, self.offset, self.count, self.rest = path, marker, 0, 0, b""

    def __call__(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        self.count += sum(1 for line in data[:cut].split(b"\n")[:-1] if self.marker in line)
        return self.count


def syslog(build: Path, count: int, tmp: Path, protocol: str) -> tuple[float, str]:
    """Alerts/s written by rsyslogd, and a note (alert size, UDP losses)."""
    d = tmp / f"rsyslog-{protocol}"
    (d / "work").mkdir(parents=True)
    port = free_port(socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM)
    out = d / "alerts.log"
    module = "im" + protocol
    extra = ' rcvbufSize="8m"' if protocol == "udp" else ""
    (d / "rsyslog.conf").write_text(f'''
global(workDirectory="{d}/work" maxMessageSize="64k" net.enableDNS="off")
module(load="{module}")
template(name="msg" type="string" string="%msg%\\n")
ruleset(name="alerts") {{ action(type="omfile" file="{out}" template="msg") }}
input(type="{module}" address="127.0.0.1" port="{port}" ruleset="alerts"{extra})
''')
    rsyslogd = subprocess.Popen(["rsyslogd", "-n", "-f", str(d / "rsyslog.conf"), "-i",
                                 str(d / "rsyslogd.pid")], stdout=subprocess.DEVNULL,
                                stderr=open(d / "rsyslogd.out", "wb"))
    cfg = d / "syslog.toml"
    cfg.write_text(f'[[outputs]]\ntype = "syslog"\nname = "syslog"\nprotocol = "{protocol}"\n'
                   f'address = "127.0.0.1:{port}"\n' +
                   ('max_message_bytes = 8192\n' if protocol == "udp" else ""))
    tool = subprocess.Popen([str(build / "syslog_tool"), str(cfg)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        if "error" in json.loads(tool.stdout.readline()):
            raise SystemExit("syslog_tool could not build the output")
        # rsyslogd is ready once a probe sent through the output comes out in its file.
        deadline = time.monotonic() + 30
        probes = LineCounter(out)
        while probes() == 0:
            if rsyslogd.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"rsyslogd does not receive; see {d}/rsyslogd.out")
            tool.stdin.write("send normal 1 0\n")
            tool.stdin.flush()
            tool.stdout.readline()
            time.sleep(0.05)
        written = LineCounter(out, b"p" * 1000)  # the benchmark's alerts, not the probes
        start = time.monotonic()
        tool.stdin.write(f"bench padded {count} 500\n")
        tool.stdin.flush()
        r = json.loads(tool.stdout.readline())
        if r.get("error") or r["delivered"] != count:
            raise SystemExit(f"syslog {protocol}: {r}")
        # Until every alert is in the file; over UDP, until it stops growing for a second.
        last, last_change, end = -1, time.monotonic(), time.monotonic()
        while True:
            n = written()
            now = time.monotonic()
            if n != last:
                last, last_change, end = n, now, now
            if n >= count or (protocol == "udp" and now - last_change > 1.0):
                break
            if now - last_change > 30:
                raise SystemExit(f"syslog {protocol}: rsyslogd wrote {n} of {count}")
            time.sleep(0.005)
        note = f"{r['alert_bytes']} B alerts, output done in {r['seconds']:.2f} s"
        if protocol == "udp":
            note += f", {last} of {count} datagrams received"
        return last / (end - start), note
    finally:
        tool.stdin.close()
        tool.wait(timeout=30)
        rsyslogd.terminate()
        rsyslogd.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=str(ROOT / "build"))
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--only", choices=["kafka", "hec", "syslog"])
    args = ap.parse_args()
    build = Path(args.build)
    tmp = Path(tempfile.mkdtemp(prefix="tw-bench-out-"))
    rows = []
    if args.only in (None, "kafka"):
        rows.append(("kafka (mock cluster, 3 brokers, idempotent, acks=all, zstd)",
                     kafka(build, args.count, tmp), ""))
    if args.only in (None, "hec"):
        rows.append(("splunk_hec (strict receiver, gzip)", hec(build, args.count, tmp, ack=False),
                     ""))
        rows.append(("splunk_hec with indexer acknowledgement",
                     hec(build, args.count, tmp, ack=True), ""))
    if args.only in (None, "syslog"):
        for protocol in ("tcp", "udp", "relp"):
            rate, note = syslog(build, args.count, tmp, protocol)
            rows.append((f"syslog {protocol.upper()} (rsyslogd writing to a file)", rate, note))
    print(f"\n{args.count} alerts per output, batches of 500, peers on 127.0.0.1\n")
    print("| output | alerts/s | |")
    print("|---|---:|---|")
    for name, rate, note in rows:
        print(f"| {name} | {rate:,.0f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
