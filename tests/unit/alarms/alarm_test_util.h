// Helpers for the alarm tests: specs written as rule TOML, and event times on 2026-12-04 (UTC).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <toml++/toml.h>

#include "agent/alarms/alarm_evaluator.h"
#include "agent/rules/metric_alarm.h"

namespace trailwarden::alarms::test {

// The rule's table holding `body` ("[metric]\n...\n[alarm]\n..."), parsed as rule "r1".
inline std::shared_ptr<const MetricAlarmSpec> spec_from(const std::string& body) {
  toml::table t = toml::parse(std::string_view(body), std::string("test.toml"));
  auto spec = parse_metric_alarm(t, "test.toml", "r1");
  if (!spec) throw std::runtime_error("no metric/alarm in test spec");
  return std::make_shared<const MetricAlarmSpec>(std::move(*spec));
}

// 2026-12-04 00:00:00 UTC plus `seconds`.
inline EventTime at(double seconds) {
  using namespace std::chrono;
  const auto day = sys_days{year{2026} / December / 4};
  return EventTime{duration_cast<EventTime::duration>(day.time_since_epoch()) +
                   duration_cast<EventTime::duration>(duration<double>(seconds))};
}
// hh:mm:ss on that day.
inline EventTime hms(int h, int m, double s = 0) { return at(h * 3600 + m * 60 + s); }

}  // namespace trailwarden::alarms::test
