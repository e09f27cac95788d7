#!/usr/bin/env python3
"""The installed Debian package, as a new user meets it: edit /etc/trailwarden/trailwarden.toml
(one file), start the agent the way the unit does (user trailwarden, the installed binary and
configuration), send a stream of CloudTrail notifications through the SQS/S3 emulator, and
watch /metrics move on the default address while they flow.

Usage (as root, with the package installed; scripts/package-check.sh runs it):
    python3 tests/integration/test_installed.py

It restores the configuration file it edited, whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import common

fauxqs = common.import_fauxqs("test_installed")

CONF = Path("/etc/trailwarden/trailwarden.toml")
BINARY = "/usr/bin/trailwarden"
METRICS = "http://127.0.0.1:9731/metrics"
BUCKET = "trail-bucket"


def scrape() -> dict[str, float]:
    with urllib.request.urlopen(METRICS, timeout=5) as r:
        return common.parse_metrics(r.read().decode())


def wait_until(predicate, timeout: float, what: str):
    # Polling: the agent signals nothing we could wait on. OSError: the endpoint is not up yet.
    return common.wait_until(predicate, timeout, what, interval=0.1, ignore=(OSError,))


def main() -> int:
    if os.geteuid() != 0 or not os.path.exists(BINARY):
        print("test_installed.py: run as root with the trailwarden package installed", file=sys.stderr)
        return 2
    original = CONF.read_bytes()
    stat = CONF.stat()
    tmp = Path(tempfile.mkdtemp(prefix="tw-installed-"))
    fx = fauxqs.Fauxqs()
    agent = None
    try:
        fx.start()
        fx.create_bucket(BUCKET)
        url = fx.create_queue("notifications", visibility_timeout=60)
        # The one edit a new user makes: the queue, the bucket (and here, the emulator).
        text = original.decode()
        text = text.replace('queue_url = ""', f'queue_url = "{url}"', 1)
        text = text.replace("allowed_buckets = []", f'allowed_buckets = ["{BUCKET}"]', 1)
        text = text.replace('endpoint_url = ""', f'endpoint_url = "{fx.endpoint}"', 1)
        text = text.replace('region = ""', 'region = "us-east-1"', 1)
        text = text.replace("wait_time_seconds = 20", "wait_time_seconds = 1", 1)
        assert text.count(url) == 1 and BUCKET in text, "the shipped configuration changed shape"
        CONF.write_text(text)
        os.chown(CONF, stat.st_uid, stat.st_gid)
        os.chmod(CONF, stat.st_mode)

        env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": fauxqs.DUMMY_ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": fauxqs.DUMMY_SECRET_KEY, "AWS_EC2_METADATA_DISABLED": "true"}
        out_path, err_path = tmp / "stdout", tmp / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            # setpriv execs (runuser would stay the parent and turn SIGTERM into its own death).
            agent = subprocess.Popen(["setpriv", "--reuid=trailwarden", "--regid=trailwarden",
                                      "--init-groups", "--", "env", "-i", *(
                f"{k}={v}" for k, v in env.items()), BINARY, "-c", str(CONF), "run"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd="/")
        wait_until(lambda: scrape().get("trailwarden_sqs_last_receive_timestamp_seconds", 0) > 0,
                   60, "the installed agent to poll the queue")

        # A stream: one object every 200 ms; the records counter must rise while it flows.
        seen = []
        expected = set()
        for i in range(15):
            data, ids = common.log_file(f"installed-{i}")  # eventIDs installed-I-0 .. -9
            expected |= ids
            key = f"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/26/installed-{i}.json.gz"
            fx.put_object(BUCKET, key, data)
            fx.send(url, fauxqs.s3_event_body(BUCKET, key))
            time.sleep(0.2)  # pacing the stream, not synchronisation
            seen.append(scrape()["trailwarden_records_scanned_total"])
        final = wait_until(lambda: (lambda m: m if m["trailwarden_sqs_messages_deleted_total"] >= 15
                                    else None)(scrape()), 60, "all 15 messages to be deleted")
        rising = sum(1 for a, b in zip(seen, seen[1:]) if b > a)
        # Live, not only at the end: it rose at least twice while the stream flowed (a loaded
        # machine may take the messages in bursts, so no rate is asked).
        assert rising >= 2, f"records_scanned_total barely moved while the stream flowed: {seen}"
        assert final["trailwarden_records_scanned_total"] == 15 * len(common.CONFIG_RECORDS), final
        assert final['trailwarden_rule_matches_total{rule="cis-4.9"}'] == len(expected), final
        with urllib.request.urlopen("http://127.0.0.1:9731/readyz", timeout=5) as r:
            assert r.status == 200
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=60)
        assert rc == 0, f"the agent exited with {rc}: {err_path.read_text()}"
        alerts = [json.loads(line) for line in out_path.read_text().splitlines() if line.strip()]
        got = {common.event_id(a) for a in alerts}
        assert got == expected and len(alerts) == len(expected), (len(alerts), len(expected))
        print(f"test_installed: the installed agent (user trailwarden) took 15 notifications; "
              f"/metrics rose in {rising} of 14 scrapes while they flowed; "
              f"{len(alerts)} alerts, each once")
        return 0
    except Exception as e:  # noqa: BLE001 - report and fail
        print(f"test_installed: FAIL: {e}", file=sys.stderr)
        if agent is not None and (tmp / "stderr").exists():
            print((tmp / "stderr").read_text()[-4000:], file=sys.stderr)
        return 1
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        CONF.write_bytes(original)
        os.chown(CONF, stat.st_uid, stat.st_gid)
        os.chmod(CONF, stat.st_mode)
        fx.stop(False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
