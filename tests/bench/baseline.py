#!/usr/bin/env python3
"""Python baseline for the trailwarden benchmark.

Reads CloudTrail log files (gzip JSON ``{"Records": [...]}``), applies the CIS
AWS Foundations "AWS Config configuration changes" filter (v1.4-v3.0 control
4.9) and prints every matching record as one compact JSON line:

    { ($.eventSource = config.amazonaws.com) &&
      (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) ||
       ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder)) }

With ``--all`` it applies the whole CIS v1.4-v3.0 monitoring set 4.1-4.15
(written below as plain Python predicates) and prints one line per
(control, record) match: ``{"control":"4.9","record":{...}}``.

This is meant to be the *fair, idiomatic* Python program someone would write
for the job: ``gzip.open`` + ``json.load``, iterate ``Records``, test, dump.
No deliberate slowness, no exotic tricks (no third-party JSON parser, no
multiprocessing).

Paths may be files or directories; directories are walked recursively and
every ``*.json.gz`` / ``*.json`` file in them is read (``MANIFEST.json`` is
skipped). A summary goes to stderr unless ``--quiet``.

Comparison semantics for the CIS predicates (matches the project's reading of
the CloudWatch Logs filter grammar): a selector must reach a string value;
if the field is missing -- or is null, an object or an array -- every
comparison on it (``=`` as well as ``!=``) is false.  ``NOT EXISTS`` is true
only when the key is absent.

Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from typing import Any, Callable, Iterator

# --------------------------------------------------------------------------
# CIS 4.9 (the default filter) -- kept deliberately direct: this is the hot
# path that is benchmarked against trailwarden and jq.
# --------------------------------------------------------------------------

CONFIG_CHANGE_NAMES = frozenset({
    "StopConfigurationRecorder",
    "DeleteDeliveryChannel",
    "PutDeliveryChannel",
    "PutConfigurationRecorder",
})


def is_config_change(rec: dict) -> bool:
    """CIS 4.9: AWS Config configuration changes."""
    if rec.get("eventSource") != "config.amazonaws.com":
        return False
    name = rec.get("eventName")
    return isinstance(name, str) and name in CONFIG_CHANGE_NAMES


# --------------------------------------------------------------------------
# Full CIS v1.4-v3.0 4.1-4.15 set (used by --all, and by gen_corpus.py to
# write the expected per-control counts into MANIFEST.json).
# --------------------------------------------------------------------------

_MISSING = object()


def _str(rec: dict, *path: str) -> Any:
    """Walk ``path``; return the string found there, or _MISSING.

    Anything that is not a string at the end of the path (absent key, null,
    object, array, number) yields _MISSING, so that both ``=`` and ``!=``
    comparisons on it are false.  (All fields the CIS patterns test are
    strings in CloudTrail.)
    """
    cur: Any = rec
    for key in path:
        if not isinstance(cur, dict):
            return _MISSING
        cur = cur.get(key, _MISSING)
        if cur is _MISSING:
            return _MISSING
    return cur if isinstance(cur, str) else _MISSING


def _eq(rec: dict, path: tuple[str, ...], value: str) -> bool:
    v = _str(rec, *path)
    return v is not _MISSING and v == value


def _ne(rec: dict, path: tuple[str, ...], value: str) -> bool:
    v = _str(rec, *path)
    return v is not _MISSING and v != value


def _name_in(rec: dict, names: frozenset[str]) -> bool:
    v = _str(rec, "eventName")
    return v is not _MISSING and v in names


def _source_is(rec: dict, source: str) -> bool:
    return _eq(rec, ("eventSource",), source)


def _not_exists(rec: dict, *path: str) -> bool:
    """CloudWatch ``NOT EXISTS``: true only when the key is absent."""
    cur: Any = rec
    for key in path[:-1]:
        if not isinstance(cur, dict) or key not in cur:
            return True
        cur = cur[key]
    return not (isinstance(cur, dict) and path[-1] in cur)


def cis_4_1(rec: dict) -> bool:
    """Unauthorized API calls -- corrected (intended) form:
    (errorCode = *UnauthorizedOperation || errorCode = AccessDenied*)
    && sourceIPAddress != delivery.logs.amazonaws.com && eventName != HeadBucket
    """
    code = _str(rec, "errorCode")
    if code is _MISSING or not (code.endswith("UnauthorizedOperation")
                                or code.startswith("AccessDenied")):
        return False
    return (_ne(rec, ("sourceIPAddress",), "delivery.logs.amazonaws.com")
            and _ne(rec, ("eventName",), "HeadBucket"))


def cis_4_2(rec: dict) -> bool:
    """Console sign-in without MFA (short form)."""
    return (_eq(rec, ("eventName",), "ConsoleLogin")
            and _ne(rec, ("additionalEventData", "MFAUsed"), "Yes"))


def cis_4_3(rec: dict) -> bool:
    """Usage of the root account."""
    return (_eq(rec, ("userIdentity", "type"), "Root")
            and _not_exists(rec, "userIdentity", "invokedBy")
            and _ne(rec, ("eventType",), "AwsServiceEvent"))


IAM_POLICY_NAMES = frozenset({
    "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy",
    "PutRolePolicy", "PutUserPolicy", "CreatePolicy", "DeletePolicy",
    "CreatePolicyVersion", "DeletePolicyVersion", "AttachRolePolicy", "DetachRolePolicy",
    "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy", "DetachGroupPolicy",
})
TRAIL_NAMES = frozenset({"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"})
KMS_NAMES = frozenset({"DisableKey", "ScheduleKeyDeletion"})
S3_POLICY_NAMES = frozenset({
    "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle",
    "PutBucketReplication", "DeleteBucketPolicy", "DeleteBucketCors",
    "DeleteBucketLifecycle", "DeleteBucketReplication",
})
SG_NAMES = frozenset({
    "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
    "CreateSecurityGroup", "DeleteSecurityGroup",
})
NACL_NAMES = frozenset({
    "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl",
    "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
})
GATEWAY_NAMES = frozenset({
    "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway",
    "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway",
})
ROUTE_NAMES = frozenset({
    "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation",
    "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable",
})
VPC_NAMES = frozenset({
    "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
    "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc",
    "DisableVpcClassicLink", "EnableVpcClassicLink",
})
ORG_NAMES = frozenset({
    "AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit",
    "CreatePolicy", "DeclineHandshake", "DeleteOrganization", "DeleteOrganizationalUnit",
    "DeletePolicy", "DetachPolicy", "DisablePolicyType", "EnablePolicyType",
    "InviteAccountToOrganization", "LeaveOrganization", "MoveAccount",
    "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit",
})

# control id -> predicate, in CIS order.  4.13 uses the v1.4 form (no
# eventSource term); v3.0's audit text prefixes `eventSource = ec2 &&` to the
# first alternative only, which changes nothing for real CreateRoute events.
CIS_RULES: dict[str, Callable[[dict], bool]] = {
    "4.1": cis_4_1,
    "4.2": cis_4_2,
    "4.3": cis_4_3,
    "4.4": lambda r: _name_in(r, IAM_POLICY_NAMES),
    "4.5": lambda r: _name_in(r, TRAIL_NAMES),
    "4.6": lambda r: (_eq(r, ("eventName",), "ConsoleLogin")
                      and _eq(r, ("errorMessage",), "Failed authentication")),
    "4.7": lambda r: _source_is(r, "kms.amazonaws.com") and _name_in(r, KMS_NAMES),
    "4.8": lambda r: _source_is(r, "s3.amazonaws.com") and _name_in(r, S3_POLICY_NAMES),
    "4.9": lambda r: _source_is(r, "config.amazonaws.com") and _name_in(r, CONFIG_CHANGE_NAMES),
    "4.10": lambda r: _name_in(r, SG_NAMES),
    "4.11": lambda r: _name_in(r, NACL_NAMES),
    "4.12": lambda r: _name_in(r, GATEWAY_NAMES),
    "4.13": lambda r: _name_in(r, ROUTE_NAMES),
    "4.14": lambda r: _name_in(r, VPC_NAMES),
    "4.15": lambda r: _source_is(r, "organizations.amazonaws.com") and _name_in(r, ORG_NAMES),
}


# --------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------

def iter_files(paths: list[str]) -> Iterator[str]:
    """Yield input files: explicit files as given, directories recursively
    (sorted, ``*.json.gz`` and ``*.json`` only, MANIFEST.json skipped)."""
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if name == "MANIFEST.json":
                        continue
                    if name.endswith(".json.gz") or name.endswith(".json"):
                        yield os.path.join(root, name)
        else:
            yield p


def load_records(path: str) -> list:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        doc = json.load(f)
    return doc["Records"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH", help="CloudTrail .json.gz files or directories")
    ap.add_argument("--all", action="store_true",
                    help="apply the whole CIS v1.4-v3.0 4.1-4.15 set instead of only 4.9")
    ap.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    args = ap.parse_args(argv)

    out = sys.stdout.buffer
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    n_files = n_records = n_matches = n_failed = 0
    per_rule = dict.fromkeys(CIS_RULES, 0)
    rules = list(CIS_RULES.items())

    for path in iter_files(args.paths):
        try:
            records = load_records(path)
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"baseline: {path}: {e}", file=sys.stderr)
            n_failed += 1
            continue
        n_files += 1
        n_records += len(records)
        if not args.all:
            for rec in records:
                if is_config_change(rec):
                    out.write(dumps(rec).encode())
                    out.write(b"\n")
                    n_matches += 1
        else:
            for rec in records:
                for cid, pred in rules:
                    if pred(rec):
                        out.write(dumps({"control": cid, "record": rec}).encode())
                        out.write(b"\n")
                        per_rule[cid] += 1
                        n_matches += 1
    out.flush()

    if not args.quiet:
        msg = f"baseline: files={n_files} records={n_records} matches={n_matches} failed={n_failed}"
        if args.all:
            msg += " " + " ".join(f"{k}={v}" for k, v in per_rule.items())
        print(msg, file=sys.stderr)
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
