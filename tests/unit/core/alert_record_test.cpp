// AlertRecord's binary encoding (what the disk buffers store): the route round-trips, and
// records written by the previous encodings (version 1, before the route was stored; version 2,
// before the Kafka position was) still decode, as buffers from older agents exist on disk.
#include "agent/core/alert_record.h"

#include <doctest/doctest.h>

#include <string>

using namespace trailwarden;

namespace {

std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

AlertRecord sample() {
  AlertRecord a;
  a.uid = "b83fdfa1-2ee7-87d9-9d02-063b723ce383";
  a.rule_id = "cis-4.9";
  a.rule_title = "AWS Config changes";
  a.severity_id = 4;
  a.tags = {"cis", "config"};
  a.time_ms = 1795687200000;
  a.account = "123456789012";
  a.region = "us-east-1";
  a.event_name = "StopConfigurationRecorder";
  a.event_source = "config.amazonaws.com";
  a.actor = "arn:aws:iam::123456789012:user/alice";
  a.source_ip = "192.0.2.10";
  a.event_id = "c7000000-0000-4000-8000-000000000001";
  a.ocsf = "{\"class_uid\":2004}";
  a.raw = "{\"eventName\":\"StopConfigurationRecorder\"}";
  return a;
}

// sample() encoded by the version-1 encoder (agent/core/alert_record.cpp before the route was added,
// commit b286c7d), as it sits in the buffers of agents of that version.
constexpr std::string_view kVersion1Hex =
    "012400000062383366646661312d326565372d383764392d396430322d3036336237323363653338330700000063"
    "69732d342e391200000041575320436f6e666967206368616e676573040000000200000003000000636973060000"
    "00636f6e66696700354c17a20100000c0000003132333435363738393031320900000075732d656173742d311900"
    "000053746f70436f6e66696775726174696f6e5265636f7264657214000000636f6e6669672e616d617a6f6e6177"
    "732e636f6d2400000061726e3a6177733a69616d3a3a3132333435363738393031323a757365722f616c6963650a"
    "0000003139322e302e322e31302400000063373030303030302d303030302d343030302d383030302d3030303030"
    "30303030303031120000007b22636c6173735f756964223a323030347d290000007b226576656e744e616d65223a"
    "2253746f70436f6e66696775726174696f6e5265636f72646572227d";

void check_same_fields(const AlertRecord& a, const AlertRecord& b) {
  CHECK(a.uid == b.uid);
  CHECK(a.rule_id == b.rule_id);
  CHECK(a.rule_title == b.rule_title);
  CHECK(a.severity_id == b.severity_id);
  CHECK(a.tags == b.tags);
  CHECK(a.time_ms == b.time_ms);
  CHECK(a.account == b.account);
  CHECK(a.region == b.region);
  CHECK(a.event_name == b.event_name);
  CHECK(a.event_source == b.event_source);
  CHECK(a.actor == b.actor);
  CHECK(a.source_ip == b.source_ip);
  CHECK(a.event_id == b.event_id);
  CHECK(a.ocsf == b.ocsf);
  CHECK(a.raw == b.raw);
}

}  // namespace

TEST_CASE("alert encoding: the route round-trips, for every route") {
  AlertRecord s3 = sample();
  s3.route = AlertRoute::kS3Object;
  s3.bucket = "trail-bucket";
  s3.key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/x.json.gz";
  s3.notification = "sns/s3";
  AlertRecord eb = sample();
  eb.route = AlertRoute::kInlineEvent;
  eb.eventbridge_event_id = "eb-1";
  eb.notification = "eventbridge/cloudtrail";
  AlertRecord kafka = sample();
  kafka.route = AlertRoute::kKafka;
  kafka.kafka_message = "kafka://cloudtrail/3@1234";
  kafka.notification = "kafka";
  for (const AlertRecord& a : {s3, eb, kafka, sample()}) {
    std::string bytes;
    a.encode(bytes);
    CHECK(static_cast<uint8_t>(bytes[0]) == 4);  // version 4: the alarm transition is stored
    AlertRecord b;
    b.route = AlertRoute::kUnknown;  // decode sets every field
    REQUIRE(AlertRecord::decode(bytes, b));
    check_same_fields(a, b);
    CHECK(b.route == a.route);
    CHECK(b.bucket == a.bucket);
    CHECK(b.key == a.key);
    CHECK(b.eventbridge_event_id == a.eventbridge_event_id);
    CHECK(b.notification == a.notification);
    CHECK(b.kafka_message == a.kafka_message);
    CHECK(b.verified() == (a.route == AlertRoute::kS3Object));
    // Every cut is malformed, and so is anything after the record.
    for (size_t n = 0; n < bytes.size(); ++n)
      CHECK_FALSE(AlertRecord::decode(bytes.substr(0, n), b));
    CHECK_FALSE(AlertRecord::decode(bytes + "x", b));
  }
}

TEST_CASE("alert encoding: a version-1 record (buffered by an older agent) still decodes") {
  const std::string v1 = from_hex(kVersion1Hex);
  REQUIRE(v1.size() == kVersion1Hex.size() / 2);
  AlertRecord b;
  b.bucket = "left over";
  REQUIRE(AlertRecord::decode(v1, b));
  check_same_fields(sample(), b);
  // Its route was not stored: unknown, and never taken for verified.
  CHECK(b.route == AlertRoute::kUnknown);
  CHECK(b.route_name() == "unknown");
  CHECK_FALSE(b.verified());
  CHECK(b.bucket.empty());
  for (size_t n = 0; n < v1.size(); ++n) CHECK_FALSE(AlertRecord::decode(v1.substr(0, n), b));
  // Re-encoded, it is a version-4 record that keeps "unknown".
  std::string v2;
  b.encode(v2);
  AlertRecord c;
  REQUIRE(AlertRecord::decode(v2, c));
  CHECK(c.route == AlertRoute::kUnknown);
}

TEST_CASE("alert encoding: unknown versions and route values are malformed") {
  std::string bytes;
  sample().encode(bytes);
  AlertRecord b;
  for (char v : {'\0', '\5', '\xff'}) {
    std::string other = bytes;
    other[0] = v;
    CHECK_FALSE(AlertRecord::decode(other, b));
  }
  // The route follows the version-1 fields: put an out-of-range value there.
  std::string v1 = from_hex(kVersion1Hex);
  std::string bad =
      "\x02" + v1.substr(1) + std::string("\x04\x00\x00\x00", 4) + std::string(16, '\0');
  CHECK_FALSE(AlertRecord::decode(bad, b));
  std::string good =
      "\x02" + v1.substr(1) + std::string("\x01\x00\x00\x00", 4) + std::string(16, '\0');
  REQUIRE(AlertRecord::decode(good, b));
  CHECK(b.route == AlertRoute::kS3Object);
  CHECK(b.kafka_message.empty());  // a version-2 record (buffered before Kafka) still decodes
  // Version 3 knows the Kafka route (4), and nothing past it.
  std::string kafka3 = "\x03" + v1.substr(1) + std::string("\x04\x00\x00\x00", 4) +
                       std::string(16, '\0') + std::string("\x05\x00\x00\x00k://x", 9);
  REQUIRE(AlertRecord::decode(kafka3, b));
  CHECK(b.route == AlertRoute::kKafka);
  CHECK(b.route_name() == "kafka");
  CHECK_FALSE(b.verified());
  CHECK(b.kafka_message == "k://x");
  std::string bad3 = "\x03" + v1.substr(1) + std::string("\x05\x00\x00\x00", 4) +
                     std::string(20, '\0');
  CHECK_FALSE(AlertRecord::decode(bad3, b));
}

TEST_CASE("alert encoding: an alarm transition round-trips (version 4); version 3 still decodes") {
  AlertRecord alarm = sample();
  alarm.kind = AlertKind::kAlarm;
  alarm.alarm = R"({"AlarmName":"ConfigChanges","NewStateValue":"ALARM"})";
  std::string bytes;
  alarm.encode(bytes);
  AlertRecord b;
  REQUIRE(AlertRecord::decode(bytes, b));
  check_same_fields(alarm, b);
  CHECK(b.kind == AlertKind::kAlarm);
  CHECK(b.alarm == alarm.alarm);
  for (size_t n = 0; n < bytes.size(); ++n) CHECK_FALSE(AlertRecord::decode(bytes.substr(0, n), b));
  // An unknown kind (3: none yet) is malformed.
  std::string bad = bytes;
  bad[bytes.size() - alarm.alarm.size() - 8] = '\x03';
  CHECK_FALSE(AlertRecord::decode(bad, b));

  // A version-3 record (buffered before alarms): sample() as the version-3 encoder wrote it,
  // the version-1 fields, route, four strings and kafka_message; a record alert.
  const std::string v1 = from_hex(kVersion1Hex);
  const std::string v3 = "\x03" + v1.substr(1) + std::string("\x00\x00\x00\x00", 4) +
                         std::string(16, '\0') + std::string(4, '\0');
  b.kind = AlertKind::kAlarm;
  b.alarm = "left over";
  REQUIRE(AlertRecord::decode(v3, b));
  check_same_fields(sample(), b);
  CHECK(b.kind == AlertKind::kRecord);
  CHECK(b.alarm.empty());
  CHECK(b.route == AlertRoute::kNone);
}

TEST_CASE("alert encoding: an integrity finding (kind 2) round-trips; kind 3 is refused") {
  AlertRecord in = sample();
  in.kind = AlertKind::kIntegrity;
  in.rule_id = "integrity.log_file_modified";
  in.route = AlertRoute::kS3Object;
  in.bucket = "trail-bucket";
  in.key = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/x.json.gz";
  in.raw = R"({"check":"log_file_modified","reason":"hash value doesn't match"})";
  std::string bytes;
  in.encode(bytes);
  AlertRecord b;
  REQUIRE(AlertRecord::decode(bytes, b));
  check_same_fields(in, b);
  CHECK(b.kind == AlertKind::kIntegrity);
  CHECK(b.route == AlertRoute::kS3Object);
  CHECK(b.bucket == in.bucket);
  CHECK(b.key == in.key);
  CHECK(b.raw == in.raw);
  CHECK(b.alarm.empty());
  // The kind is the u32 before the (empty) alarm string; 3 is no kind this agent knows: the
  // record is malformed, not taken for another kind.
  const size_t kind_at = bytes.size() - 4 - 4;
  REQUIRE(bytes[kind_at] == '\x02');
  for (char k : {'\x03', '\x04', '\xff'}) {
    std::string bad = bytes;
    bad[kind_at] = k;
    CHECK_FALSE(AlertRecord::decode(bad, b));
  }
}
