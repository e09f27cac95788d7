#!/usr/bin/env python3
"""`trailwarden verify` against the AWS CLI's own `aws cloudtrail validate-logs` (Debian awscli
2.9.19), on the same signed trails (tests/integration/trailgen.py) in the same fauxqs bucket,
with the same CloudTrail stand-in (peers/cloudtrail_standin.py) serving ListPublicKeys: for
every scenario both must give every file the same verdict, the same gaps, and agree on whether
the trail is whole — except where trailwarden is documented to be stricter (docs/integrity.md):
a deleted newest digest (the CLI cannot see it; trailwarden reports a gap at the end) and a
gap (the CLI exits 0; trailwarden 1). Then what the CLI never checks: a validly signed digest
whose previousDigestHashValue is wrong, and the S3 and CloudTrail requests trailwarden sends
(signed for the source region, keys fetched once per region and range).

    python3 tests/integration/test_verify.py /path/to/trailwarden [NAME-SUBSTRING]

Needs /usr/bin/aws (Debian's awscli, scripts/setup.sh), fauxqs (scripts/setup-peers.sh), boto3.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import common
from common import check

fauxqs = common.import_fauxqs("test_verify")
import awscli_peer  # noqa: E402
import cloudtrail_standin  # noqa: E402
import trailgen  # noqa: E402

BIN: str | None = None
FX = None
TMP: Path | None = None

LINE_RE = re.compile(r"^(Digest|Log) file\t(s3://\S+)\t(valid|INVALID: .+|NOT VERIFIED: .+)$")
GAP_RE = re.compile(r"^GAP\t\S*\t(.+)$")
CLI_GAP_RE = re.compile(r"^No log files were delivered by CloudTrail between (\S+) and (\S+)$")


class Verified:
    def __init__(self, argv, p):
        self.argv, self.exit_code, self.stdout, self.stderr = argv, p.returncode, p.stdout, p.stderr
        self.files: dict[str, str] = {}
        self.not_verified: dict[str, str] = {}
        self.gaps: list[str] = []
        self.errors: list[str] = []
        for line in p.stdout.splitlines():
            if m := LINE_RE.match(line):
                verdict = m.group(3)
                if verdict.startswith("NOT VERIFIED"):
                    self.not_verified[m.group(2)] = verdict
                else:
                    # "invalid format (gzip: ...)" -> "invalid format": the CLI gives no detail.
                    self.files[m.group(2)] = re.sub(r" \(.*\)$", "", verdict)
            elif m := GAP_RE.match(line):
                self.gaps.append(m.group(1))
            elif line.startswith("ERROR\t"):
                self.errors.append(line)

    def describe(self) -> str:
        return (f"$ {' '.join(map(str, self.argv))}\nexit {self.exit_code}\n--- stdout\n"
                f"{self.stdout}--- stderr\n{self.stderr}")


def config(ct) -> Path:
    path = TMP / "verify.toml"
    path.write_text(textwrap.dedent(f"""\
        [aws]
        region = "us-east-1"
        s3_endpoint_url = "{FX.endpoint}"
        cloudtrail_endpoint_url = "{ct.endpoint}"
        """))
    return path


def trail_end(trail: dict) -> str:
    """Where the generated trail ends: the earliest of its chains' newest digest ends (deleted
    ones too). trail.json's end_time (06:00) is past that, and trailwarden rightly calls a range
    whose last hour has no digest a gap; the CLI stops at the newest digest it finds."""
    return min(max(trail["files"][u]["end"] for u in chain) for chain in trail["chains"].values())


def verify(trail: dict, ct, regions: list[str], *extra) -> Verified:
    argv = [BIN, "-c", config(ct), "verify", "--bucket", trail["bucket"], "--account",
            trail["account"], "--start", trail["start_time"], "--end", trail_end(trail), "-v"]
    if trail["prefix"]:
        argv += ["--prefix", trail["prefix"]]
    for r in regions:
        argv += ["--region", r]
    argv += list(extra)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(TMP), "AWS_ACCESS_KEY_ID": fauxqs.DUMMY_ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": fauxqs.DUMMY_SECRET_KEY, "AWS_EC2_METADATA_DISABLED": "true"}
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, env=env)
    return Verified(argv, p)


def new_trail(scenario: str) -> tuple[dict, Path]:
    bucket = f"tw-verify-{scenario}"
    out = TMP / bucket
    trail = trailgen.generate(scenario, out, bucket=bucket)
    trailgen.upload_to_fauxqs(FX, out)
    return trail, out


def agree(scenario: str) -> None:
    trail, out = new_trail(scenario)
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json",
                                              trails=[trail["describe_trails"]]) as ct:
        ours = verify(trail, ct, trail["regions"])
        # ListPublicKeys: once per source region, signed for it.
        calls = [(r["operation"], r["region"], r["status"]) for r in ct.requests()]
        check(calls == [("ListPublicKeys", r, 200) for r in trail["regions"]],
              f"{scenario}: CloudTrail calls {calls}\n{ours.describe()}")
        cli_files: dict[str, str] = {}
        cli_gaps: list[str] = []
        cli_exit = 0
        for region in trail["regions"]:
            res = awscli_peer.validate_logs(
                trail_arn=trail["trail_arn"], start_time=trail["start_time"],
                end_time=trail["end_time"], region=region, s3_endpoint=FX.endpoint,
                cloudtrail_endpoint=ct.endpoint, s3_bucket=trail["bucket"],
                s3_prefix=trail["prefix"])
            check(not awscli_peer.mismatches(res, trail["expected"]["validate_logs"][region]),
                  f"{scenario}: the CLI itself is not as trail.json expects:\n{res.describe()}")
            cli_files.update(res.files)
            cli_gaps += [f"No log files were delivered by CloudTrail between {a} and {b}"
                         for a, b in res.gaps]
            cli_exit = max(cli_exit, res.exit_code)
        detail = f"\n--- trailwarden\n{ours.describe()}"
        check(not ours.errors, f"{scenario}: trailwarden could not check everything{detail}")
        # Every file the CLI judged, judged the same.
        for uri, verdict in sorted(cli_files.items()):
            check(ours.files.get(uri) == re.sub(r" \(.*\)$", "", verdict),
                  f"{scenario}: {uri}: the CLI says {verdict!r}, trailwarden "
                  f"{ours.files.get(uri) or ours.not_verified.get(uri)!r}{detail}")
        # What trailwarden judged beyond the CLI: only the log files of digests that are not valid
        # (not verified: the CLI skips them silently), and the documented differences.
        extra = {u: v for u, v in ours.files.items() if u not in cli_files}
        check(not extra, f"{scenario}: trailwarden judged files the CLI did not: {extra}{detail}")
        for uri in ours.not_verified:
            digest = trail["files"][uri].get("digest")
            check(digest and not cli_files.get(digest, "valid").startswith("valid"),
                  f"{scenario}: {uri} not verified, but its digest is valid{detail}")
        whole = trail["whole"] and scenario != "newestdel"
        if scenario == "newestdel":
            # The CLI exits 0 and sees nothing; trailwarden reports the missing end of the chain.
            check(cli_exit == 0 and ours.exit_code == 1 and len(ours.gaps) == 1 and
                  "no digest after" in ours.gaps[0], f"{scenario}: {ours.gaps}{detail}")
        else:
            check(ours.gaps == cli_gaps, f"{scenario}: gaps {ours.gaps}, the CLI's {cli_gaps}{detail}")
            check(ours.exit_code == (0 if whole else 1),
                  f"{scenario}: exit {ours.exit_code}, whole={whole} (the CLI: {cli_exit}){detail}")
            if scenario != "gap":  # the CLI exits 0 on a gap
                check(cli_exit == ours.exit_code, f"{scenario}: the CLI exits {cli_exit}{detail}")


def test_intact():
    agree("intact")


def test_log_file_changed():
    agree("logmod")


def test_log_file_not_gzip():
    agree("logflip")


def test_log_file_deleted():
    agree("logdel")


def test_digest_deleted():
    agree("digdel")


def test_newest_digest_deleted():
    agree("newestdel")


def test_digest_resigned_with_its_own_fingerprint():
    agree("resignfp")


def test_digest_resigned_under_the_real_fingerprint():
    agree("resignsame")


def test_digest_changed():
    agree("digmod")


def test_digest_without_signature():
    agree("nosig")


def test_gap():
    agree("gap")


def test_multi_region():
    agree("multiregion")


def test_spki_keys():
    agree("spki")


def test_what_the_cli_does_not_check_a_broken_link():
    """A digest validly signed whose previousDigestHashValue is not its predecessor's SHA-256:
    the CLI says valid; trailwarden breaks the chain there."""
    trail, out = new_trail("intact")
    # The newest digest (05:00:31; nothing names it, so re-signing it breaks no other link)
    # names the 04:00:31 digest with a wrong hash.
    target = trail["chains"]["us-east-1"][4]
    named = trail["chains"]["us-east-1"][3]
    # Re-sign the target with its link changed, as CloudTrail's key would (trailgen's keys).
    t = trailgen._build("intact", trail["bucket"], trail["prefix"] or None)
    df = t.files[target]
    d = json.loads(trailgen.gzip.decompress(df.body))
    d["previousDigestHashValue"] = "a" * 64
    t.seal(df, d, t.spec(df.info["key"]))
    FX.s3.put_object(Bucket=trail["bucket"], Key=df.key, Body=df.body, Metadata=df.metadata)
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json",
                                              trails=[trail["describe_trails"]]) as ct:
        res = awscli_peer.validate_logs(
            trail_arn=trail["trail_arn"], start_time=trail["start_time"],
            end_time=trail["end_time"], region="us-east-1", s3_endpoint=FX.endpoint,
            cloudtrail_endpoint=ct.endpoint, s3_bucket=trail["bucket"], s3_prefix=trail["prefix"])
        check(res.exit_code == 0 and res.files.get(target) == "valid" and
              res.files.get(named) == "valid", f"the CLI is not fooled?\n{res.describe()}")
        ours = verify(trail, ct, ["us-east-1"])
        check(ours.files.get(target) == "valid", ours.describe())
        check(ours.files.get(named) ==
              "INVALID: its SHA-256 is not the previousDigestHashValue of the next digest",
              ours.describe())
        check(ours.exit_code == 1, ours.describe())


def test_cloudtrail_refuses():
    """ListPublicKeys refused (no cloudtrail:ListPublicKeys): exit 4 (could not check, not
    "invalid"), the reason named once, nothing called valid, CloudTrail asked once."""
    trail, out = new_trail("intact")
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json") as ct:
        ct.fail("ListPublicKeys", 400, "AccessDeniedException", count=100)
        ours = verify(trail, ct, ["us-east-1"])
        check(ours.exit_code == 4, ours.describe())
        check(len(ours.errors) == 1 and "ListPublicKeys" in ours.errors[0] and
              "cloudtrail:ListPublicKeys" in ours.errors[0], ours.describe())
        check("valid" not in ours.files.values(), ours.describe())
        check("5 digest files and 8 log files could not be checked" in ours.stdout, ours.describe())
        # Asked once, not once per digest.
        calls = [r["operation"] for r in ct.requests()]
        check(calls == ["ListPublicKeys"], f"calls {calls}")


def setup():
    global FX
    awscli_peer.check_cli()
    FX = fauxqs.Fauxqs()
    FX.start()


def teardown():
    if FX is not None:
        FX.stop(raise_on_error=False)


def main():
    global BIN, TMP
    if len(sys.argv) < 2:
        print("usage: test_verify.py /path/to/trailwarden [NAME-SUBSTRING]", file=sys.stderr)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    only = sys.argv[2] if len(sys.argv) > 2 else None
    TMP = Path(tempfile.mkdtemp(prefix="tw-verify-"))
    return common.run_suite(common.module_tests(globals(), only), setup=setup, teardown=teardown,
                            tmp=TMP, keep=True)


if __name__ == "__main__":
    sys.exit(main())
