// Alert formats shared by the outputs:
//   ocsf        the OCSF Detection Finding (default)
//   cloudtrail  the original CloudTrail record with a small envelope:
//               {"trailwarden":{"rule_id":...,"rule_title":...,"severity":...,"severity_id":...,
//                "finding_uid":...},"record":{...the CloudTrail record...}}
//   cef         ArcSight CEF (syslog only; see outputs/syslog)
// Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "outputs/alert.h"

namespace trailwarden {

enum class AlertFormat { kOcsf, kCloudTrail, kCef };

// "ocsf" | "cloudtrail" | "cef"; false if unknown.
bool parse_alert_format(std::string_view name, AlertFormat& out);
std::string_view alert_format_name(AlertFormat f);

// Appends the alert in `format` (JSON formats: one line, no newline). kCef appends the CEF line.
void format_alert(const AlertRecord& alert, AlertFormat format, std::string& out);

// The CEF line (CEF:0|trailwarden|trailwarden|version|rule id|title|severity|extensions), with
// header and extension values escaped per the CEF specification (| \ = and newlines).
void format_cef(const AlertRecord& alert, std::string& out);

}  // namespace trailwarden
