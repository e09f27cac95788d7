// Stage: a step between matching and delivery that sees every alert of a unit and decides what
// goes on. The engine calls its stages in order, from the worker that matched the unit (several
// workers at once: a stage is thread-safe). Today there is one, PassThrough: alerts go on as
// they are. This is the slot for aggregation (a rule that counts matches over time, the next
// issue): such a stage keeps state across units, may hold alerts back and emit new ones.
#pragma once

#include <vector>

#include "agent/core/alert_record.h"

namespace trailwarden {

class Stage {
 public:
  virtual ~Stage() = default;
  // Rewrites `alerts` (the unit's, in record order) in place: keep, drop, add.
  virtual void process(std::vector<AlertRecord>& alerts) = 0;
};

// Alerts go on unchanged.
class PassThroughStage final : public Stage {
 public:
  void process(std::vector<AlertRecord>&) override {}
};

}  // namespace trailwarden
