#!/usr/bin/env python3
"""kill -9 at each point of the delivery path does not re-alert (issue 9, section 7).

Run as:  python3 tests/integration/test_crash_points.py TRAILWARDEN_FAILPOINTS TRAILWARDEN

`trailwarden run` reads CloudTrail objects from the fauxqs SQS/S3 emulator and delivers their
alerts to a file through a disk buffer. An alert passes three durable steps: it is appended to
the output's buffer (the SQS message may then be deleted), its finding uid is recorded in the
de-duplication window (so that a redelivered message does not alert again), and, once the
output has it, it is acknowledged (removed) from the buffer. For each point between them, the
agent (TRAILWARDEN_FAILPOINTS: the agent with its failpoints armable, agent/common/failpoint.h)
is made to die there with _exit(137), as kill -9 would, while delivering the first object; it is
started again on the same state directory and output file, without failpoint. The first
object's message was not deleted, so the queue delivers it again after its visibility timeout.

All cases but ack-before-sync give the outputs a 2 s batch timeout, so that the first alerts
are not sent before the kill (an alert sent but not yet acknowledged in the buffer is sent again
after a restart: the output's at-least-once, with the same finding uid, which is not what this
test is about); ack-before-sync sends at once, and its first run must have delivered them. Each
case then asserts: every expected alert is at every output exactly once (no finding uid twice:
the restarted agent did not alert again for the redelivered message, and no alert was lost);
the queue is empty; the second run stopped cleanly; where the first run died handing the first
object's alerts to the outputs, the second run handed them the other objects' alerts only and
suppressed the first object's, whose message came back, as duplicates (except between-outputs,
where they must be sent again).

  after-buffer-append   the alerts are in the buffer; their uids are not yet in the window
  after-dedup-sync      both are durable; the message is not deleted
  ack-before-sync       the de-duplication sync is held back 1.5 s (before-dedup-sync:sleep)
                        and the agent dies right after the output's delivery thread removes a
                        delivered batch from the buffer (after-buffer-ack): were the ack allowed
                        before the sync, the alerts would be in neither place
  two-outputs           after-buffer-append with two file outputs
  between-outputs       two file outputs, the kill between the first one's append and the
                        second's (after-one-buffer-append): the second never had the alerts, so
                        the message must alert again; the first output gets a copy of each

With alarms (issue 13: the alarm state in the state directory), three rules count the same
CIS 4.9 records for an alarm (Sum over one hour, >= 1, >= 12 and >= 13; the three objects hold 12
such records), alerting on transitions only. The agent dies on the first object at:

  before-alarm-commit   the datapoints are counted in memory, not saved: after the restart the
                        redelivered object must be counted (or >= 12 never fires)
  after-alarm-commit    saved with the >= 1 transition, nothing delivered: the redelivered object
                        must not count again (or >= 13 fires) and the transition must be
                        delivered once
  alarm-after-dedup-sync  (after-dedup-sync) everything delivered and remembered, the message not
                        deleted: nothing counted or notified twice
Each asserts exactly one ALARM for >= 1 and >= 12, none for >= 13, and every record alert once.

It also checks that the agent itself (TRAILWARDEN: what is installed and packaged) has no way to
arm a failpoint: it does not even contain the variable's name.

Waiting: the tests poll the process, the alert file and the queue counters (bounded by a
timeout); the only timed wait is the failpoint's own stall, which is the race window being held
open. No fixed port (metrics on port 0). Needs fauxqs (scripts/setup-peers.sh). Prints "N passed, N failed".
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import common
from common import Failure, alerts_in, check, event_id, key_for, log_file, wait_until

fauxqs = common.import_fauxqs("test_crash_points")

FAILPOINTS = None  # trailwarden_failpoints
AGENT = None       # trailwarden
TMP = None
FX = None
BUCKET = "trail-bucket"
OBJECTS = 3
VISIBILITY = 2  # seconds: how soon the first object's message comes back after the crash


class Agent:
    """`trailwarden_failpoints -c CONFIG run`: one object at a time, `outputs` file outputs
    (alerts-0.ndjson, ...) with disk buffers, its own state directory."""

    def __init__(self, workdir: Path, queue_url: str, batch_timeout_ms: int, outputs: int):
        self.dir = workdir
        self.files = [workdir / f"alerts-{i}.ndjson" for i in range(outputs)]
        self.state = workdir / "state"
        self.state.mkdir(parents=True)
        self.config = workdir / "trailwarden.toml"
        self.config.write_text(common.agent_config(
            self.state, FX.endpoint, queue_url, BUCKET, VISIBILITY, workers=1) + """
max_messages = 1
max_in_flight_messages = 1
dedup_window = 1000
[metrics]
listen = "127.0.0.1:0"
""" + "".join(f"""[[outputs]]
type = "file"
path = "{path}"
buffer = "disk"
batch_timeout_ms = {batch_timeout_ms}
""" for path in self.files))
        self.runs = 0
        self.proc = None
        self.log_path = None

    def start(self, failpoint: str | None = None):
        self.runs += 1
        self.log_path = self.dir / f"agent-{self.runs}.log"
        saved = os.environ.pop("TRAILWARDEN_FAILPOINT", None)
        if failpoint:
            os.environ["TRAILWARDEN_FAILPOINT"] = failpoint
        try:
            with open(self.log_path, "ab") as err:
                self.proc = common.start_agent(FAILPOINTS, self.config, err)
        finally:
            os.environ.pop("TRAILWARDEN_FAILPOINT", None)
            if saved is not None:
                os.environ["TRAILWARDEN_FAILPOINT"] = saved
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def run_until_failpoint(self, name: str, failpoint: str, point: str):
        """Starts the agent with `failpoint` armed and checks that it died at `point` (status
        137 and the failpoint's own message), within 60 s."""
        self.start(failpoint)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure(f"{name}: the agent did not reach failpoint {point} within 60 s")
        check(rc == 137 and f"failpoint {point}: exiting" in self.log(),
              f"{name}: the first run ended with status {rc}, not at failpoint {point}:\n"
              f"{self.log()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("the agent did not stop within 30 s of SIGTERM")


def crash_and_restart(name: str, failpoint: str, point: str, *, batch_timeout_ms: int,
                      sent_before: int, killed_in_submit: bool, outputs: int = 1,
                      copies_in_first: bool = False):
    """One case: run until the failpoint kills the agent, restart, check exactly-once at every
    output. `batch_timeout_ms`: the outputs'; a long one keeps the delivery threads from sending
    the first alerts before the kill (an alert sent but not yet acknowledged is sent again after
    a restart: the output's at-least-once, not what this test is about). `sent_before`: how many
    alerts the first run must have delivered (that it died where the case says).
    `killed_in_submit`: the kill came on the worker's thread while it handed the first object's
    alerts to the outputs, so the first run did nothing else and the second run's counts are
    known exactly; otherwise (the kill came on a delivery thread) the worker may have gone on
    to the next object meanwhile, and only the outputs are checked. `copies_in_first`: the kill
    came between the first output's append and the second's: the first object's message must
    alert again (the second output never had its alerts), and the first output then gets a copy
    of each (same finding uid) after the one from its buffer."""
    url = FX.create_queue(f"crash-{name}", visibility_timeout=VISIBILITY)
    expected: set[str] = set()
    first_object: set[str] = set()
    for i in range(OBJECTS):
        tag = f"{name}-{i}"
        data, ids = log_file(tag)
        expected |= ids
        first_object = first_object or ids
        FX.put_object(BUCKET, key_for(tag), data)
        FX.send(url, fauxqs.s3_event_body(BUCKET, key_for(tag)))
    agent = Agent(TMP / name, url, batch_timeout_ms, outputs)

    agent.run_until_failpoint(name, failpoint, point)
    before = [event_id(a) for a in alerts_in(agent.files[0], torn_lines_allowed=True)]
    per_object = len(first_object)
    check(len(before) == sent_before,
          f"{name}: the first run delivered {len(before)} alerts before the kill, expected "
          f"{sent_before}: the case did not happen as designed")

    def every_output_has_all():
        return all({event_id(a) for a in alerts_in(f)} >= expected for f in agent.files)

    agent.start()
    try:
        wait_until(every_output_has_all, 60, f"{name}: every expected alert after the restart",
                   interval=0.05)
        wait_until(lambda: FX.queue_depth(url) == 0, 60,
                   f"{name}: an empty queue (the redelivered message deleted)", interval=0.05)
    finally:
        rc = agent.stop()
    log = agent.log()
    check(rc == 0, f"{name}: the second run exited with {rc}:\n{log}")
    for n, path in enumerate(agent.files):
        alerts = alerts_in(path)
        ids = [event_id(a) for a in alerts]
        counts = collections.Counter(ids)
        check(set(ids) == expected, f"{name}: output {n} lost {sorted(expected - set(ids))}, "
                                    f"unexpected {sorted(set(ids) - expected)}")
        allowed = first_object if copies_in_first and n == 0 else set()
        twice = sorted(i for i, c in counts.items() if c > (2 if i in allowed else 1))
        check(not twice, f"{name}: output {n}: {len(twice)} alerts delivered more than once "
                         f"(first run delivered {len(before)}): {twice}")
        check({i for i, c in counts.items() if c == 2} == allowed,
              f"{name}: output {n}: the copies are {sorted(i for i, c in counts.items() if c > 1)}, "
              f"expected {sorted(allowed)}")
        uids = collections.Counter(a["finding_info"]["uid"] for a in alerts)
        check(len(uids) == len(expected) and sum(uids.values()) == len(ids),
              f"{name}: output {n}: finding uids do not match the events")
    m = re.search(r"(\d+) alerts sent, (\d+) duplicates suppressed", log)
    check(m, f"{name}: no summary line at stop:\n{log}")
    if killed_in_submit:
        # The first object's message came back. Its alerts were buffered before the kill: the
        # second run hands the outputs only the other objects' alerts and suppresses its own;
        # unless they were not in every buffer, and then they alert again.
        again = per_object if copies_in_first else 0
        check(int(m.group(1)) == len(expected) - per_object + again,
              f"{name}: the second run sent {m.group(1)} alerts, expected "
              f"{len(expected) - per_object + again}:\n{log}")
        check(int(m.group(2)) == per_object - again,
              f"{name}: {m.group(2)} duplicates suppressed after the restart, expected "
              f"{per_object - again}:\n{log}")
    print(f"     {name}: first run delivered {len(before)}, second run: {m.group(1)} sent, "
          f"{m.group(2)} suppressed; {len(expected)} alerts expected at each of {outputs} outputs",
          flush=True)


def test_after_buffer_append():
    crash_and_restart("after-buffer-append", "after-buffer-append", "after-buffer-append",
                      batch_timeout_ms=2000, sent_before=0, killed_in_submit=True)


def test_after_dedup_sync():
    crash_and_restart("after-dedup-sync", "after-dedup-sync", "after-dedup-sync",
                      batch_timeout_ms=2000, sent_before=0, killed_in_submit=True)


def test_ack_before_sync():
    crash_and_restart("ack-before-sync", "before-dedup-sync:sleep=1500,after-buffer-ack",
                      "after-buffer-ack", batch_timeout_ms=0, sent_before=4,
                      killed_in_submit=False)


def test_between_two_outputs():
    crash_and_restart("between-outputs", "after-one-buffer-append", "after-one-buffer-append",
                      batch_timeout_ms=2000, sent_before=0, killed_in_submit=True, outputs=2,
                      copies_in_first=True)


def test_after_buffer_append_two_outputs():
    crash_and_restart("two-outputs", "after-buffer-append", "after-buffer-append",
                      batch_timeout_ms=2000, sent_before=0, killed_in_submit=True, outputs=2)


CIS49_PATTERN = ("{ ($.eventSource = config.amazonaws.com) && (($.eventName = "
                 "StopConfigurationRecorder) || ($.eventName = DeleteDeliveryChannel) || "
                 "($.eventName = PutDeliveryChannel) || ($.eventName = PutConfigurationRecorder)) }")
ALARM_THRESHOLDS = {"alarm-first": 1, "alarm-all": 4 * OBJECTS, "alarm-over": 4 * OBJECTS + 1}


def alarm_rules(path: Path):
    """A rule file with one alarm rule per ALARM_THRESHOLDS entry, all on the CIS 4.9 pattern
    (the sample file has four such records, all within 18:00-19:00)."""
    text = '[pack]\nid = "crash-alarms"\ntitle = "Crash test alarms"\nversion = "1"\n'
    for rule_id, threshold in ALARM_THRESHOLDS.items():
        text += f"""
[[rules]]
id = "{rule_id}"
title = "AWS Config changes, {threshold} or more in an hour"
severity = "high"
pattern = '{CIS49_PATTERN}'
alert = "alarm"
[rules.metric]
name = "ConfigChanges"
namespace = "CrashTest"
value = 1
[rules.alarm]
name = "{rule_id}"
statistic = "Sum"
period = 3600
evaluation_periods = 1
threshold = {threshold}
comparison_operator = "GreaterThanOrEqualToThreshold"
"""
    path.write_text(text)


def alarm_of(alert: dict) -> dict | None:
    return alert.get("unmapped", {}).get("trailwarden", {}).get("alarm")


def alarm_crash_and_restart(name: str, failpoint: str, point: str):
    """One alarm case (see the module's docstring): kill at `point` on the first object, restart,
    and check that every count and transition happened exactly once."""
    url = FX.create_queue(f"crash-{name}", visibility_timeout=VISIBILITY)
    expected: set[str] = set()
    for i in range(OBJECTS):
        tag = f"{name}-{i}"
        data, ids = log_file(tag)
        expected |= ids
        FX.put_object(BUCKET, key_for(tag), data)
        FX.send(url, fauxqs.s3_event_body(BUCKET, key_for(tag)))
    check(len(expected) == 4 * OBJECTS, f"{name}: the sample no longer has 4 CIS 4.9 records")
    agent = Agent(TMP / name, url, 2000, 1)
    rules = agent.dir / "alarms.toml"
    alarm_rules(rules)
    with open(agent.config, "a") as f:
        f.write(f'[rules]\nfiles = ["{rules}"]\n')

    agent.run_until_failpoint(name, failpoint, point)
    check((agent.state / "alarms.journal").exists(), f"{name}: no alarm journal in the state dir")

    def alarms_now() -> list[dict]:
        return [a for a in alerts_in(agent.files[0]) if alarm_of(a)]

    def done() -> bool:
        records = {event_id(a) for a in alerts_in(agent.files[0]) if not alarm_of(a)}
        fired = {a["finding_info"]["analytic"]["uid"] for a in alarms_now()}
        return records >= expected and fired >= {"alarm-first", "alarm-all"}

    agent.start()
    try:
        wait_until(done, 60, f"{name}: every record alert and both alarms after the restart",
                   interval=0.05)
        wait_until(lambda: FX.queue_depth(url) == 0, 60,
                   f"{name}: an empty queue (the redelivered message deleted)", interval=0.05)
    finally:
        rc = agent.stop()
    log = agent.log()
    check(rc == 0, f"{name}: the second run exited with {rc}:\n{log}")
    alerts = alerts_in(agent.files[0])
    records = collections.Counter(event_id(a) for a in alerts if not alarm_of(a))
    check(set(records) == expected and max(records.values()) == 1,
          f"{name}: record alerts {dict(records)}, expected each of {sorted(expected)} once")
    fired = collections.Counter((a["finding_info"]["analytic"]["uid"], alarm_of(a)["new_state"])
                                for a in alerts if alarm_of(a))
    check(fired == {("alarm-first", "ALARM"): 1, ("alarm-all", "ALARM"): 1},
          f"{name}: alarm transitions {dict(fired)}; expected one ALARM of alarm-first and of "
          f"alarm-all (a count lost or doubled shows as alarm-all missing or alarm-over firing; "
          f"a transition sent twice as a count of 2):\n{log}")
    print(f"     {name}: {sum(records.values())} record alerts, transitions {dict(fired)}",
          flush=True)


def test_alarm_before_commit():
    alarm_crash_and_restart("alarm-before-commit", "before-alarm-commit", "before-alarm-commit")


def test_alarm_after_commit():
    alarm_crash_and_restart("alarm-after-commit", "after-alarm-commit", "after-alarm-commit")


def test_alarm_after_dedup_sync():
    alarm_crash_and_restart("alarm-after-dedup-sync", "after-dedup-sync", "after-dedup-sync")


def test_the_agent_cannot_arm_failpoints():
    check(b"TRAILWARDEN_FAILPOINT" in Path(FAILPOINTS).read_bytes(),
          f"{FAILPOINTS} does not read TRAILWARDEN_FAILPOINT: the check below proves nothing")
    check(b"TRAILWARDEN_FAILPOINT" not in Path(AGENT).read_bytes(),
          f"{AGENT} can arm failpoints (it contains TRAILWARDEN_FAILPOINT)")


def setup():
    global FX
    FX = fauxqs.Fauxqs()
    FX.start()
    FX.create_bucket(BUCKET)


def teardown():
    if FX is not None:
        FX.stop(False)


def main():
    global FAILPOINTS, AGENT, TMP
    if len(sys.argv) not in (3, 4):
        print("usage: test_crash_points.py TRAILWARDEN_FAILPOINTS TRAILWARDEN [NAME]")
        return 2
    FAILPOINTS, AGENT = (os.path.abspath(p) for p in sys.argv[1:3])
    TMP = Path(tempfile.mkdtemp(prefix="tw-crash-"))
    only = sys.argv[3] if len(sys.argv) == 4 else None
    return common.run_suite(common.module_tests(globals(), only), setup=setup, teardown=teardown,
                            tmp=TMP, keep=True)


if __name__ == "__main__":
    sys.exit(main())
