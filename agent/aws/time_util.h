// UTC time formatting and parsing for AWS wire formats. Free functions; thread-safe; no locale
// or time-zone database involved.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace trailwarden::aws {

using TimePoint = std::chrono::system_clock::time_point;

// "20150830T123600Z" (SigV4 X-Amz-Date), seconds truncated.
std::string format_amz_date(TimePoint t);
// "2015-08-30T12:36:00Z".
std::string format_iso8601(TimePoint t);
// Parses an ISO 8601 / RFC 3339 date-time as AWS returns them: "2015-08-30T12:36:00Z", with
// optional fractional seconds and a "Z" or "+hh:mm"/"-hh:mm" offset; also the basic form
// "20150830T123600Z". Returns false on anything else (including out-of-range fields).
bool parse_iso8601(std::string_view s, TimePoint& out);

}  // namespace trailwarden::aws
