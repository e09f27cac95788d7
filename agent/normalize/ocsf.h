// OCSF normalizer: turns one (rule, CloudTrail record) match into an OCSF 1.4 Detection
// Finding (class 2004), serialized as one line of compact JSON, valid against the OCSF 1.4.0
// schema whatever the record holds. Stateless apart from its options; thread-safe.
// docs/alerts.md maps every CloudTrail field. The parts live next to it: event_time.h (time
// parsing), formats.h (IP and ARN checks), actor.h (userIdentity), resources.h (resources[],
// also derived from the request), observables.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/normalize/event_time.h"
#include "agent/rules/rule.h"
#include "agent/core/alert_record.h"
#include "agent/core/record_origin.h"

namespace simdjson::dom {
class element;
}

namespace trailwarden {

struct OcsfOptions {
  bool include_raw_data = true;  // put the original record in raw_data
  // The processing time (ms since the epoch) used as the finding's `time` when the record's
  // eventTime is missing or unparseable; null: the system clock. Tests pin it.
  int64_t (*now_ms)() = nullptr;
};

// What the caller should count about one alert (the normalizer itself keeps no state).
struct NormalizeNotes {
  // eventTime was missing or not an RFC 3339 time (event_time.h): the finding's time is the
  // processing time and metadata.original_time keeps the raw text
  // (trailwarden_alert_time_unparsed_total).
  bool time_unparsed = false;
};

inline constexpr std::string_view kOcsfVersion = "1.4.0";

// An errorCode saying AWS refused the caller (AccessDenied*, *UnauthorizedOperation,
// UnauthorizedAccess; HTTP 403, CIS 4.1): OCSF api.response.code 403, ECS api / denied.
bool is_access_denied(std::string_view error_code);

// The alert for `rule` matching `record` (whose JSON text is `raw`): the OCSF finding plus the
// fields outputs use. `record` is null for events that are not JSON objects. `origin` decides
// the uid's trust domain and what the finding says about the route (default: a local file).
// `notes`, when given, receives what the caller should count.
AlertRecord make_alert(const rules::Rule& rule, std::string_view raw,
                       const simdjson::dom::element* record, const OcsfOptions& options,
                       const RecordOrigin& origin = {}, NormalizeNotes* notes = nullptr);

// Appends the finding for `rule` matching `record` (whose JSON text is `raw`) to `out`,
// without a trailing newline, and returns its uid. `record` is null for events that are not
// JSON objects.
std::string append_detection_finding(std::string& out, const rules::Rule& rule, std::string_view raw,
                              const simdjson::dom::element* record, const OcsfOptions& options);

// The first 16 bytes of a SHA-256 `digest` as an RFC 9562 version-8 UUID (lowercase hex with
// dashes): the form of every finding uid, per record and per alarm transition.
std::string hex_uuid_v8(const unsigned char* digest);

// The finding's uid: a UUID (version 8, name-based) from SHA-256 of the rule id and the
// record's eventID (or of the whole record when it has no eventID), in the record's trust
// domain. A redelivered record yields the same uid, which lets the SIEM and our own
// de-duplication recognise it. Records from the inline route (`unverified`) hash in a domain of
// their own: a forged event reusing a real eventID can never take the uid of the real record
// read from S3, so it can neither suppress it here nor in a SIEM that de-duplicates on uids.
// The alert's metadata.correlation_uid is the uid in the authoritative domain for every route.
std::string finding_uid(std::string_view rule_id, std::string_view event_id, std::string_view raw,
                        bool unverified = false);

}  // namespace trailwarden
