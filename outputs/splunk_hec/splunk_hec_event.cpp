#include "outputs/splunk_hec/splunk_hec_event.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <cstdint>

#include "agent/common/json_writer.h"
#include "outputs/format.h"

namespace trailwarden {

void append_hec_event(const AlertRecord& a, const SplunkHecOptions& o, std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  if (a.time_ms > 0) w.key("time").raw(fmt::format("{}.{:03}", a.time_ms / 1000, a.time_ms % 1000));
  if (!o.event_host.empty()) w.field("host", std::string_view(o.event_host));
  if (!o.source.empty()) w.field("source", std::string_view(o.source));
  if (!o.sourcetype.empty()) w.field("sourcetype", std::string_view(o.sourcetype));
  if (!o.index.empty()) w.field("index", std::string_view(o.index));
  // Only a CloudTrail record goes bare (its sourcetype parses it as one); an integrity alert's
  // evidence goes in the envelope (format_alert).
  const bool bare_record =
      o.format == AlertFormat::kCloudTrail && a.kind == AlertKind::kRecord && !a.raw.empty();
  if (bare_record) {
    // Indexed fields must be flat: strings only.
    w.key("fields").begin_object();
    w.field("trailwarden_rule_id", std::string_view(a.rule_id));
    w.field("trailwarden_rule_title", std::string_view(a.rule_title));
    w.field("trailwarden_severity", a.severity());
    w.field("trailwarden_severity_id", std::string_view(std::to_string(a.severity_id)));
    w.field("trailwarden_finding_uid", std::string_view(a.uid));
    if (a.route != AlertRoute::kNone) {
      w.field("trailwarden_route", a.route_name());
      w.field("trailwarden_verified", a.verified() ? "true" : "false");
      auto opt = [&](std::string_view key, const std::string& value) {
        if (!value.empty()) w.field(key, std::string_view(value));
      };
      opt("trailwarden_bucket", a.bucket);
      opt("trailwarden_key", a.key);
      opt("trailwarden_eventbridge_event_id", a.eventbridge_event_id);
      opt("trailwarden_kafka_message", a.kafka_message);
      opt("trailwarden_notification", a.notification);
    }
    w.end_object();
  }
  w.key("event");
  const size_t before = out.size();
  if (bare_record)
    out += a.raw;
  else
    format_alert(a, o.format, out);
  if (out.size() == before) out += "null";  // Splunk refuses it (code 13): a reject, not a crash
  out.push_back('}');
}

HecReply parse_hec_reply(std::string_view body) {
  HecReply r;
  if (body.empty()) return r;
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (p.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object())
    return r;
  auto number = [&root](const char* key, int64_t& out) {
    simdjson::dom::element e;
    if (root[key].get(e) != simdjson::SUCCESS) return;
    int64_t i = 0;
    uint64_t u = 0;
    std::string_view s;
    if (e.get_int64().get(i) == simdjson::SUCCESS)
      out = i;
    else if (e.get_uint64().get(u) == simdjson::SUCCESS)
      out = INT64_MAX;  // beyond any batch
    else if (e.get_string().get(s) == simdjson::SUCCESS) {
      int64_t v = 0;
      auto res = std::from_chars(s.data(), s.data() + s.size(), v);
      if (res.ec == std::errc() && res.ptr == s.data() + s.size()) out = v;
    }
  };
  number("code", r.code);
  number("ackId", r.ack_id);
  number("invalid-event-number", r.invalid_event);
  std::string_view text;
  if (root["text"].get_string().get(text) == simdjson::SUCCESS) r.text = std::string(text);
  return r;
}

}  // namespace trailwarden
