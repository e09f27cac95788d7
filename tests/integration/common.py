"""What the Python integration suites (tests/integration/test_*.py) share, in one place.

Imported as `import common` by the suites, which run as scripts from this directory (Python puts
a script's own directory first on sys.path). Standard library only; boto3 is needed by fauxqs
(peers/fauxqs.py), not by this module.

  running a suite   the re-run under Debian's python when boto3 is missing (import_fauxqs,
                    have_boto3); the "N passed, N failed" summary line and exit status that
                    CTest and scripts read (summary, cannot_run, run_unittest, run_suite);
                    Failure / check / wait_until (polling with a deadline, never a fixed sleep)
  CloudTrail data   the AWS docs' AWS Config sample (tests/data/cloudtrail/awsdocs_config.json)
                    as gzipped log files with eventIDs of their own, their S3 keys, the eventIDs
                    CIS 4.9 must match; reading alert files and alerts' event ids; checking
                    alerts against the OCSF schema (assert_valid_alerts)
  the agent         `trailwarden -c CONFIG run` with the emulator's dummy credentials; GET and
                    /metrics parsing
  peers             free ports, rsyslogd, peers/hec_receiver.py, the Kafka mock cluster and
                    kcat, a throwaway TLS certificate, botocore's clock held still
"""

from __future__ import annotations

import copy
import datetime
import gzip
import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import types
import unittest
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
PEERS = ROOT / "tests" / "integration" / "peers"
HEC_RECEIVER = PEERS / "hec_receiver.py"

DEBIAN_PYTHON = "/usr/bin/python3"  # has boto3 once scripts/setup-peers.sh installed python3-boto3
REEXEC_ENV = "TRAILWARDEN_TESTS_REEXEC"  # set on the re-run, so that it happens once at most


# ---- Running a suite ----

def have_boto3(prog: str) -> bool:
    """True if this python can import boto3. If it cannot (a pyenv or venv python without it),
    the calling script is run again with /usr/bin/python3, which has Debian's python3-boto3 (this
    call then does not return); False if that is not possible or was tried already."""
    try:
        import boto3  # noqa: F401
        return True
    except ImportError:
        pass
    if os.path.exists(DEBIAN_PYTHON) and not os.environ.get(REEXEC_ENV) and \
            os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON):
        print(f"{prog}: {sys.executable} has no boto3; re-running with {DEBIAN_PYTHON}",
              file=sys.stderr)
        os.environ[REEXEC_ENV] = "1"
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, *sys.argv])
    return False


def import_fauxqs(prog: str):
    """The emulator harness, peers/fauxqs.py, run under a python that has boto3 (have_boto3). If
    none has it, fauxqs says so when the emulator is started."""
    have_boto3(prog)
    if str(PEERS) not in sys.path:
        sys.path.insert(0, str(PEERS))
    import fauxqs
    return fauxqs


def summary(passed: int, failed: int) -> int:
    """Prints the last line, "N passed, N failed", and returns the exit status: 0 only if
    something passed and nothing failed."""
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def cannot_run(message: str, file=None) -> int:
    """A suite that cannot start (a missing tool, a bad argument): the reason, then the summary
    line of one failure. Returns the exit status, 1."""
    print(message, file=file or sys.stdout)
    return summary(0, 1)


def run_unittest(argv: list[str], verbosity: int) -> int:
    """unittest.main on `argv` (argv[0] and unittest's own arguments), then the summary line
    "N passed, N failed[, N skipped]". Exit status 1 if a test failed (unexpected successes
    count as failures) or none ran."""
    result = unittest.main(argv=argv, exit=False, verbosity=verbosity).result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    sys.stdout.flush()
    sys.stderr.flush()
    print(line)
    return 1 if failed or not result.testsRun else 0


def tool_argument(usage: str) -> str:
    """The one command-line argument: the program under test. With any other number of
    arguments, prints `usage` and exits with status 2."""
    if len(sys.argv) != 2:
        print(usage)
        sys.exit(2)
    return sys.argv[1]


def module_tests(namespace: dict, only: str | None = None) -> list[tuple[str, object]]:
    """The test_* functions of a module (pass globals()), in definition order; with `only`, those
    whose name contains it."""
    return [(name, fn) for name, fn in namespace.items()
            if name.startswith("test_") and callable(fn) and (not only or only in name)]


def run_suite(tests, setup=None, before_each=None, teardown=None, tmp=None, keep=False) -> int:
    """Runs (name, function) pairs in order, printing "ok   NAME", or "FAIL NAME" and the
    traceback, for each. setup() comes first and before_each() ahead of every test: an
    exception in either ends the run as one more failure, "FAIL setup". teardown() runs at the
    end whatever happened; then the directory `tmp` is removed, unless a test failed and `keep`
    is true ("kept TMP"). Prints the summary line; returns the exit status."""
    passed = failed = 0
    try:
        if setup:
            setup()
        for name, fn in tests:
            if before_each:
                before_each()
            try:
                fn()
                passed += 1
                print(f"ok   {name}", flush=True)
            except Exception:  # noqa: BLE001 - report and go on
                failed += 1
                print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
    except Exception:  # noqa: BLE001
        failed += 1
        print(f"FAIL setup\n{traceback.format_exc()}")
    finally:
        if teardown:
            teardown()
        if tmp and failed and keep:
            print(f"kept {tmp}")
        elif tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return summary(passed, failed)


def close_all(*things):
    """close() of each of `things` that is not None (started peers, at the end of a suite)."""
    for thing in things:
        if thing is not None:
            thing.close()


class Failure(AssertionError):
    """A verdict: what went wrong, said well enough that no traceback is needed. An
    AssertionError, so that unittest counts it as a failure."""


def check(cond, message):
    if not cond:
        raise Failure(message)


def failure_detail(e: BaseException) -> str:
    """The message of a Failure; the traceback of anything else (a bug in the test)."""
    return str(e) if isinstance(e, Failure) else traceback.format_exc()


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1, ignore=()):
    """Polls `predicate` every `interval` seconds until it returns something true, and returns
    that; raises Failure after `timeout` seconds. Exceptions of the types in `ignore` raised by
    the predicate count as "not yet" (e.g. OSError while an endpoint is not up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)  # polling a condition nothing signals


# ---- CloudTrail test data and the alerts made from it ----

CONFIG_FILE = DATA / "cloudtrail" / "awsdocs_config.json"  # ten AWS Config records (AWS docs)
CONFIG_RECORDS = json.loads(CONFIG_FILE.read_text())["Records"]
# CIS 4.9 (AWS Config configuration changes) matches these calls of config.amazonaws.com: four
# of the ten records.
CIS49 = {"StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel",
         "PutConfigurationRecorder"}


def is_cis49(record: dict) -> bool:
    return (record.get("eventSource") == "config.amazonaws.com"
            and record.get("eventName") in CIS49)


def log_file(tag: str) -> tuple[bytes, set[str]]:
    """A gzipped CloudTrail file of CONFIG_RECORDS whose eventIDs are unique to `tag`
    ("TAG-0" .. "TAG-9"); returns the bytes and the eventIDs of the records CIS 4.9 must match."""
    records = copy.deepcopy(CONFIG_RECORDS)
    expected = set()
    for i, r in enumerate(records):
        r["eventID"] = f"{tag}-{i}"
        if is_cis49(r):
            expected.add(r["eventID"])
    return gzip.compress(json.dumps({"Records": records}).encode()), expected


def key_for(tag: str) -> str:
    """The S3 key CloudTrail would give a log file, ending in `tag`."""
    return ("AWSLogs/111122223333/CloudTrail/us-east-1/2024/11/18/"
            f"111122223333_CloudTrail_us-east-1_20241118T0000Z_{tag}.json.gz")


def event_id(alert: dict) -> str:
    """The eventID of the CloudTrail record an alert is about."""
    return alert["finding_info"]["related_events"][0]["uid"]


def complete_lines(text: str) -> list[str]:
    """The non-blank lines of `text`, without a last line that has no newline (still being
    written)."""
    return [line for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]


def alerts_in(path: Path, torn_lines_allowed: bool = False) -> list[dict]:
    """The alerts in an output file. A last line without its newline is still being written
    and is left out. With torn_lines_allowed, lines that are not JSON (an agent killed with
    SIGKILL mid-write leaves one) are skipped too."""
    if not path.exists():
        return []
    out = []
    for line in complete_lines(path.read_text()):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if not torn_lines_allowed:
                raise
    return out


def assert_valid_alerts(lines_or_docs) -> None:
    """Raises Failure unless every alert (JSON lines or parsed dicts) is a valid OCSF 1.4.0
    Detection Finding (tests/tools/ocsf_validate.py), naming each violation."""
    sys.path.insert(0, str(ROOT / "tests" / "tools"))
    try:
        import ocsf_validate
    finally:
        sys.path.pop(0)
    problems = []
    for i, item in enumerate(lines_or_docs):
        doc = json.loads(item) if isinstance(item, (str, bytes)) else item
        problems += [f"alert {i}: {v}" for v in ocsf_validate.validate(doc)]
    check(not problems, f"{len(problems)} OCSF schema violations:\n  " + "\n  ".join(problems[:40]))


# ---- The agent ----

def agent_config(state_dir, endpoint: str, queue_url: str, bucket: str, visibility: int,
                 workers: int = 2) -> str:
    """The [general], [aws] and [source.sqs] tables of the configuration of an agent that reads
    `queue_url` on the emulator at `endpoint`, with 1 s long polls, and fetches objects of
    `bucket` only. The caller adds its own keys of [source.sqs], then its other tables."""
    return f"""
[general]
log_level = "info"
state_dir = "{state_dir}"
[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
[source.sqs]
queue_url = "{queue_url}"
wait_time_seconds = 1
visibility_timeout_seconds = {visibility}
allowed_buckets = ["{bucket}"]
workers = {workers}
shutdown_timeout_seconds = 10
"""


def start_agent(binary, config, stderr) -> subprocess.Popen:
    """`binary -c config run` against the emulator: fauxqs's dummy credentials in the
    environment, no instance metadata, no AWS profile; stdout discarded, stderr to the open file
    `stderr`."""
    import fauxqs  # on sys.path since import_fauxqs()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=fauxqs.DUMMY_ACCESS_KEY,
               AWS_SECRET_ACCESS_KEY=fauxqs.DUMMY_SECRET_KEY, AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    return subprocess.Popen([binary, "-c", str(config), "run"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    """(status, body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse_metrics(text: str) -> dict[str, float]:
    """Samples of a Prometheus text page by their full name with labels, e.g.
    'x_total{output="a"}'."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


# ---- Ports and processes ----

def free_port(kind=socket.SOCK_STREAM) -> int:
    """A port of 127.0.0.1 free at the moment (TCP, or UDP with socket.SOCK_DGRAM)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_RESTARTABLE_GIVEN: set[int] = set()


def restartable_port() -> int:
    """A free TCP port of 127.0.0.1 below the ephemeral range, never one this process got
    before. A listener that goes down and comes back on the same port must not have it taken
    meanwhile by an outgoing connection's ephemeral port (or by the agent connecting to itself:
    TCP self-connect); a port nothing listens on is refused for the same reason."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in _RESTARTABLE_GIVEN:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            _RESTARTABLE_GIVEN.add(port)
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise Failure("no free port below the ephemeral range")


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen, timeout: float = 10):
    """SIGTERM, and SIGKILL if it has not exited within `timeout` seconds; the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# ---- Peers ----

def start_rsyslogd(directory, conf, tcp_ports, timeout: float = 30) -> subprocess.Popen:
    """Debian's rsyslogd in the foreground with the configuration file `conf` (`rsyslogd -n -f
    CONF -i DIRECTORY/rsyslogd.pid`), its output appended to DIRECTORY/rsyslogd.out. Returns once
    it accepts connections on every port of `tcp_ports`; Failure if it exits first."""
    with open(f"{directory}/rsyslogd.out", "ab") as out:
        proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i",
                                 f"{directory}/rsyslogd.pid"],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    for port in tcp_ports:
        def listening(port=port):
            check(proc.poll() is None,
                  f"rsyslogd exited with {proc.returncode}; see {directory}/rsyslogd.out")
            return port_open(port)
        wait_until(listening, max(0.0, deadline - time.monotonic()),
                   f"rsyslogd to listen on {port}", interval=0.02)
    return proc


def start_hec_receiver(args, stderr=subprocess.PIPE, timeout: float = 30):
    """peers/hec_receiver.py with `args`, started with this python; returns (the process, its
    ready line {"port", "admin_port", "scheme"}) once it listens. `stderr`: where its stderr
    goes (by default a pipe, whose text is in the error if it does not start)."""
    proc = subprocess.Popen([sys.executable, str(HEC_RECEIVER), *args], stdout=subprocess.PIPE,
                            stderr=stderr)
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    if not line:
        stop_process(proc)
        why = proc.stderr.read().decode() if stderr == subprocess.PIPE else \
            f"exit status {proc.returncode}"
        raise RuntimeError("hec_receiver did not start: " + why)
    return proc, json.loads(line)


def self_signed_cert(directory) -> tuple[str, str]:
    """DIRECTORY/cert.pem and DIRECTORY/key.pem: a throwaway RSA certificate for 127.0.0.1 (CN
    and IP SAN), valid for a day, made with the openssl command."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("the openssl command is needed (Debian package openssl)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class LineReader:
    """Reads a stream's lines on a thread; wait_for() blocks until a line matches."""

    def __init__(self, stream):
        self.lines = []
        self._cv = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream):
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cv:
                self.lines.append(line)
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def wait_for(self, predicate, timeout, start=0, what="a line"):
        """Index of the first line at or after `start` for which predicate(line) holds."""
        deadline = time.monotonic() + timeout
        i = start
        with self._cv:
            while True:
                while i < len(self.lines):
                    if predicate(self.lines[i]):
                        return i
                    i += 1
                if self._eof:
                    raise Failure(f"stream ended before {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f"timed out after {timeout} s waiting for {what}")
                self._cv.wait(left)

    def text(self):
        with self._cv:
            return "\n".join(self.lines)

    def join(self, timeout=10):
        self._thread.join(timeout)


class MockCluster:
    """tests/integration/kafka_mock_cluster: librdkafka's mock cluster, three brokers on
    127.0.0.1. Its first line is the bootstrap servers; it answers each command on its stdin
    ("create TOPIC PARTITIONS REPLICAS", "down B", "up B", "topic_error", "produce_errors") with
    a line, "ok" if done, and exits cleanly at the end of its input. `stderr`: an open file for
    its stderr; by default it is read into self.err (a LineReader)."""

    def __init__(self, binary, stderr=None):
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr if stderr is not None else subprocess.PIPE)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr) if stderr is None else None
        self.out.wait_for(lambda l: True, 30, what="the bootstrap servers")
        self.bootstraps = self.out.lines[0]
        check(re.fullmatch(r"127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){2}", self.bootstraps),
              f"unexpected bootstraps {self.bootstraps!r}")
        self._replies = 1

    def command(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()
        i = self.out.wait_for(lambda l: True, 30, start=self._replies, what=f"reply to {cmd}")
        self._replies = i + 1
        reply = self.out.lines[i]
        check(reply == "ok", f"mock cluster: {cmd}: {reply}")

    def stop(self):
        try:
            self.proc.stdin.close()  # end of input: the mock exits cleanly
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc


def kcat_consume(bootstraps: str, topic: str, timeout: float = 60) -> list[dict]:
    """Every message of `topic`, from the beginning to the end, read with kcat: the objects of
    its -J output ("key", "payload", ...)."""
    try:
        p = subprocess.run(["kcat", "-C", "-b", bootstraps, "-t", topic, "-o", "beginning",
                            "-e", "-q", "-J"], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"kcat did not reach the end of {topic} within {timeout} s")
    check(p.returncode == 0, f"kcat failed: {p.stderr.decode(errors='replace')}")
    return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]


def botocore_clock_at(fixed: datetime.datetime):
    """A patcher (a context manager) under which botocore's signers take `fixed` (naive UTC) for
    the current time. botocore >= 1.31 reads the clock through
    botocore.auth.get_current_datetime(); older ones (Debian 12's 1.29) through
    datetime.datetime.utcnow()."""
    import botocore.auth
    from unittest import mock

    if hasattr(botocore.auth, "get_current_datetime"):
        return mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **kw: fixed)

    class FixedDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed
    return mock.patch.object(botocore.auth, "datetime",
                             types.SimpleNamespace(datetime=FixedDateTime))
