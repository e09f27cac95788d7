#include "agent/pipeline/replay.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/common/buffer.h"
#include "agent/decode/cloudtrail.h"
#include "agent/decode/input.h"
#include "agent/pipeline/processor.h"
#include "agent/rules/matcher.h"

namespace trailwarden {

namespace fs = std::filesystem;

namespace {

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& paths,
                                       std::vector<std::string>& missing) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (p == "-") {
      out.push_back(p);
      continue;
    }
    std::error_code ec;
    auto status = fs::status(p, ec);
    if (ec || !fs::exists(status)) {
      missing.push_back(p);
      continue;
    }
    if (!fs::is_directory(status)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) found.push_back(it->path().string());
    }
    if (ec) missing.push_back(p + " (" + ec.message() + ")");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

ReplaySummary run_replay(const ReplayOptions& options, const std::vector<const rules::Rule*>& rules,
                         DeliveryPipeline& outputs) {
  const auto start = std::chrono::steady_clock::now();
  ReplaySummary summary;
  summary.matches_per_rule.assign(rules.size(), 0);

  std::vector<std::string> missing;
  std::vector<std::string> files = expand_inputs(options.paths, missing);
  for (const auto& m : missing) {
    spdlog::error("{}: no such file or directory", m);
    ++summary.files;
    ++summary.failed_files;
  }

  rules::RuleMatcher matcher(rules);
  std::vector<std::optional<ObjectResult>> results(files.size());
  std::atomic<size_t> next_file{0};
  std::atomic<bool> give_up{false};
  std::mutex commit_mutex;
  size_t next_commit = 0;
  auto display_name = [&](size_t i) {
    return files[i] == "-" ? std::string("<stdin>") : files[i];
  };

  // Writes finished results in input order; called with commit_mutex held.
  auto commit_ready = [&]() {
    while (next_commit < results.size() && results[next_commit]) {
      ObjectResult& r = *results[next_commit];
      ++summary.files;
      if (r.failed) ++summary.failed_files;
      if (!r.failed && r.stats.kind != FileKind::kRecords) ++summary.skipped_files;
      summary.records += r.stats.records;
      summary.skipped_records += r.stats.skipped_non_objects;
      summary.bad_records += r.bad_record_count;
      summary.evaluated += r.evaluated;
      summary.bytes_read += r.bytes_read;
      summary.bytes_decoded += r.bytes_decoded;
      summary.alerts += r.alerts.size();
      summary.alerts_time_unparsed += r.alerts_time_unparsed;
      for (size_t i = 0; i < r.per_rule.size(); ++i) summary.matches_per_rule[i] += r.per_rule[i];
      if (!r.alerts.empty() && !summary.output_failed) {
        std::vector<const AlertRecord*> batch;
        for (const AlertRecord& a : r.alerts) batch.push_back(&a);
        std::string error;
        if (!outputs.submit(batch, error)) {
          spdlog::error("{}", error);
          summary.output_failed = true;
          summary.first_undelivered = display_name(next_commit);
          give_up = true;  // the workers read no further
        }
      }
      results[next_commit].reset();
      ++next_commit;
      if (options.progress) {
        summary.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        options.progress(summary, files.size() + missing.size());
      }
    }
  };

  auto worker = [&]() {
    ObjectProcessor processor(matcher, options.limits, options.ocsf);
    while (true) {
      if (give_up) break;
      size_t i = next_file.fetch_add(1);
      if (i >= files.size()) break;
      ObjectResult result;
      const std::string name = display_name(i);
      std::string error;
      if (read_input(files[i], options.limits.max_compressed_bytes, processor.raw_buffer(), error)) {
        processor.process_raw(name, result);
      } else {
        processor.fail(name, error, result);
        processor.release_memory();  // what a failed read grew is not kept either
      }
      std::lock_guard<std::mutex> lock(commit_mutex);
      results[i] = std::move(result);
      commit_ready();
    }
  };

  size_t workers = std::max<size_t>(1, std::min(options.workers, files.size()));
  if (workers <= 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < workers; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  summary.unread_files = files.size() - std::min(files.size(), next_commit);
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace trailwarden
