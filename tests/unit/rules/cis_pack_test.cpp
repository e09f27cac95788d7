// The built-in CIS pack against hand-verified expectations for every sample record
// (tests/data/cis_expectations.json): no false negatives, no false positives; and the
// benchmark metric filter and alarm every control carries.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "agent/rules/matcher.h"
#include "agent/rules/rule.h"
#include "tests/unit/rules/rule_data.h"

using namespace trailwarden;
using namespace trailwarden::rules;

TEST_CASE("built-in pack loads with 4.9 the only rule enabled") {
  auto rules = load_builtin_pack("cis-aws-foundations");
  CHECK(rules.size() >= 17);
  std::set<std::string> ids;
  for (const auto& r : rules) {
    ids.insert(r.id);
    CHECK_FALSE(r.title.empty());
    CHECK_FALSE(r.references.empty());
    CHECK(r.enabled == (r.id == "cis-4.9"));
  }
  for (int i = 1; i <= 15; ++i) CHECK(ids.count("cis-4." + std::to_string(i)) == 1);
  CHECK(ids.count("cis-4.2-sso") == 1);
}

TEST_CASE("every sample record matches exactly the expected CIS rules") {
  auto rules = load_builtin_pack("cis-aws-foundations");
  std::vector<const Rule*> all;
  for (const auto& r : rules) all.push_back(&r);
  RuleMatcher matcher(all);
  MatchSession session(matcher, DecodeLimits{});

  std::map<std::pair<std::string, size_t>, std::string> records;
  for (auto& r : test::load_sample_records()) records[{r.file, r.index}] = r.json;

  simdjson::dom::parser parser;
  const std::string text = test::read_data("cis_expectations.json");
  simdjson::dom::element root = parser.parse(text);
  size_t cases = 0, positives = 0;
  for (simdjson::dom::element c : root["cases"].get_array()) {
    std::string file(c["file"].get_string().value());
    size_t index = static_cast<size_t>(c["index"].get_int64().value());
    std::set<std::string> expected;
    for (simdjson::dom::element m : c["matches"].get_array()) expected.insert(std::string(m.get_string().value()));
    auto it = records.find({file, index});
    REQUIRE_MESSAGE(it != records.end(), file, "#", index);
    // Run the record through the real path: prefilter on the text, then evaluation.
    std::string padded = it->second + std::string(64, '\0');
    std::string_view raw(padded.data(), it->second.size());
    session.begin(raw);
    std::set<std::string> got;
    CHECK(session.match(raw, [&](size_t slot, std::string_view, const simdjson::dom::element*) {
      got.insert(all[slot]->id);
    }));
    CAPTURE(file);
    CAPTURE(index);
    CHECK(got == expected);
    ++cases;
    positives += expected.size();
  }
  CHECK(cases == records.size());
  CHECK(positives > 100);
}

TEST_CASE("rule files: format errors carry file:line:column") {
  auto err_of = [](const std::string& toml) {
    try {
      load_rule_file(toml, "my.toml", true);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err_of("[[rules]]\nid = \"a\"\ntitle = \"t\"\npattern = \"{ $.a = }\"\n")
            .find("my.toml:4:") == 0);
  CHECK(err_of("[[rules]]\nid = \"a\"\ntitle = \"t\"\npattern = \"{ $.a = }\"\n").find("column 9") !=
        std::string::npos);
  CHECK(err_of("[[rules]]\nid = \"a\"\ntitle = \"t\"\npattern = \"X\"\nsevrity = \"low\"\n")
            .find("my.toml:5:1: unknown key 'sevrity'") == 0);
  CHECK(err_of("[[rules]]\nid = \"a\"\ntitle = \"t\"\npattern = \"X\"\nseverity = \"urgent\"\n")
            .find("unknown severity") != std::string::npos);
  CHECK(err_of("[[rules]]\nid = \"a\"\npattern = \"X\"\n").find("missing required key 'title'") !=
        std::string::npos);
  CHECK(err_of("[[rules]]\nid = \"a b\"\ntitle = \"t\"\npattern = \"X\"\n").find("may contain only") !=
        std::string::npos);
  CHECK(err_of("[[rules]]\nid = \"a\"\ntitle = \"t\"\npattern = \"X\"\n[[rules]]\nid = \"a\"\ntitle = "
               "\"t\"\npattern = \"X\"\n")
            .find("duplicate rule id") != std::string::npos);
  CHECK(err_of("[[rules]\n").find("my.toml:1:") == 0);
  auto ok = load_rule_file("[[rules]]\nid = \"mine\"\ntitle = \"t\"\npattern = \"StopLogging\"\n", "f", true);
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].enabled);
  CHECK(ok[0].severity == Severity::kMedium);
}

TEST_CASE("selectors: globs, order, and typos are errors") {
  auto rules = load_builtin_pack("cis-aws-foundations");
  apply_selectors(rules, {"cis-*"}, {"cis-4.1*"});
  for (const auto& r : rules) CHECK(r.enabled == !(r.id.starts_with("cis-4.1")));
  CHECK_THROWS_WITH_AS(apply_selectors(rules, {"cis-9.9"}, {}),
                       doctest::Contains("matches no rule"), std::runtime_error);
}

TEST_CASE("every pack rule carries the benchmark's metric filter and alarm, off by default") {
  // Metric names as the benchmark's remediation text names them (metricNamespace='CISBenchmark',
  // metricValue=1); the alarm of its step 4: --statistic Sum --period 300 --threshold 1
  // --comparison-operator GreaterThanOrEqualToThreshold --evaluation-periods 1.
  const std::map<std::string, std::pair<std::string, std::string>> names = {
      {"cis-4.1", {"unauthorized_api_calls_metric", "unauthorized_api_calls_alarm"}},
      {"cis-4.1-v1.2", {"unauthorized_api_calls_metric", "unauthorized_api_calls_v1.2_alarm"}},
      {"cis-4.2", {"no_mfa_console_signin_metric", "no_mfa_console_signin_alarm"}},
      {"cis-4.2-sso", {"no_mfa_console_signin_metric", "no_mfa_console_signin_sso_alarm"}},
      {"cis-4.3", {"root_usage_metric", "root_usage_alarm"}},
      {"cis-4.4", {"iam_changes_metric", "iam_changes_alarm"}},
      {"cis-4.5", {"cloudtrail_cfg_changes_metric", "cloudtrail_cfg_changes_alarm"}},
      {"cis-4.6", {"console_signin_failure_metric", "console_signin_failure_alarm"}},
      {"cis-4.7", {"disable_or_delete_cmk_changes_metric", "disable_or_delete_cmk_changes_alarm"}},
      {"cis-4.8", {"s3_bucket_policy_changes_metric", "s3_bucket_policy_changes_alarm"}},
      {"cis-4.9", {"aws_config_changes_metric", "aws_config_changes_alarm"}},
      {"cis-4.10", {"security_group_changes_metric", "security_group_changes_alarm"}},
      {"cis-4.11", {"nacl_changes_metric", "nacl_changes_alarm"}},
      {"cis-4.12", {"network_gw_changes_metric", "network_gw_changes_alarm"}},
      {"cis-4.13", {"route_table_changes_metric", "route_table_changes_alarm"}},
      {"cis-4.14", {"vpc_changes_metric", "vpc_changes_alarm"}},
      {"cis-4.15", {"organizations_changes", "organizations_changes"}},
  };
  auto rules = load_builtin_pack("cis-aws-foundations");
  REQUIRE(rules.size() == names.size());
  for (const auto& r : rules) {
    CAPTURE(r.id);
    REQUIRE(names.count(r.id) == 1);
    REQUIRE(r.metric_alarm);
    const alarms::MetricSpec& m = r.metric_alarm->metric;
    CHECK(m.name == names.at(r.id).first);
    CHECK(m.namespace_ == "CISBenchmark");
    CHECK_FALSE(m.value.is_selector);
    CHECK(m.value.literal == 1);
    CHECK_FALSE(m.default_value);
    CHECK(m.unit == "None");
    CHECK(m.dimensions.empty());
    const alarms::AlarmSpec& a = r.metric_alarm->alarm;
    CHECK(a.name == names.at(r.id).second);
    CHECK(a.statistic == alarms::Statistic::kSum);
    CHECK(a.period_seconds == 300);
    CHECK(a.evaluation_periods == 1);
    CHECK(a.datapoints_to_alarm == 1);
    CHECK(a.threshold == 1);
    CHECK(a.comparison == alarms::Comparison::kGreaterThanOrEqualToThreshold);
    CHECK(a.treat_missing_data == alarms::TreatMissingData::kMissing);  // CloudWatch's default
    CHECK(a.lateness_seconds == alarms::AlarmSpec::kDefaultLatenessSeconds);
    CHECK(a.notify.contains(alarms::AlarmState::kAlarm));
    CHECK(a.notify.contains(alarms::AlarmState::kOk));
    CHECK_FALSE(a.notify.contains(alarms::AlarmState::kInsufficientData));
    CHECK(r.metric_alarm->fires_early());
    // Off by default, and alerting per record and per transition once switched on.
    CHECK_FALSE(a.enabled);
    CHECK_FALSE(r.alarm_enabled);
    CHECK(r.alert_on == AlertOn::kBoth);
    CHECK_FALSE(r.counts_for_alarm());
    CHECK(r.alerts_per_record());
    CHECK_FALSE(r.alerts_per_transition());
  }
  // Every rule and every alarm of the pack switched on at once is a valid setting.
  apply_selectors(rules, {"cis-*"}, {});
  CHECK(apply_alarm_selectors(rules, {"cis-*"}, {}).empty());
  CHECK_NOTHROW(check_alarm_names(rules));
  for (const auto& r : rules) CHECK(r.counts_for_alarm());
}
