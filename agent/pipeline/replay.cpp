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
#include "agent/rules/matcher.h"

namespace trailwarden {

namespace fs = std::filesystem;

namespace {

struct FileResult {
  std::string alerts;  // newline-separated OCSF findings
  uint64_t alert_count = 0;
  std::vector<uint64_t> per_rule;
  ParseStats stats;
  uint64_t evaluated = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_decoded = 0;
  bool failed = false;
};

// Everything one worker thread needs, reused from file to file.
class FileProcessor : public RecordVisitor {
 public:
  FileProcessor(const rules::RuleMatcher& matcher, const ReplayOptions& options)
      : matcher_(matcher), options_(options), reader_(options.limits), session_(matcher, options.limits) {
    on_match_ = [this](size_t slot, std::string_view raw, const simdjson::dom::element* record) {
      if (result_->alert_count) result_->alerts.push_back('\n');
      append_detection_finding(result_->alerts, *matcher_.rules()[slot], raw, record,
                               options_.ocsf);
      ++result_->alert_count;
      ++result_->per_rule[slot];
    };
  }

  void process(const std::string& path, FileResult& result) {
    result_ = &result;
    result.per_rule.assign(matcher_.rules().size(), 0);
    const std::string& name = path == "-" ? kStdinName : path;
    std::string error;
    if (!read_input(path, options_.limits.max_compressed_bytes, raw_, error)) {
      fail(name, error);
      return;
    }
    result.bytes_read = raw_.size();
    if (!decode_to_json(raw_.view(), options_.limits, json_, error)) {
      fail(name, error);
      return;
    }
    result.bytes_decoded = json_.size();
    first_bad_error_.clear();
    const uint64_t evaluated_before = session_.counters().evaluated;
    const uint64_t parse_errors_before = session_.counters().parse_errors;
    session_.begin(json_.view());
    bool ok = reader_.read(json_, *this, result.stats, error);
    result.evaluated = session_.counters().evaluated - evaluated_before;
    if (!ok) {
      fail(name, fmt::format("{} ({} records read before the error)", error, result.stats.records));
      return;
    }
    if (uint64_t bad = session_.counters().parse_errors - parse_errors_before) {
      fail(name, fmt::format("record {} could not be evaluated: {}{}", first_bad_record_,
                             first_bad_error_,
                             bad > 1 ? fmt::format(" (and {} more records)", bad - 1) : ""));
      return;
    }
    switch (result.stats.kind) {
      case FileKind::kDigest:
        spdlog::info("{}: CloudTrail digest file, skipped", name);
        break;
      case FileKind::kOther:
        spdlog::info("{}: JSON without a \"Records\" array (not a CloudTrail log file), skipped", name);
        break;
      case FileKind::kRecords:
        if (result.stats.skipped_non_objects)
          spdlog::warn("{}: {} elements of \"Records\" are not objects and were skipped", name,
                       result.stats.skipped_non_objects);
        break;
    }
    // Large one-off files should not pin memory for the rest of the run.
    constexpr size_t kKeep = size_t{64} << 20;
    raw_.shrink_to(kKeep);
    json_.shrink_to(kKeep);
  }

  void on_record(std::string_view raw) override {
    if (!session_.match(raw, on_match_) && first_bad_error_.empty()) {
      first_bad_record_ = result_->stats.records - 1;  // 0-based index of this record
      first_bad_error_ = session_.last_error();
    }
  }

 private:
  static inline const std::string kStdinName = "<stdin>";
  void fail(const std::string& name, const std::string& error) {
    result_->failed = true;
    spdlog::error("{}: {}", name, error);
  }

  const rules::RuleMatcher& matcher_;
  const ReplayOptions& options_;
  Buffer raw_;
  Buffer json_;
  CloudTrailReader reader_;
  rules::MatchSession session_;
  rules::MatchSession::OnMatch on_match_;
  FileResult* result_ = nullptr;
  uint64_t first_bad_record_ = 0;
  std::string first_bad_error_;
};

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
                         std::vector<Output*>& outputs) {
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
  std::vector<std::optional<FileResult>> results(files.size());
  std::atomic<size_t> next_file{0};
  std::mutex commit_mutex;
  size_t next_commit = 0;

  // Writes finished results in input order; called with commit_mutex held.
  auto commit_ready = [&]() {
    while (next_commit < results.size() && results[next_commit]) {
      FileResult& r = *results[next_commit];
      ++summary.files;
      if (r.failed) ++summary.failed_files;
      if (!r.failed && r.stats.kind != FileKind::kRecords) ++summary.skipped_files;
      summary.records += r.stats.records;
      summary.skipped_records += r.stats.skipped_non_objects;
      summary.evaluated += r.evaluated;
      summary.bytes_read += r.bytes_read;
      summary.bytes_decoded += r.bytes_decoded;
      summary.alerts += r.alert_count;
      for (size_t i = 0; i < r.per_rule.size(); ++i) summary.matches_per_rule[i] += r.per_rule[i];
      if (r.alert_count && !summary.output_failed) {
        for (Output* out : outputs) {
          std::string error;
          size_t pos = 0;
          while (pos < r.alerts.size() && !summary.output_failed) {
            size_t nl = r.alerts.find('\n', pos);
            if (nl == std::string::npos) nl = r.alerts.size();
            if (!out->write(std::string_view(r.alerts).substr(pos, nl - pos), error)) {
              spdlog::error("{}", error);
              summary.output_failed = true;
            }
            pos = nl + 1;
          }
        }
      }
      results[next_commit].reset();
      ++next_commit;
    }
  };

  auto worker = [&]() {
    FileProcessor processor(matcher, options);
    while (true) {
      size_t i = next_file.fetch_add(1);
      if (i >= files.size()) break;
      FileResult result;
      processor.process(files[i], result);
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
  for (Output* out : outputs) {
    std::string error;
    if (!out->flush(error)) {
      spdlog::error("{}", error);
      summary.output_failed = true;
    }
  }
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace trailwarden
