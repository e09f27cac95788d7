#include "outputs/settings.h"

#include <fnmatch.h>

#include <algorithm>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "agent/config/toml_emitter.h"
#include "agent/config/toml_util.h"
#include "agent/rules/rule.h"

namespace trailwarden {

namespace {
constexpr const char* kCommonKeys[] = {
    "name", "type", "format", "min_severity", "rules", "tags", "alerts", "buffer", "buffer_max_bytes",
    "when_full", "fsync", "batch_max_events", "batch_timeout_ms", "retry_initial_ms",
    "retry_max_ms"};
constexpr const char* kTypes[] = {"file", "kafka", "sns", "splunk_hec", "syslog"};
}  // namespace

void mark_common_output_keys(TomlReader& reader) {
  for (const char* k : kCommonKeys) reader.known(k);
}

OutputSettings parse_output_settings(const toml::table& table, const std::string& config_file,
                                     size_t index) {
  return parse_output_settings(std::make_shared<const toml::table>(table), config_file, index);
}

OutputSettings parse_output_settings(std::shared_ptr<const toml::table> shared,
                                     const std::string& config_file, size_t index) {
  OutputTable t;
  t.index = index;
  t.config_file = config_file;
  t.origin = toml_where(config_file, shared->source());
  t.table = std::move(shared);
  return parse_output_settings(t);
}

OutputSettings parse_output_settings(const OutputTable& t) {
  const toml::table& table = *t.table;
  const std::string& config_file = t.config_file;
  const size_t index = t.index;
  OutputSettings s;
  s.config_file = config_file;
  s.origin = t.origin;
  s.table = t.table;
  TomlReader r(config_file, table, "outputs");
  r.read("type", s.type);
  if (s.type.empty())
    throw std::runtime_error(fmt::format("{}: [[outputs]] needs a type ({})", s.origin,
                                         fmt::join(kTypes, ", ")));
  if (std::find(std::begin(kTypes), std::end(kTypes), s.type) == std::end(kTypes))
    r.fail(*table.get("type"), fmt::format("unknown output type '{}' (supported: {})", s.type,
                                           fmt::join(kTypes, ", ")));
  r.read("name", s.name);
  if (s.name.empty()) s.name = fmt::format("{}-{}", s.type, index);
  std::string text;
  r.read("format", text);
  if (!text.empty() && !parse_alert_format(text, s.format))
    r.fail(*table.get("format"), fmt::format("unknown format '{}' (ocsf, cloudtrail, ecs, cef)", text));
  if (s.format == AlertFormat::kCef && s.type != "syslog")
    r.fail(*table.get("format"), "format \"cef\" is for syslog outputs");
  text.clear();
  r.read("min_severity", text);
  if (!text.empty()) {
    rules::Severity sev;
    if (!rules::parse_severity(text, sev))
      r.fail(*table.get("min_severity"),
             fmt::format("unknown severity '{}' (informational, low, medium, high, critical)", text));
    s.min_severity = static_cast<int>(sev);
  }
  r.read("rules", s.rules);
  r.read("tags", s.tags);
  if (const toml::node* kinds = table.get("alerts")) {
    std::vector<std::string> names;
    r.read("alerts", names);
    s.record_alerts = s.alarm_alerts = s.integrity_alerts = false;
    for (const auto& k : names) {
      if (k == "record") s.record_alerts = true;
      else if (k == "alarm") s.alarm_alerts = true;
      else if (k == "integrity") s.integrity_alerts = true;
      else
        r.fail(*kinds, fmt::format("unknown alert kind '{}' in alerts (\"record\", \"alarm\", "
                                   "\"integrity\")", k));
    }
    if (names.empty()) r.fail(*kinds, "alerts is empty: the output would receive nothing");
  }
  text.clear();
  r.read("buffer", text);
  if (text == "memory") s.buffer = OutputSettings::BufferType::kMemory;
  else if (!text.empty() && text != "disk") r.fail(*table.get("buffer"), "buffer must be \"disk\" or \"memory\"");
  r.read("buffer_max_bytes", s.buffer_max_bytes, 1 << 16);
  text.clear();
  r.read("when_full", text);
  if (text == "drop_newest") s.when_full = OutputSettings::WhenFull::kDropNewest;
  else if (!text.empty() && text != "block")
    r.fail(*table.get("when_full"), "when_full must be \"block\" or \"drop_newest\"");
  text.clear();
  r.read("fsync", text);
  if (text == "never") s.fsync = OutputSettings::Fsync::kNever;
  else if (!text.empty() && text != "always")
    r.fail(*table.get("fsync"), "fsync must be \"always\" or \"never\"");
  r.read("batch_max_events", s.batch_max_events, 1);
  size_t ms = 0;
  if (table.get("batch_timeout_ms")) {
    r.read("batch_timeout_ms", ms, 0);
    s.batch_timeout = std::chrono::milliseconds(ms);
  }
  if (table.get("retry_initial_ms")) {
    r.read("retry_initial_ms", ms, 1);
    s.retry_initial = std::chrono::milliseconds(ms);
  }
  if (table.get("retry_max_ms")) {
    r.read("retry_max_ms", ms, 1);
    s.retry_max = std::chrono::milliseconds(ms);
  }
  return s;  // type-specific keys are checked by the output's factory
}

bool accepts_kind(const OutputSettings& s, AlertKind kind) {
  switch (kind) {
    case AlertKind::kRecord: return s.record_alerts;
    case AlertKind::kAlarm: return s.alarm_alerts;
    case AlertKind::kIntegrity: return s.integrity_alerts;
  }
  return false;  // a kind this build does not know goes nowhere
}

void render_output_settings(const OutputSettings& o, TomlEmitter& e) {
  e.section(fmt::format("[[outputs]]  # {}", o.origin));
  e.str("name", o.name);
  e.str("type", o.type);
  e.str("format", std::string(alert_format_name(o.format)));
  e.str("min_severity", std::string(rules::severity_key(static_cast<rules::Severity>(o.min_severity))));
  e.list("rules", o.rules);
  e.list("tags", o.tags);
  std::vector<std::string> kinds;
  if (o.record_alerts) kinds.emplace_back("record");
  if (o.alarm_alerts) kinds.emplace_back("alarm");
  if (o.integrity_alerts) kinds.emplace_back("integrity");
  e.list("alerts", kinds);
  e.str("buffer", o.buffer == OutputSettings::BufferType::kDisk ? "disk" : "memory");
  e.num("buffer_max_bytes", o.buffer_max_bytes);
  e.str("when_full", o.when_full == OutputSettings::WhenFull::kBlock ? "block" : "drop_newest");
  e.str("fsync", o.fsync == OutputSettings::Fsync::kAlways ? "always" : "never");
  e.num("batch_max_events", o.batch_max_events);
  e.num("batch_timeout_ms", static_cast<uint64_t>(o.batch_timeout.count()));
  e.num("retry_initial_ms", static_cast<uint64_t>(o.retry_initial.count()));
  e.num("retry_max_ms", static_cast<uint64_t>(o.retry_max.count()));
  if (o.table) e.keys_as_written(*o.table, "outputs", {std::begin(kCommonKeys), std::end(kCommonKeys)});
}

bool routed(const OutputSettings& s, const AlertRecord& a) {
  if (a.severity_id < s.min_severity) return false;
  if (!accepts_kind(s, a.kind)) return false;
  if (s.rules.empty() && s.tags.empty()) return true;
  for (const auto& g : s.rules)
    if (fnmatch(g.c_str(), a.rule_id.c_str(), 0) == 0) return true;
  for (const auto& t : s.tags)
    if (std::find(a.tags.begin(), a.tags.end(), t) != a.tags.end()) return true;
  return false;
}

}  // namespace trailwarden
