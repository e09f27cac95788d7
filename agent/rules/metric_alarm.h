// MetricSpec and AlarmSpec: a rule's metric transformation (CloudWatch Logs metric filter) and
// the alarm on that metric (CloudWatch PutMetricAlarm), as plain values, and their parsing from
// a rule's TOML table. Keys and constraints are CloudWatch's (docs/alarms.md, "Semantics"):
//
//   [[rules]]
//   id = "cis-4.9"  ...
//   [rules.metric]                       # optional when [rules.alarm] is given
//   name = "ConfigChanges"               # default: the rule id
//   namespace = "CloudTrailMetrics"      # default
//   value = 1                            # a number, or a "$.field" selector
//   default_value = 0                    # optional; not together with dimensions
//   unit = "Count"                       # CloudWatch units; default "None"
//   dimensions = { user = "$.userIdentity.arn" }   # at most 3
//   [rules.alarm]
//   statistic = "Sum"  period = 300  evaluation_periods = 1  threshold = 1
//   comparison_operator = "GreaterThanOrEqualToThreshold"  ...
//   enabled = true                       # optional; see AlarmSpec::enabled
//
// (inline tables `metric = { ... }` are the same thing). Values are immutable once parsed and
// safe to share between threads. They live with the rule that carries them (rules/ sits below
// alarms/); the names are the alarm vocabulary (namespace alarms), which agent/alarms/ evaluates.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "agent/rules/pattern.h"

namespace trailwarden::alarms {

enum class Statistic { kSampleCount, kSum, kMinimum, kMaximum, kAverage };
enum class Comparison {
  kGreaterThanOrEqualToThreshold,
  kGreaterThanThreshold,
  kLessThanThreshold,
  kLessThanOrEqualToThreshold,
};
enum class TreatMissingData { kMissing, kNotBreaching, kBreaching, kIgnore };
enum class AlarmState { kInsufficientData = 0, kOk = 1, kAlarm = 2 };

std::string_view statistic_name(Statistic s);          // "Sum"
std::string_view comparison_name(Comparison c);        // "GreaterThanOrEqualToThreshold"
std::string_view treat_missing_name(TreatMissingData t);  // "notBreaching"
std::string_view state_name(AlarmState s);             // "INSUFFICIENT_DATA", "OK", "ALARM"
bool parse_statistic(std::string_view name, Statistic& out);
bool parse_comparison(std::string_view name, Comparison& out);
bool parse_treat_missing(std::string_view name, TreatMissingData& out);
bool parse_state(std::string_view name, AlarmState& out);

// True when `value` compared with `threshold` by `c` breaches.
bool breaches(Comparison c, double value, double threshold);

// A selector or a literal: the metric's value.
struct MetricValueSpec {
  bool is_selector = false;
  double literal = 1;                     // when !is_selector
  std::string selector_text;              // "$.x", when is_selector
  std::vector<rules::PathStep> selector;  // its steps
};

struct DimensionSpec {
  std::string name;                        // the dimension's name ("user")
  std::string selector_text;               // "$.userIdentity.arn"
  std::vector<rules::PathStep> selector;
};

struct MetricSpec {
  std::string name;
  std::string namespace_ = "CloudTrailMetrics";
  MetricValueSpec value;
  std::optional<double> default_value;
  std::string unit = "None";
  std::vector<DimensionSpec> dimensions;  // sorted by name, at most kMaxDimensions
  static constexpr size_t kMaxDimensions = 3;
};

// Which transitions are notified (by their new state).
struct NotifySet {
  bool alarm = true;
  bool ok = true;
  bool insufficient_data = false;
  bool contains(AlarmState s) const;
};

struct AlarmSpec {
  std::string name;  // default: the rule id
  std::string description;
  Statistic statistic = Statistic::kSum;
  int64_t period_seconds = 300;
  int64_t evaluation_periods = 1;
  int64_t datapoints_to_alarm = 1;  // default: evaluation_periods
  double threshold = 1;
  Comparison comparison = Comparison::kGreaterThanOrEqualToThreshold;
  TreatMissingData treat_missing_data = TreatMissingData::kMissing;
  // How long after a period's end its datapoint is final (records arrive late): CloudTrail
  // "typically delivers log files within an average of about 5 minutes"; twice that.
  int64_t lateness_seconds = kDefaultLatenessSeconds;
  NotifySet notify;
  // `enabled` as the rule file writes it (nullopt: not written). Whether the alarm runs is
  // rules::Rule::alarm_enabled: this, else the loader's default (on in rule files, off in the
  // built-in packs), then the configuration's [alarms] selectors.
  std::optional<bool> enabled;

  static constexpr int64_t kDefaultLatenessSeconds = 600;
  static constexpr int64_t kMaxLatenessSeconds = 86400;
  // How many periods an evaluation looks at (CloudWatch's "evaluation range"): AWS retrieves
  // more datapoints than evaluation_periods; its worked example retrieves 5 for 3.
  int64_t evaluation_range() const { return evaluation_periods + 2; }
};

// A rule's metric and alarm together; what an alarm instance is evaluated against.
struct MetricAlarmSpec {
  MetricSpec metric;
  AlarmSpec alarm;
  // Whether a period's partial value may already decide ALARM (docs/alarms.md, "Early firing"):
  // the statistic can only move towards the threshold as more datapoints arrive.
  bool fires_early() const;
};

// Reads the `metric` and `alarm` keys of one rule's table (the [[rules]] element). Returns
// nullopt when the rule has neither. `origin` names the file in messages, `rule_id` gives the
// defaults. Throws std::runtime_error "origin:line:column: message" on any error: unknown keys,
// wrong types, and every constraint CloudWatch's PutMetricFilter / PutMetricAlarm enforce.
// `pattern_kind` is the rule's filter pattern's: CloudWatch allows dimensions only with JSON and
// space-delimited patterns (text patterns have no fields).
std::optional<MetricAlarmSpec> parse_metric_alarm(
    const toml::table& rule, const std::string& origin, std::string_view rule_id,
    rules::Pattern::Kind pattern_kind = rules::Pattern::Kind::kJson);

// The rule keys parse_metric_alarm reads (for the rule file's own check of unknown keys).
inline constexpr std::string_view kMetricKey = "metric";
inline constexpr std::string_view kAlarmKey = "alarm";

}  // namespace trailwarden::alarms
