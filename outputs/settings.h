// OutputSettings: one [[outputs]] table of the configuration (config/ keeps it as written:
// agent/config/output_table.h). The keys every output has (name, type, format, routing,
// buffering, batching, retries) are parsed and printed here, the one place that spells them;
// the table itself is kept so that each output type reads its own keys (make_output() and the
// per-type parsers), and unknown keys are reported with file:line:column. Plain value.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "agent/config/output_table.h"
#include "agent/core/alert_record.h"
#include "agent/config/toml_util.h"
#include "outputs/format.h"

namespace trailwarden {

struct OutputSettings {
  std::string name;  // for messages and metrics; default "<type>-<n>"
  std::string type;  // file | kafka | sns | splunk_hec | syslog
  AlertFormat format = AlertFormat::kOcsf;
  // Routing: an alert goes to this output when its severity is at least min_severity (1-5),
  // and, when `rules` or `tags` are given, its rule id matches one of the `rules` globs or its
  // rule has one of the `tags`, and it is of a kind in `alerts` ("record": a matching record,
  // "alarm": an alarm transition, "integrity": a digest check's finding; all by default).
  // `rules` globs match integrity rule ids too ("integrity.*"); integrity alerts carry the tags
  // "integrity" and "cloudtrail".
  int min_severity = 1;
  std::vector<std::string> rules;
  std::vector<std::string> tags;
  bool record_alerts = true;
  bool alarm_alerts = true;
  bool integrity_alerts = true;
  // Buffering between the pipeline and the destination (see outputs/delivery/delivery_pipeline.h).
  enum class BufferType { kDisk, kMemory } buffer = BufferType::kDisk;
  size_t buffer_max_bytes = size_t{256} << 20;
  enum class WhenFull { kBlock, kDropNewest } when_full = WhenFull::kBlock;
  enum class Fsync { kAlways, kNever } fsync = Fsync::kAlways;
  // Batching and retries.
  size_t batch_max_events = 500;
  std::chrono::milliseconds batch_timeout{0};  // 0: send what is buffered at once
  std::chrono::milliseconds retry_initial{500};
  std::chrono::milliseconds retry_max{60000};

  std::string origin;                        // "file:line:column" of the table
  std::string config_file;                   // the configuration file, for messages
  std::shared_ptr<const toml::table> table;  // the whole table, for type-specific keys
};

// Parses the common keys of one [[outputs]] table; the output's own keys are read later by its
// parser (make_output()). Throws std::runtime_error("file:line:column: ...") on bad values.
OutputSettings parse_output_settings(const OutputTable& table);
// The same for a table outside a Config (index n among the outputs), copied.
OutputSettings parse_output_settings(const toml::table& table, const std::string& config_file,
                                     size_t index);
// The same, sharing `table` (which must stay part of its parsed document) instead of copying it,
// so that errors about values found later by the output's constructor keep their positions (a
// toml++ copy keeps the positions of keys but not of values).
OutputSettings parse_output_settings(std::shared_ptr<const toml::table> table,
                                     const std::string& config_file, size_t index);

class TomlEmitter;
// Prints the table for the effective configuration: the header, the common keys resolved
// (defaults included), then the output's own keys as written.
void render_output_settings(const OutputSettings& settings, TomlEmitter& out);

// Marks the common keys as known in a reader of the same table, so that a per-type factory can
// read its own keys and then call finish() to report unknown ones.
void mark_common_output_keys(TomlReader& reader);

// True if alerts of `kind` are in the output's `alerts`.
bool accepts_kind(const OutputSettings& settings, AlertKind kind);

// True if `alert` is routed to an output with these settings.
bool routed(const OutputSettings& settings, const AlertRecord& alert);

}  // namespace trailwarden
