#!/usr/bin/env python3
"""The splunk_hec output against a strict HEC receiver written to Splunk's protocol.

Run as:  python3 tests/integration/test_splunk_hec.py /path/to/hec_tool

tests/integration/peers/hec_receiver.py runs as its own process on 127.0.0.1 (plain HTTP, and a
second one with TLS and a certificate made here by `openssl`); hec_tool
(tests/integration/hec_tool.cpp) builds the output from a configuration file with the real
factory and libcurl client and sends N alerts the way the pipeline does (retry with backoff,
set rejected alerts aside, stop on fatal). The receiver records every indexed event, so each
test asserts exactly what reached the index: every alert exactly once with and without indexer
acknowledgement, with busy, failing, slow and closing receivers; at least once (duplicates
only where an ack was lost) otherwise. Every run of the tool is checked for the tokens: they
must never appear in its output or its (debug) log. No fixed sleeps: the receiver announces
its ports on stdout, and the tool ends on its own.

The last line printed is "N passed, N failed"; the exit status is non-zero if any test failed.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import common

TOKEN = "b1946ac9-2492-4e3e-a6c9-1b8f00a7c0de"          # plain token
ACK_TOKEN = "5d41402a-bc4b-4a76-b971-9d911017c592"      # indexer acknowledgement on
DISABLED_TOKEN = "7d793037-a076-4d18-a3f0-9d2c4a2a0f11"
WRONG_TOKEN = "e4d909c2-90d0-4fb1-8d8c-2f8b1c9e0b0b"
SECRETS = [TOKEN, ACK_TOKEN, DISABLED_TOKEN, WRONG_TOKEN]

TOOL = None
TMP = None
PLAIN = None
TLS = None


# --------------------------------------------------------------------------------------------
# the receiver

class Receiver:
    def __init__(self, tls_cert=None, tls_key=None):
        args = ["--token", TOKEN, "--token", f"{ACK_TOKEN}:ack",
                "--token", f"{DISABLED_TOKEN}:disabled", "--index", "main", "--index", "security"]
        if tls_cert:
            args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
        self.proc, info = common.start_hec_receiver(args)
        self.port, self.admin_port, scheme = info["port"], info["admin_port"], info["scheme"]
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def admin(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", data=data,
                                     method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def faults(self, **kw):
        return self.admin("/faults", kw)

    def reset(self):
        self.admin("/reset", {})

    def events(self):
        return self.admin("/events")["events"]

    def requests(self):
        return self.admin("/requests")["requests"]

    def close(self):
        common.stop_process(self.proc)


def hec(method, path, body=b"", headers=None, receiver=None):
    """A raw request to the receiver (for the receiver's own protocol checks)."""
    r = receiver or PLAIN
    req = urllib.request.Request(r.url + path, data=body if method != "GET" else None,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# --------------------------------------------------------------------------------------------
# the tool

def config(url=None, **keys):
    """Writes an [[outputs]] table of type splunk_hec; returns its path."""
    keys.setdefault("token", TOKEN)
    lines = ["[[outputs]]", 'type = "splunk_hec"', 'name = "siem"',
             f'url = "{url or PLAIN.url}"']
    for k, v in keys.items():
        if v is None:
            continue
        lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
    fd, path = tempfile.mkstemp(suffix=".toml", dir=TMP)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_tool(cfg, count, *args, env=None, state_dir=None, timeout=120):
    cmd = [TOOL, cfg, "--count", str(count), "--log-level", "debug",
           "--state-dir", state_dir or os.path.join(TMP, "state")] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=env or dict(os.environ))
    for s in SECRETS:
        assert s not in p.stdout and s not in p.stderr, f"a token leaked:\n{p.stdout}\n{p.stderr}"
    result = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, result, p.stderr


def uid_of(e):
    ev = e["event"]
    if e.get("fields") and "trailwarden_finding_uid" in e["fields"]:
        return e["fields"]["trailwarden_finding_uid"]
    if isinstance(ev, dict) and "ecs" in ev:
        return ev["trailwarden"]["finding_uid"]
    return ev["metadata"]["uid"] if isinstance(ev, dict) and "metadata" in ev else None


def counts(receiver):
    c = {}
    for e in receiver.events():
        u = uid_of(e)
        c[u] = c.get(u, 0) + 1
    return c


def expected(n, prefix="alert", skip=()):
    return {f"{prefix}-{i}" for i in range(n) if i not in skip}


def assert_exactly_once(receiver, n, skip=()):
    c = counts(receiver)
    want = expected(n, skip=skip)
    missing = sorted(want - set(c))
    extra = sorted(set(c) - want)
    dup = sorted(u for u, k in c.items() if k > 1)
    assert not missing and not extra and not dup, \
        f"missing {missing[:10]} extra {extra[:10]} duplicated {dup[:10]}"


def assert_ok(rc, r, err, n_rejected=0):
    assert rc == 0 and r and r["ok"], f"rc={rc} result={r}\n{err}"
    assert len(r["rejected"]) == n_rejected, r


# --------------------------------------------------------------------------------------------
# the receiver itself speaks HEC as documented

def test_receiver_protocol():
    auth = {"Authorization": f"Splunk {TOKEN}"}
    ack_auth = {"Authorization": f"Splunk {ACK_TOKEN}"}
    chan = {"X-Splunk-Request-Channel": "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"}
    ev = b'{"event":"a"}{"event":{"b":1},"time":1.5}'
    assert hec("GET", "/services/collector/health") == (200, {"text": "HEC is healthy",
                                                              "code": 17})
    assert hec("POST", "/services/collector/event", ev) == (401, {"text": "Token is required",
                                                                  "code": 2})
    assert hec("POST", "/services/collector/event", ev,
               {"Authorization": "Bearer x"})[1]["code"] == 3
    assert hec("POST", "/services/collector/event", ev,
               {"Authorization": f"Splunk {WRONG_TOKEN}"}) == (403, {"text": "Invalid token",
                                                                     "code": 4})
    assert hec("POST", "/services/collector/event", ev,
               {"Authorization": f"Splunk {DISABLED_TOKEN}"})[1]["code"] == 1
    assert hec("POST", "/services/collector/event?token=" + TOKEN, ev)[1]["code"] == 16
    assert hec("POST", "/services/collector/event", b"", auth) == (400, {"text": "No data",
                                                                         "code": 5})
    assert hec("POST", "/services/collector/event", ev, auth) == (200, {"text": "Success",
                                                                        "code": 0})
    assert hec("POST", "/services/collector", ev, auth)[0] == 200
    assert hec("POST", "/services/collector/event/1.0", ev, auth)[0] == 200
    assert hec("POST", "/services/collector/nothing", ev, auth)[0] == 404
    # First bad event: the ones before are indexed, nothing after it is processed.
    PLAIN.reset()
    body = b'{"event":"e0"}{"event":"e1"}{"time":3}{"event":"e3"}'
    assert hec("POST", "/services/collector/event", body, auth) == (
        400, {"text": "Event field is required", "code": 12, "invalid-event-number": 2})
    assert [e["event"] for e in PLAIN.events()] == ["e0", "e1"]
    assert hec("POST", "/services/collector/event", b'{"event":"x"}{"event":""}', auth)[1] == {
        "text": "Event field cannot be blank", "code": 13, "invalid-event-number": 1}
    assert hec("POST", "/services/collector/event", b'{"event":"x"} {"event":', auth)[1] == {
        "text": "Invalid data format", "code": 6, "invalid-event-number": 1}
    assert hec("POST", "/services/collector/event", b'{"event":"x","index":"nope"}',
               auth)[1]["code"] == 7
    assert hec("POST", "/services/collector/event", b'{"event":"x","fields":{"a":{"b":1}}}',
               auth)[1]["code"] == 15
    # Channels and acknowledgement.
    assert hec("POST", "/services/collector/event", ev, ack_auth)[1]["code"] == 10
    assert hec("POST", "/services/collector/event", ev,
               {**ack_auth, "X-Splunk-Request-Channel": "not-a-guid"})[1]["code"] == 11
    assert hec("POST", "/services/collector/event", ev, {**ack_auth, **chan}) == (
        200, {"text": "Success", "code": 0, "ackId": 0})
    assert hec("POST", "/services/collector/event?channel=" + chan["X-Splunk-Request-Channel"],
               ev, ack_auth)[1]["ackId"] == 1
    assert hec("POST", "/services/collector/ack", b'{"acks":[0,1,7]}', {**ack_auth, **chan}) == (
        200, {"acks": {"0": True, "1": True, "7": False}})
    assert hec("POST", "/services/collector/ack", b'{"acks":[0]}', {**ack_auth, **chan})[1] == {
        "acks": {"0": False}}  # forgotten once reported
    assert hec("POST", "/services/collector/ack", b'{"acks":[0]}', {**auth, **chan})[1][
        "code"] == 14
    PLAIN.faults(busy=1)
    assert hec("GET", "/services/collector/health")[1]["code"] == 9
    assert hec("POST", "/services/collector/event", ev, auth) == (503, {"text": "Server is busy",
                                                                        "code": 9})


# --------------------------------------------------------------------------------------------
# delivery

def test_delivery_without_ack_exactly_once_gzip_split():
    rc, r, err = run_tool(config(batch_max_bytes=4096), 300)
    assert_ok(rc, r, err)
    assert_exactly_once(PLAIN, 300)
    reqs = PLAIN.requests()
    assert len(reqs) > 10, len(reqs)  # split by batch_max_bytes (and max_batch 500)
    for q in reqs:
        assert q["status"] == 200 and q["path"] == "/services/collector/event", q
        assert q["headers"]["authorization"] == "Splunk <valid>", q
        assert q["headers"].get("content-encoding") == "gzip", q
        assert "x-splunk-request-channel" not in q["headers"], q
    e = PLAIN.events()
    first = next(x for x in e if uid_of(x) == "alert-7")
    assert first["sourcetype"] == "trailwarden:ocsf" and first["source"] == "trailwarden", first
    assert first["index"] == "main" and first["host"] is None, first
    assert abs(first["time"] - 1700000000.007) < 1e-6, first["time"]


def test_delivery_with_ack_exactly_once_and_channel_kept():
    state = os.path.join(TMP, "ack-state")
    PLAIN.faults(ack_after_polls=2)
    cfg = config(token=ACK_TOKEN, ack=True, ack_poll_ms=20, batch_max_bytes=8192)
    rc, r, err = run_tool(cfg, 200, state_dir=state)
    assert_ok(rc, r, err)
    assert_exactly_once(PLAIN, 200)
    channel = open(os.path.join(state, "hec-siem.channel")).read().strip()
    posts = [q for q in PLAIN.requests() if q["path"] == "/services/collector/event"]
    acks = [q for q in PLAIN.requests() if q["path"] == "/services/collector/ack"]
    assert len(posts) > 1 and acks, (len(posts), len(acks))
    for q in posts + acks:
        assert q["headers"]["x-splunk-request-channel"] == channel, q
    ids = sorted({e["ack_id"] for e in PLAIN.events()})
    assert ids == list(range(len(posts))), ids  # per channel, from 0
    # A restart keeps the channel (its ackIds go on).
    rc, r, err = run_tool(cfg, 10, "--uid-prefix", "second", state_dir=state)
    assert_ok(rc, r, err)
    later = [e for e in PLAIN.events() if uid_of(e).startswith("second-")]
    assert len(later) == 10 and all(e["channel"] == channel for e in later)
    assert min(e["ack_id"] for e in later) == len(posts)


def faults_exactly_once(ack):
    PLAIN.faults(busy=3, fail=2, close=2, slow=3, slow_ms=300, ack_after_polls=1 if ack else 0)
    cfg = config(token=ACK_TOKEN if ack else TOKEN, ack=ack, ack_poll_ms=20,
                 batch_max_bytes=6000, timeout_ms=5000)
    rc, r, err = run_tool(cfg, 150)
    assert_ok(rc, r, err)
    assert r["retries"] >= 7, r  # every fault cost one retry
    assert_exactly_once(PLAIN, 150)
    statuses = [q["status"] for q in PLAIN.requests()]
    assert statuses.count(503) == 3 and statuses.count(500) == 2 and statuses.count(0) == 2, \
        statuses
    assert "Server is busy" in err and "Empty reply" in err, err


def test_busy_failing_closing_and_slow_receiver_without_ack():
    faults_exactly_once(ack=False)


def test_busy_failing_closing_and_slow_receiver_with_ack():
    faults_exactly_once(ack=True)


def test_ack_resends_what_the_indexer_lost():
    # The receiver accepts two requests (200 + ackId) but loses their events and never
    # acknowledges them: the output resends after ack_timeout and nothing is missing.
    PLAIN.faults(lose=2)
    cfg = config(token=ACK_TOKEN, ack=True, ack_poll_ms=20, ack_timeout_seconds=1,
                 batch_max_bytes=4096)
    rc, r, err = run_tool(cfg, 100)
    assert_ok(rc, r, err)
    assert r["retries"] >= 1, r
    assert "no indexer acknowledgement" in err, err
    assert_exactly_once(PLAIN, 100)
    assert sum(1 for q in PLAIN.requests() if q.get("lost")) == 2


def test_dropped_ack_duplicates_but_never_loses():
    PLAIN.faults(drop_acks=1)
    cfg = config(token=ACK_TOKEN, ack=True, ack_poll_ms=20, ack_timeout_seconds=1,
                 batch_max_bytes=4096)
    rc, r, err = run_tool(cfg, 60)
    assert_ok(rc, r, err)
    c = counts(PLAIN)
    assert set(c) == expected(60), set(c) ^ expected(60)
    dropped = [q for q in PLAIN.requests() if q.get("ack_dropped")]
    assert len(dropped) == 1
    dup_uids = {u for u, k in c.items() if k > 1}
    in_dropped = {uid_of(e) for e in PLAIN.events() if e["request"] == dropped[0]["n"]}
    assert dup_uids == in_dropped and all(c[u] == 2 for u in dup_uids), (dup_uids, in_dropped)


def test_timeout_is_retried_at_least_once():
    # The timeout bounds every request, the retry too: leave a loaded machine (ASan, a starved
    # receiver) 2 s for a normal one, so only the slowed request times out.
    PLAIN.faults(slow=1, slow_ms=6000)
    rc, r, err = run_tool(config(timeout_ms=2000), 20)
    assert_ok(rc, r, err)
    assert "timed out" in err, err
    c = counts(PLAIN)
    assert set(c) == expected(20) and all(k <= 2 for k in c.values()), c


def test_request_too_large_is_split():
    PLAIN.faults(max_content_length=3000)
    rc, r, err = run_tool(config(gzip=False), 80)
    assert_ok(rc, r, err)
    assert "too large" in err and "sending at most" in err, err
    assert_exactly_once(PLAIN, 80)


# --------------------------------------------------------------------------------------------
# rejects and fatal errors

def test_invalid_events_are_rejected_the_others_indexed_once():
    rc, r, err = run_tool(config(), 40, "--invalid", 5, "--blank", 12, "--blank", 39)
    assert_ok(rc, r, err, n_rejected=3)
    assert sorted(r["rejected"]) == ["alert-12", "alert-39", "alert-5"], r
    assert_exactly_once(PLAIN, 40, skip=(5, 12, 39))
    assert "code 6" in err and "code 13" in err, err


def test_invalid_events_with_ack_are_rejected_and_nothing_is_lost():
    cfg = config(token=ACK_TOKEN, ack=True, ack_poll_ms=20)
    rc, r, err = run_tool(cfg, 30, "--invalid", 10)
    assert_ok(rc, r, err, n_rejected=1)
    assert r["rejected"] == ["alert-10"], r
    c = counts(PLAIN)
    assert set(c) == expected(30, skip=(10,)), c
    # Events before the bad one were indexed without an ackId, so they were sent again.
    assert all(c[f"alert-{i}"] == 2 for i in range(10)), c
    assert all(c[f"alert-{i}"] == 1 for i in range(11, 30)), c


def test_bad_token_is_fatal_and_never_shown():
    for token, text in ((WRONG_TOKEN, 'code 4 "Invalid token"'),
                        (DISABLED_TOKEN, 'code 1 "Token disabled"')):
        rc, r, err = run_tool(config(token=token), 5)
        assert rc == 1 and r["fatal"], (rc, r, err)
        assert "refused the token" in r["message"] and text in r["message"], r
        assert PLAIN.url in r["message"], r
        assert not PLAIN.events()


def test_token_from_env_and_file():
    env = dict(os.environ, TW_TEST_HEC_TOKEN=TOKEN)
    rc, r, err = run_tool(config(token=None, token_env="TW_TEST_HEC_TOKEN"), 3, env=env)
    assert_ok(rc, r, err)
    path = os.path.join(TMP, "hec.token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    rc, r, err = run_tool(config(token=None, token_file=path), 3, "--uid-prefix", "f")
    assert_ok(rc, r, err)
    assert len(PLAIN.events()) == 6


def test_configuration_errors():
    rc, r, err = run_tool(config(tokn="x"), 1)
    # Positions are those of the key (line 5: tokn is written before the token).
    assert rc == 2 and "unknown key 'tokn'" in err and ".toml:5:1:" in err, err
    rc, r, err = run_tool(config(token=None, token_env="TW_TEST_HEC_UNSET"), 1)
    assert rc == 2 and "TW_TEST_HEC_UNSET is not set" in err, err
    rc, r, err = run_tool(config(token_env="X"), 1)
    assert rc == 2 and "exactly one of token, token_env and token_file" in err, err
    rc, r, err = run_tool(config(url="http://10.1.2.3:8088"), 1)
    assert rc == 2 and "plain http" in err, err


def test_wrong_index_and_wrong_url_are_fatal():
    rc, r, err = run_tool(config(index="security"), 4)
    assert_ok(rc, r, err)
    assert {e["index"] for e in PLAIN.events()} == {"security"}
    rc, r, err = run_tool(config(index="nope"), 4, "--uid-prefix", "x")
    assert rc == 1 and r["fatal"] and "index 'nope'" in r["message"], r
    rc, r, err = run_tool(config(url=PLAIN.url + "/splunk/services/collector/event"), 4)
    assert rc == 1 and r["fatal"] and "is the URL a HEC endpoint" in r["message"], r


def test_ack_settings_must_match_the_token():
    # The token wants a channel but the output has ack off: fatal, with the fix in the message.
    rc, r, err = run_tool(config(token=ACK_TOKEN), 3)
    assert rc == 1 and r["fatal"] and "set ack = true" in r["message"], r
    # ack on with a token that has it off: Splunk returns no ackId; delivered, one warning.
    rc, r, err = run_tool(config(ack=True, batch_max_bytes=2048), 40)
    assert_ok(rc, r, err)
    assert err.count("returns no ackId") == 1, err
    assert_exactly_once(PLAIN, 40)


def test_cloudtrail_format_for_the_splunk_add_on():
    rc, r, err = run_tool(config(format="cloudtrail"), 5)
    assert_ok(rc, r, err)
    assert_exactly_once(PLAIN, 5)
    for e in PLAIN.events():
        assert e["sourcetype"] == "aws:cloudtrail", e
        assert e["event"]["eventName"] == "StopConfigurationRecorder", e  # the bare record
        assert e["fields"]["trailwarden_rule_id"] == "cis-4.9", e
        # The route, as flat indexed fields the collector accepts (hec_tool: even i from S3).
        i = int(e["event"]["eventID"].removeprefix("event-"))
        f = e["fields"]
        if i % 2 == 0:
            assert (f["trailwarden_route"], f["trailwarden_verified"]) == ("s3", "true"), e
            assert f["trailwarden_bucket"] == "trail-bucket" and f["trailwarden_key"], e
        else:
            assert (f["trailwarden_route"], f["trailwarden_verified"]) == ("eventbridge", "false"), e
            assert f["trailwarden_eventbridge_event_id"] == f"eb-{i}", e
            assert "trailwarden_bucket" not in f, e


def test_ecs_format_for_elastic():
    # Event 3's finding and record cannot be parsed: its document is still valid ECS (built from
    # the alert's own fields, marked trailwarden.ecs_degraded), indexed, not rejected.
    rc, r, err = run_tool(config(format="ecs"), 6, "--invalid", 3)
    assert_ok(rc, r, err)
    assert_exactly_once(PLAIN, 6)
    for e in PLAIN.events():
        assert e["sourcetype"] == "trailwarden:ecs", e
        d = e["event"]
        assert d["ecs"]["version"] == "8.17.0" and d["event"]["kind"] == "alert", d
        assert d["@timestamp"].endswith("Z") and len(d["@timestamp"]) == 24, d
        assert d["rule"]["id"] == "cis-4.9" and d["event"]["action"] == "StopConfigurationRecorder", d
        assert d["event"]["category"] == ["configuration"] and d["event"]["type"] == ["change"], d
        i = int(d["event"]["id"].removeprefix("event-"))
        t = d["trailwarden"]
        if i == 3:
            assert t["ecs_degraded"] == ["finding", "record"] and "aws" not in d, d
        else:
            assert "ecs_degraded" not in t, d
            assert d["aws"]["cloudtrail"]["event_version"] == "1.08", d
            assert d["event"]["provider"] == "config.amazonaws.com", d
            assert d["@timestamp"] == "2023-11-14T22:13:20.%03dZ" % i, d
        if i % 2 == 0:
            assert (t["route"], t["verified"], t["bucket"]) == ("s3", True, "trail-bucket"), d
        else:
            assert (t["route"], t["verified"]) == ("eventbridge", False), d
            assert t["eventbridge_event_id"] == f"eb-{i}", d


# --------------------------------------------------------------------------------------------
# TLS

def test_tls_with_ca_file():
    rc, r, err = run_tool(config(url=TLS.url, ca_file=os.path.join(TMP, "cert.pem"), ack=True,
                                 token=ACK_TOKEN, ack_poll_ms=20), 50)
    assert_ok(rc, r, err)
    assert_exactly_once(TLS, 50)


def test_tls_to_an_untrusted_certificate_fails():
    rc, r, err = run_tool(config(url=TLS.url), 5, "--max-attempts", 2)
    assert rc == 1 and not r["ok"] and not r["fatal"], (rc, r)
    assert "certificate" in r["message"].lower(), r
    assert not TLS.events()


# --------------------------------------------------------------------------------------------

def main():
    global TOOL, TMP
    TOOL = common.tool_argument(__doc__)
    TMP = tempfile.mkdtemp(prefix="tw-hec-")

    def setup():
        global PLAIN, TLS
        PLAIN = Receiver()
        TLS = Receiver(*common.self_signed_cert(TMP))

    def before_each():
        PLAIN.reset()
        TLS.reset()

    return common.run_suite(common.module_tests(globals()), setup=setup, before_each=before_each,
                            teardown=lambda: common.close_all(PLAIN, TLS), tmp=TMP)


if __name__ == "__main__":
    sys.exit(main())
