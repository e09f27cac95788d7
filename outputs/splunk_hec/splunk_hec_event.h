// The HEC wire format (https://docs.splunk.com/Documentation/Splunk/latest/Data/FormateventsforHTTPEventCollector):
// the event object each alert becomes (see splunk_hec_output.h for its fields) and the parts
// of Splunk's JSON answer the sink acts on. Stateless.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/core/alert_record.h"
#include "outputs/splunk_hec/splunk_hec_config.h"

namespace trailwarden {

// Appends alert `a` as one HEC event object to `out`:
//   {"time":<event time, seconds with millisecond fraction>,"host":..,"source":..,
//    "sourcetype":..,"index":..,"event":<the alert>[,"fields":{..}]}
// (time omitted when the alert has none; host and index omitted when not configured; with
// format "cloudtrail" the bare record as the event and the trailwarden envelope in "fields";
// alarm and integrity alerts, which have no record, as the envelope of format_alert).
void append_hec_event(const AlertRecord& a, const SplunkHecOptions& options, std::string& out);

// The HEC-relevant parts of a Splunk answer ({"text":..,"code":..,"ackId":..,
// "invalid-event-number":..}); absent numbers are -1. Never throws: a body that is not a JSON
// object gives every part absent.
struct HecReply {
  int64_t code = -1;
  std::string text;
  int64_t ack_id = -1;
  int64_t invalid_event = -1;
};
HecReply parse_hec_reply(std::string_view body);

}  // namespace trailwarden
