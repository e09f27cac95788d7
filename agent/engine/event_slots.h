// EventSlotSet: the event-time slots of one unit's records (ObjectResult::event_slots, the alarm
// stage's watermark), built record by record from each record's eventTime text: the start of
// its kEventSlotMs slot (agent/engine/stage.h), sorted and unique, times after a limit left out.
//
// The same set as parsing every text with parse_event_time (agent/normalize/event_time.h) and
// sorting, at a fraction of the cost: the records of a CloudTrail file are close in time but not
// in order, so
// - a plain UTC time ("2024-01-02T03:04:05Z") in the same hour as the last one parsed is read
//   from its minutes and seconds alone (the hour was validated by the full parse);
// - slots within about 5.7 hours either side of the unit's first are kept as bits (no sort, no
//   duplicates); the others, rare, are sorted and merged at the end.
// One per processor (per thread); reused from unit to unit without allocating.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace trailwarden {

class EventSlotSet {
 public:
  // Starts a unit: no slots; times after `not_after_ms` (0: no limit) will be left out.
  void reset(int64_t not_after_ms);
  // One record's eventTime text (find_event_time_text); "" or a text that is not a time adds
  // nothing.
  void add(std::string_view event_time);
  // The slots added since reset(), sorted and unique, into `out` (replacing its content); the
  // set is empty afterwards.
  void take(std::vector<int64_t>& out);

 private:
  bool time_ms(std::string_view text, int64_t& ms);
  void insert(int64_t slot_index);

  static constexpr int64_t kWindowSlots = 4096;  // bits; the first slot in the middle
  static constexpr size_t kWords = kWindowSlots / 64;

  int64_t not_after_ms_ = 0;
  // The hour of the last plain time parsed: its first 13 characters and their milliseconds.
  std::array<char, 13> hour_text_{};
  int64_t hour_ms_ = 0;
  bool have_hour_ = false;
  // Slot indexes (ms / kEventSlotMs) base_ .. base_ + kWindowSlots - 1 as bits; others in far_.
  std::array<uint64_t, kWords> bits_{};
  int64_t base_ = 0;
  bool have_base_ = false;
  size_t low_word_ = kWords;  // the words set are within [low_word_, high_word_]
  size_t high_word_ = 0;
  std::vector<int64_t> far_;  // slot indexes outside the window, unsorted
};

}  // namespace trailwarden
