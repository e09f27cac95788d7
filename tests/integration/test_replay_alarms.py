#!/usr/bin/env python3
"""`trailwarden replay` with a rule file whose rule carries a metric and an alarm (issue 13): the
alarm stage turns the records into alarm transitions, delivered as OCSF Detection Findings.

Usage: python3 tests/integration/test_replay_alarms.py /path/to/trailwarden

- Failed console logins by two users (a dimension): alice's third failure within a minute puts
  her instance in ALARM at once (early firing), the minutes after it without failures put it back
  to OK, bob's single failure is OK; records that match no rule move event time on (the
  watermark). Every transition finding is valid OCSF 1.4.0 (tests/tools/ocsf_validate.py) and
  names the alarm, the states, the datapoints and the contributing records.
- alert = "alarm": no per-record alert; alert = "both": both.
- The same records in one file, or split across three files given in another order (within the
  lateness), give the same transitions with the same uids.

Records are generated in a temporary directory. Standard library only.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import common

BIN = None
EXIT_OK = 0


def run(args, timeout=60):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def login(t, user, n=0, failed=True):
    """A ConsoleLogin record at 2026-12-04T10:<t>Z ("MM:SS")."""
    rec = {
        "eventVersion": "1.08", "eventTime": f"2026-12-04T10:{t}Z",
        "eventID": f"login-{user}-{t.replace(':', '')}-{n}", "eventName": "ConsoleLogin",
        "eventSource": "signin.amazonaws.com", "eventType": "AwsConsoleSignIn",
        "awsRegion": "eu-west-1", "recipientAccountId": "111122223333",
        "sourceIPAddress": "192.0.2.10",
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333",
                         "arn": f"arn:aws:iam::111122223333:user/{user}"},
        "responseElements": {"ConsoleLogin": "Failure" if failed else "Success"},
    }
    if failed:
        rec["errorMessage"] = "Failed authentication"
    return rec


def other(t):
    """A record that matches no rule of the file (event time goes on)."""
    return {"eventVersion": "1.08", "eventTime": f"2026-12-04T10:{t}Z", "eventID": f"other-{t}",
            "eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com",
            "awsRegion": "eu-west-1", "recipientAccountId": "111122223333",
            "sourceIPAddress": "192.0.2.10",
            "userIdentity": {"type": "IAMUser", "userName": "ops", "accountId": "111122223333",
                             "arn": "arn:aws:iam::111122223333:user/ops"}}


RECORDS_EARLY = [login("00:40", "alice"), login("01:10", "bob")]
RECORDS_LATE = [login("00:05", "alice"), login("00:20", "alice"), other("01:30")]
RECORDS_AFTER = [other("03:00"), other("05:30"), other("08:00")]
ALL = sorted(RECORDS_EARLY + RECORDS_LATE + RECORDS_AFTER, key=lambda r: r["eventTime"])


def rule_file(alert):
    return f"""
[pack]
id = "alarm-tests"
title = "Alarm tests"

[[rules]]
id = "console-failures"
title = "Console login failures"
severity = "high"
pattern = '{{ ($.eventName = "ConsoleLogin") && ($.errorMessage = "Failed authentication") }}'
alert = "{alert}"
[rules.metric]
name = "ConsoleLoginFailures"
value = 1
unit = "Count"
dimensions = {{ user = "$.userIdentity.userName" }}
[rules.alarm]
name = "ConsoleLoginFailures"
statistic = "Sum"
period = 60
evaluation_periods = 1
threshold = 3
comparison_operator = "GreaterThanOrEqualToThreshold"
treat_missing_data = "notBreaching"
lateness_seconds = 120
"""


def is_alarm(doc):
    return "alarm" in doc.get("unmapped", {}).get("trailwarden", {})


class ReplayAlarms(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tw-alarms-"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        p = self.tmp / name
        p.write_text(text)
        return p

    def log(self, name, records):
        return self.write(name, json.dumps({"Records": records}))

    def replay(self, alert, files):
        rules = self.write(f"rules-{alert}.toml", rule_file(alert))
        rc, out, err = run(["replay", "--disable", "cis-*", "--rules", rules, *files])
        self.assertEqual(rc, EXIT_OK, err)
        docs = [json.loads(line) for line in out.splitlines() if line.strip()]
        common.assert_valid_alerts(docs)
        return docs, err

    def transitions(self, docs):
        return [(d["unmapped"]["trailwarden"]["alarm"]["dimensions"]["user"],
                 d["unmapped"]["trailwarden"]["alarm"]["old_state"],
                 d["unmapped"]["trailwarden"]["alarm"]["new_state"]) for d in docs if is_alarm(d)]

    def test_transitions_are_valid_findings_of_the_alarm(self):
        docs, err = self.replay("both", [self.log("all.json", ALL)])
        alarms = [d for d in docs if is_alarm(d)]
        self.assertEqual(self.transitions(docs), [
            ("alice", "INSUFFICIENT_DATA", "ALARM"),  # early: the third failure at 10:00:40
            ("bob", "INSUFFICIENT_DATA", "OK"),       # 10:01 final (1 < 3)
            ("alice", "ALARM", "OK"),                 # 10:01 final, no failure: notBreaching
        ], json.dumps(alarms, indent=1)[:3000])
        first = alarms[0]
        self.assertEqual(first["class_uid"], 2004)
        self.assertEqual(first["finding_info"]["analytic"]["uid"], "console-failures")
        self.assertEqual(first["finding_info"]["analytic"]["name"], "ConsoleLoginFailures")
        self.assertEqual(first["finding_info"]["title"], 'ALARM: "ConsoleLoginFailures"')
        self.assertEqual(first["severity"], "High")
        self.assertEqual(first["count"], 3)
        self.assertEqual(first["time_dt"], "2026-12-04T10:00:40Z")
        self.assertEqual(first["start_time_dt"], "2026-12-04T10:00:00Z")
        self.assertEqual(first["end_time_dt"], "2026-12-04T10:01:00Z")
        self.assertEqual({e["uid"] for e in first["finding_info"]["related_events"]},
                         {"login-alice-0005-0", "login-alice-0020-0", "login-alice-0040-0"})
        per_record = {d["metadata"]["uid"] for d in docs if not is_alarm(d)}
        contributors = first["unmapped"]["trailwarden"]["alarm"]["contributors"]
        self.assertTrue({c["finding_uid"] for c in contributors} <= per_record, contributors)
        self.assertEqual(len(per_record), 4)  # alert = "both": every failure too
        self.assertIn("replay: alarms:", err)

    def test_alert_alarm_sends_no_per_record_alert(self):
        docs, _ = self.replay("alarm", [self.log("all.json", ALL)])
        self.assertTrue(docs)
        self.assertTrue(all(is_alarm(d) for d in docs), [d["finding_info"]["title"] for d in docs])
        self.assertEqual(len(docs), 3)

    def test_one_file_or_split_and_reordered_gives_the_same_transitions(self):
        whole, _ = self.replay("alarm", [self.log("all.json", ALL)])
        # The later half of minute 0 first, then its start (within the 120 s lateness).
        split, _ = self.replay("alarm", [self.log("b.json", RECORDS_EARLY),
                                         self.log("a.json", list(reversed(RECORDS_LATE))),
                                         self.log("c.json", RECORDS_AFTER)])
        key = lambda docs: sorted((d["metadata"]["uid"], d["finding_info"]["title"]) for d in docs)
        self.assertEqual(key(split), key(whole))
        # Replayed again: the same uids (a redelivery de-duplicates).
        again, _ = self.replay("alarm", [self.log("all.json", ALL)])
        self.assertEqual(key(again), key(whole))


def main():
    global BIN
    if len(sys.argv) < 2:
        print("usage: test_replay_alarms.py /path/to/trailwarden [unittest args...]",
              file=sys.stderr)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    if not os.access(BIN, os.X_OK):
        return common.cannot_run(f"test_replay_alarms.py: {BIN} is not an executable")
    return common.run_unittest([sys.argv[0]] + sys.argv[2:], verbosity=1)


if __name__ == "__main__":
    sys.exit(main())
