#!/usr/bin/env python3
"""Self-test of the SQS/S3 emulator harness (tests/integration/peers/fauxqs.py).

Run as:  python3 tests/integration/test_fauxqs_harness.py [unittest args...]
after scripts/setup-peers.sh. Needs boto3: if the python3 that runs this file cannot import it
(a pyenv or venv python without it), the script re-runs itself with /usr/bin/python3, which has
Debian's python3-boto3.

Checks that the emulator listens on 127.0.0.1 only, that S3 objects and every notification shape
trailwarden must understand survive the round trip byte for byte, that deletes and queue depth
behave, that each notification builder reproduces AWS's published sample, and that the emulator
process is gone when the harness says it is. No test sleeps: readiness is the launcher's ready
line, process exit is waited for with wait(), and the only polling is SQS long polling, which the
server answers as soon as a message arrives.

The last line printed is "N passed, N failed[, N skipped]"; the exit status is non-zero if any
test failed (or none ran).
"""

import errno
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest
from urllib.parse import unquote_plus

import common

SAMPLES_DIR = common.DATA / "notifications"

if not common.have_boto3("test_fauxqs_harness"):  # re-runs this under /usr/bin/python3 if it can
    sys.exit(common.cannot_run("test_fauxqs_harness: boto3 is not importable: run "
                               "scripts/setup-peers.sh", file=sys.stderr))

fauxqs = common.import_fauxqs("test_fauxqs_harness")
from fauxqs import (  # noqa: E402
    Fauxqs, FauxqsError, all_notification_shapes, cloudtrail_sns_body, cloudtrail_sns_message,
    encode_s3_key, eventbridge_cloudtrail_body, eventbridge_object_created_body, s3_event_body,
    s3_sns_body, s3_test_event_body, sns_envelope)


def load_samples():
    with open(SAMPLES_DIR / "s3_sqs_message_samples.json", encoding="utf-8") as f:
        return {entry["name"]: entry for entry in json.load(f)}


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def md5_hex(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def local_non_loopback_addresses():
    """This machine's own IPv4/IPv6 addresses other than loopback and link-local, from iproute2
    (or `hostname -I`). Empty if there are none or neither tool exists."""
    addrs = []
    ip = shutil.which("ip")
    if ip:
        out = subprocess.run([ip, "-o", "addr", "show"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] in ("inet", "inet6"):
                addrs.append(fields[3].split("/")[0])
    elif shutil.which("hostname"):
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout
        addrs = out.split()
    return [a for a in addrs
            if not a.startswith("127.") and a != "::1" and not a.lower().startswith("fe80:")]


def listening_sockets(port):
    """(family, local address) of every LISTEN TCP socket on `port`, from /proc/net/tcp{,6}."""
    found = []
    for family, path in (("ipv4", "/proc/net/tcp"), ("ipv6", "/proc/net/tcp6")):
        try:
            with open(path, encoding="ascii") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    addr_hex, port_hex = fields[1].split(":")
                    if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                        found.append((family, addr_hex))
        except FileNotFoundError:
            pass
    return found


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# builders against AWS's published samples (no emulator needed)
# --------------------------------------------------------------------------------------------

class BuilderMatchesAwsSamples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.samples = load_samples()

    def assert_same_json_text(self, built, sample_obj):
        # Same values and same key order: the compact text of both must be equal.
        self.assertEqual(compact(json.loads(built)), compact(sample_obj))

    def test_s3_direct_is_the_documented_put_event(self):
        sample = self.samples["s3_direct_to_sqs__ObjectCreated_Put"]["body"]
        built = s3_event_body(
            "mybucket", "HappyFace.jpg", region="us-west-2",
            event_time="1970-01-01T00:00:00.000Z", size=1024,
            etag="d41d8cd98f00b204e9800998ecf8427e",
            version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko", sequencer="0055AED6DCD90281E5",
            request_id="C3D13FE58DE4C810")
        self.assertEqual(built, compact(sample))  # S3 delivers compact JSON

    def test_s3_test_event_is_the_documented_one(self):
        sample = self.samples["s3_direct_to_sqs__s3_TestEvent"]["body"]
        built = s3_test_event_body("bucketname", request_id="5582815E1AEA5ADF")
        self.assertEqual(built, compact(sample))
        self.assertNotIn("Records", json.loads(built))

    def test_sns_envelope_reproduces_both_documented_envelopes(self):
        for name in ("sns_envelope__raw_delivery_disabled",
                     "sns_envelope__sqs_subscriber_example"):
            with self.subTest(name):
                s = self.samples[name]["body"]
                built = sns_envelope(
                    s["Message"], topic_arn=s["TopicArn"], subject=s["Subject"],
                    message_id=s["MessageId"], timestamp=s["Timestamp"],
                    signature=s["Signature"], signing_cert_url=s["SigningCertURL"],
                    unsubscribe_url=s["UnsubscribeURL"])
                self.assert_same_json_text(built, s)
                # AWS's documented layout: two-space indent, " : " between name and value.
                self.assertTrue(built.startswith('{\n  "Type" : "Notification",\n'), built[:40])

    def test_s3_via_sns_matches_sample_and_message_is_the_s3_event_text(self):
        s = self.samples["s3_to_sns_to_sqs__ObjectCreated_Put"]["body"]
        event_args = dict(region="us-west-2", event_time="1970-01-01T00:00:00.000Z",
                          version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko",
                          sequencer="0055AED6DCD90281E5", request_id="C3D13FE58DE4C810")
        event = s3_event_body("mybucket", "HappyFace.jpg", **event_args)
        built = sns_envelope(event, topic_arn=s["TopicArn"], subject="Amazon S3 Notification",
                             message_id=s["MessageId"], timestamp=s["Timestamp"],
                             signing_cert_url=s["SigningCertURL"],
                             unsubscribe_url=s["UnsubscribeURL"])
        self.assert_same_json_text(built, s)
        self.assertEqual(json.loads(built)["Message"], s["Message"])  # byte-identical string
        via_helper = json.loads(s3_sns_body("mybucket", "HappyFace.jpg", topic_arn=s["TopicArn"],
                                            message_id=s["MessageId"], **event_args))
        self.assertEqual(via_helper["Message"], s["Message"])
        self.assertEqual(via_helper["Subject"], "Amazon S3 Notification")

    def test_s3_via_sns_raw_delivery_is_the_bare_s3_event(self):
        self.assertEqual(s3_sns_body("b-1", "k", raw=True), s3_event_body("b-1", "k"))

    def test_cloudtrail_sns_message_matches_documented_single_and_multiple(self):
        for name in ("cloudtrail_native_sns_notification__Message_single",
                     "cloudtrail_native_sns_notification__Message_multiple"):
            with self.subTest(name):
                s = self.samples[name]["sns_message"]
                built = cloudtrail_sns_message(s["s3Bucket"], s["s3ObjectKey"])
                self.assert_same_json_text(built, s)
                envelope = json.loads(cloudtrail_sns_body(s["s3Bucket"], s["s3ObjectKey"]))
                self.assertEqual(envelope["Type"], "Notification")
                self.assertEqual(envelope["Message"], built)
                self.assertEqual(cloudtrail_sns_body(s["s3Bucket"], s["s3ObjectKey"], raw=True),
                                 built)

    def test_eventbridge_object_created_is_the_documented_event(self):
        s = self.samples["eventbridge__Object_Created"]["body"]
        o = s["detail"]["object"]
        built = eventbridge_object_created_body(
            s["detail"]["bucket"]["name"], o["key"], size=o["size"], etag=o["etag"],
            version_id=o["version-id"], sequencer=o["sequencer"], account=s["account"],
            region=s["region"], time_=s["time"], event_id=s["id"],
            request_id=s["detail"]["request-id"], requester=s["detail"]["requester"],
            source_ip=s["detail"]["source-ip-address"], reason=s["detail"]["reason"])
        self.assertEqual(built, compact(s))

    def test_eventbridge_cloudtrail_wraps_the_record_as_detail(self):
        with open(SAMPLES_DIR / "eventbridge_cloudtrail_api_call.json", encoding="utf-8") as f:
            s = json.load(f)["body"]
        built = eventbridge_cloudtrail_body(s["detail"], event_id=s["id"])
        self.assertEqual(built, compact(s))
        signin = dict(s["detail"], eventType="AwsConsoleSignIn",
                      eventSource="signin.amazonaws.com", eventTime="2022-11-10T16:24:34.123Z")
        env = json.loads(eventbridge_cloudtrail_body(signin))
        self.assertEqual(env["detail-type"], "AWS Console Signin via CloudTrail")
        self.assertEqual(env["source"], "aws.signin")
        self.assertEqual(env["time"], "2022-11-10T16:24:34Z")
        self.assertEqual(env["detail"], signin)

    def test_s3_keys_are_form_url_encoded(self):
        key = "AWSLogs/111122223333/CloudTrail/us-east-1/red flower+x=1:é.json.gz"
        encoded = encode_s3_key(key)
        self.assertEqual(encoded, "AWSLogs/111122223333/CloudTrail/us-east-1/"
                                  "red+flower%2Bx%3D1%3A%C3%A9.json.gz")
        self.assertEqual(unquote_plus(encoded), key)
        record = json.loads(s3_event_body("b-1", key))["Records"][0]
        self.assertEqual(record["s3"]["object"]["key"], encoded)
        # EventBridge and CloudTrail's SNS message carry the key as it is.
        self.assertEqual(json.loads(eventbridge_object_created_body("b-1", key))
                         ["detail"]["object"]["key"], key)
        self.assertEqual(json.loads(cloudtrail_sns_message("b-1", [key]))["s3ObjectKey"], [key])

    def test_event_ids_differ_per_object_and_repeat_per_call(self):
        a1, a2, b = (json.loads(s3_event_body("b-1", k))["Records"][0] for k in ("a", "a", "b"))
        self.assertEqual(a1, a2)
        self.assertNotEqual(a1["s3"]["object"]["sequencer"], b["s3"]["object"]["sequencer"])
        self.assertNotEqual(json.loads(s3_sns_body("b-1", "a"))["MessageId"],
                            json.loads(s3_sns_body("b-1", "b"))["MessageId"])
        many = json.loads(s3_event_body("b-1", ["x", "y", "z"]))["Records"]
        self.assertEqual([r["s3"]["object"]["key"] for r in many], ["x", "y", "z"])


# --------------------------------------------------------------------------------------------
# one shared emulator
# --------------------------------------------------------------------------------------------

FX = None


def setUpModule():
    global FX
    FX = Fauxqs()
    FX.start()


def tearDownModule():
    if FX is not None:
        FX.stop()


class EmulatorTests(unittest.TestCase):
    counter = 0

    def fresh_name(self, prefix):
        EmulatorTests.counter += 1
        return f"{prefix}-{EmulatorTests.counter}"

    def test_listens_on_loopback_only(self):
        with socket.create_connection((fauxqs.LOOPBACK, FX.port), timeout=5):
            pass
        # The kernel's own view: every listening socket on the port is bound to 127.0.0.1.
        socks = listening_sockets(FX.port)
        self.assertEqual(socks, [("ipv4", "0100007F")], socks)

    def test_non_loopback_address_is_refused(self):
        addrs = local_non_loopback_addresses()
        if not addrs:
            self.skipTest("this machine has no address other than loopback")
        for addr in addrs:
            with self.subTest(addr=addr):
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(5)
                    code = s.connect_ex((addr, FX.port))
                    self.assertEqual(
                        code, errno.ECONNREFUSED,
                        f"connect to {addr}:{FX.port} gave {errno.errorcode.get(code)}")

    def test_create_queue_gives_a_loopback_url_with_the_visibility_timeout(self):
        name = self.fresh_name("vis")
        url = FX.create_queue(name, visibility_timeout=45)
        self.assertEqual(url, f"{FX.endpoint}/000000000000/{name}")
        attrs = FX.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["VisibilityTimeout"], "45")
        self.assertEqual(FX.queue_arn(url), f"arn:aws:sqs:{FX.region}:000000000000:{name}")
        self.assertEqual(FX.queue_url(name), url)

    def test_s3_object_round_trip(self):
        bucket = self.fresh_name("trail-bucket")
        FX.create_bucket(bucket)
        key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/a b+c=1:é.json.gz"
        data = bytes(range(256)) * 64 + b"\x1f\x8b\x08\x00"
        etag = FX.put_object(bucket, key, data)
        self.assertEqual(etag, hashlib.md5(data).hexdigest())
        self.assertEqual(FX.get_object(bucket, key), data)
        listed = [o["Key"] for o in FX.s3.list_objects_v2(Bucket=bucket)["Contents"]]
        self.assertEqual(listed, [key])

    def test_every_notification_shape_round_trips_byte_identical(self):
        with open(SAMPLES_DIR / "eventbridge_cloudtrail_api_call.json", encoding="utf-8") as f:
            record = json.load(f)["body"]["detail"]
        url = FX.create_queue(self.fresh_name("shapes"))
        bucket = "trail-bucket"
        key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/x y+z.json.gz"
        shapes = all_notification_shapes(bucket, key, extra_keys=["AWSLogs/other.json.gz"],
                                         record=record)
        self.assertEqual({s.name for s in shapes},
                         {"s3_direct", "s3_sns", "s3_sns_raw", "eventbridge_object_created",
                          "cloudtrail_sns", "cloudtrail_sns_raw", "s3_test_event",
                          "eventbridge_cloudtrail"})
        for shape in shapes:
            with self.subTest(shape=shape.name):
                sent_id = FX.send(url, shape.body)
                got = FX.receive_all(url)
                self.assertEqual(len(got), 1)
                self.assertEqual(got[0]["MessageId"], sent_id)
                self.assertEqual(got[0]["Body"], shape.body)
                self.assertEqual(got[0]["Body"].encode("utf-8"), shape.body.encode("utf-8"))
                self.assertEqual(got[0]["MD5OfBody"], md5_hex(shape.body))
                FX.delete(url, got[0])
                self.assertEqual(FX.queue_depth(url), 0)

    def test_unicode_and_control_characters_round_trip(self):
        url = FX.create_queue(self.fresh_name("unicode"))
        body = '{"k":"tab\\there"}\t\r\n é ü 中文 \ue000 \ufffd ~'
        FX.send(url, body)
        got = FX.receive_all(url)
        self.assertEqual([m["Body"] for m in got], [body])

    def test_quirk_characters_beyond_the_bmp_are_rejected(self):
        # Real SQS accepts #x10000-#x10FFFF; fauxqs 2.4.1 rejects them (InvalidMessageContents).
        # Tests of trailwarden must not send them. Fails (on purpose) once fauxqs accepts them.
        url = FX.create_queue(self.fresh_name("emoji"))
        with self.assertRaises(Exception) as ctx:
            FX.send(url, "emoji \U0001F600")
        self.assertIn("InvalidMessageContents", str(ctx.exception))

    def test_message_attributes_round_trip(self):
        url = FX.create_queue(self.fresh_name("attrs"))
        FX.send(url, "{}", attributes={"s": "text", "n": 42, "b": b"\x00\xff"})
        [msg] = FX.receive_all(url)
        attrs = msg["MessageAttributes"]
        self.assertEqual(attrs["s"], {"DataType": "String", "StringValue": "text"})
        self.assertEqual(attrs["n"], {"DataType": "Number", "StringValue": "42"})
        self.assertEqual(attrs["b"], {"DataType": "Binary", "BinaryValue": b"\x00\xff"})

    def test_delete_and_queue_depth(self):
        url = FX.create_queue(self.fresh_name("depth"), visibility_timeout=300)
        bodies = [s3_event_body("trail-bucket", f"k{i}") for i in range(12)]
        for b in bodies:
            FX.send(url, b)
        self.assertEqual(FX.queue_counts(url), {"visible": 12, "in_flight": 0, "delayed": 0})
        self.assertEqual(FX.queue_depth(url), 12)
        got = FX.receive_all(url)  # more than one ReceiveMessage batch (max 10)
        self.assertEqual(sorted(m["Body"] for m in got), sorted(bodies))
        self.assertEqual(FX.queue_counts(url), {"visible": 0, "in_flight": 12, "delayed": 0})
        self.assertEqual(FX.queue_depth(url), 12)
        self.assertEqual(FX.receive_all(url), [])  # all in flight: nothing visible
        for m in got[:5]:
            FX.delete(url, m)
        self.assertEqual(FX.queue_depth(url), 7)
        for m in got[5:]:
            FX.delete(url, m["ReceiptHandle"])
        self.assertEqual(FX.queue_depth(url), 0)

    def test_undeleted_message_comes_back_when_visibility_ends(self):
        url = FX.create_queue(self.fresh_name("redeliver"), visibility_timeout=300)
        FX.send(url, "again")
        [first] = FX.receive_all(url)
        self.assertEqual(first["Attributes"]["ApproximateReceiveCount"], "1")
        FX.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"],
                                         VisibilityTimeout=0)
        [second] = FX.receive_all(url)
        self.assertEqual(second["MessageId"], first["MessageId"])
        self.assertEqual(second["Attributes"]["ApproximateReceiveCount"], "2")
        FX.delete(url, second)
        self.assertEqual(FX.queue_depth(url), 0)

    def test_receive_all_with_expect_waits_for_messages_sent_meanwhile(self):
        url = FX.create_queue(self.fresh_name("longpoll"))
        result = {}
        started = time.monotonic()

        def receiver():
            result["messages"] = FX.receive_all(url, expect=2, timeout=15)
            result["elapsed"] = time.monotonic() - started

        t = threading.Thread(target=receiver)
        t.start()
        sender = FX.session.client("sqs", endpoint_url=FX.endpoint)  # own HTTP pool
        try:
            for body in ("one", "two"):
                sender.send_message(QueueUrl=url, MessageBody=body)
        finally:
            sender.close()
        t.join(timeout=30)
        self.assertFalse(t.is_alive())
        self.assertEqual(sorted(m["Body"] for m in result["messages"]), ["one", "two"])
        self.assertLess(result["elapsed"], 14)  # answered by arrival, not by the timeout

    def test_unknown_queue_is_an_error(self):
        with self.assertRaises(Exception) as ctx:
            FX.sqs.get_queue_url(QueueName="no-such-queue")
        # The code depends on the botocore version (query-compatible or JSON name).
        self.assertRegex(str(ctx.exception), r"NonExistentQueue|QueueDoesNotExist")


# --------------------------------------------------------------------------------------------
# life cycle: each test starts its own emulator
# --------------------------------------------------------------------------------------------

class LifecycleTests(unittest.TestCase):
    def assert_gone(self, pid, port):
        self.assertFalse(pid_alive(pid), f"emulator pid {pid} still exists")
        with socket.socket() as s:
            self.assertEqual(s.connect_ex((fauxqs.LOOPBACK, port)), errno.ECONNREFUSED)

    def test_process_is_gone_after_the_context_exits(self):
        with Fauxqs() as fx:
            pid, port = fx.pid, fx.port
            self.assertTrue(pid_alive(pid))
            fx.create_bucket("still-alive")
        self.assertEqual(fx.returncode, 0)
        self.assert_gone(pid, port)

    def test_process_is_stopped_when_the_block_raises(self):
        class Boom(Exception):
            pass

        with self.assertRaises(Boom):
            with Fauxqs() as fx:
                pid, port = fx.pid, fx.port
                raise Boom()
        self.assertEqual(fx.returncode, 0)
        self.assert_gone(pid, port)

    def test_emulator_exits_when_the_parent_pipe_closes(self):
        # Stands in for a test runner killed with SIGKILL: its end of the stdin pipe closes.
        fx = Fauxqs()
        fx.start()
        proc = fx._proc
        try:
            proc.stdin.close()
            self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            fx.stop(raise_on_error=False)
        self.assert_gone(proc.pid, fx.port)

    def test_explicit_port_and_port_in_use(self):
        with socket.socket() as holder:
            holder.bind((fauxqs.LOOPBACK, 0))
            holder.listen()
            busy = holder.getsockname()[1]
            started = time.monotonic()
            with self.assertRaises(FauxqsError) as ctx:
                Fauxqs(port=busy).start()
            self.assertIn("EADDRINUSE", str(ctx.exception))
            self.assertLess(time.monotonic() - started, 20)
        # The port is free now (the holder closed it): the emulator must take exactly it.
        with Fauxqs(port=busy) as fx:
            self.assertEqual(fx.port, busy)
            self.assertEqual(listening_sockets(busy), [("ipv4", "0100007F")])

    def test_stop_with_a_long_poll_outstanding(self):
        with Fauxqs() as fx:
            url = fx.create_queue("idle")
            conn = http.client.HTTPConnection(fauxqs.LOOPBACK, fx.port, timeout=25)
            conn.request("POST", "/", body=json.dumps({"QueueUrl": url, "WaitTimeSeconds": 20}),
                         headers={"Content-Type": "application/x-amz-json-1.0",
                                  "X-Amz-Target": "AmazonSQS.ReceiveMessage"})
            started = time.monotonic()
        # Shutdown must end the 20 s poll's connection rather than wait for it.
        self.assertEqual(fx.returncode, 0)
        try:
            conn.getresponse().read()
        except (http.client.HTTPException, OSError):
            pass
        finally:
            conn.close()
        self.assertLess(time.monotonic() - started, 10)


def main():
    return common.run_unittest(sys.argv, verbosity=2)


if __name__ == "__main__":
    sys.exit(main())
