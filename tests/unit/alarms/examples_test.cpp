// The alarms of docs/alarms.md reproduced from CloudTrail records end to end: pattern, datapoint,
// alarm instance per dimension set, transitions.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <map>

#include "agent/alarms/alarm_evaluator.h"
#include "agent/alarms/metric_value.h"
#include "agent/normalize/event_time.h"
#include "agent/rules/rule.h"
#include "tests/unit/alarms/alarm_test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms;
using alarms::test::hms;
using alarms::test::spec_from;

namespace {

std::string record(const std::string& time, const std::string& id, const std::string& source,
                   const std::string& name, const std::string& extra = "") {
  return R"({"eventVersion":"1.08","eventTime":")" + time + R"(","eventID":")" + id +
         R"(","eventSource":")" + source + R"(","eventName":")" + name + R"(")" + extra + "}";
}

// Feeds the records matching `pattern` to one evaluator per dimension set; returns the
// transitions per instance key, and advances every instance to the watermark of the newest
// event time after each record (as the engine's stage will).
struct Run {
  std::map<std::string, std::vector<Transition>> transitions;
  std::map<std::string, AlarmEvaluator> instances;
  size_t dropped = 0;
};

Run run(const rules::Pattern& pattern, std::shared_ptr<const MetricAlarmSpec> spec,
        const std::vector<std::string>& records, const std::string& advance_to) {
  Run r;
  simdjson::dom::parser parser;
  int64_t newest = 0;
  auto advance_all = [&](int64_t ms) {
    const auto wm = AlarmEvaluator::watermark_for(EventTime{std::chrono::milliseconds(ms)}, spec->alarm);
    for (auto& [key, e] : r.instances)
      for (auto& t : e.advance(wm)) r.transitions[key].push_back(std::move(t));
  };
  for (const std::string& text : records) {
    simdjson::dom::element e = parser.parse(text);
    int64_t ms = 0;
    REQUIRE(parse_event_time(std::string_view(e["eventTime"].get_string().value()), ms));
    newest = std::max(newest, ms);
    if (pattern.matches(text, &e)) {
      Datapoint d = extract_datapoint(spec->metric, &e);
      if (d.outcome != DatapointOutcome::kEmitted) {
        ++r.dropped;
      } else {
        const std::string key = dimension_key(d.dimensions);
        auto it = r.instances.try_emplace(key, spec).first;
        auto out = it->second.add(EventTime{std::chrono::milliseconds(ms)}, d.value,
                                  std::string(e["eventID"].get_string().value()));
        if (out.transition) r.transitions[key].push_back(std::move(*out.transition));
      }
    }
    advance_all(newest);
  }
  int64_t end = 0;
  REQUIRE(parse_event_time(advance_to, end));
  advance_all(end);
  return r;
}

}  // namespace

TEST_CASE("example: the CIS 4.9 benchmark alarm from CloudTrail records") {
  const rules::Rule* cis49 = nullptr;
  auto pack = rules::load_builtin_pack("cis-aws-foundations");
  for (const auto& r : pack)
    if (r.id == "cis-4.9") cis49 = &r;
  REQUIRE(cis49);
  // The benchmark: --statistic Sum --period 300 --threshold 1
  // --comparison-operator GreaterThanOrEqualToThreshold --evaluation-periods 1.
  auto spec = spec_from(
      "[metric]\nname = \"ConfigChanges\"\nvalue = 1\n[alarm]\nstatistic = \"Sum\"\n"
      "period = 300\nevaluation_periods = 1\nthreshold = 1\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n");
  const std::vector<std::string> records = {
      record("2026-12-04T10:01:00Z", "e1", "s3.amazonaws.com", "GetObject"),
      record("2026-12-04T10:06:12Z", "e2", "config.amazonaws.com", "StopConfigurationRecorder"),
      record("2026-12-04T10:07:30Z", "e3", "config.amazonaws.com", "DeleteDeliveryChannel"),
      record("2026-12-04T10:08:00Z", "e4", "config.amazonaws.com", "DescribeConfigRules"),
      record("2026-12-04T10:31:00Z", "e5", "s3.amazonaws.com", "GetObject"),
  };
  Run r = run(*cis49->pattern, spec, records, "2026-12-04T11:00:00Z");
  REQUIRE(r.transitions.size() == 1);
  const auto& trs = r.transitions[""];
  REQUIRE(trs.size() == 2);
  CHECK(trs[0].new_state == AlarmState::kAlarm);
  CHECK(trs[0].state_change_time == hms(10, 6, 12));  // the first change, at once
  CHECK(trs[0].contributors == std::vector<std::string>{"e2"});
  CHECK(trs[0].reason ==
        "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (04/12/26 10:05:00)] was greater "
        "than or equal to the threshold (1.0) (minimum 1 datapoint for INSUFFICIENT_DATA -> "
        "ALARM transition).");
  CHECK(trs[1].new_state == AlarmState::kInsufficientData);  // three quiet periods later
  CHECK(trs[1].state_change_time == hms(10, 25));
}

TEST_CASE("example: failed console logins per user >= 5 in 5 minutes (dimensions)") {
  rules::ParseError perr;
  auto pattern = rules::Pattern::parse(
      R"({ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") })", &perr);
  REQUIRE(pattern);
  auto spec = spec_from(
      "[metric]\nname = \"ConsoleLoginFailures\"\nvalue = 1\nunit = \"Count\"\n"
      "dimensions = { user = \"$.userIdentity.userName\" }\n"
      "[alarm]\nstatistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 5\n"
      "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n"
      "treat_missing_data = \"notBreaching\"\n");
  auto failed = [](const std::string& time, const std::string& id, const std::string& user) {
    std::string identity = user.empty() ? R"(,"userIdentity":{"type":"IAMUser"})"
                                        : R"(,"userIdentity":{"type":"IAMUser","userName":")" + user + R"("})";
    return record(time, id, "signin.amazonaws.com", "ConsoleLogin",
                  identity + R"(,"errorMessage":"Failed authentication")");
  };
  std::vector<std::string> records;
  for (int i = 0; i < 5; ++i)
    records.push_back(failed("2026-12-04T10:0" + std::to_string(i) + ":30Z", "a" + std::to_string(i), "alice"));
  for (int i = 0; i < 4; ++i)
    records.push_back(failed("2026-12-04T10:0" + std::to_string(i) + ":40Z", "b" + std::to_string(i), "bob"));
  records.push_back(failed("2026-12-04T10:02:00Z", "n1", ""));  // no user name: no datapoint
  records.push_back(record("2026-12-04T10:03:00Z", "ok1", "signin.amazonaws.com", "ConsoleLogin",
                           R"(,"userIdentity":{"userName":"alice"},"responseElements":{"ConsoleLogin":"Success"})"));
  Run r = run(*pattern, spec, records, "2026-12-04T10:40:00Z");
  CHECK(r.dropped == 1);
  CHECK(r.instances.size() == 2);
  const auto& alice = r.transitions[dimension_key({"alice"})];
  REQUIRE(alice.size() == 2);
  CHECK(alice[0].new_state == AlarmState::kAlarm);
  CHECK(alice[0].early);
  CHECK(alice[0].state_change_time == hms(10, 4, 30));  // the fifth failure
  CHECK(alice[0].contributors.size() == 5);
  CHECK(alice[1].new_state == AlarmState::kOk);  // missing periods count as not breaching
  const auto& bob = r.transitions[dimension_key({"bob"})];
  REQUIRE(bob.size() == 1);
  CHECK(bob[0].new_state == AlarmState::kOk);  // 4 < 5: evaluated when the period is final
  CHECK(bob[0].state_change_time == hms(10, 5));
}
