#include "outputs/syslog/syslog_message.h"

#include <time.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <charconv>

#include "agent/common/json_writer.h"
#include "outputs/ecs_document.h"

namespace trailwarden {

namespace {


constexpr std::array<std::string_view, 24> kFacilities = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "",       "",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};

constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Seconds and milliseconds of a Unix time in ms, rounding towards minus infinity.
void split_ms(int64_t unix_ms, time_t& secs, int& ms) {
  int64_t s = unix_ms / 1000;
  int64_t r = unix_ms % 1000;
  if (r < 0) {
    r += 1000;
    --s;
  }
  secs = static_cast<time_t>(s);
  ms = static_cast<int>(r);
}

// RFC 3164 TAG: letters, digits, '_', '-' and '.'; anything else becomes '_'.
void append_tag(std::string& out, std::string_view tag) {
  if (tag.empty()) tag = "trailwarden";
  for (char c : tag.substr(0, kSyslogMaxTag)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    out.push_back(ok ? c : '_');
  }
}

}  // namespace

int syslog_severity(int ocsf_severity_id) {
  if (ocsf_severity_id >= 5) return 2;  // critical -> crit
  switch (ocsf_severity_id) {
    case 4:
      return 3;  // high -> err
    case 3:
      return 4;  // medium -> warning
    case 2:
      return 5;  // low -> notice
    default:
      return 6;  // informational (and below) -> info
  }
}

bool parse_syslog_facility(std::string_view name, int& out) {
  if (name.empty()) return false;
  if (name.size() <= 2 && name.find_first_not_of("0123456789") == std::string_view::npos) {
    int v = 0;
    std::from_chars(name.data(), name.data() + name.size(), v);
    if (v > 23) return false;
    out = v;
    return true;
  }
  for (size_t i = 0; i < kFacilities.size(); ++i) {
    if (!kFacilities[i].empty() && kFacilities[i] == name) {
      out = static_cast<int>(i);
      return true;
    }
  }
  return false;
}

std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  // Back over continuation bytes (at most 3) so that the cut falls before a lead byte.
  for (int k = 0; k < 3 && end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80; ++k)
    --end;
  if ((static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) end = max_bytes;  // not UTF-8 anyway
  return s.substr(0, end);
}

void append_syslog_header_field(std::string& out, std::string_view value, size_t max) {
  if (value.empty()) {
    out.push_back('-');
    return;
  }
  for (char c : value.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 33 && u <= 126 ? c : '_');
  }
}

void append_sd_param_value(std::string& out, std::string_view value, size_t max_bytes) {
  value = utf8_prefix(value, max_bytes);
  size_t i = 0;
  while (i < value.size()) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      const size_t len = utf8_sequence_length(value, i);
      if (len) {
        out.append(value.substr(i, len));
        i += len;
      } else {
        out.append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      }
      continue;
    }
    if (c < 0x20 || c == 0x7F)
      out.push_back(' ');
    else {
      if (c == '"' || c == '\\' || c == ']') out.push_back('\\');
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
}

void append_rfc5424_timestamp(std::string& out, int64_t unix_ms) {
  time_t secs;
  int ms;
  split_ms(unix_ms, secs, ms);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ms);
}

void append_rfc3164_timestamp(std::string& out, int64_t unix_ms, bool local_time) {
  time_t secs;
  int ms;
  split_ms(unix_ms, secs, ms);
  struct tm tm {};
  if (local_time)
    localtime_r(&secs, &tm);
  else
    gmtime_r(&secs, &tm);
  const int mon = tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0;
  fmt::format_to(std::back_inserter(out), "{} {:>2} {:02}:{:02}:{:02}", kMonths[mon], tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void append_syslog_frame(SyslogFraming framing, std::string_view message, std::string& out) {
  switch (framing) {
    case SyslogFraming::kOctetCounting:
      fmt::format_to(std::back_inserter(out), "{} ", message.size());
      out.append(message);
      return;
    case SyslogFraming::kNewline: {
      const size_t start = out.size();
      out.append(message);
      for (size_t i = start; i < out.size(); ++i)
        if (out[i] == '\n') out[i] = ' ';
      out.push_back('\n');
      return;
    }
    case SyslogFraming::kNone:
      out.append(message);
      return;
  }
}

SyslogFormatter::SyslogFormatter(SyslogMessageOptions options) : options_(std::move(options)) {
  std::string s;
  append_syslog_header_field(s, options_.hostname, kSyslogMaxHostname);
  options_.hostname = std::move(s);
  s.clear();
  if (options_.rfc == SyslogRfc::k3164)
    append_tag(s, options_.app_name);
  else
    append_syslog_header_field(s, options_.app_name, kSyslogMaxAppName);
  options_.app_name = std::move(s);
  s.clear();
  append_syslog_header_field(s, options_.procid, kSyslogMaxProcId);
  options_.procid = std::move(s);
  if (options_.facility < 0 || options_.facility > 23) options_.facility = 20;
  if (options_.max_message_bytes < kSyslogMinMessageBytes)
    options_.max_message_bytes = kSyslogMinMessageBytes;
}

void SyslogFormatter::append_header(const AlertRecord& a, int64_t now_ms, std::string& out) const {
  const int pri = options_.facility * 8 + syslog_severity(a.severity_id);
  fmt::format_to(std::back_inserter(out), "<{}>", pri);
  if (options_.rfc == SyslogRfc::k3164) {
    append_rfc3164_timestamp(out, now_ms, options_.local_time);
    out.push_back(' ');
    out.append(options_.hostname);
    out.push_back(' ');
    out.append(options_.app_name);
    if (options_.procid != "-") {
      out.push_back('[');
      out.append(options_.procid);
      out.push_back(']');
    }
    out.append(": ");
    return;
  }
  out.append("1 ");
  append_rfc5424_timestamp(out, now_ms);
  out.push_back(' ');
  out.append(options_.hostname);
  out.push_back(' ');
  out.append(options_.app_name);
  out.push_back(' ');
  out.append(options_.procid);
  out.push_back(' ');
  append_syslog_header_field(out, a.rule_id, kSyslogMaxMsgId);
  out.append(" [");
  out.append(kSyslogSdId);
  out.append(" rule=\"");
  append_sd_param_value(out, a.rule_id);
  out.append("\" severity=\"");
  append_sd_param_value(out, a.severity());
  out.append("\" uid=\"");
  append_sd_param_value(out, a.uid);
  out.append("\" account=\"");
  append_sd_param_value(out, a.account);
  if (a.route != AlertRoute::kNone) {
    out.append("\" route=\"");
    append_sd_param_value(out, a.route_name());
    out.append(a.verified() ? "\" verified=\"true" : "\" verified=\"false");
  }
  out.append("\"] ");
}

void SyslogFormatter::append_summary(const AlertRecord& a, size_t original_bytes, size_t cap,
                                     int64_t now_ms, std::string& out) {
  // Identifiers are short in real alerts; they keep more room than free text.
  const size_t id_cap = std::max<size_t>(cap, 64);
  // The route is never left out: an unverified alert must not pass for a verified one.
  cut_.route = a.route;
  cut_.bucket = utf8_prefix(a.bucket, id_cap);
  cut_.key = utf8_prefix(a.key, cap);
  cut_.eventbridge_event_id = utf8_prefix(a.eventbridge_event_id, id_cap);
  cut_.notification = utf8_prefix(a.notification, id_cap);
  if (options_.format == AlertFormat::kCef || options_.format == AlertFormat::kEcs) {
    cut_.uid = utf8_prefix(a.uid, id_cap);
    cut_.rule_id = utf8_prefix(a.rule_id, id_cap);
    cut_.rule_title = utf8_prefix(a.rule_title, cap);
    cut_.severity_id = a.severity_id;
    cut_.time_ms = a.time_ms;
    cut_.account = utf8_prefix(a.account, id_cap);
    cut_.region = utf8_prefix(a.region, cap);
    cut_.event_name = utf8_prefix(a.event_name, cap);
    cut_.event_source = utf8_prefix(a.event_source, cap);
    cut_.actor = utf8_prefix(a.actor, cap);
    cut_.source_ip = utf8_prefix(a.source_ip, cap);
    cut_.event_id = utf8_prefix(a.event_id, id_cap);
    if (options_.format == AlertFormat::kEcs) {
      append_ecs_summary(cut_, original_bytes, now_ms, out);
      return;
    }
    format_cef(cut_, out);
    fmt::format_to(std::back_inserter(out),
                   " cs6Label=trailwardenTruncated cs6=original message {} bytes", original_bytes);
    return;
  }
  JsonWriter w(out);
  w.begin_object();
  w.key("trailwarden").begin_object();
  w.field("truncated", true);
  w.field("original_bytes", static_cast<uint64_t>(original_bytes));
  w.field("rule_id", utf8_prefix(a.rule_id, id_cap));
  w.field("rule_title", utf8_prefix(a.rule_title, cap));
  w.field("severity", a.severity());
  w.field("severity_id", a.severity_id);
  w.field("finding_uid", utf8_prefix(a.uid, id_cap));
  write_route_fields(w, cut_);
  w.end_object();
  w.key("event").begin_object();
  w.field("time_ms", a.time_ms);
  w.field("account", utf8_prefix(a.account, id_cap));
  w.field("region", utf8_prefix(a.region, cap));
  w.field("event_name", utf8_prefix(a.event_name, cap));
  w.field("event_source", utf8_prefix(a.event_source, cap));
  w.field("actor", utf8_prefix(a.actor, cap));
  w.field("source_ip", utf8_prefix(a.source_ip, cap));
  w.field("event_id", utf8_prefix(a.event_id, id_cap));
  w.end_object();
  w.end_object();
}

SyslogFormatter::Outcome SyslogFormatter::format(const AlertRecord& a, int64_t now_ms,
                                                 std::string& out) {
  out.clear();
  append_header(a, now_ms, out);
  const size_t header = out.size();
  format_alert(a, options_.format, out);
  if (out.size() <= options_.max_message_bytes) return Outcome::kFull;
  const size_t original = out.size();
  for (size_t cap : {size_t{256}, size_t{64}, size_t{16}}) {
    out.resize(header);
    append_summary(a, original, cap, now_ms, out);
    if (out.size() <= options_.max_message_bytes) return Outcome::kSummary;
  }
  out.clear();
  return Outcome::kTooLarge;
}

}  // namespace trailwarden
