#!/usr/bin/env python3
"""`trailwarden run` against the fauxqs emulator: bad records and large objects.

Usage: python3 tests/integration/test_run_records.py /path/to/trailwarden

- One bad record (a lone surrogate escape, nesting past limits.max_depth with or without a
  \\u escape) never holds its object hostage: the good records' alerts are delivered, the bad
  ones are counted and written to state_dir/bad-records.ndjson, and the message is deleted.
- Memory returns to the steady-state figure after one large object: VmRSS of the agent
  (/proc/<pid>/status) after a ~200 MB object is compared with VmRSS after small objects.

Waiting is on the agent's metrics and the queue (polled every 50 ms, bounded), never a fixed
sleep.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import common
from common import CONFIG_RECORDS, alerts_in, event_id, key_for, log_file

import test_run
from test_run import BUCKET, Agent

fauxqs = test_run.fauxqs
wait_until = functools.partial(common.wait_until, interval=0.05)


def vm_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def built_with_asan(binary: str) -> bool:
    """AddressSanitizer keeps freed memory in its quarantine (256 MB by default) and has its own
    allocator: VmRSS says nothing about the agent's own memory then."""
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return "libasan" in ldd.stdout


def deleted(agent: Agent) -> float:
    # 0 until the daemon's counters are registered (the status server answers from start-up on).
    return agent.metrics().get("trailwarden_sqs_messages_deleted_total", 0)


class RecordsTest(unittest.TestCase):
    def setUp(self):
        self.fx = fauxqs.Fauxqs()
        self.fx.start()
        self.addCleanup(self.fx.stop, False)
        self.tmp = Path(tempfile.mkdtemp(prefix="tw-records-"))
        self.fx.create_bucket(BUCKET)

    def test_bad_records_are_dead_lettered_and_the_good_ones_alert(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        records = copy.deepcopy(CONFIG_RECORDS)
        expected = set()
        for i, r in enumerate(records):
            r["eventID"] = f"good-{i}"
            if common.is_cis49(r):
                expected.add(r["eventID"])
        stop = next(r for r in CONFIG_RECORDS if r["eventName"] == "StopConfigurationRecorder")
        deep = json.loads("[" * 80 + "]" * 80)
        # 0: a \u escape and nesting past max_depth; 1: a lone surrogate escape (not bad: it
        # alerts, with U+FFFD in its place); 2: nesting past max_depth and nothing a rule looks
        # for; 3: an invalid escape.
        bad = []
        for i, members in enumerate(({"userAgent": "A\u00e9", "requestParameters": deep},
                                     {"userAgent": "LONE_SURROGATE"},
                                     {"eventName": "Nothing", "requestParameters": deep},
                                     {"userAgent": "BAD_ESCAPE"})):
            r = copy.deepcopy(stop)
            r.update(members)
            r["eventID"] = f"bad-{i}"
            bad.append(r)
        expected.add("bad-1")
        text = json.dumps({"Records": bad + records})  # ensure_ascii: \u00e9 is an escape
        text = text.replace('"LONE_SURROGATE"', '"\\ud800"').replace('"BAD_ESCAPE"', '"\\q"')
        key = key_for("bad-records")
        self.fx.put_object(BUCKET, key, gzip.compress(text.encode()))
        self.fx.send(url, fauxqs.s3_event_body(BUCKET, key))

        agent = Agent(self.fx, url, self.tmp, "b").start()
        try:
            wait_until(lambda: deleted(agent) >= 1, 60, "the message to be deleted")
            m = agent.metrics()
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        self.assertEqual({event_id(a) for a in alerts_in(agent.alerts)}, expected)
        common.assert_valid_alerts(alerts_in(agent.alerts))  # the run route's fields included
        self.assertEqual(self.fx.queue_depth(url), 0)
        self.assertEqual(m["trailwarden_records_failed_total"], 3)
        self.assertEqual(m["trailwarden_sqs_messages_deleted_total"], 1)
        self.assertEqual(m["trailwarden_sqs_messages_failed_total"], 0)
        dead = [json.loads(l) for l in (agent.dir / "state" / "bad-records.ndjson").read_text().splitlines()]
        self.assertEqual([d["record_index"] for d in dead], [0, 2, 3])
        for d in dead:
            self.assertEqual(d["object"], f"s3://{BUCKET}/{key}")
            self.assertTrue(d["reason"])
            self.assertLessEqual(len(d["excerpt"].encode()), 1024 * 3)
        self.assertIn("max_depth", dead[0]["reason"])
        self.assertIn("max_depth", dead[1]["reason"])
        self.assertIn("invalid escape", dead[2]["reason"])
        self.assertIn('"userAgent": "\\q"', dead[2]["excerpt"])
        self.assertIn("record 3 is bad", agent.log())
        self.assertIn("record 1 holds a lone UTF-16 surrogate escape", agent.log())

    def test_memory_returns_to_steady_state_after_a_large_object(self):
        url = self.fx.create_queue("notifications", visibility_timeout=120)
        agent = Agent(self.fx, url, self.tmp, "mem").start()
        try:
            # Steady state: a few ordinary objects through both workers.
            for i in range(6):
                data, _ = log_file(f"small-{i}")
                self.fx.put_object(BUCKET, key_for(f"small-{i}"), data)
                self.fx.send(url, fauxqs.s3_event_body(BUCKET, key_for(f"small-{i}")))
            wait_until(lambda: deleted(agent) >= 6, 60, "the small objects")
            steady = vm_rss_mb(agent.proc.pid)

            # One large object: ~200 MB of JSON (records no rule looks at, and one match).
            filler = json.dumps({"eventVersion": "1.08", "eventSource": "s3.amazonaws.com",
                                 "eventName": "GetObject", "awsRegion": "us-east-1",
                                 "requestParameters": {"bucketName": "b", "key": "k" * 600},
                                 "userAgent": "ua", "sourceIPAddress": "192.0.2.1"})
            count = 200_000_000 // (len(filler) + 1)
            match, expected = log_file("large")
            body = (b'{"Records":[' + gzip.decompress(match)[len(b'{"Records": ['):-2] + b"," +
                    ",".join([filler] * count).encode() + b"]}")
            self.assertGreater(len(body), 190_000_000)
            self.fx.put_object(BUCKET, key_for("large"), gzip.compress(body, compresslevel=1))
            del body
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, key_for("large")))
            wait_until(lambda: deleted(agent) >= 7, 120, "the large object")
            after = vm_rss_mb(agent.proc.pid)
            m = agent.metrics()
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        self.assertTrue(expected <= {event_id(a) for a in alerts_in(agent.alerts)})
        self.assertEqual(m.get("trailwarden_records_failed_total", 0), 0)
        print(f"VmRSS: steady {steady:.0f} MB, after the 200 MB object {after:.0f} MB",
              file=sys.stderr)
        if built_with_asan(test_run.BINARY):
            self.skipTest("built with AddressSanitizer: VmRSS is the sanitizer's, not the agent's")
        self.assertLess(after, steady + 32,
                        f"memory stayed up after a large object: {steady:.0f} MB -> {after:.0f} MB")


def main():
    if len(sys.argv) < 2:
        print("usage: test_run_records.py /path/to/trailwarden", file=sys.stderr)
        return 2
    test_run.BINARY = os.path.abspath(sys.argv.pop(1))
    return common.run_unittest(sys.argv, verbosity=2)


if __name__ == "__main__":
    sys.exit(main())
