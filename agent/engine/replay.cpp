#include "agent/engine/replay.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "agent/decode/shapes.h"
#include "agent/engine/engine.h"

namespace trailwarden {

namespace {

// Files worked on ahead of the one being delivered, per worker: enough to keep every worker
// busy while a slow file holds the ordered output, bounded so results do not pile up.
constexpr size_t kAheadPerWorker = 4;

}  // namespace

ReplaySummary run_replay(const ReplayOptions& options, const std::vector<const rules::Rule*>& rules,
                         DeliveryPipeline& outputs) {
  const auto start = std::chrono::steady_clock::now();
  ReplaySummary summary;
  summary.matches_per_rule.assign(rules.size(), 0);

  FileSource source(options.paths);
  for (const auto& m : source.missing()) {
    spdlog::error("{}: no such file or directory", m);
    ++summary.files;
    ++summary.failed_files;
  }
  const size_t files = source.files().size();
  const size_t total = files + source.missing().size();

  EngineOptions e;
  e.workers = std::max<size_t>(1, std::min(options.workers, files));
  e.max_in_flight = e.workers * kAheadPerWorker;
  e.ordered = true;
  e.deliver_failed_units = true;
  e.track_event_time = false;
  e.limits = options.limits;
  e.ocsf = options.ocsf;
  e.delivery.dedup = false;  // every alert of every file is written
  Engine engine(e, source, nullptr, std::make_shared<const RuleSet>(rules), outputs);
  if (options.stage) engine.set_stage(*options.stage);

  uint64_t committed = 0;
  engine.on_result([&](const WorkUnit& unit, const ObjectResult& r, bool delivered) {
    ++committed;
    ++summary.files;
    if (r.failed) {
      // Not evaluated, and nothing tries again: an ERROR (the processor does not log it).
      spdlog::error("{}: {}", unit.name, r.error);
      ++summary.failed_files;
    }
    if (!r.failed && r.stats.kind != FileKind::kRecords) ++summary.skipped_files;
    if (!r.failed && r.stats.records == 0 &&
        (r.stats.kind == FileKind::kOther || r.bad_record_count || r.stats.unrecognised))
      ++summary.unevaluated_files;
    if (!r.failed && r.stats.kind == FileKind::kRecords)
      ++summary.shapes[describe_shapes(r.stats.shapes, r.stats.line_delimited)];
    if (r.stats.kind == FileKind::kRecords) summary.unrecognised += r.stats.unrecognised;
    summary.records += r.stats.records;
    summary.skipped_records += r.stats.skipped_non_objects;
    summary.bad_records += r.bad_record_count;
    summary.evaluated += r.evaluated;
    summary.bytes_read += r.bytes_read;
    summary.bytes_decoded += r.bytes_decoded;
    summary.alerts += r.alerts.size();
    summary.alerts_time_unparsed += r.alerts_time_unparsed;
    for (size_t i = 0; i < r.per_rule.size() && i < summary.matches_per_rule.size(); ++i)
      summary.matches_per_rule[i] += r.per_rule[i];
    // The first file whose alerts the outputs did not take: the engine delivers nothing after it.
    if (!summary.output_failed && !delivered) {
      summary.output_failed = true;
      summary.first_undelivered = unit.name;
    }
    if (options.progress) {
      summary.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      options.progress(summary, total);
    }
  });
  const std::atomic<bool> never{false};
  engine.run(never);
  summary.end_alerts = engine.counters().stage_alerts;
  summary.alerts += summary.end_alerts;
  summary.unread_files = files - std::min<uint64_t>(files, committed);
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace trailwarden
