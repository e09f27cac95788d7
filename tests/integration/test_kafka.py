#!/usr/bin/env python3
"""The Kafka output (outputs/kafka) against librdkafka's mock cluster, consumed back with kcat.

Run as:  python3 tests/integration/test_kafka.py /path/to/kafka_tool /path/to/kafka_mock_cluster

kafka_mock_cluster (tests/integration/kafka_mock_cluster.cpp) runs three mock brokers that speak
the Kafka protocol on 127.0.0.1 and takes commands on stdin (brokers down/up, topic and produce
errors). kafka_tool (tests/integration/kafka_tool.cpp) builds the output through the real
factory from a TOML file and sends generated alerts the way the pipeline does, sending again
what a kRetry names. kcat (Debian) consumes what arrived. Checked:

  - every alert arrives exactly once, with the configured key (account / rule / uid / none),
    through every compression codec;
  - brokers taken down during a steady stream (one, then all three, long enough for send() to
    report kRetry several times) and brought back: nothing lost, nothing duplicated (the
    idempotent producer, and the output re-attaching retried alerts to their queued messages);
  - oversized alerts (local and broker-side MESSAGE_TOO_LARGE) are rejected, the rest delivered;
  - topic authorization failures (metadata or Produce) and a missing topic are fatal;
  - SASL/PLAIN with the password from ${KAFKA_PASSWORD}: authentication failure is fatal, and the
    password never appears in the output, even with librdkafka's debug logging;
  - MSK IAM: a small fake broker (SaslHandshake + SaslAuthenticate, OAUTHBEARER) receives the
    token, which must decode to a presigned URL whose signature botocore reproduces; no AWS
    secret, session token or bearer token appears in the output.

Every wait is on an event (a line from the tool or the mock cluster, kcat's exit, a token
captured), each with a timeout. Needs kcat and botocore (python3-botocore). The last line printed
is "N passed, N failed"; the exit status is non-zero if any test failed.
"""

import base64
import datetime
import json
import os
import re
import shutil
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

import common
from common import Failure, LineReader, check

TOOL = None
MOCK = None
TMP = None
RESULTS = {"passed": 0, "failed": 0}

KAFKA_PASSWORD = "kafka-pw-Q7x9v2-secret"
AWS_KEY_ID = "ASIAMSKTESTKEY000001"
AWS_SECRET = "msk-Secret/Key+Value=9z8y7x"
AWS_TOKEN = "IQoJb3JpZ2luX2VjEMSK//session+token="


# ---- Processes and their lines ----

class Tool:
    """kafka_tool with its stdout and stderr followed line by line."""

    def __init__(self, config, args=(), env=None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(env or {})
        self.proc = subprocess.Popen([TOOL, config, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)

    def resume(self):
        """Lets a tool paused by --pause-after go on."""
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure(f"kafka_tool did not finish within {timeout} s:\n{self.tail()}")
        self.out.join()
        self.err.join()
        return rc

    def tail(self, n=15):
        return "\n".join(self.out.lines[-n:] + ["-- stderr --"] + self.err.lines[-n:])

    def done_counts(self):
        for line in reversed(self.out.lines):
            m = re.fullmatch(r"done delivered=(\d+) rejected=(\d+) retries=(\d+)", line)
            if m:
                return tuple(int(x) for x in m.groups())
        raise Failure("no done line:\n" + self.tail())

    def rejected(self):
        return {l.split()[1] for l in self.out.lines if l.startswith("rejected ")}


def write_config(name, topic, extra="", properties=None, bootstraps=None):
    lines = ["[[outputs]]", 'type = "kafka"', f'name = "{name}"',
             f'brokers = "{bootstraps or CLUSTER.bootstraps}"', f'topic = "{topic}"', extra]
    if properties:
        lines.append("[outputs.properties]")
        for k, v in properties.items():
            lines.append(f'"{k}" = {json.dumps(v)}')
    path = os.path.join(TMP, name + ".toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def consume(topic, timeout=60):
    """Every message of `topic` as (key or None, payload), read with kcat to the end."""
    return [(m["key"], m["payload"])
            for m in common.kcat_consume(CLUSTER.bootstraps, topic, timeout)]


def expected_key(i, key):
    if key == "account":
        return None if i % 4 == 3 else f"11112222333{i % 3}"
    if key == "rule":
        return f"rule-{i % 5}"
    if key == "uid":
        return f"uid-{i}"
    return None


def check_exactly_once(topic, indexes, key):
    """Every alert of `indexes` is in `topic` exactly once with its key; nothing else is."""
    messages = consume(topic)
    seen = {}
    for k, payload in messages:
        i = json.loads(payload)["i"]
        seen[i] = seen.get(i, 0) + 1
        want = expected_key(i, key)
        check(k == want, f"{topic}: alert {i} has key {k!r}, expected {want!r}")
    dups = sorted(i for i, n in seen.items() if n > 1)
    missing = sorted(set(indexes) - set(seen))
    extra = sorted(set(seen) - set(indexes))
    check(not dups, f"{topic}: {len(dups)} alerts duplicated, e.g. {dups[:10]}")
    check(not missing, f"{topic}: {len(missing)} alerts missing, e.g. {missing[:10]}")
    check(not extra, f"{topic}: unexpected alerts {extra[:10]}")
    return len(messages)


def check_no_secrets(tool, secrets):
    text = tool.out.text() + "\n" + tool.err.text()
    for s in secrets:
        check(s not in text, f"a secret ({s[:4]}...) appears in kafka_tool's output")


# ---- Tests ----

def test_keys_and_compression():
    codecs = {"account": "zstd", "rule": "lz4", "uid": "gzip", "none": "snappy"}
    for key, codec in codecs.items():
        topic = f"keys-{key}"
        cfg = write_config(f"keys-{key}", topic,
                           f'key = "{key}"\ncompression = "{codec}"\ndelivery_timeout_ms = 10000')
        t = Tool(cfg, ["--count", "60", "--batch", "16"])
        rc = t.wait(60)
        check(rc == 0, f"key {key}: exit {rc}\n{t.tail()}")
        check(t.done_counts()[:2] == (60, 0), f"key {key}: {t.done_counts()}")
        n = check_exactly_once(topic, range(60), key)
        check(n == 60, f"{topic}: {n} messages")
    # compression "none" too.
    cfg = write_config("plain", "plain", 'compression = "none"')
    t = Tool(cfg, ["--count", "5"])
    check(t.wait(60) == 0, t.tail())
    check_exactly_once("plain", range(5), "account")


def test_ecs_format():
    # format = "ecs": each message value is an ECS document (kafka_tool's findings carry no OCSF
    # metadata and its records no fields, so they are built from the alerts' own fields).
    cfg = write_config("ecs", "ecs", 'format = "ecs"\nkey = "uid"')
    t = Tool(cfg, ["--count", "6"])
    check(t.wait(60) == 0, t.tail())
    messages = consume("ecs")
    check(len(messages) == 6, f"ecs: {len(messages)} messages")
    seen = set()
    for k, payload in messages:
        d = json.loads(payload)
        uid = d["trailwarden"]["finding_uid"]
        seen.add(uid)
        check(k == uid, f"ecs: key {k!r} for {uid}")
        check(d["ecs"]["version"] == "8.17.0" and d["event"]["kind"] == "alert", payload)
        check(d["event"]["action"] == "StopConfigurationRecorder", payload)
        check(d["rule"]["id"] == "rule-" + str(int(uid.removeprefix("uid-")) % 5), payload)
        check(d["cloud"]["region"] == "us-east-1", payload)
    check(seen == {f"uid-{i}" for i in range(6)}, f"ecs: {sorted(seen)}")


def test_outage_no_loss_no_duplicates():
    topic = "outage"
    CLUSTER.command(f"create {topic} 6 3")
    # The mock picks each partition's leader at random; broker 1 must lead some (two) of them,
    # or taking it down changes nothing (a run in CI met that, about 1 in 11).
    for p in range(6):
        CLUSTER.command(f"leader {topic} {p} {p % 3 + 1}")
    cfg = write_config("outage", topic, 'key = "uid"\ndelivery_timeout_ms = 1000')
    count = 3000
    t = Tool(cfg, ["--count", str(count), "--batch", "25", "--interval-ms", "5",
                   "--pause-after", "400"])
    i = t.out.wait_for(lambda l: l.startswith("paused "), 60, what="400 alerts delivered")
    # One broker down: the partitions it leads stall until send() gives up on them. The tool
    # waits until the broker is down, so the rest of the stream meets the outage however fast
    # or slow the machine is.
    CLUSTER.command("down 1")
    t.resume()
    i = t.out.wait_for(lambda l: "status=retry" in l, 60, start=i, what="a retry (1 broker down)")
    # All brokers down, for at least three more give-ups.
    CLUSTER.command("down 2")
    CLUSTER.command("down 3")
    i = len(t.out.lines) - 1  # count only give-ups reported after every broker is down
    for n in range(3):
        i = t.out.wait_for(lambda l: "status=retry" in l, 60, start=i + 1,
                           what=f"retry {n + 1} with all brokers down")
    t.err.wait_for(lambda l: "_ALL_BROKERS_DOWN" in l, 30, what="the all-brokers-down warning")
    for b in (1, 2, 3):
        CLUSTER.command(f"up {b}")
    rc = t.wait(180)
    check(rc == 0, f"exit {rc}\n{t.tail()}")
    delivered, rejected, retries = t.done_counts()
    check((delivered, rejected) == (count, 0), f"done line {t.done_counts()}")
    check(retries >= 4, f"only {retries} retries: the outage was not seen")
    check_exactly_once(topic, range(count), "uid")


def test_message_too_large_is_rejected():
    # Locally: larger than message.max.bytes.
    cfg = write_config("big", "big", "delivery_timeout_ms = 10000")
    t = Tool(cfg, ["--count", "20", "--big", "5", "--big", "12"])
    check(t.wait(60) == 0, t.tail())
    check(t.rejected() == {"uid-5", "uid-12"}, f"rejected {t.rejected()}")
    check(any("MSG_SIZE_TOO_LARGE" in l for l in t.out.lines), t.tail())
    check_exactly_once("big", [i for i in range(20) if i not in (5, 12)], "account")
    # Broker-side: the next Produce request is answered MESSAGE_TOO_LARGE (10).
    CLUSTER.command("create big-broker 1 3")
    CLUSTER.command("produce_errors 10 1")
    cfg = write_config("big-broker", "big-broker", "delivery_timeout_ms = 10000")
    t = Tool(cfg, ["--count", "30", "--batch", "10", "--interval-ms", "0"])
    check(t.wait(60) == 0, t.tail())
    delivered, rejected, _ = t.done_counts()
    check(rejected > 0 and delivered + rejected == 30, f"done line {t.done_counts()}")
    rejected_i = {int(u.split("-")[1]) for u in t.rejected()}
    check_exactly_once("big-broker", [i for i in range(30) if i not in rejected_i], "account")


def run_fatal(name, topic, expect, extra="delivery_timeout_ms = 2000", properties=None, env=None,
              args=()):
    cfg = write_config(name, topic, extra, properties)
    t = Tool(cfg, ["--count", "10", *args], env=env)
    rc = t.wait(90)
    check(rc == 4, f"{name}: expected exit 4 (fatal), got {rc}\n{t.tail()}")
    line = next((l for l in t.out.lines if "status=fatal" in l), "")
    check(expect in line, f"{name}: fatal line {line!r} lacks {expect}")
    return t


def test_authorization_and_missing_topic_are_fatal():
    CLUSTER.command("topic_error denied 29")  # TOPIC_AUTHORIZATION_FAILED in metadata
    run_fatal("denied", "denied", "TOPIC_AUTHORIZATION_FAILED")
    CLUSTER.command("create denied-produce 1 3")
    CLUSTER.command("produce_errors 29 1")  # ... in the Produce response
    run_fatal("denied-produce", "denied-produce", "TOPIC_AUTHORIZATION_FAILED")
    CLUSTER.command("topic_error missing 3")  # UNKNOWN_TOPIC_OR_PART: no such topic
    run_fatal("missing", "missing", "UNKNOWN_TOPIC_OR_PART")


def test_sasl_password_from_environment():
    t = run_fatal("sasl", "sasl", "_AUTHENTICATION",
                  properties={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                              "sasl.username": "trailwarden",
                              "sasl.password": "${KAFKA_PASSWORD}", "debug": "all"},
                  env={"KAFKA_PASSWORD": KAFKA_PASSWORD}, args=["--log-level", "debug"])
    check(len(t.err.lines) > 50, "expected librdkafka's debug logging")
    check_no_secrets(t, [KAFKA_PASSWORD])
    # Unset: a configuration error naming the variable, exit 2.
    cfg = write_config("sasl-unset", "sasl",
                       properties={"security.protocol": "SASL_PLAINTEXT",
                                   "sasl.mechanisms": "PLAIN", "sasl.username": "u",
                                   "sasl.password": "${KAFKA_PASSWORD}"})
    t = Tool(cfg)
    check(t.wait(30) == 2, t.tail())
    check("environment variable KAFKA_PASSWORD is not set" in t.err.text(), t.tail())


# A fake broker that knows just enough of the Kafka protocol for SASL/OAUTHBEARER: ApiVersions,
# SaslHandshake and SaslAuthenticate (which it refuses after recording the token).
class FakeSaslBroker(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeSaslHandler)
        self.tokens = []
        self.got_token = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class FakeSaslHandler(socketserver.BaseRequestHandler):
    API_VERSIONS = [(0, 0, 7), (3, 0, 4), (17, 0, 1), (18, 0, 2), (22, 0, 1), (36, 0, 1)]

    def read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def send(self, correlation_id, body):
        payload = struct.pack(">i", correlation_id) + body
        self.request.sendall(struct.pack(">i", len(payload)) + payload)

    def handle(self):
        try:
            while True:
                size = struct.unpack(">i", self.read_exact(4))[0]
                req = self.read_exact(size)
                api_key, api_version, corr = struct.unpack(">hhi", req[:8])
                client_len = struct.unpack(">h", req[8:10])[0]
                body = req[10 + max(client_len, 0):]
                if api_key == 18:  # ApiVersions
                    entries = b"".join(struct.pack(">hhh", *v) for v in self.API_VERSIONS)
                    if api_version > 2:  # answer in v0 form: UNSUPPORTED_VERSION + what we speak
                        self.send(corr, struct.pack(">hi", 35, len(self.API_VERSIONS)) + entries)
                    else:
                        extra = struct.pack(">i", 0) if api_version >= 1 else b""
                        self.send(corr, struct.pack(">hi", 0, len(self.API_VERSIONS)) + entries +
                                  extra)
                elif api_key == 17:  # SaslHandshake
                    self.send(corr, struct.pack(">hi", 0, 1) + kstr("OAUTHBEARER"))
                elif api_key == 36:  # SaslAuthenticate
                    n = struct.unpack(">i", body[:4])[0]
                    auth = body[4:4 + n].decode("utf-8", "replace")
                    m = re.search(r"auth=Bearer ([A-Za-z0-9_\-]+)\x01", auth)
                    if m:
                        self.server.tokens.append(m.group(1))
                        self.server.got_token.set()
                    resp = struct.pack(">h", 58) + kstr("test broker refuses everyone") + \
                        struct.pack(">i", 0)
                    if api_version >= 1:
                        resp += struct.pack(">q", 0)
                    self.send(corr, resp)
                else:
                    return
        except (EOFError, ConnectionError, struct.error):
            return


def verify_msk_token(token, region):
    """Decodes the token and recomputes its signature with botocore."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parts = urllib.parse.urlsplit(url)
    check(parts.scheme == "https" and parts.netloc == f"kafka.{region}.amazonaws.com"
          and parts.path == "/", f"token URL {parts.scheme}://{parts.netloc}{parts.path}")
    q = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    check(q["Action"] == ["kafka-cluster:Connect"], f"Action {q.get('Action')}")
    check(q["X-Amz-Expires"] == ["900"], f"X-Amz-Expires {q.get('X-Amz-Expires')}")
    check(q["X-Amz-Security-Token"] == [AWS_TOKEN], "X-Amz-Security-Token")
    check(q["User-Agent"][0].startswith("trailwarden/"), f"User-Agent {q.get('User-Agent')}")
    signed_at = datetime.datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    age = abs((datetime.datetime.utcnow() - signed_at).total_seconds())
    check(age < 300, f"token signed {age} s from now")
    with common.botocore_clock_at(signed_at):
        req = AWSRequest(method="GET", url=f"https://kafka.{region}.amazonaws.com/",
                         params={"Action": "kafka-cluster:Connect"})
        SigV4QueryAuth(Credentials(AWS_KEY_ID, AWS_SECRET, AWS_TOKEN), "kafka-cluster", region,
                       expires=900).add_auth(req)
        req.params = {"User-Agent": q["User-Agent"][0]}
        expected = req.prepare().url
    check(url == expected, f"token URL differs from botocore's:\n  {url}\n  {expected}")


def test_msk_iam_token_reaches_the_broker():
    broker = FakeSaslBroker()
    try:
        port = broker.server_address[1]
        region = "eu-west-1"
        env = {"AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
               "AWS_SESSION_TOKEN": AWS_TOKEN, "AWS_REGION": region}
        cfg = write_config("msk", "msk", "msk_iam = true\ndelivery_timeout_ms = 5000",
                           {"security.protocol": "SASL_PLAINTEXT", "debug": "security,broker"},
                           bootstraps=f"127.0.0.1:{port}")
        t = Tool(cfg, ["--count", "3", "--log-level", "debug"], env=env)
        check(broker.got_token.wait(30), "the fake broker received no OAUTHBEARER token")
        rc = t.wait(60)
        check(rc == 4, f"expected exit 4 (authentication failure is fatal), got {rc}\n{t.tail()}")
        check(any("_AUTHENTICATION" in l or "SASL_AUTHENTICATION_FAILED" in l
                  for l in t.out.lines if "status=fatal" in l), t.tail())
        verify_msk_token(broker.tokens[0], region)
        check_no_secrets(t, [AWS_SECRET, AWS_TOKEN] + broker.tokens)
        # Without a region the configuration is refused before anything connects.
        t = Tool(cfg, env={k: v for k, v in env.items() if k != "AWS_REGION"})
        check(t.wait(30) == 2 and "needs the AWS region" in t.err.text(), t.tail())
    finally:
        broker.shutdown()
        broker.server_close()


CLUSTER = None


def main():
    global TOOL, MOCK, TMP, CLUSTER
    if len(sys.argv) != 3:
        return common.cannot_run(__doc__)
    TOOL, MOCK = sys.argv[1], sys.argv[2]
    if not shutil.which("kcat"):
        return common.cannot_run(
            "kcat is not installed (Debian package kcat; scripts/setup.sh installs it)")
    TMP = tempfile.mkdtemp(prefix="tw-kafka-")
    tests = [test_keys_and_compression, test_ecs_format, test_outage_no_loss_no_duplicates,
             test_message_too_large_is_rejected, test_authorization_and_missing_topic_are_fatal,
             test_sasl_password_from_environment, test_msk_iam_token_reaches_the_broker]
    try:
        CLUSTER = common.MockCluster(MOCK)
        for test in tests:
            start = time.monotonic()
            try:
                test()
                RESULTS["passed"] += 1
                print(f"PASS {test.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
            except Exception as e:  # noqa: BLE001 - any failure is reported, then the next test
                RESULTS["failed"] += 1
                detail = common.failure_detail(e)
                print(f"FAIL {test.__name__}: {detail}", flush=True)
                for b in (1, 2, 3):  # leave the cluster whole for the next test
                    try:
                        CLUSTER.command(f"up {b}")
                    except Exception:  # noqa: BLE001
                        pass
        rc = CLUSTER.stop()
        if rc != 0:
            RESULTS["failed"] += 1
            print(f"FAIL kafka_mock_cluster exited {rc} at end of input")
    except Exception:  # noqa: BLE001
        RESULTS["failed"] += 1
        print(f"FAIL setup: {traceback.format_exc()}")
        if CLUSTER:
            CLUSTER.proc.kill()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return common.summary(RESULTS["passed"], RESULTS["failed"])


if __name__ == "__main__":
    sys.exit(main())
