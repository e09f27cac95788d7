#!/usr/bin/env python3
"""Three `trailwarden run` agents sharing alarm state in DynamoDB (`[alarms] store = "dynamodb"`)
against fauxqs (SQS + S3) and dynalite on 127.0.0.1: together they make the transitions one
agent makes seeing every object, each notified exactly once, with one agent killed mid-stream.

    test_shared_alarms.py TRAILWARDEN

The rule: failed console sign-ins per user (dimension userName), Sum over 10 s >= 3, one
evaluation period, notBreaching, lateness 60 s, alert = "alarm" (transitions only). Records lie
in the two 10-s periods before now, so no period is final while the objects are processed; a
user with >= 3 failures in one period goes INSUFFICIENT_DATA -> ALARM at once (early firing) and
ALARM -> OK on the idle tick once the lateness and the evaluation range have passed; any other
user INSUFFICIENT_DATA -> OK.

- Reference: one agent (store = "state") reads every object from its own queue.
- Shared: agent A alone reads the objects of two users (sam, nina) and is left idle; then the
  other objects are queued and B and C start; A is killed with SIGKILL once it has finished at
  least one of them, with objects still on the queue (its unit in work comes back after the
  5-s visibility timeout), and restarted on the same state directory (as systemd would, after
  RESTART_DELAY seconds and once the queue is empty). B and C never see a record of sam or nina,
  and A (down, then behind in stream time by its downtime) cannot decide their final
  transitions first: B and C make them from the store's instance index ("discover").
- Checks: the union of the three outputs' transitions is the reference's (uid, user, old and
  new state), each uid once across the outputs, counted after every agent is idle (no
  transition, no message received or in work for longer than a period, and A's downtime plus
  a period after the last transition: A's stream time lags by that much after its restart);
  the store's state items' versions add up to the transitions, and B's and C's won transitions
  are what they notified; every alert is valid OCSF. Prints the DynamoDB requests per matched
  record, per instance, and per agent, instance and period once idle (every agent queries every
  instance at every period end), and each agent's won and lost compare-and-sets.
- Mutations tried: without discover() B and C never make sam's and nina's final transitions
  (the check names them); with settle() notifying a lost compare-and-set, the uids B and C both
  decided are notified twice (caught when B and C race, as they did in most runs: lost >= 1).

Waiting: nothing signals "an agent evaluated a period", so the tests poll outputs, metrics and
queue counters (bounded by timeouts). The one deliberate delay is A's downtime (RESTART_DELAY,
a systemd RestartSec), a scenario parameter rather than a wait for an event.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import common
from common import alerts_in, check

fauxqs = common.import_fauxqs("test_shared_alarms")

BINARY = ""
BUCKET = "trail-bucket"
TABLE = "tw-shared-alarms"
REGION = "us-east-1"
VISIBILITY = 5          # s: A's unit in work when killed comes back to B or C this soon
PERIOD = 10             # s
LATENESS = 60           # s: no period is final while the objects are processed
RESTART_DELAY = 15      # s: A's downtime (systemd RestartSec)
IDLE_WINDOW = 15        # s: > one period: an agent with an instance still to evaluate queries
                        # the store at least once per period of stream time (= wall time)
ALARM_USERS = {"sam", "alice", "carol", "dave", "erin", "grace", "judy"}
QUIET_USERS = {"nina", "bob", "frank", "heidi", "ivan"}
SOLO_USERS = {"sam", "nina"}  # only in the objects A reads alone before the others start
wait_until = functools.partial(common.wait_until, interval=0.05)

RULES = f"""
[pack]
id = "shared-alarm-tests"
title = "Shared alarm tests"

[[rules]]
id = "console-failures"
title = "Console login failures"
severity = "high"
pattern = '{{ ($.eventName = "ConsoleLogin") && ($.errorMessage = "Failed authentication") }}'
alert = "alarm"
[rules.metric]
name = "ConsoleLoginFailures"
value = 1
unit = "Count"
dimensions = {{ user = "$.userIdentity.userName" }}
[rules.alarm]
name = "ConsoleLoginFailures"
statistic = "Sum"
period = {PERIOD}
evaluation_periods = 1
threshold = 3
comparison_operator = "GreaterThanOrEqualToThreshold"
treat_missing_data = "notBreaching"
lateness_seconds = {LATENESS}
"""


# ---- the records and objects ----

def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def login(user: str, t: float, eid: str, failed: bool = True) -> dict:
    rec = {
        "eventVersion": "1.08", "eventTime": iso(t), "eventID": eid,
        "eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com",
        "eventType": "AwsConsoleSignIn", "awsRegion": "eu-west-1",
        "recipientAccountId": "111122223333", "sourceIPAddress": "192.0.2.10",
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "111122223333",
                         "arn": f"arn:aws:iam::111122223333:user/{user}"},
        "responseElements": {"ConsoleLogin": "Failure" if failed else "Success"},
    }
    if failed:
        rec["errorMessage"] = "Failed authentication"
    return rec


class Stream:
    """The failed sign-ins per user and period (P0, P1: the two 10-s periods before now), dealt
    into objects: phase 1 (sam's and nina's, read by A alone) and phase 2 (the others, spread at
    random, seeded, so that each user's count is split over objects and so over agents)."""

    def __init__(self, seed: int = 7):
        now = time.time()
        base = int(now) // PERIOD * PERIOD - 2 * PERIOD  # now is in [base + 20, base + 30)
        rng = random.Random(seed)
        n = 0

        def records(user, period, count):
            nonlocal n
            out = []
            for _ in range(count):
                n += 1
                t = base + period * PERIOD + rng.randint(1, PERIOD - 1)
                out.append(login(user, t, f"fail-{user}-{n:03d}"))
            return out

        p1 = records("sam", 0, 3) + records("nina", 0, 1) + records("nina", 1, 1)
        rng.shuffle(p1)
        self.phase1 = [p1[0:2], p1[2:4], p1[4:]]
        spread = []
        for user, period, count in [("alice", 0, 4), ("bob", 0, 2), ("bob", 1, 2),
                                    ("carol", 1, 3), ("dave", 0, 1), ("dave", 1, 3),
                                    ("erin", 0, 5), ("erin", 1, 1), ("frank", 1, 1),
                                    ("heidi", 1, 2), ("ivan", 0, 2), ("judy", 0, 3),
                                    ("judy", 1, 3)]:
            spread += records(user, period, count)
        rng.shuffle(spread)
        objects: list[list[dict]] = [[] for _ in range(28)]
        for i, rec in enumerate(spread):
            objects[i % len(objects)].append(rec)
        objects.append(records("grace", 0, 3))  # grace: all three in one object
        rng.shuffle(objects)
        # A successful sign-in (matching no rule) in some objects: records that only move time.
        for i, o in enumerate(objects):
            if i % 3 == 0:
                o.append(login("ops", base + PERIOD + 5, f"ok-{i:03d}", failed=False))
        self.phase2 = objects
        self.matched = n  # failed sign-ins: the datapoints

    @staticmethod
    def key(tag: str) -> str:
        return common.key_for(tag)

    def put_all(self, fx) -> tuple[list[str], list[str]]:
        """Stores every object; returns the keys of phase 1 and phase 2."""
        keys = ([], [])
        for phase, objects in enumerate((self.phase1, self.phase2)):
            for i, recs in enumerate(objects):
                k = self.key(f"shared-p{phase + 1}-{i:02d}")
                fx.put_object(BUCKET, k, gzip.compress(json.dumps({"Records": recs}).encode()))
                keys[phase].append(k)
        return keys


# ---- agents ----

class Agent:
    """One `trailwarden run` with its own state directory, alert file and metrics endpoint."""

    def __init__(self, fx, queue_url: str, workdir: Path, name: str, store: str,
                 rules: Path, db_endpoint: str = ""):
        self.name = name
        self.dir = workdir / name
        (self.dir / "state").mkdir(parents=True, exist_ok=True)
        self.alerts = self.dir / "alerts.ndjson"
        self.config = self.dir / "trailwarden.toml"
        self.stderr_path = self.dir / "stderr.log"
        alarms = f'[alarms]\nstore = "{store}"\n'
        if store == "dynamodb":
            alarms += (f'[alarms.dynamodb]\ntable = "{TABLE}"\nendpoint = "{db_endpoint}"\n'
                       f'region = "{REGION}"\n')
        # One message at a time: the kill lands with objects left, and B and C share the rest.
        self.config.write_text(common.agent_config(
            self.dir / "state", fx.endpoint, queue_url, BUCKET, VISIBILITY, workers=1) +
            "max_messages = 1\nmax_in_flight_messages = 1\n" + f"""
[rules]
files = ["{rules}"]
disable = ["cis-*"]
{alarms}
[metrics]
listen = "127.0.0.1:0"
[[outputs]]
type = "file"
path = "{self.alerts}"
""")
        self.proc = None
        self.stderr = None
        self.log_from = 0
        self.url = None

    def start(self) -> "Agent":
        self.log_from = self.stderr_path.stat().st_size if self.stderr_path.exists() else 0
        self.url = None
        self.stderr = open(self.stderr_path, "ab")
        self.proc = common.start_agent(BINARY, self.config, self.stderr)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def status_url(self) -> str:
        if not self.url:
            def found():
                check(self.alive(), f"{self.name} exited with {self.proc.returncode}:\n"
                                    f"{self.log()[-3000:]}")
                return re.search(r"metrics and health checks on (http://[0-9.:]+)/metrics",
                                 self.log()[self.log_from:])
            self.url = wait_until(found, 30, f"{self.name}'s metrics endpoint").group(1)
        return self.url

    def metrics(self) -> dict[str, float]:
        status, text = common.http_get(self.status_url() + "/metrics")
        check(status == 200, f"{self.name} /metrics: {status} {text[:200]}")
        return common.parse_metrics(text)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.stderr.close()

    def stop(self) -> int:
        rc = common.stop_process(self.proc, timeout=30)
        self.stderr.close()
        return rc

    def transitions(self) -> list[dict]:
        # A killed with SIGKILL may leave one torn line.
        return [a for a in alerts_in(self.alerts, torn_lines_allowed=True) if alarm_of(a)]


def alarm_of(alert: dict) -> dict | None:
    return alert.get("unmapped", {}).get("trailwarden", {}).get("alarm")


def what(alert: dict) -> tuple[str, str, str, str]:
    a = alarm_of(alert)
    return (alert["metadata"]["uid"], a["dimensions"]["user"], a["old_state"], a["new_state"])


def listing(items) -> str:
    return "\n  " + "\n  ".join(" ".join(x) for x in sorted(items, key=lambda x: (x[1], x[0])))


def counter(m: dict, name: str) -> float:
    return m.get(name, 0.0)


def wait_idle(agents: list[Agent], not_before: float, what_: str, timeout: float = 120):
    """Until no agent has made a transition or received a message, and none has one in work,
    for IDLE_WINDOW seconds (more than a period, during which each agent's stream time moves on
    with the wall clock and so evaluates at least one more period end), and not before the
    monotonic time `not_before`. Store requests never stop: every agent queries each instance
    at each period end (another agent may have counted into it)."""
    keys = ("trailwarden_alarm_transitions_total", "trailwarden_sqs_messages_received_total",
            "trailwarden_sqs_messages_in_flight")
    last = {}
    since = {}

    def idle():
        now = time.monotonic()
        for a in agents:
            m = a.metrics()
            snap = tuple(counter(m, k) for k in keys)
            if last.get(a.name) != snap or snap[-1] != 0:
                last[a.name] = snap
                since[a.name] = now
        return now >= not_before and all(now - since[a.name] >= IDLE_WINDOW for a in agents)
    wait_until(idle, timeout, what_, interval=0.5)


# ---- the test ----

def expected_by_user() -> dict[str, list[tuple[str, str]]]:
    out = {u: [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK")] for u in ALARM_USERS}
    out.update({u: [("INSUFFICIENT_DATA", "OK")] for u in QUIET_USERS})
    return out


def test_three_agents_make_one_agents_transitions_each_notified_once():
    stream = Stream()
    rules = TMP / "rules.toml"
    rules.write_text(RULES)
    phase1, phase2 = stream.put_all(FX)
    expected_count = sum(len(v) for v in expected_by_user().values())

    # The reference: one agent, state in its state directory, every object.
    ref_url = FX.create_queue("reference", visibility_timeout=VISIBILITY)
    for k in phase1 + phase2:
        FX.send(ref_url, fauxqs.s3_event_body(BUCKET, k))
    ref = Agent(FX, ref_url, TMP, "reference", "state", rules).start()
    AGENTS.append(ref)

    # Shared: A alone on sam's and nina's objects.
    url = FX.create_queue("shared", visibility_timeout=VISIBILITY)
    for k in phase1:
        FX.send(url, fauxqs.s3_event_body(BUCKET, k))
    a = Agent(FX, url, TMP, "A", "dynamodb", rules, DB.endpoint).start()
    b = Agent(FX, url, TMP, "B", "dynamodb", rules, DB.endpoint)
    c = Agent(FX, url, TMP, "C", "dynamodb", rules, DB.endpoint)
    AGENTS.extend([a, b, c])
    wait_until(lambda: counter(a.metrics(), "trailwarden_sqs_messages_deleted_total") == len(phase1)
               and any(what(x)[1:] == ("sam", "INSUFFICIENT_DATA", "ALARM")
                       for x in a.transitions()),
               60, "A to finish sam's and nina's objects and notify sam's early ALARM")

    # The rest; B and C start; A is killed once it has finished one of the new objects.
    for k in phase2:
        FX.send(url, fauxqs.s3_event_body(BUCKET, k))
    b.start()
    c.start()
    before_kill = {}

    def a_did_one():
        before_kill.update(a.metrics())
        return counter(before_kill, "trailwarden_sqs_messages_deleted_total") >= len(phase1) + 1
    wait_until(a_did_one, 60, "A to finish one object of phase 2", interval=0.005)
    a.kill()
    killed_at = time.monotonic()
    left = FX.queue_depth(url)
    check(left >= 3, f"killed too late to test anything: {left} messages left on the queue")
    print(f"  A killed with {left} of {len(phase2)} phase-2 messages left on the queue "
          f"(in work or not yet received)")

    # A comes back (as systemd would) after its downtime, once B and C emptied the queue.
    wait_until(lambda: FX.queue_depth(url) == 0, 90, "B and C to empty the queue")
    wait_until(lambda: time.monotonic() - killed_at >= RESTART_DELAY, RESTART_DELAY + 1,
               "A's downtime (RestartSec)")
    a.start()
    restarted_at = time.monotonic()
    a.status_url()

    # The reference's transitions: what the scenario says, per user.
    wait_until(lambda: len(ref.transitions()) >= expected_count, 180,
               f"the reference's {expected_count} transitions")
    reference = {what(x) for x in ref.transitions()}
    by_user: dict[str, list[tuple[str, str]]] = {}
    for x in ref.transitions():  # in the order the one agent made them
        by_user.setdefault(what(x)[1], []).append(what(x)[2:])
    check(by_user == expected_by_user(),
          f"the reference made unexpected transitions:{listing(reference)}")

    shared = [a, b, c]

    def union():
        return {what(x) for s in shared for x in s.transitions()}
    wait_until(lambda: {t[0] for t in union()} >= {t[0] for t in reference}, 180,
               "the reference's transitions from the three agents")
    # A came back with the stream time it saved (at most a period behind its stream when
    # killed), which then moves on with the wall clock: it evaluates what B and C evaluated at
    # most its downtime plus a period (and a tick) later.
    complete = time.monotonic()
    steady = {s.name: counter(s.metrics(), "trailwarden_alarm_store_requests_total")
              for s in shared}
    wait_idle(shared + [ref], complete + (restarted_at - killed_at) + PERIOD + 3,
              "every agent to be idle")

    got = [what(x) for s in shared for x in s.transitions()]
    check(set(got) == reference,
          f"transitions differ.\nshared:{listing(set(got))}\nreference:{listing(reference)}")
    dupes = sorted({t for t in got if got.count(t) > 1})
    check(not dupes, f"notified more than once:{listing(dupes)}\nper agent: " +
          ", ".join(f"{s.name}:{listing(what(x) for x in s.transitions())}" for s in shared))

    # sam's and nina's final transitions: made by B or C, which never saw their records.
    final = {("sam", "ALARM", "OK"), ("nina", "INSUFFICIENT_DATA", "OK")}
    by_bc = {what(x)[1:] for s in (b, c) for x in s.transitions()}
    check(final <= by_bc, f"B and C did not evaluate A's instances (discover): {by_bc}")
    mb, mc, ma = b.metrics(), c.metrics(), a.metrics()
    scraped = time.monotonic()
    discovered = counter(mb, "trailwarden_alarm_instances_discovered_total") + \
        counter(mc, "trailwarden_alarm_instances_discovered_total")
    check(discovered >= 2 * len(SOLO_USERS), f"B and C discovered {discovered} instances")

    # The store: each instance's state version is its number of transitions.
    versions = {}
    for item in scan(TABLE):
        if item["sk"]["S"] == "state":
            versions[item["dims"]["S"] if "dims" in item else item["pk"]["S"]] = int(item["ver"]["N"])
    check(sum(versions.values()) == expected_count,
          f"state versions {versions} add up to {sum(versions.values())}, not {expected_count}")
    for s, m in ((b, mb), (c, mc)):
        won = counter(m, "trailwarden_alarm_store_transitions_won_total")
        check(won == len(s.transitions()),
              f"{s.name} won {won} transitions and notified {len(s.transitions())}")
    won_a = counter(before_kill, "trailwarden_alarm_store_transitions_won_total") + \
        counter(ma, "trailwarden_alarm_store_transitions_won_total")
    check(won_a <= len(a.transitions()), f"A won {won_a} (seen) and notified "
                                         f"{len(a.transitions())}")

    for s in shared + [ref]:
        common.assert_valid_alerts(alerts_in(s.alerts, torn_lines_allowed=True))
        check(counter(s.metrics(), "trailwarden_alarm_late_datapoints_total") == 0,
              f"{s.name} refused datapoints as late: the scenario's timing is off")

    # Figures.
    per_agent = {"A (before the kill, last scrape)": before_kill, "A (restarted)": ma,
                 "B": mb, "C": mc}
    requests = sum(counter(m, "trailwarden_alarm_store_requests_total") for m in per_agent.values())
    updates = sum(counter(m, "trailwarden_alarm_store_updates_total") for m in per_agent.values())
    repeated = sum(counter(m, "trailwarden_alarm_units_repeated_total") for m in per_agent.values())
    instances = len(ALARM_USERS | QUIET_USERS)
    print(f"  {stream.matched} matched records in {len(phase1) + len(phase2)} objects, "
          f"{instances} instances, {len(reference)} transitions")
    print(f"  DynamoDB requests: {requests:g} ({updates:g} UpdateItem): "
          f"{requests / stream.matched:.2f} per matched record, "
          f"{requests / instances:.1f} per instance; units counted again (redelivered): "
          f"{repeated:g}")
    for name, m in per_agent.items():
        print(f"  {name}: won {counter(m, 'trailwarden_alarm_store_transitions_won_total'):g}, "
              f"lost {counter(m, 'trailwarden_alarm_store_transitions_lost_total'):g}, "
              f"superseded {counter(m, 'trailwarden_alarm_transitions_superseded_total'):g}, "
              f"discovered {counter(m, 'trailwarden_alarm_instances_discovered_total'):g}, "
              f"requests {counter(m, 'trailwarden_alarm_store_requests_total'):g}")
    idle_s = scraped - complete
    idle_requests = sum(counter(m, "trailwarden_alarm_store_requests_total") - steady[n]
                        for n, m in (("A", ma), ("B", mb), ("C", mc)))
    print(f"  after the last transition: {idle_requests:g} requests in {idle_s:.0f} s = "
          f"{idle_requests / (idle_s / PERIOD) / 3 / instances:.2f} per agent, instance and "
          f"period (each agent queries each instance at each period end)")
    print(f"  notified: A {len(a.transitions())}, B {len(b.transitions())}, "
          f"C {len(c.transitions())}")

    codes = {s.name: s.stop() for s in shared + [ref]}
    check(all(rc == 0 for rc in codes.values()), f"exit statuses {codes}")


def scan(table: str) -> list[dict]:
    items, kwargs = [], {"TableName": table, "ConsistentRead": True}
    while True:
        page = DB.client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---- running ----

FX = None
DB = None
TMP: Path = Path()
AGENTS: list[Agent] = []


def main():
    global BINARY, FX, DB, TMP
    BINARY = os.path.abspath(common.tool_argument("usage: test_shared_alarms.py TRAILWARDEN"))
    if not os.access(BINARY, os.X_OK):
        return common.cannot_run(f"test_shared_alarms.py: {BINARY} is not an executable")
    sys.path.insert(0, str(common.PEERS))
    import dynalite
    TMP = Path(tempfile.mkdtemp(prefix="tw-shared-alarms-"))

    def setup():
        global FX, DB
        FX = fauxqs.Fauxqs()
        FX.start()
        FX.create_bucket(BUCKET)
        DB = dynalite.Dynalite()
        DB.start()
        DB.create_alarm_table(TABLE)

    def teardown():
        for agent in AGENTS:
            if agent.alive():
                agent.stop()
        failed = False
        for agent in AGENTS:
            if agent.proc is not None and agent.stderr_path.exists():
                log = agent.log()
                if re.search(r"Z (error|critical) ", log):
                    failed = True
                    print(f"--- {agent.name} logged errors:\n{log[-4000:]}")
        if DB:
            DB.stop(raise_on_error=False)
        if FX:
            FX.stop(raise_on_error=False)
        if failed:
            print(f"(logs in {TMP})")

    return common.run_suite(common.module_tests(globals()), setup=setup, teardown=teardown,
                            tmp=TMP, keep=True)


if __name__ == "__main__":
    sys.exit(main())
