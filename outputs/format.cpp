#include "outputs/format.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdint>

#include <simdjson.h>

#include "agent/common/json_writer.h"
#include "agent/normalize/record_access.h"
#include "outputs/ecs_document.h"

namespace trailwarden {

bool parse_alert_format(std::string_view name, AlertFormat& out) {
  if (name == "ocsf") out = AlertFormat::kOcsf;
  else if (name == "cloudtrail") out = AlertFormat::kCloudTrail;
  else if (name == "cef") out = AlertFormat::kCef;
  else if (name == "ecs") out = AlertFormat::kEcs;
  else return false;
  return true;
}

std::string_view alert_format_name(AlertFormat f) {
  switch (f) {
    case AlertFormat::kOcsf: return "ocsf";
    case AlertFormat::kCloudTrail: return "cloudtrail";
    case AlertFormat::kCef: return "cef";
    case AlertFormat::kEcs: return "ecs";
  }
  return "ocsf";
}

std::string_view alert_kind_name(AlertKind kind) {
  switch (kind) {
    case AlertKind::kRecord: return "record";
    case AlertKind::kAlarm: return "alarm";
    case AlertKind::kIntegrity: return "integrity";
  }
  return "record";
}

namespace {


// Appends at most `max` octets of `s` (whole characters), CEF-escaped. The CEF specification
// (ArcSight "Implementing ArcSight CEF", rev. 25): in the header, '|' and '\' are escaped with
// '\' and newlines are not allowed (they become spaces); in extension values, '\' and '=' are
// escaped, CR and LF are written as \r and \n, and '|' needs no escape. Beyond the
// specification, so that a value can never break syslog framing or a parser: other control
// characters (C0, DEL) become spaces and invalid UTF-8 becomes U+FFFD (CEF is UTF-8).
void cef_escape(std::string& out, std::string_view s, bool extension, size_t max) {
  size_t i = 0;
  while (i < s.size() && i < max) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out.append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      } else {
        if (i + len > max) break;
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    ++i;
    if (c == '\\') {
      out.append("\\\\");
    } else if (extension && c == '=') {
      out.append("\\=");
    } else if (!extension && c == '|') {
      out.append("\\|");
    } else if (extension && c == '\n') {
      out.append("\\n");
    } else if (extension && c == '\r') {
      out.append("\\r");
    } else if (c < 0x20 || c == 0x7F) {
      out.push_back(' ');
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

// The extension part: "key=value" pairs separated by single spaces; empty values are left out
// (with their label, for custom fields).
class CefExtensions {
 public:
  explicit CefExtensions(std::string& out) : out_(out) {}
  void add(std::string_view key, std::string_view value, size_t max) {
    if (value.empty()) return;
    if (!first_) out_.push_back(' ');
    first_ = false;
    out_.append(key);
    out_.push_back('=');
    cef_escape(out_, value, true, max);
  }
  // A custom field and its label ("cs1Label=awsAccountId cs1=...").
  void add_labeled(std::string_view key, std::string_view label, std::string_view value,
                   size_t max) {
    if (value.empty()) return;
    add(std::string(key) + "Label", label, max);
    add(key, value, max);
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// CEF field lengths (characters; applied here as octets, which is never longer).
constexpr size_t kCefSignatureMax = 1023;
constexpr size_t kCefNameMax = 512;
constexpr size_t kCefActMax = 63;
constexpr size_t kCefStringMax = 1023;
constexpr size_t kCefCustomStringMax = 4000;
constexpr size_t kCefExternalIdMax = 40;
constexpr size_t kCefFileHashMax = 255;

}  // namespace

// CEF:0|trailwarden|trailwarden|VERSION|rule id|rule title|severity|extensions, where
//   severity  0-10 from OCSF: informational 1, low 3, medium 5, high 8, critical 10
//   rt        event time (ms since the epoch)       act                    eventName
//   destinationServiceName  eventSource             suser                  the actor (ARN)
//   src       sourceIPAddress when it is IPv4; c6a2 (c6a2Label "Source IPv6 Address") when
//             IPv6; shost otherwise ("AWS Internal", "ec2.amazonaws.com")
//   cs1 awsAccountId, cs2 awsRegion, cs3 eventID    externalId             the finding uid
void format_cef(const AlertRecord& a, std::string& out) {
  static constexpr int kCefSeverity[] = {0, 1, 3, 5, 8, 10};
  const int sev = a.severity_id >= 1 && a.severity_id <= 5 ? kCefSeverity[a.severity_id] : 5;
  out += "CEF:0|trailwarden|trailwarden|" TRAILWARDEN_VERSION "|";
  cef_escape(out, a.rule_id, false, kCefSignatureMax);
  out.push_back('|');
  cef_escape(out, a.rule_title, false, kCefNameMax);
  out.push_back('|');
  out += std::to_string(sev);
  out.push_back('|');
  CefExtensions ext(out);
  if (a.time_ms) ext.add("rt", std::to_string(a.time_ms), kCefStringMax);
  ext.add("act", a.event_name, kCefActMax);
  ext.add("destinationServiceName", a.event_source, kCefStringMax);
  ext.add("suser", a.actor, kCefStringMax);
  if (!a.source_ip.empty()) {
    unsigned char addr[sizeof(struct in6_addr)];
    const std::string ip(a.source_ip);
    if (inet_pton(AF_INET, ip.c_str(), addr) == 1)
      ext.add("src", ip, kCefStringMax);
    else if (inet_pton(AF_INET6, ip.c_str(), addr) == 1)
      ext.add_labeled("c6a2", "Source IPv6 Address", ip, kCefStringMax);
    else
      ext.add("shost", a.source_ip, kCefStringMax);
  }
  ext.add_labeled("cs1", "awsAccountId", a.account, kCefCustomStringMax);
  ext.add_labeled("cs2", "awsRegion", a.region, kCefCustomStringMax);
  ext.add_labeled("cs3", "eventID", a.event_id, kCefCustomStringMax);
  ext.add("externalId", a.uid, kCefExternalIdMax);
  if (a.kind == AlertKind::kIntegrity) {
    // The evidence (agent/normalize/integrity_finding.h): what was found and the hash read.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    const simdjson::dom::element* evidence =
        parser.parse(a.raw).get(root) == simdjson::SUCCESS ? &root : nullptr;
    ext.add("msg", normalize::str(evidence, {"reason"}), kCefStringMax);
    ext.add("fname", a.key, kCefStringMax);
    ext.add("fileHash", normalize::str(evidence, {"actual_sha256"}), kCefFileHashMax);
  }
  if (a.route != AlertRoute::kNone) {
    ext.add_labeled("cs4", "trailwardenRoute", a.route_name(), kCefCustomStringMax);
    ext.add_labeled("cn1", "trailwardenVerified", a.verified() ? "1" : "0", kCefStringMax);
    if (a.route == AlertRoute::kS3Object && !a.bucket.empty())
      ext.add_labeled("cs5", "s3Object", "s3://" + a.bucket + "/" + a.key, kCefCustomStringMax);
    else if (a.route == AlertRoute::kInlineEvent)
      ext.add_labeled("cs5", "eventBridgeEventId", a.eventbridge_event_id, kCefCustomStringMax);
    else if (a.route == AlertRoute::kKafka)
      ext.add_labeled("cs5", "kafkaMessage", a.kafka_message, kCefCustomStringMax);
  }
}

void write_route_fields(JsonWriter& w, const AlertRecord& a) {
  if (a.route == AlertRoute::kNone) return;
  auto opt = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) w.field(key, std::string_view(value));
  };
  w.field("route", a.route_name());
  w.field("verified", a.verified());
  opt("bucket", a.bucket);
  opt("key", a.key);
  opt("eventbridge_event_id", a.eventbridge_event_id);
  opt("kafka_message", a.kafka_message);
  opt("notification", a.notification);
}

void format_alert(const AlertRecord& a, AlertFormat format, std::string& out) {
  switch (format) {
    case AlertFormat::kOcsf:
      out += a.ocsf;
      return;
    case AlertFormat::kCloudTrail: {
      JsonWriter w(out);
      w.begin_object();
      w.key("trailwarden").begin_object();
      w.field("rule_id", std::string_view(a.rule_id));
      w.field("rule_title", std::string_view(a.rule_title));
      w.field("severity", a.severity());
      w.field("severity_id", a.severity_id);
      w.field("finding_uid", std::string_view(a.uid));
      if (a.kind != AlertKind::kRecord) w.field("kind", alert_kind_name(a.kind));
      write_route_fields(w, a);
      w.end_object();
      // An integrity alert has no CloudTrail record: its evidence goes beside, never where a
      // consumer expects a record.
      const bool record = a.kind == AlertKind::kRecord && !a.raw.empty();
      w.key("record").raw(record ? std::string_view(a.raw) : std::string_view("null"));
      if (a.kind == AlertKind::kIntegrity && !a.raw.empty()) w.key("integrity").raw(a.raw);
      w.end_object();
      return;
    }
    case AlertFormat::kCef:
      format_cef(a, out);
      return;
    case AlertFormat::kEcs: {
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch());
      append_ecs_document(a, now.count(), out);
      return;
    }
  }
}

}  // namespace trailwarden
