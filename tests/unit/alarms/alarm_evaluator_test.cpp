// AlarmEvaluator: one case per semantic point of docs/alarms.md ("Semantics"), named as there.
#include <doctest/doctest.h>

#include <random>

#include "agent/alarms/alarm_evaluator.h"
#include "tests/unit/alarms/alarm_test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms;
using alarms::test::at;
using alarms::test::hms;
using alarms::test::spec_from;

namespace {

std::string alarm_body(const std::string& alarm_keys, const std::string& metric_keys = "value = 1") {
  return "[metric]\n" + metric_keys + "\n[alarm]\n" + alarm_keys + "\n";
}

// Runs one row of AWS's tables ("0 - X - X": oldest first, 0 not breaching, X breaching, -
// missing) over five 300 s periods with Average (never fires early) >= 1 and returns the state
// the evaluation of the newest period leaves, or "Retain" when it kept the state it found.
std::string aws_row(const std::string& row, int m, const std::string& treat) {
  auto spec = spec_from(alarm_body(
      "statistic = \"Average\"\nperiod = 300\nevaluation_periods = 3\ndatapoints_to_alarm = " +
          std::to_string(m) + "\nthreshold = 1\ncomparison_operator = "
          "\"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0\ntreat_missing_data = \"" +
          treat + "\"",
      "value = \"$.v\""));
  AlarmEvaluator e(spec);
  e.start(hms(10, 0));
  int slot = 0;
  for (char c : row) {
    if (c == ' ') continue;
    if (c == '0' || c == 'X') e.add(hms(10, 5 * slot, 1), c == 'X' ? 5 : 0, "id");
    ++slot;
  }
  REQUIRE(slot == 5);
  e.advance(hms(10, 20));  // the first four periods are final
  const AlarmState before = e.state();
  auto trs = e.advance(hms(10, 25));  // the fifth: the range is exactly the row
  if (trs.empty()) return std::string("Retain:") + std::string(state_name(before));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].old_state == before);
  return std::string(state_name(trs[0].new_state));
}

struct Row {
  const char* points;
  int m;
  const char* missing;
  const char* ignore;
  const char* breaching;
  const char* not_breaching;
};
// AWS, "How alarm state is evaluated when data is missing": both tables (3 evaluation periods;
// datapoints to alarm 3, then 2). INSUFFICIENT_DATA and "Retain current state" as AWS writes them.
constexpr Row kAwsRows[] = {
    {"0 - X - X", 3, "OK", "OK", "OK", "OK"},
    {"0 - - - -", 3, "OK", "OK", "OK", "OK"},
    {"- - - - -", 3, "INSUFFICIENT_DATA", "Retain", "ALARM", "OK"},
    {"0 X X - X", 3, "ALARM", "ALARM", "ALARM", "ALARM"},
    {"- - - - X", 3, "INSUFFICIENT_DATA", "Retain", "ALARM", "OK"},
    {"X - - - -", 3, "ALARM", "Retain", "ALARM", "OK"},
    {"0 - X - X", 2, "ALARM", "ALARM", "ALARM", "ALARM"},
    {"0 0 X 0 X", 2, "ALARM", "ALARM", "ALARM", "ALARM"},
    {"0 - X - -", 2, "OK", "OK", "ALARM", "OK"},
    {"- - - - 0", 2, "OK", "OK", "ALARM", "OK"},
    {"- - - - X", 2, "INSUFFICIENT_DATA", "Retain", "ALARM", "OK"},
};

// Each row's state; a "Retain current state" of AWS's table is an evaluation that made no
// transition, and a state of AWS's table is also met by no transition from that same state.
void check_column(const std::string& treat, const char* Row::*column) {
  for (const Row& r : kAwsRows) {
    CAPTURE(r.points);
    CAPTURE(r.m);
    const std::string want = r.*column;
    const std::string got = aws_row(r.points, r.m, treat);
    if (want == "Retain") {
      CHECK(got.rfind("Retain:", 0) == 0);
    } else if (got.rfind("Retain:", 0) == 0) {
      CHECK(got == "Retain:" + want);
    } else {
      CHECK(got == want);
    }
  }
}

std::shared_ptr<const MetricAlarmSpec> cis49_spec() {
  return spec_from(alarm_body(
      "statistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"",
      "name = \"ConfigChanges\"\nvalue = 1"));
}

}  // namespace

TEST_CASE("semantics: treat_missing_data missing (AWS's tables)") {
  check_column("missing", &Row::missing);
}
TEST_CASE("semantics: treat_missing_data ignore (AWS's tables)") {
  check_column("ignore", &Row::ignore);
  // "Retain current state" really retains: ALARM stays ALARM over an all-missing range.
  auto spec = spec_from(alarm_body(
      "statistic = \"Average\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0\n"
      "treat_missing_data = \"ignore\"",
      "value = \"$.v\""));
  AlarmEvaluator e(spec);
  e.add(hms(10, 0, 5), 3, "a");
  CHECK(e.advance(hms(10, 1)).size() == 1);
  CHECK(e.state() == AlarmState::kAlarm);
  CHECK(e.advance(hms(12, 0)).empty());
  CHECK(e.state() == AlarmState::kAlarm);
}
TEST_CASE("semantics: treat_missing_data breaching (AWS's tables)") {
  check_column("breaching", &Row::breaching);
}
TEST_CASE("semantics: treat_missing_data notBreaching (AWS's tables)") {
  check_column("notBreaching", &Row::not_breaching);
}

TEST_CASE("semantics: the CIS 4.9 benchmark alarm and its NewStateReason") {
  AlarmEvaluator e(cis49_spec());
  // Sum of 1 per record, 300 s, >= 1, 1 of 1: the first record fires at once (early firing).
  auto out = e.add(hms(10, 6, 12), 1, "event-1");
  REQUIRE(out.transition);
  const Transition& t = *out.transition;
  CHECK(t.old_state == AlarmState::kInsufficientData);
  CHECK(t.new_state == AlarmState::kAlarm);
  CHECK(t.early);
  CHECK(t.state_change_time == hms(10, 6, 12));
  CHECK(t.period_start == hms(10, 5));
  CHECK(t.contributors == std::vector<std::string>{"event-1"});
  CHECK(t.reason ==
        "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (04/12/26 10:05:00)] was greater "
        "than or equal to the threshold (1.0) (minimum 1 datapoint for INSUFFICIENT_DATA -> "
        "ALARM transition).");
  // More records in the same period: no second transition.
  CHECK_FALSE(e.add(hms(10, 7), 1, "event-2").transition);
  CHECK_FALSE(e.add(hms(10, 9, 59), 1, "event-3").transition);
  // The period becomes final 10 minutes after its end: still ALARM (Sum 3), no transition.
  CHECK(e.advance(AlarmEvaluator::watermark_for(hms(10, 19, 59), e.spec().alarm)).empty());
  CHECK(e.advance(AlarmEvaluator::watermark_for(hms(10, 20), e.spec().alarm)).empty());
  // treat missing: the datapoint stays in the evaluation range (3 periods), then the range is
  // empty: INSUFFICIENT_DATA, as CloudWatch's CIS alarms do between events.
  auto trs = e.advance(AlarmEvaluator::watermark_for(hms(10, 35), e.spec().alarm));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].new_state == AlarmState::kInsufficientData);
  CHECK(trs[0].state_change_time == hms(10, 25));
  CHECK(trs[0].reason == "Insufficient Data: 3 datapoints were unknown.");
}

TEST_CASE("semantics: periods are aligned to the epoch") {
  auto spec = spec_from(alarm_body(
      "statistic = \"SampleCount\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 2\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0"));
  AlarmEvaluator e(spec);
  // 10:04:59.999 and 10:05:00.000 fall into different periods: no period holds 2.
  CHECK_FALSE(e.add(at(10 * 3600 + 299.999), 1, "a").transition);
  CHECK_FALSE(e.add(hms(10, 5), 1, "b").transition);
  // Two in [10:05, 10:10): ALARM for the period starting at 10:05:00, not at the first record.
  auto out = e.add(hms(10, 9, 59), 1, "c");
  REQUIRE(out.transition);
  CHECK(out.transition->period_start == hms(10, 5));
  CHECK(out.transition->period_seconds == 300);
}

TEST_CASE("semantics: first evaluation at the end of the first period, from INSUFFICIENT_DATA") {
  auto spec = spec_from(alarm_body(
      "statistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 10\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0",
      "value = \"$.bytes\""));
  AlarmEvaluator e(spec);
  CHECK(e.state() == AlarmState::kInsufficientData);
  CHECK(e.advance(hms(10, 0)).empty());  // nothing before the instance began
  CHECK_FALSE(e.add(hms(10, 0, 30), 4, "a").transition);  // a selector: Sum does not fire early
  CHECK(e.advance(hms(10, 0, 59)).empty());                // the period is still open
  auto trs = e.advance(hms(10, 1));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].old_state == AlarmState::kInsufficientData);
  CHECK(trs[0].new_state == AlarmState::kOk);
  CHECK(trs[0].state_change_time == hms(10, 1));
  CHECK(trs[0].reason ==
        "Threshold Crossed: 1 out of the last 1 datapoints [4.0 (04/12/26 10:00:00)] was not "
        "greater than or equal to the threshold (10.0) (minimum 1 datapoint for "
        "INSUFFICIENT_DATA -> OK transition).");
}

TEST_CASE("semantics: M of N") {
  // 2 of 3, Average >= 1; values X 0 X over three minutes: ALARM at the third.
  auto spec = spec_from(alarm_body(
      "statistic = \"Average\"\nperiod = 60\nevaluation_periods = 3\ndatapoints_to_alarm = 2\n"
      "threshold = 1\ncomparison_operator = \"GreaterThanOrEqualToThreshold\"\n"
      "lateness_seconds = 0",
      "value = \"$.v\""));
  AlarmEvaluator e(spec);
  e.add(hms(10, 0, 1), 5, "a");
  e.add(hms(10, 1, 1), 0, "b");
  auto first = e.advance(hms(10, 2));
  // One breaching of two real datapoints (fewer than N, one not breaching): OK.
  REQUIRE(first.size() == 1);
  CHECK(first.back().new_state == AlarmState::kOk);
  e.add(hms(10, 2, 1), 7, "c");
  auto trs = e.advance(hms(10, 3));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].new_state == AlarmState::kAlarm);
  CHECK(trs[0].datapoints.size() == 3);
  CHECK(trs[0].contributors == std::vector<std::string>{"c", "b", "a"});
  CHECK(trs[0].reason ==
        "Threshold Crossed: 2 out of the last 3 datapoints [7.0 (04/12/26 10:02:00), 5.0 "
        "(04/12/26 10:00:00)] were greater than or equal to the threshold (1.0) (minimum 2 "
        "datapoints for OK -> ALARM transition).");
  // Two non-breaching minutes push the breaching ones out: OK again.
  e.add(hms(10, 3, 1), 0, "d");
  e.add(hms(10, 4, 1), 0, "e");
  trs = e.advance(hms(10, 5));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].new_state == AlarmState::kOk);
}

TEST_CASE("semantics: never a transition to the same state") {
  auto spec = spec_from(alarm_body(
      "statistic = \"Maximum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"LessThanThreshold\"\nlateness_seconds = 0",
      "value = \"$.v\""));
  AlarmEvaluator e(spec);
  size_t transitions = 0;
  for (int i = 0; i < 10; ++i) {
    e.add(hms(10, i, 1), 0, "x");  // every minute breaching (Maximum < 1)
    transitions += e.advance(hms(10, i + 1)).size();
  }
  CHECK(transitions == 1);
  CHECK(e.state() == AlarmState::kAlarm);
}

TEST_CASE("semantics: lateness: a period is final only after the allowance") {
  auto spec = spec_from(alarm_body(
      "statistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 5\n"
      "comparison_operator = \"LessThanThreshold\"\nlateness_seconds = 600"));
  AlarmEvaluator e(spec);
  CHECK(spec->alarm.lateness_seconds == 600);
  e.add(hms(10, 1), 1, "a");
  // Newest event 10:14:59: the watermark 10:04:59 has not reached the end of [10:00, 10:05).
  CHECK(e.advance(AlarmEvaluator::watermark_for(hms(10, 14, 59), spec->alarm)).empty());
  CHECK(e.add(hms(10, 4), 1, "late but in time").result == AlarmEvaluator::AddResult::kAdded);
  auto trs = e.advance(AlarmEvaluator::watermark_for(hms(10, 15), spec->alarm));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].new_state == AlarmState::kAlarm);  // Sum 2 < 5
  CHECK(trs[0].datapoints[0].value == 2);
  // A record for a final period is refused and counted, never applied.
  CHECK(e.add(hms(10, 2), 1, "too late").result == AlarmEvaluator::AddResult::kLate);
  CHECK(e.late() == 1);
}

TEST_CASE("semantics: early firing for statistics that only grow") {
  SUBCASE("fires_early by statistic, operator and value") {
    auto with = [](const char* stat, const char* op, const char* value) {
      return spec_from(alarm_body(std::string("statistic = \"") + stat +
                                      "\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
                                      "comparison_operator = \"" + op + "\"",
                                  std::string("value = ") + value))
          ->fires_early();
    };
    CHECK(with("SampleCount", "GreaterThanOrEqualToThreshold", "\"$.v\""));
    CHECK(with("Maximum", "GreaterThanThreshold", "\"$.v\""));
    CHECK(with("Sum", "GreaterThanOrEqualToThreshold", "1"));
    CHECK(with("Sum", "GreaterThanOrEqualToThreshold", "0"));
    CHECK_FALSE(with("Sum", "GreaterThanOrEqualToThreshold", "-1"));     // a Sum that shrinks
    CHECK_FALSE(with("Sum", "GreaterThanOrEqualToThreshold", "\"$.v\""));  // may be negative
    CHECK_FALSE(with("Average", "GreaterThanOrEqualToThreshold", "1"));
    CHECK_FALSE(with("SampleCount", "LessThanThreshold", "1"));  // a count only moves away
    CHECK(with("Minimum", "LessThanThreshold", "\"$.v\""));
    CHECK_FALSE(with("Minimum", "GreaterThanThreshold", "\"$.v\""));
  }
  SUBCASE("a 5-in-5-minutes count fires on the fifth record") {
    auto spec = spec_from(alarm_body(
        "statistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 5\n"
        "comparison_operator = \"GreaterThanOrEqualToThreshold\""));
    AlarmEvaluator e(spec);
    for (int i = 0; i < 4; ++i) CHECK_FALSE(e.add(hms(10, i, 0), 1, "r").transition);
    auto out = e.add(hms(10, 4, 30), 1, "fifth");
    REQUIRE(out.transition);
    CHECK(out.transition->early);
    CHECK(out.transition->state_change_time == hms(10, 4, 30));
    CHECK(out.transition->datapoints[0].partial);
    // When the period is final it is still ALARM: no second transition.
    CHECK(e.advance(AlarmEvaluator::watermark_for(hms(10, 15), spec->alarm)).empty());
  }
  SUBCASE("a Sum of a selector waits for the period to be final") {
    auto spec = spec_from(alarm_body(
        "statistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 5\n"
        "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0",
        "value = \"$.v\""));
    AlarmEvaluator e(spec);
    CHECK_FALSE(e.add(hms(10, 0, 1), 6, "a").transition);   // 6 >= 5 now ...
    CHECK_FALSE(e.add(hms(10, 0, 2), -3, "b").transition);  // ... and 3 < 5 at the end
    auto trs = e.advance(hms(10, 1));
    REQUIRE(trs.size() == 1);
    CHECK(trs[0].new_state == AlarmState::kOk);
  }
  SUBCASE("M of N early: two breaching periods of three, the second still open") {
    auto spec = spec_from(alarm_body(
        "statistic = \"SampleCount\"\nperiod = 60\nevaluation_periods = 3\n"
        "datapoints_to_alarm = 2\nthreshold = 2\n"
        "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 120"));
    AlarmEvaluator e(spec);
    e.add(hms(10, 0, 1), 1, "a");
    e.add(hms(10, 0, 2), 1, "b");  // first minute: 2 (breaching, still open)
    CHECK_FALSE(e.add(hms(10, 1, 1), 1, "c").transition);
    auto out = e.add(hms(10, 1, 2), 1, "d");
    REQUIRE(out.transition);
    CHECK(out.transition->new_state == AlarmState::kAlarm);
    // Finality of the first minute (a range without the second) does not flap to OK.
    CHECK(e.advance(hms(10, 2)).empty());
    CHECK(e.advance(hms(10, 3)).empty());
    CHECK(e.state() == AlarmState::kAlarm);
  }
}

TEST_CASE("semantics: the five statistics") {
  struct Want {
    const char* statistic;
    double value;
  };
  for (Want w : {Want{"SampleCount", 3}, Want{"Sum", 9}, Want{"Minimum", 1}, Want{"Maximum", 5},
                 Want{"Average", 3}}) {
    CAPTURE(w.statistic);
    auto spec = spec_from(alarm_body(std::string("statistic = \"") + w.statistic +
                                         "\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 0\n"
                                         "comparison_operator = \"LessThanThreshold\"\n"
                                         "lateness_seconds = 0",
                                     "value = \"$.v\""));
    AlarmEvaluator e(spec);
    for (double v : {1.0, 5.0, 3.0}) e.add(hms(10, 0, v), v, "x");
    auto trs = e.advance(hms(10, 1));
    REQUIRE(trs.size() == 1);
    CHECK(trs[0].new_state == AlarmState::kOk);
    CHECK(trs[0].datapoints[0].value == w.value);
    CHECK(trs[0].datapoints[0].samples == 3);
  }
}

TEST_CASE("semantics: default_value fills periods with records but no match") {
  auto spec = spec_from(alarm_body(
      "statistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0",
      "value = 1\ndefault_value = 0"));
  AlarmEvaluator e(spec);
  e.add(hms(10, 0, 1), 1, "a");
  e.note_activity(hms(10, 0, 1));
  CHECK(e.advance(hms(10, 1)).empty());  // ALARM already (early)
  e.note_activity(hms(10, 1, 30));       // records, none matching: a datapoint of 0
  auto trs = e.advance(hms(10, 2));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].new_state == AlarmState::kOk);
  CHECK(trs[0].datapoints[0].value == 0);
  CHECK(trs[0].datapoints[0].samples == 0);
  // Without default_value, the same period is missing: the range still holds 10:00's ALARM
  // datapoint (treat missing), so the state stays ALARM.
  auto no_default = spec_from(alarm_body(
      "statistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 0"));
  AlarmEvaluator f(no_default);
  f.add(hms(10, 0, 1), 1, "a");
  f.note_activity(hms(10, 1, 30));
  CHECK(f.advance(hms(10, 2)).empty());
  CHECK(f.state() == AlarmState::kAlarm);
}

TEST_CASE("semantics: contributors are bounded per period") {
  AlarmEvaluator e(cis49_spec());
  std::optional<Transition> first;
  for (size_t i = 0; i < AlarmEvaluator::kMaxContributors + 5; ++i) {
    auto out = e.add(hms(10, 0, static_cast<double>(i)), 1, "id-" + std::to_string(i));
    if (out.transition) first = out.transition;
  }
  REQUIRE(first);
  CHECK(first->contributors.size() == 1);  // fired on the first record
  auto spec = spec_from(alarm_body(
      "statistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"LessThanThreshold\"\nlateness_seconds = 0"));
  AlarmEvaluator g(spec);
  for (size_t i = 0; i < AlarmEvaluator::kMaxContributors + 5; ++i)
    g.add(hms(10, 0, static_cast<double>(i)), 1, "id-" + std::to_string(i));
  auto trs = g.advance(hms(10, 1));
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].contributors.size() == AlarmEvaluator::kMaxContributors);
  CHECK(trs[0].contributors_omitted == 5);
}

TEST_CASE("semantics: memory is bounded to the evaluation range and the open periods") {
  auto spec = spec_from(alarm_body(
      "statistic = \"Average\"\nperiod = 60\nevaluation_periods = 3\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 120",
      "value = \"$.v\""));
  AlarmEvaluator e(spec);
  for (int i = 0; i < 500; ++i) {
    e.add(at(36000 + i * 60 + 1), i % 2, "x");
    e.advance(AlarmEvaluator::watermark_for(at(36000 + i * 60 + 1), spec->alarm));
    CHECK(e.periods_kept() <= static_cast<size_t>(spec->alarm.evaluation_range() + 4));
  }
  // Far ahead of the final periods: refused and counted, not kept.
  CHECK(e.add(at(36000 + 500 * 60 + 86400), 1, "future").result ==
        AlarmEvaluator::AddResult::kOverflow);
  CHECK(e.overflow() == 1);
  // A long silence is evaluated without walking every period.
  e.advance(at(36000 + 400 * 86400.0));
  CHECK(e.periods_kept() == 0);
}

TEST_CASE("state: serialize and restore, then continue, equals never stopping (property)") {
  std::mt19937_64 rng(20261204);
  const char* treats[] = {"missing", "notBreaching", "breaching", "ignore"};
  const char* stats[] = {"SampleCount", "Sum", "Minimum", "Maximum", "Average"};
  const char* ops[] = {"GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
                       "LessThanThreshold", "LessThanOrEqualToThreshold"};
  for (int round = 0; round < 60; ++round) {
    const int n = 1 + static_cast<int>(rng() % 4);
    const int m = 1 + static_cast<int>(rng() % n);
    const bool literal = rng() % 2 == 0;
    auto spec = spec_from(alarm_body(
        std::string("statistic = \"") + stats[rng() % 5] + "\"\nperiod = 60\n" +
            "evaluation_periods = " + std::to_string(n) + "\ndatapoints_to_alarm = " +
            std::to_string(m) + "\nthreshold = " + std::to_string(rng() % 4) +
            "\ncomparison_operator = \"" + ops[rng() % 4] + "\"\ntreat_missing_data = \"" +
            treats[rng() % 4] + "\"\nlateness_seconds = " + std::to_string((rng() % 3) * 60),
        literal ? "value = 1\ndefault_value = 0" : "value = \"$.v\""));
    CAPTURE(round);
    AlarmEvaluator whole(spec);
    AlarmEvaluator pieces(spec);
    std::vector<std::string> a, b;
    auto log = [](std::vector<std::string>& to, const Transition& t) {
      to.push_back(std::string(state_name(t.new_state)) + "|" + t.reason + "|" +
                   std::to_string(t.state_change_time.time_since_epoch().count()));
    };
    double t = 36000;
    for (int step = 0; step < 300; ++step) {
      t += static_cast<double>(rng() % 90);  // gaps of up to 90 s, sometimes minutes of silence
      if (rng() % 20 == 0) t += 600;
      const double v = static_cast<double>(static_cast<int>(rng() % 7) - 2);
      const double when = t - static_cast<double>(rng() % 100);  // out of order, some late
      const std::string id = "r" + std::to_string(step);
      for (auto* e : {&whole, &pieces}) {
        auto& to = e == &whole ? a : b;
        auto out = e->add(at(when), literal ? 1 : v, id);
        if (out.transition) log(to, *out.transition);
        e->note_activity(at(when));
        for (const auto& tr : e->advance(AlarmEvaluator::watermark_for(at(t), spec->alarm)))
          log(to, tr);
      }
      if (rng() % 7 == 0) {  // a restart: only the bytes survive
        std::string bytes = pieces.serialize();
        std::string error;
        auto restored = AlarmEvaluator::restore(spec, bytes, &error);
        REQUIRE_MESSAGE(restored, error);
        CHECK(restored->serialize() == bytes);
        pieces = std::move(*restored);
      }
    }
    CHECK(a == b);
    CHECK(whole.serialize() == pieces.serialize());
    CHECK(whole.late() == pieces.late());
  }
}

TEST_CASE("state: damaged or foreign saved state is refused with a reason") {
  auto spec = cis49_spec();
  AlarmEvaluator e(spec);
  e.add(hms(10, 0, 1), 1, "a");
  const std::string bytes = e.serialize();
  std::string error;
  CHECK_FALSE(AlarmEvaluator::restore(spec, "", &error));
  CHECK(error.find("not an alarm state") != std::string::npos);
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    CHECK_FALSE(AlarmEvaluator::restore(spec, bytes.substr(0, cut), &error));
  CHECK_FALSE(AlarmEvaluator::restore(spec, bytes + "x", &error));
  std::string v2 = bytes;
  v2[4] = 2;
  CHECK_FALSE(AlarmEvaluator::restore(spec, v2, &error));
  CHECK(error.find("version 2") != std::string::npos);
  auto other = spec_from(alarm_body(
      "statistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\""));
  CHECK_FALSE(AlarmEvaluator::restore(other, bytes, &error));
  CHECK(error.find("different alarm definition") != std::string::npos);
  // Random bytes never crash.
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk = bytes;
    junk[rng() % junk.size()] = static_cast<char>(rng());
    auto r = AlarmEvaluator::restore(spec, junk, &error);
    if (r) {
      CHECK(r->serialize() == junk);
      r->add(hms(11, 0), 1, "b");  // and it still works, in bounded time
      r->advance(at(400 * 86400.0));
    }
  }
}

// Found by tests/fuzz/alarm_state_fuzz.cpp: period indexes inside the old ±2^50 bound but beyond
// the times an EventTime holds overflowed when an evaluation turned them back into times.
TEST_CASE("state: a saved period index beyond representable event times is refused") {
  auto spec = cis49_spec();
  AlarmEvaluator e(spec);
  e.add(hms(10, 0, 1), 1, "a");
  const std::string bytes = e.serialize();
  // Version-1 layout: magic 4, version 1, period/n/m 24, statistic 1, lateness 8, state 1,
  // started 1, then origin and evaluated (i64 little-endian).
  constexpr size_t kOriginAt = 4 + 1 + 24 + 1 + 8 + 1 + 1;
  auto with_index = [&](size_t at, int64_t v) {
    std::string b = bytes;
    for (int i = 0; i < 8; ++i)
      b[at + i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
    return b;
  };
  std::string error;
  // 300 s periods: 2^49 periods are 5.3 million years from 1970, far past EventTime's ±292.
  for (int64_t bad : {-(int64_t{1} << 49), int64_t{1} << 49, int64_t{40'000'000}}) {
    CHECK_FALSE(AlarmEvaluator::restore(spec, with_index(kOriginAt, bad), &error));
    CHECK(error.find("period index out of range") != std::string::npos);
    CHECK_FALSE(AlarmEvaluator::restore(spec, with_index(kOriginAt + 8, bad), &error));
  }
  // Indexes of real times (and far into the past and future within range) are kept.
  CHECK(AlarmEvaluator::restore(spec, with_index(kOriginAt, -10'000'000), &error));
  CHECK(AlarmEvaluator::restore(spec, bytes, &error));
}

TEST_CASE("semantics: until a period is evaluated, an earlier datapoint moves the start back") {
  auto spec = spec_from(alarm_body(
      "statistic = \"Average\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 600"));
  AlarmEvaluator e(spec);  // (Average never fires early)
  // 10:03 first, then 10:01 (records out of order within the lateness): both count.
  CHECK(e.add(hms(10, 3), 1, "b").result == AlarmEvaluator::AddResult::kAdded);
  CHECK(e.add(hms(10, 1), 1, "a").result == AlarmEvaluator::AddResult::kAdded);
  CHECK(e.late() == 0);
  auto trs = e.advance(hms(10, 2));  // 10:01 final: its range holds 10:01's datapoint
  REQUIRE(trs.size() == 1);
  CHECK(trs[0].new_state == AlarmState::kAlarm);
  // Once a period was evaluated, earlier ones are late.
  CHECK(e.add(hms(10, 0), 1, "c").result == AlarmEvaluator::AddResult::kLate);
}

