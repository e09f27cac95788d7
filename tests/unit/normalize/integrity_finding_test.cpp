// The integrity finding (agent/normalize/integrity_finding.h): the alert of each digest check, its
// OCSF Detection Finding and its evidence; a uid that names the fault, not when or how it was
// found; every untrusted string (S3 keys, digest fields) escaped. Schema validity of every
// check is tested by ctest alert_schemas (tests/integration/integrity_findings_tool.cpp).
#include "agent/normalize/integrity_finding.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <set>
#include <string>

using namespace trailwarden;

namespace {

constexpr const auto& kChecks = kIntegrityChecks;

constexpr const char* kLogKey =
    "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/"
    "111122223333_CloudTrail_eu-west-1_20261120T0145Z_abcd.json.gz";
constexpr const char* kDigestKey =
    "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20/"
    "111122223333_CloudTrail-Digest_eu-west-1_main_eu-west-1_20261120T020031Z.json.gz";
constexpr const char* kExpected = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
constexpr const char* kActual = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

IntegrityFindingInput modified() {
  IntegrityFindingInput in;
  in.check = IntegrityCheck::kLogFileModified;
  in.reason = "hash value doesn't match";
  in.bucket = "trail-bucket";
  in.key = kLogKey;
  in.account = "111122223333";
  in.region = "eu-west-1";
  in.chain = "trail-bucket/AWSLogs/111122223333/eu-west-1/main/eu-west-1";
  in.digest_key = kDigestKey;
  in.expected_sha256 = kExpected;
  in.actual_sha256 = kActual;
  in.fingerprint = "67b9fa73676d86966b449dd677850753";
  in.from_ms = 1795136431000;  // 2026-11-20T01:00:31Z
  in.to_ms = 1795140031000;    // 2026-11-20T02:00:31Z
  in.unit = std::string("s3://trail-bucket/") + kLogKey;
  in.time_ms = 1795143631123;
  return in;
}

struct Doc {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Doc(const std::string& json) {
    REQUIRE_MESSAGE(parser.parse(json).get(root) == simdjson::SUCCESS, json);
    REQUIRE(root.is_object());
  }
  bool has(std::string_view pointer) {
    simdjson::dom::element e;
    return root.at_pointer(pointer).get(e) == simdjson::SUCCESS;
  }
  std::string s(std::string_view pointer) {
    std::string_view v;
    if (root.at_pointer(pointer).get_string().get(v) != simdjson::SUCCESS) return "<absent>";
    return std::string(v);
  }
  int64_t i(std::string_view pointer) {
    int64_t v = -12345;
    if (root.at_pointer(pointer).get_int64().get(v) != simdjson::SUCCESS) return -12345;
    return v;
  }
  size_t keys(std::string_view pointer) {
    simdjson::dom::object o;
    if (root.at_pointer(pointer).get_object().get(o) != simdjson::SUCCESS) return 0;
    return o.size();
  }
};

}  // namespace

TEST_CASE("integrity checks: rule ids, titles and severities") {
  std::set<std::string> ids, titles;
  for (IntegrityCheck c : kChecks) {
    ids.emplace(integrity_rule_id(c));
    titles.emplace(integrity_rule_title(c));
    CHECK(std::string(integrity_rule_id(c)) == "integrity." + std::string(integrity_check_name(c)));
    CHECK(integrity_severity(c) == (c == IntegrityCheck::kLogFileModified ? 5 : 4));
  }
  CHECK(ids == std::set<std::string>{"integrity.digest_invalid", "integrity.digest_chain_broken",
                                     "integrity.digest_chain_restarted",
                                     "integrity.log_file_modified", "integrity.log_file_unreadable",
                                     "integrity.digest_delivery_stopped"});
  CHECK(titles.size() == 6);
  CHECK(integrity_rule_title(IntegrityCheck::kLogFileModified) == "CloudTrail log file modified");
}

TEST_CASE("integrity finding uid: the same fault has the same uid, another fault another") {
  const IntegrityFindingInput base = modified();
  const std::string uid = integrity_finding_uid(base);
  CHECK(uid.size() == 36);
  CHECK(uid[14] == '8');  // UUID version 8
  CHECK(make_integrity_alert(base).uid == uid);

  // Found again later, in other words, after another read error: the same finding.
  IntegrityFindingInput again = base;
  again.time_ms += 3600'000;
  again.reason = "hash value does not match (again)";
  again.error = "HTTP 500";
  again.unit = "s3://elsewhere/x";
  CHECK(integrity_finding_uid(again) == uid);
  // Another content read for a modified log file: another change, another finding.
  again.actual_sha256 = std::string(64, 'a');
  CHECK(integrity_finding_uid(again) != uid);

  // Another check, object, digest, expected hash or period: another finding.
  auto differs = [&](auto change) {
    IntegrityFindingInput other = base;
    change(other);
    return integrity_finding_uid(other) != uid;
  };
  for (IntegrityCheck c : kChecks)
    if (c != base.check) CHECK(differs([c](IntegrityFindingInput& x) { x.check = c; }));
  CHECK(differs([](IntegrityFindingInput& x) { x.bucket = "other-bucket"; }));
  CHECK(differs([](IntegrityFindingInput& x) { x.key += "x"; }));
  CHECK(differs([](IntegrityFindingInput& x) { x.digest_key += "x"; }));
  CHECK(differs([](IntegrityFindingInput& x) { x.expected_sha256 = kActual; }));
  CHECK(differs([](IntegrityFindingInput& x) { x.from_ms += 1; }));
  CHECK(differs([](IntegrityFindingInput& x) { x.to_ms += 1; }));
  // Parts are separated: moving a character from the bucket to the key is another object.
  CHECK(differs([](IntegrityFindingInput& x) {
    x.bucket = "trail-bucketA";
    x.key = x.key.substr(1);
  }));

  // A stopped delivery: `to` is when it was noticed (each tick, each agent); one finding per
  // last digest.
  IntegrityFindingInput stopped = base;
  stopped.check = IntegrityCheck::kDeliveryStopped;
  IntegrityFindingInput later = stopped;
  later.to_ms += 600'000;
  CHECK(integrity_finding_uid(later) == integrity_finding_uid(stopped));
  later.from_ms += 3600'000;  // another last digest
  CHECK(integrity_finding_uid(later) != integrity_finding_uid(stopped));
}

TEST_CASE("integrity alert: kind, route, rule, tags and the evidence as plain fields") {
  const AlertRecord a = make_integrity_alert(modified());
  CHECK(a.kind == AlertKind::kIntegrity);
  CHECK(a.route == AlertRoute::kS3Object);
  CHECK(a.verified());
  CHECK(a.bucket == "trail-bucket");
  CHECK(a.key == kLogKey);
  CHECK(a.rule_id == "integrity.log_file_modified");
  CHECK(a.rule_title == "CloudTrail log file modified");
  CHECK(a.severity_id == 5);
  CHECK(a.tags == std::vector<std::string>{"integrity", "cloudtrail"});
  CHECK(a.time_ms == 1795143631123);
  CHECK(a.account == "111122223333");
  CHECK(a.region == "eu-west-1");
  CHECK(a.event_name == "log_file_modified");
  CHECK(a.event_source.empty());
  CHECK(a.alarm.empty());

  Doc e(a.raw);
  CHECK(e.s("/check") == "log_file_modified");
  CHECK(e.s("/reason") == "hash value doesn't match");
  CHECK(e.s("/bucket") == "trail-bucket");
  CHECK(e.s("/key") == kLogKey);
  CHECK(e.s("/digest_key") == kDigestKey);
  CHECK(e.s("/chain") == "trail-bucket/AWSLogs/111122223333/eu-west-1/main/eu-west-1");
  CHECK(e.s("/expected_sha256") == kExpected);
  CHECK(e.s("/actual_sha256") == kActual);
  CHECK(e.s("/fingerprint") == "67b9fa73676d86966b449dd677850753");
  CHECK(e.s("/from") == "2026-11-20T01:00:31Z");
  CHECK(e.s("/to") == "2026-11-20T02:00:31Z");
  CHECK(e.s("/unit") == std::string("s3://trail-bucket/") + kLogKey);
  CHECK_FALSE(e.has("/error"));  // only what is known
  CHECK(e.keys("") == 12);

  // Nothing known but the check and the object: check, reason, bucket and key.
  IntegrityFindingInput bare;
  bare.check = IntegrityCheck::kDeliveryStopped;
  bare.bucket = "b";
  bare.key = "k";
  Doc m(make_integrity_alert(bare).raw);
  CHECK(m.keys("") == 4);
  CHECK(m.s("/check") == "digest_delivery_stopped");
  CHECK(m.s("/reason").empty());
}

TEST_CASE("integrity finding: an OCSF 1.4 Detection Finding about the S3 object") {
  const AlertRecord a = make_integrity_alert(modified());
  Doc f(a.ocsf);
  CHECK(f.i("/class_uid") == 2004);
  CHECK(f.i("/type_uid") == 200401);
  CHECK(f.i("/severity_id") == 5);
  CHECK(f.s("/severity") == "Critical");
  CHECK(f.i("/time") == 1795143631123);
  CHECK(f.s("/time_dt") == "2026-11-20T03:00:31.123Z");
  CHECK(f.i("/start_time") == 1795136431000);
  CHECK(f.i("/end_time") == 1795140031000);
  CHECK(f.s("/message") == std::string("CloudTrail log file modified: hash value doesn't match "
                                       "(s3://trail-bucket/") + kLogKey +
                               ") in account 111122223333 (eu-west-1)");
  CHECK(f.s("/metadata/version") == "1.4.0");
  CHECK(f.s("/metadata/uid") == a.uid);
  CHECK(f.s("/metadata/log_name") == std::string("s3://trail-bucket/") + kLogKey);
  CHECK(f.s("/metadata/event_code") == "log_file_modified");
  CHECK(f.s("/finding_info/uid") == a.uid);
  CHECK(f.s("/finding_info/title") == "CloudTrail log file modified");
  CHECK(f.s("/finding_info/desc") == "hash value doesn't match");
  CHECK(f.s("/finding_info/types/0") == "Integrity");
  CHECK(f.i("/finding_info/first_seen_time") == 1795143631123);
  CHECK(f.i("/finding_info/last_seen_time") == 1795143631123);
  CHECK(f.s("/finding_info/analytic/uid") == "integrity.log_file_modified");
  CHECK(f.s("/finding_info/analytic/name") == "CloudTrail log file modified");
  CHECK(f.i("/finding_info/analytic/type_id") == 1);
  CHECK(f.s("/remediation/desc") != "<absent>");
  CHECK(f.s("/cloud/provider") == "AWS");
  CHECK(f.s("/cloud/region") == "eu-west-1");
  CHECK(f.s("/cloud/account/uid") == "111122223333");
  CHECK(f.s("/cloud/cloud_partition") == "aws");
  CHECK(f.s("/resources/0/uid") == std::string("arn:aws:s3:::trail-bucket/") + kLogKey);
  CHECK(f.s("/resources/0/type") == "AWS::S3::Object");
  CHECK(f.s("/resources/0/name") == kLogKey);
  CHECK(f.s("/evidences/0/file/name") == "111122223333_CloudTrail_eu-west-1_20261120T0145Z_abcd.json.gz");
  CHECK(f.s("/evidences/0/file/path") == std::string("s3://trail-bucket/") + kLogKey);
  CHECK(f.i("/evidences/0/file/hashes/0/algorithm_id") == 3);
  CHECK(f.s("/evidences/0/file/hashes/0/value") == kActual);
  CHECK(f.s("/evidences/0/data/expected_sha256") == kExpected);
  CHECK(f.s("/evidences/0/data/digest_key") == kDigestKey);
  CHECK(f.s("/unmapped/trailwarden/route") == "s3");
  CHECK(f.s("/unmapped/trailwarden/key") == kLogKey);
  CHECK_FALSE(f.has("/raw_data"));

  // Another partition's ARN; an account that is not one is not written as one.
  IntegrityFindingInput cn = modified();
  cn.region = "cn-north-1";
  cn.account = "not-an-account";
  cn.actual_sha256.clear();
  Doc g(make_integrity_alert(cn).ocsf);
  CHECK(g.s("/resources/0/uid").starts_with("arn:aws-cn:s3:::trail-bucket/"));
  CHECK(g.s("/cloud/cloud_partition") == "aws-cn");
  CHECK_FALSE(g.has("/cloud/account"));
  CHECK_FALSE(g.has("/evidences/0/file/hashes"));  // nothing read: no hash
  IntegrityFindingInput odd = modified();
  odd.actual_sha256 = "zz";  // not a SHA-256 (OCSF's file_hash_t is hex): in the evidence only
  Doc h(make_integrity_alert(odd).ocsf);
  CHECK_FALSE(h.has("/evidences/0/file/hashes"));
  CHECK(h.s("/evidences/0/data/actual_sha256") == "zz");
}

TEST_CASE("integrity finding: hostile keys and digest fields stay valid JSON, as they were") {
  // Everything that comes from S3 or a digest: quotes, backslashes, control bytes, NULs,
  // newlines, a JSON-looking fragment; then invalid UTF-8 (repaired, never breaking the JSON).
  const std::string hostile = std::string("AWSLogs/\"},\"x\":{\"/\\u0000\\/a\x01\x1f\x7f\n\r\t/") +
                              std::string(2, '\0') + "\u00e9\u4e2d/end.json.gz";
  for (IntegrityCheck c : kChecks) {
    IntegrityFindingInput in = modified();
    in.check = c;
    in.key = in.digest_key = in.chain = in.unit = in.error = hostile;
    in.bucket = "b\"\n";
    in.reason = "reason \"quoted\"\n" + hostile;
    in.fingerprint = in.expected_sha256 = hostile;
    in.account = "1111\"22223333";
    in.region = "eu-west-1\"\n";
    const AlertRecord a = make_integrity_alert(in);
    Doc e(a.raw);
    CHECK(e.s("/key") == hostile);
    CHECK(e.s("/digest_key") == hostile);
    CHECK(e.s("/error") == hostile);
    CHECK(e.s("/bucket") == "b\"\n");
    CHECK(e.keys("") == 13);  // no key injected
    Doc f(a.ocsf);
    CHECK(f.s("/resources/0/name") == hostile);
    CHECK(f.s("/evidences/0/data/key") == hostile);
    CHECK(f.s("/finding_info/desc") == in.reason);
    CHECK(f.s("/unmapped/trailwarden/key") == hostile);
    CHECK_FALSE(f.has("/x"));
    CHECK_FALSE(f.has("/cloud/account"));
    CHECK(a.ocsf.find('\n') == std::string::npos);
    CHECK(a.raw.find('\n') == std::string::npos);
  }
  IntegrityFindingInput in = modified();
  in.key = std::string("AWSLogs/\xff\xfe\xc3(/\xed\xa0\x80.json.gz");
  in.reason = "\x80";
  const AlertRecord a = make_integrity_alert(in);
  Doc e(a.raw);
  Doc f(a.ocsf);
  // Each bad byte becomes U+FFFD (JsonWriter's repair): still the same key's shape.
  const std::string key = e.s("/key");
  CHECK(key.starts_with("AWSLogs/\xEF\xBF\xBD"));
  CHECK(key.ends_with(".json.gz"));
  CHECK(key.find("(/") != std::string::npos);
  CHECK(f.s("/resources/0/name") == key);
  CHECK(f.s("/finding_info/desc") == "\xEF\xBF\xBD");
}
