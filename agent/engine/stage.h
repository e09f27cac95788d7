// Stage: a step between matching and delivery that sees every alert of a unit and decides what
// goes on. The engine calls its stage from the worker that matched the unit (several workers at
// once: a stage is thread-safe). PassThrough (the default) lets alerts go on as they are; the
// alarm stage (agent/alarms/alarm_stage.h) counts matches over event time, may drop per-record
// alerts and adds one alert per alarm transition.
//
// Time: a stage that keeps state over event time learns how far the stream has gone from every
// unit, matching or not (StageUnit::event_slots), from the engine's wall-clock tick while the
// stream is idle (run), and from finish() at the end of a finite input (replay). The engine owns
// the threads: tick() and finish() are called from its receiving loop, and what they return is
// delivered like a unit's alerts.
//
// Exactly once: a unit may come again (an SQS message redelivered, a second notification for
// the same object, a Kafka offset not committed). The engine gives each unit an identity
// (StageUnit::identity) so that a stage with durable state counts it once; and it reports
// which alerts reached every output's buffer (delivered()), so that a stage can send again what
// a failed delivery or a crash kept from them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/alert_record.h"
#include "agent/core/clock.h"

namespace trailwarden {

// The width of the event-time slots a unit reports: every alarm period (10 s, 30 s or a
// multiple of 60 s) is a whole number of slots.
inline constexpr int64_t kEventSlotMs = 10'000;

struct StageUnit {
  std::vector<AlertRecord>& alerts;  // the unit's, in record order: keep, drop, add
  // The eventTime of every record of the unit (matching or not), each as the start of its
  // kEventSlotMs slot (ms since the epoch), sorted and unique; empty when the unit had no
  // record with a usable eventTime or the engine was not asked to track them
  // (Stage::wants_event_times). Times further ahead than the clock skew allows are left out.
  const std::vector<int64_t>& event_slots;
  // What the unit is, the same each time it comes again: "s3://bucket/key",
  // "kafka://topic/partition@offset#<digest of its bytes>", "eventbridge:<event id>#<digest of
  // its bytes>"; empty when it has none (a replayed file: each run reads its input once) or the
  // stage does not want it (Stage::wants_unit_identity).
  std::string_view identity = {};
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Whether the processor must report every record's event time (StageUnit::event_slots); a
  // short scan of each record's text, so false unless the stage needs it.
  virtual bool wants_event_times() const { return false; }
  // Whether the engine must give each unit its identity (StageUnit::identity): a digest of an
  // event's or message's bytes, so false unless the stage counts units once.
  virtual bool wants_unit_identity() const { return false; }
  // Returns "" or why the unit cannot go on (its state could not be saved): then the engine
  // delivers none of its alerts and fails the unit, which its source retries.
  virtual std::string process(StageUnit& unit) = 0;
  // `run`, about every half second: the wall clock went on (an idle stream still closes
  // periods); appends alerts to deliver now.
  virtual void tick(Clock::Wall /*now*/, std::vector<AlertRecord>& /*out*/) {}
  // The input ended (replay): appends the alerts what was read still allows.
  virtual void finish(std::vector<AlertRecord>& /*out*/) {}
  // These alerts (of a unit, a tick or finish) are in every output's buffer, or were dropped as
  // already there (the de-duplication window).
  virtual void delivered(const std::vector<AlertRecord>& /*alerts*/) {}
};

// Alerts go on unchanged.
class PassThroughStage final : public Stage {
 public:
  std::string process(StageUnit&) override { return {}; }
};

}  // namespace trailwarden
