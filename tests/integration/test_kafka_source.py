#!/usr/bin/env python3
"""The Kafka source (agent/sources/kafka) through a kill -9: nothing is lost.

Run as:  python3 tests/integration/test_kafka_source.py /path/to/kafka_source_tool \
             /path/to/kafka_mock_cluster

kafka_mock_cluster runs three mock brokers on 127.0.0.1; the messages are produced with kcat.
kafka_source_tool (tests/integration/kafka_source_tool.cpp) consumes them through the source,
"delivers" each unit by writing it to stdout and only then calls done() (out of order within a
batch), as the engine does once a unit's alerts are durable. Checked:

  - a consumer killed with SIGKILL in mid-stream, then a new member of the same group: every
    message was delivered at least once, the ones the first consumer had not committed again,
    and the group's committed offsets end at each partition's end;
  - the same with two members consuming at once and one of them killed: the survivor takes the
    dead member's partitions over (a rebalance) and nothing is lost.

Every wait is on an event (a line from the tool or the mock cluster, a process's exit), each with
a timeout. Needs kcat. The last line printed is "N passed, N failed".
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import common
from common import Failure, LineReader, check

TOOL = None
MOCK = None
CLUSTER = None
PARTITIONS = 3


class Consumer:
    """kafka_source_tool consume, its delivered lines followed."""

    def __init__(self, topic, group, *args):
        self.proc = subprocess.Popen(
            [TOOL, "consume", CLUSTER.bootstraps, topic, group, "--commit-interval-ms", "100",
             *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)
        self.out.wait_for(lambda l: l == "ready", 30, what="ready")

    def delivered(self):
        return [l.split(" ", 2)[2] for l in list(self.out.lines) if l.startswith("delivered ")]

    def wait_delivered(self, n, timeout=60):
        i = -1
        for k in range(n):
            i = self.out.wait_for(lambda l: l.startswith("delivered "), timeout, start=i + 1,
                                  what=f"delivery #{k + 1}")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.out.join()

    def finish(self, timeout=60):
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("kafka_source_tool did not stop:\n" + self.err.text()[-2000:])
        self.out.join()
        check(rc == 0, f"kafka_source_tool exit {rc}:\n{self.err.text()[-2000:]}")


def produce(topic, values):
    """Produces `values` with keys (k0, k1, ...) so that they spread over the partitions."""
    lines = [f"k{i}|{v}" for i, v in enumerate(values)]
    p = subprocess.run(["kcat", "-P", "-b", CLUSTER.bootstraps, "-t", topic, "-K", "|"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    check(p.returncode == 0, f"kcat -P failed: {p.stderr.decode(errors='replace')}")


def committed_at_end(topic, group):
    p = subprocess.run([TOOL, "committed", CLUSTER.bootstraps, topic, group, str(PARTITIONS)],
                       capture_output=True, timeout=60)
    check(p.returncode == 0, f"committed: {p.stderr.decode(errors='replace')}")
    rows = re.findall(r"partition=(\d+) committed=(-?\d+) end=(\d+)", p.stdout.decode())
    check(len(rows) == PARTITIONS, f"committed: {p.stdout.decode()}")
    check(all(int(e) > 0 for _, _, e in rows), f"a partition got no message:\n{p.stdout.decode()}")
    return all(c == e for _, c, e in rows), p.stdout.decode()


def all_delivered(expected, *consumers):
    got = set()
    for c in consumers:
        got.update(c.delivered())
    return expected <= got


def test_kill9_mid_stream_then_a_new_member():
    topic, group, n = "ct-kill", "g-kill", 600
    CLUSTER.command(f"create {topic} {PARTITIONS} 1")
    values = [f'{{"eventID":"e-{i}","eventName":"DeleteTrail"}}' for i in range(n)]
    produce(topic, values)
    first = Consumer(topic, group, "--delay-ms", "2", "--batch", "8")
    first.wait_delivered(150)
    first.kill9()
    before = first.delivered()
    check(len(before) < n, f"the first consumer finished before the kill ({len(before)})")
    second = Consumer(topic, group)
    common.wait_until(lambda: all_delivered(set(values), first, second), 60,
                      "every message delivered by one of the two consumers")
    second.finish()
    after = second.delivered()
    again = set(before) & set(after)
    print(f"  killed after {len(before)} deliveries; the new member delivered {len(after)}, "
          f"{len(again)} of them again")
    check(set(before) | set(after) == set(values), "a message was lost")
    # What the first consumer committed before it died is not delivered again; the rest is.
    check(len(after) < n, "the new member started from the beginning: nothing was committed")
    at_end, text = committed_at_end(topic, group)
    check(at_end, f"committed offsets do not end at the partitions' ends:\n{text}")


def test_kill9_of_one_of_two_members():
    topic, group, n = "ct-two", "g-two", 600
    CLUSTER.command(f"create {topic} {PARTITIONS} 1")
    values = [f'{{"eventID":"f-{i}","eventName":"StopLogging"}}' for i in range(n)]
    a = Consumer(topic, group, "--delay-ms", "3")
    b = Consumer(topic, group, "--delay-ms", "3")
    produce(topic, values)
    common.wait_until(lambda: len(a.delivered()) >= 50 and len(b.delivered()) >= 50, 60,
                      "both members delivering")
    a.kill9()
    common.wait_until(lambda: all_delivered(set(values), a, b), 90,
                      "every message delivered after the kill (b takes a's partitions)")
    b.finish()
    print(f"  a delivered {len(a.delivered())} before the kill, b {len(b.delivered())}")
    check(set(a.delivered()) | set(b.delivered()) == set(values), "a message was lost")
    at_end, text = committed_at_end(topic, group)
    check(at_end, f"committed offsets do not end at the partitions' ends:\n{text}")


def main():
    global TOOL, MOCK, CLUSTER
    if len(sys.argv) != 3:
        print("usage: test_kafka_source.py KAFKA_SOURCE_TOOL KAFKA_MOCK_CLUSTER")
        return 2
    TOOL, MOCK = sys.argv[1], sys.argv[2]
    if not shutil.which("kcat"):
        return common.cannot_run("kcat is not installed (scripts/setup.sh)")
    tmp = tempfile.mkdtemp(prefix="tw-kafka-source-")

    def setup():
        global CLUSTER
        CLUSTER = common.MockCluster(MOCK)

    def teardown():
        if CLUSTER:
            CLUSTER.stop()

    return common.run_suite(common.module_tests(globals()), setup=setup, teardown=teardown,
                            tmp=tmp)


if __name__ == "__main__":
    sys.exit(main())
