// Rule: one detection (id, title, severity, filter pattern, references) and the loading of
// rule files (TOML) and of the built-in packs compiled into the binary. Rules are plain values,
// immutable once loaded and safe to share between threads. See docs/rules.md for the format.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/rules/pattern.h"

namespace trailwarden::rules {

enum class Severity { kInformational = 1, kLow = 2, kMedium = 3, kHigh = 4, kCritical = 5 };

// "informational", "low", ... ; false if the name is unknown.
bool parse_severity(std::string_view name, Severity& out);
std::string_view severity_name(Severity s);   // "Medium" (OCSF caption)
std::string_view severity_key(Severity s);    // "medium" (configuration spelling)

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
