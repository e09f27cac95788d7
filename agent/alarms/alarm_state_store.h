// AlarmStateStore: what the alarm stage keeps beyond the process, so that a restart (or kill -9
// at any moment) loses no count and notifies no transition twice (docs/alarms.md, "State").
//
// The stage works in commits. A commit is what one unit (one S3 object, one Kafka message, one
// inline event) did to the alarms: the instances it changed (their whole evaluator state), the
// stream time, and the transition alerts it made, under the unit's identity. The stage commits
// before the unit's alerts go to delivery and before the unit may be acknowledged, so:
// - a unit delivered again (SQS redelivery, a second notification for the same object, a
//   Kafka offset not committed) is recognised by counted() and its datapoints are not counted
//   again; the transitions it made and that are not known delivered are given back to send
//   again (the de-duplication window, engine/deliver.h, drops those that did reach the buffers);
// - transitions are "undelivered" from their commit until delivered() reports them in every
//   output's buffer; undelivered() lists them so the stage sends them again (at start-up, and
//   while outputs refuse them) — a crash between commit and delivery loses none.
// A tick or the end of a replay commits with no unit identity.
//
// Implementations: StateDirAlarmStore (state_dir_alarm_store.h, the embedded default).
// Thread-safety: the stage calls them under its lock, one call at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/alert_record.h"

namespace trailwarden::alarms {

// One alarm instance (a rule and one set of dimension values), as saved.
struct SavedInstance {
  std::string rule_id;
  std::vector<std::string> dimensions;  // values, in MetricSpec::dimensions order
  std::string account, region;          // of the newest datapoint's record
  int64_t newest_ms = 0;                // that record's eventTime
  std::string evaluator;                // AlarmEvaluator::serialize()
};

// What one unit (or a tick, or the end of a replay) changed.
struct AlarmCommit {
  std::string unit;                      // the unit's identity; "" for a tick or finish()
  int64_t stream_ms = 0;                 // the stream time after it
  std::vector<SavedInstance> instances;  // the instances it changed
  std::vector<AlertRecord> transitions;  // the transition alerts it made, to deliver
};

// Everything saved, as load() gives it back.
struct SavedAlarmState {
  int64_t stream_ms = 0;
  std::vector<SavedInstance> instances;  // the latest state of every instance ever committed
};

class AlarmStateStore {
 public:
  virtual ~AlarmStateStore() = default;
  // Reads what is saved. False with `error` when it cannot be read at all (the stage must not
  // start, or counts would be lost); damage the store can step over is logged and counted by it.
  virtual bool load(SavedAlarmState& out, std::string& error) = 0;
  // Whether a commit for `unit` is remembered; if so, appends the transition alerts it made that
  // are not known delivered. A store remembers a bounded number of units (the oldest forgotten).
  virtual bool counted(std::string_view unit, std::vector<AlertRecord>& undelivered) = 0;
  // Makes `commit` durable (true), or leaves what was saved as it was (false, `error`).
  virtual bool commit(const AlarmCommit& commit, std::string& error) = 0;
  // The alerts of these uids are in every output's buffer: they are not sent again. Need not
  // be durable at once (a crash then sends them again, and the window drops them).
  virtual void delivered(const std::vector<std::string>& uids) = 0;
  // Transition alerts committed and not known delivered, oldest first.
  virtual std::vector<AlertRecord> undelivered() = 0;
};

}  // namespace trailwarden::alarms
