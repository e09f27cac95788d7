#!/usr/bin/env python3
"""The credential chain and the libcurl HTTP client against local emulators.

Run as:  python3 tests/integration/test_credentials_http.py /path/to/credentials_tool

A small HTTP server on 127.0.0.1 (Python standard library) emulates EC2 instance metadata
(IMDSv2 tokens, IMDSv1 fallback), the ECS / EKS Pod Identity container credential endpoint and
STS (AssumeRoleWithWebIdentity, and AssumeRole with its SigV4 signature verified by botocore);
an HTTPS server with a throwaway certificate checks TLS verification. credentials_tool
(tests/integration/credentials_tool.cpp) runs the real chain and CurlHttpClient with an
environment built here (nothing from the caller's AWS environment leaks in; IMDS and STS always
point at the emulator). No network other than 127.0.0.1 is used.

Every run of the tool is also checked for secrets: no secret key, session token or
authorization token may appear in its output. The last line printed is "N passed, N failed";
the exit status is non-zero if any test failed.
"""

import datetime
import hashlib
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import common

TOOL = None
SERVER = None
TLS = None
TMP = None

IMDS_SESSION = "IMDS-SESSION-TOKEN-7f3a"
IMDS_CREDS = {"AccessKeyId": "ASIAIMDSEXAMPLE00001", "SecretAccessKey": "IMDS-SECRET-q9w8e7",
              "Token": "IMDS-TOKEN-z1x2c3", "Expiration": "2099-01-01T00:00:00Z"}
CONTAINER_AUTH = "CONTAINER-AUTH-TOKEN-55aa"
CONTAINER_CREDS = {"AccessKeyId": "ASIACONTAINER0000001", "SecretAccessKey": "CONT-SECRET-r4t5y6",
                   "Token": "CONT-TOKEN-u7i8o9", "Expiration": "2099-01-01T00:00:00Z",
                   "RoleArn": "arn:aws:iam::123456789012:role/task"}
WEB_TOKEN = "WEB-IDENTITY-JWT-eyJhbGciOi"
STS_CREDS = ("ASIASTSEXAMPLE000001", "STS-SECRET-a1s2d3", "STS-TOKEN-f4g5h6")
SOURCE = ("AKIASOURCEEXAMPLE001", "SOURCE-SECRET-j7k8l9", "SOURCE-TOKEN-m0n1b2")
SSO_BEARER = "SSO-BEARER-TOKEN-c0ffee"
SSO_CREDS = ("ASIASSOEXAMPLE000001", "SSO-SECRET-p0o9i8", "SSO-TOKEN-l1k2j3")
PROC_CREDS = ("ASIAPROCEXAMPLE00001", "PROC-SECRET-h4g5f6", "PROC-TOKEN-d7s8a9")
SECRETS = [SSO_BEARER, SSO_CREDS[1], SSO_CREDS[2], PROC_CREDS[1], PROC_CREDS[2], IMDS_SESSION, IMDS_CREDS["SecretAccessKey"], IMDS_CREDS["Token"], CONTAINER_AUTH,
           CONTAINER_CREDS["SecretAccessKey"], CONTAINER_CREDS["Token"], WEB_TOKEN,
           STS_CREDS[1], STS_CREDS[2], SOURCE[1], SOURCE[2]]


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# emulator
# --------------------------------------------------------------------------------------------

class State:
    def __init__(self):
        self.reset()
        self.release = threading.Event()

    def reset(self):
        self.requests = []
        self.imds_token_status = 200
        self.imds_token_hang = False      # the PUT's answer never arrives (hop limit 1)
        self.imds_v1_allowed = True
        self.container_status = 200
        self.container_failures = 0       # answer 503 to this many requests first
        self.container_times = []
        self.big_size = 0
        self.sts_errors = []


def sts_xml(action, creds):
    return (f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>'
            f'<Credentials><AccessKeyId>{creds[0]}</AccessKeyId><SecretAccessKey>{creds[1]}'
            f'</SecretAccessKey><SessionToken>{creds[2]}</SessionToken><Expiration>'
            f'2099-01-01T00:00:00Z</Expiration></Credentials></{action}Result></{action}Response>')


def sts_error(code, message):
    return (f'<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}'
            f'</Message></Error><RequestId>1</RequestId></ErrorResponse>')


def verify_sigv4(method, path, headers, body):
    """Recomputes the request's SigV4 signature with botocore; returns '' or what is wrong."""
    try:
        import botocore.auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError as e:
        return f"botocore is not importable ({e}): install python3-botocore"
    auth = headers.get("authorization", [""])[0]
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})", auth)
    if not m:
        return f"malformed Authorization {auth!r}"
    key_id, _, region, service, signed, _ = m.groups()
    if key_id != SOURCE[0]:
        return f"signed with unexpected key id {key_id}"
    for required in ("host", "x-amz-date"):
        if required not in signed.split(";"):
            return f"{required} is not signed"
    req = AWSRequest(method=method, url=f"http://{headers['host'][0]}{path}", data=body)
    for name in signed.split(";"):
        for value in headers.get(name, []):
            req.headers[name] = value
    token = headers.get("x-amz-security-token", [None])[0]
    signer = botocore.auth.SigV4Auth(Credentials(SOURCE[0], SOURCE[1], token), service, region)
    fixed = datetime.datetime.strptime(headers["x-amz-date"][0], "%Y%m%dT%H%M%SZ")
    with common.botocore_clock_at(fixed):
        signer.add_auth(req)
    if req.headers["Authorization"] != auth:
        return f"signature mismatch: botocore {req.headers['Authorization']} vs {auth}"
    return ""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="application/json", extra=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (size bound): expected

    def record(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        headers = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        self.state.requests.append((self.command, self.path, headers, body))
        return headers, body

    def do_PUT(self):
        self.route()

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def route(self):
        headers, body = self.record()
        st = self.state
        path = self.path
        if path.startswith("/hang"):
            st.release.wait(20)  # an endpoint that never answers (released at teardown)
            self.close_connection = True
            return
        if path.startswith("/echo"):
            return self.reply(200, json.dumps({"method": self.command, "path": path,
                                               "headers": headers,
                                               "body": body.decode("utf-8", "replace")}))
        if path == "/latest/api/token" and self.command == "PUT":
            if st.imds_token_hang:
                st.release.wait(20)
                self.close_connection = True
                return
            if st.imds_token_status != 200:
                return self.reply(st.imds_token_status, "")
            ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", [""])[0]
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.reply(400, "bad ttl")
            return self.reply(200, IMDS_SESSION, "text/plain")
        if path.startswith("/latest/meta-data/iam/security-credentials/"):
            token = headers.get("x-aws-ec2-metadata-token", [None])[0]
            v2_only = not st.imds_v1_allowed or (st.imds_token_status == 200 and
                                                 not st.imds_token_hang)
            if v2_only and token != IMDS_SESSION:
                return self.reply(401, "")
            role = path[len("/latest/meta-data/iam/security-credentials/"):]
            if role == "":
                return self.reply(200, "test-role\n", "text/plain")
            if role == "test-role":
                return self.reply(200, json.dumps(dict(IMDS_CREDS, Code="Success",
                                                       Type="AWS-HMAC")))
            return self.reply(404, "")
        if path == "/container/creds":
            st.container_times.append(time.monotonic())
            if st.container_failures > 0:
                st.container_failures -= 1
                return self.reply(503, json.dumps({"code": "ServiceUnavailable",
                                                   "message": "agent starting"}))
            got = headers.get("authorization", [""])[0]
            if st.container_status != 200:
                return self.reply(st.container_status, "{}")
            if got != CONTAINER_AUTH:
                # Echoes what it was sent, as a careless endpoint might.
                return self.reply(401, json.dumps({"code": "InvalidToken",
                                                   "message": f"token {got!r} is not valid"}))
            return self.reply(200, json.dumps(CONTAINER_CREDS))
        if path == "/container/big":
            return self.reply(200, "x" * st.big_size)
        if path == "/container/redirect":
            return self.reply(302, "", extra=[("Location", "/container/creds")])
        if path.startswith("/federation/credentials"):
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
            if headers.get("x-amz-sso_bearer_token", [""])[0] != SSO_BEARER:
                return self.reply(401, json.dumps({"message": "Session token not found or "
                                                   "invalid"}),
                                  extra=[("x-amzn-ErrorType", "UnauthorizedException")])
            if query != {"account_id": "123456789012", "role_name": "SecurityAudit"}:
                return self.reply(400, json.dumps({"message": f"bad query {query}"}))
            return self.reply(200, json.dumps({"roleCredentials": {
                "accessKeyId": SSO_CREDS[0], "secretAccessKey": SSO_CREDS[1],
                "sessionToken": SSO_CREDS[2], "expiration": 4070908800000}}))
        if path == "/" and self.command == "POST":
            form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
            action = form.get("Action")
            if form.get("Version") != "2011-06-15":
                return self.reply(400, sts_error("InvalidParameterValue", "Version"), "text/xml")
            if action == "AssumeRoleWithWebIdentity":
                if "authorization" in headers:
                    return self.reply(400, sts_error("InvalidRequest", "signed"), "text/xml")
                if form.get("WebIdentityToken") != WEB_TOKEN:
                    return self.reply(400, sts_error(
                        "InvalidIdentityToken",
                        f"token {form.get('WebIdentityToken')} is invalid"), "text/xml")
                return self.reply(200, sts_xml(action, STS_CREDS), "text/xml")
            if action == "AssumeRole":
                why = verify_sigv4(self.command, path, headers, body)
                if why:
                    st.sts_errors.append(why)
                    return self.reply(403, sts_error("SignatureDoesNotMatch", why), "text/xml")
                if form.get("RoleArn") != "arn:aws:iam::123456789012:role/trailwarden":
                    return self.reply(403, sts_error("AccessDenied", "wrong role"), "text/xml")
                return self.reply(200, sts_xml(action, STS_CREDS), "text/xml")
        return self.reply(404, "no route")


class Server:
    def __init__(self, tls_context=None):
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls_context:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.state.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def base_env(**extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.path.join(TMP, "home"),
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_STS": SERVER.url + "/",
           "LANG": "C"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LD_LIBRARY_PATH"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env


def run(args, env, timeout=60):
    p = subprocess.run([TOOL] + args, env=env, capture_output=True, timeout=timeout)
    out, err = p.stdout.decode(), p.stderr.decode()
    for s in SECRETS:
        assert s not in out and s not in err, f"secret {s[:6]}... printed: {out} {err}"
    return p.returncode, (json.loads(out) if out.strip() else None), err


def resolve(env, *args):
    rc, result, err = run(["resolve"] + list(args), env)
    assert result is not None, f"no output (exit {rc}): {err}"
    assert (rc == 0) == result["ok"], f"exit {rc} but {result}"
    return result


def imds_env(**extra):
    env = base_env(AWS_EC2_METADATA_SERVICE_ENDPOINT=SERVER.url)
    del env["AWS_EC2_METADATA_DISABLED"]
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------

def test_imds_v2():
    r = resolve(imds_env())
    assert r["ok"], r
    assert r["provider"] == "imds (role test-role)", r
    assert r["access_key_id"] == IMDS_CREDS["AccessKeyId"]
    assert r["secret_sha256"] == sha(IMDS_CREDS["SecretAccessKey"])
    assert r["token_sha256"] == sha(IMDS_CREDS["Token"])
    assert r["expiration"] == "2099-01-01T00:00:00Z"
    reqs = SERVER.state.requests
    assert [(m, p) for m, p, _, _ in reqs] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/test-role")], reqs
    assert reqs[0][2]["x-aws-ec2-metadata-token-ttl-seconds"] == ["21600"]
    for _, _, headers, _ in reqs[1:]:
        assert headers["x-aws-ec2-metadata-token"] == [IMDS_SESSION]


def test_imds_cached_between_gets():
    r = resolve(imds_env(), "--gets", "5")
    assert r["ok"], r
    assert len(SERVER.state.requests) == 3, len(SERVER.state.requests)


def test_imds_v1_fallback_and_v1_disabled():
    SERVER.state.imds_token_status = 403
    r = resolve(imds_env())
    assert r["ok"], r
    for _, _, headers, _ in SERVER.state.requests[1:]:
        assert "x-aws-ec2-metadata-token" not in headers
    r = resolve(imds_env(AWS_EC2_METADATA_V1_DISABLED="true"))
    assert not r["ok"]
    assert "IMDSv1 is disabled by AWS_EC2_METADATA_V1_DISABLED" in r["error"], r


def test_proxy_environment_is_ignored():
    dead = "http://127.0.0.1:9"
    r = resolve(imds_env(http_proxy=dead, HTTP_PROXY=dead, https_proxy=dead, HTTPS_PROXY=dead,
                         ALL_PROXY=dead, all_proxy=dead))
    assert r["ok"], r


def test_timeout():
    start = time.monotonic()
    r = resolve(imds_env(AWS_EC2_METADATA_SERVICE_ENDPOINT=SERVER.url + "/hang"),
                "--timeout-ms", "300", "--attempts", "2")
    elapsed = time.monotonic() - start
    assert not r["ok"]
    assert f"PUT {SERVER.url}/hang/latest/api/token: timed out after 300 ms" in r["error"], r
    assert elapsed < 10, elapsed
    # The PUT once (a read timeout is not retried: botocore), then IMDSv1's GET twice. The
    # server's handler may record the last after the tool has given up.
    common.wait_until(lambda: len(SERVER.state.requests) >= 3, 5, "the IMDSv1 attempts")
    assert [(m, p.split("/latest/")[1]) for m, p, _, _ in SERVER.state.requests] == [
        ("PUT", "api/token"), ("GET", "meta-data/iam/security-credentials/"),
        ("GET", "meta-data/iam/security-credentials/")], SERVER.state.requests


def test_imds_token_put_that_never_answers_falls_back_to_v1():
    # A container on EC2 with the default hop limit of 1: the token PUT's answer never arrives.
    SERVER.state.imds_token_hang = True
    start = time.monotonic()
    r = resolve(imds_env())  # the default timeout (1 s, botocore's)
    elapsed = time.monotonic() - start
    assert r["ok"], r
    assert r["provider"] == "imds (role test-role, IMDSv1)", r
    assert r["access_key_id"] == IMDS_CREDS["AccessKeyId"]
    assert elapsed < 4, elapsed  # one 1 s timeout, not retried
    for _, _, headers, _ in SERVER.state.requests[1:]:
        assert "x-aws-ec2-metadata-token" not in headers

    r = resolve(imds_env(AWS_EC2_METADATA_V1_DISABLED="true"))
    assert not r["ok"]
    assert "IMDSv1 is disabled by AWS_EC2_METADATA_V1_DISABLED" in r["error"], r
    assert "raise the instance's HttpPutResponseHopLimit to 2" in r["error"], r
    assert "modify-instance-metadata-options" in r["error"], r

    # The instance requires IMDSv2: v1 is refused, and the error still names the hop limit.
    SERVER.state.imds_v1_allowed = False
    r = resolve(imds_env())
    assert not r["ok"]
    assert "HTTP 401 from GET" in r["error"] and "HttpPutResponseHopLimit" in r["error"], r


def test_container_endpoint_not_ready_is_retried_like_botocore():
    # A Pod Identity agent that answers 503 twice while it starts: 3 attempts, 1 s apart.
    SERVER.state.container_failures = 2
    env = base_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=SERVER.url + "/container/creds",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH)
    r = resolve(env)
    assert r["ok"], r
    times = SERVER.state.container_times
    assert len(times) == 3, times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.9 <= g < 3 for g in gaps), gaps
    SERVER.state.container_failures = 3
    r = resolve(env)
    assert not r["ok"]
    assert "HTTP 503 from GET" in r["error"] and "(3 attempts)" in r["error"], r


def write_aws_files(config, credentials=None):
    aws = os.path.join(TMP, "home", ".aws")
    os.makedirs(aws, exist_ok=True)
    with open(os.path.join(aws, "config"), "w") as f:
        f.write(config)
    if credentials is not None:
        with open(os.path.join(aws, "credentials"), "w") as f:
            f.write(credentials)
    return aws


def test_credential_process_profile():
    script = os.path.join(TMP, "signing_helper.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                "[ \"$1\" = credential-process ] || { echo \"bad args: $*\" >&2; exit 2; }\n"
                f"echo '{{\"Version\": 1, \"AccessKeyId\": \"{PROC_CREDS[0]}\", "
                f"\"SecretAccessKey\": \"{PROC_CREDS[1]}\", \"SessionToken\": "
                f"\"{PROC_CREDS[2]}\", \"Expiration\": \"2099-01-01T00:00:00Z\"}}'\n")
    os.chmod(script, 0o755)
    aws = write_aws_files(f"[profile onprem]\ncredential_process = {script} credential-process "
                          "--certificate '/etc/pki/my cert.pem'\n")
    try:
        r = resolve(base_env(AWS_PROFILE="onprem"))
        assert r["ok"], r
        assert r["provider"] == "profile onprem (credential_process)", r
        assert r["secret_sha256"] == sha(PROC_CREDS[1])
        assert r["expiration"] == "2099-01-01T00:00:00Z"
        write_aws_files(f"[profile onprem]\ncredential_process = {script} wrong\n")
        r = resolve(base_env(AWS_PROFILE="onprem"))
        assert not r["ok"]
        assert "exited with status 2; stderr: bad args: wrong" in r["error"], r
    finally:
        shutil.rmtree(aws)


def test_sso_profile_with_cached_token_and_local_portal():
    aws = write_aws_files(
        "[profile audit]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = SecurityAudit\n"
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = eu-west-1\n")
    cache = os.path.join(aws, "sso", "cache")
    os.makedirs(cache)
    token_file = os.path.join(cache, hashlib.sha1(b"corp").hexdigest() + ".json")

    def write_token(expires):
        with open(token_file, "w") as f:
            json.dump({"startUrl": "https://corp.awsapps.com/start", "region": "eu-west-1",
                       "accessToken": SSO_BEARER, "expiresAt": expires}, f)
    try:
        write_token("2099-01-01T00:00:00Z")
        env = base_env(AWS_PROFILE="audit", AWS_ENDPOINT_URL_SSO=SERVER.url)
        r = resolve(env)
        assert r["ok"], r
        assert r["provider"] == "profile audit (sso)", r
        assert r["access_key_id"] == SSO_CREDS[0]
        assert r["secret_sha256"] == sha(SSO_CREDS[1])
        assert r["expiration"] == "2099-01-01T00:00:00Z"
        write_token("2020-01-01T00:00:00Z")
        r = resolve(env)
        assert not r["ok"]
        assert "expired at 2020-01-01T00:00:00Z (run `aws sso login --profile audit`" in \
            r["error"], r
    finally:
        shutil.rmtree(aws)


def test_container_full_uri_with_token_and_token_file():
    env = base_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=SERVER.url + "/container/creds",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH)
    r = resolve(env)
    assert r["ok"], r
    assert r["provider"] == "container"
    assert r["access_key_id"] == CONTAINER_CREDS["AccessKeyId"]
    assert r["secret_sha256"] == sha(CONTAINER_CREDS["SecretAccessKey"])
    _, _, headers, _ = SERVER.state.requests[-1]
    assert headers["authorization"] == [CONTAINER_AUTH]
    assert headers["accept"] == ["application/json"]
    token_file = os.path.join(TMP, "pod-token")
    with open(token_file, "w") as f:
        f.write(CONTAINER_AUTH + "\n")
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ignored-when-the-file-is-set"
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = token_file
    r = resolve(env)
    assert r["ok"], r


def test_container_errors_do_not_leak_the_token():
    wrong = CONTAINER_AUTH + "-OLD"
    env = base_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=SERVER.url + "/container/creds",
                   AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong)
    r = resolve(env)
    assert not r["ok"]
    assert "container: FAILED: HTTP 401 from GET" in r["error"], r
    assert "InvalidToken" in r["error"] and "[redacted]" in r["error"], r
    assert wrong not in r["error"]
    # Plain http to anything but loopback / the documented link-local addresses is refused
    # before any connection is made.
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://10.255.255.1/creds"
    r = resolve(env)
    assert not r["ok"] and "is not allowed" in r["error"], r


def test_response_size_bound_and_no_redirects():
    SERVER.state.big_size = 2 * 1024 * 1024
    env = base_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=SERVER.url + "/container/big")
    r = resolve(env, "--max-response-bytes", "1048576")
    assert not r["ok"]
    assert "response body larger than 1048576 bytes" in r["error"], r
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = SERVER.url + "/container/redirect"
    r = resolve(env)
    assert not r["ok"] and "HTTP 302" in r["error"], r
    paths = [p for _, p, _, _ in SERVER.state.requests]
    assert paths[-1] == "/container/redirect" and "/container/creds" not in paths, paths


def test_web_identity_through_sts():
    token_file = os.path.join(TMP, "web-token")
    with open(token_file, "w") as f:
        f.write(WEB_TOKEN)
    env = base_env(AWS_WEB_IDENTITY_TOKEN_FILE=token_file,
                   AWS_ROLE_ARN="arn:aws:iam::123456789012:role/irsa",
                   AWS_ROLE_SESSION_NAME="it-session")
    r = resolve(env)
    assert r["ok"], r
    assert r["provider"] == "web-identity"
    assert r["access_key_id"] == STS_CREDS[0]
    assert r["token_sha256"] == sha(STS_CREDS[2])
    method, path, headers, body = SERVER.state.requests[-1]
    form = dict(urllib.parse.parse_qsl(body.decode()))
    assert form["RoleSessionName"] == "it-session"
    assert form["RoleArn"] == "arn:aws:iam::123456789012:role/irsa"
    assert headers["content-type"] == ["application/x-www-form-urlencoded; charset=utf-8"]
    with open(token_file, "w") as f:
        f.write(WEB_TOKEN + "-EXPIRED")
    r = resolve(env)
    assert not r["ok"]
    assert "HTTP 400 InvalidIdentityToken" in r["error"] and "[redacted]" in r["error"], r
    assert WEB_TOKEN not in r["error"]


def test_assume_role_is_signed_correctly():
    env = base_env(AWS_ACCESS_KEY_ID=SOURCE[0], AWS_SECRET_ACCESS_KEY=SOURCE[1],
                   AWS_SESSION_TOKEN=SOURCE[2], AWS_REGION="eu-west-3")
    r = resolve(env, "--role-arn", "arn:aws:iam::123456789012:role/trailwarden",
                "--external-id", "ext 1/2")
    assert r["ok"], (r, SERVER.state.sts_errors)
    assert r["provider"] == ("assume-role arn:aws:iam::123456789012:role/trailwarden "
                             "(source: environment)"), r
    assert r["access_key_id"] == STS_CREDS[0]
    _, _, headers, body = SERVER.state.requests[-1]
    assert "/eu-west-3/sts/aws4_request" in headers["authorization"][0]
    assert dict(urllib.parse.parse_qsl(body.decode()))["ExternalId"] == "ext 1/2"
    # Wrong role: AccessDenied, named in the message.
    r = resolve(env, "--role-arn", "arn:aws:iam::123456789012:role/other")
    assert not r["ok"]
    assert "cannot assume role arn:aws:iam::123456789012:role/other" in r["error"], r
    assert "HTTP 403 AccessDenied: wrong role" in r["error"], r


def test_chain_failure_names_every_provider():
    r = resolve(base_env())
    assert not r["ok"]
    for name in ("environment: not configured", "web-identity: not configured",
                 "profile default: not configured", "container: not configured",
                 "imds: not configured (disabled by AWS_EC2_METADATA_DISABLED)"):
        assert name in r["error"], r["error"]


def test_profile_file_with_role_chain():
    home = os.path.join(TMP, "home")
    os.makedirs(os.path.join(home, ".aws"), exist_ok=True)
    with open(os.path.join(home, ".aws", "credentials"), "w") as f:
        f.write(f"[base]\naws_access_key_id = {SOURCE[0]}\naws_secret_access_key = {SOURCE[1]}\n")
    with open(os.path.join(home, ".aws", "config"), "w") as f:
        f.write("[profile app]\nrole_arn = arn:aws:iam::123456789012:role/trailwarden\n"
                "source_profile = base\nregion = ap-southeast-2\n")
    try:
        r = resolve(base_env(AWS_PROFILE="app"))
        assert r["ok"], (r, SERVER.state.sts_errors)
        assert r["provider"] == "profile app"
        _, _, headers, _ = SERVER.state.requests[-1]
        assert "/ap-southeast-2/sts/aws4_request" in headers["authorization"][0]
    finally:
        shutil.rmtree(os.path.join(home, ".aws"))


def http_tool(*args):
    rc, result, err = run(["http"] + list(args), base_env())
    assert result is not None, f"no output (exit {rc}): {err}"
    return rc, result


def test_http_client_sends_exactly_the_request():
    rc, r = http_tool("PUT", SERVER.url + "/echo/a/../b%20c?x=1&y=a-b",
                      "--header", "X-Custom: v", "--header", "X-Empty:", "--body", "hello")
    assert rc == 0 and r["status"] == 200, r
    seen = json.loads(r["body"])
    assert seen["method"] == "PUT"
    assert seen["path"] == "/echo/a/../b%20c?x=1&y=a-b", seen  # not normalised
    h = seen["headers"]
    assert h["host"] == [SERVER.url[len("http://"):]], h
    assert h["x-custom"] == ["v"] and h["x-empty"] == [""], h
    assert h["content-length"] == ["5"] and seen["body"] == "hello", seen
    for absent in ("accept", "expect", "content-type", "authorization"):
        assert absent not in h, (absent, h)
    assert h["user-agent"][0].startswith("trailwarden/"), h
    assert ["content-type", "application/json"] in r["headers"], r["headers"]
    # HEAD and GET.
    rc, r = http_tool("HEAD", SERVER.url + "/echo/x")
    assert rc == 0 and r["status"] == 200 and r["body"] == "", r
    rc, r = http_tool("GET", SERVER.url + "/missing")
    assert rc == 0 and r["status"] == 404 and r["error"] == "", r


def test_http_client_refuses_header_injection():
    before = len(SERVER.state.requests)
    rc, r = http_tool("GET", SERVER.url + "/echo/x", "--header", "X-Evil: a\r\nInjected: 1")
    assert rc == 1 and r["status"] == 0, r
    assert r["error"] == "refused: header X-Evil contains CR, LF or NUL", r
    assert len(SERVER.state.requests) == before


def test_tls_verification():
    rc, r = http_tool("GET", TLS.url + "/echo/tls")
    assert rc == 1 and r["status"] == 0, r
    assert "certificate" in r["error"].lower(), r
    rc, r = http_tool("GET", TLS.url + "/echo/tls", "--ca-file", os.path.join(TMP, "cert.pem"))
    assert rc == 0 and r["status"] == 200, r
    assert json.loads(r["body"])["path"] == "/echo/tls"


# --------------------------------------------------------------------------------------------

def make_tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*common.self_signed_cert(TMP))
    return ctx


def main():
    global TOOL, TMP
    TOOL = common.tool_argument(__doc__)
    TMP = tempfile.mkdtemp(prefix="tw-creds-")
    os.makedirs(os.path.join(TMP, "home"))

    def setup():
        global SERVER, TLS
        SERVER = Server()
        TLS = Server(make_tls_context())

    return common.run_suite(common.module_tests(globals()), setup=setup,
                            before_each=lambda: SERVER.state.reset(),
                            teardown=lambda: common.close_all(SERVER, TLS), tmp=TMP)


if __name__ == "__main__":
    sys.exit(main())
