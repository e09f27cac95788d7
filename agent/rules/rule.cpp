#include "agent/rules/rule.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <map>
#include <set>
#include <stdexcept>
#include <toml++/toml.h>

#include "agent/config/embedded.h"
#include "agent/config/toml_util.h"

namespace trailwarden::rules {

namespace {

struct SeverityName {
  Severity severity;
  std::string_view key;
  std::string_view caption;
};
constexpr SeverityName kSeverities[] = {
    {Severity::kInformational, "informational", "Informational"},
    {Severity::kLow, "low", "Low"},
    {Severity::kMedium, "medium", "Medium"},
    {Severity::kHigh, "high", "High"},
    {Severity::kCritical, "critical", "Critical"},
};

std::string where(const std::string& origin, const toml::source_region& r) {
  return toml_where(origin, r);
}

[[noreturn]] void fail_at(const std::string& origin, const toml::node& n, const std::string& msg) {
  throw std::runtime_error(fmt::format("{}: {}", where(origin, n.source()), msg));
}

std::string get_string(const std::string& origin, const toml::table& t, std::string_view key,
                       bool required) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required)
      throw std::runtime_error(
          fmt::format("{}: missing required key '{}'", where(origin, t.source()), key));
    return {};
  }
  if (!n->is_string()) fail_at(origin, *n, fmt::format("'{}' must be a string", key));
  return std::string(*n->value<std::string_view>());
}

std::vector<std::string> get_string_array(const std::string& origin, const toml::table& t,
                                          std::string_view key) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const toml::array* arr = n->as_array();
  if (!arr) fail_at(origin, *n, fmt::format("'{}' must be an array of strings", key));
  for (const auto& el : *arr) {
    if (!el.is_string()) fail_at(origin, el, fmt::format("'{}' must contain only strings", key));
    out.emplace_back(*el.value<std::string_view>());
  }
  return out;
}

void check_keys(const std::string& origin, const toml::table& t,
                std::initializer_list<std::string_view> allowed, std::string_view what) {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k.str() == a;
    if (!ok)
      throw std::runtime_error(
          fmt::format("{}: unknown key '{}' in {}", where(origin, k.source()), k.str(), what));
  }
}

constexpr std::string_view kAlertKey = "alert";

// [rules.metric], [rules.alarm] and `alert` of the rule table `t` into `r` (its id and pattern
// already read).
void read_metric_alarm(const std::string& origin, const toml::table& t, bool default_alarm_enabled,
                       Rule& r) {
  auto spec = alarms::parse_metric_alarm(t, origin, r.id, r.pattern->kind());
  const toml::node* alert = t.get(kAlertKey);
  if (alert) {
    if (!alert->is_string()) fail_at(origin, *alert, "'alert' must be a string");
    const std::string_view name = *alert->value<std::string_view>();
    if (!parse_alert_on(name, r.alert_on))
      fail_at(origin, *alert,
              fmt::format("unknown alert '{}' (expected \"record\", \"alarm\" or \"both\")", name));
    if (!spec)
      fail_at(origin, *alert,
              fmt::format("rule '{}': 'alert' needs an alarm ([rules.alarm]); a rule without one "
                          "alerts per record",
                          r.id));
  }
  if (!spec) return;
  if (!alert) r.alert_on = AlertOn::kAlarm;
  r.alarm_enabled = spec->alarm.enabled.value_or(default_alarm_enabled);
  r.metric_alarm = std::make_shared<const alarms::MetricAlarmSpec>(std::move(*spec));
}

// Shell-style glob over rule ids; selectors name rules, never paths.
bool selects(const std::string& selector, const Rule& r) {
  return fnmatch(selector.c_str(), r.id.c_str(), 0) == 0;
}

std::string_view comparison_symbol(alarms::Comparison c) {
  switch (c) {
    case alarms::Comparison::kGreaterThanOrEqualToThreshold: return ">=";
    case alarms::Comparison::kGreaterThanThreshold: return ">";
    case alarms::Comparison::kLessThanThreshold: return "<";
    case alarms::Comparison::kLessThanOrEqualToThreshold: return "<=";
  }
  return "?";
}

}  // namespace

bool parse_severity(std::string_view name, Severity& out) {
  for (const auto& s : kSeverities) {
    if (s.key == name) {
      out = s.severity;
      return true;
    }
  }
  return false;
}

std::string_view severity_name(Severity s) {
  for (const auto& n : kSeverities)
    if (n.severity == s) return n.caption;
  return "Unknown";
}

std::string_view severity_key(Severity s) {
  for (const auto& n : kSeverities)
    if (n.severity == s) return n.key;
  return "unknown";
}

bool parse_alert_on(std::string_view name, AlertOn& out) {
  if (name == "record") out = AlertOn::kRecord;
  else if (name == "alarm") out = AlertOn::kAlarm;
  else if (name == "both") out = AlertOn::kBoth;
  else return false;
  return true;
}

std::string_view alert_on_name(AlertOn a) {
  switch (a) {
    case AlertOn::kRecord: return "record";
    case AlertOn::kAlarm: return "alarm";
    case AlertOn::kBoth: return "both";
  }
  return "record";
}

std::vector<Rule> load_rule_file(std::string_view content, const std::string& origin,
                                 bool default_enabled, bool default_alarm_enabled) {
  toml::table doc = parse_toml(content, origin);
  check_keys(origin, doc, {"pack", "rules"}, "a rule file (expected [pack] and [[rules]])");
  std::string pack_id = origin;
  if (const toml::node* p = doc.get("pack")) {
    const toml::table* pt = p->as_table();
    if (!pt) fail_at(origin, *p, "'pack' must be a table");
    check_keys(origin, *pt, {"id", "title", "version", "description"}, "[pack]");
    std::string id = get_string(origin, *pt, "id", false);
    if (!id.empty()) pack_id = id;
    get_string(origin, *pt, "title", false);
    get_string(origin, *pt, "version", false);
    get_string(origin, *pt, "description", false);
  }
  std::vector<Rule> out;
  const toml::node* rules_node = doc.get("rules");
  if (!rules_node) return out;
  const toml::array* arr = rules_node->as_array();
  if (!arr || !arr->is_array_of_tables())
    fail_at(origin, *rules_node, "'rules' must be an array of tables ([[rules]])");
  std::set<std::string> seen;
  for (const auto& el : *arr) {
    const toml::table& t = *el.as_table();
    check_keys(origin, t,
               {"id", "title", "description", "severity", "pattern", "references", "tags",
                "enabled", alarms::kMetricKey, alarms::kAlarmKey, kAlertKey},
               "[[rules]]");
    Rule r;
    r.pack = pack_id;
    r.origin = where(origin, t.source());
    r.id = get_string(origin, t, "id", true);
    if (r.id.empty()) fail_at(origin, t, "rule 'id' must not be empty");
    for (char c : r.id) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        fail_at(origin, *t.get("id"),
                fmt::format("rule id '{}' may contain only letters, digits, '-', '_' and '.'", r.id));
    }
    if (!seen.insert(r.id).second)
      fail_at(origin, *t.get("id"), fmt::format("duplicate rule id '{}'", r.id));
    r.title = get_string(origin, t, "title", true);
    r.description = get_string(origin, t, "description", false);
    std::string sev = get_string(origin, t, "severity", false);
    if (!sev.empty() && !parse_severity(sev, r.severity))
      fail_at(origin, *t.get("severity"),
              fmt::format("unknown severity '{}' (expected informational, low, medium, high or "
                          "critical)",
                          sev));
    r.pattern_source = get_string(origin, t, "pattern", true);
    ParseError perr;
    auto pattern = Pattern::parse(r.pattern_source, &perr);
    if (!pattern)
      fail_at(origin, *t.get("pattern"),
              fmt::format("rule '{}': bad filter pattern at {}", r.id, perr.to_string()));
    r.pattern = std::make_shared<const Pattern>(std::move(*pattern));
    r.references = get_string_array(origin, t, "references");
    r.tags = get_string_array(origin, t, "tags");
    r.enabled = default_enabled;
    if (const toml::node* en = t.get("enabled")) {
      if (!en->is_boolean()) fail_at(origin, *en, "'enabled' must be true or false");
      r.enabled = *en->value<bool>();
    }
    read_metric_alarm(origin, t, default_alarm_enabled, r);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> builtin_pack_names() { return {"cis-aws-foundations"}; }

std::vector<Rule> load_builtin_pack(std::string_view name) {
  for (const auto& pack : builtin_pack_names()) {
    if (pack == name) {
      std::string file = pack + ".toml";
      std::string_view content = embedded::find(file);
      return load_rule_file(content, "builtin:" + file, /*default_enabled=*/false,
                            /*default_alarm_enabled=*/false);
    }
  }
  throw std::runtime_error(fmt::format("unknown built-in rule pack '{}' (available: {})", name,
                                       fmt::join(builtin_pack_names(), ", ")));
}

void apply_selectors(std::vector<Rule>& rules, const std::vector<std::string>& enable,
                     const std::vector<std::string>& disable) {
  auto apply = [&](const std::string& selector, bool state) {
    bool matched = false;
    for (auto& r : rules) {
      if (selects(selector, r)) {
        r.enabled = state;
        matched = true;
      }
    }
    if (!matched)
      throw std::runtime_error(fmt::format(
          "rule selector '{}' matches no rule (see 'trailwarden rules list')", selector));
  };
  for (const auto& s : enable) apply(s, true);
  for (const auto& s : disable) apply(s, false);
}

std::vector<std::string> apply_alarm_selectors(std::vector<Rule>& rules,
                                               const std::vector<std::string>& enable,
                                               const std::vector<std::string>& disable) {
  std::set<std::string> enabled_by_selector;
  auto apply = [&](const std::string& selector, bool state) {
    bool matched = false;
    for (auto& r : rules) {
      if (!r.metric_alarm || !selects(selector, r)) continue;
      r.alarm_enabled = state;
      // A glob ("cis-*") asks for the alarms of whichever rules run; an id asks for that alarm.
      if (state && selector.find_first_of("*?[") == std::string::npos)
        enabled_by_selector.insert(r.id);
      matched = true;
    }
    if (!matched)
      throw std::runtime_error(fmt::format(
          "alarm selector '{}' matches no rule with an alarm (see 'trailwarden rules list', "
          "column ALARM)",
          selector));
  };
  for (const auto& s : enable) apply(s, true);
  for (const auto& s : disable) apply(s, false);
  std::vector<std::string> idle;
  for (const auto& r : rules)
    if (r.alarm_enabled && !r.enabled && enabled_by_selector.count(r.id)) idle.push_back(r.id);
  return idle;
}

void check_alarm_names(const std::vector<Rule>& rules) {
  std::map<std::string_view, const Rule*> seen;
  for (const auto& r : rules) {
    if (!r.counts_for_alarm()) continue;
    auto [it, inserted] = seen.emplace(r.metric_alarm->alarm.name, &r);
    if (!inserted)
      throw std::runtime_error(fmt::format(
          "{}: rule '{}': alarm name '{}' is already the alarm of rule '{}' ({}); an alarm's name "
          "identifies its state and notifications, so two running alarms need two names",
          r.origin, r.id, r.metric_alarm->alarm.name, it->second->id, it->second->origin));
  }
}

std::string alarm_summary(const Rule& rule) {
  if (!rule.metric_alarm) return "-";
  const alarms::AlarmSpec& a = rule.metric_alarm->alarm;
  return fmt::format("{} {}s {} {}, {} of {}", alarms::statistic_name(a.statistic),
                     a.period_seconds, comparison_symbol(a.comparison), a.threshold,
                     a.datapoints_to_alarm, a.evaluation_periods);
}

std::string_view alarm_state(const Rule& rule) {
  if (!rule.metric_alarm) return "-";
  return rule.alarm_enabled ? "on" : "off";
}

}  // namespace trailwarden::rules
