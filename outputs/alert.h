// AlertRecord: one alert as every output receives it: the rendered OCSF finding, the original
// CloudTrail record, and the few fields outputs need for routing, keys, syslog headers and
// CEF. A plain value; encode()/decode() give the stable binary form the disk buffers store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

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
  std::string raw;           // the original CloudTrail record, compact JSON

  // Severity caption as OCSF spells it: "Informational", "Low", ... "Critical".
  std::string_view severity() const;

  // Appends the binary encoding (versioned, length-prefixed) to `out`.
  void encode(std::string& out) const;
  // Decodes one record from the front of `in`; false on malformed input.
  static bool decode(std::string_view in, AlertRecord& out);
};

}  // namespace trailwarden
