// AlarmStage: the engine stage (agent/engine/stage.h) that runs the rules' alarms — CloudWatch's
// metric filter -> alarm chain on the records' event time (docs/alarms.md, "The alarm stage").
//
// For each rule with counts_for_alarm(), every matching record gives a datapoint
// (metric_value.h: extract_datapoint on the alert's record) added at the record's eventTime to
// the AlarmEvaluator of its dimension set (dimension_key); a rule keeps at most
// max_instances_per_rule instances, datapoints of further dimension sets are refused, counted
// (instances_refused) and logged once per rule — a hostile dimension value never grows memory
// without bound. The rule's per-record alerts are dropped when it alerts on alarms only
// (Rule::alerts_per_record), and each transition whose new state the alarm notifies becomes an
// alert (normalize/alarm_finding.h) appended to the unit's alerts (Rule::alerts_per_transition).
//
// Time (the same for `run` and `replay`): the stream time is the newest eventTime of any record
// of any unit so far (StageUnit::event_slots, matching or not); after each unit every instance is
// advanced to the watermark stream time - lateness_seconds (AlarmEvaluator::watermark_for). A
// datapoint whose period is already final is refused as late, for a new instance too. Within
// the lateness, the order and grouping of records into units does not change the transitions,
// except what early firing saw when it fired (docs/alarms.md, "Order of arrival").
// - tick(now) (`run`): while no newer record arrives, the stream time moves on with the wall
//   clock since the last unit moved it, never past `now`: an idle stream still closes periods
//   once the lateness has passed.
// - finish() (`replay`, end of input): every instance is advanced to the stream time itself
//   (no more records can come): each period that ended at or before the newest record is final
//   and evaluated; the period holding the newest record stays open (its ALARM can only have come
//   from early firing).
//
// State: in memory, or behind an AlarmStateStore (alarm_state_store.h): restore() reads every
// saved instance back at start-up; each unit that changed an alarm is committed, with its
// identity (StageUnit::identity) and the transition alerts it made, before its alerts go on. A
// unit the store already counted (it came again) adds nothing and gets back its transitions that
// are not known delivered; a failed commit puts every instance back to what the store holds and
// fails the unit (its source retries it). Transition alerts stay undelivered until delivered()
// reports them, and tick() sends them again every resend_interval (the first tick after a restart
// sends what a crash kept from delivery); the de-duplication window drops those that did arrive.
//
// Shared state (`[alarms] store = "dynamodb"`; alarm_stage_shared.cpp, docs/alarms.md "Several
// agents"): with a store::AlarmStore, several agents reading disjoint parts of one stream count
// into it. Per unit, the datapoints of each (instance, period) go to the store as one delta
// named by the unit (counted once, whoever sends it), and the period takes the store's totals
// (early firing on them). Before evaluating a period end, an instance takes the store's
// periods and state; a transition is a compare-and-set in the store, and only the agent that
// wins it notifies (the others adopt the stored state). Every instance is registered in the
// store's index, and tick() reads the index every discover_interval, so every agent evaluates
// every instance. A store failure fails the unit (its source retries it; counted once) or
// postpones the evaluation to the next tick. The local journal (`store`) still makes the
// unit's transitions survive until delivered.
// Thread-safe: datapoints are extracted outside the lock, instances updated under one lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/alarms/alarm_evaluator.h"
#include "agent/alarms/alarm_state_store.h"
#include "agent/core/clock.h"
#include "agent/engine/stage.h"
#include "agent/normalize/alarm_finding.h"
#include "agent/rules/rule.h"
#include "agent/store/alarm_store.h"

namespace trailwarden::alarms {

struct AlarmStageOptions {
  // Alarm instances (dimension sets) one rule may have.
  size_t max_instances_per_rule = 10'000;
  // tick() does its work at most this often.
  std::chrono::milliseconds tick_interval{1000};
  // How long a transition alert may wait for delivery before tick() sends it again (tick()
  // looks this often; the first tick after a restart sends what waits at once).
  std::chrono::milliseconds resend_interval{300'000};
  // Transition alerts one tick sends again, at most.
  size_t resend_batch = 1000;
  // Shared state: how often tick() reads the store's instance index.
  std::chrono::milliseconds discover_interval{60'000};
};

struct AlarmStageCounters {
  std::atomic<uint64_t> datapoints{0};         // added to an instance
  std::atomic<uint64_t> no_datapoint{0};       // matches without one (value or dimension missing)
  std::atomic<uint64_t> no_event_time{0};      // matches without a usable eventTime
  std::atomic<uint64_t> late{0};               // refused: their period was final
  std::atomic<uint64_t> overflow{0};           // refused: too far ahead (max_open_periods)
  std::atomic<uint64_t> instances_refused{0};  // refused: the rule's instance cap
  std::atomic<uint64_t> transitions{0};        // state changes (notified or not)
  std::atomic<uint64_t> alerts{0};             // transition alerts made
  std::atomic<uint64_t> records_dropped{0};    // per-record alerts dropped (alert = "alarm")
  std::atomic<uint64_t> units_repeated{0};     // units the store had counted (not counted again)
  std::atomic<uint64_t> commit_failures{0};    // units (or ticks) whose state could not be saved
  std::atomic<uint64_t> resent{0};             // transition alerts sent again
  std::atomic<uint64_t> restore_failures{0};   // saved instances that could not be restored
  // Shared state only:
  std::atomic<uint64_t> store_failures{0};        // store calls that failed (retried later)
  std::atomic<uint64_t> transitions_superseded{0};// decided here, but another agent's stood
  std::atomic<uint64_t> instances_discovered{0};  // instances learned from the store's index
};

class AlarmStage final : public Stage {
 public:
  // `rules`: the enabled rules (those without counts_for_alarm() pass through); they must
  // outlive the stage. `store` may be null (state in memory); with one, call restore() first.
  // `shared`: the store several agents share (null: this agent's counts are the whole truth).
  AlarmStage(std::vector<const rules::Rule*> rules, AlarmStageOptions options = {},
             const Clock& clock = system_clock(), AlarmStateStore* store = nullptr,
             store::AlarmStore* shared = nullptr);
  ~AlarmStage() override;

  // Whether any rule counts for an alarm (otherwise the engine keeps PassThroughStage).
  static bool needed(const std::vector<const rules::Rule*>& rules);

  // Reads the store's instances and stream time. Instances of rules no longer counting, or
  // whose alarm definition changed (period, statistic, ...), start again (logged, counted).
  // False with `error` when the store cannot be read.
  bool restore(std::string& error);

  bool wants_event_times() const override { return true; }
  // With a store only: units are counted once (alarm_state_store.h).
  bool wants_unit_identity() const override { return store_ != nullptr || shared_ != nullptr; }
  std::string process(StageUnit& unit) override;
  void tick(Clock::Wall now, std::vector<AlertRecord>& out) override;
  void finish(std::vector<AlertRecord>& out) override;
  void delivered(const std::vector<AlertRecord>& alerts) override;

  const AlarmStageCounters& counters() const { return counters_; }
  // Inspection (tests, status): the state of one instance, and how many a rule has.
  std::optional<AlarmState> state(std::string_view rule_id,
                                  const std::vector<std::string>& dimensions = {}) const;
  size_t instances(std::string_view rule_id) const;
  // The stream time (ms since the epoch; 0: no record yet).
  int64_t stream_time_ms() const;

 private:
  struct Instance;
  struct RuleAlarms;
  struct Sample;

  Instance* instance(RuleAlarms& r, const std::vector<std::string>& dimensions, int64_t t_ms);
  bool is_late(const RuleAlarms& r, int64_t t_ms) const;
  void add(RuleAlarms& r, Sample& s, std::vector<AlertRecord>& out);
  void move_stream(int64_t event_ms, int64_t wall_ms);
  void advance_all(int64_t to_ms, bool use_lateness, std::vector<AlertRecord>& out);
  // One instance's advance(): with the shared store's hooks when there is one.
  std::vector<Transition> advance(Instance& inst, EventTime watermark);
  void emit(const Instance& inst, const Transition& t, std::vector<AlertRecord>& out);
  // Whether the rule notifies this transition, and its alert.
  bool notifies(const Instance& inst, const Transition& t) const;
  AlertRecord transition_alert(const Instance& inst, const Transition& t) const;
  void mark_dirty(Instance* inst);
  // Commits the dirty instances and the transition alerts out[first..] under `unit`. On
  // failure: every instance back to the store's state, out[first..] removed, the error returned.
  std::string commit(std::string_view unit, std::vector<AlertRecord>& out, size_t first);
  bool restore_locked(std::string& error);
  // Whether some rule's watermark is in a later period at stream time `after_ms` than at
  // `before_ms` (a period may have become final): the stream time must then be saved, so that
  // after a restart a datapoint for that period is refused as late as it would have been.
  bool watermark_crossed_period(int64_t before_ms, int64_t after_ms) const;
  void resend(int64_t now_ms, std::vector<AlertRecord>& out);

  // Shared state (alarm_stage_shared.cpp).
  class SharedHooks;
  // Counts the samples into the shared store under `unit` and takes its totals; early ALARMs
  // go through settle(). An error when the store failed (nothing is taken; retry the unit).
  std::string count_shared(std::vector<Sample>& samples, const StageUnit& unit,
                           const std::vector<int64_t>& slots, std::vector<AlertRecord>& out);
  // A transition decided here: the compare-and-set in the store.
  AlarmEvaluator::AdvanceHooks::Outcome settle(Instance& inst, const Transition& t);
  // The instance takes the store's periods from `from_ms` on and its state; false on failure.
  bool sync(Instance& inst, int64_t from_ms);
  void adopt_state(Instance& inst, const store::AlarmInstanceState& s);
  void register_instance(Instance& inst, int64_t period_ms);
  void discover(int64_t now_ms);
  // A transition alert saved before this start (the journal): whether this agent's write of it
  // won (the state's `recent` names it). kUnknown when the store cannot tell now.
  enum class Verdict { kWon, kNotWon, kUnknown };
  Verdict verify_won(const AlertRecord& alert);

  AlarmStageOptions options_;
  const Clock& clock_;
  AlarmStateStore* store_;
  store::AlarmStore* shared_;
  AlarmStageCounters counters_;
  std::vector<std::unique_ptr<RuleAlarms>> rules_;          // counting rules only
  std::unordered_map<std::string, RuleAlarms*> by_id_;      // immutable after construction
  mutable std::mutex mu_;                                   // guards everything below
  int64_t stream_ms_ = 0;       // newest event time (or wall-extrapolated, run)
  int64_t stream_wall_ms_ = 0;  // wall time when stream_ms_ last moved
  int64_t saved_stream_ms_ = 0; // the stream time the store holds
  int64_t last_tick_ms_ = 0;
  std::vector<Instance*> dirty_;
  std::unordered_map<std::string, int64_t> sent_ms_;  // undelivered transition uid -> last sent
  int64_t last_resend_ms_ = 0;                        // 0: none yet (the first tick sends)
  int64_t last_discover_ms_ = 0;                      // 0: none yet (the first tick reads)
};

}  // namespace trailwarden::alarms

namespace trailwarden::alarms {
// The key of a rule's alarm in the shared store: "<name>#<period>s-<M>of<N>-<statistic>-l<lateness>"
// (docs/alarms.md, "The table"): agents running different definitions never share items.
std::string shared_alarm_key(const rules::Rule& rule);
}  // namespace trailwarden::alarms

namespace trailwarden {
class MetricsRegistry;
// The alarm stage's trailwarden_alarm_* metrics (docs/monitoring.md), read from its counters at
// scrape time (alarm_stage_metrics.cpp); `stage` must outlive `registry`.
void register_alarm_stage_metrics(MetricsRegistry& registry, const alarms::AlarmStage& stage);
// The DynamoDB alarm store's trailwarden_alarm_store_* metrics; `store` must outlive `registry`.
namespace store { class DynamoDbAlarmStore; }
void register_alarm_store_metrics(MetricsRegistry& registry, const store::DynamoDbAlarmStore& store);
}  // namespace trailwarden
