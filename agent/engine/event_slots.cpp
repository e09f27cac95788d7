#include "agent/engine/event_slots.h"

#include <algorithm>
#include <cstring>

#include "agent/engine/stage.h"
#include "agent/normalize/event_time.h"

namespace trailwarden {

namespace {

// Two decimal digits at text[at], or -1.
int two_digits(std::string_view text, size_t at) {
  const char a = text[at], b = text[at + 1];
  if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
  return (a - '0') * 10 + (b - '0');
}

// "YYYY-MM-DDTHH:MM:SSZ", the form CloudTrail writes (the hour not checked here).
bool is_plain(std::string_view text) {
  return text.size() == 20 && text[19] == 'Z' && text[13] == ':' && text[16] == ':';
}

}  // namespace

void EventSlotSet::reset(int64_t not_after_ms) {
  not_after_ms_ = not_after_ms;
  have_hour_ = false;
  if (low_word_ <= high_word_)
    std::fill(bits_.begin() + static_cast<std::ptrdiff_t>(low_word_),
              bits_.begin() + static_cast<std::ptrdiff_t>(high_word_) + 1, 0);
  low_word_ = kWords;
  high_word_ = 0;
  have_base_ = false;
  far_.clear();
}

bool EventSlotSet::time_ms(std::string_view text, int64_t& ms) {
  if (is_plain(text) && have_hour_ && std::memcmp(text.data(), hour_text_.data(), 13) == 0) {
    const int minute = two_digits(text, 14), second = two_digits(text, 17);
    // Up to :59:59, so within the (valid) hour: parse_event_time would give the same.
    if (minute >= 0 && minute <= 59 && second >= 0 && second <= 59) {
      ms = hour_ms_ + minute * 60'000 + second * 1'000;
      return true;
    }
  }
  if (!parse_event_time(text, ms)) return false;
  if (is_plain(text)) {  // parsed: its minutes and seconds are two digits each
    std::memcpy(hour_text_.data(), text.data(), 13);
    hour_ms_ = ms - two_digits(text, 14) * 60'000 - two_digits(text, 17) * 1'000;
    have_hour_ = true;
  }
  return true;
}

void EventSlotSet::add(std::string_view event_time) {
  if (event_time.empty()) return;
  int64_t ms = 0;
  if (!time_ms(event_time, ms)) return;
  if (not_after_ms_ && ms > not_after_ms_) return;
  insert(ms / kEventSlotMs);  // ms >= 0 (parse_event_time: from 1970)
}

void EventSlotSet::insert(int64_t slot_index) {
  if (!have_base_) {
    base_ = slot_index - kWindowSlots / 2;
    have_base_ = true;
  }
  const int64_t bit = slot_index - base_;
  if (bit < 0 || bit >= kWindowSlots) {
    far_.push_back(slot_index);
    return;
  }
  const auto word = static_cast<size_t>(bit / 64);
  bits_[word] |= uint64_t{1} << (bit % 64);
  low_word_ = std::min(low_word_, word);
  high_word_ = std::max(high_word_, word);
}

void EventSlotSet::take(std::vector<int64_t>& out) {
  out.clear();
  std::sort(far_.begin(), far_.end());
  far_.erase(std::unique(far_.begin(), far_.end()), far_.end());
  // Far slots before the window, the window's in order, then far slots after it.
  auto after = std::lower_bound(far_.begin(), far_.end(), base_ + kWindowSlots);
  for (auto it = far_.begin(); it != after; ++it) out.push_back(*it * kEventSlotMs);
  for (size_t w = low_word_; w <= high_word_ && w < kWords; ++w)
    for (uint64_t b = bits_[w]; b != 0; b &= b - 1)
      out.push_back((base_ + static_cast<int64_t>(w * 64) + __builtin_ctzll(b)) * kEventSlotMs);
  for (auto it = after; it != far_.end(); ++it) out.push_back(*it * kEventSlotMs);
  reset(not_after_ms_);
}

}  // namespace trailwarden
