// libFuzzer target: the alarm stage (agent/alarms/alarm_stage.h) fed hostile records. Each line of
// the input is one matching record: two bytes pick its rule and whether a new unit starts
// there, the `tick` or `finish` of the engine, six bytes its eventTime (anywhere in the years
// 1-9999 that parse_event_time accepts), and the rest its raw JSON, whose fields give the metric
// value and the dimensions. Nothing may crash or hang (ASan + UBSan), and the stage keeps what its
// header promises: at most max_instances_per_rule instances per rule whatever the dimension
// values; per-record alerts dropped only for alert = "alarm"; every transition alert an alarm
// kind with an OCSF finding and a change that are valid JSON, which survives the buffer
// encoding. With the first byte odd, the records go to two stages sharing one store
// (tests/fakes/memory_alarm_store.h, the shared mode of alarm_stage_shared.cpp), units
// alternating between them, the store failing now and then: a unit that fails is retried by the
// other stage and must then pass.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "agent/alarms/alarm_stage.h"
#include "agent/core/alert_record.h"
#include "agent/rules/metric_alarm.h"
#include "agent/rules/rule.h"
#include "tests/fakes/memory_alarm_store.h"

using namespace trailwarden;

namespace {

constexpr size_t kMaxInstances = 16;
constexpr int64_t kMinTimeMs = -62135596800000;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimeMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

rules::Rule make_rule(const std::string& id, const char* table, rules::AlertOn on) {
  toml::table t = toml::parse(table);
  rules::Rule r;
  r.id = id;
  r.title = "fuzz " + id;
  r.pack = "fuzz.toml";
  r.metric_alarm = std::make_shared<const alarms::MetricAlarmSpec>(
      *alarms::parse_metric_alarm(t, "fuzz.toml", id));
  r.alarm_enabled = true;
  r.alert_on = on;
  return r;
}

struct Fixture {
  std::vector<rules::Rule> rules;
  Fixture() {
    // Dimensions from two fields, a selected value, M of N with missing data breaching.
    rules.push_back(make_rule("by-user", R"(
        [metric]
        value = "$.n"
        dimensions = { user = "$.userIdentity.userName", ip = "$.sourceIPAddress" }
        [alarm]
        statistic = "Sum"
        period = 60
        evaluation_periods = 3
        datapoints_to_alarm = 2
        threshold = 2
        comparison_operator = "GreaterThanOrEqualToThreshold"
        treat_missing_data = "breaching"
        lateness_seconds = 60
        notify = ["ALARM", "OK", "INSUFFICIENT_DATA"]
        )", rules::AlertOn::kAlarm));
    // No dimensions, a default value, a statistic that cannot fire early.
    rules.push_back(make_rule("average", R"(
        [metric]
        value = "$.n"
        default_value = 0
        [alarm]
        statistic = "Average"
        period = 10
        evaluation_periods = 2
        threshold = 5
        comparison_operator = "LessThanThreshold"
        treat_missing_data = "ignore"
        )", rules::AlertOn::kBoth));
  }
};

void check_transition(const AlertRecord& a) {
  if (a.kind != AlertKind::kAlarm || a.alarm.empty() || a.ocsf.empty()) std::abort();
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(a.ocsf).get(e) != simdjson::SUCCESS) std::abort();
  if (p.parse(a.alarm).get(e) != simdjson::SUCCESS) std::abort();
  std::string bytes;
  a.encode(bytes);
  AlertRecord back;
  if (!AlertRecord::decode(bytes, back) || back.alarm != a.alarm || back.ocsf != a.ocsf ||
      back.kind != AlertKind::kAlarm)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fixture;
  std::vector<const rules::Rule*> rule_ptrs;
  for (const auto& r : fixture.rules) rule_ptrs.push_back(&r);
  alarms::AlarmStageOptions options;
  options.max_instances_per_rule = kMaxInstances;
  const bool shared = size > 0 && (data[0] & 1);
  trailwarden::testing::MemoryAlarmStore store;
  alarms::AlarmStage first(rule_ptrs, options, system_clock(), nullptr, shared ? &store : nullptr);
  alarms::AlarmStage second(rule_ptrs, options, system_clock(), nullptr, &store);
  size_t units = 0;
  auto stage_for = [&](size_t n) -> alarms::AlarmStage& {
    return shared && n % 2 ? second : first;
  };

  std::vector<AlertRecord> alerts;
  std::vector<int64_t> slots;
  size_t records_in = 0;
  bool fail_store = false;
  auto flush = [&] {
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    size_t kept_records = 0, dropped_expected = 0;
    for (const auto& a : alerts) dropped_expected += a.rule_id == "by-user" ? 1 : 0;
    const std::string identity = "unit-" + std::to_string(units);
    if (shared && fail_store) {
      // The store fails: the unit fails, unchanged; the other stage retries it.
      std::vector<AlertRecord> copy = alerts;
      std::vector<int64_t> copy_slots = slots;
      StageUnit unit{copy, copy_slots, identity};
      store.fail_next(1);
      (void)stage_for(units).process(unit);  // fails, or passes if another call took the failure
      store.fail_next(0);
      ++units;
      fail_store = false;
    }
    StageUnit unit{alerts, slots, identity};
    // No failure injected now: nothing can fail.
    if (!stage_for(units++).process(unit).empty()) std::abort();
    for (const auto& a : alerts) {
      if (a.kind == AlertKind::kAlarm) check_transition(a);
      else ++kept_records;
    }
    // by-user alerts on alarms only: its records go; the others' stay.
    if (kept_records != records_in - dropped_expected) std::abort();
    alerts.clear();
    slots.clear();
    records_in = 0;
  };

  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (line.size() < 8) continue;
    const auto flags = static_cast<uint8_t>(line[0]);
    uint64_t t = 0;
    for (size_t i = 2; i < 8; ++i) t = t << 8 | static_cast<uint8_t>(line[i]);
    const int64_t time_ms =
        kMinTimeMs + static_cast<int64_t>(t % static_cast<uint64_t>(kMaxTimeMs - kMinTimeMs));
    if (flags & 0x10) flush();
    if (flags & 0x08) fail_store = true;
    if (flags & 0x20) {
      // The wall clock of a running agent: 1970 to 2096 (system_clock counts nanoseconds).
      const int64_t wall_ms = static_cast<int64_t>(t % 4'000'000'000'000);
      std::vector<AlertRecord> out;
      stage_for(t).tick(Clock::Wall(std::chrono::milliseconds(wall_ms)), out);
      for (const auto& a : out) check_transition(a);
    }
    AlertRecord a;
    a.rule_id = fixture.rules[flags & 1].id;
    a.kind = AlertKind::kRecord;
    a.uid = "uid-" + std::to_string(records_in);
    a.event_id = std::string(line.substr(8, 36));
    a.time_ms = (flags & 0x40) ? 0 : time_ms;  // some without a usable eventTime
    a.raw = std::string(line.substr(8));
    a.ocsf = "{}";
    alerts.push_back(std::move(a));
    slots.push_back(time_ms - ((time_ms % kEventSlotMs) + kEventSlotMs) % kEventSlotMs);
    ++records_in;
  }
  flush();
  for (alarms::AlarmStage* stage : {&first, &second}) {
    std::vector<AlertRecord> out;
    stage->finish(out);
    for (const auto& a : out) check_transition(a);
    for (const auto& r : fixture.rules)
      if (stage->instances(r.id) > kMaxInstances) std::abort();
  }
  return 0;
}
