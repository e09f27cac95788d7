// Failpoints: named places on the delivery path (between a buffer append, the de-duplication
// sync and a buffer acknowledgement, and the alarm state's commits) where a crash test makes the
// agent die, or stall, to prove what a kill -9 at exactly that point does.
//
// The agent itself can never arm one: hit() calls a hook, and nothing in the agent installs
// it. Only the test executable `trailwarden_failpoints` (built with the tests; never installed
// or packaged) links tests/integration/failpoint_hook.cpp, which reads TRAILWARDEN_FAILPOINT
// and installs the hook. In `trailwarden`, hit() is one atomic load of a null pointer.
//
// The places (their names are the contract with tests/integration/test_crash_points.py):
//   after-one-buffer-append  DeliveryPipeline::submit: the alerts are in one more disk buffer
//                            (first hit: in the first output's, not yet in the next ones')
//   after-buffer-append      DeliveryPipeline::submit: the alerts are in every disk buffer
//   before-dedup-sync        DeliveryStage (engine/deliver.h): about to record the uids in the window
//   after-dedup-sync         DeliveryStage: the uids are durable in the window
//   after-buffer-ack         an output's delivery thread: a delivered batch left its buffer
//   before-alarm-commit      StateDirAlarmStore::commit (alarms/state_dir_alarm_store.h): a
//                            unit's alarm changes are counted in memory, not yet written
//   after-alarm-commit       StateDirAlarmStore::commit: written and synced, not yet delivered
//   before-alarm-compact-rename  the journal's compacted copy is written, not yet renamed
//   before-alarm-transition-write  shared store (alarms/alarm_stage_shared.cpp): a transition
//                            is journaled, its conditional write not yet sent
//   after-alarm-transition-won     shared store: the write won, the unit not yet committed
//   before-integrity-commit  IntegrityStage::process (integrity/integrity_stage.h): a unit's
//                            ledger changes are in memory, not yet written
//   after-integrity-commit   IntegrityStage::process: written and synced, the unit not yet
//                            acknowledged
//   before-integrity-compact-rename  the ledger's compacted journal is written, not yet renamed
#pragma once

#include <atomic>
#include <string_view>

namespace trailwarden::failpoint {

using Hook = void (*)(std::string_view name);

inline std::atomic<Hook> hook{nullptr};

// Test builds only (see above).
inline void install(Hook h) { hook.store(h, std::memory_order_release); }

inline void hit(std::string_view name) {
  if (Hook h = hook.load(std::memory_order_acquire)) h(name);
}

}  // namespace trailwarden::failpoint
