// What one alert becomes on SNS: the Publish entry (Subject, Message, String message
// attributes, and for FIFO topics MessageGroupId and MessageDeduplicationId), within SNS's
// limits (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html):
//   Subject    ASCII printable, no line breaks, 1-100 characters: other bytes become '?',
//              line breaks and tabs a space, longer subjects are cut to 97 + "..."
//   Message    the alert in the output's format (UTF-8 JSON); message + attributes at most
//              256 KiB (kSnsMaxPayloadBytes)
//   attributes String values, empty ones left out (SNS refuses empty values), longer ones cut
//              to kSnsMaxAttributeBytes on a UTF-8 boundary (they count against the 256 KiB)
//   FIFO       MessageGroupId: the configured field (else "trailwarden"), made of printable
//              ASCII, at most 128; MessageDeduplicationId: the finding uid (its SHA-256 when it is
//              not 1-128 printable ASCII characters), so that a retried publish is deduplicated.
// An alert whose payload would exceed the limit is not dropped: the document loses `raw_data`,
// then `unmapped` (OCSF; `record` for cloudtrail, `event.original` is dropped with the rest for
// ECS), and says so in unmapped.trailwarden.sns_trimmed (OCSF) / trailwarden.sns_trimmed
// (others): the names of the fields left out and the original size. If that is still too large,
// the message is a small JSON summary of the alert (finding uid, rule, severity, account,
// region, event name and id, trimmed: true). Every trimmed message is counted
// (sns_trimmed_messages(), trailwarden_sns_trimmed_messages_total).
// Stateless, thread-safe (the counter is atomic).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/alert_record.h"
#include "outputs/sns/sns_config.h"

namespace trailwarden {

inline constexpr size_t kSnsMaxPayloadBytes = 256 * 1024;
inline constexpr size_t kSnsMaxSubjectChars = 100;
inline constexpr size_t kSnsMaxAttributeBytes = 1024;

struct SnsEntry {
  std::string subject;  // empty: none
  std::string message;
  std::vector<std::pair<std::string, std::string>> attributes;  // name, String value
  std::string group_id;          // FIFO only
  std::string deduplication_id;  // FIFO only
  bool trimmed = false;          // the document was made smaller to fit
  // What SNS counts against the 256 KiB limit: message and attributes (names, types, values).
  size_t payload_bytes() const;
};

// The value of `field` in `alert` (severity as its caption, severity_id as digits).
std::string sns_field_value(const AlertRecord& alert, SnsField field);

// `text` made a valid SNS Subject (see above); "" stays "".
std::string sns_safe_subject(std::string_view text);

// The template expanded for `alert`, made safe.
std::string sns_subject(const SnsSubjectTemplate& subject, const AlertRecord& alert);

// The Publish entry of `alert` with `options` (format, subject, attributes, FIFO).
SnsEntry make_sns_entry(const AlertRecord& alert, const SnsOptions& options,
                        size_t max_payload = kSnsMaxPayloadBytes);

// Messages trimmed to fit so far (process-wide).
uint64_t sns_trimmed_messages();

}  // namespace trailwarden
