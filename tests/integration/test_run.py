#!/usr/bin/env python3
"""End-to-end tests of `trailwarden run` against the fauxqs SQS/S3 emulator on 127.0.0.1.

Usage: python3 tests/integration/test_run.py /path/to/trailwarden

Every notification shape trailwarden understands is sent for its own CloudTrail object (each
object's events carry distinct eventIDs, so each alert is traceable to its route). The tests
then assert what the issue asks: every expected alert arrives exactly once; the queue ends
empty except for the unknown-shape message; a forged-bucket notification is never fetched; the
inline EventBridge route is refused unless turned on, refuses forged sources and accounts when
on, and a forgery reusing a real eventID never hides the record read from S3; an
agent killed with SIGKILL mid-batch loses nothing after a restart; three agents on one queue
deliver every alert, none twice.

Waiting: the emulator and the agent give no event to wait on for "the agent wrote its alerts",
so the tests poll the alert files and queue counters (every 50 ms, bounded by a timeout) —
they never sleep for a fixed time.
"""

from __future__ import annotations

import copy
import functools
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import common
from common import CONFIG_RECORDS, alerts_in, event_id, key_for, log_file

fauxqs = common.import_fauxqs("test_run")

BINARY = None
BUCKET = "trail-bucket"
FORGED_BUCKET = "forged-bucket"
# The inline EventBridge route, turned on for the account of CONFIG_RECORDS' events.
INLINE_ACCOUNT = "222222222222"
INLINE_ON = f'inline_events = true\ninline_accounts = ["{INLINE_ACCOUNT}"]'
# Every 50 ms (see the module docstring).
wait_until = functools.partial(common.wait_until, interval=0.05)


class Agent:
    """One `trailwarden run` process with its own state directory and alert file."""

    def __init__(self, fx: fauxqs.Fauxqs, queue_url: str, workdir: Path, name: str,
                 visibility: int = 30, workers: int = 2, extra: str = ""):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.alerts = self.dir / "alerts.ndjson"
        self.config = self.dir / "trailwarden.toml"
        self.config.write_text(common.agent_config(
            self.dir / "state", fx.endpoint, queue_url, BUCKET, visibility, workers) + f"""{extra}
[metrics]
listen = "127.0.0.1:0"
[[outputs]]
type = "file"
path = "{self.alerts}"
""")
        (self.dir / "state").mkdir(exist_ok=True)
        self.stderr_path = self.dir / "stderr.log"
        self.proc = None

    def start(self):
        self.stderr = open(self.stderr_path, "ab")
        self.proc = common.start_agent(BINARY, self.config, self.stderr)
        return self

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.stderr.close()
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.stderr.close()

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def status_url(self) -> str:
        """The agent's /metrics base URL, from its start-up log line (it listens on port 0)."""
        m = wait_until(lambda: re.search(r"metrics and health checks on (http://[0-9.:]+)/metrics",
                                         self.log()), 30, "the metrics endpoint")
        return m.group(1)

    def get(self, path: str) -> tuple[int, str]:
        return common.http_get(self.status_url() + path)

    def metrics(self) -> dict[str, float]:
        """Samples of /metrics by their full name with labels, e.g. 'x_total{output="a"}'."""
        status, text = self.get("/metrics")
        assert status == 200, (status, text)
        return common.parse_metrics(text)


class RunTest(unittest.TestCase):
    def setUp(self):
        self.fx = fauxqs.Fauxqs()
        self.fx.start()
        self.addCleanup(self.fx.stop, False)
        self.tmp = Path(tempfile.mkdtemp(prefix="tw-run-"))
        self.fx.create_bucket(BUCKET)
        self.fx.create_bucket(FORGED_BUCKET)

    def put(self, tag: str, bucket: str = BUCKET) -> tuple[str, set[str]]:
        data, expected = log_file(tag)
        key = key_for(tag)
        self.fx.put_object(bucket, key, data)
        return key, expected

    def test_every_shape_once_unknown_left_forged_refused(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        expected: set[str] = set()
        sends = []
        k, e = self.put("direct"); expected |= e
        sends.append(fauxqs.s3_event_body(BUCKET, k))
        k, e = self.put("sns-envelope"); expected |= e
        sends.append(fauxqs.s3_sns_body(BUCKET, k, raw=False))
        k, e = self.put("sns-raw"); expected |= e
        sends.append(fauxqs.s3_sns_body(BUCKET, k, raw=True))
        k, e = self.put("eventbridge"); expected |= e
        sends.append(fauxqs.eventbridge_object_created_body(BUCKET, k))
        k1, e1 = self.put("ct-sns-1"); k2, e2 = self.put("ct-sns-2"); expected |= e1 | e2
        sends.append(fauxqs.cloudtrail_sns_body(BUCKET, [k1, k2], raw=False))
        k, e = self.put("ct-sns-raw"); expected |= e
        sends.append(fauxqs.cloudtrail_sns_body(BUCKET, k, raw=True))
        inline = copy.deepcopy(next(r for r in CONFIG_RECORDS if r["eventName"] == "StopConfigurationRecorder"))
        inline["eventID"] = "inline-eventbridge-0"
        expected.add(inline["eventID"])
        sends.append(fauxqs.eventbridge_cloudtrail_body(inline))
        sends.append(fauxqs.s3_test_event_body(BUCKET))
        k, forged = self.put("forged", bucket=FORGED_BUCKET)
        sends.append(fauxqs.s3_event_body(FORGED_BUCKET, k))
        unknown = '{"hello": "not a notification"}'
        sends.append(unknown)
        for body in sends:
            self.fx.send(url, body)

        agent = Agent(self.fx, url, self.tmp, "a", extra=INLINE_ON).start()
        try:
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} >= expected, 60,
                       "every expected alert")
            wait_until(lambda: self.fx.queue_depth(url) == 1, 30, "the queue to hold only the unknown message")
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        alerts = alerts_in(agent.alerts)
        ids = [event_id(a) for a in alerts]
        self.assertEqual(len(ids), len(set(ids)), "an alert was delivered twice")
        self.assertEqual(set(ids), expected)
        self.assertFalse(set(ids) & forged, "the forged bucket's object was fetched")
        for a in alerts:
            self.assertEqual(a["class_uid"], 2004)
            self.assertEqual(a["finding_info"]["analytic"]["uid"], "cis-4.9")
        log = agent.log()
        self.assertIn("forged-bucket", log)
        self.assertIn("refused", log)
        self.assertIn("not a notification trailwarden understands", log)
        self.assertIn("s3:TestEvent", log)
        self.assertNotIn("cannot fetch", log)

    def test_inline_route_is_opt_in_and_forgeries_never_hide_s3_records(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        stop = next(r for r in CONFIG_RECORDS if r["eventName"] == "StopConfigurationRecorder")
        self.assertEqual(stop["recipientAccountId"], INLINE_ACCOUNT)

        def inline(event_id_: str, source: str | None = None, account: str | None = None,
                   user: str | None = None) -> str:
            record = copy.deepcopy(stop)
            record["eventID"] = event_id_
            if account:
                record["recipientAccountId"] = account
            if user:
                record["userIdentity"]["arn"] = user
            body = json.loads(fauxqs.eventbridge_cloudtrail_body(record, account=account))
            if source:
                body["source"] = source
            return json.dumps(body, separators=(",", ":"))

        # Off by default: a genuine-looking inline event is refused, counted and deleted.
        self.fx.send(url, inline("inline-off-0"))
        off = Agent(self.fx, url, self.tmp, "off").start()
        try:
            wait_until(lambda: self.fx.queue_depth(url) == 0, 30, "the inline event to be deleted")
            wait_until(lambda: off.metrics().get("trailwarden_inline_events_refused_total") == 1,
                       30, "the refusal to be counted")
        finally:
            self.assertEqual(off.stop(), 0, off.log())
        self.assertEqual(alerts_in(off.alerts), [])
        self.assertIn("inline EventBridge event refused", off.log())
        self.assertIn("source.sqs.inline_events is off", off.log())

        # On, for one account: forged sources and accounts are refused; a forgery reusing the
        # eventID of a real record, taken first, alerts as unverified and hides nothing.
        data, expected = log_file("genuine")
        real_id = f"genuine-{CONFIG_RECORDS.index(stop)}"  # log_file's eventID of that record
        self.assertIn(real_id, expected)
        self.fx.send(url, inline("forged-source-0", source="attacker.custom"))
        self.fx.send(url, inline("forged-account-0", account="999999999999"))
        # Relayed by an SNS topic (anyone allowed to publish to it could write it): refused.
        self.fx.send(url, fauxqs.sns_envelope(inline("relayed-by-sns-0")))
        self.fx.send(url, inline(real_id, user=f"arn:aws:iam::{INLINE_ACCOUNT}:user/someone-else"))
        # A second output in the cloudtrail format: the route must be there too.
        ct_alerts = self.tmp / "on-cloudtrail.ndjson"
        agent = Agent(self.fx, url, self.tmp, "on", extra=INLINE_ON + f"""
[[outputs]]
type = "file"
format = "cloudtrail"
path = "{ct_alerts}"
""").start()
        try:
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} == {real_id}, 30,
                       "the forged event's alert")
            key = key_for("genuine")
            self.fx.put_object(BUCKET, key, data)
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, key))
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} >= expected, 30,
                       "every alert of the genuine S3 object")
            wait_until(lambda: self.fx.queue_depth(url) == 0, 30, "an empty queue")
            metrics = agent.metrics()
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        self.assertEqual(metrics.get("trailwarden_inline_events_refused_total"), 3)
        self.assertEqual(metrics.get("trailwarden_alerts_duplicate_suppressed_total"), 0)
        alerts = alerts_in(agent.alerts)
        self.assertEqual(len(alerts), len(expected) + 1)
        common.assert_valid_alerts(alerts)  # both routes: S3 and inline EventBridge
        about_real = [a for a in alerts if event_id(a) == real_id]
        routes = sorted(a["unmapped"]["trailwarden"]["route"] for a in about_real)
        self.assertEqual(routes, ["eventbridge", "s3"])
        genuine = next(a for a in about_real if a["unmapped"]["trailwarden"]["verified"])
        forged = next(a for a in about_real if not a["unmapped"]["trailwarden"]["verified"])
        self.assertEqual(genuine["metadata"]["log_name"], f"s3://{BUCKET}/{key}")
        self.assertEqual(genuine["evidences"][0]["actor"]["user"]["uid"], stop["userIdentity"]["arn"])
        self.assertIn("unverified", forged["message"])
        self.assertNotEqual(forged["metadata"]["uid"], genuine["metadata"]["uid"])
        self.assertEqual(forged["metadata"]["correlation_uid"], genuine["metadata"]["uid"])
        # The cloudtrail format says the same: the bare record cannot, its envelope does.
        ct = [a for a in alerts_in(ct_alerts) if a["record"]["eventID"] == real_id]
        by_route = {a["trailwarden"]["route"]: a["trailwarden"] for a in ct}
        self.assertEqual(sorted(by_route), ["eventbridge", "s3"])
        self.assertEqual(by_route["s3"]["verified"], True)
        self.assertEqual((by_route["s3"]["bucket"], by_route["s3"]["key"]), (BUCKET, key))
        self.assertEqual(by_route["s3"]["finding_uid"], genuine["metadata"]["uid"])
        self.assertEqual(by_route["eventbridge"]["verified"], False)
        self.assertEqual(by_route["eventbridge"]["eventbridge_event_id"],
                         forged["unmapped"]["trailwarden"]["eventbridge_event_id"])
        self.assertEqual(by_route["eventbridge"]["finding_uid"], forged["metadata"]["uid"])
        self.assertNotIn("bucket", by_route["eventbridge"])
        log = agent.log()
        self.assertIn('source "attacker.custom" is not an AWS service', log)
        self.assertIn("account 999999999999 is not in source.sqs.inline_accounts", log)
        self.assertIn("it came through an SNS topic", log)

    def test_kill_9_mid_batch_loses_nothing(self):
        url = self.fx.create_queue("notifications", visibility_timeout=3)
        expected: set[str] = set()
        for i in range(80):
            k, e = self.put(f"batch-{i:02d}")
            expected |= e
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
        # One message at a time, so that the kill lands with most of the batch still to do.
        one_at_a_time = "max_messages = 1\nmax_in_flight_messages = 1"
        first = Agent(self.fx, url, self.tmp, "k", visibility=3, workers=1, extra=one_at_a_time).start()
        wait_until(lambda: len(alerts_in(first.alerts, True)) >= 4, 60, "the first alerts", interval=0.005)
        first.kill()  # SIGKILL in the middle of the batch
        delivered_before = {event_id(a) for a in alerts_in(first.alerts, True)}
        self.assertLess(len(delivered_before), len(expected), "killed too late to test anything")
        second = Agent(self.fx, url, self.tmp, "k", visibility=3).start()  # same state and output
        try:
            wait_until(lambda: {event_id(a) for a in alerts_in(second.alerts, True)} >= expected, 90,
                       "every alert after the restart")
            wait_until(lambda: self.fx.queue_depth(url) == 0, 30, "an empty queue")
        finally:
            rc = second.stop()
        self.assertEqual(rc, 0, second.log())
        ids = [event_id(a) for a in alerts_in(second.alerts, True)]
        self.assertEqual(set(ids), expected, "an alert was lost")
        # At most one line can be torn by the kill, and the file goes on with whole lines.
        lines = second.alerts.read_text().splitlines()
        bad = [l for l in lines if l.strip() and not l.startswith("{")] + \
              [l for l in lines if l.startswith("{") and not l.endswith("}")]
        self.assertLessEqual(len(bad), 1, bad[:2])

    def test_three_agents_share_a_queue(self):
        url = self.fx.create_queue("notifications", visibility_timeout=60)
        expected: set[str] = set()
        for i in range(45):
            k, e = self.put(f"shared-{i:02d}")
            expected |= e
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
        agents = [Agent(self.fx, url, self.tmp, f"agent{i}", visibility=60).start() for i in range(3)]
        try:
            def union():
                ids = set()
                for a in agents:
                    ids |= {event_id(x) for x in alerts_in(a.alerts)}
                return ids >= expected
            wait_until(union, 90, "every alert from the three agents")
            wait_until(lambda: self.fx.queue_depth(url) == 0, 30, "an empty queue")
        finally:
            codes = [a.stop() for a in agents]
        self.assertEqual(codes, [0, 0, 0])
        all_ids = []
        for a in agents:
            all_ids += [event_id(x) for x in alerts_in(a.alerts)]
        self.assertEqual(set(all_ids), expected)
        self.assertEqual(len(all_ids), len(expected), "an alert was delivered by two agents")

    def test_missing_object_is_not_acknowledged(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        self.fx.send(url, fauxqs.s3_event_body(BUCKET, key_for("never-uploaded")))
        agent = Agent(self.fx, url, self.tmp, "m").start()
        try:
            wait_until(lambda: "never-uploaded" in agent.log() and "not deleted" in agent.log(), 30,
                       "the failure to be reported")
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0)
        self.assertEqual(self.fx.queue_depth(url), 1, "a message whose object is missing was deleted")
        self.assertIn("cannot fetch s3://trail-bucket/", agent.log())

    def test_sigterm_interrupts_a_long_poll(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        agent = Agent(self.fx, url, self.tmp, "s", extra="").start()
        # Use the real 20 s long poll: rewrite the config's wait time before starting.
        agent.stop()
        cfg = agent.config.read_text().replace("wait_time_seconds = 1", "wait_time_seconds = 20")
        agent.config.write_text(cfg)
        agent.start()
        wait_until(lambda: "running: queue" in agent.log(), 30, "the agent to start polling")
        agent.proc.send_signal(signal.SIGTERM)
        # Without cancellation the agent would sit out the rest of the 20 s long poll.
        rc = agent.proc.wait(timeout=10)
        agent.stderr.close()
        self.assertEqual(rc, 0, agent.log())
        self.assertIn("received SIGTERM", agent.log())

    def test_sigterm_cancels_a_trickling_s3_download(self):
        # S3 stand-in that sends the object's bytes a few at a time, twice a second, for ever.
        started = threading.Event()
        finished = threading.Event()
        self.addCleanup(finished.set)

        class Trickle(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                started.set()
                self.send_response(200)
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                try:
                    while not finished.wait(0.5):  # the pace of the trickle, not a wait for an event
                        self.wfile.write(b"\x1f\x8b\x08\x00\x00")
                        self.wfile.flush()
                except OSError:
                    pass  # the agent hung up: what cancellation looks like from here

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = self.fx.create_queue("notifications", visibility_timeout=60)
        self.fx.send(url, fauxqs.s3_event_body(BUCKET, key_for("trickled")))
        agent = Agent(self.fx, url, self.tmp, "t")
        budget = 3
        cfg = agent.config.read_text()
        cfg = cfg.replace("[aws]\n", f'[aws]\ns3_endpoint_url = "http://127.0.0.1:{server.server_port}"\n', 1)
        cfg = cfg.replace("shutdown_timeout_seconds = 10", f"shutdown_timeout_seconds = {budget}")
        agent.config.write_text(cfg)
        agent.start()
        self.assertTrue(started.wait(30), "the agent never asked the S3 stand-in for the object")
        t0 = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        try:
            # Without cancellation the worker sat out S3's 60 s request timeout (exit after 57 s).
            rc = agent.proc.wait(timeout=30)
        finally:
            elapsed = time.monotonic() - t0
            if agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait()
            agent.stderr.close()
        print(f"exited {elapsed:.1f} s after SIGTERM (budget {budget} s)", file=sys.stderr)
        self.assertEqual(rc, 0, agent.log())
        # The budget, plus the 2 s floor for flushing outputs and about a second of slack.
        self.assertLess(elapsed, budget + 4, agent.log())
        counts = self.fx.queue_counts(url)
        self.assertEqual(counts["visible"] + counts["in_flight"], 1, "the message was deleted")
        self.assertEqual(counts["visible"], 1, "the message was not released for redelivery")
        self.assertIn("released for redelivery", agent.log())

    def test_agent_is_not_dumpable_unless_allowed(self):
        # A non-dumpable process's /proc/<pid>/ files belong to root: another process of its
        # user cannot read its environ or mem, nor ptrace it, and no core file is written. As
        # root the test runs the agent as nobody, so that the owner tells the two apart.
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        uid = 65534 if os.getuid() == 0 else os.getuid()
        if os.getuid() == 0:
            os.chmod(self.tmp, 0o755)
        for allow in (False, True):
            agent = Agent(self.fx, url, self.tmp, f"dump-{allow}")
            if allow:  # the default is off
                agent.config.write_text(agent.config.read_text().replace(
                    "[general]\n", "[general]\nallow_core_dumps = true\n", 1))
            if os.getuid() == 0:
                for path in [agent.dir, *agent.dir.rglob("*")]:
                    os.chown(path, uid, uid)
            import fauxqs as fx_module
            env = dict(os.environ, AWS_ACCESS_KEY_ID=fx_module.DUMMY_ACCESS_KEY,
                       AWS_SECRET_ACCESS_KEY=fx_module.DUMMY_SECRET_KEY,
                       AWS_EC2_METADATA_DISABLED="true")
            env.pop("AWS_PROFILE", None)
            agent.stderr = open(agent.stderr_path, "ab")
            agent.proc = subprocess.Popen([BINARY, "-c", str(agent.config), "run"], env=env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=agent.stderr,
                                          user=uid if os.getuid() == 0 else None)
            try:
                wait_until(lambda: "running: queue" in agent.log(), 30, "the agent to start")
                owner = os.stat(f"/proc/{agent.proc.pid}/environ").st_uid
            finally:
                rc = agent.stop()
            self.assertEqual(rc, 0, agent.log())
            if allow:
                self.assertEqual(owner, uid, "allow_core_dumps = true left it non-dumpable")
                self.assertIn("allow_core_dumps = true", agent.log())
            else:
                self.assertEqual(owner, 0, "the agent is dumpable: its memory and environ are "
                                           "open to its user, and a crash writes a core file")

    def test_probes_stay_fast_with_hundreds_of_idle_and_slow_connections(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        agent = Agent(self.fx, url, self.tmp, "p").start()
        held = []
        try:
            host, port = agent.status_url()[len("http://"):].rsplit(":", 1)
            for i in range(300):  # idle: connected, nothing sent
                held.append(socket.create_connection((host, int(port)), timeout=10))
            for i in range(100):  # slowloris: a request head that never ends
                s = socket.create_connection((host, int(port)), timeout=10)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
                held.append(s)
            slowest = 0.0
            for _ in range(5):
                for path in ("/healthz", "/readyz", "/metrics"):
                    t0 = time.monotonic()
                    status, _ = common.http_get(agent.status_url() + path, timeout=30)
                    slowest = max(slowest, time.monotonic() - t0)
                    self.assertIn(status, (200, 503), path)
            print(f"slowest probe {slowest * 1000:.1f} ms with 400 connections held",
                  file=sys.stderr)
            # cpp-httplib (before issue 9): 4.7 s with 2 idle connections, 14 s with 500.
            self.assertLess(slowest, 0.1)
            m = agent.metrics()
            self.assertGreater(m["trailwarden_status_connections_evicted_total"], 0)
        finally:
            for s in held:
                s.close()
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())

    def test_sighup_reopens_the_alert_file(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        agent = Agent(self.fx, url, self.tmp, "h").start()
        try:
            k, first = self.put("before-rotate")
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} >= first, 30, "the first alerts")
            rotated = agent.alerts.with_suffix(".1")
            agent.alerts.rename(rotated)  # what logrotate does
            agent.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "SIGHUP" in agent.log(), 30, "the agent to take the signal")
            k, second = self.put("after-rotate")
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} >= second, 30,
                       "alerts in the reopened file")
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        self.assertEqual({event_id(a) for a in alerts_in(rotated)}, first)
        self.assertEqual({event_id(a) for a in alerts_in(agent.alerts)}, second)

    def test_metrics_health_and_readiness_follow_the_stream(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        agent = Agent(self.fx, url, self.tmp, "m").start()
        try:
            wait_until(lambda: agent.get("/readyz")[0] == 200, 30, "/readyz to turn ready")
            self.assertEqual(agent.get("/healthz")[0], 200)
            # `trailwarden healthcheck` asks the same endpoints at the configured address.
            port = int(agent.status_url().rsplit(":", 1)[1])
            probe_cfg = self.tmp / "probe.toml"
            probe_cfg.write_text(f'[metrics]\nlisten = "0.0.0.0:{port}"\n')
            for extra in ([], ["--ready"]):
                p = subprocess.run([BINARY, "-c", str(probe_cfg), "healthcheck", *extra],
                                   capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
            probe_cfg.write_text('[metrics]\nlisten = "127.0.0.1:1"\n')  # nobody listens
            p = subprocess.run([BINARY, "-c", str(probe_cfg), "healthcheck"], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertEqual(agent.get("/nope")[0], 404)
            before = agent.metrics()
            self.assertEqual(before["trailwarden_s3_objects_fetched_total"], 0)
            self.assertEqual(before['trailwarden_rule_matches_total{rule="cis-4.9"}'], 0)
            expected = set()
            for i in range(5):
                k, exp = self.put(f"metrics-{i}")
                expected |= exp
                self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            wait_until(lambda: agent.metrics()["trailwarden_sqs_messages_deleted_total"] >= 5, 30,
                       "five messages deleted")
            m = agent.metrics()
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        self.assertEqual(m["trailwarden_sqs_messages_received_total"], 5)
        self.assertEqual(m["trailwarden_s3_objects_fetched_total"], 5)
        self.assertGreater(m["trailwarden_s3_bytes_fetched_total"], 0)
        self.assertEqual(m["trailwarden_records_scanned_total"], 5 * len(CONFIG_RECORDS))
        self.assertEqual(m['trailwarden_rule_matches_total{rule="cis-4.9"}'], len(expected))
        self.assertEqual(m["trailwarden_alerts_total"], len(expected))
        self.assertEqual(m['trailwarden_output_alerts_sent_total{output="file-0"}'], len(expected))
        self.assertEqual(m['trailwarden_output_alerts_rejected_total{output="file-0"}'], 0)
        self.assertEqual(m["trailwarden_object_processing_seconds_count"], 5)
        self.assertEqual(m['trailwarden_notification_to_alert_seconds_bucket{le="+Inf"}'], len(expected))
        self.assertGreater(m["trailwarden_aws_credential_refreshes_total"], 0)
        newest = max(r["eventTime"] for r in CONFIG_RECORDS)
        self.assertEqual(m["trailwarden_newest_event_timestamp_seconds"],
                         time.mktime(time.strptime(newest, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)
        self.assertGreater(m["trailwarden_newest_event_age_seconds"], 0)
        self.assertEqual(m["trailwarden_sqs_messages_in_flight"], 0)

    def test_sighup_reloads_rules_and_keeps_them_after_a_bad_reload(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        rules = self.tmp / "extra-rules.toml"
        rule = """
[pack]
id = "local"
title = "Local rules"

[[rules]]
id = "local-describe"
title = "Describe calls"
severity = "low"
pattern = '{ $.eventName = "DescribeConfigurationRecorders" }'
enabled = %s
"""
        rules.write_text(rule % "false")
        agent = Agent(self.fx, url, self.tmp, "r")
        # The rule file is named in [rules] (appended: TOML allows a table after the outputs).
        with open(agent.config, "a") as f:
            f.write(f'[rules]\nfiles = ["{rules}"]\n')
        agent.start()
        try:
            wait_until(lambda: "running: queue" in agent.log(), 30, "the agent to start")
            k, first = self.put("before-reload")
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} >= first, 30,
                       "alerts with the first rules")
            rules.write_text(rule % "true")
            agent.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "rules reloaded" in agent.log(), 30, "the reload")
            self.assertEqual(agent.metrics()["trailwarden_rule_reloads_total"], 1)
            k, second = self.put("after-reload")
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            wait_until(lambda: any(a["finding_info"]["analytic"]["uid"] == "local-describe"
                                   for a in alerts_in(agent.alerts)), 30, "an alert of the new rule")
            # A broken rule file: the reload fails, the rules in force stay.
            rules.write_text("[[rules]]\nid = \"broken\"\npattern = '{ $.x = '\n")
            agent.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "reload failed" in agent.log(), 30, "the failed reload")
            k, third = self.put("after-bad-reload")
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} >= third, 30,
                       "alerts after the failed reload")
            self.assertEqual(agent.get("/healthz")[0], 200)
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        alerts = alerts_in(agent.alerts)
        by_rule = {}
        for a in alerts:
            by_rule.setdefault(a["finding_info"]["analytic"]["uid"], set()).add(event_id(a))
        describe = {f"{tag}-{i}" for tag in ("after-reload", "after-bad-reload")
                    for i, r in enumerate(CONFIG_RECORDS)
                    if r["eventName"] == "DescribeConfigurationRecorders"}
        self.assertTrue(describe, "the sample must hold Describe calls")
        self.assertEqual(by_rule.get("local-describe", set()), describe)
        self.assertEqual(by_rule["cis-4.9"], first | second | third)
        self.assertIn("reload failed, the previous rules stay in force", agent.log())
        self.assertIn("extra-rules.toml:", agent.log())

    def test_systemd_notifications(self):
        # The agent under Type=notify: what systemd would read from NOTIFY_SOCKET.
        sock_path = self.tmp / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        self.addCleanup(sock.close)
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        agent = Agent(self.fx, url, self.tmp, "n")
        saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        os.environ.update(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="2000000")
        os.environ.pop("WATCHDOG_PID", None)
        try:
            agent.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        received: list[str] = []

        def until(predicate, what: str, timeout: float = 30):
            """Reads notifications (blocking on the socket) until predicate(received) holds."""
            deadline = time.monotonic() + timeout
            while not predicate(received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} in {received[-20:]}")
                sock.settimeout(left)
                try:
                    received.append(sock.recv(4096).decode())
                except socket.timeout:
                    pass

        def count(field: str) -> int:
            return sum(1 for m in received for line in m.split("\n") if line.startswith(field))

        try:
            until(lambda r: count("READY=1") >= 1, "READY=1")
            k, expected = self.put("notify")
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            until(lambda r: any("STATUS=1 messages, 1 objects" in m for m in r),
                  "STATUS= after the first message")
            before = count("WATCHDOG=1")
            until(lambda r: count("WATCHDOG=1") >= before + 2, "two more WATCHDOG=1 (every 1 s)")
            agent.proc.send_signal(signal.SIGHUP)
            until(lambda r: count("RELOADING=1") >= 1 and count("READY=1") >= 2,
                  "RELOADING=1 then READY=1 around the reload")
            agent.proc.send_signal(signal.SIGTERM)
            until(lambda r: count("STOPPING=1") >= 1, "STOPPING=1")
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        self.assertEqual({common.event_id(a) for a in common.alerts_in(agent.alerts)}, expected)

    def start_with_env(self, agent: Agent, env_extra: dict[str, str]) -> Agent:
        """Starts `agent` with no static AWS keys and no profile: the environment given only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=str(agent.dir), AWS_EC2_METADATA_DISABLED="true", **env_extra)
        agent.stderr = open(agent.stderr_path, "ab")
        agent.proc = subprocess.Popen([BINARY, "-c", str(agent.config), "run"], env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=agent.stderr)
        return agent

    def test_start_up_waits_for_container_credentials(self):
        # A cold EKS Pod Identity agent: the container endpoint answers 503 until it is ready.
        import fauxqs as fx_module
        ready = threading.Event()
        requests = []

        class Endpoint(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                requests.append(time.monotonic())
                if not ready.is_set() or self.headers.get("Authorization") != "pod-token":
                    body = b'{"code":"ServiceUnavailable","message":"agent starting"}'
                    self.send_response(503)
                else:
                    body = json.dumps({"AccessKeyId": fx_module.DUMMY_ACCESS_KEY,
                                       "SecretAccessKey": fx_module.DUMMY_SECRET_KEY,
                                       "Token": "pod-session-token",
                                       "Expiration": "2099-01-01T00:00:00Z"}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        agent = self.start_with_env(Agent(self.fx, url, self.tmp, "cold"), {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI":
                f"http://127.0.0.1:{server.server_address[1]}/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "pod-token"})
        try:
            # Waiting, not exiting: /healthz answers, /readyz says why it is not ready.
            wait_until(lambda: agent.get("/readyz")[0] == 503 and
                       "waiting for AWS credentials" in agent.get("/readyz")[1], 30,
                       "/readyz to report the wait")
            wait_until(lambda: "waiting for AWS credentials (attempt 2" in agent.log(), 30,
                       "a second start-up attempt")
            self.assertIsNone(agent.proc.poll(), agent.log())
            self.assertEqual(agent.get("/healthz")[0], 200)
            status, why = agent.get("/readyz")
            self.assertEqual(status, 503)
            self.assertIn("HTTP 503 from GET http://127.0.0.1:", why)
            self.assertIn("ServiceUnavailable", why)
            self.assertNotIn("pod-token", agent.log())
            self.assertGreater(agent.metrics()["trailwarden_aws_credential_failures_total"], 0)
            ready.set()
            wait_until(lambda: agent.get("/readyz")[0] == 200, 60, "/readyz to turn ready")
            k, expected = self.put("after-credentials")
            self.fx.send(url, fauxqs.s3_event_body(BUCKET, k))
            wait_until(lambda: {event_id(a) for a in alerts_in(agent.alerts)} >= expected, 30,
                       "the notification's alerts")
        finally:
            rc = agent.stop()
        self.assertEqual(rc, 0, agent.log())
        self.assertIn("AWS credentials obtained after", agent.log())

    def test_sigterm_ends_the_credential_wait_and_config_errors_exit_at_once(self):
        url = self.fx.create_queue("notifications", visibility_timeout=30)
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        agent = self.start_with_env(Agent(self.fx, url, self.tmp, "refused"), {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{dead}/creds"})
        wait_until(lambda: "waiting for AWS credentials (attempt 1" in agent.log(), 30,
                   "the first failed attempt")
        t0 = time.monotonic()
        rc = agent.stop(timeout=30)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, agent.log())
        self.assertLess(elapsed, 5, agent.log())  # at most one attempt in progress (~2 s)
        self.assertIn("while waiting for AWS credentials, stopping", agent.log())

        # A profile that does not exist cannot heal: exit 2 at once, no waiting.
        agent = Agent(self.fx, url, self.tmp, "noprofile")
        (agent.dir / ".aws").mkdir()
        (agent.dir / ".aws" / "config").write_text("[profile other]\nregion = us-east-1\n")
        agent = self.start_with_env(agent, {"AWS_PROFILE": "missing"})
        rc = agent.proc.wait(timeout=30)
        agent.stderr.close()
        self.assertEqual(rc, 2, agent.log())
        self.assertIn("no profile 'missing'", agent.log())
        self.assertNotIn("waiting for AWS credentials", agent.log())

    def start_with_credential_process(self, name: str, body: str) -> tuple[Agent, Path]:
        """Starts an agent whose only credentials come from a credential_process script (in
        ~/.aws/config of its HOME) with `body`; DIR in `body` is replaced by the agent's
        directory."""
        url = self.fx.create_queue(f"notifications-{name}", visibility_timeout=30)
        agent = Agent(self.fx, url, self.tmp, name)
        script = agent.dir / "creds.sh"
        script.write_text("#!/bin/sh\n" + body.replace("DIR", str(agent.dir)))
        script.chmod(0o755)
        (agent.dir / ".aws").mkdir()
        (agent.dir / ".aws" / "config").write_text(f"[default]\ncredential_process = {script}\n")
        return self.start_with_env(agent, {}), agent.dir

    def assert_group_gone(self, pid_file: Path):
        pgid = int(pid_file.read_text())

        def gone():
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            # Zombies count as gone once nothing in the group is running.
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    if int(fields[2]) == pgid and fields[0] != "Z":
                        return False
            return True
        wait_until(gone, 10, "the credential_process group to be killed")

    def test_sigterm_kills_a_hanging_credential_process_at_start_up(self):
        # A credential_process that never answers (a wedged signing helper): SIGTERM during the
        # start-up wait ends it and the agent at once, not after its 60 s timeout.
        agent, d = self.start_with_credential_process(
            "hang-start", "echo $$ > DIR/pid\nsleep 300\n")
        wait_until(lambda: (d / "pid").exists() and (d / "pid").read_text().strip(), 30,
                   "the credential_process to start")
        t0 = time.monotonic()
        rc = agent.stop(timeout=90)
        elapsed = time.monotonic() - t0
        print(f"exited {elapsed:.1f} s after SIGTERM", file=sys.stderr)
        self.assertEqual(rc, 0, agent.log())
        self.assertLess(elapsed, 5, agent.log())
        self.assertIn("while waiting for AWS credentials, stopping", agent.log())
        self.assert_group_gone(d / "pid")

    def test_sigterm_kills_a_hanging_credential_refresh(self):
        # The first run hands out credentials inside the refresh window (4 min left), so the
        # next request refreshes them; that run hangs. SIGTERM must not wait for it.
        import fauxqs as fx_module
        agent, d = self.start_with_credential_process("hang-refresh", f"""\
if [ ! -e DIR/first ]; then
  touch DIR/first
  printf '{{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "t", \
"Expiration": "%s"}}' {fx_module.DUMMY_ACCESS_KEY} '{fx_module.DUMMY_SECRET_KEY}' \
"$(date -u -d '+4 min' +%Y-%m-%dT%H:%M:%SZ)"
  exit 0
fi
echo $$ > DIR/pid.tmp && mv DIR/pid.tmp DIR/pid
sleep 300
""")
        wait_until(lambda: (d / "pid").exists(), 30, "the refresh to start")
        self.assertIsNone(agent.proc.poll(), agent.log())
        t0 = time.monotonic()
        rc = agent.stop(timeout=90)
        elapsed = time.monotonic() - t0
        print(f"exited {elapsed:.1f} s after SIGTERM", file=sys.stderr)
        self.assertEqual(rc, 0, agent.log())
        self.assertLess(elapsed, 10, agent.log())
        self.assertIn("was stopped (shutting down)", agent.log())
        self.assert_group_gone(d / "pid")

    def test_missing_queue_is_fatal(self):
        agent = Agent(self.fx, f"{self.fx.endpoint}/000000000000/no-such-queue", self.tmp, "q").start()
        rc = agent.proc.wait(timeout=30)
        agent.stderr.close()
        self.assertNotEqual(rc, 0)
        self.assertRegex(agent.log(), r"QueueDoesNotExist|NonExistentQueue")


def main():
    global BINARY
    if len(sys.argv) < 2:
        print("usage: test_run.py /path/to/trailwarden", file=sys.stderr)
        return 2
    BINARY = os.path.abspath(sys.argv.pop(1))
    return common.run_unittest(sys.argv, verbosity=2)


if __name__ == "__main__":
    sys.exit(main())
