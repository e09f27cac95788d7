#!/usr/bin/env python3
"""The test peers of issue 14 against the AWS CLI's own digest validator: for every trailgen
scenario (tests/integration/trailgen.py) a signed trail is generated, put into a fresh fauxqs
bucket with its object metadata, and Debian's `/usr/bin/aws cloudtrail validate-logs` (awscli
2.9.19, through awscli_peer.py) is run against fauxqs and the CloudTrail stand-in
(peers/cloudtrail_standin.py), once per source region; its verdict on every file, its gap lines,
counts, found range and exit status must equal trail.json's expectation. That proves the
generator (CloudTrail's format and signatures), the stand-in and the harness together; later
`trailwarden verify` is compared with the same harness.

Each assertion can fail, and the suite shows it: a digest signed over another string, a
stand-in serving another region's keys, a key list paged past what the CLI reads each make the
CLI disagree, and awscli_peer.mismatches() must say so. What the CLI never checks (the chain's
previousDigestHashValue/Signature, a starting digest's nulls, fingerprints = MD5 of the DER) is
checked here by a small independent verifier. The stand-in's refusals (unsigned, wrong service
scope, bad signature, unknown operation, bad times, bad NextToken), its paging and its injected
faults are checked with botocore. Both pythons (Debian's /usr/bin/python3 with cryptography 38
and the one on PATH) must write the same bytes.

    python3 tests/integration/test_awscli_trail.py [NAME-SUBSTRING]

Needs /usr/bin/aws (Debian's awscli, scripts/setup.sh), fauxqs (scripts/setup-peers.sh), boto3.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import common
from common import check

fauxqs = common.import_fauxqs("test_awscli_trail")
import awscli_peer  # noqa: E402  (beside this file)
import cloudtrail_standin  # noqa: E402  (peers/, on sys.path after import_fauxqs)
import trailgen  # noqa: E402

HERE = Path(__file__).resolve().parent
FX = None
TMP: Path | None = None


def trail_dir(name: str) -> Path:
    return TMP / name


def new_trail(scenario: str, bucket: str | None = None, **kw) -> tuple[dict, Path]:
    """Generates `scenario` and uploads it to a fresh bucket; returns (trail.json, its dir)."""
    bucket = bucket or f"tw-{scenario}-trail"
    out = trail_dir(bucket)
    trail = trailgen.generate(scenario, out, bucket=bucket, **kw)
    trailgen.upload_to_fauxqs(FX, out)
    return trail, out


def run_cli(trail: dict, ct, region: str, *, by_bucket: bool = True):
    kw = {"s3_bucket": trail["bucket"], "s3_prefix": trail["prefix"]} if by_bucket else {}
    return awscli_peer.validate_logs(
        trail_arn=trail["trail_arn"], start_time=trail["start_time"],
        end_time=trail["end_time"], region=region, s3_endpoint=FX.endpoint,
        cloudtrail_endpoint=ct.endpoint, **kw)


def epoch(s: str) -> int:
    return int(trailgen.parse_iso(s).timestamp())


# ---- the CLI agrees with trail.json on every scenario --------------------------------------------

def sanity_of_expectation(trail: dict, region: str, exp: dict) -> None:
    """The expectation itself is not vacuous: it names files, at least one digest is valid, and
    every damaged file the CLI can see is named with an INVALID verdict."""
    check(exp["digests"]["valid"] >= 3, f"{region}: too few valid digests expected: {exp}")
    chain = set(trail["chains"][region])
    if trail["scenario"] in ("intact", "multiregion", "spki"):
        present = {u for u, f in trail["files"].items() if f["region"] == region}
        check(set(exp["files"]) == present and set(exp["files"].values()) == {"valid"},
              f"{region}: an intact trail must expect every file valid: {exp['files']}")
        check(exp["exit_code"] == 0 and not exp["gaps"], f"{exp}")
    for uri in trail["damaged"]:
        if trail["files"][uri]["region"] != region:
            continue
        if trail["scenario"] == "newestdel":
            check(uri not in exp["files"], f"the CLI cannot see a deleted newest digest: {uri}")
        else:
            check(exp["files"].get(uri, "").startswith("INVALID: "),
                  f"damaged {uri} must be expected INVALID: {exp['files'].get(uri)}")
            check(exp["exit_code"] == 1, f"exit code 1 expected: {exp}")
    check(chain, f"no chain for {region}")


def agree(scenario: str) -> None:
    trail, out = new_trail(scenario)
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json",
                                              trails=[trail["describe_trails"]]) as ct:
        for region in trail["regions"]:
            exp = trail["expected"]["validate_logs"][region]
            sanity_of_expectation(trail, region, exp)
            ct.clear_requests()
            res = run_cli(trail, ct, region)
            diff = awscli_peer.mismatches(res, exp)
            check(not diff, f"{scenario} {region}: the CLI disagrees with trail.json:\n  "
                  + "\n  ".join(diff) + "\n" + res.describe())
            calls = [(r["operation"], r["region"], r["service"], r["status"], r["body"])
                     for r in ct.requests()]
            want = [("ListPublicKeys", region, "cloudtrail", 200,
                     {"StartTime": epoch(trail["start_time"]),
                      "EndTime": epoch(trail["end_time"])})]
            check(calls == want, f"{scenario} {region}: CloudTrail calls {calls}, want {want}")
            check(res.s3_requests, f"{scenario}: no S3 request went through the plugin")


def _agreement_test(scenario: str):
    def test():
        agree(scenario)
    test.__name__ = f"test_cli_agrees_{scenario}"
    return test


for _s in trailgen.SCENARIOS:
    globals()[f"test_cli_agrees_{_s}"] = _agreement_test(_s)


def test_cli_finds_the_trail_by_describe_trails():
    """Without --s3-bucket the CLI asks DescribeTrails in its region (a shadow trail outside
    the home region) for the bucket and prefix, and agrees as before."""
    trail, out = new_trail("multiregion", bucket="tw-multiregion-described")
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json",
                                              trails=[trail["describe_trails"]]) as ct:
        res = run_cli(trail, ct, "us-west-2", by_bucket=False)
        diff = awscli_peer.mismatches(res, trail["expected"]["validate_logs"]["us-west-2"])
        check(not diff, "\n".join(diff) + "\n" + res.describe())
        ops = [(r["operation"], r["region"]) for r in ct.requests()]
        check(ops == [("DescribeTrails", "us-west-2"), ("ListPublicKeys", "us-west-2")],
              f"calls: {ops}")


# ---- each assertion can fail ---------------------------------------------------------------------

def test_a_wrong_signing_string_makes_the_cli_disagree():
    """Digests signed over the string of AWS's garbled documentation example (no bucket in the
    path): the CLI must call every digest's signature invalid, and mismatches() must report it
    against the intact trail's expectation."""
    real = trailgen.string_to_sign

    def garbled(digest, inflated):
        return real(dict(digest, digestS3Bucket="", digestS3Object=digest["digestS3Object"]),
                    inflated).replace(b"\n/", b"\n", 1)
    trailgen.string_to_sign = garbled
    try:
        trail, out = new_trail("intact", bucket="tw-badsign-trail")
    finally:
        trailgen.string_to_sign = real
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json") as ct:
        res = run_cli(trail, ct, "us-east-1")
    digests = trail["chains"]["us-east-1"]
    check({res.files.get(u) for u in digests} == {"INVALID: signature verification failed"},
          f"every digest must fail its signature: {res.describe()}")
    check(res.exit_code == 1, res.describe())
    diff = awscli_peer.mismatches(res, trail["expected"]["validate_logs"]["us-east-1"])
    check(len([d for d in diff if "signature verification failed" in d]) == len(digests),
          f"mismatches() must name each digest: {diff}")


def test_another_regions_keys_make_the_cli_disagree():
    """The stand-in serving us-east-1's keys to us-west-2 (keys are per region): the us-west-2
    chain's digests have no key, so the per-region lookup is what makes the scenario pass."""
    trail, out = new_trail("multiregion", bucket="tw-swapped-keys")
    keys = json.loads((out / "keys.json").read_text())
    swapped = {"us-east-1": keys["us-west-2"], "us-west-2": keys["us-east-1"]}
    with cloudtrail_standin.CloudTrailStandin(keys=swapped) as ct:
        res = run_cli(trail, ct, "us-west-2")
    for uri in trail["chains"]["us-west-2"]:
        got = res.files.get(uri, "")
        check(got.startswith("INVALID: public key not found in region us-east-1 for fingerprint "),
              f"{uri}: {got}\n{res.describe()}")
    check(awscli_peer.mismatches(res, trail["expected"]["validate_logs"]["us-west-2"]),
          "mismatches() found no difference")


def test_the_cli_reads_one_page_of_keys_a_paginator_reads_all():
    """page_size=1: the stand-in answers key "a" with a NextToken; the CLI 2.9 never follows it,
    so the digests signed after the rotation (key "b") have no key; botocore's paginator on the
    same stand-in gets both keys."""
    trail, out = new_trail("intact", bucket="tw-paged-keys")
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json", page_size=1) as ct:
        res = run_cli(trail, ct, "us-east-1")
        late = [u for u in trail["chains"]["us-east-1"]
                if trail["files"][u]["key"] == "us-east-1/b"]
        check(len(late) == 2, f"two digests after the rotation: {late}")
        for uri in late:
            check(res.files.get(uri, "").startswith("INVALID: public key not found"),
                  f"{uri}: {res.files.get(uri)}\n{res.describe()}")
        client = cloudtrail_client(ct)
        pages = list(client.get_paginator("list_public_keys").paginate(
            StartTime=trailgen.parse_iso(trail["start_time"]),
            EndTime=trailgen.parse_iso(trail["end_time"])))
        fps = [k["Fingerprint"] for p in pages for k in p["PublicKeyList"]]
        want = [trail["keys"][n]["fingerprint"] for n in ("us-east-1/a", "us-east-1/b")]
        check(len(pages) == 2 and fps == want, f"pages {pages}, want keys {want}")


# ---- what the CLI does not check -----------------------------------------------------------------

def verify_trail_independently(out: Path) -> dict:
    """Checks a generated trail from its files alone, including what validate-logs skips;
    returns counts."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    trail = trailgen.load(out)
    meta = json.loads((out / "metadata.json").read_text())
    keys = json.loads((out / "keys.json").read_text())
    bucket = trail["bucket"]
    counts = {"digests": 0, "logs": 0, "starting": 0, "empty": 0, "cis49": 0}
    for region, chain in trail["chains"].items():
        by_fp = {}
        for k in keys[region]:
            der = base64.b64decode(k["Value"])
            check(k["Fingerprint"] == hashlib.md5(der).hexdigest(), f"fingerprint of {k}")
            by_fp[k["Fingerprint"]] = (load_der_public_key(der), k)
        prev = None
        for uri in chain:
            key = uri[len(f"s3://{bucket}/"):]
            raw = gzip.decompress((out / "objects" / bucket / key).read_bytes())
            d = json.loads(raw)
            check(d["digestS3Bucket"] == bucket and d["digestS3Object"] == key, f"{uri} location")
            end = trailgen.parse_iso(d["digestEndTime"])
            check(key.endswith(f"_{end:%Y%m%dT%H%M%SZ}.json.gz") and f"/{end:%Y/%m/%d}/" in key,
                  f"{uri}: key not dated by digestEndTime {d['digestEndTime']}")
            check(f"_{region}_{trail['trail_name']}_{trail['home_region']}_" in key, uri)
            sig = meta[f"{bucket}/{key}"]
            check(sig["signature-algorithm"] == "SHA256withRSA", f"{uri}: {sig}")
            public, k = by_fp[d["digestPublicKeyFingerprint"]]
            check(k["ValidityStartTime"] <= end.timestamp() < k["ValidityEndTime"],
                  f"{uri} signed with a key not valid at its end time")
            public.verify(bytes.fromhex(sig["signature"]), trailgen.string_to_sign(d, raw),
                          padding.PKCS1v15(), hashes.SHA256())
            links = ["previousDigestS3Bucket", "previousDigestS3Object", "previousDigestHashValue",
                     "previousDigestHashAlgorithm", "previousDigestSignature"]
            if d["previousDigestS3Object"] is None:
                check(all(d[f] is None for f in links), f"{uri}: a starting digest has all "
                      "five previousDigest* null")
                counts["starting"] += 1
            else:
                check(prev is not None and d["previousDigestS3Bucket"] == bucket
                      and d["previousDigestS3Object"] == prev["key"]
                      and d["previousDigestHashValue"] == hashlib.sha256(prev["raw"]).hexdigest()
                      and d["previousDigestHashAlgorithm"] == "SHA-256"
                      and d["previousDigestSignature"] == prev["sig"],
                      f"{uri}: chain link to {prev and prev['key']} broken")
            if not d["logFiles"]:
                check(d["newestEventTime"] is None and d["oldestEventTime"] is None,
                      f"{uri}: an empty digest has null event times")
                counts["empty"] += 1
            for lf in d["logFiles"]:
                body = gzip.decompress((out / "objects" / lf["s3Bucket"] / lf["s3Object"])
                                       .read_bytes())
                check(hashlib.sha256(body).hexdigest() == lf["hashValue"], f"{lf['s3Object']}")
                records = json.loads(body)["Records"]
                check(len(records) >= 3 and all(r["awsRegion"] == region for r in records),
                      f"{lf['s3Object']}: records")
                check(d["digestStartTime"] <= max(r["eventTime"] for r in records)
                      <= d["digestEndTime"], f"{lf['s3Object']}: events outside the hour")
                counts["cis49"] += sum(r["eventName"] == "StopConfigurationRecorder"
                                       for r in records)
                counts["logs"] += 1
            counts["digests"] += 1
            prev = {"key": key, "raw": raw, "sig": sig["signature"]}
    return counts


def test_chains_links_and_hashes_hold_without_the_cli():
    for scenario, want in (("intact", {"digests": 5, "logs": 8, "starting": 1, "empty": 1}),
                           ("gap", {"digests": 4, "logs": 8, "starting": 2, "empty": 0}),
                           ("multiregion", {"digests": 10, "logs": 16, "starting": 2,
                                            "empty": 2}),
                           ("spki", {"digests": 5, "logs": 8, "starting": 1, "empty": 1})):
        out = trail_dir(f"independent-{scenario}")
        trailgen.generate(scenario, out)
        counts = verify_trail_independently(out)
        check(counts["cis49"] >= len(trailgen.load(out)["regions"]),
              f"{scenario}: a StopConfigurationRecorder per chain: {counts}")
        counts.pop("cis49")
        check(counts == want, f"{scenario}: {counts}, want {want}")


def test_the_independent_verifier_catches_a_broken_link():
    """The check above can fail: a digest whose previousDigestHashValue is wrong (re-signed, so
    its signature holds and only the link is broken) is refused."""
    out = trail_dir("broken-link")
    real_seal = trailgen.Trail.seal

    def seal(self, df, d, spec, **kw):
        if d.get("previousDigestHashValue"):
            d["previousDigestHashValue"] = "0" * 64
        return real_seal(self, df, d, spec, **kw)
    trailgen.Trail.seal = seal
    try:
        trailgen.generate("intact", out)
    finally:
        trailgen.Trail.seal = real_seal
    try:
        verify_trail_independently(out)
    except common.Failure as e:
        check("chain link" in str(e), f"wrong failure: {e}")
    else:
        raise common.Failure("a broken previousDigestHashValue was not caught")


def test_both_pythons_write_the_same_bytes():
    """trailgen's CLI under /usr/bin/python3 (Debian, cryptography 38) and the python3 on PATH
    (and this process) write byte-identical trails."""
    pythons = [p for p in dict.fromkeys(
        os.path.realpath(x) for x in ("/usr/bin/python3", shutil.which("python3") or "",
                                      sys.executable) if x and os.path.exists(x))]
    dirs = []
    for i, py in enumerate(pythons):
        d = trail_dir(f"python-{i}")
        p = subprocess.run([py, str(HERE / "trailgen.py"), "multiregion", str(d)],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"{py}: {p.stderr}")
        dirs.append(d)
    inproc = trail_dir("python-inproc")
    trailgen.generate("multiregion", inproc)
    dirs.append(inproc)

    def tree(d):
        return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
    first = tree(dirs[0])
    check(len(first) == 29, f"26 objects + 3 json files expected, got {len(first)}")
    for d in dirs[1:]:
        other = tree(d)
        diff = [k for k in set(first) | set(other) if first.get(k) != other.get(k)]
        check(not diff, f"{dirs[0]} and {d} differ in {sorted(diff)[:5]} (pythons {pythons})")


# ---- the stand-in refuses what AWS refuses -------------------------------------------------------

def cloudtrail_client(ct, region="us-east-1", secret=cloudtrail_standin.DUMMY_SECRET_KEY):
    import boto3
    import botocore.config
    return boto3.session.Session(
        aws_access_key_id=cloudtrail_standin.DUMMY_ACCESS_KEY, aws_secret_access_key=secret,
        region_name=region).client("cloudtrail", endpoint_url=ct.endpoint,
                                   config=botocore.config.Config(proxies={},
                                                                 retries={"max_attempts": 3}))


def raw_call(ct, target: str | None, body, *, service="cloudtrail", region="us-east-1",
             secret=cloudtrail_standin.DUMMY_SECRET_KEY, sign=True) -> tuple[int, dict]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = cloudtrail_standin.TARGET_PREFIX + target
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = AWSRequest(method="POST", url=ct.endpoint + "/", data=data, headers=headers)
    if sign:
        SigV4Auth(Credentials(cloudtrail_standin.DUMMY_ACCESS_KEY, secret), service,
                  region).add_auth(req)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    r = urllib.request.Request(req.url, data=data, method="POST", headers=dict(req.headers))
    try:
        with opener.open(r, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_standin_refuses_like_aws():
    out = trail_dir("standin-keys")
    trail = trailgen.generate("multiregion", out)
    rng = {"StartTime": epoch(trail["start_time"]), "EndTime": epoch(trail["end_time"])}
    with cloudtrail_standin.CloudTrailStandin(keys=out / "keys.json",
                                              trails=[trail["describe_trails"]]) as ct:
        cases = [
            ("unsigned", raw_call(ct, "ListPublicKeys", rng, sign=False),
             403, "MissingAuthenticationTokenException"),
            ("scoped to sqs", raw_call(ct, "ListPublicKeys", rng, service="sqs"),
             403, "InvalidSignatureException"),
            ("wrong secret", raw_call(ct, "ListPublicKeys", rng, secret="not-the-secret"),
             403, "InvalidSignatureException"),
            ("unknown target", raw_call(ct, "GetTrail", {"Name": "management"}),
             400, "UnknownOperationException"),
            ("no target", raw_call(ct, None, {}), 400, "UnknownOperationException"),
            ("string time", raw_call(ct, "ListPublicKeys", {"StartTime": trail["start_time"]}),
             400, "SerializationException"),
            ("start after end", raw_call(ct, "ListPublicKeys", {"StartTime": rng["EndTime"],
                                                                 "EndTime": rng["StartTime"]}),
             400, "InvalidTimeRangeException"),
            ("bad token", raw_call(ct, "ListPublicKeys", dict(rng, NextToken="forged")),
             400, "InvalidTokenException"),
            ("not json", raw_call(ct, "ListPublicKeys", b"{"), 400, "SerializationException"),
        ]
        for name, (status, answer), want_status, want_type in cases:
            check((status, answer.get("__type")) == (want_status, want_type),
                  f"{name}: {status} {answer}, want {want_status} {want_type}")
        # per region, overlapping the range only
        for region in ("us-east-1", "us-west-2", "eu-west-1"):
            status, answer = raw_call(ct, "ListPublicKeys", rng, region=region)
            want = {"us-east-1": ["us-east-1/a", "us-east-1/b"], "us-west-2": ["us-west-2/a"],
                    "eu-west-1": []}[region]
            got = [k["Fingerprint"] for k in answer["PublicKeyList"]]
            check(status == 200 and got == [trail["keys"][n]["fingerprint"] for n in want],
                  f"{region}: {status} {answer}")
        late = {"StartTime": epoch("2026-11-20T04:00:00Z"),
                "EndTime": epoch("2026-11-20T05:00:00Z")}
        got = [k["Fingerprint"] for k in raw_call(ct, "ListPublicKeys", late)[1]["PublicKeyList"]]
        check(got == [trail["keys"]["us-east-1/b"]["fingerprint"]], f"after the rotation: {got}")
        # DescribeTrails: home region and shadow trails
        client = cloudtrail_client(ct, "eu-west-1")
        check([t["TrailARN"] for t in client.describe_trails()["trailList"]] ==
              [trail["trail_arn"]], "a multi-region trail is listed as a shadow trail")
        check(client.describe_trails(includeShadowTrails=False)["trailList"] == [],
              "no shadow trails when asked not to")
        # injected faults are retried by botocore
        ct.clear_requests()
        ct.fail("ListPublicKeys", 400, "ThrottlingException", count=1)
        keys = cloudtrail_client(ct).list_public_keys(
            StartTime=trailgen.parse_iso(trail["start_time"]),
            EndTime=trailgen.parse_iso(trail["end_time"]))["PublicKeyList"]
        log = [(r["operation"], r["status"], r["error"]) for r in ct.requests()]
        check(len(keys) == 2 and log == [("ListPublicKeys", 400, "ThrottlingException"),
                                         ("ListPublicKeys", 200, None)], f"log {log}")


def setup():
    global FX
    awscli_peer.check_cli()   # fails loudly, naming /usr/bin/aws, when Debian's awscli is missing
    FX = fauxqs.Fauxqs()
    FX.start()


def teardown():
    if FX is not None:
        FX.stop(raise_on_error=False)


def main():
    global TMP
    only = sys.argv[1] if len(sys.argv) > 1 else None
    TMP = Path(tempfile.mkdtemp(prefix="tw-awscli-trail-"))
    return common.run_suite(common.module_tests(globals(), only), setup=setup, teardown=teardown,
                            tmp=TMP, keep=True)


if __name__ == "__main__":
    sys.exit(main())
