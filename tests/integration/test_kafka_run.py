"""`trailwarden run` over a Kafka topic ([source.kafka]), end to end, at least once.

Run as:  python3 tests/integration/test_kafka_run.py /path/to/trailwarden \
             /path/to/kafka_mock_cluster /path/to/kafka_source_tool

kafka_mock_cluster runs three mock brokers on 127.0.0.1 (ports chosen by librdkafka); messages
are produced with kcat; kafka_source_tool reads the group's committed offsets back. The agent
runs as a user runs it: `trailwarden -c FILE run` with [source.kafka] and a file output.
Checked:

  - nothing is committed while the output cannot take the alerts (a memory buffer in front of
    a file that cannot be written: an alert is safe only once written), so offsets committed
    before delivery would fail this test;
  - killed with SIGKILL in mid-stream and started again: every record the default CIS rules
    match is alerted at least once (by eventID), nothing else is, the oversized message and
    the messages that are not JSON at all are in bad-records.ndjson, the group's committed offsets reach the end of every partition, and
    every alert is valid OCSF saying route "kafka", unverified.

The messages are CloudTrail records one by one, EventBridge events carrying one, and
{"Records":[...]} documents. Every wait is on an event (a metric, a file's content, a process's
exit), each with a timeout. Needs kcat. The last line printed is "N passed, N failed".
"""

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import common
from common import Failure, check

AGENT = None
MOCK = None
TOOL = None
CLUSTER = None
TMP = None
PARTITIONS = 3
MAX_MESSAGE_BYTES = 20000


def records(tag: str) -> tuple[list[dict], set[str]]:
    """The sample CloudTrail records with eventIDs unique to `tag`, and those CIS 4.9 matches."""
    out = copy.deepcopy(common.CONFIG_RECORDS)
    expected = set()
    for i, r in enumerate(out):
        r["eventID"] = f"{tag}-{i}"
        if common.is_cis49(r):
            expected.add(r["eventID"])
    return out, expected


def eventbridge(record: dict) -> dict:
    return {"version": "0", "id": f"eb-{record['eventID']}",
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.config",
            "account": "111122223333", "time": record.get("eventTime", "2024-11-18T00:00:00Z"),
            "region": "us-east-1", "resources": [], "detail": record}


def messages(tag: str) -> tuple[list[str], set[str], set[str]]:
    """Messages of every shape for `tag`: (values, eventIDs that must alert, all eventIDs)."""
    single, m1 = records(f"{tag}s")
    wrapped, m2 = records(f"{tag}e")
    batch, m3 = records(f"{tag}b")
    values = [json.dumps(r) for r in single]
    values += [json.dumps(eventbridge(r)) for r in wrapped]
    values.append(json.dumps({"Records": batch}))
    every = {r["eventID"] for r in single + wrapped + batch}
    return values, m1 | m2 | m3, every


def produce(topic: str, values: list[str], partition: int | None = None):
    for v in values:
        check("\n" not in v and "|" not in v, "a message must be one line without '|'")
    lines = [f"k{i}|{v}" for i, v in enumerate(values)]
    where = ["-p", str(partition)] if partition is not None else []
    p = subprocess.run(["kcat", "-P", "-b", CLUSTER.bootstraps, "-t", topic, "-K", "|", *where],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    check(p.returncode == 0, f"kcat -P failed: {p.stderr.decode(errors='replace')}")


def committed(topic: str, group: str) -> list[tuple[int, int]]:
    """(committed, end) per partition."""
    p = subprocess.run([TOOL, "committed", CLUSTER.bootstraps, topic, group, str(PARTITIONS)],
                       capture_output=True, timeout=60)
    check(p.returncode == 0, f"committed: {p.stderr.decode(errors='replace')}")
    rows = re.findall(r"partition=(\d+) committed=(-?\d+) end=(\d+)", p.stdout.decode())
    check(len(rows) == PARTITIONS, f"committed: {p.stdout.decode()}")
    return [(int(c), int(e)) for _, c, e in rows]


class Agent:
    """`trailwarden -c config run`, its stderr in a file, its metrics on a free port."""

    def __init__(self, directory: Path, topic: str, group: str, output: Path, memory: bool,
                 aws: bool = True):
        self.port = common.free_port()
        self.state = directory / "state"
        self.config = directory / "trailwarden.toml"
        buffer = 'buffer = "memory"' if memory else ""
        # Without [aws] (and no AWS_* variable, below): a Kafka source needs nothing of AWS.
        region = '[aws]\nregion = "us-east-1"' if aws else ""
        self.config.write_text(f"""
[general]
log_level = "info"
state_dir = "{self.state}"
{region}
[metrics]
listen = "127.0.0.1:{self.port}"
[source.kafka]
brokers = "{CLUSTER.bootstraps}"
topics = ["{topic}"]
group_id = "{group}"
commit_interval_ms = 100
max_message_bytes = {MAX_MESSAGE_BYTES}
shutdown_timeout_seconds = 5
[source.kafka.properties]
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 200
[[outputs]]
type = "file"
path = "{output}"
{buffer}
""")
        self.stderr_path = directory / f"agent-{self.port}.log"
        self.stderr = open(self.stderr_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        self.proc = subprocess.Popen([AGENT, "-c", str(self.config), "run"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def metric(self, name: str) -> float:
        if self.proc.poll() is not None:
            raise Failure(f"the agent exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
        try:
            code, body = common.http_get(f"http://127.0.0.1:{self.port}/metrics", timeout=5)
        except OSError:
            return -1
        if code != 200:
            return -1
        samples = common.parse_metrics(body)
        found = [v for k, v in samples.items() if k == name or k.startswith(name + "{")]
        return sum(found) if found else -1

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.stderr.close()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure(f"the agent did not stop on SIGTERM:\n{self.log()[-3000:]}")
        self.stderr.close()
        return rc


def alerted(path: Path) -> list[dict]:
    return common.alerts_in(path, torn_lines_allowed=True)


def test_nothing_committed_while_the_output_cannot_take_the_alerts():
    topic, group = "ct-blocked", "g-blocked"
    CLUSTER.command(f"create {topic} {PARTITIONS} 1")
    values, expected, _ = messages("blk")
    # Each partition starts with a message without a matching record: done at once, committed.
    quiet = [v for v in values if json.loads(v).get("eventID", "") not in expected | {""}]
    check(len(quiet) >= PARTITIONS, "not enough non-matching records")
    for p in range(PARTITIONS):
        produce(topic, [quiet[p]], partition=p)
    produce(topic, values)
    values = quiet[:PARTITIONS] + values
    d = Path(tempfile.mkdtemp(dir=TMP))
    # /dev/full opens, and every write to it fails (ENOSPC).
    agent = Agent(d, topic, group, Path("/dev/full"), memory=True)
    try:
        # Every message consumed and matched: the alerts exist, but none can be written.
        common.wait_until(
            lambda: agent.metric("trailwarden_kafka_source_messages_received_total") >= len(values),
            60, "every message handed to the engine")
        common.wait_until(lambda: agent.metric("trailwarden_output_retries_total") >= 1, 60,
                          "the file output failing (retries)")
        # Commits go out every 100 ms: wait for one of what is done (messages without a
        # matching record), so that a commit of undelivered offsets would have happened too.
        common.wait_until(lambda: agent.metric("trailwarden_kafka_source_commits_total") >= 1,
                          60, "a commit of the messages without alerts")
        done = agent.metric("trailwarden_kafka_source_messages_done_total")
        rows = committed(topic, group)
    finally:
        agent.kill9()
    print(f"  {len(values)} messages consumed, {done:.0f} done, committed {rows}")
    check(done < len(values), "messages whose alerts could not be written were counted done")
    # Messages without a matching record are done at once; a partition is committed only up
    # to its first message whose alerts are not written.
    blocked = set()
    for i, v in enumerate(values):
        doc = json.loads(v)
        recs = doc.get("Records") or [doc.get("detail", doc)]
        if any(r["eventID"] in expected for r in recs):
            blocked.add(i)
    check(blocked, "the test produced no matching message")
    for c, e in rows:
        check(c < e, f"a partition was committed to its end before delivery: {rows}")
    check(any(c >= 1 for c, _ in rows), f"nothing was committed at all: {rows}")


def test_kill9_mid_stream_then_again_at_least_once():
    topic, group = "ct-run", "g-run"
    CLUSTER.command(f"create {topic} {PARTITIONS} 1")
    first_values, first_expected, first_all = messages("one")
    second_values, second_expected, second_all = messages("two")
    oversized = json.dumps({"eventID": "huge-1", "eventSource": "config.amazonaws.com",
                            "eventName": "StopConfigurationRecorder",
                            "padding": "x" * (MAX_MESSAGE_BYTES + 1000)})
    # Hostile but decodable: control characters, a number where a string belongs, a huge key.
    hostile = json.dumps({"Records": [{"eventID": "bad-1\u0000\u001b[31m", "eventName": 7,
                                       "eventSource": ["config.amazonaws.com"],
                                       "k" * 5000: "v"}]})
    # Not decodable at all: the same bytes fail on every consumption, so they must be recorded
    # and committed past, not hold their partition's commit point for ever.
    undecodable = ["this is not JSON {", '{"Records":[{"eventName":"StopConfigurationRecorder"']
    produce(topic, first_values + [oversized, hostile] + undecodable)
    d = Path(tempfile.mkdtemp(dir=TMP))
    output = d / "alerts.ndjson"
    agent = Agent(d, topic, group, output, memory=False)
    try:
        common.wait_until(lambda: len(alerted(output)) >= 3, 60, "the first alerts")
        produce(topic, second_values)
    finally:
        agent.kill9()
    before = {common.event_id(a) for a in alerted(output)}
    again = Agent(d, topic, group, output, memory=False, aws=False)
    expected = first_expected | second_expected
    try:
        common.wait_until(lambda: expected <= {common.event_id(a) for a in alerted(output)}, 90,
                          "every matching record alerted")
        # The group's offsets reach the end once everything consumed again is done and
        # committed.
        common.wait_until(lambda: all(c == e for c, e in committed(topic, group)), 60,
                          "the committed offsets at the end of every partition")
    except Failure:
        again.kill9()
        raise Failure(f"{sys.exc_info()[1]}\n{again.log()[-3000:]}")
    total = len(first_values) + len(second_values) + 2 + len(undecodable)
    rc = again.stop()
    check(rc == 0, f"the agent exited {rc} on SIGTERM:\n{again.log()[-3000:]}")
    check("the Kafka source runs without AWS clients" in again.log(),
          "the second run (no AWS region, no AWS variables) did not run without AWS")
    alerts = alerted(output)
    ids = [common.event_id(a) for a in alerts]
    print(f"  {total} messages; {len(before)} alerted before the kill, {len(ids)} alerts in all "
          f"({len(ids) - len(set(ids))} duplicates)")
    check(set(ids) == expected,
          f"alerts for records that do not match: {sorted(set(ids) - expected)[:5]}; "
          f"missing: {sorted(expected - set(ids))[:5]}")
    check(not (set(ids) & ((first_all | second_all) - expected)), "a non-matching record alerted")
    common.assert_valid_alerts(alerts)
    for a in alerts:
        t = a["unmapped"]["trailwarden"]
        check(t["route"] == "kafka" and t["verified"] is False and t["kafka_topic"] == topic,
              f"the alert does not say it came from Kafka, unverified: {t}")
        check(a["metadata"]["log_name"].startswith(f"kafka://{topic}/"), a["metadata"])
        check(a["message"].endswith("[unverified: Kafka message, not read from S3]"), a["message"])
    bad = (d / "state" / "bad-records.ndjson")
    check(bad.exists(), "no bad-records.ndjson")
    text = bad.read_text()
    check("over source.kafka.max_message_bytes" in text and f"kafka://{topic}/" in text,
          f"the oversized message is not recorded:\n{text[:2000]}")
    check("huge-1" not in ids, "the oversized message was matched")
    check(text.count("cannot be read as CloudTrail") >= len(undecodable)
          and "this is not JSON {" in text,
          f"the undecodable messages are not recorded:\n{text[:2000]}")


def main():
    global AGENT, MOCK, TOOL, TMP
    if len(sys.argv) != 4:
        print("usage: test_kafka_run.py TRAILWARDEN KAFKA_MOCK_CLUSTER KAFKA_SOURCE_TOOL")
        return 2
    AGENT, MOCK, TOOL = sys.argv[1:4]
    if not shutil.which("kcat"):
        return common.cannot_run("kcat is not installed (scripts/setup.sh)")
    TMP = tempfile.mkdtemp(prefix="tw-kafka-run-")

    def setup():
        global CLUSTER
        CLUSTER = common.MockCluster(MOCK)

    def teardown():
        if CLUSTER:
            CLUSTER.stop()

    return common.run_suite(common.module_tests(globals()), setup=setup, teardown=teardown,
                            tmp=TMP, keep=bool(os.environ.get("TW_KEEP_TMP")))


if __name__ == "__main__":
    sys.exit(main())
