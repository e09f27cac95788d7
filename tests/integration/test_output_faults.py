#!/usr/bin/env python3
"""Fault tests of the Kafka, Splunk HEC and syslog outputs, through the whole agent.

Run as:  python3 tests/integration/test_output_faults.py TRAILWARDEN KAFKA_MOCK_CLUSTER

For each output, `trailwarden -c CONFIG run` reads a steady stream of CloudTrail objects from
the fauxqs SQS/S3 emulator and delivers their alerts through a disk buffer to the output's
real peer on 127.0.0.1, started here:

  kafka       librdkafka's mock cluster (tests/integration/kafka_mock_cluster, 3 brokers),
              consumed back with kcat; "down" = every broker refuses connections (the mock's
              broker down/up: same ports, the cluster keeps its data)
  splunk_hec  the strict HEC receiver (peers/hec_receiver.py) with indexer acknowledgement;
              "down" = the receiver is killed (SIGKILL) and later started again on the same
              ports; what it indexed is in its journal file (its "disk")
  syslog      a real rsyslogd (TCP, octet counting) writing every message to a file; "down" =
              rsyslogd is stopped and later started again on the same port
  syslog_relp the same over RELP (imrelp), rsyslogd with a Direct main queue (it writes a
              message before answering it); "down" = rsyslogd is killed (SIGKILL)

Each case, while the stream runs (5 objects a second, 4 alerts each):
  1. waits until alerts reach the consumer;
  2. takes the peer down for FAULT_OUTAGE_SECONDS (default 30: what issue 4 asks for; an
     environment override is for quicker local runs only);
  3. during the outage, once alerts sit in the agent's disk buffer (ten objects were sent, then
     the stream pauses until the queue is empty), kills the agent with SIGKILL, starts it
     again on the same state directory and resumes the stream;
  4. brings the peer back and measures the recovery time: until the consumer holds every
     alert of every object sent before the peer came back (syslog: sent during the outage,
     see below);
  5. streams a little longer, stops, and waits until every expected alert has arrived.
Then it asserts: every expected finding uid (finding_info.uid, computed here from the rule id
and the eventID) arrived at least once; nothing else arrived; copies of
one event carry the same finding uid (their number is printed); the SQS queue is empty (every
message deleted); nothing went to the dead-letter file; the outage and the restart were seen by
the agent (retries logged; the restarted agent found alerts left in its buffer); the agent
stops cleanly on SIGTERM.

syslog over TCP has no application-level acknowledgement (docs/outputs.md, "Delivery"): a
batch counts as delivered once rsyslogd's TCP stack has acknowledged every byte of it. Alerts
its kernel acknowledged but rsyslogd had not read when it closed the connection are thrown
away, its kernel resets the connection, and the agent, which cannot know which alerts they
were, reports the reset (a WARN line). So the syslog case stops rsyslogd the way a receiver is
restarted (SIGTERM; SIGKILL would also lose what rsyslogd had read but not yet written, which
nothing can report), and asserts exactly that: every alert of an object begun after rsyslogd
had exited arrives; every other alert arrives too unless the agent reported a reset, and even
then at most FAULT_SYSLOG_MAX_LOST (default 40) are missing. Over RELP every alert is answered
by the receiver, and syslog_relp asserts what the other outputs do: nothing lost, though
rsyslogd is killed.

buffer_damage (issue 9): with the HEC receiver down, the agent buffers the alerts of ten objects
and is killed with SIGKILL; the test then flips bytes in the live buffer (a payload byte of one
record, the length field of another), starts the receiver and the agent again, and asserts that
exactly the two damaged alerts are missing, nothing else, no duplicates, that
trailwarden_output_buffer_corrupt_records_total says 2 and that both records' bytes are in the
buffer's quarantine directory.

Waiting: every wait polls an observable condition (consumer contents, queue counters, log
lines, listening ports) with a deadline. The only timed waits are the load generator's pacing
and the outage itself, which is the fault being injected. Needs kcat, rsyslogd and fauxqs
(scripts/setup.sh, scripts/setup-peers.sh). Prints PASS/FAIL per case and "N passed, N failed";
exit status non-zero if any case failed. FAULT_TEST=kafka (or hec, syslog, relp, damage) runs the
cases whose name contains it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common
from common import Failure, check, wait_until

fauxqs = common.import_fauxqs("test_output_faults")

TRAILWARDEN = None
KAFKA_MOCK = None
TMP = None
BUCKET = "trail-bucket"
RULE = "cis-4.9"
OUTAGE = float(os.environ.get("FAULT_OUTAGE_SECONDS", "30"))
SYSLOG_MAX_LOST = int(os.environ.get("FAULT_SYSLOG_MAX_LOST", "40"))
OBJECTS_PER_SECOND = 5.0
HEC_TOKEN = "5a1e7c2e-0d7b-4e55-9d55-2f3b0a7c9e11"


def finding_uid(rule_id: str, event_id: str) -> str:
    """The finding uid as docs/alerts.md describes it (and agent/normalize/ocsf.cpp makes it): a
    UUIDv8 from SHA-256 of a domain string, the rule id and the eventID. Computed here, so that
    the test does not take the agent's word for which alerts are expected."""
    h = hashlib.sha256(b"trailwarden finding v1\0" + rule_id.encode() + b"\0e" +
                       event_id.encode()).digest()
    b = bytearray(h[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


# ---- The stream of CloudTrail objects ----

class Stream:
    """Puts CloudTrail objects into S3 and notifies the queue, OBJECTS_PER_SECOND of them, on a
    thread, until stop(). Each object holds the ten AWS Config records of the AWS docs sample,
    with eventIDs unique to the object; CIS 4.9 matches four of them."""

    def __init__(self, fx: fauxqs.Fauxqs, queue_url: str, case: str):
        self.fx = fx
        self.url = queue_url
        self.case = case
        # (monotonic time before the object was put, after its notification was sent,
        #  {finding uid})
        self.sent = []
        self.lock = threading.Lock()
        self.error = None
        self._stop = threading.Event()
        self._go = threading.Event()
        self._go.set()
        self._sending = threading.Lock()  # held while an object is put and notified
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def object(self, n: int) -> tuple[bytes, set[str]]:
        data, event_ids = common.log_file(f"{self.case}-{n:05d}")
        return data, {finding_uid(RULE, e) for e in event_ids}

    def _run(self):
        due = time.monotonic()
        n = 0
        try:
            while not self._stop.is_set():
                with self._sending:
                    if self._go.is_set():
                        data, uids = self.object(n)
                        key = common.key_for(f"{self.case}{n:05d}")
                        t_start = time.monotonic()
                        self.fx.put_object(BUCKET, key, data)
                        self.fx.send(self.url, fauxqs.s3_event_body(BUCKET, key))
                        with self.lock:
                            self.sent.append((t_start, time.monotonic(), uids))
                        n += 1
                if not self._go.is_set():
                    while not self._go.wait(0.1):
                        if self._stop.is_set():
                            return
                    due = time.monotonic()  # no burst to catch up after a pause
                    continue
                # Pacing of the load generator (not a synchronisation).
                due += 1 / OBJECTS_PER_SECOND
                self._stop.wait(max(0.0, due - time.monotonic()))
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def pause(self):
        """No object is sent from the return of this call until resume()."""
        with self._sending:
            self._go.clear()

    def resume(self):
        self._go.set()

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        if self.error:
            raise Failure(f"the stream failed: {self.error!r}")

    def expected(self, before: float | None = None, after: float | None = None) -> set[str]:
        """Finding uids of the objects whose notification was sent before a monotonic time /
        that were begun (put into S3) after one."""
        with self.lock:
            out = set()
            for t_start, t_sent, uids in self.sent:
                if (before is None or t_sent < before) and (after is None or t_start > after):
                    out |= uids
            return out

    def count(self, after: float) -> int:
        """Objects begun after a monotonic time."""
        with self.lock:
            return sum(1 for t_start, _, _ in self.sent if t_start > after)


# ---- The agent ----

class Agent:
    """`trailwarden -c CONFIG run` with one output, a disk buffer and its own state directory.
    Each start (after kill -9) logs to a file of its own."""

    def __init__(self, fx, queue_url, workdir: Path, output_toml: str, name: str, extra_toml=""):
        self.dir = workdir
        self.name = name
        self.state = workdir / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "trailwarden.toml"
        self.config.write_text(common.agent_config(
            self.state, fx.endpoint, queue_url, BUCKET, visibility=10) + f"""[rules]
enable = ["{RULE}"]
[[outputs]]
name = "{name}"
buffer = "disk"
retry_initial_ms = 250
retry_max_ms = 2000
{output_toml}
{extra_toml}""")
        self.proc = None
        self.runs = 0
        self.logs = []

    def start(self):
        self.runs += 1
        log = self.dir / f"agent-{self.runs}.log"
        self.logs.append(log)
        self._stderr = open(log, "ab")
        self.proc = common.start_agent(TRAILWARDEN, self.config, self._stderr)
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._stderr.close()

    def stop(self, timeout=60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "killed: no exit within 60 s of SIGTERM"
        self._stderr.close()
        return rc

    def log(self, run=None) -> str:
        paths = self.logs if run is None else [self.logs[run - 1]]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def tail(self, n=25) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    def dead_letters(self) -> list[str]:
        path = self.state / "dead-letter" / f"{self.name}.ndjson"
        return path.read_text().splitlines() if path.exists() else []


# ---- The peers: each can be taken down and brought back, and lists what it received ----

class KafkaPeer:
    name = "kafka"
    TOPIC = "alerts"

    def __init__(self, workdir: Path):
        with open(workdir / "mock.log", "wb") as log:
            self.cluster = common.MockCluster(KAFKA_MOCK, stderr=log)
        self.bootstraps = self.cluster.bootstraps
        self.cluster.command(f"create {self.TOPIC} 3 3")

    def output_toml(self):
        return (f'type = "kafka"\nbrokers = "{self.bootstraps}"\ntopic = "{self.TOPIC}"\n'
                f'key = "uid"\ndelivery_timeout_ms = 5000\n')

    def down(self):
        for b in (1, 2, 3):
            self.cluster.command(f"down {b}")

    def up(self):
        for b in (1, 2, 3):
            self.cluster.command(f"up {b}")

    def received(self) -> list[dict]:
        out = []
        for m in common.kcat_consume(self.bootstraps, self.TOPIC):
            alert = json.loads(m["payload"])
            check(m["key"] == alert["finding_info"]["uid"],
                  f"message key {m['key']} is not the finding uid")
            out.append(alert)
        return out

    def close(self):
        self.cluster.stop()


class HecPeer:
    name = "splunk_hec"

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.journal = workdir / "indexed.ndjson"
        self.port = common.restartable_port()
        self.admin_port = common.restartable_port()
        self.proc = None
        self.up()

    def up(self):
        with open(self.dir / "receiver.log", "ab") as log:
            self.proc, ready = common.start_hec_receiver(
                ["--token", HEC_TOKEN + ":ack", "--port", str(self.port),
                 "--admin-port", str(self.admin_port), "--journal", str(self.journal)],
                stderr=log)
        check(ready["port"] == self.port,
              f"the HEC receiver did not start on port {self.port}: {ready!r}")

    def down(self):
        self.proc.send_signal(signal.SIGKILL)  # what it indexed is in the journal
        self.proc.wait(10)
        self.proc = None

    def output_toml(self):
        return (f'type = "splunk_hec"\nurl = "http://127.0.0.1:{self.port}"\n'
                f'token = "{HEC_TOKEN}"\nack = true\nack_poll_ms = 100\n'
                f'ack_timeout_seconds = 5\ntimeout_ms = 3000\n')

    def received(self) -> list[dict]:
        if not self.journal.exists():
            return []
        # A last line being written is left out.
        return [json.loads(line)["event"]
                for line in common.complete_lines(self.journal.read_text())]

    def close(self):
        if self.proc:
            self.down()


class SyslogPeer:
    name = "syslog"
    # What differs between the syslog cases: rsyslogd's configuration and how it goes down.
    MAIN_QUEUE = ""
    INPUT = "imtcp"
    INPUT_OPTIONS = ""
    STOP_SIGNAL = signal.SIGTERM

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.port = common.restartable_port()
        self.file = workdir / "received.log"
        (workdir / "work").mkdir(exist_ok=True)
        self.conf = workdir / "rsyslog.conf"
        # One JSON string per message: the MSG (the OCSF alert), JSON-escaped by rsyslog.
        self.conf.write_text(f'''
global(workDirectory="{workdir}/work" maxMessageSize="256k" net.enableDNS="off")
{self.MAIN_QUEUE}
module(load="{self.INPUT}")
template(name="msg_only" type="string" string="\\"%msg:::json%\\"\\n")
ruleset(name="alerts") {{ action(type="omfile" file="{self.file}" template="msg_only") }}
input(type="{self.INPUT}" address="127.0.0.1" port="{self.port}" ruleset="alerts"{self.INPUT_OPTIONS})
''')
        self.proc = None
        self.up()

    def up(self):
        self.proc = common.start_rsyslogd(self.dir, self.conf, [self.port])

    def down(self):
        self.proc.send_signal(self.STOP_SIGNAL)
        self.proc.wait(30)
        self.proc = None

    def output_toml(self):
        return (f'type = "syslog"\nprotocol = "tcp"\nframing = "octet-counting"\n'
                f'address = "127.0.0.1:{self.port}"\nconnect_timeout_ms = 2000\n'
                f'write_timeout_ms = 5000\n')

    def received(self) -> list[dict]:
        if not self.file.exists():
            return []
        return [json.loads(json.loads(line))
                for line in common.complete_lines(self.file.read_text())]

    def close(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
            self.proc = None


class RelpPeer(SyslogPeer):
    """rsyslogd over RELP (imrelp) with a Direct main queue: it writes each message to its file
    before it answers it. "down" = SIGKILL, the crash plain TCP syslog cannot survive whole."""
    name = "syslog_relp"
    MAIN_QUEUE = 'main_queue(queue.type="Direct")'
    INPUT = "imrelp"
    INPUT_OPTIONS = ' maxDataSize="256k"'
    STOP_SIGNAL = signal.SIGKILL

    def output_toml(self):
        return (f'type = "syslog"\nprotocol = "relp"\naddress = "127.0.0.1:{self.port}"\n'
                f'connect_timeout_ms = 2000\nwrite_timeout_ms = 5000\n')


# ---- One case ----

def uids(alerts) -> set[str]:
    return {a["finding_info"]["uid"] for a in alerts}


def run_case(peer_class):
    workdir = Path(tempfile.mkdtemp(prefix=f"{peer_class.name}-", dir=TMP))
    fx = fauxqs.Fauxqs()
    fx.start()
    peer = agent = stream = None
    report = {}
    try:
        fx.create_bucket(BUCKET)
        url = fx.create_queue("notifications", visibility_timeout=10)
        peer = peer_class(workdir)
        agent = Agent(fx, url, workdir, peer.output_toml(), peer.name).start()
        stream = Stream(fx, url, peer.name.replace("_", "")).start()

        # 1. Alerts flow end to end.
        wait_until(lambda: len(peer.received()) >= 20, 60, "the first alerts at the consumer",
                   interval=0.25)

        # 2. The peer goes down. t_gone: it is gone (for syslog, what rsyslogd had read but not
        # stored before t_gone may be lost; see the module docstring).
        t_down = time.monotonic()
        peer.down()
        t_gone = time.monotonic()
        wait_until(lambda: "retrying" in agent.log(), 30, "the agent to notice the outage")

        # 3. kill -9 once alerts of objects sent during the outage are in the disk buffer: ten
        # objects were sent after the peer went down, then the stream pauses until the queue is
        # empty (a message is deleted only once its alerts are on disk).
        wait_until(lambda: stream.count(after=t_gone) >= 10, 60, "objects sent during the outage")
        stream.pause()
        wait_until(lambda: fx.queue_depth(url) == 0, 60,
                   "objects sent during the outage to be buffered")
        agent.kill()
        report["kill_at_s"] = time.monotonic() - t_down
        agent.start()
        wait_until(lambda: "will be delivered first" in agent.log(run=2) or
                   agent.proc.poll() is not None, 30,
                   "the restarted agent to report its buffered alerts")
        check(agent.proc.poll() is None, f"the restarted agent exited:\n{agent.tail()}")
        m = re.search(r"(\d+) alerts buffered by a previous run", agent.log(run=2))
        check(m and int(m.group(1)) > 0, f"no buffered alerts after kill -9:\n{agent.tail()}")
        report["buffered_at_restart"] = int(m.group(1))
        stream.resume()

        # 4. The outage lasts OUTAGE seconds: the fault itself, not a synchronisation.
        remaining = t_down + OUTAGE - time.monotonic()
        check(remaining > 1, f"the outage was used up before the restart "
              f"({report['kill_at_s']:.1f} s)")
        time.sleep(remaining)
        t_up = time.monotonic()
        report["outage_s"] = t_up - t_down
        peer.up()
        backlog = stream.expected(before=t_up)
        report["backlog"] = len(backlog)
        if peer.name == "syslog":  # see the module docstring: only these are certain
            backlog = stream.expected(after=t_gone, before=t_up)
        wait_until(lambda: uids(peer.received()) >= backlog, 120,
                   "the backlog to be delivered after the peer came back")
        report["recovery_s"] = time.monotonic() - t_up

        # 5. Some more of the stream, then the end.
        wait_until(lambda: stream.count(after=t_up) >= 25, 60, "25 more objects")
        stream.stop()
        expected = stream.expected()
        certain = expected if peer.name != "syslog" else stream.expected(after=t_gone)
        wait_until(lambda: uids(peer.received()) >= certain, 120, "every expected alert",
                   interval=0.25)
        wait_until(lambda: fx.queue_depth(url) == 0, 60, "an empty queue", interval=0.25)
        rc = agent.stop()
        check(rc == 0, f"the agent exited {rc} on SIGTERM:\n{agent.tail()}")
        got_alerts = peer.received()

        # The verdicts.
        got = [a["finding_info"]["uid"] for a in got_alerts]
        distinct = set(got)
        unexpected = distinct - expected
        check(not unexpected, f"{len(unexpected)} unexpected alerts, e.g. {sorted(unexpected)[:3]}")
        for a in got_alerts:  # every copy of an event carries that event's finding uid
            ev = a["finding_info"]["related_events"][0]["uid"]
            check(a["finding_info"]["uid"] == finding_uid(RULE, ev) == a["metadata"]["uid"],
                  f"alert for event {ev} carries finding uid {a['finding_info']['uid']}")
        missing = expected - distinct
        log = agent.log()
        if peer.name == "syslog" and missing:
            # Lost unread in rsyslogd's socket buffer when it closed: only ever before the
            # outage, a handful, and the agent must have said so.
            resets = log.count("reset the connection")
            check(resets > 0, f"{len(missing)} alerts lost and the agent reported no reset")
            check(not missing & certain, "alerts of objects sent after rsyslogd went down lost")
            check(len(missing) <= SYSLOG_MAX_LOST, f"{len(missing)} alerts lost (at most "
                  f"{SYSLOG_MAX_LOST} can be in flight)")
            report["lost_with_reset"] = len(missing)
        else:
            check(not missing, f"{len(missing)} alerts missing, e.g. {sorted(missing)[:3]}")
        check(not agent.dead_letters(), f"dead letters: {agent.dead_letters()[:2]}")
        check(fx.queue_depth(url) == 0, "the queue is not empty")
        check(re.search(rf"output {peer.name}: .*retrying", log),
              "the agent never retried: the outage was not seen")
        report["objects"] = len(stream.sent)
        report["alerts"] = len(expected)
        report["received"] = len(got)
        report["duplicates"] = len(got) - len(distinct)
        return report
    finally:
        if stream is not None:
            try:
                stream.stop()
            except Failure:
                pass
        if agent is not None and agent.proc.poll() is None:
            agent.kill()
        if peer is not None:
            peer.close()
        fx.stop(raise_on_error=False)


# ---- Bytes flipped in a live disk buffer ----

def buffer_records(path: Path) -> list[tuple[int, int, int, str]]:
    """(offset, offset of the payload, offset of the length field, finding uid) of each record of
    a disk-buffer segment. Format version 2 (outputs/delivery/segment_format.h): a 16-byte file
    header, records [magic][u32 length][header CRC][payload CRC][payload]; version 1 (before
    issue 9): records [u32 length][CRC][payload]. The payload is an AlertRecord whose first field,
    after a version byte, is the uid as [u32 length][bytes]."""
    data = path.read_bytes()
    v2 = data[:4] == b"\xf5TWQ"
    header, length_at = (16, 4) if v2 else (8, 0)
    out, pos = [], 16 if v2 else 0
    while pos + header <= len(data):
        check(not v2 or data[pos:pos + 4] == b"\xf5TWR", f"no record at offset {pos} of {path}")
        length = struct.unpack_from("<I", data, pos + length_at)[0]
        payload = data[pos + header:pos + header + length]
        n = struct.unpack_from("<I", payload, 1)[0]
        out.append((pos, pos + header, pos + length_at, payload[5:5 + n].decode()))
        pos += header + length
    return out


def run_damage_case():
    workdir = Path(tempfile.mkdtemp(prefix="buffer-damage-", dir=TMP))
    fx = fauxqs.Fauxqs()
    fx.start()
    peer = agent = None
    report = {}
    try:
        fx.create_bucket(BUCKET)
        url = fx.create_queue("notifications", visibility_timeout=10)
        peer = HecPeer(workdir)
        peer.down()  # alerts stay in the buffer
        agent = Agent(fx, url, workdir, peer.output_toml(), peer.name,
                      '[metrics]\nlisten = "127.0.0.1:0"\n').start()
        expected = set()
        for n in range(10):
            data, event_ids = common.log_file(f"damage-{n:05d}")
            key = common.key_for(f"damage{n:05d}")
            fx.put_object(BUCKET, key, data)
            fx.send(url, fauxqs.s3_event_body(BUCKET, key))
            expected |= {finding_uid(RULE, e) for e in event_ids}
        # Every message deleted: its alerts are on disk. The output has tried and failed.
        wait_until(lambda: fx.queue_depth(url) == 0, 60, "the alerts to be buffered")
        wait_until(lambda: "retrying" in agent.log(), 30, "the agent to retry")
        agent.kill()

        buffer = agent.state / "buffers" / peer.name
        segments = sorted(buffer.glob("*.seg"))
        records = [(seg, *r) for seg in segments for r in buffer_records(seg)]
        check(len(records) == len(expected), f"{len(records)} records in the buffer, "
              f"{len(expected)} alerts expected")
        # A byte of the uid in the 6th record's payload; the length field of the 25th.
        damaged = {}
        for index, field in ((5, "payload"), (24, "length")):
            seg, off, payload_at, length_at, uid = records[index]
            data = bytearray(seg.read_bytes())
            data[payload_at + 8 if field == "payload" else length_at + 1] ^= 0x5A
            seg.write_bytes(bytes(data))
            damaged[uid] = (seg.name, off)

        peer.up()
        agent.start()
        survivors = expected - set(damaged)
        wait_until(lambda: uids(peer.received()) >= survivors, 60,
                   "the undamaged buffered alerts to be delivered")
        m = re.search(r"metrics and health checks on (http://[0-9.:]+)/metrics", agent.log(run=2))
        check(m, f"no metrics endpoint in the log:\n{agent.tail()}")
        status, text = common.http_get(m.group(1) + "/metrics")
        corrupt = common.parse_metrics(text).get(
            f'trailwarden_output_buffer_corrupt_records_total{{output="{peer.name}"}}')
        rc = agent.stop()
        check(rc == 0, f"the agent exited {rc} on SIGTERM:\n{agent.tail()}")

        got = [a["finding_info"]["uid"] for a in peer.received()]
        check(set(got) == survivors,
              f"{len(survivors - set(got))} alerts missing beyond the damaged ones, "
              f"{len(set(got) - survivors)} unexpected")
        check(len(got) == len(set(got)), f"{len(got) - len(set(got))} duplicates")
        check(corrupt == 2, f"trailwarden_output_buffer_corrupt_records_total is {corrupt}, not 2")
        log = agent.log(run=2)
        for seg_name, off in damaged.values():
            check(f"{seg_name} at byte offset {off} " in log,
                  f"no ERROR line for the record at {seg_name}:{off}:\n{agent.tail()}")
            check((buffer / "quarantine" / f"{seg_name[:-4]}-{off:012}.bad").exists(),
                  f"the record at {seg_name}:{off} was not quarantined")
        check(not agent.dead_letters(), f"dead letters: {agent.dead_letters()[:2]}")
        report.update(alerts=len(expected), damaged=len(damaged), received=len(got),
                      duplicates=len(got) - len(set(got)), corrupt=corrupt)
        return report
    finally:
        if agent is not None and agent.proc is not None and agent.proc.poll() is None:
            agent.kill()
        if peer is not None:
            peer.close()
        fx.stop(raise_on_error=False)


def describe_damage(r):
    return (f"{r['alerts']} alerts buffered with the receiver down, kill -9, {r['damaged']} "
            f"records damaged in the buffer; {r['received']} received, {r['duplicates']} "
            f"duplicates, {r['corrupt']:.0f} counted corrupt")


def describe(r):
    text = (f"{r['objects']} objects, {r['alerts']} alerts expected, {r['received']} received, "
            f"{r['duplicates']} duplicates; peer down {r['outage_s']:.1f} s, agent killed -9 "
            f"{r['kill_at_s']:.1f} s into it with {r['buffered_at_restart']} alerts buffered; "
            f"{r['backlog']} alerts delivered {r['recovery_s']:.1f} s after the peer came back")
    if "lost_with_reset" in r:
        text += f"; lost unread in rsyslogd's socket buffer (reported): {r['lost_with_reset']}"
    return text


def main():
    global TRAILWARDEN, KAFKA_MOCK, TMP
    if len(sys.argv) != 3:
        return common.cannot_run(__doc__)
    TRAILWARDEN, KAFKA_MOCK = (os.path.abspath(a) for a in sys.argv[1:3])
    for tool in ("kcat", "rsyslogd"):
        if not shutil.which(tool):
            return common.cannot_run(f"{tool} is not installed (scripts/setup.sh installs it)")
    only = os.environ.get("FAULT_TEST", "")
    cases = [(c.name, lambda c=c: run_case(c), describe)
             for c in (KafkaPeer, HecPeer, SyslogPeer, RelpPeer)]
    cases.append(("buffer_damage", run_damage_case, describe_damage))
    cases = [c for c in cases if only in c[0]]
    TMP = tempfile.mkdtemp(prefix="tw-faults-")
    passed = failed = 0
    for name, run, describe_report in cases:
        start = time.monotonic()
        try:
            report = run()
            passed += 1
            print(f"PASS {name} ({time.monotonic() - start:.0f} s): {describe_report(report)}",
                  flush=True)
        except Exception as e:  # noqa: BLE001 - report, then the next case
            failed += 1
            detail = common.failure_detail(e)
            print(f"FAIL {name} ({time.monotonic() - start:.0f} s): {detail}", flush=True)
    if os.environ.get("FAULT_TEST_KEEP"):
        print(f"kept {TMP}")
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    return common.summary(passed, failed)


if __name__ == "__main__":
    sys.exit(main())
