// The shared alarm store's period retention (cli/run_wiring.h): a day, or longer for an alarm
// whose lateness and evaluation range reach further, so no period item expires while an
// evaluation may still read it or a redelivery may still come.
#include <doctest/doctest.h>

#include "agent/cli/run_wiring.h"
#include "tests/unit/alarms/alarm_stage_test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms::test;

TEST_CASE("shared alarm store: period items outlive the longest alarm's lateness and range") {
  CHECK(cli::shared_alarm_retention({}) == std::chrono::hours(24));
  rules::Rule short_alarm = alarm_rule(std::string(kCount) + kSumAlarm);  // 60 s, lateness 120
  CHECK(cli::shared_alarm_retention({&short_alarm}) == std::chrono::hours(24));
  rules::Rule day = alarm_rule(
      std::string(kCount) +
      "[alarm]\nstatistic = \"Sum\"\nperiod = 3600\nevaluation_periods = 24\nthreshold = 1\n"
      "lateness_seconds = 86400\ncomparison_operator = \"GreaterThanOrEqualToThreshold\"\n");
  // 86400 + 3600 * (26 + 1) + 3600
  CHECK(cli::shared_alarm_retention({&short_alarm, &day}) == std::chrono::seconds(187200));
  day.alarm_enabled = false;  // an alarm that is off counts for nothing
  CHECK(cli::shared_alarm_retention({&short_alarm, &day}) == std::chrono::hours(24));
}
