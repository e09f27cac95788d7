#!/usr/bin/env python3
"""A CloudTrail stand-in on 127.0.0.1 (plain HTTP, like fauxqs): the two calls a digest verifier
makes, ListPublicKeys and DescribeTrails, answered from a trailgen keys.json
(tests/integration/trailgen.py), with the refusals AWS makes.

    from cloudtrail_standin import CloudTrailStandin

    with CloudTrailStandin(keys=out_dir / "keys.json", trails=[trail["describe_trails"]],
                           page_size=1) as ct:
        ... aws --endpoint-url ct.endpoint cloudtrail ... / trailwarden with its endpoint ...
        ops = [r["operation"] for r in ct.requests()]
    # here the stand-in has exited (also when the block raised)

Like dynalite.py and fauxqs.py: a child process (`python3 cloudtrail_standin.py serve --config
FILE`) that prints {"port": N} on one stdout line once it listens (the readiness event), is
stopped with SIGTERM when the block ends, and exits by itself when its standard input (a pipe
from the test) closes. Standard library only; any python3.

The service (POST /, JSON 1.1, X-Amz-Target com.amazonaws.cloudtrail.v20131101.
CloudTrail_20131101.<Op>; answers application/x-amz-json-1.1):
  auth        every request must carry a SigV4 Authorization header (else 403
              MissingAuthenticationTokenException, "Missing Authentication Token"), scoped to the
              service `cloudtrail` (else 403 InvalidSignatureException "Credential should be
              scoped to correct service: 'cloudtrail'. "); the signature itself is checked with
              peers/strict_aws.py's verifier against the known access keys (default: the dummy
              pair of fauxqs.py) -> 403 UnrecognizedClientException / InvalidSignatureException,
              and X-Amz-Date within 5 minutes of the real clock unless check_clock=False. The
              region is the credential scope's: keys are per region, as in AWS.
  ListPublicKeys  {"StartTime"?: epoch, "EndTime"?: epoch, "NextToken"?} -> {"PublicKeyList":
              [{"Value", "ValidityStartTime", "ValidityEndTime", "Fingerprint"}], "NextToken"?}:
              the region's keys whose validity overlaps [StartTime, EndTime] (either missing:
              now); a time that is not a number -> 400 SerializationException; StartTime after
              EndTime -> 400 InvalidTimeRangeException; a NextToken it did not issue for this
              range -> 400 InvalidTokenException. At most page_size keys per answer (default: all;
              the CLI 2.9 never follows NextToken, a paging client must).
  DescribeTrails  {"trailNameList"?: [name or ARN], "includeShadowTrails"?: bool (default true)}
              -> {"trailList": [...]}: the configured trails whose home region is the request's
              region, and multi-region trails of other home regions unless
              includeShadowTrails is false.
  else        400 UnknownOperationException (also a missing X-Amz-Target); a body that is not a
              JSON object -> 400 SerializationException.
  faults      fail(operation, status, error_type, count): the next `count` calls of an operation
              (or "*") answer with that error (e.g. 400 ThrottlingException, 500
              InternalFailure), to test a client's retries.

Control (plain HTTP on the same port, paths under /_standin/, never CloudTrail's "/"):
GET /_standin/requests (the request log: one entry per request with time, method, path,
operation, region, service, access_key, content_type, body (parsed JSON or text), status,
error), POST /_standin/requests/clear, POST /_standin/config {"keys"?, "trails"?, "page_size"?,
"now"?}, POST /_standin/fail {"operation", "status", "type", "count", "message"?}.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
if str(PEERS_DIR) not in sys.path:
    sys.path.insert(0, str(PEERS_DIR))

import launched_process  # noqa: E402  (beside this file)
import strict_aws  # noqa: E402  (its SigV4 verifier)

LOOPBACK = "127.0.0.1"
TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
JSON_11 = "application/x-amz-json-1.1"
DUMMY_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"       # fauxqs.py's and dynalite.py's dummy pair
DUMMY_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class CloudTrailStandinError(RuntimeError):
    """The stand-in could not be started, stopped or used as expected."""


# ---- the service ---------------------------------------------------------------------------------

class ServiceError(Exception):
    def __init__(self, status: int, type_: str, message: str | None = None):
        super().__init__(message or type_)
        self.status, self.type, self.message = status, type_, message


class State:
    def __init__(self, config: dict):
        self.lock = threading.Lock()
        self.keys: dict[str, list[dict]] = {}
        self.trails: list[dict] = []
        self.page_size: int | None = None
        self.now: float | None = None
        self.check_clock = True
        self.principals = {DUMMY_ACCESS_KEY: {"secret": DUMMY_SECRET_KEY}}
        self.requests: list[dict] = []
        self.faults: list[dict] = []
        self.configure(config)

    def configure(self, c: dict) -> None:
        if "keys" in c:
            keys = c["keys"]
            if not isinstance(keys, dict) or not all(isinstance(v, list) for v in keys.values()):
                raise ValueError('keys must be {"<region>": [{"Value", "ValidityStartTime", '
                                 '"ValidityEndTime", "Fingerprint"}]} (a trailgen keys.json)')
            self.keys = keys
        if "trails" in c:
            self.trails = list(c["trails"])
        if "page_size" in c:
            ps = c["page_size"]
            if ps is not None and (not isinstance(ps, int) or ps < 1):
                raise ValueError(f"page_size must be a positive integer or null, not {ps!r}")
            self.page_size = ps
        if "now" in c:
            self.now = c["now"]
        if "check_clock" in c:
            self.check_clock = bool(c["check_clock"])
        if "credentials" in c:
            self.principals = {k: {"secret": v} for k, v in c["credentials"].items()}

    def clock(self) -> float:
        return time.time() if self.now is None else float(self.now)


def _epoch_param(req: dict, name: str, default: float) -> float:
    if name not in req or req[name] is None:
        return default
    v = req[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ServiceError(400, "SerializationException",
                           f"{name}: expected a timestamp in epoch seconds, got {v!r}")
    return float(v)


def _page_token(start: float, end: float, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([start, end, offset]).encode()).decode()


def list_public_keys(st: State, region: str, req: dict) -> dict:
    now = st.clock()
    start = _epoch_param(req, "StartTime", now)
    end = _epoch_param(req, "EndTime", now)
    if start > end:
        raise ServiceError(400, "InvalidTimeRangeException",
                           "Start time must be before end time.")
    keys = [k for k in st.keys.get(region, [])
            if k["ValidityEndTime"] >= start and k["ValidityStartTime"] <= end]
    offset = 0
    token = req.get("NextToken")
    if token is not None:
        try:
            t_start, t_end, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
            if (t_start, t_end) != (start, end) or not 0 < offset <= len(keys):
                raise ValueError
        except (ValueError, TypeError, AttributeError):
            raise ServiceError(400, "InvalidTokenException", "Invalid NextToken.") from None
    size = st.page_size or len(keys) or 1
    page = keys[offset:offset + size]
    out: dict = {"PublicKeyList": page}
    if offset + size < len(keys):
        out["NextToken"] = _page_token(start, end, offset + size)
    return out


def describe_trails(st: State, region: str, req: dict) -> dict:
    names = req.get("trailNameList")
    shadow = req.get("includeShadowTrails", True)
    out = []
    for t in st.trails:
        home = t.get("HomeRegion")
        if home != region and not (t.get("IsMultiRegionTrail") and shadow):
            continue
        if names and t.get("Name") not in names and t.get("TrailARN") not in names:
            continue
        out.append(t)
    return {"trailList": out}


OPERATIONS = {"ListPublicKeys": list_public_keys, "DescribeTrails": describe_trails}
SCOPE_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")


def handle(st: State, method: str, path: str, headers, body: bytes) -> tuple[int, dict, dict]:
    """(status, JSON answer, log entry fields) of one CloudTrail request."""
    target = headers.get("x-amz-target", "")
    op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else None
    entry: dict = {"operation": op or target or None, "region": None, "service": None,
                   "access_key": None}
    auth = headers.get("authorization", "")
    if not auth:
        raise ServiceError(403, "MissingAuthenticationTokenException",
                           "Missing Authentication Token")
    m = SCOPE_RE.search(auth)
    if not m:
        raise ServiceError(403, "IncompleteSignatureException",
                           "Authorization header requires 'Credential' parameter "
                           "(KEY/DATE/REGION/SERVICE/aws4_request).")
    entry["access_key"], _, entry["region"], entry["service"] = m.groups()
    if entry["service"] != "cloudtrail":
        raise ServiceError(403, "InvalidSignatureException",
                           "Credential should be scoped to correct service: 'cloudtrail'. ")
    region = entry["region"]
    lower = {}
    for k, v in headers.items():
        lower.setdefault(k.lower(), []).append(v)
    raw_path, _, raw_query = path.partition("?")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not st.check_clock:
        amz = strict_aws._amz_time((lower.get("x-amz-date") or [""])[0])
        now = amz or now
    try:
        strict_aws.verify(st, method, raw_path, raw_query, lower, body, "cloudtrail", region, now)
    except strict_aws.AuthError as e:
        type_ = {"unknown_key": "UnrecognizedClientException",
                 "missing": "MissingAuthenticationTokenException",
                 "malformed": "IncompleteSignatureException"}.get(e.kind,
                                                                  "InvalidSignatureException")
        raise ServiceError(403, type_, e.message) from None
    if op not in OPERATIONS:
        raise ServiceError(400, "UnknownOperationException")
    with st.lock:
        for f in st.faults:
            if f["count"] > 0 and f["operation"] in (op, "*"):
                f["count"] -= 1
                raise ServiceError(f["status"], f["type"], f.get("message"))
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        raise ServiceError(400, "SerializationException", "Body is not valid JSON") from None
    if not isinstance(req, dict):
        raise ServiceError(400, "SerializationException", "Body is not a JSON object")
    with st.lock:
        return 200, OPERATIONS[op](st, region, req), entry


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudtrail-standin"

    def log_message(self, *args):
        pass

    def _send(self, status: int, obj, content_type: str = JSON_11) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", f"standin-{time.monotonic_ns()}")
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        st: State = self.server.state
        if self.path == "/_standin/requests":
            with st.lock:
                self._send(200, list(st.requests), "application/json")
        else:
            self._send(404, {"error": f"no such control path {self.path}"}, "application/json")

    def do_POST(self):
        st: State = self.server.state
        body = self._body()
        if self.path.startswith("/_standin/"):
            return self._control(st, self.path, body)
        entry = {"time": time.time(), "method": "POST", "path": self.path,
                 "content_type": self.headers.get("Content-Type"),
                 "target": self.headers.get("X-Amz-Target")}
        try:
            entry["body"] = json.loads(body) if body else None
        except ValueError:
            entry["body"] = body.decode("utf-8", "replace")
        try:
            status, answer, fields = handle(st, "POST", self.path, self.headers, body)
            entry.update(fields)
            entry.update(status=status, error=None)
        except ServiceError as e:
            status = e.status
            answer = {"__type": e.type}
            if e.message:
                answer["message"] = e.message
            entry.update(status=status, error=e.type)
            m = SCOPE_RE.search(self.headers.get("Authorization", ""))
            target = self.headers.get("X-Amz-Target", "")
            entry.setdefault("operation", target[len(TARGET_PREFIX):]
                             if target.startswith(TARGET_PREFIX) else target or None)
            entry.setdefault("access_key", m.group(1) if m else None)
            entry.setdefault("region", m.group(3) if m else None)
            entry.setdefault("service", m.group(4) if m else None)
        with st.lock:
            st.requests.append(entry)
        self._send(status, answer)

    def do_PUT(self):
        self._send(405, {"__type": "UnknownOperationException"})

    def _control(self, st: State, path: str, body: bytes) -> None:
        try:
            a = json.loads(body or b"{}")
            with st.lock:
                if path == "/_standin/requests/clear":
                    st.requests.clear()
                elif path == "/_standin/config":
                    st.configure(a)
                elif path == "/_standin/fail":
                    st.faults.append({"operation": a["operation"], "status": int(a["status"]),
                                      "type": a["type"], "count": int(a.get("count", 1)),
                                      "message": a.get("message")})
                else:
                    return self._send(404, {"error": f"no such control path {path}"},
                                      "application/json")
        except (ValueError, KeyError, TypeError) as e:
            return self._send(400, {"error": str(e)}, "application/json")
        self._send(200, {"ok": True}, "application/json")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: State):
        super().__init__((LOOPBACK, port), Handler)
        self.state = state


def serve(config_path: str, port: int) -> int:
    state = State(json.loads(Path(config_path).read_text()))
    server = Server(port, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)

    def stdin_closed():
        while os.read(0, 4096):   # the raw fd: no buffer lock held at interpreter exit
            pass
        os._exit(0)
    threading.Thread(target=stdin_closed, daemon=True).start()
    import signal
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    server.shutdown()
    server.server_close()
    return 0


# ---- the test's handle ---------------------------------------------------------------------------

def _load_keys(keys) -> dict:
    if keys is None:
        return {}
    if isinstance(keys, (str, os.PathLike)):
        return json.loads(Path(keys).read_text())
    return dict(keys)


class CloudTrailStandin:
    """One stand-in process on 127.0.0.1. `keys`: a trailgen keys.json path or its dict;
    `trails`: DescribeTrails entries (trailgen's trail.json "describe_trails"); `page_size`:
    keys per ListPublicKeys answer (None: all); `credentials`: {access key: secret} it accepts
    (default fauxqs's dummy pair); `check_clock`: refuse an X-Amz-Date 5 min away from the real
    clock. Attributes after start(): port, endpoint ("http://127.0.0.1:PORT")."""

    def __init__(self, *, keys=None, trails=(), page_size: int | None = None,
                 credentials: dict | None = None, check_clock: bool = True, port: int = 0,
                 startup_timeout: float = 30.0, stop_timeout: float = 10.0):
        self.config = {"keys": _load_keys(keys), "trails": list(trails), "page_size": page_size,
                       "check_clock": check_clock}
        if credentials is not None:
            self.config["credentials"] = dict(credentials)
        self.requested_port = port
        self.startup_timeout, self.stop_timeout = startup_timeout, stop_timeout
        self.port: int | None = None
        self.endpoint: str | None = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._dir: tempfile.TemporaryDirectory | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __enter__(self) -> "CloudTrailStandin":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop(raise_on_error=exc_type is None)
        return False

    def start(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ct-standin-")
        config = Path(self._dir.name) / "config.json"
        config.write_text(json.dumps(self.config))
        self._stderr = tempfile.TemporaryFile(prefix="ct-standin-", suffix=".stderr")
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--config", str(config),
             "--port", str(self.requested_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=PEERS_DIR)
        try:
            line = launched_process.read_ready_line(self._proc, "cloudtrail stand-in",
                                                    self.startup_timeout, self._stderr,
                                                    CloudTrailStandinError)
            self.port = int(json.loads(line)["port"])
            self.endpoint = f"http://{LOOPBACK}:{self.port}"
        except BaseException:
            self.stop(raise_on_error=False)
            raise

    def stop(self, raise_on_error: bool = True) -> None:
        proc, self._proc = self._proc, None
        problem = None
        if proc is not None:
            problem = launched_process.stop_process(proc, "cloudtrail stand-in",
                                                    self.stop_timeout, self._stderr)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        if problem and raise_on_error:
            raise CloudTrailStandinError(problem)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _control(self, method: str, path: str, body=None):
        if self.endpoint is None:
            raise CloudTrailStandinError("the stand-in is not started")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise CloudTrailStandinError(f"{method} {path}: {e.code} {e.read()!r}") from None

    def requests(self) -> list[dict]:
        """The request log, oldest first (see the module docstring for the fields)."""
        return self._control("GET", "/_standin/requests")

    def clear_requests(self) -> None:
        self._control("POST", "/_standin/requests/clear", {})

    def configure(self, *, keys=None, trails=None, page_size="unchanged", now="unchanged",
                  check_clock=None) -> None:
        """Changes what it serves from now on. now: epoch seconds ListPublicKeys takes for a
        missing StartTime/EndTime (None: the real clock)."""
        c: dict = {}
        if keys is not None:
            c["keys"] = _load_keys(keys)
        if trails is not None:
            c["trails"] = list(trails)
        if page_size != "unchanged":
            c["page_size"] = page_size
        if now != "unchanged":
            c["now"] = now
        if check_clock is not None:
            c["check_clock"] = check_clock
        self._control("POST", "/_standin/config", c)

    def fail(self, operation: str, status: int, error_type: str, count: int = 1,
             message: str | None = None) -> None:
        """The next `count` calls of `operation` ("*": any) answer `status` {"__type":
        error_type}."""
        self._control("POST", "/_standin/fail", {"operation": operation, "status": status,
                                                 "type": error_type, "count": count,
                                                 "message": message})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="CloudTrail stand-in (see the module docstring)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--config", required=True,
                   help='JSON {"keys": keys.json content, "trails": [...], "page_size": N}')
    s.add_argument("--port", type=int, default=0)
    a = p.parse_args(argv)
    return serve(a.config, a.port)


if __name__ == "__main__":
    sys.exit(main())
