// Rule: one detection (id, title, severity, filter pattern, references) and the loading of
// rule files (TOML) and of the built-in packs compiled into the binary. Rules are plain values,
// immutable once loaded and safe to share between threads. See docs/rules.md for the format.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/rules/metric_alarm.h"
#include "agent/rules/pattern.h"

namespace trailwarden::rules {

enum class Severity { kInformational = 1, kLow = 2, kMedium = 3, kHigh = 4, kCritical = 5 };

// "informational", "low", ... ; false if the name is unknown.
bool parse_severity(std::string_view name, Severity& out);
std::string_view severity_name(Severity s);   // "Medium" (OCSF caption)
std::string_view severity_key(Severity s);    // "medium" (configuration spelling)

// What a rule sends (`alert = "record" | "alarm" | "both"`): an alert for each matching record,
// one for each transition of its alarm, or both. A rule whose alarm is off (or that has none)
// sends per-record alerts whatever this says (docs/alarms.md).
enum class AlertOn { kRecord, kAlarm, kBoth };
bool parse_alert_on(std::string_view name, AlertOn& out);  // false if the name is unknown
std::string_view alert_on_name(AlertOn a);                  // "record", "alarm", "both"

struct Rule {
  std::string id;
  std::string title;
  std::string description;
  Severity severity = Severity::kMedium;
  std::string pattern_source;
  std::shared_ptr<const Pattern> pattern;
  std::vector<std::string> references;
  std::vector<std::string> tags;
  bool enabled = true;  // state after the pack default and the configuration were applied
  std::string pack;     // pack id ("cis-aws-foundations") or the rule file's path
  std::string origin;   // where it was defined: "file:line"
  // The rule's metric and alarm ([rules.metric] / [rules.alarm]); null when it has none.
  std::shared_ptr<const alarms::MetricAlarmSpec> metric_alarm;
  // Whether the alarm is evaluated: the default (on in rule files, off in the built-in packs)
  // after the configuration's [alarms] selectors.
  bool alarm_enabled = false;
  AlertOn alert_on = AlertOn::kRecord;
  // True when matches must reach the alarm stage / when each match is itself an alert.
  bool counts_for_alarm() const { return enabled && metric_alarm && alarm_enabled; }
  bool alerts_per_record() const { return !counts_for_alarm() || alert_on != AlertOn::kAlarm; }
  bool alerts_per_transition() const { return counts_for_alarm() && alert_on != AlertOn::kRecord; }
};

// Parses a rule file. `origin` names the file in messages. Rules without an `enabled` key get
// `default_enabled`; alarms without one ([rules.alarm] enabled) get `default_alarm_enabled`.
// A rule's `alert` defaults to "alarm" when it has an alarm (CloudWatch's chain notifies per
// transition), else "record"; `alert` without an alarm is an error. Throws std::runtime_error
// with "origin:line:column: message" on any error (unknown keys, wrong types, bad patterns,
// bad metrics or alarms, duplicate ids within the file).
std::vector<Rule> load_rule_file(std::string_view content, const std::string& origin,
                                 bool default_enabled, bool default_alarm_enabled = true);

// Names of the built-in packs, and their rules.
std::vector<std::string> builtin_pack_names();
// The pack's rules, and their alarms, off unless the pack file says otherwise. Throws
// std::runtime_error for an unknown pack name.
std::vector<Rule> load_builtin_pack(std::string_view name);

// Applies enable/disable selectors (exact ids or shell-style globs such as "cis-*"), in order:
// every enable selector first, then every disable selector. Throws std::runtime_error naming
// a selector that matches no rule (a typo must not silently disable detection).
void apply_selectors(std::vector<Rule>& rules, const std::vector<std::string>& enable,
                     const std::vector<std::string>& disable);

// The same for alarms (Rule::alarm_enabled), after the rule selectors: selectors match the ids
// of rules that have an alarm; one matching none of them throws std::runtime_error naming it.
// Returns the ids of the rules whose alarm an enable selector naming them exactly (not a glob)
// left on while the rule itself is disabled: such an alarm cannot run, and the caller warns.
std::vector<std::string> apply_alarm_selectors(std::vector<Rule>& rules,
                                               const std::vector<std::string>& enable,
                                               const std::vector<std::string>& disable);

// Alarm names identify an alarm's state and notifications (CloudWatch: unique per account and
// region): throws std::runtime_error naming both rules when two rules whose alarm counts
// (counts_for_alarm) have the same alarm name.
void check_alarm_names(const std::vector<Rule>& rules);

// One line for listings: "Sum 300s >= 1, 1 of 1" (statistic, period, comparison, threshold,
// datapoints to alarm of evaluation periods); "-" for a rule without an alarm.
std::string alarm_summary(const Rule& rule);
// "on", "off", or "-" for a rule without an alarm.
std::string_view alarm_state(const Rule& rule);

}  // namespace trailwarden::rules
