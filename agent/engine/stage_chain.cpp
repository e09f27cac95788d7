#include "agent/engine/stage_chain.h"

#include <algorithm>

namespace trailwarden {

StageChain::StageChain(std::vector<Stage*> stages) : stages_(std::move(stages)) {
  stages_.erase(std::remove(stages_.begin(), stages_.end(), nullptr), stages_.end());
}

bool StageChain::wants_event_times() const {
  return std::any_of(stages_.begin(), stages_.end(),
                     [](const Stage* s) { return s->wants_event_times(); });
}

bool StageChain::wants_unit_identity() const {
  return std::any_of(stages_.begin(), stages_.end(),
                     [](const Stage* s) { return s->wants_unit_identity(); });
}

bool StageChain::wants_objects() const {
  return std::any_of(stages_.begin(), stages_.end(),
                     [](const Stage* s) { return s->wants_objects(); });
}

std::string StageChain::process(StageUnit& unit) {
  for (Stage* s : stages_)
    if (std::string why = s->process(unit); !why.empty()) return why;
  return {};
}

void StageChain::tick(Clock::Wall now, std::vector<AlertRecord>& out) {
  for (Stage* s : stages_) s->tick(now, out);
}

void StageChain::finish(std::vector<AlertRecord>& out) {
  for (Stage* s : stages_) s->finish(out);
}

void StageChain::delivered(const std::vector<AlertRecord>& alerts) {
  for (Stage* s : stages_) s->delivered(alerts);
}

}  // namespace trailwarden
