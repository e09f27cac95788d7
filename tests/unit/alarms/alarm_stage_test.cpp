// The alarm stage (agent/alarms/alarm_stage.h): datapoints from matching records across units,
// dimension sets as instances, the alert modes, the instance cap, the watermark moved by units
// without matches, the end of a replay, the idle tick of `run`, and transition uids that do not
// depend on how the records were split into units.
#include "agent/alarms/alarm_stage.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <fmt/format.h>
#include <thread>

#include "agent/metrics/metrics.h"
#include "agent/normalize/ocsf.h"
#include "tests/fakes/manual_clock.h"
#include "tests/unit/alarms/alarm_stage_test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms;
using namespace trailwarden::alarms::test;


TEST_CASE("alarm stage: 2 of 3 periods across units, ALARM as soon as the second breaches") {
  // > 1 per minute in 2 of the last 3 minutes.
  rules::Rule r = alarm_rule(std::string(kCount) +
                             "[alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 3\n"
                             "datapoints_to_alarm = 2\nthreshold = 1\nlateness_seconds = 120\n"
                             "comparison_operator = \"GreaterThanThreshold\"\n");
  AlarmStage stage({&r});
  auto a = run(stage, unit(r, {record(10, 0, 5), record(10, 0, 40)}));
  CHECK(alarms_of(a).empty());  // one breaching minute of the two needed
  CHECK(records_of(a) == 2);
  a = run(stage, unit(r, {record(10, 1, 30)}));  // minute 1: one record, not breaching
  CHECK(alarms_of(a).empty());
  a = run(stage, unit(r, {record(10, 2, 10)}));
  CHECK(alarms_of(a).empty());
  a = run(stage, unit(r, {record(10, 2, 50)}));  // minute 2 breaches: 2 of 3
  REQUIRE(alarms_of(a).size() == 1);
  const AlertRecord& t = *alarms_of(a)[0];
  CHECK(field(t.ocsf, "/unmapped/trailwarden/alarm/new_state") == "ALARM");
  CHECK(field(t.ocsf, "/unmapped/trailwarden/alarm/old_state") == "INSUFFICIENT_DATA");
  CHECK(field(t.ocsf, "/unmapped/trailwarden/alarm/early") == "true");
  CHECK(t.time_ms == ms_at(10, 2, 50));  // the record that completed it
  CHECK(stage.state("r1") == AlarmState::kAlarm);
  CHECK(stage.counters().datapoints == 5);
}

TEST_CASE("alarm stage: each dimension set is an instance of its own") {
  rules::Rule r = alarm_rule(std::string("[metric]\nvalue = 1\ndimensions = { user = "
                                         "\"$.userIdentity.arn\" }\n") +
                             "[alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 2\n"
                             "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n");
  AlarmStage stage({&r});
  auto a = run(stage, unit(r, {record(10, 0, 1, "alice"), record(10, 0, 2, "bob"),
                               record(10, 0, 3, "alice", 1)}));
  // alice reached 2 within the minute, bob did not.
  REQUIRE(alarms_of(a).size() == 1);
  CHECK(field(alarms_of(a)[0]->ocsf, "/unmapped/trailwarden/alarm/dimensions/user") ==
        "arn:aws:iam::111122223333:user/alice");
  CHECK(stage.instances("r1") == 2);
  CHECK(stage.state("r1", {"arn:aws:iam::111122223333:user/alice"}) == AlarmState::kAlarm);
  CHECK(stage.state("r1", {"arn:aws:iam::111122223333:user/bob"}) ==
        AlarmState::kInsufficientData);
  a = run(stage, unit(r, {record(10, 0, 9, "bob", 1)}));
  REQUIRE(alarms_of(a).size() == 1);
  CHECK(field(alarms_of(a)[0]->ocsf, "/unmapped/trailwarden/alarm/dimensions/user") ==
        "arn:aws:iam::111122223333:user/bob");
  // The CloudWatch change carries the dimension too (for the SNS notification).
  CHECK(alarms_of(a)[0]->alarm.find(R"("Dimensions":[{"value":"arn:aws:iam::111122223333:user/bob","name":"user"}])") !=
        std::string::npos);
}

TEST_CASE("alarm stage: alert = record | alarm | both") {
  for (auto on : {rules::AlertOn::kRecord, rules::AlertOn::kAlarm, rules::AlertOn::kBoth}) {
    CAPTURE(rules::alert_on_name(on));
    rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm, on);
    AlarmStage stage({&r});
    auto a = run(stage, unit(r, {record(10, 0, 5), record(10, 0, 6)}));
    CHECK(records_of(a) == (on == rules::AlertOn::kAlarm ? 0u : 2u));
    CHECK(alarms_of(a).size() == (on == rules::AlertOn::kRecord ? 0u : 1u));
    // The alarm runs whatever is notified.
    CHECK(stage.state("r1") == AlarmState::kAlarm);
    CHECK(stage.counters().records_dropped == (on == rules::AlertOn::kAlarm ? 2u : 0u));
  }
  // A rule whose alarm is off alerts per record and counts nothing.
  rules::Rule off = alarm_rule(std::string(kCount) + kSumAlarm, rules::AlertOn::kAlarm);
  off.alarm_enabled = false;
  rules::Rule counting = alarm_rule(std::string(kCount) + kSumAlarm);
  counting.id = "r2";
  AlarmStage stage({&off, &counting});
  auto a = run(stage, unit(off, {record(10, 0, 5)}));
  CHECK(records_of(a) == 1);
  CHECK(alarms_of(a).empty());
  CHECK_FALSE(stage.state("r1"));
  CHECK_FALSE(AlarmStage::needed({&off}));
  CHECK(AlarmStage::needed({&off, &counting}));
}

TEST_CASE("alarm stage: a rule's instances are capped; further dimension sets are refused and "
          "counted") {
  rules::Rule r = alarm_rule(std::string("[metric]\nvalue = 1\ndimensions = { user = "
                                         "\"$.userIdentity.arn\" }\n") + kSumAlarm);
  AlarmStageOptions o;
  o.max_instances_per_rule = 2;
  AlarmStage stage({&r}, o);
  std::vector<std::string> records;
  for (int i = 0; i < 50; ++i) records.push_back(record(10, 0, 1, "user" + std::to_string(i)));
  auto a = run(stage, unit(r, records));
  CHECK(stage.instances("r1") == 2);
  CHECK(stage.counters().instances_refused == 48);
  CHECK(alarms_of(a).size() == 2);
  CHECK(records_of(a) == 50);  // per-record alerts are not affected
  // The instances kept still count.
  a = run(stage, unit(r, {record(10, 5, 0, "user0")}));
  CHECK(stage.counters().datapoints == 3);
}

TEST_CASE("alarm stage: units without matches move the watermark and close periods") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);  // lateness 120 s
  AlarmStage stage({&r});
  auto a = run(stage, unit(r, {record(10, 0, 5)}));
  REQUIRE(alarms_of(a).size() == 1);  // early ALARM
  // Records of other rules only, up to 10:02:30: the watermark is 10:00:30, nothing final.
  a = run(stage, unit(r, {}, {ms_at(10, 2, 30)}));
  CHECK(alarms_of(a).empty());
  // Up to 10:04:05: the watermark 10:02:05 finalizes 10:00 and 10:01, but the evaluation range
  // (N + 2 periods, CloudWatch's) of 10:01 still holds the breaching 10:00: ALARM stays.
  a = run(stage, unit(r, {}, {ms_at(10, 4, 5)}));
  CHECK(alarms_of(a).empty());
  // Up to 10:06:05: 10:03 final, its range 10:01-10:03 holds no datapoint: notBreaching -> OK,
  // decided by a unit with no match at all.
  a = run(stage, unit(r, {}, {ms_at(10, 6, 5)}));
  REQUIRE(alarms_of(a).size() == 1);
  CHECK(field(alarms_of(a)[0]->ocsf, "/unmapped/trailwarden/alarm/new_state") == "OK");
  CHECK(field(alarms_of(a)[0]->ocsf, "/status_id") == "4");
  CHECK(alarms_of(a)[0]->time_ms == ms_at(10, 4, 0));  // the end of the period that decided it
  CHECK(field(alarms_of(a)[0]->ocsf, "/start_time") == std::to_string(ms_at(10, 3, 0)));
  // A datapoint for a final period is late, for an existing instance and a new one alike.
  a = run(stage, unit(r, {record(10, 1, 0)}));
  CHECK(stage.counters().late == 1);
  CHECK(alarms_of(a).empty());
}

TEST_CASE("alarm stage: the end of a replay evaluates every period the records have passed") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);
  AlarmStage stage({&r});
  auto a = run(stage, unit(r, {record(10, 0, 5)}, {ms_at(10, 1, 15)}));
  REQUIRE(alarms_of(a).size() == 1);  // ALARM
  std::vector<AlertRecord> end;
  stage.finish(end);
  // 10:00 ended before the newest record (10:01:15): final, breaching, no change; 10:01 holds
  // the newest record: still open.
  CHECK(end.empty());
  a = run(stage, unit(r, {}, {ms_at(10, 4, 0)}));
  CHECK(alarms_of(a).empty());  // the watermark 10:02:00 finalizes nothing that changes
  stage.finish(end);
  // Every period up to 10:04:00 (the newest record) is final: the range of 10:03 holds no
  // datapoint, notBreaching -> OK; 10:04 stays open.
  REQUIRE(end.size() == 1);
  CHECK(field(end[0].ocsf, "/unmapped/trailwarden/alarm/new_state") == "OK");
  CHECK(end[0].time_ms == ms_at(10, 4, 0));
  // finish() is idempotent.
  end.clear();
  stage.finish(end);
  CHECK(end.empty());
}

TEST_CASE("alarm stage: the same records in one unit or split and reordered within the lateness "
          "give the same transitions and uids") {
  rules::Rule r = alarm_rule(std::string("[metric]\nvalue = 1\ndimensions = { user = "
                                         "\"$.userIdentity.arn\" }\n") +
                             "[alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 2\n"
                             "threshold = 2\nlateness_seconds = 600\n"
                             "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n"
                             "treat_missing_data = \"notBreaching\"\n");
  std::vector<std::string> records;
  for (int m = 0; m < 12; ++m)
    for (const char* user : {"alice", "bob"})
      if ((m % 3 == 0) || (user[0] == 'a' && m < 4))
        for (int k = 0; k < 2; ++k) records.push_back(record(10, m, 10 + 20 * k, user, k));
  std::vector<std::string> whole_docs, split_docs;
  std::vector<std::string>* docs = &whole_docs;
  auto transitions = [&](const std::vector<std::vector<std::string>>& units) {
    AlarmStage stage({&r});
    std::vector<std::string> out;
    for (const auto& u : units) {
      const std::vector<AlertRecord> alerts = run(stage, unit(r, u));
      for (const AlertRecord* a : alarms_of(alerts)) {
        out.push_back(a->uid + " " + field(a->ocsf, "/finding_info/title"));
        docs->push_back(a->ocsf);
      }
    }
    std::vector<AlertRecord> end;
    stage.finish(end);
    for (const auto& a : end) {
      out.push_back(a.uid + " " + field(a.ocsf, "/finding_info/title"));
      docs->push_back(a.ocsf);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto whole = transitions({records});
  CHECK(whole.size() >= 4);
  // Three units, each reversed, the second and third swapped (all within 10 minutes).
  std::vector<std::vector<std::string>> split(3);
  for (size_t i = 0; i < records.size(); ++i) split[i * 3 / records.size()].push_back(records[i]);
  for (auto& u : split) std::reverse(u.begin(), u.end());
  std::swap(split[1], split[2]);
  docs = &split_docs;
  const auto parts = transitions(split);
  CHECK(parts == whole);
  if (parts != whole) {
    for (const auto& x : whole) MESSAGE("whole " << x);
    for (const auto& x : parts) MESSAGE("split " << x);
    for (const auto* d : {&whole_docs, &split_docs})
      for (const auto& j : *d)
        MESSAGE(field(j, "/unmapped/trailwarden/alarm/dimensions/user").substr(32) << " "
                << field(j, "/unmapped/trailwarden/alarm/old_state") << "->"
                << field(j, "/unmapped/trailwarden/alarm/new_state") << " early="
                << field(j, "/unmapped/trailwarden/alarm/early") << " " << field(j, "/time_dt")
                << " " << field(j, "/start_time_dt") << " " << field(j, "/end_time_dt"));
  }
  // One record per unit, in order: the same again.
  std::vector<std::vector<std::string>> singles;
  for (const auto& rec : records) singles.push_back({rec});
  CHECK(transitions(singles) == whole);
}

TEST_CASE("alarm stage: a transition finding says what changed, on what data, from which records") {
  std::string body = std::string(kCount) + kSumAlarm;
  body.replace(body.find("threshold = 1"), 13, "threshold = 2");
  rules::Rule r = alarm_rule(body);
  AlarmStage stage({&r});
  auto a = run(stage, unit(r, {record(10, 0, 5), record(10, 0, 7)}));
  REQUIRE(alarms_of(a).size() == 1);
  const AlertRecord& t = *alarms_of(a)[0];
  const std::string& j = t.ocsf;
  CHECK(field(j, "/class_uid") == "2004");
  CHECK(field(j, "/metadata/version") == "1.4.0");
  CHECK(field(j, "/metadata/uid") == t.uid);
  CHECK(field(j, "/finding_info/uid") == t.uid);
  CHECK(field(j, "/finding_info/analytic/uid") == "r1");
  CHECK(field(j, "/finding_info/analytic/name") == "r1");  // the alarm's name (default: rule id)
  CHECK(field(j, "/finding_info/title") == R"(ALARM: "r1")");
  CHECK(field(j, "/severity_id") == "4");
  CHECK(field(j, "/is_alert") == "true");
  CHECK(field(j, "/time") == std::to_string(ms_at(10, 0, 7)));  // the second record: early
  CHECK(field(j, "/start_time") == std::to_string(ms_at(10, 0, 0)));
  CHECK(field(j, "/end_time") == std::to_string(ms_at(10, 1, 0)));
  CHECK(field(j, "/count") == "2");
  CHECK(field(j, "/finding_info/related_events_count") == "2");
  // Newest period first, within a period by eventID, smallest first.
  CHECK(field(j, "/finding_info/related_events/0/uid") == "ev-100005-alice-0");
  CHECK(field(j, "/finding_info/related_events/1/uid") == "ev-100007-alice-0");
  CHECK(field(j, "/finding_info/related_events/1/desc") ==
        "Detection Finding " + finding_uid("r1", "ev-100007-alice-0", ""));
  CHECK(field(j, "/unmapped/trailwarden/alarm/contributors/1/event_id") == "ev-100007-alice-0");
  CHECK(field(j, "/unmapped/trailwarden/alarm/contributors/1/finding_uid") ==
        finding_uid("r1", "ev-100007-alice-0", ""));
  CHECK(field(j, "/unmapped/trailwarden/alarm/datapoints/0/samples") == "2");
  CHECK(field(j, "/unmapped/trailwarden/alarm/period") == "60");
  CHECK(field(j, "/cloud/account/uid") == "111122223333");
  CHECK(field(j, "/cloud/region") == "eu-west-1");
  CHECK(t.rule_id == "r1");
  CHECK(t.region == "eu-west-1");
  CHECK(field(t.alarm, "/NewStateValue") == "ALARM");
  CHECK(field(t.alarm, "/AWSAccountId") == "111122223333");
  CHECK(field(t.alarm, "/Trigger/Period") == "60");
  // Deterministic: the same transition from a redelivery has the same uid; another does not.
  CHECK(t.uid == alarm_finding_uid("r1", "r1", "", AlarmState::kInsufficientData,
                                   AlarmState::kAlarm, ms_at(10, 0, 0)));
  CHECK(t.uid != alarm_finding_uid("r1", "r1", "", AlarmState::kOk, AlarmState::kAlarm,
                                   ms_at(10, 0, 0)));
}

TEST_CASE("alarm stage: the idle tick of run closes periods once the lateness has passed") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);  // lateness 120 s
  trailwarden::testing::ManualClock clock(test::hms(10, 0, 30));
  AlarmStage stage({&r}, {}, clock);
  auto a = run(stage, unit(r, {record(10, 0, 5)}));
  REQUIRE(alarms_of(a).size() == 1);
  std::vector<AlertRecord> out;
  // The stream time (10:00:00, the record's slot, seen at 10:00:30) goes on with the wall clock:
  // at 10:03:00 it is 10:02:30, the watermark 10:00:30: 10:00 final, breaching, no change.
  stage.tick(test::hms(10, 3, 0), out);
  CHECK(out.empty());
  CHECK(stage.stream_time_ms() == ms_at(10, 2, 30));
  // At 10:06:00: watermark 10:03:30; 10:03 is not final yet.
  stage.tick(test::hms(10, 6, 0), out);
  CHECK(out.empty());
  // At 10:06:40: watermark 10:04:10: the range of 10:03 is empty -> OK.
  stage.tick(test::hms(10, 6, 40), out);
  REQUIRE(out.size() == 1);
  CHECK(field(out[0].ocsf, "/unmapped/trailwarden/alarm/new_state") == "OK");
  // Ticks closer together than the tick interval do nothing.
  stage.tick(test::at(10 * 3600 + 6 * 60 + 40.5), out);
  CHECK(stage.stream_time_ms() == ms_at(10, 6, 10));
  // The stream never runs ahead of the wall clock, and a record newer than the stream time
  // takes over from the wall clock.
  run(stage, unit(r, {}, {ms_at(10, 7, 0)}));
  CHECK(stage.stream_time_ms() == ms_at(10, 7, 0));
}

TEST_CASE("alarm stage: several workers at once lose no datapoint") {
  rules::Rule r = alarm_rule(std::string("[metric]\nvalue = 1\ndimensions = { user = "
                                         "\"$.userIdentity.arn\" }\n") + kSumAlarm);
  AlarmStage stage({&r});
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < 50; ++i)
        run(stage, unit(r, {record(10, 0, i % 60, "u" + std::to_string(w), i)}));
    });
  for (auto& t : threads) t.join();
  CHECK(stage.counters().datapoints == 200);
  CHECK(stage.instances("r1") == 4);
}

TEST_CASE("alarm stage: an instance's records in later units but earlier periods (within the "
          "lateness) all count") {
  rules::Rule r = alarm_rule(std::string(kCount) +
                             "[alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\n"
                             "threshold = 2\nlateness_seconds = 600\n"
                             "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n");
  AlarmStage stage({&r});
  run(stage, unit(r, {record(10, 3, 0)}));  // the instance's first datapoint: 10:03
  auto a = run(stage, unit(r, {record(10, 1, 0), record(10, 1, 30)}));  // then two at 10:01
  CHECK(stage.counters().late == 0);
  CHECK(stage.counters().datapoints == 3);
  REQUIRE(alarms_of(a).size() == 1);  // 10:01 holds 2: ALARM
  CHECK(field(alarms_of(a)[0]->ocsf, "/start_time") == std::to_string(ms_at(10, 1, 0)));
}

TEST_CASE("alarm stage: an eventTime outside 1700-2200 is no usable time, never an overflow") {
  // Found by alarm_stage_fuzz: a forged record's eventTime in the year 1000 (parse_event_time
  // reads years 1-9999) overflowed the conversion to the clock's nanoseconds.
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);
  AlarmStage stage({&r});
  Unit u = unit(r, {record(10, 0, 5), record(10, 0, 6)});
  constexpr int64_t kYear1000 = -30610224000000, kYear2500 = 16725225600000;
  u.alerts[0].time_ms = kYear1000;
  u.alerts[1].time_ms = kYear2500;
  u.slots = {kYear1000, ms_at(10, 0, 0), kYear2500};
  auto a = run(stage, u);
  CHECK(alarms_of(a).empty());
  CHECK(stage.counters().no_event_time == 2);
  CHECK(stage.counters().datapoints == 0);
  CHECK(stage.stream_time_ms() == ms_at(10, 0, 0));  // the usable slot moved it, not the others
  std::vector<AlertRecord> out;
  stage.finish(out);
  CHECK(out.empty());
}

TEST_CASE("alarm stage: its counters are the trailwarden_alarm_* metrics") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);
  AlarmStage stage({&r});
  (void)run(stage, unit(r, {record(10, 0, 5), record(10, 0, 6)}));
  MetricsRegistry registry;
  register_alarm_stage_metrics(registry, stage);
  const std::string text = registry.render();
  CHECK(text.find("\ntrailwarden_alarm_datapoints_total 2\n") != std::string::npos);
  CHECK(text.find("\ntrailwarden_alarm_transitions_total 1\n") != std::string::npos);
  CHECK(text.find("\ntrailwarden_alarm_no_datapoint_total 0\n") != std::string::npos);
}
