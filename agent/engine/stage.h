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
#pragma once

#include <cstdint>
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
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Whether the processor must report every record's event time (StageUnit::event_slots); a
  // short scan of each record's text, so false unless the stage needs it.
  virtual bool wants_event_times() const { return false; }
  virtual void process(StageUnit& unit) = 0;
  // `run`, about every half second: the wall clock went on (an idle stream still closes
  // periods); appends alerts to deliver now.
  virtual void tick(Clock::Wall /*now*/, std::vector<AlertRecord>& /*out*/) {}
  // The input ended (replay): appends the alerts what was read still allows.
  virtual void finish(std::vector<AlertRecord>& /*out*/) {}
};

// Alerts go on unchanged.
class PassThroughStage final : public Stage {
 public:
  void process(StageUnit&) override {}
};

}  // namespace trailwarden
