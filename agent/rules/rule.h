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
// `default_enabled`. Throws std::runtime_error with "origin:line:column: message" on any
// error (unknown keys, wrong types, bad patterns, duplicate ids within the file).
std::vector<Rule> load_rule_file(std::string_view content, const std::string& origin,
                                 bool default_enabled);

// Names of the built-in packs, and their rules.
std::vector<std::string> builtin_pack_names();
// Throws std::runtime_error for an unknown pack name.
std::vector<Rule> load_builtin_pack(std::string_view name);

// Applies enable/disable selectors (exact ids or shell-style globs such as "cis-*"), in order:
// every enable selector first, then every disable selector. Throws std::runtime_error naming
// a selector that matches no rule (a typo must not silently disable detection).
void apply_selectors(std::vector<Rule>& rules, const std::vector<std::string>& enable,
                     const std::vector<std::string>& disable);

}  // namespace trailwarden::rules
