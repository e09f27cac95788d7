#include "outputs/format.h"

#include "agent/common/json_writer.h"

namespace trailwarden {

bool parse_alert_format(std::string_view name, AlertFormat& out) {
  if (name == "ocsf") out = AlertFormat::kOcsf;
  else if (name == "cloudtrail") out = AlertFormat::kCloudTrail;
  else if (name == "cef") out = AlertFormat::kCef;
  else return false;
  return true;
}

std::string_view alert_format_name(AlertFormat f) {
  switch (f) {
    case AlertFormat::kOcsf: return "ocsf";
    case AlertFormat::kCloudTrail: return "cloudtrail";
    case AlertFormat::kCef: return "cef";
  }
  return "ocsf";
}

namespace {

// CEF header fields escape '|' and '\'; extension values escape '\', '=' and newlines.
void cef_header(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '|' || c == '\\') out.push_back('\\');
    if (c == '\n' || c == '\r') {
      out.push_back(' ');
      continue;
    }
    out.push_back(c);
  }
}

void cef_ext(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (out.back() != '|') out.push_back(' ');
  out.append(key);
  out.push_back('=');
  for (char c : value) {
    switch (c) {
      case '\\': out.append("\\\\"); break;
      case '=': out.append("\\="); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      default: out.push_back(c);
    }
  }
}

}  // namespace

void format_cef(const AlertRecord& a, std::string& out) {
  // CEF severity 0-10 from OCSF 1-5.
  static constexpr int kCefSeverity[] = {0, 1, 3, 5, 8, 10};
  const int sev = a.severity_id >= 1 && a.severity_id <= 5 ? kCefSeverity[a.severity_id] : 5;
  out += "CEF:0|trailwarden|trailwarden|" TRAILWARDEN_VERSION "|";
  cef_header(out, a.rule_id);
  out.push_back('|');
  cef_header(out, a.rule_title);
  out.push_back('|');
  out += std::to_string(sev);
  out.push_back('|');
  if (a.time_ms) cef_ext(out, "rt", std::to_string(a.time_ms));
  cef_ext(out, "act", a.event_name);
  cef_ext(out, "app", a.event_source);
  cef_ext(out, "suser", a.actor);
  cef_ext(out, "src", a.source_ip);
  cef_ext(out, "cs1Label", "awsAccountId");
  cef_ext(out, "cs1", a.account);
  cef_ext(out, "cs2Label", "awsRegion");
  cef_ext(out, "cs2", a.region);
  cef_ext(out, "externalId", a.uid);
  cef_ext(out, "cs3Label", "eventID");
  cef_ext(out, "cs3", a.event_id);
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
      w.end_object();
      w.key("record").raw(a.raw.empty() ? std::string_view("null") : std::string_view(a.raw));
      w.end_object();
      return;
    }
    case AlertFormat::kCef:
      format_cef(a, out);
      return;
  }
}

}  // namespace trailwarden
