// The alarm stage's shared mode (alarms/alarm_stage.h "Shared state"): several stages, each
// seeing a disjoint part of the stream, count into one store (here the in-memory
// MemoryAlarmStore; the DynamoDB one is tested against dynalite in
// tests/integration/test_shared_alarms.py) and together make the transitions one stage makes
// seeing everything, each notified by exactly one of them — also when one stops mid-stream.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <set>

#include "agent/alarms/alarm_stage.h"
#include "agent/alarms/state_dir_alarm_store.h"
#include "agent/common/failpoint.h"
#include "agent/alarms/metric_value.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/memory_alarm_store.h"
#include "tests/unit/alarms/alarm_stage_test_util.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms;
using namespace trailwarden::alarms::test;

namespace {

// Per user, Sum of 1 per record, per minute, >= 3 in 2 of 3 minutes; lateness 10 minutes (the
// whole stream of a test is within it: no period is final before the ticks).
rules::Rule per_user_rule(const char* treat = "notBreaching") {
  rules::Rule r = alarm_rule(
      std::string("[metric]\nvalue = 1\ndimensions = { user = \"$.userIdentity.arn\" }\n") +
      fmt::format("[alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 3\n"
                  "datapoints_to_alarm = 2\nthreshold = 3\nlateness_seconds = 600\n"
                  "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n"
                  "treat_missing_data = \"{}\"\n",
                  treat));
  r.alarm_enabled = true;
  return r;
}

// One S3 object: `n` records of `user` in minute 10:mm.
struct Object {
  std::string key;
  std::string user;
  int minute;
  int n;
};

std::vector<Object> stream() {
  std::vector<Object> out;
  int k = 0;
  auto add = [&](const char* user, int minute, int n) {
    out.push_back({fmt::format("s3://trail/AWSLogs/o{:03}.json.gz", k++), user, minute, n});
  };
  // alice breaches in 10:01 and 10:03 (ALARM early, then OK when quiet); bob never reaches 3;
  // carol breaches 10:02, 10:03, 10:04 in several objects each; dave only in the objects of
  // the agent that stops, erin only in those it took before it stopped.
  add("erin", 1, 3); add("alice", 0, 1); add("bob", 0, 2); add("erin", 2, 4); add("alice", 1, 2); add("carol", 2, 1);
  add("alice", 1, 1); add("carol", 2, 2); add("bob", 1, 1); add("dave", 2, 2);
  add("carol", 3, 3); add("alice", 3, 2); add("dave", 2, 1); add("alice", 3, 1);
  add("carol", 4, 1); add("carol", 4, 1); add("dave", 4, 3); add("carol", 4, 1);
  add("bob", 5, 2); add("dave", 5, 3); add("alice", 6, 1);
  return out;
}

// dave's and erin's objects go to the third agent (the one that stops in the second test).
bool on_stopping_agent(const Object& o) { return o.user == "dave" || o.user == "erin"; }

Unit unit_of(const rules::Rule& r, const Object& o) {
  std::vector<std::string> records;
  // eventIDs unique per object and record.
  const int object = static_cast<int>(std::hash<std::string>{}(o.key) % 100000);
  for (int i = 0; i < o.n; ++i) records.push_back(record(10, o.minute, 10 + i, o.user, object * 10 + i));
  return unit(r, records);
}

std::vector<AlertRecord> transitions_of(const std::vector<AlertRecord>& alerts) {
  std::vector<AlertRecord> out;
  for (const AlertRecord& a : alerts)
    if (a.kind == AlertKind::kAlarm) out.push_back(a);
  return out;
}

// What one transition says, without what depends on which agent saw it first (contributors).
std::string what(const AlertRecord& a) {
  return field(a.ocsf, "/unmapped/trailwarden/alarm/dimensions/user") + " " +
         field(a.ocsf, "/unmapped/trailwarden/alarm/old_state") + "->" +
         field(a.ocsf, "/unmapped/trailwarden/alarm/new_state") + " " + a.uid;
}

std::string listing(const std::multiset<std::string>& s) {
  return fmt::format("\n  {}", fmt::join(s, "\n  "));
}

struct Agent {
  std::unique_ptr<AlarmStage> stage;
  std::vector<AlertRecord> notified;
  Agent(const rules::Rule& r, const Clock& clock, store::AlarmStore* shared) {
    stage = std::make_unique<AlarmStage>(std::vector<const rules::Rule*>{&r}, AlarmStageOptions{},
                                         clock, nullptr, shared);
  }
  void take(const rules::Rule& r, const Object& o) {
    for (AlertRecord& a : transitions_of(run(*stage, unit_of(r, o), o.key))) notified.push_back(a);
  }
  void tick(Clock::Wall now) {
    std::vector<AlertRecord> out;
    stage->tick(now, out);
    for (AlertRecord& a : transitions_of(out)) notified.push_back(a);
  }
};

// The transitions of one stage (state in memory) that sees the whole stream, then idles.
std::multiset<std::string> one_agent(const rules::Rule& r, trailwarden::testing::ManualClock& clock) {
  Agent one(r, clock, nullptr);
  for (const Object& o : stream()) one.take(r, o);
  one.tick(alarms::test::hms(12, 0, 0));
  std::multiset<std::string> out;
  for (const AlertRecord& a : one.notified) out.insert(what(a));
  return out;
}

}  // namespace

TEST_CASE("shared alarms: three agents on disjoint parts make one agent's transitions, each "
          "notified once") {
  for (const char* treat : {"notBreaching", "missing", "breaching", "ignore"}) {
    CAPTURE(treat);
    rules::Rule r = per_user_rule(treat);
    trailwarden::testing::ManualClock clock(alarms::test::hms(10, 10, 0));
    const std::multiset<std::string> expected = one_agent(r, clock);
    REQUIRE(expected.size() >= 3);  // the stream has transitions to compare

    trailwarden::testing::MemoryAlarmStore store;
    std::vector<Agent> agents;
    for (int i = 0; i < 3; ++i) agents.emplace_back(r, clock, &store);
    const std::vector<Object> objects = stream();
    for (size_t i = 0; i < objects.size(); ++i)
      agents[on_stopping_agent(objects[i]) ? 2 : i % 2].take(r, objects[i]);
    for (Agent& a : agents) a.tick(alarms::test::hms(12, 0, 0));

    std::multiset<std::string> got;
    for (const Agent& a : agents)
      for (const AlertRecord& t : a.notified) got.insert(what(t));
    CHECK_MESSAGE(got == expected, "got:" << listing(got) << "\nexpected:" << listing(expected));
    CHECK(store.lost() >= 0);
  }
}

TEST_CASE("shared alarms: an agent that stops mid-stream: its unit is counted once when another "
          "takes it over, and its instances are evaluated by the others") {
  rules::Rule r = per_user_rule();
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 10, 0));
  const std::multiset<std::string> expected = one_agent(r, clock);

  trailwarden::testing::MemoryAlarmStore store;
  std::vector<Agent> agents;
  for (int i = 0; i < 3; ++i) agents.emplace_back(r, clock, &store);
  const std::vector<Object> objects = stream();
  size_t stop_at = 0;  // the agent 2 stops after its second dave object: never acknowledged
  int daves = 0;
  for (size_t i = 0; i < objects.size(); ++i) {
    if (objects[i].user == "dave" && ++daves == 2) {
      agents[2].take(r, objects[i]);
      stop_at = i;
      break;
    }
    agents[on_stopping_agent(objects[i]) ? 2 : i % 2].take(r, objects[i]);
  }
  std::vector<AlertRecord> from_stopped = agents[2].notified;
  agents[2].stage.reset();  // kill -9: nothing more from it
  // Its last object comes again (not deleted from the queue), and the rest of the stream goes
  // to the two others.
  for (size_t i = stop_at; i < objects.size(); ++i) agents[i % 2].take(r, objects[i]);
  CHECK(agents[0].stage->counters().units_repeated + agents[1].stage->counters().units_repeated == 1);
  CHECK(store.count(shared_alarm_key(r), dimension_key({"arn:aws:iam::111122223333:user/dave"}),
                    (ms_at(10, 2, 0)) / 1000) == 3);
  for (int i = 0; i < 2; ++i) agents[i].tick(alarms::test::hms(12, 0, 0));
  CHECK(agents[0].stage->counters().instances_discovered +
            agents[1].stage->counters().instances_discovered >= 1);

  std::multiset<std::string> got;
  for (const AlertRecord& t : from_stopped) got.insert(what(t));
  for (int i = 0; i < 2; ++i)
    for (const AlertRecord& t : agents[i].notified) got.insert(what(t));
  CHECK_MESSAGE(got == expected, "got:" << listing(got) << "\nexpected:" << listing(expected));
}

TEST_CASE("shared alarms: two agents that both see the threshold crossed: one notifies, the other "
          "adopts its state") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);  // Sum >= 1 per minute
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 0, 30));
  trailwarden::testing::MemoryAlarmStore store;
  Agent a(r, clock, &store), b(r, clock, &store);
  // b reads the store (no ALARM yet) and decides its early ALARM; a's comes first.
  store.on_transition([&] { a.take(r, {"s3://b/1", "alice", 0, 1}); });
  b.take(r, {"s3://b/2", "bob", 0, 1});
  REQUIRE(a.notified.size() == 1);  // early ALARM, written first
  CHECK(b.notified.empty());        // its own early ALARM lost the compare-and-set
  CHECK(store.won() == 1);
  CHECK(store.lost() == 1);
  CHECK(b.stage->counters().transitions_superseded == 1);
  // A third object: both know the ALARM now; nobody writes again.
  b.take(r, {"s3://b/3", "bob", 0, 1});
  CHECK(b.notified.empty());
  CHECK(store.won() + store.lost() == 2);
  CHECK(b.stage->state("r1") == AlarmState::kAlarm);
  CHECK(store.state(shared_alarm_key(r)) == "ALARM");
  // Quiet afterwards: the OK comes once, from whichever evaluates first.
  a.tick(alarms::test::hms(10, 6, 40));
  b.tick(alarms::test::hms(10, 6, 40));
  CHECK(a.notified.size() + b.notified.size() == 2);
  CHECK(store.state(shared_alarm_key(r)) == "OK");
}

TEST_CASE("shared alarms: a store that fails: the unit fails and is counted once when retried; "
          "an evaluation waits for the next tick") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 0, 30));
  trailwarden::testing::MemoryAlarmStore store;
  AlarmStage stage({&r}, {}, clock, nullptr, &store);
  Unit u = unit_of(r, {"s3://b/1", "alice", 0, 2});
  store.fail_next(1);
  {
    StageUnit su{u.alerts, u.slots, "s3://b/1"};
    const std::string error = stage.process(su);
    CHECK(error.find("memory alarm store: add_batch failed") != std::string::npos);
    CHECK(error.find("the unit is retried") != std::string::npos);
  }
  CHECK(stage.counters().store_failures == 1);
  CHECK(store.count(shared_alarm_key(r), "", ms_at(10, 0, 0) / 1000) == 0);
  // Retried twice (the second time as a redelivery): counted once.
  auto a = run(stage, unit_of(r, {"s3://b/1", "alice", 0, 2}), "s3://b/1");
  CHECK(transitions_of(a).size() == 1);
  run(stage, unit_of(r, {"s3://b/1", "alice", 0, 2}), "s3://b/1");
  CHECK(store.count(shared_alarm_key(r), "", ms_at(10, 0, 0) / 1000) == 2);
  CHECK(stage.counters().units_repeated == 1);
  // The OK evaluation meets a failing store: nothing is decided, the next tick decides it.
  std::vector<AlertRecord> out;
  store.fail_next(2);  // the instance index, then the evaluation's read
  stage.tick(alarms::test::hms(10, 6, 40), out);
  CHECK(transitions_of(out).empty());
  CHECK(stage.state("r1") == AlarmState::kAlarm);
  CHECK(stage.counters().store_failures == 3);
  stage.tick(alarms::test::hms(10, 6, 42), out);
  REQUIRE(transitions_of(out).size() == 1);
  CHECK(field(out[0].ocsf, "/unmapped/trailwarden/alarm/new_state") == "OK");
  CHECK(store.state(shared_alarm_key(r)) == "OK");
}

TEST_CASE("shared alarms: dimension keys read back from the instance index") {
  std::vector<std::string> v;
  CHECK(parse_dimension_key(dimension_key({"alice", "", "a:b:c"}), v));
  CHECK(v == std::vector<std::string>{"alice", "", "a:b:c"});
  CHECK(parse_dimension_key("", v));
  CHECK(v.empty());
  for (const char* bad : {"5:abc", "x:a", ":a", "3abc", "99999999999:a", "1:a2:b"})
    CHECK_FALSE(parse_dimension_key(bad, v));
}

namespace {

// kill -9 at a failpoint, as far as one process can: the failpoint throws, the stage and its
// journal are dropped without another word, and a new agent opens the same journal.
struct Crash {};
std::string armed_failpoint;
void crash_at(std::string_view name) {
  if (name == armed_failpoint) throw Crash{};
}
struct ArmFailpoint {
  explicit ArmFailpoint(const char* name) {
    armed_failpoint = name;
    failpoint::install(crash_at);
  }
  ~ArmFailpoint() {
    failpoint::install(nullptr);
    armed_failpoint.clear();
  }
};

// An agent with its journal and the shared store processes one alice object and dies at
// `failpoint`.
void crash_in_unit(const std::string& path, const rules::Rule& r, const Clock& clock,
                   store::AlarmStore& shared, const char* failpoint) {
  JournaledAgent a(path, r, clock, {}, &shared);
  ArmFailpoint arm(failpoint);
  Unit u = unit_of(r, {"s3://b/1", "alice", 0, 1});
  StageUnit su{u.alerts, u.slots, "s3://b/1"};
  CHECK_THROWS_AS(a.stage->process(su), Crash);
  a.crash();
}

}  // namespace

TEST_CASE("shared alarms: kill -9 after a transition's write won and before its unit was saved: "
          "the restarted agent sends it (journaled before the write)") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 0, 30));
  trailwarden::testing::MemoryAlarmStore store;
  trailwarden::test::TempDir dir;
  const std::string path = dir.path + "/alarms.journal";
  crash_in_unit(path, r, clock, store, "after-alarm-transition-won");
  REQUIRE(store.won() == 1);
  REQUIRE(store.state(shared_alarm_key(r)) == "ALARM");
  JournaledAgent again(path, r, clock, {}, &store);
  std::vector<AlertRecord> out;
  again.stage->tick(alarms::test::hms(10, 0, 31), out);
  REQUIRE(transitions_of(out).size() == 1);
  CHECK(field(out[0].ocsf, "/unmapped/trailwarden/alarm/new_state") == "ALARM");
  CHECK(again.stage->counters().resent == 1);
  // The object comes again (it was never acknowledged): counted once, nothing new to notify.
  auto a = run(*again.stage, unit_of(r, {"s3://b/1", "alice", 0, 1}), "s3://b/1");
  CHECK(transitions_of(a).empty());
  CHECK(store.count(shared_alarm_key(r), "", ms_at(10, 0, 0) / 1000) == 1);
  CHECK(store.won() == 1);
}

TEST_CASE("shared alarms: kill -9 after a transition was journaled and before its write: the "
          "restarted agent does not send it, and decides it again from the redelivered unit") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 0, 30));
  trailwarden::testing::MemoryAlarmStore store;
  trailwarden::test::TempDir dir;
  const std::string path = dir.path + "/alarms.journal";
  crash_in_unit(path, r, clock, store, "before-alarm-transition-write");
  CHECK(store.won() == 0);
  JournaledAgent again(path, r, clock, {}, &store);
  std::vector<AlertRecord> out;
  again.stage->tick(alarms::test::hms(10, 0, 31), out);
  CHECK(transitions_of(out).empty());  // its write never happened: not sent
  CHECK(again.stage->counters().transitions_superseded == 1);
  // The unit comes again: counted once in the store, the transition decided and sent now.
  auto a = run(*again.stage, unit_of(r, {"s3://b/1", "alice", 0, 1}), "s3://b/1");
  REQUIRE(transitions_of(a).size() == 1);
  CHECK(store.count(shared_alarm_key(r), "", ms_at(10, 0, 0) / 1000) == 1);
  CHECK(store.won() == 1);
  // And it is not sent a third time by the next resend round.
  out.clear();
  again.stage->tick(alarms::test::hms(10, 0, 40), out);
  CHECK(transitions_of(out).empty());
}

TEST_CASE("shared alarms: a transition written whose answer was lost is still notified, once") {
  rules::Rule r = alarm_rule(std::string(kCount) + kSumAlarm);
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 0, 30));
  trailwarden::testing::MemoryAlarmStore store;
  trailwarden::test::TempDir dir;
  JournaledAgent a(dir.path + "/alarms.journal", r, clock, {}, &store);
  store.lose_next_transition_answer();
  auto first = run(*a.stage, unit_of(r, {"s3://b/1", "alice", 0, 1}), "s3://b/1");
  CHECK(transitions_of(first).empty());  // the write's outcome is unknown here
  CHECK(store.state(shared_alarm_key(r)) == "ALARM");
  // The resend round asks the store: the state names it; sent.
  std::vector<AlertRecord> out;
  a.stage->tick(alarms::test::hms(10, 0, 31), out);
  REQUIRE(transitions_of(out).size() == 1);
  CHECK(field(out[0].ocsf, "/unmapped/trailwarden/alarm/new_state") == "ALARM");
  a.stage->delivered(out);
  // The period's evaluation does not decide it again; the OK comes once.
  out.clear();
  a.stage->tick(alarms::test::hms(10, 6, 40), out);
  REQUIRE(transitions_of(out).size() == 1);
  CHECK(field(out[0].ocsf, "/unmapped/trailwarden/alarm/new_state") == "OK");
  CHECK(store.won() == 2);
}

TEST_CASE("shared alarms: an instance whose registration failed is registered by the next "
          "index round, so the other agents learn it") {
  rules::Rule r = per_user_rule();
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 10, 0));
  trailwarden::testing::MemoryAlarmStore store;
  Agent a(r, clock, &store), b(r, clock, &store);
  store.fail_next_registers(1);
  a.take(r, {"s3://b/1", "bob", 1, 1});
  std::vector<store::IndexedInstance> entries;
  REQUIRE(store.list_instances(shared_alarm_key(r), entries).ok);
  CHECK(entries.empty());
  a.tick(alarms::test::hms(10, 10, 1));  // the index round registers bob
  REQUIRE(store.list_instances(shared_alarm_key(r), entries).ok);
  CHECK(entries.size() == 1);
  b.take(r, {"s3://b/2", "carol", 1, 1});
  b.tick(alarms::test::hms(10, 10, 1));
  CHECK(b.stage->counters().instances_discovered == 1);
  CHECK(b.stage->instances("r1") == 2);
}

TEST_CASE("shared alarms: table content no agent would write (times out of range, a dimension "
          "key of another alarm, a state that is not one) is skipped, never trusted") {
  rules::Rule r = per_user_rule();
  trailwarden::testing::ManualClock clock(alarms::test::hms(10, 10, 0));
  trailwarden::testing::MemoryAlarmStore store;
  const std::string alarm = shared_alarm_key(r);
  CHECK(alarm == "r1#60s-2of3-Sum-l600");
  const std::string alice = dimension_key({"arn:aws:iam::111122223333:user/alice"});
  store::IndexedInstance e{alarm, dimension_key({"arn:aws:iam::111122223333:user/bob"}),
                           INT64_MAX / 2, 0};
  REQUIRE(store.register_instance(e).ok);
  e.dimensions_key = "7:a";  // not a dimension key
  REQUIRE(store.register_instance(e).ok);
  e.dimensions_key = dimension_key({"x", "y"});  // two values for an alarm of one dimension
  e.first_period = 0;
  REQUIRE(store.register_instance(e).ok);
  // alice's state: decided "at" a time far outside any usable one, with a state name no agent
  // writes.
  store::TransitionRequest t;
  t.alarm_key = alarm;
  t.dimensions_key = alice;
  t.to_state = "PANIC";
  t.range_end = INT64_MIN / 2;
  t.changed_at = INT64_MAX / 4;
  t.uid = std::string(100000, 'u');
  store::TransitionOutcome o{};
  REQUIRE(store.transition(t, o).ok);

  Agent a(r, clock, &store);
  a.take(r, {"s3://b/1", "alice", 1, 3});  // reads alice's state before early firing
  a.take(r, {"s3://b/2", "alice", 2, 3});  // the second breaching minute: ALARM
  a.tick(alarms::test::hms(12, 0, 0));
  CHECK(a.stage->counters().instances_discovered == 0);
  CHECK(a.stage->instances("r1") == 1);
  // alice's stored state is taken as INSUFFICIENT_DATA; the early ALARM's write, from the
  // version read, wins; her OK follows.
  std::multiset<std::string> got;
  for (const AlertRecord& x : a.notified) got.insert(field(x.ocsf, "/unmapped/trailwarden/alarm/new_state"));
  CHECK(got == std::multiset<std::string>{"ALARM", "OK"});
}
