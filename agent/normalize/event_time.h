// CloudTrail event times: parsing RFC 3339 date-times into milliseconds since the epoch and
// formatting milliseconds as an OCSF datetime_t. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trailwarden {

// Parses an RFC 3339 date-time as CloudTrail writes it ("2024-01-02T03:04:05Z") and its
// variants into milliseconds since the epoch (UTC):
//   YYYY-MM-DD ('T'|'t') HH:MM:SS [ '.' one or more digits ] ( 'Z' | 'z' | ('+'|'-') HH:MM )
// Fractions of any length are accepted and truncated to milliseconds. The date must exist
// (no February 30, leap years respected), hours 00-23, minutes 00-59, seconds 00-60 (a leap
// second counts as the next second), offsets up to 23:59. Refused: a space instead of 'T' and a
// missing offset (both outside OCSF's datetime_t; a time without offset is ambiguous), years
// before 1970 or after 9999, anything else. Returns false (and leaves `ms` alone) when refused.
bool parse_event_time(std::string_view text, int64_t& ms);

// `ms` (since the epoch, 1970 to 9999) as an OCSF datetime_t in UTC: "2024-01-02T03:04:05Z",
// or "2024-01-02T03:04:05.120Z" when it has milliseconds.
std::string format_datetime(int64_t ms);

}  // namespace trailwarden
