#include "outputs/sns/cloudwatch_alarm_message.h"

#include <simdjson.h>

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <ctime>
#include <utility>

#include "agent/aws/names.h"
#include "agent/aws/sigv4.h"
#include "agent/common/json_writer.h"
#include "outputs/sns/sns_message.h"

namespace trailwarden {

namespace {

// Long names as CloudWatch alarm notifications spell them (older "EU (...)" for Europe).
constexpr std::pair<std::string_view, std::string_view> kRegions[] = {
    {"us-east-1", "US East (N. Virginia)"},
    {"us-east-2", "US East (Ohio)"},
    {"us-west-1", "US West (N. California)"},
    {"us-west-2", "US West (Oregon)"},
    {"af-south-1", "Africa (Cape Town)"},
    {"ap-east-1", "Asia Pacific (Hong Kong)"},
    {"ap-east-2", "Asia Pacific (Taipei)"},
    {"ap-south-1", "Asia Pacific (Mumbai)"},
    {"ap-south-2", "Asia Pacific (Hyderabad)"},
    {"ap-southeast-1", "Asia Pacific (Singapore)"},
    {"ap-southeast-2", "Asia Pacific (Sydney)"},
    {"ap-southeast-3", "Asia Pacific (Jakarta)"},
    {"ap-southeast-4", "Asia Pacific (Melbourne)"},
    {"ap-southeast-5", "Asia Pacific (Malaysia)"},
    {"ap-southeast-7", "Asia Pacific (Thailand)"},
    {"ap-northeast-1", "Asia Pacific (Tokyo)"},
    {"ap-northeast-2", "Asia Pacific (Seoul)"},
    {"ap-northeast-3", "Asia Pacific (Osaka)"},
    {"ca-central-1", "Canada (Central)"},
    {"ca-west-1", "Canada West (Calgary)"},
    {"eu-central-1", "EU (Frankfurt)"},
    {"eu-central-2", "EU (Zurich)"},
    {"eu-west-1", "EU (Ireland)"},
    {"eu-west-2", "EU (London)"},
    {"eu-west-3", "EU (Paris)"},
    {"eu-south-1", "EU (Milan)"},
    {"eu-south-2", "EU (Spain)"},
    {"eu-north-1", "EU (Stockholm)"},
    {"il-central-1", "Israel (Tel Aviv)"},
    {"me-south-1", "Middle East (Bahrain)"},
    {"me-central-1", "Middle East (UAE)"},
    {"mx-central-1", "Mexico (Central)"},
    {"sa-east-1", "South America (Sao Paulo)"},
    {"cn-north-1", "China (Beijing)"},
    {"cn-northwest-1", "China (Ningxia)"},
    {"us-gov-east-1", "AWS GovCloud (US-East)"},
    {"us-gov-west-1", "AWS GovCloud (US-West)"},
};

void string_or_null(JsonWriter& w, std::string_view key, const std::string& v) {
  w.key(key);
  if (v.empty())
    w.null();
  else
    w.value(std::string_view(v));
}

void array(JsonWriter& w, std::string_view key, const std::vector<std::string>& values) {
  w.key(key).begin_array();
  for (const auto& v : values) w.value(std::string_view(v));
  w.end_array();
}

}  // namespace

std::string_view cloudwatch_region_long_name(std::string_view region) {
  for (const auto& [code, name] : kRegions)
    if (code == region) return name;
  return region;
}

std::string cloudwatch_timestamp(int64_t ms) {
  int64_t secs = ms / 1000, frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

std::string cloudwatch_statistic(std::string_view s) {
  if (s == "SampleCount") return "SAMPLE_COUNT";
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string cloudwatch_number(double v) {
  if (!std::isfinite(v)) return "0.0";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

namespace {

std::string alarm_arn(const CloudWatchAlarmChange& c) {
  if (!c.alarm_arn.empty()) return c.alarm_arn;
  const std::string_view partition =
      aws::is_valid_region(c.region) ? aws::partition_of(c.region).name : "aws";
  return fmt::format("arn:{}:cloudwatch:{}:{}:alarm:{}", partition, c.region, c.account_id,
                     c.alarm_name);
}

}  // namespace

std::string cloudwatch_alarm_message(const CloudWatchAlarmChange& c) {
  const std::string arn = alarm_arn(c);
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("AlarmName", std::string_view(c.alarm_name));
  string_or_null(w, "AlarmDescription", c.alarm_description);
  w.field("AWSAccountId", std::string_view(c.account_id));
  w.field("AlarmConfigurationUpdatedTimestamp",
          std::string_view(cloudwatch_timestamp(c.configuration_updated_ms)));
  w.field("NewStateValue", std::string_view(c.new_state));
  w.field("NewStateReason", std::string_view(c.new_state_reason));
  w.field("StateChangeTime", std::string_view(cloudwatch_timestamp(c.state_change_ms)));
  w.field("Region", cloudwatch_region_long_name(c.region));
  w.field("AlarmArn", std::string_view(arn));
  w.field("OldStateValue", std::string_view(c.old_state));
  array(w, "OKActions", c.ok_actions);
  array(w, "AlarmActions", c.alarm_actions);
  array(w, "InsufficientDataActions", c.insufficient_data_actions);
  const auto& t = c.trigger;
  w.key("Trigger").begin_object();
  w.field("MetricName", std::string_view(t.metric_name));
  w.field("Namespace", std::string_view(t.metric_namespace));
  w.field("StatisticType", "Statistic");
  w.field("Statistic", std::string_view(cloudwatch_statistic(t.statistic)));
  string_or_null(w, "Unit", t.unit);
  w.key("Dimensions").begin_array();
  for (const auto& d : t.dimensions) {
    w.begin_object();
    w.field("value", std::string_view(d.value));
    w.field("name", std::string_view(d.name));
    w.end_object();
  }
  w.end_array();
  w.field("Period", t.period);
  w.field("EvaluationPeriods", t.evaluation_periods);
  w.field("DatapointsToAlarm", t.datapoints_to_alarm);
  w.field("ComparisonOperator", std::string_view(t.comparison_operator));
  w.key("Threshold").raw(cloudwatch_number(t.threshold));
  w.field("TreatMissingData", std::string_view(t.treat_missing_data));
  w.field("EvaluateLowSampleCountPercentile",
          std::string_view(t.evaluate_low_sample_count_percentile));
  w.end_object();
  w.end_object();
  return out;
}

std::string cloudwatch_alarm_subject(const CloudWatchAlarmChange& c) {
  return sns_safe_subject(fmt::format("{}: \"{}\" in {}", c.new_state, c.alarm_name,
                                      cloudwatch_region_long_name(c.region)));
}

SnsEntry make_sns_alarm_entry(const CloudWatchAlarmChange& c, const SnsOptions& options) {
  SnsEntry e;
  e.subject = cloudwatch_alarm_subject(c);
  e.message = cloudwatch_alarm_message(c);
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"AlarmName", &c.alarm_name},
                             {"NewStateValue", &c.new_state},
                             {"OldStateValue", &c.old_state}})
    if (!value->empty())
      e.attributes.emplace_back(name, value->substr(0, kSnsMaxAttributeBytes));
  if (options.topic.fifo) {
    e.group_id = c.alarm_name.empty() || c.alarm_name.size() > 128 ? aws::sha256_hex(c.alarm_name)
                                                                   : c.alarm_name;
    for (char& ch : e.group_id)
      if (static_cast<unsigned char>(ch) < 33 || static_cast<unsigned char>(ch) > 126) ch = '_';
    e.deduplication_id = aws::sha256_hex(
        fmt::format("{}\n{}\n{}", alarm_arn(c), c.new_state, c.state_change_ms));
  }
  return e;
}

bool alarm_change_from_alert(const AlertRecord& alert, CloudWatchAlarmChange& c,
                             std::string& error) {
  if (alert.kind != AlertKind::kAlarm) {
    error = "not an alarm transition";
    return false;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(alert.alarm).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    error = "its alarm change is not a JSON object";
    return false;
  }
  auto text = [&](simdjson::dom::element e, const char* key, std::string& out) {
    std::string_view v;
    if (e[key].get_string().get(v) == simdjson::SUCCESS) out.assign(v);
  };
  auto integer = [&](simdjson::dom::element e, const char* key, int64_t& out) {
    int64_t v = 0;
    if (e[key].get_int64().get(v) == simdjson::SUCCESS) out = v;
  };
  c = CloudWatchAlarmChange{};
  text(doc, "AlarmName", c.alarm_name);
  text(doc, "AlarmDescription", c.alarm_description);
  text(doc, "AWSAccountId", c.account_id);
  text(doc, "NewStateValue", c.new_state);
  text(doc, "NewStateReason", c.new_state_reason);
  integer(doc, "StateChangeTime", c.state_change_ms);
  c.configuration_updated_ms = c.state_change_ms;
  text(doc, "Region", c.region);
  text(doc, "OldStateValue", c.old_state);
  simdjson::dom::element t;
  if (doc["Trigger"].get(t) == simdjson::SUCCESS && t.is_object()) {
    auto& g = c.trigger;
    text(t, "MetricName", g.metric_name);
    text(t, "Namespace", g.metric_namespace);
    text(t, "Statistic", g.statistic);
    text(t, "Unit", g.unit);
    if (g.unit == "None") g.unit.clear();  // CloudWatch writes null for a metric without unit
    simdjson::dom::array dims;
    if (t["Dimensions"].get_array().get(dims) == simdjson::SUCCESS)
      for (simdjson::dom::element d : dims) {
        CloudWatchAlarmChange::Dimension x;
        text(d, "name", x.name);
        text(d, "value", x.value);
        g.dimensions.push_back(std::move(x));
      }
    integer(t, "Period", g.period);
    integer(t, "EvaluationPeriods", g.evaluation_periods);
    integer(t, "DatapointsToAlarm", g.datapoints_to_alarm);
    text(t, "ComparisonOperator", g.comparison_operator);
    double threshold = 0;
    if (t["Threshold"].get_double().get(threshold) == simdjson::SUCCESS) g.threshold = threshold;
    text(t, "TreatMissingData", g.treat_missing_data);
  }
  if (c.alarm_name.empty() || c.new_state.empty()) {
    error = "its alarm change names no alarm or no new state";
    return false;
  }
  return true;
}

}  // namespace trailwarden
