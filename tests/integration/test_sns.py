#!/usr/bin/env python3
"""The SNS output (`type = "sns"`) against the SNS of the fauxqs emulator, with an SQS queue
subscribed to the topic without raw message delivery (the SNS JSON envelope, as e-mail, Lambda
and chat subscribers see it).

Usage: python3 tests/integration/test_sns.py /path/to/trailwarden

- `trailwarden replay` of a CloudTrail file: the queue receives every CIS 4.9 alert once, with
  the configured Subject, the String message attributes, and a Message that is a valid OCSF
  Detection Finding of the right event; the same with PublishBatch off (one Publish each).
- A hostile record (line breaks and non-ASCII in the actor, used in the subject template, and a
  300 KB request parameter): the alert arrives, the subject is SNS-safe, the message trimmed
  and marked, not dropped.
- A FIFO topic: MessageGroupId from the configured field, MessageDeduplicationId the finding
  uid, so replaying the same file twice delivers each alert once.
- `run` with a topic that does not exist: the output fails naming it; after the topic is
  created the next start delivers every alert from the disk buffer, once.
- An alarm (a rule file's [rules.alarm], alert = "alarm"): the transition arrives as CloudWatch's
  alarm notification (Subject `ALARM: "name" in EU (Ireland)`, Message CloudWatch's JSON).
- A topic that does not exist: replay fails with an error naming the topic and SNS's NotFound;
  nothing reaches the queue.

The emulator runs on 127.0.0.1 on a free port; every wait is on the queue (long polls), never a
fixed sleep.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import common
from common import CONFIG_RECORDS, check, is_cis49, log_file

fauxqs = common.import_fauxqs("test_sns.py")
BINARY = common.tool_argument("usage: test_sns.py /path/to/trailwarden")
TMP = Path(tempfile.mkdtemp(prefix="tw-sns-"))
FX = None
SNS = None


def setup():
    global FX, SNS
    FX = fauxqs.Fauxqs()
    FX.start()
    SNS = FX.session.client("sns", endpoint_url=FX.endpoint, region_name=FX.region)


def teardown():
    if FX is not None:
        FX.stop(raise_on_error=False)


def topic_with_queue(name: str) -> tuple[str, str]:
    """A topic and a queue subscribed to it (no raw delivery); their ARN and queue URL."""
    arn = SNS.create_topic(Name=name)["TopicArn"]
    url = FX.create_queue(name + "-q")
    SNS.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=FX.queue_arn(url))
    return arn, url


def replay(tag: str, topic_arn: str, files: list[Path], extra: str = "") -> subprocess.CompletedProcess:
    state = TMP / f"state-{tag}"
    config = TMP / f"{tag}.toml"
    config.write_text(f"""
[general]
state_dir = "{state}"
[aws]
region = "us-east-1"
endpoint_url = "{FX.endpoint}"
[[outputs]]
type = "sns"
topic_arn = "{topic_arn}"
{extra}
""")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=fauxqs.DUMMY_ACCESS_KEY,
               AWS_SECRET_ACCESS_KEY=fauxqs.DUMMY_SECRET_KEY, AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    return subprocess.run([BINARY, "-c", str(config), "replay", "--quiet",
                           "--give-up-after", "10", *map(str, files)],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


def write_log(tag: str, records=None) -> tuple[Path, set[str]]:
    if records is None:
        data, expected = log_file(tag)
    else:
        data = gzip.compress(json.dumps({"Records": records}).encode())
        expected = {r["eventID"] for r in records if is_cis49(r)}
    path = TMP / f"{tag}.json.gz"
    path.write_bytes(data)
    return path, expected


def check_no_dead_letters(tag: str):
    dead = list((TMP / f"state-{tag}").glob("dead-letter/*"))
    check(not dead, f"alerts dead-lettered: {[p.read_text()[:500] for p in dead]}")


def notifications(url: str, expect: int) -> list[dict]:
    """The SNS envelopes of `expect` messages (long polls until they are there), then checks that
    no more arrive."""
    got = FX.receive_all(url, expect=expect, timeout=20)
    check(len(got) == expect, f"{len(got)} messages on the queue, want {expect}")
    more = FX.receive_all(url)
    check(not more, f"{len(more)} messages more than the {expect} alerts")
    return [json.loads(m["Body"]) for m in got]


def check_delivery(tag: str, extra: str = ""):
    arn, url = topic_with_queue(f"alerts-{tag}")
    path, expected = write_log(tag)
    check(len(expected) == 4, f"the sample has {len(expected)} CIS 4.9 records")
    r = replay(tag, arn, [path], extra)
    check(r.returncode == 0, f"replay failed ({r.returncode}): {r.stderr[-2000:]}")
    check_no_dead_letters(tag)
    envelopes = notifications(url, len(expected))
    messages = []
    for e in envelopes:
        check(e["Type"] == "Notification", f"not a notification: {e}")
        check(e["TopicArn"] == arn, f"topic {e['TopicArn']}")
        check(e["Subject"] == "CIS 4.9 AWS Config configuration changes [High]",
              f"subject {e['Subject']!r}")
        attrs = {k: v["Value"] for k, v in e["MessageAttributes"].items()}
        types = {v["Type"] for v in e["MessageAttributes"].values()}
        check(types == {"String"}, f"attribute types {types}")
        check(attrs["rule_id"] == "cis-4.9", f"attributes {attrs}")
        check(attrs["account"] and attrs["region"] and attrs["severity"] and attrs["event_name"]
              in common.CIS49, f"attributes {attrs}")
        doc = json.loads(e["Message"])
        check(attrs["severity"] == doc["severity"], f"{attrs['severity']} != {doc['severity']}")
        messages.append(doc)
    common.assert_valid_alerts(messages)
    got = {common.event_id(d) for d in messages}
    check(got == expected, f"event ids {sorted(got)} != {sorted(expected)}")


def test_every_alert_published_batched():
    check_delivery("batched", 'subject = "CIS 4.9 {rule_title} [{severity}]"\n'
                   'message_attributes = ["rule_id", "severity", "account", "region", '
                   '"event_name"]')


def test_every_alert_published_one_by_one():
    check_delivery("single", 'subject = "CIS 4.9 {rule_title} [{severity}]"\nbatch = false\n'
                   'message_attributes = ["rule_id", "severity", "account", "region", '
                   '"event_name"]')


def test_fifo_topic_deduplicates_a_replayed_file_by_finding_uid():
    arn = SNS.create_topic(Name="alerts.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = FX.create_queue("alerts-q.fifo", attributes={"FifoQueue": "true"})
    SNS.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=FX.queue_arn(url))
    path, expected = write_log("fifo")
    for attempt in range(2):  # the second replay publishes the same findings again
        r = replay(f"fifo-{attempt}", arn, [path], 'message_group_id = "account"')
        check(r.returncode == 0, f"replay {attempt} failed ({r.returncode}): {r.stderr[-2000:]}")
        check_no_dead_letters(f"fifo-{attempt}")
    # A FIFO queue hands out one message of a group at a time: take and delete each in turn.
    envelopes = []
    for _ in range(len(expected)):
        got = FX.receive_all(url, expect=1, timeout=20)
        check(len(got) == 1, f"{len(envelopes)} messages on the queue, want {len(expected)}")
        envelopes.append(json.loads(got[0]["Body"]))
        FX.delete(url, got[0])
    more = FX.receive_all(url)
    check(not more, f"{len(more)} messages more than the {len(expected)} alerts")
    for e in envelopes:
        attrs = {k: v["Value"] for k, v in e["MessageAttributes"].items()}
        check(attrs["account"] == json.loads(e["Message"])["cloud"]["account"]["uid"],
              f"attributes {attrs}")
    got = {common.event_id(json.loads(e["Message"])) for e in envelopes}
    check(got == expected, f"event ids {sorted(got)} != {sorted(expected)}")


def test_hostile_and_oversized_alert_is_trimmed_not_dropped():
    arn, url = topic_with_queue("alerts-hostile")
    records = copy.deepcopy([r for r in CONFIG_RECORDS if is_cis49(r)][:1])
    rec = records[0]
    rec["eventID"] = "hostile-0"
    rec["userIdentity"]["arn"] = "arn:aws:iam::111122223333:user/ev\u00efl\r\nSubject: x\u2603"
    rec["requestParameters"] = {"blob": "x" * 300_000}
    path, expected = write_log("hostile", records)
    r = replay("hostile", arn, [path], 'subject = "{actor}"')
    check(r.returncode == 0, f"replay failed ({r.returncode}): {r.stderr[-2000:]}")
    [e] = notifications(url, 1)
    subject = e["Subject"]
    check(all(32 <= ord(c) < 127 for c in subject) and len(subject) <= 100,
          f"subject not SNS-safe: {subject!r}")
    check(subject.startswith("arn:aws:iam::111122223333:user/ev?l  Subject: x?"),
          f"subject {subject!r}")
    check(len(e["Message"].encode()) <= 256 * 1024, f"message of {len(e['Message'])} bytes")
    doc = json.loads(e["Message"])
    tw = doc.get("unmapped", {}).get("trailwarden") or doc.get("trailwarden") or {}
    check("sns_trimmed" in tw, f"no sns_trimmed marker in {str(doc)[:400]}")
    check(tw["sns_trimmed"]["original_bytes"] > 256 * 1024, f"marker {tw['sns_trimmed']}")
    check("trimmed" in r.stderr and "256 KiB" in r.stderr, f"no warning: {r.stderr[-1000:]}")
    if "finding_info" in doc:
        check(common.event_id(doc) == "hostile-0", "wrong event")
    else:
        check(tw["event_id"] == "hostile-0", "wrong event")


def test_missing_topic_is_a_clear_error_and_nothing_is_sent():
    _, url = topic_with_queue("alerts-present")
    missing = "arn:aws:sns:us-east-1:000000000000:no-such-topic"
    path, _ = write_log("missing")
    r = replay("missing", missing, [path])
    check(r.returncode != 0, "replay succeeded with a missing topic")
    check(missing in r.stderr and "NotFound" in r.stderr,
          f"error does not name the topic and NotFound: {r.stderr[-2000:]}")
    check(not FX.receive_all(url), "messages arrived although the topic is missing")


ALARM_RULES = """
[pack]
id = "alarm-sns"
title = "Alarm to SNS"

[[rules]]
id = "console-failures"
title = "Console login failures"
severity = "high"
pattern = '{ ($.eventName = "ConsoleLogin") && ($.errorMessage = "Failed authentication") }'
alert = "alarm"
[rules.metric]
name = "ConsoleLoginFailures"
value = 1
unit = "Count"
dimensions = { user = "$.userIdentity.userName" }
[rules.alarm]
name = "ConsoleLoginFailures"
statistic = "Sum"
period = 60
evaluation_periods = 1
threshold = 3
comparison_operator = "GreaterThanOrEqualToThreshold"
"""


def test_alarm_transition_is_published_as_a_cloudwatch_alarm_notification():
    arn, url = topic_with_queue("alarms")
    records = [{"eventVersion": "1.08", "eventTime": f"2026-12-04T10:00:{s:02}Z",
                "eventID": f"login-{s}", "eventName": "ConsoleLogin",
                "eventSource": "signin.amazonaws.com", "awsRegion": "eu-west-1",
                "recipientAccountId": "111122223333", "errorMessage": "Failed authentication",
                "userIdentity": {"type": "IAMUser", "userName": "alice",
                                 "accountId": "111122223333"}} for s in (5, 20, 40)]
    path = TMP / "alarm.json"
    path.write_text(json.dumps({"Records": records}))
    rules = TMP / "alarm-rules.toml"
    rules.write_text(ALARM_RULES)
    r = replay("alarm", arn, ["--disable", "cis-*", "--rules", rules, path])
    check(r.returncode == 0, f"replay failed ({r.returncode}): {r.stderr[-2000:]}")
    check_no_dead_letters("alarm")
    [e] = notifications(url, 1)  # the third failure: ALARM at once; no per-record alert
    check(e["Subject"] == 'ALARM: "ConsoleLoginFailures" in EU (Ireland)', f"subject {e['Subject']!r}")
    attrs = {k: v["Value"] for k, v in e.get("MessageAttributes", {}).items()}
    check(attrs.get("AlarmName") == "ConsoleLoginFailures" and attrs.get("NewStateValue") == "ALARM",
          f"attributes {attrs}")
    m = json.loads(e["Message"])
    want = {"AlarmName": "ConsoleLoginFailures", "AWSAccountId": "111122223333",
            "NewStateValue": "ALARM", "OldStateValue": "INSUFFICIENT_DATA",
            "StateChangeTime": "2026-12-04T10:00:40.000+0000", "Region": "EU (Ireland)",
            "AlarmArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:ConsoleLoginFailures"}
    for k, v in want.items():
        check(m.get(k) == v, f"{k}: {m.get(k)!r}, want {v!r} in {m}")
    t = m["Trigger"]
    check(t["MetricName"] == "ConsoleLoginFailures" and t["Namespace"] == "CloudTrailMetrics"
          and t["Statistic"] == "SUM" and t["Period"] == 60 and t["Threshold"] == 1.0 * 3
          and t["Dimensions"] == [{"value": "alice", "name": "user"}], f"trigger {t}")
    check(m["NewStateReason"].startswith("Threshold Crossed"), m["NewStateReason"])


def test_cis_49_benchmark_alarm_to_sns_alarm_transitions_only():
    """The benchmark's chain for CIS 4.9 from the built-in pack: its alarm switched on ([alarms]
    enable; the pack says alert = "both"), an SNS output with alerts = ["alarm"] gets the one
    transition as CloudWatch's notification and no per-record alert, while a file output with the
    default routing gets the four record alerts and the transition."""
    arn, url = topic_with_queue("cis-49-alarm")
    path, expected = write_log("cis49")
    check(len(expected) == 4, f"the sample has {len(expected)} CIS 4.9 records")
    everything = TMP / "cis49-all.ndjson"
    r = replay("cis49", arn, [path], f"""alerts = ["alarm"]
[[outputs]]
type = "file"
path = "{everything}"
[alarms]
enable = ["cis-4.9"]
""")
    check(r.returncode == 0, f"replay failed ({r.returncode}): {r.stderr[-2000:]}")
    check_no_dead_letters("cis49")
    [e] = notifications(url, 1)
    check(e["Subject"].startswith('ALARM: "aws_config_changes_alarm" in '), f"subject {e['Subject']!r}")
    m = json.loads(e["Message"])
    check(m["NewStateValue"] == "ALARM" and m["Trigger"]["MetricName"] == "aws_config_changes_metric"
          and m["Trigger"]["Namespace"] == "CISBenchmark" and m["Trigger"]["Period"] == 300
          and m["Trigger"]["Threshold"] == 1.0
          and m["Trigger"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold",
          f"message {m}")
    lines = [json.loads(l) for l in everything.read_text().splitlines()]
    codes = sorted(l["metadata"].get("event_code", "") for l in lines)
    check(len(lines) == 5 and codes.count("AlarmStateChange") == 1,
          f"file output: {len(lines)} alerts, event codes {codes}")


def test_run_with_missing_topic_keeps_alerts_buffered():
    """`run` with a disk buffer: the topic is missing, the output fails with the error; once the
    topic exists the next start delivers the buffered alerts, each once."""
    bucket = "trail-bucket"
    FX.create_bucket(bucket)
    trail_queue = FX.create_queue("trail-q")
    data, expected = log_file("run")
    key = common.key_for("run")
    FX.put_object(bucket, key, data)
    FX.send(trail_queue, fauxqs.s3_event_body(bucket, key))
    name = "late-topic"
    arn = f"arn:aws:sns:us-east-1:{fauxqs.FAUXQS_ACCOUNT_ID}:{name}"
    work = TMP / "run"
    work.mkdir()
    config = work / "trailwarden.toml"
    config.write_text(common.agent_config(work / "state", FX.endpoint, trail_queue, bucket, 30) + f"""
[[outputs]]
type = "sns"
name = "pager"
topic_arn = "{arn}"
retry_initial_ms = 50
""")
    log = work / "stderr.log"
    with open(log, "ab") as err:
        agent = common.start_agent(BINARY, config, err)
        try:
            # The output fails for good (the agent reports it on /healthz and stops at its next
            # alert); the alerts are in its disk buffer and the SQS message is deleted.
            common.wait_until(lambda: "NotFound" in log.read_text(errors="replace"), 60,
                              "the output's error")
            common.wait_until(lambda: FX.queue_depth(trail_queue) == 0, 60,
                              "the trail notification deleted")
        finally:
            common.stop_process(agent)
    text = log.read_text(errors="replace")
    check(f"SNS PublishBatch to {arn} failed: HTTP 404 NotFound" in text,
          f"no clear error: {text[-2000:]}")
    check(not list((work / "state").glob("dead-letter/*")), "alerts dead-lettered")

    arn2, url = topic_with_queue(name)
    check(arn2 == arn, f"{arn2} != {arn}")
    with open(log, "ab") as err:
        agent = common.start_agent(BINARY, config, err)
        try:
            envelopes = notifications(url, len(expected))
        finally:
            common.stop_process(agent)
    got = {common.event_id(json.loads(e["Message"])) for e in envelopes}
    check(got == expected, f"event ids {sorted(got)} != {sorted(expected)}")


if __name__ == "__main__":
    sys.exit(common.run_suite(common.module_tests(globals()), setup=setup,
                              teardown=teardown, tmp=TMP, keep=True))
