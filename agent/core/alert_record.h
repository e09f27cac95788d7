// AlertRecord: one alert as every output receives it: the rendered OCSF finding, the original
// CloudTrail record, the route it came by, and the few fields outputs need for routing, keys,
// syslog headers and CEF. A plain value; encode()/decode() give the stable binary form the disk
// buffers store (version 4; versions 1 to 3, written before the route / the Kafka position / the
// alarm transition were stored, still decode).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

// How the record reached the agent (docs/alerts.md, "Route and trust"). Every format says it
// (docs/outputs.md, "Route in every format"), so that no SIEM takes an unverified event for a
// record read from the trail's bucket.
enum class AlertRoute : uint8_t {
  kNone = 0,         // replay: a file the operator named; the formats add nothing
  kS3Object = 1,     // run: read from an object of an allowed bucket (bucket, key): verified
  kInlineEvent = 2,  // run: a CloudTrail record inside an EventBridge event on the queue:
                     // unverified (eventbridge_event_id: the envelope's id)
  kUnknown = 3,      // decoded from a version-1 record (buffered by an agent that did not store
                     // the route): treated as unverified
  kKafka = 4,        // run: a message of a Kafka topic: unverified (kafka_message: where it is)
};

// What an alert stands for.
enum class AlertKind : uint8_t {
  kRecord = 0,  // one record matched a rule
  kAlarm = 1,   // a rule's alarm changed state (agent/alarms/alarm_stage.h); `alarm` says how
  kIntegrity = 2,  // the trail is not whole (agent/normalize/integrity_finding.h): `raw` is the
                   // evidence, bucket/key the object it is about
};

struct AlertRecord {
  std::string uid;           // the finding uid (deterministic per rule and event)
  std::string rule_id;       // "cis-4.9"
  std::string rule_title;    // "AWS Config configuration changes"
  int severity_id = 3;       // OCSF: 1 informational, 2 low, 3 medium, 4 high, 5 critical
  std::vector<std::string> tags;  // the rule's tags (routing)
  int64_t time_ms = 0;       // the event's time (eventTime), 0 if unknown
  std::string account;       // recipientAccountId / userIdentity.accountId
  std::string region;        // awsRegion
  std::string event_name;    // eventName
  std::string event_source;  // eventSource
  std::string actor;         // userIdentity.arn (or invokedBy / type)
  std::string source_ip;     // sourceIPAddress
  std::string event_id;      // eventID
  std::string ocsf;          // the OCSF Detection Finding, one line of JSON
  std::string raw;           // the original CloudTrail record, compact JSON; kIntegrity: the
                             // evidence (one JSON object); kAlarm: empty
  AlertRoute route = AlertRoute::kNone;
  std::string bucket;                // kS3Object: the object's bucket
  std::string key;                   // kS3Object: the object's key
  std::string eventbridge_event_id;  // kInlineEvent: the EventBridge event's id
  std::string kafka_message;         // kKafka: "kafka://topic/partition@offset"
  std::string notification;          // how the SQS notification arrived ("sns/s3",
                                     // "eventbridge/cloudtrail"); empty for replay
  AlertKind kind = AlertKind::kRecord;
  // kAlarm: the CloudWatch alarm change, one JSON object with the members of CloudWatch's alarm
  // notification (AlarmName, NewStateValue, OldStateValue, NewStateReason, StateChangeTime in
  // ms, Region as its code, AWSAccountId, Trigger {...}; agent/normalize/alarm_finding.h), from
  // which the SNS output builds the notification. Empty for kRecord.
  std::string alarm;

  // True only for records read from S3 (kS3Object).
  bool verified() const { return route == AlertRoute::kS3Object; }
  // "s3", "eventbridge", "kafka", "unknown"; empty for kNone (replay).
  std::string_view route_name() const;

  // Severity caption as OCSF spells it: "Informational", "Low", ... "Critical".
  std::string_view severity() const;

  // The version encode() writes; decode() reads it and every earlier one.
  static constexpr uint8_t kEncodingVersion = 4;

  // Appends the binary encoding (versioned, length-prefixed) to `out`.
  void encode(std::string& out) const;
  // Decodes one record from the front of `in`; false on malformed input.
  static bool decode(std::string_view in, AlertRecord& out);
};

}  // namespace trailwarden
