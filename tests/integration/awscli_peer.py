"""The AWS CLI's own digest validator as a test peer: runs Debian's `/usr/bin/aws cloudtrail
validate-logs` (package awscli 2.9.19; never the `aws` on PATH, which may be another version)
against local stand-ins and parses what it says.

    import awscli_peer
    res = awscli_peer.validate_logs(trail_arn=..., start_time=..., end_time=...,
                                    region="us-east-1", s3_endpoint=fx.endpoint,
                                    cloudtrail_endpoint=ct.endpoint, s3_bucket="b")
    res.files      {"s3://b/k": "valid" | "INVALID: <reason>"}   (digests and log files)
    res.gaps       [("<from>", "<to>")]   from "No log files were delivered ... between A and B"
    res.digests    {"valid": n, "invalid": n}; res.logs likewise
    res.exit_code, res.stdout, res.stderr, res.other_stderr (lines not understood),
    res.s3_requests (what the CLI sent to S3, logged by the plugin)

Isolation: `env -i` with PATH=/usr/bin:/bin, HOME, AWS_CONFIG_FILE and
AWS_SHARED_CREDENTIALS_FILE in a fresh temporary directory (fauxqs's dummy keys), no proxy
variables, the instance metadata service disabled, so nothing reaches AWS and nothing of this
machine's AWS set-up is used. Redirection: `--endpoint-url` reaches only the CLI's CloudTrail
client; 2.9.19's botocore knows no AWS_ENDPOINT_URL_S3, so a legacy CLI plugin (written to the
temporary directory, loaded through `[plugins] cli_legacy_plugin_path`) sends every S3 request
to `s3_endpoint` path-style, answers GetBucketLocation itself (fauxqs answers it with a listing)
with no LocationConstraint (us-east-1), answers Organizations DescribeOrganization (org trails)
with `org_id`, and logs each S3 request. Facts behind this: /work/prompts/design-integrity.md
§3-§4, docs/testing.md "The AWS CLI and the trail generator".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

AWS = "/usr/bin/aws"
EXPECTED_VERSION = "aws-cli/2."
DUMMY_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"       # fauxqs.py's dummy pair; the stand-in knows it
DUMMY_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class AwsCliError(RuntimeError):
    """Debian's AWS CLI is missing, or could not be run as a peer."""


PLUGIN = '''"""trailwarden test plugin for the AWS CLI (written by awscli_peer.py): S3 to
TW_S3_ENDPOINT, GetBucketLocation and DescribeOrganization answered locally."""
import json
import os
from urllib.parse import urlsplit, urlunsplit


def _log(entry):
    with open(os.environ["TW_S3_LOG"], "a") as f:
        f.write(json.dumps(entry) + "\\n")


def _redirect(request, **kwargs):
    ep, u = urlsplit(os.environ["TW_S3_ENDPOINT"]), urlsplit(request.url)
    request.url = urlunsplit((ep.scheme, ep.netloc, u.path, u.query, u.fragment))
    _log({"method": request.method, "url": request.url})


def _location(**kwargs):
    from botocore.awsrequest import AWSResponse
    _log({"method": "GET", "url": "GetBucketLocation (answered by the plugin)"})
    return AWSResponse("http://local", 200, {}, None), {"LocationConstraint": None}


def _organization(**kwargs):
    from botocore.awsrequest import AWSResponse
    _log({"method": "POST", "url": "DescribeOrganization (answered by the plugin)"})
    return (AWSResponse("http://local", 200, {}, None),
            {"Organization": {"Id": os.environ["TW_ORG_ID"]}})


def awscli_initialize(cli):
    cli.register("before-send.s3", _redirect)
    cli.register("before-call.s3.GetBucketLocation", _location)
    cli.register("before-call.organizations.DescribeOrganization", _organization)
'''


@dataclass
class ValidateLogsResult:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    files: dict[str, str] = field(default_factory=dict)
    digest_files: dict[str, str] = field(default_factory=dict)
    log_files: dict[str, str] = field(default_factory=dict)
    gaps: list[tuple[str, str]] = field(default_factory=list)
    digests: dict[str, int] | None = None     # {"valid", "invalid"}; None if no summary line
    logs: dict[str, int] | None = None
    results_requested: tuple[str, str] | None = None
    results_found: tuple[str, str] | None = None
    no_digests_found: bool = False
    no_valid_digests: bool = False
    other_stdout: list[str] = field(default_factory=list)
    other_stderr: list[str] = field(default_factory=list)
    s3_requests: list[dict] = field(default_factory=list)

    def describe(self) -> str:
        """Everything, for a failure message."""
        return (f"$ {' '.join(self.argv)}\nexit {self.exit_code}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")


FILE_RE = re.compile(r"^(Digest|Log) file\t(s3://\S+)\t(valid|INVALID: .+)$")
GAP_RE = re.compile(r"^No log files were delivered by CloudTrail between (\S+) and (\S+)$")
RATIO_RE = re.compile(r"^(\d+)/(\d+) (digest|log) files valid(?:, (\d+)/(\d+) \3 files INVALID)?$")
REQUESTED_RE = re.compile(r"^Results requested for (\S+) to (\S+)$")
FOUND_RE = re.compile(r"^Results found for (\S+) to (\S+):$")
STARTUP_RE = re.compile(r"^Validating log files for trail \S+ between \S+ and \S+$")


def parse(argv: list[str], exit_code: int, stdout: str, stderr: str) -> ValidateLogsResult:
    """Reads validate-logs' output (awscli/customizations/cloudtrail/validation.py 2.9.19):
    valid lines on stdout (--verbose), INVALID and gap lines on stderr, the summary on stdout.
    A file named twice keeps its first verdict and the repeat goes to other_*."""
    res = ValidateLogsResult(argv, exit_code, stdout, stderr)

    def file_line(m, other):
        kind, uri, verdict = m.groups()
        if uri in res.files:
            other.append(m.group(0))
            return
        res.files[uri] = verdict
        (res.digest_files if kind == "Digest" else res.log_files)[uri] = verdict

    for line in stdout.splitlines():
        if not line.strip() or STARTUP_RE.match(line):
            continue
        if m := FILE_RE.match(line):
            file_line(m, res.other_stdout)
        elif m := REQUESTED_RE.match(line):
            res.results_requested = m.groups()
        elif m := FOUND_RE.match(line):
            res.results_found = m.groups()
        elif line == "No digests found":
            res.no_digests_found = True
        elif line == "No valid digests found in range":
            res.no_valid_digests = True
        elif m := RATIO_RE.match(line):
            valid, total, kind, invalid, _ = m.groups()
            counts = {"valid": int(valid), "invalid": int(invalid or 0)}
            if int(total) != counts["valid"] + counts["invalid"]:
                res.other_stdout.append(line)
            setattr(res, "digests" if kind == "digest" else "logs", counts)
        else:
            res.other_stdout.append(line)
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if m := FILE_RE.match(line):
            file_line(m, res.other_stderr)
        elif m := GAP_RE.match(line):
            res.gaps.append(m.groups())
        else:
            res.other_stderr.append(line)
    # A run that found digests but no log files prints no log ratio line.
    if res.digests is not None and res.logs is None:
        res.logs = {"valid": 0, "invalid": 0}
    return res


def check_cli() -> str:
    """`aws --version` of /usr/bin/aws; AwsCliError with what to do if it is missing or not
    the AWS CLI v2."""
    if not os.access(AWS, os.X_OK):
        raise AwsCliError(f"{AWS} is missing: install Debian's AWS CLI (apt-get install awscli, "
                          "or scripts/setup.sh); the `aws` on PATH is not used on purpose")
    p = subprocess.run([AWS, "--version"], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir()})
    version = (p.stdout + p.stderr).strip()
    if p.returncode != 0 or not version.startswith(EXPECTED_VERSION):
        raise AwsCliError(f"{AWS} --version: {version!r} (exit {p.returncode}); expected "
                          f"Debian's awscli 2.9.19 ({EXPECTED_VERSION}...)")
    return version


def validate_logs(*, trail_arn: str, start_time: str, region: str, s3_endpoint: str,
                  cloudtrail_endpoint: str, end_time: str | None = None,
                  s3_bucket: str | None = None, s3_prefix: str | None = None,
                  account_id: str | None = None, verbose: bool = True,
                  org_id: str = "o-exampleorgid", extra_args: tuple[str, ...] = (),
                  timeout: float = 120) -> ValidateLogsResult:
    """Runs `/usr/bin/aws cloudtrail validate-logs` once (one source region: `region`) and
    parses its output. s3_bucket=None makes the CLI ask DescribeTrails (the stand-in) for the
    bucket and prefix. Raises AwsCliError if the CLI is missing or times out; any exit status
    is returned, not raised."""
    check_cli()
    with tempfile.TemporaryDirectory(prefix="awscli-peer-") as tmp:
        home = Path(tmp)
        plugin_dir = home / "plugins"
        plugin_dir.mkdir()
        (plugin_dir / "tw_local_endpoints.py").write_text(PLUGIN)
        (home / "config").write_text(
            f"[default]\nregion = {region}\noutput = json\ns3 =\n  addressing_style = path\n\n"
            f"[plugins]\ncli_legacy_plugin_path = {plugin_dir}\n"
            "tw_local_endpoints = tw_local_endpoints\n")
        (home / "credentials").write_text(
            f"[default]\naws_access_key_id = {DUMMY_ACCESS_KEY}\n"
            f"aws_secret_access_key = {DUMMY_SECRET_KEY}\n")
        s3_log = home / "s3_requests.log"
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
               "AWS_CONFIG_FILE": str(home / "config"),
               "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
               "TW_S3_ENDPOINT": s3_endpoint, "TW_S3_LOG": str(s3_log), "TW_ORG_ID": org_id}
        argv = [AWS, "cloudtrail", "validate-logs", "--region", region,
                "--endpoint-url", cloudtrail_endpoint, "--trail-arn", trail_arn,
                "--start-time", start_time]
        if end_time:
            argv += ["--end-time", end_time]
        if s3_bucket is not None:
            argv += ["--s3-bucket", s3_bucket]
        if s3_prefix:
            argv += ["--s3-prefix", s3_prefix]
        if account_id:
            argv += ["--account-id", account_id]
        if verbose:
            argv.append("--verbose")
        argv += list(extra_args)
        try:
            p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                               cwd=home)
        except subprocess.TimeoutExpired as e:
            raise AwsCliError(f"{' '.join(argv)} did not finish within {timeout} s; stderr: "
                              f"{e.stderr!r}") from None
        res = parse(argv, p.returncode, p.stdout, p.stderr)
        if s3_log.exists():
            res.s3_requests = [json.loads(line) for line in s3_log.read_text().splitlines()]
        return res


def mismatches(res: ValidateLogsResult, expected: dict) -> list[str]:
    """How `res` differs from a trailgen expectation (trail.json "expected" -> "validate_logs" ->
    region: files, gaps, digests, logs, results_found, exit_code); [] when it agrees. Lines the
    parser did not understand count as differences."""
    out = []
    for uri in sorted(set(expected["files"]) | set(res.files)):
        want, got = expected["files"].get(uri), res.files.get(uri)
        if want != got:
            out.append(f"{uri}: expected {want or 'not reported'}, the CLI said "
                       f"{got or 'nothing'}")
    if [list(g) for g in res.gaps] != [list(g) for g in expected["gaps"]]:
        out.append(f"gaps: expected {expected['gaps']}, the CLI said {res.gaps}")
    for name in ("digests", "logs"):
        if getattr(res, name) != expected[name]:
            out.append(f"{name}: expected {expected[name]}, the CLI counted {getattr(res, name)}")
    found = list(res.results_found) if res.results_found else None
    if found != expected["results_found"]:
        out.append(f"results found: expected {expected['results_found']}, the CLI said {found}")
    if res.exit_code != expected["exit_code"]:
        out.append(f"exit code: expected {expected['exit_code']}, got {res.exit_code}")
    out += [f"unexpected stdout line: {line!r}" for line in res.other_stdout]
    out += [f"unexpected stderr line: {line!r}" for line in res.other_stderr]
    return out
