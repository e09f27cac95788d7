// AlarmEvaluator: the order of arrival within the lateness (docs/alarms.md, "Semantics", "Order
// of arrival"), as a seeded property test that shrinks a failing case to a minimal one, plus the
// two cases it found.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agent/alarms/alarm_evaluator.h"
#include "tests/unit/alarms/alarm_test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms;
using alarms::test::at;
using alarms::test::hms;
using alarms::test::spec_from;

namespace {

constexpr double kDayStart = 10 * 3600;  // 10:00 on the test day

struct Record {
  int64_t ms = 0;        // event time, ms after 10:00
  bool matches = true;   // false: a record that only moves the stream time (and default_value)
  double value = 1;
  std::string id;
};

struct Case {
  std::string body;  // the rule's [metric] and [alarm] tables
  int64_t period_s = 60;
  int64_t lateness_s = 60;
  std::vector<Record> records;  // in event-time order
  uint64_t order_seed = 0;
};

EventTime time_of(int64_t ms) {
  return at(kDayStart) + std::chrono::duration_cast<EventTime::duration>(std::chrono::milliseconds(ms));
}
int64_t ms_of(EventTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - at(kDayStart)).count();
}

std::string show(const Transition& t) {
  std::string s = fmt::format("{}->{}{} change@{} period@{}/{} \"{}\" [", state_name(t.old_state),
                              state_name(t.new_state), t.early ? " (early)" : "",
                              ms_of(t.state_change_time), ms_of(t.period_start), t.period_seconds,
                              t.reason);
  for (const auto& d : t.datapoints)
    s += fmt::format("({} {} {} {} {} {}) ", d.present ? ms_of(d.period_start) : -1, d.present,
                     d.partial, d.value, d.samples, d.breaching);
  s += "] ids:";
  for (const auto& c : t.contributors) s += c + ",";
  return s + fmt::format(" +{}", t.contributors_omitted);
}

std::string show(const Case& c) {
  std::string s = c.body + fmt::format("records (ms after 10:00, value, id; '-' no match):\n");
  for (const Record& r : c.records)
    s += fmt::format("  {}{} {} {}\n", r.matches ? "" : "-", r.ms, r.value, r.id);
  return s;
}

// One arrival order: record indexes and, after each, whether the caller advances (a unit ends).
struct Order {
  std::vector<size_t> arrival;
  std::vector<bool> advance_after;
};

// Order 0: event-time order, a unit per record. Others: each record arrives at its event time
// plus a delay in [0, lateness): a record then is never older than newest - lateness, so none is
// late — what "within the lateness" means; units of random size.
std::vector<Order> orders_for(const Case& c, int count) {
  std::mt19937_64 rng(c.order_seed);
  std::vector<Order> out;
  for (int k = 0; k < count; ++k) {
    Order o;
    std::vector<std::pair<int64_t, size_t>> keys;
    for (size_t i = 0; i < c.records.size(); ++i) {
      const int64_t delay =
          k == 0 ? 0 : static_cast<int64_t>(rng() % static_cast<uint64_t>(c.lateness_s * 1000));
      keys.emplace_back(c.records[i].ms + delay, i);
    }
    std::stable_sort(keys.begin(), keys.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const uint64_t unit = k == 0 ? 1 : 1 + rng() % 4;  // one unit in `unit` advances
    for (const auto& [key, i] : keys) {
      o.arrival.push_back(i);
      o.advance_after.push_back(rng() % unit == 0);
    }
    out.push_back(std::move(o));
  }
  return out;
}

struct RunResult {
  std::vector<Transition> transitions;
  std::string bytes;
  AlarmState final_state = AlarmState::kInsufficientData;
  std::optional<std::string> violation;  // a per-run invariant that did not hold
};

// The statistic of a period from the test's own tally of every datapoint added so far.
struct Tally {
  uint64_t count = 0;
  double sum = 0, min = 0, max = 0;
  double value(Statistic s) const {
    switch (s) {
      case Statistic::kSampleCount: return static_cast<double>(count);
      case Statistic::kSum: return sum;
      case Statistic::kMinimum: return min;
      case Statistic::kMaximum: return max;
      case Statistic::kAverage: return sum / static_cast<double>(count);
    }
    return 0;
  }
};

RunResult run(const Case& c, const std::shared_ptr<const MetricAlarmSpec>& spec, const Order& o) {
  RunResult r;
  const AlarmSpec& a = spec->alarm;
  const int64_t p_ms = a.period_seconds * 1000;
  AlarmEvaluator e(spec);
  std::map<int64_t, Tally> tally;
  int64_t newest = INT64_MIN;
  auto violate = [&](std::string what) {
    if (!r.violation) r.violation = std::move(what);
  };
  for (size_t k = 0; k < o.arrival.size(); ++k) {
    const Record& rec = c.records[o.arrival[k]];
    if (rec.matches) {
      const AlarmState before = e.state();
      auto out = e.add(time_of(rec.ms), rec.value, rec.id);
      if (out.result != AlarmEvaluator::AddResult::kAdded)
        violate(fmt::format("record {} refused although within the lateness", rec.id));
      // (the day starts on a period boundary for every period used here)
      const int64_t index = rec.ms / p_ms;
      Tally& t = tally[index];
      t.min = t.count == 0 ? rec.value : std::min(t.min, rec.value);
      t.max = t.count == 0 ? rec.value : std::max(t.max, rec.value);
      ++t.count;
      t.sum += rec.value;
      if (out.transition) {
        const Transition& tr = *out.transition;
        if (!spec->fires_early() || !tr.early || tr.new_state != AlarmState::kAlarm ||
            tr.old_state != before || tr.state_change_time != time_of(rec.ms))
          violate("early transition not as documented: " + show(tr));
        r.transitions.push_back(tr);
      }
      // No early firing is missed: once a range holding this period has M breaching periods
      // (by the datapoints received so far), the alarm is in ALARM.
      if (spec->fires_early() && e.state() != AlarmState::kAlarm) {
        for (int64_t end = index; end < index + a.evaluation_periods; ++end) {
          int64_t breaching = 0;
          for (int64_t i = end; i > end - a.evaluation_periods; --i)
            if (auto it = tally.find(i); it != tally.end())
              breaching += breaches(a.comparison, it->second.value(a.statistic), a.threshold) ? 1 : 0;
          if (breaching >= a.datapoints_to_alarm)
            violate(fmt::format("after record {}: the range ending at period {} has {} breaching "
                                "periods, the alarm is still {}",
                                rec.id, end, breaching, state_name(e.state())));
        }
      }
    }
    e.note_activity(time_of(rec.ms));  // the stage reports every record (default_value)
    newest = std::max(newest, rec.ms);
    if (o.advance_after[k])
      for (auto& tr : e.advance(AlarmEvaluator::watermark_for(time_of(newest), a)))
        r.transitions.push_back(std::move(tr));
  }
  // The end of a replay (the stream time itself), then long after: every period final.
  for (int64_t w : {newest, newest + (a.evaluation_range() + 2) * p_ms + a.lateness_seconds * 1000})
    for (auto& tr : e.advance(time_of(w))) r.transitions.push_back(std::move(tr));
  if (e.late() != 0 || e.overflow() != 0) violate("late or overflow counted");
  for (size_t i = 1; i < r.transitions.size(); ++i)
    if (r.transitions[i].old_state != r.transitions[i - 1].new_state ||
        r.transitions[i].old_state == r.transitions[i].new_state)
      violate("transitions do not chain: " + show(r.transitions[i]));
  r.bytes = e.serialize();
  r.final_state = e.state();
  return r;
}

std::string show_order(const Case& c, const Order& o) {
  std::string s;
  for (size_t k = 0; k < o.arrival.size(); ++k)
    s += c.records[o.arrival[k]].id + (o.advance_after[k] ? " |" : "") + " ";
  return s;
}

// The invariant of docs/alarms.md, "Order of arrival". nullopt when it holds.
std::optional<std::string> check(const Case& c, int orders) {
  auto spec = spec_from(c.body);
  const auto os = orders_for(c, orders);
  std::vector<RunResult> runs;
  for (const Order& o : os) runs.push_back(run(c, spec, o));
  for (size_t k = 0; k < runs.size(); ++k)
    if (runs[k].violation) return "order [" + show_order(c, os[k]) + "]: " + *runs[k].violation;
  // Transitions of ranges ending after the last early ALARM's range of any order are the same in
  // every order (all of them, for an alarm that does not fire early).
  EventTime after = EventTime::min();
  for (const RunResult& r : runs)
    for (const Transition& t : r.transitions)
      if (t.early) after = std::max(after, t.period_start);
  auto tail = [&](const RunResult& r) {
    std::vector<std::string> out;
    for (const Transition& t : r.transitions)
      if (t.period_start > after) out.push_back(show(t));
    return out;
  };
  const auto want = tail(runs[0]);
  for (size_t k = 1; k < runs.size(); ++k) {
    const auto got = tail(runs[k]);
    if (got != want) {
      std::string s = "order [" + show_order(c, os[k]) + "] differs from event order after " +
                      std::to_string(after == EventTime::min() ? -1 : ms_of(after)) +
                      "\n event order:\n";
      for (const auto& t : runs[0].transitions) s += "  " + show(t) + "\n";
      s += " this order:\n";
      for (const auto& t : runs[k].transitions) s += "  " + show(t) + "\n";
      return s;
    }
    if (runs[k].final_state != runs[0].final_state) return "final state differs";
    if (!spec->fires_early() && runs[k].bytes != runs[0].bytes)
      return "order [" + show_order(c, os[k]) + "]: saved state differs";
  }
  return std::nullopt;
}

Case random_case(std::mt19937_64& rng) {
  static const char* stats[] = {"SampleCount", "Sum", "Minimum", "Maximum", "Average"};
  static const char* ops[] = {"GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
                              "LessThanThreshold", "LessThanOrEqualToThreshold"};
  static const char* treats[] = {"missing", "notBreaching", "breaching", "ignore"};
  Case c;
  c.period_s = rng() % 2 ? 60 : 300;
  const int64_t latenesses[] = {c.period_s / 2, c.period_s, 2 * c.period_s, 3 * c.period_s + 30,
                                10 * c.period_s};
  c.lateness_s = latenesses[rng() % 5];
  const int n = 1 + static_cast<int>(rng() % 4);
  const int m = 1 + static_cast<int>(rng() % n);
  const bool literal = rng() % 2 == 0;
  int stat = static_cast<int>(rng() % 5), op = static_cast<int>(rng() % 4);
  if (rng() % 2) {  // half the cases fire early
    const std::pair<int, int> early[] = {{0, 0}, {0, 1}, {3, 0}, {3, 1}, {2, 2}, {2, 3}};
    std::tie(stat, op) = early[rng() % 6];
    if (rng() % 2) std::tie(stat, op) = std::make_pair(1, static_cast<int>(rng() % 2));
  }
  const int threshold = literal ? 1 + static_cast<int>(rng() % 4) : static_cast<int>(rng() % 5) - 1;
  std::string metric = literal ? "value = 1" : "value = \"$.v\"";
  if (rng() % 4 == 0) metric += "\ndefault_value = 0";
  c.body = fmt::format(
      "[metric]\n{}\n[alarm]\nstatistic = \"{}\"\nperiod = {}\nevaluation_periods = {}\n"
      "datapoints_to_alarm = {}\nthreshold = {}\ncomparison_operator = \"{}\"\n"
      "treat_missing_data = \"{}\"\nlateness_seconds = {}\n",
      metric, stats[stat], c.period_s, n, m, threshold, ops[op], treats[rng() % 4], c.lateness_s);
  // Datapoints over a few periods: within the lateness of each other in half the cases,
  // further apart (still none late in any order) in the others.
  const int64_t span_ms = (rng() % 2 ? c.lateness_s : (n + 3) * c.period_s) * 1000;
  const int64_t start_ms = static_cast<int64_t>(rng() % 3) * c.period_s * 1000 +
                           static_cast<int64_t>(rng() % 1000);
  const size_t count = 1 + rng() % 24;
  for (size_t i = 0; i < count; ++i) {
    Record r;
    r.ms = start_ms + static_cast<int64_t>(rng() % static_cast<uint64_t>(span_ms));
    r.matches = rng() % 5 != 0;
    r.value = literal ? 1 : static_cast<double>(static_cast<int>(rng() % 7) - 2);
    r.id = fmt::format("ev-{:03}-{}", rng() % 1000, i);  // id order is not time order
    c.records.push_back(std::move(r));
  }
  std::sort(c.records.begin(), c.records.end(),
            [](const Record& a, const Record& b) { return a.ms < b.ms; });
  c.order_seed = rng();
  return c;
}

// Removes records one at a time while the case still fails: the minimal failing case.
Case shrink(Case c, int orders) {
  for (bool smaller = true; smaller;) {
    smaller = false;
    for (size_t i = 0; i < c.records.size(); ++i) {
      Case d = c;
      d.records.erase(d.records.begin() + static_cast<std::ptrdiff_t>(i));
      if (!d.records.empty() && check(d, orders)) {
        c = std::move(d);
        smaller = true;
        break;
      }
    }
  }
  return c;
}

}  // namespace

TEST_CASE("semantics: order of arrival within the lateness (property)") {
  constexpr int kCases = 2000;
  constexpr int kOrders = 12;
  std::mt19937_64 rng(20261204);
  int early_cases = 0;
  for (int i = 0; i < kCases; ++i) {
    const Case c = random_case(rng);
    CAPTURE(i);
    if (spec_from(c.body)->fires_early()) ++early_cases;
    if (check(c, kOrders)) {
      const Case small = shrink(c, kOrders);
      FAIL("case " << i << ", shrunk to " << small.records.size() << " records:\n"
                   << show(small) << *check(small, kOrders));
    }
  }
  CHECK(early_cases > kCases / 3);  // the generator does exercise early firing
}

// Found by the property: a record completing M of N for a range that ends AFTER its own period
// (the newer breaching period had come first) did not fire early; the alarm waited for the
// range's evaluation, minutes later.
TEST_CASE("semantics: early firing checks every range holding the datapoint's period") {
  auto spec = spec_from(
      "[metric]\nvalue = 1\n[alarm]\nstatistic = \"SampleCount\"\nperiod = 60\n"
      "evaluation_periods = 2\ndatapoints_to_alarm = 2\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 300\n");
  for (bool newer_first : {true, false}) {
    CAPTURE(newer_first);
    AlarmEvaluator e(spec);
    std::optional<Transition> fired;
    for (int minute : newer_first ? std::vector<int>{1, 0} : std::vector<int>{0, 1}) {
      auto out = e.add(hms(10, minute, 30), 1, "m" + std::to_string(minute));
      if (out.transition) fired = out.transition;
    }
    REQUIRE(fired);
    CHECK(fired->early);
    CHECK(fired->period_start == hms(10, 1));  // the range of 10:00 and 10:01 in both orders
    CHECK(fired->contributors == std::vector<std::string>{"m1", "m0"});
    CHECK(e.advance(hms(10, 2)).empty());  // and its evaluation agrees
  }
}

// Found by the property: the record ids kept for a period were the first 10 to arrive, listed
// in arrival order; the same records in another order gave another transition.
TEST_CASE("semantics: the record ids a period keeps do not depend on the arrival order") {
  auto spec = spec_from(
      "[metric]\nvalue = 1\n[alarm]\nstatistic = \"SampleCount\"\nperiod = 60\n"
      "evaluation_periods = 1\nthreshold = 100\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0\n");
  std::vector<std::string> ids;
  for (int i = 0; i < 15; ++i) ids.push_back(fmt::format("ev-{:02}", (i * 7) % 15));
  std::vector<std::vector<std::string>> seen;
  for (int round = 0; round < 3; ++round) {
    AlarmEvaluator e(spec);
    for (size_t i = 0; i < ids.size(); ++i) e.add(hms(10, 0, static_cast<double>(i)), 1, ids[i]);
    auto trs = e.advance(hms(10, 1));
    REQUIRE(trs.size() == 1);
    CHECK(trs[0].contributors_omitted == 5);
    seen.push_back(trs[0].contributors);
    std::reverse(ids.begin(), ids.end());
    if (round == 1) std::rotate(ids.begin(), ids.begin() + 4, ids.end());
  }
  const std::vector<std::string> smallest = {"ev-00", "ev-01", "ev-02", "ev-03", "ev-04",
                                             "ev-05", "ev-06", "ev-07", "ev-08", "ev-09"};
  for (const auto& s : seen) CHECK(s == smallest);
}
