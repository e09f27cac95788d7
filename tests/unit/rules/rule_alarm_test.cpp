// Rule files carrying a metric and an alarm: load_rule_file fills Rule::metric_alarm,
// alarm_enabled and alert_on; the alarm selectors, the alarm-name check and the one-line
// summary the listings print (agent/rules/rule.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "agent/rules/rule.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::rules;

namespace {

const char* const kRule =
    "[[rules]]\nid = \"logins\"\ntitle = \"t\"\n"
    "pattern = '{ ($.eventName = ConsoleLogin) && ($.errorMessage = \"Failed authentication\") }'\n";

const char* const kAlarm =
    "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 5\n"
    "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n";

std::string error_of(const std::string& toml, bool default_alarm_enabled = true) {
  try {
    load_rule_file(toml, "my.toml", true, default_alarm_enabled);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

Rule only_rule(const std::string& toml, bool default_alarm_enabled = true) {
  auto rules = load_rule_file(toml, "my.toml", true, default_alarm_enabled);
  REQUIRE(rules.size() == 1);
  return rules[0];
}

std::string conf_rules(const std::string& name) {
  return test::read_file(test::data_path("../../conf/rules/" + name));
}

}  // namespace

TEST_CASE("rule files: [rules.metric] and [rules.alarm] fill the rule's metric and alarm") {
  const Rule r = only_rule(std::string(kRule) +
                           "[rules.metric]\nname = \"ConsoleLoginFailures\"\nvalue = 1\n"
                           "unit = \"Count\"\ndimensions = { user = \"$.userIdentity.userName\" }\n" +
                           kAlarm);
  REQUIRE(r.metric_alarm);
  CHECK(r.metric_alarm->metric.name == "ConsoleLoginFailures");
  CHECK(r.metric_alarm->metric.unit == "Count");
  REQUIRE(r.metric_alarm->metric.dimensions.size() == 1);
  CHECK(r.metric_alarm->metric.dimensions[0].selector_text == "$.userIdentity.userName");
  CHECK(r.metric_alarm->alarm.name == "logins");  // the rule id
  CHECK(r.metric_alarm->alarm.threshold == 5);
  // A rule file's alarm is on, and notifies per transition (CloudWatch's chain), not per record.
  CHECK(r.alarm_enabled);
  CHECK(r.alert_on == AlertOn::kAlarm);
  CHECK(r.counts_for_alarm());
  CHECK_FALSE(r.alerts_per_record());
  CHECK(r.alerts_per_transition());
}

TEST_CASE("rule files: metric and alarm as inline tables are the same thing") {
  const Rule sub = only_rule(std::string(kRule) + "[rules.metric]\nname = \"M\"\nvalue = 2\n" + kAlarm);
  const Rule in = only_rule(
      std::string(kRule) +
      "metric = { name = \"M\", value = 2 }\n"
      "alarm = { statistic = \"Sum\", period = 300, evaluation_periods = 1, threshold = 5, "
      "comparison_operator = \"GreaterThanOrEqualToThreshold\" }\n");
  REQUIRE(sub.metric_alarm);
  REQUIRE(in.metric_alarm);
  CHECK(in.metric_alarm->metric.name == sub.metric_alarm->metric.name);
  CHECK(in.metric_alarm->metric.value.literal == 2);
  CHECK(in.metric_alarm->alarm.period_seconds == sub.metric_alarm->alarm.period_seconds);
  CHECK(in.metric_alarm->alarm.threshold == sub.metric_alarm->alarm.threshold);
  CHECK(in.alert_on == sub.alert_on);
  CHECK(in.alarm_enabled == sub.alarm_enabled);
}

TEST_CASE("rule files: an alarm without [rules.metric] counts 1 per record; no alarm, no change") {
  const Rule r = only_rule(std::string(kRule) + kAlarm);
  REQUIRE(r.metric_alarm);
  CHECK(r.metric_alarm->metric.name == "logins");
  CHECK(r.metric_alarm->metric.value.literal == 1);
  const Rule plain = only_rule(kRule);
  CHECK_FALSE(plain.metric_alarm);
  CHECK(plain.alert_on == AlertOn::kRecord);
  CHECK_FALSE(plain.counts_for_alarm());
  CHECK(plain.alerts_per_record());
  CHECK_FALSE(plain.alerts_per_transition());
}

TEST_CASE("rule files: alert = record | alarm | both") {
  for (const auto& [name, want] : {std::pair{"record", AlertOn::kRecord},
                                   std::pair{"alarm", AlertOn::kAlarm},
                                   std::pair{"both", AlertOn::kBoth}}) {
    CAPTURE(name);
    const Rule r = only_rule(std::string(kRule) + "alert = \"" + name + "\"\n" + kAlarm);
    CHECK(r.alert_on == want);
    CHECK(alert_on_name(r.alert_on) == name);
    CHECK(r.alerts_per_record() == (want != AlertOn::kAlarm));
    CHECK(r.alerts_per_transition() == (want != AlertOn::kRecord));
  }
  // Keys after [rules.alarm] belong to the alarm: `alert` written there is refused, not ignored.
  CHECK(error_of(std::string(kRule) + kAlarm + "alert = \"both\"\n") ==
        "my.toml:11:1: alarm: unknown key 'alert'");
}

TEST_CASE("rule files: errors in metric, alarm and alert name the file, line and column") {
  CHECK(error_of(std::string(kRule) + kAlarm + "treat_missing = \"ignore\"\n") ==
        "my.toml:11:1: alarm: unknown key 'treat_missing'");
  CHECK(error_of(std::string(kRule) + kAlarm + "treat_missing_data = \"zero\"\n") ==
        "my.toml:11:22: alarm: 'treat_missing_data' must be missing, notBreaching, breaching or "
        "ignore");
  CHECK(error_of(std::string(kRule) + "alarm = { statistic = \"Sum\", period = 45, "
                                      "evaluation_periods = 1, threshold = 1, "
                                      "comparison_operator = \"GreaterThanThreshold\" }\n") ==
        "my.toml:5:39: alarm: 'period' = 45 must be 10, 30 or a multiple of 60 seconds");
  CHECK(error_of(std::string(kRule) + "[rules.metric]\nvalue = 1\nunits = \"Count\"\n" + kAlarm) ==
        "my.toml:7:1: metric: unknown key 'units'");
  CHECK(error_of(std::string(kRule) + "alarm = 5\n") ==
        "my.toml:5:9: 'alarm' must be a table ([rules.alarm])");
  CHECK(error_of(std::string(kRule) + "[rules.metric]\nvalue = 1\n").find(
            "my.toml:5:1: rule 'logins': a metric needs an alarm") == 0);
  CHECK(error_of(std::string(kRule) + "alert = \"alarm\"\n") ==
        "my.toml:5:9: rule 'logins': 'alert' needs an alarm ([rules.alarm]); a rule without one "
        "alerts per record");
  CHECK(error_of(std::string(kRule) + "alert = \"transition\"\n" + kAlarm) ==
        "my.toml:5:9: unknown alert 'transition' (expected \"record\", \"alarm\" or \"both\")");
  CHECK(error_of(std::string(kRule) + "alert = true\n" + kAlarm) ==
        "my.toml:5:9: 'alert' must be a string");
  CHECK(error_of(std::string(kRule) + kAlarm + "enabled = \"yes\"\n") ==
        "my.toml:11:11: alarm: 'enabled' must be true or false");
  // The rule's pattern kind reaches the metric's checks: a text pattern has no fields.
  CHECK(error_of("[[rules]]\nid = \"t\"\ntitle = \"t\"\npattern = \"ERROR\"\n"
                 "metric = { dimensions = { user = \"$.user\" } }\n" +
                 std::string(kAlarm))
            .find("my.toml:5:25: metric: rule 't': dimensions need a JSON or space-delimited") == 0);
}

TEST_CASE("rule files: [rules.alarm] enabled overrides the loader's default") {
  // A rule file's default: on. Built-in packs load with the default off.
  CHECK(only_rule(std::string(kRule) + kAlarm).alarm_enabled);
  CHECK_FALSE(only_rule(std::string(kRule) + kAlarm, /*default_alarm_enabled=*/false).alarm_enabled);
  CHECK_FALSE(only_rule(std::string(kRule) + kAlarm + "enabled = false\n").alarm_enabled);
  CHECK(only_rule(std::string(kRule) + kAlarm + "enabled = true\n", false).alarm_enabled);
  // An alarm that is off leaves the rule alerting per record, whatever `alert` says.
  const Rule off = only_rule(std::string(kRule) + kAlarm + "enabled = false\n");
  CHECK(off.alert_on == AlertOn::kAlarm);
  CHECK_FALSE(off.counts_for_alarm());
  CHECK(off.alerts_per_record());
  CHECK_FALSE(off.alerts_per_transition());
  // The rule's own `enabled` is the rule's, not the alarm's.
  const Rule rule_off = only_rule(std::string(kRule) + "enabled = false\n" + kAlarm);
  CHECK_FALSE(rule_off.enabled);
  CHECK(rule_off.alarm_enabled);
  CHECK_FALSE(rule_off.counts_for_alarm());
}

TEST_CASE("alarm selectors: enable a pack alarm, globs, disable after enable, typos are errors") {
  auto rules = load_builtin_pack("cis-aws-foundations");
  auto find = [&](const std::string& id) -> const Rule& {
    auto it = std::find_if(rules.begin(), rules.end(), [&](const Rule& r) { return r.id == id; });
    REQUIRE(it != rules.end());
    return *it;
  };
  CHECK(apply_alarm_selectors(rules, {"cis-4.9"}, {}).empty());
  CHECK(find("cis-4.9").alarm_enabled);
  CHECK(find("cis-4.9").counts_for_alarm());
  CHECK(find("cis-4.9").alerts_per_record());  // alert = "both"
  CHECK(find("cis-4.9").alerts_per_transition());
  CHECK_FALSE(find("cis-4.3").alarm_enabled);

  apply_selectors(rules, {"cis-*"}, {});
  CHECK(apply_alarm_selectors(rules, {"cis-4.1*"}, {"cis-4.1-v1.2"}).empty());
  for (const auto& r : rules) {
    CAPTURE(r.id);
    CHECK(r.alarm_enabled ==
          ((r.id.starts_with("cis-4.1") && r.id != "cis-4.1-v1.2") || r.id == "cis-4.9"));
  }
  CHECK_THROWS_WITH_AS(apply_alarm_selectors(rules, {"cis-4.99"}, {}),
                       "alarm selector 'cis-4.99' matches no rule with an alarm (see 'trailwarden "
                       "rules list', column ALARM)",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(apply_alarm_selectors(rules, {}, {"cis_4.9"}),
                       doctest::Contains("alarm selector 'cis_4.9' matches no rule"),
                       std::runtime_error);
}

TEST_CASE("alarm selectors: a rule without an alarm is no match") {
  auto rules = load_rule_file(std::string(kRule) + "[[rules]]\nid = \"with\"\ntitle = \"t\"\n"
                                                   "pattern = \"StopLogging\"\n" + kAlarm,
                              "my.toml", true);
  REQUIRE(rules.size() == 2);
  CHECK_THROWS_WITH_AS(apply_alarm_selectors(rules, {"logins"}, {}),
                       doctest::Contains("'logins' matches no rule with an alarm"),
                       std::runtime_error);
  // A glob matching both is fine: it selects the one with an alarm.
  CHECK(apply_alarm_selectors(rules, {}, {"*"}).empty());
  CHECK_FALSE(rules[1].alarm_enabled);
  CHECK_FALSE(rules[0].alarm_enabled);
}

TEST_CASE("alarm selectors: an alarm switched on for a disabled rule is reported") {
  auto rules = load_builtin_pack("cis-aws-foundations");  // only cis-4.9 enabled
  CHECK(apply_alarm_selectors(rules, {"cis-4.3", "cis-4.9"}, {}) ==
        std::vector<std::string>{"cis-4.3"});
  CHECK(apply_alarm_selectors(rules, {"cis-4.3"}, {"cis-4.3"}).empty());  // switched off again
  // A glob asks for the alarms of whichever rules run: no report for the others.
  CHECK(apply_alarm_selectors(rules, {"cis-*"}, {}).empty());
  CHECK(std::find_if(rules.begin(), rules.end(), [](const Rule& r) { return r.id == "cis-4.3"; })
            ->alarm_enabled);
}

TEST_CASE("alarm names: two running alarms cannot share a name; idle ones may") {
  const std::string two =
      "[[rules]]\nid = \"a\"\ntitle = \"t\"\npattern = \"StopLogging\"\n"
      "alarm = { name = \"same\", statistic = \"Sum\", period = 60, evaluation_periods = 1, "
      "threshold = 1, comparison_operator = \"GreaterThanThreshold\" }\n"
      "[[rules]]\nid = \"b\"\ntitle = \"t\"\npattern = \"StartLogging\"\n"
      "alarm = { name = \"same\", statistic = \"Sum\", period = 60, evaluation_periods = 1, "
      "threshold = 1, comparison_operator = \"GreaterThanThreshold\" }\n";
  auto rules = load_rule_file(two, "my.toml", true);
  CHECK_THROWS_WITH_AS(check_alarm_names(rules),
                       "my.toml:6:1: rule 'b': alarm name 'same' is already the alarm of rule 'a' "
                       "(my.toml:1:1); an alarm's name identifies its state and notifications, so "
                       "two running alarms need two names",
                       std::runtime_error);
  apply_alarm_selectors(rules, {}, {"b"});
  CHECK_NOTHROW(check_alarm_names(rules));
  apply_alarm_selectors(rules, {"b"}, {});
  apply_selectors(rules, {}, {"a"});  // a disabled rule's alarm does not run either
  CHECK_NOTHROW(check_alarm_names(rules));
}

TEST_CASE("alarm_summary and alarm_state: the one line of the listings") {
  const Rule r = only_rule(std::string(kRule) + kAlarm);
  CHECK(alarm_summary(r) == "Sum 300s >= 5, 1 of 1");
  CHECK(alarm_state(r) == "on");
  const Rule m_of_n = only_rule(
      std::string(kRule) +
      "alarm = { statistic = \"Average\", period = 60, evaluation_periods = 5, "
      "datapoints_to_alarm = 3, threshold = 2.5, comparison_operator = \"LessThanThreshold\", "
      "enabled = false }\n");
  CHECK(alarm_summary(m_of_n) == "Average 60s < 2.5, 3 of 5");
  CHECK(alarm_state(m_of_n) == "off");
  const Rule none = only_rule(kRule);
  CHECK(alarm_summary(none) == "-");
  CHECK(alarm_state(none) == "-");
}

TEST_CASE("conf/rules/examples-alarms.toml loads, with the CIS pack, and its alarms run") {
  auto rules = load_builtin_pack("cis-aws-foundations");
  auto examples = load_rule_file(conf_rules("examples-alarms.toml"), "examples-alarms.toml", true);
  REQUIRE(examples.size() == 2);
  const Rule& logins = examples[0];
  CHECK(logins.id == "example-console-login-failures-per-user");
  REQUIRE(logins.metric_alarm);
  CHECK(logins.metric_alarm->metric.name == "ConsoleLoginFailures");
  REQUIRE(logins.metric_alarm->metric.dimensions.size() == 1);
  CHECK(logins.metric_alarm->metric.dimensions[0].name == "user");
  CHECK(alarm_summary(logins) == "Sum 300s >= 5, 1 of 1");
  CHECK(logins.metric_alarm->alarm.treat_missing_data == alarms::TreatMissingData::kNotBreaching);
  CHECK(logins.counts_for_alarm());
  CHECK(logins.alert_on == AlertOn::kAlarm);
  const Rule& config = examples[1];
  REQUIRE(config.metric_alarm);
  CHECK(config.metric_alarm->metric.name == "aws_config_changes_metric");
  CHECK(config.metric_alarm->metric.namespace_ == "CISBenchmark");
  CHECK(alarm_summary(config) == "Sum 300s >= 1, 1 of 1");
  CHECK(config.metric_alarm->alarm.treat_missing_data == alarms::TreatMissingData::kMissing);
  CHECK(config.counts_for_alarm());
  // Together with every pack rule and alarm switched on: no id or alarm name clashes.
  rules.insert(rules.end(), examples.begin(), examples.end());
  apply_selectors(rules, {"*"}, {});
  apply_alarm_selectors(rules, {"*"}, {});
  CHECK_NOTHROW(check_alarm_names(rules));
}
