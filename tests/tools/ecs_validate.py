#!/usr/bin/env python3
"""ECS document validator: checks JSON documents against ECS's published field definitions.

Contract
- The reference is ECS's generated `ecs_flat.yml` (default tests/data/ecs-8.17.0/
  ecs_flat-8.17.0.yml): every field by its dotted name with its type, `normalize` and, for the
  categorisation fields, the allowed values.
- validate(doc) returns the violations of one document as "<field.path>: <what>" strings (empty
  when valid); validate_detailed(doc) returns Violation objects with a stable `kind` too.
- Checked:
  * every leaf (the dotted path of nested objects; dotted keys are accepted too) is an ECS field,
    unless it is under a custom namespace (first path segment; default `aws`, `trailwarden`);
  * the custom namespaces are checked too, names and types, against their own field lists:
    `aws.*` against Elastic's AWS integration (CloudTrail data stream) field names and types,
    written down as facts in tests/data/elastic-aws-cloudtrail-fields.json (its `_source` says
    from where); `trailwarden.*` against TRAILWARDEN_FIELDS below (what outputs/ecs_document.cpp
    writes). An unknown name, a wrong type (boolean "yes", date "not a date", flattened as a
    string) is a violation; `group` objects may be arrays of objects (aws.cloudtrail.resources);
    a namespace given with --custom that has no field list is not checked;
  * values fit the field type: keyword, constant_keyword, wildcard, match_only_text, text ->
    string; long, integer, short, byte, unsigned_long -> integer; float, half_float,
    scaled_float, double -> number; boolean; date -> ISO 8601 string or epoch milliseconds; ip ->
    an IPv4 or IPv6 address (no zone); geo_point -> {lat, lon}, "lat,lon", [lon, lat] or WKT
    POINT; object, flattened -> object (a flattened value with inner objects nested deeper
    than Elasticsearch's default depth_limit, 20, is refused); nested -> object or array of
    objects; a field's `pattern` when ECS gives one (whole value, ASCII);
  * arrays only where ECS normalises the field to an array (`normalize: [array]`) or on
    keyword fields (Elasticsearch takes arrays of any field; ECS documents the others as single
    values); never on event.kind and event.outcome;
  * the categorisation fields event.kind, event.category, event.type, event.outcome use their
    allowed values; event.category and event.type are arrays; each event.type must be expected
    (ecs_flat's `expected_event_types`) by at least one of the document's event.category values
    that lists expected types. This is Elastic's own rule (Kibana's automatic-import
    categorisation check reports a type "not compatible with any of the event.category"): ECS
    documents expected types per category and lets an event sit in several categories, so
    category [authentication, api] with type [denied] is valid (api expects denied), and a
    type no category expects is not;
  * `@timestamp` is present, `ecs.version` is present and 8.x; nulls are violations.
- CLI: ecs_validate.py [--schema FILE] [--custom NS ...] FILE|- ... (NDJSON). Prints
  "<doc#> <field.path>: <what>" per violation and a summary line; exit 1 if any violation,
  0 otherwise, 2 on usage errors.

Needs PyYAML (python3-yaml).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import ipaddress
import json
import os
import re
import sys
from typing import Any

import yaml

DEFAULT_SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                              "ecs-8.17.0", "ecs_flat-8.17.0.yml")
DEFAULT_CUSTOM = ("aws", "trailwarden")
AWS_FIELDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                          "elastic-aws-cloudtrail-fields.json")
# trailwarden.* as outputs/ecs_document.cpp writes it (name -> Elasticsearch type). Optional all;
# time_unparsed, original_time and truncated_fields are the normaliser's marks of a time it could
# not read and of fields it shortened.
TRAILWARDEN_FIELDS = {
    "trailwarden.finding_uid": "keyword", "trailwarden.correlation_uid": "keyword",
    "trailwarden.severity": "keyword", "trailwarden.route": "keyword",
    "trailwarden.verified": "boolean", "trailwarden.bucket": "keyword",
    "trailwarden.key": "keyword", "trailwarden.eventbridge_event_id": "keyword",
    "trailwarden.notification": "keyword", "trailwarden.ecs_degraded": "keyword",
    "trailwarden.truncated": "boolean", "trailwarden.original_bytes": "long",
    "trailwarden.time_unparsed": "boolean", "trailwarden.original_time": "keyword",
    "trailwarden.truncated_fields": "keyword", "trailwarden.kind": "keyword",
    # an integrity finding's evidence (agent/normalize/integrity_finding.h)
    **{f"trailwarden.integrity.{k}": "keyword" for k in (
        "check", "reason", "digest_key", "chain", "expected_sha256", "actual_sha256",
        "fingerprint", "unit", "error")},
    "trailwarden.integrity.from": "date", "trailwarden.integrity.to": "date",
}
TRAILWARDEN_ALLOWED = {"trailwarden.ecs_degraded": {"finding", "record"},
                       "trailwarden.kind": {"alarm", "integrity"},
                       "trailwarden.route": {"s3", "eventbridge", "unknown"}}

STRING_TYPES = {"keyword", "constant_keyword", "wildcard", "match_only_text", "text"}
INT_TYPES = {"long": (-2**63, 2**63 - 1), "integer": (-2**31, 2**31 - 1),
             "short": (-2**15, 2**15 - 1), "byte": (-2**7, 2**7 - 1),
             "unsigned_long": (0, 2**64 - 1)}
FLOAT_TYPES = {"float", "half_float", "scaled_float", "double"}
SINGLE_VALUED = {"event.kind", "event.outcome"}
# Elasticsearch's flattened type refuses a value whose inner objects nest deeper than its
# mapping's depth_limit (default 20; neither ECS nor Elastic's CloudTrail fields set another)
FLATTENED_DEPTH_LIMIT = 20
CATEGORISATION = ("event.kind", "event.category", "event.type", "event.outcome")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"
                      r"(?:[Zz]|[+-]\d{2}:?\d{2})?)?", re.ASCII)
WKT_POINT = re.compile(r"^\s*POINT\s*\(\s*-?\d+(?:\.\d+)?\s+-?\d+(?:\.\d+)?\s*\)\s*$", re.I)


@dataclasses.dataclass(frozen=True)
class Violation:
    kind: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<document>'}: {self.message}"


def generic_path(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


class EcsSchema:
    def __init__(self, path: str = DEFAULT_SCHEMA):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path, encoding="utf-8") as f:
            self.fields: dict[str, dict] = yaml.load(f, Loader=loader)
        # every dotted prefix of a field name: objects that may hold fields
        self.prefixes: set[str] = set()
        for name in self.fields:
            parts = name.split(".")
            for i in range(1, len(parts)):
                self.prefixes.add(".".join(parts[:i]))
        self.allowed = {name: {v["name"] for v in f.get("allowed_values", [])}
                        for name, f in self.fields.items() if f.get("allowed_values")}
        self.expected_types = {v["name"]: set(v.get("expected_event_types") or [])
                               for v in self.fields["event.category"]["allowed_values"]}


class CustomFields:
    """The field list of custom namespaces (name -> Elasticsearch type), checked like ECS's."""

    def __init__(self, fields: dict[str, str], allowed: dict[str, set[str]] | None = None):
        self.fields = {name: {"type": t} for name, t in fields.items()}
        self.allowed = allowed or {}
        self.prefixes: set[str] = set()
        for name in fields:
            parts = name.split(".")
            for i in range(1, len(parts)):
                self.prefixes.add(".".join(parts[:i]))

    @classmethod
    def default(cls, aws_path: str = AWS_FIELDS) -> "CustomFields":
        with open(aws_path, encoding="utf-8") as f:
            aws = json.load(f)["fields"]
        bad = [n for n in aws if not n.startswith("aws.")]
        if bad:
            raise ValueError(f"{aws_path}: fields outside aws.*: {bad}")
        return cls({**aws, **TRAILWARDEN_FIELDS}, TRAILWARDEN_ALLOWED)


class Validator:
    def __init__(self, schema: EcsSchema, custom: tuple[str, ...] | list[str] = DEFAULT_CUSTOM,
                 custom_fields: CustomFields | None = None):
        self.schema = schema
        self.custom = set(custom)
        self.custom_fields = custom_fields if custom_fields is not None else CustomFields.default()
        # the custom namespaces that have a field list are checked against it
        self.checked_custom = {n.split(".")[0] for n in self.custom_fields.fields} & self.custom

    def validate(self, doc: Any) -> list[Violation]:
        out: list[Violation] = []
        if not isinstance(doc, dict):
            return [Violation("wrong_type", "", "a document must be a JSON object")]
        values: dict[str, Any] = {}
        self._walk(doc, "", "", out, values)
        if "@timestamp" not in values:
            out.append(Violation("missing_required", "@timestamp", "required field is missing"))
        version = values.get("ecs.version")
        if version is None:
            out.append(Violation("missing_required", "ecs.version", "required field is missing"))
        elif not (isinstance(version, str) and re.fullmatch(r"8\.\d+\.\d+(?:-\w+)?", version)):
            out.append(Violation("version", "ecs.version",
                                 f"{version!r} is not an ECS 8.x version"))
        self._categorisation(values, out)
        return out

    # --- walking -------------------------------------------------------------------------------

    def _walk(self, obj: dict, field: str, path: str, out: list[Violation],
              values: dict[str, Any]) -> None:
        for key, value in obj.items():
            f = f"{field}.{key}" if field else key
            p = f"{path}.{key}" if path else key
            ns = f.split(".")[0]
            if ns in self.checked_custom:
                self._walk_custom(key, value, f, p, out)
                continue
            if ns in self.custom:
                continue
            spec = self.schema.fields.get(f)
            if spec is not None and spec["type"] in ("object", "nested") \
                    and f in self.schema.prefixes and isinstance(value, (dict, list)):
                # an object field with ECS fields of its own (log.syslog, dns.answers)
                items = value if isinstance(value, list) else [value]
                if isinstance(value, list) and spec["type"] != "nested" \
                        and "array" not in (spec.get("normalize") or []):
                    out.append(Violation("array_not_allowed", p,
                                         f"{f} (object) is a single object in ECS, got an array"))
                for i, item in enumerate(items):
                    ip = f"{p}[{i}]" if isinstance(value, list) else p
                    if isinstance(item, dict):
                        self._walk(item, f, ip, out, values)
                    else:
                        out.append(Violation("wrong_type", ip, f"{f} must hold objects, got "
                                             f"{_json_type(item)}"))
            elif spec is not None:
                values[f] = value
                self._check_field(value, f, spec, p, out)
            elif f in self.schema.prefixes:
                if isinstance(value, dict):
                    self._walk(value, f, p, out, values)
                else:
                    out.append(Violation("wrong_type", p, f"{f} holds ECS fields: must be an "
                                         f"object, got {_json_type(value)}"))
            else:
                out.append(Violation("unknown_field", p, f"{f} is not an ECS field (custom "
                                     f"fields go under {', '.join(sorted(self.custom))})"))

    def _walk_custom(self, key: str, value: Any, f: str, p: str, out: list[Violation]) -> None:
        """A key of a custom namespace with a field list: groups hold fields (an object, or an
        array of objects), leaves are checked by their type like ECS fields."""
        cf = self.custom_fields
        spec = cf.fields.get(f)
        if spec is not None:
            if value is None:
                out.append(Violation("null_value", p, "is null (leave the field out)"))
                return
            if isinstance(value, list) and spec["type"] not in ("keyword", "flattened"):
                out.append(Violation("array_not_allowed", p,
                                     f"{f} ({spec['type']}) is a single value, got an array"))
                return
            for i, v in enumerate(value if isinstance(value, list) else [value]):
                ip = f"{p}[{i}]" if isinstance(value, list) else p
                if v is None:
                    out.append(Violation("null_value", ip, "is null (leave the field out)"))
                    continue
                self._check_value(v, f, spec, ip, out, cf.allowed)
        elif f in cf.prefixes:
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                ip = f"{p}[{i}]" if isinstance(value, list) else p
                if not isinstance(item, dict):
                    out.append(Violation("wrong_type", ip, f"{f} holds fields: must be an "
                                         f"object, got {_json_type(item)}"))
                    continue
                for k, v in item.items():
                    self._walk_custom(k, v, f"{f}.{k}", f"{ip}.{k}", out)
        else:
            ns = f.split(".")[0]
            source = ("Elastic's AWS CloudTrail integration fields" if ns == "aws"
                      else f"the {ns}.* field list")
            out.append(Violation("unknown_field", p, f"{f} is not a field of {source}"))

    def _check_field(self, value: Any, field: str, spec: dict, path: str,
                     out: list[Violation]) -> None:
        t = spec["type"]
        if isinstance(value, list) and t not in ("nested", "geo_point"):
            arrays_ok = "array" in (spec.get("normalize") or []) or \
                (t == "keyword" and field not in SINGLE_VALUED)
            if not arrays_ok:
                out.append(Violation("array_not_allowed", path,
                                     f"{field} ({t}) is a single value in ECS, got an array"))
                return
            for i, v in enumerate(value):
                self._check_value(v, field, spec, f"{path}[{i}]", out)
            return
        if field in ("event.category", "event.type") and not isinstance(value, list):
            out.append(Violation("array_required", path, f"{field} must be an array"))
        self._check_value(value, field, spec, path, out)

    def _check_value(self, v: Any, field: str, spec: dict, path: str,
                     out: list[Violation], allowed_values: dict | None = None) -> None:
        t = spec["type"]
        if v is None:
            out.append(Violation("null_value", path, "is null (leave the field out)"))
            return

        def bad(expect: str) -> None:
            out.append(Violation("wrong_type", path,
                                 f"{field} is {t}: must be {expect}, got {_json_type(v)} "
                                 f"{_short(v)}"))

        if t in STRING_TYPES:
            if not isinstance(v, str):
                return bad("a string")
            if spec.get("pattern") and not re.fullmatch(spec["pattern"], v, re.ASCII):
                out.append(Violation("bad_format", path,
                                     f"{_short(v)} does not match {spec['pattern']}"))
            allowed = (self.schema.allowed if allowed_values is None
                       else allowed_values).get(field)
            if allowed and v not in allowed:
                out.append(Violation("allowed_values", path,
                                     f"{_short(v)} is not an allowed {field} value "
                                     f"({', '.join(sorted(allowed))})"))
            if t == "constant_keyword" and spec.get("value") is not None and v != spec["value"]:
                out.append(Violation("allowed_values", path, f"must be {spec['value']!r}"))
        elif t in INT_TYPES:
            lo, hi = INT_TYPES[t]
            if not _is_int(v):
                return bad("an integer")
            if not lo <= v <= hi:
                out.append(Violation("out_of_range", path, f"{v} does not fit {t}"))
        elif t in FLOAT_TYPES:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                return bad("a number")
        elif t == "boolean":
            if not isinstance(v, bool):
                return bad("true or false")
        elif t == "date":
            if _is_int(v):
                return  # epoch milliseconds
            if not isinstance(v, str):
                return bad("an ISO 8601 string or epoch milliseconds")
            if not _valid_date(v):
                out.append(Violation("bad_format", path, f"{_short(v)} is not an ISO 8601 date"))
        elif t == "ip":
            if not isinstance(v, str):
                return bad("an IP address string")
            try:
                if "%" in v:  # a zone: Elasticsearch's ip type refuses it
                    raise ValueError(v)
                ipaddress.ip_address(v)
            except ValueError:
                out.append(Violation("bad_format", path,
                                     f"{_short(v)} is not an IPv4 or IPv6 address"))
        elif t == "geo_point":
            if not _valid_geo(v):
                out.append(Violation("bad_format", path, f"{_short(v)} is not a geo_point"))
        elif t in ("object", "flattened"):
            if not isinstance(v, dict):
                return bad("an object")
            depth = _inner_depth(v)
            if t == "flattened" and depth > FLATTENED_DEPTH_LIMIT:
                out.append(Violation("flattened_depth", path,
                                     f"{field} is flattened: {depth} levels of inner objects, "
                                     f"Elasticsearch refuses the document above its "
                                     f"depth_limit {FLATTENED_DEPTH_LIMIT}"))
            if t == "object" and spec.get("object_type") == "keyword":
                for k, x in v.items():
                    if not isinstance(x, str):
                        out.append(Violation("wrong_type", f"{path}.{k}",
                                             f"{field} values are keywords: must be strings"))
        elif t == "nested":
            items = v if isinstance(v, list) else [v]
            for i, x in enumerate(items):
                if not isinstance(x, dict):
                    out.append(Violation("wrong_type", f"{path}[{i}]" if isinstance(v, list)
                                         else path, f"{field} is nested: must hold objects"))
        else:
            out.append(Violation("schema", path, f"{field} has a type this validator does not "
                                 f"know: {t}"))

    def _categorisation(self, values: dict[str, Any], out: list[Violation]) -> None:
        cats = values.get("event.category")
        types = values.get("event.type")
        if not isinstance(cats, list) or not isinstance(types, list):
            return
        expected: set[str] = set()
        for c in cats:
            expected |= self.schema.expected_types.get(c, set()) if isinstance(c, str) else set()
        if not expected:
            return
        for i, t in enumerate(types):
            if isinstance(t, str) and t in self.schema.allowed.get("event.type", ()) \
                    and t not in expected:
                out.append(Violation("categorisation", f"event.type[{i}]",
                                     f"{t!r} is not an event.type that event.category "
                                     f"{cats} expects ({', '.join(sorted(expected))})"))


def _valid_date(s: str) -> bool:
    if not ISO_DATE.fullmatch(s):
        return False
    try:
        datetime.datetime.fromisoformat(s.replace(",", ".").replace("z", "Z"))
    except ValueError:
        return False
    return True


def _inner_depth(v: Any) -> int:
    """How deep objects nest inside v (arrays are transparent): {"a": 1} is 0, {"a": {"b": 1}}
    is 1. Iterative: the values checked may be deeper than Python's recursion limit."""
    deepest = 0
    stack = [(v, -1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            d += 1
            deepest = max(deepest, d)
            stack.extend((y, d) for y in x.values())
        elif isinstance(x, list):
            stack.extend((y, d) for y in x)
    return deepest


def _valid_geo(v: Any) -> bool:
    def num(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if isinstance(v, dict):
        return set(v) == {"lat", "lon"} and num(v["lat"]) and num(v["lon"]) \
            and -90 <= v["lat"] <= 90 and -180 <= v["lon"] <= 180
    if isinstance(v, list):
        return len(v) == 2 and all(num(x) for x in v) and -180 <= v[0] <= 180 \
            and -90 <= v[1] <= 90
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*", v)
        if m:
            return -90 <= float(m.group(1)) <= 90 and -180 <= float(m.group(2)) <= 180
        return bool(WKT_POINT.match(v))
    return False


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _short(v: Any, n: int = 60) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "...\""


_DEFAULT: Validator | None = None


def default_validator() -> Validator:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Validator(EcsSchema(DEFAULT_SCHEMA), DEFAULT_CUSTOM)
    return _DEFAULT


def validate_detailed(doc: Any) -> list[Violation]:
    """Violations of one ECS document against tests/data/ecs-8.17.0 (custom: aws, trailwarden)."""
    return default_validator().validate(doc)


def validate(doc: Any) -> list[str]:
    """The violations of one document as "<field.path>: <what>" strings; empty when valid."""
    return [str(v) for v in validate_detailed(doc)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Validate NDJSON ECS documents.")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="ECS ecs_flat.yml")
    ap.add_argument("--custom", action="append",
                    help="custom top-level namespace (repeatable; default: aws, trailwarden)")
    ap.add_argument("-q", "--quiet", action="store_true", help="only the summary line")
    ap.add_argument("files", nargs="+", help="NDJSON files, '-' for standard input")
    args = ap.parse_args(argv)
    custom = tuple(x for c in (args.custom or DEFAULT_CUSTOM) for x in c.split(",") if x)
    v = Validator(EcsSchema(args.schema), custom)
    docs = bad = violations = 0
    for fn in args.files:
        f = sys.stdin if fn == "-" else open(fn, encoding="utf-8")
        with f:
            for line in f:
                if not line.strip():
                    continue
                docs += 1
                try:
                    errs = [str(x) for x in v.validate(json.loads(line))]
                except json.JSONDecodeError as e:
                    errs = [f"not JSON: {e}"]
                if errs:
                    bad += 1
                    violations += len(errs)
                    if not args.quiet:
                        for e in errs:
                            print(f"{docs} {e}")
    print(f"ecs_validate: {docs} documents, {docs - bad} valid, {bad} invalid, "
          f"{violations} violations (ECS reference {os.path.basename(args.schema)})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
