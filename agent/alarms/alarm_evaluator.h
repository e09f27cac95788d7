// AlarmEvaluator: the CloudWatch alarm state machine for ONE alarm instance (one rule, one set
// of dimension values), driven by the records' event time only — never by the real clock — so
// that `run` and `replay` produce the same transitions for the same records.
//
// Contract (each point is a section of docs/alarms.md, "Semantics", with its unit test):
// - add(t, value, id) puts a datapoint into the period [k·P, (k+1)·P) that holds t (periods are
//   aligned to the Unix epoch, as CloudWatch aligns them); a period keeps count/sum/min/max, so
//   every statistic is available, and at most kMaxContributors record ids (the rest counted).
// - A period is final once the watermark (the newest event time seen minus the alarm's
//   lateness_seconds, computed by the caller over the whole stream: watermark_for()) reaches its
//   end. advance(watermark) evaluates, in order, the end of every period that became final, each
//   over CloudWatch's evaluation range (the last evaluation_periods + 2 periods), with
//   CloudWatch's rules for M of N and treat_missing_data, and returns the transitions.
// - A datapoint for a period that is already final is refused (kLate, counted), never applied.
// - Early firing: when MetricAlarmSpec::fires_early() (the statistic can only move towards the
//   threshold), add() reports the OK/INSUFFICIENT_DATA -> ALARM transition as soon as M of N
//   consecutive periods holding the datapoint's period are breaching (the earliest such range),
//   with a period still open, instead of waiting for finality; evaluations of ranges ending
//   before that range not yet made are moot.
// - Order of arrival (docs/alarms.md, "Order of arrival"): for datapoints none of which is late,
//   the order and the advance() calls change nothing without early firing (same transitions,
//   same serialize()); with it, what the early ALARM shows and the evaluations it made moot
//   depend on the order by design, and every transition of a range ending after the newest
//   range any early ALARM named is the same in every order, as is the final state.
// - Record ids kept per period: the kMaxContributors smallest, ascending (order-independent).
// - The state starts INSUFFICIENT_DATA; a transition is never to the state the alarm is in.
// - Memory: the final periods of one evaluation range plus the open ones (at most
//   max_open_periods(), further ones refused as kOverflow and counted).
// - serialize() / restore(): the whole state, versioned, byte-exact: restoring and continuing
//   gives the same transitions and the same bytes as never stopping.
// - Shared state (several agents, alarm_stage_shared.cpp): check() tells whether a datapoint
//   would be admitted; set_period() puts a store's totals for one period in place of the local
//   aggregate (early firing as add()); replace_periods() and adopt() make the evaluator hold
//   the store's periods and state before an evaluation (AdvanceHooks), so that every agent
//   evaluating a period end decides from the same totals and the same prior state.
// Not thread-safe: one owner at a time (the caller locks).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/rules/metric_alarm.h"
#include "agent/core/clock.h"

namespace trailwarden::alarms {

using EventTime = Clock::Wall;

// One datapoint an evaluation looked at.
struct EvaluatedDatapoint {
  EventTime period_start;
  bool present = true;    // false: a missing datapoint filled by treat_missing_data
  bool partial = false;   // the period was still open (early firing)
  double value = 0;       // the statistic's value (when present)
  uint64_t samples = 0;   // datapoints in the period (0 for a default_value period)
  bool breaching = false;
};

struct Transition {
  AlarmState old_state = AlarmState::kInsufficientData;
  AlarmState new_state = AlarmState::kInsufficientData;
  std::string reason;          // CloudWatch's NewStateReason wording
  EventTime state_change_time; // the event time that caused it: the record's (early firing) or
                               // the end of the period whose evaluation caused it
  EventTime period_start;      // the newest period evaluated
  int64_t period_seconds = 0;
  bool early = false;          // decided on a period still open
  std::vector<EvaluatedDatapoint> datapoints;  // newest first, evaluation_periods of them
                                               // (fewer for INSUFFICIENT_DATA)
  std::vector<std::string> contributors;       // record ids of the datapoints, newest first
  uint64_t contributors_omitted = 0;           // ids not kept (kMaxContributors per period)
};

// One period's aggregate as a shared store holds it (store/alarm_store.h PeriodTotals).
struct PeriodAggregate {
  EventTime period_start;
  uint64_t count = 0;   // 0: records were seen but no datapoint (default_value's activity)
  double sum = 0;
  std::optional<double> min, max;
  std::vector<std::string> contributors;  // any order; the kMaxContributors smallest are kept
};

class AlarmEvaluator {
 public:
  static constexpr size_t kMaxContributors = 10;  // record ids kept per period
  static constexpr int64_t kOpenPeriodSlack = 64;

  enum class AddResult { kAdded, kLate, kOverflow };
  struct AddOutcome {
    AddResult result = AddResult::kAdded;
    std::optional<Transition> transition;  // early firing
  };

  explicit AlarmEvaluator(std::shared_ptr<const MetricAlarmSpec> spec);

  // The instance exists from the period holding `t` (earlier periods count as missing). Without
  // it, the instance starts at its first add() or note_activity(). No effect once started. Until
  // a period has been evaluated, a datapoint before the start moves the start back to it (so
  // the order of datapoints within the lateness does not matter).
  void start(EventTime t);
  AddOutcome add(EventTime t, double value, std::string_view contributor_id);
  // A record was seen at `t` (matching or not): with the metric's default_value, a period with
  // records but no datapoint gets one datapoint of default_value. No effect without it.
  AddResult note_activity(EventTime t);
  // Finalizes every period whose end is at or before `watermark`; returns the transitions in
  // order. With `hooks`, each evaluation is bracketed by them (shared state).
  class AdvanceHooks;
  std::vector<Transition> advance(EventTime watermark, AdvanceHooks* hooks = nullptr);

  // Shared state. What add(t, ...) would answer now, changing nothing.
  AddResult check(EventTime t) const;
  // The period holding `totals.period_start` takes the store's totals in place of its own
  // (kLate when it is final, kOverflow as add()); `t` is the newest datapoint this agent added
  // to it, the time an early ALARM names.
  AddOutcome set_period(const PeriodAggregate& totals, EventTime t);
  // Every period at or after `from` becomes what `periods` says (ascending; a period not listed
  // has no data).
  void replace_periods(EventTime from, const std::vector<PeriodAggregate>& periods);
  // Whether a period with these totals breaches the threshold (a period without datapoints:
  // false).
  bool breaching(const PeriodAggregate& totals) const;
  // The state a store holds, decided by the evaluation of the range ending with the period
  // starting at `range_end` (no such range: never stored, INSUFFICIENT_DATA). Evaluations of
  // ranges ending before it are not made here; with `early`, that period may still be open (as
  // after this evaluator's own early ALARM), else it is final here too.
  void adopt(AlarmState state, std::optional<EventTime> range_end, bool early);

  // The watermark for the newest event time seen in the stream: newest - lateness_seconds.
  static EventTime watermark_for(EventTime newest, const AlarmSpec& alarm);

  AlarmState state() const { return state_; }
  const MetricAlarmSpec& spec() const { return *spec_; }
  uint64_t late() const { return late_; }
  uint64_t overflow() const { return overflow_; }
  size_t periods_kept() const { return buckets_.size(); }
  int64_t max_open_periods() const;

  std::string serialize() const;
  // nullopt and *error when `bytes` is not a state of this version for this alarm definition
  // (period, evaluation_periods, datapoints_to_alarm, statistic, lateness).
  static std::optional<AlarmEvaluator> restore(std::shared_ptr<const MetricAlarmSpec> spec,
                                               std::string_view bytes, std::string* error);

 private:
  struct Bucket {
    uint64_t count = 0;
    double sum = 0, min = 0, max = 0;
    bool active = false;  // records seen (default_value)
    std::vector<std::string> contributors;
    uint64_t omitted = 0;
  };
  struct Point {
    int64_t index;
    double value;
    uint64_t samples;
    bool breaching;
    const Bucket* bucket;
  };

  int64_t period_ms() const { return spec_->alarm.period_seconds * 1000; }
  int64_t index_of(EventTime t) const;
  EventTime start_of(int64_t index) const;
  bool begin(int64_t index);
  AddResult admit(int64_t index);
  std::optional<Point> point(int64_t index, bool include_open) const;
  std::optional<Transition> evaluate(int64_t end_index);
  std::optional<Transition> check_early(int64_t index, EventTime t);
  static void keep_contributor(Bucket& b, std::string_view id);
  static void fill(Bucket& b, const PeriodAggregate& a);
  Transition make(AlarmState to, int64_t end_index, const std::vector<Point>& used, size_t filled,
                  bool filled_breaching) const;
  void prune();

  std::shared_ptr<const MetricAlarmSpec> spec_;
  AlarmState state_ = AlarmState::kInsufficientData;
  bool started_ = false;
  int64_t origin_ = 0;     // first period of the instance
  int64_t evaluated_ = 0;  // last period whose end was evaluated (origin_ - 1 at first)
  int64_t early_ = 0;      // period of the last early ALARM (evaluations before it are moot)
  bool has_early_ = false;
  uint64_t late_ = 0;
  uint64_t overflow_ = 0;
  std::map<int64_t, Bucket> buckets_;
};

// Called by advance() around each evaluation of a period end.
class AlarmEvaluator::AdvanceHooks {
 public:
  virtual ~AdvanceHooks() = default;
  // Before evaluating the range [range_start, end_period_start + period): may replace periods
  // and adopt a state. False: stop here, evaluate nothing more now (try again later).
  virtual bool before_evaluation(AlarmEvaluator& e, EventTime range_start,
                                 EventTime end_period_start) = 0;
  enum class Outcome { kNotify, kSuperseded, kRetry };
  // A transition was decided: kNotify returns it; kSuperseded drops it (the hook adopted what
  // the store holds); kRetry undoes it (the state and the period go back) and stops advance().
  virtual Outcome after_transition(AlarmEvaluator& e, const Transition& t) = 0;
};

// "04/12/26 10:05:00": CloudWatch's datapoint time in reasons (dd/MM/yy HH:mm:ss, UTC).
std::string reason_time(EventTime t);
// "5.0", "0.25": CloudWatch's (Java's) rendering of a double in reasons.
std::string reason_number(double v);

}  // namespace trailwarden::alarms
