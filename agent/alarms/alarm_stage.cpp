#include "agent/alarms/alarm_stage.h"

#include <simdjson.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

#include "agent/alarms/alarm_stage_parts.h"
#include "agent/alarms/metric_value.h"

namespace trailwarden::alarms {

using namespace stage_parts;

AlarmStage::AlarmStage(std::vector<const rules::Rule*> rules, AlarmStageOptions options,
                       const Clock& clock, AlarmStateStore* store,
                       store::AlarmStore* shared)
    : options_(options), clock_(clock), store_(store), shared_(shared) {
  for (const rules::Rule* r : rules) {
    if (!r || !r->counts_for_alarm() || by_id_.count(r->id)) continue;
    auto ra = std::make_unique<RuleAlarms>();
    ra->rule = r;
    by_id_[r->id] = ra.get();
    rules_.push_back(std::move(ra));
  }
}

bool AlarmStage::restore(std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  return restore_locked(error);
}

bool AlarmStage::restore_locked(std::string& error) {
  if (!store_) return true;
  SavedAlarmState saved;
  if (!store_->load(saved, error)) return false;
  for (auto& r : rules_) r->instances.clear();
  dirty_.clear();
  stream_ms_ = saved_stream_ms_ = saved.stream_ms;
  stream_wall_ms_ = saved.stream_ms ? clock_.wall_ms() : 0;
  for (SavedInstance& si : saved.instances) {
    auto it = by_id_.find(si.rule_id);
    if (it == by_id_.end()) continue;  // the rule no longer counts for an alarm
    RuleAlarms& r = *it->second;
    const std::shared_ptr<const MetricAlarmSpec>& spec = r.rule->metric_alarm;
    std::string why;
    std::optional<AlarmEvaluator> e = AlarmEvaluator::restore(spec, si.evaluator, &why);
    if (!e) {
      ++counters_.restore_failures;
      spdlog::warn("rule {}: the saved state of alarm \"{}\" does not fit its definition now "
                   "({}); that instance starts again from INSUFFICIENT_DATA",
                   r.rule->id, spec->alarm.name, why);
      continue;
    }
    auto inst = std::make_unique<Instance>(*r.rule, spec);
    inst->eval = std::move(*e);
    inst->key = dimension_key(si.dimensions);
    inst->dimensions = std::move(si.dimensions);
    inst->account = std::move(si.account);
    inst->region = std::move(si.region);
    inst->newest_ms = si.newest_ms;
    std::string key = inst->key;
    r.instances[std::move(key)] = std::move(inst);
  }
  return true;
}

AlarmStage::~AlarmStage() = default;

bool AlarmStage::needed(const std::vector<const rules::Rule*>& rules) {
  return std::any_of(rules.begin(), rules.end(),
                     [](const rules::Rule* r) { return r && r->counts_for_alarm(); });
}

std::string AlarmStage::process(StageUnit& unit) {
  std::vector<AlertRecord>& alerts = unit.alerts;
  // Outside the lock: each counting rule's datapoint from its record.
  std::vector<Sample> samples;
  thread_local simdjson::dom::parser parser;
  size_t keep = 0;
  for (size_t i = 0; i < alerts.size(); ++i) {
    AlertRecord& a = alerts[i];
    auto it = a.kind == AlertKind::kRecord ? by_id_.find(a.rule_id) : by_id_.end();
    if (it != by_id_.end()) {
      RuleAlarms* r = it->second;
      const MetricSpec& metric = r->rule->metric_alarm->metric;
      // Parsed only for a metric that reads a field of the record (not for a literal value
      // without dimensions, as every CIS alarm: its datapoint is the same without the parse).
      simdjson::dom::element doc;
      const bool parsed = reads_record(metric) && !a.raw.empty() &&
                          parser.parse(a.raw).get(doc) == simdjson::SUCCESS;
      Datapoint dp = extract_datapoint(metric, parsed ? &doc : nullptr);
      if (dp.outcome != DatapointOutcome::kEmitted) {
        ++counters_.no_datapoint;
        spdlog::debug("rule {}: record {} gives no datapoint: {}", r->rule->id, a.event_id,
                      dp.reason);
      } else if (a.time_ms == 0 || !usable_event_ms(a.time_ms)) {
        ++counters_.no_event_time;
      } else {
        Sample s;
        s.rule = r;
        s.t_ms = a.time_ms;
        s.value = dp.value;
        s.dimensions = std::move(dp.dimensions);
        s.contributor = a.event_id + kContributorSeparator + a.uid;
        s.account = a.account;
        s.region = a.region;
        samples.push_back(std::move(s));
      }
      if (!r->rule->alerts_per_record()) {
        ++counters_.records_dropped;
        continue;
      }
    }
    if (keep != i) alerts[keep] = std::move(a);
    ++keep;
  }
  alerts.resize(keep);

  // In event-time order: the records' order within the unit does not matter.
  std::stable_sort(samples.begin(), samples.end(),
                   [](const Sample& x, const Sample& y) { return x.t_ms < y.t_ms; });
  std::lock_guard<std::mutex> lock(mu_);
  // A unit the store already counted came again: its datapoints stay counted once, and what it
  // made that was not delivered is sent again.
  if (store_ && !unit.identity.empty()) {
    const size_t before = alerts.size();
    if (store_->counted(unit.identity, alerts)) {
      ++counters_.units_repeated;
      counters_.resent += alerts.size() - before;
      const int64_t now = clock_.wall_ms();
      for (size_t i = before; i < alerts.size(); ++i) sent_ms_[alerts[i].uid] = now;
      spdlog::info("{}: its alarm datapoints were counted before (the unit came again); not "
                   "counted twice{}",
                   unit.identity,
                   alerts.size() > before
                       ? fmt::format(", {} transition alerts sent again", alerts.size() - before)
                       : std::string());
      return {};
    }
  }
  const size_t first = alerts.size();
  // Records without a datapoint still make a period active for a metric's default_value
  // (which excludes dimensions: the rule's one instance). Slots outside the usable times are
  // left out (the list is sorted: they are at its ends).
  std::vector<int64_t> usable;
  const std::vector<int64_t>* slots = &unit.event_slots;
  if (!slots->empty() && (!usable_event_ms(slots->front()) || !usable_event_ms(slots->back()))) {
    std::copy_if(slots->begin(), slots->end(), std::back_inserter(usable), usable_event_ms);
    slots = &usable;
  }
  if (shared_) {
    if (std::string error = count_shared(samples, unit, *slots, alerts); !error.empty())
      return error;
  } else {
    for (Sample& s : samples) add(*s.rule, s, alerts);
    if (!slots->empty()) {
      for (auto& r : rules_) {
        if (!r->rule->metric_alarm->metric.default_value) continue;
        Instance* inst = instance(*r, {}, slots->front());
        if (!inst) continue;
        for (int64_t slot : *slots) {
          if (inst->eval.note_activity(from_ms(slot)) == AlarmEvaluator::AddResult::kAdded)
            mark_dirty(inst);
        }
      }
    }
  }
  if (!slots->empty()) move_stream(slots->back(), clock_.wall_ms());
  advance_all(stream_ms_, true, alerts);
  return commit(unit.identity, alerts, first);
}

AlarmStage::Instance* AlarmStage::instance(RuleAlarms& r, const std::vector<std::string>& dims,
                                           int64_t t_ms) {
  std::string key = dimension_key(dims);
  auto it = r.instances.find(key);
  if (it != r.instances.end()) return it->second.get();
  const std::shared_ptr<const MetricAlarmSpec>& spec = r.rule->metric_alarm;
  // A new instance refuses what an existing one would: a period already final.
  if (is_late(r, t_ms)) {
    ++counters_.late;
    return nullptr;
  }
  if (r.instances.size() >= options_.max_instances_per_rule) {
    ++counters_.instances_refused;
    if (!r.refusal_logged) {
      r.refusal_logged = true;
      spdlog::warn("rule {}: alarm \"{}\" has {} instances (dimension sets), its limit: datapoints "
                   "of further dimension sets are refused and counted "
                   "(trailwarden_alarm_instances_refused_total)",
                   r.rule->id, spec->alarm.name, r.instances.size());
    }
    return nullptr;
  }
  auto inst = std::make_unique<Instance>(*r.rule, spec);
  inst->key = key;
  inst->dimensions = dims;
  Instance* p = inst.get();
  r.instances.emplace(std::move(key), std::move(inst));
  return p;
}

bool AlarmStage::is_late(const RuleAlarms& r, int64_t t_ms) const {
  if (!stream_ms_) return false;
  const AlarmSpec& alarm = r.rule->metric_alarm->alarm;
  const int64_t watermark = to_ms(AlarmEvaluator::watermark_for(from_ms(stream_ms_), alarm));
  const int64_t period_ms = alarm.period_seconds * 1000;
  const int64_t start = floor_to(t_ms, period_ms);
  return start + period_ms <= watermark;
}

void AlarmStage::add(RuleAlarms& r, Sample& s, std::vector<AlertRecord>& out) {
  // A period the watermark has passed is final, for every instance (the evaluator knows only
  // the periods it evaluated).
  if (is_late(r, s.t_ms)) {
    ++counters_.late;
    return;
  }
  Instance* inst = instance(r, s.dimensions, s.t_ms);
  if (!inst) return;
  const AlarmEvaluator::AddOutcome o = inst->eval.add(from_ms(s.t_ms), s.value, s.contributor);
  switch (o.result) {
    case AlarmEvaluator::AddResult::kLate: ++counters_.late; return;
    case AlarmEvaluator::AddResult::kOverflow: ++counters_.overflow; return;
    case AlarmEvaluator::AddResult::kAdded: break;
  }
  ++counters_.datapoints;
  if (s.t_ms >= inst->newest_ms) {
    inst->newest_ms = s.t_ms;
    inst->account = s.account;
    inst->region = s.region;
  }
  mark_dirty(inst);
  if (o.transition) emit(*inst, *o.transition, out);
}

void AlarmStage::move_stream(int64_t event_ms, int64_t wall_ms) {
  if (event_ms <= stream_ms_) return;
  stream_ms_ = event_ms;
  stream_wall_ms_ = wall_ms;
}

void AlarmStage::advance_all(int64_t to_ms_value, bool use_lateness,
                             std::vector<AlertRecord>& out) {
  if (!to_ms_value) return;
  for (auto& r : rules_) {
    const AlarmSpec& alarm = r->rule->metric_alarm->alarm;
    const EventTime watermark = use_lateness
                                    ? AlarmEvaluator::watermark_for(from_ms(to_ms_value), alarm)
                                    : from_ms(to_ms_value);
    for (auto& [key, inst] : r->instances) {
      std::vector<Transition> ts = advance(*inst, watermark);
      if (ts.empty()) continue;
      mark_dirty(inst.get());
      for (const Transition& t : ts) emit(*inst, t, out);
    }
  }
}

bool AlarmStage::notifies(const Instance& inst, const Transition& t) const {
  return inst.rule.alerts_per_transition() &&
         inst.rule.metric_alarm->alarm.notify.contains(t.new_state);
}

AlertRecord AlarmStage::transition_alert(const Instance& inst, const Transition& t) const {
  const rules::Rule& rule = inst.rule;
  const MetricAlarmSpec& spec = *rule.metric_alarm;
  AlarmFindingInput in;
  in.old_state = t.old_state;
  in.new_state = t.new_state;
  in.reason = t.reason;
  in.state_change_ms = to_ms(t.state_change_time);
  in.newest_period_start_ms = to_ms(t.period_start);
  in.early = t.early;
  for (const EvaluatedDatapoint& d : t.datapoints)
    in.datapoints.push_back({to_ms(d.period_start), d.present, d.partial, d.value, d.samples,
                             d.breaching});
  for (size_t i = 0; i < spec.metric.dimensions.size() && i < inst.dimensions.size(); ++i)
    in.dimensions.emplace_back(spec.metric.dimensions[i].name, inst.dimensions[i]);
  in.dimension_key = inst.key;
  for (const std::string& c : t.contributors) {
    const size_t sep = c.find(kContributorSeparator);
    AlarmFindingInput::Contributor x;
    x.event_id = c.substr(0, sep);
    if (sep != std::string::npos) x.finding_uid = c.substr(sep + 1);
    in.contributors.push_back(std::move(x));
  }
  in.contributors_omitted = t.contributors_omitted;
  in.account = inst.account;
  in.region = inst.region;
  return make_alarm_alert(rule, in);
}

void AlarmStage::emit(const Instance& inst, const Transition& t,
                      std::vector<AlertRecord>& out) {
  ++counters_.transitions;
  if (!notifies(inst, t)) return;
  out.push_back(transition_alert(inst, t));
  ++counters_.alerts;
}

void AlarmStage::mark_dirty(Instance* inst) {
  if (inst->dirty) return;
  inst->dirty = true;
  dirty_.push_back(inst);
}

std::string AlarmStage::commit(std::string_view unit, std::vector<AlertRecord>& out,
                              size_t first) {
  std::vector<Instance*> changed;
  changed.swap(dirty_);
  for (Instance* inst : changed) inst->dirty = false;
  if (!store_) return {};
  if (changed.empty() && first == out.size() &&
      !watermark_crossed_period(saved_stream_ms_, stream_ms_))
    return {};
  AlarmCommit c;
  c.unit = std::string(unit);
  c.stream_ms = stream_ms_;
  for (Instance* inst : changed) {
    SavedInstance si;
    si.rule_id = inst->rule.id;
    si.dimensions = inst->dimensions;
    si.account = inst->account;
    si.region = inst->region;
    si.newest_ms = inst->newest_ms;
    si.evaluator = inst->eval.serialize();
    c.instances.push_back(std::move(si));
  }
  c.transitions.assign(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  std::string error;
  if (store_->commit(c, error)) {
    saved_stream_ms_ = stream_ms_;
    const int64_t now = clock_.wall_ms();
    for (size_t i = first; i < out.size(); ++i) sent_ms_[out[i].uid] = now;
    return {};
  }
  ++counters_.commit_failures;
  if (shared_) {
    // The counts and transitions are in the shared store already: the unit is not failed, its
    // transitions go out now; only their resend after a crash is lost.
    spdlog::error("the alarm state cannot be saved locally ({}): {} transition alerts go out "
                  "without being kept for a resend after a crash",
                  error, out.size() - first);
    return {};
  }
  // Nothing of it happened: the instances go back to what the store holds.
  out.resize(first);
  std::string why;
  if (!restore_locked(why))
    spdlog::error("alarm state cannot be read back after a failed save: {}", why);
  return fmt::format("the alarm state cannot be saved ({}); the unit is retried", error);
}

bool AlarmStage::watermark_crossed_period(int64_t before_ms, int64_t after_ms) const {
  if (after_ms <= before_ms) return false;
  for (const auto& r : rules_) {
    const AlarmSpec& alarm = r->rule->metric_alarm->alarm;
    const int64_t period_ms = alarm.period_seconds * 1000;
    auto period_of = [&](int64_t stream) {
      const int64_t w = to_ms(AlarmEvaluator::watermark_for(from_ms(stream), alarm));
      return w / period_ms - (w % period_ms < 0 ? 1 : 0);
    };
    if (!before_ms || period_of(before_ms) != period_of(after_ms)) return true;
  }
  return false;
}

void AlarmStage::resend(int64_t now_ms, std::vector<AlertRecord>& out) {
  if (!store_) return;
  if (last_resend_ms_ && now_ms - last_resend_ms_ < options_.resend_interval.count()) return;
  last_resend_ms_ = now_ms;
  std::vector<AlertRecord> waiting = store_->undelivered();
  std::unordered_map<std::string, int64_t> still;
  size_t batch = 0;
  for (AlertRecord& a : waiting) {
    auto it = sent_ms_.find(a.uid);
    const int64_t sent = it == sent_ms_.end() ? 0 : it->second;
    // Shared store: a transition journaled before this start went out only if its write won.
    if (shared_ && it == sent_ms_.end()) {
      if (batch >= options_.resend_batch) continue;  // asked in a later round
      ++batch;
      const Verdict v = verify_won(a);
      if (v == Verdict::kUnknown) continue;  // not sent; asked again next round
      if (v == Verdict::kNotWon) {
        spdlog::info("alarm transition {} ({}) was journaled, but its write did not win (a "
                     "restart or a failed write since): the stored state stands; not sent",
                     a.uid, a.rule_id);
        ++counters_.transitions_superseded;
        store_->delivered({a.uid});
        continue;
      }
    }
    if ((sent && now_ms - sent < options_.resend_interval.count()) ||
        batch >= options_.resend_batch) {
      still.emplace(a.uid, sent);
      continue;
    }
    still.emplace(a.uid, now_ms);
    ++counters_.resent;
    ++batch;
    out.push_back(std::move(a));
  }
  sent_ms_ = std::move(still);  // the others were delivered, or dropped by the store
}

void AlarmStage::delivered(const std::vector<AlertRecord>& alerts) {
  std::vector<std::string> uids;
  for (const AlertRecord& a : alerts)
    if (a.kind == AlertKind::kAlarm) uids.push_back(a.uid);
  if (uids.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& uid : uids) sent_ms_.erase(uid);
  if (store_) store_->delivered(uids);
}

void AlarmStage::tick(Clock::Wall now, std::vector<AlertRecord>& out) {
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::lock_guard<std::mutex> lock(mu_);
  if (now_ms - last_tick_ms_ < options_.tick_interval.count()) return;
  last_tick_ms_ = now_ms;
  resend(now_ms, out);
  if (shared_) discover(now_ms);
  if (!stream_ms_ || !stream_wall_ms_ || now_ms <= stream_wall_ms_) return;
  // Idle: event time goes on with the wall clock since the last unit moved it, never past now.
  const int64_t moved = std::min(now_ms, stream_ms_ + (now_ms - stream_wall_ms_));
  if (moved <= stream_ms_) return;
  stream_ms_ = moved;
  stream_wall_ms_ = now_ms;
  const size_t first = out.size();
  advance_all(stream_ms_, true, out);
  if (std::string error = commit({}, out, first); !error.empty())
    spdlog::error("alarm tick: {}", error);  // evaluated again at the next tick
}

void AlarmStage::finish(std::vector<AlertRecord>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t first = out.size();
  advance_all(stream_ms_, false, out);
  if (std::string error = commit({}, out, first); !error.empty())
    spdlog::error("alarm end of input: {}", error);
}

std::optional<AlarmState> AlarmStage::state(std::string_view rule_id,
                                            const std::vector<std::string>& dimensions) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_id_.find(std::string(rule_id));
  if (it == by_id_.end()) return std::nullopt;
  auto i = it->second->instances.find(dimension_key(dimensions));
  if (i == it->second->instances.end()) return std::nullopt;
  return i->second->eval.state();
}

size_t AlarmStage::instances(std::string_view rule_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_id_.find(std::string(rule_id));
  return it == by_id_.end() ? 0 : it->second->instances.size();
}

int64_t AlarmStage::stream_time_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stream_ms_;
}

}  // namespace trailwarden::alarms
