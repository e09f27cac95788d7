// The contract of agent/decode/event_time_field.h written the obvious way: the reference the
// unit test and decode_fuzz compare find_event_time_text with.
#pragma once

#include <string_view>

namespace trailwarden::test {

inline std::string_view plain_event_time_text(std::string_view raw) {
  constexpr std::string_view kKey = "\"eventTime\":";
  size_t at = raw.find(kKey);
  if (at == std::string_view::npos) return {};
  at += kKey.size();
  while (at < raw.size() && (raw[at] == ' ' || raw[at] == '\t')) ++at;
  if (at >= raw.size() || raw[at] != '"') return {};
  const size_t end = raw.find('"', at + 1);
  if (end == std::string_view::npos || end - at - 1 > 64) return {};
  return raw.substr(at + 1, end - at - 1);
}

}  // namespace trailwarden::test
