#include "agent/normalize/ocsf.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include "agent/engine/replay.h"
#include "agent/rules/matcher.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;

namespace {

rules::Rule rule_49() {
  for (auto& r : rules::load_builtin_pack("cis-aws-foundations"))
    if (r.id == "cis-4.9") return r;
  FAIL("cis-4.9 missing");
  return {};
}

std::string finding_for(const rules::Rule& rule, const std::string& record, OcsfOptions o = {}) {
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(record);
  std::string out;
  append_detection_finding(out, rule, record, &e, o);
  return out;
}

}  // namespace

namespace {
// Collects what the pipeline writes.
class MemoryOutput : public Output {
 public:
  const std::string& name() const override { return name_; }
  DeliveryResult send(const std::vector<const AlertRecord*>& batch) override {
    for (const AlertRecord* a : batch) {
      text.append(a->ocsf);
      text.push_back('\n');
    }
    return {};
  }
  std::string text;

 private:
  std::string name_ = "memory";
};
}  // namespace

TEST_CASE("golden: replay of the AWS Config documentation records (CIS 4.9)") {
  // What `trailwarden replay tests/data/cloudtrail/awsdocs_config.json` writes with the
  // default configuration, pinned byte for byte (see tests/data/golden/README.md).
  rules::Rule rule = rule_49();
  auto owned = std::make_unique<MemoryOutput>();
  MemoryOutput& out = *owned;
  std::vector<DeliveryPipeline::Entry> entries;
  DeliveryPipeline::Entry e;
  e.settings.name = "memory";
  e.output = std::move(owned);
  entries.push_back(std::move(e));
  DeliveryPipeline outputs(std::move(entries), "/tmp", /*force_memory=*/true);
  std::string error;
  REQUIRE(outputs.start(error));
  ReplayOptions options;
  options.paths = {test::data_path("cloudtrail/awsdocs_config.json")};
  ReplaySummary s = run_replay(options, {&rule}, outputs);
  outputs.stop(std::chrono::seconds(1));
  CHECK(s.failed_files == 0);
  CHECK(s.records == 10);
  CHECK(s.alerts == 4);
  // metadata.log_name is the path as given: pin it as the README's command (run from the
  // repository's root) names it.
  std::string text = out.text;
  const std::string abs = test::data_path("");
  for (size_t at; (at = text.find(abs)) != std::string::npos;) text.replace(at, abs.size(), "tests/data/");
  CHECK(text == test::read_data("golden/awsdocs_config.cis-4.9.ndjson"));
}

TEST_CASE("finding fields: class, severity, uid, time, cloud, evidences, raw_data") {
  rules::Rule rule = rule_49();
  const std::string rec =
      R"({"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:me","arn":"arn:aws:sts::111122223333:assumed-role/Admin/me","accountId":"111122223333","sessionContext":{"attributes":{"creationDate":"2024-05-01T10:00:00Z","mfaAuthenticated":"true"},"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/Admin","userName":"Admin"}}},"eventTime":"2024-05-01T10:20:30.5Z","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"eu-west-1","sourceIPAddress":"2001:db8::1","userAgent":"aws-cli/2","requestParameters":{"configurationRecorderName":"default"},"responseElements":null,"requestID":"req-1","eventID":"ev-1","eventType":"AwsApiCall","recipientAccountId":"111122223333","resources":[{"ARN":"arn:aws:config:eu-west-1:111122223333:config-recorder/default","type":"AWS::Config::ConfigurationRecorder","accountId":"111122223333"}]})";
  std::string out = finding_for(rule, rec);
  simdjson::dom::parser p;
  simdjson::dom::element f = p.parse(out);
  CHECK(int64_t(f["class_uid"]) == 2004);
  CHECK(int64_t(f["type_uid"]) == 200401);
  CHECK(int64_t(f["activity_id"]) == 1);
  CHECK(bool(f["is_alert"]));
  CHECK(std::string_view(f["metadata"]["version"]) == "1.4.0");
  CHECK(int64_t(f["severity_id"]) == 4);
  CHECK(std::string_view(f["severity"]) == "High");
  CHECK(int64_t(f["time"]) == 1714558830500);
  CHECK(std::string_view(f["finding_info"]["analytic"]["uid"]) == "cis-4.9");
  CHECK(std::string_view(f["finding_info"]["uid"]) == finding_uid("cis-4.9", "ev-1", ""));
  CHECK(std::string_view(f["cloud"]["region"]) == "eu-west-1");
  CHECK(std::string_view(f["cloud"]["account"]["uid"]) == "111122223333");
  simdjson::dom::element ev = f["evidences"].at(0);
  CHECK(std::string_view(ev["actor"]["user"]["uid"]) == "arn:aws:sts::111122223333:assumed-role/Admin/me");
  CHECK(std::string_view(ev["actor"]["user"]["name"]) == "me");  // the role session
  CHECK(bool(ev["actor"]["session"]["is_mfa"]));
  CHECK(std::string_view(ev["actor"]["session"]["issuer"]) == "arn:aws:iam::111122223333:role/Admin");
  CHECK(std::string_view(ev["api"]["operation"]) == "StopConfigurationRecorder");
  CHECK(std::string_view(ev["api"]["service"]["name"]) == "config.amazonaws.com");
  CHECK(std::string_view(ev["api"]["request"]["uid"]) == "req-1");
  CHECK(std::string_view(ev["src_endpoint"]["ip"]) == "2001:db8::1");
  CHECK(std::string_view(f["resources"].at(0)["type"]) == "AWS::Config::ConfigurationRecorder");
  CHECK(std::string_view(f["raw_data"]) == rec);

  OcsfOptions no_raw;
  no_raw.include_raw_data = false;
  CHECK(finding_for(rule, rec, no_raw).find("raw_data") == std::string::npos);
}

TEST_CASE("finding uid: deterministic, per rule and event") {
  CHECK(finding_uid("cis-4.9", "e1", "") == finding_uid("cis-4.9", "e1", "ignored"));
  CHECK(finding_uid("cis-4.9", "e1", "") != finding_uid("cis-4.9", "e2", ""));
  CHECK(finding_uid("cis-4.9", "e1", "") != finding_uid("cis-4.5", "e1", ""));
  CHECK(finding_uid("r", "", "{\"a\":1}") != finding_uid("r", "", "{\"a\":2}"));
  std::string u = finding_uid("cis-4.9", "e1", "");
  CHECK(u.size() == 36);
  CHECK(u[14] == '8');  // UUID version 8
}

TEST_CASE("route and trust: S3 alerts name their object, inline alerts say they are unverified") {
  rules::Rule rule = rule_49();
  const std::string rec =
      R"({"eventTime":"2024-05-01T10:20:30Z","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"eu-west-1","eventID":"ev-1","recipientAccountId":"111122223333"})";
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(rec);

  RecordOrigin s3;
  s3.route = RecordOrigin::Route::kS3Object;
  s3.bucket = "trail-bucket";
  s3.key = "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/x.json.gz";
  s3.notification = "sns/s3";
  s3.message_id = "m-1";
  AlertRecord a = make_alert(rule, rec, &e, {}, s3);
  simdjson::dom::parser pa;
  simdjson::dom::element fa = pa.parse(a.ocsf);
  CHECK(std::string_view(fa["metadata"]["log_name"]) == "s3://" + s3.bucket + "/" + s3.key);
  simdjson::dom::element ra = fa["unmapped"]["trailwarden"];
  CHECK(std::string_view(ra["route"]) == "s3");
  CHECK(bool(ra["verified"]));
  CHECK(std::string_view(ra["bucket"]) == "trail-bucket");
  CHECK(std::string_view(ra["key"]) == s3.key);
  CHECK(std::string_view(ra["notification"]) == "sns/s3");
  CHECK(std::string_view(ra["sqs_message_id"]) == "m-1");
  // The authoritative uid: the same as replay's, the same as before routes were recorded.
  CHECK(a.uid == finding_uid("cis-4.9", "ev-1", ""));
  CHECK(std::string_view(fa["metadata"]["correlation_uid"]) == a.uid);
  CHECK(std::string_view(fa["message"]).find("unverified") == std::string_view::npos);
  // The same route on the AlertRecord, for the formats that are not OCSF.
  CHECK(a.route == AlertRoute::kS3Object);
  CHECK(a.verified());
  CHECK(a.bucket == "trail-bucket");
  CHECK(a.key == s3.key);
  CHECK(a.notification == "sns/s3");
  CHECK(a.eventbridge_event_id.empty());

  RecordOrigin eb;
  eb.route = RecordOrigin::Route::kInlineEvent;
  eb.event_id = "eb-1";
  eb.source = "aws.config";
  eb.account = "111122223333";
  eb.region = "eu-west-1";
  eb.notification = "eventbridge/cloudtrail";
  eb.message_id = "m-2";
  AlertRecord b = make_alert(rule, rec, &e, {}, eb);
  simdjson::dom::parser pb;
  simdjson::dom::element fb = pb.parse(b.ocsf);
  simdjson::dom::element rb = fb["unmapped"]["trailwarden"];
  CHECK(std::string_view(rb["route"]) == "eventbridge");
  CHECK_FALSE(bool(rb["verified"]));
  CHECK(std::string_view(rb["eventbridge_event_id"]) == "eb-1");
  CHECK(std::string_view(rb["eventbridge_source"]) == "aws.config");
  CHECK(std::string_view(rb["eventbridge_account"]) == "111122223333");
  CHECK(std::string_view(rb["eventbridge_region"]) == "eu-west-1");
  CHECK(fb["metadata"]["log_name"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(std::string_view(fb["message"]).ends_with("[unverified: EventBridge event, not read from S3]"));
  // Its own uid (a forged copy can never take the S3 record's uid), correlated by the
  // authoritative one, and by the eventID.
  CHECK(b.uid == finding_uid("cis-4.9", "ev-1", "", /*unverified=*/true));
  CHECK(b.uid != a.uid);
  CHECK(std::string_view(fb["metadata"]["uid"]) == b.uid);
  CHECK(std::string_view(fb["finding_info"]["uid"]) == b.uid);
  CHECK(std::string_view(fb["metadata"]["correlation_uid"]) == a.uid);
  CHECK(std::string_view(fb["finding_info"]["related_events"].at(0)["uid"]) == "ev-1");
  CHECK(b.route == AlertRoute::kInlineEvent);
  CHECK_FALSE(b.verified());
  CHECK(b.eventbridge_event_id == "eb-1");
  CHECK(b.notification == "eventbridge/cloudtrail");
  CHECK(b.bucket.empty());
  CHECK(b.key.empty());

  // replay (a local file): no route recorded
  AlertRecord c = make_alert(rule, rec, &e, {});
  CHECK(c.uid == a.uid);
  CHECK(c.ocsf.find("unmapped") == std::string::npos);
  CHECK(c.ocsf.find("log_name") == std::string::npos);
  CHECK(c.route == AlertRoute::kNone);
  CHECK_FALSE(c.verified());
}

TEST_CASE("route and trust: a Kafka message is unverified and names its topic, partition and "
          "offset") {
  rules::Rule rule = rule_49();
  const std::string rec =
      R"({"eventTime":"2024-05-01T10:20:30Z","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"eu-west-1","eventID":"ev-1","recipientAccountId":"111122223333"})";
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(rec);
  RecordOrigin k;
  k.route = RecordOrigin::Route::kKafka;
  k.notification = "kafka";
  k.message_id = "kafka://cloudtrail/3@1234";
  k.topic = "cloudtrail";
  k.partition = 3;
  k.offset = 1234;
  AlertRecord a = make_alert(rule, rec, &e, {}, k);
  simdjson::dom::parser pa;
  simdjson::dom::element f = pa.parse(a.ocsf);
  simdjson::dom::element r = f["unmapped"]["trailwarden"];
  CHECK(std::string_view(r["route"]) == "kafka");
  CHECK_FALSE(bool(r["verified"]));
  CHECK(std::string_view(r["kafka_topic"]) == "cloudtrail");
  CHECK(int64_t(r["kafka_partition"]) == 3);
  CHECK(int64_t(r["kafka_offset"]) == 1234);
  CHECK(std::string_view(r["notification"]) == "kafka");
  CHECK(r["sqs_message_id"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(std::string_view(f["metadata"]["log_name"]) == "kafka://cloudtrail/3@1234");
  CHECK(std::string_view(f["message"]).ends_with("[unverified: Kafka message, not read from S3]"));
  // Written by whoever may produce to the topic: the unverified domain, as inline events,
  // correlated with the S3 alert of the same eventID.
  CHECK(a.uid == finding_uid("cis-4.9", "ev-1", "", /*unverified=*/true));
  CHECK(std::string_view(f["metadata"]["correlation_uid"]) == finding_uid("cis-4.9", "ev-1", ""));
  CHECK(a.route == AlertRoute::kKafka);
  CHECK(a.route_name() == "kafka");
  CHECK_FALSE(a.verified());
  CHECK(a.kafka_message == "kafka://cloudtrail/3@1234");
  CHECK(a.notification == "kafka");
}

TEST_CASE("service principals become svc_name; errors map to api.response") {
  rules::Rule rule = rule_49();
  std::string out = finding_for(
      rule, R"({"eventName":"PutDeliveryChannel","sourceIPAddress":"config.amazonaws.com","errorCode":"AccessDenied","errorMessage":"no"})");
  simdjson::dom::parser p;
  simdjson::dom::element f = p.parse(out);
  simdjson::dom::element ev = f["evidences"].at(0);
  CHECK(std::string_view(ev["src_endpoint"]["svc_name"]) == "config.amazonaws.com");
  CHECK(std::string_view(ev["api"]["response"]["error"]) == "AccessDenied");
  CHECK(std::string_view(ev["api"]["response"]["error_message"]) == "no");
}

TEST_CASE("event time parsing") {
  int64_t ms;
  CHECK(parse_event_time("1970-01-01T00:00:00Z", ms));
  CHECK(ms == 0);
  CHECK(parse_event_time("2014-12-11T18:32:57Z", ms));
  CHECK(ms == 1418322777000);
  CHECK(parse_event_time("2014-12-11T18:32:57.123456Z", ms));
  CHECK(ms == 1418322777123);
  CHECK(parse_event_time("2014-12-11T18:32:57.1Z", ms));
  CHECK(ms == 1418322777100);
  CHECK(parse_event_time("2014-12-11T18:32:57.123456789123456789Z", ms));
  CHECK(ms == 1418322777123);
  CHECK(parse_event_time("2014-12-11t18:32:57z", ms));
  CHECK(ms == 1418322777000);
  CHECK(parse_event_time("2014-12-11T19:32:57+01:00", ms));
  CHECK(ms == 1418322777000);
  CHECK(parse_event_time("2014-12-11T13:02:57.5-05:30", ms));
  CHECK(ms == 1418322777500);
  CHECK(parse_event_time("2024-02-29T00:00:00Z", ms));  // leap year
  CHECK(parse_event_time("2016-12-31T23:59:60Z", ms));  // leap second: the next second
  CHECK(ms == 1483228800000);
  CHECK(parse_event_time("9999-12-31T23:59:59.999Z", ms));
  CHECK(ms == 253402300799999);
  ms = 42;
  CHECK_FALSE(parse_event_time("2014-12-11 18:32", ms));
  CHECK_FALSE(parse_event_time("2014-12-11 18:32:57Z", ms));  // space: not a datetime_t
  CHECK_FALSE(parse_event_time("2014-12-11T18:32:57", ms));   // no offset: ambiguous
  CHECK_FALSE(parse_event_time("2014-13-11T18:32:57Z", ms));
  CHECK_FALSE(parse_event_time("2023-02-29T00:00:00Z", ms));
  CHECK_FALSE(parse_event_time("2024-02-30T00:00:00Z", ms));
  CHECK_FALSE(parse_event_time("2024-04-31T00:00:00Z", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T24:00:00Z", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T23:60:00Z", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T23:00:61Z", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T23:00:00.Z", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T23:00:00+1:00", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T23:00:00+24:00", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T23:00:00+01:60", ms));
  CHECK_FALSE(parse_event_time("2024-01-01T23:00:00Z ", ms));
  CHECK_FALSE(parse_event_time("+2024-01-01T23:00:00Z", ms));
  CHECK_FALSE(parse_event_time("1969-12-31T23:59:59Z", ms));  // before the epoch
  CHECK_FALSE(parse_event_time("1970-01-01T00:30:00+01:00", ms));
  CHECK_FALSE(parse_event_time("", ms));
  CHECK(ms == 42);  // left alone
}

TEST_CASE("format_datetime: UTC datetime_t, milliseconds only when there are some") {
  CHECK(format_datetime(0) == "1970-01-01T00:00:00Z");
  CHECK(format_datetime(1418322777000) == "2014-12-11T18:32:57Z");
  CHECK(format_datetime(1418322777120) == "2014-12-11T18:32:57.120Z");
  CHECK(format_datetime(1709164800000) == "2024-02-29T00:00:00Z");
  CHECK(format_datetime(253402300799999) == "9999-12-31T23:59:59.999Z");
  // Round trip over a range of days, leap years included.
  for (int64_t ms = 0; ms < 253402300799999; ms += 86400000LL * 97 + 3601001) {
    int64_t back = -1;
    REQUIRE(parse_event_time(format_datetime(ms), back));
    CHECK(back == ms);
  }
}

TEST_CASE("hostile strings stay valid JSON") {
  rules::Rule rule = rule_49();
  const std::string rec =
      "{\"eventName\":\"PutDeliveryChannel\",\"userAgent\":\"a\\\"b\\\\c\\n\\u0000\\u2028\",\"userIdentity\":{\"userName\":\"\\ud83d\\ude00\"}}";
  std::string out = finding_for(rule, rec);
  simdjson::dom::parser p;
  simdjson::dom::element f;
  REQUIRE(p.parse(out).get(f) == simdjson::SUCCESS);
  CHECK(std::string_view(f["evidences"].at(0)["http_request"]["user_agent"]) == std::string_view("a\"b\\c\n\0\xE2\x80\xA8", 10));
}
