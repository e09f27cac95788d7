#!/usr/bin/env python3
"""A signed CloudTrail trail, written to disk exactly as CloudTrail puts it in S3: log files,
hourly digest files chained by previousDigestHashValue/Signature and signed with test RSA keys
(SHA256withRSA over the documented signing string), the digests' object metadata, and the public
keys CloudTrail's ListPublicKeys would return. Each scenario damages the trail in one way and
states what a verifier must report (trail.json), for the AWS CLI's `validate-logs` (Debian
awscli 2.9.19, which tests/integration/test_awscli_trail.py checks against it) and as the plain
truth for trailwarden's own checks (issue 14).

    python3 trailgen.py SCENARIO DIR [--bucket B] [--prefix P]      (or: --list)

    import trailgen
    trail = trailgen.generate("logmod", out_dir)        # returns trail.json's content
    trailgen.upload_to_fauxqs(fx, out_dir)              # objects + metadata into fauxqs S3

Output (DIR):
  objects/<bucket>/<key>   the exact bytes S3 holds (gzip, mtime 0)
  metadata.json            {"<bucket>/<key>": {"signature": hex, "signature-algorithm":
                           "SHA256withRSA"}} for every digest that has its metadata
  keys.json                {"<region>": [{"Value": base64 DER, "ValidityStartTime": epoch,
                           "ValidityEndTime": epoch, "Fingerprint": hex MD5 of the DER}]}
                           (what ListPublicKeys answers; peers/cloudtrail_standin.py serves it)
  trail.json               the trail (ARN, bucket, prefix, account, regions, time range), every
                           file with its truth, and the expected `validate-logs` result per
                           source region (see expectations())

trail.json: scenario, description, trail_arn, trail_name, account, home_region, regions, bucket,
prefix, start_time, end_time, key_format ("pkcs1"|"spki"), keys {name: {region, published,
fingerprint, valid_from, valid_to}}, chains {region: [digest s3:// URIs, oldest first]},
damaged [URIs], whole (no file damaged and no gap), describe_trails (DescribeTrails' entry),
files {"s3://b/k": {kind "digest"|"log", region, state, present, signed, sha256 (uncompressed;
for a log the hash its digest lists), hour; digests: start, end, starting, logFiles [URIs],
key (signing key's name), fingerprint; logs: digest (URI), eventIDs, cis49_eventIDs,
oldestEventTime, newestEventTime}}, expected {"validate_logs": {region: {files {URI: "valid" |
"INVALID: <reason>"} (only the files the CLI names), gaps [[from, to]], digests {valid,
invalid}, logs {valid, invalid}, results_found [from, to] | null, exit_code}}}.
States: intact; log: modified, corrupt, deleted; digest: deleted, resigned_unknown_key,
resigned_wrong_key, modified, no_signature.

Every run with the same arguments writes the same bytes: fixed times (2026-11-20), ids and key
names from a seeded generator, RSA keys derived from a seed (derive_key: seeded primes, then
Python `cryptography` for DER encoding and signing; PKCS#1 v1.5 signatures are deterministic).
Works with Debian's /usr/bin/python3 (python3-cryptography 38, installed with awscli) and newer.

The trail: account 111122223333, trail "management", home region us-east-1. Per source region a
chain of five digests ending at 01:00, 02:00, ... 05:00 (plus the region's seconds offset); the
first is a starting digest (all five previousDigest* null), the one ending at 03:00 covers an
hour without log files (logFiles []), the others list two log files of three AWS Config
records each (one log file per chain holds StopConfigurationRecorder, CIS 4.9). The home
region's key rotates at 03:30: digests up to 03:00 are signed with key "a", later ones with key
"b"; both are published. The "attacker" key is never published.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime
import gzip
import hashlib
import json
import random
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG_RECORDS_FILE = ROOT / "tests" / "data" / "cloudtrail" / "awsdocs_config.json"

ACCOUNT = "111122223333"
TRAIL_NAME = "management"
HOME_REGION = "us-east-1"
DAY = datetime.date(2026, 11, 20)
START_TIME = "2026-11-20T00:00:00Z"   # the range a verifier is asked for
END_TIME = "2026-11-20T06:00:00Z"
HOURS = (1, 2, 3, 4, 5)               # digest end hours of each chain
EMPTY_HOUR = 3                         # the digest ending then lists no log files
TARGET_HOUR = 4                        # the digest the digest scenarios damage
LOG_HOUR = 2                           # the digest whose first log file the log scenarios damage
ROTATION = datetime.datetime(2026, 11, 20, 3, 30, tzinfo=datetime.timezone.utc)
SECONDS_OFFSET = {"us-east-1": 31, "us-west-2": 137, "eu-west-1": 74}  # digests end at HH:MM:SS
SIGNATURE_ALGORITHM = "SHA256withRSA"
CIS49 = {"StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel",
         "PutConfigurationRecorder"}

SCENARIOS: dict[str, str] = {
    "intact": "nothing damaged: every digest and log file valid",
    "logmod": "a log file's uncompressed content changed (one byte), re-gzipped",
    "logflip": "a byte of a log file's compressed data flipped (gzip no longer reads)",
    "logdel": "a log file deleted",
    "digdel": "a digest in the middle of the chain deleted",
    "newestdel": "the newest digest deleted (nothing links to it: the CLI cannot see it)",
    "resignfp": "a digest re-signed with an unpublished key, naming that key's fingerprint",
    "resignsame": "a digest re-signed with an unpublished key, naming the real key's fingerprint",
    "digmod": "a digest's content changed (a listed log file's hash), signature kept",
    "nosig": "a digest's signature metadata missing",
    "gap": "an hour without a digest, the next digest a starting digest (logging restarted)",
    "multiregion": "two source regions of one multi-region trail (home us-east-1), under a "
                   "key prefix; both chains intact",
    "spki": "intact, but the published keys are SubjectPublicKeyInfo DER, not PKCS#1",
}


class TrailgenError(RuntimeError):
    """A scenario or an argument trailgen does not know."""


# ---- keys ----------------------------------------------------------------------------------

def _is_probable_prime(n: int, rng: random.Random) -> bool:
    for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(40):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random, e: int) -> int:
    while True:
        c = rng.getrandbits(bits) | (3 << (bits - 2)) | 1   # top two bits set: n has 2*bits
        if c % e != 1 and _is_probable_prime(c, rng):
            return c


@lru_cache(maxsize=None)
def derive_key(name: str, bits: int = 2048):
    """The RSA private key (a `cryptography` object) named `name`: the same key for the same
    name, in every process (primes from random.Random("trailgen-key:" + name)). Test keys only."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    rng = random.Random(f"trailgen-key:{name}:{bits}")
    e = 65537
    p = _prime(bits // 2, rng, e)
    q = _prime(bits // 2, rng, e)
    while q == p:
        q = _prime(bits // 2, rng, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                    rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


def public_der(private_key, fmt: str = "pkcs1") -> bytes:
    """The public half as DER: "pkcs1" (RSAPublicKey, what ListPublicKeys documents) or "spki"
    (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization
    f = {"pkcs1": serialization.PublicFormat.PKCS1,
         "spki": serialization.PublicFormat.SubjectPublicKeyInfo}[fmt]
    return private_key.public_key().public_bytes(serialization.Encoding.DER, f)


def fingerprint(der: bytes) -> str:
    """CloudTrail's key fingerprint: hex MD5 of the DER bytes of the published key."""
    return hashlib.md5(der).hexdigest()


def sign(private_key, message: bytes) -> str:
    """Hex RSASSA-PKCS1-v1_5 SHA-256 signature, as x-amz-meta-signature holds it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()


def string_to_sign(digest: dict, inflated: bytes) -> bytes:
    """The signing string of AWS's "custom validation" documentation as the CLI builds it:
    digestEndTime, bucket/key, hex SHA-256 of the uncompressed digest bytes, the previous
    signature or the literal "null" (a starting digest)."""
    return (f"{digest['digestEndTime']}\n{digest['digestS3Bucket']}/{digest['digestS3Object']}\n"
            f"{hashlib.sha256(inflated).hexdigest()}\n"
            f"{digest['previousDigestSignature'] or 'null'}").encode()


@dataclass(frozen=True)
class KeySpec:
    name: str                  # derive_key name
    region: str
    valid_from: datetime.datetime
    valid_to: datetime.datetime
    published: bool = True


def _utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.timezone.utc)


def key_specs(regions: list[str]) -> list[KeySpec]:
    """The keys of a trail over `regions`: per region one key valid 30 days around the test day;
    the home region's rotating at ROTATION; one unpublished attacker key."""
    specs = []
    for region in regions:
        if region == HOME_REGION:
            specs.append(KeySpec(f"{region}/a", region, ROTATION - datetime.timedelta(days=30),
                                 ROTATION))
            specs.append(KeySpec(f"{region}/b", region, ROTATION,
                                 ROTATION + datetime.timedelta(days=30)))
        else:
            specs.append(KeySpec(f"{region}/a", region, _utc(2026, 11, 1), _utc(2026, 12, 1)))
    specs.append(KeySpec("attacker", HOME_REGION, _utc(2026, 11, 1), _utc(2026, 12, 1),
                         published=False))
    return specs


def signing_key_for(specs: list[KeySpec], region: str, when: datetime.datetime) -> KeySpec:
    for s in specs:
        if s.published and s.region == region and s.valid_from <= when < s.valid_to:
            return s
    raise TrailgenError(f"no key of region {region} is valid at {when}")


# ---- names and times --------------------------------------------------------------------------

def iso(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(t: datetime.datetime) -> int:
    return int(t.timestamp())


def parse_iso(s: str) -> datetime.datetime:
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def digest_end(region: str, hour: int) -> datetime.datetime:
    off = SECONDS_OFFSET.get(region, 45)
    return _utc(DAY.year, DAY.month, DAY.day, hour, off // 60, off % 60)


def _with_prefix(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key


def digest_key(prefix: str, region: str, end: datetime.datetime) -> str:
    """[prefix/]AWSLogs/<acct>/CloudTrail-Digest/<src>/<Y>/<M>/<D>/<acct>_CloudTrail-Digest_<src>_
    <trail>_<home>_<YYYYMMDDTHHMMSSZ>.json.gz, dated by the digest's end time."""
    return _with_prefix(prefix, (
        f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/"
        f"{ACCOUNT}_CloudTrail-Digest_{region}_{TRAIL_NAME}_{HOME_REGION}_{end:%Y%m%dT%H%M%SZ}"
        ".json.gz"))


def log_key(prefix: str, region: str, delivered: datetime.datetime, unique: str) -> str:
    """[prefix/]AWSLogs/<acct>/CloudTrail/<region>/<Y>/<M>/<D>/<acct>_CloudTrail_<region>_
    <YYYYMMDDTHHmmZ>_<16 characters>.json.gz"""
    return _with_prefix(prefix, (
        f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
        f"{ACCOUNT}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"))


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# ---- building a trail ---------------------------------------------------------------------------

@dataclass
class TrailFile:
    bucket: str
    key: str
    kind: str                 # "digest" | "log"
    region: str
    body: bytes | None        # what S3 holds; None once deleted
    state: str = "intact"
    metadata: dict | None = None
    digest: str | None = None  # log: the s3:// URI of the digest listing it
    info: dict = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@lru_cache(maxsize=1)
def _config_records() -> list[dict]:
    return json.loads(CONFIG_RECORDS_FILE.read_text())["Records"]


def _log_records(region: str, delivered: datetime.datetime, index: int,
                 rng: random.Random) -> list[dict]:
    source = _config_records()
    picks = [source[(index * 3 + m) % len(source)] for m in range(3)]
    if index == 3 and not any(r["eventName"] == "StopConfigurationRecorder" for r in picks):
        # every chain's fourth log file holds StopConfigurationRecorder (CIS 4.9)
        picks[-1] = next(x for x in source if x["eventName"] == "StopConfigurationRecorder")
    out = []
    for m, picked in enumerate(picks):
        r = copy.deepcopy(picked)
        old_account = r.get("recipientAccountId")
        if old_account:
            r = json.loads(json.dumps(r).replace(old_account, ACCOUNT))
        r["eventTime"] = iso(delivered - datetime.timedelta(minutes=5 - m,
                                                            seconds=rng.randrange(60)))
        r["awsRegion"] = region
        r["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        r["requestID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.append(r)
    return out


def _unique(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                   for _ in range(16))


class Trail:
    """One generated trail: files by URI in creation order, the keys, the scenario."""

    def __init__(self, scenario: str, bucket: str, prefix: str, regions: list[str],
                 key_format: str):
        self.scenario, self.bucket, self.prefix = scenario, bucket, prefix
        self.regions, self.key_format = regions, key_format
        self.keys = key_specs(regions)
        self.files: dict[str, TrailFile] = {}
        self.rng = random.Random(f"trailgen:{scenario}:{bucket}:{prefix}")
        self.chains: dict[str, list[str]] = {}   # region -> digest URIs, oldest first

    def add(self, f: TrailFile) -> TrailFile:
        self.files[f.uri] = f
        return f

    def published_der(self, spec: KeySpec) -> bytes:
        return public_der(derive_key(spec.name), self.key_format)

    def fingerprint_of(self, spec: KeySpec) -> str:
        return fingerprint(self.published_der(spec))

    def spec(self, name: str) -> KeySpec:
        return next(s for s in self.keys if s.name == name)

    def build_chain(self, region: str, hours=HOURS, starting=(HOURS[0],), empty=(EMPTY_HOUR,)):
        prev = None
        uris = []
        log_index = 0
        for h in hours:
            end = digest_end(region, h)
            start = end - datetime.timedelta(hours=1)
            logs = []
            if h not in empty:
                for n in range(2):
                    delivered = start + datetime.timedelta(minutes=10 + 25 * n)
                    records = _log_records(region, delivered, log_index, self.rng)
                    raw = compact({"Records": records})
                    lf = self.add(TrailFile(self.bucket, log_key(self.prefix, region, delivered,
                                                                 _unique(self.rng)),
                                            "log", region, gz(raw)))
                    times = sorted(r["eventTime"] for r in records)
                    lf.info = {"sha256": hashlib.sha256(raw).hexdigest(),
                               "oldestEventTime": times[0], "newestEventTime": times[-1],
                               "eventIDs": [r["eventID"] for r in records],
                               "cis49_eventIDs": [r["eventID"] for r in records
                                                  if r["eventName"] in CIS49]}
                    logs.append(lf)
                    log_index += 1
            first = prev is None or h in starting
            spec = signing_key_for(self.keys, region, end)
            key = digest_key(self.prefix, region, end)
            d = {
                "awsAccountId": ACCOUNT,
                "digestStartTime": iso(start),
                "digestEndTime": iso(end),
                "digestS3Bucket": self.bucket,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": self.fingerprint_of(spec),
                "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
                "newestEventTime": max(f.info["newestEventTime"] for f in logs) if logs else None,
                "oldestEventTime": min(f.info["oldestEventTime"] for f in logs) if logs else None,
                "previousDigestS3Bucket": None if first else self.bucket,
                "previousDigestS3Object": None if first else prev["key"],
                "previousDigestHashValue": None if first else prev["hash"],
                "previousDigestHashAlgorithm": None if first else "SHA-256",
                "previousDigestSignature": None if first else prev["signature"],
                "logFiles": [{"s3Bucket": f.bucket, "s3Object": f.key,
                              "hashValue": f.info["sha256"], "hashAlgorithm": "SHA-256",
                              "newestEventTime": f.info["newestEventTime"],
                              "oldestEventTime": f.info["oldestEventTime"]} for f in logs],
            }
            df = self.add(TrailFile(self.bucket, key, "digest", region, None))
            self.seal(df, d, spec)
            df.info.update({"hour": h, "start": iso(start), "end": iso(end),
                            "starting": first, "logFiles": [f.uri for f in logs],
                            "key": spec.name})
            for f in logs:
                f.digest = df.uri
                f.info["hour"] = h
            prev = {"key": key, "hash": df.info["sha256"], "signature": df.metadata["signature"]}
            uris.append(df.uri)
        self.chains[region] = uris

    def seal(self, df: TrailFile, d: dict, spec: KeySpec, fp: str | None = None,
             signer: KeySpec | None = None, content: bytes | None = None) -> None:
        """Serialises digest `d` (or takes `content` as its uncompressed bytes), signs it with
        `signer` (default `spec`) and stores body, metadata and hash in `df`."""
        if fp is not None:
            d["digestPublicKeyFingerprint"] = fp
        raw = content if content is not None else compact(d)
        sig = sign(derive_key((signer or spec).name), string_to_sign(d, raw))
        df.body = gz(raw)
        df.metadata = {"signature": sig, "signature-algorithm": SIGNATURE_ALGORITHM}
        df.info["sha256"] = hashlib.sha256(raw).hexdigest()
        df.info["fingerprint"] = d["digestPublicKeyFingerprint"]
        df.info["json"] = d

    def digest_at(self, region: str, hour: int) -> TrailFile:
        return next(self.files[u] for u in self.chains[region]
                    if self.files[u].info["hour"] == hour)

    def first_log_of(self, digest: TrailFile) -> TrailFile:
        return self.files[digest.info["logFiles"][0]]


def _damage(t: Trail) -> None:
    """Applies the scenario's damage to the home region's chain."""
    s, region = t.scenario, HOME_REGION
    if s in ("logmod", "logflip", "logdel"):
        lf = t.first_log_of(t.digest_at(region, LOG_HOUR))
        if s == "logmod":
            raw = gzip.decompress(lf.body)
            i = raw.index(b'"eventName":"') + len(b'"eventName":"')
            raw = raw[:i] + bytes([raw[i] ^ 0x20]) + raw[i + 1:]   # first letter's case
            lf.body, lf.state = gz(raw), "modified"
        elif s == "logflip":
            body = bytearray(lf.body)
            body[len(body) // 2] ^= 0x01
            lf.body, lf.state = bytes(body), "corrupt"
        else:
            lf.body, lf.state = None, "deleted"
    elif s in ("digdel", "newestdel"):
        df = t.digest_at(region, TARGET_HOUR if s == "digdel" else HOURS[-1])
        df.body, df.metadata, df.state = None, None, "deleted"
    elif s in ("resignfp", "resignsame", "digmod", "nosig"):
        df = t.digest_at(region, TARGET_HOUR)
        d = copy.deepcopy(df.info["json"])
        spec = t.spec(df.info["key"])
        attacker = t.spec("attacker")
        if s == "resignfp":
            t.seal(df, d, spec, fp=t.fingerprint_of(attacker), signer=attacker)
            df.state = "resigned_unknown_key"
        elif s == "resignsame":
            t.seal(df, d, spec, signer=attacker)
            df.state = "resigned_wrong_key"
        elif s == "digmod":
            signature = df.metadata
            d["logFiles"][0]["hashValue"] = hashlib.sha256(b"the attacker's log").hexdigest()
            raw = compact(d)
            df.body = gz(raw)
            df.metadata = signature               # the signature of the original content
            df.info["json"], df.info["sha256"] = d, hashlib.sha256(raw).hexdigest()
            df.state = "modified"
        else:
            df.metadata, df.state = None, "no_signature"


def _build(scenario: str, bucket: str, prefix: str | None) -> Trail:
    if scenario not in SCENARIOS:
        raise TrailgenError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    regions = [HOME_REGION, "us-west-2"] if scenario == "multiregion" else [HOME_REGION]
    if prefix is None:
        prefix = "org-logs/cloudtrail" if scenario == "multiregion" else ""
    prefix = prefix.strip("/")
    t = Trail(scenario, bucket, prefix, regions, "spki" if scenario == "spki" else "pkcs1")
    for region in regions:
        if scenario == "gap" and region == HOME_REGION:
            # hour EMPTY_HOUR missing altogether; the next digest starts a new chain
            t.build_chain(region, hours=[h for h in HOURS if h != EMPTY_HOUR],
                          starting=(HOURS[0], EMPTY_HOUR + 1), empty=())
        else:
            t.build_chain(region, empty=(EMPTY_HOUR,) if region == HOME_REGION else (2,))
    _damage(t)
    return t


# ---- what a verifier must say -------------------------------------------------------------------

CLI_MESSAGES = {
    ("log", "modified"): "INVALID: hash value doesn't match",
    ("log", "corrupt"): "INVALID: invalid format",
    ("log", "deleted"): "INVALID: not found",
    ("digest", "deleted"): "INVALID: not found",
    ("digest", "resigned_wrong_key"): "INVALID: signature verification failed",
    ("digest", "modified"): "INVALID: signature verification failed",
    ("digest", "no_signature"): "INVALID: signature verification failed",
}


def _cli_expectation(t: Trail, region: str) -> dict:
    """What `aws cloudtrail validate-logs --region REGION --verbose` (2.9.19) reports, by the
    CLI's own walk (awscli/customizations/cloudtrail/validation.py): from the newest digest it
    can list, newest to oldest along previousDigestS3Object; a missing or invalid digest is
    reported and the walk goes on at the next older listed digest (its log files are never
    fetched); a starting digest with older digests listed is a gap; a deleted newest digest is
    never seen."""
    chain = [t.files[u] for u in t.chains[region]]
    listed = [f for f in chain if f.state != "deleted"]
    files: dict[str, str] = {}
    gaps: list[list[str]] = []
    found_end = found_start = None
    d = listed[-1] if listed else None
    digests_ok = digests_bad = logs_ok = logs_bad = 0

    def older_listed(than: TrailFile):
        older = [f for f in listed if f.info["end"] < than.info["end"]]
        return older[-1] if older else None

    while d is not None:
        if d.state != "intact":
            if d.state == "resigned_unknown_key":
                files[d.uri] = (f"INVALID: public key not found in region {HOME_REGION} for "
                                f"fingerprint {d.info['fingerprint']}")
            else:
                files[d.uri] = CLI_MESSAGES[("digest", d.state)]
            digests_bad += 1
            d = older_listed(d)
            continue
        files[d.uri] = "valid"
        digests_ok += 1
        found_end = found_end or d.info["end"]
        found_start = d.info["start"]
        for uri in d.info["logFiles"]:
            lf = t.files[uri]
            files[uri] = "valid" if lf.state == "intact" else CLI_MESSAGES[("log", lf.state)]
            if lf.state == "intact":
                logs_ok += 1
            else:
                logs_bad += 1
        if d.info["starting"]:
            nxt = older_listed(d)
            if nxt is not None:
                gaps.append([nxt.info["end"], d.info["start"]])
            d = nxt
        else:
            prev_uri = f"s3://{t.bucket}/{d.info['json']['previousDigestS3Object']}"
            d = t.files[prev_uri]
    return {
        "files": files,
        "gaps": gaps,
        "digests": {"valid": digests_ok, "invalid": digests_bad},
        "logs": {"valid": logs_ok, "invalid": logs_bad},
        "results_found": [max(found_start, START_TIME), min(found_end, END_TIME)]
        if found_end else None,
        "exit_code": 1 if digests_bad or logs_bad else 0,
    }


def expectations(t: Trail) -> dict:
    return {region: _cli_expectation(t, region) for region in t.regions}


# ---- writing -------------------------------------------------------------------------------------

def _trail_json(t: Trail) -> dict:
    arn = f"arn:aws:cloudtrail:{HOME_REGION}:{ACCOUNT}:trail/{TRAIL_NAME}"
    files = {}
    for f in t.files.values():
        entry = {"kind": f.kind, "region": f.region, "state": f.state,
                 "present": f.body is not None, "signed": f.metadata is not None}
        info = {k: v for k, v in f.info.items() if k != "json"}
        entry.update(info)
        if f.digest:
            entry["digest"] = f.digest
        files[f.uri] = entry
    damaged = [u for u, f in t.files.items() if f.state != "intact"]
    return {
        "scenario": t.scenario,
        "description": SCENARIOS[t.scenario],
        "trail_arn": arn,
        "trail_name": TRAIL_NAME,
        "account": ACCOUNT,
        "home_region": HOME_REGION,
        "regions": t.regions,
        "bucket": t.bucket,
        "prefix": t.prefix,
        "start_time": START_TIME,
        "end_time": END_TIME,
        "key_format": t.key_format,
        "keys": {s.name: {"region": s.region, "published": s.published,
                          "fingerprint": t.fingerprint_of(s),
                          "valid_from": iso(s.valid_from), "valid_to": iso(s.valid_to)}
                 for s in t.keys},
        "chains": t.chains,
        "damaged": damaged,
        "whole": not damaged and t.scenario != "gap",
        "files": files,
        "describe_trails": describe_trail(t),
        "expected": {"validate_logs": expectations(t)},
    }


def describe_trail(t: Trail) -> dict:
    """The trail as CloudTrail's DescribeTrails lists it (trailList entry)."""
    entry = {
        "Name": TRAIL_NAME,
        "S3BucketName": t.bucket,
        "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": len(t.regions) > 1,
        "HomeRegion": HOME_REGION,
        "TrailARN": f"arn:aws:cloudtrail:{HOME_REGION}:{ACCOUNT}:trail/{TRAIL_NAME}",
        "LogFileValidationEnabled": True,
        "HasCustomEventSelectors": False,
        "HasInsightSelectors": False,
        "IsOrganizationTrail": False,
    }
    if t.prefix:
        entry["S3KeyPrefix"] = t.prefix
    return entry


def keys_json(t: Trail) -> dict:
    """ListPublicKeys' answer per region: the published keys."""
    out: dict[str, list] = {r: [] for r in t.regions}
    for s in t.keys:
        if s.published:
            der = t.published_der(s)
            out[s.region].append({"Value": base64.b64encode(der).decode(),
                                  "ValidityStartTime": epoch(s.valid_from),
                                  "ValidityEndTime": epoch(s.valid_to),
                                  "Fingerprint": fingerprint(der)})
    return out


def generate(scenario: str, out_dir, *, bucket: str | None = None,
             prefix: str | None = None) -> dict:
    """Writes the trail of `scenario` to `out_dir` (emptied first) and returns trail.json's
    content. `bucket` defaults to "tw-<scenario>-trail"; `prefix` to the scenario's ("" but for
    multiregion)."""
    bucket = bucket or f"tw-{scenario}-trail"
    t = _build(scenario, bucket, prefix)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "objects").mkdir(parents=True)
    metadata = {}
    for f in t.files.values():
        if f.body is None:
            continue
        path = out / "objects" / f.bucket / f.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.body)
        if f.metadata is not None:
            metadata[f"{f.bucket}/{f.key}"] = f.metadata
    trail = _trail_json(t)
    (out / "metadata.json").write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n")
    (out / "keys.json").write_text(json.dumps(keys_json(t), indent=1) + "\n")
    (out / "trail.json").write_text(json.dumps(trail, indent=1) + "\n")
    return trail


def load(out_dir) -> dict:
    """trail.json of a generated trail."""
    return json.loads((Path(out_dir) / "trail.json").read_text())


def stored_objects(out_dir) -> list[tuple[str, str, bytes, dict]]:
    """(bucket, key, bytes, metadata) of every object of a generated trail, in key order."""
    out = Path(out_dir)
    metadata = json.loads((out / "metadata.json").read_text())
    objects = []
    root = out / "objects"
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        bucket, key = path.relative_to(root).parts[0], "/".join(path.relative_to(root).parts[1:])
        objects.append((bucket, key, path.read_bytes(), metadata.get(f"{bucket}/{key}", {})))
    return objects


def upload_to_fauxqs(fx, out_dir, *, create_bucket: bool = True) -> int:
    """Puts every object of a generated trail into the fauxqs S3 emulator `fx` (a started
    peers/fauxqs.Fauxqs) with its user metadata (x-amz-meta-signature, -signature-algorithm),
    creating the buckets first. Checks that fauxqs returns the metadata; returns the count."""
    objects = stored_objects(out_dir)
    if create_bucket:
        for bucket in sorted({b for b, _, _, _ in objects}):
            fx.create_bucket(bucket)
    for bucket, key, data, meta in objects:
        fx.s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=meta)
    for bucket, key, data, meta in objects:
        if meta:
            got = fx.s3.head_object(Bucket=bucket, Key=key)["Metadata"]
            if got != meta:
                raise TrailgenError(f"fauxqs returned metadata {got} for s3://{bucket}/{key}, "
                                    f"stored {meta}")
    return len(objects)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Write a signed CloudTrail trail (see the module "
                                            "docstring).")
    p.add_argument("scenario", nargs="?", help=f"one of: {', '.join(SCENARIOS)}")
    p.add_argument("dir", nargs="?", help="output directory (emptied first)")
    p.add_argument("--bucket")
    p.add_argument("--prefix")
    p.add_argument("--list", action="store_true", help="list the scenarios")
    a = p.parse_args(argv)
    if a.list:
        for name, what in SCENARIOS.items():
            print(f"{name:12} {what}")
        return 0
    if not a.scenario or not a.dir:
        p.error("SCENARIO and DIR are required")
    try:
        trail = generate(a.scenario, a.dir, bucket=a.bucket, prefix=a.prefix)
    except TrailgenError as e:
        print(f"trailgen: {e}", file=sys.stderr)
        return 2
    n = sum(1 for f in trail["files"].values() if f["present"])
    print(f"trailgen: {a.scenario}: {n} objects in {a.dir}/objects/{trail['bucket']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
