// EventSlotSet: the slots of a unit's eventTimes are what parsing each with parse_event_time,
// sorting and de-duplicating gives, whatever their order, spread, format or validity.
#include "agent/engine/event_slots.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/stage.h"
#include "agent/normalize/event_time.h"

using namespace trailwarden;

namespace {

std::vector<int64_t> reference(const std::vector<std::string>& times, int64_t not_after_ms) {
  std::vector<int64_t> slots;
  for (const auto& t : times) {
    int64_t ms = 0;
    if (!parse_event_time(t, ms)) continue;
    if (not_after_ms && ms > not_after_ms) continue;
    slots.push_back(ms - ms % kEventSlotMs);
  }
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

std::vector<int64_t> collect(EventSlotSet& set, const std::vector<std::string>& times,
                             int64_t not_after_ms) {
  set.reset(not_after_ms);
  for (const auto& t : times) set.add(t);
  std::vector<int64_t> out = {42};  // replaced
  set.take(out);
  return out;
}

int64_t ms_of(const std::string& t) {
  int64_t ms = 0;
  REQUIRE(parse_event_time(t, ms));
  return ms;
}

}  // namespace

TEST_CASE("event slots: an out-of-order unit's slots come out sorted and unique") {
  EventSlotSet set;
  const std::vector<std::string> times = {"2024-11-18T09:45:39Z", "2024-11-18T09:47:38Z",
                                          "2024-11-18T09:40:06Z", "2024-11-18T09:45:31Z",
                                          "2024-11-18T09:40:08Z", "2024-11-18T08:59:59Z",
                                          "2024-11-18T10:00:00Z", "2024-11-18T09:47:38Z"};
  const std::vector<int64_t> want = {
      ms_of("2024-11-18T08:59:50Z"), ms_of("2024-11-18T09:40:00Z"), ms_of("2024-11-18T09:45:30Z"),
      ms_of("2024-11-18T09:47:30Z"), ms_of("2024-11-18T10:00:00Z")};
  CHECK(collect(set, times, 0) == want);
  CHECK(collect(set, times, 0) == want);  // reused: nothing left from the unit before
  CHECK(collect(set, {}, 0).empty());
  // After `not_after`: left out.
  CHECK(collect(set, times, ms_of("2024-11-18T09:45:39Z")) ==
        std::vector<int64_t>(want.begin(), want.begin() + 3));
}

TEST_CASE("event slots: times far apart, other forms and bad times agree with the full parse") {
  EventSlotSet set;
  const std::vector<std::string> times = {
      "2024-11-18T09:45:39Z", "2024-11-18T09:45:3xZ",  // a bad digit in the same hour
      "2024-11-18T09:60:00Z", "2024-11-18T09:59:60Z",  // no minute 60; a leap second
      "2024-11-18T09:45:39.250Z", "2024-11-18T09:45:39+02:00", "2024-11-18t09:45:39z",
      "2024-02-30T09:45:39Z", "2024-11-18T24:00:00Z", "2024-11-18 09:45:39Z", "",
      "2001-01-01T00:00:00Z", "2099-12-31T23:59:59Z",  // far outside the window, both sides
      "9999-12-31T23:59:60Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
      "2024-11-19T09:45:39Z", "2024-11-18T09:45:39Z"};
  CHECK(collect(set, times, 0) == reference(times, 0));
  // The same hour's text after a bad one is still read right.
  const std::vector<std::string> again = {"2024-11-18T09:45:3xZ", "2024-11-18T09:45:39Z",
                                          "2024-11-18T09:00:00Z", "2024-11-18T09:59:59Z"};
  CHECK(collect(set, again, 0) == reference(again, 0));
}

TEST_CASE("event slots: random units agree with parsing, sorting and de-duplicating") {
  std::mt19937 rng(11);
  EventSlotSet set;
  const int64_t base = ms_of("2024-11-18T00:00:00Z") / 1000;
  for (int unit = 0; unit < 300; ++unit) {
    std::vector<std::string> times;
    // Spreads from one minute to several days (outside the window of bits).
    const int64_t spread = int64_t{60} << (rng() % 14);
    const size_t n = rng() % 400;
    for (size_t i = 0; i < n; ++i) {
      const int64_t s = base + static_cast<int64_t>(rng() % static_cast<uint64_t>(spread));
      const int64_t days = s / 86400, rest = s % 86400;
      // civil date of `days` via format_datetime, then the time of day
      std::string t = format_datetime(days * 86400000).substr(0, 11) +
                      fmt::format("{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60);
      if (rng() % 50 == 0) t[18] = 'x';
      times.push_back(t);
    }
    const int64_t not_after = rng() % 4 ? 0 : (base + spread / 2) * 1000;
    CAPTURE(unit);
    REQUIRE(collect(set, times, not_after) == reference(times, not_after));
  }
}
