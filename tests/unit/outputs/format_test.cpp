// The alert formats other than OCSF (outputs/format.h) say which route the alert came by: the
// S3 object (verified) or the inline EventBridge event (unverified), and "unknown" for alerts
// buffered by an older agent; replay alerts add nothing.
#include "outputs/format.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>

#include "agent/normalize/integrity_finding.h"

using namespace trailwarden;

namespace {

AlertRecord base_alert() {
  AlertRecord a;
  a.uid = "b83fdfa1-2ee7-87d9-9d02-063b723ce383";
  a.rule_id = "cis-4.9";
  a.rule_title = "AWS Config configuration changes";
  a.severity_id = 4;
  a.account = "123456789012";
  a.event_id = "c7000000-0000-4000-8000-000000000001";
  a.ocsf = R"({"class_uid":2004})";
  a.raw = R"({"eventName":"StopConfigurationRecorder"})";
  return a;
}

AlertRecord s3_alert() {
  AlertRecord a = base_alert();
  a.route = AlertRoute::kS3Object;
  a.bucket = "trail-bucket";
  a.key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/a=b.json.gz";
  a.notification = "sns/s3";
  return a;
}

AlertRecord inline_alert() {
  AlertRecord a = base_alert();
  a.route = AlertRoute::kInlineEvent;
  a.eventbridge_event_id = "eb-1";
  a.notification = "eventbridge/cloudtrail";
  return a;
}

std::string render(const AlertRecord& a, AlertFormat f) {
  std::string out;
  format_alert(a, f, out);
  return out;
}

}  // namespace

TEST_CASE("CEF: the route, verified or not, and the object or EventBridge event") {
  const std::string s3 = render(s3_alert(), AlertFormat::kCef);
  CHECK(
      s3.ends_with(" externalId=b83fdfa1-2ee7-87d9-9d02-063b723ce383"
                   " cs4Label=trailwardenRoute cs4=s3 cn1Label=trailwardenVerified cn1=1"
                   " cs5Label=s3Object cs5=s3://trail-bucket/AWSLogs/123456789012/CloudTrail/"
                   "us-east-1/2026/11/26/a\\=b.json.gz"));  // '=' escaped in the value

  const std::string eb = render(inline_alert(), AlertFormat::kCef);
  CHECK(
      eb.ends_with(" cs4Label=trailwardenRoute cs4=eventbridge cn1Label=trailwardenVerified"
                   " cn1=0 cs5Label=eventBridgeEventId cs5=eb-1"));

  AlertRecord old = base_alert();
  old.route = AlertRoute::kUnknown;
  CHECK(
      render(old, AlertFormat::kCef)
          .ends_with(" cs4Label=trailwardenRoute cs4=unknown cn1Label=trailwardenVerified cn1=0"));

  // replay: nothing added
  const std::string replay = render(base_alert(), AlertFormat::kCef);
  CHECK(replay.ends_with(" externalId=b83fdfa1-2ee7-87d9-9d02-063b723ce383"));
  CHECK(replay.find("cs4") == std::string::npos);
}

TEST_CASE("cloudtrail format: the route in the trailwarden envelope") {
  CHECK(render(s3_alert(), AlertFormat::kCloudTrail) ==
        R"({"trailwarden":{"rule_id":"cis-4.9","rule_title":"AWS Config configuration changes",)"
        R"("severity":"High","severity_id":4,"finding_uid":"b83fdfa1-2ee7-87d9-9d02-063b723ce383",)"
        R"("route":"s3","verified":true,"bucket":"trail-bucket","key":"AWSLogs/123456789012/)"
        R"(CloudTrail/us-east-1/2026/11/26/a=b.json.gz","notification":"sns/s3"},)"
        R"("record":{"eventName":"StopConfigurationRecorder"}})");

  simdjson::dom::parser p;
  const std::string eb = render(inline_alert(), AlertFormat::kCloudTrail);
  simdjson::dom::element t = p.parse(eb)["trailwarden"];
  CHECK(std::string_view(t["route"]) == "eventbridge");
  CHECK_FALSE(bool(t["verified"]));
  CHECK(std::string_view(t["eventbridge_event_id"]) == "eb-1");
  CHECK(std::string_view(t["notification"]) == "eventbridge/cloudtrail");
  CHECK(t["bucket"].error() == simdjson::NO_SUCH_FIELD);

  AlertRecord old = base_alert();
  old.route = AlertRoute::kUnknown;
  simdjson::dom::parser p2;
  const std::string o = render(old, AlertFormat::kCloudTrail);
  simdjson::dom::element u = p2.parse(o)["trailwarden"];
  CHECK(std::string_view(u["route"]) == "unknown");
  CHECK_FALSE(bool(u["verified"]));

  const std::string replay = render(base_alert(), AlertFormat::kCloudTrail);
  CHECK(replay.find("\"route\"") == std::string::npos);
  CHECK(replay.find("\"verified\"") == std::string::npos);
}

TEST_CASE("ocsf format: the finding as made (its route is in unmapped.trailwarden)") {
  AlertRecord a = s3_alert();
  CHECK(render(a, AlertFormat::kOcsf) == a.ocsf);
}

namespace {

AlertRecord integrity_alert(std::string key = "AWSLogs/111122223333/CloudTrail/eu-west-1/f.json.gz") {
  IntegrityFindingInput in;
  in.check = IntegrityCheck::kLogFileModified;
  in.reason = "hash value doesn't match";
  in.bucket = "trail-bucket";
  in.key = std::move(key);
  in.account = "111122223333";
  in.region = "eu-west-1";
  in.expected_sha256 = std::string(64, 'e');
  in.actual_sha256 = std::string(64, 'a');
  in.time_ms = 1795143631123;
  return make_integrity_alert(in);
}

}  // namespace

TEST_CASE("cloudtrail format: an integrity alert has no record; its evidence is beside it") {
  const AlertRecord a = integrity_alert();
  const std::string out = render(a, AlertFormat::kCloudTrail);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(out).get(e) == simdjson::SUCCESS);
  CHECK(e.at_pointer("/record").is_null());
  CHECK(std::string_view(e.at_pointer("/integrity/check").get_string().value()) == "log_file_modified");
  CHECK(std::string_view(e.at_pointer("/trailwarden/kind").get_string().value()) == "integrity");
  CHECK(std::string_view(e.at_pointer("/trailwarden/rule_id").get_string().value()) ==
        "integrity.log_file_modified");
  CHECK(std::string_view(e.at_pointer("/trailwarden/severity").get_string().value()) == "Critical");
  CHECK(std::string_view(e.at_pointer("/trailwarden/key").get_string().value()) == a.key);
  // A record alert's envelope is as before: no kind.
  CHECK(render(s3_alert(), AlertFormat::kCloudTrail).find("\"kind\"") == std::string::npos);
  // An alarm transition: no record either.
  AlertRecord alarm = s3_alert();
  alarm.kind = AlertKind::kAlarm;
  alarm.raw.clear();
  CHECK(render(alarm, AlertFormat::kCloudTrail).ends_with(R"("kind":"alarm","route":"s3","verified":true,)"
                                                          R"("bucket":"trail-bucket","key":"AWSLogs/123456789012/)"
                                                          R"(CloudTrail/us-east-1/2026/11/26/a=b.json.gz",)"
                                                          R"("notification":"sns/s3"},"record":null})"));
}

TEST_CASE("CEF: an integrity alert says the check, the reason, the object and the hash read") {
  const std::string cef = render(integrity_alert(), AlertFormat::kCef);
  CHECK(cef.starts_with("CEF:0|trailwarden|trailwarden|"));
  CHECK(cef.find("|integrity.log_file_modified|CloudTrail log file modified|10|") != std::string::npos);
  CHECK(cef.find(" act=log_file_modified ") != std::string::npos);
  CHECK(cef.find(" msg=hash value doesn't match ") != std::string::npos);
  CHECK(cef.find(" fname=AWSLogs/111122223333/CloudTrail/eu-west-1/f.json.gz ") != std::string::npos);
  CHECK(cef.find(" fileHash=" + std::string(64, 'a') + " ") != std::string::npos);
  CHECK(cef.find(" cs5Label=s3Object cs5=s3://trail-bucket/AWSLogs/") != std::string::npos);
  // A hostile key: escaped, one line, nothing injected.
  const std::string bad = render(integrity_alert("a=b\\c\nd\r|e cs1=x"), AlertFormat::kCef);
  CHECK(bad.find('\n') == std::string::npos);
  CHECK(bad.find('\r') == std::string::npos);
  CHECK(bad.find(" fname=a\\=b\\\\c\\nd\\r|e cs1\\=x ") != std::string::npos);
}
