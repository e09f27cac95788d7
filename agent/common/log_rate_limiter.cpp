#include "agent/common/log_rate_limiter.h"

#include <algorithm>
#include <functional>

namespace trailwarden {

namespace {

// `text` cut to at most `max` bytes on a UTF-8 character boundary, with "..." when cut.
void assign_cut(std::string& out, std::string_view text, size_t max) {
  if (text.size() <= max) {
    out.assign(text);
    return;
  }
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  out.assign(text.substr(0, n));
  out.append("...");
}

}  // namespace

LogRateLimiter::LogRateLimiter(size_t burst, std::chrono::seconds interval, size_t max_keys)
    : burst_(burst), interval_(interval), max_keys_(std::max<size_t>(max_keys, 1)) {}

void LogRateLimiter::reconfigure(size_t burst, std::chrono::seconds interval) {
  burst_ = burst;
  interval_ = interval;
  if (burst_ == 0) {
    entries_.clear();
    lru_.clear();
    pending_ = 0;
  }
  next_due_ = Time::min();  // recomputed at the next admit()
}

std::string LogRateLimiter::key_of(int level, std::string_view text) {
  std::string key;
  key.reserve(text.size() + 1);
  key.push_back(static_cast<char>('0' + level));
  bool in_digits = false;
  for (char c : text) {
    bool digit = c >= '0' && c <= '9';
    if (!digit)
      key.push_back(c);
    else if (!in_digits)
      key.push_back('#');
    in_digits = digit;
  }
  return key;
}

LogRateLimiter::Summary LogRateLimiter::take_summary(Entry& e) {
  Summary s{e.suppressed_level, std::move(e.example), e.suppressed};
  e.example.clear();
  e.suppressed = 0;
  return s;
}

std::optional<uint64_t> LogRateLimiter::admit(int level, std::string_view text, Time now,
                                              std::vector<Summary>& due) {
  if (burst_ == 0) return 0;
  const uint64_t hash = std::hash<std::string>{}(key_of(level, text));
  std::optional<uint64_t> result;
  auto it = entries_.find(hash);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) {
      auto oldest = entries_.find(lru_.back());
      if (oldest->second.suppressed > 0) {
        due.push_back(take_summary(oldest->second));
        --pending_;
      }
      entries_.erase(oldest);
      lru_.pop_back();
    }
    lru_.push_front(hash);
    Entry& e = entries_[hash];
    e.window_start = now;
    e.passed = 1;
    e.lru = lru_.begin();
    result = 0;
  } else {
    Entry& e = it->second;
    lru_.splice(lru_.begin(), lru_, e.lru);
    if (window_over(e, now)) {
      result = e.suppressed;
      if (e.suppressed > 0) --pending_;
      e.suppressed = 0;
      e.example.clear();
      e.window_start = now;
      e.passed = 1;
    } else if (e.passed < burst_) {
      ++e.passed;
      result = 0;
    } else {
      if (e.suppressed == 0) {
        ++pending_;
        next_due_ = std::min(next_due_, e.window_start + interval_);
      }
      ++e.suppressed;
      e.suppressed_level = level;
      assign_cut(e.example, text, kMaxExampleBytes);
    }
  }
  flush_due(now, due);
  return result;
}

void LogRateLimiter::flush_due(Time now, std::vector<Summary>& due) {
  if (pending_ == 0 || now < next_due_) return;
  next_due_ = Time::max();
  for (auto h = lru_.rbegin(); h != lru_.rend(); ++h) {  // oldest first
    Entry& e = entries_.find(*h)->second;
    if (e.suppressed == 0) continue;
    if (window_over(e, now)) {
      due.push_back(take_summary(e));
      --pending_;
    } else {
      next_due_ = std::min(next_due_, e.window_start + interval_);
    }
  }
}

}  // namespace trailwarden
