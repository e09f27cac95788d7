#include "agent/core/alert_record.h"

#include <cstring>

#include "agent/common/byte_codec.h"

namespace trailwarden {

namespace {

// Version 1: the fields up to `raw`. Version 2 appends the route: u32 route, then bucket, key,
// eventbridge_event_id, notification. Version 3 appends kafka_message. Version 4 appends u32
// kind, then alarm. All decode; encode() writes version 4.
constexpr uint8_t kVersion1 = 1;
constexpr uint8_t kVersion2 = 2;
constexpr uint8_t kVersion3 = 3;
constexpr uint8_t kVersion = AlertRecord::kEncodingVersion;

using bytes::put_str;
using bytes::put_u32;
using bytes::put_u64;
using Reader = bytes::ByteReader;

}  // namespace

std::string_view AlertRecord::route_name() const {
  switch (route) {
    case AlertRoute::kNone: return "";
    case AlertRoute::kS3Object: return "s3";
    case AlertRoute::kInlineEvent: return "eventbridge";
    case AlertRoute::kUnknown: return "unknown";
    case AlertRoute::kKafka: return "kafka";
  }
  return "unknown";
}

std::string_view AlertRecord::severity() const {
  switch (severity_id) {
    case 1: return "Informational";
    case 2: return "Low";
    case 3: return "Medium";
    case 4: return "High";
    case 5: return "Critical";
    default: return "Unknown";
  }
}

void AlertRecord::encode(std::string& out) const {
  out.push_back(static_cast<char>(kVersion));
  for (const std::string* s : {&uid, &rule_id, &rule_title}) put_str(out, *s);
  put_u32(out, static_cast<uint32_t>(severity_id));
  put_u32(out, static_cast<uint32_t>(tags.size()));
  for (const auto& t : tags) put_str(out, t);
  put_u64(out, static_cast<uint64_t>(time_ms));
  for (const std::string* s : {&account, &region, &event_name, &event_source, &actor, &source_ip,
                               &event_id, &ocsf, &raw})
    put_str(out, *s);
  put_u32(out, static_cast<uint32_t>(route));
  for (const std::string* s : {&bucket, &key, &eventbridge_event_id, &notification, &kafka_message})
    put_str(out, *s);
  put_u32(out, static_cast<uint32_t>(kind));
  put_str(out, alarm);
}

bool AlertRecord::decode(std::string_view in, AlertRecord& a) {
  if (in.empty()) return false;
  const auto version = static_cast<uint8_t>(in[0]);
  if (version < kVersion1 || version > kVersion) return false;
  Reader r{in.substr(1)};
  a.uid = r.str();
  a.rule_id = r.str();
  a.rule_title = r.str();
  a.severity_id = static_cast<int>(r.u32());
  uint32_t n = r.u32();
  if (!r.ok || n > 1024) return false;
  a.tags.clear();
  for (uint32_t i = 0; i < n && r.ok; ++i) a.tags.push_back(r.str());
  a.time_ms = static_cast<int64_t>(r.u64());
  for (std::string* s : {&a.account, &a.region, &a.event_name, &a.event_source, &a.actor,
                         &a.source_ip, &a.event_id, &a.ocsf, &a.raw})
    *s = r.str();
  for (std::string* s : {&a.bucket, &a.key, &a.eventbridge_event_id, &a.notification,
                         &a.kafka_message, &a.alarm})
    s->clear();
  a.kind = AlertKind::kRecord;
  if (version == kVersion1) {
    a.route = AlertRoute::kUnknown;
    return r.ok && r.in.empty();
  }
  const uint32_t route = r.u32();
  const uint32_t max_route = static_cast<uint32_t>(version == kVersion2 ? AlertRoute::kUnknown
                                                                         : AlertRoute::kKafka);
  if (!r.ok || route > max_route) return false;
  a.route = static_cast<AlertRoute>(route);
  for (std::string* s : {&a.bucket, &a.key, &a.eventbridge_event_id, &a.notification}) *s = r.str();
  if (version >= kVersion3) a.kafka_message = r.str();
  if (version >= kVersion) {
    const uint32_t kind = r.u32();
    if (!r.ok || kind > static_cast<uint32_t>(AlertKind::kIntegrity)) return false;
    a.kind = static_cast<AlertKind>(kind);
    a.alarm = r.str();
  }
  return r.ok && r.in.empty();
}

}  // namespace trailwarden
