#!/usr/bin/env python3
"""Deterministic generator of a realistic CloudTrail corpus for benchmarks.

Writes ``--files`` gzip files of ``--records`` records each into ``--out``,
named like real CloudTrail S3 keys::

    <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16 random chars>.json.gz

Each file is one compact ``{"Records":[...]}`` document, as CloudTrail
delivers them.  The record mix imitates a real management + S3-data trail:

* eventVersion 1.08 / 1.09; userIdentity of type AssumedRole (instance,
  Lambda, SSO and service-linked roles, with sessionContext), IAMUser,
  AWSService (invokedBy), WebIdentityUser, AWSAccount, and -- rarely -- Root;
* a weighted mix of calls dominated by read-only ones (Describe*, Get*,
  List*, AssumeRole, Decrypt, GenerateDataKey, ...) plus everyday writes
  (PutObject, CreateLogStream, UpdateInstanceInformation, CreateTags, ...);
* requestParameters / responseElements of varying size: null, flat, nested,
  large (RunInstances, GetMetricData, PutEvaluations), and escaped JSON
  policy documents (backslashes, ``\\"``, ``\\n``), plus some non-ASCII keys;
* tlsDetails, resources[], additionalEventData, vpcEndpointId, sharedEventID;
* errorCode/errorMessage on ~2.5% of calls, of which ~1.5% are the CIS 4.1
  kind (AccessDenied*, Client.UnauthorizedOperation);
* decoys that a sloppy matcher would flag: config.amazonaws.com Describe*/
  PutEvaluations/StartConfigurationRecorder/PutConfigurationAggregator,
  CloudTrail LookupEvents whose parameters name StopConfigurationRecorder,
  policy strings that mention config:StopConfigurationRecorder, AccessDenied
  from delivery.logs.amazonaws.com and on HeadBucket, root AwsServiceEvents.

Rare security events are *planned*, not drawn per record, so their number is
exact and known in advance: about 1 in 20,000 records for the AWS Config
changes (CIS 4.9; at least 4, cycling over the four event names) and for each
of the other CIS-monitored kinds (at least 1 each).

Everything is derived from ``--seed``: the same arguments always produce
byte-identical files, whatever the number of worker processes.

``MANIFEST.json`` (in ``--out``, or ``--manifest PATH``) records the
parameters, per-file sizes, counts per eventName and per eventSource, the
number of Config-change records (``config_changes``) and the expected number
of matches per CIS control as computed by baseline.py's predicates.

Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

sys.dont_write_bytecode = True  # keep tests/bench free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baseline  # noqa: E402  (CIS predicates, for the expected counts)

GENERATOR_VERSION = 1


def source_hash() -> str:
    """Hash of this generator and of baseline.py (whose predicates produce the
    expected counts): run_bench.sh regenerates a cached corpus when it changes."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("gen_corpus.py", "baseline.py"):
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]

# Fake but real-looking 12-digit account ids (none is a documented example id).
ACCOUNTS = ["284650711039", "519043867312", "730384926571", "106215384419"]
ACCOUNT_WEIGHTS = [50, 25, 15, 10]
EXTERNAL_ACCOUNTS = ["883217640952", "467019335821"]  # cross-account callers
ORG_MGMT_ACCOUNT = "730384926571"

REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"]
REGION_WEIGHTS = [45, 25, 20, 10]

# 2024-11-18T00:00:00Z; the corpus covers the following days.
BASE_EPOCH = 1731888000

UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
HEX = "0123456789abcdef"

USER_AGENTS_SDK = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    "aws-cli/2.17.12 Python/3.11.9 Darwin/23.5.0 exe/x86_64 prompt/off command/s3.ls",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
    "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.35.36",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.149.1",
    "aws-sdk-go/1.50.38 (go1.21.8; linux; amd64)",
    "aws-sdk-java/2.25.6 Linux/5.10.209-198.858.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.214-202.855.amzn2.x86_64 lang/js md/nodejs#20.11.1 api/dynamodb#3.540.0 exec-env/AWS_Lambda_nodejs20.x",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/iam#1.31.1",
    "amazon-ssm-agent/3.3.40.0 aws-sdk-go/1.50.0 (go1.21.6; linux; amd64)",
    "kubernetes/v1.29.1-eks-b9c9ed7 aws-sdk-go/1.48.16 (go1.21.6; linux; amd64)",
    "datadog-aws-integration/1.0 aws-sdk-go/1.44.248 (go1.20.3; linux; amd64)",
]
# Shorter agents, listed several times so that they dominate as in real trails.
SHORT_UAS = ["aws-sdk-go/1.44.327 (go1.20.7; linux; amd64)", "Botocore/1.31.17",
             "aws-cli/1.29.17 Python/3.9.16 Linux/5.10.186-179.751.amzn2.x86_64 botocore/1.31.17",
             "aws-sdk-java/1.12.720 Linux/5.10.216 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS java/17.0.11"]
INSTANCE_UAS = SHORT_UAS * 3 + USER_AGENTS_SDK[:3] + USER_AGENTS_SDK[4:7] + USER_AGENTS_SDK[9:11]
USER_AGENTS_CONSOLE = [
    "AWS Internal",
    "console.ec2.amazonaws.com",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
]
PUBLIC_IPS = ["52.94.133.131", "3.231.12.44", "18.206.107.29", "34.228.4.208", "54.239.28.85",
              "203.0.113.17", "198.51.100.42", "81.2.69.160", "185.199.108.153", "91.198.174.192"]
HUMAN_IPS = ["81.2.69.160", "2a01:e0a:1f3:4c50:8d2e:11ff:fe2c:9a01", "198.51.100.42", "92.184.105.77"]

TLS_V13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
TLS_V12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")

# Escaped-JSON policy strings (CloudTrail logs policy documents as *strings*,
# so they arrive in the log with \" and \n escapes).  Some mention Config
# actions on purpose: a substring search for "StopConfigurationRecorder" must
# not be mistaken for a match.
DENY_CONFIG_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Sid": "ProtectConfig", "Effect": "Deny",
                   "Action": ["config:StopConfigurationRecorder", "config:DeleteDeliveryChannel",
                              "config:PutDeliveryChannel", "config:PutConfigurationRecorder"],
                   "Resource": "*"}]}, indent=2)
READ_ONLY_SESSION_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                   "Resource": ["arn:aws:s3:::analytics-*", "arn:aws:s3:::analytics-*/*"],
                   "Condition": {"StringLike": {"s3:prefix": ["exports\\daily\\*", "tmp/*"]}}}]})


def rand_str(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def uuid4(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# --------------------------------------------------------------------------
# Per-account identity and resource pools (built from the seed, identical in
# every worker).
# --------------------------------------------------------------------------

class Pools:
    def __init__(self, seed: int):
        rng = random.Random(f"pools:{seed}")
        self.acct: dict[str, dict] = {}
        for a in ACCOUNTS + EXTERNAL_ACCOUNTS:
            p: dict = {}
            p["users"] = [(u, "AIDA" + rand_str(rng, 17, UPPER_ALNUM), "AKIA" + rand_str(rng, 16, UPPER_ALNUM))
                          for u in ("terraform-ci", "jenkins-deploy", "backup-agent", "datadog-integration",
                                    "alice.martin", "legacy-etl")]
            p["instance_roles"] = [(r, "AROA" + rand_str(rng, 17, UPPER_ALNUM)) for r in (
                "web-InstanceRole-" + rand_str(rng, 12, UPPER_ALNUM), "eks-node-role", "batch-worker")]
            p["lambda_roles"] = [(r, "AROA" + rand_str(rng, 17, UPPER_ALNUM), fn) for r, fn in (
                ("orders-api-lambda-role", "orders-api-handler"),
                ("thumbnailer-role", "image-thumbnailer"),
                ("config-rules-lambda-role", "config-rule-s3-encryption"))]
            p["sso_roles"] = [("AWSReservedSSO_%s_%s" % (n, rand_str(rng, 16, HEX)),
                               "AROA" + rand_str(rng, 17, UPPER_ALNUM)) for n in
                              ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess")]
            p["humans"] = ["j.doe@example.com", "m.rossi@example.com", "k.tanaka@example.com",
                           "s.okafor@example.com", "élodie.brun@example.com"]
            p["slr"] = [("AWSServiceRoleForConfig", "config.amazonaws.com", "AROA" + rand_str(rng, 17, UPPER_ALNUM)),
                        ("AWSServiceRoleForAutoScaling", "autoscaling.amazonaws.com", "AROA" + rand_str(rng, 17, UPPER_ALNUM)),
                        ("AWSServiceRoleForECS", "ecs.amazonaws.com", "AROA" + rand_str(rng, 17, UPPER_ALNUM))]
            p["irsa_roles"] = ["eks-external-dns", "eks-aws-load-balancer-controller", "karpenter-controller"]
            p["oidc_id"] = rand_str(rng, 32, "0123456789ABCDEF")
            p["instances"] = ["i-0" + rand_str(rng, 16, HEX) for _ in range(24)]
            p["volumes"] = ["vol-0" + rand_str(rng, 16, HEX) for _ in range(24)]
            p["sgs"] = ["sg-0" + rand_str(rng, 16, HEX) for _ in range(8)]
            p["subnets"] = ["subnet-0" + rand_str(rng, 16, HEX) for _ in range(6)]
            p["vpcs"] = ["vpc-0" + rand_str(rng, 16, HEX) for _ in range(2)]
            p["rtbs"] = ["rtb-0" + rand_str(rng, 16, HEX) for _ in range(4)]
            p["enis"] = ["eni-0" + rand_str(rng, 16, HEX) for _ in range(12)]
            p["kms_keys"] = [uuid4(rng) for _ in range(5)]
            p["buckets"] = [f"{n}-{a}" for n in ("app-assets", "analytics-raw", "backups",
                                                   "cloudtrail-logs", "terraform-state", "alb-access-logs")]
            self.acct[a] = p


# --------------------------------------------------------------------------
# One file's generator
# --------------------------------------------------------------------------

class FileGen:
    """Generates the records of one file: fixed account, region, time window."""

    def __init__(self, pools: Pools, seed: int, index: int, account: str, region: str, t_end: int):
        self.rng = random.Random(f"file:{seed}:{index}")
        self.p = pools.acct[account]
        self.acct = account
        self.region = region
        self.t_end = t_end
        self._calls = NORMAL_CALLS
        self._weights = NORMAL_CUM_WEIGHTS

    # ---- small helpers -------------------------------------------------
    def now(self) -> str:
        # CloudTrail files hold ~5-15 minutes of events, not strictly sorted.
        return iso(self.t_end - self.rng.randrange(900))

    def kms_arn(self, region: str | None = None) -> str:
        return f"arn:aws:kms:{region or self.region}:{self.acct}:key/{self.rng.choice(self.p['kms_keys'])}"

    def s3_request_id(self) -> str:
        return rand_str(self.rng, 16, "0123456789ABCDEF")

    def amz_id_2(self) -> str:
        return rand_str(self.rng, 76, ALNUM + "+/") + "="

    # ---- identities --------------------------------------------------------
    def session_ctx(self, role: str, role_id: str, path: str = "", mfa: str = "false") -> dict:
        return {
            "sessionIssuer": {"type": "Role", "principalId": role_id,
                              "arn": f"arn:aws:iam::{self.acct}:role/{path}{role}",
                              "accountId": self.acct, "userName": role},
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(self.t_end - self.rng.randrange(900, 43200)),
                           "mfaAuthenticated": mfa},
        }

    def actor(self, kind: str) -> tuple[dict, str, str, dict]:
        """Return (userIdentity, sourceIPAddress, userAgent, extra top-level fields)."""
        rng, p, a = self.rng, self.p, self.acct
        extra: dict = {}
        if kind == "instance":
            role, rid = rng.choice(p["instance_roles"])
            sess = rng.choice(p["instances"])
            ui = {"type": "AssumedRole", "principalId": f"{rid}:{sess}",
                  "arn": f"arn:aws:sts::{a}:assumed-role/{role}/{sess}", "accountId": a,
                  "accessKeyId": "ASIA" + rand_str(rng, 16, UPPER_ALNUM),
                  "sessionContext": self.session_ctx(role, rid)}
            ui["sessionContext"]["ec2RoleDelivery"] = "2.0"
            ip = f"10.{rng.randrange(0, 64)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" \
                if rng.random() < 0.6 else rng.choice(PUBLIC_IPS)
            if ip.startswith("10.") and rng.random() < 0.4:
                extra["vpcEndpointId"] = "vpce-0" + rand_str(rng, 16, HEX)
            return ui, ip, rng.choice(INSTANCE_UAS), extra
        if kind == "lambda":
            role, rid, fn = rng.choice(p["lambda_roles"])
            ui = {"type": "AssumedRole", "principalId": f"{rid}:{fn}",
                  "arn": f"arn:aws:sts::{a}:assumed-role/{role}/{fn}", "accountId": a,
                  "accessKeyId": "ASIA" + rand_str(rng, 16, UPPER_ALNUM),
                  "sessionContext": self.session_ctx(role, rid, "service-role/")}
            return ui, rng.choice(PUBLIC_IPS[:5]), rng.choice(USER_AGENTS_SDK[3:4] + USER_AGENTS_SDK[7:8]), extra
        if kind == "sso":
            role, rid = rng.choice(p["sso_roles"])
            who = rng.choice(p["humans"])
            ui = {"type": "AssumedRole", "principalId": f"{rid}:{who}",
                  "arn": f"arn:aws:sts::{a}:assumed-role/{role}/{who}", "accountId": a,
                  "accessKeyId": "ASIA" + rand_str(rng, 16, UPPER_ALNUM),
                  "sessionContext": self.session_ctx(
                      role, rid, f"aws-reserved/sso.amazonaws.com/{self.region}/")}
            if rng.random() < 0.5:
                extra["sessionCredentialFromConsole"] = "true"
                return ui, rng.choice(HUMAN_IPS), rng.choice(USER_AGENTS_CONSOLE), extra
            return ui, rng.choice(HUMAN_IPS), rng.choice(USER_AGENTS_SDK[:2]), extra
        if kind == "user":
            name, uid, key = rng.choice(p["users"])
            ui = {"type": "IAMUser", "principalId": uid, "arn": f"arn:aws:iam::{a}:user/{name}",
                  "accountId": a, "accessKeyId": key, "userName": name}
            return ui, rng.choice(PUBLIC_IPS), rng.choice(SHORT_UAS * 2 + USER_AGENTS_SDK), extra
        if kind == "slr":
            role, svc, rid = rng.choice(p["slr"])
            sess = {"config.amazonaws.com": "AWSConfig-Describe",
                    "autoscaling.amazonaws.com": "AutoScaling", "ecs.amazonaws.com": "ecs-service-scheduler"}[svc]
            ui = {"type": "AssumedRole", "principalId": f"{rid}:{sess}",
                  "arn": f"arn:aws:sts::{a}:assumed-role/{role}/{sess}", "accountId": a,
                  "accessKeyId": "ASIA" + rand_str(rng, 16, UPPER_ALNUM),
                  "sessionContext": self.session_ctx(role, rid, f"aws-service-role/{svc}/"),
                  "invokedBy": svc}
            return ui, svc, svc, extra
        if kind == "internal":
            # A service (EBS, S3 SSE-KMS, ...) acting with the caller's
            # credentials: the caller's identity, "AWS Internal" everywhere else.
            role, rid = rng.choice(p["instance_roles"])
            sess = rng.choice(p["instances"])
            ui = {"type": "AssumedRole", "principalId": f"{rid}:{sess}",
                  "arn": f"arn:aws:sts::{a}:assumed-role/{role}/{sess}", "accountId": a,
                  "accessKeyId": "ASIA" + rand_str(rng, 16, UPPER_ALNUM),
                  "sessionContext": self.session_ctx(role, rid), "invokedBy": "AWS Internal"}
            return ui, "AWS Internal", "AWS Internal", extra
        if kind == "service":
            svc = rng.choice(("lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com",
                              "cloudtrail.amazonaws.com", "s3.amazonaws.com", "logs.amazonaws.com"))
            return {"type": "AWSService", "invokedBy": svc}, svc, svc, extra
        if kind == "irsa":
            sa = rng.choice(p["irsa_roles"])
            provider = f"arn:aws:iam::{a}:oidc-provider/oidc.eks.{self.region}.amazonaws.com/id/{p['oidc_id']}"
            ui = {"type": "WebIdentityUser",
                  "principalId": f"{provider}:sts.amazonaws.com:system:serviceaccount:kube-system:{sa}",
                  "userName": f"system:serviceaccount:kube-system:{sa}", "identityProvider": provider}
            return ui, rng.choice(PUBLIC_IPS[:5]), USER_AGENTS_SDK[10], extra
        if kind == "external":
            other = rng.choice(EXTERNAL_ACCOUNTS)
            ui = {"type": "AWSAccount", "principalId": "AROA" + rand_str(rng, 17, UPPER_ALNUM) + ":prowler-scan",
                  "accountId": other}
            return ui, rng.choice(PUBLIC_IPS), USER_AGENTS_SDK[2], extra
        if kind == "root":
            ui = {"type": "Root", "principalId": a, "arn": f"arn:aws:iam::{a}:root", "accountId": a,
                  "accessKeyId": "ASIA" + rand_str(rng, 16, UPPER_ALNUM),
                  "sessionContext": {"attributes": {"creationDate": iso(self.t_end - 3600), "mfaAuthenticated": "true"}}}
            extra["sessionCredentialFromConsole"] = "true"
            return ui, rng.choice(HUMAN_IPS), USER_AGENTS_CONSOLE[2], extra
        raise ValueError(kind)

    # ---- record assembly ---------------------------------------------------
    def record(self, source: str, name: str, *, actor: str, read_only: bool,
               req=None, resp=None, resources=None, add=None, region: str | None = None,
               event_type: str = "AwsApiCall", data_event: bool = False,
               error: tuple[str, str] | None = None, ident=None, host: str | None = None,
               request_id: str | None = None, shared: bool = False) -> dict:
        rng = self.rng
        ui, ip, ua, extra = ident if ident is not None else self.actor(actor)
        region = region or self.region
        r: dict = {"eventVersion": "1.09" if rng.random() < 0.3 else "1.08",
                   "userIdentity": ui, "eventTime": self.now(), "eventSource": source,
                   "eventName": name, "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua}
        if error:
            r["errorCode"], r["errorMessage"] = error
            resp = None
        r["requestParameters"] = req
        r["responseElements"] = resp
        if add is not None:
            r["additionalEventData"] = add
        r["requestID"] = request_id or uuid4(rng)
        r["eventID"] = uuid4(rng)
        r["readOnly"] = read_only
        if resources:
            r["resources"] = resources
        r["eventType"] = event_type
        r["managementEvent"] = not data_event
        r["recipientAccountId"] = self.acct
        if shared:
            r["sharedEventID"] = uuid4(rng)
        if "vpcEndpointId" in extra:
            r["vpcEndpointId"] = extra["vpcEndpointId"]
            r["vpcEndpointAccountId"] = self.acct
        r["eventCategory"] = "Data" if data_event else "Management"
        if ip != "AWS Internal" and not ip.endswith(".amazonaws.com"):  # service calls carry no TLS details
            tv, cs = TLS_V13 if rng.random() < 0.8 else TLS_V12
            r["tlsDetails"] = {"tlsVersion": tv, "cipherSuite": cs,
                               "clientProvidedHostHeader": host or f"{source.split('.')[0]}.{region}.amazonaws.com"}
        if "sessionCredentialFromConsole" in extra:
            r["sessionCredentialFromConsole"] = extra["sessionCredentialFromConsole"]
        return r

    def access_denied(self, source: str, name: str, ui: dict) -> tuple[str, str]:
        """A CIS-4.1-matching error, in the flavour the service really uses."""
        svc = source.split(".")[0]
        who = ui.get("arn") or ui.get("invokedBy") or "anonymous"
        if svc == "ec2":
            msg = "You are not authorized to perform this operation."
            if self.rng.random() < 0.3:  # long encoded authorization message
                msg += " Encoded authorization failure message: " + rand_str(self.rng, 600, ALNUM + "-_")
            return "Client.UnauthorizedOperation", msg
        msg = (f"User: {who} is not authorized to perform: {svc}:{name} "
               f"because no identity-based policy allows the {svc}:{name} action")
        if svc in ("s3", "iam", "sts", "signin"):
            return "AccessDenied", msg
        return "AccessDeniedException", msg

    def normal(self) -> dict:
        """One everyday record from the weighted mix."""
        rng = self.rng
        call = rng.choices(self._calls, cum_weights=self._weights)[0]
        rec = call(self)
        # Errors: ~1.5% CIS-4.1 kind, ~1% other errors (not on data events,
        # not on records the call already marked with an error).
        if "errorCode" not in rec and rec["eventCategory"] == "Management":
            x = rng.random()
            if x < 0.015:
                rec_err = self.access_denied(rec["eventSource"], rec["eventName"], rec["userIdentity"])
            elif x < 0.025:
                rec_err = rng.choice(OTHER_ERRORS)
                if rec["eventSource"] != "ec2.amazonaws.com" and rec_err[0].startswith("Client."):
                    rec_err = (rec_err[0][len("Client."):], rec_err[1])  # only EC2 uses the prefix
            else:
                rec_err = None
            if rec_err:
                rec = self._with_error(rec, rec_err)
        return rec

    @staticmethod
    def _with_error(rec: dict, err: tuple[str | None, str], keep_response: bool = False) -> dict:
        """Return ``rec`` with errorCode/errorMessage added where CloudTrail
        puts them (right after userAgent); a failed call has no
        responseElements unless ``keep_response``.  ``err[0]`` None means
        errorMessage only (as in failed console sign-ins)."""
        out = {}
        for k, v in rec.items():
            if k == "responseElements" and not keep_response:
                v = None
            out[k] = v
            if k == "userAgent":
                if err[0] is not None:
                    out["errorCode"] = err[0]
                out["errorMessage"] = err[1]
        return out


OTHER_ERRORS = [
    ("ThrottlingException", "Rate exceeded"),
    ("Client.RequestLimitExceeded", "Request limit exceeded."),
    ("ResourceNotFoundException", "Requested resource not found"),
    ("ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"),
    ("InternalError", "We encountered an internal error. Please try again."),
]


# --------------------------------------------------------------------------
# The everyday call mix.  Each builder takes the FileGen and returns a record.
# --------------------------------------------------------------------------

def _ec2_describe(name: str, req_fn):
    def build(g: FileGen) -> dict:
        actor = g.rng.choices(("instance", "user", "sso", "slr", "lambda", "external"), (22, 28, 8, 12, 5, 25))[0]
        return g.record("ec2.amazonaws.com", name, actor=actor, read_only=True, req=req_fn(g))
    return build


def _ec2_filters(g: FileGen) -> dict:
    rng = g.rng
    if rng.random() < 0.4:
        return {"instancesSet": {"items": [{"instanceId": i} for i in rng.sample(g.p["instances"], rng.randint(1, 4))]},
                "filterSet": {}}
    return {"maxResults": 1000, "instancesSet": {}, "filterSet": {"items": [
        {"name": "tag:kubernetes.io/cluster/prod-eks", "valueSet": {"items": [{"value": "owned"}]}},
        {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}, {"value": "pending"}]}}]}}


def assume_role(g: FileGen) -> dict:
    rng = g.rng
    kind = rng.choices(("service", "instance", "user", "sso", "lambda"), (65, 12, 10, 7, 6))[0]
    role = rng.choice(g.p["lambda_roles"] + g.p["instance_roles"])[0]
    sess = f"awslambda_{rng.randrange(1000)}_{time.strftime('%Y%m%d%H%M%S', time.gmtime(g.t_end))}{rng.randrange(1000):03d}" \
        if kind == "service" else rand_str(rng, 10) + "-session"
    role_arn = f"arn:aws:iam::{g.acct}:role/{role}"
    req = {"roleArn": role_arn, "roleSessionName": sess}
    if rng.random() < 0.3:
        req["durationSeconds"] = 3600
    if rng.random() < 0.05:
        req["policy"] = READ_ONLY_SESSION_POLICY if rng.random() < 0.6 else DENY_CONFIG_POLICY
    if rng.random() < 0.1:
        req["externalId"] = uuid4(rng)
    key = "ASIA" + rand_str(rng, 16, UPPER_ALNUM)
    resp = {"credentials": {"accessKeyId": key,
                            "expiration": time.strftime("%b %-d, %Y, %-I:%M:%S %p", time.gmtime(g.t_end + 3600))},
            "assumedRoleUser": {"assumedRoleId": "AROA" + rand_str(rng, 17, UPPER_ALNUM) + ":" + sess,
                                "arn": f"arn:aws:sts::{g.acct}:assumed-role/{role}/{sess}"}}
    res = [{"accountId": g.acct, "type": "AWS::IAM::Role", "ARN": role_arn}]
    return g.record("sts.amazonaws.com", "AssumeRole", actor=kind, read_only=True, req=req, resp=resp,
                    resources=res, shared=kind == "service", host=f"sts.{g.region}.amazonaws.com")


def assume_role_web_identity(g: FileGen) -> dict:
    rng = g.rng
    sa = rng.choice(g.p["irsa_roles"])
    role_arn = f"arn:aws:iam::{g.acct}:role/{sa}"
    req = {"roleArn": role_arn, "roleSessionName": str(rng.getrandbits(63))}
    resp = {"credentials": {"accessKeyId": "ASIA" + rand_str(rng, 16, UPPER_ALNUM),
                            "expiration": time.strftime("%b %-d, %Y, %-I:%M:%S %p", time.gmtime(g.t_end + 3600))},
            "subjectFromWebIdentityToken": f"system:serviceaccount:kube-system:{sa}",
            "assumedRoleUser": {"assumedRoleId": "AROA" + rand_str(rng, 17, UPPER_ALNUM) + ":" + req["roleSessionName"],
                                "arn": f"arn:aws:sts::{g.acct}:assumed-role/{sa}/{req['roleSessionName']}"},
            "provider": f"arn:aws:iam::{g.acct}:oidc-provider/oidc.eks.{g.region}.amazonaws.com/id/{g.p['oidc_id']}",
            "audience": "sts.amazonaws.com"}
    return g.record("sts.amazonaws.com", "AssumeRoleWithWebIdentity", actor="irsa", read_only=True, req=req,
                    resp=resp, resources=[{"accountId": g.acct, "type": "AWS::IAM::Role", "ARN": role_arn}])


def get_caller_identity(g: FileGen) -> dict:
    actor = g.rng.choices(("instance", "user", "sso", "lambda", "external"), (25, 40, 10, 5, 20))[0]
    return g.record("sts.amazonaws.com", "GetCallerIdentity", actor=actor, read_only=True)


def _kms_context(g: FileGen) -> dict:
    rng = g.rng
    x = rng.random()
    if x < 0.35:
        fn = rng.choice(g.p["lambda_roles"])[2]
        return {"aws:lambda:FunctionArn": f"arn:aws:lambda:{g.region}:{g.acct}:function:{fn}"}
    if x < 0.65:
        b = rng.choice(g.p["buckets"])
        return {"aws:s3:arn": f"arn:aws:s3:::{b}/{rand_str(rng, 8).lower()}/part-{rng.randrange(10000):05d}.parquet"}
    if x < 0.85:
        return {"SecretARN": f"arn:aws:secretsmanager:{g.region}:{g.acct}:secret:prod/db/password-{rand_str(rng, 6)}",
                "SecretVersionId": uuid4(rng)}
    return {"aws:ebs:id": rng.choice(g.p["volumes"])}


def kms_decrypt(g: FileGen) -> dict:
    rng = g.rng
    actor = rng.choices(("instance", "lambda", "service", "internal", "slr", "sso"), (20, 20, 25, 27, 3, 5))[0]
    req = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": _kms_context(g)}
    key = g.kms_arn()
    return g.record("kms.amazonaws.com", "Decrypt", actor=actor, read_only=True, req=req,
                    resources=[{"accountId": g.acct, "type": "AWS::KMS::Key", "ARN": key}])


def kms_generate_data_key(g: FileGen) -> dict:
    rng = g.rng
    actor = rng.choices(("instance", "lambda", "service", "internal"), (30, 25, 20, 25))[0]
    key = g.kms_arn()
    req = {"keyId": key if rng.random() < 0.5 else "alias/aws/s3", "keySpec": "AES_256",
           "encryptionContext": _kms_context(g)}
    return g.record("kms.amazonaws.com", "GenerateDataKey", actor=actor, read_only=True, req=req,
                    resources=[{"accountId": g.acct, "type": "AWS::KMS::Key", "ARN": key}])


def kms_describe_key(g: FileGen) -> dict:
    key = g.kms_arn()
    return g.record("kms.amazonaws.com", "DescribeKey", actor=g.rng.choice(("user", "sso", "slr")), read_only=True,
                    req={"keyId": key}, resources=[{"accountId": g.acct, "type": "AWS::KMS::Key", "ARN": key}])


def kms_rotate_key_event(g: FileGen) -> dict:
    """Automatic key rotation: an AwsServiceEvent with an AWSService identity."""
    key = g.kms_arn()
    ident = ({"accountId": g.acct, "invokedBy": "kms.amazonaws.com"}, "kms.amazonaws.com", "kms.amazonaws.com", {})
    return g.record("kms.amazonaws.com", "RotateKey", actor="service", read_only=False, ident=ident,
                    event_type="AwsServiceEvent", add={"keyId": key.rsplit("/", 1)[1]},
                    resources=[{"accountId": g.acct, "type": "AWS::KMS::Key", "ARN": key}])


def _s3_add(g: FileGen, bytes_in: int = 0, bytes_out: int = 0) -> dict:
    return {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": bytes_in, "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": g.amz_id_2(), "bytesTransferredOut": bytes_out}


def _s3_bucket_call(name: str, sub: str | None, actors=("service", "instance", "user", "slr", "sso"),
                    weights=(45, 20, 15, 12, 8)):
    def build(g: FileGen) -> dict:
        rng = g.rng
        b = rng.choice(g.p["buckets"])
        host = f"{b}.s3.{g.region}.amazonaws.com"
        req = {"bucketName": b, "Host": host}
        if sub is not None:
            req[sub] = ""
        actor = rng.choices(actors, weights)[0]
        rec = g.record("s3.amazonaws.com", name, actor=actor, read_only=True, req=req, add=_s3_add(g),
                       request_id=g.s3_request_id(), host=host,
                       resources=[{"accountId": g.acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{b}"}])
        return rec
    return build


def s3_get_bucket_acl_log_delivery(g: FileGen) -> dict:
    """CIS 4.1 decoy: log delivery probing a bucket ACL and getting AccessDenied."""
    b = g.rng.choice(g.p["buckets"])
    ident = ({"type": "AWSService", "invokedBy": "delivery.logs.amazonaws.com"},
             "delivery.logs.amazonaws.com", "delivery.logs.amazonaws.com", {})
    return g.record("s3.amazonaws.com", "GetBucketAcl", actor="service", read_only=True, ident=ident,
                    req={"bucketName": b, "Host": f"{b}.s3.amazonaws.com", "acl": ""},
                    add=_s3_add(g), request_id=g.s3_request_id(),
                    error=("AccessDenied", "Access Denied"),
                    resources=[{"accountId": g.acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{b}"}])


def s3_head_bucket_denied(g: FileGen) -> dict:
    """CIS 4.1 decoy: HeadBucket AccessDenied (excluded by the rule)."""
    b = g.rng.choice(g.p["buckets"])
    return g.record("s3.amazonaws.com", "HeadBucket", actor="external", read_only=True,
                    req={"bucketName": b, "Host": f"{b}.s3.{g.region}.amazonaws.com"},
                    add=_s3_add(g), request_id=g.s3_request_id(), data_event=True,
                    error=("AccessDenied", "Access Denied"),
                    resources=[{"accountId": g.acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{b}"}])


S3_PREFIXES = ["exports/daily", "raw/events", "tmp", "rapports/été-2024", "images/thumbs", "logs/AWSLogs"]


def s3_object(name: str):
    def build(g: FileGen) -> dict:
        rng = g.rng
        b = rng.choice(g.p["buckets"])
        key = f"{rng.choice(S3_PREFIXES)}/{time.strftime('%Y/%m/%d', time.gmtime(g.t_end))}/{rand_str(rng, 12).lower()}.{rng.choice(('json.gz', 'parquet', 'jpg', 'csv'))}"
        host = f"{b}.s3.{g.region}.amazonaws.com"
        size = rng.randrange(200, 5_000_000)
        put = name == "PutObject"
        req = {"bucketName": b, "Host": host, "key": key}
        resp = None
        if put:
            req["x-amz-server-side-encryption"] = "aws:kms"
            resp = {"x-amz-server-side-encryption-aws-kms-key-id": g.kms_arn(),
                    "x-amz-server-side-encryption": "aws:kms",
                    "x-amz-version-id": rand_str(rng, 32, ALNUM + "._")}
        actor = rng.choices(("instance", "lambda", "service", "user"), (40, 30, 15, 15))[0]
        return g.record("s3.amazonaws.com", name, actor=actor, read_only=not put, req=req, resp=resp,
                        add=_s3_add(g, size if put else 0, 0 if put else size),
                        request_id=g.s3_request_id(), data_event=True, host=host,
                        resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{b}/{key}"},
                                   {"accountId": g.acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{b}"}])
    return build


def _simple(source: str, name: str, read_only: bool, actors, weights, req_fn=None, resp_fn=None,
            region: str | None = None):
    def build(g: FileGen) -> dict:
        actor = g.rng.choices(actors, weights)[0]
        return g.record(source, name, actor=actor, read_only=read_only,
                        req=req_fn(g) if req_fn else None, resp=resp_fn(g) if resp_fn else None,
                        region=region)
    return build


def iam_call(name: str, req_fn=None):
    # IAM is a global service: its events are logged in us-east-1.
    def build(g: FileGen) -> dict:
        actor = g.rng.choices(("user", "sso", "external", "slr"), (35, 30, 25, 10))[0]
        return g.record("iam.amazonaws.com", name, actor=actor, read_only=True,
                        req=req_fn(g) if req_fn else None, region="us-east-1",
                        host="iam.amazonaws.com")
    return build


def create_log_stream(g: FileGen) -> dict:
    rng = g.rng
    fn = rng.choice(g.p["lambda_roles"])[2]
    req = {"logGroupName": f"/aws/lambda/{fn}",
           "logStreamName": f"{time.strftime('%Y/%m/%d', time.gmtime(g.t_end))}/[$LATEST]{rand_str(rng, 32, HEX)}"}
    return g.record("logs.amazonaws.com", "CreateLogStream", actor="lambda", read_only=False, req=req)


def ssm_update_instance_information(g: FileGen) -> dict:
    rng = g.rng
    inst = rng.choice(g.p["instances"])
    req = {"instanceId": inst, "agentVersion": "3.3.40.0", "agentStatus": "Active", "platformType": "Linux",
           "platformName": "Amazon Linux", "platformVersion": "2023", "iPAddress": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
           "computerName": f"ip-10-0-{rng.randrange(256)}-{rng.randrange(256)}.{g.region}.compute.internal",
           "agentName": "amazon-ssm-agent", "availabilityZone": g.region + "a", "availabilityZoneId": "use1-az4",
           "sSMConnectionChannel": "ssmmessages"}
    return g.record("ssm.amazonaws.com", "UpdateInstanceInformation", actor="instance", read_only=False, req=req)


def ssm_get_parameter(g: FileGen) -> dict:
    rng = g.rng
    req = {"name": rng.choice(("/prod/app/db_host", "/prod/app/feature_flags", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
                               "/prod/orders/api_key")), "withDecryption": rng.random() < 0.5}
    return g.record("ssm.amazonaws.com", "GetParameter", actor=rng.choice(("instance", "lambda")), read_only=True, req=req)


def get_metric_data(g: FileGen) -> dict:
    """Large request parameters (monitoring integrations)."""
    rng = g.rng
    q = []
    for i in range(rng.randint(1, 8)):
        inst = rng.choice(g.p["instances"])
        q.append({"id": f"m{i}", "metricStat": {"metric": {"namespace": "AWS/EC2", "metricName": rng.choice(
            ("CPUUtilization", "NetworkIn", "NetworkOut", "StatusCheckFailed")),
            "dimensions": [{"name": "InstanceId", "value": inst}]}, "period": 60, "stat": "Average"},
            "returnData": True})
    req = {"metricDataQueries": q, "startTime": iso(g.t_end - 1200), "endTime": iso(g.t_end - 600),
           "scanBy": "TimestampAscending"}
    return g.record("monitoring.amazonaws.com", "GetMetricData", actor=rng.choice(("external", "user")),
                    read_only=True, req=req)


def config_put_evaluations(g: FileGen) -> dict:
    """Config rule results: config.amazonaws.com, but not a 4.9 event."""
    rng = g.rng
    ev = [{"complianceResourceType": "AWS::S3::Bucket", "complianceResourceId": b,
           "complianceType": rng.choice(("COMPLIANT", "NON_COMPLIANT")),
           "orderingTimestamp": iso(g.t_end - 3600)} for b in rng.sample(g.p["buckets"], rng.randint(1, 4))]
    req = {"evaluations": ev, "resultToken": rand_str(rng, 220, ALNUM + "+/="), "testMode": False}
    return g.record("config.amazonaws.com", "PutEvaluations", actor="lambda", read_only=False, req=req,
                    resp={"failedEvaluations": []})


def _config_describe(name: str, req_fn=None):
    def build(g: FileGen) -> dict:
        return g.record("config.amazonaws.com", name, actor=g.rng.choices(("slr", "sso", "external"), (60, 20, 20))[0],
                        read_only=True, req=req_fn(g) if req_fn else None)
    return build


def config_decoy_write(name: str, req_fn):
    """Config writes that are NOT in the CIS 4.9 list (prefix look-alikes)."""
    def build(g: FileGen) -> dict:
        return g.record("config.amazonaws.com", name, actor=g.rng.choice(("user", "sso")), read_only=False,
                        req=req_fn(g))
    return build


def cloudtrail_lookup_events(g: FileGen) -> dict:
    """Decoy: the parameters name a 4.9 event, the event itself is not one."""
    rng = g.rng
    req = {"lookupAttributes": [{"attributeKey": "EventName",
                                 "attributeValue": rng.choice(sorted(baseline.CONFIG_CHANGE_NAMES))}],
           "startTime": iso(g.t_end - 86400 * 7), "endTime": iso(g.t_end), "maxResults": 50}
    return g.record("cloudtrail.amazonaws.com", "LookupEvents", actor=rng.choice(("sso", "external")),
                    read_only=True, req=req)


def sqs_set_queue_attributes(g: FileGen) -> dict:
    """Write with an escaped JSON policy string (backslashes in the log)."""
    rng = g.rng
    q = f"https://sqs.{g.region}.amazonaws.com/{g.acct}/cloudtrail-notifications"
    pol = json.dumps({"Version": "2012-10-17", "Id": "Policy" + rand_str(rng, 10, "0123456789"),
                      "Statement": [{"Sid": "AllowS3", "Effect": "Allow",
                                     "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
                                     "Resource": f"arn:aws:sqs:{g.region}:{g.acct}:cloudtrail-notifications",
                                     "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{g.p['buckets'][3]}"}}}]},
                     indent=2)
    req = {"queueUrl": q, "attributes": {"Policy": pol, "VisibilityTimeout": "300"}}
    return g.record("sqs.amazonaws.com", "SetQueueAttributes", actor=rng.choice(("user", "sso")), read_only=False,
                    req=req)


def ec2_run_instances(g: FileGen) -> dict:
    """Rare, very large responseElements."""
    rng = g.rng
    n = rng.randint(1, 3)
    items = []
    for _ in range(n):
        iid = "i-0" + rand_str(rng, 16, HEX)
        items.append({
            "instanceId": iid, "imageId": "ami-0" + rand_str(rng, 16, HEX),
            "instanceState": {"code": 0, "name": "pending"}, "privateDnsName": f"ip-10-0-1-{rng.randrange(256)}.ec2.internal",
            "amiLaunchIndex": 0, "productCodes": {}, "instanceType": rng.choice(("m7i.large", "c7g.xlarge", "t3.micro")),
            "launchTime": int(g.t_end * 1000), "placement": {"availabilityZone": g.region + "a", "tenancy": "default"},
            "monitoring": {"state": "disabled"}, "subnetId": rng.choice(g.p["subnets"]), "vpcId": g.p["vpcs"][0],
            "privateIpAddress": f"10.0.1.{rng.randrange(256)}", "stateReason": {"code": "pending", "message": "pending"},
            "architecture": "x86_64", "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {},
            "virtualizationType": "hvm", "hypervisor": "xen",
            "tagSet": {"items": [{"key": "Name", "value": "batch-worker"}, {"key": "team", "value": "data"}]},
            "clientToken": uuid4(rng),
            "groupSet": {"items": [{"groupId": g.p["sgs"][0], "groupName": "batch-workers"}]},
            "sourceDestCheck": True,
            "networkInterfaceSet": {"items": [{"networkInterfaceId": "eni-0" + rand_str(rng, 16, HEX),
                                               "subnetId": g.p["subnets"][0], "vpcId": g.p["vpcs"][0],
                                               "ownerId": g.acct, "status": "in-use",
                                               "macAddress": "0e:%02x:%02x:%02x:%02x:%02x" % tuple(rng.randrange(256) for _ in range(5)),
                                               "privateIpAddress": f"10.0.1.{rng.randrange(256)}", "sourceDestCheck": True,
                                               "interfaceType": "interface",
                                               "groupSet": {"items": [{"groupId": g.p["sgs"][0], "groupName": "batch-workers"}]},
                                               "attachment": {"attachmentId": "eni-attach-0" + rand_str(rng, 16, HEX),
                                                              "deviceIndex": 0, "networkCardIndex": 0, "status": "attaching",
                                                              "attachTime": int(g.t_end * 1000), "deleteOnTermination": True},
                                               "privateIpAddressesSet": {"item": [{"privateIpAddress": f"10.0.1.{rng.randrange(256)}", "primary": True}]},
                                               "ipv6AddressesSet": {}, "tagSet": {}}]},
            "ebsOptimized": True, "enaSupport": True, "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
            "capacityReservationSpecification": {"capacityReservationPreference": "open"},
            "enclaveOptions": {"enabled": False},
            "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2,
                                "httpEndpoint": "enabled", "httpProtocolIpv4": "enabled", "httpProtocolIpv6": "disabled",
                                "instanceMetadataTags": "disabled"},
            "maintenanceOptions": {"autoRecovery": "default"},
            "privateDnsNameOptions": {"hostnameType": "ip-name", "enableResourceNameDnsARecord": False,
                                      "enableResourceNameDnsAAAARecord": False}})
    req = {"instancesSet": {"items": [{"minCount": n, "maxCount": n}]},
           "launchTemplate": {"launchTemplateId": "lt-0" + rand_str(rng, 16, HEX), "version": "$Latest"},
           "userData": "<sensitiveDataRemoved>", "clientToken": uuid4(rng)}
    resp = {"requestId": uuid4(rng), "reservationId": "r-0" + rand_str(rng, 16, HEX), "ownerId": g.acct,
            "groupSet": {}, "instancesSet": {"items": items}, "requesterId": "940372691376"}
    return g.record("ec2.amazonaws.com", "RunInstances", actor="slr", read_only=False, req=req, resp=resp)


def ec2_create_tags(g: FileGen) -> dict:
    rng = g.rng
    req = {"resourcesSet": {"items": [{"resourceId": r} for r in rng.sample(g.p["volumes"] + g.p["enis"], rng.randint(1, 3))]},
           "tagSet": {"items": [{"key": "kubernetes.io/cluster/prod-eks", "value": "owned"},
                                {"key": "CreatedBy", "value": "karpenter"}]}}
    return g.record("ec2.amazonaws.com", "CreateTags", actor=rng.choice(("instance", "irsa")), read_only=False, req=req,
                    resp={"requestId": uuid4(rng), "_return": True})


def ec2_create_network_interface(g: FileGen) -> dict:
    rng = g.rng
    eni = "eni-0" + rand_str(rng, 16, HEX)
    sub = rng.choice(g.p["subnets"])
    req = {"subnetId": sub, "description": "AWS Lambda VPC ENI-" + rng.choice(g.p["lambda_roles"])[2],
           "groupSet": {"items": [{"groupId": rng.choice(g.p["sgs"])}]}, "privateIpAddressesSet": {}}
    resp = {"requestId": uuid4(rng), "networkInterface": {
        "networkInterfaceId": eni, "subnetId": sub, "vpcId": g.p["vpcs"][0], "availabilityZone": g.region + "b",
        "description": req["description"], "ownerId": g.acct, "requesterId": "AROA" + rand_str(rng, 17, UPPER_ALNUM),
        "requesterManaged": False, "status": "pending", "macAddress": "12:%02x:%02x:%02x:%02x:%02x" % tuple(rng.randrange(256) for _ in range(5)),
        "privateIpAddress": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", "sourceDestCheck": True,
        "interfaceType": "lambda", "groupSet": {"items": [{"groupId": req["groupSet"]["items"][0]["groupId"], "groupName": "lambda-sg"}]},
        "privateIpAddressesSet": {"item": [{"privateIpAddress": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", "primary": True}]},
        "ipv6AddressesSet": {}, "tagSet": {}}}
    return g.record("ec2.amazonaws.com", "CreateNetworkInterface", actor="service", read_only=False, req=req, resp=resp)


def _desc(n):
    return lambda g: {"maxResults": n}


# (weight, builder).  Read-only calls dominate, as in real trails.
_MIX = [
    (120, assume_role),
    (10, assume_role_web_identity),
    (18, get_caller_identity),
    (95, kms_decrypt),
    (55, kms_generate_data_key),
    (8, kms_describe_key),
    (0.3, kms_rotate_key_event),
    (45, _ec2_describe("DescribeInstances", _ec2_filters)),
    (18, _ec2_describe("DescribeSecurityGroups", lambda g: {"securityGroupSet": {}, "securityGroupIdSet": {"items": [{"groupId": s} for s in g.rng.sample(g.p["sgs"], 2)]}, "filterSet": {}})),
    (22, _ec2_describe("DescribeNetworkInterfaces", lambda g: {"networkInterfaceIdSet": {}, "filterSet": {"items": [{"name": "description", "valueSet": {"items": [{"value": "AWS Lambda VPC ENI*"}]}}]}})),
    (12, _ec2_describe("DescribeVolumes", lambda g: {"volumeSet": {"items": [{"volumeId": v} for v in g.rng.sample(g.p["volumes"], 3)]}, "filterSet": {}})),
    (10, _ec2_describe("DescribeSubnets", lambda g: {"subnetSet": {}, "filterSet": {"items": [{"name": "vpc-id", "valueSet": {"items": [{"value": g.p["vpcs"][0]}]}}]}})),
    (6, _ec2_describe("DescribeVpcs", lambda g: {"vpcSet": {}, "filterSet": {}})),
    (5, _ec2_describe("DescribeRouteTables", lambda g: {"routeTableIdSet": {}, "filterSet": {}})),
    (10, _ec2_describe("DescribeTags", lambda g: {"filterSet": {"items": [{"name": "resource-id", "valueSet": {"items": [{"value": g.rng.choice(g.p["instances"])}]}}]}})),
    (12, _ec2_describe("DescribeInstanceStatus", lambda g: {"instancesSet": {}, "filterSet": {}, "includeAllInstances": False})),
    (5, _ec2_describe("DescribeImages", lambda g: {"executableBySet": {}, "imagesSet": {}, "ownersSet": {"items": [{"owner": "amazon"}]}, "filterSet": {"items": [{"name": "name", "valueSet": {"items": [{"value": "al2023-ami-2023.*-x86_64"}]}}]}})),
    (25, _s3_bucket_call("GetBucketAcl", "acl")),
    (22, _s3_bucket_call("GetBucketLocation", "location")),
    (5, _s3_bucket_call("ListBuckets", None)),
    (8, _s3_bucket_call("GetBucketPolicy", "policy")),
    (6, _s3_bucket_call("GetBucketEncryption", "encryption")),
    (5, _s3_bucket_call("GetBucketVersioning", "versioning")),
    (0.6, s3_get_bucket_acl_log_delivery),
    (0.3, s3_head_bucket_denied),
    (26, s3_object("GetObject")),
    (16, s3_object("PutObject")),
    (10, iam_call("GetRole", lambda g: {"roleName": g.rng.choice(g.p["lambda_roles"])[0]})),
    (4, iam_call("ListRoles")),
    (4, iam_call("GetPolicy", lambda g: {"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})),
    (6, iam_call("ListAttachedRolePolicies", lambda g: {"roleName": g.rng.choice(g.p["instance_roles"])[0]})),
    (3, iam_call("GetUser", lambda g: {"userName": g.rng.choice(g.p["users"])[0]})),
    (3, iam_call("ListAccessKeys", lambda g: {"userName": g.rng.choice(g.p["users"])[0]})),
    (2, iam_call("GetAccountPasswordPolicy")),
    (15, create_log_stream),
    (8, _simple("logs.amazonaws.com", "DescribeLogGroups", True, ("external", "user"), (50, 50), _desc(50))),
    (4, _simple("lambda.amazonaws.com", "GetFunction20150331v2", True, ("user", "sso"), (50, 50),
                lambda g: {"functionName": g.rng.choice(g.p["lambda_roles"])[2]})),
    (3, _simple("lambda.amazonaws.com", "ListFunctions20150331", True, ("external", "sso"), (50, 50))),
    (14, ssm_update_instance_information),
    (12, ssm_get_parameter),
    (10, _simple("ssm.amazonaws.com", "ListInstanceAssociations", True, ("instance",), (1,),
                 lambda g: {"instanceId": g.rng.choice(g.p["instances"]), "maxResults": 20})),
    (10, _simple("ecr.amazonaws.com", "GetAuthorizationToken", True, ("instance", "service"), (70, 30),
                 lambda g: {"registryIds": [g.acct]})),
    (8, _simple("monitoring.amazonaws.com", "DescribeAlarms", True, ("external", "user", "sso"), (40, 40, 20),
                lambda g: {"alarmNames": ["cis-4.9-config-changes", "cis-4.3-root-usage"], "maxRecords": 100})),
    (6, get_metric_data),
    (8, _simple("secretsmanager.amazonaws.com", "GetSecretValue", True, ("lambda", "instance"), (60, 40),
                lambda g: {"secretId": f"arn:aws:secretsmanager:{g.region}:{g.acct}:secret:prod/db/password-{rand_str(g.rng, 6)}"})),
    (8, _simple("dynamodb.amazonaws.com", "DescribeTable", True, ("lambda", "external"), (70, 30),
                lambda g: {"tableName": g.rng.choice(("orders", "sessions", "inventory"))})),
    (4, _simple("ecs.amazonaws.com", "DescribeTasks", True, ("slr", "user"), (60, 40),
                lambda g: {"cluster": "prod", "tasks": [uuid4(g.rng).replace("-", "") for _ in range(2)]})),
    (5, _simple("elasticloadbalancing.amazonaws.com", "DescribeTargetHealth", True, ("irsa", "external"), (60, 40),
                lambda g: {"targetGroupArn": f"arn:aws:elasticloadbalancing:{g.region}:{g.acct}:targetgroup/k8s-web-{rand_str(g.rng, 10, HEX)}/{rand_str(g.rng, 16, HEX)}"})),
    (4, _simple("autoscaling.amazonaws.com", "DescribeAutoScalingGroups", True, ("irsa", "external"), (60, 40))),
    (4, _simple("rds.amazonaws.com", "DescribeDBInstances", True, ("external", "sso"), (60, 40))),
    (5, _simple("cloudformation.amazonaws.com", "DescribeStacks", True, ("user", "sso"), (70, 30),
                lambda g: {"stackName": f"arn:aws:cloudformation:{g.region}:{g.acct}:stack/prod-network/{uuid4(g.rng)}"})),
    (3, _simple("eks.amazonaws.com", "DescribeCluster", True, ("user", "sso", "instance"), (40, 30, 30),
                lambda g: {"name": "prod-eks"})),
    (3, config_put_evaluations),
    (2, _config_describe("DescribeConfigurationRecorders")),
    (2, _config_describe("DescribeConfigurationRecorderStatus")),
    (2, _config_describe("DescribeDeliveryChannels")),
    (1, _config_describe("DescribeConfigRules", lambda g: {"configRuleNames": ["s3-bucket-server-side-encryption-enabled"]})),
    (0.05, config_decoy_write("StartConfigurationRecorder", lambda g: {"configurationRecorderName": "default"})),
    (0.05, config_decoy_write("PutConfigurationAggregator", lambda g: {
        "configurationAggregatorName": "org-aggregator",
        "organizationAggregationSource": {"roleArn": f"arn:aws:iam::{g.acct}:role/ConfigAggregatorRole",
                                          "allAwsRegions": True}})),
    (0.1, config_decoy_write("PutConfigRule", lambda g: {"configRule": {
        "configRuleName": "s3-bucket-server-side-encryption-enabled",
        "source": {"owner": "AWS", "sourceIdentifier": "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED"},
        "inputParameters": "{\"sseAlgorithm\":\"aws:kms\"}"}})),
    (1, cloudtrail_lookup_events),
    (2, _simple("cloudtrail.amazonaws.com", "GetTrailStatus", True, ("slr", "external"), (50, 50),
                lambda g: {"name": f"arn:aws:cloudtrail:us-east-1:{ORG_MGMT_ACCOUNT}:trail/org-trail"})),
    (1, _simple("cloudtrail.amazonaws.com", "DescribeTrails", True, ("external", "sso"), (50, 50),
                lambda g: {"trailNameList": [], "includeShadowTrails": True})),
    (0.4, sqs_set_queue_attributes),
    (0.6, ec2_run_instances),
    (3, ec2_create_tags),
    (2, ec2_create_network_interface),
]
NORMAL_CALLS = [b for _, b in _MIX]
NORMAL_CUM_WEIGHTS = []
_acc = 0.0
for _w, _ in _MIX:
    _acc += _w
    NORMAL_CUM_WEIGHTS.append(_acc)


# --------------------------------------------------------------------------
# Rare, planned security events
# --------------------------------------------------------------------------

def _ec2_write(g: FileGen, name: str, req: dict, actor: str = "sso") -> dict:
    return g.record("ec2.amazonaws.com", name, actor=actor, read_only=False, req=req,
                    resp={"requestId": uuid4(g.rng), "_return": True})


def rare_config_change(g: FileGen, name: str) -> dict:
    rng = g.rng
    bucket = g.p["buckets"][3]
    req = {
        "StopConfigurationRecorder": lambda: {"configurationRecorderName": "default"},
        "DeleteDeliveryChannel": lambda: {"deliveryChannelName": "default"},
        "PutDeliveryChannel": lambda: {"deliveryChannel": {
            "name": "default", "s3BucketName": bucket, "s3KeyPrefix": "config",
            "snsTopicARN": f"arn:aws:sns:{g.region}:{g.acct}:config-topic",
            "configSnapshotDeliveryProperties": {"deliveryFrequency": "TwentyFour_Hours"}}},
        "PutConfigurationRecorder": lambda: {"configurationRecorder": {
            "name": "default", "roleARN": f"arn:aws:iam::{g.acct}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True, "resourceTypes": [],
                               "exclusionByResourceTypes": {"resourceTypes": []},
                               "recordingStrategy": {"useOnly": "ALL_SUPPORTED_RESOURCE_TYPES"}},
            "recordingMode": {"recordingFrequency": "CONTINUOUS", "recordingModeOverrides": []}}},
    }[name]()
    rec = g.record("config.amazonaws.com", name, actor=rng.choice(("sso", "user")), read_only=False, req=req)
    if rng.random() < 0.2:  # a denied attempt is still a 4.9 event
        rec = FileGen._with_error(rec, g.access_denied("config.amazonaws.com", name, rec["userIdentity"]))
    return rec


def rare_console_login(g: FileGen, variant: str) -> dict:
    rng = g.rng
    if variant == "sso":
        ui, _, _, extra = g.actor("sso")
    elif variant == "root":
        ui, extra = {"type": "Root", "principalId": g.acct, "arn": f"arn:aws:iam::{g.acct}:root",
                     "accountId": g.acct, "accessKeyId": ""}, {}
    else:  # a human IAM user signing in to the console
        name, uid, _ = g.p["users"][4]
        ui, extra = {"type": "IAMUser", "principalId": uid, "arn": f"arn:aws:iam::{g.acct}:user/{name}",
                     "accountId": g.acct, "accessKeyId": "", "userName": name}, {}
    ident = (ui, rng.choice(HUMAN_IPS), USER_AGENTS_CONSOLE[2 + rng.randrange(2)], extra)
    mfa = "Yes" if variant in ("iam_mfa", "root") else "No"
    add = {"LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_" + rand_str(rng, 16, HEX),
           "MobileVersion": "No", "MFAUsed": mfa}
    if mfa == "Yes":
        add["MFAIdentifier"] = f"arn:aws:iam::{g.acct}:mfa/{rand_str(rng, 8).lower()}"
    failed = variant == "iam_fail"
    rec = g.record("signin.amazonaws.com", "ConsoleLogin", actor="user", read_only=False, ident=ident,
                   resp={"ConsoleLogin": "Failure" if failed else "Success"}, add=add,
                   event_type="AwsConsoleSignIn", region="us-east-1", host="signin.aws.amazon.com")
    if failed:  # real failed sign-ins carry errorMessage but no errorCode
        rec = FileGen._with_error(rec, (None, "Failed authentication"), keep_response=True)
    return rec


def rare_root(g: FileGen, variant: str) -> dict:
    rng = g.rng
    if variant == "api":  # CIS 4.3 match
        return g.record("iam.amazonaws.com", rng.choice(("GetAccountSummary", "ListMFADevices", "GetAccountPasswordPolicy")),
                        actor="root", read_only=True, region="us-east-1", host="iam.amazonaws.com")
    if variant == "service_event":  # decoy: eventType AwsServiceEvent
        ui = {"type": "Root", "principalId": g.acct, "arn": f"arn:aws:iam::{g.acct}:root", "accountId": g.acct}
        return g.record("signin.amazonaws.com", "PasswordUpdated", actor="root", read_only=False,
                        ident=(ui, rng.choice(HUMAN_IPS), USER_AGENTS_CONSOLE[2], {}),
                        resp={"PasswordUpdated": "Success"}, event_type="AwsServiceEvent", region="us-east-1")
    # decoy: root identity with invokedBy (a service acting for the account)
    ui = {"type": "Root", "principalId": g.acct, "arn": f"arn:aws:iam::{g.acct}:root", "accountId": g.acct,
          "invokedBy": "support.amazonaws.com"}
    return g.record("support.amazonaws.com", "DescribeCases", actor="root", read_only=True,
                    ident=(ui, "support.amazonaws.com", "support.amazonaws.com", {}), region="us-east-1")


def rare_iam_policy(g: FileGen, name: str) -> dict:
    rng = g.rng
    role = rng.choice(g.p["lambda_roles"])[0]
    pol_arn = f"arn:aws:iam::{g.acct}:policy/ci-deploy-{rand_str(rng, 6).lower()}"
    doc = DENY_CONFIG_POLICY if rng.random() < 0.5 else READ_ONLY_SESSION_POLICY
    req = {
        "PutRolePolicy": {"roleName": role, "policyName": "inline-guardrails", "policyDocument": doc},
        "PutUserPolicy": {"userName": g.p["users"][0][0], "policyName": "inline-ci", "policyDocument": doc},
        "AttachRolePolicy": {"roleName": role, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "DetachUserPolicy": {"userName": g.p["users"][4][0], "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        "CreatePolicy": {"policyName": pol_arn.rsplit("/", 1)[1], "policyDocument": doc, "path": "/"},
        "CreatePolicyVersion": {"policyArn": pol_arn, "policyDocument": doc, "setAsDefault": True},
        "DeleteRolePolicy": {"roleName": role, "policyName": "inline-guardrails"},
    }[name]
    return g.record("iam.amazonaws.com", name, actor=rng.choice(("user", "sso")), read_only=False, req=req,
                    region="us-east-1", host="iam.amazonaws.com")


def rare_trail(g: FileGen, name: str) -> dict:
    trail = f"arn:aws:cloudtrail:{g.region}:{g.acct}:trail/management-events"
    req = {"name": trail}
    if name in ("CreateTrail", "UpdateTrail"):
        req.update({"s3BucketName": g.p["buckets"][3], "isMultiRegionTrail": True, "enableLogFileValidation": True})
    return g.record("cloudtrail.amazonaws.com", name, actor=g.rng.choice(("sso", "user")), read_only=False, req=req,
                    resp={"trailARN": trail} if name in ("CreateTrail", "UpdateTrail") else None)


def rare_kms(g: FileGen, name: str) -> dict:
    key = g.kms_arn()
    req = {"keyId": key}
    resp = None
    if name == "ScheduleKeyDeletion":
        req["pendingWindowInDays"] = 7
        resp = {"keyId": key, "deletionDate": time.strftime("%b %-d, %Y, %-I:%M:%S %p", time.gmtime(g.t_end + 7 * 86400)),
                "keyState": "PendingDeletion", "pendingWindowInDays": 7}
    return g.record("kms.amazonaws.com", name, actor="sso", read_only=False, req=req, resp=resp,
                    resources=[{"accountId": g.acct, "type": "AWS::KMS::Key", "ARN": key}])


def rare_s3_policy(g: FileGen, name: str) -> dict:
    rng = g.rng
    b = rng.choice(g.p["buckets"])
    host = f"{b}.s3.{g.region}.amazonaws.com"
    req: dict = {"bucketName": b, "Host": host}
    if name == "PutBucketPolicy":
        req["policy"] = ""
        req["bucketPolicy"] = {"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    elif name == "PutBucketAcl":
        req["acl"] = ""
        req["AccessControlPolicy"] = {"AccessControlList": {"Grant": [{"Grantee": {
            "xsi:type": "CanonicalUser", "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "ID": rand_str(rng, 64, HEX)}, "Permission": "FULL_CONTROL"}]},
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "Owner": {"ID": rand_str(rng, 64, HEX)}}
    else:
        req[{"DeleteBucketPolicy": "policy", "PutBucketLifecycle": "lifecycle", "PutBucketCors": "cors"}[name]] = ""
    return g.record("s3.amazonaws.com", name, actor=rng.choice(("user", "sso")), read_only=False, req=req,
                    add=_s3_add(g), request_id=g.s3_request_id(), host=host,
                    resources=[{"accountId": g.acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{b}"}])


def rare_sg(g: FileGen, name: str) -> dict:
    rng = g.rng
    sg = rng.choice(g.p["sgs"])
    perm = {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                       "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temp ssh"}]},
                       "ipv6Ranges": {}, "prefixListIds": {}}]}
    req = {"CreateSecurityGroup": {"groupName": "debug-" + rand_str(rng, 6).lower(), "groupDescription": "debug",
                                   "vpcId": g.p["vpcs"][0]},
           "DeleteSecurityGroup": {"groupId": sg}}.get(name, {"groupId": sg, "ipPermissions": perm})
    return _ec2_write(g, name, req)


def rare_nacl(g: FileGen, name: str) -> dict:
    rng = g.rng
    acl = "acl-0" + rand_str(rng, 16, HEX)
    req = {"networkAclId": acl, "ruleNumber": 100, "egress": False, "ruleAction": "allow", "icmpTypeCode": {},
           "portRange": {"from": 0, "to": 65535}, "aclProtocol": "-1", "cidrBlock": "0.0.0.0/0"}
    return _ec2_write(g, name, req)


def rare_gateway(g: FileGen, name: str) -> dict:
    igw = "igw-0" + rand_str(g.rng, 16, HEX)
    req = {"CreateInternetGateway": {"tagSpecificationSet": {"items": [{"resourceType": "internet-gateway",
                                                                        "tags": [{"key": "Name", "value": "sandbox-igw"}]}]}}
           }.get(name, {"internetGatewayId": igw, "vpcId": g.p["vpcs"][0]})
    return _ec2_write(g, name, req, actor="user")


def rare_route(g: FileGen, name: str) -> dict:
    rtb = g.rng.choice(g.p["rtbs"])
    req = {"CreateRouteTable": {"vpcId": g.p["vpcs"][0]}}.get(
        name, {"routeTableId": rtb, "destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-0" + rand_str(g.rng, 16, HEX)})
    return _ec2_write(g, name, req, actor="user")


def rare_vpc(g: FileGen, name: str) -> dict:
    req = {"CreateVpc": {"cidrBlock": "10.42.0.0/16", "instanceTenancy": "default", "amazonProvidedIpv6CidrBlock": False},
           "ModifyVpcAttribute": {"vpcId": g.p["vpcs"][0], "enableDnsHostnames": {"value": True}},
           "CreateVpcPeeringConnection": {"vpcId": g.p["vpcs"][0], "peerVpcId": "vpc-0" + rand_str(g.rng, 16, HEX),
                                          "peerOwnerId": EXTERNAL_ACCOUNTS[0], "peerRegion": g.region}}[name]
    return _ec2_write(g, name, req, actor="user")


def rare_org(g: FileGen, name: str) -> dict:
    rng = g.rng
    scp = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": ["config:StopConfigurationRecorder", "config:DeleteDeliveryChannel",
                                      "cloudtrail:StopLogging", "cloudtrail:DeleteTrail"], "Resource": "*"}]})
    req = {"CreateAccount": {"accountName": "sandbox-" + rand_str(rng, 4).lower(), "email": "HIDDEN_DUE_TO_SECURITY_REASONS",
                             "roleName": "OrganizationAccountAccessRole"},
           "AttachPolicy": {"policyId": "p-" + rand_str(rng, 8).lower(), "targetId": "ou-" + rand_str(rng, 4).lower() + "-" + rand_str(rng, 8).lower()},
           "CreatePolicy": {"content": scp, "description": "guardrails", "name": "deny-audit-tampering",
                            "type": "SERVICE_CONTROL_POLICY"},
           "InviteAccountToOrganization": {"target": {"id": EXTERNAL_ACCOUNTS[1], "type": "ACCOUNT"}},
           "MoveAccount": {"accountId": ACCOUNTS[3], "sourceParentId": "r-" + rand_str(rng, 4).lower(),
                           "destinationParentId": "ou-" + rand_str(rng, 4).lower() + "-" + rand_str(rng, 8).lower()}}[name]
    return g.record("organizations.amazonaws.com", name, actor="sso", read_only=False, req=req, region="us-east-1",
                    host="organizations.us-east-1.amazonaws.com")


# kind -> (rate per record, minimum count, event names cycled through, builder)
RARE_KINDS = {
    "config_change": (1 / 20000, 4, ["StopConfigurationRecorder", "DeleteDeliveryChannel",
                                     "PutDeliveryChannel", "PutConfigurationRecorder"], rare_config_change),
    "console_login_iam_nomfa": (1 / 20000, 1, ["iam_nomfa"], rare_console_login),
    "console_login_iam_mfa": (1 / 20000, 1, ["iam_mfa"], rare_console_login),
    "console_login_iam_fail": (1 / 20000, 1, ["iam_fail"], rare_console_login),
    "console_login_sso": (1 / 20000, 1, ["sso"], rare_console_login),
    "console_login_root": (1 / 40000, 1, ["root"], rare_console_login),
    "root_api": (1 / 40000, 1, ["api"], rare_root),
    "root_service_event": (1 / 40000, 1, ["service_event"], rare_root),
    "root_invoked_by": (1 / 40000, 1, ["invoked_by"], rare_root),
    "iam_policy_change": (1 / 20000, 1, ["PutRolePolicy", "AttachRolePolicy", "CreatePolicy", "DetachUserPolicy",
                                         "CreatePolicyVersion", "PutUserPolicy", "DeleteRolePolicy"], rare_iam_policy),
    "cloudtrail_change": (1 / 20000, 1, ["StopLogging", "UpdateTrail", "CreateTrail", "StartLogging", "DeleteTrail"], rare_trail),
    "kms_disable": (1 / 20000, 1, ["DisableKey", "ScheduleKeyDeletion"], rare_kms),
    "s3_policy_change": (1 / 20000, 1, ["PutBucketPolicy", "PutBucketAcl", "DeleteBucketPolicy", "PutBucketLifecycle",
                                        "PutBucketCors"], rare_s3_policy),
    "security_group_change": (1 / 20000, 1, ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress",
                                             "CreateSecurityGroup", "AuthorizeSecurityGroupEgress",
                                             "DeleteSecurityGroup"], rare_sg),
    "nacl_change": (1 / 20000, 1, ["CreateNetworkAclEntry", "ReplaceNetworkAclEntry", "DeleteNetworkAclEntry"], rare_nacl),
    "gateway_change": (1 / 20000, 1, ["CreateInternetGateway", "AttachInternetGateway", "DetachInternetGateway"], rare_gateway),
    "route_change": (1 / 20000, 1, ["CreateRoute", "ReplaceRoute", "CreateRouteTable", "DeleteRoute"], rare_route),
    "vpc_change": (1 / 20000, 1, ["CreateVpc", "ModifyVpcAttribute", "CreateVpcPeeringConnection"], rare_vpc),
    "organizations_change": (1 / 20000, 1, ["AttachPolicy", "CreatePolicy", "CreateAccount",
                                            "InviteAccountToOrganization", "MoveAccount"], rare_org),
}


# --------------------------------------------------------------------------
# Planning and writing
# --------------------------------------------------------------------------

def plan(seed: int, files: int, records: int) -> list[dict]:
    """Per-file job descriptions, including where each rare event goes."""
    rng = random.Random(f"plan:{seed}")
    total = files * records
    rare: list[tuple[str, str]] = []
    for kind, (rate, minimum, names, _) in RARE_KINDS.items():
        n = max(minimum, round(total * rate))
        order = names[:]
        rng.shuffle(order)
        rare += [(kind, order[i % len(order)]) for i in range(n)]
    if len(rare) > total:
        raise SystemExit(f"corpus too small: {total} records cannot hold {len(rare)} planned rare events")
    positions = rng.sample(range(total), len(rare))
    jobs = []
    t = BASE_EPOCH
    for i in range(files):
        t += rng.randrange(60, 300)  # files from several account/region trails interleave in time
        acct = rng.choices(ACCOUNTS, ACCOUNT_WEIGHTS)[0]
        region = rng.choices(REGIONS, REGION_WEIGHTS)[0]
        suffix = rand_str(rng, 16)
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(t))
        jobs.append({"index": i, "account": acct, "region": region, "t_end": t,
                     "name": f"{acct}_CloudTrail_{region}_{stamp}_{suffix}.json.gz", "rare": {}})
    for pos, (kind, name) in zip(positions, rare):
        jobs[pos // records]["rare"][pos % records] = (kind, name)
    return jobs


_POOLS: Pools | None = None


def _pools(seed: int) -> Pools:
    global _POOLS
    if _POOLS is None:
        _POOLS = Pools(seed)
    return _POOLS


def write_file(job: dict, seed: int, records: int, out_dir: str, level: int) -> dict:
    g = FileGen(_pools(seed), seed, job["index"], job["account"], job["region"], job["t_end"])
    recs = []
    for i in range(records):
        special = job["rare"].get(i)
        if special is None:
            recs.append(g.normal())
        else:
            kind, name = special
            recs.append(RARE_KINDS[kind][3](g, name))
    body = json.dumps({"Records": recs}, separators=(",", ":"), ensure_ascii=False).encode()
    data = gzip.compress(body, compresslevel=level, mtime=0)
    with open(os.path.join(out_dir, job["name"]), "wb") as f:
        f.write(data)
    names = Counter(r["eventName"] for r in recs)
    pairs = Counter(f'{r["eventSource"]} {r["eventName"]}' for r in recs)
    cis = Counter(cid for r in recs for cid, pred in baseline.CIS_RULES.items() if pred(r))
    return {"name": job["name"], "records": records, "compressed_bytes": len(data),
            "decompressed_bytes": len(body), "event_names": names, "source_names": pairs, "cis": cis}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate a realistic, deterministic CloudTrail benchmark corpus.")
    ap.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    ap.add_argument("--files", type=int, default=200, help="number of files (default 200)")
    ap.add_argument("--records", type=int, default=1000, help="records per file (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--manifest", metavar="PATH", help="where to write MANIFEST.json (default DIR/MANIFEST.json)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    ap.add_argument("--level", type=int, default=6, help="gzip level (default 6)")
    args = ap.parse_args(argv)
    if args.files < 1 or args.records < 1:
        ap.error("--files and --records must be >= 1")

    t0 = time.monotonic()
    os.makedirs(args.out, exist_ok=True)
    jobs = plan(args.seed, args.files, args.records)
    if args.jobs > 1 and args.files > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as ex:
            results = list(ex.map(write_file, jobs, [args.seed] * len(jobs), [args.records] * len(jobs),
                                  [args.out] * len(jobs), [args.level] * len(jobs), chunksize=4))
    else:
        results = [write_file(j, args.seed, args.records, args.out, args.level) for j in jobs]

    names: Counter = Counter()
    pairs: Counter = Counter()
    cis: Counter = Counter()
    for r in results:
        names.update(r.pop("event_names"))
        pairs.update(r.pop("source_names"))
        cis.update(r.pop("cis"))
    total = args.files * args.records
    comp = sum(r["compressed_bytes"] for r in results)
    decomp = sum(r["decompressed_bytes"] for r in results)
    config_changes = sum(pairs[f"config.amazonaws.com {n}"] for n in baseline.CONFIG_CHANGE_NAMES)
    assert config_changes == cis["4.9"], (config_changes, cis["4.9"])
    manifest = {
        "generator": "tests/bench/gen_corpus.py",
        "generator_version": GENERATOR_VERSION,
        "generator_hash": source_hash(),
        "seed": args.seed, "files": args.files, "records_per_file": args.records, "total_records": total,
        "gzip_level": args.level,
        "compressed_bytes": comp, "decompressed_bytes": decomp,
        "max_decompressed_file_bytes": max(r["decompressed_bytes"] for r in results),
        "avg_record_bytes": round(decomp / total, 1),
        "config_changes": config_changes,
        "config_changes_by_name": {n: pairs[f"config.amazonaws.com {n}"] for n in sorted(baseline.CONFIG_CHANGE_NAMES)},
        "cis_expected_matches": {cid: cis[cid] for cid in baseline.CIS_RULES},
        "cis_expected_note": "per-control match counts from baseline.py predicates (CIS v1.4-v3.0 4.1-4.15; "
                             "4.1 in the corrected form, 4.2 short form)",
        "event_names": dict(sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))),
        "event_sources": dict(sorted(Counter(k.split(" ")[0] for k in pairs.elements()).items(),
                                     key=lambda kv: (-kv[1], kv[0]))),
        "files_detail": results,
    }
    mpath = args.manifest or os.path.join(args.out, "MANIFEST.json")
    tmp = mpath + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.replace(tmp, mpath)

    dt = time.monotonic() - t0
    print(f"gen_corpus: {args.files} files x {args.records} records = {total} records in {dt:.1f}s; "
          f"avg record {decomp / total:.0f} B; decompressed {decomp / 1e6:.1f} MB, "
          f"compressed {comp / 1e6:.1f} MB (ratio {decomp / comp:.1f}); "
          f"config changes (CIS 4.9): {config_changes}; manifest {mpath}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
