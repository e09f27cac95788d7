// LogRateLimiter: decides which log lines are printed when the same message repeats. Lines are
// grouped by a key made of their level and their text with every run of digits collapsed (so
// "fetch failed: attempt 3" and "fetch failed: attempt 14" are one key). Each key may print
// `burst` lines per interval, counted from its first line; the rest are counted and reported
// once the interval is over, either with the key's next line or, at the next admit() call for
// any key, as a summary of their own. The key table holds at most `max_keys` keys; the least
// recently used one is evicted (and its pending count reported) to make room.
//
// The level is part of the key, so an error never shares an allowance with warnings of the same
// text: every key, errors included, always gets its full burst per interval.
//
// Owns its key table; times are supplied by the caller (any monotonic clock), so there is no
// clock inside. Not thread-safe: the log sink calls it under its own mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace trailwarden {

class LogRateLimiter {
 public:
  // Time since an arbitrary monotonic epoch.
  using Time = std::chrono::nanoseconds;

  static constexpr size_t kDefaultMaxKeys = 1024;
  // Longest example text kept for a summary (longer ones are cut, with "...").
  static constexpr size_t kMaxExampleBytes = 512;

  // Lines of one key that were suppressed, reported on their own.
  struct Summary {
    int level = 0;        // the level the suppressed lines were logged at
    std::string example;  // the last suppressed line's text (cut at kMaxExampleBytes)
    uint64_t suppressed = 0;
  };

  // burst 0 disables limiting (every line passes and nothing is remembered).
  LogRateLimiter(size_t burst, std::chrono::seconds interval, size_t max_keys = kDefaultMaxKeys);

  // Changes the limits; counts already taken are kept (a config reload does not re-open a
  // flood). Setting burst 0 forgets every key, pending counts included.
  void reconfigure(size_t burst, std::chrono::seconds interval);

  // Decides on one line of `level` and `text` at `now`. Returns nullopt when the line is to be
  // suppressed, otherwise how many similar lines were suppressed before it (0 usually), to be
  // reported with it. Appends to `due` the summaries of other keys whose interval has ended
  // (or which were evicted) with lines suppressed; print those before this line.
  std::optional<uint64_t> admit(int level, std::string_view text, Time now,
                                std::vector<Summary>& due);

  // The key for a line: the level, then the text with runs of ASCII digits replaced by '#'.
  static std::string key_of(int level, std::string_view text);

  size_t key_count() const { return entries_.size(); }
  size_t burst() const { return burst_; }
  std::chrono::seconds interval() const { return interval_; }

 private:
  struct Entry {
    Time window_start{};
    uint64_t passed = 0;      // lines printed in the current window
    uint64_t suppressed = 0;  // lines suppressed in the current window, not yet reported
    int suppressed_level = 0;
    std::string example;  // last suppressed text
    std::list<uint64_t>::iterator lru;
  };

  bool window_over(const Entry& e, Time now) const { return now - e.window_start >= interval_; }
  static Summary take_summary(Entry& e);
  void flush_due(Time now, std::vector<Summary>& due);

  size_t burst_;
  std::chrono::seconds interval_;
  size_t max_keys_;
  // Keyed by a 64-bit hash of key_of(): the table stays small whatever the message length.
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> lru_;      // most recently used first
  size_t pending_ = 0;           // entries with suppressed > 0
  Time next_due_ = Time::max();  // no pending entry's window ends before this
};

}  // namespace trailwarden
