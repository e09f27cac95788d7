// Parsing a rule's [rules.metric] / [rules.alarm]: defaults, and every CloudWatch constraint
// refused with "origin:line:column: message".
#include <doctest/doctest.h>

#include <toml++/toml.h>

#include "agent/rules/metric_alarm.h"

using namespace trailwarden::alarms;

namespace {

// The first rule of a rule file.
std::optional<MetricAlarmSpec> parse_rule(const std::string& file,
                                          trailwarden::rules::Pattern::Kind kind =
                                              trailwarden::rules::Pattern::Kind::kJson) {
  toml::table doc = toml::parse(std::string_view(file), std::string("rules.toml"));
  const toml::table& rule = *(*doc["rules"].as_array())[0].as_table();
  return parse_metric_alarm(rule, "rules.toml", "cis-4.9", kind);
}

std::string error_of(const std::string& file,
                     trailwarden::rules::Pattern::Kind kind = trailwarden::rules::Pattern::Kind::kJson) {
  try {
    parse_rule(file, kind);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kHead = "[[rules]]\nid = \"cis-4.9\"\n";
const char* kAlarm =
    "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 1\n"
    "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n";

}  // namespace

TEST_CASE("parse: a rule without metric or alarm has none") {
  CHECK_FALSE(parse_rule(std::string(kHead) + "title = \"x\"\n"));
}

TEST_CASE("parse: the CIS 4.9 alarm with CloudWatch's defaults") {
  auto spec = parse_rule(std::string(kHead) + kAlarm);
  REQUIRE(spec);
  CHECK(spec->metric.name == "cis-4.9");
  CHECK(spec->metric.namespace_ == "CloudTrailMetrics");
  CHECK_FALSE(spec->metric.value.is_selector);
  CHECK(spec->metric.value.literal == 1);
  CHECK(spec->metric.unit == "None");
  CHECK(spec->alarm.name == "cis-4.9");
  CHECK(spec->alarm.statistic == Statistic::kSum);
  CHECK(spec->alarm.period_seconds == 300);
  CHECK(spec->alarm.datapoints_to_alarm == 1);
  CHECK(spec->alarm.treat_missing_data == TreatMissingData::kMissing);
  CHECK(spec->alarm.lateness_seconds == 600);
  CHECK(spec->alarm.notify.contains(AlarmState::kAlarm));
  CHECK(spec->alarm.notify.contains(AlarmState::kOk));
  CHECK_FALSE(spec->alarm.notify.contains(AlarmState::kInsufficientData));
  CHECK(spec->fires_early());
}

TEST_CASE("parse: every key, as sub-tables and as inline tables") {
  const std::string sub = std::string(kHead) +
      "[rules.metric]\nname = \"ConsoleLoginFailures\"\nnamespace = \"Security/Trail\"\n"
      "value = \"$.additionalEventData.n\"\nunit = \"Count\"\n"
      "dimensions = { user = \"$.userIdentity.arn\", account = \"$.recipientAccountId\" }\n"
      "[rules.alarm]\nname = \"Failed logins\"\ndescription = \"5 in 5 minutes\"\n"
      "statistic = \"SampleCount\"\nperiod = 60\nevaluation_periods = 5\ndatapoints_to_alarm = 2\n"
      "threshold = 5.5\ncomparison_operator = \"GreaterThanThreshold\"\n"
      "treat_missing_data = \"notBreaching\"\nlateness_seconds = 0\n"
      "notify = [\"ALARM\", \"INSUFFICIENT_DATA\"]\n";
  auto spec = parse_rule(sub);
  REQUIRE(spec);
  CHECK(spec->metric.name == "ConsoleLoginFailures");
  CHECK(spec->metric.namespace_ == "Security/Trail");
  CHECK(spec->metric.value.is_selector);
  CHECK(spec->metric.value.selector.size() == 2);
  REQUIRE(spec->metric.dimensions.size() == 2);
  CHECK(spec->metric.dimensions[0].name == "account");  // sorted by name
  CHECK(spec->metric.dimensions[1].selector_text == "$.userIdentity.arn");
  CHECK(spec->alarm.name == "Failed logins");
  CHECK(spec->alarm.statistic == Statistic::kSampleCount);
  CHECK(spec->alarm.evaluation_periods == 5);
  CHECK(spec->alarm.datapoints_to_alarm == 2);
  CHECK(spec->alarm.threshold == 5.5);
  CHECK(spec->alarm.comparison == Comparison::kGreaterThanThreshold);
  CHECK(spec->alarm.treat_missing_data == TreatMissingData::kNotBreaching);
  CHECK(spec->alarm.lateness_seconds == 0);
  CHECK_FALSE(spec->alarm.notify.contains(AlarmState::kOk));
  CHECK(spec->alarm.notify.contains(AlarmState::kInsufficientData));

  auto inl = parse_rule(std::string(kHead) +
                        "metric = { value = \"2.5\" }\nalarm = { statistic = \"Average\", period = "
                        "10, evaluation_periods = 3, threshold = 0, comparison_operator = "
                        "\"LessThanThreshold\" }\n");
  REQUIRE(inl);
  CHECK(inl->metric.value.literal == 2.5);
  CHECK(inl->alarm.period_seconds == 10);
  CHECK(inl->alarm.datapoints_to_alarm == 3);  // default: evaluation_periods
}

TEST_CASE("parse: errors name the file, line and column") {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::string h = kHead;
  const std::string a = kAlarm;
  const Case cases[] = {
      {h + "[rules.metric]\nvalue = 1\n", "rules.toml:3:1: rule 'cis-4.9': a metric needs an alarm"},
      {h + "metric = 3\n" + a, "rules.toml:3:10: 'metric' must be a table"},
      {h + a + "period2 = 5\n", "rules.toml:9:1: alarm: unknown key 'period2'"},
      {h + a + "treat_missing_data = \"Missing\"\n",
       "rules.toml:9:22: alarm: 'treat_missing_data' must be missing, notBreaching, breaching or "
       "ignore"},
      {h + "[rules.alarm]\nstatistic = \"p99\"\n", "rules.toml:4:13: alarm: 'statistic' must be"},
      {h + "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 120\n",
       "rules.toml:3:1: alarm: missing required key 'evaluation_periods'"},
      {h + "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 90\n",
       "rules.toml:5:10: alarm: 'period' = 90 must be 10, 30 or a multiple of 60 seconds"},
      {h + "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 3600\nevaluation_periods = 25\n",
       "rules.toml:6:22: alarm: 'period' × 'evaluation_periods' = 90000 s exceeds one day"},
      {h + "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 0\n",
       "rules.toml:6:22: alarm: 'evaluation_periods' must be at least 1"},
      {h + "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 2\n"
           "datapoints_to_alarm = 3\n",
       "rules.toml:7:23: alarm: 'datapoints_to_alarm' must be between 1 and 'evaluation_periods' (2)"},
      {h + "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\n"
           "threshold = \"one\"\n",
       "rules.toml:7:13: alarm: 'threshold' must be a finite number"},
      {h + "[rules.alarm]\nstatistic = \"Sum\"\nperiod = 60\nevaluation_periods = 1\n"
           "threshold = 1\ncomparison_operator = \">=\"\n",
       "rules.toml:8:23: alarm: 'comparison_operator' must be GreaterThanOrEqualToThreshold"},
      {h + a + "lateness_seconds = -1\n",
       "rules.toml:9:20: alarm: 'lateness_seconds' must be between 0 and 86400"},
      {h + a + "notify = [\"OK\", \"FIRE\"]\n",
       "rules.toml:9:17: alarm: 'notify' may contain only"},
      {h + a + "name = \"caf\xc3\xa9\"\n", "rules.toml:9:8: alarm: 'name' must have 1 to 255 ASCII"},
      {h + "[rules.metric]\nvalue = \"$.\"\n" + a,
       "rules.toml:4:9: metric: 'value' = \"$.\" is not a JSON selector"},
      {h + "[rules.metric]\nvalue = \"many\"\n" + a,
       "rules.toml:4:9: metric: 'value' = \"many\" is neither a number nor"},
      {h + "[rules.metric]\nvalue = true\n" + a, "rules.toml:4:9: metric: 'value' must be"},
      {h + "[rules.metric]\nname = \"a:b\"\n" + a,
       "rules.toml:4:8: metric: 'name' must not contain ':', '*' or '$'"},
      {h + "[rules.metric]\nnamespace = \"AWS/Logs\"\n" + a,
       "rules.toml:4:13: metric: 'namespace' must not start with 'AWS/'"},
      {h + "[rules.metric]\nunit = \"Apples\"\n" + a, "rules.toml:4:8: metric: unknown unit 'Apples'"},
      {h + "[rules.metric]\ndimensions = { a = \"$.a\", b = \"$.b\", c = \"$.c\", d = \"$.d\" }\n" + a,
       "rules.toml:4:14: metric: at most 3 dimensions"},
      {h + "[rules.metric]\ndimensions = { a = \"userName\" }\n" + a,
       "rules.toml:4:20: metric: 'dimensions.a' = \"userName\" is not a JSON selector"},
      {h + "[rules.metric]\ndefault_value = 0\ndimensions = { a = \"$.a\" }\n" + a,
       "rules.toml:5:14: metric: 'dimensions' cannot be used together with 'default_value'"},
      {h + "[rules.metric]\ncolour = 1\n" + a, "rules.toml:4:1: metric: unknown key 'colour'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const std::string got = error_of(c.text);
    CHECK_MESSAGE(got.rfind(c.error, 0) == 0, got);
  }
  CHECK(error_of(h + "[rules.metric]\ndimensions = { a = \"$.a\" }\n" + a,
                 trailwarden::rules::Pattern::Kind::kText)
            .rfind("rules.toml:4:14: metric: rule 'cis-4.9': dimensions need a JSON", 0) == 0);
}
