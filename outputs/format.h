// Alert formats shared by the outputs:
//   ocsf        the OCSF Detection Finding (default)
//   cloudtrail  the original CloudTrail record with a small envelope:
//               {"trailwarden":{"rule_id":...,"rule_title":...,"severity":...,"severity_id":...,
//                "finding_uid":...[,"kind":"alarm"|"integrity"][,route fields]},
//                "record":{...the CloudTrail record...}}; alarm and integrity alerts have no
//               record ("record":null), an integrity alert's evidence is "integrity":{...}
//   cef         ArcSight CEF (syslog only; see outputs/syslog)
//   ecs         an Elastic Common Schema 8.17 document (outputs/ecs_document.h)
// Every format says which route the alert came by (run only; replay alerts add nothing): the
// OCSF finding in unmapped.trailwarden, ECS in trailwarden.*, the others as
// write_route_fields / format_cef say.
// Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "agent/core/alert_record.h"

namespace trailwarden {

class JsonWriter;

enum class AlertFormat { kOcsf, kCloudTrail, kCef, kEcs };

// "record" | "alarm" | "integrity": the names `alerts` (outputs/settings.h) and the formats use.
std::string_view alert_kind_name(AlertKind kind);

// "ocsf" | "cloudtrail" | "cef" | "ecs"; false if unknown.
bool parse_alert_format(std::string_view name, AlertFormat& out);
std::string_view alert_format_name(AlertFormat f);

// Appends the alert in `format` (JSON formats: one line, no newline). kCef appends the CEF line.
void format_alert(const AlertRecord& alert, AlertFormat format, std::string& out);

// The CEF line (CEF:0|trailwarden|trailwarden|version|rule id|title|severity|extensions), with
// header and extension values escaped per the CEF specification (| \ = and newlines). The
// route: cs4 (label trailwardenRoute) "s3", "eventbridge" or "unknown"; cn1 (label
// trailwardenVerified) 1 or 0; cs5 the object "s3://bucket/key" (label s3Object) or the
// EventBridge event id (label eventBridgeEventId). An integrity alert adds msg (the reason),
// fname (the object's key) and fileHash (the SHA-256 the agent read, when it read the object);
// its act is the check ("log_file_modified").
void format_cef(const AlertRecord& alert, std::string& out);

// Writes the route as JSON fields into the object `w` is in (nothing for replay alerts):
//   "route":"s3"|"eventbridge"|"unknown","verified":true|false, and when not empty "bucket",
//   "key" (S3), "eventbridge_event_id" (inline), "notification"
// the names OCSF's unmapped.trailwarden uses.
void write_route_fields(JsonWriter& w, const AlertRecord& alert);

}  // namespace trailwarden
