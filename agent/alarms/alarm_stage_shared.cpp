// The alarm stage's shared-store mode (alarm_stage.h, "Shared state"; docs/alarms.md, "Several
// agents"): counting into store::AlarmStore, evaluating from its totals, and the
// compare-and-set that makes exactly one agent notify a transition.
#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include "agent/alarms/alarm_stage.h"
#include "agent/alarms/alarm_stage_parts.h"
#include "agent/alarms/metric_value.h"
#include "agent/common/failpoint.h"
#include "agent/normalize/alarm_finding.h"

namespace trailwarden::alarms {

using namespace stage_parts;

// The alarm's key in the store: its name and what its periods and state mean (period, M of N,
// statistic, lateness), so that agents running different definitions of one alarm (a rolling
// change) never mix their periods or adopt each other's state: a changed definition starts
// again, as a single agent's restore() does.
std::string shared_alarm_key(const rules::Rule& rule) {
  const AlarmSpec& a = rule.metric_alarm->alarm;
  return fmt::format("{}#{}s-{}of{}-{}-l{}", a.name, a.period_seconds, a.datapoints_to_alarm,
                     a.evaluation_periods, statistic_name(a.statistic), a.lateness_seconds);
}

namespace {

// Epoch seconds of a time in ms, rounded down (the store's times are seconds).
int64_t seconds_of(int64_t ms) { return floor_to(ms, 1000) / 1000; }

PeriodAggregate aggregate_of(const store::PeriodTotals& t) {
  PeriodAggregate a;
  a.period_start = from_ms(t.period_start * 1000);
  a.count = t.count > 0 ? static_cast<uint64_t>(t.count) : 0;
  a.sum = t.sum;
  a.min = t.min;
  a.max = t.max;
  a.contributors = t.contributors;
  return a;
}

// A time in seconds that the table holds (written by agents, but read as untrusted: another
// writer, a damaged item) is used only within the event times an alarm can use.
bool usable_seconds(int64_t s) {
  return s >= kMinEventMs / 1000 && s < kMaxEventMs / 1000;
}

}  // namespace

// Around each evaluation of one instance: take the store's periods and state before, and make
// the transition a compare-and-set after.
class AlarmStage::SharedHooks final : public AlarmEvaluator::AdvanceHooks {
 public:
  SharedHooks(AlarmStage& stage, Instance& inst) : stage_(stage), inst_(inst) {}
  bool before_evaluation(AlarmEvaluator&, EventTime range_start, EventTime) override {
    return stage_.sync(inst_, to_ms(range_start));
  }
  Outcome after_transition(AlarmEvaluator&, const Transition& t) override {
    return stage_.settle(inst_, t);
  }

 private:
  AlarmStage& stage_;
  Instance& inst_;
};

std::vector<Transition> AlarmStage::advance(Instance& inst, EventTime watermark) {
  if (!shared_) return inst.eval.advance(watermark);
  SharedHooks hooks(*this, inst);
  return inst.eval.advance(watermark, &hooks);
}

void AlarmStage::adopt_state(Instance& inst, const store::AlarmInstanceState& s) {
  AlarmState state = AlarmState::kInsufficientData;
  if (s.version > 0 && !parse_state(s.state, state)) {
    spdlog::warn("alarm store: alarm \"{}\" instance {:?} has state {:?} (not a state); taken as "
                 "INSUFFICIENT_DATA",
                 shared_alarm_key(inst.rule), inst.key, s.state);
  }
  inst.stored_state = s.version > 0 ? s.state : std::string();
  inst.stored_version = s.version;
  inst.stored_recent = s.recent;
  inst.eval.adopt(state,
                  s.version > 0 && usable_seconds(s.range_end)
                      ? std::optional<EventTime>(from_ms(s.range_end * 1000))
                      : std::nullopt,
                  s.early);
}

bool AlarmStage::sync(Instance& inst, int64_t from_ms_value) {
  store::LoadedInstance loaded;
  store::StoreStatus st = shared_->load(shared_alarm_key(inst.rule), inst.key,
                                        std::max<int64_t>(seconds_of(from_ms_value), 0), loaded);
  if (!st.ok) {
    ++counters_.store_failures;
    spdlog::warn("{}; the evaluation waits for the next tick", st.message);
    return false;
  }
  std::vector<PeriodAggregate> periods;
  periods.reserve(loaded.periods.size());
  for (const store::PeriodTotals& t : loaded.periods)
    if (usable_seconds(t.period_start)) periods.push_back(aggregate_of(t));
  inst.eval.replace_periods(from_ms(from_ms_value), periods);
  adopt_state(inst, loaded.state);
  mark_dirty(&inst);
  return true;
}

AlarmEvaluator::AdvanceHooks::Outcome AlarmStage::settle(Instance& inst, const Transition& t) {
  using Outcome = AlarmEvaluator::AdvanceHooks::Outcome;
  // A notified transition is journaled before its write: a crash after the write won and
  // before the unit's commit would otherwise lose it (nobody else sends it: the store says it
  // happened). After a restart, resend() asks the store whether the write won (verify_won).
  std::optional<AlertRecord> alert;
  if (notifies(inst, t)) alert = transition_alert(inst, t);
  auto forget = [&] {
    if (alert && store_) store_->delivered({alert->uid});
  };
  if (alert && store_) {
    AlarmCommit intent;
    intent.stream_ms = saved_stream_ms_;
    intent.transitions.push_back(*alert);
    std::string error;
    if (!store_->commit(intent, error)) {
      ++counters_.commit_failures;
      spdlog::warn("{}; the {} -> {} transition is decided again at the next tick", error,
                   state_name(t.old_state), state_name(t.new_state));
      return Outcome::kRetry;
    }
  }
  store::TransitionRequest req;
  req.alarm_key = shared_alarm_key(inst.rule);
  req.dimensions_key = inst.key;
  req.from_state = inst.stored_state;
  req.from_version = inst.stored_version;
  req.to_state = std::string(state_name(t.new_state));
  req.changed_at = seconds_of(to_ms(t.state_change_time));
  req.reason = t.reason;
  req.range_end = seconds_of(to_ms(t.period_start));
  req.early = t.early;
  req.uid = alert ? alert->uid
                  : alarm_finding_uid(inst.rule.id, inst.rule.metric_alarm->alarm.name, inst.key,
                                      t.old_state,
                                      t.new_state, to_ms(t.period_start));
  req.recent = inst.stored_recent;
  failpoint::hit("before-alarm-transition-write");
  store::TransitionOutcome outcome = store::TransitionOutcome::kLost;
  store::StoreStatus st = shared_->transition(req, outcome);
  if (!st.ok) {
    ++counters_.store_failures;
    spdlog::warn("{}; the {} -> {} transition is decided again at the next tick", st.message,
                 state_name(t.old_state), state_name(t.new_state));
    // Its write may have been applied with its answer lost: the journaled alert stays, and
    // resend() sends it if the state names it (the next evaluation skips a decided period).
    return Outcome::kRetry;
  }
  if (outcome == store::TransitionOutcome::kWon) {
    inst.stored_state = req.to_state;
    inst.stored_version = req.from_version + 1;
    failpoint::hit("after-alarm-transition-won");
    inst.stored_recent.insert(inst.stored_recent.begin(), req.uid);
    if (inst.stored_recent.size() > store::kRecentTransitions)
      inst.stored_recent.resize(store::kRecentTransitions);
    return Outcome::kNotify;
  }
  forget();
  // Another agent changed the state first: its state stands, and it notified.
  ++counters_.transitions_superseded;
  store::LoadedInstance loaded;
  // Only the state item: it sorts after every period key.
  st = shared_->load(req.alarm_key, inst.key, std::numeric_limits<int64_t>::max() / 2, loaded);
  if (!st.ok) {
    ++counters_.store_failures;
    spdlog::warn("{}; the {} -> {} transition is decided again at the next tick", st.message,
                 state_name(t.old_state), state_name(t.new_state));
    return Outcome::kRetry;
  }
  adopt_state(inst, loaded.state);
  spdlog::debug("alarm \"{}\" {:?}: {} -> {} decided here, but another agent's transition to {} "
                "stands (version {})",
                req.alarm_key, inst.key, state_name(t.old_state), state_name(t.new_state),
                loaded.state.state, loaded.state.version);
  return Outcome::kSuperseded;
}

void AlarmStage::register_instance(Instance& inst, int64_t period_ms) {
  // Once per instance, then again when its data reaches half the store's retention further.
  const int64_t refresh_ms = 6 * 3600 * 1000;
  if (inst.indexed_period_ms && period_ms < inst.indexed_period_ms + refresh_ms) return;
  store::IndexedInstance entry;
  entry.alarm_key = shared_alarm_key(inst.rule);
  entry.dimensions_key = inst.key;
  entry.first_period = period_ms / 1000;
  entry.last_period = period_ms / 1000;
  store::StoreStatus st = shared_->register_instance(entry);
  if (!st.ok) {
    ++counters_.store_failures;
    spdlog::warn("{}; registered again with its next datapoint", st.message);
    return;
  }
  inst.indexed_period_ms = period_ms;
}

std::string AlarmStage::count_shared(std::vector<Sample>& samples, const StageUnit& unit,
                                     const std::vector<int64_t>& slots,
                                     std::vector<AlertRecord>& out) {
  // One delta per (instance, period): the unit's datapoints there.
  struct Pending {
    RuleAlarms* rule;
    Instance* inst;
    int64_t newest_ms;
    int64_t datapoints;
  };
  std::vector<store::PeriodDelta> deltas;
  std::vector<Pending> pending;
  std::map<std::pair<Instance*, int64_t>, size_t> slot_of;
  auto delta_for = [&](RuleAlarms& r, Instance* inst, int64_t t_ms) -> size_t {
    const int64_t period_ms = r.rule->metric_alarm->alarm.period_seconds * 1000;
    const int64_t start = floor_to(t_ms, period_ms);
    auto [it, fresh] = slot_of.emplace(std::make_pair(inst, start), deltas.size());
    if (fresh) {
      store::PeriodDelta d;
      d.unit = unit.identity;
      d.alarm_key = shared_alarm_key(*r.rule);
      d.dimensions_key = inst->key;
      d.period_start = start / 1000;
      d.period_seconds = period_ms / 1000;
      deltas.push_back(std::move(d));
      pending.push_back({&r, inst, t_ms, 0});
    }
    Pending& p = pending[it->second];
    p.newest_ms = std::max(p.newest_ms, t_ms);
    return it->second;
  };
  for (Sample& s : samples) {
    RuleAlarms& r = *s.rule;
    if (is_late(r, s.t_ms)) {
      ++counters_.late;
      continue;
    }
    Instance* inst = instance(r, s.dimensions, s.t_ms);
    if (!inst) continue;
    switch (inst->eval.check(from_ms(s.t_ms))) {
      case AlarmEvaluator::AddResult::kLate: ++counters_.late; continue;
      case AlarmEvaluator::AddResult::kOverflow: ++counters_.overflow; continue;
      case AlarmEvaluator::AddResult::kAdded: break;
    }
    const size_t at = delta_for(r, inst, s.t_ms);
    store::PeriodDelta& d = deltas[at];
    d.min = d.count ? std::min(*d.min, s.value) : s.value;
    d.max = d.count ? std::max(*d.max, s.value) : s.value;
    ++d.count;
    d.sum += s.value;
    // The kMaxContributors smallest ids (those a single agent would keep).
    auto& ids = d.contributors;
    ids.insert(std::upper_bound(ids.begin(), ids.end(), s.contributor), s.contributor);
    if (ids.size() > AlarmEvaluator::kMaxContributors) ids.pop_back();
    ++pending[at].datapoints;
    if (s.t_ms >= inst->newest_ms) {
      inst->newest_ms = s.t_ms;
      inst->account = s.account;
      inst->region = s.region;
    }
  }
  // default_value: a period with records but no datapoint is active (a delta of no samples).
  if (!slots.empty()) {
    for (auto& r : rules_) {
      if (!r->rule->metric_alarm->metric.default_value) continue;
      Instance* inst = instance(*r, {}, slots.front());
      if (!inst) continue;
      for (int64_t slot : slots)
        if (inst->eval.check(from_ms(slot)) == AlarmEvaluator::AddResult::kAdded)
          delta_for(*r, inst, slot);
    }
  }
  if (deltas.empty()) return {};
  if (unit.identity.empty())
    return "alarm store: the unit has no identity, so it could not be counted once";
  std::vector<store::PeriodTotals> totals;
  store::StoreStatus st = shared_->add_batch(deltas, totals);
  if (!st.ok) {
    ++counters_.store_failures;
    return fmt::format("{}; the unit is retried (its datapoints are counted once)", st.message);
  }
  // The unit came again (a redelivery, another agent's crash): counted once, by the store.
  if (std::any_of(totals.begin(), totals.end(),
                  [](const store::PeriodTotals& t) { return t.already_counted; }))
    ++counters_.units_repeated;
  // Totals come in the order of the deltas (one per instance and period: nothing merged).
  for (size_t i = 0; i < totals.size() && i < pending.size(); ++i) {
    Pending& p = pending[i];
    const store::PeriodTotals& t = totals[i];
    // Early firing looks at the periods around this one, which other agents may have counted:
    // they come from the store first (and its state: no early ALARM twice). Only a period that
    // breaches can complete an M-of-N range (the statistic only moves towards the threshold),
    // so only then.
    const MetricAlarmSpec& spec = *p.rule->rule->metric_alarm;
    const PeriodAggregate period = aggregate_of(t);
    if (spec.fires_early() && p.inst->eval.state() != AlarmState::kAlarm &&
        p.inst->eval.breaching(period)) {
      const int64_t period_ms = spec.alarm.period_seconds * 1000;
      if (!sync(*p.inst, t.period_start * 1000 - (spec.alarm.evaluation_periods - 1) * period_ms))
        spdlog::warn("alarm \"{}\": early firing decides on this agent's periods only until "
                     "the store answers again", shared_alarm_key(*p.rule->rule));
    }
    const AlarmEvaluator::AddOutcome o = p.inst->eval.set_period(period, from_ms(p.newest_ms));
    switch (o.result) {
      case AlarmEvaluator::AddResult::kLate: counters_.late += p.datapoints; continue;
      case AlarmEvaluator::AddResult::kOverflow: counters_.overflow += p.datapoints; continue;
      case AlarmEvaluator::AddResult::kAdded: break;
    }
    counters_.datapoints += p.datapoints;
    mark_dirty(p.inst);
    register_instance(*p.inst, t.period_start * 1000);
    if (!o.transition) continue;
    switch (settle(*p.inst, *o.transition)) {
      case AlarmEvaluator::AdvanceHooks::Outcome::kNotify:
        emit(*p.inst, *o.transition, out);
        break;
      case AlarmEvaluator::AdvanceHooks::Outcome::kSuperseded:
        break;
      case AlarmEvaluator::AdvanceHooks::Outcome::kRetry:
        // Not decided in the store: the evaluation at the period's end decides it (from the
        // store's state, adopted before it).
        break;
    }
  }
  return {};
}

AlarmStage::Verdict AlarmStage::verify_won(const AlertRecord& alert) {
  auto it = by_id_.find(alert.rule_id);
  if (it == by_id_.end()) return Verdict::kNotWon;  // the rule no longer counts for an alarm
  const MetricAlarmSpec& spec = *it->second->rule->metric_alarm;
  // The dimension values, from the finding (unmapped.trailwarden.alarm.dimensions).
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::vector<std::string> values;
  if (parser.parse(alert.ocsf).get(doc) != simdjson::SUCCESS) return Verdict::kNotWon;
  for (const DimensionSpec& d : spec.metric.dimensions) {
    std::string_view v;
    if (doc.at_pointer("/unmapped/trailwarden/alarm/dimensions").at_key(d.name).get(v) !=
        simdjson::SUCCESS)
      return Verdict::kNotWon;
    values.emplace_back(v);
  }
  store::LoadedInstance loaded;
  store::StoreStatus st = shared_->load(shared_alarm_key(*it->second->rule), dimension_key(values),
                                        std::numeric_limits<int64_t>::max() / 2, loaded);
  if (!st.ok) {
    ++counters_.store_failures;
    spdlog::warn("{}; whether transition {} was won is asked again later", st.message, alert.uid);
    return Verdict::kUnknown;
  }
  const std::vector<std::string>& recent = loaded.state.recent;
  return std::find(recent.begin(), recent.end(), alert.uid) != recent.end() ? Verdict::kWon
                                                                            : Verdict::kNotWon;
}

void AlarmStage::discover(int64_t now_ms) {
  if (last_discover_ms_ && now_ms - last_discover_ms_ < options_.discover_interval.count()) return;
  last_discover_ms_ = now_ms;
  // Instances with data whose registration failed are registered now (else only with their
  // next datapoint: an agent that leaves for good would take them with it).
  for (auto& r : rules_)
    for (auto& [key, inst] : r->instances)
      if (!inst->indexed_period_ms && inst->newest_ms) {
        const int64_t period_ms = r->rule->metric_alarm->alarm.period_seconds * 1000;
        register_instance(*inst, floor_to(inst->newest_ms, period_ms));
      }
  for (auto& r : rules_) {
    std::vector<store::IndexedInstance> entries;
    store::StoreStatus st = shared_->list_instances(shared_alarm_key(*r->rule), entries);
    if (!st.ok) {
      ++counters_.store_failures;
      spdlog::warn("{}; read again in {} s", st.message, options_.discover_interval.count() / 1000);
      continue;
    }
    for (store::IndexedInstance& e : entries) {
      if (r->instances.count(e.dimensions_key)) continue;
      if (!usable_seconds(e.first_period)) {
        spdlog::warn("alarm store: the instance index of alarm \"{}\" says instance {:?} began "
                     "at {} (not a usable time); skipped",
                     shared_alarm_key(*r->rule), e.dimensions_key, e.first_period);
        continue;
      }
      std::vector<std::string> dims;
      if (!parse_dimension_key(e.dimensions_key, dims) ||
          dims.size() != r->rule->metric_alarm->metric.dimensions.size()) {
        spdlog::warn("alarm store: the instance index of alarm \"{}\" holds {:?}, not a "
                     "dimension set of this alarm; skipped",
                     shared_alarm_key(*r->rule), e.dimensions_key);
        continue;
      }
      if (r->instances.size() >= options_.max_instances_per_rule) {
        ++counters_.instances_refused;
        break;
      }
      auto inst = std::make_unique<Instance>(*r->rule, r->rule->metric_alarm);
      inst->key = e.dimensions_key;
      inst->dimensions = std::move(dims);
      inst->eval.start(from_ms(e.first_period * 1000));
      inst->indexed_period_ms = e.first_period * 1000;
      ++counters_.instances_discovered;
      mark_dirty(inst.get());
      std::string key = inst->key;
      r->instances.emplace(std::move(key), std::move(inst));
    }
  }
}

}  // namespace trailwarden::alarms
