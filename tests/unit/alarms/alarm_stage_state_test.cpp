// The alarm stage with its state in the journal (alarms/alarm_stage.h "State",
// alarms/state_dir_alarm_store.h): a unit that comes again is counted once, a restart continues
// with the same transitions as never stopping, a transition that did not reach delivery is sent
// again (on redelivery and by tick) until delivered, a failed save fails the unit and puts the
// alarms back, and a changed alarm definition starts its instances again.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <memory>

#include "agent/alarms/alarm_stage.h"
#include "agent/alarms/state_dir_alarm_store.h"
#include "tests/fakes/manual_clock.h"
#include "tests/unit/alarms/alarm_stage_test_util.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms;
using namespace trailwarden::alarms::test;

namespace {

// Sum of 1 per record, per minute, >= `threshold`, lateness 120 s.
std::string sum_alarm(int threshold) {
  return std::string(kCount) +
         fmt::format("[alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\n"
                     "threshold = {}\nlateness_seconds = 120\n"
                     "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n"
                     "treat_missing_data = \"notBreaching\"\n",
                     threshold);
}


std::vector<std::string> transition_uids(const std::vector<AlertRecord>& alerts) {
  std::vector<std::string> out;
  for (const AlertRecord& a : alerts)
    if (a.kind == AlertKind::kAlarm) out.push_back(a.uid);
  return out;
}

std::vector<AlertRecord> transitions(const std::vector<AlertRecord>& alerts) {
  std::vector<AlertRecord> out;
  for (const AlertRecord& a : alerts)
    if (a.kind == AlertKind::kAlarm) out.push_back(a);
  return out;
}

// The file may not grow past its size now: writes fail as on a full disk, until the scope ends.
struct FullDisk {
  rlimit saved{};
  struct sigaction old {};
  explicit FullDisk(uint64_t size) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ignore, &old);
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit limit = saved;
    limit.rlim_cur = size;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FullDisk() {
    setrlimit(RLIMIT_FSIZE, &saved);
    sigaction(SIGXFSZ, &old, nullptr);
  }
};

}  // namespace

TEST_CASE("alarm state: a unit that comes again is not counted again") {
  trailwarden::test::TempDir dir("tw-alarm-stage");
  rules::Rule r = alarm_rule(sum_alarm(2));
  trailwarden::testing::ManualClock clock(hms(10, 0, 30));
  JournaledAgent agent(dir.file("alarms.journal"), r, clock);
  auto a = run(*agent.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
  CHECK(alarms_of(a).empty());
  // The same object again (a redelivered message, a second notification): were it counted, the
  // minute would hold 2 and the alarm fire.
  a = run(*agent.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
  CHECK(alarms_of(a).empty());
  CHECK(records_of(a) == 1);  // its record alerts go on (the de-duplication window drops them)
  CHECK(agent.stage->counters().units_repeated == 1);
  CHECK(agent.stage->counters().datapoints == 1);
  // Another object with a record in the same minute: 2, ALARM.
  a = run(*agent.stage, unit(r, {record(10, 0, 20)}), "s3://b/k2#e2");
  CHECK(alarms_of(a).size() == 1);
  // After a restart the first object is still known.
  agent.stage.reset();
  agent.store.reset();
  JournaledAgent again(dir.file("alarms.journal"), r, clock);
  a = run(*again.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
  CHECK(again.stage->counters().units_repeated == 1);
  CHECK(again.stage->counters().datapoints == 0);
  CHECK(again.stage->state("r1") == AlarmState::kAlarm);
}

TEST_CASE("alarm state: a restart anywhere gives the same transitions as never stopping") {
  rules::Rule r = alarm_rule(sum_alarm(2));
  // Minutes 10:00..10:09, with 0..3 records each; then the end of input.
  std::vector<Unit> units;
  for (int m = 0; m < 10; ++m) {
    std::vector<std::string> recs;
    for (int k = 0; k < (m * 7) % 4; ++k) recs.push_back(record(10, m, 5 + 10 * k, "alice", k));
    units.push_back(unit(r, recs, {ms_at(10, m, 59)}));
  }
  auto identity = [](size_t i) { return "s3://b/k" + std::to_string(i) + "#e"; };
  trailwarden::testing::ManualClock clock(hms(10, 30, 0));
  std::vector<AlertRecord> expected;
  {
    AlarmStage memory({&r}, {}, clock);
    for (const Unit& u : units)
      for (AlertRecord& a : transitions(run(memory, u))) expected.push_back(a);
    memory.finish(expected);
  }
  REQUIRE(expected.size() >= 4);
  for (size_t stop_after = 0; stop_after <= units.size(); ++stop_after) {
    CAPTURE(stop_after);
    trailwarden::test::TempDir dir("tw-alarm-stage");
    std::vector<AlertRecord> got;
    {
      JournaledAgent first(dir.file("alarms.journal"), r, clock);
      for (size_t i = 0; i < stop_after; ++i) {
        auto out = transitions(run(*first.stage, units[i], identity(i)));
        first.stage->delivered(out);
        got.insert(got.end(), out.begin(), out.end());
      }
    }
    JournaledAgent second(dir.file("alarms.journal"), r, clock);
    // The last unit before the stop comes again (its message was not deleted yet).
    if (stop_after > 0)
      CHECK(transitions(run(*second.stage, units[stop_after - 1], identity(stop_after - 1)))
                .empty());
    for (size_t i = stop_after; i < units.size(); ++i) {
      auto out = transitions(run(*second.stage, units[i], identity(i)));
      got.insert(got.end(), out.begin(), out.end());
    }
    std::vector<AlertRecord> end;
    second.stage->finish(end);
    got.insert(got.end(), end.begin(), end.end());
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].uid == expected[i].uid);
      CHECK(got[i].ocsf == expected[i].ocsf);
    }
  }
}

TEST_CASE("alarm state: a transition that did not reach delivery is sent again until delivered") {
  trailwarden::test::TempDir dir("tw-alarm-stage");
  rules::Rule r = alarm_rule(sum_alarm(1));
  trailwarden::testing::ManualClock clock(hms(10, 0, 30));
  AlarmStageOptions o;
  o.resend_interval = std::chrono::seconds(30);
  std::string alarm_uid;
  {
    JournaledAgent agent(dir.file("alarms.journal"), r, clock, o);
    auto a = run(*agent.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
    REQUIRE(alarms_of(a).size() == 1);
    alarm_uid = alarms_of(a)[0]->uid;
    // kill -9 here: committed, never delivered.
  }
  clock.advance(std::chrono::seconds(5));
  JournaledAgent agent(dir.file("alarms.journal"), r, clock, o);
  // The first tick after the restart sends it.
  std::vector<AlertRecord> out;
  agent.stage->tick(clock.wall_now(), out);
  CHECK(transition_uids(out) == std::vector<std::string>{alarm_uid});
  // Not again before the resend interval...
  out.clear();
  clock.advance(std::chrono::seconds(10));
  agent.stage->tick(clock.wall_now(), out);
  CHECK(transition_uids(out).empty());
  // ...but the object coming again gets it back at once (its delivery had failed).
  auto a = run(*agent.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
  REQUIRE(transition_uids(a) == std::vector<std::string>{alarm_uid});
  CHECK(agent.stage->counters().datapoints == 0);
  // The outputs fail; after the interval the tick sends it again.
  clock.advance(std::chrono::seconds(31));
  out.clear();
  agent.stage->tick(clock.wall_now(), out);
  REQUIRE(transition_uids(out) == std::vector<std::string>{alarm_uid});
  // Delivered: never again, not after a restart either.
  agent.stage->delivered(out);
  clock.advance(std::chrono::seconds(31));
  out.clear();
  agent.stage->tick(clock.wall_now(), out);
  CHECK(transition_uids(out).empty());
  CHECK(agent.stage->counters().resent == 3);
  agent.stage.reset();
  agent.store.reset();
  JournaledAgent restarted(dir.file("alarms.journal"), r, clock, o);
  restarted.stage->tick(clock.wall_now() + std::chrono::seconds(1), out);
  CHECK(transition_uids(out).empty());
  a = run(*restarted.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
  CHECK(transition_uids(a).empty());
}

TEST_CASE("alarm state: a unit whose state cannot be saved fails and the alarms are put back") {
  trailwarden::test::TempDir dir("tw-alarm-stage");
  const std::string path = dir.file("alarms.journal");
  rules::Rule r = alarm_rule(sum_alarm(2));
  trailwarden::testing::ManualClock clock(hms(10, 0, 30));
  JournaledAgent agent(path, r, clock);
  Unit u = unit(r, {record(10, 0, 5)});
  std::string error;
  {
    FullDisk full(std::filesystem::file_size(path));
    StageUnit su{u.alerts, u.slots, "s3://b/k1#e1"};
    error = agent.stage->process(su);
  }
  CHECK(error.find("cannot be saved") != std::string::npos);
  CHECK(error.find(path) != std::string::npos);
  CHECK(agent.stage->counters().commit_failures == 1);
  CHECK_FALSE(agent.stage->state("r1").has_value());  // back to what the journal holds: nothing
  // The source retries the unit: counted once (1 < 2), then another record makes 2.
  auto a = run(*agent.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
  CHECK(alarms_of(a).empty());
  a = run(*agent.stage, unit(r, {record(10, 0, 20)}), "s3://b/k2#e2");
  CHECK(alarms_of(a).size() == 1);
}

TEST_CASE("alarm state: an instance whose alarm definition changed starts again; others keep "
          "their state") {
  trailwarden::test::TempDir dir("tw-alarm-stage");
  const std::string path = dir.file("alarms.journal");
  rules::Rule r = alarm_rule(sum_alarm(1));
  trailwarden::testing::ManualClock clock(hms(10, 0, 30));
  {
    JournaledAgent agent(path, r, clock);
    run(*agent.stage, unit(r, {record(10, 0, 5)}), "s3://b/k1#e1");
    CHECK(agent.stage->state("r1") == AlarmState::kAlarm);
  }
  {
    JournaledAgent same(path, r, clock);
    CHECK(same.stage->state("r1") == AlarmState::kAlarm);
    CHECK(same.stage->counters().restore_failures == 0);
  }
  rules::Rule changed = alarm_rule(std::string(kCount) +
                                   "[alarm]\nstatistic = \"Sum\"\nperiod = 300\n"
                                   "evaluation_periods = 1\nthreshold = 1\n"
                                   "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n");
  JournaledAgent agent(path, changed, clock);
  CHECK(agent.stage->counters().restore_failures == 1);
  CHECK_FALSE(agent.stage->state("r1").has_value());
}

TEST_CASE("alarm state: after a restart a datapoint is as late as it would have been") {
  trailwarden::test::TempDir dir("tw-alarm-stage");
  const std::string path = dir.file("alarms.journal");
  rules::Rule r = alarm_rule(sum_alarm(2));  // lateness 120 s
  trailwarden::testing::ManualClock clock(hms(10, 30, 0));
  {
    JournaledAgent agent(path, r, clock);
    run(*agent.stage, unit(r, {record(10, 0, 5)}), "s3://b/a#1");
    // Records of other rules move the stream time to 10:05 (10:00 final: OK), then to 10:10:
    // watermark 10:08, periods up to 10:07 final without any transition.
    CHECK(alarms_of(run(*agent.stage, unit(r, {}, {ms_at(10, 5, 0)}), "s3://b/b#1")).size() == 1);
    CHECK(alarms_of(run(*agent.stage, unit(r, {}, {ms_at(10, 10, 0)}), "s3://b/c#1")).empty());
  }
  JournaledAgent agent(path, r, clock);
  CHECK(agent.stage->stream_time_ms() == ms_at(10, 10, 0));
  run(*agent.stage, unit(r, {record(10, 6, 30)}), "s3://b/d#1");
  CHECK(agent.stage->counters().late == 1);
  CHECK(agent.stage->counters().datapoints == 0);
}
