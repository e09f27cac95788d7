#!/usr/bin/env python3
"""`trailwarden run` end to end against the strict AWS stand-in (peers/strict_aws.py): an S3
notification on the queue -> GetObject -> the alert in a file output -> the message deleted, with
every request's SigV4 signature, region, service, clock, session token and permission checked
as AWS checks them.

Usage: python3 tests/integration/test_strict_aws.py /path/to/trailwarden_failpoints [NAME]

The l. tests drive the S3 and CloudTrail clients of digest validation alone (object metadata,
ListObjectsV2, ListPublicKeys) through aws_clients_tool (TW_AWS_CLIENTS_TOOL, else the file of
that name next to the binary).

The binary must be the test build `trailwarden_failpoints`: the agent uses AWS's real host
names (sqs.eu-west-1.amazonaws.com, BUCKET.s3.cn-north-1.amazonaws.com.cn, ...) and
TRAILWARDEN_TEST_CONNECT_TO (agent/http/test_hooks.h) sends every connection to the stand-in on
127.0.0.1, with TLS verified against the stand-in's throw-away CA ([aws] ca_file). One stand-in
serves the whole suite on free ports; each test has its own queue, bucket and access key.

Several tests are for parts of issue 10 done on other branches; each says which part it needs,
and fails on a tree without it because of the defect it names (not a harness problem).

Waiting: the tests poll the alert file, the stand-in's queue state and request log (every 50 ms,
bounded); they never sleep for a fixed time.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import common
from common import alerts_in, check, event_id, key_for, log_file

sys.path.insert(0, str(common.PEERS))
import fauxqs  # noqa: E402 - the notification body builders only (no emulator is started)
import strict_aws  # noqa: E402

wait_until = functools.partial(common.wait_until, interval=0.05)

BINARY: str = ""
CLIENTS_TOOL: str = ""  # aws_clients_tool (TW_AWS_CLIENTS_TOOL, else next to BINARY)
TMP = Path(tempfile.mkdtemp(prefix="tw-strict-"))
SA: strict_aws.StrictAws | None = None
ACCOUNT = "111122223333"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSTRICTKEY"
S3_ALIAS = "s3-vpce.strict.test"  # a custom S3 endpoint (AWS_ENDPOINT_URL_S3), us-east-1
SQS_ALIAS = "sqs-vpce.strict.test"  # a custom SQS endpoint (AWS_ENDPOINT_URL_SQS), us-east-1
# VPC interface endpoints' own names in eu-west-1 (the forms AWS gives them).
SQS_VPCE = "vpce-0abc-xyz.sqs.eu-west-1.vpce.amazonaws.com"
S3_VPCE = "bucket.vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com"
STS_VPCE = "vpce-0abc-xyz.sts.eu-west-1.vpce.amazonaws.com"
FAIL_WAIT = 20  # seconds a test waits for what only a fixed agent does


def policy(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions, resources) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def documented_policy(bucket: str, region: str, queue: str, partition: str = "aws",
                      extra_s3=()) -> dict:
    """The agent's policy as docs/aws.md documents it: the SQS calls on the queue and
    s3:GetObject on the bucket's objects (no ListBucket, no GetObjectVersion)."""
    return policy(
        allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
              f"arn:{partition}:sqs:{region}:{ACCOUNT}:{queue}"),
        allow(["s3:GetObject", *extra_s3], f"arn:{partition}:s3:::{bucket}/*"))


class Setup:
    """One scenario: an access key with its policy, a bucket, a queue, objects and messages."""

    def __init__(self, name: str, queue_url: str, bucket_region: str = "us-east-1",
                 versioning: bool = False, s3_actions=(), key_policy: dict | None = None,
                 owner: str = ACCOUNT, bucket: str | None = None):
        self.name = name
        self.access_key = "AKIA" + name.upper().replace("-", "")[:12].ljust(12, "X") + "TEST"
        self.bucket = bucket or f"trail-{name}"
        self.queue_url = queue_url
        region, _, queue = strict_aws.queue_key(queue_url)
        partition = strict_aws.partition_of(region)
        self.arn_partition = partition
        SA.principal(self.access_key, SECRET, key_policy if key_policy is not None else
                     documented_policy(self.bucket, region, queue, partition, s3_actions))
        SA.bucket(self.bucket, bucket_region, owner=owner, versioning=versioning)
        SA.queue(queue_url)

    def put(self, tag: str, key: str | None = None) -> tuple[str, str, set[str]]:
        """(key, version id, eventIDs CIS 4.9 must match) of a new CloudTrail file."""
        data, expected = log_file(f"{self.name}-{tag}")
        key = key or key_for(f"{self.name}-{tag}")
        return key, SA.put_object(self.bucket, key, data), expected

    def notify(self, key: str, **record_args) -> None:
        SA.send(self.queue_url, fauxqs.s3_event_body(self.bucket, key, **record_args))

    def state(self) -> dict:
        return SA.queue_state(self.queue_url)

    def requests(self) -> list[dict]:
        """The stand-in's log of the requests made with this scenario's access key."""
        return [e for e in SA.log() if e["access_key"] == self.access_key]


class Agent:
    """`trailwarden_failpoints run` with the stand-in's CA, every connection sent to it."""

    def __init__(self, s: Setup, region: str = "us-east-1", env: dict | None = None,
                 aws_extra: str = "", sqs_extra: str = "", secret: str = SECRET,
                 access_key: str | None = None):
        self.dir = TMP / s.name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "state").mkdir(exist_ok=True)
        self.alerts = self.dir / "alerts.ndjson"
        config = self.dir / "trailwarden.toml"
        config.write_text(f"""
[general]
log_level = "info"
state_dir = "{self.dir / 'state'}"
[aws]
region = "{region}"
ca_file = "{SA.ca_file}"
{aws_extra}
[source.sqs]
queue_url = "{s.queue_url}"
wait_time_seconds = 1
visibility_timeout_seconds = 30
allowed_buckets = ["{s.bucket}"]
workers = 2
shutdown_timeout_seconds = 5
{sqs_extra}
[metrics]
listen = "127.0.0.1:0"
[[outputs]]
type = "file"
path = "{self.alerts}"
""")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(AWS_ACCESS_KEY_ID=access_key or s.access_key,
                        AWS_SECRET_ACCESS_KEY=secret, AWS_EC2_METADATA_DISABLED="true",
                        AWS_CONFIG_FILE=str(self.dir / "no-config"),
                        AWS_SHARED_CREDENTIALS_FILE=str(self.dir / "no-credentials"),
                        HOME=str(self.dir), TRAILWARDEN_TEST_CONNECT_TO=SA.connect_to)
        full_env.pop("TRAILWARDEN_FAILPOINT", None)
        full_env.update(env or {})
        self.stderr_path = self.dir / "stderr.log"
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([BINARY, "-c", str(config), "run"], env=full_env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        """Samples of the agent's /metrics (it listens on port 0: the port is in its log)."""
        m = wait_until(lambda: re.search(r"metrics and health checks on (http://[0-9.:]+)/metrics",
                                         self.log()), 30, "the metrics endpoint")
        status, text = common.http_get(m.group(1) + "/metrics")
        check(status == 200, f"/metrics: {status}")
        return common.parse_metrics(text)

    def event_ids(self) -> set[str]:
        return {event_id(a) for a in alerts_in(self.alerts)}

    def wait_alerts(self, expected: set[str], timeout: float = 30, why: str = ""):
        """Until every expected alert is in the file; fails at once if the agent exits."""
        def done():
            if self.proc.poll() is not None:
                raise common.Failure(f"the agent exited with {self.proc.returncode} before "
                                     f"delivering{why}:\n{self.log()[-3000:]}")
            return self.event_ids() >= expected
        try:
            wait_until(done, timeout, "every expected alert" + why)
        except common.Failure as e:
            if "timed out" in str(e):
                raise common.Failure(f"{e}\nagent log:\n{self.log()[-3000:]}") from None
            raise

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.stderr.close()
        return rc


def run_to_delivery(s: Setup, expected: set[str], messages: int = 1, why: str = "",
                    timeout: float = 30, metrics: dict | None = None, **agent_args) -> Agent:
    """Starts an agent, waits for `expected` and for `messages` deletions with nothing left on
    the queue, stops it (exit 0), and checks no alert came twice. `metrics`, if given, receives
    the agent's /metrics samples taken before it stops."""
    agent = Agent(s, **agent_args)
    try:
        agent.wait_alerts(expected, timeout, why)
        wait_until(lambda: s.state()["deleted"] == messages and s.state()["visible"] == 0 and
                   s.state()["in_flight"] == 0, 20, f"{messages} message(s) deleted")
        if metrics is not None:
            metrics.update(agent.metrics())
    finally:
        rc = agent.stop()
    check(rc == 0, f"agent exit status {rc}:\n{agent.log()[-2000:]}")
    ids = [event_id(a) for a in alerts_in(agent.alerts)]
    check(len(ids) == len(set(ids)), "an alert was delivered twice")
    check(set(ids) == expected, f"unexpected alerts {set(ids) - expected}")
    return agent


def errors(entries: list[dict]) -> list[tuple]:
    return [(e["host"], e["action"], e["status"], e["error"]) for e in entries
            if e["status"] >= 300]


# ---- The connect-to hook of the test build ----

def test_0_connect_to_hook_malformed_value_exits_2():
    env = {k: v for k, v in os.environ.items() if k != "TRAILWARDEN_FAILPOINT"}
    for bad in ("garbage", "::127.0.0.1:99999", "a:b:c:d", "::127.0.0.1:8443,", ":::"):
        p = subprocess.run([BINARY, "--version"], env={**env, "TRAILWARDEN_TEST_CONNECT_TO": bad},
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and "TRAILWARDEN_TEST_CONNECT_TO: cannot parse" in p.stderr,
              f"{bad!r}: exit {p.returncode}, stderr {p.stderr!r}")
    for good in ("::127.0.0.1:8443", "sqs.us-east-1.amazonaws.com:443:127.0.0.1:8443,::[::1]:9"):
        p = subprocess.run([BINARY, "--version"], env={**env, "TRAILWARDEN_TEST_CONNECT_TO": good},
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, f"{good!r}: exit {p.returncode}, stderr {p.stderr!r}")


# ---- The stand-in itself refuses what AWS refuses (requests signed by botocore) ----

def raw_request(host: str, method: str, path: str, service: str, region: str, *,
                key: str, secret: str, token: str | None = None, body: bytes = b"",
                headers: dict | None = None, at=None, sign: bool = True):
    """One request to the stand-in for `host` (TLS verified for that name), signed by
    botocore's signer (S3SigV4Auth for s3) as of `at` (naive UTC; default now). Returns
    (status, headers with lower-case names, body text)."""
    import datetime
    import http.client
    import socket
    import ssl
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    r = AWSRequest(method=method, url=f"https://{host}{path}", data=body,
                   headers=dict(headers or {}))
    if sign:
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        with common.botocore_clock_at(at or datetime.datetime.utcnow()):
            signer(Credentials(key, secret, token), service, region).add_auth(r)
    p = r.prepare()
    ctx = ssl.create_default_context(cafile=str(SA.ca_file))
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", SA.port)),
                                server_hostname=host)
    send_headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in p.headers.items()}
    send_headers["Host"] = host
    conn.request(method, p.url.split(host, 1)[1], body=body, headers=send_headers)
    resp = conn.getresponse()
    dates = [v for k, v in resp.getheaders() if k.lower() == "date"]
    check(len(dates) == 1, f"{len(dates)} Date headers: {dates}")
    out = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode())
    conn.close()
    return out


def test_0_stand_in_refuses_what_aws_refuses():
    import datetime
    import email.utils
    import json as json_
    import re as re_

    key = "AKIASTANDINSELFTEST1"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/stand-in-check"
    SA.principal(key, SECRET, policy(allow("s3:GetObject", "arn:aws:s3:::trail-check/*"),
                                     allow("s3:ListBucket", "arn:aws:s3:::trail-check"),
                                     allow("sqs:*", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q-check"),
                                     allow("sts:AssumeRole", role_arn)))
    SA.bucket("trail-check", "eu-central-1", versioning=True)
    SA.put_object("trail-check", "a b+c.json", b"{}")
    q = SA.queue(f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/q-check")
    SA.role(role_arn, policy(allow("sqs:*", "*")), trusted=[key], web_identity=True)
    s3 = "trail-check.s3.eu-central-1.amazonaws.com"
    creds = {"key": key, "secret": SECRET}
    sqs_body = json_.dumps({"QueueUrl": q, "WaitTimeSeconds": 0}).encode()
    sqs_headers = {"Content-Type": "application/x-amz-json-1.0",
                   "X-Amz-Target": "AmazonSQS.ReceiveMessage"}

    def sqs(region="eu-west-1", service="sqs", host="sqs.eu-west-1.amazonaws.com", **kw):
        args = {**creds, **kw}
        return raw_request(host, "POST", "/", service, region, body=sqs_body,
                           headers=sqs_headers, **args)

    # Correct requests pass, with a Date header on the stand-in's clock.
    SA.set_clock_offset(3600)
    status, h, _ = sqs(at=datetime.datetime.utcnow() + datetime.timedelta(hours=1))
    check(status == 200, f"a correct SQS request: {status}")
    date = email.utils.parsedate_to_datetime(h["date"])
    drift = abs((date - datetime.datetime.now(datetime.timezone.utc)).total_seconds() - 3600)
    check(drift < 5, f"Date header {h['date']} is not the stand-in's clock")
    SA.set_clock_offset(0)
    check(sqs(host="eu-west-1.queue.amazonaws.com")[0] == 200, "the legacy queue host")
    status, _, text = raw_request(s3, "GET", "/a%20b%2Bc.json", "s3", "eu-central-1", **creds)
    check(status == 200 and text == "{}", f"a correct GetObject: {status} {text}")
    # Region and service of the credential scope.
    status, h, text = sqs(region="us-west-2")
    check(status == 403 and "Credential should be scoped to a valid region, not 'us-west-2'"
          in text and h.get("x-amzn-query-error") == "SignatureDoesNotMatch;Sender",
          f"SQS signed for another region: {status} {h} {text}")
    status, _, text = sqs(service="sts")
    check(status == 403 and "Credential should be scoped to correct service: 'sqs'" in text,
          f"SQS signed for another service: {status} {text}")
    check(sqs(host="sqs.us-east-1.amazonaws.com", region="us-east-1")[2].find(
        "QueueDoesNotExist") >= 0, "a queue asked for at another region's endpoint")
    status, _, text = sqs(secret=SECRET[:-1] + "x")
    check(status == 403 and "does not match the signature" in text, f"wrong secret: {status}")
    # S3: redirects and region errors.
    status, h, text = raw_request("trail-check.s3.us-east-1.amazonaws.com", "GET",
                                  "/a%20b%2Bc.json", "s3", "us-east-1", **creds)
    check(status == 301 and h.get("x-amz-bucket-region") == "eu-central-1",
          f"another region's endpoint: {status} {h}")
    status, _, text = raw_request("s3.amazonaws.com", "GET", "/trail-check/a%20b%2Bc.json", "s3",
                                  "us-east-1", **creds)
    check(status == 400 and "<Code>AuthorizationHeaderMalformed</Code>" in text and
          "<Region>eu-central-1</Region>" in text, f"global endpoint, wrong region: {text}")
    # Clock: 20 minutes off.
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    status, _, text = raw_request(s3, "GET", "/a%20b%2Bc.json", "s3", "eu-central-1", at=old,
                                  **creds)
    check(status == 403 and "<Code>RequestTimeTooSkewed</Code>" in text, f"S3 skew: {text}")
    status, _, text = sqs(at=old)
    check(status == 403 and "Signature expired" in text, f"SQS skew: {status} {text}")
    # Permissions: versions, missing keys, owner, unsigned x-amz-* headers.
    vid = SA.put_object("trail-check", "v.json", b"{}")
    status, _, text = raw_request(s3, "GET", f"/v.json?versionId={vid}", "s3", "eu-central-1",
                                  **creds)
    check(status == 403 and "AccessDenied" in text, f"versionId without s3:GetObjectVersion: "
          f"{status}")
    status, _, text = raw_request(s3, "GET", "/missing.json", "s3", "eu-central-1", **creds)
    check(status == 404 and "NoSuchKey" in text, f"missing key with ListBucket: {status} {text}")
    status, _, text = raw_request(s3, "GET", "/a%20b%2Bc.json", "s3", "eu-central-1",
                                  headers={"x-amz-expected-bucket-owner": "999999999999"}, **creds)
    check(status == 403 and "AccessDenied" in text, f"another expected owner: {status}")
    status, h, text = raw_request(s3, "GET", "/a%20b%2Bc.json", "s3", "eu-central-1", **creds)
    check(status == 200, f"{status} {text}")
    # STS: temporary credentials need their token.
    form = f"Action=AssumeRole&Version=2011-06-15&RoleArn={role_arn}&RoleSessionName=check"
    status, _, text = raw_request("sts.us-east-1.amazonaws.com", "POST", "/", "sts", "us-east-1",
                                  body=form.encode(), headers={
                                      "Content-Type": "application/x-www-form-urlencoded"},
                                  **creds)
    check(status == 200, f"AssumeRole: {status} {text}")
    temp = dict(re_.findall(r"<(AccessKeyId|SecretAccessKey|SessionToken)>([^<]+)<", text))
    check(temp["AccessKeyId"].startswith("ASIA"), text)
    status, _, text = sqs(key=temp["AccessKeyId"], secret=temp["SecretAccessKey"])
    check(status == 403 and "security token included in the request is invalid" in text,
          f"temporary key without its token: {status} {text}")
    status, _, text = sqs(key=temp["AccessKeyId"], secret=temp["SecretAccessKey"],
                          token=temp["SessionToken"])
    check(status == 200, f"temporary key with its token: {status} {text}")
    web = (f"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={role_arn}"
           "&RoleSessionName=web&WebIdentityToken=eyJ.token")
    status, _, text = raw_request("sts.amazonaws.com", "POST", "/", "sts", "us-east-1",
                                  body=web.encode(), sign=False, key="", secret="", headers={
                                      "Content-Type": "application/x-www-form-urlencoded"})
    check(status == 200 and "<SessionToken>" in text, f"AssumeRoleWithWebIdentity: {text}")


# ---- a. baseline ----

def test_a_baseline_every_request_verified():
    s = Setup("base", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-base")
    key, _, expected = s.put("0")
    s.notify(key)
    run_to_delivery(s, expected)
    log = s.requests()
    check(not errors(log), f"requests refused: {errors(log)}")
    hosts = {e["host"] for e in log if e["service"] != "sts"}
    check(hosts == {"sqs.us-east-1.amazonaws.com", f"{s.bucket}.s3.us-east-1.amazonaws.com"},
          f"hosts {hosts}")
    actions = {e["action"] for e in log}
    check({"ReceiveMessage", "DeleteMessageBatch", "GetObject"} <= actions, f"actions {actions}")
    gets = [e for e in log if e["action"] == "GetObject"]
    check([e["key"] for e in gets] == [key], f"GetObject of {[e['key'] for e in gets]}")


def test_a_wrong_secret_clear_error_nothing_deleted():
    s = Setup("badsecret", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-badsecret")
    key, _, _ = s.put("0")
    s.notify(key)
    agent = Agent(s, secret=SECRET[:-4] + "XXXX")
    try:
        wait_until(lambda: "SignatureDoesNotMatch" in agent.log() or
                   agent.proc.poll() is not None, 30, "the agent to report the signature error")
    finally:
        agent.stop()
    log = s.requests()
    check(log and all(e["status"] == 403 for e in log) and
          not {e["action"] for e in log} & {"DeleteMessageBatch", "DeleteMessage", "GetObject"},
          f"requests: {errors(log) or log}")
    check(any("request signature we calculated does not match" in (e["message"] or "")
              for e in log), "the stand-in did not refuse the signature")
    text = agent.log()
    check("SignatureDoesNotMatch" in text or "InvalidSignatureException" in text,
          f"the agent's error does not name the signature failure:\n{text[-2000:]}")
    # The start-up line names the identity (shortened key id and provider), never the secret.
    check(re.search(r"AWS credentials: \w{4}\.\.\.\w{4} from environment, long-term", text),
          f"no start-up line naming the credentials:\n{text[-2000:]}")
    check(SECRET[:-4] not in text, "the secret is in the log")
    st = s.state()
    check(st["deleted"] == 0 and st["receives"] == 0, f"queue {st}")
    check(not alerts_in(agent.alerts), "alerts without a valid signature")


# ---- b. SQS region from the queue URL (part B) ----

def _sqs_region_test(name: str, queue_url: str):
    # Part B (SQS signing region from the queue URL): today the agent signs for AWS_REGION
    # (us-west-2) and the queue's endpoint answers "Credential should be scoped to a valid
    # region, not 'us-west-2'".
    s = Setup(name, queue_url, bucket_region="us-west-2")
    key, _, expected = s.put("0")
    s.notify(key, region="us-west-2")
    run_to_delivery(s, expected, region="", env={"AWS_REGION": "us-west-2"},
                    why=" (SQS must be signed for the queue URL's region, eu-west-1)",
                    timeout=FAIL_WAIT)
    sqs = [e for e in s.requests() if e["service"] == "sqs"]
    check(sqs and all(e["status"] == 200 for e in sqs), f"SQS refused: {errors(sqs)}")


def test_b_sqs_region_from_queue_url():
    _sqs_region_test("sqsregion", f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/q-sqsregion")


def test_b_sqs_region_from_legacy_queue_url():
    _sqs_region_test("legacyq", f"https://eu-west-1.queue.amazonaws.com/{ACCOUNT}/q-legacyq")


# ---- c. versioned buckets (part D) ----

def test_c_versioned_bucket_documented_policy():
    # Part D (versioned trail buckets): today the agent asks for the notified versionId, which
    # needs s3:GetObjectVersion; the documented policy grants s3:GetObject only -> 403.
    s = Setup("versioned", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-versioned",
              versioning=True)
    data, expected = log_file(f"{s.name}-0")
    key = key_for(f"{s.name}-0")
    version = SA.put_object(s.bucket, key, data)
    check(version != "null", "the bucket is not versioned")
    s.notify(key, version_id=version, etag=hashlib.md5(data).hexdigest())
    m: dict = {}
    run_to_delivery(s, expected, why=" (the documented policy on a versioned bucket)",
                    timeout=FAIL_WAIT, metrics=m)
    gets = [e for e in s.requests() if e["action"] == "GetObject"]
    check(gets and gets[-1]["status"] == 200, f"GetObject: {errors(gets)}")
    check(m.get("trailwarden_s3_version_fallbacks_total") == 1 and
          m.get("trailwarden_s3_version_mismatches_total") == 0,
          f"version metrics: {[(k, v) for k, v in m.items() if 'version' in k]}")


def test_c_versioned_bucket_documented_policy_refuses_an_overwritten_object():
    # Without s3:GetObjectVersion the notified version cannot be asked for: the key's current
    # content, written over the notified log file, must not be processed in its place.
    s = Setup("overwritten", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-overwritten",
              versioning=True)
    data1, _ = log_file(f"{s.name}-v1")
    key = key_for(f"{s.name}-v1")
    v1 = SA.put_object(s.bucket, key, data1)
    data2, scrubbed = log_file(f"{s.name}-v2")
    SA.put_object(s.bucket, key, data2)  # the attacker's copy
    s.notify(key, version_id=v1, etag=hashlib.md5(data1).hexdigest())
    agent = Agent(s)
    try:
        m = wait_until(lambda: (lambda x: x if x.get("trailwarden_s3_version_mismatches_total")
                                else None)(agent.metrics()), 30, "a version mismatch counted")
        check(m.get("trailwarden_s3_version_fallbacks_total", 0) >= 1, f"metrics: {m}")
        check(s.state()["deleted"] == 0, "the overwritten object's message was deleted")
    finally:
        agent.stop()
    check(not (agent.event_ids() & scrubbed), "the overwriting copy was processed")
    gets = [e for e in s.requests() if e["action"] == "GetObject"]
    check(any(e["status"] == 412 for e in gets), f"no If-Match refusal: {errors(gets)}")
    check("overwritten since the notification" in agent.log(), agent.log()[-2000:])


def test_c_versioned_bucket_with_get_object_version_reads_the_notified_version():
    s = Setup("versionperm", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-versionperm",
              versioning=True, s3_actions=["s3:GetObjectVersion"])
    key, v1, expected = s.put("v1")
    data2, later = log_file(f"{s.name}-v2")  # a later version of the same key
    v2 = SA.put_object(s.bucket, key, data2)
    check(v1 != v2, "one version id for two versions")
    s.notify(key, version_id=v1)
    run_to_delivery(s, expected)  # v1's events only: the set must equal v1's
    gets = [e for e in s.requests() if e["action"] == "GetObject" and e["status"] == 200]
    check(gets and all(e["version_id"] == v1 for e in gets),
          f"versions fetched: {[e['version_id'] for e in gets]}, notified {v1}")


# ---- d. clock skew (part D) ----

def test_d_clock_skew_corrected_from_date_header():
    # Part D (signing clock corrected from the Date header): today every request carries the
    # host's clock, 20 min behind the stand-in's, and is refused as expired / too skewed.
    s = Setup("skew", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-skew")
    key, _, expected = s.put("0")
    s.notify(key)
    SA.set_clock_offset(20 * 60)
    m: dict = {}
    try:
        run_to_delivery(s, expected, why=" (signing clock 20 min behind AWS)", timeout=FAIL_WAIT,
                        metrics=m)
    finally:
        SA.set_clock_offset(0)
    skew = m.get("trailwarden_aws_clock_skew_seconds")
    check(skew is not None and abs(skew - 1200) < 5, f"trailwarden_aws_clock_skew_seconds {skew}")
    log = s.requests()
    skewed = [e for e in log if e["error"] in ("RequestTimeTooSkewed", "InvalidSignatureException",
                                               "SignatureDoesNotMatch")]
    check(skewed and all("Signature expired" in (e["message"] or "") or
                         e["error"] == "RequestTimeTooSkewed" for e in skewed),
          f"expected skew errors first, got {errors(log)}")
    check(len(skewed) <= 4, f"{len(skewed)} skew errors: the clock was not corrected once")


# ---- e. S3 region redirect ----

def test_e_s3_region_redirect_once_per_bucket():
    s = Setup("redirect", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-redirect",
              bucket_region="eu-central-1")
    k1, _, e1 = s.put("0")
    k2, _, e2 = s.put("1")
    agent = Agent(s)
    try:
        s.notify(k1)
        agent.wait_alerts(e1)
        s.notify(k2)  # after the first object: the region must be remembered
        agent.wait_alerts(e1 | e2)
        wait_until(lambda: s.state()["deleted"] == 2, 20, "both messages deleted")
    finally:
        rc = agent.stop()
    check(rc == 0, f"exit status {rc}")
    gets = [e for e in s.requests() if e["action"] == "GetObject"]
    redirects = [e for e in gets if e["status"] == 301]
    check(len(redirects) == 1 and redirects[0]["host"] == f"{s.bucket}.s3.us-east-1.amazonaws.com",
          f"redirects: {errors(gets)}")
    ok = [e for e in gets if e["status"] == 200]
    check(len(ok) == 2 and all(e["host"] == f"{s.bucket}.s3.eu-central-1.amazonaws.com"
                               for e in ok), f"GetObject: {[(e['host'], e['status']) for e in gets]}")


# ---- f. expected bucket owner ----

def test_f_expected_bucket_owner_mismatch_refused_and_kept():
    s = Setup("owner", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-owner",
              owner="444455556666")
    key, _, _ = s.put("0")
    s.notify(key)
    agent = Agent(s, sqs_extra=f'expected_bucket_owner = "{ACCOUNT}"')
    try:
        wait_until(lambda: any(e["action"] == "GetObject" and e["status"] == 403
                               for e in s.requests()), 30, "the refused GetObject")
        wait_until(lambda: key in agent.log(), 20, "the agent's error naming the object")
    finally:
        rc = agent.stop()
    check(rc == 0, f"exit status {rc}")
    gets = [e for e in s.requests() if e["action"] == "GetObject"]
    check(gets and all(e["status"] == 403 and e["error"] == "AccessDenied" for e in gets),
          f"GetObject: {errors(gets)}")
    text = agent.log()
    line = next((l for l in text.splitlines() if key in l), "")
    check(s.bucket in line and "403" in line, f"the error line does not name bucket, key and "
          f"status: {line!r}")
    st = s.state()
    check(st["deleted"] == 0, f"the message was deleted: {st}")
    check(not alerts_in(agent.alerts), "alerts from a bucket of another owner")


# ---- g. China partition (part B) ----

def test_g_china_partition():
    # Part B (partitions): queue and bucket on .amazonaws.com.cn hosts, ARNs in aws-cn.
    s = Setup("china", f"https://sqs.cn-north-1.amazonaws.com.cn/{ACCOUNT}/q-china",
              bucket_region="cn-north-1")
    key, _, expected = s.put("0")
    s.notify(key, region="cn-north-1")
    run_to_delivery(s, expected, region="cn-north-1", why=" (China partition)",
                    timeout=FAIL_WAIT)
    hosts = {e["host"] for e in s.requests()}
    check(hosts == {"sqs.cn-north-1.amazonaws.com.cn",
                    f"{s.bucket}.s3.cn-north-1.amazonaws.com.cn"}, f"hosts {hosts}")


def test_g_china_partition_role_arn():
    # STS in the China partition: sts.cn-north-1.amazonaws.com.cn, ARNs in aws-cn.
    name = "chinarole"
    role_arn = f"arn:aws-cn:iam::{ACCOUNT}:role/trailwarden-reader"
    s = Setup(name, f"https://sqs.cn-north-1.amazonaws.com.cn/{ACCOUNT}/q-{name}",
              bucket_region="cn-north-1", key_policy=policy(allow("sts:AssumeRole", role_arn)))
    SA.role(role_arn, documented_policy(s.bucket, "cn-north-1", f"q-{name}", "aws-cn"),
            trusted=[s.access_key])
    key, _, expected = s.put("0")
    s.notify(key, region="cn-north-1")
    run_to_delivery(s, expected, region="cn-north-1", aws_extra=f'role_arn = "{role_arn}"',
                    why=" (China partition, assumed role)", timeout=FAIL_WAIT)
    sts = [e for e in s.requests() if e["service"] == "sts"]
    check(sts and {e["host"] for e in sts} == {"sts.cn-north-1.amazonaws.com.cn"} and
          all(e["status"] == 200 for e in sts), f"STS: {[(e['host'], e['status']) for e in sts]}")


# ---- h. FIPS, dual-stack, service endpoint variables (part B) ----

def _endpoint_test(name: str, env: dict, want_hosts: set, why: str):
    s = Setup(name, f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-{name}")
    key, _, expected = s.put("0")
    s.notify(key)
    run_to_delivery(s, expected, env=env, why=why, timeout=FAIL_WAIT)
    hosts = {e["host"] for e in s.requests() if e["service"] != "sts"}
    check(hosts == {h.replace("BUCKET", s.bucket) for h in want_hosts},
          f"hosts {sorted(hosts)}, expected {sorted(want_hosts)}{why}")


def test_h_fips_endpoints():
    # Part B (AWS_USE_FIPS_ENDPOINT): the hosts of botocore's endpoints data for the FIPS variant.
    _endpoint_test("fips", {"AWS_USE_FIPS_ENDPOINT": "true"},
                   {"sqs-fips.us-east-1.amazonaws.com", "BUCKET.s3-fips.us-east-1.amazonaws.com"},
                   " (AWS_USE_FIPS_ENDPOINT=true)")


def test_h_dualstack_endpoints():
    # Part B (AWS_USE_DUALSTACK_ENDPOINT): sqs.R.api.aws and s3.dualstack.R.amazonaws.com.
    _endpoint_test("dualstack", {"AWS_USE_DUALSTACK_ENDPOINT": "true"},
                   {"sqs.us-east-1.api.aws", "BUCKET.s3.dualstack.us-east-1.amazonaws.com"},
                   " (AWS_USE_DUALSTACK_ENDPOINT=true)")


def test_h_endpoint_url_s3_variable():
    # Part B (AWS_ENDPOINT_URL_S3): a custom S3 endpoint (path style), SQS unchanged.
    _endpoint_test("endpointvar", {"AWS_ENDPOINT_URL_S3": f"https://{S3_ALIAS}"},
                   {"sqs.us-east-1.amazonaws.com", S3_ALIAS}, " (AWS_ENDPOINT_URL_S3)")


def test_h_endpoint_url_sqs_variable():
    # Part B (AWS_ENDPOINT_URL_SQS): a custom SQS endpoint (a VPC endpoint's name), S3 unchanged.
    _endpoint_test("sqsendpointvar", {"AWS_ENDPOINT_URL_SQS": f"https://{SQS_ALIAS}"},
                   {SQS_ALIAS, "BUCKET.s3.us-east-1.amazonaws.com"}, " (AWS_ENDPOINT_URL_SQS)")


def test_h_ignore_configured_endpoint_urls():
    # Part B (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS): the variable above is ignored.
    _endpoint_test("ignoreendpoints", {"AWS_ENDPOINT_URL_S3": f"https://{S3_ALIAS}",
                                       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
                   {"sqs.us-east-1.amazonaws.com", "BUCKET.s3.us-east-1.amazonaws.com"},
                   " (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true)")


def test_h_vpc_endpoints_sign_with_their_region():
    # VPC interface endpoints in eu-west-1 ([aws] sqs_endpoint_url / s3_endpoint_url), the agent
    # in us-east-1 (AWS_REGION, as on EKS): each endpoint's region signs its service. Before,
    # an SQS endpoint URL made AWS_REGION sign SQS ("Credential should be scoped to a valid
    # region, not 'us-east-1'") and S3 went through a refusal before its redirect.
    name = "vpce"
    s = Setup(name, f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/q-{name}",
              bucket_region="eu-west-1")
    key, _, expected = s.put("0")
    s.notify(key, region="eu-west-1")
    agent = run_to_delivery(s, expected, region="", env={"AWS_REGION": "us-east-1"},
                            aws_extra=f'sqs_endpoint_url = "https://{SQS_VPCE}"\n'
                                      f's3_endpoint_url = "https://{S3_VPCE}"',
                            why=" (each VPC endpoint signed for its region, eu-west-1)",
                            timeout=FAIL_WAIT)
    reqs = s.requests()
    check({e["host"] for e in reqs} == {SQS_VPCE, S3_VPCE},
          f"hosts {sorted({e['host'] for e in reqs})}")
    check(not errors(reqs), f"refused requests: {errors(reqs)}")
    log = agent.log()
    for service in ("SQS", "S3"):
        warning = (f"the {service} endpoint https://") in log and (
            f"AWS_REGION says us-east-1: {service} requests are signed for eu-west-1") in log
        check(warning and log.count(f"{service} requests are signed for eu-west-1") == 1,
              f"one {service} region warning expected:\n{log[-2000:]}")


def test_h_sts_vpc_endpoint_signs_with_its_region():
    # role_arn through an STS interface endpoint in eu-west-1 ([aws] sts_endpoint_url), the
    # agent in us-east-1: AssumeRole is signed for eu-west-1. Before, for us-east-1: refused,
    # and the agent never got credentials.
    name = "stsvpce"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/trailwarden-vpce"
    s = Setup(name, f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-{name}",
              key_policy=policy(allow("sts:AssumeRole", role_arn)))
    SA.role(role_arn, documented_policy(s.bucket, "us-east-1", f"q-{name}"),
            trusted=[s.access_key])
    key, _, expected = s.put("0")
    s.notify(key)
    run_to_delivery(s, expected, aws_extra=f'role_arn = "{role_arn}"\n'
                                           f'sts_endpoint_url = "https://{STS_VPCE}"',
                    why=" (STS endpoint signed for its region, eu-west-1)", timeout=FAIL_WAIT)
    sts = [e for e in s.requests() if e["action"] == "AssumeRole"]
    check(sts and all(e["host"] == STS_VPCE and e["status"] == 200 for e in sts),
          f"AssumeRole: {[(e['host'], e['status'], e['error']) for e in sts]}")


# ---- Bucket names that cannot be virtual hosts ----

def test_k_dotted_and_legacy_bucket_names_use_path_style():
    for name, bucket in (("dotted", "trail.dotted.logs"), ("legacyname", "Trail_Legacy-Logs")):
        s = Setup(name, f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-{name}", bucket=bucket)
        key, _, expected = s.put("0")
        s.notify(key)
        run_to_delivery(s, expected, why=f" (bucket {bucket})")
        gets = [e for e in s.requests() if e["action"] == "GetObject"]
        check(gets and all(e["host"] == "s3.us-east-1.amazonaws.com" and e["status"] == 200 and
                           e["path"].startswith(f"/{bucket}/") for e in gets),
              f"bucket {bucket}: {[(e['host'], e['path'], e['status']) for e in gets]}")


# ---- i. role_arn ----

def test_i_role_arn_assume_role_then_temporary_credentials():
    name = "assumerole"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/trailwarden-reader"
    # The long-term key may only assume the role; the role may read the queue and bucket.
    key_policy = policy(allow("sts:AssumeRole", role_arn))
    s = Setup(name, f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-{name}",
              key_policy=key_policy)
    SA.role(role_arn, documented_policy(s.bucket, "us-east-1", f"q-{name}"),
            trusted=[s.access_key])
    key, _, expected = s.put("0")
    s.notify(key)
    run_to_delivery(s, expected, aws_extra=f'role_arn = "{role_arn}"')
    log = SA.log()
    assumed = [e for e in log if e["action"] == "AssumeRole" and e["access_key"] == s.access_key]
    check(assumed and all(e["status"] == 200 for e in assumed), f"AssumeRole: {errors(assumed)}")
    issued = {e["issued"] for e in assumed}
    used = [e for e in log if e.get("bucket") == s.bucket or e.get("queue") == f"q-{name}"]
    check(used and all(e["access_key"] in issued and e["status"] == 200 for e in used),
          f"SQS/S3 requests not made with the temporary credentials: "
          f"{[(e['action'], e['access_key'], e['status']) for e in used]}")


# ---- j. EventBridge S3 keys (part D) ----

def test_j_eventbridge_keys_raw_and_url_encoded():
    # Part D (EventBridge S3 keys): today detail.object.key is taken as it is, so the
    # URL-encoded form names an object that does not exist -> 403 (no s3:ListBucket).
    s = Setup("eventbridge", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q-eventbridge")
    base = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/11/18/"
    raw_key = base + "log file+a=b é raw.json.gz"
    enc_key = base + "log file+a=b é enc.json.gz"
    data1, e1 = log_file(f"{s.name}-raw")
    data2, e2 = log_file(f"{s.name}-enc")
    SA.put_object(s.bucket, raw_key, data1)
    SA.put_object(s.bucket, enc_key, data2)
    # The URL-decoded reading is read only as the notified object: If-Match its ETag.
    SA.send(s.queue_url, fauxqs.eventbridge_object_created_body(
        s.bucket, raw_key, size=len(data1), etag=hashlib.md5(data1).hexdigest()))
    SA.send(s.queue_url, fauxqs.eventbridge_object_created_body(
        s.bucket, fauxqs.encode_s3_key(enc_key), size=len(data2),
        etag=hashlib.md5(data2).hexdigest()))
    m: dict = {}
    run_to_delivery(s, e1 | e2, messages=2, why=" (EventBridge keys, raw and URL-encoded)",
                    timeout=FAIL_WAIT, metrics=m)
    check(m.get("trailwarden_s3_key_fallbacks_total") == 1,
          f"trailwarden_s3_key_fallbacks_total {m.get('trailwarden_s3_key_fallbacks_total')}")
    fetched = {e["key"] for e in s.requests() if e["action"] == "GetObject" and e["status"] == 200}
    check(fetched == {raw_key, enc_key}, f"fetched {fetched}")


# ---- l. the S3 and CloudTrail clients of digest validation (issue 14) ----

CT_ALIAS = "cloudtrail-vpce.strict.test"  # a custom CloudTrail endpoint serving eu-west-1


def clients(*args, key: str, env: dict | None = None) -> dict:
    """aws_clients_tool's JSON answer (tests/integration/aws_clients_tool.cpp)."""
    import json
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full_env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
                    TW_CA_FILE=str(SA.ca_file), TRAILWARDEN_TEST_CONNECT_TO=SA.connect_to)
    full_env.pop("TRAILWARDEN_FAILPOINT", None)
    full_env.update(env or {})
    p = subprocess.run([CLIENTS_TOOL, *args], env=full_env, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode in (0, 1) and p.stdout.strip(),
          f"aws_clients_tool {args}: exit {p.returncode}\n{p.stderr[-2000:]}")
    out = json.loads(p.stdout)
    check((p.returncode == 0) == out["ok"], f"exit status {p.returncode} with {out}")
    return out


def by_key(key: str) -> list[dict]:
    return [e for e in SA.log() if e["access_key"] == key]


def test_l_get_with_metadata_returns_the_objects_metadata():
    key = "AKIAMETADATAXXXXTEST"
    bucket = "trail-metadata"
    SA.principal(key, SECRET, policy(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    SA.bucket(bucket, "eu-central-1", versioning=True)  # a redirect first, as for GetObject
    digest = "AWSLogs/111122223333/CloudTrail-Digest/eu-central-1/2024/11/18/d.json.gz"
    data = b"digest bytes"
    vid = SA.put_object(bucket, digest, data, metadata={
        "signature": "a1b2c3d4", "Signature-Algorithm": "SHA256withRSA"})
    out = clients("get", bucket, digest, key=key)
    check(out["ok"], f"get_with_metadata: {out}")
    check(out["metadata"] == {"signature": "a1b2c3d4", "signature-algorithm": "SHA256withRSA"},
          f"metadata {out['metadata']}")
    check(out["etag"] == hashlib.md5(data).hexdigest(), f"etag {out['etag']}")
    check(out["version_id"] == vid and out["size"] == len(data), f"{out}")
    gets = [(e["host"], e["status"]) for e in by_key(key)]
    check(gets == [(f"{bucket}.s3.us-east-1.amazonaws.com", 301),
                   (f"{bucket}.s3.eu-central-1.amazonaws.com", 200)], f"requests {gets}")
    # An object without metadata has none.
    SA.put_object(bucket, "plain.json.gz", b"x")
    out = clients("get", bucket, "plain.json.gz", key=key)
    check(out["ok"] and out["metadata"] == {}, f"{out}")


def test_l_list_pages_with_list_bucket_and_is_refused_without():
    key = "AKIALISTBUCKETXXTEST"
    bucket = "trail-listing"
    SA.principal(key, SECRET, policy(allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
                                     allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    SA.bucket(bucket, "us-east-1")
    prefix = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/"
    names = [f"2024/11/18/d_{i:02d}.json.gz" for i in range(20)] + [
        "2024/11/18/with space+plus=eq.json.gz", "2024/11/18/é-accent.json.gz",
        "2024/11/18/CAPS_x.json.gz", "2024/11/18/caps-x.json.gz", "2024/11/18/d_05_backfill.json.gz"]
    for n in names:
        SA.put_object(bucket, prefix + n, n.encode())
    SA.put_object(bucket, "AWSLogs/111122223333/CloudTrail/us-east-1/other.json.gz", b"x")
    SA.put_object(bucket, "AWSLogs/111122223333/CloudTrail-Digest/us-east-10/x.json.gz", b"x")
    expected = sorted((prefix + n for n in names), key=lambda k: k.encode())
    out = clients("list", bucket, prefix, "", "7", key=key)
    check(out["ok"], f"list: {out}")
    got = [k for k, _, _ in out["keys"]]
    check(got == expected, f"keys {got}\nexpected {expected}")
    check(out["pages"] == 4, f"{out['pages']} pages for {len(expected)} keys, 7 a page")
    sizes = {k: size for k, size, _ in out["keys"]}
    check(all(sizes[prefix + n] == len(n.encode()) for n in names), f"sizes {sizes}")
    lists = [e for e in by_key(key) if e["action"] == "ListObjectsV2"]
    check(len(lists) == 4 and all(e["status"] == 200 for e in lists) and
          "encoding-type=url" in lists[0]["query"] and "continuation-token" in lists[1]["query"],
          f"requests {[(e['query'], e['status']) for e in lists]}")
    # start-after: the keys after it only.
    out = clients("list", bucket, prefix, expected[20], "1000", key=key)
    check([k for k, _, _ in out["keys"]] == expected[21:] and out["pages"] == 1, f"{out}")
    # Path style for a dotted bucket name.
    SA.bucket("trail.listing.dotted", "us-east-1")
    SA.principal("AKIALISTDOTTEDXXTEST", SECRET,
                 policy(allow("s3:ListBucket", "arn:aws:s3:::trail.listing.dotted")))
    SA.put_object("trail.listing.dotted", "a b", b"1")
    out = clients("list", "trail.listing.dotted", "", "", "1000", key="AKIALISTDOTTEDXXTEST")
    check(out["ok"] and out["keys"] == [["a b", 1, hashlib.md5(b"1").hexdigest()]], f"{out}")
    check(by_key("AKIALISTDOTTEDXXTEST")[-1]["path"] == "/trail.listing.dotted", "path style")

    # Without s3:ListBucket: refused, the error naming the permission.
    key2 = "AKIANOLISTBUCKETTEST"
    SA.principal(key2, SECRET, policy(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    out = clients("list", bucket, prefix, "", "7", key=key2)
    check(not out["ok"] and out["code"] == "access_denied" and
          f"s3:ListBucket on arn:aws:s3:::{bucket}" in out["message"], f"{out}")


def _public_key(n: int, start: int, end: int) -> dict:
    der = bytes([0x30, 0x82, 0x01, 0x0A]) + f"key-{n}".encode()
    return {"value_b64": base64.b64encode(der).decode(), "fingerprint": hashlib.md5(der).hexdigest(),
            "start": start, "end": end}


def test_l_list_public_keys_per_region_paged_and_refused():
    key = "AKIAPUBLICKEYSXXTEST"
    SA.principal(key, SECRET, policy(allow("cloudtrail:ListPublicKeys", "*")))
    day = 86400
    t0 = 1731888000  # 2024-11-18
    east = [_public_key(1, t0 - 30 * day, t0 + 30 * day)]
    west = [_public_key(10 + i, t0 - 30 * day + i * day, t0 + i * day) for i in range(5)]
    west.append(_public_key(99, t0 + 100 * day, t0 + 130 * day))  # outside the range asked
    SA.public_keys("us-east-1", east)
    SA.public_keys("eu-west-1", west, page_size=2)
    SA.clear_log()
    out = clients("keys", "eu-west-1", str(t0 - day), str(t0 + day), key=key)
    check(out["ok"], f"ListPublicKeys: {out}")
    want = [(bytes.fromhex(k["der_hex"]), k["fingerprint"], k["from"], k["until"])
            for k in out["keys"]]
    expect = [(base64.b64decode(k["value_b64"]), k["fingerprint"], k["start"], k["end"])
              for k in west[:5]]
    check(want == expect, f"eu-west-1 keys {want}\nexpected {expect}")
    reqs = by_key(key)
    check([(e["host"], e["action"], e["status"]) for e in reqs] ==
          [("cloudtrail.eu-west-1.amazonaws.com", "ListPublicKeys", 200)] * 3,
          f"requests {[(e['host'], e['status'], e['error']) for e in reqs]}")
    out = clients("keys", "us-east-1", str(t0), str(t0 + 1), key=key)
    check(out["ok"] and [k["fingerprint"] for k in out["keys"]] == [east[0]["fingerprint"]],
          f"us-east-1 keys {out}")
    # FIPS endpoint.
    out = clients("keys", "us-east-1", str(t0), str(t0 + 1), key=key,
                  env={"AWS_USE_FIPS_ENDPOINT": "true"})
    check(out["ok"] and by_key(key)[-1]["host"] == "cloudtrail-fips.us-east-1.amazonaws.com",
          f"FIPS: {out} {by_key(key)[-1]['host']}")
    # A custom endpoint serving eu-west-1 gets every region's request, signed for the region
    # asked: eu-west-1's keys; us-east-1 is refused by the endpoint for its signature's region.
    env = {"AWS_ENDPOINT_URL_CLOUDTRAIL": f"https://{CT_ALIAS}"}
    out = clients("keys", "eu-west-1", str(t0 - day), str(t0 + day), key=key, env=env)
    check(out["ok"] and len(out["keys"]) == 5, f"custom endpoint, eu-west-1: {out}")
    out = clients("keys", "us-east-1", str(t0), str(t0 + 1), key=key, env=env)
    check(not out["ok"] and "Credential should be scoped to a valid region" in out["message"] and
          "InvalidSignatureException" in out["message"], f"wrong-region signature: {out}")
    last = by_key(key)[-1]
    check(last["host"] == CT_ALIAS and last["error"] == "InvalidSignatureException", f"{last}")
    # Without cloudtrail:ListPublicKeys: refused, naming it.
    key2 = "AKIANOPUBLICKEYSTEST"
    SA.principal(key2, SECRET, policy(allow("s3:GetObject", "*")))
    out = clients("keys", "us-east-1", str(t0), str(t0 + 1), key=key2)
    check(not out["ok"] and out["code"] == "access_denied" and
          "cloudtrail:ListPublicKeys" in out["message"], f"no permission: {out}")


def main() -> int:
    global BINARY, SA, CLIENTS_TOOL
    if len(sys.argv) not in (2, 3):
        return common.cannot_run("usage: test_strict_aws.py TRAILWARDEN_FAILPOINTS [NAME]")
    BINARY = sys.argv[1]
    if not os.access(BINARY, os.X_OK):
        return common.cannot_run(f"not an executable: {BINARY}")
    CLIENTS_TOOL = os.environ.get("TW_AWS_CLIENTS_TOOL") or str(
        Path(BINARY).parent / "aws_clients_tool")
    if not os.access(CLIENTS_TOOL, os.X_OK):
        return common.cannot_run(f"not an executable: {CLIENTS_TOOL} (TW_AWS_CLIENTS_TOOL)")
    if not common.have_boto3("test_strict_aws"):
        return common.cannot_run("botocore is needed (Debian's python3-botocore) to check the "
                                 "stand-in's signature verification")

    def setup():
        global SA
        strict_aws.self_check()
        SA = strict_aws.StrictAws(TMP / "stand-in", aliases={S3_ALIAS: ("s3", "us-east-1"),
                                                             SQS_ALIAS: ("sqs", "us-east-1"),
                                                             SQS_VPCE: ("sqs", "eu-west-1"),
                                                             S3_VPCE: ("s3", "eu-west-1"),
                                                             STS_VPCE: ("sts", "eu-west-1"),
                                                             CT_ALIAS: ("cloudtrail", "eu-west-1")})

    def before_each():
        SA.set_clock_offset(0)

    only = sys.argv[2] if len(sys.argv) == 3 else None
    return common.run_suite(common.module_tests(globals(), only), setup=setup,
                            before_each=before_each, teardown=lambda: common.close_all(SA),
                            tmp=TMP, keep=True)


if __name__ == "__main__":
    sys.exit(main())
