#!/usr/bin/env python3
"""OCSF event validator: checks JSON events against an OCSF schema source tree.

Contract
- The schema is the tree of the ocsf/ocsf-schema repository (or a subset of it), by default
  tests/data/ocsf-1.4.0. A class is compiled from it the way the OCSF server does: the class's
  `extends` chain (detection_finding -> finding -> base_event), objects extending others
  (hidden `_entity`, `_resource`, `_dns` included), `$include`d profile files whose attributes
  carry their profile's name (a class or object may lift that with `"profile": null`), every
  attribute merged over its dictionary.json definition (type, enum, is_array, sibling,
  `@deprecated`), enums of the dictionary, parents and children merged, and a `<name>_dt`
  attribute (datetime_t, profile `datetime`, optional) for each timestamp_t attribute.
- validate(doc) returns the violations of one event as "<json.path>: <what>" strings (empty when
  valid); validate_detailed(doc) returns Violation objects with a stable `kind` too.
- Checked: class_uid/class_name/category_uid/category_name, type_uid = class_uid*100 +
  activity_id and type_name, metadata.version and metadata.profiles (known profiles only; an
  attribute of a profile the event does not declare is a violation), required attributes
  (recursively), unknown attributes (anything goes inside `unmapped`, `json_t` values and
  objects of the generic type `object`), deprecated attributes, types (base types and the
  derived types' regex/max_len/range/values; a regex must match the whole value, ASCII only;
  datetime_t is parsed as RFC 3339 (zone required, a real date and time), ip_t by Python's
  ipaddress), `<name>_dt` equal to its timestamp sibling to the millisecond when both are
  present, arrays only where is_array, enum ids and their caption siblings (free text for 99
  Other; a caption without its id is a violation), `at_least_one` and `just_one` constraints,
  nulls, and observables: the name an attribute path of the class that is present in the
  event, the value that attribute's, the type_id the observable type the schema declares for
  it (see Validator._check_observables).
- CLI: ocsf_validate.py [--schema DIR] [--class UID] FILE|- ... (NDJSON, one event a line).
  Prints "<doc#> <json.path>: <what>" per violation and a summary line; exit 1 if any
  violation (or an unreadable line), 0 otherwise, 2 on usage errors.

Standard library only (Python 3.11).
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
from typing import Any, Iterable

DEFAULT_SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                              "ocsf-1.4.0")
DEFAULT_CLASS = 2004

INT32 = (-2**31, 2**31 - 1)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
INT64 = (-2**63, 2**63 - 1)


@dataclasses.dataclass(frozen=True)
class Violation:
    kind: str     # stable label for grouping: "missing_required", "unknown_attribute", ...
    path: str     # JSON path of the offending value ("evidences[0].actor.user")
    message: str  # what is wrong, with the value or the expectation

    def __str__(self) -> str:
        return f"{self.path or '<event>'}: {self.message}"


def generic_path(path: str) -> str:
    """The path with array indexes dropped ("resources[3].uid" -> "resources[].uid")."""
    return re.sub(r"\[\d+\]", "[]", path)


def _merge_attr(base: dict, over: dict) -> dict:
    """One attribute definition over another: keys replace, enums are merged."""
    out = dict(base)
    for k, v in over.items():
        if k == "enum" and isinstance(v, dict) and isinstance(out.get("enum"), dict):
            enum = dict(out["enum"])
            for ek, ev in v.items():
                enum[ek] = {**enum.get(ek, {}), **ev}
            out["enum"] = enum
        else:
            out[k] = v
    return out


def _merge_attrs(base: dict, over: dict) -> dict:
    out = dict(base)
    for name, a in over.items():
        out[name] = _merge_attr(out.get(name, {}), a)
    return out


class Schema:
    """An OCSF schema source tree, compiled on demand (classes and objects are cached)."""

    def __init__(self, root: str = DEFAULT_SCHEMA):
        self.root = os.path.abspath(root)
        with open(os.path.join(self.root, "dictionary.json"), encoding="utf-8") as f:
            d = json.load(f)
        self.dictionary: dict = d["attributes"]
        self.types: dict = d["types"]["attributes"]
        with open(os.path.join(self.root, "categories.json"), encoding="utf-8") as f:
            self.categories: dict = json.load(f)["attributes"]
        with open(os.path.join(self.root, "version.json"), encoding="utf-8") as f:
            self.version: str = json.load(f)["version"]
        self._events = self._load_dir("events")
        self._objects = self._load_dir("objects")
        self._profiles = self._load_dir("profiles")
        self._compiled_objects: dict[str, dict] = {}
        self._compiled_classes: dict[str, dict] = {}

    def _load_dir(self, sub: str) -> dict[str, dict]:
        out = {}
        for dirpath, _, files in os.walk(os.path.join(self.root, sub)):
            for fn in sorted(files):
                if fn.endswith(".json"):
                    with open(os.path.join(dirpath, fn), encoding="utf-8") as f:
                        item = json.load(f)
                    out[item["name"]] = item
        return out

    @property
    def profile_names(self) -> set[str]:
        return set(self._profiles)

    # --- compilation -------------------------------------------------------------------------

    def _own_attributes(self, item: dict) -> dict:
        """The item's attributes with its $include files applied (profile attributes tagged)."""
        attrs = dict(item.get("attributes", {}))
        included: dict = {}
        for rel in attrs.pop("$include", []):
            with open(os.path.join(self.root, rel), encoding="utf-8") as f:
                inc = json.load(f)
            inc_attrs = self._own_attributes(inc)
            if inc.get("meta") == "profile":
                inc_attrs = {k: {**v, "profile": v.get("profile", inc["name"])}
                             for k, v in inc_attrs.items()}
            included = _merge_attrs(included, inc_attrs)
        return _merge_attrs(included, attrs)

    def _finish(self, attrs: dict) -> dict:
        """Merges each attribute over its dictionary definition and adds the *_dt attributes."""
        out = {}
        for name, a in attrs.items():
            merged = _merge_attr(self.dictionary.get(name, {}), a)
            if "type" not in merged:
                raise ValueError(f"schema: attribute {name!r} has no type in dictionary.json")
            out[name] = merged
        for name, a in list(out.items()):
            if a["type"] == "timestamp_t":
                dt = {k: v for k, v in a.items() if k not in ("enum", "sibling", "observable")}
                dt.update(type="datetime_t", profile="datetime", requirement="optional")
                out.setdefault(name + "_dt", dt)
        return out

    def compile_object(self, name: str) -> dict:
        if name in self._compiled_objects:
            return self._compiled_objects[name]
        raw = self._objects.get(name)
        if raw is None:
            raise ValueError(f"schema: no object {name!r}")
        attrs = self._own_attributes(raw)
        constraints = raw.get("constraints")
        deprecated = raw.get("@deprecated")
        parent_name = raw.get("extends")
        if parent_name:
            parent = self.compile_object(parent_name)
            attrs = _merge_attrs(parent["_raw_attributes"], attrs)
            if not constraints:
                constraints = parent["constraints"]
        finished = self._finish(attrs)
        if name == "observable" and "type_id" in finished:
            finished["type_id"] = _merge_attr(finished["type_id"],
                                              {"enum": self.observable_type_ids()})
        compiled = {"name": name, "caption": raw.get("caption", name),
                    "_raw_attributes": attrs, "attributes": finished,
                    "constraints": constraints or {}, "@deprecated": deprecated}
        self._compiled_objects[name] = compiled
        return compiled

    def observable_type_ids(self) -> dict[str, dict]:
        """The observable object's type_id enum as the OCSF server generates it: the ids that
        dictionary types and attributes, objects, object attributes and class attributes
        declare with `observable`, with the server's captions. (Only the classes and objects
        of this schema tree: a subset knows the observables of what it holds.)"""
        ids: dict[str, dict] = {}

        def put(uid: Any, caption: str) -> None:
            ids.setdefault(str(uid), {"caption": caption})

        for t in self.types.values():
            if "observable" in t:
                put(t["observable"], t.get("caption", ""))
        for a in self.dictionary.values():
            if "observable" in a:
                put(a["observable"], a.get("caption", ""))
        for name, o in self._objects.items():
            caption = self._caption(self._objects, o, name)
            if "observable" in o:
                put(o["observable"], caption)
            for key, a in o.get("attributes", {}).items():
                if isinstance(a, dict) and "observable" in a:
                    put(a["observable"], f"{caption} Object: {key}")
        for name, c in self._events.items():
            caption = self._caption(self._events, c, name)
            for key, a in c.get("attributes", {}).items():
                if isinstance(a, dict) and "observable" in a:
                    put(a["observable"], f"{caption} Class: {key}")
            for path, uid in (c.get("observables") or {}).items():
                put(uid, f"{caption} Class: {path}")
        return ids

    def class_observables(self, name: str) -> dict[str, int]:
        """The class's `observables` (attribute path -> type id), its parents' included."""
        out: dict[str, int] = {}
        item = self._events.get(name)
        chain = []
        while item is not None:
            chain.append(item)
            item = self._events.get(item.get("extends", ""))
        for c in reversed(chain):
            out.update(c.get("observables") or {})
        return out

    def object_observable(self, name: str) -> int | None:
        """The observable type id an object declares (through `extends`), None if none."""
        item = self._objects.get(name)
        while item is not None:
            if "observable" in item:
                return item["observable"]
            item = self._objects.get(item.get("extends", ""))
        return None

    @staticmethod
    def _caption(items: dict, item: dict, name: str) -> str:
        while item is not None and not item.get("caption"):
            item = items.get(item.get("extends", ""))
        return item["caption"] if item else name

    def _class_item(self, uid: int) -> tuple[dict, dict] | None:
        for item in self._events.values():
            if "uid" not in item and item["name"] != "base_event":
                continue
            cat = self.categories.get(self._category_of(item))
            cat_uid = cat["uid"] if cat else 0
            class_uid = cat_uid * 1000 + item.get("uid", 0)
            if class_uid == uid:
                return item, {"uid": cat_uid, "caption": cat["caption"] if cat else "Other"}
        return None

    def _category_of(self, item: dict) -> str:
        while item is not None:
            if item.get("category"):
                return item["category"]
            item = self._events.get(item.get("extends", ""))
        return "other"

    def compile_class(self, uid: int) -> dict:
        key = str(uid)
        if key in self._compiled_classes:
            return self._compiled_classes[key]
        found = self._class_item(uid)
        if found is None:
            raise ValueError(f"schema: no event class with uid {uid}")
        item, category = found
        chain = []
        cur: dict | None = item
        while cur is not None:
            chain.append(cur)
            cur = self._events.get(cur["extends"]) if cur.get("extends") else None
        attrs: dict = {}
        constraints: dict = {}
        for c in reversed(chain):
            attrs = _merge_attrs(attrs, self._own_attributes(c))
            constraints = c.get("constraints") or constraints
        activities = {}
        finished = self._finish(attrs)
        for name in ("class_uid", "category_uid", "type_uid"):
            # their values are the compiled class's, checked by _check_classification
            if name in finished:
                finished[name] = {k: v for k, v in finished[name].items() if k != "enum"}
        for k, v in finished.get("activity_id", {}).get("enum", {}).items():
            activities[int(k)] = v["caption"]
        compiled = {"uid": uid, "name": item["name"], "caption": item["caption"],
                    "category": category, "attributes": finished, "constraints": constraints,
                    "activities": activities, "@deprecated": item.get("@deprecated")}
        self._compiled_classes[key] = compiled
        return compiled


class Validator:
    def __init__(self, schema: Schema, class_uid: int | None = DEFAULT_CLASS):
        self.schema = schema
        self.class_uid = class_uid
        self._regex_cache: dict[str, re.Pattern] = {}

    # --- entry point -------------------------------------------------------------------------

    def validate(self, doc: Any) -> list[Violation]:
        out: list[Violation] = []
        if not isinstance(doc, dict):
            return [Violation("wrong_type", "", f"an event must be a JSON object, not "
                              f"{_json_type(doc)}")]
        uid = doc.get("class_uid")
        if self.class_uid is not None:
            if uid != self.class_uid:
                out.append(Violation("class", "class_uid",
                                     f"is {uid!r}, expected {self.class_uid}"))
            uid = self.class_uid
        if not isinstance(uid, int) or isinstance(uid, bool):
            return out + [Violation("missing_required" if uid is None else "wrong_type",
                                    "class_uid", "required integer class_uid is missing"
                                    if uid is None else f"must be an integer, got {uid!r}")]
        try:
            cls = self.schema.compile_class(uid)
        except ValueError as e:
            return out + [Violation("class", "class_uid", str(e))]

        profiles = self._profiles(doc, out)
        self._check_object(doc, cls["attributes"], cls["constraints"], "", profiles, out)
        self._check_classification(doc, cls, out)
        self._check_observables(doc, cls, profiles, out)
        return out

    def _check_observables(self, doc: dict, cls: dict, profiles: set[str],
                           out: list[Violation]) -> None:
        """Each observable names an attribute of the class and of this event, and says what it
        holds.

        - name: the dotted path of an attribute of the class, through objects, as the OCSF
          server checks. An array attribute may be written in any of the three forms later OCSF
          versions spell out: `resources[0].uid` (that element), `resources[].uid` and
          `resources.uid` (any element); an index on an attribute that is not an array is
          refused. The attribute must be present in the event (at that index, or in some
          element).
        - value: for a scalar attribute, the attribute's value (some element's, for the `[]` and
          no-index forms; numbers and booleans as their JSON text); for an object attribute no
          value (the OCSF observable object: "If the name refers to an object attribute, then
          the value is not populated").
        - type_id: the observable type the schema declares for that attribute, the most specific
          declaration first: the class's `observables` path, the attribute's own `observable`
          (class or object attribute, else the dictionary attribute's), the attribute type's
          `observable` (dictionary types), and for an object attribute the object's
          `observable`. An attribute with no declared observable type is 99 Other (or 0
          Unknown). (In OCSF 1.4.0 no attribute declares one id on itself and another by its
          type or object, so the order only matters for other schema versions.)"""
        observables = doc.get("observables")
        if not isinstance(observables, list):
            return
        class_paths = self.schema.class_observables(cls["name"])
        for i, ob in enumerate(observables):
            name = ob.get("name") if isinstance(ob, dict) else None
            if not isinstance(name, str):
                continue
            where = f"observables[{i}]"
            resolved = self._resolve_observable(doc, cls, name, profiles)
            if resolved is None:
                out.append(Violation("observable_name", f"{where}.name",
                                     f"{name!r} does not refer to an attribute of class "
                                     f"{cls['name']}"))
                continue
            attr, values = resolved
            if not values:
                out.append(Violation("observable_missing", f"{where}.name",
                                     f"{name!r} is not in the event"))
                continue
            is_object = attr["type"] not in self.schema.types
            if is_object:
                if "value" in ob:
                    out.append(Violation("observable_value", f"{where}.value",
                                         f"{name!r} is an object ({attr['type']}): an "
                                         f"observable of an object has no value"))
            elif "value" in ob and not any(_observable_text(v) == ob["value"] for v in values):
                shown = ", ".join(_short(v, 40) for v in values[:3])
                out.append(Violation("observable_value", f"{where}.value",
                                     f"{_short(ob['value'])} is not the value of {name} "
                                     f"({shown}{', ...' if len(values) > 3 else ''})"))
            generic = re.sub(r"\[\d*\]", "", name)
            declared = self.declared_observable(attr, class_paths.get(generic))
            type_id = ob.get("type_id")
            if not _is_int(type_id):
                continue
            # Where the schema declares no observable type for the attribute (resources[].uid is a
            # plain string_t in 1.4.0), the producer chooses among the enum's ids (checked as an
            # enum): e.g. 10 Resource UID, the type resource_uid_t's own id, for a resource's uid.
            if declared is not None and type_id != declared:
                out.append(Violation("observable_type", f"{where}.type_id",
                                     f"is {type_id}, but {name} is observable type {declared}"))

    def declared_observable(self, attr: dict, class_path: int | None = None) -> int | None:
        """The observable type id the schema declares for a compiled attribute (see
        _check_observables for the order), None when it declares none."""
        if class_path is not None:
            return class_path
        if "observable" in attr:
            return attr["observable"]
        t = attr["type"]
        if t in self.schema.types:
            chain_t: str | None = t
            while chain_t:
                td = self.schema.types.get(chain_t, {})
                if "observable" in td:
                    return td["observable"]
                chain_t = td.get("type")
            return None
        return self.schema.object_observable(t)

    def _resolve_observable(self, doc: dict, cls: dict, name: str,
                            profiles: set[str]) -> tuple[dict, list] | None:
        """(the compiled attribute, the values the name reaches in doc), or None when the name
        is no attribute path of the class."""
        attrs = cls["attributes"]
        current: list = [doc]
        parts = name.split(".")
        a: dict | None = None
        for j, part in enumerate(parts):
            m = re.fullmatch(r"([A-Za-z0-9_]+)(\[(\d*)\])?", part, re.ASCII)
            a = attrs.get(m.group(1)) if m else None
            if a is None or (a.get("profile") is not None and a["profile"] not in profiles):
                return None
            if m.group(2) is not None and not a.get("is_array"):
                return None
            nxt: list = []
            for obj in current:
                if not isinstance(obj, dict) or m.group(1) not in obj:
                    continue
                v = obj[m.group(1)]
                if a.get("is_array") and isinstance(v, list):
                    if m.group(3):
                        idx = int(m.group(3))
                        if idx < len(v):
                            nxt.append(v[idx])
                    else:
                        nxt.extend(v)
                elif v is not None:
                    nxt.append(v)
            current = nxt
            if j < len(parts) - 1:
                if a["type"] in self.schema.types or a["type"] == "object":
                    return None
                attrs = self.schema.compile_object(a["type"])["attributes"]
        assert a is not None
        return a, current

    # --- parts -------------------------------------------------------------------------------

    def _profiles(self, doc: dict, out: list[Violation]) -> set[str]:
        md = doc.get("metadata")
        profiles = md.get("profiles") if isinstance(md, dict) else None
        if profiles is None:
            return set()
        if not isinstance(profiles, list):
            return set()  # reported as wrong_type by the attribute check
        known = self.schema.profile_names
        result = set()
        for i, p in enumerate(profiles):
            if isinstance(p, str):
                if p not in known:
                    out.append(Violation("unknown_profile", f"metadata.profiles[{i}]",
                                         f"unknown profile {p!r}"))
                result.add(p)
        return result

    def _check_classification(self, doc: dict, cls: dict, out: list[Violation]) -> None:
        def check_eq(attr: str, expected: Any) -> None:
            if attr in doc and doc[attr] != expected:
                out.append(Violation("classification", attr,
                                     f"is {doc[attr]!r}, expected {expected!r}"))

        check_eq("class_name", cls["caption"])
        check_eq("category_uid", cls["category"]["uid"])
        check_eq("category_name", cls["category"]["caption"])
        activity = doc.get("activity_id")
        type_uid = doc.get("type_uid")
        if _is_int(activity):
            expected = cls["uid"] * 100 + activity
            if "type_uid" in doc and type_uid != expected:
                out.append(Violation("type_uid", "type_uid",
                                     f"is {type_uid!r}, expected {expected} (class_uid "
                                     f"{cls['uid']} * 100 + activity_id {activity})"))
            caption = cls["activities"].get(activity)
            if caption is not None and activity != 99:
                check_eq("type_name", f"{cls['caption']}: {caption}")
        md = doc.get("metadata")
        if isinstance(md, dict) and isinstance(md.get("version"), str) \
                and md["version"] != self.schema.version:
            out.append(Violation("version", "metadata.version",
                                 f"is {md['version']!r}, the schema is {self.schema.version}"))

    def _check_object(self, obj: dict, attrs: dict, constraints: dict, path: str,
                      profiles: set[str], out: list[Violation]) -> None:
        def sub(name: str) -> str:
            return f"{path}.{name}" if path else name

        for name, a in attrs.items():
            prof = a.get("profile")
            if a.get("requirement") == "required" and name not in obj \
                    and (prof is None or prof in profiles):
                out.append(Violation("missing_required", sub(name),
                                     "required attribute is missing"))
        for name, value in obj.items():
            a = attrs.get(name)
            if a is None:
                out.append(Violation("unknown_attribute", sub(name),
                                     "unknown attribute (not in the schema here)"))
                continue
            prof = a.get("profile")
            if prof is not None and prof not in profiles:
                out.append(Violation("profile_not_declared", sub(name),
                                     f"attribute of profile {prof!r}, which metadata.profiles "
                                     f"does not declare"))
            if a.get("@deprecated"):
                d = a["@deprecated"]
                msg = " ".join(re.sub(r"<[^>]+>", "", d.get("message", "")).split())
                out.append(Violation("deprecated", sub(name),
                                     f"deprecated since {d.get('since', '?')}: {msg}"))
            self._check_value(value, a, sub(name), profiles, out)
        self._check_constraints(obj, constraints, path, out)
        # <name>_dt: the same instant as its timestamp sibling, to the millisecond
        for name, value in obj.items():
            base = name[:-3] if name.endswith("_dt") else None
            if not base or attrs.get(base, {}).get("type") != "timestamp_t" \
                    or not isinstance(value, str) or not _is_int(obj.get(base)):
                continue
            dt = parse_datetime(value)
            if dt is None:
                continue  # reported as bad_format
            ms = (dt - _EPOCH) // datetime.timedelta(milliseconds=1)
            if ms != obj[base]:
                out.append(Violation("datetime_mismatch", sub(name),
                                     f"{value!r} is {ms} ms, but {base} is {obj[base]}"))
        # enum captions: id attribute with a sibling present in the same object; a caption
        # without its id says nothing the schema can check (the id is the value, the caption
        # its label), so it is a violation
        for name, a in attrs.items():
            sib = a.get("sibling")
            enum = a.get("enum")
            if sib and enum and sib in obj and name not in obj:
                out.append(Violation("caption_without_id", sub(sib),
                                     f"{sib} is given without {name} (the caption of an enum "
                                     f"needs its id)"))
            if not sib or not enum or name not in obj or sib not in obj:
                continue
            v = obj[name]
            if not _is_int(v) or str(v) not in enum or v == 99:
                continue
            caption = enum[str(v)].get("caption")
            if obj[sib] != caption:
                out.append(Violation("enum_caption", sub(sib),
                                     f"is {obj[sib]!r}, but {name} {v} is {caption!r}"))

    def _check_constraints(self, obj: dict, constraints: dict, path: str,
                           out: list[Violation]) -> None:
        where = path or "<event>"
        for kind, names in (constraints or {}).items():
            present = [n for n in names if obj.get(n) is not None]
            if kind == "at_least_one" and not present:
                out.append(Violation("constraint_at_least_one", where,
                                     f"needs at least one of {', '.join(names)} (none present)"))
            elif kind == "just_one" and len(present) != 1:
                out.append(Violation("constraint_just_one", where,
                                     f"needs exactly one of {', '.join(names)} "
                                     f"({len(present)} present)"))
            elif kind not in ("at_least_one", "just_one"):
                out.append(Violation("schema", where, f"unknown constraint {kind!r}"))

    def _check_value(self, value: Any, a: dict, path: str, profiles: set[str],
                     out: list[Violation]) -> None:
        if a.get("is_array"):
            if not isinstance(value, list):
                out.append(Violation("wrong_type", path,
                                     f"must be an array, got {_json_type(value)}"))
                return
            for i, v in enumerate(value):
                self._check_one(v, a, f"{path}[{i}]", profiles, out)
        else:
            if isinstance(value, list) and a["type"] != "json_t":
                out.append(Violation("wrong_type", path, "must not be an array"))
                return
            self._check_one(value, a, path, profiles, out)

    def _check_one(self, value: Any, a: dict, path: str, profiles: set[str],
                   out: list[Violation]) -> None:
        t = a["type"]
        if t == "json_t":
            return
        if value is None:
            out.append(Violation("null_value", path, "is null (leave the attribute out)"))
            return
        if t not in self.schema.types:  # an object
            if not isinstance(value, dict):
                out.append(Violation("wrong_type", path,
                                     f"must be an object ({t}), got {_json_type(value)}"))
                return
            if t == "object":
                return  # free-form (unmapped and the like)
            obj = self.schema.compile_object(t)
            if obj.get("@deprecated"):
                out.append(Violation("deprecated", path, f"object {t} is deprecated"))
            self._check_object(value, obj["attributes"], obj["constraints"], path, profiles,
                               out)
            return
        self._check_scalar(value, t, path, out)
        enum = a.get("enum")
        if enum and _is_int(value) and str(value) not in enum:
            out.append(Violation("enum_value", path,
                                 f"{value} is not one of {', '.join(sorted(enum, key=int))}"))
        elif enum and isinstance(value, str) and not _is_int_text(next(iter(enum))) \
                and value not in enum:
            out.append(Violation("enum_value", path, f"{value!r} is not an allowed value"))

    def _check_scalar(self, value: Any, t: str, path: str, out: list[Violation]) -> None:
        chain = []
        cur = t
        while cur:
            chain.append(cur)
            cur = self.schema.types.get(cur, {}).get("type")
        base = chain[-1]
        ok = {
            "string_t": lambda v: isinstance(v, str),
            "integer_t": lambda v: _is_int(v) and INT32[0] <= v <= INT32[1],
            "long_t": lambda v: _is_int(v) and INT64[0] <= v <= INT64[1],
            "float_t": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean_t": lambda v: isinstance(v, bool),
        }.get(base)
        if ok is None:
            out.append(Violation("schema", path, f"type {t} has no base type"))
            return
        if not ok(value):
            out.append(Violation("wrong_type", path,
                                 f"must be {t} ({base}), got {_json_type(value)} {_short(value)}"))
            return
        for name in chain:  # the most derived type's constraints first
            td = self.schema.types.get(name, {})
            if "max_len" in td and isinstance(value, str) and len(value) > td["max_len"]:
                out.append(Violation("bad_format", path,
                                     f"{_short(value)} is longer than {name}'s {td['max_len']}"))
            if name in _STRICT_FORMATS and isinstance(value, str):
                if not _STRICT_FORMATS[name](value):
                    out.append(Violation("bad_format", path,
                                         f"{_short(value)} is not a valid {name}"))
            elif "regex" in td and isinstance(value, str) \
                    and not self._regex(td["regex"]).fullmatch(value):
                out.append(Violation("bad_format", path,
                                     f"{_short(value)} is not a valid {name}"))
            if "range" in td and _is_int(value) \
                    and not td["range"][0] <= value <= td["range"][1]:
                out.append(Violation("out_of_range", path,
                                     f"{value} is outside {name}'s range {td['range']}"))
            if "values" in td and value not in td["values"]:
                out.append(Violation("wrong_type", path, f"{_short(value)} is not a {name}"))

    def _regex(self, text: str) -> re.Pattern:
        r = self._regex_cache.get(text)
        if r is None:
            r = self._regex_cache[text] = re.compile(text, re.ASCII)
        return r


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})",
                       re.ASCII)


def parse_datetime(s: str) -> datetime.datetime | None:
    """An RFC 3339 date-time (datetime_t): the schema's form with its zone required (RFC 3339
    has no local times), and a real date and time; None when it is not one."""
    if not _DATETIME.fullmatch(s):
        return None
    text = s.upper()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def _valid_ip(s: str) -> bool:
    """ip_t: an IPv4 or IPv6 address as Python's ipaddress reads it (no zone, no blanks)."""
    if "%" in s:
        return False
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


# derived types checked by a parser rather than by the schema's regex (which lets through
# blanks, non-ASCII digits, datetimes without a zone and impossible dates)
_STRICT_FORMATS = {"datetime_t": lambda s: parse_datetime(s) is not None, "ip_t": _valid_ip}


def _observable_text(v: Any) -> Any:
    """An attribute value as an observable's string value: strings as they are, numbers and
    booleans as their JSON text."""
    return v if isinstance(v, str) else json.dumps(v)


def _is_int_text(s: str) -> bool:
    return s.lstrip("-").isdigit()


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
        _DEFAULT = Validator(Schema(DEFAULT_SCHEMA), DEFAULT_CLASS)
    return _DEFAULT


def validate_detailed(doc: Any) -> list[Violation]:
    """Violations of one OCSF Detection Finding (class 2004) against tests/data/ocsf-1.4.0."""
    return default_validator().validate(doc)


def validate(doc: Any) -> list[str]:
    """The violations of one event as "<json.path>: <what>" strings; empty when valid."""
    return [str(v) for v in validate_detailed(doc)]


def iter_ndjson(stream: Iterable[str]):
    """(line number, parsed document or None, error text) for each non-empty line."""
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line), None
        except json.JSONDecodeError as e:
            yield n, None, f"not JSON: {e}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Validate NDJSON OCSF events against the schema.")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="OCSF schema source tree")
    ap.add_argument("--class", dest="class_uid", type=int, default=DEFAULT_CLASS,
                    help="expected class_uid (default 2004); 0 = take each event's class_uid")
    ap.add_argument("-q", "--quiet", action="store_true", help="only the summary line")
    ap.add_argument("files", nargs="+", help="NDJSON files, '-' for standard input")
    args = ap.parse_args(argv)
    v = Validator(Schema(args.schema), args.class_uid or None)
    docs = bad = violations = 0
    doc_no = 0
    for fn in args.files:
        f = sys.stdin if fn == "-" else open(fn, encoding="utf-8")
        with f:
            for line_no, doc, err in iter_ndjson(f):
                doc_no += 1
                docs += 1
                errs = [err] if err else [str(x) for x in v.validate(doc)]
                if errs:
                    bad += 1
                    violations += len(errs)
                    if not args.quiet:
                        for e in errs:
                            print(f"{doc_no} {e}")
    print(f"ocsf_validate: {docs} events, {docs - bad} valid, {bad} invalid, "
          f"{violations} violations (OCSF {v.schema.version})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
