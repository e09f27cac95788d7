#!/usr/bin/env python3
"""Self-tests of tests/tools/ocsf_validate.py and tests/tools/ecs_validate.py (ctest
`schema_validators`): a good document passes; for every rule a minimal bad document is rejected
with the expected message; the CLIs exit 1 on a violation and name the document."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ecs_validate  # noqa: E402
import ocsf_validate  # noqa: E402

GOLDEN = os.path.join(HERE, "..", "data", "golden", "awsdocs_config.cis-4.9.ndjson")


def golden_findings() -> list[dict]:
    with open(GOLDEN, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class OcsfValidatorTest(unittest.TestCase):
    def setUp(self) -> None:
        self.good = golden_findings()[0]

    def errors(self, doc: dict) -> list[str]:
        return ocsf_validate.validate(doc)

    def assertRejected(self, doc: dict, expected: str) -> None:
        errs = self.errors(doc)
        self.assertTrue(any(expected in e for e in errs),
                        f"expected a violation containing {expected!r}, got {errs}")

    def mutate(self, fn) -> dict:
        doc = copy.deepcopy(self.good)
        fn(doc)
        return doc

    def test_golden_findings_are_valid(self) -> None:
        for i, doc in enumerate(golden_findings()):
            self.assertEqual(self.errors(doc), [], f"golden finding {i}")

    def test_compiled_class(self) -> None:
        cls = ocsf_validate.default_validator().schema.compile_class(2004)
        self.assertEqual(cls["caption"], "Detection Finding")
        self.assertEqual(cls["category"], {"uid": 2, "caption": "Findings"})
        attrs = cls["attributes"]
        # from base_event, finding, detection_finding, the profiles and the *_dt rule
        for name in ("time", "metadata", "finding_info", "evidences", "cloud", "time_dt",
                     "resources", "confidence_id", "is_alert"):
            self.assertIn(name, attrs)
        self.assertEqual(attrs["cloud"].get("profile"), "cloud")
        self.assertEqual(attrs["time_dt"].get("profile"), "datetime")
        self.assertIsNone(attrs["confidence_id"].get("profile"))  # lifted by the class
        self.assertEqual(cls["activities"], {0: "Unknown", 1: "Create", 2: "Update", 3: "Close",
                                             99: "Other"})
        user = ocsf_validate.default_validator().schema.compile_object("user")
        self.assertEqual(user["constraints"], {"at_least_one": ["account", "name", "uid"]})
        self.assertEqual(user["attributes"]["name"]["type"], "username_t")
        res = ocsf_validate.default_validator().schema.compile_object("resource_details")
        self.assertEqual(res["constraints"], {"at_least_one": ["name", "uid"]})  # from _entity

    def test_missing_required(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.pop("time")),
                            "time: required attribute is missing")
        self.assertRejected(self.mutate(lambda d: d["finding_info"].pop("uid")),
                            "finding_info.uid: required attribute is missing")
        self.assertRejected(self.mutate(lambda d: d["metadata"].pop("product")),
                            "metadata.product: required attribute is missing")

    def test_unknown_attribute(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.update(bogus=1)),
                            "bogus: unknown attribute")
        self.assertRejected(
            self.mutate(lambda d: d["evidences"][0]["actor"]["user"].update(arn="x")),
            "evidences[0].actor.user.arn: unknown attribute")
        # anything goes inside unmapped
        ok = self.mutate(lambda d: d.update(unmapped={"trailwarden": {"any": [1, {"x": None}]}}))
        self.assertEqual(self.errors(ok), [])

    def test_wrong_type(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.update(severity_id="4")),
                            "severity_id: must be integer_t")
        self.assertRejected(self.mutate(lambda d: d.update(time=1.5)), "time: must be timestamp_t")
        self.assertRejected(self.mutate(lambda d: d.update(is_alert="true")),
                            "is_alert: must be boolean_t")
        self.assertRejected(self.mutate(lambda d: d.update(cloud="AWS")),
                            "cloud: must be an object (cloud)")
        self.assertRejected(self.mutate(lambda d: d["metadata"].update(profiles="cloud")),
                            "metadata.profiles: must be an array")
        self.assertRejected(self.mutate(lambda d: d["finding_info"].update(title=["a"])),
                            "finding_info.title: must not be an array")
        self.assertRejected(self.mutate(lambda d: d.update(message=None)), "message: is null")
        self.assertRejected(self.mutate(lambda d: d.update(time=2**63)),
                            "time: must be timestamp_t")

    def test_bad_datetime(self) -> None:
        for bad in ("2014-12-11 18:32:57Z", "yesterday", "2014-12-11T18:32Z", ""):
            self.assertRejected(self.mutate(lambda d: d.update(time_dt=bad)),
                                "time_dt: " + json.dumps(bad) + " is not a valid datetime_t")
        for good in ("2014-12-11T18:32:57.000456Z", "2014-12-11T20:32:57+02:00",
                     "2014-12-11t18:32:57z"):
            self.assertEqual(self.errors(self.mutate(lambda d: d.update(time_dt=good))), [])
        self.assertRejected(
            self.mutate(lambda d: d["evidences"][0]["actor"].update(
                session={"created_time_dt": "not a date"})),
            "evidences[0].actor.session.created_time_dt: \"not a date\" is not a valid datetime_t")

    def test_datetime_is_rfc3339(self) -> None:
        """datetime_t is a whole RFC 3339 date-time: a zone, a real date, ASCII digits only."""
        for bad in ("2014-12-11T18:32:57", "2014-02-30T18:32:57Z", "2014-12-11T25:32:57Z",
                    "2014-12-11T18:32:57Z\n", "\u0662014-12-11T18:32:57Z",
                    "2014-12-11T18:32:57Z junk"):
            self.assertRejected(self.mutate(lambda d: d.update(time_dt=bad)),
                                "time_dt: " + json.dumps(bad, ensure_ascii=False)
                                + " is not a valid datetime_t")

    def test_datetime_equals_its_timestamp(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.update(time_dt="2014-12-11T18:32:58Z")),
                            "time_dt: '2014-12-11T18:32:58Z' is 1418322778000 ms, but time is "
                            "1418322777000")
        self.assertRejected(self.mutate(lambda d: d.update(time_dt="2014-12-11T18:32:57+01:00")),
                            "time_dt: '2014-12-11T18:32:57+01:00' is 1418319177000 ms")
        self.assertRejected(self.mutate(lambda d: d.update(time_dt="2014-12-11T18:32:57.001Z")),
                            "but time is 1418322777000")
        # without its timestamp there is nothing to compare
        self.assertNotIn("datetime_mismatch", [v.kind for v in ocsf_validate.validate_detailed(
            self.mutate(lambda d: (d["finding_info"].pop("first_seen_time", None),
                                   d["finding_info"].update(
                                       first_seen_time_dt="2001-01-01T00:00:00Z"))))])

    def test_formats_are_whole_values(self) -> None:
        for bad in (" 198.51.100.7", "198.51.100.7\n", "fe80::1%eth0", "1a2b3c4"):
            self.assertRejected(
                self.mutate(lambda d: d["evidences"][0]["src_endpoint"].update(ip=bad)),
                "evidences[0].src_endpoint.ip: " + json.dumps(bad) + " is not a valid ip_t")
        # uuid_t's regex has no anchors: a uuid inside other text is no uuid
        v = ocsf_validate.default_validator()
        out: list = []
        v._check_scalar("x-12345678-1234-1234-1234-123456789abc-y", "uuid_t", "u", out)
        self.assertEqual([x.kind for x in out], ["bad_format"])
        out = []
        v._check_scalar("12345678-1234-1234-1234-123456789abc", "uuid_t", "u", out)
        self.assertEqual(out, [])

    def test_caption_without_id(self) -> None:
        self.assertRejected(self.mutate(lambda d: (d.pop("confidence_id", None),
                                                   d.update(confidence="High"))),
                            "confidence: confidence is given without confidence_id")
        self.assertRejected(self.mutate(lambda d: d["evidences"][0]["actor"]["user"].pop("type_id")),
                            "evidences[0].actor.user.type: type is given without type_id")

    def test_observables_match_the_event(self) -> None:
        def obs(*items):
            return self.mutate(lambda d: d.update(observables=list(items)))
        ip = {"name": "evidences[0].src_endpoint.ip", "type_id": 2, "value": "10.24.34.0"}
        # the name must be in the event
        self.assertRejected(obs({**ip, "name": "evidences[1].src_endpoint.ip"}),
                            "observables[0].name: 'evidences[1].src_endpoint.ip' is not in the event")
        self.assertRejected(obs({"name": "evidences.dst_endpoint.ip", "type_id": 2, "value": "x"}),
                            "observables[0].name: 'evidences.dst_endpoint.ip' is not in the event")
        # the value must be the attribute's
        self.assertRejected(obs({**ip, "value": "10.24.34.1"}),
                            "observables[0].value: \"10.24.34.1\" is not the value of "
                            "evidences[0].src_endpoint.ip (\"10.24.34.0\")")
        # [] and no index: some element's value
        two = self.mutate(lambda d: (d["resources"].append({"name": "second"}),
                                     d.update(observables=[
                                         {"name": "resources[].name", "type_id": 38,
                                          "value": "second"},
                                         {"name": "resources.name", "type_id": 38,
                                          "value": "default"}])))
        self.assertEqual(self.errors(two), [])
        self.assertRejected(self.mutate(lambda d: (d["resources"].append({"name": "second"}),
                                                   d.update(observables=[
                                                       {"name": "resources[0].name",
                                                        "type_id": 38, "value": "second"}]))),
                            "observables[0].value: \"second\" is not the value of resources[0].name")
        # type_id: the declared type (dictionary type, object attribute, dictionary attribute,
        # the object's own); where the schema declares none, the producer chooses
        self.assertRejected(obs({**ip, "type_id": 20}),
                            "observables[0].type_id: is 20, but evidences[0].src_endpoint.ip is "
                            "observable type 2")
        self.assertRejected(obs({"name": "cloud.account.uid", "type_id": 10, "value": "222222222222"}),
                            "is 10, but cloud.account.uid is observable type 35")
        self.assertRejected(obs({"name": "evidences[0].http_request.user_agent", "type_id": 99,
                                 "value": "aws-internal/3"}),
                            "is 99, but evidences[0].http_request.user_agent is observable type 16")
        # where the schema declares none, any id of the enum (an unknown one is refused above)
        self.assertEqual(self.errors(obs({"name": "cloud.region", "type_id": 99,
                                          "value": "us-west-2"})), [])
        self.assertRejected(obs({"name": "evidences[0].actor.user", "type_id": 4}),
                            "is 4, but evidences[0].actor.user is observable type 21")
        # an object attribute has no value
        self.assertRejected(obs({"name": "evidences[0].actor.user", "type_id": 21, "value": "JohnDoe"}),
                            "observables[0].value: 'evidences[0].actor.user' is an object (user)")
        self.assertEqual(self.errors(obs({"name": "evidences[0].actor.user", "type_id": 21},
                                         {"name": "cloud.region", "type_id": 99,
                                          "value": "us-west-2"})), [])

    def test_bad_ip(self) -> None:
        for bad in ("config.amazonaws.com", "1.2.3.999", "AWS Internal"):
            self.assertRejected(
                self.mutate(lambda d: d["evidences"][0]["src_endpoint"].update(ip=bad)),
                "evidences[0].src_endpoint.ip: " + json.dumps(bad) + " is not a valid ip_t")
        for good in ("2001:db8::1", "::ffff:198.51.100.7", "198.51.100.7"):
            def set_ip(d, ip=good):
                d["evidences"][0]["src_endpoint"]["ip"] = ip
                for o in d["observables"]:  # the observable names the same attribute
                    if o["name"].endswith("src_endpoint.ip"):
                        o["value"] = ip
            self.assertEqual(self.errors(self.mutate(set_ip)), [])

    def test_port_range(self) -> None:
        self.assertRejected(
            self.mutate(lambda d: d["evidences"][0]["src_endpoint"].update(port=70000)),
            "evidences[0].src_endpoint.port: 70000 is outside port_t's range")

    def test_enum(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.update(severity="Low")),
                            "severity: is 'Low', but severity_id 4 is 'High'")
        self.assertRejected(self.mutate(lambda d: d.update(severity_id=7)),
                            "severity_id: 7 is not one of")
        self.assertRejected(self.mutate(lambda d: d.update(activity_name="Update")),
                            "activity_name: is 'Update', but activity_id 1 is 'Create'")
        self.assertRejected(
            self.mutate(lambda d: d["cloud"]["account"].update(type="AWS")),
            "cloud.account.type: is 'AWS', but type_id 10 is 'AWS Account'")
        # 99 Other: the caption is the source's own
        ok = self.mutate(lambda d: d.update(severity_id=99, severity="Sev-X"))
        self.assertEqual(self.errors(ok), [])

    def test_classification(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.update(type_uid=200402)),
                            "type_uid: is 200402, expected 200401")
        self.assertRejected(self.mutate(lambda d: d.update(type_name="Detection Finding: Close")),
                            "type_name: is 'Detection Finding: Close', expected "
                            "'Detection Finding: Create'")
        self.assertRejected(self.mutate(lambda d: d.update(class_name="Finding")),
                            "class_name: is 'Finding', expected 'Detection Finding'")
        self.assertRejected(self.mutate(lambda d: d.update(category_uid=3)),
                            "category_uid: is 3, expected 2")
        self.assertRejected(self.mutate(lambda d: d.update(category_name="Finding")),
                            "category_name: is 'Finding', expected 'Findings'")
        self.assertRejected(self.mutate(lambda d: d.update(class_uid=2003)),
                            "class_uid: is 2003, expected 2004")
        self.assertRejected(self.mutate(lambda d: d["metadata"].update(version="1.3.0")),
                            "metadata.version: is '1.3.0', the schema is 1.4.0")

    def test_at_least_one(self) -> None:
        self.assertRejected(
            self.mutate(lambda d: d["evidences"][0]["actor"].update(user={"type": "AWSService"})),
            "evidences[0].actor.user: needs at least one of account, name, uid (none present)")
        self.assertRejected(
            self.mutate(lambda d: d["evidences"][0]["actor"].update(user={})),
            "evidences[0].actor.user: needs at least one of account, name, uid")
        self.assertRejected(
            self.mutate(lambda d: d.update(resources=[{"name": "b"}, {"type": "AWS::S3::Bucket"}])),
            "resources[1]: needs at least one of name, uid (none present)")
        self.assertRejected(
            self.mutate(lambda d: d["evidences"][0].update(actor={})),
            "evidences[0].actor: needs at least one of")

    def test_just_one(self) -> None:
        schema = ocsf_validate.default_validator().schema
        vuln = schema.compile_object("vulnerability")
        self.assertEqual(vuln["constraints"], {"just_one": ["advisory", "cve", "cwe"]})
        doc = self.mutate(lambda d: d.update(vulnerabilities=[
            {"cve": {"uid": "CVE-2024-0001"}, "cwe": {"uid": "CWE-79"}}]))
        self.assertRejected(doc, "vulnerabilities[0]: needs exactly one of advisory, cve, cwe "
                                 "(2 present)")

    def test_deprecated(self) -> None:
        self.assertRejected(
            self.mutate(lambda d: d["evidences"][0]["actor"].update(
                invoked_by="config.amazonaws.com")),
            "evidences[0].actor.invoked_by: deprecated since 1.2.0")

    def test_profiles(self) -> None:
        # cloud without the cloud profile, time_dt without datetime
        doc = self.mutate(lambda d: (d["metadata"].update(profiles=[]), d["finding_info"].update(
            first_seen_time_dt="2014-12-11T18:32:57Z")))
        self.assertRejected(doc, "cloud: attribute of profile 'cloud', which metadata.profiles "
                                 "does not declare")
        self.assertRejected(doc, "time_dt: attribute of profile 'datetime'")
        self.assertRejected(doc, "finding_info.first_seen_time_dt: attribute of profile "
                                 "'datetime'")
        # a declared profile's required attribute
        self.assertRejected(self.mutate(lambda d: d.pop("cloud")),
                            "cloud: required attribute is missing")
        # ... and without both profiles, once every attribute they add is gone (cloud,
        # resources[].region and .cloud_partition, the observables naming cloud.*, the *_dt)
        doc = self.mutate(lambda d: (d.pop("cloud"), d.pop("time_dt"),
                                     d.pop("resources", None),
                                     d.update(observables=[o for o in d.get("observables", [])
                                                           if not o["name"].startswith(
                                                               ("cloud.", "resources"))]),
                                     d["finding_info"].pop("first_seen_time_dt", None),
                                     d["finding_info"].pop("last_seen_time_dt", None),
                                     d["metadata"].update(profiles=[])))
        self.assertEqual(self.errors(doc), [])
        self.assertRejected(self.mutate(lambda d: d["metadata"]["profiles"].append("nope")),
                            "metadata.profiles[2]: unknown profile 'nope'")
        # an attribute of the incident profile, not declared
        self.assertRejected(self.mutate(lambda d: d.update(is_suspected_breach=True)),
                            "is_suspected_breach: attribute of profile 'incident'")

    def test_observable_names(self) -> None:
        ok = self.mutate(lambda d: d.update(observables=[
            {"name": "evidences.actor.user.uid", "type_id": 31,
             "value": "arn:aws:iam::222222222222:user/JohnDoe"},
            {"name": "evidences.src_endpoint.ip", "type_id": 2, "value": "10.24.34.0"},
            {"name": "cloud.account.uid", "type_id": 35, "value": "222222222222"},
            # the array forms later OCSF versions spell out: resources[].uid, resources[0].uid
            {"name": "evidences[0].src_endpoint.ip", "type_id": 2, "value": "10.24.34.0"},
            {"name": "evidences[].actor.user.name", "type_id": 4, "value": "JohnDoe"}]))
        self.assertEqual(self.errors(ok), [])
        self.assertRejected(  # an index on an attribute that is not an array
            self.mutate(lambda d: d.update(observables=[
                {"name": "cloud[0].region", "type_id": 99, "value": "x"}])),
            "observables[0].name: 'cloud[0].region' does not refer")
        self.assertRejected(
            self.mutate(lambda d: d.update(observables=[
                {"name": "actor.user.uid", "type_id": 99, "value": "x"}])),
            "observables[0].name: 'actor.user.uid' does not refer to an attribute of class "
            "detection_finding")
        self.assertRejected(
            self.mutate(lambda d: d.update(observables=[{"name": "evidences.src_endpoint.ip.v4",
                                                         "type_id": 2, "value": "x"}])),
            "observables[0].name: 'evidences.src_endpoint.ip.v4' does not refer")
        self.assertRejected(
            self.mutate(lambda d: d.update(observables=[{"name": "cloud.region", "value": "x"}])),
            "observables[0].type_id: required attribute is missing")
        # type_id: the ids the schema declares (types, objects, object attributes), with the
        # OCSF server's captions for the `type` sibling
        self.assertRejected(
            self.mutate(lambda d: d.update(observables=[{"name": "cloud.account.uid",
                                                         "type_id": 98, "value": "x"}])),
            "observables[0].type_id: 98 is not one of")
        self.assertRejected(
            self.mutate(lambda d: d.update(observables=[{"name": "evidences.src_endpoint.ip",
                                                         "type_id": 2, "type": "IP",
                                                         "value": "10.24.34.0"}])),
            "observables[0].type: is 'IP', but type_id 2 is 'IP Address'")
        ok = self.mutate(lambda d: d.update(observables=[
            {"name": "evidences.actor.user", "type_id": 21, "type": "User"},
            {"name": "evidences.actor.user.uid", "type_id": 31, "type": "User Object: uid",
             "value": "arn:aws:iam::222222222222:user/JohnDoe"},
            {"name": "evidences.actor.user.name", "type_id": 4, "type": "User Name",
             "value": "JohnDoe"}]))
        self.assertEqual(self.errors(ok), [])

    def test_cli(self) -> None:
        bad = copy.deepcopy(self.good)
        del bad["time"]
        with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
            f.write(json.dumps(self.good) + "\n" + json.dumps(bad) + "\n{not json\n")
        try:
            p = subprocess.run([sys.executable, os.path.join(HERE, "ocsf_validate.py"), f.name],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("2 time: required attribute is missing", p.stdout)
            self.assertIn("3 not JSON", p.stdout)
            self.assertIn("3 events, 1 valid, 2 invalid", p.stdout)
            p = subprocess.run([sys.executable, os.path.join(HERE, "ocsf_validate.py"), "-"],
                               input=json.dumps(self.good) + "\n", capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            os.unlink(f.name)


GOOD_ECS = {
    "@timestamp": "2014-12-11T18:32:57.000Z",
    "ecs": {"version": "8.17.0"},
    "message": "AWS Config configuration changes",
    "event": {"kind": "alert", "category": ["configuration"], "type": ["change"],
              "action": "DeleteDeliveryChannel", "outcome": "success",
              "provider": "config.amazonaws.com", "id": "5dcff7a9-e414-411a-a43e-88d122a0ad4a",
              "severity": 73, "created": 1418322777000},
    "rule": {"id": "cis-4.9", "name": "AWS Config configuration changes"},
    "cloud": {"provider": "aws", "region": "us-west-2", "account": {"id": "222222222222"}},
    "user": {"name": "JohnDoe", "id": "arn:aws:iam::222222222222:user/JohnDoe"},
    "source": {"ip": "10.24.34.0", "address": "10.24.34.0", "port": 443,
               "geo": {"location": {"lat": 45.5, "lon": -73.6}}},
    "user_agent": {"original": "aws-internal/3"},
    "related": {"ip": ["10.24.34.0"], "user": ["JohnDoe"]},
    "tags": ["cis"],
    "labels": {"rule_pack": "cis"},
    "aws": {"cloudtrail": {"event_version": "1.02", "flattened": {"request_parameters": {
        "deliveryChannelName": "default"}}}},
    "trailwarden": {"finding_uid": "f-1", "severity": "Medium", "route": "s3", "verified": True,
                    "bucket": "b", "key": "AWSLogs/x.json.gz", "ecs_degraded": ["record"],
                    "truncated": True, "original_bytes": 2000000, "time_unparsed": True,
                    "original_time": "2024-01-02 03:04:05"},
}


class EcsValidatorTest(unittest.TestCase):
    def mutate(self, fn) -> dict:
        doc = copy.deepcopy(GOOD_ECS)
        fn(doc)
        return doc

    def assertRejected(self, doc: dict, expected: str) -> None:
        errs = ecs_validate.validate(doc)
        self.assertTrue(any(expected in e for e in errs),
                        f"expected a violation containing {expected!r}, got {errs}")

    def test_good_document(self) -> None:
        self.assertEqual(ecs_validate.validate(GOOD_ECS), [])
        # dotted keys mean the same fields
        flat = {"@timestamp": 1418322777000, "ecs.version": "8.17.0", "event.kind": "alert",
                "source.ip": "2001:db8::1"}
        self.assertEqual(ecs_validate.validate(flat), [])

    def test_unknown_field(self) -> None:
        self.assertRejected(self.mutate(lambda d: d["user"].update(arn="x")),
                            "user.arn: user.arn is not an ECS field")
        self.assertRejected(self.mutate(lambda d: d.update(eventName="x")),
                            "eventName: eventName is not an ECS field")
        self.assertRejected(self.mutate(lambda d: d.update(user="JohnDoe")),
                            "user: user holds ECS fields: must be an object")
        v = ecs_validate.Validator(ecs_validate.default_validator().schema, ("custom",))
        errs = [str(e) for e in v.validate(self.mutate(lambda d: d.update(custom={"x": 1})))]
        self.assertFalse(any(e.startswith("custom") for e in errs), errs)
        self.assertIn("aws: aws is not an ECS field (custom fields go under custom)", errs)

    def test_bad_ip(self) -> None:
        for bad in ("1.2.3.999", "config.amazonaws.com", "fe80::1%eth0"):
            self.assertRejected(self.mutate(lambda d: d["source"].update(ip=bad)),
                                "source.ip: " + json.dumps(bad) + " is not an IPv4 or IPv6")
        self.assertRejected(self.mutate(lambda d: d["related"].update(ip=["10.0.0.1", "AWS"])),
                            "related.ip[1]: \"AWS\" is not an IPv4 or IPv6")

    def test_categorisation_values(self) -> None:
        self.assertRejected(self.mutate(lambda d: d["event"].update(kind="finding")),
                            "event.kind: \"finding\" is not an allowed event.kind value")
        self.assertRejected(self.mutate(lambda d: d["event"].update(category=["cloud"])),
                            "event.category[0]: \"cloud\" is not an allowed event.category value")
        self.assertRejected(self.mutate(lambda d: d["event"].update(type=["modified"])),
                            "event.type[0]: \"modified\" is not an allowed event.type value")
        self.assertRejected(self.mutate(lambda d: d["event"].update(outcome="ok")),
                            "event.outcome: \"ok\" is not an allowed event.outcome value")
        self.assertRejected(self.mutate(lambda d: d["event"].update(category="configuration")),
                            "event.category: event.category must be an array")
        self.assertRejected(self.mutate(lambda d: d["event"].update(type=["start"])),
                            "event.type[0]: 'start' is not an event.type that event.category")

    def test_object_fields_with_fields_of_their_own(self) -> None:
        ok = self.mutate(lambda d: d.update(log={"syslog": {"facility": {"code": 4}}},
                                            dns={"answers": [{"name": "a.example", "ttl": 5}]}))
        self.assertEqual(ecs_validate.validate(ok), [])
        self.assertRejected(self.mutate(lambda d: d.update(log={"syslog": {"facility": {
            "code": "4"}}})), "log.syslog.facility.code: log.syslog.facility.code is long")
        self.assertRejected(self.mutate(lambda d: d.update(dns={"answers": [{"nam": "x"}]})),
                            "dns.answers[0].nam: dns.answers.nam is not an ECS field")

    def test_array_not_allowed(self) -> None:
        self.assertRejected(self.mutate(lambda d: d["source"].update(ip=["10.0.0.1"])),
                            "source.ip: source.ip (ip) is a single value in ECS")
        self.assertRejected(self.mutate(lambda d: d["event"].update(kind=["alert"])),
                            "event.kind: event.kind (keyword) is a single value in ECS")
        self.assertRejected(self.mutate(lambda d: d.update({"@timestamp": ["2014-12-11"]})),
                            "@timestamp: @timestamp (date) is a single value in ECS")

    def test_types(self) -> None:
        self.assertRejected(self.mutate(lambda d: d["source"].update(port="443")),
                            "source.port: source.port is long: must be an integer")
        self.assertRejected(self.mutate(lambda d: d["cloud"]["account"].update(id=222222222222)),
                            "cloud.account.id: cloud.account.id is keyword: must be a string")
        self.assertRejected(self.mutate(lambda d: d["event"].update(created="11/12/2014")),
                            "event.created: \"11/12/2014\" is not an ISO 8601 date")
        self.assertRejected(self.mutate(lambda d: d["event"].update(
                                created="2014-13-45T00:00:00Z")),
                            "is not an ISO 8601 date")
        self.assertRejected(self.mutate(lambda d: d["source"]["geo"].update(location={"lat": 99,
                                                                                      "lon": 0})),
                            "source.geo.location: {\"lat\": 99, \"lon\": 0} is not a geo_point")
        self.assertRejected(self.mutate(lambda d: d["labels"].update(n=1)),
                            "labels.n: labels values are keywords")
        self.assertRejected(self.mutate(lambda d: d["user"].update(name=None)),
                            "user.name: is null")

    def test_required(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.pop("@timestamp")),
                            "@timestamp: required field is missing")
        self.assertRejected(self.mutate(lambda d: d.pop("ecs")),
                            "ecs.version: required field is missing")
        self.assertRejected(self.mutate(lambda d: d["ecs"].update(version="1.12.0")),
                            "ecs.version: '1.12.0' is not an ECS 8.x version")

    def test_aws_cloudtrail_fields(self) -> None:
        """aws.* is checked against Elastic's CloudTrail integration field names and types."""
        ct = {"event_version": "1.09", "read_only": False, "management_event": "true",
              "user_identity": {"type": "AssumedRole", "session_context": {
                  "mfa_authenticated": "false", "creation_date": "2024-01-02T03:04:05Z",
                  "session_issuer": {"arn": "arn:aws:iam::1:role/r"}}},
              "resources": [{"arn": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"},
                            {"arn": "arn:aws:s3:::c"}],
              "request_parameters": "{\"bucketName\":\"b\"}",
              "console_login": {"additional_eventdata": {"mfa_used": True}},
              "flattened": {"request_parameters": {"bucketName": "b"}, "insight_details": {}}}
        self.assertEqual(ecs_validate.validate({**GOOD_ECS, "aws": {"cloudtrail": ct}}), [])
        self.assertEqual(ecs_validate.validate(self.mutate(
            lambda d: d.update({"aws.cloudtrail.event_type": "AwsApiCall"}))), [])

        def ct_with(**kw):
            return self.mutate(lambda d: d["aws"]["cloudtrail"].update(kw))
        self.assertRejected(ct_with(eventName="x"), "aws.cloudtrail.eventName: aws.cloudtrail."
                            "eventName is not a field of Elastic's AWS CloudTrail integration")
        self.assertRejected(self.mutate(lambda d: d["aws"].update(guardduty={"x": 1})),
                            "aws.guardduty: aws.guardduty is not a field of Elastic's")
        self.assertRejected(ct_with(read_only="yes"),
                            "aws.cloudtrail.read_only: aws.cloudtrail.read_only is boolean")
        self.assertRejected(ct_with(user_identity={"session_context": {
            "creation_date": "not a date"}}), "aws.cloudtrail.user_identity.session_context."
                            "creation_date: \"not a date\" is not an ISO 8601 date")
        self.assertRejected(ct_with(flattened={"request_parameters": "{}"}),
                            "aws.cloudtrail.flattened.request_parameters: aws.cloudtrail."
                            "flattened.request_parameters is flattened: must be an object")
        self.assertRejected(ct_with(flattened="x"), "aws.cloudtrail.flattened holds fields")

        def nest(levels: int) -> dict:
            v: dict = {"leaf": "x"}
            for i in range(levels):
                v = {f"l{i}": [v]}  # arrays do not count
            return v
        self.assertEqual(ecs_validate.validate(ct_with(flattened={
            "request_parameters": nest(20)})), [])
        self.assertRejected(ct_with(flattened={"request_parameters": nest(21)}),
                            "aws.cloudtrail.flattened.request_parameters: aws.cloudtrail.flattened"
                            ".request_parameters is flattened: 21 levels of inner objects")
        self.assertRejected(ct_with(flattened={"request_parameters": nest(5000)}),
                            "5000 levels of inner objects")
        self.assertRejected(ct_with(resources=[{"arn": "a", "name": "n"}]),
                            "aws.cloudtrail.resources[0].name: aws.cloudtrail.resources.name "
                            "is not a field")
        self.assertRejected(ct_with(request_id=None), "aws.cloudtrail.request_id: is null")
        self.assertRejected(ct_with(read_only=[True]), "aws.cloudtrail.read_only (boolean) is a "
                            "single value")
        # the data file says where its facts come from
        with open(ecs_validate.AWS_FIELDS, encoding="utf-8") as f:
            data = json.load(f)
        self.assertIn("elastic/integrations", data["_source"])
        self.assertEqual(data["fields"]["aws.cloudtrail.read_only"], "boolean")

    def test_trailwarden_fields(self) -> None:
        def tw_with(**kw):
            return self.mutate(lambda d: d["trailwarden"].update(kw))
        self.assertRejected(tw_with(anything=1), "trailwarden.anything: trailwarden.anything is "
                            "not a field of the trailwarden.* field list")
        self.assertRejected(tw_with(verified="yes"), "trailwarden.verified is boolean")
        self.assertRejected(tw_with(original_bytes="2000000"), "trailwarden.original_bytes is "
                            "long: must be an integer")
        self.assertRejected(tw_with(ecs_degraded=["everything"]), "\"everything\" is not an "
                            "allowed trailwarden.ecs_degraded value")
        self.assertRejected(tw_with(time_unparsed="true"), "trailwarden.time_unparsed is boolean")
        self.assertRejected(self.mutate(lambda d: d.update(trailwarden="x")),
                            "trailwarden: trailwarden holds fields: must be an object")

    def test_categorisation_any_category(self) -> None:
        """Elastic's rule: each event.type must be expected by at least one of the categories
        (ECS lets an event sit in several); a type no category expects is refused."""
        both = self.mutate(lambda d: d["event"].update(category=["authentication", "api"],
                                                       type=["denied"]))
        self.assertEqual(ecs_validate.validate(both), [])
        self.assertRejected(self.mutate(lambda d: d["event"].update(
            category=["authentication", "iam"], type=["denied"])),
            "event.type[0]: 'denied' is not an event.type that event.category")

    def test_dates_and_patterns_are_whole_values(self) -> None:
        self.assertRejected(self.mutate(lambda d: d.update({"@timestamp": "2024-01-02T03:04:05Z\n"})),
                            "is not an ISO 8601 date")
        self.assertRejected(self.mutate(lambda d: d["event"].update(created="2024-01-0\u0663")),
                            "is not an ISO 8601 date")
        self.assertRejected(self.mutate(lambda d: d.update(host={"mac": ["00-00-5E-00-53-23\n"]})),
                            "does not match")

    def test_cli(self) -> None:
        bad = copy.deepcopy(GOOD_ECS)
        bad["source"]["ip"] = "1.2.3.999"
        with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
            f.write(json.dumps(GOOD_ECS) + "\n" + json.dumps(bad) + "\n")
        try:
            cmd = [sys.executable, os.path.join(HERE, "ecs_validate.py")]
            p = subprocess.run(cmd + [f.name], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("2 source.ip: \"1.2.3.999\" is not an IPv4 or IPv6 address", p.stdout)
            self.assertIn("2 documents, 1 valid, 1 invalid", p.stdout)
            p = subprocess.run(cmd + ["--custom", "cloudtrail", "-"],
                               input=json.dumps({**GOOD_ECS, "cloudtrail": {"x": 1}}) + "\n",
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 1)  # aws and trailwarden are no longer custom
            self.assertIn("1 aws: aws is not an ECS field", p.stdout)
            self.assertNotIn("1 cloudtrail", p.stdout)
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main(verbosity=1)
