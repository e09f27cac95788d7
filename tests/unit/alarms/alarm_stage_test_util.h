// Helpers for the alarm stage tests: rules with alarms, CloudTrail records at given times, and
// units as the engine hands them to the stage.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "agent/alarms/alarm_stage.h"
#include "agent/alarms/state_dir_alarm_store.h"
#include "agent/normalize/ocsf.h"
#include "tests/unit/alarms/alarm_test_util.h"

namespace trailwarden::alarms::test {

inline int64_t ms_at(int h, int m, int s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             test::hms(h, m, s).time_since_epoch())
      .count();
}

inline std::string iso(int h, int m, int s) { return format_datetime(ms_at(h, m, s)); }

inline rules::Rule alarm_rule(const std::string& body, rules::AlertOn on = rules::AlertOn::kBoth) {
  rules::Rule r;
  r.id = "r1";
  r.title = "Console logins";
  r.pack = "test.toml";
  r.severity = rules::Severity::kHigh;
  r.metric_alarm = spec_from(body);
  r.alarm_enabled = true;
  r.alert_on = on;
  return r;
}

// A CloudTrail record at hh:mm:ss by `user`.
inline std::string record(int h, int m, int s, const std::string& user = "alice", int n = 0) {
  return fmt::format(
      R"({{"eventVersion":"1.08","eventTime":"{}","eventID":"ev-{:02}{:02}{:02}-{}-{}","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","awsRegion":"eu-west-1","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{}","accountId":"111122223333"}},"sourceIPAddress":"192.0.2.1"}})",
      iso(h, m, s), h, m, s, user, n, user);
}

// One unit as the engine hands it to the stage: the alerts of the matching records (`matches`)
// and the event slots of every record (`matches` and `others`, times only).
struct Unit {
  std::vector<AlertRecord> alerts;
  std::vector<int64_t> slots;
};

inline Unit unit(const rules::Rule& rule, const std::vector<std::string>& matches,
          const std::vector<int64_t>& others = {}) {
  Unit u;
  simdjson::dom::parser parser;
  for (const std::string& raw : matches) {
    simdjson::dom::element e = parser.parse(raw);
    u.alerts.push_back(make_alert(rule, raw, &e, OcsfOptions{}));
    u.slots.push_back(u.alerts.back().time_ms - u.alerts.back().time_ms % kEventSlotMs);
  }
  for (int64_t t : others) u.slots.push_back(t - t % kEventSlotMs);
  std::sort(u.slots.begin(), u.slots.end());
  u.slots.erase(std::unique(u.slots.begin(), u.slots.end()), u.slots.end());
  return u;
}

// Processes `u` as the engine would (with `identity`: a unit that may come again); the stage must
// accept it.
inline std::vector<AlertRecord> run(AlarmStage& stage, Unit u, std::string_view identity = {}) {
  StageUnit su{u.alerts, u.slots, identity};
  const std::string error = stage.process(su);
  REQUIRE_MESSAGE(error.empty(), error);
  return u.alerts;
}

inline std::vector<const AlertRecord*> alarms_of(const std::vector<AlertRecord>& alerts) {
  std::vector<const AlertRecord*> out;
  for (const auto& a : alerts)
    if (a.kind == AlertKind::kAlarm) out.push_back(&a);
  return out;
}

inline size_t records_of(const std::vector<AlertRecord>& alerts) {
  return static_cast<size_t>(std::count_if(alerts.begin(), alerts.end(), [](const AlertRecord& a) {
    return a.kind == AlertKind::kRecord;
  }));
}

inline std::string field(const std::string& json, const char* pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(json);
  simdjson::dom::element v;
  if (e.at_pointer(pointer).get(v) != simdjson::SUCCESS) return "<absent>";
  if (v.is_string()) return std::string(std::string_view(v));
  return simdjson::minify(v);
}

// A stage and its journal, as `run` makes them (with `shared`: the store several agents share);
// reopened on the same file to restart. crash() drops both without another word.
struct JournaledAgent {
  std::unique_ptr<StateDirAlarmStore> store;
  std::unique_ptr<AlarmStage> stage;
  JournaledAgent(const std::string& path, const rules::Rule& rule, const Clock& clock,
                 AlarmStageOptions options = {}, store::AlarmStore* shared = nullptr) {
    store = std::make_unique<StateDirAlarmStore>(path);
    std::string error;
    REQUIRE_MESSAGE(store->open(error), error);
    stage = std::make_unique<AlarmStage>(std::vector<const rules::Rule*>{&rule}, options, clock,
                                         store.get(), shared);
    REQUIRE_MESSAGE(stage->restore(error), error);
  }
  void crash() {
    stage.reset();
    store.reset();
  }
};

inline const char* kCount = "[metric]\nvalue = 1\n";
inline const char* kSumAlarm =
    "[alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1\n"
    "lateness_seconds = 120\n"
    "comparison_operator = \"GreaterThanOrEqualToThreshold\"\ntreat_missing_data = "
    "\"notBreaching\"\n";


}  // namespace trailwarden::alarms::test
