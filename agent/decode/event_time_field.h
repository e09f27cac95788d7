// find_event_time_text: the text of a CloudTrail record's "eventTime" value, read from the
// record's raw JSON without parsing it (the engine's event-time watermark and event-age gauge
// need every record's time, and most records are never parsed: agent/engine/processor.h).
//
// The contract: the first occurrence of the 12 bytes `"eventTime":` anywhere in `raw` (in valid
// JSON they occur only as that key; a string value cannot hold them unescaped), then spaces or
// tabs, then '"': the characters up to the next '"' (escapes are not decoded; a time has none),
// at most 64 of them. "" when there is no such key, its value does not start with '"', or is
// longer. The text is not checked to be a time: agent/normalize/event_time.h parses it.
//
// Vectorised (AVX2, chosen at run time) with a portable fallback that gives the same result
// for every input (the tests compare both with the plain search); reads no byte outside `raw`.
#pragma once

#include <string_view>

namespace trailwarden {

// `vectorised` = false forces the portable search (for the tests).
std::string_view find_event_time_text(std::string_view raw, bool vectorised = true);

}  // namespace trailwarden
