// Durations in the configuration ([integrity] digest_grace = "1h"): a whole number followed by
// a unit — "ms", "s", "m", "h" or "d" ("90s", "15m", "1h", "500ms") — or a bare integer of
// seconds. No sign, no fractions, no combinations ("1h30m": write "90m"). Pure functions;
// thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace trailwarden {

using ConfigDuration = std::chrono::milliseconds;

// Parses `text`; false (out unchanged) when it is not a duration or overflows (over 100 years).
bool parse_duration(std::string_view text, ConfigDuration& out);

// The shortest exact spelling: "0s", "500ms", "90s", "15m", "1h", "2d"; parse_duration reads it
// back as the same value.
std::string format_duration(ConfigDuration d);

}  // namespace trailwarden
