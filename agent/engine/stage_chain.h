// StageChain: several stages in the engine's one stage slot (agent/engine/stage.h), in order —
// `run` with alarms and the integrity check has both. The chain is itself a Stage:
//
// - wants_event_times / wants_unit_identity / wants_objects: true when any stage wants it
//   (then every stage of the chain is given it; a stage ignores what it did not ask for).
// - process: each stage in order over the same StageUnit, so a later stage sees the alerts
//   the earlier stages kept, dropped and added (its own additions are not seen by the earlier
//   ones). The first error stops the chain and is returned: the stages after it do not see the
//   unit, which fails (none of its alerts are delivered) and comes again — each stage counts a
//   unit that comes again once (StageUnit::identity), so those before it are not double-counted.
// - tick / finish: each stage in order appends to the same `out` (a later stage sees what the
//   earlier ones appended there, and may change it).
// - delivered: each stage is told of every alert delivered, its own and the others' (a stage
//   finds its own by what it made: uid, kind).
//
// Thread-safe as its stages are; it holds no state of its own. The stages must outlive it.
#pragma once

#include <string>
#include <vector>

#include "agent/engine/stage.h"

namespace trailwarden {

class StageChain final : public Stage {
 public:
  // `stages`, in order; null entries are left out. An empty chain lets alerts go on unchanged.
  explicit StageChain(std::vector<Stage*> stages);

  bool wants_event_times() const override;
  bool wants_unit_identity() const override;
  bool wants_objects() const override;
  std::string process(StageUnit& unit) override;
  void tick(Clock::Wall now, std::vector<AlertRecord>& out) override;
  void finish(std::vector<AlertRecord>& out) override;
  void delivered(const std::vector<AlertRecord>& alerts) override;

  size_t size() const { return stages_.size(); }

 private:
  std::vector<Stage*> stages_;
};

}  // namespace trailwarden
