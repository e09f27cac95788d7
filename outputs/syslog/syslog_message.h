// Syslog messages for alerts: the RFC 5424 and RFC 3164 headers, RFC 5424 structured data, the
// RFC 6587 framings, and what happens to a message over the size limit. Pure functions and a
// small formatter class; no I/O. See docs/outputs.md ("syslog") for the choices made here.
//
// RFC 5424 message (MSG is the alert in the output's format: OCSF or CloudTrail JSON, or CEF):
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [trailwarden@32473 rule=".." severity=".."
//   uid=".." account=".." route=".." verified=".."] MSG
// (route "s3", "eventbridge" or "unknown" and verified "true"/"false" in `run`; replay alerts
// have neither)
// RFC 3164 message:
//   <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PROCID]: MSG
//
// Everything that comes from a CloudTrail record is attacker-controlled. Header fields are
// reduced to PRINTUSASCII (other bytes become '_') and cut at the RFC's lengths; structured-data
// values are valid UTF-8 (bad bytes become U+FFFD), control characters become spaces, and '"',
// '\' and ']' are escaped; MSG is JSON (escaped by JsonWriter) or CEF (escaped by format_cef), so
// no raw newline can reach the wire, and newline framing replaces any that would anyway.
//
// SyslogFormatter is not thread-safe (it keeps scratch space); one per output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/core/alert_record.h"
#include "outputs/format.h"

namespace trailwarden {

enum class SyslogRfc { k5424, k3164 };
// How messages are delimited on a stream (RFC 6587): "LEN SP MSG" or "MSG LF". Datagrams carry
// exactly one message and no framing (RFC 5426).
enum class SyslogFraming { kOctetCounting, kNewline, kNone };

// The IANA private enterprise number in the structured-data id (trailwarden@32473).
inline constexpr std::string_view kSyslogSdId = "trailwarden@32473";
// RFC 5424 §6: field length limits (octets).
inline constexpr size_t kSyslogMaxHostname = 255;
inline constexpr size_t kSyslogMaxAppName = 48;
inline constexpr size_t kSyslogMaxProcId = 128;
inline constexpr size_t kSyslogMaxMsgId = 32;
// RFC 3164 §4.1.3: TAG is at most 32 characters.
inline constexpr size_t kSyslogMaxTag = 32;
// Longest structured-data value sent (octets of the value before escaping). The values are rule
// ids, severities, finding uids and account ids, all far shorter; a hostile value is cut.
inline constexpr size_t kSyslogMaxSdValue = 128;
// RFC 5426 §3.2: the size every IPv4 receiver must accept; the smallest limit allowed.
inline constexpr size_t kSyslogMinMessageBytes = 480;

struct SyslogMessageOptions {
  SyslogRfc rfc = SyslogRfc::k5424;
  // 0-23 (RFC 5424 table 1). Default local4 (20); see docs/outputs.md for why not auth.
  int facility = 20;
  // HOSTNAME field; sanitized by the formatter ("-" when empty).
  std::string hostname;
  // APP-NAME (RFC 5424) or TAG (RFC 3164).
  std::string app_name = "trailwarden";
  // PROCID; "-" when empty.
  std::string procid;
  // The MSG part.
  AlertFormat format = AlertFormat::kOcsf;
  // Largest message (header and MSG, without framing) in octets; larger ones are replaced by a
  // summary (see SyslogFormatter::format).
  size_t max_message_bytes = 65536;
  // RFC 3164 timestamps are local time (as the RFC says); false: UTC (tests).
  bool local_time = true;
};

// Syslog severity (RFC 5424 table 2) for an OCSF severity_id: 5 critical -> 2 (crit),
// 4 high -> 3 (err), 3 medium -> 4 (warning), 2 low -> 5 (notice), 1 informational -> 6 (info).
// Out-of-range values are clamped (above 5 -> 2, below 1 -> 6).
int syslog_severity(int ocsf_severity_id);

// Facility by name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv,
// ftp, ntp, audit, local0-local7) or as a number "0".."23". False if unknown.
bool parse_syslog_facility(std::string_view name, int& out);

// The longest prefix of `s` of at most `max_bytes` octets that does not end inside a UTF-8
// sequence (only continuation bytes are backed over).
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

// Appends `value` as an RFC 5424 header field: 1*max PRINTUSASCII (33-126); other octets become
// '_'; cut at max octets; "-" (NILVALUE) when empty.
void append_syslog_header_field(std::string& out, std::string_view value, size_t max);

// Appends `value` as the inside of an SD-PARAM value (without the quotes): cut at `max_bytes`
// on a character boundary, invalid UTF-8 as U+FFFD, control characters (C0, DEL) as spaces,
// '"' '\' ']' escaped with '\'.
void append_sd_param_value(std::string& out, std::string_view value,
                           size_t max_bytes = kSyslogMaxSdValue);

// "2026-11-26T10:00:00.123Z" (RFC 5424 TIMESTAMP, UTC, milliseconds).
void append_rfc5424_timestamp(std::string& out, int64_t unix_ms);
// "Nov  6 10:00:00" (RFC 3164 TIMESTAMP: day space-padded; local time or UTC).
void append_rfc3164_timestamp(std::string& out, int64_t unix_ms, bool local_time);

// Appends `message` framed for a stream (octet counting: "LEN SP MSG"; newline: MSG with any
// LF replaced by a space, then LF) or as is (kNone, datagrams).
void append_syslog_frame(SyslogFraming framing, std::string_view message, std::string& out);

class SyslogFormatter {
 public:
  enum class Outcome {
    kFull,      // the alert in full
    kSummary,   // over max_message_bytes: a marked summary was made instead
    kTooLarge,  // even the smallest summary is over max_message_bytes: nothing to send
  };

  // `options.hostname`, `app_name` and `procid` are sanitized here, once.
  explicit SyslogFormatter(SyslogMessageOptions options);

  // Replaces `out` with the syslog message (no framing) for `alert`, stamped `now_ms`.
  //
  // A message over max_message_bytes is never cut (a cut JSON document or CEF line is
  // garbage to the SIEM): the MSG is replaced by a summary of the alert that says so, with its
  // fields cut to 256, then 64, then 16 octets until it fits. For the JSON formats the summary
  // is
  //   {"trailwarden":{"truncated":true,"original_bytes":N,"rule_id":..,"rule_title":..,
  //    "severity":..,"severity_id":..,"finding_uid":..[,route fields (write_route_fields),
  //    key cut like the text fields]},"event":{"time_ms":..,"account":..,
  //    "region":..,"event_name":..,"event_source":..,"actor":..,"source_ip":..,"event_id":..}}
  // for ECS the ECS document of the cut fields (append_ecs_summary: trailwarden.truncated,
  // trailwarden.original_bytes, the route), and for CEF the CEF line of the cut fields (route
  // included) followed by
  //   cs6Label=trailwardenTruncated cs6=original message N bytes
  // The header and structured data are the same as the full message's.
  Outcome format(const AlertRecord& alert, int64_t now_ms, std::string& out);

  const SyslogMessageOptions& options() const { return options_; }

 private:
  void append_header(const AlertRecord& alert, int64_t now_ms, std::string& out) const;
  void append_summary(const AlertRecord& alert, size_t original_bytes, size_t cap,
                      int64_t now_ms, std::string& out);

  SyslogMessageOptions options_;
  AlertRecord cut_;  // scratch for CEF and ECS summaries
};

}  // namespace trailwarden
