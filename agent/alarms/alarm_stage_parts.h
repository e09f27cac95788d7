// The alarm stage's inner parts, shared by its two source files (alarm_stage.cpp: the stage;
// alarm_stage_shared.cpp: its shared-store mode). Not for use outside the stage.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/alarms/alarm_stage.h"

namespace trailwarden::alarms {

namespace stage_parts {

inline int64_t to_ms(EventTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline EventTime from_ms(int64_t ms) { return EventTime{std::chrono::milliseconds(ms)}; }

// The event times an alarm can use: EventTime counts nanoseconds (years 1677 to 2262), and
// periods, the evaluation range and the lateness reach a few days around a time. A record's
// eventTime outside 1700-2200 (a forged or broken one: parse_event_time reads years 1-9999) is
// no usable time, as if it had none (found by alarm_stage_fuzz: the conversion overflowed).
constexpr int64_t kMinEventMs = -8'520'336'000'000;  // 1700-01-01T00:00:00Z
constexpr int64_t kMaxEventMs = 7'258'118'400'000;   // 2200-01-01T00:00:00Z
inline bool usable_event_ms(int64_t ms) { return ms >= kMinEventMs && ms < kMaxEventMs; }

// The start of the period of length `period_ms` that holds `ms` (periods aligned to the epoch).
inline int64_t floor_to(int64_t ms, int64_t period_ms) {
  return ms - ((ms % period_ms) + period_ms) % period_ms;
}

// A contributor id is the record's eventID and its finding uid (one evaluator string).
constexpr char kContributorSeparator = '\t';

}  // namespace stage_parts

struct AlarmStage::Instance {
  Instance(const rules::Rule& r, std::shared_ptr<const MetricAlarmSpec> spec)
      : rule(r), eval(std::move(spec)) {}
  const rules::Rule& rule;
  AlarmEvaluator eval;
  std::string key;                      // dimension_key(dimensions)
  std::vector<std::string> dimensions;  // values, in MetricSpec::dimensions order
  std::string account, region;          // of the newest datapoint's record
  int64_t newest_ms = 0;
  bool dirty = false;
  // Shared state: what this agent last read of the store's state item, and the newest period
  // it registered in the store's instance index (0: not yet).
  std::string stored_state;
  int64_t stored_version = 0;
  std::vector<std::string> stored_recent;
  int64_t indexed_period_ms = 0;
};

struct AlarmStage::RuleAlarms {
  const rules::Rule* rule = nullptr;
  std::map<std::string, std::unique_ptr<Instance>> instances;  // by dimension key (ordered)
  bool refusal_logged = false;
};

struct AlarmStage::Sample {
  RuleAlarms* rule = nullptr;
  int64_t t_ms = 0;
  double value = 0;
  std::vector<std::string> dimensions;
  std::string contributor;
  std::string account, region;
};

}  // namespace trailwarden::alarms
