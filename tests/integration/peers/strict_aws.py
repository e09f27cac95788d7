#!/usr/bin/env python3
"""A strict AWS stand-in for the daemon's integration tests: SQS (JSON protocol), S3 GetObject and
ListObjectsV2, STS and CloudTrail ListPublicKeys on 127.0.0.1, over HTTPS, answering like AWS
where it matters to trailwarden.

Unlike fauxqs (peers/fauxqs.py), which accepts anything, this peer refuses what AWS refuses:

  routing    by the Host header, as AWS's DNS does: sqs.R.amazonaws.com, sqs-fips.R...,
             sqs.R.api.aws (dual-stack), R.queue.amazonaws.com and queue.amazonaws.com (legacy;
             the latter is us-east-1); BUCKET.s3.R..., s3.R.../BUCKET (path style),
             s3-fips.R..., s3.dualstack.R..., s3-fips.dualstack.R..., s3-R... (legacy),
             s3.amazonaws.com (us-east-1); sts.amazonaws.com (us-east-1), sts.R..., sts-fips.R...,
             sts.R.api.aws; cloudtrail.R..., cloudtrail-fips.R..., cloudtrail.R.api.aws;
             every one also under amazonaws.com.cn for the China regions; and
             test aliases (a made-up host name standing for one service in one region, like a VPC
             endpoint). A host it does not know gets 421 and is logged (error "UnknownHost").
  SigV4      verified on every request (except STS AssumeRoleWithWebIdentity, unsigned as in AWS)
             with the secrets it knows, by its own canonicalisation, which self_check() proves
             against botocore's signer: wrong signature -> SignatureDoesNotMatch; credential scope
             for another region than the host's -> "Credential should be scoped to a valid
             region, not 'R'." (S3: 400 AuthorizationHeaderMalformed with <Region>); another
             service -> "Credential should be scoped to correct service"; unknown access key ->
             InvalidAccessKeyId / InvalidClientTokenId; temporary keys (ASIA...) need their
             X-Amz-Security-Token and expire; S3 needs x-amz-content-sha256 (checked against the
             body) and every x-amz-* header signed.
  clock      the stand-in's clock is the real one plus an offset a test sets. S3 refuses an
             X-Amz-Date more than 15 min away with 403 RequestTimeTooSkewed (XML); SQS and STS,
             more than 5 min away (AWS's limit for them), with "Signature expired: X is now
             earlier than Y (Z - 5 min.)" / "Signature not yet current: ..." (SQS: 403
             InvalidSignatureException with x-amzn-query-error SignatureDoesNotMatch;Sender;
             STS: 403 SignatureDoesNotMatch). Every response carries a Date header of that clock.
  SQS        JSON protocol (X-Amz-Target AmazonSQS.*): ReceiveMessage (long poll, visibility,
             attributes), SendMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch).
             A queue lives in the region of the host it was created for; asked on another
             region's endpoint it does not exist. Errors: JSON {"__type","message"} plus
             x-amzn-query-error: CODE;Sender.
  S3         GetObject, virtual-hosted and path style; per bucket a region, an owner account and
             versioning. At another region's endpoint: 301 PermanentRedirect with
             x-amz-bucket-region; at the global endpoint signed for the wrong region: 400
             AuthorizationHeaderMalformed with <Region>. versionId needs s3:GetObjectVersion,
             a plain GET s3:GetObject; a missing key is 404 NoSuchKey only with s3:ListBucket on
             the bucket, else 403 AccessDenied; x-amz-expected-bucket-owner other than the owner
             is 403 AccessDenied. If-Match other than the object's ETag is 412
             PreconditionFailed. User metadata set with the object comes back as
             x-amz-meta-<name> headers. ListObjectsV2 (GET /?list-type=2 virtual-hosted,
             /BUCKET?list-type=2 path style) needs s3:ListBucket on arn:aws:s3:::BUCKET (else
             403 AccessDenied): the XML S3 returns (Contents with Key, ETag, Size ...;
             IsTruncated, NextContinuationToken), keys in UTF-8 binary order under prefix after
             start-after, max-keys capped at 1000, opaque continuation tokens (a malformed one is
             400 InvalidArgument), encoding-type=url encoding Key, Prefix and StartAfter (space
             as +).
  CloudTrail JSON 1.1 (X-Amz-Target com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.*):
             ListPublicKeys only, signed for service cloudtrail and the host's region (another
             region's scope: 400 InvalidSignatureException "Credential should be scoped to a
             valid region"), needs cloudtrail:ListPublicKeys (Resource "*"; else 400
             AccessDeniedException). The keys of each region are set through the control API;
             the answer holds those whose validity overlaps [StartTime, EndTime], page_size a
             page, with an opaque NextToken. Errors: JSON {"__type","message"}.
  STS        query protocol, XML: AssumeRole (signed; the caller needs sts:AssumeRole on the role
             and the role must trust the caller's access key), AssumeRoleWithWebIdentity
             (unsigned; the role must allow web identity), GetCallerIdentity. Issued credentials
             (ASIA..., secret, session token, Expiration) are accepted afterwards with the role's
             policy.
  policy     one tiny policy per access key or role: {"Statement": [{"Effect": "Allow"|"Deny",
             "Action": "s3:Get*"|[...], "Resource": "arn:aws:s3:::bucket/*"|[...]}]}, actions and
             resources matched with * and ? wildcards; an explicit Deny wins; deny by default.

What it does NOT do, plainly: no real IAM (no conditions, principals, resource policies, SCPs,
permission boundaries, KMS), no S3 operations but GetObject and ListObjectsV2 (no ranges, no
conditional GETs but If-Match, no presigned URLs, no chunked uploads, no delimiter or
fetch-owner in listings), no FIFO queues, dead-letter queues, message attributes or queue
attributes, no SQS query protocol, no STS but the three actions, no CloudTrail but
ListPublicKeys, no IPv6, no HTTP/2.
Error messages follow AWS's published texts where known; status codes and codes are what the
SDKs and AWS's documentation show.

Used in two ways:
  - as a process: `python3 strict_aws.py serve --dir DIR` (certificates in DIR made first with
    make_certs) prints one JSON line {"port", "control_port"} once it listens, serves HTTPS on
    127.0.0.1:port and a plain-HTTP control API on 127.0.0.1:control_port, and exits when its
    standard input closes (so a killed test leaves nothing behind);
  - from a test: StrictAws(directory) makes a throw-away CA and server certificate with the
    openssl command (SANs for every host above in the regions listed, wildcards one label deep),
    starts the process, and wraps the control API (principals, roles, buckets, objects with
    their metadata, queues, messages, queue state, CloudTrail public keys per region, request
    log, clock offset).

Control API (JSON bodies and answers): POST /principal, /role, /bucket, /object, /queue, /send,
/public_keys, /clock, /log/clear; GET /queue?url=URL, /log. See the StrictAws methods for the
fields.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import fnmatch
import hashlib
import hmac
import http.server
import json
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "cn-north-1",
           "cn-northwest-1", "us-gov-west-1"]
S3_SKEW = 15 * 60   # seconds S3 accepts between X-Amz-Date and its clock
API_SKEW = 5 * 60   # seconds SQS and STS accept
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$")


# ---- Names ----

def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def hosts_for(regions, aliases=()) -> list[str]:
    """Every host name the certificate must cover for `regions` (wildcards one label deep)."""
    names = ["queue.amazonaws.com", "s3.amazonaws.com", "*.s3.amazonaws.com", "sts.amazonaws.com"]
    for r in regions:
        sfx = dns_suffix(r)
        dual = "api.amazonwebservices.com.cn" if r.startswith("cn-") else "api.aws"
        names += [f"sqs.{r}.{sfx}", f"sqs-fips.{r}.{sfx}", f"sqs.{r}.{dual}",
                  f"sqs-fips.{r}.{dual}", f"{r}.queue.{sfx}", f"sts.{r}.{sfx}",
                  f"sts-fips.{r}.{sfx}", f"sts.{r}.{dual}", f"cloudtrail.{r}.{sfx}",
                  f"cloudtrail-fips.{r}.{sfx}", f"cloudtrail.{r}.{dual}"]
        for s3 in (f"s3.{r}.{sfx}", f"s3-fips.{r}.{sfx}", f"s3.dualstack.{r}.{sfx}",
                   f"s3-fips.dualstack.{r}.{sfx}", f"s3-{r}.{sfx}"):
            names += [s3, "*." + s3]
    names += list(aliases)
    return list(dict.fromkeys(names))


def route(host: str, aliases: dict) -> dict | None:
    """What a Host header names: {"service", "region", "bucket" (S3 virtual-hosted, else None),
    "variant"}; None if it is no AWS host this stand-in knows."""
    host = host.lower().rstrip(".")
    if host in aliases:
        a = aliases[host]
        return {"service": a["service"], "region": a["region"], "bucket": None,
                "variant": "alias"}
    for sfx in ("api.amazonwebservices.com.cn", "amazonaws.com.cn", "api.aws", "amazonaws.com"):
        if host.endswith("." + sfx):
            labels = host[: -len(sfx) - 1].split(".")
            break
    else:
        return None
    dual = sfx.startswith("api.")

    def regional(region, service, variant):
        if not REGION_RE.match(region) or (sfx.endswith(".cn") != region.startswith("cn-")):
            return None
        return {"service": service, "region": region, "bucket": None, "variant": variant}

    if not dual:
        if labels == ["queue"] and sfx == "amazonaws.com":
            return {"service": "sqs", "region": "us-east-1", "bucket": None, "variant": "legacy"}
        if len(labels) == 2 and labels[1] == "queue":
            return regional(labels[0], "sqs", "legacy")
        if labels == ["sts"] and sfx == "amazonaws.com":
            return {"service": "sts", "region": "us-east-1", "bucket": None, "variant": "global"}
    if len(labels) == 2 and labels[0] in ("sqs", "sqs-fips", "sts", "sts-fips", "cloudtrail",
                                          "cloudtrail-fips"):
        service, fips = labels[0].split("-")[0], labels[0].endswith("-fips")
        variant = ("fips-dualstack" if fips and dual else "fips" if fips else
                   "dualstack" if dual else "standard")
        return regional(labels[1], service, variant)
    if dual:
        return None
    # S3: [BUCKET...] S3LABEL [dualstack] [REGION]
    for i in range(len(labels) - 1, -1, -1):
        label, rest, bucket = labels[i], labels[i + 1:], ".".join(labels[:i]) or None
        if label in ("s3", "s3-fips"):
            variant = "fips" if label == "s3-fips" else "standard"
            if rest and rest[0] == "dualstack":
                variant, rest = ("fips-dualstack" if label == "s3-fips" else "dualstack"), rest[1:]
            if not rest and sfx == "amazonaws.com" and variant == "standard":
                return {"service": "s3", "region": "us-east-1", "bucket": bucket,
                        "variant": "global"}
            if len(rest) == 1:
                r = regional(rest[0], "s3", variant)
                if r:
                    r["bucket"] = bucket
                return r
            return None
        if label.startswith("s3-") and not rest:
            r = regional(label[3:], "s3", "legacy")
            if r:
                r["bucket"] = bucket
            return r
    return None


# ---- SigV4 ----

def _uri_encode(s: str, safe: str = "") -> str:
    return urllib.parse.quote(s, safe="-_.~" + safe)


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        k, _, v = part.partition("=")
        pairs.append((_uri_encode(urllib.parse.unquote(k)), _uri_encode(urllib.parse.unquote(v))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_uri(raw_path: str, service: str) -> str:
    if service == "s3":  # S3 normalises the path once; the others sign it encoded again
        return _uri_encode(urllib.parse.unquote(raw_path), "/")
    return _uri_encode(raw_path or "/", "/")


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def expected_signature(secret, method, raw_path, raw_query, headers, signed, payload_hash,
                       amz_date, scope, service):
    """The signature AWS computes. `headers`: lower-case name -> list of values."""
    canon_headers = "".join(
        f"{h}:{','.join(' '.join(v.split()) for v in headers.get(h, []))}\n" for h in signed)
    creq = "\n".join([method, canonical_uri(raw_path, service), canonical_query(raw_query),
                      canon_headers, ";".join(signed), payload_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    date, region, svc, _ = scope.split("/")
    return hmac.new(signing_key(secret, date, region, svc), sts.encode(),
                    hashlib.sha256).hexdigest()


class AuthError(Exception):
    """kind: missing, malformed, unknown_key, token, expired_token, region, service, skew,
    signature, unsigned_header, content_sha."""

    def __init__(self, kind: str, message: str, **detail):
        super().__init__(message)
        self.kind, self.message, self.detail = kind, message, detail


def _amz_time(s: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def verify(state, method, raw_path, raw_query, headers, body, service, region, now):
    """The principal (a dict) that signed this request, or AuthError. `region`: the region the
    scope must name (the host's, or for S3 the bucket's)."""
    auth = (headers.get("authorization") or [""])[0]
    if not auth:
        raise AuthError("missing", "Request is missing Authentication Token")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?"
                     r"Signature=([0-9a-f]{64})", auth.strip())
    if not m:
        raise AuthError("malformed", "Authorization header requires 'Credential', "
                        "'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256)")
    credential, signed_s, signature = m.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthError("malformed", f"Credential '{credential}' is not KEY/DATE/REGION/SERVICE/"
                        "aws4_request")
    key, date, scope_region, scope_service = parts[:4]
    principal = state.principals.get(key)
    if principal is None:
        raise AuthError("unknown_key", "The security token included in the request is invalid.")
    signed = signed_s.split(";")
    if "host" not in signed or signed != sorted(signed):
        raise AuthError("malformed", "SignedHeaders must be sorted and include host")
    amz_date = (headers.get("x-amz-date") or [""])[0]
    t = _amz_time(amz_date)
    if t is None:
        raise AuthError("malformed", "X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ")
    if date != amz_date[:8]:
        raise AuthError("signature", f"Date in Credential scope does not match YYYYMMDD from "
                        f"ISO-8601 version of date from HTTP: '{date}' != '{amz_date[:8]}'")
    if scope_service != service:
        raise AuthError("service", f"Credential should be scoped to correct service: "
                        f"'{service}'. ", expected=service)
    if scope_region != region:
        raise AuthError("region", f"Credential should be scoped to a valid region, not "
                        f"'{scope_region}'. ", expected=region, got=scope_region)
    limit = S3_SKEW if service == "s3" else API_SKEW
    skew = (t - now).total_seconds()
    if abs(skew) > limit:
        fmt = "%Y%m%dT%H%M%SZ"
        bound = now - datetime.timedelta(seconds=limit) if skew < 0 else \
            now + datetime.timedelta(seconds=limit)
        if skew < 0:
            msg = (f"Signature expired: {amz_date} is now earlier than {bound.strftime(fmt)} "
                   f"({now.strftime(fmt)} - {limit // 60} min.)")
        else:
            msg = (f"Signature not yet current: {amz_date} is still later than "
                   f"{bound.strftime(fmt)} ({now.strftime(fmt)} + {limit // 60} min.)")
        raise AuthError("skew", msg, request_time=amz_date, server_time=now)
    if principal.get("token"):
        token = (headers.get("x-amz-security-token") or [""])[0]
        if token != principal["token"]:
            raise AuthError("token", "The security token included in the request is invalid.")
        if now >= principal["expires"]:
            raise AuthError("expired_token", "The security token included in the request is "
                            "expired")
    sha_header = (headers.get("x-amz-content-sha256") or [""])[0]
    body_hash = hashlib.sha256(body).hexdigest()
    if service == "s3":
        if not sha_header:
            raise AuthError("content_sha", "Missing required header for this request: "
                            "x-amz-content-sha256")
        unsigned = [h for h in headers if h.startswith("x-amz-") and h not in signed]
        if unsigned:
            raise AuthError("unsigned_header", "There were headers present in the request which "
                            f"were not signed: {', '.join(sorted(unsigned))}")
        payload_hash = sha_header
    else:
        payload_hash = body_hash
    if sha_header and sha_header != "UNSIGNED-PAYLOAD" and sha_header != body_hash:
        raise AuthError("content_sha", "The provided 'x-amz-content-sha256' header does not "
                        "match what was computed.")
    want = expected_signature(principal["secret"], method, raw_path, raw_query, headers, signed,
                              payload_hash, amz_date, "/".join(parts[1:]), service)
    if not hmac.compare_digest(want, signature):
        raise AuthError("signature", "The request signature we calculated does not match the "
                        "signature you provided. Check your AWS Secret Access Key and signing "
                        "method. Consult the service documentation for details.")
    return principal


# ---- Policy ----

def allowed(policy: dict | None, action: str, resource: str) -> bool:
    if not policy:
        return False

    def matches(patterns, value, fold):
        if isinstance(patterns, str):
            patterns = [patterns]
        for p in patterns:
            if fnmatch.fnmatchcase(value.lower() if fold else value, p.lower() if fold else p):
                return True
        return False

    verdict = False
    for s in policy.get("Statement", []):
        if matches(s.get("Action", []), action, True) and \
                matches(s.get("Resource", []), resource, False):
            if s.get("Effect") == "Deny":
                return False
            if s.get("Effect") == "Allow":
                verdict = True
    return verdict


# ---- State ----

class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.principals: dict[str, dict] = {}   # access key -> {secret, account, arn, policy[, token, expires]}
        self.roles: dict[str, dict] = {}        # role ARN -> {policy, trusted, web_identity}
        self.buckets: dict[str, dict] = {}      # name -> {region, owner, versioning, objects}
        self.queues: dict[tuple, dict] = {}     # (region, account, name) -> queue
        self.receipts: dict[str, tuple] = {}    # receipt handle -> (queue key, message id)
        self.aliases: dict[str, dict] = {}
        # region -> {"keys": [{value_b64, fingerprint, start, end}], "page_size"}
        self.public_keys: dict[str, dict] = {}
        self.offset = 0.0
        self.log: list[dict] = []

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc) + \
            datetime.timedelta(seconds=self.offset)


def queue_key(url: str) -> tuple | None:
    """(region, account, name) of a queue URL on any SQS host form."""
    u = urllib.parse.urlsplit(url)
    r = route(u.hostname or "", {})
    parts = u.path.strip("/").split("/")
    if not r or r["service"] != "sqs" or len(parts) != 2 or not all(parts):
        return None
    return (r["region"], parts[0], parts[1])


# ---- Responses ----

class Reply:
    def __init__(self, status=200, body=b"", headers=None, error=None, message=None):
        self.status, self.body = status, body if isinstance(body, bytes) else body.encode()
        self.headers = headers or []
        self.error, self.message = error, message


def s3_error(status, code, message, **extra) -> Reply:
    rid = secrets.token_hex(8).upper()
    fields = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in extra.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>'
            f"{xml_escape(message)}</Message>{fields}<RequestId>{rid}</RequestId><HostId>"
            f"{base64.b64encode(secrets.token_bytes(24)).decode()}</HostId></Error>")
    return Reply(status, body, [("Content-Type", "application/xml"), ("x-amz-request-id", rid)],
                 code, message)


def sqs_error(status, type_, query_code, message) -> Reply:
    body = json.dumps({"__type": type_, "message": message})
    code = type_.split("#")[-1]
    return Reply(status, body, [("Content-Type", "application/x-amz-json-1.0"),
                                ("x-amzn-query-error", f"{query_code};Sender"),
                                ("x-amzn-RequestId", str(uuid.uuid4()))], code, message)


def sts_error(status, code, message) -> Reply:
    body = (f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{xml_escape(message)}</Message></Error><RequestId>{uuid.uuid4()}"
            "</RequestId></ErrorResponse>")
    return Reply(status, body, [("Content-Type", "text/xml")], code, message)


CORAL = "com.amazon.coral.service#"


def cloudtrail_error(status, type_, message) -> Reply:
    """CloudTrail's JSON 1.1 error: {"__type", "message"} (no query-compatible header)."""
    body = json.dumps({"__type": type_, "message": message})
    return Reply(status, body, [("Content-Type", "application/x-amz-json-1.1"),
                                ("x-amzn-RequestId", str(uuid.uuid4()))],
                 type_.split("#")[-1], message)


def auth_reply(service: str, e: AuthError) -> Reply:
    """AuthError as each service answers it."""
    if service == "s3":
        if e.kind == "skew":
            return s3_error(403, "RequestTimeTooSkewed", "The difference between the request "
                            "time and the current time is too large.",
                            RequestTime=e.detail["request_time"],
                            ServerTime=e.detail["server_time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                            MaxAllowedSkewMilliseconds=S3_SKEW * 1000)
        if e.kind == "region":
            return s3_error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                            f"malformed; the region '{e.detail['got']}' is wrong; expecting "
                            f"'{e.detail['expected']}'", Region=e.detail["expected"])
        table = {"missing": (403, "AccessDenied"), "malformed": (400, "AuthorizationHeaderMalformed"),
                 "unknown_key": (403, "InvalidAccessKeyId"), "token": (400, "InvalidToken"),
                 "expired_token": (400, "ExpiredToken"), "service": (400, "AuthorizationHeaderMalformed"),
                 "signature": (403, "SignatureDoesNotMatch"), "unsigned_header": (403, "AccessDenied"),
                 "content_sha": (400, "XAmzContentSHA256Mismatch")}
        status, code = table[e.kind]
        if e.kind == "content_sha" and "Missing" in e.message:
            code = "InvalidRequest"
        if e.kind == "unknown_key":
            e.message = "The AWS Access Key Id you provided does not exist in our records."
        return s3_error(status, code, e.message)
    if service == "sqs":
        table = {"missing": (400, "MissingAuthenticationTokenException", "MissingAuthenticationToken"),
                 "malformed": (400, "IncompleteSignatureException", "IncompleteSignature"),
                 "unknown_key": (403, "UnrecognizedClientException", "InvalidClientTokenId"),
                 "token": (403, "UnrecognizedClientException", "InvalidClientTokenId"),
                 "expired_token": (403, "ExpiredTokenException", "ExpiredToken"),
                 "content_sha": (400, "InvalidSignatureException", "SignatureDoesNotMatch")}
        status, type_, query = table.get(e.kind, (403, "InvalidSignatureException",
                                                  "SignatureDoesNotMatch"))
        return sqs_error(status, CORAL + type_, query, e.message)
    if service == "cloudtrail":
        table = {"missing": (400, "MissingAuthenticationTokenException"),
                 "malformed": (400, "IncompleteSignatureException"),
                 "unknown_key": (400, "UnrecognizedClientException"),
                 "token": (400, "UnrecognizedClientException"),
                 "expired_token": (400, "ExpiredTokenException"),
                 "skew": (400, "InvalidSignatureException")}
        status, type_ = table.get(e.kind, (400, "InvalidSignatureException"))
        return cloudtrail_error(status, type_, e.message)
    table = {"missing": (403, "MissingAuthenticationToken"), "malformed": (400, "IncompleteSignature"),
             "unknown_key": (403, "InvalidClientTokenId"), "token": (403, "InvalidClientTokenId"),
             "expired_token": (400, "ExpiredToken")}
    status, code = table.get(e.kind, (403, "SignatureDoesNotMatch"))
    return sts_error(status, code, e.message)


# ---- Services ----

SQS_ACTIONS = {"ReceiveMessage": "sqs:ReceiveMessage", "SendMessage": "sqs:SendMessage",
               "DeleteMessage": "sqs:DeleteMessage", "DeleteMessageBatch": "sqs:DeleteMessage",
               "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
               "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}


class Service:
    def __init__(self, state: State):
        self.state = state

    # -- SQS --
    def sqs(self, req, rt, entry) -> Reply:
        st = self.state
        target = req["headers"].get("x-amz-target", [""])[0]
        action = target.removeprefix("AmazonSQS.")
        entry["action"] = action
        ctype = req["headers"].get("content-type", [""])[0]
        if req["method"] != "POST" or not target.startswith("AmazonSQS.") or \
                not ctype.startswith("application/x-amz-json-1.0"):
            return sqs_error(400, CORAL + "UnknownOperationException", "InvalidAction",
                             "this stand-in speaks SQS's JSON protocol only")
        try:
            principal = verify(st, "POST", req["path"], req["query"], req["headers"],
                               req["body"], "sqs", rt["region"], st.now())
        except AuthError as e:
            return auth_reply("sqs", e)
        entry["access_key"] = principal["key"]
        if action not in SQS_ACTIONS:
            return sqs_error(400, CORAL + "UnknownOperationException", "InvalidAction",
                             f"unsupported action {action}")
        try:
            params = json.loads(req["body"] or b"{}")
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            return sqs_error(400, CORAL + "SerializationException", "MalformedQueryString",
                             "body is not a JSON object")
        key = queue_key(params.get("QueueUrl", ""))
        with st.lock:
            q = st.queues.get(key) if key and key[0] == rt["region"] else None
            if q is None:
                return sqs_error(400, "com.amazonaws.sqs#QueueDoesNotExist",
                                 "AWS.SimpleQueueService.NonExistentQueue",
                                 "The specified queue does not exist.")
            entry["queue"] = q["name"]
            arn = f"arn:{partition_of(key[0])}:sqs:{key[0]}:{key[1]}:{key[2]}"
            if not allowed(principal["policy"], SQS_ACTIONS[action], arn):
                return sqs_error(403, CORAL + "AccessDeniedException", "AccessDenied",
                                 f"User: {principal['arn']} is not authorized to perform: "
                                 f"{SQS_ACTIONS[action]} on resource: {arn} because no "
                                 "identity-based policy allows the action")
        return getattr(self, "sqs_" + action)(q, key, params)

    def _json(self, obj) -> Reply:
        return Reply(200, json.dumps(obj), [("Content-Type", "application/x-amz-json-1.0"),
                                            ("x-amzn-RequestId", str(uuid.uuid4()))])

    def _int(self, params, name, default, lo, hi):
        v = params.get(name, default)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ValueError(f"Value {v} for parameter {name} is invalid. Must be between "
                             f"{lo} and {hi}.")
        return v

    def sqs_ReceiveMessage(self, q, key, params) -> Reply:
        st = self.state
        try:
            count = self._int(params, "MaxNumberOfMessages", 1, 1, 10)
            wait = self._int(params, "WaitTimeSeconds", q["wait"], 0, 20)
            vis = self._int(params, "VisibilityTimeout", q["visibility"], 0, 43200)
        except ValueError as e:
            return sqs_error(400, "com.amazonaws.sqs#InvalidParameterValueException",
                             "InvalidParameterValue", str(e))
        names = set(params.get("AttributeNames", [])) | \
            set(params.get("MessageSystemAttributeNames", []))
        deadline = time.monotonic() + wait
        with st.lock:
            while True:
                now = time.monotonic()
                ready = [m for m in q["messages"] if not m["deleted"] and m["visible_at"] <= now]
                if ready or now >= deadline:
                    break
                later = [m["visible_at"] for m in q["messages"] if not m["deleted"]]
                st.lock.wait(min([deadline] + later) - now + 0.01)
            out = []
            for m in ready[:count]:
                m["receive_count"] += 1
                m["visible_at"] = now + vis
                m["receipt"] = base64.b64encode(secrets.token_bytes(48)).decode()
                st.receipts[m["receipt"]] = (key, m["id"])
                attrs = {"ApproximateReceiveCount": str(m["receive_count"]),
                         "SentTimestamp": str(m["sent_ms"]),
                         "ApproximateFirstReceiveTimestamp": str(m.setdefault(
                             "first_ms", int(time.time() * 1000))),
                         "SenderId": "AIDASTRICTSTANDIN"}
                msg = {"MessageId": m["id"], "ReceiptHandle": m["receipt"],
                       "MD5OfBody": hashlib.md5(m["body"].encode()).hexdigest(),
                       "Body": m["body"]}
                picked = attrs if "All" in names else {k: v for k, v in attrs.items() if k in names}
                if picked:
                    msg["Attributes"] = picked
                out.append(msg)
        return self._json({"Messages": out} if out else {})

    def sqs_SendMessage(self, q, key, params) -> Reply:
        body = params.get("MessageBody")
        if not isinstance(body, str) or not body:
            return sqs_error(400, "com.amazonaws.sqs#MissingParameter", "MissingParameter",
                             "The request must contain the parameter MessageBody.")
        m = add_message(self.state, q, body)
        return self._json({"MessageId": m["id"],
                           "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()})

    def _batch(self, params):
        entries = params.get("Entries")
        if not isinstance(entries, list) or not entries:
            raise ValueError(("EmptyBatchRequest", "There should be at least one "
                              "SendMessageBatchRequestEntry in the request."))
        if len(entries) > 10:
            raise ValueError(("TooManyEntriesInBatchRequest", "Maximum number of entries per "
                              "request are 10."))
        ids = [e.get("Id") for e in entries]
        if len(set(ids)) != len(ids):
            raise ValueError(("BatchEntryIdsNotDistinct", "Two or more batch entries in the "
                              "request have the same Id."))
        return entries

    def _delete(self, q, key, receipt):
        """None, or (code, message)."""
        ref = self.state.receipts.get(receipt or "")
        if ref is None or ref[0] != key:
            return ("ReceiptHandleIsInvalid", f'The input receipt handle "{receipt}" is not a '
                    "valid receipt handle.")
        m = q["by_id"][ref[1]]
        m["deleted"] = True
        return None

    def _visibility(self, q, key, receipt, timeout):
        ref = self.state.receipts.get(receipt or "")
        if ref is None or ref[0] != key:
            return ("ReceiptHandleIsInvalid", f'The input receipt handle "{receipt}" is not a '
                    "valid receipt handle.")
        m = q["by_id"][ref[1]]
        if m["deleted"] or m["receipt"] != receipt or m["visible_at"] <= time.monotonic():
            return ("MessageNotInflight", "Message does not exist or is not available for "
                    "visibility timeout change.")
        if not isinstance(timeout, int) or not 0 <= timeout <= 43200:
            return ("InvalidParameterValue", f"Value {timeout} for parameter VisibilityTimeout "
                    "is invalid.")
        m["visible_at"] = time.monotonic() + timeout
        self.state.lock.notify_all()
        return None

    def _batch_reply(self, q, key, params, op) -> Reply:
        try:
            entries = self._batch(params)
        except ValueError as e:
            code, msg = e.args[0]
            return sqs_error(400, f"com.amazonaws.sqs#{code}", f"AWS.SimpleQueueService.{code}", msg)
        ok, failed = [], []
        with self.state.lock:
            for e in entries:
                err = op(e)
                if err:
                    failed.append({"Id": e.get("Id"), "SenderFault": True, "Code": err[0],
                                   "Message": err[1]})
                else:
                    ok.append({"Id": e.get("Id")})
        out = {"Successful": ok} if ok else {}
        if failed:
            out["Failed"] = failed
        return self._json(out)

    def sqs_DeleteMessageBatch(self, q, key, params) -> Reply:
        return self._batch_reply(q, key, params,
                                 lambda e: self._delete(q, key, e.get("ReceiptHandle")))

    def sqs_ChangeMessageVisibilityBatch(self, q, key, params) -> Reply:
        return self._batch_reply(q, key, params, lambda e: self._visibility(
            q, key, e.get("ReceiptHandle"), e.get("VisibilityTimeout")))

    def _single(self, err) -> Reply:
        if err:
            return sqs_error(400, f"com.amazonaws.sqs#{err[0]}", err[0], err[1])
        return self._json({})

    def sqs_DeleteMessage(self, q, key, params) -> Reply:
        with self.state.lock:
            return self._single(self._delete(q, key, params.get("ReceiptHandle")))

    def sqs_ChangeMessageVisibility(self, q, key, params) -> Reply:
        with self.state.lock:
            return self._single(self._visibility(q, key, params.get("ReceiptHandle"),
                                                 params.get("VisibilityTimeout")))

    # -- S3 --
    def s3(self, req, rt, entry) -> Reply:
        st = self.state
        entry["action"] = "GetObject"
        path = req["path"]
        if rt["bucket"]:
            bucket, key_raw = rt["bucket"], path[1:]
        else:
            bucket, _, key_raw = path[1:].partition("/")
            bucket = urllib.parse.unquote(bucket)
        key = urllib.parse.unquote(key_raw)
        query = dict(urllib.parse.parse_qsl(req["query"], keep_blank_values=True))
        version = query.get("versionId")
        entry.update(bucket=bucket, key=key, version_id=version)
        listing = req["method"] == "GET" and not key and query.get("list-type") == "2"
        if listing:
            entry["action"] = "ListObjectsV2"
        elif req["method"] != "GET" or not key:
            return s3_error(405, "MethodNotAllowed", "The specified method is not allowed "
                            "against this resource (the stand-in serves GetObject and "
                            "ListObjectsV2 only).")
        with st.lock:
            b = st.buckets.get(bucket)
        if b is not None and b["region"] != rt["region"] and rt["variant"] != "global":
            sfx = dns_suffix(b["region"])
            return Reply(301, s3_error(301, "PermanentRedirect", "The bucket you are attempting "
                                       "to access must be addressed using the specified "
                                       "endpoint. Please send all future requests to this "
                                       "endpoint.", Bucket=bucket,
                                       Endpoint=f"{bucket}.s3.{b['region']}.{sfx}").body,
                         [("Content-Type", "application/xml"),
                          ("x-amz-bucket-region", b["region"])], "PermanentRedirect")
        scope_region = b["region"] if b is not None else rt["region"]
        try:
            principal = verify(st, "GET", req["path"], req["query"], req["headers"],
                               req["body"], "s3", scope_region, st.now())
        except AuthError as e:
            reply = auth_reply("s3", e)
            if b is not None and e.kind == "region":
                reply.headers.append(("x-amz-bucket-region", b["region"]))
            return reply
        entry["access_key"] = principal["key"]
        if b is None:
            return s3_error(404, "NoSuchBucket", "The specified bucket does not exist",
                            BucketName=bucket)
        part = partition_of(b["region"])
        expected_owner = req["headers"].get("x-amz-expected-bucket-owner", [None])[0]
        if expected_owner is not None and expected_owner != b["owner"]:
            return s3_error(403, "AccessDenied", "Access Denied")
        if listing:
            if not allowed(principal["policy"], "s3:ListBucket", f"arn:{part}:s3:::{bucket}"):
                return s3_error(403, "AccessDenied", "Access Denied")
            return self.s3_list(b, bucket, query)
        action = "s3:GetObjectVersion" if version is not None else "s3:GetObject"
        if not allowed(principal["policy"], action, f"arn:{part}:s3:::{bucket}/{key}"):
            return s3_error(403, "AccessDenied", "Access Denied")
        with st.lock:
            versions = b["objects"].get(key, [])
            if version is not None:
                if not b["versioning"] and version != "null":
                    return s3_error(400, "InvalidArgument", "Invalid version id specified",
                                    ArgumentName="versionId", ArgumentValue=version)
                found = [v for v in versions if v[0] == version]
            else:
                found = versions[-1:]
        if not found:
            if version is not None and versions:
                return s3_error(404, "NoSuchVersion", "The specified version does not exist.",
                                Key=key, VersionId=version)
            if allowed(principal["policy"], "s3:ListBucket", f"arn:{part}:s3:::{bucket}"):
                return s3_error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
            return s3_error(403, "AccessDenied", "Access Denied")
        vid, data, meta = found[0]
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        if_match = req["headers"].get("if-match", [None])[0]
        if if_match is not None and if_match not in ("*", etag, etag.strip('"')):
            return s3_error(412, "PreconditionFailed",
                            "At least one of the pre-conditions you specified did not hold",
                            Condition="If-Match")
        headers = [("Content-Type", "binary/octet-stream"),
                   ("ETag", etag),
                   ("x-amz-request-id", secrets.token_hex(8).upper())]
        if b["versioning"]:
            headers.append(("x-amz-version-id", vid))
        headers += [(f"x-amz-meta-{k}", v) for k, v in meta.items()]
        return Reply(200, data, headers)

    def s3_list(self, b, bucket, query) -> Reply:
        """ListObjectsV2: keys in UTF-8 binary order after start-after or the continuation
        token (opaque: base64 of the last key returned), under prefix; max-keys capped at 1000;
        with encoding-type=url, Key, Prefix and StartAfter URL-encoded as S3 does (space as +)."""
        prefix = query.get("prefix", "")
        start_after = query.get("start-after", "")
        token = query.get("continuation-token")
        enc = query.get("encoding-type")
        if enc not in (None, "url"):
            return s3_error(400, "InvalidArgument", "Invalid Encoding Method specified in "
                            "Request", ArgumentName="encoding-type", ArgumentValue=enc)
        try:
            max_keys = int(query.get("max-keys", "1000"))
            if max_keys < 0:
                raise ValueError
        except ValueError:
            return s3_error(400, "InvalidArgument", "Provided max-keys not an integer or within "
                            "integer range", ArgumentName="max-keys")
        max_keys = min(max_keys, 1000)
        after = start_after
        if token is not None:
            try:
                last = base64.b64decode(token.encode(), validate=True).decode()
                if not last.startswith("tok:"):
                    raise ValueError
                after = max(after.encode(), last[4:].encode()).decode()
            except (ValueError, UnicodeDecodeError):
                return s3_error(400, "InvalidArgument", "The continuation token provided is "
                                "incorrect", ArgumentName="continuation-token")
        with self.state.lock:
            keys = sorted((k for k, v in b["objects"].items() if v), key=lambda k: k.encode())
            items = [(k, b["objects"][k][-1]) for k in keys
                     if k.startswith(prefix) and k.encode() > after.encode()]
        page, more = items[:max_keys], len(items) > max_keys

        def e(text):
            return xml_escape(urllib.parse.quote_plus(text, safe="/") if enc == "url" else text)
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
                 f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>{xml_escape(bucket)}'
                 f"</Name><Prefix>{e(prefix)}</Prefix>"]
        if token is not None:
            parts.append(f"<ContinuationToken>{xml_escape(token)}</ContinuationToken>")
        if start_after:
            parts.append(f"<StartAfter>{e(start_after)}</StartAfter>")
        parts.append(f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>")
        if enc:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>")
        for k, (_vid, data, _meta) in page:
            parts.append(f"<Contents><Key>{e(k)}</Key><LastModified>2024-11-18T01:00:00.000Z"
                         f"</LastModified><ETag>&quot;{hashlib.md5(data).hexdigest()}&quot;"
                         f"</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><Size>"
                         f"{len(data)}</Size><StorageClass>STANDARD</StorageClass></Contents>")
        if more:
            nxt = base64.b64encode(("tok:" + page[-1][0]).encode()).decode()
            parts.append(f"<NextContinuationToken>{nxt}</NextContinuationToken>")
        parts.append("</ListBucketResult>")
        return Reply(200, "".join(parts), [("Content-Type", "application/xml"),
                                           ("x-amz-request-id", secrets.token_hex(8).upper())])

    # -- CloudTrail --
    def cloudtrail(self, req, rt, entry) -> Reply:
        """JSON 1.1, ListPublicKeys only: the keys set for the host's region whose validity
        overlaps [StartTime, EndTime], page_size a page, NextToken paging."""
        st = self.state
        target = req["headers"].get("x-amz-target", [""])[0]
        prefix = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
        action = target.removeprefix(prefix)
        entry["action"] = action
        ctype = req["headers"].get("content-type", [""])[0]
        if req["method"] != "POST" or not target.startswith(prefix) or \
                not ctype.startswith("application/x-amz-json-1.1"):
            return cloudtrail_error(400, "UnknownOperationException",
                                    "this stand-in speaks CloudTrail's JSON 1.1 protocol only")
        try:
            principal = verify(st, "POST", req["path"], req["query"], req["headers"],
                               req["body"], "cloudtrail", rt["region"], st.now())
        except AuthError as e:
            return auth_reply("cloudtrail", e)
        entry["access_key"] = principal["key"]
        if action != "ListPublicKeys":
            return cloudtrail_error(400, "UnknownOperationException",
                                    f"unsupported action {action}")
        if not allowed(principal["policy"], "cloudtrail:ListPublicKeys", "*"):
            return cloudtrail_error(400, "AccessDeniedException",
                                    f"User: {principal['arn']} is not authorized to perform: "
                                    "cloudtrail:ListPublicKeys because no identity-based policy "
                                    "allows the cloudtrail:ListPublicKeys action")
        try:
            params = json.loads(req["body"] or b"{}")
            if not isinstance(params, dict):
                raise ValueError
            start = params.get("StartTime", 0)
            end = params.get("EndTime", time.time())
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                       for x in (start, end)):
                raise ValueError
        except ValueError:
            return cloudtrail_error(400, "SerializationException", "body is not the "
                                    "ListPublicKeys input")
        if end < start:
            return cloudtrail_error(400, "InvalidTimeRangeException", "Occurs if the timestamp "
                                    "values are not valid.")
        with st.lock:
            conf = st.public_keys.get(rt["region"], {"keys": [], "page_size": 50})
            keys = [k for k in conf["keys"] if k["end"] >= start and k["start"] <= end]
            size = conf["page_size"]
        offset = 0
        token = params.get("NextToken")
        if token is not None:
            try:
                tag, _, n = base64.b64decode(str(token), validate=True).decode().partition(":")
                if tag != rt["region"]:
                    raise ValueError
                offset = int(n)
            except (ValueError, UnicodeDecodeError):
                return cloudtrail_error(400, "InvalidTokenException", "Reserved for future use.")
        page = keys[offset:offset + size]
        out = {"PublicKeyList": [{"Value": k["value_b64"], "ValidityStartTime": k["start"],
                                  "ValidityEndTime": k["end"], "Fingerprint": k["fingerprint"]}
                                 for k in page]}
        if offset + size < len(keys):
            out["NextToken"] = base64.b64encode(
                f"{rt['region']}:{offset + size}".encode()).decode()
        return Reply(200, json.dumps(out), [("Content-Type", "application/x-amz-json-1.1"),
                                            ("x-amzn-RequestId", str(uuid.uuid4()))])

    # -- STS --
    def sts(self, req, rt, entry) -> Reply:
        st = self.state
        ctype = req["headers"].get("content-type", [""])[0]
        raw = req["query"]
        if req["method"] == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
            raw = req["body"].decode(errors="replace")
        params = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        action = params.get("Action", "")
        entry["action"] = action
        if params.get("Version") != "2011-06-15":
            return sts_error(400, "InvalidAction", "Could not find operation with Version "
                             f"{params.get('Version')}")
        now = st.now()
        if action == "AssumeRoleWithWebIdentity":
            with st.lock:
                role = st.roles.get(params.get("RoleArn", ""))
            if not params.get("WebIdentityToken"):
                return sts_error(400, "ValidationError", "WebIdentityToken is required")
            if role is None or not role.get("web_identity"):
                return sts_error(403, "AccessDenied", "Not authorized to perform "
                                 "sts:AssumeRoleWithWebIdentity")
            return self._issue(params, role, "AssumeRoleWithWebIdentity", now, entry)
        try:
            principal = verify(st, req["method"], req["path"], req["query"], req["headers"],
                               req["body"], "sts", rt["region"], now)
        except AuthError as e:
            return auth_reply("sts", e)
        entry["access_key"] = principal["key"]
        if action == "GetCallerIdentity":
            body = (f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
                    f"<Arn>{xml_escape(principal['arn'])}</Arn><UserId>{principal['key']}"
                    f"</UserId><Account>{principal['account']}</Account>"
                    "</GetCallerIdentityResult><ResponseMetadata><RequestId>"
                    f"{uuid.uuid4()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
            return Reply(200, body, [("Content-Type", "text/xml")])
        if action == "AssumeRole":
            arn = params.get("RoleArn", "")
            with st.lock:
                role = st.roles.get(arn)
            if role is None or not allowed(principal["policy"], "sts:AssumeRole", arn) or \
                    not ({"*", principal["key"], principal["arn"]} & set(role.get("trusted", []))):
                return sts_error(403, "AccessDenied", f"User: {principal['arn']} is not "
                                 f"authorized to perform: sts:AssumeRole on resource: {arn}")
            if role.get("external_id") and params.get("ExternalId") != role["external_id"]:
                return sts_error(403, "AccessDenied", f"User: {principal['arn']} is not "
                                 f"authorized to perform: sts:AssumeRole on resource: {arn}")
            return self._issue(params, role, "AssumeRole", now, entry)
        return sts_error(400, "InvalidAction", f"Could not find operation {action}")

    def _issue(self, params, role, action, now, entry) -> Reply:
        session = params.get("RoleSessionName", "")
        if not re.fullmatch(r"[\w+=,.@-]{2,64}", session):
            return sts_error(400, "ValidationError", "1 validation error detected: Value at "
                             "'roleSessionName' failed to satisfy constraint")
        try:
            duration = int(params.get("DurationSeconds", "3600"))
        except ValueError:
            duration = -1
        if not 900 <= duration <= 43200:
            return sts_error(400, "ValidationError", "DurationSeconds must be 900..43200")
        arn = params["RoleArn"]
        account, name = arn.split(":")[4], arn.split("/")[-1]
        key = "ASIA" + secrets.token_hex(8).upper()
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        token = base64.b64encode(secrets.token_bytes(150)).decode()
        expires = now + datetime.timedelta(seconds=duration)
        user_arn = f"arn:{arn.split(':')[1]}:sts::{account}:assumed-role/{name}/{session}"
        with self.state.lock:
            self.state.principals[key] = {"key": key, "secret": secret, "token": token,
                                          "expires": expires, "account": account,
                                          "arn": user_arn, "policy": role.get("policy")}
        entry["issued"] = key
        exp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (f'<{action}Response xmlns="{STS_NS}"><{action}Result><Credentials>'
                f"<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
                f"<SessionToken>{token}</SessionToken><Expiration>{exp}</Expiration>"
                f"</Credentials><AssumedRoleUser><AssumedRoleId>AROASTRICT:{session}"
                f"</AssumedRoleId><Arn>{user_arn}</Arn></AssumedRoleUser></{action}Result>"
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                f"</{action}Response>")
        return Reply(200, body, [("Content-Type", "text/xml")])


def add_message(st: State, q: dict, body: str) -> dict:
    with st.lock:
        m = {"id": str(uuid.uuid4()), "body": body, "sent_ms": int(time.time() * 1000),
             "receive_count": 0, "visible_at": 0.0, "receipt": None, "deleted": False}
        q["messages"].append(m)
        q["by_id"][m["id"]] = m
        st.lock.notify_all()
        return m


# ---- HTTP servers ----

class AwsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AmazonS3-StrictStandIn"

    def log_message(self, *args):
        pass

    def date_time_string(self, timestamp=None):
        """The Date header send_response() adds: the stand-in's clock (offset included)."""
        return email.utils.format_datetime(self.server.state.now(), usegmt=True)

    def _handle(self):
        st: State = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        path, _, query = self.path.partition("?")
        host = (headers.get("host") or [""])[0].split(":")[0]
        req = {"method": self.command, "path": path, "query": query, "headers": headers,
               "body": body}
        entry = {"time": time.time(), "host": host, "method": self.command, "path": path,
                 "query": query, "action": None, "bucket": None, "key": None,
                 "version_id": None, "access_key": None}
        # The access key the request claims (also when its signature is then refused).
        claimed = re.search(r"Credential=([^/,\s]+)/", (headers.get("authorization") or [""])[0])
        entry["access_key"] = claimed.group(1) if claimed else None
        rt = route(host, st.aliases)
        entry["service"] = rt["service"] if rt else None
        entry["region"] = rt["region"] if rt else None
        svc = Service(st)
        try:
            if rt is None:
                reply = Reply(421, f"strict_aws: no AWS service at host {host!r}\n",
                              [("Content-Type", "text/plain")], "UnknownHost")
            else:
                reply = getattr(svc, rt["service"])(req, rt, entry)
        except Exception as e:  # noqa: BLE001 - a bug here must show, not hang the client
            reply = Reply(500, f"strict_aws: internal error: {e!r}\n",
                          [("Content-Type", "text/plain")], "InternalError", repr(e))
        entry.update(status=reply.status, error=reply.error, message=reply.message)
        with st.lock:
            st.log.append(entry)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, obj):
        data = json.dumps(obj, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st: State = self.server.state
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with st.lock:
            if u.path == "/log":
                return self._reply(200, st.log)
            if u.path == "/queue":
                key = queue_key(q.get("url", ""))
                queue = st.queues.get(key)
                if queue is None:
                    return self._reply(404, {"error": f"no queue {q.get('url')}"})
                now = time.monotonic()
                live = [m for m in queue["messages"] if not m["deleted"]]
                return self._reply(200, {
                    "visible": sum(m["visible_at"] <= now for m in live),
                    "in_flight": sum(m["visible_at"] > now for m in live),
                    "deleted": sum(m["deleted"] for m in queue["messages"]),
                    "receives": sum(m["receive_count"] for m in queue["messages"])})
        self._reply(404, {"error": "unknown path"})

    def do_POST(self):
        st: State = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        try:
            a = json.loads(self.rfile.read(length) or b"{}")
            out = self._post(st, self.path, a)
        except (KeyError, ValueError, TypeError) as e:
            return self._reply(400, {"error": repr(e)})
        self._reply(200, out)

    def _post(self, st: State, path: str, a: dict):
        with st.lock:
            if path == "/principal":
                st.principals[a["access_key"]] = {
                    "key": a["access_key"], "secret": a["secret"],
                    "account": a.get("account", "111122223333"),
                    "arn": a.get("arn", f"arn:aws:iam::{a.get('account', '111122223333')}:"
                                        f"user/{a['access_key']}"),
                    "policy": a.get("policy")}
                return {}
            if path == "/role":
                st.roles[a["arn"]] = {"policy": a.get("policy"), "trusted": a.get("trusted", []),
                                      "web_identity": a.get("web_identity", False),
                                      "external_id": a.get("external_id")}
                return {}
            if path == "/alias":
                st.aliases[a["host"].lower()] = {"service": a["service"], "region": a["region"]}
                return {}
            if path == "/bucket":
                st.buckets[a["name"]] = {"region": a["region"],
                                         "owner": a.get("owner", "111122223333"),
                                         "versioning": a.get("versioning", False), "objects": {}}
                return {}
            if path == "/object":
                b = st.buckets[a["bucket"]]
                vid = secrets.token_urlsafe(24) if b["versioning"] else "null"
                versions = b["objects"].setdefault(a["key"], [])
                if not b["versioning"]:
                    versions.clear()
                meta = {str(k).lower(): str(v) for k, v in (a.get("metadata") or {}).items()}
                versions.append((vid, base64.b64decode(a["body_b64"]), meta))
                return {"version_id": vid}
            if path == "/queue":
                key = queue_key(a["url"])
                if key is None:
                    raise ValueError(f"not an SQS queue URL: {a['url']}")
                st.queues[key] = {"name": key[2], "visibility": a.get("visibility", 30),
                                  "wait": 0, "messages": [], "by_id": {}}
                return {"url": a["url"]}
            if path == "/public_keys":
                st.public_keys[a["region"]] = {"keys": list(a["keys"]),
                                               "page_size": int(a.get("page_size", 50))}
                return {}
            if path == "/clock":
                st.offset = float(a["offset_seconds"])
                return {}
            if path == "/log/clear":
                st.log.clear()
                return {}
        if path == "/send":
            q = st.queues[queue_key(a["url"])]
            return {"message_id": add_message(st, q, a["body"])["id"]}
        raise ValueError(f"unknown path {path}")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, state, tls=None):
        super().__init__(address, handler)
        self.state = state
        self.tls = tls

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls:
            sock.settimeout(30)
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if self.tls:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


def serve(directory: Path):
    state = State()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(directory / "server.pem", directory / "server.key")
    aws = Server(("127.0.0.1", 0), AwsHandler, state, tls)
    control = Server(("127.0.0.1", 0), ControlHandler, state)
    for s in (aws, control):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(json.dumps({"port": aws.server_address[1], "control_port": control.server_address[1]}),
          flush=True)
    sys.stdin.read()  # until the test closes the pipe (or dies)


# ---- Test side ----

def make_certs(directory: Path, hosts: list[str]) -> Path:
    """DIRECTORY/ca.pem (a throw-away CA, the file to trust) and DIRECTORY/server.pem and
    server.key, a certificate from that CA for `hosts` (SAN DNS names) and 127.0.0.1."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("the openssl command is needed (Debian package openssl)")
    d = Path(directory)

    def run(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=trailwarden strict AWS stand-in CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=amazonaws.com")
    san = ",".join([f"DNS:{h}" for h in hosts] + ["IP:127.0.0.1"])
    (d / "server.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
                                  "basicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "server.ext")
    return d / "ca.pem"


class StrictAws:
    """The stand-in as a process, and its control API. `aliases`: {host: (service, region)},
    made-up host names (custom endpoints) the certificate also covers."""

    def __init__(self, directory, regions=REGIONS, aliases=None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aliases = dict(aliases or {})
        self.ca_file = make_certs(self.dir, hosts_for(regions, self.aliases))
        self.stderr = open(self.dir / "strict_aws.err", "ab")
        self.proc = subprocess.Popen([sys.executable, __file__, "serve", "--dir", str(self.dir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError("strict_aws did not start; see " + str(self.dir / "strict_aws.err"))
        ready = json.loads(line)
        self.port, self.control = ready["port"], f"http://127.0.0.1:{ready['control_port']}"
        for host, (service, region) in self.aliases.items():
            self._call("/alias", {"host": host, "service": service, "region": region})

    @property
    def connect_to(self) -> str:
        """TRAILWARDEN_TEST_CONNECT_TO for the agent: every host to this stand-in."""
        return f"::127.0.0.1:{self.port}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.control + path, data=data, method="POST" if
                                     body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"strict_aws {path}: {e.code} {e.read().decode()}") from None

    def principal(self, access_key, secret, policy, account="111122223333", arn=None):
        self._call("/principal", {"access_key": access_key, "secret": secret, "policy": policy,
                                  "account": account, **({"arn": arn} if arn else {})})

    def role(self, arn, policy, trusted=(), web_identity=False, external_id=None):
        self._call("/role", {"arn": arn, "policy": policy, "trusted": list(trusted),
                             "web_identity": web_identity, "external_id": external_id})

    def bucket(self, name, region, owner="111122223333", versioning=False):
        self._call("/bucket", {"name": name, "region": region, "owner": owner,
                               "versioning": versioning})

    def put_object(self, bucket, key, data: bytes, metadata: dict | None = None) -> str:
        """The new object's version id ("null" in an unversioned bucket). `metadata`: user
        metadata, returned by GET as x-amz-meta-<name> headers (names lower-cased)."""
        return self._call("/object", {"bucket": bucket, "key": key,
                                      "body_b64": base64.b64encode(data).decode(),
                                      "metadata": metadata or {}})["version_id"]

    def public_keys(self, region, keys, page_size=50):
        """CloudTrail's public keys of `region`: [{"value_b64", "fingerprint", "start", "end"}]
        (epoch seconds), ListPublicKeys answering `page_size` a page."""
        self._call("/public_keys", {"region": region, "keys": list(keys),
                                    "page_size": page_size})

    def queue(self, url, visibility=30) -> str:
        return self._call("/queue", {"url": url, "visibility": visibility})["url"]

    def send(self, url, body: str) -> str:
        return self._call("/send", {"url": url, "body": body})["message_id"]

    def queue_state(self, url) -> dict:
        """{"visible", "in_flight", "deleted", "receives"}"""
        return self._call("/queue?" + urllib.parse.urlencode({"url": url}))

    def log(self) -> list[dict]:
        return self._call("/log")

    def clear_log(self):
        self._call("/log/clear", {})

    def set_clock_offset(self, seconds: float):
        self._call("/clock", {"offset_seconds": seconds})


def self_check():
    """Proves verify() against botocore's own signers (SigV4Auth for SQS/STS, S3SigV4Auth for
    S3), including a key that needs encoding, a query string and a session token; raises
    AssertionError if the two canonicalisations disagree."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    st = State()
    st.principals["AKIDSELFCHECK"] = {"key": "AKIDSELFCHECK", "secret": "s3cr3t/+=",
                                      "token": "TOKEN+/=", "policy": None, "account": "1",
                                      "arn": "arn:aws:iam::1:user/x",
                                      "expires": st.now() + datetime.timedelta(hours=1)}
    creds = Credentials("AKIDSELFCHECK", "s3cr3t/+=", "TOKEN+/=")
    cases = [
        (S3SigV4Auth, "s3", "eu-west-1", "GET",
         "https://b.s3.eu-west-1.amazonaws.com/AWSLogs/a%20b%2Bc%3Dd/%C3%A9.json.gz?versionId=x%2By",
         b""),
        (SigV4Auth, "sqs", "us-west-2", "POST", "https://sqs.us-west-2.amazonaws.com/",
         b'{"QueueUrl":"x"}'),
        (SigV4Auth, "sts", "us-east-1", "POST", "https://sts.us-east-1.amazonaws.com/",
         b"Action=GetCallerIdentity&Version=2011-06-15"),
        (SigV4Auth, "cloudtrail", "eu-west-1", "POST", "https://cloudtrail.eu-west-1.amazonaws.com/",
         b'{"StartTime":1,"EndTime":2}'),
        (S3SigV4Auth, "s3", "us-east-1", "GET",
         "https://b.s3.us-east-1.amazonaws.com/?list-type=2&prefix=AWSLogs%2Fa%20b&max-keys=5"
         "&encoding-type=url", b""),
    ]
    for signer, service, region, method, url, body in cases:
        r = AWSRequest(method=method, url=url, data=body,
                       headers={"Content-Type": "application/x-amz-json-1.0"})
        signer(creds, service, region).add_auth(r)
        p = r.prepare()
        u = urllib.parse.urlsplit(p.url)
        headers = {"host": [u.netloc]}
        for k, v in p.headers.items():
            headers[k.lower()] = [v.decode() if isinstance(v, bytes) else v]
        when = _amz_time(headers["x-amz-date"][0])
        got = verify(st, method, u.path, u.query, headers, body, service, region, when)
        assert got["key"] == "AKIDSELFCHECK", got
        headers["authorization"] = [headers["authorization"][0][:-4] + "0000"]
        try:
            verify(st, method, u.path, u.query, headers, body, service, region, when)
        except AuthError as e:
            assert e.kind == "signature", e.kind
        else:
            raise AssertionError("a wrong signature was accepted")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve" and sys.argv[2] == "--dir":
        serve(Path(sys.argv[3]))
    elif sys.argv[1:] == ["self-check"]:
        self_check()
        print("strict_aws: verify() agrees with botocore's signers")
    else:
        print(__doc__)
        sys.exit(2)
