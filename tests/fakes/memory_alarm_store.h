// MemoryAlarmStore: the store::AlarmStore contract (agent/store/alarm_store.h) in memory, for
// unit tests of the alarm stage's shared mode: each unit counted once per period, transitions a
// compare-and-set on (state, version), the instance index. fail_next(n) makes the next n calls
// fail (retryable), as a throttled or unreachable DynamoDB would. Thread-safe.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "agent/store/alarm_store.h"

namespace trailwarden::testing {

class MemoryAlarmStore final : public store::AlarmStore {
 public:
  store::StoreStatus add(const store::PeriodDelta& d, store::PeriodTotals& totals) override {
    std::vector<store::PeriodTotals> out;
    store::StoreStatus s = add_batch({d}, out);
    if (s.ok) totals = out.front();
    return s;
  }

  store::StoreStatus add_batch(const std::vector<store::PeriodDelta>& deltas,
                               std::vector<store::PeriodTotals>& totals) override {
    std::lock_guard lock(mu_);
    if (failing()) return fail("add_batch");
    totals.clear();
    for (const store::PeriodDelta& d : store::merge_deltas(deltas, 10)) {
      Period& p = instances_[{d.alarm_key, d.dimensions_key}].periods[d.period_start];
      const std::string digest = store::unit_digest(d.unit);
      store::PeriodTotals t;
      if (p.units.count(digest)) {
        t = totals_of(d, p);
        t.already_counted = true;
      } else {
        p.units.insert(digest);
        p.count += d.count;
        p.sum += d.sum;
        if (d.min) p.min = p.min ? std::min(*p.min, *d.min) : *d.min;
        if (d.max) p.max = p.max ? std::max(*p.max, *d.max) : *d.max;
        if (p.ids.size() < 10) p.ids.insert(d.contributors.begin(), d.contributors.end());
        t = totals_of(d, p);
      }
      totals.push_back(std::move(t));
    }
    ++adds_;
    return store::StoreStatus::success();
  }

  store::StoreStatus transition(const store::TransitionRequest& r,
                                store::TransitionOutcome& outcome) override {
    std::function<void()> before;
    {
      std::lock_guard lock(mu_);
      before.swap(on_transition_);
    }
    if (before) before();  // another agent's work, between this one's read and its write
    std::lock_guard lock(mu_);
    if (failing()) return fail("transition");
    store::AlarmInstanceState& s = instances_[{r.alarm_key, r.dimensions_key}].state;
    if (s.version != r.from_version || (s.version > 0 && s.state != r.from_state)) {
      outcome = store::TransitionOutcome::kLost;
      ++lost_;
      return store::StoreStatus::success();
    }
    std::vector<std::string> recent{r.uid};
    for (size_t i = 0; i < r.recent.size() && recent.size() < store::kRecentTransitions; ++i)
      recent.push_back(r.recent[i]);
    s = {r.to_state, r.from_version + 1, r.changed_at, r.reason, r.range_end, r.early, recent};
    outcome = store::TransitionOutcome::kWon;
    ++won_;
    if (lose_answer_) {
      lose_answer_ = false;
      return fail("transition (applied, its answer lost)");
    }
    return store::StoreStatus::success();
  }

  store::StoreStatus load(const std::string& alarm_key, const std::string& dimensions_key,
                          int64_t from_period, store::LoadedInstance& out) override {
    std::lock_guard lock(mu_);
    if (failing()) return fail("load");
    out = {};
    auto it = instances_.find({alarm_key, dimensions_key});
    if (it == instances_.end()) return store::StoreStatus::success();
    store::PeriodDelta key;
    key.alarm_key = alarm_key;
    key.dimensions_key = dimensions_key;
    for (auto p = it->second.periods.lower_bound(from_period); p != it->second.periods.end(); ++p) {
      key.period_start = p->first;
      out.periods.push_back(totals_of(key, p->second));
    }
    out.state = it->second.state;
    return store::StoreStatus::success();
  }

  store::StoreStatus register_instance(const store::IndexedInstance& in) override {
    std::lock_guard lock(mu_);
    if (failing()) return fail("register_instance");
    if (fail_registers_ > 0) {
      --fail_registers_;
      return fail("register_instance");
    }
    auto [it, fresh] = index_.emplace(std::make_pair(in.alarm_key, in.dimensions_key), in);
    if (!fresh) it->second.last_period = std::max(it->second.last_period, in.last_period);
    return store::StoreStatus::success();
  }

  store::StoreStatus list_instances(const std::string& alarm_key,
                                    std::vector<store::IndexedInstance>& out) override {
    std::lock_guard lock(mu_);
    if (failing()) return fail("list_instances");
    out.clear();
    for (const auto& [key, entry] : index_)
      if (key.first == alarm_key) out.push_back(entry);
    return store::StoreStatus::success();
  }

  // `f` runs once, at the start of the next transition() (outside the store's lock).
  void on_transition(std::function<void()> f) {
    std::lock_guard lock(mu_);
    on_transition_ = std::move(f);
  }
  // The next transition() is applied, but reported failed (every try's answer lost).
  void lose_next_transition_answer() {
    std::lock_guard lock(mu_);
    lose_answer_ = true;
  }
  // The next `n` register_instance() calls fail (retryable).
  void fail_next_registers(int n) {
    std::lock_guard lock(mu_);
    fail_registers_ = n;
  }
  // The next `n` calls fail (retryable).
  void fail_next(int n) {
    std::lock_guard lock(mu_);
    fail_next_ = n;
  }
  // Transitions written, and refused because the state had changed.
  int won() const { std::lock_guard lock(mu_); return won_; }
  int lost() const { std::lock_guard lock(mu_); return lost_; }
  int add_batches() const { std::lock_guard lock(mu_); return adds_; }
  // The stored state of one instance ("" when never stored).
  std::string state(const std::string& alarm_key, const std::string& dimensions_key = "") const {
    std::lock_guard lock(mu_);
    auto it = instances_.find({alarm_key, dimensions_key});
    return it == instances_.end() ? std::string() : it->second.state.state;
  }
  // SampleCount of one period (epoch seconds).
  int64_t count(const std::string& alarm_key, const std::string& dimensions_key,
                int64_t period_start) const {
    std::lock_guard lock(mu_);
    auto it = instances_.find({alarm_key, dimensions_key});
    if (it == instances_.end()) return 0;
    auto p = it->second.periods.find(period_start);
    return p == it->second.periods.end() ? 0 : p->second.count;
  }

 private:
  struct Period {
    int64_t count = 0;
    double sum = 0;
    std::optional<double> min, max;
    std::set<std::string> ids, units;
  };
  struct Instance {
    std::map<int64_t, Period> periods;
    store::AlarmInstanceState state;
  };

  static store::PeriodTotals totals_of(const store::PeriodDelta& d, const Period& p) {
    store::PeriodTotals t;
    t.alarm_key = d.alarm_key;
    t.dimensions_key = d.dimensions_key;
    t.period_start = d.period_start;
    t.count = p.count;
    t.sum = p.sum;
    t.min = p.min;
    t.max = p.max;
    t.contributors.assign(p.ids.begin(), p.ids.end());
    return t;
  }
  bool failing() {
    if (fail_next_ <= 0) return false;
    --fail_next_;
    return true;
  }
  static store::StoreStatus fail(const char* what) {
    return store::StoreStatus::failure(true, std::string("memory alarm store: ") + what +
                                                 " failed (injected)");
  }

  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Instance> instances_;
  std::map<std::pair<std::string, std::string>, store::IndexedInstance> index_;
  int fail_next_ = 0;
  bool lose_answer_ = false;
  int fail_registers_ = 0;
  std::function<void()> on_transition_;
  int won_ = 0, lost_ = 0, adds_ = 0;
};

}  // namespace trailwarden::testing
