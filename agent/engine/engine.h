// Engine: the one pipeline behind `run` and `replay`. It takes units of work from a Source
// (agent/sources/source.h) and runs each through the stages, on `workers` threads:
//
//   fetch (objects from the ObjectStore, a local file, bytes in hand; agent/engine/fetch.h)
//   → decode + match + normalize (ObjectProcessor, agent/engine/processor.h)
//   → stage (agent/engine/stage.h: pass-through, or the stage set by set_stage(): the alarm
//     stage, the integrity stage, several in a StageChain; a stage that wants objects gets each
//     S3 object's StageObject: read with its metadata, hashed, a digest's text kept)
//   → deliver (bad records recorded, de-duplication window, outputs; agent/engine/deliver.h)
//   → acknowledge (Source::done: ok once every object of the unit is delivered, else kept).
//
// A unit that names several objects is split into one task per object, worked on in parallel;
// it is done when its last task is. Backpressure: at most max_in_flight units are handed out
// and unfinished; the engine asks its source only for the room it has.
//
// Ordering: by default a unit's alerts are delivered as soon as it is matched (SQS: the queue
// does not order messages). `ordered`: units are delivered, reported and acknowledged in the
// order the source handed them out (replay: output bytes do not depend on the number of
// workers); a failed delivery then halts the engine (nothing after it is delivered).
//
// Ending: a source that ends (kEnd) is drained: run() returns once every unit is done. On
// `stop`, the engine stops asking for units and gives the units in flight shutdown_deadline;
// then fetches in progress are cancelled, submits waiting on an output give up
// (DeliveryPipeline::stop_accepting) and the unfinished units are released to the source. A
// fatal error (the source says so, or an output failed for good) stops it the same way.
//
// Time comes from the injected Clock (shutdown deadline, fetch backoff).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/decode/limits.h"
#include "agent/engine/deliver.h"
#include "agent/engine/fetch.h"
#include "agent/engine/processor.h"
#include "agent/sources/source.h"
#include "agent/engine/stage.h"
#include "agent/metrics/metrics.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/matcher.h"
#include "agent/rules/rule.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden {

struct EngineOptions {
  size_t workers = 2;                          // fetch + match threads
  size_t max_in_flight = 32;                   // units handed out and not yet done
  std::chrono::milliseconds shutdown_deadline{30000};  // on stop, time for the units in flight
  bool ordered = false;                        // deliver and acknowledge in source order
  // The alerts of a file that broke part-way are delivered (replay shows what it saw); by
  // default the unit is kept for redelivery instead, its alerts undelivered.
  bool deliver_failed_units = false;
  // Follow the newest eventTime of records read from objects (the event-age gauge).
  bool track_event_time = true;
  FetchOptions fetch;
  DecodeLimits limits;
  OcsfOptions ocsf;
  DeliveryOptions delivery;
};

// The rules an engine matches with: the loaded rules (owned, or borrowed from the caller) and a
// matcher over the enabled ones. Immutable once built; shared by the worker threads, replaced
// as a whole by Engine::replace_rules().
struct RuleSet {
  explicit RuleSet(std::vector<rules::Rule> all);           // owns them; matches the enabled
  explicit RuleSet(std::vector<const rules::Rule*> enabled);  // borrows; must outlive the set
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  const std::vector<rules::Rule> owned;
  const std::vector<const rules::Rule*> enabled;
  const rules::RuleMatcher matcher;
};

struct EngineCounters {
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> alerts_time_unparsed{0};  // eventTime missing/unparseable
  std::atomic<uint64_t> rule_reloads{0};
  std::atomic<uint64_t> stage_alerts{0};  // delivered from the stage's tick() and finish()
  // Gauges
  std::atomic<int64_t> last_loop_ms{0};     // wall clock of the receiving loop's last turn
  std::atomic<int64_t> newest_event_ms{0};  // newest CloudTrail eventTime processed
  std::atomic<bool> polling{false};         // the receiving loop runs (after start-up)
  // Fetching and matching one object, seconds.
  Histogram object_seconds{Histogram::latency_buckets()};
};

class Engine {
 public:
  // Called once per object (task) of every unit that was worked on, after its delivery, with
  // the result and whether its alerts are in the outputs (false: it had alerts and the outputs
  // did not take them, or the engine had stopped delivering); one call at a time; in source
  // order when `ordered`. Replay builds its summary from it.
  using ResultObserver =
      std::function<void(const WorkUnit&, const ObjectResult&, bool delivered)>;

  // All references must outlive the engine. `store` may be null when the source never names
  // objects.
  Engine(EngineOptions options, Source& source, ObjectStore* store,
         std::shared_ptr<const RuleSet> rules, DeliveryPipeline& outputs,
         const Clock& clock = system_clock());
  ~Engine();

  void on_result(ResultObserver observer);

  // The stage between matching and delivery (default: PassThroughStage). Before run(); must
  // outlive the engine. Its tick() runs from the receiving loop in unordered mode (`run`), its
  // finish() once a finite source ended and every unit was delivered (`replay`).
  void set_stage(Stage& stage);

  // Crash consistency: pass this, as DeliveryPipeline::start's `recovered`, before run(): the
  // uids of the alerts a previous run left in the buffers go into the de-duplication window
  // (durably), so that a unit that named them and comes again does not alert twice. False with
  // `error` if the window cannot be opened or written.
  bool remember_buffered(const std::vector<std::string>& uids, std::string& error);

  // Runs until the source ends (every unit done), `stop` becomes true (then finishes the units
  // in flight within shutdown_deadline) or a fatal error. Returns 0, or 1 after a fatal error
  // (source or output failure; in ordered mode, a failed delivery).
  int run(const std::atomic<bool>& stop);

  const EngineCounters& counters() const;
  const FetchCounters& fetch_counters() const;
  const DeliveryCounters& delivery_counters() const;

  // Matches per rule id since start (rules removed by a reload keep their counts).
  std::vector<std::pair<std::string, uint64_t>> matches_per_rule() const;

  // Replaces the rules (SIGHUP). Objects already being matched finish with the old rules;
  // every object started afterwards uses the new ones. Thread-safe.
  void replace_rules(std::shared_ptr<const RuleSet> rules);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Registers the engine's metrics and those of its stages (fetch, delivery), and the matches
// per rule (docs/monitoring.md). `engine` must outlive `registry`.
void register_engine_metrics(MetricsRegistry& registry, const Engine& engine);

}  // namespace trailwarden
