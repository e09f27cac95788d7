#!/usr/bin/env python3
"""What the syslog output loses over TCP when rsyslogd is restarted in the middle of a stream.

Usage: tests/bench/syslog_restarts.py [--restarts N] [--batches 1,4,50] [--protocol tcp|relp]
                                      [--direct] [BUILD_DIR]
       (default: build, N = 30, tcp)

Syslog over TCP has no application-level acknowledgement (docs/outputs.md, syslog, "Delivery").
This measures the consequence: syslog_tool (the real output) sends batches of alerts back to
back to a real rsyslogd on 127.0.0.1 (imtcp, octet counting, every message written to a file),
sending a batch again whenever the output gives it back as kRetry; meanwhile another thread
restarts rsyslogd N times, at random moments 0.2-0.7 s apart, either cleanly (SIGTERM) or by
killing it (SIGKILL). At the end, every alert the output counted as delivered is looked up in
rsyslogd's file. Prints a Markdown table: alerts delivered, alerts lost, connections the receiver
reset (each logged as a WARN line by the output), and batches the output gave back for sending
again (connection refused while rsyslogd was down, or bytes rsyslogd's kernel never
acknowledged).

With --protocol relp the same runs go over RELP (imrelp), where rsyslogd answers each message
once it has taken it into its queue: what is lost then is only what rsyslogd had answered but
not yet written when it was killed (its main queue is in memory by default). --direct gives
rsyslogd a Direct main queue: each message is written to the file before its input continues,
so over RELP before it is answered.

A measurement, not a test: the timing of each restart against the stream is random.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Rsyslog:
    def __init__(self, d: Path, protocol: str, direct: bool = False):
        self.d = d
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.file = d / "alerts.log"
        (d / "work").mkdir(parents=True, exist_ok=True)
        (d / "rsyslog.conf").write_text(f'''
global(workDirectory="{d}/work" maxMessageSize="64k" net.enableDNS="off")
{'main_queue(queue.type="Direct")' if direct else ''}
module(load="im{protocol}")
template(name="msg" type="string" string="%msg%\\n")
ruleset(name="alerts") {{ action(type="omfile" file="{self.file}" template="msg") }}
input(type="im{protocol}" address="127.0.0.1" port="{self.port}" ruleset="alerts")
''')
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(self.d / "rsyslog.conf"), "-i",
                                      str(self.d / "rsyslogd.pid")], stdout=subprocess.DEVNULL,
                                     stderr=open(self.d / "rsyslogd.out", "ab"))
        deadline = time.monotonic() + 30
        while True:  # listening?
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"rsyslogd did not start; see {self.d}/rsyslogd.out")
                time.sleep(0.01)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(30)

    def uids(self) -> set[str]:
        if not self.file.exists():
            return set()
        out = set()
        for line in self.file.read_text(errors="replace").splitlines():
            try:
                out.add(json.loads(line)["metadata"]["uid"])
            except (ValueError, KeyError):
                pass  # a line cut by SIGKILL
        return out


def measure(build: Path, tmp: Path, sig: signal.Signals, batch: int, restarts: int,
            protocol: str, direct: bool) -> dict:
    d = Path(tempfile.mkdtemp(prefix=f"{sig.name}-{batch}-", dir=tmp))
    rs = Rsyslog(d, protocol, direct)
    rs.start()
    cfg = d / "syslog.toml"
    cfg.write_text(f'[[outputs]]\ntype = "syslog"\nname = "syslog"\nprotocol = "{protocol}"\n'
                   f'address = "127.0.0.1:{rs.port}"\nconnect_timeout_ms = 1000\n'
                   f'write_timeout_ms = 2000\n')
    tool = subprocess.Popen([str(build / "syslog_tool"), str(cfg)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=open(d / "tool.err", "wb"), text=True)
    tool.stdout.readline()

    def cmd(line):
        tool.stdin.write(line + "\n")
        tool.stdin.flush()
        return json.loads(tool.stdout.readline())

    done = threading.Event()

    def restarter():
        rng = random.Random()
        for _ in range(restarts):
            done.wait(0.2 + rng.random() * 0.5)  # a random moment of the stream
            rs.stop(sig)
            rs.start()
        done.set()

    delivered: set[str] = set()
    seq = 0
    pending = False
    threading.Thread(target=restarter, daemon=True).start()
    while not done.is_set():
        if pending:
            r = cmd("resend")
        else:
            r = cmd(f"send normal {batch} {seq}")
            seq += batch
        pending = r["status"] != "delivered"
        if not pending:
            delivered |= {a["uid"] for a in r["alerts"]}
    while pending:  # the last batch, to a running rsyslogd
        r = cmd("resend")
        pending = r["status"] != "delivered"
        if not pending:
            delivered |= {a["uid"] for a in r["alerts"]}
    counters = cmd("counters")
    # Until rsyslogd has written everything it will write: its file stops growing.
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 2:
        n = len(rs.uids())
        if n != last:
            last, since = n, time.monotonic()
        time.sleep(0.05)
    got = rs.uids()
    tool.stdin.close()
    tool.wait(30)
    rs.stop()
    return {"delivered": len(delivered), "lost": len(delivered - got),
            "resets": counters.get("resets", "-"), "sent_again": counters["write_failures"],
            "refused": counters["connect_failures"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=str(ROOT / "build"))
    ap.add_argument("--restarts", type=int, default=30)
    ap.add_argument("--batches", default="1,4,50")
    ap.add_argument("--protocol", choices=("tcp", "relp"), default="tcp")
    ap.add_argument("--direct", action="store_true",
                    help='rsyslogd with main_queue(queue.type="Direct"): a message is written '
                         "to the file before its input goes on (and, over RELP, answers)")
    args = ap.parse_args()
    build = Path(args.build)
    tmp = Path(tempfile.mkdtemp(prefix="tw-syslog-restarts-"))
    print(f"\nrsyslogd ({args.protocol}{', direct queue' if args.direct else ''}) restarted {args.restarts} times during a stream of "
          "back-to-back batches\n")
    print("| rsyslogd stopped by | alerts a batch | delivered | lost | resets reported "
          "| batches sent again |")
    print("|---|---:|---:|---:|---:|---:|")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for batch in (int(b) for b in args.batches.split(",")):
            r = measure(build, tmp, sig, batch, args.restarts, args.protocol, args.direct)
            print(f"| {sig.name} | {batch} | {r['delivered']:,} | {r['lost']:,} | {r['resets']} "
                  f"| {r['sent_again']} (+{r['refused']} refused) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
