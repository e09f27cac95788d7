#!/usr/bin/env python3
"""Cross-checks trailwarden's endpoint helper (agent/aws/endpoints.h) against botocore's own
endpoint resolver (its endpoint rule sets and partitions.json).

Run as:  python3 tests/integration/test_endpoints_botocore.py /path/to/endpoints_tool

For every region of every partition botocore knows (endpoints.json and partitions.json) x
{sqs, s3, sts, sns, sso (the IAM Identity Center portal), dynamodb, cloudtrail} x {plain, FIPS, dual-stack, both}, and for S3 also x {a virtual-hosted, a
dotted and a legacy (capitals, underscore) bucket name}, the agent's URL must equal botocore's,
or both must refuse ("not offered"). STS is compared with the regional endpoints
(sts_regional_endpoints = regional), as the agent never uses the global sts.amazonaws.com. The
SQS host botocore gives for each case, used as a queue URL, must name that region to the agent
(sqs_region_from_queue_url).

The partition table of the agent follows today's partitions.json. Older botocore releases
(Debian 12's 1.29) lack the dual-stack endpoints of the ISO partitions, forbid path-style
requests to FIPS S3 hosts and name portal.sso-fips hosts in GovCloud; such cases are counted as skipped with the reason printed, never as
passes. aws, aws-cn and aws-us-gov must match any botocore.

Needs botocore (Debian: python3-botocore). The last line printed is "N passed, N failed, N
skipped"; the exit status is non-zero if any case failed or botocore is missing.
"""

import os
import re
import subprocess
import sys

import common

try:
    import botocore
    from botocore.endpoint_provider import EndpointProvider
    from botocore.loaders import create_loader
except ImportError as e:  # pragma: no cover - environment problem, reported as a failure
    sys.exit(common.cannot_run(
        f"botocore is not importable ({e}): install python3-botocore (scripts/setup.sh)"))

SERVICES = ["sqs", "s3", "sts", "sns", "sso", "dynamodb", "cloudtrail"]
VARIANTS = [(False, False), (True, False), (False, True), (True, True)]
BUCKETS = ["trail-logs-123", "trail.logs.example", "Trail_Logs"]
MUST_MATCH = {"aws", "aws-cn", "aws-us-gov"}


def ask(tool, lines):
    """One answer line per question line."""
    out = subprocess.run([tool], input="\n".join(lines) + "\n", capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return out.split("\n")[:len(lines)]


def botocore_url(provider, **params):
    try:
        return provider.resolve_endpoint(**params).url, None
    except Exception as e:  # botocore raises EndpointResolutionError for "not offered"
        return None, str(e)


def agent_partitions(tool):
    lines = subprocess.run([tool], input="partitions\n", capture_output=True, text=True,
                           timeout=60, check=True).stdout.split("\n")
    table = {}
    for line in lines:
        if line == "end":
            break
        name, dns, dual_dns, fips, dual = line.split()
        table[name] = {"dnsSuffix": dns, "dualStackDnsSuffix": dual_dns,
                       "supportsFIPS": fips == "1", "supportsDualStack": dual == "1"}
    return table


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    if not os.access(tool, os.X_OK):
        return common.cannot_run(f"not an executable: {tool}")
    loader = create_loader()
    partitions = loader.load_data("partitions")
    endpoints = loader.load_data("endpoints")
    providers = {s: EndpointProvider(loader.load_service_model(s, "endpoint-rule-set-1"),
                                     partitions) for s in SERVICES}
    print(f"botocore {botocore.__version__}")

    passed = failed = skipped = 0
    ours_table = agent_partitions(tool)
    # Partitions whose botocore data differs from the agent's table: which fields.
    stale = {}
    for p in partitions["partitions"]:
        name = p["id"]
        theirs = {k: p["outputs"][k] for k in
                  ("dnsSuffix", "dualStackDnsSuffix", "supportsFIPS", "supportsDualStack")}
        ours = ours_table.get(name)
        if ours == theirs:
            passed += 1
            continue
        if name in MUST_MATCH or ours is None:
            failed += 1
            print(f"FAIL partition {name}: botocore {theirs}, ours {ours}")
            continue
        stale[name] = [k for k in theirs if theirs[k] != ours[k]]
        skipped += 1
        print(f"skip partition {name}: this botocore's data differs in {stale[name]} "
              f"(botocore {theirs}, ours {ours})")

    # Every region name botocore knows, with its partition.
    regions = {}
    for p in partitions["partitions"]:
        regex = re.compile(p["regionRegex"])
        for r in p["regions"]:
            if regex.match(r):
                regions[r] = p["id"]
    for p in endpoints["partitions"]:
        for r in p["regions"]:
            regions.setdefault(r, p["partition"])
    for must in ("us-east-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1"):
        if must not in regions:
            failed += 1
            print(f"FAIL botocore knows no region {must}: the comparison would be hollow")

    questions, expected = [], []
    for region, partition in sorted(regions.items()):
        for fips, dual in VARIANTS:
            base = {"Region": region, "UseFIPS": fips, "UseDualStack": dual}
            for svc in SERVICES:
                params = dict(base)
                if svc == "sts":
                    params["UseGlobalEndpoint"] = False
                if svc == "s3":
                    params.update(UseGlobalEndpoint=False, ForcePathStyle=False)
                url, err = botocore_url(providers[svc], **params)
                questions.append(f"host {svc} {region} {int(fips)} {int(dual)}")
                expected.append((partition, svc, region, fips, dual, None, url, err))
                if svc == "sqs" and url:
                    questions.append(f"queue {url}/123456789012/trail-queue")
                    expected.append((partition, "queue", region, fips, dual, None, region, None))
            for bucket in BUCKETS:
                url, err = botocore_url(providers["s3"], Bucket=bucket, UseGlobalEndpoint=False,
                                        ForcePathStyle=False, **base)
                questions.append(f"s3 {region} {int(fips)} {int(dual)} {bucket}")
                expected.append((partition, "s3", region, fips, dual, bucket, url, err))

    answers = ask(tool, questions)
    by_service = {}
    for q, a, (partition, svc, region, fips, dual, bucket, url, err) in zip(
            questions, answers, expected):
        counts = by_service.setdefault(svc, [0, 0, 0])
        if svc == "queue":
            ok = a == url
        else:
            ours_err = a.startswith("ERR ")
            ok = (ours_err and err is not None) or (not ours_err and a == url)
        if ok:
            passed += 1
            counts[0] += 1
            continue
        # Known differences of older botocore data and rule sets (see the docstring).
        reason = None
        if partition in stale and dual and "supportsDualStack" in stale[partition]:
            reason = f"{partition} dual-stack: this botocore's partition data predates it"
        elif err and "Path-style addressing cannot be used with FIPS" in err:
            reason = "path-style FIPS S3: this botocore's S3 rule set predates it"
        elif (svc == "sso" and partition == "aws-us-gov" and fips and not dual and url and
              url == a.replace("https://portal.sso.", "https://portal.sso-fips.")):
            reason = "SSO FIPS in GovCloud: this botocore's SSO rule set predates the regional host"
        if reason and not a.startswith("ERR "):
            skipped += 1
            counts[2] += 1
            continue
        failed += 1
        counts[1] += 1
        print(f"FAIL {q}\n  botocore: {url or 'ERR ' + str(err)}\n  ours:     {a}")
    for svc, (p, f, s) in sorted(by_service.items()):
        print(f"  {svc}: {p} passed, {f} failed, {s} skipped")
    print(f"{len(regions)} regions")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
