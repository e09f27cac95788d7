// Replay: the engine (agent/engine/engine.h) in ordered mode over a FileSource
// (agent/sources/file/file_source.h). Reads CloudTrail files (or stdin), decodes them, matches
// every record against the enabled rules and writes one OCSF alert per match to the outputs, in
// input order. Files are processed by `workers` threads; alerts are delivered in input order,
// so output is deterministic, and counted into the summary in that order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/engine/stage.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/rule.h"
#include "agent/sources/file/file_source.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden {

struct ReplayOptions {
  std::vector<std::string> paths;  // files, directories (recursive) or "-" for stdin
  size_t workers = 1;
  DecodeLimits limits;
  OcsfOptions ocsf;
  // Called after each file, in input order, with the totals so far and the number of files;
  // from a worker thread, one call at a time. May be empty.
  std::function<void(const struct ReplaySummary&, size_t files_total)> progress;
  // The stage between matching and delivery (the alarm stage); null: alerts pass through. Its
  // finish() runs after the last file (agent/engine/stage.h).
  Stage* stage = nullptr;
};

struct ReplaySummary {
  uint64_t files = 0;          // inputs read
  uint64_t failed_files = 0;   // inputs that could not be read, decoded or parsed
  uint64_t skipped_files = 0;  // digest files and JSON that is none of the input shapes
  // Inputs read from which nothing could be evaluated: none of the input shapes
  // (agent/decode/shapes.h), or not one good record; `replay` exits 1 for them.
  uint64_t unevaluated_files = 0;
  // Lines, documents or array elements of none of the shapes in inputs that had records.
  uint64_t unrecognised = 0;
  std::map<std::string, uint64_t> shapes;  // inputs with records, by describe_shapes()
  uint64_t records = 0;
  uint64_t skipped_records = 0;  // elements of Records that are not objects
  uint64_t bad_records = 0;      // records not matched (limits, invalid UTF-8, unparseable)
  uint64_t evaluated = 0;        // records the prefilter passed on to full evaluation
  uint64_t alerts = 0;
  uint64_t end_alerts = 0;  // added by the stage at the end of the input (alarm transitions)
  uint64_t alerts_time_unparsed = 0;  // alerts timed by processing time (no usable eventTime)
  uint64_t bytes_read = 0;
  uint64_t bytes_decoded = 0;
  std::vector<uint64_t> matches_per_rule;  // parallel to the enabled rules
  double seconds = 0;
  bool output_failed = false;       // then replay stopped reading
  std::string first_undelivered;    // the first input whose alerts were not all delivered
  uint64_t unread_files = 0;        // inputs not read (or not counted) after the failure
};

// Runs the replay. `rules` are the enabled rules. Never throws for bad input: failures are
// logged with the file name and counted in the summary.
ReplaySummary run_replay(const ReplayOptions& options, const std::vector<const rules::Rule*>& rules,
                         DeliveryPipeline& outputs);

}  // namespace trailwarden
