#!/usr/bin/env python3
"""Issue 14 end to end: `trailwarden run` with [integrity] enabled checks CloudTrail digest files
as their notifications arrive, against the fauxqs SQS/S3 emulator and the CloudTrail stand-in
(peers/cloudtrail_standin.py: ListPublicKeys), on signed trails from trailgen.py.

    python3 tests/integration/test_integrity_run.py [--failpoints trailwarden_failpoints] \
        /path/to/trailwarden [NAME-SUBSTRING]

Each test uploads one trailgen scenario to its own bucket, sends the S3 event notifications
(fauxqs has no bucket notifications: the test sends what S3 would), log files first and then the
digests of the chain in order, and reads the file output:

  intact            no integrity finding; every CIS 4.9 alert of the records; every digest and
                    log file counted valid
  log modified      integrity.log_file_modified with the digest's and the read hashes
  log deleted       no notification (the object is gone): backfilled, given up after
                    backfill_attempts -> integrity.log_file_unreadable
  digest deleted    integrity.digest_chain_broken naming the missing digest
  digest re-signed  integrity.digest_invalid for the digest signed with an unpublished key
  gap               integrity.digest_chain_restarted at the starting digest after the gap
  delivery stopped  a chain whose last digest ends just under an hour ago:
                    integrity.digest_delivery_stopped once digest_grace has passed, not before
  backfill          notifications of three log files dropped on purpose: every alert still
                    arrives and trailwarden_integrity_backfilled_total counts exactly three

Time: trailgen writes 2026-11-20; the agent's "delivery stopped" clock is the wall clock, so the
trails are moved to now (generate_at): the newest digest ends a minute ago and the digests of a
chain are two seconds apart, so that no digest of a test chain is an hour late while the chain
is read — but for the delivery-stopped test, whose newest digest is made to be late a few
seconds after it is read. Digest periods stay one hour long (they overlap): the chain links,
signatures and hashes are what is checked.

Waiting: the tests poll the queue, the alert file and /metrics (every 50 ms, with a deadline);
they never sleep for a fixed time. [integrity] uses digest_grace = "2s", backfill_delay = "1s",
backfill_retry_after = "1s", and since = 2020 (the trails' hours began before the agent started).

A binary whose `run` exports no trailwarden_integrity_* metric has no integrity stage: the
tests that need it fail saying so.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import common
from common import alerts_in, check

fauxqs = common.import_fauxqs("test_integrity_run")
import cloudtrail_standin  # noqa: E402  (peers/, on sys.path since import_fauxqs)
import trailgen  # noqa: E402

BIN: str | None = None
FAILPOINTS: str | None = None  # trailwarden_failpoints (--failpoints): agent/common/failpoint.h
FX = None
TMP: Path | None = None
wait_until = functools.partial(common.wait_until, interval=0.05)

GRACE_S = 2
INTEGRITY = f"""
[integrity]
enabled = true
digest_grace = "{GRACE_S}s"
backfill_delay = "1s"
retention = "6h"
backfill_attempts = 2
backfill_retry_after = "1s"
# The test trails' digest hours began before the agent started: check them all.
since = "2020-01-01T00:00:00Z"
"""
SPACING = datetime.timedelta(seconds=2)  # between the digests of a chain (see the docstring)
RULE = {  # finding_info.analytic.uid of each outcome (agent/normalize/integrity_finding.h)
    "invalid": "integrity.digest_invalid",
    "broken": "integrity.digest_chain_broken",
    "restarted": "integrity.digest_chain_restarted",
    "modified": "integrity.log_file_modified",
    "unreadable": "integrity.log_file_unreadable",
    "stopped": "integrity.digest_delivery_stopped",
}
# /metrics: IntegrityCounters and BackfillCounters (integrity_stage.h, backfill_source.h), under
# either naming the design allowed (docs/monitoring.md names the one chosen).
METRICS = {
    "digests_valid": ["trailwarden_integrity_digests_valid_total",
                      'trailwarden_integrity_digests_total{verdict="valid"}'],
    "log_files_valid": ["trailwarden_integrity_log_files_valid_total",
                        'trailwarden_integrity_log_files_total{verdict="valid"}'],
    "backfilled": ["trailwarden_integrity_backfilled_total"],
}


class StageMissing(common.Failure):
    """The binary has no integrity stage in `run`: a failure."""


# ---- trails at the present time ------------------------------------------------------------------

@contextlib.contextmanager
def _trailgen_at(newest_end: datetime.datetime):
    """trailgen with the digests of hour h ending at newest_end - (5 - h) * SPACING and the home
    region's key rotating between the third and the fourth digest (trailgen's fixed day and hourly
    spacing otherwise). Restores trailgen afterwards."""
    saved = trailgen.digest_end, trailgen.ROTATION
    last = trailgen.HOURS[-1]

    def digest_end(region: str, hour: int) -> datetime.datetime:
        return newest_end - (last - hour) * SPACING

    trailgen.digest_end = digest_end
    trailgen.ROTATION = digest_end(trailgen.HOME_REGION, trailgen.EMPTY_HOUR) + SPACING / 2
    try:
        yield
    finally:
        trailgen.digest_end, trailgen.ROTATION = saved


def generate_at(scenario: str, newest_end: datetime.datetime) -> tuple[dict, Path]:
    """trailgen's `scenario` moved in time (see _trailgen_at), uploaded to its own bucket."""
    bucket = f"tw-int-{scenario}-{int(time.time() * 1000) % 10**9}"
    out = TMP / bucket
    newest_end = newest_end.replace(microsecond=0)
    with _trailgen_at(newest_end):
        trail = trailgen.generate(scenario, out, bucket=bucket)
    trailgen.upload_to_fauxqs(FX, out)
    return trail, out


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def key_of(uri: str) -> str:
    return uri.split("/", 3)[3]


def logs(trail: dict) -> list[str]:
    return [u for u, f in trail["files"].items() if f["kind"] == "log"]


def cis49_ids(trail: dict, uris) -> set[str]:
    return {e for u in uris for e in trail["files"][u].get("cis49_eventIDs", [])}


# ---- the agent -----------------------------------------------------------------------------------

class Agent:
    """One `trailwarden run` with [integrity] on, its own state directory and alert file."""

    def __init__(self, name: str, queue_url: str, bucket: str, ct_endpoint: str,
                 visibility: int = 30):
        self.dir = TMP / name
        (self.dir / "state").mkdir(parents=True, exist_ok=True)
        self.alerts = self.dir / "alerts.ndjson"
        self.config = self.dir / "trailwarden.toml"
        # One worker: units are matched in the order they are received (the digests of a chain
        # in order, as CloudTrail delivers them hourly).
        base = common.agent_config(self.dir / "state", FX.endpoint, queue_url, bucket,
                                   visibility, workers=1)
        base = base.replace(f'endpoint_url = "{FX.endpoint}"',
                            f'endpoint_url = "{FX.endpoint}"\n'
                            f'cloudtrail_endpoint_url = "{ct_endpoint}"', 1)
        self.config.write_text(base + INTEGRITY + f"""
[metrics]
listen = "127.0.0.1:0"
[[outputs]]
type = "file"
path = "{self.alerts}"
""")
        self.stderr_path = self.dir / "stderr.log"
        self.proc = None
        self.stderr = None
        self._status_url = None
        self._log_from = 0

    def start(self, failpoint: str | None = None) -> "Agent":
        """`run`; with `failpoint`, the failpoints binary dying there (as kill -9 would)."""
        self.stderr = open(self.stderr_path, "ab")
        # A restart appends to the same log: the new process's lines begin here.
        self._log_from = self.stderr_path.stat().st_size
        self._status_url = None
        if failpoint is None:
            self.proc = common.start_agent(BIN, self.config, self.stderr)
            return self
        check(FAILPOINTS is not None, "no --failpoints binary given")
        os.environ["TRAILWARDEN_FAILPOINT"] = failpoint
        try:
            self.proc = common.start_agent(FAILPOINTS, self.config, self.stderr)
        finally:
            os.environ.pop("TRAILWARDEN_FAILPOINT", None)
        return self

    def wait_death(self, failpoint: str) -> None:
        """The failpoints binary died at `failpoint`."""
        wait_until(lambda: self.exited(), 60, f"the agent to die at {failpoint}")
        check(f"failpoint {failpoint}: exiting" in self.log_since_start(),
              f"the agent exited, not at {failpoint}{self.describe()}")
        self.proc.wait()
        self.stderr.close()
        self.proc = None

    def kill(self) -> None:
        """kill -9: nothing is flushed, saved or acknowledged beyond what already was."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.stderr.close()
        self.proc = None

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.stderr.close()
        self.proc = None
        return rc

    def log(self) -> str:
        return self.stderr_path.read_bytes().decode(errors="replace")

    def log_since_start(self) -> str:
        """The lines of the process started last."""
        return self.stderr_path.read_bytes()[self._log_from:].decode(errors="replace")

    def status_url(self) -> str:
        if self._status_url is None:
            m = wait_until(lambda: self.exited() or re.search(
                r"metrics and health checks on (http://[0-9.:]+)/metrics",
                self.log_since_start()),
                30, "the metrics endpoint")
            check(not isinstance(m, str), f"the agent exited:\n{self.log()}")
            self._status_url = m.group(1)
        return self._status_url

    def exited(self) -> str:
        return "exited" if self.proc is not None and self.proc.poll() is not None else ""

    def metrics(self) -> dict[str, float]:
        status, text = common.http_get(self.status_url() + "/metrics")
        check(status == 200, f"/metrics: {status} {text}")
        return common.parse_metrics(text)

    def integrity_metric(self, what: str, metrics: dict | None = None) -> float | None:
        m = self.metrics() if metrics is None else metrics
        for name in METRICS[what]:
            if name in m:
                return m[name]
        return None

    def wait_metrics(self, predicate, what: str, timeout: float = 30) -> None:
        """wait_until over /metrics; on a timeout the trailwarden_integrity_* samples are shown."""
        try:
            wait_until(lambda: predicate(self.metrics()), timeout, what)
        except common.Failure as e:
            shown = {k: v for k, v in self.metrics().items() if "integrity" in k}
            raise common.Failure(f"{e}; integrity metrics: {shown}{self.describe()}") from None

    def require_stage(self) -> None:
        """StageMissing unless `run` exports the integrity stage's metrics (once it runs: the
        metrics endpoint starts before the stage is built)."""
        wait_until(lambda: self.exited() or " running: queue " in self.log_since_start(), 30,
                   "the agent to run")
        check(not self.exited(), f"the agent exited{self.describe()}")
        m = self.metrics()
        if not any(k.startswith("trailwarden_integrity_") for k in m):
            raise StageMissing("`run` exports no trailwarden_integrity_* metric: the integrity "
                               "stage is not wired into run in this binary (issue 14)")

    def findings(self) -> list[dict]:
        return [a for a in alerts_in(self.alerts) if rule_of(a).startswith("integrity.")]

    def describe(self) -> str:
        tail = "\n".join(self.log().splitlines()[-60:])
        return f"\n--- agent log ({self.stderr_path}), last lines\n{tail}"


def rule_of(alert: dict) -> str:
    return alert.get("finding_info", {}).get("analytic", {}).get("uid", "")


def evidence(alert: dict) -> dict:
    """The evidence of an integrity alert (the OCSF finding's evidences[0].data)."""
    ev = alert.get("evidences")
    data = ev[0].get("data") if isinstance(ev, list) and ev and isinstance(ev[0], dict) else None
    check(isinstance(data, dict), f"an integrity alert without evidences[0].data: {json.dumps(alert)[:2000]}")
    return data


def with_rule(agent: Agent, outcome: str) -> list[dict]:
    return [a for a in agent.findings() if rule_of(a) == RULE[outcome]]


def show(findings: list[dict]) -> str:
    return "\n".join(f"  {rule_of(a)}: {json.dumps(a.get('evidences', ''))[:600]}" for a in findings) or "  (none)"


# ---- one scenario through `run` ------------------------------------------------------------------

class Run:
    """A trail in its bucket, the CloudTrail stand-in serving its keys, a queue and an agent."""

    def __init__(self, scenario: str, newest_end: datetime.datetime | None = None,
                 visibility: int = 30, failpoint: str | None = None):
        self.scenario = scenario
        self.visibility = visibility
        self.failpoint = failpoint
        self.trail, self.out = generate_at(scenario, newest_end or now_utc() - datetime.timedelta(minutes=1))
        self.bucket = self.trail["bucket"]
        self.ct = cloudtrail_standin.CloudTrailStandin(keys=self.out / "keys.json",
                                                       trails=[self.trail["describe_trails"]])
        self.queue = None
        self.agent = None

    def __enter__(self) -> "Run":
        self.ct.start()
        self.queue = FX.create_queue(self.bucket, visibility_timeout=30)
        self.agent = Agent(self.bucket, self.queue, self.bucket, self.ct.endpoint,
                           self.visibility).start(self.failpoint)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        rc = self.agent.stop() if self.agent else 0
        self.ct.stop(raise_on_error=False)
        if exc_type is None:
            check(rc == 0, f"{self.scenario}: the agent exited {rc}{self.agent.describe()}")
        return False

    def present(self, uri: str) -> bool:
        return self.trail["files"][uri]["present"]

    def notify(self, uris, what: str) -> None:
        """One S3 event notification per object, then waits until the agent consumed them all."""
        for uri in uris:
            FX.send(self.queue, fauxqs.s3_event_body(self.bucket, key_of(uri)))
        wait_until(lambda: self.agent.exited() or FX.queue_depth(self.queue) == 0, 60,
                   f"{self.scenario}: the agent to consume the notifications of {what}")
        check(not self.agent.exited(), f"{self.scenario}: the agent exited{self.agent.describe()}")

    def feed(self, skip_logs=()) -> None:
        """The log files' notifications (but those in `skip_logs` and deleted ones), consumed;
        then the digests', in chain order, consumed."""
        self.notify([u for u in logs(self.trail) if self.present(u) and u not in skip_logs],
                    "the log files")
        digests = [u for chain in self.trail["chains"].values() for u in chain if self.present(u)]
        self.notify(digests, "the digests")

    def wait_findings(self, outcome: str, predicate=lambda a: True, count: int = 1,
                      timeout: float = 30) -> list[dict]:
        self.agent.require_stage()
        try:
            return wait_until(
                lambda: (lambda got: got if len(got) >= count else None)(
                    [a for a in with_rule(self.agent, outcome) if predicate(evidence(a))]),
                timeout, f"{self.scenario}: {count} {RULE[outcome]} finding(s)")
        except common.Failure as e:
            raise common.Failure(f"{e}; integrity findings so far:\n{show(self.agent.findings())}"
                                 f"{self.agent.describe()}") from None

    def digest(self, hour: int, region: str = trailgen.HOME_REGION) -> str:
        return next(u for u in self.trail["chains"][region]
                    if self.trail["files"][u]["hour"] == hour)


def assert_evidence(ev: dict, run: Run, check_name: str, **fields) -> None:
    detail = f"{run.scenario}: evidence {json.dumps(ev, indent=1)}"
    check(ev.get("check") == check_name, f"check is not {check_name!r}: {detail}")
    check(ev.get("bucket") == run.bucket, detail)
    check(isinstance(ev.get("reason"), str) and ev["reason"], f"no reason: {detail}")
    check(isinstance(ev.get("chain"), str) and ev["chain"], f"no chain: {detail}")
    for name, want in fields.items():
        check(ev.get(name) == want, f"{name} is {ev.get(name)!r}, want {want!r}: {detail}")


# ---- tests that run without the stage ------------------------------------------------------------

def test_check_config_with_integrity():
    """The configuration the suite uses is valid; check-config prints [integrity] as given and
    says that digests are read although include_digest is false."""
    cfg = TMP / "check.toml"
    cfg.write_text(common.agent_config(TMP / "state", "http://127.0.0.1:1",
                                       "http://127.0.0.1:1/000000000000/q", "tw-check", 30) + INTEGRITY)
    p = subprocess.run([BIN, "-c", str(cfg), "check-config"], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, f"check-config exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    check(f'[integrity]\nenabled = true\ndigest_grace = "{GRACE_S}s"\nbackfill_delay = "1s"\n'
          'retention = "6h"\n' in p.stdout, p.stdout)
    bad = TMP / "bad.toml"
    bad.write_text('[integrity]\nenabled = true\nretention = "1h"\n')
    p = subprocess.run([BIN, "-c", str(bad), "check-config"], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 2 and "bad.toml:3:13: integrity.retention (1h) must be more than" in
          p.stderr, f"exit {p.returncode}\n{p.stderr}")


def test_trail_uploaded_notifications_consumed():
    """What the harness itself relies on: the shifted trail verifies by trailgen's own truth (its
    digests' signing strings and keys), fauxqs keeps the signature metadata, and the agent with
    [integrity] on starts, consumes every notification and keeps matching log files."""
    with Run("intact") as run:
        t = run.trail
        newest = t["files"][t["chains"][trailgen.HOME_REGION][-1]]["end"]
        age = now_utc() - trailgen.parse_iso(newest)
        check(datetime.timedelta(0) < age < datetime.timedelta(minutes=5),
              f"the newest digest ends {age} ago")
        for uri in t["chains"][trailgen.HOME_REGION]:
            meta = FX.s3.head_object(Bucket=run.bucket, Key=key_of(uri))["Metadata"]
            check(meta.get("signature-algorithm") == "SHA256withRSA", f"{uri}: {meta}")
        run.feed()
        want = cis49_ids(t, logs(t))
        check(want, "the trail has no CIS 4.9 record")
        wait_until(lambda: {common.event_id(a) for a in alerts_in(run.agent.alerts)
                            if rule_of(a) == "cis-4.9"} >= want, 30,
                   "the CIS 4.9 alerts of the trail's records")
        status, _ = common.http_get(run.agent.status_url() + "/healthz")
        check(status == 200, f"/healthz {status}")


# ---- the outcomes (need the stage) ---------------------------------------------------------------

def test_intact_trail_no_finding():
    with Run("intact") as run:
        run.feed()
        run.agent.require_stage()
        t = run.trail
        want_logs = len(logs(t))
        want_digests = len(t["chains"][trailgen.HOME_REGION])
        a = run.agent
        a.wait_metrics(lambda m: a.integrity_metric("digests_valid", m) == want_digests and
                       a.integrity_metric("log_files_valid", m) == want_logs,
                       f"{want_digests} digests and {want_logs} log files counted valid")
        want = cis49_ids(t, logs(t))
        wait_until(lambda: {common.event_id(a) for a in alerts_in(run.agent.alerts)
                            if rule_of(a) == "cis-4.9"} >= want, 30, "the CIS 4.9 alerts")
        check(run.agent.integrity_metric("backfilled") in (0, None),
              f"backfilled {run.agent.integrity_metric('backfilled')} of an intact trail")
    findings = run.agent.findings()
    check(not findings, f"integrity findings on an intact trail:\n{show(findings)}")
    alerts = alerts_in(run.agent.alerts)
    ids = [common.event_id(a) for a in alerts]
    check(len(ids) == len(set(ids)) and set(ids) == want, f"alerts {sorted(ids)}, want {sorted(want)}")
    common.assert_valid_alerts(alerts)


def test_log_file_modified():
    with Run("logmod") as run:
        run.feed()
        lf = next(u for u, f in run.trail["files"].items() if f["state"] == "modified")
        inflated = gzip.decompress(FX.get_object(run.bucket, key_of(lf)))
        found = run.wait_findings("modified", lambda ev: ev.get("key") == key_of(lf))
        assert_evidence(evidence(found[0]), run, "log_file_modified", key=key_of(lf),
                        digest_key=key_of(run.trail["files"][lf]["digest"]),
                        expected_sha256=run.trail["files"][lf]["sha256"],
                        actual_sha256=hashlib.sha256(inflated).hexdigest())
        common.assert_valid_alerts(found)


def test_log_file_deleted_unreadable_after_backfill():
    with Run("logdel") as run:
        run.feed()  # the deleted file has no notification: only its digest names it
        lf = next(u for u, f in run.trail["files"].items() if f["state"] == "deleted")
        found = run.wait_findings("unreadable", lambda ev: ev.get("key") == key_of(lf))
        assert_evidence(evidence(found[0]), run, "log_file_unreadable", key=key_of(lf),
                        digest_key=key_of(run.trail["files"][lf]["digest"]),
                        expected_sha256=run.trail["files"][lf]["sha256"])
        # Tried backfill_attempts times, then given up: GetObject answered 404 each time.
        check(run.agent.integrity_metric("backfilled") == 1,
              f"backfilled {run.agent.integrity_metric('backfilled')}")


def test_digest_deleted_chain_broken():
    with Run("digdel") as run:
        run.feed()
        missing = key_of(next(u for u, f in run.trail["files"].items()
                              if f["kind"] == "digest" and f["state"] == "deleted"))
        named_by = key_of(run.digest(trailgen.TARGET_HOUR + 1))
        found = run.wait_findings(
            "broken", lambda ev: missing in (ev.get("key"), ev.get("digest_key")))
        ev = evidence(found[0])
        assert_evidence(ev, run, "digest_chain_broken")
        check({ev.get("key"), ev.get("digest_key")} == {missing, named_by},
              f"the broken link is not {named_by} -> {missing}: {ev}")


def test_digest_resigned_with_another_key_invalid():
    with Run("resignsame") as run:
        run.feed()
        target = key_of(run.digest(trailgen.TARGET_HOUR))
        found = run.wait_findings("invalid", lambda ev: ev.get("key") == target)
        assert_evidence(evidence(found[0]), run, "digest_invalid", key=target)
        # The other digests of the chain are valid.
        others = [a for a in with_rule(run.agent, "invalid") if evidence(a).get("key") != target]
        check(not others, f"other digests called invalid:\n{show(others)}")


def test_gap_chain_restarted():
    with Run("gap") as run:
        run.feed()
        restart = key_of(run.digest(trailgen.EMPTY_HOUR + 1))
        before = key_of(run.digest(trailgen.EMPTY_HOUR - 1))
        found = run.wait_findings("restarted",
                                  lambda ev: ev.get("key") in (restart, before) or
                                  ev.get("digest_key") in (restart, before))
        assert_evidence(evidence(found[0]), run, "digest_chain_restarted")
        broken = with_rule(run.agent, "broken")
        check(not broken, f"a gap is a restart, not a broken chain:\n{show(broken)}")


def test_delivery_stopped():
    """The chain's newest digest ends an hour minus 20 s ago: it is late 20 s + digest_grace
    after the test starts, and reported then — not before (the finding's time), and once."""
    newest_end = now_utc() - datetime.timedelta(hours=1) + datetime.timedelta(seconds=20)
    with Run("intact", newest_end=newest_end) as run:
        run.feed()
        last = key_of(run.digest(trailgen.HOURS[-1]))
        late_at = (trailgen.parse_iso(run.trail["files"][run.digest(trailgen.HOURS[-1])]["end"]) +
                   datetime.timedelta(hours=1, seconds=GRACE_S))
        found = run.wait_findings("stopped", timeout=50)
        ev = evidence(found[0])
        assert_evidence(ev, run, "digest_delivery_stopped", key=last)
        check(found[0]["time"] >= late_at.timestamp() * 1000,
              f"reported at {found[0]['time']}, before the chain was late ({late_at})")
    # Once per last digest: the ticks until the agent stopped, and its finish(), added none.
    stopped = with_rule(run.agent, "stopped")
    check(len(stopped) == 1, f"delivery stopped reported {len(stopped)} times:\n{show(stopped)}")


def test_backfill_dropped_notifications():
    """Three log files' notifications never sent (one holds CIS 4.9 records): their digests
    list them, the agent reads them itself; every alert arrives, the backfilled counter says 3,
    and nothing is reported."""
    with Run("intact") as run:
        t = run.trail
        all_logs = logs(t)
        with_cis = [u for u in all_logs if t["files"][u].get("cis49_eventIDs")]
        check(with_cis, "no log file with CIS 4.9 records")
        dropped = [with_cis[0]] + [u for u in all_logs if u != with_cis[0]][:2]
        run.feed(skip_logs=set(dropped))
        run.agent.require_stage()
        want = cis49_ids(t, all_logs)
        wait_until(lambda: {common.event_id(a) for a in alerts_in(run.agent.alerts)
                            if rule_of(a) == "cis-4.9"} >= want, 30,
                   "every CIS 4.9 alert, the backfilled files' too")
        a = run.agent
        a.wait_metrics(lambda m: a.integrity_metric("backfilled", m) == len(dropped) and
                       a.integrity_metric("log_files_valid", m) == len(all_logs),
                       f"{len(dropped)} backfilled and {len(all_logs)} log files valid")
    findings = run.agent.findings()
    check(not findings, f"integrity findings after backfill:\n{show(findings)}")
    ids = [common.event_id(a) for a in alerts_in(run.agent.alerts)]
    check(len(ids) == len(set(ids)) and set(ids) == want, f"alerts {sorted(ids)}, want {sorted(want)}")


def test_restart_keeps_the_ledger():
    """kill -9 twice; the ledger is in <state_dir>/integrity.journal:
    - log files read before the first kill, their digests after it: compared, none fetched
      again (backfilled stays 0), no finding — without the journal the restarted agent would not
      know it read them and would backfill every one;
    - a chain whose newest digest was read before the second kill, late late_s seconds after the
      test starts (after the restart): the agent started after the kill reports delivery
      stopped (it knows the chain only from the journal), once."""
    late_s = 60  # the first part takes about 15 s (30 s under ASan)
    newest_end = now_utc() - datetime.timedelta(hours=1) + datetime.timedelta(seconds=late_s)
    # Visibility 10 s: a message the killed agent's last long poll took comes back after it.
    with Run("intact", newest_end=newest_end, visibility=10) as run:
        a = run.agent
        all_logs = [u for u in logs(run.trail) if run.present(u)]
        run.notify(all_logs, "the log files")
        a.require_stage()
        a.kill()
        a.start()
        digests = [u for chain in run.trail["chains"].values() for u in chain if run.present(u)]
        run.notify(digests, "the digests")
        a.wait_metrics(lambda m: a.integrity_metric("log_files_valid", m) == len(all_logs),
                       f"{len(all_logs)} log files valid after the restart")
        check(a.integrity_metric("backfilled") == 0,
              f"log files read before the restart were fetched again{a.describe()}")
        check(not a.findings(), f"findings after the restart (the first part must end within "
              f"{late_s} s, before the chain is late):\n{show(a.findings())}")
        a.kill()
        a.start()
        last = key_of(run.digest(trailgen.HOURS[-1]))
        found = run.wait_findings("stopped", timeout=late_s + 30)
        assert_evidence(evidence(found[0]), run, "digest_delivery_stopped", key=last)
        check("integrity state" in a.log_since_start(),
              f"the restarted agent did not say it read its integrity state{a.describe()}")
    stopped = with_rule(run.agent, "stopped")
    check(len(stopped) == 1, f"delivery stopped reported {len(stopped)} times:\n{show(stopped)}")
    others = [f for f in run.agent.findings() if rule_of(f) != RULE["stopped"]]
    check(not others, f"other findings:\n{show(others)}")


def crash_at_commit(point: str) -> None:
    """The agent dies at `point` (agent/common/failpoint.h) while saving the first log file's
    read; the message is not acknowledged and comes back after its visibility timeout (10 s).
    The agent started again gets the other log files' notifications and the digests at once."""
    with Run("intact", visibility=10, failpoint=point) as run:
        a = run.agent
        t = run.trail
        all_logs = [u for u in logs(t) if run.present(u)]
        first = all_logs[0]
        FX.send(run.queue, fauxqs.s3_event_body(run.bucket, key_of(first)))
        a.wait_death(point)
        counts = FX.queue_counts(run.queue)
        check(counts["in_flight"] == 1,
              f"the agent died with the message not in flight ({counts}): not while reading it")
        a.start()
        run.feed(skip_logs={first})
        want = cis49_ids(t, all_logs)
        wait_until(lambda: {common.event_id(x) for x in alerts_in(a.alerts)
                            if rule_of(x) == "cis-4.9"} >= want, 60,
                   "every CIS 4.9 alert, the first log file's too")
        a.wait_metrics(lambda m: a.integrity_metric("log_files_valid", m) == len(all_logs),
                       f"{len(all_logs)} log files valid")
        wait_until(lambda: FX.queue_depth(run.queue) == 0, 60, "the redelivered message consumed")
        if point == "after-integrity-commit":
            # The read was saved before the death: the digest finds it, nothing is fetched again
            # (without the journal the first log file would be backfilled before its message
            # comes back).
            check(a.integrity_metric("backfilled") == 0,
                  f"the saved read was not known after the restart{a.describe()}")
    findings = run.agent.findings()
    check(not findings, f"integrity findings:\n{show(findings)}")
    ids = [common.event_id(x) for x in alerts_in(run.agent.alerts)]
    check(len(ids) == len(set(ids)) and set(ids) == want,
          f"alerts {sorted(ids)}, want each of {sorted(want)} once")


def test_crash_before_integrity_commit():
    crash_at_commit("before-integrity-commit")


def test_crash_after_integrity_commit():
    crash_at_commit("after-integrity-commit")


# ---- running ----------------------------------------------------------------------------------

def run_tests(tests) -> int:
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001 - report and go on
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


def main() -> int:
    global BIN, FAILPOINTS, FX, TMP
    if len(sys.argv) < 2:
        print("usage: test_integrity_run.py [--failpoints trailwarden_failpoints] "
              "/path/to/trailwarden [NAME-SUBSTRING]", file=sys.stderr)
        return 2
    args = sys.argv[1:]
    if "--failpoints" in args:
        at = args.index("--failpoints")
        FAILPOINTS = os.path.abspath(args[at + 1])
        del args[at:at + 2]
    BIN = os.path.abspath(args[0])
    only = args[1] if len(args) > 1 else None
    TMP = Path(tempfile.mkdtemp(prefix="tw-integrity-run-"))
    rc = 1
    try:
        FX = fauxqs.Fauxqs()
        FX.start()
        rc = run_tests(common.module_tests(globals(), only))
    except Exception:  # noqa: BLE001
        print(f"FAIL setup\n{traceback.format_exc()}")
        print("0 passed, 1 failed")
    finally:
        if FX is not None:
            FX.stop(raise_on_error=False)
        if rc == 0:
            import shutil
            shutil.rmtree(TMP, ignore_errors=True)
        else:
            print(f"kept {TMP}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
