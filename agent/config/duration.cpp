#include "agent/config/duration.h"

#include <charconv>
#include <cstdint>

namespace trailwarden {

namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};
// Longest first, so that "ms" is not read as "m".
constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000},
                           {"d", 86'400'000}};
constexpr int64_t kMaxMs = int64_t{100} * 365 * 86'400'000;

}  // namespace

bool parse_duration(std::string_view text, ConfigDuration& out) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc()) return false;
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  int64_t scale = unit.empty() ? 1000 : 0;
  for (const Unit& u : kUnits)
    if (unit == u.name) scale = u.ms;
  if (scale == 0 || n > static_cast<uint64_t>(kMaxMs / scale)) return false;
  out = ConfigDuration(static_cast<int64_t>(n) * scale);
  return true;
}

std::string format_duration(ConfigDuration d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it)
    if (ms % it->ms == 0) return std::to_string(ms / it->ms) + std::string(it->name);
  return std::to_string(ms) + "ms";  // unreachable: every count is a multiple of 1 ms
}

}  // namespace trailwarden
