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
// "Sun, 30 Aug 2015 12:36:00 GMT" (RFC 7231 IMF-fixdate, an HTTP Date header).
std::string format_http_date(TimePoint t);
// "2015-08-30T12:36:00Z".
std::string format_iso8601(TimePoint t);
// Parses an ISO 8601 / RFC 3339 date-time as AWS returns them: "2015-08-30T12:36:00Z", with
// optional fractional seconds and a "Z" or "+hh:mm"/"-hh:mm" offset; also the basic form
// "20150830T123600Z". Returns false on anything else (including out-of-range fields).
bool parse_iso8601(std::string_view s, TimePoint& out);
// Parses an HTTP date in the IMF-fixdate form of RFC 7231 (RFC 1123), as AWS sends in Date
// headers: "Sun, 06 Nov 1994 08:49:37 GMT". The weekday is read but not checked against the
// date. Returns false on anything else.
bool parse_http_date(std::string_view s, TimePoint& out);

}  // namespace trailwarden::aws
