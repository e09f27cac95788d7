#include "agent/pipeline/processor.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "agent/decode/input.h"

namespace trailwarden {

namespace {

// Keeps in `newest` the larger of it and the record's top-level-looking "eventTime" value
// (YYYY-MM-DDTHH:MM:SSZ compares as text).
void note_event_time(std::string_view raw, std::string_view not_after, std::string& newest) {
  constexpr std::string_view kKey = "\"eventTime\":";
  size_t at = raw.find(kKey);
  if (at == std::string_view::npos) return;
  at += kKey.size();
  while (at < raw.size() && (raw[at] == ' ' || raw[at] == '\t')) ++at;
  if (raw.size() - at < 21 || raw[at] != '"') return;
  const std::string_view t = raw.substr(at + 1, 20);
  if (t[4] != '-' || t[10] != 'T' || t[19] != 'Z') return;
  if (!not_after.empty() && t > not_after) return;  // same fixed format: compares as text
  if (newest.empty() || t > std::string_view(newest)) newest.assign(t);
}

}  // namespace

ObjectProcessor::ObjectProcessor(const rules::RuleMatcher& matcher, const DecodeLimits& limits,
                                 const OcsfOptions& ocsf)
    : matcher_(matcher), limits_(limits), ocsf_(ocsf), reader_(limits), session_(matcher, limits) {
  on_match_ = [this](size_t slot, std::string_view raw, const simdjson::dom::element* record) {
    result_->alerts.push_back(make_alert(*matcher_.rules()[slot], raw, record, ocsf_, origin_));
    ++result_->per_rule[slot];
  };
}

void ObjectProcessor::start(ObjectResult& result) {
  result_ = &result;
  result = ObjectResult{};
  result.per_rule.assign(matcher_.rules().size(), 0);
  first_bad_error_.clear();
}

void ObjectProcessor::fail(const std::string& name, const std::string& error, ObjectResult& result) {
  result.failed = true;
  result.error = error;
  spdlog::error("{}: {}", name, error);
}

void ObjectProcessor::process_raw(const std::string& name, ObjectResult& result) {
  start(result);
  std::string error;
  result.bytes_read = raw_.size();
  if (!decode_to_json(raw_.view(), limits_, json_, error)) return fail(name, error, result);
  result.bytes_decoded = json_.size();
  const uint64_t evaluated_before = session_.counters().evaluated;
  const uint64_t parse_errors_before = session_.counters().parse_errors;
  session_.begin(json_.view());
  bool ok = reader_.read(json_, *this, result.stats, error);
  result.evaluated = session_.counters().evaluated - evaluated_before;
  if (!ok)
    return fail(name, fmt::format("{} ({} records read before the error)", error, result.stats.records),
                result);
  if (uint64_t bad = session_.counters().parse_errors - parse_errors_before)
    return fail(name,
                fmt::format("record {} could not be evaluated: {}{}", first_bad_record_,
                            first_bad_error_,
                            bad > 1 ? fmt::format(" (and {} more records)", bad - 1) : ""),
                result);
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
  // Large one-off objects should not pin memory for the rest of the run.
  constexpr size_t kKeep = size_t{64} << 20;
  raw_.shrink_to(kKeep);
  json_.shrink_to(kKeep);
}

void ObjectProcessor::process_event(const std::string& name, std::string_view json,
                                    ObjectResult& result) {
  start(result);
  result.bytes_read = result.bytes_decoded = json.size();
  json_.assign(json);
  session_.begin(json_.view());
  result.stats.kind = FileKind::kRecords;
  result.stats.records = 1;
  if (track_event_time_) note_event_time(json, event_time_not_after_, result.newest_event_time);
  const uint64_t evaluated_before = session_.counters().evaluated;
  if (!session_.match(json_.view(), on_match_))
    return fail(name, fmt::format("the event could not be evaluated: {}", session_.last_error()),
                result);
  result.evaluated = session_.counters().evaluated - evaluated_before;
}

void ObjectProcessor::on_record(std::string_view raw) {
  if (track_event_time_) note_event_time(raw, event_time_not_after_, result_->newest_event_time);
  if (!session_.match(raw, on_match_) && first_bad_error_.empty()) {
    first_bad_record_ = result_->stats.records - 1;  // 0-based index of this record
    first_bad_error_ = session_.last_error();
  }
}

}  // namespace trailwarden
