// AlarmStateStore: where the alarm stage keeps what must outlive the process — each alarm
// instance's evaluator state (AlarmEvaluator::serialize / restore) and the stream's event time.
// The stage runs with no store today (state in memory, lost on restart); the state-directory
// store (kill -9 loses no count, no transition notified twice) and the shared DynamoDB store
// (agent/store/alarm_store.h) implement this next.
//
// Contract: the stage calls load() once per instance, when it first needs it; save() for every
// instance a unit changed, and save_stream_time() when the stream's time moved, all before the
// unit's alerts go to delivery (so a crash after delivery never re-notifies what was saved).
// Called under the stage's lock: one call at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trailwarden::alarms {

class AlarmStateStore {
 public:
  virtual ~AlarmStateStore() = default;
  // `instance` is "<rule id>\n<dimension key>" (dimension_key(), metric_value.h).
  virtual std::optional<std::string> load(const std::string& instance) = 0;
  virtual void save(const std::string& instance, std::string_view state) = 0;
  virtual std::optional<int64_t> load_stream_time() = 0;
  virtual void save_stream_time(int64_t event_ms) = 0;
};

}  // namespace trailwarden::alarms
