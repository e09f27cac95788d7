"""What the Python integration suites (tests/integration/test_*.py) share, in one place.

Imported as `import common` by the suites, which run as scripts from this directory (Python puts
a script's own directory first on sys.path). Standard library only; boto3 is needed by fauxqs
(peers/fauxqs.py), not by this module.

  running a suite   the re-run under Debian's python when boto3 is missing (import_fauxqs,
                    have_boto3); the "N passed, N failed" summary line and exit status that
                    CTest and scripts read (summary, cannot_run, run_unittest);
                    Failure / check / wait_until (polling with a deadline, never a fixed sleep)
  CloudTrail data   the AWS docs' AWS Config sample (tests/data/cloudtrail/awsdocs_config.json)
                    as gzipped log files with eventIDs of their own, their S3 keys, the eventIDs
                    CIS 4.9 must match; reading alert files and alerts' event ids
  the agent         `trailwarden -c CONFIG run` with the emulator's dummy credentials; GET and
                    /metrics parsing
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
import time
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










class Failure(AssertionError):
    """A verdict: what went wrong, said well enough that no traceback is needed. An
    AssertionError, so that unittest counts it as a failure."""


def check(cond, message):
    if not cond:
        raise Failure(message)




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

